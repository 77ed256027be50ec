//! A cluster's bookkeeping in the database it shares (contract "Several instances, one
//! PostgreSQL"): the live instances (`sampleflow.instances`: id, advertised URL, the SHA-256 of
//! the key it forwards with, last heartbeat) and one lease per shop (`sampleflow.leases`: owner,
//! epoch, expiry). Every time here is the database's (`now()`), so the instances' clocks never
//! have to agree.
//!
//! A lease is taken only when it is free (never taken, expired, or released) and each take
//! raises its epoch, so an owner is named by (instance, epoch) and an older owner can be told
//! from the current one. The fence ([`check_fence`]) runs first in every commit of a shop's
//! work and locks the lease row `FOR SHARE`: a take (an `UPDATE` of that row) waits for a commit
//! that passed its fence, and a commit that comes after a take sees the new owner and is
//! refused. So a new owner that loads the shop after its take sees everything the old owner
//! ever committed, and nothing the old owner tries later is kept.

use std::time::Duration;

use postgres::{Client, GenericClient};

use super::schema::LOCK_CLASS;
use crate::store::StoreError;

/// An instance as the database sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRow {
    pub id: String,
    pub url: String,
    /// RFC 3339, the database's clock.
    pub renewed_at: String,
}

/// A shop's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub shop: String,
    pub owner: String,
    pub epoch: i64,
    /// True while it has not expired.
    pub live: bool,
}

/// What a lease table says, read in one transaction: the live instances (heartbeat within the
/// TTL), in id order, and every lease.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub instances: Vec<InstanceRow>,
    pub leases: Vec<LeaseRow>,
}

impl View {
    /// The live owner of `shop`, when one holds an unexpired lease and is alive.
    pub fn owner(&self, shop: &str) -> Option<&InstanceRow> {
        let lease = self.leases.iter().find(|l| l.shop == shop && l.live)?;
        self.instances.iter().find(|i| i.id == lease.owner)
    }

    /// The shops each live instance holds an unexpired lease on.
    pub fn owned_by(&self, id: &str) -> Vec<String> {
        let mut shops: Vec<String> = self
            .leases
            .iter()
            .filter(|l| l.live && l.owner == id)
            .map(|l| l.shop.clone())
            .collect();
        shops.sort();
        shops
    }
}

fn millis(ttl: Duration) -> f64 {
    ttl.as_secs_f64() * 1000.0
}

/// Says this instance is alive (and where it is reached, and the hash of its forwarding key).
pub fn heartbeat(
    client: &mut Client,
    id: &str,
    url: &str,
    key_sha256: &str,
) -> Result<(), StoreError> {
    client.execute(
        "INSERT INTO sampleflow.instances (id, url, key_sha256) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, key_sha256 = EXCLUDED.key_sha256,
            renewed_at = now()",
        &[&id, &url, &key_sha256],
    )?;
    Ok(())
}

/// The live instances and every lease, as one consistent view.
pub fn view(client: &mut Client, ttl: Duration) -> Result<View, StoreError> {
    let mut tx = client.build_transaction().read_only(true).start()?;
    let instances = tx
        .query(
            "SELECT id, url, to_char(renewed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
             FROM sampleflow.instances
             WHERE renewed_at > now() - make_interval(secs => $1::float8 / 1000)
             ORDER BY id",
            &[&millis(ttl)],
        )?
        .into_iter()
        .map(|r| InstanceRow {
            id: r.get(0),
            url: r.get(1),
            renewed_at: r.get(2),
        })
        .collect();
    let leases = tx
        .query(
            "SELECT shop, owner, epoch, expires_at > now() FROM sampleflow.leases ORDER BY shop",
            &[],
        )?
        .into_iter()
        .map(|r| LeaseRow {
            shop: r.get(0),
            owner: r.get(1),
            epoch: r.get(2),
            live: r.get(3),
        })
        .collect();
    tx.commit()?;
    Ok(View { instances, leases })
}

/// Renews the leases this instance holds at their epochs; gives the shops renewed (a shop
/// missing from the answer was taken by another instance, or released).
pub fn renew(
    client: &mut Client,
    id: &str,
    held: &[(String, i64)],
    ttl: Duration,
) -> Result<Vec<String>, StoreError> {
    if held.is_empty() {
        return Ok(Vec::new());
    }
    let shops: Vec<&str> = held.iter().map(|(s, _)| s.as_str()).collect();
    let epochs: Vec<i64> = held.iter().map(|(_, e)| *e).collect();
    let rows = client.query(
        "UPDATE sampleflow.leases l
         SET expires_at = now() + make_interval(secs => $4::float8 / 1000)
         FROM unnest($2::text[], $3::bigint[]) AS h(shop, epoch)
         WHERE l.shop = h.shop AND l.epoch = h.epoch AND l.owner = $1
         RETURNING l.shop",
        &[&id, &shops, &epochs, &millis(ttl)],
    )?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}

