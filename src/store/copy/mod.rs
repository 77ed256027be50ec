//! `sampleflow copy --to URL_OR_PATH`: the whole store `--db` names, table by table, into an
//! empty store of either kind, so that every reading command prints the same on both. This is
//! how a team moves from SQLite to PostgreSQL (and back, or from one database to another).
//!
//! Rows are copied as they are stored: packed rows keep their frames (the pack format is the
//! same in both), chunks keep their seqs (samples list them), versions their order. The source
//! is read as one snapshot (a read transaction), beside a writer if one runs; the target is
//! written in one transaction, under its writer lock, and is refused unless it holds nothing.

mod pg;
mod sqlite;

use std::path::Path;

use super::{is_url, lock, shown, Holder, LockError, StoreError};

/// One cell of a row, as both kinds of store can take it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Cell {
    /// Its size, to cut a table's rows into batches of bounded memory.
    fn size(&self) -> usize {
        match self {
            Cell::Null | Cell::Int(_) | Cell::Real(_) => 8,
            Cell::Text(t) => t.len(),
            Cell::Blob(b) => b.len(),
        }
    }
}

pub(crate) use super::tables::{Kind, Table, TABLES};

/// Why a copy was not made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CopyError {
    /// The target holds rows: nothing was written to it.
    #[error("`{0}` is not empty (it holds {1}); a copy goes into an empty store only, and nothing was written")]
    NotEmpty(String, String),
    /// The target is the source.
    #[error("`{0}` is the store being copied")]
    Same(String),
    #[error("`{0}` is held by {1}; nothing was written")]
    Held(String, String),
    #[error("`{path}`: {source}")]
    Store { path: String, source: StoreError },
}

/// What a copy wrote: rows per table, in [`TABLES`]' order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Copied {
    pub rows: Vec<(&'static str, u64)>,
}

/// Reads a store's tables, one snapshot.
pub(crate) trait Source {
    /// Each row of `table`, in its order.
    fn rows(
        &mut self,
        table: &Table,
        f: &mut dyn FnMut(Vec<Cell>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}

/// Writes rows into an empty store, in one transaction.
pub(crate) trait Sink {
    /// A table that holds rows, and how many, if any does.
    fn first_filled(&mut self) -> Result<Option<(String, i64)>, StoreError>;
    fn insert(&mut self, table: &Table, rows: &[Vec<Cell>]) -> Result<(), StoreError>;
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

/// Rows of a table are written in batches of at most this many bytes (chunks are large).
const BATCH_BYTES: usize = 16 << 20;
/// ... or this many rows.
const BATCH_ROWS: usize = 2_000;

/// Copies the store at `from` into the empty store `to` (created when missing).
pub fn copy(from: &Path, to: &Path) -> Result<Copied, CopyError> {
    if same(from, to) {
        return Err(CopyError::Same(shown(to)));
    }
    let at_from = |source| CopyError::Store {
        path: shown(from),
        source,
    };
    let at_to = |source| CopyError::Store {
        path: shown(to),
        source,
    };
    let mut source: Box<dyn Source> = if is_url(from) {
        Box::new(pg::Reader::open(from).map_err(at_from)?)
    } else {
        Box::new(sqlite::Reader::open(from).map_err(at_from)?)
    };
    // The target's writer lock, so that nothing writes into it while the copy does.
    let _lock = match lock(to, &Holder::me("copy")) {
        Ok(lock) => lock,
        Err(LockError::Held(h)) => {
            let who = h.map_or_else(|| "another process".to_string(), |h| h.describe());
            return Err(CopyError::Held(shown(to), who));
        }
        Err(LockError::Io { source, .. }) => {
            return Err(at_to(StoreError::Url(source.to_string())))
        }
    };
    let mut sink: Box<dyn Sink> = if is_url(to) {
        Box::new(pg::Writer::open(to).map_err(at_to)?)
    } else {
        Box::new(sqlite::Writer::open(to).map_err(at_to)?)
    };
    if let Some((table, n)) = sink.first_filled().map_err(at_to)? {
        return Err(CopyError::NotEmpty(
            shown(to),
            format!("{n} rows in `{table}`"),
        ));
    }
    let mut copied = Copied::default();
    for table in TABLES {
        let mut batch: Vec<Vec<Cell>> = Vec::new();
        let (mut bytes, mut n) = (0usize, 0u64);
        let mut failed_at_to = None;
        source
            .rows(table, &mut |row| {
                bytes += row.iter().map(Cell::size).sum::<usize>();
                batch.push(row);
                n += 1;
                if bytes >= BATCH_BYTES || batch.len() >= BATCH_ROWS {
                    if let Err(e) = sink.insert(table, &batch) {
                        failed_at_to = Some(e);
                        return Err(StoreError::Writer);
                    }
                    batch.clear();
                    bytes = 0;
                }
                Ok(())
            })
            .map_err(|e| match failed_at_to.take() {
                Some(e) => at_to(e),
                None => at_from(e),
            })?;
        if !batch.is_empty() {
            sink.insert(table, &batch).map_err(at_to)?;
        }
        copied.rows.push((table.name, n));
    }
    sink.commit().map_err(at_to)?;
    Ok(copied)
}

/// True when `a` and `b` name the same store (the same file, or the same URL).
fn same(a: &Path, b: &Path) -> bool {
    if is_url(a) || is_url(b) {
        return a == b;
    }
    same_file::is_same_file(a, b).unwrap_or(false)
        || matches!((std::path::absolute(a), std::path::absolute(b)), (Ok(x), Ok(y)) if x == y)
}

/// A text cell of a packed column, packed (an old SQLite store kept such rows as text).
pub(crate) fn packed(
    packer: &mut super::pack::Packer,
    kind: Kind,
    cell: Cell,
) -> Result<Cell, StoreError> {
    Ok(match (kind, cell) {
        (Kind::Packed, Cell::Text(t)) => Cell::Blob(packer.pack(&t)?),
        (_, cell) => cell,
    })
}
