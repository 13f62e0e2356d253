//! A private 389 Directory Server, shared by all tests of one test binary: `dscreate` makes an
//! instance under a temporary prefix (no file outside it), `ns-slapd` serves it on a free
//! loopback port, and every test takes a fresh subtree of its own ([`Ds389::subtree`]), so tests
//! stay independent without paying for an instance each (creating one takes seconds).
//!
//! Why shared and how it ends: a `static` is never dropped, so the server is started under a
//! small `sh` watchdog that stops it and deletes the directory once the test process is gone.
//!
//! The instance: suffix `dc=example,dc=com` (created by `dscreate`), root DN
//! `cn=Directory Manager` (password [`Ds389::admin_password`]), no TLS, and before the first
//! start (by editing `dse.ldif`) the **Retro Changelog** plugin, logging `nsUniqueId` as
//! `targetUniqueId` and `entryUUID` as `targetEntryUUID`, and the **Content Synchronization**
//! plugin (RFC 4533), which needs it. The entryUUID plugin is on by default in 389 DS 2.x, but
//! content synchronisation names entries by `nsUniqueId`, which is why tests anchor on it.
//!
//! `dscreate` normally installs into `/etc`, `/var` and `/run`; with the environment variable
//! `PREFIX` it reads `$PREFIX/share/dirsrv/inf/defaults.inf` instead, whose paths this module
//! points into the temporary directory, and copies `$PREFIX/etc/dirsrv/{config,schema}`.
//! As root the server runs as root; otherwise as the calling user.

use std::fs;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::{TestkitError, try_free_port};

const NS_SLAPD: &str = "/usr/sbin/ns-slapd";
const DSCREATE: &str = "/usr/sbin/dscreate";
const INSTANCE: &str = "chtest";
const SUFFIX: &str = "dc=example,dc=com";
const ADMIN_DN: &str = "cn=Directory Manager";
const ADMIN_PASSWORD: &str = "Admin#pw389";
/// How long ns-slapd may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// Set to `skip` (by `./scripts/test.sh` where 389-ds-base cannot be installed) to let
/// [`Ds389::shared_or_not_run`] report NOT RUN instead of failing.
pub const SKIP_VARIABLE: &str = "CH_TEST_389DS";

/// The shared 389 DS instance of this test binary (see the module docs).
#[derive(Debug)]
pub struct Ds389 {
    port: u16,
    dir: PathBuf,
    subtrees: AtomicUsize,
}

static SHARED: OnceLock<Result<Ds389, String>> = OnceLock::new();

