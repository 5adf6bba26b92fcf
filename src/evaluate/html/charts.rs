//! The report's charts: a timeline downsampled to what a chart can show (each bucket keeps its
//! maximum, so peaks survive), then drawn as inline SVG with plotters.

use super::*;

// ---------------------------------------------------------------- downsampling

/// A timeline reduced to at most `MAX_POINTS` buckets; x is hours since replay start and each
/// bucket keeps its maximum, so peaks survive.
pub(super) struct Sampled {
    pub(super) ticks: usize,
    pub(super) origin: i64,
    pub(super) x: Vec<f64>,
    /// Where the last bucket ends, so step lines and lanes cover it.
    pub(super) x_end: f64,
    pub(super) x_range: Range<f64>,
    pub(super) demand: Vec<f64>,
    pub(super) forecast: Vec<f64>,
    pub(super) lo80: Vec<f64>,
    pub(super) hi80: Vec<f64>,
    pub(super) lo95: Vec<f64>,
    pub(super) hi95: Vec<f64>,
    pub(super) replicas: Vec<(String, Vec<f64>)>,
    pub(super) violation: Vec<(String, Vec<bool>)>,
    /// Per policy and bucket, the most frequent violation cause (empty string: none).
    pub(super) causes: BTreeMap<String, Vec<String>>,
    /// Infinite where the policy was overloaded; NaN where unknown.
    pub(super) p95: Vec<(String, Vec<f64>)>,
    /// The predictive policy's latency forecast (worst per bucket); NaN where none.
    pub(super) predicted: Vec<f64>,
}

impl Sampled {
    pub(super) fn new(tl: &Timeline, start: i64, end: i64, tick: i64) -> Sampled {
        let n = tl.time.len();
        let size = n.div_ceil(MAX_POINTS).max(1);
        let buckets: Vec<Range<usize>> = (0..n).step_by(size).map(|s| s..(s + size).min(n)).collect();
        let hours = |t: i64| t.saturating_sub(start) as f64 / 3600.0;
        let hi = |v: &[f64]| {
            buckets
                .iter()
                .map(|b| part(v, b).iter().copied().fold(f64::NAN, f64::max))
                .collect()
        };
        let lo = |v: &[f64]| {
            buckets
                .iter()
                .map(|b| part(v, b).iter().copied().fold(f64::NAN, f64::min))
                .collect()
        };
        let x: Vec<f64> = buckets
            .iter()
            .filter_map(|b| tl.time.get(b.start).map(|&t| hours(t)))
            .collect();
        let x_end = tl.time.last().map_or(0.0, |&t| hours(t.saturating_add(tick.max(0))));
        let first = x.first().copied().unwrap_or(0.0);
        let last = if x.is_empty() { hours(end) } else { x_end };
        Sampled {
            ticks: n,
            origin: start,
            x_range: first..if last > first { last } else { first + 1.0 },
            x,
            x_end,
            demand: hi(&tl.demand),
            forecast: hi(&tl.forecast),
            lo80: lo(&tl.forecast_lower_80),
            hi80: hi(&tl.forecast_upper_80),
            lo95: lo(&tl.forecast_lower_95),
            hi95: hi(&tl.forecast_upper_95),
            replicas: per_policy(&tl.replicas, |v| {
                buckets.iter().map(|b| max_replicas(part(v, b))).collect()
            }),
            violation: per_policy(&tl.violation, |v| {
                buckets.iter().map(|b| part(v, b).iter().any(|&x| x)).collect()
            }),
            causes: tl
                .cause
                .iter()
                .map(|(k, v)| (k.clone(), buckets.iter().map(|b| dominant(part(v, b))).collect()))
                .collect(),
            p95: per_policy(&tl.p95_latency, |v| {
                buckets.iter().map(|b| worst_latency(part(v, b))).collect()
            }),
            predicted: buckets
                .iter()
                .map(|b| {
                    part(&tl.predicted_p95, b)
                        .iter()
                        .flatten()
                        .copied()
                        .fold(f64::NAN, f64::max)
                })
                .collect(),
        }
    }

    pub(super) fn x_desc(&self) -> String {
        format!("hours since replay start ({} UTC)", format_timestamp(self.origin))
    }
}

