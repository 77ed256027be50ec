//! A consistent copy of an SQLite store, taken while a writer runs: SQLite's online backup API
//! reads one snapshot of the database (the writer's log included, in WAL mode the writer is never
//! held up) into a file of its own, which is then made a plain single file (rollback journal, no
//! `-wal` beside it) that every reader opens as it opens the original and that `--db` restores.
//!
//! The copy is written under a hidden name beside the target and linked to the target's name only
//! once it is whole and checked: the target never holds half a store, and a file that appears
//! under that name meanwhile is never overwritten.

use std::path::{Path, PathBuf};

use rusqlite::backup::StepResult;
use rusqlite::{Connection, OpenFlags};

use super::{SqliteStore, StoreError};

/// How often a copy that finds the store locked tries again, 50 ms apart.
const BUSY_TRIES: u32 = 200;

/// Why a backup was not made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// The target exists: nothing was touched.
    #[error("`{0}` already exists; a backup never overwrites a file")]
    Exists(PathBuf),
    #[error("`{path}`: {source}")]
    Store { path: PathBuf, source: StoreError },
    #[error("`{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the copy failed its check ({0}); nothing was left under the target's name")]
    Check(String),
    /// A PostgreSQL store: PostgreSQL's own tools back it up.
    #[error("`{0}` is a PostgreSQL store, which `pg_dump` backs up (and `pg_restore` restores), not `sampleflow backup`")]
    Postgres(String),
}

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub bytes: u64,
}

/// Copies the store at `db` to the new file `to`.
pub fn backup(db: &Path, to: &Path) -> Result<Copied, BackupError> {
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(BackupError::Exists(to.to_path_buf()));
    }
    if super::is_url(db) {
        return Err(BackupError::Postgres(super::shown(db)));
    }
    let store_err = |source| BackupError::Store {
        path: db.to_path_buf(),
        source,
    };
    if !db.exists() {
        return Err(store_err(StoreError::Missing));
    }
    // A sampleflow store of this version, or refused as every reader refuses it.
    drop(SqliteStore::open_read(db).map_err(store_err)?);
    let tmp = hidden_beside(to);
    let result = copy_into(db, &tmp).and_then(|bytes| {
        publish(&tmp, to)?;
        Ok(Copied { bytes })
    });
    for leftover in [tmp.clone(), with_suffix(&tmp, "-journal")] {
        let _ = std::fs::remove_file(leftover);
    }
    result
}

/// `.NAME.tmp-PID` in the target's folder.
fn hidden_beside(to: &Path) -> PathBuf {
    let name = to
        .file_name()
        .map_or_else(|| "backup".into(), |n| n.to_string_lossy().into_owned());
    to.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Backs `db` up into the new file `tmp`, makes it a single checkpointed file, checks it and
/// syncs it; gives its size.
fn copy_into(db: &Path, tmp: &Path) -> Result<u64, BackupError> {
    let sqlite = |source: rusqlite::Error| BackupError::Store {
        path: db.to_path_buf(),
        source: StoreError::Sqlite(source),
    };
    let io = |source| BackupError::Io {
        path: tmp.to_path_buf(),
        source,
    };
    let src = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    src.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(sqlite)?;
    {
        let mut dst = Connection::open(tmp).map_err(sqlite)?;
        // The store's data is the shop's and its creators': the copy is as private as the store.
        if let Ok(meta) = std::fs::metadata(db) {
            std::fs::set_permissions(tmp, meta.permissions()).map_err(io)?;
        }
        let copy = rusqlite::backup::Backup::new(&src, &mut dst).map_err(sqlite)?;
        // All pages in one step: one read snapshot, so the copy is of one moment even while the
        // writer commits (in steps, each commit of the writer would restart the copy).
        let mut tries = 0;
        loop {
            match copy.step(-1).map_err(sqlite)? {
                StepResult::Done => break,
                StepResult::More => {}
                _ if tries < BUSY_TRIES => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                _ => {
                    return Err(sqlite(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                        Some("the store stayed locked for 10 s".into()),
                    )))
                }
            }
        }
    }
    drop(src);
    {
        // The pages carry the store's WAL mode: the copy becomes a plain rollback-journal file,
        // its log checkpointed into it and removed.
        let dst = Connection::open(tmp).map_err(sqlite)?;
        let mode: String = dst
            .pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))
            .map_err(sqlite)?;
        if !mode.eq_ignore_ascii_case("delete") {
            return Err(BackupError::Check(format!("journal mode `{mode}`")));
        }
        let check: String = dst
            .pragma_query_value(None, "quick_check", |r| r.get(0))
            .map_err(sqlite)?;
        if check != "ok" {
            return Err(BackupError::Check(check));
        }
    }
    for log in ["-wal", "-shm"] {
        if with_suffix(tmp, log).exists() {
            return Err(BackupError::Check(format!("a `{log}` file was left")));
        }
    }
    // Readable as every reader reads a store.
    drop(
        SqliteStore::open_read(tmp).map_err(|source| BackupError::Store {
            path: tmp.to_path_buf(),
            source,
        })?,
    );
    let file = std::fs::File::open(tmp).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(file.metadata().map_err(io)?.len())
}

