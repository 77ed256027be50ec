//! Many shops in one deployment, end to end with the real binary: a deployment of `default`
//! (the top-level folders) and `shops/a` (a higher follower floor) and `shops/b` (a daily quota
//! of 3), one stream mixing them with the same sample and creator ids in every shop.

// Tests fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

/// A deployment: the shipped rules and workflows at the top (shop `default`), `shops/a` with a
/// follower floor of 50,000, `shops/b` with a daily quota of 3 (their policies differ from the
/// shipped one, so the shipped rule tests are not theirs: they have none).
fn deployment() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    common::copy_dir(&root.join("rules"), &dir.path().join("rules"));
    common::copy_dir(&root.join("workflows"), &dir.path().join("workflows"));
    for shop in ["a", "b"] {
        let rules = dir.path().join("shops").join(shop).join("rules");
        common::copy_dir(&root.join("rules"), &rules);
        std::fs::remove_dir_all(rules.join("tests")).unwrap();
    }
    common::edit(
        &dir.path().join("shops/a/rules/policy.yaml"),
        "  min_followers: 5000 ",
        "  min_followers: 50000",
    );
    common::edit(
        &dir.path().join("shops/b/rules/policy.yaml"),
        "  daily_quota: 100 ",
        "  daily_quota: 3   ",
    );
    dir
}

/// The binary in the deployment's folder, on its store.
fn bin(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sampleflow"));
    cmd.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("SAMPLEFLOW_SHOP")
        .arg("--db")
        .arg(common::db_in(dir));
    cmd
}

fn request(shop: Option<&str>, id: &str, sample: &str, creator: &str, at: &str) -> Value {
    let mut e = json!({
        "id": id, "type": "sample_requested", "at": at, "sample": sample,
        "creator": {"id": creator, "followers": 8000, "engagement_rate": 0.05, "posts_30d": 10,
                    "fulfillment_rate_90d": 0.9},
        "product": {"id": format!("p-{sample}"), "category": "home", "price": 20, "unit_cost": 5},
    });
    if let Some(shop) = shop {
        e["shop"] = json!(shop);
    }
    e
}

fn event(shop: Option<&str>, mut e: Value) -> Value {
    if let Some(shop) = shop {
        e["shop"] = json!(shop);
    }
    e
}

fn write(dir: &Path, name: &str, events: &[Value]) -> std::path::PathBuf {
    let path = dir.join(name);
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path
}

fn run(dir: &Path, file: &Path) -> Vec<Value> {
    let out = bin(dir).arg("run").arg(file).output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    common::stdout_json(&out)
}

