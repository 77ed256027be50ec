//! A live `sampleflow watch` for tests: the lines it prints, waited for with a generous
//! timeout, never a bare sleep.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Lines a stream printed so far, and a way to wait for more.
#[derive(Default)]
pub struct Lines {
    lines: Mutex<Vec<String>>,
    more: Condvar,
}

impl Lines {
    pub fn follow(stream: impl std::io::Read + Send + 'static) -> Arc<Lines> {
        let lines = Arc::new(Lines::default());
        let sink = lines.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                sink.lines.lock().unwrap().push(line);
                sink.more.notify_all();
            }
        });
        lines
    }

    /// Waits until `count` lines after `from` satisfy `pred`; returns the index of the last one.
    pub fn wait(
        &self,
        from: usize,
        count: usize,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> usize {
        let deadline = Instant::now() + TIMEOUT;
        let mut lines = self.lines.lock().unwrap();
        loop {
            let hits: Vec<usize> = (from..lines.len()).filter(|i| pred(&lines[*i])).collect();
            if hits.len() >= count {
                return hits[count - 1];
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "timed out waiting for {what}; got:\n{}",
                lines.join("\n")
            );
            lines = self.more.wait_timeout(lines, left).unwrap().0;
        }
    }

    pub fn all(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn len(&self) -> usize {
        self.lines.lock().unwrap().len()
    }
}

/// Sends the signal `name` (`TERM`, `HUP`...) to a child process.
pub fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name}");
}

/// A running `sampleflow watch` in a folder of its own with copies of the shipped files.
pub struct Watch {
    pub dir: tempfile::TempDir,
    pub child: Child,
    pub stdin: Option<ChildStdin>,
    pub out: Arc<Lines>,
    pub err: Arc<Lines>,
}

impl Watch {
    pub fn start(args: &[&str], now: &str, stdin: bool) -> Watch {
        let dir = tempfile::tempdir().unwrap();
        let rules = super::shipped_rules();
        super::copy_dir(rules.path(), &dir.path().join("rules"));
        super::copy_dir(Path::new("workflows"), &dir.path().join("workflows"));
        Watch::start_in(dir, args, now, stdin)
    }

    pub fn start_in(dir: tempfile::TempDir, args: &[&str], now: &str, stdin: bool) -> Watch {
        // `w.db`, or the PostgreSQL database the folder's `db-url` names.
        let db = std::fs::read_to_string(dir.path().join("db-url"))
            .map_or_else(|_| "w.db".to_string(), |url| url.trim().to_string());
        let mut child = Command::new(env!("CARGO_BIN_EXE_sampleflow"))
            .current_dir(dir.path())
            .args(["--db", &db, "watch", "--tick-ms", "100"])
            .args(if args.contains(&"--poll-ms") {
                &[][..]
            } else {
                &["--poll-ms", "300"][..]
            })
            .args(args)
            .env("SAMPLEFLOW_NOW", now)
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = Lines::follow(child.stdout.take().unwrap());
        let err = Lines::follow(child.stderr.take().unwrap());
        let w = Watch {
            dir,
            stdin: child.stdin.take(),
            child,
            out,
            err,
        };
        w.err.wait(0, 1, "ready", |l| l.starts_with("watch: ready"));
        w
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn send(&mut self, event: &Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{event}").unwrap();
        stdin.flush().unwrap();
    }

    /// Sends a request and returns its record.
    pub fn decide(&mut self, event: &Value) -> Value {
        let from = self.out.len();
        self.send(event);
        let id = event["id"].as_str().unwrap().to_string();
        let i = self.out.wait(from, 1, &format!("the record of {id}"), |l| {
            l.contains(&format!("\"event\":\"{id}\""))
        });
        serde_json::from_str(&self.out.all()[i]).unwrap()
    }

    /// Replaces a file the way editors do: write a temporary file, rename it over the old one.
    pub fn replace(&self, rel: &str, edit: impl Fn(String) -> String) {
        let path = self.path(rel);
        let text = edit(std::fs::read_to_string(&path).unwrap());
        let tmp = path.with_extension("swp~");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }

    pub fn signal(&self, name: &str) {
        signal(&self.child, name);
    }

    /// Closes stdin and waits for the clean stop; returns stderr.
    pub fn end(mut self) -> (Vec<String>, Vec<String>, tempfile::TempDir) {
        drop(self.stdin.take());
        self.wait_exit()
    }

    pub fn wait_exit(mut self) -> (Vec<String>, Vec<String>, tempfile::TempDir) {
        self.err
            .wait(0, 1, "the stop", |l| l.starts_with("watch: stopped"));
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
        // The readers see the end of both pipes once the process is gone.
        let (out, err) = (self.out.clone(), self.err.clone());
        (out.all(), err.all(), self.dir)
    }
}
