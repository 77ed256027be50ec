//! `sampleflow watch`'s inputs around the live loop (the session's `live`): the
//! reloader (notify and polling of the rules and workflows), the spool folder, who may post
//! what, the lines posted over HTTP and the session's health.

pub(crate) mod health;
pub(crate) mod posted;
pub(crate) mod reload;
pub(crate) mod role;
pub(crate) mod spool;

pub use health::Health;
pub use posted::{Posted, Refused, MAX_LINES};
pub use reload::{Folders, ReloadRequest};
pub use role::Poster;
