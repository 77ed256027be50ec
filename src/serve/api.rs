//! The JSON API: `/healthz`, `/metrics` and `/v1/...`, with the contract's roles, bodies,
//! status codes and error shapes.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::viewer;
use super::{body_bytes, error, store_error, App, Permission, Principal, Shared};
use crate::analysis::queue::QueueQuery;
use crate::analysis::shadow::ShadowReport;
use crate::connect::webhook::Webhook;
use crate::model::ops::{OpsAction, OpsEvent};
use crate::model::SampleView;
use crate::store::Store;
use crate::watch::{Posted, Refused, MAX_LINES};

/// The routes of one shop's data: under `/v1` for shop `default`, and under
/// `/v1/shops/{shop}` for any shop.
pub(super) fn routes() -> Router<Shared> {
    let mut router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(super::ready::readyz))
        .route("/metrics", get(super::ready::metrics))
        .route("/v1/cluster", get(super::cluster::view))
        .route(
            "/v1/cluster/forward/{shop}",
            post(super::cluster::forwarded),
        );
    for base in ["/v1", "/v1/shops/{shop}"] {
        router = router
            .route(&format!("{base}/events"), post(events))
            .route(&format!("{base}/samples/{{id}}"), get(sample))
            .route(&format!("{base}/creators/{{id}}"), get(creator))
            .route(&format!("{base}/queue"), get(queue))
            .route(&format!("{base}/report"), get(report))
            .route(&format!("{base}/shadow"), get(shadow))
            .route(&format!("{base}/samples/{{id}}/review"), post(review))
            .route(&format!("{base}/reviews"), post(reviews))
            .route(&format!("{base}/ship"), get(ship_list))
            .route(&format!("{base}/samples/{{id}}/ship"), post(ship))
            .route(&format!("{base}/creators/{{id}}/adjust"), post(adjust));
    }
    router
}

/// A route's path parameters: its shop (`default` on the unscoped routes) and its id (empty on
/// routes without one).
pub(super) struct At {
    pub shop: String,
    pub id: String,
}

/// The path parameters, by name.
pub(super) type Params = Path<HashMap<String, String>>;

impl At {
    pub fn of(Path(mut params): Params) -> At {
        At {
            shop: params
                .remove("shop")
                .unwrap_or_else(|| crate::model::DEFAULT_SHOP.to_string()),
            id: params.remove("id").unwrap_or_default(),
        }
    }
}

pub(super) fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the server stopped before these events were committed; nothing of them was acknowledged",
    )
}

/// `POST /v1/events`: JSON Lines in, one result per line out, every applied line committed.
async fn events(
    State(app): State<Shared>,
    headers: HeaderMap,
    params: Params,
    req: Request,
) -> Response {
    let at = At::of(params);
    // A bearer token is checked before the body is read; a signature needs the body.
    let early = if app.signed(&headers) {
        None
    } else {
        match app.authorize_in(&headers, Permission::Ingest, None, &at.shop) {
            Ok(p) => Some(p),
            Err(r) => return r,
        }
    };
    let body = match body_bytes(req.into_body()).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let principal = match early {
        Some(p) => p,
        None => match app.authorize_in(&headers, Permission::Ingest, Some(&body), &at.shop) {
            Ok(p) => p,
            Err(r) => return r,
        },
    };
    ingest(&app, &principal, body, &at.shop).await
}

