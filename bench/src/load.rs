//! The load generator: C keep-alive HTTPS connections (one `reqwest` client each, so each
//! task owns exactly one TLS connection), each issuing sequential requests for a fixed time,
//! every latency recorded. Only answers that pass the request kind's check are counted.

use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderValue};

use crate::BenchError;
use crate::scim::{is_single_result, lookup_path, user_name};
use crate::stats::{Summary, summarize};

/// Builds a client that trusts exactly `cert_pem`, speaks HTTP/1.1 and keeps one connection.
pub fn client(cert_pem: &[u8]) -> Result<reqwest::Client, BenchError> {
    let cert = reqwest::Certificate::from_pem(cert_pem)?;
    Ok(reqwest::Client::builder()
        .tls_certs_only([cert])
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(10))
        .build()?)
}

/// What each request of a point asks.
#[derive(Debug, Clone)]
pub enum Request {
    /// `GET /healthz` (no authentication): the TLS + HTTP floor.
    Healthz,
    /// A lookup by `UserName` of a random existing user `u0..u{users}`; counted only with
    /// exactly one result.
    Lookup { users: u64 },
    /// `GET /Users?startIndex=<random>&count=100`; counted only when `totalResults` is `users`
    /// and the page is full.
    ListPage { users: u64 },
}

/// The endpoint and credentials a load run talks to.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// `https://127.0.0.1:PORT`.
    pub origin: String,
    /// `…/ecma2host_<name>/scim`.
    pub scim_base: String,
    /// `Bearer <token>`.
    pub authorization: HeaderValue,
}

/// SplitMix64: a tiny deterministic generator, one per task.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    /// A value in `0..bound` (`0` when `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        if bound == 0 { 0 } else { z % bound }
    }
}

#[derive(serde::Deserialize)]
struct PageHead {
    #[serde(rename = "totalResults")]
    total_results: u64,
    #[serde(rename = "Resources", default)]
    resources: Vec<serde::de::IgnoredAny>,
}

/// Sends one request of kind `req`; `Ok(true)` when the answer passes its check.
pub async fn one(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    req: &Request,
    rng: &mut SplitMix,
) -> Result<bool, BenchError> {
    let (url, auth) = match req {
        Request::Healthz => (format!("{}/healthz", endpoint.origin), false),
        Request::Lookup { users } => (
            format!(
                "{}{}",
                endpoint.scim_base,
                lookup_path(&user_name(rng.below(*users)))
            ),
            true,
        ),
        Request::ListPage { users } => (
            format!(
                "{}/Users?startIndex={}&count=100",
                endpoint.scim_base,
                1 + rng.below(users.saturating_sub(99).max(1))
            ),
            true,
        ),
    };
    let mut builder = client.get(url);
    if auth {
        builder = builder.header(AUTHORIZATION, endpoint.authorization.clone());
    }
    let resp = builder.send().await?;
    let status = resp.status();
    let body = resp.bytes().await?;
    if status != reqwest::StatusCode::OK {
        return Ok(false);
    }
    Ok(match req {
        Request::Healthz => true,
        Request::Lookup { .. } => is_single_result(&body),
        Request::ListPage { users } => serde_json::from_slice::<PageHead>(&body)
            .map(|h| h.total_results == *users && h.resources.len() == 100)
            .unwrap_or(false),
    })
}

/// Runs `connections` tasks, each on its own client (already connected by one warm-up
/// request), issuing `req` sequentially until `duration` has passed.
pub async fn run(
    cert_pem: &[u8],
    endpoint: &Endpoint,
    req: Request,
    connections: usize,
    duration: Duration,
) -> Result<Summary, BenchError> {
    let mut clients = Vec::with_capacity(connections);
    for i in 0..connections {
        let c = client(cert_pem)?;
        let mut rng = SplitMix::new(i as u64);
        // Warm-up: opens the TLS connection outside the measured window.
        one(&c, endpoint, &Request::Healthz, &mut rng).await?;
        clients.push(c);
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, c) in clients.into_iter().enumerate() {
        let endpoint = endpoint.clone();
        let req = req.clone();
        tasks.spawn(async move {
            let mut rng = SplitMix::new(0x5EED_0000 + i as u64);
            let mut latencies = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                match one(&c, &endpoint, &req, &mut rng).await {
                    Ok(true) => latencies.push(t.elapsed()),
                    Ok(false) | Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        });
    }
    let mut all = Vec::new();
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        let (lat, err) = done.map_err(|e| BenchError::Task(e.to_string()))?;
        all.extend(lat);
        errors += err;
    }
    let elapsed = started.elapsed();
    Ok(summarize(&mut all, errors, elapsed))
}

/// The certificate a starting host generates at `path`, once it is there (`deadline` at the
/// latest).
pub async fn host_certificate(
    path: &std::path::Path,
    deadline: Instant,
) -> Result<Vec<u8>, BenchError> {
    loop {
        match std::fs::read(path) {
            Ok(pem) if !pem.is_empty() => return Ok(pem),
            _ if Instant::now() > deadline => {
                return Err(BenchError::Timeout(format!(
                    "no certificate at {}",
                    path.display()
                )));
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// Sends `post(0)` … `post(creates - 1)`, each until it is answered 201 (a connector still
/// starting answers 503: the same create is retried every 50 ms until `deadline`). Warms the
/// host before a timed run.
pub async fn warm_up<F, Fut>(post: F, creates: usize, deadline: Instant) -> Result<(), BenchError>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    let mut done = 0;
    while done < creates {
        match post(done).await {
            Ok(r) if r.status().as_u16() == 201 => done += 1,
            _ if Instant::now() > deadline => {
                return Err(BenchError::Timeout("the host never created a user".into()));
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    Ok(())
}

/// `post(i)` for each `i` in `range`, one at a time, each timed; any answer but 201 fails the
/// run with the host's answer.
pub async fn timed_creates<F, Fut>(
    post: F,
    range: impl IntoIterator<Item = usize, IntoIter: ExactSizeIterator>,
) -> Result<Summary, BenchError>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    let range = range.into_iter();
    let mut latencies = Vec::with_capacity(range.len());
    let started = Instant::now();
    for i in range {
        let t = Instant::now();
        let r = post(i).await?;
        if r.status().as_u16() != 201 {
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            return Err(BenchError::Unexpected(format!("POST {i}: {status} {body}")));
        }
        r.bytes().await?;
        latencies.push(t.elapsed());
    }
    Ok(summarize(&mut latencies, 0, started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_stays_below_its_bound_and_covers_it() {
        let mut r = SplitMix::new(1);
        let mut seen = [false; 10];
        for _ in 0..1000 {
            let v = r.below(10);
            assert!(v < 10);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s), "{seen:?}");
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn splitmix_is_deterministic_per_seed() {
        let a: Vec<u64> = {
            let mut r = SplitMix::new(7);
            (0..5).map(|_| r.below(1000)).collect()
        };
        let b: Vec<u64> = {
            let mut r = SplitMix::new(7);
            (0..5).map(|_| r.below(1000)).collect()
        };
        assert_eq!(a, b);
    }
}
