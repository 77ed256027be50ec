//! `serve` probed as an attacker would (contract "Who may post what", "Serving safely",
//! "Operating it for a month"): the real binary on a free port of loopback, real sockets.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::raw::{header, raw, sign_in};
use common::serve::{signature, Server, INGEST, OPERATOR, VIEWER, WEBHOOK};
use serde_json::{json, Value};

const NOW: &str = "2026-03-27T04:58:11Z";

fn request(sample: &str, id: &str) -> String {
    json!({
        "id": id, "type": "sample_requested", "at": NOW, "sample": sample,
        "creator": {"id": format!("c-{sample}"), "followers": 20000, "engagement_rate": 0.05,
            "posts_30d": 10, "fulfillment_rate_90d": 0.9, "top_categories": ["home"]},
        "product": {"id": "p-home-mug", "category": "home", "price": 60.0, "unit_cost": 5.0},
    })
    .to_string()
}

fn review(sample: &str, id: &str, by: &str) -> String {
    json!({"id": id, "type": "sample_reviewed", "at": NOW, "sample": sample,
        "decision": "approve", "by": by})
    .to_string()
}

fn adjust(id: &str) -> String {
    json!({"id": id, "type": "creator_adjusted", "at": NOW, "creator": {"id": "c-v1"},
        "block_days": 36500})
    .to_string()
}

fn json_error(body: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert!(v["error"].is_string() && v["message"].is_string(), "{v}");
    v
}

#[test]
fn ingest_and_signed_bodies_may_not_decide_or_adjust_and_by_is_always_the_principal() {
    let s = Server::with_tokens(NOW);
    let setup = format!("{}\n", request("v1", "v1-req"));
    assert_eq!(s.events(Some(INGEST), &setup).len(), 1);
    assert_eq!(
        s.get("/v1/samples/v1", Some(VIEWER)).json()["sample"]["state"],
        "pending"
    );

    // A mixed body: refused whole, naming the first forbidden line and its type.
    let mixed = format!(
        "{}\nnot json\n{}\n{}\n",
        request("v2", "v2-req"),
        review("v1", "v1-rev", "mallory"),
        adjust("adj-1")
    );
    let a = s.post("/v1/events", Some(INGEST), &mixed);
    assert_eq!(a.status, 403, "{}", a.body);
    let e = json_error(&a.body);
    assert_eq!(e["error"], "forbidden");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("line 3") && message.contains("sample_reviewed"),
        "{message}"
    );
    assert_eq!(
        s.get("/v1/samples/v2", Some(VIEWER)).status,
        404,
        "nothing applied"
    );

    // The same under the webhook signature.
    let body = format!("{}\n", adjust("adj-2"));
    let a = s.post_with("/v1/events", &[signature(WEBHOOK, &body)], &body);
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.body.contains("creator_adjusted"), "{}", a.body);
    assert_eq!(
        s.get("/v1/creators/c-v1", Some(VIEWER)).json()["blocked_until"],
        Value::Null
    );

    // A line whose type cannot be read is not a question of role: refused by the runner.
    let a = s.post("/v1/events", Some(INGEST), "{\"type\": 7}\n");
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["results"][0]["error"], "malformed");

    // A signed body that may post: `by` is `signed`, whatever the body says.
    let body = format!(
        "{}\n",
        request("v3", "v3-req").replace("\"id\"", "\"by\":\"mallory\",\"id\"")
    );
    let a = s.post_with("/v1/events", &[signature(WEBHOOK, &body)], &body);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["results"][0]["records"][0]["by"], "signed");

    // An operator may: applied, `by` the operator's name, not the client's.
    let results = s.events(
        Some(OPERATOR),
        &format!("{}\n", review("v1", "v1-rev", "mallory")),
    );
    assert_eq!(results[0]["records"][0]["by"], "ana", "{results:?}");
    assert_eq!(
        s.get("/v1/samples/v1", Some(VIEWER)).json()["sample"]["state"],
        "awaiting_shipment"
    );
    // A viewer posts nothing.
    assert_eq!(s.post("/v1/events", Some(VIEWER), &setup).status, 403);
}

