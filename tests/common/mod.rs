//! Helpers shared by the integration tests.

#![allow(dead_code)]

/// The shipped sample workflow with `edit` applied.
pub fn shipped_with(edit: impl Fn(String) -> String) -> String {
    edit(std::fs::read_to_string("workflows/sample.yaml").unwrap())
}

/// 1-based line and column (in characters) of the first `needle` in `text`.
pub fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).expect("needle in text");
    sampleflow::Span::new(offset, needle.len()).line_col(text)
}
