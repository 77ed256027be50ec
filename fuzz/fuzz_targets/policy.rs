//! Any bytes as `policy.yaml`: loading never panics, and every diagnostic points inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miette::Diagnostic;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(problems) = sampleflow::Policy::parse("policy.yaml", text) {
        for problem in &problems {
            for label in problem.labels().into_iter().flatten() {
                let end = label.offset() + label.len();
                assert!(end <= text.len() && text.is_char_boundary(label.offset()));
            }
        }
        let _ = sampleflow::machinery::diagnostic::render(problems.iter().map(|p| p as &dyn Diagnostic), false);
    }
});
