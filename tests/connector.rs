//! The connector's client against a fake of the platform (tests/common/tiktok.rs) that checks
//! every signature as the platform's documentation says: pages, retries on a rate-limit code
//! and on a connection cut mid-page, reviews, an application that stops being approvable, and
//! what a poll's applications map to.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::tiktok::{self, Fake};
use sampleflow::machinery::connect::{application_events, CallError, Catalog, Client, Retry};
use serde_json::{json, Value};

const NOW: i64 = 1_780_000_000;

fn client(fake: &Fake, secret: &str) -> (tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let path = tiktok::config(dir.path(), &fake.url, secret);
    let config = sampleflow::machinery::connect::load_config(&path).unwrap();
    let quick = Retry {
        min: Duration::from_millis(5),
        max: Duration::from_millis(40),
        times: 5,
    };
    (dir, Client::new(config).with_retry(quick))
}

fn applications(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let product = ["p-mug", "p-cream", "p-lux"][i % 3];
            Fake::application(&format!("a{i}"), "PENDING", &format!("cr{i}"), product)
        })
        .collect()
}

#[test]
fn a_search_reads_every_page_through_a_rate_limit_and_a_cut_connection() {
    let fake = Fake::start(chrono::Utc::now().timestamp());
    {
        let mut f = fake.inner.lock().unwrap();
        f.applications = applications(250);
        f.rate_limit_next = 2;
        f.cut_next_page = 1;
    }
    let (_dir, client) = client(&fake, tiktok::APP_SECRET);
    let all = client.search_all().unwrap();
    let ids: Vec<&str> = all.iter().map(|a| a.id.as_str()).collect();
    let expected: Vec<String> = (0..250).map(|i| format!("a{i}")).collect();
    assert_eq!(ids, expected);
    assert_eq!(all[7].creator.follower_count, Some(48210));
    assert_eq!(all[7].product.id, "p-cream");
    let f = fake.inner.lock().unwrap();
    assert_eq!(
        f.bad_signatures, 0,
        "every request was signed as documented"
    );
    // 3 pages, 2 rate-limited answers and one cut page tried again.
    assert_eq!(f.calls.len(), 6, "{:?}", f.calls);
}

/// The search's outcome, which must come within the tests' generous timeout (a search that
/// pages forever would never give one).
fn search_ends(client: Client) -> Result<usize, CallError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(client.search_all().map(|all| all.len())));
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the search ended")
}

