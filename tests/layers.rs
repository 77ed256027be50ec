//! The crate's structure, checked on its sources (issue 31): the runtime names nothing of the
//! store, the store decides nothing (no sniffing of decisions or connector ids), nothing outside
//! the command line imports it, the root opens at most three modules, no source file runs over
//! 1,000 lines, no public type takes a name that means two things, there is no HTTP code in the
//! command line and one store trait holds all the store keeps.

// Tests fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// True when `word` occurs in `line` on its own (not inside a longer name).
fn has_word(line: &str, word: &str) -> bool {
    let is_name = |c: char| c.is_alphanumeric() || c == '_';
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + word.len()..].chars().next();
        !before.is_some_and(is_name) && !after.is_some_and(is_name)
    })
}

/// `file:line: text` of every line under `dir` that `bad` flags.
fn offending(dir: &str, bad: impl Fn(&Path, &str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for file in rust_files(&root().join(dir)) {
        let text = fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if bad(&file, line) {
                out.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    out
}

#[test]
fn nothing_outside_the_command_line_imports_it() {
    let found = offending("src", |file, line| {
        let in_cli = file.starts_with(root().join("src/cli")) || file.ends_with("src/main.rs");
        !in_cli
            && [
                concat!("crate", "::cli"),
                concat!("super", "::cli"),
                concat!("sampleflow", "::cli"),
            ]
            .iter()
            .any(|p| line.contains(p))
    });
    assert!(found.is_empty(), "{found:#?}");
    let found = ["tests", "benches", "examples"]
        .iter()
        .flat_map(|d| offending(d, |_, line| line.contains(concat!("sampleflow", "::cli"))))
        .collect::<Vec<_>>();
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_runtime_names_nothing_of_the_store() {
    let found = offending("src/runtime", |_, line| {
        ["store", "Store", "Batch", "Writer", "rusqlite", "postgres"]
            .iter()
            .any(|w| has_word(line, w))
            || line.contains("store::")
    });
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_store_reads_no_decision_and_no_connector_id() {
    let found = offending("src/store", |file, line| {
        // The compression dictionaries are frozen sample rows (changing them would change
        // every stored byte), not code that reads anything.
        if file.ends_with("src/store/pack.rs") {
            return false;
        }
        [
            "decision_of",
            "tts-",
            "\"approve\"",
            "\"reject\"",
            "\\\"decision\\\"",
        ]
        .iter()
        .any(|p| line.contains(p))
    });
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_command_line_holds_no_http_code() {
    let found = offending("src/cli", |_, line| {
        [
            "axum",
            "hyper",
            "tower",
            "tokio",
            "ureq",
            "reqwest",
            "StatusCode",
            "Router",
        ]
        .iter()
        .any(|w| has_word(line, w))
            || line.contains("http::")
    });
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_store_has_one_trait_and_no_hand_dispatch() {
    assert!(
        !root().join("src/store/any.rs").exists(),
        "a match per method over the backends (AnyStore) instead of the one trait"
    );
    let found = offending("src", |_, line| has_word(line, "AnyStore"));
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_root_opens_at_most_three_modules() {
    let lib = fs::read_to_string(root().join("src/lib.rs")).unwrap();
    let public: Vec<&str> = lib
        .lines()
        .filter(|l| l.trim_start().starts_with("pub mod "))
        .collect();
    assert!(public.len() <= 3, "{public:#?}");
    assert!(lib.contains("#![forbid(unsafe_code)]"));
    assert!(lib.contains("#![deny(missing_docs)]"));
}

#[test]
fn no_source_file_runs_over_a_thousand_lines() {
    let mut long = Vec::new();
    for dir in ["src", "tests", "benches", "examples", "fuzz/fuzz_targets"] {
        for file in rust_files(&root().join(dir)) {
            let lines = fs::read_to_string(&file).unwrap().lines().count();
            if lines > 1000 {
                long.push(format!("{}: {lines} lines", file.display()));
            }
        }
    }
    assert!(long.is_empty(), "{long:#?}");
}

#[test]
fn no_two_public_types_share_a_name_that_means_two_things() {
    let names = ["Summary", "Role", "Hook", "Request", "Outcome", "Options"];
    let seen: std::cell::RefCell<Vec<(String, String)>> = Default::default();
    offending("src", |file, line| {
        let line = line.trim_start();
        for rest in ["pub struct ", "pub enum ", "pub type ", "pub trait "]
            .iter()
            .filter_map(|k| line.strip_prefix(k))
        {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if names.contains(&name.as_str()) {
                seen.borrow_mut().push((name, file.display().to_string()));
            }
        }
        false
    });
    for name in names {
        let seen = seen.borrow();
        let places: Vec<&String> = seen
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f)
            .collect();
        assert!(
            places.len() <= 1,
            "`{name}` names {} types: {places:#?}",
            places.len()
        );
    }
}

#[test]
fn every_module_has_a_doc() {
    let found: Vec<String> = rust_files(&root().join("src"))
        .into_iter()
        .filter(|f| !f.ends_with("src/main.rs"))
        .filter(|f| {
            let text = fs::read_to_string(f).unwrap();
            !text.trim_start().starts_with("//!")
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(found.is_empty(), "{found:#?}");
}
