//! Where the runner's state lives between runs: samples with their armed deadlines, ledgers,
//! the raw events applied, the record log and each run's progress through its input.
//!
//! [`SqliteStore`] is the default (rusqlite, bundled SQLite, WAL); [`PgStore`] keeps the same
//! tables in a PostgreSQL database (`--db postgres://...`); [`open`] and [`lock`] take either
//! by `--db`; [`MemoryStore`] keeps the same things in memory for tests and replays. A batch is committed whole or not at all, with
//! the input position it reached, so a run killed at any moment resumes exactly there.

mod backup;
mod connector;
mod copy;
mod lock;
mod memory;
mod open;
mod pack;
mod postgres;
mod sessions;
mod shadow;
mod sqlite;
mod tables;

pub use copy::{copy, Copied as CopiedRows, CopyError};
pub use open::{exists, fallback, is_url, lock, open, open_read, shown};
pub use postgres::{cluster as leases, cluster_client};
pub use postgres::{PgLock, PgSessions, PgStore, DEFAULT_SHOP, PG_SCHEMA_VERSION};

pub use backup::{backup, BackupError, Copied};
pub use lock::{acquire, lock_path, Holder, LockError, WriterLock};

pub use connector::{ContentSales, OrderLine};
pub use memory::MemoryStore;
pub use sessions::{SessionStore, Sessions};
pub use sqlite::{OutboxCall, SqliteStore, SCHEMA_VERSION};
pub use sqlite::{COLLABORATION, MESSAGE};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use rhai::ImmutableString;
use serde::{Deserialize, Serialize};

use crate::model::{Changes, Instance, Ledger, Meta, Snapshot, Stats};

/// A failure of the store itself: the tool failed (exit 1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("not a database URL sampleflow can use: {0}")]
    Url(String),
    #[error("database holds data this version cannot read: {0}")]
    Data(#[from] serde_json::Error),
    #[error("database schema is version {found}; this sampleflow reads version {expected}")]
    Schema { found: i64, expected: i64 },
    #[error("the store's writer stopped")]
    Writer,
    #[error("no database here yet; `sampleflow run` creates it")]
    Missing,
    #[error("not a sampleflow store (an SQLite file, or a PostgreSQL schema `sampleflow`, that has tables of its own and no sampleflow schema version); it was left unchanged")]
    Foreign,
    #[error("a store of schema version {found}, older than this sampleflow reads; a writing command (`run`, `watch`) upgrades it")]
    Old { found: i64 },
    #[error("{0} holds a number that is not finite; nothing of this batch was written")]
    NotFinite(String),
    #[error("cannot pack a row: {0}")]
    Pack(std::io::Error),
    #[error("database holds a damaged row: {0}")]
    Damaged(String),
    #[error("shop `{shop}` is no longer this instance's (its lease of epoch {epoch} was taken by another instance); nothing of this commit was kept")]
    Fenced { shop: String, epoch: i64 },
}

/// Refuses a batch that holds a number JSON cannot carry (infinite, NaN): it would be written
/// as `null` and the store could never be read back.
pub fn check_finite(batch: &Batch) -> Result<(), StoreError> {
    for part in &batch.parts {
        check_finite(part)?;
    }
    for inst in &batch.changes.samples {
        let s = &inst.sample;
        let finite = [s.cost, s.gmv, inst.shipping_cost, s.deposit.unwrap_or(0.0)]
            .into_iter()
            .chain(inst.contents.values().copied())
            .all(f64::is_finite);
        if !finite {
            return Err(StoreError::NotFinite(format!("sample `{}`", s.id)));
        }
    }
    for (id, l) in &batch.changes.ledgers {
        let finite = [l.credit, l.gmv, l.deposits_held, l.deposits_forfeited]
            .into_iter()
            .chain(l.adjustments.iter().filter_map(|a| a.credit))
            .all(f64::is_finite);
        if !finite {
            return Err(StoreError::NotFinite(format!(
                "the ledger of creator `{id}`"
            )));
        }
    }
    Ok(())
}

/// An event applied, kept as it came for replays.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    /// The event's own id, shared.
    pub id: ImmutableString,
    pub line: u64,
    pub raw: String,
}

