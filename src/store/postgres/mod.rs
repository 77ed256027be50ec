//! The store on PostgreSQL: the same tables as SQLite's, in the schema `sampleflow`, each row
//! under its shop (`default` until shops come), through the synchronous `postgres` client (the
//! [`Store`] trait is synchronous and its callers are threads).
//!
//! What made SQLite fast is kept: commits of several batches on the writer thread, each sample
//! and ledger written once per commit in its last version, rows packed as zstd frames (BYTEA),
//! a batch's events and records in chunks, deadlines written only when they changed. What
//! PostgreSQL does well is used: each kind of row is one multi-row statement (`unnest` of
//! arrays, `INSERT … ON CONFLICT`), prepared once per connection, so a commit is a dozen round
//! trips whatever its size. Readers connect read-only (`default_transaction_read_only`).

pub mod cluster;
mod lock;
mod read;
pub(crate) mod schema;
mod side;
mod write;

use std::cell::RefCell;
use std::path::Path;
use std::str::FromStr;

use postgres::{Client, NoTls};

use super::pack::Packer;
use super::{crash_point, Batch, Focus, RunState, Store, StoreError, Version};
use crate::model::{Instance, Ledger, Meta, Snapshot};

pub use lock::{acquire, PgLock};
pub use schema::PG_SCHEMA_VERSION;
pub use side::PgSessions;

pub use crate::model::DEFAULT_SHOP;

/// True when `--db` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_url(db: &Path) -> bool {
    db.to_str().is_some_and(|s| {
        let lower = s.get(..13).unwrap_or(s).to_ascii_lowercase();
        lower.starts_with("postgres://") || lower.starts_with("postgresql://")
    })
}

/// `--db` as it may be shown in a message or a log: a URL's password is masked (a password
/// given as `password=` in its query too), a path is shown as it is.
pub fn shown(db: &Path) -> String {
    let text = db.to_string_lossy();
    if !is_url(db) {
        return text.into_owned();
    }
    let (scheme, rest) = text.split_once("://").unwrap_or(("postgres", &text));
    // The authority ends at the first `/` or `?`; its credentials at its last `@`.
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((creds, host)) => match creds.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{creds}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// The URL's text (a path that is no URL is an error).
fn url_text(db: &Path) -> Result<&str, StoreError> {
    db.to_str()
        .filter(|_| is_url(db))
        .ok_or_else(|| StoreError::Url("not a `postgres://` URL".into()))
}

/// How a connection is made: for writing, for reading only, or to hold the writer's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectionRole {
    Write,
    Read,
    Lock,
}

/// A connection to the database of `db` for `role`. TLS is not spoken: a URL asking for it
/// (`sslmode=require`) is refused by the client; use a Unix socket or a local TLS proxy.
pub(crate) fn connect(db: &Path, role: ConnectionRole) -> Result<Client, StoreError> {
    connect_with(db, role, "")
}

/// [`connect`], with more server settings (`-c name=value ...`).
fn connect_with(db: &Path, role: ConnectionRole, more: &str) -> Result<Client, StoreError> {
    let mut config =
        postgres::Config::from_str(url_text(db)?).map_err(|e| StoreError::Url(e.to_string()))?;
    if config.get_application_name().is_none() {
        config.application_name("sampleflow");
    }
    let mut options = config.get_options().unwrap_or_default().to_string();
    let extra = match role {
        ConnectionRole::Write => "",
        ConnectionRole::Read => " -c default_transaction_read_only=on",
        // The lock's connection sits idle for as long as its writer runs: no idle timeout may
        // end it, and the server notices within a minute when its host died (keepalives).
        ConnectionRole::Lock => {
            " -c idle_session_timeout=0 -c idle_in_transaction_session_timeout=0 -c tcp_keepalives_idle=15 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=4"
        }
    };
    options.push_str(extra);
    if !more.is_empty() {
        options.push(' ');
        options.push_str(more);
    }
    config.options(options.trim());
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(std::time::Duration::from_secs(10));
    }
    Ok(config.connect(NoTls)?)
}

/// Per sample, a fingerprint of the deadlines this store's commits last wrote for it.
type Fingerprints = std::collections::HashMap<rhai::ImmutableString, u64, ahash::RandomState>;
/// [`Fingerprints`] by shop.
type ShopPrints = std::collections::HashMap<String, Fingerprints, ahash::RandomState>;

