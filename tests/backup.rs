//! `sampleflow backup FILE` on the real binary: taken beside a live `serve` that has just been
//! posted the example's events, the copy reads (`show --all`) exactly as the store does; it is
//! one file with no log beside it; `--db` of it is all a restore takes; an existing target is
//! bad usage and is left as it was.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::serve::Server;
use common::stderr;

/// `show --all` of the store at `db`.
fn show_all(db: &Path) -> String {
    let out = common::bin(db).args(["show", "--all"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_backup_beside_a_live_serve_reads_as_the_store_and_restores() {
    let server = Server::open("2026-03-27T05:00:00Z");
    let events = std::fs::read_to_string("examples/events.jsonl").unwrap();
    let results = server.events(None, &events);
    assert_eq!(
        results.len(),
        events.lines().filter(|l| !l.trim().is_empty()).count()
    );

    let db = server.path("s.db");
    let copy = server.path("backup/s-copy.db");
    std::fs::create_dir_all(server.path("backup")).unwrap();
    let out = common::bin(&db).arg("backup").arg(&copy).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("restore by running with `--db "),
        "{}",
        stderr(&out)
    );

    // One plain file: no log, and its header says a rollback journal.
    let names: Vec<String> = std::fs::read_dir(server.path("backup"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["s-copy.db"]);
    let header = std::fs::read(&copy).unwrap();
    assert_eq!((header[18], header[19]), (1, 1));

    let original = show_all(&db);
    assert_eq!(original.lines().count(), 54);
    assert_eq!(show_all(&copy), original);

    // An existing target: bad usage, the file untouched, nothing else written.
    let before = std::fs::read(&copy).unwrap();
    let out = common::bin(&db).arg("backup").arg(&copy).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&copy).unwrap(), before);
    assert_eq!(std::fs::read_dir(server.path("backup")).unwrap().count(), 1);
    let (_dir, _) = server.stop();

    // Restoring is naming it: a writer takes it as it is and goes on.
    let out = common::bin(&copy)
        .args(["review", "s50", "--approve", "--at", "2026-03-27T09:00:00Z"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(show_all(&copy).contains("\"sample\":\"s50\",\"state\":\"awaiting_shipment\""));
}

#[test]
fn a_backup_taken_while_events_stream_in_is_a_whole_store() {
    let server = Server::open("2026-03-27T05:00:00Z");
    let events = std::fs::read_to_string("examples/events.jsonl").unwrap();
    let lines: Vec<&str> = events.lines().collect();
    let db = server.path("s.db");
    std::thread::scope(|s| {
        let poster = s.spawn(|| {
            for chunk in lines.chunks(10) {
                server.events(None, &(chunk.join("\n") + "\n"));
            }
        });
        let mut n = 0;
        while !poster.is_finished() || n == 0 {
            n += 1;
            let copy = server.path(&format!("copy-{n}.db"));
            let out = common::bin(&db).arg("backup").arg(&copy).output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            // Every copy is a store a reader opens, whatever moment it caught.
            let check = common::bin(&copy)
                .args(["queue", "--format", "json"])
                .output()
                .unwrap();
            assert!(check.status.success(), "{}", stderr(&check));
        }
    });
    let last = server.path("last.db");
    let out = common::bin(&db).arg("backup").arg(&last).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(show_all(&last), show_all(&db));
}
