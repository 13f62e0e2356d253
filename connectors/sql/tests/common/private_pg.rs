//! A private PostgreSQL instance for tests that must stop and start the server: created with
//! `initdb` in a temporary directory and run by `pg_ctl` as the `postgres` OS user (PostgreSQL
//! refuses to run as root) on a free port, with its socket in the same directory. The machine's
//! shared server on 5432 is never touched. Stopped and deleted on drop.

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

pub struct PrivatePg {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
}

fn run(what: &str, cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The newest `/usr/lib/postgresql/<version>/bin`.
fn pg_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            Some((v, e.path().join("bin")))
        })
        .filter(|(_, p)| p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL version with pg_ctl").1
}

impl PrivatePg {
    pub fn start() -> PrivatePg {
        let dir = tempfile::Builder::new()
            .prefix("ch-private-pg")
            .tempdir()
            .unwrap();
        run(
            "chown",
            Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(dir.path()),
        );
        let pg = PrivatePg {
            bin: pg_bin(),
            port: testkit::free_port(),
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

    pub fn connection_string(&self) -> String {
        let driver =
            std::env::var("CH_TEST_ODBC_PG_DRIVER").unwrap_or_else(|_| "PostgreSQL Unicode".into());
        format!(
            "Driver={{{driver}}};Server=127.0.0.1;Port={};Database=postgres;Uid=postgres;Pwd=;",
            self.port
        )
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .args(["-m", "immediate", "stop"])
            .output();
    }
}
