//! `connectors/tiktok.yaml`: where the shop is and how its data maps to ours. Secrets are never
//! in this file: it names the files that hold them, and a secret written inline is refused at
//! its place. Paths are read relative to the config file's folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A secret read from a file: never printed, never serialized.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The file's text without its trailing newline; an empty file is an error. An error names
    /// the key `what` that gave the file, never the file's name: a secret pasted where its name
    /// belongs must not be repeated.
    pub fn read(path: &Path, what: &str) -> Result<Secret, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the file `{what}` names: {}", io_kind(&e)))?;
        let text = text.trim_end_matches(['\n', '\r']).to_string();
        if text.trim().is_empty() {
            return Err(format!("the file `{what}` names is empty"));
        }
        Ok(Secret(text))
    }

    /// The secret itself, for the one place that signs or sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A secret the platform gave (a refreshed token).
    pub(crate) fn from_platform(text: String) -> Secret {
        Secret(text)
    }

    #[cfg(test)]
    pub fn new(text: &str) -> Secret {
        Secret(text.to_string())
    }
}

/// What went wrong reading a file, without the file's name (the OS's text holds none, but an
/// error from elsewhere might).
pub(crate) fn io_kind(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "a folder, not a file".into(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".into(),
        kind => kind.to_string(),
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// Creator figures the platform does not give.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    #[serde(default = "default_engagement")]
    pub engagement_rate: f64,
    #[serde(default = "default_posts")]
    pub posts_30d: i64,
}

fn default_engagement() -> f64 {
    0.03
}

fn default_posts() -> i64 {
    4
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            engagement_rate: default_engagement(),
            posts_30d: default_posts(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    base_url: String,
    app_key: String,
    app_secret_file: PathBuf,
    access_token_file: PathBuf,
    /// The refresh token's file: with it, the access token is refreshed before it expires.
    #[serde(default)]
    refresh_token_file: Option<PathBuf>,
    /// The platform's auth host (not the API's).
    #[serde(default = "default_auth")]
    auth_base_url: String,
    #[serde(default = "default_refresh_before")]
    refresh_before: String,
    /// Left out: read from the authorised shops (the entry whose id is `shop_id`).
    #[serde(default)]
    shop_cipher: Option<String>,
    /// The platform's id of the shop: a webhook naming it is this config's.
    #[serde(default)]
    shop_id: Option<String>,
    #[serde(default = "default_poll")]
    poll_every: String,
    catalog: PathBuf,
    #[serde(default)]
    defaults: Defaults,
    #[serde(default)]
    reject_reasons: BTreeMap<String, String>,
    #[serde(default = "default_page_size")]
    page_size: u32,
    /// Platform codes that mean "try again later" (a rate limit, a busy service).
    #[serde(default = "default_retry_codes")]
    retry_codes: Vec<i64>,
    /// Platform codes that mean the application can no longer be approved or rejected.
    #[serde(default = "default_final_codes")]
    final_codes: Vec<i64>,
    #[serde(default)]
    messages: Messages,
    #[serde(default)]
    paid_collab: PaidCollab,
    /// The seller's contact address a target collaboration names.
    #[serde(default)]
    seller_email: Option<String>,
    /// How far back each orders poll reads again (refunds come late).
    #[serde(default = "default_orders_overlap")]
    orders_overlap: String,
}

/// Reminders sent to creators as messages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Messages {
    /// The text: `{creator}`, `{product}` and `{due}` (the post deadline in the shop's
    /// timezone) are filled in.
    #[serde(default = "default_remind")]
    pub remind: String,
    /// A free-sample card for the application follows the text.
    #[serde(default)]
    pub attach_sample_card: bool,
}

impl Default for Messages {
    fn default() -> Self {
        Messages {
            remind: default_remind(),
            attach_sample_card: false,
        }
    }
}

fn default_remind() -> String {
    "Hi {creator}, your sample of {product} has arrived. Please post your video by {due}. Thank you!"
        .into()
}

/// The offer an `invite_paid_collab` makes: a target collaboration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaidCollab {
    /// In 1/100 %: 1500 is 15 %; at least 1000.
    #[serde(default = "default_commission")]
    pub commission_rate: i64,
    /// Days from the invitation to its `end_time`.
    #[serde(default = "default_collab_days")]
    pub days: i64,
    #[serde(default = "default_collab_message")]
    pub message: String,
}