/// One line of output, kept in the record log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRow {
    pub line: u64,
    /// The sample a record concerns; none for a refused event. The record's own id, shared.
    pub sample: Option<ImmutableString>,
    pub text: String,
}

impl LogRow {
    /// The sample's id, for the store's columns.
    pub fn sample_id(&self) -> Option<&str> {
        self.sample.as_ref().map(|s| s.as_str())
    }
}

/// How far one run got through its input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    pub id: i64,
    /// The input's path as given.
    pub input: String,
    /// Bytes and lines of input consumed.
    pub offset: u64,
    pub lines: u64,
    /// The last line consumed: its length in bytes and a digest, to recognise the same input.
    pub last_len: u64,
    pub last_digest: String,
    pub stats: Stats,
    pub finished: bool,
    /// `watch --out`: the file's absolute path and its length at the last commit.
    #[serde(default)]
    pub out_path: Option<String>,
    #[serde(default)]
    pub out_len: u64,
}

/// A rule set or workflow as it was when it decided something, kept by its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    /// `rules` or `workflow`.
    pub kind: String,
    pub hash: String,
    /// The rules folder, or the workflow's name.
    pub name: String,
    /// Each file's name and text.
    pub files: Vec<(String, String)>,
    /// When this store first ran it (wall clock).
    pub first_seen: String,
}

/// What one event can reach: see [`Store::load_around`].
#[derive(Debug, Clone, Default)]
pub struct Focus {
    pub at: chrono::DateTime<chrono::Utc>,
    pub samples: Vec<String>,
    pub creators: Vec<String>,
}

/// A review decision a record makes (approve or reject, by an event), for the platform's
/// outbox: the session computes it from the typed record, and the store queues it when the
/// sample is one of the platform's applications.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReviewCall {
    /// The sample: the platform's application id when it is the platform's.
    pub sample: String,
    /// The event whose record made the decision.
    pub event: String,
    /// `approve` or `reject`.
    pub decision: String,
    /// Our reason code.
    pub reason: Option<String>,
    /// The record's time, as it is written in the record.
    pub at: String,
}

/// What one commit writes.
#[derive(Debug, Clone)]
pub struct Batch {
    /// The shop this batch's rows belong to (its run state included).
    pub shop: String,
    /// Other shops' batches written in the same transaction, before this one (a run of an
    /// input that mixes shops commits them together with its position); their own `run` and
    /// `parts` are not written: their events and records are kept under this batch's run id,
    /// in their own shop.
    pub parts: Vec<Batch>,
    pub changes: Changes,
    pub events: Vec<EventRow>,
    pub log: Vec<LogRow>,
    pub run: RunState,
    /// The platform's applications this batch's events bring in (from the connector's
    /// mapping), kept as the platform's samples.
    pub platform: Vec<String>,
    /// The review decisions this batch's records make, in order.
    pub calls: Vec<ReviewCall>,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            shop: crate::model::DEFAULT_SHOP.to_string(),
            parts: Vec::new(),
            changes: Changes::default(),
            events: Vec::new(),
            log: Vec::new(),
            run: RunState::default(),
            platform: Vec::new(),
            calls: Vec::new(),
        }
    }
}