impl Ds389 {
    /// The instance shared by this test binary, started on first use.
    ///
    /// # Errors
    /// If 389 DS is not installed or does not start (the same error for every later caller).
    pub fn shared() -> Result<&'static Ds389, TestkitError> {
        SHARED
            .get_or_init(|| Ds389::start().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| TestkitError::Ds389(e.clone()))
    }

    /// [`Ds389::shared`], or `None` after printing a `NOT RUN` line when 389 DS is not installed
    /// and `CH_TEST_389DS=skip` says that is expected on this machine.
    ///
    /// # Panics
    /// When 389 DS is missing without that variable, or fails to start: a test must not pass
    /// silently.
    #[track_caller]
    pub fn shared_or_not_run(test: &str) -> Option<&'static Ds389> {
        if !Path::new(NS_SLAPD).exists() && std::env::var(SKIP_VARIABLE).is_ok_and(|v| v == "skip")
        {
            eprintln!(
                "NOT RUN: {test}: 389 Directory Server is not installed ({NS_SLAPD} is missing) \
                 and {SKIP_VARIABLE}=skip"
            );
            return None;
        }
        Some(crate::or_panic(Ds389::shared()))
    }

    fn start() -> Result<Ds389, TestkitError> {
        for program in [NS_SLAPD, DSCREATE] {
            if !Path::new(program).exists() {
                return Err(TestkitError::Unavailable {
                    what: "389 Directory Server".into(),
                    detail: format!("{program} does not exist (Debian package 389-ds-base)"),
                    variables: Some(SKIP_VARIABLE),
                });
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("ch-test-389ds-")
            .tempdir()
            .map_err(|e| io("creating 389 DS's temporary directory", e))?
            .keep();
        let result = Ds389::create_and_run(&dir);
        if result.is_err() {
            let _removed = fs::remove_dir_all(&dir);
        }
        result
    }

    fn create_and_run(dir: &Path) -> Result<Ds389, TestkitError> {
        write_prefix(dir)?;
        // dscreate starts the server once on the port to finish the setup: retry when another
        // process took the port meanwhile.
        let mut last = String::new();
        for _ in 0..3 {
            let port = try_free_port()?;
            match dscreate(dir, port)? {
                Ok(()) => {
                    enable_content_sync(dir)?;
                    run(dir, port)?;
                    return Ok(Ds389 {
                        port,
                        dir: dir.to_owned(),
                        subtrees: AtomicUsize::new(0),
                    });
                }
                Err(log) => last = log,
            }
        }
        Err(TestkitError::Ds389(format!("dscreate failed: {last}")))
    }

    /// `ldap://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `cn=Directory Manager`.
    pub fn admin_dn(&self) -> &'static str {
        ADMIN_DN
    }

    /// The root DN's password.
    pub fn admin_password(&self) -> &'static str {
        ADMIN_PASSWORD
    }

    /// `dc=example,dc=com`.
    pub fn suffix(&self) -> &'static str {
        SUFFIX
    }

    /// The instance's directory (its error log is under `var/log/dirsrv`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new, empty subtree `ou=t<n>,dc=example,dc=com` with `ou=people` and `ou=groups` under
    /// it, for one test; returns its DN.
    ///
    /// # Panics
    /// If the entries cannot be added.
    #[track_caller]
    pub fn subtree(&self) -> String {
        let n = self.subtrees.fetch_add(1, Ordering::Relaxed);
        let base = format!("ou=t{n}-{},{SUFFIX}", std::process::id());
        let ldif = format!(
            "dn: {base}\nobjectClass: top\nobjectClass: organizationalUnit\nou: t{n}-{pid}\n\n\
             dn: ou=people,{base}\nobjectClass: top\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: ou=groups,{base}\nobjectClass: top\nobjectClass: organizationalUnit\nou: groups\n",
            pid = std::process::id()
        );
        crate::or_panic(self.ldap_tool("ldapadd", &ldif));
        base
    }

    /// Runs `ldapmodify` (changetype records) as the root DN.
    ///
    /// # Panics
    /// If it fails.
    #[track_caller]
    pub fn ldapmodify(&self, ldif: &str) {
        crate::or_panic(self.ldap_tool("ldapmodify", ldif));
    }

    fn ldap_tool(&self, tool: &str, ldif: &str) -> Result<(), TestkitError> {
        let mut child = Command::new(tool)
            .args([
                "-x",
                "-H",
                &self.url(),
                "-D",
                ADMIN_DN,
                "-w",
                ADMIN_PASSWORD,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| io(&format!("running {tool} (package ldap-utils)"), e))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(ldif.as_bytes())
                .map_err(|e| io(&format!("writing to {tool}"), e))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| io(&format!("waiting for {tool}"), e))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(TestkitError::Ds389(format!(
                "{tool} failed: {}\n{ldif}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }
}

fn io(context: &str, source: std::io::Error) -> TestkitError {
    TestkitError::Io {
        context: context.to_owned(),
        source,
    }
}

/// The prefix dscreate installs under: a `defaults.inf` whose system paths point into `dir`,
/// and a copy of the packaged `/etc/dirsrv` (configuration templates and schema).
fn write_prefix(dir: &Path) -> Result<(), TestkitError> {
    let defaults = fs::read_to_string("/usr/share/dirsrv/inf/defaults.inf")
        .map_err(|e| io("reading /usr/share/dirsrv/inf/defaults.inf", e))?;
    let d = dir.display();
    let defaults: String = defaults
        .lines()
        .map(|line| {
            let Some((key, value)) = line.split_once(" = ") else {
                return format!("{line}\n");
            };
            let value = value.trim();
            let moved = ["/etc", "/var", "/run", "/dev/shm", "/tmp"]
                .iter()
                .any(|p| value == *p || value.starts_with(&format!("{p}/")));
            match key.trim() {
                "with_systemd" => "with_systemd = 0\n".to_owned(),
                k if moved => format!("{k} = {d}{value}\n"),
                _ => format!("{line}\n"),
            }
        })
        .collect();
    let inf = dir.join("share/dirsrv/inf");
    fs::create_dir_all(&inf).map_err(|e| io("creating the 389 DS prefix", e))?;
    fs::write(inf.join("defaults.inf"), defaults).map_err(|e| io("writing defaults.inf", e))?;
    copy_tree(Path::new("/etc/dirsrv"), &dir.join("etc/dirsrv"))
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), TestkitError> {
    fs::create_dir_all(to).map_err(|e| io("copying /etc/dirsrv", e))?;
    for entry in fs::read_dir(from).map_err(|e| io("reading /etc/dirsrv", e))? {
        let entry = entry.map_err(|e| io("reading /etc/dirsrv", e))?;
        let target = to.join(entry.file_name());
        let kind = entry
            .file_type()
            .map_err(|e| io("reading /etc/dirsrv", e))?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if !target.exists() {
            fs::copy(entry.path(), &target).map_err(|e| io("copying /etc/dirsrv", e))?;
        }
    }
    Ok(())
}

fn whoami(flag: &str) -> Result<String, TestkitError> {
    let out = Command::new("id")
        .arg(flag)
        .output()
        .map_err(|e| io("running id", e))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs `dscreate from-file`; the inner `Err` is its output when it failed.
fn dscreate(dir: &Path, port: u16) -> Result<Result<(), String>, TestkitError> {
    let (user, group) = (whoami("-un")?, whoami("-gn")?);
    let inf = format!(
        "[general]\nconfig_version = 2\nfull_machine_name = localhost\nselinux = False\n\
         start = False\nstrict_host_checking = False\nsystemd = False\n\
         [slapd]\ninstance_name = {INSTANCE}\nport = {port}\nsecure_port = 0\n\
         self_sign_cert = False\nroot_dn = {ADMIN_DN}\nroot_password = {ADMIN_PASSWORD}\n\
         user = {user}\ngroup = {group}\n\
         [backend-userroot]\nsuffix = {SUFFIX}\ncreate_suffix_entry = True\nsample_entries = no\n"
    );
    let inf_path = dir.join("instance.inf");
    fs::write(&inf_path, inf).map_err(|e| io("writing the dscreate .inf", e))?;
    let out = Command::new(DSCREATE)
        .arg("from-file")
        .arg(&inf_path)
        .env("PREFIX", dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io("running dscreate", e))?;
    if out.status.success() {
        Ok(Ok(()))
    } else {
        Ok(Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

fn config_dir(dir: &Path) -> PathBuf {
    dir.join(format!("etc/dirsrv/slapd-{INSTANCE}"))
}

/// Turns on the Retro Changelog and Content Synchronization plugins in `dse.ldif` (the server is
/// stopped).
fn enable_content_sync(dir: &Path) -> Result<(), TestkitError> {
    let path = config_dir(dir).join("dse.ldif");
    let mut dse = fs::read_to_string(&path).map_err(|e| io("reading dse.ldif", e))?;
    let retro = format!(
        "nsslapd-pluginEnabled: on\nnsslapd-attribute: nsuniqueid:targetUniqueId\n\
         nsslapd-attribute: entryuuid:targetEntryUUID\nnsslapd-include-suffix: {SUFFIX}"
    );
    for (entry, enabled) in [
        (
            "cn=Retro Changelog Plugin,cn=plugins,cn=config",
            retro.as_str(),
        ),
        (
            "cn=Content Synchronization,cn=plugins,cn=config",
            "nsslapd-pluginEnabled: on",
        ),
    ] {
        let start = dse
            .find(&format!("dn: {entry}\n"))
            .ok_or_else(|| TestkitError::Ds389(format!("dse.ldif has no {entry}")))?;
        let end = dse
            .get(start..)
            .and_then(|rest| rest.find("\n\n"))
            .map_or(dse.len(), |n| start + n);
        let block = dse.get(start..end).unwrap_or_default();
        if !block.contains("nsslapd-pluginEnabled: off") {
            return Err(TestkitError::Ds389(format!(
                "{entry} in dse.ldif is not as expected: {block}"
            )));
        }
        let patched = block.replacen("nsslapd-pluginEnabled: off", enabled, 1);
        dse.replace_range(start..end, &patched);
    }
    fs::write(&path, dse).map_err(|e| io("writing dse.ldif", e))
}

/// Starts ns-slapd in the foreground under a watchdog shell that stops it and removes `dir`
/// when this process ends; returns once it accepts connections.
fn run(dir: &Path, port: u16) -> Result<(), TestkitError> {
    let log =
        fs::File::create(dir.join("ns-slapd.out")).map_err(|e| io("creating ns-slapd.out", e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| io("duplicating ns-slapd.out", e))?;
    let pid_file = dir.join("ns-slapd.pid");
    // `-d 0` keeps ns-slapd in the foreground, so the watchdog can wait for it.
    let script = r#"
"$NS_SLAPD" -D "$CONFIG" -i "$PID_FILE" -d 0 &
server=$!
while kill -0 "$OWNER" 2>/dev/null && kill -0 "$server" 2>/dev/null; do sleep 1; done
kill "$server" 2>/dev/null
wait "$server"
rm -rf "$DIR"
"#;
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("NS_SLAPD", NS_SLAPD)
        .env("CONFIG", config_dir(dir))
        .env("PID_FILE", &pid_file)
        .env("OWNER", std::process::id().to_string())
        .env("DIR", dir)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| io("starting ns-slapd", e))?;
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if pid_file.exists()
            && TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let errors =
                fs::read_to_string(dir.join(format!("var/log/dirsrv/slapd-{INSTANCE}/errors")))
                    .unwrap_or_default();
            return Err(TestkitError::Ds389(format!(
                "not accepting connections on {address} after {READY_WITHIN:?}: {errors}"
            )));
        }
        thread::sleep(Duration::from_millis(50));
    }
}
