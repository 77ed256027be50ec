//! The TikTok connector beside a live session (`serve`): a thread that polls every
//! `poll_every`, and at once when a webhook comes, handing the events it finds to the runner
//! like any other input, then delivering the outbox. A webhook ([`Connector::webhook`]) is
//! checked against the platform's signature (HMAC of the app key and the raw body, constant
//! time): refused and nothing done when it fails; a notification id seen before is acknowledged
//! and ignored. A webhook is a reason to poll now, never the truth: the poll is.
//!
//! Each shop of a deployment runs its own connector: its thread, its store handle on that shop,
//! its polled lines handed to the runner as that shop's; a webhook goes to the connector whose
//! config names the body's `shop_id` ([`route`]).

use std::collections::{HashSet, VecDeque};
use std::sync::mpsc::{RecvTimeoutError, Sender, SyncSender};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

use super::cycle::{poll, sales, settle, summary, Cycle};
use super::map::Catalog;
use super::platform::Client;
use super::{sign, Config};
use crate::session::live::{wall_now, Ingest, Msg};
use crate::watch::Posted;

/// Notification ids remembered for deduplication.
const SEEN_KEPT: usize = 10_000;

/// The connector's thread and what its webhooks share.
pub struct Connector {
    /// The shop it keeps in step.
    shop: String,
    /// The platform's id of that shop, from the config.
    shop_id: Option<String>,
    poll_now: Mutex<Sender<()>>,
    /// How the polls go, for `/readyz`.
    polls: std::sync::Arc<Mutex<Polls>>,
    poll_every: i64,
    /// In a cluster: set while the shop is owned here (none: always).
    gate: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    seen: Mutex<(HashSet<String>, VecDeque<String>)>,
    app_key: String,
    secret: crate::connect::Secret,
}

/// The connector's last polls.
#[derive(Debug, Default)]
struct Polls {
    last_success: Option<chrono::DateTime<chrono::Utc>>,
    last_error: Option<String>,
    /// Polls that failed since the last that succeeded.
    failures: u64,
    /// The access token could not be refreshed: unready until a poll succeeds.
    token_error: Option<String>,
    token_expiry: Option<i64>,
    /// The outbox after the last poll: kind, status, calls.
    outbox: Vec<(String, String, u64)>,
}

/// True when a cycle's error is a refresh the platform refused (or could not make).
fn is_token_error(e: &str) -> bool {
    e.contains("the access token could not be refreshed")
        || e.contains("no `refresh_token_file` is configured")
}

impl Connector {
    /// The shop it keeps in step.
    pub fn shop(&self) -> &str {
        &self.shop
    }

    /// Ready when the last poll succeeded within three `poll_every` (on the wall clock).
    pub fn ready(&self) -> Result<String, String> {
        if self
            .gate
            .as_ref()
            .is_some_and(|g| !g.load(std::sync::atomic::Ordering::SeqCst))
        {
            return Ok("the shop is owned by another instance of the cluster, which polls".into());
        }
        let polls = self
            .polls
            .lock()
            .map_err(|_| "the connector's state is unreadable".to_string())?;
        let now = wall_now();
        let window = chrono::Duration::seconds(3 * self.poll_every.max(1));
        let at =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if let Some(e) = &polls.token_error {
            return Err(format!("{e}; {} polls failed in a row", polls.failures));
        }
        match (polls.last_success, &polls.last_error) {
            (Some(t), _) if now - t <= window => Ok(format!("last poll succeeded at {}", at(t))),
            (last, error) => Err(format!(
                "no poll has succeeded {}{}",
                match last {
                    Some(t) => format!("since {} (more than three poll_every)", at(t)),
                    None => "yet".to_string(),
                },
                error
                    .as_ref()
                    .map(|e| format!("; the last failed: {e}"))
                    .unwrap_or_default()
            )),
        }
    }

