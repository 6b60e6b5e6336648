//! The two latency plots of a run folder, drawn as Jepsen's `checker/perf.clj` draws its
//! `latency-quantiles.png` and `latency-raw.png`: `latency-quantiles.svg` ([`quantiles_svg`]) and
//! `latency-raw.svg` ([`raw_svg`]), each a standalone SVG document 1000 px wide.
//!
//! Both share one frame: x is seconds since the load began (`0..end_s`), y the latency in
//! milliseconds on a log scale, with one panel per node stacked vertically (small multiples on
//! the same axes, each labelled with its node's name in its top left corner), a legend in a
//! column on the right, and every fault's period (from [`super::fault_spans`]) shaded grey over
//! every panel and labelled once, in a strip above the first panel. The shading is grey, not
//! the red of `plot.svg`, because red here is the colour of the `fail` outcome.
//!
//! * **Quantiles**: per node, the `ok` operations' p50, p95, p99, p99.9 and maximum of each
//!   second as step lines (second `s`, 1-based, covering `[s-1, s)`, is a segment from `s-1` to
//!   `s`, as `plot.svg` draws its seconds; a second without an `ok` operation leaves a gap), one
//!   colour per quantile; and the `fail` and `info` operations' maximum of each second as points
//!   in the middle of that second (fail red, info orange, as Jepsen colours its outcomes).
//! * **Raw**: every operation kept in the run's uniform sample (`latency.tsv`: at most 3,000 ok
//!   and 1,000 each fail and info per node) as a translucent point at the time it ended and its
//!   latency, coloured by outcome (ok blue, fail red, info orange; ok drawn first, then info,
//!   then fail, so the rarer outcomes stay visible). One panel per node rather than one panel
//!   with a shape per node: colour already says the outcome, and a node's outage (its ok points
//!   stopping, its fail or info points appearing) must stay visible when the other nodes keep
//!   serving under it. A line under the panels says that the points are a sample, and how many
//!   of how many operations they are.
//!
//! The y range is shared by the panels: the decades around every value drawn, never beyond
//! [`MIN_MS`] to [`MAX_MS`] (the histograms' 60 s); a value outside (0 ms, say, or an hour) is
//! drawn at the edge. A fault outside `0..end_s` is cut to it, or not drawn. A node without an
//! operation gets its panel with "no operations" written in it; a run without any latency a
//! small picture saying "no latency recorded". The raw plot's size grows with its points (about
//! 100 bytes each, some 1.5 MB for 3 nodes of 5,000), the quantiles' with the seconds.

use plotters::coord::combinators::LogCoord;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::plot::{label_span, stagger, tick, CHAR_PX, FONT, LABEL_SIZE, ROW_PX};
use crate::load::latency::{LatencySample, NodeLatency, Outcome, SecondLatency};
use crate::node::NodeName;

/// What the two latency plots show.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyPlotData {
    /// The run's title ("smoke (etcd, 3 nodes)"); each plot adds what it shows.
    pub title: String,
    /// The nodes, one panel each, in this order.
    pub nodes: Vec<NodeName>,
    /// The load's length in seconds: the x axis' end.
    pub end_s: f64,
    /// When each fault was in force, `(start_s, end_s, label)` in seconds since the load began
    /// ([`super::fault_spans`]).
    pub faults: Vec<(f64, f64, String)>,
    /// Each node's latency per outcome and second (matched to `nodes` by name).
    pub latency: Vec<NodeLatency>,
    /// Each node's kept sample of operations, in `nodes` order.
    pub samples: Vec<Vec<LatencySample>>,
}

/// The bottom of the log axis, in milliseconds: anything faster is drawn here.
pub const MIN_MS: f64 = 0.01;
/// The top of the log axis, in milliseconds (60 s, the histograms' highest value).
pub const MAX_MS: f64 = 60_000.0;

