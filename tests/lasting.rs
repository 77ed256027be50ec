//! The connector that lasts, end to end with the real binary against the fake platform
//! (tests/common/tiktok.rs, which recomputes every signature): tokens that expire and are
//! refreshed (written back 0600, never printed or stored), a refresh refused, reminders and
//! paid collaborations delivered exactly once across kill -9 at every crash point, sales paged
//! across windows and attributed to the right samples, a daily message quota, the report's ROI,
//! and the demo platform run as a process.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::tiktok::{self, Fake};
use serde_json::{json, Value};

/// The shop's days (the runner's clock; the fake checks request times against the real one).
const DAY1: &str = "2026-06-01T12:00:00Z";
const DAY2: &str = "2026-06-02T12:00:00Z";
const DAY3: &str = "2026-06-03T12:00:00Z";
/// Five days after delivery (DAY2): the remind deadline has fired.
const DAY8: &str = "2026-06-08T12:00:00Z";

fn connect(dir: &Path, now: &str, crash: Option<&str>) -> std::process::Output {
    let mut cmd = common::bin(&common::db_in(dir));
    cmd.args(["connect", "tiktok", "--once", "--config"])
        .arg(dir.join("tiktok.yaml"))
        .env("SAMPLEFLOW_NOW", now);
    if let Some(c) = crash {
        cmd.env("SAMPLEFLOW_CRASH", c);
    }
    cmd.output().unwrap()
}

fn ok(out: &std::process::Output) -> Vec<Value> {
    assert!(out.status.success(), "{}", common::stderr(out));
    common::stdout_json(out)
}

fn outbox(dir: &Path) -> Vec<Value> {
    let out = common::bin(&common::db_in(dir))
        .args(["outbox", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    common::stdout_json(&out)
        .into_iter()
        .filter(|c| c.get("call").is_some())
        .collect()
}

fn calls_of<'a>(calls: &'a [Value], kind: &str) -> Vec<&'a Value> {
    calls.iter().filter(|c| c["kind"] == kind).collect()
}

/// `serve` on DAY1 with the shop's connector (its config, secrets and catalogue copied over).
fn serve_connected(shop: &Path) -> common::serve::Server {
    let folder = common::serve::folder();
    for name in [
        "tiktok.yaml",
        "app.secret",
        "token",
        "refresh",
        "catalog.csv",
    ] {
        std::fs::copy(shop.join(name), folder.path().join(name)).unwrap();
    }
    common::serve::Server::start_in(folder, &["--connector", "tiktok.yaml"], DAY1)
}

fn real_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A shop of two approved samples: `a0` (a mug) whose creator posts `v0`, which sells, and `a2`
/// (a cream) whose creator never posts; orders for `v0` and for a video nobody sampled.
fn shop() -> (Fake, tempfile::TempDir) {
    let fake = Fake::start(real_now());
    {
        let mut f = fake.inner.lock().unwrap();
        f.applications = vec![
            Fake::application("a0", "PENDING", "cr0", "p-mug"),
            Fake::application("a2", "PENDING", "cr2", "p-cream"),
        ];
        let t = real_now() - 3_600;
        f.orders = vec![
            tiktok::order("o1", t - 10, &[("v0", "25.00", 10, 0)]),
            tiktok::order(
                "o2",
                t - 5,
                &[("v0", "25.00", 14, 2), ("v-other", "99.00", 3, 0)],
            ),
            tiktok::order("o3", t, &[("v-other", "40.00", 1, 0)]),
        ];
    }
    let dir = tempfile::tempdir().unwrap();
    tiktok::lasting_config(dir.path(), &fake.url);
    (fake, dir)
}