/// The most frequent non-empty label of a bucket (ties: the first in label order).
fn dominant(v: &[String]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in v.iter().filter(|c| !c.is_empty()) {
        *counts.entry(c).or_default() += 1;
    }
    let best = counts.iter().fold(None, |b: Option<(&str, usize)>, (k, n)| match b {
        Some((_, m)) if m >= *n => b,
        _ => Some((k, *n)),
    });
    best.map_or(String::new(), |(k, _)| k.to_string())
}

/// Colours of the violation causes in the lanes' cause strips.
pub(super) const CAUSE_COLORS: [(&str, RGBColor); 5] = [
    ("under_forecast", RGBColor(0, 114, 178)),
    ("late", RGBColor(230, 159, 0)),
    ("early_scale_in", RGBColor(204, 121, 167)),
    ("capacity_model", RGBColor(86, 180, 233)),
    ("burst", RGBColor(0, 158, 115)),
];

/// The part of `v` in `r`, shortened when `v` is shorter than the timeline.
pub(super) fn part<'v, T>(v: &'v [T], r: &Range<usize>) -> &'v [T] {
    let end = r.end.min(v.len());
    v.get(r.start.min(end)..end).unwrap_or(&[])
}

pub(super) fn max_replicas(v: &[u32]) -> f64 {
    v.iter().max().map_or(f64::NAN, |&r| f64::from(r))
}

/// `None` is an overloaded tick, i.e. infinite latency.
pub(super) fn worst_latency(v: &[Option<f64>]) -> f64 {
    v.iter().map(|l| l.unwrap_or(f64::INFINITY)).fold(f64::NAN, f64::max)
}

pub(super) fn per_policy<T, U>(map: &BTreeMap<String, Vec<T>>, f: impl Fn(&[T]) -> U) -> Vec<(String, U)> {
    let known = POLICIES.iter().filter_map(|(p, _)| map.get_key_value(*p));
    let others = map.iter().filter(|(k, _)| !POLICIES.iter().any(|(p, _)| p == k));
    known.chain(others).map(|(k, v)| (k.clone(), f(v))).collect()
}

