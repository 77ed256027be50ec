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
    shop_cipher: String,
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
}

fn default_poll() -> String {
    "5m".into()
}

fn default_page_size() -> u32 {
    100
}

fn default_retry_codes() -> Vec<i64> {
    vec![36009004, 36009003, 10000003]
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
    pub shop_cipher: String,
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
}

impl Config {
    /// The platform's reject reason for one of our reason codes.
    pub fn reject_reason(&self, ours: Option<&str>) -> &str {
        ours.and_then(|r| self.reject_reasons.get(r))
            .map_or("OTHER", String::as_str)
    }
}

/// Keys that would hold a secret inline.
const INLINE_SECRETS: [(&str, &str); 4] = [
    ("app_secret", "app_secret_file"),
    ("access_token", "access_token_file"),
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
    let at = |p: &Path| dir.join(p);
    let secret = |key: &str, p: &Path| {
        Secret::read(&at(p), key).map_err(|e| format!("{}: {e}", place(text, key)))
    };
    Ok(Config {
        base_url: raw.base_url.trim_end_matches('/').to_string(),
        app_key: raw.app_key,
        app_secret: secret("app_secret_file", &raw.app_secret_file)?,
        access_token: secret("access_token_file", &raw.access_token_file)?,
        shop_cipher: raw.shop_cipher,
        shop_id: raw.shop_id.filter(|s| !s.trim().is_empty()),
        poll_every,
        catalog: at(&raw.catalog),
        defaults: raw.defaults,
        reject_reasons: raw.reject_reasons,
        page_size: raw.page_size.clamp(1, 100),
        retry_codes: raw.retry_codes,
        final_codes: raw.final_codes,
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
        let text = text
            .replace("/etc/sampleflow/tiktok.app_secret", "app.secret")
            .replace("/etc/sampleflow/tiktok.access_token", "token");
        let c = parse(&text, dir.path()).expect("the example loads");
        assert_eq!(c.reject_reason(Some("restricted_category")), "NOT_MATCH");
        assert_eq!(c.poll_every, 300);
    }

    #[test]
    fn a_bad_value_is_told_at_its_place() {
        let dir = folder();
        let e = parse(&GOOD.replace("NOT_MATCH", "NOT_MATHC"), dir.path()).expect_err("bad reason");
        assert!(e.starts_with("8:3: "), "{e}");
        assert!(e.contains("did you mean `NOT_MATCH`?"), "{e}");
        let e = parse(&format!("{GOOD}poll_every: often\n"), dir.path()).expect_err("bad duration");
        assert!(e.starts_with("9:1: `poll_every`"), "{e}");
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
