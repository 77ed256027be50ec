//! The command line: one file per subcommand; `run` dispatches and returns the exit code.

mod backup;
mod catch_up;
mod connect;
mod copy;
mod demo;
mod diff;
mod eval;
mod gen;
mod graph;
mod ops;
mod options;
mod outbox;
mod queue;
mod report;
mod run;
mod serve;
mod shadow;
mod show;
mod test;
mod tune;
mod validate;
mod watch;

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

pub use options::{parse, parse_from, Failure};

use crate::graph::WorkflowGraph;
use crate::rules::RuleSet;
use crate::runtime::Program;
use crate::session::{Deployment, ShopFiles};
use crate::store::{Holder, LockError, Store, WriterLock};
use crate::validate::{validate_dir, validate_set, Report};

/// Done: refused events and rejected samples are results, not failures.
pub const EXIT_OK: u8 = 0;
/// The tool failed: I/O or the store.
pub const EXIT_FAILED: u8 = 1;
/// Bad usage (clap exits with it on its own).
pub const EXIT_USAGE: u8 = 2;
/// Invalid workflows, rules or policy.
pub const EXIT_INVALID: u8 = 3;
/// `test` had failing cases, or `diff --fail-on-change` found changes.
pub const EXIT_FAILING: u8 = 4;
/// An ops command's event was refused (the refusal is on stderr).
pub const EXIT_REFUSED: u8 = 5;

/// sampleflow: runs a seller's creator-sample program from workflow files and rules.
#[derive(Debug, Clone, Parser)]
#[command(name = "sampleflow", version, about, propagate_version = true)]
pub struct Cli {
    /// Folder of workflow files.
    #[arg(long, global = true, default_value = "workflows", value_name = "DIR")]
    pub workflows: PathBuf,
    /// Folder of rule scripts and `policy.yaml`.
    #[arg(long, global = true, default_value = "rules", value_name = "DIR")]
    pub rules: PathBuf,
    /// The embedded database.
    #[arg(
        long,
        global = true,
        default_value = "sampleflow.db",
        value_name = "PATH"
    )]
    pub db: PathBuf,
    /// The shop the command works on (`shops/NAME/` holds its own files).
    #[arg(
        long,
        global = true,
        default_value = crate::model::DEFAULT_SHOP,
        value_name = "NAME",
        value_parser = shop_name
    )]
    pub shop: String,
    #[command(subcommand)]
    /// The subcommand.
    pub command: Command,
}

#[derive(Debug, Clone, Subcommand)]
/// The subcommands, as `sampleflow --help` lists them.
#[non_exhaustive]
pub enum Command {
    /// Check workflows, rules and policy; every problem with file:line:column (exit 3 when invalid).
    Validate(validate::Args),
    /// Run the rule test cases beside the rules (`rules/tests/*.yaml`); exit 4 on a failure.
    Test(test::Args),
    /// Runs one hook on one input and prints its result with the explain trace: each rule row
    /// checked in order, the values it compared and its outcome.
    Eval(eval::Args),
    /// Print a workflow as a picture source.
    Graph(graph::Args),
    /// Apply events (JSON Lines) to the samples in the store; records to stdout or --out.
    Run(run::Args),
    /// A sample's records, a creator's ledger, or every sample's current state.
    Show(show::Args),
    /// Pending reviews, soonest expiry first: the ops team's work list.
    Queue(queue::Args),
    /// Long-running: events from stdin and a spool folder, deadlines on the wall clock, hot reload.
    Watch(watch::Args),
    /// Everything `watch` does, as an authenticated HTTP service with an ops console.
    Serve(serve::Args),
    /// Replay events under two rule sets and list every changed decision or end state.
    Diff(diff::Args),
    /// Funnel, fulfillment, cost, GMV and ROI per category, tier and rules hash.
    Report(report::Args),
    /// Replay events under a grid of policy values: cost against GMV, the Pareto front, today's
    /// point and the best within a budget.
    Tune(tune::Args),
    /// What the candidate of `serve --shadow` / `watch --shadow` decided beside the live rules,
    /// with `diff`'s totals for the screenings it decided otherwise.
    Shadow(shadow::Args),
    /// Write a large valid event stream (JSON Lines) for benchmarks.
    Gen(gen::Args),
    /// Approve or reject a pending sample (exit 5 when refused).
    Review(ops::ReviewArgs),
    /// Enter the tracking number of an approved sample (exit 5 when refused).
    Ship(ops::ShipArgs),
    /// Change a creator's credit or block (exit 5 when refused).
    Adjust(ops::AdjustArgs),
    /// Keep the store in step with a shop: applications in, review decisions out.
    Connect(connect::Args),
    /// The calls for a connected shop (reviews, messages, collaborations) and unmappable
    /// applications.
    Outbox(outbox::Args),
    /// A fake TikTok Shop platform to try the connector on one machine.
    #[command(name = "demo-platform")]
    DemoPlatform(demo::Args),
    /// A consistent copy of the store, taken beside a running writer; `--db FILE` restores it.
    Backup(backup::Args),
    /// The whole store into an empty one of either kind (SQLite file or PostgreSQL URL).
    Copy(copy::Args),
}

