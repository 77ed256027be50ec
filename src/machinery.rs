//! Internals that tests, benches, examples and the fuzz targets drive directly, behind the
//! `machinery` feature and hidden from the docs: not part of the crate's API, and changed whenever
//! the internals change (as minijinja's `machinery`). Each module mirrors the private one it opens.

pub mod analysis {
    pub use crate::analysis::*;
}
pub mod connect {
    pub use crate::connect::*;
}
pub mod definition {
    pub use crate::definition::*;
}
pub mod diagnostic {
    pub use crate::diagnostic::*;
}
pub mod model {
    pub use crate::model::*;
}
pub mod rules {
    pub use crate::rules::*;
}
pub mod runtime {
    pub use crate::runtime::*;
}
pub mod session {
    pub use crate::session::*;
}
pub mod serve {
    pub use crate::serve::*;
}
pub mod store {
    pub use crate::store::*;
}

/// The bounded line reader every event input goes through, and the line it gives.
pub use crate::runtime::input::{Line, LineReader};

/// Reads a file of rule test cases (`rules/tests/*.yaml`): the cases, or every defect with its
/// place.
pub use crate::rules::cases::parse as parse_rule_cases;
