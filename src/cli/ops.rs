//! Commands for people: `review`, `ship` and `adjust`. Each makes one event with a fresh id,
//! applies it through the path every event takes, prints the record(s) it produced on stdout and
//! exits 0 when it was applied, 5 when it was refused (the refusal on stderr).
//!
//! The store has one writer: when it is free the command takes it for the one event; when a
//! `watch --spool` holds it, the event is handed to that process through its spool and the
//! command waits for the reply; any other holder is named and the command exits 1.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use serde_json::Value;

use super::{
    held_message, load_program, load_workflows, open_existing_store, open_for, Cli, CliError,
    EXIT_FAILED, EXIT_OK, EXIT_REFUSED,
};
use crate::model::ops::{OpsAction, OpsEvent};
use crate::session::live::wall_clock;
use crate::session::run_one;
use crate::store::{Focus, Holder, LockError};
use crate::watch::spool;

/// Who made the event and when: shared by every ops command.
#[derive(Debug, Clone, clap::Args)]
pub struct Who {
    /// The name the record is attributed to (default: your login name).
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// When it happened (RFC 3339; default: now).
    #[arg(long, value_name = "TIME")]
    pub at: Option<DateTime<FixedOffset>>,
    #[command(flatten)]
    pub guard: super::catch_up::Guard,
}

#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("decision").required(true).args(["approve", "reject"])))]
pub struct ReviewArgs {
    /// The pending sample.
    pub sample: String,
    /// Approve it: it goes to `awaiting_shipment`.
    #[arg(long)]
    pub approve: bool,
    /// Reject it: it goes to `reject_cancelled`.
    #[arg(long)]
    pub reject: bool,
    /// Why, for the audit trail.
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub who: Who,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ShipArgs {
    /// The approved sample.
    pub sample: String,
    /// The parcel's tracking number.
    #[arg(long, value_name = "NUMBER")]
    pub tracking: String,
    #[arg(long, value_name = "NAME")]
    pub carrier: Option<String>,
    /// What shipping cost, in USD.
    #[arg(long, value_name = "USD", value_parser = money)]
    pub cost: Option<f64>,
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub who: Who,
}

#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("change").required(true).multiple(true).args(["credit", "block_days"])))]
pub struct AdjustArgs {
    /// The creator.
    pub creator: String,
    /// Moves the creator's credit by this much (negative lowers it).
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = credit)]
    pub credit: Option<f64>,
    /// Blocks the creator for this many days from the event (0 unblocks).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=36_500))]
    pub block_days: Option<u32>,
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub who: Who,
}

fn money(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=1e9).contains(&v) => Ok(v),
        _ => Err(format!("`{text}` is not an amount from 0 to 1e9")),
    }
}

fn credit(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v.abs() <= 1e6 => Ok(v),
        _ => Err(format!("`{text}` is not a credit change within ±1e6")),
    }
}

pub fn review(cli: &Cli, args: &ReviewArgs) -> Result<u8, CliError> {
    let decision = if args.approve { "approve" } else { "reject" };
    let action = OpsAction::Review {
        sample: args.sample.clone(),
        decision: decision.into(),
        note: args.note.clone(),
    };
    act(cli, action, &args.who)
}

pub fn ship(cli: &Cli, args: &ShipArgs) -> Result<u8, CliError> {
    let action = OpsAction::Ship {
        sample: args.sample.clone(),
        tracking_number: args.tracking.clone(),
        carrier: args.carrier.clone(),
        shipping_cost: args.cost,
        note: args.note.clone(),
    };
    act(cli, action, &args.who)
}

pub fn adjust(cli: &Cli, args: &AdjustArgs) -> Result<u8, CliError> {
    let action = OpsAction::Adjust {
        creator: args.creator.clone(),
        credit: args.credit,
        block_days: args.block_days.map(i64::from),
        note: args.note.clone(),
    };
    act(cli, action, &args.who)
}

/// How long an ops command waits for a live `watch` to apply its event.
const REPLY_WAIT: Duration = Duration::from_secs(10);