/// Width of the picture, in pixels.
const WIDTH_PX: u32 = 1000;
/// Width of the legend column on the right.
const LEGEND_PX: u32 = 150;
/// Height of the title.
const TITLE_PX: u32 = 40;
/// Height of one node's panel.
const PANEL_PX: u32 = 170;
/// What the last panel has more, for the x axis' description.
const X_DESC_PX: u32 = 25;
/// Height of the line under the raw plot's panels that says the points are a sample.
const NOTE_PX: u32 = 26;
/// Height of the picture that says there is no latency.
const EMPTY_HEIGHT_PX: u32 = 300;
/// Each panel's margin left and right, and the width of its y tick labels (both as in
/// `plot.svg`): the plotting area starts this far from the left.
const MARGIN_PX: u32 = 10;
const Y_LABELS_PX: u32 = 65;
/// Radius of a raw point, and of a fail or info maximum.
const POINT_R: u32 = 2;
const MAX_POINT_R: u32 = 3;
/// Radius of a point in the legend (unlike any point of the data, so they can be told apart).
const LEGEND_R: u32 = 4;
/// Opacity of a raw point.
const POINT_OPACITY: f64 = 0.6;

/// Ok in blue, fail in red, info in orange (Tableau 10).
const OK_COLOR: RGBColor = RGBColor(31, 119, 180);
const FAIL_COLOR: RGBColor = RGBColor(214, 39, 40);
const INFO_COLOR: RGBColor = RGBColor(255, 127, 14);
/// The fault shading (drawn with [`SHADE_OPACITY`]) and its labels.
const SHADE_COLOR: RGBColor = RGBColor(90, 90, 90);
const SHADE_OPACITY: f64 = 0.15;
const SHADE_LABEL_COLOR: RGBColor = RGBColor(60, 60, 60);

/// The quantile lines: name, colour, stroke width, and which figure of a second.
type Quantile = (&'static str, RGBColor, u32, fn(&SecondLatency) -> f64);
const QUANTILES: [Quantile; 5] = [
    ("p50", RGBColor(31, 119, 180), 2, |s| s.p50_ms),
    ("p95", RGBColor(23, 190, 207), 2, |s| s.p95_ms),
    ("p99", RGBColor(44, 160, 44), 2, |s| s.p99_ms),
    ("p99.9", RGBColor(148, 103, 189), 2, |s| s.p999_ms),
    ("max", RGBColor(40, 40, 40), 1, |s| s.max_ms),
];

/// The colour of an outcome's points.
fn outcome_color(o: Outcome) -> RGBColor {
    match o {
        Outcome::Ok => OK_COLOR,
        Outcome::Fail => FAIL_COLOR,
        Outcome::Info => INFO_COLOR,
    }
}

/// Which plot is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Quantiles,
    Raw,
}

/// `latency-quantiles.svg`: per node, the ok operations' p50, p95, p99, p99.9 and maximum of each
/// second as step lines, and the fail and info operations' maximum of each second as points.
///
/// Errors: a message string when plotters fails (should not happen for valid data).
pub fn quantiles_svg(data: &LatencyPlotData) -> Result<String, String> {
    render(data, Kind::Quantiles)
}

/// `latency-raw.svg`: every kept operation as a point (time it ended, latency), coloured by
/// outcome, one panel per node.
///
/// Errors: a message string when plotters fails (should not happen for valid data).
pub fn raw_svg(data: &LatencyPlotData) -> Result<String, String> {
    render(data, Kind::Raw)
}

/// Any plotters drawing error, boxed so that every helper can use `?`.
type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// A panel's chart: seconds on x, milliseconds on a log y.
type Panel<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, LogCoord<f64>>>;

/// Whether any operation was timed or kept.
fn has_latency(data: &LatencyPlotData) -> bool {
    data.latency.iter().any(|n| {
        Outcome::ALL
            .iter()
            .any(|&o| n.of(o).count > 0 || !n.of(o).seconds.is_empty())
    }) || data.samples.iter().any(|s| !s.is_empty())
}

/// The latency of node `name`, if the data has it.
fn node_latency<'a>(data: &'a LatencyPlotData, name: &NodeName) -> Option<&'a NodeLatency> {
    data.latency.iter().find(|n| &n.node == name)
}

/// The x axis' end: the load's length, or without one the last second or sample (at least 1 s).
fn x_end(data: &LatencyPlotData) -> f64 {
    if data.end_s.is_finite() && data.end_s > 0.0 {
        return data.end_s;
    }
    let last_sec = data
        .latency
        .iter()
        .flat_map(|n| Outcome::ALL.map(|o| n.of(o).seconds.last().map_or(0, |s| s.sec)))
        .max()
        .unwrap_or(0) as f64;
    let last_sample = data
        .samples
        .iter()
        .flatten()
        .map(|s| s.at_us as f64 / 1e6)
        .fold(0.0, f64::max);
    last_sec.max(last_sample).max(1.0)
}

