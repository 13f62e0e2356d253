//! XPath text for the MIM Service: literals that cannot break out of their quotes, and the
//! few filters the connector builds.
//!
//! The MIM Service's filter dialect is a subset of XPath 2.0 (FIM SDK, "XPath filter
//! dialect"). A literal is quoted with `'` or `"`; Lithnet's own query builder
//! (`XPathQuery.QuoteTextValue`) quotes with `'`, switches to `"` when the value holds a `'`,
//! and refuses a value holding both. [`literal`] does the same for the first two cases, which
//! are proven against real MIM Services, and for a value holding both uses XPath 2.0's rule —
//! the delimiter doubled inside the literal — which Lithnet never sends: if a MIM Service
//! refuses it, the add fails with a clear `Rejected` ("cannot process the filter"), never with
//! a filter that means something else. User data is only ever placed in `=` comparisons, never
//! in `starts-with`/`contains` (where `%` is a wildcard).

/// A literal whose value is exactly `value`.
pub(crate) fn literal(value: &str) -> String {
    match (value.contains('\''), value.contains('"')) {
        (false, _) => format!("'{value}'"),
        (true, false) => format!("\"{value}\""),
        (true, true) => format!("'{}'", value.replace('\'', "''")),
    }
}

/// `/Type` or `/Type[predicate]`.
pub(crate) fn query(object_type: &str, predicate: Option<&str>) -> String {
    match predicate {
        Some(p) => format!("/{object_type}[{p}]"),
        None => format!("/{object_type}"),
    }
}

/// `(a) and (b)`, either side optional.
pub(crate) fn and(a: Option<&str>, b: Option<&str>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("({a}) and ({b})")),
        (Some(x), None) | (None, Some(x)) => Some(x.to_owned()),
        (None, None) => None,
    }
}

/// `ObjectID = 'a' or ObjectID = 'b' …` for GUIDs (already validated).
pub(crate) fn any_object_id(ids: &[String]) -> String {
    ids.iter()
        .map(|id| format!("ObjectID = '{id}'"))
        .collect::<Vec<_>>()
        .join(" or ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a literal back as an XPath 2.0 parser does; returns it and what follows.
    fn unquote(text: &str) -> Option<(String, &str)> {
        let quote = text.chars().next()?;
        let mut out = String::new();
        let mut rest = text.get(1..)?;
        loop {
            let at = rest.find(quote)?;
            out.push_str(rest.get(..at)?);
            rest = rest.get(at + 1..)?;
            if rest.starts_with(quote) {
                out.push(quote);
                rest = rest.get(1..)?;
            } else {
                return Some((out, rest));
            }
        }
    }

    fn check(value: &str, expected: &str) {
        let lit = literal(value);
        assert_eq!(lit, expected, "{value:?}");
        let (back, rest) = unquote(&lit).expect("a well-formed literal");
        assert_eq!(back, value, "{lit}");
        assert_eq!(rest, "", "{lit} leaves text outside the quotes");
    }

    #[test]
    fn hostile_values_stay_inside_their_quotes() {
        check("bob", "'bob'");
        check("", "''");
        check("O'Brien", "\"O'Brien\"");
        check("say \"hi\"", "'say \"hi\"'");
        check("O'Brien \"x\"", "'O''Brien \"x\"'");
        check("x'] or AccountName != '", "\"x'] or AccountName != '\"");
        check("x\"] | /Person[\"", "'x\"] | /Person[\"'");
        check("'\"'\"", "'''\"''\"'");
        check("%", "'%'");
        check("Jürgen 日本語 😀", "'Jürgen 日本語 😀'");
        check("line\nbreak]", "'line\nbreak]'");
    }

    #[test]
    fn filters() {
        assert_eq!(query("Person", None), "/Person");
        assert_eq!(
            query(
                "Person",
                and(Some("AccountName = 'x'"), Some("EmployeeType = 'E'")).as_deref()
            ),
            "/Person[(AccountName = 'x') and (EmployeeType = 'E')]"
        );
        assert_eq!(and(None, Some("a")), Some("a".into()));
        assert_eq!(
            any_object_id(&["a".into(), "b".into()]),
            "ObjectID = 'a' or ObjectID = 'b'"
        );
    }
}
