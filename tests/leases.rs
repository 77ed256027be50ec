//! A cluster's leases and the fence, on a real PostgreSQL (a throwaway cluster of this test
//! binary, `common::pg`), through the store's own entry points: who may take a shop, what a
//! renewal keeps, and that a commit by an owner whose lease was taken keeps nothing. The
//! instances themselves (processes, forwarding, failover) are tests/cluster.rs's.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sampleflow::machinery::model::{Changes, Ledger};
use sampleflow::machinery::store::{
    self, cluster_client, leases, Batch, EventRow, Holder, LockError, PgStore, RunState, Store,
    StoreError,
};

const TTL: Duration = Duration::from_secs(30);

fn db() -> PathBuf {
    PathBuf::from(common::pg::database())
}

/// A batch of shop `shop` that sets creator `c1`'s credit and keeps event `id`.
fn batch(shop: &str, id: &str, credit: f64) -> Batch {
    Batch {
        shop: shop.into(),
        changes: Changes {
            ledgers: vec![(
                "c1".into(),
                Ledger {
                    credit,
                    ..Ledger::default()
                }
                .into(),
            )],
            ..Default::default()
        },
        events: vec![EventRow {
            id: id.into(),
            line: 1,
            raw: format!(r#"{{"id":"{id}","type":"tick"}}"#),
        }],
        run: RunState {
            id: 1,
            input: "<watch>".into(),
            lines: 1,
            ..RunState::default()
        },
        ..Batch::default()
    }
}

fn credit(db: &Path, shop: &str) -> Option<f64> {
    let mut reader = store::open_read(db).unwrap();
    reader.set_shop(shop);
    reader.ledger("c1").unwrap().map(|l| l.credit)
}

fn events(db: &Path, shop: &str) -> Vec<String> {
    let mut reader = store::open_read(db).unwrap();
    reader.set_shop(shop);
    reader.events().unwrap()
}

#[test]
fn a_lease_is_taken_by_one_instance_at_a_time_and_each_take_raises_its_epoch() {
    let db = db();
    let mut a = cluster_client(&db, TTL).unwrap();
    let mut b = cluster_client(&db, TTL).unwrap();
    leases::heartbeat(&mut a, "host-1-aaaaaa", "http://a", "ka").unwrap();
    leases::heartbeat(&mut b, "host-2-bbbbbb", "http://b", "kb").unwrap();

    assert_eq!(
        leases::take(&mut a, "host-1-aaaaaa", "s1", TTL).unwrap(),
        Some(1)
    );
    assert_eq!(
        leases::take(&mut b, "host-2-bbbbbb", "s1", TTL).unwrap(),
        None,
        "held"
    );
    let view = leases::view(&mut b, TTL).unwrap();
    assert_eq!(view.owner("s1").map(|i| i.url.as_str()), Some("http://a"));
    assert_eq!(view.owned_by("host-1-aaaaaa"), ["s1"]);
    assert_eq!(view.instances.len(), 2);

    // Renewed at its epoch; a stale epoch renews nothing.
    let held = [("s1".to_string(), 1)];
    assert_eq!(
        leases::renew(&mut a, "host-1-aaaaaa", &held, TTL).unwrap(),
        ["s1"]
    );
    let stale = [("s1".to_string(), 7)];
    assert!(leases::renew(&mut a, "host-1-aaaaaa", &stale, TTL)
        .unwrap()
        .is_empty());

    // Released, it is the next instance's, one epoch on; the old owner's renewal finds nothing.
    leases::release(&mut a, "host-1-aaaaaa", "s1", 1).unwrap();
    assert_eq!(
        leases::take(&mut b, "host-2-bbbbbb", "s1", TTL).unwrap(),
        Some(2)
    );
    assert!(leases::renew(&mut a, "host-1-aaaaaa", &held, TTL)
        .unwrap()
        .is_empty());
    assert_eq!(
        leases::view(&mut a, TTL)
            .unwrap()
            .owner("s1")
            .map(|i| i.id.clone()),
        Some("host-2-bbbbbb".to_string())
    );

    // An instance that leaves is no longer live.
    leases::leave(&mut a, "host-1-aaaaaa").unwrap();
    let ids: Vec<String> = leases::view(&mut b, TTL)
        .unwrap()
        .instances
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, ["host-2-bbbbbb"]);
}

