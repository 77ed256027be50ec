//! The embedded store: SQLite (bundled) in WAL mode with `synchronous = NORMAL`, so a commit
//! survives the process being killed at any moment.

use std::cell::RefCell;
use std::path::Path;

use rhai::ImmutableString;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::model::{Instance, Ledger, Meta};
use crate::store::pack::Packer;
use crate::store::{crash_point, Store, StoreError};

mod outbox;
mod schema;
mod store;
mod write;

pub use outbox::{OutboxCall, COLLABORATION, MESSAGE};
pub use schema::SCHEMA_VERSION;
use schema::*;
use write::*;
pub(crate) use write::{chunk_list, chunks, fingerprint};
#[cfg(test)]
mod tests;

/// The SQLite store.
pub struct SqliteStore {
    conn: Connection,
    /// The shop reads concern ([`crate::store::Store::set_shop`]).
    pub(crate) shop: String,
    commits: u64,
    crash_at: Option<u64>,
    /// The store holds samples of a connected shop: decisions on them go to the outbox.
    platform: bool,
    /// Rows are packed on the way in and unpacked on the way out (reads take `&self`).
    packer: RefCell<Packer>,
    /// Per shop and sample, a fingerprint of the deadlines this store's commits last wrote for
    /// it (none when none were, or unknown: then they are written). Most changes of a sample
    /// leave its deadlines as they were, and deleting and inserting them again was much of a
    /// commit.
    deadlines: ShopPrints,
}

/// Fingerprints of written deadlines, by sample.
pub(crate) type Fingerprints = std::collections::HashMap<ImmutableString, u64, ahash::RandomState>;
/// [`Fingerprints`] by shop.
pub(crate) type ShopPrints = std::collections::HashMap<String, Fingerprints, ahash::RandomState>;

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
            shop: crate::model::DEFAULT_SHOP.to_string(),
            conn,
            commits: 0,
            crash_at: None,
            platform,
            packer: RefCell::new(Packer::default()),
            deadlines: ShopPrints::default(),
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
            shop: crate::model::DEFAULT_SHOP.to_string(),
            conn,
            commits: 0,
            crash_at: crash_point("commit"),
            platform,
            packer: RefCell::new(Packer::default()),
            deadlines: ShopPrints::default(),
        })
    }

    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    fn runner_meta(&self) -> Result<Meta, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE shop = ?1 AND key = 'runner'",
                [&self.shop],
                |r| r.get(0),
            )
            .optional()?;
        Ok(match text {
            Some(text) => serde_json::from_str(&text)?,
            None => Meta::default(),
        })
    }

    /// Each line of the record log, in order (of one run, or all), with its sample.
    fn each_log(
        &self,
        run: Option<i64>,
        f: &mut dyn FnMut(Option<String>, String) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT samples, lens, text FROM log_chunks
             WHERE shop = ?1 AND (?2 IS NULL OR run = ?2) ORDER BY seq",
        )?;
        let mut rows = stmt.query(rusqlite::params![self.shop, run])?;
        let mut packer = self.packer.borrow_mut();
        while let Some(row) = rows.next()? {
            let (samples, texts) = log_chunk(&mut packer, row)?;
            for (sample, text) in samples.into_iter().zip(texts) {
                f(sample, text)?;
            }
        }
        Ok(())
    }

    /// The one packed value `sql` selects for the shop (`?1`) and `key` (`?2`), if there is a row.
    fn one(&self, sql: &str, key: &str) -> Result<Option<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query([self.shop.as_str(), key])?;
        match rows.next()? {
            Some(row) => Ok(Some(self.packer.borrow_mut().unpack(row.get_ref(0)?)?)),
            None => Ok(None),
        }
    }

    /// The packed values `sql` selects for the shop (`?1`) and `param` (`?2`, if any).
    fn strings(
        &self,
        sql: &str,
        param: Option<&dyn rusqlite::ToSql>,
    ) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare(sql)?;
        let shop: &dyn rusqlite::ToSql = &self.shop;
        let mut rows = match param {
            Some(p) => stmt.query([shop, p])?,
            None => stmt.query([shop])?,
        };
        let mut packer = self.packer.borrow_mut();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(packer.unpack(row.get_ref(0)?)?);
        }
        Ok(out)
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
