//! The one line reader of every input (`run`'s file or stdin, `watch`'s stdin, spool files): lines
//! of at most [`MAX_LINE`] bytes, the rest of a longer line skipped without ever being held in
//! memory, and a UTF-8 byte-order mark at the start of the input dropped.

use std::io::{BufRead, ErrorKind};

/// The longest line, in bytes without its line ending, that is read as an event; a longer one
/// is `malformed`.
pub const MAX_LINE: usize = 1 << 20;

/// What of a line is kept: all of a line that fits, the first bytes of one that does not (a
/// line ending is at most `\r\n`).
pub const KEEP: usize = MAX_LINE + 2;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One line as read.
#[derive(Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// Bytes of input it took, line ending included: where the next line starts.
    pub consumed: u64,
    /// The line with its ending, or its first bytes when it is too long; without a byte-order
    /// mark.
    pub bytes: &'a [u8],
    /// The same as read, byte-order mark included: what a resumed run recognises its input by.
    pub raw: &'a [u8],
    /// Longer than [`MAX_LINE`]: `bytes` holds only its start.
    pub too_long: bool,
}

impl Line<'_> {
    /// The refusal's message of a line that is too long.
    pub fn too_long_message(&self) -> String {
        format!(
            "the line is {} bytes long; a line may be at most {MAX_LINE} bytes (1 MiB)",
            self.consumed
        )
    }
}

/// A line owned, to cross threads; a line over the limit keeps none of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedLine {
    consumed: u64,
    bytes: Vec<u8>,
    too_long: bool,
}

impl Line<'_> {
    pub fn to_owned_line(&self) -> OwnedLine {
        OwnedLine {
            consumed: self.consumed,
            bytes: if self.too_long {
                Vec::new()
            } else {
                self.bytes.to_vec()
            },
            too_long: self.too_long,
        }
    }
}

impl OwnedLine {
    pub fn as_line(&self) -> Line<'_> {
        Line {
            consumed: self.consumed,
            bytes: &self.bytes,
            raw: &self.bytes,
            too_long: self.too_long,
        }
    }
}

/// Reads lines from `inner`, bounded.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// True until the first line was read (where a byte-order mark may stand).
    first: bool,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            first: true,
        }
    }

    /// As [`LineReader::new`], for input that continues a stream already begun (a resumed run):
    /// no byte-order mark is looked for.
    pub fn resumed(inner: R) -> Self {
        LineReader {
            first: false,
            ..LineReader::new(inner)
        }
    }

    /// The next line, or `None` at the end of the input.
    pub fn next_line(&mut self) -> std::io::Result<Option<Line<'_>>> {
        self.buf.clear();
        let mut consumed = 0u64;
        let mut content = 0usize;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            let (take, done) = match available.iter().position(|b| *b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            let room = KEEP.saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&available[..take.min(room)]);
            content += take - usize::from(done);
            consumed += take as u64;
            self.inner.consume(take);
            if done {
                break;
            }
        }
        if consumed == 0 {
            return Ok(None);
        }
        let raw = &self.buf[..];
        let mut bytes = raw;
        if std::mem::take(&mut self.first) && bytes.starts_with(BOM) {
            bytes = &bytes[BOM.len()..];
            content -= BOM.len();
        }
        Ok(Some(Line {
            consumed,
            bytes,
            raw,
            too_long: content > MAX_LINE,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<(u64, Vec<u8>, bool)> {
        // A tiny buffer, so that lines cross many refills.
        let mut reader = LineReader::new(std::io::BufReader::with_capacity(7, input));
        let mut out = Vec::new();
        while let Some(line) = reader.next_line().expect("reads") {
            out.push((line.consumed, line.bytes.to_vec(), line.too_long));
        }
        out
    }

    #[test]
    fn lines_keep_their_ending_and_the_last_may_have_none() {
        assert_eq!(
            lines(b"{\"a\":1}\n\n{\"b\":22}\r\nend"),
            vec![
                (8, b"{\"a\":1}\n".to_vec(), false),
                (1, b"\n".to_vec(), false),
                (10, b"{\"b\":22}\r\n".to_vec(), false),
                (3, b"end".to_vec(), false),
            ]
        );
    }

    #[test]
    fn a_byte_order_mark_is_dropped_at_the_start_only() {
        let got = lines(b"\xEF\xBB\xBF{}\n\xEF\xBB\xBF{}\n");
        assert_eq!(got[0], (6, b"{}\n".to_vec(), false));
        assert_eq!(got[1], (6, b"\xEF\xBB\xBF{}\n".to_vec(), false));
    }

    #[test]
    fn a_line_over_the_limit_is_cut_and_skipped_to_its_end() {
        let mut input = vec![b'x'; MAX_LINE];
        input.push(b'\n');
        input.extend(vec![b'y'; MAX_LINE + 1]);
        input.extend(b"\nnext\n");
        let got = lines(&input);
        assert_eq!(got.len(), 3);
        assert_eq!((got[0].0, got[0].2), (MAX_LINE as u64 + 1, false));
        assert_eq!((got[1].0, got[1].2), (MAX_LINE as u64 + 2, true));
        assert_eq!(got[1].1.len(), KEEP);
        assert_eq!(got[2], (5, b"next\n".to_vec(), false));
    }
}