/// Runs of finite values as polylines; NaN (no forecast yet) breaks the line.
pub(super) fn line_runs(x: &[f64], y: &[f64]) -> Vec<Points> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    for (&xi, &yi) in x.iter().zip(y) {
        if yi.is_finite() {
            run.push((xi, yi));
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    runs
}

/// Runs of finite values as step lines: a value holds until the next bucket (or `x_end`).
/// Only changes emit points, which keeps flat replica counts tiny in the SVG.
pub(super) fn step_runs(x: &[f64], y: &[f64], x_end: f64) -> Vec<Points> {
    let mut runs = Vec::new();
    let mut run = Vec::new();
    let mut held: Option<(f64, f64)> = None; // (value, end of its bucket)
    for (i, (&xi, &yi)) in x.iter().zip(y).enumerate() {
        if !yi.is_finite() {
            close_step(&mut runs, &mut run, held.take());
            continue;
        }
        match held {
            Some((v, _)) if v == yi => {}
            Some((v, _)) => run.extend([(xi, v), (xi, yi)]),
            None => run.push((xi, yi)),
        }
        held = Some((yi, x.get(i + 1).copied().unwrap_or(x_end)));
    }
    close_step(&mut runs, &mut run, held);
    runs
}

pub(super) fn close_step(runs: &mut Vec<Points>, run: &mut Points, held: Option<(f64, f64)>) {
    if let Some((v, end)) = held {
        run.push((end, v));
        runs.push(std::mem::take(run));
    }
}

/// Closed outlines between `lo` and `hi` wherever both are finite, clamped to the axis.
pub(super) fn bands(x: &[f64], lo: &[f64], hi: &[f64], y: &Range<f64>) -> Vec<Points> {
    let ok = |j: usize| {
        lo.get(j)
            .zip(hi.get(j))
            .is_some_and(|(l, h)| l.is_finite() && h.is_finite())
    };
    let mut polygons = Vec::new();
    let mut j = 0;
    while j < x.len() {
        let start = j;
        while j < x.len() && ok(j) {
            j += 1;
        }
        if j > start {
            let mut outline: Points = (start..j).map(|k| (x[k], clamp(hi[k], y))).collect();
            outline.extend((start..j).rev().map(|k| (x[k], clamp(lo[k], y))));
            polygons.push(outline);
        }
        j += 1;
    }
    polygons
}

/// Like `f64::clamp` but never panics on a degenerate range.
pub(super) fn clamp(v: f64, r: &Range<f64>) -> f64 {
    v.max(r.start).min(r.end)
}

/// Spans in hours where the flag is set, at least `min_width` wide so single ticks stay visible.
pub(super) fn true_runs(flags: &[bool], x: &[f64], x_end: f64, min_width: f64) -> Vec<(f64, f64)> {
    let mut spans = Vec::new();
    let mut open = None;
    for (i, &xi) in x.iter().enumerate() {
        match (flags.get(i).copied().unwrap_or(false), open) {
            (true, None) => open = Some(xi),
            (false, Some(a)) => {
                spans.push((a, xi));
                open = None;
            }
            _ => {}
        }
    }
    if let Some(a) = open {
        spans.push((a, x_end));
    }
    spans.into_iter().map(|(a, b)| (a, b.max(a + min_width))).collect()
}

// ---------------------------------------------------------------- charts

pub(super) static FONTS: Once = Once::new();

/// plotters' ab_glyph backend knows no system fonts: text layout needs a registered face even
/// for SVG, where the browser draws the glyphs itself.
pub(super) fn register_fonts() {
    FONTS.call_once(|| {
        // A failure here surfaces as a font error from the first chart, which is mapped there.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

pub(super) fn svg(height: u32, draw: impl FnOnce(&Area) -> DrawResult<()>) -> Result<String> {
    register_fonts();
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (CHART_WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(&root).map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(buf)
}

pub(super) fn cartesian<'a, 'b>(
    area: &'a Area<'b>,
    x: Range<f64>,
    y: Range<f64>,
    x_labels: bool,
) -> DrawResult<Chart<'a, 'b>> {
    Ok(ChartBuilder::on(area)
        .margin(10)
        .margin_right(24)
        .x_label_area_size(if x_labels { 46 } else { 0 })
        .y_label_area_size(Y_LABEL_AREA)
        .build_cartesian_2d(x, y)?)
}

pub(super) fn mesh<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, s: &Sampled, y_desc: &str) -> DrawResult<()> {
    let decimals = if s.x_range.end - s.x_range.start < 6.0 { 1 } else { 0 };
    let x_fmt = move |v: &f64| format!("{v:.decimals$}");
    let y_fmt = |v: &f64| trim(*v);
    chart
        .configure_mesh()
        .x_desc(s.x_desc())
        .y_desc(y_desc)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.08))
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    Ok(())
}

pub(super) fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, position: SeriesLabelPosition) -> DrawResult<()> {
    chart
        .configure_series_labels()
        .position(position)
        .margin(8)
        .label_font(("sans-serif", 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

pub(super) fn line_key(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style)
}

pub(super) fn box_key(color: RGBAColor) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], color.filled())
}

pub(super) fn policy_color(name: &str, index: usize) -> RGBColor {
    const OTHERS: [RGBColor; 3] = [RGBColor(204, 121, 167), RGBColor(86, 180, 233), RGBColor(120, 120, 120)];
    match name {
        "predictive" => RGBColor(0, 114, 178),
        "reactive_hpa" => RGBColor(230, 159, 0),
        "oracle" => RGBColor(0, 158, 115),
        _ => OTHERS[index % OTHERS.len()],
    }
}

pub(super) fn finite_max<'v>(values: impl IntoIterator<Item = &'v f64>) -> f64 {
    values
        .into_iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NAN, f64::max)
}

pub(super) fn finite_min<'v>(values: impl IntoIterator<Item = &'v f64>) -> f64 {
    values
        .into_iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f64::NAN, f64::min)
}

/// Demand axis: wide intervals may widen it by half at most, so a runaway band cannot flatten
/// the demand curve; the band is clamped to the axis instead.
pub(super) fn demand_axis(s: &Sampled) -> Range<f64> {
    let base = finite_max(s.demand.iter().chain(&s.forecast));
    let band = finite_max(s.hi80.iter().chain(&s.hi95));
    // f64::min ignores NaN, so a missing band must not reach it.
    let top = if base.is_finite() && base > 0.0 {
        if band.is_finite() {
            base.max(band.min(base * 1.5))
        } else {
            base
        }
    } else {
        band
    };
    let bottom = finite_min(s.demand.iter().chain(&s.forecast)).min(0.0);
    axis(if bottom.is_finite() { bottom } else { 0.0 }, top * 1.05)
}

