//! Screening requests for snapshot tests, the agreement test and the benchmark: every category,
//! with values on both sides of every threshold of the shipped policy, and a seeded random mix.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use sampleflow::machinery::model::{
    Creator, Ledger, Product, ProductHistory, Quarter, SampleRequest,
};
use sampleflow::machinery::rules::ScreenInput;

pub const CATEGORIES: &[&str] = &[
    "toys",
    "beauty",
    "electronics",
    "apparel",
    "home",
    "adult",
    "medical_devices",
];

/// The request time: 2026-03-10 10:00 in Los Angeles, in 2026-Q1.
pub fn now() -> DateTime<Utc> {
    "2026-03-10T18:00:00Z".parse().unwrap()
}

/// The pieces of one request, before they are frozen into a `ScreenInput`.
#[derive(Clone)]
pub struct Draft {
    pub request: SampleRequest,
    pub creator: Creator,
    pub product: Product,
    pub ledger: Ledger,
}

impl Draft {
    pub fn new(category: &str) -> Draft {
        Draft {
            request: SampleRequest {
                sample: "s1".into(),
                at: now(),
                quantity: 1,
                auto_approvals_today: 0,
                tier: "".into(),
            },
            creator: Creator {
                id: "c1".into(),
                followers: 20_000,
                engagement_rate: 0.05,
                posts_30d: 6,
                gmv_30d: Some(1200.0),
                avg_video_views: Some(8000.0),
                fulfillment_rate_90d: Some(0.9),
                top_categories: vec!["beauty".into(), "home".into()],
            },
            product: Product {
                id: "p1".into(),
                category: category.into(),
                price: 25.0,
                unit_cost: 8.0,
                flags: vec![],
            },
            ledger: Ledger::default(),
        }
    }

    pub fn input(self) -> ScreenInput {
        ScreenInput {
            request: self.request,
            creator: Arc::new(self.creator),
            product: Arc::new(self.product),
            ledger: Arc::new(self.ledger),
        }
    }
}

fn days_ago(n: i64) -> DateTime<Utc> {
    now() - Duration::days(n)
}

fn quarter(text: &str) -> Quarter {
    text.parse().unwrap()
}

fn product(open: i64, completed: i64, last_cancelled: Option<DateTime<Utc>>) -> ProductHistory {
    ProductHistory {
        open,
        completed,
        last_cancelled,
    }
}

type Edit = fn(&mut Draft);

/// Named changes to the base request, each on one side of one threshold.
pub const VARIATIONS: &[(&str, Edit)] = &[
    ("base", |_| {}),
    ("followers 2999", |d| d.creator.followers = 2999),
    ("followers 3000", |d| d.creator.followers = 3000),
    ("followers 4999", |d| d.creator.followers = 4999),
    ("followers 5000", |d| d.creator.followers = 5000),
    ("fulfillment unknown", |d| {
        d.creator.fulfillment_rate_90d = None
    }),
    ("fulfillment 0.49", |d| {
        d.creator.fulfillment_rate_90d = Some(0.49)
    }),
    ("fulfillment 0.5", |d| {
        d.creator.fulfillment_rate_90d = Some(0.5)
    }),
    ("engagement 0.0199", |d| d.creator.engagement_rate = 0.0199),
    ("engagement 0.02", |d| d.creator.engagement_rate = 0.02),
    ("engagement 0.0299", |d| d.creator.engagement_rate = 0.0299),
    ("engagement 0.03", |d| d.creator.engagement_rate = 0.03),
    ("posts 1", |d| d.creator.posts_30d = 1),
    ("posts 2", |d| d.creator.posts_30d = 2),
    ("price 50", |d| d.product.price = 50.0),
    ("price 50.01", |d| d.product.price = 50.01),
    ("quantity 2", |d| d.request.quantity = 2),
    ("quantity 3", |d| d.request.quantity = 3),
    ("top category matches", |d| {
        d.creator.top_categories = vec![d.product.category.clone()]
    }),
    ("no top categories", |d| d.creator.top_categories.clear()),
    ("auto-approvals 99", |d| d.request.auto_approvals_today = 99),
    ("auto-approvals 100", |d| {
        d.request.auto_approvals_today = 100
    }),
    ("blocked", |d| {
        d.ledger.blocked_until = Some(now() + Duration::days(30))
    }),
    ("block ended", |d| {
        d.ledger.blocked_until = Some(days_ago(1))
    }),
    ("breach 179 days ago", |d| {
        d.ledger.breaches = vec![days_ago(179)]
    }),
    ("breach 180 days ago", |d| {
        d.ledger.breaches = vec![days_ago(180)]
    }),
    ("product open", |d| {
        d.ledger.products.insert("p1".into(), product(1, 0, None));
    }),
    ("product completed", |d| {
        d.ledger.products.insert("p1".into(), product(0, 1, None));
    }),
    ("product cancelled 29 days ago", |d| {
        d.ledger
            .products
            .insert("p1".into(), product(0, 0, Some(days_ago(29))));
    }),
    ("product cancelled 30 days ago", |d| {
        d.ledger
            .products
            .insert("p1".into(), product(0, 0, Some(days_ago(30))));
    }),
    ("approved this quarter", |d| {
        let category = d.product.category.to_string();
        d.ledger
            .approvals
            .insert(quarter("2026-Q1"), [(category, 1)].into());
    }),
    ("approved last quarter", |d| {
        let category = d.product.category.to_string();
        d.ledger
            .approvals
            .insert(quarter("2025-Q4"), [(category, 1)].into());
    }),
    ("gold, price 80, inactive", |d| {
        d.ledger.completed = 3;
        d.ledger.gmv = 2500.0;
        d.product.price = 80.0;
        d.creator.posts_30d = 0;
    }),
    ("gold with a breach 200 days ago", |d| {
        d.ledger.completed = 3;
        d.ledger.gmv = 2000.0;
        d.ledger.breaches = vec![days_ago(200)];
        d.product.price = 80.0;
    }),
    ("silver, price 80", |d| {
        d.ledger.completed = 2;
        d.ledger.gmv = 300.0;
        d.product.price = 80.0;
    }),
    ("bronze", |d| {
        d.ledger.completed = 1;
        d.ledger.gmv = 299.0;
    }),
];

/// Every category under every variation, labelled.
pub fn corpus() -> Vec<(String, ScreenInput)> {
    let mut out = Vec::new();
    for category in CATEGORIES {
        for (label, edit) in VARIATIONS {
            let mut draft = Draft::new(category);
            edit(&mut draft);
            out.push((format!("{category:<15} {label}"), draft.input()));
        }
    }
    out
}

/// `n` requests mixing several variations each, from a seeded generator.
pub fn random(n: usize, seed: u64) -> Vec<ScreenInput> {
    let mut state = seed | 1;
    let mut next = move |bound: usize| {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % bound
    };
    (0..n)
        .map(|i| {
            let category = CATEGORIES[next(CATEGORIES.len())];
            let mut draft = Draft::new(category);
            draft.request.sample = format!("s{i}").into();
            draft.creator.id = format!("c{}", next(5000)).into();
            draft.product.id = ["p1", "p2", "p3"][next(3)].into();
            // Most requests are ordinary; a few variations on top of each.
            for _ in 0..next(3) {
                let (_, edit) = VARIATIONS[next(VARIATIONS.len())];
                edit(&mut draft);
            }
            draft.input()
        })
        .collect()
}
