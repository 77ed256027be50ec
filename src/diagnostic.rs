//! Sources, spans and the rendering of diagnostics: every defect points at file:line:column.

use std::fmt::Write as _;
use std::sync::Arc;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, MietteError, NamedSource, Severity,
    SourceCode, SourceSpan, SpanContents,
};

/// A file's name and text, shared cheaply by every diagnostic that points into it.
pub type Source = NamedSource<Arc<str>>;

/// Wraps a file's text so that diagnostics can quote it.
pub fn source(name: impl AsRef<str>, text: impl Into<Arc<str>>) -> Source {
    NamedSource::new(name, text.into()).with_language("yaml")
}

/// The largest YAML file (a workflow, the policy, a file of rule test cases) read.
pub const MAX_YAML_FILE: u64 = 1 << 20;
/// The largest rule script read. Rhai's parser slows with the square of a file's functions:
/// this keeps a load well under a second.
pub const MAX_SCRIPT_FILE: u64 = 256 << 10;

/// Reads a file the user edits, refusing one larger than `max` bytes without reading it whole.
pub fn read_bounded(path: &std::path::Path, max: u64) -> std::io::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(max + 1).read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the file is larger than {} KiB, the most read", max >> 10),
        ));
    }
    Ok(text)
}

/// A byte range in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Span {
    /// Where it starts, in bytes.
    pub offset: usize,
    /// Its length, in bytes.
    pub len: usize,
}

impl Span {
    /// A span of `len` bytes from `offset`.
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

/// Where a defect is: the file it is in and the span in it, together (cedar calls it `Loc`).
///
/// A defect declares its place once, as one field that miette both quotes (the source) and
/// underlines (the span): see `defect!`.
#[derive(Debug, Clone)]
pub struct Loc {
    pub src: Source,
    pub span: Span,
}

impl Loc {
    pub fn new(src: Source, span: Span) -> Self {
        Self { src, span }
    }
}

impl From<Loc> for SourceSpan {
    fn from(loc: Loc) -> Self {
        loc.span.into()
    }
}

/// The file a [`Loc`] points into, as miette reads it: the quote comes from the source, so a
/// diagnostic renders exactly as one holding the source itself.
impl SourceCode for Loc {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'a> + 'a>, MietteError> {
        self.src
            .read_span(span, context_lines_before, context_lines_after)
    }
}

/// Declares a defect found in a file: a thiserror + miette struct whose `loc` field is its
/// place, the source quoted and the span underlined with the label given after `at`
/// (`at primary "..."` where another label of the struct is not the primary one).
///
/// ```ignore
/// defect! {
///     /// A target that names no state of the workflow.
///     #[error("unknown state `{name}`")]
///     #[diagnostic(code(workflow::unknown_state))]
///     pub struct UnknownState at "no state of this name" {
///         pub name: String,
///         #[help]
///         pub help: Option<String>,
///     }
/// }
/// ```
macro_rules! defect {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident at primary $label:literal { $($fields:tt)* }
    ) => {
        $crate::diagnostic::defect!(@struct [$(#[$meta])*] $vis $name [primary, $label] { $($fields)* });
    };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident at $label:literal { $($fields:tt)* }
    ) => {
        $crate::diagnostic::defect!(@struct [$(#[$meta])*] $vis $name [$label] { $($fields)* });
    };
    (@struct [$($meta:tt)*] $vis:vis $name:ident [$($label:tt)*] { $($fields:tt)* }) => {
        #[derive(Debug, thiserror::Error, miette::Diagnostic)]
        $($meta)*
        $vis struct $name {
            $($fields)*
            /// Where it is: the file quoted and the span underlined.
            #[source_code]
            #[label($($label)*)]
            pub loc: $crate::diagnostic::Loc,
        }
    };
}
pub(crate) use defect;

/// Turns (1-based line, 0-based character column) into byte offsets, after one pass over the
/// text: every place a parser reports costs a look-up, not a scan of the file.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { text, starts }
    }

    pub fn offset(&self, line: usize, col: usize) -> usize {
        let Some(&start) = self.starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        self.text[start..]
            .char_indices()
            .nth(col)
            .map_or(self.text.len(), |(i, _)| start + i)
    }

    /// The 1-based line and column (in characters) of a byte offset: what
    /// [`Span::line_col`] gives, without a scan of the text before it.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|s| *s <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self
            .text
            .get(start..offset)
            .map_or(0, |t| t.chars().count());
        (line, column + 1)
    }

    /// The span of the one character at a line (from 1) and character column (from 0).
    pub fn char_span(&self, line: usize, col: usize) -> Span {
        let offset = self.offset(line, col);
        let len = self.text[offset..].chars().next().map_or(0, char::len_utf8);
        Span::new(offset, len)
    }

    /// The lines of the text, with their 1-based numbers and lengths in characters.
    pub fn lines(&self) -> impl Iterator<Item = (usize, &'a str)> + '_ {
        self.starts.iter().enumerate().map(|(i, &start)| {
            let end = self.starts.get(i + 1).map_or(self.text.len(), |e| e - 1);
            (i + 1, &self.text[start..end.max(start)])
        })
    }
}

/// A value from a file with the place it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// A value with its place.
    pub fn new(value: T, span: Span) -> Self {
        Self { value, span }
    }
}

impl Spanned<String> {
    /// The text.
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
        if quotes_long_line(diagnostic) {
            out.push_str(&plain(diagnostic));
            continue;
        }
        // The renderer is a library's: should it ever fail or panic on some text, the
        // diagnostic is still told, plainly, and nothing else stops.
        let mut one = String::new();
        let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handler.render_report(&mut one, diagnostic)
        }));
        match rendered {
            Ok(Ok(())) => out.push_str(&one),
            _ => out.push_str(&plain(diagnostic)),
        }
    }
    out
}

