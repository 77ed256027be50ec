//! `sampleflow serve`, through the real binary on a free port of loopback: every route and
//! status code, tokens and signatures, the records against `run`'s, a clean stop, kill -9 under
//! load, and ops commands handed over to a live server.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::serve::{signature, Server, INGEST, OPERATOR, VIEWER, WEBHOOK};
use serde_json::{json, Value};

/// The clock of the shipped example after its last event.
const NOW: &str = "2026-03-27T04:58:11Z";

fn example() -> String {
    std::fs::read_to_string("examples/events.jsonl").unwrap()
}

fn request(sample: &str, id: &str) -> String {
    json!({
        "id": id, "type": "sample_requested", "at": NOW, "sample": sample,
        "creator": {"id": format!("c-{sample}"), "followers": 20000, "engagement_rate": 0.05,
            "posts_30d": 10, "fulfillment_rate_90d": 0.9, "top_categories": ["home"]},
        "product": {"id": "p-home-mug", "category": "home", "price": 20.0, "unit_cost": 5.0},
    })
    .to_string()
}

/// A count of `sampleflow_events_total` for `result` from `/metrics`.
fn events_total(s: &Server, result: &str) -> u64 {
    let text = s.get("/metrics", None).body;
    let key = format!("sampleflow_events_total{{result=\"{result}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[test]
fn every_route_answers_with_the_contracts_status_and_shape() {
    let s = Server::with_tokens(NOW);
    // Ingest by token: one result per non-blank line, a bad line refused in its place.
    let mut body = example();
    body.push_str("not json\n\n");
    let lines = body.lines().filter(|l| !l.trim().is_empty()).count();
    // The example holds reviews: an operator posts it (an ingest token may not).
    let results = s.events(Some(OPERATOR), &body);
    assert_eq!(results.len(), lines);
    assert_eq!(results[lines - 1]["error"], "malformed");
    let at = body.lines().position(|l| l == "not json").unwrap() + 1;
    assert_eq!(results[lines - 1]["line"], at as u64);
    let first = &results[0]["records"][0];
    assert_eq!(first["trigger"], "sample_requested");
    assert_eq!(first["by"], "ana", "by is the token's name");

    // Health and metrics need no token.
    let h = s.get("/healthz", None);
    assert_eq!((h.status, h.body.as_str()), (200, "ok"));
    let m = s.get("/metrics", None);
    assert_eq!(m.status, 200);
    let count = |kind: &str| {
        results
            .iter()
            .filter(|r| r["error"] == kind || (kind == "applied" && r["records"].is_array()))
            .count()
    };
    let applied = format!(
        "sampleflow_events_total{{result=\"applied\"}} {}",
        count("applied")
    );
    let malformed = format!(
        "sampleflow_events_total{{result=\"malformed\"}} {}",
        count("malformed")
    );
    for series in [
        applied.as_str(),
        malformed.as_str(),
        "sampleflow_deadlines_fired_total",
        "sampleflow_samples{state=\"pending\"} 3",
        "sampleflow_reloads_total{result=\"applied\"} 0",
        "sampleflow_reloads_total{result=\"refused\"} 0",
        "sampleflow_request_seconds_bucket{route=\"/v1/events\",status=\"200\"",
        "# TYPE sampleflow_request_seconds histogram",
    ] {
        assert!(m.body.contains(series), "{series} in:\n{}", m.body);
    }

    // Reads: viewer and operator, never ingest; 401 without a valid token.
    let sample = s.get("/v1/samples/s50", Some(VIEWER));
    assert_eq!(sample.status, 200, "{}", sample.body);
    let sample = sample.json();
    assert_eq!(sample["sample"]["state"], "pending");
    assert_eq!(sample["records"][0]["sample"], "s50");
    let missing = s.get("/v1/samples/nope", Some(VIEWER));
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error"], "not_found");
    let c = s.get("/v1/creators/c50", Some(OPERATOR));
    assert_eq!(c.status, 200);
    assert_eq!(c.json()["creator"], "c50");
    assert_eq!(s.get("/v1/creators/nobody", Some(VIEWER)).status, 404);
    let q = s.get("/v1/queue", Some(VIEWER)).json();
    let queued: Vec<&str> = q["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sample"].as_str().unwrap())
        .collect();
    assert_eq!(queued, ["s50", "s51", "s52"]);
    let r = s.get("/v1/report", Some(VIEWER));
    assert_eq!(r.status, 200);
    assert!(r.json()["samples"].as_u64().unwrap() > 50, "{}", r.body);
    assert_eq!(
        s.get("/v1/report?since=2026-13-01", Some(VIEWER)).status,
        400
    );
    for (token, status) in [
        (Some(INGEST), 403),
        (None, 401),
        (Some("wrong"), 401),
        (Some(""), 401),
    ] {
        let a = s.get("/v1/queue", token);
        assert_eq!(a.status, status, "{token:?}: {}", a.body);
        let kind = if status == 401 {
            "unauthorized"
        } else {
            "forbidden"
        };
        assert_eq!(a.json()["error"], kind);
    }

    // Review: a viewer may not; the operator's record is by the operator; twice is 409.
    let approve = r#"{"decision":"approve","note":"looks good"}"#;
    let v = s.post("/v1/samples/s50/review", Some(VIEWER), approve);
    assert_eq!(v.status, 403);
    assert_eq!(v.json()["error"], "forbidden");
    let i = s.post("/v1/samples/s50/review", Some(INGEST), approve);
    assert_eq!(i.status, 403);
    assert_eq!(s.post("/v1/samples/s50/review", None, approve).status, 401);
    let ok = s.post("/v1/samples/s50/review", Some(OPERATOR), approve);
    assert_eq!(ok.status, 200, "{}", ok.body);
    let rec = &ok.json()["records"][0];
    assert_eq!(
        (&rec["to"], &rec["by"], &rec["note"], &rec["reason"]),
        (
            &json!("awaiting_shipment"),
            &json!("ana"),
            &json!("looks good"),
            &json!("manual_review")
        )
    );
    let again = s.post("/v1/samples/s50/review", Some(OPERATOR), approve);
    assert_eq!(again.status, 409);
    assert_eq!(again.json()["error"], "not_allowed");
    let unknown = s.post("/v1/samples/zz/review", Some(OPERATOR), approve);
    assert_eq!(unknown.status, 409);
    assert_eq!(unknown.json()["error"], "unknown_sample");
    for bad in [
        "not json",
        r#"{"decision":"maybe"}"#,
        r#"{"decision":"approve","by":"x"}"#,
    ] {
        let a = s.post("/v1/samples/s51/review", Some(OPERATOR), bad);
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
        assert_eq!(a.json()["error"], "bad_request");
    }

    // Ship and adjust.
    let ship = s.post(
        "/v1/samples/s50/ship",
        Some(OPERATOR),
        r#"{"tracking_number":"1ZAPI","carrier":"UPS","shipping_cost":6.5}"#,
    );
    assert_eq!(ship.status, 200, "{}", ship.body);
    assert_eq!(ship.json()["records"][0]["to"], "shipped");
    let shown = s.get("/v1/samples/s50", Some(VIEWER)).json();
    assert_eq!(shown["sample"]["tracking_number"], "1ZAPI");
    assert_eq!(shown["sample"]["reviewed_by"], "ana");
    let credit = |s: &Server| {
        s.get("/v1/creators/c51", Some(VIEWER)).json()["credit"]
            .as_f64()
            .unwrap()
    };
    let before = credit(&s);
    let adjust = s.post(
        "/v1/creators/c51/adjust",
        Some(OPERATOR),
        r#"{"credit":-2,"note":"late"}"#,
    );
    assert_eq!(adjust.status, 200, "{}", adjust.body);
    assert_eq!(adjust.json()["records"], json!([]));
    assert_eq!(credit(&s), before - 2.0);
    let bad_adjust = s.post("/v1/creators/c51/adjust", Some(OPERATOR), "{}");
    assert_eq!(bad_adjust.status, 400);
    let ship_bad = s.post(
        "/v1/samples/s51/ship",
        Some(OPERATOR),
        r#"{"tracking_number":"X"}"#,
    );
    assert_eq!(ship_bad.status, 409, "s51 is pending: {}", ship_bad.body);

    // Ingest by signature; a wrong signature applies nothing.
    let line = request("sig1", "sig-1");
    let body = format!("{line}\n");
    let signed = s.post_with("/v1/events", &[signature(WEBHOOK, &body)], &body);
    assert_eq!(signed.status, 200, "{}", signed.body);
    assert_eq!(signed.json()["results"][0]["records"][0]["by"], "signed");
    let line = request("sig2", "sig-2");
    let body = format!("{line}\n");
    for headers in [
        vec![signature("not-the-secret", &body)],
        vec![signature(WEBHOOK, "another body")],
        vec![("x-sampleflow-signature".into(), "sha256=00".into())],
        vec![],
    ] {
        let a = s.post_with("/v1/events", &headers, &body);
        assert_eq!(a.status, 401, "{headers:?}");
        assert_eq!(a.json()["error"], "unauthorized");
    }
    assert_eq!(s.get("/v1/samples/sig2", Some(VIEWER)).status, 404);
    // A signature does not make a viewer an operator.
    let sig_review = s.post_with(
        "/v1/samples/s51/review",
        &[signature(WEBHOOK, approve)],
        approve,
    );
    assert_eq!(sig_review.status, 401);

    // A body over 8 MiB is 413 and applies nothing.
    let applied = events_total(&s, "applied");
    let line = format!("{}\n", request("big", "big-1"));
    let big = line.repeat((9 << 20) / line.len() + 1);
    assert!(big.len() >= 9 << 20);
    // Announced by its length, and sent in chunks of unknown total: 413 either way.
    for chunked in [false, true] {
        let (status, text) = raw_post(&s.addr, INGEST, big.as_bytes(), chunked);
        assert_eq!(status, 413, "chunked {chunked}: {text}");
        assert!(text.contains("\"too_large\""), "{text}");
    }
    assert_eq!(events_total(&s, "applied"), applied);
    assert_eq!(s.get("/v1/samples/big", Some(VIEWER)).status, 404);
    // An empty body is a bad request.
    assert_eq!(s.post("/v1/events", Some(INGEST), "\n\n").status, 400);
    // The console without a session goes to the login page.
    let console = s.get("/queue", Some(OPERATOR));
    assert_eq!(console.status, 200);
    assert!(console.body.contains("Sign in"), "{}", console.body);

    // One structured log line per request, with no token in it.
    let (_, err) = s.stop();
    let logged: Vec<Value> = err
        .iter()
        .filter(|l| l.starts_with("{\"timestamp\"") && l.contains("\"method\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(logged.len() > 40, "{}", logged.len());
    assert!(logged
        .iter()
        .any(|l| l["route"] == "/v1/samples/{id}/review"
            && l["status"] == 409
            && l["method"] == "POST"
            && l["ms"].is_number()));
    let all = err.join("\n");
    for secret in [INGEST, OPERATOR, VIEWER, WEBHOOK] {
        assert!(!all.contains(secret), "a secret in the log");
    }
}

/// Posts `body` on a socket of its own, written by a thread that stops at the first failed
/// write (the server may answer and close before it has read everything), and reads the
/// answer: its status and its last line.
fn raw_post(addr: &str, token: &str, body: &[u8], chunked: bool) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    let mut writer = tcp.try_clone().unwrap();
    let length = if chunked {
        "transfer-encoding: chunked".to_string()
    } else {
        format!("content-length: {}", body.len())
    };
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nauthorization: Bearer {token}\r\n{length}\r\nconnection: close\r\n\r\n"
    );
    let body = body.to_vec();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(head.as_bytes());
        for part in body.chunks(64 << 10) {
            let sent = if chunked {
                write!(writer, "{:x}\r\n", part.len())
                    .and_then(|()| writer.write_all(part))
                    .and_then(|()| writer.write_all(b"\r\n"))
            } else {
                writer.write_all(part)
            };
            if sent.is_err() {
                return;
            }
        }
        if chunked {
            let _ = writer.write_all(b"0\r\n\r\n");
        }
    });
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    let _ = sender.join();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text.lines().last().unwrap_or("").to_string())
}

