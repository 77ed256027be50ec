//! `cargo bench --bench connect`: `connect tiktok --once` of the release binary against the
//! tests' fake platform (every request's signature checked) holding 10,000 applications in 100
//! pages: searched, mapped, applied by the shipped rules into a fresh SQLite store, and every
//! decision the rules make delivered as a review call. The floor, in the same command: the same
//! events through `run`. The ratio is the connector's own cost: the platform calls, the
//! mapping, the outbox and its deliveries.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/tiktok.rs"]
#[allow(dead_code)]
mod tiktok;

use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;
use tiktok::Fake;

const BIN: &str = env!("CARGO_BIN_EXE_sampleflow");
const NOW: &str = "2026-06-01T12:00:00Z";

fn fresh(db: &std::path::Path) {
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let n: usize = std::env::var("SAMPLEFLOW_BENCH_APPLICATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let fake = Fake::start(chrono::Utc::now().timestamp());
    fake.inner.lock().expect("fake").applications = (0..n)
        .map(|i| {
            let product = ["p-mug", "p-cream", "p-lux"][i % 3];
            Fake::application(&format!("b{i}"), "PENDING", &format!("cb{i}"), product)
        })
        .collect();
    let data = root.join("target/bench-data/connect");
    std::fs::create_dir_all(&data).expect("folder");
    let config = tiktok::config(&data, &fake.url, tiktok::APP_SECRET);

    // The connector: poll, apply, deliver.
    let db = data.join("connect.db");
    fresh(&db);
    let t = Instant::now();
    let out = Command::new(BIN)
        .current_dir(root)
        .arg("--db")
        .arg(&db)
        .args(["connect", "tiktok", "--once", "--config"])
        .arg(&config)
        .env("SAMPLEFLOW_NOW", NOW)
        .stderr(Stdio::piped())
        .output()
        .expect("connect");
    let connect = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("record"))
        .collect();
    let (calls, bad) = {
        let f = fake.inner.lock().expect("fake");
        (f.reviews.len(), f.bad_signatures)
    };
    assert_eq!(bad, 0);

    // The floor: the events the connector applied, read back from its store, through `run`.
    let events = data.join("events.jsonl");
    let raw = {
        use sampleflow::machinery::store::Store;
        sampleflow::machinery::store::SqliteStore::open_read(&db)
            .expect("the connector's store")
            .events()
            .expect("its applied events")
    };
    let lines = raw
        .iter()
        .flat_map(|e| [e.as_bytes(), b"\n"])
        .flatten()
        .copied()
        .collect::<Vec<u8>>();
    std::fs::write(&events, &lines).expect("events");
    let run_db = data.join("run.db");
    fresh(&run_db);
    let t = Instant::now();
    let status = Command::new(BIN)
        .current_dir(root)
        .arg("--db")
        .arg(&run_db)
        .arg("run")
        .arg(&events)
        .args(["--out", "/dev/null"])
        .stderr(Stdio::null())
        .status()
        .expect("run");
    let run = t.elapsed().as_secs_f64();
    assert!(status.success());
    let applied = lines.iter().filter(|b| **b == b'\n').count();
    println!(
        "connect tiktok --once: {n} applications in {} pages, {applied} events applied ({} records), {calls} review calls delivered: {connect:.2}s",
        n.div_ceil(100),
        records.len()
    );
    println!("run, the same {applied} events: {run:.2}s");
    println!(
        "the connector's overhead: {:.2}x run ({:.0} applications/s)",
        connect / run,
        n as f64 / connect
    );
}
