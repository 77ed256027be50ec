//! The spool folder: files of events moved in are applied, then moved to `archive/`.
//!
//! A file is taken when it appears (notify) or at the next scan (the polling fallback). Hidden
//! files and names ending in `.tmp` or `.part` are still being written and wait. A file is
//! applied whole and committed before it is archived; after a crash between the two it is read
//! again and each of its events is refused as `duplicate_id`, so nothing is applied twice.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

/// Where applied files go, inside the spool folder.
pub const ARCHIVE: &str = "archive";

/// Where the output of an ops command's file goes, inside the spool folder, for the command
/// that is waiting for it.
pub const REPLIES: &str = "replies";

/// Files named so (`review`, `ship`, `adjust` write them) get a reply.
pub use crate::model::ops::OPS_PREFIX;

/// The reply to the spool file named `name`.
pub fn reply_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(REPLIES).join(name)
}

/// Writes the reply to `name` whole or not at all (a hidden file, then a rename).
pub fn write_reply(dir: &Path, name: &str, lines: &[String]) -> std::io::Result<()> {
    let replies = dir.join(REPLIES);
    std::fs::create_dir_all(&replies)?;
    let tmp = replies.join(format!(".{name}.tmp"));
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, reply_path(dir, name))
}

/// Where entries that are not files of events to read go, unread.
pub const REJECTED: &str = "rejected";

/// What the scanner makes of one entry of the spool folder.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    /// A finished file of events.
    Ready,
    /// Still being written (a hidden name, `.tmp`, `.part`), or a folder: left alone.
    Wait,
    /// Never read: why.
    Refused(String),
}

/// What `path` is to the spool. Links are not followed: a link is refused, whatever it points to.
pub fn entry(path: &Path) -> Entry {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Entry::Wait;
    };
    let Some(name) = path.file_name() else {
        return Entry::Wait;
    };
    if meta.is_dir() {
        return Entry::Wait;
    }
    let lossy = name.to_string_lossy();
    if lossy.starts_with('.') || lossy.ends_with(".tmp") || lossy.ends_with(".part") {
        return Entry::Wait;
    }
    if meta.file_type().is_symlink() {
        return Entry::Refused("a symbolic link (links are not followed)".into());
    }
    if !meta.is_file() {
        return Entry::Refused("not a regular file".into());
    }
    match name.to_str() {
        None => Entry::Refused("its name is not UTF-8".into()),
        Some(n) if n.chars().any(char::is_control) => {
            Entry::Refused("its name holds control characters".into())
        }
        Some(_) => Entry::Ready,
    }
}

/// The files waiting in `dir`, in name order, and the entries refused, with why.
pub fn scan(dir: &Path) -> (Vec<PathBuf>, Vec<(PathBuf, String)>) {
    let mut ready = Vec::new();
    let mut refused = Vec::new();
    for path in std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
    {
        match entry(&path) {
            Entry::Ready => ready.push(path),
            Entry::Refused(why) => refused.push((path, why)),
            Entry::Wait => {}
        }
    }
    ready.sort();
    refused.sort();
    (ready, refused)
}

/// The files waiting in `dir`, in name order.
#[cfg(test)]
pub fn waiting(dir: &Path) -> Vec<PathBuf> {
    scan(dir).0
}

/// A file's name as a log line may show it: lossy, every control character escaped.
pub fn shown(path: &Path) -> String {
    path.file_name().map_or_else(String::new, |n| {
        n.to_string_lossy().escape_debug().to_string()
    })
}

/// A whole path, the same way.
pub fn shown_path(path: &Path) -> String {
    path.to_string_lossy().escape_debug().to_string()
}

/// Moves a refused entry to `rejected/` (the link itself, not what it points to).
pub fn reject(dir: &Path, file: &Path) -> std::io::Result<PathBuf> {
    move_into(&dir.join(REJECTED), file)
}

/// Moves an applied file to `archive/`, under a new name if that one is taken.
pub fn archive(dir: &Path, file: &Path) -> std::io::Result<PathBuf> {
    move_into(&dir.join(ARCHIVE), file)
}

/// Moves `file` into the folder `to`, adding `.1`, `.2`... to its name if that one is taken.
fn move_into(to: &Path, file: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(to)?;
    let name = file
        .file_name()
        .map_or_else(|| "events".into(), std::ffi::OsStr::to_os_string);
    let mut target = to.join(&name);
    let mut n = 1;
    while std::fs::symlink_metadata(&target).is_ok() {
        let mut numbered = name.clone();
        numbered.push(format!(".{n}"));
        target = to.join(numbered);
        n += 1;
    }
    std::fs::rename(file, &target)?;
    Ok(target)
}

/// Whether a notify event in the spool folder may have brought a file to take. Opening or
/// reading the folder (the scan itself does both) is no change: waking on it would make every
/// scan wake the scanner again, forever, burning a core while nothing arrives. A file closed
/// after writing still counts: it may have been written in place.
fn wakes(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

/// The scanner's loop: sends each ready file once, in name order, when notify or the poll sees it.
/// `done` gives back the files the runner has archived (or failed on), so a name can come again.
/// `ready` and `refused` make the runner's message for a file to apply or one refused unread.
pub fn run<M: Send>(
    dir: PathBuf,
    poll: Duration,
    use_notify: bool,
    done: Receiver<PathBuf>,
    to_runner: SyncSender<M>,
    ready_msg: fn(PathBuf) -> M,
    refused_msg: fn(PathBuf, String) -> M,
) {
    let (tx, seen) = std::sync::mpsc::channel::<()>();
    let watcher = if use_notify {
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok_and(|e| wakes(&e.kind)) {
                let _ = tx.send(());
            }
        })
        .and_then(|mut w| w.watch(&dir, RecursiveMode::NonRecursive).map(|()| w))
    } else {
        Err(notify::Error::generic("turned off by --poll-only"))
    };
    if let Err(e) = &watcher {
        eprintln!("spool: notify unavailable ({e}); scanning every {poll:?}");
    }
    let mut sent: BTreeSet<PathBuf> = BTreeSet::new();
    loop {
        while let Ok(file) = done.try_recv() {
            sent.remove(&file);
        }
        let (ready, refused) = scan(&dir);
        let msgs = ready.into_iter().map(|f| (f.clone(), ready_msg(f))).chain(
            refused
                .into_iter()
                .map(|(f, why)| (f.clone(), refused_msg(f, why))),
        );
        for (file, msg) in msgs {
            if sent.insert(file) && to_runner.send(msg).is_err() {
                return;
            }
        }
        match seen.recv_timeout(poll) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(poll),
        }
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RenameMode};

    use super::wakes;

    #[test]
    fn reading_the_folder_does_not_wake_the_scanner_but_a_new_name_does() {
        // What the scan itself causes: it opens and reads the folder.
        assert!(!wakes(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!wakes(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(!wakes(&EventKind::Access(AccessKind::Read)));
        // What brings a file: a rename into the folder, a new file, a file written in place.
        assert!(wakes(&EventKind::Modify(ModifyKind::Name(RenameMode::To))));
        assert!(wakes(&EventKind::Create(CreateKind::File)));
        assert!(wakes(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
    }
}
