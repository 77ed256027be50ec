//! The embedded store: SQLite (bundled) in WAL mode with `synchronous = NORMAL`, so a commit
//! survives the process being killed at any moment.

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use chrono::SecondsFormat;
use indexmap::IndexMap;
use rhai::ImmutableString;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};

use super::pack::Packer;
use super::{crash_point, Batch, Focus, LogRow, RunState, Store, StoreError, Version};
use crate::model::{Changes, Instance, Ledger, Meta, Snapshot};

/// The schema this build writes; an older one is upgraded, a newer one refused.
pub const SCHEMA_VERSION: i64 = 7;

const SCHEMA: &str = "
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
const UPGRADE_EVENTS: &str = "
INSERT INTO event_chunks (seq, run, ids, lens, raw)
    SELECT rowid, run, json_array(id), NULL, raw FROM events ORDER BY rowid;
DROP TABLE events;
";
const UPGRADE_LOG: &str = "
INSERT INTO log_chunks (seq, run, samples, lens, text)
    SELECT seq, run, json_array(sample), NULL, text FROM log ORDER BY seq;
UPDATE samples SET chunks = coalesce(
    (SELECT group_concat(seq || ' ', '' ORDER BY seq) FROM log WHERE log.sample = samples.id),
    '');
DROP TABLE log;
";

/// The event id the connector gives an application's first event (`tts-<app>-requested`):
/// the application it marks as the platform's.
pub(super) fn platform_application(event: &str) -> Option<&str> {
    event.strip_prefix("tts-")?.strip_suffix("-requested")
}

/// A decision a record makes that the platform must hear of: approve or reject, with its event
/// and reason. Records are our own JSON, so a substring tells the candidates cheaply.
pub(super) fn decision_of(text: &str) -> Option<(String, String, Option<String>, String)> {
    if !(text.contains("\"decision\":\"approve\"") || text.contains("\"decision\":\"reject\"")) {
        return None;
    }
    let r: serde_json::Value = serde_json::from_str(text).ok()?;
    Some((
        r["event"].as_str()?.to_string(),
        r["decision"].as_str()?.to_string(),
        r["reason"].as_str().map(str::to_string),
        r["at"].as_str()?.to_string(),
    ))
}

/// The schema version a file says it holds (0: none, a new or a foreign file).
fn stored_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// True when the file holds tables of its own: with no schema version, not a store of ours.
fn has_tables(conn: &Connection) -> Result<bool, StoreError> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'",
        [],
        |r| r.get(0),
    )?;
    Ok(n > 0)
}

/// True when `sql` selects a row.
fn any_row(
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
fn has_table(conn: &Connection, name: &str) -> Result<bool, StoreError> {
    any_row(
        conn,
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [name],
    )
}

/// The script that brings a store of an older schema (or none) to this one, in one
/// transaction: what is missing is created, and rows kept the old way are moved.
fn upgrade(conn: &Connection) -> Result<String, StoreError> {
    let mut sql = String::from("BEGIN;");
    let has_chunks = any_row(
        conn,
        "SELECT 1 FROM pragma_table_info('samples') WHERE name = 'chunks'",
        [],
    )?;
    if has_table(conn, "samples")? && !has_chunks {
        sql.push_str("ALTER TABLE samples ADD COLUMN chunks TEXT NOT NULL DEFAULT '';");
    }
    sql.push_str(SCHEMA);
    sql.push_str(super::shadow::SQLITE_TABLE);
    if has_table(conn, "events")? {
        sql.push_str(UPGRADE_EVENTS);
    }
    if has_table(conn, "log")? {
        sql.push_str(UPGRADE_LOG);
    }
    sql.push_str(&format!("PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"));
    Ok(sql)
}

fn has_platform(conn: &Connection) -> Result<bool, StoreError> {
    any_row(conn, "SELECT 1 FROM platform LIMIT 1", [])
}

/// One review call for the platform, as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutboxCall {
    /// The sample: the platform's application id.
    pub sample: String,
    /// The event whose record made the decision.
    pub event: String,
    /// `approve` or `reject`.
    pub decision: String,
    /// Our reason code (mapped to the platform's reject reason when sent).
    pub reason: Option<String>,
    /// `queued`, `sending` (in doubt after a crash), `sent` or `failed`.
    pub state: String,
    pub attempts: i64,
    /// The platform's last answer.
    pub code: Option<i64>,
    pub message: Option<String>,
    pub queued_at: String,
    pub updated_at: String,
}

/// The SQLite store.
pub struct SqliteStore {
    conn: Connection,
    commits: u64,
    crash_at: Option<u64>,
    /// The store holds samples of a connected shop: decisions on them go to the outbox.
    platform: bool,
    /// Rows are packed on the way in and unpacked on the way out (reads take `&self`).
    packer: RefCell<Packer>,
    /// Per sample, a fingerprint of the deadlines this store's commits last wrote for it (none
    /// when none were, or unknown: then they are written). Most changes of a sample leave its
    /// deadlines as they were, and deleting and inserting them again was much of a commit.
    deadlines: Fingerprints,
}

/// Fingerprints of written deadlines, by sample.
type Fingerprints = std::collections::HashMap<ImmutableString, u64, ahash::RandomState>;

impl SqliteStore {
    /// Opens (or creates) the database at `path`, creating or checking the schema. An SQLite
    /// file that is not a sampleflow store is refused and left as it was.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// Opens the store at `path` for reading only: nothing is created, upgraded or written, and
    /// it sees what a writer beside it has committed.
    pub fn open_read(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        match stored_version(&conn)? {
            SCHEMA_VERSION => {}
            0 => return Err(StoreError::Foreign),
            found if found > SCHEMA_VERSION => {
                return Err(StoreError::Schema {
                    found,
                    expected: SCHEMA_VERSION,
                })
            }
            found => return Err(StoreError::Old { found }),
        }
        let platform = has_platform(&conn)?;
        Ok(SqliteStore {
            conn,
            commits: 0,
            crash_at: None,
            platform,
            packer: RefCell::new(Packer::default()),
            deadlines: Fingerprints::default(),
        })
    }

