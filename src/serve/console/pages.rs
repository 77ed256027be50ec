//! The console's pages: the queue, a sample, a creator, the report, versions and reloads, and
//! the shadow's report.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::analysis::dollars;

use super::sessions::{query_part, urlencoding, viewer_in};
use super::view;
use crate::model::vocab::EventKind;
use crate::serve::api::{At, Params};
use crate::serve::{api, Shared};

/// The queue page's query: `GET /v1/queue`'s (filters, sort, page) and the flash of a decision
/// just made.
#[derive(Deserialize, Default)]
pub(super) struct QueuePageQuery {
    q: Option<String>,
    category: Option<String>,
    reason: Option<String>,
    tier: Option<String>,
    sort: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    format: Option<String>,
    done: Option<String>,
    decision: Option<String>,
}

impl QueuePageQuery {
    fn params(&self) -> api::QueueParams {
        api::QueueParams {
            q: self.q.clone(),
            category: self.category.clone(),
            reason: self.reason.clone(),
            tier: self.tier.clone(),
            sort: self.sort.clone(),
            limit: self.limit.clone(),
            cursor: self.cursor.clone(),
            format: self.format.clone(),
        }
    }

    /// The filters as a query string (no cursor), for the next page's and the CSV's links.
    fn kept(&self) -> String {
        let mut parts = Vec::new();
        for (name, value) in [
            ("q", &self.q),
            ("category", &self.category),
            ("reason", &self.reason),
            ("tier", &self.tier),
            ("sort", &self.sort),
            ("limit", &self.limit),
        ] {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                parts.push(format!("{name}={}", query_part(v)));
            }
        }
        parts.join("&")
    }
}

