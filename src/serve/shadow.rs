//! The shadow's answers: `GET /v1/shadow?since=` (viewer) and the console's Shadow page, both
//! the report `sampleflow shadow` prints, read from the store beside the runner.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::{error, App, Shared};
use crate::analysis::dollars;
use crate::analysis::shadow::ShadowReport;
use crate::store::Store;

/// `?since=`, as `shadow --since`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Since {
    pub since: Option<String>,
}

fn built(app: &App, store: &mut dyn Store, since: Option<&str>) -> Result<ShadowReport, Response> {
    let tz = app
        .rules()
        .map_or(crate::rules::DEFAULT_TIMEZONE, |r| r.policy().timezone);
    let graphs = app.graphs();
    match crate::analysis::shadow::build(store, &graphs, tz, since) {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(why)) => Err(error(StatusCode::BAD_REQUEST, "bad_request", why)),
        Err(e) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store",
            app.store_said(e),
        )),
    }
}

/// `GET /v1/shadow`: the contract's `{"rules", "since", "compared", "agreeing", "changes",
/// "summary", "faults"}`.
pub(super) async fn api(
    State(app): State<Shared>,
    headers: HeaderMap,
    since: Result<Query<Since>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if let Err(r) = super::api::viewer(&app, &headers) {
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
        .read(move |app, store| built(app, store, since.as_deref()))
        .await
    {
        Ok(report) => Json(report).into_response(),
        Err(r) => r,
    }
}

/// The console's Shadow page: totals, faults and the changed screenings.
pub(super) async fn page(
    State(app): State<Shared>,
    jar: CookieJar,
    Query(q): Query<Since>,
) -> Response {
    let v = match super::console::viewer(&app, jar) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let since = q.since.clone();
    let report = match app
        .read(move |app, store| built(app, store, since.as_deref()))
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
