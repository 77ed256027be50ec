//! The connector's client against a fake of the platform (tests/common/tiktok.rs) that checks
//! every signature as the platform's documentation says: pages, retries on a rate-limit code
//! and on a connection cut mid-page, reviews, an application that stops being approvable, and
//! what a poll's applications map to.

mod common;

use std::time::Duration;

use common::tiktok::{self, Fake};
use sampleflow::connect::map::{self, Catalog};
use sampleflow::connect::platform::{CallError, Client, Retry};
use serde_json::{json, Value};

const NOW: i64 = 1_780_000_000;

fn client(fake: &Fake, secret: &str) -> (tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let path = tiktok::config(dir.path(), &fake.url, secret);
    let config = sampleflow::connect::config::load(&path).unwrap();
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
        match map::events(&app, &contents, &catalog, &client.config().defaults, at) {
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
