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

use super::Msg;

/// Where applied files go, inside the spool folder.
pub const ARCHIVE: &str = "archive";

/// Where the output of an ops command's file goes, inside the spool folder, for the command
/// that is waiting for it.
pub const REPLIES: &str = "replies";

/// Files named so (`review`, `ship`, `adjust` write them) get a reply.
pub const OPS_PREFIX: &str = "ops-";

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

/// True for a file ready to be applied.
pub fn ready(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    path.is_file() && !name.starts_with('.') && !name.ends_with(".tmp") && !name.ends_with(".part")
}

/// The files waiting in `dir`, in name order.
pub fn waiting(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| ready(p))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Moves an applied file to `archive/`, under a new name if that one is taken.
pub fn archive(dir: &Path, file: &Path) -> std::io::Result<PathBuf> {
    let archive = dir.join(ARCHIVE);
    std::fs::create_dir_all(&archive)?;
    let name = file
        .file_name()
        .map_or_else(|| "events".into(), |n| n.to_string_lossy().into_owned());
    let mut target = archive.join(&name);
    let mut n = 1;
    while target.exists() {
        target = archive.join(format!("{name}.{n}"));
        n += 1;
    }
    std::fs::rename(file, &target)?;
    Ok(target)
}

/// The scanner's loop: sends each ready file once, in name order, when notify or the poll sees it.
/// `done` gives back the files the runner has archived (or failed on), so a name can come again.
pub fn run(
    dir: PathBuf,
    poll: Duration,
    use_notify: bool,
    done: Receiver<PathBuf>,
    to_runner: SyncSender<Msg>,
) {
    let (tx, seen) = std::sync::mpsc::channel::<()>();
    let watcher = if use_notify {
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok() {
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
        for file in waiting(&dir) {
            if sent.insert(file.clone()) && to_runner.send(Msg::SpoolFile(file)).is_err() {
                return;
            }
        }
        match seen.recv_timeout(poll) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => std::thread::sleep(poll),
        }
    }
}
