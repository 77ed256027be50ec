//! A span-keeping parse of a YAML file, alongside serde_yaml's typed one.
//!
//! serde_yaml gives no positions for values and keeps only the last of two equal keys, so the same
//! text is also read through saphyr-parser's events into a small tree that keeps every key, in
//! order, with its line and column. Diagnostics find their place in this tree by path.

use saphyr_parser::{Event, Parser, ScanError};

use crate::diagnostic::LineIndex;
use crate::diagnostic::Span;

/// A node of the span tree.
#[derive(Debug, Clone)]
pub struct Node {
    pub span: Span,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum NodeKind {
    Scalar(String),
    Seq(Vec<Node>),
    /// Entries in file order, duplicates kept.
    Map(Vec<(Node, Node)>),
    Alias,
}

/// A YAML syntax error at a place in the text.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub message: String,
    pub span: Span,
}

impl Node {
    /// The text of a scalar node.
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(text) => Some(text),
            _ => None,
        }
    }

    /// The entries of a mapping node.
    pub fn entries(&self) -> &[(Node, Node)] {
        match &self.kind {
            NodeKind::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The first entry whose key is `key`.
    pub fn entry(&self, key: &str) -> Option<&(Node, Node)> {
        self.entries()
            .iter()
            .find(|(k, _)| k.as_scalar() == Some(key))
    }

    /// The value under `key` in a mapping, or the item at that index in a sequence.
    pub fn child(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(_) => self.entry(key).map(|(_, v)| v),
            NodeKind::Seq(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        }
    }

    /// The span of the deepest node along `path`: the key itself when `key` is true and the
    /// path ends at a mapping entry, else the value.
    pub fn locate(&self, path: &[String], key: bool) -> Span {
        let mut node = self;
        for (i, segment) in path.iter().enumerate() {
            let last = i + 1 == path.len();
            if key && last {
                if let Some((k, _)) = node.entry(segment) {
                    return k.span;
                }
            }
            match node.child(segment) {
                Some(next) => node = next,
                None => return node.head_span(),
            }
        }
        node.span
    }

    /// A short span at the start of a node, for pointing at a whole collection.
    pub fn head_span(&self) -> Span {
        match &self.kind {
            NodeKind::Map(entries) => entries.first().map_or(self.span, |(k, _)| k.span),
            NodeKind::Seq(_) => Span::new(self.span.offset, 1.min(self.span.len)),
            _ => self.span,
        }
    }
}

/// Parses `text` into a span tree; an empty document is an empty mapping.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let lines = LineIndex::new(text);
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| scan_error(&lines, &e))?;
        let start = lines.offset(span.start.line(), span.start.col());
        let end = lines.offset(span.end.line(), span.end.col()).max(start);
        let node = match event {
            Event::Scalar(value, ..) => Node {
                span: Span::new(start, end - start),
                kind: NodeKind::Scalar(value.into_owned()),
            },
            Event::Alias(_) => Node {
                span: Span::new(start, end - start),
                kind: NodeKind::Alias,
            },
            Event::SequenceStart(..) => {
                stack.push(Frame::new(start, false));
                continue;
            }
            Event::MappingStart(..) => {
                stack.push(Frame::new(start, true));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match stack.pop() {
                Some(frame) => frame.finish(end),
                None => continue,
            },
            // Only the first document of a file is read.
            Event::DocumentEnd if root.is_some() => break,
            _ => continue,
        };
        match stack.last_mut() {
            Some(frame) => frame.push(node),
            None => root = Some(node),
        }
    }
    Ok(root.unwrap_or(Node {
        span: Span::new(0, 0),
        kind: NodeKind::Map(Vec::new()),
    }))
}

struct Frame {
    start: usize,
    is_map: bool,
    items: Vec<Node>,
}

impl Frame {
    fn new(start: usize, is_map: bool) -> Self {
        Self {
            start,
            is_map,
            items: Vec::new(),
        }
    }

    fn push(&mut self, node: Node) {
        self.items.push(node);
    }

