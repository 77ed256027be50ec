//! `sampleflow tune`, the real binary: each point against `diff` of a candidate with the
//! point's values, against `run` + `report` + `show --all` of the same events under those rules
//! (the figures recomputed from the store by their definitions), the front, the best point and
//! its `policy.yaml` lines, estimated GMV kept apart, bad usage, and a store left untouched.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use common::bin;
use serde_json::Value;

const SMALL: &str = "tests/fixtures/analysis/small.jsonl";

/// A generated history of `samples` samples in `dir`.
fn history(dir: &Path, samples: u32) -> PathBuf {
    let path = dir.join("history.jsonl");
    let out = bin(&dir.join("gen.db"))
        .args(["gen", "--samples", &samples.to_string(), "--seed", "3"])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(&path, out.stdout).unwrap();
    path
}

/// `tune` with `args`; its exit code, stdout and stderr.
fn tune(db: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = bin(db).arg("tune").args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn tune_json(db: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (code, out, err) = tune(db, &all);
    assert_eq!(code, Some(0), "{err}");
    serde_json::from_str(&out).unwrap()
}

/// A copy of the shipped rules with `key: value` set in `block` of `policy.yaml`.
fn rules_with(block: &str, keys: &[(&str, Value)]) -> tempfile::TempDir {
    let dir = common::shipped_rules();
    let path = dir.path().join("policy.yaml");
    let mut policy: serde_yaml::Mapping =
        serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let entry = policy
        .entry(block.into())
        .or_insert(serde_yaml::Value::Mapping(Default::default()));
    let map = entry.as_mapping_mut().unwrap();
    for (key, value) in keys {
        map.insert((*key).into(), serde_yaml::to_value(value).unwrap());
    }
    std::fs::write(&path, serde_yaml::to_string(&policy).unwrap()).unwrap();
    dir
}

/// `diff --base rules --candidate DIR EVENTS --format json`.
fn diff(db: &Path, candidate: &Path, events: &Path) -> Value {
    let out = bin(db)
        .args(["diff", "--base", "rules", "--candidate"])
        .arg(candidate)
        .arg(events)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// One sample as `show --all` gives it after a `run`.
#[derive(Debug, Clone)]
struct Row {
    approved: bool,
    shipped: bool,
    state: String,
    category: String,
    tier: String,
    cost: f64,
    gmv: f64,
}

impl Row {
    fn settled(&self) -> bool {
        self.state == "completed" || self.state.ends_with("_cancelled")
    }
}

/// Runs `events` under `rules` into a fresh store and reads every sample back.
fn run_rows(dir: &Path, name: &str, rules: &Path, events: &Path) -> HashMap<String, Row> {
    let db = dir.join(format!("{name}.db"));
    let run = bin(&db)
        .arg("--rules")
        .arg(rules)
        .arg("run")
        .arg(events)
        .output()
        .unwrap();
    assert!(run.status.success());
    let show = bin(&db).args(["show", "--all"]).output().unwrap();
    common::stdout_json(&show)
        .into_iter()
        .map(|v| {
            let row = Row {
                approved: v["decision"] == "approve",
                shipped: !v["tracking_number"].is_null(),
                state: v["state"].as_str().unwrap().to_string(),
                category: v["category"].as_str().unwrap().to_string(),
                tier: v["tier"].as_str().unwrap().to_string(),
                cost: v["cost"].as_f64().unwrap(),
                gmv: v["gmv"].as_f64().unwrap(),
            };
            (v["sample"].as_str().unwrap().to_string(), row)
        })
        .collect()
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let m = if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    };
    Some((m * 100.0).round() / 100.0)
}

/// A point's figures by the README's definitions, from the stores of today's rules and the
/// point's: (approvals, shipped, cost, GMV observed, GMV estimated).
fn by_definition(
    today: &HashMap<String, Row>,
    point: &HashMap<String, Row>,
) -> (u64, u64, f64, f64, f64) {
    let settled: Vec<&Row> = today
        .values()
        .filter(|r| r.shipped && r.settled())
        .collect();
    let estimate = |category: &str, tier: &str| {
        let of = |keep: &dyn Fn(&&&Row) -> bool| {
            median(settled.iter().filter(keep).map(|r| r.gmv).collect())
        };
        of(&|r| r.category == category && r.tier == tier)
            .or_else(|| of(&|r| r.category == category))
            .or_else(|| of(&|_| true))
            .unwrap_or(0.0)
    };
    let (mut approvals, mut shipped) = (0, 0);
    let (mut cost, mut observed, mut estimated) = (0.0, 0.0, 0.0);
    for (id, p) in point {
        if !p.approved {
            continue;
        }
        approvals += 1;
        let t = &today[id];
        if p.shipped {
            shipped += 1;
            cost += p.cost;
            observed += p.gmv;
        } else if t.shipped {
            shipped += 1;
            cost += t.cost;
            observed += t.gmv;
        } else if !t.approved && t.state != p.state {
            shipped += 1;
            cost += p.cost;
            estimated += estimate(&p.category, &p.tier);
        }
    }
    (approvals, shipped, cost, observed, estimated)
}

fn close(a: &Value, b: f64) -> bool {
    (a.as_f64().unwrap() - b).abs() < 0.006
}

/// A parameter's value as the table writes it (`30`, `0.02`, `5000`).
fn shown(value: &Value) -> String {
    match value.as_i64() {
        Some(n) => n.to_string(),
        None => value.as_f64().unwrap().to_string(),
    }
}

fn param(point: &Value, name: &str) -> Value {
    point["params"][name].clone()
}

#[test]
fn todays_point_is_diff_of_the_rules_with_themselves_and_the_report_of_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let events = history(dir.path(), 600);
    let e = events.to_str().unwrap();
    let t = tune_json(
        &db,
        &[
            e,
            "--param",
            "min_followers=3000..6000:1000",
            "--param",
            "price_cap=40..60:10",
        ],
    );
    let points = t["points"].as_array().unwrap();
    assert_eq!(points.len(), 12, "today's values are on the grid");
    let today: Vec<&Value> = points.iter().filter(|p| p["today"] == true).collect();
    assert_eq!(today.len(), 1);
    let today = today[0];
    assert_eq!(param(today, "min_followers"), 5000);
    assert_eq!(param(today, "price_cap"), 50.0);
    let same = diff(&db, Path::new("rules"), &events);
    assert_eq!(same["summary"]["changed"], 0);
    assert_eq!(today["approvals"], same["summary"]["candidate"]["approved"]);
    assert_eq!(today["gmv_estimated"], 0.0);
    // And the report of a run of the same events under the same rules.
    let run = bin(&db).args(["run", e]).output().unwrap();
    assert!(run.status.success());
    let report = bin(&db)
        .args(["report", "--format", "json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(today["approvals"], report["funnel"]["approved"]);
    assert_eq!(today["shipped"], report["funnel"]["shipped"]);
    assert_eq!(today["cost"], report["cost"]);
    assert_eq!(today["gmv_observed"], report["gmv"]);
    assert_eq!(today["roi"], report["roi"]);
    assert!(today["approvals"].as_u64().unwrap() > 300);
}

#[test]
fn a_point_that_changes_one_threshold_is_diff_and_run_under_that_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let events = history(dir.path(), 600);
    let e = events.to_str().unwrap();
    let today_rows = run_rows(dir.path(), "today", Path::new("rules"), &events);
    let mut estimated_somewhere = false;
    for spec in ["price_cap=30..70:20", "min_followers=2000..8000:3000"] {
        let name = spec.split_once('=').unwrap().0;
        let t = tune_json(&db, &[e, "--param", spec]);
        let points = t["points"].as_array().unwrap();
        assert_eq!(points.len(), 3, "today's value is the middle one");
        let today = &points[1];
        assert_eq!(today["today"], true);
        let (_, table, _) = tune(&db, &[e, "--param", spec]);
        for point in [&points[0], &points[2]] {
            let value = param(point, name);
            let rules = rules_with("default", &[(name, value.clone())]);
            let d = diff(&db, rules.path(), &events);
            let s = &d["summary"];
            assert_eq!(
                point["approvals"], s["candidate"]["approved"],
                "{name} {value}"
            );
            let net = point["approvals"].as_i64().unwrap() - today["approvals"].as_i64().unwrap();
            let gained = s["approvals_gained"].as_i64().unwrap();
            let lost = s["approvals_lost"].as_i64().unwrap();
            assert_eq!(net, gained - lost, "{name} {value}");
            assert!(gained + lost > 0, "{name} {value} changes something");
            // The table's `vs today` column says the same.
            let vs = match (gained, lost) {
                (0, l) => format!("-{l}"),
                (g, 0) => format!("+{g}"),
                (g, l) => format!("+{g} -{l}"),
            };
            let row = table
                .lines()
                .find(|l| l.split_whitespace().next() == Some(&shown(&value)))
                .unwrap_or_else(|| panic!("no row for {value}\n{table}"));
            assert!(row.contains(&format!(" {vs} ")), "{vs}: {row}");
            // What history measured of the samples no longer approved is what diff refuses.
            if gained == 0 {
                let refused = today["gmv_observed"].as_f64().unwrap()
                    - point["gmv_observed"].as_f64().unwrap();
                assert!((refused - s["gmv_refused"].as_f64().unwrap()).abs() < 0.006);
                assert_eq!(point["gmv_estimated"], 0.0);
            }
            // Every figure by its definition, from `run` under the same rules.
            let rows = run_rows(
                dir.path(),
                &format!("{name}-{value}"),
                rules.path(),
                &events,
            );
            let (approvals, shipped, cost, observed, estimated) = by_definition(&today_rows, &rows);
            assert_eq!(point["approvals"], approvals);
            assert_eq!(point["shipped"], shipped);
            assert!(close(&point["cost"], cost), "{point} {cost}");
            assert!(
                close(&point["gmv_observed"], observed),
                "{point} {observed}"
            );
            assert!(
                close(&point["gmv_estimated"], estimated),
                "{point} {estimated}"
            );
            estimated_somewhere |= estimated > 0.0;
        }
    }
    assert!(
        estimated_somewhere,
        "a looser threshold approves samples history never shipped"
    );
}

#[test]
fn estimated_gmv_of_a_new_approval_is_a_median_and_never_observed() {
    // tests/fixtures/analysis/small.jsonl (see tests/analysis.rs): s4, a $70 toy, goes to
    // review today and is rejected by a reviewer; under a toys cap of $80 it is approved at
    // screening, and history never shipped it. No toy settled after shipping: its estimate is
    // the median of all shipped, settled samples (s1 $120, s2 $0, s3 $40): $40.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let t = tune_json(
        &db,
        &[
            SMALL,
            "--category",
            "toys",
            "--param",
            "price_cap=50..80:30",
        ],
    );
    let points = t["points"].as_array().unwrap();
    let (today, looser) = (&points[0], &points[1]);
    assert_eq!(today["today"], true);
    assert_eq!(
        (today["approvals"].clone(), today["shipped"].clone()),
        (4.into(), 3.into())
    );
    assert_eq!(
        (today["cost"].clone(), today["gmv_observed"].clone()),
        (35.0.into(), 160.0.into())
    );
    assert_eq!(looser["approvals"], 5);
    assert_eq!(looser["shipped"], 4);
    // s4's unit cost ($20) as diff weighs the new approval.
    assert_eq!(looser["cost"], 55.0);
    assert_eq!(looser["gmv_observed"], 160.0);
    assert_eq!(looser["gmv_estimated"], 40.0);
    assert_eq!(looser["roi"], 2.6364);
    let rules = rules_with("toys", &[("price_cap", serde_json::json!(80))]);
    let d = diff(&db, rules.path(), Path::new(SMALL));
    assert_eq!(d["summary"]["approvals_gained"], 1);
    assert_eq!(d["summary"]["cost_added"], 20.0);
}

