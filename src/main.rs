use std::process::ExitCode;

use clap::Parser;
use sampleflow::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(cli::EXIT_FAILED)
        }
    }
}