/// A failure of the tool itself (exit 1), as opposed to a defect in the user's files (exit 3).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    #[error("cannot read `{path}`: {source}")]
    /// A file that cannot be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    #[error("cannot write output: {0}")]
    /// Standard output (or `--out`) cannot be written.
    Write(#[from] std::io::Error),
    #[error("{0}")]
    /// Bad usage found after parsing (a `--shop` neither the deployment nor the store has):
    /// said, and exit 2.
    Usage(String),
    #[error("`{}`: {source}", crate::store::shown(path))]
    /// The store cannot be opened, read or written.
    Store {
        /// The store's `--db`.
        path: PathBuf,
        /// Why.
        source: crate::store::StoreError,
    },
}

/// A `--shop` value: `[a-z0-9][a-z0-9_-]{0,62}`.
fn shop_name(text: &str) -> Result<String, String> {
    if crate::model::valid_shop(text) {
        Ok(text.to_string())
    } else {
        Err("a shop is named by `[a-z0-9][a-z0-9_-]{0,62}`".to_string())
    }
}

/// Runs one command and returns its exit code.
pub fn run(cli: Cli) -> Result<u8, CliError> {
    match dispatch(cli) {
        Err(CliError::Usage(message)) => {
            eprintln!("error: {message}");
            Ok(EXIT_USAGE)
        }
        other => other,
    }
}

fn dispatch(cli: Cli) -> Result<u8, CliError> {
    match &cli.command {
        Command::Validate(args) => validate::run(&cli, args),
        Command::Graph(args) => graph::run(&cli, args),
        Command::Test(args) => test::run(&cli, args),
        Command::Eval(args) => eval::run(&cli, args),
        Command::Run(args) => run::run(&cli, args),
        Command::Show(args) => show::run(&cli, args),
        Command::Queue(args) => queue::run(&cli, args),
        Command::Watch(args) => watch::run(&cli, args),
        Command::Serve(args) => serve::run(&cli, args),
        Command::Diff(args) => diff::run(&cli, args),
        Command::Report(args) => report::run(&cli, args),
        Command::Tune(args) => tune::run(&cli, args),
        Command::Shadow(args) => shadow::run(&cli, args),
        Command::Gen(args) => gen::run(args),
        Command::Review(args) => ops::review(&cli, args),
        Command::Ship(args) => ops::ship(&cli, args),
        Command::Adjust(args) => ops::adjust(&cli, args),
        Command::Connect(args) => connect::run(&cli, args),
        Command::Outbox(args) => outbox::run(&cli, args),
        Command::DemoPlatform(args) => demo::run(args),
        Command::Backup(args) => backup::run(&cli, args),
        Command::Copy(args) => copy::run(&cli, args),
    }
}

