//! One `.rhai` file: read, refused when too long to place its defects, parsed, its functions
//! listed and its uses walked once for the static checks.

use std::path::Path;

use rhai::{Engine, AST};

use super::error::{RuleProblem, ScriptSyntax};
use super::uses::{self, Use};

use super::sandbox;
use crate::diagnostic::{self, LineIndex, Loc, Source, Span};

/// The script every category falls back to.
pub const DEFAULT_SCRIPT: &str = "default.rhai";

/// A property or method that a script reads on a hook's parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// The registered type: `Ledger`, `Creator`...
    pub type_name: &'static str,
    pub name: String,
    /// The script file, and the place in it.
    pub file: String,
    pub line: usize,
    pub column: usize,
}

/// A function defined in a script file.
#[derive(Debug, Clone)]
pub struct FnInfo {
    pub name: String,
    pub arity: usize,
    /// Its parameters' names.
    pub params: Vec<String>,
    /// Where its body starts.
    pub span: Span,
}

/// One `.rhai` file, parsed but not optimized.
#[derive(Debug, Clone)]
pub struct ScriptFile {
    /// The file name within the rules folder: `default.rhai`, `electronics.rhai`.
    pub name: String,
    /// `None` for `default.rhai`.
    pub category: Option<String>,
    pub source: Source,
    pub functions: Vec<FnInfo>,
    pub(super) ast: AST,
    /// What the script calls and reads, walked once at load.
    pub(super) uses: Vec<Use>,
}

/// The span of a Rhai position in the text `lines` index.
pub(super) fn span_at(lines: &LineIndex, position: rhai::Position) -> Span {
    let (line, column) = sandbox::pos(position);
    lines.char_span(line.max(1), column.saturating_sub(1))
}

/// The longest line of a script, in characters. Rhai counts lines and columns in 16 bits: a
/// longer line (or more than [`MAX_SCRIPT_LINES`] lines) could not be given a true place.
pub const MAX_SCRIPT_LINE: usize = 10_000;
pub const MAX_SCRIPT_LINES: usize = 65_535;

/// A script too long for its places to be told: refused before Rhai reads it.
fn too_long(path: &Path, text: &str, lines: &LineIndex) -> Option<Box<RuleProblem>> {
    let source = diagnostic::source(path.display().to_string(), text);
    let (message, span) = if let Some((n, _)) = lines.lines().nth(MAX_SCRIPT_LINES) {
        (
            format!("the script has more than {MAX_SCRIPT_LINES} lines"),
            lines.char_span(n, 0),
        )
    } else {
        let (n, line) = lines
            .lines()
            .find(|(_, l)| l.chars().count() > MAX_SCRIPT_LINE)?;
        (
            format!(
                "line {n} is {} characters long; a script line may be at most {MAX_SCRIPT_LINE}",
                line.chars().count()
            ),
            lines.char_span(n, 0),
        )
    };
    Some(Box::new(RuleProblem::from(ScriptSyntax {
        message,
        loc: Loc::new(source, span),
        help: Some("split it: rules are for people to read".into()),
    })))
}

pub(super) fn parse_script(
    engine: &Engine,
    path: &Path,
    name: &str,
    text: &str,
) -> Result<ScriptFile, Box<RuleProblem>> {
    let lines = LineIndex::new(text);
    if let Some(problem) = too_long(path, text, &lines) {
        return Err(problem);
    }
    let source = diagnostic::source(path.display().to_string(), text);
    let mut ast = engine.compile(text).map_err(|e| {
        let message = e.err_type().to_string();
        let help = message
            .contains("'eval'")
            .then(|| "`eval` is disabled: rules cannot run code built at run time".to_string());
        Box::new(RuleProblem::from(ScriptSyntax {
            message,
            loc: Loc::new(source.clone(), span_at(&lines, e.position())),
            help,
        }))
    })?;
    // Hooks are functions; a statement outside them would run nowhere (or, at worst, at load).
    if let Some(stmt) = ast
        .statements()
        .iter()
        .find(|s| !matches!(s, rhai::Stmt::Import(..)))
    {
        return Err(Box::new(RuleProblem::from(ScriptSyntax {
            message: "a statement outside any function: it would never run".into(),
            loc: Loc::new(source, span_at(&lines, stmt.position())),
            help: Some(
                "a rule script holds only functions; move it into the hook it belongs to".into(),
            ),
        })));
    }
    ast.set_source(path.display().to_string());
    let functions = ast
        .iter_fn_def()
        .map(|f| FnInfo {
            name: f.name.to_string(),
            arity: f.params.len(),
            params: f.params.iter().map(|p| p.to_string()).collect(),
            span: span_at(&lines, f.body.start_position()),
        })
        .collect();
    let uses = uses::uses(&ast);
    let stem = name.trim_end_matches(".rhai");
    Ok(ScriptFile {
        name: name.to_string(),
        category: (name != DEFAULT_SCRIPT).then(|| stem.to_string()),
        source,
        functions,
        ast,
        uses,
    })
}
