//! A quiet spool: an idle `watch --spool` or `serve --spool`, the real binary with its default
//! tick and poll, uses no measurable CPU (its own user and system time, read from
//! `/proc/PID/stat`, is a threshold on CPU spent, not on time passed), on inotify and on
//! `--poll-only`; and a file moved in afterwards is still applied at once.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::live::Lines;

/// How long the process is left alone, and the most CPU it may use meanwhile.
const IDLE: Duration = Duration::from_secs(5);
const MOST_CPU: f64 = 0.3;

/// CPU seconds (user + system) the process `pid` has used so far.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after `(comm)`.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    let per_second: f64 = String::from_utf8(per_second.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    ticks as f64 / per_second
}

struct Live {
    child: Child,
    err: Arc<Lines>,
    dir: tempfile::TempDir,
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command` (`watch` or `serve`) on a spool with the default tick and poll, and waits
/// until it says it is ready.
fn start(command: &str, extra: &[&str]) -> Live {
    let dir = common::serve::folder();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sampleflow"));
    cmd.current_dir(dir.path()).args([
        "--db",
        "s.db",
        command,
        "--spool",
        "spool",
        "--out",
        "out.jsonl",
    ]);
    if command == "serve" {
        cmd.args(["--listen", "127.0.0.1:0"]);
    }
    let mut child = cmd
        .args(extra)
        // stdin stays open (and silent) for as long as the test runs.
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = Lines::follow(child.stderr.take().unwrap());
    let ready = if command == "serve" {
        "listening on http://"
    } else {
        "watch: ready"
    };
    err.wait(0, 1, "ready", |l| l.starts_with(ready));
    Live { child, err, dir }
}

/// Idle for [`IDLE`], then a file moved in: the CPU spent idle is at most [`MOST_CPU`], and the
/// file is applied.
fn quiet_then_prompt(command: &str, extra: &[&str]) {
    let live = start(command, extra);
    let pid = live.child.id();
    let before = cpu_seconds(pid);
    std::thread::sleep(IDLE);
    let spent = cpu_seconds(pid) - before;
    assert!(
        spent <= MOST_CPU,
        "`{command} {}` used {spent:.2} s of CPU in {IDLE:?} idle",
        extra.join(" ")
    );

    let spool = live.dir.path().join("spool");
    let event = r#"{"id":"e1","type":"sample_requested","at":"2026-02-01T00:00:00Z","sample":"s1","creator":{"id":"c1","followers":6000,"engagement_rate":0.05,"posts_30d":5,"fulfillment_rate_90d":0.8},"product":{"id":"p1","category":"sports","price":20,"unit_cost":10}}"#;
    std::fs::write(spool.join("late.tmp"), format!("{event}\n")).unwrap();
    std::fs::rename(spool.join("late.tmp"), spool.join("late.jsonl")).unwrap();
    live.err.wait(0, 1, "the file applied", |l| {
        l.starts_with("spool: applied `late.jsonl` (1 lines)")
    });
    assert!(spool.join("archive/late.jsonl").exists());
}

#[test]
fn an_idle_watch_spool_on_inotify_uses_no_cpu() {
    quiet_then_prompt("watch", &[]);
}

#[test]
fn an_idle_watch_spool_polling_uses_no_cpu() {
    quiet_then_prompt("watch", &["--poll-only"]);
}

#[test]
fn an_idle_serve_spool_on_inotify_uses_no_cpu() {
    quiet_then_prompt("serve", &[]);
}

#[test]
fn an_idle_serve_spool_polling_uses_no_cpu() {
    quiet_then_prompt("serve", &["--poll-only"]);
}