#[test]
fn a_search_that_pages_forever_stops_after_10000_pages_with_an_error() {
    let fake = Fake::start(chrono::Utc::now().timestamp());
    {
        let mut f = fake.inner.lock().unwrap();
        f.applications = applications(3);
        f.paging = tiktok::Paging::EverNew;
    }
    let (_dir, client) = client(&fake, tiktok::APP_SECRET);
    let e = search_ends(client).unwrap_err();
    assert!(matches!(e, CallError::Paging(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "paging: the platform still had a next page after 10000 pages (3 applications); the poll stopped there and applied nothing of it"
    );
    assert_eq!(fake.inner.lock().unwrap().calls.len(), 10_000);
}

#[test]
fn a_search_given_a_page_token_again_stops_at_once_with_an_error() {
    let fake = Fake::start(chrono::Utc::now().timestamp());
    {
        let mut f = fake.inner.lock().unwrap();
        f.applications = applications(250);
        f.paging = tiktok::Paging::BackToStart;
    }
    let (_dir, client) = client(&fake, tiktok::APP_SECRET);
    let e = search_ends(client).unwrap_err();
    // Pages from none, p100, p200 and p0, which gives p100 again: stopped at the repeat.
    assert_eq!(
        e.to_string(),
        "paging: the platform gave the page token `p100` a second time, after 4 pages; the poll stopped there and applied nothing of it"
    );
    assert_eq!(fake.inner.lock().unwrap().calls.len(), 4);
}

#[test]
fn a_wrong_secret_is_refused_by_the_platform_and_not_tried_again() {
    let fake = Fake::start(chrono::Utc::now().timestamp());
    fake.inner.lock().unwrap().applications = applications(3);
    let (_dir, client) = client(&fake, "not-the-secret");
    let e = client.search_all().unwrap_err();
    assert_eq!(e.code(), Some(tiktok::BAD_SIGN));
    let f = fake.inner.lock().unwrap();
    assert_eq!((f.calls.len(), f.bad_signatures), (1, 1));
}

#[test]
fn reviews_are_sent_signed_and_an_application_no_longer_approvable_fails_at_once() {
    let fake = Fake::start(chrono::Utc::now().timestamp());
    {
        let mut f = fake.inner.lock().unwrap();
        f.applications = applications(3);
        f.applications[2]["is_approvable"] = json!(false);
        f.rate_limit_next = 1;
    }
    let (_dir, client) = client(&fake, tiktok::APP_SECRET);
    client.review("a0", true, "OTHER").unwrap();
    let reason = client.config().reject_reason(Some("price_cap")).to_string();
    client.review("a1", false, &reason).unwrap();
    let e = client.review("a2", true, "OTHER").unwrap_err();
    assert!(
        matches!(
            e,
            CallError::Platform {
                code: tiktok::NOT_APPROVABLE,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!client.retryable(&e));
    let f = fake.inner.lock().unwrap();
    assert_eq!(
        f.reviews,
        [
            ("a0".to_string(), json!({"review_result": "APPROVE"})),
            (
                "a1".to_string(),
                json!({"review_result": "REJECT", "reject_reason": "OUT_OF_STOCK"})
            ),
        ]
    );
    assert_eq!(f.bad_signatures, 0);
    // a0 once rate-limited then sent; a1; a2 once, not retried.
    assert_eq!(f.calls.len(), 4, "{:?}", f.calls);
}

#[test]
fn a_polls_applications_map_to_events_that_run_applies_once() {
    let fake = Fake::start(chrono::Utc::now().timestamp());
    {
        let mut f = fake.inner.lock().unwrap();
        f.applications = applications(6);
        f.applications
            .push(Fake::application("a-x", "PENDING", "crx", "p-unknown"));
        f.applications[1]["status"] = json!("SHIPPED");
        f.applications[1]["tracking_number"] = json!("1ZFAKE");
        f.fulfillments.insert(
            "a1".into(),
            vec![
                json!({"product": {"id": "p-cream"}, "content": {"id": "v1", "format": "VIDEO",
                "view_count": 900, "like_count": 40, "comment_count": 3, "paid_order_count": 2}}),
            ],
        );
    }
    let (dir, client) = client(&fake, tiktok::APP_SECRET);
    let catalog = Catalog::load(&client.config().catalog).unwrap();
    let at = chrono::DateTime::from_timestamp(NOW, 0).unwrap();
    let mut lines = Vec::new();
    let mut unmappable = Vec::new();
    for app in client.search_all().unwrap() {
        let contents = client.fulfillments(&app.id).unwrap();
        match application_events(&app, &contents, &catalog, &client.config().defaults, at) {
            Ok(events) => lines.extend(events.iter().map(Value::to_string)),
            Err(why) => unmappable.push((app.id.clone(), why.to_string())),
        }
    }
    assert_eq!(
        unmappable,
        [(
            "a-x".to_string(),
            "product `p-unknown` is not in the catalogue".to_string()
        )]
    );
    // Through `run` with the shipped rules: every event applies; the same poll again applies
    // nothing (every id is a duplicate).
    let events = dir.path().join("poll.jsonl");
    std::fs::write(&events, lines.join("\n") + "\n").unwrap();
    let db = dir.path().join("s.db");
    let first = common::bin(&db).arg("run").arg(&events).output().unwrap();
    assert!(first.status.success());
    let records = common::stdout_json(&first);
    assert!(
        records.iter().all(|r| r.get("error").is_none()),
        "{records:?}"
    );
    let a1: Vec<&str> = records
        .iter()
        .filter(|r| r["sample"] == "a1")
        .map(|r| r["trigger"].as_str().unwrap())
        .collect();
    assert_eq!(
        a1,
        [
            "sample_requested",
            "sample_shipped",
            "sample_delivered",
            "content_posted",
            "content_metrics"
        ]
    );
    let pending: Vec<&str> = records
        .iter()
        .filter(|r| r["to"] == "pending")
        .map(|r| r["sample"].as_str().unwrap())
        .collect();
    assert_eq!(pending, ["a2", "a5"], "the $400 product goes to a reviewer");
    let second = common::bin(&db).arg("run").arg(&events).output().unwrap();
    let again = common::stdout_json(&second);
    assert_eq!(again.len(), lines.len());
    assert!(
        again.iter().all(|r| r["error"] == "duplicate_id"),
        "{again:?}"
    );
}

/// The shop's clock for the binary's events (the fake checks request timestamps against the
/// real clock, the runner's times come from this).
const DAY: &str = "2026-06-01T12:00:00Z";

fn connect(dir: &std::path::Path, now: &str, crash: Option<&str>) -> std::process::Output {
    let mut cmd = common::bin(&common::db_in(dir));
    cmd.args(["connect", "tiktok", "--once", "--config"])
        .arg(dir.join("tiktok.yaml"))
        .env("SAMPLEFLOW_NOW", now);
    if let Some(c) = crash {
        cmd.env("SAMPLEFLOW_CRASH", c);
    }
    cmd.output().unwrap()
}

fn outbox(dir: &std::path::Path) -> Vec<Value> {
    let out = common::bin(&common::db_in(dir))
        .args(["outbox", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    common::stdout_json(&out)
}

fn shop() -> (Fake, tempfile::TempDir) {
    let fake = Fake::start(chrono::Utc::now().timestamp());
    {
        let mut f = fake.inner.lock().unwrap();
        f.applications = vec![
            Fake::application("a0", "PENDING", "cr0", "p-mug"),
            Fake::application("a1", "PENDING", "cr1", "p-lux"),
            Fake::application("a2", "PENDING", "cr2", "p-cream"),
            Fake::application("a3", "PENDING", "cr3", "p-mug"),
            Fake::application("a-x", "PENDING", "crx", "p-unknown"),
        ];
        // a3 stops being approvable on the platform before our decision reaches it.
        f.applications[3]["is_approvable"] = json!(false);
    }
    let dir = tempfile::tempdir().unwrap();
    tiktok::config(dir.path(), &fake.url, tiktok::APP_SECRET);
    (fake, dir)
}

fn reviews(fake: &Fake) -> Vec<(String, Value)> {
    fake.inner.lock().unwrap().reviews.clone()
}

#[test]
fn a_shops_day_end_to_end() {
    a_shops_day(false);
}

#[test]
fn a_shops_day_end_to_end_on_postgres() {
    a_shops_day(true);
}

fn a_shops_day(postgres: bool) {
    let (fake, dir) = shop();
    let d = dir.path();
    if postgres {
        common::use_postgres(d);
    }
    // Poll 1: new applications screened by the shipped rules, decisions delivered.
    let out = connect(d, DAY, None);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let records = common::stdout_json(&out);
    let screened: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r["sample"].as_str().unwrap(), r["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        screened,
        [
            ("a0", "awaiting_shipment"),
            ("a1", "pending"),
            ("a2", "awaiting_shipment"),
            ("a3", "awaiting_shipment")
        ]
    );
    assert_eq!(
        reviews(&fake),
        [
            ("a0".to_string(), json!({"review_result": "APPROVE"})),
            ("a2".to_string(), json!({"review_result": "APPROVE"})),
        ]
    );
    let calls = outbox(d);
    let state = |calls: &[Value], s: &str| {
        calls
            .iter()
            .find(|c| c["call"]["sample"] == s)
            .map(|c| c["call"]["state"].as_str().unwrap().to_string())
    };
    assert_eq!(state(&calls, "a0").as_deref(), Some("sent"));
    assert_eq!(
        state(&calls, "a3").as_deref(),
        Some("failed"),
        "no longer approvable"
    );
    let a3 = calls.iter().find(|c| c["call"]["sample"] == "a3").unwrap();
    assert_eq!(a3["call"]["code"], tiktok::NOT_APPROVABLE);
    assert!(calls.iter().any(|c| c["unmappable"]["application"] == "a-x"
        && c["unmappable"]["reason"] == "product `p-unknown` is not in the catalogue"));
    // The creators' platform usernames are kept for the console (mapped applications only).
    let read = sampleflow::machinery::store::open_read(&common::db_in(d)).unwrap();
    assert_eq!(read.creator_name("cr0").unwrap().as_deref(), Some("ucr0"));
    assert_eq!(read.creator_name("crx").unwrap(), None, "unmappable");
    // So are the products' titles, by product (mapped applications only).
    let titles = read.product_titles().unwrap();
    assert_eq!(titles.get("p-mug").map(String::as_str), Some("tp-mug"));
    assert_eq!(titles.get("p-cream").map(String::as_str), Some("tp-cream"));
    assert_eq!(titles.get("p-unknown"), None, "unmappable");
    assert_eq!(state(&calls, "a1"), None, "pending: nothing to send yet");

    // Poll 2 of the same state: nothing applied, nothing sent.
    let again = connect(d, DAY, None);
    assert!(
        again.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert!(common::stderr(&again).contains("0 events applied"));
    assert_eq!(reviews(&fake).len(), 2);

    // A reviewer approves a1 by command; the next poll sends it.
    let review = common::bin(&common::db_in(d))
        .args(["review", "a1", "--approve", "--by", "ana"])
        .env("SAMPLEFLOW_NOW", "2026-06-01T13:00:00Z")
        .output()
        .unwrap();
    assert_eq!(review.status.code(), Some(0), "{}", common::stderr(&review));
    connect(d, "2026-06-01T13:05:00Z", None);
    assert_eq!(
        reviews(&fake)[2],
        ("a1".to_string(), json!({"review_result": "APPROVE"}))
    );

    // The platform ships a0, then the creator posts: later polls carry it on.
    {
        let mut f = fake.inner.lock().unwrap();
        f.applications[0]["status"] = json!("SHIPPED");
        f.applications[0]["tracking_number"] = json!("1ZSHOP");
    }
    let shipped = common::stdout_json(&connect(d, "2026-06-02T09:00:00Z", None));
    assert_eq!(shipped.len(), 1);
    assert_eq!(
        (&shipped[0]["sample"], &shipped[0]["to"]),
        (&json!("a0"), &json!("shipped"))
    );
    {
        let mut f = fake.inner.lock().unwrap();
        f.applications[0]["status"] = json!("CONTENT_PENDING");
        f.fulfillments.insert(
            "a0".into(),
            vec![json!({"product": {"id": "p-mug"}, "content": {"id": "v7", "format": "VIDEO",
                "view_count": 12000, "like_count": 700, "comment_count": 40, "paid_order_count": 5}})],
        );
    }
    let posted = common::stdout_json(&connect(d, "2026-06-04T09:00:00Z", None));
    let to: Vec<&str> = posted.iter().map(|r| r["to"].as_str().unwrap()).collect();
    assert_eq!(to, ["content_pending", "post_in_review", "post_in_review"]);

    // Nobody ships a2 or a1: our ship deadline (7 days) cancels them, and the platform says
    // the same. One record each, from our deadline; nothing differs, nothing is sent.
    {
        let mut f = fake.inner.lock().unwrap();
        f.applications[1]["status"] = json!("SELLER_NOT_SHIP_CANCELLED");
        f.applications[2]["status"] = json!("SELLER_NOT_SHIP_CANCELLED");
    }
    let late = connect(d, "2026-06-09T12:00:00Z", None);
    let ends: Vec<(String, String)> = common::stdout_json(&late)
        .iter()
        .filter(|r| r["trigger"] == "deadline:ship")
        .map(|r| {
            (
                r["sample"].as_str().unwrap().into(),
                r["to"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        ends,
        [
            ("a2".to_string(), "seller_not_ship_cancelled".to_string()),
            ("a3".to_string(), "seller_not_ship_cancelled".to_string()),
            ("a1".to_string(), "seller_not_ship_cancelled".to_string()),
        ]
    );
    assert!(
        common::stderr(&late).contains("0 differ from the platform"),
        "{}",
        common::stderr(&late)
    );
    // a3's platform status never moved (its approval failed there): ours says cancelled.
    // What `outbox` shows a person.
    let table = common::bin(&common::db_in(d))
        .arg("outbox")
        .output()
        .unwrap();
    insta::assert_snapshot!("outbox_after_a_day", String::from_utf8_lossy(&table.stdout));
    // The platform and ours agree; nothing was sent twice, every request was signed.
    let f = fake.inner.lock().unwrap();
    assert_eq!(f.reviews.len(), 3);
    assert_eq!(f.bad_signatures, 0);
}

/// A kill -9 as a call goes, and after the platform took one but before it was marked sent:
/// after a restart, the platform has every decision exactly once.
#[test]
fn kill_9_during_delivery_sends_each_decision_exactly_once() {
    kill_9_during_delivery(false);
}

#[test]
fn kill_9_during_delivery_on_postgres_sends_each_decision_exactly_once() {
    kill_9_during_delivery(true);
}

fn kill_9_during_delivery(postgres: bool) {
    for crash in ["call:1", "answered:1", "call:2", "answered:2"] {
        let (fake, dir) = shop();
        let d = dir.path();
        if postgres {
            common::use_postgres(d);
        }
        let died = connect(d, DAY, Some(crash));
        assert!(!died.status.success(), "{crash}: it died");
        let restarted = connect(d, DAY, None);
        assert!(
            restarted.status.success(),
            "{crash}: {}",
            common::stderr(&restarted)
        );
        let mut got: Vec<String> = reviews(&fake).into_iter().map(|(a, _)| a).collect();
        got.sort();
        assert_eq!(got, ["a0", "a2"], "{crash}: each decision once");
        let calls = outbox(d);
        let sent = calls
            .iter()
            .filter(|c| c["call"]["state"] == "sent")
            .count();
        assert_eq!(sent, 2, "{crash}: {calls:?}");
    }
}

/// A kill -9 during a poll's commit leaves nothing half-applied: the restart applies the rest
/// and sends each decision once.
#[test]
fn kill_9_during_a_poll_then_restart_applies_and_sends_once() {
    kill_9_during_a_poll(false);
}

#[test]
fn kill_9_during_a_poll_on_postgres_then_restart_applies_and_sends_once() {
    kill_9_during_a_poll(true);
}

fn kill_9_during_a_poll(postgres: bool) {
    let (fake, dir) = shop();
    let d = dir.path();
    if postgres {
        common::use_postgres(d);
    }
    let died = connect(d, DAY, Some("commit:1"));
    assert!(!died.status.success());
    assert!(reviews(&fake).is_empty(), "nothing committed, nothing sent");
    let out = connect(d, DAY, None);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert_eq!(common::stdout_json(&out).len(), 4);
    assert_eq!(reviews(&fake).len(), 2);
    connect(d, DAY, None);
    assert_eq!(reviews(&fake).len(), 2);
}

#[test]
fn a_config_with_a_secret_inline_is_refused_with_its_place() {
    let (_fake, dir) = shop();
    let path = dir.path().join("tiktok.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}app_secret: {}\n", tiktok::APP_SECRET)).unwrap();
    let out = connect(dir.path(), DAY, None);
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(
        err.contains("tiktok.yaml:10:1: `app_secret` holds a secret inline"),
        "{err}"
    );
    assert!(
        !err.contains(tiktok::APP_SECRET),
        "the secret is not repeated"
    );
}

#[test]
fn inside_serve_a_signed_webhook_polls_at_once_and_a_bad_one_does_nothing() {
    let (fake, dir) = shop();
    let folder = common::serve::folder();
    for name in ["tiktok.yaml", "app.secret", "token", "catalog.csv"] {
        std::fs::copy(dir.path().join(name), folder.path().join(name)).unwrap();
    }
    // A long poll interval: only the first poll and webhooks make polls here.
    let path = folder.path().join("tiktok.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}poll_every: 1h\n")).unwrap();
    let s = common::serve::Server::start_in(folder, &["--connector", "tiktok.yaml"], DAY);
    s.err.wait(0, 1, "the first poll", |l| {
        l.starts_with("connect: 5 applications seen")
    });
    assert_eq!(
        s.get("/v1/samples/a0", None).json()["sample"]["state"],
        "awaiting_shipment"
    );
    assert_eq!(reviews(&fake).len(), 2);

    fake.inner
        .lock()
        .unwrap()
        .applications
        .push(Fake::application("a9", "PENDING", "cr9", "p-mug"));
    let body =
        r#"{"type":1,"tts_notification_id":"n-1","shop_id":"s","timestamp":1780000000,"data":{}}"#;
    let bad = s.post_with(
        "/v1/tiktok/webhook",
        &[("authorization".into(), "00".repeat(32))],
        body,
    );
    assert_eq!(bad.status, 401);
    assert_eq!(bad.json()["error"], "unauthorized");
    let unsigned = s.post_with("/v1/tiktok/webhook", &[], body);
    assert_eq!(unsigned.status, 401);
    let sig = sampleflow::machinery::connect::webhook_signature(
        tiktok::APP_SECRET,
        tiktok::APP_KEY,
        body.as_bytes(),
    );
    let good = s.post_with(
        "/v1/tiktok/webhook",
        &[("authorization".into(), sig.clone())],
        body,
    );
    assert_eq!(good.status, 200, "{}", good.body);
    assert_eq!(good.json()["status"], "polling");
    s.err.wait(0, 1, "the webhook's poll", |l| {
        l.starts_with("connect: 6 applications seen")
    });
    assert_eq!(
        s.get("/v1/samples/a9", None).json()["sample"]["state"],
        "awaiting_shipment"
    );
    assert_eq!(reviews(&fake).len(), 3, "a9's approval was delivered");
    let again = s.post_with("/v1/tiktok/webhook", &[("authorization".into(), sig)], body);
    assert_eq!(again.json()["status"], "duplicate");
    // Only the bad webhooks changed nothing: two polls in all, every request signed.
    let f = fake.inner.lock().unwrap();
    let searches = f
        .calls
        .iter()
        .filter(|c| *c == "/affiliate_seller/202409/sample_applications/search")
        .count();
    assert_eq!(searches, 2);
    assert_eq!(f.bad_signatures, 0);
}
