//! The LDAP demo: a private OpenLDAP `slapd` (Debian's `slapd` package) in the demo directory,
//! on a loopback port chosen on first use, with a small tree (`ou=people` with two users,
//! `ou=groups`), `syncprov` for delta imports and `refint` so member and manager values follow
//! renames. Two connectors serve it, with the same token:
//! - `ldap`, in the `ecma2host` schema: users, every LDAP attribute under the ECMA2Host
//!   extension;
//! - `ldapgroups`, in the `scim` schema: users mapped onto `inetOrgPerson` and groups onto a
//!   group class whose members are optional (Entra creates groups empty).
//!
//! slapd is started by each `demo` run and killed when the host stops (the [`Demo::keep`]
//! handle). It does not share code with the test kit: shipped code does not depend on it.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Demo, write_private};
use crate::config::generate_token;

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
const SUFFIX: &str = "dc=example,dc=com";
const ADMIN_DN: &str = "cn=admin,dc=example,dc=com";
/// How long slapd may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The tree loaded on first use.
const INITIAL_LDIF: &str = "\
dn: dc=example,dc=com
objectClass: top
objectClass: dcObject
objectClass: organization
o: Example
dc: example

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups

dn: uid=grace,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: grace
cn: Grace Hopper
givenName: Grace
sn: Hopper
displayName: Grace Hopper
mail: grace@example.com

dn: uid=alan,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: alan
cn: Alan Turing
givenName: Alan
sn: Turing
displayName: Alan Turing
mail: alan@example.com
manager: uid=grace,ou=people,dc=example,dc=com
";

fn slapd_conf(dir: &Path, admin_password: &str) -> String {
    let d = dir.display();
    format!(
        r#"# The demo's private slapd (connector-host demo --connector ldap).
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
# groupOfNames must have a member; Entra creates groups empty, so the demo's groups are of a
# class whose members are optional.
objectclass ( 1.3.6.1.4.1.4203.666.11.99.1 NAME 'chGroup'
    DESC 'a group of names whose members are optional'
    SUP top STRUCTURAL MUST cn MAY ( member $ description ) )

pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload syncprov
moduleload refint

database mdb
maxsize 1073741824
suffix "{SUFFIX}"
rootdn "{ADMIN_DN}"
rootpw {admin_password}
directory {d}/data
index objectClass eq
index uid,cn eq
index entryCSN,entryUUID eq
overlay syncprov
syncprov-checkpoint 100 10
syncprov-sessionlog 100000
overlay refint
refint_attributes member manager
"#
    )
}

fn host_config(listen: &str, ldap_port: u16, admin_password: &str) -> String {
    let connector = |name: &str, schema: &str, extra: &str| {
        format!(
            r#"
[[connector]]
name = "{name}"
kind = "ldap"
schema = "{schema}"
token = {{ file = "secrets/ldap.token" }}   # demo only: init/token keep just a hash
full_import_every = "2h"
delta_import_every = "10s"
[connector.deprovision]
disable = "none"
delete = "delete"
[connector.ldap]
servers = ["ldap://127.0.0.1:{ldap_port}"]
bind_dn = "{ADMIN_DN}"
bind_password = "{admin_password}"   # the demo slapd's rootpw (this file is private)
delta = "sync"
[[connector.ldap.object]]
type = "User"
object_classes = ["inetOrgPerson"]
base = "ou=people,{SUFFIX}"
rdn_attribute = "uid"
references = {{ manager = "User" }}
[[connector.ldap.object]]
type = "Group"
object_classes = ["chGroup"]
base = "ou=groups,{SUFFIX}"
rdn_attribute = "cn"
references = {{ member = "User" }}
{extra}"#
        )
    };
    let scim_map = r#"[connector.users]
object_type = "User"
[connector.users.map]
userName = "uid"
externalId = "cn"
"name.givenName" = "givenName"
"name.familyName" = "sn"
displayName = "displayName"
'emails[type eq "work"].value' = "mail"
password = "userPassword"
"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager" = "manager"
[connector.groups]
object_type = "Group"
[connector.groups.map]
displayName = "cn"
members = "member"
"#;
    format!(
        r#"# connector-host configuration (see README "LDAP directories").
version = 1

[server]
listen = "{listen}"
data_dir = "data"
{}{}"#,
        connector("ldap", "ecma2host", ""),
        connector("ldapgroups", "scim", scim_map),
    )
}

/// A free loopback port (free now; slapd takes it a moment later).
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("while looking for a free loopback port for slapd")?;
    Ok(listener.local_addr()?.port())
}

/// The slapd port of an existing demo, read back from its configuration.
fn configured_port(config: &str) -> Option<u16> {
    let rest = config.split("ldap://127.0.0.1:").nth(1)?;
    rest.split('"').next()?.parse().ok()
}

/// The demo's running slapd; killed (and reaped) when dropped, that is when the host stops.
struct RunningSlapd(Child);

impl Drop for RunningSlapd {
    fn drop(&mut self) {
        // The database is in the demo directory; mdb recovers from a kill.
        let _killed = self.0.kill();
        let _reaped = self.0.wait();
    }
}

