//! The grid of a tune: each `--param NAME=LOW..HIGH[:STEP]` checked as `validate` judges a
//! value of that parameter, the values it takes, their combinations (the points), today's
//! values, and the policy and `policy.yaml` lines of a point.

use std::collections::BTreeMap;

use crate::definition::Duration;
use crate::diagnostic::did_you_mean;
use crate::rules::{param_named, Kind, ParamValue, Policy, PARAMS};

/// The most points a grid may have (today's point, when off the grid, comes on top).
pub const MAX_POINTS: u64 = 10_000;

/// The block a tune changes when no `--category` names one.
pub const DEFAULT_BLOCK: &str = "default";

/// A grid that cannot be run: bad usage, said for the user.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GridError {
    #[error("`--param {spec}`: {message}")]
    Param { spec: String, message: String },
    #[error("the grid has {points} points ({sizes}); at most 10,000 can be replayed")]
    TooLarge { points: String, sizes: String },
    #[error("`--category {name}` is not a category `policy.yaml` declares{hint}")]
    Category { name: String, hint: String },
    #[error("no `--param` given: name at least one, e.g. `--param min_followers=3000..8000:1000`")]
    Empty,
}

/// One parameter of the grid and the values it takes, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    pub name: &'static str,
    pub kind: Kind,
    pub values: Vec<ParamValue>,
    /// Its value in the policy now, for the tuned block.
    pub today: ParamValue,
}

/// The parameters, the block they are set in, and every combination of their values.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// `default`, or the category of `--category`.
    pub block: String,
    pub axes: Vec<Axis>,
}

/// The number of decimals a number is written with (`0.015` has 3).
fn decimals(text: &str) -> u32 {
    text.split_once('.')
        .map_or(0, |(_, frac)| frac.trim_end().len() as u32)
        .min(9)
}

fn round_to(x: f64, places: u32) -> f64 {
    let f = 10f64.powi(places as i32);
    let r = (x * f).round() / f;
    if r.is_finite() {
        r
    } else {
        x
    }
}

/// Two values of one parameter are the same value (numbers to a billionth).
pub fn same_value(a: &ParamValue, b: &ParamValue) -> bool {
    match (a, b) {
        (ParamValue::Number(x), ParamValue::Number(y)) => (x - y).abs() < 1e-9,
        _ => a == b,
    }
}

/// A parameter value written as `policy.yaml` would hold it, checked as `validate` checks it.
fn value_of(policy: &Policy, name: &str, text: &str) -> Result<ParamValue, String> {
    let value: serde_yaml::Value = serde_yaml::from_str(text.trim())
        .unwrap_or_else(|_| serde_yaml::Value::String(text.to_string()));
    // The policy's own conversion (the one `validate` runs), through a scratch block.
    let scratch = "tune";
    let overrides = BTreeMap::from([(name.to_string(), value)]);
    let checked = policy.with_overrides(scratch, &overrides)?;
    checked
        .categories
        .get(scratch)
        .and_then(|b| b.values.get(name))
        .cloned()
        .ok_or_else(|| format!("`{text}` is not a value of `{name}`"))
}

impl Grid {
    /// Checks every `--param` against `policy` for the block of `category` (`default` when
    /// none) and lays out the grid.
    pub fn parse(
        policy: &Policy,
        category: Option<&str>,
        specs: &[String],
    ) -> Result<Grid, GridError> {
        let block = match category {
            None | Some(DEFAULT_BLOCK) => DEFAULT_BLOCK.to_string(),
            Some(name) if policy.declares(name) => name.to_string(),
            Some(name) => {
                let hint = match did_you_mean(name, policy.declared.iter().map(String::as_str)) {
                    Some(best) => format!("; did you mean `{best}`?"),
                    None => format!(" ({})", policy.declared.join(", ")),
                };
                return Err(GridError::Category {
                    name: name.to_string(),
                    hint,
                });
            }
        };
        if specs.is_empty() {
            return Err(GridError::Empty);
        }
        let mut axes: Vec<Axis> = Vec::new();
        for spec in specs {
            let bad = |message: String| GridError::Param {
                spec: spec.clone(),
                message,
            };
            let axis = axis(policy, &block, spec).map_err(bad)?;
            if axes.iter().any(|a| a.name == axis.name) {
                return Err(bad(format!("`{}` is given twice", axis.name)));
            }
            axes.push(axis);
        }
        let grid = Grid { block, axes };
        check_size(&grid)?;
        grid.check_tiers(policy, specs)?;
        Ok(grid)
    }

