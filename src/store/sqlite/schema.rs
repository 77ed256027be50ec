//! The SQLite store's schema: the tables this build writes, and the upgrade of an older file
//! (or none) to them in one transaction.

use rusqlite::{Connection, OptionalExtension};

use crate::store::StoreError;

/// The schema this build writes; an older one is upgraded, a newer one refused.
pub const SCHEMA_VERSION: i64 = 10;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS samples (
    shop TEXT NOT NULL,
    id TEXT NOT NULL,
    workflow TEXT NOT NULL,
    state TEXT NOT NULL,
    creator TEXT NOT NULL,
    product TEXT NOT NULL,
    category TEXT NOT NULL,
    data TEXT NOT NULL,
    chunks TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (shop, id)
);
CREATE INDEX IF NOT EXISTS samples_state ON samples(shop, state);
CREATE TABLE IF NOT EXISTS deadlines (
    shop TEXT NOT NULL,
    sample TEXT NOT NULL,
    name TEXT NOT NULL,
    due TEXT NOT NULL,
    seq INTEGER NOT NULL,
    held INTEGER NOT NULL,
    PRIMARY KEY (shop, sample, name)
);
CREATE INDEX IF NOT EXISTS deadlines_due ON deadlines(shop, due, seq);
CREATE TABLE IF NOT EXISTS ledgers (
    shop TEXT NOT NULL,
    creator TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (shop, creator)
);
CREATE TABLE IF NOT EXISTS event_chunks (
    shop TEXT NOT NULL,
    seq INTEGER NOT NULL,
    run INTEGER NOT NULL,
    ids TEXT NOT NULL,
    lens TEXT,
    raw BLOB NOT NULL,
    PRIMARY KEY (shop, seq)
);
CREATE TABLE IF NOT EXISTS log_chunks (
    shop TEXT NOT NULL,
    seq INTEGER NOT NULL,
    run INTEGER NOT NULL,
    samples TEXT NOT NULL,
    lens TEXT,
    text BLOB NOT NULL,
    PRIMARY KEY (shop, seq)
);
CREATE TABLE IF NOT EXISTS runs (
    shop TEXT NOT NULL,
    id INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (shop, id)
);
CREATE TABLE IF NOT EXISTS versions (
    shop TEXT NOT NULL,
    kind TEXT NOT NULL,
    hash TEXT NOT NULL,
    name TEXT NOT NULL,
    files TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (shop, kind, hash)
);
CREATE TABLE IF NOT EXISTS meta (
    shop TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (shop, key)
);
CREATE TABLE IF NOT EXISTS platform (
    shop TEXT NOT NULL,
    application TEXT NOT NULL,
    PRIMARY KEY (shop, application)
);
CREATE TABLE IF NOT EXISTS outbox (
    shop TEXT NOT NULL,
    sample TEXT NOT NULL,
    event TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    code INTEGER,
    message TEXT,
    queued_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (shop, sample, event)
);
CREATE TABLE IF NOT EXISTS unmappable (
    shop TEXT NOT NULL,
    application TEXT NOT NULL,
    product TEXT NOT NULL,
    reason TEXT NOT NULL,
    seen_at TEXT NOT NULL,
    PRIMARY KEY (shop, application)
);
CREATE TABLE IF NOT EXISTS console_sessions (
    shop TEXT NOT NULL,
    id_hash TEXT NOT NULL,
    key TEXT NOT NULL,
    started INTEGER NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (shop, id_hash)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS console_sessions_used ON console_sessions(shop, used);
";

/// Schema 10's step: the creators' platform usernames and the products' titles (the
/// connector's), and the index that finds a creator's samples.
pub(crate) const STEP_10: &str = "
CREATE TABLE IF NOT EXISTS creator_names (
    shop TEXT NOT NULL,
    creator TEXT NOT NULL,
    username TEXT NOT NULL,
    PRIMARY KEY (shop, creator)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS product_titles (
    shop TEXT NOT NULL,
    product TEXT NOT NULL,
    title TEXT NOT NULL,
    PRIMARY KEY (shop, product)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS samples_creator ON samples(shop, creator);
";

/// Schema 7's tables: what an older file is first brought to, before it is rebuilt with shops.
pub(crate) const SCHEMA_V7: &str = "
CREATE TABLE IF NOT EXISTS samples (
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    state TEXT NOT NULL,
    creator TEXT NOT NULL,
    product TEXT NOT NULL,
    category TEXT NOT NULL,
    data TEXT NOT NULL,
    chunks TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS samples_state ON samples(state);
CREATE TABLE IF NOT EXISTS deadlines (
    sample TEXT NOT NULL,
    name TEXT NOT NULL,
    due TEXT NOT NULL,
    seq INTEGER NOT NULL,
    held INTEGER NOT NULL,
    PRIMARY KEY (sample, name)
);
CREATE INDEX IF NOT EXISTS deadlines_due ON deadlines(due, seq);
CREATE TABLE IF NOT EXISTS ledgers (
    creator TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS event_chunks (
    seq INTEGER PRIMARY KEY,
    run INTEGER NOT NULL,
    ids TEXT NOT NULL,
    lens TEXT,
    raw BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS log_chunks (
    seq INTEGER PRIMARY KEY,
    run INTEGER NOT NULL,
    samples TEXT NOT NULL,
    lens TEXT,
    text BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    kind TEXT NOT NULL,
    hash TEXT NOT NULL,
    name TEXT NOT NULL,
    files TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (kind, hash)
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS platform (
    application TEXT PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS outbox (
    sample TEXT NOT NULL,
    event TEXT NOT NULL,
    decision TEXT NOT NULL,
    reason TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    code INTEGER,
    message TEXT,
    queued_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (sample, event)
);
CREATE TABLE IF NOT EXISTS unmappable (
    application TEXT PRIMARY KEY,
    product TEXT NOT NULL,
    reason TEXT NOT NULL,
    seen_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS console_sessions (
    id_hash TEXT PRIMARY KEY,
    key TEXT NOT NULL,
    started INTEGER NOT NULL,
    used INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS console_sessions_used ON console_sessions(used);
";

// A batch's events are kept as one chunk (`event_chunks`): their ids (a JSON array), their
// lengths (space-separated; none for a chunk of one) and their raw text, concatenated and
// packed as one frame. Its records likewise (`log_chunks`), with the sample each concerns (a
// JSON array, null for a refusal); a sample lists the record chunks that concern it (`chunks`,
// each seq followed by a space), which is all `history` needs to find them.

/// Schema 4 kept one row per event (`events`) and per record (`log`, indexed by sample). Each
/// becomes a chunk of one, with the same seq, and each sample lists its records' chunks; the
/// rows are packed frames (or schema 3 text) that read as they are in a chunk of one.
pub(crate) const UPGRADE_EVENTS: &str = "
INSERT INTO event_chunks (seq, run, ids, lens, raw)
    SELECT rowid, run, json_array(id), NULL, raw FROM events ORDER BY rowid;
DROP TABLE events;
";
pub(crate) const UPGRADE_LOG: &str = "
INSERT INTO log_chunks (seq, run, samples, lens, text)
    SELECT seq, run, json_array(sample), NULL, text FROM log ORDER BY seq;
UPDATE samples SET chunks = coalesce(
    (SELECT group_concat(seq || ' ', '' ORDER BY seq) FROM log WHERE log.sample = samples.id),
    '');
DROP TABLE log;
";

/// The schema version a file says it holds (0: none, a new or a foreign file).
pub(crate) fn stored_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// True when the file holds tables of its own: with no schema version, not a store of ours.
pub(crate) fn has_tables(conn: &Connection) -> Result<bool, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'",
        [],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// True when `sql` selects a row.
pub(crate) fn any_row(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<bool, StoreError> {
    Ok(conn
        .query_row(sql, params, |_| Ok(()))
        .optional()?
        .is_some())
}

/// True when the file has a table of this name.
pub(crate) fn has_table(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    any_row(
        conn,
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
    )
}

/// The script that brings a store of an older schema (or none) to this one, in one
/// transaction: what is missing is created, and rows kept the old way are moved. A file of
/// schema 1 to 7 is first brought to schema 7's tables, then each table is rebuilt with the
/// `shop` column leading its keys, its rows becoming shop `default`'s.
pub(crate) fn upgrade(conn: &Connection) -> Result<String, StoreError> {
    let mut sql = String::from("BEGIN;");
    let found = stored_version(conn)?;
    if found == 0 {
        sql.push_str(SCHEMA);
        sql.push_str(crate::store::shadow::SQLITE_TABLE);
        sql.push_str(crate::store::tables::SQLITE_ORDER_LINES);
        sql.push_str(STEP_10);
        sql.push_str(&format!("PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"));
        return Ok(sql);
    }
    // Schema 9 adds the order lines the connector reads (one step: a table of its own), 10 the
    // creators' platform usernames and the index that finds a creator's samples.
    if found == 8 {
        sql.push_str(crate::store::tables::SQLITE_ORDER_LINES);
    }
    if found == 8 || found == 9 {
        sql.push_str(STEP_10);
        sql.push_str(&format!("PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"));
        return Ok(sql);
    }
    let has_chunks = any_row(
        conn,
        "SELECT 1 FROM pragma_table_info('samples') WHERE name = 'chunks'",
        [],
    )?;
    if has_table(conn, "samples")? && !has_chunks {
        sql.push_str("ALTER TABLE samples ADD COLUMN chunks TEXT NOT NULL DEFAULT '';");
    }
    sql.push_str(SCHEMA_V7);
    sql.push_str(crate::store::shadow::SQLITE_TABLE_V7);
    if has_table(conn, "events")? {
        sql.push_str(UPGRADE_EVENTS);
    }
    if has_table(conn, "log")? {
        sql.push_str(UPGRADE_LOG);
    }
    sql.push_str(&with_shops());
    sql.push_str(crate::store::tables::SQLITE_ORDER_LINES);
    sql.push_str(STEP_10);
    sql.push_str(&format!("PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"));
    Ok(sql)
}

/// Schema 7's tables rebuilt as schema 8's: each renamed, made anew with `shop` leading its
/// keys and indexes, its rows copied as shop `default`'s (in the order they were written, so
/// that versions keep theirs) and the old one dropped. Chunk seqs are kept as they were.
fn with_shops() -> String {
    let tables: Vec<&crate::store::tables::Table> = crate::store::tables::TABLES
        .iter()
        .filter(|t| !crate::store::tables::AFTER_V7.contains(&t.name))
        .collect();
    let mut sql = String::from(
        "DROP INDEX IF EXISTS samples_state; DROP INDEX IF EXISTS deadlines_due;
         DROP INDEX IF EXISTS console_sessions_used; DROP INDEX IF EXISTS shadow_at;",
    );
    for t in &tables {
        sql.push_str(&format!("ALTER TABLE {0} RENAME TO v7_{0};", t.name));
    }
    sql.push_str(SCHEMA);
    sql.push_str(crate::store::shadow::SQLITE_TABLE);
    for t in &tables {
        let columns: Vec<&str> = t
            .columns
            .iter()
            .map(|(c, _)| *c)
            .filter(|c| *c != "shop")
            .collect();
        let columns = columns.join(", ");
        let order = if t.order.is_empty() { "rowid" } else { t.order };
        let order = order.trim_start_matches("shop, ");
        sql.push_str(&format!(
            "INSERT INTO {0} (shop, {columns}) SELECT 'default', {columns} FROM v7_{0} ORDER BY {order};
             DROP TABLE v7_{0};",
            t.name
        ));
    }
    sql
}

pub(crate) fn has_platform(conn: &Connection) -> Result<bool, StoreError> {
    any_row(conn, "SELECT 1 FROM platform LIMIT 1", [])
}
