//! `deploy/` is run, not just read: the unit's `ExecStart` with the shipped options file (paths
//! moved under a temporary root) starts `serve`; its `ExecReload` reloads; the backup service's
//! command writes a copy beside the running service; and the README's restore puts that copy back,
//! the records file cut back to match. The unit holds the settings the README promises.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use common::live::Lines;
use common::serve::OPERATOR;
use common::stderr;

const BIN: &str = "/usr/local/bin/sampleflow";

/// A temporary root with `etc/sampleflow` and `var/lib/sampleflow`.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc/sampleflow");
        let rules = common::shipped_rules();
        common::copy_dir(rules.path(), &etc.join("rules"));
        common::copy_dir(Path::new("workflows"), &etc.join("workflows"));
        common::serve::write_tokens(&etc);
        std::fs::create_dir_all(dir.path().join("var/lib/sampleflow")).unwrap();
        let root = Root { dir };
        let options = root.moved(&std::fs::read_to_string("deploy/sampleflow.yaml").unwrap());
        std::fs::write(etc.join("sampleflow.yaml"), options).unwrap();
        root
    }

    /// `text` with the deployment's paths under this root and the binary the one under test.
    fn moved(&self, text: &str) -> String {
        let root = self.dir.path().display().to_string();
        text.replace(BIN, env!("CARGO_BIN_EXE_sampleflow"))
            .replace("/etc/sampleflow", &format!("{root}/etc/sampleflow"))
            .replace("/var/lib/sampleflow", &format!("{root}/var/lib/sampleflow"))
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("var/lib/sampleflow")
    }
}

/// The value of `key=` in a unit file (the last one given).
fn setting(unit: &str, key: &str) -> String {
    unit.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}="))
        .to_string()
}

/// Starts the unit's `ExecStart` (listening on a free port: a flag beats the options file).
fn start(root: &Root, unit: &str) -> (Child, Arc<Lines>, String) {
    let exec = root.moved(&setting(unit, "ExecStart"));
    let mut words = exec.split_whitespace();
    let mut child = Command::new(words.next().unwrap())
        .args(words)
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(root.moved(&setting(unit, "WorkingDirectory")))
        .env("SAMPLEFLOW_NOW", "2026-03-27T05:00:00Z")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = Lines::follow(child.stderr.take().unwrap());
    let i = err.wait(0, 1, "listening", |l| l.starts_with("listening on http://"));
    let addr = err.all()[i].trim_start_matches("listening on ").to_string();
    (child, err, addr)
}

fn post(addr: &str, body: &str) {
    let mut answer = ureq::post(format!("{addr}/v1/events"))
        .header("authorization", format!("Bearer {OPERATOR}"))
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    assert_eq!(
        answer.status(),
        200,
        "{}",
        answer.body_mut().read_to_string().unwrap()
    );
}

fn show_all(db: &Path) -> String {
    let out = common::bin(db).args(["show", "--all"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a unit's `ExecStart=/bin/sh -c '...'` (`%%` is systemd's `%`).
fn run_shell(root: &Root, unit: &str, key: &str) -> std::process::Output {
    let exec = root.moved(&setting(unit, key));
    let script = exec
        .strip_prefix("/bin/sh -c '")
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or_else(|| panic!("{key} is not /bin/sh -c '...': {exec}"))
        .replace("%%", "%");
    Command::new("/bin/sh")
        .args(["-c", &script])
        .current_dir(root.state())
        .output()
        .unwrap()
}

#[test]
fn the_unit_the_options_file_the_backup_and_the_restore_work_as_written() {
    let root = Root::new();
    let unit = std::fs::read_to_string("deploy/sampleflow.service").unwrap();
    let backup_unit = std::fs::read_to_string("deploy/sampleflow-backup.service").unwrap();
    for (key, value) in [
        ("User", "sampleflow"),
        ("ProtectSystem", "strict"),
        ("NoNewPrivileges", "yes"),
        ("StateDirectory", "sampleflow"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("Restart", "on-failure"),
        ("WorkingDirectory", "/var/lib/sampleflow"),
    ] {
        assert_eq!(setting(&unit, key), value, "{key}");
    }

    let events = std::fs::read_to_string("examples/events.jsonl").unwrap();
    let lines: Vec<&str> = events.lines().collect();
    let (first, rest) = lines.split_at(200);
    let (child, err, addr) = start(&root, &unit);
    post(&addr, &(first.join("\n") + "\n"));

    // ExecReload: SIGHUP to the main process reloads.
    let reload = setting(&unit, "ExecReload").replace("$MAINPID", &child.id().to_string());
    let mut words = reload.split_whitespace();
    let from = err.len();
    assert!(Command::new(words.next().unwrap())
        .args(words)
        .status()
        .unwrap()
        .success());
    err.wait(from, 1, "the reload", |l| {
        l.starts_with("reload: no change (SIGHUP)")
    });

    // The backup service's command, beside the running service.
    std::fs::create_dir_all(root.state().join("backups")).unwrap();
    let out = run_shell(&root, &backup_unit, "ExecStart");
    assert!(out.status.success(), "{}", stderr(&out));
    let copies: Vec<PathBuf> = std::fs::read_dir(root.state().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}");
    let copy = copies[0].clone();
    let name = copy.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("sampleflow-2") && name.ends_with("Z.db"),
        "{name}"
    );
    let post_step = root.moved(&setting(&backup_unit, "ExecStartPost"));
    let mut words = post_step.split_whitespace();
    assert!(Command::new(words.next().unwrap())
        .args(words)
        .status()
        .unwrap()
        .success());
    assert!(copy.exists(), "a fresh copy is kept");
    let db = root.state().join("sampleflow.db");
    let at_backup = show_all(&db);
    assert_eq!(show_all(&copy), at_backup);

    // More events, then `systemctl stop` (SIGTERM) and the README's restore.
    post(&addr, &(rest.join("\n") + "\n"));
    common::live::signal(&child, "TERM");
    let mut child = child;
    assert!(child.wait().unwrap().success());
    assert_ne!(show_all(&db), at_backup);
    let readme = std::fs::read_to_string("README.md").unwrap();
    let start_at = readme
        .find("sudo -u sampleflow sh -c 'cd /var/lib/sampleflow")
        .expect("the README's restore");
    let block = &readme[start_at..];
    let block = &block[..block.find("'\n").unwrap() + 1];
    let script = block
        .trim_start_matches("sudo -u sampleflow sh -c '")
        .trim_end_matches('\'')
        .replace("sampleflow-20260327T061500Z.db", &name);
    let out = Command::new("/bin/sh")
        .args(["-c", &root.moved(&script)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(show_all(&db), at_backup);

    let (mut child, err, _) = start(&root, &unit);
    err.wait(0, 1, "the records cut back", |l| {
        l.contains("cut back to the last commit")
    });
    assert_eq!(show_all(&db), at_backup);
    common::live::signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
}

#[test]
fn the_shipped_options_file_names_only_options() {
    // Every key of deploy/sampleflow.yaml is an option: `validate` with it exits 0.
    let root = Root::new();
    let out = Command::new(env!("CARGO_BIN_EXE_sampleflow"))
        .arg("--config")
        .arg(root.dir.path().join("etc/sampleflow/sampleflow.yaml"))
        .args(["validate", "--deny-warnings"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