    /// Points in the grid.
    pub fn len(&self) -> usize {
        self.axes.iter().map(|a| a.values.len()).product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`th point's values, one per axis: the first axis varies slowest.
    pub fn point(&self, mut i: usize) -> Vec<ParamValue> {
        let mut values = vec![ParamValue::Int(0); self.axes.len()];
        for (slot, axis) in values.iter_mut().zip(&self.axes).rev() {
            let n = axis.values.len().max(1);
            *slot = axis.values[i % n].clone();
            i /= n;
        }
        values
    }

    /// Today's values, one per axis.
    pub fn today(&self) -> Vec<ParamValue> {
        self.axes.iter().map(|a| a.today.clone()).collect()
    }

    /// The index of today's point in the grid, when every one of today's values is on it.
    pub fn today_index(&self) -> Option<usize> {
        let mut index = 0;
        for axis in &self.axes {
            let at = axis
                .values
                .iter()
                .position(|v| same_value(v, &axis.today))?;
            index = index * axis.values.len() + at;
        }
        Some(index)
    }

    /// `policy` with `values` set in the tuned block.
    pub fn policy_for(&self, policy: &Policy, values: &[ParamValue]) -> Policy {
        let mut policy = policy.clone();
        let block = if self.block == DEFAULT_BLOCK {
            &mut policy.default
        } else {
            policy.categories.entry(self.block.clone()).or_default()
        };
        for (axis, value) in self.axes.iter().zip(values) {
            block.values.insert(axis.name, value.clone());
        }
        policy
    }

    /// The lines of `policy.yaml` that set `values`: the block and its keys, ready to paste
    /// over the same keys of that block.
    pub fn yaml_lines(&self, values: &[ParamValue]) -> String {
        let mut text = format!("{}:\n", self.block);
        for (axis, value) in self.axes.iter().zip(values) {
            text.push_str(&format!("  {}: {value}\n", axis.name));
        }
        text
    }

    /// The categories that set a tuned parameter in their own block: a change to `default`
    /// does not reach them.
    pub fn shielded(&self, policy: &Policy) -> Vec<(String, &'static str)> {
        if self.block != DEFAULT_BLOCK {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (category, block) in &policy.categories {
            for axis in &self.axes {
                if block.values.contains_key(axis.name) {
                    out.push((category.clone(), axis.name));
                }
            }
        }
        out
    }

    /// `validate` refuses a `silver_gmv` above `gold_gmv`: so does the grid, at the first point
    /// that has one.
    fn check_tiers(&self, policy: &Policy, specs: &[String]) -> Result<(), GridError> {
        let tiers = ["silver_gmv", "gold_gmv"];
        let Some(first) = self.axes.iter().position(|a| tiers.contains(&a.name)) else {
            return Ok(());
        };
        let blocks: Vec<String> = std::iter::once(DEFAULT_BLOCK.to_string())
            .chain(policy.categories.keys().cloned())
            .chain(std::iter::once(self.block.clone()))
            .collect();
        for i in 0..self.len() {
            let values = self.point(i);
            let tuned = self.policy_for(policy, &values);
            for block in &blocks {
                let get = |name| {
                    if block == DEFAULT_BLOCK {
                        tuned.default.values.get(name).map(ParamValue::as_f64)
                    } else {
                        tuned.get(block, name).map(ParamValue::as_f64)
                    }
                };
                if let (Some(silver), Some(gold)) = (get("silver_gmv"), get("gold_gmv")) {
                    if silver > gold {
                        return Err(GridError::Param {
                            spec: specs[first].clone(),
                            message: format!(
                                "at `silver_gmv` {silver} and `gold_gmv` {gold}, silver's GMV is above gold's for `{block}`, which `validate` refuses; narrow the range"
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// Values from `low` to `high` by `step`, as whole numbers.
fn whole_range(low: i64, high: i64, step: i64) -> Result<Vec<i64>, String> {
    let count = (i128::from(high) - i128::from(low)) / i128::from(step) + 1;
    if count > i128::from(MAX_POINTS) {
        return Err(too_many(count as f64));
    }
    Ok((0..count as i64).map(|i| low + i * step).collect())
}

fn too_many(count: f64) -> String {
    format!("{count:.0} values; a grid has at most 10,000 points")
}

/// One `NAME=LOW..HIGH[:STEP]`.
fn axis(policy: &Policy, block: &str, spec: &str) -> Result<Axis, String> {
    let Some((name, range)) = spec.split_once('=') else {
        return Err(
            "expected NAME=LOW..HIGH[:STEP], e.g. `min_followers=3000..8000:1000`".to_string(),
        );
    };
    let name = name.trim();
    let Some(param) = param_named(name) else {
        return Err(match did_you_mean(name, PARAMS.iter().map(|p| p.name)) {
            Some(best) => format!("unknown policy parameter `{name}`; did you mean `{best}`?"),
            None => format!("unknown policy parameter `{name}`"),
        });
    };
    if param.kind == Kind::Categories {
        return Err(format!(
            "`{name}` is a list of category names, not a number; only numbers, amounts, rates and durations can be tuned"
        ));
    }
    if param.shop_wide && block != DEFAULT_BLOCK {
        return Err(format!(
            "`{name}` is shop-wide and cannot differ per category; tune it without `--category`"
        ));
    }
    let (bounds, step) = match range.rsplit_once(':') {
        Some((bounds, step)) => (bounds, Some(step.trim())),
        None => (range, None),
    };
    let (low, high) = bounds.split_once("..").unwrap_or((bounds, bounds));
    let (low_text, high_text) = (low.trim(), high.trim());
    if low_text.is_empty() || high_text.is_empty() {
        return Err("expected LOW..HIGH, e.g. `3000..8000`".to_string());
    }
    let low = value_of(policy, name, low_text)?;
    let high = value_of(policy, name, high_text)?;
    if low.as_f64() > high.as_f64() {
        return Err(format!("LOW `{low_text}` is above HIGH `{high_text}`"));
    }
    let values = match param.kind {
        Kind::Count(_) => {
            let step = match step {
                None => 1,
                Some(text) => match text.parse::<i64>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("the step `{text}` must be a whole number above 0")),
                },
            };
            whole_range(low.as_i64(), high.as_i64(), step)?
                .into_iter()
                .map(ParamValue::Int)
                .collect()
        }
        Kind::Duration => {
            let step = match step {
                None => 86_400,
                Some(text) => match Duration::parse(text) {
                    Ok(Duration::Seconds(secs)) if secs > 0 => secs,
                    _ => {
                        return Err(format!(
                            "the step `{text}` must be a duration above zero, such as `1d` or `12h`"
                        ))
                    }
                },
            };
            whole_range(low.as_i64(), high.as_i64(), step)?
                .into_iter()
                .map(ParamValue::Duration)
                .collect()
        }
        Kind::Money | Kind::Rate => {
            let default_step = if param.kind == Kind::Rate {
                "0.01"
            } else {
                "1"
            };
            let step_text = step.unwrap_or(default_step);
            let step = match step_text.parse::<f64>() {
                Ok(x) if x.is_finite() && x > 0.0 => x,
                _ => return Err(format!("the step `{step_text}` must be a number above 0")),
            };
            let (low, high) = (low.as_f64(), high.as_f64());
            let count = ((high - low) / step + 1e-9).floor() + 1.0;
            if count > MAX_POINTS as f64 {
                return Err(too_many(count));
            }
            let places = decimals(low_text).max(decimals(step_text));
            (0..count as u64)
                .map(|i| ParamValue::Number(round_to(low + i as f64 * step, places)))
                .collect()
        }
        Kind::Categories => Vec::new(),
    };
    let today = if block == DEFAULT_BLOCK {
        policy.default.values.get(param.name)
    } else {
        policy.get(block, param.name)
    }
    .cloned()
    .ok_or_else(|| format!("`{name}` has no value in `policy.yaml`"))?;
    Ok(Axis {
        name: param.name,
        kind: param.kind,
        values,
        today,
    })
}

/// The size of a grid of these axes, checked against [`MAX_POINTS`].
fn check_size(grid: &Grid) -> Result<(), GridError> {
    let sizes: Vec<u64> = grid.axes.iter().map(|a| a.values.len() as u64).collect();
    let points = sizes
        .iter()
        .try_fold(1u64, |acc, n| acc.checked_mul(*n))
        .unwrap_or(u64::MAX);
    if points > MAX_POINTS {
        return Err(GridError::TooLarge {
            points: if points == u64::MAX {
                "more than 18 billion billion".to_string()
            } else {
                points.to_string()
            },
            sizes: sizes
                .iter()
                .zip(&grid.axes)
                .map(|(n, a)| format!("{n} values of `{}`", a.name))
                .collect::<Vec<_>>()
                .join(" x "),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../rules/policy.yaml");

    fn policy() -> Policy {
        Policy::parse("policy.yaml", SHIPPED).unwrap()
    }

    fn grid(category: Option<&str>, specs: &[&str]) -> Result<Grid, GridError> {
        let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        Grid::parse(&policy(), category, &specs)
    }

    fn message(category: Option<&str>, specs: &[&str]) -> String {
        grid(category, specs).unwrap_err().to_string()
    }

    #[test]
    fn ranges_become_values_with_today_found_on_the_grid() {
        let g = grid(
            None,
            &["min_followers=3000..8000:1000", "price_cap=40..80:10"],
        )
        .unwrap();
        assert_eq!(g.len(), 30);
        assert_eq!(g.axes[0].values.len(), 6);
        assert_eq!(g.axes[1].values[2], ParamValue::Number(60.0));
        // Today: 5,000 followers (the third value) and $50 (the second).
        assert_eq!(g.today(), [ParamValue::Int(5000), ParamValue::Number(50.0)]);
        assert_eq!(g.today_index(), Some(2 * 5 + 1));
        assert_eq!(g.point(11), g.today());
        assert_eq!(
            g.yaml_lines(&g.point(0)),
            "default:\n  min_followers: 3000\n  price_cap: 40\n"
        );
    }

    #[test]
    fn rates_and_durations_take_their_steps_and_today_may_be_off_the_grid() {
        let g = grid(
            Some("electronics"),
            &["min_engagement_rate=0.01..0.05:0.015"],
        )
        .unwrap();
        let values: Vec<f64> = g.axes[0].values.iter().map(ParamValue::as_f64).collect();
        assert_eq!(values, [0.01, 0.025, 0.04]);
        // Electronics asks 0.03 today: not on this grid.
        assert_eq!(g.axes[0].today, ParamValue::Number(0.03));
        assert_eq!(g.today_index(), None);
        let g = grid(None, &["review_window=3d..5d"]).unwrap();
        assert_eq!(g.axes[0].values.len(), 3);
        assert_eq!(g.yaml_lines(&g.point(0)), "default:\n  review_window: 3d\n");
        let g = grid(None, &["min_engagement_rate=0.01..0.03"]).unwrap();
        assert_eq!(g.axes[0].values.len(), 3);
        assert_eq!(g.axes[0].values[2], ParamValue::Number(0.03));
    }

    #[test]
    fn a_category_block_is_set_and_categories_that_set_their_own_value_are_named() {
        let g = grid(Some("beauty"), &["min_followers=1000..3000:1000"]).unwrap();
        assert_eq!(g.today(), [ParamValue::Int(3000)]);
        let tuned = g.policy_for(&policy(), &[ParamValue::Int(1000)]);
        assert_eq!(
            tuned.get("beauty", "min_followers"),
            Some(&ParamValue::Int(1000))
        );
        assert_eq!(
            tuned.get("toys", "min_followers"),
            Some(&ParamValue::Int(5000))
        );
        let g = grid(None, &["min_followers=1000..3000:1000"]).unwrap();
        assert_eq!(
            g.shielded(&policy()),
            [("beauty".to_string(), "min_followers")]
        );
        let tuned = g.policy_for(&policy(), &[ParamValue::Int(1000)]);
        assert_eq!(
            tuned.get("toys", "min_followers"),
            Some(&ParamValue::Int(1000))
        );
        assert_eq!(
            tuned.get("beauty", "min_followers"),
            Some(&ParamValue::Int(3000))
        );
    }

    #[test]
    fn bad_parameters_are_named_with_why() {
        assert_eq!(
            message(None, &["min_folowers=1..2"]),
            "`--param min_folowers=1..2`: unknown policy parameter `min_folowers`; did you mean `min_followers`?"
        );
        assert!(message(None, &["restricted_categories=1..2"]).contains("not a number"));
        assert!(message(None, &["price_cap=-10..80:10"]).contains("-10 is impossible"));
        assert!(message(None, &["min_fulfillment_rate=0.5..1.5:0.1"]).contains("1.5 is impossible"));
        assert!(message(None, &["min_followers=3000.5..4000"]).contains("expected a whole number"));
        assert!(message(None, &["min_followers=8000..3000"])
            .contains("LOW `8000` is above HIGH `3000`"));
        assert!(message(None, &["min_followers=3000..8000:0"]).contains("the step `0`"));
        assert!(message(None, &["min_followers=3000..8000:1.5"]).contains("the step `1.5`"));
        assert!(message(None, &["price_cap=10..20:-1"]).contains("the step `-1`"));
        assert!(message(None, &["review_window=0d..3d"]).contains("longer than zero"));
        assert!(message(None, &["review_window=1d..4000d:100d"]).contains("longer than 3650 days"));
        assert!(message(None, &["min_followers"]).contains("expected NAME=LOW..HIGH"));
        assert!(message(None, &["min_followers=..5"]).contains("expected LOW..HIGH"));
        assert!(message(Some("home"), &["daily_quota=1..5"]).contains("shop-wide"));
        assert!(message(None, &["price_cap=1..2", "price_cap=3..4"]).contains("given twice"));
        assert!(
            message(None, &["silver_gmv=100..3000:100"]).contains("silver's GMV is above gold's")
        );
        assert_eq!(
            message(Some("beuty"), &["min_followers=1..2"]),
            "`--category beuty` is not a category `policy.yaml` declares; did you mean `beauty`?"
        );
        assert!(message(None, &[]).contains("no `--param`"));
    }

    #[test]
    fn a_grid_over_ten_thousand_points_is_refused_without_being_laid_out() {
        assert_eq!(
            message(None, &["min_followers=0..1000000000000"]),
            "`--param min_followers=0..1000000000000`: 1000000000001 values; a grid has at most 10,000 points"
        );
        assert!(message(None, &["price_cap=0..1000000000:0.000001"]).contains("at most 10,000"));
        assert_eq!(
            message(None, &["min_followers=0..100", "price_cap=0..100"]),
            "the grid has 10201 points (101 values of `min_followers` x 101 values of `price_cap`); at most 10,000 can be replayed"
        );
        assert!(grid(None, &["min_followers=1..100", "price_cap=1..100"]).is_ok());
    }
}
