//! The recursive-descent parser behind [`Filter::parse`] and [`crate::path::PatchPath::parse`].
//!
//! One left-to-right pass over the bytes with a nesting counter: recursion happens only for
//! parentheses, `not` and value paths, each of which counts against [`MAX_DEPTH`].

use super::{AttrPath, CompareOp, Filter, Literal, MAX_DEPTH, MAX_FILTER_LEN};
use crate::error::{ScimError, ScimType};

pub(crate) struct Parser<'a> {
    src: &'a str,
    pos: usize,
    depth: usize,
    in_value_path: bool,
    kind: ScimType,
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '$')
}

impl<'a> Parser<'a> {
    /// A parser for `src` whose errors carry `kind`; rejects over-long input at once.
    pub(crate) fn new(src: &'a str, kind: ScimType) -> Result<Self, ScimError> {
        let what = if kind == ScimType::InvalidPath {
            "path"
        } else {
            "filter"
        };
        if src.len() > MAX_FILTER_LEN {
            return Err(ScimError::new(
                kind,
                format!("{what} is longer than {MAX_FILTER_LEN} bytes"),
            ));
        }
        if src.trim().is_empty() {
            return Err(ScimError::new(kind, format!("{what} is empty")));
        }
        Ok(Parser {
            src,
            pos: 0,
            depth: 0,
            in_value_path: false,
            kind,
        })
    }

