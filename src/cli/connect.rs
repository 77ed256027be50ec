//! `sampleflow connect tiktok [--config FILE] [--once]`: keeps the store in step with a shop.
//! Each cycle polls every sample application, applies the events their changes stand for (ids
//! derived from the application and the change, so the same state applies nothing), then
//! delivers the outbox: each decision on a platform sample, queued in the same transaction as
//! its record, becomes one review call.
//!
//! The cycle itself (poll, settle, deliver: exactly once) is `crate::connect::cycle`; here are
//! the arguments, the loop, and the apply step as this process's own `run`.

use std::io::Write;
use std::path::PathBuf;

use super::{
    load_program, lock_store, open_for, shop_files, Cli, CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE,
};
use crate::connect::cycle::{poll, sales, settle, summary, Cycle};
use crate::connect::map::Catalog;
use crate::connect::platform::Client;
use crate::connect::Config;
use crate::session::{run_stream, Quiet};
use crate::store::Holder;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub platform: Platform,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Platform {
    /// TikTok Shop: sample applications in, review decisions out.
    Tiktok(TiktokArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct TiktokArgs {
    /// The connector's config (YAML; secrets in the files it names). Default: the `--shop`
    /// shop's, `shops/<shop>/connectors/tiktok.yaml` (`connectors/tiktok.yaml` for `default`).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// One full poll, apply what it found, deliver the outbox, exit.
    #[arg(long)]
    pub once: bool,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let Platform::Tiktok(args) = &args.platform;
    let files = match shop_files(cli) {
        Ok(files) => files,
        Err(code) => return Ok(code),
    };
    let path = args
        .config
        .clone()
        .unwrap_or_else(|| files.connector.clone());
    let mut config = match crate::connect::config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    let catalog = match Catalog::load(&config.catalog) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_USAGE);
        }
    };
    // The shop's day (a quota's hold, a reminder's due time) is its policy's.
    config.timezone = match load_program(cli)? {
        Ok(program) => program.rules.policy().timezone,
        Err(code) => return Ok(code),
    };
    let _lock = match lock_store(cli, &Holder::me("connect"))? {
        Ok(lock) => lock,
        Err(code) => return Ok(code),
    };
    let client = Client::new(config.clone());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    loop {
        let cycle = match cycle(cli, &config, &catalog, &client)? {
            Ok(c) => c,
            Err(code) => return Ok(code),
        };
        eprintln!("{}", summary(&cycle));
        if args.once {
            return Ok(EXIT_OK);
        }
        // Wait for the next poll, or a stop signal.
        let until = std::time::Instant::now()
            + std::time::Duration::from_secs(config.poll_every.max(1) as u64);
        while std::time::Instant::now() < until {
            if stop.load(std::sync::atomic::Ordering::SeqCst) {
                eprintln!("connect: stopped");
                return Ok(EXIT_OK);
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// One poll, apply and delivery in the `--shop` shop; `Err` is an exit code, its reason said.
fn cycle(
    cli: &Cli,
    config: &Config,
    catalog: &Catalog,
    client: &Client,
) -> Result<Result<Cycle, u8>, CliError> {
    let store_err = |source| CliError::Store {
        path: cli.db.clone(),
        source,
    };
    let mut side = crate::store::open(&cli.db).map_err(store_err)?;
    side.set_shop(&cli.shop);
    let found = match poll(client, config, catalog, &mut side) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Err(EXIT_FAILED));
        }
    };
    let mut c = found.counts();
    if let Err(code) = apply(cli, &found.lines)? {
        return Ok(Err(code));
    }
    // Sales once the poll's content is applied: a video posted in this poll counts at once.
    match sales(client, config, &mut side, found.at) {
        Ok(sold) => {
            c.add_applied(sold.len());
            if let Err(code) = apply(cli, &sold)? {
                return Ok(Err(code));
            }
        }
        Err(e) => eprintln!("connect: {e}; read again at the next poll"),
    }
    settle(client, config, &mut side, &found.apps, &mut c).map_err(store_err)?;
    Ok(Ok(c))
}

/// Applies the connector's event lines as this process's own `run`, its records to stdout;
/// `Err` is an exit code, its reason said.
fn apply(cli: &Cli, lines: &[String]) -> Result<Result<(), u8>, CliError> {
    if lines.is_empty() {
        return Ok(Ok(()));
    }
    // The rules are loaded as they are now, for what this poll found.
    let program = match load_program(cli)? {
        Ok(p) => p,
        Err(code) => return Ok(Err(code)),
    };
    let store = open_for(cli, &program)?;
    let text = lines.join("\n") + "\n";
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if let Err(e) = run_stream(
        program,
        store,
        "<connect tiktok>",
        Box::new(text.as_bytes()),
        &mut out,
        &mut Quiet,
    ) {
        eprintln!("error: {e}");
        return Ok(Err(EXIT_FAILED));
    }
    out.flush()?;
    Ok(Ok(()))
}
