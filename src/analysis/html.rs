//! `report --html`: one self-contained page (inline CSS and SVG, no script, no external
//! reference) with the funnel, ROI per category, fulfillment over time and each workflow's graph
//! with the number of samples in each state now.
//!
//! Every data point of a chart is an element with class `mark`, so tests can count them.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write;

use petgraph::visit::EdgeRef;

use super::report::{BuiltReport, Report};
use super::{dollars, percent};
use crate::graph::{Node, WorkflowGraph};

pub(crate) const WIDTH: f64 = 960.0;
const FONT: &str = "font-family=\"system-ui, sans-serif\" font-size=\"12\"";

/// Text for SVG and HTML.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn svg_open(id: &str, height: f64, title: &str) -> String {
    format!(
        "<svg id=\"{id}\" viewBox=\"0 0 {WIDTH} {height}\" \
         width=\"{WIDTH}\" height=\"{height}\" role=\"img\" aria-label=\"{}\" {FONT}>\n",
        esc(title)
    )
}

/// An axis title: along the bottom, or turned up the left side.
pub(crate) fn axis_title(s: &mut String, text: &str, x: f64, y: f64, vertical: bool) {
    let turn = if vertical {
        format!(" transform=\"rotate(-90 {x:.1} {y:.1})\"")
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "<text class=\"axis-title\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" \
         fill=\"#555\"{turn}>{}</text>",
        esc(text)
    );
}

/// Round tick values from `lo` to `hi` (about five).
pub(crate) fn ticks(lo: f64, hi: f64) -> Vec<f64> {
    let span = (hi - lo).max(1e-9);
    let raw = span / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut out = Vec::new();
    let mut t = (lo / step).floor() * step;
    let end = (hi / step).ceil() * step;
    while t <= end + step * 1e-9 {
        out.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    out
}

/// The funnel: one bar per step, widths to scale with the requests, each labelled with its
/// count and its share of the requests; an axis of samples below.
pub fn funnel_chart(report: &Report) -> String {
    let steps = report.overall.funnel.steps();
    let top = steps[0].1.max(1) as f64;
    let (left, bar_h, gap) = (110.0, 26.0, 8.0);
    let plot = WIDTH - left - 160.0;
    let bars = steps.len() as f64 * (bar_h + gap);
    let height = bars + 60.0;
    let mut s = svg_open("funnel", height, "sample funnel");
    for (i, (name, n)) in steps.iter().enumerate() {
        let y = 5.0 + i as f64 * (bar_h + gap);
        let w = (plot * *n as f64 / top).max(1.0);
        let share = percent(Some(*n as f64 / top));
        let _ = writeln!(
            s,
            "<text x=\"{x}\" y=\"{ty}\" text-anchor=\"end\">{name}</text>\
             <rect class=\"mark\" data-step=\"{name}\" data-value=\"{n}\" x=\"{left}\" y=\"{y}\" \
             width=\"{w:.1}\" height=\"{bar_h}\" rx=\"3\" fill=\"#2f6fb0\" fill-opacity=\"{op:.2}\">\
             <title>{name}: {n}</title></rect>\
             <text class=\"value\" x=\"{tx:.1}\" y=\"{ty}\">{n} ({share} of requests)</text>",
            x = left - 8.0,
            ty = y + bar_h / 2.0 + 4.0,
            op = 1.0 - i as f64 * 0.1,
            tx = left + w + 8.0,
        );
    }
    // The axis: samples, from 0 to the requests.
    let base = bars + 6.0;
    let _ = writeln!(
        s,
        "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{base:.1}\" y2=\"{base:.1}\" stroke=\"#555\"/>",
        left + plot
    );
    for t in ticks(0.0, top) {
        if t > top + 1e-9 || t.fract() != 0.0 {
            continue;
        }
        let x = left + plot * t / top;
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{base:.1}\" y2=\"{:.1}\" stroke=\"#555\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{t}</text>",
            base + 5.0,
            base + 18.0
        );
    }
    axis_title(
        &mut s,
        "samples (each step counts the samples that reached it)",
        left + plot / 2.0,
        base + 36.0,
        false,
    );
    s.push_str("</svg>\n");
    s
}

