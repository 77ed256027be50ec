//! The writer's commit: every batch a group takes, in one transaction, as a dozen multi-row
//! statements whatever the group's size (each kind of row is one `INSERT … SELECT FROM
//! unnest(arrays)`, an upsert where a row may be there already), prepared once per connection.
//!
//! As on SQLite, a commit writes each sample and ledger once, in its last version, however many
//! of its batches changed it; a sample's deadlines only when they changed since this store last
//! wrote them; a batch's events and records as chunks (one packed frame each), linked to the
//! samples they concern; and only the last meta and run position.

use indexmap::IndexMap;
use postgres::Statement;
use std::sync::Arc;

use super::PgStore;
use crate::model::{Instance, Ledger, Meta, Rfc3339};
use crate::store::sqlite::{chunk_list, chunks, decision_of, fingerprint, platform_application};
use crate::store::{check_finite, Batch, LogRow, RunState, StoreError, Version};

/// The writer's statements.
pub(super) struct Prepared {
    events: Statement,
    logs: Statement,
    platform: Statement,
    outbox: Statement,
    meta: Statement,
    runs: Statement,
    samples: Statement,
    clear: Statement,
    deadlines: Statement,
    links: Statement,
    ledgers: Statement,
}

const EVENTS: &str = "INSERT INTO sampleflow.event_chunks (shop, seq, run, ids, lens, raw)
    SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bytea[])";
const LOGS: &str = "INSERT INTO sampleflow.log_chunks (shop, seq, run, samples, lens, text)
    SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bytea[])";
const PLATFORM: &str = "INSERT INTO sampleflow.platform (shop, application)
    SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING";
/// A decision on a platform sample is queued for the platform in the same transaction as its
/// record: committed together, or neither.
const OUTBOX: &str = "INSERT INTO sampleflow.outbox
        (shop, sample, event, decision, reason, state, queued_at, updated_at)
    SELECT $1, u.sample, u.event, u.decision, u.reason, 'queued', u.at, u.at
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
        AS u(sample, event, decision, reason, at)
    WHERE EXISTS (SELECT 1 FROM sampleflow.platform p WHERE p.shop = $1 AND p.application = u.sample)
    ON CONFLICT DO NOTHING";
const META: &str = "INSERT INTO sampleflow.meta (shop, key, value) VALUES ($1, 'runner', $2)
    ON CONFLICT (shop, key) DO UPDATE SET value = EXCLUDED.value";
const RUNS: &str = "INSERT INTO sampleflow.runs (shop, id, data)
    SELECT $1, * FROM unnest($2::bigint[], $3::text[])
    ON CONFLICT (shop, id) DO UPDATE SET data = EXCLUDED.data";
const SAMPLES: &str = "INSERT INTO sampleflow.samples
        (shop, id, workflow, state, creator, product, category, data, chunks)
    SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::bytea[], $9::text[])
    ON CONFLICT (shop, id) DO UPDATE SET workflow = EXCLUDED.workflow, state = EXCLUDED.state,
        data = EXCLUDED.data, chunks = samples.chunks || EXCLUDED.chunks";
const CLEAR: &str = "DELETE FROM sampleflow.deadlines WHERE shop = $1 AND sample = ANY($2::text[])";
const DEADLINES: &str = "INSERT INTO sampleflow.deadlines (shop, sample, name, due, seq, held)
    SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[], $6::boolean[])";
/// A record is made by a change of its sample, so a sample linked here (one the commit did not
/// change) is unusual; it is linked all the same where it is stored.
const LINKS: &str = "UPDATE sampleflow.samples s SET chunks = s.chunks || u.c
    FROM unnest($2::text[], $3::text[]) AS u(id, c) WHERE s.shop = $1 AND s.id = u.id";
const LEDGERS: &str = "INSERT INTO sampleflow.ledgers (shop, creator, data)
    SELECT $1, * FROM unnest($2::text[], $3::bytea[])
    ON CONFLICT (shop, creator) DO UPDATE SET data = EXCLUDED.data";

