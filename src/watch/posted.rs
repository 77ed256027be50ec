//! A body of event lines handed to the runner by a caller that waits for the outcome (`serve`'s
//! `POST /v1/events`, its ops routes and console, the connector): one buffer and the places of its
//! lines, so that a request costs its body and a few bytes a line, never a copy of each line.
//!
//! `by` on every event of a body is its poster's name, never the client's: the runner's thread
//! splices `,"by":NAME` before a line's closing brace as it applies it (the runner reads the last
//! of a key given twice), so the line is neither parsed into a tree nor written again, and every
//! refusal stays exactly what the runner says of the line.

use bytes::Bytes;

use super::role::{self, Poster};
use crate::runtime::input::{Line, KEEP, MAX_LINE};

/// The most lines a body may hold (blank lines not counted).
pub const MAX_LINES: usize = 100_000;

/// One non-blank line of a body.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// Its number in the body, blank lines counted.
    line: u32,
    start: u32,
    end: u32,
    /// What `by` is spliced into.
    shape: Shape,
    /// It names a shop (read once here, so that what looks for shops skips the lines that
    /// name none without reading them again).
    shop: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Not a JSON object: left as it is, for the runner to refuse.
    Other,
    /// `{}`.
    Empty,
    /// An object with fields.
    Fields,
}

/// Why a body is refused before anything of it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No line holds anything.
    Empty,
    /// More than [`MAX_LINES`] lines.
    TooManyLines,
    /// A line its poster may not post: its number and type.
    Forbidden { line: u64, kind: String },
}

/// A body of lines, checked and ready for the runner.
#[derive(Debug, Clone)]
pub struct Posted {
    body: Bytes,
    spans: Vec<Span>,
    /// `"by":"NAME"` as JSON, spliced into every object line.
    by: Option<String>,
    /// Who posted it and the name stamped, as given: what a forward to a cluster's owner says.
    poster: Poster,
    by_name: Option<String>,
}

impl Posted {
    /// Reads a body of JSON Lines (a UTF-8 byte-order mark at its start skipped, `\r\n` endings
    /// taken) posted by `poster`; `by` is the name stamped on each event, none to leave them as
    /// written (events a trusted part of this process made itself).
    pub fn read(body: Bytes, poster: Poster, by: Option<&str>) -> Result<Posted, Refused> {
        Posted::read_capped(body, poster, by, MAX_LINES)
    }