/// The PostgreSQL store: every shop's rows; reads concern the handle's shop, a batch is written
/// under its own.
pub struct PgStore {
    /// Reads take `&self` (as SQLite's do): the connection is borrowed for each.
    client: RefCell<Client>,
    shop: String,
    /// `--db`, for the second connection a runner reads back through.
    db: std::path::PathBuf,
    /// Rows are packed on the way in and unpacked on the way out.
    packer: RefCell<Packer>,
    /// The writer's prepared statements, made at its first commit.
    prepared: Option<write::Prepared>,
    /// The next seq of each kind of chunk, per shop, read at the shop's first commit (one
    /// writer per database: the writer's lock is the database's).
    next: std::collections::HashMap<String, write::Next>,
    commits: u64,
    crash_at: Option<u64>,
    /// The store holds samples of a connected shop: decisions on them go to the outbox.
    platform: bool,
    /// Per shop and sample, a fingerprint of the deadlines this store's commits last wrote.
    deadlines: ShopPrints,
    /// In a cluster: the lease every commit checks it still holds (none: one writer per
    /// database, its writer lock held).
    fence: Option<cluster::Fence>,
}

/// A connection of a cluster's instance to `db`, for its leases (`ttl` their TTL). A lease row
/// may be locked by a transaction of an instance that was paused in the middle of it: a
/// statement waits for such a lock a quarter of the TTL at most (a take then finds the shop not
/// free), and the server ends a transaction left idle for the TTL, letting its locks go.
pub fn cluster_client(db: &Path, ttl: std::time::Duration) -> Result<Client, StoreError> {
    let mut client = connect_with(db, ConnectionRole::Write, &paused_limits(ttl, true))?;
    schema::ensure(&mut client)?;
    Ok(client)
}

/// The server settings that keep a paused instance's open transaction from holding a lease row
/// (and a commit's locks) for longer than the TTL.
fn paused_limits(ttl: std::time::Duration, wait: bool) -> String {
    let ms = ttl.as_millis().max(100);
    let mut text = format!("-c idle_in_transaction_session_timeout={ms}");
    if wait {
        text.push_str(&format!(" -c lock_timeout={}", (ms / 4).max(50)));
    }
    text
}

impl PgStore {
    /// Opens the store of `db` for writing as a cluster's instance that owns one shop under a
    /// lease of `ttl`, every commit fenced by `fence` ([`PgStore::set_fence`]). A transaction
    /// this instance leaves idle for the TTL (it was paused in the middle of a commit) is ended by
    /// the server, so that its locks do not keep the lease from the next owner.
    pub fn open_fenced(
        db: &Path,
        fence: cluster::Fence,
        ttl: std::time::Duration,
    ) -> Result<Self, StoreError> {
        let mut client = connect_with(db, ConnectionRole::Write, &paused_limits(ttl, false))?;
        schema::ensure(&mut client)?;
        let mut store = Self::with(client, db, crash_point("commit"))?;
        store.set_fence(fence);
        Ok(store)
    }

    /// From now on every commit first checks, in its transaction, that `fence` still holds the
    /// lease of the commit's shops; a commit that finds it taken is refused whole
    /// ([`StoreError::Fenced`]).
    pub fn set_fence(&mut self, fence: cluster::Fence) {
        self.fence = Some(fence);
    }

    pub(crate) fn pg(&self) -> &RefCell<Client> {
        &self.client
    }

    /// Opens the store of `db` for writing, creating or upgrading its schema; a schema that is
    /// not sampleflow's is refused and left as it was.
    pub fn open(db: &Path) -> Result<Self, StoreError> {
        let mut client = connect(db, ConnectionRole::Write)?;
        schema::ensure(&mut client)?;
        Self::with(client, db, crash_point("commit"))
    }

    /// Opens the store of `db` for reading only: nothing is created, upgraded or written (every
    /// statement runs in a read-only transaction), and it sees what a writer has committed.
    pub fn open_read(db: &Path) -> Result<Self, StoreError> {
        let mut client = connect(db, ConnectionRole::Read)?;
        schema::check_readable(&mut client)?;
        Self::with(client, db, None)
    }

    fn with(client: Client, db: &Path, crash_at: Option<u64>) -> Result<Self, StoreError> {
        let mut store = PgStore {
            client: RefCell::new(client),
            shop: DEFAULT_SHOP.to_string(),
            db: db.to_path_buf(),
            packer: RefCell::new(Packer::default()),
            prepared: None,
            next: std::collections::HashMap::new(),
            commits: 0,
            crash_at,
            platform: false,
            deadlines: ShopPrints::default(),
            fence: None,
        };
        store.platform = store.has_platform()?;
        Ok(store)
    }
}