#[test]
fn the_records_are_what_run_writes_for_the_same_events() {
    let s = Server::with_tokens(NOW);
    let body = example();
    let results = s.events(Some(OPERATOR), &body);
    assert_eq!(
        results.len(),
        body.lines().filter(|l| !l.trim().is_empty()).count()
    );
    let (dir, _) = s.stop();
    let served = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();

    // The same events through `run`, each with the `by` the server gave it.
    let stamped: String = body
        .lines()
        .map(
            |l| match serde_json::from_str::<serde_json::Map<String, Value>>(l) {
                Ok(mut e) => {
                    e.insert("by".into(), json!("ana"));
                    serde_json::to_string(&e).unwrap() + "\n"
                }
                Err(_) => format!("{l}\n"),
            },
        )
        .collect();
    let run_dir = tempfile::tempdir().unwrap();
    let events = run_dir.path().join("e.jsonl");
    std::fs::write(&events, stamped).unwrap();
    let out = common::bin(&run_dir.path().join("r.db"))
        .arg("run")
        .arg(&events)
        .output()
        .unwrap();
    assert!(out.status.success());
    let ran = String::from_utf8(out.stdout).unwrap();
    assert_eq!(served.lines().count(), ran.lines().count());
    assert_eq!(served, ran);

    // And the samples' states too.
    let show = |db: &std::path::Path| {
        common::bin(db)
            .args(["show", "--all"])
            .output()
            .unwrap()
            .stdout
    };
    assert_eq!(
        show(&dir.path().join("s.db")),
        show(&run_dir.path().join("r.db"))
    );
}