/// Checks a body's lines (their number, what the principal may post, the shops they name),
/// stamps `by` and hands them to the runner, lines naming no shop in `shop`; the answer is the
/// runner's bytes.
async fn ingest(app: &App, principal: &Principal, body: bytes::Bytes, shop: &str) -> Response {
    let Some(poster) = principal.role.poster() else {
        return error(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("`{}` is a `viewer`; viewers post no events", principal.name),
        );
    };
    let posted = match Posted::read(body, poster, Some(&principal.name)) {
        Ok(posted) => posted,
        Err(Refused::Empty) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the body holds no event: send JSON Lines, one event per line",
            )
        }
        Err(Refused::TooManyLines) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "the body holds more than {MAX_LINES} events; nothing was applied, send them in smaller batches"
                ),
            )
        }
        Err(Refused::Forbidden { line, kind }) => {
            return error(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "`{}`: {}",
                    principal.name,
                    crate::watch::role::forbidden_message(poster, line, &kind)
                ),
            )
        }
    };
    // A line naming a shop the session runs but the principal may not act on refuses the body
    // whole, as a line its role may not post does. A shop the session does not run is left to
    // the runner (`invalid_field` on `shop`, that line only).
    if principal.shops != super::auth::Shops::All {
        let outside = posted.first_shop_outside(|s| app.runs(s) && !principal.shops.allows(s));
        if let Some((line, named)) = outside {
            return error(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "line {line} names shop `{named}`: {}; nothing was applied",
                    super::outside_shops(principal, &named)
                ),
            );
        }
    }
    match app.apply(posted, shop).await {
        Some(answer) => results(answer),
        None => unavailable(),
    }
}

/// The runner's `{"results":[...]}`, written as the lines were applied, as the answer.
pub(super) fn results(answer: Vec<u8>) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        answer,
    )
        .into_response()
}

fn not_found(what: &str, id: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no {what} `{id}` in the store"),
    )
}

/// A sample's current state (as `show --all`) and its records.
pub(super) fn sample_json(store: &mut dyn Store, id: &str) -> Result<Option<Value>, Response> {
    let Some(inst) = store.sample(id).map_err(store_error)? else {
        return Ok(None);
    };
    let records: Vec<Value> = store
        .sample_log(id)
        .map_err(store_error)?
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let view = serde_json::to_value(SampleView::of(&inst, store.shop())).unwrap_or(Value::Null);
    Ok(Some(json!({"sample": view, "records": records})))
}

async fn sample(State(app): State<Shared>, headers: HeaderMap, params: Params) -> Response {
    let At { shop, id } = At::of(params);
    if let Err(r) = viewer(&app, &headers, &shop) {
        return r;
    }
    let shown = id.clone();
    match app
        .read(&shop, move |_, store| sample_json(store, &id))
        .await
    {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => not_found("sample", &shown),
        Err(r) => r,
    }
}

/// A creator's ledger, as `show --creator`.
pub(super) fn creator_json(store: &mut dyn Store, id: &str) -> Result<Option<Value>, Response> {
    let Some(ledger) = store.ledger(id).map_err(store_error)? else {
        return Ok(None);
    };
    let mut v = serde_json::to_value(&ledger).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        let mut out = serde_json::Map::new();
        out.insert("creator".into(), Value::String(id.into()));
        out.extend(std::mem::take(map));
        return Ok(Some(Value::Object(out)));
    }
    Ok(Some(v))
}

async fn creator(State(app): State<Shared>, headers: HeaderMap, params: Params) -> Response {
    let At { shop, id } = At::of(params);
    if let Err(r) = viewer(&app, &headers, &shop) {
        return r;
    }
    let shown = id.clone();
    match app
        .read(&shop, move |_, store| creator_json(store, &id))
        .await
    {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => not_found("creator", &shown),
        Err(r) => r,
    }
}

/// `GET /v1/queue`'s query: the filters, sort and page of [`QueueQuery`], and `format=csv`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QueueParams {
    pub q: Option<String>,
    pub category: Option<String>,
    pub reason: Option<String>,
    pub tier: Option<String>,
    pub sort: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub format: Option<String>,
}

impl QueueParams {
    /// The query; a CSV without `limit` holds every request that matches.
    pub fn query(&self) -> Result<QueueQuery, String> {
        let mut query = QueueQuery::parse(
            self.q.as_deref(),
            self.category.as_deref(),
            self.reason.as_deref(),
            self.tier.as_deref(),
            self.sort.as_deref(),
            self.limit.as_deref(),
            self.cursor.as_deref(),
        )?;
        if self.csv()? && self.limit.as_deref().is_none_or(str::is_empty) {
            query.limit = usize::MAX;
        }
        Ok(query)
    }

