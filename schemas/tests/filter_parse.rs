//! Filter parsing: every RFC 7644 §3.4.2.2 example, precedence, literals, URN paths, Display
//! round trips, error messages and limits.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::sexpr;
use schemas::{AttrPath, Filter, ScimType};

/// Parses `input`, compares its structure with `expected`, and checks that Display re-parses
/// to the same tree.
#[track_caller]
fn check(input: &str, expected: &str) {
    let f = Filter::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
    assert_eq!(sexpr(&f), expected, "{input}");
    let printed = f.to_string();
    let again = Filter::parse(&printed).unwrap_or_else(|e| panic!("reparse {printed}: {e}"));
    assert_eq!(again, f, "{input} printed as {printed}");
}

#[test]
fn rfc_7644_examples() {
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    check(r#"userName eq "bjensen""#, r#"(eq userName "bjensen")"#);
    check(
        r#"name.familyName co "O'Malley""#,
        r#"(co name.familyName "O'Malley")"#,
    );
    check(r#"userName sw "J""#, r#"(sw userName "J")"#);
    check(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        r#"(sw urn:ietf:params:scim:schemas:core:2.0:User:userName "J")"#,
    );
    check("title pr", "(pr title)");
    for op in ["gt", "ge", "lt", "le"] {
        check(
            &format!(r#"meta.lastModified {op} "2011-05-13T04:42:34Z""#),
            &format!(r#"({op} meta.lastModified "2011-05-13T04:42:34Z")"#),
        );
    }
    check(
        r#"title pr and userType eq "Employee""#,
        r#"(and (pr title) (eq userType "Employee"))"#,
    );
    check(
        r#"title pr or userType eq "Intern""#,
        r#"(or (pr title) (eq userType "Intern"))"#,
    );
    check(
        &format!(r#"schemas eq "{ent}""#),
        &format!(r#"(eq schemas "{ent}")"#),
    );
    check(
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"(and (eq userType "Employee") (or (co emails "example.com") (co emails.value "example.org")))"#,
    );
    check(
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"(and (ne userType "Employee") (not (or (co emails "example.com") (co emails.value "example.org"))))"#,
    );
    check(
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        r#"(and (eq userType "Employee") (eq emails.type "work"))"#,
    );
    check(
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"(and (eq userType "Employee") (emails[] (and (eq type "work") (co value "@example.com"))))"#,
    );
    check(
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        r#"(or (emails[] (and (eq type "work") (co value "@example.com"))) (ims[] (and (eq type "xmpp") (co value "@foo.com"))))"#,
    );
}

#[test]
fn precedence_and_grouping() {
    check("a pr or b pr and c pr", "(or (pr a) (and (pr b) (pr c)))");
    check("a pr and b pr or c pr", "(or (and (pr a) (pr b)) (pr c))");
    check("(a pr or b pr) and c pr", "(and (or (pr a) (pr b)) (pr c))");
    check(
        "a pr and (b pr and c pr)",
        "(and (pr a) (and (pr b) (pr c)))",
    );
    check("a pr or (b pr or c pr)", "(or (pr a) (or (pr b) (pr c)))");
    check("a pr and b pr and c pr", "(and (and (pr a) (pr b)) (pr c))");
    check("not (a pr) and b pr", "(and (not (pr a)) (pr b))");
    check("not(a pr or b pr)", "(not (or (pr a) (pr b)))");
    check("((((a pr))))", "(pr a)");
    check("(a pr)or(b pr)", "(or (pr a) (pr b))");
    check("a pr  AND   b pr", "(and (pr a) (pr b))");
    check(r#"a eq "x"and b pr"#, r#"(and (eq a "x") (pr b))"#);
}

#[test]
fn keywords_and_operators_are_case_insensitive() {
    check(r#"userName EQ "x""#, r#"(eq userName "x")"#);
    check("active Eq TRUE", "(eq active true)");
    check("title PR Or nickName pr", "(or (pr title) (pr nickName))");
    check("NOT (a pr)", "(not (pr a))");
    check("a eq Null", "(eq a null)");
    check("a ne FALSE", "(ne a false)");
}

#[test]
fn literals() {
    check(r#"a eq "with \"quotes\"""#, r#"(eq a "with \"quotes\"")"#);
    check(r#"a eq "back\\slash""#, r#"(eq a "back\\slash")"#);
    check(r#"a eq "caf\u00e9""#, r#"(eq a "café")"#);
    check(r#"a eq "tab\tnew\nline\/""#, r#"(eq a "tab\tnew\nline/")"#);
    check(r#"a eq "日本語 😀""#, r#"(eq a "日本語 😀")"#);
    check(r#"a eq """#, r#"(eq a "")"#);
    check("a eq 42", "(eq a #42)");
    check("a eq -7", "(eq a #-7)");
    check("a gt 3.25", "(gt a #3.25)");
    check("a lt 1e3", "(lt a #1000.0)");
    check("a lt -2.5E-2", "(lt a #-0.025)");
    check("a eq 18446744073709551615", "(eq a #18446744073709551615)");
    // Found by fuzzing: a float must print to text that parses back to the same value.
    check(
        "a eq 533333333333322351109",
        "(eq a #5.3333333333332237e+20)",
    );
    check("a eq -0", "(eq a #0)");
    check("a eq 0.1e-400", "(eq a #0.0)");
    check("a eq true", "(eq a true)");
    check("a eq false", "(eq a false)");
    check("a eq null", "(eq a null)");
}

#[test]
fn attribute_paths() {
    let p = |s: &str| match Filter::parse(&format!("{s} pr")).unwrap() {
        Filter::Present(p) => p,
        other => panic!("{other:?}"),
    };
    let ap = |urn: Option<&str>, name: &str, sub: Option<&str>| AttrPath {
        urn: urn.map(Into::into),
        name: name.into(),
        sub: sub.map(Into::into),
    };
    let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let ecma = "urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User";
    assert_eq!(p("userName"), ap(None, "userName", None));
    assert_eq!(p("name.familyName"), ap(None, "name", Some("familyName")));
    assert_eq!(p(&format!("{ent}:manager")), ap(Some(ent), "manager", None));
    assert_eq!(
        p(&format!("{ent}:manager.value")),
        ap(Some(ent), "manager", Some("value"))
    );
    assert_eq!(p(&format!("{ecma}:-dn-")), ap(Some(ecma), "-dn-", None));
    assert_eq!(
        p(&format!("{ecma}:Contoso_Login2")),
        ap(Some(ecma), "Contoso_Login2", None)
    );
    assert_eq!(p("members.$ref"), ap(None, "members", Some("$ref")));
    assert_eq!(
        p("URN:IETF:params:scim:schemas:core:2.0:User:userName"),
        ap(
            Some("URN:IETF:params:scim:schemas:core:2.0:User"),
            "userName",
            None
        )
    );
    check(
        &format!(r#"{ecma}:-dn- eq "CN=x""#),
        &format!(r#"(eq {ecma}:-dn- "CN=x")"#),
    );
    check(
        &format!(r#"{ent}:manager.value eq "26118915""#),
        &format!(r#"(eq {ent}:manager.value "26118915")"#),
    );
}

#[test]
fn entra_value_path_with_sub_attribute_is_an_and_inside_the_value_path() {
    check(
        r#"emails[type eq "work"].value eq "a@contoso.com""#,
        r#"(emails[] (and (eq type "work") (eq value "a@contoso.com")))"#,
    );
    check(
        r#"emails[type eq "work"].value pr"#,
        r#"(emails[] (and (eq type "work") (pr value)))"#,
    );
}

#[test]
fn equality_terms_recognise_entra_lookups() {
    let terms = |s: &str| {
        Filter::parse(s).unwrap().equality_terms().map(|t| {
            t.iter()
                .map(|(p, l)| format!("{p}={l}"))
                .collect::<Vec<_>>()
                .join(",")
        })
    };
    assert_eq!(
        terms(r#"userName eq "x""#).as_deref(),
        Some(r#"userName="x""#)
    );
    assert_eq!(
        terms(r#"id eq "1" and manager eq "2""#).as_deref(),
        Some(r#"id="1",manager="2""#)
    );
    assert_eq!(
        terms(r#"a eq 1 and (b eq true and c eq "z")"#).as_deref(),
        Some(r#"a=1,b=true,c="z""#)
    );
    assert_eq!(terms(r#"userName eq "x" or id eq "y""#), None);
    assert_eq!(terms(r#"userName ne "x""#), None);
    assert_eq!(terms(r#"emails[type eq "work"].value eq "x""#), None);
    assert_eq!(terms("title pr"), None);
}

/// Each bad filter and the start of its error detail.
#[test]
fn errors_say_what_and_where() {
    let check_err = |input: &str, detail: &str| {
        let e = Filter::parse(input).expect_err(input);
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter), "{input}");
        assert_eq!(e.status, 400);
        assert!(e.detail.starts_with(detail), "{input}: {}", e.detail);
    };
    check_err(
        "userName",
        r#"expected a comparison operator after "userName" at position 8"#,
    );
    check_err(
        r#"userName "x""#,
        r#"expected a comparison operator after "userName" at position 9"#,
    );
    check_err(
        r#"userName eqq "x""#,
        r#"unknown comparison operator "eqq" after "userName""#,
    );
    check_err("userName eq", "expected a value");
    check_err("userName eq bjensen", "expected a value");
    check_err(r#"userName eq "x"#, "unterminated string");
    check_err(r#"userName eq "\q""#, "invalid string");
    check_err("a eq 1.", "invalid number");
    check_err("a eq -", "invalid number");
    check_err("a eq 1e999", "invalid number");
    check_err(
        r#"a eq "x" b pr"#,
        r#"expected "and", "or" or the end of the filter but found 'b'"#,
    );
    check_err("(a pr", "expected ')'");
    check_err("a pr)", "expected \"and\"");
    check_err("emails[type pr", "expected ']'");
    check_err(
        r#"emails[x[y pr]]"#,
        "a value path cannot contain another value path",
    );
    check_err(r#"name.x[y pr]"#, "a value filter must follow an attribute");
    check_err("a.b.c pr", "invalid attribute path");
    check_err("foo:bar pr", "unexpected ':'");
    check_err("urn:x pr", "invalid attribute path");
    check_err("", "filter is empty");
    check_err("   ", "filter is empty");
    check_err("and", "expected a comparison operator");
    check_err("a pr and", "expected an attribute name");
    check_err(
        "not a pr",
        "unknown comparison operator \"a\" after \"not\"",
    );
}

#[test]
fn limits() {
    // Too long: rejected before parsing.
    let long = format!(r#"userName eq "{}""#, "x".repeat(9000));
    let e = Filter::parse(&long).unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
    assert_eq!(e.detail, "filter is longer than 8192 bytes");
    let mb = "(".repeat(1 << 20);
    assert_eq!(
        Filter::parse(&mb).unwrap_err().detail,
        "filter is longer than 8192 bytes"
    );

    // Nesting: 32 levels pass, 33 fail, for parentheses, not and value paths.
    let nest = |n: usize| format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
    assert!(Filter::parse(&nest(32)).is_ok());
    let e = Filter::parse(&nest(33)).unwrap_err();
    assert!(
        e.detail.starts_with("nesting is deeper than 32 levels"),
        "{}",
        e.detail
    );
    let nots = |n: usize| format!("{}a pr{}", "not (".repeat(n), ")".repeat(n));
    assert!(Filter::parse(&nots(32)).is_ok());
    assert!(Filter::parse(&nots(33)).is_err());
    let deep_unclosed = "(".repeat(8000);
    assert_eq!(
        Filter::parse(&deep_unclosed).unwrap_err().scim_type,
        Some(ScimType::InvalidFilter)
    );

    // A long flat chain is fine and does not recurse per term when printed or evaluated.
    let chain = vec!["a pr"; 900].join(" or ");
    let f = Filter::parse(&chain).unwrap();
    assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
    let schema = common::user_schema();
    assert!(!f.matches(&serde_json::json!({}), &schema));
}
