//! Workers against real child processes (`tests/scripts/antics.py`, `tests/scripts/hang.sh`):
//! deadlines that kill whole process trees, crashes, garbage, oversized and flooding output,
//! named errors, recycling, pools, and what a script can and cannot see.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use connector_core::{
    AttrValue, Attributes, Change, Connector, ConnectorError, Deadline, ExportOutcome, Secret,
};
use connector_script::{ScriptConfig, ScriptConnector};

mod common;
use common::crate_dir;

fn antics(tweak: impl FnOnce(ScriptConfig) -> ScriptConfig) -> ScriptConnector {
    let config = ScriptConfig::new("tests/scripts/antics.py").with_interpreter("python3");
    ScriptConnector::named("antics", tweak(config), crate_dir()).expect("start antics.py")
}

fn soon() -> Deadline {
    Deadline::after(Duration::from_secs(20))
}

fn add_with(
    c: &ScriptConnector,
    anchor: &str,
    mode: &str,
    deadline: Deadline,
) -> Result<ExportOutcome, ConnectorError> {
    let mut attributes = Attributes::new();
    attributes.insert("id".into(), vec![anchor.into()]);
    attributes.insert("mode".into(), vec![mode.into()]);
    c.export(
        &Change::Add {
            object_type: "User".into(),
            anchor: Some(anchor.into()),
            dn: None,
            attributes,
        },
        deadline,
    )
}

fn add(c: &ScriptConnector, anchor: &str, mode: &str) -> Result<ExportOutcome, ConnectorError> {
    add_with(c, anchor, mode, soon())
}

/// The pid of the worker that answers `test`.
fn worker_pid(c: &ScriptConnector) -> u32 {
    let d = c.test_connection(soon()).expect("test");
    d.split_whitespace()
        .find_map(|w| w.strip_prefix("pid="))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {d:?}"))
}

/// Whether a process is gone (or a zombie nobody reaps, which is as good as gone).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

fn wait_until_gone(pids: &[u32]) {
    let start = Instant::now();
    while !pids.iter().all(|p| gone(*p)) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "processes still alive after 10 s: {:?}",
            pids.iter().filter(|p| !gone(**p)).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read_pids(file: &Path) -> Vec<u32> {
    let text = std::fs::read_to_string(file).expect("pid file");
    let pids: Vec<u32> = text
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 3, "{text}");
    pids
}

fn assert_timeout_kills_the_tree(c: &ScriptConnector, pidfile: &Path) {
    let before = worker_pid(c);
    let start = Instant::now();
    let err = add_with(
        c,
        "h1",
        "hang",
        Deadline::after(Duration::from_millis(1500)),
    )
    .expect_err("a hung export must time out");
    let took = start.elapsed();
    assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(5),
        "the timeout took {took:?}"
    );
    let pids = read_pids(pidfile);
    assert_eq!(pids[0], before, "the hung worker wrote the pid file");
    wait_until_gone(&pids);
    let after = worker_pid(c);
    assert_ne!(after, before, "a fresh worker serves the next call");
}

#[test]
fn a_hung_python_call_is_killed_with_its_children_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let c = antics(|c| c.with_parameter("pidfile", pidfile.to_string_lossy()));
    assert_timeout_kills_the_tree(&c, &pidfile);
    add(&c, "after", "ok").expect("the fresh worker exports");
}

#[test]
fn a_hung_shell_call_is_killed_with_its_children_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let mut config = ScriptConfig::new("tests/scripts/hang.sh").with_interpreter("sh");
    config.args = vec![pidfile.to_string_lossy().into_owned()];
    let c = ScriptConnector::new(config, crate_dir()).expect("start hang.sh");
    let start = Instant::now();
    let err = c
        .test_connection(Deadline::after(Duration::from_millis(1000)))
        .expect_err("hangs");
    assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(4));
    wait_until_gone(&read_pids(&pidfile));
    std::fs::remove_file(&pidfile).unwrap();
    // The replacement hangs the same way, and is killed the same way.
    let err = c
        .test_connection(Deadline::after(Duration::from_millis(1000)))
        .expect_err("hangs again");
    assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
    wait_until_gone(&read_pids(&pidfile));
}

#[test]
fn a_crashed_worker_is_restarted() {
    let c = antics(|c| c);
    let before = worker_pid(&c);
    let err = add(&c, "c1", "crash").expect_err("a crash fails the export");
    assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
    assert!(err.detail().contains("exited"), "{err}");
    assert!(err.detail().contains("unknown"), "{err}");
    assert!(gone(before));
    let after = worker_pid(&c);
    assert_ne!(before, after);
    add(&c, "c2", "ok").expect("the fresh worker exports");
}

