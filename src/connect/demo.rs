//! `sampleflow demo-platform`: a stand-in for the platform a newcomer runs on their own machine,
//! so the connector can be tried end to end without a shop. It answers every call the connector
//! makes with the documented shapes (`docs/tiktok.md`), checks every request's signature, app
//! key, shop cipher and access token as the platform does, refreshes tokens (an access token
//! lasts a set number of calls here, so a refresh is seen soon), and plays a shop's week: each
//! search of applications moves the shop on one step (new applications, parcels shipped and
//! delivered, content posted, orders for that content and for content nobody sampled).
//!
//! It writes a ready connector folder (config, secrets, catalogue) for itself, so that
//! `sampleflow connect tiktok --config DIR/tiktok.yaml --once` works against it at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::platform as api;
use super::sign;

/// The demo's app key, shop and products.
pub const APP_KEY: &str = "demo-app-key";
pub const SHOP_ID: &str = "7490000000000000001";
pub const SHOP_CIPHER: &str = "ROW_demo";
const PRODUCTS: [(&str, &str, &str, f64, f64); 4] = [
    ("1729000000000000001", "Ceramic mug", "home", 24.0, 6.0),
    ("1729000000000000002", "Night cream", "beauty", 32.0, 8.0),
    ("1729000000000000003", "Linen apron", "home", 45.0, 12.0),
    ("1729000000000000004", "Lip tint", "beauty", 18.0, 4.0),
];
/// An access token answers this many calls, then `105002`.
const TOKEN_CALLS: usize = 40;

/// The shop as the demo plays it.
struct Shop {
    secret: String,
    token: String,
    refresh: String,
    refreshes: usize,
    token_calls: usize,
    step: i64,
    applications: Vec<Value>,
    fulfillments: HashMap<String, Vec<Value>>,
    orders: Vec<Value>,
    conversations: HashMap<String, String>,
    messages: HashMap<String, Vec<Value>>,
    collaborations: Vec<Value>,
}

type Shared = Arc<Mutex<Shop>>;

fn answer(code: i64, message: &str, data: Value) -> Response {
    Json(json!({"code": code, "message": message, "request_id": "demo", "data": data}))
        .into_response()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A random token of `prefix`.
fn token(prefix: &str) -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        bytes = fastrand::u128(..).to_le_bytes();
    }
    format!("{prefix}-{}", hex::encode(bytes))
}

/// Checks a request as the platform does; `Err` is its refusal.
#[allow(clippy::result_large_err)] // the refusal is the response, as in axum handlers
fn check(
    shop: &mut Shop,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &str,
) -> Result<(), Response> {
    let mut pairs: Vec<(String, String)> =
        query.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    pairs.sort();
    let expected = sign::request(&shop.secret, path, &pairs, body);
    let fresh = query
        .get("timestamp")
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|t| t >= now() - 300 && t <= now() + 30);
    let cipher_ok =
        path == api::SHOPS || query.get("shop_cipher").map(String::as_str) == Some(SHOP_CIPHER);
    if query.get("app_key").map(String::as_str) != Some(APP_KEY)
        || query.get("sign") != Some(&expected)
        || !fresh
        || !cipher_ok
    {
        eprintln!("demo-platform: refused {path}: bad signature, app key, timestamp or cipher");
        return Err(answer(
            36009004,
            "invalid credentials, signature or timestamp",
            Value::Null,
        ));
    }
    let given = headers
        .get("x-tts-access-token")
        .and_then(|v| v.to_str().ok());
    if given != Some(shop.token.as_str()) {
        return Err(answer(105001, "invalid access token", Value::Null));
    }
    if shop.token_calls >= TOKEN_CALLS {
        eprintln!(
            "demo-platform: the access token expired (as it does after {TOKEN_CALLS} calls here)"
        );
        return Err(answer(
            api::TOKEN_EXPIRED,
            "access token expired",
            Value::Null,
        ));
    }
    shop.token_calls += 1;
    Ok(())
}