impl Prepared {
    fn new(client: &mut postgres::Client) -> Result<Prepared, StoreError> {
        Ok(Prepared {
            events: client.prepare(EVENTS)?,
            logs: client.prepare(LOGS)?,
            platform: client.prepare(PLATFORM)?,
            outbox: client.prepare(OUTBOX)?,
            meta: client.prepare(META)?,
            runs: client.prepare(RUNS)?,
            samples: client.prepare(SAMPLES)?,
            clear: client.prepare(CLEAR)?,
            deadlines: client.prepare(DEADLINES)?,
            links: client.prepare(LINKS)?,
            ledgers: client.prepare(LEDGERS)?,
        })
    }
}

/// The next seq of each kind of chunk. One writer per shop makes them; a seq taken twice would
/// be refused by the primary key, never written over.
#[derive(Debug, Clone, Copy)]
pub(super) struct Next {
    event: i64,
    log: i64,
}

/// Chunks as columns: seqs, runs, their ids or samples (JSON arrays), lengths and frames.
#[derive(Default)]
struct ChunkRows {
    seqs: Vec<i64>,
    runs: Vec<i64>,
    keys: Vec<String>,
    lens: Vec<Option<String>>,
    frames: Vec<Vec<u8>>,
}

impl ChunkRows {
    fn push(&mut self, seq: i64, run: i64, keys: String, lens: String, frame: Vec<u8>) {
        self.seqs.push(seq);
        self.runs.push(run);
        self.keys.push(keys);
        self.lens.push(Some(lens));
        self.frames.push(frame);
    }
}

/// Decisions to queue for the platform, as columns.
#[derive(Default)]
struct OutboxRows {
    samples: Vec<String>,
    events: Vec<String>,
    decisions: Vec<String>,
    reasons: Vec<Option<String>>,
    ats: Vec<String>,
}

/// What a commit writes, gathered from its batches.
#[derive(Default)]
struct Gathered {
    events: ChunkRows,
    logs: ChunkRows,
    platform: Vec<String>,
    outbox: OutboxRows,
    samples: IndexMap<rhai::ImmutableString, Arc<Instance>>,
    ledgers: IndexMap<String, Arc<Ledger>>,
    /// Per sample, the seqs of this commit's record chunks that concern it, in order.
    links: IndexMap<String, Vec<i64>>,
    /// The last position of each run, and the last meta.
    runs: IndexMap<i64, RunState>,
    meta: Option<Meta>,
}

impl Gathered {
    /// Takes one batch: its chunks packed, its decisions noted, its changes kept in their last
    /// version.
    fn add(
        &mut self,
        batch: Batch,
        packer: &mut crate::store::pack::Packer,
        next: &mut Next,
    ) -> Result<(), StoreError> {
        let run = batch.run.id;
        for events in chunks(&batch.events, |e| e.raw.len()) {
            let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
            let (lens, raw) = packer.pack_many(events.iter().map(|e| e.raw.as_str()))?;
            self.events
                .push(next.event, run, serde_json::to_string(&ids)?, lens, raw);
            next.event += 1;
            self.platform.extend(
                ids.iter()
                    .filter_map(|id| platform_application(id))
                    .map(str::to_string),
            );
        }
        for log in chunks(&batch.log, |l| l.text.len()) {
            let samples: Vec<Option<&str>> = log.iter().map(LogRow::sample_id).collect();
            let (lens, text) = packer.pack_many(log.iter().map(|l| l.text.as_str()))?;
            let seq = next.log;
            next.log += 1;
            self.logs
                .push(seq, run, serde_json::to_string(&samples)?, lens, text);
            for sample in samples.iter().flatten() {
                match self.links.get_mut(*sample) {
                    Some(seqs) if seqs.last() == Some(&seq) => {}
                    Some(seqs) => seqs.push(seq),
                    None => {
                        self.links.insert(sample.to_string(), vec![seq]);
                    }
                }
            }
        }
        for l in &batch.log {
            if let (Some(sample), Some((event, decision, reason, at))) =
                (l.sample_id(), decision_of(&l.text))
            {
                let o = &mut self.outbox;
                o.samples.push(sample.to_string());
                o.events.push(event);
                o.decisions.push(decision);
                o.reasons.push(reason);
                o.ats.push(at);
            }
        }
        for inst in batch.changes.samples {
            self.samples.insert(inst.sample.id.clone(), inst);
        }
        self.ledgers.extend(batch.changes.ledgers);
        self.meta = Some(batch.changes.meta);
        self.runs.insert(run, batch.run);
        Ok(())
    }
}