fn dominated(points: &[Value], p: &Value) -> bool {
    let cents = |v: &Value| (v.as_f64().unwrap() * 100.0).round() as i64;
    let gmv = |q: &Value| cents(&q["gmv_observed"]) + cents(&q["gmv_estimated"]);
    points.iter().any(|q| {
        cents(&q["cost"]) <= cents(&p["cost"])
            && gmv(q) >= gmv(p)
            && (cents(&q["cost"]) < cents(&p["cost"]) || gmv(q) > gmv(p))
    })
}

#[test]
fn the_front_is_every_point_nothing_dominates_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let events = history(dir.path(), 600);
    let t = tune_json(
        &db,
        &[
            events.to_str().unwrap(),
            "--param",
            "min_followers=1000..7000:2000",
            "--param",
            "price_cap=20..100:20",
            "--param",
            "min_engagement_rate=0.01..0.03:0.02",
        ],
    );
    let points = t["points"].as_array().unwrap();
    assert_eq!(points.len(), 4 * 5 * 2 + 1);
    let on: Vec<&Value> = points.iter().filter(|p| p["pareto"] == true).collect();
    assert!(on.len() > 1 && on.len() < points.len(), "{}", on.len());
    for p in points {
        assert_eq!(p["pareto"] == true, !dominated(points, p), "{p}");
    }
    // Estimates are reported apart: some points have them, and observed GMV never grows by
    // approving samples history never shipped.
    assert!(points
        .iter()
        .any(|p| p["gmv_estimated"].as_f64().unwrap() > 0.0));
    assert_eq!(t["best"], Value::Null);
}

