//! Whether a live session takes writes: `serve`'s `/readyz` asks. The session says how each
//! commit went and when it stopped; nothing here touches the store.

use std::sync::Mutex;

use chrono::{DateTime, Utc};

/// A session's health, shared with whoever asks.
#[derive(Debug, Default)]
pub struct Health(Mutex<State>);

#[derive(Debug, Default)]
struct State {
    running: bool,
    stopped: Option<String>,
    /// The last commit's failure, cleared by the next that succeeds.
    failed: Option<String>,
    last_commit: Option<DateTime<Utc>>,
}

impl Health {
    /// The session took the store and applies what it is handed.
    pub fn started(&self) {
        if let Ok(mut s) = self.0.lock() {
            s.running = true;
        }
    }

    /// The session ended: nothing is applied any more.
    pub fn stopped(&self, why: &str) {
        if let Ok(mut s) = self.0.lock() {
            s.running = false;
            s.stopped = Some(why.to_string());
        }
    }

    /// How a commit went.
    pub fn committed(&self, result: Result<(), String>) {
        if let Ok(mut s) = self.0.lock() {
            match result {
                Ok(()) => {
                    s.failed = None;
                    s.last_commit = Some(Utc::now());
                }
                Err(e) => s.failed = Some(e),
            }
        }
    }

    /// `Ok` with what is known when the store takes writes, else why not.
    pub fn store(&self) -> Result<String, String> {
        let s = self
            .0
            .lock()
            .map_err(|_| "the session's state is unreadable".to_string())?;
        if let Some(e) = &s.failed {
            return Err(format!("the last commit failed: {e}"));
        }
        if !s.running {
            return Err(match &s.stopped {
                Some(why) => format!("the writer stopped ({why})"),
                None => "the writer is starting".to_string(),
            });
        }
        Ok(match s.last_commit {
            Some(at) => format!(
                "the writer runs; last commit {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            None => "the writer runs; nothing committed yet".to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_while_running_and_committing() {
        let h = Health::default();
        assert!(h.store().is_err(), "starting");
        h.started();
        assert!(h.store().is_ok());
        h.committed(Err("disk I/O error".into()));
        assert!(h.store().unwrap_err().contains("disk I/O error"));
        h.committed(Ok(()));
        assert!(h.store().is_ok());
        h.stopped("SIGTERM");
        assert!(h.store().unwrap_err().contains("SIGTERM"));
    }
}
