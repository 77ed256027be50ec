//! `tune --html`: one self-contained page in the report's style (inline CSS and SVG, no
//! script, no external reference): every point plotted by cost against GMV, the Pareto front
//! joined, today's point and the best one marked, the estimated part of each point's GMV drawn
//! apart (dashed, up to a hollow circle), each point's parameters and figures on hover (an SVG
//! `<title>`); then the points as a table.
//!
//! Every point is a `<g class="mark point">` with its figures as `data-` attributes, so tests
//! can read them back.

use std::fmt::Write;

use super::super::dollars;
use super::super::html::{axis_title, esc, svg_open, ticks, STYLE, WIDTH};
use super::render::describe;
use super::{Point, Tune};

/// Round ticks over `values` with a margin, never below zero: at least two, distinct.
fn span_ticks(values: &[f64]) -> Vec<f64> {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.05).max(hi.abs() * 0.02).max(1.0);
    let marks = ticks((lo - pad).max(0.0), hi + pad);
    if marks.len() >= 2 {
        marks
    } else {
        vec![0.0, hi.max(1.0)]
    }
}

/// A tick's money, without cents when whole.
fn money_tick(x: f64) -> String {
    let text = dollars(x);
    text.strip_suffix(".00")
        .map_or(text.clone(), str::to_string)
}

fn hover(t: &Tune, p: &Point) -> String {
    let f = &p.figures;
    let mut text = format!(
        "{}: cost {} for {} shipped, GMV {} observed + {} estimated ({} samples), {} approvals, ROI {}",
        describe(t, &p.values),
        dollars(f.cost),
        f.shipped,
        dollars(f.gmv_observed),
        dollars(f.gmv_estimated),
        f.estimated,
        f.approvals,
        f.roi.map_or("-".into(), |r| format!("{r:.2}x")),
    );
    for (on, what) in [
        (p.today, "today's policy"),
        (p.pareto, "on the front"),
        (f.faults > 0, "rules faulted"),
    ] {
        if on {
            text.push_str("; ");
            text.push_str(what);
        }
    }
    text
}

