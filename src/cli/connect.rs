//! `sampleflow connect tiktok [--config FILE] [--once]`: keeps the store in step with a shop.
//! Each cycle polls every sample application, applies the events their changes stand for (ids
//! derived from the application and the change, so the same state applies nothing), then
//! delivers the outbox: each decision on a platform sample, queued in the same transaction as
//! its record, becomes one review call.
//!
//! Exactly once: a call is marked `sending` (committed) before it goes and `sent` once the
//! platform says `code: 0`. A call found `sending` after a crash is in doubt; the poll that
//! starts every cycle shows whether the platform took it (the application is no longer
//! `PENDING`): then it is marked sent without a second call, else it is sent.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use chrono::SecondsFormat;

use super::{
    load_program, lock_store, open_for, wall_clock, Cli, CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE,
};
use crate::connect::map::{self, Catalog};
use crate::connect::platform::{Application, CallError, Client};
use crate::connect::Config;
use crate::session::{run_stream, Quiet};
use crate::store::{AnyStore, Holder, OutboxCall};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub platform: Platform,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Platform {
    /// TikTok Shop: sample applications in, review decisions out.
    Tiktok(TiktokArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct TiktokArgs {
    /// The connector's config (YAML; secrets in the files it names).
    #[arg(long, default_value = "connectors/tiktok.yaml", value_name = "FILE")]
    pub config: PathBuf,
    /// One full poll, apply what it found, deliver the outbox, exit.
    #[arg(long)]
    pub once: bool,
}

/// What one cycle did.
#[derive(Debug, Default)]
pub(super) struct Cycle {
    seen: usize,
    applied: usize,
    unmappable: usize,
    disagree: Vec<String>,
    sent: usize,
    reconciled: usize,
    failed: usize,
    queued: usize,
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

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let Platform::Tiktok(args) = &args.platform;
    let config = match crate::connect::config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let catalog = match Catalog::load(&config.catalog) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let _lock = match lock_store(cli, &Holder::me("connect"))? {
        Ok(lock) => lock,
        Err(code) => return Ok(code),
    };
    let client = Client::new(config.clone());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    loop {
        let cycle = match cycle(cli, &config, &catalog, &client)? {
            Ok(c) => c,
            Err(code) => return Ok(code),
        };
        eprintln!("{}", summary(&cycle));
        if args.once {
            return Ok(EXIT_OK);
        }
        // Wait for the next poll, or a stop signal.
        let until = std::time::Instant::now()
            + std::time::Duration::from_secs(config.poll_every.max(1) as u64);
        while std::time::Instant::now() < until {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                eprintln!("connect: stopped");
                return Ok(EXIT_OK);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

fn now_text() -> String {
    wall_clock()
        .map(|c| c.now())
        .unwrap_or_else(|_| chrono::Utc::now())
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// What a poll found: every application, and the lines of the events not applied yet.
pub(super) struct Poll {
    pub apps: Vec<Application>,
    pub lines: Vec<String>,
    pub unmappable: usize,
}

/// Searches every application and maps each to its events, keeping those whose ids the store
/// does not hold yet; unmappable applications are kept for `outbox`.
pub(super) fn poll(
    client: &Client,
    config: &Config,
    catalog: &Catalog,
    side: &mut AnyStore,
) -> Result<Poll, String> {
    let apps = client
        .search_all()
        .map_err(|e| format!("the search of sample applications failed: {e}"))?;
    let known = side
        .events_with_prefix(crate::connect::map::EVENT_PREFIX)
        .map_err(|e| e.to_string())?;
    let at = wall_clock()
        .map(|clock| clock.now())
        .unwrap_or_else(|_| chrono::Utc::now());
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
    })
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
pub(super) fn settle(
    client: &Client,
    config: &Config,
    side: &mut AnyStore,
    apps: &[Application],
    c: &mut Cycle,
) -> Result<(), crate::store::StoreError> {
    c.disagree = disagreements(apps, side);
    for d in c.disagree.iter().take(10) {
        eprintln!("connect: {d}");
    }
    deliver(client, config, side, apps, c)
}

/// The cycle's one line for the log.
pub(super) fn summary(c: &Cycle) -> String {
    format!(
        "connect: {} applications seen, {} events applied, {} unmappable, {} differ from the platform; outbox: {} sent, {} found sent, {} failed, {} queued",
        c.seen,
        c.applied,
        c.unmappable,
        c.disagree.len(),
        c.sent,
        c.reconciled,
        c.failed,
        c.queued
    )
}

/// One poll, apply and delivery; `Err` is an exit code, its reason said.
fn cycle(
    cli: &Cli,
    config: &Config,
    catalog: &Catalog,
    client: &Client,
) -> Result<Result<Cycle, u8>, CliError> {
    let store_err = |source| CliError::Store {
        path: cli.db.clone(),
        source,
    };
    let mut side = crate::store::open(&cli.db).map_err(store_err)?;
    let found = match poll(client, config, catalog, &mut side) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Err(EXIT_FAILED));
        }
    };
    let mut c = found.counts();
    if !found.lines.is_empty() {
        // The rules are loaded as they are now, for what this poll found.
        let program = match load_program(cli)? {
            Ok(p) => p,
            Err(code) => return Ok(Err(code)),
        };
        let store = open_for(cli, &program)?;
        let text = found.lines.join("\n") + "\n";
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        if let Err(e) = run_stream(
            program,
            store,
            "<connect tiktok>",
            Box::new(text.as_bytes()),
            &mut out,
            &mut Quiet,
        ) {
            eprintln!("error: {e}");
            return Ok(Err(EXIT_FAILED));
        }
        out.flush()?;
    }
    settle(client, config, &mut side, &found.apps, &mut c).map_err(store_err)?;
    Ok(Ok(c))
}

/// Where the platform's end status and ours differ: ours stands, and is said.
fn disagreements(apps: &[Application], store: &mut AnyStore) -> Vec<String> {
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

/// Sends every queued call (and every call in doubt the poll does not show as taken).
fn deliver(
    client: &Client,
    config: &Config,
    side: &mut AnyStore,
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
        .filter(|call| call.state == "queued" || call.state == "sending")
        .collect();
    // Test hooks: `SAMPLEFLOW_CRASH=call:N` dies as the Nth call goes (marked sending, not
    // sent); `answered:N` dies after the Nth call's `code: 0`, before it is marked sent.
    let (die_going, die_answered) = (
        crate::store::crash_point("call"),
        crate::store::crash_point("answered"),
    );
    let mut n = 0u64;
    for call in pending {
        let now = now_text();
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
        n += 1;
        if die_going == Some(n) {
            std::process::abort();
        }
        let approve = call.decision == "approve";
        let result = client.review(
            &call.sample,
            approve,
            config.reject_reason(call.reason.as_deref()),
        );
        let now = now_text();
        if result.is_ok() && die_answered == Some(n) {
            std::process::abort();
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
