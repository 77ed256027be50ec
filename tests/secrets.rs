//! A secret written where a file name belongs is never repeated in an error, on the real
//! binary: the connector's `app_secret_file` and `access_token_file`, `serve --tokens` and the
//! file `SAMPLEFLOW_WEBHOOK_SECRET_FILE` names. The message names the key and its place only.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Output, Stdio};

use common::stderr;

const PASTED: &str = "sk-live-9f8e7d6c5b4a3f2e1d0c";

fn bin(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sampleflow"));
    cmd.current_dir(dir).env("NO_COLOR", "1");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("SAMPLEFLOW_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Runs `cmd` to its end, which must come within the tests' timeout: a command that should have
/// refused to start but serves is killed and the test fails.
fn finish(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > common::live::TIMEOUT {
            child.kill().unwrap();
            panic!("it did not refuse: {:?}", child.wait_with_output().unwrap());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_secret_pasted_as_a_connector_file_name_is_not_repeated() {
    let dir = common::serve::folder();
    let d = dir.path();
    let config = common::tiktok::config(d, "http://127.0.0.1:9", common::tiktok::APP_SECRET);
    let text = std::fs::read_to_string(&config).unwrap();
    for (key, file) in [
        ("app_secret_file", "app.secret"),
        ("access_token_file", "token"),
    ] {
        std::fs::write(
            &config,
            text.replace(&format!("{key}: {file}"), &format!("{key}: {PASTED}")),
        )
        .unwrap();
        let line = text.lines().position(|l| l.starts_with(key)).unwrap() + 1;
        for args in [
            vec![
                "--db",
                "s.db",
                "connect",
                "tiktok",
                "--config",
                "tiktok.yaml",
                "--once",
            ],
            vec![
                "--db",
                "s.db",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--connector",
                "tiktok.yaml",
            ],
        ] {
            let out = finish(bin(d).args(&args));
            assert!(!out.status.success(), "{args:?}");
            let err = stderr(&out);
            assert!(!err.contains(PASTED), "{args:?} repeated the secret: {err}");
            assert!(
                err.contains(&format!("tiktok.yaml:{line}:1")),
                "{args:?}: {err}"
            );
            assert!(err.contains(&format!("`{key}`")), "{args:?}: {err}");
        }
    }
}

#[test]
fn a_token_pasted_as_the_tokens_file_is_not_repeated() {
    let dir = common::serve::folder();
    let out = bin(dir.path())
        .args([
            "--db",
            "s.db",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--tokens",
            PASTED,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains(PASTED), "{err}");
    assert!(err.contains("`--tokens`"), "{err}");
    // Nor from the environment.
    let out = finish(
        bin(dir.path())
            .args(["--db", "s.db", "serve", "--listen", "127.0.0.1:0"])
            .env("SAMPLEFLOW_TOKENS", PASTED),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!stderr(&out).contains(PASTED), "{}", stderr(&out));
}

#[test]
fn a_secret_pasted_as_the_webhook_secret_file_is_not_repeated() {
    let dir = common::serve::folder();
    let out = finish(
        bin(dir.path())
            .args(["--db", "s.db", "serve", "--listen", "127.0.0.1:0"])
            .env("SAMPLEFLOW_WEBHOOK_SECRET_FILE", PASTED),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(!err.contains(PASTED), "{err}");
    assert!(err.contains("`SAMPLEFLOW_WEBHOOK_SECRET_FILE`"), "{err}");
}
