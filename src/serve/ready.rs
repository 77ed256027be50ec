//! `GET /readyz` and `GET /metrics` (contract "Operating it for a month"): whether the service
//! can do its work now, and the numbers to watch it by.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::{store_error, Shared};

/// `200 {"status":"ready","checks":{...}}` when the store takes writes and, where a connector
/// runs, its last poll succeeded within three `poll_every`; else `503` with `"unready"` and the
/// failing check's message.
pub(super) async fn readyz(State(app): State<Shared>) -> Response {
    let mut checks = Map::new();
    let mut ready = true;
    let mut check = |name: &str, result: Result<String, String>| {
        let (status, message) = match result {
            Ok(m) => ("ok", m),
            Err(m) => {
                ready = false;
                ("failing", m)
            }
        };
        checks.insert(name.into(), json!({"status": status, "message": message}));
    };
    check("store", app.health.store());
    if let Some(cluster) = &app.cluster {
        check("cluster", cluster.ready());
    }
    if app.stopping.load(std::sync::atomic::Ordering::SeqCst) {
        check("serve", Err("the server is stopping".into()));
    }
    // One connector is the check `connector`; several, one `connector:SHOP` each; beside
    // each, its last success, failures in a row, token expiry and outbox.
    let mut details = Vec::new();
    for connector in &app.connectors {
        let name = if app.connectors.len() == 1 {
            "connector".to_string()
        } else {
            format!("connector:{}", connector.shop())
        };
        check(&name, connector.ready());
        details.push((name, connector.details()));
    }
    for (name, detail) in details {
        if let (Some(Value::Object(c)), Value::Object(d)) = (checks.get_mut(&name), detail) {
            c.extend(d);
        }
    }
    let status = if ready { "ready" } else { "unready" };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let message = checks
        .values()
        .filter(|c| c["status"] == "failing")
        .filter_map(|c| c["message"].as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let mut body = json!({"status": status, "checks": checks});
    if !ready {
        body["message"] = Value::String(message);
    }
    (code, Json(body)).into_response()
}

/// What `/metrics` reads from the store at each scrape.
struct Scrape {
    states: Vec<(String, u64)>,
    pending: usize,
    oldest: Option<chrono::DateTime<chrono::Utc>>,
    outbox: Vec<(String, u64)>,
}

/// The outbox's statuses, each listed even when no call is in it.
const OUTBOX: [&str; 5] = ["queued", "sending", "sent", "held", "failed"];

/// Prometheus text. Samples per state (every state of the workflows, 0 where none is), the
/// review queue and the outbox are read from the store at each scrape.
pub(super) async fn metrics(State(app): State<Shared>) -> Response {
    let scraped = app
        .read(crate::model::DEFAULT_SHOP, |app, store| {
            let counts = store.state_counts().map_err(store_error)?;
            let mut states: Vec<(String, u64)> = Vec::new();
            let graphs = app.graphs(store.shop());
            for g in graphs.iter() {
                for s in &g.workflow().states {
                    if !states.iter().any(|(n, _)| *n == s.name.value) {
                        states.push((s.name.value.clone(), 0));
                    }
                }
            }
            for (state, n) in counts {
                match states.iter_mut().find(|(s, _)| *s == state) {
                    Some(slot) => slot.1 = n,
                    None => states.push((state, n)),
                }
            }
            let items = crate::analysis::queue::items_json(&graphs, store).map_err(store_error)?;
            let oldest = items
                .iter()
                .filter_map(|i| i["requested_at"].as_str())
                .filter_map(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
                .min();
            let mut outbox: Vec<(String, u64)> =
                OUTBOX.iter().map(|s| (s.to_string(), 0)).collect();
            if let Ok(sqlite) = crate::store::open_read(&app.config.db) {
                for call in sqlite.outbox().unwrap_or_default() {
                    match outbox.iter_mut().find(|(s, _)| *s == call.state) {
                        Some(slot) => slot.1 += 1,
                        None => outbox.push((call.state, 1)),
                    }
                }
            }
            Ok(Scrape {
                states,
                pending: items.len(),
                oldest,
                outbox,
            })
        })
        .await;
    if let Ok(scrape) = scraped {
        for (state, n) in scrape.states {
            metrics::gauge!("sampleflow_samples", "state" => state).set(n as f64);
        }
        metrics::gauge!("sampleflow_queue_pending").set(scrape.pending as f64);
        let now = crate::session::live::wall_now();
        let age = scrape
            .oldest
            .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1e3);
        metrics::gauge!("sampleflow_queue_oldest_seconds").set(age);
        for (status, n) in scrape.outbox {
            metrics::gauge!("sampleflow_outbox", "status" => status).set(n as f64);
        }
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}
