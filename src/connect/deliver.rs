//! Delivering the calls to creators the outbox holds (`message`: a reminder, `collaboration`:
//! a paid-partnership offer), exactly once.
//!
//! A call is marked `sending` (committed) before any platform write. A call found `sending`, or
//! tried before, may have been taken in part or whole: it is settled by a read first (the
//! conversation's messages for our text and card; the collaborations' search for the name,
//! which carries the action's id), and only what the platform does not show is sent. A daily
//! quota holds every call of that kind (`held`) until the next day in the shop's timezone; a
//! creator who cannot be messaged fails the call; anything else leaves it queued for the next
//! cycle.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{json, Value};

use super::platform::{Application, CallError, Client};
use super::Config;
use crate::session::live::wall_now;
use crate::store::{OutboxCall, Store, StoreError, COLLABORATION, MESSAGE};

/// The wall clock (`SAMPLEFLOW_NOW` in tests) as records write times.
pub(crate) fn now_text() -> String {
    wall_now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Codes of a daily quota: the call waits for the next day.
pub const QUOTA_CODES: [i64; 2] = [45101004, 16030002];
/// Codes that say a creator cannot be messaged: trying again will not help.
pub const UNREACHABLE_CODES: [i64; 3] = [16030001, 45101021, 16030003];

/// The crash hooks for tests (`SAMPLEFLOW_CRASH=call:N` dies as the Nth platform write of the
/// cycle goes, its call marked sending; `answered:N` after its `code: 0`, before it is marked).
pub struct Crash {
    going: Option<u64>,
    answered: Option<u64>,
    n: u64,
}

impl Crash {
    pub fn from_env() -> Crash {
        Crash {
            going: crate::store::crash_point("call"),
            answered: crate::store::crash_point("answered"),
            n: 0,
        }
    }

    /// A platform write is about to go.
    pub fn going(&mut self) {
        self.n += 1;
        if self.going == Some(self.n) {
            std::process::abort();
        }
    }

    /// The platform said `code: 0` to the write that went last.
    pub fn answered(&self) {
        if self.answered == Some(self.n) {
            std::process::abort();
        }
    }
}

/// What delivering one call came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// The platform had it already (settled by a read).
    Found,
    Held,
    Failed,
    Queued,
}

/// The key of the hold a quota puts on a kind of call.
pub fn hold_key(kind: &str) -> String {
    format!("held_until:{kind}")
}

/// When the hold on `kind` ends, if it has not yet at `now`.
pub fn held_until(
    side: &dyn Store,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>, StoreError> {
    let until = side.connector_value(&hold_key(kind))?;
    Ok(
        until
            .filter(|u| DateTime::parse_from_rfc3339(u).is_ok_and(|t| t.with_timezone(&Utc) > now)),
    )
}

/// The start of the day after `now`'s in `tz`.
pub fn next_day(now: DateTime<Utc>, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let local = now.with_timezone(&tz).date_naive();
    let next = local.succ_opt().unwrap_or(local);
    let midnight = next.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&midnight)
        .earliest()
        .map_or(now + chrono::Duration::days(1), |t| t.with_timezone(&Utc))
}

/// The reminder's text for a sample: the config's template with `{creator}`, `{product}` and
/// `{due}` (the post deadline in the shop's timezone, with its abbreviation).
pub fn reminder_text(
    config: &Config,
    inst: &crate::model::Instance,
    app: Option<&Application>,
) -> String {
    let creator = app
        .and_then(|a| a.creator.username.clone())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| inst.creator.id.to_string());
    let product = app
        .and_then(|a| a.product.title.clone())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| inst.product.id.to_string());
    let due = inst.armed("post").map_or_else(
        || "the date agreed".to_string(),
        |a| {
            a.due
                .with_timezone(&config.timezone)
                .format("%Y-%m-%d %H:%M %Z")
                .to_string()
        },
    );
    config
        .messages
        .remind
        .replace("{creator}", &creator)
        .replace("{product}", &product)
        .replace("{due}", &due)
}