impl Store for PgStore {
    fn shop(&self) -> &str {
        &self.shop
    }
    fn set_shop(&mut self, shop: &str) {
        self.shop = shop.to_string();
    }
    crate::store::platform_side!();

    fn load(&mut self) -> Result<Snapshot, StoreError> {
        self.read_all()
    }

    fn load_around(&mut self, focus: &Focus) -> Result<Snapshot, StoreError> {
        crate::store::around(self, focus, |store, bound| store.due_before(bound))
    }

    fn meta(&mut self) -> Result<Meta, StoreError> {
        self.runner_meta()
    }

    fn last_run(&mut self) -> Result<Option<RunState>, StoreError> {
        self.read_last_run()
    }

    fn commit(&mut self, batch: &Batch) -> Result<(), StoreError> {
        self.commit_group(batch.clone(), &mut |_| None).map(|_| ())
    }

    fn commit_group(
        &mut self,
        first: Batch,
        more: &mut dyn FnMut(u64) -> Option<Batch>,
    ) -> Result<u64, StoreError> {
        self.write_group(first, more)
    }

    fn run_log(&mut self, run: i64) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        self.each_log(Some(run), &mut |_, text| {
            out.push(text);
            Ok(())
        })?;
        Ok(out)
    }

    fn sample_log(&mut self, sample: &str) -> Result<Vec<String>, StoreError> {
        self.read_sample_log(sample)
    }

    fn samples(&mut self) -> Result<Vec<Instance>, StoreError> {
        self.read_samples()
    }

    fn sample(&mut self, id: &str) -> Result<Option<Instance>, StoreError> {
        self.read_sample(id)
    }

    fn samples_of(&mut self, creator: &str) -> Result<Vec<Instance>, StoreError> {
        self.read_samples_of(creator)
    }

    fn ledger(&mut self, creator: &str) -> Result<Option<Ledger>, StoreError> {
        self.read_ledger(creator)
    }

    fn events(&mut self) -> Result<Vec<String>, StoreError> {
        self.read_events()
    }

    fn save_versions(&mut self, versions: &[Version]) -> Result<(), StoreError> {
        self.write_versions(versions)
    }

    fn versions(&mut self) -> Result<Vec<Version>, StoreError> {
        self.read_versions()
    }

    fn shadows(&mut self) -> Result<Vec<crate::model::ShadowDecision>, StoreError> {
        crate::store::shadow::pg_read(&mut *self.client.borrow_mut(), &self.shop)
    }

    fn state_counts(&mut self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        self.read_state_counts()
    }

    fn reader(&self) -> Option<Box<dyn crate::model::Fallback>> {
        let mut reader = PgStore::open_read(&self.db).ok()?;
        reader.shop = self.shop.clone();
        Some(Box::new(reader))
    }

    fn each_record(
        &mut self,
        f: &mut dyn FnMut(&str) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.each_log(None, &mut |sample, text| match sample {
            Some(_) => f(&text),
            None => Ok(()),
        })
    }
}

/// A store read back, for a runner that lets ended samples leave memory. A read that fails is
/// taken as nothing found: the event is refused, and the store says why in the next write.
impl crate::model::Fallback for PgStore {
    fn sample(&mut self, id: &str) -> Option<Instance> {
        Store::sample(self, id).ok().flatten()
    }

    fn ledger(&mut self, creator: &str) -> Option<Ledger> {
        Store::ledger(self, creator).ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths_and_shown_without_their_password() {
        assert!(is_url(Path::new("postgres://u@h/db")));
        assert!(is_url(Path::new("PostgreSQL://h/db")));
        assert!(!is_url(Path::new("sampleflow.db")));
        assert!(!is_url(Path::new("./postgres://x")));
        assert_eq!(
            shown(Path::new(
                "postgres://ana:s3cret@db.example:5432/shop?sslmode=disable"
            )),
            "postgres://ana:***@db.example:5432/shop?sslmode=disable"
        );
        assert_eq!(
            shown(Path::new("postgresql://h/db?user=a&password=s3cret")),
            "postgresql://h/db?user=a&password=***"
        );
        assert_eq!(
            shown(Path::new("postgres://ana@h/db")),
            "postgres://ana@h/db"
        );
        assert_eq!(shown(Path::new("s.db")), "s.db");
    }
}