#[test]
fn batches_from_many_clients_are_all_committed_and_answered_in_order() {
    let s = Arc::new(Server::open(NOW));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for b in 0..5 {
                    let body: String = (0..20)
                        .map(|i| request(&format!("t{t}b{b}i{i}"), &format!("e{t}-{b}-{i}")) + "\n")
                        .collect();
                    let results = s.events(None, &body);
                    assert_eq!(results.len(), 20);
                    for (i, r) in results.iter().enumerate() {
                        assert_eq!(r["records"][0]["sample"], format!("t{t}b{b}i{i}"));
                        assert_eq!(r["records"][0]["by"], "local");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(events_total(&s, "applied"), 800);
    let s = Arc::try_unwrap(s).ok().unwrap();
    let (dir, _) = s.stop();
    let all = common::bin(&dir.path().join("s.db"))
        .args(["show", "--all"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&all.stdout).lines().count(), 800);
}

/// Every event acknowledged with a 200 before a kill -9 is in the store after it, once.
#[test]
fn kill_9_under_load_loses_no_acknowledged_event_and_applies_none_twice() {
    kill_9_under_load(common::serve::folder());
}

#[test]
fn kill_9_under_load_on_postgres_loses_no_acknowledged_event_and_applies_none_twice() {
    let dir = common::serve::folder();
    common::use_postgres(dir.path());
    kill_9_under_load(dir);
}

fn kill_9_under_load(dir: tempfile::TempDir) {
    let s = Arc::new(Server::start_in(dir, &[], NOW));
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let (acked, stop, addr) = (acked.clone(), stop.clone(), s.addr.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let sample = format!("k{t}-{n}");
                    let body = format!("{}\n", request(&sample, &format!("ev-{sample}")));
                    let sent = agent
                        .post(format!("http://{addr}/v1/events"))
                        .header("content-type", "application/json")
                        .send(body);
                    if let Ok(mut r) = sent {
                        let text = r.body_mut().read_to_string().unwrap_or_default();
                        if r.status() == 200 && text.contains("\"records\"") {
                            acked.lock().unwrap().push(sample);
                        }
                    }
                }
            })
        })
        .collect();
    // Under load: wait until a few hundred are acknowledged, then kill -9.
    let started = std::time::Instant::now();
    while acked.lock().unwrap().len() < 300 {
        assert!(started.elapsed() < common::live::TIMEOUT, "no load");
        std::thread::yield_now();
    }
    let s = Arc::try_unwrap(s).ok().unwrap();
    let dir = s.kill();
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 300);

    let s = Server::start_in(dir, &[], NOW);
    // Every acknowledged event is there: posted again, each is a duplicate...
    let again: String = acked
        .iter()
        .map(|sample| request(sample, &format!("ev-{sample}")) + "\n")
        .collect();
    let results = s.events(None, &again);
    assert_eq!(results.len(), acked.len());
    for (r, sample) in results.iter().zip(&acked) {
        assert_eq!(r["error"], "duplicate_id", "{sample}: {r}");
    }
    // ...and was applied once: one record of its request.
    for sample in acked.iter().step_by(7) {
        let shown = s.get(&format!("/v1/samples/{sample}"), None).json();
        let requested = shown["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["trigger"] == "sample_requested")
            .count();
        assert_eq!(requested, 1, "{sample}");
    }
}

