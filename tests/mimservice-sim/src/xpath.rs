//! The subset of the MIM Service's XPath filter dialect the simulator evaluates, and nothing
//! more: anything outside it is refused as the MIM Service refuses a filter it cannot process
//! (`CannotProcessFilter`, which Lithnet answers as 400 `resource-management-exception`).
//!
//! ```text
//! query      := '/' (ObjectType | '*') ( '[' or ']' )?
//! or         := and ( 'or' and )*
//! and        := unary ( 'and' unary )*
//! unary      := 'not' '(' or ')' | '(' or ')' | function | comparison
//! function   := ('starts-with' | 'ends-with' | 'contains') '(' Attribute ',' literal ')'
//! comparison := Attribute ('=' | '!=' | '<' | '<=' | '>' | '>=') value
//! value      := literal | integer | 'true' | 'false' | 'true()' | 'false()'
//! literal    := "'" … "'" | '"' … '"'      (the delimiter doubled inside stands for itself)
//! ```
//!
//! Semantics (MIM's are SQL underneath): string comparisons ignore case; a multi-valued
//! attribute matches when any value does; `!=` holds when no value equals (so also when the
//! attribute is empty); `%` in a function's pattern matches any run of characters, as in the
//! MIM Service (Lithnet tests presence with `starts-with(X, '%')`). Date-times compare as
//! instants (`'yyyy-MM-ddTHH:mm:ss[.fff]'`), references only with `=`/`!=` against a GUID.
//! Not supported: dereferencing (`/Group[…]/ComputedMember`), nested queries as values
//! (`Manager = /Person[…]`), presence as `= /*`, functions other than the three above.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::schema::{DataType, Scalar, Schema, parse_guid, parse_time_literal};

/// Deepest nesting of parentheses and `not(…)` accepted.
const MAX_DEPTH: usize = 32;

/// A compiled filter: the object type (`None` for `*`) and the predicate.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub object_type: Option<String>,
    pub predicate: Option<Expr>,
}

/// A predicate, with literals already converted to the attribute's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Compare {
        attribute: String,
        op: Op,
        value: Typed,
    },
    Like {
        attribute: String,
        function: Function,
        pattern: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    StartsWith,
    EndsWith,
    Contains,
}

/// A literal converted to the compared attribute's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    /// Lower-cased text.
    Text(String),
    Int(i64),
    Bool(bool),
    Time(OffsetDateTime),
    Ref(Uuid),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Slash,
    Star,
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Comma,
    Op(Op),
    Name(String),
    Literal(String),
    Number(i64),
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let token = match c {
            c if c.is_whitespace() => continue,
            '/' => Token::Slash,
            '*' => Token::Star,
            '(' => Token::Open,
            ')' => Token::Close,
            '[' => Token::OpenBracket,
            ']' => Token::CloseBracket,
            ',' => Token::Comma,
            '=' => Token::Op(Op::Eq),
            '!' => match chars.next() {
                Some((_, '=')) => Token::Op(Op::Ne),
                _ => return Err(format!("'!' without '=' at {at}")),
            },
            '<' | '>' => {
                let eq = chars.next_if(|&(_, n)| n == '=').is_some();
                Token::Op(match (c, eq) {
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    (_, false) => Op::Gt,
                    (_, true) => Op::Ge,
                })
            }
            '\'' | '"' => {
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err(format!("unterminated string literal at {at}")),
                        Some((_, q)) if q == c => {
                            // A doubled delimiter stands for itself (XPath 2.0).
                            if chars.next_if(|&(_, n)| n == c).is_some() {
                                text.push(c);
                            } else {
                                break;
                            }
                        }
                        Some((_, other)) => text.push(other),
                    }
                }
                Token::Literal(text)
            }
            c if c.is_ascii_digit() || c == '-' => {
                let mut text = String::from(c);
                while let Some((_, d)) = chars.next_if(|&(_, d)| d.is_ascii_digit()) {
                    text.push(d);
                }
                Token::Number(
                    text.parse()
                        .map_err(|_| format!("bad number {text:?} at {at}"))?,
                )
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut text = String::from(c);
                while let Some((_, d)) =
                    chars.next_if(|&(_, d)| d.is_ascii_alphanumeric() || d == '_' || d == '-')
                {
                    text.push(d);
                }
                Token::Name(text)
            }
            other => return Err(format!("unexpected character {other:?} at {at}")),
        };
        out.push(token);
    }
    Ok(out)
}

