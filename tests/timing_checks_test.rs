//! The timing checks the integration tests rest on (`tests/common`), on made-up loads whose
//! answer is known: when a node stops and when it serves again, measured against a bound, with
//! the load's second `s` covering `[s-1, s)` on its clock. No Docker.

mod common;

use common::LoadResult;

/// A load of `n1`'s counts, one per second from second 1, with two other nodes always serving,
/// that ended at `end` seconds on its clock.
fn load(n1: &[u64], end: f64) -> LoadResult {
    let rows: Vec<Vec<u64>> = n1
        .iter()
        .enumerate()
        .map(|(i, &c)| vec![i as u64 + 1, c + 20, c, 10, 10])
        .collect();
    LoadResult {
        stdout: rows
            .iter()
            .map(|r| r.iter().map(u64::to_string).collect::<Vec<_>>().join("\t") + "\n")
            .collect(),
        rows,
        summary: serde_json::json!({ "duration_s": end }),
    }
}

#[test]
fn a_stop_is_measured_to_the_second_and_a_count_past_the_bound_fails() {
    // Cut at 2.5 s; n1 counts in seconds 1..=6 (to 6 s) and 0 from second 7 (from 6 s).
    let r = load(&[5, 5, 5, 5, 5, 5, 0, 0, 0, 0, 0, 0], 12.3);
    // Stopped 3.5 s after the cut: within 4 s, and the stop second is 7.
    assert_eq!(r.stops_within(1, 2.5, 4.0, 12.0, "stop"), 7);
    // Within 3 s it is not: second 6 ends at 6 s, past 5.5 s.
    let late = std::panic::catch_unwind(|| r.stops_within(1, 2.5, 3.0, 12.0, "stop"));
    assert!(late.is_err(), "a count past cut + within must fail");
    // A count again before `until` fails too.
    let r = load(&[5, 5, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0], 12.3);
    assert!(std::panic::catch_unwind(|| r.stops_within(1, 1.0, 3.0, 12.0, "stop")).is_err());
    assert_eq!(r.stops_within(1, 1.0, 5.0, 12.0, "stop"), 6);
}

#[test]
fn a_rejoin_is_judged_on_a_full_load_and_on_one_ended_early_with_two_seconds_of_service() {
    // Back at 3.2 s; n1 serves from second 6 (from 5 s) to the end.
    let full = load(&[5, 5, 5, 0, 0, 5, 5, 5, 5, 5, 5, 5], 12.4);
    assert_eq!(full.rejoins_within(1, 3.2, 4.0, "rejoin"), 6);
    // The bound is good to a second: the rejoin second may be the first whole second that starts
    // at or after back + within (second 6, from 5 s, for 1.0 s), not one that starts later.
    assert_eq!(full.rejoins_within(1, 3.2, 1.0, "rejoin"), 6);
    assert!(std::panic::catch_unwind(|| full.rejoins_within(1, 3.2, 0.5, "rejoin")).is_err());
    // Ended early, at 7.5 s, before back + within (13.2 s): seconds 6 and 7 serve, enough.
    let early = load(&[5, 5, 5, 0, 0, 5, 5, 1], 7.5);
    assert_eq!(early.rejoins_within(1, 3.2, 10.0, "rejoin"), 6);
    // Ended with one whole second of service: too short to judge, so it fails.
    let short = load(&[5, 5, 5, 0, 0, 0, 5, 1], 7.5);
    assert!(std::panic::catch_unwind(|| short.rejoins_within(1, 3.2, 10.0, "rejoin")).is_err());
}
