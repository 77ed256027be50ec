//! Reading a PostgreSQL store: the same answers, in the same order, as an SQLite store gives
//! for the same commits (text compares byte by byte in both).

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use rusqlite::types::ValueRef;

use super::PgStore;
use crate::model::{Instance, Ledger, Meta, Snapshot};
use crate::store::pack::Packer;
use crate::store::{RunState, StoreError, Version};

/// The texts of a chunk row: its lengths (none for a chunk of one) and its frame.
fn unpack_chunk(
    packer: &mut Packer,
    lens: Option<&str>,
    frame: &[u8],
) -> Result<Vec<String>, StoreError> {
    packer.unpack_many(lens, ValueRef::Blob(frame))
}

/// The samples and texts of a record chunk, as many of each.
fn log_chunk(
    packer: &mut Packer,
    row: &postgres::Row,
) -> Result<(Vec<Option<String>>, Vec<String>), StoreError> {
    let samples: Vec<Option<String>> = serde_json::from_str(row.try_get::<_, &str>(0)?)?;
    let texts = unpack_chunk(packer, row.try_get(1)?, row.try_get(2)?)?;
    if samples.len() != texts.len() {
        return Err(StoreError::Damaged(
            "a record chunk whose samples and records do not pair".into(),
        ));
    }
    Ok((samples, texts))
}

impl PgStore {
    /// Each row `sql` selects, one at a time, as the server sends them.
    fn each_row(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        f: &mut dyn FnMut(&postgres::Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut client = self.client.borrow_mut();
        let mut rows = client.query_raw(sql, params.iter().copied())?;
        while let Some(row) = rows.next()? {
            f(&row)?;
        }
        Ok(())
    }

    /// The one packed value `sql` selects for `key`, unpacked, if there is a row.
    fn one(&self, sql: &str, key: &str) -> Result<Option<String>, StoreError> {
        let row = self
            .client
            .borrow_mut()
            .query_opt(sql, &[&self.shop, &key])?;
        row.map(|r| {
            self.packer
                .borrow_mut()
                .unpack(ValueRef::Blob(r.try_get(0)?))
        })
        .transpose()
    }

    /// True when any shop of the store is connected to the platform.
    pub(super) fn has_platform(&self) -> Result<bool, StoreError> {
        Ok(self
            .client
            .borrow_mut()
            .query_opt("SELECT 1 FROM sampleflow.platform LIMIT 1", &[])?
            .is_some())
    }

    pub(super) fn runner_meta(&self) -> Result<Meta, StoreError> {
        let row = self.client.borrow_mut().query_opt(
            "SELECT value FROM sampleflow.meta WHERE shop = $1 AND key = 'runner'",
            &[&self.shop],
        )?;
        Ok(match row {
            Some(row) => serde_json::from_str(row.try_get(0)?)?,
            None => Meta::default(),
        })
    }

    /// Each line of the record log, in order (of one run, or all), with its sample.
    pub(super) fn each_log(
        &self,
        run: Option<i64>,
        f: &mut dyn FnMut(Option<String>, String) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut packer = self.packer.borrow_mut();
        self.each_row(
            "SELECT samples, lens, text FROM sampleflow.log_chunks
             WHERE shop = $1 AND ($2::bigint IS NULL OR run = $2) ORDER BY seq",
            &[&self.shop, &run],
            &mut |row| {
                let (samples, texts) = log_chunk(&mut packer, row)?;
                for (sample, text) in samples.into_iter().zip(texts) {
                    f(sample, text)?;
                }
                Ok(())
            },
        )
    }

    /// The ids of every event applied, in the order applied.
    fn applied(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        self.each_row(
            "SELECT ids FROM sampleflow.event_chunks WHERE shop = $1 ORDER BY seq",
            &[&self.shop],
            &mut |row| {
                let ids: Vec<String> = serde_json::from_str(row.try_get(0)?)?;
                out.extend(ids);
                Ok(())
            },
        )?;
        Ok(out)
    }

    pub(super) fn read_all(&self) -> Result<Snapshot, StoreError> {
        let samples = self.read_samples()?;
        let mut ledgers = Vec::new();
        let mut packer = self.packer.borrow_mut();
        self.each_row(
            "SELECT creator, data FROM sampleflow.ledgers WHERE shop = $1",
            &[&self.shop],
            &mut |row| {
                let data = packer.unpack(ValueRef::Blob(row.try_get(1)?))?;
                ledgers.push((row.try_get(0)?, serde_json::from_str(&data)?));
                Ok(())
            },
        )?;
        drop(packer);
        Ok(Snapshot {
            samples,
            ledgers,
            meta: self.runner_meta()?,
            applied: self.applied()?,
        })
    }

    /// The samples with a deadline due before `bound` (see [`crate::store::around`]).
    pub(super) fn due_before(&self, bound: &str) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::new();
        self.each_row(
            "SELECT DISTINCT sample FROM sampleflow.deadlines WHERE shop = $1 AND due < $2",
            &[&self.shop, &bound],
            &mut |row| {
                ids.push(row.try_get(0)?);
                Ok(())
            },
        )?;
        Ok(ids)
    }

