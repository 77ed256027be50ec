//! A live `sampleflow serve` for tests, on a free port of loopback, in a folder of its own with
//! copies of the shipped files; and a small HTTP client for it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use serde_json::Value;
use sha2::Digest;

use super::live::Lines;

/// The tokens of [`Server::with_tokens`]: name, role, secret.
pub const TOKENS: [(&str, &str, &str); 3] = [
    ("feeder", "ingest", "ingest-secret-1"),
    ("ana", "operator", "operator-secret-2"),
    ("vic", "viewer", "viewer-secret-3"),
];
pub const INGEST: &str = "ingest-secret-1";
pub const OPERATOR: &str = "operator-secret-2";
pub const VIEWER: &str = "viewer-secret-3";
/// The webhook secret of [`Server::with_tokens`].
pub const WEBHOOK: &str = "hook-secret";

pub struct Server {
    pub dir: tempfile::TempDir,
    pub child: Child,
    pub err: Arc<Lines>,
    pub addr: String,
    agent: ureq::Agent,
}

/// A response: status and body.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A folder with copies of the shipped rules and workflows.
pub fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let rules = super::shipped_rules();
    super::copy_dir(rules.path(), &dir.path().join("rules"));
    super::copy_dir(Path::new("workflows"), &dir.path().join("workflows"));
    dir
}

/// Writes the tokens file and the webhook secret into `dir`.
pub fn write_tokens(dir: &Path) {
    let text: String = TOKENS
        .iter()
        .map(|(name, role, secret)| {
            let sha = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
            format!("- name: {name}\n  role: {role}\n  sha256: {sha}\n")
        })
        .collect();
    std::fs::write(dir.join("tokens.yaml"), text).unwrap();
    std::fs::write(dir.join("hook.secret"), format!("{WEBHOOK}\n")).unwrap();
}

impl Server {
    /// Without a tokens file: every request is the operator `local`.
    pub fn open(now: &str) -> Server {
        Server::start_in(folder(), &[], now)
    }

    /// With [`TOKENS`] and the [`WEBHOOK`] secret.
    pub fn with_tokens(now: &str) -> Server {
        let dir = folder();
        write_tokens(dir.path());
        Server::start_in(dir, &["--tokens", "tokens.yaml"], now)
    }

    pub fn start_in(dir: tempfile::TempDir, args: &[&str], now: &str) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sampleflow"));
        let secret = dir.path().join("hook.secret");
        if secret.exists() {
            cmd.env("SAMPLEFLOW_WEBHOOK_SECRET_FILE", secret);
        }
        let db = super::db_in(dir.path());
        let mut child = cmd
            .current_dir(dir.path())
            .arg("--db")
            .arg(db)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--tick-ms", "100", "--poll-ms", "300", "--out", "out.jsonl"])
            .args(args)
            .env("SAMPLEFLOW_NOW", now)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = Lines::follow(child.stderr.take().unwrap());
        let i = err.wait(0, 1, "listening", |l| l.starts_with("listening on http://"));
        let addr = err.all()[i]
            .trim_start_matches("listening on http://")
            .to_string();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(super::live::TIMEOUT))
            .build()
            .into();
        Server {
            dir,
            child,
            err,
            addr,
            agent,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// The server's store: `s.db` in its folder, or its PostgreSQL database.
    pub fn db(&self) -> PathBuf {
        super::db_in(self.dir.path())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Answer {
        let mut req = self.agent.get(self.url(path));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        answer(req.call())
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &str) -> Answer {
        self.post_with(path, &auth(token), body)
    }

    /// Posts `body`, as JSON unless `headers` name another content type.
    pub fn post_with(&self, path: &str, headers: &[(String, String)], body: &str) -> Answer {
        let mut req = self.agent.post(self.url(path));
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(k, v);
        }
        answer(req.send(body))
    }

    /// Posts event lines as the ingest token (or `local`); the results, one per line.
    pub fn events(&self, token: Option<&str>, lines: &str) -> Vec<Value> {
        let a = self.post("/v1/events", token, lines);
        assert_eq!(a.status, 200, "{}", a.body);
        a.json()["results"].as_array().unwrap().clone()
    }

    pub fn signal(&self, name: &str) {
        super::live::signal(&self.child, name);
    }

    /// SIGTERM and the clean stop: exit 0. Returns the folder and stderr.
    pub fn stop(self) -> (tempfile::TempDir, Vec<String>) {
        self.signal("TERM");
        self.stop_waited()
    }

    /// Waits for the clean stop a signal asked for: exit 0.
    pub fn stop_waited(mut self) -> (tempfile::TempDir, Vec<String>) {
        let status = self.child.wait().unwrap();
        assert!(
            status.success(),
            "{status:?}: {}",
            self.err.all().join("\n")
        );
        let err = self.err.all();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        (dir, err)
    }

    /// kill -9: the folder stays for the next server.
    pub fn kill(mut self) -> tempfile::TempDir {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn auth(token: Option<&str>) -> Vec<(String, String)> {
    token
        .map(|t| vec![("authorization".to_string(), format!("Bearer {t}"))])
        .unwrap_or_default()
}

fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Answer {
    let mut r = r.unwrap_or_else(|e| panic!("request failed: {e}"));
    Answer {
        status: r.status().as_u16(),
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// The signature header of `body` under [`WEBHOOK`] (or another secret).
pub fn signature(secret: &str, body: &str) -> (String, String) {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    (
        "x-sampleflow-signature".into(),
        format!("sha256={}", hex::encode(mac.finalize().into_bytes())),
    )
}
