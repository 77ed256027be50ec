#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

use std::process::ExitCode;

/// mimalloc: the runner allocates and frees many small values on two threads (runner and store
/// writer, or a diff's two replays), where glibc's arenas fragment and hold memory.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use sampleflow::cli;

fn main() -> ExitCode {
    // The command line, with what the environment and `--config FILE` add.
    let cli = cli::parse();
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        // A closed stdout is a failure like any other: whatever was applied is committed by
        // then, and the exit code says that not everything was written.
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(cli::EXIT_FAILED)
        }
    }
}