/// The storage the runner's state goes to.
pub trait Store: Send {
    /// The shop the reads (and the platform's side) of this handle concern; `default` at open.
    fn shop(&self) -> &str;
    /// Points the reads of this handle at another shop (a batch is written under its own).
    fn set_shop(&mut self, shop: &str);
    /// Everything the runner needs to continue.
    fn load(&mut self) -> Result<Snapshot, StoreError>;
    /// What one new event at `focus.at` can reach, for a runner that applies just that event:
    /// its samples and creators, every sample with a deadline due by then (or by the clock, if
    /// later) and the ledgers of all their creators. Applied ids are left out: the event's id
    /// must be new by construction (an ops command's). A store may give more (all of it).
    fn load_around(&mut self, _focus: &Focus) -> Result<Snapshot, StoreError> {
        self.load()
    }
    /// The runner's clock and counters.
    fn meta(&mut self) -> Result<Meta, StoreError>;
    /// The latest run, finished or not.
    fn last_run(&mut self) -> Result<Option<RunState>, StoreError>;
    /// Writes one batch atomically.
    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError>;
    /// Writes `first` and then each batch `more` gives (it is told how many are written so
    /// far, and gives none to end the group) in one transaction, and gives how many batches
    /// were committed. A batch is written whole or not at all; a batch refused (a number that
    /// is not finite) is refused after the ones before it commit. One commit for several
    /// batches is what lets a writer that falls behind catch up: a commit's cost (its pages
    /// written to the log, checkpoints) is shared. By default, one batch per commit.
    fn commit_group(
        &mut self,
        first: Batch,
        _more: &mut dyn FnMut(u64) -> Option<Batch>,
    ) -> Result<u64, StoreError> {
        self.commit(&first)?;
        Ok(1)
    }
    /// The output lines of one run, in order.
    fn run_log(&mut self, run: i64) -> Result<Vec<String>, StoreError>;
    /// The records of one sample, in order.
    fn sample_log(&mut self, sample: &str) -> Result<Vec<String>, StoreError>;
    /// Every sample, by id.
    fn samples(&mut self) -> Result<Vec<Instance>, StoreError>;
    /// One sample, by id.
    fn sample(&mut self, id: &str) -> Result<Option<Instance>, StoreError>;
    /// One creator's samples, by id.
    fn samples_of(&mut self, creator: &str) -> Result<Vec<Instance>, StoreError>;
    /// One creator's ledger.
    fn ledger(&mut self, creator: &str) -> Result<Option<Ledger>, StoreError>;
    /// The raw events applied, in the order applied.
    fn events(&mut self) -> Result<Vec<String>, StoreError>;
    /// Keeps these versions (a version already kept stays as it was first seen).
    fn save_versions(&mut self, versions: &[Version]) -> Result<(), StoreError>;
    /// Every version kept, oldest first.
    fn versions(&mut self) -> Result<Vec<Version>, StoreError>;
    /// Every shadow decision kept (`--shadow`), by time.
    fn shadows(&mut self) -> Result<Vec<crate::model::ShadowDecision>, StoreError>;
    /// Samples per state, counted in the store (a runner holds only the samples in flight).
    fn state_counts(&mut self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let mut counts = std::collections::BTreeMap::new();
        for inst in self.samples()? {
            *counts.entry(inst.state().to_string()).or_insert(0) += 1;
        }
        Ok(counts)
    }
    /// A second, read-only view of the committed state, for a runner that lets ended samples
    /// leave memory (the runner's fallback); `None` where there is none.
    fn reader(&self) -> Option<Box<dyn crate::model::Fallback>> {
        None
    }
    /// Every record of every sample, in the order written, one at a time.
    fn each_record(
        &mut self,
        f: &mut dyn FnMut(&str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    // The platform's side: what the connector keeps beside the runner's rows.

    /// The ids of the events applied so far that begin with `prefix` (the connector's).
    fn events_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<std::collections::HashSet<String>, StoreError>;
    /// Every call of the outbox, oldest first.
    fn outbox(&self) -> Result<Vec<OutboxCall>, StoreError>;
    /// Moves one call of the outbox to `state`, with the platform's last answer; committed at
    /// once (a call marked `sending` before it goes is known to be in doubt after a crash).
    fn set_call(
        &mut self,
        call: &OutboxCall,
        state: &str,
        code: Option<i64>,
        message: Option<&str>,
        now: &str,
    ) -> Result<(), StoreError>;
    /// Keeps (or, with `None`, forgets) why an application could not be mapped.
    fn set_unmappable(
        &mut self,
        application: &str,
        product: &str,
        why: Option<&str>,
        now: &str,
    ) -> Result<(), StoreError>;
    /// Applications that could not be mapped: application, product, why, when last seen.
    fn unmappable(&self) -> Result<Vec<(String, String, String, String)>, StoreError>;
    /// One of the connector's own values (never a token), committed at once.
    fn connector_value(&self, name: &str) -> Result<Option<String>, StoreError>;
    /// Keeps (or, with `None`, forgets) one of the connector's values.
    fn set_connector_value(&mut self, name: &str, value: Option<&str>) -> Result<(), StoreError>;
    /// Keeps order lines (a line seen again replaces the one kept: its refunds may have grown).
    fn put_order_lines(&mut self, lines: &[OrderLine]) -> Result<(), StoreError>;
    /// Every content's sales to date, by content.
    fn content_sales(&self) -> Result<Vec<ContentSales>, StoreError>;
    /// Keeps a creator's platform username (the connector's, from an application it mapped).
    fn set_creator_name(&mut self, creator: &str, username: &str) -> Result<(), StoreError>;
    /// A creator's platform username, where the connector knows it.
    fn creator_name(&self, creator: &str) -> Result<Option<String>, StoreError>;
    /// Keeps a product's title (the connector's, from an application it mapped).
    fn set_product_title(&mut self, product: &str, title: &str) -> Result<(), StoreError>;
    /// Every product title the connector knows, by product (one read for a page of rows).
    fn product_titles(&self) -> Result<std::collections::BTreeMap<String, String>, StoreError>;
}

/// Implements the platform's side of [`Store`] with the backend's own methods of the same names.
macro_rules! platform_side {
    () => {
        fn events_with_prefix(
            &self,
            prefix: &str,
        ) -> Result<std::collections::HashSet<String>, StoreError> {
            Self::events_with_prefix(self, prefix)
        }
        fn outbox(&self) -> Result<Vec<crate::store::OutboxCall>, StoreError> {
            Self::outbox(self)
        }
        fn set_call(
            &mut self,
            call: &crate::store::OutboxCall,
            state: &str,
            code: Option<i64>,
            message: Option<&str>,
            now: &str,
        ) -> Result<(), StoreError> {
            Self::set_call(self, call, state, code, message, now)
        }
        fn set_unmappable(
            &mut self,
            application: &str,
            product: &str,
            why: Option<&str>,
            now: &str,
        ) -> Result<(), StoreError> {
            Self::set_unmappable(self, application, product, why, now)
        }
        fn unmappable(&self) -> Result<Vec<(String, String, String, String)>, StoreError> {
            Self::unmappable(self)
        }
        fn connector_value(&self, name: &str) -> Result<Option<String>, StoreError> {
            Self::connector_value(self, name)
        }
        fn set_connector_value(
            &mut self,
            name: &str,
            value: Option<&str>,
        ) -> Result<(), StoreError> {
            Self::set_connector_value(self, name, value)
        }
        fn put_order_lines(&mut self, lines: &[crate::store::OrderLine]) -> Result<(), StoreError> {
            Self::put_order_lines(self, lines)
        }
        fn content_sales(&self) -> Result<Vec<crate::store::ContentSales>, StoreError> {
            Self::content_sales(self)
        }
        fn set_creator_name(&mut self, creator: &str, username: &str) -> Result<(), StoreError> {
            Self::set_creator_name(self, creator, username)
        }
        fn creator_name(&self, creator: &str) -> Result<Option<String>, StoreError> {
            Self::creator_name(self, creator)
        }
        fn set_product_title(&mut self, product: &str, title: &str) -> Result<(), StoreError> {
            Self::set_product_title(self, product, title)
        }
        fn product_titles(&self) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
            Self::product_titles(self)
        }
    };
}
pub(crate) use platform_side;

/// What one new event at `focus.at` can reach ([`Store::load_around`]), the same for every
/// backend: `due_before` is the backend's query for the samples with a deadline due before a
/// bound (RFC 3339 text).
pub(crate) fn around<S: Store>(
    store: &mut S,
    focus: &Focus,
    due_before: impl FnOnce(&mut S, &str) -> Result<Vec<String>, StoreError>,
) -> Result<Snapshot, StoreError> {
    let meta = store.meta()?;
    let by = meta.clock.map_or(focus.at, |c| c.max(focus.at));
    // Due times are kept as RFC 3339 text, whose fractions do not sort as numbers do: the
    // next whole second is a bound every due time up to `by` sorts below.
    let bound = crate::model::after(by, 1).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut ids: std::collections::BTreeSet<String> = focus.samples.iter().cloned().collect();
    ids.extend(due_before(store, &bound)?);
    let mut samples = Vec::new();
    for id in &ids {
        samples.extend(store.sample(id)?);
    }
    let mut creators: std::collections::BTreeSet<String> = focus.creators.iter().cloned().collect();
    creators.extend(samples.iter().map(|s| s.sample.creator.to_string()));
    let mut ledgers = Vec::new();
    for creator in creators {
        if let Some(ledger) = store.ledger(&creator)? {
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

/// The most batches one commit of the [`Writer`] takes: enough to share a commit's cost when
/// the writer falls behind, few enough that a commit stays short.
pub const GROUP: u64 = 8;

/// The store back from its writer thread, with the first failure if any.
type Finished = (Box<dyn Store>, Result<(), StoreError>);

/// What the writer's thread is handed, in order. Nearly every job is a batch: boxing it would
/// cost an allocation each to save the space of the rare versions.
#[allow(clippy::large_enum_variant)]
enum Job {
    /// A batch to commit.
    Batch(Batch),
    /// Versions of the program to keep (a live session's reload) under a shop, before the
    /// batches after them; told on the sender once kept.
    Versions(String, Vec<Version>, SyncSender<()>),
}

/// How far the writer's thread got: batches committed (`u64::MAX` once it stopped), and the
/// signal a caller waiting for a commit ([`Writer::wait`]) sleeps on.
#[derive(Default)]
struct Progress {
    committed: AtomicU64,
    lock: Mutex<()>,
    signal: Condvar,
}

/// The one commit path of every front end (`run`, the ops commands, `watch`, `serve`):
/// commits batches on a thread of their own, so that the runner goes on with the next batch
/// while the store writes this one. At most two batches wait; batches that are waiting when a
/// commit begins join it, up to [`GROUP`] batches a commit. A live session waits for each of
/// its commits ([`Writer::wait`]) before it answers.
pub struct Writer {
    tx: Option<SyncSender<Job>>,
    handle: Option<JoinHandle<Finished>>,
    progress: Arc<Progress>,
    sent: u64,
}

impl Writer {
    pub fn spawn(mut store: Box<dyn Store>) -> Writer {
        let (tx, rx) = sync_channel::<Job>(2);
        let progress = Arc::new(Progress::default());
        let signal = progress.clone();
        let handle = std::thread::spawn(move || {
            let done = |n: Option<u64>| {
                signal
                    .committed
                    .store(n.unwrap_or(u64::MAX), Ordering::Release);
                // Taken so that a waiter between its check and its sleep is not missed.
                drop(signal.lock.lock());
                signal.signal.notify_all();
            };
            let mut n = 0;
            // A job taken while gathering a group that is not a batch: the next to do.
            let mut next: Option<Job> = None;
            while let Some(job) = next.take().or_else(|| rx.recv().ok()) {
                let first = match job {
                    Job::Batch(batch) => batch,
                    Job::Versions(shop, versions, kept) => {
                        store.set_shop(&shop);
                        if let Err(e) = store.save_versions(&versions) {
                            done(None);
                            return (store, Err(e));
                        }
                        let _ = kept.send(());
                        continue;
                    }
                };
                let mut more = |written| {
                    if written >= GROUP || next.is_some() {
                        return None;
                    }
                    match rx.try_recv().ok()? {
                        Job::Batch(batch) => Some(batch),
                        other => {
                            next = Some(other);
                            None
                        }
                    }
                };
                match store.commit_group(first, &mut more) {
                    Ok(written) => {
                        n += written;
                    }
                    Err(e) => {
                        done(None);
                        return (store, Err(e));
                    }
                }
                done(Some(n));
            }
            done(None);
            (store, Ok(()))
        });
        Writer {
            tx: Some(tx),
            handle: Some(handle),
            progress,
            sent: 0,
        }
    }

    /// Queues a batch; a failure of an earlier one comes back here.
    pub fn send(&mut self, batch: Batch) -> Result<(), StoreError> {
        self.job(Job::Batch(batch))?;
        self.sent += 1;
        Ok(())
    }

    /// Keeps versions of the program under `shop`, after the batches sent before them: returns
    /// once they are kept (a reader sees them, as a reload says it is done). The store's reads
    /// concern `shop` from then on.
    pub fn save_versions(&mut self, shop: &str, versions: Vec<Version>) -> Result<(), StoreError> {
        let (kept, told) = sync_channel(1);
        self.job(Job::Versions(shop.to_string(), versions, kept))?;
        if told.recv().is_ok() {
            return Ok(());
        }
        self.finish().map(|_| ()).and(Err(StoreError::Writer))
    }

    fn job(&mut self, job: Job) -> Result<(), StoreError> {
        if self.tx.as_ref().is_some_and(|tx| tx.send(job).is_ok()) {
            return Ok(());
        }
        self.finish().map(|_| ()).and(Err(StoreError::Writer))
    }

    /// Waits until every batch sent so far is committed; a failure comes back here.
    pub fn wait(&mut self) -> Result<(), StoreError> {
        let mut guard = self.progress.lock.lock().map_err(|_| StoreError::Writer)?;
        loop {
            match self.committed() {
                Some(n) if n >= self.sent => return Ok(()),
                Some(_) => {
                    guard = self
                        .progress
                        .signal
                        .wait(guard)
                        .map_err(|_| StoreError::Writer)?;
                }
                None => {
                    drop(guard);
                    return self.finish().map(|_| ()).and(Err(StoreError::Writer));
                }
            }
        }
    }

    /// Batches sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Batches committed so far, without waiting; `None` once the thread stopped (a failure,
    /// which the next `send` or `finish` gives).
    pub fn committed(&self) -> Option<u64> {
        Some(self.progress.committed.load(Ordering::Acquire)).filter(|n| *n != u64::MAX)
    }

    /// Waits for every queued batch and gives the store back.
    pub fn finish(&mut self) -> Result<Box<dyn Store>, StoreError> {
        self.tx = None;
        let handle = self.handle.take().ok_or(StoreError::Writer)?;
        let (store, result) = handle.join().map_err(|_| StoreError::Writer)?;
        result.map(|()| store)
    }
}

/// The crash hook for tests: `SAMPLEFLOW_CRASH=event:N` aborts after the Nth event of this
/// process (inside an open batch), `commit:N` inside the commit that holds the Nth batch (its
/// rows written, not committed). An abort is as abrupt as a kill -9: nothing is flushed or unwound.
pub(crate) fn crash_point(kind: &str) -> Option<u64> {
    let spec = std::env::var("SAMPLEFLOW_CRASH").ok()?;
    let (k, n) = spec.split_once(':')?;
    (k == kind).then(|| n.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(hash: &str) -> Version {
        Version {
            kind: "rules".into(),
            hash: hash.into(),
            name: "rules".into(),
            files: Vec::new(),
            first_seen: "2026-01-01T00:00:00Z".into(),
        }
    }

    fn batch(run: i64, lines: u64) -> Batch {
        Batch {
            run: RunState {
                id: run,
                lines,
                ..RunState::default()
            },
            ..Batch::default()
        }
    }

    #[test]
    fn a_waiting_writer_returns_once_its_batches_are_committed_and_keeps_versions_in_order() {
        let mut writer = Writer::spawn(Box::new(MemoryStore::new()));
        writer.send(batch(1, 1)).expect("send");
        writer
            .save_versions(crate::model::DEFAULT_SHOP, vec![version("a")])
            .expect("versions");
        writer.send(batch(1, 2)).expect("send");
        writer.wait().expect("wait");
        assert_eq!(writer.committed(), Some(2), "both batches committed");
        let mut store = writer.finish().expect("finish");
        assert_eq!(store.versions().expect("versions"), vec![version("a")]);
        assert_eq!(store.last_run().expect("run").map(|r| r.lines), Some(2));
    }

    #[test]
    fn a_failed_commit_comes_back_from_wait() {
        let mut writer = Writer::spawn(Box::new(MemoryStore::new()));
        let mut bad = batch(1, 1);
        bad.changes.ledgers = vec![(
            "c1".into(),
            Ledger {
                credit: f64::NAN,
                ..Ledger::default()
            }
            .into(),
        )];
        writer.send(bad).expect("queued");
        assert!(
            writer.wait().is_err(),
            "a number that is not finite is refused"
        );
    }
}
