//! Telemetry: log output (text or JSON, `RUST_LOG`-style filters), request ids, and the
//! Prometheus metrics an operator scrapes from `/metrics`.
//!
//! Metrics are a handful of fixed families kept in one mutex-protected map; at Entra's request
//! rates (tens per second) and even at our benchmark's tens of thousands, an uncontended mutex
//! per request costs far less than the TLS record it rides in.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global log subscriber. Default level `info`; `RUST_LOG` overrides.
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Export latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct State {
    /// Answered requests by connector, then by status (nested, so counting one finds its
    /// connector without building a key string per request).
    requests: BTreeMap<String, BTreeMap<u16, u64>>,
    exports: BTreeMap<(String, &'static str, &'static str), Histogram>,
    space_objects: BTreeMap<(String, String), u64>,
    last_import: BTreeMap<String, (f64, bool)>,
    ignored: BTreeMap<(String, &'static str, String), u64>,
    /// Per connector, exports by minute (newest last), for the console's "exports per minute".
    export_minutes: BTreeMap<String, VecDeque<ExportMinute>>,
    /// This host's `host_id` and space backend, for `connector_host_info`.
    host: Option<(String, &'static str)>,
    /// Per connector, whether this host holds the import lease.
    import_lease: BTreeMap<String, bool>,
}

/// The exports of one connector in one minute, by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportMinute {
    /// The minute, as Unix seconds of its start.
    pub start: i64,
    pub succeeded: u64,
    pub failed: u64,
}

/// How many minutes of export counts are kept per connector.
pub const EXPORT_MINUTES: usize = 60;

impl State {
    fn count_export_minute(&mut self, connector: &str, ok: bool, now: time::OffsetDateTime) {
        let start = now.unix_timestamp().div_euclid(60) * 60;
        let minutes = match self.export_minutes.get_mut(connector) {
            Some(m) => m,
            None => self.export_minutes.entry(connector.to_owned()).or_default(),
        };
        if minutes.back().is_none_or(|m| m.start < start) {
            if minutes.len() >= EXPORT_MINUTES {
                minutes.pop_front();
            }
            minutes.push_back(ExportMinute {
                start,
                ..ExportMinute::default()
            });
        }
        if let Some(m) = minutes.back_mut() {
            if ok {
                m.succeeded += 1;
            } else {
                m.failed += 1;
            }
        }
    }
}

/// The host's metrics.
#[derive(Default)]
pub struct Metrics {
    state: Mutex<State>,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s)
    }

    /// Counts one answered request.
    pub fn count_request(&self, connector: &str, status: u16) {
        self.with(|s| {
            let by_status = match s.requests.get_mut(connector) {
                Some(m) => m,
                None => s.requests.entry(connector.to_owned()).or_default(),
            };
            *by_status.entry(status).or_default() += 1
        });
    }

    /// Records one export's latency and outcome.
    pub fn observe_export(&self, connector: &str, op: &'static str, ok: bool, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let outcome = if ok { "success" } else { "failure" };
        self.with(|s| {
            let h = s
                .exports
                .entry((connector.to_owned(), op, outcome))
                .or_default();
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b
                    && let Some(c) = h.counts.get_mut(i)
                {
                    *c += 1;
                }
            }
            h.sum += secs;
            h.count += 1;
            s.count_export_minute(connector, ok, time::OffsetDateTime::now_utc());
        });
    }

    /// The exports of `connector` in each of the `minutes` minutes up to `now` (oldest first,
    /// the current minute last), by outcome; a minute without exports counts zero.
    pub fn exports_per_minute(
        &self,
        connector: &str,
        minutes: usize,
        now: time::OffsetDateTime,
    ) -> Vec<ExportMinute> {
        let current = now.unix_timestamp().div_euclid(60) * 60;
        self.with(|s| {
            let kept = s.export_minutes.get(connector);
            (0..minutes as i64)
                .rev()
                .map(|back| {
                    let start = current - back * 60;
                    kept.and_then(|k| k.iter().find(|m| m.start == start).copied())
                        .unwrap_or(ExportMinute {
                            start,
                            ..ExportMinute::default()
                        })
                })
                .collect()
        })
    }

    /// Sets the object count of one object type in a connector space.
    pub fn set_space_size(&self, connector: &str, object_type: &str, objects: u64) {
        self.with(|s| {
            s.space_objects
                .insert((connector.to_owned(), object_type.to_owned()), objects)
        });
    }

    /// Names this host and its space backend in `connector_host_info` (one series per host:
    /// the `host` label is on this gauge only, so the per-connector series keep their labels
    /// and a dashboard joins on `instance`).
    pub fn set_host(&self, host_id: &str, space: &'static str) {
        self.with(|s| s.host = Some((host_id.to_owned(), space)));
    }

    /// Records whether this host holds connector `connector`'s import lease.
    pub fn set_import_lease(&self, connector: &str, held: bool) {
        self.with(|s| s.import_lease.insert(connector.to_owned(), held));
    }

    /// Records the end of an import.
    pub fn import_finished(&self, connector: &str, ok: bool) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
        self.with(|s| s.last_import.insert(connector.to_owned(), (now, ok)));
    }

    /// Counts one write that carried `attribute`, which connector `connector`'s `ignore` list
    /// for `resource` (`Users`, `Groups`) drops. True the first time, so the caller warns once
    /// per attribute rather than per request.
    pub fn count_ignored(&self, connector: &str, resource: &'static str, attribute: &str) -> bool {
        self.with(|s| {
            let n = s
                .ignored
                .entry((connector.to_owned(), resource, attribute.to_owned()))
                .or_default();
            *n += 1;
            *n == 1
        })
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        self.with(|s| {
            let mut out = String::new();
            if let Some((host, space)) = &s.host {
                let _ = writeln!(out, "# HELP connector_host_info This host: its host_id and the connector space backend.");
                let _ = writeln!(out, "# TYPE connector_host_info gauge");
                let _ = writeln!(out, "connector_host_info{{host=\"{}\",space=\"{space}\"}} 1", esc(host));
            }
            if !s.import_lease.is_empty() {
                let _ = writeln!(out, "# HELP connector_host_import_lease_held Whether this host holds the connector's import lease (runs its scheduled imports).");
                let _ = writeln!(out, "# TYPE connector_host_import_lease_held gauge");
                for (c, held) in &s.import_lease {
                    let _ = writeln!(out, "connector_host_import_lease_held{{connector=\"{}\"}} {}", esc(c), u8::from(*held));
                }
            }
            let _ = writeln!(out, "# HELP connector_host_requests_total SCIM requests answered, by connector and HTTP status.");
            let _ = writeln!(out, "# TYPE connector_host_requests_total counter");
            for (c, by_status) in &s.requests {
                for (status, n) in by_status {
                    let _ = writeln!(out, "connector_host_requests_total{{connector=\"{}\",status=\"{status}\"}} {n}", esc(c));
                }
            }
            let _ = writeln!(out, "# HELP connector_host_export_duration_seconds Time the target took for one export.");
            let _ = writeln!(out, "# TYPE connector_host_export_duration_seconds histogram");
            for ((c, op, outcome), h) in &s.exports {
                let labels = format!("connector=\"{}\",op=\"{op}\",outcome=\"{outcome}\"", esc(c));
                for (b, n) in BUCKETS.iter().zip(h.counts.iter()) {
                    let _ = writeln!(out, "connector_host_export_duration_seconds_bucket{{{labels},le=\"{b}\"}} {n}");
                }
                let _ = writeln!(out, "connector_host_export_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "connector_host_export_duration_seconds_sum{{{labels}}} {}", h.sum);
                let _ = writeln!(out, "connector_host_export_duration_seconds_count{{{labels}}} {}", h.count);
            }
            let _ = writeln!(out, "# HELP connector_host_space_objects Objects in the connector space.");
            let _ = writeln!(out, "# TYPE connector_host_space_objects gauge");
            for ((c, t), n) in &s.space_objects {
                let _ = writeln!(out, "connector_host_space_objects{{connector=\"{}\",object_type=\"{}\"}} {n}", esc(c), esc(t));
            }
            let _ = writeln!(out, "# HELP connector_host_last_import_timestamp_seconds When the last import finished.");
            let _ = writeln!(out, "# TYPE connector_host_last_import_timestamp_seconds gauge");
            let _ = writeln!(out, "# HELP connector_host_last_import_success Whether the last import succeeded (1) or failed (0).");
            let _ = writeln!(out, "# TYPE connector_host_last_import_success gauge");
            for (c, (at, ok)) in &s.last_import {
                let _ = writeln!(out, "connector_host_last_import_timestamp_seconds{{connector=\"{}\"}} {at}", esc(c));
                let _ = writeln!(out, "connector_host_last_import_success{{connector=\"{}\"}} {}", esc(c), u8::from(*ok));
            }
            let _ = writeln!(out, "# HELP connector_host_ignored_attributes_total Writes that carried an attribute the connector's ignore list accepts and drops.");
            let _ = writeln!(out, "# TYPE connector_host_ignored_attributes_total counter");
            for ((c, r, a), n) in &s.ignored {
                let _ = writeln!(out, "connector_host_ignored_attributes_total{{connector=\"{}\",resource=\"{r}\",attribute=\"{}\"}} {n}", esc(c), esc(a));
            }
            out
        })
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_counts_what_happened() {
        let m = Metrics::default();
        m.count_request("hr", 200);
        m.count_request("hr", 200);
        m.count_request("hr", 409);
        m.observe_export("hr", "add", true, Duration::from_millis(3));
        m.set_space_size("hr", "User", 12);
        m.import_finished("hr", true);
        let text = m.render();
        assert!(
            text.contains("connector_host_requests_total{connector=\"hr\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(text.contains("connector_host_requests_total{connector=\"hr\",status=\"409\"} 1"));
        assert!(text.contains("le=\"0.001\"} 0"));
        assert!(text.contains("le=\"0.005\"} 1"));
        assert!(text.contains("connector_host_export_duration_seconds_count{connector=\"hr\",op=\"add\",outcome=\"success\"} 1"));
        assert!(
            text.contains("connector_host_space_objects{connector=\"hr\",object_type=\"User\"} 12")
        );
        assert!(text.contains("connector_host_last_import_success{connector=\"hr\"} 1"));
    }

    #[test]
    fn ignored_attributes_are_counted_and_first_seen_once() {
        let m = Metrics::default();
        assert!(m.count_ignored("hr", "Users", "name.formatted"));
        assert!(!m.count_ignored("hr", "Users", "name.formatted"));
        assert!(m.count_ignored("hr", "Groups", "name.formatted"));
        let text = m.render();
        assert!(
            text.contains("connector_host_ignored_attributes_total{connector=\"hr\",resource=\"Users\",attribute=\"name.formatted\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn exports_are_counted_per_minute_by_outcome() {
        let m = Metrics::default();
        let at = |secs: i64| time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
        m.with(|s| {
            s.count_export_minute("hr", true, at(6_000));
            s.count_export_minute("hr", true, at(6_059));
            s.count_export_minute("hr", false, at(6_030));
            s.count_export_minute("hr", true, at(6_120));
            s.count_export_minute("other", true, at(6_120));
        });
        let got = m.exports_per_minute("hr", 4, at(6_150));
        let counts: Vec<(i64, u64, u64)> = got
            .iter()
            .map(|x| (x.start, x.succeeded, x.failed))
            .collect();
        assert_eq!(
            counts,
            [(5_940, 0, 0), (6_000, 2, 1), (6_060, 0, 0), (6_120, 1, 0)]
        );
        assert!(
            m.exports_per_minute("none", 2, at(6_150))
                .iter()
                .all(|x| x.succeeded == 0)
        );
        m.with(|s| {
            for i in 0..(EXPORT_MINUTES as i64 + 5) {
                s.count_export_minute("hr", true, at(10_000 * 60 + i * 60));
            }
            assert_eq!(s.export_minutes["hr"].len(), EXPORT_MINUTES, "bounded");
        });
    }
}
