//! Shops in one store, on both backends: the same sample and creator ids in two shops name two
//! different things; a batch carries other shops' rows (`parts`) in its transaction; every read
//! and the platform's side concern the handle's shop (`set_shop`).

use std::sync::Arc;

use sampleflow::machinery::model::{Changes, Ledger, Meta};
use sampleflow::machinery::store::{Batch, Focus, ReviewCall, Version};

use super::{armed, event, instance, record, run, Db};

on_both!(
    two_shops_keep_the_same_sample_and_creator_ids_apart,
    run_states_and_records_are_each_shops_own,
    outbox_versions_and_unmappable_are_per_shop,
);

/// A ledger whose credit tells the shops apart.
fn ledger(credit: f64) -> Arc<Ledger> {
    Ledger {
        credit,
        samples: 1,
        ..Ledger::default()
    }
    .into()
}

fn meta(day: &str, seq: u64) -> Meta {
    Meta {
        clock: Some(format!("2026-01-{day}T00:00:00Z").parse().unwrap()),
        seq,
        ..Meta::default()
    }
}

/// One batch of shop `us` carrying a part of shop `uk`: the same sample `s1` and creator `c1`
/// in both, in other states, with other ledgers, clocks and deadlines.
fn mixed() -> Batch {
    let uk = Batch {
        shop: "uk".into(),
        changes: Changes {
            samples: vec![instance(
                "s1",
                1,
                "awaiting_shipment",
                vec![armed("ship", "2026-01-08T00:00:00Z", 1)],
            )],
            ledgers: vec![("c1".into(), ledger(-5.0))],
            meta: meta("03", 7),
            ..Default::default()
        },
        events: vec![event("uk-e1")],
        log: vec![record("s1", 10)],
        // Not written: a part's position is its carrier's.
        run: run(9, 99),
        ..Batch::default()
    };
    Batch {
        shop: "us".into(),
        parts: vec![uk],
        changes: Changes {
            samples: vec![instance("s1", 2, "completed", Vec::new())],
            ledgers: vec![("c1".into(), ledger(12.0))],
            meta: meta("05", 3),
            ..Default::default()
        },
        events: vec![event("us-e1"), event("us-e2")],
        log: vec![record("s1", 20), record("s1", 21)],
        run: run(1, 2),
        ..Batch::default()
    }
}

fn two_shops_keep_the_same_sample_and_creator_ids_apart(db: Db) {
    let mut store = db.open();
    assert_eq!(store.shop(), "default", "a store opens on shop default");
    store.commit(&mixed()).unwrap();
    let mut read = db.read();
    for (shop, state, credit, clock, seq) in [
        ("us", "completed", 12.0, "05", 3),
        ("uk", "awaiting_shipment", -5.0, "03", 7),
    ] {
        read.set_shop(shop);
        assert_eq!(read.shop(), shop);
        let s1 = read.sample("s1").unwrap().unwrap();
        assert_eq!(s1.sample.state.as_str(), state, "{shop} on {}", db.kind);
        assert_eq!(read.ledger("c1").unwrap().unwrap().credit, credit, "{shop}");
        assert_eq!(read.meta().unwrap(), meta(clock, seq), "{shop}: its clock");
        let snap = read.load().unwrap();
        assert_eq!(snap.samples.len(), 1, "{shop}");
        assert_eq!(snap.ledgers.len(), 1, "{shop}");
        assert_eq!(snap.meta, meta(clock, seq));
        assert_eq!(
            read.state_counts().unwrap().into_iter().collect::<Vec<_>>(),
            [(state.to_string(), 1)],
            "{shop}"
        );
        // The read-back view a runner falls back on reads the same shop.
        let mut fallback = read.reader().unwrap();
        assert_eq!(
            fallback.sample("s1").unwrap().sample.state.as_str(),
            state,
            "{shop}: its fallback"
        );
        assert_eq!(fallback.ledger("c1").unwrap().credit, credit);
    }
    // Deadlines are the shop's: only uk's s1 is due.
    let focus = Focus {
        at: "2026-01-10T00:00:00Z".parse().unwrap(),
        samples: Vec::new(),
        creators: Vec::new(),
    };
    read.set_shop("uk");
    assert_eq!(read.load_around(&focus).unwrap().samples.len(), 1);
    read.set_shop("us");
    assert!(read.load_around(&focus).unwrap().samples.is_empty());
    // A shop nobody wrote holds nothing.
    read.set_shop("default");
    assert!(read.sample("s1").unwrap().is_none());
    assert!(read.ledger("c1").unwrap().is_none());
    assert_eq!(read.meta().unwrap(), Meta::default());
    assert!(read.samples().unwrap().is_empty());
    // The writer's own handle reads its shop too.
    store.set_shop("uk");
    assert_eq!(
        store.sample("s1").unwrap().unwrap().sample.state.as_str(),
        "awaiting_shipment"
    );
}

