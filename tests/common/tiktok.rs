//! A fake of the platform's seller API for the connector's tests, on a loopback port: it checks
//! every request's signature (recomputed here from the scheme's words, not with the library's
//! code), app key, shop cipher, timestamp and access token, and answers with the documented
//! shapes: pages, a rate-limit code, a transport failure mid-page, an application that stops
//! being approvable. Its clock is its own.
//!
//! For the lasting connector it also plays the auth host (refreshing tokens, which expire
//! after a set number of calls), the authorised shops, conversations and messages (with a daily
//! quota), target collaborations, and the affiliate orders search (windows of at most 90 days,
//! paged).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::Mac;
use serde_json::{json, Value};

pub const APP_KEY: &str = "fake-app-key";
pub const APP_SECRET: &str = "fake-app-secret";
pub const TOKEN: &str = "fake-access-token";
pub const SHOP: &str = "ROW_fake";
/// The code the fake answers when told to limit the rate.
pub const RATE_LIMITED: i64 = 36009004;
/// The code of an application that can no longer be reviewed.
pub const NOT_APPROVABLE: i64 = 16019014;
pub const BAD_SIGN: i64 = 106001;
pub const REFRESH: &str = "fake-refresh-token";
pub const SHOP_ID: &str = "7495000000000000001";
pub const TOKEN_EXPIRED: i64 = 105002;
pub const MESSAGE_QUOTA: i64 = 45101004;
/// The code the fake gives a refresh token it does not know.
pub const REFRESH_REFUSED: i64 = 105003;

#[derive(Default)]
pub struct Inner {
    pub applications: Vec<Value>,
    pub fulfillments: HashMap<String, Vec<Value>>,
    /// Every review call that was answered `code: 0`: application and body.
    pub reviews: Vec<(String, Value)>,
    /// Requests seen, by path, signed well or not.
    pub calls: Vec<String>,
    pub bad_signatures: usize,
    /// Answer the next this many calls with the rate-limit code.
    pub rate_limit_next: usize,
    /// Break the connection in the middle of the next this many search pages.
    pub cut_next_page: usize,
    /// Its clock, Unix seconds.
    pub now: i64,
    /// How the search pages: as documented, or a platform that pages forever.
    pub paging: Paging,
    /// The access token the fake takes now (`TOKEN` until a refresh).
    pub token: String,
    /// The refresh token the fake takes now.
    pub refresh_token: String,
    /// The access token expires after this many calls made with it (`None`: never).
    pub expire_after: Option<usize>,
    /// Calls made with the current access token.
    pub token_calls: usize,
    /// Refreshes answered with new tokens; every token the fake ever gave.
    pub refreshes: usize,
    pub given: Vec<String>,
    /// Every refresh refused.
    pub refuse_refresh: bool,
    /// Conversations by creator; messages by conversation (`message_body` objects).
    pub conversations: HashMap<String, String>,
    pub messages: HashMap<String, Vec<Value>>,
    /// Messages the shop may still send today (`None`: no limit).
    pub message_quota: Option<usize>,
    /// Target collaborations made (the request bodies).
    pub collaborations: Vec<Value>,
    /// Orders (as the orders search shows them, with `create_time`).
    pub orders: Vec<Value>,
    /// Every orders search window asked for.
    pub order_windows: Vec<(i64, i64)>,
    /// Answer the next this many calls with HTTP 429, then this many with code `36009002`.
    pub http_429_next: usize,
    pub code_36009002_next: usize,
    /// Take the next this many message sends and collaborations, then answer them as a proxy
    /// whose upstream timed out would (HTTP 504, not the platform's JSON): the write went, its
    /// answer is lost.
    pub lose_answer_next: usize,
}

/// A taken write's lost answer, when the fake is told to lose one.
fn lost_answer(inner: &mut Inner) -> Option<Response> {
    if inner.lose_answer_next == 0 {
        return None;
    }
    inner.lose_answer_next -= 1;
    Some(
        (
            axum::http::StatusCode::GATEWAY_TIMEOUT,
            "<html>504 Gateway Time-out</html>",
        )
            .into_response(),
    )
}

