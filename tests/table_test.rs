//! `perseus table` and the 2018 summary's measures on real labs: who served, slice by slice,
//! against outages the tests make themselves (three paused Redis servers, then one, then none),
//! an etcd table whose isolated follower costs nothing and whose isolated leader does, and the
//! plan of `perseus table --all` (the whole table itself is not run here: it takes an hour).

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn dirs_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    v
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("a number: {v}"))
}

#[test]
fn paused_redis_servers_are_downtime_then_partial_downtime_then_steady_service() {
    let _lab = LabGuard::lock_only("redis");
    let tmp = tempfile::tempdir().unwrap();
    // All three servers frozen for 2 s, then n3 alone serves for 2 s, then all three do.
    let file = tmp.path().join("serving.yaml");
    std::fs::write(
        &file,
        "\
name: redis-serving
system: redis
nodes: 3
load: {duration: 12s}
steps:
  - {name: freeze, at: 3s, fault: pause, target: [n1, n2, n3]}
  - {name: thaw-one, at: 5s, fault: resume, target: n3}
  - {name: thaw-rest, at: 7s, fault: resume, target: [n1, n2]}
",
    )
    .unwrap();
    let run = run_scenario(file.to_str().unwrap(), &[], 0);
    let fx = run.summary["effects"].as_array().unwrap();
    let serving = |k: usize| {
        let s = &fx[k]["serving"];
        eprintln!("{}: {s}", fx[k]["label"]);
        (
            f(&s["span_s"]),
            f(&s["none_s"]),
            f(&s["minority_s"]),
            s["majority_steady_s"].as_f64(),
            s["all_steady_s"].as_f64(),
        )
    };
    // Frozen: no node serves in (nearly) every slice; the first may hold the last successes
    // before the freezer took hold.
    let (span, none, minority, majority, all) = serving(0);
    // A span is the whole slices between two steps as they fired (each may be late on 2 cores).
    assert!((1.6..=2.0).contains(&span), "{span}");
    assert!(none >= span - 0.3, "downtime {none} of {span}");
    assert!(minority <= 0.2, "{minority}");
    assert_eq!((majority, all), (None, None));
    // n3 alone: partial downtime, and never a majority.
    let (span, none, minority, majority, all) = serving(1);
    assert!(none <= 0.3, "{none}");
    assert!(
        minority >= span - 0.3 && minority <= span,
        "partial downtime {minority} of {span}"
    );
    assert_eq!((majority, all), (None, None));
    // All three again: steady at once (a blocked request is answered as its server thaws).
    let (span, none, minority, majority, all) = serving(2);
    assert!((4.6..=5.0).contains(&span), "{span}");
    assert!(none <= 0.1, "{none}");
    assert!(minority <= 0.3, "{minority}");
    assert!(majority.is_some_and(|t| t <= 0.3), "{majority:?}");
    assert!(all.is_some_and(|t| t <= 0.5), "{all:?}");
    let report = std::fs::read_to_string(run.dir.join("report.md")).unwrap();
    assert!(
        report.contains("| from | span | no node served | only 1 of 3 served | until 2 of 3 served steadily | until all 3 served steadily |"),
        "{report}"
    );
    let section = report
        .split("### Who served")
        .nth(1)
        .expect("the report says who served");
    let freeze: Vec<&str> = section
        .lines()
        .find(|l| l.contains(" pause n1,n2,n3"))
        .unwrap_or_else(|| panic!("{section}"))
        .split('|')
        .map(str::trim)
        .collect();
    let span = f(&fx[0]["serving"]["span_s"]);
    assert_eq!(freeze[2], format!("{span:.1} s"), "{freeze:?}");
    assert!(
        freeze[5].starts_with("≥ ") && freeze[6].starts_with("≥ "),
        "no steady service while frozen: {freeze:?}"
    );
}

