//! Shadow decisions in the store (`--shadow`): one row per screening and candidate, keyed by
//! sample and candidate rules hash, written in the same transaction as the batch that holds the
//! screening (so none is acknowledged and lost, and a resumed run that screens the same request
//! again writes nothing twice). Never written without `--shadow`. The row is the decision as
//! JSON, with its key and time in columns for order.

use rusqlite::{params, Connection, Transaction};

use super::StoreError;
use crate::model::ShadowDecision;

/// SQLite's table (schema 8), under its shop like every other.
pub(super) const SQLITE_TABLE: &str = "
CREATE TABLE IF NOT EXISTS shadow (
    shop TEXT NOT NULL,
    sample TEXT NOT NULL,
    rules TEXT NOT NULL,
    at TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (shop, sample, rules)
);
CREATE INDEX IF NOT EXISTS shadow_at ON shadow(shop, at, sample);
";

/// SQLite's table as schema 7 had it, before shops (an older file is brought to it first).
pub(super) const SQLITE_TABLE_V7: &str = "
CREATE TABLE IF NOT EXISTS shadow (
    sample TEXT NOT NULL,
    rules TEXT NOT NULL,
    at TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (sample, rules)
);
CREATE INDEX IF NOT EXISTS shadow_at ON shadow(at, sample);
";

/// PostgreSQL's table (schema 2), under its shop like every other.
pub(super) const PG_TABLE: &str = r#"
CREATE TABLE sampleflow.shadow (
    shop text COLLATE "C" NOT NULL,
    sample text COLLATE "C" NOT NULL,
    rules text COLLATE "C" NOT NULL,
    at text COLLATE "C" NOT NULL,
    data text COLLATE "C" NOT NULL,
    PRIMARY KEY (shop, sample, rules)
);
CREATE INDEX shadow_at ON sampleflow.shadow (shop, at, sample);
"#;

/// A shadow decision's row: key, time (RFC 3339 in UTC, as records write it: the order of the
/// text is the order of time but for fractions, which readers sort again) and JSON.
fn row(d: &ShadowDecision) -> Result<(String, String, String, String), StoreError> {
    Ok((
        d.sample.clone(),
        d.rules.clone(),
        crate::model::Rfc3339::new(&d.at).as_str().to_string(),
        serde_json::to_string(d)?,
    ))
}

/// Writes a batch's shadow decisions into an open SQLite transaction; one already kept (the
/// same sample and candidate) stays as it was.
pub(super) fn sqlite_write(
    tx: &Transaction<'_>,
    shop: &str,
    decisions: &[ShadowDecision],
) -> Result<(), StoreError> {
    if decisions.is_empty() {
        return Ok(());
    }
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO shadow (shop, sample, rules, at, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for d in decisions {
        let (sample, rules, at, data) = row(d)?;
        insert.execute(params![shop, sample, rules, at, data])?;
    }
    Ok(())
}

/// Every shadow decision of `shop`, by time then sample.
pub(super) fn sqlite_read(
    conn: &Connection,
    shop: &str,
) -> Result<Vec<ShadowDecision>, StoreError> {
    let mut stmt =
        conn.prepare("SELECT data FROM shadow WHERE shop = ?1 ORDER BY at, sample, rules")?;
    let rows = stmt
        .query_map([shop], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    rows.iter().map(|t| Ok(serde_json::from_str(t)?)).collect()
}

/// The statement that writes a commit's shadow decisions on PostgreSQL.
pub(super) const PG_INSERT: &str = "INSERT INTO sampleflow.shadow (shop, sample, rules, at, data)
    SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[])
    ON CONFLICT DO NOTHING";

/// A commit's shadow decisions as the columns of [`PG_INSERT`].
pub(super) type PgColumns = (Vec<String>, Vec<String>, Vec<String>, Vec<String>);

pub(super) fn pg_columns(decisions: &[ShadowDecision]) -> Result<PgColumns, StoreError> {
    let mut cols = PgColumns::default();
    for d in decisions {
        let (sample, rules, at, data) = row(d)?;
        cols.0.push(sample);
        cols.1.push(rules);
        cols.2.push(at);
        cols.3.push(data);
    }
    Ok(cols)
}

/// Every shadow decision of `shop`, by time then sample.
pub(super) fn pg_read(
    client: &mut impl postgres::GenericClient,
    shop: &str,
) -> Result<Vec<ShadowDecision>, StoreError> {
    client
        .query(
            "SELECT data FROM sampleflow.shadow WHERE shop = $1 ORDER BY at, sample, rules",
            &[&shop],
        )?
        .iter()
        .map(|r| Ok(serde_json::from_str(r.get::<_, &str>(0))?))
        .collect()
}
