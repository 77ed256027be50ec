//! `sampleflow watch [--spool DIR] [--out FILE]`: long-running; events from stdin and a spool
//! folder, deadlines on the wall clock, hot reload of rules, policy and workflows.

use std::fs::OpenOptions;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use super::{check_out, lock_store, open_store, Cli, CliError, EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use crate::session::live::wall_clock;
use crate::session::live::{reconcile_out, watch, Channels, Msg, WatchOptions};
use crate::store::Holder;
use crate::watch::{Folders, ReloadRequest};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Also apply files of events moved into this folder (then moved to its `archive/`); the
    /// session then runs until stopped, not until the end of stdin.
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// Append records here instead of writing them to stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Milliseconds between readings of the wall clock (deadlines fire on it).
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub tick_ms: u64,
    /// Milliseconds between comparisons of the files when notify says nothing (the fallback).
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    pub poll_ms: u64,
    /// Do not use notify; find changes by comparing the files every --poll-ms (network file
    /// systems, some containers).
    #[arg(long)]
    pub poll_only: bool,
    /// Refuse events whose `at` is more than this after the wall clock (as `invalid_field`):
    /// `1d`, `36h`...
    #[arg(long, default_value = "1d", value_name = "DURATION", value_parser = max_future)]
    pub max_future: (i64, String),
    /// Milliseconds of quiet that end a burst of file changes before a reload.
    #[arg(long, default_value_t = 50, value_name = "MS")]
    pub debounce_ms: u64,
    /// Who the spool's files are from: `operator` (the default: the spool is trusted by its
    /// folder's permissions, and `review`, `ship` and `adjust` hand their events through it) or
    /// `ingest` (a file holding `sample_reviewed` or `creator_adjusted` is refused whole, moved
    /// to `rejected/`).
    #[arg(long, default_value = "operator", value_name = "ROLE", value_parser = crate::watch::Poster::parse)]
    pub spool_role: crate::watch::Poster,
    /// A candidate rules folder (scripts, policy.yaml, tests/) that screens every request beside
    /// the live rules, with the same inputs: its decisions are kept in the store and never acted
    /// on (`sampleflow shadow`). Checked at start and hot-reloaded like the live rules.
    #[arg(long, value_name = "DIR")]
    pub shadow: Option<PathBuf>,
}

fn max_future(text: &str) -> Result<(i64, String), String> {
    match crate::Duration::parse(text) {
        Ok(crate::Duration::Seconds(secs)) => Ok((secs, text.to_string())),
        Ok(crate::Duration::Policy(_)) => Err("a policy parameter cannot be used here".into()),
        Err(e) => Err(e.0),
    }
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let mut live = match open_live(cli, args, Holder::me("watch"), true)? {
        Ok(live) => live,
        Err(code) => return Ok(code),
    };
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    {
        let tx = live.channels.msgs.0.clone();
        let req_tx = live.channels.requests.0.clone();
        std::thread::spawn(move || {
            for signal in signals.forever() {
                let sent = match signal {
                    SIGHUP => req_tx.send(ReloadRequest::Now).is_ok(),
                    SIGINT => tx.send(Msg::Stop("SIGINT")).is_ok(),
                    _ => tx.send(Msg::Stop("SIGTERM")).is_ok(),
                };
                if !sent {
                    return;
                }
            }
        });
    }
    let input = Box::new(BufReader::new(std::io::stdin()));
    let mut log = std::io::stderr();
    match watch(
        live.programs,
        &cli.shop,
        live.store,
        live.options,
        Some(input),
        &mut live.out,
        &mut log,
        live.channels,
    ) {
        Ok(_) => Ok(EXIT_OK),
        Err(e) => {
            eprintln!("error: {e}");
            Ok(EXIT_FAILED)
        }
    }
}

/// A live session, ready to run: the program, the store (its writer lock held), the output and
/// the options `watch` and `serve` share.
pub(super) struct Live {
    /// Every shop's program.
    pub programs: Vec<crate::runtime::Program>,
    pub store: Box<dyn crate::store::Store>,
    pub options: WatchOptions,
    pub out: Box<dyn Write + Send>,
    pub channels: Channels,
    pub _lock: Option<crate::store::WriterLock>,
}

