//! `sampleflow copy --to URL_OR_PATH`: the whole store `--db` names into an empty store of
//! either kind, so that every reading command prints the same on both (how a team moves from
//! SQLite to PostgreSQL).

use std::path::PathBuf;

use super::{Cli, CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::store::{copy, shown, CopyError};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The empty store to copy into: a file path (SQLite) or a `postgres://` URL.
    #[arg(long, value_name = "URL_OR_PATH")]
    pub to: PathBuf,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    match copy(&cli.db, &args.to) {
        Ok(copied) => {
            let rows: Vec<String> = copied
                .rows
                .iter()
                .map(|(table, n)| format!("{table} {n}"))
                .collect();
            eprintln!(
                "copy: `{}` copied into `{}` in one transaction (rows: {})",
                shown(&cli.db),
                shown(&args.to),
                rows.join(", ")
            );
            Ok(EXIT_OK)
        }
        Err(e @ (CopyError::NotEmpty(..) | CopyError::Same(_))) => {
            eprintln!("error: {e}\n  help: copy into a new file, or a database (or schema) that holds no sampleflow store yet");
            Ok(EXIT_USAGE)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(EXIT_FAILED)
        }
    }
}
