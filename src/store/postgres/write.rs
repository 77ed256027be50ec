//! The writer's commit: every batch a group takes, in one transaction, as a dozen multi-row
//! statements whatever the group's size (each kind of row is one `INSERT … SELECT FROM
//! unnest(arrays)`, an upsert where a row may be there already), prepared once per connection.
//!
//! As on SQLite, a commit writes each sample and ledger once, in its last version, however many
//! of its batches changed it; a sample's deadlines only when they changed since this store last
//! wrote them; a batch's events and records as chunks (one packed frame each), linked to the
//! samples they concern; and only the last meta and run position.

use indexmap::IndexMap;
use postgres::types::ToSql;
use postgres::Statement;
use std::sync::Arc;

use super::PgStore;
use crate::model::{Instance, Ledger, Meta, Rfc3339};
use crate::store::sqlite::{chunk_list, chunks, fingerprint};
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
    shadow: Statement,
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
            shadow: client.prepare(crate::store::shadow::PG_INSERT)?,
        })
    }
}

/// The next seq of each kind of chunk of one shop. One writer per database makes them; a seq
/// taken twice would be refused by the primary key, never written over.
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
    shadows: Vec<crate::model::ShadowDecision>,
}

impl Gathered {
    /// Takes one batch: its chunks packed, its decisions noted, its changes kept in their last
    /// version.
    /// `run` is the run its chunks belong to; `position` says whether the batch's own run
    /// position is written (not for a part of another shop's batch).
    fn add(
        &mut self,
        batch: Batch,
        run: i64,
        position: bool,
        packer: &mut crate::store::pack::Packer,
        next: &mut Next,
    ) -> Result<(), StoreError> {
        for events in chunks(&batch.events, |e| e.raw.len()) {
            let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
            let (lens, raw) = packer.pack_many(events.iter().map(|e| e.raw.as_str()))?;
            self.events
                .push(next.event, run, serde_json::to_string(&ids)?, lens, raw);
            next.event += 1;
        }
        self.platform.extend(batch.platform);
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
        for c in batch.calls {
            let o = &mut self.outbox;
            o.samples.push(c.sample);
            o.events.push(c.event);
            o.decisions.push(c.decision);
            o.reasons.push(c.reason);
            o.ats.push(c.at);
        }
        for inst in batch.changes.samples {
            self.samples.insert(inst.sample.id.clone(), inst);
        }
        self.ledgers.extend(batch.changes.ledgers);
        self.shadows.extend(batch.changes.shadows);
        self.meta = Some(batch.changes.meta);
        if position {
            self.runs.insert(batch.run.id, batch.run);
        }
        Ok(())
    }
}