    fn read_capped(
        body: Bytes,
        poster: Poster,
        by: Option<&str>,
        cap: usize,
    ) -> Result<Posted, Refused> {
        let from = if body.starts_with(b"\xEF\xBB\xBF") {
            3
        } else {
            0
        };
        let mut spans = Vec::new();
        let mut start = from;
        let mut number = 0u32;
        while start <= body.len() {
            let end = body[start..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(body.len(), |i| start + i);
            number = number.saturating_add(1);
            let mut text_end = end;
            if text_end > start && body[text_end - 1] == b'\r' {
                text_end -= 1;
            }
            let text = &body[start..text_end];
            if !text.trim_ascii().is_empty() {
                if spans.len() == cap {
                    return Err(Refused::TooManyLines);
                }
                let mut names_shop = false;
                let shape = if text.len() > MAX_LINE {
                    Shape::Other
                } else {
                    match role::head(text) {
                        None => Shape::Other,
                        Some(head) => {
                            names_shop = head.shop.is_some();
                            if let Some(kind) = head.kind.as_deref() {
                                if !poster.may_post(kind) {
                                    return Err(Refused::Forbidden {
                                        line: u64::from(number),
                                        kind: kind.to_string(),
                                    });
                                }
                            }
                            if head.fields {
                                Shape::Fields
                            } else {
                                Shape::Empty
                            }
                        }
                    }
                };
                spans.push(Span {
                    line: number,
                    start: start as u32,
                    end: text_end as u32,
                    shape,
                    shop: names_shop,
                });
            }
            start = end + 1;
        }
        if spans.is_empty() {
            return Err(Refused::Empty);
        }
        let by_name = by.map(str::to_string);
        let by = by.map(|name| {
            let quoted = serde_json::to_string(name).unwrap_or_else(|_| "null".into());
            format!("\"by\":{quoted}")
        });
        Ok(Posted {
            body,
            spans,
            by,
            poster,
            by_name,
        })
    }

    /// A body another instance of the cluster checked and forwards (its poster and name as it
    /// read them): read as that instance read it, with no cap of lines (it kept to the cap).
    pub fn forwarded(body: Bytes, poster: Poster, by: Option<&str>) -> Result<Posted, Refused> {
        Posted::read_capped(body, poster, by, usize::MAX)
    }

    /// The body as posted, its poster and the name stamped on its events: what a forward says.
    pub fn parts(&self) -> (&Bytes, Poster, Option<&str>) {
        (&self.body, self.poster, self.by_name.as_deref())
    }

    /// Lines a part of this process made itself (an ops action, a connector poll, however many
    /// it found), `by` as they say.
    pub fn made(lines: &[String]) -> Result<Posted, Refused> {
        Posted::read_capped(
            Bytes::from(lines.join("\n")),
            Poster::Operator,
            None,
            usize::MAX,
        )
    }

    /// The first line that names a shop `outside` says no to: its number and the shop (a
    /// request on one shop, by a principal that may act on some shops only, is refused whole
    /// for it, as for a line its role may not post).
    pub fn first_shop_outside(&self, outside: impl Fn(&str) -> bool) -> Option<(u64, String)> {
        self.spans.iter().find_map(|span| {
            if !span.shop {
                return None;
            }
            let text = &self.body[span.start as usize..span.end as usize];
            let shop = role::head(text)?.shop?;
            outside(&shop).then(|| (u64::from(span.line), shop.into_owned()))
        })
    }

    /// The body split by the shop each line is applied in: a line naming a shop `runs` says
    /// the deployment has goes to that shop, any other to `shop`. Each part keeps its lines at
    /// their numbers (the others left blank), so that what the runner says of a line names the
    /// line of the body as posted. Gives each part's shop and body, in the order each shop first
    /// comes, and for each line of the body the part it is in.
    pub fn by_shop(
        &self,
        shop: &str,
        runs: impl Fn(&str) -> bool,
    ) -> (Vec<(String, Posted)>, Vec<usize>) {
        if !self.spans.iter().any(|span| span.shop) {
            return (
                vec![(shop.to_string(), self.clone())],
                vec![0; self.spans.len()],
            );
        }
        let mut shops: Vec<String> = Vec::new();
        let mut of_line = Vec::with_capacity(self.spans.len());
        for span in &self.spans {
            let named = span
                .shop
                .then(|| role::head(&self.body[span.start as usize..span.end as usize]))
                .flatten()
                .and_then(|h| h.shop)
                .filter(|s| runs(s));
            let named = named.as_deref().unwrap_or(shop);
            let at = match shops.iter().position(|s| s == named) {
                Some(at) => at,
                None => {
                    shops.push(named.to_string());
                    shops.len() - 1
                }
            };
            of_line.push(at);
        }
        if shops.len() <= 1 {
            let only = shops.pop().unwrap_or_else(|| shop.to_string());
            return (vec![(only, self.clone())], of_line);
        }
        let parts = shops
            .into_iter()
            .enumerate()
            .map(|(part, name)| {
                let mut body = Vec::with_capacity(self.body.len() / 2);
                let mut number = 1u32;
                for (span, at) in self.spans.iter().zip(&of_line) {
                    if *at != part {
                        continue;
                    }
                    while number < span.line {
                        body.push(b'\n');
                        number += 1;
                    }
                    body.extend_from_slice(&self.body[span.start as usize..span.end as usize]);
                }
                let posted = Posted {
                    spans: Vec::new(),
                    body: Bytes::new(),
                    by: self.by.clone(),
                    poster: self.poster,
                    by_name: self.by_name.clone(),
                };
                let read = Posted::read_capped(
                    Bytes::from(body),
                    self.poster,
                    self.by_name.as_deref(),
                    usize::MAX,
                )
                .unwrap_or(posted);
                (name, read)
            })
            .collect();
        (parts, of_line)
    }

    /// The non-blank lines it holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.spans.len()
    }

