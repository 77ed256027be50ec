//! `sampleflow run EVENTS.jsonl [--out FILE]`: applies the events; records to stdout or FILE;
//! a summary on stderr.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use super::{
    check_out, load_programs, lock_store, open_for_all, Cli, CliError, EXIT_FAILED, EXIT_OK,
};
use crate::analysis::counted;
use crate::rules::RuleFault;
use crate::session::{run_file_shops, Observer, RunError, RunSummary, STDIN};
use crate::store::Holder;

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// JSON Lines of events; `-` reads standard input.
    #[arg(value_name = "EVENTS.jsonl")]
    pub events: PathBuf,
    /// Write records here (truncated) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

struct Terminal {
    bar: Option<ProgressBar>,
}

impl Observer for Terminal {
    fn progress(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
        }
    }

    fn fault(&mut self, fault: &RuleFault) {
        let text = format!("rule fault: {fault}");
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }
}

pub fn run(cli: &Cli, args: &Args) -> Result<u8, CliError> {
    if let Some(code) = args
        .out
        .as_deref()
        .and_then(|out| check_out(cli, out, Some(&args.events)))
    {
        return Ok(code);
    }
    let programs = match load_programs(cli)? {
        Ok(programs) => programs,
        Err(code) => return Ok(code),
    };
    let stdin = args.events.as_os_str() == STDIN;
    let size = if stdin {
        0
    } else {
        std::fs::metadata(&args.events)
            .map_err(|source| CliError::Read {
                path: args.events.clone(),
                source,
            })?
            .len()
    };
    let _lock = match lock_store(cli, &Holder::me("run"))? {
        Ok(lock) => lock,
        Err(code) => return Ok(code),
    };
    let store = open_for_all(cli, &programs)?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(BufWriter::with_capacity(
            1 << 16,
            File::create(path).map_err(|source| CliError::Read {
                path: path.clone(),
                source,
            })?,
        )),
        None => Box::new(BufWriter::with_capacity(1 << 16, std::io::stdout().lock())),
    };
    let bar = (std::io::stderr().is_terminal() && size > 0).then(|| {
        let bar = ProgressBar::new(size);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
        {
            bar.set_style(style);
        }
        bar
    });
    let mut observer = Terminal { bar };
    let result = run_file_shops(
        programs,
        &cli.shop,
        store,
        &args.events,
        &mut out,
        &mut observer,
    );
    if let Some(bar) = &observer.bar {
        bar.finish_and_clear();
    }
    match result {
        Ok(summary) => {
            eprint!(
                "{}",
                render_summary(&args.events.display().to_string(), &summary)
            );
            Ok(EXIT_OK)
        }
        Err(e @ (RunError::Output(_) | RunError::Input { .. })) => {
            let again = if stdin || !args.events.is_file() {
                "send the same events again: those applied are refused as `duplicate_id`"
            } else {
                "run the same command again to go on from there"
            };
            eprintln!("error: {e}; what was applied before is committed: {again}");
            Ok(EXIT_FAILED)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(EXIT_FAILED)
        }
    }
}

/// The summary: what was read, applied and refused, what fired, where the samples are.
pub fn render_summary(input: &str, s: &RunSummary) -> String {
    let st = &s.stats;
    let mut text = String::new();
    if let Some(lines) = s.resumed_after {
        text.push_str(&format!(
            "resumed an interrupted run of `{input}` after line {lines}\n"
        ));
    }
    let refused = st.refused_total();
    let kinds = counted(&st.refused);
    text.push_str(&format!(
        "events: {} read, {} applied, {} refused{}\n",
        st.read,
        st.applied,
        refused,
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({kinds})")
        }
    ));
    text.push_str(&format!(
        "deadlines fired: {}, records written: {}{}\n",
        st.deadlines,
        st.records,
        if st.rule_faults > 0 {
            format!(", rule faults: {} (see above)", st.rule_faults)
        } else {
            String::new()
        }
    ));
    if !st.undeclared.is_empty() {
        let by = counted(&st.undeclared);
        let n: u64 = st.undeclared.values().sum();
        text.push_str(&format!(
            "undeclared categories: {n} requests ({by}), screened under `default`; declare them in policy.yaml `categories:`\n"
        ));
    }
    let total: u64 = s.states.values().sum();
    let states = counted(&s.states);
    text.push_str(&format!("samples: {total} ({states})\n"));
    if s.left_memory > 0 {
        text.push_str(&format!(
            "memory: {} ended samples left it once committed (read back from the store when named again)\n",
            s.left_memory
        ));
    }
    let secs = s.elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        s.lines_here as f64 / secs
    } else {
        0.0
    };
    text.push_str(&format!("elapsed: {secs:.2}s, {rate:.0} events/s\n"));
    text
}
