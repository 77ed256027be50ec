//! The console's pages: the queue, a sample, a creator, the report, versions and reloads, and
//! the shadow's report.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::analysis::dollars;

use super::sessions::viewer_in;
use crate::model::vocab::EventKind;
use crate::serve::api::{At, Params};
use crate::serve::{api, Shared};

#[derive(Deserialize, Default)]
pub(super) struct Done {
    done: Option<String>,
    decision: Option<String>,
}

pub(super) async fn queue(
    State(app): State<Shared>,
    jar: CookieJar,
    params: Params,
    Query(done): Query<Done>,
) -> Response {
    let At { shop, .. } = At::of(params);
    let v = match viewer_in(&app, jar, &shop) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let items = match app.read(&shop, api::queue_json).await {
        Ok(items) => items,
        Err(r) => return r,
    };
    let flash = done.done.map(|s| {
        let verb = match done.decision.as_deref() {
            Some("reject") => "rejected",
            _ => "approved",
        };
        format!("`{s}` {verb} by {}", v.principal.name)
    });
    v.page(
        &app,
        "queue.html",
        vec![
            ("items", minijinja::Value::from_serialize(&items)),
            ("flash", flash.into()),
        ],
    )
}

pub(super) async fn sample(State(app): State<Shared>, jar: CookieJar, params: Params) -> Response {
    let At { shop, id } = At::of(params);
    let v = match viewer_in(&app, jar, &shop) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let shown = id.clone();
    let found = app
        .read(&shop, move |app, store| {
            let Some(found) = api::sample_json(store, &id)? else {
                return Ok(None);
            };
            let state = found["sample"]["state"].as_str().unwrap_or_default();
            let workflow = found["sample"]["workflow"].as_str().unwrap_or_default();
            let can_ship = app
                .graphs(store.shop())
                .iter()
                .find(|g| g.workflow().name.value == workflow)
                .is_some_and(|g| g.move_for(state, EventKind::SampleShipped.name()).is_some());
            Ok(Some((found, can_ship)))
        })
        .await;
    match found {
        Ok(Some((found, can_ship))) => v.page(
            &app,
            "sample.html",
            vec![
                ("s", minijinja::Value::from_serialize(&found["sample"])),
                (
                    "records",
                    minijinja::Value::from_serialize(&found["records"]),
                ),
                ("can_ship", can_ship.into()),
            ],
        ),
        Ok(None) => v.fail(
            &app,
            StatusCode::NOT_FOUND,
            format!("no sample `{shown}` in the store"),
        ),
        Err(r) => r,
    }
}

pub(super) async fn creator(State(app): State<Shared>, jar: CookieJar, params: Params) -> Response {
    let At { shop, id } = At::of(params);
    let v = match viewer_in(&app, jar, &shop) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let shown = id.clone();
    match app
        .read(&shop, move |_, store| api::creator_json(store, &id))
        .await
    {
        Ok(Some(c)) => {
            let fields: Vec<(String, String)> = c
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter(|(k, _)| k.as_str() != "creator")
                        .map(|(k, v)| {
                            let text = match v {
                                Value::String(s) => s.clone(),
                                Value::Null => "-".into(),
                                other => other.to_string(),
                            };
                            (k.clone(), text)
                        })
                        .collect()
                })
                .unwrap_or_default();
            v.page(
                &app,
                "creator.html",
                vec![
                    ("c", minijinja::Value::from_serialize(&c)),
                    ("fields", minijinja::Value::from_serialize(&fields)),
                ],
            )
        }
        Ok(None) => v.fail(
            &app,
            StatusCode::NOT_FOUND,
            format!("no creator `{shown}` in the store"),
        ),
        Err(r) => r,
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
        Err(r) => r,
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
        Err(r) => return r,
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
        Err(r) => return r,
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