/// The points by cost (across) against GMV (up).
pub fn front_chart(t: &Tune) -> String {
    let height = 460.0;
    let (top, bottom, left, right) = (40.0, 390.0, 90.0, WIDTH - 30.0);
    // Both axes span the points (and the budget), not from zero: the points of a grid often
    // differ by a few percent, which a chart from zero would draw as one blot.
    let costs: Vec<f64> = t
        .points
        .iter()
        .map(|p| p.figures.cost)
        .chain(t.max_cost)
        .collect();
    let gmvs: Vec<f64> = t
        .points
        .iter()
        .flat_map(|p| [p.figures.gmv_observed, p.figures.gmv_total()])
        .collect();
    let (xs, ys) = (span_ticks(&costs), span_ticks(&gmvs));
    let (x_lo, x_hi) = (xs[0], xs[xs.len() - 1]);
    let (y_lo, y_hi) = (ys[0], ys[ys.len() - 1]);
    let x_of = |c: f64| left + (right - left) * (c - x_lo) / (x_hi - x_lo);
    let y_of = |g: f64| bottom - (bottom - top) * (g - y_lo) / (y_hi - y_lo);
    let mut s = svg_open("front", height, "cost against GMV for every point");
    for y in &ys {
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" x2=\"{right}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#eee\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y_of(*y) + 4.0,
            money_tick(*y),
            yy = y_of(*y),
        );
    }
    for x in &xs {
        let _ = writeln!(
            s,
            "<line x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"{bottom}\" y2=\"{:.1}\" stroke=\"#555\"/>\
             <text class=\"tick\" x=\"{xx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            bottom + 5.0,
            bottom + 18.0,
            money_tick(*x),
            xx = x_of(*x),
        );
    }
    let _ = writeln!(
        s,
        "<line x1=\"{left}\" x2=\"{right}\" y1=\"{bottom}\" y2=\"{bottom}\" stroke=\"#555\"/>\
         <line x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{bottom}\" stroke=\"#555\"/>"
    );
    axis_title(
        &mut s,
        "sample cost of the samples shipped (USD)",
        (left + right) / 2.0,
        height - 30.0,
        false,
    );
    axis_title(
        &mut s,
        "attributed GMV, observed + estimated (USD)",
        20.0,
        (top + bottom) / 2.0,
        true,
    );
    // The legend.
    let _ = writeln!(
        s,
        "<circle cx=\"{l}\" cy=\"12\" r=\"5\" fill=\"#2f6fb0\"/><text x=\"{:.1}\" y=\"16\">GMV observed</text>\
         <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"12\" y2=\"12\" stroke=\"#d35400\" stroke-dasharray=\"4 3\" stroke-width=\"2\"/>\
         <circle cx=\"{:.1}\" cy=\"12\" r=\"5\" fill=\"#fff\" stroke=\"#d35400\" stroke-width=\"2\"/>\
         <text x=\"{:.1}\" y=\"16\">+ GMV estimated</text>\
         <polyline points=\"{:.1},12 {:.1},12\" stroke=\"#2e8b57\" stroke-width=\"2\"/><text x=\"{:.1}\" y=\"16\">Pareto front</text>\
         <circle cx=\"{:.1}\" cy=\"12\" r=\"9\" fill=\"none\" stroke=\"#222\" stroke-width=\"2\"/><text x=\"{:.1}\" y=\"16\">today</text>",
        left + 10.0,
        left + 140.0,
        left + 170.0,
        left + 175.0,
        left + 185.0,
        left + 320.0,
        left + 345.0,
        left + 352.0,
        left + 460.0,
        left + 477.0,
        l = left + 2.0,
    );
    if let Some(max) = t.max_cost {
        let x = x_of(max);
        let _ = writeln!(
            s,
            "<line class=\"budget\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{top}\" y2=\"{bottom}\" stroke=\"#c0392b\" stroke-dasharray=\"6 4\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#c0392b\">--max-cost {}</text>",
            x + 4.0,
            top + 12.0,
            esc(&dollars(max))
        );
    }
    // The front, cheapest first.
    let mut front: Vec<&Point> = t.points.iter().filter(|p| p.pareto).collect();
    front.sort_by_key(|p| (p.figures.cost_cents(), p.figures.gmv_cents()));
    if front.len() > 1 {
        let path = front
            .iter()
            .map(|p| {
                format!(
                    "{:.1},{:.1}",
                    x_of(p.figures.cost),
                    y_of(p.figures.gmv_total())
                )
            })
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            s,
            "<polyline class=\"front\" points=\"{path}\" fill=\"none\" stroke=\"#2e8b57\" stroke-width=\"2\"/>"
        );
    }
    for (i, p) in t.points.iter().enumerate() {
        let f = &p.figures;
        let (x, y_obs, y_all) = (x_of(f.cost), y_of(f.gmv_observed), y_of(f.gmv_total()));
        let params = t
            .grid
            .axes
            .iter()
            .zip(&p.values)
            .map(|(a, v)| format!("{}={v}", a.name))
            .collect::<Vec<_>>()
            .join(",");
        let _ = write!(
            s,
            "<g class=\"mark point\" data-params=\"{}\" data-cost=\"{}\" data-gmv-observed=\"{}\" \
             data-gmv-estimated=\"{}\" data-pareto=\"{}\" data-today=\"{}\" data-best=\"{}\">\
             <title>{}</title>",
            esc(&params),
            f.cost,
            f.gmv_observed,
            f.gmv_estimated,
            p.pareto,
            p.today,
            t.best == Some(i),
            esc(&hover(t, p)),
        );
        let fill = if p.pareto { "#2e8b57" } else { "#2f6fb0" };
        let _ = write!(
            s,
            "<circle class=\"observed\" cx=\"{x:.1}\" cy=\"{y_obs:.1}\" r=\"5\" fill=\"{fill}\" fill-opacity=\"0.85\"/>"
        );
        if f.gmv_cents() > super::cents(f.gmv_observed) {
            let _ = write!(
                s,
                "<line class=\"estimated\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{y_obs:.1}\" y2=\"{y_all:.1}\" \
                 stroke=\"#d35400\" stroke-dasharray=\"4 3\" stroke-width=\"2\"/>\
                 <circle class=\"estimated\" cx=\"{x:.1}\" cy=\"{y_all:.1}\" r=\"5\" fill=\"#fff\" \
                 stroke=\"{}\" stroke-width=\"2\"/>",
                if p.pareto { "#2e8b57" } else { "#d35400" }
            );
        }
        if p.today {
            let _ = write!(
                s,
                "<circle class=\"today\" cx=\"{x:.1}\" cy=\"{y_all:.1}\" r=\"10\" fill=\"none\" stroke=\"#222\" stroke-width=\"2\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-weight=\"bold\">today</text>",
                x + 12.0,
                y_all + 20.0
            );
        }
        if t.best == Some(i) {
            let _ = write!(
                s,
                "<rect class=\"best\" x=\"{:.1}\" y=\"{:.1}\" width=\"18\" height=\"18\" fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#c0392b\" font-weight=\"bold\">best</text>",
                x - 9.0,
                y_all - 9.0,
                x - 14.0,
                y_all - 14.0
            );
        }
        s.push_str("</g>\n");
    }
    s.push_str("</svg>\n");
    s
}

