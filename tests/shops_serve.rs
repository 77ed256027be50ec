//! `serve` in a deployment of three shops (`default`, `a`, `b`; `b` with a higher follower
//! floor), end to end with the real binary: tokens scoped to `[a]`, to `["*"]` and to none, on
//! `/v1/shops/{shop}/...` and on the unscoped routes (200, 403, 404 as the contract's "Many shops
//! in one deployment" says); the same sample id in two shops read apart; the console refusing a
//! scoped token on another shop; a webhook reaching the shop its `shop_id` names.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::raw::{raw, sign_in};
use common::serve::Server;
use common::tiktok::{self, Fake};
use serde_json::{json, Value};
use sha2::Digest;

const NOW: &str = "2026-03-27T04:58:11Z";

/// Tokens: name, role, secret, `shops` (none: the entry has no `shops`).
const TOKENS: [(&str, &str, &str, Option<&str>); 4] = [
    ("ana-a", "operator", "secret-ana-a", Some("[a]")),
    ("root", "operator", "secret-root", Some("[\"*\"]")),
    ("old", "viewer", "secret-old", None),
    ("feed-a", "ingest", "secret-feed-a", Some("[a]")),
];
const ANA_A: &str = "secret-ana-a";
const ROOT: &str = "secret-root";
const OLD: &str = "secret-old";
const FEED_A: &str = "secret-feed-a";

/// A deployment of shops `default` (the top-level folders), `a` and `b` (their own copies of the
/// shipped rules; `b` takes creators of 50,000 followers and more only), with [`TOKENS`].
fn deployment() -> tempfile::TempDir {
    let dir = common::serve::folder();
    for shop in ["a", "b"] {
        let rules = dir.path().join("shops").join(shop).join("rules");
        common::copy_dir(&dir.path().join("rules"), &rules);
    }
    common::edit(
        &dir.path().join("shops/b/rules/policy.yaml"),
        "  min_followers: 5000          # 7",
        "  min_followers: 50000         # 7",
    );
    let text: String = TOKENS
        .iter()
        .map(|(name, role, secret, shops)| {
            let sha = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
            let shops = shops.map(|s| format!("  shops: {s}\n")).unwrap_or_default();
            format!("- name: {name}\n  role: {role}\n  sha256: {sha}\n{shops}")
        })
        .collect();
    std::fs::write(dir.path().join("tokens.yaml"), text).unwrap();
    dir
}

fn request(sample: &str, id: &str, shop: Option<&str>) -> String {
    let mut e = json!({
        "id": id, "type": "sample_requested", "at": NOW, "sample": sample,
        "creator": {"id": "c1", "followers": 20000, "engagement_rate": 0.05,
            "posts_30d": 10, "fulfillment_rate_90d": 0.9, "top_categories": ["home"]},
        "product": {"id": "p-home-mug", "category": "home", "price": 60.0, "unit_cost": 5.0},
    });
    if let Some(shop) = shop {
        e["shop"] = json!(shop);
    }
    e.to_string()
}

