use std::path::Path;

use super::*;

/// A minimal valid configuration: one SQL connector (also the registry tests' fixture).
pub(crate) const MINIMAL: &str = r#"
version = 1
[[connector]]
name = "hr"
kind = "sql"
token = { hash = "sha256:0000000000000000000000000000000000000000000000000000000000000000" }
[connector.sql]
connection = "sqlite://hr.db"
[[connector.sql.object]]
type = "User"
table = "Employees"
anchor = "EmployeeId"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("test.toml"), Path::new("/etc/ch"))
}

fn error_of(text: &str) -> String {
    parse(text)
        .expect_err("config should be refused")
        .to_string()
}

#[test]
fn minimal_config_gets_safe_defaults() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.server.listen.port(), 8585);
    assert_eq!(c.data_dir(), Path::new("/etc/ch/data"));
    let hr = c.connector("hr").unwrap();
    assert_eq!(hr.schema, SchemaMode::Ecma2host);
    assert_eq!(hr.export_timeout.0.as_secs(), 30);
    assert_eq!(hr.full_import_every.0.as_secs(), 7200);
    assert_eq!(hr.deprovision.delete, DeleteAction::Delete);
    assert_eq!(
        hr.deprovision.disable.effective(),
        DisableAction::Simple(SimpleAction::None)
    );
    assert!(
        c.connector("HR").is_none(),
        "connector names are case-sensitive"
    );
}

#[test]
fn unknown_key_names_its_line() {
    let text = MINIMAL.replace("kind = \"sql\"", "kind = \"sql\"\ncolour = \"blue\"");
    let e = error_of(&text);
    assert!(e.contains("line 6, column 1"), "{e}");
    assert!(e.contains("colour"), "{e}");
}

#[test]
fn the_kind_table_is_kept_for_the_registry() {
    let c = parse(MINIMAL).unwrap();
    let hr = c.connector("hr").unwrap();
    assert_eq!(hr.kind, "sql");
    let table: toml::Table = c.kind_settings(hr).unwrap();
    assert_eq!(table["connection"].as_str(), Some("sqlite://hr.db"));
    assert!(
        !format!("{c:?}").contains("sqlite://hr.db"),
        "the file's text never shows in Debug"
    );
}

#[test]
fn a_kind_without_its_table_is_refused_at_its_line() {
    let e = error_of(&MINIMAL.replace("kind = \"sql\"", "kind = \"sqll\""));
    assert!(
        e.contains(
            "line 5, column 8: connector \"hr\" has kind = \"sqll\" but no [connector.sqll] table"
        ),
        "{e}"
    );
    let e = error_of(&MINIMAL.replace("kind = \"sql\"\n", ""));
    assert!(e.contains("line 3, column 1: missing field `kind`"), "{e}");
}

#[test]
fn refusals_say_what_to_fix() {
    let cases: &[(&str, &str, &str)] = &[
        ("version = 1", "version = 2", "expected version = 1"),
        ("name = \"hr\"", "name = \"h r\"", "only letters"),
        (
            "token = { hash = \"sha256:0000000000000000000000000000000000000000000000000000000000000000\" }",
            "token = { hash = \"abc\" }",
            "sha256:<64 hex digits>",
        ),
        (
            "token = { hash = \"sha256:0000000000000000000000000000000000000000000000000000000000000000\" }",
            "token = { file = \"a\", env = \"B\" }",
            "exactly one of",
        ),
        (
            "[connector.sql]",
            "[connector.users.map]\nuserName = \"x\"\n[connector.sql]",
            "ecma2host",
        ),
        (
            "kind = \"sql\"",
            "kind = \"sql\"\nfull_import_every = \"2 weeks\"",
            "unknown duration unit",
        ),
    ];
    for (from, to, expected) in cases {
        let e = error_of(&MINIMAL.replace(from, to));
        assert!(e.contains(expected), "{from} -> {to}: {e}");
    }
}

