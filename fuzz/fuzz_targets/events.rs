//! Any bytes as a stream of events, through the bounded line reader and a runner of the shipped
//! workflow and rules: nothing panics, every line out is a record or an error record of a known
//! kind, and every batch is one the store accepts (every number finite).
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sampleflow::machinery::LineReader;
use sampleflow::machinery::model::{ErrorKind, Output, Snapshot};
use sampleflow::machinery::runtime::{Program, Runner};
use sampleflow::machinery::store::{Batch, MemoryStore, Store};

fn program() -> &'static Program {
    static PROGRAM: OnceLock<Program> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let (graphs, report) = sampleflow::validate_dir(&root.join("workflows")).expect("workflows");
        assert!(!report.has_errors());
        let rules = sampleflow::RuleSet::load(&root.join("rules")).expect("rules");
        Program::new(graphs, rules)
    })
}

fuzz_target!(|data: &[u8]| {
    let mut runner = Runner::new(program().clone(), Snapshot::default());
    let mut store = MemoryStore::new();
    let mut reader = LineReader::new(data);
    let mut n = 0;
    while let Ok(Some(line)) = reader.next_line() {
        n += 1;
        runner.apply_input(n, &line);
        for out in runner.drain_output() {
            if let Output::Error(e) = out {
                assert!(ErrorKind::ALL.iter().any(|k| k.as_str() == e.error), "{e:?}");
            }
        }
        let batch = Batch {
            changes: runner.take_changes(),
            ..Batch::default()
        };
        store.commit(&batch).expect("a batch the store accepts");
    }
    runner.finish();
    let _ = runner.drain_output().count();
});