#[test]
fn a_stopping_server_answers_503_commits_what_it_acknowledged_and_exits_0() {
    let s = Server::open(NOW);
    assert_eq!(s.events(None, &(request("a", "a-1") + "\n")).len(), 1);
    s.signal("TERM");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let (mut acked, mut unavailable, mut n) = (Vec::new(), 0, 0);
    loop {
        n += 1;
        let sample = format!("late{n}");
        let body = format!("{}\n", request(&sample, &format!("ev-{sample}")));
        match agent
            .post(s.url("/v1/events"))
            .header("content-type", "application/json")
            .send(body)
        {
            Ok(mut r) => {
                let text = r.body_mut().read_to_string().unwrap_or_default();
                match r.status().as_u16() {
                    200 => acked.push(sample),
                    503 => {
                        assert!(text.contains("\"unavailable\""), "{text}");
                        unavailable += 1;
                    }
                    other => panic!("{other}: {text}"),
                }
            }
            Err(_) => break, // the server is gone
        }
    }
    assert!(
        unavailable > 0,
        "no request was answered 503 while stopping"
    );
    let (dir, err) = s.stop_waited();
    assert!(err
        .iter()
        .any(|l| l.starts_with("watch: stopped (SIGTERM)")));
    let all = common::bin(&dir.path().join("s.db"))
        .args(["show", "--all"])
        .output()
        .unwrap();
    let stored = String::from_utf8_lossy(&all.stdout).into_owned();
    for sample in acked.iter().chain([&"a".to_string()]) {
        assert!(
            stored.contains(&format!("\"sample\":\"{sample}\"")),
            "{sample}"
        );
    }
}