/// The log axis' range for `values` (ms): from the decade at or below the smallest positive one
/// to the decade at or above the largest, within [`MIN_MS`]..[`MAX_MS`], at least one decade
/// wide (0.1 to 10 ms without any value).
pub fn y_range(values: impl IntoIterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for v in values {
        if v.is_finite() && v > 0.0 {
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    if hi == 0.0 {
        return (0.1, 10.0);
    }
    let lo = 10f64
        .powf(lo.clamp(MIN_MS, MAX_MS).log10().floor())
        .max(MIN_MS);
    let hi = 10f64
        .powf(hi.clamp(MIN_MS, MAX_MS).log10().ceil())
        .min(MAX_MS);
    if hi / lo < 9.99 {
        if lo * 10.0 <= MAX_MS {
            (lo, lo * 10.0)
        } else {
            (hi / 10.0, hi)
        }
    } else {
        (lo, hi)
    }
}

/// Every value a plot draws on its y axis, in ms.
fn y_values(data: &LatencyPlotData, kind: Kind) -> Vec<f64> {
    match kind {
        Kind::Quantiles => {
            let mut v = Vec::new();
            for n in &data.latency {
                for s in &n.ok.seconds {
                    v.extend(QUANTILES.iter().map(|q| (q.3)(s)));
                }
                for s in n.fail.seconds.iter().chain(&n.info.seconds) {
                    v.push(s.max_ms);
                }
            }
            v
        }
        Kind::Raw => data
            .samples
            .iter()
            .flatten()
            .map(|s| s.latency_us as f64 / 1000.0)
            .collect(),
    }
}

/// Step lines of one quantile of `seconds`: one point list per run of consecutive seconds, each
/// second `s` a segment from `s-1` to `s` (cut at `x_max`) at its value, clamped to `lo..=hi`;
/// a second whose value is 0 (or NaN) is left out, as one without an operation is.
fn step_runs(
    seconds: &[SecondLatency],
    pick: fn(&SecondLatency) -> f64,
    (lo, hi): (f64, f64),
    x_max: f64,
) -> Vec<Vec<(f64, f64)>> {
    // A figure of 0 is one the summary does not have (written before p95 and p99.9 were): no
    // operation takes 0 ms (the histograms start at 1 µs).
    let mut sorted: Vec<&SecondLatency> = seconds.iter().filter(|s| pick(s) > 0.0).collect();
    sorted.sort_by_key(|s| s.sec);
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut last: Option<u64> = None;
    for s in sorted {
        let x0 = s.sec.saturating_sub(1) as f64;
        if x0 >= x_max {
            break;
        }
        let v = clamp_ms(pick(s), lo, hi);
        if last.map(|l| l + 1) != Some(s.sec) {
            runs.push(Vec::new());
        }
        if let Some(r) = runs.last_mut() {
            r.push((x0, v));
            r.push(((s.sec as f64).min(x_max), v));
        }
        last = Some(s.sec);
    }
    runs
}

/// `v` within the axis' range (NaN at its bottom).
fn clamp_ms(v: f64, lo: f64, hi: f64) -> f64 {
    if v.is_nan() {
        lo
    } else {
        v.clamp(lo, hi)
    }
}

/// The faults cut to `0..=x_max`, those left with a length.
fn clipped_faults(data: &LatencyPlotData, x_max: f64) -> Vec<(f64, f64, &str)> {
    data.faults
        .iter()
        .filter(|(a, b, _)| a.is_finite() && b.is_finite())
        .map(|(a, b, l)| {
            let (a, b) = (a.min(*b), a.max(*b));
            (a.clamp(0.0, x_max), b.clamp(0.0, x_max), l.as_str())
        })
        .filter(|(a, b, _)| a < b)
        .collect()
}

/// A y tick label: `0.01`, `0.1`, `1`, `10`, `1000`.
fn ms_tick(v: &f64) -> String {
    if *v >= 1.0 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').to_string()
    }
}

/// `12345` as `12,345`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The raw plot's line under the panels.
fn sample_note(data: &LatencyPlotData) -> String {
    let drawn: u64 = data.samples.iter().map(|s| s.len() as u64).sum();
    let timed: u64 = data
        .latency
        .iter()
        .map(|n| Outcome::ALL.iter().map(|&o| n.of(o).count).sum::<u64>())
        .sum();
    if drawn == 0 {
        return format!(
            "No operation was sampled (this run folder has no latency.tsv); {} operations were timed.",
            thousands(timed)
        );
    }
    let of = if timed >= drawn {
        format!("{} of {} operations", thousands(drawn), thousands(timed))
    } else {
        format!("{} operations", thousands(drawn))
    };
    format!(
        "Each point is one operation of a uniform sample: {of} (at most 3,000 ok and 1,000 each fail and info per node)."
    )
}

/// Render `kind` as a complete SVG document.
fn render(data: &LatencyPlotData, kind: Kind) -> Result<String, String> {
    let x_max = x_end(data);
    let faults = clipped_faults(data, x_max);
    // Rows of fault labels, from each label's estimated extent (the panels' plotting area
    // runs from MARGIN + Y_LABELS to WIDTH - LEGEND - MARGIN).
    let left = (MARGIN_PX + Y_LABELS_PX) as f64;
    let right = (WIDTH_PX - LEGEND_PX - MARGIN_PX) as f64;
    let est = |t: f64| (left + t / x_max * (right - left)) as i32;
    let spans: Vec<(i32, i32)> = faults
        .iter()
        .map(|&(a, _, l)| {
            let (s, e, _) = label_span(l, est(a), right as i32);
            (s, e)
        })
        .collect();
    let rows = stagger(&spans).into_iter().max().map_or(0, |r| r + 1) as u32;
    let strip_px = if rows == 0 {
        6
    } else {
        8 + ROW_PX as u32 * rows
    };
    let height = if has_latency(data) {
        TITLE_PX
            + strip_px
            + PANEL_PX * data.nodes.len().max(1) as u32
            + X_DESC_PX
            + if kind == Kind::Raw { NOTE_PX } else { 0 }
    } else {
        EMPTY_HEIGHT_PX
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH_PX, height)).into_drawing_area();
        draw(&root, data, kind, (x_max, &faults, strip_px)).map_err(|e| format!("plot: {e}"))?;
        root.present().map_err(|e| format!("plot: {e}"))?;
    }
    Ok(svg)
}