    /// True for `format=csv`; JSON without `format`.
    pub fn csv(&self) -> Result<bool, String> {
        match self.format.as_deref() {
            None | Some("") | Some("json") => Ok(false),
            Some("csv") => Ok(true),
            Some(other) => Err(format!(
                "`format={other}`: the queue comes as `json` or `csv`"
            )),
        }
    }
}

/// One page of the queue: its items as JSON, the next page's cursor, and how many match.
pub(super) struct QueueAnswer {
    pub items: Vec<Value>,
    pub next: Option<String>,
    pub total: usize,
    pub start: usize,
    pub csv: Option<String>,
    /// The categories, reasons and tiers of the whole queue (for the console's filters).
    pub choices: Value,
}

/// A page of the queue by `query` (with its CSV when `csv`).
pub(super) fn queue_page(
    app: &App,
    store: &mut dyn Store,
    query: &QueueQuery,
    csv: bool,
) -> Result<QueueAnswer, Response> {
    let graphs = app.graphs(store.shop());
    let built = crate::analysis::queue::with_items(&graphs, store, |items, _| {
        let page = query.page(items);
        let csv = if csv {
            Some(crate::analysis::queue::csv_of(&page.items)?)
        } else {
            None
        };
        let values = page
            .items
            .iter()
            .map(|i| serde_json::to_value(i).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let set = |f: &dyn Fn(&crate::analysis::queue::QueueItem) -> Option<String>| {
            let mut v: Vec<String> = items.iter().filter_map(f).collect();
            v.sort();
            v.dedup();
            v
        };
        let choices = json!({
            "categories": set(&|i| Some(i.category.to_string())),
            "reasons": set(&|i| i.reason.map(str::to_string)),
            "tiers": set(&|i| i.tier.map(str::to_string)),
        });
        Ok::<_, String>(QueueAnswer {
            items: values,
            next: page.next,
            total: page.total,
            start: page.start,
            csv,
            choices,
        })
    });
    match built {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(why)) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, "internal", why)),
        Err(e) => Err(store_error(e)),
    }
}

/// A CSV answer.
pub(super) fn csv_answer(text: String, name: &str) -> Response {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        text,
    )
        .into_response()
}

async fn queue(
    State(app): State<Shared>,
    headers: HeaderMap,
    params: Params,
    query: Result<Query<QueueParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let At { shop, .. } = At::of(params);
    if let Err(r) = viewer(&app, &headers, &shop) {
        return r;
    }
    let Ok(Query(params)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the queue takes `q`, `category`, `reason`, `tier`, `sort`, `limit`, `cursor` and `format=csv`",
        );
    };
    let csv = match params.csv() {
        Ok(csv) => csv,
        Err(why) => return error(StatusCode::BAD_REQUEST, "bad_request", why),
    };
    let query = match params.query() {
        Ok(q) => q,
        Err(why) => return error(StatusCode::BAD_REQUEST, "bad_request", why),
    };
    match app
        .read(&shop, move |app, store| queue_page(app, store, &query, csv))
        .await
    {
        Ok(QueueAnswer {
            csv: Some(text), ..
        }) => csv_answer(text, "queue.csv"),
        Ok(answer) => Json(json!({
            "items": answer.items,
            "next_cursor": answer.next,
            "total": answer.total,
        }))
        .into_response(),
        Err(r) => r,
    }
}

/// The samples to ship, oldest approval first.
pub(super) fn to_ship_list(
    app: &App,
    store: &mut dyn Store,
) -> Result<Vec<crate::analysis::ship::ToShip>, Response> {
    let graphs = app.graphs(store.shop());
    crate::analysis::ship::to_ship(&graphs, store).map_err(store_error)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FormatParam {
    format: Option<String>,
}

/// `GET /v1/ship`: `{"items": [...]}`, or with `format=csv` the warehouse's CSV.
async fn ship_list(
    State(app): State<Shared>,
    headers: HeaderMap,
    params: Params,
    query: Result<Query<FormatParam>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let At { shop, .. } = At::of(params);
    if let Err(r) = viewer(&app, &headers, &shop) {
        return r;
    }
    let csv = match query.map(|Query(q)| q.format) {
        Ok(None) => false,
        Ok(Some(f)) if f == "json" => false,
        Ok(Some(f)) if f == "csv" => true,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the list takes `format=json` or `format=csv` only",
            )
        }
    };
    match app.read(&shop, to_ship_list).await {
        Ok(items) if csv => match crate::analysis::ship::csv_of(&items) {
            Ok(text) => csv_answer(text, "to-ship.csv"),
            Err(why) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", why),
        },
        Ok(items) => Json(json!({"items": items})).into_response(),
        Err(r) => r,
    }
}

