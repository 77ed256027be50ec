//! The same store in memory: for tests, property tests and replays (`diff`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use rhai::ImmutableString;

use super::{Batch, OutboxCall, RunState, Store, StoreError, Version};
use crate::model::{Instance, Ledger, Meta, Snapshot};

/// Keeps what [`super::SqliteStore`] keeps, in maps, per shop.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    /// The shop reads concern ([`Store::set_shop`]).
    shop: String,
    shops: BTreeMap<String, Shop>,
}

/// What one shop keeps.
#[derive(Debug, Default, Clone)]
struct Shop {
    /// Shared with the batch that wrote them: what the runner changes later it copies first.
    samples: BTreeMap<String, Arc<Instance>>,
    ledgers: BTreeMap<String, Arc<Ledger>>,
    meta: Meta,
    events: Vec<(String, String)>,
    log: Vec<(i64, Option<ImmutableString>, String)>,
    runs: BTreeMap<i64, RunState>,
    versions: Vec<Version>,
    shadows: BTreeMap<(String, String), crate::model::ShadowDecision>,
    /// The platform's applications, its outbox and the applications it could not map.
    platform: BTreeSet<String>,
    outbox: Vec<OutboxCall>,
    unmappable: BTreeMap<String, (String, String, String)>,
    values: BTreeMap<String, String>,
    orders: BTreeMap<(String, String, String), crate::store::OrderLine>,
    creator_names: BTreeMap<String, String>,
    product_titles: BTreeMap<String, String>,
}

/// A shop with nothing kept, for reads of a shop never written.
static EMPTY: std::sync::LazyLock<Shop> = std::sync::LazyLock::new(Shop::default);

/// A new store reads shop `default`, as every store opens.
impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            shop: crate::model::DEFAULT_SHOP.to_string(),
            shops: BTreeMap::new(),
        }
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current shop's rows, to read.
    fn here(&self) -> &Shop {
        self.shops.get(&self.shop).unwrap_or(&EMPTY)
    }

    /// The current shop's rows, to write.
    fn here_mut(&mut self) -> &mut Shop {
        self.shops.entry(self.shop.clone()).or_default()
    }

    /// Writes one batch's rows under its shop; `position` is the run's, none for a part.
    fn write(&mut self, batch: &Batch, run: i64, position: Option<&RunState>) {
        let shop = self.shops.entry(batch.shop.clone()).or_default();
        for inst in &batch.changes.samples {
            shop.samples
                .insert(inst.sample.id.to_string(), inst.clone());
        }
        for (id, l) in &batch.changes.ledgers {
            shop.ledgers.insert(id.clone(), l.clone());
        }
        shop.meta = batch.changes.meta.clone();
        shop.events.extend(
            batch
                .events
                .iter()
                .map(|e| (e.id.to_string(), e.raw.clone())),
        );
        shop.log.extend(
            batch
                .log
                .iter()
                .map(|l| (run, l.sample.clone(), l.text.clone())),
        );
        if let Some(position) = position {
            shop.runs.insert(position.id, position.clone());
        }
        shop.platform.extend(batch.platform.iter().cloned());
        // A decision on a platform sample is queued once, like the stores on disk do.
        for c in &batch.calls {
            let queued = shop
                .outbox
                .iter()
                .any(|o| o.sample == c.sample && o.event == c.event);
            if shop.platform.contains(&c.sample) && !queued {
                shop.outbox.push(OutboxCall {
                    sample: c.sample.clone(),
                    event: c.event.clone(),
                    decision: c.decision.clone(),
                    reason: c.reason.clone(),
                    state: "queued".into(),
                    attempts: 0,
                    code: None,
                    message: None,
                    queued_at: c.at.clone(),
                    updated_at: c.at.clone(),
                });
            }
        }
        for d in &batch.changes.shadows {
            shop.shadows
                .entry((d.sample.clone(), d.rules.clone()))
                .or_insert_with(|| d.clone());
        }
    }
}

impl Store for MemoryStore {
    fn shop(&self) -> &str {
        &self.shop
    }
    fn set_shop(&mut self, shop: &str) {
        self.shop = shop.to_string();
    }
    fn load(&mut self) -> Result<Snapshot, StoreError> {
        let shop = self.here();
        Ok(Snapshot {
            samples: shop.samples.values().map(|i| (**i).clone()).collect(),
            ledgers: shop
                .ledgers
                .iter()
                .map(|(k, v)| (k.clone(), (**v).clone()))
                .collect(),
            meta: shop.meta.clone(),
            applied: shop.events.iter().map(|(id, _)| id.clone()).collect(),
        })
    }

    fn meta(&mut self) -> Result<Meta, StoreError> {
        Ok(self.here().meta.clone())
    }

    fn last_run(&mut self) -> Result<Option<RunState>, StoreError> {
        Ok(self.here().runs.values().next_back().cloned())
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        super::check_finite(batch)?;
        for part in &batch.parts {
            self.write(part, batch.run.id, None);
        }
        self.write(batch, batch.run.id, Some(&batch.run));
        Ok(())
    }

