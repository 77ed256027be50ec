//! The console's pages as HTML, through the real binary in open mode (the local operator, no
//! sign-in): what each page shows a reviewer, the CSVs, and errors as pages.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::serve::Server;
use serde_json::json;

const NOW: &str = "2026-03-27T04:58:11Z";

fn server() -> Server {
    let s = Server::open(NOW);
    s.events(
        None,
        &std::fs::read_to_string("examples/events.jsonl").unwrap(),
    );
    s
}

#[test]
fn the_sample_and_creator_pages_show_what_a_reviewer_needs() {
    let s = server();
    // As the connector keeps it.
    rusqlite::Connection::open(s.db())
        .unwrap()
        .execute(
            "INSERT INTO creator_names (shop, creator, username) VALUES ('default', 'c50', 'janedoe')",
            [],
        )
        .unwrap();
    let page = s.get("/samples/s50", None);
    assert_eq!(page.status, 200, "{}", page.body);
    for shown in [
        "p-home-espresso",
        "<dd id=\"price\">$129.00</dd>",
        "<dd id=\"quantity\">1</dd>",
        "Apr 2, 21:58 PDT",
        "@janedoe",
        "price above the auto-approve cap",
        "name=\"decision\" value=\"approve\"",
    ] {
        assert!(page.body.contains(shown), "{shown}: {}", page.body);
    }
    // A pending sample takes a review, not a ship.
    assert!(!page.body.contains("id=\"ship\""), "{}", page.body);

    let creator = s.get("/creators/c50", None);
    assert_eq!(creator.status, 200, "{}", creator.body);
    for shown in [
        "@janedoe",
        "/samples/s50",
        "pending",
        "id=\"adjust\"",
        "no completed sample yet",
    ] {
        assert!(creator.body.contains(shown), "{shown}: {}", creator.body);
    }
    assert!(!creator.body.contains("{\""), "raw JSON: {}", creator.body);
    assert_eq!(s.get("/creators/nobody", None).status, 404);

    // A block in force shows on the sample page in the shop's zone, as on the creator page.
    let blocked = s.post(
        "/v1/creators/c50/adjust",
        None,
        &json!({"block_days": 3, "note": "late twice"}).to_string(),
    );
    assert_eq!(blocked.status, 200, "{}", blocked.body);
    let page = s.get("/samples/s50", None);
    let shown = page
        .body
        .split("Blocked until</dt><dd>")
        .nth(1)
        .unwrap_or_default();
    assert!(shown.starts_with("Mar 29, 21:58 PDT"), "{}", page.body);
}

