//! State roles: what a state means to the ledger and the figures is declared in the workflow
//! (`role: breach`), so a renamed state keeps its meaning, and a workflow that lacks a role the
//! rules read is refused by `validate` with its place.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use serde_json::Value;

/// A workflows folder holding the shipped workflow with `edit` applied.
fn workflows(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sample.yaml"), common::shipped_with(edit)).unwrap();
    dir
}

/// Runs the shipped example through `flows` into a fresh store; returns the store's folder.
fn run_example(flows: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = common::bin(&dir.path().join("s.db"))
        .arg("--workflows")
        .arg(flows)
        .args(["run", "examples/events.jsonl", "--out", "/dev/null"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    dir
}

fn json_of(db: &Path, flows: &Path, args: &[&str]) -> Value {
    let out = common::bin(db)
        .arg("--workflows")
        .arg(flows)
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `show --all`: every sample's current state.
fn show_all(db: &Path, flows: &Path) -> Vec<Value> {
    let out = common::bin(db)
        .arg("--workflows")
        .arg(flows)
        .args(["show", "--all"])
        .output()
        .unwrap();
    common::stdout_json(&out)
}

/// Every creator's ledger, by id, as `show --creator` gives it.
fn ledgers(db: &Path, flows: &Path) -> Vec<(String, Value)> {
    let mut creators: Vec<String> = show_all(db, flows)
        .iter()
        .map(|s| s["creator"].as_str().unwrap().to_string())
        .collect();
    creators.sort();
    creators.dedup();
    creators
        .into_iter()
        .map(|c| {
            let ledger = json_of(db, flows, &["show", "--creator", &c]);
            (c, ledger)
        })
        .collect()
}

#[test]
fn renaming_the_breach_state_keeps_breaches_recorded() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
    let renamed = workflows(|t| t.replace("unfulfill_cancelled", "creator_breached"));
    let text = std::fs::read_to_string(renamed.path().join("sample.yaml")).unwrap();
    assert!(text.contains("  creator_breached:\n    description") && text.contains("role: breach"));
    let a = run_example(&shipped);
    let b = run_example(renamed.path());
    let (db_a, db_b) = (a.path().join("s.db"), b.path().join("s.db"));

    // The same samples end in the renamed state.
    let states = |db: &Path, flows: &Path| {
        show_all(db, flows)
            .iter()
            .map(|s| {
                (
                    s["sample"].to_string(),
                    s["state"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let renamed_states: Vec<_> = states(&db_b, renamed.path())
        .into_iter()
        .map(|(s, st)| (s, st.replace("creator_breached", "unfulfill_cancelled")))
        .collect();
    assert_eq!(states(&db_a, &shipped), renamed_states);
    assert_eq!(
        renamed_states
            .iter()
            .filter(|(_, s)| s == "unfulfill_cancelled")
            .count(),
        4
    );

    // Every ledger is the same: breaches with their dates, credit taken, blocks.
    let (la, lb) = (ledgers(&db_a, &shipped), ledgers(&db_b, renamed.path()));
    assert_eq!(la, lb);
    let breaches: usize = lb
        .iter()
        .map(|(_, l)| l["breaches"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(breaches, 4, "the renamed breach state records breaches");

    // The figures count the breaches too.
    let report = json_of(&db_b, renamed.path(), &["report", "--format", "json"]);
    assert_eq!(report["breached"], 4);
    assert_eq!(
        report["funnel"],
        json_of(&db_a, &shipped, &["report", "--format", "json"])["funnel"]
    );
}

#[test]
fn a_workflow_without_the_breach_state_the_rules_need_is_refused_with_its_place() {
    let flows = workflows(|t| t.replace("    role: breach\n", ""));
    let out = common::bin(Path::new("unused.db"))
        .arg("--workflows")
        .arg(flows.path())
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = common::stderr(&out);
    assert!(
        err.contains("workflow `sample` declares no `role: breach` state, which the rules need"),
        "{err}"
    );
    // Its place: the workflow's name in its file; and where the rules read breaches.
    assert!(err.contains("sample.yaml:"), "{err}");
    assert!(err.contains("rules/default.rhai:"), "{err}");
    assert!(err.contains("reads `ledger.breaches_within`"), "{err}");
    // And `run` refuses to start with it.
    let dir = tempfile::tempdir().unwrap();
    let run = common::bin(&dir.path().join("s.db"))
        .arg("--workflows")
        .arg(flows.path())
        .args(["run", "examples/events.jsonl"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(3));
}

#[test]
fn rules_that_read_no_breaches_need_no_breach_state() {
    let flows = workflows(|t| t.replace("    role: breach\n", ""));
    let rules = common::shipped_rules();
    // Rules without breach windows: screening row 3, gold's clean window and repeat blocks go.
    let path = rules.path().join("default.rhai");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .replace(
            "if ledger.gmv >= policy.gold_gmv && ledger.breaches_within(policy.gold_clean_window) == 0 {",
            "if ledger.gmv >= policy.gold_gmv {",
        )
        .replace(
            "    if ledger.breaches_within(policy.breach_window) > 0 {\n        return reject(\"recent_breach\");\n    }\n",
            "",
        )
        .replace(
            "    if ledger.breaches_within(policy.repeat_breach_window) > 0 {\n        actions.push(block_creator(policy.block_length / days(1)));\n    }\n",
            "",
        );
    assert!(!text.contains("ledger.breaches_within"));
    std::fs::write(&path, text).unwrap();
    let out = common::bin(Path::new("unused.db"))
        .arg("--workflows")
        .arg(flows.path())
        .arg("--rules")
        .arg(rules.path())
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
}
