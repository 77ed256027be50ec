//! What must ship: approved samples waiting for their tracking number, oldest approval first,
//! with what the warehouse needs (the console's "To ship" page and its CSV, `GET /v1/ship`).

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::graph::WorkflowGraph;
use crate::model::vocab::EventKind;
use crate::model::{utc, utc_opt};
use crate::store::{Store, StoreError};

/// One sample to ship.
#[derive(Debug, Clone, Serialize)]
pub struct ToShip {
    pub sample: String,
    pub creator: String,
    pub username: Option<String>,
    pub product: String,
    /// The product's title, where the connector knows it.
    pub product_title: Option<String>,
    pub category: String,
    pub quantity: i64,
    /// When it was approved (by screening or a reviewer).
    #[serde(serialize_with = "utc")]
    pub approved_at: DateTime<Utc>,
    /// When the state's own deadline falls (ship by then).
    #[serde(serialize_with = "utc_opt")]
    pub ship_by: Option<DateTime<Utc>>,
    pub approved_by: Option<String>,
}

/// The samples in a state that takes `sample_shipped`, oldest approval first.
pub fn to_ship(graphs: &[WorkflowGraph], store: &mut dyn Store) -> Result<Vec<ToShip>, StoreError> {
    let titles = store.product_titles()?;
    let mut out = Vec::new();
    for inst in store.samples()? {
        let ships = graphs
            .iter()
            .find(|g| g.workflow().name.value == inst.workflow)
            .is_some_and(|g| {
                g.move_for(inst.state(), EventKind::SampleShipped.name())
                    .is_some()
            });
        if !ships {
            continue;
        }
        // The approval: the last record that entered the state the sample is in.
        let mut approved_at = inst.last_at;
        for line in store.sample_log(inst.id())? {
            let Ok(record) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if record["to"].as_str() == Some(inst.state()) {
                if let Some(at) = record["at"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                {
                    approved_at = at.with_timezone(&Utc);
                }
            }
        }
        let ship_by = inst
            .deadlines
            .iter()
            .filter(|d| d.of_state)
            .map(|d| d.due)
            .min();
        let username = store.creator_name(&inst.sample.creator)?;
        out.push(ToShip {
            sample: inst.sample.id.to_string(),
            creator: inst.sample.creator.to_string(),
            username,
            product: inst.sample.product.to_string(),
            product_title: titles.get(inst.sample.product.as_str()).cloned(),
            category: inst.sample.category.to_string(),
            quantity: inst.sample.quantity,
            approved_at,
            ship_by,
            approved_by: inst.reviewed_by.clone(),
        });
    }
    out.sort_by(|a, b| {
        a.approved_at
            .cmp(&b.approved_at)
            .then_with(|| a.sample.cmp(&b.sample))
    });
    Ok(out)
}

/// The list as CSV, with a header row.
pub fn csv_of(items: &[ToShip]) -> Result<String, String> {
    let values = items
        .iter()
        .map(|item| serde_json::to_value(item).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    super::csv_of_json(&CSV_HEADER, &values)
}

/// The CSV's columns.
pub const CSV_HEADER: [&str; 10] = [
    "sample",
    "creator",
    "username",
    "product",
    "product_title",
    "category",
    "quantity",
    "approved_at",
    "ship_by",
    "approved_by",
];

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_csv_header_is_the_same_with_and_without_rows() {
        let at = Utc.with_ymd_and_hms(2026, 3, 27, 9, 0, 0).unwrap();
        let item = ToShip {
            sample: "s1".into(),
            creator: "c1".into(),
            username: Some("ana".into()),
            product: "p1".into(),
            product_title: Some("Mug".into()),
            category: "beauty".into(),
            quantity: 1,
            approved_at: at,
            ship_by: None,
            approved_by: None,
        };
        let one = csv_of(&[item]).unwrap();
        let none = csv_of(&[]).unwrap();
        assert_eq!(one.lines().next(), none.lines().next());
        assert_eq!(
            one.lines().nth(1),
            Some("s1,c1,ana,p1,Mug,beauty,1,2026-03-27T09:00:00Z,,")
        );
    }
}
