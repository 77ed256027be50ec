//! `diff` and `report`: known changes on fixture streams, figures checked by hand, the HTML page.
//!
//! `tests/fixtures/analysis/small.jsonl`, under the shipped rules:
//! - s1 beauty, 4,000 followers, $20: auto-approved, shipped ($6 + $4), delivered, a video posted
//!   two days later with $120 GMV, kept up: completed.
//! - s2 sports, $60: review (price_cap), approved by a reviewer, shipped ($15 + $5), never posts:
//!   unfulfill_cancelled on 20 February.
//! - s3 home, $10: auto-approved, shipped ($3 + $2), a 15-minute LIVE three days after delivery
//!   with $40 GMV: completed.
//! - s4 toys, $70: review (price_cap), rejected by a reviewer.
//! - s5 sports, $30: auto-approved, withdrawn before shipping.
//!
//! The candidate raises the price cap to $80 and the beauty follower floor to 5,000.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::bin;
use sampleflow::machinery::analysis::{diff, Events};
use sampleflow::machinery::runtime::Program;
use serde_json::{json, Value};

const SMALL: &str = "tests/fixtures/analysis/small.jsonl";

/// A copy of the shipped rules with `policy.yaml` edited as a category manager would.
fn candidate(edits: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = common::shipped_rules();
    let path = dir.path().join("policy.yaml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in edits {
        assert!(text.contains(from), "policy.yaml has no `{from}`");
        text = text.replacen(from, to, 1);
    }
    std::fs::write(&path, text).unwrap();
    dir
}

fn small_candidate() -> tempfile::TempDir {
    candidate(&[
        ("price_cap: 50", "price_cap: 80"),
        ("min_followers: 3000", "min_followers: 5000"),
    ])
}

fn program(rules: &Path) -> Program {
    common::shipped_program().with_rules(std::sync::Arc::new(
        sampleflow::RuleSet::load(rules).unwrap_or_else(|e| panic!("{e:?}")),
    ))
}

/// The diff as JSON with the two rules hashes replaced.
fn redacted(d: &sampleflow::machinery::analysis::Diff) -> Value {
    let mut v = serde_json::to_value(d).unwrap();
    v["summary"]["base"]["rules"] = json!("[base]");
    v["summary"]["candidate"]["rules"] = json!("[candidate]");
    v["faults"]["base"]["rules"] = json!("[base]");
    v["faults"]["candidate"]["rules"] = json!("[candidate]");
    v
}

#[test]
fn diff_of_the_small_stream_finds_exactly_the_known_changes() {
    let cand = small_candidate();
    let (d, base, _) = diff(
        program(Path::new("rules")),
        program(cand.path()),
        &Events::File(SMALL.into()),
    )
    .unwrap();
    let changed: Vec<&str> = d.changes.iter().map(|c| c.sample.as_str()).collect();
    assert_eq!(changed, ["s1", "s2", "s4"]);
    let s = &d.summary;
    assert_eq!(s.samples, 5);
    // s1 loses its approval (low_followers); s4 gains one (under the new cap).
    assert_eq!((s.approvals_gained, s.approvals_lost), (1, 1));
    // s4's unit cost is committed; s1's shipped cost ($6 + $4) is saved.
    assert_eq!((s.cost_added, s.cost_saved), (20.0, 10.0));
    // s1's $120 would not have been earned.
    assert_eq!(s.gmv_refused, 120.0);
    assert_eq!(base.stats.applied, 19);
    // s2: approved either way, so it still breaches; only the decision and reason differ.
    let s2 = &d.changes[1];
    assert_eq!(s2.base.as_ref().unwrap().state, "unfulfill_cancelled");
    assert_eq!(s2.candidate.as_ref().unwrap().state, "unfulfill_cancelled");
    insta::assert_yaml_snapshot!("diff_small", redacted(&d));
}

#[test]
fn diff_of_the_shipped_example_under_a_lower_price_cap() {
    let cand = candidate(&[("price_cap: 50", "price_cap: 20")]);
    let (d, _, c) = diff(
        program(Path::new("rules")),
        program(cand.path()),
        &Events::File("examples/events.jsonl".into()),
    )
    .unwrap();
    assert!(d.summary.approvals_lost > 0);
    assert_eq!(d.summary.approvals_gained, 0);
    assert_eq!(c.stats.rule_faults, 0);
    // Every lost approval now goes to review for its price.
    assert!(d
        .changes
        .iter()
        .filter_map(|c| c.candidate.as_ref())
        .all(|o| o.reason.as_deref() == Some("price_cap")));
    insta::assert_yaml_snapshot!("diff_example_price_cap_20", redacted(&d));
}

