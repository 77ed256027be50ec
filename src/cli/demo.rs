//! `sampleflow demo-platform [--listen ADDR] [--dir DIR]`: a fake of the TikTok Shop platform to
//! try the connector on one machine (see the README's "Connect your shop").

use std::path::PathBuf;

use super::{CliError, EXIT_FAILED, EXIT_OK};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Where it listens.
    #[arg(long, default_value = "127.0.0.1:9000", value_name = "ADDR")]
    pub listen: String,
    /// The folder it writes its shop's connector config, secrets and catalogue to.
    #[arg(long, default_value = "demo-shop", value_name = "DIR")]
    pub dir: PathBuf,
}

pub fn run(args: &Args) -> Result<u8, CliError> {
    match crate::connect::demo::run(&args.listen, &args.dir) {
        Ok(()) => Ok(EXIT_OK),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(EXIT_FAILED)
        }
    }
}
