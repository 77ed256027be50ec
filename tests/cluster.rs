//! Several `serve --cluster` instances on one PostgreSQL database, end to end with the real
//! binary on loopback (the contract's "Several instances, one PostgreSQL"): six shops spread
//! over the instances by leases (TTL 2 s), writes reaching a non-owner forwarded to the owner,
//! an operator's review through the non-owner applied under the operator's name, a kill -9 of an
//! owner under load, an owner paused (SIGSTOP) past its lease and woken, a third instance joining
//! and a rolling restart. In every case each shop's end state equals one `sampleflow run` of the
//! same events, every sample's records are the run's (nothing lost, nothing applied twice), and
//! every event posted again is `duplicate_id`. Also: a console session signed in on one instance
//! works on the other, whose console review reaches the owner; `--cluster`'s refusals (exit 2);
//! and the harness itself on one plain `serve`, its control. The helpers are in
//! tests/common/cluster.rs; a failing test prints every instance's stderr and PostgreSQL's log.

// Tests fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::live::Lines;
use common::raw::{csrf, raw, sign_in};

use common::cluster::{
    pending_request, review_line, Baseline, Cluster, Events, Instance, Load, View, OPERATOR,
    OPERATOR_NAME, SERVE, SETTLE, SHOPS, TAKEOVER_MARGIN, TTL, VIEWER, VIEWER_OF_ONE,
};