#[test]
fn duplicate_connector_names_are_refused() {
    let second = MINIMAL.replace("version = 1", "");
    let e = error_of(&format!("{MINIMAL}\n{second}"));
    assert!(e.contains("two connectors"), "{e}");
}

#[test]
fn deprovision_forms() {
    let text = format!(
        "{MINIMAL}\n[connector.deprovision]\ndisable = {{ set = \"IsActive\", value = false }}\ndelete = \"none\"\n"
    );
    let c = parse(&text).unwrap();
    let d = &c.connectors[0].deprovision;
    assert_eq!(
        d.disable,
        DisableAction::Set {
            set: "IsActive".into(),
            value: false
        }
    );
    assert_eq!(d.delete, DeleteAction::None);
    let text = format!("{MINIMAL}\n[connector.deprovision]\ndisable = \"delete\"\n");
    assert_eq!(
        parse(&text).unwrap().connectors[0].deprovision.disable,
        DisableAction::Simple(SimpleAction::Delete)
    );
}

#[test]
fn durations() {
    for (text, secs) in [
        ("90s", 90),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86_400),
        ("45", 45),
    ] {
        assert_eq!(
            HumanDuration::parse(text).unwrap().0.as_secs(),
            secs,
            "{text}"
        );
    }
    assert!(HumanDuration::parse("soon").is_err());
    assert_eq!(HumanDuration::from_secs(7200).to_string(), "2h");
}

#[test]
fn token_hash_round_trip_and_constant_time_match() {
    let token = generate_token();
    assert!(token.len() >= MIN_TOKEN_LEN);
    let h = TokenHash::of_token(&token).unwrap();
    assert!(h.matches(&token));
    assert!(!h.matches("some-other-token"));
    let parsed = TokenHash::parse(&h.to_config_string()).unwrap();
    assert!(parsed.matches(&token));
    assert!(TokenHash::of_token("short").is_err());
    assert_eq!(format!("{:?}", Secret::new(token)), "[redacted]");
}

#[test]
fn connector_secrets_come_from_files_and_the_environment() {
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        bind_password: String,
        url: String,
        secrets: BTreeMap<String, String>,
        #[serde(default)]
        object: Vec<BTreeMap<String, String>>,
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ldap.pw"),
        "from-a-file\nsecond line ignored\n",
    )
    .unwrap();
    // A variable every process has (setting one would need `unsafe`, which the crate forbids).
    let path_var = std::env::var("PATH").unwrap();
    let text = r#"
version = 1
[[connector]]
name = "dir"
kind = "demo"
token = { hash = "sha256:0000000000000000000000000000000000000000000000000000000000000000" }
[connector.demo]
bind_password = { file = "ldap.pw" }
url = "ldaps://dir.example"
secrets = { api_key = { env = "PATH" }, plain = "as-is" }
[[connector.demo.object]]
file = "not a secret: the key says nothing of one"
"#;
    let c = Config::parse(text, Path::new("test.toml"), dir.path()).unwrap();
    let s: Settings = c.kind_settings(c.connector("dir").unwrap()).unwrap();
    assert_eq!(s.bind_password, "from-a-file");
    assert_eq!(s.url, "ldaps://dir.example");
    assert_eq!(s.secrets["api_key"], path_var.trim());
    assert_eq!(s.secrets["plain"], "as-is");
    assert_eq!(
        s.object[0]["file"],
        "not a secret: the key says nothing of one"
    );
    assert!(!format!("{c:?}").contains("from-a-file"));

    let missing = text.replace("ldap.pw", "no-such.pw");
    let c = Config::parse(&missing, Path::new("test.toml"), dir.path()).unwrap();
    let e = c
        .kind_settings::<Settings>(c.connector("dir").unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("connector \"dir\"") && e.contains("no-such.pw"),
        "{e}"
    );
    assert!(e.contains("line 8"), "{e}");
}

