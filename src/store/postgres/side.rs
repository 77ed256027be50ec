//! What the connector and the console keep beside the runner's rows, on PostgreSQL: the
//! outbox of review calls, unmappable applications, the connector's events, and console
//! sessions. Each method means what the SQLite store's method of the same name means.

use std::path::Path;
use std::sync::Mutex;

use postgres::Client;
use sha2::{Digest, Sha256};

use super::{connect, ConnectionRole, PgStore, DEFAULT_SHOP};
use crate::store::sessions::{Found, IDLE_SECS, TOUCH_EVERY};
use crate::store::{OutboxCall, StoreError};

impl PgStore {
    /// The ids of the events applied so far that begin with `prefix` (the connector's).
    pub fn events_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut out = std::collections::HashSet::new();
        // A first cut by the text of the chunk (`"` opens each id in its JSON list), then by id.
        let rows = self.client.borrow_mut().query(
            "SELECT ids FROM sampleflow.event_chunks
             WHERE shop = $1 AND strpos(ids, '\"' || $2) > 0",
            &[&self.shop, &prefix],
        )?;
        for row in rows {
            let ids: Vec<String> = serde_json::from_str(row.try_get(0)?)?;
            out.extend(ids.into_iter().filter(|id| id.starts_with(prefix)));
        }
        Ok(out)
    }

    /// Every call of the outbox, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxCall>, StoreError> {
        let rows = self.client.borrow_mut().query(
            "SELECT sample, event, decision, reason, state, attempts, code, message, queued_at, updated_at
             FROM sampleflow.outbox WHERE shop = $1 ORDER BY queued_at, sample",
            &[&self.shop],
        )?;
        rows.iter()
            .map(|r| {
                Ok(OutboxCall {
                    sample: r.try_get(0)?,
                    event: r.try_get(1)?,
                    decision: r.try_get(2)?,
                    reason: r.try_get(3)?,
                    state: r.try_get(4)?,
                    attempts: r.try_get(5)?,
                    code: r.try_get(6)?,
                    message: r.try_get(7)?,
                    queued_at: r.try_get(8)?,
                    updated_at: r.try_get(9)?,
                })
            })
            .collect()
    }

    /// Moves one call of the outbox to `state`, with the platform's last answer; committed at
    /// once (a call marked `sending` before it goes is known to be in doubt after a crash).
    pub fn set_call(
        &mut self,
        call: &OutboxCall,
        state: &str,
        code: Option<i64>,
        message: Option<&str>,
        now: &str,
    ) -> Result<(), StoreError> {
        self.client.get_mut().execute(
            "UPDATE sampleflow.outbox SET state = $4, attempts = attempts + $5, code = $6,
                message = $7, updated_at = $8
             WHERE shop = $1 AND sample = $2 AND event = $3",
            &[
                &self.shop,
                &call.sample,
                &call.event,
                &state,
                &i64::from(state == "sending"),
                &code,
                &message,
                &now,
            ],
        )?;
        Ok(())
    }

    /// Keeps (or, with `None`, forgets) why an application could not be mapped.
    pub fn set_unmappable(
        &mut self,
        application: &str,
        product: &str,
        why: Option<&str>,
        now: &str,
    ) -> Result<(), StoreError> {
        let client = self.client.get_mut();
        match why {
            Some(why) => client.execute(
                "INSERT INTO sampleflow.unmappable (shop, application, product, reason, seen_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (shop, application) DO UPDATE
                 SET product = EXCLUDED.product, reason = EXCLUDED.reason, seen_at = EXCLUDED.seen_at",
                &[&self.shop, &application, &product, &why, &now],
            )?,
            None => client.execute(
                "DELETE FROM sampleflow.unmappable WHERE shop = $1 AND application = $2",
                &[&self.shop, &application],
            )?,
        };
        Ok(())
    }

    /// Keeps a creator's platform username (the latest the connector saw), written only when it
    /// changed: every poll sees every application again.
    pub fn set_creator_name(&mut self, creator: &str, username: &str) -> Result<(), StoreError> {
        self.client.get_mut().execute(
            "INSERT INTO sampleflow.creator_names (shop, creator, username) VALUES ($1, $2, $3)
             ON CONFLICT (shop, creator) DO UPDATE SET username = EXCLUDED.username
             WHERE sampleflow.creator_names.username <> EXCLUDED.username",
            &[&self.shop, &creator, &username],
        )?;
        Ok(())
    }

    /// A creator's platform username, where the connector knows it.
    pub fn creator_name(&self, creator: &str) -> Result<Option<String>, StoreError> {
        let row = self.client.borrow_mut().query_opt(
            "SELECT username FROM sampleflow.creator_names WHERE shop = $1 AND creator = $2",
            &[&self.shop, &creator],
        )?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    /// Keeps a product's title (the latest the connector saw), written only when it changed.
    pub fn set_product_title(&mut self, product: &str, title: &str) -> Result<(), StoreError> {
        self.client.get_mut().execute(
            "INSERT INTO sampleflow.product_titles (shop, product, title) VALUES ($1, $2, $3)
             ON CONFLICT (shop, product) DO UPDATE SET title = EXCLUDED.title
             WHERE sampleflow.product_titles.title <> EXCLUDED.title",
            &[&self.shop, &product, &title],
        )?;
        Ok(())
    }

    /// Every product title the connector knows, by product.
    pub fn product_titles(&self) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        let rows = self.client.borrow_mut().query(
            "SELECT product, title FROM sampleflow.product_titles WHERE shop = $1",
            &[&self.shop],
        )?;
        let mut titles = std::collections::BTreeMap::new();
        for row in rows {
            titles.insert(row.try_get(0)?, row.try_get(1)?);
        }
        Ok(titles)
    }

    /// Applications that could not be mapped: application, product, why, when last seen.
    pub fn unmappable(&self) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let rows = self.client.borrow_mut().query(
            "SELECT application, product, reason, seen_at FROM sampleflow.unmappable
             WHERE shop = $1 ORDER BY application",
            &[&self.shop],
        )?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }
}

