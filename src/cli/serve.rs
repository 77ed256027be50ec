//! `sampleflow serve [--listen ADDR] [--tokens FILE] [--spool DIR] [--out FILE]`: everything
//! `watch` does, and HTTP: an authenticated JSON API and a console for people. The arguments
//! here; the service in `crate::serve`.

use std::net::SocketAddr;

use super::{Cli, CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::serve::{ClusterConfig, Live, ServeConfig, ServeError};
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
    /// Run as one instance of a cluster on the `--db` PostgreSQL database: shops are leased to
    /// the live instances, every instance answers every route for every shop, and a write for a
    /// shop owned elsewhere is forwarded to its owner.
    #[arg(long)]
    pub cluster: bool,
    /// With `--cluster`: the URL the other instances reach this one at (default: `http://`
    /// and the address it listens on).
    #[arg(long, value_name = "URL", requires = "cluster")]
    pub advertise: Option<String>,
    /// With `--cluster`: how long a shop's lease lasts unrenewed (renewed at a third of it); a
    /// dead instance's shops move after about this long.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub lease_ttl: String,
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
    let cluster = match cluster_config(cli, args) {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!("error: {e}");
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
        cluster,
    };
    let bound = match crate::serve::bind(config) {
        Ok(bound) => bound,
        Err(failure) => return said(failure),
    };
    let mut holder = Holder::me("serve");
    holder.listen = Some(bound.local().to_string());
    // In a cluster, leases stand for the store's writer lock, shop by shop.
    let live = match super::watch::open_live(cli, &args.watch, holder, !args.cluster)? {
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

/// `--cluster`'s settings, checked: a PostgreSQL store, no spool, out file or shadow (each is
/// one process's), an advertised `http://` URL, a TTL in range.
fn cluster_config(cli: &Cli, args: &Args) -> Result<Option<ClusterConfig>, String> {
    let lease_ttl =
        crate::serve::parse_ttl(&args.lease_ttl).map_err(|e| format!("`--lease-ttl`: {e}"))?;
    if !args.cluster {
        return Ok(None);
    }
    if !crate::store::is_url(&cli.db) {
        return Err(format!(
            "`--cluster` needs a PostgreSQL store (`--db postgres://...`), not `{}`: the instances share its database",
            crate::store::shown(&cli.db)
        ));
    }
    for (given, flag) in [
        (args.watch.spool.is_some(), "--spool"),
        (args.watch.out.is_some(), "--out"),
        (args.watch.shadow.is_some(), "--shadow"),
    ] {
        if given {
            return Err(format!(
                "`{flag}` is one process's and cannot go with `--cluster`; run it on a single `serve`"
            ));
        }
    }
    if let Some(url) = &args.advertise {
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(format!(
                "`--advertise {url}` is not a URL like http://10.0.0.5:8080"
            ));
        }
    }
    Ok(Some(ClusterConfig {
        advertise: args.advertise.clone(),
        lease_ttl,
    }))
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
