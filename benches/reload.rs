//! Reload latency of `sampleflow watch`: from `policy.yaml` written to the first event decided by
//! the new rules, while events flow. The baseline, in the same run, is one event's round trip
//! (written to stdin, its record read from stdout) with no reload under way.
//!
//! `cargo bench --bench reload` (`SAMPLEFLOW_BENCH_RELOADS` changes the number of reloads). The
//! release binary runs on copies of the shipped rules and workflows, with a real SQLite store.
//! Every reload validates and compiles the whole set and runs the shipped rule test cases.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn request(i: usize) -> String {
    format!(
        "{{\"id\":\"e{i}\",\"type\":\"sample_requested\",\"at\":\"2026-02-01T00:00:00Z\",\"sample\":\"s{i}\",\
         \"creator\":{{\"id\":\"c{i}\",\"followers\":6000,\"engagement_rate\":0.05,\"posts_30d\":5,\
         \"fulfillment_rate_90d\":0.8}},\"product\":{{\"id\":\"p{i}\",\"category\":\"sports\",\
         \"price\":20,\"unit_cost\":10}}}}"
    )
}

/// Writes the next request and notes when.
fn send(stdin: &mut std::process::ChildStdin, sent_at: &mut Vec<Instant>) {
    writeln!(stdin, "{}", request(sent_at.len())).unwrap();
    stdin.flush().unwrap();
    sent_at.push(Instant::now());
}

fn percentile(xs: &mut [f64], p: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[((xs.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let reloads: usize = std::env::var("SAMPLEFLOW_BENCH_RELOADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    copy(&root.join("rules"), &dir.path().join("rules"));
    copy(&root.join("workflows"), &dir.path().join("workflows"));
    let policy = dir.path().join("rules/policy.yaml");
    let shipped = std::fs::read_to_string(&policy).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_sampleflow"))
        .current_dir(dir.path())
        .args(["--db", "bench.db", "watch"])
        .env("SAMPLEFLOW_NOW", "2026-02-01T00:00:00Z")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();

    // Each record's event number, rules hash and arrival time.
    let (rec_tx, rec_rx) = channel::<(usize, String, Instant)>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let n = v["event"].as_str().unwrap()[1..].parse().unwrap();
            let hash = v["rules"].as_str().unwrap().to_string();
            if rec_tx.send((n, hash, Instant::now())).is_err() {
                return;
            }
        }
    });
    let swaps = Arc::new(Mutex::new(Vec::<String>::new()));
    let (ready_tx, ready_rx) = channel::<()>();
    {
        let swaps = swaps.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let line = line.unwrap();
                if line.starts_with("watch: ready") {
                    let _ = ready_tx.send(());
                }
                if line.starts_with("reload") {
                    swaps.lock().unwrap().push(line);
                }
            }
        });
    }
    ready_rx.recv_timeout(Duration::from_secs(60)).unwrap();

    let mut sent_at: Vec<Instant> = Vec::new();

    // Baseline: round trips one at a time, nothing else going on.
    let mut round_trips = Vec::new();
    let mut hash = String::new();
    for _ in 0..200 {
        send(&mut stdin, &mut sent_at);
        let (n, h, at) = rec_rx.recv_timeout(Duration::from_secs(60)).unwrap();
        round_trips.push((at - sent_at[n]).as_secs_f64() * 1000.0);
        hash = h;
    }

    // Reloads while events flow every 2 ms: alternate the sports follower floor.
    let mut latencies = Vec::new();
    let mut received = 200usize;
    for k in 0..reloads {
        let floor = 8000 + (k % 2) * 1000;
        let text = shipped.replacen(
            "apparel: {}",
            &format!("apparel: {{}}\nsports:\n  min_followers: {floor}"),
            1,
        );
        let tmp = policy.with_extension("new");
        std::fs::write(&tmp, text).unwrap();
        let written = Instant::now();
        std::fs::rename(&tmp, &policy).unwrap();
        let old = hash.clone();
        let latency = loop {
            send(&mut stdin, &mut sent_at);
            std::thread::sleep(Duration::from_millis(2));
            let mut found = None;
            while let Ok((_, h, at)) = rec_rx.try_recv() {
                received += 1;
                if h != old && found.is_none() {
                    found = Some(at);
                    hash = h;
                }
            }
            if let Some(at) = found {
                break at - written;
            }
            assert!(
                written.elapsed() < Duration::from_secs(30),
                "no reload seen"
            );
        };
        latencies.push(latency.as_secs_f64() * 1000.0);
    }
    drop(stdin);
    while rec_rx.recv_timeout(Duration::from_secs(30)).is_ok() {
        received += 1;
    }
    let sent = sent_at.len();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert_eq!(received, sent, "every event decided once");
    let swaps = swaps.lock().unwrap().clone();
    assert_eq!(
        swaps
            .iter()
            .filter(|l| l.starts_with("reload: rules"))
            .count(),
        reloads,
        "{swaps:?}"
    );

    let (rt50, rt99) = (
        percentile(&mut round_trips, 0.5),
        percentile(&mut round_trips, 0.99),
    );
    let (p50, max) = (
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 1.0),
    );
    println!("events: {sent} sent, {received} decided, none lost or doubled");
    println!("event round trip (baseline): p50 {rt50:.2} ms, p99 {rt99:.2} ms");
    println!(
        "reload latency over {reloads} reloads (file written -> first event under the new rules): \
         p50 {p50:.1} ms, max {max:.1} ms (target < 250 ms)"
    );
    println!(
        "ratio: reload p50 = {:.0}x an event's round trip",
        p50 / rt50
    );
}
