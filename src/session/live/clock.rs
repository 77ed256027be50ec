//! The wall clock a live session fires deadlines on, replaceable in tests.

use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The wall clock, replaceable in tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that says what it is told (tests, and `SAMPLEFLOW_NOW` for tests of the binary).
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualClock(std::sync::Mutex::new(at))
    }

    #[cfg(test)]
    pub fn set(&self, at: DateTime<Utc>) {
        if let Ok(mut now) = self.0.lock() {
            *now = at;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map_or_else(|_| Utc::now(), |now| *now)
    }
}

/// The wall clock every front end reads (`watch`, `serve`, `connect`, the ops commands);
/// `SAMPLEFLOW_NOW` (RFC 3339) stops it at that moment.
pub fn wall_clock() -> Result<Arc<dyn Clock>, String> {
    match std::env::var("SAMPLEFLOW_NOW") {
        Ok(text) => chrono::DateTime::parse_from_rfc3339(&text)
            .map(|at| Arc::new(ManualClock::new(at.with_timezone(&chrono::Utc))) as Arc<dyn Clock>)
            .map_err(|e| format!("`SAMPLEFLOW_NOW`: `{text}` is not an RFC 3339 time: {e}")),
        Err(_) => Ok(Arc::new(SystemClock)),
    }
}

/// The wall clock's time now; the system's when `SAMPLEFLOW_NOW` is not a time (the commands
/// that take it refuse a bad one at start).
pub fn wall_now() -> chrono::DateTime<chrono::Utc> {
    wall_clock().map_or_else(|_| chrono::Utc::now(), |c| c.now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_says_what_it_is_told() {
        let at = DateTime::parse_from_rfc3339("2026-02-01T00:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        let clock = ManualClock::new(at);
        assert_eq!(clock.now(), at);
        clock.set(at + chrono::Duration::days(1));
        assert_eq!(clock.now(), at + chrono::Duration::days(1));
    }
}
