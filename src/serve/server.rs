//! The HTTP server's connections (contract "Serving safely"): hyper's HTTP/1 connection per
//! accepted socket, each watched so that no one can starve the service without a token.
//!
//! - A connection must send a whole request head within [`HEAD`] of opening (or of the first byte
//!   of its next request), and may sit idle between requests for [`IDLE`]: past that it is closed.
//!   hyper's own `header_read_timeout` also runs while a keep-alive connection waits, so it would
//!   close idle connections at the head's limit; the two limits are kept here instead, from what
//!   the socket reads and what the service is asked.
//! - At most `--max-connections` are open at once. Past that, a new connection takes the place
//!   of the one that has waited longest without a request being served (idle, or still sending
//!   its head); when every connection is being served, the new one waits for a place. So a flood
//!   of idle or half-sent connections never keeps a real request out, and never cuts one short.
//! - On stop, every connection finishes the request it is serving and closes.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tower::Service;

/// The time a connection has to send a whole request head.
pub const HEAD: Duration = Duration::from_secs(10);
/// The time a connection may sit idle between two requests.
pub const IDLE: Duration = Duration::from_secs(60);

/// Descriptors kept free for the store, the log, the spool and the reloader when the cap is
/// brought under the process's open-file limit.
const SPARE_FILES: usize = 64;

const FRESH: u8 = 0;
const HEAD_STARTED: u8 = 1;
const BUSY: u8 = 2;
const IDLE_PHASE: u8 = 3;

/// One open connection, as the accept loop and its own task see it.
struct Slot {
    phase: AtomicU8,
    inflight: AtomicUsize,
    /// Milliseconds from [`Server::epoch`]: when the phase began, and when it must end.
    since: AtomicU64,
    deadline: AtomicU64,
    /// Wakes the connection's task: a deadline moved.
    changed: Notify,
    /// Closes the connection: its place is given to a new one.
    evict: Notify,
}

impl Slot {
    fn set(&self, epoch: Instant, phase: u8, limit: Option<Duration>) {
        let now = epoch.elapsed().as_millis() as u64;
        self.phase.store(phase, Ordering::SeqCst);
        self.since.store(now, Ordering::SeqCst);
        let deadline = limit.map_or(u64::MAX, |l| now + l.as_millis() as u64);
        self.deadline.store(deadline, Ordering::SeqCst);
        self.changed.notify_one();
    }
}

/// What the accept loop shares with the connections' tasks.
struct Server {
    epoch: Instant,
    cap: usize,
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    /// A connection ended: a place may be free.
    freed: Notify,
}

impl Server {
    fn open(&self) -> usize {
        self.slots.lock().map_or(0, |s| s.len())
    }

    /// Closes the connection that has waited longest without being served; false when every
    /// connection is being served.
    fn evict_one(&self) -> bool {
        let Ok(mut slots) = self.slots.lock() else {
            return false;
        };
        let victim = slots
            .iter()
            .filter(|(_, s)| s.phase.load(Ordering::SeqCst) != BUSY)
            .min_by_key(|(_, s)| s.since.load(Ordering::SeqCst))
            .map(|(id, _)| *id);
        match victim.and_then(|id| slots.remove(&id)) {
            Some(slot) => {
                slot.evict.notify_one();
                true
            }
            None => false,
        }
    }
}

/// The most connections this process can hold with `wanted` asked for: the open-file limit, less
/// what the rest of the process needs, bounds it.
pub fn cap(wanted: usize) -> (usize, Option<u64>) {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|n| n.parse::<u64>().ok())
        });
    match soft {
        Some(limit) if (limit as usize) < wanted + SPARE_FILES => (
            (limit as usize).saturating_sub(SPARE_FILES).max(1),
            Some(limit),
        ),
        _ => (wanted.max(1), None),
    }
}

