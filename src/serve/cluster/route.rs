//! Where a cluster's writes go: to the local session of a shop this instance owns, or forwarded
//! to the owner's advertised URL (`POST /v1/cluster/forward/{shop}`, with this instance's key
//! and the caller's name and role); and `GET /v1/cluster`, the view of who owns what.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::sync::mpsc::SyncSender;

use super::{hash, leases, Cluster};
use crate::serve::api::{results, unavailable, At, Params};
use crate::serve::{body_bytes, error, Permission, Shared};
use crate::session::live::Msg;
use crate::watch::Posted;

/// Where a write for a shop goes now.
enum Route {
    Local(SyncSender<Msg>),
    /// The owner's URL, id and lease epoch.
    Remote(String, String, i64),
    Nobody,
}

/// What a forward came to.
enum Forwarded {
    Answer(Vec<u8>),
    Retry,
}

/// The header naming the instance that forwards.
pub const INSTANCE: &str = "x-sampleflow-instance";
/// The header with the caller's name (percent-encoded) and role, on a forward.
pub const BY: &str = "x-sampleflow-by";
pub const POSTER: &str = "x-sampleflow-poster";

impl Cluster {
    fn route(&self, shop: &str) -> Route {
        if let Some(tx) = self.local(shop) {
            return Route::Local(tx);
        }
        let Ok(s) = self.state.lock() else {
            return Route::Nobody;
        };
        let epoch = s
            .view
            .leases
            .iter()
            .find(|l| l.shop == shop)
            .map_or(0, |l| l.epoch);
        match s.view.owner(shop) {
            Some(owner) if owner.id != self.id => {
                Route::Remote(owner.url.clone(), owner.id.clone(), epoch)
            }
            _ => Route::Nobody,
        }
    }

    /// True while the database says `owner` holds `shop`'s lease at `epoch`, unexpired.
    fn still_owns(&self, shop: &str, owner: &str, epoch: i64) -> bool {
        self.state.lock().is_ok_and(|s| {
            s.view
                .leases
                .iter()
                .any(|l| l.shop == shop && l.live && l.owner == owner && l.epoch == epoch)
        })
    }

