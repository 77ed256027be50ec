//! From what the platform shows of an application to the events of our contract.
//!
//! Every event's id is derived from the application and what changed (`tts-<app>-requested`,
//! `tts-<app>-shipped`, `tts-<app>-content-<id>`, `tts-<app>-metrics-<id>-<figures>`...), so the
//! same state seen again gives the same ids: the caller drops those the store already holds,
//! and a second poll applies nothing.
//!
//! The platform's view and ours: statuses our own decisions and deadlines produce (approved,
//! rejected, overdue, unfulfilled, not shipped in time) are never taken from the platform: our
//! record of them is made once, by the decision or deadline that causes it, and a platform status
//! that says the same adds nothing. What only the platform knows (a tracking number, a delivery,
//! a withdrawal, posted content and its figures) becomes events. Where the two disagree (the
//! platform says cancelled, we say shipped), ours stands and the caller reports the difference.

use std::collections::HashMap;
use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::config::Defaults;
use super::platform::{Application, Fulfillment};

/// One product of the seller's catalogue.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Item {
    pub product_id: String,
    pub category: String,
    pub price: f64,
    pub unit_cost: f64,
}

/// The seller's catalogue: `product_id,category,price,unit_cost`.
#[derive(Debug, Clone, Default)]
pub struct Catalog(HashMap<String, Item>);

impl Catalog {
    /// Loads the CSV; a bad row is named by its line.
    pub fn load(path: &Path) -> Result<Catalog, String> {
        let shown = path.display();
        let mut reader =
            csv::Reader::from_path(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
        let mut items = HashMap::new();
        for row in reader.deserialize::<Item>() {
            let item = row.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                format!("{shown}:{line}: {e}")
            })?;
            let ok = |v: f64| v.is_finite() && (0.0..=1e9).contains(&v);
            if !ok(item.price) || !ok(item.unit_cost) || item.category.trim().is_empty() {
                return Err(format!(
                    "{shown}: product `{}`: a category, and a price and unit cost from 0 to 1e9, are needed",
                    item.product_id
                ));
            }
            items.insert(item.product_id.clone(), item);
        }
        Ok(Catalog(items))
    }

    pub fn from_items(items: impl IntoIterator<Item = Item>) -> Catalog {
        Catalog(
            items
                .into_iter()
                .map(|i| (i.product_id.clone(), i))
                .collect(),
        )
    }

    pub fn get(&self, product: &str) -> Option<&Item> {
        self.0.get(product)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why an application cannot become a sample.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Unmappable {
    /// Its product is not in the catalogue: no category, price or cost to screen it by.
    NotInCatalog { product: String },
    /// It has no id, or no creator.
    Incomplete(String),
}

impl std::fmt::Display for Unmappable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unmappable::NotInCatalog { product } => {
                write!(f, "product `{product}` is not in the catalogue")
            }
            Unmappable::Incomplete(why) => f.write_str(why),
        }
    }
}

/// The id of the event an application's change makes.
pub fn event_id(application: &str, change: &str) -> String {
    format!("{EVENT_PREFIX}{application}-{change}")
}

/// How every id of the connector's events begins: the ids a store is asked for by
/// [`crate::store::Store::events_with_prefix`] (the model owns the scheme, see
/// [`crate::model::source`]).
pub use crate::model::source::PLATFORM_EVENT_PREFIX as EVENT_PREFIX;

