//! `sampleflow gen --samples N [--seed S]`: a large valid event stream for benchmarks.

use std::io::{BufWriter, Write};

use chrono::{DateTime, Utc};

use super::{CliError, EXIT_OK};
use crate::runtime::gen::{generate, generate_shops, GenOptions};

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Samples to generate (about 6.7 events each).
    #[arg(long, value_name = "N")]
    pub samples: u64,
    /// Seed of the generator: the same seed gives the same stream.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Time of the first request (RFC 3339).
    #[arg(long, value_name = "TIME", default_value = "2026-01-05T16:00:00Z")]
    pub start: DateTime<Utc>,
    /// Requests per day.
    #[arg(long, value_name = "N", default_value_t = 60.0)]
    pub per_day: f64,
    /// One stream per shop (`shop-0`, `shop-1`, ...; each event names its shop), taken line by
    /// line in turn: `--samples` is each shop's.
    #[arg(long, value_name = "N")]
    pub shops: Option<u64>,
}

pub fn run(args: &Args) -> Result<u8, CliError> {
    let options = GenOptions {
        samples: args.samples,
        seed: args.seed,
        start: args.start,
        per_day: args.per_day,
    };
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mix = match args.shops {
        Some(shops) => generate_shops(&options, shops, &mut out)?,
        None => generate(&options, &mut out)?,
    };
    out.flush()?;
    eprintln!(
        "gen: {} events for {} samples{}: {}",
        mix.events,
        args.samples,
        args.shops
            .map_or(String::new(), |n| format!(" in each of {n} shops")),
        mix.describe()
    );
    Ok(EXIT_OK)
}