#[test]
fn a_body_of_more_than_100000_lines_is_refused_whole() {
    let s = Server::open(NOW);
    let line = "{\"id\":\"x\"}\n";
    let body = line.repeat(100_001);
    let (status, _, text) = raw(
        &s.addr,
        "POST /v1/events HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/x-ndjson",
        body.as_bytes(),
    );
    assert!(status.contains(" 413 "), "{status}");
    assert_eq!(json_error(&text)["error"], "too_large");
    let m = s.get("/metrics", None).body;
    assert!(
        !m.contains("result=\"malformed\""),
        "nothing was read into the runner:\n{m}"
    );
}

#[test]
fn every_error_is_json_and_every_answer_has_the_safety_headers() {
    let s = Server::with_tokens(NOW);
    let get = |path: &str, extra: &str| {
        raw(
            &s.addr,
            &format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1{extra}"),
            b"",
        )
    };
    let (status, headers, body) = get("/nowhere", "");
    assert!(status.contains(" 404 "), "{status}");
    assert_eq!(json_error(&body)["error"], "not_found");
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));

    let (status, _, body) = get("/v1/events", "");
    assert!(status.contains(" 405 "), "{status}");
    assert_eq!(json_error(&body)["error"], "method_not_allowed");

    let auth = format!("\r\nauthorization: Bearer {VIEWER}");
    let (status, _, body) = get("/v1/samples/%ff", &auth);
    assert!(status.contains(" 400 "), "{status}: {body}");
    assert_eq!(json_error(&body)["error"], "bad_request");
    let (status, _, body) = get("/v1/report?since=%ff", &auth);
    assert!(status.contains(" 400 "), "{status}: {body}");
    json_error(&body);

    let (status, headers, _) = get("/v1/queue", &auth);
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));

    let (status, headers, _) = get("/login", "");
    assert!(status.contains(" 200 "), "{status}");
    assert_eq!(header(&headers, "x-frame-options"), Some("DENY"));
    let csp = header(&headers, "content-security-policy").unwrap_or("");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));

    // A body that is not the JSON a route takes.
    let a = s.post("/v1/samples/s1/review", Some(OPERATOR), "{not json");
    assert_eq!(a.status, 400);
    assert_eq!(json_error(&a.body)["error"], "bad_request");
}

#[test]
fn open_mode_refuses_foreign_hosts_origins_and_form_types() {
    let s = Server::open(NOW);
    let body = format!("{}\n", request("o1", "o1-req"));
    let post = |extra: &str| {
        raw(
            &s.addr,
            &format!("POST /v1/events HTTP/1.1{extra}"),
            body.as_bytes(),
        )
    };
    let (status, _, text) = post("\r\nhost: evil.example\r\ncontent-type: application/json");
    assert!(status.contains(" 403 "), "{status}");
    assert_eq!(json_error(&text)["error"], "forbidden");
    let (status, _, _) = post(
        "\r\nhost: 127.0.0.1\r\norigin: http://evil.example\r\ncontent-type: application/json",
    );
    assert!(status.contains(" 403 "), "{status}");
    for kind in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let (status, _, text) = post(&format!("\r\nhost: 127.0.0.1\r\ncontent-type: {kind}"));
        assert!(status.contains(" 415 "), "{kind}: {status}");
        json_error(&text);
    }
    assert_eq!(s.get("/v1/samples/o1", None).status, 404, "nothing applied");
    // This server's own page, and a client that says what it sends, are served.
    let port = s.addr.rsplit(':').next().unwrap().to_string();
    let (status, _, text) = post(&format!(
        "\r\nhost: localhost:{port}\r\norigin: http://localhost:{port}\r\ncontent-type: application/x-ndjson"
    ));
    assert!(status.contains(" 200 "), "{status}: {text}");
    assert_eq!(s.get("/v1/samples/o1", None).status, 200);
}

