//! The clients of a cluster test ([`Load`]): one thread per shop posting its batches in order,
//! to the instances in turn, retrying an unanswered request at another instance with the same
//! event ids, and what they saw ([`Progress`]).

#[allow(unused_imports)]
use super::*;

/// One acknowledged batch: every line answered with records or `duplicate_id`.
#[derive(Debug, Clone)]
pub struct Ack {
    pub shop: usize,
    pub batch: usize,
    /// When its answer was read.
    pub at: Instant,
    /// The instance that answered.
    pub addr: String,
    pub attempts: usize,
    pub applied: usize,
    pub duplicates: usize,
}

/// An attempt left unanswered (no connection, a timeout, a 5xx).
#[derive(Debug, Clone)]
pub struct Miss {
    pub shop: usize,
    pub batch: usize,
    pub at: Instant,
    pub addr: String,
    pub what: String,
}

/// What the clients have done so far.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Batches acknowledged, per shop (each shop's client posts its batches in order).
    pub acked: Vec<usize>,
    pub acks: Vec<Ack>,
    pub misses: Vec<Miss>,
    /// A client's failure: an answer no retry can mend.
    pub failed: Option<String>,
}

impl Progress {
    pub fn total_acked(&self) -> usize {
        self.acked.iter().sum()
    }

    /// The first acknowledgement for shop `k` read after `after`.
    pub fn first_ack_after(&self, k: usize, after: Instant) -> Option<&Ack> {
        self.acks
            .iter()
            .filter(|a| a.shop == k && a.at > after)
            .min_by_key(|a| a.at)
    }

    pub fn describe(&self) -> String {
        let misses: String = self
            .misses
            .iter()
            .rev()
            .take(30)
            .map(|m| {
                format!(
                    "  {} batch {} at {}: {}\n",
                    SHOPS[m.shop], m.batch, m.addr, m.what
                )
            })
            .collect();
        format!(
            "acknowledged per shop: {:?}; {} unanswered attempts, the last ones:\n{misses}",
            self.acked,
            self.misses.len()
        )
    }
}

struct Shared {
    batches: Vec<Vec<String>>,
    addrs: Mutex<Vec<String>>,
    gate: Mutex<usize>,
    gate_moved: Condvar,
    progress: Mutex<Progress>,
    progressed: Condvar,
    stop: AtomicBool,
}

