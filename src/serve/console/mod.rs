//! The console: server-rendered pages for people (minijinja templates, no script, no external
//! resource). A token entered on the login page becomes a session cookie (HttpOnly,
//! SameSite=Strict); every form carries the session's CSRF token, and a form posted without it
//! is refused. Templates escape every value they print.
//!
//! Sessions are kept in the store ([`crate::store::Sessions`]: hashes of their ids, a 12-hour
//! idle expiry), so a restart signs nobody out; a session is as good as the token that opened
//! it, looked up in the tokens in force at each request, so a token removed from the file ends
//! its sessions at once. A session's CSRF token is derived from its id (SHA-256 of a label and
//! the id): nothing more is kept, and it survives a restart with the session.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use minijinja::{context, Environment};
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;

use super::api::{self, Acted};
use super::{auth, App, Permission, Principal, Shared};
use crate::model::ops::OpsAction;
use crate::model::vocab::EventKind;
use crate::store::Sessions;
use sha2::{Digest, Sha256};

/// The session cookie.
const SESSION: &str = "sampleflow_session";
/// The cookie the login form's CSRF token is checked against (before there is a session).
const LOGIN: &str = "sampleflow_login";

/// The console's templates and sessions.
pub(crate) struct Console {
    env: Environment<'static>,
    sessions: Sessions,
    /// No tokens file: every visitor is the local operator, with no login.
    open: bool,
}

/// The CSRF token of session `id`.
fn csrf_of(id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"sampleflow csrf\0");
    h.update(id.as_bytes());
    hex::encode(h.finalize())
}

/// Now, in Unix seconds, on the wall clock every command uses (`SAMPLEFLOW_NOW` in tests).
fn now() -> i64 {
    crate::watch::wall_clock()
        .map(|c| c.now())
        .unwrap_or_else(|_| chrono::Utc::now())
        .timestamp()
}

/// 32 random bytes from the OS, as hex: session ids and CSRF tokens.
fn random() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: no session can be made safely; an empty id matches nothing.
        return String::new();
    }
    hex::encode(bytes)
}

fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Console {
    pub fn new(open: bool, sessions: Sessions) -> Console {
        let mut env = Environment::new();
        // A path part: `/` too is encoded, so an id holding one stays one segment.
        env.add_filter("urlencode", |text: String| urlencoding(&text));
        for (name, text) in [
            ("layout.html", include_str!("templates/layout.html")),
            ("login.html", include_str!("templates/login.html")),
            ("queue.html", include_str!("templates/queue.html")),
            ("sample.html", include_str!("templates/sample.html")),
            ("creator.html", include_str!("templates/creator.html")),
            ("report.html", include_str!("templates/report.html")),
            ("versions.html", include_str!("templates/versions.html")),
            ("shadow.html", include_str!("templates/shadow.html")),
            ("error.html", include_str!("templates/error.html")),
        ] {
            if let Err(e) = env.add_template(name, text) {
                eprintln!("error: console template `{name}`: {e}");
            }
        }
        Console {
            env,
            sessions,
            open,
        }
    }

    fn render(&self, name: &str, ctx: minijinja::Value) -> Response {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => Html(html).into_response(),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot render `{name}`: {e}"),
            )
                .into_response(),
        }
    }

    /// A new session for the token with fingerprint `key`: its id and CSRF token (`None` when
    /// it cannot be kept).
    fn start(&self, key: &str) -> Option<(String, String)> {
        let id = random();
        if id.is_empty() {
            return None;
        }
        match self.sessions.start(&id, key, now()) {
            Ok(()) => {
                let csrf = csrf_of(&id);
                Some((id, csrf))
            }
            Err(e) => {
                eprintln!("console: cannot keep a session: {e}");
                None
            }
        }
    }

    /// The principal and CSRF token of session `id`, while it lives and its token is in force.
    fn find(&self, app: &App, id: &str) -> Option<(Principal, String)> {
        let found = match self.sessions.find(id, now()) {
            Ok(found) => found?,
            Err(e) => {
                eprintln!("console: cannot read a session: {e}");
                return None;
            }
        };
        let principal = match &app.tokens {
            None if found.key == auth::LOCAL_KEY => Principal::local(),
            None => return None,
            Some(keys) => keys.current().by_key(&found.key)?,
        };
        Some((principal, csrf_of(id)))
    }

    /// Ends the sessions of tokens whose fingerprints are not in `keys`; how many ended.
    pub fn keep_sessions_of(&self, keys: &[String]) -> usize {
        self.sessions.keep_only(keys).unwrap_or_else(|e| {
            eprintln!("console: cannot end the sessions of removed tokens: {e}");
            0
        })
    }
}

