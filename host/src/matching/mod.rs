//! The matching report: before Entra provisions an application that already has accounts, which
//! target accounts will Entra match to which of its users, which users will it create, which
//! accounts will it leave alone (orphans) and which will it fail on (several matches)?
//!
//! Microsoft's guide leaves this to hand-written PowerShell. Here it is pure logic, with no HTTP
//! and no connector space: [`entra`] reads the users of an Entra export (the admin center's CSV
//! or Graph `GET /users` pages saved as JSON), [`report`] applies the matching rules the way
//! Entra does (in order of precedence, the first rule that finds anything decides) to target
//! accounts streamed in twice by the caller, and [`store`] keeps the last report of a
//! connector as CSV files with a page index, for the command line and the operations console.

pub mod entra;
pub mod report;
pub mod store;

use std::path::PathBuf;

pub use entra::{EntraUser, read_users};
pub use report::{Decided, Matcher, Rule, TargetAccount, Verdict};
pub use store::{List, ListPage, ReportWriter, Summary};

/// Why a report could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum MatchError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {detail}")]
    Input { path: PathBuf, detail: String },
    #[error("{0}")]
    Rule(String),
    #[error("{0}")]
    Target(String),
}

impl MatchError {
    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> MatchError + '_ {
        move |source| MatchError::Io {
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn input(path: &std::path::Path, detail: impl Into<String>) -> MatchError {
        MatchError::Input {
            path: path.to_owned(),
            detail: detail.into(),
        }
    }
}

/// Makes the report: reads every target account twice through `scan` (once to count what each
/// Entra user's rules find, once to classify each account), writing each list as it goes.
/// `scan` calls its argument for every target account, with the values of each rule's target
/// attribute in rule order.
pub fn run(
    users: &[EntraUser],
    rules: &[Rule],
    mut scan: impl FnMut(
        &mut dyn FnMut(TargetAccount) -> Result<(), MatchError>,
    ) -> Result<(), MatchError>,
    writer: &mut ReportWriter,
) -> Result<(), MatchError> {
    let mut matcher = Matcher::new(users, rules);
    scan(&mut |t| {
        matcher.count(&t);
        Ok(())
    })?;
    let decided = matcher.decide();
    scan(&mut |t| {
        let verdict = decided.classify(&t);
        writer.target(&t, &verdict)
    })?;
    for u in decided.without_target() {
        writer.entra_without_target(u)?;
    }
    writer.entra_failing(decided.failing());
    Ok(())
}
