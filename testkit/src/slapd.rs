//! A private OpenLDAP server per test: `slapd` from the Debian packages, run in
//! the foreground from a temporary directory on a free loopback port, so LDAP
//! tests need no system service, no root and no shared state.
//!
//! Configuration (`slapd.conf`): schemas `core cosine inetorgperson nis` from
//! `/etc/ldap/schema`, modules from `/usr/lib/ldap`, one `mdb` database with
//! suffix `dc=example,dc=com`, root DN `cn=admin,dc=example,dc=com` (password
//! `adminpw`), the `syncprov` overlay (RFC 4533, for delta imports) and default
//! access (everyone may read). Before the first start `slapadd` loads the base
//! entry, `ou=people` and `ou=groups` under it, and any LDIF the test passes.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{TestkitError, or_panic, try_free_port};

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
const BASE_DN: &str = "dc=example,dc=com";
const ADMIN_DN: &str = "cn=admin,dc=example,dc=com";
const ADMIN_PASSWORD: &str = "adminpw";
/// How long slapd may take to accept connections before we give up.
const READY_WITHIN: Duration = Duration::from_secs(15);
/// Attempts with a new port when another process took the one we picked.
const PORT_ATTEMPTS: usize = 3;

const BASE_LDIF: &str = "\
dn: dc=example,dc=com
objectClass: top
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=com
objectClass: top
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=com
objectClass: top
objectClass: organizationalUnit
ou: groups
";

/// A running private `slapd`, killed (and its directory deleted) on drop.
#[derive(Debug)]
pub struct Slapd {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Slapd {
    /// Starts a slapd holding the base entries (see the module docs) and
    /// returns once it accepts connections.
    ///
    /// # Panics
    /// If slapd is not installed (the message says to run `./scripts/test.sh`)
    /// or does not start.
    #[track_caller]
    pub fn start() -> Slapd {
        or_panic(Slapd::try_start_with(""))
    }

    /// Like [`Slapd::start`], also loading `ldif` (entries under
    /// `dc=example,dc=com`, separated by blank lines) offline with `slapadd`,
    /// which is far faster than `ldapadd` for large fixtures.
    ///
    /// # Panics
    /// As [`Slapd::start`], and if `slapadd` rejects the LDIF.
    #[track_caller]
    pub fn start_with(ldif: &str) -> Slapd {
        or_panic(Slapd::try_start_with(ldif))
    }

    /// [`Slapd::start`] returning an error instead of panicking.
    pub fn try_start() -> Result<Slapd, TestkitError> {
        Slapd::try_start_with("")
    }

    /// [`Slapd::start_with`] returning an error instead of panicking.
    pub fn try_start_with(ldif: &str) -> Result<Slapd, TestkitError> {
        if !Path::new(SLAPD).exists() {
            return Err(TestkitError::Unavailable {
                what: "OpenLDAP slapd".into(),
                detail: format!("{SLAPD} does not exist (Debian packages slapd and ldap-utils)"),
                variables: None,
            });
        }
        let dir = tempfile::Builder::new()
            .prefix("ch-test-slapd-")
            .tempdir()
            .map_err(|e| io("creating slapd's temporary directory", e))?;
        let conf = write_config(dir.path())?;
        load(dir.path(), &conf, ldif)?;

        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = try_free_port()?;
            match run(dir.path(), &conf, port)? {
                Ok(child) => return Ok(Slapd { child, port, dir }),
                Err(log) => last_error = log,
            }
        }
        Err(TestkitError::Slapd(last_error))
    }

    /// `ldap://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// The loopback port slapd listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `dc=example,dc=com`.
    pub fn base_dn(&self) -> &'static str {
        BASE_DN
    }

    /// `cn=admin,dc=example,dc=com`, the root DN (bypasses access control and
    /// size limits).
    pub fn admin_dn(&self) -> &'static str {
        ADMIN_DN
    }

    /// The root DN's password.
    pub fn admin_password(&self) -> &'static str {
        ADMIN_PASSWORD
    }

    /// The directory holding `slapd.conf`, the database and `slapd.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        // Killing is fine: the database is thrown away with the directory.
        if let Err(error) = self.child.kill() {
            eprintln!("testkit: could not kill slapd: {error}");
        }
        let _reaped = self.child.wait();
    }
}