#[test]
fn a_client_that_disconnects_mid_body_changes_nothing() {
    let s = Server::open(NOW);
    let line = request("half", "half-1");
    let mut tcp = TcpStream::connect(&s.addr).unwrap();
    write!(
        tcp,
        "POST /v1/events HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{line}\n",
        line.len() + 500
    )
    .unwrap();
    tcp.flush().unwrap();
    drop(tcp);
    // A request after it is answered; the half-sent event was never applied.
    s.err.wait(0, 1, "the log of the cut request", |l| {
        l.contains("\"method\":\"POST\"")
    });
    assert_eq!(s.get("/v1/samples/half", None).status, 404);
    assert_eq!(events_total(&s, "applied"), 0);
}

#[test]
fn an_announced_body_over_the_limit_is_refused_before_it_is_read() {
    let s = Server::open(NOW);
    let mut tcp = TcpStream::connect(&s.addr).unwrap();
    write!(
        tcp,
        "POST /v1/events HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        9 << 20
    )
    .unwrap();
    let mut answer = [0u8; 64];
    let n = tcp.read(&mut answer).unwrap();
    let head = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
}

#[test]
fn serve_refuses_to_listen_beyond_loopback_without_tokens_and_names_a_bad_tokens_file() {
    let dir = common::serve::folder();
    let db = dir.path().join("s.db");
    let out = common::bin(&db)
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("beyond loopback"), "{out:?}");
    assert!(!db.exists(), "nothing was started");

    let tokens = dir.path().join("tokens.yaml");
    std::fs::write(
        &tokens,
        format!(
            "- name: ana\n  role: admin\n  sha256: {}\n",
            "ab".repeat(32)
        ),
    )
    .unwrap();
    let out = common::bin(&db)
        .args(["serve", "--listen", "127.0.0.1:0", "--tokens"])
        .arg(&tokens)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(
        err.contains("tokens.yaml:1:1: token `ana` has unknown role `admin`"),
        "{err}"
    );
}

#[test]
fn a_second_writer_is_sent_to_the_api_and_ops_commands_hand_their_event_over() {
    a_second_writer_is_sent_to_the_api(common::serve::folder());
}

#[test]
fn on_postgres_a_second_writer_is_sent_to_the_api_and_ops_commands_hand_their_event_over() {
    let dir = common::serve::folder();
    common::use_postgres(dir.path());
    a_second_writer_is_sent_to_the_api(dir);
}

