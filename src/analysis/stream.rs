//! Events read and parsed once and shared by every replay (`tune`'s points, `diff` over a parsed
//! input): parsing is about a third of a replay's work, and the same for every replay.

use std::io::BufRead;
use std::path::Path;

use crate::model::{ErrorKind, Event, Refusal};
use crate::runtime::input::LineReader;
use crate::runtime::parse::{parse, Bad};

/// Every line of an input as the runner would read it: its number and its event, or why it
/// cannot be one (refused on every replay as `run` refuses it). Blank lines are left out.
#[derive(Debug, Default)]
pub struct Stream {
    lines: Vec<(u64, Result<Event, Bad>)>,
    bytes: u64,
}

fn malformed(message: String) -> Bad {
    Bad {
        id: None,
        refusal: Refusal::new(ErrorKind::Malformed, message),
    }
}

impl Stream {
    /// Reads `input` as `run` reads a file: lines of at most 1 MiB, a byte-order mark at the
    /// start skipped, a line that is not UTF-8 malformed.
    pub fn read(input: impl BufRead) -> std::io::Result<Stream> {
        let mut reader = LineReader::new(input);
        let mut stream = Stream::default();
        let mut number = 0u64;
        while let Some(line) = reader.next_line()? {
            number += 1;
            stream.bytes += line.consumed;
            if line.too_long {
                let bad = malformed(line.too_long_message());
                stream.lines.push((number, Err(bad)));
                continue;
            }
            match std::str::from_utf8(line.bytes) {
                Ok(text) if text.trim().is_empty() => {}
                Ok(text) => {
                    let text = text.trim_end_matches(['\n', '\r']);
                    stream.lines.push((number, parse(text)));
                }
                Err(e) => {
                    let bad = malformed(format!("not UTF-8: {e}"));
                    stream.lines.push((number, Err(bad)));
                }
            }
        }
        Ok(stream)
    }

    /// Reads the file at `path`.
    pub fn read_file(path: &Path) -> std::io::Result<Stream> {
        let file = std::fs::File::open(path)?;
        Stream::read(std::io::BufReader::with_capacity(1 << 16, file))
    }

    /// The raw events kept in a store, one a line, numbered from 1 as `diff --from-db` does.
    pub fn from_lines(lines: &[String]) -> Stream {
        let mut stream = Stream::default();
        for (i, text) in lines.iter().enumerate() {
            stream.bytes += text.len() as u64 + 1;
            if text.trim().is_empty() {
                continue;
            }
            let text = text.trim_end_matches(['\n', '\r']);
            stream.lines.push((i as u64 + 1, parse(text)));
        }
        stream
    }

    /// Each line's number and parse, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &Result<Event, Bad>)> {
        self.lines.iter().map(|(n, parsed)| (*n, parsed))
    }

    /// Lines that are not blank.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The input's size in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_once_as_the_runner_reads_them() {
        let input =
            b"\xEF\xBB\xBF{\"id\":\"t1\",\"type\":\"tick\",\"at\":\"2026-01-01T00:00:00Z\"}\r\n\
                      \n   \nnot json\n\xFF\xFE\n";
        let stream = Stream::read(&input[..]).unwrap();
        let got: Vec<(u64, Result<String, String>)> = stream
            .iter()
            .map(|(n, p)| {
                let p = match p {
                    Ok(e) => Ok(e.id.to_string()),
                    Err(b) => Err(b.refusal.kind.as_str().to_string()),
                };
                (n, p)
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (1, Ok("t1".to_string())),
                (4, Err("malformed".to_string())),
                (5, Err("malformed".to_string())),
            ]
        );
        assert_eq!(stream.bytes(), input.len() as u64);
    }
}