    pub(super) fn read_last_run(&self) -> Result<Option<RunState>, StoreError> {
        let row = self.client.borrow_mut().query_opt(
            "SELECT data FROM sampleflow.runs WHERE shop = $1 ORDER BY id DESC LIMIT 1",
            &[&self.shop],
        )?;
        match row {
            Some(row) => Ok(Some(serde_json::from_str(row.try_get(0)?)?)),
            None => Ok(None),
        }
    }

    pub(super) fn read_sample_log(&self, sample: &str) -> Result<Vec<String>, StoreError> {
        let row = self.client.borrow_mut().query_opt(
            "SELECT chunks FROM sampleflow.samples WHERE shop = $1 AND id = $2",
            &[&self.shop, &sample],
        )?;
        let Some(row) = row else {
            return Ok(Vec::new());
        };
        let chunks: &str = row.try_get(0)?;
        let seqs = chunks
            .split_whitespace()
            .map(|seq| {
                seq.parse::<i64>().map_err(|_| {
                    StoreError::Damaged(format!("sample `{sample}` lists record chunk `{seq}`"))
                })
            })
            .collect::<Result<Vec<i64>, _>>()?;
        let mut packer = self.packer.borrow_mut();
        let mut out = Vec::new();
        let mut found = Vec::with_capacity(seqs.len());
        self.each_row(
            "SELECT samples, lens, text, seq FROM sampleflow.log_chunks
             WHERE shop = $1 AND seq = ANY($2) ORDER BY seq",
            &[&self.shop, &seqs],
            &mut |row| {
                found.push(row.try_get::<_, i64>(3)?);
                let (samples, texts) = log_chunk(&mut packer, row)?;
                out.extend(
                    samples
                        .into_iter()
                        .zip(texts)
                        .filter(|(s, _)| s.as_deref() == Some(sample))
                        .map(|(_, text)| text),
                );
                Ok(())
            },
        )?;
        if let Some(missing) = seqs.iter().find(|s| !found.contains(s)) {
            return Err(StoreError::Damaged(format!(
                "sample `{sample}` lists record chunk {missing}, which is missing"
            )));
        }
        Ok(out)
    }

    pub(super) fn read_samples(&self) -> Result<Vec<Instance>, StoreError> {
        let mut out = Vec::new();
        let mut packer = self.packer.borrow_mut();
        self.each_row(
            "SELECT data FROM sampleflow.samples WHERE shop = $1 ORDER BY id",
            &[&self.shop],
            &mut |row| {
                let text = packer.unpack(ValueRef::Blob(row.try_get(0)?))?;
                out.push(serde_json::from_str(&text)?);
                Ok(())
            },
        )?;
        Ok(out)
    }

    pub(super) fn read_samples_of(&self, creator: &str) -> Result<Vec<Instance>, StoreError> {
        let mut out = Vec::new();
        let mut packer = self.packer.borrow_mut();
        self.each_row(
            "SELECT data FROM sampleflow.samples WHERE shop = $1 AND creator = $2 ORDER BY id",
            &[&self.shop, &creator],
            &mut |row| {
                let text = packer.unpack(ValueRef::Blob(row.try_get(0)?))?;
                out.push(serde_json::from_str(&text)?);
                Ok(())
            },
        )?;
        Ok(out)
    }

    pub(super) fn read_sample(&self, id: &str) -> Result<Option<Instance>, StoreError> {
        let text = self.one(
            "SELECT data FROM sampleflow.samples WHERE shop = $1 AND id = $2",
            id,
        )?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    pub(super) fn read_ledger(&self, creator: &str) -> Result<Option<Ledger>, StoreError> {
        let text = self.one(
            "SELECT data FROM sampleflow.ledgers WHERE shop = $1 AND creator = $2",
            creator,
        )?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    pub(super) fn read_events(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        let mut packer = self.packer.borrow_mut();
        self.each_row(
            "SELECT lens, raw FROM sampleflow.event_chunks WHERE shop = $1 ORDER BY seq",
            &[&self.shop],
            &mut |row| {
                out.extend(unpack_chunk(&mut packer, row.try_get(0)?, row.try_get(1)?)?);
                Ok(())
            },
        )?;
        Ok(out)
    }

    pub(super) fn read_versions(&self) -> Result<Vec<Version>, StoreError> {
        let mut out = Vec::new();
        self.each_row(
            "SELECT kind, hash, name, files, first_seen FROM sampleflow.versions
             WHERE shop = $1 ORDER BY seen",
            &[&self.shop],
            &mut |row| {
                out.push(Version {
                    kind: row.try_get(0)?,
                    hash: row.try_get(1)?,
                    name: row.try_get(2)?,
                    files: serde_json::from_str(row.try_get(3)?)?,
                    first_seen: row.try_get(4)?,
                });
                Ok(())
            },
        )?;
        Ok(out)
    }

    pub(super) fn read_state_counts(
        &self,
    ) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let mut counts = std::collections::BTreeMap::new();
        self.each_row(
            "SELECT state, count(*) FROM sampleflow.samples WHERE shop = $1 GROUP BY state",
            &[&self.shop],
            &mut |row| {
                let n: i64 = row.try_get(1)?;
                counts.insert(row.try_get(0)?, n.max(0) as u64);
                Ok(())
            },
        )?;
        Ok(counts)
    }
}
