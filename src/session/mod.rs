//! The session: the one layer between the runtime and every front end (`run`, the ops
//! commands, `watch`, `serve`, `connect`). It keeps the batch since the last commit
//! ([`batch`]), drives a run of a file or a stream through the one writer ([`run`]), and
//! builds the versions a program is made of for the store ([`versions`]), and runs the live
//! loop of `watch` and `serve` ([`live`]). The runtime below it
//! does no I/O and knows nothing of what keeps its state.

pub(crate) mod batch;
pub(crate) mod deployment;
pub(crate) mod live;
pub(crate) mod run;
pub(crate) mod shops;
mod versions;

pub(crate) use batch::{drain, spill_ended, Batcher};
pub use deployment::{Deployment, ShopFiles, SHOPS_DIR};
pub use run::{run_file, run_file_shops, run_stream, Observer, Quiet, RunError, RunSummary};
pub(crate) use run::{run_one, BATCH_EVENTS, STDIN};
pub(crate) use shops::Shops;
