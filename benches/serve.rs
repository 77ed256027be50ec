//! `cargo bench --bench serve`: the real binary's `serve` on loopback, under 1, 8 and 64
//! concurrent keep-alive clients (a Rust load generator: one ureq agent per client thread),
//! against two floors measured in the same command:
//! - `GET /healthz` at the same concurrency: what the HTTP stack alone does;
//! - the same events through `sampleflow run` (the shipped rules from disk, the SQLite store with
//!   its normal durability).
//!
//! Events are the generator's `sample_requested` lines (so every one is screened by the rules
//! and makes a sample), all at one instant, the server's wall clock stopped there. Each level
//! runs on a fresh store for `SAMPLEFLOW_BENCH_SECS` seconds (default 4) or until the events run
//! out. Targets: single-event posts at 64 clients reach 50% of `/healthz`'s rate with p99 under
//! 50 ms; batches of 100 reach 70% of `run`'s events/s.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{agent, post_events, serve, BIN};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Healthz,
    Single,
    Batch,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Healthz => "GET /healthz",
            Mode::Single => "POST 1 event",
            Mode::Batch => "POST 100 events",
        }
    }

    fn per_request(self) -> usize {
        match self {
            Mode::Healthz | Mode::Single => 1,
            Mode::Batch => 100,
        }
    }
}

struct Level {
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: usize,
    refused: usize,
}

fn load(addr: &str, mode: Mode, clients: usize, events: &Arc<Vec<String>>, secs: f64) -> Level {
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (next, events, addr) = (next.clone(), events.clone(), addr.to_string());
            std::thread::spawn(move || {
                let agent = agent();
                let (mut latencies, mut done, mut refused) = (Vec::new(), 0usize, 0usize);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let text = if mode == Mode::Healthz {
                        let mut r = agent
                            .get(format!("http://{addr}/healthz"))
                            .call()
                            .expect("healthz");
                        r.body_mut().read_to_string().expect("body")
                    } else {
                        let n = mode.per_request();
                        let from = next.fetch_add(n, Ordering::Relaxed);
                        if from + n > events.len() {
                            break;
                        }
                        post_events(&agent, &addr, events[from..from + n].join("\n"))
                    };
                    latencies.push(t.elapsed());
                    done += mode.per_request();
                    refused += text.matches("\"error\":").count();
                }
                (latencies, done, refused)
            })
        })
        .collect();
    let (mut latencies, mut done, mut refused) = (Vec::new(), 0, 0);
    for t in threads {
        let (l, d, r) = t.join().expect("client");
        latencies.extend(l);
        done += d;
        refused += r;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    Level {
        per_sec: done as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        requests: latencies.len(),
        refused,
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let secs: f64 = std::env::var("SAMPLEFLOW_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4.0);
    let data = root.join("target/bench-data");
    std::fs::create_dir_all(&data).expect("bench-data folder");

    // The generator's requests, all at one instant.
    let events = common::requests_at(200_000, 3, usize::MAX);
    let events = Arc::new(events);
    let file: PathBuf = data.join("serve-events.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&file).expect("events file"));
    for e in events.iter() {
        writeln!(out, "{e}").expect("write");
    }
    out.flush().expect("flush");
    drop(out);

    // `SAMPLEFLOW_BENCH_ONLY=single:64` runs that one level alone (for a profile): no floors.
    let only = std::env::var("SAMPLEFLOW_BENCH_ONLY").ok();
    if let Some(only) = &only {
        let (mode, clients) = only.split_once(':').expect("MODE:CLIENTS");
        let mode = match mode {
            "healthz" => Mode::Healthz,
            "single" => Mode::Single,
            _ => Mode::Batch,
        };
        let server = serve::<&str>(root, &data.join("serve.db"), &[]);
        println!("server pid {}", server.pid());
        let level = load(
            &server.addr,
            mode,
            clients.parse().expect("clients"),
            &events,
            secs,
        );
        println!(
            "{} at {clients}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
            mode.name(),
            level.per_sec,
            level.p50_ms,
            level.p99_ms
        );
        return;
    }

    // Floor: the same events through `run`.
    let db = data.join("serve-run.db");
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let t = Instant::now();
    let status = Command::new(BIN)
        .current_dir(root)
        .arg("--db")
        .arg(&db)
        .arg("run")
        .arg(&file)
        .args(["--out", "/dev/null"])
        .stderr(Stdio::null())
        .status()
        .expect("run");
    assert!(status.success());
    let run_rate = events.len() as f64 / t.elapsed().as_secs_f64();
    println!(
        "run: {} events in {:.2}s = {run_rate:.0} events/s (the floor for batches)",
        events.len(),
        t.elapsed().as_secs_f64()
    );

    println!(
        "{:<16} {:>7} {:>12} {:>9} {:>9} {:>9} {:>8}",
        "mode", "clients", "per second", "p50 ms", "p99 ms", "requests", "refused"
    );
    let mut healthz = Vec::new();
    let mut single64 = None;
    let mut best_batch: f64 = 0.0;
    for mode in [Mode::Healthz, Mode::Single, Mode::Batch] {
        for clients in [1, 8, 64] {
            let server = serve::<&str>(root, &data.join("serve.db"), &[]);
            let level = load(&server.addr, mode, clients, &events, secs);
            drop(server);
            println!(
                "{:<16} {:>7} {:>12.0} {:>9.2} {:>9.2} {:>9} {:>8}",
                mode.name(),
                clients,
                level.per_sec,
                level.p50_ms,
                level.p99_ms,
                level.requests,
                level.refused
            );
            match mode {
                Mode::Healthz => healthz.push(level.per_sec),
                Mode::Single if clients == 64 => single64 = Some(level),
                Mode::Batch => best_batch = best_batch.max(level.per_sec),
                Mode::Single => {}
            }
        }
    }
    let health64 = healthz.last().copied().unwrap_or(0.0);
    if let Some(s) = single64 {
        let ratio = s.per_sec / health64;
        println!(
            "single events at 64 clients: {:.0}/s = {:.1}% of /healthz ({health64:.0}/s), p99 {:.1} ms (targets: 50%, 50 ms): {}",
            s.per_sec,
            ratio * 100.0,
            s.p99_ms,
            if ratio >= 0.5 && s.p99_ms < 50.0 { "met" } else { "missed" }
        );
    }
    let ratio = best_batch / run_rate;
    println!(
        "batches of 100, best level: {best_batch:.0} events/s = {:.1}% of run ({run_rate:.0}/s) (target 70%): {}",
        ratio * 100.0,
        if ratio >= 0.7 { "met" } else { "missed" }
    );
}