    /// Hands each line to `apply` as the line reader would give it, `by` spliced in; `buf` is
    /// the one buffer every stamped line is written into.
    pub fn each(&self, buf: &mut Vec<u8>, mut apply: impl FnMut(u64, &Line<'_>)) {
        for span in &self.spans {
            let text = &self.body[span.start as usize..span.end as usize];
            let len = text.len();
            let bytes: &[u8] = match (&self.by, span.shape) {
                (Some(by), Shape::Fields | Shape::Empty) => {
                    // The object's closing brace is its last byte but blanks.
                    let close = text.len() - (text.len() - text.trim_ascii_end().len()) - 1;
                    buf.clear();
                    buf.extend_from_slice(&text[..close]);
                    if span.shape == Shape::Fields {
                        buf.push(b',');
                    }
                    buf.extend_from_slice(by.as_bytes());
                    buf.extend_from_slice(&text[close..]);
                    buf
                }
                _ => text,
            };
            let too_long = len > MAX_LINE;
            let input = Line {
                bytes: &bytes[..bytes.len().min(KEEP)],
                raw: bytes,
                consumed: len as u64,
                too_long,
            };
            apply(u64::from(span.line), &input);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_splits_by_shop_with_each_line_at_its_number() {
        let body = "{\"id\":\"a\",\"shop\":\"s2\"}\n\n{\"id\":\"b\"}\n{\"id\":\"c\",\"shop\":\"nope\"}\n{\"id\":\"d\",\"shop\":\"s2\"}";
        let posted = Posted::read(Bytes::from(body), Poster::Ingest, Some("ana")).expect("reads");
        let (parts, of_line) = posted.by_shop("s1", |s| s == "s1" || s == "s2");
        assert_eq!(of_line, [0, 1, 1, 0]);
        let names: Vec<&str> = parts.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(names, ["s2", "s1"]);
        let lines = |p: &Posted| {
            let mut seen = Vec::new();
            p.each(&mut Vec::new(), |n, l| {
                seen.push((n, String::from_utf8_lossy(l.raw).into_owned()))
            });
            seen
        };
        assert_eq!(
            lines(&parts[0].1),
            [
                (
                    1,
                    "{\"id\":\"a\",\"shop\":\"s2\",\"by\":\"ana\"}".to_string()
                ),
                (
                    5,
                    "{\"id\":\"d\",\"shop\":\"s2\",\"by\":\"ana\"}".to_string()
                )
            ]
        );
        assert_eq!(
            lines(&parts[1].1)
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>(),
            [3, 4]
        );
        let (one, _) = posted.by_shop("s2", |s| s == "s2");
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn the_first_line_naming_a_shop_outside_is_found() {
        let body = "{\"id\":\"e1\",\"type\":\"tick\"}\n\n{\"shop\":\"a\",\"type\":\"tick\"}\nnot json\n{\"shop\":\"a\",\"shop\":\"b\"}\n";
        let posted = Posted::read(Bytes::from(body), Poster::Ingest, Some("x")).expect("reads");
        assert_eq!(
            posted.first_shop_outside(|s| s != "a"),
            Some((5, "b".into()))
        );
        assert_eq!(
            posted.first_shop_outside(|s| s == "a"),
            Some((3, "a".into()))
        );
        assert_eq!(posted.first_shop_outside(|_| false), None);
    }

    fn stamped(body: &str, poster: Poster, by: Option<&str>) -> Vec<(u64, String)> {
        let posted = Posted::read(Bytes::from(body.to_string()), poster, by).expect("reads");
        let mut out = Vec::new();
        posted.each(&mut Vec::new(), |n, l| {
            out.push((n, String::from_utf8_lossy(l.bytes).into_owned()))
        });
        out
    }

    #[test]
    fn by_is_spliced_into_each_object_and_nothing_else_changes() {
        let body =
            "\u{feff}{\"id\":\"e1\",\"by\":\"mallory\"}\r\n\n  \n{}\nnot json\n{\"id\":\"e2\"}  \n";
        assert_eq!(
            stamped(body, Poster::Ingest, Some("ana \"x\"")),
            vec![
                (
                    1,
                    r#"{"id":"e1","by":"mallory","by":"ana \"x\""}"#.to_string()
                ),
                (4, r#"{"by":"ana \"x\""}"#.to_string()),
                (5, "not json".to_string()),
                (6, r#"{"id":"e2","by":"ana \"x\""}  "#.to_string()),
            ]
        );
        assert_eq!(
            stamped("{\"id\":\"e\"}", Poster::Operator, None),
            vec![(1, r#"{"id":"e"}"#.to_string())]
        );
    }

    #[test]
    fn a_body_is_refused_whole_for_one_line_its_poster_may_not_post() {
        let body = "{\"type\":\"tick\"}\nnot json\n{\"type\":\"sample_reviewed\"}\n";
        let refused = Posted::read(Bytes::from(body), Poster::Ingest, Some("bot")).err();
        assert_eq!(
            refused,
            Some(Refused::Forbidden {
                line: 3,
                kind: "sample_reviewed".into()
            })
        );
        assert!(Posted::read(Bytes::from(body), Poster::Operator, Some("ana")).is_ok());
        assert_eq!(
            Posted::read(Bytes::from("\n \n"), Poster::Operator, None).err(),
            Some(Refused::Empty)
        );
    }

    #[test]
    fn more_lines_than_the_cap_are_refused_blank_ones_not_counted() {
        let full = "{}\n\n".repeat(MAX_LINES);
        assert_eq!(
            Posted::read(Bytes::from(full.clone()), Poster::Ingest, None)
                .map(|p| p.len())
                .ok(),
            Some(MAX_LINES)
        );
        let over = format!("{full}{{}}");
        assert_eq!(
            Posted::read(Bytes::from(over), Poster::Ingest, None).err(),
            Some(Refused::TooManyLines)
        );
    }
}
