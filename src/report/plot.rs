//! Renders the plot of one experiment run as a standalone SVG document.
//!
//! The picture (1000x500 px) shows, over "seconds since load start":
//!
//! * one coloured line per node and one thicker black "total" line (the sum of
//!   the node columns), in successful iterations per second;
//! * each fault ([`Mark`]) as a vertical red line over the full height, with its
//!   label near the top (labels that would collide are staggered in rows);
//! * each unavailability window ([`Shade`]) as a light translucent red band over
//!   the full height, with its label near the bottom;
//! * a legend to the right of the chart.
//!
//! **Time convention: step lines.** The count of second `s` (1-based, covering
//! `[s-1, s)` seconds since the load started) is drawn as a horizontal segment
//! from `x = s-1` to `x = s`, so the lines share the exact time axis of the
//! marks and shades: a gap from 10.0 s to 11.3 s shows up as a drop in the
//! segments over `[10, 11)` and `[11, 12)`.
//!
//! Marks and shades outside the x range `[0, last second]` are clipped (a mark
//! outside it is not drawn; a shade is cut to the range). Text is emitted as
//! SVG `<text>` elements and laid out with plotters' built-in size estimate, so
//! rendering needs no font files; the viewer of the SVG picks a sans-serif font.

use crate::node::NodeName;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Everything the plot shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlotData {
    /// Title at the top, e.g. "etcd-kill-leader (etcd, 3 nodes)".
    pub title: String,
    /// Node names, in column order ("n1", "n2", "n3").
    pub nodes: Vec<NodeName>,
    /// One entry per second of the load: (sec, per-node successful iterations in that second).
    /// `sec` is 1-based as in the TSV lines: second `s` covers [s-1, s) seconds since the load started.
    ///
    /// The count vector is in the column order of `nodes`; a missing column
    /// counts as 0 and columns beyond `nodes.len()` are ignored. Entries need
    /// not be sorted.
    pub seconds: Vec<(u64, Vec<u64>)>,
    /// Vertical marks (faults), at `t_s` seconds since the load started, with a short label ("kill n2 (leader)").
    pub marks: Vec<Mark>,
    /// Shaded spans (unavailability windows), seconds since the load started.
    pub shades: Vec<Shade>,
    /// The seconds (1-based, as in `seconds`) in which the loop's check saw an anomaly (a lost
    /// write, a stale, reverted or impossible read) or a transactional workload's checker did,
    /// marked along the bottom of the chart.
    pub anomalies: Vec<u64>,
    /// Promotions the system logged (dashed vertical lines, labelled at mid-height: "n2
    /// promoted"), at `t_s` seconds since the load started.
    pub promotions: Vec<Mark>,
    /// Per node (in `nodes` order), the latency of each second that had a success: (sec as in
    /// `seconds`, p50 ms, p99 ms). When any node has one, a second panel under the first draws
    /// them (p99 solid, p50 dashed, log scale) and the picture is [`HEIGHT_WITH_LATENCY_PX`]
    /// high.
    pub latency: Vec<Vec<(u64, f64, f64)>>,
}

/// A vertical line marking an instant (typically a fault being injected or healed).
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// When, in seconds since the load started (fractional).
    pub t_s: f64,
    /// Short label written near the top of the line, e.g. "kill n2 (leader)".
    pub label: String,
}

/// A shaded span over the full height (typically an unavailability window).
#[derive(Debug, Clone, PartialEq)]
pub struct Shade {
    /// Start of the span, in seconds since the load started (fractional).
    pub start_s: f64,
    /// End of the span, in seconds since the load started (fractional).
    pub end_s: f64,
    /// Short label written near the bottom of the span, e.g. "window 1.32 s".
    pub label: String,
}

