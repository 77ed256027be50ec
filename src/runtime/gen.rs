//! Large, valid, seeded event streams for benchmarks and examples (`sampleflow gen`).
//!
//! Each sample follows one path of the default workflow, picked by weight, with creator and
//! product figures that the default policy screens the way the path needs (a reject path gets a
//! small creator, a review path a dear product...). Timelines respect the default deadlines
//! except where a path is about missing one. Samples start at a steady pace (`per_day`), and
//! their events are merged into one stream in time order with a bounded heap.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::Write;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{json, Value};

/// The product categories generated (none restricted).
pub const CATEGORIES: &[&str] = &[
    "beauty",
    "electronics",
    "home",
    "apparel",
    "kitchen",
    "toys",
    "sports",
];

/// One way through the workflow, with its weight in a thousand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Path {
    CompletedVideo,
    CompletedLive,
    ReviewedApprove,
    ReviewedReject,
    ReviewExpired,
    ScreenReject,
    WithdrawnPending,
    WithdrawnApproved,
    NotShipped,
    DeliveryFailed,
    Lost,
    NoContent,
    Extension,
    NotQualifyingFirst,
    RemovedReposted,
    RemovedPastDue,
    Appeal,
    Unavailable,
    RepeatBreach,
}

const PATHS: &[(Path, u32)] = &[
    (Path::CompletedVideo, 400),
    (Path::CompletedLive, 50),
    (Path::ReviewedApprove, 80),
    (Path::ReviewedReject, 30),
    (Path::ReviewExpired, 20),
    (Path::ScreenReject, 90),
    (Path::WithdrawnPending, 10),
    (Path::WithdrawnApproved, 20),
    (Path::NotShipped, 20),
    (Path::DeliveryFailed, 20),
    (Path::Lost, 10),
    (Path::NoContent, 60),
    (Path::Extension, 40),
    (Path::NotQualifyingFirst, 40),
    (Path::RemovedReposted, 30),
    (Path::RemovedPastDue, 10),
    (Path::Appeal, 20),
    (Path::Unavailable, 20),
    (Path::RepeatBreach, 30),
];

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub samples: u64,
    pub seed: u64,
    pub start: DateTime<Utc>,
    /// Requests per day: the default keeps automatic approvals under the daily quota.
    pub per_day: f64,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            samples: 1000,
            seed: 1,
            start: DateTime::parse_from_rfc3339("2026-01-05T16:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            per_day: 60.0,
        }
    }
}

/// Events written, by type.
#[derive(Debug, Clone, Default)]
pub struct Mix {
    pub events: u64,
    pub by_type: BTreeMap<String, u64>,
}

