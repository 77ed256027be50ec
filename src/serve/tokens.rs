//! The tokens file, live: read again on SIGHUP and when it changes (a look at its size, time and
//! inode once a second: one `stat`, no measurable CPU). A token removed from the file gets 401
//! from then on and the console sessions it opened end; a file that does not parse leaves the
//! last good tokens in force, and the log says where it is wrong (file:line:column).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::auth::Tokens;
use super::App;

/// How often the file is looked at.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// The tokens in force and where they come from.
pub(crate) struct Keys {
    path: PathBuf,
    current: RwLock<Arc<Tokens>>,
}

impl Keys {
    pub fn load(path: &Path) -> Result<Keys, String> {
        Ok(Keys {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(Tokens::load(path)?)),
        })
    }

    /// The tokens in force now.
    pub fn current(&self) -> Arc<Tokens> {
        match self.current.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Reads the file again: the names it no longer holds, or why it was not taken.
    fn reload(&self) -> Result<(usize, Vec<String>), String> {
        let new = Arc::new(Tokens::load(&self.path)?);
        let old = self.current();
        let kept = new.names();
        let removed = old
            .names()
            .into_iter()
            .filter(|n| !kept.contains(n))
            .map(str::to_string)
            .collect();
        let count = kept.len();
        match self.current.write() {
            Ok(mut t) => *t = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
        Ok((count, removed))
    }
}

impl App {
    /// Reads the tokens file again (`why`: SIGHUP, a change), ends the console sessions of
    /// tokens no longer in it, and says what happened on stderr.
    pub fn reload_tokens(&self, why: &str) {
        let Some(keys) = &self.tokens else {
            return;
        };
        match keys.reload() {
            Ok((count, removed)) => {
                let ended = self.console.keep_sessions_of(&keys.current().keys());
                let removed = if removed.is_empty() {
                    String::new()
                } else {
                    format!("; removed: {}", removed.join(", "))
                };
                eprintln!(
                    "tokens: reloaded `{}` ({why}): {count} tokens{removed}; {ended} console sessions ended",
                    keys.path.display()
                );
            }
            Err(e) => {
                eprintln!("tokens: reload refused ({why}): {e}; the last good tokens stay in force")
            }
        }
    }
}

/// What tells a change of the file: its size, modification time and inode (a file replaced by
/// a rename is a new inode).
fn stamp(path: &Path) -> Option<(u64, Option<std::time::SystemTime>, u64)> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok(), m.ino()))
}

/// Looks at the tokens file once a second and reloads it when it changed.
pub(super) fn watch_file(app: &Arc<App>) {
    let Some(keys) = &app.tokens else {
        return;
    };
    let path = keys.path.clone();
    let app = Arc::downgrade(app);
    std::thread::spawn(move || {
        let mut last = stamp(&path);
        loop {
            std::thread::sleep(LOOK_EVERY);
            let Some(app) = app.upgrade() else {
                return;
            };
            let now = stamp(&path);
            if now != last {
                last = now;
                // A file being written may be caught half-way: a reload that fails is tried
                // again at the next change, and the last good tokens hold meanwhile.
                app.reload_tokens("the file changed");
            }
        }
    });
}
