//! `cargo bench --bench shadow`: what a shadow costs `serve`. The real binary serves the shipped
//! rules from disk on the real SQLite store, once without and once with `--shadow DIR` (the
//! shipped rules with the default follower floor raised to 20,000: every request is screened
//! twice, and the candidate's decisions are written with each commit), in the same process,
//! alternating, `SAMPLEFLOW_BENCH_ROUNDS` rounds (default 5) of each.
//!
//! A round posts `SAMPLEFLOW_BENCH_EVENTS` (default 12,000) of the generator's
//! `sample_requested` lines (every one screened, each a new sample), all at one instant, the
//! server's wall clock stopped there, from 8 keep-alive clients, in batches of 100 (where the
//! screening is the largest share of the work) and then one per request, to a fresh store. The
//! time per event is the round's wall time over its events; the figures are the medians, and the
//! ratio is the shadow's median over the plain one's. Target: at most 1.3x.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

mod common;
use common::{agent, median, post_events, serve, BIN};

const CLIENTS: usize = 8;

/// Posts every event, `per` a request, from [`CLIENTS`] clients; the wall time per event in µs.
fn post_all(addr: &str, events: &Arc<Vec<String>>, per: usize) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (next, events, addr) = (next.clone(), events.clone(), addr.to_string());
            std::thread::spawn(move || {
                let agent = agent();
                loop {
                    let from = next.fetch_add(per, Ordering::Relaxed);
                    if from >= events.len() {
                        return;
                    }
                    let body = events[from..(from + per).min(events.len())].join("\n");
                    let text = post_events(&agent, &addr, body);
                    assert!(!text.contains("\"error\":"), "{text}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client");
    }
    started.elapsed().as_secs_f64() * 1e6 / events.len() as f64
}

/// `sampleflow shadow --format json`'s `compared` on the store `db`.
fn kept_decisions(root: &Path, db: &Path) -> u64 {
    let out = Command::new(BIN)
        .current_dir(root)
        .arg("--db")
        .arg(db)
        .args(["shadow", "--format", "json"])
        .output()
        .expect("shadow");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    report["compared"].as_u64().unwrap_or(0)
}

/// The candidate: the shipped rules with the default follower floor raised, in a folder of its
/// own (the reloader watches a folder's parent too, for a folder swapped whole: the parent of a
/// candidate should not be where the store writes, as in a deployment it is not).
fn candidate(root: &Path) -> PathBuf {
    let dir = root.join("target/bench-shadow/candidate");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tests")).expect("candidate folder");
    for entry in std::fs::read_dir(root.join("rules")).expect("rules") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let text = std::fs::read_to_string(&path).expect("read");
            let text = text.replace("min_followers: 5000 ", "min_followers: 20000");
            std::fs::write(dir.join(path.file_name().expect("name")), text).expect("write");
        }
    }
    dir
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let rounds = env("SAMPLEFLOW_BENCH_ROUNDS", 5).max(1);
    let count = env("SAMPLEFLOW_BENCH_EVENTS", 12_000).max(100);
    let data = root.join("target/bench-data");
    std::fs::create_dir_all(&data).expect("bench-data folder");
    let cand = candidate(root);

    let events = common::requests_at(count as u64 * 2, 11, count);
    let events = Arc::new(events);
    let db = data.join("shadow-bench.db");
    println!(
        "serve with and without --shadow: {} requests a round, {rounds} rounds, {CLIENTS} clients",
        events.len()
    );
    let mut checked = false;
    for (label, per) in [("POST 100 events", 100), ("POST 1 event", 1)] {
        let (mut plain, mut shadowed) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Alternating which goes first, so that neither always meets a warmer machine.
            let order: [bool; 2] = if round % 2 == 0 {
                [false, true]
            } else {
                [true, false]
            };
            for with in order {
                let extra: Vec<&std::ffi::OsStr> = if with {
                    vec!["--shadow".as_ref(), cand.as_os_str()]
                } else {
                    Vec::new()
                };
                let server = serve(root, &db, &extra);
                let us = post_all(&server.addr, &events, per);
                drop(server);
                if with && !checked {
                    checked = true;
                    let kept = kept_decisions(root, &db);
                    assert_eq!(kept, events.len() as u64, "a shadow decision per request");
                    println!("shadow decisions kept in the store: {kept} of {count} requests");
                }
                if with {
                    shadowed.push(us);
                } else {
                    plain.push(us);
                }
            }
        }
        let (p, s) = (median(&mut plain), median(&mut shadowed));
        let ratio = s / p;
        println!(
            "{label:<16} without: {p:>8.1} µs/event   with --shadow: {s:>8.1} µs/event   ratio {ratio:.2}x (target 1.3x): {}",
            if ratio <= 1.3 { "met" } else { "missed" }
        );
        std::io::stdout().flush().expect("flush");
    }
}
