//! A client of the platform's sample-application calls (`../shared/tiktok.md`): every request
//! signed by the v1 scheme with the access token header; answers read as
//! `{"code","message","data"}`. Transport failures and the codes the config calls retryable
//! are tried again with exponential backoff and jitter (backon); any other non-zero code is the
//! call's answer.

use std::time::Duration;

use backon::{BlockingRetryable, ExponentialBuilder};
use serde::Deserialize;
use serde_json::{json, Value};

use super::config::Config;
use super::sign;

/// The calls' paths.
pub const SEARCH: &str = "/affiliate_seller/202409/sample_applications/search";

pub fn review_path(application: &str) -> String {
    format!("/affiliate_seller/202409/sample_applications/{application}/review")
}

pub fn fulfillments_path(application: &str) -> String {
    format!("/affiliate_seller/202409/sample_applications/{application}/fulfillments/search")
}

/// Why a call did not succeed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No answer, or not one of the platform's (the connection failed, the body is not its JSON).
    #[error("transport: {0}")]
    Transport(String),
    /// The platform answered with a non-zero code.
    #[error("code {code}: {message}")]
    Platform { code: i64, message: String },
    /// A search whose pages never end: past [`MAX_PAGES`], or a page token given twice.
    #[error("paging: {0}")]
    Paging(String),
}

impl CallError {
    pub fn code(&self) -> Option<i64> {
        match self {
            CallError::Platform { code, .. } => Some(*code),
            CallError::Transport(_) | CallError::Paging(_) => None,
        }
    }
}

/// A creator as an application shows them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Creator {
    pub user_id: String,
    pub username: Option<String>,
    pub follower_count: Option<i64>,
    pub gmv: Option<Money>,
    pub content_count: Option<i64>,
    pub fulfillment_percentage: Option<String>,
    pub ec_video_view: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Money {
    pub amount: String,
    pub currency: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Product {
    pub id: String,
    pub title: Option<String>,
    pub sku_id: Option<String>,
}

/// One sample application.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Application {
    pub id: String,
    pub status: String,
    pub order_id: Option<String>,
    pub available_quantity: Option<i64>,
    pub approve_expiration_time: Option<i64>,
    pub tracking_number: Option<String>,
    pub is_approvable: Option<bool>,
    pub creator: Creator,
    pub product: Product,
}

/// One page of a search.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Page {
    pub next_page_token: Option<String>,
    pub total_count: Option<u64>,
    pub sample_applications: Vec<Application>,
}

/// Content a creator posted for an application.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Content {
    pub id: String,
    pub format: String,
    pub url: Option<String>,
    pub view_count: Option<i64>,
    pub like_count: Option<i64>,
    pub comment_count: Option<i64>,
    pub paid_order_count: Option<i64>,
    pub create_time: Option<i64>,
    pub live_end_time: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Fulfillment {
    pub product: Product,
    pub content: Content,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Fulfillments {
    fulfillments: Vec<Fulfillment>,
}

/// How calls are retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub min: Duration,
    pub max: Duration,
    pub times: usize,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            min: Duration::from_millis(200),
            max: Duration::from_secs(10),
            times: 6,
        }
    }
}

/// The most pages one search reads.
pub const MAX_PAGES: usize = 10_000;

/// A page token as an error may show it: the platform's text, escaped and cut short.
fn shown_token(token: &str) -> String {
    let mut shown: String = token.chars().take(64).collect();
    if shown.len() < token.len() {
        shown.push('…');
    }
    shown.escape_debug().to_string()
}

/// The platform, as the connector calls it.
pub struct Client {
    config: Config,
    agent: ureq::Agent,
    /// Unix seconds for `timestamp` (the wall clock; replaceable in tests).
    now: Box<dyn Fn() -> i64 + Send + Sync>,
    retry: Retry,
}