#[test]
fn a_worker_that_died_while_idle_is_replaced_without_an_error() {
    let c = antics(|c| c);
    let before = worker_pid(&c);
    let status = std::process::Command::new("kill")
        .args(["-KILL", &before.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(200));
    let after = worker_pid(&c);
    assert_ne!(before, after);
}

#[test]
fn garbage_on_stdout_is_a_clear_error_and_the_worker_is_replaced() {
    let c = antics(|c| c);
    let before = worker_pid(&c);
    let err = add(&c, "g1", "garbage").expect_err("garbage fails the export");
    assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
    assert!(err.detail().contains("not a protocol answer"), "{err}");
    assert!(
        !err.detail().contains("Traceback"),
        "the garbage itself is never quoted: {err}"
    );
    wait_until_gone(&[before]);
    assert_ne!(worker_pid(&c), before);
}

#[test]
fn an_answer_for_another_request_is_a_protocol_error() {
    let c = antics(|c| c);
    let before = worker_pid(&c);
    let err = add(&c, "w1", "wrong-id").expect_err("wrong id");
    assert!(err.detail().contains("answered request"), "{err}");
    assert_ne!(worker_pid(&c), before);
}

#[test]
fn oversized_output_is_a_clear_error_and_the_worker_is_replaced() {
    let c = antics(|mut c| {
        c.max_message_size = 8192;
        c
    });
    let before = worker_pid(&c);
    let err = add(&c, "o1", "huge").expect_err("an oversized answer fails");
    assert!(err.detail().contains("max_message_size"), "{err}");
    wait_until_gone(&[before]);
    assert_ne!(worker_pid(&c), before);
}

#[test]
fn a_flood_on_stderr_is_a_clear_error_and_the_worker_is_replaced() {
    let c = antics(|mut c| {
        c.max_log_per_call = 64 * 1024;
        c
    });
    let before = worker_pid(&c);
    let start = Instant::now();
    let err = add(&c, "f1", "flood").expect_err("a flood fails");
    assert!(err.detail().contains("max_log_per_call"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "{:?}",
        start.elapsed()
    );
    wait_until_gone(&[before]);
    assert_ne!(worker_pid(&c), before);
}

#[test]
fn a_named_error_maps_to_its_kind_and_keeps_the_worker() {
    let c = antics(|c| c);
    let before = worker_pid(&c);
    let err = add(&c, "e1", "error").expect_err("named error");
    assert_eq!(
        err,
        ConnectorError::rejected("[password-policy-violation] the password is too short")
    );
    let err = add(&c, "e2", "named-error").expect_err("named error");
    assert_eq!(err, ConnectorError::conflict("[object-already-exists]"));
    add(&c, "e3", "ok").unwrap();
    let err = add(&c, "e3", "ok").expect_err("duplicate");
    assert!(matches!(err, ConnectorError::Conflict { .. }), "{err:?}");
    assert_eq!(worker_pid(&c), before, "an error answer keeps the worker");
}

#[test]
fn a_pending_answer_is_an_accepted_pending_outcome() {
    let c = antics(|c| c);
    let outcome = add(&c, "p1", "pending").unwrap();
    assert!(outcome.is_pending());
    assert_eq!(outcome.anchor.as_str(), "p1");
}

#[test]
fn a_passed_deadline_sends_nothing() {
    let c = antics(|c| c);
    let err = add_with(&c, "d1", "ok", Deadline::passed()).expect_err("too late");
    assert!(matches!(err, ConnectorError::Timeout { .. }), "{err:?}");
    assert_eq!(c.read("User", &"d1".into(), soon()).unwrap(), None);
}

#[test]
fn requests_carry_the_remaining_deadline() {
    let c = antics(|c| c);
    let d = c
        .test_connection(Deadline::after(Duration::from_secs(7)))
        .unwrap();
    let ms: u64 = d
        .split_whitespace()
        .find_map(|w| w.strip_prefix("deadline="))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((5000..=7000).contains(&ms), "{d}");
}

#[test]
fn workers_are_recycled_after_max_operations() {
    let c = antics(|mut c| {
        c.max_operations = 2;
        c
    });
    // test_connection makes two calls (test, then schema): each test lands on a new worker.
    let pids: Vec<u32> = (0..3).map(|_| worker_pid(&c)).collect();
    assert_ne!(pids[0], pids[1]);
    assert_ne!(pids[1], pids[2]);
    wait_until_gone(&pids[..2]);
}

#[test]
fn a_script_that_is_not_concurrency_safe_gets_one_worker_and_serialised_calls() {
    let c = Arc::new(antics(|c| c));
    assert_eq!(c.max_workers(), 1);
    assert!(!c.capabilities().concurrent_exports);
    let start = Instant::now();
    let threads: Vec<_> = (0..3)
        .map(|i| {
            let c = c.clone();
            std::thread::spawn(move || add(&c, &format!("s{i}"), "slow").unwrap())
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(
        start.elapsed() >= Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_concurrency_safe_script_gets_a_pool() {
    let c = Arc::new(antics(|mut c| {
        c.workers = 3;
        c.with_parameter("concurrent", "true")
    }));
    assert_eq!(c.max_workers(), 3);
    assert!(c.capabilities().concurrent_exports);
    let round = |prefix: &str| {
        let start = Instant::now();
        let threads: Vec<_> = (0..3)
            .map(|i| {
                let c = c.clone();
                let anchor = format!("{prefix}{i}");
                std::thread::spawn(move || add(&c, &anchor, "slow").unwrap())
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        start.elapsed()
    };
    // The first round starts the two extra workers; the second finds three warm ones, so three
    // one-second exports take well under the three seconds they take one after another.
    round("warm");
    let took = round("s");
    assert!(took < Duration::from_millis(2500), "{took:?}");
}

#[test]
fn configuration_reaches_the_script_on_stdin_only() {
    let secret = "Tok3n-that-must-not-leak";
    let c = antics(|c| {
        c.with_parameter("expect", secret)
            .with_secret("token", secret)
    });
    let pid = worker_pid(&c);
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    for (what, bytes) in [("command line", cmdline), ("environment", environ)] {
        assert!(
            !String::from_utf8_lossy(&bytes).contains("Tok3n"),
            "the secret is in the worker's {what}"
        );
    }
    // A wrong secret fails the hello, so the right one arrived.
    let err = ScriptConnector::new(
        ScriptConfig::new("tests/scripts/antics.py")
            .with_interpreter("python3")
            .with_parameter("expect", secret)
            .with_secret("token", "wrong"),
        crate_dir(),
    )
    .expect_err("a wrong token fails hello");
    assert!(
        matches!(err, ConnectorError::Misconfigured { .. }),
        "{err:?}"
    );
}

#[test]
fn the_environment_is_an_allow_list_and_the_working_dir_is_configured() {
    let dir = tempfile::tempdir().unwrap();
    // The real interpreter: a pyenv shim would add variables of its own.
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let python = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let c = antics(|mut c| {
        c.interpreter = Some(python);
        c.working_dir = Some(dir.path().to_owned());
        c.env = vec!["PATH".into(), "NO_SUCH_VARIABLE_4711".into()];
        c
    });
    let d = c.test_connection(soon()).unwrap();
    let cwd = std::fs::canonicalize(dir.path()).unwrap();
    assert!(d.contains(&format!("cwd={}", cwd.display())), "{d}");
    let env = d
        .split_whitespace()
        .find_map(|w| w.strip_prefix("env="))
        .unwrap();
    // CARGO_MANIFEST_DIR is in this test's environment, but not allowed through.
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let names: Vec<&str> = env.split(',').filter(|n| !n.is_empty()).collect();
    // Python itself may add LC_CTYPE on a C locale.
    let extra: Vec<&&str> = names
        .iter()
        .filter(|n| !["PATH", "LC_CTYPE"].contains(n))
        .collect();
    assert!(extra.is_empty(), "unexpected variables: {extra:?}");
}

/// A relative base directory (a host started with `--config demo/connector-host.toml`) is the
/// script's directory and its working directory, not a path below the working directory.
#[test]
fn a_relative_base_dir_resolves_against_the_current_directory() {
    assert_eq!(
        std::env::current_dir().unwrap().canonicalize().unwrap(),
        crate_dir().canonicalize().unwrap(),
        "tests run in the crate's directory"
    );
    let config = ScriptConfig::new("antics.py").with_interpreter("python3");
    let c = ScriptConnector::named("relative", config, Path::new("tests/scripts"))
        .expect("start antics.py from a relative base directory");
    let d = c.test_connection(soon()).unwrap();
    let cwd = crate_dir().join("tests/scripts").canonicalize().unwrap();
    assert!(d.contains(&format!("cwd={}", cwd.display())), "{d}");
}

#[test]
fn a_bad_configuration_fails_at_construction() {
    let check = |config: ScriptConfig, expected: &str| {
        let err = ScriptConnector::new(config, crate_dir()).expect_err(expected);
        assert!(
            matches!(err, ConnectorError::Misconfigured { .. }),
            "{err:?}"
        );
        assert!(err.detail().contains(expected), "{err} lacks {expected}");
    };
    check(ScriptConfig::new("tests/scripts/missing.py"), "missing.py");
    check(
        ScriptConfig::new("tests/scripts/antics.py").with_interpreter("no-such-interpreter-4711"),
        "cannot start",
    );
    check(
        ScriptConfig::new("tests/scripts/antics.py")
            .with_interpreter("python3")
            .with_parameter("protocol", "2"),
        "protocol 2",
    );
    let mut bad_dir = ScriptConfig::new("tests/scripts/antics.py").with_interpreter("python3");
    bad_dir.working_dir = Some(PathBuf::from("no/such/dir"));
    check(bad_dir, "working_dir");
    // A script that exits at once fails its hello.
    check(
        ScriptConfig::new("tests/scripts/antics.py").with_interpreter("true"),
        "hello",
    );
    // A script every user may rewrite is refused.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("open.py");
    std::fs::copy(crate_dir().join("tests/scripts/antics.py"), &script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o666)).unwrap();
    check(
        ScriptConfig::new(&script).with_interpreter("python3"),
        "writable by every user",
    );
}

/// Captures every log line of this test process.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn stderr_is_logged_with_the_connector_name_and_secrets_redacted() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
    let c = antics(|c| c.with_secret("apiKey", "Conf1g-Secret"));
    let mut attributes: Attributes = BTreeMap::new();
    attributes.insert("id".into(), vec!["l1".into()]);
    attributes.insert("mode".into(), vec!["leak".into()]);
    attributes.insert(
        "pw".into(),
        vec![AttrValue::Secret(Secret::new("Very#Secret1"))],
    );
    let err = c
        .export(
            &Change::Add {
                object_type: "User".into(),
                anchor: Some("l1".into()),
                dn: None,
                attributes,
            },
            soon(),
        )
        .expect_err("the script refuses");
    assert!(!err.detail().contains("Very#Secret1"), "{err}");
    assert!(err.detail().contains("<redacted>"), "{err}");
    // A crash writes `error: crashing on purpose` to stderr before it exits.
    let _ = add(&c, "l2", "crash");
    let start = Instant::now();
    loop {
        let text = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
        if text.contains("crashing on purpose") && text.contains("setting password") {
            assert!(!text.contains("Very#Secret1"), "{text}");
            assert!(!text.contains("Conf1g-Secret"), "{text}");
            let leak = text
                .lines()
                .find(|l| l.contains("setting password"))
                .unwrap();
            assert!(leak.contains("DEBUG"), "{leak}");
            assert!(
                leak.contains("connector=\"antics\"") || leak.contains("connector=antics"),
                "{leak}"
            );
            assert!(leak.contains("<redacted>"), "{leak}");
            let crash = text
                .lines()
                .find(|l| l.contains("crashing on purpose"))
                .unwrap();
            assert!(crash.contains("ERROR"), "{crash}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "log lines missing: {text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_update_reaches_an_object_replace_script_as_a_whole_object() {
    use connector_core::{AttributeChange, ExportStyle};
    let c = antics(|c| c.with_parameter("style", "objectReplace"));
    assert_eq!(c.capabilities().export_style, ExportStyle::ObjectReplace);
    add(&c, "r1", "ok").unwrap();
    let update = |changes| {
        c.export(
            &Change::Update {
                object_type: "User".into(),
                anchor: "r1".into(),
                new_dn: None,
                changes,
            },
            soon(),
        )
    };
    update(vec![AttributeChange::Replace {
        name: "name".into(),
        values: vec!["Renée".into()],
    }])
    .expect("the update goes out as a replace");
    let obj = c.read("User", &"r1".into(), soon()).unwrap().unwrap();
    assert_eq!(obj.values("name"), ["Renée".into()]);
    assert_eq!(
        obj.values("mode"),
        ["ok".into()],
        "the other attributes stay"
    );
    update(vec![AttributeChange::Clear {
        name: "mode".into(),
    }])
    .unwrap();
    let obj = c.read("User", &"r1".into(), soon()).unwrap().unwrap();
    assert!(obj.values("mode").is_empty());
    let err = c
        .export(
            &Change::Update {
                object_type: "User".into(),
                anchor: "ghost".into(),
                new_dn: None,
                changes: vec![AttributeChange::Clear {
                    name: "mode".into(),
                }],
            },
            soon(),
        )
        .expect_err("missing");
    assert!(matches!(err, ConnectorError::NotFound { .. }), "{err:?}");
}
