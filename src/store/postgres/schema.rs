//! The tables of a PostgreSQL store, in the schema `sampleflow`, and their version.
//!
//! Every table but the version's has a `shop` column leading its primary key and every index:
//! one database holds many shops, and a cluster (Citus) distributes tables by that column. Text
//! is compared byte by byte (`COLLATE "C"`), as SQLite compares it, so every `ORDER BY` gives
//! the order an SQLite store gives. Packed rows (`store/pack.rs`) are BYTEA kept out of line
//! uncompressed (`STORAGE EXTERNAL`): they are zstd frames already.
//!
//! The first writer creates the schema and upgrades an older one in place, in one transaction
//! under a transaction-level advisory lock (two first writers of two shops cannot race); a
//! `sampleflow` schema that holds tables but no version is not ours and is never touched.

use postgres::GenericClient;

use crate::store::StoreError;

/// The schema version this build writes; an older one is upgraded, a newer one refused.
pub const PG_SCHEMA_VERSION: i32 = 5;

/// The advisory-lock class of sampleflow's locks (the other half names what is locked).
pub(crate) const LOCK_CLASS: i32 = 0x5346_4c57; // "SFLW"

/// The second half of the writer lock of the whole database: a stable, non-negative hash of
/// the shop `default`'s name (`pg_locks` shows the halves as OIDs). A writer outside a cluster
/// holds it (`lock.rs`); a cluster's instance takes a lease only while nobody does
/// (`cluster.rs`).
pub(super) fn store_key() -> i32 {
    (xxhash_rust::xxh3::xxh3_64(crate::model::DEFAULT_SHOP.as_bytes()) & 0x7fff_ffff) as i32
}

/// The second half of the advisory lock that guards creating and upgrading the schema.
const SCHEMA_LOCK: i32 = 0;

/// Version 1: every table of the store.
const V1: &str = r#"
CREATE SCHEMA IF NOT EXISTS sampleflow;
CREATE TABLE sampleflow.schema_version (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    version integer NOT NULL,
    upgraded_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE sampleflow.samples (
    shop text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    workflow text COLLATE "C" NOT NULL,
    state text COLLATE "C" NOT NULL,
    creator text COLLATE "C" NOT NULL,
    product text COLLATE "C" NOT NULL,
    category text COLLATE "C" NOT NULL,
    data bytea NOT NULL,
    chunks text COLLATE "C" NOT NULL DEFAULT '',
    PRIMARY KEY (shop, id)
) WITH (fillfactor = 85);
ALTER TABLE sampleflow.samples ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE INDEX samples_state ON sampleflow.samples (shop, state);
CREATE TABLE sampleflow.deadlines (
    shop text COLLATE "C" NOT NULL,
    sample text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    due text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    held boolean NOT NULL,
    PRIMARY KEY (shop, sample, name)
);
CREATE INDEX deadlines_due ON sampleflow.deadlines (shop, due, seq);
CREATE TABLE sampleflow.ledgers (
    shop text COLLATE "C" NOT NULL,
    creator text COLLATE "C" NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (shop, creator)
) WITH (fillfactor = 85);
ALTER TABLE sampleflow.ledgers ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE TABLE sampleflow.event_chunks (
    shop text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    run bigint NOT NULL,
    ids text COLLATE "C" NOT NULL,
    lens text COLLATE "C",
    raw bytea NOT NULL,
    PRIMARY KEY (shop, seq)
);
ALTER TABLE sampleflow.event_chunks ALTER COLUMN raw SET STORAGE EXTERNAL;
CREATE TABLE sampleflow.log_chunks (
    shop text COLLATE "C" NOT NULL,
    seq bigint NOT NULL,
    run bigint NOT NULL,
    samples text COLLATE "C" NOT NULL,
    lens text COLLATE "C",
    text bytea NOT NULL,
    PRIMARY KEY (shop, seq)
);
ALTER TABLE sampleflow.log_chunks ALTER COLUMN text SET STORAGE EXTERNAL;
CREATE TABLE sampleflow.runs (
    shop text COLLATE "C" NOT NULL,
    id bigint NOT NULL,
    data text COLLATE "C" NOT NULL,
    PRIMARY KEY (shop, id)
);
CREATE TABLE sampleflow.versions (
    shop text COLLATE "C" NOT NULL,
    kind text COLLATE "C" NOT NULL,
    hash text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    files text COLLATE "C" NOT NULL,
    first_seen text COLLATE "C" NOT NULL,
    seen bigint NOT NULL,
    PRIMARY KEY (shop, kind, hash)
);
CREATE TABLE sampleflow.meta (
    shop text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    value text COLLATE "C" NOT NULL,
    PRIMARY KEY (shop, key)
);
CREATE TABLE sampleflow.platform (
    shop text COLLATE "C" NOT NULL,
    application text COLLATE "C" NOT NULL,
    PRIMARY KEY (shop, application)
);
CREATE TABLE sampleflow.outbox (
    shop text COLLATE "C" NOT NULL,
    sample text COLLATE "C" NOT NULL,
    event text COLLATE "C" NOT NULL,
    decision text COLLATE "C" NOT NULL,
    reason text COLLATE "C",
    state text COLLATE "C" NOT NULL,
    attempts bigint NOT NULL DEFAULT 0,
    code bigint,
    message text COLLATE "C",
    queued_at text COLLATE "C" NOT NULL,
    updated_at text COLLATE "C" NOT NULL,
    PRIMARY KEY (shop, sample, event)
);
CREATE TABLE sampleflow.unmappable (
    shop text COLLATE "C" NOT NULL,
    application text COLLATE "C" NOT NULL,
    product text COLLATE "C" NOT NULL,
    reason text COLLATE "C" NOT NULL,
    seen_at text COLLATE "C" NOT NULL,
    PRIMARY KEY (shop, application)
);
CREATE TABLE sampleflow.console_sessions (
    shop text COLLATE "C" NOT NULL,
    id_hash text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    started bigint NOT NULL,
    used bigint NOT NULL,
    PRIMARY KEY (shop, id_hash)
);
CREATE INDEX console_sessions_used ON sampleflow.console_sessions (shop, used);
CREATE TABLE sampleflow.writers (
    shop text COLLATE "C" NOT NULL,
    holder text COLLATE "C" NOT NULL,
    backend integer NOT NULL,
    since timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop)
);
"#;

