//! `cargo bench --bench store`: `sampleflow run` (the release binary, as a user runs it) of the
//! same generated stream into a fresh SQLite store and into a fresh PostgreSQL database,
//! alternating which goes first, for several rounds; the medians of each and their ratio.
//!
//! The PostgreSQL server is started by the bench (`initdb` in a temporary folder, as
//! tests/common/pg.rs does for the tests) with normal durability: `synchronous_commit` on,
//! `fsync` on, its other settings the defaults, plus `pg_stat_statements` for the profile.
//! Both stores are on the same disk. Beside each wall time: the CPU the `sampleflow` process
//! used (both its threads), and for PostgreSQL the CPU its server processes used; after the
//! rounds, the server's time per statement of the last PostgreSQL run.
//!
//! `SAMPLEFLOW_BENCH_SAMPLES` (default 30,000) and `SAMPLEFLOW_BENCH_ROUNDS` (default 5).

// A bench fails loudly: a panic is its failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/common/pg.rs"]
#[allow(dead_code)]
mod pg;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sampleflow");

/// Clock ticks per second of `/proc` CPU times.
fn ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// The fields of `/proc/PID/stat` after the command's name (state is the first).
fn stat(pid: &str) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    Some(
        rest.split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

/// CPU ticks of waited-for children of this process (the `sampleflow` runs).
fn children_cpu() -> u64 {
    stat("self").map_or(0, |f| f[12] + f[13])
}

/// CPU ticks of the whole server: the postmaster, its live children, and those it reaped.
fn server_cpu(postmaster: &str) -> u64 {
    let mut total = stat(postmaster).map_or(0, |f| f[10] + f[11] + f[12] + f[13]);
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if let Some(f) = stat(&pid) {
                if f.first().map(|p| p.to_string()) == Some(postmaster.to_string()) {
                    total += f[10] + f[11];
                }
            }
        }
    }
    total
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Measured {
    wall: Duration,
    client: f64,
    server: f64,
}

fn run(db: &Path, events: &Path, postmaster: Option<&str>, tck: f64) -> Measured {
    let (c0, s0) = (children_cpu(), postmaster.map_or(0, server_cpu));
    let started = Instant::now();
    let out = Command::new(BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("--db")
        .arg(db)
        .arg("run")
        .arg(events)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("runs");
    let wall = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (c1, s1) = (children_cpu(), postmaster.map_or(0, server_cpu));
    Measured {
        wall,
        client: (c1 - c0) as f64 / tck,
        server: (s1 - s0) as f64 / tck,
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let samples: u64 = std::env::var("SAMPLEFLOW_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30_000);
    let rounds: usize = std::env::var("SAMPLEFLOW_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let data = root.join("target/bench-data");
    std::fs::create_dir_all(&data).expect("bench-data folder");
    let events = data.join(format!("store-{samples}.jsonl"));
    if !events.exists() {
        let out = Command::new(BIN)
            .args(["gen", "--samples", &samples.to_string(), "--seed", "1"])
            .output()
            .expect("gen");
        assert!(out.status.success());
        std::fs::write(&events, out.stdout).expect("write the stream");
    }
    let lines = std::fs::read_to_string(&events)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    let tck = ticks();
    let cluster = pg::Cluster::start_with(
        "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all",
    );
    let postmaster = std::fs::read_to_string(cluster.data.join("postmaster.pid"))
        .ok()
        .and_then(|t| t.lines().next().map(str::to_string))
        .expect("postmaster.pid");
    let mut admin = cluster.client("postgres");
    let tmp = tempfile::tempdir().expect("tempdir");
    eprintln!(
        "store bench: `sampleflow run` of {lines} events ({samples} samples), {rounds} rounds, SQLite and PostgreSQL alternating (server: synchronous_commit on, fsync on)"
    );
    let (mut sqlite, mut postgres) = (Vec::new(), Vec::new());
    let mut sizes = (0u64, 0i64);
    for round in 0..rounds {
        let last = round + 1 == rounds;
        let name = format!("bench{round}");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        if last {
            let mut c = cluster.client(&name);
            c.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset();")
                .expect("pg_stat_statements");
        }
        let url = PathBuf::from(cluster.url(&name));
        let file = tmp.path().join(format!("{name}.db"));
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for which in order {
            if which == 0 {
                let m = run(&file, &events, None, tck);
                eprintln!(
                    "round {round}: sqlite   {:>6.2} s  (sampleflow cpu {:.2} s)",
                    m.wall.as_secs_f64(),
                    m.client
                );
                sqlite.push(m);
                sizes.0 = ["", "-wal"]
                    .iter()
                    .filter_map(|s| std::fs::metadata(format!("{}{s}", file.display())).ok())
                    .map(|m| m.len())
                    .sum();
            } else {
                let m = run(&url, &events, Some(&postmaster), tck);
                eprintln!(
                    "round {round}: postgres {:>6.2} s  (sampleflow cpu {:.2} s, server cpu {:.2} s)",
                    m.wall.as_secs_f64(),
                    m.client,
                    m.server
                );
                postgres.push(m);
                sizes.1 = admin
                    .query_one("SELECT pg_database_size($1)", &[&name])
                    .map(|r| r.get(0))
                    .unwrap_or(0);
            }
        }
        std::fs::remove_file(&file).ok();
    }
    let med = |v: &[Measured], f: fn(&Measured) -> f64| median(v.iter().map(f).collect());
    let (s, p) = (
        med(&sqlite, |m| m.wall.as_secs_f64()),
        med(&postgres, |m| m.wall.as_secs_f64()),
    );
    eprintln!(
        "sizes: sqlite {:.1} MiB, postgres database {:.1} MiB",
        sizes.0 as f64 / 1048576.0,
        sizes.1 as f64 / 1048576.0
    );
    eprintln!(
        "cpu medians: sampleflow on sqlite {:.2} s, on postgres {:.2} s; postgres server {:.2} s",
        med(&sqlite, |m| m.client),
        med(&postgres, |m| m.client),
        med(&postgres, |m| m.server)
    );
    // The server's own time, statement by statement, in the last PostgreSQL run.
    let name = format!("bench{}", rounds - 1);
    let mut c = cluster.client(&name);
    let rows = c
        .query(
            "SELECT calls, total_exec_time, rows, regexp_replace(query, '\\s+', ' ', 'g')
             FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = $1)
             ORDER BY total_exec_time DESC LIMIT 12",
            &[&name],
        )
        .expect("pg_stat_statements");
    let total: f64 = rows.iter().map(|r| r.get::<_, f64>(1)).sum();
    eprintln!("server time by statement (last postgres run), {total:.0} ms in all:");
    for r in &rows {
        let query: String = r.get(3);
        eprintln!(
            "  {:>6} calls {:>8.1} ms {:>9} rows  {}",
            r.get::<_, i64>(0),
            r.get::<_, f64>(1),
            r.get::<_, i64>(2),
            query.chars().take(90).collect::<String>()
        );
    }
    eprintln!(
        "median: sqlite {s:.2} s, postgres {p:.2} s; postgres / sqlite = {:.2}x (target: at most 2x)",
        p / s
    );
}