    fn run_log(&mut self, run: i64) -> Result<Vec<String>, StoreError> {
        Ok(self
            .here()
            .log
            .iter()
            .filter(|(r, _, _)| *r == run)
            .map(|(_, _, t)| t.clone())
            .collect())
    }

    fn sample_log(&mut self, sample: &str) -> Result<Vec<String>, StoreError> {
        Ok(self
            .here()
            .log
            .iter()
            .filter(|(_, s, _)| s.as_ref().is_some_and(|s| s == sample))
            .map(|(_, _, t)| t.clone())
            .collect())
    }

    fn samples(&mut self) -> Result<Vec<Instance>, StoreError> {
        Ok(self
            .here()
            .samples
            .values()
            .map(|i| (**i).clone())
            .collect())
    }

    fn samples_of(&mut self, creator: &str) -> Result<Vec<Instance>, StoreError> {
        Ok(self
            .here()
            .samples
            .values()
            .filter(|i| *i.sample.creator == *creator)
            .map(|i| (**i).clone())
            .collect())
    }

    fn sample(&mut self, id: &str) -> Result<Option<Instance>, StoreError> {
        Ok(self.here().samples.get(id).map(|i| (**i).clone()))
    }

    fn ledger(&mut self, creator: &str) -> Result<Option<Ledger>, StoreError> {
        Ok(self.here().ledgers.get(creator).map(|l| (**l).clone()))
    }

