//! Compact rows: a sample, a ledger, a raw event and a record are each kept as one zstd frame
//! compressed against a dictionary of the formats' own words (field names, states, event types,
//! reasons), so a 300-byte record keeps mostly what is its own (ids, times, figures).
//!
//! A packed value is a BLOB: one tag byte naming the dictionary, then the frame. A TEXT value is
//! a row written before rows were packed (a schema 3 store), read as it is. The dictionary a tag
//! names is frozen: a store's rows must stay readable, so a better dictionary gets a new tag.
//!
//! Rows are packed with dictionary 2, trained by zstd on the rows of a generated run
//! (`examples/dictionary.rs`): it carries entropy tables, so a small frame reuses them instead
//! of building its own (building them was most of the writer's packing time), and it knows the
//! rows' current words. Rows packed with dictionary 1 (raw content) are still read.

use std::fmt::Write as _;
use std::sync::OnceLock;

use rusqlite::types::ValueRef;
use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

use super::StoreError;

/// The tag of [`DICTIONARY_1`].
const TAG_1: u8 = 1;

/// The tag of [`DICTIONARY_2`], the one rows are packed with.
const TAG_2: u8 = 2;

/// A dictionary trained by zstd on the rows of a run (`examples/dictionary.rs`). Frozen.
const DICTIONARY_2: &[u8] = include_bytes!("dictionary-2.zdict");

/// The compression level: small rows gain little from more.
const LEVEL: i32 = 1;

/// The largest row a frame may unpack to: no row the runner writes comes near it, and a damaged
/// frame cannot make a reader allocate more.
const MAX_ROW: u64 = 64 << 20;