#[test]
fn diff_of_a_rule_set_with_itself_is_empty() {
    let same = common::shipped_rules();
    let (d, b, c) = diff(
        program(Path::new("rules")),
        program(same.path()),
        &Events::File("examples/events.jsonl".into()),
    )
    .unwrap();
    assert!(d.changes.is_empty());
    assert_eq!(d.summary.samples, 54);
    assert_eq!(b.facts, c.facts);
}

#[test]
fn diff_cli_gates_on_change_and_reads_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let cand = small_candidate();
    let diff_args = |source: &[&str], extra: &[&str]| {
        let mut cmd = bin(&db);
        cmd.args(["diff", "--base", "rules", "--candidate"])
            .arg(cand.path())
            .args(source)
            .args(extra);
        cmd.output().unwrap()
    };
    let table = diff_args(&[SMALL], &[]);
    assert_eq!(table.status.code(), Some(0));
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(text.contains("3 of 5 samples changed"), "{text}");
    assert!(text.contains("approvals: 1 gained, 1 lost"), "{text}");
    assert!(text.contains("$20.00 added, $10.00 saved"), "{text}");

    let gated = diff_args(&[SMALL], &["--fail-on-change", "--format", "json"]);
    assert_eq!(gated.status.code(), Some(4));
    let from_file: Value = serde_json::from_slice(&gated.stdout).unwrap();
    assert_eq!(from_file["summary"]["changed"], 3);

    // The same events from the store, after a run: the same diff.
    assert!(bin(&db)
        .args(["run", SMALL])
        .output()
        .unwrap()
        .status
        .success());
    let from_db = diff_args(&["--from-db"], &["--format", "json"]);
    assert_eq!(from_db.status.code(), Some(0));
    assert_eq!(
        serde_json::from_slice::<Value>(&from_db.stdout).unwrap(),
        from_file
    );

    // No change: --fail-on-change passes.
    let same = bin(&db)
        .args(["diff", "--base", "rules", "--candidate", "rules", SMALL])
        .arg("--fail-on-change")
        .output()
        .unwrap();
    assert_eq!(same.status.code(), Some(0));
    assert!(String::from_utf8(same.stdout)
        .unwrap()
        .contains("no sample changes"));

    // Neither a file nor --from-db: bad usage.
    let usage = bin(&db)
        .args(["diff", "--base", "rules", "--candidate", "rules"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn diff_refuses_an_invalid_candidate_with_its_place() {
    let cand = candidate(&[("price_cap: 50", "price_cap: fifty")]);
    let dir = tempfile::tempdir().unwrap();
    let out = bin(&dir.path().join("x.db"))
        .args(["diff", "--base", "rules", "--candidate"])
        .arg(cand.path())
        .arg(SMALL)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("policy.yaml:"), "{err}");
    assert!(err.contains("the candidate rules"), "{err}");
}

/// A candidate whose new row divides an unknown GMV (`()`): a rule fault on every creator
/// whose `gmv_30d` is not given, which the base approves or reviews.
fn faulting_candidate() -> tempfile::TempDir {
    let dir = common::shipped_rules();
    let path = dir.path().join("default.rhai");
    let text = std::fs::read_to_string(&path).unwrap();
    let row = "    if creator.followers < policy.min_followers {";
    assert!(text.contains(row));
    let text = text.replacen(
        row,
        &format!("    if creator.gmv_30d / creator.followers > 0.1 {{\n        return review(\"gmv_spike\");\n    }}\n{row}"),
        1,
    );
    std::fs::write(&path, text).unwrap();
    dir
}

#[test]
fn diff_of_a_faulting_candidate_exits_3_and_counts_no_savings() {
    let cand = faulting_candidate();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let run = |extra: &[&str]| {
        bin(&db)
            .args(["diff", "--base", "rules", "--candidate"])
            .arg(cand.path())
            .arg(SMALL)
            .args(extra)
            .output()
            .unwrap()
    };
    let refused = run(&[]);
    assert_eq!(refused.status.code(), Some(3));
    let err = common::stderr(&refused);
    assert!(
        err.contains("the candidate's rules faulted 5 times on 5 samples"),
        "{err}"
    );
    let table = String::from_utf8(refused.stdout).unwrap();
    // Faults come first, each with its sample and place.
    assert!(
        table.starts_with("rule faults, base (")
            && table.lines().nth(1).unwrap().contains("5 on 5 samples"),
        "{table}"
    );
    assert!(table.contains("sample `s1`: default.rhai:54:24"), "{table}");
    let allowed = run(&["--allow-faults", "--format", "json"]);
    assert_eq!(allowed.status.code(), Some(0));
    let d: Value = serde_json::from_slice(&allowed.stdout).unwrap();
    assert_eq!(d["faults"]["candidate"]["samples"], 5);
    assert_eq!(d["faults"]["base"]["faults"], 0);
    let changes = d["changes"].as_array().unwrap();
    assert!(!changes.is_empty());
    for c in changes {
        assert_eq!(c["faulted"], json!(["candidate"]), "{c}");
        assert_eq!(c["candidate"]["reason"], "rule_error");
    }
    // Samples the base approved and the faulting candidate sent to review: no approval lost,
    // no cost saved, no GMV refused.
    let s = &d["summary"];
    assert_eq!(s["faulted"], changes.len());
    assert_eq!(
        [
            &s["approvals_lost"],
            &s["approvals_gained"],
            &s["cost_saved"],
            &s["cost_added"],
            &s["gmv_refused"]
        ],
        [&json!(0), &json!(0), &json!(0.0), &json!(0.0), &json!(0.0)]
    );
}

/// Runs the small stream into a fresh store and returns it with its folder.
fn small_store() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("r.db");
    let run = bin(&db).args(["run", SMALL]).output().unwrap();
    assert!(run.status.success());
    (dir, db)
}