    fn events(&mut self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .here()
            .events
            .iter()
            .map(|(_, raw)| raw.clone())
            .collect())
    }

    fn each_record(
        &mut self,
        f: &mut dyn FnMut(&str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.here()
            .log
            .iter()
            .filter(|(_, s, _)| s.is_some())
            .try_for_each(|(_, _, t)| f(t))
    }

    fn save_versions(&mut self, versions: &[Version]) -> Result<(), StoreError> {
        let kept = &mut self.here_mut().versions;
        for v in versions {
            if !kept.iter().any(|k| k.kind == v.kind && k.hash == v.hash) {
                kept.push(v.clone());
            }
        }
        Ok(())
    }

    fn versions(&mut self) -> Result<Vec<Version>, StoreError> {
        Ok(self.here().versions.clone())
    }

    fn shadows(&mut self) -> Result<Vec<crate::model::ShadowDecision>, StoreError> {
        let mut all: Vec<_> = self.here().shadows.values().cloned().collect();
        all.sort_by(|a, b| (a.at, &a.sample, &a.rules).cmp(&(b.at, &b.sample, &b.rules)));
        Ok(all)
    }

    fn events_with_prefix(&self, prefix: &str) -> Result<HashSet<String>, StoreError> {
        Ok(self
            .here()
            .events
            .iter()
            .filter(|(id, _)| id.starts_with(prefix))
            .map(|(id, _)| id.clone())
            .collect())
    }

    fn connector_value(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self.here().values.get(name).cloned())
    }

    fn set_connector_value(&mut self, name: &str, value: Option<&str>) -> Result<(), StoreError> {
        let values = &mut self.here_mut().values;
        match value {
            Some(v) => values.insert(name.to_string(), v.to_string()),
            None => values.remove(name),
        };
        Ok(())
    }

    fn put_order_lines(&mut self, lines: &[crate::store::OrderLine]) -> Result<(), StoreError> {
        let orders = &mut self.here_mut().orders;
        for l in lines {
            let key = (l.order_id.clone(), l.sku_id.clone(), l.content_id.clone());
            orders.insert(key, l.clone());
        }
        Ok(())
    }

    fn content_sales(&self) -> Result<Vec<crate::store::ContentSales>, StoreError> {
        let mut by: BTreeMap<&str, (i64, f64)> = BTreeMap::new();
        for l in self.here().orders.values() {
            let t = by.entry(l.content_id.as_str()).or_default();
            t.0 += i64::from(l.quantity > l.refunded_quantity);
            t.1 += l.amount * (l.quantity - l.refunded_quantity) as f64;
        }
        Ok(by
            .into_iter()
            .map(|(c, (orders, gmv))| crate::store::ContentSales {
                content_id: c.to_string(),
                orders,
                gmv,
            })
            .collect())
    }

    fn outbox(&self) -> Result<Vec<OutboxCall>, StoreError> {
        let mut calls = self.here().outbox.clone();
        calls.sort_by(|a, b| (&a.queued_at, &a.sample).cmp(&(&b.queued_at, &b.sample)));
        Ok(calls)
    }

    fn set_call(
        &mut self,
        call: &OutboxCall,
        state: &str,
        code: Option<i64>,
        message: Option<&str>,
        now: &str,
    ) -> Result<(), StoreError> {
        for o in &mut self.here_mut().outbox {
            if o.sample == call.sample && o.event == call.event {
                o.state = state.to_string();
                o.attempts += i64::from(state == "sending");
                o.code = code;
                o.message = message.map(str::to_string);
                o.updated_at = now.to_string();
            }
        }
        Ok(())
    }

    fn set_unmappable(
        &mut self,
        application: &str,
        product: &str,
        why: Option<&str>,
        now: &str,
    ) -> Result<(), StoreError> {
        let unmappable = &mut self.here_mut().unmappable;
        match why {
            Some(why) => {
                let row = (product.to_string(), why.to_string(), now.to_string());
                unmappable.insert(application.to_string(), row);
            }
            None => {
                unmappable.remove(application);
            }
        }
        Ok(())
    }

    fn set_creator_name(&mut self, creator: &str, username: &str) -> Result<(), StoreError> {
        self.here_mut()
            .creator_names
            .insert(creator.to_string(), username.to_string());
        Ok(())
    }

    fn creator_name(&self, creator: &str) -> Result<Option<String>, StoreError> {
        Ok(self.here().creator_names.get(creator).cloned())
    }

    fn set_product_title(&mut self, product: &str, title: &str) -> Result<(), StoreError> {
        self.here_mut()
            .product_titles
            .insert(product.to_string(), title.to_string());
        Ok(())
    }

    fn product_titles(&self) -> Result<BTreeMap<String, String>, StoreError> {
        Ok(self.here().product_titles.clone())
    }

    fn unmappable(&self) -> Result<Vec<(String, String, String, String)>, StoreError> {
        Ok(self
            .here()
            .unmappable
            .iter()
            .map(|(a, (p, w, t))| (a.clone(), p.clone(), w.clone(), t.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{EventRow, ReviewCall};

    fn call(sample: &str, event: &str) -> ReviewCall {
        ReviewCall {
            sample: sample.into(),
            event: event.into(),
            decision: crate::model::Verdict::Approve.as_str().into(),
            reason: None,
            at: "2026-01-02T00:00:00Z".into(),
        }
    }

    #[test]
    fn a_part_is_kept_under_its_own_shop_and_read_there() {
        let mut store = MemoryStore::new();
        let ledger = |credit| {
            (
                "c1".to_string(),
                Arc::new(Ledger {
                    credit,
                    ..Ledger::default()
                }),
            )
        };
        let part = Batch {
            shop: "uk".into(),
            changes: crate::model::Changes {
                ledgers: vec![ledger(-5.0)],
                ..Default::default()
            },
            events: vec![EventRow {
                id: "e1".into(),
                line: 1,
                raw: "{}".into(),
            }],
            run: RunState {
                id: 9,
                ..RunState::default()
            },
            ..Batch::default()
        };
        let batch = Batch {
            parts: vec![part],
            changes: crate::model::Changes {
                ledgers: vec![ledger(3.0)],
                ..Default::default()
            },
            run: RunState {
                id: 1,
                ..RunState::default()
            },
            ..Batch::default()
        };
        store.commit(&batch).expect("commit");
        assert_eq!(
            store.ledger("c1").expect("read").map(|l| l.credit),
            Some(3.0)
        );
        assert!(store.events().expect("read").is_empty());
        assert_eq!(store.last_run().expect("read").map(|r| r.id), Some(1));
        store.set_shop("uk");
        assert_eq!(
            store.ledger("c1").expect("read").map(|l| l.credit),
            Some(-5.0)
        );
        assert_eq!(store.events().expect("read").len(), 1);
        assert!(
            store.last_run().expect("read").is_none(),
            "a part's run is not kept"
        );
        store.set_shop("de");
        assert!(store.ledger("c1").expect("read").is_none());
    }

    #[test]
    fn decisions_on_platform_samples_are_queued_once_and_moved_by_set_call() {
        let mut store = MemoryStore::new();
        let batch = Batch {
            events: vec![EventRow {
                id: "p-a1".into(),
                line: 1,
                raw: "{}".into(),
            }],
            platform: vec!["a1".into()],
            calls: vec![call("a1", "p-a1"), call("x1", "e2")],
            ..Batch::default()
        };
        store.commit(&batch).expect("commit");
        store.commit(&batch).expect("commit again");
        let calls = store.outbox().expect("outbox");
        assert_eq!(calls.len(), 1, "only the platform's sample, once");
        assert_eq!(
            (calls[0].sample.as_str(), calls[0].state.as_str()),
            ("a1", "queued")
        );
        store
            .set_call(&calls[0], "sending", None, None, "t")
            .expect("set");
        let after = store.outbox().expect("outbox");
        assert_eq!((after[0].state.as_str(), after[0].attempts), ("sending", 1));
        let ids = store.events_with_prefix("p-").expect("ids");
        assert!(ids.contains("p-a1") && ids.len() == 1);
        store
            .set_unmappable("a9", "p9", Some("why"), "t")
            .expect("set");
        assert_eq!(store.unmappable().expect("read").len(), 1);
        store.set_unmappable("a9", "p9", None, "t").expect("forget");
        assert!(store.unmappable().expect("read").is_empty());
    }
}
