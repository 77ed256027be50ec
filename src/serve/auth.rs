//! Who a request is: a bearer token of the tokens file, a signed body, or (without a tokens
//! file, on loopback only) the local operator.
//!
//! Secrets are never kept: the tokens file holds their SHA-256, and a presented token is hashed
//! and compared with every entry in constant time. A signed body is checked with HMAC-SHA256
//! under the webhook secret, also in constant time.

use std::path::Path;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a principal may do (the tokens file's `role`): named `Permission` because `Role` is the
/// workflow vocabulary's word for what a state means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Permission {
    /// Read: samples, creators, the queue, the report, the console's pages.
    Viewer,
    /// Post events.
    Ingest,
    /// All of the above, and review, ship and adjust.
    Operator,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Viewer => "viewer",
            Permission::Ingest => "ingest",
            Permission::Operator => "operator",
        }
    }

    const NAMES: [&'static str; 3] = ["ingest", "operator", "viewer"];

    fn parse(text: &str) -> Option<Permission> {
        match text {
            "viewer" => Some(Permission::Viewer),
            "ingest" => Some(Permission::Ingest),
            "operator" => Some(Permission::Operator),
            _ => None,
        }
    }

    /// Who may post what on every path that takes events (contract "Who may post what"): an
    /// ingest token or a signed body posts what the platform, a warehouse or an ERP reports;
    /// decisions and ledger changes need an operator.
    pub fn poster(self) -> Option<crate::watch::Poster> {
        match self {
            Permission::Viewer => None,
            Permission::Ingest => Some(crate::watch::Poster::Ingest),
            Permission::Operator => Some(crate::watch::Poster::Operator),
        }
    }

    /// True when this role may do what `needed` allows. `ingest` posts events but reads
    /// nothing; `viewer` reads but posts nothing; `operator` does both and acts.
    pub fn allows(self, needed: Permission) -> bool {
        match (self, needed) {
            (Permission::Operator, _) => true,
            (a, b) => a == b,
        }
    }
}

/// The shops a principal may act on (the tokens file's `shops`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shops {
    /// `["*"]`: every shop of the deployment.
    All,
    /// These shops only (a token without `shops`: `default` only).
    Only(Vec<String>),
}

impl Shops {
    /// True when `shop` is one of these.
    pub fn allows(&self, shop: &str) -> bool {
        match self {
            Shops::All => true,
            Shops::Only(names) => names.iter().any(|n| n == shop),
        }
    }

    /// A token without `shops`: shop `default` only.
    fn default_only() -> Shops {
        Shops::Only(vec![crate::model::DEFAULT_SHOP.to_string()])
    }
}

/// A request's author: `by` on every record it makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Permission,
    /// The shops it may act on.
    pub shops: Shops,
}

impl Principal {
    /// Every request when serve runs without a tokens file (loopback only).
    pub fn local() -> Self {
        Principal {
            name: "local".into(),
            role: Permission::Operator,
            shops: Shops::All,
        }
    }

