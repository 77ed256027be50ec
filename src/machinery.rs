//! Internals the fuzz targets drive directly, behind the `machinery` feature and hidden from the
//! docs: not part of the crate's API, and changed whenever the internals change. Only what a
//! fuzz target needs, nothing more.

/// The bounded line reader every event input goes through, and the line it gives.
pub use crate::runtime::input::{Line, LineReader};

/// Reads a file of rule test cases (`rules/tests/*.yaml`): the cases, or every defect with its
/// place.
pub use crate::rules::cases::parse as parse_rule_cases;
