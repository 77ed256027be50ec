//! The SQLite side of a copy: its tables read in one read transaction, or written in one
//! write transaction.

use std::path::Path;

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, OpenFlags};

use super::{packed, Cell, Kind, Sink, Source, Table, TABLES};
use crate::store::pack::Packer;
use crate::store::{SqliteStore, StoreError};

/// The order a table's rows are read in: its own, or the order they were written.
fn order(table: &Table) -> &'static str {
    if table.order.is_empty() {
        "rowid"
    } else {
        table.order
    }
}

fn columns(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ")
}

/// An SQLite store read as one snapshot.
pub(crate) struct Reader {
    conn: Connection,
    packer: Packer,
}

impl Reader {
    pub(crate) fn open(db: &Path) -> Result<Reader, StoreError> {
        if !db.exists() {
            return Err(StoreError::Missing);
        }
        // Checked as every reader checks a store: ours, at this schema.
        drop(SqliteStore::open_read(db)?);
        let conn = Connection::open_with_flags(
            db,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // One read transaction for every table: a snapshot, even beside a writer (WAL).
        conn.execute_batch("BEGIN")?;
        Ok(Reader {
            conn,
            packer: Packer::default(),
        })
    }
}

impl Source for Reader {
    fn rows(
        &mut self,
        table: &Table,
        f: &mut dyn FnMut(Vec<Cell>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT {} FROM {} ORDER BY {}",
            columns(table),
            table.name,
            order(table)
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(table.columns.len());
            for (i, (_, kind)) in table.columns.iter().enumerate() {
                let cell = match row.get_ref(i)? {
                    ValueRef::Null => Cell::Null,
                    ValueRef::Integer(n) => Cell::Int(n),
                    ValueRef::Real(x) if *kind == Kind::Real => Cell::Real(x),
                    ValueRef::Real(x) => Cell::Text(x.to_string()),
                    ValueRef::Text(t) => {
                        Cell::Text(String::from_utf8(t.to_vec()).map_err(|_| {
                            StoreError::Damaged(format!("a text in `{}`", table.name))
                        })?)
                    }
                    ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
                };
                cells.push(packed(&mut self.packer, *kind, cell)?);
            }
            f(cells)?;
        }
        Ok(())
    }
}

/// An SQLite store written in one transaction.
pub(crate) struct Writer {
    conn: Connection,
}

impl Writer {
    /// Opens (creating when missing) the store at `db`, its schema made as any writer makes it.
    pub(crate) fn open(db: &Path) -> Result<Writer, StoreError> {
        drop(SqliteStore::open(db)?);
        let conn = Connection::open(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        Ok(Writer { conn })
    }
}

impl Sink for Writer {
    fn first_filled(&mut self) -> Result<Option<(String, i64)>, StoreError> {
        for table in TABLES {
            let n: i64 =
                self.conn
                    .query_row(&format!("SELECT count(*) FROM {}", table.name), [], |r| {
                        r.get(0)
                    })?;
            if n > 0 {
                return Ok(Some((table.name.to_string(), n)));
            }
        }
        Ok(None)
    }

    fn insert(&mut self, table: &Table, rows: &[Vec<Cell>]) -> Result<(), StoreError> {
        let marks = vec!["?"; table.columns.len()].join(", ");
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({marks})",
            table.name,
            columns(table)
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        for row in rows {
            let values = row.iter().map(|c| match c {
                Cell::Null => Value::Null,
                Cell::Int(n) => Value::Integer(*n),
                Cell::Real(x) => Value::Real(*x),
                Cell::Text(t) => Value::Text(t.clone()),
                Cell::Blob(b) => Value::Blob(b.clone()),
            });
            stmt.execute(rusqlite::params_from_iter(values))?;
        }
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }
}
