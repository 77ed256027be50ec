//! A tune for people (the table) and for scripts (one JSON object).

use serde_json::{json, Map, Value};

use super::super::dollars;
use super::{Point, Tune};
use crate::rules::ParamValue;

/// A value as JSON: numbers as numbers, durations as `policy.yaml` writes them (`7d`).
fn value_json(v: &ParamValue) -> Value {
    match v {
        ParamValue::Int(n) => json!(n),
        ParamValue::Number(x) => json!(x),
        ParamValue::Duration(_) | ParamValue::List(_) => json!(v.to_string()),
    }
}

fn point_json(t: &Tune, p: &Point) -> Value {
    let params: Map<String, Value> = t
        .grid
        .axes
        .iter()
        .zip(&p.values)
        .map(|(a, v)| (a.name.to_string(), value_json(v)))
        .collect();
    let f = &p.figures;
    json!({
        "params": params,
        "approvals": f.approvals,
        "shipped": f.shipped,
        "cost": f.cost,
        "gmv_observed": f.gmv_observed,
        "gmv_estimated": f.gmv_estimated,
        "roi": f.roi,
        "pareto": p.pareto,
        "today": p.today,
    })
}

/// `{"points": [...], "best": POINT or null}`.
pub fn render_json(t: &Tune) -> Value {
    json!({
        "points": t.points.iter().map(|p| point_json(t, p)).collect::<Vec<_>>(),
        "best": t.best_point().map(|p| point_json(t, p)),
    })
}

/// `min_followers 4000, price_cap 60`.
pub fn describe(t: &Tune, values: &[ParamValue]) -> String {
    t.grid
        .axes
        .iter()
        .zip(values)
        .map(|(a, v)| format!("{} {v}", a.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn signed(gained: u64, lost: u64) -> String {
    match (gained, lost) {
        (0, 0) => "=".to_string(),
        (g, 0) => format!("+{g}"),
        (0, l) => format!("-{l}"),
        (g, l) => format!("+{g} -{l}"),
    }
}

/// Rows in columns as wide as their widest cell; the first `left` columns to the left, the
/// rest to the right (numbers).
fn align(rows: &[Vec<String>], left: usize) -> String {
    let width = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..width)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i < left || i + 1 == width {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}

/// The table `tune` prints by default.
pub fn render_table(t: &Tune) -> String {
    let mut text = String::new();
    let sizes = t
        .grid
        .axes
        .iter()
        .map(|a| format!("{} values of {}", a.values.len(), a.name))
        .collect::<Vec<_>>()
        .join(" x ");
    let extra = t.points.iter().any(|p| !p.on_grid);
    text.push_str(&format!(
        "tune of the `{}` block: {} points ({sizes}{}), each a full replay of {} events ({} samples) in memory, {} at a time\n",
        t.grid.block,
        t.points.len(),
        if extra { ", and today's off the grid" } else { "" },
        t.lines,
        t.samples,
        t.threads,
    ));
    if let Some(today) = t.today() {
        text.push_str(&format!(
            "today: {}{}\n",
            describe(t, &today.values),
            if today.on_grid {
                ""
            } else {
                " (not on the grid: run on top of it)"
            }
        ));
    }
    for (category, name) in &t.shielded {
        text.push_str(&format!(
            "note: `{category}` sets its own `{name}`; a change to `default` does not reach it (tune it with `--category {category}`)\n"
        ));
    }
    text.push('\n');
    let mut header: Vec<String> = t.grid.axes.iter().map(|a| a.name.to_string()).collect();
    let left = header.len();
    header.extend(
        [
            "approvals",
            "vs today",
            "shipped",
            "cost",
            "GMV observed",
            "GMV estimated",
            "ROI",
            "",
        ]
        .map(String::from),
    );
    let mut rows = vec![header];
    for (i, p) in t.points.iter().enumerate() {
        let f = &p.figures;
        let mut row: Vec<String> = p.values.iter().map(ToString::to_string).collect();
        let mut marks = Vec::new();
        if p.today {
            marks.push("today");
        }
        if p.pareto {
            marks.push("front");
        }
        if t.best == Some(i) {
            marks.push("best");
        }
        if f.faults > 0 {
            marks.push("rule faults");
        }
        row.extend([
            f.approvals.to_string(),
            signed(f.gained, f.lost),
            f.shipped.to_string(),
            dollars(f.cost),
            dollars(f.gmv_observed),
            if f.estimated > 0 {
                format!(
                    "{} ({} {})",
                    dollars(f.gmv_estimated),
                    f.estimated,
                    if f.estimated == 1 {
                        "sample"
                    } else {
                        "samples"
                    }
                )
            } else {
                dollars(f.gmv_estimated)
            },
            f.roi.map_or("-".into(), |r| format!("{r:.2}x")),
            marks.join(", "),
        ]);
        rows.push(row);
    }
    text.push_str(&align(&rows, left));
    text.push('\n');
    let front = t.points.iter().filter(|p| p.pareto).count();
    text.push_str(&format!(
        "front: {front} points that no other point matches or beats on both cost (less) and GMV (more), GMV counting its estimate\n"
    ));
    text.push_str(&format!(
        "estimated: for samples a point approves and today's policy does not, which history never shipped (a sample is shipped at its unit cost x quantity, shipping unknown), the median GMV of the {} shipped, settled samples of the same category and tier under today's policy; never counted as observed\n",
        t.settled
    ));
    for p in t.points.iter().filter(|p| p.figures.faults > 0) {
        let f = &p.figures;
        text.push_str(&format!(
            "rule faults at {}: {} on {} samples (first: {}); a broken rule is no saving, so this point is on no front and never the best\n",
            describe(t, &p.values),
            f.faults,
            f.faulted_samples,
            f.first_fault.as_deref().unwrap_or("-"),
        ));
    }
    if let Some(max) = t.max_cost {
        match t.best_point() {
            Some(p) => {
                let f = &p.figures;
                text.push_str(&format!(
                    "best within {}: {}: cost {}, GMV {} ({} of it estimated), {} approvals{}\n",
                    dollars(max),
                    describe(t, &p.values),
                    dollars(f.cost),
                    dollars(f.gmv_total()),
                    dollars(f.gmv_estimated),
                    f.approvals,
                    if p.today { " (today's policy)" } else { "" },
                ));
                text.push_str("policy.yaml (these keys of this block):\n");
                for line in t.grid.yaml_lines(&p.values).lines() {
                    text.push_str(&format!("  {line}\n"));
                }
            }
            None => text.push_str(&format!(
                "best within {}: no point costs that little\n",
                dollars(max)
            )),
        }
    }
    text
}