/// The platform moves the parcels on: both delivered, `a0`'s creator posts `v0`.
fn deliver_both(fake: &Fake) {
    let mut f = fake.inner.lock().unwrap();
    for i in 0..2 {
        f.applications[i]["status"] = json!("CONTENT_PENDING");
        f.applications[i]["tracking_number"] = json!(format!("1ZT{i}"));
    }
    f.fulfillments.insert(
        "a0".into(),
        vec![
            json!({"product": {"id": "p-mug"}, "content": {"id": "v0", "format": "VIDEO",
            "view_count": 9000, "like_count": 300, "comment_count": 20, "paid_order_count": 2}}),
        ],
    );
}

/// Days 1 and 2: approvals, then deliveries, `v0` posted and its sales in the same poll (GMV
/// 25 x 10 + 25 x 12 = 550, past the $500 of `invite_paid_collab`).
fn first_days(fake: &Fake, d: &Path, crash_on_day2: Option<&str>) -> std::process::Output {
    ok(&connect(d, DAY1, None));
    deliver_both(fake);
    connect(d, DAY2, crash_on_day2)
}

fn sample(d: &Path, id: &str) -> Value {
    let out = common::bin(&common::db_in(d))
        .args(["show", "--all"])
        .output()
        .unwrap();
    common::stdout_json(&out)
        .into_iter()
        .find(|s| s["sample"] == id)
        .unwrap_or_else(|| panic!("no sample {id}"))
}