    /// A private database in memory with the same schema (for tests of the SQL itself).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        // Looked at before anything is written, so a foreign file is left exactly as it was.
        if stored_version(&conn)? == 0 && has_tables(&conn)? {
            return Err(StoreError::Foreign);
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "cache_size", -65_536)?;
        // Checkpoints every 16k pages (64 MiB of log) rather than SQLite's 1k: a page the
        // runner's commits write again and again (samples, ledgers, deadlines) is copied back
        // into the database once per checkpoint, so fewer checkpoints copy fewer pages.
        conn.pragma_update(None, "wal_autocheckpoint", 16_384)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version = stored_version(&conn)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Schema {
                found: version,
                expected: SCHEMA_VERSION,
            });
        }
        if version < SCHEMA_VERSION {
            conn.execute_batch(&upgrade(&conn)?)?;
        }
        let platform = has_platform(&conn)?;
        Ok(SqliteStore {
            conn,
            commits: 0,
            crash_at: crash_point("commit"),
            platform,
            packer: RefCell::new(Packer::default()),
            deadlines: Fingerprints::default(),
        })
    }

    fn runner_meta(&self) -> Result<Meta, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'runner'", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(match text {
            Some(text) => serde_json::from_str(&text)?,
            None => Meta::default(),
        })
    }

    /// The ids of the connector's events applied so far (`tts-...`).
    pub fn platform_events(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        Ok(self
            .strings(
                "SELECT value FROM event_chunks, json_each(event_chunks.ids) WHERE value LIKE 'tts-%'",
                None,
            )?
            .into_iter()
            .collect())
    }

    /// Every call of the outbox, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxCall>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT sample, event, decision, reason, state, attempts, code, message, queued_at, updated_at
             FROM outbox ORDER BY queued_at, sample",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(OutboxCall {
                    sample: r.get(0)?,
                    event: r.get(1)?,
                    decision: r.get(2)?,
                    reason: r.get(3)?,
                    state: r.get(4)?,
                    attempts: r.get(5)?,
                    code: r.get(6)?,
                    message: r.get(7)?,
                    queued_at: r.get(8)?,
                    updated_at: r.get(9)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Moves one call of the outbox to `state`, with the platform's last answer; committed at
    /// once (a call marked `sending` before it goes is known to be in doubt after a crash).
    pub fn set_call(
        &mut self,
        call: &OutboxCall,
        state: &str,
        code: Option<i64>,
        message: Option<&str>,
        now: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE outbox SET state = ?3, attempts = attempts + ?4, code = ?5, message = ?6, updated_at = ?7
             WHERE sample = ?1 AND event = ?2",
            params![
                call.sample,
                call.event,
                state,
                i64::from(state == "sending"),
                code,
                message,
                now
            ],
        )?;
        Ok(())
    }

    /// Keeps (or, with `None`, forgets) why an application could not be mapped.
    pub fn set_unmappable(
        &mut self,
        application: &str,
        product: &str,
        why: Option<&str>,
        now: &str,
    ) -> Result<(), StoreError> {
        match why {
            Some(why) => self.conn.execute(
                "INSERT INTO unmappable (application, product, reason, seen_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(application) DO UPDATE SET product = ?2, reason = ?3, seen_at = ?4",
                params![application, product, why, now],
            )?,
            None => self
                .conn
                .execute("DELETE FROM unmappable WHERE application = ?1", [application])?,
        };
        Ok(())
    }

    /// Applications that could not be mapped: application, product, why, when last seen.
    pub fn unmappable(&self) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT application, product, reason, seen_at FROM unmappable ORDER BY application",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Each line of the record log, in order (of one run, or all), with its sample.
    fn each_log(
        &self,
        run: Option<i64>,
        f: &mut dyn FnMut(Option<String>, String) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT samples, lens, text FROM log_chunks WHERE ?1 IS NULL OR run = ?1 ORDER BY seq",
        )?;
        let mut rows = stmt.query([run])?;
        let mut packer = self.packer.borrow_mut();
        while let Some(row) = rows.next()? {
            let (samples, texts) = log_chunk(&mut packer, row)?;
            for (sample, text) in samples.into_iter().zip(texts) {
                f(sample, text)?;
            }
        }
        Ok(())
    }

    /// The one packed value `sql` selects for `key`, if there is a row.
    fn one(&self, sql: &str, key: &str) -> Result<Option<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query([key])?;
        match rows.next()? {
            Some(row) => Ok(Some(self.packer.borrow_mut().unpack(row.get_ref(0)?)?)),
            None => Ok(None),
        }
    }

    fn strings(
        &self,
        sql: &str,
        param: Option<&dyn rusqlite::ToSql>,
    ) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(sql)?;
        let mut rows = match param {
            Some(p) => stmt.query([p])?,
            None => stmt.query([])?,
        };
        let mut packer = self.packer.borrow_mut();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(packer.unpack(row.get_ref(0)?)?);
        }
        Ok(out)
    }
}

/// The samples and texts of a record chunk (a row of `samples, lens, text`), as many of each.
fn log_chunk(
    packer: &mut Packer,
    row: &rusqlite::Row<'_>,
) -> Result<(Vec<Option<String>>, Vec<String>), StoreError> {
    let samples: Vec<Option<String>> = serde_json::from_str(&row.get::<_, String>(0)?)?;
    let lens: Option<String> = row.get(1)?;
    let texts = packer.unpack_many(lens.as_deref(), row.get_ref(2)?)?;
    if samples.len() != texts.len() {
        return Err(StoreError::Damaged(
            "a record chunk whose samples and records do not pair".into(),
        ));
    }
    Ok((samples, texts))
}