/// The `policy.yaml` lines the table prints under the best point, as (block, key, value).
fn best_lines(table: &str) -> Vec<(String, String, String)> {
    let start = table
        .lines()
        .position(|l| l.starts_with("policy.yaml"))
        .expect("policy lines");
    let mut block = String::new();
    let mut out = Vec::new();
    for line in table.lines().skip(start + 1) {
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
            block = name.to_string();
        } else if let Some(kv) = line.strip_prefix("    ") {
            let (k, v) = kv.split_once(": ").unwrap();
            out.push((block.clone(), k.to_string(), v.to_string()));
        } else {
            break;
        }
    }
    out
}

#[test]
fn max_cost_picks_the_most_gmv_within_it_and_its_lines_make_diff_agree() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let events = history(dir.path(), 600);
    let e = events.to_str().unwrap();
    for (category, specs) in [
        (
            None,
            ["min_followers=2000..8000:2000", "price_cap=30..90:30"],
        ),
        (
            Some("beauty"),
            ["min_followers=1000..5000:2000", "min_posts_30d=1..3:1"],
        ),
    ] {
        let mut args = vec![e, "--param", specs[0], "--param", specs[1]];
        if let Some(c) = category {
            args.extend(["--category", c]);
        }
        let all = tune_json(&db, &args);
        let points = all["points"].as_array().unwrap();
        let today = points.iter().find(|p| p["today"] == true).unwrap();
        // A budget some points keep within and some do not: the median of their costs.
        let mut costs: Vec<f64> = points.iter().map(|p| p["cost"].as_f64().unwrap()).collect();
        costs.sort_by(f64::total_cmp);
        let budget = costs[costs.len() / 2];
        assert!(
            costs[0] < costs[costs.len() - 1],
            "{category:?}: costs differ"
        );
        let budget_text = format!("{budget:.2}");
        args.extend(["--max-cost", &budget_text]);
        let t = tune_json(&db, &args);
        let best = &t["best"];
        assert!(best.is_object(), "{category:?}");
        assert!(best["cost"].as_f64().unwrap() <= budget);
        let gmv =
            |p: &Value| p["gmv_observed"].as_f64().unwrap() + p["gmv_estimated"].as_f64().unwrap();
        for p in t["points"].as_array().unwrap() {
            if p["cost"].as_f64().unwrap() <= budget {
                assert!(gmv(p) <= gmv(best) + 0.001, "{p} beats {best}");
            }
        }
        assert_eq!(best["pareto"], true);
        // The lines, written into a copy of policy.yaml, give diff the best point's approvals.
        let (_, table, _) = tune(&db, &args);
        let lines = best_lines(&table);
        let block = category.unwrap_or("default");
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|(b, _, _)| b == block));
        let keys: Vec<(&str, Value)> = lines
            .iter()
            .map(|(_, k, v)| (k.as_str(), serde_json::from_str(v).unwrap()))
            .collect();
        for (k, v) in &keys {
            assert_eq!(best["params"][*k].as_f64(), v.as_f64(), "{k}");
        }
        let rules = rules_with(block, &keys);
        let d = diff(&db, rules.path(), &events);
        let s = &d["summary"];
        assert_eq!(best["approvals"], s["candidate"]["approved"]);
        let net = best["approvals"].as_i64().unwrap() - today["approvals"].as_i64().unwrap();
        assert_eq!(
            net,
            s["approvals_gained"].as_i64().unwrap() - s["approvals_lost"].as_i64().unwrap()
        );
        // And `run` under those rules gives the best point's figures by their definitions.
        let today_rows = run_rows(
            dir.path(),
            &format!("today-{block}"),
            Path::new("rules"),
            &events,
        );
        let rows = run_rows(dir.path(), &format!("best-{block}"), rules.path(), &events);
        let (approvals, shipped, cost, observed, estimated) = by_definition(&today_rows, &rows);
        assert_eq!(best["approvals"], approvals);
        assert_eq!(best["shipped"], shipped);
        assert!(close(&best["cost"], cost) && close(&best["gmv_observed"], observed));
        assert!(close(&best["gmv_estimated"], estimated));
    }
    // A budget nothing fits: no best.
    let t = tune_json(
        &db,
        &[e, "--param", "price_cap=40..60:10", "--max-cost", "0"],
    );
    assert_eq!(t["best"], Value::Null);
}

