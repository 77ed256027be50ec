//! Shops: one deployment serves many, and they share nothing (sample and creator ids, ledgers,
//! the clock, deadlines, the daily quota, rules, policy, versions, the connector are each one
//! shop's). A shop is named by an id matching `[a-z0-9][a-z0-9_-]{0,62}`.

/// The shop of a command without `--shop`, of an event without `shop`, and of today's layout
/// (the top-level `rules/`, `workflows/` and `connectors/`).
pub const DEFAULT_SHOP: &str = "default";

/// True when `name` may name a shop: `[a-z0-9][a-z0-9_-]{0,62}`.
pub fn valid_shop(name: &str) -> bool {
    let bytes = name.as_bytes();
    let Some((first, rest)) = bytes.split_first() else {
        return false;
    };
    bytes.len() <= 63
        && (first.is_ascii_lowercase() || first.is_ascii_digit())
        && rest
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_ids_follow_the_contracts_pattern() {
        for ok in ["default", "us", "uk-2", "a_b", "0", &"a".repeat(63)] {
            assert!(valid_shop(ok), "{ok}");
        }
        for bad in [
            "",
            "-us",
            "_a",
            "US",
            "a b",
            "ü",
            &"a".repeat(64),
            "a/b",
            "a.b",
        ] {
            assert!(!valid_shop(bad), "{bad}");
        }
    }
}
