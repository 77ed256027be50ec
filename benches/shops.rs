//! `cargo bench --bench shops`: the cost of many small shops against one big one. The same
//! generator makes 100 shops x 1,000 samples (one stream mixing them, `gen --shops 100`) and
//! 1 shop x 100,000 samples; each is `run` into a fresh SQLite store with the normal
//! durability, every shop on its own copy of the shipped rules loaded from disk (100 rule
//! sets compiled for the many, one for the one). The two runs alternate, three times each; the
//! medians and their ratio are printed (target: many within 1.3x of one).
//!
//! `SAMPLEFLOW_BENCH_SHOPS` (default 100) and `SAMPLEFLOW_BENCH_SHOP_SAMPLES` (default 1,000)
//! change the sizes. Streams are written once to `target/bench-data/` (not committed).

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)] // the HTTP benches' helpers; this one copies folders with it
mod common;
use common::copy_dir;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sampleflow::machinery::runtime::{
    generate, generate_shops, shop_name, GenOptions as Options, Program,
};
use sampleflow::machinery::session::{run_file_shops, Quiet};
use sampleflow::machinery::store::SqliteStore;

/// The allocator of the shipped binary (src/main.rs), so that the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Each shop's program, from its own rules folder on disk.
fn programs(root: &Path, deployment: &Path, shops: &[String]) -> Vec<Program> {
    shops
        .iter()
        .map(|shop| {
            let (graphs, report) =
                sampleflow::validate_dir(&root.join("workflows")).expect("workflows");
            assert!(!report.has_errors());
            let rules = deployment.join("shops").join(shop).join("rules");
            Program::new(graphs, sampleflow::RuleSet::load(&rules).expect("rules")).in_shop(shop)
        })
        .collect()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shops = env("SAMPLEFLOW_BENCH_SHOPS", 100);
    let per_shop = env("SAMPLEFLOW_BENCH_SHOP_SAMPLES", 1_000);
    let data = root.join("target/bench-data");
    std::fs::create_dir_all(&data).expect("bench-data folder");

    let many = data.join(format!("shops-{shops}x{per_shop}.jsonl"));
    let one = data.join(format!("shops-1x{}.jsonl", shops * per_shop));
    let options = Options {
        samples: per_shop,
        seed: 1,
        ..Options::default()
    };
    if !many.exists() {
        let mut out = BufWriter::new(File::create(&many).expect("create"));
        generate_shops(&options, shops, &mut out).expect("generate");
        out.flush().expect("flush");
    }
    if !one.exists() {
        let mut out = BufWriter::new(File::create(&one).expect("create"));
        let big = Options {
            samples: shops * per_shop,
            ..options.clone()
        };
        generate(&big, &mut out).expect("generate");
        out.flush().expect("flush");
    }

    // A deployment: every shop with its own copy of the shipped rules.
    let deployment = tempfile::tempdir().expect("tmp");
    let names: Vec<String> = (0..shops).map(|k| shop_name(k, shops)).collect();
    for name in names.iter().chain(std::iter::once(&"default".to_string())) {
        copy_dir(
            &root.join("rules"),
            &deployment.path().join("shops").join(name).join("rules"),
        );
    }
    let db: PathBuf = data.join("shops.db");
    let run = |input: &Path, shops: &[String], home: &str| {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        let start = Instant::now();
        let programs = programs(root, deployment.path(), shops);
        let store = Box::new(SqliteStore::open(&db).expect("store"));
        let mut out = BufWriter::with_capacity(
            1 << 16,
            File::create(data.join("shops-records.jsonl")).expect("out"),
        );
        let summary =
            run_file_shops(programs, home, store, input, &mut out, &mut Quiet).expect("run");
        (start.elapsed().as_secs_f64(), summary)
    };
    let default = vec!["default".to_string()];
    let (mut many_times, mut one_times) = (Vec::new(), Vec::new());
    let (mut many_summary, mut one_summary) = (None, None);
    for _ in 0..3 {
        let (t, s) = run(&one, &default, "default");
        one_times.push(t);
        one_summary = Some(s);
        let (t, s) = run(&many, &names, &names[0]);
        many_times.push(t);
        many_summary = Some(s);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (one_s, many_s) = (one_summary.expect("run"), many_summary.expect("run"));
    let shown = |v: &[f64]| {
        v.iter()
            .map(|t| format!("{t:.2}s"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "1 shop x {} samples: {} events read, {} applied, {} records; runs {}",
        shops * per_shop,
        one_s.stats.read,
        one_s.stats.applied,
        one_s.stats.records,
        shown(&one_times)
    );
    println!(
        "{shops} shops x {per_shop} samples: {} events read, {} applied, {} records; runs {}",
        many_s.stats.read,
        many_s.stats.applied,
        many_s.stats.records,
        shown(&many_times)
    );
    let (one_m, many_m) = (median(&mut one_times), median(&mut many_times));
    println!(
        "median: one shop {:.2}s ({:.0} events/s), {shops} shops {:.2}s ({:.0} events/s): {:.2}x (target 1.3x)",
        one_m,
        one_s.stats.read as f64 / one_m,
        many_m,
        many_s.stats.read as f64 / many_m,
        many_m / one_m
    );
}