/// Serves `router` on `listener` until `stop` resolves, then lets every connection finish the
/// request it is serving.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    max_connections: usize,
    stop: impl Future<Output = ()>,
) {
    let server = Arc::new(Server {
        epoch: Instant::now(),
        cap: max_connections,
        slots: Mutex::new(HashMap::new()),
        freed: Notify::new(),
    });
    let (stopping, stop_rx) = watch::channel(false);
    let mut next_id = 0u64;
    tokio::pin!(stop);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut stop => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors: the oldest idle connection gives its own back.
                if !server.evict_one() {
                    tracing::warn!(target: "http", accept_error = %e);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        while server.open() >= server.cap && !server.evict_one() {
            // Every connection is being served: the new one waits for a place.
            tokio::select! {
                _ = server.freed.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        next_id += 1;
        let slot = Arc::new(Slot {
            phase: AtomicU8::new(FRESH),
            inflight: AtomicUsize::new(0),
            since: AtomicU64::new(0),
            deadline: AtomicU64::new(0),
            changed: Notify::new(),
            evict: Notify::new(),
        });
        slot.set(server.epoch, FRESH, Some(HEAD));
        if let Ok(mut slots) = server.slots.lock() {
            slots.insert(next_id, slot.clone());
        }
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(
            server.clone(),
            next_id,
            slot,
            stream,
            router.clone(),
            stop_rx.clone(),
        ));
    }
    drop(listener);
    let _ = stopping.send(true);
    // Connections not being served close now (one still sending its head would otherwise
    // hold the stop for its 10 s); the others once their request is answered.
    while server.open() > 0 {
        while server.evict_one() {}
        tokio::select! {
            _ = server.freed.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

/// Counts a request in flight on its connection for as long as it is served.
struct InFlight {
    slot: Arc<Slot>,
    epoch: Instant,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.slot.inflight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.slot.set(self.epoch, IDLE_PHASE, Some(IDLE));
        }
    }
}

async fn connection(
    server: Arc<Server>,
    id: u64,
    slot: Arc<Slot>,
    stream: TcpStream,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let epoch = server.epoch;
    let svc = {
        let slot = slot.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            slot.inflight.fetch_add(1, Ordering::SeqCst);
            slot.set(epoch, BUSY, None);
            let guard = InFlight {
                slot: slot.clone(),
                epoch,
            };
            let mut router = router.clone();
            async move {
                let answer = router.call(req.map(axum::body::Body::new)).await;
                drop(guard);
                answer
            }
        })
    };
    let io = TokioIo::new(Watched {
        stream,
        slot: slot.clone(),
        epoch,
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, svc);
    tokio::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let deadline = slot.deadline.load(Ordering::SeqCst);
        let until = if deadline == u64::MAX {
            Instant::now() + Duration::from_secs(3600)
        } else {
            epoch + Duration::from_millis(deadline)
        };
        tokio::select! {
            _ = conn.as_mut() => break,
            _ = slot.evict.notified() => break,
            _ = slot.changed.notified() => {}
            _ = tokio::time::sleep_until(until) => {
                let now = epoch.elapsed().as_millis() as u64;
                let phase = slot.phase.load(Ordering::SeqCst);
                if phase != BUSY && now >= slot.deadline.load(Ordering::SeqCst) {
                    // Too slow with its head, or idle too long: closed unanswered.
                    break;
                }
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
    if let Ok(mut slots) = server.slots.lock() {
        slots.remove(&id);
    }
    server.freed.notify_one();
}

/// A socket that tells its slot when the first byte of a new request arrives.
struct Watched {
    stream: TcpStream,
    slot: Arc<Slot>,
    epoch: Instant,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before && self.slot.phase.load(Ordering::SeqCst) == IDLE_PHASE {
            self.slot.set(self.epoch, HEAD_STARTED, Some(HEAD));
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_under_the_open_file_limit() {
        let (cap, limit) = cap(usize::MAX / 2);
        if let Some(limit) = limit {
            assert!((cap as u64) < limit, "{cap} {limit}");
        }
        assert_eq!(cap_small(), 1);
    }

    fn cap_small() -> usize {
        cap(0).0
    }
}