/// Draws the whole picture onto `root`.
fn draw(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    data: &LatencyPlotData,
    kind: Kind,
    (x_max, faults, strip_px): (f64, &[(f64, f64, &str)], u32),
) -> DrawResult {
    root.fill(&WHITE)?;
    let title = match kind {
        Kind::Quantiles => format!("{}: latency quantiles", data.title),
        Kind::Raw => format!("{}: latency of every operation (sampled)", data.title),
    };
    let (title_area, body) = root.split_vertically(TITLE_PX);
    title_area.draw(&Text::new(
        title,
        ((WIDTH_PX / 2) as i32, (TITLE_PX / 2) as i32),
        (FONT, 22)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    let grey = (FONT, 20)
        .into_font()
        .color(&RGBColor(120, 120, 120))
        .pos(Pos::new(HPos::Center, VPos::Center));
    if !has_latency(data) {
        let (w, h) = body.dim_in_pixel();
        body.draw(&Text::new(
            "no latency recorded",
            ((w / 2) as i32, (h / 2) as i32),
            grey,
        ))?;
        return Ok(());
    }
    let (main, legend) = body.split_horizontally(WIDTH_PX - LEGEND_PX);
    let (main, note) = if kind == Kind::Raw {
        let h = main.dim_in_pixel().1;
        let (m, n) = main.split_vertically(h.saturating_sub(NOTE_PX));
        (m, Some(n))
    } else {
        (main, None)
    };
    let (strip, mut rest) = main.split_vertically(strip_px);
    let range = y_range(y_values(data, kind));
    let decades = (range.1 / range.0).log10().round().max(1.0) as usize;
    let mut x_px: Option<(i32, i32)> = None;
    let count = data.nodes.len();
    for (i, name) in data.nodes.iter().enumerate() {
        let last = i + 1 == count;
        let area = if last {
            rest.clone()
        } else {
            let (a, b) = rest.split_vertically(PANEL_PX);
            rest = b;
            a
        };
        let mut chart = ChartBuilder::on(&area)
            .margin_left(MARGIN_PX)
            .margin_right(MARGIN_PX)
            .margin_top(4)
            .margin_bottom(4)
            .x_label_area_size(if last { 20 + X_DESC_PX } else { 20 })
            .y_label_area_size(Y_LABELS_PX)
            // A hair below the bottom decade, or plotters' rounding leaves its tick unlabelled.
            .build_cartesian_2d(0f64..x_max, (range.0 * 0.999..range.1).log_scale())?;
        let mut mesh = chart.configure_mesh();
        mesh.y_desc("ms")
            .x_label_formatter(&tick)
            .y_label_formatter(&ms_tick)
            .y_labels(decades + 1)
            .axis_desc_style((FONT, 14))
            .label_style((FONT, 13))
            .light_line_style(RGBColor(245, 245, 245))
            .bold_line_style(RGBColor(215, 215, 215));
        if last {
            mesh.x_desc("seconds since load start");
        }
        mesh.draw()?;
        if x_px.is_none() {
            x_px = Some((
                chart.backend_coord(&(0.0, range.0)).0,
                chart.backend_coord(&(x_max, range.0)).0,
            ));
        }
        for &(a, b, _) in faults {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(a, range.0), (b, range.1)],
                SHADE_COLOR.mix(SHADE_OPACITY).filled(),
            )))?;
        }
        let drawn = match kind {
            Kind::Quantiles => draw_quantiles(&mut chart, node_latency(data, name), range, x_max)?,
            Kind::Raw => draw_raw(
                &mut chart,
                data.samples.get(i).map_or(&[][..], |v| v),
                range,
                x_max,
            )?,
        };
        if !drawn {
            let what = match kind {
                Kind::Quantiles => "no operations",
                Kind::Raw => "no operation sampled",
            };
            chart.draw_series(std::iter::once(Text::new(
                what,
                (x_max / 2.0, (range.0 * range.1).sqrt()),
                grey.clone(),
            )))?;
        }
        // The node's name in the top left corner, on a pale box over whatever is there.
        let w = CHAR_PX * name.chars().count() as i32 + 10;
        chart.draw_series(std::iter::once(
            EmptyElement::at((0.0, range.1))
                + Rectangle::new([(2, 2), (2 + w, 22)], WHITE.mix(0.85).filled())
                + Text::new(
                    name.to_string(),
                    (7, 5),
                    (FONT, 16).into_font().style(FontStyle::Bold).color(&BLACK),
                ),
        ))?;
    }
    draw_fault_labels(&strip, faults, x_px.unwrap_or((0, 0)), x_max)?;
    draw_legend(&legend, kind, !faults.is_empty())?;
    if let Some(note) = note {
        note.draw(&Text::new(
            sample_note(data),
            ((MARGIN_PX + 4) as i32, (NOTE_PX / 2) as i32),
            (FONT, 14)
                .into_font()
                .color(&RGBColor(70, 70, 70))
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// One node's quantile lines and fail and info maxima; whether anything was drawn.
fn draw_quantiles(
    chart: &mut Panel<'_, '_>,
    node: Option<&NodeLatency>,
    range: (f64, f64),
    x_max: f64,
) -> Result<bool, Box<dyn std::error::Error>> {
    let Some(n) = node else {
        return Ok(false);
    };
    let mut drawn = false;
    for (_, color, width, pick) in QUANTILES {
        for run in step_runs(&n.ok.seconds, pick, range, x_max) {
            chart.draw_series(LineSeries::new(run, color.stroke_width(width)))?;
            drawn = true;
        }
    }
    for o in [Outcome::Info, Outcome::Fail] {
        let color = outcome_color(o);
        let points: Vec<(f64, f64)> = n
            .of(o)
            .seconds
            .iter()
            .filter(|s| s.max_ms > 0.0)
            .map(|s| (s.sec as f64 - 0.5, clamp_ms(s.max_ms, range.0, range.1)))
            .filter(|&(x, _)| x <= x_max)
            .collect();
        drawn |= !points.is_empty();
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, MAX_POINT_R, color.filled())),
        )?;
    }
    Ok(drawn)
}

