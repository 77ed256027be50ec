//! The service behind `sampleflow serve`: everything `watch` does, and HTTP: an authenticated
//! JSON API and a console for people. It takes a [`ServeConfig`] and a live session ready to run
//! ([`Live`]: the program, the store and its writer lock), never the command line.
//!
//! The runner stays the store's one writer, on a thread of its own, exactly as in `watch`.
//! HTTP handlers (axum on tokio) hand it the lines they were posted ([`Msg::Posted`]) and answer
//! once the batch holding them is committed: requests that arrive together share one
//! transaction, and a 200 means durable. Reads go to read-only connections of their own and see
//! what is committed, by the live program's workflows and rules (never reloaded from disk per
//! request).

// Handlers refuse with the response itself (`Result<_, Response>`, axum's idiom); boxing each
// would cost an allocation per refusal for nothing.
#![allow(clippy::result_large_err)]

mod api;
mod auth;
pub(crate) mod client;
mod cluster;
mod console;
mod layers;
mod ready;
mod server;
mod tokens;

use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use std::path::PathBuf;

use crate::graph::WorkflowGraph;
use crate::session::live::{watch, Channels, Ingest, Msg};
use crate::store::Store;
use crate::watch::{Health, Posted, ReloadRequest as Reload};

pub use auth::{Permission, Principal};
pub use cluster::{parse_ttl, ClusterConfig};

/// What the service is asked to do: where it listens and what it reads beside the live session.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The address to answer HTTP on (port 0 picks a free port, said on stderr).
    pub listen: SocketAddr,
    /// The tokens file (none: open mode, loopback only, every request the operator `local`).
    pub tokens: Option<PathBuf>,
    /// Seconds a request may take before it is answered 408.
    pub request_timeout: u64,
    /// Connections open at once at most.
    pub max_connections: usize,
    /// The TikTok connectors that run here: each shop's config (`shops/<shop>/connectors/
    /// tiktok.yaml`, or `--connector FILE` for the `--shop` shop), by shop.
    pub connectors: Vec<(String, PathBuf)>,
    /// The store (read-only connections for reads, console sessions, the connector's side).
    pub db: PathBuf,
    /// `--cluster`: this is one instance of a cluster on `db` (PostgreSQL).
    pub cluster: Option<ClusterConfig>,
}

/// A live session ready to run: the program, the store (its writer lock held), the output and
/// the session's options.
pub struct Live {
    /// Every shop's program.
    pub programs: Vec<crate::runtime::Program>,
    /// The shop of `--shop`: the session's run state is kept under it.
    pub home: String,
    /// The store, this process its one writer.
    pub store: Box<dyn Store>,
    /// The session's options.
    pub options: crate::session::live::WatchOptions,
    /// Where records go.
    pub out: Box<dyn Write + Send>,
    /// The session's queues.
    pub channels: crate::session::live::Channels,
    /// The store's writer lock, held while the session runs (none in a cluster: leases stand
    /// for it, shop by shop).
    pub lock: Option<crate::store::WriterLock>,
}

/// Why the service did not start or ended badly; each said after `error: `.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Bad usage: nothing was started.
    #[error("{0}")]
    Usage(String),
    /// The service failed.
    #[error("{0}")]
    Failed(String),
    /// An I/O error of the process itself.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The largest body a request may have: 8 MiB.
pub const BODY_LIMIT: usize = 8 << 20;

/// What every handler shares.
pub(crate) struct App {
    pub config: ServeConfig,
    /// The runner's queue.
    pub tx: std::sync::mpsc::SyncSender<Msg>,
    /// Set once a stop signal came: every request is then answered 503.
    pub stopping: AtomicBool,
    /// The tokens file, read again on SIGHUP and when it changes (none: open mode).
    pub tokens: Option<tokens::Keys>,
    pub secret: Option<auth::Secret>,
    /// The port served, for open mode's `Origin` check.
    pub port: u16,
    /// Whether the session takes writes.
    pub health: Arc<Health>,
    pub metrics: PrometheusHandle,
    /// The last lines the session said about reloads, newest last.
    pub reloads: Arc<Mutex<VecDeque<String>>>,
    pub console: console::Console,
    /// The TikTok connectors that run here, one per shop that has one.
    pub connectors: Vec<crate::connect::webhook::Connector>,
    /// In a cluster: who owns which shop, where writes go.
    pub cluster: Option<Arc<cluster::Cluster>>,
}

