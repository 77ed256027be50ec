//! The TikTok Shop connector: its config (secrets from files), the platform's signatures, its
//! tokens (refreshed and written back, [`token`]), a client for the platform's calls, the
//! poll/settle/deliver cycle that keeps the store in step with the shop exactly once
//! ([`cycle`], [`deliver`], [`sales`]), the connector that runs it beside a live session and
//! takes the platform's webhooks ([`webhook`]), and a fake platform to try it on ([`demo`]).

pub(crate) mod config;
pub(crate) mod cycle;
pub(crate) mod deliver;
pub(crate) mod demo;
pub(crate) mod map;
pub(crate) mod platform;
pub(crate) mod sales;
pub(crate) mod sign;
pub(crate) mod token;
pub(crate) mod webhook;

pub use config::{load as load_config, Config, Secret};
pub use map::{events as application_events, Catalog};
pub use platform::{CallError, Client, Retry};
pub use sign::webhook as webhook_signature;
