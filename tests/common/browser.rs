//! A real browser for the console's tests: Debian's Chromium driven by chromedriver (WebDriver,
//! through fantoccini), signing in, waiting on page states, screenshots, and the axe-core
//! accessibility scan injected into a page.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::serve::Server;

/// A chromedriver on a free port of loopback, stopped when dropped.
pub struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian's chromium-driver; .ci/run installs it)");
    let lines = super::live::Lines::follow(child.stdout.take().unwrap());
    lines.wait(0, 1, "chromedriver to start", |l| {
        l.contains("started successfully")
    });
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: tempfile::tempdir().unwrap(),
    }
}

pub async fn browser(driver: &Driver) -> Client {
    started(driver, None).await
}

/// A browser as a phone shows pages: 412 CSS pixels wide (Chromium's mobile emulation, which
/// honours the page's viewport tag as a phone does).
pub async fn phone(driver: &Driver) -> Client {
    started(driver, Some((412, 915))).await
}

async fn started(driver: &Driver, phone: Option<(u32, u32)>) -> Client {
    let profile = driver._profile.path().display().to_string();
    let mut caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1400,820",
                format!("--user-data-dir={profile}"),
            ]
        }
    });
    if let Some((width, height)) = phone {
        caps["goog:chromeOptions"]["mobileEmulation"] = json!({
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0},
        });
    }
    let caps = caps.as_object().unwrap().clone().into_iter().collect();
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Waits until `f` holds, checking every 50 ms (an observable page state, never a bare sleep).
pub async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !f().await {
        assert!(
            started.elapsed() < super::live::TIMEOUT,
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn sign_in(c: &Client, s: &Server, token: &str) {
    c.goto(&s.url("/queue")).await.unwrap();
    // Not signed in: the console sends the browser to its login page.
    assert!(c.current_url().await.unwrap().path().ends_with("/login"));
    submit_token(c, token).await;
    c.wait().for_element(Locator::Id("who")).await.unwrap();
}

/// On the login page: types `token` and signs in.
pub async fn submit_token(c: &Client, token: &str) {
    type_into(c, Locator::Id("token"), token).await;
    click(c, Locator::Id("sign-in")).await;
}

/// Clicks the element `at` finds on the page.
pub async fn click(c: &Client, at: Locator<'_>) {
    c.find(at).await.unwrap().click().await.unwrap();
}

/// Types `text` into the element `at` finds on the page.
pub async fn type_into(c: &Client, at: Locator<'_>, text: &str) {
    c.find(at).await.unwrap().send_keys(text).await.unwrap();
}

/// Changes the page as a forger would (`script`), then presses `button`.
pub async fn tamper_and_click(c: &Client, script: &str, button: &str) {
    c.execute(script, vec![]).await.unwrap();
    click(c, Locator::Css(button)).await;
}

pub fn shot(name: &str, png: &[u8]) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), png).unwrap();
    if std::env::var_os("SAMPLEFLOW_DOCS_SCREENSHOTS").is_some() {
        std::fs::write(std::path::Path::new("docs").join(name), png).unwrap();
    }
}

/// Where the tests read axe-core (`scripts/test.sh` fetches it from the npm registry).
pub fn axe_path() -> std::path::PathBuf {
    std::env::var_os("SAMPLEFLOW_AXE").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/axe-core/axe.min.js"),
        std::path::PathBuf::from,
    )
}

/// Runs axe-core on the page shown and gives its serious and critical violations (rule, impact,
/// help, the first nodes). Without axe-core it fails: `bash scripts/test.sh` fetches it.
pub async fn axe_serious(c: &Client) -> Vec<serde_json::Value> {
    let path = axe_path();
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is not at {} ({e}); `bash scripts/test.sh` fetches it from the npm registry",
            path.display()
        )
    });
    c.execute(&source, vec![]).await.unwrap();
    let found = c
        .execute_async(
            "var done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']}).then(function (r) {
               done(r.violations.map(function (v) {
                 return {id: v.id, impact: v.impact, help: v.help,
                         nodes: v.nodes.slice(0, 3).map(function (n) { return n.target.join(' '); })};
               }));
             }).catch(function (e) { done({error: String(e)}); });",
            vec![],
        )
        .await
        .unwrap();
    let list = found
        .as_array()
        .unwrap_or_else(|| panic!("axe-core failed: {found}"))
        .clone();
    list.into_iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect()
}
