//! What every answer goes through: the framework's own errors as JSON `{"error","message"}`, the
//! security headers (tower-http's set-header layers), and open mode's checks of `Host`, `Origin`
//! and `Content-Type` (contract "Serving safely").

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use super::{error, Shared};

/// An error answer's body is read back at most this far to keep its message.
const MESSAGE_LIMIT: usize = 4096;

/// The kind of an error answer that has none of its own.
fn kind(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "timeout",
        413 => "too_large",
        415 => "unsupported_media_type",
        422 => "bad_request",
        503 => "unavailable",
        s if s >= 500 => "internal",
        _ => "bad_request",
    }
}

/// Unknown routes: 404 in JSON.
pub(super) async fn not_found(req: Request) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route `{} {}`", req.method(), req.uri().path()),
    )
}

fn has_own_body(r: &Response) -> bool {
    r.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"))
}

/// Every error answer the framework makes (405, 408, an extractor's 400 or 415, ...) becomes
/// JSON `{"error","message"}`, its text kept as the message; answers that are JSON already, and
/// the console's HTML pages, pass as they are.
pub(super) async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || has_own_body(&response) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MESSAGE_LIMIT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match (status, text.is_empty()) {
        (StatusCode::METHOD_NOT_ALLOWED, _) => {
            format!("`{method}` is not a method this route takes")
        }
        (StatusCode::REQUEST_TIMEOUT, _) => {
            "the request took too long (--request-timeout); nothing of it was acknowledged".into()
        }
        (_, true) => status
            .canonical_reason()
            .unwrap_or("refused")
            .to_lowercase(),
        (_, false) => text,
    };
    let mut fresh = error(status, kind(status), message);
    for (name, value) in parts.headers.iter() {
        // `Allow` on a 405 and the like stay; the body's own headers are the new body's.
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fresh
}

/// `nosniff` on every answer, and `no-store`: every route but `/healthz`, `/readyz` and
/// `/metrics` needs a token or a session, and those three are never worth caching either.
pub(super) fn common_headers() -> tower::layer::util::Stack<
    SetResponseHeaderLayer<HeaderValue>,
    SetResponseHeaderLayer<HeaderValue>,
> {
    tower::layer::util::Stack::new(
        SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ),
    )
}

/// The console's pages may not be framed, and load nothing but their own inline style and the
/// console's own script file (no inline script runs).
const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The console's routes with its headers.
pub(super) fn console_headers(routes: Router<Shared>) -> Router<Shared> {
    routes
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::appending(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONSOLE_CSP),
        ))
}

/// True for a loopback name or address: `localhost`, `127.x.y.z`, `[::1]`.
fn loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(&host);
    bare.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// `host[:port]` split; the port is `default` when absent.
fn split_authority(authority: &str, default: u16) -> Option<(&str, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &authority[..end + 2];
        let port = match &rest[end + 1..] {
            "" => default,
            p => p.strip_prefix(':')?.parse().ok()?,
        };
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host, port.parse().ok()?)),
        None => Some((authority, default)),
    }
}

/// Content types a JSON body may be sent with: JSON, and JSON Lines under its usual names.
fn json_type(value: Option<&HeaderValue>) -> bool {
    let Some(essence) = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
    else {
        return false;
    };
    matches!(
        essence.as_str(),
        "application/json"
            | "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonl"
            | "application/jsonlines"
            | "application/x-jsonlines"
    ) || (essence.starts_with("application/") && essence.ends_with("+json"))
}

const X_FORWARDED: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Open mode (no `--tokens`: every request is the operator `local`, on loopback only): only
/// this machine's own pages may drive it. A `Host` that is not a loopback name (DNS rebinding),
/// an `Origin` that is not this server (another site's page), or a JSON route posted with a
/// type a cross-site form can send (`text/plain`, a form encoding, none) is refused.
pub(super) async fn open_mode(State(app): State<Shared>, req: Request, next: Next) -> Response {
    if app.tokens.is_some() {
        return next.run(req).await;
    }
    let headers = req.headers();
    for name in [header::HOST, X_FORWARDED] {
        if let Some(host) = headers.get(&name) {
            let ok = host
                .to_str()
                .ok()
                .and_then(|h| split_authority(h, 80))
                .is_some_and(|(h, _)| loopback_host(h));
            if !ok {
                return error(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!(
                        "`{name}` is not this machine: without --tokens, serve answers only requests addressed to localhost"
                    ),
                );
            }
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = origin
            .to_str()
            .ok()
            .and_then(|o| o.strip_prefix("http://"))
            .and_then(|a| split_authority(a, 80))
            .is_some_and(|(h, port)| loopback_host(h) && port == app.port);
        if !own {
            return error(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the request comes from another site's page (`Origin`); without --tokens, only this server's own pages may act",
            );
        }
    }
    let path = req.uri().path();
    let json_route = path.starts_with("/v1/") && path != "/v1/tiktok/webhook";
    if req.method() == Method::POST && json_route && !json_type(headers.get(header::CONTENT_TYPE)) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send JSON with `Content-Type: application/json` (or `application/x-ndjson` for JSON Lines); without --tokens, a body of another type could come from another site's form",
        );
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_and_addresses_only() {
        for h in ["localhost", "LOCALHOST.", "127.0.0.1", "127.3.4.5", "[::1]"] {
            assert!(loopback_host(h), "{h}");
        }
        for h in [
            "evil.example",
            "localhost.evil.example",
            "10.0.0.1",
            "[::2]",
            "0.0.0.0",
        ] {
            assert!(!loopback_host(h), "{h}");
        }
        assert_eq!(split_authority("[::1]:8080", 80), Some(("[::1]", 8080)));
        assert_eq!(split_authority("localhost", 80), Some(("localhost", 80)));
        assert_eq!(split_authority("127.0.0.1:x", 80), None);
    }

    #[test]
    fn json_types_only() {
        let v = |s: &'static str| HeaderValue::from_static(s);
        assert!(json_type(Some(&v("application/json; charset=utf-8"))));
        assert!(json_type(Some(&v("application/x-ndjson"))));
        assert!(json_type(Some(&v("application/problem+json"))));
        for t in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
        ] {
            assert!(!json_type(Some(&v(t))), "{t}");
        }
        assert!(!json_type(None));
    }
}