    fn finish(self, end: usize) -> Node {
        let span = Span::new(self.start, end.saturating_sub(self.start));
        let kind = if self.is_map {
            let mut entries = Vec::with_capacity(self.items.len() / 2);
            let mut items = self.items.into_iter();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                entries.push((k, v));
            }
            NodeKind::Map(entries)
        } else {
            NodeKind::Seq(self.items)
        };
        Node { span, kind }
    }
}

fn scan_error(lines: &LineIndex, error: &ScanError) -> SyntaxError {
    let marker = error.marker();
    SyntaxError {
        message: error.info().to_string(),
        span: lines.char_span(marker.line(), marker.col()),
    }
}

/// The span of the character at a 1-based line and 0-based character column of `text`.
pub fn char_span(text: &str, line: usize, col: usize) -> Span {
    LineIndex::new(text).char_span(line, col)
}

/// A key that appears twice in one mapping: the path of the mapping, then both key nodes.
#[derive(Debug, Clone)]
pub struct Duplicate {
    pub path: Vec<String>,
    pub key: String,
    pub first: Span,
    pub again: Span,
    /// True when both entries hold the same text.
    pub same_value: bool,
}

/// Every key that appears more than once in its mapping, anywhere in the tree.
pub fn duplicates(root: &Node, text: &str) -> Vec<Duplicate> {
    let mut found = Vec::new();
    let mut path = Vec::new();
    walk_duplicates(root, text, &mut path, &mut found);
    found
}

fn walk_duplicates(node: &Node, text: &str, path: &mut Vec<String>, found: &mut Vec<Duplicate>) {
    match &node.kind {
        NodeKind::Map(entries) => {
            for (i, (key, value)) in entries.iter().enumerate() {
                let Some(name) = key.as_scalar() else {
                    continue;
                };
                if let Some((first, first_value)) = entries[..i]
                    .iter()
                    .find(|(k, _)| k.as_scalar() == Some(name))
                {
                    found.push(Duplicate {
                        path: path.clone(),
                        key: name.to_string(),
                        first: first.span,
                        again: key.span,
                        same_value: slice(text, first_value.span) == slice(text, value.span),
                    });
                }
                path.push(name.to_string());
                walk_duplicates(value, text, path, found);
                path.pop();
            }
        }
        NodeKind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                walk_duplicates(item, text, path, found);
                path.pop();
            }
        }
        NodeKind::Scalar(_) | NodeKind::Alias => {}
    }
}

fn slice(text: &str, span: Span) -> &str {
    text.get(span.offset..span.offset + span.len).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn locates_keys_and_values_by_path() {
        let text = "states:\n  é:\n    on: {a: b}\n";
        let tree = parse(text).unwrap();
        let value = tree.locate(&path(&["states", "é", "on", "a"]), false);
        assert_eq!(&text[value.offset..value.offset + value.len], "b");
        let key = tree.locate(&path(&["states", "é"]), true);
        assert_eq!(&text[key.offset..key.offset + key.len], "é");
        assert_eq!(key.line_col(text), (2, 3));
        // A path that goes past the tree stops at the deepest node it reached.
        let missing = tree.locate(&path(&["states", "é", "on", "zz"]), false);
        assert_eq!(&text[missing.offset..missing.offset + missing.len], "a");
    }

    #[test]
    fn keeps_duplicate_keys_in_order() {
        let text = "a: 1\nb: {x: 1, x: 2}\na: 1\n";
        let tree = parse(text).unwrap();
        let dups = duplicates(&tree, text);
        assert_eq!(dups.len(), 2);
        assert_eq!(dups[0].path, path(&["b"]));
        assert!(!dups[0].same_value);
        assert_eq!(dups[1].key, "a");
        assert!(dups[1].same_value);
        assert_eq!(dups[1].again.line_col(text), (3, 1));
    }

    #[test]
    fn syntax_errors_have_a_place() {
        let text = "a: {b: 1\nc: 2\n";
        let err = parse(text).unwrap_err();
        assert!(err.message.contains("flow mapping"), "{}", err.message);
        assert_eq!(err.span.line_col(text).0, 2);
    }

    #[test]
    fn empty_text_is_an_empty_mapping() {
        assert!(parse("").unwrap().entries().is_empty());
        assert!(parse("# only a comment\n").unwrap().entries().is_empty());
    }
}
