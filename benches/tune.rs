//! `cargo bench --bench tune`: `tune` over 50 points of the generated 150,000-sample stream (the
//! one `benches/run.rs` writes to `target/bench-data/`), against 50 times one `diff` replay of
//! the same stream, measured in the same process.
//!
//! The 50 single replays are calibrated from 4 (two before the tune, two after it, so that both
//! sides are taken from the same minutes of a shared machine) and scaled by 12.5. The target:
//! tune's time is at most the replays' own time divided by the cores it used, plus 10%. The
//! load average is printed before and after; figures from a loaded machine mean little.
//!
//! `SAMPLEFLOW_BENCH_SAMPLES` sets the stream's size (default 150,000: about 1M events);
//! `SAMPLEFLOW_BENCH_POINTS` the points (default 50).

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use sampleflow::machinery::analysis::{replay, tune, Events, Grid, Stream};
use sampleflow::machinery::runtime::{generate, GenOptions, Program};

/// The allocator of the shipped binary (src/main.rs), so that the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn status(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let samples = env("SAMPLEFLOW_BENCH_SAMPLES", 150_000);
    let points = env("SAMPLEFLOW_BENCH_POINTS", 50).max(2);
    let data = root.join("target/bench-data");
    std::fs::create_dir_all(&data).expect("bench-data folder");
    let events = data.join(format!("events-{samples}.jsonl"));
    if !events.exists() {
        let options = GenOptions {
            samples,
            seed: 1,
            ..GenOptions::default()
        };
        let mut out = BufWriter::new(File::create(&events).expect("create"));
        let mix = generate(&options, &mut out).expect("generate");
        out.flush().expect("flush");
        eprintln!("generated {}: {} events", events.display(), mix.events);
    }
    let (graphs, report) = sampleflow::validate_dir(&root.join("workflows")).expect("workflows");
    assert!(!report.has_errors());
    let program = Program::new(
        graphs,
        sampleflow::RuleSet::load(&root.join("rules")).expect("rules"),
    );
    println!("load average before: {}", load());

    // One diff replay: what `diff` does for each side, reading the file as it goes.
    let single = || {
        let start = Instant::now();
        let r = replay(program.clone(), &Events::File(events.clone())).expect("replay");
        std::hint::black_box(r.facts.len());
        start.elapsed().as_secs_f64()
    };
    let mut singles = vec![single(), single()];
    let rss_single = status("VmHWM:");
    println!(
        "single replays: {:.2} s, {:.2} s (peak RSS {:.0} MiB)",
        singles[0], singles[1], rss_single
    );

    // The tune: read and parse once, then `points` replays on every core.
    // The follower floor around today's 5,000, today's value on the grid.
    let step = 100;
    let low = 5000 - (points / 2) * step;
    let spec = format!("min_followers={low}..{}:{step}", low + (points - 1) * step);
    let start = Instant::now();
    let stream = Arc::new(Stream::read_file(&events).expect("stream"));
    let parsed = start.elapsed().as_secs_f64();
    let rss_stream = status("VmRSS:");
    let grid = Grid::parse(program.rules.policy(), None, &[spec]).expect("grid");
    let threads = sampleflow::machinery::analysis::tune_threads(grid.len());
    let t = tune(&program, grid, stream, None, threads, &|done, total| {
        eprint!("\r{done}/{total} points");
    })
    .expect("tune");
    let tuned = start.elapsed().as_secs_f64();
    eprintln!();
    let rss_tune = status("VmHWM:");
    assert_eq!(t.points.len() as u64, points);
    println!(
        "tune: {} points on {} threads in {tuned:.2} s (reading and parsing {:.2} s, the stream \
         in memory {:.0} MiB RSS), peak RSS {:.0} MiB",
        t.points.len(),
        t.threads,
        parsed,
        rss_stream,
        rss_tune
    );

    singles.push(single());
    singles.push(single());
    println!(
        "single replays after: {:.2} s, {:.2} s",
        singles[2], singles[3]
    );
    println!("load average after: {}", load());
    let mean = singles.iter().sum::<f64>() / singles.len() as f64;
    let replays = mean * points as f64;
    let target = replays / t.threads as f64 * 1.1;
    println!(
        "{points} single replays (4 timed, mean {mean:.2} s, scaled): {replays:.1} s; / {} cores \
         + 10% = {target:.1} s; tune {tuned:.1} s = {:.2}x the replays' time per core ({})",
        t.threads,
        tuned / (replays / t.threads as f64),
        if tuned <= target {
            "target met"
        } else {
            "target NOT met"
        }
    );
}
