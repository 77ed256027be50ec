//! The console as a reviewer spends a day in it, in a real browser (Debian's Chromium through
//! chromedriver) against the real binary: search and filters narrow the queue, a bulk approval
//! goes through its confirmation page, a reject asks first, Enter in a note decides nothing, the
//! keys move and act, times carry the shop's zone, an Approve button is inside a phone's screen,
//! form errors keep what was typed, an ended session returns to its page, and axe-core finds no
//! serious or critical violation on any page.
//!
//! With `SAMPLEFLOW_DOCS_SCREENSHOTS=1` each page is also saved to `docs/` at desktop and phone
//! width (`scripts/console-screenshots.sh`).

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::browser::{
    axe_serious, browser, click, driver, phone, shot, sign_in, submit_token, type_into, until,
};
use common::serve::{Server, INGEST, OPERATOR, VIEWER};
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

const NOW: &str = "2026-03-27T04:58:11Z";

/// A request screening sends to review (`price_cap`: above the $50 cap).
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

/// The shipped example (s50, s51, s52 pending) and four more pending requests: r1 to r3 in
/// home, r4 in beauty.
fn server() -> Server {
    let s = Server::with_tokens(NOW);
    let body = std::fs::read_to_string("examples/events.jsonl").unwrap();
    s.events(Some(OPERATOR), &body);
    let lines = [
        pending("r1", "home", 75.0),
        pending("r2", "home", 80.0),
        pending("r3", "home", 95.0),
        pending("r4", "beauty", 60.0),
    ];
    s.events(Some(INGEST), &lines.join("\n"));
    s
}

fn state(s: &Server, id: &str) -> String {
    s.get(&format!("/v1/samples/{id}"), Some(VIEWER)).json()["sample"]["state"]
        .as_str()
        .unwrap()
        .to_string()
}