    /// A body signed with the webhook secret: `by` on its events is `signed` (the contract's
    /// word for the signature's name). The secret is the deployment's, as the open mode's
    /// operator is: it acts on every shop.
    pub fn signed() -> Self {
        Principal {
            name: "signed".into(),
            role: Permission::Ingest,
            shops: Shops::All,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    name: String,
    role: String,
    sha256: String,
    shops: Option<Vec<String>>,
}

struct Token {
    name: String,
    role: Permission,
    digest: [u8; 32],
    shops: Shops,
}

/// The tokens file, loaded.
pub struct Tokens(Vec<Token>);

/// What a console session keeps of the token that opened it: a hash of the token's digest, so
/// that a session ends when its token leaves the file (or changes) and the store holds nothing a
/// token could be recovered or guessed from faster than from the tokens file itself.
fn fingerprint(digest: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"sampleflow console session\0");
    h.update(digest);
    hex::encode(&h.finalize()[..16])
}

/// The fingerprint of the local operator (serve without a tokens file).
pub const LOCAL_KEY: &str = "local";

impl Tokens {
    /// Loads a tokens file: every defect is named with its line and column.
    pub fn load(path: &Path) -> Result<Tokens, String> {
        // Named by the option only: a token pasted where the file's name belongs is not repeated.
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read the tokens file that `--tokens` names: {}",
                crate::connect::config::io_kind(&e)
            )
        })?;
        Self::parse(&text).map_err(|e| format!("{}:{e}", path.display()))
    }

    /// Parses the text of a tokens file; an error starts with `line:column: `.
    pub fn parse(text: &str) -> Result<Tokens, String> {
        let raw: Vec<RawToken> = serde_yaml::from_str(text).map_err(|e| match e.location() {
            Some(at) => format!("{}:{}: {e}", at.line(), at.column()),
            None => format!("1:1: {e}"),
        })?;
        // Entries are found again by name for their place (serde_yaml keeps no spans).
        let place = |name: &str| {
            text.lines()
                .position(|l| l.contains(name))
                .map_or("1:1".to_string(), |i| format!("{}:1", i + 1))
        };
        let mut tokens = Vec::new();
        for t in raw {
            let Some(role) = Permission::parse(&t.role) else {
                let hint = crate::diagnostic::did_you_mean(&t.role, Permission::NAMES)
                    .map(|m| format!("; did you mean `{m}`?"))
                    .unwrap_or_default();
                return Err(format!(
                    "{}: token `{}` has unknown role `{}`{hint} (roles: ingest, operator, viewer)",
                    place(&t.name),
                    t.name,
                    t.role
                ));
            };
            let bytes = hex::decode(t.sha256.trim()).ok().filter(|b| b.len() == 32);
            let Some(bytes) = bytes else {
                return Err(format!(
                    "{}: token `{}`: `sha256` must be 64 hex digits, the SHA-256 of the secret (`printf %s SECRET | sha256sum`)",
                    place(&t.name),
                    t.name
                ));
            };
            if t.name.trim().is_empty() {
                return Err(format!("{}: a token has an empty name", place(&t.sha256)));
            }
            if tokens.iter().any(|o: &Token| o.name == t.name) {
                return Err(format!(
                    "{}: two tokens are named `{}`; `by` on records must say who acted",
                    place(&t.name),
                    t.name
                ));
            }
            let shops = match &t.shops {
                None => Shops::default_only(),
                Some(list) => shops_of(list)
                    .map_err(|why| format!("{}: token `{}`: {why}", place(&t.name), t.name))?,
            };
            let mut digest = [0u8; 32];
            digest.copy_from_slice(&bytes);
            tokens.push(Token {
                name: t.name,
                role,
                digest,
                shops,
            });
        }
        if tokens.is_empty() {
            return Err("1:1: the tokens file lists no token".into());
        }
        Ok(Tokens(tokens))
    }

    /// The principal a presented token belongs to. Every entry is compared, in constant time,
    /// so neither the time nor the order tells which entry is near.
    pub fn find(&self, presented: &str) -> Option<Principal> {
        self.find_keyed(presented).map(|(p, _)| p)
    }

    /// [`Tokens::find`], with the token's fingerprint for a console session.
    pub fn find_keyed(&self, presented: &str) -> Option<(Principal, String)> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for t in &self.0 {
            if bool::from(t.digest.ct_eq(&digest)) {
                found = Some(t);
            }
        }
        found.map(|t| (t.principal(), fingerprint(&t.digest)))
    }

    /// The principal whose token has this fingerprint, while it is in the file.
    pub fn by_key(&self, key: &str) -> Option<Principal> {
        self.0
            .iter()
            .find(|t| fingerprint(&t.digest) == key)
            .map(Token::principal)
    }

    /// The tokens' names, in the file's order.
    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|t| t.name.as_str()).collect()
    }

    /// The fingerprints of every token, for ending the sessions of the others.
    pub fn keys(&self) -> Vec<String> {
        self.0.iter().map(|t| fingerprint(&t.digest)).collect()
    }
}