fn application(id: usize, product: usize, at: i64) -> Value {
    let (pid, title, _, _, _) = PRODUCTS[product % PRODUCTS.len()];
    json!({"id": format!("73010000000000{id:05}"), "status": "PENDING",
        "order_id": format!("57700000000000{id:05}"), "available_quantity": 1,
        "approve_expiration_time": at + 7 * 86_400, "shipment_expiration_time": null,
        "tracking_number": null, "fulfillment_status": "", "is_approvable": true,
        "disapprovable_reasons": [], "commission_rate": "1500",
        "creator": {"user_id": format!("69120000000000{id:05}"), "username": format!("creator{id}"),
            "nickname": format!("Creator {id}"), "follower_count": 4_000 + 3_000 * (id as i64 % 5),
            "gmv": {"amount": "820.00", "currency": "USD"}, "content_count": 12,
            "fulfillment_percentage": "0.8", "ec_video_view": 20_000},
        "product": {"id": pid, "title": title, "sku_id": pid, "sku_name": title}})
}

impl Shop {
    /// One step of the shop's week: what happened since the last search.
    fn step(&mut self) {
        self.step += 1;
        let t = now();
        let n = self.applications.len();
        if n < 12 {
            let arriving = if self.step == 1 { 4 } else { 1 };
            for i in 0..arriving {
                self.applications.push(application(n + i + 1, n + i, t));
            }
        }
        let mut new_orders = Vec::new();
        for app in &mut self.applications {
            let id = app["id"].as_str().unwrap_or_default().to_string();
            let next = match app["status"].as_str().unwrap_or_default() {
                "AWAITING_SHIPMENT" => {
                    app["tracking_number"] = json!(format!("1ZDEMO{}", &id[id.len() - 5..]));
                    Some("SHIPPED")
                }
                "SHIPPED" => Some("CONTENT_PENDING"),
                "CONTENT_PENDING" => {
                    // Every creator but each third one posts a video once the parcel is there.
                    let posts = !id.ends_with('3') && !id.ends_with('6') && !id.ends_with('9');
                    if posts && !self.fulfillments.contains_key(&id) {
                        let content = format!("v{}", &id[id.len() - 5..]);
                        self.fulfillments.insert(
                            id.clone(),
                            vec![json!({"product": {"id": app["product"]["id"]},
                                "content": {"id": content, "format": "VIDEO",
                                    "url": format!("https://example.com/video/{content}"),
                                    "view_count": 1_000 * self.step, "like_count": 60 * self.step,
                                    "comment_count": 4 * self.step, "paid_order_count": 0,
                                    "create_time": t, "live_end_time": null}})],
                        );
                    }
                    None
                }
                _ => None,
            };
            if let Some(next) = next {
                app["status"] = json!(next);
            }
            if let Some(f) = self.fulfillments.get(&id) {
                let content = f[0]["content"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let price = PRODUCTS
                    .iter()
                    .find(|p| app["product"]["id"] == p.0)
                    .map_or(20.0, |p| p.3);
                new_orders.push((content, price, app["product"]["id"].clone()));
            }
        }
        for (content, price, product) in new_orders {
            let n = self.orders.len();
            // Two units, one of them refunded on every fourth order.
            let refunded = i64::from(n % 4 == 3);
            self.orders.push(json!({"id": format!("5800000000{n:05}"), "create_time": t - 60,
                "status": "COMPLETED",
                "skus": [{"sku_id": product, "product_id": product, "content_type": "VIDEO",
                    "content_id": content, "creator_username": "creator",
                    "price": {"amount": format!("{price:.2}"), "currency": "USD"},
                    "quantity": 2, "refunded_quantity": refunded,
                    "estimated_commission_base": {"amount": format!("{:.2}", price * 2.0), "currency": "USD"},
                    "actual_commission_base": {"amount": "0.00", "currency": "USD"}}]}));
        }
        // An order for a video nobody sampled: the connector must leave it alone.
        let n = self.orders.len();
        self.orders.push(json!({"id": format!("5800000000{n:05}"), "create_time": t - 30,
            "status": "COMPLETED",
            "skus": [{"sku_id": "x", "product_id": PRODUCTS[0].0, "content_type": "VIDEO",
                "content_id": "v-organic", "creator_username": "stranger",
                "price": {"amount": "24.00", "currency": "USD"}, "quantity": 1, "refunded_quantity": 0}]}));
    }
}

type Q = Query<HashMap<String, String>>;

async fn refresh(State(shop): State<Shared>, Query(q): Q) -> Response {
    let Ok(mut shop) = shop.lock() else {
        return answer(1, "busy", Value::Null);
    };
    let ok = q.get("app_key").map(String::as_str) == Some(APP_KEY)
        && q.get("app_secret") == Some(&shop.secret)
        && q.get("refresh_token") == Some(&shop.refresh)
        && q.get("grant_type").map(String::as_str) == Some("refresh_token");
    if !ok {
        eprintln!("demo-platform: refused a token refresh (unknown refresh token or app secret)");
        return answer(105003, "invalid refresh token", Value::Null);
    }
    shop.token = token("demo-access");
    shop.refresh = token("demo-refresh");
    shop.token_calls = 0;
    shop.refreshes += 1;
    eprintln!(
        "demo-platform: tokens refreshed ({} so far)",
        shop.refreshes
    );
    answer(
        0,
        "success",
        json!({"access_token": shop.token, "access_token_expire_in": now() + 7 * 86_400,
            "refresh_token": shop.refresh, "refresh_token_expire_in": now() + 60 * 86_400,
            "open_id": "demo-open-id", "seller_name": "Demo Shop",
            "granted_scopes": ["seller.affiliate_collaboration.read", "seller.affiliate_collaboration.write",
                "seller.affiliate_messages.write"]}),
    )
}

/// Runs `f` on a checked request's shop and body; the platform's refusal otherwise.
fn checked(
    shop: &Shared,
    path: &str,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
    f: impl FnOnce(&mut Shop, Value) -> Response,
) -> Response {
    let Ok(mut shop) = shop.lock() else {
        return answer(1, "busy", Value::Null);
    };
    let text = String::from_utf8_lossy(body).into_owned();
    if let Err(r) = check(&mut shop, path, q, headers, &text) {
        return r;
    }
    let parsed = serde_json::from_str(&text).unwrap_or(Value::Null);
    f(&mut shop, parsed)
}

async fn shops(State(s): State<Shared>, Query(q): Q, h: HeaderMap) -> Response {
    checked(&s, api::SHOPS, &q, &h, &Bytes::new(), |_, _| {
        answer(
            0,
            "Success",
            json!({"shops": [{"id": SHOP_ID, "name": "Demo Shop", "region": "US",
            "seller_type": "LOCAL", "cipher": SHOP_CIPHER, "code": "USDEMO"}]}),
        )
    })
}

async fn search(State(s): State<Shared>, Query(q): Q, h: HeaderMap, b: Bytes) -> Response {
    checked(&s, api::SEARCH, &q.clone(), &h, &b, move |shop, _| {
        let from: usize = q
            .get("page_token")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        if from == 0 {
            shop.step();
        }
        let size: usize = q
            .get("page_size")
            .and_then(|t| t.parse().ok())
            .unwrap_or(20);
        let page: Vec<Value> = shop
            .applications
            .iter()
            .skip(from)
            .take(size)
            .cloned()
            .collect();
        let next = if from + size < shop.applications.len() {
            (from + size).to_string()
        } else {
            String::new()
        };
        answer(
            0,
            "Success",
            json!({"next_page_token": next,
            "total_count": shop.applications.len(), "sample_applications": page}),
        )
    })
}

async fn review(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<String>,
    Query(q): Q,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    checked(&s, &api::review_path(&id), &q, &h, &b, |shop, body| {
        let Some(app) = shop
            .applications
            .iter_mut()
            .find(|a| a["id"] == id.as_str())
        else {
            return answer(16019001, "no such application", Value::Null);
        };
        if app["status"] != "PENDING" {
            return answer(
                16019014,
                "the application can no longer be reviewed",
                Value::Null,
            );
        }
        let approve = body["review_result"] == "APPROVE";
        app["status"] = json!(if approve {
            "AWAITING_SHIPMENT"
        } else {
            "REJECT_CANCELLED"
        });
        app["is_approvable"] = json!(false);
        eprintln!(
            "demo-platform: application {id} {}",
            if approve { "approved" } else { "rejected" }
        );
        answer(0, "Success", json!({}))
    })
}

async fn fulfillments(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<String>,
    Query(q): Q,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    checked(&s, &api::fulfillments_path(&id), &q, &h, &b, |shop, _| {
        let list = shop.fulfillments.get(&id).cloned().unwrap_or_default();
        answer(0, "Success", json!({"fulfillments": list}))
    })
}

async fn conversation(State(s): State<Shared>, Query(q): Q, h: HeaderMap, b: Bytes) -> Response {
    checked(&s, api::CONVERSATIONS, &q, &h, &b, |shop, body| {
        let creator = body["creator_id"].as_str().unwrap_or_default().to_string();
        let n = shop.conversations.len();
        let is_new = !shop.conversations.contains_key(&creator);
        let id = shop
            .conversations
            .entry(creator)
            .or_insert_with(|| format!("conv-{n}"))
            .clone();
        answer(
            0,
            "Success",
            json!({"conversation_id": id, "is_new": is_new}),
        )
    })
}

async fn send_message(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<String>,
    Query(q): Q,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    checked(
        &s,
        &api::send_message_path(&id),
        &q,
        &h,
        &b,
        |shop, body| {
            let list = shop.messages.entry(id.clone()).or_default();
            let message_id = format!("msg-{id}-{}", list.len());
            list.push(
                json!({"id": message_id, "conversation_id": id, "type": body["msg_type"],
            "content": body["content"], "sender_id": "seller", "create_time": now()}),
            );
            eprintln!(
                "demo-platform: {} message sent in {id}",
                body["msg_type"].as_str().unwrap_or("?")
            );
            answer(0, "Success", json!({"message_id": message_id}))
        },
    )
}

async fn list_messages(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<String>,
    Query(q): Q,
    h: HeaderMap,
) -> Response {
    checked(
        &s,
        &api::list_messages_path(&id),
        &q.clone(),
        &h,
        &Bytes::new(),
        move |shop, _| {
            let from: usize = q
                .get("page_token")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let all = shop.messages.get(&id).cloned().unwrap_or_default();
            let page: Vec<Value> = all
                .iter()
                .enumerate()
                .skip(from)
                .take(20)
                .map(|(i, m)| json!({"conversation_index": i, "message_body": m}))
                .collect();
            let more = from + 20 < all.len();
            answer(
                0,
                "Success",
                json!({"has_more": more,
            "next_page_token": if more { (from + 20).to_string() } else { String::new() },
            "messages": page}),
            )
        },
    )
}

async fn collaborate(State(s): State<Shared>, Query(q): Q, h: HeaderMap, b: Bytes) -> Response {
    checked(&s, api::COLLABORATIONS, &q, &h, &b, |shop, body| {
        let rate = body["products"][0]["target_commission_rate"]
            .as_i64()
            .unwrap_or(0);
        if rate < 1000 || !body["seller_contact_info"]["email"].is_string() {
            return answer(16040001, "invalid target collaboration", Value::Null);
        }
        let id = format!("tc-{}", shop.collaborations.len());
        eprintln!(
            "demo-platform: target collaboration {id} `{}`",
            body["name"].as_str().unwrap_or("")
        );
        shop.collaborations.push(body);
        answer(
            0,
            "Success",
            json!({"target_collaboration": {"id": id},
            "target_collaboration_conflicts": []}),
        )
    })
}

async fn search_collaborations(
    State(s): State<Shared>,
    Query(q): Q,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    checked(&s, api::COLLABORATIONS_SEARCH, &q, &h, &b, |shop, body| {
        let keyword = body["search_param"]["keyword"].as_str().unwrap_or_default();
        let found: Vec<Value> = shop
            .collaborations
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                body["collaboration_status"] == "ONGOING"
                    && c["name"].as_str().is_some_and(|n| n.contains(keyword))
            })
            .map(|(i, c)| {
                json!({"id": format!("tc-{i}"), "name": c["name"],
                "end_time": c["end_time"], "product_count": 1})
            })
            .collect();
        answer(
            0,
            "Success",
            json!({"total_count": found.len(), "next_page_token": "",
            "target_collaborations": found}),
        )
    })
}