#[test]
fn the_etcd_table_measures_every_column_and_an_isolated_follower_costs_nothing() {
    let _lock = LabGuard::lock_only("etcd");
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let out = run(
        &[
            "table",
            "etcd",
            "--repeat",
            "1",
            "--before",
            "3s",
            // Long enough for the isolated leader's successor to serve a steady second before the
            // heal: etcd replaced it in 2.1-3.8 s in docs/table.md's table, but in 5.2, 8.1 and
            // 8.4 s in CI with other Docker tests beside it on two cores. The heal's extra election
            // (no pre-vote) breaks any steady second that spans it, so a 6 s hold made the
            // disturbance an at-least bound there, and a 9 s hold did once (8.1 s, stop 40).
            "--hold",
            "12s",
            "--after",
            "12s",
            "--runs-dir",
            runs.to_str().unwrap(),
        ],
        0,
    );
    let table = stdout(&out);
    eprintln!("{table}\n{}", stderr(&out));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        "## Crashed and isolated leader (the 2017 summary)"
    );
    assert_eq!(
        lines[2],
        "| database | crashed leader | isolated leader | images |"
    );
    let cells: Vec<&str> = lines[4].split('|').map(str::trim).collect();
    assert_eq!(
        (cells[1], cells[4]),
        ("etcd", "perseus/etcd:3.4.23"),
        "{table}"
    );
    // Both outages end by themselves, before the restart or the heal 12 s after the fault (no `≥`):
    // etcd elects a new leader without the old one. How long that takes is etcd's and the
    // machine's: 1.5-3.8 s here, but an isolated leader's successor needed 8.1 and 8.4 s in CI on
    // a loaded two-core machine, so the bound is the hold, not a guess at etcd's election time.
    for cell in &cells[2..4] {
        assert!(
            !cell.starts_with("≥ "),
            "etcd did not recover before the restart or heal: {cell:?} in {table}"
        );
        let secs: f64 = cell
            .trim_end_matches(" s")
            .parse()
            .unwrap_or_else(|_| panic!("a window in seconds: {cell:?} in {table}"));
        assert!(secs > 0.1 && secs < 12.0, "{table}");
    }
    assert!(table.contains("| etcd | leader | "), "{table}");
    assert!(table.contains("| etcd | follower | "), "{table}");
    assert!(
        table.contains("| database | crashed leader | isolated leader | isolated follower |\n| --- | --- | --- | --- |\n| etcd | 0 | 0 | 0 |\n"),
        "{table}"
    );

    // One folder for the table, holding table.md, table.json and a folder per run.
    let folders = dirs_in(&runs);
    assert_eq!(folders.len(), 1, "{folders:?}");
    let folder = &folders[0];
    assert!(folder.to_string_lossy().ends_with("-table"), "{folder:?}");
    let md = std::fs::read_to_string(folder.join("table.md")).unwrap();
    assert!(
        md.starts_with(&table),
        "table.md is what was printed, then the runs:\n{md}"
    );
    let json: Value =
        serde_json::from_slice(&std::fs::read(folder.join("table.json")).unwrap()).unwrap();
    let row = &json["rows"][0];
    assert_eq!(row["system"], "etcd");
    let cells = row["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 3);
    assert_eq!(dirs_in(folder).len(), 3, "a run folder per run");
    for c in cells {
        let run = c["runs"][0]["folder"].as_str().unwrap();
        assert_eq!(c["runs"][0]["outcome"], "passed", "{c}");
        assert!(md.contains(&format!("[{run}]({run}/report.md)")), "{md}");
        // The table's numbers are the run's own.
        let summary: Value =
            serde_json::from_slice(&std::fs::read(folder.join(run).join("summary.json")).unwrap())
                .unwrap();
        let during = &summary["effects"][0]["serving"];
        let after = &summary["effects"][1]["serving"];
        assert_eq!(c["downtime"]["values_s"][0], during["none_s"], "{c}");
        assert_eq!(c["partial_downtime"]["values_s"][0], during["minority_s"]);
        assert_eq!(c["recovery_downtime"]["values_s"][0], after["none_s"]);
        assert_eq!(
            c["window"]["values_s"][0],
            summary["effects"][0]["cluster"]["length_s"]
        );
        assert_eq!(c["anomalies"]["lost_writes"], 0, "{c}");
        // Every node serves steadily again within the 12 s after the restore. etcd 3.4 without
        // pre-vote: a healed node forces one more election first, a cluster-wide outage of
        // up to 2.8 s in 8 isolated runs here, and 6.4 s once in CI (every node back 7.2 s after heal).
        let recovery = f(&c["recovery"]["values_s"][0]);
        assert!(
            recovery <= 10.0 && c["recovery"]["at_least"][0] == false,
            "{c}"
        );
    }
    let cell = |name: &str| cells.iter().find(|c| c["experiment"] == name).unwrap();
    // The isolated follower: the leader and the other follower go on serving.
    let follower = cell("isolated-follower");
    assert_eq!(follower["target"], "follower");
    assert!(f(&follower["downtime"]["values_s"][0]) <= 0.3, "{follower}");
    assert!(
        f(&follower["disturbance"]["values_s"][0]) <= 1.5,
        "{follower}"
    );
    // The isolated leader: nobody serves until the others elect a leader, then two do.
    let leader = cell("isolated-leader");
    let (down, partial, disturbance) = (
        f(&leader["downtime"]["values_s"][0]),
        f(&leader["partial_downtime"]["values_s"][0]),
        f(&leader["disturbance"]["values_s"][0]),
    );
    // Bounded by the hold, as above: the successor's election is etcd's and the machine's.
    assert!((0.3..12.0).contains(&down), "{leader}");
    assert!(
        partial <= 1.0,
        "the two others serve together once one leads: {leader}"
    );
    assert!(
        (0.3..12.0).contains(&disturbance) && leader["disturbance"]["at_least"][0] == false,
        "{leader}"
    );
    // Measured again from the runs' own summaries, the table is the same.
    let again = run(&["table", "--render", folder.to_str().unwrap()], 0);
    assert_eq!(stdout(&again), table);
    assert_eq!(leftovers("etcd"), (0, 0, 0), "the table's lab is gone");
}

