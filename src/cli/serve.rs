//! `sampleflow serve [--listen ADDR] [--tokens FILE] [--spool DIR] [--out FILE]`: everything
//! `watch` does, and HTTP: an authenticated JSON API and a console for people. The arguments
//! here; the service in `crate::serve`.

use std::net::SocketAddr;

use super::{Cli, CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::serve::{Live, ServeConfig, ServeError};
use crate::store::Holder;

#[derive(Debug, Clone, clap::Args)]
#[group(id = "serve_args")]
pub struct Args {
    /// The address to answer HTTP on (`127.0.0.1:0` picks a free port, said on stderr).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: String,
    /// The tokens file: a YAML list of `{name, role, sha256}`. Without it, serve listens on
    /// loopback only and every request is the operator `local`.
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<std::path::PathBuf>,
    /// Seconds a request may take before it is answered 408.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub request_timeout: u64,
    /// Connections open at once at most; past that a new one takes the place of the one idle
    /// longest, or waits while every one is being served.
    #[arg(
        long,
        default_value_t = 1024,
        value_name = "N",
        env = "SAMPLEFLOW_MAX_CONNECTIONS"
    )]
    pub max_connections: usize,
    /// Run the `--shop` shop's TikTok connector from this config (default: its
    /// `connectors/tiktok.yaml` when it exists); every other shop with a
    /// `shops/<shop>/connectors/tiktok.yaml` runs its own. Webhooks come to
    /// `POST /v1/tiktok/webhook`.
    #[arg(long, value_name = "FILE")]
    pub connector: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub watch: super::watch::Args,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let listen: SocketAddr = match args.listen.parse() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!(
                "error: `--listen {}` is not an address like 127.0.0.1:8080: {e}",
                args.listen
            );
            return Ok(EXIT_USAGE);
        }
    };
    let connectors = connectors(cli, args.connector.as_deref());
    let config = ServeConfig {
        listen,
        tokens: args.tokens.clone(),
        request_timeout: args.request_timeout,
        max_connections: args.max_connections,
        connectors,
        db: cli.db.clone(),
    };
    let bound = match crate::serve::bind(config) {
        Ok(bound) => bound,
        Err(failure) => return said(failure),
    };
    let mut holder = Holder::me("serve");
    holder.listen = Some(bound.local().to_string());
    let live = match super::watch::open_live(cli, &args.watch, holder)? {
        Ok(live) => live,
        Err(code) => return Ok(code),
    };
    let live = Live {
        programs: live.programs,
        home: cli.shop.clone(),
        store: live.store,
        options: live.options,
        out: live.out,
        channels: live.channels,
        lock: live._lock,
    };
    match bound.run(live) {
        Ok(()) => Ok(EXIT_OK),
        Err(failure) => said(failure),
    }
}

/// The connectors to run, by shop: `--connector FILE` (a file that must exist) for the `--shop`
/// shop, and every shop's `connectors/tiktok.yaml` that exists.
fn connectors(cli: &Cli, given: Option<&std::path::Path>) -> Vec<(String, std::path::PathBuf)> {
    let deployment = crate::session::Deployment::discover(&cli.rules, &cli.workflows);
    let mut found: Vec<(String, std::path::PathBuf)> = deployment
        .shops()
        .filter(|f| !(given.is_some() && f.name == cli.shop))
        .filter(|f| f.connector.is_file())
        .map(|f| (f.name.clone(), f.connector.clone()))
        .collect();
    if let Some(path) = given {
        found.push((cli.shop.clone(), path.to_path_buf()));
        found.sort();
    }
    found
}

/// The service's failure said on stderr, as its exit code.
fn said(failure: ServeError) -> Result<u8, CliError> {
    match failure {
        ServeError::Usage(e) => {
            eprintln!("error: {e}");
            Ok(EXIT_USAGE)
        }
        ServeError::Io(e) => Err(CliError::Write(e)),
        e => {
            eprintln!("error: {e}");
            Ok(EXIT_FAILED)
        }
    }
}
