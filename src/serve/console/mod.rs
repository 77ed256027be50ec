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
//!
//! Cookie sessions and signing in are in `sessions`, the pages in `pages`, the forms that act
//! in `forms`.

mod forms;
mod pages;
mod sessions;
mod view;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::Environment;

use super::Shared;
use crate::store::Sessions;

/// The console's templates and sessions.
pub(crate) struct Console {
    env: Environment<'static>,
    sessions: Sessions,
    /// No tokens file: every visitor is the local operator, with no login.
    open: bool,
}

impl Console {
    pub fn new(open: bool, sessions: Sessions) -> Console {
        let mut env = Environment::new();
        // A path part: `/` too is encoded, so an id holding one stays one segment.
        env.add_filter("urlencode", |text: String| sessions::urlencoding(&text));
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
            ("confirm.html", include_str!("templates/confirm.html")),
            ("reviewed.html", include_str!("templates/reviewed.html")),
            ("ship.html", include_str!("templates/ship.html")),
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

    pub(super) fn render(&self, name: &str, ctx: minijinja::Value) -> Response {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => Html(html).into_response(),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot render `{name}`: {e}"),
            )
                .into_response(),
        }
    }
}

/// The queue's keys (j/k move, x select, o open, a approve, r reject), a file of the console's
/// own: its pages run no inline script.
async fn keys_js() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/javascript; charset=utf-8",
        )],
        include_str!("keys.js"),
    )
        .into_response()
}

/// The console's routes: every page under `/shops/{shop}/`, and unscoped for shop `default`.
pub(super) fn routes() -> Router<Shared> {
    let mut router = Router::new()
        .route("/", get(|| async { Redirect::to("/queue") }))
        .route(
            "/shops/{shop}",
            get(
                |axum::extract::Path(shop): axum::extract::Path<String>| async move {
                    Redirect::to(&format!("{}/queue", sessions::base_of(&shop)))
                },
            ),
        )
        .route("/login", get(sessions::login_page).post(sessions::login))
        .route("/console/keys.js", get(keys_js))
        .route("/logout", post(sessions::logout));
    for base in ["", "/shops/{shop}"] {
        router = router
            .route(&format!("{base}/queue"), get(pages::queue))
            .route(&format!("{base}/samples/{{id}}"), get(pages::sample))
            .route(
                &format!("{base}/samples/{{id}}/review"),
                post(forms::review),
            )
            .route(&format!("{base}/samples/{{id}}/ship"), post(forms::ship))
            .route(
                &format!("{base}/reviews/confirm"),
                post(forms::confirm_reviews),
            )
            .route(&format!("{base}/reviews"), post(forms::reviews))
            .route(&format!("{base}/creators/{{id}}"), get(pages::creator))
            .route(
                &format!("{base}/creators/{{id}}/adjust"),
                post(forms::adjust),
            )
            .route(&format!("{base}/report"), get(pages::report))
            .route(&format!("{base}/ship"), get(pages::to_ship))
            .route(&format!("{base}/versions"), get(pages::versions))
            .route(&format!("{base}/shadow"), get(pages::shadow));
    }
    router.layer(axum::middleware::from_fn(sessions::back_after_login))
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;
    use serde_json::json;

    #[test]
    fn values_are_escaped_in_every_page() {
        let console = Console::new(true, Sessions::in_memory(10).expect("sessions"));
        let ctx = context! {
            style => "", who => "<b>x</b>", role => "operator", csrf => "t", operator => true,
            items => vec![json!({"sample": "<script>alert(1)</script>", "creator": "c\"1",
                "expires": "2026-01-01T00:00:00Z", "category": "beauty", "price": 1.0,
                "followers": 1, "engagement_rate": 0.1, "credit": 0, "reason": "<i>r</i>"})],
            asked => json!({"q": "<q>", "sort": "expiry"}), total => 1, first => 1,
            choices => json!({"categories": ["<c>"], "reasons": [], "tiers": []}),
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
        assert!(!html.contains("<q>") && !html.contains("<c>") && !html.contains("<i>r</i>"));
        assert!(html.contains("name=\"csrf\" value=\"t\""));

        // The sample's timeline and the creator's ledger, with markup in every field a client
        // can write: ids, notes, `by`, tracking.
        let bad = "<script>alert(2)</script>";
        let pages = [
            (
                "sample.html",
                context! {
                    style => "", who => "ana", role => "operator", csrf => "t", operator => true,
                    can_ship => true, can_review => true, facts => json!({"reason_text": bad}),
                    creator => json!({"username": bad, "tier": bad}),
                    deadlines => vec![json!({"name": bad, "due": bad, "left": bad})],
                    typed => json!({"tracking_number": bad}), errors => json!({"shipping_cost": bad}),
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
                    c => json!({"creator": bad, "username": bad, "tier_why": bad,
                        "breaches": [bad], "approvals": [{"quarter": bad, "category": bad, "count": 1}],
                        "adjustments": [{"at": bad, "by": bad, "note": bad}]}),
                    samples => vec![json!({"sample": bad, "state": bad, "product": bad})],
                    typed => json!({"note": bad}), errors => json!({"credit": bad}),
                },
            ),
            (
                "confirm.html",
                context! {
                    style => "", who => "ana", role => "operator", csrf => "t", operator => true,
                    samples => vec![bad], decision => "reject", note => bad,
                },
            ),
            (
                "reviewed.html",
                context! {
                    style => "", who => "ana", role => "operator", csrf => "t", operator => true,
                    results => vec![json!({"sample": bad, "error": bad, "message": bad})],
                    decision => "approve", done => 0,
                },
            ),
            (
                "ship.html",
                context! {
                    style => "", who => "ana", role => "operator", csrf => "t", operator => true,
                    items => vec![json!({"sample": bad, "creator": bad, "username": bad,
                        "product": bad, "approved": bad})],
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
}
