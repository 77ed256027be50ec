//! Building a candidate program off the hot path, and noticing when to: notify on the rules and
//! workflows folders (and their parents, for a swapped symlink), a debounce, SIGHUP, and polling
//! for file systems where notify sees nothing.
//!
//! notify only says "something moved"; whether anything changed is decided by a fingerprint of
//! the files' contents, so editors' swap files and repeated events cost nothing.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use crate::diagnostic;
use crate::rules::cases;
use crate::runtime::Program;
use crate::validate::validate_set;

/// Why a reload was tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// notify saw the files change.
    Change,
    /// SIGHUP.
    Signal,
    /// The polling fallback saw the files change.
    Poll,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Change => "files changed",
            Trigger::Signal => "SIGHUP",
            Trigger::Poll => "poll",
        }
    }
}

/// A request to the reloader.
#[derive(Debug, Clone, Copy)]
pub enum ReloadRequest {
    /// notify saw something in a watched folder.
    Changed,
    /// Reload now, changed or not (SIGHUP).
    Now,
}

/// Where the reloader looks and how often.
#[derive(Debug, Clone)]
pub struct Folders {
    /// The shop whose files these are.
    pub shop: String,
    pub rules: PathBuf,
    pub workflows: PathBuf,
    /// A burst of file events ends after this much quiet.
    pub debounce: Duration,
    /// How often the files are compared when notify says nothing.
    pub poll: Duration,
}

/// A digest of every rules, policy, test-case and workflow file's name and content.
pub fn fingerprint(folders: &Folders) -> u64 {
    let mut files = Vec::new();
    collect(&folders.rules, true, &mut files);
    collect(&folders.workflows, false, &mut files);
    files.sort();
    let mut bytes = Vec::new();
    for path in files {
        bytes.extend_from_slice(path.to_string_lossy().as_bytes());
        bytes.push(0);
        if let Ok(text) = std::fs::read(&path) {
            bytes.extend_from_slice(&text);
        }
        bytes.push(0);
    }
    xxhash_rust::xxh3::xxh3_64(&bytes)
}

fn collect(dir: &Path, recurse: bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if path.is_dir() {
            if recurse {
                collect(&path, false, out);
            }
        } else if path
            .extension()
            .is_some_and(|x| x == "rhai" || x == "yaml" || x == "yml")
        {
            out.push(path);
        }
    }
}

/// Loads, validates and compiles the whole set, then runs the rule test cases against it.
/// `Err` holds everything wrong, rendered with file:line:column.
pub fn build(folders: &Folders) -> Result<Program, String> {
    let (graphs, rules, report) = validate_set(&folders.workflows, &folders.rules)
        .map_err(|e| format!("cannot read `{}`: {e}", folders.workflows.display()))?;
    let rules = match rules {
        Some(rules) if !report.has_errors() && !graphs.is_empty() => rules,
        _ if graphs.is_empty() && !report.has_errors() => {
            return Err(format!("no workflow in `{}`", folders.workflows.display()))
        }
        _ => return Err(report.render(false)),
    };
    let (cases, errors) = cases::load(&folders.rules);
    if !errors.is_empty() {
        return Err(diagnostic::render(
            errors.iter().map(|p| p as &dyn miette::Diagnostic),
            false,
        ));
    }
    let failed: Vec<String> = cases
        .iter()
        .map(|case| cases::run(&rules, case))
        .filter(|o| !o.passed)
        .map(|o| format!("FAIL {}  {}: {}", o.place, o.case, o.detail))
        .collect();
    if !failed.is_empty() {
        return Err(format!(
            "{} of {} rule test cases failed:\n{}",
            failed.len(),
            cases.len(),
            failed.join("\n")
        ));
    }
    Ok(Program::new(graphs, rules).in_shop(&folders.shop))
}

/// Starts notify on the folders and their parents; an error when the platform gives no watcher,
/// and polling is all there is.
pub fn notifier(
    folders: &Folders,
    requests: Sender<ReloadRequest>,
) -> Result<notify::RecommendedWatcher, notify::Error> {
    let names: Vec<std::ffi::OsString> = [&folders.rules, &folders.workflows]
        .iter()
        .filter_map(|d| d.file_name().map(|n| n.to_os_string()))
        .collect();
    let relevant = move |path: &Path| {
        path.file_name()
            .is_some_and(|n| names.iter().any(|d| d == n))
            || path
                .extension()
                .is_some_and(|x| x == "rhai" || x == "yaml" || x == "yml")
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Reading files (ours included) is no change; neither is anything but rules, policy,
        // cases, workflows and the two folders themselves (the store may sit beside them).
        let Ok(event) = event else { return };
        if !event.kind.is_access() && event.paths.iter().any(|p| relevant(p)) {
            let _ = requests.send(ReloadRequest::Changed);
        }
    })?;
    watcher.watch(&folders.rules, RecursiveMode::Recursive)?;
    watcher.watch(&folders.workflows, RecursiveMode::NonRecursive)?;
    for dir in [&folders.rules, &folders.workflows] {
        // A folder swapped as a whole (a symlink re-pointed, a rename) shows in its parent.
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
        let _ = watcher.watch(
            parent.unwrap_or(Path::new(".")),
            RecursiveMode::NonRecursive,
        );
    }
    Ok(watcher)
}

/// The reloader's loop: waits for a request or the poll, debounces, builds, sends the candidate
/// (as `wrap` makes it a message: the live program's, or the shadow's).
///
/// After each change the watcher (if any) is set up again, so that a folder swapped as a whole
/// (a re-pointed symlink) is watched where it now is.
/// How the reloader tells the runner: the shop, its candidate (or why its files make none),
/// what set it off and when it started.
pub type Wrap<M> = fn(String, Box<Result<Program, String>>, Trigger, Instant) -> M;

pub fn run<M: Send>(
    folders: Folders,
    loaded: u64,
    (again, requests): (Sender<ReloadRequest>, Receiver<ReloadRequest>),
    mut watcher: Option<notify::RecommendedWatcher>,
    to_runner: SyncSender<M>,
    wrap: Wrap<M>,
) {
    let mut last = loaded;
    loop {
        let (trigger, forced) = match requests.recv_timeout(folders.poll) {
            Ok(ReloadRequest::Now) => (Trigger::Signal, true),
            Ok(ReloadRequest::Changed) => {
                // Debounce: wait until the burst is over.
                let mut forced = false;
                loop {
                    match requests.recv_timeout(folders.debounce) {
                        Ok(ReloadRequest::Changed) => continue,
                        Ok(ReloadRequest::Now) => forced = true,
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
                if forced {
                    (Trigger::Signal, true)
                } else {
                    (Trigger::Change, false)
                }
            }
            Err(RecvTimeoutError::Timeout) => (Trigger::Poll, false),
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let started = Instant::now();
        let now = fingerprint(&folders);
        if now == last && !forced {
            continue;
        }
        last = now;
        if watcher.is_some() {
            if let Ok(fresh) = notifier(&folders, again.clone()) {
                watcher = Some(fresh);
            }
        }
        // Whatever the files hold, the reloader lives on: a panic while building is a refusal.
        let candidate = std::panic::catch_unwind(|| build(&folders)).unwrap_or_else(|_| {
            Err("an internal error while loading the files (a bug: please report it)".into())
        });
        let msg = wrap(folders.shop.clone(), Box::new(candidate), trigger, started);
        if to_runner.send(msg).is_err() {
            return;
        }
    }
}