impl PgStore {
    /// Writes `first` and the batches `more` gives in one transaction (see
    /// [`crate::store::Store::commit_group`]).
    pub(super) fn write_group(
        &mut self,
        first: Batch,
        more: &mut dyn FnMut(u64) -> Option<Batch>,
    ) -> Result<u64, StoreError> {
        check_finite(&first)?;
        let client = self.client.get_mut();
        if self.prepared.is_none() {
            self.prepared = Some(Prepared::new(client)?);
        }
        let mut next = match self.next {
            Some(next) => next,
            None => {
                let row = client.query_one(
                    "SELECT (SELECT coalesce(max(seq), 0) + 1 FROM sampleflow.event_chunks WHERE shop = $1),
                            (SELECT coalesce(max(seq), 0) + 1 FROM sampleflow.log_chunks WHERE shop = $1)",
                    &[&self.shop],
                )?;
                Next {
                    event: row.get(0),
                    log: row.get(1),
                }
            }
        };
        let packer = self.packer.get_mut();
        let mut gathered = Gathered::default();
        let (mut written, mut refused, mut crash) = (0, None, false);
        let mut batch = Some(first);
        while let Some(b) = batch {
            gathered.add(b, packer, &mut next)?;
            self.commits += 1;
            crash |= self.crash_at == Some(self.commits);
            written += 1;
            batch = more(written);
            // A batch that cannot be written is refused whole, after the ones before it
            // commit, as it would be if each were committed alone.
            if let Some(e) = batch.as_ref().and_then(|b| check_finite(b).err()) {
                refused = Some(e);
                break;
            }
        }
        let Some(prepared) = self.prepared.as_ref() else {
            return Err(StoreError::Writer);
        };
        let connected = self.platform || !gathered.platform.is_empty();
        let mut tx = client.transaction()?;
        let shop = self.shop.as_str();
        let prints = write_rows(
            &mut tx,
            prepared,
            shop,
            packer,
            &mut gathered,
            connected,
            &self.deadlines,
        )?;
        if crash {
            std::process::abort();
        }
        tx.commit()?;
        // Only what is committed is known to be in the store.
        self.next = Some(next);
        self.platform = connected;
        for (sample, print) in prints {
            match print {
                Some(print) => self.deadlines.insert(sample, print),
                None => self.deadlines.remove(&sample),
            };
        }
        refused.map_or(Ok(written), Err)
    }