async fn orders(State(s): State<Shared>, Query(q): Q, h: HeaderMap, b: Bytes) -> Response {
    checked(&s, api::ORDERS, &q.clone(), &h, &b, move |shop, body| {
        let (ge, lt) = (
            body["create_time_ge"].as_i64().unwrap_or(0),
            body["create_time_lt"].as_i64().unwrap_or(0),
        );
        if lt <= ge || lt - ge > 90 * 86_400 {
            return answer(
                16050002,
                "the time range must be at most 3 months",
                Value::Null,
            );
        }
        let size: usize = q
            .get("page_size")
            .and_then(|t| t.parse().ok())
            .unwrap_or(20)
            .clamp(1, 100);
        let from: usize = q
            .get("page_token")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        let all: Vec<&Value> = shop
            .orders
            .iter()
            .filter(|o| o["create_time"].as_i64().is_some_and(|t| t >= ge && t < lt))
            .collect();
        let page: Vec<&Value> = all.iter().skip(from).take(size).copied().collect();
        let next = if from + size < all.len() {
            (from + size).to_string()
        } else {
            String::new()
        };
        answer(
            0,
            "Success",
            json!({"orders": page, "next_page_token": next,
            "total_count": all.len()}),
        )
    })
}

/// The connector folder the demo writes for itself: its config, secrets and catalogue.
fn write_folder(dir: &Path, url: &str, shop: &Shop) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot make `{}`: {e}", dir.display()))?;
    for (name, text, what) in [
        ("app.secret", &shop.secret, "app_secret_file"),
        ("access.token", &shop.token, "access_token_file"),
        ("refresh.token", &shop.refresh, "refresh_token_file"),
    ] {
        super::token::write_secret(&dir.join(name), text, what)?;
    }
    let mut catalog = String::from("product_id,category,price,unit_cost\n");
    for (id, _, category, price, cost) in PRODUCTS {
        catalog.push_str(&format!("{id},{category},{price},{cost}\n"));
    }
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text)
            .map_err(|e| format!("cannot write `{}`: {e}", dir.join(name).display()))
    };
    write("catalog.csv", &catalog)?;
    let config = format!(
        "# The demo platform's shop (written by `sampleflow demo-platform`).
base_url: {url}
auth_base_url: {url}
app_key: {APP_KEY}
app_secret_file: app.secret
access_token_file: access.token
refresh_token_file: refresh.token
shop_id: \"{SHOP_ID}\"
poll_every: 1m
catalog: catalog.csv
seller_email: shop@example.com
messages:
  remind: \"Hi {{creator}}, your {{product}} arrived: please post your video by {{due}}. Thanks!\"
  attach_sample_card: true
paid_collab:
  commission_rate: 1800
  days: 30
  message: Your video sells well. Let us work together on a paid partnership.
"
    );
    write("tiktok.yaml", &config)?;
    Ok(dir.join("tiktok.yaml"))
}