/// Width of the whole SVG document, in pixels.
const WIDTH_PX: u32 = 1000;
/// Height of the whole SVG document, in pixels.
const HEIGHT_PX: u32 = 500;
/// Height with the latency panel, in pixels (the panel takes what is added).
pub const HEIGHT_WITH_LATENCY_PX: u32 = 800;
/// Width of the legend column on the right, in pixels.
const LEGEND_PX: u32 = 150;
/// Font family of every text (resolved by whoever displays the SVG).
pub(super) const FONT: &str = "sans-serif";
/// Font size of mark/shade labels and legend entries, in plotters units
/// (plotters writes `size / 1.24` px into the SVG).
pub(super) const LABEL_SIZE: f64 = 15.0;
/// Rough width of one character of a label, in pixels (for staggering only).
pub(super) const CHAR_PX: i32 = 8;
/// Vertical distance between staggered label rows, in pixels.
pub(super) const ROW_PX: i32 = 16;
/// Number of label rows before they wrap around to the first one.
const MAX_ROWS: usize = 5;
/// Colour of the marks and of their labels.
const MARK_COLOR: RGBColor = RGBColor(214, 39, 40);
/// Colour of the shades (drawn with [`SHADE_OPACITY`]) and of their labels.
const SHADE_COLOR: RGBColor = RGBColor(214, 39, 40);
/// Opacity of the shades (0 = invisible, 1 = opaque).
const SHADE_OPACITY: f64 = 0.15;
/// Colour of the anomaly marks along the bottom (purple: not a fault, not a window).
const ANOMALY_COLOR: RGBColor = RGBColor(106, 27, 154);
/// Colour of the promotion marks (dark green: the system's own account, not a fault).
const PROMOTION_COLOR: RGBColor = RGBColor(0, 110, 60);
/// Height of an anomaly mark, as a share of the y range.
const ANOMALY_HEIGHT: f64 = 0.05;

/// Colour of shade labels.
const SHADE_LABEL_COLOR: RGBColor = RGBColor(150, 20, 20);
/// Node line colours (Tableau 10 without its red, which is kept for faults),
/// reused cyclically past 9 nodes.
const NODE_COLORS: [RGBColor; 9] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Render as an SVG document (a complete `<svg ...>...</svg>` string), 1000x500 px, or
/// 1000x800 px with the latency panel.
/// Errors: a message string when plotters fails (should not happen for valid data).
pub fn render_svg(data: &PlotData) -> Result<String, String> {
    let mut svg = String::new();
    let with_latency = data.latency.iter().any(|n| !n.is_empty());
    let height = if with_latency {
        HEIGHT_WITH_LATENCY_PX
    } else {
        HEIGHT_PX
    };
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH_PX, height)).into_drawing_area();
        draw(&root, data, with_latency).map_err(|e| format!("plot: {e}"))?;
        root.present().map_err(|e| format!("plot: {e}"))?;
    }
    Ok(svg)
}

/// Any plotters drawing error, boxed so that every helper can use `?`.
type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// The node columns and the total, as step-line points (x in seconds, y in iterations/s).
struct Series {
    /// One point list per node, in `nodes` order.
    nodes: Vec<Vec<(f64, f64)>>,
    /// The total (sum of the node columns).
    total: Vec<(f64, f64)>,
    /// Highest total of any second, in iterations/s.
    max_total: u64,
    /// Last second (x axis end), in seconds; 0 without data.
    last_sec: u64,
}

/// Builds the step lines: second `s` spans `[s-1, s]` at its count.
fn series(data: &PlotData) -> Series {
    let mut seconds: Vec<&(u64, Vec<u64>)> = data.seconds.iter().collect();
    seconds.sort_by_key(|(sec, _)| *sec);
    let n = data.nodes.len();
    let mut out = Series {
        nodes: vec![Vec::with_capacity(seconds.len() * 2); n],
        total: Vec::with_capacity(seconds.len() * 2),
        max_total: 0,
        last_sec: 0,
    };
    for (sec, counts) in seconds {
        let (x0, x1) = (sec.saturating_sub(1) as f64, *sec as f64);
        let mut total = 0u64;
        for (i, line) in out.nodes.iter_mut().enumerate() {
            let c = counts.get(i).copied().unwrap_or(0);
            total = total.saturating_add(c);
            line.push((x0, c as f64));
            line.push((x1, c as f64));
        }
        out.total.push((x0, total as f64));
        out.total.push((x1, total as f64));
        out.max_total = out.max_total.max(total);
        out.last_sec = out.last_sec.max(*sec);
    }
    out
}