impl Mix {
    /// `type share%` for each type, most frequent first.
    pub fn describe(&self) -> String {
        let mut types: Vec<_> = self.by_type.iter().collect();
        types.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        types
            .iter()
            .map(|(t, n)| format!("{t} {:.1}%", **n as f64 * 100.0 / self.events.max(1) as f64))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

struct Pending {
    at: DateTime<Utc>,
    seq: u64,
    event: Value,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// Writes the stream; returns its mix.
/// The name of the `k`th of `shops` generated shops: `shop-07` (zero-padded to their count).
pub fn shop_name(k: u64, shops: u64) -> String {
    let width = shops.saturating_sub(1).max(1).to_string().len();
    format!("shop-{k:0width$}")
}

/// `shops` streams of the same generator (seeds `seed`, `seed + 1`, ...), each the events of
/// one shop (`"shop"` added to each event), taken line by line in turn: one input that mixes
/// shops, each shop's events in its own order. The same sample and creator ids recur in every
/// shop, as they may.
pub fn generate_shops(
    options: &GenOptions,
    shops: u64,
    out: &mut dyn Write,
) -> std::io::Result<Mix> {
    let mut mix = Mix::default();
    let mut streams = Vec::new();
    for k in 0..shops {
        let mut buf = Vec::new();
        let one = generate(
            &GenOptions {
                seed: options.seed.wrapping_add(k),
                ..options.clone()
            },
            &mut buf,
        )?;
        mix.events += one.events;
        for (t, n) in one.by_type {
            *mix.by_type.entry(t).or_insert(0) += n;
        }
        let prefix = format!("{{\"shop\":\"{}\",", shop_name(k, shops));
        streams.push((buf, 0usize, prefix));
    }
    let mut open = streams.len();
    while open > 0 {
        open = 0;
        for (buf, at, prefix) in &mut streams {
            let rest = &buf[*at..];
            if rest.is_empty() {
                continue;
            }
            open += 1;
            let end = rest
                .iter()
                .position(|b| *b == b'\n')
                .map_or(rest.len(), |i| i + 1);
            let line = &rest[..end];
            // Every line the generator writes is an object: `{"id":...`.
            out.write_all(prefix.as_bytes())?;
            out.write_all(&line[1..])?;
            *at += end;
        }
    }
    Ok(mix)
}

pub fn generate(options: &GenOptions, out: &mut dyn Write) -> std::io::Result<Mix> {
    let mut g = Gen {
        rng: fastrand::Rng::with_seed(options.seed),
        heap: BinaryHeap::new(),
        seq: 0,
        mix: Mix::default(),
    };
    let step = 86_400.0 / options.per_day.max(0.001);
    let total: u32 = PATHS.iter().map(|(_, w)| w).sum();
    let mut last_tick = options.start;
    for i in 0..options.samples {
        let start =
            options.start + secs((i as f64 * step) as i64 + g.rng.i64(0..(step as i64).max(1)));
        g.flush_before(start, out)?;
        // The first samples walk every path once, so that a small stream covers them all.
        let path = if (i as usize) < PATHS.len() {
            PATHS[i as usize].0
        } else {
            let mut pick = g.rng.u32(0..total);
            PATHS
                .iter()
                .find(|(_, w)| {
                    let hit = pick < *w;
                    pick = pick.saturating_sub(*w);
                    hit
                })
                .map_or(Path::CompletedVideo, |(p, _)| *p)
        };
        g.sample(i, path, start);
        if start - last_tick >= Duration::days(1) {
            last_tick = start;
            g.push(
                start,
                json!({"id": format!("t{i}"), "type": "tick", "at": time(start)}),
            );
        }
        if i % 97 == 50 {
            let at = start + secs(60);
            g.push(
                at,
                json!({"id": format!("a{i}"), "type": "creator_adjusted", "at": time(at),
                       "creator": {"id": format!("c{}", i / 2)}, "credit": 5, "by": "ops",
                       "note": "good collaboration"}),
            );
        }
    }
    g.flush_before(DateTime::<Utc>::MAX_UTC, out)?;
    Ok(g.mix)
}

fn secs(s: i64) -> Duration {
    Duration::seconds(s)
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

struct Gen {
    rng: fastrand::Rng,
    heap: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    mix: Mix,
}

/// One sample's timeline as it is built.
struct Timeline<'a> {
    g: &'a mut Gen,
    sample: String,
    at: DateTime<Utc>,
    n: u32,
}

impl Timeline<'_> {
    /// Moves on by `min..max` hours and adds an event of the sample.
    fn after(&mut self, min_h: i64, max_h: i64, kind: &str, fields: Value) -> &mut Self {
        let minutes = self.g.rng.i64(min_h * 60..=max_h * 60);
        self.at += secs(minutes * 60);
        self.n += 1;
        let mut event = json!({
            "id": format!("{}-{}", self.sample, self.n),
            "type": kind,
            "at": time(self.at),
            "sample": self.sample,
        });
        if let (Value::Object(e), Value::Object(f)) = (&mut event, fields) {
            e.extend(f);
        }
        self.g.push(self.at, event);
        self
    }
}

impl Gen {
    fn push(&mut self, at: DateTime<Utc>, event: Value) {
        self.seq += 1;
        self.heap.push(Reverse(Pending {
            at,
            seq: self.seq,
            event,
        }));
    }

    fn flush_before(&mut self, until: DateTime<Utc>, out: &mut dyn Write) -> std::io::Result<()> {
        while self.heap.peek().is_some_and(|Reverse(p)| p.at < until) {
            let Some(Reverse(p)) = self.heap.pop() else {
                break;
            };
            let kind = p.event["type"].as_str().unwrap_or("").to_string();
            *self.mix.by_type.entry(kind).or_insert(0) += 1;
            self.mix.events += 1;
            serde_json::to_writer(&mut *out, &p.event)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn creator(&mut self, id: &str, category: &str, path: Path) -> Value {
        let r = &mut self.rng;
        let followers = match path {
            Path::ScreenReject => r.i64(200..2_900),
            _ => r.i64(6_000..250_000),
        };
        // Electronics reviews an unknown rate, so electronics creators have a known one.
        let fulfillment = if category != "electronics" && r.u8(0..10) < 3 {
            Value::Null
        } else {
            json!((r.f64() * 0.45 + 0.55).min(1.0))
        };
        let mut top = vec![category.to_string()];
        if r.bool() {
            top.push(CATEGORIES[r.usize(0..CATEGORIES.len())].to_string());
        }
        json!({
            "id": id,
            "followers": followers,
            "engagement_rate": (r.f64() * 0.08 + 0.035),
            "posts_30d": r.i64(3..40),
            "gmv_30d": (r.f64() * 5000.0).round(),
            "avg_video_views": r.i64(500..80_000),
            "fulfillment_rate_90d": fulfillment,
            "top_categories": top,
        })
    }

    fn request(&mut self, i: u64, creator: &str, category: &str, path: Path) -> Value {
        let dear = matches!(
            path,
            Path::ReviewedApprove
                | Path::ReviewedReject
                | Path::ReviewExpired
                | Path::WithdrawnPending
        );
        let price = if dear {
            self.rng.i64(60..150) as f64 + 0.99
        } else {
            self.rng.i64(8..45) as f64 + 0.99
        };
        let product = if path == Path::Unavailable {
            format!("p-{category}-gone-{i}")
        } else {
            format!("p-{category}-{}", self.rng.u32(0..400))
        };
        json!({
            "creator": self.creator(creator, category, path),
            "product": {"id": product, "category": category, "price": price,
                        "unit_cost": (price * 0.3 * 100.0).round() / 100.0},
        })
    }

    fn sample(&mut self, i: u64, path: Path, start: DateTime<Utc>) {
        let category = CATEGORIES[self.rng.usize(0..CATEGORIES.len())];
        let creator = format!("c{i}");
        let sample = format!("s{i}");
        let request = self.request(i, &creator, category, path);
        if path == Path::RepeatBreach {
            // Two samples of one creator in two categories, both breached: the second breach
            // blocks the creator.
            let other = CATEGORIES[(CATEGORIES.iter().position(|c| *c == category).unwrap_or(0)
                + 1)
                % CATEGORIES.len()];
            let mut request = request;
            request["creator"]["fulfillment_rate_90d"] = json!(0.8);
            request["creator"]["top_categories"] = json!([category, other]);
            let mut second = self.request(i, &creator, other, path);
            second["creator"] = request["creator"].clone();
            for (k, req) in [(0, request), (1, second)] {
                let mut t = Timeline {
                    g: self,
                    sample: format!("{sample}{}", ["a", "b"][k]),
                    at: start + secs(k as i64 * 3600),
                    n: 0,
                };
                t.after(0, 0, "sample_requested", req);
                Self::ship_and_deliver(&mut t);
            }
            return;
        }
        let mut t = Timeline {
            g: self,
            sample,
            at: start,
            n: 0,
        };
        t.after(0, 0, "sample_requested", request);
        match path {
            Path::ScreenReject | Path::ReviewExpired | Path::NotShipped => {}
            Path::ReviewedReject => {
                t.after(
                    4,
                    100,
                    "sample_reviewed",
                    json!({"decision": "reject", "by": "ops"}),
                );
            }
            Path::WithdrawnPending | Path::WithdrawnApproved => {
                t.after(2, 100, "sample_withdrawn", json!({}));
            }
            Path::Unavailable => {
                let product = t.g.heap_last_product();
                let at = t.at + secs(t.g.rng.i64(3_600..100_000));
                let id = format!("{}-gone", t.sample);
                t.g.push(
                    at,
                    json!({"id": id, "type": "product_unavailable", "at": time(at),
                           "product": {"id": product}, "reason": "out_of_stock"}),
                );
            }
            Path::DeliveryFailed => {
                t.after(
                    4,
                    100,
                    "sample_shipped",
                    json!({"tracking_number": "1Z999", "carrier": "UPS", "shipping_cost": 5.5}),
                );
                t.after(
                    24,
                    120,
                    "tracking_updated",
                    json!({"status": "in_transit", "location": "Memphis, TN"}),
                );
                let reason =
                    ["invalid_address", "customs_hold", "lost", "returned"][t.g.rng.usize(0..4)];
                t.after(24, 200, "delivery_failed", json!({"reason": reason}));
            }
            Path::Lost => {
                t.after(
                    4,
                    100,
                    "sample_shipped",
                    json!({"tracking_number": "LX123", "carrier": "USPS", "shipping_cost": 4.0}),
                );
                t.after(24, 120, "tracking_updated", json!({"status": "in_transit"}));
            }
            _ => {
                if path == Path::ReviewedApprove {
                    t.after(
                        4,
                        100,
                        "sample_reviewed",
                        json!({"decision": "approve", "by": "ops"}),
                    );
                }
                Self::ship_and_deliver(&mut t);
                Self::content(&mut t, path);
            }
        }
    }

    /// The product id of the request just pushed (the newest event on the heap).
    fn heap_last_product(&self) -> String {
        self.heap
            .iter()
            .find(|Reverse(p)| p.seq == self.seq)
            .and_then(|Reverse(p)| p.event["product"]["id"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    fn ship_and_deliver(t: &mut Timeline) {
        let cost = (t.g.rng.f64() * 8.0 * 100.0).round() / 100.0 + 3.0;
        let tracking = format!("1Z{}", t.g.rng.u32(..));
        t.after(
            4,
            120,
            "sample_shipped",
            json!({"tracking_number": tracking, "carrier": "UPS", "shipping_cost": cost}),
        );
        for _ in 0..t.g.rng.usize(1..=3) {
            t.after(12, 60, "tracking_updated", json!({"status": "in_transit"}));
        }
        t.after(12, 72, "sample_delivered", json!({}));
    }

    fn post(t: &mut Timeline, min_h: i64, max_h: i64, id: &str, link: bool) {
        let disclosure = t.g.rng.u8(0..10) < 8;
        t.after(min_h, max_h, "content_posted", json!({"content_id": id, "format": "video", "has_product_link": link, "has_ad_disclosure": disclosure}));
    }

    fn metrics(t: &mut Timeline, id: &str, n: usize) {
        let star = t.g.rng.u8(0..20) == 0;
        let mut gmv = 0.0;
        for _ in 0..n {
            gmv += (t.g.rng.f64() * if star { 400.0 } else { 60.0 } * 100.0).round() / 100.0;
            let views = t.g.rng.i64(100..50_000);
            t.after(6, 40, "content_metrics", json!({"content_id": id, "views": views, "likes": views / 20, "comments": views / 200, "orders": (gmv / 20.0) as i64, "gmv": gmv}));
        }
    }

    fn content(t: &mut Timeline, path: Path) {
        let video = format!("v-{}", t.sample);
        let n = t.g.rng.usize(1..=4);
        match path {
            Path::NoContent => {}
            Path::Appeal => {
                t.after(24, 200, "appeal_filed", json!({"reason": "defective"}));
            }
            Path::CompletedLive => {
                let (id, minutes) = (format!("l-{}", t.sample), t.g.rng.i64(10..90));
                t.after(24, 250, "content_posted", json!({"content_id": id, "format": "live", "has_product_link": true, "has_ad_disclosure": true, "live_minutes": minutes}));
            }
            Path::Extension => {
                t.after(200, 300, "extension_requested", json!({}));
                Self::post(t, 24, 100, &video, true);
                Self::metrics(t, &video, n);
            }
            Path::NotQualifyingFirst => {
                Self::post(t, 24, 150, &format!("{video}-nolink"), false);
                Self::post(t, 12, 100, &video, true);
                Self::metrics(t, &video, n);
            }
            Path::RemovedReposted => {
                Self::post(t, 24, 100, &video, true);
                t.after(4, 48, "content_removed", json!({"content_id": video}));
                let again = format!("{video}-2");
                Self::post(t, 4, 48, &again, true);
                Self::metrics(t, &again, n);
            }
            Path::RemovedPastDue => {
                Self::post(t, 280, 300, &video, true);
                t.after(40, 60, "content_removed", json!({"content_id": video}));
            }
            _ => {
                Self::post(t, 24, 250, &video, true);
                Self::metrics(t, &video, n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_stream_in_time_order() {
        let options = GenOptions {
            samples: 300,
            ..GenOptions::default()
        };
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mix = generate(&options, &mut a).expect("writes");
        generate(&options, &mut b).expect("writes");
        assert_eq!(a, b);
        let text = String::from_utf8(a).expect("utf-8");
        let times: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).expect("json")["at"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "time order");
        let requests = mix.by_type["sample_requested"] as f64 / mix.events as f64;
        assert!((0.12..0.22).contains(&requests), "requests are {requests}");
    }
}