/// A raw-content dictionary: text the frames may refer back to. zstd finds the most recent
/// match first, so the commonest rows (records, then events) come last. Frozen (see the module).
const DICTIONARY_1: &str = concat!(
    // Ledgers.
    r#"{"samples":1,"completed":0,"approvals":{"2026-Q1":{"beauty":1}},"products":{"p1":{"open":1,"completed":0,"last_cancelled":null}},"breaches":[],"blocked_until":null,"credit":0.0,"gmv":0.0,"tier":"new","paid_collab_invited":false,"deposits_held":0.0,"deposits_forfeited":0.0,"adjustments":[]}"#,
    r#"{"at":"2026-01-01T00:00:00Z","event":"","by":"ops","note":"","credit":null,"block_days":null}"#,
    r#""tier":"bronze""tier":"silver""tier":"gold""approvals":{"2026-Q2":{"apparel":1,"electronics":1,"home":1,"sports":1}}"#,
    // Samples in flight.
    r#"{"sample":{"id":"s1","state":"awaiting_review","creator":"c1","product":"p1","category":"beauty","quantity":1,"cost":0.0,"gmv":0.0,"deposit":null,"keep_up_content":null},"workflow":"sample","#,
    r#""creator":{"id":"c1","followers":10000,"engagement_rate":0.05,"posts_30d":10,"gmv_30d":1000.0,"avg_video_views":5000.0,"fulfillment_rate_90d":0.9,"top_categories":["beauty"]},"#,
    r#""product":{"id":"p1","category":"beauty","price":19.99,"unit_cost":6.0,"flags":[]},"requested_at":"2026-01-01T00:00:00Z","last_at":"2026-01-01T00:00:00Z","decision":"review","reason":"auto_approved","tier":"new","rules":"","opened":true,"shipping_cost":0.0,"tracking_number":null,"carrier":null,"review":null,"review_reason":null,"reviewed_by":null,"contents":{},"extensions":{},"deadlines":[{"name":"ship_by","of_state":true,"due":"2026-01-08T00:00:00Z","seq":1,"held":false}],"records":1}"#,
    r#""state":"unfulfill_cancelled""state":"review_expired""state":"rejected""state":"withdrawn""state":"completed""state":"content_live""state":"delivered""state":"shipped""state":"awaiting_shipment""state":"pending_review""#,
    // Raw events.
    r#"{"id":"e1","type":"sample_requested","at":"2026-01-01T00:00:00Z","sample":"s1","creator":{"id":"c1","followers":10000,"engagement_rate":0.05,"posts_30d":10,"gmv_30d":1000.0,"avg_video_views":5000,"fulfillment_rate_90d":null,"top_categories":["beauty"]},"product":{"id":"p1","category":"beauty","price":19.99,"unit_cost":6.0}}"#,
    r#"{"id":"e2","type":"sample_reviewed","at":"2026-01-01T00:00:00Z","sample":"s1","decision":"approve","by":"ops"}"#,
    r#"{"id":"e3","type":"sample_shipped","at":"2026-01-01T00:00:00Z","sample":"s1","tracking_number":"1Z","carrier":"UPS","shipping_cost":6.5}"#,
    r#"{"id":"e4","type":"delivery_failed","at":"2026-01-01T00:00:00Z","sample":"s1","reason":"lost"}"#,
    r#"{"id":"e5","type":"content_posted","at":"2026-01-01T00:00:00Z","sample":"s1","content_id":"v1","format":"video","has_product_link":true,"has_ad_disclosure":true}"#,
    r#"{"id":"e6","type":"content_removed","at":"2026-01-01T00:00:00Z","sample":"s1","content_id":"v1"}"#,
    r#"{"id":"e7","type":"creator_adjusted","at":"2026-01-01T00:00:00Z","creator":{"id":"c1"},"credit":5,"by":"ops","note":""}"#,
    r#"{"id":"e8","type":"extension_requested","at":"2026-01-01T00:00:00Z","sample":"s1"}"#,
    r#"{"id":"e9","type":"sample_delivered","at":"2026-01-01T00:00:00Z","sample":"s1"}"#,
    r#"{"id":"e10","type":"content_metrics","at":"2026-01-01T00:00:00Z","sample":"s1","content_id":"v1","views":10000,"likes":500,"comments":50,"orders":1,"gmv":19.99}"#,
    r#"{"id":"e11","type":"tracking_updated","at":"2026-01-01T00:00:00Z","sample":"s1","status":"in_transit"}"#,
    // Records.
    r#"{"line":1,"event":"e1","error":"invalid_field","message":""}"#,
    r#"{"sample":"s1","at":"2026-01-01T00:00:00Z","from":null,"to":"awaiting_shipment","trigger":"sample_requested","event":"e1","decision":"approve","reason":"auto_approved","actions":[{"type":"require_deposit","id":"s1#1.1","amount":10.0}],"rules":"","workflow":"","explain":{"hook":"screen","category":"beauty","file":"default.rhai","function":"screen"},"by":null,"note":null}"#,
    r#"{"sample":"s1","at":"2026-01-01T00:00:00Z","from":"shipped","to":"delivered","trigger":"sample_delivered","event":"e1","decision":null,"reason":null,"actions":[{"type":"refund_deposit","id":"s1#2.1","creator":"c1","amount":10.0}],"rules":"","workflow":"","explain":null,"by":null,"note":null}"#,
    r#"{"sample":"s1","at":"2026-01-01T00:00:00Z","from":"delivered","to":"content_live","trigger":"content_posted","event":"e1","decision":null,"reason":"qualifying_video","actions":[],"rules":"","workflow":"","explain":null,"by":null,"note":null}"#,
    r#"{"sample":"s1","at":"2026-01-01T00:00:00Z","from":"awaiting_shipment","to":"shipped","trigger":"deadline:ship_by","event":null,"decision":null,"reason":null,"actions":[],"rules":"","workflow":"","explain":null,"by":null,"note":null}"#,
    r#"{"sample":"s1","at":"2026-01-01T00:00:00Z","from":"shipped","to":"shipped","trigger":"content_metrics","event":"e1","decision":null,"reason":null,"actions":[],"rules":"","workflow":"","explain":null,"by":null,"note":null}"#,
    r#"{"sample":"s1","at":"2026-01-01T00:00:00Z","from":"shipped","to":"shipped","trigger":"tracking_updated","event":"e1","decision":null,"reason":null,"actions":[],"rules":"","workflow":"","explain":null,"by":null,"note":null}"#,
);

fn encoder() -> &'static EncoderDictionary<'static> {
    static DICT: OnceLock<EncoderDictionary<'static>> = OnceLock::new();
    DICT.get_or_init(|| EncoderDictionary::copy(DICTIONARY_2, LEVEL))
}

/// The dictionary of a frame's tag.
fn decoder(tag: u8) -> Option<&'static DecoderDictionary<'static>> {
    static DICT_1: OnceLock<DecoderDictionary<'static>> = OnceLock::new();
    static DICT_2: OnceLock<DecoderDictionary<'static>> = OnceLock::new();
    match tag {
        TAG_1 => Some(DICT_1.get_or_init(|| DecoderDictionary::copy(DICTIONARY_1.as_bytes()))),
        TAG_2 => Some(DICT_2.get_or_init(|| DecoderDictionary::copy(DICTIONARY_2))),
        _ => None,
    }
}

