//! Screening decisions per second: the shipped Rhai rules, loaded from `rules/` through the same
//! API the runner uses, against a plain-Rust implementation of the same policy, in one process.
//!
//! `cargo bench --bench screening`; the closing lines give decisions/s on one core and the ratio.
//! The rules run as the runner runs them (hooks lowered, `src/rules/lower/`); Rhai's own
//! interpreter on the same scripts is measured beside them.

// Tests, benches and examples fail loudly: a panic is their failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code)] // the tests use the rest
#[path = "../tests/common/corpus.rs"]
mod corpus;

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
#[path = "../tests/common/native.rs"]
mod native;

use native::NativeRules;
use sampleflow::machinery::rules::{RuleSet, ScreenInput};

/// Decisions per second of `decide` over `inputs`, for about `time`.
fn rate(inputs: &[ScreenInput], time: Duration, mut decide: impl FnMut(&ScreenInput)) -> f64 {
    let start = Instant::now();
    let mut decisions = 0u64;
    while start.elapsed() < time {
        for input in inputs {
            decide(input);
        }
        decisions += inputs.len() as u64;
    }
    decisions as f64 / start.elapsed().as_secs_f64()
}

/// The allocator of the shipped binary (src/main.rs), so that the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let rules = RuleSet::load(Path::new("rules")).unwrap_or_else(|e| panic!("{e:?}"));
    let interpreted = rules.interpreted();
    let native = NativeRules::new(rules.policy());
    let inputs = corpus::random(10_000, 42);

    let mut c = Criterion::default()
        .configure_from_args()
        .measurement_time(Duration::from_secs(5));
    let mut group = c.benchmark_group("screening");
    group.throughput(Throughput::Elements(inputs.len() as u64));
    group.bench_function("rhai rules", |b| {
        b.iter(|| {
            for input in &inputs {
                black_box(rules.screen(input.clone()));
            }
        })
    });
    group.bench_function("rhai interpreter", |b| {
        b.iter(|| {
            for input in &inputs {
                black_box(interpreted.screen(input.clone()));
            }
        })
    });
    group.bench_function("native baseline", |b| {
        b.iter(|| {
            for input in &inputs {
                black_box(native.screen(black_box(input)));
            }
        })
    });
    group.finish();
    c.final_summary();

    // The same two, timed back to back, for one line of figures.
    let time = Duration::from_secs(3);
    let scripted = rate(&inputs, time, |i| {
        black_box(rules.screen(i.clone()));
    });
    let walked = rate(&inputs, time, |i| {
        black_box(interpreted.screen(i.clone()));
    });
    let plain = rate(&inputs, time, |i| {
        black_box(native.screen(black_box(i)));
    });
    println!(
        "screening: rules {:.0} decisions/s (Rhai's interpreter alone {:.0}/s), native baseline {:.0} decisions/s",
        scripted, walked, plain
    );
    println!(
        "screening: {:.1}x the native baseline (target 20x; Rhai's interpreter alone {:.1}x)",
        plain / scripted,
        plain / walked
    );
}
