//! Measurement's units and shapes: the unavailability window, the TSV line.
//!
//! Timestamps are microseconds since the start of the run. An unavailability window is a span with
//! zero successful iterations (docs/measurements.md), measured between consecutive successes, and from the
//! start of the run to the first success and from the last success to the end; its resolution is
//! that of the timestamps (1 µs), far better than the 0.1 s the lab promises. The windows are
//! found in the run's [`super::timeline`]s.

use serde::{Deserialize, Serialize};

use crate::node::NodeName;

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
    /// The span from `start` to `end` (µs since the start of the run).
    pub fn new(start: u64, end: u64, open: bool) -> Window {
        Window {
            start_s: secs(start),
            end_s: secs(end),
            length_s: secs(end.saturating_sub(start)),
            open,
        }
    }

    /// Its start, µs.
    pub fn start_us(&self) -> u64 {
        micros(self.start_s)
    }

    /// Its end, µs.
    pub fn end_us(&self) -> u64 {
        micros(self.end_s)
    }

    /// Its length, µs.
    pub fn length_us(&self) -> u64 {
        micros(self.length_s)
    }
}

/// Seconds to microseconds (rounded).
pub fn micros(s: f64) -> u64 {
    (s * MICROS as f64).round() as u64
}

/// Microseconds to seconds.
pub fn secs(micros: u64) -> f64 {
    micros as f64 / MICROS as f64
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
pub fn tsv_header(nodes: &[NodeName]) -> String {
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

    #[test]
    fn tsv_matches_the_seed_format() {
        assert_eq!(tsv_line(180, &[50, 72, 86]), "180\t208\t50\t72\t86");
        assert_eq!(tsv_line(181, &[0, 0, 0]), "181\t0\t0\t0\t0");
        assert_eq!(
            tsv_header(&["n1".into(), "n2".into()]),
            "sec\ttotal\tn1\tn2"
        );
    }
}