fn io(context: &str, source: std::io::Error) -> TestkitError {
    TestkitError::Io {
        context: context.to_owned(),
        source,
    }
}

fn write_config(dir: &Path) -> Result<std::path::PathBuf, TestkitError> {
    let data = dir.join("data");
    fs::create_dir(&data).map_err(|e| io("creating slapd's data directory", e))?;
    let d = dir.display();
    let config = format!(
        "\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema

pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload syncprov

database mdb
maxsize 1073741824
suffix \"{BASE_DN}\"
rootdn \"{ADMIN_DN}\"
rootpw {ADMIN_PASSWORD}
directory {data}
index objectClass eq
index entryCSN,entryUUID eq
overlay syncprov
",
        data = data.display()
    );
    let conf = dir.join("slapd.conf");
    fs::write(&conf, config).map_err(|e| io("writing slapd.conf", e))?;
    Ok(conf)
}

/// Loads the base entries and `ldif` with `slapadd` (slapd not running yet).
fn load(dir: &Path, conf: &Path, ldif: &str) -> Result<(), TestkitError> {
    let file = dir.join("initial.ldif");
    // A blank line must separate the base entries from the caller's.
    fs::write(&file, format!("{BASE_LDIF}\n{ldif}\n"))
        .map_err(|e| io("writing the initial LDIF", e))?;
    let output = Command::new(SLAPADD)
        .args(["-q", "-f"])
        .arg(conf)
        .arg("-l")
        .arg(&file)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io("running slapadd", e))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(TestkitError::Slapd(format!(
            "slapadd failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// Starts slapd on `port` and waits until it accepts connections. The inner
/// `Err` is slapd's log when it exited (typically: the port was taken).
fn run(dir: &Path, conf: &Path, port: u16) -> Result<Result<Child, String>, TestkitError> {
    let log_path = dir.join("slapd.log");
    let pid_path = dir.join("slapd.pid");
    let log = File::create(&log_path).map_err(|e| io("creating slapd.log", e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| io("duplicating slapd.log", e))?;
    // `-d 0` keeps slapd in the foreground, so it stays our child.
    let mut child = Command::new(SLAPD)
        .arg("-f")
        .arg(conf)
        .arg("-h")
        .arg(format!("ldap://127.0.0.1:{port}/"))
        .args(["-d", "0"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| io("starting slapd", e))?;

    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| io("waiting for slapd", e))? {
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            return Ok(Err(format!("slapd exited with {status}: {}", log.trim())));
        }
        // slapd writes its pid file only after it bound the port and opened the
        // database, so a connection then reaches it and not whoever else may
        // hold the port.
        let pid_written =
            fs::read_to_string(&pid_path).is_ok_and(|pid| pid.trim() == child.id().to_string());
        match TcpStream::connect_timeout(&address, Duration::from_millis(200)) {
            Ok(_) if pid_written => return Ok(Ok(child)),
            Ok(_) => {}
            Err(e)
                if e.kind() == ErrorKind::ConnectionRefused || e.kind() == ErrorKind::TimedOut => {}
            Err(e) => {
                let _killed = child.kill();
                let _reaped = child.wait();
                return Err(io("connecting to slapd", e));
            }
        }
        if Instant::now() >= deadline {
            let _killed = child.kill();
            let _reaped = child.wait();
            let log = fs::read_to_string(&log_path).unwrap_or_default();
            return Err(TestkitError::Slapd(format!(
                "not accepting connections on {address} after {READY_WITHIN:?}: {}",
                log.trim()
            )));
        }
        thread::sleep(Duration::from_millis(10));
    }
}