impl Default for PaidCollab {
    fn default() -> Self {
        PaidCollab {
            commission_rate: default_commission(),
            days: default_collab_days(),
            message: default_collab_message(),
        }
    }
}

fn default_commission() -> i64 {
    1500
}

fn default_collab_days() -> i64 {
    30
}

fn default_collab_message() -> String {
    "Your content sells well: we would like to work with you on a paid partnership.".into()
}

fn default_auth() -> String {
    "https://auth.tiktok-shops.com".into()
}

fn default_refresh_before() -> String {
    "24h".into()
}

fn default_orders_overlap() -> String {
    "7d".into()
}

fn default_poll() -> String {
    "5m".into()
}

fn default_page_size() -> u32 {
    100
}

fn default_retry_codes() -> Vec<i64> {
    vec![36009004, 36009003, 36009002, 10000003]
}

fn default_final_codes() -> Vec<i64> {
    vec![16019014, 16019015]
}

/// The platform's reject reasons.
pub const REJECT_REASONS: [&str; 4] = ["NOT_MATCH", "OFFLINE", "OUT_OF_STOCK", "OTHER"];

/// A loaded config, its secrets read.
#[derive(Debug, Clone)]
pub struct Config {
    pub base_url: String,
    pub app_key: String,
    pub app_secret: Secret,
    pub access_token: Secret,
    /// Where the access token is written back after a refresh.
    pub access_token_file: PathBuf,
    /// The refresh token and its file, when the config names one.
    pub refresh_token: Option<Secret>,
    pub refresh_token_file: Option<PathBuf>,
    pub auth_base_url: String,
    /// Seconds before the access token's expiry at which it is refreshed.
    pub refresh_before: i64,
    /// `None`: read from the authorised shops.
    pub shop_cipher: Option<String>,
    /// The platform's id of the shop, which its webhooks name (`shop_id`).
    pub shop_id: Option<String>,
    /// Seconds between polls.
    pub poll_every: i64,
    pub catalog: PathBuf,
    pub defaults: Defaults,
    /// Our reason code to the platform's reject reason (`OTHER` for one not named).
    pub reject_reasons: BTreeMap<String, String>,
    pub page_size: u32,
    pub retry_codes: Vec<i64>,
    pub final_codes: Vec<i64>,
    pub messages: Messages,
    pub paid_collab: PaidCollab,
    pub seller_email: Option<String>,
    /// Seconds each orders poll reads again.
    pub orders_overlap: i64,
    /// The shop's timezone (its policy's): a reminder's due time, a quota's day.
    pub timezone: chrono_tz::Tz,
}

impl Config {
    /// The platform's reject reason for one of our reason codes.
    pub fn reject_reason(&self, ours: Option<&str>) -> &str {
        ours.and_then(|r| self.reject_reasons.get(r))
            .map_or("OTHER", String::as_str)
    }
}

/// Keys that would hold a secret inline.
const INLINE_SECRETS: [(&str, &str); 5] = [
    ("app_secret", "app_secret_file"),
    ("access_token", "access_token_file"),
    ("refresh_token", "refresh_token_file"),
    ("secret", "app_secret_file"),
    ("token", "access_token_file"),
];

/// `line:column` of the first line that sets `key` (at any depth).
fn find(text: &str, key: &str) -> Option<String> {
    text.lines().enumerate().find_map(|(i, l)| {
        let body = l.trim_start();
        let sets = body
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with(':'));
        sets.then(|| format!("{}:{}", i + 1, l.len() - body.len() + 1))
    })
}

/// Where `key` is set, or the start of the file.
fn place(text: &str, key: &str) -> String {
    find(text, key).unwrap_or_else(|| "1:1".into())
}

/// Loads the config at `path`; an error names the file, line and column, and never holds a
/// secret's value.
pub fn load(path: &Path) -> Result<Config, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    parse(&text, path.parent().unwrap_or(Path::new("."))).map_err(|e| format!("{shown}:{e}"))
}

