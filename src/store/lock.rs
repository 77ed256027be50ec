//! One writer per store: an OS file lock (`flock`, through `std::fs::File::try_lock`) on
//! `<db>.lock`, held for as long as a writing command runs.
//!
//! The kernel releases the lock when its holder exits, however it exits (kill -9 included), so a
//! dead holder never blocks the next writer and nothing has to be cleaned up. The file's text
//! only describes the holder (command, pid, start, where it takes events) for the message a
//! second writer prints and for ops commands that hand their event over; the lock itself is the
//! truth, the text is never trusted while the file is unlocked.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Who holds a store, as the holder wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    /// The command (`run`, `watch`, `review`...).
    pub command: String,
    pub pid: u32,
    /// The host it runs on: a PostgreSQL store's writer may run on any machine.
    #[serde(default)]
    pub host: Option<String>,
    /// When it took the store (wall clock, RFC 3339).
    pub started: String,
    /// The spool folder it takes events from (absolute), for `watch --spool` and `serve`.
    #[serde(default)]
    pub spool: Option<PathBuf>,
    /// The address `serve` answers HTTP on, for ops commands that hand their event over.
    #[serde(default)]
    pub listen: Option<String>,
}

impl Holder {
    /// This process, running `command`, now.
    pub fn me(command: &str) -> Self {
        Holder {
            command: command.to_string(),
            pid: std::process::id(),
            host: whoami::hostname().ok().filter(|h| !h.is_empty()),
            started: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            spool: None,
            listen: None,
        }
    }

    /// `watch --spool /x (pid 12 on host, since 2026-...)`
    pub fn describe(&self) -> String {
        let mut spool = self
            .spool
            .as_ref()
            .map_or(String::new(), |d| format!(" --spool {}", d.display()));
        if let Some(addr) = &self.listen {
            spool.push_str(&format!(" --listen {addr}"));
        }
        let host = self
            .host
            .as_ref()
            .map_or(String::new(), |h| format!(" on {h}"));
        format!(
            "`{}{spool}` (pid {}{host}, since {})",
            self.command, self.pid, self.started
        )
    }
}

/// Why the lock was not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Another live process writes to this store; what it says of itself, when it said it.
    #[error("the store is held by {}", .0.as_ref().map_or_else(|| "another process".to_string(), Holder::describe))]
    Held(Option<Holder>),
    #[error("cannot lock `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The store's writer lock, released when dropped (or when the process dies).
#[derive(Debug)]
pub struct WriterLock {
    _held: Held,
}

/// What holds the lock: the locked file, or the connection holding a PostgreSQL advisory lock.
#[derive(Debug)]
enum Held {
    File { _file: File },
    Postgres { _lock: Box<super::postgres::PgLock> },
}

impl From<super::postgres::PgLock> for WriterLock {
    fn from(lock: super::postgres::PgLock) -> Self {
        WriterLock {
            _held: Held::Postgres {
                _lock: Box::new(lock),
            },
        }
    }
}

/// The lock file of the store at `db`.
pub fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the writer lock of the store at `db` for `holder`, at once or not at all.
#[allow(clippy::result_large_err)] // the holder's description, once per command
pub fn acquire(db: &Path, holder: &Holder) -> Result<WriterLock, LockError> {
    let path = lock_path(db);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Err(LockError::Held(read(&mut file))),
        Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
    }
    let text = serde_json::to_string(holder).map_err(|e| io(e.into()))?;
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.flush().map_err(io)?;
    Ok(WriterLock {
        _held: Held::File { _file: file },
    })
}

/// The holder's own description. A holder that has just taken the lock may not have written it
/// yet: a few short retries cover that moment.
fn read(file: &mut File) -> Option<Holder> {
    for _ in 0..20 {
        let mut text = String::new();
        if file.seek(SeekFrom::Start(0)).is_ok() && file.read_to_string(&mut text).is_ok() {
            if let Ok(holder) = serde_json::from_str(&text) {
                return Some(holder);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_told_who_holds_the_store_until_it_lets_go() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("s.db");
        let mut first = Holder::me("watch");
        first.spool = Some(dir.path().join("inbox"));
        let lock = acquire(&db, &first).expect("free");
        match acquire(&db, &Holder::me("run")) {
            Err(LockError::Held(Some(h))) => assert_eq!(h, first),
            other => panic!("expected held, got {other:?}"),
        }
        drop(lock);
        let again = acquire(&db, &Holder::me("run")).expect("free again");
        drop(again);
    }
}