    /// Keeps these versions, each once, in the order first seen.
    pub(super) fn write_versions(&mut self, versions: &[Version]) -> Result<(), StoreError> {
        let client = self.client.get_mut();
        let mut tx = client.transaction()?;
        let insert = tx.prepare(
            "INSERT INTO sampleflow.versions (shop, kind, hash, name, files, first_seen, seen)
             SELECT $1, $2, $3, $4, $5, $6,
                 (SELECT coalesce(max(seen), 0) + 1 FROM sampleflow.versions WHERE shop = $1)
             ON CONFLICT DO NOTHING",
        )?;
        for v in versions {
            tx.execute(
                &insert,
                &[
                    &self.shop,
                    &v.kind,
                    &v.hash,
                    &v.name,
                    &serde_json::to_string(&v.files)?,
                    &v.first_seen,
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// A deadline fingerprint to keep once committed (`None`: forget the sample's).
type Print = (rhai::ImmutableString, Option<u64>);

/// Every statement of one commit, in an open transaction; gives the deadline fingerprints to
/// keep once it commits.
fn write_rows(
    tx: &mut postgres::Transaction<'_>,
    p: &Prepared,
    shop: &str,
    packer: &mut crate::store::pack::Packer,
    g: &mut Gathered,
    connected: bool,
    written: &super::Fingerprints,
) -> Result<Vec<Print>, StoreError> {
    let e = &g.events;
    if !e.seqs.is_empty() {
        tx.execute(
            &p.events,
            &[&shop, &e.seqs, &e.runs, &e.keys, &e.lens, &e.frames],
        )?;
    }
    let l = &g.logs;
    if !l.seqs.is_empty() {
        tx.execute(
            &p.logs,
            &[&shop, &l.seqs, &l.runs, &l.keys, &l.lens, &l.frames],
        )?;
    }
    if !g.platform.is_empty() {
        tx.execute(&p.platform, &[&shop, &g.platform])?;
    }
    let o = &g.outbox;
    if connected && !o.samples.is_empty() {
        tx.execute(
            &p.outbox,
            &[
                &shop,
                &o.samples,
                &o.events,
                &o.decisions,
                &o.reasons,
                &o.ats,
            ],
        )?;
    }
    if let Some(meta) = &g.meta {
        tx.execute(&p.meta, &[&shop, &serde_json::to_string(meta)?])?;
    }
    let run_ids: Vec<i64> = g.runs.keys().copied().collect();
    let run_data = g
        .runs
        .values()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()?;
    tx.execute(&p.runs, &[&shop, &run_ids, &run_data])?;
    let prints = write_samples(tx, p, shop, packer, g, written)?;
    if !g.links.is_empty() {
        let ids: Vec<&str> = g.links.keys().map(String::as_str).collect();
        let lists: Vec<String> = g.links.values().map(|s| chunk_list(s)).collect();
        tx.execute(&p.links, &[&shop, &ids, &lists])?;
    }
    if !g.ledgers.is_empty() {
        let mut row = String::with_capacity(1024);
        let ids: Vec<&str> = g.ledgers.keys().map(String::as_str).collect();
        let mut data = Vec::with_capacity(g.ledgers.len());
        for l in g.ledgers.values() {
            row.clear();
            l.write_json(&mut row);
            data.push(packer.pack(&row)?);
        }
        tx.execute(&p.ledgers, &[&shop, &ids, &data])?;
    }
    Ok(prints)
}

/// The commit's samples (taking their record links from `g.links`) and the deadlines that
/// changed.
fn write_samples(
    tx: &mut postgres::Transaction<'_>,
    p: &Prepared,
    shop: &str,
    packer: &mut crate::store::pack::Packer,
    g: &mut Gathered,
    written: &super::Fingerprints,
) -> Result<Vec<Print>, StoreError> {
    let n = g.samples.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut cols: [Vec<&str>; 6] = std::array::from_fn(|_| Vec::with_capacity(n));
    let mut data = Vec::with_capacity(n);
    let mut links = Vec::with_capacity(n);
    let mut kept = Vec::new();
    let mut clear: Vec<&str> = Vec::new();
    let mut d_sample: Vec<&str> = Vec::new();
    let mut d_name: Vec<&str> = Vec::new();
    let mut d_due: Vec<String> = Vec::new();
    let mut d_seq: Vec<i64> = Vec::new();
    let mut d_held: Vec<bool> = Vec::new();
    // One buffer for every row's text.
    let mut row = String::with_capacity(2048);
    for inst in g.samples.values() {
        let s = &inst.sample;
        for (col, value) in cols.iter_mut().zip([
            s.id.as_str(),
            inst.workflow.as_str(),
            s.state.as_str(),
            s.creator.as_str(),
            s.product.as_str(),
            s.category.as_str(),
        ]) {
            col.push(value);
        }
        row.clear();
        inst.write_json(&mut row);
        data.push(packer.pack(&row)?);
        links.push(chunk_list(
            &g.links.swap_remove(s.id.as_str()).unwrap_or_default(),
        ));
        let (print, before) = (fingerprint(&inst.deadlines), written.get(&s.id));
        if print.is_some() && before == print.as_ref() {
            continue;
        }
        clear.push(s.id.as_str());
        if print.is_some() || before.is_some() {
            kept.push((s.id.clone(), print));
        }
        for d in &inst.deadlines {
            d_sample.push(s.id.as_str());
            d_name.push(d.name.as_str());
            d_due.push(Rfc3339::new(&d.due).as_str().to_string());
            d_seq.push(d.seq as i64);
            d_held.push(d.held);
        }
    }
    let [ids, workflows, states, creators, products, categories] = &cols;
    tx.execute(
        &p.samples,
        &[
            &shop, ids, workflows, states, creators, products, categories, &data, &links,
        ],
    )?;
    if !clear.is_empty() {
        tx.execute(&p.clear, &[&shop, &clear])?;
    }
    if !d_sample.is_empty() {
        tx.execute(
            &p.deadlines,
            &[&shop, &d_sample, &d_name, &d_due, &d_seq, &d_held],
        )?;
    }
    Ok(kept)
}
