//! The store's trait on SQLite: loads, reads and commits.

use std::path::Path;

use rusqlite::{params, OptionalExtension};

use crate::model::{Instance, Ledger, Meta, Snapshot};
use crate::store::{Batch, Focus, RunState, Store, StoreError, Version};

use super::*;

impl Store for SqliteStore {
    fn shop(&self) -> &str {
        &self.shop
    }
    fn set_shop(&mut self, shop: &str) {
        self.shop = shop.to_string();
    }
    crate::store::platform_side!();

    fn state_counts(&mut self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT state, count(*) FROM samples WHERE shop = ?1 GROUP BY state")?;
        let rows = stmt.query_map([&self.shop], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        let mut counts = std::collections::BTreeMap::new();
        for row in rows {
            let (state, n) = row?;
            counts.insert(state, n.max(0) as u64);
        }
        Ok(counts)
    }

    fn reader(&self) -> Option<Box<dyn crate::model::Fallback>> {
        let path = self.conn.path().filter(|p| !p.is_empty())?;
        let mut reader = SqliteStore::open_read(Path::new(path)).ok()?;
        reader.shop = self.shop.clone();
        Some(Box::new(reader))
    }

    fn load(&mut self) -> Result<Snapshot, StoreError> {
        let samples = self.samples()?;
        let mut stmt = self
            .conn
            .prepare("SELECT creator, data FROM ledgers WHERE shop = ?1")?;
        let mut rows = stmt.query([&self.shop])?;
        let mut ledgers: Vec<(String, Ledger)> = Vec::new();
        while let Some(row) = rows.next()? {
            let data = self.packer.borrow_mut().unpack(row.get_ref(1)?)?;
            ledgers.push((row.get(0)?, serde_json::from_str(&data)?));
        }
        drop(rows);
        drop(stmt);
        Ok(Snapshot {
            samples,
            ledgers,
            meta: self.runner_meta()?,
            applied: self.strings(
                "SELECT value FROM event_chunks, json_each(event_chunks.ids)
                 WHERE event_chunks.shop = ?1 ORDER BY event_chunks.seq, json_each.key",
                None,
            )?,
        })
    }

    fn load_around(&mut self, focus: &Focus) -> Result<Snapshot, StoreError> {
        crate::store::around(self, focus, |store, bound| {
            store.strings(
                "SELECT DISTINCT sample FROM deadlines WHERE shop = ?1 AND due < ?2",
                Some(&bound),
            )
        })
    }

    fn meta(&mut self) -> Result<Meta, StoreError> {
        self.runner_meta()
    }

    fn last_run(&mut self) -> Result<Option<RunState>, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT data FROM runs WHERE shop = ?1 ORDER BY id DESC LIMIT 1",
                [&self.shop],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        self.commit_group(batch.clone(), &mut |_| None).map(|_| ())
    }

    fn commit_group(
        &mut self,
        first: Batch,
        more: &mut dyn FnMut(u64) -> Option<Batch>,
    ) -> Result<u64, StoreError> {
        crate::store::check_finite(&first)?;
        let tx = self.conn.transaction()?;
        let packer = self.packer.get_mut();
        let mut latest = Latest::default();
        let mut written = 0;
        let mut refused = None;
        let mut crash = false;
        let mut next = Some(first);
        while let Some(mut batch) = next {
            // Other shops' rows first, under the run of the batch that carries them.
            for part in std::mem::take(&mut batch.parts) {
                append(
                    &tx,
                    packer,
                    &mut self.platform,
                    &mut latest,
                    &part,
                    batch.run.id,
                    None,
                )?;
                latest.keep(&part.shop, part.changes);
            }
            let run = Some(&batch.run);
            append(
                &tx,
                packer,
                &mut self.platform,
                &mut latest,
                &batch,
                batch.run.id,
                run,
            )?;
            latest.keep(&batch.shop, batch.changes);
            self.commits += 1;
            crash |= self.crash_at == Some(self.commits);
            written += 1;
            next = more(written);
            // A batch that cannot be written is refused whole, after the ones before it
            // commit, as it would be if each were committed alone.
            if let Some(e) = next
                .as_ref()
                .and_then(|b| crate::store::check_finite(b).err())
            {
                refused = Some(e);
                break;
            }
        }
        let prints = latest.write(&tx, packer, &self.deadlines)?;
        if crash {
            std::process::abort();
        }
        tx.commit()?;
        // Only what is committed is known to be in the store.
        for (shop, prints) in prints {
            let known = self.deadlines.entry(shop).or_default();
            for (sample, print) in prints {
                match print {
                    Some(print) => known.insert(sample, print),
                    None => known.remove(&sample),
                };
            }
        }
        refused.map_or(Ok(written), Err)
    }

