//! Options from the environment and from `--config FILE`, on the real binary: a flag beats the
//! environment, which beats the file, which beats the default; a misspelt key in the file is bad
//! usage at its line with a hint; switches come from the file; `serve` and `watch` take theirs;
//! the options that describe an ops command's event never come from the environment.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::live::Lines;
use common::stderr;

/// The binary in the package's folder, with no option of ours from the caller's environment.
fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sampleflow"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SAMPLEFLOW_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// How many samples `show --all` lists in the store that `cmd` reads.
fn samples(mut cmd: Command) -> usize {
    let out = cmd.args(["show", "--all"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn run_example(db: &Path) {
    let out = bin()
        .args(["--db"])
        .arg(db)
        .args(["run", "examples/events.jsonl"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (env_db, file_db, flag_db) = (
        dir.path().join("env.db"),
        dir.path().join("file.db"),
        dir.path().join("flag.db"),
    );
    // Only the environment's store gets the example's events, by SAMPLEFLOW_DB alone.
    let out = bin()
        .env("SAMPLEFLOW_DB", &env_db)
        .args(["run", "examples/events.jsonl"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(env_db.exists());
    run_example(&flag_db);
    // The file's store: two requests.
    let two = dir.path().join("two.jsonl");
    std::fs::write(
        &two,
        std::fs::read_to_string("examples/events.jsonl")
            .unwrap()
            .lines()
            .take(2)
            .collect::<Vec<_>>()
            .join("\n")
            + "\n",
    )
    .unwrap();
    let out = bin()
        .arg("--db")
        .arg(&file_db)
        .arg("run")
        .arg(&two)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let config = dir.path().join("sampleflow.yaml");
    std::fs::write(&config, format!("db: {}\n", file_db.display())).unwrap();

    let from_file = {
        let mut c = bin();
        c.arg("--config").arg(&config);
        samples(c)
    };
    let from_env = {
        let mut c = bin();
        c.arg("--config").arg(&config).env("SAMPLEFLOW_DB", &env_db);
        samples(c)
    };
    let from_flag = {
        let mut c = bin();
        c.arg("--config")
            .arg(&config)
            .env("SAMPLEFLOW_DB", &file_db)
            .arg("--db")
            .arg(&flag_db);
        samples(c)
    };
    assert!(from_file < from_env, "{from_file} {from_env}");
    assert_eq!(from_env, 54);
    assert_eq!(from_flag, 54);
    // The file named by the environment, and `--config` after the command's name.
    let mut c = bin();
    c.env("SAMPLEFLOW_CONFIG", &config);
    assert_eq!(samples(c), from_file);
    let out = bin()
        .args(["show", "--all", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        from_file
    );
}

#[test]
fn a_misspelt_key_is_bad_usage_at_its_line_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sampleflow.yaml");
    std::fs::write(&config, "db: s.db\nlisten: 127.0.0.1:0\npol-ms: 500\n").unwrap();
    let out = bin()
        .env("NO_COLOR", "1")
        .arg("--config")
        .arg(&config)
        .args(["serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("unknown option `pol-ms`"), "{err}");
    assert!(err.contains(&format!("{}:3:1", config.display())), "{err}");
    assert!(err.contains("did you mean `poll-ms`?"), "{err}");
    assert!(!dir.path().join("s.db").exists(), "nothing was started");

    // A value that is no value of its option, at the value's place.
    std::fs::write(&config, "db: s.db\ntick-ms: soon\n").unwrap();
    let out = bin()
        .arg("--config")
        .arg(&config)
        .arg("watch")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{}:2:10", config.display())),
        "{}",
        stderr(&out)
    );
}

#[test]
fn serve_takes_its_options_from_the_environment_and_a_switch_from_the_file() {
    let dir = common::serve::folder();
    std::fs::write(
        dir.path().join("opts.yaml"),
        "poll-only: true\nout: served.jsonl\n",
    )
    .unwrap();
    let mut child = bin()
        .current_dir(dir.path())
        .env("SAMPLEFLOW_CONFIG", "opts.yaml")
        .env("SAMPLEFLOW_DB", "env.db")
        .env("SAMPLEFLOW_LISTEN", "127.0.0.1:0")
        .env("SAMPLEFLOW_SPOOL", "inbox")
        .arg("serve")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = Lines::follow(child.stderr.take().unwrap());
    err.wait(0, 1, "listening", |l| {
        l.starts_with("listening on http://127.0.0.1:")
    });
    // --poll-only came from the file.
    err.wait(0, 1, "polling", |l| l.contains("turned off by --poll-only"));
    let event = r#"{"id":"e1","type":"sample_requested","at":"2026-02-01T00:00:00Z","sample":"s1","creator":{"id":"c1","followers":6000,"engagement_rate":0.05,"posts_30d":5,"fulfillment_rate_90d":0.8},"product":{"id":"p1","category":"sports","price":20,"unit_cost":10}}"#;
    let inbox = dir.path().join("inbox");
    std::fs::write(inbox.join("a.tmp"), format!("{event}\n")).unwrap();
    std::fs::rename(inbox.join("a.tmp"), inbox.join("a.jsonl")).unwrap();
    err.wait(0, 1, "the spool file", |l| {
        l.starts_with("spool: applied `a.jsonl`")
    });
    common::live::signal(&child, "TERM");
    assert!(child.wait().unwrap().success());
    assert!(dir.path().join("env.db").exists());
    let served = std::fs::read_to_string(dir.path().join("served.jsonl")).unwrap();
    assert!(served.contains("\"sample\":\"s1\""), "{served}");
}

#[test]
fn an_ops_command_takes_no_time_or_decision_from_the_environment() {
    let dir = common::example_store();
    let db = dir.path().join("s.db");
    let out = bin()
        .arg("--db")
        .arg(&db)
        .args(["review", "s50"])
        .env("SAMPLEFLOW_APPROVE", "true")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "no decision given: {}",
        stderr(&out)
    );
    let out = bin()
        .arg("--db")
        .arg(&db)
        .args(["review", "s50", "--approve"])
        .env("SAMPLEFLOW_NOW", "2026-03-27T09:00:00Z")
        .env("SAMPLEFLOW_AT", "2026-01-01T00:00:00Z")
        .env("SAMPLEFLOW_BY", "env-reviewer")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let record: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(record["at"], "2026-03-27T09:00:00Z");
    assert_eq!(record["by"], "env-reviewer");
}
