//! The live loop: the runner, live, for `sampleflow watch` and `serve`. Events come from stdin
//! (JSON Lines), a spool folder and HTTP callers (posted lines, the connector's polls);
//! deadlines fire on the wall clock as well as on event time; rules, policy and workflows are
//! reloaded when their files change.
//!
//! One thread owns the runner and the store and takes messages from the others in order: lines
//! read from stdin, spool files, clock ticks, candidate programs from the reloader, signals. A
//! candidate is built, validated and tested on the reloader's thread; the runner only swaps it in
//! between two events, so no event sees half of a rule set, and a candidate that fails leaves the
//! last good program running. Where the inputs come from (notify, the reloader, the spool, who
//! may post what) is `crate::watch`'s.

mod answer;
mod clock;
pub(crate) mod shadow;

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::mpsc::{channel, sync_channel, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use answer::Answer;
pub use answer::Ingest;
pub use clock::{wall_clock, wall_now, Clock};
pub use shadow::Candidate;

use crate::watch::health::Health;
use crate::watch::reload::{self, Folders, ReloadRequest, Trigger};
use crate::watch::role::{self, Poster};
use crate::watch::spool;

use crate::model::{Output, Stats};
use crate::runtime::input::{Line, LineReader, OwnedLine};
use crate::runtime::{Program, Runner};
use crate::session::{Batcher, RunError, Shops};
use crate::store::{RunState, Store, Writer};

/// The input name a watch session's run is kept under in the store.
pub const WATCH_INPUT: &str = "<watch>";

/// What the other threads tell the runner's thread.
pub enum Msg {
    /// A line of stdin, as read.
    Line(u64, OwnedLine),
    /// Stdin ended.
    StdinEnd,
    /// A spool file ready to apply.
    SpoolFile(PathBuf),
    /// A spool entry that will not be read, and why.
    SpoolRefused(PathBuf, String),
    /// Time to look at the wall clock.
    Tick,
    /// A new program for a shop, or why its files do not make one.
    Candidate {
        shop: String,
        candidate: Box<Result<Program, String>>,
        trigger: Trigger,
        started: Instant,
    },
    /// A new shadow candidate (`--shadow`), or why its files do not make one.
    Shadow {
        candidate: Box<Result<Program, String>>,
        trigger: Trigger,
        started: Instant,
    },
    /// Stop cleanly (SIGINT, SIGTERM).
    Stop(&'static str),
    /// Lines posted over HTTP (`serve`'s `POST /v1/events`): applied in order, answered once
    /// committed.
    Posted(Ingest),
    /// The events the connector mapped from the platform (a poll, a webhook): applied in order
    /// like posted lines, answered once committed.
    Polled(Ingest),
}

/// The queues of a session: messages for the runner's thread, requests for the reloader.
/// Signal handlers and other callers send through clones of the two senders. The runner's queue
/// is bounded, so that a producer faster than the runner waits instead of filling memory.
pub struct Channels {
    pub msgs: (SyncSender<Msg>, Receiver<Msg>),
    pub requests: (Sender<ReloadRequest>, Receiver<ReloadRequest>),
}

impl Default for Channels {
    fn default() -> Self {
        Channels {
            msgs: sync_channel(QUEUE),
            requests: channel(),
        }
    }
}

/// How a watch session runs.
#[derive(Clone)]
pub struct WatchOptions {
    /// The wall clock deadlines fire on.
    pub clock: Arc<dyn Clock>,
    pub folders: Folders,
    /// Every shop's folders and their fingerprint taken before loading (the home shop's
    /// included); none: the one shop of `folders`.
    pub shops: Vec<(Folders, u64)>,
    pub spool: Option<PathBuf>,
    /// How often the wall clock is read.
    pub tick: Duration,
    /// Commit at least this often while events flow.
    pub commit_every: usize,
    /// Use notify (false: polling only, for file systems where notify sees nothing).
    pub notify: bool,
    /// The fingerprint of the files the program was loaded from ([`reload::fingerprint`]),
    /// taken before loading, so that a change made while loading is not missed.
    pub loaded: u64,
    /// Keep running with no stdin and no spool: events come as [`Msg::Posted`] and
    /// [`Msg::Polled`] (`serve`).
    pub serving: bool,
    /// `--out` (its absolute path) and its length when the session starts.
    pub out: Option<(String, u64)>,
    /// How far after the wall clock an event may be: its seconds, and as written.
    pub max_future: Option<(i64, String)>,
    /// The store's file: ended samples leave memory once committed and are read back from it
    /// through a connection of its own (none: everything stays in memory).
    pub db: Option<PathBuf>,
    /// Who the files of the spool are from (`--spool-role`): trusted by the file system's
    /// permissions like the store itself, as an operator by default; as `ingest`, a file holding
    /// a decision or a ledger change is refused whole.
    pub spool_role: Poster,
    /// Where the session says whether its commits succeed (`serve`'s `/readyz`).
    pub health: Option<Arc<Health>>,
    /// `--shadow DIR`: a candidate rules folder screening beside the live rules.
    pub shadow: Option<Candidate>,
}

/// Cuts `--out` back to what the store committed, when the last session of the store wrote to
/// the same file and died after writing lines it never committed: their events are applied again
/// and written again, so without the cut they would stand twice. Returns the bytes cut.
pub fn reconcile_out(
    last: Option<&RunState>,
    path: &str,
    file: &std::fs::File,
) -> std::io::Result<u64> {
    let Some(last) = last.filter(|r| r.input == WATCH_INPUT && r.out_path.as_deref() == Some(path))
    else {
        return Ok(0);
    };
    let len = file.metadata()?.len();
    if len <= last.out_len {
        return Ok(0);
    }
    file.set_len(last.out_len)?;
    Ok(len - last.out_len)
}

/// What a session did.
#[derive(Debug, Clone, Default)]
pub struct WatchSummary {
    pub stats: Stats,
    pub reloads: u64,
    pub refused_reloads: u64,
    pub spool_files: u64,
}

/// The runner's side of a session.
struct Session<'a> {
    /// A runner per shop and what each did since the last commit.
    shops: Shops,
    /// The one commit path: the writer's thread, waited for at each commit.
    writer: Writer,
    out: &'a mut dyn Write,
    log: &'a mut dyn Write,
    summary: WatchSummary,
    spool: Option<PathBuf>,
    spool_done: Option<Sender<PathBuf>>,
    /// The output of the spool file being applied, when its sender waits for a reply.
    reply: Option<Vec<String>>,
    /// HTTP callers whose lines are applied, waiting for the commit that makes them durable.
    awaiting: Vec<(tokio::sync::oneshot::Sender<Vec<u8>>, Vec<u8>)>,
    /// The answer being written for the HTTP lines being applied.
    answer: Option<Answer>,
    /// The buffer each posted line is stamped into.
    stamp: Vec<u8>,
    spool_role: Poster,
    health: Option<Arc<Health>>,
    /// The counters already reported to the metrics recorder.
    reported: Stats,
    /// Bytes of `--out` written so far (its length at the start included).
    out_bytes: u64,
    /// The first failure to write the output, reported at the next commit.
    out_error: Option<std::io::Error>,
    clock: Arc<dyn Clock>,
}

impl Session<'_> {
    /// One log line, written whole in one call: `writeln!` writes the text and its newline
    /// apart, and another thread's line (`listening on ...`) could land between them.
    fn note(&mut self, text: &str) {
        let mut line = String::with_capacity(text.len() + 1);
        line.push_str(text);
        line.push('\n');
        let _ = self.log.write_all(line.as_bytes());
        let _ = self.log.flush();
    }

    /// Applies one line in its shop (`shop` when it names none, else the session's home).
    fn apply(&mut self, line: u64, input: &Line<'_>, place: Option<&str>, shop: Option<&str>) {
        let at = self
            .shops
            .apply_default(line, input, shop, Some(self.clock.now()));
        self.drain(at, place);
    }

    /// Every shop's records and refusals out.
    fn drain_all(&mut self, place: Option<&str>) {
        for at in 0..self.shops.len() {
            self.drain(at, place);
        }
    }

    /// One shop's records and refusals out; rule faults to the log.
    fn drain(&mut self, at: usize, place: Option<&str>) {
        let mut faults = Vec::new();
        self.shops.get(at).drain(
            |f| faults.push(format!("rule fault: {f}")),
            |output| {
                let mut text = output.to_json();
                if let Some(reply) = &mut self.reply {
                    reply.push(text.clone());
                }
                if let Some(answer) = &mut self.answer {
                    answer.push(matches!(output, Output::Error(_)), &text);
                }
                // Refusals from a spool file say which file they were in.
                if let (Output::Error(e), Some(place)) = (&mut *output, place) {
                    e.message = format!("{place}: {}", e.message);
                    text = output.to_json();
                }
                match writeln!(self.out, "{text}") {
                    Ok(()) => self.out_bytes += text.len() as u64 + 1,
                    Err(e) => {
                        self.out_error.get_or_insert(e);
                    }
                }
                text
            },
        );
        for f in faults {
            self.note(&f);
        }
        self.shadow_faults();
    }

    /// Writes what is pending to the store and flushes the output.
    /// Flushes the output, then commits what is pending with how far the output got: after a
    /// crash between the two, the next session cuts `--out` back to the last commit. A failed
    /// write (a closed stdout) stops the session, but only once what it decided is committed.
    fn commit(&mut self) -> Result<(), RunError> {
        let flushed = self.out.flush();
        let failed = self.out_error.take().map_or(flushed, Err);
        if self.shops.has_pending() {
            self.shops.home().run.out_len = self.out_bytes;
            let batch = self.shops.seal();
            let committed = self.writer.send(batch).and_then(|()| self.writer.wait());
            if let Some(health) = &self.health {
                health.committed(committed.as_ref().map(|_| ()).map_err(|e| e.to_string()));
            }
            committed?;
            self.shops.evict_committed(&self.writer);
            self.count();
        }
        // Committed: the HTTP callers may now be told.
        for (reply, results) in self.awaiting.drain(..) {
            let _ = reply.send(results);
        }
        failed.map_err(RunError::Output)
    }

    /// Applies lines posted over HTTP; their callers are answered at the next commit.
    fn ingest(&mut self, ingest: Ingest) {
        let Ingest {
            posted,
            reply,
            shop,
        } = ingest;
        let mut stamp = std::mem::take(&mut self.stamp);
        self.answer = Some(Answer::new());
        posted.each(&mut stamp, |n, input| {
            if let Some(answer) = &mut self.answer {
                answer.begin();
            }
            self.apply(n, input, None, Some(&shop));
            if let Some(answer) = &mut self.answer {
                answer.end();
            }
        });
        // A large body's buffer is not kept for the next.
        stamp.clear();
        stamp.shrink_to(1 << 16);
        self.stamp = stamp;
        let body = self.answer.take().map(Answer::finish).unwrap_or_default();
        self.awaiting.push((reply, body));
    }

    /// Tells the metrics recorder what changed since it was last told (a no-op without one).
    fn count(&mut self) {
        let now = &self.shops.stats();
        let applied = now.applied.saturating_sub(self.reported.applied);
        metrics::counter!("sampleflow_events_total", "result" => "applied").increment(applied);
        for (kind, n) in &now.refused {
            let before = self.reported.refused.get(kind).copied().unwrap_or(0);
            if *n > before {
                metrics::counter!("sampleflow_events_total", "result" => kind.clone())
                    .increment(n - before);
            }
        }
        metrics::counter!("sampleflow_deadlines_fired_total")
            .increment(now.deadlines.saturating_sub(self.reported.deadlines));
        self.reported = now.clone();
    }

    fn spool_file(&mut self, file: PathBuf) -> Result<(), RunError> {
        let name = spool::shown(&file);
        let opened = std::fs::File::open(&file);
        let mut reader = match opened {
            Ok(f) => LineReader::new(std::io::BufReader::with_capacity(1 << 16, f)),
            Err(e) => {
                self.note(&format!("spool: cannot read `{name}`: {e}; left in place"));
                self.release(file);
                return Ok(());
            }
        };
        let place = format!("spool `{name}`");
        let (mut line, mut lines) = (0u64, 0u64);
        if self.spool_role != Poster::Operator {
            drop(reader);
            if let Some((n, kind)) = role::scan_file(self.spool_role, &file) {
                self.spool_forbidden(file, &name, n, &kind);
                return Ok(());
            }
            reader = match std::fs::File::open(&file) {
                Ok(f) => LineReader::new(std::io::BufReader::with_capacity(1 << 16, f)),
                Err(e) => {
                    self.note(&format!("spool: cannot read `{name}`: {e}; left in place"));
                    self.release(file);
                    return Ok(());
                }
            };
        }
        if name.starts_with(spool::OPS_PREFIX) {
            self.reply = Some(Vec::new());
        }
        loop {
            match reader.next_line() {
                Ok(Some(input)) => {
                    line += 1;
                    lines += u64::from(input.too_long || !input.bytes.trim_ascii().is_empty());
                    self.apply(line, &input, Some(&place), None);
                }
                Ok(None) => break,
                Err(e) => {
                    self.note(&format!(
                        "spool: cannot read `{name}` after line {line}: {e}; what was read is applied, the file stays"
                    ));
                    self.commit()?;
                    self.reply = None;
                    self.release(file);
                    return Ok(());
                }
            }
        }
        self.commit()?;
        let reply = self.reply.take();
        let Some(dir) = self.spool.clone() else {
            return Ok(());
        };
        // Written once committed: a reply means the records are durable.
        if let Some(reply) = reply {
            if let Err(e) = spool::write_reply(&dir, &name, &reply) {
                self.note(&format!("spool: cannot write the reply to `{name}`: {e}"));
            }
        }
        match spool::archive(&dir, &file) {
            Ok(to) => self.note(&format!(
                "spool: applied `{name}` ({lines} lines), archived to `{}`",
                spool::shown_path(&to)
            )),
            Err(e) => self.note(&format!(
                "spool: applied `{name}` ({lines} lines) but cannot archive it: {e}"
            )),
        }
        self.summary.spool_files += 1;
        self.release(file);
        Ok(())
    }

    /// A spool file holding an event its role may not post: moved to `rejected/` whole, nothing
    /// of it applied; an ops command waiting for it is told why.
    fn spool_forbidden(&mut self, file: PathBuf, name: &str, line: u64, kind: &str) {
        let why = role::forbidden_message(self.spool_role, line, kind);
        if let (Some(dir), true) = (&self.spool, name.starts_with(spool::OPS_PREFIX)) {
            let refusal = serde_json::json!({"line": line, "event": null, "error": "forbidden",
                "message": format!("spool `{name}`: {why} (the spool runs with --spool-role {})", self.spool_role.as_str())});
            if let Err(e) = spool::write_reply(dir, name, &[refusal.to_string()]) {
                self.note(&format!("spool: cannot write the reply to `{name}`: {e}"));
            }
        }
        self.spool_refused(
            file,
            &format!(
                "{why} (the spool runs with --spool-role {})",
                self.spool_role.as_str()
            ),
        );
    }

    /// A spool entry that is not a file of events to read (a link, a name that cannot be shown
    /// safely) is moved to `rejected/`, never read.
    fn spool_refused(&mut self, file: PathBuf, why: &str) {
        let name = spool::shown(&file);
        let Some(dir) = self.spool.clone() else {
            return;
        };
        let moved = spool::reject(&dir, &file);
        self.release(file);
        match moved {
            Ok(to) => self.note(&format!(
                "spool: refused `{name}`: {why}; moved to `{}` unread",
                spool::shown_path(&to)
            )),
            Err(e) => self.note(&format!(
                "spool: refused `{name}`: {why}; cannot move it away: {e}"
            )),
        }
    }

    fn release(&mut self, file: PathBuf) {
        if let Some(done) = &self.spool_done {
            let _ = done.send(file);
        }
    }

    fn candidate(
        &mut self,
        shop: &str,
        candidate: Result<Program, String>,
        trigger: Trigger,
        started: Instant,
    ) -> Result<(), RunError> {
        let several = self.shops.len() > 1;
        let Some(batcher) = self.shops.named(shop) else {
            return Ok(());
        };
        let old = hashes(batcher.runner.program());
        // In a deployment of many shops, each reload says whose it is.
        let whose = if several {
            format!("shop {shop}: ")
        } else {
            String::new()
        };
        let program = match candidate {
            Ok(program) => program,
            Err(why) => {
                self.summary.refused_reloads += 1;
                metrics::counter!("sampleflow_reloads_total", "result" => "refused").increment(1);
                self.note(&format!(
                    "{whose}reload refused ({}): the files do not make a valid, tested set; {} keep running\n{}",
                    trigger.as_str(),
                    describe(&old),
                    why.trim_end()
                ));
                return Ok(());
            }
        };
        let new = hashes(&program);
        if new == old {
            self.note(&format!("{whose}reload: no change ({})", trigger.as_str()));
            return Ok(());
        }
        let versions = program.versions();
        let Some(batcher) = self.shops.named(shop) else {
            return Ok(());
        };
        match batcher.runner.swap_program(program) {
            Err(why) => {
                self.summary.refused_reloads += 1;
                metrics::counter!("sampleflow_reloads_total", "result" => "refused").increment(1);
                self.note(&format!(
                    "{whose}reload refused ({}): {why}; {} keep running",
                    trigger.as_str(),
                    describe(&old)
                ));
            }
            Ok(swap) => {
                if let Some(health) = &self.health {
                    health.serving(batcher.runner.program());
                }
                self.writer.save_versions(shop, versions)?;
                self.summary.reloads += 1;
                metrics::counter!("sampleflow_reloads_total", "result" => "applied").increment(1);
                let mut dropped = String::new();
                if swap.dropped > 0 {
                    dropped.push_str(&format!(
                        ", {} armed deadlines the new workflows no longer define dropped",
                        swap.dropped
                    ));
                }
                if swap.armed > 0 {
                    dropped.push_str(&format!(
                        ", {} deadlines the new workflows add armed from now",
                        swap.armed
                    ));
                }
                self.note(&format!(
                    "{whose}reload: {}; {}, {} ms{dropped}",
                    changes(&old, &new),
                    trigger.as_str(),
                    started.elapsed().as_millis()
                ));
                self.commit()?;
            }
        }
        Ok(())
    }
}

