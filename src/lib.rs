//! sampleflow: a rules engine with config-driven workflows for creator-sample programs.
//!
//! A workflow file (`workflows/*.yaml`) describes a sample's lifecycle: states, the events that
//! move between them, deadlines and the rule hooks called on the way. This crate loads those
//! files with positions for every name ([`definition`]), checks them and reports every defect at
//! once with file:line:column ([`validate`]), and builds the petgraph state graph that the runner
//! walks and `sampleflow graph` draws ([`graph`]).

pub mod cli;
pub mod definition;
pub mod diagnostic;
pub mod graph;
pub mod validate;

pub use definition::{load_dir, load_str, Duration, Loaded, Workflow, DEFAULT_WORKFLOW};
pub use diagnostic::{Source, Span, Spanned};
pub use graph::{to_dot, to_mermaid, WorkflowGraph};
pub use validate::{check_workflow, validate, validate_dir, Problem, Report};
