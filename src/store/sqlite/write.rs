//! The SQLite store's write path: a commit's latest samples and ledgers, its record chunks,
//! and what a batch appends.

use std::sync::Arc;

use indexmap::IndexMap;
use rhai::ImmutableString;
use rusqlite::{params, Transaction};

use crate::model::{Changes, Instance, Ledger};
use crate::store::pack::Packer;
use crate::store::{Batch, LogRow, StoreError};

use super::*;

/// The samples and texts of a record chunk (a row of `samples, lens, text`), as many of each.
pub(crate) fn log_chunk(
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
pub(crate) struct Latest {
    samples: IndexMap<ImmutableString, Arc<Instance>>,
    ledgers: IndexMap<String, Arc<Ledger>>,
    /// Per sample, the seqs of this commit's record chunks that concern it, in order.
    links: IndexMap<String, Vec<i64>>,
}

impl Latest {
    pub(crate) fn keep(&mut self, changes: Changes) {
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
    pub(crate) fn write(
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
pub(crate) fn fingerprint(deadlines: &[crate::model::Armed]) -> Option<u64> {
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
pub(crate) fn chunk_list(seqs: &[i64]) -> String {
    seqs.iter().map(|seq| format!("{seq} ")).collect()
}

/// The most text a chunk holds (more makes another): a batch of long lines stays in frames a
/// reader may unpack (see `MAX_ROW` in `pack.rs`).
pub(crate) const CHUNK_BYTES: usize = 8 << 20;

/// `items` cut into runs of at most [`CHUNK_BYTES`] of text (an item longer than that alone),
/// in order; none for no items.
pub(crate) fn chunks<T>(items: &[T], size: impl Fn(&T) -> usize) -> Vec<&[T]> {
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
pub(crate) fn append(
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
    }
    if !batch.platform.is_empty() {
        let mut platform =
            tx.prepare_cached("INSERT OR IGNORE INTO platform (application) VALUES (?1)")?;
        for app in &batch.platform {
            platform.execute([app])?;
        }
        *connected = true;
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
        for c in &batch.calls {
            outbox.execute(params![c.sample, c.event, c.decision, c.reason, c.at])?;
        }
    }
    crate::store::shadow::sqlite_write(tx, &batch.changes.shadows)?;
    tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES ('runner', ?1)")?
        .execute([serde_json::to_string(&batch.changes.meta)?])?;
    tx.prepare_cached("INSERT OR REPLACE INTO runs (id, data) VALUES (?1, ?2)")?
        .execute(params![batch.run.id, serde_json::to_string(&batch.run)?])?;
    Ok(())
}

#[cfg(test)]
mod chunk_tests {
    use super::*;
    use crate::store::{Batch, EventRow, RunState};

    fn instance(id: &str, records: u32) -> Arc<Instance> {
        let text = format!(
            r#"{{"sample":{{"id":"{id}","state":"shipped","creator":"c1","product":"p1","category":"beauty","quantity":1,"cost":6.0,"gmv":0.0,"deposit":null,"keep_up_content":null}},"workflow":"sample","creator":{{"id":"c1","followers":10000,"engagement_rate":0.05,"posts_30d":10,"gmv_30d":1000.0,"avg_video_views":5000.0,"fulfillment_rate_90d":0.9,"top_categories":["beauty"]}},"product":{{"id":"p1","category":"beauty","price":19.99,"unit_cost":6.0,"flags":[]}},"requested_at":"2026-01-01T00:00:00Z","last_at":"2026-01-01T00:00:00Z","decision":null,"reason":"auto_approved","tier":"new","rules":"","opened":true,"shipping_cost":0.0,"tracking_number":null,"carrier":null,"review":null,"review_reason":null,"reviewed_by":null,"contents":{{}},"extensions":{{}},"deadlines":[],"records":{records}}}"#
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
            events: vec![event("e1"), event("x-p-2"), event("p-a1-requested")],
            log: log.clone(),
            run: RunState {
                id: 1,
                ..RunState::default()
            },
            platform: vec!["a1".into()],
            calls: Vec::new(),
            ..Batch::default()
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
        assert_eq!(ids, ["e1", "x-p-2", "p-a1-requested", "e3"]);
        assert_eq!(
            store.events_with_prefix("p-").expect("platform"),
            ["p-a1-requested".to_string()].into_iter().collect()
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
            ..Batch::default()
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
