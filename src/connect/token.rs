//! The platform's tokens: the access token every call carries and the refresh token that makes
//! a new one (`GET {auth_base_url}/api/v2/token/refresh`). Both are written back to their files
//! atomically (a temporary file beside each, mode 0600, synced, renamed over it) before either
//! is used. Neither is ever printed: errors name the call and the platform's code only, and the
//! refresh URL (which carries the app secret and the refresh token) is never shown.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use super::config::{io_kind, Secret};

/// What a refresh gave: the new tokens and when the access token expires (Unix seconds).
pub struct Refreshed {
    pub access: Secret,
    pub refresh: Secret,
    pub access_expires: i64,
}

impl std::fmt::Debug for Refreshed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Refreshed {{ access_expires: {} }}", self.access_expires)
    }
}

/// Writes `text` to `path` atomically with mode 0600: a temporary file in the same folder,
/// synced, then renamed over the old one (and the folder synced), so a crash leaves the old
/// file or the new one, never half of either. An error names the key, not the file's text.
pub fn write_secret(path: &Path, text: &str, what: &str) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let fail = |e: std::io::Error| format!("cannot write the file `{what}` names: {}", io_kind(&e));
    // tempfile makes the file with mode 0600 and removes it if anything below fails.
    let mut file = tempfile::Builder::new()
        .prefix(".secret.")
        .tempfile_in(dir)
        .map_err(fail)?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.as_file().sync_all())
        .map_err(fail)?;
    file.persist(path).map_err(|e| fail(e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a refresh answer's `data`; `Err` says what is missing.
pub fn parse_refresh(data: &Value) -> Result<Refreshed, String> {
    let text = |k: &str| {
        data[k]
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .map(|s| Secret::from_platform(s.to_string()))
            .ok_or_else(|| format!("the refresh answer has no `{k}`"))
    };
    let access_expires = data["access_token_expire_in"]
        .as_i64()
        .or_else(|| data["access_token_expire_in"].as_str()?.parse().ok())
        .ok_or("the refresh answer has no `access_token_expire_in`")?;
    // A Unix time, as documented; a small number can only be a duration (seconds from now).
    let access_expires = if access_expires < 1_000_000_000 {
        chrono::Utc::now().timestamp() + access_expires.max(0)
    } else {
        access_expires
    };
    Ok(Refreshed {
        access: text("access_token")?,
        refresh: text("refresh_token")?,
        access_expires,
    })
}

/// `text` with every secret in `secrets` blotted out: the platform's messages are shown, but
/// one that quoted a token would not show it.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s, "[redacted]");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_written_whole_with_mode_0600_and_replaces_the_old_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token");
        std::fs::write(&path, "old").expect("write");
        write_secret(&path, "new-token", "access_token_file").expect("written");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new-token\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
        assert_eq!(left.len(), 1, "no temporary file left");
        let e = write_secret(&dir.path().join("no/such/token"), "t", "refresh_token_file")
            .expect_err("no folder");
        assert_eq!(
            e,
            "cannot write the file `refresh_token_file` names: no such file"
        );
    }

    #[test]
    fn a_refresh_answer_gives_both_tokens_and_the_expiry_and_never_shows_them() {
        let data = serde_json::json!({"access_token": "AT-1", "access_token_expire_in": 1_800_000_000,
            "refresh_token": "RT-1", "refresh_token_expire_in": 1_900_000_000});
        let r = parse_refresh(&data).expect("parsed");
        assert_eq!((r.access.expose(), r.refresh.expose()), ("AT-1", "RT-1"));
        assert_eq!(r.access_expires, 1_800_000_000);
        assert!(!format!("{r:?}").contains("AT-1"));
        let lasting = serde_json::json!({"access_token": "AT", "refresh_token": "RT",
            "access_token_expire_in": 604_800});
        let r = parse_refresh(&lasting).expect("a duration");
        let week = chrono::Utc::now().timestamp() + 604_800;
        assert!(
            (week - 5..=week).contains(&r.access_expires),
            "{}",
            r.access_expires
        );
        let e = parse_refresh(&serde_json::json!({"access_token": "AT"})).expect_err("partial");
        assert!(e.contains("access_token_expire_in"), "{e}");
        assert_eq!(
            scrub("bad token RT-1 given", &["RT-1"]),
            "bad token [redacted] given"
        );
    }
}
