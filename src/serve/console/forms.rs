//! The console's forms that act (review, ship, adjust): each checked against the session's CSRF
//! token and the operator's role, then made into its event by [`OpsAction`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::CookieJar;
use serde::Deserialize;

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
    let next = format!(
        "{}/queue?done={}&decision={}",
        base_of(&shop),
        urlencoding(&id),
        urlencoding(&form.decision)
    );
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
    let cost = match text(form.shipping_cost).map(|c| c.parse::<f64>()) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(_)) => {
            return v.fail(
                &app,
                StatusCode::BAD_REQUEST,
                "the shipping cost is a number of dollars".into(),
            )
        }
    };
    let next = format!("{}/samples/{}", base_of(&shop), urlencoding(&id));
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
    let credit = text(form.credit).map(|c| c.parse::<f64>());
    let days = text(form.block_days).map(|d| d.parse::<i64>());
    let (credit, days) = match (credit, days) {
        (Some(Err(_)), _) | (_, Some(Err(_))) => {
            return v.fail(
                &app,
                StatusCode::BAD_REQUEST,
                "credit and block days are numbers".into(),
            )
        }
        (c, d) => (c.and_then(Result::ok), d.and_then(Result::ok)),
    };
    let next = format!("{}/creators/{}", base_of(&shop), urlencoding(&id));
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