type Shared = Arc<App>;

/// An error answer: `{"error": KIND, "message": TEXT}`.
pub(crate) fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(json!({"error": kind, "message": message.into()})),
    )
        .into_response()
}

impl App {
    /// Who sent this request on `shop`, if they may do there what `needed` allows: a bearer
    /// token, or for `Permission::Ingest` a signed `body`; the local operator when serve runs
    /// without tokens. `body` is `None` where it is not read yet (a bearer token is checked
    /// before any work). Who it is comes first (401), then the shop (404 when the session does
    /// not run it, 403 when it is outside the principal's shops), then the role (403).
    pub fn authorize_in(
        &self,
        headers: &HeaderMap,
        needed: Permission,
        body: Option<&[u8]>,
        shop: &str,
    ) -> Result<Principal, Response> {
        let principal = self.authenticate(headers, needed, body)?;
        self.may_enter(&principal, shop)?;
        if !principal.role.allows(needed) {
            return Err(error(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "`{}` is {}; this needs {}",
                    principal.name,
                    article(principal.role),
                    article(needed)
                ),
            ));
        }
        Ok(principal)
    }

    /// Who sent this request: 401 when nobody valid.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        needed: Permission,
        body: Option<&[u8]>,
    ) -> Result<Principal, Response> {
        let Some(keys) = &self.tokens else {
            return Ok(Principal::local());
        };
        let tokens = keys.current();
        let bearer = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").unwrap_or("").trim());
        let principal = match bearer {
            Some(token) => tokens.find(token),
            None => match (needed, headers.get(SIGNATURE), &self.secret, body) {
                (Permission::Ingest, Some(sig), Some(secret), Some(body)) => sig
                    .to_str()
                    .is_ok_and(|sig| secret.verifies(sig, body))
                    .then(Principal::signed),
                _ => None,
            },
        };
        principal.ok_or_else(|| {
            error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "no valid bearer token or body signature: nothing was applied",
            )
        })
    }

    /// True when the session runs `shop`.
    pub fn runs(&self, shop: &str) -> bool {
        self.health.shops().iter().any(|s| s == shop)
    }

    /// The shops the session runs that `principal` may act on, in order (the console's picker).
    pub fn shops_of(&self, principal: &Principal) -> Vec<String> {
        self.health
            .shops()
            .into_iter()
            .filter(|s| principal.shops.allows(s))
            .collect()
    }

    /// `principal` may act on `shop`: 404 `not_found` when the session does not run it (said
    /// first), 403 `forbidden` when it is outside the principal's shops.
    pub fn may_enter(&self, principal: &Principal, shop: &str) -> Result<(), Response> {
        if !self.runs(shop) {
            return Err(error(
                StatusCode::NOT_FOUND,
                "not_found",
                unknown_shop(shop),
            ));
        }
        if !principal.shops.allows(shop) {
            return Err(error(
                StatusCode::FORBIDDEN,
                "forbidden",
                outside_shops(principal, shop),
            ));
        }
        Ok(())
    }

    /// True when a request that needs a signature may wait to be authenticated until its body
    /// is read: no bearer token was given and a signature was.
    pub fn signed(&self, headers: &HeaderMap) -> bool {
        self.tokens.is_some()
            && headers.get(axum::http::header::AUTHORIZATION).is_none()
            && headers.get(SIGNATURE).is_some()
    }

    /// 503 while stopping.
    pub fn refuse_if_stopping(&self) -> Result<(), Response> {
        if self.stopping.load(Ordering::SeqCst) {
            Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the server is stopping; nothing was applied, try again when it is back",
            ))
        } else {
            Ok(())
        }
    }

    /// Hands lines to the runner and waits until they are committed; the answer is
    /// `{"results":[...]}` as bytes. `None`: the session stopped before it took them, so nothing
    /// of them was acknowledged.
    /// Lines that name no shop belong to `shop`.
    pub async fn apply(&self, posted: Posted, shop: &str) -> Option<Vec<u8>> {
        if let Some(cluster) = &self.cluster {
            return cluster.apply_split(posted, shop, |s| self.runs(s)).await;
        }
        hand(&self.tx, posted, shop).await
    }

    /// A read-only connection to the store, its reads on `shop`, on a blocking thread.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        shop: &str,
        f: impl FnOnce(&App, &mut dyn Store) -> Result<T, Response> + Send + 'static,
    ) -> Result<T, Response> {
        let app = self.clone();
        let shop = shop.to_string();
        let joined = tokio::task::spawn_blocking(move || {
            let mut store = crate::store::open_read(&app.config.db).map_err(|e| {
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "store",
                    format!("cannot read the store: {e}"),
                )
            })?;
            store.set_shop(&shop);
            f(&app, &mut *store)
        })
        .await;
        joined.unwrap_or_else(|e| {
            Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the read failed: {e}"),
            ))
        })
    }
}