fn number(text: Option<&str>) -> Option<f64> {
    text.and_then(|t| t.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

/// Statuses after shipment, in which the parcel was sent.
const SHIPPED_OR_LATER: [&str; 3] = ["SHIPPED", "CONTENT_PENDING", "COMPLETED"];
/// Statuses after delivery.
const DELIVERED_OR_LATER: [&str; 2] = ["CONTENT_PENDING", "COMPLETED"];

/// Every event the application's state stands for, in the order they happened, at `at`.
pub fn events(
    app: &Application,
    contents: &[Fulfillment],
    catalog: &Catalog,
    defaults: &Defaults,
    at: DateTime<Utc>,
) -> Result<Vec<Value>, Unmappable> {
    if app.id.trim().is_empty() {
        return Err(Unmappable::Incomplete(
            "an application without an id".into(),
        ));
    }
    if app.creator.user_id.trim().is_empty() {
        return Err(Unmappable::Incomplete(format!(
            "application `{}` names no creator",
            app.id
        )));
    }
    let Some(item) = catalog.get(&app.product.id) else {
        return Err(Unmappable::NotInCatalog {
            product: app.product.id.clone(),
        });
    };
    let at = at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let event = |change: &str, kind: &str, fields: Value| {
        let mut e =
            json!({"id": event_id(&app.id, change), "type": kind, "at": at, "sample": app.id});
        if let (Some(e), Value::Object(fields)) = (e.as_object_mut(), fields) {
            e.extend(fields);
        }
        e
    };
    let c = &app.creator;
    let mut creator = json!({
        "id": c.user_id,
        "followers": c.follower_count.unwrap_or(0).max(0),
        "engagement_rate": defaults.engagement_rate,
        "posts_30d": defaults.posts_30d,
    });
    if let Some(gmv) = number(c.gmv.as_ref().map(|g| g.amount.as_str())) {
        creator["gmv_30d"] = json!(gmv.max(0.0));
    }
    if let Some(views) = c.ec_video_view {
        creator["avg_video_views"] = json!(views.max(0));
    }
    if let Some(rate) = number(c.fulfillment_percentage.as_deref()) {
        // Shown as a fraction ("0.82"), or by some SDKs as a percentage ("82").
        let rate = if rate > 1.0 { rate / 100.0 } else { rate };
        creator["fulfillment_rate_90d"] = json!(rate.clamp(0.0, 1.0));
    }
    let mut out = vec![event(
        "requested",
        "sample_requested",
        json!({
            "creator": creator,
            "product": {"id": item.product_id, "category": item.category,
                        "price": item.price, "unit_cost": item.unit_cost},
            "quantity": app.available_quantity.unwrap_or(1).max(1),
        }),
    )];
    let status = app.status.as_str();
    if SHIPPED_OR_LATER.contains(&status) {
        if let Some(tracking) = app.tracking_number.as_deref().filter(|t| !t.is_empty()) {
            out.push(event(
                "shipped",
                "sample_shipped",
                json!({"tracking_number": tracking}),
            ));
        }
    }
    // Content posted means the parcel arrived, whatever the status says yet.
    let delivered = DELIVERED_OR_LATER.contains(&status)
        || (SHIPPED_OR_LATER.contains(&status)
            && contents.iter().any(|f| !f.content.id.is_empty()));
    if delivered {
        out.push(event("delivered", "sample_delivered", json!({})));
    }
    // Content counts only once the sample is delivered: before, no state of ours takes it.
    for f in contents.iter().filter(|_| delivered) {
        let content = &f.content;
        if content.id.is_empty() {
            continue;
        }
        let live = content.format.eq_ignore_ascii_case("LIVE");
        let mut posted = json!({
            "content_id": content.id,
            "format": if live { "live" } else { "video" },
            "has_product_link": f.product.id.is_empty() || f.product.id == app.product.id,
        });
        if live {
            let minutes = match (content.create_time, content.live_end_time) {
                (Some(start), Some(end)) if end > start => (end - start) / 60,
                _ => 0,
            };
            posted["live_minutes"] = json!(minutes);
        }
        out.push(event(
            &format!("content-{}", content.id),
            "content_posted",
            posted,
        ));
        let figures = [
            content.view_count,
            content.like_count,
            content.comment_count,
            content.paid_order_count,
        ];
        if figures.iter().any(Option::is_some) {
            let [views, likes, comments, orders] = figures.map(|f| f.unwrap_or(0).max(0));
            out.push(event(
                &format!("metrics-{}-{views}-{likes}-{comments}-{orders}", content.id),
                "content_metrics",
                json!({"content_id": content.id, "views": views, "likes": likes,
                       "comments": comments, "orders": orders}),
            ));
        }
    }
    if status == "WITHDRAW_CANCELLED" {
        out.push(event("withdrawn", "sample_withdrawn", json!({})));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::platform::{Content, Creator, Money, Product};

    fn app(status: &str) -> Application {
        Application {
            id: "7301".into(),
            status: status.into(),
            tracking_number: Some("1ZTT".into()),
            creator: Creator {
                user_id: "6912".into(),
                follower_count: Some(48210),
                gmv: Some(Money {
                    amount: "1520.40".into(),
                    currency: Some("USD".into()),
                }),
                fulfillment_percentage: Some("0.82".into()),
                ec_video_view: Some(30412),
                ..Creator::default()
            },
            product: Product {
                id: "1729".into(),
                ..Product::default()
            },
            ..Application::default()
        }
    }

    fn catalog() -> Catalog {
        Catalog::from_items([Item {
            product_id: "1729".into(),
            category: "home".into(),
            price: 129.0,
            unit_cost: 41.0,
        }])
    }

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-01T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc)
    }

    /// The events of `app("status")` with `contents`, under the test catalogue.
    fn mapped(status: &str, contents: &[Fulfillment]) -> Vec<Value> {
        events(
            &app(status),
            contents,
            &catalog(),
            &Defaults::default(),
            at(),
        )
        .expect("maps")
    }

    fn ids(events: &[Value]) -> Vec<&str> {
        events.iter().filter_map(|e| e["id"].as_str()).collect()
    }

    #[test]
    fn a_new_application_is_a_request_with_the_platforms_figures_and_the_catalogues() {
        let e = mapped("PENDING", &[]);
        assert_eq!(ids(&e), ["tts-7301-requested"]);
        assert_eq!(
            e[0],
            json!({"id": "tts-7301-requested", "type": "sample_requested", "at": "2026-06-01T12:00:00Z",
                "sample": "7301",
                "creator": {"id": "6912", "followers": 48210, "engagement_rate": 0.03, "posts_30d": 4,
                    "gmv_30d": 1520.4, "avg_video_views": 30412, "fulfillment_rate_90d": 0.82},
                "product": {"id": "1729", "category": "home", "price": 129.0, "unit_cost": 41.0},
                "quantity": 1})
        );
    }

    #[test]
    fn later_statuses_and_content_add_their_events_with_ids_of_what_changed() {
        let content = Fulfillment {
            product: Product {
                id: "1729".into(),
                ..Product::default()
            },
            content: Content {
                id: "v9".into(),
                format: "VIDEO".into(),
                view_count: Some(5200),
                paid_order_count: Some(3),
                ..Content::default()
            },
        };
        let e = mapped("COMPLETED", std::slice::from_ref(&content));
        assert_eq!(
            ids(&e),
            [
                "tts-7301-requested",
                "tts-7301-shipped",
                "tts-7301-delivered",
                "tts-7301-content-v9",
                "tts-7301-metrics-v9-5200-0-0-3"
            ]
        );
        assert_eq!(e[1]["tracking_number"], "1ZTT");
        assert_eq!(e[3]["format"], "video");
        assert_eq!(e[3]["has_product_link"], true);
        assert_eq!(e[4]["orders"], 3);
        // The same state again: the same ids.
        let again = mapped("COMPLETED", std::slice::from_ref(&content));
        assert_eq!(ids(&again), ids(&e));
        // Content seen while the status still says shipped: delivered first.
        let early = mapped("SHIPPED", std::slice::from_ref(&content));
        assert_eq!(ids(&early), ids(&e));
        let pending = mapped("PENDING", std::slice::from_ref(&content));
        assert_eq!(
            ids(&pending),
            ["tts-7301-requested"],
            "no content before delivery"
        );
        let w = mapped("WITHDRAW_CANCELLED", &[]);
        assert_eq!(ids(&w), ["tts-7301-requested", "tts-7301-withdrawn"]);
        // Statuses our own decisions and deadlines make add nothing.
        for status in [
            "AWAITING_SHIPMENT",
            "OVERDUE_CANCELLED",
            "UNFULFILL_CANCELLED",
            "REJECT_CANCELLED",
        ] {
            let e = mapped(status, &[]);
            assert_eq!(ids(&e), ["tts-7301-requested"], "{status}");
        }
    }

    #[test]
    fn an_application_outside_the_catalogue_is_unmappable() {
        let mut a = app("PENDING");
        a.product.id = "nope".into();
        assert_eq!(
            events(&a, &[], &catalog(), &Defaults::default(), at()),
            Err(Unmappable::NotInCatalog {
                product: "nope".into()
            })
        );
    }

    #[test]
    fn a_catalogue_row_that_is_not_a_product_is_named_by_its_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("catalog.csv");
        std::fs::write(
            &path,
            "product_id,category,price,unit_cost\n1729,home,129,41\n1730,home,lots,2\n",
        )
        .expect("write");
        let e = Catalog::load(&path).expect_err("bad row");
        assert!(e.contains("catalog.csv:3:"), "{e}");
        std::fs::write(
            &path,
            "product_id,category,price,unit_cost\n1729,home,129,41\n",
        )
        .expect("write");
        assert_eq!(Catalog::load(&path).expect("loads").len(), 1);
    }
}
