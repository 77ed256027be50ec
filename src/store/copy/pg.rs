//! The PostgreSQL side of a copy: every shop's rows read in one repeatable-read, read-only
//! transaction (a snapshot), or written in one transaction as multi-row `unnest` inserts.

use std::path::Path;

use postgres::types::ToSql;
use postgres::Client;

use super::{Cell, Kind, Sink, Source, Table, TABLES};
use crate::store::postgres::{connect, schema, ConnectionRole};
use crate::store::StoreError;

fn columns(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A PostgreSQL store read as one snapshot.
pub(crate) struct Reader {
    client: Client,
}

impl Reader {
    pub(crate) fn open(db: &Path) -> Result<Reader, StoreError> {
        let mut client = connect(db, ConnectionRole::Read)?;
        schema::check_readable(&mut client)?;
        client.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
        Ok(Reader { client })
    }
}

impl Source for Reader {
    fn rows(
        &mut self,
        table: &Table,
        f: &mut dyn FnMut(Vec<Cell>) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let order = if table.order.is_empty() {
            "seen"
        } else {
            table.order
        };
        let sql = format!(
            "SELECT {} FROM sampleflow.{} ORDER BY {order}",
            columns(table),
            table.name
        );
        use postgres::fallible_iterator::FallibleIterator;
        let mut rows = self
            .client
            .query_raw(&sql, std::iter::empty::<&(dyn ToSql + Sync)>())?;
        while let Some(row) = rows.next()? {
            let mut cells = Vec::with_capacity(table.columns.len());
            for (i, (_, kind)) in table.columns.iter().enumerate() {
                let cell = match kind {
                    Kind::Text => row.try_get::<_, Option<String>>(i)?.map(Cell::Text),
                    Kind::Int => row.try_get::<_, Option<i64>>(i)?.map(Cell::Int),
                    Kind::Bool => row
                        .try_get::<_, Option<bool>>(i)?
                        .map(|b| Cell::Int(i64::from(b))),
                    Kind::Packed => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Cell::Blob),
                    Kind::Real => row.try_get::<_, Option<f64>>(i)?.map(Cell::Real),
                };
                cells.push(cell.unwrap_or(Cell::Null));
            }
            f(cells)?;
        }
        Ok(())
    }
}

/// A PostgreSQL store written in one transaction.
pub(crate) struct Writer {
    client: Client,
    /// The order of the next version written.
    seen: i64,
}

impl Writer {
    /// Opens the store at `db`, its schema made as any writer makes it, and begins the
    /// transaction the whole copy is written in.
    pub(crate) fn open(db: &Path) -> Result<Writer, StoreError> {
        let mut client = connect(db, ConnectionRole::Write)?;
        schema::ensure(&mut client)?;
        client.batch_execute("BEGIN")?;
        Ok(Writer { client, seen: 1 })
    }
}

/// A column of cells as one typed array parameter.
fn column(kind: Kind, rows: &[Vec<Cell>], i: usize) -> Box<dyn ToSql + Sync> {
    let cells = rows.iter().map(move |r| r.get(i).unwrap_or(&Cell::Null));
    match kind {
        Kind::Text => Box::new(
            cells
                .map(|c| match c {
                    Cell::Text(t) => Some(t.clone()),
                    Cell::Int(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        ),
        Kind::Int => Box::new(
            cells
                .map(|c| match c {
                    Cell::Int(n) => Some(*n),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        ),
        Kind::Bool => Box::new(
            cells
                .map(|c| match c {
                    Cell::Int(n) => Some(*n != 0),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        ),
        Kind::Packed => Box::new(
            cells
                .map(|c| match c {
                    Cell::Blob(b) => Some(b.clone()),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        ),
        Kind::Real => Box::new(
            cells
                .map(|c| match c {
                    Cell::Real(x) => Some(*x),
                    Cell::Int(n) => Some(*n as f64),
                    _ => None,
                })
                .collect::<Vec<_>>(),
        ),
    }
}

fn array_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "text[]",
        Kind::Int => "bigint[]",
        Kind::Bool => "boolean[]",
        Kind::Packed => "bytea[]",
        Kind::Real => "float8[]",
    }
}

impl Sink for Writer {
    fn first_filled(&mut self) -> Result<Option<(String, i64)>, StoreError> {
        for table in TABLES {
            let n: i64 = self
                .client
                .query_one(
                    &format!("SELECT count(*) FROM sampleflow.{}", table.name),
                    &[],
                )?
                .get(0);
            if n > 0 {
                return Ok(Some((table.name.to_string(), n)));
            }
        }
        Ok(None)
    }

    fn insert(&mut self, table: &Table, rows: &[Vec<Cell>]) -> Result<(), StoreError> {
        let mut names: Vec<&str> = table.columns.iter().map(|(c, _)| *c).collect();
        let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        let mut casts = Vec::new();
        for (i, (_, kind)) in table.columns.iter().enumerate() {
            params.push(column(*kind, rows, i));
            casts.push(format!("${}::{}", i + 1, array_type(*kind)));
        }
        if table.name == "versions" {
            // The order first seen, which SQLite keeps as its rowid.
            let seen: Vec<i64> = (self.seen..).take(rows.len()).collect();
            self.seen += rows.len() as i64;
            names.push("seen");
            casts.push(format!("${}::bigint[]", params.len() + 1));
            params.push(Box::new(seen));
        }
        let sql = format!(
            "INSERT INTO sampleflow.{} ({}) SELECT * FROM unnest({})",
            table.name,
            names.join(", "),
            casts.join(", ")
        );
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        self.client.execute(&sql, &refs)?;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.client.batch_execute("COMMIT")?;
        Ok(())
    }
}