/// Parses a config's text, with its relative paths under `dir`; an error starts `line:col: `.
pub fn parse(text: &str, dir: &Path) -> Result<Config, String> {
    for (key, instead) in INLINE_SECRETS {
        if let Some(at) = find(text, key) {
            return Err(format!(
                "{at}: `{key}` holds a secret inline; secrets never go in the config: put it in a file of its own (readable by this user only) and name that file in `{instead}`"
            ));
        }
    }
    let raw: Raw = serde_yaml::from_str(text).map_err(|e| {
        // serde_yaml's message may quote the offending value: keep only its kind and place.
        let at = e
            .location()
            .map_or("1:1".into(), |l| format!("{}:{}", l.line(), l.column()));
        let message = e.to_string();
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_string();
        format!("{at}: {message}")
    })?;
    let poll_every = match crate::Duration::parse(&raw.poll_every) {
        Ok(crate::Duration::Seconds(s)) if s > 0 => s,
        _ => {
            return Err(format!(
                "{}: `poll_every` is `{}`; it is a duration like `5m` or `1h`",
                place(text, "poll_every"),
                raw.poll_every
            ))
        }
    };
    for (ours, theirs) in &raw.reject_reasons {
        if !REJECT_REASONS.contains(&theirs.as_str()) {
            let hint = crate::diagnostic::did_you_mean(theirs, REJECT_REASONS)
                .map(|m| format!("; did you mean `{m}`?"))
                .unwrap_or_default();
            return Err(format!(
                "{}: `reject_reasons.{ours}` is `{theirs}`, not a reject reason of the platform ({}){hint}",
                place(text, ours),
                REJECT_REASONS.join(", ")
            ));
        }
    }
    if !(raw.base_url.starts_with("http://") || raw.base_url.starts_with("https://")) {
        return Err(format!(
            "{}: `base_url` must start with http:// or https://",
            place(text, "base_url")
        ));
    }
    let seconds = |key: &str, value: &str| match crate::Duration::parse(value) {
        Ok(crate::Duration::Seconds(s)) if s > 0 => Ok(s),
        _ => Err(format!(
            "{}: `{key}` is `{value}`; it is a duration like `24h` or `7d`",
            place(text, key)
        )),
    };
    let refresh_before = seconds("refresh_before", &raw.refresh_before)?;
    let orders_overlap = seconds("orders_overlap", &raw.orders_overlap)?;
    if raw.paid_collab.commission_rate < 1000 {
        return Err(format!(
            "{}: `paid_collab.commission_rate` is {}; the platform takes at least 1000 (10 %, in 1/100 %)",
            place(text, "commission_rate"),
            raw.paid_collab.commission_rate
        ));
    }
    if !(1..=365).contains(&raw.paid_collab.days) {
        return Err(format!(
            "{}: `paid_collab.days` is {}; it is from 1 to 365",
            place(text, "days"),
            raw.paid_collab.days
        ));
    }
    if !(raw.auth_base_url.starts_with("http://") || raw.auth_base_url.starts_with("https://")) {
        return Err(format!(
            "{}: `auth_base_url` must start with http:// or https://",
            place(text, "auth_base_url")
        ));
    }
    let shop_id = raw.shop_id.filter(|s| !s.trim().is_empty());
    let shop_cipher = raw.shop_cipher.filter(|s| !s.trim().is_empty());
    if shop_cipher.is_none() && shop_id.is_none() {
        return Err(format!(
            "{}: `shop_cipher` is left out, so `shop_id` must name the shop whose cipher is read from the authorised shops",
            place(text, "shop_cipher")
        ));
    }
    let at = |p: &Path| dir.join(p);
    let secret = |key: &str, p: &Path| {
        Secret::read(&at(p), key).map_err(|e| format!("{}: {e}", place(text, key)))
    };
    Ok(Config {
        base_url: raw.base_url.trim_end_matches('/').to_string(),
        app_key: raw.app_key,
        app_secret: secret("app_secret_file", &raw.app_secret_file)?,
        access_token: secret("access_token_file", &raw.access_token_file)?,
        access_token_file: at(&raw.access_token_file),
        refresh_token: match &raw.refresh_token_file {
            Some(p) => Some(secret("refresh_token_file", p)?),
            None => None,
        },
        refresh_token_file: raw.refresh_token_file.as_deref().map(at),
        auth_base_url: raw.auth_base_url.trim_end_matches('/').to_string(),
        refresh_before,
        shop_cipher,
        shop_id,
        poll_every,
        catalog: at(&raw.catalog),
        defaults: raw.defaults,
        reject_reasons: raw.reject_reasons,
        page_size: raw.page_size.clamp(1, 100),
        retry_codes: raw.retry_codes,
        final_codes: raw.final_codes,
        messages: raw.messages,
        paid_collab: raw.paid_collab,
        seller_email: raw.seller_email.filter(|s| !s.trim().is_empty()),
        orders_overlap,
        timezone: chrono_tz::Tz::America__Los_Angeles,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("app.secret"), "sek-1\n").expect("write");
        std::fs::write(dir.path().join("token"), "tok-1").expect("write");
        dir
    }

    const GOOD: &str = "base_url: http://127.0.0.1:9/\napp_key: key1\napp_secret_file: app.secret\naccess_token_file: token\nshop_cipher: ROW_1\ncatalog: catalog.csv\nreject_reasons:\n  restricted_category: NOT_MATCH\n";

    #[test]
    fn a_config_loads_with_its_secrets_from_files() {
        let dir = folder();
        let c = parse(GOOD, dir.path()).expect("loads");
        assert_eq!(c.app_secret.expose(), "sek-1");
        assert_eq!(c.access_token.expose(), "tok-1");
        assert_eq!(c.base_url, "http://127.0.0.1:9");
        assert_eq!(c.poll_every, 300);
        assert_eq!(c.reject_reason(Some("restricted_category")), "NOT_MATCH");
        assert_eq!(c.reject_reason(Some("blocked_creator")), "OTHER");
        assert_eq!(c.reject_reason(None), "OTHER");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("sek-1") && !shown.contains("tok-1"),
            "{shown}"
        );
    }

    #[test]
    fn a_secret_inline_is_refused_at_its_place_without_its_value() {
        let dir = folder();
        let text = GOOD.replace(
            "app_key: key1\n",
            "app_key: key1\n  \napp_secret: hunter2\n",
        );
        let e = parse(&text, dir.path()).expect_err("refused");
        assert!(
            e.starts_with("4:1: `app_secret` holds a secret inline"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
        let text = format!("{GOOD}access_token: abc\n");
        let e = parse(&text, dir.path()).expect_err("refused");
        assert!(e.contains("`access_token_file`"), "{e}");
    }

    /// The example in `connectors/` parses (its secret files aside).
    #[test]
    fn the_shipped_example_is_a_valid_config() {
        let text = std::fs::read_to_string("connectors/tiktok.example.yaml").expect("example");
        let dir = folder();
        assert!(!text.contains("/etc/"), "relative files only");
        let secrets = dir.path().join("secrets");
        std::fs::create_dir_all(&secrets).expect("mkdir");
        for name in ["app_secret", "access_token", "refresh_token"] {
            std::fs::write(secrets.join(format!("tiktok.{name}")), "s").expect("write");
        }
        let c = parse(&text, dir.path()).expect("the example loads");
        assert_eq!(c.reject_reason(Some("restricted_category")), "NOT_MATCH");
        assert_eq!(c.poll_every, 300);
        assert_eq!(c.refresh_before, 86_400);
        assert_eq!(c.shop_cipher, None);
        assert_eq!(c.paid_collab.commission_rate, 1500);
        assert!(c.messages.attach_sample_card);
        assert!(c.refresh_token_file.is_some());
    }

    #[test]
    fn a_bad_value_is_told_at_its_place() {
        let dir = folder();
        let e = parse(&GOOD.replace("NOT_MATCH", "NOT_MATHC"), dir.path()).expect_err("bad reason");
        assert!(e.starts_with("8:3: "), "{e}");
        assert!(e.contains("did you mean `NOT_MATCH`?"), "{e}");
        let e = parse(&format!("{GOOD}poll_every: often\n"), dir.path()).expect_err("bad duration");
        assert!(e.starts_with("9:1: `poll_every`"), "{e}");
        let e = parse(
            &format!("{GOOD}paid_collab:\n  commission_rate: 500\n"),
            dir.path(),
        )
        .expect_err("too low a rate");
        assert!(
            e.starts_with("10:3: `paid_collab.commission_rate` is 500"),
            "{e}"
        );
        let e = parse(&GOOD.replace("shop_cipher: ROW_1\n", ""), dir.path())
            .expect_err("no cipher, no shop id");
        assert!(e.contains("`shop_id` must name the shop"), "{e}");
        let e = parse(&format!("{GOOD}colour: red\n"), dir.path()).expect_err("unknown key");
        assert!(e.contains("unknown field `colour`"), "{e}");
        let e = parse(&GOOD.replace("app.secret", "missing"), dir.path()).expect_err("no file");
        assert_eq!(
            e,
            "3:1: cannot read the file `app_secret_file` names: no such file"
        );
        // A secret pasted where the file's name belongs is not repeated.
        let e =
            parse(&GOOD.replace("app.secret", "sk-live-7f3a9"), dir.path()).expect_err("no file");
        assert!(!e.contains("sk-live-7f3a9"), "{e}");
    }
}
