//! The hook catalogue: the hooks the engine knows how to call, the parameters it passes each,
//! and the registered type of every parameter.

/// A hook that the engine knows how to call, and the parameters it passes.
#[derive(Debug)]
pub struct HookSpec {
    pub name: &'static str,
    pub params: &'static [&'static str],
}

/// The hooks of the shipped workflow, with their parameters in order.
pub const HOOKS: &[HookSpec] = &[
    HookSpec {
        name: "screen",
        params: &["request", "creator", "product", "ledger"],
    },
    HookSpec {
        name: "tier",
        params: &["creator", "ledger"],
    },
    HookSpec {
        name: "deposit",
        params: &["request", "creator", "product", "ledger"],
    },
    HookSpec {
        name: "content_check",
        params: &["post", "sample"],
    },
    HookSpec {
        name: "removal_check",
        params: &["content_id", "sample"],
    },
    HookSpec {
        name: "penalty",
        params: &["sample", "ledger"],
    },
    HookSpec {
        name: "reward",
        params: &["sample", "ledger"],
    },
];

/// A hook as a workflow names it and the runner calls it: the engine's own, each called with
/// the arguments it takes, or a script's own function by name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hook {
    Screen,
    Deposit,
    ContentCheck,
    RemovalCheck,
    Penalty,
    Reward,
    /// A function of the scripts that the engine gives the sample and ledger.
    Own(String),
}

impl Hook {
    pub fn named(name: &str) -> Hook {
        match name {
            "screen" => Hook::Screen,
            "deposit" => Hook::Deposit,
            "content_check" => Hook::ContentCheck,
            "removal_check" => Hook::RemovalCheck,
            "penalty" => Hook::Penalty,
            "reward" => Hook::Reward,
            other => Hook::Own(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Hook::Screen => "screen",
            Hook::Deposit => "deposit",
            Hook::ContentCheck => "content_check",
            Hook::RemovalCheck => "removal_check",
            Hook::Penalty => "penalty",
            Hook::Reward => "reward",
            Hook::Own(name) => name,
        }
    }
}

/// The spec of hook `name`.
pub fn hook_spec(name: &str) -> Option<&'static HookSpec> {
    HOOKS.iter().find(|h| h.name == name)
}

/// The registered type of a hook parameter, by the name the hook table gives it.
pub(super) fn param_type(param: &str) -> Option<&'static str> {
    Some(match param {
        "request" => "Request",
        "creator" => "Creator",
        "product" => "Product",
        "ledger" => "Ledger",
        "sample" => "Sample",
        "post" => "Post",
        _ => return None,
    })
}

/// The declaration that lets the runner skip `reward` where it can give nothing: a function of
/// no parameters returning the GMV of one sample below which `reward` returns no action.
pub const REWARD_WAKES_AT: &str = "reward_wakes_at";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hook_name_is_its_hook_and_back() {
        for spec in HOOKS.iter().filter(|h| h.name != "tier") {
            let hook = Hook::named(spec.name);
            assert!(!matches!(hook, Hook::Own(_)), "{}", spec.name);
            assert_eq!(hook.as_str(), spec.name);
        }
        assert_eq!(Hook::named("bonus"), Hook::Own("bonus".into()));
        assert_eq!(Hook::named("bonus").as_str(), "bonus");
    }
}
