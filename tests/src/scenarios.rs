//! Running a list of named scenarios against one host: each runs in turn, a failure or a panic
//! in one is reported and the next still runs, so one test run shows every broken scenario of
//! a backend × mode instead of the first.

use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;

use crate::error::Result;

/// Runs `run(name)` for each name, printing `[label] name: ok` or `… FAILED: why` as it goes,
/// and returns the failures as `name: why` lines (empty when all passed).
pub async fn run_each<'n, F, Fut>(label: &str, names: &[&'n str], mut run: F) -> Vec<String>
where
    F: FnMut(&'n str) -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut failures = Vec::new();
    for &name in names {
        let failure = match AssertUnwindSafe(run(name)).catch_unwind().await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(panic) => Some(format!("panicked: {}", panic_text(panic.as_ref()))),
        };
        match failure {
            None => eprintln!("[{label}] {name}: ok"),
            Some(why) => {
                eprintln!("[{label}] {name}: FAILED: {why}");
                failures.push(format!("{name}: {why}"));
            }
        }
    }
    failures
}

/// The message of a caught panic.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a panic".to_owned())
}

/// Declares the two tests of one backend, `mod $module { ecma2host, scim }`, each calling the
/// test binary's own `async fn matrix(Backend, Mode)`: every matrix file lists its backends
/// with one line each instead of a copy of the module.
#[macro_export]
macro_rules! backend_tests {
    ($module:ident, $backend:expr) => {
        mod $module {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn ecma2host() {
                matrix($backend, $crate::fixture::Mode::Ecma2host).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn scim() {
                matrix($backend, $crate::fixture::Mode::Scim).await;
            }
        }
    };
}