/// The latest version of each sample and ledger a commit changed, written once at its end
/// however many of its batches changed them, with the record chunks each sample gained.
#[derive(Default)]
struct Latest {
    samples: IndexMap<ImmutableString, Arc<Instance>>,
    ledgers: IndexMap<String, Arc<Ledger>>,
    /// Per sample, the seqs of this commit's record chunks that concern it, in order.
    links: IndexMap<String, Vec<i64>>,
}

impl Latest {
    fn keep(&mut self, changes: Changes) {
        for inst in changes.samples {
            self.samples.insert(inst.sample.id.clone(), inst);
        }
        self.ledgers.extend(changes.ledgers);
    }

    /// Notes that the record chunk `seq` concerns `sample`: once per chunk, since chunks are
    /// written in order.
    fn link(&mut self, sample: &str, seq: i64) {
        match self.links.get_mut(sample) {
            Some(seqs) if seqs.last() == Some(&seq) => {}
            Some(seqs) => seqs.push(seq),
            None => {
                self.links.insert(sample.to_string(), vec![seq]);
            }
        }
    }

    /// Writes the commit's samples and ledgers; gives the deadline fingerprints to keep once
    /// the transaction commits (`None`: forget the sample's).
    fn write(
        &mut self,
        tx: &Transaction<'_>,
        packer: &mut Packer,
        written: &Fingerprints,
    ) -> Result<Vec<(ImmutableString, Option<u64>)>, StoreError> {
        let mut kept = Vec::new();
        let mut sample = tx.prepare_cached(
            "INSERT INTO samples (id, workflow, state, creator, product, category, data, chunks)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (id) DO UPDATE SET workflow = ?2, state = ?3, data = ?7, chunks = chunks || ?8",
        )?;
        let mut clear = tx.prepare_cached("DELETE FROM deadlines WHERE sample = ?1")?;
        let mut deadline = tx.prepare_cached(
            "INSERT INTO deadlines (sample, name, due, seq, held) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        // One buffer for every row's text.
        let mut row = String::with_capacity(2048);
        for inst in self.samples.values() {
            let s = &inst.sample;
            let links = chunk_list(&self.links.swap_remove(s.id.as_str()).unwrap_or_default());
            sample.execute(params![
                s.id.as_str(),
                inst.workflow.as_str(),
                s.state.as_str(),
                s.creator.as_str(),
                s.product.as_str(),
                s.category.as_str(),
                {
                    row.clear();
                    inst.write_json(&mut row);
                    packer.pack(&row)?
                },
                links,
            ])?;
            let (print, before) = (fingerprint(&inst.deadlines), written.get(&s.id));
            if print.is_some() && before == print.as_ref() {
                continue;
            }
            clear.execute([s.id.as_str()])?;
            if print.is_some() || before.is_some() {
                kept.push((s.id.clone(), print));
            }
            for d in &inst.deadlines {
                deadline.execute(params![
                    s.id.as_str(),
                    d.name.as_str(),
                    crate::model::Rfc3339::new(&d.due).as_str(),
                    d.seq as i64,
                    d.held,
                ])?;
            }
        }
        // A record is made by a change of its sample, so a sample left here is unusual; it
        // is linked all the same where it is stored.
        let mut link =
            tx.prepare_cached("UPDATE samples SET chunks = chunks || ?2 WHERE id = ?1")?;
        for (id, seqs) in &self.links {
            link.execute(params![id, chunk_list(seqs)])?;
        }
        let mut ledger =
            tx.prepare_cached("INSERT INTO ledgers (creator, data) VALUES (?1, ?2) ON CONFLICT (creator) DO UPDATE SET data = ?2")?;
        for (id, l) in &self.ledgers {
            row.clear();
            l.write_json(&mut row);
            ledger.execute(params![id, packer.pack(&row)?])?;
        }
        Ok(kept)
    }
}

/// What identifies a sample's deadlines as written (name, due time, arming order, held); none
/// for no deadlines.
pub(super) fn fingerprint(deadlines: &[crate::model::Armed]) -> Option<u64> {
    if deadlines.is_empty() {
        return None;
    }
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for d in deadlines {
        h.update(d.name.as_bytes());
        h.update(&[0, u8::from(d.held)]);
        h.update(&d.due.timestamp().to_le_bytes());
        h.update(&d.due.timestamp_subsec_nanos().to_le_bytes());
        h.update(&d.seq.to_le_bytes());
    }
    Some(h.digest())
}

/// Seqs as `samples.chunks` lists them: each followed by a space, so lists append.
pub(super) fn chunk_list(seqs: &[i64]) -> String {
    seqs.iter().map(|seq| format!("{seq} ")).collect()
}

/// The most text a chunk holds (more makes another): a batch of long lines stays in frames a
/// reader may unpack (see `MAX_ROW` in `pack.rs`).
const CHUNK_BYTES: usize = 8 << 20;

/// `items` cut into runs of at most [`CHUNK_BYTES`] of text (an item longer than that alone),
/// in order; none for no items.
pub(super) fn chunks<T>(items: &[T], size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let n = size(item);
        if i > start && bytes + n > CHUNK_BYTES {
            out.push(&items[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += n;
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

/// Writes what a batch adds (its events and its records, each as one chunk or a few; the outbox calls
/// they make) into an open transaction, and the batch's position in its run and the runner's
/// counters.
fn append(
    tx: &Transaction<'_>,
    packer: &mut Packer,
    connected: &mut bool,
    latest: &mut Latest,
    batch: &Batch,
) -> Result<(), StoreError> {
    for events in chunks(&batch.events, |e| e.raw.len()) {
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        let (lens, raw) = packer.pack_many(events.iter().map(|e| e.raw.as_str()))?;
        tx.prepare_cached(
            "INSERT INTO event_chunks (run, ids, lens, raw) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            batch.run.id,
            serde_json::to_string(&ids)?,
            lens,
            raw
        ])?;
        let mut platform =
            tx.prepare_cached("INSERT OR IGNORE INTO platform (application) VALUES (?1)")?;
        for app in ids.iter().filter_map(|id| platform_application(id)) {
            platform.execute([app])?;
            *connected = true;
        }
    }
    for log in chunks(&batch.log, |l| l.text.len()) {
        let samples: Vec<Option<&str>> = log.iter().map(LogRow::sample_id).collect();
        let (lens, text) = packer.pack_many(log.iter().map(|l| l.text.as_str()))?;
        tx.prepare_cached(
            "INSERT INTO log_chunks (run, samples, lens, text) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            batch.run.id,
            serde_json::to_string(&samples)?,
            lens,
            text
        ])?;
        let seq = tx.last_insert_rowid();
        for sample in samples.iter().flatten() {
            latest.link(sample, seq);
        }
    }
    // A decision on a platform sample is queued for the platform in this same transaction:
    // committed together, or neither.
    if *connected {
        let mut outbox = tx.prepare_cached(
            "INSERT OR IGNORE INTO outbox (sample, event, decision, reason, state, queued_at, updated_at)
             SELECT ?1, ?2, ?3, ?4, 'queued', ?5, ?5
             WHERE EXISTS (SELECT 1 FROM platform WHERE application = ?1)",
        )?;
        for l in &batch.log {
            if let (Some(sample), Some((event, decision, reason, at))) =
                (l.sample_id(), decision_of(&l.text))
            {
                outbox.execute(params![sample, event, decision, reason, at])?;
            }
        }
    }
    super::shadow::sqlite_write(tx, &batch.changes.shadows)?;
    tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES ('runner', ?1)")?
        .execute([serde_json::to_string(&batch.changes.meta)?])?;
    tx.prepare_cached("INSERT OR REPLACE INTO runs (id, data) VALUES (?1, ?2)")?
        .execute(params![batch.run.id, serde_json::to_string(&batch.run)?])?;
    Ok(())
}

impl Store for SqliteStore {
    fn state_counts(&mut self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT state, count(*) FROM samples GROUP BY state")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        let mut counts = std::collections::BTreeMap::new();
        for row in rows {
            let (state, n) = row?;
            counts.insert(state, n.max(0) as u64);
        }
        Ok(counts)
    }

    fn reader(&self) -> Option<Box<dyn crate::model::Fallback>> {
        let path = self.conn.path().filter(|p| !p.is_empty())?;
        let reader = SqliteStore::open_read(Path::new(path)).ok()?;
        Some(Box::new(reader))
    }

    fn load(&mut self) -> Result<Snapshot, StoreError> {
        let samples = self.samples()?;
        let mut stmt = self.conn.prepare("SELECT creator, data FROM ledgers")?;
        let mut rows = stmt.query([])?;
        let mut ledgers: Vec<(String, Ledger)> = Vec::new();
        while let Some(row) = rows.next()? {
            let data = self.packer.borrow_mut().unpack(row.get_ref(1)?)?;
            ledgers.push((row.get(0)?, serde_json::from_str(&data)?));
        }
        drop(rows);
        drop(stmt);
        Ok(Snapshot {
            samples,
            ledgers,
            meta: self.runner_meta()?,
            applied: self.strings(
                "SELECT value FROM event_chunks, json_each(event_chunks.ids)
                 ORDER BY event_chunks.seq, json_each.key",
                None,
            )?,
        })
    }

    fn load_around(&mut self, focus: &Focus) -> Result<Snapshot, StoreError> {
        let meta = self.runner_meta()?;
        let by = meta.clock.map_or(focus.at, |c| c.max(focus.at));
        // Due times are kept as RFC 3339 text, whose fractions do not sort as numbers do: the
        // next whole second is a bound every due time up to `by` sorts below.
        let bound = crate::model::after(by, 1).to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut ids: std::collections::BTreeSet<String> = focus.samples.iter().cloned().collect();
        ids.extend(self.strings(
            "SELECT DISTINCT sample FROM deadlines WHERE due < ?1",
            Some(&bound),
        )?);
        let mut samples = Vec::new();
        for id in &ids {
            samples.extend(self.sample(id)?);
        }
        let mut creators: std::collections::BTreeSet<String> =
            focus.creators.iter().cloned().collect();
        creators.extend(samples.iter().map(|s| s.sample.creator.to_string()));
        let mut ledgers = Vec::new();
        for creator in creators {
            if let Some(ledger) = self.ledger(&creator)? {
                ledgers.push((creator, ledger));
            }
        }
        Ok(Snapshot {
            samples,
            ledgers,
            meta,
            applied: Vec::new(),
        })
    }

    fn meta(&mut self) -> Result<Meta, StoreError> {
        self.runner_meta()
    }

    fn last_run(&mut self) -> Result<Option<RunState>, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT data FROM runs ORDER BY id DESC LIMIT 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        self.commit_group(batch.clone(), &mut |_| None).map(|_| ())
    }

    fn commit_group(
        &mut self,
        first: Batch,
        more: &mut dyn FnMut(u64) -> Option<Batch>,
    ) -> Result<u64, StoreError> {
        super::check_finite(&first)?;
        let tx = self.conn.transaction()?;
        let packer = self.packer.get_mut();
        let mut latest = Latest::default();
        let mut written = 0;
        let mut refused = None;
        let mut crash = false;
        let mut next = Some(first);
        while let Some(batch) = next {
            append(&tx, packer, &mut self.platform, &mut latest, &batch)?;
            latest.keep(batch.changes);
            self.commits += 1;
            crash |= self.crash_at == Some(self.commits);
            written += 1;
            next = more(written);
            // A batch that cannot be written is refused whole, after the ones before it
            // commit, as it would be if each were committed alone.
            if let Some(e) = next.as_ref().and_then(|b| super::check_finite(b).err()) {
                refused = Some(e);
                break;
            }
        }
        let prints = latest.write(&tx, packer, &self.deadlines)?;
        if crash {
            std::process::abort();
        }
        tx.commit()?;
        // Only what is committed is known to be in the store.
        for (sample, print) in prints {
            match print {
                Some(print) => self.deadlines.insert(sample, print),
                None => self.deadlines.remove(&sample),
            };
        }
        refused.map_or(Ok(written), Err)
    }

    fn run_log(&mut self, run: i64) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        self.each_log(Some(run), &mut |_, text| {
            out.push(text);
            Ok(())
        })?;
        Ok(out)
    }

    fn sample_log(&mut self, sample: &str) -> Result<Vec<String>, StoreError> {
        let Some(chunks) = self
            .conn
            .query_row("SELECT chunks FROM samples WHERE id = ?1", [sample], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
        else {
            return Ok(Vec::new());
        };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT samples, lens, text FROM log_chunks WHERE seq = ?1")?;
        let mut packer = self.packer.borrow_mut();
        let mut out = Vec::new();
        for seq in chunks.split_whitespace() {
            let seq: i64 = seq.parse().map_err(|_| {
                StoreError::Damaged(format!("sample `{sample}` lists record chunk `{seq}`"))
            })?;
            let mut rows = stmt.query([seq])?;
            let Some(row) = rows.next()? else {
                return Err(StoreError::Damaged(format!(
                    "sample `{sample}` lists record chunk {seq}, which is missing"
                )));
            };
            let (samples, texts) = log_chunk(&mut packer, row)?;
            out.extend(
                samples
                    .into_iter()
                    .zip(texts)
                    .filter(|(s, _)| s.as_deref() == Some(sample))
                    .map(|(_, text)| text),
            );
        }
        Ok(out)
    }

    fn samples(&mut self) -> Result<Vec<Instance>, StoreError> {
        self.strings("SELECT data FROM samples ORDER BY id", None)?
            .iter()
            .map(|t| Ok(serde_json::from_str(t)?))
            .collect()
    }

    fn sample(&mut self, id: &str) -> Result<Option<Instance>, StoreError> {
        let text = self.one("SELECT data FROM samples WHERE id = ?1", id)?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    fn ledger(&mut self, creator: &str) -> Result<Option<Ledger>, StoreError> {
        let text = self.one("SELECT data FROM ledgers WHERE creator = ?1", creator)?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    fn events(&mut self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT lens, raw FROM event_chunks ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        let mut packer = self.packer.borrow_mut();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let lens: Option<String> = row.get(0)?;
            out.extend(packer.unpack_many(lens.as_deref(), row.get_ref(1)?)?);
        }
        Ok(out)
    }

    fn each_record(
        &mut self,
        f: &mut dyn FnMut(&str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.each_log(None, &mut |sample, text| match sample {
            Some(_) => f(&text),
            None => Ok(()),
        })
    }

    fn save_versions(&mut self, versions: &[Version]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO versions (kind, hash, name, files, first_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for v in versions {
                insert.execute(params![
                    v.kind,
                    v.hash,
                    v.name,
                    serde_json::to_string(&v.files)?,
                    v.first_seen
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn shadows(&mut self) -> Result<Vec<crate::model::ShadowDecision>, StoreError> {
        super::shadow::sqlite_read(&self.conn)
    }

    fn versions(&mut self) -> Result<Vec<Version>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT kind, hash, name, files, first_seen FROM versions ORDER BY rowid")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(kind, hash, name, files, first_seen)| {
                Ok(Version {
                    kind,
                    hash,
                    name,
                    files: serde_json::from_str(&files)?,
                    first_seen,
                })
            })
            .collect()
    }
}

/// A store read back, for a runner that lets ended samples leave memory. A read that fails is
/// taken as nothing found: the event is refused, and the store says why in the next write.
impl crate::model::Fallback for SqliteStore {
    fn sample(&mut self, id: &str) -> Option<Instance> {
        Store::sample(self, id).ok().flatten()
    }

    fn ledger(&mut self, creator: &str) -> Option<Ledger> {
        Store::ledger(self, creator).ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_store_is_upgraded_and_keeps_versions_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).expect("opens");
            conn.execute_batch(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 INSERT INTO meta VALUES ('runner', '{}');
                 PRAGMA user_version = 1;",
            )
            .expect("a version 1 store");
        }
        let mut store = SqliteStore::open(&path).expect("upgrades");
        let v = Version {
            kind: "rules".into(),
            hash: "abc".into(),
            name: "rules".into(),
            files: vec![("policy.yaml".into(), "default: {}".into())],
            first_seen: "2026-02-01T00:00:00Z".into(),
        };
        store
            .save_versions(std::slice::from_ref(&v))
            .expect("saves");
        let later = Version {
            first_seen: "2026-03-01T00:00:00Z".into(),
            ..v.clone()
        };
        store.save_versions(&[later]).expect("saves again");
        assert_eq!(store.versions().expect("reads"), vec![v]);
        let version: i64 = store
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
    }

    fn batch(n: u64, credit: f64) -> Batch {
        let ledger = Ledger {
            credit,
            ..Ledger::default()
        };
        Batch {
            changes: crate::model::Changes {
                ledgers: vec![("c1".into(), ledger.into())],
                ..Default::default()
            },
            events: vec![super::super::EventRow {
                id: format!("e{n}").into(),
                line: n,
                raw: format!("{{\"id\":\"e{n}\"}}"),
            }],
            log: Vec::new(),
            run: RunState {
                id: 1,
                lines: n,
                ..RunState::default()
            },
        }
    }

    #[test]
    fn a_group_commits_every_batch_and_the_last_version_of_what_they_changed() {
        let mut store = SqliteStore::open_in_memory().expect("store");
        let mut rest = vec![batch(3, 3.0), batch(2, 2.0)];
        let written = store
            .commit_group(batch(1, 1.0), &mut |_| rest.pop())
            .expect("commits");
        assert_eq!(written, 3);
        assert_eq!(
            store.ledger("c1").expect("reads").map(|l| l.credit),
            Some(3.0)
        );
        let events = store.events().expect("events");
        assert_eq!(events.len(), 3, "every batch's events: {events:?}");
        assert_eq!(store.last_run().expect("run").map(|r| r.lines), Some(3));
    }

    #[test]
    fn a_group_stops_at_the_number_it_is_given() {
        let mut store = SqliteStore::open_in_memory().expect("store");
        let mut rest = vec![batch(3, 3.0), batch(2, 2.0)];
        let written = store
            .commit_group(batch(1, 1.0), &mut |n| {
                (n < 2).then(|| rest.pop()).flatten()
            })
            .expect("commits");
        assert_eq!(written, 2);
        assert_eq!(
            store.ledger("c1").expect("reads").map(|l| l.credit),
            Some(2.0)
        );
        assert_eq!(rest.len(), 1, "the third batch was left to the next commit");
    }

    #[test]
    fn a_batch_refused_in_a_group_leaves_the_ones_before_it_committed() {
        let mut store = SqliteStore::open_in_memory().expect("store");
        let mut rest = vec![batch(4, 4.0), batch(3, f64::NAN), batch(2, 2.0)];
        let refused = store.commit_group(batch(1, 1.0), &mut |_| rest.pop());
        assert!(
            matches!(refused, Err(StoreError::NotFinite(ref what)) if what.contains("c1")),
            "{refused:?}"
        );
        assert_eq!(
            store.ledger("c1").expect("reads").map(|l| l.credit),
            Some(2.0)
        );
        assert_eq!(store.events().expect("events").len(), 2);
        assert_eq!(store.last_run().expect("run").map(|r| r.lines), Some(2));
        assert_eq!(rest.len(), 1, "nothing after the refused batch was taken");
    }

    #[test]
    fn a_schema_3_store_keeps_its_text_rows_readable_beside_packed_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v3.db");
        let ledger = Ledger {
            samples: 2,
            credit: -5.0,
            ..Ledger::default()
        };
        let text = serde_json::to_string(&ledger).expect("json");
        {
            let conn = Connection::open(&path).expect("opens");
            conn.execute_batch(&format!("BEGIN; {SCHEMA} PRAGMA user_version = 3; COMMIT;"))
                .expect("a schema 3 store");
            conn.execute(
                "INSERT INTO ledgers (creator, data) VALUES ('c-old', ?1)",
                [&text],
            )
            .expect("a text row");
        }
        let mut store = SqliteStore::open(&path).expect("upgrades");
        let batch = Batch {
            changes: crate::model::Changes {
                ledgers: vec![("c-new".into(), ledger.clone().into())],
                ..Default::default()
            },
            events: Vec::new(),
            log: Vec::new(),
            run: RunState::default(),
        };
        store.commit(&batch).expect("commits");
        assert_eq!(store.ledger("c-old").expect("reads"), Some(ledger.clone()));
        assert_eq!(store.ledger("c-new").expect("reads"), Some(ledger));
        let kinds: Vec<String> = store
            .strings("SELECT typeof(data) FROM ledgers ORDER BY creator", None)
            .expect("types");
        assert_eq!(
            kinds,
            ["blob", "text"],
            "the new row is packed, the old one kept"
        );
        let version: i64 = store
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
    }
}

#[cfg(test)]
mod chunk_tests {
    use super::*;
    use crate::store::EventRow;

    fn instance(id: &str, records: u32) -> Arc<Instance> {
        let text = format!(
            r#"{{"sample":{{"id":"{id}","state":"shipped","creator":"c1","product":"p1","category":"beauty","quantity":1,"cost":6.0,"gmv":0.0,"deposit":null,"keep_up_content":null}},"workflow":"sample","creator":{{"id":"c1","followers":10000,"engagement_rate":0.05,"posts_30d":10,"gmv_30d":1000.0,"avg_video_views":5000.0,"fulfillment_rate_90d":0.9,"top_categories":["beauty"]}},"product":{{"id":"p1","category":"beauty","price":19.99,"unit_cost":6.0,"flags":[]}},"requested_at":"2026-01-01T00:00:00Z","last_at":"2026-01-01T00:00:00Z","decision":"approve","reason":"auto_approved","tier":"new","rules":"","opened":true,"shipping_cost":0.0,"tracking_number":null,"carrier":null,"review":null,"review_reason":null,"reviewed_by":null,"contents":{{}},"extensions":{{}},"deadlines":[],"records":{records}}}"#
        );
        Arc::new(serde_json::from_str(&text).expect("an instance"))
    }

    fn record(sample: &str, n: u32) -> LogRow {
        LogRow {
            line: 0,
            sample: Some(sample.into()),
            text: format!(r#"{{"sample":"{sample}","n":{n}}}"#),
        }
    }

    fn refusal(line: u64) -> LogRow {
        LogRow {
            line,
            sample: None,
            text: format!(r#"{{"line":{line},"error":"duplicate_event"}}"#),
        }
    }

    fn event(id: &str) -> EventRow {
        EventRow {
            id: id.into(),
            line: 0,
            raw: format!(r#"{{"id":"{id}","type":"tick"}}"#),
        }
    }

    fn count(store: &SqliteStore, table: &str) -> i64 {
        store
            .conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .expect("count")
    }

    fn texts(rows: &[LogRow]) -> Vec<String> {
        rows.iter().map(|l| l.text.clone()).collect()
    }

    /// A sample's deadlines as the store's table holds them.
    fn stored_deadlines(store: &SqliteStore, sample: &str) -> Vec<(String, String, i64, bool)> {
        let mut stmt = store
            .conn
            .prepare("SELECT name, due, seq, held FROM deadlines WHERE sample = ?1 ORDER BY name")
            .expect("query");
        let rows = stmt
            .query_map([sample], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .expect("rows");
        rows.map(|r| r.expect("row")).collect()
    }

    fn armed(name: &str, due: &str, seq: u64, held: bool) -> crate::model::Armed {
        crate::model::Armed {
            name: name.into(),
            of_state: true,
            due: due.parse().expect("a time"),
            seq,
            held,
        }
    }

    fn with_deadlines(id: &str, records: u32, deadlines: Vec<crate::model::Armed>) -> Batch {
        let mut inst = (*instance(id, records)).clone();
        inst.deadlines = deadlines;
        Batch {
            changes: Changes {
                samples: vec![Arc::new(inst)],
                ..Default::default()
            },
            ..Batch::default()
        }
    }

    /// Deadlines are written again only when they changed since this store last wrote them:
    /// the same ones are skipped, any change (a due time, held, a new one, none) is written,
    /// and a store opened anew (which knows nothing it wrote) writes them.
    #[test]
    fn deadlines_are_written_when_they_changed() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("s.db");
        let mut store = SqliteStore::open(&path).expect("store");
        let ship = armed("ship_by", "2026-01-08T00:00:00Z", 1, false);
        store
            .commit(&with_deadlines("s1", 1, vec![ship.clone()]))
            .expect("commits");
        let one = vec![(
            "ship_by".to_string(),
            "2026-01-08T00:00:00Z".to_string(),
            1,
            false,
        )];
        assert_eq!(stored_deadlines(&store, "s1"), one);
        // Rows put there behind the store's back show whether it wrote them again.
        store
            .conn
            .execute("UPDATE deadlines SET seq = 99 WHERE sample = 's1'", [])
            .expect("update");
        store
            .commit(&with_deadlines("s1", 2, vec![ship.clone()]))
            .expect("commits");
        assert_eq!(
            stored_deadlines(&store, "s1")[0].2,
            99,
            "unchanged: not written"
        );
        for (deadlines, expected) in [
            (
                vec![armed("ship_by", "2026-01-09T00:00:00.5Z", 1, false)],
                vec![(
                    "ship_by".into(),
                    "2026-01-09T00:00:00.500Z".into(),
                    1,
                    false,
                )],
            ),
            (
                vec![armed("ship_by", "2026-01-09T00:00:00.5Z", 1, true)],
                vec![("ship_by".into(), "2026-01-09T00:00:00.500Z".into(), 1, true)],
            ),
            (
                vec![
                    armed("ship_by", "2026-01-09T00:00:00.5Z", 1, true),
                    armed("post_by", "2026-02-01T00:00:00Z", 2, false),
                ],
                vec![
                    ("post_by".into(), "2026-02-01T00:00:00Z".into(), 2, false),
                    ("ship_by".into(), "2026-01-09T00:00:00.500Z".into(), 1, true),
                ],
            ),
            (vec![], vec![]),
            (vec![ship.clone()], one.clone()),
        ] {
            store
                .commit(&with_deadlines("s1", 3, deadlines))
                .expect("commits");
            assert_eq!(stored_deadlines(&store, "s1"), expected);
        }
        store
            .conn
            .execute("UPDATE deadlines SET seq = 99 WHERE sample = 's1'", [])
            .expect("update");
        drop(store);
        let mut store = SqliteStore::open(&path).expect("store");
        store
            .commit(&with_deadlines("s1", 4, vec![ship]))
            .expect("commits");
        assert_eq!(
            stored_deadlines(&store, "s1"),
            one,
            "a new store writes them"
        );
    }

    #[test]
    fn a_batch_keeps_its_events_and_records_as_one_chunk_each_and_reads_them_back() {
        let mut store = SqliteStore::open_in_memory().expect("store");
        let log = vec![
            record("s1", 1),
            refusal(2),
            record("s2", 1),
            record("s1", 2),
        ];
        let first = Batch {
            changes: Changes {
                samples: vec![instance("s1", 2), instance("s2", 1)],
                ..Default::default()
            },
            events: vec![event("e1"), event("x-tts-2"), event("tts-a1-requested")],
            log: log.clone(),
            run: RunState {
                id: 1,
                ..RunState::default()
            },
        };
        store.commit(&first).expect("commits");
        assert_eq!(count(&store, "event_chunks"), 1);
        assert_eq!(count(&store, "log_chunks"), 1);
        // A second batch, of another run: a record of s1 whose sample did not change (it is
        // linked all the same), and one of a sample that is not stored (nothing to link).
        let second = Batch {
            events: vec![event("e3")],
            log: vec![record("s1", 3), record("s9", 1)],
            run: RunState {
                id: 2,
                ..RunState::default()
            },
            ..Batch::default()
        };
        store.commit(&second).expect("commits");

        let all: Vec<String> = first
            .events
            .iter()
            .chain(&second.events)
            .map(|e| e.raw.clone())
            .collect();
        assert_eq!(store.events().expect("events"), all);
        let ids = store.load().expect("load").applied;
        assert_eq!(ids, ["e1", "x-tts-2", "tts-a1-requested", "e3"]);
        assert_eq!(
            store.platform_events().expect("platform"),
            ["tts-a1-requested".to_string()].into_iter().collect()
        );
        assert_eq!(store.run_log(1).expect("run 1"), texts(&log));
        assert_eq!(store.run_log(2).expect("run 2"), texts(&second.log));
        assert_eq!(
            store.sample_log("s1").expect("s1"),
            [
                log[0].text.clone(),
                log[3].text.clone(),
                second.log[0].text.clone()
            ]
        );
        assert_eq!(store.sample_log("s2").expect("s2"), [log[2].text.clone()]);
        assert!(store.sample_log("s3").expect("s3").is_empty());
        let mut records = Vec::new();
        store
            .each_record(&mut |r| {
                records.push(r.to_string());
                Ok(())
            })
            .expect("records");
        assert_eq!(records.len(), 5, "every record, no refusal: {records:?}");
        let chunks: String = store
            .conn
            .query_row("SELECT chunks FROM samples WHERE id = 's1'", [], |r| {
                r.get(0)
            })
            .expect("chunks");
        assert_eq!(chunks, "1 2 ", "each chunk once");
    }

    /// The tables of a schema 4 store that schema 5 keeps otherwise.
    const SCHEMA_4: &str = "
        CREATE TABLE samples (id TEXT PRIMARY KEY, workflow TEXT NOT NULL, state TEXT NOT NULL,
            creator TEXT NOT NULL, product TEXT NOT NULL, category TEXT NOT NULL, data TEXT NOT NULL);
        CREATE TABLE events (id TEXT NOT NULL, run INTEGER NOT NULL, line INTEGER NOT NULL, raw TEXT NOT NULL);
        CREATE TABLE log (seq INTEGER PRIMARY KEY, run INTEGER NOT NULL, line INTEGER NOT NULL,
            sample TEXT, text TEXT NOT NULL);
        CREATE INDEX log_sample ON log(sample) WHERE sample IS NOT NULL;
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        PRAGMA user_version = 4;";

    #[test]
    fn a_schema_4_store_is_upgraded_to_chunks_and_reads_as_it_did() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("v4.db");
        let log = [
            record("s1", 1),
            refusal(2),
            record("s2", 1),
            record("s1", 2),
        ];
        let events = [event("e1"), event("e2")];
        {
            let conn = Connection::open(&path).expect("opens");
            conn.execute_batch(SCHEMA_4).expect("a schema 4 store");
            let mut packer = Packer::default();
            for id in ["s1", "s2"] {
                let data = serde_json::to_string(&instance(id, 1)).expect("json");
                conn.execute(
                    "INSERT INTO samples VALUES (?1, 'sample', 'shipped', 'c1', 'p1', 'beauty', ?2)",
                    params![id, packer.pack(&data).expect("packs")],
                )
                .expect("a sample");
            }
            for e in &events {
                conn.execute(
                    "INSERT INTO events VALUES (?1, 1, 1, ?2)",
                    params![e.id.as_str(), packer.pack(&e.raw).expect("packs")],
                )
                .expect("an event");
            }
            // A schema 3 row (text) beside packed ones.
            conn.execute(
                "INSERT INTO events VALUES ('e0', 1, 1, '{\"id\":\"e0\"}')",
                [],
            )
            .expect("a text event");
            for l in &log {
                conn.execute(
                    "INSERT INTO log (run, line, sample, text) VALUES (1, 0, ?1, ?2)",
                    params![l.sample_id(), packer.pack(&l.text).expect("packs")],
                )
                .expect("a record");
            }
        }
        let mut store = SqliteStore::open(&path).expect("upgrades");
        let version: i64 = store
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
        assert!(!has_table(&store.conn, "events").expect("tables"));
        assert!(!has_table(&store.conn, "log").expect("tables"));
        assert_eq!(
            store.events().expect("events"),
            [
                events[0].raw.clone(),
                events[1].raw.clone(),
                "{\"id\":\"e0\"}".to_string()
            ]
        );
        assert_eq!(store.load().expect("load").applied, ["e1", "e2", "e0"]);
        assert_eq!(store.run_log(1).expect("log"), texts(&log));
        assert_eq!(
            store.sample_log("s1").expect("s1"),
            [log[0].text.clone(), log[3].text.clone()]
        );
        // New records go on after the old ones, in chunks.
        let batch = Batch {
            changes: Changes {
                samples: vec![instance("s1", 3)],
                ..Default::default()
            },
            events: vec![event("e3")],
            log: vec![record("s1", 3)],
            run: RunState {
                id: 2,
                ..RunState::default()
            },
        };
        store.commit(&batch).expect("commits");
        assert_eq!(
            store.sample_log("s1").expect("s1"),
            [
                log[0].text.clone(),
                log[3].text.clone(),
                batch.log[0].text.clone()
            ]
        );
        assert_eq!(store.sample_log("s2").expect("s2"), [log[2].text.clone()]);
        assert_eq!(store.events().expect("events").len(), 4);
    }

    #[test]
    fn a_batch_of_long_lines_is_cut_into_chunks_a_reader_can_unpack() {
        let sizes = [3, CHUNK_BYTES - 3, 1, CHUNK_BYTES + 5, 2, 2];
        let cut: Vec<Vec<usize>> = chunks(&sizes, |n| *n).iter().map(|c| c.to_vec()).collect();
        assert_eq!(
            cut,
            [
                vec![3, CHUNK_BYTES - 3],
                vec![1],
                vec![CHUNK_BYTES + 5],
                vec![2, 2]
            ]
        );
        assert!(chunks(&[] as &[usize], |n| *n).is_empty());
        // Through the store: 12 lines of 1 MiB are two chunks, read back whole.
        let mut store = SqliteStore::open_in_memory().expect("store");
        let events: Vec<EventRow> = (0..12)
            .map(|i| EventRow {
                id: format!("e{i}").into(),
                line: i,
                raw: format!("{{\"id\":\"e{i}\",\"pad\":\"{}\"}}", "x".repeat(1 << 20)),
            })
            .collect();
        store
            .commit(&Batch {
                events: events.clone(),
                ..Batch::default()
            })
            .expect("commits");
        assert_eq!(count(&store, "event_chunks"), 2);
        let raw: Vec<String> = events.into_iter().map(|e| e.raw).collect();
        assert_eq!(store.events().expect("events"), raw);
    }

    #[test]
    fn a_damaged_chunk_list_is_an_error() {
        let mut store = SqliteStore::open_in_memory().expect("store");
        store
            .commit(&Batch {
                changes: Changes {
                    samples: vec![instance("s1", 1)],
                    ..Default::default()
                },
                log: vec![record("s1", 1)],
                ..Batch::default()
            })
            .expect("commits");
        store
            .conn
            .execute("UPDATE samples SET chunks = chunks || '7 '", [])
            .expect("damages");
        assert!(matches!(
            store.sample_log("s1"),
            Err(StoreError::Damaged(ref why)) if why.contains("chunk 7")
        ));
    }
}