/// Tick label: integers without decimals, anything else with one decimal.
pub(super) fn tick(v: &f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Places labels in rows so that labels close together do not overlap.
///
/// `spans` are the estimated horizontal pixel extents of the labels, in the
/// order they are drawn; returns the row of each (0 = nearest the edge).
pub(super) fn stagger(spans: &[(i32, i32)]) -> Vec<usize> {
    let mut row_ends: Vec<i32> = Vec::new();
    spans
        .iter()
        .enumerate()
        .map(|(i, &(start, end))| {
            let row = match row_ends.iter().position(|&e| e + 6 <= start) {
                Some(r) => r,
                None if row_ends.len() < MAX_ROWS => {
                    row_ends.push(i32::MIN);
                    row_ends.len() - 1
                }
                None => i % MAX_ROWS,
            };
            row_ends[row] = row_ends[row].max(end);
            row
        })
        .collect()
}

/// Estimated horizontal pixel extent of a label anchored at `x_px`: to the
/// right of it, or to its left when it would overflow `right_px`.
/// Returns (start, end, drawn on the left).
pub(super) fn label_span(label: &str, x_px: i32, right_px: i32) -> (i32, i32, bool) {
    let w = CHAR_PX * label.chars().count() as i32;
    if x_px + 4 + w > right_px && x_px - 4 - w >= 0 {
        (x_px - 4 - w, x_px - 4, true)
    } else {
        (x_px + 4, x_px + 4 + w, false)
    }
}

/// Draws everything onto `root`.
fn draw(
    root: &DrawingArea<SVGBackend<'_>, Shift>,
    data: &PlotData,
    with_latency: bool,
) -> DrawResult {
    root.fill(&WHITE)?;
    let body = root.titled(&data.title, (FONT, 24).into_font())?;
    let (body, lower) = if with_latency {
        let (upper, lower) = body.split_vertically(HEIGHT_PX - 40);
        (upper, Some(lower))
    } else {
        (body, None)
    };
    let (chart_area, legend_area) = body.split_horizontally(WIDTH_PX - LEGEND_PX);

    let s = series(data);
    let x_max = s.last_sec.max(1) as f64;
    // Headroom above the highest total leaves room for the mark labels.
    let y_max = (s.max_total as f64 * 1.25).max(10.0);

    let mut chart = ChartBuilder::on(&chart_area)
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds since load start")
        .y_desc("successful iterations per second")
        .x_label_formatter(&tick)
        .y_label_formatter(&tick)
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .light_line_style(RGBColor(245, 245, 245))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;

    let plot_right_px = chart.backend_coord(&(x_max, 0.0)).0;
    let clip = |x: f64| x.clamp(0.0, x_max);
    let label_font = (FONT, LABEL_SIZE).into_font();

    // Shades, behind the lines, clipped to the x range.
    let shades: Vec<(f64, f64, &str)> = data
        .shades
        .iter()
        .filter(|sh| sh.start_s.is_finite() && sh.end_s.is_finite())
        .map(|sh| {
            let (a, b) = (sh.start_s.min(sh.end_s), sh.start_s.max(sh.end_s));
            (clip(a), clip(b), sh.label.as_str())
        })
        .filter(|(a, b, _)| a < b)
        .collect();
    for &(a, b, _) in &shades {
        chart.draw_series(std::iter::once(Rectangle::new(
            [(a, 0.0), (b, y_max)],
            SHADE_COLOR.mix(SHADE_OPACITY).filled(),
        )))?;
    }

    // Node lines, then the total on top.
    for (i, points) in s.nodes.iter().enumerate() {
        if !points.is_empty() {
            let color = NODE_COLORS[i % NODE_COLORS.len()];
            chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?;
        }
    }
    if s.total.is_empty() {
        let style = (FONT, 20)
            .into_font()
            .color(&RGBColor(120, 120, 120))
            .pos(Pos::new(HPos::Center, VPos::Center));
        chart.draw_series(std::iter::once(Text::new(
            "no data",
            (x_max / 2.0, y_max / 2.0),
            style,
        )))?;
    } else {
        chart.draw_series(LineSeries::new(s.total.clone(), BLACK.stroke_width(3)))?;
    }

    // Shade labels near the bottom, staggered upwards.
    let spans: Vec<(i32, i32, bool)> = shades
        .iter()
        .map(|&(a, _, label)| label_span(label, chart.backend_coord(&(a, 0.0)).0, plot_right_px))
        .collect();
    let rows = stagger(&spans.iter().map(|&(a, b, _)| (a, b)).collect::<Vec<_>>());
    for ((&(a, _, label), &(_, _, left)), row) in shades.iter().zip(&spans).zip(rows) {
        let (dx, h) = if left {
            (-4, HPos::Right)
        } else {
            (4, HPos::Left)
        };
        let style = label_font
            .clone()
            .color(&SHADE_LABEL_COLOR)
            .pos(Pos::new(h, VPos::Bottom));
        let dy = -4 - ROW_PX * row as i32;
        chart.draw_series(std::iter::once(
            EmptyElement::at((a, 0.0)) + Text::new(label.to_string(), (dx, dy), style),
        ))?;
    }

    // Anomalies: a bar along the bottom of each second in which one was seen.
    for &sec in &data.anomalies {
        let (a, b) = (clip(sec.saturating_sub(1) as f64), clip(sec as f64));
        if a < b {
            chart.draw_series(std::iter::once(Rectangle::new(
                [(a, 0.0), (b, y_max * ANOMALY_HEIGHT)],
                ANOMALY_COLOR.filled(),
            )))?;
        }
    }

    // Marks on top of everything, labels near the top, staggered downwards; promotions dashed,
    // labelled from mid-height down.
    let axes = (x_max, y_max, plot_right_px);
    let faults = VerticalMarks {
        color: MARK_COLOR,
        dashed: false,
        label_y: y_max,
        first_dy: 4,
    };
    faults.draw(&mut chart, &data.marks, axes)?;
    let promotions = VerticalMarks {
        color: PROMOTION_COLOR,
        dashed: true,
        label_y: y_max / 2.0,
        first_dy: 0,
    };
    promotions.draw(&mut chart, &data.promotions, axes)?;

    draw_legend(&legend_area, data)?;
    if let Some(lower) = lower {
        draw_latency(&lower, data, x_max)?;
    }
    Ok(())
}

/// The latency panel: per node, p99 (solid) and p50 (dashed) of each second with a success, as
/// steps over that second, on a log scale; seconds without a success leave a gap.
fn draw_latency(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    data: &PlotData,
    x_max: f64,
) -> DrawResult {
    let (chart_area, legend_area) = area.split_horizontally(WIDTH_PX - LEGEND_PX);
    let values = data.latency.iter().flatten().flat_map(|&(_, a, b)| [a, b]);
    let hi = values.clone().fold(0.0f64, f64::max).max(1.0) * 2.0;
    let lo = values
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min)
        .min(hi / 10.0)
        / 2.0;
    let mut chart = ChartBuilder::on(&chart_area)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(65)
        .build_cartesian_2d(0f64..x_max, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("seconds since load start")
        .y_desc("latency (ms)")
        .x_label_formatter(&tick)
        .y_label_formatter(&|v| {
            if *v >= 10.0 {
                format!("{v:.0}")
            } else if *v >= 1.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.2}")
            }
        })
        .axis_desc_style((FONT, 16))
        .label_style((FONT, 14))
        .light_line_style(RGBColor(245, 245, 245))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    for (i, seconds) in data.latency.iter().enumerate() {
        let color = NODE_COLORS[i % NODE_COLORS.len()];
        for (pick, dashed) in [(2usize, false), (1, true)] {
            for run in latency_runs(seconds, pick, lo) {
                if dashed {
                    chart.draw_series(DashedLineSeries::new(run, 5, 4, color.stroke_width(1)))?;
                } else {
                    chart.draw_series(LineSeries::new(run, color.stroke_width(2)))?;
                }
            }
        }
    }
    let style = (FONT, LABEL_SIZE)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (label, dashed)) in [("p99", false), ("p50", true)].into_iter().enumerate() {
        let y = 30 + 22 * i as i32;
        let line = BLACK.stroke_width(if dashed { 1 } else { 2 });
        if dashed {
            for x in [10, 20, 30] {
                legend_area.draw(&PathElement::new(vec![(x, y), (x + 6, y)], line))?;
            }
        } else {
            legend_area.draw(&PathElement::new(vec![(10, y), (38, y)], line))?;
        }
        legend_area.draw(&Text::new(label, (46, y), style.clone()))?;
    }
    Ok(())
}