/// `?since=&until=&by=creator`, as `report`'s flags.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Window {
    pub since: Option<String>,
    pub until: Option<String>,
    pub by: Option<String>,
}

pub(super) fn report_built(
    app: &App,
    store: &mut dyn Store,
    window: &Window,
) -> Result<crate::analysis::report::BuiltReport, Response> {
    let by_creator = match window.by.as_deref() {
        None | Some("") => false,
        Some("creator") => true,
        Some(other) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("`by={other}`: the report breaks down by `creator` only"),
            ))
        }
    };
    let (graphs, rules) = (app.graphs(store.shop()), app.rules(store.shop()));
    let query = crate::analysis::report::ReportQuery {
        graphs: &graphs,
        rules: rules.as_deref(),
        since: window.since.clone().filter(|s| !s.is_empty()),
        until: window.until.clone().filter(|s| !s.is_empty()),
        by_creator,
    };
    answered(app, crate::analysis::report::build(store, &query))
}

/// A build of a read: what was asked for, a bad query said as 400, a store failure as 500.
fn answered<T>(
    app: &App,
    built: Result<Result<T, String>, crate::store::StoreError>,
) -> Result<T, Response> {
    match built {
        Ok(Ok(built)) => Ok(built),
        Ok(Err(why)) => Err(error(StatusCode::BAD_REQUEST, "bad_request", why)),
        Err(e) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store",
            app.store_said(e),
        )),
    }
}

async fn report(
    State(app): State<Shared>,
    headers: HeaderMap,
    params: Params,
    window: Result<Query<Window>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let At { shop, .. } = At::of(params);
    if let Err(r) = viewer(&app, &headers, &shop) {
        return r;
    }
    let Ok(Query(window)) = window else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the query takes `since`, `until` and `by=creator`",
        );
    };
    match app
        .read(&shop, move |app, store| {
            report_built(app, store, &window).map(|b| b.report.to_json())
        })
        .await
    {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

/// `?since=`, as `shadow --since`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Since {
    pub since: Option<String>,
}

pub(super) fn shadow_built(
    app: &App,
    store: &mut dyn Store,
    since: Option<&str>,
) -> Result<ShadowReport, Response> {
    let tz = app
        .rules(store.shop())
        .map_or(crate::rules::DEFAULT_TIMEZONE, |r| r.policy().timezone);
    let graphs = app.graphs(store.shop());
    answered(
        app,
        crate::analysis::shadow::build(store, &graphs, tz, since),
    )
}

/// `GET /v1/shadow`: the contract's `{"rules", "since", "compared", "agreeing", "changes",
/// "summary", "faults"}`.
async fn shadow(
    State(app): State<Shared>,
    headers: HeaderMap,
    params: Params,
    since: Result<Query<Since>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let At { shop, .. } = At::of(params);
    if let Err(r) = viewer(&app, &headers, &shop) {
        return r;
    }
    let Ok(Query(Since { since })) = since else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the query takes `since` only",
        );
    };
    match app
        .read(&shop, move |app, store| {
            shadow_built(app, store, since.as_deref())
        })
        .await
    {
        Ok(report) => Json(report).into_response(),
        Err(r) => r,
    }
}

/// An ops action's outcome: `200 {"records":[...]}`, `409` with the refusal's kind, or (before
/// any event is made) what is wrong with the request.
pub(super) enum Acted {
    Records(Vec<Value>),
    Refused { kind: String, message: String },
    Invalid(String),
}