    /// Applies `posted` in `shop` wherever its owner is: here, or forwarded; waits for the lease
    /// to move when the owner is gone. `None`: no owner committed it in time (nothing of it is
    /// acknowledged).
    pub(crate) async fn apply(&self, posted: Posted, shop: &str) -> Option<Vec<u8>> {
        let until = Instant::now() + self.ttl * 2 + Duration::from_secs(5);
        loop {
            match self.route(shop) {
                Route::Local(tx) => {
                    if let Some(answer) = crate::serve::hand(&tx, posted.clone(), shop).await {
                        return Some(answer);
                    }
                }
                Route::Remote(url, owner, epoch) => {
                    // An owner that stops answering (paused, its machine gone) is given up once
                    // its lease lapses or moves, and the same events go to the next owner: what
                    // the old one committed before comes back `duplicate_id` there, and what it
                    // tries after the lease moved is refused by the fence.
                    let forward = self.forward(&url, shop, &posted);
                    let moved = async {
                        while self.still_owns(shop, &owner, epoch) {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    };
                    tokio::select! {
                        forwarded = forward => {
                            if let Forwarded::Answer(a) = forwarded {
                                return Some(a);
                            }
                        }
                        () = moved => {}
                    }
                }
                Route::Nobody => {}
            }
            if Instant::now() >= until || self.stopping.load(Ordering::SeqCst) {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Applies a body whose lines may name several shops: each shop's lines go to its owner
    /// (lines naming no shop, or one the deployment lacks, are `shop`'s), and the
    /// answers are put back together in the body's order. `None` when any part found no owner
    /// in time (the parts that did are applied: a retry finds them `duplicate_id`).
    pub(crate) async fn apply_split(
        &self,
        posted: Posted,
        shop: &str,
        runs: impl Fn(&str) -> bool,
    ) -> Option<Vec<u8>> {
        let (mut parts, of_line) = posted.by_shop(shop, runs);
        if parts.len() == 1 {
            let (only, posted) = parts.pop()?;
            return self.apply(posted, &only).await;
        }
        // One part after the other: shops share nothing, so the order between them is free,
        // and a body that mixes shops is the rare one.
        let mut answers = Vec::with_capacity(parts.len());
        for (name, part) in parts {
            answers.push(self.apply(part, &name).await);
        }
        #[derive(serde::Deserialize)]
        struct Results {
            results: Vec<Box<serde_json::value::RawValue>>,
        }
        let mut each = Vec::with_capacity(answers.len());
        for answer in answers {
            let results: Results = serde_json::from_slice(&answer?).ok()?;
            each.push(results.results.into_iter());
        }
        let mut out = Vec::with_capacity(of_line.len() * 64);
        out.extend_from_slice(b"{\"results\":[");
        for (i, part) in of_line.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let result = each.get_mut(*part)?.next()?;
            out.extend_from_slice(result.get().as_bytes());
        }
        out.extend_from_slice(b"]}");
        Some(out)
    }

    /// Applies `posted` here when this instance owns `shop`: `Err(421)` when it does not (the
    /// forwarder looks again), `Err(503)` when its session ended before committing it.
    pub(crate) async fn apply_here(&self, posted: Posted, shop: &str) -> Result<Vec<u8>, u16> {
        let tx = self.local(shop).ok_or(421u16)?;
        crate::serve::hand(&tx, posted, shop).await.ok_or(503)
    }

    /// Forwards to the owner at `url`, as this instance, with the caller's name and role.
    async fn forward(&self, url: &str, shop: &str, posted: &Posted) -> Forwarded {
        let (body, poster, by) = posted.parts();
        let body = body.clone();
        let by = by.map(|n| {
            percent_encoding::utf8_percent_encode(n, percent_encoding::NON_ALPHANUMERIC).to_string()
        });
        let target = format!("{}/v1/cluster/forward/{shop}", url.trim_end_matches('/'));
        let agent = self.agent.clone();
        let (id, key) = (self.id.clone(), self.key.clone());
        let wait = self.ttl * 2 + Duration::from_secs(25);
        let sent = tokio::task::spawn_blocking(move || {
            let mut request = agent
                .post(&target)
                .config()
                .timeout_global(Some(wait))
                .build()
                .header("content-type", "application/x-ndjson")
                .header(INSTANCE, id)
                .header("authorization", format!("Bearer {key}"))
                .header(POSTER, poster.as_str());
            if let Some(by) = by {
                request = request.header(BY, by);
            }
            let mut response = request.send(&body[..]).ok()?;
            let status = response.status().as_u16();
            let bytes = response.body_mut().read_to_vec().ok()?;
            Some((status, bytes))
        })
        .await;
        match sent {
            Ok(Some((200, bytes))) => Forwarded::Answer(bytes),
            _ => Forwarded::Retry,
        }
    }

    /// True when `key` is the forwarding key of the live instance `id`.
    pub(crate) fn verifies(&self, id: &str, key: &str) -> bool {
        use subtle::ConstantTimeEq;
        let given = hash(key);
        let same = |known: &str| bool::from(known.as_bytes().ct_eq(given.as_bytes()));
        if let Ok(peers) = self.peers.lock() {
            if peers.get(id).is_some_and(|k| same(k)) {
                return true;
            }
        }
        match self.on_side(|client| leases::key_of(client, id, self.ttl * 3)) {
            Some(Some(known)) => {
                let ok = same(&known);
                if let Ok(mut peers) = self.peers.lock() {
                    peers.insert(id.to_string(), known);
                }
                ok
            }
            _ => false,
        }
    }

    /// `GET /v1/cluster`: the live instances and the shops each owns, as the database says now
    /// (the coordinator's last view when the database cannot be read), only the shops `shown`
    /// allows listed (a viewer's own). Waits on the database: called off the async threads.
    pub(crate) fn describe(&self, shown: impl Fn(&str) -> bool) -> serde_json::Value {
        let fresh = self.on_side(|client| leases::view(client, self.ttl));
        let view = match fresh {
            Some(view) => view,
            None => self
                .state
                .lock()
                .map(|s| s.view.clone())
                .unwrap_or_default(),
        };
        let instances: Vec<serde_json::Value> = view
            .instances
            .iter()
            .map(|i| {
                serde_json::json!({
                    "id": i.id,
                    "url": i.url,
                    "renewed_at": i.renewed_at,
                    "shops": view
                        .owned_by(&i.id)
                        .into_iter()
                        .filter(|s| shown(s))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::json!({ "instances": instances })
    }
}

/// `GET /v1/cluster` (viewer): the live instances and the shops each owns.
pub(in crate::serve) async fn view(State(app): State<Shared>, headers: HeaderMap) -> Response {
    let principal = match app.authenticate(&headers, Permission::Viewer, None) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !principal.role.allows(Permission::Viewer) {
        return error(StatusCode::FORBIDDEN, "forbidden", "this needs a `viewer`");
    }
    match app.cluster.clone() {
        Some(c) => match tokio::task::spawn_blocking(move || {
            c.describe(|shop| principal.shops.allows(shop))
        })
        .await
        {
            Ok(view) => Json(view).into_response(),
            Err(e) => error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("the cluster's view failed: {e}"),
            ),
        },
        None => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "this serve runs alone, not as an instance of a cluster (`serve --cluster`)",
        ),
    }
}

/// `POST /v1/cluster/forward/{shop}`: a write another instance of the cluster forwards to this
/// one, the shop's owner. The forwarder is known by its key (whose hash it keeps in the
/// database), and it says the caller's name and role, which it checked: the events are stamped
/// with that name as if the caller had come here. 421 when this instance does not own the shop
/// (the forwarder looks again), 503 when its session ended before committing.
pub(in crate::serve) async fn forwarded(
    State(app): State<Shared>,
    headers: HeaderMap,
    params: Params,
    body: Body,
) -> Response {
    let At { shop, .. } = At::of(params);
    let Some(cluster) = app.cluster.clone() else {
        return error(StatusCode::NOT_FOUND, "not_found", "no cluster here");
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let id = header(INSTANCE).unwrap_or("").to_string();
    let key = header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("")
        .trim()
        .to_string();
    let verified = {
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || !id.is_empty() && cluster.verifies(&id, &key))
            .await
            .unwrap_or(false)
    };
    if !verified {
        return error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "not a live instance of this cluster: nothing was applied",
        );
    }
    let poster = match header(POSTER).map(crate::watch::Poster::parse) {
        Some(Ok(p)) => p,
        _ => return error(StatusCode::BAD_REQUEST, "bad_request", "no poster said"),
    };
    let by = header(BY).map(|v| {
        percent_encoding::percent_decode_str(v)
            .decode_utf8_lossy()
            .into_owned()
    });
    let body = match body_bytes(body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Ok(posted) = Posted::forwarded(body, poster, by.as_deref()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the body holds no event",
        );
    };
    match cluster.apply_here(posted, &shop).await {
        Ok(answer) => results(answer),
        Err(421) => error(
            StatusCode::MISDIRECTED_REQUEST,
            "not_owner",
            format!("shop `{shop}` is not owned by this instance"),
        ),
        Err(_) => unavailable(),
    }
}