#[test]
fn bad_parameters_and_grids_are_bad_usage_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    for (args, said) in [
        (
            vec!["--param", "min_folowers=1..2"],
            "did you mean `min_followers`?",
        ),
        (
            vec!["--param", "restricted_categories=1..2"],
            "not a number",
        ),
        (
            vec!["--param", "price_cap=-10..80:10"],
            "`price_cap`: -10 is impossible",
        ),
        (
            vec!["--param", "min_engagement_rate=0.01..1.5:0.01"],
            "1.5 is impossible",
        ),
        (
            vec!["--param", "min_followers=8000..3000"],
            "LOW `8000` is above HIGH `3000`",
        ),
        (
            vec!["--param", "min_followers=3000..8000:0"],
            "the step `0`",
        ),
        (
            vec!["--param", "review_window=1d..4000d:100d"],
            "longer than 3650 days",
        ),
        (
            vec!["--param", "daily_quota=1..5", "--category", "home"],
            "shop-wide",
        ),
        (vec!["--param", "min_followers=0..20000"], "at most 10,000"),
    ] {
        let mut all = vec![SMALL];
        all.extend(args.iter().copied());
        let (code, out, err) = tune(&db, &all);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(said), "{args:?}: {err}");
        assert!(
            err.contains(&format!("`--param {}`", args[1])),
            "named: {err}"
        );
        assert!(out.is_empty());
    }
    for (args, said) in [
        (
            vec!["--param", "min_followers=1..2", "--category", "beuty"],
            "did you mean `beauty`?",
        ),
        (
            vec![
                "--param",
                "min_followers=0..100",
                "--param",
                "price_cap=0..100",
            ],
            "the grid has 10201 points",
        ),
        (
            vec!["--param", "min_followers=1..2", "--max-cost=-5"],
            "not an amount in USD",
        ),
        (vec![], "--param"),
    ] {
        let mut all = vec![SMALL];
        all.extend(args.iter().copied());
        let (code, out, err) = tune(&db, &all);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(said), "{args:?}: {err}");
        assert!(out.is_empty());
    }
    // An --html naming the events file touches nothing.
    let events = dir.path().join("e.jsonl");
    std::fs::copy(SMALL, &events).unwrap();
    let before = std::fs::read(&events).unwrap();
    let e = events.to_str().unwrap();
    let (code, _, err) = tune(&db, &[e, "--param", "price_cap=40..60:10", "--html", e]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(std::fs::read(&events).unwrap(), before);
    assert!(!db.exists());
}