/// Reads until the server closes the connection; true when it did.
fn closed_by_server(tcp: &mut TcpStream) -> bool {
    tcp.set_read_timeout(Some(common::live::TIMEOUT)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

fn healthz(addr: &str) -> bool {
    let (status, _, body) = raw(addr, "GET /healthz HTTP/1.1\r\nhost: 127.0.0.1", b"");
    status.contains(" 200 ") && body == "ok"
}

#[test]
fn half_sent_and_idle_connections_are_closed_and_never_starve_healthz() {
    let s = Server::start_in(common::serve::folder(), &["--max-connections", "40"], NOW);
    // Twice the cap, half of them with half a head: /healthz is still answered.
    let mut held = Vec::new();
    for i in 0..80 {
        let mut tcp = TcpStream::connect(&s.addr).unwrap();
        if i % 2 == 0 {
            tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ")
                .unwrap();
        }
        held.push(tcp);
    }
    assert!(healthz(&s.addr));
    // A half-sent head is closed by the server, unanswered.
    let mut slow = TcpStream::connect(&s.addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n")
        .unwrap();
    assert!(closed_by_server(&mut slow));
    assert!(healthz(&s.addr));
    drop(held);
}

/// The queue page with `cookie`: signed in (200 naming the user) or sent to the login page.
fn queue_page(s: &Server, cookie: &str) -> (String, String) {
    let (status, _, body) = raw(
        &s.addr,
        &format!("GET /queue HTTP/1.1\r\nhost: 127.0.0.1\r\ncookie: {cookie}"),
        b"",
    );
    (status, body)
}

#[test]
fn console_sessions_survive_a_restart_and_end_with_their_token() {
    let s = Server::with_tokens(NOW);
    let cookie = sign_in(&s.addr, OPERATOR).0;
    let (status, body) = queue_page(&s, &cookie);
    assert!(
        status.contains(" 200 ") && body.contains("id=\"who\">ana<"),
        "{status}"
    );
    // The store keeps a hash of the id, never the id.
    let db = std::fs::read(s.path("s.db")).unwrap_or_default();
    let id = cookie.trim_start_matches("sampleflow_session=");
    assert!(!String::from_utf8_lossy(&db).contains(id));

    // A restart signs nobody out.
    let (dir, _) = s.stop();
    let s = Server::start_in(dir, &["--tokens", "tokens.yaml"], NOW);
    let (status, body) = queue_page(&s, &cookie);
    assert!(
        status.contains(" 200 ") && body.contains("id=\"who\">ana<"),
        "{status}"
    );

    // A tokens file that does not parse: the last good tokens stay, the log says where.
    let tokens = std::fs::read_to_string(s.path("tokens.yaml")).unwrap();
    std::fs::write(s.path("tokens.yaml"), "- {name: ana, role: [\n").unwrap();
    let from = s.err.len();
    s.signal("HUP");
    s.err.wait(from, 1, "the refused reload", |l| {
        l.starts_with("tokens: reload refused") && l.contains("tokens.yaml:")
    });
    assert_eq!(s.get("/v1/queue", Some(OPERATOR)).status, 200);

    // The operator's token leaves the file: 401 from then on, and its console session ends.
    let without: String = tokens
        .lines()
        .collect::<Vec<_>>()
        .chunks(3)
        .filter(|entry| !entry[0].contains("name: ana"))
        .flatten()
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(s.path("tokens.yaml"), without).unwrap();
    let from = s.err.len();
    s.signal("HUP");
    s.err.wait(from, 1, "the reload", |l| {
        l.starts_with("tokens: reloaded") && l.contains("removed: ana")
    });
    assert_eq!(s.get("/v1/queue", Some(OPERATOR)).status, 401);
    assert_eq!(s.get("/v1/queue", Some(VIEWER)).status, 200);
    let (status, _) = queue_page(&s, &cookie);
    assert!(
        status.contains(" 303 ") || status.contains(" 302 "),
        "{status}"
    );
}

#[test]
fn readyz_and_the_metrics_say_how_the_service_is() {
    let s = Server::open(NOW);
    let r = s.get("/readyz", None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "ready");
    assert_eq!(r.json()["checks"]["store"]["status"], "ok");
    s.events(None, &format!("{}\n", request("m1", "m1-req")));
    let m = s.get("/metrics", None).body;
    for needle in [
        "sampleflow_queue_pending 1",
        "sampleflow_queue_oldest_seconds",
        "sampleflow_outbox{status=\"queued\"} 0",
        "sampleflow_samples{state=\"pending\"} 1",
        "sampleflow_samples{state=\"unfulfillable_cancelled\"} 0",
        "sampleflow_samples{state=\"post_in_review\"} 0",
    ] {
        assert!(m.contains(needle), "{needle}:\n{m}");
    }
}

#[test]
fn an_ingest_spool_refuses_a_file_holding_a_decision_whole() {
    let s = Server::start_in(
        common::serve::folder(),
        &["--spool", "sp", "--spool-role", "ingest"],
        NOW,
    );
    let body = format!(
        "{}\n{}\n",
        request("p1", "p1-req"),
        review("p1", "p1-rev", "x")
    );
    std::fs::write(s.path("sp/.in.tmp"), body).unwrap();
    std::fs::rename(s.path("sp/.in.tmp"), s.path("sp/in.jsonl")).unwrap();
    s.err.wait(0, 1, "the refusal", |l| {
        l.contains("refused `in.jsonl`") && l.contains("line 2") && l.contains("sample_reviewed")
    });
    assert!(s.path("sp/rejected/in.jsonl").exists());
    assert_eq!(s.get("/v1/samples/p1", None).status, 404, "nothing applied");
    // Without the decision it is applied.
    std::fs::write(
        s.path("sp/.ok.tmp"),
        format!("{}\n", request("p2", "p2-req")),
    )
    .unwrap();
    std::fs::rename(s.path("sp/.ok.tmp"), s.path("sp/ok.jsonl")).unwrap();
    s.err.wait(0, 1, "the file applied", |l| {
        l.contains("applied `ok.jsonl`")
    });
    assert_eq!(s.get("/v1/samples/p2", None).status, 200);
}

#[test]
fn a_request_past_its_time_is_answered_408_in_json() {
    let s = Server::start_in(common::serve::folder(), &["--request-timeout", "1"], NOW);
    // A body announced and never sent whole.
    let mut tcp = TcpStream::connect(&s.addr).unwrap();
    tcp.set_read_timeout(Some(common::live::TIMEOUT)).unwrap();
    tcp.write_all(
        b"POST /v1/events HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"id\":",
    )
    .unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains("}") {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    assert_eq!(json_error(body)["error"], "timeout");
    assert!(healthz(&s.addr));
}

#[test]
fn a_stop_is_not_held_by_idle_or_half_sent_connections() {
    let s = Server::open(NOW);
    let mut held = Vec::new();
    for i in 0..20 {
        let mut tcp = TcpStream::connect(&s.addr).unwrap();
        if i % 2 == 0 {
            tcp.write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n")
                .unwrap();
        }
        held.push(tcp);
    }
    assert!(healthz(&s.addr));
    let (_, err) = s.stop();
    assert!(
        err.iter().any(|l| l.starts_with("watch: stopped")),
        "{err:?}"
    );
    for tcp in &mut held {
        assert!(closed_by_server(tcp));
    }
}

/// One keep-alive request on `tcp`; true when it was answered `ok`.
fn keep_alive_healthz(tcp: &mut TcpStream) -> bool {
    tcp.set_read_timeout(Some(common::live::TIMEOUT)).unwrap();
    if tcp
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut text = String::new();
    let mut buf = [0u8; 1024];
    while !text.ends_with("\r\n\r\nok") {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    text.starts_with("HTTP/1.1 200")
}

#[test]
fn an_idle_keep_alive_connection_outlives_the_head_limit_a_slow_head_does_not() {
    let s = Server::open(NOW);
    let mut idle = TcpStream::connect(&s.addr).unwrap();
    let mut slow = TcpStream::connect(&s.addr).unwrap();
    assert!(keep_alive_healthz(&mut idle));
    assert!(keep_alive_healthz(&mut slow));
    // The next head, begun and never ended: closed at the head's limit (10 s)...
    slow.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();
    assert!(closed_by_server(&mut slow));
    // ...while the connection idle all that time is kept (60 s) and serves its next request.
    assert!(keep_alive_healthz(&mut idle));
}