/// Through `post_via`, a request for `sample` of shop `shop` that the policy sends to review;
/// through `review_via`, the operator approves it: the record names the operator, and every
/// instance in `readers` reads the sample approved. The two event lines, for the baseline.
fn request_and_review(
    shop: &str,
    sample: &str,
    post_via: &Instance,
    review_via: &Instance,
    readers: &[&Instance],
) -> Vec<String> {
    let request = pending_request(shop, sample, &format!("{sample}-req"));
    let a = post_via.post(
        &format!("/v1/shops/{shop}/events"),
        Some(OPERATOR),
        &request,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let record = &a.json()["results"][0]["records"][0];
    assert_eq!(record["to"], "pending", "{}", a.body);
    assert_eq!(record["reason"], "price_cap", "{}", a.body);

    let note = "approved on another instance";
    let a = review_via.post(
        &format!("/v1/shops/{shop}/samples/{sample}/review"),
        Some(OPERATOR),
        &format!(r#"{{"decision":"approve","note":"{note}"}}"#),
    );
    assert_eq!(
        a.status, 200,
        "review through {}: {}",
        review_via.label, a.body
    );
    let record = a.json()["records"][0].clone();
    assert_eq!(record["by"], OPERATOR_NAME, "{record}");
    assert_eq!(record["trigger"], "sample_reviewed", "{record}");
    assert_eq!(record["to"], "awaiting_shipment", "{record}");
    assert_eq!(record["shop"], shop, "{record}");
    for i in readers {
        let shown = i
            .get(&format!("/v1/shops/{shop}/samples/{sample}"), Some(VIEWER))
            .json();
        assert_eq!(
            shown["sample"]["state"], "awaiting_shipment",
            "{}: {shown}",
            i.label
        );
        assert_eq!(
            shown["sample"]["reviewed_by"], OPERATOR_NAME,
            "{}: {shown}",
            i.label
        );
        let last = shown["records"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["trigger"], "sample_reviewed", "{}: {shown}", i.label);
        assert_eq!(last["by"], OPERATOR_NAME, "{}: {shown}", i.label);
        assert_eq!(last["event"], record["event"], "{}: {shown}", i.label);
    }
    vec![request, review_line(shop, &record, "approve", note)]
}

/// The end state, the records and the duplicates against the single-process run.
fn check_against_run(c: &Cluster, events: &Events, via: &[&Instance]) {
    let base = Baseline::run(&c.dep, events);
    c.assert_same_as(&base, via);
    c.assert_all_duplicates(events, via);
}

/// The sum of `sampleflow_cluster_shops_owned` over `instances`.
fn shops_owned(instances: &[&Instance]) -> f64 {
    instances
        .iter()
        .map(|i| {
            let values = i.metric("sampleflow_cluster_shops_owned");
            assert!(
                !values.is_empty(),
                "{}: no sampleflow_cluster_shops_owned in /metrics",
                i.label
            );
            values.iter().sum::<f64>()
        })
        .sum()
}

/// Waits until the metric says what `/v1/cluster` says: all six shops owned.
fn wait_shops_owned(instances: &[&Instance]) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let owned = shops_owned(instances);
        if owned == SHOPS.len() as f64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "sampleflow_cluster_shops_owned sums to {owned} over the live instances, not {}",
            SHOPS.len()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Each instance's id in the view is the one it logged joining with, and each owner logged
/// taking every shop the view gives it (`cluster: took shop S (epoch N)`).
fn check_logs_against(view: &View, instances: &[&Instance]) {
    for i in instances {
        let id = i.joined_id();
        let member = view
            .member(&i.url())
            .unwrap_or_else(|| panic!("{} not in the view:\n{}", i.label, view.describe()));
        assert_eq!(member.id, id, "{}: the view's id against its log", i.label);
        for shop in &member.shops {
            // The line follows the take's commit, which the view reads: waited for.
            let prefix = format!("cluster: took shop {shop} (epoch ");
            i.wait_line(
                0,
                &format!("`{prefix}N)` for a shop the view gives it"),
                |l| l.starts_with(&prefix),
            );
        }
    }
}

/// The harness itself, on one plain `serve` (no `--cluster`) on the same kind of database: the
/// same events and review end where the single-process run ends. When this passes and a
/// cluster test fails, the cluster is at fault, not the comparison.
#[test]
fn one_plain_serve_matches_the_single_process_run() {
    let c = Cluster::new();
    let s = c.start_with(&[]);
    let first = request_and_review(SHOPS[2], "rv-1", &s, &s, &[&s]);
    let events = Events::generate(&c.dep, 20, 3);
    let load = Load::start(&events, 4, vec![s.addr.clone()], usize::MAX);
    let p = load.finish();
    assert!(p.misses.is_empty(), "{}", p.describe());
    let applied: usize = p.acks.iter().map(|x| x.applied).sum();
    assert_eq!(applied, events.count(), "{}", p.describe());
    check_against_run(&c, &events.with_first(SHOPS[2], &first), &[&s]);
}

#[test]
fn two_instances_split_six_shops_and_forward_writes() {
    let c = Cluster::new();
    let a = c.start();
    let b = c.start();
    let view = c.settle(&[&a, &b], &a, None);
    check_logs_against(&view, &[&a, &b]);
    // `renewed_at` is a time, and a recent one: renewals run on the real clock.
    for m in &view.members {
        let at = chrono::DateTime::parse_from_rfc3339(&m.renewed_at)
            .unwrap_or_else(|e| panic!("renewed_at `{}`: {e}", m.renewed_at));
        let age = (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_seconds();
        assert!(age.abs() < 60, "renewed_at {} of {}", m.renewed_at, m.url);
    }
    // The route is a viewer's: no token, no view; a viewer of one shop sees that shop only.
    assert_eq!(a.get("/v1/cluster", None).status, 401);
    let one = View::parse(&a.get("/v1/cluster", Some(VIEWER_OF_ONE)).json()).unwrap();
    let listed: Vec<&String> = one.members.iter().flat_map(|m| &m.shops).collect();
    assert_eq!(listed, [SHOPS[1]], "{}", one.describe());
    assert_eq!(
        one.members.len(),
        view.members.len(),
        "every instance is listed"
    );
    // Both read the same ownership from the database.
    let owners = view.owners();
    c.wait_view(&b, "the same owners as a's view", SETTLE, |v| {
        v.owners() == owners
    });
    wait_shops_owned(&[&a, &b]);

    // A request and an operator's review, each through the instance that does not own the shop.
    let shop = SHOPS[0];
    let (owner, other) = if view.owner(shop).unwrap().url == a.url() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let mut first = request_and_review(shop, "rv-1", other, other, &[&a, &b]);
    // The shop kept its owner meanwhile: both writes were forwarded to it.
    assert_eq!(
        b.view().owner(shop).map(|m| m.url.clone()),
        Some(owner.url())
    );
    // And the same through the owner itself.
    first.extend(request_and_review(shop, "rv-2", owner, owner, &[&a, &b]));

    // Every shop's events, batch by batch to a and b in turn: half of them forwarded.
    let events = Events::generate(&c.dep, 20, 7);
    let load = Load::start(&events, 4, vec![a.addr.clone(), b.addr.clone()], usize::MAX);
    let p = load.finish();
    assert!(p.misses.is_empty(), "{}", p.describe());
    for (k, shop) in SHOPS.iter().enumerate() {
        let through: BTreeSet<&str> = p
            .acks
            .iter()
            .filter(|x| x.shop == k)
            .map(|x| x.addr.as_str())
            .collect();
        assert_eq!(
            through.len(),
            2,
            "{shop}: every batch answered by one instance: {through:?}; {}",
            p.describe()
        );
    }
    let applied: usize = p.acks.iter().map(|x| x.applied).sum();
    assert_eq!(applied, events.count(), "{}", p.describe());
    c.settle(&[&a, &b], &b, None);
    check_against_run(&c, &events.with_first(shop, &first), &[&a, &b]);
    wait_shops_owned(&[&a, &b]);
}

#[test]
fn kill_9_of_an_owner_under_load_loses_nothing() {
    let c = Cluster::new();
    let a = c.start();
    let b = c.start();
    c.settle(&[&a, &b], &a, None);
    let events = Events::generate(&c.dep, 20, 11);
    // Held at half of each shop's batches, so the kill comes with every shop's load unfinished.
    let load = Load::start(&events, 3, vec![a.addr.clone(), b.addr.clone()], 0);
    load.set_gate(load.most_batches() / 2);
    let third = load.total_batches() / 3;
    load.wait_until("a third of the batches acknowledged", SETTLE * 2, |p| {
        p.total_acked() >= third
    });
    let view = a.view();
    let (victim, survivor) = if view.shops_of(&a.url()).is_empty() {
        (b, a)
    } else {
        (a, b)
    };
    let moved = view.shops_of(&victim.url());
    assert!(!moved.is_empty(), "{}", view.describe());
    let victim_url = victim.url();
    let victim_addr = victim.addr.clone();
    let from = survivor.err.len();
    let killed_at = victim.kill9();
    load.set_gate(usize::MAX);

    // Within the lease TTL plus 5 s: the survivor owns the victim's shops, and a write to each
    // of them is answered with a 200.
    let bound = TTL + TAKEOVER_MARGIN;
    let left = bound.saturating_sub(killed_at.elapsed());
    c.wait_view(
        &survivor,
        &format!("{moved:?} owned by the survivor within {bound:?} of the kill"),
        left,
        |v| {
            moved
                .iter()
                .all(|s| v.owner(s).is_some_and(|m| m.url == survivor.url()))
        },
    );
    let moved_k: Vec<usize> = moved
        .iter()
        .map(|s| common::cluster::shop_index(s))
        .collect();
    let left = bound.saturating_sub(killed_at.elapsed());
    load.wait_until(
        &format!("a 200 for each of {moved:?} within {bound:?} of the kill"),
        left,
        |p| {
            moved_k
                .iter()
                .all(|k| p.first_ack_after(*k, killed_at).is_some())
        },
    );
    let took = survivor.took(from);
    for shop in &moved {
        assert!(
            took.contains(shop),
            "the survivor never logged taking {shop}"
        );
    }

    // A new instance joins while the load goes on; the clients post to it instead.
    let d = c.start();
    load.set_addrs(vec![survivor.addr.clone(), d.addr.clone()]);
    let p = load.finish();
    assert!(
        p.misses.iter().any(|m| m.addr == victim_addr),
        "no request went unanswered at the killed instance: {}",
        p.describe()
    );
    let answered: usize = p.acks.iter().map(|x| x.applied + x.duplicates).sum();
    assert_eq!(answered, events.count(), "{}", p.describe());
    let view = c.settle(&[&survivor, &d], &d, Some(&d));
    assert!(view.member(&victim_url).is_none(), "{}", view.describe());
    check_against_run(&c, &events, &[&survivor, &d]);
    wait_shops_owned(&[&survivor, &d]);
}

#[test]
fn a_paused_owner_wakes_and_commits_nothing() {
    let c = Cluster::new();
    let a = c.start();
    let b = c.start();
    c.settle(&[&a, &b], &a, None);
    let events = Events::generate(&c.dep, 20, 13);
    let load = Load::start(&events, 3, vec![a.addr.clone(), b.addr.clone()], 0);
    let most = load.most_batches();
    load.set_gate(most / 3);
    load.wait_gate("a third of each shop's batches");
    let view = b.view();
    let (paused, other) = if view.shops_of(&a.url()).is_empty() {
        (&b, &a)
    } else {
        (&a, &b)
    };
    let held = view.shops_of(&paused.url());
    assert!(!held.is_empty(), "{}", view.describe());

    // Paused past its lease: the other instance takes its shops, and the load goes on there
    // (requests left hanging at the paused one are sent again to the other).
    paused.signal("STOP");
    load.set_gate(2 * most / 3);
    c.wait_view(
        other,
        &format!(
            "every shop owned by {} while {} is paused",
            other.label, paused.label
        ),
        SETTLE,
        |v| {
            SHOPS
                .iter()
                .all(|s| v.owner(s).is_some_and(|m| m.url == other.url()))
        },
    );
    load.wait_gate("two thirds of each shop's batches, one instance paused");

    // Woken, it finds its leases gone: it drops its shops and commits nothing of theirs.
    let from = paused.err.len();
    paused.signal("CONT");
    paused.wait_line(from, "`cluster: lost shop S (epoch N): WHY`", |l| {
        l.starts_with("cluster: lost shop ")
            && held
                .iter()
                .any(|s| l.starts_with(&format!("cluster: lost shop {s} ")))
    });
    let p = load.finish();
    assert!(
        p.misses.iter().any(|m| m.addr == paused.addr),
        "no request went unanswered at the paused instance: {}",
        p.describe()
    );
    let answered: usize = p.acks.iter().map(|x| x.applied + x.duplicates).sum();
    assert_eq!(answered, events.count(), "{}", p.describe());
    let lost = paused.metric("sampleflow_cluster_lease_lost_total");
    assert!(
        lost.iter().sum::<f64>() >= 1.0,
        "{}: sampleflow_cluster_lease_lost_total {lost:?}",
        paused.label
    );
    c.settle(&[&a, &b], other, None);
    check_against_run(&c, &events, &[&a, &b]);
    wait_shops_owned(&[&a, &b]);
}

#[test]
fn three_instances_rolling_restart_and_a_join() {
    let c = Cluster::new();
    let a = c.start();
    let b = c.start();
    c.settle(&[&a, &b], &a, None);
    let events = Events::generate(&c.dep, 20, 17);
    let load = Load::start(&events, 3, vec![a.addr.clone(), b.addr.clone()], 2);
    load.wait_gate("the first batches");
    let step = |what: &str| {
        load.set_gate(load.gate() + 2);
        load.wait_gate(what);
    };

    // A third instance joins: the shops spread, the newcomer owns some.
    let newcomer = c.start();
    load.set_addrs(vec![a.addr.clone(), b.addr.clone(), newcomer.addr.clone()]);
    load.set_gate(load.gate() + 2);
    c.settle(&[&a, &b, &newcomer], &newcomer, Some(&newcomer));
    load.wait_gate("batches while the third joins");
    wait_shops_owned(&[&a, &b, &newcomer]);

    // Each instance in turn: SIGTERM (exit 0), the load goes on, a new one in its place.
    let mut live = vec![a, b, newcomer];
    for round in 0..3 {
        let old = live.remove(0);
        let label = old.label.clone();
        load.set_gate(load.gate() + 2);
        let status = old.terminate();
        assert!(status.success(), "{label} stopped with {status:?}");
        load.set_addrs(live.iter().map(|i| i.addr.clone()).collect());
        load.wait_gate(&format!("round {round}: batches while {label} stopped"));
        step(&format!("round {round}: batches with {label} gone"));
        let new = c.start();
        live.push(new);
        load.set_addrs(live.iter().map(|i| i.addr.clone()).collect());
        load.set_gate(load.gate() + 2);
        let refs: Vec<&Instance> = live.iter().collect();
        c.settle(&refs, &live[0], None);
        load.wait_gate(&format!(
            "round {round}: batches while {label}'s successor joins"
        ));
    }
    let p = load.finish();
    let refs: Vec<&Instance> = live.iter().collect();
    let view = c.settle(&refs, &live[2], None);
    check_logs_against(&view, &refs);
    check_against_run(&c, &events, &refs);
    wait_shops_owned(&refs);
    let answered: usize = p.acks.iter().map(|x| x.applied + x.duplicates).sum();
    assert_eq!(answered, events.count(), "{}", p.describe());
}

/// `--cluster` on a database that is not PostgreSQL, or beside `--spool`, `--out` or
/// `--shadow`, is bad usage (exit 2), said before it listens.
#[test]
fn cluster_refuses_sqlite_and_the_single_writer_options() {
    let c = Cluster::new();
    let db = c.dep.db.clone();
    let cases: [(&str, &[&str]); 4] = [
        ("s.db", &[]),
        (&db, &["--spool", "inbox"]),
        (&db, &["--out", "out.jsonl"]),
        (&db, &["--shadow", "shops/shop-0/rules"]),
    ];
    for (on, extra) in cases {
        let mut child = c
            .dep
            .bin_on(on)
            .args(SERVE)
            .args(["--cluster", "--listen", "127.0.0.1:0"])
            .args(["--tokens", "tokens.yaml"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = Lines::follow(child.stderr.take().unwrap());
        // A refusal ends the process; one that serves instead says it listens.
        let deadline = Instant::now() + common::live::TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            let listening = err.all().iter().any(|l| l.starts_with("listening on"));
            if listening || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "serve --cluster on {on} {extra:?} was not refused:\n{}",
                    err.all().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        // The pipe's last lines arrive once the process is gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        while err.all().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = err.all().join("\n");
        assert_eq!(
            status.code(),
            Some(2),
            "serve --cluster on {on} {extra:?}: {text}"
        );
        assert!(
            text.contains("cluster"),
            "serve --cluster on {on} {extra:?}: {text}"
        );
    }
    assert!(!c.dep.dir.path().join("s.db").exists());
}

/// Console sessions are kept in the database: signed in on one instance, the operator is signed
/// in on the other, and a review from the console of the instance that does not own the shop
/// is applied by the owner under the operator's name.
#[test]
fn a_console_session_works_on_every_instance_and_its_review_reaches_the_owner() {
    let c = Cluster::new();
    let a = c.start();
    let b = c.start();
    let view = c.settle(&[&a, &b], &a, None);
    let shop = SHOPS[1];
    let (owner, other) = if view.owner(shop).unwrap().url == a.url() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    let request = pending_request(shop, "cv-1", "cv-1-req");
    let answer = owner.post(
        &format!("/v1/shops/{shop}/events"),
        Some(OPERATOR),
        &request,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["results"][0]["records"][0]["to"], "pending");

    let (session, _) = sign_in(&owner.addr, OPERATOR);
    let (status, _, page) = raw(
        &other.addr,
        &format!("GET /shops/{shop}/queue HTTP/1.1\r\nhost: 127.0.0.1\r\ncookie: {session}"),
        b"",
    );
    assert!(
        status.contains(" 200 "),
        "{}: {status}\n{page}",
        other.label
    );
    assert!(
        page.contains(&format!("id=\"who\">{OPERATOR_NAME}<")) && page.contains("cv-1"),
        "{page}"
    );
    let form = format!(
        "csrf={}&decision=approve&note=from+the+console",
        csrf(&page)
    );
    let (status, _, body) = raw(
        &other.addr,
        &format!(
            "POST /shops/{shop}/samples/cv-1/review HTTP/1.1\r\nhost: 127.0.0.1\r\ncookie: {session}\r\ncontent-type: application/x-www-form-urlencoded"
        ),
        form.as_bytes(),
    );
    assert!(
        status.contains(" 303 "),
        "{}: {status}\n{body}",
        other.label
    );
    for i in [&a, &b] {
        let shown = i
            .get(&format!("/v1/shops/{shop}/samples/cv-1"), Some(VIEWER))
            .json();
        assert_eq!(shown["sample"]["state"], "awaiting_shipment", "{shown}");
        assert_eq!(shown["sample"]["reviewed_by"], OPERATOR_NAME, "{shown}");
        let last = shown["records"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["trigger"], "sample_reviewed", "{shown}");
        assert_eq!(last["by"], OPERATOR_NAME, "{shown}");
        assert_eq!(last["note"], "from the console", "{shown}");
    }
}
