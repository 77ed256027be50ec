//! `sampleflow outbox [--format table|json]`: the calls for a connected shop (reviews, messages,
//! collaborations), queued, in doubt, sent, held and failed (with the platform's last code and
//! message), and the applications that could not be mapped, of the `--shop` shop. JSON items
//! carry `kind` and `status`. Reads only.

use serde_json::json;

use super::{write_lines, Cli, CliError, EXIT_OK};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    let failed = |source| CliError::Store {
        path: cli.db.clone(),
        source,
    };
    if !crate::store::exists(&cli.db) {
        return Err(failed(crate::store::StoreError::Missing));
    }
    let mut store = crate::store::open_read(&cli.db).map_err(failed)?;
    store.set_shop(&cli.shop);
    let calls = store.outbox().map_err(failed)?;
    let unmappable = store.unmappable().map_err(failed)?;
    match args.format {
        Format::Json => {
            let mut lines: Vec<String> = calls
                .iter()
                .map(|c| {
                    let mut call = json!(c);
                    call["kind"] = json!(c.kind());
                    call["status"] = json!(c.state);
                    json!({"call": call, "kind": c.kind(), "status": c.state}).to_string()
                })
                .collect();
            lines.extend(unmappable.iter().map(|(app, product, why, seen)| {
                json!({"unmappable": {"application": app, "product": product, "reason": why, "seen_at": seen}})
                    .to_string()
            }));
            write_lines(lines)?;
        }
        Format::Table => {
            let rows = calls
                .iter()
                .map(|c| {
                    vec![
                        c.state.clone(),
                        c.kind().to_string(),
                        c.sample.clone(),
                        match c.kind() {
                            "review" => c.decision.clone(),
                            _ => c.event.clone(),
                        },
                        c.reason.clone().unwrap_or_else(|| "-".into()),
                        c.attempts.to_string(),
                        c.code.map_or("-".into(), |n| n.to_string()),
                        c.message.clone().unwrap_or_else(|| "-".into()),
                        c.updated_at.clone(),
                    ]
                })
                .collect();
            let mut out = super::columns(
                &[
                    "STATE", "KIND", "SAMPLE", "DECISION", "REASON", "TRIES", "CODE", "MESSAGE",
                    "UPDATED",
                ],
                rows,
            );
            let count = |s: &str| calls.iter().filter(|c| c.state == s).count();
            out.push(format!(
                "{} calls: {} queued, {} in doubt, {} sent, {} held, {} failed",
                calls.len(),
                count("queued"),
                count("sending"),
                count("sent"),
                count("held"),
                count("failed")
            ));
            for kind in ["review", "message", "collaboration"] {
                let of: Vec<&crate::store::OutboxCall> =
                    calls.iter().filter(|c| c.kind() == kind).collect();
                if !of.is_empty() {
                    let n = |s: &str| of.iter().filter(|c| c.state == s).count();
                    out.push(format!(
                        "  {kind}: {} queued, {} in doubt, {} sent, {} held, {} failed",
                        n("queued"),
                        n("sending"),
                        n("sent"),
                        n("held"),
                        n("failed")
                    ));
                }
            }
            if !unmappable.is_empty() {
                out.push(String::new());
                out.extend(super::columns(
                    &["UNMAPPABLE", "PRODUCT", "WHY", "SEEN"],
                    unmappable
                        .iter()
                        .map(|(a, p, w, s)| vec![a.clone(), p.clone(), w.clone(), s.clone()])
                        .collect(),
                ));
            }
            write_lines(out)?;
        }
    }
    Ok(EXIT_OK)
}