/// A finite, non-empty axis range whatever the data (empty, NaN, constant or huge).
pub(super) fn axis(bottom: f64, top: f64) -> Range<f64> {
    let bottom = if bottom.is_finite() { bottom } else { 0.0 };
    if top.is_finite() && top > bottom {
        bottom..top
    } else {
        bottom..bottom + 1.0
    }
}

pub(super) fn demand_chart(s: &Sampled) -> Result<String> {
    svg(380, |root| {
        let y = demand_axis(s);
        let mut chart = cartesian(root, s.x_range.clone(), y.clone(), true)?;
        mesh(&mut chart, s, "demand")?;
        for (lo, hi, alpha, label) in [
            (&s.lo95, &s.hi95, 0.16, "95% interval"),
            (&s.lo80, &s.hi80, 0.30, "80% interval"),
        ] {
            let color = FORECAST.mix(alpha);
            chart
                .draw_series(
                    bands(&s.x, lo, hi, &y)
                        .into_iter()
                        .map(|p| Polygon::new(p, color.filled())),
                )?
                .label(label)
                .legend(box_key(color));
        }
        let clamped = |v: &[f64]| {
            v.iter()
                .map(|&d| if d.is_finite() { clamp(d, &y) } else { f64::NAN })
                .collect::<Vec<_>>()
        };
        // Demand last: the observed truth stays visible where the forecast matches it.
        for (values, color, width, label) in [(&s.forecast, FORECAST, 2, "forecast"), (&s.demand, DEMAND, 1, "demand")]
        {
            let style = color.stroke_width(width);
            chart
                .draw_series(
                    line_runs(&s.x, &clamped(values))
                        .into_iter()
                        .map(|r| PathElement::new(r, style)),
                )?
                .label(label)
                .legend(line_key(style));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

pub(super) fn replica_chart(s: &Sampled, capacity: f64) -> Result<String> {
    svg(340, |root| {
        let needed: Vec<f64> = if capacity.is_finite() && capacity > 0.0 {
            s.demand.iter().map(|d| d / capacity).collect()
        } else {
            Vec::new()
        };
        let peak = finite_max(s.replicas.iter().flat_map(|(_, v)| v).chain(&needed));
        let mut chart = cartesian(root, s.x_range.clone(), axis(0.0, (peak * 1.1).max(peak + 1.0)), true)?;
        mesh(&mut chart, s, "replicas")?;
        let grey = BLACK.mix(0.35).stroke_width(1);
        chart
            .draw_series(line_runs(&s.x, &needed).into_iter().map(|r| PathElement::new(r, grey)))?
            .label("demand ÷ capacity")
            .legend(line_key(grey));
        // Wider lines first, so a policy that matches another still shows as a stripe around it.
        for (i, (name, reps)) in s.replicas.iter().enumerate().rev() {
            let style = policy_color(name, i).stroke_width(2 + i.min(2) as u32);
            chart.draw_series(
                step_runs(&s.x, reps, s.x_end)
                    .into_iter()
                    .map(|r| PathElement::new(r, style)),
            )?;
        }
        for (i, (name, _)) in s.replicas.iter().enumerate() {
            let style = policy_color(name, i).stroke_width(3);
            chart
                .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())?
                .label(name.as_str())
                .legend(line_key(style));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

pub(super) fn slo_chart(s: &Sampled, slo: f64) -> Result<String> {
    let lanes_height = 30 + 36 * s.violation.len().max(1) as u32;
    svg(lanes_height + 280, |root| {
        let (top, bottom) = root.split_vertically(lanes_height);
        draw_lanes(&top, s)?;
        draw_latency(&bottom, s, slo)
    })
}

pub(super) fn draw_lanes(area: &Area, s: &Sampled) -> DrawResult<()> {
    let lanes = s.violation.len().max(1) as f64;
    let mut chart = cartesian(area, s.x_range.clone(), 0.0..lanes, false)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(12)
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.08))
        .draw()?;
    let min_width = (s.x_range.end - s.x_range.start) / 1000.0;
    for (i, (name, flags)) in s.violation.iter().enumerate() {
        let centre = lanes - i as f64 - 0.5;
        let lane = |a: f64, b: f64| [(a, centre - 0.32), (b, centre + 0.32)];
        let spans = true_runs(flags, &s.x, s.x_end, min_width);
        chart.draw_series(std::iter::once(Rectangle::new(
            lane(s.x_range.start, s.x_range.end),
            BLACK.mix(0.05).filled(),
        )))?;
        chart.draw_series(
            spans
                .into_iter()
                .map(|(a, b)| Rectangle::new(lane(a, b), VIOLATION.mix(0.85).filled())),
        )?;
        // A strip under the lane, coloured by each violation's cause.
        if let Some(causes) = s.causes.get(name) {
            let strip = |a: f64, b: f64| [(a, centre - 0.46), (b, centre - 0.34)];
            for (cause, color) in CAUSE_COLORS {
                let is: Vec<bool> = causes.iter().map(|c| c == cause).collect();
                chart.draw_series(
                    true_runs(&is, &s.x, s.x_end, min_width)
                        .into_iter()
                        .map(|(a, b)| Rectangle::new(strip(a, b), color.filled())),
                )?;
            }
        }
        let (px, py) = chart.backend_coord(&(s.x_range.start, centre));
        let color = policy_color(name, i);
        let style = TextStyle::from(("sans-serif", 16).into_font())
            .color(&color)
            .pos(Pos::new(HPos::Right, VPos::Center));
        area.draw(&Text::new(name.as_str(), (px - 8, py), style))?;
    }
    if s.violation.is_empty() {
        let (px, py) = chart.backend_coord(&(s.x_range.start, 0.5));
        area.draw(&Text::new(
            "no per-policy violation data",
            (px + 8, py),
            ("sans-serif", 13).into_font(),
        ))?;
    }
    Ok(())
}

/// Latency axis: up to four times the SLO, so one overload spike does not hide the rest.
pub(super) fn latency_axis(s: &Sampled, slo: f64) -> f64 {
    let seen = finite_max(s.p95.iter().flat_map(|(_, v)| v));
    let slo = if slo.is_finite() && slo > 0.0 { slo } else { 0.0 };
    let mut top = if seen.is_finite() {
        seen.max(slo * 1.5)
    } else {
        slo * 1.5
    };
    if slo > 0.0 {
        top = top.min(slo * 4.0);
    }
    axis(0.0, top * 1.05).end
}

pub(super) fn draw_latency(area: &Area, s: &Sampled, slo: f64) -> DrawResult<()> {
    let cap = latency_axis(s, slo);
    let mut chart = cartesian(area, s.x_range.clone(), 0.0..cap, true)?;
    mesh(&mut chart, s, "p95 latency (s)")?;
    for (i, (name, latency)) in s.p95.iter().enumerate() {
        let style = policy_color(name, i).stroke_width(1);
        let pinned: Vec<f64> = latency
            .iter()
            .map(|&v| if v.is_nan() { v } else { v.min(cap) })
            .collect();
        chart
            .draw_series(line_runs(&s.x, &pinned).into_iter().map(|r| PathElement::new(r, style)))?
            .label(name.as_str())
            .legend(line_key(policy_color(name, i).stroke_width(3)));
    }
    if s.predicted.iter().any(|v| v.is_finite()) {
        let style = FORECAST.stroke_width(2);
        let pinned: Vec<f64> = s.predicted.iter().map(|&v| v.min(cap)).collect();
        chart
            .draw_series(
                line_runs(&s.x, &pinned)
                    .into_iter()
                    .map(|r| DashedPathElement::new(r, 3, 3, style)),
            )?
            .label("predicted p95 (predictive)")
            .legend(line_key(style));
    }
    if slo.is_finite() && slo > 0.0 && slo <= cap {
        let style = VIOLATION.stroke_width(2);
        let line = vec![(s.x_range.start, slo), (s.x_range.end, slo)];
        chart
            .draw_series(std::iter::once(DashedPathElement::new(line, 8, 5, style)))?
            .label("SLO")
            .legend(line_key(style));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}