fn points_table(t: &Tune) -> String {
    let mut s = String::from("<table><thead><tr>");
    for a in &t.grid.axes {
        let _ = write!(s, "<th>{}</th>", esc(a.name));
    }
    s.push_str(
        "<th>approvals</th><th>vs today</th><th>shipped</th><th>cost</th><th>GMV observed</th>\
         <th>GMV estimated</th><th>ROI</th><th></th></tr></thead><tbody>\n",
    );
    for (i, p) in t.points.iter().enumerate() {
        let f = &p.figures;
        s.push_str("<tr>");
        for v in &p.values {
            let _ = write!(s, "<td>{}</td>", esc(&v.to_string()));
        }
        let mut marks = Vec::new();
        for (on, what) in [
            (p.today, "today"),
            (p.pareto, "front"),
            (t.best == Some(i), "best"),
            (f.faults > 0, "rule faults"),
        ] {
            if on {
                marks.push(what);
            }
        }
        let _ = writeln!(
            s,
            "<td>{}</td><td>+{} -{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td></tr>",
            f.approvals,
            f.gained,
            f.lost,
            f.shipped,
            dollars(f.cost),
            dollars(f.gmv_observed),
            dollars(f.gmv_estimated),
            if f.estimated > 0 {
                format!(" ({} samples)", f.estimated)
            } else {
                String::new()
            },
            f.roi.map_or("-".into(), |r| format!("{r:.2}x")),
            marks.join(", "),
        );
    }
    s.push_str("</tbody></table>\n");
    s
}

/// The whole page.
pub fn page(t: &Tune) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>sampleflow tune</title>\n<style>{STYLE}</style></head><body>\n\
         <h1>sampleflow tune: the `{}` block</h1>\n",
        esc(&t.grid.block)
    );
    let front = t.points.iter().filter(|p| p.pareto).count();
    let _ = writeln!(
        s,
        "<div><span class=\"kpi\"><b>{}</b>points</span><span class=\"kpi\"><b>{}</b>samples replayed each time</span>\
         <span class=\"kpi\"><b>{front}</b>on the front</span></div>",
        t.points.len(),
        t.samples,
    );
    if let Some(today) = t.today() {
        let _ = writeln!(
            s,
            "<p class=\"today\">Today: {}{}: cost {}, GMV {}.</p>",
            esc(&describe(t, &today.values)),
            if today.on_grid {
                ""
            } else {
                " (not on the grid: run on top of it)"
            },
            dollars(today.figures.cost),
            dollars(today.figures.gmv_total()),
        );
    }
    if let Some(max) = t.max_cost {
        match t.best_point() {
            Some(p) => {
                let _ = writeln!(
                    s,
                    "<p class=\"best\">Best within {}: {}: cost {}, GMV {} ({} of it estimated). \
                     In <code>policy.yaml</code>:</p><pre>{}</pre>",
                    dollars(max),
                    esc(&describe(t, &p.values)),
                    dollars(p.figures.cost),
                    dollars(p.figures.gmv_total()),
                    dollars(p.figures.gmv_estimated),
                    esc(&t.grid.yaml_lines(&p.values)),
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "<p class=\"best\">No point costs {} or less.</p>",
                    dollars(max)
                );
            }
        }
    }
    s.push_str("<h2>Cost against GMV</h2>\n");
    s.push_str(&front_chart(t));
    let _ = writeln!(
        s,
        "<p>A filled dot is the GMV history measured for the point's samples; a dashed line up to \
         a hollow circle adds the GMV estimated for samples the point approves and today's policy \
         does not, which history never shipped: the median GMV of the {} shipped, settled samples \
         of the same category and tier under today's policy. Their unit cost is counted in the \
         point's cost. The front (green) weighs GMV with its estimate; hover over a point for its \
         parameters and figures.</p>",
        t.settled
    );
    s.push_str("<h2>Points</h2>\n");
    s.push_str(&points_table(t));
    s.push_str("</body></html>\n");
    s
}
