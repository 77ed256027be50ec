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
use super::{crash_point, Batch, Focus, RunState, Store, StoreError, Version};
use crate::model::{Changes, Instance, Ledger, Meta, Snapshot};

/// The schema this build writes; an older one is upgraded, a newer one refused.
pub const SCHEMA_VERSION: i64 = 4;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS samples (
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    state TEXT NOT NULL,
    creator TEXT NOT NULL,
    product TEXT NOT NULL,
    category TEXT NOT NULL,
    data TEXT NOT NULL
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
CREATE TABLE IF NOT EXISTS events (
    id TEXT NOT NULL,
    run INTEGER NOT NULL,
    line INTEGER NOT NULL,
    raw TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS log (
    seq INTEGER PRIMARY KEY,
    run INTEGER NOT NULL,
    line INTEGER NOT NULL,
    sample TEXT,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_sample ON log(sample) WHERE sample IS NOT NULL;
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
";

/// The event id the connector gives an application's first event (`tts-<app>-requested`):
/// the application it marks as the platform's.
fn platform_application(event: &str) -> Option<&str> {
    event.strip_prefix("tts-")?.strip_suffix("-requested")
}

/// A decision a record makes that the platform must hear of: approve or reject, with its event
/// and reason. Records are our own JSON, so a substring tells the candidates cheaply.
fn decision_of(text: &str) -> Option<(String, String, Option<String>, String)> {
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

fn has_platform(conn: &Connection) -> Result<bool, StoreError> {
    Ok(conn
        .query_row("SELECT 1 FROM platform LIMIT 1", [], |_| Ok(()))
        .optional()?
        .is_some())
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
}

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
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version = stored_version(&conn)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Schema {
                found: version,
                expected: SCHEMA_VERSION,
            });
        }
        if version < SCHEMA_VERSION {
            conn.execute_batch(&format!(
                "BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            ))?;
        }
        let platform = has_platform(&conn)?;
        Ok(SqliteStore {
            conn,
            commits: 0,
            crash_at: crash_point("commit"),
            platform,
            packer: RefCell::new(Packer::default()),
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
            .strings("SELECT id FROM events WHERE id LIKE 'tts-%'", None)?
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

/// The latest version of each sample and ledger a commit changed, written once at its end
/// however many of its batches changed them.
#[derive(Default)]
struct Latest {
    samples: IndexMap<ImmutableString, Arc<Instance>>,
    ledgers: IndexMap<String, Arc<Ledger>>,
}

impl Latest {
    fn keep(&mut self, changes: Changes) {
        for inst in changes.samples {
            self.samples.insert(inst.sample.id.clone(), inst);
        }
        self.ledgers.extend(changes.ledgers);
    }

    fn write(&self, tx: &Transaction<'_>, packer: &mut Packer) -> Result<(), StoreError> {
        let mut sample = tx.prepare_cached(
            "INSERT INTO samples (id, workflow, state, creator, product, category, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (id) DO UPDATE SET workflow = ?2, state = ?3, data = ?7",
        )?;
        let mut clear = tx.prepare_cached("DELETE FROM deadlines WHERE sample = ?1")?;
        let mut deadline = tx.prepare_cached(
            "INSERT INTO deadlines (sample, name, due, seq, held) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for inst in self.samples.values() {
            let s = &inst.sample;
            sample.execute(params![
                s.id.as_str(),
                inst.workflow,
                s.state.as_str(),
                s.creator.as_str(),
                s.product.as_str(),
                s.category.as_str(),
                packer.pack(&serde_json::to_string(inst)?)?,
            ])?;
            clear.execute([s.id.as_str()])?;
            for d in &inst.deadlines {
                deadline.execute(params![
                    s.id.as_str(),
                    d.name,
                    d.due.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    d.seq as i64,
                    d.held,
                ])?;
            }
        }
        let mut ledger =
            tx.prepare_cached("INSERT INTO ledgers (creator, data) VALUES (?1, ?2) ON CONFLICT (creator) DO UPDATE SET data = ?2")?;
        for (id, l) in &self.ledgers {
            ledger.execute(params![id, packer.pack(&serde_json::to_string(l)?)?])?;
        }
        Ok(())
    }
}

/// Writes what a batch adds (its events, its records, the outbox calls they make) into an open
/// transaction, and the batch's position in its run and the runner's counters.
fn append(
    tx: &Transaction<'_>,
    packer: &mut Packer,
    connected: &mut bool,
    batch: &Batch,
) -> Result<(), StoreError> {
    let mut event =
        tx.prepare_cached("INSERT INTO events (id, run, line, raw) VALUES (?1, ?2, ?3, ?4)")?;
    let mut platform =
        tx.prepare_cached("INSERT OR IGNORE INTO platform (application) VALUES (?1)")?;
    for e in &batch.events {
        event.execute(params![
            e.id,
            batch.run.id,
            e.line as i64,
            packer.pack(&e.raw)?
        ])?;
        if let Some(app) = platform_application(&e.id) {
            platform.execute([app])?;
            *connected = true;
        }
    }
    let mut log =
        tx.prepare_cached("INSERT INTO log (run, line, sample, text) VALUES (?1, ?2, ?3, ?4)")?;
    // A decision on a platform sample is queued for the platform in this same transaction:
    // committed together, or neither.
    let mut outbox = tx.prepare_cached(
        "INSERT OR IGNORE INTO outbox (sample, event, decision, reason, state, queued_at, updated_at)
         SELECT ?1, ?2, ?3, ?4, 'queued', ?5, ?5
         WHERE EXISTS (SELECT 1 FROM platform WHERE application = ?1)",
    )?;
    for l in &batch.log {
        log.execute(params![
            batch.run.id,
            l.line as i64,
            l.sample,
            packer.pack(&l.text)?
        ])?;
        if !*connected {
            continue;
        }
        if let (Some(sample), Some((event, decision, reason, at))) =
            (&l.sample, decision_of(&l.text))
        {
            outbox.execute(params![sample, event, decision, reason, at])?;
        }
    }
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
            applied: self.strings("SELECT id FROM events", None)?,
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
            append(&tx, packer, &mut self.platform, &batch)?;
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
        latest.write(&tx, packer)?;
        if crash {
            std::process::abort();
        }
        tx.commit()?;
        refused.map_or(Ok(written), Err)
    }

    fn run_log(&mut self, run: i64) -> Result<Vec<String>, StoreError> {
        self.strings(
            "SELECT text FROM log WHERE run = ?1 ORDER BY seq",
            Some(&run),
        )
    }

    fn sample_log(&mut self, sample: &str) -> Result<Vec<String>, StoreError> {
        self.strings(
            "SELECT text FROM log WHERE sample = ?1 ORDER BY seq",
            Some(&sample),
        )
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
        self.strings("SELECT raw FROM events ORDER BY rowid", None)
    }

    fn each_record(
        &mut self,
        f: &mut dyn FnMut(&str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT text FROM log WHERE sample IS NOT NULL ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        let mut packer = self.packer.borrow_mut();
        while let Some(row) = rows.next()? {
            f(&packer.unpack(row.get_ref(0)?)?)?;
        }
        Ok(())
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
                id: format!("e{n}"),
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
