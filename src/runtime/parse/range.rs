//! The ranges of every number an event carries, checked once, here: with them no sum over a
//! sample or a ledger can leave the numbers a store can write and read back.

/// The largest amount of money an event may carry, in USD.
pub const MAX_MONEY: f64 = 1e9;
/// The largest count (followers, views, orders...).
pub const MAX_COUNT: i64 = 1_000_000_000_000;
/// The most units one request may ask for.
pub const MAX_QUANTITY: i64 = 10_000;
/// The longest block `creator_adjusted` may set, in days (100 years).
pub const MAX_BLOCK_DAYS: i64 = 36_500;
/// The largest change of credit one `creator_adjusted` may make, either way.
pub const MAX_CREDIT: f64 = 1e6;

/// Ranges are checked once, here, for every number an event carries: with them no sum over a
/// sample or a ledger can leave the numbers a store can write and read back.
pub(super) fn money(name: &str, value: f64) -> Result<(), String> {
    if (0.0..=MAX_MONEY).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is {}; money must be from 0 to 1e9",
            num(value)
        ))
    }
}

pub(super) fn count(name: &str, value: i64) -> Result<(), String> {
    if (0..=MAX_COUNT).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is {value}; a count must be from 0 to 1e12"
        ))
    }
}

pub(super) fn count_f(name: &str, value: f64) -> Result<(), String> {
    if (0.0..=MAX_COUNT as f64).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is {}; it must be from 0 to 1e12",
            num(value)
        ))
    }
}

/// A number as a message shows it: `1e308`, not three hundred digits.
pub(super) fn num(value: f64) -> String {
    if value.is_finite() && value != 0.0 && !(1e-6..1e15).contains(&value.abs()) {
        format!("{value:e}")
    } else {
        value.to_string()
    }
}

pub(super) fn rate(name: &str, value: f64) -> Result<(), String> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(format!("`{name}` is {value}; a rate must be within 0..1"))
    }
}
