//! A second load generator that is not the bench's own tokio client: `wrk` (Debian package
//! `wrk`), run as a child process against the same host in the same run, so the lookup rate
//! and the `/healthz` floor are also measured by a C client with its own TLS stack and event
//! loop. The bench's client shares the 2 cores with the host and spends much of them itself;
//! wrk spends less, so its figures sit closer to what the host can do.
//!
//! Lookups go through a Lua script that sets the bearer header and asks for a random existing
//! `u<i>` per request. wrk counts every answer; answers that are not 2xx are reported
//! separately (`non_2xx`), and the bench treats any as an error of the point.

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use crate::BenchError;
use crate::scim::{ECMA2HOST_USER, encode_query_value};

/// What one wrk run measured.
#[derive(Debug, Clone, Copy)]
pub struct WrkResult {
    /// Answers per second over the run.
    pub rate: f64,
    /// Answers in all.
    pub requests: u64,
    pub p50: Duration,
    pub p99: Duration,
    /// Answers with a status outside 2xx/3xx.
    pub non_2xx: u64,
    /// Connect, read, write errors and timeouts.
    pub socket_errors: u64,
}

/// Whether `wrk` is on the PATH.
pub fn available() -> bool {
    Command::new("wrk")
        .arg("--version")
        .output()
        .is_ok_and(|o| !o.stdout.is_empty() || !o.stderr.is_empty())
}

/// What to ask.
#[derive(Debug, Clone)]
pub enum WrkLoad {
    /// `GET <origin>/healthz`.
    Healthz,
    /// Lookups by UserName of random users `u0..u{users}` under `scim_base`, with `token`.
    Lookup {
        scim_base: String,
        token: String,
        users: u64,
    },
}

/// Runs wrk with one thread and `connections` keep-alive connections for `duration`.
pub fn run(
    origin: &str,
    load: &WrkLoad,
    connections: usize,
    duration: Duration,
) -> Result<WrkResult, BenchError> {
    let script = tempfile::Builder::new().suffix(".lua").tempfile()?;
    let url = match load {
        WrkLoad::Healthz => format!("{origin}/healthz"),
        WrkLoad::Lookup {
            scim_base,
            token,
            users,
        } => {
            let path = scim_base
                .strip_prefix(origin)
                .unwrap_or(scim_base.as_str())
                .to_owned();
            let prefix = format!(
                "{path}/Users?filter={}",
                encode_query_value(&format!("{ECMA2HOST_USER}:UserName eq \"u"))
            );
            let mut f = script.as_file();
            writeln!(
                f,
                "wrk.headers[\"Authorization\"] = \"Bearer {token}\"\n\
                 math.randomseed(7)\n\
                 request = function()\n  \
                   return wrk.format(\"GET\", \"{prefix}\" .. math.random(0, {}) .. \"%22\")\n\
                 end",
                users.saturating_sub(1)
            )?;
            format!("{origin}{path}")
        }
    };
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t1",
        &format!("-c{connections}"),
        &format!("-d{}s", duration.as_secs().max(1)),
        "--latency",
    ]);
    if matches!(load, WrkLoad::Lookup { .. }) {
        cmd.arg("-s").arg(script.path());
    }
    cmd.arg(&url);
    let out = cmd.output()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(BenchError::Unexpected(format!(
            "wrk exited with {}: {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    parse(&text).ok_or_else(|| BenchError::Unexpected(format!("cannot read wrk output: {text}")))
}

/// Reads the figures out of wrk's report.
fn parse(text: &str) -> Option<WrkResult> {
    let mut rate = None;
    let mut requests = None;
    let (mut p50, mut p99) = (None, None);
    let (mut non_2xx, mut socket_errors) = (0, 0);
    for line in text.lines().map(str::trim) {
        if line.contains(" requests in ") {
            requests = line.split_whitespace().next().and_then(|v| v.parse().ok());
        } else if let Some(v) = line.strip_prefix("Requests/sec:") {
            rate = v.trim().parse::<f64>().ok();
        } else if let Some(v) = line.strip_prefix("50%") {
            p50 = duration(v.trim());
        } else if let Some(v) = line.strip_prefix("99%") {
            p99 = duration(v.trim());
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            socket_errors = v
                .split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
        }
    }
    Some(WrkResult {
        rate: rate?,
        requests: requests?,
        p50: p50?,
        p99: p99?,
        non_2xx,
        socket_errors,
    })
}

/// wrk's `1.23ms`, `456.00us`, `1.02s`.
fn duration(v: &str) -> Option<Duration> {
    let (number, nanos) = if let Some(n) = v.strip_suffix("us") {
        (n, 1e3)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e6)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e9)
    } else {
        return None;
    };
    let x = number.parse::<f64>().ok()?;
    Duration::try_from_secs_f64((x * nanos).round() / 1e9).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_figures_of_a_wrk_report() {
        let report = "Running 10s test @ https://127.0.0.1:1/healthz
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   420.11us  100.00us   5.00ms   90.00%
  Latency Distribution
     50%  401.00us
     75%  500.00us
     90%  600.00us
     99%    1.20ms
  700000 requests in 10.00s, 80.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  70000.12
Transfer/sec:      8.00MB
";
        let r = parse(report).unwrap();
        assert!((r.rate - 70_000.12).abs() < 1e-6);
        assert_eq!(r.requests, 700_000);
        assert_eq!(r.p50, Duration::from_micros(401));
        assert_eq!(r.p99, Duration::from_micros(1200));
        assert_eq!(r.non_2xx, 5);
        assert_eq!(r.socket_errors, 3);
        assert!(parse("garbage").is_none());
    }
}