/// Gives the finished copy the target's name, never replacing a file that has it: a hard link
/// (which fails on an existing name), or where the file system has none, a rename after a last
/// look.
fn publish(tmp: &Path, to: &Path) -> Result<(), BackupError> {
    let io = |source| BackupError::Io {
        path: to.to_path_buf(),
        source,
    };
    match std::fs::hard_link(tmp, to) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(BackupError::Exists(to.to_path_buf()))
        }
        Err(_) => {
            if std::fs::symlink_metadata(to).is_ok() {
                return Err(BackupError::Exists(to.to_path_buf()));
            }
            std::fs::rename(tmp, to).map_err(io)?;
        }
    }
    // The new name is durable once its folder is.
    if let Some(dir) = to.parent().filter(|p| !p.as_os_str().is_empty()) {
        if let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Batch, Store};

    fn store_with_one_run(path: &Path) {
        let mut store = SqliteStore::open(path).expect("open");
        let mut batch = Batch::default();
        batch.run.id = 1;
        batch.run.input = "a.jsonl".into();
        batch.run.lines = 7;
        store.commit(&batch).expect("commit");
    }

    #[test]
    fn a_backup_is_one_plain_file_a_reader_opens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("s.db");
        store_with_one_run(&db);
        let to = dir.path().join("copy.db");
        let copied = backup(&db, &to).expect("backup");
        assert_eq!(copied.bytes, std::fs::metadata(&to).expect("copy").len());
        // The header says rollback journal (1), not WAL (2): no log is needed beside it.
        let header = std::fs::read(&to).expect("read");
        assert_eq!((header[18], header[19]), (1, 1));
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("copy") || n.starts_with(".copy"))
            .collect();
        assert_eq!(names, vec!["copy.db".to_string()]);
        let mut read = SqliteStore::open_read(&to).expect("a reader opens it");
        assert_eq!(read.last_run().expect("run").map(|r| r.lines), Some(7));
    }

    #[test]
    fn an_existing_target_is_left_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("s.db");
        store_with_one_run(&db);
        let to = dir.path().join("copy.db");
        std::fs::write(&to, "mine").expect("write");
        assert!(matches!(backup(&db, &to), Err(BackupError::Exists(_))));
        assert_eq!(std::fs::read_to_string(&to).expect("read"), "mine");
        // Nor is a store missing made up.
        let none = dir.path().join("none.db");
        assert!(matches!(
            backup(&none, &dir.path().join("x.db")),
            Err(BackupError::Store {
                source: StoreError::Missing,
                ..
            })
        ));
        assert!(!none.exists());
    }
}