fn run_states_and_records_are_each_shops_own(db: Db) {
    let mut store = db.open();
    store.commit(&mixed()).unwrap();
    // Shop uk's own run 1, after: run ids are per shop.
    store
        .commit(&Batch {
            shop: "uk".into(),
            changes: Changes {
                samples: vec![instance("s1", 2, "shipped", Vec::new())],
                meta: meta("04", 8),
                ..Default::default()
            },
            events: vec![event("uk-e2")],
            log: vec![record("s1", 11)],
            run: run(1, 40),
            ..Batch::default()
        })
        .unwrap();
    let mut read = db.read();
    read.set_shop("us");
    assert_eq!(read.last_run().unwrap().map(|r| r.lines), Some(2));
    assert_eq!(
        read.run_log(1).unwrap(),
        [record("s1", 20).text, record("s1", 21).text]
    );
    assert_eq!(read.events().unwrap().len(), 2);
    assert_eq!(read.load().unwrap().applied, ["us-e1", "us-e2"]);
    read.set_shop("uk");
    let last = read.last_run().unwrap().unwrap();
    assert_eq!(
        (last.id, last.lines),
        (1, 40),
        "uk's own run, not the part's"
    );
    assert_eq!(read.meta().unwrap(), meta("04", 8));
    // The part's records were kept under its carrier's run (1), in its own shop.
    assert_eq!(
        read.run_log(1).unwrap(),
        [record("s1", 10).text, record("s1", 11).text]
    );
    assert!(read.run_log(9).unwrap().is_empty());
    assert_eq!(
        read.sample_log("s1").unwrap(),
        [record("s1", 10).text, record("s1", 11).text]
    );
    assert_eq!(read.load().unwrap().applied, ["uk-e1", "uk-e2"]);
    assert_eq!(
        read.events_with_prefix("uk-").unwrap().len(),
        2,
        "{}",
        db.kind
    );
    assert!(read.events_with_prefix("us-").unwrap().is_empty());
    let mut records = Vec::new();
    read.each_record(&mut |r| {
        records.push(r.to_string());
        Ok(())
    })
    .unwrap();
    assert_eq!(records, [record("s1", 10).text, record("s1", 11).text]);
    read.set_shop("default");
    assert!(read.last_run().unwrap().is_none());
    assert!(read.events().unwrap().is_empty());
}

fn outbox_versions_and_unmappable_are_per_shop(db: Db) {
    let mut store = db.open();
    let call = |shop: &str| ReviewCall {
        sample: "a1".into(),
        event: "tts-a1-requested".into(),
        decision: if shop == "us" { "approve" } else { "reject" }.into(),
        reason: Some("auto_approved".into()),
        at: "2026-01-02T00:00:00Z".into(),
    };
    // The same application id in two shops, each queued in its own; a third shop's decision
    // on `a1` queues nothing, since `a1` is not its platform's.
    let shop_batch = |shop: &str| Batch {
        shop: shop.into(),
        events: vec![event("tts-a1-requested")],
        log: vec![record("a1", 1)],
        platform: vec!["a1".into()],
        calls: vec![call(shop)],
        ..Batch::default()
    };
    let mut batch = shop_batch("us");
    batch.parts = vec![
        shop_batch("uk"),
        Batch {
            shop: "de".into(),
            calls: vec![call("de")],
            ..Batch::default()
        },
    ];
    store.commit(&batch).unwrap();
    let mut read = db.read();
    for (shop, decision) in [("us", "approve"), ("uk", "reject")] {
        read.set_shop(shop);
        let calls = read.outbox().unwrap();
        assert_eq!(calls.len(), 1, "{shop} on {}", db.kind);
        assert_eq!(calls[0].decision, decision);
    }
    read.set_shop("de");
    assert!(read.outbox().unwrap().is_empty());
    // Moving uk's call leaves us's as it was.
    store.set_shop("uk");
    let uk = store.outbox().unwrap().remove(0);
    store.set_call(&uk, "sent", Some(0), None, "t1").unwrap();
    store.set_unmappable("a9", "p9", Some("why"), "t").unwrap();
    read.set_shop("uk");
    assert_eq!(read.outbox().unwrap()[0].state, "sent");
    assert_eq!(read.unmappable().unwrap().len(), 1);
    read.set_shop("us");
    assert_eq!(read.outbox().unwrap()[0].state, "queued");
    assert!(read.unmappable().unwrap().is_empty());
    // Versions: the same hash kept once per shop, each shop's in its own order.
    let v = |hash: &str, name: &str| Version {
        kind: "rules".into(),
        hash: hash.into(),
        name: name.into(),
        files: Vec::new(),
        first_seen: "2026-01-01T00:00:00Z".into(),
    };
    store.set_shop("us");
    store.save_versions(&[v("h1", "us")]).unwrap();
    store.set_shop("uk");
    store
        .save_versions(&[v("h2", "uk"), v("h1", "uk")])
        .unwrap();
    read.set_shop("us");
    assert_eq!(read.versions().unwrap(), [v("h1", "us")]);
    read.set_shop("uk");
    assert_eq!(read.versions().unwrap(), [v("h2", "uk"), v("h1", "uk")]);
    read.set_shop("default");
    assert!(read.versions().unwrap().is_empty());
}