/// Colour on stderr only for a terminal, and never under `NO_COLOR`.
/// Prints diagnostics on stderr, every one with its place.
fn eprint_diagnostics<'a, D: miette::Diagnostic + 'a>(problems: impl IntoIterator<Item = &'a D>) {
    let rendered = crate::diagnostic::render(
        problems.into_iter().map(|p| p as &dyn miette::Diagnostic),
        stderr_color(),
    );
    eprint!("{rendered}");
}

/// The rules of `dir`, or their problems printed and exit 3.
fn load_rules(dir: &std::path::Path) -> Result<RuleSet, u8> {
    RuleSet::load(dir).map_err(|problems| {
        eprint_diagnostics(&problems);
        EXIT_INVALID
    })
}

fn stderr_color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// The deployment around the command's folders: its shops and their files.
fn deployment(cli: &Cli) -> Deployment {
    Deployment::discover(&cli.rules, &cli.workflows)
}

/// The files of the command's shop (`--shop`), or exit 2 after saying it is not one of the
/// deployment's.
fn shop_files(cli: &Cli) -> Result<ShopFiles, u8> {
    let deployment = deployment(cli);
    match deployment.shop(&cli.shop) {
        Some(files) => Ok(files.clone()),
        None => {
            let names: Vec<&str> = deployment.names().collect();
            eprintln!(
                "error: no shop `{}` in this deployment (no `{}/{}/` folder); its shops: {}",
                cli.shop,
                crate::session::SHOPS_DIR,
                cli.shop,
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            );
            Err(EXIT_USAGE)
        }
    }
}

/// Workflows, rules and every problem found in them (rules are `None` when they do not load),
/// for the command's shop.
fn check_all(cli: &Cli) -> Result<Result<Checked, u8>, CliError> {
    let files = match shop_files(cli) {
        Ok(files) => files,
        Err(code) => return Ok(Err(code)),
    };
    check_set(&files.workflows, &files.rules).map(Ok)
}

/// Workflows, rules (`None` when they do not load) and every problem found in them.
type Checked = (Vec<WorkflowGraph>, Option<RuleSet>, Report);

/// The workflows of `workflows` with the rules from `rules_dir`, and every problem found.
fn check_set(
    workflows: &std::path::Path,
    rules_dir: &std::path::Path,
) -> Result<Checked, CliError> {
    validate_set(workflows, rules_dir).map_err(|source| CliError::Read {
        path: workflows.to_path_buf(),
        source,
    })
}

/// The program of the command's shop, or exit 3 after printing why the files are invalid (2
/// for a shop the deployment does not have).
fn load_program(cli: &Cli) -> Result<Result<Program, u8>, CliError> {
    let files = match shop_files(cli) {
        Ok(files) => files,
        Err(code) => return Ok(Err(code)),
    };
    load_program_from(&files.workflows, &files.rules, &cli.shop)
}

/// The command's shop's program with the rules from `rules_dir` (the base or candidate of a
/// diff, a shadow candidate), or exit 3 after printing why.
fn load_program_with(
    cli: &Cli,
    rules_dir: &std::path::Path,
) -> Result<Result<Program, u8>, CliError> {
    let files = match shop_files(cli) {
        Ok(files) => files,
        Err(code) => return Ok(Err(code)),
    };
    load_program_from(&files.workflows, rules_dir, &cli.shop)
}