    pub(crate) fn err(&self, msg: impl std::fmt::Display) -> ScimError {
        ScimError::new(self.kind, format!("{msg} at position {}", self.pos))
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.src.get(self.pos..).and_then(|s| s.chars().next())
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    pub(crate) fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\r' | '\n')) {
            self.pos += 1;
        }
    }

    /// The run of ASCII letters at the cursor, without consuming it.
    fn peek_word(&self) -> &'a str {
        let rest = self.src.get(self.pos..).unwrap_or_default();
        let end = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        rest.get(..end).unwrap_or_default()
    }

    fn describe_here(&self) -> String {
        match self.peek() {
            None => "the end of the input".into(),
            Some(c) => format!("{c:?}"),
        }
    }

    fn enter(&mut self) -> Result<(), ScimError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format_args!("nesting is deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn expect(&mut self, c: char) -> Result<(), ScimError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.bump();
            Ok(())
        } else {
            Err(self.err(format_args!(
                "expected {c:?} but found {}",
                self.describe_here()
            )))
        }
    }

    /// Parses the whole input as a filter.
    pub(crate) fn filter_to_end(mut self) -> Result<Filter, ScimError> {
        let f = self.or()?;
        self.skip_ws();
        if !self.at_end() {
            return Err(self.err(format_args!(
                "expected \"and\", \"or\" or the end of the filter but found {}",
                self.describe_here()
            )));
        }
        Ok(f)
    }

    /// Tries to consume the logical keyword `kw` (after optional whitespace).
    fn keyword(&mut self, kw: &str) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.peek_word().eq_ignore_ascii_case(kw) && self.pos > save {
            self.pos += kw.len();
            return true;
        }
        // `"x"and` or `)and` without a space: allowed only right after a closing token.
        if self.pos == save && self.peek_word().eq_ignore_ascii_case(kw) {
            let prev = self.src.get(..save).and_then(|s| s.chars().next_back());
            if matches!(prev, Some('"' | ')' | ']')) {
                self.pos += kw.len();
                return true;
            }
        }
        self.pos = save;
        false
    }

    fn or(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ScimError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, ScimError> {
        self.skip_ws();
        if self.peek() == Some('(') {
            self.enter()?;
            self.bump();
            let inner = self.or()?;
            self.expect(')')?;
            self.depth -= 1;
            return Ok(inner);
        }
        if self.peek_word().eq_ignore_ascii_case("not") {
            let save = self.pos;
            self.pos += 3;
            self.skip_ws();
            if self.peek() == Some('(') {
                self.enter()?;
                self.bump();
                let inner = self.or()?;
                self.expect(')')?;
                self.depth -= 1;
                return Ok(Filter::Not(Box::new(inner)));
            }
            self.pos = save;
        }
        self.attr_expression()
    }

    fn attr_expression(&mut self) -> Result<Filter, ScimError> {
        let path = self.attr_path()?;
        if self.peek() == Some('[') {
            let filter = self.bracket_filter(&path)?;
            if self.peek() != Some('.') {
                return Ok(Filter::ValuePath {
                    attr: path,
                    filter: Box::new(filter),
                });
            }
            // `emails[type eq "work"].value eq "x"` ≡ `emails[type eq "work" and value eq "x"]`.
            self.bump();
            let sub = AttrPath::simple(self.name("a sub-attribute name")?);
            let cond = self.condition(sub)?;
            return Ok(Filter::ValuePath {
                attr: path,
                filter: Box::new(Filter::And(Box::new(filter), Box::new(cond))),
            });
        }
        self.condition(path)
    }

    /// `pr` or `op value` after an attribute path.
    fn condition(&mut self, path: AttrPath) -> Result<Filter, ScimError> {
        self.skip_ws();
        let word = self.peek_word();
        if word.is_empty() {
            return Err(self.err(format_args!(
                "expected a comparison operator after \"{path}\""
            )));
        }
        if word.eq_ignore_ascii_case("pr") {
            self.pos += 2;
            return Ok(Filter::Present(path));
        }
        let Some(op) = CompareOp::from_keyword(word) else {
            return Err(self.err(format_args!(
                "unknown comparison operator {word:?} after \"{path}\""
            )));
        };
        self.pos += word.len();
        let value = self.literal()?;
        Ok(Filter::Compare { path, op, value })
    }

    /// `[ filter ]` after `path`, at the cursor.
    pub(crate) fn bracket_filter(&mut self, path: &AttrPath) -> Result<Filter, ScimError> {
        if self.in_value_path {
            return Err(self.err("a value path cannot contain another value path"));
        }
        if path.sub.is_some() {
            return Err(self.err(format_args!(
                "a value filter must follow an attribute, not the sub-attribute \"{path}\""
            )));
        }
        self.enter()?;
        self.bump();
        self.in_value_path = true;
        let inner = self.or()?;
        self.expect(']')?;
        self.in_value_path = false;
        self.depth -= 1;
        Ok(inner)
    }

    /// A bare name (letters, digits, `-`, `_`, `$`).
    pub(crate) fn name(&mut self, what: &str) -> Result<String, ScimError> {
        let rest = self.src.get(self.pos..).unwrap_or_default();
        let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        let name = rest.get(..end).unwrap_or_default();
        if name.is_empty() {
            return Err(self.err(format_args!(
                "expected {what} but found {}",
                self.describe_here()
            )));
        }
        self.pos += end;
        Ok(name.to_owned())
    }

    /// `[urn:]name[.sub]` at the cursor.
    pub(crate) fn attr_path(&mut self) -> Result<AttrPath, ScimError> {
        self.skip_ws();
        let start = self.pos;
        let rest = self.src.get(start..).unwrap_or_default();
        let end = rest
            .find(|c: char| !(is_name_char(c) || c == ':' || c == '.'))
            .unwrap_or(rest.len());
        let token = rest.get(..end).unwrap_or_default();
        if token.is_empty() {
            return Err(self.err(format_args!(
                "expected an attribute name but found {}",
                self.describe_here()
            )));
        }
        let (urn, local) = if token
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
        {
            match token.rfind(':') {
                Some(i) if i > 3 => (
                    Some(token.get(..i).unwrap_or_default().to_owned()),
                    token.get(i + 1..).unwrap_or_default(),
                ),
                _ => (None, ""),
            }
        } else {
            (None, token)
        };
        if let Some(i) = local.find(':') {
            self.pos = start + (token.len() - local.len()) + i;
            return Err(self.err("unexpected ':' in an attribute name"));
        }
        let mut parts = local.split('.');
        let name = parts.next().unwrap_or_default();
        let sub = parts.next();
        let bad = name.is_empty() || sub.is_some_and(str::is_empty) || parts.next().is_some();
        if bad {
            self.pos = start;
            return Err(self.err(format_args!(
                "invalid attribute path {token:?}: expected [urn:]name[.subAttribute]"
            )));
        }
        if let Some(u) = &urn
            && (u.ends_with(':') || u.contains("::"))
        {
            self.pos = start;
            return Err(self.err(format_args!("invalid schema URN {u:?}")));
        }
        self.pos = start + end;
        Ok(AttrPath {
            urn,
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        })
    }

    fn literal(&mut self) -> Result<Literal, ScimError> {
        self.skip_ws();
        match self.peek() {
            Some('"') => self.string().map(Literal::String),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number().map(Literal::Number),
            _ => {
                let word = self.peek_word();
                let lit = if word.eq_ignore_ascii_case("true") {
                    Literal::Bool(true)
                } else if word.eq_ignore_ascii_case("false") {
                    Literal::Bool(false)
                } else if word.eq_ignore_ascii_case("null") {
                    Literal::Null
                } else {
                    return Err(self.err(format_args!(
                        "expected a value (a string in double quotes, a number, true, false or null) but found {}",
                        self.describe_here()
                    )));
                };
                self.pos += word.len();
                Ok(lit)
            }
        }
    }

    fn string(&mut self) -> Result<String, ScimError> {
        let bytes = self.src.as_bytes();
        let start = self.pos;
        let mut i = start + 1;
        loop {
            match bytes.get(i) {
                None => return Err(self.err("unterminated string")),
                Some(b'\\') => i += 2,
                Some(b'"') => break,
                Some(_) => i += 1,
            }
        }
        let raw = self.src.get(start..=i).unwrap_or_default();
        match serde_json::from_str::<String>(raw) {
            Ok(s) => {
                self.pos = i + 1;
                Ok(s)
            }
            Err(e) => Err(self.err(format_args!("invalid string {raw:?}: {e}"))),
        }
    }

    fn number(&mut self) -> Result<serde_json::Number, ScimError> {
        let bytes = self.src.as_bytes();
        let start = self.pos;
        let mut i = start;
        let digits = |i: &mut usize| {
            let s = *i;
            while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > s
        };
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        let mut ok = digits(&mut i);
        if ok && bytes.get(i) == Some(&b'.') {
            i += 1;
            ok = digits(&mut i);
        }
        if ok && matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            ok = digits(&mut i);
        }
        let raw = self.src.get(start..i).unwrap_or_default();
        // Rust's own parsers round correctly (serde_json's fast float path may be one ulp off
        // without its `float_roundtrip` feature), so printing and re-parsing is exact.
        let parsed = if !ok {
            None
        } else if let Ok(i) = raw.parse::<i64>() {
            Some(serde_json::Number::from(i))
        } else if let Ok(u) = raw.parse::<u64>() {
            Some(serde_json::Number::from(u))
        } else {
            raw.parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
        };
        match parsed {
            Some(n) => {
                self.pos = i;
                Ok(n)
            }
            None => Err(self.err(format_args!("invalid number {raw:?}"))),
        }
    }
}