fn cookie(name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .build()
}

/// Who is looking at the console.
pub(super) struct Viewer {
    principal: Principal,
    csrf: String,
    jar: CookieJar,
}

impl Viewer {
    fn base(&self, app: &App) -> Vec<(&'static str, minijinja::Value)> {
        vec![
            ("style", crate::analysis::html::STYLE.into()),
            ("who", self.principal.name.clone().into()),
            ("role", self.principal.role.as_str().into()),
            ("csrf", self.csrf.clone().into()),
            (
                "operator",
                (self.principal.role == Permission::Operator).into(),
            ),
            ("can_logout", (!app.console.open).into()),
        ]
    }

    pub(super) fn page(
        &self,
        app: &App,
        name: &str,
        extra: Vec<(&'static str, minijinja::Value)>,
    ) -> Response {
        let mut ctx: HashMap<&str, minijinja::Value> = self.base(app).into_iter().collect();
        ctx.extend(extra);
        let page = app
            .console
            .render(name, minijinja::Value::from_serialize(&ctx));
        (self.jar.clone(), page).into_response()
    }

    fn fail(&self, app: &App, status: StatusCode, message: String) -> Response {
        let mut r = self.page(
            app,
            "error.html",
            vec![
                ("status", status.to_string().into()),
                ("message", message.into()),
            ],
        );
        *r.status_mut() = status;
        r
    }
}

/// The session's viewer, or (without tokens) a new session of the local operator; else the way
/// to the login page. Ingest tokens do not open the console.
pub(super) fn viewer(app: &App, jar: CookieJar) -> Result<Viewer, Response> {
    if let Some((principal, csrf)) = jar
        .get(SESSION)
        .and_then(|c| app.console.find(app, c.value()))
    {
        return Ok(Viewer {
            principal,
            csrf,
            jar,
        });
    }
    if app.console.open {
        if let Some((id, csrf)) = app.console.start(auth::LOCAL_KEY) {
            return Ok(Viewer {
                principal: Principal::local(),
                csrf,
                jar: jar.add(cookie(SESSION, id)),
            });
        }
        return Err(super::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "no console session can be kept now; try again",
        ));
    }
    Err(Redirect::to("/login").into_response())
}

/// A form's CSRF token must be the session's; and acting needs an operator.
fn may_act(app: &App, v: &Viewer, csrf: Option<&str>) -> Result<(), Response> {
    if !same(csrf.unwrap_or(""), &v.csrf) {
        return Err(v.fail(
            app,
            StatusCode::FORBIDDEN,
            "this form was sent without the page's CSRF token, so nothing was done; reload the page and try again".into(),
        ));
    }
    if v.principal.role != Permission::Operator {
        return Err(v.fail(
            app,
            StatusCode::FORBIDDEN,
            format!(
                "`{}` is a {}; only operators review, ship and adjust",
                v.principal.name,
                v.principal.role.as_str()
            ),
        ));
    }
    Ok(())
}

/// The viewer of a form that acts: signed in, the form's CSRF token the session's, an operator.
fn actor(app: &App, jar: CookieJar, csrf: Option<&str>) -> Result<Viewer, Response> {
    let v = viewer(app, jar)?;
    may_act(app, &v, csrf)?;
    Ok(v)
}

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/queue") }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/queue", get(queue))
        .route("/samples/{id}", get(sample))
        .route("/samples/{id}/review", post(review))
        .route("/samples/{id}/ship", post(ship))
        .route("/creators/{id}", get(creator))
        .route("/creators/{id}/adjust", post(adjust))
        .route("/report", get(report))
        .route("/versions", get(versions))
        .route("/shadow", get(super::shadow::page))
}

async fn login_page(State(app): State<Shared>, jar: CookieJar) -> Response {
    if app.console.open {
        return Redirect::to("/queue").into_response();
    }
    let csrf = random();
    let page = app.console.render(
        "login.html",
        context! { style => crate::analysis::html::STYLE, csrf => csrf.clone() },
    );
    (jar.add(cookie(LOGIN, csrf)), page).into_response()
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    csrf: Option<String>,
}

