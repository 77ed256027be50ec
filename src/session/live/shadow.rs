//! `--shadow DIR` in a live session: the candidate rules folder screened beside the live rules
//! on every request. It is checked at start like the live rules (the caller refuses a bad one
//! with exit 3) and hot-reloaded like them, on a reloader of its own: a candidate that does not
//! make a valid, tested set is refused and the last good one keeps screening. Its faults are
//! logged and counted; its decisions go to the store with the batch of their screening (the
//! runner keeps them in its changes).

use std::path::PathBuf;
use std::sync::mpsc::{channel, SyncSender};
use std::sync::Arc;
use std::time::Instant;

use super::{Msg, Session};
use crate::rules::RuleSet;
use crate::runtime::Program;
use crate::session::RunError;
use crate::watch::reload::{self, Folders, Trigger};

/// The candidate a session starts with.
#[derive(Clone)]
pub struct Candidate {
    /// The candidate's rules folder, and the live workflows it is checked against.
    pub folders: Folders,
    /// The candidate as loaded at start.
    pub rules: Arc<RuleSet>,
    /// The fingerprint of its files before loading.
    pub loaded: u64,
}

impl Candidate {
    /// The candidate of `dir`, from `program` (its rules, loaded and checked against the live
    /// workflows by the caller).
    pub fn new(dir: PathBuf, live: &Folders, program: Program) -> Candidate {
        let folders = Folders {
            rules: dir,
            ..live.clone()
        };
        let loaded = reload::fingerprint(&folders);
        Candidate {
            folders,
            rules: program.rules.clone(),
            loaded,
        }
    }
}

/// The version row of a candidate's rules, so that its hash names its files (`show --hash`,
/// `diff --candidate HASH`).
fn versions(rules: &Arc<RuleSet>) -> Vec<crate::store::Version> {
    vec![crate::store::Version {
        kind: "rules".into(),
        hash: rules.hash().to_string(),
        name: rules.dir().display().to_string(),
        files: rules.texts().to_vec(),
        first_seen: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }]
}

/// Sets the session's runner screening with `candidate` and starts its reloader.
pub(super) fn start(
    session: &mut Session<'_>,
    candidate: &Candidate,
    notify: bool,
    tx: SyncSender<Msg>,
) -> Result<(), RunError> {
    let home = session.shops.home().runner.program().shop().to_string();
    session
        .writer
        .save_versions(&home, versions(&candidate.rules))?;
    session
        .shops
        .home()
        .runner
        .set_shadow(Some(candidate.rules.clone()));
    let (req_tx, req_rx) = channel();
    let watcher = if notify {
        reload::notifier(&candidate.folders, req_tx.clone()).ok()
    } else {
        None
    };
    let folders = candidate.folders.clone();
    let loaded = candidate.loaded;
    std::thread::spawn(move || {
        reload::run(folders, loaded, (req_tx, req_rx), watcher, tx, shadow_msg);
    });
    session.note(&format!(
        "shadow: candidate rules {} from `{}` screen beside the live rules; decisions kept, never acted on",
        candidate.rules.hash(),
        candidate.folders.rules.display()
    ));
    Ok(())
}

fn shadow_msg(
    _shop: String,
    candidate: Box<Result<Program, String>>,
    trigger: Trigger,
    started: Instant,
) -> Msg {
    Msg::Shadow {
        candidate,
        trigger,
        started,
    }
}

impl Session<'_> {
    /// A reloaded candidate: swapped in between two events, or refused with the last good one
    /// kept.
    pub(super) fn shadow_candidate(
        &mut self,
        candidate: Result<Program, String>,
        trigger: Trigger,
        started: Instant,
    ) -> Result<(), RunError> {
        let old = self
            .shops
            .home()
            .runner
            .shadow_rules()
            .unwrap_or_default()
            .to_string();
        match candidate {
            Err(why) => {
                metrics::counter!("sampleflow_shadow_reloads_total", "result" => "refused")
                    .increment(1);
                self.note(&format!(
                    "shadow reload refused ({}): the candidate's files do not make a valid, tested set; candidate rules {old} keep screening\n{}",
                    trigger.as_str(),
                    why.trim_end()
                ));
            }
            Ok(program) if program.rules.hash() == old => {
                self.note(&format!("shadow reload: no change ({})", trigger.as_str()));
            }
            Ok(program) => {
                let home = self.shops.home().runner.program().shop().to_string();
                self.writer.save_versions(&home, versions(&program.rules))?;
                let new = program.rules.hash().to_string();
                self.shops.home().runner.set_shadow(Some(program.rules));
                metrics::counter!("sampleflow_shadow_reloads_total", "result" => "applied")
                    .increment(1);
                self.note(&format!(
                    "shadow reload: candidate rules {old} -> {new}; {}, {} ms",
                    trigger.as_str(),
                    started.elapsed().as_millis()
                ));
            }
        }
        Ok(())
    }

    /// The candidate's faults since the last call, to the log and the metrics.
    pub(super) fn shadow_faults(&mut self) {
        let faults: Vec<String> = self.shops.home().runner.drain_shadow_faults().collect();
        if faults.is_empty() {
            return;
        }
        metrics::counter!("sampleflow_shadow_faults_total").increment(faults.len() as u64);
        for f in faults {
            self.note(&format!("shadow rule fault (never acted on): {f}"));
        }
    }
}