/// The records of one shop, by sample: (to, reason) of the last record of each.
fn last_of(records: &[Value], shop: &str) -> std::collections::BTreeMap<String, (String, String)> {
    records
        .iter()
        .filter(|r| r["shop"] == shop && r.get("sample").is_some())
        .map(|r| {
            (
                r["sample"].as_str().unwrap().to_string(),
                (
                    r["to"].as_str().unwrap().to_string(),
                    r["reason"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

#[test]
fn one_mixed_stream_follows_each_shops_policy_and_keeps_the_quota_in_its_shop() {
    let dir = deployment();
    let mut events = Vec::new();
    // Five requests the same day by five creators, with the same ids in every shop.
    for shop in [None, Some("a"), Some("b")] {
        for i in 1..=5 {
            events.push(request(
                shop,
                &format!("r{i}"),
                &format!("s{i}"),
                &format!("c{i}"),
                &format!("2026-03-02T1{i}:00:00Z"),
            ));
        }
    }
    events.push(request(
        Some("zz"),
        "r9",
        "s9",
        "c9",
        "2026-03-02T18:00:00Z",
    ));
    let file = write(dir.path(), "mixed.jsonl", &events);
    let records = run(dir.path(), &file);

    // Every record names its shop; the unknown shop is refused on `shop`.
    assert!(records.iter().all(|r| r["shop"].is_string()), "{records:?}");
    let refused: Vec<&Value> = records
        .iter()
        .filter(|r| r.get("error").is_some())
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["error"], "invalid_field");
    assert_eq!(refused[0]["event"], "r9");
    assert!(
        refused[0]["message"].as_str().unwrap().contains("`shop`"),
        "{refused:?}"
    );

    let default = last_of(&records, "default");
    let a = last_of(&records, "a");
    let b = last_of(&records, "b");
    for i in 1..=5 {
        let s = format!("s{i}");
        assert_eq!(
            default[&s],
            ("awaiting_shipment".into(), "auto_approved".into())
        );
        // a's floor is 50,000 followers.
        assert_eq!(a[&s], ("reject_cancelled".into(), "low_followers".into()));
    }
    // b's quota is 3 a day; default's 100 is untouched by b's.
    let quota: Vec<_> = (1..=5).map(|i| b[&format!("s{i}")].1.clone()).collect();
    assert_eq!(
        quota,
        [
            "auto_approved",
            "auto_approved",
            "auto_approved",
            "daily_quota",
            "daily_quota"
        ]
    );

    // show --all --shop lists one shop's samples, each naming it.
    for (shop, n) in [("a", 5), ("b", 5), ("default", 5)] {
        let out = bin(dir.path())
            .args(["show", "--all", "--shop", shop])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", common::stderr(&out));
        let lines = common::stdout_json(&out);
        assert_eq!(lines.len(), n, "{shop}: {lines:?}");
        assert!(lines.iter().all(|l| l["shop"] == shop), "{lines:?}");
    }
    let out = bin(dir.path())
        .args(["show", "s1", "--shop", "a"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("low_followers") && !text.contains("auto_approved"),
        "{text}"
    );

    // report --all-shops: a table per shop, then the total.
    let out = bin(dir.path())
        .args(["report", "--all-shops", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let shops: Vec<&String> = doc["shops"].as_object().unwrap().keys().collect();
    assert_eq!(shops, ["a", "b", "default"]);
    let requested = |v: &Value| {
        v["funnel"]["requested"]
            .as_u64()
            .unwrap_or_else(|| panic!("{v}"))
    };
    assert_eq!(requested(&doc["shops"]["a"]), 5);
    assert_eq!(requested(&doc["total"]), 15);
    let table = bin(dir.path())
        .args(["report", "--all-shops"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    for name in ["shop a", "shop b", "shop default", "all shops"] {
        assert!(table.contains(name), "{name}: {table}");
    }

    // A command on a shop the deployment lacks is bad usage.
    let out = bin(dir.path())
        .args(["show", "--all", "--shop", "zz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("no shop `zz`"));
}

#[test]
fn a_breach_and_a_clock_stay_in_their_shop() {
    let dir = deployment();
    let shipped = |shop, id: &str, at: &str| {
        event(
            shop,
            json!({"id": id, "type": "sample_shipped", "at": at, "sample": "s1", "tracking_number": "T1"}),
        )
    };
    let delivered = |shop, id: &str, at: &str| {
        event(
            shop,
            json!({"id": id, "type": "sample_delivered", "at": at, "sample": "s1"}),
        )
    };
    let events = vec![
        // In `default`, c1's sample is never posted about: a breach.
        request(None, "e1", "s1", "c1", "2026-03-02T10:00:00Z"),
        shipped(None, "e2", "2026-03-03T10:00:00Z"),
        delivered(None, "e3", "2026-03-05T10:00:00Z"),
        event(
            None,
            json!({"id": "e4", "type": "tick", "at": "2026-05-01T00:00:00Z"}),
        ),
        // In `b`, the same ids: a sample pending review (the quota is not reached here; the
        // price is over the cap) whose review deadline must not fire on default's clock.
        {
            let mut e = request(Some("b"), "e1", "s1", "c1", "2026-03-02T10:00:00Z");
            e["product"]["price"] = json!(80);
            e
        },
        // c1 asks again in both shops.
        request(None, "e5", "s2", "c1", "2026-05-02T10:00:00Z"),
        request(Some("a"), "e5", "s2", "c1", "2026-05-02T10:00:00Z"),
    ];
    let file = write(dir.path(), "breach.jsonl", &events);
    let records = run(dir.path(), &file);
    let default = last_of(&records, "default");
    assert_eq!(default["s1"].0, "unfulfill_cancelled", "{records:?}");
    assert_eq!(default["s2"].1, "recent_breach");
    // In `a` the breach is not c1's (a's floor rejects on followers, not on the breach).
    assert_eq!(last_of(&records, "a")["s2"].1, "low_followers");
    // `b`'s sample waits for review: default's tick two months on fired nothing in `b`.
    let b = last_of(&records, "b");
    assert_eq!(
        b["s1"],
        ("pending".into(), "price_cap".into()),
        "{records:?}"
    );
    let out = bin(dir.path())
        .args(["show", "--creator", "c1", "--shop", "b"])
        .output()
        .unwrap();
    let ledger = String::from_utf8_lossy(&out.stdout);
    assert!(!ledger.contains("unfulfill"), "{ledger}");
}

#[test]
fn validate_and_test_go_through_every_shop_and_name_the_bad_file() {
    let dir = deployment();
    let out = bin(dir.path()).arg("validate").output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    for shop in ["shop a:", "shop b:", "shop default:"] {
        assert!(text.contains(shop), "{shop}: {text}");
    }
    let out = bin(dir.path()).arg("test").output().unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("all shops: "));

    // One shop's broken policy: validate names its file, line and column; a run refuses to
    // start (exit 3) rather than run the other shops without it.
    let policy = dir.path().join("shops/b/rules/policy.yaml");
    common::edit(&policy, "  daily_quota: 3   ", "  daily_quota: lots");
    let out = bin(dir.path()).arg("validate").output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = common::stderr(&out);
    assert!(err.contains("shops/b/rules/policy.yaml:"), "{err}");
    let file = write(
        dir.path(),
        "one.jsonl",
        &[request(None, "e1", "s1", "c1", "2026-03-02T10:00:00Z")],
    );
    let out = bin(dir.path()).arg("run").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains("shop `b`"));
}

#[test]
fn an_ops_command_acts_in_its_shop() {
    let dir = deployment();
    let events = vec![
        {
            let mut e = request(None, "e1", "s1", "c1", "2026-03-02T10:00:00Z");
            e["product"]["price"] = json!(80);
            e
        },
        {
            let mut e = request(Some("b"), "e1", "s1", "c1", "2026-03-02T10:00:00Z");
            e["product"]["price"] = json!(80);
            e
        },
    ];
    let file = write(dir.path(), "two.jsonl", &events);
    run(dir.path(), &file);
    let out = bin(dir.path())
        .args([
            "review",
            "s1",
            "--approve",
            "--shop",
            "b",
            "--at",
            "2026-03-02T12:00:00Z",
            "--by",
            "ana",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let records = common::stdout_json(&out);
    assert_eq!(records[0]["shop"], "b");
    assert_eq!(records[0]["to"], "awaiting_shipment");
    // SAMPLEFLOW_SHOP picks the shop as --shop does; default's s1 still waits.
    let out = bin(dir.path())
        .env("SAMPLEFLOW_SHOP", "default")
        .args(["queue"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("s1"));
    let out = bin(dir.path())
        .env("SAMPLEFLOW_SHOP", "b")
        .args(["queue"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("s1"),
        "{out:?}"
    );
}

#[test]
fn a_bad_edit_in_one_shops_rules_refuses_that_shops_reload_only() {
    use common::live::Watch;
    const NOW: &str = "2026-03-02T12:00:00Z";
    let mut w = Watch::start_in(deployment(), &[], NOW, true);
    let ready = w.err.all().join("\n");
    assert!(
        ready.contains("shop a:") && ready.contains("shop b:"),
        "{ready}"
    );
    let before_a = w.decide(&request(Some("a"), "e1", "s1", "c1", NOW));
    let before_b = w.decide(&request(Some("b"), "e1", "s1", "c1", NOW));
    assert_eq!(before_a["shop"], "a");
    assert_eq!(before_b["decision"], "approve");

    // b's script breaks: b's reload is refused and b keeps its rules.
    std::fs::write(
        w.path("shops/b/rules/default.rhai"),
        "fn screen(request, ledger) {\n    let x = ;\n}\n",
    )
    .unwrap();
    let i = w.err.wait(0, 1, "b's refusal", |l| {
        l.starts_with("shop b: reload refused")
    });
    // a's policy changes: a reloads, b's broken files notwithstanding.
    w.replace("shops/a/rules/policy.yaml", |t| {
        t.replace("  min_followers: 50000", "  min_followers: 1000 ")
    });
    w.err.wait(i, 1, "a's reload", |l| {
        l.starts_with("shop a: reload: rules")
    });
    let after_a = w.decide(&request(Some("a"), "e2", "s2", "c2", NOW));
    assert_eq!(after_a["decision"], "approve", "{after_a}");
    assert_ne!(after_a["rules"], before_a["rules"]);
    let after_b = w.decide(&request(Some("b"), "e2", "s2", "c2", NOW));
    assert_eq!(after_b["rules"], before_b["rules"]);
    assert_eq!(after_b["decision"], "approve");
    // The top-level shop was never touched.
    let default = w.decide(&request(None, "e2", "s2", "c2", NOW));
    assert_eq!(default["shop"], "default");
    let (_, err, _) = w.end();
    assert!(
        !err.iter().any(|l| l.starts_with("shop default: reload")),
        "{err:?}"
    );
}

#[test]
fn a_run_that_mixes_shops_resumes_after_a_crash_as_a_run_of_one() {
    let dir = deployment();
    // Three more shops with no files of their own: the top-level rules and workflows are theirs.
    for k in 0..3 {
        std::fs::create_dir_all(dir.path().join(format!("shops/shop-{k}"))).unwrap();
    }
    let gen = bin(dir.path())
        .args(["gen", "--samples", "40", "--shops", "3"])
        .output()
        .unwrap();
    assert!(gen.status.success());
    std::fs::write(dir.path().join("mixed.jsonl"), &gen.stdout).unwrap();
    let states = |db: &str| {
        (0..3)
            .map(|k| {
                let out = Command::new(env!("CARGO_BIN_EXE_sampleflow"))
                    .current_dir(dir.path())
                    .args(["--db", db, "show", "--all", "--shop", &format!("shop-{k}")])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{}", common::stderr(&out));
                String::from_utf8(out.stdout).unwrap()
            })
            .collect::<Vec<_>>()
    };
    let run = |db: &str, crash: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sampleflow"));
        cmd.current_dir(dir.path())
            .args(["--db", db, "run", "mixed.jsonl"])
            .env("SAMPLEFLOW_BATCH", "64");
        if let Some(crash) = crash {
            cmd.env("SAMPLEFLOW_CRASH", crash);
        }
        cmd.output().unwrap()
    };
    let whole = run("whole.db", None);
    assert!(whole.status.success(), "{}", common::stderr(&whole));
    // The writer puts up to `store::GROUP` (8) batches in one transaction, so the 9th batch is
    // never in the first: the crash always comes after a commit, whatever the machine's pace.
    let crashed = run("crashed.db", Some("commit:9"));
    assert!(!crashed.status.success(), "the crash hook aborts");
    let resumed = run("crashed.db", None);
    assert!(resumed.status.success(), "{}", common::stderr(&resumed));
    assert!(
        common::stderr(&resumed).contains("resumed an interrupted run"),
        "{}",
        common::stderr(&resumed)
    );
    let expected = states("whole.db");
    // Every shop has its 40 generated requests (and the generator's second samples of some).
    assert!(expected.iter().all(|s| s.lines().count() >= 40));
    assert_eq!(states("crashed.db"), expected);
    // Nothing applied twice: the resumed run's output holds every record of the whole run.
    let mut a: Vec<String> = String::from_utf8_lossy(&whole.stdout)
        .lines()
        .map(String::from)
        .collect();
    let mut b: Vec<String> = String::from_utf8_lossy(&resumed.stdout)
        .lines()
        .map(String::from)
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a.len(), b.len());
    assert_eq!(a, b);
}
