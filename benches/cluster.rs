//! `cargo bench --bench cluster`: the release binary's `serve --cluster` on loopback, six shops,
//! a private PostgreSQL started here (as tests/common/pg.rs does for the tests: `fsync` and
//! `synchronous_commit` on, the server's defaults otherwise).
//!
//! - **Throughput.** Twelve keep-alive clients (two per shop) post each shop's generated
//!   `sample_requested` events in batches of 100 to `/v1/shops/{shop}/events`, against
//!   one instance alone (it owns all six shops), and against two instances of one cluster (three
//!   shops each once the leases settle) with each client posting to both in turn, so that half
//!   the batches are forwarded to the other instance. Each round runs on a fresh database, the
//!   two alternating; events/s are medians of `SAMPLEFLOW_BENCH_ROUNDS` rounds (default 3).
//! - **Failover.** With two instances settled, one is killed with SIGKILL, and a client posts
//!   one event for one of its shops to the survivor at once: the time from the kill to that
//!   event's 200 (the survivor forwards to the dead owner, fails, waits for the lease to lapse,
//!   takes the shop, loads it from the database and commits). The target is under the lease
//!   TTL (`SAMPLEFLOW_BENCH_TTL`, default the contract's 10s) plus 2 s.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[allow(dead_code)] // the single-server helpers are the other benches'
mod common;
use common::{agent, copy_dir, listening, median, requests_at, AT, BIN};

#[path = "../tests/common/pg.rs"]
#[allow(dead_code)]
mod pg;

const SHOPS: usize = 6;

