//! Soak scenarios on a real Redis lab: a step that repeats (`every:`, `until:`), a kill of a
//! `random` node and its start paired by the step's name, every expectation judged at each firing,
//! and the run's seed (drawn when none is given, and named) making the same choices again
//! (`perseus run --seed`).

mod common;

use common::*;

/// Three kills of a random node, 6 s apart, each started again 2 s later.
const SOAK: &str = "\
name: redis-soak-smoke
system: redis
load:
  duration: 22s
steps:
  - {name: crash, at: 2s, every: 6s, until: 20s, fault: kill, target: random}
  - {name: back, at: 4s, every: 6s, fault: start, target: crash}
expect:
  - serves-again: {after: back, within: 5s}
  - column-zero: {node: crash, from: crash, until: back}
  - lost-writes: 0
";

/// The steps as they fired: (fault, repeat, nodes, scheduled_s).
fn firings(run: &ScenarioRun) -> Vec<(String, u64, Vec<String>, f64)> {
    let text = std::fs::read_to_string(run.dir.join("events.jsonl")).expect("events.jsonl");
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("JSON"))
        .filter_map(|e| {
            let s = e.get("step")?;
            Some((
                s["fault"].as_str()?.to_string(),
                s.get("repeat").and_then(|r| r.as_u64()).unwrap_or(0),
                s["nodes"]
                    .as_array()?
                    .iter()
                    .map(|n| n.as_str().unwrap_or_default().to_string())
                    .collect(),
                s["scheduled_s"].as_f64()?,
            ))
        })
        .collect()
}

#[test]
fn a_repeating_kill_and_start_fire_on_time_and_the_seed_repeats_their_targets() {
    let lab = LabGuard::up("redis", &[]);
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("soak.yaml");
    std::fs::write(&file, SOAK).unwrap();
    let file = file.to_str().unwrap();

    // No seed in the file or on the command line: one is drawn, named, and kept.
    let first = run_scenario(file, &["--reuse"], 0);
    let seed = first.summary["scenario"]["seed"]
        .as_u64()
        .expect("the drawn seed in summary.json");
    assert!(
        first.stderr.contains(&format!(", seed {seed}")),
        "{}",
        first.stderr
    );
    let fired = firings(&first);
    let schedule: Vec<(&str, u64, f64)> = fired
        .iter()
        .map(|(f, r, _, at)| (f.as_str(), *r, *at))
        .collect();
    assert_eq!(
        schedule,
        vec![
            ("kill", 0, 2.0),
            ("start", 0, 4.0),
            ("kill", 1, 8.0),
            ("start", 1, 10.0),
            ("kill", 2, 14.0),
            ("start", 2, 16.0),
        ],
        "kills at 2, 8, 14 s (not 20: until 20 s), starts at 4, 10, 16 s (not 22: the end)"
    );
    // Each start starts the node its kill (the step's latest firing) hit.
    for pair in fired.chunks(2) {
        if let [kill, start] = pair {
            assert_eq!(kill.2, start.2, "{fired:?}");
            assert_eq!(kill.2.len(), 1);
        }
    }
    // Each expectation was judged at every firing and held.
    let verdicts = first.summary["verdicts"].as_array().expect("verdicts");
    let measured: Vec<&str> = verdicts
        .iter()
        .map(|v| v["measured"].as_str().unwrap())
        .collect();
    assert!(
        measured[0].starts_with("3 firings, all held; the worst at"),
        "{measured:?}"
    );
    assert!(
        measured[1].starts_with("3 firings, all held"),
        "{measured:?}"
    );
    let report = std::fs::read_to_string(first.dir.join("report.md")).unwrap();
    assert!(
        report.contains(&format!(
            "Random choices from seed {seed} (`perseus run --seed {seed}`"
        )),
        "{report}"
    );

    // That seed again: the same nodes, in the same order (that another seed draws otherwise is
    // a unit test of the draw).
    let again = run_scenario(file, &["--reuse", "--seed", &seed.to_string()], 0);
    let nodes = |f: &[(String, u64, Vec<String>, f64)]| -> Vec<Vec<String>> {
        f.iter().map(|s| s.2.clone()).collect()
    };
    assert_eq!(nodes(&firings(&again)), nodes(&fired));
    assert_eq!(again.summary["scenario"]["seed"], seed);
    drop(lab);
}