/// The name a collaboration is created under: it carries the action's id, so a search finds it.
pub fn collaboration_name(call: &OutboxCall) -> String {
    format!("sampleflow {}", call.event)
}

/// True when a listed message's content is `text` (the platform shows the content as sent: a
/// JSON text `{"content": ...}`).
fn says(content: &str, text: &str) -> bool {
    content == text
        || serde_json::from_str::<Value>(content).is_ok_and(|v| v["content"].as_str() == Some(text))
}

/// The counts kept as `message_before:<action>`: our text's and our card's, before our first write.
fn counts(kept: &str) -> Option<(usize, usize)> {
    let (texts, cards) = kept.split_once(' ')?;
    Some((texts.parse().ok()?, cards.parse().ok()?))
}

fn is_card_for(content: &str, application: &str) -> bool {
    serde_json::from_str::<Value>(content)
        .is_ok_and(|v| v["apply_id"].as_str() == Some(application))
        || content.contains(application)
}

/// Delivers one message or collaboration call; its row moved to what came of it.
#[allow(clippy::too_many_arguments)]
pub fn creator_call(
    client: &Client,
    config: &Config,
    side: &mut Box<dyn Store>,
    apps: &[Application],
    call: &OutboxCall,
    crash: &mut Crash,
    now: DateTime<Utc>,
    stamp: &str,
) -> Result<Outcome, StoreError> {
    let Some(inst) = side.sample(&call.sample)? else {
        side.set_call(
            call,
            "failed",
            None,
            Some("the sample is not in the store"),
            stamp,
        )?;
        return Ok(Outcome::Failed);
    };
    let app = apps.iter().find(|a| a.id == call.sample);
    // Tried before (a crash, or a failure after a part went): the platform is asked first.
    let in_doubt = call.state == "sending" || call.attempts > 0;
    side.set_call(call, "sending", call.code, call.message.as_deref(), stamp)?;
    let result: Result<bool, CallError> = match call.kind() {
        MESSAGE => {
            // The text as first rendered is kept until the call is settled: a restart looks for
            // that text, even if the post deadline moved in between.
            let key = format!("message_text:{}", call.event);
            let text = match side.connector_value(&key)? {
                Some(kept) => kept,
                None => {
                    let text = reminder_text(config, &inst, app);
                    side.set_connector_value(&key, Some(&text))?;
                    text
                }
            };
            // What the conversation held before our first write, kept until the call is
            // settled: a call in doubt counts as sent only what is there beyond it, so an earlier
            // reminder of the same words (another action) is never taken for this one.
            let before_key = format!("message_before:{}", call.event);
            let before = side.connector_value(&before_key)?;
            let mut keep_before = None;
            let result = (|| {
                let conversation = client.conversation(&inst.creator.id)?;
                let (mut texts, mut cards) = (0usize, 0usize);
                for (kind, content) in client.messages(&conversation)? {
                    texts += usize::from(kind == "TEXT" && says(&content, &text));
                    cards += usize::from(
                        kind == "FREE_SAMPLE_CARD" && is_card_for(&content, &call.sample),
                    );
                }
                let (has_text, has_card) = match before.as_deref().and_then(counts) {
                    Some((texts_before, cards_before)) => {
                        (texts > texts_before, cards > cards_before)
                    }
                    None => {
                        keep_before = Some(format!("{texts} {cards}"));
                        (false, false)
                    }
                };
                Ok((conversation, has_text, has_card))
            })();
            // Kept (committed) before any write goes.
            if let Some(kept) = &keep_before {
                side.set_connector_value(&before_key, Some(kept))?;
            }
            result.and_then(|(conversation, has_text, has_card)| {
                let card = config.messages.attach_sample_card;
                let mut wrote = false;
                if !has_text {
                    crash.going();
                    client.send_message(&conversation, "TEXT", &json!({"content": text}))?;
                    crash.answered();
                    wrote = true;
                }
                if card && !has_card {
                    crash.going();
                    client.send_message(
                        &conversation,
                        "FREE_SAMPLE_CARD",
                        &json!({"apply_id": call.sample}),
                    )?;
                    crash.answered();
                    wrote = true;
                }
                Ok(wrote)
            })
        }
        COLLABORATION => {
            let name = collaboration_name(call);
            (|| {
                if in_doubt && client.collaboration_named(&name)? {
                    return Ok(false);
                }
                let Some(email) = config.seller_email.as_deref() else {
                    return Err(CallError::Platform {
                        code: -1,
                        message: "no `seller_email` in the connector's config: a target collaboration needs one".into(),
                    });
                };
                let end = now.timestamp() + config.paid_collab.days * 86_400;
                let body = json!({
                    "name": name,
                    "message": config.paid_collab.message,
                    "end_time": end.to_string(),
                    "products": [{"id": inst.product.id.to_string(),
                                  "target_commission_rate": config.paid_collab.commission_rate}],
                    "creator_user_ids": [inst.creator.id.to_string()],
                    "seller_contact_info": {"email": email},
                    "free_sample_rule": {"has_free_sample": true, "is_sample_approval_exempt": true},
                });
                crash.going();
                client.create_collaboration(&body)?;
                crash.answered();
                Ok(true)
            })()
        }
        _ => return Ok(Outcome::Queued),
    };
    let stamp = &now_text();
    let settled = result.is_ok()
        || matches!(&result, Err(CallError::Platform { code, .. })
            if *code == -1 || UNREACHABLE_CODES.contains(code) || config.final_codes.contains(code));
    let outcome = match result {
        Ok(true) => {
            side.set_call(call, "sent", Some(0), Some("Success"), stamp)?;
            Outcome::Sent
        }
        Ok(false) => {
            side.set_call(
                call,
                "sent",
                Some(0),
                Some("found on the platform: taken before a restart"),
                stamp,
            )?;
            Outcome::Found
        }
        Err(CallError::Platform { code, message }) if QUOTA_CODES.contains(&code) => {
            let until =
                next_day(now, config.timezone).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            side.set_connector_value(&hold_key(call.kind()), Some(&until))?;
            side.set_call(
                call,
                "held",
                Some(code),
                Some(&format!("{message}; held until {until}")),
                stamp,
            )?;
            Outcome::Held
        }
        Err(CallError::Platform { code, message })
            if code == -1
                || UNREACHABLE_CODES.contains(&code)
                || config.final_codes.contains(&code) =>
        {
            side.set_call(
                call,
                "failed",
                Some(code).filter(|c| *c >= 0),
                Some(&message),
                stamp,
            )?;
            Outcome::Failed
        }
        Err(e) => {
            side.set_call(call, "queued", e.code(), Some(&e.to_string()), stamp)?;
            Outcome::Queued
        }
    };
    // Once the row says how it ended, its kept text and counts go.
    if settled && call.kind() == MESSAGE {
        side.set_connector_value(&format!("message_text:{}", call.event), None)?;
        side.set_connector_value(&format!("message_before:{}", call.event), None)?;
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_day_starts_at_midnight_in_the_shops_timezone() {
        let now = DateTime::parse_from_rfc3339("2026-06-02T05:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        // 22:00 on June 1st in Los Angeles (PDT): the next day starts at 07:00 UTC on June 2nd.
        let la = next_day(now, chrono_tz::Tz::America__Los_Angeles);
        assert_eq!(la.to_rfc3339(), "2026-06-02T07:00:00+00:00");
        let utc = next_day(now, chrono_tz::Tz::UTC);
        assert_eq!(utc.to_rfc3339(), "2026-06-03T00:00:00+00:00");
    }

    #[test]
    fn a_listed_message_is_ours_when_its_content_is_our_text() {
        assert!(says(r#"{"content":"Hi there"}"#, "Hi there"));
        assert!(says("Hi there", "Hi there"));
        assert!(!says(r#"{"content":"Hi"}"#, "Hi there"));
        assert!(is_card_for(r#"{"apply_id":"a1"}"#, "a1"));
        assert_eq!(counts("1 0"), Some((1, 0)));
        assert_eq!(counts("x"), None);
    }
}
