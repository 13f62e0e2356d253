//! A private PostgreSQL server for tests that must stop and start the database under a running
//! client (restart resilience): `initdb` in a temporary directory, run by `pg_ctl` as the
//! `postgres` OS user (PostgreSQL refuses to run as root) on a free loopback port with its
//! socket in the same directory. The machine's shared server is never touched. Stopped
//! (immediately) and deleted on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

/// A throw-away PostgreSQL server.
pub struct PrivatePostgres {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
}

#[allow(clippy::panic, reason = "test support fails loudly on purpose")]
fn run(what: &str, cmd: &mut Command) {
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) => panic!("{what}: {e}; {}", crate::FIX_HINT),
    };
    if !out.status.success() {
        panic!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` that has `pg_ctl`.
#[allow(clippy::panic, reason = "test support fails loudly on purpose")]
fn pg_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                    Some((v, e.path().join("bin")))
                })
                .filter(|(_, p)| p.join("pg_ctl").exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "no PostgreSQL server binaries under /usr/lib/postgresql; {}",
            crate::FIX_HINT
        ),
    }
}

impl PrivatePostgres {
    /// Creates and starts the server; returns once it accepts connections.
    #[allow(clippy::panic, reason = "test support fails loudly on purpose")]
    pub fn start() -> PrivatePostgres {
        let dir = match tempfile::Builder::new().prefix("ch-private-pg").tempdir() {
            Ok(d) => d,
            Err(e) => panic!("cannot create a temporary directory: {e}"),
        };
        run(
            "chown",
            Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(dir.path()),
        );
        let pg = PrivatePostgres {
            bin: pg_bin(),
            port: crate::free_port(),
            dir,
        };
        run(
            "initdb",
            pg.as_postgres("initdb").arg("-D").arg(pg.data()).args([
                "--auth=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ]),
        );
        pg.start_server();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn as_postgres(&self, program: &str) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(self.bin.join(program));
        c
    }

    fn pg_ctl(&self, args: &[&str]) {
        run(
            &format!("pg_ctl {args:?}"),
            self.as_postgres("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.path().join("log"))
                .args(args),
        );
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        self.pg_ctl(&["-w", "-o", &options, "start"]);
    }

    /// Stops the server, disconnecting every client (`-m fast`: open transactions roll back).
    pub fn stop_server(&self) {
        self.pg_ctl(&["-w", "-m", "fast", "stop"]);
    }

    /// An ODBC connection string for the `postgres` database as the `postgres` superuser.
    pub fn connection_string(&self) -> String {
        let driver =
            std::env::var("CH_TEST_ODBC_PG_DRIVER").unwrap_or_else(|_| "PostgreSQL Unicode".into());
        format!(
            "Driver={{{driver}}};Server=127.0.0.1;Port={};Database=postgres;Uid=postgres;Pwd=;",
            self.port
        )
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the data, socket and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .output();
    }
}