/// Step lines for one node's latency: one point list per run of consecutive seconds, each second
/// `s` a segment from `s-1` to `s` at its value (`pick`: 1 = p50, 2 = p99), never below `floor`
/// (the log axis' bottom).
fn latency_runs(seconds: &[(u64, f64, f64)], pick: usize, floor: f64) -> Vec<Vec<(f64, f64)>> {
    let mut sorted = seconds.to_vec();
    sorted.sort_by_key(|s| s.0);
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut last: Option<u64> = None;
    for (sec, p50, p99) in sorted {
        let v = if pick == 1 { p50 } else { p99 }.max(floor);
        if last.map(|l| l + 1) != Some(sec) {
            runs.push(Vec::new());
        }
        if let Some(r) = runs.last_mut() {
            r.push((sec.saturating_sub(1) as f64, v));
            r.push((sec as f64, v));
        }
        last = Some(sec);
    }
    runs
}

/// How one kind of vertical mark is drawn: its colour, solid or dashed, and where its labels
/// start (in data units on the y axis, then `first_dy` pixels down), staggered in rows so that
/// labels close together do not overlap.
struct VerticalMarks {
    color: RGBColor,
    dashed: bool,
    label_y: f64,
    first_dy: i32,
}

impl VerticalMarks {
    /// Draw `marks` within `0..=x_max` (`axes`: x_max, y_max, the plot's right edge in pixels),
    /// in time order; a label near the right edge goes left of its line.
    fn draw(
        &self,
        chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
        marks: &[Mark],
        (x_max, y_max, right_px): (f64, f64, i32),
    ) -> DrawResult {
        let mut marks: Vec<&Mark> = marks
            .iter()
            .filter(|m| m.t_s.is_finite() && (0.0..=x_max).contains(&m.t_s))
            .collect();
        marks.sort_by(|a, b| a.t_s.total_cmp(&b.t_s));
        let line = self.color.stroke_width(2);
        for m in &marks {
            let ends = [(m.t_s, 0.0), (m.t_s, y_max)];
            if self.dashed {
                chart.draw_series(DashedLineSeries::new(ends, 6, 4, line))?;
            } else {
                chart.draw_series(LineSeries::new(ends, line))?;
            }
        }
        let spans: Vec<(i32, i32, bool)> = marks
            .iter()
            .map(|m| label_span(&m.label, chart.backend_coord(&(m.t_s, 0.0)).0, right_px))
            .collect();
        let rows = stagger(&spans.iter().map(|&(a, b, _)| (a, b)).collect::<Vec<_>>());
        let font = (FONT, LABEL_SIZE).into_font();
        for ((m, &(_, _, left)), row) in marks.iter().zip(&spans).zip(rows) {
            let (dx, h) = if left {
                (-4, HPos::Right)
            } else {
                (4, HPos::Left)
            };
            let style = font.clone().color(&self.color).pos(Pos::new(h, VPos::Top));
            let dy = self.first_dy + ROW_PX * row as i32;
            chart.draw_series(std::iter::once(
                EmptyElement::at((m.t_s, self.label_y))
                    + Text::new(m.label.clone(), (dx, dy), style),
            ))?;
        }
        Ok(())
    }
}

