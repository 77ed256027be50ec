//! sampleflow: a rules engine with config-driven workflows for creator-sample programs.
//!
//! A workflow file (`workflows/*.yaml`) describes a sample's lifecycle: states, the events that
//! move between them, deadlines and the rule hooks called on the way. This crate loads those
//! files with positions for every name ([`definition`]), checks them and reports every defect at
//! once with file:line:column ([`validate`]), and builds the petgraph state graph that the runner
//! walks and `sampleflow graph` draws ([`graph`]).
//!
//! The rules (`rules/*.rhai`, per category over `rules/default.rhai`) and the numbers they read
//! (`rules/policy.yaml`) are loaded, checked and compiled once into a [`RuleSet`], whose hooks run
//! sandboxed and explain every decision ([`rules`]).
//!
//! The layers, each depending only on those above it:
//! - [`model`]: the data every layer shares (the contract's vocabulary, the typed event, a
//!   request, a creator's ledger, a sample in flight, records, the runner's figures);
//! - [`definition`], [`validate`], [`graph`]: workflows loaded with positions, checked, built;
//! - [`rules`]: the scripts and policy, compiled per category and run sandboxed;
//! - [`store`]: saves the model (it knows nothing of rules or the runner);
//! - [`runtime`]: the compiled program and the runner that applies events to it, split by idea
//!   (the wire parser, program, dispatch, deadlines, ledger, memory, swap); it does no I/O and
//!   names nothing of the store;
//! - `session`: the one layer between the runtime and every front end: the batch since the last
//!   commit, a run of a file or a stream through the one writer, the live loop, the versions of
//!   a program;
//! - [`analysis`], `serve`, [`connect`] and [`cli`]: figures, the HTTP service (given a config
//!   and the live program), the shop's platform and its exactly-once cycle, and the commands
//!   (argument parsing and printing; nothing else imports them).
//!
//! ```
//! use std::path::Path;
//!
//! let text = "
//! workflow: tiny
//! version: 1
//! initial: {on: sample_requested, to: waiting}
//! states:
//!   waiting:
//!     deadlines:
//!       expire: {after: 7d, to: ended, reason: review_expired}
//!     on:
//!       sample_withdrawn: {to: ended, reason: withdrawn}
//!   ended: {terminal: true}
//! ";
//! let workflow = sampleflow::load_str(Path::new("tiny.yaml"), text).expect("loads");
//! let (graph, problems) = sampleflow::check_workflow(workflow);
//! assert!(problems.is_empty());
//! let withdrawn = graph.move_for("waiting", "sample_withdrawn").expect("a move");
//! assert_eq!(withdrawn.to.as_ref().map(|t| t.as_str()), Some("ended"));
//! assert_eq!(graph.state_deadlines("waiting")[0].name.as_str(), "expire");
//! assert_eq!(graph.is_terminal("ended"), Some(true));
//!
//! // A misspelt target is a problem with a place and a hint, not a panic.
//! let broken = text.replace("to: ended, reason: withdrawn", "to: endd, reason: withdrawn");
//! let workflow = sampleflow::load_str(Path::new("tiny.yaml"), &broken).expect("loads");
//! let (_, problems) = sampleflow::check_workflow(workflow);
//! assert_eq!(problems[0].to_string(), "unknown state `endd`");
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
// The internals `machinery` opens to tests, benches and fuzz targets are not the API: their docs
// are the code's comments. Without it (the shipped build) what only they reach is unused, as
// expected.
#![cfg_attr(feature = "machinery", allow(missing_docs))]
#![cfg_attr(not(feature = "machinery"), allow(dead_code, unused_imports))]

pub mod cli;
#[cfg(feature = "machinery")]
#[doc(hidden)]
pub mod machinery;

mod analysis;
mod connect;
mod definition;
mod diagnostic;
mod graph;
mod model;
mod rules;
mod runtime;
mod serve;
mod session;
mod store;
mod validate;
mod watch;

pub use definition::{load_dir, load_str, Duration, Loaded, Workflow, DEFAULT_WORKFLOW};
pub use diagnostic::{Source, Span, Spanned};
pub use graph::{to_dot, to_mermaid, WorkflowGraph};
pub use rules::{Policy, RuleFault, RuleSet, ScreenInput, Screening};
pub use validate::{check_workflow, validate, validate_dir, Problem, Report};
