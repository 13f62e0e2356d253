//! The PostgreSQL layout of connector spaces and its versioned migrations, in one place.
//!
//! Everything lives in the schema `connector_space` of the configured database, so the space
//! can share a database with other applications. One database holds the spaces of several
//! connectors: every table is keyed by the connector's name (a column, not a schema per
//! connector), so the migrations are per database (`connector-host space migrate` needs no
//! connector list), one set of prepared statements serves every connector, and connector names
//! never have to be spliced into SQL as identifiers.
//!
//! `schema_migrations` holds one row per applied version; a database with a newer version than
//! this build knows is refused ([`SpaceError::NewerSchema`]). Migrations run in one transaction
//! under a transaction-level advisory lock, so hosts starting together migrate once.
//!
//! Text columns compared or ordered (anchors, normalised values, DNs) use the `C` collation:
//! byte order, as the SQLite backend orders them, whatever the database's default collation.
//! Normalisation (lower-casing) happens in Rust (`normalise`), never with SQL `lower()`, whose
//! result depends on the database's locale.

use postgres::Transaction;

use super::pool::{Conn, Fail};
use crate::space::SpaceError;

/// The newest schema version this build writes and reads.
pub const PG_SCHEMA_VERSION: i64 = 2;

/// The advisory lock key serialising migrations (any fixed number no other lock uses).
const MIGRATION_LOCK: i64 = 0x6373_6d69_6772;

/// Version 1.
const V1: &str = r#"
CREATE TABLE meta (
    connector text NOT NULL,
    key       text NOT NULL,
    value     text NOT NULL,
    PRIMARY KEY (connector, key)
);

CREATE TABLE objects (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector   text NOT NULL,
    object_type text NOT NULL,
    anchor      text COLLATE "C" NOT NULL,
    dn_norm     text COLLATE "C",
    body        text NOT NULL,
    created     bigint NOT NULL,
    modified    bigint NOT NULL,
    version     bigint NOT NULL,
    origin      bigint NOT NULL,
    written_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (connector, object_type, anchor)
);
CREATE INDEX objects_dn ON objects (connector, object_type, dn_norm, anchor);
CREATE INDEX objects_order ON objects (connector, object_type, id);

CREATE TABLE idx (
    connector   text NOT NULL,
    object_type text NOT NULL,
    attribute   text NOT NULL,
    value_norm  text COLLATE "C" NOT NULL,
    object_id   bigint NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    PRIMARY KEY (connector, object_type, attribute, value_norm, object_id)
);
CREATE INDEX idx_object ON idx (object_id);

CREATE TABLE type_counts (
    connector   text NOT NULL,
    object_type text NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (connector, object_type)
);

CREATE FUNCTION count_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO connector_space.type_counts (connector, object_type, n)
        SELECT connector, object_type, count(*) FROM added GROUP BY connector, object_type
        ON CONFLICT (connector, object_type)
        DO UPDATE SET n = connector_space.type_counts.n + excluded.n;
    RETURN NULL;
END $$;
CREATE FUNCTION count_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE connector_space.type_counts t SET n = t.n - r.n
        FROM (SELECT connector, object_type, count(*) AS n FROM removed
              GROUP BY connector, object_type) r
        WHERE t.connector = r.connector AND t.object_type = r.object_type;
    RETURN NULL;
END $$;
CREATE TRIGGER objects_added AFTER INSERT ON objects
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION count_added();
CREATE TRIGGER objects_removed AFTER DELETE ON objects
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION count_removed();

CREATE TABLE tombstones (
    connector   text NOT NULL,
    object_type text NOT NULL,
    anchor      text COLLATE "C" NOT NULL,
    written_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connector, object_type, anchor)
);

CREATE TABLE watermarks (
    connector   text NOT NULL,
    object_type text NOT NULL,
    value       text NOT NULL,
    PRIMARY KEY (connector, object_type)
);

CREATE TABLE runs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector   text NOT NULL,
    kind        text NOT NULL,
    object_type text NOT NULL,
    started     bigint NOT NULL,
    finished    bigint,
    outcome     text NOT NULL,
    added       bigint NOT NULL DEFAULT 0,
    updated     bigint NOT NULL DEFAULT 0,
    unchanged   bigint NOT NULL DEFAULT 0,
    removed     bigint NOT NULL DEFAULT 0,
    notes       text,
    host        text
);
CREATE INDEX runs_by_type ON runs (connector, object_type, kind, id);
CREATE INDEX runs_by_connector ON runs (connector, id);

CREATE TABLE pending (
    object_id bigint PRIMARY KEY REFERENCES objects (id) ON DELETE CASCADE,
    connector text NOT NULL,
    detail    text NOT NULL,
    since     bigint NOT NULL,
    is_new    boolean NOT NULL
);
CREATE INDEX pending_since ON pending (connector, since);

CREATE TABLE intents (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector   text NOT NULL,
    object_type text NOT NULL,
    anchor      text COLLATE "C",
    since       bigint NOT NULL
);
CREATE INDEX intents_anchor ON intents (connector, object_type, anchor);

CREATE TABLE leases (
    connector text NOT NULL,
    name      text NOT NULL,
    holder    text NOT NULL,
    expires   timestamptz NOT NULL,
    PRIMARY KEY (connector, name)
);

CREATE TABLE page_ends (
    connector   text NOT NULL,
    object_type text NOT NULL,
    page_offset bigint NOT NULL,
    last_id     bigint NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connector, object_type, page_offset)
);
"#;

/// Version 2: an intent names the host that recorded it, so a host's restart reads back its
/// own exports left in flight at once (another host's only once they are old enough to be
/// orphans). Intents of older builds have none.
const V2: &str = "ALTER TABLE intents ADD COLUMN host text;";

/// The migrations, in order: (version, SQL run in the schema `connector_space`).
const MIGRATIONS: &[(i64, &str)] = &[(1, V1), (2, V2)];

/// Brings the database to [`PG_SCHEMA_VERSION`]: returns (version found, version now).
/// `at` names the database (without password) in errors.
pub(crate) fn migrate(conn: &mut Conn, at: &str) -> Result<(i64, i64), SpaceError> {
    let run = |tx: &mut Transaction<'_>| -> Result<(i64, i64), Fail> {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute(
            "CREATE SCHEMA IF NOT EXISTS connector_space;
             CREATE TABLE IF NOT EXISTS connector_space.schema_migrations (
                 version bigint PRIMARY KEY,
                 applied timestamptz NOT NULL DEFAULT now()
             );",
        )?;
        let found: i64 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM connector_space.schema_migrations",
                &[],
            )?
            .get(0);
        if found > PG_SCHEMA_VERSION {
            return Err(SpaceError::NewerSchema {
                path: at.to_owned(),
                found,
                supported: PG_SCHEMA_VERSION,
            }
            .into());
        }
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > found) {
            tx.batch_execute(sql)?;
            tx.execute(
                "INSERT INTO connector_space.schema_migrations (version) VALUES ($1)",
                &[version],
            )?;
            tracing::info!(database = at, version, "connector space schema migrated");
        }
        Ok((found, PG_SCHEMA_VERSION))
    };
    let mut tx = conn
        .client
        .transaction()
        .map_err(|e| Fail::from(e).at(at))?;
    let versions = run(&mut tx).map_err(|e| e.at(at))?;
    tx.commit().map_err(|e| Fail::from(e).at(at))?;
    Ok(versions)
}
