//! The clock-jump guard of the ops commands: an event far past the store's clock would first fire
//! every deadline due meanwhile (requests expire, shipments go overdue) and commit them with it.
//! A command that takes the store itself refuses that, writing nothing, unless told `--catch-up`;
//! handed to a live `watch` or `serve`, whose clock follows the wall clock, the check does not
//! arise.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::model::Output;
use crate::runtime::{Program, Runner};
use crate::store::{Focus, Store};

/// The guard's options, shared by `review`, `ship` and `adjust`.
#[derive(Debug, Clone, clap::Args)]
pub struct Guard {
    /// Refuse (exit 2, nothing written) an event this much or more past the store's clock:
    /// `1d`, `36h`, `30m`...
    #[arg(
        long,
        default_value = "1d",
        value_name = "DURATION",
        value_parser = max_catch_up,
        env = "SAMPLEFLOW_MAX_CATCH_UP"
    )]
    pub max_catch_up: (i64, String),
    /// Apply the event however far past the store's clock it is, firing every deadline due by
    /// then first.
    #[arg(long)]
    pub catch_up: bool,
}

fn max_catch_up(text: &str) -> Result<(i64, String), String> {
    match crate::Duration::parse(text) {
        Ok(crate::Duration::Seconds(secs)) => Ok((secs, text.to_string())),
        Ok(crate::Duration::Policy(_)) => Err("a policy parameter cannot be used here".into()),
        Err(e) => Err(e.0),
    }
}

/// Why an event may not go on: where the store's clock stands and what would fire first.
#[derive(Debug, Clone, PartialEq)]
pub struct Jump {
    pub clock: DateTime<Utc>,
    pub at: DateTime<Utc>,
    pub allowed: String,
    /// Deadlines that would fire before the event, and the samples they move (first few).
    pub fired: u64,
    pub samples: Vec<String>,
}

/// How many samples a refusal names.
const NAMED: usize = 5;

/// `Some` when an event at `at` is more than the allowance past the store's clock. Reads the
/// store only: the deadlines that would fire are counted by a runner in memory, loaded with
/// what the event can reach, ticked to `at` and thrown away.
pub fn check(
    guard: &Guard,
    store: &mut dyn Store,
    program: &Program,
    focus: &Focus,
) -> Result<Option<Jump>, crate::store::StoreError> {
    if guard.catch_up {
        return Ok(None);
    }
    let Some(clock) = store.meta()?.clock else {
        return Ok(None);
    };
    let (allowed, label) = &guard.max_catch_up;
    if focus.at <= crate::model::after(clock, *allowed) {
        return Ok(None);
    }
    let mut runner = Runner::new(program.clone(), store.load_around(focus)?);
    runner.tick(focus.at);
    let mut samples: Vec<String> = Vec::new();
    for out in runner.drain_output() {
        if let Output::Record(r) = out {
            if !samples.iter().any(|s| s == r.sample.as_str()) {
                samples.push(r.sample.to_string());
            }
        }
    }
    Ok(Some(Jump {
        clock,
        at: focus.at,
        allowed: label.clone(),
        fired: runner.stats.deadlines,
        samples,
    }))
}

impl Jump {
    /// What the command prints on stderr.
    pub fn message(&self, command: &str) -> String {
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let fired = match self.fired {
            0 => "no deadline would fire first".to_string(),
            n => {
                let mut named: Vec<String> = self
                    .samples
                    .iter()
                    .take(NAMED)
                    .map(|s| format!("`{s}`"))
                    .collect();
                if self.samples.len() > NAMED {
                    named.push(format!("{} more", self.samples.len() - NAMED));
                }
                format!(
                    "{n} deadline{} would fire first (moving {})",
                    if n == 1 { "" } else { "s" },
                    named.join(", ")
                )
            }
        };
        format!(
            "error: `{command}` at {} is {} past the store's clock, which stands at {}, more than `--max-catch-up {}`: {fired}; nothing was written\n  help: give `--at TIME` near the store's clock for an event that happened then, or add `--catch-up` to move the store on to {} and fire what falls due",
            time(self.at),
            span(self.at - self.clock),
            time(self.clock),
            self.allowed,
            time(self.at)
        )
    }
}

/// A length of time for people: `95d 19h`, `3h 5m`, `40s`.
fn span(d: chrono::TimeDelta) -> String {
    let secs = d.num_seconds().max(0);
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_span_reads_in_its_two_largest_units() {
        let d = |s: i64| chrono::TimeDelta::seconds(s);
        assert_eq!(span(d(40)), "40s");
        assert_eq!(span(d(125)), "2m");
        assert_eq!(span(d(3 * 3600 + 5 * 60)), "3h 5m");
        assert_eq!(span(d(95 * 86_400 + 19 * 3600 + 59)), "95d 19h");
    }

    #[test]
    fn the_message_says_where_the_clock_stands_and_what_would_fire() {
        let jump = Jump {
            clock: at("2026-03-27T04:58:11Z"),
            at: at("2026-07-01T00:00:00Z"),
            allowed: "1d".into(),
            fired: 7,
            samples: ["s1", "s2", "s3", "s4", "s5", "s6"]
                .map(String::from)
                .to_vec(),
        };
        let text = jump.message("review");
        assert!(text.starts_with("error: `review` at 2026-07-01T00:00:00Z is 95d 19h past the store's clock, which stands at 2026-03-27T04:58:11Z, more than `--max-catch-up 1d`: 7 deadlines would fire first (moving `s1`, `s2`, `s3`, `s4`, `s5`, 1 more); nothing was written\n  help: "), "{text}");
        assert!(text.contains("`--catch-up`"), "{text}");
    }
}