/// Loads the program, takes the store for `holder` and opens `--out`: everything a live session
/// needs before its first event. `Err` is the exit code, the reason already said.
pub(super) fn open_live(
    cli: &Cli,
    args: &Args,
    mut holder: Holder,
    lock: bool,
) -> Result<Result<Live, u8>, CliError> {
    if let Some(code) = args
        .out
        .as_deref()
        .and_then(|out| check_out(cli, out, None))
    {
        return Ok(Err(code));
    }
    let clock = match wall_clock() {
        Ok(clock) => clock,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Err(EXIT_USAGE));
        }
    };
    let home = match super::shop_files(cli) {
        Ok(files) => files,
        Err(code) => return Ok(Err(code)),
    };
    let folders_of = |files: &crate::session::ShopFiles| Folders {
        shop: files.name.clone(),
        rules: files.rules.clone(),
        workflows: files.workflows.clone(),
        debounce: Duration::from_millis(args.debounce_ms),
        poll: Duration::from_millis(args.poll_ms.max(10)),
    };
    let folders = folders_of(&home);
    // Each shop's files are fingerprinted before loading, so that a change made while loading
    // is not missed.
    let shops: Vec<(Folders, u64)> = super::deployment(cli)
        .shops()
        .map(|files| {
            let folders = folders_of(files);
            let loaded = crate::watch::reload::fingerprint(&folders);
            (folders, loaded)
        })
        .collect();
    let loaded = crate::watch::reload::fingerprint(&folders);
    let programs = match super::load_programs(cli)? {
        Ok(programs) => programs,
        Err(code) => return Ok(Err(code)),
    };
    let shadow = match &args.shadow {
        None => None,
        Some(dir) => match super::load_program_with(cli, dir)? {
            Ok(candidate) => Some(crate::session::live::Candidate::new(
                dir.clone(),
                &folders,
                candidate,
            )),
            Err(code) => {
                eprintln!(
                    "error: the shadow candidate's rules in `{}` are invalid; nothing was started",
                    dir.display()
                );
                return Ok(Err(code));
            }
        },
    };
    if let Some(dir) = &args.spool {
        std::fs::create_dir_all(dir).map_err(|source| CliError::Read {
            path: dir.clone(),
            source,
        })?;
        holder.spool = Some(std::path::absolute(dir).map_err(|source| CliError::Read {
            path: dir.clone(),
            source,
        })?);
    }
    let _lock = if lock {
        match lock_store(cli, &holder)? {
            Ok(lock) => Some(lock),
            Err(code) => return Ok(Err(code)),
        }
    } else {
        None
    };
    let mut store = open_store(cli)?;
    let mut out_state = None;
    let out: Box<dyn Write + Send> = match &args.out {
        Some(path) => {
            let io = |source| CliError::Read {
                path: path.clone(),
                source,
            };
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(io)?;
            let absolute = std::path::absolute(path).map_err(io)?;
            let absolute = absolute.to_string_lossy().into_owned();
            let last = store.last_run().map_err(|source| CliError::Store {
                path: cli.db.clone(),
                source,
            })?;
            let cut = reconcile_out(last.as_ref(), &absolute, &file).map_err(io)?;
            if cut > 0 {
                eprintln!(
                    "watch: `{}` held {cut} bytes of records the store never committed (the last session stopped between the two); cut back to the last commit, their events are applied again",
                    path.display()
                );
            }
            out_state = Some((absolute, file.metadata().map_err(io)?.len()));
            Box::new(BufWriter::new(file))
        }
        None => Box::new(BufWriter::new(std::io::stdout())),
    };
    let options = WatchOptions {
        clock,
        folders,
        shops,
        spool: args.spool.clone(),
        tick: Duration::from_millis(args.tick_ms.max(10)),
        commit_every: crate::session::BATCH_EVENTS,
        notify: !args.poll_only,
        loaded,
        out: out_state,
        max_future: Some(args.max_future.clone()),
        serving: false,
        db: Some(cli.db.clone()),
        spool_role: args.spool_role,
        health: None,
        shadow,
    };
    Ok(Ok(Live {
        programs,
        store,
        options,
        out,
        channels: Channels::default(),
        _lock,
    }))
}