/// ROI per category: for each, the ROI of all its samples and of its settled ones, bars up for
/// a return above cost and down for a loss, each with its value and its number of samples; a
/// labelled ROI axis.
pub fn roi_chart(report: &Report) -> String {
    let rows: Vec<(&str, &super::report::Figures)> = report
        .by_category
        .iter()
        .filter(|(_, f)| f.roi.is_some() || f.settled_roi.is_some())
        .map(|(k, f)| (k.as_str(), f))
        .collect();
    let height = 330.0;
    let (top, bottom, left) = (40.0, 250.0, 80.0);
    let values = rows
        .iter()
        .flat_map(|(_, f)| [f.roi, f.settled_roi])
        .flatten();
    let hi = values.clone().fold(0.0f64, f64::max);
    let lo = values.fold(0.0f64, f64::min);
    let marks = ticks(lo, hi);
    let (lo, hi) = (
        marks.first().copied().unwrap_or(lo).min(lo),
        marks.last().copied().unwrap_or(hi).max(hi),
    );
    let span = (hi - lo).max(1e-9);
    let y_of = |v: f64| top + (hi - v) / span * (bottom - top);
    let zero = y_of(0.0);
    let mut s = svg_open("roi", height, "ROI per category, all and settled samples");
    for t in &marks {
        let y = y_of(*t);
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{t}x</text>",
            WIDTH - 10.0,
            left - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        s,
        "<line x1=\"{left}\" x2=\"{}\" y1=\"{zero:.1}\" y2=\"{zero:.1}\" stroke=\"#555\"/>\
         <line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{bottom}\" stroke=\"#555\"/>",
        WIDTH - 10.0,
    );
    axis_title(
        &mut s,
        "ROI = (GMV - cost) / cost",
        20.0,
        (top + bottom) / 2.0,
        true,
    );
    // The legend.
    let _ = writeln!(
        s,
        "<rect x=\"{l}\" y=\"6\" width=\"12\" height=\"10\" fill=\"#2e8b57\"/>\
         <text x=\"{:.1}\" y=\"15\">all samples</text>\
         <rect x=\"{:.1}\" y=\"6\" width=\"12\" height=\"10\" fill=\"#2e8b57\" fill-opacity=\"0.45\"/>\
         <text x=\"{:.1}\" y=\"15\">settled samples (completed or ended)</text>",
        left + 16.0,
        left + 110.0,
        left + 126.0,
        l = left
    );
    if rows.is_empty() {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no category has shipped a sample yet</text>",
            WIDTH / 2.0,
            (top + bottom) / 2.0
        );
    }
    let slot = (WIDTH - left - 10.0) / rows.len().max(1) as f64;
    for (i, (cat, f)) in rows.iter().enumerate() {
        let x0 = left + i as f64 * slot + slot * 0.1;
        let bar = slot * 0.38;
        let bars = [
            ("mark", f.roi, f.samples, 1.0),
            ("mark settled", f.settled_roi, f.settled, 0.45),
        ];
        for (j, (class, roi, n, opacity)) in bars.into_iter().enumerate() {
            let Some(roi) = roi else { continue };
            let x = x0 + j as f64 * (bar + slot * 0.02);
            let y = y_of(roi.max(0.0));
            let h = (y_of(roi.min(0.0)) - y).max(1.0);
            let fill = if roi >= 0.0 { "#2e8b57" } else { "#c0392b" };
            let label_y = if roi >= 0.0 { y - 4.0 } else { y + h + 12.0 };
            let what = if j == 0 { "all" } else { "settled" };
            let _ = writeln!(
                s,
                "<rect class=\"{class}\" data-category=\"{c}\" data-value=\"{roi}\" data-n=\"{n}\" \
                 x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{fill}\" \
                 fill-opacity=\"{opacity}\"><title>{c}, {what}: ROI {roi:.2}x over {n} samples</title></rect>\
                 <text class=\"value\" x=\"{cx:.1}\" y=\"{label_y:.1}\" text-anchor=\"middle\" font-size=\"11\">{roi:.2}x</text>",
                c = esc(cat),
                cx = x + bar / 2.0,
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{c}</text>\
             <text class=\"count\" x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#555\">n={n} ({settled} settled)</text>",
            bottom + 30.0,
            bottom + 45.0,
            c = esc(cat),
            n = f.samples,
            settled = f.settled,
            cx = x0 + bar,
        );
    }
    axis_title(
        &mut s,
        "category (n = samples)",
        (left + WIDTH) / 2.0,
        height - 8.0,
        false,
    );
    s.push_str("</svg>\n");
    s
}