#[test]
fn tokens_act_on_their_shops_only_and_an_unknown_shop_is_404() {
    let s = Server::start_in(deployment(), &["--tokens", "tokens.yaml"], NOW);
    // GET on every read route, scoped and not: (path, token, status).
    let cases = [
        ("/v1/shops/a/queue", ANA_A, 200),
        ("/v1/shops/b/queue", ANA_A, 403),
        ("/v1/queue", ANA_A, 403),
        ("/v1/shops/default/queue", ANA_A, 403),
        ("/v1/shops/zz/queue", ANA_A, 404),
        ("/v1/shops/a/report", ANA_A, 200),
        ("/v1/shops/b/report", ANA_A, 403),
        ("/v1/queue", ROOT, 200),
        ("/v1/shops/a/queue", ROOT, 200),
        ("/v1/shops/b/report", ROOT, 200),
        ("/v1/shops/zz/queue", ROOT, 404),
        ("/v1/queue", OLD, 200),
        ("/v1/shops/default/queue", OLD, 200),
        ("/v1/shops/a/queue", OLD, 403),
        ("/v1/shops/a/samples/s1", OLD, 403),
        ("/v1/shops/zz/samples/s1", OLD, 404),
        ("/v1/shops/b/creators/c1", ANA_A, 403),
    ];
    for (path, token, status) in cases {
        let a = s.get(path, Some(token));
        assert_eq!(a.status, status, "GET {path}: {}", a.body);
        if status != 200 {
            let want = if status == 403 {
                "forbidden"
            } else {
                "not_found"
            };
            assert_eq!(a.json()["error"], want, "GET {path}");
        }
    }
    // No token at all is still 401, on any shop.
    assert_eq!(s.get("/v1/shops/zz/queue", None).status, 401);
    assert_eq!(s.get("/v1/shops/a/queue", Some("nope")).status, 401);

    // POST: lines naming no shop are the route's shop's.
    let a = s.post(
        "/v1/shops/a/events",
        Some(FEED_A),
        &request("s1", "e-a1", None),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let records = &a.json()["results"][0]["records"];
    assert_eq!(records[0]["shop"], "a", "{records}");
    // The same sample id in `b` (posted by `root`, naming its shop): another sample, decided
    // by `b`'s own policy.
    let b = s.post("/v1/events", Some(ROOT), &request("s1", "e-b1", Some("b")));
    assert_eq!(b.status, 200, "{}", b.body);
    assert_eq!(b.json()["results"][0]["records"][0]["shop"], "b");
    // A body holding a line that names a shop outside the token's list is refused whole.
    let body = format!(
        "{}\n{}\n",
        request("s2", "e-a2", None),
        request("s2", "e-b2", Some("b"))
    );
    let refused = s.post("/v1/shops/a/events", Some(FEED_A), &body);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(refused.json()["error"], "forbidden");
    assert!(
        refused.json()["message"]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{}",
        refused.body
    );
    assert_eq!(s.get("/v1/shops/a/samples/s2", Some(ROOT)).status, 404);
    assert_eq!(s.get("/v1/shops/b/samples/s2", Some(ROOT)).status, 404);
    // A line naming a shop the deployment does not have is the runner's `invalid_field`.
    let unknown = s.post(
        "/v1/shops/a/events",
        Some(FEED_A),
        &request("s3", "e-z", Some("zz")),
    );
    assert_eq!(unknown.status, 200, "{}", unknown.body);
    assert_eq!(unknown.json()["results"][0]["error"], "invalid_field");
    // Posting to a shop outside the token's list, or an unknown one.
    let line = request("s4", "e-4", None);
    assert_eq!(
        s.post("/v1/shops/b/events", Some(FEED_A), &line).status,
        403
    );
    assert_eq!(
        s.post("/v1/shops/zz/events", Some(FEED_A), &line).status,
        404
    );
    assert_eq!(s.post("/v1/events", Some(FEED_A), &line).status, 403);

    // Acting on a shop outside the token's list, or an unknown one.
    let decide = r#"{"decision":"approve","note":"ok"}"#;
    let no = s.post("/v1/shops/b/samples/s1/review", Some(ANA_A), decide);
    assert_eq!(no.status, 403, "{}", no.body);
    let no = s.post("/v1/shops/zz/samples/s1/review", Some(ROOT), decide);
    assert_eq!(no.status, 404, "{}", no.body);
    let no = s.post(
        "/v1/shops/b/creators/c1/adjust",
        Some(ANA_A),
        r#"{"credit":1}"#,
    );
    assert_eq!(no.status, 403, "{}", no.body);
    let _ = s.stop();
}

#[test]
fn the_same_sample_id_in_two_shops_is_read_and_decided_apart() {
    let s = Server::start_in(deployment(), &["--tokens", "tokens.yaml"], NOW);
    let a = s.post(
        "/v1/shops/a/events",
        Some(FEED_A),
        &request("s1", "e-a1", None),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let b = s.post("/v1/events", Some(ROOT), &request("s1", "e-b1", Some("b")));
    assert_eq!(b.status, 200, "{}", b.body);
    let in_a = s.get("/v1/shops/a/samples/s1", Some(ROOT)).json();
    let in_b = s.get("/v1/shops/b/samples/s1", Some(ROOT)).json();
    assert_eq!(in_a["sample"]["state"], "pending", "{in_a}");
    assert_ne!(in_b["sample"]["state"], "pending", "{in_b}");
    assert_eq!(in_a["sample"]["shop"], "a");
    assert_eq!(in_b["sample"]["shop"], "b");
    assert_eq!(in_a["records"].as_array().unwrap().len(), 1);
    // Shop `default` has no `s1`.
    assert_eq!(s.get("/v1/samples/s1", Some(ROOT)).status, 404);

    // Acting: `ana-a` reviews in `a`, not in `b`; the review lands in its shop only.
    let decide = r#"{"decision":"approve","note":"ok"}"#;
    let yes = s.post("/v1/shops/a/samples/s1/review", Some(ANA_A), decide);
    assert_eq!(yes.status, 200, "{}", yes.body);
    assert_eq!(yes.json()["records"][0]["shop"], "a");
    assert_eq!(yes.json()["records"][0]["by"], "ana-a");
    assert_eq!(
        s.get("/v1/shops/a/samples/s1", Some(ANA_A)).json()["sample"]["state"],
        "awaiting_shipment"
    );
    assert_eq!(
        s.get("/v1/shops/b/samples/s1", Some(ROOT)).json()["sample"]["state"],
        in_b["sample"]["state"]
    );
    let _ = s.stop();
}

fn page(s: &Server, cookie: &str, path: &str) -> (String, String) {
    let (status, _, body) = raw(
        &s.addr,
        &format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncookie: {cookie}"),
        b"",
    );
    (status, body)
}

#[test]
fn the_console_names_its_shop_and_refuses_a_scoped_token_elsewhere() {
    let s = Server::start_in(deployment(), &["--tokens", "tokens.yaml"], NOW);
    let d = s.post("/v1/events", Some(ROOT), &request("s1", "e-d1", None));
    assert_eq!(d.status, 200, "{}", d.body);

    let (cookie, landing) = sign_in(&s.addr, ANA_A);
    assert_eq!(
        landing, "/shops/a/queue",
        "a token without `default` lands on its shop"
    );
    let (status, body) = page(&s, &cookie, "/shops/a/queue");
    assert!(status.contains(" 200 "), "{status}: {body}");
    assert!(body.contains("id=\"shop\">a<"), "{body}");
    assert!(body.contains("href=\"/shops/a/report\""), "{body}");
    // The picker lists the token's shops only.
    let picker = body.split("id=\"shop-picker\"").nth(1).unwrap();
    let picker = picker.split("</span>").next().unwrap();
    assert!(picker.contains(">a<") && !picker.contains(">b<") && !picker.contains("default"));
    let (status, body) = page(&s, &cookie, "/shops/a/report");
    assert!(
        status.contains(" 200 ") && body.contains("id=\"shop\">a<"),
        "{status}: {body}"
    );

    for path in [
        "/shops/b/queue",
        "/shops/b/samples/s1",
        "/queue",
        "/shops/default/report",
    ] {
        let (status, body) = page(&s, &cookie, path);
        assert!(status.contains(" 403 "), "{path}: {status}");
        assert!(body.contains("not on shop"), "{path}: {body}");
        assert!(!body.contains("href=\"/shops/b/"), "{path}: {body}");
    }
    let (status, _) = page(&s, &cookie, "/shops/zz/queue");
    assert!(status.contains(" 404 "), "{status}");

    // A token on every shop picks among all three; one without `shops` sees `default`.
    let (cookie, landing) = sign_in(&s.addr, ROOT);
    assert_eq!(landing, "/shops/default/queue");
    // Every link and form of a page names its shop, `default` too.
    let (status, body) = page(&s, &cookie, "/queue");
    assert!(
        status.contains(" 200 ") && body.contains("id=\"shop\">default<"),
        "{status}"
    );
    assert!(
        body.contains("href=\"/shops/default/samples/s1\""),
        "{body}"
    );
    assert!(
        body.contains("action=\"/shops/default/samples/s1/review\""),
        "{body}"
    );
    let (status, body) = page(&s, &cookie, "/shops/b/queue");
    assert!(
        status.contains(" 200 ") && body.contains("id=\"shop\">b<"),
        "{status}"
    );
    let picker = body.split("id=\"shop-picker\"").nth(1).unwrap();
    let picker = picker.split("</span>").next().unwrap();
    for shop in ["a", "default"] {
        assert!(
            picker.contains(&format!("href=\"/shops/{shop}/queue\"")),
            "{picker}"
        );
    }
    let (cookie, _) = sign_in(&s.addr, OLD);
    let (status, _) = page(&s, &cookie, "/queue");
    assert!(status.contains(" 200 "), "{status}");
    let (status, _) = page(&s, &cookie, "/shops/a/queue");
    assert!(status.contains(" 403 "), "{status}");
    let _ = s.stop();
}

/// A connector config for shop `shop_id` in `dir`, against `fake`, polling hourly.
fn connector_in(dir: &Path, fake: &Fake, shop_id: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let path = tiktok::config(dir, &fake.url, tiktok::APP_SECRET);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}poll_every: 1h\nshop_id: {shop_id}\n")).unwrap();
}

fn searches(fake: &Fake) -> usize {
    fake.inner
        .lock()
        .unwrap()
        .calls
        .iter()
        .filter(|c| *c == "/affiliate_seller/202409/sample_applications/search")
        .count()
}

#[test]
fn each_shop_runs_its_connector_and_a_webhook_reaches_the_shop_its_shop_id_names() {
    let start = chrono::Utc::now().timestamp();
    let (fake_a, fake_b) = (Fake::start(start), Fake::start(start));
    fake_a.inner.lock().unwrap().applications =
        vec![Fake::application("x1", "PENDING", "cr1", "p-mug")];
    fake_b.inner.lock().unwrap().applications =
        vec![Fake::application("x1", "PENDING", "cr1", "p-mug")];
    let dir = deployment();
    connector_in(&dir.path().join("shops/a/connectors"), &fake_a, "SHOP-A");
    connector_in(&dir.path().join("shops/b/connectors"), &fake_b, "SHOP-B");
    let s = Server::start_in(dir, &["--tokens", "tokens.yaml"], "2026-06-01T12:00:00Z");
    for shop in ["a", "b"] {
        s.err.wait(0, 1, "each shop's first poll", |l| {
            l.starts_with(&format!("shop {shop}: connect: 1 applications seen"))
        });
    }

    // A webhook naming `SHOP-B` polls shop `b` only.
    fake_b
        .inner
        .lock()
        .unwrap()
        .applications
        .push(Fake::application("x2", "PENDING", "cr2", "p-mug"));
    let body = r#"{"type":1,"tts_notification_id":"n-1","shop_id":"SHOP-B","timestamp":1780000000,"data":{}}"#;
    let sig = sampleflow::machinery::connect::webhook_signature(
        tiktok::APP_SECRET,
        tiktok::APP_KEY,
        body.as_bytes(),
    );
    let from = s.err.len();
    let got = s.post_with(
        "/v1/tiktok/webhook",
        &[("authorization".into(), sig.clone())],
        body,
    );
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.json()["status"], "polling");
    s.err.wait(from, 1, "shop b's webhook poll", |l| {
        l.starts_with("shop b: connect: 2 applications seen")
    });
    assert_eq!((searches(&fake_a), searches(&fake_b)), (1, 2));

    // A `shop_id` no shop here is connected to does nothing.
    let other = body.replace("SHOP-B", "SHOP-Z").replace("n-1", "n-2");
    let sig = sampleflow::machinery::connect::webhook_signature(
        tiktok::APP_SECRET,
        tiktok::APP_KEY,
        other.as_bytes(),
    );
    let got = s.post_with(
        "/v1/tiktok/webhook",
        &[("authorization".into(), sig)],
        &other,
    );
    assert_eq!(got.status, 401, "{}", got.body);
    assert_eq!((searches(&fake_a), searches(&fake_b)), (1, 2));
    let ready: Value = s.get("/readyz", None).json();
    assert!(ready["checks"]["connector:a"].is_object(), "{ready}");
    assert!(ready["checks"]["connector:b"].is_object(), "{ready}");
    let _ = s.stop();
}