/// The next seqs of a shop's chunks, as the store holds them.
fn first_seqs(client: &mut postgres::Client, shop: &str) -> Result<Next, StoreError> {
    let row = client.query_one(
        "SELECT (SELECT coalesce(max(seq), 0) + 1 FROM sampleflow.event_chunks WHERE shop = $1),
                (SELECT coalesce(max(seq), 0) + 1 FROM sampleflow.log_chunks WHERE shop = $1)",
        &[&shop],
    )?;
    Ok(Next {
        event: row.get(0),
        log: row.get(1),
    })
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
        let PgStore {
            client,
            packer,
            prepared,
            next: stored_next,
            commits,
            crash_at,
            platform,
            deadlines,
            fence,
            ..
        } = self;
        let client = client.get_mut();
        let packer = packer.get_mut();
        if prepared.is_none() {
            *prepared = Some(Prepared::new(client)?);
        }
        // Each shop's rows gathered apart, in the order the commit first met each shop, with
        // the next seqs of its chunks (kept once committed).
        let mut gathered: Vec<(String, Gathered, Next)> = Vec::new();
        let mut gather = |b: Batch, run: i64, position: bool| -> Result<(), StoreError> {
            let i = match gathered.iter().position(|(s, _, _)| *s == b.shop) {
                Some(i) => i,
                None => {
                    let next = match stored_next.get(&b.shop) {
                        Some(next) => *next,
                        None => first_seqs(client, &b.shop)?,
                    };
                    gathered.push((b.shop.clone(), Gathered::default(), next));
                    gathered.len() - 1
                }
            };
            let (_, g, next) = &mut gathered[i];
            g.add(b, run, position, packer, next)
        };
        let (mut written, mut refused, mut crash) = (0, None, false);
        let mut batch = Some(first);
        while let Some(mut b) = batch {
            // Other shops' rows first, under the run of the batch that carries them.
            let run = b.run.id;
            for part in std::mem::take(&mut b.parts) {
                gather(part, run, false)?;
            }
            gather(b, run, true)?;
            *commits += 1;
            crash |= *crash_at == Some(*commits);
            written += 1;
            batch = more(written);
            // A batch that cannot be written is refused whole, after the ones before it
            // commit, as it would be if each were committed alone.
            if let Some(e) = batch.as_ref().and_then(|b| check_finite(b).err()) {
                refused = Some(e);
                break;
            }
        }
        let Some(prepared) = prepared.as_ref() else {
            return Err(StoreError::Writer);
        };
        let connected = *platform || gathered.iter().any(|(_, g, _)| !g.platform.is_empty());
        // The statements go to the server from a thread of their own, in order, while this
        // one packs the next statement's rows: the server's work overlaps the packing.
        let prints = std::thread::scope(|scope| {
            let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(4);
            let fenced: Vec<String> = match fence.as_ref() {
                Some(_) => gathered.iter().map(|(shop, _, _)| shop.clone()).collect(),
                None => Vec::new(),
            };
            let fence = fence.as_ref();
            let sender = scope.spawn(move || send_jobs(client, queue, fence, &fenced));
            let pipe = Pipe(jobs);
            let empty = super::Fingerprints::default();
            let written = gathered
                .iter_mut()
                .map(|(shop, g, _)| {
                    let known = deadlines.get(shop.as_str()).unwrap_or(&empty);
                    let prints = write_rows(&pipe, prepared, shop, packer, g, connected, known)?;
                    Ok((shop.clone(), prints))
                })
                .collect::<Result<Vec<_>, StoreError>>();
            let end = match (&written, crash) {
                (Ok(_), true) => Job::Crash,
                (Ok(_), false) => Job::Commit,
                (Err(_), _) => Job::Rollback,
            };
            pipe.send(end);
            drop(pipe);
            let sent = sender.join().map_err(|_| StoreError::Writer)?;
            let prints = written?;
            sent.map(|()| prints)
        })?;
        // Only what is committed is known to be in the store.
        for (shop, _, next) in gathered {
            stored_next.insert(shop, next);
        }
        *platform = connected;
        for (shop, prints) in prints {
            let known = deadlines.entry(shop).or_default();
            for (sample, print) in prints {
                match print {
                    Some(print) => known.insert(sample, print),
                    None => known.remove(&sample),
                };
            }
        }
        refused.map_or(Ok(written), Err)
    }

    /// Keeps these versions, each once, in the order first seen.
    pub(super) fn write_versions(&mut self, versions: &[Version]) -> Result<(), StoreError> {
        let client = self.client.get_mut();
        let mut tx = client.transaction()?;
        if let Some(fence) = &self.fence {
            super::cluster::check_fence(&mut tx, &self.shop, fence)?;
        }
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

/// One parameter of a statement, owned: it crosses to the sending thread.
type Param = Box<dyn ToSql + Sync + Send>;

/// What the sending thread is asked to do, in order.
enum Job {
    Exec(Statement, Vec<Param>),
    Commit,
    Rollback,
    /// The crash hook for tests: every statement executed, the process aborts before the commit.
    Crash,
}

/// The way to the sending thread.
struct Pipe(std::sync::mpsc::SyncSender<Job>);

impl Pipe {
    fn send(&self, job: Job) {
        // The thread only stops early when the writer is done with it.
        let _ = self.0.send(job);
    }

    fn exec(&self, statement: &Statement, params: Vec<Param>) {
        self.send(Job::Exec(statement.clone(), params));
    }
}

/// Executes the jobs in one transaction: committed at `Commit` if every statement went
/// through; anything else rolls it back. After a failed statement the rest are drained unrun.
fn send_jobs(
    client: &mut postgres::Client,
    queue: std::sync::mpsc::Receiver<Job>,
    fence: Option<&super::cluster::Fence>,
    shops: &[String],
) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    // The fence first: a commit of a shop this instance no longer holds keeps nothing.
    if let Some(fence) = fence {
        for shop in shops {
            if let Err(e) = super::cluster::check_fence(&mut tx, shop, fence) {
                for _ in queue {}
                return Err(e);
            }
        }
    }
    let mut failed = None;
    for job in queue {
        match job {
            Job::Exec(statement, params) => {
                if failed.is_none() {
                    let refs: Vec<&(dyn ToSql + Sync)> = params
                        .iter()
                        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                        .collect();
                    if let Err(e) = tx.execute(&statement, &refs) {
                        failed = Some(e);
                    }
                }
            }
            Job::Commit => {
                return match failed {
                    Some(e) => Err(e.into()),
                    None => Ok(tx.commit()?),
                };
            }
            Job::Crash if failed.is_none() => std::process::abort(),
            Job::Crash | Job::Rollback => break,
        }
    }
    Err(failed.map_or(StoreError::Writer, Into::into))
}

/// A deadline fingerprint to keep once committed (`None`: forget the sample's).
type Print = (rhai::ImmutableString, Option<u64>);

