//! `sampleflow show SAMPLE | --creator ID | --all`: what the store holds.

use serde::Serialize;

use super::{open_existing_store, write_lines, Cli, CliError, EXIT_OK, EXIT_USAGE};
use crate::runtime::SampleView;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["sample", "creator", "all"])))]
pub struct Args {
    /// A sample id: its records, in order.
    pub sample: Option<String>,
    /// A creator's ledger.
    #[arg(long, value_name = "ID")]
    pub creator: Option<String>,
    /// Every sample's current state, as JSON Lines.
    #[arg(long)]
    pub all: bool,
}

#[derive(Serialize)]
struct CreatorView<'a> {
    creator: &'a str,
    #[serde(flatten)]
    ledger: &'a crate::rules::Ledger,
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
            eprintln!("error: no sample `{sample}` in `{}`", cli.db.display());
            return Ok(EXIT_USAGE);
        }
        write_lines(records)?;
    } else if let Some(creator) = &args.creator {
        let Some(ledger) = store.ledger(creator).map_err(failed)? else {
            eprintln!("error: no creator `{creator}` in `{}`", cli.db.display());
            return Ok(EXIT_USAGE);
        };
        let view = CreatorView {
            creator,
            ledger: &ledger,
        };
        write_lines([serde_json::to_string(&view).map_err(|e| failed(e.into()))?])?;
    } else {
        let samples = store.samples().map_err(failed)?;
        let lines = samples
            .iter()
            .map(|inst| serde_json::to_string(&SampleView::of(inst)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed(e.into()))?;
        write_lines(lines)?;
    }
    Ok(EXIT_OK)
}