async fn login(State(app): State<Shared>, jar: CookieJar, Form(form): Form<LoginForm>) -> Response {
    let refuse = |status: StatusCode, message: &str| {
        let csrf = random();
        let mut page = app.console.render(
            "login.html",
            context! {
                style => crate::analysis::html::STYLE, csrf => csrf.clone(), refused => message,
            },
        );
        *page.status_mut() = status;
        (jar.clone().add(cookie(LOGIN, csrf)), page).into_response()
    };
    let expected = jar
        .get(LOGIN)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    if !same(form.csrf.as_deref().unwrap_or(""), &expected) {
        return refuse(
            StatusCode::FORBIDDEN,
            "the sign-in form was sent without its CSRF token; try again",
        );
    }
    let found = app
        .tokens
        .as_ref()
        .and_then(|t| t.current().find_keyed(form.token.trim()));
    let Some((principal, key)) = found else {
        return refuse(StatusCode::UNAUTHORIZED, "that token is not valid");
    };
    if principal.role == Permission::Ingest {
        return refuse(
            StatusCode::FORBIDDEN,
            "an ingest token posts events; the console takes an operator or viewer token",
        );
    }
    let Some((id, _)) = app.console.start(&key) else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "no session can be kept now; try again",
        );
    };
    (
        jar.remove(Cookie::from(LOGIN)).add(cookie(SESSION, id)),
        Redirect::to("/queue"),
    )
        .into_response()
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: Option<String>,
}

