//! Turning recorded latencies into the figures the report shows (rate, p50, p99, max).
//!
//! Every latency is recorded (no sampling, no histogram buckets), so percentiles are exact
//! order statistics of what the load generator saw.

use std::time::Duration;

/// The outcome of one measured point.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Requests that succeeded (and were counted).
    pub ok: u64,
    /// Requests that failed or returned something unexpected.
    pub errors: u64,
    /// Successful requests per second of measured wall time.
    pub rate: f64,
    /// Median latency of the successful requests.
    pub p50: Duration,
    /// 99th percentile latency of the successful requests.
    pub p99: Duration,
    /// Largest latency of the successful requests.
    pub max: Duration,
}

/// The `q`-quantile (0.0..=1.0) of sorted latencies, nearest-rank definition: the smallest
/// value such that at least `q` of all values are at or below it. Empty input gives zero.
pub fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let n = sorted.len();
    let rank = (q.clamp(0.0, 1.0) * n as f64).ceil() as usize;
    let index = rank.clamp(1, n) - 1;
    sorted.get(index).copied().unwrap_or(Duration::ZERO)
}

/// Summarises one point: `latencies` of successful requests (sorted in place), `errors`
/// failed ones, over `elapsed` wall time.
pub fn summarize(latencies: &mut [Duration], errors: u64, elapsed: Duration) -> Summary {
    latencies.sort_unstable();
    let ok = latencies.len() as u64;
    let secs = elapsed.as_secs_f64();
    Summary {
        ok,
        errors,
        rate: if secs > 0.0 { ok as f64 / secs } else { 0.0 },
        p50: percentile(latencies, 0.50),
        p99: percentile(latencies, 0.99),
        max: latencies.last().copied().unwrap_or(Duration::ZERO),
    }
}

/// A duration in milliseconds with two decimals, as the report prints it.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&x| Duration::from_micros(x)).collect()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let hundred: Vec<u64> = (1..=100).collect();
        let check = |values: &[u64], q: f64, expected: u64| {
            assert_eq!(
                percentile(&us(values), q),
                Duration::from_micros(expected),
                "q={q} of {values:?}"
            );
        };
        check(&hundred, 0.50, 50);
        check(&hundred, 0.99, 99);
        check(&hundred, 1.00, 100);
        check(&hundred, 0.0, 1);
        check(&[7], 0.99, 7);
        check(&[1, 2], 0.50, 1);
        check(&[1, 2], 0.51, 2);
        check(&[1, 2, 3, 1000], 0.99, 1000);
        check(&[], 0.5, 0);
    }

    #[test]
    fn summary_sorts_and_counts_rate_over_wall_time() {
        let mut lat = us(&[300, 100, 200, 400]);
        let s = summarize(&mut lat, 3, Duration::from_secs(2));
        assert_eq!(s.ok, 4);
        assert_eq!(s.errors, 3);
        assert!((s.rate - 2.0).abs() < 1e-9);
        assert_eq!(s.p50, Duration::from_micros(200));
        assert_eq!(s.p99, Duration::from_micros(400));
        assert_eq!(s.max, Duration::from_micros(400));
    }

    #[test]
    fn empty_point_has_zero_rate() {
        let s = summarize(&mut [], 5, Duration::from_secs(1));
        assert_eq!((s.ok, s.errors, s.rate), (0, 5, 0.0));
        assert_eq!(ms(s.p99), "0.00 ms");
    }

    #[test]
    fn milliseconds_have_two_decimals() {
        assert_eq!(ms(Duration::from_micros(1234)), "1.23 ms");
        assert_eq!(ms(Duration::from_micros(50)), "0.05 ms");
    }
}
