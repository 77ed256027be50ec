//! The console in a real browser: Debian's Chromium, driven by chromedriver (WebDriver, through
//! fantoccini), against the real binary. `.ci/run` installs both; these tests fail, never
//! skip, when they are missing.
//!
//! Screenshots go to the test target folder (`docs/` takes those of tests/console_review.rs).

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::browser::{browser, click, driver, shot, sign_in, tamper_and_click, type_into, until};
use common::serve::{Server, OPERATOR, VIEWER};
use fantoccini::Locator;
use serde_json::json;

const NOW: &str = "2026-03-27T04:58:11Z";

fn examples_and_a_hostile_one(s: &Server) {
    let mut body = std::fs::read_to_string("examples/events.jsonl").unwrap();
    // A pending sample whose ids hold markup: shown as text, never run.
    let hostile = std::fs::read_to_string("examples/events.jsonl")
        .unwrap()
        .lines()
        .find(|l| l.contains("\"q-2\""))
        .unwrap()
        .replace("\"q-2\"", "\"q-hostile\"")
        .replace("\"s51\"", "\"x<script>document.title='pwned'</script>\"")
        .replace("\"c51\"", "\"<b>c-bold</b>\"");
    body.push_str(&hostile);
    body.push('\n');
    // The examples hold reviews: an operator posts them.
    s.events(Some(OPERATOR), &body);
}