/// Takes `shop`'s lease when it is free (never taken, expired or released): gives its new
/// epoch, or `None` when another instance holds it, or when a writer outside the cluster holds
/// the store (its writer lock: then it is left to it).
pub fn take(
    client: &mut Client,
    id: &str,
    shop: &str,
    ttl: Duration,
) -> Result<Option<i64>, StoreError> {
    let mut tx = client.transaction()?;
    let free: bool = tx
        .query_one(
            "SELECT pg_try_advisory_xact_lock($1, $2)",
            &[&LOCK_CLASS, &super::schema::store_key()],
        )?
        .get(0);
    if !free {
        return Ok(None);
    }
    let row = tx.query_opt(
        "INSERT INTO sampleflow.leases AS l (shop, owner, epoch, expires_at)
         VALUES ($1, $2, 1, now() + make_interval(secs => $3::float8 / 1000))
         ON CONFLICT (shop) DO UPDATE SET owner = EXCLUDED.owner, epoch = l.epoch + 1,
            expires_at = EXCLUDED.expires_at
         WHERE l.expires_at <= now()
         RETURNING epoch",
        &[&shop, &id, &millis(ttl)],
    );
    let row = match row {
        Ok(row) => row,
        // The row is locked by a transaction that does not end (an instance paused in the
        // middle of a commit or a take): not free now; the server ends that transaction.
        Err(e) if e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE) => {
            return Ok(None)
        }
        Err(e) => return Err(e.into()),
    };
    tx.commit()?;
    Ok(row.map(|r| r.get(0)))
}

/// Lets `shop` go at once (its owner committed what it held): the next instance may take it.
pub fn release(client: &mut Client, id: &str, shop: &str, epoch: i64) -> Result<(), StoreError> {
    client.execute(
        "UPDATE sampleflow.leases SET expires_at = now() - interval '1 second'
         WHERE shop = $1 AND owner = $2 AND epoch = $3",
        &[&shop, &id, &epoch],
    )?;
    Ok(())
}

/// The instance leaves the cluster (a clean stop, after releasing its shops).
pub fn leave(client: &mut Client, id: &str) -> Result<(), StoreError> {
    client.execute("DELETE FROM sampleflow.instances WHERE id = $1", &[&id])?;
    Ok(())
}

/// The hash of a live instance's forwarding key.
pub fn key_of(client: &mut Client, id: &str, ttl: Duration) -> Result<Option<String>, StoreError> {
    let row = client.query_opt(
        "SELECT key_sha256 FROM sampleflow.instances
         WHERE id = $1 AND renewed_at > now() - make_interval(secs => $2::float8 / 1000)",
        &[&id, &millis(ttl)],
    )?;
    Ok(row.map(|r| r.get(0)))
}

/// The live instances of a cluster on this database, when one runs (for a writer outside the
/// cluster, which must not write beside it). A store without the cluster's tables has none.
pub fn live_instances(client: &mut Client) -> Result<Vec<InstanceRow>, StoreError> {
    // An instance heartbeats at least every 10 s / 3 by default; a minute covers any TTL a
    // cluster is likely to run with, and a crashed cluster stops blocking a minute after.
    let rows = client.query(
        "SELECT id, url, to_char(renewed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
         FROM sampleflow.instances
         WHERE renewed_at > now() - interval '1 minute' ORDER BY id",
        &[],
    )?;
    Ok(rows
        .into_iter()
        .map(|r| InstanceRow {
            id: r.get(0),
            url: r.get(1),
            renewed_at: r.get(2),
        })
        .collect())
}

/// Who commits a shop's work: the instance and the epoch of its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub owner: String,
    pub epoch: i64,
}

/// The fence, first in a commit's transaction: the lease of `shop` is still `fence`'s, and is
/// locked so that no take passes this transaction. Refused ([`StoreError::Fenced`]) otherwise.
pub fn check_fence(
    tx: &mut impl GenericClient,
    shop: &str,
    fence: &Fence,
) -> Result<(), StoreError> {
    let row = tx.query_opt(
        "SELECT owner, epoch FROM sampleflow.leases WHERE shop = $1 FOR SHARE",
        &[&shop],
    )?;
    match row {
        Some(r) if r.get::<_, &str>(0) == fence.owner && r.get::<_, i64>(1) == fence.epoch => {
            Ok(())
        }
        _ => Err(StoreError::Fenced {
            shop: shop.to_string(),
            epoch: fence.epoch,
        }),
    }
}