/// `MINIMAL` with `server` as its `[server]` tables.
fn with_server(server: &str) -> String {
    MINIMAL.replace("version = 1\n", &format!("version = 1\n{server}\n"))
}

#[test]
fn the_space_is_sqlite_unless_configured() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.server.space.backend, SpaceBackend::Sqlite);
    assert_eq!(c.server.space.import_lease.0.as_secs(), 30);
    assert!(c.postgres_space().unwrap().is_none());
}

#[test]
fn a_postgres_space_reads_url_password_and_lease() {
    let c = parse(&with_server(
        "[server.space]\nbackend = \"postgres\"\nurl = \"postgresql://ch@db.example:5432/spaces\"\n\
         password = { env = \"CH_TEST_SPACE_PASSWORD_UNSET\" }\nimport_lease = \"1m\"",
    ))
    .unwrap();
    assert_eq!(c.server.space.backend, SpaceBackend::Postgres);
    assert_eq!(
        c.server.space.url.as_deref(),
        Some("postgresql://ch@db.example:5432/spaces")
    );
    assert_eq!(c.server.space.import_lease.0.as_secs(), 60);
    // The password is read when the space is opened; an unset variable says which one.
    let e = c.postgres_space().unwrap_err().to_string();
    assert!(e.contains("CH_TEST_SPACE_PASSWORD_UNSET"), "{e}");
}

#[test]
fn space_settings_are_checked() {
    let check = |server: &str, expected: &str| {
        let e = error_of(&with_server(server));
        assert!(e.contains(expected), "{server}: {e}");
    };
    check(
        "[server.space]\nbackend = \"postgres\"",
        "needs url = \"postgresql://user@host:5432/dbname\"",
    );
    check(
        "[server.space]\nbackend = \"mysql\"",
        "unknown variant `mysql`",
    );
    check(
        "[server.space]\nbackend = \"postgres\"\nurl = \"db.example\"",
        "libpq URL",
    );
    check(
        "[server.space]\nurl = \"postgresql://ch@db/spaces\"",
        "url and password are for backend = \"postgres\"",
    );
    check(
        "[server.space]\nbackend = \"postgres\"\nurl = \"postgresql://db/spaces\"\nimport_lease = \"1s\"",
        "too short",
    );
    check(
        "[server.space]\nbackend = \"postgres\"\nurl = \"postgresql://db/spaces\"\npassword = { file = \"a\", env = \"B\" }",
        "exactly one of file or env",
    );
    check("[server.space]\ncolour = \"blue\"", "colour");
    check("[server]\nhost_id = \"\"", "host_id");
}

#[test]
fn a_password_in_the_url_is_refused_without_repeating_it() {
    for url in [
        "postgresql://ch:s3cr3t-pw@db.example:5432/spaces",
        "postgres://ch:s3cr3t-pw@db.example/spaces",
        "postgresql://ch@db.example/spaces?sslmode=require&password=s3cr3t-pw",
    ] {
        let e = error_of(&with_server(&format!(
            "[server.space]\nbackend = \"postgres\"\nurl = \"{url}\""
        )));
        assert!(e.contains("must not contain the password"), "{e}");
        assert!(e.contains("password = { file"), "{e}");
        assert!(
            !e.contains("s3cr3t-pw"),
            "the message repeats the password: {e}"
        );
    }
    // A user name with '@' in the host part's place is still not a password.
    parse(&with_server(
        "[server.space]\nbackend = \"postgres\"\nurl = \"postgresql://ch@db.example/spaces?sslmode=require\"",
    ))
    .unwrap();
}

#[test]
fn the_host_id_defaults_to_the_machine_name_and_port() {
    let c = parse(MINIMAL).unwrap();
    let id = c.host_id(8585);
    assert!(id.ends_with(":8585"), "{id}");
    assert!(id.len() > ":8585".len(), "{id}");
    let named = parse(&with_server("[server]\nhost_id = \"agent-2\"")).unwrap();
    assert_eq!(named.host_id(8585), "agent-2");
}