impl App {
    /// The workflows of `shop`'s live program, in the order of their files: the reads go by
    /// them (none before the session starts).
    pub fn graphs(&self, shop: &str) -> Arc<Vec<WorkflowGraph>> {
        self.health
            .program(shop)
            .map(|p| p.graphs)
            .unwrap_or_default()
    }

    /// The rules of `shop`'s live program (none before the session starts).
    pub fn rules(&self, shop: &str) -> Option<Arc<crate::RuleSet>> {
        self.health.program(shop).map(|p| p.rules)
    }

    /// A store error of a read, as the command line says it.
    pub fn store_said(&self, e: crate::store::StoreError) -> String {
        format!("`{}`: {e}", crate::store::shown(&self.config.db))
    }
}

/// Hands lines to a session's runner and waits until they are committed (`None`: the session
/// ended before it committed them).
pub(crate) async fn hand(
    tx: &std::sync::mpsc::SyncSender<Msg>,
    posted: Posted,
    shop: &str,
) -> Option<Vec<u8>> {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let msg = Msg::Posted(Ingest {
        posted,
        reply,
        shop: shop.to_string(),
    });
    match tx.try_send(msg) {
        Ok(()) => {}
        Err(std::sync::mpsc::TrySendError::Full(msg)) => {
            // The runner is behind: wait for room off the async threads.
            let tx = tx.clone();
            let sent = tokio::task::spawn_blocking(move || tx.send(msg).is_ok()).await;
            if !matches!(sent, Ok(true)) {
                return None;
            }
        }
        Err(std::sync::mpsc::TrySendError::Disconnected(_)) => return None,
    }
    answer.await.ok()
}

/// What a 404 for a shop the session does not run says.
pub(crate) fn unknown_shop(shop: &str) -> String {
    format!("no shop `{shop}` runs here")
}

/// What a 403 for a shop outside a principal's shops says.
pub(crate) fn outside_shops(principal: &Principal, shop: &str) -> String {
    let mine = match &principal.shops {
        auth::Shops::All => "every shop".to_string(),
        auth::Shops::Only(names) => names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", "),
    };
    format!("`{}` acts on {mine}, not on shop `{shop}`", principal.name)
}

fn article(role: Permission) -> String {
    match role {
        Permission::Ingest | Permission::Operator => format!("an `{}`", role.as_str()),
        Permission::Viewer => "a `viewer`".into(),
    }
}

/// The header of a signed body.
pub const SIGNATURE: &str = "x-sampleflow-signature";

/// A store error as a 500.
pub(crate) fn store_error(e: crate::store::StoreError) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "store",
        format!("cannot read the store: {e}"),
    )
}

