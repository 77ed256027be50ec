//! A fake of the platform's seller API for the connector's tests, on a loopback port: it checks
//! every request's signature (recomputed here from the scheme's words, not with the library's
//! code), app key, shop cipher, timestamp and access token, and answers with the documented
//! shapes: pages, a rate-limit code, a transport failure mid-page, an application that stops
//! being approvable. Its clock is its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
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
    let token = headers
        .get("x-tts-access-token")
        .and_then(|v| v.to_str().ok());
    let fresh = query
        .get("timestamp")
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|t| (t - inner.now).abs() <= 300);
    let signed = query.get("sign").map(String::as_str) == Some(&expected_sign(path, query, body));
    if query.get("app_key").map(String::as_str) != Some(APP_KEY)
        || query.get("shop_cipher").map(String::as_str) != Some(SHOP)
        || token != Some(TOKEN)
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

impl Fake {
    /// Starts the fake on a free port of loopback, its clock at `now`.
    pub fn start(now: i64) -> Fake {
        let inner = Arc::new(Mutex::new(Inner {
            now,
            ..Inner::default()
        }));
        let app = Router::new()
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
            "product": {"id": product, "title": "T", "sku_id": product, "sku_name": "S"}})
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