/// Fulfillment over time: the share of obligations settled each week that were met, each point
/// labelled with its rate and the obligations it counts.
pub fn fulfillment_chart(report: &Report) -> String {
    let weeks = &report.weekly;
    let height = 290.0;
    let (top, bottom, left, right) = (35.0, 220.0, 80.0, WIDTH - 60.0);
    let mut s = svg_open("fulfillment", height, "fulfillment rate per week");
    for pct in [0, 25, 50, 75, 100] {
        let y = bottom - (bottom - top) * pct as f64 / 100.0;
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{right}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{pct}%</text>",
            left - 6.0,
            y + 4.0
        );
    }
    axis_title(
        &mut s,
        "obligations met (%)",
        20.0,
        (top + bottom) / 2.0,
        true,
    );
    axis_title(
        &mut s,
        "week (from Monday, shop time); n = obligations settled that week",
        (left + right) / 2.0,
        height - 8.0,
        false,
    );
    let step = if weeks.len() > 1 {
        (right - left) / (weeks.len() - 1) as f64
    } else {
        0.0
    };
    let points: Vec<(f64, f64)> = weeks
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let x = if weeks.len() > 1 {
                left + i as f64 * step
            } else {
                (left + right) / 2.0
            };
            (x, bottom - (bottom - top) * w.fulfillment_rate)
        })
        .collect();
    if points.len() > 1 {
        let path = points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            s,
            "<polyline points=\"{path}\" fill=\"none\" stroke=\"#2f6fb0\" stroke-width=\"2\"/>"
        );
    }
    let every = weeks.len().div_ceil(12).max(1);
    for (i, (w, (x, y))) in weeks.iter().zip(&points).enumerate() {
        let n = w.completed + w.breached;
        let _ = writeln!(
            s,
            "<circle class=\"mark\" data-week=\"{d}\" data-value=\"{r}\" data-n=\"{n}\" cx=\"{x:.1}\" \
             cy=\"{y:.1}\" r=\"4\" fill=\"#2f6fb0\"><title>week of {d}: {p} of {n} met</title>\
             </circle>",
            d = w.week,
            r = w.fulfillment_rate,
            p = w.completed,
        );
        if i % every == 0 {
            let _ = writeln!(
                s,
                "<text class=\"value\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\">{} n={n}</text>\
                 <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                y - 9.0,
                percent(Some(w.fulfillment_rate)),
                bottom + 18.0,
                w.week.format("%b %d")
            );
        }
    }
    if weeks.is_empty() {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">no obligation settled yet</text>",
            WIDTH / 2.0,
            height / 2.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Layered layout: open states on the top row in breadth-first order from the start, terminal
/// states on the bottom row under the states that lead to them.
fn layout(graph: &WorkflowGraph) -> Vec<(String, bool, f64, f64)> {
    let g = graph.graph();
    let mut order: Vec<petgraph::graph::NodeIndex> = Vec::new();
    let mut seen = vec![false; g.node_count()];
    let mut queue: VecDeque<_> = g
        .node_indices()
        .filter(|n| matches!(g[*n], Node::Start))
        .collect();
    while let Some(n) = queue.pop_front() {
        if std::mem::replace(&mut seen[n.index()], true) {
            continue;
        }
        order.push(n);
        let mut next: Vec<_> = g.neighbors(n).collect();
        next.sort();
        queue.extend(next);
    }
    order.extend(g.node_indices().filter(|n| !seen[n.index()]));
    let name_of = |n: petgraph::graph::NodeIndex| match &g[n] {
        Node::State { name, terminal } => Some((name.clone(), *terminal)),
        Node::Start => None,
    };
    let top: Vec<_> = order
        .iter()
        .filter_map(|n| name_of(*n).filter(|s| !s.1).map(|s| (*n, s.0)))
        .collect();
    let slot = WIDTH / top.len().max(1) as f64;
    let mut x_of: HashMap<petgraph::graph::NodeIndex, f64> = HashMap::new();
    let mut placed = Vec::new();
    for (i, (n, name)) in top.iter().enumerate() {
        let x = slot * (i as f64 + 0.5);
        x_of.insert(*n, x);
        placed.push((name.clone(), false, x, 60.0));
    }
    let mut ends: Vec<(f64, String)> = order
        .iter()
        .filter_map(|n| name_of(*n).filter(|s| s.1).map(|s| (*n, s.0)))
        .map(|(n, name)| {
            let xs: Vec<f64> = g
                .neighbors_directed(n, petgraph::Direction::Incoming)
                .filter_map(|p| x_of.get(&p).copied())
                .collect();
            let mean = xs.iter().sum::<f64>() / xs.len().max(1) as f64;
            (mean, name)
        })
        .collect();
    ends.sort_by(|a, b| a.0.total_cmp(&b.0));
    let slot = WIDTH / ends.len().max(1) as f64;
    for (i, (_, name)) in ends.into_iter().enumerate() {
        placed.push((name, true, slot * (i as f64 + 0.5), 250.0));
    }
    placed
}

/// The workflow's states with the samples in each now, and its moves as arrows.
pub fn workflow_chart(graph: &WorkflowGraph, counts: &BTreeMap<String, u64>) -> String {
    let name = &graph.workflow().name.value;
    let nodes = layout(graph);
    let pos: HashMap<&str, (f64, f64)> = nodes
        .iter()
        .map(|(n, _, x, y)| (n.as_str(), (*x, *y)))
        .collect();
    let height = 300.0;
    let (w, h) = (132.0, 40.0);
    let mut s = svg_open(
        &format!("workflow-{}", esc(name)),
        height,
        &format!("workflow {name} with samples per state"),
    );
    s.push_str(
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#888\"/></marker></defs>\n",
    );
    let g = graph.graph();
    let mut pairs: Vec<(String, String)> = g
        .edge_references()
        .filter_map(|e| match (&g[e.source()], &g[e.target()]) {
            (Node::State { name: a, .. }, Node::State { name: b, .. }) if a != b => {
                Some((a.clone(), b.clone()))
            }
            _ => None,
        })
        .collect();
    pairs.sort();
    pairs.dedup();
    for (a, b) in &pairs {
        let (Some(&(x1, y1)), Some(&(x2, y2))) = (pos.get(a.as_str()), pos.get(b.as_str())) else {
            continue;
        };
        let d = if (y1 - y2).abs() > 1.0 {
            format!(
                "M {x1:.1} {:.1} L {x2:.1} {:.1}",
                y1 + h / 2.0,
                y2 - h / 2.0
            )
        } else if x2 > x1 && x2 - x1 < w * 2.0 {
            // Neighbours on a row: a straight arrow between the boxes.
            format!(
                "M {:.1} {y1:.1} L {:.1} {y2:.1}",
                x1 + w / 2.0,
                x2 - w / 2.0
            )
        } else {
            // Farther on a row: an arc above (forward) or below (back).
            let side = if x2 > x1 { -1.0 } else { 1.0 };
            let (sy, ey) = (y1 + side * h / 2.0, y2 + side * h / 2.0);
            let cy = sy + side * 12.0 * ((x2 - x1).abs() / w).min(3.0);
            format!(
                "M {x1:.1} {sy:.1} Q {:.1} {cy:.1} {x2:.1} {ey:.1}",
                (x1 + x2) / 2.0
            )
        };
        let _ = writeln!(
            s,
            "<path class=\"edge\" d=\"{d}\" fill=\"none\" stroke=\"#999\" \
             marker-end=\"url(#arrow)\"><title>{a} to {b}</title></path>"
        );
    }
    let most = counts.values().copied().max().unwrap_or(0).max(1) as f64;
    for (state, terminal, x, y) in &nodes {
        let n = counts.get(state).copied().unwrap_or(0);
        let fill = if *terminal { "#f3ece6" } else { "#e6eef7" };
        let stroke = if *terminal { "#a0785a" } else { "#2f6fb0" };
        let _ = writeln!(
            s,
            "<g class=\"mark state\" data-state=\"{st}\" data-value=\"{n}\">\
             <rect x=\"{:.1}\" y=\"{:.1}\" width=\"{w}\" height=\"{h}\" rx=\"6\" fill=\"{fill}\" \
             stroke=\"{stroke}\" stroke-width=\"{sw:.1}\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"{fs}\">{st}</text>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\">{n}</text>\
             </g>",
            x - w / 2.0,
            y - h / 2.0,
            y - 3.0,
            y + 13.0,
            st = esc(state),
            fs = if state.len() > 20 { 9.5 } else { 11.0 },
            sw = 1.0 + 3.0 * n as f64 / most,
        );
    }
    s.push_str("</svg>\n");
    s
}

fn figures_table(report: &Report) -> String {
    let mut s = String::from(
        "<table><thead><tr><th>group</th><th>samples</th><th>approved</th><th>shipped</th>\
         <th>delivered</th><th>posted</th><th>completed</th><th>fulfillment</th><th>breach</th>\
         <th>cost</th><th>GMV</th><th>ROI</th><th>settled</th><th>settled ROI</th></tr></thead><tbody>\n",
    );
    let mut rows = vec![("all".to_string(), &report.overall)];
    for (prefix, groups) in [
        ("category", &report.by_category),
        ("tier", &report.by_tier),
        ("rules", &report.by_rules),
    ] {
        rows.extend(groups.iter().map(|(k, f)| (format!("{prefix}: {k}"), f)));
    }
    if let Some(by_creator) = &report.by_creator {
        rows.extend(by_creator.iter().map(|(k, f)| (format!("creator: {k}"), f)));
    }
    for (k, f) in rows {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&k),
            f.samples,
            f.funnel.approved,
            f.funnel.shipped,
            f.funnel.delivered,
            f.funnel.posted,
            f.funnel.completed,
            percent(f.fulfillment_rate),
            percent(f.breach_rate),
            dollars(f.cost),
            dollars(f.gmv),
            f.roi.map_or("-".into(), |r| format!("{r:.2}x")),
            f.settled,
            f.settled_roi.map_or("-".into(), |r| format!("{r:.2}x")),
        );
    }
    s.push_str("</tbody></table>\n");
    s
}

