//! The console: server-rendered pages for people (minijinja templates, no script, no external
//! resource). A token entered on the login page becomes a session cookie (HttpOnly,
//! SameSite=Strict); every form carries the session's CSRF token, and a form posted without it
//! is refused. Templates escape every value they print.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

use super::api::{self, Acted, Action};
use super::{App, Principal, Role, Shared};
use crate::model::vocab::EventKind;

/// The session cookie.
const SESSION: &str = "sampleflow_session";
/// The cookie the login form's CSRF token is checked against (before there is a session).
const LOGIN: &str = "sampleflow_login";
/// A session ends after this long unused.
const IDLE: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most (the least recently used go first): visitors without a cookie, such
/// as scripts on an open console, cannot grow memory without bound.
const MAX_SESSIONS: usize = 10_000;

struct Session {
    principal: Principal,
    csrf: String,
    used: Instant,
}

/// The console's templates and sessions.
pub(crate) struct Console {
    env: Environment<'static>,
    sessions: Mutex<HashMap<String, Session>>,
    /// No tokens file: every visitor is the local operator, with no login.
    open: bool,
    /// Sessions kept at most.
    cap: usize,
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
    pub fn new(open: bool) -> Console {
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
            ("error.html", include_str!("templates/error.html")),
        ] {
            if let Err(e) = env.add_template(name, text) {
                eprintln!("error: console template `{name}`: {e}");
            }
        }
        Console {
            env,
            sessions: Mutex::new(HashMap::new()),
            open,
            cap: MAX_SESSIONS,
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

    fn start(&self, principal: Principal) -> (String, String) {
        let (id, csrf) = (random(), random());
        if let Ok(mut sessions) = self.sessions.lock() {
            sessions.retain(|_, s| s.used.elapsed() < IDLE);
            if sessions.len() >= self.cap {
                let oldest = sessions
                    .iter()
                    .min_by_key(|(_, s)| s.used)
                    .map(|(id, _)| id.clone());
                if let Some(id) = oldest {
                    sessions.remove(&id);
                }
            }
            sessions.insert(
                id.clone(),
                Session {
                    principal,
                    csrf: csrf.clone(),
                    used: Instant::now(),
                },
            );
        }
        (id, csrf)
    }

    fn find(&self, id: &str) -> Option<(Principal, String)> {
        let mut sessions = self.sessions.lock().ok()?;
        let s = sessions.get_mut(id)?;
        if s.used.elapsed() >= IDLE {
            sessions.remove(id);
            return None;
        }
        s.used = Instant::now();
        Some((s.principal.clone(), s.csrf.clone()))
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
struct Viewer {
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
            ("operator", (self.principal.role == Role::Operator).into()),
            ("can_logout", (!app.console.open).into()),
        ]
    }

    fn page(
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
fn viewer(app: &App, jar: CookieJar) -> Result<Viewer, Response> {
    if let Some((principal, csrf)) = jar.get(SESSION).and_then(|c| app.console.find(c.value())) {
        return Ok(Viewer {
            principal,
            csrf,
            jar,
        });
    }
    if app.console.open {
        let (id, csrf) = app.console.start(Principal::local());
        return Ok(Viewer {
            principal: Principal::local(),
            csrf,
            jar: jar.add(cookie(SESSION, id)),
        });
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
    if v.principal.role != Role::Operator {
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
    let found = app.tokens.as_ref().and_then(|t| t.find(form.token.trim()));
    let Some(principal) = found else {
        return refuse(StatusCode::UNAUTHORIZED, "that token is not valid");
    };
    if principal.role == Role::Ingest {
        return refuse(
            StatusCode::FORBIDDEN,
            "an ingest token posts events; the console takes an operator or viewer token",
        );
    }
    let (id, _) = app.console.start(principal);
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
        if let Ok(mut sessions) = app.console.sessions.lock() {
            sessions.remove(&id);
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
            let can_ship = crate::cli::load_workflows(&app.cli)
                .ok()
                .and_then(|(graphs, _)| {
                    graphs
                        .iter()
                        .find(|g| g.workflow().name.value == workflow)
                        .map(|g| g.move_for(state, EventKind::SampleShipped.name()).is_some())
                })
                .unwrap_or(false);
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
    let action = Action::Review {
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
    let action = Action::Ship {
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
    let action = Action::Adjust {
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
        let console = Console::new(true);
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
    fn sessions_are_bounded_and_the_least_recently_used_goes_first() {
        let mut console = Console::new(true);
        console.cap = 50;
        let (first, _) = console.start(Principal::local());
        let (second, _) = console.start(Principal::local());
        for _ in 0..console.cap {
            // `second` stays in use; `first` is the least recently used.
            assert!(console.find(&second).is_some());
            console.start(Principal::local());
        }
        let kept = console.sessions.lock().expect("lock").len();
        assert_eq!(kept, console.cap);
        assert!(console.find(&first).is_none());
        assert!(console.find(&second).is_some());
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
