//! The store `--db` names, whichever kind it is: a file path is an SQLite store, a
//! `postgres://` or `postgresql://` URL a PostgreSQL one. Commands open stores, take the writer
//! lock and show the store's name only through these, so that neither they nor their messages
//! depend on the kind (a URL's password is never shown).

use std::path::Path;

use super::postgres::{self, PgStore};
use super::{Holder, LockError, SqliteStore, Store, StoreError, WriterLock};

pub use super::postgres::is_url;

/// `--db` as a message may show it: a URL without its password, a path as it is.
pub fn shown(db: &Path) -> String {
    postgres::shown(db)
}

/// Opens the store at `db` for writing, creating its schema on first use (see
/// [`SqliteStore::open`], [`PgStore::open`]).
pub fn open(db: &Path) -> Result<Box<dyn Store>, StoreError> {
    Ok(if is_url(db) {
        Box::new(PgStore::open(db)?)
    } else {
        Box::new(SqliteStore::open(db)?)
    })
}

/// Opens the existing store at `db` for reading only; nothing is created or written.
pub fn open_read(db: &Path) -> Result<Box<dyn Store>, StoreError> {
    Ok(if is_url(db) {
        Box::new(PgStore::open_read(db)?)
    } else {
        if !db.exists() {
            return Err(StoreError::Missing);
        }
        Box::new(SqliteStore::open_read(db)?)
    })
}

/// A read-only view of the store at `db` for a runner that lets ended samples leave memory.
pub fn fallback(db: &Path, shop: &str) -> Result<Box<dyn crate::model::Fallback>, StoreError> {
    Ok(if is_url(db) {
        let mut store = PgStore::open_read(db)?;
        store.set_shop(shop);
        Box::new(store)
    } else {
        if !db.exists() {
            return Err(StoreError::Missing);
        }
        let mut store = SqliteStore::open_read(db)?;
        store.set_shop(shop);
        Box::new(store)
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
