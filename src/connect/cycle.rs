//! The connector's cycle: make sure the access token is fresh, poll every sample application,
//! map each to the events its changes stand for (ids derived from the application and the
//! change, so the same state applies nothing); once they are committed (by whoever is the
//! store's writer), read the orders since the last cycle ([`sales`]) and have their events
//! committed too; then compare the platform's end statuses with ours and deliver the outbox:
//! each decision on a platform sample becomes one review call, each reminder a message, each
//! invitation a target collaboration ([`super::deliver`]).
//!
//! Exactly once: a call is marked `sending` (committed) before it goes and `sent` once the
//! platform says `code: 0`. A review call found `sending` after a crash is in doubt; the poll
//! that starts every cycle shows whether the platform took it (the application is no longer
//! `PENDING`): then it is marked sent without a second call, else it is sent. Messages and
//! collaborations are settled by a read of their own.

use std::collections::HashMap;

use chrono::SecondsFormat;

use super::deliver::{self, now_text, Crash, Outcome};
use super::map::{self, Catalog};
use super::platform::{Application, CallError, Client};
use super::Config;
use crate::session::live::wall_now;
use crate::store::{OutboxCall, Store};

/// What one cycle did.
#[derive(Debug, Default)]
pub struct Cycle {
    seen: usize,
    applied: usize,
    unmappable: usize,
    disagree: Vec<String>,
    sent: usize,
    reconciled: usize,
    failed: usize,
    queued: usize,
    held: usize,
    /// The outbox after delivery: kind, status, calls.
    pub outbox: Vec<(String, String, u64)>,
    /// When the access token expires, when known.
    pub token_expiry: Option<i64>,
}

/// The outbox counted by kind and status (every kind and status listed, 0 where none is).
pub fn outbox_counts(calls: &[OutboxCall]) -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    for kind in ["review", "message", "collaboration"] {
        for status in ["queued", "sending", "sent", "held", "failed"] {
            let n = calls
                .iter()
                .filter(|c| c.kind() == kind && c.state == status)
                .count() as u64;
            out.push((kind.to_string(), status.to_string(), n));
        }
    }
    out
}

/// The key of the access token's expiry (Unix seconds) in the store: the time only, never
/// the token.
pub const TOKEN_EXPIRY: &str = "token_expires_at";

/// Keeps the expiry a refresh gave, if one happened.
fn keep_expiry(client: &Client, side: &mut Box<dyn Store>) -> Result<(), crate::store::StoreError> {
    match client.take_refreshed() {
        Some(t) => side.set_connector_value(TOKEN_EXPIRY, Some(&t.to_string())),
        None => Ok(()),
    }
}

/// Platform statuses our own decisions and deadlines make; the platform's word on them is
/// compared with ours, never applied.
const OURS: [(&str, &[&str]); 5] = [
    ("AWAITING_SHIPMENT", &["awaiting_shipment"]),
    ("REJECT_CANCELLED", &["reject_cancelled"]),
    ("OVERDUE_CANCELLED", &["overdue_cancelled"]),
    ("UNFULFILL_CANCELLED", &["unfulfill_cancelled"]),
    ("SELLER_NOT_SHIP_CANCELLED", &["seller_not_ship_cancelled"]),
];

