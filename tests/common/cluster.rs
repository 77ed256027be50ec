//! Several `sampleflow serve --cluster` instances on one PostgreSQL database, for tests: a
//! deployment of six shops (`shop-0` ... `shop-5`, each with a copy of the shipped rules, and no
//! top-level `rules/`, so no shop `default`), a database of this test binary's PostgreSQL
//! ([`super::pg`]), instances of the real binary on free ports of loopback; the generator's
//! events for every shop, posted by client threads ([`Load`]) that retry an unanswered request at
//! another instance with the same event ids; and the same events through one `sampleflow run`
//! into SQLite ([`Baseline`]), the single-process run whose end states the cluster's must equal.
//!
//! Deterministic end states: every instance runs with `SAMPLEFLOW_NOW` at [`NOW`], the time the
//! generated streams start, so the wall clock's ticks never move a shop's clock past an event
//! and fire nothing: deadlines fire only as a shop's own events move its clock, as in `run`. An
//! operator's review through the API is an event at [`NOW`] with a fresh id, which the test
//! reads from its record and puts in the baseline. (Leases must run on real time, not on
//! `SAMPLEFLOW_NOW`, which stands still.)
//!
//! On a failing test, [`Cluster`]'s drop prints every instance's stderr (those stopped or killed
//! too) and the end of the PostgreSQL server's log.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::Digest;

use super::live::Lines;
use super::serve::Answer;

mod load;
#[allow(unused_imports)] // not every test binary drives a cluster
pub use load::Load;

/// The wall clock of every instance, and the start of the generated streams.
pub const NOW: &str = "2026-01-05T16:00:00Z";
/// The lease TTL the instances run with (`--lease-ttl`).
pub const TTL: Duration = Duration::from_secs(2);
pub const TTL_ARG: &str = "2s";
/// The contract's bound on taking a dead instance's shops: the TTL plus this.
pub const TAKEOVER_MARGIN: Duration = Duration::from_secs(5);
/// The deployment's shops, as `sampleflow gen --shops 6` names them.
pub const SHOPS: [&str; 6] = ["shop-0", "shop-1", "shop-2", "shop-3", "shop-4", "shop-5"];

/// The operator token's name (every shop), which the server writes as `by`.
pub const OPERATOR_NAME: &str = "ops-ana";
pub const OPERATOR: &str = "cluster-operator-secret";
/// A viewer on every shop: enough for `GET /v1/cluster`.
pub const VIEWER: &str = "cluster-viewer-secret";
/// A viewer of `shop-1` only: `/v1/cluster` shows it that shop alone.
pub const VIEWER_OF_ONE: &str = "cluster-viewer-of-shop-1";

/// How long a client waits for an answer before it calls the request unanswered: more than
/// a forwarder's wait for a lease to move (the TTL and a margin of a few seconds).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client keeps away from an instance that left a request unanswered.
const AVOID: Duration = Duration::from_secs(20);
/// A client's pause between two attempts at one batch.
const BACKOFF: Duration = Duration::from_millis(100);
/// The longest one batch may stay unacknowledged, retries included.
const BATCH_DEADLINE: Duration = Duration::from_secs(120);
/// How long ownership may take to settle after a start, a stop or a kill.
pub const SETTLE: Duration = Duration::from_secs(30);

/// `serve` and the global option before it: a deployment without shop `default` names the
/// shop its unscoped routes mean.
pub const SERVE: [&str; 3] = ["--shop", SHOPS[0], "serve"];

/// The deployment folder and its database.
pub struct Deployment {
    pub dir: tempfile::TempDir,
    pub db: String,
}