#[test]
fn report_figures_match_the_hand_count() {
    let (_dir, db) = small_store();
    let out = bin(&db)
        .args(["report", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        r["funnel"],
        json!({"requested": 5, "approved": 4, "shipped": 3, "delivered": 3, "posted": 2, "completed": 2})
    );
    // Settled: s1 and s3 met, s2 breached. Delivered: s1, s2, s3.
    assert_eq!(r["fulfillment_rate"], 0.6667);
    assert_eq!(r["breach_rate"], 0.3333);
    // Request to shipment: 1, 2 and 2 days. Delivery to post: 2 and 3 days.
    assert_eq!(r["median_days_to_ship"], 2.0);
    assert_eq!(r["median_days_to_post"], 2.5);
    // Shipped cost 10 + 20 + 5; GMV 120 + 40.
    assert_eq!(r["cost"], 35.0);
    assert_eq!(r["gmv"], 160.0);
    assert_eq!(r["roi"], 3.5714);
    let cats: Vec<Value> = r["by_category"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            json!([
                c["category"],
                c["samples"],
                c["cost"],
                c["gmv"],
                c["roi"],
                c["fulfillment_rate"]
            ])
        })
        .collect();
    assert_eq!(
        cats,
        [
            json!(["beauty", 1, 10.0, 120.0, 11.0, 1.0]),
            json!(["home", 1, 5.0, 40.0, 7.0, 1.0]),
            json!(["sports", 2, 20.0, 0.0, -1.0, 0.0]),
            json!(["toys", 1, 0.0, 0.0, null, null]),
        ]
    );
    // Weeks of the shop (Los Angeles), Monday first: two met in the week of 9 February, one
    // breach in the week of 16 February.
    assert_eq!(
        r["fulfillment_over_time"],
        json!([
            {"week": "2026-02-09", "completed": 2, "breached": 0, "fulfillment_rate": 1.0},
            {"week": "2026-02-16", "completed": 0, "breached": 1, "fulfillment_rate": 0.0},
        ])
    );
    assert_eq!(r["by_tier"][0]["tier"], "new");
    assert_eq!(r["by_rules"].as_array().unwrap().len(), 1);
    assert_eq!(r["by_rules"][0]["samples"], 5);
}

/// The small stream and one more sample, s6: c1's beauty sample of the next quarter, approved
/// and shipped ($5 + $5) but not yet delivered: in flight, so not settled.
fn small_store_with_one_in_flight() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("e.jsonl");
    let mut text = std::fs::read_to_string(SMALL).unwrap();
    text.push_str(concat!(
        r#"{"id":"e20","type":"sample_requested","at":"2026-04-02T17:00:00Z","sample":"s6","creator":{"id":"c1","followers":4000,"engagement_rate":0.05,"posts_30d":5,"fulfillment_rate_90d":0.8,"top_categories":[]},"product":{"id":"p6","category":"beauty","price":20,"unit_cost":5}}"#,
        "\n",
        r#"{"id":"e21","type":"sample_shipped","at":"2026-04-03T17:00:00Z","sample":"s6","tracking_number":"1Z6","shipping_cost":5}"#,
        "\n"
    ));
    std::fs::write(&events, text).unwrap();
    let db = dir.path().join("r.db");
    let run = bin(&db).arg("run").arg(&events).output().unwrap();
    assert!(run.status.success(), "{}", common::stderr(&run));
    (dir, db)
}

