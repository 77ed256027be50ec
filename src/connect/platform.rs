//! A client of the platform's sample-application calls (`../shared/tiktok.md`): every request
//! signed by the v1 scheme with the access token header; answers read as
//! `{"code","message","data"}`. Transport failures and the codes the config calls retryable
//! are tried again with exponential backoff and jitter (backon); any other non-zero code is the
//! call's answer.

use std::time::Duration;

use backon::{BlockingRetryable, ExponentialBuilder};
use serde::Deserialize;
use serde_json::{json, Value};

use std::sync::Mutex;

use super::config::{Config, Secret};
use super::sign;

/// The calls' paths.
pub const SEARCH: &str = "/affiliate_seller/202409/sample_applications/search";
pub const SHOPS: &str = "/authorization/202309/shops";
pub const REFRESH: &str = "/api/v2/token/refresh";
pub const CONVERSATIONS: &str = "/affiliate_seller/202412/conversations";
pub const COLLABORATIONS: &str = "/affiliate_seller/202405/target_collaborations";
pub const COLLABORATIONS_SEARCH: &str = "/affiliate_seller/202409/target_collaborations/search";
pub const ORDERS: &str = "/affiliate_seller/202410/orders/search";

pub fn send_message_path(conversation: &str) -> String {
    format!("/affiliate_seller/202412/conversations/{conversation}/messages")
}

/// Note the platform's `conversation`, singular, in the listing's path.
pub fn list_messages_path(conversation: &str) -> String {
    format!("/affiliate_seller/202412/conversation/{conversation}/messages")
}

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
    /// The access token could not be refreshed (the message holds no token).
    #[error("{0}")]
    Token(String),
    /// HTTP 429 or 503: the platform did not take the call (a rate limit, or overloaded).
    #[error("transport: {0}")]
    Busy(String),
}