impl Deployment {
    /// Six shops with copies of the shipped rules, the shipped workflows at the top, the tokens
    /// file, and a new database.
    pub fn new() -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        super::copy_dir(&root.join("workflows"), &dir.path().join("workflows"));
        for shop in SHOPS {
            super::copy_dir(
                &root.join("rules"),
                &dir.path().join("shops").join(shop).join("rules"),
            );
        }
        let tokens = [
            (OPERATOR_NAME, "operator", OPERATOR, "\"*\""),
            ("vic", "viewer", VIEWER, "\"*\""),
            ("una", "viewer", VIEWER_OF_ONE, SHOPS[1]),
        ];
        let text: String = tokens
            .iter()
            .map(|(name, role, secret, shops)| {
                let sha = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
                format!("- name: {name}\n  role: {role}\n  sha256: {sha}\n  shops: [{shops}]\n")
            })
            .collect();
        std::fs::write(dir.path().join("tokens.yaml"), text).unwrap();
        Deployment {
            dir,
            db: super::pg::database(),
        }
    }

    /// The binary in the deployment's folder, on `db`, with none of the environment's options.
    pub fn bin_on(&self, db: &str) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sampleflow"));
        cmd.current_dir(self.dir.path()).env("NO_COLOR", "1");
        for var in [
            "SAMPLEFLOW_SHOP",
            "SAMPLEFLOW_DB",
            "SAMPLEFLOW_CONFIG",
            "SAMPLEFLOW_NOW",
        ] {
            cmd.env_remove(var);
        }
        cmd.arg("--db").arg(db);
        cmd
    }

    /// `show --all --shop SHOP` on `db`.
    pub fn show_all(&self, db: &str, shop: &str) -> String {
        let out = self
            .bin_on(db)
            .args(["--shop", shop, "show", "--all"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "show --all --shop {shop} on {db}: {}",
            super::stderr(&out)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// The generator's events, one list of lines per shop of [`SHOPS`], each in its order.
#[derive(Clone)]
pub struct Events {
    pub by_shop: Vec<Vec<String>>,
}

impl Events {
    /// `sampleflow gen --samples N --shops 6 --seed S --start NOW`, split by shop.
    pub fn generate(dep: &Deployment, samples: u64, seed: u64) -> Events {
        let out = Command::new(env!("CARGO_BIN_EXE_sampleflow"))
            .current_dir(dep.dir.path())
            .args(["gen", "--samples", &samples.to_string(), "--shops", "6"])
            .args(["--seed", &seed.to_string(), "--start", NOW])
            .output()
            .unwrap();
        assert!(out.status.success(), "gen: {}", super::stderr(&out));
        let mut by_shop = vec![Vec::new(); SHOPS.len()];
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let event: Value = serde_json::from_str(line).unwrap();
            let shop = event["shop"].as_str().unwrap();
            // The wall clock never runs ahead of a shop's events (see the module's notes).
            assert!(event["at"].as_str().unwrap() >= NOW, "{line}");
            by_shop[shop_index(shop)].push(line.to_string());
        }
        assert!(by_shop.iter().all(|lines| !lines.is_empty()));
        Events { by_shop }
    }

    /// `lines` put before shop `shop`'s events.
    pub fn with_first(mut self, shop: &str, lines: &[String]) -> Events {
        let own = &mut self.by_shop[shop_index(shop)];
        own.splice(0..0, lines.iter().cloned());
        self
    }

    pub fn count(&self) -> usize {
        self.by_shop.iter().map(Vec::len).sum()
    }
}

pub fn shop_index(shop: &str) -> usize {
    SHOPS
        .iter()
        .position(|s| *s == shop)
        .unwrap_or_else(|| panic!("no shop `{shop}` here"))
}

/// A request the shipped policy sends to review (`pending`, `price_cap`), at [`NOW`].
pub fn pending_request(shop: &str, sample: &str, id: &str) -> String {
    json!({
        "shop": shop, "id": id, "type": "sample_requested", "at": NOW, "sample": sample,
        "creator": {"id": format!("c-{sample}"), "followers": 8000, "engagement_rate": 0.05,
                    "posts_30d": 10, "fulfillment_rate_90d": 0.9},
        "product": {"id": format!("p-{sample}"), "category": "home", "price": 80, "unit_cost": 5},
    })
    .to_string()
}

/// The event line of a review the server made: its record's `event` id and time, so the baseline
/// applies the same event.
pub fn review_line(shop: &str, record: &Value, decision: &str, note: &str) -> String {
    json!({
        "shop": shop, "id": record["event"], "type": "sample_reviewed", "at": record["at"],
        "sample": record["sample"], "decision": decision, "note": note,
    })
    .to_string()
}

/// The same events through one `sampleflow run` into SQLite: each shop's end state and every
/// sample's records.
pub struct Baseline {
    pub shows: Vec<String>,
    pub records: BTreeMap<(String, String), Vec<Value>>,
    pub events: Events,
    _dir: tempfile::TempDir,
}

impl Baseline {
    /// Every line stamped with the operator's name as `by`, as the server does for the lines it
    /// is posted; shops one after the other (they share nothing, so only each shop's own order
    /// counts).
    pub fn run(dep: &Deployment, events: &Events) -> Baseline {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("events.jsonl");
        let text: String = events
            .by_shop
            .iter()
            .flatten()
            .map(|line| {
                let mut e: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
                e.insert("by".into(), json!(OPERATOR_NAME));
                serde_json::to_string(&e).unwrap() + "\n"
            })
            .collect();
        std::fs::write(&file, text).unwrap();
        let db = dir.path().join("base.db");
        let db = db.to_str().unwrap();
        // A deployment without shop `default` names the command's shop.
        let out = dep
            .bin_on(db)
            .args(["--shop", SHOPS[0], "run"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "baseline run: {}",
            super::stderr(&out)
        );
        let mut records: BTreeMap<(String, String), Vec<Value>> = BTreeMap::new();
        for record in super::stdout_json(&out) {
            assert!(
                record.get("error").is_none(),
                "the baseline refused an event: {record}"
            );
            let Some(sample) = record["sample"].as_str() else {
                continue;
            };
            let key = (record["shop"].as_str().unwrap().to_string(), sample.into());
            records.entry(key).or_default().push(record);
        }
        let shows: Vec<String> = SHOPS.iter().map(|shop| dep.show_all(db, shop)).collect();
        for (shop, show) in SHOPS.iter().zip(&shows) {
            assert!(!show.is_empty(), "the baseline has no samples in {shop}");
        }
        Baseline {
            shows,
            records,
            events: events.clone(),
            _dir: dir,
        }
    }
}

/// One test's cluster: the deployment, and the logs of every instance it started. One at a
/// time in a test binary: the bounds the contract sets (a dead instance's shops taken within
/// the TTL and 5 s) are measured on a machine that may have two cores.
pub struct Cluster {
    pub dep: Deployment,
    logs: Mutex<Vec<(String, String, Arc<Lines>)>>,
    started: AtomicUsize,
    _one_at_a_time: MutexGuard<'static, ()>,
}

impl Cluster {
    pub fn new() -> Cluster {
        static ONE: Mutex<()> = Mutex::new(());
        let guard = ONE.lock().unwrap_or_else(PoisonError::into_inner);
        Cluster {
            dep: Deployment::new(),
            logs: Mutex::new(Vec::new()),
            started: AtomicUsize::new(0),
            _one_at_a_time: guard,
        }
    }

    /// A new instance: `serve --cluster --listen 127.0.0.1:0 --lease-ttl 2s --tokens ...`, its
    /// advertised URL the bound address; waits for `listening on http://ADDR`.
    pub fn start(&self) -> Instance {
        self.start_with(&["--cluster", "--lease-ttl", TTL_ARG])
    }

    /// An instance with `args` after `serve`'s usual ones (a plain `serve`: no args).
    pub fn start_with(&self, args: &[&str]) -> Instance {
        let label = format!("i{}", self.started.fetch_add(1, Ordering::SeqCst));
        let mut child = self
            .dep
            .bin_on(&self.dep.db)
            .env("SAMPLEFLOW_NOW", NOW)
            .args(SERVE)
            .args(["--listen", "127.0.0.1:0", "--tokens", "tokens.yaml"])
            .args(["--tick-ms", "100", "--poll-ms", "300"])
            // The wall clock stands at NOW; the generated events run weeks past it.
            .args(["--max-future", "365d"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = Lines::follow(child.stderr.take().unwrap());
        self.logs
            .lock()
            .unwrap()
            .push((label.clone(), format!("pid {}", child.id()), err.clone()));
        // Polled rather than `Lines::wait`, so that an instance that exits is told at once.
        let deadline = Instant::now() + super::live::TIMEOUT;
        let addr = loop {
            let line = err
                .all()
                .into_iter()
                .find(|l| l.starts_with("listening on http://"));
            if let Some(line) = line {
                break line
                    .trim_start_matches("listening on http://")
                    .trim()
                    .to_string();
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("{label} exited ({status}) before listening");
            }
            assert!(Instant::now() < deadline, "{label} never said it listens");
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(entry) = self
            .logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last_mut()
        {
            entry.1 = format!("pid {}, http://{addr}", child.id());
        }
        Instance {
            label,
            child: Some(child),
            err,
            addr,
            agent: agent(super::live::TIMEOUT),
        }
    }

    /// Every instance's stderr and the end of PostgreSQL's log.
    pub fn dump(&self) -> String {
        let mut text = String::new();
        let logs = self
            .logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (label, what, lines) in &logs {
            let all = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lines.all()))
                .unwrap_or_else(|_| vec!["(its lines are poisoned by a panic)".into()]);
            let skip = all.len().saturating_sub(800);
            text += &format!(
                "\n===== instance {label} ({what}): stderr, {} lines{} =====\n",
                all.len(),
                if skip > 0 {
                    format!(", the first {skip} left out")
                } else {
                    String::new()
                }
            );
            for line in &all[skip..] {
                text += line;
                text.push('\n');
            }
        }
        let log = std::fs::read_to_string(super::pg::cluster().root.join("server.log"))
            .unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        text += "\n===== PostgreSQL server.log, last 60 lines =====\n";
        for line in &lines[lines.len().saturating_sub(60)..] {
            text += line;
            text.push('\n');
        }
        text
    }

    /// Polls `via`'s `GET /v1/cluster` until `pred` holds, for at most `within`; every view it
    /// reads must list each shop under one instance at most. Returns the view that held.
    pub fn wait_view(
        &self,
        via: &Instance,
        what: &str,
        within: Duration,
        pred: impl Fn(&View) -> bool,
    ) -> View {
        let deadline = Instant::now() + within;
        loop {
            let last = match via.try_view() {
                Ok(view) => {
                    view.assert_each_shop_once();
                    if pred(&view) {
                        return view;
                    }
                    view.describe()
                }
                Err(e) => e,
            };
            assert!(
                Instant::now() < deadline,
                "timed out after {within:?} waiting, on {}'s /v1/cluster, for {what}; last:\n{last}",
                via.label
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until `via`'s view lists exactly the instances `live`, every shop owned, none
    /// owning more than ceil(shops / instances) (the contract allows one more; the leases settle
    /// at the fair share, and then no hand-over is under way), and `newcomer` (if any) owning
    /// one at least.
    pub fn settle(&self, live: &[&Instance], via: &Instance, newcomer: Option<&Instance>) -> View {
        let urls: BTreeSet<String> = live.iter().map(|i| i.url()).collect();
        let cap = SHOPS.len().div_ceil(live.len());
        let what = format!(
            "the instances {urls:?} to own all {} shops, none more than {cap}{}",
            SHOPS.len(),
            newcomer.map_or(String::new(), |n| format!(", {} one at least", n.url()))
        );
        self.wait_view(via, &what, SETTLE, |v| {
            v.urls() == urls
                && SHOPS.iter().all(|s| v.owner(s).is_some())
                && v.members.iter().all(|m| m.shops.len() <= cap)
                && newcomer.is_none_or(|n| !v.shops_of(&n.url()).is_empty())
        })
    }

    /// Each shop's end state in the cluster's store equals the baseline's (`show --all --shop`),
    /// and every sample's records read through the instances (in turn) equal the baseline's:
    /// nothing lost, nothing applied twice.
    pub fn assert_same_as(&self, base: &Baseline, via: &[&Instance]) {
        for (k, shop) in SHOPS.iter().enumerate() {
            let ours = self.dep.show_all(&self.dep.db, shop);
            if ours != base.shows[k] {
                let (a, b): (Vec<&str>, Vec<&str>) =
                    (ours.lines().collect(), base.shows[k].lines().collect());
                let first = a
                    .iter()
                    .zip(&b)
                    .position(|(x, y)| x != y)
                    .unwrap_or(a.len().min(b.len()));
                panic!(
                    "shop {shop}: `show --all` differs from the single-process run ({} lines against {}); first difference at line {}:\ncluster: {}\nrun:     {}",
                    a.len(),
                    b.len(),
                    first + 1,
                    a.get(first).unwrap_or(&"(none)"),
                    b.get(first).unwrap_or(&"(none)")
                );
            }
        }
        for (n, ((shop, sample), want)) in base.records.iter().enumerate() {
            let i = via[n % via.len()];
            let a = i.get(&format!("/v1/shops/{shop}/samples/{sample}"), Some(VIEWER));
            assert_eq!(a.status, 200, "{shop}/{sample} on {}: {}", i.label, a.body);
            let got = a.json()["records"].as_array().cloned().unwrap_or_default();
            if got != *want {
                let first = got
                    .iter()
                    .zip(want)
                    .position(|(x, y)| x != y)
                    .unwrap_or(got.len().min(want.len()));
                let lines = |records: &[Value]| -> String {
                    records.iter().map(|r| format!("  {r}\n")).collect()
                };
                panic!(
                    "{shop}/{sample}: the records read on {} differ from the single-process run's from record {} on ({} records against {}):\ncluster:\n{}run:\n{}",
                    i.label,
                    first + 1,
                    got.len(),
                    want.len(),
                    lines(&got),
                    lines(want)
                );
            }
        }
    }

    /// Every line posted again (each shop to the instances in turn) is refused as
    /// `duplicate_id`: every event is in the store.
    pub fn assert_all_duplicates(&self, events: &Events, via: &[&Instance]) {
        for (k, lines) in events.by_shop.iter().enumerate() {
            let shop = SHOPS[k];
            let i = via[k % via.len()];
            let body = lines.join("\n") + "\n";
            let a = i.post(&format!("/v1/shops/{shop}/events"), Some(OPERATOR), &body);
            assert_eq!(a.status, 200, "{shop} again on {}: {}", i.label, a.body);
            let results = a.json()["results"].as_array().unwrap().clone();
            assert_eq!(results.len(), lines.len(), "{shop}: {}", a.body);
            for (line, r) in lines.iter().zip(&results) {
                assert_eq!(
                    r["error"], "duplicate_id",
                    "{shop}: posted again through {}, not a duplicate:\n{line}\n{r}",
                    i.label
                );
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.dump());
        }
    }
}

/// A running instance (or a plain `serve`) of the real binary.
pub struct Instance {
    pub label: String,
    pub child: Option<Child>,
    pub err: Arc<Lines>,
    /// The bound address, `127.0.0.1:PORT`.
    pub addr: String,
    agent: ureq::Agent,
}

impl Instance {
    /// The URL it advertises: `http://` and its bound address.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn try_get(&self, path: &str, token: Option<&str>) -> Result<Answer, String> {
        let mut req = self.agent.get(format!("{}{path}", self.url()));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        answer(req.call()).map_err(|e| format!("GET {path} on {}: {e}", self.label))
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.try_get(path, token).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn post(&self, path: &str, token: Option<&str>, body: &str) -> Answer {
        let mut req = self
            .agent
            .post(format!("{}{path}", self.url()))
            .header("content-type", "application/json");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        answer(req.send(body)).unwrap_or_else(|e| panic!("POST {path} on {}: {e}", self.label))
    }

    /// `GET /v1/cluster` as the viewer.
    pub fn try_view(&self) -> Result<View, String> {
        let a = self.try_get("/v1/cluster", Some(VIEWER))?;
        if a.status != 200 {
            return Err(format!(
                "GET /v1/cluster on {}: {} {}",
                self.label, a.status, a.body
            ));
        }
        let body: Value = serde_json::from_str(&a.body).map_err(|e| {
            format!(
                "GET /v1/cluster on {}: not JSON ({e}): {}",
                self.label, a.body
            )
        })?;
        View::parse(&body).map_err(|e| format!("GET /v1/cluster on {}: {e}: {body}", self.label))
    }

    pub fn view(&self) -> View {
        self.try_view().unwrap_or_else(|e| panic!("{e}"))
    }

    /// The values of the metric `name` (every line of it, whatever its labels) in `/metrics`.
    pub fn metric(&self, name: &str) -> Vec<f64> {
        let a = self.get("/metrics", None);
        assert_eq!(a.status, 200, "/metrics on {}: {}", self.label, a.body);
        a.body
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .map(|l| {
                let value = l.rsplit(' ').next().unwrap_or("");
                value
                    .parse::<f64>()
                    .unwrap_or_else(|e| panic!("{name} on {}: `{l}`: {e}", self.label))
            })
            .collect()
    }

    /// Waits (a minute at most) for a line of its stderr after line `from` that satisfies
    /// `pred`, and returns it. Polled, not `Lines::wait`, whose panic would poison the lines
    /// that the failing test's dump prints.
    pub fn wait_line(&self, from: usize, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + super::live::TIMEOUT;
        loop {
            if let Some(line) = self.err.all().into_iter().skip(from).find(|l| pred(l)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} in {}'s stderr",
                self.label
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The id it said it joined as (`cluster: instance ID joined as URL`), its URL checked.
    pub fn joined_id(&self) -> String {
        let line = self.wait_line(0, "`cluster: instance ID joined as URL`", |l| {
            l.starts_with("cluster: instance ") && l.contains(" joined as ")
        });
        let rest = line.trim_start_matches("cluster: instance ");
        let (id, url) = rest.split_once(" joined as ").unwrap();
        assert_eq!(url.trim(), self.url(), "{}: {line}", self.label);
        id.trim().to_string()
    }

    /// Whether a line of its stderr since line `from` satisfies `pred`.
    pub fn logged(&self, from: usize, pred: impl Fn(&str) -> bool) -> bool {
        self.err.all().iter().skip(from).any(|l| pred(l))
    }

    /// The shops it logged `cluster: took shop S (epoch N)` for, since line `from`.
    pub fn took(&self, from: usize) -> BTreeSet<String> {
        self.err
            .all()
            .iter()
            .skip(from)
            .filter_map(|l| l.strip_prefix("cluster: took shop "))
            .filter_map(|rest| rest.split(' ').next())
            .map(str::to_string)
            .collect()
    }

    pub fn signal(&self, name: &str) {
        super::live::signal(self.child.as_ref().unwrap(), name);
    }

    /// kill -9, and the moment it was gone.
    pub fn kill9(mut self) -> Instant {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        Instant::now()
    }

    /// SIGTERM, and its exit status once it stopped (within a minute).
    pub fn terminate(mut self) -> ExitStatus {
        self.signal("TERM");
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + super::live::TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{} did not stop within a minute of SIGTERM", self.label);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A stopped process dies of SIGKILL too.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Answer, String> {
    let mut r = r.map_err(|e| e.to_string())?;
    let body = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
    Ok(Answer {
        status: r.status().as_u16(),
        body,
    })
}

/// One instance in `GET /v1/cluster`.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub url: String,
    pub renewed_at: String,
    pub shops: Vec<String>,
}

/// `GET /v1/cluster`: `{"instances": [{"id", "url", "renewed_at", "shops": [...]}]}`.
#[derive(Debug, Clone)]
pub struct View {
    pub members: Vec<Member>,
}

impl View {
    pub fn parse(body: &Value) -> Result<View, String> {
        let list = body["instances"].as_array().ok_or("no `instances` array")?;
        let mut members = Vec::new();
        for m in list {
            let text = |key: &str| -> Result<String, String> {
                match &m[key] {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(format!("instance `{key}` is {other}")),
                }
            };
            let shops = m["shops"]
                .as_array()
                .ok_or_else(|| format!("instance without a `shops` array: {m}"))?
                .iter()
                .map(|s| s.as_str().map(str::to_string).ok_or(format!("shop {s}")))
                .collect::<Result<Vec<_>, _>>()?;
            members.push(Member {
                id: text("id")?,
                url: text("url")?.trim_end_matches('/').to_string(),
                renewed_at: text("renewed_at")?,
                shops,
            });
        }
        Ok(View { members })
    }

    pub fn urls(&self) -> BTreeSet<String> {
        self.members.iter().map(|m| m.url.clone()).collect()
    }

    pub fn member(&self, url: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.url == url)
    }

    pub fn owner(&self, shop: &str) -> Option<&Member> {
        self.members
            .iter()
            .find(|m| m.shops.iter().any(|s| s == shop))
    }

    pub fn shops_of(&self, url: &str) -> Vec<String> {
        self.member(url)
            .map(|m| m.shops.clone())
            .unwrap_or_default()
    }

    /// Shop to owner URL.
    pub fn owners(&self) -> BTreeMap<String, String> {
        self.members
            .iter()
            .flat_map(|m| m.shops.iter().map(|s| (s.clone(), m.url.clone())))
            .collect()
    }

    /// A shop is owned by one instance at most.
    pub fn assert_each_shop_once(&self) {
        let mut seen = BTreeSet::new();
        for m in &self.members {
            for s in &m.shops {
                assert!(
                    seen.insert(s.clone()),
                    "shop {s} listed under two instances:\n{}",
                    self.describe()
                );
            }
        }
    }

    pub fn describe(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                format!(
                    "  {} {} renewed {}: {:?}\n",
                    m.id, m.url, m.renewed_at, m.shops
                )
            })
            .collect()
    }
}
