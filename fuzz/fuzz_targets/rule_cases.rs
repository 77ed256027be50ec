//! Any bytes as a rule test case file: reading never panics, and every diagnostic points inside
//! the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miette::Diagnostic;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = sampleflow::machinery::parse_rule_cases("cases.yaml", text) {
        for error in &errors {
            for label in error.labels().into_iter().flatten() {
                let end = label.offset() + label.len();
                assert!(end <= text.len() && text.is_char_boundary(label.offset()));
            }
        }
        let _ = sampleflow::machinery::diagnostic::render(errors.iter().map(|e| e as &dyn Diagnostic), false);
    }
});