/// Reads a body of at most [`BODY_LIMIT`]: 413 `too_large` beyond it.
pub(crate) async fn body_bytes(body: Body) -> Result<bytes::Bytes, Response> {
    use http_body_util::BodyExt;
    match http_body_util::Limited::new(body, BODY_LIMIT)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("cannot read the body: {e}"),
        )),
    }
}

pub(crate) fn too_large() -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!(
            "the body is over {} MiB; send the events in smaller batches",
            BODY_LIMIT >> 20
        ),
    )
}

/// One structured line per request on stderr (method, route, status, ms), and the request's
/// time in `sampleflow_request_seconds`. The route is the matched pattern, so no id, token or
/// query string reaches the log.
async fn observe(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)".to_string(), |p| p.as_str().to_string());
    let response = next.run(req).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    metrics::histogram!("sampleflow_request_seconds", "route" => route.clone(), "status" => status.to_string())
        .record(elapsed.as_secs_f64());
    // Written by the log's own thread: a handler never waits on stderr.
    tracing::info!(
        target: "http",
        method,
        route,
        status,
        ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3
    );
    response
}

/// Early refusals that need only the headers: a body announced over the limit is 413 before a
/// byte of it is read.
async fn guard(State(app): State<Shared>, req: Request, next: Next) -> Response {
    let announced = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > BODY_LIMIT as u64) {
        return too_large();
    }
    if req.uri().path() != "/healthz" {
        if let Err(r) = app.refuse_if_stopping() {
            return r;
        }
    }
    next.run(req).await
}

fn router(app: Shared, timeout: Duration) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(layers::console_headers(console::routes()))
        .route(
            "/v1/tiktok/webhook",
            axum::routing::post(api::tiktok_webhook),
        )
        .fallback(layers::not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            layers::open_mode,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(axum::middleware::from_fn(layers::json_errors))
        .layer(axum::middleware::from_fn(observe))
        .layer(layers::common_headers())
        .with_state(app)
}

/// The recorder of `/metrics`, with the series the contract names present from the start.
fn recorder() -> Result<PrometheusHandle, String> {
    let buckets = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full("sampleflow_request_seconds".into()), &buckets)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())?;
    metrics::describe_counter!(
        "sampleflow_events_total",
        "events read, by result: applied or the refusal's kind"
    );
    metrics::describe_counter!("sampleflow_deadlines_fired_total", "deadlines fired");
    metrics::describe_gauge!("sampleflow_samples", "samples in the store, by state");
    metrics::describe_counter!(
        "sampleflow_reloads_total",
        "live reloads of rules, policy and workflows, by result"
    );
    metrics::describe_histogram!(
        "sampleflow_request_seconds",
        metrics::Unit::Seconds,
        "HTTP requests, by route and status"
    );
    metrics::counter!("sampleflow_events_total", "result" => "applied").absolute(0);
    metrics::counter!("sampleflow_deadlines_fired_total").absolute(0);
    for result in ["applied", "refused"] {
        metrics::counter!("sampleflow_reloads_total", "result" => result).absolute(0);
    }
    metrics::describe_gauge!(
        "sampleflow_queue_pending",
        "samples waiting for a reviewer's decision"
    );
    metrics::describe_gauge!(
        "sampleflow_queue_oldest_seconds",
        "how long the oldest sample in the review queue has waited since its request, on the wall clock"
    );
    metrics::describe_gauge!(
        "sampleflow_outbox",
        "platform calls in the outbox, by status"
    );
    metrics::describe_counter!(
        "sampleflow_connector_polls_total",
        "connector polls, by result: ok or error"
    );
    metrics::describe_gauge!(
        "sampleflow_connector_last_success_seconds",
        "Unix time of the connector's last successful poll (0: none yet)"
    );
    Ok(handle)
}

/// The session's log: to stderr, and the lines about reloads kept for the console.
struct Tee {
    reloads: Arc<Mutex<VecDeque<String>>>,
    partial: Vec<u8>,
    /// Said before each line (`shop NAME: ` for a cluster's shop session).
    prefix: String,
}

