//! The same store in memory: for tests, property tests and replays (`diff`).

use std::collections::BTreeMap;
use std::sync::Arc;

use rhai::ImmutableString;

use super::{Batch, RunState, Store, StoreError, Version};
use crate::model::{Instance, Ledger, Meta, Snapshot};

/// Keeps what [`super::SqliteStore`] keeps, in maps.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    /// Shared with the batch that wrote them: what the runner changes later it copies first.
    samples: BTreeMap<String, Arc<Instance>>,
    ledgers: BTreeMap<String, Arc<Ledger>>,
    meta: Meta,
    events: Vec<(String, String)>,
    log: Vec<(i64, Option<ImmutableString>, String)>,
    runs: BTreeMap<i64, RunState>,
    versions: Vec<Version>,
    shadows: BTreeMap<(String, String), crate::model::ShadowDecision>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn load(&mut self) -> Result<Snapshot, StoreError> {
        Ok(Snapshot {
            samples: self.samples.values().map(|i| (**i).clone()).collect(),
            ledgers: self
                .ledgers
                .iter()
                .map(|(k, v)| (k.clone(), (**v).clone()))
                .collect(),
            meta: self.meta.clone(),
            applied: self.events.iter().map(|(id, _)| id.clone()).collect(),
        })
    }

    fn meta(&mut self) -> Result<Meta, StoreError> {
        Ok(self.meta.clone())
    }

    fn last_run(&mut self) -> Result<Option<RunState>, StoreError> {
        Ok(self.runs.values().next_back().cloned())
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        super::check_finite(batch)?;
        for inst in &batch.changes.samples {
            self.samples
                .insert(inst.sample.id.to_string(), inst.clone());
        }
        for (id, l) in &batch.changes.ledgers {
            self.ledgers.insert(id.clone(), l.clone());
        }
        self.meta = batch.changes.meta.clone();
        self.events.extend(
            batch
                .events
                .iter()
                .map(|e| (e.id.to_string(), e.raw.clone())),
        );
        self.log.extend(
            batch
                .log
                .iter()
                .map(|l| (batch.run.id, l.sample.clone(), l.text.clone())),
        );
        self.runs.insert(batch.run.id, batch.run.clone());
        for d in &batch.changes.shadows {
            self.shadows
                .entry((d.sample.clone(), d.rules.clone()))
                .or_insert_with(|| d.clone());
        }
        Ok(())
    }

    fn run_log(&mut self, run: i64) -> Result<Vec<String>, StoreError> {
        Ok(self
            .log
            .iter()
            .filter(|(r, _, _)| *r == run)
            .map(|(_, _, t)| t.clone())
            .collect())
    }

    fn sample_log(&mut self, sample: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .log
            .iter()
            .filter(|(_, s, _)| s.as_ref().is_some_and(|s| s == sample))
            .map(|(_, _, t)| t.clone())
            .collect())
    }

    fn samples(&mut self) -> Result<Vec<Instance>, StoreError> {
        Ok(self.samples.values().map(|i| (**i).clone()).collect())
    }

    fn sample(&mut self, id: &str) -> Result<Option<Instance>, StoreError> {
        Ok(self.samples.get(id).map(|i| (**i).clone()))
    }

    fn ledger(&mut self, creator: &str) -> Result<Option<Ledger>, StoreError> {
        Ok(self.ledgers.get(creator).map(|l| (**l).clone()))
    }

    fn events(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(self.events.iter().map(|(_, raw)| raw.clone()).collect())
    }

    fn each_record(
        &mut self,
        f: &mut dyn FnMut(&str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.log
            .iter()
            .filter(|(_, s, _)| s.is_some())
            .try_for_each(|(_, _, t)| f(t))
    }

    fn save_versions(&mut self, versions: &[Version]) -> Result<(), StoreError> {
        for v in versions {
            if !self
                .versions
                .iter()
                .any(|k| k.kind == v.kind && k.hash == v.hash)
            {
                self.versions.push(v.clone());
            }
        }
        Ok(())
    }

    fn versions(&mut self) -> Result<Vec<Version>, StoreError> {
        Ok(self.versions.clone())
    }

    fn shadows(&mut self) -> Result<Vec<crate::model::ShadowDecision>, StoreError> {
        let mut all: Vec<_> = self.shadows.values().cloned().collect();
        all.sort_by(|a, b| (a.at, &a.sample, &a.rules).cmp(&(b.at, &b.sample, &b.rules)));
        Ok(all)
    }
}