/// The whole page. `workflows` are drawn with the samples of each in each state.
/// The report page's style sheet (the console's pages share it).
pub const STYLE: &str =
    "body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}\
     h1{font-size:22px}h2{font-size:16px;margin-top:28px}\
     table{border-collapse:collapse;font-size:12px}\
     td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}\
     td:first-child,th:first-child{text-align:left}\
     .kpi{display:inline-block;margin-right:28px}.kpi b{display:block;font-size:20px}\
     svg{display:block;margin:8px 0}";

pub fn page(report: &Report, workflows: &[(&WorkflowGraph, BTreeMap<String, u64>)]) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>sampleflow report</title>\n<style>{STYLE}</style></head><body>\n\
         <h1>sampleflow report</h1>\n{}</body></html>\n",
        body(report, workflows)
    )
}

/// The report's figures and charts, to go inside a page's body.
pub fn body(report: &Report, workflows: &[(&WorkflowGraph, BTreeMap<String, u64>)]) -> String {
    let o = &report.overall;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<div><span class=\"kpi\"><b>{}</b>samples</span><span class=\"kpi\"><b>{}</b>fulfillment</span>\
         <span class=\"kpi\"><b>{}</b>breach</span><span class=\"kpi\"><b>{}</b>cost</span>\
         <span class=\"kpi\"><b>{}</b>attributed GMV</span><span class=\"kpi\"><b>{}</b>ROI (all)</span>\
         <span class=\"kpi\"><b>{}</b>ROI ({} settled)</span></div>",
        o.samples,
        percent(o.fulfillment_rate),
        percent(o.breach_rate),
        dollars(o.cost),
        dollars(o.gmv),
        o.roi.map_or("-".into(), |r| format!("{r:.2}x")),
        o.settled_roi.map_or("-".into(), |r| format!("{r:.2}x")),
        o.settled,
    );
    let window = report.window.describe();
    if !window.is_empty() {
        let _ = writeln!(s, "<p class=\"window\">{}</p>", esc(&window));
    }
    if o.samples == 0 {
        s.push_str("<p class=\"empty\">No samples to report yet.</p>\n");
    }
    if !report.undeclared.is_empty() {
        let by = super::counted(&report.undeclared);
        let _ = writeln!(
            s,
            "<p class=\"warning\">Samples in undeclared categories, screened under <code>default</code>: {}</p>",
            esc(&by)
        );
    }
    s.push_str("<h2>Funnel</h2>\n");
    s.push_str(&funnel_chart(report));
    s.push_str("<h2>ROI per category</h2>\n");
    s.push_str(&roi_chart(report));
    s.push_str("<h2>Fulfillment over time (obligations settled per week)</h2>\n");
    s.push_str(&fulfillment_chart(report));
    for (graph, counts) in workflows {
        let _ = writeln!(
            s,
            "<h2>Workflow `{}`: samples per state now</h2>",
            esc(&graph.workflow().name.value)
        );
        s.push_str(&workflow_chart(graph, counts));
    }
    s.push_str("<h2>Figures</h2>\n");
    s.push_str(&figures_table(report));
    s
}

/// A built report drawn: the page and its body render here, so that the report's figures do
/// not depend on their drawing.
impl BuiltReport {
    fn drawn(&self) -> Vec<(&WorkflowGraph, BTreeMap<String, u64>)> {
        self.graphs
            .iter()
            .map(|g| {
                let name = g.workflow().name.value.as_str();
                (g, self.counts.get(name).cloned().unwrap_or_default())
            })
            .collect()
    }

    /// The self-contained page of `report --html`.
    pub fn page(&self) -> String {
        page(&self.report, &self.drawn())
    }

    /// The page's figures and charts, for a page of the console.
    pub fn body(&self) -> String {
        body(&self.report, &self.drawn())
    }
}

#[cfg(test)]
mod tests {
    use super::ticks;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(ticks(0.0, 3.64), [0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(ticks(-1.0, 11.0), [-5.0, 0.0, 5.0, 10.0, 15.0]);
        assert_eq!(ticks(0.0, 54.0), [0.0, 20.0, 40.0, 60.0]);
    }
}
