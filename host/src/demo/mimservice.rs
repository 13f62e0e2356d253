//! The MIM Service demo: the Lithnet REST API v2 simulator (`mimservice-sim`, in memory) on a
//! free loopback port, and a connector in the `scim` schema mapping core User onto Person.
//! Contractors (`userType` "Contractor" → `EmployeeType`) wait for an approval, so the pending
//! list (`connector-host space pending mim`, `GET …/space/pending`) can be tried.
//!
//! Shipped code does not depend on the test tree: the simulator is its own binary, looked for
//! next to the running `connector-host` (cargo builds both into `target/<profile>/`; `deps/`'s
//! parent is tried too, for tests). Its state lives in memory, so each demo starts a fresh
//! simulator, writes the configuration for its port and drops the space of the previous run.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Demo, write_private};
use crate::config::generate_token;

/// The simulator's executable name.
const SIM: &str = "mimservice-sim";
/// How long the simulator may take to listen.
const SIM_STARTUP: Duration = Duration::from_secs(20);

/// The simulator process; killed when dropped (the demo's `keep`).
struct Simulator(Child);

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Where `mimservice-sim` is: next to this executable, or next to its `deps/` directory.
fn simulator_path() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("while locating connector-host")?;
    let name = format!("{SIM}{}", std::env::consts::EXE_SUFFIX);
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    let candidates = [Some(dir.join(&name)), dir.parent().map(|p| p.join(&name))];
    for c in candidates.into_iter().flatten() {
        if c.is_file() {
            return Ok(c);
        }
    }
    bail!(
        "the MIM Service demo needs the simulator binary `{name}` next to connector-host ({}); build it with `cargo build -p mimservice-sim` (same profile as connector-host) and run the demo again",
        dir.display()
    )
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("while finding a free loopback port for the simulator")?;
    Ok(l.local_addr()?.port())
}

/// Starts the simulator on `port` and waits until it accepts connections.
fn start_simulator(port: u16, password: &str, approver_password: &str) -> Result<Simulator> {
    let path = simulator_path()?;
    let child = Command::new(&path)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--user",
            &format!("svc-connector:{password}"),
            "--approver",
            &format!("approver:{approver_password}"),
            "--approve",
            "Person.EmployeeType=Contractor",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("while starting {}", path.display()))?;
    let mut sim = Simulator(child);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let until = Instant::now() + SIM_STARTUP;
    loop {
        if let Some(status) = sim.0.try_wait()? {
            bail!("{} stopped at start ({status})", path.display());
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(sim);
        }
        if Instant::now() >= until {
            bail!(
                "{} did not listen on {addr} within {SIM_STARTUP:?}",
                path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn config(port: u16, sim_port: u16, password: &str) -> String {
    format!(
        r#"# connector-host demo: the MIM Service through the Lithnet REST API v2 (simulated).
version = 1

[server]
listen = "127.0.0.1:{port}"
data_dir = "data"

[[connector]]
name = "mim"                         # endpoint: https://HOST:PORT/ecma2host_mim/scim
kind = "mimservice"
schema = "scim"
token = {{ file = "secrets/mim.token" }}   # demo only: init/token keep just a hash
full_import_every = "1h"
delta_import_every = "10s"           # approvals show up (or are reported rejected) by the next delta
pending_expiry = "7d"

[connector.users]
object_type = "Person"
[connector.users.map]
userName = "AccountName"
displayName = "DisplayName"
"name.givenName" = "FirstName"
"name.familyName" = "LastName"
'emails[type eq "work"].value' = "Email"
userType = "EmployeeType"
"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber" = "EmployeeID"
"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department" = "Department"
"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager" = "Manager"

[connector.groups]
object_type = "Group"
[connector.groups.map]
displayName = "DisplayName"
members = "ExplicitMember"           # ObjectIDs in MIM, SCIM ids to Entra

[connector.deprovision]
disable = "none"
delete = "delete"

[connector.mimservice]
base_url = "http://127.0.0.1:{sim_port}/"  # a real API: https://mimapi.corp.example/ with ca_file
username = "svc-connector"
password = "{password}"
allow_plain_http = true              # the simulator on loopback only; never for a real API

[[connector.mimservice.object]]
type = "Person"
attributes = ["AccountName", "DisplayName", "FirstName", "LastName", "Email", "EmployeeID", "EmployeeType", "Department", "Manager"]
matching_attribute = "AccountName"

[[connector.mimservice.object]]
type = "Group"
attributes = ["DisplayName", "ExplicitMember"]
references = {{ ExplicitMember = "Person" }}

# What MIM requires on a new group and SCIM cannot send: set on create only.
[connector.mimservice.create_defaults.Group]
Scope = "Universal"
Type = "Security"
MembershipLocked = false
MembershipAddWorkflow = "None"
"#
    )
}

/// Starts the simulator and writes the demo's configuration for it.
pub fn prepare(dir: &Path, port: u16) -> Result<Demo> {
    std::fs::create_dir_all(dir).with_context(|| format!("while creating {}", dir.display()))?;
    let token_path = dir.join("secrets").join("mim.token");
    if !token_path.exists() {
        write_private(&token_path, &format!("{}\n", generate_token()))?;
    }
    let token = std::fs::read_to_string(&token_path)
        .with_context(|| format!("while reading {}", token_path.display()))?
        .trim()
        .to_owned();
    let password = generate_token();
    let approver_password = generate_token();
    let sim_port = free_port()?;
    let sim = start_simulator(sim_port, &password, &approver_password)?;
    write_private(
        &dir.join("secrets").join("approver.txt"),
        &format!(
            "approver:{approver_password}\n# list:    curl -u approver:PASSWORD http://127.0.0.1:{sim_port}/v2/approvals/\n# approve: curl -u approver:PASSWORD -X POST http://127.0.0.1:{sim_port}/v2/approvals/<Approval ObjectID>/approve  (or /reject)\n"
        ),
    )?;
    let config_path = dir.join("connector-host.toml");
    write_private(&config_path, &config(port, sim_port, &password))?;
    // The simulator starts empty: the space of an earlier run describes objects gone.
    let space = dir.join("data").join("space");
    for suffix in ["", "-wal", "-shm"] {
        let f = space.join(format!("mim.db{suffix}"));
        if f.exists() {
            std::fs::remove_file(&f).with_context(|| format!("while removing {}", f.display()))?;
        }
    }
    Ok(Demo {
        config_path,
        token,
        connector: "mim".into(),
        target: format!(
            "MIM Service simulator at http://127.0.0.1:{sim_port}/v2/ (in memory; contractors wait for approval: `connector-host --config {} space pending mim`; approver credentials in {})",
            dir.join("connector-host.toml").display(),
            dir.join("secrets").join("approver.txt").display()
        ),
        create_body: r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"ada","displayName":"Ada Lovelace","name":{"givenName":"Ada","familyName":"Lovelace"}}"#.into(),
        keep: Box::new(sim),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_configuration_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, config(8585, 9999, "pw-0123456789")).unwrap();
        std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
        std::fs::write(
            dir.path().join("secrets/mim.token"),
            "t0ken-0123456789abc\n",
        )
        .unwrap();
        crate::registry::load(&path).unwrap();
    }
}