/// A product's title the connector kept shows beside its id, escaped, on the queue, sample,
/// creator and to-ship pages, in the queue and ship CSVs and in `/v1/queue`; a product without
/// one shows its id alone.
#[test]
fn a_products_title_shows_beside_its_id() {
    let s = server();
    let before = s.get("/queue", None);
    assert_eq!(before.status, 200, "{}", before.body);
    assert!(!before.body.contains("class=\"title\""), "{}", before.body);
    // As the connector keeps it.
    rusqlite::Connection::open(s.db())
        .unwrap()
        .execute(
            "INSERT INTO product_titles (shop, product, title)
             VALUES ('default', 'p-home-espresso', 'Espresso <maker> & co'),
                    ('default', 'p-apparel-hoodie', '=HYPERLINK(\"http://x\",\"open\")')",
            [],
        )
        .unwrap();
    let escaped = "<span class=\"title\">Espresso &lt;maker&gt; &amp; co</span>";
    for path in ["/queue", "/samples/s50", "/creators/c50"] {
        let page = s.get(path, None);
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(page.body.contains(escaped), "{path}: {}", page.body);
        assert!(!page.body.contains("<maker>"), "{path}: unescaped");
    }
    let csv = s.get("/queue?format=csv", None);
    let mut rows = csv::Reader::from_reader(csv.body.as_bytes());
    let header = rows.headers().unwrap().clone();
    assert_eq!(&header[4], "product");
    assert_eq!(&header[5], "product_title");
    let titles: Vec<(String, String)> = rows
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[4].to_string(), r[5].to_string())
        })
        .collect();
    assert!(
        titles.contains(&("p-home-espresso".into(), "Espresso <maker> & co".into())),
        "{titles:?}"
    );
    assert!(
        titles
            .iter()
            .any(|(p, t)| p != "p-home-espresso" && t.is_empty()),
        "another product has no title: {titles:?}"
    );
    // A title a spreadsheet would run as a formula stays text.
    assert!(
        titles.contains(&(
            "p-apparel-hoodie".into(),
            "'=HYPERLINK(\"http://x\",\"open\")".into()
        )),
        "{titles:?}"
    );
    // The API's items carry the title where it is known.
    let q = s.get("/v1/queue", None);
    assert_eq!(q.status, 200, "{}", q.body);
    let items = q.json()["items"].as_array().unwrap().clone();
    let s50 = items.iter().find(|i| i["sample"] == "s50").unwrap();
    assert_eq!(s50["product_title"], "Espresso <maker> & co");
    let s51 = items.iter().find(|i| i["sample"] == "s51").unwrap();
    assert!(s51.get("product_title").is_none(), "{s51}");

    // Approved, it is on the to-ship page and CSV with its title.
    let approved = s.post(
        "/v1/reviews",
        None,
        &json!({"samples": ["s50"], "decision": "approve"}).to_string(),
    );
    assert_eq!(approved.status, 200, "{}", approved.body);
    let ship = s.get("/ship", None);
    assert!(ship.body.contains(escaped), "{}", ship.body);
    let ship_csv = s.get("/ship?format=csv", None);
    let mut rows = csv::Reader::from_reader(ship_csv.body.as_bytes());
    assert_eq!(&rows.headers().unwrap()[4], "product_title");
    let s50 = rows
        .records()
        .map(Result::unwrap)
        .find(|r| &r[0] == "s50")
        .unwrap();
    assert_eq!(&s50[4], "Espresso <maker> & co");
}

#[test]
fn the_queue_and_ship_lists_come_as_csv_and_bad_input_as_pages() {
    let s = server();
    let csv = s.get("/queue?format=csv", None);
    assert_eq!(csv.status, 200);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert!(
        lines[0].starts_with("sample,expires,reason,"),
        "{}",
        csv.body
    );
    assert_eq!(lines.len(), 4, "{}", csv.body);
    let narrowed = s.get("/queue?format=csv&category=home", None);
    assert_eq!(narrowed.body.lines().count(), 2, "{}", narrowed.body);

    let approved = s.post(
        "/v1/reviews",
        None,
        &json!({"samples": ["s50", "s51"], "decision": "approve"}).to_string(),
    );
    assert_eq!(approved.status, 200, "{}", approved.body);
    let ship = s.get("/ship", None);
    assert!(ship.body.contains("/samples/s50") && ship.body.contains("/samples/s51"));
    let ship_csv = s.get("/ship?format=csv", None);
    assert!(ship_csv
        .body
        .starts_with("sample,creator,username,product,"));
    assert!(ship_csv.body.lines().any(|l| l.starts_with("s51,c51,")));

    // Bad input: an HTML page saying why, never raw JSON.
    for (path, why) in [
        ("/queue?sort=age", "`sort=age`"),
        ("/queue?limit=9999", "1 to 500"),
        ("/report?since=2026-13-01", "2026-13-01"),
    ] {
        let a = s.get(path, None);
        assert_eq!(a.status, 400, "{path}: {}", a.body);
        assert!(a.body.starts_with("<!DOCTYPE html>"), "{path}: {}", a.body);
        assert!(a.body.contains(why), "{path}: {}", a.body);
    }
    let report = s.get("/report?since=2026-13-01", None);
    assert!(report.body.contains("id=\"err-dates\""), "{}", report.body);
    assert!(
        report.body.contains("value=\"2026-13-01\""),
        "{}",
        report.body
    );
}