/// Reload lines the console shows.
const RELOADS_KEPT: usize = 50;

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.prefix.is_empty() {
            std::io::stderr().write_all(buf)?;
        }
        self.partial.extend_from_slice(buf);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            if !self.prefix.is_empty() {
                // Whole lines, each in one write: several shops' sessions share stderr.
                let mut said = Vec::with_capacity(self.prefix.len() + line.len());
                said.extend_from_slice(self.prefix.as_bytes());
                said.extend_from_slice(&line);
                std::io::stderr().write_all(&said)?;
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            if text.starts_with("reload") {
                if let Ok(mut kept) = self.reloads.lock() {
                    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                    kept.push_back(format!("{at} {text}"));
                    while kept.len() > RELOADS_KEPT {
                        kept.pop_front();
                    }
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// A service bound to its address, its tokens, secret and connector read: what is checked before
/// the live session takes the store.
pub struct Bound {
    config: ServeConfig,
    listener: std::net::TcpListener,
    local: SocketAddr,
    tokens: Option<tokens::Keys>,
    secret: Option<auth::Secret>,
    connectors: Vec<(String, crate::connect::Config, crate::connect::map::Catalog)>,
}

/// Reads the tokens file, the webhook secret (`SAMPLEFLOW_WEBHOOK_SECRET_FILE`) and the
/// connector's config, and binds the address: nothing of the store is touched yet.
pub fn bind(config: ServeConfig) -> Result<Bound, ServeError> {
    let addr = config.listen;
    let tokens = match &config.tokens {
        Some(path) => Some(tokens::Keys::load(path).map_err(|e| ServeError::Usage(e.to_string()))?),
        None if !addr.ip().is_loopback() => {
            return Err(ServeError::Usage(format!(
                "`--listen {addr}` is beyond loopback and no `--tokens FILE` is given: anyone who can reach it could act as an operator; nothing was started\n  help: give a tokens file, or listen on 127.0.0.1"
            )));
        }
        None => None,
    };
    let secret = match std::env::var_os("SAMPLEFLOW_WEBHOOK_SECRET_FILE") {
        Some(path) => Some(
            auth::Secret::load(std::path::Path::new(&path))
                .map_err(|e| ServeError::Usage(e.to_string()))?,
        ),
        None => None,
    };
    let mut connectors = Vec::new();
    for (shop, path) in &config.connectors {
        let (c, catalog) = crate::connect::config::load(path)
            .and_then(|c| {
                crate::connect::map::Catalog::load(&c.catalog).map(|catalog| (c, catalog))
            })
            .map_err(|e| ServeError::Usage(e.to_string()))?;
        connectors.push((shop.clone(), c, catalog));
    }
    // A webhook finds its shop by the body's `shop_id`: two configs naming the same one could
    // not be told apart.
    for (i, (shop, c, _)) in connectors.iter().enumerate() {
        let twin = connectors[..i]
            .iter()
            .find(|(_, o, _)| o.shop_id.is_some() && o.shop_id == c.shop_id);
        if let Some((other, _, _)) = twin {
            return Err(ServeError::Usage(format!(
                "the connectors of shops `{other}` and `{shop}` name the same `shop_id`; a webhook could not tell which shop it is for"
            )));
        }
    }
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| ServeError::Failed(format!("cannot listen on {addr}: {e}")))?;
    let local = listener.local_addr()?;
    listener.set_nonblocking(true)?;
    Ok(Bound {
        config,
        listener,
        local,
        tokens,
        secret,
        connectors,
    })
}

impl Bound {
    /// The address bound (the port picked when it was 0).
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Serves until a stop signal (SIGINT, SIGTERM; SIGHUP reloads), running `live` on a thread
    /// of its own as the store's one writer.
    pub fn run(self, mut live: Live) -> Result<(), ServeError> {
        let Bound {
            config,
            listener,
            local,
            tokens,
            secret,
            connectors,
        } = self;
        let health = Arc::new(Health::default());
        for program in &live.programs {
            health.serving(program);
        }
        live.options.health = Some(health.clone());
        let sessions = crate::store::Sessions::open(&config.db).map_err(|e| {
            ServeError::Failed(format!(
                "cannot keep console sessions in `{}`: {e}",
                crate::store::shown(&config.db)
            ))
        })?;
        let (max_connections, limit) = server::cap(config.max_connections);
        if let Some(limit) = limit {
            eprintln!(
                "serve: `--max-connections {}` is more than the open-file limit ({limit}) allows; at most {max_connections} connections at once (raise `ulimit -n` for more)",
                config.max_connections
            );
        }
        let metrics = recorder()
            .map_err(|e| ServeError::Failed(format!("cannot start the metrics recorder: {e}")))?;
        let reloads = Arc::new(Mutex::new(VecDeque::new()));
        // In a cluster each shop's connector polls while its shop is owned here.
        let active: std::collections::HashMap<String, Arc<AtomicBool>> = match &config.cluster {
            Some(_) => connectors
                .iter()
                .map(|(shop, _, _)| (shop.clone(), Arc::new(AtomicBool::new(false))))
                .collect(),
            None => std::collections::HashMap::new(),
        };
        let cluster = match &config.cluster {
            None => None,
            Some(c) => {
                let url = match &c.advertise {
                    Some(url) => url.trim_end_matches('/').to_string(),
                    None if local.ip().is_unspecified() => {
                        return Err(ServeError::Usage(format!(
                            "`--listen {local}` does not say where the other instances reach this one; give `--advertise http://HOST:{}`",
                            local.port()
                        )))
                    }
                    None => format!("http://{local}"),
                };
                let mut shops: Vec<crate::watch::reload::Folders> =
                    live.options.shops.iter().map(|(f, _)| f.clone()).collect();
                if shops.is_empty() {
                    shops.push(live.options.folders.clone());
                }
                let programs = live
                    .programs
                    .iter()
                    .filter_map(|p| {
                        let loaded =
                            match live.options.shops.iter().find(|(f, _)| f.shop == p.shop()) {
                                Some((_, loaded)) => *loaded,
                                None if live.options.folders.shop == p.shop() => {
                                    live.options.loaded
                                }
                                None => return None,
                            };
                        Some((p.shop().to_string(), (p.clone(), loaded)))
                    })
                    .collect();
                let template = cluster::Template {
                    options: live.options.clone(),
                    shops,
                    programs,
                    reloads: reloads.clone(),
                };
                Some(Arc::new(
                    cluster::Cluster::join(
                        config.db.clone(),
                        url,
                        c.lease_ttl,
                        template,
                        health.clone(),
                        active.clone(),
                    )
                    .map_err(ServeError::Failed)?,
                ))
            }
        };
        let connectors = connectors
            .into_iter()
            .map(|(shop, mut connector, catalog)| {
                // The shop's day (a quota's hold, a reminder's due time) is its policy's.
                if let Some(p) = live.programs.iter().find(|p| p.shop() == shop) {
                    connector.timezone = p.rules.policy().timezone;
                }
                let gate = active.get(&shop).cloned();
                crate::connect::webhook::Connector::start(
                    config.db.clone(),
                    shop,
                    connector,
                    catalog,
                    live.channels.msgs.0.clone(),
                    gate,
                )
            })
            .collect();
        let timeout = Duration::from_secs(config.request_timeout.max(1));
        let app = Arc::new(App {
            config,
            tx: live.channels.msgs.0.clone(),
            stopping: AtomicBool::new(false),
            console: console::Console::new(tokens.is_none(), sessions),
            tokens,
            secret,
            port: local.port(),
            health: health.clone(),
            metrics,
            reloads: reloads.clone(),
            connectors,
            cluster: cluster.clone(),
        });

        // Signals: a stop is said to the handlers first (they answer 503 from then on), then to
        // the runner, which applies what it was handed, commits it and answers it.
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
        {
            let tx = live.channels.msgs.0.clone();
            let req_tx = live.channels.requests.0.clone();
            let app = app.clone();
            std::thread::spawn(move || {
                for signal in signals.forever() {
                    let why = match signal {
                        SIGHUP => {
                            app.reload_tokens("SIGHUP");
                            if req_tx.send(Reload::Now).is_err() {
                                return;
                            }
                            continue;
                        }
                        SIGINT => "SIGINT",
                        _ => "SIGTERM",
                    };
                    app.stopping.store(true, Ordering::SeqCst);
                    if tx.send(Msg::Stop(why)).is_err() {
                        return;
                    }
                }
            });
        }

        let stop_tx = live.channels.msgs.0.clone();
        let stopped = Arc::new(tokio::sync::Notify::new());
        let session = if let Some(cluster) = cluster {
            // A cluster's instance: the coordinator runs each owned shop's session; this
            // thread passes the connectors' polls to them and waits for the stop.
            let stopped = stopped.clone();
            let health = health.clone();
            let Live { channels, lock, .. } = live;
            std::thread::spawn(move || {
                let _lock = lock;
                let Channels {
                    msgs: (_, rx),
                    requests: (_, requests),
                } = channels;
                let coordinator = {
                    let c = cluster.clone();
                    std::thread::spawn(move || c.run())
                };
                {
                    let c = cluster.clone();
                    std::thread::spawn(move || {
                        while let Ok(request) = requests.recv() {
                            c.reload(request);
                        }
                    });
                }
                health.started();
                while let Ok(msg) = rx.recv() {
                    match msg {
                        Msg::Stop(_) => break,
                        Msg::Posted(ingest) | Msg::Polled(ingest) => {
                            // A poll of a shop no longer here is dropped unanswered: its
                            // connector polls again where the shop went.
                            if let Some(tx) = cluster.local(&ingest.shop) {
                                let _ = tx.send(Msg::Polled(ingest));
                            }
                        }
                        _ => {}
                    }
                }
                cluster.stop();
                let _ = coordinator.join();
                health.stopped("stopped");
                stopped.notify_one();
                Ok(crate::session::live::WatchSummary::default())
            })
        } else {
            let stopped = stopped.clone();
            let Live {
                programs,
                home,
                store,
                mut options,
                mut out,
                channels,
                lock,
            } = live;
            options.serving = true;
            std::thread::spawn(move || {
                let _lock = lock;
                let mut log = Tee {
                    reloads,
                    partial: Vec::new(),
                    prefix: String::new(),
                };
                let result = watch(
                    programs, &home, store, options, None, &mut out, &mut log, channels,
                );
                health.stopped(match &result {
                    Ok(_) => "stopped",
                    Err(_) => "failed",
                });
                stopped.notify_one();
                result
            })
        };

        // One JSON line per request on stderr, written off the handlers' threads; nothing is
        // dropped (a full queue makes handlers wait rather than lose lines).
        let (writer, _log_guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
            .lossy(false)
            .finish(std::io::stderr());
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_target(false)
            .with_level(false)
            .with_writer(writer)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        tokens::watch_file(&app);
        // Said once the session took the store (every shop loaded), so that a caller who waits
        // for it finds the service ready, not starting.
        while !app.health.settled() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let served = runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            eprintln!("listening on http://{local}");
            server::serve(
                listener,
                router(app, timeout),
                max_connections,
                async move { stopped.notified().await },
            )
            .await;
            Ok::<(), std::io::Error>(())
        });
        if served.is_err() {
            // No more requests can come: the session commits what it has and ends.
            let _ = stop_tx.send(Msg::Stop("the HTTP server failed"));
        }
        drop(stop_tx);
        // Requests still open when the session ended were answered 503 by their handlers.
        runtime.shutdown_timeout(Duration::from_secs(5));
        let session = session.join();
        if let Err(e) = served {
            return Err(ServeError::Failed(format!("the HTTP server failed: {e}")));
        }
        match session {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(ServeError::Failed(e.to_string())),
            Err(_) => Err(ServeError::Failed("the runner's thread failed".into())),
        }
    }
}