fn report_json(db: &Path, args: &[&str]) -> Value {
    let out = bin(db)
        .args(["report", "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn report_windows_settled_roi_and_creators_match_the_hand_count() {
    let (_dir, db) = small_store_with_one_in_flight();
    let figures = |r: &Value| {
        json!([
            r["samples"],
            r["cost"],
            r["gmv"],
            r["roi"],
            r["settled"],
            r["settled_cost"],
            r["settled_roi"]
        ])
    };
    // All six: cost 35 + 10, GMV 160; settled are s1-s5 (s6 is in flight).
    let all = report_json(&db, &[]);
    assert_eq!(
        figures(&all),
        json!([6, 45.0, 160.0, 2.5556, 5, 35.0, 3.5714])
    );
    assert_eq!(all["funnel"]["delivered"], 3);
    // From 3 February (midnight in Los Angeles, 08:00Z): s3, s4, s5 and s6. Cost 5 + 10,
    // GMV 40; settled s3, s4, s5: cost 5.
    let since = report_json(&db, &["--since", "2026-02-03"]);
    assert_eq!(since["window"]["since"], "2026-02-03T08:00:00Z");
    assert_eq!(figures(&since), json!([4, 15.0, 40.0, 1.6667, 3, 5.0, 7.0]));
    // Before 3 February: s1 and s2. Cost 10 + 20, GMV 120.
    let until = report_json(&db, &["--until", "2026-02-03T08:00:00Z"]);
    assert_eq!(figures(&until), json!([2, 30.0, 120.0, 3.0, 2, 30.0, 3.0]));
    assert_eq!(until["by_category"].as_array().unwrap().len(), 2);
    // Per creator: c1 has s1 (completed) and s6 (in flight).
    let by = report_json(&db, &["--by", "creator"]);
    let c1 = by["by_creator"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["creator"] == "c1")
        .unwrap();
    assert_eq!(figures(c1), json!([2, 20.0, 120.0, 5.0, 1, 10.0, 11.0]));
    assert_eq!(by["by_creator"].as_array().unwrap().len(), 5);
    assert!(all.get("by_creator").is_none());
    // A window with nothing in it is said plainly.
    let out = bin(&db)
        .args(["report", "--since", "2027-01-01"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("no samples were requested in this window: nothing to report"),
        "{text}"
    );
    // A bad bound is bad usage.
    let out = bin(&db)
        .args(["report", "--since", "last tuesday"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn report_of_an_empty_store_is_said_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.db");
    let empty = dir.path().join("none.jsonl");
    std::fs::write(&empty, "").unwrap();
    assert!(bin(&db)
        .arg("run")
        .arg(&empty)
        .output()
        .unwrap()
        .status
        .success());
    let out = bin(&db).args(["report"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "no samples in the store yet: nothing to report\n"
    );
}

#[test]
fn report_table_and_csv() {
    let (_dir, db) = small_store();
    let table = bin(&db).args(["report"]).output().unwrap();
    let text = String::from_utf8(table.stdout).unwrap();
    assert!(
        text.contains(
            "funnel: requested 5 > approved 4 > shipped 3 > delivered 3 > posted 2 > completed 2"
        ),
        "{text}"
    );
    assert!(
        text.contains("cost $35.00, attributed GMV $160.00, ROI 3.57x"),
        "{text}"
    );
    let csv = bin(&db)
        .args(["report", "--format", "csv"])
        .output()
        .unwrap();
    let csv = String::from_utf8(csv.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("group,key,samples,approved,shipped,delivered,posted,completed"));
    assert_eq!(
        lines[1],
        "all,all,5,4,3,3,2,2,1,0.6667,0.3333,2,2.5,35.00,160.00,3.5714,5,35.00,160.00,3.5714"
    );
    // all, 4 categories, 1 tier, 1 rules hash.
    assert_eq!(lines.len(), 1 + 1 + 4 + 1 + 1);
    // s4, rejected by a reviewer, is settled: in an end state.
    assert!(lines.contains(&"category,toys,1,0,0,0,0,0,0,,,,,0.00,0.00,,1,0.00,0.00,"));
    // The per-group table has a delivered column.
    assert!(text.contains("  delivered  "), "{text}");
}

fn marks(svg: &str) -> usize {
    svg.matches("class=\"mark").count()
}

/// The `<svg id="...">...</svg>` element of the page.
fn chart<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("<svg id=\"{id}\""))
        .unwrap_or_else(|| panic!("no chart `{id}`"));
    let end = page[start..].find("</svg>").unwrap() + start;
    &page[start..end]
}

#[test]
fn report_html_is_self_contained_with_the_expected_marks() {
    let (dir, db) = small_store();
    let path = dir.path().join("report.html");
    let out = bin(&db)
        .args(["report", "--html"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let page = std::fs::read_to_string(&path).unwrap();
    assert!(!page.contains("http://") && !page.contains("https://"));
    assert!(!page.contains("<script") && !page.contains(" src=") && !page.contains("href="));

    let funnel = chart(&page, "funnel");
    assert_eq!(marks(funnel), 6);
    for (step, n) in [
        ("requested", 5),
        ("approved", 4),
        ("shipped", 3),
        ("delivered", 3),
        ("posted", 2),
        ("completed", 2),
    ] {
        assert!(
            funnel.contains(&format!("data-step=\"{step}\" data-value=\"{n}\"")),
            "{step} {n}"
        );
    }
    // Toys shipped nothing: no ROI, no bar. Each other category has a bar for all its samples
    // and one for its settled ones (here all of them), with its value and its count.
    let roi = chart(&page, "roi");
    assert_eq!(marks(roi), 6);
    assert_eq!(roi.matches("class=\"mark settled\"").count(), 3);
    assert!(roi.contains("data-category=\"sports\" data-value=\"-1\" data-n=\"2\""));
    assert!(roi.contains(">-1.00x</text>"), "{roi}");
    assert!(roi.contains("n=2 (2 settled)"), "{roi}");
    assert!(roi.contains("ROI = (GMV - cost) / cost"));
    assert!(roi.contains("category (n = samples)"));
    assert!(
        roi.contains(">0x</text>"),
        "the ROI axis has its ticks: {roi}"
    );
    // Fulfillment: two weeks, each point with its rate and its count; both axes titled.
    let fulfillment = chart(&page, "fulfillment");
    assert_eq!(marks(fulfillment), 2);
    assert!(fulfillment.contains(">100.0% n=2</text>"), "{fulfillment}");
    assert!(fulfillment.contains(">0.0% n=1</text>"), "{fulfillment}");
    assert!(fulfillment.contains("obligations met (%)"));
    assert!(fulfillment.contains("week (from Monday, shop time)"));
    assert!(funnel.contains("samples (each step counts the samples that reached it)"));
    assert!(funnel.contains(">3 (60.0% of requests)</text>"), "{funnel}");
    // The figures table has delivered and settled columns.
    assert!(page.contains("<th>delivered</th>") && page.contains("<th>settled ROI</th>"));
    // Every state of the shipped workflow, with the samples in it now.
    let wf = chart(&page, "workflow-sample");
    assert_eq!(marks(wf), 12);
    assert!(wf.contains("data-state=\"completed\" data-value=\"2\""));
    assert!(wf.contains("data-state=\"unfulfill_cancelled\" data-value=\"1\""));
    assert!(wf.contains("data-state=\"pending\" data-value=\"0\""));
}

#[test]
fn report_without_a_store_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin(&dir.path().join("none.db"))
        .arg("report")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("no database here yet"));
}

#[test]
fn diff_takes_a_rule_set_kept_in_the_store_by_its_hash() {
    let (_dir, db) = small_store();
    let cand = small_candidate();
    let versions = bin(&db).args(["show", "--versions"]).output().unwrap();
    let versions = String::from_utf8(versions.stdout).unwrap();
    let shipped = versions
        .lines()
        .find_map(|l| l.split(' ').nth(2).filter(|_| l.contains(" rules ")))
        .expect("the shipped rules are kept")
        .to_string();
    let json = |base: &str| {
        let out = bin(&db)
            .args(["diff", "--base", base, "--candidate"])
            .arg(cand.path())
            .args([SMALL, "--format", "json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    // A prefix of the hash does as well as the folder it came from.
    let by_hash = json(&shipped[..8]);
    assert_eq!(by_hash, json("rules"));
    assert_eq!(by_hash["summary"]["base"]["rules"], shipped.as_str());
    // Neither a folder nor a kept hash: bad usage, said plainly.
    let out = bin(&db)
        .args(["diff", "--base", "0000", "--candidate", "rules", SMALL])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("neither a rules folder nor the hash"));
}