/// How the fake's search gives its next page token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Paging {
    /// A token while applications are left, then none.
    #[default]
    Documented,
    /// Always a token never given before (empty pages past the end).
    EverNew,
    /// After the last page, the token of the first page again.
    BackToStart,
}

#[derive(Clone)]
pub struct Fake {
    pub inner: Arc<Mutex<Inner>>,
    pub url: String,
}

fn answer(code: i64, message: &str, data: Value) -> Response {
    Json(json!({"code": code, "message": message, "request_id": "fake", "data": data}))
        .into_response()
}

/// The v1 signature, from its description.
fn expected_sign(path: &str, query: &HashMap<String, String>, body: &str) -> String {
    let mut keys: Vec<&String> = query
        .keys()
        .filter(|k| *k != "sign" && *k != "access_token")
        .collect();
    keys.sort();
    let mut text = format!("{APP_SECRET}{path}");
    for k in keys {
        text.push_str(k);
        text.push_str(&query[k]);
    }
    text.push_str(body);
    text.push_str(APP_SECRET);
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(text.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a request as the platform would; `Err` is the platform's refusal.
#[allow(clippy::result_large_err)] // the refusal is the response, as in axum handlers
fn check(
    inner: &mut Inner,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &str,
) -> Result<(), Response> {
    inner.calls.push(path.to_string());
    let expired = inner.expire_after.is_some_and(|n| inner.token_calls >= n);
    let token = headers
        .get("x-tts-access-token")
        .and_then(|v| v.to_str().ok());
    let fresh = query
        .get("timestamp")
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|t| (t - inner.now).abs() <= 300);
    let signed = query.get("sign").map(String::as_str) == Some(&expected_sign(path, query, body));
    let needs_cipher = path != "/authorization/202309/shops";
    let current = inner.token.clone();
    if token == Some(current.as_str()) && expired && fresh && signed {
        return Err(answer(TOKEN_EXPIRED, "access token expired", Value::Null));
    }
    if query.get("app_key").map(String::as_str) != Some(APP_KEY)
        || (needs_cipher && query.get("shop_cipher").map(String::as_str) != Some(SHOP))
        || token != Some(current.as_str())
        || !fresh
        || !signed
        || headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json")
    {
        inner.bad_signatures += 1;
        return Err(answer(
            BAD_SIGN,
            "invalid signature or credentials",
            Value::Null,
        ));
    }
    inner.token_calls += 1;
    if inner.http_429_next > 0 {
        inner.http_429_next -= 1;
        return Err((axum::http::StatusCode::TOO_MANY_REQUESTS, "slow down").into_response());
    }
    if inner.code_36009002_next > 0 {
        inner.code_36009002_next -= 1;
        return Err(answer(36009002, "rate limited", Value::Null));
    }
    if inner.rate_limit_next > 0 {
        inner.rate_limit_next -= 1;
        return Err(answer(
            RATE_LIMITED,
            "too many requests, try later",
            Value::Null,
        ));
    }
    Ok(())
}

async fn search(
    State(fake): State<Arc<Mutex<Inner>>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut inner = fake.lock().unwrap();
    let path = "/affiliate_seller/202409/sample_applications/search";
    if let Err(r) = check(&mut inner, path, &query, &headers, &body) {
        return r;
    }
    let size: usize = query
        .get("page_size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let from: usize = query
        .get("page_token")
        .and_then(|t| t.strip_prefix("p"))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = inner
        .applications
        .iter()
        .skip(from)
        .take(size)
        .cloned()
        .collect();
    let next = if from + size < inner.applications.len() || inner.paging == Paging::EverNew {
        format!("p{}", from + size)
    } else if inner.paging == Paging::BackToStart {
        "p0".to_string()
    } else {
        String::new()
    };
    let text = json!({"code": 0, "message": "Success", "request_id": "fake", "data": {
        "next_page_token": next, "total_count": inner.applications.len(),
        "sample_applications": page}})
    .to_string();
    if inner.cut_next_page > 0 && from > 0 {
        inner.cut_next_page -= 1;
        // Half the page, then the connection breaks.
        let half = Bytes::from(text[..text.len() / 2].to_string());
        let stream = futures_stream(half);
        return Response::builder()
            .header("content-type", "application/json")
            .header("content-length", text.len().to_string())
            .body(stream)
            .unwrap();
    }
    ([("content-type", "application/json")], text).into_response()
}

/// Half a page, then an error: the connection is cut mid-body.
fn futures_stream(half: Bytes) -> Body {
    let parts: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(half),
        Err(std::io::Error::other("connection cut by the fake")),
    ];
    Body::from_stream(futures_util::stream::iter(parts))
}

async fn review(
    State(fake): State<Arc<Mutex<Inner>>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut inner = fake.lock().unwrap();
    let path = format!("/affiliate_seller/202409/sample_applications/{id}/review");
    if let Err(r) = check(&mut inner, &path, &query, &headers, &text) {
        return r;
    }
    let approvable = inner
        .applications
        .iter()
        .find(|a| a["id"] == id)
        .is_some_and(|a| a["is_approvable"].as_bool().unwrap_or(true));
    if !approvable {
        return answer(
            NOT_APPROVABLE,
            "the application can no longer be reviewed",
            Value::Null,
        );
    }
    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let status = if parsed["review_result"] == "APPROVE" {
        "AWAITING_SHIPMENT"
    } else {
        "REJECT_CANCELLED"
    };
    if let Some(app) = inner.applications.iter_mut().find(|a| a["id"] == id) {
        app["status"] = json!(status);
        app["is_approvable"] = json!(false);
    }
    inner.reviews.push((id, parsed));
    answer(0, "Success", json!({}))
}

async fn fulfillments(
    State(fake): State<Arc<Mutex<Inner>>>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut inner = fake.lock().unwrap();
    let path = format!("/affiliate_seller/202409/sample_applications/{id}/fulfillments/search");
    if let Err(r) = check(&mut inner, &path, &query, &headers, &text) {
        return r;
    }
    let list = inner.fulfillments.get(&id).cloned().unwrap_or_default();
    answer(0, "Success", json!({"fulfillments": list}))
}

type Shared = State<Arc<Mutex<Inner>>>;
type Q = Query<HashMap<String, String>>;

/// `GET /api/v2/token/refresh` on the auth host: no signature; the app secret and refresh
/// token in the query.
async fn refresh(State(fake): Shared, Query(query): Q) -> Response {
    let mut inner = fake.lock().unwrap();
    let ok = query.get("app_key").map(String::as_str) == Some(APP_KEY)
        && query.get("app_secret").map(String::as_str) == Some(APP_SECRET)
        && query.get("grant_type").map(String::as_str) == Some("refresh_token")
        && query.get("refresh_token") == Some(&inner.refresh_token)
        && !inner.refuse_refresh;
    if !ok {
        return answer(REFRESH_REFUSED, "invalid refresh token", Value::Null);
    }
    inner.refreshes += 1;
    let n = inner.refreshes;
    inner.token = format!("{TOKEN}-{n}");
    inner.refresh_token = format!("{REFRESH}-{n}");
    inner.token_calls = 0;
    let (token, refresh) = (inner.token.clone(), inner.refresh_token.clone());
    inner.given.push(token.clone());
    inner.given.push(refresh.clone());
    let real = chrono::Utc::now().timestamp();
    answer(
        0,
        "success",
        json!({"access_token": token, "access_token_expire_in": real + 7 * 86_400,
            "refresh_token": refresh, "refresh_token_expire_in": real + 60 * 86_400,
            "open_id": "fake-open-id", "seller_name": "Fake Shop",
            "granted_scopes": ["seller.affiliate_collaboration.read", "seller.affiliate_collaboration.write"]}),
    )
}

async fn shops(State(fake): Shared, Query(query): Q, headers: HeaderMap) -> Response {
    let mut inner = fake.lock().unwrap();
    if let Err(r) = check(
        &mut inner,
        "/authorization/202309/shops",
        &query,
        &headers,
        "",
    ) {
        return r;
    }
    answer(
        0,
        "Success",
        json!({"shops": [
            {"id": "7495000000000000009", "name": "Other", "region": "US", "seller_type": "LOCAL",
             "cipher": "ROW_other", "code": "USOTHER"},
            {"id": SHOP_ID, "name": "Fake Shop", "region": "US", "seller_type": "LOCAL",
             "cipher": SHOP, "code": "USFAKE"}]}),
    )
}

async fn conversation(
    State(fake): Shared,
    Query(query): Q,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut inner = fake.lock().unwrap();
    let path = "/affiliate_seller/202412/conversations";
    if let Err(r) = check(&mut inner, path, &query, &headers, &text) {
        return r;
    }
    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let creator = parsed["creator_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let n = inner.conversations.len();
    let is_new = !inner.conversations.contains_key(&creator);
    let id = inner
        .conversations
        .entry(creator)
        .or_insert_with(|| format!("conv-{n}"))
        .clone();
    answer(
        0,
        "Success",
        json!({"conversation_id": id, "is_new": is_new}),
    )
}

async fn send_message(
    State(fake): Shared,
    Path(id): Path<String>,
    Query(query): Q,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut inner = fake.lock().unwrap();
    let path = format!("/affiliate_seller/202412/conversations/{id}/messages");
    if let Err(r) = check(&mut inner, &path, &query, &headers, &text) {
        return r;
    }
    if inner.message_quota == Some(0) {
        return answer(MESSAGE_QUOTA, "daily message quota reached", Value::Null);
    }
    if let Some(q) = &mut inner.message_quota {
        *q -= 1;
    }
    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let list = inner.messages.entry(id.clone()).or_default();
    let message_id = format!("m-{id}-{}", list.len());
    list.push(
        json!({"id": message_id, "conversation_id": id, "type": parsed["msg_type"],
        "content": parsed["content"], "sender_id": "seller", "create_time": 0}),
    );
    if let Some(lost) = lost_answer(&mut inner) {
        return lost;
    }
    answer(0, "Success", json!({"message_id": message_id}))
}

async fn list_messages(
    State(fake): Shared,
    Path(id): Path<String>,
    Query(query): Q,
    headers: HeaderMap,
) -> Response {
    let mut inner = fake.lock().unwrap();
    let path = format!("/affiliate_seller/202412/conversation/{id}/messages");
    if let Err(r) = check(&mut inner, &path, &query, &headers, "") {
        return r;
    }
    let from: usize = query
        .get("page_token")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let all = inner.messages.get(&id).cloned().unwrap_or_default();
    let page: Vec<Value> = all
        .iter()
        .enumerate()
        .skip(from)
        .take(2)
        .map(|(i, m)| json!({"conversation_index": i, "message_body": m}))
        .collect();
    let more = from + 2 < all.len();
    answer(
        0,
        "Success",
        json!({"has_more": more, "next_page_token": if more { (from + 2).to_string() } else { String::new() },
            "messages": page}),
    )
}

async fn collaborate(
    State(fake): Shared,
    Query(query): Q,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut inner = fake.lock().unwrap();
    let path = "/affiliate_seller/202405/target_collaborations";
    if let Err(r) = check(&mut inner, path, &query, &headers, &text) {
        return r;
    }
    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let rate = parsed["products"][0]["target_commission_rate"]
        .as_i64()
        .unwrap_or(0);
    let complete = parsed["name"].is_string()
        && parsed["end_time"].is_string()
        && parsed["seller_contact_info"]["email"].is_string()
        && parsed["free_sample_rule"]["has_free_sample"].is_boolean()
        && parsed["free_sample_rule"]["is_sample_approval_exempt"].is_boolean()
        && parsed["creator_user_ids"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
        && rate >= 1000;
    if !complete {
        return answer(40006, "invalid collaboration", Value::Null);
    }
    let id = format!("tc-{}", inner.collaborations.len());
    inner.collaborations.push(parsed);
    if let Some(lost) = lost_answer(&mut inner) {
        return lost;
    }
    answer(
        0,
        "Success",
        json!({"target_collaboration": {"id": id}, "target_collaboration_conflicts": []}),
    )
}

async fn search_collaborations(
    State(fake): Shared,
    Query(query): Q,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut inner = fake.lock().unwrap();
    let path = "/affiliate_seller/202409/target_collaborations/search";
    if let Err(r) = check(&mut inner, path, &query, &headers, &text) {
        return r;
    }
    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let keyword = parsed["search_param"]["keyword"]
        .as_str()
        .unwrap_or_default();
    let ongoing = parsed["collaboration_status"] == "ONGOING";
    let found: Vec<Value> = inner
        .collaborations
        .iter()
        .enumerate()
        .filter(|(_, c)| ongoing && c["name"].as_str().is_some_and(|n| n.contains(keyword)))
        .map(|(i, c)| json!({"id": format!("tc-{i}"), "name": c["name"], "end_time": c["end_time"], "product_count": 1}))
        .collect();
    answer(
        0,
        "Success",
        json!({"total_count": found.len(), "next_page_token": "", "target_collaborations": found}),
    )
}

async fn orders(State(fake): Shared, Query(query): Q, headers: HeaderMap, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let mut inner = fake.lock().unwrap();
    let path = "/affiliate_seller/202410/orders/search";
    if let Err(r) = check(&mut inner, path, &query, &headers, &text) {
        return r;
    }
    let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let (ge, lt) = (
        parsed["create_time_ge"].as_i64().unwrap_or(0),
        parsed["create_time_lt"].as_i64().unwrap_or(0),
    );
    if lt - ge > 90 * 86_400 || lt <= ge {
        return answer(40002, "the time range is more than 3 months", Value::Null);
    }
    let size: usize = query
        .get("page_size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
        .min(2);
    let from: usize = query
        .get("page_token")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    if from == 0 {
        inner.order_windows.push((ge, lt));
    }
    let all: Vec<Value> = inner
        .orders
        .iter()
        .filter(|o| o["create_time"].as_i64().is_some_and(|t| t >= ge && t < lt))
        .cloned()
        .collect();
    let page: Vec<Value> = all.iter().skip(from).take(size).cloned().collect();
    let next = if from + size < all.len() {
        (from + size).to_string()
    } else {
        String::new()
    };
    answer(
        0,
        "Success",
        json!({"orders": page, "next_page_token": next, "total_count": all.len()}),
    )
}

impl Fake {
    /// Starts the fake on a free port of loopback, its clock at `now`.
    pub fn start(now: i64) -> Fake {
        let inner = Arc::new(Mutex::new(Inner {
            now,
            token: TOKEN.to_string(),
            refresh_token: REFRESH.to_string(),
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/api/v2/token/refresh", get(refresh))
            .route("/authorization/202309/shops", get(shops))
            .route("/affiliate_seller/202412/conversations", post(conversation))
            .route(
                "/affiliate_seller/202412/conversations/{id}/messages",
                post(send_message),
            )
            .route(
                "/affiliate_seller/202412/conversation/{id}/messages",
                get(list_messages),
            )
            .route(
                "/affiliate_seller/202405/target_collaborations",
                post(collaborate),
            )
            .route(
                "/affiliate_seller/202409/target_collaborations/search",
                post(search_collaborations),
            )
            .route("/affiliate_seller/202410/orders/search", post(orders))
            .route(
                "/affiliate_seller/202409/sample_applications/search",
                post(search),
            )
            .route(
                "/affiliate_seller/202409/sample_applications/{id}/review",
                post(review),
            )
            .route(
                "/affiliate_seller/202409/sample_applications/{id}/fulfillments/search",
                post(fulfillments),
            )
            .with_state(inner.clone());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, app).await.unwrap();
            });
        });
        Fake { inner, url }
    }

    /// An application as the search shows it.
    pub fn application(id: &str, status: &str, creator: &str, product: &str) -> Value {
        json!({"id": id, "status": status, "order_id": format!("o{id}"), "available_quantity": 1,
            "approve_expiration_time": null, "shipment_expiration_time": null,
            "tracking_number": null, "fulfillment_status": "", "is_approvable": status == "PENDING",
            "disapprovable_reasons": [], "commission_rate": "1500",
            "creator": {"user_id": creator, "username": format!("u{creator}"), "nickname": "N",
                "follower_count": 48210, "gmv": {"amount": "1520.40", "currency": "USD"},
                "content_count": 14, "fulfillment_percentage": "0.82", "ec_video_view": 30412},
            "product": {"id": product, "title": format!("t{product}"), "sku_id": product, "sku_name": "S"}})
    }
}

/// A connector config pointing at `fake`, with its secrets in files of `dir`.
pub fn config(dir: &std::path::Path, url: &str, secret: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("app.secret"), format!("{secret}\n")).unwrap();
    std::fs::write(dir.join("token"), TOKEN).unwrap();
    std::fs::write(
        dir.join("catalog.csv"),
        "product_id,category,price,unit_cost\np-mug,home,20,5\np-cream,beauty,30,9\np-lux,beauty,400,90\n",
    )
    .unwrap();
    let path = dir.join("tiktok.yaml");
    std::fs::write(
        &path,
        format!(
            "base_url: {url}\napp_key: {APP_KEY}\napp_secret_file: app.secret\naccess_token_file: token\nshop_cipher: {SHOP}\ncatalog: catalog.csv\npage_size: 100\nreject_reasons:\n  price_cap: OUT_OF_STOCK\n"
        ),
    )
    .unwrap();
    path
}

/// The connector config of a shop that lasts: [`config`] plus a refresh token (in a file), the
/// fake as the auth host, no `shop_cipher` (looked up by `shop_id`), a seller email, reminders
/// with the sample card, and paid collaborations.
pub fn lasting_config(dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let path = config(dir, url, APP_SECRET);
    std::fs::write(dir.join("refresh"), format!("{REFRESH}\n")).unwrap();
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace(&format!("shop_cipher: {SHOP}\n"), "");
    std::fs::write(
        &path,
        format!(
            "{text}shop_id: \"{SHOP_ID}\"\nrefresh_token_file: refresh\nauth_base_url: {url}\nseller_email: shop@example.com\nmessages:\n  remind: \"Hi {{creator}}, please post about {{product}} by {{due}}\"\n  attach_sample_card: true\npaid_collab:\n  commission_rate: 2000\n  days: 30\n  message: Let us work together\n"
        ),
    )
    .unwrap();
    path
}

/// An order of the affiliate orders search: one SKU line per `(content_id, price, quantity,
/// refunded)`.
pub fn order(id: &str, create_time: i64, lines: &[(&str, &str, i64, i64)]) -> Value {
    let skus: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, (content, price, quantity, refunded))| {
            json!({"sku_id": format!("sku-{i}"), "product_id": "p-mug", "content_type": "VIDEO",
                "content_id": content, "creator_username": "someone",
                "price": {"amount": price, "currency": "USD"}, "quantity": quantity,
                "refunded_quantity": refunded, "estimated_commission_base": {"amount": "0", "currency": "USD"}})
        })
        .collect();
    json!({"id": id, "create_time": create_time, "status": "COMPLETED", "skus": skus})
}