/// The longest source line quoted under a diagnostic; a longer one is told by place only.
const MAX_QUOTED_LINE: usize = 2_000;

/// True when a label of the diagnostic points into a line too long to quote.
fn quotes_long_line(diagnostic: &dyn Diagnostic) -> bool {
    let (Some(labels), Some(source)) = (diagnostic.labels(), diagnostic.source_code()) else {
        return false;
    };
    labels.into_iter().any(|label| {
        // With the lines around it that the renderer quotes too.
        source.read_span(label.inner(), 1, 1).is_ok_and(|c| {
            c.data()
                .split(|b| *b == b'\n')
                .any(|line| line.len() > MAX_QUOTED_LINE)
        })
    })
}

/// The diagnostic without its quote: code, message, file:line:column, label and help.
fn plain(diagnostic: &dyn Diagnostic) -> String {
    let mut out = String::new();
    if let Some(code) = diagnostic.code() {
        let _ = writeln!(out, "{code}\n");
    }
    let _ = writeln!(out, "  × {diagnostic}");
    if let Some(place) = location(diagnostic) {
        let label = diagnostic
            .labels()
            .and_then(|mut l| l.next())
            .and_then(|l| l.label().map(str::to_string));
        match label {
            Some(label) => {
                let _ = writeln!(
                    out,
                    "    at {place}: {label} (the line is too long to quote)"
                );
            }
            None => {
                let _ = writeln!(out, "    at {place} (the line is too long to quote)");
            }
        }
    }
    if let Some(help) = diagnostic.help() {
        let _ = writeln!(out, "  help: {help}");
    }
    out
}

/// The closest of `candidates` to `name`, for "did you mean" hints.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|candidate| (strsim::jaro_winkler(name, candidate), candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
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
        let index = LineIndex::new(text);
        for offset in 0..=text.len() {
            if text.is_char_boundary(offset) {
                assert_eq!(index.line_col(offset), Span::new(offset, 0).line_col(text));
            }
        }
    }

    #[test]
    fn suggestions_find_typos_and_ignore_strangers() {
        let events = crate::model::vocab::EVENT_TYPES.iter().map(|e| e.name);
        assert_eq!(
            did_you_mean("sample_shiped", events.clone()),
            Some("sample_shipped")
        );
        assert_eq!(did_you_mean("zzz", events), None);
    }

    #[test]
    fn a_defect_declared_with_its_loc_renders_as_one_holding_source_and_span() {
        defect! {
            /// A defect declared with its place once.
            #[error("unknown state `{name}`")]
            #[diagnostic(code(test::loc), help("did you mean `ended`?"))]
            struct WithLoc at "no state of this name" {
                name: String,
            }
        }
        /// The same defect with the source and the span apart, as defects were written before.
        #[derive(Debug, thiserror::Error, Diagnostic)]
        #[error("unknown state `{name}`")]
        #[diagnostic(code(test::loc), help("did you mean `ended`?"))]
        struct Apart {
            name: String,
            #[source_code]
            src: Source,
            #[label("no state of this name")]
            span: SourceSpan,
        }
        let src = source("flow.yaml", "states:\n  waiting: {to: endd}\n");
        let span = Span::new(24, 4);
        let with_loc = WithLoc {
            name: "endd".into(),
            loc: Loc::new(src.clone(), span),
        };
        let apart = Apart {
            name: "endd".into(),
            src,
            span: span.into(),
        };
        let rendered = render([&with_loc as &dyn Diagnostic], false);
        assert_eq!(rendered, render([&apart as &dyn Diagnostic], false));
        assert!(rendered.contains("no state of this name"), "{rendered}");
        assert_eq!(location(&with_loc).as_deref(), Some("flow.yaml:2:17"));
    }
}
