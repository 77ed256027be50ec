//! The console's forms that act (review, ship, adjust): each checked against the session's CSRF
//! token and the operator's role, then made into its event by [`OpsAction`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::pages;
use super::sessions::{actor, base_of, urlencoding, Viewer};
use crate::model::ops::OpsAction;
use crate::serve::api::{self, Acted};
use crate::serve::api::{At, Params};
use crate::serve::{App, Shared};

/// The outcome of a form's action: on to `next`, or the refusal on an error page.
fn after(app: &App, v: &Viewer, result: Result<Acted, Response>, next: String) -> Response {
    match result {
        Ok(Acted::Records(_)) => (v.jar.clone(), Redirect::to(&next)).into_response(),
        Ok(Acted::Refused { kind, message }) => v.fail(
            app,
            StatusCode::CONFLICT,
            format!("refused ({kind}): {message}"),
        ),
        Ok(Acted::Invalid(message)) => v.fail(app, StatusCode::BAD_REQUEST, message),
        Err(r) => r,
    }
}

fn text(field: Option<String>) -> Option<String> {
    field
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

#[derive(Deserialize)]
pub(super) struct ReviewForm {
    csrf: Option<String>,
    decision: String,
    note: Option<String>,
    /// `sample` when sent from the sample's page: back there after.
    back: Option<String>,
}

/// The fields of a bulk review form (`samples` repeats): the samples in order, the decision,
/// the note and the CSRF token.
#[derive(Default)]
pub(super) struct BulkForm {
    csrf: Option<String>,
    samples: Vec<String>,
    decision: String,
    note: Option<String>,
}

impl BulkForm {
    fn of(fields: Vec<(String, String)>) -> BulkForm {
        let mut form = BulkForm::default();
        for (name, value) in fields {
            match name.as_str() {
                "csrf" => form.csrf = Some(value),
                "samples" | "sample" if !value.is_empty() && !form.samples.contains(&value) => {
                    form.samples.push(value)
                }
                "decision" => form.decision = value,
                "note" => form.note = Some(value),
                _ => {}
            }
        }
        form
    }
}

/// The page that says what a review will do and asks to confirm it (nothing is done yet); its
/// form posts to the bulk path.
fn confirm_page(
    app: &App,
    v: &Viewer,
    samples: &[String],
    decision: &str,
    note: Option<String>,
) -> Response {
    v.page(
        app,
        "confirm.html",
        vec![
            ("samples", minijinja::Value::from_serialize(samples)),
            ("decision", decision.into()),
            ("note", text(note).into()),
        ],
    )
}

/// `POST …/reviews/confirm`: the queue's bulk form, shown back as what it will do.
pub(super) async fn confirm_reviews(
    State(app): State<Shared>,
    jar: CookieJar,
    params: Params,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let At { shop, .. } = At::of(params);
    let form = BulkForm::of(fields);
    let v = match actor(&app, jar, form.csrf.as_deref(), &shop) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if form.samples.is_empty() {
        return v.fail(
            &app,
            StatusCode::BAD_REQUEST,
            "no request was selected: tick the requests to decide, then press Approve selected or Reject selected".into(),
        );
    }
    if let Some(problem) = api::bulk_problem(&form.samples, &form.decision) {
        return v.fail(&app, StatusCode::BAD_REQUEST, problem);
    }
    confirm_page(&app, &v, &form.samples, &form.decision, form.note)
}

/// `POST …/reviews`: a confirmed review of one or more samples, through the path of
/// `POST /v1/reviews` (one commit); the page lists what happened to each.
pub(super) async fn reviews(
    State(app): State<Shared>,
    jar: CookieJar,
    params: Params,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let At { shop, .. } = At::of(params);
    let form = BulkForm::of(fields);
    let v = match actor(&app, jar, form.csrf.as_deref(), &shop) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(problem) = api::bulk_problem(&form.samples, &form.decision) {
        return v.fail(&app, StatusCode::BAD_REQUEST, problem);
    }
    let results = match api::review_many(
        &app,
        &v.principal,
        &shop,
        &form.samples,
        &form.decision,
        text(form.note),
    )
    .await
    {
        Ok(results) => results,
        Err(r) => return r,
    };
    let done = results
        .iter()
        .filter(|r| r.get("records").is_some())
        .count();
    v.page(
        &app,
        "reviewed.html",
        vec![
            ("results", minijinja::Value::from_serialize(&results)),
            ("decision", form.decision.into()),
            ("done", done.into()),
        ],
    )
}

pub(super) async fn review(
    State(app): State<Shared>,
    jar: CookieJar,
    params: Params,
    Form(form): Form<ReviewForm>,
) -> Response {
    let At { shop, id } = At::of(params);
    let v = match actor(&app, jar, form.csrf.as_deref(), &shop) {
        Ok(v) => v,
        Err(r) => return r,
    };
    // A reject asks for confirmation first (its page posts to the bulk path).
    if form.decision == "reject" {
        return confirm_page(&app, &v, &[id], "reject", form.note);
    }
    let next = if form.back.as_deref() == Some("sample") {
        format!(
            "{}/samples/{}?done={}",
            base_of(&shop),
            urlencoding(&id),
            urlencoding(&form.decision)
        )
    } else {
        format!(
            "{}/queue?done={}&decision={}",
            base_of(&shop),
            urlencoding(&id),
            urlencoding(&form.decision)
        )
    };
    let action = OpsAction::Review {
        sample: id,
        decision: form.decision,
        note: text(form.note),
    };
    let result = api::act(&app, &v.principal, &shop, action).await;
    after(&app, &v, result, next)
}

#[derive(Deserialize)]
pub(super) struct ShipForm {
    csrf: Option<String>,
    #[serde(default)]
    tracking_number: String,
    carrier: Option<String>,
    shipping_cost: Option<String>,
}

pub(super) async fn ship(
    State(app): State<Shared>,
    jar: CookieJar,
    params: Params,
    Form(form): Form<ShipForm>,
) -> Response {
    let At { shop, id } = At::of(params);
    let v = match actor(&app, jar, form.csrf.as_deref(), &shop) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut errors = serde_json::Map::new();
    let cost =
        match text(form.shipping_cost.clone()).map(|c| c.trim_start_matches('$').parse::<f64>()) {
            None => None,
            Some(Ok(c)) if c.is_finite() && c >= 0.0 => Some(c),
            Some(_) => {
                errors.insert(
                    "shipping_cost".into(),
                    "the shipping cost is a number of dollars, like 4.50".into(),
                );
                None
            }
        };
    if form.tracking_number.trim().is_empty() {
        errors.insert(
            "tracking_number".into(),
            "give the parcel's tracking number".into(),
        );
    }
    if !errors.is_empty() {
        let typed = serde_json::json!({
            "tracking_number": form.tracking_number,
            "carrier": form.carrier,
            "shipping_cost": form.shipping_cost,
        });
        let again = pages::Form {
            typed,
            errors: serde_json::Value::Object(errors),
        };
        return pages::sample_page(&app, &v, id, None, again).await;
    }
    let next = format!(
        "{}/samples/{}?done=shipped",
        base_of(&shop),
        urlencoding(&id)
    );
    let action = OpsAction::Ship {
        sample: id,
        tracking_number: form.tracking_number.trim().to_string(),
        carrier: text(form.carrier),
        shipping_cost: cost,
        note: None,
    };
    let result = api::act(&app, &v.principal, &shop, action).await;
    after(&app, &v, result, next)
}

#[derive(Deserialize)]
pub(super) struct AdjustForm {
    csrf: Option<String>,
    credit: Option<String>,
    block_days: Option<String>,
    note: Option<String>,
}

pub(super) async fn adjust(
    State(app): State<Shared>,
    jar: CookieJar,
    params: Params,
    Form(form): Form<AdjustForm>,
) -> Response {
    let At { shop, id } = At::of(params);
    let v = match actor(&app, jar, form.csrf.as_deref(), &shop) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut errors = serde_json::Map::new();
    let credit = match text(form.credit.clone()).map(|c| c.parse::<f64>()) {
        None => None,
        Some(Ok(c)) if c.is_finite() => Some(c),
        Some(_) => {
            errors.insert(
                "credit".into(),
                "the credit change is a number, like -5 or 2.5".into(),
            );
            None
        }
    };
    let days = match text(form.block_days.clone()).map(|d| d.parse::<i64>()) {
        None => None,
        Some(Ok(d)) if d >= 0 => Some(d),
        Some(_) => {
            errors.insert(
                "block_days".into(),
                "block days is a whole number of days, 0 to unblock".into(),
            );
            None
        }
    };
    if errors.is_empty() && credit.is_none() && days.is_none() {
        errors.insert(
            "credit".into(),
            "give a credit change, block days or both".into(),
        );
    }
    if !errors.is_empty() {
        let typed = serde_json::json!({
            "credit": form.credit, "block_days": form.block_days, "note": form.note,
        });
        let again = pages::Form {
            typed,
            errors: serde_json::Value::Object(errors),
        };
        return pages::creator_page(&app, &v, id, None, again).await;
    }
    let next = format!(
        "{}/creators/{}?done=adjusted",
        base_of(&shop),
        urlencoding(&id)
    );
    let action = OpsAction::Adjust {
        creator: id,
        credit,
        block_days: days,
        note: text(form.note),
    };
    let result = api::act(&app, &v.principal, &shop, action).await;
    after(&app, &v, result, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_part_is_percent_encoded() {
        assert_eq!(urlencoding("s 1/<x>"), "s%201%2F%3Cx%3E");
        assert_eq!(urlencoding("s1"), "s1");
    }
}
