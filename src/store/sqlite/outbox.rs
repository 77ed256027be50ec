//! The platform's side of the SQLite store: the outbox of review calls, the connector's
//! applications and the ones it could not map.

use rusqlite::{params, OptionalExtension};

use crate::store::StoreError;

use super::*;

/// The `decision` of a call that is a message to the creator (a `remind_creator`).
pub const MESSAGE: &str = "message";
/// The `decision` of a call that is a target collaboration (an `invite_paid_collab`).
pub const COLLABORATION: &str = "collaboration";

/// One call for the platform, as the outbox keeps it: a review (its decision), a message or a
/// collaboration (the kind in `decision`, the action's id in `event`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutboxCall {
    /// The sample: the platform's application id.
    pub sample: String,
    /// The event whose record made the decision, or the action's id.
    pub event: String,
    /// `approve` or `reject` for a review; `message` or `collaboration`.
    pub decision: String,
    /// Our reason code (mapped to the platform's reject reason when sent).
    pub reason: Option<String>,
    /// `queued`, `sending` (in doubt after a crash), `sent`, `held` (a daily quota) or `failed`.
    pub state: String,
    pub attempts: i64,
    /// The platform's last answer.
    pub code: Option<i64>,
    pub message: Option<String>,
    pub queued_at: String,
    pub updated_at: String,
}

impl OutboxCall {
    /// `review`, `message` or `collaboration`.
    pub fn kind(&self) -> &str {
        match self.decision.as_str() {
            MESSAGE => MESSAGE,
            COLLABORATION => COLLABORATION,
            _ => "review",
        }
    }
}

impl SqliteStore {
    /// The ids of the events applied so far that begin with `prefix` (the connector's).
    pub fn events_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        Ok(self
            .strings(
                "SELECT value FROM event_chunks, json_each(event_chunks.ids)
                 WHERE event_chunks.shop = ?1 AND substr(value, 1, length(?2)) = ?2",
                Some(&prefix),
            )?
            .into_iter()
            .collect())
    }

    /// Every call of the outbox, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxCall>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT sample, event, decision, reason, state, attempts, code, message, queued_at, updated_at
             FROM outbox WHERE shop = ?1 ORDER BY queued_at, sample",
        )?;
        let rows = stmt
            .query_map([&self.shop], |r| {
                Ok(OutboxCall {
                    sample: r.get(0)?,
                    event: r.get(1)?,
                    decision: r.get(2)?,
                    reason: r.get(3)?,
                    state: r.get(4)?,
                    attempts: r.get(5)?,
                    code: r.get(6)?,
                    message: r.get(7)?,
                    queued_at: r.get(8)?,
                    updated_at: r.get(9)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
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
        self.conn.execute(
            "UPDATE outbox SET state = ?3, attempts = attempts + ?4, code = ?5, message = ?6, updated_at = ?7
             WHERE shop = ?8 AND sample = ?1 AND event = ?2",
            params![
                call.sample,
                call.event,
                state,
                i64::from(state == "sending"),
                code,
                message,
                now,
                self.shop,
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
        match why {
            Some(why) => self.conn.execute(
                "INSERT INTO unmappable (shop, application, product, reason, seen_at)
                 VALUES (?5, ?1, ?2, ?3, ?4)
                 ON CONFLICT(shop, application) DO UPDATE SET product = ?2, reason = ?3, seen_at = ?4",
                params![application, product, why, now, self.shop],
            )?,
            None => self.conn.execute(
                "DELETE FROM unmappable WHERE shop = ?1 AND application = ?2",
                [self.shop.as_str(), application],
            )?,
        };
        Ok(())
    }

    /// Keeps a creator's platform username (the latest the connector saw).
    /// Written only when it changed: every poll sees every application again.
    pub fn set_creator_name(&mut self, creator: &str, username: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO creator_names (shop, creator, username) VALUES (?1, ?2, ?3)
             ON CONFLICT(shop, creator) DO UPDATE SET username = ?3 WHERE username <> ?3",
            params![self.shop, creator, username],
        )?;
        Ok(())
    }

    /// A creator's platform username, where the connector knows it.
    pub fn creator_name(&self, creator: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT username FROM creator_names WHERE shop = ?1 AND creator = ?2",
                [self.shop.as_str(), creator],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Keeps a product's title (the latest the connector saw), written only when it changed.
    pub fn set_product_title(&mut self, product: &str, title: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO product_titles (shop, product, title) VALUES (?1, ?2, ?3)
             ON CONFLICT(shop, product) DO UPDATE SET title = ?3 WHERE title <> ?3",
            params![self.shop, product, title],
        )?;
        Ok(())
    }

    /// Every product title the connector knows, by product.
    pub fn product_titles(&self) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT product, title FROM product_titles WHERE shop = ?1")?;
        let rows = stmt.query_map([self.shop.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Applications that could not be mapped: application, product, why, when last seen.
    pub fn unmappable(&self) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT application, product, reason, seen_at FROM unmappable
             WHERE shop = ?1 ORDER BY application",
        )?;
        let rows = stmt
            .query_map([&self.shop], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}
