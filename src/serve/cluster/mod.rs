//! `serve --cluster`: one instance of a cluster that shares one PostgreSQL database (contract
//! "Several instances, one PostgreSQL"). Shops share nothing, so a cluster is partitioned by
//! shop: each shop is owned by one instance at a time under a lease in the database
//! (`store::postgres::cluster`), and its owner runs it exactly as a single `serve` runs a shop:
//! its own live session (runner, deadlines on the wall clock, reloader, connector), with every
//! commit fenced by the lease's epoch.
//!
//! - **The coordinator** ([`Cluster::run`]), a thread with a connection of its own, beats the
//!   instance's heartbeat and renews its leases every third of the TTL, and at every tick reads
//!   who is alive and who holds what: it takes free shops while it owns fewer than its fair share
//!   (ceil(shops / live instances)), and hands one over per tick while it owns more (its session
//!   stops taking writes, commits what it holds, then the lease is released).
//! - **A shop taken** is loaded from the database after the take committed, so it starts from
//!   everything any earlier owner committed; a shop lost (a renewal that finds another owner, or
//!   a commit refused by the fence) is dropped and its session's uncommitted work with it.
//! - **Writes** ([`Cluster::apply`]) go to the local session of an owned shop, or are forwarded
//!   to the owner's advertised URL with this instance's key (never the caller's token) and the
//!   caller's name and role; the owner's answer is the caller's. Unreachable owner, lost shop,
//!   or no owner yet: it waits for the lease to move (up to twice the TTL and 5 s) and tries
//!   again, the same event ids, so a write applied once is `duplicate_id` the second time.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::Digest;

use crate::runtime::Program;
use crate::session::live::{watch, Channels, Msg, WatchOptions};
use crate::store::leases::{self, Fence, View};
use crate::store::Store;
use crate::watch::reload::{self, Folders};
use crate::watch::Health;

mod route;
pub(in crate::serve) use route::{forwarded, view};

/// `--cluster`'s settings.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// The URL the other instances reach this one at (none: `http://` and the bound address).
    pub advertise: Option<String>,
    /// How long a lease lasts unrenewed.
    pub lease_ttl: Duration,
}

/// Reads a lease TTL: `10s`, `2s`, `1500ms`, `1m`.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = t
        .find(|c: char| !c.is_ascii_digit())
        .map_or((t, "s"), |i| t.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 10s, 1500ms or 1m"))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return Err(format!("`{text}` is not a duration like 10s, 1500ms or 1m")),
    };
    if d < Duration::from_millis(300) || d > Duration::from_secs(3600) {
        return Err(format!(
            "a lease TTL of `{text}` is out of range: between 300ms and 1h"
        ));
    }
    Ok(d)
}