    /// What `/readyz` shows of the connector beside its check: last success, failures in a row,
    /// the access token's expiry, the outbox by kind and status.
    pub fn details(&self) -> serde_json::Value {
        let Ok(p) = self.polls.lock() else {
            return serde_json::Value::Null;
        };
        let at =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut outbox = serde_json::Map::new();
        for (kind, status, n) in &p.outbox {
            let entry = outbox
                .entry(kind.clone())
                .or_insert_with(|| serde_json::json!({}));
            entry[status] = serde_json::json!(n);
        }
        serde_json::json!({
            "last_success": p.last_success.map(at),
            "consecutive_failures": p.failures,
            "token_expires_at": p.token_expiry
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .map(at),
            "outbox": outbox,
        })
    }

    /// Starts the connector of `shop`, on a thread of its own.
    pub fn start(
        db: std::path::PathBuf,
        shop: String,
        config: Config,
        catalog: Catalog,
        runner: SyncSender<Msg>,
        gate: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    ) -> Connector {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let polls = std::sync::Arc::new(Mutex::new(Polls::default()));
        for result in ["ok", "error"] {
            metrics::counter!("sampleflow_connector_polls_total", "result" => result).absolute(0);
        }
        metrics::gauge!("sampleflow_connector_last_success_seconds").set(0.0);
        let connector = Connector {
            shop: shop.clone(),
            shop_id: config.shop_id.clone(),
            poll_now: Mutex::new(tx),
            polls: polls.clone(),
            poll_every: config.poll_every,
            gate: gate.clone(),
            seen: Mutex::new((HashSet::new(), VecDeque::new())),
            app_key: config.app_key.clone(),
            secret: config.app_secret.clone(),
        };
        let every = Duration::from_secs(config.poll_every.max(1) as u64);
        std::thread::spawn(move || {
            let client = Client::new(config.clone());
            loop {
                // In a cluster, only the shop's owner polls and delivers its outbox.
                let open = || {
                    gate.as_ref()
                        .is_none_or(|g| g.load(std::sync::atomic::Ordering::SeqCst))
                };
                if !open() {
                    match rx.recv_timeout(Duration::from_millis(200)) {
                        Err(RecvTimeoutError::Disconnected) => return,
                        _ => continue,
                    }
                }
                let result = cycle(&db, &shop, &config, &catalog, &client, &runner);
                let now = wall_now();
                if let Ok(mut p) = polls.lock() {
                    match &result {
                        Ok(c) => {
                            p.last_success = Some(now);
                            p.last_error = None;
                            p.failures = 0;
                            p.token_error = None;
                            p.outbox = c.outbox.clone();
                        }
                        Err(e) => {
                            p.last_error = Some(e.clone());
                            p.failures += 1;
                            if is_token_error(e) {
                                p.token_error = Some(e.clone());
                            }
                        }
                    }
                    p.token_expiry = client.token_expiry().or(p.token_expiry);
                    metrics::gauge!("sampleflow_connector_consecutive_failures", "shop" => shop.clone())
                        .set(p.failures as f64);
                    if let Some(t) = p.token_expiry {
                        metrics::gauge!("sampleflow_connector_token_expiry_seconds", "shop" => shop.clone())
                            .set(t as f64);
                    }
                    for (kind, status, n) in &p.outbox {
                        metrics::gauge!("sampleflow_connector_outbox", "shop" => shop.clone(),
                            "kind" => kind.clone(), "status" => status.clone())
                        .set(*n as f64);
                    }
                }
                match result {
                    Ok(c) => {
                        metrics::counter!("sampleflow_connector_polls_total", "result" => "ok")
                            .increment(1);
                        metrics::gauge!("sampleflow_connector_last_success_seconds")
                            .set(now.timestamp() as f64);
                        eprintln!("{}{}", shop_said(&shop), summary(&c));
                    }
                    Err(e) => {
                        metrics::counter!("sampleflow_connector_polls_total", "result" => "error")
                            .increment(1);
                        eprintln!(
                            "{}connect: {e}; tried again at the next poll",
                            shop_said(&shop)
                        );
                    }
                }
                match rx.recv_timeout(every) {
                    Ok(()) | Err(RecvTimeoutError::Timeout) => {
                        // Webhooks that came together make one poll.
                        while rx.try_recv().is_ok() {}
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        });
        connector
    }
}

/// `shop <shop>: ` before the log lines of a shop other than `default` (those of `default` as
/// they were before shops).
fn shop_said(shop: &str) -> String {
    if shop == crate::model::DEFAULT_SHOP {
        String::new()
    } else {
        format!("shop {shop}: ")
    }
}

/// One poll of `shop`, its events through the runner (answered once committed), and the outbox.
fn cycle(
    db: &std::path::Path,
    shop: &str,
    config: &Config,
    catalog: &Catalog,
    client: &Client,
    runner: &SyncSender<Msg>,
) -> Result<Cycle, String> {
    let mut side = crate::store::open(db).map_err(|e| e.to_string())?;
    side.set_shop(shop);
    let found = poll(client, config, catalog, &mut side)?;
    let mut c = found.counts();
    hand(shop, &found.lines, runner)?;
    // Sales once the poll's content is applied: a video posted in this poll counts at once.
    match sales(client, config, &mut side, found.at) {
        Ok(sold) => {
            c.add_applied(sold.len());
            hand(shop, &sold, runner)?;
        }
        Err(e) => eprintln!(
            "{}connect: {e}; read again at the next poll",
            shop_said(shop)
        ),
    }
    settle(client, config, &mut side, &found.apps, &mut c).map_err(|e| e.to_string())?;
    Ok(c)
}

/// Hands event lines to the runner as `shop`'s, and waits until they are committed.
fn hand(shop: &str, lines: &[String], runner: &SyncSender<Msg>) -> Result<(), String> {
    if lines.is_empty() {
        return Ok(());
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    let posted = Posted::made(lines).map_err(|_| "the poll's events make no body".to_string())?;
    runner
        .send(Msg::Polled(Ingest {
            posted,
            reply,
            shop: shop.to_string(),
        }))
        .map_err(|_| "the runner has stopped".to_string())?;
    answer
        .blocking_recv()
        .map_err(|_| "the runner stopped before committing the poll".to_string())?;
    Ok(())
}

/// What a webhook came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Webhook {
    /// The signature does not verify: nothing was done.
    Unsigned,
    /// The body is not JSON.
    NotJson,
    /// A notification seen before: acknowledged, nothing done.
    Duplicate,
    /// A poll was asked for.
    Polling,
}

/// The connector a webhook body is for: the one whose config names the body's `shop_id`; else,
/// when one connector runs and its config names no `shop_id`, that one (a deployment of one
/// shop, configured before shops). `None`: no connector here is the body's.
pub fn route<'a>(connectors: &'a [Connector], body: &[u8]) -> Option<&'a Connector> {
    let shop_id = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["shop_id"].as_str().map(str::to_string));
    if let Some(id) = &shop_id {
        if let Some(c) = connectors
            .iter()
            .find(|c| c.shop_id.as_deref() == Some(id.as_str()))
        {
            return Some(c);
        }
    }
    match connectors {
        [only] if only.shop_id.is_none() => Some(only),
        _ => None,
    }
}

impl Connector {
    /// A webhook of the platform: its `Authorization` header (the signature) and raw body.
    pub fn webhook(&self, signature: Option<&str>, body: &[u8]) -> Webhook {
        let signed = signature.is_some_and(|sig| {
            sign::webhook_verifies(self.secret.expose(), &self.app_key, body, sig)
        });
        if !signed {
            return Webhook::Unsigned;
        }
        let Ok(note) = serde_json::from_slice::<Value>(body) else {
            return Webhook::NotJson;
        };
        let id = note["tts_notification_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let fresh = match self.seen.lock() {
            Ok(mut seen) => {
                let (set, order) = &mut *seen;
                let fresh = id.is_empty() || set.insert(id.clone());
                if fresh && !id.is_empty() {
                    order.push_back(id);
                    while order.len() > SEEN_KEPT {
                        if let Some(old) = order.pop_front() {
                            set.remove(&old);
                        }
                    }
                }
                fresh
            }
            Err(_) => true,
        };
        if !fresh {
            return Webhook::Duplicate;
        }
        if let Ok(tx) = self.poll_now.lock() {
            let _ = tx.send(());
        }
        Webhook::Polling
    }
}
