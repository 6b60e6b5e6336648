//! Who served, slice by slice: the measures of the later Perseus summary (rystsov/perseus, 2018),
//! computed from the same timelines as the unavailability windows ([`super::timeline`]).
//!
//! A span of the run (from a step to the next, or to the end of the load) is cut into 100 ms
//! slices from its start; a slice that does not fit whole at the end is left out. A node *serves*
//! in a slice when at least one of its iterations succeeded in it. Then, with `m` the majority of
//! the `n` nodes (`n / 2 + 1`: two of three):
//!
//! - *downtime*: the slices in which no node served;
//! - *partial downtime*: the slices in which some node served, but fewer than `m` (the seeds'
//!   "only one node serves", for three nodes);
//! - *steadily*: a set of nodes serves steadily from a slice when each of them serves in that
//!   slice and in the nine after it, one full second of slices within the span;
//! - *disturbance time*: from the span's start to the first slice from which `m` nodes serve
//!   steadily (the seeds' "until two nodes serve steadily");
//! - *recovery time*: from the span's start to the first slice from which every node serves
//!   steadily (the seeds' "until all three serve").
//!
//! All are multiples of 0.1 s. A time to steadiness that is not reached within the span is `None`:
//! a steady second could still have begun in the span's last nine slices, so the time is at least
//! [`Serving::steady_not_before_s`], the span less 0.9 s.

use serde::{Deserialize, Serialize};

use super::measure::{secs, MICROS};
use super::timeline::Timeline;

/// The slice: 100 ms, in µs.
pub const SLICE_US: u64 = MICROS / 10;

/// Slices in a full second: what "steadily" asks of each node.
pub const STEADY_SLICES: usize = (MICROS / SLICE_US) as usize;

/// Who served during one span of a run (seconds, multiples of 0.1 s; see the module's
/// definitions).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Serving {
    /// The span measured: whole slices only.
    pub span_s: f64,
    /// Downtime: no node served.
    pub none_s: f64,
    /// Partial downtime: some node served, but fewer than a majority.
    pub minority_s: f64,
    /// From the span's start until a majority served steadily; `None`: not within the span.
    pub majority_steady_s: Option<f64>,
    /// From the span's start until every node served steadily; `None`: not within the span.
    pub all_steady_s: Option<f64>,
}

impl Serving {
    /// The least a time to steadiness that was not reached within the span can be: no full second
    /// of slices starting earlier was steady, so it began in the last nine slices or later (the
    /// span less 0.9 s, at least 0).
    pub fn steady_not_before_s(&self) -> f64 {
        let slices = (self.span_s * 10.0).round() as usize;
        slice_s(slices.saturating_sub(STEADY_SLICES - 1))
    }
}

/// Who served within `[from_us, to_us)`: `timelines[i]` is node `i`'s ([`Timeline::silent`] is
/// exact over a slice, which is longer than the floor).
pub fn serving(timelines: &[Timeline], from_us: u64, to_us: u64) -> Serving {
    let slices = (to_us.saturating_sub(from_us) / SLICE_US) as usize;
    let nodes = timelines.len();
    // served[i][s]: node i had a success in slice s.
    let served: Vec<Vec<bool>> = timelines
        .iter()
        .map(|t| {
            (0..slices as u64)
                .map(|s| {
                    let a = from_us + s * SLICE_US;
                    !t.silent(a, a + SLICE_US)
                })
                .collect()
        })
        .collect();
    // streak[i][s]: how many slices in a row node i served from slice s on.
    let streaks: Vec<Vec<usize>> = served
        .iter()
        .map(|row| {
            let mut streak = vec![0; slices + 1];
            for s in (0..slices).rev() {
                streak[s] = if row[s] { streak[s + 1] + 1 } else { 0 };
            }
            streak
        })
        .collect();
    let majority = nodes / 2 + 1;
    let (mut none, mut minority) = (0usize, 0usize);
    for s in 0..slices {
        let k = served.iter().filter(|row| row[s]).count();
        if k == 0 {
            none += 1;
        } else if k < majority {
            minority += 1;
        }
    }
    let steady_from = |need: usize| {
        (0..slices)
            .find(|&s| streaks.iter().filter(|st| st[s] >= STEADY_SLICES).count() >= need)
            .map(slice_s)
    };
    Serving {
        span_s: slice_s(slices),
        none_s: slice_s(none),
        minority_s: slice_s(minority),
        majority_steady_s: if nodes == 0 {
            None
        } else {
            steady_from(majority)
        },
        all_steady_s: if nodes == 0 { None } else { steady_from(nodes) },
    }
}

