//! The TikTok Shop connector's parts: its config (secrets from files), the platform's
//! signatures, and a client for the sample-application calls.

pub(crate) mod config;
pub(crate) mod map;
pub(crate) mod platform;
pub(crate) mod sign;

pub use config::{load as load_config, Config, Secret};
pub use map::{events as application_events, Catalog};
pub use platform::{CallError, Client, Retry};
pub use sign::webhook as webhook_signature;