impl CallError {
    pub fn code(&self) -> Option<i64> {
        match self {
            CallError::Platform { code, .. } => Some(*code),
            CallError::Transport(_)
            | CallError::Paging(_)
            | CallError::Token(_)
            | CallError::Busy(_) => None,
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
    /// A string, as documented; a number is taken too.
    #[serde(deserialize_with = "text")]
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

/// A transport failure as an error may show it: its kind, never the request's URL (whose
/// query may hold a secret).
fn transport(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => format!("io: {io}"),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) | ureq::Error::Other(_) => {
            "the request could not be made".into()
        }
        e => e.to_string(),
    }
}

/// The platform's answer read: `data` on `code: 0`, else its code and message (with any of
/// `secrets` blotted out).
fn answered(status: u16, text: &str, secrets: &[&str]) -> Result<Value, CallError> {
    let parsed: Value = serde_json::from_str(text).map_err(|_| {
        CallError::Transport(format!(
            "HTTP {status}: the answer is not the platform's JSON"
        ))
    })?;
    match parsed["code"].as_i64() {
        Some(0) => Ok(parsed.get("data").cloned().unwrap_or(Value::Null)),
        Some(code) => Err(CallError::Platform {
            code,
            message: super::token::scrub(parsed["message"].as_str().unwrap_or_default(), secrets),
        }),
        None => Err(CallError::Transport(format!(
            "HTTP {status}: the answer has no `code`"
        ))),
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

/// The code of a call made with an expired access token.
pub const TOKEN_EXPIRED: i64 = 105002;

/// What the client holds that changes as it runs: the tokens and the shop's cipher.
struct Live {
    access: Secret,
    refresh: Option<Secret>,
    /// When the access token expires (Unix seconds), once known.
    expires: Option<i64>,
    /// A refresh happened since the last [`Client::take_refreshed`].
    refreshed: bool,
    cipher: Option<String>,
}

/// The platform, as the connector calls it.
pub struct Client {
    config: Config,
    agent: ureq::Agent,
    /// Unix seconds for `timestamp` (the wall clock; replaceable in tests).
    now: Box<dyn Fn() -> i64 + Send + Sync>,
    retry: Retry,
    live: Mutex<Live>,
}

/// An HTTP method the platform's calls use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

impl Client {
    pub fn new(config: Config) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let live = Mutex::new(Live {
            access: config.access_token.clone(),
            refresh: config.refresh_token.clone(),
            expires: None,
            refreshed: false,
            cipher: config.shop_cipher.clone(),
        });
        Client {
            config,
            agent,
            now: Box::new(|| chrono::Utc::now().timestamp()),
            retry: Retry::default(),
            live,
        }
    }

    pub fn with_retry(mut self, retry: Retry) -> Client {
        self.retry = retry;
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The shop's cipher: the config's, or the one the authorised shops give for `shop_id`
    /// (read once).
    pub fn cipher(&self) -> Result<String, CallError> {
        if let Some(c) = self.live().cipher.clone() {
            return Ok(c);
        }
        let Some(id) = self.config.shop_id.clone() else {
            return Err(CallError::Transport(
                "no `shop_cipher` and no `shop_id` to look it up by".into(),
            ));
        };
        let data =
            self.with_refresh(|| self.retried(|| self.send(Method::Get, SHOPS, &[], None, false)))?;
        let cipher = data["shops"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|s| s["id"].as_str() == Some(id.as_str()))
            .and_then(|s| s["cipher"].as_str())
            .map(str::to_string)
            .ok_or_else(|| {
                CallError::Transport(format!(
                    "the shop `{id}` is not among the shops this app is authorised for"
                ))
            })?;
        self.live().cipher = Some(cipher.clone());
        Ok(cipher)
    }

    /// One signed request, once: the answer's `data`, or why there is none.
    fn send(
        &self,
        method: Method,
        path: &str,
        extra: &[(&str, String)],
        body: Option<&Value>,
        with_cipher: bool,
    ) -> Result<Value, CallError> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut query: Vec<(String, String)> = vec![
            ("app_key".into(), self.config.app_key.clone()),
            ("timestamp".into(), (self.now)().to_string()),
        ];
        if with_cipher {
            query.push(("shop_cipher".into(), self.cipher()?));
        }
        query.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        let signature = sign::request(self.config.app_secret.expose(), path, &query, &body);
        query.push(("sign".into(), signature));
        let token = self.live().access.clone();
        let url = format!("{}{path}", self.config.base_url);
        let answer = match method {
            Method::Post => {
                let mut request = self
                    .agent
                    .post(url)
                    .header("content-type", "application/json")
                    .header("x-tts-access-token", token.expose());
                for (k, v) in &query {
                    request = request.query(k, v);
                }
                request.send(body)
            }
            Method::Get => {
                let mut request = self
                    .agent
                    .get(url)
                    .header("content-type", "application/json")
                    .header("x-tts-access-token", token.expose());
                for (k, v) in &query {
                    request = request.query(k, v);
                }
                request.call()
            }
        };
        let mut answer = answer.map_err(|e| CallError::Transport(transport(&e)))?;
        let status = answer.status().as_u16();
        if status == 429 || status == 503 {
            return Err(CallError::Busy(format!(
                "HTTP {status}: the platform is busy (rate limit)"
            )));
        }
        let text = answer
            .body_mut()
            .read_to_string()
            .map_err(|e| CallError::Transport(transport(&e)))?;
        answered(status, &text, &[token.expose()])
    }

    /// One signed POST with the shop's cipher, once.
    pub fn call_once(
        &self,
        path: &str,
        extra: &[(&str, String)],
        body: &Value,
    ) -> Result<Value, CallError> {
        self.send(Method::Post, path, extra, Some(body), true)
    }

    /// True when a failure is worth trying again: no answer, or a code the config calls
    /// retryable.
    pub fn retryable(&self, e: &CallError) -> bool {
        match e {
            CallError::Transport(_) | CallError::Busy(_) => true,
            CallError::Platform { code, .. } => self.config.retry_codes.contains(code),
            CallError::Paging(_) | CallError::Token(_) => false,
        }
    }

    /// True when a failed write was surely not taken, so that sending it again cannot double
    /// it: the platform said so (a busy answer, or a code the config calls retryable). A
    /// transport failure is not: the write may have reached the platform before the answer
    /// was lost, and only a read (the next delivery's) can tell.
    fn not_taken(&self, e: &CallError) -> bool {
        match e {
            CallError::Busy(_) => true,
            CallError::Platform { code, .. } => self.config.retry_codes.contains(code),
            CallError::Transport(_) | CallError::Paging(_) | CallError::Token(_) => false,
        }
    }

    /// `attempt`, tried again as [`Client::retryable`] says with exponential backoff and jitter.
    fn retried(
        &self,
        attempt: impl FnMut() -> Result<Value, CallError>,
    ) -> Result<Value, CallError> {
        self.retried_when(attempt, |e| self.retryable(e))
    }

    /// `attempt`, tried again while `when` says so, with exponential backoff and jitter.
    fn retried_when(
        &self,
        attempt: impl FnMut() -> Result<Value, CallError>,
        when: impl FnMut(&CallError) -> bool,
    ) -> Result<Value, CallError> {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.min)
            .with_max_delay(self.retry.max)
            .with_max_times(self.retry.times)
            .with_jitter();
        attempt
            .retry(backoff)
            .sleep(std::thread::sleep)
            .when(when)
            .call()
    }

    /// `call`, and when it answers that the access token expired (and a refresh token is
    /// configured), a refresh and the call once more.
    fn with_refresh(
        &self,
        mut call: impl FnMut() -> Result<Value, CallError>,
    ) -> Result<Value, CallError> {
        match call() {
            Err(CallError::Platform { code, .. })
                if code == TOKEN_EXPIRED && self.config.refresh_token_file.is_some() =>
            {
                self.refresh()?;
                call()
            }
            other => other,
        }
    }

    /// A signed POST, retried with backoff, the token refreshed once if it expired.
    pub fn call(
        &self,
        path: &str,
        extra: &[(&str, String)],
        body: &Value,
    ) -> Result<Value, CallError> {
        self.with_refresh(|| self.retried(|| self.call_once(path, extra, body)))
    }

    /// A signed POST that creates something on the platform (a message, a collaboration): tried
    /// again only when the platform said it did not take it ([`Client::not_taken`]), the token
    /// refreshed once if it expired. Any other failure comes back at once, and the outbox
    /// settles the call by a read before it is sent again.
    pub fn write(&self, path: &str, body: &Value) -> Result<Value, CallError> {
        self.with_refresh(|| {
            self.retried_when(|| self.call_once(path, &[], body), |e| self.not_taken(e))
        })
    }

    /// A signed GET with the shop's cipher, as [`Client::call`].
    pub fn get(&self, path: &str, extra: &[(&str, String)]) -> Result<Value, CallError> {
        self.with_refresh(|| self.retried(|| self.send(Method::Get, path, extra, None, true)))
    }

    /// When the access token expires, once a refresh (or the store) told it.
    pub fn token_expiry(&self) -> Option<i64> {
        self.live().expires
    }

    /// The expiry a refresh gave since the last time this was asked, to be kept in the store.
    pub fn take_refreshed(&self) -> Option<i64> {
        let mut live = self.live();
        std::mem::take(&mut live.refreshed)
            .then_some(live.expires)
            .flatten()
    }

    /// Refreshes when a refresh token is configured and the access token's expiry (the store's
    /// `known`, else the last refresh's) is unknown or less than `refresh_before` away.
    pub fn ensure_fresh(&self, known: Option<i64>) -> Result<(), CallError> {
        if self.config.refresh_token_file.is_none() {
            return Ok(());
        }
        let expires = {
            let mut live = self.live();
            if live.expires.is_none() {
                live.expires = known;
            }
            live.expires
        };
        match expires {
            Some(t) if t - (self.now)() > self.config.refresh_before => Ok(()),
            _ => self.refresh().map(|_| ()),
        }
    }

    /// A new access token (and refresh token) from the auth host, written to their files before
    /// either is used; the new expiry. An error never holds a token or the refresh URL.
    pub fn refresh(&self) -> Result<i64, CallError> {
        let (Some(file), Some(refresh)) = (
            self.config.refresh_token_file.clone(),
            self.live().refresh.clone(),
        ) else {
            return Err(CallError::Token(
                "the access token expired and no `refresh_token_file` is configured".into(),
            ));
        };
        let secrets = [refresh.expose(), self.config.app_secret.expose()];
        let answer = self
            .agent
            .get(format!("{}{REFRESH}", self.config.auth_base_url))
            .query("app_key", &self.config.app_key)
            .query("app_secret", self.config.app_secret.expose())
            .query("refresh_token", refresh.expose())
            .query("grant_type", "refresh_token")
            .call();
        let refused = |why: String| {
            CallError::Token(format!(
                "the access token could not be refreshed: {}",
                super::token::scrub(&why, &secrets)
            ))
        };
        let mut answer = answer
            .map_err(|e| refused(format!("the auth host did not answer ({})", transport(&e))))?;
        let status = answer.status().as_u16();
        let text = answer.body_mut().read_to_string().map_err(|e| {
            refused(format!(
                "the auth host's answer broke off ({})",
                transport(&e)
            ))
        })?;
        let data = match answered(status, &text, &secrets) {
            Ok(data) => data,
            Err(CallError::Platform { code, message }) => {
                return Err(refused(format!(
                    "the platform refused the refresh token (code {code}: {message}); authorise the app again and put the new refresh token in the file `refresh_token_file` names"
                )))
            }
            Err(e) => return Err(refused(e.to_string())),
        };
        let new = super::token::parse_refresh(&data).map_err(refused)?;
        // Both files first: a crash after this leaves tokens that work on disk.
        super::token::write_secret(&file, new.refresh.expose(), "refresh_token_file")
            .map_err(refused)?;
        // The old refresh token may be spent: the next refresh sends the new one, even if the
        // access token's file cannot be written now.
        self.live().refresh = Some(new.refresh.clone());
        super::token::write_secret(
            &self.config.access_token_file,
            new.access.expose(),
            "access_token_file",
        )
        .map_err(refused)?;
        let mut live = self.live();
        live.access = new.access;
        live.refresh = Some(new.refresh);
        live.expires = Some(new.access_expires);
        live.refreshed = true;
        Ok(new.access_expires)
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

    /// The conversation with a creator, created or found.
    pub fn conversation(&self, creator: &str) -> Result<String, CallError> {
        let data = self.call(
            CONVERSATIONS,
            &[],
            &json!({"creator_id": creator, "only_need_conversation_id": true}),
        )?;
        data["conversation_id"]
            .as_str()
            .filter(|c| !c.is_empty())
            .map(str::to_string)
            .ok_or_else(|| CallError::Transport("the conversation's answer has no id".into()))
    }

    /// Sends one message (`TEXT` or `FREE_SAMPLE_CARD`) whose `content` is the JSON text given.
    pub fn send_message(
        &self,
        conversation: &str,
        kind: &str,
        content: &Value,
    ) -> Result<(), CallError> {
        self.write(
            &send_message_path(conversation),
            &json!({"msg_type": kind, "content": content.to_string()}),
        )
        .map(|_| ())
    }

    /// Every message of a conversation: each one's type and content text.
    pub fn messages(&self, conversation: &str) -> Result<Vec<(String, String)>, CallError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_PAGES {
            let mut extra = vec![("page_size", "20".to_string())];
            if let Some(t) = &token {
                extra.push(("page_token", t.clone()));
            }
            let data = self.get(&list_messages_path(conversation), &extra)?;
            for m in data["messages"].as_array().into_iter().flatten() {
                let body = &m["message_body"];
                let kind = body["type"].as_str().or(body["msg_type"].as_str());
                // The content is a JSON text as sent; an object is taken as its text.
                let content = match &body["content"] {
                    Value::String(c) => c.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                out.push((kind.unwrap_or_default().to_string(), content));
            }
            let next = data["next_page_token"].as_str().unwrap_or_default();
            if !data["has_more"].as_bool().unwrap_or(false)
                || next.is_empty()
                || !seen.insert(next.to_string())
            {
                break;
            }
            token = Some(next.to_string());
        }
        Ok(out)
    }

    /// Creates a target collaboration; its id.
    pub fn create_collaboration(&self, body: &Value) -> Result<String, CallError> {
        let data = self.write(COLLABORATIONS, body)?;
        Ok(data["target_collaboration"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// True when a target collaboration of this exact name exists, in any status.
    pub fn collaboration_named(&self, name: &str) -> Result<bool, CallError> {
        for status in ["ONGOING", "EXPIRING", "VALID", "CANCELING", "COMPLETED"] {
            let data = self.call(
                COLLABORATIONS_SEARCH,
                &[("page_size", "100".to_string())],
                &json!({"collaboration_status": status,
                        "search_param": {"keyword_type": "TARGET_COLLABORATION_NAME", "keyword": name}}),
            )?;
            let found = data["target_collaborations"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["name"].as_str() == Some(name));
            if found {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Every order created in `[from, until)` (Unix seconds), page by page.
    pub fn orders(&self, from: i64, until: i64) -> Result<Vec<Order>, CallError> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        for pages in 1.. {
            let mut extra = vec![("page_size", "100".to_string())];
            if let Some(t) = &token {
                extra.push(("page_token", t.clone()));
            }
            let data = self.call(
                ORDERS,
                &extra,
                &json!({"create_time_ge": from, "create_time_lt": until}),
            )?;
            let page: OrderPage = serde_json::from_value(data).map_err(|e| {
                CallError::Transport(format!("an orders page is not as expected: {e}"))
            })?;
            all.extend(page.orders);
            let Some(next) = page.next_page_token.filter(|t| !t.is_empty()) else {
                return Ok(all);
            };
            if !seen.insert(next.clone()) || pages >= MAX_PAGES {
                return Err(CallError::Paging(format!(
                    "the orders search gave the page token `{}` again or paged past {MAX_PAGES} pages; the poll stopped there",
                    shown_token(&next)
                )));
            }
            token = Some(next);
        }
        Ok(all)
    }
}

/// One order attributed to creators' content.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Order {
    pub id: String,
    pub create_time: Option<i64>,
    pub status: Option<String>,
    pub skus: Vec<OrderSku>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct OrderSku {
    pub sku_id: String,
    pub product_id: Option<String>,
    pub content_type: Option<String>,
    pub content_id: Option<String>,
    pub creator_username: Option<String>,
    pub price: Option<Money>,
    #[serde(deserialize_with = "count")]
    pub quantity: i64,
    #[serde(deserialize_with = "count")]
    pub refunded_quantity: i64,
}

/// A text the platform may give as a string or as a number.
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// A count the platform may give as a number or as a string.
fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .unwrap_or(0)
        .max(0))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OrderPage {
    next_page_token: Option<String>,
    orders: Vec<Order>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_counts_are_read_as_strings_or_numbers() {
        let m: Money =
            serde_json::from_value(json!({"amount": 12.5, "currency": "USD"})).expect("a number");
        assert_eq!(m.amount, "12.5");
        let m: Money = serde_json::from_value(json!({"amount": "7.00"})).expect("a string");
        assert_eq!(m.amount, "7.00");
        let sku: OrderSku = serde_json::from_value(json!({"sku_id": "s", "content_id": "v",
            "price": {"amount": "3.00"}, "quantity": "4", "refunded_quantity": 1}))
        .expect("a line");
        assert_eq!((sku.quantity, sku.refunded_quantity), (4, 1));
    }

    #[test]
    fn an_answer_is_its_data_or_its_code_with_secrets_blotted_out() {
        assert_eq!(
            answered(200, r#"{"code":0,"data":{"a":1}}"#, &[]),
            Ok(json!({"a": 1}))
        );
        assert_eq!(
            answered(
                200,
                r#"{"code":105003,"message":"bad token RT-9"}"#,
                &["RT-9"]
            ),
            Err(CallError::Platform {
                code: 105003,
                message: "bad token [redacted]".into()
            })
        );
        assert!(matches!(
            answered(502, "<html>", &[]),
            Err(CallError::Transport(_))
        ));
    }
}
