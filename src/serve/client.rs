//! The service's client side: how a command hands an event line to the live `serve` that holds
//! the store (`review`, `ship` and `adjust` do), through `POST /v1/shops/{shop}/events` (a cluster's instance forwards it to the shop's owner).

use std::time::Duration;

/// An answer of the server: its status and body.
#[derive(Debug, Clone)]
pub struct PostAnswer {
    /// The HTTP status.
    pub status: u16,
    /// The status as said: its code and reason (`401 Unauthorized`).
    pub said: String,
    /// The body, as text.
    pub text: String,
}

/// Posts `body` (JSON Lines) to `POST /v1/shops/{shop}/events` of the server at `addr`, as the
/// bearer of `token` when one is given, waiting at most `wait`; `Err` is why no answer came.
pub fn post_events(
    addr: &str,
    shop: &str,
    body: String,
    token: Option<&str>,
    wait: Duration,
) -> Result<PostAnswer, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(wait))
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent
        .post(format!("http://{addr}/v1/shops/{shop}/events"))
        .header("content-type", "application/x-ndjson");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {}", token.trim()));
    }
    let mut response = request.send(body).map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let said = response.status().to_string();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok(PostAnswer { status, said, text })
}