/// A client thread per shop posting its shop's events in batches, in order, to
/// `/v1/shops/{shop}/events` as the operator: batch `i` of shop `k` goes to instance
/// `(i + k) % n` of the current address list, so each shop's writes reach every instance. A
/// request left unanswered (no connection, a timeout, a 5xx) is sent again, the same lines, to
/// the next instance, and the one that failed is avoided for a while. A batch is acknowledged
/// when every line's result is records or `duplicate_id`; any other answer fails the test. The
/// clients post only batches below the gate ([`Load::set_gate`]), so a test can hold the load at
/// a point.
pub struct Load {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    pub fn start(events: &Events, batch: usize, addrs: Vec<String>, gate: usize) -> Load {
        let batches: Vec<Vec<String>> = events
            .by_shop
            .iter()
            .map(|lines| lines.chunks(batch).map(|c| c.join("\n") + "\n").collect())
            .collect();
        let shared = Arc::new(Shared {
            progress: Mutex::new(Progress {
                acked: vec![0; batches.len()],
                ..Progress::default()
            }),
            batches,
            addrs: Mutex::new(addrs),
            gate: Mutex::new(gate),
            gate_moved: Condvar::new(),
            progressed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let threads = (0..SHOPS.len())
            .map(|k| {
                let shared = shared.clone();
                std::thread::spawn(move || client(&shared, k))
            })
            .collect();
        Load { shared, threads }
    }

    /// Batches of the shop that has the most.
    pub fn most_batches(&self) -> usize {
        self.shared.batches.iter().map(Vec::len).max().unwrap_or(0)
    }

    pub fn total_batches(&self) -> usize {
        self.shared.batches.iter().map(Vec::len).sum()
    }

    pub fn gate(&self) -> usize {
        *self
            .shared
            .gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Lets every client post its batches below `n` (`usize::MAX`: all).
    pub fn set_gate(&self, n: usize) {
        *self
            .shared
            .gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = n;
        self.shared.gate_moved.notify_all();
    }

    /// The instances the clients post to from now on.
    pub fn set_addrs(&self, addrs: Vec<String>) {
        *self
            .shared
            .addrs
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = addrs;
    }

    pub fn progress(&self) -> Progress {
        self.shared
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until `pred` holds of the progress, for at most `within`.
    pub fn wait_until(
        &self,
        what: &str,
        within: Duration,
        pred: impl Fn(&Progress) -> bool,
    ) -> Progress {
        let deadline = Instant::now() + within;
        let mut p = self
            .shared
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(why) = p.failed.clone() {
                let described = p.describe();
                drop(p);
                panic!("a client failed: {why}\n{described}");
            }
            if pred(&p) {
                return p.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let described = p.describe();
                drop(p);
                panic!("timed out after {within:?} waiting for {what}; {described}");
            }
            p = self
                .shared
                .progressed
                .wait_timeout(p, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Waits until every shop's client has posted all its batches below the gate.
    pub fn wait_gate(&self, what: &str) -> Progress {
        let gate = self.gate();
        let want: Vec<usize> = self
            .shared
            .batches
            .iter()
            .map(|b| b.len().min(gate))
            .collect();
        self.wait_until(what, BATCH_DEADLINE, |p| {
            p.acked.iter().zip(&want).all(|(a, w)| a >= w)
        })
    }

    /// Lets the clients post everything, waits until they have, and ends them.
    pub fn finish(mut self) -> Progress {
        self.set_gate(usize::MAX);
        let p = self.wait_gate("every batch acknowledged");
        for t in self.threads.drain(..) {
            t.join().unwrap();
        }
        p
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.set_gate(usize::MAX);
        self.shared.progressed.notify_all();
    }
}

/// Shop `k`'s client (see [`Load`]).
fn client(shared: &Shared, k: usize) {
    let shop = SHOPS[k];
    let agent = agent(CLIENT_TIMEOUT);
    let mut avoid: HashMap<String, Instant> = HashMap::new();
    let fail = |why: String| {
        let mut p = shared
            .progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        p.failed.get_or_insert(why);
        shared.progressed.notify_all();
    };
    for (i, body) in shared.batches[k].iter().enumerate() {
        {
            let mut gate = shared.gate.lock().unwrap_or_else(PoisonError::into_inner);
            while *gate <= i {
                gate = shared
                    .gate_moved
                    .wait(gate)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        let lines = body.lines().count();
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            if started.elapsed() > BATCH_DEADLINE {
                return fail(format!(
                    "{shop} batch {i}: unanswered for {BATCH_DEADLINE:?}"
                ));
            }
            let addrs = shared
                .addrs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let n = addrs.len();
            let now = Instant::now();
            let first = (i + k + attempt) % n;
            // The next one not avoided; when all are, the one whose avoidance ends first.
            let pick = (0..n)
                .map(|d| (first + d) % n)
                .find(|j| avoid.get(&addrs[*j]).is_none_or(|until| *until <= now))
                .unwrap_or_else(|| {
                    (0..n)
                        .min_by_key(|j| avoid.get(&addrs[*j]).copied().unwrap_or(now))
                        .unwrap_or(first)
                });
            let addr = addrs[pick].clone();
            attempt += 1;
            let sent = agent
                .post(format!("http://{addr}/v1/shops/{shop}/events"))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {OPERATOR}"))
                .send(body.as_str());
            let missed = match answer(sent) {
                Ok(a) if a.status == 200 => match judge(shop, &a.body, lines) {
                    Ok((applied, duplicates)) => {
                        let mut p = shared
                            .progress
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner);
                        p.acked[k] = i + 1;
                        p.acks.push(Ack {
                            shop: k,
                            batch: i,
                            at: Instant::now(),
                            addr,
                            attempts: attempt,
                            applied,
                            duplicates,
                        });
                        shared.progressed.notify_all();
                        break;
                    }
                    Err(why) => {
                        return fail(format!("{shop} batch {i} through {addr}: {why}\n{body}"))
                    }
                },
                Ok(a) if a.status >= 500 || a.status == 408 => {
                    format!("{} {}", a.status, a.body)
                }
                Ok(a) => {
                    return fail(format!(
                        "{shop} batch {i} through {addr}: {} {}",
                        a.status, a.body
                    ))
                }
                Err(e) => e,
            };
            avoid.insert(addr.clone(), Instant::now() + AVOID);
            {
                let mut p = shared
                    .progress
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                p.misses.push(Miss {
                    shop: k,
                    batch: i,
                    at: Instant::now(),
                    addr,
                    what: missed,
                });
            }
            // A client's pause between attempts, not a wait for the server's state.
            std::thread::sleep(BACKOFF);
        }
    }
}

/// A 200's results: each line's records (applied) or `duplicate_id` (applied before); counts.
fn judge(shop: &str, body: &str, lines: usize) -> Result<(usize, usize), String> {
    let doc: Value = serde_json::from_str(body).map_err(|e| format!("not JSON ({e}): {body}"))?;
    let results = doc["results"]
        .as_array()
        .ok_or_else(|| format!("no results: {body}"))?;
    if results.len() != lines {
        return Err(format!(
            "{} results for {lines} lines: {body}",
            results.len()
        ));
    }
    let (mut applied, mut duplicates) = (0, 0);
    for r in results {
        if let Some(records) = r["records"].as_array() {
            if records.iter().any(|rec| rec["shop"] != shop) {
                return Err(format!("a record of another shop: {r}"));
            }
            applied += 1;
        } else if r["error"] == "duplicate_id" {
            duplicates += 1;
        } else {
            return Err(format!("a line neither applied nor a duplicate: {r}"));
        }
    }
    Ok((applied, duplicates))
}