/// `count` slices in seconds.
fn slice_s(count: usize) -> f64 {
    secs(count as u64 * SLICE_US)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A success every 10 ms in `[from_s, to_s)`.
    fn every_10ms(from_s: f64, to_s: f64) -> Vec<u64> {
        let (a, b) = (
            (from_s * 100.0).round() as u64,
            (to_s * 100.0).round() as u64,
        );
        (a..b).map(|i| i * 10_000).collect()
    }

    fn join(parts: &[Vec<u64>]) -> Vec<u64> {
        parts.concat()
    }

    /// `serving` over nodes given by their every success.
    fn serving(nodes: &[Vec<u64>], from_us: u64, to_us: u64) -> Serving {
        let t: Vec<Timeline> = nodes.iter().map(|n| Timeline::from_sorted(n)).collect();
        super::serving(&t, from_us, to_us)
    }

    #[test]
    fn an_isolated_leader_the_seeds_way() {
        // From 0 s: n1 (the leader) stops at 0 s; n2 and n3 stop too until a new leader is
        // elected at 2.0 s, then n2 serves from 2.0 s and n3 only from 3.5 s; n1 never again.
        let n1 = Vec::new();
        let n2 = every_10ms(2.0, 15.0);
        let n3 = every_10ms(3.5, 15.0);
        let s = serving(&[n1, n2, n3], 0, 15 * MICROS);
        assert_eq!(s.span_s, 15.0);
        assert_eq!(s.none_s, 2.0, "{s:?}");
        assert_eq!(s.minority_s, 1.5, "{s:?}");
        assert_eq!(s.majority_steady_s, Some(3.5), "{s:?}");
        assert_eq!(s.all_steady_s, None, "{s:?}");
        assert_eq!(s.steady_not_before_s(), 14.1);
    }

    #[test]
    fn steadily_means_every_slice_of_a_full_second() {
        // n1 and n2 serve throughout; n3 serves from 1 s but misses one slice (2.5 s to 2.6 s).
        let n3 = join(&[every_10ms(1.0, 2.5), every_10ms(2.6, 10.0)]);
        let s = serving(
            &[every_10ms(0.0, 10.0), every_10ms(0.0, 10.0), n3],
            0,
            10 * MICROS,
        );
        assert_eq!(s.none_s, 0.0);
        assert_eq!(s.minority_s, 0.0);
        assert_eq!(s.majority_steady_s, Some(0.0));
        // The ten slices from 1.0 s are all served: the missed slice comes after that second.
        assert_eq!(s.all_steady_s, Some(1.0), "{s:?}");
        // A node that serves every other slice never serves steadily.
        let flappy: Vec<u64> = (0..50).map(|i| i * 200_000 + 5_000).collect();
        let s = serving(
            &[every_10ms(0.0, 10.0), every_10ms(0.0, 10.0), flappy],
            0,
            10 * MICROS,
        );
        assert_eq!(s.majority_steady_s, Some(0.0));
        assert_eq!(s.all_steady_s, None, "{s:?}");
    }

    #[test]
    fn slices_start_at_the_span_and_a_part_slice_at_the_end_is_left_out() {
        // The span starts at 5.03 s and lasts 1.05 s: ten whole slices (5.03 to 6.03 s).
        let ts = every_10ms(5.5, 20.0);
        let s = serving(&[ts.clone(), ts.clone(), ts], 5_030_000, 6_080_000);
        assert_eq!(s.span_s, 1.0);
        // 5.03-5.43: no success (4 slices); 5.43-5.53 holds 5.50, so it serves.
        assert_eq!(s.none_s, 0.4, "{s:?}");
        assert_eq!(
            s.majority_steady_s, None,
            "six slices left: not a full second"
        );
        assert_eq!(
            s.steady_not_before_s(),
            0.1,
            "a steady second may begin in slice 1"
        );
        // Successes before the span do not count.
        let s = serving(&[every_10ms(0.0, 5.0)], 5 * MICROS, 7 * MICROS);
        assert_eq!((s.none_s, s.majority_steady_s), (2.0, None));
    }

    #[test]
    fn a_majority_of_five_is_three() {
        let on = every_10ms(0.0, 3.0);
        let s = serving(
            &[on.clone(), on.clone(), Vec::new(), Vec::new(), Vec::new()],
            0,
            3 * MICROS,
        );
        assert_eq!(s.minority_s, 3.0, "two of five is partial downtime");
        assert_eq!(s.majority_steady_s, None);
        assert_eq!(serving(&[], 0, MICROS).none_s, 1.0);
    }
}