/// Every file of `dir` with a digest of its bytes. The `-shm` file is left out: it is SQLite's
/// WAL index, shared memory mapped to a file, which every reader of a WAL database updates
/// (`diff --from-db` and `report` as well); it holds no data of the store.
fn files(dir: &Path) -> Vec<(PathBuf, u64, Vec<u8>)> {
    let mut out: Vec<(PathBuf, u64, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.to_string_lossy().ends_with("-shm"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let digest = bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
            });
            (p, bytes.len() as u64, digest.to_le_bytes().to_vec())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn from_db_replays_the_kept_events_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let db = store.join("s.db");
    let events = history(dir.path(), 300);
    let e = events.to_str().unwrap();
    let run = bin(&db).args(["run", e]).output().unwrap();
    assert!(run.status.success());
    let before = files(&store);
    let args = [
        "--param",
        "price_cap=30..70:20",
        "--param",
        "min_followers=4000..5000:1000",
    ];
    let from_db = tune_json(&db, &[&["--from-db"][..], &args[..]].concat());
    assert_eq!(
        files(&store),
        before,
        "the store's files are unchanged, byte for byte"
    );
    let from_file = tune_json(&db, &[&[e][..], &args[..]].concat());
    assert_eq!(from_db, from_file);
    // Without a store, --from-db fails (exit 1) and creates none.
    let missing = dir.path().join("none.db");
    let (code, _, _) = tune(&missing, &["--from-db", "--param", "price_cap=30..70:20"]);
    assert_eq!(code, Some(1));
    assert!(!missing.exists());
}

#[test]
fn the_html_page_plots_every_point_with_its_parameters_and_estimates_apart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let events = history(dir.path(), 300);
    let page = dir.path().join("tune.html");
    let (code, _, err) = tune(
        &db,
        &[
            events.to_str().unwrap(),
            "--param",
            "price_cap=20..80:20",
            "--max-cost",
            "100000",
            "--html",
            page.to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"));
    assert_eq!(html.matches("class=\"mark point\"").count(), 5);
    assert_eq!(html.matches("data-today=\"true\"").count(), 1);
    assert_eq!(html.matches("data-best=\"true\"").count(), 1);
    assert!(
        html.contains("<title>price_cap 80: cost"),
        "each point's parameters on hover"
    );
    assert!(
        html.contains("class=\"estimated\""),
        "estimated GMV drawn apart"
    );
    assert!(html.contains("class=\"front\""));
    assert!(html.contains("<pre>default:\n  price_cap: "));
}