/// Draws the legend (nodes, total, and faults/unavailability when present)
/// in the column right of the chart.
fn draw_legend(area: &DrawingArea<SVGBackend<'_>, Shift>, data: &PlotData) -> DrawResult {
    let mut entries: Vec<(String, ShapeStyle, bool)> = data
        .nodes
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let color = NODE_COLORS[i % NODE_COLORS.len()];
            (name.to_string(), color.stroke_width(2), false)
        })
        .collect();
    entries.push(("total".to_string(), BLACK.stroke_width(3), false));
    if !data.marks.is_empty() {
        entries.push(("fault".to_string(), MARK_COLOR.stroke_width(2), false));
    }
    if !data.shades.is_empty() {
        entries.push((
            "unavailable".to_string(),
            SHADE_COLOR.mix(SHADE_OPACITY * 2.0).filled(),
            true,
        ));
    }
    if !data.anomalies.is_empty() {
        entries.push(("anomaly".to_string(), ANOMALY_COLOR.filled(), true));
    }
    if !data.promotions.is_empty() {
        entries.push((
            "promotion".to_string(),
            PROMOTION_COLOR.stroke_width(2),
            false,
        ));
    }
    let style = (FONT, LABEL_SIZE)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (label, line, boxed)) in entries.into_iter().enumerate() {
        let y = 30 + 22 * i as i32;
        if boxed {
            area.draw(&Rectangle::new([(10, y - 6), (38, y + 6)], line))?;
        } else {
            area.draw(&PathElement::new(vec![(10, y), (38, y)], line))?;
        }
        area.draw(&Text::new(label, (46, y), style.clone()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PlotData {
        let seconds = (1..=30u64)
            .map(|s| {
                let n2 = if (11..=20).contains(&s) { 0 } else { 150 };
                let others = match s {
                    11 => 0,
                    12 => 100,
                    _ => 150 + s % 3,
                };
                (s, vec![others, n2, others])
            })
            .collect();
        PlotData {
            title: "etcd-kill-leader (etcd, 3 nodes)".to_string(),
            nodes: vec!["n1".into(), "n2".into(), "n3".into()],
            seconds,
            marks: vec![
                Mark {
                    t_s: 10.0,
                    label: "kill n2 (leader)".into(),
                },
                Mark {
                    t_s: 20.0,
                    label: "start n2".into(),
                },
            ],
            shades: vec![Shade {
                start_s: 10.0,
                end_s: 11.3,
                label: "window 1.30 s".into(),
            }],
            anomalies: vec![],
            promotions: vec![],
            latency: vec![],
        }
    }

    #[test]
    fn latency_gets_a_second_panel_with_a_gap_where_a_node_had_no_success() {
        let plain = render_svg(&sample()).unwrap();
        assert!(plain.contains(&format!("height=\"{HEIGHT_PX}\"")));
        assert!(!texts(&plain).iter().any(|t| t == "latency (ms)"));
        let mut data = sample();
        // n2 has nothing in seconds 11 to 20 (killed): two runs, before and after.
        data.latency = (0..3)
            .map(|node| {
                (1..=30u64)
                    .filter(|s| node != 1 || !(11..=20).contains(s))
                    .map(|s| (s, 0.4 + node as f64 * 0.1, 2.0 + (s % 5) as f64))
                    .collect()
            })
            .collect();
        let svg = render_svg(&data).unwrap();
        assert!(svg.contains(&format!("height=\"{HEIGHT_WITH_LATENCY_PX}\"")));
        let t = texts(&svg);
        for want in ["latency (ms)", "p99", "p50"] {
            assert!(t.iter().any(|x| x == want), "{want} in {t:?}");
        }
        // n2's p99: two solid runs (before and after its outage) in its colour, width 2, beside
        // its line in the upper panel and its legend entry.
        let n2 = NODE_COLORS[1];
        assert_eq!(polylines(&svg, n2, 2) - polylines(&plain, n2, 2), 2);
        assert_eq!(latency_runs(&data.latency[1], 2, 0.1).len(), 2);
        let first = &latency_runs(&data.latency[0], 1, 0.1)[0];
        assert_eq!(first[0], (0.0, 0.4));
        assert_eq!(first[1], (1.0, 0.4));
    }

    #[test]
    fn anomaly_seconds_are_marked_and_named_in_the_legend() {
        let plain = render_svg(&sample()).unwrap();
        assert!(!texts(&plain).iter().any(|t| t == "anomaly"));
        assert_eq!(plain.matches("#6A1B9A").count(), 0);
        let mut data = sample();
        data.anomalies = vec![12, 25];
        let svg = render_svg(&data).unwrap();
        assert!(
            texts(&svg).iter().any(|t| t == "anomaly"),
            "legend: {:?}",
            texts(&svg)
        );
        let purple = svg.matches("#6A1B9A").count();
        assert!(purple >= 3, "two bars and the legend box: {purple}");
    }

    #[test]
    fn promotions_are_dashed_labelled_and_named_in_the_legend() {
        let plain = render_svg(&sample()).unwrap();
        assert!(!texts(&plain).iter().any(|t| t == "promotion"));
        assert_eq!(plain.matches("#006E3C").count(), 0);
        let mut data = sample();
        data.promotions = vec![Mark {
            t_s: 27.4,
            label: "n2 promoted".into(),
        }];
        let svg = render_svg(&data).unwrap();
        let t = texts(&svg);
        assert!(t.iter().any(|t| t == "promotion"), "legend: {t:?}");
        assert!(t.iter().any(|t| t == "n2 promoted"), "label: {t:?}");
        let green = svg.matches("#006E3C").count();
        assert!(green >= 4, "dashes, the label and the legend line: {green}");
    }

    /// Every `<text ...>content</text>` element as (opening tag, trimmed content).
    fn text_elements(svg: &str) -> Vec<(&str, &str)> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| {
                let open = t.find('>')?;
                let body = &t[open + 1..];
                Some((&t[..open], body[..body.find("</text>")?].trim()))
            })
            .collect()
    }

    /// The contents of every `<text>` element.
    fn texts(svg: &str) -> Vec<String> {
        text_elements(svg)
            .into_iter()
            .map(|(_, c)| c.to_string())
            .collect()
    }

    /// The opening tag of the `<text>` element whose content is exactly `content`.
    fn text_tag<'a>(svg: &'a str, content: &str) -> Option<&'a str> {
        text_elements(svg)
            .into_iter()
            .find(|(_, c)| *c == content)
            .map(|(tag, _)| tag)
    }

    fn attr(tag: &str, name: &str) -> Option<f64> {
        let key = format!(" {name}=\"");
        let start = tag.find(&key)? + key.len();
        tag[start..].split('"').next()?.parse().ok()
    }

    /// `<polyline>` elements drawn with the given stroke colour and width.
    fn polylines(svg: &str, color: RGBColor, width: u32) -> usize {
        let stroke = format!(
            "stroke=\"#{:02X}{:02X}{:02X}\" stroke-width=\"{width}\"",
            color.0, color.1, color.2
        );
        svg.split("<polyline")
            .skip(1)
            .filter(|p| p[..p.find("/>").unwrap_or(p.len())].contains(&stroke))
            .count()
    }

    fn shade_rects(svg: &str) -> usize {
        svg.split("<rect")
            .skip(1)
            .filter(|r| r.contains(&format!("opacity=\"{SHADE_OPACITY}\"")))
            .count()
    }

    fn assert_complete_svg(svg: &str) {
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        assert!(svg.contains("width=\"1000\" height=\"500\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<svg").count(), 1);
    }

    #[test]
    fn sample_has_title_axes_legend_and_labels() {
        let svg = render_svg(&sample()).unwrap();
        assert_complete_svg(&svg);
        let t = texts(&svg);
        for want in [
            "etcd-kill-leader (etcd, 3 nodes)",
            "seconds since load start",
            "successful iterations per second",
            "n1",
            "n2",
            "n3",
            "total",
            "kill n2 (leader)",
            "start n2",
            "window 1.30 s",
            "0",
            "30",
        ] {
            assert!(t.iter().any(|x| x == want), "no <text> {want:?} in {t:?}");
        }
    }

    #[test]
    fn sample_has_one_line_per_series_and_mark_and_a_rect_per_shade() {
        let svg = render_svg(&sample()).unwrap();
        // Each node: its series plus its legend sample.
        for c in &NODE_COLORS[..3] {
            assert_eq!(polylines(&svg, *c, 2), 2, "colour {c:?}");
        }
        assert_eq!(polylines(&svg, BLACK, 3), 2, "total");
        // Two marks plus the legend sample.
        assert_eq!(polylines(&svg, MARK_COLOR, 2), 3, "marks");
        assert_eq!(shade_rects(&svg), 1);
    }

    #[test]
    fn series_are_steps_over_each_second() {
        let s = series(&sample());
        assert_eq!(s.last_sec, 30);
        assert_eq!(s.max_total, 454);
        assert_eq!(s.total.len(), 60);
        assert_eq!(s.total[20], (10.0, 0.0));
        assert_eq!(s.total[21], (11.0, 0.0));
        assert_eq!(s.nodes[1][0], (0.0, 150.0));
        assert_eq!(s.nodes[1][1], (1.0, 150.0));
    }

    #[test]
    fn close_mark_labels_are_staggered() {
        let mut data = sample();
        data.marks = vec![
            Mark {
                t_s: 10.0,
                label: "kill n2 (leader)".into(),
            },
            Mark {
                t_s: 10.2,
                label: "partition n1".into(),
            },
            Mark {
                t_s: 10.1,
                label: "pause n3".into(),
            },
        ];
        let svg = render_svg(&data).unwrap();
        let ys: Vec<f64> = ["kill n2 (leader)", "pause n3", "partition n1"]
            .iter()
            .map(|l| attr(text_tag(&svg, l).expect(l), "y").unwrap())
            .collect();
        assert!(ys[0] < ys[1] && ys[1] < ys[2], "{ys:?}");
        // Far apart labels share the top row.
        let svg = render_svg(&sample()).unwrap();
        let a = attr(text_tag(&svg, "kill n2 (leader)").unwrap(), "y").unwrap();
        let b = attr(text_tag(&svg, "start n2").unwrap(), "y").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn stagger_reuses_free_rows_and_wraps() {
        assert_eq!(stagger(&[(0, 50), (100, 150)]), vec![0, 0]);
        assert_eq!(stagger(&[(0, 50), (10, 60), (70, 90)]), vec![0, 1, 0]);
        let many = vec![(0, 100); MAX_ROWS + 2];
        let rows = stagger(&many);
        assert_eq!(rows[..MAX_ROWS], (0..MAX_ROWS).collect::<Vec<_>>()[..]);
        assert!(rows.iter().all(|&r| r < MAX_ROWS));
    }

    #[test]
    fn empty_data_is_still_a_valid_svg() {
        let svg = render_svg(&PlotData::default()).unwrap();
        assert_complete_svg(&svg);
        let t = texts(&svg);
        assert!(t.iter().any(|x| x == "total"));
        assert!(t.iter().any(|x| x == "seconds since load start"));
        assert!(t.iter().any(|x| x == "no data"));
        assert_eq!(polylines(&svg, BLACK, 3), 1, "legend sample only");
    }

    #[test]
    fn all_zero_single_node_does_not_panic() {
        let data = PlotData {
            title: "zero".into(),
            nodes: vec!["only".into()],
            seconds: (1..=5).map(|s| (s, vec![0])).collect(),
            ..PlotData::default()
        };
        let svg = render_svg(&data).unwrap();
        assert_complete_svg(&svg);
        assert!(texts(&svg).iter().any(|x| x == "only"));
        assert_eq!(polylines(&svg, NODE_COLORS[0], 2), 2);
        assert_eq!(polylines(&svg, BLACK, 3), 2);
    }

    #[test]
    fn out_of_range_marks_and_shades_are_clipped() {
        let mut data = sample();
        data.marks = vec![
            Mark {
                t_s: -5.0,
                label: "before".into(),
            },
            Mark {
                t_s: 99.0,
                label: "after".into(),
            },
            Mark {
                t_s: f64::NAN,
                label: "nan".into(),
            },
            Mark {
                t_s: 30.0,
                label: "at the very end".into(),
            },
        ];
        data.shades = vec![
            Shade {
                start_s: 40.0,
                end_s: 50.0,
                label: "outside".into(),
            },
            Shade {
                start_s: 25.0,
                end_s: 45.0,
                label: "cut".into(),
            },
            Shade {
                start_s: -3.0,
                end_s: 2.0,
                label: "cut too".into(),
            },
        ];
        let svg = render_svg(&data).unwrap();
        let t = texts(&svg);
        for gone in ["before", "after", "nan", "outside"] {
            assert!(!t.iter().any(|x| x == gone), "{gone} drawn");
        }
        for kept in ["at the very end", "cut", "cut too"] {
            assert!(t.iter().any(|x| x == kept), "{kept} missing");
        }
        assert_eq!(polylines(&svg, MARK_COLOR, 2), 2, "one mark + legend");
        assert_eq!(shade_rects(&svg), 2);
        // The label of the mark at the right edge goes to the left of it.
        assert!(text_tag(&svg, "at the very end")
            .unwrap()
            .contains("text-anchor=\"end\""));
    }

    #[test]
    fn seven_nodes_get_distinct_colours_and_labels_are_escaped() {
        let nodes: Vec<NodeName> = (1..=7).map(NodeName::nth).collect();
        let data = PlotData {
            title: "a <b> & c".into(),
            seconds: (1..=10)
                .map(|s| (s, (0..7).map(|i| s * i).collect()))
                .collect(),
            nodes,
            ..PlotData::default()
        };
        let svg = render_svg(&data).unwrap();
        assert!(texts(&svg).iter().any(|x| x == "a &lt;b&gt; &amp; c"));
        for (i, c) in NODE_COLORS[..7].iter().enumerate() {
            assert_eq!(polylines(&svg, *c, 2), 2, "node {i}");
            assert!(texts(&svg).contains(&format!("n{}", i + 1)));
        }
    }
}
