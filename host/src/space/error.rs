//! The connector space's one error type, so the host can tell "the store is broken" (500, page
//! an operator) from "this attribute has no index" (fall back to a scan) without string matching.

use std::path::Path;

/// Everything that can go wrong in the connector space.
#[derive(Debug, thiserror::Error)]
pub enum SpaceError {
    /// SQLite failed (I/O, disk full, locked for longer than the busy timeout…); the message
    /// names the database file.
    #[error("connector space storage error: {0}")]
    Storage(String),
    /// The shared store cannot be reached now (PostgreSQL restarting, refusing connections,
    /// a connection lost mid-statement): nothing was written, and the request can be retried.
    #[error("connector space unavailable: {0}")]
    Unavailable(String),
    /// The file is not a connector space, or a stored value cannot be read back.
    #[error("connector space is corrupt: {0}")]
    Corrupt(String),
    /// The file was written by a newer connector-host; opening it could lose data.
    #[error(
        "connector space {path} has schema version {found}, newer than the {supported} this \
         connector-host supports; upgrade connector-host or delete the file to re-import"
    )]
    NewerSchema {
        /// The database file.
        path: String,
        /// The version found in the file.
        found: i64,
        /// The newest version this build understands.
        supported: i64,
    },
    /// `lookup` on an attribute without an index: the caller should evaluate a bounded scan.
    #[error("attribute {attribute} of {object_type} is not indexed in the connector space")]
    NotIndexed {
        /// The object type asked for.
        object_type: String,
        /// The attribute asked for.
        attribute: String,
    },
    /// A full import of this object type is already staging.
    #[error("a full import of {0} is already running")]
    ImportRunning(String),
    /// An import item or object of another type than the operation's.
    #[error("object of type {found} given to an operation on {expected}")]
    WrongObjectType {
        /// The object type of the operation.
        expected: String,
        /// The object type of the item.
        found: String,
    },
    /// `finish_run` for a run id that does not exist.
    #[error("no import run with id {0}")]
    NoSuchRun(i64),
}

impl SpaceError {
    /// Wraps an SQLite error, naming the file; SQLite's own corruption codes become `Corrupt`.
    pub(crate) fn sqlite(path: &Path, err: rusqlite::Error) -> SpaceError {
        let corrupt = matches!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        );
        let message = format!("{}: {err}", path.display());
        if corrupt {
            SpaceError::Corrupt(message)
        } else {
            SpaceError::Storage(message)
        }
    }
}

/// An error inside a closure run on a connection, before the file name is attached.
#[derive(Debug)]
pub(crate) enum Fail {
    Sqlite(rusqlite::Error),
    Space(SpaceError),
}

impl Fail {
    /// The public error, naming `path` for SQLite errors.
    pub fn at(self, path: &Path) -> SpaceError {
        match self {
            Fail::Sqlite(e) => SpaceError::sqlite(path, e),
            Fail::Space(e) => e,
        }
    }
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sqlite(e)
    }
}

impl From<SpaceError> for Fail {
    fn from(e: SpaceError) -> Self {
        Fail::Space(e)
    }
}
