use std::process::ExitCode;

use clap::Parser;
use sampleflow::cli::{self, Cli, CliError};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        // The reader went away (`| head`): nothing is lost that anyone would read.
        Err(CliError::Write(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(cli::EXIT_FAILED)
        }
    }
}