/// One connection's compression contexts, made when first needed (a reader never packs, and
/// a short-lived read of one row should not pay for a compressor) and reused for every row.
#[derive(Default)]
pub(super) struct Packer {
    compressor: Option<Compressor<'static>>,
    /// One per dictionary, by tag.
    decompressors: [Option<Decompressor<'static>>; 2],
}

impl Packer {
    fn compressor(&mut self) -> Result<&mut Compressor<'static>, StoreError> {
        let c = match self.compressor.take() {
            Some(c) => c,
            None => Compressor::with_prepared_dictionary(encoder()).map_err(packing)?,
        };
        Ok(self.compressor.insert(c))
    }

    fn decompressor(&mut self, tag: u8) -> Result<&mut Decompressor<'static>, StoreError> {
        let dictionary = decoder(tag).ok_or_else(damaged)?;
        let slot = self
            .decompressors
            .get_mut(usize::from(tag) - 1)
            .ok_or_else(damaged)?;
        let d = match slot.take() {
            Some(d) => d,
            None => Decompressor::with_prepared_dictionary(dictionary).map_err(packing)?,
        };
        Ok(slot.insert(d))
    }

    /// `text` as the store keeps it.
    pub(super) fn pack(&mut self, text: &str) -> Result<Vec<u8>, StoreError> {
        // The tag, then the frame written straight after it: one buffer per row, no copy.
        let bound = zstd::zstd_safe::compress_bound(text.len());
        let mut packed = Vec::with_capacity(1 + bound);
        packed.push(TAG_2);
        let mut out = std::io::Cursor::new(packed);
        out.set_position(1);
        self.compressor()?
            .compress_to_buffer(text.as_bytes(), &mut out)
            .map_err(packing)?;
        Ok(out.into_inner())
    }

    /// Several texts as one frame (a chunk): their lengths, space-separated, and the frame of
    /// their concatenation. One frame for a batch's events or records costs a fraction of a
    /// frame each (a frame's set-up, a row and its index entries), and each text compresses
    /// against the ones before it.
    pub(super) fn pack_many<'a>(
        &mut self,
        texts: impl Iterator<Item = &'a str> + Clone,
    ) -> Result<(String, Vec<u8>), StoreError> {
        let mut lens = String::new();
        let mut all = String::with_capacity(texts.clone().map(str::len).sum());
        for t in texts {
            if !lens.is_empty() {
                lens.push(' ');
            }
            // Writing to a String cannot fail.
            let _ = write!(lens, "{}", t.len());
            all.push_str(t);
        }
        Ok((lens, self.pack(&all)?))
    }

    /// The texts of a chunk, as [`Packer::pack_many`] made it; no lengths (`None`): a row of
    /// one text, as a schema 4 store kept each event and record.
    pub(super) fn unpack_many(
        &mut self,
        lens: Option<&str>,
        value: ValueRef<'_>,
    ) -> Result<Vec<String>, StoreError> {
        let all = self.unpack(value)?;
        let Some(lens) = lens else {
            return Ok(vec![all]);
        };
        let mut out = Vec::new();
        let mut at = 0usize;
        for len in lens.split(' ') {
            let len: usize = len.parse().map_err(|_| damaged())?;
            let text = at
                .checked_add(len)
                .and_then(|end| all.get(at..end))
                .ok_or_else(damaged)?;
            out.push(text.to_string());
            at += len;
        }
        if at != all.len() {
            return Err(damaged());
        }
        Ok(out)
    }

    /// The text of a stored value: packed, or as a schema 3 store wrote it.
    pub(super) fn unpack(&mut self, value: ValueRef<'_>) -> Result<String, StoreError> {
        match value {
            ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec()).map_err(|_| damaged()),
            ValueRef::Blob([tag @ (TAG_1 | TAG_2), frame @ ..]) => {
                let size = zstd::zstd_safe::get_frame_content_size(frame)
                    .ok()
                    .flatten()
                    .filter(|n| *n <= MAX_ROW)
                    .ok_or_else(damaged)?;
                let bytes = self
                    .decompressor(*tag)?
                    .decompress(frame, size as usize)
                    .map_err(|_| damaged())?;
                String::from_utf8(bytes).map_err(|_| damaged())
            }
            _ => Err(damaged()),
        }
    }
}