/// Makes the event, applies it (here, or through the live writer) and prints the outcome.
fn act(cli: &Cli, action: OpsAction, who: &Who) -> Result<u8, CliError> {
    let at = who.at.map_or_else(
        || wall_clock().map(|c| c.now()),
        |t| Ok(t.with_timezone(&Utc)),
    );
    let at = match at {
        Ok(at) => at,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(super::EXIT_USAGE);
        }
    };
    let by = who.by.clone().unwrap_or_else(login_name);
    let command = action.command();
    let kind = action.kind().name();
    let OpsEvent { id, event } = action.event(&by, at);
    let line = event.to_string();
    let made = Made {
        command: command.to_string(),
        kind: kind.to_string(),
        id: id.clone(),
        sample: event["sample"].as_str().map(str::to_string),
        creator: event["creator"]["id"].as_str().map(str::to_string),
    };
    if !crate::store::exists(&cli.db) {
        eprintln!(
            "error: no store at `{}`; `sampleflow run` or `watch` creates it",
            crate::store::shown(&cli.db)
        );
        return Ok(EXIT_FAILED);
    }
    let lines = match crate::store::lock(&cli.db, &Holder::me(command)) {
        Ok(_lock) => match apply_here(cli, &made, at, &line, &who.guard)? {
            Ok(lines) => lines,
            Err(code) => return Ok(code),
        },
        Err(LockError::Held(Some(holder @ Holder { spool: Some(_), .. }))) => {
            match hand_over(cli, &holder, &id, &line)? {
                Ok(lines) => lines,
                Err(code) => return Ok(code),
            }
        }
        Err(LockError::Held(Some(
            holder @ Holder {
                listen: Some(_), ..
            },
        ))) => match post_over(&holder, &cli.shop, &line) {
            Ok(lines) => lines,
            Err(code) => return Ok(code),
        },
        Err(LockError::Held(holder)) => {
            eprintln!("{}", held_message(&cli.db, holder.as_ref()));
            return Ok(EXIT_FAILED);
        }
        Err(LockError::Io { path, source }) => return Err(CliError::Read { path, source }),
    };
    report(cli, &made, lines)
}

/// The event an ops command made.
struct Made {
    command: String,
    kind: String,
    id: String,
    sample: Option<String>,
    creator: Option<String>,
}