/// What a session id is kept as.
fn hashed(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// The console's sessions of one shop in a PostgreSQL store: what [`crate::store::Sessions`]
/// does on SQLite, on a connection of their own.
pub struct PgSessions {
    client: Mutex<Client>,
    shop: String,
    cap: usize,
}

impl std::fmt::Debug for PgSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSessions")
            .field("shop", &self.shop)
            .finish()
    }
}

impl PgSessions {
    /// Opens the sessions of the store at `db` (a writer has made or upgraded it already).
    pub fn open(db: &Path, cap: usize) -> Result<PgSessions, StoreError> {
        let mut client = connect(db, ConnectionRole::Write)?;
        super::schema::check_readable(&mut client)?;
        Ok(PgSessions {
            client: Mutex::new(client),
            shop: DEFAULT_SHOP.to_string(),
            cap,
        })
    }

    fn client(&self) -> std::sync::MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// See [`crate::store::Sessions::start`].
    pub fn start(&self, id: &str, key: &str, now: i64) -> Result<(), StoreError> {
        let mut client = self.client();
        let mut tx = client.transaction()?;
        tx.execute(
            "DELETE FROM sampleflow.console_sessions WHERE shop = $1 AND used <= $2",
            &[&self.shop, &(now - IDLE_SECS)],
        )?;
        let count: i64 = tx
            .query_one(
                "SELECT count(*) FROM sampleflow.console_sessions WHERE shop = $1",
                &[&self.shop],
            )?
            .get(0);
        let over = count + 1 - self.cap as i64;
        if over > 0 {
            tx.execute(
                "DELETE FROM sampleflow.console_sessions WHERE shop = $1 AND id_hash IN
                    (SELECT id_hash FROM sampleflow.console_sessions WHERE shop = $1
                     ORDER BY used LIMIT $2)",
                &[&self.shop, &over],
            )?;
        }
        tx.execute(
            "INSERT INTO sampleflow.console_sessions (shop, id_hash, key, started, used)
             VALUES ($1, $2, $3, $4, $4)
             ON CONFLICT (shop, id_hash) DO UPDATE SET key = EXCLUDED.key,
                started = EXCLUDED.started, used = EXCLUDED.used",
            &[&self.shop, &hashed(id), &key, &now],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// See [`crate::store::Sessions::find`].
    pub fn find(&self, id: &str, now: i64) -> Result<Option<Found>, StoreError> {
        if id.is_empty() {
            return Ok(None);
        }
        let mut client = self.client();
        let hash = hashed(id);
        let row = client.query_opt(
            "SELECT key, used FROM sampleflow.console_sessions WHERE shop = $1 AND id_hash = $2",
            &[&self.shop, &hash],
        )?;
        let Some(row) = row else {
            return Ok(None);
        };
        let (key, used): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        if now - used >= IDLE_SECS {
            client.execute(
                "DELETE FROM sampleflow.console_sessions WHERE shop = $1 AND id_hash = $2",
                &[&self.shop, &hash],
            )?;
            return Ok(None);
        }
        if now - used >= TOUCH_EVERY {
            client.execute(
                "UPDATE sampleflow.console_sessions SET used = $3 WHERE shop = $1 AND id_hash = $2",
                &[&self.shop, &hash, &now],
            )?;
        }
        Ok(Some(Found { key }))
    }

    /// See [`crate::store::Sessions::end`].
    pub fn end(&self, id: &str) -> Result<(), StoreError> {
        self.client().execute(
            "DELETE FROM sampleflow.console_sessions WHERE shop = $1 AND id_hash = $2",
            &[&self.shop, &hashed(id)],
        )?;
        Ok(())
    }

    /// See [`crate::store::Sessions::keep_only`].
    pub fn keep_only(&self, keys: &[String]) -> Result<usize, StoreError> {
        let n = self.client().execute(
            "DELETE FROM sampleflow.console_sessions WHERE shop = $1 AND NOT (key = ANY($2))",
            &[&self.shop, &keys],
        )?;
        Ok(n as usize)
    }

    /// See [`crate::store::Sessions::count`].
    pub fn count(&self) -> Result<usize, StoreError> {
        let n: i64 = self
            .client()
            .query_one(
                "SELECT count(*) FROM sampleflow.console_sessions WHERE shop = $1",
                &[&self.shop],
            )?
            .get(0);
        Ok(n as usize)
    }
}

impl crate::store::SessionStore for PgSessions {
    fn start(&self, id: &str, key: &str, now: i64) -> Result<(), StoreError> {
        PgSessions::start(self, id, key, now)
    }

    fn find(&self, id: &str, now: i64) -> Result<Option<Found>, StoreError> {
        PgSessions::find(self, id, now)
    }

    fn end(&self, id: &str) -> Result<(), StoreError> {
        PgSessions::end(self, id)
    }

    fn keep_only(&self, keys: &[String]) -> Result<usize, StoreError> {
        PgSessions::keep_only(self, keys)
    }

    fn count(&self) -> Result<usize, StoreError> {
        PgSessions::count(self)
    }
}