/// Runs the demo platform on `listen` until the process is stopped, writing its connector
/// folder to `dir`.
pub fn run(listen: &str, dir: &Path) -> Result<(), String> {
    let listener = std::net::TcpListener::bind(listen)
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let url = format!("http://{addr}");
    let shop = Shop {
        secret: token("demo-secret"),
        token: token("demo-access"),
        refresh: token("demo-refresh"),
        refreshes: 0,
        token_calls: 0,
        step: 0,
        applications: Vec::new(),
        fulfillments: HashMap::new(),
        orders: Vec::new(),
        conversations: HashMap::new(),
        messages: HashMap::new(),
        collaborations: Vec::new(),
    };
    let config = write_folder(dir, &url, &shop)?;
    let shared: Shared = Arc::new(Mutex::new(shop));
    let app = Router::new()
        .route(api::REFRESH, get(refresh))
        .route(api::SHOPS, get(shops))
        .route(api::SEARCH, post(search))
        .route(
            "/affiliate_seller/202409/sample_applications/{id}/review",
            post(review),
        )
        .route(
            "/affiliate_seller/202409/sample_applications/{id}/fulfillments/search",
            post(fulfillments),
        )
        .route(api::CONVERSATIONS, post(conversation))
        .route(
            "/affiliate_seller/202412/conversations/{id}/messages",
            post(send_message),
        )
        .route(
            "/affiliate_seller/202412/conversation/{id}/messages",
            get(list_messages),
        )
        .route(api::COLLABORATIONS, post(collaborate))
        .route(api::COLLABORATIONS_SEARCH, post(search_collaborations))
        .route(api::ORDERS, post(orders))
        .with_state(shared);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        eprintln!("demo-platform: listening on {url}");
        eprintln!(
            "demo-platform: its shop's connector config is {} (secrets beside it, mode 0600); try:\n  sampleflow --db demo.db connect tiktok --config {} --once",
            config.display(),
            config.display()
        );
        axum::serve(listener, app)
            .await
            .map_err(|e| format!("the demo platform stopped: {e}"))
    })
}
