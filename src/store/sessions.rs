//! Console sessions, kept in the store so that a restart of `serve` signs nobody out: each row
//! is the SHA-256 of a session's id (never the id itself: the store leaks no cookie), the
//! fingerprint of the token that opened it, and when it started and was last used.
//!
//! The runner's thread owns the store's writes; sessions are written rarely (sign-in, sign-out,
//! a use at most once every [`TOUCH_EVERY`]) through a small connection of their own that waits
//! for the runner's commits (busy timeout). Each backend implements one trait,
//! [`SessionStore`]; [`Sessions`] opens the one `--db` names.
//!
//! Sessions are the deployment's, not a shop's: a sign-in is its token's, and the token's shops
//! decide what it may see. They are kept under shop `default` (the table's key leads with
//! `shop` like every other table's).

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use sha2::{Digest, Sha256};

use super::postgres::PgSessions;
use super::{SqliteStore, StoreError};

/// A session ends after this long unused.
pub const IDLE_SECS: i64 = 12 * 3600;
/// A session's last use is written at most this often (in seconds).
pub const TOUCH_EVERY: i64 = 300;

/// The console's sessions as a store keeps them: what every backend implements. Methods take
/// `&self`: the console's handlers share one.
pub trait SessionStore: Send + Sync {
    /// Keeps a new session `id` of the token with fingerprint `key`, at `now` (Unix seconds);
    /// expired sessions go, and the least recently used while there are too many.
    fn start(&self, id: &str, key: &str, now: i64) -> Result<(), StoreError>;
    /// The session `id` at `now`, if it is kept and was used in the last 12 hours; its use is
    /// written when the last was more than [`TOUCH_EVERY`] ago. `id` is not empty.
    fn find(&self, id: &str, now: i64) -> Result<Option<Found>, StoreError>;
    /// Ends the session `id`.
    fn end(&self, id: &str) -> Result<(), StoreError>;
    /// Ends every session opened by a token whose fingerprint is not in `keys`; how many ended.
    fn keep_only(&self, keys: &[String]) -> Result<usize, StoreError>;
    /// Sessions kept.
    fn count(&self) -> Result<usize, StoreError>;
}

/// The console's sessions in the store `--db` names.
pub struct Sessions(Box<dyn SessionStore>);

/// The sessions of an SQLite store: a connection of their own to its file.
struct SqliteSessions {
    conn: Mutex<Connection>,
    /// Sessions kept at most (the least recently used go first).
    cap: usize,
}

/// A session found: the fingerprint of the token that opened it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub key: String,
}

