//! The store `--db` names, whichever kind it is: a file path is an SQLite store, a
//! `postgres://` or `postgresql://` URL a PostgreSQL one. Commands open stores, take the writer
//! lock and show the store's name only through these, so that neither they nor their messages
//! depend on the kind (a URL's password is never shown).

use std::path::Path;

use super::postgres::{self, PgStore};
use super::{
    Batch, Focus, Holder, LockError, OutboxCall, RunState, SqliteStore, Store, StoreError, Version,
    WriterLock,
};
use crate::model::{Instance, Ledger, Meta, Snapshot};

pub use super::postgres::is_url;

/// `--db` as a message may show it: a URL without its password, a path as it is.
pub fn shown(db: &Path) -> String {
    postgres::shown(db)
}

/// A store of either kind, with the methods beside the [`Store`] trait that the connector and
/// `outbox` use.
pub enum AnyStore {
    Sqlite(Box<SqliteStore>),
    Postgres(Box<PgStore>),
}

/// Opens the store at `db` for writing, creating its schema on first use (see
/// [`SqliteStore::open`], [`PgStore::open`]).
pub fn open(db: &Path) -> Result<AnyStore, StoreError> {
    Ok(if is_url(db) {
        AnyStore::Postgres(Box::new(PgStore::open(db)?))
    } else {
        AnyStore::Sqlite(Box::new(SqliteStore::open(db)?))
    })
}

/// Opens the existing store at `db` for reading only; nothing is created or written.
pub fn open_read(db: &Path) -> Result<AnyStore, StoreError> {
    Ok(if is_url(db) {
        AnyStore::Postgres(Box::new(PgStore::open_read(db)?))
    } else {
        if !db.exists() {
            return Err(StoreError::Missing);
        }
        AnyStore::Sqlite(Box::new(SqliteStore::open_read(db)?))
    })
}

/// A read-only view of the store at `db` for a runner that lets ended samples leave memory.
pub fn fallback(db: &Path) -> Result<Box<dyn crate::model::Fallback>, StoreError> {
    Ok(match open_read(db)? {
        AnyStore::Sqlite(s) => s,
        AnyStore::Postgres(s) => s,
    })
}

/// True when there may be a store at `db`: the file exists, or the database holds a
/// `sampleflow` schema (or cannot be asked: the open that follows says why).
pub fn exists(db: &Path) -> bool {
    if !is_url(db) {
        return db.exists();
    }
    !matches!(PgStore::open_read(db), Err(StoreError::Missing))
}

/// Takes the writer lock of the store at `db` for `holder`, at once or not at all: SQLite's
/// lock file, or PostgreSQL's advisory lock.
#[allow(clippy::result_large_err)] // the holder's description, once per command
pub fn lock(db: &Path, holder: &Holder) -> Result<WriterLock, LockError> {
    if is_url(db) {
        postgres::acquire(db, holder).map(WriterLock::from)
    } else {
        super::acquire(db, holder)
    }
}

/// Forwards a call to the store inside, whichever kind it is.
macro_rules! either {
    ($self:expr, $s:ident => $call:expr) => {
        match $self {
            AnyStore::Sqlite($s) => $call,
            AnyStore::Postgres($s) => $call,
        }
    };
}

impl AnyStore {
    /// The ids of the events applied so far that begin with `prefix` (the connector's).
    pub fn events_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        either!(self, s => s.events_with_prefix(prefix))
    }

    /// Every call of the outbox, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxCall>, StoreError> {
        either!(self, s => s.outbox())
    }

    /// Moves one call of the outbox to `state`, with the platform's last answer, at once.
    pub fn set_call(
        &mut self,
        call: &OutboxCall,
        state: &str,
        code: Option<i64>,
        message: Option<&str>,
        now: &str,
    ) -> Result<(), StoreError> {
        either!(self, s => s.set_call(call, state, code, message, now))
    }

    /// Keeps (or, with `None`, forgets) why an application could not be mapped.
    pub fn set_unmappable(
        &mut self,
        application: &str,
        product: &str,
        why: Option<&str>,
        now: &str,
    ) -> Result<(), StoreError> {
        either!(self, s => s.set_unmappable(application, product, why, now))
    }

    /// Applications that could not be mapped: application, product, why, when last seen.
    pub fn unmappable(&self) -> Result<Vec<(String, String, String, String)>, StoreError> {
        either!(self, s => s.unmappable())
    }
}

impl Store for AnyStore {
    fn load(&mut self) -> Result<Snapshot, StoreError> {
        either!(self, s => s.load())
    }

    fn load_around(&mut self, focus: &Focus) -> Result<Snapshot, StoreError> {
        either!(self, s => s.load_around(focus))
    }

    fn meta(&mut self) -> Result<Meta, StoreError> {
        either!(self, s => s.meta())
    }

    fn last_run(&mut self) -> Result<Option<RunState>, StoreError> {
        either!(self, s => s.last_run())
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        either!(self, s => s.commit(batch))
    }

    fn commit_group(
        &mut self,
        first: Batch,
        more: &mut dyn FnMut(u64) -> Option<Batch>,
    ) -> Result<u64, StoreError> {
        either!(self, s => s.commit_group(first, more))
    }

    fn run_log(&mut self, run: i64) -> Result<Vec<String>, StoreError> {
        either!(self, s => s.run_log(run))
    }

    fn sample_log(&mut self, sample: &str) -> Result<Vec<String>, StoreError> {
        either!(self, s => s.sample_log(sample))
    }

    fn samples(&mut self) -> Result<Vec<Instance>, StoreError> {
        either!(self, s => s.samples())
    }

    fn sample(&mut self, id: &str) -> Result<Option<Instance>, StoreError> {
        either!(self, s => Store::sample(&mut **s, id))
    }

    fn ledger(&mut self, creator: &str) -> Result<Option<Ledger>, StoreError> {
        either!(self, s => Store::ledger(&mut **s, creator))
    }

    fn events(&mut self) -> Result<Vec<String>, StoreError> {
        either!(self, s => s.events())
    }

    fn save_versions(&mut self, versions: &[Version]) -> Result<(), StoreError> {
        either!(self, s => s.save_versions(versions))
    }

    fn versions(&mut self) -> Result<Vec<Version>, StoreError> {
        either!(self, s => s.versions())
    }

    fn shadows(&mut self) -> Result<Vec<crate::model::ShadowDecision>, StoreError> {
        either!(self, s => s.shadows())
    }

    fn state_counts(&mut self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        either!(self, s => s.state_counts())
    }

    fn reader(&self) -> Option<Box<dyn crate::model::Fallback>> {
        either!(self, s => s.reader())
    }

    fn each_record(
        &mut self,
        f: &mut dyn FnMut(&str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        either!(self, s => s.each_record(f))
    }
}

impl crate::model::Fallback for AnyStore {
    fn sample(&mut self, id: &str) -> Option<Instance> {
        Store::sample(self, id).ok().flatten()
    }

    fn ledger(&mut self, creator: &str) -> Option<Ledger> {
        Store::ledger(self, creator).ok().flatten()
    }
}
