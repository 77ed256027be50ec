//! What the HTTP benches share: the real `serve` binary started on a fresh store at a stopped
//! clock, a keep-alive client that posts NDJSON, and medians.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use sampleflow::machinery::runtime::{generate, GenOptions};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sampleflow");
/// The instant the server's clock is stopped at (`SAMPLEFLOW_NOW`) and events are stamped with.
pub const AT: &str = "2026-06-01T12:00:00Z";

/// A running `sampleflow serve`, stopped (SIGTERM, then waited for) when dropped.
pub struct Server {
    child: Child,
    /// `host:port` it listens on.
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Starts `serve` in `root` on a fresh store at `db` (its files removed first) with `extra`
/// arguments after `serve`, and waits until it says where it listens. Its request log is read
/// and dropped: writing it is part of the server's work.
pub fn serve<S: AsRef<OsStr>>(root: &Path, db: &Path, extra: &[S]) -> Server {
    for suffix in ["", "-wal", "-shm", ".lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    let mut child = Command::new(BIN)
        .current_dir(root)
        .arg("--db")
        .arg(db)
        .args(["serve", "--listen", "127.0.0.1:0", "--out", "/dev/null"])
        .args(extra)
        .env("SAMPLEFLOW_NOW", AT)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let addr = listening(&mut child);
    Server { child, addr }
}

/// Where a `serve` started with its stderr piped listens (`host:port`), once it says so; the
/// rest of its stderr (the request log) is read and dropped: writing it is part of its work.
pub fn listening(child: &mut Child) -> String {
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut addr = None;
    let mut line = String::new();
    while err.read_line(&mut line).expect("stderr") > 0 {
        if let Some(a) = line.trim().strip_prefix("listening on http://") {
            addr = Some(a.to_string());
            break;
        }
        line.clear();
    }
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    addr.expect("serve said where it listens")
}

/// Copies the folder `from` (with its subfolders) to `to`.
#[allow(dead_code)] // not every bench copies folders
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).expect("copy");
        }
    }
}

/// A keep-alive client that reads every status as an answer (one connection per host).
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_idle_connections_per_host(1)
        .build()
        .into()
}

impl Server {
    /// The server's process id (for `/proc/PID` readings).
    #[allow(dead_code)] // not every bench reads it
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Posts `body` (NDJSON) to `/v1/events`, asserts a 200 and returns the answer's text.
pub fn post_events(agent: &ureq::Agent, addr: &str, body: String) -> String {
    let mut r = agent
        .post(format!("http://{addr}/v1/events"))
        .header("content-type", "application/x-ndjson")
        .send(body)
        .expect("post");
    assert_eq!(r.status(), 200);
    r.body_mut().read_to_string().expect("body")
}

/// The generator's `sample_requested` lines (`samples` samples from `seed`, at most `take` of
/// them), every one restamped at [`AT`]: requests all at one instant, each a new sample.
pub fn requests_at(samples: u64, seed: u64, take: usize) -> Vec<String> {
    let mut text = Vec::new();
    let options = GenOptions {
        samples,
        seed,
        ..GenOptions::default()
    };
    generate(&options, &mut text).expect("generate");
    String::from_utf8(text)
        .expect("utf-8")
        .lines()
        .filter(|l| l.contains("\"sample_requested\""))
        .take(take)
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("json");
            v["at"] = serde_json::Value::String(AT.into());
            v.to_string()
        })
        .collect()
}

/// The median of `xs` (sorted in place).
#[allow(dead_code)] // not every bench takes medians
pub fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}
