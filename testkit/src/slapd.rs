//! A private OpenLDAP server per test: `slapd` from the Debian packages, run in
//! the foreground from a temporary directory on a free loopback port, so LDAP
//! tests need no system service, no root and no shared state.
//!
//! Configuration (`slapd.conf`): schemas `core cosine inetorgperson nis` from
//! `/etc/ldap/schema`, modules from `/usr/lib/ldap`, one `mdb` database with
//! suffix `dc=example,dc=com`, root DN `cn=admin,dc=example,dc=com` (password
//! `adminpw`), the `syncprov` overlay (RFC 4533, for delta imports) with a
//! session log of 100,000 operations (so a refresh reports deletes as a
//! `syncIdSet` instead of a present phase) and default access (everyone may
//! read). With [`SlapdOptions::accesslog`] writes are also logged by the
//! `accesslog` overlay into a second database, `cn=accesslog`. Before the
//! first start `slapadd` loads the base entry, `ou=people` and `ou=groups`
//! under it, and any LDIF the test passes.
//!
//! With [`SlapdOptions::tls`] slapd also gets a certificate from a CA made for
//! it (rcgen, P-256; the server certificate names `127.0.0.1` and `localhost`),
//! listens on a second port for `ldaps://`, offers StartTLS on the first, and
//! accepts a client certificate (`TLSVerifyClient try`) whose subject
//! `cn=ch-client` SASL EXTERNAL maps to the root DN.

use std::fs::{self, File};
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{TestkitError, or_panic, try_free_port};

/// What a [`Slapd`] starts with besides the base entries.
#[derive(Debug, Clone, Default)]
pub struct SlapdOptions {
    /// Entries loaded offline with `slapadd` before the first start (see
    /// [`Slapd::start_with`]).
    pub ldif: String,
    /// Serve TLS: StartTLS on the `ldap://` port and `ldaps://` on a second
    /// one, with certificates from a throw-away CA (see the module docs).
    pub tls: bool,
    /// Extra `slapd.conf` lines placed before the database section: schema
    /// directives (`objectclass ( … )`, `attributetype ( … )`) for a test's
    /// own classes, `moduleload` lines.
    pub config: String,
    /// Extra `slapd.conf` lines at the end of the database section: overlays
    /// such as `refint` (load their module in [`SlapdOptions::config`]).
    pub database_config: String,
    /// Log every write (failed ones too) with the `accesslog` overlay into a second
    /// database, suffix `cn=accesslog` (readable by everyone, like the rest),
    /// for accesslog delta imports.
    pub accesslog: bool,
}

/// The PEM files of a TLS-enabled [`Slapd`], all inside its directory.
#[derive(Debug, Clone)]
pub struct SlapdTls {
    /// The CA certificate that signed the server and client certificates.
    pub ca_cert: std::path::PathBuf,
    /// The server certificate (PEM).
    pub server_cert: std::path::PathBuf,
    /// A client certificate with subject `CN=ch-client`, signed by the CA.
    pub client_cert: std::path::PathBuf,
    /// The client certificate's private key (PKCS#8 PEM).
    pub client_key: std::path::PathBuf,
    /// The `ldaps://` port.
    pub ldaps_port: u16,
}