/// Where a raw point is drawn: (seconds, ms) within the axes.
fn raw_point(s: &LatencySample, (lo, hi): (f64, f64), x_max: f64) -> (f64, f64) {
    (
        (s.at_us as f64 / 1e6).clamp(0.0, x_max),
        clamp_ms(s.latency_us as f64 / 1000.0, lo, hi),
    )
}

/// One node's sampled operations as points, ok then info then fail; whether any was drawn.
fn draw_raw(
    chart: &mut Panel<'_, '_>,
    samples: &[LatencySample],
    range: (f64, f64),
    x_max: f64,
) -> Result<bool, Box<dyn std::error::Error>> {
    for o in [Outcome::Ok, Outcome::Info, Outcome::Fail] {
        let style = outcome_color(o).mix(POINT_OPACITY).filled();
        chart.draw_series(
            samples
                .iter()
                .filter(|s| s.outcome == o)
                .map(|s| Circle::new(raw_point(s, range, x_max), POINT_R, style)),
        )?;
    }
    Ok(!samples.is_empty())
}

/// The faults' labels in the strip above the panels, each at its start, staggered in rows.
fn draw_fault_labels(
    strip: &DrawingArea<SVGBackend<'_>, Shift>,
    faults: &[(f64, f64, &str)],
    (x0, x1): (i32, i32),
    x_max: f64,
) -> DrawResult {
    let base = strip.get_base_pixel().0;
    let px = |t: f64| x0 - base + ((t / x_max) * f64::from(x1 - x0)).round() as i32;
    let spans: Vec<(i32, i32, bool)> = faults
        .iter()
        .map(|&(a, _, l)| label_span(l, px(a), x1 - base))
        .collect();
    let rows = stagger(&spans.iter().map(|&(a, b, _)| (a, b)).collect::<Vec<_>>());
    let font = (FONT, LABEL_SIZE).into_font();
    for ((&(a, _, label), &(_, _, left)), row) in faults.iter().zip(&spans).zip(rows) {
        let (dx, h) = if left {
            (-4, HPos::Right)
        } else {
            (4, HPos::Left)
        };
        let style = font
            .clone()
            .color(&SHADE_LABEL_COLOR)
            .pos(Pos::new(h, VPos::Top));
        strip.draw(&Text::new(
            label.to_string(),
            (px(a) + dx, 4 + ROW_PX * row as i32),
            style,
        ))?;
    }
    Ok(())
}