/// A token's `shops`: `["*"]`, or shop names (`[a-z0-9][a-z0-9_-]{0,62}`), at least one.
fn shops_of(list: &[String]) -> Result<Shops, String> {
    if list.is_empty() {
        return Err(
            "`shops` lists no shop; name the shops it acts on, or `[\"*\"]` for all".into(),
        );
    }
    if list.iter().any(|s| s == "*") {
        if list.len() > 1 {
            return Err("`shops` holds `*` (every shop) beside other shops; give `[\"*\"]` alone, or the shops by name".into());
        }
        return Ok(Shops::All);
    }
    let mut names: Vec<String> = Vec::with_capacity(list.len());
    for shop in list {
        if !crate::model::valid_shop(shop) {
            return Err(format!(
                "`shops` holds `{shop}`, which is not a shop name (`[a-z0-9][a-z0-9_-]{{0,62}}`, or `*` for every shop)"
            ));
        }
        if !names.contains(shop) {
            names.push(shop.clone());
        }
    }
    Ok(Shops::Only(names))
}

impl Token {
    fn principal(&self) -> Principal {
        Principal {
            name: self.name.clone(),
            role: self.role,
            shops: self.shops.clone(),
        }
    }
}

/// The webhook secret: the file named by `SAMPLEFLOW_WEBHOOK_SECRET_FILE`, its trailing newline
/// dropped.
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn load(path: &Path) -> Result<Secret, String> {
        // Named by the variable only: a secret pasted where the file's name belongs is not
        // repeated.
        let bytes = std::fs::read(path).map_err(|e| {
            format!(
                "cannot read the webhook secret file that `SAMPLEFLOW_WEBHOOK_SECRET_FILE` names: {}",
                crate::connect::config::io_kind(&e)
            )
        })?;
        let text = bytes.trim_ascii_end().to_vec();
        if text.is_empty() {
            return Err(
                "the webhook secret file that `SAMPLEFLOW_WEBHOOK_SECRET_FILE` names is empty"
                    .into(),
            );
        }
        Ok(Secret(text))
    }

    #[cfg(test)]
    fn new(bytes: &[u8]) -> Secret {
        Secret(bytes.to_vec())
    }

    /// True when `header` (`sha256=HEX`) is the HMAC-SHA256 of `body` under the secret.
    pub fn verifies(&self, header: &str, body: &[u8]) -> bool {
        let Some(hex_sig) = header.trim().strip_prefix("sha256=") else {
            return false;
        };
        let Ok(sig) = hex::decode(hex_sig) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&sig).is_ok()
    }
}