/// A queue item as the page shows it: the JSON's fields and their text for people.
fn queue_row(item: &Value, tz: chrono_tz::Tz, now: chrono::DateTime<chrono::Utc>) -> Value {
    let mut row = item.clone();
    let expires = item["expires"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    row["expires_local"] = expires.map(|t| view::local(t, tz)).into();
    row["left"] = expires.map(|t| view::left(t, now)).into();
    row["price_text"] = view::money(item["price"].as_f64().unwrap_or(0.0)).into();
    row["credit_text"] = view::money(item["credit"].as_f64().unwrap_or(0.0)).into();
    row["engagement_text"] = view::percent(item["engagement_rate"].as_f64().unwrap_or(0.0)).into();
    row["fulfilment_text"] = item["fulfillment_rate_90d"]
        .as_f64()
        .map_or("unknown".to_string(), view::percent)
        .into();
    row["reason_text"] = item["reason"].as_str().map(view::reason_words).into();
    row
}

pub(super) async fn queue(
    State(app): State<Shared>,
    jar: CookieJar,
    params: Params,
    Query(asked): Query<QueuePageQuery>,
) -> Response {
    let At { shop, .. } = At::of(params);
    let v = match viewer_in(&app, jar, &shop) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let params = asked.params();
    let (query, csv) = match params.query().and_then(|q| Ok((q, params.csv()?))) {
        Ok(q) => q,
        Err(why) => return v.fail(&app, StatusCode::BAD_REQUEST, why),
    };
    let page = match app
        .read(&shop, move |app, store| {
            api::queue_page(app, store, &query, csv)
        })
        .await
    {
        Ok(page) => page,
        Err(r) => return as_page(&app, &v, r).await,
    };
    if let Some(text) = page.csv {
        return (v.jar.clone(), api::csv_answer(text, "queue.csv")).into_response();
    }
    let (tz, now) = (view::zone(&app, &shop), view::now());
    let rows: Vec<Value> = page.items.iter().map(|i| queue_row(i, tz, now)).collect();
    let flash = asked.done.as_ref().map(|s| {
        let verb = match asked.decision.as_deref() {
            Some("reject") => "rejected",
            _ => "approved",
        };
        format!("`{s}` {verb} by {}", v.principal.name)
    });
    let kept = asked.kept();
    let next = page.next.as_ref().map(|c| {
        format!(
            "?{kept}{}cursor={}",
            if kept.is_empty() { "" } else { "&" },
            urlencoding(c)
        )
    });
    let csv = format!(
        "?{kept}{}format=csv",
        if kept.is_empty() { "" } else { "&" }
    );
    v.page(
        &app,
        "queue.html",
        vec![
            ("items", minijinja::Value::from_serialize(&rows)),
            ("flash", flash.into()),
            ("total", page.total.into()),
            ("first", (page.start + 1).into()),
            ("next", next.into()),
            ("first_page", format!("?{kept}").into()),
            ("asked_cursor", asked.cursor.is_some().into()),
            ("csv", csv.into()),
            ("choices", minijinja::Value::from_serialize(&page.choices)),
            ("zone", view::local(now, tz).rsplit(' ').next().unwrap_or_default().to_string().into()),
            (
                "asked",
                minijinja::Value::from_serialize(json!({
                    "q": asked.q, "category": asked.category, "reason": asked.reason,
                    "tier": asked.tier, "sort": asked.sort.clone().unwrap_or_else(|| "expiry".into()),
                    "limit": asked.limit,
                })),
            ),
        ],
    )
}

/// `?done=` on a sample or creator page: the action just made, said at the top.
#[derive(Deserialize, Default)]
pub(super) struct Done {
    done: Option<String>,
}

/// A creator's key figures, for the sample page and the creator page's head.
fn creator_summary(
    store: &mut dyn crate::store::Store,
    creator: &str,
    tz: chrono_tz::Tz,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Value, Response> {
    let ledger = store
        .ledger(creator)
        .map_err(crate::serve::store_error)?
        .unwrap_or_default();
    let username = store
        .creator_name(creator)
        .map_err(crate::serve::store_error)?;
    Ok(json!({
        "username": username,
        "samples": ledger.samples,
        "completed": ledger.completed,
        "breaches": ledger.breaches.len(),
        "credit": view::money(ledger.credit),
        "gmv": view::money(ledger.gmv),
        "tier": ledger.tier,
        // A block still running, in the shop's zone (as on the creator page).
        "blocked_until": ledger.blocked_until.filter(|b| *b > now).map(|b| view::local(b, tz)),
    }))
}

pub(super) async fn sample(
    State(app): State<Shared>,
    jar: CookieJar,
    params: Params,
    Query(done): Query<Done>,
) -> Response {
    let At { shop, id } = At::of(params);
    let v = match viewer_in(&app, jar, &shop) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let flash = done.done.map(|d| match d.as_str() {
        "shipped" => format!("shipped by {}", v.principal.name),
        "approve" => format!("approved by {}", v.principal.name),
        "reject" => format!("rejected by {}", v.principal.name),
        other => format!("{other} by {}", v.principal.name),
    });
    sample_page(&app, &v, id, flash, Form::default()).await
}

/// A read's JSON error (a bad query, the store) as a console page with its message.
pub(super) async fn as_page(app: &Shared, v: &super::sessions::Viewer, r: Response) -> Response {
    let (status, message) = said(r).await;
    v.fail(app, status, message)
}

/// The status and message of a JSON error answer.
async fn said(r: Response) -> (StatusCode, String) {
    let status = r.status();
    let body = axum::body::to_bytes(r.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    (status, message)
}

/// A form re-shown after an error: what was typed, and the message beside each field at fault.
#[derive(Default)]
pub(super) struct Form {
    pub typed: Value,
    pub errors: Value,
}

/// The sample page of `id` (with a flash after an action, or a form to re-show).
pub(super) async fn sample_page(
    app: &Shared,
    v: &super::sessions::Viewer,
    id: String,
    flash: Option<String>,
    form: Form,
) -> Response {
    let shop = v.shop.clone();
    let shown = id.clone();
    let (tz, now) = (view::zone(app, &shop), view::now());
    let found = app
        .read(&shop, move |app, store| {
            let Some(inst) = store.sample(&id).map_err(crate::serve::store_error)? else {
                return Ok(None);
            };
            let Some(found) = api::sample_json(store, &id)? else {
                return Ok(None);
            };
            let graphs = app.graphs(store.shop());
            let graph = graphs
                .iter()
                .find(|g| g.workflow().name.value == *inst.workflow);
            let takes = |kind: EventKind| {
                graph.is_some_and(|g| g.move_for(inst.state(), kind.name()).is_some())
            };
            let (can_ship, can_review) = (takes(EventKind::SampleShipped), takes(EventKind::SampleReviewed));
            let creator = creator_summary(store, &inst.sample.creator, tz, now)?;
            let mut armed: Vec<_> = inst.deadlines.iter().collect();
            armed.sort_by_key(|d| d.due);
            let deadlines: Vec<Value> = armed
                .into_iter()
                .map(|d| {
                    json!({"name": d.name.to_string(), "due": view::local(d.due, tz),
                           "left": if d.held { "held".to_string() } else { view::left(d.due, now) }})
                })
                .collect();
            let product_title = store
                .product_titles()
                .map_err(crate::serve::store_error)?
                .remove(inst.sample.product.as_str());
            let facts = json!({
                "product_title": product_title,
                "price": view::money(inst.product.price),
                "unit_cost": view::money(inst.product.unit_cost),
                "cost": view::money(inst.sample.cost),
                "deposit": inst.sample.deposit.map(view::money),
                "shipping_cost": (inst.tracking_number.is_some() || inst.shipping_cost > 0.0)
                    .then(|| view::money(inst.shipping_cost)),
                "requested": view::local(inst.requested_at, tz),
                "updated": view::local(inst.last_at, tz),
                "reason_text": found["sample"]["reason"].as_str().map(view::reason_words),
            });
            let records: Vec<Value> = found["records"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut r| {
                    r["at_local"] = r["at"].as_str().map(|t| view::local_text(t, tz)).into();
                    r
                })
                .collect();
            Ok(Some((found["sample"].clone(), records, facts, deadlines, creator, can_ship, can_review)))
        })
        .await;
    match found {
        Ok(Some((sample, records, facts, deadlines, creator, can_ship, can_review))) => {
            let failed = !form.errors.is_null();
            let mut page = v.page(
                app,
                "sample.html",
                vec![
                    ("s", minijinja::Value::from_serialize(&sample)),
                    ("records", minijinja::Value::from_serialize(&records)),
                    ("facts", minijinja::Value::from_serialize(&facts)),
                    ("deadlines", minijinja::Value::from_serialize(&deadlines)),
                    ("creator", minijinja::Value::from_serialize(&creator)),
                    ("can_ship", can_ship.into()),
                    ("can_review", can_review.into()),
                    ("flash", flash.into()),
                    ("typed", minijinja::Value::from_serialize(&form.typed)),
                    ("errors", minijinja::Value::from_serialize(&form.errors)),
                ],
            );
            if failed {
                *page.status_mut() = StatusCode::BAD_REQUEST;
            }
            page
        }
        Ok(None) => v.fail(
            app,
            StatusCode::NOT_FOUND,
            format!("no sample `{shown}` in the store"),
        ),
        Err(r) => as_page(app, v, r).await,
    }
}

/// Why a creator has their tier, in words, from their ledger.
fn tier_why(ledger: &crate::model::Ledger) -> String {
    let gmv = view::money(ledger.gmv);
    match ledger.tier.as_deref() {
        None => "no sample screened yet".into(),
        Some("new") => "no completed sample yet".into(),
        Some("gold") => format!("attributed GMV {gmv} and no recent breach"),
        Some("silver") => format!("attributed GMV {gmv}, below gold's bar or with a recent breach"),
        Some("bronze") => format!("attributed GMV {gmv}, below silver's bar"),
        Some(other) => format!("{other}: attributed GMV {gmv}"),
    }
}

pub(super) async fn creator(
    State(app): State<Shared>,
    jar: CookieJar,
    params: Params,
    Query(done): Query<Done>,
) -> Response {
    let At { shop, id } = At::of(params);
    let v = match viewer_in(&app, jar, &shop) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let flash = done
        .done
        .map(|_| format!("adjusted by {}", v.principal.name));
    creator_page(&app, &v, id, flash, Form::default()).await
}

/// The creator page of `id` (with a flash after an action, or the adjust form to re-show).
pub(super) async fn creator_page(
    app: &Shared,
    v: &super::sessions::Viewer,
    id: String,
    flash: Option<String>,
    form: Form,
) -> Response {
    let shop = v.shop.clone();
    let shown = id.clone();
    let (tz, now) = (view::zone(app, &shop), view::now());
    let found = app
        .read(&shop, move |_, store| {
            let Some(ledger) = store.ledger(&id).map_err(crate::serve::store_error)? else {
                return Ok(None);
            };
            let username = store.creator_name(&id).map_err(crate::serve::store_error)?;
            let titles = store.product_titles().map_err(crate::serve::store_error)?;
            let mut samples: Vec<_> = store
                .samples_of(&id)
                .map_err(crate::serve::store_error)?;
            samples.sort_by(|a, b| b.requested_at.cmp(&a.requested_at).then(a.id().cmp(b.id())));
            let samples: Vec<Value> = samples
                .iter()
                .map(|i| {
                    json!({"sample": i.id(), "state": i.state(), "product": i.sample.product.to_string(),
                           "product_title": titles.get(i.sample.product.as_str()),
                           "category": i.sample.category.to_string(), "price": view::money(i.product.price),
                           "requested": view::local(i.requested_at, tz),
                           "decision": i.review.as_deref().or(i.decision.as_deref())})
                })
                .collect();
            let approvals: Vec<Value> = ledger
                .approvals
                .iter()
                .rev()
                .flat_map(|(q, by)| {
                    by.iter().map(move |(category, n)| {
                        json!({"quarter": q.to_string(), "category": category, "count": n})
                    })
                })
                .collect();
            let adjustments: Vec<Value> = ledger
                .adjustments
                .iter()
                .rev()
                .map(|a| {
                    json!({"at": view::local(a.at, tz), "by": a.by, "note": a.note,
                           "credit": a.credit.map(|c| format!("{}{}", if c >= 0.0 { "+" } else { "" }, c)),
                           "block_days": a.block_days})
                })
                .collect();
            let c = json!({
                "creator": id,
                "username": username,
                "samples": ledger.samples,
                "completed": ledger.completed,
                "credit": view::money(ledger.credit),
                "gmv": view::money(ledger.gmv),
                "tier": ledger.tier,
                "tier_why": tier_why(&ledger),
                "breaches": ledger.breaches.iter().rev().map(|b| view::local(*b, tz)).collect::<Vec<_>>(),
                "blocked_until": ledger.blocked_until.filter(|b| *b > now).map(|b| view::local(b, tz)),
                "block_ended": ledger.blocked_until.filter(|b| *b <= now).map(|b| view::local(b, tz)),
                "deposits_held": view::money(ledger.deposits_held),
                "deposits_forfeited": view::money(ledger.deposits_forfeited),
                "paid_collab_invited": ledger.paid_collab_invited,
                "approvals": approvals,
                "adjustments": adjustments,
            });
            Ok(Some((c, samples)))
        })
        .await;
    match found {
        Ok(Some((c, samples))) => {
            let failed = !form.errors.is_null();
            let mut page = v.page(
                app,
                "creator.html",
                vec![
                    ("c", minijinja::Value::from_serialize(&c)),
                    ("samples", minijinja::Value::from_serialize(&samples)),
                    ("flash", flash.into()),
                    ("typed", minijinja::Value::from_serialize(&form.typed)),
                    ("errors", minijinja::Value::from_serialize(&form.errors)),
                ],
            );
            if failed {
                *page.status_mut() = StatusCode::BAD_REQUEST;
            }
            page
        }
        Ok(None) => v.fail(
            app,
            StatusCode::NOT_FOUND,
            format!("no creator `{shown}` in the store"),
        ),
        Err(r) => as_page(app, v, r).await,
    }
}

#[derive(Deserialize, Default)]
pub(super) struct WindowQuery {
    since: Option<String>,
    until: Option<String>,
}

pub(super) async fn report(
    State(app): State<Shared>,
    jar: CookieJar,
    params: Params,
    Query(q): Query<WindowQuery>,
) -> Response {
    let At { shop, .. } = At::of(params);
    let v = match viewer_in(&app, jar, &shop) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let window = api::Window {
        since: q.since.clone(),
        until: q.until.clone(),
        by: None,
    };
    match app
        .read(&shop, move |app, store| {
            api::report_built(app, store, &window).map(|b| b.body())
        })
        .await
    {
        Ok(body) => v.page(
            &app,
            "report.html",
            vec![
                ("body", body.into()),
                ("since", q.since.unwrap_or_default().into()),
                ("until", q.until.unwrap_or_default().into()),
            ],
        ),
        // A bad date: the form again, with what was typed and the message beside it.
        Err(r) if r.status() == StatusCode::BAD_REQUEST => {
            let (status, message) = said(r).await;
            let mut page = v.page(
                &app,
                "report.html",
                vec![
                    ("body", "".into()),
                    ("since", q.since.unwrap_or_default().into()),
                    ("until", q.until.unwrap_or_default().into()),
                    ("problem", message.into()),
                ],
            );
            *page.status_mut() = status;
            page
        }
        Err(r) => as_page(&app, &v, r).await,
    }
}

pub(super) async fn versions(
    State(app): State<Shared>,
    jar: CookieJar,
    params: Params,
) -> Response {
    let At { shop, .. } = At::of(params);
    let v = match viewer_in(&app, jar, &shop) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let versions = app
        .read(&shop, |_, store| {
            store
                .versions()
                .map(|vs| {
                    vs.iter()
                        .map(|v| {
                            json!({"kind": v.kind, "hash": v.hash, "name": v.name, "first_seen": v.first_seen})
                        })
                        .collect::<Vec<_>>()
                })
                .map_err(crate::serve::store_error)
        })
        .await;
    let versions = match versions {
        Ok(vs) => vs,
        Err(r) => return as_page(&app, &v, r).await,
    };
    let reloads: Vec<String> = app
        .reloads
        .lock()
        .map(|r| r.iter().cloned().collect())
        .unwrap_or_default();
    v.page(
        &app,
        "versions.html",
        vec![
            ("versions", minijinja::Value::from_serialize(&versions)),
            ("reloads", minijinja::Value::from_serialize(&reloads)),
        ],
    )
}

/// The console's Shadow page: totals, faults and the changed screenings.
pub(super) async fn shadow(
    State(app): State<Shared>,
    jar: CookieJar,
    params: Params,
    Query(q): Query<api::Since>,
) -> Response {
    let At { shop, .. } = At::of(params);
    let v = match viewer_in(&app, jar, &shop) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let since = q.since.clone();
    let report = match app
        .read(&shop, move |app, store| {
            api::shadow_built(app, store, since.as_deref())
        })
        .await
    {
        Ok(report) => report,
        Err(r) => return as_page(&app, &v, r).await,
    };
    let s = &report.summary;
    let money = serde_json::json!({
        "cost_added": dollars(s.cost_added),
        "cost_saved": dollars(s.cost_saved),
        "gmv_refused": dollars(s.gmv_refused),
    });
    v.page(
        &app,
        "shadow.html",
        vec![
            ("shadow", minijinja::Value::from_serialize(&report)),
            ("money", minijinja::Value::from_serialize(&money)),
            ("since", q.since.unwrap_or_default().into()),
        ],
    )
}

#[derive(Deserialize, Default)]
pub(super) struct Format {
    format: Option<String>,
}

/// The "To ship" page (and its CSV with `?format=csv`): approved samples waiting for a tracking
/// number, oldest approval first.
pub(super) async fn to_ship(
    State(app): State<Shared>,
    jar: CookieJar,
    params: Params,
    Query(f): Query<Format>,
) -> Response {
    let At { shop, .. } = At::of(params);
    let v = match viewer_in(&app, jar, &shop) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let items = match app.read(&shop, api::to_ship_list).await {
        Ok(items) => items,
        Err(r) => return as_page(&app, &v, r).await,
    };
    if f.format.as_deref() == Some("csv") {
        return match crate::analysis::ship::csv_of(&items) {
            Ok(text) => (v.jar.clone(), api::csv_answer(text, "to-ship.csv")).into_response(),
            Err(why) => v.fail(&app, StatusCode::INTERNAL_SERVER_ERROR, why),
        };
    }
    let (tz, now) = (view::zone(&app, &shop), view::now());
    let rows: Vec<Value> = items
        .iter()
        .map(|i| {
            json!({"sample": i.sample, "creator": i.creator, "username": i.username,
                   "product": i.product, "product_title": i.product_title,
                   "category": i.category, "quantity": i.quantity,
                   "approved": view::local(i.approved_at, tz), "approved_by": i.approved_by,
                   "ship_by": i.ship_by.map(|t| view::local(t, tz)),
                   "left": i.ship_by.map(|t| view::left(t, now))})
        })
        .collect();
    v.page(
        &app,
        "ship.html",
        vec![("items", minijinja::Value::from_serialize(&rows))],
    )
}