/// The login name of the user, for `by` when `--by` is not given.
fn login_name() -> String {
    whoami::username()
        .ok()
        .filter(|n| !n.is_empty())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Applies the line with this process as the store's writer: the one path of `run`, with only
/// what the event can reach loaded from the store.
fn apply_here(
    cli: &Cli,
    made: &Made,
    at: DateTime<Utc>,
    line: &str,
    guard: &super::catch_up::Guard,
) -> Result<Result<Vec<String>, u8>, CliError> {
    let program = match load_program(cli)? {
        Ok(program) => program,
        Err(code) => return Ok(Err(code)),
    };
    let focus = Focus {
        at,
        samples: made.sample.iter().cloned().collect(),
        creators: made.creator.iter().cloned().collect(),
    };
    // Checked on the store read-only, before anything (even the program's versions) is written.
    let jump = super::catch_up::check(guard, &mut *open_existing_store(cli)?, &program, &focus)
        .map_err(|source| CliError::Store {
            path: cli.db.clone(),
            source,
        })?;
    if let Some(jump) = jump {
        eprintln!("{}", jump.message(&made.command));
        return Ok(Err(super::EXIT_USAGE));
    }
    let store = open_for(cli, &program)?;
    let mut out = Vec::new();
    let name = format!("<{}>", made.command);
    if let Err(e) = run_one(program, store, &name, line, &focus, &mut out) {
        eprintln!("error: {e}");
        return Ok(Err(EXIT_FAILED));
    }
    Ok(Ok(String::from_utf8_lossy(&out)
        .lines()
        .map(str::to_string)
        .collect()))
}

/// Hands the line to the live `watch --spool` that holds the store and waits for its reply.
fn hand_over(
    cli: &Cli,
    holder: &Holder,
    id: &str,
    line: &str,
) -> Result<Result<Vec<String>, u8>, CliError> {
    let Some(dir) = holder.spool.as_deref() else {
        return Ok(Err(EXIT_FAILED));
    };
    let name = format!("{id}.jsonl");
    let tmp = dir.join(format!(".{name}.tmp"));
    let io = |source| CliError::Read {
        path: dir.to_path_buf(),
        source,
    };
    write_synced(&tmp, format!("{line}\n").as_bytes()).map_err(io)?;
    std::fs::rename(&tmp, dir.join(&name)).map_err(io)?;
    let reply = spool::reply_path(dir, &name);
    let started = Instant::now();
    while started.elapsed() < REPLY_WAIT {
        if let Ok(text) = std::fs::read_to_string(&reply) {
            let _ = std::fs::remove_file(&reply);
            return Ok(Ok(text.lines().map(str::to_string).collect()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!(
        "error: handed event `{id}` to {} through `{}`, but no reply came within {}s; it stays in the spool and is applied when that process takes it: see `sampleflow --db {} show SAMPLE`",
        holder.describe(),
        dir.display(),
        REPLY_WAIT.as_secs(),
        crate::store::shown(&cli.db)
    );
    Ok(Err(EXIT_FAILED))
}

/// Hands the line to the live `serve` that holds the store, through its API, and returns the
/// line's outcome once the server has committed it. The request is authenticated with
/// `SAMPLEFLOW_TOKEN` when it is set; `by` is then the token's name.
fn post_over(holder: &Holder, shop: &str, line: &str) -> Result<Vec<String>, u8> {
    let Some(addr) = holder.listen.as_deref() else {
        return Err(EXIT_FAILED);
    };
    let token = std::env::var("SAMPLEFLOW_TOKEN").ok();
    let failed = |why: String| {
        eprintln!(
            "error: could not hand the event to {} at http://{addr}: {why}",
            holder.describe()
        );
        EXIT_FAILED
    };
    let crate::serve::client::PostAnswer { status, said, text } =
        crate::serve::client::post_events(
            addr,
            shop,
            format!("{line}\n"),
            token.as_deref(),
            REPLY_WAIT,
        )
        .map_err(failed)?;
    if status != 200 {
        let hint = if status == 401 || status == 403 {
            "; set SAMPLEFLOW_TOKEN to an operator token of the server's tokens file (reviews, shipments and adjustments need an operator)"
        } else {
            ""
        };
        return Err(failed(format!("{said} {}{hint}", text.trim())));
    }
    let body: Value = serde_json::from_str(&text).map_err(|e| failed(e.to_string()))?;
    let Some(first) = body["results"].get(0) else {
        return Err(failed("the answer holds no result".into()));
    };
    Ok(match first.get("records").and_then(Value::as_array) {
        Some(records) => records.iter().map(Value::to_string).collect(),
        None => vec![first.to_string()],
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Prints the records on stdout and a refusal on stderr; exit 0 when applied, 5 when refused.
fn report(cli: &Cli, event: &Made, lines: Vec<String>) -> Result<u8, CliError> {
    let mut records = Vec::new();
    let mut refusal = None;
    for line in lines {
        let value: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if value.get("error").is_some() {
            refusal = Some((value, line));
        } else {
            records.push(line);
        }
    }
    let store_err = |source| CliError::Store {
        path: cli.db.clone(),
        source,
    };
    let Some((error, text)) = refusal else {
        super::write_lines(records)?;
        // A ledger change makes no record: say what the ledger is now.
        if let Some(creator) = &event.creator {
            let ledger = open_existing_store(cli)?
                .ledger(creator)
                .map_err(store_err)?
                .unwrap_or_default();
            let blocked = ledger.blocked_until.map_or("not blocked".to_string(), |t| {
                format!(
                    "blocked until {}",
                    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                )
            });
            eprintln!(
                "{}: applied `{}`; creator `{creator}` has credit {}, {blocked}",
                event.command, event.id, ledger.credit
            );
        }
        return Ok(EXIT_OK);
    };
    let kind = error["error"].as_str().unwrap_or_default();
    // A live writer that applied the event, then died before it replied, is given the file
    // again on restart and refuses it as a duplicate: the event was applied, and its records
    // are in the store.
    if kind == "duplicate_id" {
        if let Some(sample) = &event.sample {
            let mut store = open_existing_store(cli)?;
            let found = store
                .sample_log(sample)
                .map_err(store_err)?
                .into_iter()
                .filter(|line| {
                    serde_json::from_str::<Value>(line)
                        .is_ok_and(|r| r["event"].as_str() == Some(event.id.as_str()))
                });
            super::write_lines(records.into_iter().chain(found))?;
        }
        return Ok(EXIT_OK);
    }
    super::write_lines(records)?;
    let message = error["message"].as_str().unwrap_or_default().to_string();
    let hint = match (kind, &event.sample) {
        ("not_allowed", Some(sample)) => not_allowed_hint(cli, event, sample)?,
        _ => None,
    };
    eprintln!(
        "{} refused ({kind}): {}",
        event.command,
        hint.unwrap_or(message)
    );
    eprintln!("{text}");
    Ok(EXIT_REFUSED)
}

/// "`s50` is `awaiting_shipment`; review takes `pending`": what a person needs to know when an
/// ops command comes at the wrong moment of a sample's life.
fn not_allowed_hint(cli: &Cli, event: &Made, sample: &str) -> Result<Option<String>, CliError> {
    let mut store = open_existing_store(cli)?;
    let Some(inst) = store.sample(sample).map_err(|source| CliError::Store {
        path: cli.db.clone(),
        source,
    })?
    else {
        return Ok(None);
    };
    let (graphs, _) = load_workflows(cli)?;
    let Some(graph) = graphs
        .iter()
        .find(|g| g.workflow().name.value == inst.workflow)
    else {
        return Ok(None);
    };
    let takes: Vec<String> = graph
        .workflow()
        .states
        .iter()
        .filter(|s| s.on.iter().any(|m| m.event.value == event.kind))
        .map(|s| format!("`{}`", s.name.value))
        .collect();
    Ok(Some(format!(
        "`{sample}` is `{}`; {} takes {}",
        inst.state(),
        event.command,
        if takes.is_empty() {
            "no state of its workflow".to_string()
        } else {
            takes.join(" or ")
        }
    )))
}