async fn logout(State(app): State<Shared>, jar: CookieJar, Form(form): Form<CsrfOnly>) -> Response {
    let v = match viewer(&app, jar) {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !same(form.csrf.as_deref().unwrap_or(""), &v.csrf) {
        return v.fail(
            &app,
            StatusCode::FORBIDDEN,
            "sign-out was sent without the page's CSRF token".into(),
        );
    }
    if let Some(id) = v.jar.get(SESSION).map(|c| c.value().to_string()) {
        if let Err(e) = app.console.sessions.end(&id) {
            eprintln!("console: cannot end a session: {e}");
        }
    }
    (v.jar.remove(Cookie::from(SESSION)), Redirect::to("/login")).into_response()
}

#[derive(Deserialize, Default)]
struct Done {
    done: Option<String>,
    decision: Option<String>,
}

async fn queue(State(app): State<Shared>, jar: CookieJar, Query(done): Query<Done>) -> Response {
    let v = match viewer(&app, jar) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let items = match app.read(api::queue_json).await {
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

async fn sample(State(app): State<Shared>, jar: CookieJar, Path(id): Path<String>) -> Response {
    let v = match viewer(&app, jar) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let shown = id.clone();
    let found = app
        .read(move |app, store| {
            let Some(found) = api::sample_json(store, &id)? else {
                return Ok(None);
            };
            let state = found["sample"]["state"].as_str().unwrap_or_default();
            let workflow = found["sample"]["workflow"].as_str().unwrap_or_default();
            let can_ship = app
                .graphs()
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

async fn creator(State(app): State<Shared>, jar: CookieJar, Path(id): Path<String>) -> Response {
    let v = match viewer(&app, jar) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let shown = id.clone();
    match app
        .read(move |_, store| api::creator_json(store, &id))
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
struct ReportQuery {
    since: Option<String>,
    until: Option<String>,
}

async fn report(
    State(app): State<Shared>,
    jar: CookieJar,
    Query(q): Query<ReportQuery>,
) -> Response {
    let v = match viewer(&app, jar) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let window = api::Window {
        since: q.since.clone(),
        until: q.until.clone(),
        by: None,
    };
    match app
        .read(move |app, store| api::report_built(app, store, &window).map(|b| b.body()))
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

async fn versions(State(app): State<Shared>, jar: CookieJar) -> Response {
    let v = match viewer(&app, jar) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let versions = app
        .read(|_, store| {
            store
                .versions()
                .map(|vs| {
                    vs.iter()
                        .map(|v| {
                            json!({"kind": v.kind, "hash": v.hash, "name": v.name, "first_seen": v.first_seen})
                        })
                        .collect::<Vec<_>>()
                })
                .map_err(super::store_error)
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
struct ReviewForm {
    csrf: Option<String>,
    decision: String,
    note: Option<String>,
}

async fn review(
    State(app): State<Shared>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(form): Form<ReviewForm>,
) -> Response {
    let v = match actor(&app, jar, form.csrf.as_deref()) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let next = format!(
        "/queue?done={}&decision={}",
        urlencoding(&id),
        urlencoding(&form.decision)
    );
    let action = OpsAction::Review {
        sample: id,
        decision: form.decision,
        note: text(form.note),
    };
    let result = api::act(&app, &v.principal, action).await;
    after(&app, &v, result, next)
}

/// A path or query part, percent-encoded.
fn urlencoding(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[derive(Deserialize)]
struct ShipForm {
    csrf: Option<String>,
    tracking_number: String,
    carrier: Option<String>,
    shipping_cost: Option<String>,
}

async fn ship(
    State(app): State<Shared>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(form): Form<ShipForm>,
) -> Response {
    let v = match actor(&app, jar, form.csrf.as_deref()) {
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
    let next = format!("/samples/{}", urlencoding(&id));
    let action = OpsAction::Ship {
        sample: id,
        tracking_number: form.tracking_number.trim().to_string(),
        carrier: text(form.carrier),
        shipping_cost: cost,
        note: None,
    };
    let result = api::act(&app, &v.principal, action).await;
    after(&app, &v, result, next)
}

#[derive(Deserialize)]
struct AdjustForm {
    csrf: Option<String>,
    credit: Option<String>,
    block_days: Option<String>,
    note: Option<String>,
}

async fn adjust(
    State(app): State<Shared>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(form): Form<AdjustForm>,
) -> Response {
    let v = match actor(&app, jar, form.csrf.as_deref()) {
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
    let next = format!("/creators/{}", urlencoding(&id));
    let action = OpsAction::Adjust {
        creator: id,
        credit,
        block_days: days,
        note: text(form.note),
    };
    let result = api::act(&app, &v.principal, action).await;
    after(&app, &v, result, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_in_every_page() {
        let console = Console::new(true, Sessions::in_memory(10).expect("sessions"));
        let ctx = context! {
            style => "", who => "<b>x</b>", role => "operator", csrf => "t", operator => true,
            items => vec![json!({"sample": "<script>alert(1)</script>", "creator": "c\"1",
                "expires": "2026-01-01T00:00:00Z", "category": "beauty", "price": 1.0,
                "followers": 1, "engagement_rate": 0.1, "credit": 0})],
        };
        let html = console
            .env
            .get_template("queue.html")
            .and_then(|t| t.render(ctx))
            .expect("renders");
        assert!(!html.contains("<script>alert(1)</script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(
            html.contains("%3Cscript%3Ealert%281%29%3C%2Fscript%3E"),
            "{html}"
        );
        assert!(!html.contains("<b>x</b>"));
        assert!(html.contains("name=\"csrf\" value=\"t\""));

        // The sample's timeline and the creator's ledger, with markup in every field a client
        // can write: ids, notes, `by`, tracking.
        let bad = "<script>alert(2)</script>";
        let pages = [
            (
                "sample.html",
                context! {
                    style => "", who => "ana", role => "operator", csrf => "t", operator => true,
                    can_ship => true,
                    s => json!({"sample": bad, "state": "shipped", "creator": bad, "product": bad,
                        "category": bad, "tracking_number": bad, "reviewed_by": bad}),
                    records => vec![json!({"at": "2026-01-01T00:00:00Z", "to": "shipped",
                        "trigger": "sample_shipped", "by": bad, "note": bad, "actions": []})],
                },
            ),
            (
                "creator.html",
                context! {
                    style => "", who => "ana", role => "operator", csrf => "t", operator => true,
                    c => json!({"creator": bad}), fields => vec![(bad, bad)],
                },
            ),
        ];
        for (page, ctx) in pages {
            let html = console
                .env
                .get_template(page)
                .and_then(|t| t.render(ctx))
                .expect("renders");
            assert!(!html.contains(bad), "{page}: {html}");
            assert!(html.contains("&lt;script&gt;alert(2)"), "{page}: {html}");
        }
    }

    #[test]
    fn a_sessions_csrf_token_is_its_own_and_unguessable_without_the_id() {
        assert_eq!(csrf_of("a"), csrf_of("a"));
        assert_ne!(csrf_of("a"), csrf_of("b"));
        assert_ne!(csrf_of("a"), "a");
        assert_eq!(csrf_of("a").len(), 64);
    }

    #[test]
    fn a_path_part_is_percent_encoded() {
        assert_eq!(urlencoding("s 1/<x>"), "s%201%2F%3Cx%3E");
        assert_eq!(urlencoding("s1"), "s1");
    }

    #[test]
    fn csrf_tokens_compare_whole_and_never_empty() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("", ""));
        assert!(!same("ab", "abc"));
        assert_eq!(random().len(), 64);
        assert_ne!(random(), random());
    }
}