/// Every shop's program, the command's shop's first... in the order of their names; shops on
/// the same folders share one compiled program. Exit 3 (after printing every shop's problems)
/// when any shop's files are invalid, 2 when `--shop` is not one of the deployment's.
fn load_programs(cli: &Cli) -> Result<Result<Vec<Program>, u8>, CliError> {
    if let Err(code) = shop_files(cli) {
        return Ok(Err(code));
    }
    let deployment = deployment(cli);
    let mut compiled: std::collections::HashMap<(PathBuf, PathBuf), Program> =
        std::collections::HashMap::new();
    let mut programs = Vec::new();
    let mut failed = None;
    for files in deployment.shops() {
        let key = (files.workflows.clone(), files.rules.clone());
        let program = match compiled.get(&key) {
            Some(program) => program.clone(),
            None => match load_program_from(&files.workflows, &files.rules, &files.name)? {
                Ok(program) => {
                    compiled.insert(key, program.clone());
                    program
                }
                Err(code) => {
                    if deployment.len() > 1 {
                        eprintln!("error: the files of shop `{}` are invalid", files.name);
                    }
                    failed = Some(code);
                    continue;
                }
            },
        };
        programs.push(program.in_shop(&files.name));
    }
    Ok(match failed {
        Some(code) => Err(code),
        None => Ok(programs),
    })
}

/// The program of these folders, run for `shop`, or exit 3 after printing why.
fn load_program_from(
    workflows: &std::path::Path,
    rules_dir: &std::path::Path,
    shop: &str,
) -> Result<Result<Program, u8>, CliError> {
    let (graphs, rules, report) = check_set(workflows, rules_dir)?;
    match rules {
        Some(rules) if !report.has_errors() && !graphs.is_empty() => {
            let program = Program::new(graphs, rules).in_shop(shop);
            if let Some(text) = program.unresolved_durations().first() {
                // `validate` refuses these first; a program never runs with one.
                eprintln!(
                    "error: the workflows' duration `{text}` does not resolve against the policy"
                );
                return Ok(Err(EXIT_INVALID));
            }
            Ok(Ok(program))
        }
        _ => {
            eprint!("{}", report.render(stderr_color()));
            if graphs.is_empty() && !report.has_errors() {
                eprintln!("error: no workflow in `{}`", workflows.display());
            }
            Ok(Err(EXIT_INVALID))
        }
    }
}

/// Refuses (exit 2, nothing touched) an `--out` that names the input or a file of the store:
/// truncating it would destroy what is to be read or kept.
fn check_out(cli: &Cli, out: &std::path::Path, input: Option<&std::path::Path>) -> Option<u8> {
    let same = |other: &std::path::Path| match same_file::is_same_file(out, other) {
        Ok(same) => same,
        // One of them does not exist yet: the same path is the same file to be.
        Err(_) => matches!(
            (std::path::absolute(out), std::path::absolute(other)),
            (Ok(a), Ok(b)) if a == b
        ),
    };
    let store_files = ["", "-wal", "-shm", ".lock"].map(|suffix| {
        let mut name = cli.db.as_os_str().to_os_string();
        name.push(suffix);
        std::path::PathBuf::from(name)
    });
    let clash = input
        .filter(|i| i.as_os_str() != "-" && same(i))
        .map(|i| format!("the events file `{}`", i.display()))
        .or_else(|| {
            store_files
                .iter()
                .find(|f| same(f))
                .map(|f| format!("the store's file `{}`", f.display()))
        })?;
    eprintln!(
        "error: `--out {}` is {clash}; writing records there would destroy it, and nothing was touched",
        out.display()
    );
    Some(EXIT_USAGE)
}

/// Takes the store's writer lock for `holder`, or prints who holds it and what to do instead
/// and gives exit 1: a store has one writer at a time.
fn lock_store(cli: &Cli, holder: &Holder) -> Result<Result<WriterLock, u8>, CliError> {
    match crate::store::lock(&cli.db, holder) {
        Ok(lock) => Ok(Ok(lock)),
        Err(LockError::Held(other)) => {
            eprintln!("{}", held_message(&cli.db, other.as_ref()));
            Ok(Err(EXIT_FAILED))
        }
        Err(LockError::Io { path, source }) => Err(CliError::Read { path, source }),
    }
}

