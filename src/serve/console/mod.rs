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
            .route(&format!("{base}/creators/{{id}}"), get(pages::creator))
            .route(
                &format!("{base}/creators/{{id}}/adjust"),
                post(forms::adjust),
            )
            .route(&format!("{base}/report"), get(pages::report))
            .route(&format!("{base}/versions"), get(pages::versions))
            .route(&format!("{base}/shadow"), get(pages::shadow));
    }
    router
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
}
