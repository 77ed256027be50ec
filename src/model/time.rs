//! Times out: RFC 3339 in UTC with `Z`, with the fewest fraction digits (none, 3, 6 or 9) that
//! hold the time exactly: what chrono's `to_rfc3339_opts(SecondsFormat::AutoSi, true)` and its
//! serde format write, without their formatting machinery. Every record and every saved row
//! holds times, and formatting them through `fmt` was a measurable share of both the runner and
//! the store's writer.

use chrono::{DateTime, Datelike, SecondsFormat, Timelike, Utc};
use serde::{Serialize, Serializer};

/// One time as text, on the stack for the years 0 to 9999 (chrono writes others, and leap
/// seconds, itself).
#[non_exhaustive]
pub enum Rfc3339 {
    Short { bytes: [u8; 30], len: u8 },
    Other(String),
}

impl Rfc3339 {
    pub fn new(at: &DateTime<Utc>) -> Self {
        let t = at.naive_utc();
        let (year, nanos) = (t.year(), t.nanosecond());
        if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
            return Rfc3339::Other(at.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        }
        let mut bytes = *b"0000-00-00T00:00:00.000000000Z";
        digits(&mut bytes[0..4], year as u32);
        digits(&mut bytes[5..7], t.month());
        digits(&mut bytes[8..10], t.day());
        digits(&mut bytes[11..13], t.hour());
        digits(&mut bytes[14..16], t.minute());
        digits(&mut bytes[17..19], t.second());
        let width = match nanos {
            0 => 0,
            n if n % 1_000_000 == 0 => 3,
            n if n % 1_000 == 0 => 6,
            _ => 9,
        };
        let len = if width == 0 {
            19
        } else {
            digits(
                &mut bytes[20..20 + width],
                nanos / 10u32.pow(9 - width as u32),
            );
            20 + width
        };
        bytes[len] = b'Z';
        Rfc3339::Short {
            bytes,
            len: len as u8 + 1,
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            // Only ASCII digits and separators were written.
            Rfc3339::Short { bytes, len } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Rfc3339::Other(s) => s,
        }
    }
}

/// `n` in decimal, filling `out` (`n` has no more digits than `out` has room for).
fn digits(out: &mut [u8], mut n: u32) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// A time that serializes as [`Rfc3339`].
pub struct Stamp<'a>(pub &'a DateTime<Utc>);

impl Serialize for Stamp<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(Rfc3339::new(self.0).as_str())
    }
}

/// For `serialize_with`: a time.
pub fn utc<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    Stamp(at).serialize(s)
}

/// For `serialize_with`: a time or none.
pub fn utc_opt<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    at.as_ref().map(Stamp).serialize(s)
}

/// For `serialize_with`: times.
pub fn utc_seq<S: Serializer>(at: &[DateTime<Utc>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(at.iter().map(Stamp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn chrono_text(at: &DateTime<Utc>) -> String {
        at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
    }

    #[test]
    fn writes_what_chrono_writes() {
        let base = Utc
            .with_ymd_and_hms(2026, 1, 5, 16, 15, 46)
            .single()
            .expect("time");
        let mut times = vec![
            base,
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0)
                .single()
                .expect("time"),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
                .single()
                .expect("time"),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0)
                .single()
                .expect("time"),
            Utc.with_ymd_and_hms(-1, 6, 15, 12, 0, 0)
                .single()
                .expect("time"),
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        ];
        for nanos in [
            1,
            7,
            10,
            999,
            1_000,
            120_000,
            123_456,
            1_000_000,
            5_000_000,
            999_999_999,
        ] {
            times.push(base + chrono::Duration::nanoseconds(nanos));
        }
        // A spread of times over years, with every fraction width.
        let mut x: i64 = 0x2545_f491;
        for _ in 0..2000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let secs = (x >> 20).rem_euclid(400 * 365 * 86_400) - 200 * 365 * 86_400;
            let nanos = match x & 3 {
                0 => 0,
                1 => (x >> 8).rem_euclid(1000) * 1_000_000,
                2 => (x >> 8).rem_euclid(1_000_000) * 1_000,
                _ => (x >> 8).rem_euclid(1_000_000_000),
            };
            times.push(
                base + chrono::Duration::seconds(secs) + chrono::Duration::nanoseconds(nanos),
            );
        }
        for at in &times {
            assert_eq!(Rfc3339::new(at).as_str(), chrono_text(at), "{at:?}");
            // And as chrono's own serde format writes it, which stored rows were written in.
            assert_eq!(
                serde_json::to_string(&Stamp(at)).expect("json"),
                serde_json::to_string(at).expect("json")
            );
        }
    }

    #[test]
    fn a_leap_second_is_written_by_chrono() {
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .expect("leap second")
            .and_utc();
        assert!(matches!(Rfc3339::new(&leap), Rfc3339::Other(_)));
        assert_eq!(Rfc3339::new(&leap).as_str(), chrono_text(&leap));
    }

    #[test]
    fn options_and_lists() {
        #[derive(Serialize)]
        struct Row {
            #[serde(serialize_with = "utc_opt")]
            none: Option<DateTime<Utc>>,
            #[serde(serialize_with = "utc_opt")]
            some: Option<DateTime<Utc>>,
            #[serde(serialize_with = "utc_seq")]
            list: Vec<DateTime<Utc>>,
        }
        let at = Utc
            .with_ymd_and_hms(2026, 3, 1, 8, 0, 0)
            .single()
            .expect("time");
        let row = Row {
            none: None,
            some: Some(at),
            list: vec![at, at + chrono::Duration::milliseconds(250)],
        };
        assert_eq!(
            serde_json::to_string(&row).expect("json"),
            r#"{"none":null,"some":"2026-03-01T08:00:00Z","list":["2026-03-01T08:00:00Z","2026-03-01T08:00:00.250Z"]}"#
        );
    }
}