#[test]
fn a_lease_not_renewed_within_its_ttl_is_free_to_take() {
    let db = db();
    let mut a = cluster_client(&db, TTL).unwrap();
    let mut b = cluster_client(&db, TTL).unwrap();
    let short = Duration::from_millis(300);
    assert_eq!(leases::take(&mut a, "a-1-x", "s1", short).unwrap(), Some(1));
    assert_eq!(leases::take(&mut b, "b-2-y", "s1", TTL).unwrap(), None);
    let until = Instant::now() + Duration::from_secs(10);
    let epoch = loop {
        if let Some(epoch) = leases::take(&mut b, "b-2-y", "s1", TTL).unwrap() {
            break epoch;
        }
        assert!(Instant::now() < until, "the lease never lapsed");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(epoch, 2);
    // The lapsed owner renews nothing.
    let held = [("s1".to_string(), 1)];
    assert!(leases::renew(&mut a, "a-1-x", &held, TTL)
        .unwrap()
        .is_empty());
}

#[test]
fn a_commit_of_an_owner_whose_lease_was_taken_keeps_nothing() {
    let db = db();
    let mut a = cluster_client(&db, TTL).unwrap();
    let mut b = cluster_client(&db, TTL).unwrap();
    assert_eq!(leases::take(&mut a, "a-1-x", "s1", TTL).unwrap(), Some(1));

    let mut owner = PgStore::open(&db).unwrap();
    owner.set_shop("s1");
    owner.set_fence(leases::Fence {
        owner: "a-1-x".into(),
        epoch: 1,
    });
    owner
        .commit(&batch("s1", "e1", 5.0))
        .expect("the owner commits");
    assert_eq!(credit(&db, "s1"), Some(5.0));

    // Another instance takes the shop (as after a pause past the lease): the old owner's next
    // commit is refused whole, and the store holds what the first commit left.
    leases::release(&mut a, "a-1-x", "s1", 1).unwrap();
    assert_eq!(leases::take(&mut b, "b-2-y", "s1", TTL).unwrap(), Some(2));
    match owner.commit(&batch("s1", "e2", 9.0)) {
        Err(StoreError::Fenced { shop, epoch }) => {
            assert_eq!((shop.as_str(), epoch), ("s1", 1));
        }
        other => panic!("expected the fence to refuse, got {other:?}"),
    }
    assert_eq!(credit(&db, "s1"), Some(5.0));
    assert_eq!(events(&db, "s1").len(), 1, "{:?}", events(&db, "s1"));
    // Its rule versions are fenced too.
    assert!(matches!(
        owner.save_versions(&[]),
        Err(StoreError::Fenced { .. })
    ));

    // The new owner, fenced at its own epoch, commits.
    let mut next = PgStore::open(&db).unwrap();
    next.set_shop("s1");
    next.set_fence(leases::Fence {
        owner: "b-2-y".into(),
        epoch: 2,
    });
    next.commit(&batch("s1", "e2", 9.0))
        .expect("the new owner commits");
    assert_eq!(credit(&db, "s1"), Some(9.0));
    assert_eq!(events(&db, "s1").len(), 2);
}

#[test]
fn a_writer_outside_the_cluster_is_refused_while_an_instance_lives_and_blocks_takes() {
    let db = db();
    // A single writer first: no instance may take a lease while it holds the store.
    let lock = store::lock(&db, &Holder::me("watch")).unwrap();
    let mut a = cluster_client(&db, TTL).unwrap();
    assert_eq!(leases::take(&mut a, "a-1-x", "s1", TTL).unwrap(), None);
    drop(lock);
    assert_eq!(leases::take(&mut a, "a-1-x", "s1", TTL).unwrap(), Some(1));

    // A live instance: a writer outside the cluster is told which, and where to hand events.
    leases::heartbeat(&mut a, "vm-4242-abcdef", "http://10.1.2.3:9001", "k").unwrap();
    match store::lock(&db, &Holder::me("run")) {
        Err(LockError::Held(Some(h))) => {
            assert!(h.command.contains("serve --cluster"), "{h:?}");
            assert!(h.command.contains("vm-4242-abcdef"), "{h:?}");
            assert_eq!(h.pid, 4242);
            assert_eq!(h.listen.as_deref(), Some("10.1.2.3:9001"));
        }
        other => panic!("expected held by the cluster, got {other:?}"),
    }
    leases::leave(&mut a, "vm-4242-abcdef").unwrap();
    drop(store::lock(&db, &Holder::me("run")).expect("free once the instance left"));
}

#[test]
fn a_take_blocked_by_a_transaction_that_never_ends_finds_the_shop_not_free_and_does_not_hang() {
    let db = db();
    let short = Duration::from_millis(400);
    let mut a = cluster_client(&db, short).unwrap();
    let mut b = cluster_client(&db, short).unwrap();
    assert_eq!(leases::take(&mut a, "a-1-x", "s1", short).unwrap(), Some(1));
    // An owner paused in the middle of a commit: its fence holds the lease row `FOR SHARE`.
    let mut paused = postgres::Client::connect(db.to_str().unwrap(), postgres::NoTls).unwrap();
    let mut tx = paused.transaction().unwrap();
    tx.query(
        "SELECT epoch FROM sampleflow.leases WHERE shop = 's1' FOR SHARE",
        &[],
    )
    .unwrap();
    // Past the lease: another instance's take waits a quarter of its TTL, then finds the shop
    // not free, instead of hanging for as long as the pause lasts.
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let started = Instant::now();
        assert_eq!(leases::take(&mut b, "b-2-y", "s1", short).unwrap(), None);
        assert!(started.elapsed() < Duration::from_secs(3), "the take hung");
        if leases::view(&mut b, short)
            .unwrap()
            .leases
            .iter()
            .all(|l| !l.live)
        {
            break;
        }
        assert!(Instant::now() < until, "the lease never lapsed");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(tx);
    drop(paused);
    assert_eq!(leases::take(&mut b, "b-2-y", "s1", short).unwrap(), Some(2));
}
