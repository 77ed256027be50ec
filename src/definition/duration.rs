//! Durations as written in workflow files: `7d`, `24h`, `1d12h`, or a policy parameter.

use std::fmt;

/// A deadline length: literal seconds, or the name of a policy parameter (`policy.review_window`)
/// that the rules' policy file supplies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Duration {
    /// A fixed length, in seconds.
    Seconds(i64),
    /// A length read from `policy.yaml` at run time (`policy.<name>`).
    Policy(String),
}

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DurationError(pub String);

const UNITS: [(char, i64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

impl Duration {
    /// Reads `7d`, `48h`, `30m`, `10s` (or sums like `1d12h`) or `policy.<name>`.
    pub fn parse(text: &str) -> Result<Self, DurationError> {
        let text = text.trim();
        if let Some(name) = text.strip_prefix("policy.") {
            let valid = !name.is_empty()
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            return if valid {
                Ok(Duration::Policy(name.to_string()))
            } else {
                Err(DurationError(format!(
                    "`{name}` is not a policy parameter name"
                )))
            };
        }
        if text.is_empty() {
            return Err(DurationError("empty duration".into()));
        }
        let mut total: i64 = 0;
        let mut digits = String::new();
        let mut last_unit = None;
        for c in text.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let Some(rank) = UNITS.iter().position(|(u, _)| *u == c) else {
                return Err(DurationError(if c.is_whitespace() {
                    "no spaces are allowed".to_string()
                } else {
                    format!("unknown unit `{c}`")
                }));
            };
            if digits.is_empty() {
                return Err(DurationError(format!("unit `{c}` has no number before it")));
            }
            if last_unit.is_some_and(|last| rank <= last) {
                return Err(DurationError(format!(
                    "unit `{c}` is out of order or repeated"
                )));
            }
            last_unit = Some(rank);
            let amount: i64 = digits
                .parse()
                .map_err(|_| DurationError(format!("`{digits}` is too large")))?;
            total = amount
                .checked_mul(UNITS[rank].1)
                .and_then(|s| total.checked_add(s))
                .ok_or_else(|| DurationError("duration is too large".into()))?;
            digits.clear();
        }
        if !digits.is_empty() {
            return Err(DurationError(format!("`{digits}` has no unit")));
        }
        if total == 0 {
            return Err(DurationError("a deadline must be longer than zero".into()));
        }
        if total > MAX_SECONDS {
            return Err(DurationError(format!(
                "`{text}` is longer than {MAX_DAYS} days, the longest a duration may be"
            )));
        }
        Ok(Duration::Seconds(total))
    }
}

/// The longest duration a workflow or the policy may give, in days (ten years): every deadline
/// and window stays far inside the times a store can write.
pub const MAX_DAYS: i64 = 3_650;
const MAX_SECONDS: i64 = MAX_DAYS * 86_400;

impl fmt::Display for Duration {
    /// Writes the shortest form in the file's own syntax, so labels read like the YAML.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Duration::Policy(name) => write!(f, "policy.{name}"),
            Duration::Seconds(seconds) => {
                let mut rest = *seconds;
                for (unit, size) in UNITS {
                    if rest >= size {
                        write!(f, "{}{unit}", rest / size)?;
                        rest %= size;
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_over_ten_years_is_refused() {
        assert_eq!(
            Duration::parse("3650d"),
            Ok(Duration::Seconds(3_650 * 86_400))
        );
        let err = Duration::parse("100000000d").expect_err("too long");
        assert_eq!(
            err.0,
            "`100000000d` is longer than 3650 days, the longest a duration may be"
        );
        assert!(Duration::parse("3650d1s").is_err());
    }

    #[test]
    fn reads_literal_and_policy_durations() {
        assert_eq!(Duration::parse("7d"), Ok(Duration::Seconds(7 * 86_400)));
        assert_eq!(Duration::parse("24h"), Ok(Duration::Seconds(86_400)));
        assert_eq!(Duration::parse("1d12h"), Ok(Duration::Seconds(129_600)));
        assert_eq!(
            Duration::parse("policy.review_window"),
            Ok(Duration::Policy("review_window".into()))
        );
    }

    #[test]
    fn refuses_malformed_durations() {
        for bad in [
            "",
            "7",
            "d",
            "7w",
            "7 d",
            "0d",
            "12h1d",
            "1d1d",
            "policy.",
            "policy.Bad",
            "99999999999999999999d",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn displays_in_file_syntax() {
        for text in ["7d", "1d12h", "30m", "policy.ship_window"] {
            assert_eq!(Duration::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Duration::parse("24h").unwrap().to_string(), "1d");
    }
}
