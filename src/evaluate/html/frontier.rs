//! The cost–SLO frontier: every replayed setting as a point (replica-hours, violation minutes),
//! joined per policy and mode, drawn as a small hand-written SVG.

use super::{esc, num, trim};
use crate::evaluate::report::FrontierPoint;
use crate::govern::ScaleIn;
use std::fmt::{self, Write as _};

const W: f64 = 560.0;
const H: f64 = 300.0;
const PAD: (f64, f64, f64, f64) = (56.0, 16.0, 16.0, 40.0); // left, right, top, bottom

/// One series of the chart: its label, colour, and the points it joins.
fn series(points: &[FrontierPoint]) -> Vec<(&'static str, &'static str, Vec<&FrontierPoint>)> {
    let pick = |policy: &str, mode: Option<ScaleIn>| {
        let mut v: Vec<&FrontierPoint> = points
            .iter()
            .filter(|p| p.policy == policy && p.scale_in == mode)
            .collect();
        v.sort_by(|a, b| a.replica_hours.total_cmp(&b.replica_hours));
        v
    };
    vec![
        ("reactive_hpa (target)", "#c62828", pick("reactive_hpa", None)),
        (
            "predictive, reactive scale-in (quantile)",
            "#1565c0",
            pick("predictive", Some(ScaleIn::Reactive)),
        ),
        (
            "predictive, forecast scale-in (quantile)",
            "#2e7d32",
            pick("predictive", Some(ScaleIn::Forecast)),
        ),
    ]
}

/// The frontier figure and its table; nothing when the report has no frontier.
pub(super) fn write_frontier(h: &mut String, points: &[FrontierPoint]) -> fmt::Result {
    if points.is_empty() {
        return Ok(());
    }
    let (x0, x1) = bounds(points.iter().map(|p| p.replica_hours));
    let (_, y1) = bounds(points.iter().map(|p| p.slo_violation_minutes));
    let y1 = y1.max(1.0);
    let sx = |x: f64| PAD.0 + (x - x0) / (x1 - x0).max(1e-9) * (W - PAD.0 - PAD.1);
    let sy = |y: f64| H - PAD.3 - y / y1 * (H - PAD.2 - PAD.3);
    writeln!(h, "<figure class=\"frontier\"><h4>Cost–SLO frontier</h4>")?;
    writeln!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" role=\"img\" aria-label=\"cost-SLO frontier\">"
    )?;
    writeln!(
        h,
        "<rect x=\"0\" y=\"0\" width=\"{W}\" height=\"{H}\" fill=\"#fff\"/><line x1=\"{l}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#555\"/><line x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{b}\" stroke=\"#555\"/>",
        l = PAD.0,
        r = W - PAD.1,
        t = PAD.2,
        b = H - PAD.3
    )?;
    for (x, anchor) in [(x0, "start"), (x1, "end")] {
        writeln!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"{anchor}\">{}</text>",
            sx(x),
            H - PAD.3 + 14.0,
            num(x, 1)
        )?;
    }
    writeln!(
        h,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">replica-hours</text>",
        W / 2.0,
        H - 6.0
    )?;
    writeln!(
        h,
        "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}</text><text x=\"12\" y=\"{:.1}\" font-size=\"11\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">SLO-violation minutes</text>",
        PAD.0 - 4.0,
        PAD.2 + 8.0,
        num(y1, 0),
        H / 2.0,
        H / 2.0
    )?;
    for (i, (label, colour, pts)) in series(points).iter().enumerate() {
        let path: Vec<String> = pts
            .iter()
            .map(|p| format!("{:.1},{:.1}", sx(p.replica_hours), sy(p.slo_violation_minutes)))
            .collect();
        writeln!(
            h,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            path.join(" ")
        )?;
        for p in pts {
            writeln!(
                h,
                "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{colour}\"><title>{}</title></circle>",
                sx(p.replica_hours),
                sy(p.slo_violation_minutes),
                esc(&setting(p))
            )?;
        }
        writeln!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"{colour}\" text-anchor=\"end\">{}</text>",
            W - PAD.1,
            PAD.2 + 10.0 + 14.0 * i as f64,
            esc(label)
        )?;
    }
    writeln!(h, "</svg>")?;
    writeln!(
        h,
        "<figcaption>Each point is one replayed setting; lower and further left is better. A predictive point dominates an HPA point when it has no more violation minutes and no more replica-hours.</figcaption></figure>"
    )?;
    writeln!(
        h,
        "<table><thead><tr><th>setting</th><th>SLO-violation min</th><th>replica-hours</th></tr></thead><tbody>"
    )?;
    for p in points {
        writeln!(
            h,
            "<tr><td class=\"text\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&setting(p)),
            num(p.slo_violation_minutes, 1),
            num(p.replica_hours, 1)
        )?;
    }
    writeln!(h, "</tbody></table>")
}

/// How a point is named in the table and tooltips.
fn setting(p: &FrontierPoint) -> String {
    match (p.target_utilization, p.quantile, p.scale_in) {
        (Some(t), _, _) => format!("{} target {}", p.policy, trim(t)),
        (_, Some(q), Some(m)) => format!("{} {} scale-in, quantile {}", p.policy, m.as_str(), trim(q)),
        _ => p.policy.clone(),
    }
}

fn bounds(v: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = v
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    if lo.is_finite() {
        (lo, hi.max(lo + 1e-9))
    } else {
        (0.0, 1.0)
    }
}