struct Parser<'s> {
    tokens: Vec<Token>,
    at: usize,
    schema: &'s Schema,
    object_type: Option<String>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }
    fn peek2(&self) -> Option<&Token> {
        self.tokens.get(self.at + 1)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn expect(&mut self, want: &Token) -> Result<(), String> {
        match self.next() {
            Some(t) if &t == want => Ok(()),
            other => Err(format!("expected {want:?}, found {other:?}")),
        }
    }
    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token::Name(n)) if n == word) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self, depth: usize) -> Result<Expr, String> {
        if depth > MAX_DEPTH {
            return Err("the filter nests too deeply".into());
        }
        let mut parts = vec![self.and(depth)?];
        while self.keyword("or") {
            parts.push(self.and(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Expr, String> {
        let mut parts = vec![self.unary(depth)?];
        while self.keyword("and") {
            parts.push(self.unary(depth)?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, String> {
        match (self.peek().cloned(), self.peek2()) {
            (Some(Token::Name(n)), Some(Token::Open)) if n == "not" => {
                self.at += 2;
                let inner = self.or(depth + 1)?;
                self.expect(&Token::Close)?;
                Ok(Expr::Not(Box::new(inner)))
            }
            (Some(Token::Open), _) => {
                self.at += 1;
                let inner = self.or(depth + 1)?;
                self.expect(&Token::Close)?;
                Ok(inner)
            }
            (Some(Token::Name(f)), Some(Token::Open)) => {
                let function = match f.as_str() {
                    "starts-with" => Function::StartsWith,
                    "ends-with" => Function::EndsWith,
                    "contains" => Function::Contains,
                    other => return Err(format!("the function {other}() is not supported")),
                };
                self.at += 2;
                let attribute = self.attribute()?;
                let data_type = self.data_type(&attribute)?;
                if data_type != DataType::String {
                    return Err(format!(
                        "{f}() needs a String attribute; {attribute} is {}",
                        data_type.name()
                    ));
                }
                self.expect(&Token::Comma)?;
                let pattern = match self.next() {
                    Some(Token::Literal(p)) => p.to_lowercase(),
                    other => return Err(format!("{f}() needs a string literal, found {other:?}")),
                };
                self.expect(&Token::Close)?;
                Ok(Expr::Like {
                    attribute,
                    function,
                    pattern,
                })
            }
            _ => self.comparison(),
        }
    }

    fn attribute(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Name(n)) if !matches!(n.as_str(), "and" | "or" | "not") => Ok(n),
            other => Err(format!("expected an attribute name, found {other:?}")),
        }
    }

    fn data_type(&self, attribute: &str) -> Result<DataType, String> {
        let found = match &self.object_type {
            Some(t) => self.schema.bound(t, attribute),
            None => self.schema.attribute(attribute),
        };
        match found {
            Some(a) => Ok(a.data_type),
            None => Err(format!(
                "the attribute {attribute} is not bound to {}",
                self.object_type.as_deref().unwrap_or("any object type")
            )),
        }
    }

    fn comparison(&mut self) -> Result<Expr, String> {
        let attribute = self.attribute()?;
        let data_type = self.data_type(&attribute)?;
        let op = match self.next() {
            Some(Token::Op(op)) => op,
            other => {
                return Err(format!(
                    "expected a comparison after {attribute}, found {other:?}"
                ));
            }
        };
        let raw = self.next();
        if matches!(raw, Some(Token::Slash)) {
            return Err("nested queries as values are not supported".into());
        }
        if let Some(Token::Name(n)) = &raw
            && (n == "true" || n == "false")
            && matches!(self.peek(), Some(Token::Open))
        {
            self.at += 1;
            self.expect(&Token::Close)?;
        }
        let value = typed(data_type, op, raw, &attribute)?;
        Ok(Expr::Compare {
            attribute,
            op,
            value,
        })
    }
}

fn typed(
    data_type: DataType,
    op: Op,
    raw: Option<Token>,
    attribute: &str,
) -> Result<Typed, String> {
    let ordered = !matches!(op, Op::Eq | Op::Ne);
    let bad = |what: &str| Err(format!("{attribute} ({}) {what}", data_type.name()));
    match (data_type, raw) {
        (DataType::String, Some(Token::Literal(s))) => Ok(Typed::Text(s.to_lowercase())),
        (DataType::Integer, Some(Token::Number(n))) => Ok(Typed::Int(n)),
        (DataType::Integer, Some(Token::Literal(s))) => s
            .trim()
            .parse()
            .map(Typed::Int)
            .or_else(|_| bad("needs an integer")),
        (DataType::Boolean, Some(Token::Name(n))) if !ordered && (n == "true" || n == "false") => {
            Ok(Typed::Bool(n == "true"))
        }
        (DataType::Boolean, Some(Token::Literal(s))) if !ordered => {
            match s.to_ascii_lowercase().as_str() {
                "true" => Ok(Typed::Bool(true)),
                "false" => Ok(Typed::Bool(false)),
                _ => bad("needs true or false"),
            }
        }
        (DataType::DateTime, Some(Token::Literal(s))) => parse_time_literal(&s)
            .map(Typed::Time)
            .map_or_else(|| bad("needs a date-time 'yyyy-MM-ddTHH:mm:ss.fff'"), Ok),
        (DataType::Reference, Some(Token::Literal(s))) if !ordered => parse_guid(&s)
            .map(Typed::Ref)
            .map_or_else(|| bad("needs a GUID"), Ok),
        (DataType::Text | DataType::Binary, _) => bad("cannot be searched"),
        (_, other) => bad(&format!("cannot be compared with {op:?} to {other:?}")),
    }
}

/// Parses `input` and checks it against `schema`. The error is what the MIM Service's fault
/// would say about the filter.
pub fn compile(input: &str, schema: &Schema) -> Result<Filter, String> {
    let tokens = tokenize(input)?;
    let mut p = Parser {
        tokens,
        at: 0,
        schema,
        object_type: None,
    };
    p.expect(&Token::Slash)?;
    match p.next() {
        Some(Token::Star) => {}
        Some(Token::Name(n)) => {
            if schema.object_type(&n).is_none() {
                return Err(format!("the object type {n} does not exist"));
            }
            p.object_type = Some(n);
        }
        other => {
            return Err(format!(
                "expected an object type after '/', found {other:?}"
            ));
        }
    }
    let predicate = if p.peek() == Some(&Token::OpenBracket) {
        p.at += 1;
        let e = p.or(0)?;
        p.expect(&Token::CloseBracket)?;
        Some(e)
    } else {
        None
    };
    match p.next() {
        None => Ok(Filter {
            object_type: p.object_type,
            predicate,
        }),
        Some(Token::Slash) => Err("dereferencing (/Type[…]/Attribute) is not supported".into()),
        Some(other) => Err(format!("unexpected {other:?} after the filter")),
    }
}

/// Whether a glob with `%` wildcards matches `text` (both lower-cased).
fn like(text: &str, pattern: &str, function: Function) -> bool {
    let pattern = match function {
        Function::StartsWith => format!("{pattern}%"),
        Function::EndsWith => format!("%{pattern}"),
        Function::Contains => format!("%{pattern}%"),
    };
    let parts: Vec<&str> = pattern.split('%').collect();
    let mut rest = text;
    let last = parts.len().saturating_sub(1);
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == last {
            return rest.ends_with(part);
        } else if let Some(pos) = rest.find(part) {
            rest = rest.get(pos + part.len()..).unwrap_or("");
        } else {
            return false;
        }
    }
    true
}

fn compare_one(value: &Scalar, op: Op, want: &Typed) -> Option<std::cmp::Ordering> {
    match (value, want) {
        (Scalar::Str(s), Typed::Text(t)) => Some(s.to_lowercase().as_str().cmp(t.as_str())),
        (Scalar::Int(a), Typed::Int(b)) => Some(a.cmp(b)),
        (Scalar::Bool(a), Typed::Bool(b)) => Some(a.cmp(b)),
        (Scalar::Time(a), Typed::Time(b)) => Some(a.cmp(b)),
        (Scalar::Ref(a), Typed::Ref(b)) if matches!(op, Op::Eq | Op::Ne) => Some(a.cmp(b)),
        _ => None,
    }
}

impl Expr {
    /// Evaluates the predicate on a resource whose values are read through `values`.
    pub fn matches<'v>(&self, values: &dyn Fn(&str) -> &'v [Scalar]) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Expr::Or(parts) => parts.iter().any(|p| p.matches(values)),
            Expr::And(parts) => parts.iter().all(|p| p.matches(values)),
            Expr::Not(inner) => !inner.matches(values),
            Expr::Compare {
                attribute,
                op,
                value,
            } => {
                let vs = values(attribute);
                let hit = |want: &[std::cmp::Ordering]| {
                    vs.iter()
                        .any(|v| compare_one(v, *op, value).is_some_and(|o| want.contains(&o)))
                };
                match op {
                    Op::Eq => hit(&[Equal]),
                    Op::Ne => !hit(&[Equal]),
                    Op::Lt => hit(&[Less]),
                    Op::Le => hit(&[Less, Equal]),
                    Op::Gt => hit(&[Greater]),
                    Op::Ge => hit(&[Greater, Equal]),
                }
            }
            Expr::Like {
                attribute,
                function,
                pattern,
            } => values(attribute).iter().any(|v| match v {
                Scalar::Str(s) => like(&s.to_lowercase(), pattern, *function),
                _ => false,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn check(filter: &str, attrs: &[(&str, Scalar)], expected: Result<bool, &str>) {
        let schema = Schema::mim();
        let mut map: BTreeMap<&str, Vec<Scalar>> = BTreeMap::new();
        for (k, v) in attrs {
            map.entry(k).or_default().push(v.clone());
        }
        let got = compile(filter, &schema).map(|f| {
            f.predicate
                .map(|p| p.matches(&|name| map.get(name).map(Vec::as_slice).unwrap_or(&[])))
                .unwrap_or(true)
        });
        match (got, expected) {
            (Ok(g), Ok(e)) => assert_eq!(g, e, "{filter}"),
            (Err(g), Err(e)) => assert!(g.contains(e), "{filter}: {g}"),
            (g, e) => panic!("{filter}: got {g:?}, expected {e:?}"),
        }
    }

    fn s(v: &str) -> Scalar {
        Scalar::Str(v.into())
    }

    #[test]
    fn the_subset() {
        let bob = [("AccountName", s("bob")), ("FirstName", s("Bob"))];
        check("/Person", &bob, Ok(true));
        check("/*", &bob, Ok(true));
        check("/Person[AccountName = 'bob']", &bob, Ok(true));
        check("/Person[AccountName='BOB']", &bob, Ok(true));
        check("/Person[AccountName = \"bob\"]", &bob, Ok(true));
        check("/Person[AccountName != 'bob']", &bob, Ok(false));
        check("/Person[Email != 'x']", &bob, Ok(true));
        check(
            "/Person[(AccountName = 'bob') and (FirstName = 'Bob')]",
            &bob,
            Ok(true),
        );
        check(
            "/Person[AccountName = 'x' or FirstName = 'bob']",
            &bob,
            Ok(true),
        );
        check("/Person[not(AccountName = 'bob')]", &bob, Ok(false));
        check("/Person[starts-with(AccountName, 'b')]", &bob, Ok(true));
        check("/Person[starts-with(AccountName, '%')]", &bob, Ok(true));
        check("/Person[starts-with(Email, '%')]", &bob, Ok(false));
        check("/Person[ends-with(AccountName, 'ob')]", &bob, Ok(true));
        check("/Person[contains(AccountName, 'o')]", &bob, Ok(true));
        check(
            "/Person[AccountName > 'a' and AccountName < 'c']",
            &bob,
            Ok(true),
        );
    }

    #[test]
    fn quotes_inside_literals() {
        let ob = [("AccountName", s("o'brien \"x\""))];
        check("/Person[AccountName = 'o''brien \"x\"']", &ob, Ok(true));
        check(
            "/Person[AccountName = \"o'brien \"\"x\"\"\"]",
            &ob,
            Ok(true),
        );
        check("/Person[AccountName = 'o'brien']", &ob, Err("unterminated"));
        check(
            "/Person[AccountName = 'o' and 'x' = 'x']",
            &ob,
            Err("attribute name"),
        );
        check(
            "/Person[AccountName = 'x'] or '1'='1'",
            &ob,
            Err("unexpected"),
        );
        check(
            "/Person[AccountName = 'unterminated]",
            &ob,
            Err("unterminated"),
        );
    }

    #[test]
    fn typed_comparisons() {
        let t = |x: &str| Scalar::Time(parse_time_literal(x).unwrap());
        let id = parse_guid("7fb2b853-24f0-4498-9534-4e10589723c4").unwrap();
        let req = [
            ("msidmCompletedTime", t("2024-05-06T07:08:09.500")),
            ("Target", Scalar::Ref(id)),
            ("RequestStatus", s("Completed")),
        ];
        check(
            "/Request[msidmCompletedTime > '2024-05-06T07:08:09.499' and RequestStatus = 'Completed']",
            &req,
            Ok(true),
        );
        check(
            "/Request[msidmCompletedTime > '2024-05-06T07:08:09.500']",
            &req,
            Ok(false),
        );
        check(
            "/Request[msidmCompletedTime >= '2024-05-06T07:08:09.5']",
            &req,
            Err("date-time"),
        );
        check(
            "/Request[Target = 'urn:uuid:7FB2B853-24F0-4498-9534-4E10589723C4']",
            &req,
            Ok(true),
        );
        check(
            "/Request[Target > '7fb2b853-24f0-4498-9534-4e10589723c4']",
            &req,
            Err("cannot be compared"),
        );
        let cc = [
            ("msidmBudget", Scalar::Int(5)),
            ("msidmActive", Scalar::Bool(true)),
        ];
        check(
            "/CostCenter[msidmBudget >= 5 and msidmActive = true]",
            &cc,
            Ok(true),
        );
        check("/CostCenter[msidmBudget < -1]", &cc, Ok(false));
        check("/CostCenter[msidmActive = false()]", &cc, Ok(false));
    }

    #[test]
    fn what_is_refused() {
        check("/Nope", &[], Err("does not exist"));
        check("/Person[ExplicitMember = 'x']", &[], Err("not bound"));
        check("/Person[Description = 'x']", &[], Err("cannot be searched"));
        check(
            "/Person[Manager = /Person[AccountName = 'x']]",
            &[],
            Err("nested"),
        );
        check(
            "/Group[DisplayName = 'x']/ComputedMember",
            &[],
            Err("dereferencing"),
        );
        check(
            "/Person[matches(AccountName, 'x')]",
            &[],
            Err("not supported"),
        );
        check("Person", &[], Err("expected Slash"));
        let deep = format!(
            "/Person[{}AccountName = 'x'{}]",
            "(".repeat(40),
            ")".repeat(40)
        );
        check(&deep, &[], Err("too deeply"));
    }
}
