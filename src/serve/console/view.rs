//! How the console shows values to people: money as `$75.00`, times in the shop's timezone with
//! its abbreviation (`Mar 27, 09:00 PDT`), the time left, screening reasons in words.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::serve::App;

/// The shop's timezone (its policy's, else the default).
pub(super) fn zone(app: &App, shop: &str) -> Tz {
    app.rules(shop)
        .map_or(crate::rules::DEFAULT_TIMEZONE, |r| r.policy().timezone)
}

/// `at` in `tz`, with the zone's abbreviation: `Mar 27, 09:00 PDT`.
pub(super) fn local(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%b %-d, %H:%M %Z").to_string()
}

/// An RFC 3339 time (as the JSON has it) in `tz`; the text itself when it is not one.
pub(super) fn local_text(at: &str, tz: Tz) -> String {
    DateTime::parse_from_rfc3339(at)
        .map(|t| local(t.with_timezone(&Utc), tz))
        .unwrap_or_else(|_| at.to_string())
}

/// The time from `now` to `at`: `2d 4h`, `3h 12m`, `12m`, or `overdue`.
pub(super) fn left(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (at - now).num_seconds();
    if secs <= 0 {
        return "overdue".into();
    }
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else {
        format!("{}m", m.max(1))
    }
}

/// Dollars as people read them: `$1,234.50`.
pub(super) fn money(x: f64) -> String {
    crate::analysis::dollars(x)
}

/// A screening or review reason in words (the code itself when it has none).
pub(super) fn reason_words(code: &str) -> String {
    let words = match code {
        "restricted_category" => "restricted category",
        "blocked" => "creator blocked",
        "recent_breach" => "breach in the last 180 days",
        "duplicate_product" => "already has this product",
        "cooldown" => "cancelled recently (cooldown)",
        "quarter_limit" => "category limit this quarter",
        "low_followers" => "too few followers",
        "low_fulfillment" => "low fulfilment rate",
        "unknown_fulfillment" => "fulfilment rate unknown",
        "category_mismatch" => "category not among the creator's",
        "bulk_request" => "quantity above the maximum",
        "price_cap" => "price above the auto-approve cap",
        "low_engagement" => "low engagement",
        "inactive" => "few posts in 30 days",
        "daily_quota" => "daily auto-approval quota reached",
        "auto_approved" => "approved automatically",
        "manual_review" => "reviewer's decision",
        other => return other.replace('_', " "),
    };
    words.to_string()
}

/// A rate (`0.053`) as a percentage (`5.3%`).
pub(super) fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The wall clock's now (`SAMPLEFLOW_NOW` in tests).
pub(super) fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(super::sessions::now(), 0).unwrap_or_else(Utc::now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn times_carry_the_shops_zone_and_money_its_cents() {
        let at = Utc.with_ymd_and_hms(2026, 3, 28, 4, 0, 0).unwrap();
        assert_eq!(
            local(at, chrono_tz::America::Los_Angeles),
            "Mar 27, 21:00 PDT"
        );
        assert_eq!(local(at, chrono_tz::UTC), "Mar 28, 04:00 UTC");
        assert_eq!(
            local_text("2026-01-10T20:00:00Z", chrono_tz::America::Los_Angeles),
            "Jan 10, 12:00 PST"
        );
        assert_eq!(money(75.0), "$75.00");
        assert_eq!(
            reason_words("price_cap"),
            "price above the auto-approve cap"
        );
        assert_eq!(reason_words("new_thing"), "new thing");
        let now = Utc.with_ymd_and_hms(2026, 3, 27, 4, 58, 11).unwrap();
        assert_eq!(left(at, now), "23h 1m");
        assert_eq!(left(now, at), "overdue");
        assert_eq!(percent(0.053), "5.3%");
    }
}