/// Enter in the note field submits nothing: the sample stays pending, no record is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enter_in_the_note_field_neither_approves_nor_rejects() {
    let s = Server::with_tokens(NOW);
    examples_and_a_hostile_one(&s);
    let d = driver();
    let c = browser(&d).await;
    sign_in(&c, &s, OPERATOR).await;
    let row = c.find(Locator::Id("row-s50")).await.unwrap();
    row.find(Locator::Css("input[name=note]"))
        .await
        .unwrap()
        .send_keys("too pricey, reject\u{E007}")
        .await
        .unwrap();
    // Then a real click elsewhere on the page (Approve of another sample) is answered: had
    // Enter posted anything, it would have been handled before this.
    c.find(Locator::Id("row-s52"))
        .await
        .unwrap()
        .find(Locator::Css("button.approve"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flash = c.wait().for_element(Locator::Id("flash")).await.unwrap();
    assert_eq!(flash.text().await.unwrap(), "`s52` approved by ana");
    c.find(Locator::Id("row-s50")).await.unwrap();
    let sample = s.get("/v1/samples/s50", Some(OPERATOR)).json();
    assert_eq!(sample["sample"]["state"], "pending", "{sample}");
    let reviewed = sample["records"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["trigger"] == "sample_reviewed");
    assert!(!reviewed, "{sample}");
    c.close().await.unwrap();
}

/// Enter in a field of the creator's Adjust form submits nothing: typing a block of 100 years
/// and pressing Enter blocks nobody; the Adjust button still applies what is typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enter_in_the_adjust_form_blocks_nobody() {
    let s = Server::with_tokens(NOW);
    examples_and_a_hostile_one(&s);
    let d = driver();
    let c = browser(&d).await;
    sign_in(&c, &s, OPERATOR).await;
    let before = s.get("/v1/creators/c50", Some(OPERATOR)).json();
    assert!(before["blocked_until"].is_null(), "{before}");
    c.goto(&s.url("/creators/c50")).await.unwrap();
    type_into(&c, Locator::Css("input[name=block_days]"), "36500\u{E007}").await;
    // Had Enter posted the form, the page would have moved on before this click is handled.
    c.find(Locator::Css("input[name=block_days]"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    type_into(&c, Locator::Css("input[name=credit]"), "2").await;
    click(&c, Locator::Css("button.adjust")).await;
    let credit = |v: &serde_json::Value| v["credit"].as_f64().unwrap();
    until("the Adjust click to apply", || async {
        credit(&s.get("/v1/creators/c50", Some(OPERATOR)).json()) != credit(&before)
    })
    .await;
    let after = s.get("/v1/creators/c50", Some(OPERATOR)).json();
    assert!(
        after["blocked_until"].is_null(),
        "blocked by Enter: {after}"
    );
    // The click applied once, the Enter not at all: the credit moved by 2, not 4.
    let moved = credit(&after) - credit(&before);
    assert_eq!(moved, 2.0, "{before} -> {after}");
    let adjustments = after["adjustments"].as_array().unwrap().len();
    let earlier = before["adjustments"].as_array().map_or(0, Vec::len);
    assert_eq!(adjustments, earlier + 1, "{after}");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_signs_in_approves_from_the_queue_and_the_timeline_names_them() {
    let s = Server::with_tokens(NOW);
    examples_and_a_hostile_one(&s);
    let d = driver();
    let c = browser(&d).await;
    sign_in(&c, &s, OPERATOR).await;
    assert_eq!(
        c.find(Locator::Id("who"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ana"
    );
    c.find(Locator::Id("row-s50")).await.unwrap();
    // Markup in ids is text on the page: no script ran, no element was made of it.
    let source = c.source().await.unwrap();
    assert!(!source.contains("<script>document.title"), "raw markup");
    assert_ne!(c.title().await.unwrap(), "pwned");
    assert!(c.find_all(Locator::Css("td b")).await.unwrap().is_empty());
    let table = c
        .find(Locator::Id("queue"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        table.contains("x<script>document.title='pwned'</script>"),
        "{table}"
    );
    assert!(table.contains("<b>c-bold</b>"), "{table}");
    shot("console-queue-escaped.png", &c.screenshot().await.unwrap());

    // Approve s50 with a note.
    let row = c.find(Locator::Id("row-s50")).await.unwrap();
    row.find(Locator::Css("input[name=note]"))
        .await
        .unwrap()
        .send_keys("fits the brief")
        .await
        .unwrap();
    row.find(Locator::Css("button.approve"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let flash = c.wait().for_element(Locator::Id("flash")).await.unwrap();
    assert_eq!(flash.text().await.unwrap(), "`s50` approved by ana");
    // It left the queue; the others wait on.
    assert!(c.find_all(Locator::Id("row-s50")).await.unwrap().is_empty());
    c.find(Locator::Id("row-s52")).await.unwrap();

    // The timeline shows the approver and the note.
    c.goto(&s.url("/samples/s50")).await.unwrap();
    let state = c.wait().for_element(Locator::Id("state")).await.unwrap();
    assert_eq!(state.text().await.unwrap(), "awaiting_shipment");
    let by: Vec<String> = {
        let mut v = Vec::new();
        for e in c.find_all(Locator::Css("#timeline td.by")).await.unwrap() {
            v.push(e.text().await.unwrap());
        }
        v
    };
    assert_eq!(by.last().map(String::as_str), Some("ana"), "{by:?}");
    let timeline = c
        .find(Locator::Id("timeline"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(timeline.contains("fits the brief"), "{timeline}");
    assert!(timeline.contains("manual_review"), "{timeline}");

    // Ship it from its page: the tracking number is on the timeline.
    let form = c
        .form(Locator::Css(
            "form[action='/shops/default/samples/s50/ship']",
        ))
        .await
        .unwrap();
    form.set_by_name("tracking_number", "1ZBROWSER")
        .await
        .unwrap()
        .set_by_name("carrier", "UPS")
        .await
        .unwrap()
        .submit_with(Locator::Css("button.ship"))
        .await
        .unwrap();
    until("the sample is shipped", || async {
        match c.find(Locator::Id("state")).await {
            Ok(e) => e.text().await.is_ok_and(|t| t == "shipped"),
            Err(_) => false,
        }
    })
    .await;
    let timeline = c
        .find(Locator::Id("timeline"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(timeline.contains("1ZBROWSER"), "{timeline}");
    shot("console-sample-shipped.png", &c.screenshot().await.unwrap());

    // The API agrees.
    let api = s.get("/v1/samples/s50", Some(VIEWER)).json();
    assert_eq!(api["sample"]["reviewed_by"], "ana");
    assert_eq!(api["sample"]["state"], "shipped");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_posted_without_its_csrf_token_is_refused_and_changes_nothing() {
    let s = Server::with_tokens(NOW);
    examples_and_a_hostile_one(&s);
    let d = driver();
    let c = browser(&d).await;
    sign_in(&c, &s, OPERATOR).await;
    c.find(Locator::Id("row-s52")).await.unwrap();
    // Take the token out of the row's form (as a forged cross-site form would lack it), and
    // submit it.
    tamper_and_click(
        &c,
        "document.querySelector('#row-s52 input[name=csrf]').remove();",
        "#row-s52 button.reject",
    )
    .await;
    let error = c.wait().for_element(Locator::Id("error")).await.unwrap();
    assert!(
        error.text().await.unwrap().contains("CSRF token"),
        "{}",
        error.text().await.unwrap()
    );
    assert_eq!(
        c.find(Locator::Css("h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "403 Forbidden"
    );
    // A wrong token is refused the same way.
    c.goto(&s.url("/queue")).await.unwrap();
    tamper_and_click(
        &c,
        "document.querySelector('#row-s52 input[name=csrf]').value = 'f'.repeat(64);",
        "#row-s52 button.approve",
    )
    .await;
    c.wait().for_element(Locator::Id("error")).await.unwrap();
    assert_eq!(
        s.get("/v1/samples/s52", Some(VIEWER)).json()["sample"]["state"],
        "pending"
    );

    // A viewer sees the queue but no buttons, and cannot post one.
    c.delete_all_cookies().await.unwrap();
    sign_in(&c, &s, VIEWER).await;
    c.find(Locator::Id("row-s52")).await.unwrap();
    assert!(c
        .find_all(Locator::Css("button.approve"))
        .await
        .unwrap()
        .is_empty());
    // The session cookie is out of a script's reach.
    let cookies = c.execute("return document.cookie;", vec![]).await.unwrap();
    assert_eq!(cookies, json!(""), "HttpOnly");
    c.close().await.unwrap();
}

/// The Shadow page, reached by its nav link as a viewer: the totals and the changed screenings
/// that `GET /v1/shadow` gives, of a candidate raising the follower floor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shadow_page_shows_the_totals_and_changes_of_v1_shadow() {
    let dir = common::serve::folder();
    common::serve::write_tokens(dir.path());
    let cand = dir.path().join("cand");
    common::copy_dir(&dir.path().join("rules"), &cand);
    common::edit(
        &cand.join("policy.yaml"),
        "min_followers: 5000 ",
        "min_followers: 20000",
    );
    let s = Server::start_in(dir, &["--tokens", "tokens.yaml", "--shadow", "cand"], NOW);
    s.events(
        Some(OPERATOR),
        &std::fs::read_to_string("examples/events.jsonl").unwrap(),
    );
    let api = s.get("/v1/shadow", Some(VIEWER)).json();
    let changes = api["changes"].as_array().unwrap();
    assert!(!changes.is_empty(), "{api}");
    let d = driver();
    let c = browser(&d).await;
    sign_in(&c, &s, VIEWER).await;
    click(&c, Locator::LinkText("Shadow")).await;
    let compared = c.wait().for_element(Locator::Id("compared")).await.unwrap();
    assert_eq!(compared.text().await.unwrap(), api["compared"].to_string());
    let agreeing = c.find(Locator::Id("agreeing")).await.unwrap();
    assert_eq!(agreeing.text().await.unwrap(), api["agreeing"].to_string());
    let approvals = c.find(Locator::Id("approvals")).await.unwrap();
    assert_eq!(
        approvals.text().await.unwrap(),
        format!(
            "{} / {}",
            api["summary"]["approvals_gained"], api["summary"]["approvals_lost"]
        )
    );
    let table = c
        .find(Locator::Id("changes"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for change in changes {
        let sample = change["sample"].as_str().unwrap();
        let reason = change["candidate"]["reason"].as_str().unwrap();
        assert!(table.contains(sample) && table.contains(reason), "{table}");
    }
    c.close().await.unwrap();
}