/// The legend column: the quantile lines or the outcomes, and the fault shading when there is
/// one.
fn draw_legend(area: &DrawingArea<SVGBackend<'_>, Shift>, kind: Kind, faults: bool) -> DrawResult {
    enum Key {
        Line(RGBColor, u32),
        Point(RGBColor),
        Shade,
    }
    let mut entries: Vec<(&str, Key)> = match kind {
        Kind::Quantiles => {
            let mut e: Vec<(&str, Key)> = QUANTILES
                .iter()
                .map(|&(name, color, width, _)| (name, Key::Line(color, width)))
                .collect();
            e.push(("fail (max)", Key::Point(FAIL_COLOR)));
            e.push(("info (max)", Key::Point(INFO_COLOR)));
            e
        }
        Kind::Raw => Outcome::ALL
            .iter()
            .map(|&o| (o.name(), Key::Point(outcome_color(o))))
            .collect(),
    };
    if faults {
        entries.push(("fault", Key::Shade));
    }
    let style = (FONT, LABEL_SIZE)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (label, key)) in entries.into_iter().enumerate() {
        let y = 30 + 22 * i as i32;
        match key {
            Key::Line(color, width) => {
                area.draw(&PathElement::new(
                    vec![(10, y), (38, y)],
                    color.stroke_width(width),
                ))?;
            }
            Key::Point(color) => area.draw(&Circle::new((24, y), LEGEND_R, color.filled()))?,
            Key::Shade => area.draw(&Rectangle::new(
                [(10, y - 6), (38, y + 6)],
                SHADE_COLOR.mix(SHADE_OPACITY).filled(),
            ))?,
        }
        area.draw(&Text::new(label, (46, y), style.clone()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