/// What a session id is kept as.
fn hashed(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

impl Sessions {
    /// Sessions at most, by default: visitors without a cookie cannot grow the table without
    /// bound.
    pub const CAP: usize = 10_000;

    /// Opens the sessions of the store at `path` (a writer has made or upgraded it already).
    pub fn open(path: &Path) -> Result<Sessions, StoreError> {
        if super::postgres::is_url(path) {
            return Ok(Sessions(Box::new(PgSessions::open(path, Self::CAP)?)));
        }
        // Checked the way every reader checks the store: ours, at this schema.
        SqliteStore::open_read(path)?;
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(Sessions(Box::new(SqliteSessions {
            conn: Mutex::new(conn),
            cap: Self::CAP,
        })))
    }

    /// An in-memory table, for tests.
    pub fn in_memory(cap: usize) -> Result<Sessions, StoreError> {
        Ok(Sessions(Box::new(SqliteSessions::in_memory(cap)?)))
    }

    /// See [`SessionStore::start`].
    pub fn start(&self, id: &str, key: &str, now: i64) -> Result<(), StoreError> {
        self.0.start(id, key, now)
    }

    /// See [`SessionStore::find`]; an empty id is no session.
    pub fn find(&self, id: &str, now: i64) -> Result<Option<Found>, StoreError> {
        if id.is_empty() {
            return Ok(None);
        }
        self.0.find(id, now)
    }

    /// See [`SessionStore::end`].
    pub fn end(&self, id: &str) -> Result<(), StoreError> {
        self.0.end(id)
    }

    /// See [`SessionStore::keep_only`].
    pub fn keep_only(&self, keys: &[String]) -> Result<usize, StoreError> {
        self.0.keep_only(keys)
    }

    /// See [`SessionStore::count`].
    pub fn count(&self) -> Result<usize, StoreError> {
        self.0.count()
    }
}

impl SqliteSessions {
    fn in_memory(cap: usize) -> Result<SqliteSessions, StoreError> {
        let conn = Connection::open_in_memory()?;
        conn.execute_batch(
            "CREATE TABLE console_sessions (shop TEXT NOT NULL, id_hash TEXT NOT NULL,
                key TEXT NOT NULL, started INTEGER NOT NULL, used INTEGER NOT NULL,
                PRIMARY KEY (shop, id_hash)) WITHOUT ROWID;
             CREATE INDEX console_sessions_used ON console_sessions(shop, used);",
        )?;
        Ok(SqliteSessions {
            conn: Mutex::new(conn),
            cap,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SessionStore for SqliteSessions {
    /// Keeps a new session `id` of the token with fingerprint `key`, at `now` (Unix seconds);
    /// expired sessions go, and the least recently used while there are too many.
    fn start(&self, id: &str, key: &str, now: i64) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "DELETE FROM console_sessions WHERE shop = 'default' AND used <= ?1",
            [now - IDLE_SECS],
        )?;
        let count: i64 = conn.query_row(
            "SELECT count(*) FROM console_sessions WHERE shop = 'default'",
            [],
            |r| r.get(0),
        )?;
        let over = count + 1 - self.cap as i64;
        if over > 0 {
            conn.execute(
                "DELETE FROM console_sessions WHERE shop = 'default' AND id_hash IN
                    (SELECT id_hash FROM console_sessions WHERE shop = 'default'
                     ORDER BY used LIMIT ?1)",
                [over],
            )?;
        }
        conn.execute(
            "INSERT OR REPLACE INTO console_sessions (shop, id_hash, key, started, used)
                VALUES ('default', ?1, ?2, ?3, ?3)",
            params![hashed(id), key, now],
        )?;
        Ok(())
    }

    /// The session `id` at `now`, if it is kept and was used in the last 12 hours; its use is
    /// written when the last was more than [`TOUCH_EVERY`] ago.
    fn find(&self, id: &str, now: i64) -> Result<Option<Found>, StoreError> {
        if id.is_empty() {
            return Ok(None);
        }
        let conn = self.conn();
        let hash = hashed(id);
        let row: Option<(String, i64)> = conn
            .query_row(
                "SELECT key, used FROM console_sessions WHERE shop = 'default' AND id_hash = ?1",
                [&hash],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((key, used)) = row else {
            return Ok(None);
        };
        if now - used >= IDLE_SECS {
            conn.execute(
                "DELETE FROM console_sessions WHERE shop = 'default' AND id_hash = ?1",
                [&hash],
            )?;
            return Ok(None);
        }
        if now - used >= TOUCH_EVERY {
            conn.execute(
                "UPDATE console_sessions SET used = ?2 WHERE shop = 'default' AND id_hash = ?1",
                params![hash, now],
            )?;
        }
        Ok(Some(Found { key }))
    }

    /// Ends the session `id`.
    fn end(&self, id: &str) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "DELETE FROM console_sessions WHERE shop = 'default' AND id_hash = ?1",
            [hashed(id)],
        )?;
        Ok(())
    }

    /// Ends every session opened by a token whose fingerprint is not in `keys`; how many ended.
    fn keep_only(&self, keys: &[String]) -> Result<usize, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT DISTINCT key FROM console_sessions WHERE shop = 'default'")?;
        let stored: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut ended = 0;
        for key in stored.iter().filter(|k| !keys.contains(k)) {
            ended += conn.execute(
                "DELETE FROM console_sessions WHERE shop = 'default' AND key = ?1",
                [key],
            )?;
        }
        Ok(ended)
    }

    /// Sessions kept.
    fn count(&self) -> Result<usize, StoreError> {
        let conn = self.conn();
        let n: i64 = conn.query_row(
            "SELECT count(*) FROM console_sessions WHERE shop = 'default'",
            [],
            |r| r.get(0),
        )?;
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_until_it_idles_out() {
        let s = Sessions::in_memory(100).expect("table");
        s.start("abc", "k1", 1_000).expect("start");
        assert_eq!(
            s.find("abc", 2_000).expect("find").map(|f| f.key),
            Some("k1".into())
        );
        assert_eq!(s.find("abd", 2_000).expect("find"), None);
        assert_eq!(s.find("", 2_000).expect("find"), None);
        // Used at 2,000 (written: more than TOUCH_EVERY after 1,000): alive 12 hours from then.
        assert!(s
            .find("abc", 2_000 + IDLE_SECS - 1)
            .expect("find")
            .is_some());
        assert!(s
            .find("abc", 2_000 + 2 * IDLE_SECS)
            .expect("find")
            .is_none());
        assert_eq!(
            s.count().expect("count"),
            0,
            "an expired session is deleted"
        );
    }

    #[test]
    fn the_id_is_never_stored_and_ended_tokens_end_their_sessions() {
        let s = SqliteSessions::in_memory(100).expect("table");
        s.start("secret-id", "k1", 10).expect("start");
        s.start("other", "k2", 10).expect("start");
        let kept: Vec<String> = s
            .conn()
            .prepare("SELECT id_hash FROM console_sessions")
            .expect("prepare")
            .query_map([], |r| r.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert!(!kept.iter().any(|h| h.contains("secret-id")));
        assert!(kept.contains(&hashed("secret-id")));
        assert_eq!(s.keep_only(&["k2".to_string()]).expect("keep"), 1);
        assert!(s.find("secret-id", 11).expect("find").is_none());
        assert!(s.find("other", 11).expect("find").is_some());
        s.end("other").expect("end");
        assert!(s.find("other", 11).expect("find").is_none());
    }

    #[test]
    fn sessions_are_bounded_and_the_least_recently_used_go_first() {
        let s = Sessions::in_memory(3).expect("table");
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            s.start(id, "k", 100 + i as i64).expect("start");
        }
        // `a` used again (written: TOUCH_EVERY later).
        assert!(s.find("a", 100 + TOUCH_EVERY).expect("find").is_some());
        s.start("d", "k", 100 + TOUCH_EVERY + 1).expect("start");
        assert_eq!(s.count().expect("count"), 3);
        assert!(s.find("b", 100 + TOUCH_EVERY + 2).expect("find").is_none());
        assert!(s.find("a", 100 + TOUCH_EVERY + 2).expect("find").is_some());
    }
}
