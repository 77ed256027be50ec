//! A shadow decision: what a candidate rule set (`--shadow DIR`) decided on one screening, with
//! the very inputs the live rules saw, beside what the live rules decided. Kept in the store,
//! never acted on.

use serde::{Deserialize, Serialize};

/// One screening, decided by the candidate beside the live rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShadowDecision {
    pub sample: String,
    pub category: String,
    /// The candidate's rules hash (the hash `diff` and `show --versions` use).
    pub rules: String,
    /// The live rules' hash.
    pub live_rules: String,
    /// The request's time.
    pub at: chrono::DateTime<chrono::Utc>,
    /// What the live rules decided (`approve`, `reject`, `review`) and why.
    pub live_decision: String,
    pub live_reason: String,
    /// What the candidate decided and why (`review`/`rule_error` when it faulted).
    pub decision: String,
    pub reason: String,
    /// The tier the candidate used.
    pub tier: String,
    /// The candidate's fault, with file:line:column, when one of its rules failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}
