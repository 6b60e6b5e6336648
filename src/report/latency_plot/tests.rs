use super::*;

fn second(sec: u64, q: [f64; 5]) -> SecondLatency {
    SecondLatency {
        sec,
        count: 10,
        p50_ms: q[0],
        p95_ms: q[1],
        p99_ms: q[2],
        p999_ms: q[3],
        max_ms: q[4],
    }
}

fn node(name: &str) -> NodeLatency {
    NodeLatency {
        node: name.into(),
        ok: Default::default(),
        fail: Default::default(),
        info: Default::default(),
    }
}

fn sample(at_s: f64, ms: f64, outcome: Outcome) -> LatencySample {
    LatencySample {
        at_us: (at_s * 1e6) as u64,
        latency_us: (ms * 1000.0) as u64,
        outcome,
    }
}

fn data(nodes: &[&str]) -> LatencyPlotData {
    LatencyPlotData {
        title: "t (etcd, 3 nodes)".into(),
        nodes: nodes.iter().map(|&n| n.into()).collect(),
        end_s: 10.0,
        faults: Vec::new(),
        latency: nodes.iter().map(|&n| node(n)).collect(),
        samples: vec![Vec::new(); nodes.len()],
    }
}

/// Every `<tag ...>` opening tag (its attributes, each after a space, up to its `>`).
fn tags<'a>(svg: &'a str, tag: &str) -> Vec<&'a str> {
    svg.split(&format!("<{tag}"))
        .skip(1)
        .filter(|t| t.starts_with(' '))
        .map(|t| &t[..t.find('>').unwrap_or(t.len())])
        .collect()
}

fn attr(tag: &str, name: &str) -> Option<f64> {
    attr_str(tag, name)?.parse().ok()
}

fn attr_str<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    tag[start..].split('"').next()
}

fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// `<text>` elements as (opening tag, content).
fn texts(svg: &str) -> Vec<(&str, &str)> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let open = t.find('>')?;
            let body = &t[open + 1..];
            Some((&t[..open], body[..body.find("</text>")?].trim()))
        })
        .collect()
}

fn has_text(svg: &str, content: &str) -> bool {
    texts(svg).iter().any(|(_, c)| *c == content)
}

/// The y of the y axis' tick label `label` in every panel, top to bottom (a y tick label is
/// right-aligned, an x tick label centred).
fn y_ticks(svg: &str, label: &str) -> Vec<f64> {
    let mut ys: Vec<f64> = texts(svg)
        .into_iter()
        .filter(|(tag, c)| *c == label && tag.contains("text-anchor=\"end\""))
        .map(|(tag, _)| attr(tag, "y").unwrap())
        .collect();
    ys.sort_by(f64::total_cmp);
    ys
}

/// The x of the x axis' tick label `label` (centred under its tick).
fn x_tick(svg: &str, label: &str) -> f64 {
    texts(svg)
        .into_iter()
        .find(|(tag, c)| *c == label && tag.contains("text-anchor=\"middle\""))
        .map(|(tag, _)| attr(tag, "x").unwrap())
        .unwrap_or_else(|| panic!("no x tick {label}"))
}