/// Every statement of one commit, sent in order; gives the deadline fingerprints to keep once
/// it commits.
fn write_rows(
    pipe: &Pipe,
    p: &Prepared,
    shop: &str,
    packer: &mut crate::store::pack::Packer,
    g: &mut Gathered,
    connected: bool,
    written: &super::Fingerprints,
) -> Result<Vec<Print>, StoreError> {
    let shop = || -> Param { Box::new(shop.to_string()) };
    // Chunks first: packed already, the server writes them while the samples are packed.
    for (rows, statement) in [
        (std::mem::take(&mut g.events), &p.events),
        (std::mem::take(&mut g.logs), &p.logs),
    ] {
        if !rows.seqs.is_empty() {
            pipe.exec(
                statement,
                vec![
                    shop(),
                    Box::new(rows.seqs),
                    Box::new(rows.runs),
                    Box::new(rows.keys),
                    Box::new(rows.lens),
                    Box::new(rows.frames),
                ],
            );
        }
    }
    if !g.platform.is_empty() {
        pipe.exec(
            &p.platform,
            vec![shop(), Box::new(std::mem::take(&mut g.platform))],
        );
    }
    let o = std::mem::take(&mut g.outbox);
    if connected && !o.samples.is_empty() {
        pipe.exec(
            &p.outbox,
            vec![
                shop(),
                Box::new(o.samples),
                Box::new(o.events),
                Box::new(o.decisions),
                Box::new(o.reasons),
                Box::new(o.ats),
            ],
        );
    }
    if !g.shadows.is_empty() {
        let (samples, rules, ats, data) =
            crate::store::shadow::pg_columns(&std::mem::take(&mut g.shadows))?;
        pipe.exec(
            &p.shadow,
            vec![
                shop(),
                Box::new(samples),
                Box::new(rules),
                Box::new(ats),
                Box::new(data),
            ],
        );
    }
    if let Some(meta) = &g.meta {
        pipe.exec(
            &p.meta,
            vec![shop(), Box::new(serde_json::to_string(meta)?)],
        );
    }
    if !g.runs.is_empty() {
        let run_ids: Vec<i64> = g.runs.keys().copied().collect();
        let run_data = g
            .runs
            .values()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()?;
        pipe.exec(&p.runs, vec![shop(), Box::new(run_ids), Box::new(run_data)]);
    }
    let prints = write_samples(pipe, p, shop, packer, g, written)?;
    if !g.links.is_empty() {
        let ids: Vec<String> = g.links.keys().cloned().collect();
        let lists: Vec<String> = g.links.values().map(|s| chunk_list(s)).collect();
        pipe.exec(&p.links, vec![shop(), Box::new(ids), Box::new(lists)]);
    }
    if !g.ledgers.is_empty() {
        let mut row = String::with_capacity(1024);
        let ids: Vec<String> = g.ledgers.keys().cloned().collect();
        let mut data = Vec::with_capacity(g.ledgers.len());
        for l in g.ledgers.values() {
            row.clear();
            l.write_json(&mut row);
            data.push(packer.pack(&row)?);
        }
        pipe.exec(&p.ledgers, vec![shop(), Box::new(ids), Box::new(data)]);
    }
    Ok(prints)
}

/// The commit's samples (taking their record links from `g.links`) and the deadlines that
/// changed.
fn write_samples(
    pipe: &Pipe,
    p: &Prepared,
    shop: impl Fn() -> Param,
    packer: &mut crate::store::pack::Packer,
    g: &mut Gathered,
    written: &super::Fingerprints,
) -> Result<Vec<Print>, StoreError> {
    let n = g.samples.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut cols: [Vec<String>; 6] = std::array::from_fn(|_| Vec::with_capacity(n));
    let mut data = Vec::with_capacity(n);
    let mut links = Vec::with_capacity(n);
    let mut kept = Vec::new();
    let mut clear: Vec<String> = Vec::new();
    let mut d_sample: Vec<String> = Vec::new();
    let mut d_name: Vec<String> = Vec::new();
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
            col.push(value.to_string());
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
        clear.push(s.id.to_string());
        if print.is_some() || before.is_some() {
            kept.push((s.id.clone(), print));
        }
        for d in &inst.deadlines {
            d_sample.push(s.id.to_string());
            d_name.push(d.name.to_string());
            d_due.push(Rfc3339::new(&d.due).as_str().to_string());
            d_seq.push(d.seq as i64);
            d_held.push(d.held);
        }
    }
    let [ids, workflows, states, creators, products, categories] = cols;
    pipe.exec(
        &p.samples,
        vec![
            shop(),
            Box::new(ids),
            Box::new(workflows),
            Box::new(states),
            Box::new(creators),
            Box::new(products),
            Box::new(categories),
            Box::new(data),
            Box::new(links),
        ],
    );
    if !clear.is_empty() {
        pipe.exec(&p.clear, vec![shop(), Box::new(clear)]);
    }
    if !d_sample.is_empty() {
        pipe.exec(
            &p.deadlines,
            vec![
                shop(),
                Box::new(d_sample),
                Box::new(d_name),
                Box::new(d_due),
                Box::new(d_seq),
                Box::new(d_held),
            ],
        );
    }
    Ok(kept)
}