/// One instance, killed when dropped.
struct Instance {
    child: Child,
    addr: String,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(root: &Path, url: &str, ttl: &str) -> Instance {
    let mut child = Command::new(BIN)
        .current_dir(root)
        .args(["--db", url, "--shop", "s0", "serve", "--cluster"])
        .args(["--listen", "127.0.0.1:0", "--lease-ttl", ttl])
        .env("SAMPLEFLOW_NOW", AT)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve --cluster");
    let addr = listening(&mut child);
    Instance { child, addr }
}

/// Each live instance's advertised URL and the shops it owns, as `/v1/cluster` of `addr` says.
fn owners(addr: &str) -> Vec<(String, Vec<String>)> {
    let mut r = agent()
        .get(format!("http://{addr}/v1/cluster"))
        .call()
        .expect("cluster");
    let v: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().expect("body")).expect("json");
    let text = |x: &serde_json::Value| x.as_str().map(str::to_string);
    v["instances"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|i| {
                    let shops = i["shops"]
                        .as_array()
                        .map(|s| s.iter().filter_map(text).collect())
                        .unwrap_or_default();
                    (text(&i["url"]).unwrap_or_default(), shops)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `want` instances are live and every shop is owned, none over `most`.
fn settle(addr: &str, want: usize, most: usize) {
    let until = Instant::now() + Duration::from_secs(120);
    loop {
        let o = owners(addr);
        let owned: usize = o.iter().map(|(_, s)| s.len()).sum();
        if o.len() == want && owned == SHOPS && o.iter().all(|(_, s)| s.len() <= most) {
            return;
        }
        assert!(Instant::now() < until, "the leases never settled: {o:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Posts every shop's batches from two clients per shop, each client to `addrs` in turn;
/// gives events/s.
fn load(addrs: &[String], batches: &Arc<Vec<Vec<String>>>) -> f64 {
    let started = Instant::now();
    let mut threads = Vec::new();
    let mut events = 0usize;
    for shop in 0..SHOPS {
        for half in 0..2 {
            let mine: Vec<String> = batches[shop]
                .iter()
                .skip(half)
                .step_by(2)
                .cloned()
                .collect();
            events += mine.iter().map(|b| b.lines().count()).sum::<usize>();
            let addrs = addrs.to_vec();
            threads.push(std::thread::spawn(move || {
                let agent = agent();
                for (i, body) in mine.into_iter().enumerate() {
                    let addr = &addrs[(i + half) % addrs.len()];
                    let mut r = agent
                        .post(format!("http://{addr}/v1/shops/s{shop}/events"))
                        .header("content-type", "application/x-ndjson")
                        .send(body)
                        .expect("post");
                    assert_eq!(
                        r.status(),
                        200,
                        "{}",
                        r.body_mut().read_to_string().unwrap_or_default()
                    );
                }
            }));
        }
    }
    for t in threads {
        t.join().expect("client");
    }
    events as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let rounds: usize = std::env::var("SAMPLEFLOW_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let ttl = std::env::var("SAMPLEFLOW_BENCH_TTL").unwrap_or_else(|_| "10s".into());
    let ttl_secs: f64 = ttl.trim_end_matches('s').parse().unwrap_or(10.0);
    let per_shop = 5_000usize;

    let root = tempfile::tempdir().expect("tempdir");
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&here.join("workflows"), &root.path().join("workflows"));
    for s in 0..SHOPS {
        copy_dir(
            &here.join("rules"),
            &root.path().join(format!("shops/s{s}/rules")),
        );
    }
    let batches: Arc<Vec<Vec<String>>> = Arc::new(
        (0..SHOPS)
            .map(|s| {
                requests_at(per_shop as u64 * 2, s as u64 + 1, per_shop)
                    .chunks(100)
                    .map(|c| c.join("\n"))
                    .collect()
            })
            .collect(),
    );
    let pg = pg::Cluster::start_with("");
    let mut admin = pg.client("postgres");
    eprintln!(
        "cluster bench: {SHOPS} shops x {per_shop} events in batches of 100, 12 clients; one instance alone against two (half the batches forwarded); {rounds} rounds alternating"
    );
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let order = if round % 2 == 0 { [1, 2] } else { [2, 1] };
        for n in order {
            let name = format!("bench{round}n{n}");
            admin
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create database");
            let url = pg.url(&name);
            let first = start(root.path(), &url, &ttl);
            settle(&first.addr, 1, SHOPS);
            let mut instances = vec![first];
            if n == 2 {
                instances.push(start(root.path(), &url, &ttl));
                settle(&instances[0].addr, 2, SHOPS.div_ceil(2));
            }
            let addrs: Vec<String> = instances.iter().map(|i| i.addr.clone()).collect();
            let rate = load(&addrs, &batches);
            eprintln!("round {round}: {n} instance(s): {rate:>8.0} events/s");
            if n == 1 {
                one.push(rate);
            } else {
                two.push(rate);
            }
        }
    }
    let (m1, m2) = (median(&mut one), median(&mut two));
    eprintln!(
        "throughput medians: one instance {m1:.0} events/s, two instances with half forwarded {m2:.0} events/s: {:.2}x",
        m2 / m1
    );

    // Failover after a kill -9.
    let mut times = Vec::new();
    for round in 0..rounds {
        let name = format!("failover{round}");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        let url = pg.url(&name);
        let a = start(root.path(), &url, &ttl);
        settle(&a.addr, 1, SHOPS);
        let b = start(root.path(), &url, &ttl);
        settle(&a.addr, 2, SHOPS.div_ceil(2));
        let moved = owners(&a.addr)
            .into_iter()
            .find(|(url, _)| *url == format!("http://{}", b.addr))
            .and_then(|(_, shops)| shops.first().cloned())
            .expect("b owns a shop");
        let survivor = a.addr.clone();
        let mut b = b;
        let killed = Instant::now();
        b.child.kill().expect("kill -9");
        let body = format!(
            "{{\"id\":\"f{round}\",\"type\":\"sample_requested\",\"at\":\"{AT}\",\"sample\":\"f{round}\",\"creator\":{{\"id\":\"fc{round}\",\"followers\":50000,\"engagement_rate\":0.05,\"posts_30d\":10,\"gmv_30d\":1000.0,\"avg_video_views\":9000,\"fulfillment_rate_90d\":0.9,\"top_categories\":[\"beauty\"]}},\"product\":{{\"id\":\"fp{round}\",\"category\":\"beauty\",\"price\":20.0,\"unit_cost\":5.0}}}}"
        );
        let agent = agent();
        loop {
            let r = agent
                .post(format!("http://{survivor}/v1/shops/{moved}/events"))
                .header("content-type", "application/x-ndjson")
                .send(body.clone());
            if matches!(&r, Ok(r) if r.status() == 200) {
                break;
            }
            assert!(killed.elapsed() < Duration::from_secs(120), "no failover");
        }
        let t = killed.elapsed().as_secs_f64();
        eprintln!(
            "failover {round}: shop {moved} answered 200 {t:.2} s after the kill -9 of its owner"
        );
        times.push(t);
        drop(b);
        drop(a);
    }
    let m = median(&mut times);
    eprintln!(
        "failover median: {m:.2} s after the kill -9, against a lease TTL of {ttl} (target: under {:.0} s)",
        ttl_secs + 2.0
    );
}