fn reviews(s: &Server, id: &str) -> Vec<Value> {
    s.get(&format!("/v1/samples/{id}"), Some(VIEWER)).json()["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["trigger"] == "sample_reviewed")
        .cloned()
        .collect()
}

async fn rows(c: &Client) -> Vec<String> {
    let mut out = Vec::new();
    for r in c.find_all(Locator::Css("#queue tr.item")).await.unwrap() {
        out.push(r.attr("data-sample").await.unwrap().unwrap());
    }
    out
}

/// The path shown once `o` opened a sample's page.
async fn rows_first_opened(c: &Client) -> String {
    c.wait().for_element(Locator::Id("timeline")).await.unwrap();
    c.current_url().await.unwrap().path().to_string()
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the page shown has a query `f` accepts.
async fn on(c: &Client, what: &str, f: impl Fn(&str) -> bool) {
    until(what, || async {
        c.current_url()
            .await
            .is_ok_and(|u| f(u.query().unwrap_or("")))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_and_a_category_filter_narrow_the_queue_and_stay_in_the_url() {
    let s = server();
    let d = driver();
    let c = browser(&d).await;
    sign_in(&c, &s, OPERATOR).await;
    assert_eq!(rows(&c).await.len(), 7);

    type_into(&c, Locator::Id("q"), "r2").await;
    click(&c, Locator::Id("apply-filters")).await;
    on(&c, "the search in the URL", |q| q.contains("q=r2")).await;
    assert_eq!(rows(&c).await, ["r2"]);

    // A category and a sort; pages of 2 keep both in the next page's link.
    c.goto(&s.url("/queue?category=home&sort=-price&limit=2"))
        .await
        .unwrap();
    assert_eq!(rows(&c).await, ["s50", "r3"]);
    let selected = c
        .find(Locator::Css("#category option[selected]"))
        .await
        .unwrap();
    assert_eq!(
        selected.attr("value").await.unwrap().as_deref(),
        Some("home")
    );
    click(&c, Locator::Id("next-page")).await;
    on(&c, "the next page", |q| q.contains("cursor=")).await;
    let url = c.current_url().await.unwrap();
    let query = url.query().unwrap();
    assert!(
        query.contains("category=home") && query.contains("sort=-price"),
        "{query}"
    );
    assert_eq!(rows(&c).await, ["r2", "r1"]);

    // The category picked from the form narrows it too.
    c.goto(&s.url("/queue")).await.unwrap();
    click(&c, Locator::Css("#category option[value=beauty]")).await;
    click(&c, Locator::Id("apply-filters")).await;
    on(&c, "the category in the URL", |q| {
        q.contains("category=beauty")
    })
    .await;
    assert_eq!(rows(&c).await, ["r4"]);
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_requests_approved_in_one_bulk_action_after_its_confirmation_page() {
    let s = server();
    let d = driver();
    let c = browser(&d).await;
    sign_in(&c, &s, OPERATOR).await;
    for id in ["r1", "r2", "r3"] {
        click(&c, Locator::Css(&format!("#row-{id} input.pick"))).await;
    }
    // Enter in the shared note decides nothing.
    type_into(&c, Locator::Id("bulk-note"), "summer push\u{E007}").await;
    click(&c, Locator::Id("approve-selected")).await;
    let list = c
        .wait()
        .for_element(Locator::Id("confirm-list"))
        .await
        .unwrap();
    let items = list.find_all(Locator::Css("li")).await.unwrap();
    assert_eq!(items.len(), 3);
    let what = text_of(&c, "#what").await;
    assert!(
        what.contains("approve") && what.contains("summer push"),
        "{what}"
    );
    // Nothing is decided before the confirmation.
    for id in ["r1", "r2", "r3"] {
        assert_eq!(state(&s, id), "pending");
    }
    shot("console-confirm.png", &c.screenshot().await.unwrap());
    click(&c, Locator::Id("confirm")).await;
    let results = c.wait().for_element(Locator::Id("results")).await.unwrap();
    let text = results.text().await.unwrap();
    assert_eq!(text.matches("approved by ana").count(), 3, "{text}");
    for id in ["r1", "r2", "r3"] {
        let r = reviews(&s, id);
        assert_eq!(r.len(), 1, "{id}: {r:?}");
        assert_eq!(r[0]["decision"], "approve");
        assert_eq!(r[0]["note"], "summer push");
        assert_eq!(r[0]["by"], "ana");
    }
    assert_eq!(state(&s, "r4"), "pending");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reject_asks_for_confirmation_and_keys_move_and_act() {
    let s = server();
    let d = driver();
    let c = browser(&d).await;
    sign_in(&c, &s, OPERATOR).await;
    let row = c.find(Locator::Id("row-r1")).await.unwrap();
    row.find(Locator::Css("input[name=note]"))
        .await
        .unwrap()
        .send_keys("not our audience")
        .await
        .unwrap();
    row.find(Locator::Css("button.reject"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("confirm")).await.unwrap();
    assert_eq!(state(&s, "r1"), "pending");
    assert!(text_of(&c, "#what").await.contains("not our audience"));
    // Cancel: back to the queue, nothing done.
    click(&c, Locator::Id("cancel")).await;
    c.wait().for_element(Locator::Id("queue")).await.unwrap();
    assert_eq!(state(&s, "r1"), "pending");
    assert!(reviews(&s, "r1").is_empty());

    // Keys: j moves to the first row, j to the second, r asks to reject it.
    let body = c.find(Locator::Css("body")).await.unwrap();
    body.send_keys("jj").await.unwrap();
    let second = rows(&c).await[1].clone();
    let current = c.find(Locator::Css("tr.current")).await.unwrap();
    assert_eq!(
        current.attr("data-sample").await.unwrap().as_deref(),
        Some(second.as_str())
    );
    body.send_keys("r").await.unwrap();
    c.wait().for_element(Locator::Id("confirm")).await.unwrap();
    assert!(text_of(&c, "#confirm-list").await.contains(&second));
    click(&c, Locator::Id("confirm")).await;
    c.wait().for_element(Locator::Id("results")).await.unwrap();
    assert_eq!(reviews(&s, &second)[0]["decision"], "reject");

    // x ticks the row, a approves it, o opens a sample.
    c.goto(&s.url("/queue")).await.unwrap();
    let body = c.find(Locator::Css("body")).await.unwrap();
    body.send_keys("jx").await.unwrap();
    let first = rows(&c).await[0].clone();
    let pick = c
        .find(Locator::Css(&format!("#row-{first} input.pick")))
        .await
        .unwrap();
    assert_eq!(pick.prop("checked").await.unwrap().as_deref(), Some("true"));
    body.send_keys("a").await.unwrap();
    let flash = c.wait().for_element(Locator::Id("flash")).await.unwrap();
    assert_eq!(
        flash.text().await.unwrap(),
        format!("`{first}` approved by ana")
    );
    let body = c.find(Locator::Css("body")).await.unwrap();
    body.send_keys("jo").await.unwrap();
    let opened = rows_first_opened(&c).await;
    assert!(opened.contains("/samples/"), "{opened}");

    // A key typed in a note is text: `a` there approves nothing.
    c.goto(&s.url("/queue")).await.unwrap();
    let note = c
        .find(Locator::Css("#row-r4 input[name=note]"))
        .await
        .unwrap();
    note.send_keys("a r j\u{E007}").await.unwrap();
    assert_eq!(note.prop("value").await.unwrap().as_deref(), Some("a r j"));
    assert!(reviews(&s, "r4").is_empty());
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_carry_the_shops_zone_prices_are_money_and_reasons_words() {
    let s = server();
    let d = driver();
    let c = browser(&d).await;
    sign_in(&c, &s, VIEWER).await;
    // s50 expires 2026-04-03T04:58:11Z: Los Angeles time, summer time by then.
    assert_eq!(text_of(&c, "#row-s50 td.when").await, "Apr 2, 21:58 PDT");
    assert_eq!(text_of(&c, "#row-s50 td.price").await, "$129.00");
    assert_eq!(text_of(&c, "#row-s50 td.left").await, "7d 0h");
    let reason = c.find(Locator::Css("#row-s50 .reason")).await.unwrap();
    assert_eq!(
        reason.attr("title").await.unwrap().as_deref(),
        Some("price_cap")
    );
    assert_eq!(
        reason.text().await.unwrap(),
        "price above the auto-approve cap"
    );
    // A viewer sees no decide buttons.
    assert!(c
        .find_all(Locator::Css("button.approve"))
        .await
        .unwrap()
        .is_empty());

    // The sample page: its product, money, deadlines and timeline in the shop's zone.
    c.goto(&s.url("/samples/s50")).await.unwrap();
    assert_eq!(text_of(&c, "#price").await, "$129.00");
    let deadlines = text_of(&c, "#deadlines").await;
    assert!(deadlines.contains("Apr 2, 21:58 PDT"), "{deadlines}");
    let timeline = text_of(&c, "#timeline").await;
    assert!(timeline.contains("Mar 26, 21:58 PDT"), "{timeline}");
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_a_phones_width_the_approve_button_is_inside_the_screen() {
    let s = server();
    let d = driver();
    let c = phone(&d).await;
    sign_in(&c, &s, OPERATOR).await;
    let width = c
        .execute("return window.innerWidth;", vec![])
        .await
        .unwrap();
    assert_eq!(width, json!(412));
    let sizes = c
        .execute(
            "var b = document.querySelector('#row-s50 button.approve').getBoundingClientRect();
             var s = document.getElementById('approve-selected').getBoundingClientRect();
             return {left: b.left, right: b.right, bulk: s.right,
                     scroll: document.documentElement.scrollWidth};",
            vec![],
        )
        .await
        .unwrap();
    let f = |k: &str| sizes[k].as_f64().unwrap();
    assert!(f("left") >= 0.0 && f("right") <= 412.0, "{sizes}");
    assert!(f("bulk") <= 412.0, "{sizes}");
    assert!(f("scroll") <= 412.0, "the page scrolls sideways: {sizes}");
    shot("console-queue-phone.png", &c.screenshot().await.unwrap());
    let violations = axe_serious(&c).await;
    assert!(violations.is_empty(), "at 412 px: {violations:#?}");
    // The Approve button works there too.
    click(&c, Locator::Css("#row-s50 button.approve")).await;
    let flash = c.wait().for_element(Locator::Id("flash")).await.unwrap();
    assert_eq!(flash.text().await.unwrap(), "`s50` approved by ana");
    // A desktop browser's window made 412 px wide shows it inside too.
    let d2 = driver();
    let wide = browser(&d2).await;
    sign_in(&wide, &s, OPERATOR).await;
    wide.set_window_size(412, 900).await.unwrap();
    let inside = wide
        .execute(
            "var b = document.querySelector('#queue button.approve').getBoundingClientRect();
             return b.left >= 0 && b.right <= document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(inside, json!(true));
    wide.close().await.unwrap();
    for (path, name) in [
        ("/samples/s50", "console-sample-phone.png"),
        ("/creators/c50", "console-creator-phone.png"),
        ("/ship", "console-ship-phone.png"),
    ] {
        c.goto(&s.url(path)).await.unwrap();
        let scroll = c
            .execute("return document.documentElement.scrollWidth;", vec![])
            .await
            .unwrap();
        assert!(scroll.as_f64().unwrap() <= 412.0, "{path}: {scroll}");
        shot(name, &c.screenshot().await.unwrap());
    }
    c.close().await.unwrap();
}

/// `r1` approved through the API, so that its page takes a ship.
fn approve_r1(s: &Server) {
    let approve = s.post(
        "/v1/reviews",
        Some(OPERATOR),
        &json!({"samples": ["r1"], "decision": "approve"}).to_string(),
    );
    assert_eq!(approve.status, 200, "{}", approve.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_error_keeps_what_was_typed_and_an_ended_session_returns_to_its_page() {
    let s = server();
    approve_r1(&s);
    let d = driver();
    let c = browser(&d).await;
    sign_in(&c, &s, OPERATOR).await;
    c.goto(&s.url("/samples/r1")).await.unwrap();
    let form = c.form(Locator::Id("ship")).await.unwrap();
    form.set_by_name("tracking_number", "1ZTYPED")
        .await
        .unwrap()
        .set_by_name("shipping_cost", "lots")
        .await
        .unwrap()
        .submit_with(Locator::Css("button.ship"))
        .await
        .unwrap();
    let err = c.wait().for_element(Locator::Id("err-cost")).await.unwrap();
    assert!(err.text().await.unwrap().contains("number of dollars"));
    let violations = axe_serious(&c).await;
    assert!(violations.is_empty(), "{violations:#?}");
    let typed = c.find(Locator::Id("tracking_number")).await.unwrap();
    assert_eq!(
        typed.prop("value").await.unwrap().as_deref(),
        Some("1ZTYPED")
    );
    assert_eq!(state(&s, "r1"), "awaiting_shipment");
    // Corrected, it ships; the page confirms and shows the shipping cost.
    c.find(Locator::Id("shipping_cost"))
        .await
        .unwrap()
        .clear()
        .await
        .unwrap();
    c.form(Locator::Id("ship"))
        .await
        .unwrap()
        .set_by_name("shipping_cost", "4.50")
        .await
        .unwrap()
        .submit_with(Locator::Css("button.ship"))
        .await
        .unwrap();
    let flash = c.wait().for_element(Locator::Id("flash")).await.unwrap();
    assert_eq!(flash.text().await.unwrap(), "shipped by ana");
    assert_eq!(text_of(&c, "#shipping-cost").await, "$4.50");

    // Approve from a pending sample's own page: back on it, with the confirmation on top.
    c.goto(&s.url("/samples/r3")).await.unwrap();
    click(&c, Locator::Css("#review button.approve")).await;
    let flash = c.wait().for_element(Locator::Id("flash")).await.unwrap();
    assert_eq!(flash.text().await.unwrap(), "approved by ana");
    assert_eq!(text_of(&c, "#state").await, "awaiting_shipment");

    // A bad date on the report page: the form again, with the message beside it, as HTML.
    c.goto(&s.url("/report?since=2026-13-01")).await.unwrap();
    let err = c
        .wait()
        .for_element(Locator::Id("err-dates"))
        .await
        .unwrap();
    assert!(!err.text().await.unwrap().is_empty());
    let since = c.find(Locator::Id("since")).await.unwrap();
    assert_eq!(
        since.prop("value").await.unwrap().as_deref(),
        Some("2026-13-01")
    );

    // The session ends (its cookie no longer names one): Approve on the queue lands on the
    // login page, which says so; signing in returns to the queue, and nothing was approved.
    c.goto(&s.url("/queue")).await.unwrap();
    // As after its idle expiry: the store no longer holds it.
    rusqlite::Connection::open(s.db())
        .unwrap()
        .execute("DELETE FROM console_sessions", [])
        .unwrap();
    click(&c, Locator::Css("#row-r2 button.approve")).await;
    c.wait().for_element(Locator::Id("expired")).await.unwrap();
    assert_eq!(state(&s, "r2"), "pending");
    submit_token(&c, OPERATOR).await;
    c.wait().for_element(Locator::Id("row-r2")).await.unwrap();
    assert!(c.current_url().await.unwrap().path().ends_with("/queue"));
    assert_eq!(state(&s, "r2"), "pending");
    assert!(reviews(&s, "r2").is_empty());
    c.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_core_finds_no_serious_violation_on_any_page() {
    let s = server();
    approve_r1(&s);
    let d = driver();
    let c = browser(&d).await;
    c.goto(&s.url("/login")).await.unwrap();
    let mut found = Vec::new();
    found.push(("/login", axe_serious(&c).await));
    sign_in(&c, &s, OPERATOR).await;
    for (path, name) in [
        ("/queue", "console-queue.png"),
        ("/samples/r1", "console-sample.png"),
        ("/creators/c-r1", "console-creator.png"),
        ("/ship", "console-ship.png"),
        ("/report", "console-report.png"),
        ("/versions", ""),
        ("/shadow", ""),
    ] {
        c.goto(&s.url(path)).await.unwrap();
        c.wait().for_element(Locator::Css("main")).await.unwrap();
        found.push((path, axe_serious(&c).await));
        if !name.is_empty() {
            shot(name, &c.screenshot().await.unwrap());
        }
    }
    // The confirmation page.
    c.goto(&s.url("/queue")).await.unwrap();
    click(&c, Locator::Css("#row-r2 button.reject")).await;
    c.wait().for_element(Locator::Id("confirm")).await.unwrap();
    found.push(("confirm", axe_serious(&c).await));
    let bad: Vec<_> = found.iter().filter(|(_, v)| !v.is_empty()).collect();
    assert!(bad.is_empty(), "{bad:#?}");
    c.close().await.unwrap();
}