/// What a second writer is told.
fn held_message(db: &std::path::Path, holder: Option<&Holder>) -> String {
    let who = holder.map_or_else(|| "another process".to_string(), Holder::describe);
    let help = match holder {
        Some(Holder {
            spool: Some(dir), ..
        }) => format!(
            "hand it the events instead: move a file of them into `{}` (write it as `NAME.tmp`, then rename it to `NAME.jsonl`); `review`, `ship` and `adjust` do that by themselves",
            dir.display()
        ),
        Some(Holder {
            listen: Some(addr), ..
        }) => format!(
            "hand it the events instead: POST them to http://{addr}/v1/events; `review`, `ship` and `adjust` do that by themselves (with `SAMPLEFLOW_TOKEN` set to an operator token when it has a tokens file: reviews and adjustments need one)"
        ),
        Some(h) => format!(
            "wait for it to finish, or stop it (`kill -TERM {}`), then try again; to write while a store is live, run `watch --spool DIR` and hand it the events",
            h.pid
        ),
        None => "wait for it to finish, then try again".to_string(),
    };
    format!(
        "error: `{}` is held by {who}; a store takes one writer at a time and nothing was written\n  help: {help}",
        crate::store::shown(db)
    )
}

/// The store named by `--db`, created on first use.
/// The store named by `--db`, on the command's shop.
fn open_store(cli: &Cli) -> Result<Box<dyn Store>, CliError> {
    let mut store = crate::store::open(&cli.db).map_err(|source| CliError::Store {
        path: cli.db.clone(),
        source,
    })?;
    store.set_shop(&cli.shop);
    Ok(store)
}

/// The store named by `--db` for a writer of `program`, which keeps its versions first.
fn open_for(cli: &Cli, program: &Program) -> Result<Box<dyn Store>, CliError> {
    open_for_all(cli, std::slice::from_ref(program))
}

/// The store named by `--db` for a writer of these shops' programs, which keeps each shop's
/// versions first; left on the command's shop.
fn open_for_all(cli: &Cli, programs: &[Program]) -> Result<Box<dyn Store>, CliError> {
    let mut store = open_store(cli)?;
    let failed = |source| CliError::Store {
        path: cli.db.clone(),
        source,
    };
    for program in programs {
        store.set_shop(program.shop());
        store.save_versions(&program.versions()).map_err(failed)?;
    }
    store.set_shop(&cli.shop);
    Ok(store)
}

/// The store named by `--db`, which a `run` must have created, for reading only.
fn open_existing_store(cli: &Cli) -> Result<Box<dyn Store>, CliError> {
    let failed = |source| CliError::Store {
        path: cli.db.clone(),
        source,
    };
    if !crate::store::exists(&cli.db) {
        return Err(failed(crate::store::StoreError::Missing));
    }
    let mut store = crate::store::open_read(&cli.db).map_err(failed)?;
    store.set_shop(&cli.shop);
    // A reader may run beside a deployment's files or away from them: a shop is known when the
    // deployment has it or the store has run it.
    if !deployment(cli).contains(&cli.shop) && store.versions().map_err(failed)?.is_empty() {
        return Err(CliError::Usage(format!(
            "no shop `{}` in this deployment (no `{}/{}/` folder) or in the store",
            cli.shop,
            crate::session::SHOPS_DIR,
            cli.shop
        )));
    }
    Ok(store)
}

/// Writes lines to stdout with a trailing newline each.
fn write_lines(lines: impl IntoIterator<Item = String>) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}

/// A table for people: the header and rows in columns as wide as their widest cell.
fn columns(header: &[&str], rows: Vec<Vec<String>>) -> Vec<String> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(header.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.into_iter().map(line));
    out
}

/// Loads and checks the workflows folder named on the command line.
fn load_workflows(cli: &Cli) -> Result<(Vec<WorkflowGraph>, Report), CliError> {
    validate_dir(&cli.workflows).map_err(|source| CliError::Read {
        path: cli.workflows.clone(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn every_subcommand_and_flag_is_well_formed() {
        // Catches clashes such as a `--version` argument beside clap's own.
        super::Cli::command().debug_assert();
        // And with the environment and `--config FILE` added to every command.
        super::options::command().debug_assert();
    }
}