/// The points of each `<polyline>` in colour `c` inside the panels (not the legend's).
fn lines(svg: &str, c: RGBColor) -> Vec<Vec<(f64, f64)>> {
    tags(svg, "polyline")
        .into_iter()
        .filter(|t| attr_str(t, "stroke") == Some(hex(c).as_str()))
        .map(|t| {
            attr_str(t, "points")
                .unwrap()
                .split_whitespace()
                .map(|p| {
                    let (x, y) = p.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect::<Vec<(f64, f64)>>()
        })
        .filter(|pts| pts.iter().all(|p| p.0 < f64::from(WIDTH_PX - LEGEND_PX)))
        .collect()
}

/// The data's points (radius [`POINT_R`] or [`MAX_POINT_R`]) as (fill, cx, cy).
fn points(svg: &str, r: u32) -> Vec<(String, f64, f64)> {
    tags(svg, "circle")
        .into_iter()
        .filter(|t| attr(t, "r") == Some(f64::from(r)))
        .map(|t| {
            (
                attr_str(t, "fill").unwrap().to_string(),
                attr(t, "cx").unwrap(),
                attr(t, "cy").unwrap(),
            )
        })
        .collect()
}

/// The fault shades (x, width) in the order drawn, the legend's last.
fn shades(svg: &str) -> Vec<(f64, f64)> {
    tags(svg, "rect")
        .into_iter()
        .filter(|t| {
            attr_str(t, "fill") == Some(hex(SHADE_COLOR).as_str())
                && attr(t, "opacity") == Some(SHADE_OPACITY)
        })
        .map(|t| (attr(t, "x").unwrap(), attr(t, "width").unwrap()))
        .collect()
}

fn assert_complete(svg: &str) {
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<svg").count(), 1);
}

#[test]
fn the_log_axis_spans_the_decades_of_the_values_within_its_bounds() {
    assert_eq!(y_range([1.0, 1000.0]), (1.0, 1000.0));
    assert_eq!(y_range([0.3, 2.5, 47.0]), (0.1, 100.0));
    assert_eq!(y_range([5.0]), (1.0, 10.0));
    // Zero and NaN are ignored for the range (and drawn at its bottom); the huge is cut.
    assert_eq!(y_range([0.0, f64::NAN, 0.000_1, 1e12]), (MIN_MS, MAX_MS));
    assert_eq!(y_range([1e12]), (6_000.0, MAX_MS));
    assert_eq!(y_range([]), (0.1, 10.0));
    assert_eq!(clamp_ms(0.0, 0.1, 10.0), 0.1);
    assert_eq!(clamp_ms(f64::NAN, 0.1, 10.0), 0.1);
    assert_eq!(clamp_ms(1e9, 0.1, 10.0), 10.0);
    assert_eq!(ms_tick(&0.01), "0.01");
    assert_eq!(ms_tick(&0.1), "0.1");
    assert_eq!(ms_tick(&1000.0), "1000");
}

#[test]
fn the_quantile_lines_are_ordered_and_sit_where_the_log_axis_says() {
    let mut d = data(&["n1"]);
    d.latency[0].ok.seconds = vec![second(3, [1.0, 2.0, 10.0, 100.0, 1000.0])];
    // A fail at 0.1 ms and an info at 5 s widen the axis to 0.1 .. 10 000 ms, so that 1 and
    // 1000 are inside it.
    d.latency[0].fail.seconds = vec![second(4, [0.1; 5])];
    d.latency[0].info.seconds = vec![second(5, [5000.0; 5])];
    let svg = quantiles_svg(&d).unwrap();
    assert_complete(&svg);
    assert!(has_text(&svg, "t (etcd, 3 nodes): latency quantiles"));
    for name in [
        "p50",
        "p95",
        "p99",
        "p99.9",
        "max",
        "fail (max)",
        "info (max)",
    ] {
        assert!(has_text(&svg, name), "legend {name}");
    }
    let ys: Vec<f64> = QUANTILES
        .iter()
        .map(|q| {
            let l = lines(&svg, q.1);
            assert_eq!(l.len(), 1, "{}: one run", q.0);
            let pts = &l[0];
            assert_eq!(pts.len(), 2, "{}: one second, one step", q.0);
            assert_eq!(pts[0].1, pts[1].1, "{}: horizontal", q.0);
            pts[0].1
        })
        .collect();
    // SVG's y grows downwards: p50 lowest on the page's plot, max highest.
    assert!(ys.windows(2).all(|w| w[0] > w[1]), "{ys:?}");
    // Log scale: 1 and 1000 ms at their tick labels; each decade the same height.
    let (one, thousand) = (y_ticks(&svg, "1")[0], y_ticks(&svg, "1000")[0]);
    assert!(
        (ys[0] - one).abs() <= 1.0,
        "p50 {} vs tick 1 at {one}",
        ys[0]
    );
    assert!(
        (ys[4] - thousand).abs() <= 1.0,
        "max {} vs tick 1000",
        ys[4]
    );
    let decade = (ys[2] - ys[3]).abs();
    assert!(((ys[3] - ys[4]).abs() - decade).abs() <= 1.0, "{ys:?}");
    assert!(((one - thousand) - 3.0 * decade).abs() <= 2.0, "{ys:?}");
    // The step covers second 3, [2, 3).
    let p50 = &lines(&svg, QUANTILES[0].1)[0];
    let (x2, x3) = (x_tick(&svg, "2"), x_tick(&svg, "3"));
    assert!((p50[0].0 - x2).abs() <= 1.0 && (p50[1].0 - x3).abs() <= 1.0);
    // The fail and info maxima: a point each, in their colour, at 0.1 ms and 5 s.
    let maxima = points(&svg, MAX_POINT_R);
    assert_eq!(maxima.len(), 2, "{maxima:?}");
    let fail = maxima.iter().find(|p| p.0 == hex(FAIL_COLOR)).unwrap();
    let info = maxima.iter().find(|p| p.0 == hex(INFO_COLOR)).unwrap();
    assert!((fail.2 - y_ticks(&svg, "0.1")[0]).abs() <= 1.0);
    assert!(info.2 < thousand && info.2 > y_ticks(&svg, "10000")[0]);
}

#[test]
fn a_quantile_the_summary_does_not_have_is_not_drawn() {
    let seconds: Vec<SecondLatency> = (1..=4)
        .map(|s| second(s, [1.0, if s == 3 { 0.0 } else { 2.0 }, 3.0, 0.0, 5.0]))
        .collect();
    let runs = |pick| step_runs(&seconds, pick, (0.1, 10.0), 10.0);
    assert_eq!(runs(QUANTILES[0].3).len(), 1, "p50: one run");
    assert_eq!(runs(QUANTILES[0].3)[0].len(), 8);
    // p95: seconds 1-2 and 4, second 3's 0 left out; p99.9: nothing.
    let p95 = runs(QUANTILES[1].3);
    assert_eq!(
        p95,
        vec![
            vec![(0.0, 2.0), (1.0, 2.0), (1.0, 2.0), (2.0, 2.0)],
            vec![(3.0, 2.0), (4.0, 2.0)]
        ]
    );
    assert!(runs(QUANTILES[3].3).is_empty());
    // Cut at the end of the load: second 4 of a 3.5 s load ends at 3.5.
    let cut = step_runs(&seconds, QUANTILES[0].3, (0.1, 10.0), 3.5);
    assert_eq!(cut[0].last(), Some(&(3.5, 1.0)));
    let mut d = data(&["n1"]);
    d.latency[0].ok.seconds = seconds;
    let svg = quantiles_svg(&d).unwrap();
    assert_eq!(lines(&svg, QUANTILES[1].1).len(), 2);
    assert!(lines(&svg, QUANTILES[3].1).is_empty());
}

#[test]
fn the_raw_plot_draws_each_sample_once_in_its_outcomes_colour() {
    let mut d = data(&["n1", "n2"]);
    d.latency[0].ok.count = 100;
    d.latency[0].fail.count = 3;
    d.latency[0].info.count = 2;
    let mut s: Vec<LatencySample> = (0..10)
        .map(|i| sample(0.5 + i as f64 * 0.9, 2.0 + i as f64, Outcome::Ok))
        .collect();
    s.extend((0..3).map(|i| sample(4.0 + i as f64 * 0.1, 1000.0, Outcome::Fail)));
    s.push(sample(6.0, 0.5, Outcome::Info));
    // Zero, and more than the axis holds (and past the end of the load): at its edges.
    s.push(LatencySample {
        at_us: 60_000_000,
        latency_us: 0,
        outcome: Outcome::Info,
    });
    s.push(sample(1.0, 1e9, Outcome::Ok));
    d.samples = vec![s, Vec::new()];
    let svg = raw_svg(&d).unwrap();
    assert_complete(&svg);
    let pts = points(&svg, POINT_R);
    assert_eq!(pts.len(), 16);
    let count = |c: RGBColor| pts.iter().filter(|p| p.0 == hex(c)).count();
    assert_eq!(
        (count(OK_COLOR), count(FAIL_COLOR), count(INFO_COLOR)),
        (11, 3, 2)
    );
    // The info sample of 0.5 ms at 6 s is an orange point there.
    // The axis: from 0.1 ms (the smallest positive sample's decade) to 60 s.
    let (lo, hi) = (y_ticks(&svg, "0.1")[0], y_ticks(&svg, "60000"));
    assert!(hi.is_empty(), "60 s is the axis' top, not a decade tick");
    let top = y_ticks(&svg, "10000")[0];
    let (x0, x10) = (x_tick(&svg, "0"), x_tick(&svg, "10"));
    let info_at_6 = pts
        .iter()
        .find(|p| p.0 == hex(INFO_COLOR) && (p.1 - (x0 + 0.6 * (x10 - x0))).abs() <= 1.0)
        .expect("the info point at 6 s");
    assert!(info_at_6.2 < lo && info_at_6.2 > top);
    // Every point inside the panel: the zero at its bottom, the hour at its top.
    assert!(pts.iter().all(|p| p.1 >= x0 - 1.0 && p.1 <= x10 + 1.0));
    assert!(pts
        .iter()
        .any(|p| (p.2 - lo).abs() <= 1.0 && p.0 == hex(INFO_COLOR)));
    assert!(pts.iter().all(|p| p.2 <= lo + 1.0));
    // n2 has a panel, labelled, that says it has no operation.
    assert!(has_text(&svg, "n2") && has_text(&svg, "no operation sampled"));
    assert!(
        has_text(
            &svg,
            "Each point is one operation of a uniform sample: 16 of 105 operations (at most 3,000 ok and 1,000 each fail and info per node)."
        ),
        "{:?}",
        texts(&svg)
    );
    for name in ["ok", "fail", "info"] {
        assert!(has_text(&svg, name), "legend {name}");
    }
}

#[test]
fn a_fault_is_shaded_on_every_panel_cut_to_the_load_and_labelled_once() {
    let mut d = data(&["n1", "n2", "n3"]);
    for (i, n) in d.latency.iter_mut().enumerate() {
        n.ok.count = 10;
        n.ok.seconds = (1..=10)
            .map(|s| second(s, [1.0, 2.0, 3.0, 4.0, 5.0 + i as f64]))
            .collect();
    }
    d.samples = vec![vec![sample(1.0, 1.0, Outcome::Ok)]; 3];
    d.faults = vec![
        (5.0, 8.0, "kill n1".into()),
        (-3.0, 2.0, "early".into()),
        (9.0, 50.0, "pause n3".into()),
        (20.0, 30.0, "outside".into()),
        (f64::NAN, 3.0, "nan".into()),
    ];
    for svg in [quantiles_svg(&d).unwrap(), raw_svg(&d).unwrap()] {
        let s = shades(&svg);
        assert_eq!(s.len(), 3 * 3 + 1, "three per panel and the legend's");
        let (x0, x10) = (x_tick(&svg, "0"), x_tick(&svg, "10"));
        let px = |t: f64| x0 + t / 10.0 * (x10 - x0);
        for panel in s[..9].chunks(3) {
            for (&(x, w), (a, b)) in panel.iter().zip([(5.0, 8.0), (0.0, 2.0), (9.0, 10.0)]) {
                assert!((x - px(a)).abs() <= 1.5, "{x} vs {a}");
                assert!((x + w - px(b)).abs() <= 1.5, "{} vs {b}", x + w);
            }
        }
        for label in ["kill n1", "early", "pause n3"] {
            let n = texts(&svg).iter().filter(|(_, c)| *c == label).count();
            assert_eq!(n, 1, "{label} labelled once");
        }
        assert!(!has_text(&svg, "outside") && !has_text(&svg, "nan"));
        assert!(has_text(&svg, "fault"));
        for n in ["n1", "n2", "n3"] {
            assert!(has_text(&svg, n));
        }
        assert_eq!(y_ticks(&svg, "1").len(), 3, "three panels");
    }
    // Without a fault: no shade, no legend entry.
    d.faults.clear();
    let svg = quantiles_svg(&d).unwrap();
    assert!(shades(&svg).is_empty() && !has_text(&svg, "fault"));
}

#[test]
fn no_latency_is_a_small_valid_picture_that_says_so() {
    for svg in [
        quantiles_svg(&LatencyPlotData::default()).unwrap(),
        raw_svg(&data(&["n1", "n2"])).unwrap(),
    ] {
        assert_complete(&svg);
        assert!(svg.contains(&format!("height=\"{EMPTY_HEIGHT_PX}\"")));
        assert!(has_text(&svg, "no latency recorded"), "{svg}");
    }
    // A node with failures only: its panel has the fail points, no line.
    let mut d = data(&["n1", "n2"]);
    d.latency[1].fail.count = 1;
    d.latency[1].fail.seconds = vec![second(2, [30.0; 5])];
    let svg = quantiles_svg(&d).unwrap();
    assert_eq!(points(&svg, MAX_POINT_R).len(), 1);
    assert!(QUANTILES.iter().all(|q| lines(&svg, q.1).is_empty()));
    assert!(has_text(&svg, "no operations"), "n1's panel");
}

#[test]
fn many_points_and_seconds_keep_the_pictures_bounded() {
    let nodes = ["n1", "n2", "n3"];
    let mut d = data(&nodes);
    d.end_s = 3_600.0;
    let mut x = 7u64;
    for (i, n) in d.latency.iter_mut().enumerate() {
        n.ok.count = 1_000_000;
        n.ok.seconds = (1..=3_600)
            .map(|s| second(s, [1.0, 3.0, 8.0, 20.0, 50.0 + (s % 7) as f64]))
            .collect();
        d.samples[i] = (0..5_000u64)
            .map(|k| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                LatencySample {
                    at_us: k * 720_000,
                    latency_us: 200 + (x >> 40) % 2_000_000,
                    outcome: Outcome::ALL[(x >> 62) as usize % 3],
                }
            })
            .collect();
    }
    let raw = raw_svg(&d).unwrap();
    assert_eq!(points(&raw, POINT_R).len(), 15_000);
    assert!(
        raw.len() < 2_500_000,
        "latency-raw.svg is {} bytes",
        raw.len()
    );
    let q = quantiles_svg(&d).unwrap();
    assert!(
        q.len() < 1_000_000,
        "latency-quantiles.svg is {} bytes",
        q.len()
    );
    eprintln!("raw {} bytes, quantiles {} bytes", raw.len(), q.len());
}