fn packing(e: std::io::Error) -> StoreError {
    StoreError::Pack(e)
}

fn damaged() -> StoreError {
    StoreError::Damaged("a row that is neither text nor a frame of a known dictionary".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_comes_back_as_it_went_and_smaller() {
        let mut p = Packer::default();
        let record = r#"{"sample":"s9","at":"2026-03-02T18:00:00Z","from":"shipped","to":"delivered","trigger":"sample_delivered","event":"s9-4","decision":null,"reason":null,"actions":[],"rules":"20085d663de4","workflow":"a31f113387a4","explain":null,"by":null,"note":null}"#;
        let packed = p.pack(record).expect("packs");
        assert!(packed.len() * 3 < record.len(), "{} bytes", packed.len());
        assert_eq!(p.unpack(ValueRef::Blob(&packed)).expect("unpacks"), record);
        // A schema 3 row is text, read as it is.
        assert_eq!(p.unpack(ValueRef::Text(b"{}")).expect("text"), "{}");
    }

    #[test]
    fn a_chunk_gives_back_its_texts_and_a_bad_one_is_an_error() {
        let mut p = Packer::default();
        let texts = ["{\"id\":\"e1\"}", "", "caf\u{e9}\n{\"id\":\"e2\"}"];
        let (lens, packed) = p.pack_many(texts.iter().copied()).expect("packs");
        assert_eq!(lens, "11 0 17");
        let back = p
            .unpack_many(Some(&lens), ValueRef::Blob(&packed))
            .expect("unpacks");
        assert_eq!(back, texts);
        // A row of one text (schema 4) has no lengths.
        let one = p.pack("{}").expect("packs");
        let back = p.unpack_many(None, ValueRef::Blob(&one)).expect("one");
        assert_eq!(back, ["{}"]);
        // Lengths that do not add up to the frame, or cut a character, are damage.
        for bad in ["11 0 16", "11 0 18", "11 x 17", "15 0 13", "11 0 16 2", ""] {
            assert!(
                p.unpack_many(Some(bad), ValueRef::Blob(&packed)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_damaged_row_is_an_error_not_a_panic() {
        let mut p = Packer::default();
        let mut packed = p.pack("{\"a\":1}").expect("packs");
        for bad in [&[9u8, 1, 2][..], &[TAG_2][..], &packed[..packed.len() - 1]] {
            assert!(p.unpack(ValueRef::Blob(bad)).is_err());
        }
        packed[0] = TAG_1;
        assert!(p.unpack(ValueRef::Blob(&packed)).is_err());
        assert!(p.unpack(ValueRef::Integer(1)).is_err());
    }

    #[test]
    fn the_dictionaries_are_frozen() {
        // Rows packed with a tag are only readable with exactly its dictionary: a change must be
        // a new dictionary with a new tag, never an edit of one.
        let hash = xxhash_rust::xxh3::xxh3_64(DICTIONARY_1.as_bytes());
        assert_eq!(format!("{hash:016x}"), "e15fbfb26694cf91");
        let hash = xxhash_rust::xxh3::xxh3_64(DICTIONARY_2);
        assert_eq!(format!("{hash:016x}"), "4c42a26279e3841f");
    }

    #[test]
    fn rows_packed_with_the_first_dictionary_are_still_read() {
        let record = r#"{"sample":"s9","at":"2026-03-02T18:00:00Z","from":"shipped","to":"content_pending","trigger":"sample_delivered","event":"s9-4","decision":null,"reason":null,"actions":[],"rules":"20085d663de4","workflow":"a31f113387a4","explain":null,"by":null,"note":null}"#;
        let old = EncoderDictionary::copy(DICTIONARY_1.as_bytes(), LEVEL);
        let mut c = Compressor::with_prepared_dictionary(&old).expect("compressor");
        let mut row = vec![TAG_1];
        row.extend(c.compress(record.as_bytes()).expect("packs"));
        let mut p = Packer::default();
        assert_eq!(p.unpack(ValueRef::Blob(&row)).expect("unpacks"), record);
        // And a row of dictionary 2 beside it, with the same packer.
        let packed = p.pack(record).expect("packs");
        assert_eq!(packed[0], TAG_2);
        assert!(
            packed.len() < row.len(),
            "{} against {}",
            packed.len(),
            row.len()
        );
        assert_eq!(p.unpack(ValueRef::Blob(&packed)).expect("unpacks"), record);
    }
}