/// Makes the event of an ops action (fresh id, `at` = now, `by` = the principal) and applies it
/// in `shop`.
pub(super) async fn act(
    app: &App,
    principal: &Principal,
    shop: &str,
    action: OpsAction,
) -> Result<Acted, Response> {
    let mut done = act_many(app, principal, shop, vec![action]).await?;
    Ok(done.pop().unwrap_or(Acted::Records(Vec::new())))
}

/// Makes the events of ops actions, in order, and applies them in `shop` in one batch (one
/// commit); one outcome per action, in order.
pub(super) async fn act_many(
    app: &App,
    principal: &Principal,
    shop: &str,
    actions: Vec<OpsAction>,
) -> Result<Vec<Acted>, Response> {
    let at = crate::session::live::wall_clock()
        .map(|c| c.now())
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, "clock", e))?;
    let mut outcomes: Vec<Option<Acted>> = Vec::with_capacity(actions.len());
    let mut lines = Vec::new();
    for action in actions {
        if let Some(problem) = action.problem() {
            outcomes.push(Some(Acted::Invalid(problem)));
            continue;
        }
        let OpsEvent { event, .. } = action.event(&principal.name, at);
        lines.push(event.to_string());
        outcomes.push(None);
    }
    if lines.is_empty() {
        return Ok(outcomes.into_iter().flatten().collect());
    }
    let posted = Posted::made(&lines).map_err(|_| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the action made no event",
        )
    })?;
    let Some(answer) = app.apply(posted, shop).await else {
        return Err(unavailable());
    };
    let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
    let mut results = answer["results"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter();
    Ok(outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                let result = results.next().unwrap_or(Value::Null);
                match result.get("records").and_then(Value::as_array) {
                    Some(records) => Acted::Records(records.clone()),
                    None if result.is_null() => Acted::Records(Vec::new()),
                    None => Acted::Refused {
                        kind: result["error"].as_str().unwrap_or("refused").to_string(),
                        message: result["message"].as_str().unwrap_or_default().to_string(),
                    },
                }
            })
        })
        .collect())
}

fn acted(result: Result<Acted, Response>) -> Response {
    match result {
        Ok(Acted::Records(records)) => Json(json!({"records": records})).into_response(),
        Ok(Acted::Refused { kind, message }) => error(StatusCode::CONFLICT, &kind, message),
        Ok(Acted::Invalid(message)) => error(StatusCode::BAD_REQUEST, "bad_request", message),
        Err(r) => r,
    }
}

/// An operator's JSON body, parsed into `T`; 400 when it is not that.
async fn operator_body<T: serde::de::DeserializeOwned>(
    app: &App,
    headers: &HeaderMap,
    shop: &str,
    body: Body,
) -> Result<(Principal, T), Response> {
    let principal = app.authorize_in(headers, Permission::Operator, None, shop)?;
    let bytes = body_bytes(body).await?;
    let parsed = serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the body is not the JSON this route takes: {e}"),
        )
    })?;
    Ok((principal, parsed))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    decision: String,
    note: Option<String>,
}

async fn review(
    State(app): State<Shared>,
    headers: HeaderMap,
    params: Params,
    req: Request,
) -> Response {
    let At { shop, id } = At::of(params);
    let (principal, body) =
        match operator_body::<ReviewBody>(&app, &headers, &shop, req.into_body()).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let action = OpsAction::Review {
        sample: id,
        decision: body.decision,
        note: body.note,
    };
    acted(act(&app, &principal, &shop, action).await)
}

/// The most samples one `POST /v1/reviews` decides.
pub(super) const MAX_REVIEWS: usize = 500;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewsBody {
    samples: Vec<String>,
    decision: String,
    note: Option<String>,
}

/// Why a bulk review cannot be made at all (before any event), or `None`.
pub(super) fn bulk_problem(samples: &[String], decision: &str) -> Option<String> {
    if samples.is_empty() {
        return Some("`samples` is empty: name at least one sample".into());
    }
    if samples.len() > MAX_REVIEWS {
        return Some(format!(
            "{} samples: one bulk review decides at most {MAX_REVIEWS}; nothing was applied",
            samples.len()
        ));
    }
    if !matches!(decision, "approve" | "reject") {
        return Some(format!(
            "the decision is `{decision}`; it is `approve` or `reject`"
        ));
    }
    None
}