#[test]
fn table_all_plans_every_system_that_runs_here_and_bad_input_is_refused() {
    let _lock = LabGuard::lock_only("etcd");
    let out = run(&["table", "--all", "--plan", "--repeat", "2"], 0);
    let plan = stdout(&out);
    let lines: Vec<&str> = plan.lines().collect();
    let mut runs = 0;
    for system in systems_defined() {
        let planned = lines.iter().find(|l| l.starts_with(&format!("{system}: ")));
        let left = lines
            .iter()
            .find(|l| l.starts_with(&format!("left out: {system}: ")));
        match (planned, left) {
            (Some(l), None) => {
                let experiments = l.split(": ").nth(1).unwrap();
                assert!(
                    experiments == "crashed-leader, isolated-leader, isolated-follower x 2"
                        || experiments == "crashed-leader, isolated-leader x 2",
                    "{l}"
                );
                runs += 2 * experiments.matches(',').count() + 2;
            }
            (None, Some(l)) => assert!(l.contains("not on this Engine"), "{l}"),
            _ => panic!("{system} is planned or left out, once: {plan}"),
        }
    }
    for local in ["etcd", "redis", "gryadka", "zookeeper"] {
        assert!(
            plan.contains(&format!("\n{local}: ")) || plan.starts_with(&format!("{local}: ")),
            "{plan}"
        );
    }
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with(&format!("{runs} runs of 30s load, about ")),
        "{plan}"
    );
    for bad in [
        vec!["table", "etcd", "--all"],
        vec!["table", "etcd", "--repeat", "0"],
        vec!["table", "mongo"],
        vec!["table", "etcd", "--after", "0s"],
        vec!["table", "--render", "/nonexistent-table-folder"],
    ] {
        let out = run(&bad, 2);
        let err = stderr(&out);
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: ") || first.starts_with("perseus: "),
            "one line says what was wrong: {err}"
        );
    }
}

#[test]
fn a_table_stopped_by_ctrl_c_is_resumed_without_repeating_a_run() {
    let _lock = LabGuard::lock_only("redis");
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    // Redis has no leader: two experiments (crashed and isolated n1), twice each: four runs.
    // Ctrl-C as the third run starts: two runs are made.
    let (code, first) = ctrl_c_once(
        &[
            "table",
            "redis",
            "--repeat",
            "2",
            "--before",
            "1s",
            "--hold",
            "2s",
            "--after",
            "1s",
            "--runs-dir",
            runs.to_str().unwrap(),
        ],
        std::time::Duration::from_secs(180),
        |l| l.starts_with("table: 2/4 runs done"),
    );
    assert_eq!(code, Some(1), "{first:#?}");
    let folders = dirs_in(&runs);
    assert_eq!(folders.len(), 1, "{folders:?}");
    let folder = &folders[0];
    let read = |folder: &Path| -> Value {
        serde_json::from_slice(&std::fs::read(folder.join("table.json")).unwrap()).unwrap()
    };
    let stopped = read(folder);
    assert_eq!(stopped["interrupted"], true, "{stopped}");
    assert_eq!(stopped["planned"], serde_json::json!(["redis"]));
    let kept: Vec<String> = stopped["rows"][0]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["runs"].as_array().unwrap().clone())
        .filter(|r| r["outcome"] != "interrupted")
        .map(|r| r["folder"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kept.len(), 2, "two runs made before the Ctrl-C: {stopped}");

    let resumed = run(&["table", "--resume", folder.to_str().unwrap()], 0);
    let err = stderr(&resumed);
    assert!(
        err.contains(&format!(
            "== table: resuming {}: 2 of its runs are left",
            folder.display()
        )),
        "{err}"
    );
    // The resume made the two runs left, and no other.
    let made: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("== table: redis ") && l.contains(" run "))
        .collect();
    assert_eq!(made.len(), 2, "{err}");
    assert!(made[0].ends_with("crashed-leader run 2/2"), "{made:?}");
    assert!(made[1].ends_with("isolated-leader run 2/2"), "{made:?}");
    let done = read(folder);
    assert_eq!(done["interrupted"], false);
    assert_eq!(done["rows"][0]["complete"], true);
    for c in done["rows"][0]["cells"].as_array().unwrap() {
        let runs: Vec<&Value> = c["runs"].as_array().unwrap().iter().collect();
        assert_eq!(runs.len(), 2, "{c}");
        assert!(runs.iter().all(|r| r["outcome"] == "passed"), "{c}");
        assert_eq!(c["window"]["values_s"].as_array().unwrap().len(), 2, "{c}");
        // The run made before the Ctrl-C is still the cell's first.
        assert!(
            kept.contains(&runs[0]["folder"].as_str().unwrap().to_string()),
            "{c}"
        );
    }
    // The table reads as one measured at once: measured again from its runs, it is the same.
    let again = run(&["table", "--render", folder.to_str().unwrap()], 0);
    assert_eq!(stdout(&again), stdout(&resumed));
    // Nothing is left to resume.
    let twice = run(&["table", "--resume", folder.to_str().unwrap()], 2);
    assert!(
        stderr(&twice).contains("has every run made: nothing to resume"),
        "{}",
        stderr(&twice)
    );
    assert_eq!(leftovers("redis"), (0, 0, 0), "the table's lab is gone");
}