/// The subject of the client certificate [`SlapdTls::client_cert`].
pub const CLIENT_CERT_SUBJECT: &str = "cn=ch-client";

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
    tls: Option<SlapdTls>,
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
        Slapd::try_start_with_options(&SlapdOptions {
            ldif: ldif.to_owned(),
            ..SlapdOptions::default()
        })
    }

    /// Starts a slapd as [`SlapdOptions`] say.
    ///
    /// # Panics
    /// As [`Slapd::start_with`].
    #[track_caller]
    pub fn start_with_options(options: &SlapdOptions) -> Slapd {
        or_panic(Slapd::try_start_with_options(options))
    }

    /// [`Slapd::start_with_options`] returning an error instead of panicking.
    pub fn try_start_with_options(options: &SlapdOptions) -> Result<Slapd, TestkitError> {
        let ldif = options.ldif.as_str();
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
        let tls_files = if options.tls {
            Some(write_tls_material(dir.path())?)
        } else {
            None
        };
        let conf = write_config(dir.path(), tls_files.as_ref(), options)?;
        load(dir.path(), &conf, ldif)?;

        let mut last_error = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = try_free_port()?;
            let tls = match &tls_files {
                Some(files) => Some(SlapdTls {
                    ldaps_port: try_free_port()?,
                    ..files.clone()
                }),
                None => None,
            };
            match run(dir.path(), &conf, port, tls.as_ref().map(|t| t.ldaps_port))? {
                Ok(child) => {
                    return Ok(Slapd {
                        child,
                        port,
                        tls,
                        dir,
                    });
                }
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

    /// `ldaps://127.0.0.1:<port>` when started with [`SlapdOptions::tls`].
    pub fn ldaps_url(&self) -> Option<String> {
        self.tls
            .as_ref()
            .map(|t| format!("ldaps://127.0.0.1:{}", t.ldaps_port))
    }

    /// The TLS files when started with [`SlapdOptions::tls`].
    pub fn tls(&self) -> Option<&SlapdTls> {
        self.tls.as_ref()
    }

    /// The process id of slapd (to pause it with `SIGSTOP` in a test, say).
    pub fn pid(&self) -> u32 {
        self.child.id()
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

    /// Kills slapd (as a crash would: no clean shutdown) and starts it again on the same
    /// ports and database; returns once it accepts connections. Its pid changes.
    ///
    /// # Panics
    /// If slapd does not come back (the port was taken meanwhile, say).
    #[track_caller]
    pub fn restart(&mut self) {
        or_panic(self.try_restart());
    }

    /// [`Slapd::restart`] returning an error instead of panicking.
    pub fn try_restart(&mut self) -> Result<(), TestkitError> {
        let _killed = self.child.kill();
        let _reaped = self.child.wait();
        let conf = self.dir.path().join("slapd.conf");
        let ldaps = self.tls.as_ref().map(|t| t.ldaps_port);
        // The listening socket may linger a moment after the kill: a few attempts.
        let mut last = String::new();
        for _ in 0..50 {
            match run(self.dir.path(), &conf, self.port, ldaps)? {
                Ok(child) => {
                    self.child = child;
                    return Ok(());
                }
                Err(log) => last = log,
            }
            thread::sleep(Duration::from_millis(100));
        }
        Err(TestkitError::Slapd(format!(
            "slapd did not restart: {last}"
        )))
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

/// Writes a CA, a server certificate for 127.0.0.1/localhost and a client
/// certificate into `dir/tls`. The port is filled in later.
fn write_tls_material(dir: &Path) -> Result<SlapdTls, TestkitError> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
        ExtendedKeyUsagePurpose, IsCa, KeyPair,
    };
    let tls = dir.join("tls");
    fs::create_dir(&tls).map_err(|e| io("creating slapd's tls directory", e))?;
    let gen_err =
        |e: rcgen::Error| TestkitError::Slapd(format!("generating test certificates: {e}"));
    let named = |cn: &str, sans: Vec<String>| -> Result<CertificateParams, TestkitError> {
        let mut params = CertificateParams::new(sans).map_err(gen_err)?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, cn);
        params.distinguished_name = name;
        Ok(params)
    };

    let mut ca_params = named("connector-host test CA", Vec::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().map_err(gen_err)?)
        .map_err(gen_err)?;

    let server_key = KeyPair::generate().map_err(gen_err)?;
    let mut server_params = named("127.0.0.1", vec!["127.0.0.1".into(), "localhost".into()])?;
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server = server_params.signed_by(&server_key, &ca).map_err(gen_err)?;

    let client_key = KeyPair::generate().map_err(gen_err)?;
    let mut client_params = named("ch-client", Vec::new())?;
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client_params.signed_by(&client_key, &ca).map_err(gen_err)?;

    let files = SlapdTls {
        ca_cert: tls.join("ca.pem"),
        server_cert: tls.join("server.pem"),
        client_cert: tls.join("client.pem"),
        client_key: tls.join("client.key"),
        ldaps_port: 0,
    };
    let write = |path: &Path, pem: String| {
        fs::write(path, pem).map_err(|e| io("writing a test certificate", e))
    };
    write(&files.ca_cert, ca.pem())?;
    write(&files.server_cert, server.pem())?;
    write(&tls.join("server.key"), server_key.serialize_pem())?;
    write(&files.client_cert, client.pem())?;
    write(&files.client_key, client_key.serialize_pem())?;
    Ok(files)
}

fn write_config(
    dir: &Path,
    tls: Option<&SlapdTls>,
    options: &SlapdOptions,
) -> Result<std::path::PathBuf, TestkitError> {
    let (extra, database_extra) = (&options.config, &options.database_config);
    let data = dir.join("data");
    fs::create_dir(&data).map_err(|e| io("creating slapd's data directory", e))?;
    let d = dir.display();
    let tls_config = match tls {
        Some(t) => format!(
            "\
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
TLSVerifyClient try
authz-regexp \"^{CLIENT_CERT_SUBJECT}$\" \"{ADMIN_DN}\"
",
            ca = t.ca_cert.display(),
            cert = t.server_cert.display(),
            key = dir.join("tls").join("server.key").display(),
        ),
        None => String::new(),
    };
    let (accesslog_db, accesslog_overlay) = if options.accesslog {
        let log = dir.join("accesslog");
        fs::create_dir(&log).map_err(|e| io("creating the accesslog directory", e))?;
        (
            format!(
                "moduleload accesslog\ndatabase mdb\nmaxsize 1073741824\nsuffix \"cn=accesslog\"\n\
                 rootdn \"{ADMIN_DN}\"\ndirectory {}\nindex reqStart,reqResult eq\n",
                log.display()
            ),
            "overlay accesslog\nlogdb cn=accesslog\nlogops writes\n\
             logpurge 07+00:00 01+00:00\n"
                .to_owned(),
        )
    } else {
        (String::new(), String::new())
    };
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
{tls_config}
{extra}
{accesslog_db}
database mdb
maxsize 1073741824
suffix \"{BASE_DN}\"
rootdn \"{ADMIN_DN}\"
rootpw {ADMIN_PASSWORD}
directory {data}
index objectClass eq
index entryCSN,entryUUID eq
overlay syncprov
syncprov-checkpoint 100 10
syncprov-sessionlog 100000
{accesslog_overlay}
{database_extra}
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
        .args(["-q", "-b", BASE_DN, "-f"])
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
fn run(
    dir: &Path,
    conf: &Path,
    port: u16,
    ldaps_port: Option<u16>,
) -> Result<Result<Child, String>, TestkitError> {
    let log_path = dir.join("slapd.log");
    let pid_path = dir.join("slapd.pid");
    let log = File::create(&log_path).map_err(|e| io("creating slapd.log", e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| io("duplicating slapd.log", e))?;
    let mut listen = format!("ldap://127.0.0.1:{port}/");
    if let Some(p) = ldaps_port {
        listen.push_str(&format!(" ldaps://127.0.0.1:{p}/"));
    }
    // `-d 0` keeps slapd in the foreground, so it stays our child.
    let mut child = Command::new(SLAPD)
        .arg("-f")
        .arg(conf)
        .arg("-h")
        .arg(listen)
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