/// Reviews `samples` in order with one decision and note, in one commit; one result per sample
/// (`{"sample", "records"}` or `{"sample", "error", "message"}`).
pub(super) async fn review_many(
    app: &App,
    principal: &Principal,
    shop: &str,
    samples: &[String],
    decision: &str,
    note: Option<String>,
) -> Result<Vec<Value>, Response> {
    let actions = samples
        .iter()
        .map(|sample| OpsAction::Review {
            sample: sample.clone(),
            decision: decision.to_string(),
            note: note.clone(),
        })
        .collect();
    let done = act_many(app, principal, shop, actions).await?;
    Ok(samples
        .iter()
        .zip(done)
        .map(|(sample, acted)| match acted {
            Acted::Records(records) => json!({"sample": sample, "records": records}),
            Acted::Refused { kind, message } => {
                json!({"sample": sample, "error": kind, "message": message})
            }
            Acted::Invalid(message) => {
                json!({"sample": sample, "error": "bad_request", "message": message})
            }
        })
        .collect())
}

/// `POST /v1/reviews`: many samples, one decision and note, in one commit.
async fn reviews(
    State(app): State<Shared>,
    headers: HeaderMap,
    params: Params,
    req: Request,
) -> Response {
    let At { shop, .. } = At::of(params);
    let (principal, body) =
        match operator_body::<ReviewsBody>(&app, &headers, &shop, req.into_body()).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    if let Some(problem) = bulk_problem(&body.samples, &body.decision) {
        return error(StatusCode::BAD_REQUEST, "bad_request", problem);
    }
    match review_many(
        &app,
        &principal,
        &shop,
        &body.samples,
        &body.decision,
        body.note,
    )
    .await
    {
        Ok(results) => Json(json!({"results": results})).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShipBody {
    tracking_number: String,
    carrier: Option<String>,
    shipping_cost: Option<f64>,
    note: Option<String>,
}

async fn ship(
    State(app): State<Shared>,
    headers: HeaderMap,
    params: Params,
    req: Request,
) -> Response {
    let At { shop, id } = At::of(params);
    let (principal, body) =
        match operator_body::<ShipBody>(&app, &headers, &shop, req.into_body()).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let action = OpsAction::Ship {
        sample: id,
        tracking_number: body.tracking_number,
        carrier: body.carrier,
        shipping_cost: body.shipping_cost,
        note: body.note,
    };
    acted(act(&app, &principal, &shop, action).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdjustBody {
    credit: Option<f64>,
    block_days: Option<i64>,
    note: Option<String>,
}

async fn adjust(
    State(app): State<Shared>,
    headers: HeaderMap,
    params: Params,
    req: Request,
) -> Response {
    let At { shop, id } = At::of(params);
    let (principal, body) =
        match operator_body::<AdjustBody>(&app, &headers, &shop, req.into_body()).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let action = OpsAction::Adjust {
        creator: id,
        credit: body.credit,
        block_days: body.block_days,
        note: body.note,
    };
    acted(act(&app, &principal, &shop, action).await)
}

/// `POST /v1/tiktok/webhook`: the connector's webhook (a reason to poll now), for the shop whose
/// connector config names the body's `shop_id`.
pub(super) async fn tiktok_webhook(State(app): State<Shared>, req: Request) -> Response {
    if app.connectors.is_empty() {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no TikTok connector runs here (connectors/tiktok.yaml or --connector FILE)",
        );
    }
    let signature = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match body_bytes(req.into_body()).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(connector) = crate::connect::webhook::route(&app.connectors, &body) else {
        // No shop's config names it: nothing can verify it, and nothing is done.
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the webhook's `shop_id` is not that of a shop connected here: nothing was done",
        );
    };
    match connector.webhook(signature.as_deref(), &body) {
        Webhook::Unsigned => error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the webhook's signature does not verify: nothing was done",
        ),
        Webhook::NotJson => error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the webhook's body is not JSON",
        ),
        Webhook::Duplicate => Json(json!({"status": "duplicate"})).into_response(),
        _ => Json(json!({"status": "polling"})).into_response(),
    }
}
