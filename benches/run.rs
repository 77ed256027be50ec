//! `cargo bench --bench run`: `run` over a generated stream of at least 1M events into the
//! SQLite store with the normal durability (WAL, synchronous NORMAL), against merely parsing
//! the same file with serde_json, in the same process. The stream is written once to
//! `target/bench-data/` (not committed) by the same generator as `sampleflow gen`.
//!
//! `SAMPLEFLOW_BENCH_SAMPLES` sets the number of samples (default 150,000: about 1M events).

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sampleflow::machinery::runtime::Program;
use sampleflow::machinery::runtime::{generate, GenOptions as Options};
use sampleflow::machinery::session::{run_file, Quiet};
use sampleflow::machinery::store::SqliteStore;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The allocator of the shipped binary (src/main.rs), so that the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let samples: u64 = std::env::var("SAMPLEFLOW_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150_000);
    let data = root.join("target/bench-data");
    std::fs::create_dir_all(&data).expect("bench-data folder");
    let events = data.join(format!("events-{samples}.jsonl"));
    if !events.exists() {
        let options = Options {
            samples,
            seed: 1,
            ..Options::default()
        };
        let mut out = BufWriter::new(File::create(&events).expect("create"));
        let mix = generate(&options, &mut out).expect("generate");
        out.flush().expect("flush");
        eprintln!("generated {}: {} events", events.display(), mix.events);
    }
    let size = std::fs::metadata(&events).expect("stream").len();

    // Baseline: read and parse every line with serde_json, nothing else. Three passes, each
    // just before one of the three runs below, and the fastest of each kept: this machine's
    // speed moves from minute to minute, so floor and run are measured in the same windows.
    let parse_pass = || {
        let start = Instant::now();
        let mut lines = 0u64;
        for line in BufReader::new(File::open(&events).expect("open")).lines() {
            let line = line.expect("line");
            let value: serde_json::Value = serde_json::from_str(&line).expect("json");
            std::hint::black_box(value);
            lines += 1;
        }
        (start.elapsed().as_secs_f64(), lines)
    };
    let (first, lines) = parse_pass();
    let mut parses = vec![first];
    let rss_before = peak_rss_mib();
    // The mix of event types, counted apart: counting is not parsing, and would slow the floor.
    let mut mix = std::collections::BTreeMap::<String, u64>::new();
    for line in BufReader::new(File::open(&events).expect("open")).lines() {
        let value: serde_json::Value = serde_json::from_str(&line.expect("line")).expect("json");
        if let Some(t) = value["type"].as_str() {
            *mix.entry(t.to_string()).or_default() += 1;
        }
    }

    // The real run: shipped workflows and rules from disk, the SQLite store, records to a file.
    // Three times, each into a fresh store and after a pass of the floor, the fastest kept.
    let program = || {
        let (graphs, report) =
            sampleflow::validate_dir(&root.join("workflows")).expect("workflows");
        assert!(!report.has_errors());
        Program::new(
            graphs,
            sampleflow::RuleSet::load(&root.join("rules")).expect("rules"),
        )
    };
    let db: PathBuf = data.join("bench.db");
    let mut runs = Vec::new();
    let mut summary = None;
    for i in 0..3 {
        if i > 0 {
            parses.push(parse_pass().0);
        }
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        let store = Box::new(SqliteStore::open(&db).expect("store"));
        let mut out = BufWriter::with_capacity(
            1 << 16,
            File::create(data.join("records.jsonl")).expect("out"),
        );
        let start = Instant::now();
        summary = Some(run_file(program(), store, &events, &mut out, &mut Quiet).expect("run"));
        runs.push(start.elapsed().as_secs_f64());
    }
    let summary = summary.expect("a run");
    let run = runs.iter().copied().fold(f64::MAX, f64::min);
    let parse = parses.iter().copied().fold(f64::MAX, f64::min);
    let rss = peak_rss_mib();
    let store_bytes: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", db.display())).ok())
        .map(|m| m.len())
        .sum();

    // The same run into the in-memory store: what the runner and rules cost without SQLite.
    let memory = Box::new(sampleflow::machinery::store::MemoryStore::new());
    let start = Instant::now();
    run_file(program(), memory, &events, &mut std::io::sink(), &mut Quiet).expect("run in memory");
    let in_memory = start.elapsed().as_secs_f64();

    let share = |t: &str| *mix.get(t).unwrap_or(&0) as f64 * 100.0 / lines as f64;
    println!(
        "stream: {} events, {:.0} MiB, {} samples",
        lines,
        size as f64 / 1048576.0,
        samples
    );
    let mut types: Vec<_> = mix.iter().collect();
    types.sort_by(|a, b| b.1.cmp(a.1));
    println!(
        "mix: {}",
        types
            .iter()
            .map(|(t, _)| format!("{t} {:.1}%", share(t)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "applied {}, refused {}, deadlines fired {}, records {}",
        summary.stats.applied,
        summary.stats.refused_total(),
        summary.stats.deadlines,
        summary.stats.records
    );
    println!(
        "parse only (serde_json; fastest of {}, each before a run): {:.2}s, {:.0} events/s",
        parses
            .iter()
            .map(|t| format!("{t:.2}s"))
            .collect::<Vec<_>>()
            .join(", "),
        parse,
        lines as f64 / parse
    );
    println!(
        "run (SQLite, WAL, NORMAL; fastest of {}): {:.2}s, {:.0} events/s",
        runs.iter()
            .map(|t| format!("{t:.2}s"))
            .collect::<Vec<_>>()
            .join(", "),
        run,
        lines as f64 / run
    );
    println!(
        "run (in-memory store, records discarded): {:.2}s, {:.0} events/s",
        in_memory,
        lines as f64 / in_memory
    );
    println!(
        "peak RSS {:.0} MiB after the SQLite run (after parse {:.0} MiB; target 250 MiB); store {:.0} MiB, {:.2}x the input (target 2.5x)",
        rss,
        rss_before,
        store_bytes as f64 / 1048576.0,
        store_bytes as f64 / size as f64
    );
    println!(
        "run: {:.1}x the parse floor (target 7x), in memory {:.1}x",
        run / parse,
        in_memory / parse
    );
}
