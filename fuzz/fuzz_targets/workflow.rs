//! Any bytes as a workflow file: loading, checking and drawing never panic, and every
//! diagnostic points inside the text.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use miette::Diagnostic;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let problems = match sampleflow::load_str(Path::new("fuzz.yaml"), text) {
        Ok(workflow) => {
            let (graph, problems) = sampleflow::check_workflow(workflow);
            let _ = sampleflow::to_dot(&graph);
            let _ = sampleflow::to_mermaid(&graph);
            problems
        }
        Err(errors) => errors.into_iter().map(sampleflow::Problem::from).collect(),
    };
    for problem in &problems {
        for label in problem.labels().into_iter().flatten() {
            let end = label.offset() + label.len();
            assert!(
                end <= text.len()
                    && text.is_char_boundary(label.offset())
                    && text.is_char_boundary(end)
            );
        }
    }
    let _ = sampleflow::machinery::diagnostic::render(problems.iter().map(|p| p as &dyn Diagnostic), false);
});
