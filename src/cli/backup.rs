//! `sampleflow backup FILE`: a consistent copy of the store, taken while a writer runs, that
//! every reading command opens as it opens the original and that `--db FILE` restores.

use std::path::PathBuf;

use super::{Cli, CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::store::{backup, BackupError};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The new file to write the copy to (an existing one is never overwritten).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    match backup(&cli.db, &args.file) {
        Ok(copied) => {
            eprintln!(
                "backup: `{}` copied to `{}` ({:.1} MiB), one consistent moment of it; restore by running with `--db {}`",
                crate::store::shown(&cli.db),
                args.file.display(),
                copied.bytes as f64 / (1 << 20) as f64,
                args.file.display()
            );
            Ok(EXIT_OK)
        }
        Err(e @ BackupError::Postgres(_)) => {
            eprintln!("error: {e}; nothing was written\n  help: `pg_dump --format=custom --schema=sampleflow --file FILE URL` takes one consistent moment of it beside a running writer; `pg_restore --dbname URL FILE` restores it into an empty database (see the README's backups)");
            Ok(EXIT_USAGE)
        }
        Err(e @ BackupError::Exists(_)) => {
            eprintln!("error: {e}; nothing was written\n  help: name a new file, or move the old one away first");
            Ok(EXIT_USAGE)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(EXIT_FAILED)
        }
    }
}
