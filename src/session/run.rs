//! One `run` of a JSON Lines file: read it as a stream, apply each line, write the output, and
//! commit to the store in batches together with the position reached, so that the same `run`
//! after a crash resumes exactly where the last commit left off.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Batcher, Shops};
use crate::model::Stats;
use crate::rules::RuleFault;
use crate::runtime::input::{LineReader, KEEP};
use crate::runtime::{Program, Runner};
use crate::store::{crash_point, Batch, Focus, RunState, Store, StoreError, Writer};

/// Events per committed batch (`SAMPLEFLOW_BATCH` overrides it, for tests).
pub const BATCH_EVENTS: usize = 4096;

fn batch_events() -> usize {
    std::env::var("SAMPLEFLOW_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(BATCH_EVENTS)
}

/// Why a run failed (exit 1).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error("cannot read `{path}`: {source}")]
    Input {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write records: {0}")]
    Output(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a run did, for the summary.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub stats: Stats,
    pub states: std::collections::BTreeMap<String, u64>,
    pub elapsed: Duration,
    /// Lines of input that an interrupted run had committed, when this run resumed it.
    pub resumed_after: Option<u64>,
    /// Lines read by this process (the events/s figure).
    pub lines_here: u64,
    /// Ended samples that left memory during the run (read back from the store if named).
    pub left_memory: u64,
}

/// Hooks for the caller: progress and rule faults.
pub trait Observer {
    fn progress(&mut self, _bytes: u64) {}
    fn fault(&mut self, _fault: &RuleFault) {}
}

/// Observes nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// The input name that means standard input.
pub const STDIN: &str = "-";

/// Runs `input` through `program`, keeping state in `store` and writing output to `out`.
///
/// `input` is a file, or `-` for standard input. Only a regular file can be resumed: a stream
/// (stdin, a pipe) cannot be read again, so an interrupted run of one is not continued, and the
/// events it had committed are refused as `duplicate_id` if they come again.
pub fn run_file(
    program: Program,
    store: Box<dyn Store>,
    input: &Path,
    out: &mut dyn Write,
    observer: &mut dyn Observer,
) -> Result<RunSummary, RunError> {
    let home = program.shop().to_string();
    run_file_shops(vec![program], &home, store, input, out, observer)
}

/// Runs a stream that cannot be read again (stdin, a pipe, one event of an ops command) under
/// the input name `name`: the same path as a file, without resuming.
pub fn run_stream(
    program: Program,
    store: Box<dyn Store>,
    name: &str,
    reader: Box<dyn BufRead + '_>,
    out: &mut dyn Write,
    observer: &mut dyn Observer,
) -> Result<RunSummary, RunError> {
    run_input(
        program,
        store,
        name,
        Input::Stream(reader),
        None,
        out,
        observer,
    )
}

/// Runs one event with a new id (an ops command's) under the input name `name`, loading from
/// the store only what it can reach ([`Store::load_around`]): the same path as a file, at the
/// cost of one sample rather than the whole store.
pub fn run_one(
    program: Program,
    store: Box<dyn Store>,
    name: &str,
    line: &str,
    focus: &Focus,
    out: &mut dyn Write,
) -> Result<RunSummary, RunError> {
    let input = format!("{line}\n");
    let reader = Box::new(input.as_bytes());
    run_input(
        program,
        store,
        name,
        Input::Stream(reader),
        Some(focus),
        out,
        &mut Quiet,
    )
}

enum Input<'a> {
    /// A regular file: resumable at an offset.
    File(File),
    Stream(Box<dyn BufRead + 'a>),
}

fn run_input(
    program: Program,
    store: Box<dyn Store>,
    name: &str,
    input: Input<'_>,
    focus: Option<&Focus>,
    out: &mut dyn Write,
    observer: &mut dyn Observer,
) -> Result<RunSummary, RunError> {
    let home = program.shop().to_string();
    run_shops(
        vec![program],
        &home,
        store,
        name,
        input,
        focus,
        out,
        observer,
    )
}

/// Runs `input` through the shops' programs (`home`'s takes the lines that name no shop and
/// keeps the run's position), keeping state in `store` and writing output to `out`.
pub fn run_file_shops(
    programs: Vec<Program>,
    home: &str,
    store: Box<dyn Store>,
    input: &Path,
    out: &mut dyn Write,
    observer: &mut dyn Observer,
) -> Result<RunSummary, RunError> {
    let name = input.display().to_string();
    if name == STDIN {
        let stdin = std::io::stdin().lock();
        let input = Input::Stream(Box::new(stdin));
        return run_shops(programs, home, store, &name, input, None, out, observer);
    }
    let read_err = |source| RunError::Input {
        path: name.clone(),
        source,
    };
    let file = File::open(input).map_err(read_err)?;
    let input = if file.metadata().map_err(read_err)?.is_file() {
        Input::File(file)
    } else {
        Input::Stream(Box::new(BufReader::with_capacity(1 << 16, file)))
    };
    run_shops(programs, home, store, &name, input, None, out, observer)
}

#[allow(clippy::too_many_arguments)]
fn run_shops(
    programs: Vec<Program>,
    home: &str,
    mut store: Box<dyn Store>,
    name: &str,
    mut input: Input<'_>,
    focus: Option<&Focus>,
    out: &mut dyn Write,
    observer: &mut dyn Observer,
) -> Result<RunSummary, RunError> {
    let started = Instant::now();
    let read_err = |source| RunError::Input {
        path: name.to_string(),
        source,
    };
    store.set_shop(home);
    let last = store.last_run()?;
    let resume = match (&last, &mut input) {
        (Some(run), Input::File(file)) if !run.finished && run.input == name => {
            same_input(file, run).then(|| run.clone())
        }
        _ => None,
    };
    let run = match &resume {
        Some(run) => run.clone(),
        None => RunState {
            id: last.as_ref().map_or(1, |r| r.id + 1),
            input: name.to_string(),
            ..RunState::default()
        },
    };
    // A resumed run says again what its last commit kept: the command's shop's records, then
    // each other shop's (kept under the same run, in their shops).
    if let Some(run) = &resume {
        store.set_shop(home);
        for line in store.run_log(run.id)? {
            writeln!(out, "{line}").map_err(RunError::Output)?;
        }
        for program in programs.iter().filter(|p| p.shop() != home) {
            store.set_shop(program.shop());
            for line in store.run_log(run.id)? {
                writeln!(out, "{line}").map_err(RunError::Output)?;
            }
        }
        store.set_shop(home);
    }
    // A runner per shop, each on its own state; ended samples leave memory once committed,
    // read back from the store if named again.
    let mut batchers = Vec::with_capacity(programs.len());
    for program in programs {
        let mine = program.shop() == home;
        store.set_shop(program.shop());
        let snapshot = match focus {
            Some(focus) => store.load_around(focus)?,
            None => store.load()?,
        };
        let mut runner = Runner::new(program, snapshot);
        if mine {
            runner.stats = run.stats.clone();
        }
        if let Some(reader) = store.reader() {
            runner.set_fallback(reader);
            runner.evict(true);
        }
        batchers.push(Batcher::new(runner, RunState::default()));
    }
    store.set_shop(home);
    let mut reader: LineReader<Box<dyn BufRead>> = match input {
        Input::File(mut file) => {
            file.seek(SeekFrom::Start(run.offset)).map_err(read_err)?;
            let file: Box<dyn BufRead> = Box::new(BufReader::with_capacity(1 << 16, file));
            if run.offset == 0 {
                LineReader::new(file)
            } else {
                LineReader::resumed(file)
            }
        }
        Input::Stream(reader) => LineReader::new(reader),
    };
    let mut session = Shops::new(batchers, home, run);
    let mut writer = Writer::spawn(store);
    let crash_after = crash_point("event");
    let batch_size = batch_events();
    let mut here = 0u64;
    // A failure to read the input or write the output stops the run, but only after what was
    // applied is committed (the run left unfinished, so the same command continues it).
    let mut failure = None;
    // The last line's hash, made the run's digest when a batch is sealed (a digest is only
    // read at a commit, and formatting one per line was a measurable share of the runner).
    let mut last_hash = None;
    loop {
        let input = match reader.next_line() {
            Ok(Some(input)) => input,
            Ok(None) => break,
            Err(e) => {
                failure = Some(read_err(e));
                break;
            }
        };
        let run = &mut session.home().run;
        run.lines += 1;
        run.offset += input.consumed;
        run.last_len = input.consumed;
        last_hash = Some(xxhash_rust::xxh3::xxh3_64(input.raw));
        here += 1;
        let line = run.lines;
        let at = session.apply(line, &input);
        let drained = drain(session.get(at), out, observer);
        if crash_after == Some(here) {
            std::process::abort();
        }
        if let Err(e) = drained {
            failure = Some(e);
            break;
        }
        if session.pending >= batch_size {
            observer.progress(session.home().run.offset);
            writer.send(seal(&mut session, &mut last_hash))?;
            session.evict_committed(&writer);
        }
    }
    if failure.is_none() {
        for batcher in session.all() {
            batcher.runner.finish();
            if let Err(e) = drain(batcher, out, observer) {
                failure.get_or_insert(e);
            }
        }
        if let Err(e) = out.flush() {
            failure.get_or_insert(RunError::Output(e));
        }
    }
    session.home().run.finished = failure.is_none();
    writer.send(seal(&mut session, &mut last_hash))?;
    let mut store = writer.finish()?;
    if let Some(failure) = failure {
        return Err(failure);
    }
    observer.progress(session.home().run.offset);
    let mut states = std::collections::BTreeMap::new();
    for batcher in session.all() {
        store.set_shop(batcher.runner.program().shop());
        for (state, n) in store.state_counts()? {
            *states.entry(state).or_insert(0) += n;
        }
    }
    store.set_shop(home);
    Ok(RunSummary {
        stats: session.stats(),
        states,
        elapsed: started.elapsed(),
        resumed_after: resume.map(|r| r.lines),
        lines_here: here,
        left_memory: session.left_memory(),
    })
}

/// Writes the session's output to `out` (the first failure is kept and returned) and hands the
/// rule faults to the observer.
fn drain(
    session: &mut Batcher,
    out: &mut dyn Write,
    observer: &mut dyn Observer,
) -> Result<(), RunError> {
    let mut failed = None;
    session.drain(
        |fault| observer.fault(&fault),
        |output| {
            let text = output.to_json();
            if failed.is_none() {
                failed = out
                    .write_all(text.as_bytes())
                    .and_then(|()| out.write_all(b"\n"))
                    .err();
            }
            text
        },
    );
    failed.map_or(Ok(()), |e| Err(RunError::Output(e)))
}

/// The session's batch, with the digest of the last line consumed since the last seal.
fn seal(session: &mut Shops, last_hash: &mut Option<u64>) -> Batch {
    if let Some(hash) = last_hash.take() {
        session.home().run.last_digest = hex(hash);
    }
    session.seal()
}

fn digest(bytes: &[u8]) -> String {
    hex(xxhash_rust::xxh3::xxh3_64(bytes))
}

fn hex(hash: u64) -> String {
    format!("{hash:016x}")
}

/// True when the file holds, just before the run's offset, the last line the run consumed (as
/// far as a line is kept: a line over the limit by its first bytes).
fn same_input(file: &mut File, run: &RunState) -> bool {
    let Some(start) = run.offset.checked_sub(run.last_len) else {
        return false;
    };
    let mut bytes = vec![0; run.last_len.min(KEEP as u64) as usize];
    let ok = file.seek(SeekFrom::Start(start)).is_ok() && file.read_exact(&mut bytes).is_ok();
    ok && digest(&bytes) == run.last_digest
}