/// What a poll found: every application, and the lines of the events not applied yet.
pub struct Poll {
    pub apps: Vec<Application>,
    pub lines: Vec<String>,
    pub unmappable: usize,
    /// The poll's time (the wall clock's).
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Searches every application and maps each to its events, keeping those whose ids the store
/// does not hold yet; unmappable applications are kept for `outbox`.
pub fn poll(
    client: &Client,
    config: &Config,
    catalog: &Catalog,
    side: &mut Box<dyn Store>,
) -> Result<Poll, String> {
    let expiry = side
        .connector_value(TOKEN_EXPIRY)
        .map_err(|e| e.to_string())?
        .and_then(|t| t.parse::<i64>().ok());
    let fresh = client.ensure_fresh(expiry);
    keep_expiry(client, side).map_err(|e| e.to_string())?;
    fresh.map_err(|e| e.to_string())?;
    let apps = client.search_all();
    keep_expiry(client, side).map_err(|e| e.to_string())?;
    let apps = apps.map_err(|e| format!("the search of sample applications failed: {e}"))?;
    let known = side
        .events_with_prefix(crate::connect::map::EVENT_PREFIX)
        .map_err(|e| e.to_string())?;
    let at = wall_now();
    let now = now_text();
    let mut lines = Vec::new();
    let mut unmappable = 0;
    for app in &apps {
        let contents = if ["SHIPPED", "CONTENT_PENDING", "COMPLETED"].contains(&app.status.as_str())
        {
            match client.fulfillments(&app.id) {
                Ok(f) => f,
                Err(e) => {
                    eprintln!(
                        "connect: the content of `{}` could not be read ({e}); it is read again at the next poll",
                        app.id
                    );
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let mapped = map::events(app, &contents, catalog, &config.defaults, at);
        let why = mapped.as_ref().err().map(ToString::to_string);
        unmappable += usize::from(why.is_some());
        side.set_unmappable(&app.id, &app.product.id, why.as_deref(), &now)
            .map_err(|e| e.to_string())?;
        // The creator's platform username, for the console (mapped applications only).
        if let (Ok(_), Some(name)) = (&mapped, app.creator.username.as_deref()) {
            side.set_creator_name(&app.creator.user_id, name)
                .map_err(|e| e.to_string())?;
        }
        // The product's title, for the console (mapped applications only).
        if let (Ok(_), Some(title)) = (
            &mapped,
            app.product.title.as_deref().filter(|t| !t.is_empty()),
        ) {
            side.set_product_title(&app.product.id, title)
                .map_err(|e| e.to_string())?;
        }
        for e in mapped.unwrap_or_default() {
            if e["id"].as_str().is_some_and(|id| !known.contains(id)) {
                lines.push(e.to_string());
            }
        }
    }
    // The poll's time moves the clock, so deadlines due by then fire (as `watch` does on the
    // wall clock): the platform's view is compared with ours as of now.
    let tick = map::event_id("tick", &at.to_rfc3339_opts(SecondsFormat::Secs, true));
    if !known.contains(&tick) {
        lines.push(
            serde_json::json!({"id": tick, "type": "tick", "at": at.to_rfc3339_opts(SecondsFormat::Secs, true)})
                .to_string(),
        );
    }
    Ok(Poll {
        apps,
        lines,
        unmappable,
        at,
    })
}

/// After the poll's events are committed (so content posted in this poll is known): the
/// orders since the last cycle, and the `content_metrics` events of sampled content whose
/// totals changed ([`super::sales`]). A failure is said and left for the next cycle: the rest
/// of the cycle (the outbox) goes on.
pub fn sales(
    client: &Client,
    config: &Config,
    side: &mut Box<dyn Store>,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<String>, String> {
    let known = side
        .events_with_prefix(crate::connect::map::EVENT_PREFIX)
        .map_err(|e| e.to_string())?;
    let sold = super::sales::poll(
        client,
        config,
        side,
        &known,
        chrono::Utc::now().timestamp(),
        at,
    );
    keep_expiry(client, side).map_err(|e| e.to_string())?;
    sold
}

impl Cycle {
    /// Counts events applied after the poll's (the sales').
    pub fn add_applied(&mut self, n: usize) {
        self.applied += n;
    }
}

impl Poll {
    /// The cycle's counts so far.
    pub fn counts(&self) -> Cycle {
        Cycle {
            seen: self.apps.len(),
            applied: self.lines.len(),
            unmappable: self.unmappable,
            ..Cycle::default()
        }
    }
}

/// After the poll's events are committed: the platform's end statuses compared with ours (each
/// difference said on stderr), then the outbox delivered.
pub fn settle(
    client: &Client,
    config: &Config,
    side: &mut Box<dyn Store>,
    apps: &[Application],
    c: &mut Cycle,
) -> Result<(), crate::store::StoreError> {
    c.disagree = disagreements(apps, side);
    for d in c.disagree.iter().take(10) {
        eprintln!("connect: {d}");
    }
    let delivered = deliver(client, config, side, apps, c);
    keep_expiry(client, side)?;
    delivered?;
    c.outbox = outbox_counts(&side.outbox()?);
    c.token_expiry = client.token_expiry();
    Ok(())
}

/// The cycle's one line for the log.
pub fn summary(c: &Cycle) -> String {
    format!(
        "connect: {} applications seen, {} events applied, {} unmappable, {} differ from the platform; outbox: {} sent, {} found sent, {} failed, {} queued, {} held",
        c.seen,
        c.applied,
        c.unmappable,
        c.disagree.len(),
        c.sent,
        c.reconciled,
        c.failed,
        c.queued,
        c.held
    )
}

/// Where the platform's end status and ours differ: ours stands, and is said.
fn disagreements(apps: &[Application], store: &mut Box<dyn Store>) -> Vec<String> {
    let mut out = Vec::new();
    for app in apps {
        let Some((_, states)) = OURS.iter().find(|(s, _)| *s == app.status) else {
            continue;
        };
        let Ok(Some(inst)) = store.sample(&app.id) else {
            continue;
        };
        let ours = inst.state();
        if !states.contains(&ours) {
            out.push(format!(
                "`{}`: the platform says {}, ours is `{ours}`; ours stands (our decisions and deadlines make that status)",
                app.id, app.status
            ));
        }
    }
    out
}

/// Sends every queued call (and every call in doubt the poll does not show as taken): review
/// calls as before, messages and collaborations by [`super::deliver::creator_call`]; a kind
/// held by a daily quota waits for its next day.
fn deliver(
    client: &Client,
    config: &Config,
    side: &mut Box<dyn Store>,
    apps: &[Application],
    c: &mut Cycle,
) -> Result<(), crate::store::StoreError> {
    let status: HashMap<&str, &str> = apps
        .iter()
        .map(|a| (a.id.as_str(), a.status.as_str()))
        .collect();
    let pending: Vec<OutboxCall> = side
        .outbox()?
        .into_iter()
        .filter(|call| ["queued", "sending", "held"].contains(&call.state.as_str()))
        .collect();
    let mut crash = Crash::from_env();
    let clock = wall_now();
    for call in pending {
        let now = now_text();
        if call.kind() != "review" {
            if let Some(until) = deliver::held_until(side.as_ref(), call.kind(), clock)? {
                // Its kind is held: the row says so (one in doubt keeps `sending`, to be
                // settled by a read once the hold lapses).
                if call.state == "queued" {
                    side.set_call(
                        &call,
                        "held",
                        call.code,
                        Some(&format!("held until {until}: the platform's daily quota")),
                        &now,
                    )?;
                }
                c.held += 1;
                continue;
            }
            match deliver::creator_call(client, config, side, apps, &call, &mut crash, clock, &now)?
            {
                Outcome::Sent => c.sent += 1,
                Outcome::Found => c.reconciled += 1,
                Outcome::Held => c.held += 1,
                Outcome::Failed => c.failed += 1,
                Outcome::Queued => c.queued += 1,
            }
            continue;
        }
        if call.state == "sending" {
            if let Some(s) = status
                .get(call.sample.as_str())
                .filter(|s| **s != "PENDING")
            {
                side.set_call(
                    &call,
                    "sent",
                    Some(0),
                    Some(&format!("taken before a restart: the platform shows {s}")),
                    &now,
                )?;
                c.reconciled += 1;
                continue;
            }
        }
        side.set_call(&call, "sending", call.code, call.message.as_deref(), &now)?;
        crash.going();
        let approve = call.decision == "approve";
        let result = client.review(
            &call.sample,
            approve,
            config.reject_reason(call.reason.as_deref()),
        );
        let now = now_text();
        if result.is_ok() {
            crash.answered();
        }
        match result {
            Ok(()) => {
                side.set_call(&call, "sent", Some(0), Some("Success"), &now)?;
                c.sent += 1;
            }
            Err(CallError::Platform { code, message }) if config.final_codes.contains(&code) => {
                side.set_call(&call, "failed", Some(code), Some(&message), &now)?;
                c.failed += 1;
            }
            Err(e) => {
                // Tried again at the next cycle; the last answer stays for `outbox` to show.
                side.set_call(&call, "queued", e.code(), Some(&e.to_string()), &now)?;
                c.queued += 1;
            }
        }
    }
    Ok(())
}
