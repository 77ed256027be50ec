//! The TikTok connector inside `serve`: a thread that polls every `poll_every`, and at once when
//! a webhook comes, handing the events it finds to the runner like any other input, then
//! delivering the outbox. `POST /v1/tiktok/webhook` checks the platform's signature (HMAC of
//! the app key and the raw body, constant time): 401 and nothing done when it fails; a
//! notification id seen before is acknowledged and ignored. A webhook is a reason to poll now,
//! never the truth: the poll is.

use std::collections::{HashSet, VecDeque};
use std::sync::mpsc::{RecvTimeoutError, Sender, SyncSender};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::super::connect::{poll, settle, summary, Cycle};
use super::{body_bytes, error, Shared};
use crate::connect::map::Catalog;
use crate::connect::platform::Client;
use crate::connect::{sign, Config};
use crate::store::SqliteStore;
use crate::watch::{Ingest, Msg};

/// Notification ids remembered for deduplication.
const SEEN_KEPT: usize = 10_000;

pub(crate) struct Connector {
    poll_now: Mutex<Sender<()>>,
    seen: Mutex<(HashSet<String>, VecDeque<String>)>,
    app_key: String,
    secret: crate::connect::Secret,
}

impl Connector {
    /// Starts the connector's thread.
    pub fn start(
        db: std::path::PathBuf,
        config: Config,
        catalog: Catalog,
        runner: SyncSender<Msg>,
    ) -> Connector {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let connector = Connector {
            poll_now: Mutex::new(tx),
            seen: Mutex::new((HashSet::new(), VecDeque::new())),
            app_key: config.app_key.clone(),
            secret: config.app_secret.clone(),
        };
        let every = Duration::from_secs(config.poll_every.max(1) as u64);
        std::thread::spawn(move || {
            let client = Client::new(config.clone());
            loop {
                match cycle(&db, &config, &catalog, &client, &runner) {
                    Ok(c) => eprintln!("{}", summary(&c)),
                    Err(e) => eprintln!("connect: {e}; tried again at the next poll"),
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

/// One poll, its events through the runner (answered once committed), and the outbox.
fn cycle(
    db: &std::path::Path,
    config: &Config,
    catalog: &Catalog,
    client: &Client,
    runner: &SyncSender<Msg>,
) -> Result<Cycle, String> {
    let mut side = SqliteStore::open(db).map_err(|e| e.to_string())?;
    let found = poll(client, config, catalog, &mut side)?;
    let mut c = found.counts();
    if !found.lines.is_empty() {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let lines = found.lines.iter().map(|l| l.clone().into_bytes()).collect();
        runner
            .send(Msg::Http(Ingest { lines, reply }))
            .map_err(|_| "the runner has stopped".to_string())?;
        answer
            .blocking_recv()
            .map_err(|_| "the runner stopped before committing the poll".to_string())?;
    }
    settle(client, config, &mut side, &found.apps, &mut c).map_err(|e| e.to_string())?;
    Ok(c)
}

/// `POST /v1/tiktok/webhook`.
pub(super) async fn webhook(State(app): State<Shared>, req: Request) -> Response {
    let Some(connector) = &app.connector else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no TikTok connector runs here (connectors/tiktok.yaml or --connector FILE)",
        );
    };
    let signature = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match body_bytes(req.into_body()).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let signed = signature.is_some_and(|sig| {
        sign::webhook_verifies(connector.secret.expose(), &connector.app_key, &body, &sig)
    });
    if !signed {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the webhook's signature does not verify: nothing was done",
        );
    }
    let Ok(note) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the webhook's body is not JSON",
        );
    };
    let id = note["tts_notification_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let fresh = match connector.seen.lock() {
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
        return Json(json!({"status": "duplicate"})).into_response();
    }
    if let Ok(tx) = connector.poll_now.lock() {
        let _ = tx.send(());
    }
    Json(json!({"status": "polling"})).into_response()
}
