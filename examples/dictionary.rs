//! Makes a packing dictionary for the store from the rows a run writes: raw events, output
//! lines, samples' and ledgers' JSON of a generated stream through the shipped workflows and
//! rules, trained with zstd's dictionary builder.
//!
//! `cargo run --release --example dictionary -- OUT` wrote `src/store/dictionary-2.zdict` (the
//! dictionary of tag 2). A dictionary is frozen once rows are packed with it: a better one gets
//! a new tag and a new file, never a new version of an old file (`src/store/pack.rs`).

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sampleflow::machinery::model::Snapshot;
use sampleflow::machinery::runtime::{generate, GenOptions, Program, Runner};

/// Rows of each kind given to the trainer, at most.
const PER_KIND: usize = 25_000;

fn main() -> ExitCode {
    let Some(out) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: cargo run --release --example dictionary -- OUT");
        return ExitCode::from(2);
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (graphs, report) = match sampleflow::validate_dir(&root.join("workflows")) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("error: workflows: {e}");
            return ExitCode::FAILURE;
        }
    };
    if report.has_errors() {
        eprint!("{}", report.render(false));
        return ExitCode::FAILURE;
    }
    let rules = match sampleflow::RuleSet::load(&root.join("rules")) {
        Ok(rules) => rules,
        Err(problems) => {
            eprintln!("error: rules: {problems:?}");
            return ExitCode::FAILURE;
        }
    };
    let mut stream = Vec::new();
    let options = GenOptions {
        samples: 20_000,
        seed: 7,
        ..GenOptions::default()
    };
    if let Err(e) = generate(&options, &mut stream) {
        eprintln!("error: gen: {e}");
        return ExitCode::FAILURE;
    }
    let text = String::from_utf8_lossy(&stream);

    let mut runner = Runner::new(Program::new(graphs, rules), Snapshot::default());
    let (mut events, mut lines, mut samples, mut ledgers) = (vec![], vec![], vec![], vec![]);
    for (n, line) in text.lines().enumerate() {
        runner.apply_line(n as u64 + 1, line);
        events.push(line.to_string());
        lines.extend(runner.drain_output().map(|o| o.to_json()));
        if n % 4096 == 4095 {
            let changes = runner.take_changes();
            for inst in &changes.samples {
                samples.extend(serde_json::to_string(inst).ok());
            }
            for (_, ledger) in &changes.ledgers {
                ledgers.extend(serde_json::to_string(ledger).ok());
            }
        }
    }
    // The runner gives a batch's changes in no fixed order: sorted, the same stream makes the
    // same dictionary.
    samples.sort();
    ledgers.sort();
    // An even spread of each kind, so that no kind crowds out the others.
    let mut rows: Vec<&[u8]> = Vec::new();
    for kind in [&events, &lines, &samples, &ledgers] {
        let step = kind.len().div_ceil(PER_KIND).max(1);
        rows.extend(kind.iter().step_by(step).map(|r| r.as_bytes()));
    }
    let dictionary = match zstd::dict::from_samples(&rows, 64 * 1024) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: training: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(&out, &dictionary) {
        eprintln!("error: {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    println!(
        "{}: {} bytes from {} rows ({} events, {} lines, {} samples, {} ledgers)",
        out.display(),
        dictionary.len(),
        rows.len(),
        events.len(),
        lines.len(),
        samples.len(),
        ledgers.len()
    );
    ExitCode::SUCCESS
}
