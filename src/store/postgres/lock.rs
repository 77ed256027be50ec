//! One writer per shop on PostgreSQL: a session-level advisory lock, taken on a connection of
//! the writer's own and held for as long as it runs, plus a row in `sampleflow.writers` saying
//! who holds it (command, pid, host, start, where it takes events) for a second writer to print.
//!
//! The server lets go of the lock when the connection ends, however the writer ends (kill -9
//! closes its socket; a host that vanished is noticed through TCP keepalives), so a dead holder
//! blocks nobody. As with SQLite's lock file, the row is only believed while the lock is held,
//! and only when it was written through the connection that holds it (`pg_locks` names that
//! backend).

use std::path::Path;

use postgres::Client;

use super::schema::{self, LOCK_CLASS};
use super::{connect, shown, ConnectionRole, DEFAULT_SHOP};
use crate::store::{Holder, LockError, StoreError};

/// The writer's lock on one shop, held until dropped (or until the process dies).
pub struct PgLock {
    _client: Client,
}

impl std::fmt::Debug for PgLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgLock")
    }
}

/// Takes the writer lock of `db`'s shop for `holder`, at once or not at all. The first writer
/// of a database creates (or upgrades) the schema here, under the lock; a schema that is not
/// sampleflow's is left alone, and the store's open refuses it.
#[allow(clippy::result_large_err)] // the holder's description, once per command
pub fn acquire(db: &Path, holder: &Holder) -> Result<PgLock, LockError> {
    let failed = |e: StoreError| LockError::Io {
        path: shown(db).into(),
        source: std::io::Error::other(e.to_string()),
    };
    let mut client = connect(db, ConnectionRole::Lock).map_err(failed)?;
    let key = schema::store_key();
    // A holder that died on this host a moment ago may still hold the lock until the server has
    // seen its connection close: its lock is waited for, a live holder's is not.
    let wait_until = std::time::Instant::now() + DEAD_WAIT;
    loop {
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&LOCK_CLASS, &key])
            .map_err(|e| failed(e.into()))?
            .get(0);
        if got {
            break;
        }
        let holder = read(&mut client, key);
        // Unknown: a holder that has just taken the lock (creating the schema, say) or one that
        // died before saying who it is; either way the lock is asked again.
        let waiting = std::time::Instant::now() < wait_until;
        match &holder {
            None if waiting => {}
            Some(h) if waiting && died_here(h) => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            _ => return Err(LockError::Held(holder)),
        }
    }
    match schema::ensure(&mut client) {
        Ok(()) => {}
        Err(StoreError::Foreign | StoreError::Schema { .. }) => {
            return Ok(PgLock { _client: client })
        }
        Err(e) => return Err(failed(e)),
    }
    // A cluster on this database (`serve --cluster`) writes without this lock, shop by shop
    // under leases; a writer outside it must not write beside it. An instance takes a lease only
    // while nobody holds this lock, so one of the two always sees the other.
    let cluster = super::cluster::live_instances(&mut client).map_err(failed)?;
    if let Some(first) = cluster.first() {
        return Err(LockError::Held(Some(reachable(instance_holder(first)))));
    }
    let text = serde_json::to_string(holder).map_err(|e| failed(e.into()))?;
    client
        .execute(
            "INSERT INTO sampleflow.writers (shop, holder, backend, since)
             VALUES ($1, $2, pg_backend_pid(), now())
             ON CONFLICT (shop) DO UPDATE SET holder = EXCLUDED.holder,
                backend = EXCLUDED.backend, since = EXCLUDED.since",
            &[&DEFAULT_SHOP, &text],
        )
        .map_err(|e| failed(e.into()))?;
    Ok(PgLock { _client: client })
}

/// The holder's own description, written through the connection that holds the lock. A holder
/// that has just taken the lock may not have written it yet: a few short retries cover that
/// moment. A holder on another host cannot be handed events through a spool folder or a
/// loopback address: those are left out, and the holder is only named.
fn read(client: &mut Client, key: i32) -> Option<Holder> {
    for _ in 0..40 {
        let row = client.query_opt(
            "SELECT w.holder FROM sampleflow.writers w
             JOIN pg_catalog.pg_locks l ON l.pid = w.backend
             WHERE w.shop = $1 AND l.locktype = 'advisory' AND l.granted
               AND l.classid = $2::integer::oid AND l.objid = $3::integer::oid AND l.objsubid = 2",
            &[&DEFAULT_SHOP, &LOCK_CLASS, &key],
        );
        if let Ok(Some(row)) = row {
            let holder: Option<Holder> = row
                .try_get::<_, &str>(0)
                .ok()
                .and_then(|t| serde_json::from_str(t).ok());
            if let Some(holder) = holder {
                return Some(reachable(holder));
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    None
}

/// How long a writer asks again for the lock of a holder that died on this host, or that has not
/// said who it is.
const DEAD_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// True when the holder ran on this host and its process is gone (or a zombie: dead, not yet
/// reaped).
fn died_here(holder: &Holder) -> bool {
    if holder.host.is_none() || holder.host != Holder::me("").host {
        return false;
    }
    if !Path::new("/proc/self/stat").exists() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{}/stat", holder.pid)) {
        // The state follows the command's closing parenthesis.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

/// The holder as this host can reach it.
fn reachable(mut holder: Holder) -> Holder {
    let here = Holder::me("").host;
    if holder.host.is_some() && holder.host != here {
        holder.spool = None;
        let loopback = holder.listen.as_deref().is_some_and(|addr| {
            addr.parse::<std::net::SocketAddr>()
                .is_ok_and(|a| a.ip().is_loopback())
        });
        if loopback {
            holder.listen = None;
        }
    }
    holder
}

/// A cluster's instance as the holder a refused writer names: its id is `HOST-PID-TAG`, its URL
/// where an ops command hands its event.
fn instance_holder(i: &super::cluster::InstanceRow) -> Holder {
    let mut parts = i.id.rsplitn(3, '-');
    let _tag = parts.next();
    let pid = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let host = parts.next().map(str::to_string);
    let listen = i
        .url
        .strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/').to_string());
    Holder {
        command: format!("serve --cluster (instance {})", i.id),
        pid,
        host,
        started: i.renewed_at.clone(),
        spool: None,
        listen,
    }
}
