//! The TikTok Shop connector's parts: its config (secrets from files), the platform's
//! signatures, and a client for the sample-application calls.

pub mod config;
pub mod map;
pub mod platform;
pub mod sign;

pub use config::{Config, Secret};