fn a_second_writer_is_sent_to_the_api(dir: tempfile::TempDir) {
    common::serve::write_tokens(dir.path());
    let s = Server::start_in(dir, &["--tokens", "tokens.yaml"], NOW);
    s.events(Some(OPERATOR), &example());
    let db = s.db();
    // `run` on a held store: exit 1, the holder named and the API shown.
    let events = s.path("more.jsonl");
    std::fs::write(&events, request("x1", "x-1") + "\n").unwrap();
    let out = common::bin(&db).arg("run").arg(&events).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = common::stderr(&out);
    assert!(err.contains("`serve --listen 127.0.0.1:"), "{err}");
    assert!(err.contains("/v1/events"), "{err}");

    // `review` hands its event to the server; `by` is the token's name.
    let out = common::bin(&db)
        .current_dir(s.dir.path())
        .env("SAMPLEFLOW_TOKEN", OPERATOR)
        .env("SAMPLEFLOW_NOW", NOW)
        .args(["review", "s51", "--approve", "--note", "by hand"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let rec = &common::stdout_json(&out)[0];
    assert_eq!(
        (&rec["to"], &rec["by"]),
        (&json!("awaiting_shipment"), &json!("ana"))
    );
    // A refusal is exit 5, as when the command applies it itself.
    let out = common::bin(&db)
        .current_dir(s.dir.path())
        .env("SAMPLEFLOW_TOKEN", OPERATOR)
        .env("SAMPLEFLOW_NOW", NOW)
        .args(["review", "s51", "--reject"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", common::stderr(&out));
    // Without a token the server says 401, and the command says what to do.
    let out = common::bin(&db)
        .current_dir(s.dir.path())
        .env_remove("SAMPLEFLOW_TOKEN")
        .env("SAMPLEFLOW_NOW", NOW)
        .args(["review", "s52", "--approve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(common::stderr(&out).contains("SAMPLEFLOW_TOKEN"));
    assert_eq!(
        s.get("/v1/samples/s52", Some(VIEWER)).json()["sample"]["state"],
        "pending"
    );
}

#[test]
fn the_console_shows_the_report_and_what_a_live_reload_did() {
    let s = Server::open(NOW);
    s.events(None, &example());
    // Without tokens the console is the local operator's, with no sign-in.
    let report = s.get("/report", None);
    assert_eq!(report.status, 200);
    assert!(
        report.body.contains("<svg id=\"funnel\""),
        "{}",
        report.body
    );
    let before = s.get("/versions", None).body;
    assert!(before.contains("No reload since this server started"));
    // A policy change that fails a rule test is refused; one that passes is swapped in. The
    // versions page says what each did.
    let policy = s.path("rules/policy.yaml");
    let text = std::fs::read_to_string(&policy).unwrap();
    let replace = |to: String| {
        let tmp = s.path("rules/policy.yaml.swp~");
        std::fs::write(&tmp, to).unwrap();
        std::fs::rename(&tmp, &policy).unwrap();
    };
    replace(text.replace("price_cap: 50 ", "price_cap: 60 "));
    s.err
        .wait(0, 1, "the refusal", |l| l.starts_with("reload refused"));
    replace(format!("{text}# tuned on the console's day\n"));
    s.err
        .wait(0, 1, "the reload", |l| l.starts_with("reload: rules "));
    let after = s.get("/versions", None).body;
    assert!(after.contains("reload refused (files changed)"), "{after}");
    assert!(
        after.contains("reload: rules 20085d663de4 -&gt; "),
        "{after}"
    );
    assert_eq!(
        after.matches("<td>rules</td><td><code>").count(),
        2,
        "{after}"
    );
    let m = s.get("/metrics", None).body;
    assert!(
        m.contains("sampleflow_reloads_total{result=\"applied\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("sampleflow_reloads_total{result=\"refused\"} 1"),
        "{m}"
    );
}

#[test]
fn reads_go_by_the_live_program_not_by_the_files_on_disk() {
    let s = Server::open(NOW);
    s.events(None, &example());
    // Workflows broken on disk are refused as a reload: the program that runs stays, and the
    // reads (queue, report, a sample's page) go by it, not by the files.
    let flow = s.path("workflows/sample.yaml");
    let tmp = s.path("workflows/sample.yaml.swp~");
    std::fs::write(&tmp, "workflow: [broken\n").unwrap();
    std::fs::rename(&tmp, &flow).unwrap();
    s.err
        .wait(0, 1, "the refusal", |l| l.starts_with("reload refused"));
    let q = s.get("/v1/queue", None);
    assert_eq!(q.status, 200, "{}", q.body);
    let queued: Vec<String> = q.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sample"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(queued, ["s50", "s51", "s52"]);
    let r = s.get("/v1/report", None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["samples"].as_u64().unwrap() > 50, "{}", r.body);
    let page = s.get("/queue", None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("s50"), "{}", page.body);
}

/// A request screening sends to review (`price_cap`: $75 is above the $50 cap).
fn pending(sample: &str, category: &str, price: f64) -> String {
    json!({
        "id": format!("q-{sample}"), "type": "sample_requested", "at": NOW, "sample": sample,
        "creator": {"id": format!("c-{sample}"), "followers": 20000, "engagement_rate": 0.05,
            "posts_30d": 10, "fulfillment_rate_90d": 0.9, "top_categories": [category]},
        "product": {"id": format!("p-{category}-{sample}"), "category": category, "price": price,
            "unit_cost": 20.0},
    })
    .to_string()
}

fn samples_of(items: &Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sample"].as_str().unwrap().to_string())
        .collect()
}

/// `POST /v1/reviews`: one result per sample, in order, each reviewed as by
/// `/v1/samples/{id}/review` (records, or the refusal of that sample alone), the shared note on
/// every record; more than 500 samples, a bad decision or a viewer are refused whole.
#[test]
fn bulk_reviews_answer_one_result_per_sample_in_order() {
    let s = Server::with_tokens(NOW);
    s.events(Some(OPERATOR), &example());
    let lines: Vec<String> = ["r1", "r2", "r3"]
        .iter()
        .map(|id| pending(id, "home", 75.0))
        .collect();
    s.events(Some(INGEST), &lines.join("\n"));
    let body = json!({"samples": ["r1", "r2", "nope", "r3", "r1"], "decision": "approve",
        "note": "good fit"});
    let a = s.post("/v1/reviews", Some(OPERATOR), &body.to_string());
    assert_eq!(a.status, 200, "{}", a.body);
    let results = a.json()["results"].as_array().unwrap().clone();
    assert_eq!(
        samples_of(&json!(results)),
        ["r1", "r2", "nope", "r3", "r1"]
    );
    for i in [0, 1, 3] {
        let records = results[i]["records"].as_array().unwrap();
        assert_eq!(records.len(), 1, "{}", results[i]);
        assert_eq!(records[0]["decision"], "approve", "{}", results[i]);
        assert_eq!(records[0]["by"], "ana");
        assert_eq!(records[0]["note"], "good fit");
    }
    // An unknown sample, and one decided already (earlier in the same body), are refused alone.
    assert_eq!(results[2]["error"], "unknown_sample", "{}", results[2]);
    assert!(results[4]["error"].is_string(), "{}", results[4]);
    assert!(results[4].get("records").is_none());
    for id in ["r1", "r2", "r3"] {
        let one = s.get(&format!("/v1/samples/{id}"), Some(VIEWER)).json();
        assert_eq!(one["sample"]["state"], "awaiting_shipment");
        let reviewed: Vec<&Value> = one["records"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["trigger"] == "sample_reviewed")
            .collect();
        assert_eq!(reviewed.len(), 1, "{one}");
    }
    // Also under the shop's path.
    let scoped = s.post(
        "/v1/shops/default/reviews",
        Some(OPERATOR),
        &json!({"samples": ["s50"], "decision": "reject"}).to_string(),
    );
    assert_eq!(scoped.status, 200, "{}", scoped.body);
    assert_eq!(
        scoped.json()["results"][0]["records"][0]["decision"],
        "reject"
    );

    let many: Vec<String> = (0..501).map(|i| format!("x{i}")).collect();
    let too_many = s.post(
        "/v1/reviews",
        Some(OPERATOR),
        &json!({"samples": many, "decision": "approve"}).to_string(),
    );
    assert_eq!(too_many.status, 400, "{}", too_many.body);
    assert_eq!(too_many.json()["error"], "bad_request");
    let bad = s.post(
        "/v1/reviews",
        Some(OPERATOR),
        &json!({"samples": ["s51"], "decision": "maybe"}).to_string(),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    let viewer = s.post(
        "/v1/reviews",
        Some(VIEWER),
        &json!({"samples": ["s51"], "decision": "approve"}).to_string(),
    );
    assert_eq!(viewer.status, 403, "{}", viewer.body);
    assert_eq!(
        s.get("/v1/samples/s51", Some(VIEWER)).json()["sample"]["state"],
        "pending"
    );
}

/// `GET /v1/queue` takes `q`, `category`, `reason`, `tier`, `sort`, `limit` and `cursor`, and
/// `format=csv`: a header row and one row per pending request.
#[test]
fn the_queue_filters_sorts_pages_and_answers_csv() {
    let s = Server::with_tokens(NOW);
    s.events(Some(OPERATOR), &example());
    let lines = [
        pending("r1", "home", 75.0),
        pending("r2", "home", 90.0),
        pending("r3", "beauty", 60.0),
    ];
    s.events(Some(INGEST), &lines.join("\n"));
    let all = s.get("/v1/queue", Some(VIEWER)).json();
    assert_eq!(all["total"], 6, "{all}");
    assert_eq!(all["next_cursor"], Value::Null);

    let home = s
        .get("/v1/queue?category=home&sort=-price", Some(VIEWER))
        .json();
    assert_eq!(samples_of(&home["items"]), ["s50", "r2", "r1"]);
    let found = s.get("/v1/queue?q=R3", Some(VIEWER)).json();
    assert_eq!(samples_of(&found["items"]), ["r3"]);
    let by_product = s.get("/v1/queue?q=p-beauty", Some(VIEWER)).json();
    assert_eq!(samples_of(&by_product["items"]), ["r3"]);
    let capped = s.get("/v1/queue?reason=price_cap", Some(VIEWER)).json();
    assert!(samples_of(&capped["items"]).contains(&"r1".to_string()));
    assert!(capped["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["reason"] == "price_cap"));

    // Pages of 4: the cursor leads on to the rest, none twice, none lost.
    let first = s.get("/v1/queue?limit=4&sort=price", Some(VIEWER)).json();
    assert_eq!(first["items"].as_array().unwrap().len(), 4);
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let second = s
        .get(
            &format!("/v1/queue?limit=4&sort=price&cursor={cursor}"),
            Some(VIEWER),
        )
        .json();
    let mut seen = samples_of(&first["items"]);
    seen.extend(samples_of(&second["items"]));
    assert_eq!(second["next_cursor"], Value::Null);
    let mut everything = samples_of(&all["items"]);
    everything.sort();
    let mut sorted_seen = seen.clone();
    sorted_seen.sort();
    assert_eq!(sorted_seen, everything);

    let csv = s.get("/v1/queue?format=csv", Some(VIEWER));
    assert_eq!(csv.status, 200);
    let rows: Vec<&str> = csv.body.lines().collect();
    assert!(
        rows[0].starts_with("sample,expires,reason,"),
        "{}",
        csv.body
    );
    assert_eq!(rows.len(), 1 + 6, "{}", csv.body);
    let beauty = s.get(
        "/v1/shops/default/queue?format=csv&category=beauty",
        Some(VIEWER),
    );
    assert_eq!(beauty.body.lines().count(), 2, "{}", beauty.body);

    for bad in [
        "sort=age",
        "limit=0",
        "limit=501",
        "cursor=zz",
        "format=xml",
        "colour=red",
    ] {
        let a = s.get(&format!("/v1/queue?{bad}"), Some(VIEWER));
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
        assert_eq!(a.json()["error"], "bad_request");
    }
}

/// `GET /v1/ship`: approved samples waiting for a tracking number, oldest approval first, as
/// JSON or the warehouse's CSV; a shipped one leaves it.
#[test]
fn the_ship_list_holds_approved_samples_oldest_first() {
    let s = Server::with_tokens(NOW);
    s.events(Some(OPERATOR), &example());
    let before = s.get("/v1/ship", Some(VIEWER)).json();
    let n = before["items"].as_array().unwrap().len();
    let a = s.post(
        "/v1/reviews",
        Some(OPERATOR),
        &json!({"samples": ["s51"], "decision": "approve"}).to_string(),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let after = s.get("/v1/ship", Some(VIEWER)).json();
    let items = after["items"].as_array().unwrap();
    assert_eq!(items.len(), n + 1, "{after}");
    let times: Vec<&str> = items
        .iter()
        .map(|i| i["approved_at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    assert!(items
        .iter()
        .any(|i| i["sample"] == "s51" && i["quantity"] == 1));
    let csv = s.get("/v1/ship?format=csv", Some(VIEWER));
    assert!(csv.body.starts_with(
        "sample,creator,username,product,product_title,category,quantity,approved_at,ship_by"
    ));
    assert_eq!(csv.body.lines().count(), 1 + n + 1, "{}", csv.body);
    let shipped = s.post(
        "/v1/samples/s51/ship",
        Some(OPERATOR),
        &json!({"tracking_number": "1Z9"}).to_string(),
    );
    assert_eq!(shipped.status, 200, "{}", shipped.body);
    let left = s.get("/v1/ship", Some(VIEWER)).json();
    assert!(!left["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["sample"] == "s51"));
}