/// Reads of `shop` need a viewer (or an operator) who may act on it: the API's bearer token (or
/// signature) checked.
pub(super) fn viewer(
    app: &super::App,
    headers: &axum::http::HeaderMap,
    shop: &str,
) -> Result<(), axum::response::Response> {
    app.authorize_in(headers, Permission::Viewer, None, shop)
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(text: &str) -> String {
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    #[test]
    fn a_token_is_found_by_its_secret_and_by_nothing_else() {
        let text = format!(
            "- {{name: bot, role: ingest, sha256: {}}}\n- {{name: ana, role: operator, sha256: {}}}\n",
            sha("s3cret"),
            sha("other")
        );
        let tokens = Tokens::parse(&text).expect("parses");
        assert_eq!(
            tokens.find("s3cret"),
            Some(Principal {
                name: "bot".into(),
                role: Permission::Ingest,
                shops: Shops::Only(vec!["default".into()]),
            })
        );
        assert_eq!(
            tokens.find("other").map(|p| p.role),
            Some(Permission::Operator)
        );
        assert_eq!(tokens.find("s3cre"), None);
        assert_eq!(
            tokens.find(&sha("s3cret")),
            None,
            "the hash is not the token"
        );
    }

    #[test]
    fn a_bad_tokens_file_is_told_at_its_place() {
        let good = sha("x");
        let e = Tokens::parse(&format!("- {{name: a, role: operater, sha256: {good}}}\n"))
            .err()
            .expect("bad role");
        assert!(e.starts_with("1:1: "), "{e}");
        assert!(e.contains("did you mean `operator`?"), "{e}");
        let e = Tokens::parse("- {name: a, role: viewer, sha256: abc}\n")
            .err()
            .expect("bad hash");
        assert!(e.contains("64 hex digits"), "{e}");
        let e = Tokens::parse(&format!(
            "- {{name: a, role: viewer, sha256: {good}}}\n- {{name: a, role: ingest, sha256: {good}}}\n"
        ))
        .err()
        .expect("twice");
        assert!(e.contains("two tokens are named `a`"), "{e}");
        let e = Tokens::parse("- {name: a, role: viewer, sha: 1}\n")
            .err()
            .expect("unknown field");
        assert!(e.starts_with("1:"), "{e}");
    }

    #[test]
    fn a_tokens_shops_are_its_list_all_or_default_only() {
        let text = format!(
            "- {{name: a, role: viewer, sha256: {}, shops: [a, b]}}\n- {{name: all, role: operator, sha256: {}, shops: [\"*\"]}}\n- {{name: none, role: viewer, sha256: {}}}\n",
            sha("1"),
            sha("2"),
            sha("3")
        );
        let tokens = Tokens::parse(&text).expect("parses");
        let a = tokens.find("1").expect("a").shops;
        assert!(a.allows("a") && a.allows("b") && !a.allows("default"));
        let all = tokens.find("2").expect("all").shops;
        assert!(all.allows("default") && all.allows("zz"));
        let none = tokens.find("3").expect("none").shops;
        assert!(none.allows("default") && !none.allows("a"));
        assert!(Principal::local().shops.allows("a"));
    }

    #[test]
    fn bad_shops_in_a_tokens_file_are_told_at_their_entry() {
        let good = sha("x");
        let e = Tokens::parse(&format!(
            "- {{name: ok, role: viewer, sha256: {good}}}\n- {{name: bad, role: viewer, sha256: {}, shops: [a, Shop_B]}}\n",
            sha("y")
        ))
        .err()
        .expect("bad shop");
        assert!(e.starts_with("2:1: token `bad`"), "{e}");
        assert!(e.contains("`Shop_B`"), "{e}");
        let e = Tokens::parse(&format!(
            "- {{name: t, role: viewer, sha256: {good}, shops: []}}\n"
        ))
        .err()
        .expect("empty");
        assert!(e.contains("lists no shop"), "{e}");
        let e = Tokens::parse(&format!(
            "- {{name: t, role: viewer, sha256: {good}, shops: [\"*\", a]}}\n"
        ))
        .err()
        .expect("star and more");
        assert!(e.contains("`*`"), "{e}");
    }

    #[test]
    fn roles_allow_what_the_contract_says() {
        assert!(Permission::Operator.allows(Permission::Viewer));
        assert!(Permission::Operator.allows(Permission::Ingest));
        assert!(Permission::Ingest.allows(Permission::Ingest));
        assert!(!Permission::Ingest.allows(Permission::Viewer));
        assert!(!Permission::Viewer.allows(Permission::Ingest));
        assert!(!Permission::Viewer.allows(Permission::Operator));
        assert!(!Permission::Ingest.allows(Permission::Operator));
    }

    #[test]
    fn a_signature_verifies_its_body_only() {
        let secret = Secret::new(b"hook");
        let mut mac = Hmac::<Sha256>::new_from_slice(b"hook").expect("key");
        mac.update(b"{\"id\":1}\n");
        let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert!(secret.verifies(&sig, b"{\"id\":1}\n"));
        assert!(!secret.verifies(&sig, b"{\"id\":2}\n"));
        assert!(!secret.verifies("sha256=zz", b"{\"id\":1}\n"));
        assert!(!secret.verifies(sig.trim_start_matches("sha256="), b"{\"id\":1}\n"));
    }
}