impl Client {
    pub fn new(config: Config) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Client {
            config,
            agent,
            now: Box::new(|| chrono::Utc::now().timestamp()),
            retry: Retry::default(),
        }
    }

    pub fn with_retry(mut self, retry: Retry) -> Client {
        self.retry = retry;
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// One signed call, once: the answer's `data`, or why there is none.
    pub fn call_once(
        &self,
        path: &str,
        extra: &[(&str, String)],
        body: &Value,
    ) -> Result<Value, CallError> {
        let body = body.to_string();
        let mut query: Vec<(String, String)> = vec![
            ("app_key".into(), self.config.app_key.clone()),
            ("timestamp".into(), (self.now)().to_string()),
            ("shop_cipher".into(), self.config.shop_cipher.clone()),
        ];
        query.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let signature = sign::request(self.config.app_secret.expose(), path, &query, &body);
        query.push(("sign".into(), signature));
        let mut request = self
            .agent
            .post(format!("{}{path}", self.config.base_url))
            .header("content-type", "application/json")
            .header("x-tts-access-token", self.config.access_token.expose());
        for (k, v) in &query {
            request = request.query(k, v);
        }
        let mut answer = request
            .send(body)
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let status = answer.status().as_u16();
        let text = answer
            .body_mut()
            .read_to_string()
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let parsed: Value = serde_json::from_str(&text).map_err(|_| {
            CallError::Transport(format!(
                "HTTP {status}: the answer is not the platform's JSON"
            ))
        })?;
        match parsed["code"].as_i64() {
            Some(0) => Ok(parsed.get("data").cloned().unwrap_or(Value::Null)),
            Some(code) => Err(CallError::Platform {
                code,
                message: parsed["message"].as_str().unwrap_or_default().to_string(),
            }),
            None => Err(CallError::Transport(format!(
                "HTTP {status}: the answer has no `code`"
            ))),
        }
    }

    /// True when a failure is worth trying again: no answer, or a code the config calls
    /// retryable.
    pub fn retryable(&self, e: &CallError) -> bool {
        match e {
            CallError::Transport(_) => true,
            CallError::Platform { code, .. } => self.config.retry_codes.contains(code),
            CallError::Paging(_) => false,
        }
    }

    /// A call, tried again as [`Client::retryable`] says with exponential backoff and jitter.
    pub fn call(
        &self,
        path: &str,
        extra: &[(&str, String)],
        body: &Value,
    ) -> Result<Value, CallError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.min)
            .with_max_delay(self.retry.max)
            .with_max_times(self.retry.times)
            .with_jitter();
        (|| self.call_once(path, extra, body))
            .retry(backoff)
            .sleep(std::thread::sleep)
            .when(|e| self.retryable(e))
            .call()
    }

    /// Every application, page by page until the platform gives no next page token. A platform
    /// that pages forever (ever new tokens, or one given before in this search) stops the search
    /// with [`CallError::Paging`] rather than polling without end.
    pub fn search_all(&self) -> Result<Vec<Application>, CallError> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        for pages in 1.. {
            let mut extra = vec![("page_size", self.config.page_size.to_string())];
            if let Some(t) = &token {
                extra.push(("page_token", t.clone()));
            }
            let data = self.call(SEARCH, &extra, &json!({}))?;
            let page: Page = serde_json::from_value(data).map_err(|e| {
                CallError::Transport(format!("a search page is not as expected: {e}"))
            })?;
            all.extend(page.sample_applications);
            let Some(next) = page.next_page_token.filter(|t| !t.is_empty()) else {
                return Ok(all);
            };
            if !seen.insert(next.clone()) {
                return Err(CallError::Paging(format!(
                    "the platform gave the page token `{}` a second time, after {pages} pages; the poll stopped there and applied nothing of it",
                    shown_token(&next)
                )));
            }
            if pages >= MAX_PAGES {
                return Err(CallError::Paging(format!(
                    "the platform still had a next page after {MAX_PAGES} pages ({} applications); the poll stopped there and applied nothing of it",
                    all.len()
                )));
            }
            token = Some(next);
        }
        Ok(all)
    }

    /// The content posted for one application.
    pub fn fulfillments(&self, application: &str) -> Result<Vec<Fulfillment>, CallError> {
        let data = self.call(&fulfillments_path(application), &[], &json!({}))?;
        let f: Fulfillments = serde_json::from_value(data)
            .map_err(|e| CallError::Transport(format!("fulfillments are not as expected: {e}")))?;
        Ok(f.fulfillments)
    }

    /// Approves or rejects one application (`reject_reason` for a reject).
    pub fn review(
        &self,
        application: &str,
        approve: bool,
        reject_reason: &str,
    ) -> Result<(), CallError> {
        let body = if approve {
            json!({"review_result": "APPROVE"})
        } else {
            json!({"review_result": "REJECT", "reject_reason": reject_reason})
        };
        self.call(&review_path(application), &[], &body).map(|_| ())
    }
}