/// A shop this instance owns: its lease's epoch and its live session.
struct Owned {
    epoch: i64,
    tx: SyncSender<Msg>,
    /// Its reloader's requests (SIGHUP).
    reload: std::sync::mpsc::Sender<crate::watch::ReloadRequest>,
    thread: JoinHandle<Result<(), String>>,
    /// Asked to stop: a hand-over (its lease is released once it committed) or a loss.
    leaving: Option<Leaving>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaving {
    HandOver,
    Lost,
    Stop,
}

#[derive(Default)]
struct State {
    /// What the database said at the last tick.
    view: View,
    owned: BTreeMap<String, Owned>,
}

/// What the coordinator needs to start a shop's session: the session's options as `serve` made
/// them, each shop's folders, where records and log lines go.
pub(crate) struct Template {
    pub options: WatchOptions,
    /// Every shop of the deployment, with its folders.
    pub shops: Vec<Folders>,
    /// Each shop's program as loaded at the start, and the fingerprint of its files then: a
    /// shop taken while its files are unchanged starts at once with it.
    pub programs: HashMap<String, (Program, u64)>,
    pub reloads: Arc<Mutex<std::collections::VecDeque<String>>>,
}

/// One instance of a cluster.
pub(crate) struct Cluster {
    pub id: String,
    pub url: String,
    /// The key this instance forwards with; only its hash is in the database.
    key: String,
    pub ttl: Duration,
    db: PathBuf,
    state: Mutex<State>,
    template: Template,
    /// The instance's health: the programs its reads go by.
    health: Arc<Health>,
    /// Each shop's connector runs while its shop is owned here.
    active: HashMap<String, Arc<AtomicBool>>,
    stopping: AtomicBool,
    /// Keys of other instances checked against the database, by id.
    peers: Mutex<HashMap<String, String>>,
    side: Mutex<Option<postgres::Client>>,
    agent: ureq::Agent,
}

/// Sends `msg` to a session without waiting for room in its queue: a session behind with its
/// work still gets it, after what it was handed before.
fn tell(tx: &SyncSender<Msg>, msg: Msg) {
    if let Err(std::sync::mpsc::TrySendError::Full(msg)) = tx.try_send(msg) {
        let tx = tx.clone();
        std::thread::spawn(move || tx.send(msg));
    }
}

fn hash(key: &str) -> String {
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

impl Cluster {
    /// Joins the cluster on `db`: the instance's id and key made, its heartbeat written (the
    /// schema created or upgraded first when needed).
    pub(crate) fn join(
        db: PathBuf,
        url: String,
        ttl: Duration,
        template: Template,
        health: Arc<Health>,
        active: HashMap<String, Arc<AtomicBool>>,
    ) -> Result<Cluster, String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| format!("no randomness for a key: {e}"))?;
        let key = hex::encode(bytes);
        let host = whoami::hostname()
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".into());
        let id = format!("{host}-{}-{}", std::process::id(), &key[..6]);
        let mut client = crate::store::cluster_client(&db, ttl)
            .map_err(|e| format!("`{}`: {e}", crate::store::shown(&db)))?;
        leases::heartbeat(&mut client, &id, &url, &hash(&key))
            .map_err(|e| format!("cannot join the cluster: {e}"))?;
        // Forwards reuse their connections: as many kept open per instance as writes are
        // forwarded at once (ureq keeps 3 by default, and each further forward would open a
        // connection of its own).
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(2)))
            .max_idle_connections(256)
            .max_idle_connections_per_host(64)
            .build()
            .into();
        metrics::describe_gauge!(
            "sampleflow_cluster_shops_owned",
            "shops whose lease this instance holds"
        );
        metrics::describe_counter!(
            "sampleflow_cluster_lease_lost_total",
            "shops this instance lost to another before handing them over"
        );
        metrics::gauge!("sampleflow_cluster_shops_owned").set(0.0);
        metrics::counter!("sampleflow_cluster_lease_lost_total").absolute(0);
        Ok(Cluster {
            id,
            url,
            key,
            ttl,
            db,
            state: Mutex::new(State::default()),
            template,
            health,
            active,
            stopping: AtomicBool::new(false),
            peers: Mutex::new(HashMap::new()),
            side: Mutex::new(Some(client)),
            agent,
        })
    }

    fn note(&self, text: &str) {
        let mut line = format!("cluster: {text}");
        line.push('\n');
        let _ = std::io::stderr().write_all(line.as_bytes());
    }

    /// The coordinator: heartbeats, renewals, takes and hand-overs until [`Cluster::stop`];
    /// then every shop is handed over and the instance leaves.
    pub(crate) fn run(self: Arc<Self>) {
        self.note(&format!("instance {} joined as {}", self.id, self.url));
        let tick = (self.ttl / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let renew_every = self.ttl / 3;
        let mut client: Option<postgres::Client> = None;
        let mut renewed = Instant::now();
        let mut beat = Instant::now() - renew_every;
        while !self.stopping.load(Ordering::SeqCst) {
            if client.is_none() {
                client = crate::store::cluster_client(&self.db, self.ttl)
                    .map_err(|e| self.note(&format!("cannot reach the database: {e}")))
                    .ok();
            }
            if let Some(c) = client.as_mut() {
                if let Err(e) = self.round(c, &mut beat, &mut renewed, renew_every) {
                    self.note(&format!("a round failed: {e}; tried again"));
                    client = None;
                }
            }
            self.reap(client.as_mut());
            std::thread::sleep(tick);
        }
        // A clean stop: every shop's session commits what it holds, then its lease is let go,
        // and the instance leaves, so that the others take its shops at once.
        if let Ok(mut s) = self.state.lock() {
            for owned in s.owned.values_mut() {
                owned.leaving.get_or_insert(Leaving::Stop);
                tell(&owned.tx, Msg::Stop("the instance stops"));
            }
        }
        loop {
            self.reap(client.as_mut());
            if self.state.lock().map_or(true, |s| s.owned.is_empty()) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(c) = client.as_mut() {
            let _ = leases::leave(c, &self.id);
        }
    }

    /// One tick: heartbeat and renewals when due, then the view, then takes and a hand-over.
    fn round(
        &self,
        client: &mut postgres::Client,
        beat: &mut Instant,
        renewed: &mut Instant,
        renew_every: Duration,
    ) -> Result<(), crate::store::StoreError> {
        if beat.elapsed() >= renew_every {
            leases::heartbeat(client, &self.id, &self.url, &hash(&self.key))?;
            let held: Vec<(String, i64)> = self.state.lock().map_or(Vec::new(), |s| {
                s.owned
                    .iter()
                    .filter(|(_, o)| o.leaving != Some(Leaving::Lost))
                    .map(|(shop, o)| (shop.clone(), o.epoch))
                    .collect()
            });
            let kept = leases::renew(client, &self.id, &held, self.ttl)?;
            let late = renewed.elapsed();
            if late > self.ttl && !held.is_empty() {
                self.note(&format!(
                    "renewed late: {} ms since the last renewal, past the lease TTL of {} ms; {} of {} leases still held",
                    late.as_millis(),
                    self.ttl.as_millis(),
                    kept.len(),
                    held.len()
                ));
            }
            *beat = Instant::now();
            *renewed = Instant::now();
            for (shop, epoch) in held.iter().filter(|(s, _)| !kept.contains(s)) {
                self.lose(shop, *epoch, "another instance holds its lease now");
            }
        }
        let view = leases::view(client, self.ttl)?;
        let live = view.instances.len().max(1);
        let total = self.template.shops.len();
        let fair = total.div_ceil(live);
        if let Ok(mut s) = self.state.lock() {
            s.view = view.clone();
        }
        let (mine, leaving) = self.state.lock().map_or((0, 0), |s| {
            (
                s.owned.values().filter(|o| o.leaving.is_none()).count(),
                s.owned.values().filter(|o| o.leaving.is_some()).count(),
            )
        });
        if leaving == 0 && mine > fair {
            self.hand_over_one();
        }
        let mut mine = mine;
        let mut taken = false;
        // Start at a place of this instance's own, so that instances joining together do not
        // all reach for the same shops first.
        let start = (xxhash_rust::xxh3::xxh3_64(self.id.as_bytes()) as usize) % total.max(1);
        for i in 0..total {
            if mine >= fair {
                break;
            }
            let folders = &self.template.shops[(start + i) % total];
            let held = view.leases.iter().any(|l| l.shop == folders.shop && l.live);
            let here = self
                .state
                .lock()
                .is_ok_and(|s| s.owned.contains_key(&folders.shop));
            if held || here {
                continue;
            }
            if let Some(epoch) = leases::take(client, &self.id, &folders.shop, self.ttl)? {
                self.note(&format!("took shop {} (epoch {epoch})", folders.shop));
                match self.start_shop(folders, epoch) {
                    Ok(()) => {
                        mine += 1;
                        taken = true;
                    }
                    Err(e) => {
                        self.note(&format!(
                            "could not start shop {} (epoch {epoch}): {e}; its lease is let go",
                            folders.shop
                        ));
                        leases::release(client, &self.id, &folders.shop, epoch)?;
                    }
                }
            }
        }
        if taken {
            let view = leases::view(client, self.ttl)?;
            if let Ok(mut s) = self.state.lock() {
                s.view = view;
            }
        }
        self.count();
        Ok(())
    }

    fn count(&self) {
        let n = self.state.lock().map_or(0, |s| {
            s.owned.values().filter(|o| o.leaving.is_none()).count()
        });
        metrics::gauge!("sampleflow_cluster_shops_owned").set(n as f64);
    }

    /// A shop found lost: its session stops; nothing it still holds can commit (the fence).
    fn lose(&self, shop: &str, epoch: i64, why: &str) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        let Some(owned) = s.owned.get_mut(shop) else {
            return;
        };
        if owned.leaving == Some(Leaving::Lost) {
            return;
        }
        owned.leaving = Some(Leaving::Lost);
        tell(&owned.tx, Msg::Stop("its lease was lost"));
        drop(s);
        self.set_active(shop, false);
        self.lost(shop, epoch, why);
    }

    /// Says a shop was lost, and counts it.
    fn lost(&self, shop: &str, epoch: i64, why: &str) {
        metrics::counter!("sampleflow_cluster_lease_lost_total").increment(1);
        self.note(&format!("lost shop {shop} (epoch {epoch}): {why}"));
    }

    /// Hands the last of its shops over: no more writes are taken for it, its session commits
    /// what it holds and ends, and its lease is released when it did ([`Cluster::reap`]).
    fn hand_over_one(&self) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        let Some((shop, owned)) = s.owned.iter_mut().rev().find(|(_, o)| o.leaving.is_none())
        else {
            return;
        };
        owned.leaving = Some(Leaving::HandOver);
        tell(&owned.tx, Msg::Stop("handed over to another instance"));
        let shop = shop.clone();
        drop(s);
        self.set_active(&shop, false);
    }

    /// Sessions that ended: a hand-over or a stop releases its lease; any other end is a loss
    /// (a commit the fence refused, or a failure), whose lease is let go too when still held,
    /// so that the shop is taken again and loaded from the database.
    fn reap(&self, mut client: Option<&mut postgres::Client>) {
        let ended: Vec<(String, Owned)> = match self.state.lock() {
            Ok(mut s) => {
                let done: Vec<String> = s
                    .owned
                    .iter()
                    .filter(|(_, o)| o.thread.is_finished())
                    .map(|(shop, _)| shop.clone())
                    .collect();
                done.into_iter()
                    .filter_map(|shop| s.owned.remove(&shop).map(|o| (shop, o)))
                    .collect()
            }
            Err(_) => return,
        };
        for (shop, owned) in ended {
            let result = owned
                .thread
                .join()
                .unwrap_or_else(|_| Err("its session's thread failed".into()));
            self.set_active(&shop, false);
            match (owned.leaving, result) {
                (Some(Leaving::HandOver | Leaving::Stop), Ok(())) => {
                    if let Some(c) = client.as_deref_mut() {
                        let _ = leases::release(c, &self.id, &shop, owned.epoch);
                    }
                    self.note(&format!("handed over shop {shop} (epoch {})", owned.epoch));
                }
                (Some(Leaving::Lost), _) => {}
                (_, result) => {
                    let why = result.err().unwrap_or_else(|| "its session ended".into());
                    self.lost(&shop, owned.epoch, &why);
                    if let Some(c) = client.as_deref_mut() {
                        let _ = leases::release(c, &self.id, &shop, owned.epoch);
                    }
                }
            }
        }
        self.count();
    }

    fn set_active(&self, shop: &str, on: bool) {
        if let Some(flag) = self.active.get(shop) {
            flag.store(on, Ordering::SeqCst);
        }
    }

    /// Starts the live session of a shop just taken at `epoch`: its program from its files, its
    /// state from the database, every commit fenced by the lease.
    fn start_shop(&self, folders: &Folders, epoch: i64) -> Result<(), String> {
        let now = reload::fingerprint(folders);
        let (program, loaded) = match self.template.programs.get(&folders.shop) {
            Some((program, loaded)) if *loaded == now => (program.clone(), now),
            kept => match reload::build(folders) {
                Ok(program) => (program, now),
                // The files changed since the start and do not make a program: the last good
                // one runs, and the session's reloader says what is wrong with them.
                Err(e) => match kept {
                    Some((program, loaded)) => {
                        self.note(&format!(
                            "shop {}: its files changed and do not load ({}); it runs the program loaded at the start",
                            folders.shop,
                            e.lines().next().unwrap_or("")
                        ));
                        (program.clone(), *loaded)
                    }
                    None => return Err(e),
                },
            },
        };
        let fence = Fence {
            owner: self.id.clone(),
            epoch,
        };
        let mut store = crate::store::PgStore::open_fenced(&self.db, fence, self.ttl)
            .map_err(|e| e.to_string())?;
        store.set_shop(&folders.shop);
        let mut options = self.template.options.clone();
        options.folders = folders.clone();
        options.shops = Vec::new();
        options.loaded = loaded;
        options.serving = true;
        options.spool = None;
        options.out = None;
        options.shadow = None;
        options.health = Some(Arc::new(Health::child(self.health.clone())));
        let channels = Channels::default();
        let tx = channels.msgs.0.clone();
        let reload = channels.requests.0.clone();
        let shop = folders.shop.clone();
        let reloads = self.template.reloads.clone();
        let thread = std::thread::spawn(move || {
            let mut out = std::io::LineWriter::new(std::io::stdout());
            let mut log = super::Tee {
                reloads,
                partial: Vec::new(),
                prefix: format!("shop {shop}: "),
            };
            watch(
                vec![program],
                &shop,
                Box::new(store),
                options,
                None,
                &mut out,
                &mut log,
                channels,
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        });
        if let Ok(mut s) = self.state.lock() {
            s.owned.insert(
                folders.shop.clone(),
                Owned {
                    epoch,
                    tx,
                    reload,
                    thread,
                    leaving: None,
                },
            );
        }
        self.set_active(&folders.shop, true);
        Ok(())
    }

    /// A reload asked of every shop's session (SIGHUP).
    pub(crate) fn reload(&self, request: crate::watch::ReloadRequest) {
        if let Ok(s) = self.state.lock() {
            for owned in s.owned.values() {
                let _ = owned.reload.send(request);
            }
        }
    }

    /// Runs `f` on the instance's connection for requests (made at first use, and made again
    /// after a failure); `None` when the database cannot be reached or `f` failed.
    fn on_side<T>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<T, crate::store::StoreError>,
    ) -> Option<T> {
        let mut side = self.side.lock().ok()?;
        if side.is_none() {
            *side = crate::store::cluster_client(&self.db, self.ttl).ok();
        }
        let done = f(side.as_mut()?);
        if done.is_err() {
            *side = None;
        }
        done.ok()
    }

    /// Asks the coordinator to hand every shop over and leave.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// The local session of `shop` when this instance owns it and takes its writes.
    pub(crate) fn local(&self, shop: &str) -> Option<SyncSender<Msg>> {
        let s = self.state.lock().ok()?;
        s.owned
            .get(shop)
            .filter(|o| o.leaving.is_none())
            .map(|o| o.tx.clone())
    }

    /// Whether the instance takes part: `/readyz`'s `cluster` check.
    pub(crate) fn ready(&self) -> Result<String, String> {
        let s = self
            .state
            .lock()
            .map_err(|_| "the cluster's state is unreadable".to_string())?;
        if !s.view.instances.iter().any(|i| i.id == self.id) {
            return Err(format!(
                "instance {} is not among the live instances (its heartbeat is late)",
                self.id
            ));
        }
        let owned: Vec<&String> = s.owned.keys().collect();
        Ok(format!(
            "instance {} of {} live; owns {}",
            self.id,
            s.view.instances.len(),
            if owned.is_empty() {
                "no shop".to_string()
            } else {
                owned
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_ttls_read_as_written_and_out_of_range_is_refused() {
        assert_eq!(parse_ttl("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_ttl("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_ttl("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_ttl("7"), Ok(Duration::from_secs(7)));
        assert!(parse_ttl("10x").is_err());
        assert!(parse_ttl("100ms").unwrap_err().contains("out of range"));
        assert!(parse_ttl("").is_err());
    }
}
