//! Measurement from success timestamps: per-second counts, unavailability windows, the TSV line.
//!
//! Timestamps are microseconds since the start of the run. An unavailability window is a span with
//! zero successful iterations (DESIGN.md), measured between consecutive successes, and from the
//! start of the run to the first success and from the last success to the end; its resolution is
//! that of the timestamps (1 µs), far better than the 0.1 s the lab promises.

use serde::{Deserialize, Serialize};

/// Microseconds in a second.
pub const MICROS: u64 = 1_000_000;

/// A span without successful iterations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Start of the span: the last success before it (seconds since the start of the run).
    pub start_s: f64,
    /// End of the span: the first success after it, or the end of the run (seconds).
    pub end_s: f64,
    /// `end_s - start_s`, in seconds.
    pub length_s: f64,
    /// True when no success ended it: the span was still open when the run ended.
    pub open: bool,
}

impl Window {
    fn new(start: u64, end: u64, open: bool) -> Window {
        Window {
            start_s: secs(start),
            end_s: secs(end),
            length_s: secs(end.saturating_sub(start)),
            open,
        }
    }
}

/// Microseconds to seconds.
pub fn secs(micros: u64) -> f64 {
    micros as f64 / MICROS as f64
}

/// Every span of at least `min_us` microseconds without a success in `sorted` (ascending
/// timestamps), within `[0, end_us]`, in time order.
pub fn gaps(sorted: &[u64], end_us: u64, min_us: u64) -> Vec<Window> {
    let mut out = Vec::new();
    let mut prev = 0u64;
    for &t in sorted {
        if t.saturating_sub(prev) >= min_us && t > prev {
            out.push(Window::new(prev, t, false));
        }
        prev = prev.max(t);
    }
    if end_us.saturating_sub(prev) >= min_us && end_us > prev {
        out.push(Window::new(prev, end_us, true));
    }
    out
}

/// The longest span without a success in `sorted` within `[0, end_us]` (the unavailability window).
/// A run without any success is one open window over the whole run.
pub fn longest_gap(sorted: &[u64], end_us: u64) -> Window {
    gaps(sorted, end_us, 0)
        .into_iter()
        .max_by_key(|w| (w.length_s * MICROS as f64) as u64)
        .unwrap_or(Window::new(0, 0, false))
}

/// Successes per second: element `s` counts timestamps in `[s, s+1)` seconds; `seconds` elements.
pub fn per_second(timestamps: &[u64], seconds: usize) -> Vec<u64> {
    let mut out = vec![0; seconds];
    for &t in timestamps {
        if let Some(c) = out.get_mut((t / MICROS) as usize) {
            *c += 1;
        }
    }
    out
}

/// Merge per-node ascending timestamp lists into one ascending list.
pub fn merge(lists: &[&[u64]]) -> Vec<u64> {
    let mut all: Vec<u64> = lists.iter().flat_map(|l| l.iter().copied()).collect();
    all.sort_unstable();
    all
}

/// The seeds' output line: `sec<TAB>total<TAB>n1<TAB>n2...` (total = sum of the node columns).
pub fn tsv_line(sec: u64, counts: &[u64]) -> String {
    let total: u64 = counts.iter().sum();
    let mut line = format!("{sec}\t{total}");
    for c in counts {
        line.push('\t');
        line.push_str(&c.to_string());
    }
    line
}

/// The header naming the TSV columns (`sec total n1 n2 n3`), for humans; never written to stdout.
pub fn tsv_header(nodes: &[String]) -> String {
    let mut line = String::from("sec\ttotal");
    for n in nodes {
        line.push('\t');
        line.push_str(n);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = MICROS;

    #[test]
    fn tsv_matches_the_seed_format() {
        assert_eq!(tsv_line(180, &[50, 72, 86]), "180\t208\t50\t72\t86");
        assert_eq!(tsv_line(181, &[0, 0, 0]), "181\t0\t0\t0\t0");
        assert_eq!(
            tsv_header(&["n1".into(), "n2".into()]),
            "sec\ttotal\tn1\tn2"
        );
    }

    #[test]
    fn per_second_buckets_by_whole_seconds() {
        let ts = [0, S - 1, S, 2 * S + 5, 9 * S];
        assert_eq!(per_second(&ts, 3), vec![2, 1, 1]);
    }

    #[test]
    fn longest_gap_finds_the_outage_with_sub_tenth_resolution() {
        // Successes every 10 ms, then nothing from 5.000 s to 7.350 s, then every 10 ms to 10 s.
        let mut ts: Vec<u64> = (0..=500).map(|i| i * 10_000).collect();
        ts.extend((735..1000).map(|i| i * 10_000));
        let w = longest_gap(&ts, 10 * S);
        assert!((w.start_s - 5.0).abs() < 1e-9, "{w:?}");
        assert!((w.end_s - 7.35).abs() < 1e-9, "{w:?}");
        assert!((w.length_s - 2.35).abs() < 1e-9);
        assert!(!w.open);
    }

    #[test]
    fn a_node_that_never_comes_back_has_an_open_window_to_the_end() {
        let ts: Vec<u64> = (1..=300).map(|i| i * 10_000).collect(); // until 3 s
        let w = longest_gap(&ts, 20 * S);
        assert!(w.open);
        assert!((w.length_s - 17.0).abs() < 1e-9);
        let none = longest_gap(&[], 5 * S);
        assert!(none.open && (none.length_s - 5.0).abs() < 1e-9);
    }

    #[test]
    fn gaps_lists_every_span_above_the_threshold() {
        let ts = [100_000, 200_000, 2_200_000, 2_300_000, 6_000_000];
        let g = gaps(&ts, 6_500_000, S);
        assert_eq!(g.len(), 2);
        assert!((g[0].start_s - 0.2).abs() < 1e-9 && (g[0].end_s - 2.2).abs() < 1e-9);
        assert!((g[1].length_s - 3.7).abs() < 1e-9);
        assert!(gaps(&ts, 6_500_000, 10 * S).is_empty());
    }

    #[test]
    fn merge_interleaves_nodes() {
        assert_eq!(merge(&[&[1, 5, 9], &[2, 3], &[]]), vec![1, 2, 3, 5, 9]);
    }
}
