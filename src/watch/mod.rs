//! `sampleflow watch`'s inputs around the live loop (which is [`crate::session::live`]): the
//! reloader (notify and polling of the rules and workflows), the spool folder, who may post
//! what, the lines posted over HTTP, the session's health and the wall clock.

pub(crate) mod health;
pub(crate) mod posted;
pub(crate) mod reload;
pub(crate) mod role;
pub(crate) mod spool;
pub(crate) mod wall;

pub use health::Health;
pub use posted::{Posted, Refused, MAX_LINES};
pub use reload::{Folders, ReloadRequest};
pub use role::Poster;
pub use wall::wall_clock;

// The live loop, where the front ends import it from.
pub use crate::session::live::{
    reconcile_out, watch, Candidate, Channels, Clock, Ingest, ManualClock, Msg, SystemClock,
    WatchOptions,
};
