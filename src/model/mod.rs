//! The data every layer shares: rules register it with Rhai, the runtime changes it, the store
//! saves it, and the front ends show it. Nothing here runs a rule, reads a file or knows SQL.
//!
//! The ground layer: the contract's fixed vocabulary ([`vocab`]), the typed event and why one
//! may be refused, requests, samples, ledgers, records, the runner's state, time and JSON
//! writing. It imports nothing of the layers above it.

mod domain;
mod event;
mod instance;
mod json;
pub mod ops;
mod record;
mod shadow;
mod shop;
pub mod source;
mod state;
mod time;
pub mod vocab;

/// A shared, immutable string: ids, states, categories and reasons, cloned by a reference count
/// on every record and hook call. It is Rhai's own string type, so that the rule engine reads
/// the model's strings without a copy; this alias is the one place the model names it, and
/// callers name `SharedStr`, not the engine.
pub type SharedStr = rhai::ImmutableString;

pub use domain::{
    Action, Adjustment, Creator, Decision, Ledger, LedgerView, Post, Product, ProductHistory,
    Quarter, Sample, SampleRequest, Verdict, DAY,
};
pub use event::{Body, ErrorKind, Event, Metrics, Refusal};
pub use instance::{Armed, DeadlineView, Instance, SampleView};
pub use record::{ActionOut, ErrorRecord, Explain, Output, Record};
pub use shadow::ShadowDecision;
pub use shop::{valid_shop, DEFAULT_SHOP};
pub use state::{after, last_time, Changes, Fallback, Meta, Snapshot, Spilled, Stats};
pub use time::{utc, utc_opt, utc_seq, Rfc3339};