/// Creates slapd's configuration and database on first use, with `password` for the root DN.
fn create(dir: &Path, slapd_dir: &Path, password: &str) -> Result<()> {
    fs::create_dir_all(slapd_dir.join("data"))
        .with_context(|| format!("while creating {}", slapd_dir.display()))?;
    let conf = slapd_dir.join("slapd.conf");
    write_private(&conf, &slapd_conf(slapd_dir, password))?;
    let ldif = slapd_dir.join("initial.ldif");
    fs::write(&ldif, INITIAL_LDIF).with_context(|| format!("while writing {}", ldif.display()))?;
    let out = Command::new(SLAPADD)
        .args(["-q", "-f"])
        .arg(&conf)
        .arg("-l")
        .arg(&ldif)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("while running {SLAPADD}"))?;
    if !out.status.success() {
        bail!(
            "slapadd could not load the demo tree in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Starts slapd on `port` and waits until it accepts connections.
fn start(slapd_dir: &Path, port: u16) -> Result<RunningSlapd> {
    let log_path = slapd_dir.join("slapd.log");
    let pid_path = slapd_dir.join("slapd.pid");
    let _stale = fs::remove_file(&pid_path);
    let log = fs::File::create(&log_path)
        .with_context(|| format!("while creating {}", log_path.display()))?;
    let log_err = log.try_clone()?;
    // `-d 0` keeps slapd in the foreground, so it stays this process's child.
    let child = Command::new(SLAPD)
        .arg("-f")
        .arg(slapd_dir.join("slapd.conf"))
        .arg("-h")
        .arg(format!("ldap://127.0.0.1:{port}/"))
        .args(["-d", "0"])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .with_context(|| format!("while starting {SLAPD}"))?;
    // On a bail below, the handle's drop kills slapd.
    let mut slapd = RunningSlapd(child);
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + READY_WITHIN;
    loop {
        if let Some(status) = slapd.0.try_wait()? {
            bail!(
                "slapd exited ({status}) instead of serving on port {port} (taken by another process?): {}",
                fs::read_to_string(&log_path).unwrap_or_default().trim()
            );
        }
        // slapd writes its pid file once it bound the port and opened the database.
        let pid_written =
            fs::read_to_string(&pid_path).is_ok_and(|pid| pid.trim() == slapd.0.id().to_string());
        if pid_written && TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return Ok(slapd);
        }
        if Instant::now() >= deadline {
            bail!(
                "slapd did not accept connections on {address} within {READY_WITHIN:?}; see {}",
                log_path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Creates the demo directory on first use, starts its slapd and returns the demo.
pub fn prepare(dir: &Path, port: u16) -> Result<Demo> {
    for tool in [SLAPD, SLAPADD] {
        if !Path::new(tool).exists() {
            bail!(
                "the LDAP demo runs a private OpenLDAP server, and {tool} is missing; install it with\n    sudo apt-get install slapd ldap-utils\n(Debian/Ubuntu; the system service it installs may stay stopped)"
            );
        }
    }
    let config_path = dir.join("connector-host.toml");
    let token_path = dir.join("secrets").join("ldap.token");
    let slapd_dir: PathBuf = dir.join("slapd");
    if !config_path.exists() {
        fs::create_dir_all(dir).with_context(|| format!("while creating {}", dir.display()))?;
        let password = generate_token();
        create(dir, &slapd_dir, &password)?;
        write_private(&token_path, &format!("{}\n", generate_token()))?;
        let config = host_config(&format!("127.0.0.1:{port}"), free_port()?, &password);
        write_private(&config_path, &config)?;
    }
    let config = fs::read_to_string(&config_path)
        .with_context(|| format!("while reading {}", config_path.display()))?;
    let ldap_port = configured_port(&config).with_context(|| {
        format!(
            "{} names no ldap://127.0.0.1:<port> server",
            config_path.display()
        )
    })?;
    let slapd = start(&slapd_dir, ldap_port)?;
    let token = fs::read_to_string(&token_path)
        .with_context(|| format!("while reading {}", token_path.display()))?
        .trim()
        .to_owned();
    let target = format!(
        "slapd at ldap://127.0.0.1:{ldap_port} ({SUFFIX}: ou=people, ou=groups; admin {ADMIN_DN}, password in {}).\n                  Connector `ldap`: ecma2host schema, users. Connector `ldapgroups` (same token): scim schema, users and groups,\n                  https://localhost:{port}/ecma2host_ldapgroups/scim",
        config_path.display()
    );
    Ok(Demo {
        config_path,
        token,
        connector: "ldap".into(),
        target,
        create_body: r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User"],"urn:ietf:params:scim:schemas:extension:ECMA2Host:2.0:User":{"uid":"ada","cn":"Ada Lovelace","sn":"Lovelace","mail":"ada@example.com"}}"#.into(),
        keep: Box::new(slapd),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_names_the_slapd_port_and_both_modes() {
        let text = host_config("127.0.0.1:8585", 38_999, "pw");
        assert_eq!(configured_port(&text), Some(38_999));
        assert!(text.contains("schema = \"ecma2host\""));
        assert!(text.contains("schema = \"scim\""));
        let config =
            crate::config::Config::parse(&text, Path::new("demo.toml"), Path::new("/tmp/demo"))
                .unwrap();
        crate::registry::read(&config).unwrap();
    }
}
