//! `sampleflow show SAMPLE | --creator ID | --all`: what the store holds.

use serde::Serialize;

use super::{open_existing_store, write_lines, Cli, CliError, EXIT_OK, EXIT_USAGE};
use crate::model::SampleView;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["sample", "creator", "all", "hash", "versions"])))]
pub struct Args {
    /// A sample id: its records, in order.
    pub sample: Option<String>,
    /// A creator's ledger.
    #[arg(long, value_name = "ID")]
    pub creator: Option<String>,
    /// Every sample's current state, as JSON Lines.
    #[arg(long)]
    pub all: bool,
    /// A rule set or workflow that ran here, by hash (a prefix will do): its files.
    #[arg(long, value_name = "HASH")]
    pub hash: Option<String>,
    /// Every rule set and workflow that ran here, oldest first.
    #[arg(long)]
    pub versions: bool,
    /// A sample's records as JSON Lines (the default), or as a timeline for people.
    #[arg(long, value_enum, default_value_t = Format::Json, requires = "sample")]
    pub format: Format,
}

#[derive(Serialize)]
struct CreatorView<'a> {
    creator: &'a str,
    #[serde(flatten)]
    ledger: &'a crate::model::Ledger,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let mut store = open_existing_store(cli)?;
    let failed = |source| CliError::Store {
        path: cli.db.clone(),
        source,
    };
    if let Some(sample) = &args.sample {
        let records = store.sample_log(sample).map_err(failed)?;
        if records.is_empty() {
            eprintln!(
                "error: no sample `{sample}` in `{}`",
                crate::store::shown(&cli.db)
            );
            return Ok(EXIT_USAGE);
        }
        match args.format {
            Format::Json => write_lines(records)?,
            Format::Table => write_lines(timeline(&records))?,
        }
    } else if let Some(creator) = &args.creator {
        let Some(ledger) = store.ledger(creator).map_err(failed)? else {
            eprintln!(
                "error: no creator `{creator}` in `{}`",
                crate::store::shown(&cli.db)
            );
            return Ok(EXIT_USAGE);
        };
        let view = CreatorView {
            creator,
            ledger: &ledger,
        };
        write_lines([serde_json::to_string(&view).map_err(|e| failed(e.into()))?])?;
    } else if let Some(hash) = &args.hash {
        let found: Vec<_> = store
            .versions()
            .map_err(failed)?
            .into_iter()
            .filter(|v| v.hash.starts_with(hash.as_str()))
            .collect();
        let [v] = found.as_slice() else {
            eprintln!(
                "error: {} version matches `{hash}` in `{}`",
                if found.is_empty() {
                    "no"
                } else {
                    "more than one"
                },
                crate::store::shown(&cli.db)
            );
            return Ok(EXIT_USAGE);
        };
        let mut lines = vec![format!(
            "# {} {} `{}`, first seen {}",
            v.kind, v.hash, v.name, v.first_seen
        )];
        for (name, text) in &v.files {
            lines.push(format!("## {name}"));
            lines.push(text.trim_end().to_string());
        }
        write_lines(lines)?;
    } else if args.versions {
        let lines = store
            .versions()
            .map_err(failed)?
            .iter()
            .map(|v| format!("{} {} {} {}", v.first_seen, v.kind, v.hash, v.name))
            .collect::<Vec<_>>();
        write_lines(lines)?;
    } else {
        let samples = store.samples().map_err(failed)?;
        let lines = samples
            .iter()
            .map(|inst| serde_json::to_string(&SampleView::of(inst, store.shop())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed(e.into()))?;
        write_lines(lines)?;
    }
    Ok(EXIT_OK)
}

/// A sample's records as a timeline: time, from, to, trigger, reason, by, note.
fn timeline(records: &[String]) -> Vec<String> {
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.replace(['\n', '\r', '\t'], " "),
        serde_json::Value::Null => "-".to_string(),
        other => other.to_string(),
    };
    let rows = records
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|r| {
            let mut to = text(&r["to"]);
            if let Some(decision) = r["decision"].as_str() {
                to = format!("{to} ({decision})");
            }
            let actions = r["actions"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x["type"].as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            vec![
                text(&r["at"]).replace('T', " "),
                text(&r["from"]),
                to,
                text(&r["trigger"]),
                text(&r["reason"]),
                text(&r["by"]),
                text(&r["note"]),
                if actions.is_empty() {
                    "-".into()
                } else {
                    actions
                },
            ]
        })
        .collect();
    super::columns(
        &[
            "TIME", "FROM", "TO", "TRIGGER", "REASON", "BY", "NOTE", "ACTIONS",
        ],
        rows,
    )
}