/// Version 4 adds the creators' platform usernames and the products' titles (the connector's)
/// and the index that finds a creator's samples.
const V4: &str = r#"
CREATE TABLE sampleflow.creator_names (
    shop text COLLATE "C" NOT NULL,
    creator text COLLATE "C" NOT NULL,
    username text NOT NULL,
    PRIMARY KEY (shop, creator)
);
CREATE TABLE sampleflow.product_titles (
    shop text COLLATE "C" NOT NULL,
    product text COLLATE "C" NOT NULL,
    title text NOT NULL,
    PRIMARY KEY (shop, product)
);
CREATE INDEX samples_creator ON sampleflow.samples (shop, creator);
"#;

/// Version 5: a cluster's instances and its shops' leases (`store/postgres/cluster.rs`). These
/// two tables say who runs what, not what was decided: `copy` and `backup` leave them out, and
/// `instances` is the one table besides the version's not led by a shop.
const V5: &str = r#"
CREATE TABLE sampleflow.instances (
    id text COLLATE "C" PRIMARY KEY,
    url text NOT NULL,
    key_sha256 text NOT NULL,
    since timestamptz NOT NULL DEFAULT now(),
    renewed_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE sampleflow.leases (
    shop text COLLATE "C" PRIMARY KEY,
    owner text COLLATE "C" NOT NULL,
    epoch bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
"#;

/// Version 2 adds the shadow decisions (`store/shadow.rs`), version 3 the order lines the
/// connector reads (`store/connector.rs`), version 4 the creators' names and the products'
/// titles, version 5 the cluster's instances and leases.
///
/// Each version's script, in order: a store at version N runs the scripts after N.
const UPGRADES: &[(i32, &str)] = &[
    (1, V1),
    (2, crate::store::shadow::PG_TABLE),
    (3, crate::store::tables::PG_ORDER_LINES),
    (4, V4),
    (5, V5),
];

/// What the database holds under the schema `sampleflow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Found {
    /// No schema, or an empty one: a store is yet to be made.
    Nothing,
    /// Tables without a sampleflow version: not ours.
    Foreign,
    /// A sampleflow store of this version.
    Version(i32),
}

/// Looks at the schema without writing anything.
pub fn look(client: &mut impl GenericClient) -> Result<Found, StoreError> {
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = 'sampleflow'",
            &[],
        )?
        .get(0);
    if tables == 0 {
        return Ok(Found::Nothing);
    }
    let has_version: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables
                WHERE schemaname = 'sampleflow' AND tablename = 'schema_version')",
            &[],
        )?
        .get(0);
    if !has_version {
        return Ok(Found::Foreign);
    }
    let row = client.query_opt("SELECT version FROM sampleflow.schema_version", &[])?;
    Ok(row.map_or(Found::Foreign, |r| Found::Version(r.get(0))))
}

/// Refuses what a reader cannot read: no store, not ours, or another version.
pub fn check_readable(client: &mut impl GenericClient) -> Result<(), StoreError> {
    match look(client)? {
        Found::Nothing => Err(StoreError::Missing),
        Found::Foreign => Err(StoreError::Foreign),
        Found::Version(PG_SCHEMA_VERSION) => Ok(()),
        Found::Version(found) if found > PG_SCHEMA_VERSION => Err(StoreError::Schema {
            found: i64::from(found),
            expected: i64::from(PG_SCHEMA_VERSION),
        }),
        Found::Version(found) => Err(StoreError::Old {
            found: i64::from(found),
        }),
    }
}

/// Creates the schema, or upgrades it, for a writer; a foreign or newer one is refused and left
/// as it was.
pub fn ensure(client: &mut postgres::Client) -> Result<(), StoreError> {
    // Most opens find the store as it should be: one look, no transaction.
    if look(client)? == Found::Version(PG_SCHEMA_VERSION) {
        return Ok(());
    }
    let mut tx = client.transaction()?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&LOCK_CLASS, &SCHEMA_LOCK],
    )?;
    let from = match look(&mut tx)? {
        Found::Nothing => 0,
        Found::Foreign => return Err(StoreError::Foreign),
        Found::Version(v) if v > PG_SCHEMA_VERSION => {
            return Err(StoreError::Schema {
                found: i64::from(v),
                expected: i64::from(PG_SCHEMA_VERSION),
            })
        }
        Found::Version(v) => v,
    };
    for (version, script) in UPGRADES.iter().filter(|(v, _)| *v > from) {
        tx.batch_execute(script)?;
        tx.execute(
            "INSERT INTO sampleflow.schema_version (version) VALUES ($1)
             ON CONFLICT (one) DO UPDATE SET version = $1, upgraded_at = now()",
            &[version],
        )?;
    }
    tx.commit()?;
    Ok(())
}
