//! Sources, spans and the rendering of diagnostics: every defect points at file:line:column.

use std::fmt::Write as _;
use std::sync::Arc;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, NamedSource, Severity, SourceSpan,
};

/// A file's name and text, shared cheaply by every diagnostic that points into it.
pub type Source = NamedSource<Arc<str>>;

/// Wraps a file's text so that diagnostics can quote it.
pub fn source(name: impl AsRef<str>, text: impl Into<Arc<str>>) -> Source {
    NamedSource::new(name, text.into()).with_language("yaml")
}

/// A byte range in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    pub offset: usize,
    pub len: usize,
}

impl Span {
    pub fn new(offset: usize, len: usize) -> Self {
        Self { offset, len }
    }

    /// The 1-based line and column (in characters) where the span starts in `text`.
    pub fn line_col(&self, text: &str) -> (usize, usize) {
        let before = &text[..self.offset.min(text.len())];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }
}

impl From<Span> for SourceSpan {
    fn from(span: Span) -> Self {
        SourceSpan::new(span.offset.into(), span.len)
    }
}

/// A value from a file with the place it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

impl Spanned<String> {
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

/// True for diagnostics that are warnings or advice rather than errors.
pub fn is_warning(diagnostic: &dyn Diagnostic) -> bool {
    matches!(
        diagnostic.severity(),
        Some(Severity::Warning) | Some(Severity::Advice)
    )
}

/// `file:line:column` of a diagnostic's first label, if it has one.
pub fn location(diagnostic: &dyn Diagnostic) -> Option<String> {
    let label = diagnostic.labels()?.next()?;
    let contents = diagnostic
        .source_code()?
        .read_span(label.inner(), 0, 0)
        .ok()?;
    Some(format!(
        "{}:{}:{}",
        contents.name().unwrap_or("<input>"),
        contents.line() + 1,
        contents.column() + 1
    ))
}

/// Renders diagnostics as miette does: the source lines with the fault underlined.
///
/// `color` is off for snapshots and pipes so that the text is stable.
pub fn render<'a>(
    diagnostics: impl IntoIterator<Item = &'a dyn Diagnostic>,
    color: bool,
) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    for diagnostic in diagnostics {
        if handler.render_report(&mut out, diagnostic).is_err() {
            let _ = writeln!(out, "{diagnostic}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters_from_one() {
        let text = "a: 1\nbé: x\n";
        assert_eq!(Span::new(0, 1).line_col(text), (1, 1));
        // `x` is at byte 10 but character column 5 of line 2.
        assert_eq!(Span::new(10, 1).line_col(text), (2, 5));
    }
}
