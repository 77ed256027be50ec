//! The console's cookie sessions: signing in with a token, the session cookie and its CSRF
//! token, who is looking ([`Viewer`]), and signing out.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use minijinja::context;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Console;
use crate::serve::{auth, App, Permission, Principal, Shared};

/// The session cookie.
const SESSION: &str = "sampleflow_session";
/// The cookie the login form's CSRF token is checked against (before there is a session).
const LOGIN: &str = "sampleflow_login";

/// The CSRF token of session `id`.
pub(super) fn csrf_of(id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"sampleflow csrf\0");
    h.update(id.as_bytes());
    hex::encode(h.finalize())
}

/// Now, in Unix seconds, on the wall clock every command uses (`SAMPLEFLOW_NOW` in tests).
pub(super) fn now() -> i64 {
    crate::session::live::wall_now().timestamp()
}

/// 32 random bytes from the OS, as hex: session ids and CSRF tokens.
pub(super) fn random() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: no session can be made safely; an empty id matches nothing.
        return String::new();
    }
    hex::encode(bytes)
}

/// Runs `f`, which may wait on the store (PostgreSQL's client is synchronous and would start a
/// runtime of its own), off the async threads: the handler's worker hands its other tasks to
/// the others while it waits.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

pub(super) fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Console {
    /// A new session for the token with fingerprint `key`: its id and CSRF token (`None` when
    /// it cannot be kept).
    pub(super) fn start(&self, key: &str) -> Option<(String, String)> {
        let id = random();
        if id.is_empty() {
            return None;
        }
        match blocking(|| self.sessions.start(&id, key, now())) {
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
    pub(super) fn find(&self, app: &App, id: &str) -> Option<(Principal, String)> {
        let found = match blocking(|| self.sessions.find(id, now())) {
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
        blocking(|| self.sessions.keep_only(keys)).unwrap_or_else(|e| {
            eprintln!("console: cannot end the sessions of removed tokens: {e}");
            0
        })
    }
}

pub(super) fn cookie(name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .build()
}

/// Who is looking at the console, and at which shop.
pub(in crate::serve) struct Viewer {
    pub(super) principal: Principal,
    pub(super) csrf: String,
    pub(super) jar: CookieJar,
    /// The shop the page is of.
    pub(super) shop: String,
}

/// The start of every page URL of `shop`: `/shops/{shop}`.
pub(super) fn base_of(shop: &str) -> String {
    format!("/shops/{}", urlencoding(shop))
}

impl Viewer {
    fn base(&self, app: &App) -> Vec<(&'static str, minijinja::Value)> {
        vec![
            ("style", crate::analysis::html::STYLE.into()),
            ("shop", self.shop.clone().into()),
            // Percent-encoded already (and a shop name is `[a-z0-9][a-z0-9_-]*`): printed as
            // it is, so that its slashes stay slashes.
            (
                "base",
                minijinja::Value::from_safe_string(base_of(&self.shop)),
            ),
            (
                "shops",
                minijinja::Value::from_serialize(app.shops_of(&self.principal)),
            ),
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

    pub(in crate::serve) fn page(
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

    pub(super) fn fail(&self, app: &App, status: StatusCode, message: String) -> Response {
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
pub(in crate::serve) fn viewer(app: &App, jar: CookieJar) -> Result<Viewer, Response> {
    if let Some((principal, csrf)) = jar
        .get(SESSION)
        .and_then(|c| app.console.find(app, c.value()))
    {
        return Ok(Viewer {
            principal,
            csrf,
            jar,
            shop: crate::model::DEFAULT_SHOP.to_string(),
        });
    }
    if app.console.open {
        if let Some((id, csrf)) = app.console.start(auth::LOCAL_KEY) {
            return Ok(Viewer {
                principal: Principal::local(),
                csrf,
                jar: jar.add(cookie(SESSION, id)),
                shop: crate::model::DEFAULT_SHOP.to_string(),
            });
        }
        return Err(crate::serve::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "no console session can be kept now; try again",
        ));
    }
    Err(Redirect::to("/login").into_response())
}

/// The session's viewer of a page of `shop`: a 404 page when the session does not run that shop,
/// a 403 page when it is outside the viewer's shops (their links lead to a shop the viewer may
/// see).
pub(in crate::serve) fn viewer_in(
    app: &App,
    jar: CookieJar,
    shop: &str,
) -> Result<Viewer, Response> {
    let mut v = viewer(app, jar)?;
    let refused = if !app.runs(shop) {
        Some((StatusCode::NOT_FOUND, crate::serve::unknown_shop(shop)))
    } else if !v.principal.shops.allows(shop) {
        Some((
            StatusCode::FORBIDDEN,
            crate::serve::outside_shops(&v.principal, shop),
        ))
    } else {
        None
    };
    if let Some((status, message)) = refused {
        v.shop = home(app, &v.principal);
        return Err(v.fail(app, status, message));
    }
    v.shop = shop.to_string();
    Ok(v)
}

/// The shop a viewer lands on: `default` when they may see it, else the first of theirs.
fn home(app: &App, principal: &Principal) -> String {
    let shops = app.shops_of(principal);
    if shops.iter().any(|s| s == crate::model::DEFAULT_SHOP) {
        return crate::model::DEFAULT_SHOP.to_string();
    }
    shops
        .into_iter()
        .next()
        .unwrap_or_else(|| crate::model::DEFAULT_SHOP.to_string())
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

/// The viewer of a form that acts in `shop`: signed in, the shop theirs, the form's CSRF token
/// the session's, an operator.
pub(super) fn actor(
    app: &App,
    jar: CookieJar,
    csrf: Option<&str>,
    shop: &str,
) -> Result<Viewer, Response> {
    let v = viewer_in(app, jar, shop)?;
    may_act(app, &v, csrf)?;
    Ok(v)
}

/// `?next=` (the page to return to after signing in) and `?expired=1` (a session had ended).
#[derive(Deserialize, Default)]
pub(super) struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

/// A page of this console to return to: a path of this site (never another's: `//host` or
/// `/\host` are refused), else none.
fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.starts_with("/login")
        && !next.chars().any(|c| c.is_control() || c == '\\');
    ok.then(|| next.to_string())
}

pub(super) async fn login_page(
    State(app): State<Shared>,
    jar: CookieJar,
    axum::extract::Query(q): axum::extract::Query<LoginQuery>,
) -> Response {
    if app.console.open {
        return Redirect::to("/queue").into_response();
    }
    let csrf = random();
    let expired = q.expired.as_deref() == Some("1");
    let page = app.console.render(
        "login.html",
        context! {
            style => crate::analysis::html::STYLE, csrf => csrf.clone(),
            next => safe_next(q.next.as_deref()), expired => expired,
        },
    );
    (jar.add(cookie(LOGIN, csrf)), page).into_response()
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    token: String,
    csrf: Option<String>,
    next: Option<String>,
}

pub(super) async fn login(
    State(app): State<Shared>,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let refuse = |status: StatusCode, message: &str| {
        let csrf = random();
        let mut page = app.console.render(
            "login.html",
            context! {
                style => crate::analysis::html::STYLE, csrf => csrf.clone(), refused => message,
                next => next.clone(),
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
    let landing = next
        .clone()
        .unwrap_or_else(|| format!("{}/queue", base_of(&home(&app, &principal))));
    (
        jar.remove(Cookie::from(LOGIN)).add(cookie(SESSION, id)),
        Redirect::to(&landing),
    )
        .into_response()
}

#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    csrf: Option<String>,
}

pub(super) async fn logout(
    State(app): State<Shared>,
    jar: CookieJar,
    Form(form): Form<CsrfOnly>,
) -> Response {
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
        if let Err(e) = blocking(|| app.console.sessions.end(&id)) {
            eprintln!("console: cannot end a session: {e}");
        }
    }
    (v.jar.remove(Cookie::from(SESSION)), Redirect::to("/login")).into_response()
}

/// Sends a visitor whose session is missing or ended to the login page with the page to come
/// back to (`?next=`): the page itself for a GET, the page the form was on for a POST (its
/// action is not replayed), and `expired=1` when the browser still held a session cookie.
pub(super) async fn back_after_login(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let had_session = CookieJar::from_headers(req.headers())
        .get(SESSION)
        .is_some();
    let get = req.method() == axum::http::Method::GET;
    let here = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let referer = req
        .headers()
        .get(axum::http::header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| r.parse::<axum::http::Uri>().ok())
        .and_then(|u| u.path_and_query().map(|p| p.as_str().to_string()));
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    let to_login = response
        .headers()
        .get(axum::http::header::LOCATION)
        .is_some_and(|l| l.as_bytes() == b"/login");
    if !response.status().is_redirection() || !to_login {
        return response;
    }
    let back = if get {
        Some(here)
    } else {
        referer.or_else(|| form_page(&path))
    };
    let mut to = String::from("/login");
    let mut sep = '?';
    if let Some(back) = safe_next(back.as_deref()) {
        to.push_str(&format!("?next={}", urlencoding(&back)));
        sep = '&';
    }
    if had_session {
        to.push(sep);
        to.push_str("expired=1");
    }
    Redirect::to(&to).into_response()
}

/// The page a form's action path belongs to: `/samples/s1/review` is on `/samples/s1`, bulk
/// reviews on the queue.
fn form_page(path: &str) -> Option<String> {
    let (page, last) = path.rsplit_once('/')?;
    match last {
        "review" | "ship" | "adjust" => Some(page.to_string()),
        "reviews" => Some(format!("{page}/queue")),
        "confirm" => page.strip_suffix("/reviews").map(|p| format!("{p}/queue")),
        _ => None,
    }
}

/// A query value, percent-encoded (`-`, `_`, `.` and `~` left as they are).
pub(super) fn query_part(text: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(text, SET).to_string()
}

/// A path or query part, percent-encoded.
pub(super) fn urlencoding(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sessions_csrf_token_is_its_own_and_unguessable_without_the_id() {
        assert_eq!(csrf_of("a"), csrf_of("a"));
        assert_ne!(csrf_of("a"), csrf_of("b"));
        assert_ne!(csrf_of("a"), "a");
        assert_eq!(csrf_of("a").len(), 64);
    }

    #[test]
    fn only_a_page_of_this_site_is_returned_to() {
        assert_eq!(
            safe_next(Some("/shops/a/queue?q=x")).as_deref(),
            Some("/shops/a/queue?q=x")
        );
        assert_eq!(safe_next(Some("//evil.example/")), None);
        assert_eq!(safe_next(Some("/\\evil.example/")), None);
        assert_eq!(safe_next(Some("https://evil.example/")), None);
        assert_eq!(safe_next(Some("/login")), None);
        assert_eq!(
            form_page("/shops/a/samples/s1/review").as_deref(),
            Some("/shops/a/samples/s1")
        );
        assert_eq!(
            form_page("/shops/a/reviews/confirm").as_deref(),
            Some("/shops/a/queue")
        );
        assert_eq!(form_page("/reviews").as_deref(), Some("/queue"));
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