    fn run_log(&mut self, run: i64) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        self.each_log(Some(run), &mut |_, text| {
            out.push(text);
            Ok(())
        })?;
        Ok(out)
    }

    fn sample_log(&mut self, sample: &str) -> Result<Vec<String>, StoreError> {
        let Some(chunks) = self
            .conn
            .query_row(
                "SELECT chunks FROM samples WHERE shop = ?1 AND id = ?2",
                [self.shop.as_str(), sample],
                |r| r.get::<_, String>(0),
            )
            .optional()?
        else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT samples, lens, text FROM log_chunks WHERE shop = ?1 AND seq = ?2",
        )?;
        let mut packer = self.packer.borrow_mut();
        let mut out = Vec::new();
        for seq in chunks.split_whitespace() {
            let seq: i64 = seq.parse().map_err(|_| {
                StoreError::Damaged(format!("sample `{sample}` lists record chunk `{seq}`"))
            })?;
            let mut rows = stmt.query(params![self.shop, seq])?;
            let Some(row) = rows.next()? else {
                return Err(StoreError::Damaged(format!(
                    "sample `{sample}` lists record chunk {seq}, which is missing"
                )));
            };
            let (samples, texts) = log_chunk(&mut packer, row)?;
            out.extend(
                samples
                    .into_iter()
                    .zip(texts)
                    .filter(|(s, _)| s.as_deref() == Some(sample))
                    .map(|(_, text)| text),
            );
        }
        Ok(out)
    }

    fn samples(&mut self) -> Result<Vec<Instance>, StoreError> {
        self.strings("SELECT data FROM samples WHERE shop = ?1 ORDER BY id", None)?
            .iter()
            .map(|t| Ok(serde_json::from_str(t)?))
            .collect()
    }

    fn samples_of(&mut self, creator: &str) -> Result<Vec<Instance>, StoreError> {
        self.strings(
            "SELECT data FROM samples WHERE shop = ?1 AND creator = ?2 ORDER BY id",
            Some(&creator),
        )?
        .iter()
        .map(|t| Ok(serde_json::from_str(t)?))
        .collect()
    }

    fn sample(&mut self, id: &str) -> Result<Option<Instance>, StoreError> {
        let text = self.one("SELECT data FROM samples WHERE shop = ?1 AND id = ?2", id)?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    fn ledger(&mut self, creator: &str) -> Result<Option<Ledger>, StoreError> {
        let text = self.one(
            "SELECT data FROM ledgers WHERE shop = ?1 AND creator = ?2",
            creator,
        )?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    fn events(&mut self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT lens, raw FROM event_chunks WHERE shop = ?1 ORDER BY seq")?;
        let mut rows = stmt.query([&self.shop])?;
        let mut packer = self.packer.borrow_mut();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let lens: Option<String> = row.get(0)?;
            out.extend(packer.unpack_many(lens.as_deref(), row.get_ref(1)?)?);
        }
        Ok(out)
    }

    fn each_record(
        &mut self,
        f: &mut dyn FnMut(&str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.each_log(None, &mut |sample, text| match sample {
            Some(_) => f(&text),
            None => Ok(()),
        })
    }

    fn save_versions(&mut self, versions: &[Version]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO versions (shop, kind, hash, name, files, first_seen)
                 VALUES (?6, ?1, ?2, ?3, ?4, ?5)",
            )?;
            for v in versions {
                insert.execute(params![
                    v.kind,
                    v.hash,
                    v.name,
                    serde_json::to_string(&v.files)?,
                    v.first_seen,
                    self.shop,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn shadows(&mut self) -> Result<Vec<crate::model::ShadowDecision>, StoreError> {
        crate::store::shadow::sqlite_read(&self.conn, &self.shop)
    }

    fn versions(&mut self) -> Result<Vec<Version>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT kind, hash, name, files, first_seen FROM versions WHERE shop = ?1 ORDER BY rowid")?;
        let rows = stmt
            .query_map([&self.shop], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(kind, hash, name, files, first_seen)| {
                Ok(Version {
                    kind,
                    hash,
                    name,
                    files: serde_json::from_str(&files)?,
                    first_seen,
                })
            })
            .collect()
    }
}
