//! `connector-host demo` and `connector-host init`: a working configuration in one step.
//!
//! `demo --connector <kind>` prepares (once) a directory with a target the kind can reach on
//! this machine, a secret token and a configuration, and serves it on loopback: the built-in
//! SQLite staging table by default (no server, no system package), a private OpenLDAP `slapd`,
//! a reference script connector, or a MIM Service simulator. Each kind's demo is one file
//! here; what they share (the banner, private files) is below.

mod ldap;
mod mimservice;
mod script;
mod sql;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::config::Config;

pub use sql::init;

/// The connector kinds there is a demo of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoKind {
    /// A SQLite staging table (built in; the default).
    Sql,
    /// A private OpenLDAP slapd (Debian's `slapd` package).
    Ldap,
    /// The Python reference script connector (system `python3`).
    Script,
    /// A MIM Service simulator (the Lithnet REST API v2).
    Mimservice,
}

/// A prepared demo: how to serve it, and what to tell the person who started it.
pub struct Demo {
    /// The configuration file to serve.
    pub config_path: PathBuf,
    /// The connector's secret token (the demo keeps it in a file beside the configuration).
    pub token: String,
    /// The connector's name (its endpoint is `/ecma2host_<name>/scim`).
    pub connector: String,
    /// One line saying what the target is and where.
    pub target: String,
    /// A SCIM body that creates a user, for the printed `curl`.
    pub create_body: String,
    /// What must live while the demo serves (a private server process, say).
    pub keep: Box<dyn std::any::Any>,
}

/// Prepares the demo of `kind` in `dir`, to be served on `port`.
pub fn prepare(kind: DemoKind, dir: &Path, port: u16) -> Result<Demo> {
    match kind {
        DemoKind::Sql => sql::prepare(dir, port),
        DemoKind::Ldap => ldap::prepare(dir, port),
        DemoKind::Script => script::prepare(dir, port),
        DemoKind::Mimservice => mimservice::prepare(dir, port),
    }
}

/// Prints where the demo listens and how to talk to it.
pub fn print_banner(config: &Config, demo: &Demo, port: u16) -> Result<()> {
    let cert: PathBuf = config.data_dir().join("certs").join(certs::CERT_FILE_NAME);
    let (name, token) = (&demo.connector, &demo.token);
    println!();
    println!("connector-host demo");
    println!("  SCIM endpoint:  https://localhost:{port}/ecma2host_{name}/scim");
    println!("  Secret token:   {token}");
    println!("  Target:         {}", demo.target);
    println!(
        "  Certificate:    {} (self-signed; generated on first start)",
        cert.display()
    );
    println!();
    println!("Create a user:");
    println!(
        "  curl --cacert {} -H 'Authorization: Bearer {token}' -H 'Content-Type: application/scim+json' \\\n    https://localhost:{port}/ecma2host_{name}/scim/Users -d '{}'",
        cert.display(),
        demo.create_body
    );
    println!();
    Ok(())
}

/// Writes a file only its owner can read (tokens).
pub(crate) fn write_private(path: &Path, contents: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("while creating {}", dir.display()))?;
    }
    std::fs::write(path, contents).with_context(|| format!("while writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("while restricting {}", path.display()))?;
    }
    Ok(())
}
