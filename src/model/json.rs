//! JSON text written field by field for the shapes written millions of times: a record (every
//! line out), a sample's row and a ledger's row (every change saved). serde's general path through
//! their fields was the largest share of the runner after parsing, and of the store's writer
//! after compression. Each writer's output is held equal to its derived `Serialize` by a test,
//! and the pieces are serde_json's own: strings with something to escape are escaped by it,
//! floats are formatted by the crate it formats them with (`zmij`), integers by `itoa`.

use chrono::{DateTime, Utc};

use super::Rfc3339;

/// Text being written: pieces of JSON appended in order.
pub struct JsonWriter<'a>(pub &'a mut String);

impl JsonWriter<'_> {
    /// Literal JSON (a brace, a key with its quotes and colon, a comma); see [`key!`].
    pub fn raw(&mut self, text: &str) -> &mut Self {
        self.0.push_str(text);
        self
    }

    /// A string: as it is when nothing in it needs escaping, else as serde_json escapes it.
    pub fn str(&mut self, s: &str) {
        if escape_free(s.as_bytes()) {
            self.0.reserve(s.len() + 2);
            self.0.push('"');
            self.0.push_str(s);
            self.0.push('"');
        } else {
            self.value(s);
        }
    }

    pub fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.null(),
        }
    }

    /// Any value, as serde_json writes it (for what is rare enough not to be written here).
    pub fn value<T: serde::Serialize + ?Sized>(&mut self, v: &T) {
        match serde_json::to_string(v) {
            Ok(text) => self.0.push_str(&text),
            // What the store saves serializes: a failure would be a bug, written as null.
            Err(_) => self.null(),
        }
    }

    pub fn null(&mut self) {
        self.0.push_str("null");
    }

    /// A float as serde_json writes one: the shortest text that reads back the same, with `.0`
    /// on a whole number; `null` for one that is not finite.
    pub fn f64(&mut self, v: f64) {
        if v.is_finite() {
            self.0.push_str(zmij::Buffer::new().format_finite(v));
        } else {
            self.null();
        }
    }

    pub fn opt_f64(&mut self, v: Option<f64>) {
        match v {
            Some(v) => self.f64(v),
            None => self.null(),
        }
    }

    pub fn int(&mut self, v: impl itoa::Integer) {
        self.0.push_str(itoa::Buffer::new().format(v));
    }

    pub fn bool(&mut self, v: bool) {
        self.0.push_str(if v { "true" } else { "false" });
    }

    /// A time, as [`Rfc3339`] writes it.
    pub fn time(&mut self, at: &DateTime<Utc>) {
        self.0.push('"');
        self.0.push_str(Rfc3339::new(at).as_str());
        self.0.push('"');
    }

    pub fn opt_time(&mut self, at: Option<&DateTime<Utc>>) {
        match at {
            Some(at) => self.time(at),
            None => self.null(),
        }
    }

    /// A list of strings.
    pub fn strs<S: AsRef<str>>(&mut self, items: &[S]) {
        self.list(items, |o, s| o.str(s.as_ref()));
    }

    /// A list: each item written by `item`, commas between.
    pub fn list<T>(&mut self, items: impl IntoIterator<Item = T>, item: impl FnMut(&mut Self, T)) {
        self.each(('[', ']'), items, item);
    }

    /// An object of `entries`, each written whole (key, colon, value) by `entry`.
    pub fn entries<T>(
        &mut self,
        entries: impl IntoIterator<Item = T>,
        entry: impl FnMut(&mut Self, T),
    ) {
        self.each(('{', '}'), entries, entry);
    }

    /// An object of string keys, each value written by `value`.
    pub fn map<'k, K: AsRef<str> + 'k, V: 'k>(
        &mut self,
        entries: impl IntoIterator<Item = (&'k K, &'k V)>,
        mut value: impl FnMut(&mut Self, &V),
    ) {
        self.entries(entries, |o, (k, v)| {
            o.str(k.as_ref());
            o.0.push(':');
            value(o, v);
        });
    }

    fn each<T>(
        &mut self,
        (open, close): (char, char),
        items: impl IntoIterator<Item = T>,
        mut item: impl FnMut(&mut Self, T),
    ) {
        self.0.push(open);
        for (i, t) in items.into_iter().enumerate() {
            if i > 0 {
                self.0.push(',');
            }
            item(self, t);
        }
        self.0.push(close);
    }
}

/// An object's key as one literal: `key!(o, first "name")` opens the object at its first field
/// (`{"name":`), `key!(o, "name")` is a field after it (`,"name":`). Gives the [`JsonWriter`] to
/// write the value with.
macro_rules! key {
    ($o:expr, first $name:literal) => {
        $o.raw(concat!("{\"", $name, "\":"))
    };
    ($o:expr, $name:literal) => {
        $o.raw(concat!(",\"", $name, "\":"))
    };
}
pub(crate) use key;

/// True when no byte needs escaping: none below 0x20, no `"` and no `\`. Eight bytes at a
/// time: a byte-wise loop was most of the cost of writing a record.
pub fn escape_free(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether any byte of `x` is below `n` (n <= 0x80): exact, with no false positives.
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH != 0;
    let quote = ONES * u64::from(b'"');
    let backslash = ONES * u64::from(b'\\');
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        let x = u64::from_ne_bytes(word);
        if below(x, 0x20) || below(x ^ quote, 1) || below(x ^ backslash, 1) {
            return false;
        }
    }
    chunks
        .remainder()
        .iter()
        .all(|&b| b >= 0x20 && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_free_finds_every_byte_that_needs_escaping_wherever_it_is() {
        assert!(escape_free(b""));
        assert!(escape_free(
            "caf\u{e9} \u{1f600} and a long plain tail of text".as_bytes()
        ));
        for bad in [b'"', b'\\', 0x00, 0x1f, b'\n', b'\t'] {
            for at in 0..20 {
                let mut text = vec![b'a'; 20];
                text[at] = bad;
                assert!(!escape_free(&text), "byte {bad:#x} at {at}");
            }
        }
        // Bytes just outside the escaped ones.
        assert!(escape_free(&[
            0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xff, 0x20, 0x7f
        ]));
    }

    #[test]
    fn pieces_read_as_serde_json_writes_them() {
        let check = |write: &dyn Fn(&mut JsonWriter), expected: String| {
            let mut text = String::new();
            write(&mut JsonWriter(&mut text));
            assert_eq!(text, expected);
        };
        for s in [
            "",
            "plain",
            "a \"quote\"",
            "back\\slash",
            "tab\there",
            "\u{1}\u{1f}",
            "\u{7f}é",
        ] {
            check(&|o| o.str(s), serde_json::to_string(s).expect("json"));
        }
        for v in [
            0.0,
            -0.0,
            1.0,
            10.0,
            0.1,
            19.99,
            1e21,
            1e-7,
            123456789.125,
            f64::MAX,
            f64::NAN,
            f64::INFINITY,
        ] {
            check(&|o| o.f64(v), serde_json::to_string(&v).expect("json"));
        }
        for v in [0i64, -1, i64::MAX, i64::MIN] {
            check(&|o| o.int(v), serde_json::to_string(&v).expect("json"));
        }
        check(
            &|o| o.strs(&["a", "b\"c"]),
            serde_json::to_string(&["a", "b\"c"]).expect("json"),
        );
    }
}