/// The live program's reloader says so with this.
fn candidate_msg(
    shop: String,
    candidate: Box<Result<Program, String>>,
    trigger: Trigger,
    started: Instant,
) -> Msg {
    Msg::Candidate {
        shop,
        candidate,
        trigger,
        started,
    }
}

/// What a program is made of, each part named (`rules`, `workflow <name>`) with its hash.
type Hashes = Vec<(String, String)>;

fn hashes(program: &Program) -> Hashes {
    let mut flows: Hashes = program
        .flows
        .iter()
        .map(|(name, f)| (format!("workflow {name}"), f.hash.to_string()))
        .collect();
    flows.sort();
    std::iter::once(("rules".to_string(), program.rules_hash().to_string()))
        .chain(flows)
        .collect()
}

/// `rules <hash>, workflow <name> <hash>, ...`
fn describe(parts: &Hashes) -> String {
    parts
        .iter()
        .map(|(name, hash)| format!("{name} {hash}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `rules a -> b, workflow sample c (unchanged), ...`
fn changes(old: &Hashes, new: &Hashes) -> String {
    let hash_in = |parts: &Hashes, name: &str| {
        parts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, h)| h.clone())
    };
    let mut parts: Vec<String> = new
        .iter()
        .map(|(name, h)| match hash_in(old, name) {
            Some(o) if &o == h => format!("{name} {h} (unchanged)"),
            Some(o) => format!("{name} {o} -> {h}"),
            None => format!("{name} (new) {h}"),
        })
        .collect();
    parts.extend(
        old.iter()
            .filter(|(name, _)| hash_in(new, name).is_none())
            .map(|(name, h)| format!("{name} {h} -> (removed)")),
    );
    parts.join(", ")
}

/// Reads `input` line by line into the runner's queue; says when it ends.
fn read_lines(input: Box<dyn BufRead + Send>, tx: SyncSender<Msg>) {
    let mut line = 0u64;
    let mut reader = LineReader::new(input);
    while let Ok(Some(input)) = reader.next_line() {
        line += 1;
        if tx.send(Msg::Line(line, input.to_owned_line())).is_err() {
            return;
        }
    }
    let _ = tx.send(Msg::StdinEnd);
}

/// Runs a watch session until stdin ends (without a spool) or a stop signal; returns what it
/// did. `requests` lets the caller ask for a reload (SIGHUP); `stop` hands out the sender that
/// signals use.
#[allow(clippy::too_many_arguments)]
pub fn watch(
    programs: Vec<Program>,
    home: &str,
    mut store: Box<dyn Store>,
    options: WatchOptions,
    input: Option<Box<dyn BufRead + Send>>,
    out: &mut dyn Write,
    log: &mut dyn Write,
    channels: Channels,
) -> Result<WatchSummary, RunError> {
    let Channels { msgs, requests } = channels;
    let (tx, rx) = msgs;
    store.set_shop(home);
    let last = store.last_run()?;
    let run = RunState {
        id: last.as_ref().map_or(1, |r| r.id + 1),
        input: WATCH_INPUT.into(),
        out_path: options.out.as_ref().map(|(path, _)| path.clone()),
        ..RunState::default()
    };
    let several = programs.len() > 1;
    let ready = format!(
        "watch: ready, {}; reading {}{}",
        programs
            .iter()
            .map(|p| if several {
                format!("shop {}: {}", p.shop(), describe(&hashes(p)))
            } else {
                describe(&hashes(p))
            })
            .collect::<Vec<_>>()
            .join("; "),
        if input.is_some() { "stdin" } else { "nothing" },
        options
            .spool
            .as_ref()
            .map_or(String::new(), |d| format!(" and spool `{}`", d.display()))
    );
    let mut batchers = Vec::with_capacity(programs.len());
    for program in programs {
        store.set_shop(program.shop());
        store.save_versions(&program.versions())?;
        let snapshot = store.load()?;
        let mut runner = Runner::new(program, snapshot);
        runner.set_horizon(options.max_future.clone().map(|(seconds, label)| {
            crate::runtime::Horizon {
                now: options.clock.now(),
                seconds,
                label,
            }
        }));
        if let Some(db) = &options.db {
            runner.set_fallback(crate::store::fallback(db, runner.program().shop())?);
            runner.evict(true);
        }
        batchers.push(Batcher::new(runner, RunState::default()));
    }
    store.set_shop(home);
    let mut session = Session {
        shops: Shops::new(batchers, home, run),
        writer: Writer::spawn(store),
        out,
        log,
        summary: WatchSummary::default(),
        spool: options.spool.clone(),
        spool_done: None,
        reply: None,
        awaiting: Vec::new(),
        answer: None,
        stamp: Vec::new(),
        spool_role: options.spool_role,
        health: options.health.clone(),
        reported: Stats::default(),
        out_bytes: options.out.as_ref().map_or(0, |(_, len)| *len),
        out_error: None,
        clock: options.clock.clone(),
    };

    // A reloader per shop, each on its own folders (a bad edit in one shop's files refuses
    // that shop's reload only); a request (SIGHUP) goes to each.
    let (req_tx, req_rx) = requests;
    let shops = if options.shops.is_empty() {
        vec![(options.folders.clone(), options.loaded)]
    } else {
        options.shops.clone()
    };
    let mut fan_out = Vec::new();
    for (folders, loaded) in shops {
        let (shop_tx, shop_rx) = channel();
        let notifier = if options.notify {
            reload::notifier(&folders, shop_tx.clone())
        } else {
            Err(notify::Error::generic("turned off by --poll-only"))
        };
        let watcher = match notifier {
            Ok(w) => Some(w),
            Err(e) => {
                session.note(&format!(
                    "watch: notify unavailable{} ({e}); polling the files every {:?}",
                    if several {
                        format!(" for shop {}", folders.shop)
                    } else {
                        String::new()
                    },
                    folders.poll
                ));
                None
            }
        };
        fan_out.push(shop_tx.clone());
        let tx = tx.clone();
        std::thread::spawn(move || {
            reload::run(
                folders,
                loaded,
                (shop_tx, shop_rx),
                watcher,
                tx,
                candidate_msg,
            );
        });
    }
    drop(req_tx);
    std::thread::spawn(move || {
        while let Ok(request) = req_rx.recv() {
            for shop in &fan_out {
                let _ = shop.send(request);
            }
        }
    });
    if let Some(candidate) = &options.shadow {
        shadow::start(&mut session, candidate, options.notify, tx.clone())?;
    }
    {
        let tx = tx.clone();
        let every = options.tick;
        std::thread::spawn(move || loop {
            std::thread::sleep(every);
            if tx.send(Msg::Tick).is_err() {
                return;
            }
        });
    }
    if let Some(dir) = options.spool.clone() {
        std::fs::create_dir_all(&dir).map_err(|source| RunError::Input {
            path: dir.display().to_string(),
            source,
        })?;
        let (done_tx, done_rx) = channel();
        session.spool_done = Some(done_tx);
        let tx = tx.clone();
        let poll = options.folders.poll;
        let use_notify = options.notify;
        std::thread::spawn(move || {
            spool::run(
                dir,
                poll,
                use_notify,
                done_rx,
                tx,
                Msg::SpoolFile,
                Msg::SpoolRefused,
            )
        });
    }
    let stdin_open = input.is_some();
    if let Some(input) = input {
        let tx = tx.clone();
        std::thread::spawn(move || read_lines(input, tx));
    }
    drop(tx);
    session.note(&ready);
    if let Some(health) = &session.health {
        health.started();
    }
    if !stdin_open && options.spool.is_none() && !options.serving {
        return finish(session, "nothing to read");
    }

    let mut queued: Option<Msg> = None;
    loop {
        let msg = match queued.take() {
            Some(msg) => msg,
            None => match rx.recv_timeout(IDLE_COMMIT) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => {
                    session.commit()?;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return finish(session, "all inputs closed"),
            },
        };
        match msg {
            Msg::Line(line, input) => session.apply(line, &input.as_line(), None, None),
            Msg::Posted(ingest) | Msg::Polled(ingest) => session.ingest(ingest),
            Msg::SpoolFile(file) => session.spool_file(file)?,
            Msg::SpoolRefused(file, why) => session.spool_refused(file, &why),
            Msg::Tick => {
                let now = options.clock.now();
                for batcher in session.shops.all() {
                    batcher.runner.tick(now);
                }
                session.drain_all(None);
            }
            Msg::Candidate {
                shop,
                candidate,
                trigger,
                started,
            } => {
                session.commit()?;
                session.candidate(&shop, *candidate, trigger, started)?;
            }
            Msg::Shadow {
                candidate,
                trigger,
                started,
            } => {
                session.commit()?;
                session.shadow_candidate(*candidate, trigger, started)?;
            }
            Msg::StdinEnd => {
                if session.spool.is_none() && !options.serving {
                    return finish(session, "end of stdin");
                }
                session.note("watch: stdin ended; still watching the spool");
            }
            Msg::Stop(why) => {
                // Whatever was written to stdin before the signal is applied before stopping:
                // lines are taken until they pause for STOP_GRACE (at most STOP_LIMIT in all).
                let until = Instant::now() + STOP_LIMIT;
                let mut quiet_from = Instant::now();
                loop {
                    let left = STOP_GRACE.saturating_sub(quiet_from.elapsed());
                    if left.is_zero() || Instant::now() > until {
                        break;
                    }
                    match rx.recv_timeout(left) {
                        Ok(Msg::Line(line, input)) => {
                            session.apply(line, &input.as_line(), None, None);
                            quiet_from = Instant::now();
                        }
                        // Posted before the stop: applied, and answered once committed.
                        Ok(Msg::Posted(ingest) | Msg::Polled(ingest)) => {
                            session.ingest(ingest);
                            quiet_from = Instant::now();
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                return finish(session, why);
            }
        }
        if session.shops.pending >= options.commit_every {
            session.commit()?;
        }
        // Flush and commit as soon as nothing else waits, so what was decided is visible.
        match rx.try_recv() {
            Ok(msg) => queued = Some(msg),
            Err(_) => session.commit()?,
        }
    }
}

/// Messages that may wait for the runner.
const QUEUE: usize = 1024;

/// On a stop signal, stdin is read on until it pauses this long...
const STOP_GRACE: Duration = Duration::from_millis(250);
/// ...or for this long at most.
const STOP_LIMIT: Duration = Duration::from_secs(5);

/// With nothing arriving, what is pending is committed after this long.
const IDLE_COMMIT: Duration = Duration::from_millis(200);

fn finish(mut session: Session<'_>, why: &str) -> Result<WatchSummary, RunError> {
    for batcher in session.shops.all() {
        batcher.runner.finish();
    }
    session.drain_all(None);
    session.shops.home().run.finished = true;
    session.shops.pending += 1;
    session.commit()?;
    session.writer.finish()?;
    session.summary.stats = session.shops.stats();
    let s = &session.summary;
    let text = format!(
        "watch: stopped ({why}): {} events read, {} applied, {} refused; {} deadlines fired; {} reloads, {} refused; {} spool files",
        s.stats.read,
        s.stats.applied,
        s.stats.refused_total(),
        s.stats.deadlines,
        s.reloads,
        s.refused_reloads,
        s.spool_files
    );
    session.note(&text);
    Ok(session.summary.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_names_each_old_and_new_hash() {
        let parts = |list: &[(&str, &str)]| -> Hashes {
            list.iter()
                .map(|(n, h)| (n.to_string(), h.to_string()))
                .collect()
        };
        let old = parts(&[
            ("rules", "aaa"),
            ("workflow returns", "r1"),
            ("workflow sample", "s1"),
        ]);
        let new = parts(&[
            ("rules", "bbb"),
            ("workflow sample", "s1"),
            ("workflow trial", "t1"),
        ]);
        assert_eq!(
            describe(&old),
            "rules aaa, workflow returns r1, workflow sample s1"
        );
        assert_eq!(
            changes(&old, &new),
            "rules aaa -> bbb, workflow sample s1 (unchanged), workflow trial (new) t1, \
             workflow returns r1 -> (removed)"
        );
    }

    #[test]
    fn spool_takes_finished_files_in_name_order_and_archives_without_overwriting() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in ["b.jsonl", "a.jsonl", ".hidden", "c.jsonl.part", "d.tmp"] {
            std::fs::write(dir.path().join(name), "{}\n").expect("write");
        }
        let names: Vec<String> = spool::waiting(dir.path())
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(names, ["a.jsonl", "b.jsonl"]);
        let first = spool::archive(dir.path(), &dir.path().join("a.jsonl")).expect("archive");
        std::fs::write(dir.path().join("a.jsonl"), "{}\n").expect("write");
        let second = spool::archive(dir.path(), &dir.path().join("a.jsonl")).expect("archive");
        assert_eq!(first, dir.path().join("archive/a.jsonl"));
        assert_eq!(second, dir.path().join("archive/a.jsonl.1"));
        assert_eq!(spool::waiting(dir.path()).len(), 1);
    }
}
