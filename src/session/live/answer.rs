//! Lines posted by a caller that waits for what they did, and the answer written as they are
//! applied: `{"results":[...]}`, sent once the batch holding them is committed.

use crate::watch::posted::Posted;

/// Lines handed to the runner by a caller that waits for what they did: the answer is sent back
/// on `reply` only once the batch holding them is committed, so an answer means durable. Lines of
/// many callers share one commit (group commit).
pub struct Ingest {
    pub posted: Posted,
    /// The shop its lines belong to when they name none (a route's `/v1/shops/{shop}/`, the
    /// connector's shop; `default` for the unscoped routes).
    pub shop: String,
    /// `{"results":[...]}`: per non-blank line, in order, `{"records":[...]}` (deadlines its
    /// time fired included) or its error record; written as the lines are applied, as bytes.
    pub reply: tokio::sync::oneshot::Sender<Vec<u8>>,
}

/// The answer to an [`Ingest`], written as its lines are applied.
pub(super) struct Answer {
    buf: Vec<u8>,
    /// Where the current line's result starts.
    start: usize,
    records: usize,
    refused: bool,
}

impl Answer {
    pub(super) fn new() -> Answer {
        Answer {
            buf: b"{\"results\":[".to_vec(),
            start: 0,
            records: 0,
            refused: false,
        }
    }

    pub(super) fn begin(&mut self) {
        if self.start > 0 {
            self.buf.push(b',');
        }
        self.start = self.buf.len();
        self.records = 0;
        self.refused = false;
        self.buf.extend_from_slice(b"{\"records\":[");
    }

    /// One output of the line: a record joins the list; a refusal is the line's whole result.
    pub(super) fn push(&mut self, refused: bool, text: &str) {
        if self.refused {
            return;
        }
        if refused {
            self.buf.truncate(self.start);
            self.refused = true;
        } else if self.records > 0 {
            self.buf.push(b',');
        }
        self.records += 1;
        self.buf.extend_from_slice(text.as_bytes());
    }

    pub(super) fn end(&mut self) {
        if !self.refused {
            self.buf.extend_from_slice(b"]}");
        }
    }

    pub(super) fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(b"]}");
        self.buf
    }
}