/// Messages the fake holds for a creator: (type, content) pairs.
fn messages_to(fake: &Fake, creator: &str) -> Vec<(String, String)> {
    let f = fake.inner.lock().unwrap();
    let Some(conv) = f.conversations.get(creator) else {
        return Vec::new();
    };
    f.messages
        .get(conv)
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["type"].as_str().unwrap().to_string(),
                m["content"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every file of the store (the database and its log), as bytes.
fn store_bytes(d: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(d).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("s.db") {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    all
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn a_token_that_expires_mid_run_is_refreshed_written_back_0600_and_never_printed() {
    let (fake, dir) = shop();
    let d = dir.path();
    // The first token the config holds is taken for three calls, then expires.
    fake.inner.lock().unwrap().expire_after = Some(3);
    let mut printed = String::new();
    for now in [DAY1, DAY2, DAY3] {
        let out = connect(d, now, None);
        printed.push_str(&common::stderr(&out));
        printed.push_str(&String::from_utf8_lossy(&out.stdout));
        assert!(out.status.success(), "{printed}");
        if now == DAY1 {
            deliver_both(&fake);
        }
    }
    let f = fake.inner.lock().unwrap();
    assert!(
        f.refreshes >= 2,
        "refreshed at the start and once the token expired mid-run: {}",
        f.refreshes
    );
    assert_eq!(
        f.bad_signatures, 0,
        "every call signed with the token in force"
    );
    // The files hold the tokens in force, mode 0600.
    for (file, expected) in [("token", &f.token), ("refresh", &f.refresh_token)] {
        let path = d.join(file);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap().trim(),
            expected.as_str()
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    // Never printed, never stored.
    let stored = store_bytes(d);
    for secret in f.given.iter().map(String::as_str).chain([
        tiktok::TOKEN,
        tiktok::REFRESH,
        tiktok::APP_SECRET,
    ]) {
        assert!(!printed.contains(secret), "`{secret}` printed:\n{printed}");
        assert!(!contains(&stored, secret), "`{secret}` in the store");
    }
    // The shop's cipher was read from the authorised shops, and the work went on.
    assert!(f.calls.iter().any(|c| c == "/authorization/202309/shops"));
    drop(f);
    assert_eq!(sample(d, "a0")["state"], "post_in_review");
}

#[test]
fn a_refused_refresh_is_a_clear_error_and_readyz_says_503() {
    let (fake, dir) = shop();
    fake.inner.lock().unwrap().refuse_refresh = true;
    let out = connect(dir.path(), DAY1, None);
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(
        err.contains("error: the access token could not be refreshed: the platform refused the refresh token (code 105003: invalid refresh token)"),
        "{err}"
    );
    assert!(
        !err.contains(tiktok::REFRESH) && !err.contains(tiktok::APP_SECRET),
        "{err}"
    );
    assert!(fake.inner.lock().unwrap().reviews.is_empty());

    // Inside serve: the connector's check fails with the reason, and /readyz is 503.
    let s = serve_connected(dir.path());
    s.err.wait(0, 1, "the failed poll", |l| {
        l.contains("connect: the access token could not be refreshed")
    });
    let ready = s.get("/readyz", None);
    assert_eq!(ready.status, 503, "{}", ready.body);
    let body = ready.json();
    assert_eq!(body["status"], "unready");
    let check = &body["checks"]["connector"];
    assert_eq!(check["status"], "failing");
    assert!(
        check["message"]
            .as_str()
            .unwrap()
            .contains("the platform refused the refresh token"),
        "{body}"
    );
    assert!(
        check["consecutive_failures"].as_u64().unwrap() >= 1,
        "{body}"
    );
    assert!(!ready.body.contains(tiktok::REFRESH));
    let metrics = s.get("/metrics", None).body;
    assert!(
        metrics.contains("sampleflow_connector_consecutive_failures{shop=\"default\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sampleflow_connector_polls_total{result=\"error\"}"),
        "{metrics}"
    );
    let (_, lines) = s.stop();
    let log = lines.join("\n");
    assert!(!log.contains(tiktok::REFRESH) && !log.contains(tiktok::APP_SECRET));
}

#[test]
fn sales_become_content_metrics_for_sampled_content_only_and_a_repoll_applies_nothing() {
    sales(false);
}

#[test]
fn sales_on_postgres() {
    sales(true);
}

fn sales(postgres: bool) {
    let (fake, dir) = shop();
    let d = dir.path();
    if postgres {
        common::use_postgres(d);
    }
    let day2 = ok(&first_days(&fake, d, None));
    let metrics: Vec<&Value> = day2
        .iter()
        .filter(|r| r["trigger"] == "content_metrics")
        .collect();
    // The fulfilment's figures, then the sales, in the poll that saw the video posted.
    assert_eq!(metrics.len(), 2, "{day2:?}");
    assert_eq!(metrics[1]["sample"], "a0");
    assert_eq!(metrics[1]["event"], "tts-a0-sales-v0-2-55000");
    let a0 = sample(d, "a0");
    assert_eq!(a0["gmv"], json!(550.0), "25 x 10 + 25 x (14 - 2)");
    assert_eq!(
        sample(d, "a2")["gmv"],
        json!(0.0),
        "v-other was never sampled"
    );
    // The same orders again: nothing new.
    let again = ok(&connect(d, DAY3, None));
    assert!(again.is_empty(), "{again:?}");
    // A refund comes late: the overlap sees it, and the totals follow.
    {
        let mut f = fake.inner.lock().unwrap();
        f.orders[0]["skus"][0]["refunded_quantity"] = json!(4);
    }
    let refunded = ok(&connect(d, "2026-06-03T13:00:00Z", None));
    assert_eq!(refunded.len(), 1, "{refunded:?}");
    assert_eq!(sample(d, "a0")["gmv"], json!(450.0));

    // Windows: a watermark 200 days old is read in windows of at most 90 days, each paged.
    set_watermark(d, real_now() - 200 * 86_400);
    {
        let mut f = fake.inner.lock().unwrap();
        f.order_windows.clear();
        let old = real_now() - 150 * 86_400;
        f.orders
            .push(tiktok::order("o-old", old, &[("v0", "10.00", 5, 0)]));
    }
    ok(&connect(d, "2026-06-03T14:00:00Z", None));
    let windows = fake.inner.lock().unwrap().order_windows.clone();
    assert_eq!(windows.len(), 3, "{windows:?}");
    for w in windows.windows(2) {
        assert_eq!(w[0].1, w[1].0, "windows follow one another");
    }
    assert!(windows.iter().all(|(a, b)| b - a <= 90 * 86_400));
    assert_eq!(sample(d, "a0")["gmv"], json!(500.0));
    assert_eq!(fake.inner.lock().unwrap().bad_signatures, 0);

    // `copy` moves the order lines with the rest: the copy's sales are the same.
    let target = d.join("copy.db");
    let copied = common::bin(&common::db_in(d))
        .arg("copy")
        .arg("--to")
        .arg(&target)
        .output()
        .unwrap();
    assert!(copied.status.success(), "{}", common::stderr(&copied));
    let conn = rusqlite::Connection::open(&target).unwrap();
    let (lines, gmv): (i64, f64) = conn
        .query_row(
            "SELECT count(*), sum(amount * (quantity - refunded_quantity)) FROM order_lines
             WHERE shop = 'default' AND content_id = 'v0'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((lines, gmv), (3, 500.0), "o1, o2 and o-old");
}

/// Moves the orders watermark (a test's shortcut to a store polled long ago).
fn set_watermark(d: &Path, at: i64) {
    let db = common::db_in(d);
    let text = db.to_string_lossy().into_owned();
    if text.starts_with("postgres") {
        let mut client = postgres::Client::connect(&text, postgres::NoTls).unwrap();
        let n = client
            .execute(
                "UPDATE sampleflow.meta SET value = $1 WHERE shop = 'default' AND key = 'connector:orders_until'",
                &[&at.to_string()],
            )
            .unwrap();
        assert_eq!(n, 1);
    } else {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let n = conn
            .execute(
                "UPDATE meta SET value = ?1 WHERE shop = 'default' AND key = 'connector:orders_until'",
                [at.to_string()],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
}

/// Every crash point of a delivery day: as the Nth platform write goes (`call:N`) and after
/// the platform took it (`answered:N`).
const CRASHES: [Option<&str>; 5] = [
    None,
    Some("call:1"),
    Some("answered:1"),
    Some("call:2"),
    Some("answered:2"),
];

#[test]
fn an_invitation_is_one_target_collaboration_across_kill_9_at_every_point() {
    for crash in [None, Some("call:1"), Some("answered:1")] {
        let (fake, dir) = shop();
        let d = dir.path();
        let died = first_days(&fake, d, crash);
        assert_eq!(died.status.success(), crash.is_none(), "{crash:?}");
        ok(&connect(d, DAY2, None));
        ok(&connect(d, DAY3, None));
        let f = fake.inner.lock().unwrap();
        assert_eq!(
            f.collaborations.len(),
            1,
            "{crash:?}: {:?}",
            f.collaborations
        );
        let c = &f.collaborations[0];
        assert_eq!(c["creator_user_ids"], json!(["cr0"]));
        assert_eq!(
            c["products"],
            json!([{"id": "p-mug", "target_commission_rate": 2000}])
        );
        assert_eq!(c["seller_contact_info"]["email"], "shop@example.com");
        assert_eq!(
            c["free_sample_rule"],
            json!({"has_free_sample": true, "is_sample_approval_exempt": true})
        );
        assert_eq!(c["message"], "Let us work together");
        drop(f);
        let calls = outbox(d);
        let collab = calls_of(&calls, "collaboration");
        assert_eq!(collab.len(), 1, "{calls:?}");
        assert_eq!(collab[0]["status"], "sent");
        assert!(c_name_has_action(
            &fake,
            collab[0]["call"]["event"].as_str().unwrap()
        ));
    }
}

fn c_name_has_action(fake: &Fake, action: &str) -> bool {
    fake.inner.lock().unwrap().collaborations[0]["name"]
        .as_str()
        .is_some_and(|n| n.contains(action))
}

#[test]
fn a_reminder_is_one_message_and_one_card_across_kill_9_at_every_point() {
    for crash in CRASHES {
        let (fake, dir) = shop();
        let d = dir.path();
        ok(&first_days(&fake, d, None));
        let died = connect(d, DAY8, crash);
        assert_eq!(died.status.success(), crash.is_none(), "{crash:?}");
        ok(&connect(d, DAY8, None));
        ok(&connect(d, DAY8, None));
        let got = messages_to(&fake, "cr2");
        assert_eq!(got.len(), 2, "{crash:?}: {got:?}");
        assert_eq!(got[0].0, "TEXT");
        let text: Value = serde_json::from_str(&got[0].1).unwrap();
        // The post deadline (delivery on June 2nd + 14 days) in the shop's timezone.
        assert_eq!(
            text["content"], "Hi ucr2, please post about tp-cream by 2026-06-16 05:00 PDT",
            "{crash:?}"
        );
        assert_eq!(got[1].0, "FREE_SAMPLE_CARD");
        assert_eq!(
            serde_json::from_str::<Value>(&got[1].1).unwrap(),
            json!({"apply_id": "a2"})
        );
        assert!(messages_to(&fake, "cr0").is_empty(), "{crash:?}: a0 posted");
        let calls = outbox(d);
        let messages = calls_of(&calls, "message");
        assert_eq!(messages.len(), 1, "{calls:?}");
        assert_eq!(messages[0]["status"], "sent");
        assert_eq!(fake.inner.lock().unwrap().bad_signatures, 0);
    }
}

/// A write whose answer is lost (the platform took it; a proxy answered 504) is not sent again
/// at once: the next delivery reads the conversation and the collaborations first, so the
/// creator still gets one text, one card and one invitation.
#[test]
fn a_write_whose_answer_is_lost_is_settled_by_a_read_not_sent_again() {
    let (fake, dir) = shop();
    let d = dir.path();
    ok(&connect(d, DAY1, None));
    deliver_both(&fake);
    // Day 2 earns `a0`'s invitation: its answer is lost.
    fake.inner.lock().unwrap().lose_answer_next = 1;
    ok(&connect(d, DAY2, None));
    ok(&connect(d, DAY3, None));
    assert_eq!(fake.inner.lock().unwrap().collaborations.len(), 1);
    assert_eq!(calls_of(&outbox(d), "collaboration")[0]["status"], "sent");
    // Day 8's reminder: the text's answer and then the card's are lost.
    fake.inner.lock().unwrap().lose_answer_next = 2;
    for _ in 0..3 {
        ok(&connect(d, DAY8, None));
    }
    let kinds: Vec<String> = messages_to(&fake, "cr2")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(kinds, ["TEXT", "FREE_SAMPLE_CARD"]);
    let calls = outbox(d);
    assert_eq!(
        calls_of(&calls, "message")[0]["status"],
        "sent",
        "{calls:?}"
    );
}

/// Reminders of the same words for one sample (three actions) are three messages: the second,
/// in doubt after the quota held it, is not taken for the first; the third, waiting while its
/// kind is held, says `held`.
#[test]
fn a_second_reminder_in_doubt_is_not_taken_for_the_first() {
    let (fake, dir) = shop();
    let d = dir.path();
    ok(&first_days(&fake, d, None));
    ok(&connect(d, DAY8, None));
    assert_eq!(messages_to(&fake, "cr2").len(), 2, "the first reminder");
    // The same words again, by another action: as a rule that reminds twice would.
    let first = calls_of(&outbox(d), "message")[0]["call"].clone();
    let again = d.join("again.sql");
    std::fs::write(
        &again,
        format!(
            "INSERT INTO outbox (shop, sample, event, decision, reason, state, queued_at, updated_at)
             SELECT shop, sample, event || suffix, decision, reason, 'queued', queued_at, updated_at
             FROM outbox, (SELECT '-again' AS suffix UNION ALL SELECT '-again-2')
             WHERE event = '{}';",
            first["event"].as_str().unwrap()
        ),
    )
    .unwrap();
    let sql = std::process::Command::new("sqlite3")
        .arg(common::db_in(d))
        .arg(format!(".read {}", again.display()))
        .output()
        .unwrap();
    assert!(
        sql.status.success(),
        "{}",
        String::from_utf8_lossy(&sql.stderr)
    );
    // The first of them meets the daily quota, so the next day's try is in doubt; the other
    // waits, held too, without a call.
    fake.inner.lock().unwrap().message_quota = Some(0);
    ok(&connect(d, DAY8, None));
    let calls = outbox(d);
    let states: Vec<&str> = calls_of(&calls, "message")
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["sent", "held", "held"], "{calls:?}");
    fake.inner.lock().unwrap().message_quota = None;
    ok(&connect(d, "2026-06-09T08:00:00Z", None));
    let kinds: Vec<String> = messages_to(&fake, "cr2")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        kinds,
        [
            "TEXT",
            "FREE_SAMPLE_CARD",
            "TEXT",
            "FREE_SAMPLE_CARD",
            "TEXT",
            "FREE_SAMPLE_CARD"
        ]
    );
    let calls = outbox(d);
    assert!(
        calls_of(&calls, "message")
            .iter()
            .all(|c| c["status"] == "sent"),
        "{calls:?}"
    );
}

#[test]
fn a_daily_message_quota_holds_reminders_until_the_next_day() {
    let (fake, dir) = shop();
    let d = dir.path();
    ok(&first_days(&fake, d, None));
    fake.inner.lock().unwrap().message_quota = Some(0);
    // 05:00 in Los Angeles on June 8th: held until the next day there (07:00 UTC on the 9th).
    let held = connect(d, DAY8, None);
    assert!(
        common::stderr(&held).contains("1 held"),
        "{}",
        common::stderr(&held)
    );
    let calls = outbox(d);
    let m = calls_of(&calls, "message");
    assert_eq!(m[0]["status"], "held");
    assert_eq!(m[0]["call"]["code"], tiktok::MESSAGE_QUOTA);
    assert!(
        m[0]["call"]["message"]
            .as_str()
            .unwrap()
            .ends_with("held until 2026-06-09T07:00:00Z"),
        "{m:?}"
    );
    // Later the same day the quota is back, but the shop's day is not over: nothing goes.
    fake.inner.lock().unwrap().message_quota = None;
    let before = fake.inner.lock().unwrap().calls.len();
    ok(&connect(d, "2026-06-09T06:00:00Z", None));
    let f = fake.inner.lock().unwrap();
    assert!(
        !f.calls[before..].iter().any(|c| c.contains("conversation")),
        "no message call while held: {:?}",
        &f.calls[before..]
    );
    drop(f);
    assert!(messages_to(&fake, "cr2").is_empty());
    // The next day: sent, once.
    ok(&connect(d, "2026-06-09T08:00:00Z", None));
    ok(&connect(d, "2026-06-09T09:00:00Z", None));
    assert_eq!(messages_to(&fake, "cr2").len(), 2);
    assert_eq!(calls_of(&outbox(d), "message")[0]["status"], "sent");
}

#[test]
fn the_report_gives_a_connected_shops_roi_from_its_sales() {
    let (fake, dir) = shop();
    let d = dir.path();
    ok(&first_days(&fake, d, None));
    let out = common::bin(&common::db_in(d))
        .args(["report", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let overall = &report;
    assert_eq!(overall["gmv"], json!(550.0), "{report}");
    // Both shipped: unit costs 5 + 9 (the catalogue), no shipping cost.
    assert_eq!(overall["cost"], json!(14.0), "{report}");
    assert_eq!(overall["roi"], json!(38.2857), "{report}");
    let home = report["by_category"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["category"] == "home")
        .unwrap();
    assert_eq!((&home["gmv"], &home["roi"]), (&json!(550.0), &json!(109.0)));
}

#[test]
fn the_demo_platform_runs_as_a_process_and_a_connector_keeps_a_store_in_step_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let shop = dir.path().join("shop");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sampleflow"))
        .args(["demo-platform", "--listen", "127.0.0.1:0", "--dir"])
        .arg(&shop)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let err = common::live::Lines::follow(child.stderr.take().unwrap());
    err.wait(0, 1, "listening", |l| {
        l.starts_with("demo-platform: listening on http://")
    });
    let db = dir.path().join("demo.db");
    let run = |now: &str| {
        let out = common::bin(&db)
            .args(["connect", "tiktok", "--once", "--config"])
            .arg(shop.join("tiktok.yaml"))
            .env("SAMPLEFLOW_NOW", now)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", common::stderr(&out));
        (common::stdout_json(&out), common::stderr(&out))
    };
    let (first, log) = run(DAY1);
    assert!(
        first.iter().any(|r| r["trigger"] == "sample_requested"),
        "{log}"
    );
    let mut all = first;
    for now in [DAY2, DAY3, "2026-06-04T12:00:00Z", "2026-06-05T12:00:00Z"] {
        all.extend(run(now).0);
    }
    let triggers: Vec<&str> = all.iter().filter_map(|r| r["trigger"].as_str()).collect();
    for t in [
        "sample_shipped",
        "sample_delivered",
        "content_posted",
        "content_metrics",
    ] {
        assert!(triggers.contains(&t), "{t} missing: {triggers:?}");
    }
    let out = common::bin(&db)
        .args(["outbox", "--format", "json"])
        .output()
        .unwrap();
    let calls = common::stdout_json(&out);
    assert!(
        calls
            .iter()
            .any(|c| c["kind"] == "review" && c["status"] == "sent"),
        "{calls:?}"
    );
    // The demo's token lasts 40 calls: the connector refreshed it and went on.
    let log = err.all().join("\n");
    assert!(log.contains("demo-platform: tokens refreshed"), "{log}");
    assert!(!log.contains("refused"), "{log}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// PostgreSQL's schema 2 to 4: the first writer adds the order lines (3) and the creators' names
/// and products' titles (4) in place, keeping what the store held.
#[test]
fn a_postgres_store_of_schema_2_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::use_postgres(d);
    let url = common::db_in(d).to_string_lossy().into_owned();
    let events = d.join("e.jsonl");
    std::fs::write(
        &events,
        "{\"id\":\"t1\",\"type\":\"tick\",\"at\":\"2026-06-01T00:00:00Z\"}\n",
    )
    .unwrap();
    let first = common::bin(&common::db_in(d))
        .arg("run")
        .arg(&events)
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", common::stderr(&first));
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "DROP TABLE sampleflow.order_lines; DROP TABLE sampleflow.creator_names;
             DROP TABLE sampleflow.product_titles; DROP INDEX sampleflow.samples_creator;
             DROP TABLE sampleflow.instances; DROP TABLE sampleflow.leases;
             UPDATE sampleflow.schema_version SET version = 2;",
        )
        .unwrap();
    // A reader refuses the old schema; a writer upgrades it.
    let report = common::bin(&common::db_in(d))
        .arg("report")
        .output()
        .unwrap();
    assert_eq!(report.status.code(), Some(1), "{}", common::stderr(&report));
    let again = common::bin(&common::db_in(d))
        .arg("run")
        .arg(&events)
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", common::stderr(&again));
    assert_eq!(
        common::stdout_json(&again)[0]["error"],
        "duplicate_id",
        "kept"
    );
    let version: i32 = client
        .query_one("SELECT version FROM sampleflow.schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(version, sampleflow::machinery::store::PG_SCHEMA_VERSION);
    let n: i64 = client
        .query_one("SELECT count(*) FROM sampleflow.order_lines", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    let n: i64 = client
        .query_one("SELECT count(*) FROM sampleflow.product_titles", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "made anew");
}

/// Inside serve, a healthy connector's check shows its last success, failures in a row, the
/// token's expiry and the outbox by kind and status, and the metrics carry the same.
#[test]
fn readyz_and_metrics_show_the_connectors_health() {
    let (fake, dir) = shop();
    let s = serve_connected(dir.path());
    s.err.wait(0, 1, "the first poll", |l| {
        l.starts_with("connect: 2 applications seen")
    });
    let ready = s.get("/readyz", None);
    assert_eq!(ready.status, 200, "{}", ready.body);
    let c = &ready.json()["checks"]["connector"];
    assert_eq!(c["status"], "ok");
    assert_eq!(c["consecutive_failures"], 0);
    assert!(c["last_success"].is_string(), "{c}");
    assert!(
        c["token_expires_at"].is_string(),
        "refreshed at the start: {c}"
    );
    assert_eq!(c["outbox"]["review"]["sent"], 2, "{c}");
    assert_eq!(c["outbox"]["message"]["queued"], 0, "{c}");
    let metrics = s.get("/metrics", None).body;
    for line in [
        "sampleflow_connector_outbox{shop=\"default\",kind=\"review\",status=\"sent\"} 2",
        "sampleflow_connector_consecutive_failures{shop=\"default\"} 0",
        "sampleflow_connector_token_expiry_seconds{shop=\"default\"}",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    assert_eq!(fake.inner.lock().unwrap().reviews.len(), 2);
    s.stop();
}

/// HTTP 429 and code `36009002` are backed off and tried again: every call goes through, once.
#[test]
fn rate_limits_are_backed_off_and_every_call_goes_once() {
    let (fake, dir) = shop();
    let d = dir.path();
    ok(&connect(d, DAY1, None));
    deliver_both(&fake);
    {
        let mut f = fake.inner.lock().unwrap();
        f.http_429_next = 2;
        f.code_36009002_next = 2;
    }
    ok(&connect(d, DAY2, None));
    ok(&first_days_done(&fake, d));
    let f = fake.inner.lock().unwrap();
    assert_eq!(
        (f.http_429_next, f.code_36009002_next),
        (0, 0),
        "both limits were met"
    );
    assert_eq!(f.reviews.len(), 2);
    assert_eq!(f.collaborations.len(), 1, "the invitation went once");
    drop(f);
    assert_eq!(
        messages_to(&fake, "cr2").len(),
        2,
        "the reminder and its card, once"
    );
    let calls = outbox(d);
    assert!(calls.iter().all(|c| c["status"] == "sent"), "{calls:?}");
}

/// The reminder's day, with the quota and rate limits of the moment.
fn first_days_done(fake: &Fake, d: &Path) -> std::process::Output {
    fake.inner.lock().unwrap().http_429_next = 1;
    connect(d, DAY8, None)
}

/// A reminder in doubt is looked for by the text first sent, even when the post deadline moved
/// before the restart (an extension): the creator still gets one text.
#[test]
fn a_reminder_in_doubt_is_found_by_its_first_text_after_the_deadline_moved() {
    let (fake, dir) = shop();
    let d = dir.path();
    ok(&first_days(&fake, d, None));
    let died = connect(d, DAY8, Some("answered:1"));
    assert!(!died.status.success(), "died after the text went");
    let events = d.join("ext.jsonl");
    std::fs::write(
        &events,
        "{\"id\":\"ext-1\",\"type\":\"extension_requested\",\"at\":\"2026-06-08T12:30:00Z\",\"sample\":\"a2\"}\n",
    )
    .unwrap();
    let ext = common::bin(&common::db_in(d))
        .arg("run")
        .arg(&events)
        .output()
        .unwrap();
    assert_eq!(
        common::stdout_json(&ext)[0]["trigger"],
        "extension_requested"
    );
    ok(&connect(d, "2026-06-08T13:00:00Z", None));
    let got = messages_to(&fake, "cr2");
    let kinds: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["TEXT", "FREE_SAMPLE_CARD"], "{got:?}");
    assert!(got[0].1.contains("2026-06-16 05:00 PDT"), "{got:?}");
    assert_eq!(calls_of(&outbox(d), "message")[0]["status"], "sent");
}
