//! The wall clock every front end reads (`watch`, `serve`, `connect`, the ops commands):
//! `SAMPLEFLOW_NOW` (RFC 3339) stops it at that moment, for tests of the binary.

use std::sync::Arc;

use super::{Clock, ManualClock, SystemClock};

/// The wall clock; `SAMPLEFLOW_NOW` (RFC 3339) stops it at that moment.
pub fn wall_clock() -> Result<Arc<dyn Clock>, String> {
    match std::env::var("SAMPLEFLOW_NOW") {
        Ok(text) => chrono::DateTime::parse_from_rfc3339(&text)
            .map(|at| Arc::new(ManualClock::new(at.with_timezone(&chrono::Utc))) as Arc<dyn Clock>)
            .map_err(|e| format!("`SAMPLEFLOW_NOW`: `{text}` is not an RFC 3339 time: {e}")),
        Err(_) => Ok(Arc::new(SystemClock)),
    }
}
