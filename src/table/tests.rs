use super::resume::remaining;
use super::*;
use crate::load::measure::Window;
use crate::load::serving::Serving;
use crate::report::{FiredStep, Outcome, Plan, PlanLoad, RunRecord, StepEffect};

const LEADER: Leadership = Leadership::Leader { roles: &[] };

/// etcd's row with these cells, made whole or not (`complete`).
fn etcd_row(cells: Vec<Cell>, complete: bool) -> Row {
    Row {
        system: "etcd".into(),
        title: "etcd".into(),
        version: None,
        leaderless: false,
        images: Vec::new(),
        error: None,
        cells,
        complete,
    }
}

fn opts() -> TableOptions {
    TableOptions {
        repeat: 3,
        before: Duration::from_secs(5),
        hold: Duration::from_secs(15),
        after: Duration::from_secs(10),
        runs_dir: "runs".into(),
        workload: Default::default(),
        isolation: None,
        replica_reads: false,
        faults: TableFaults::Seeds,
        metrics: None,
        rate: None,
        rate_per_node: None,
        max_clients_per_node: None,
    }
}
/// A completed run of an isolation: the window, and who served during and after it.
fn record(window: f64, during: Serving, after: Serving, lost: u64) -> RunRecord {
    let plan = Plan {
        name: "t".into(),
        description: None,
        system: "etcd".into(),
        nodes: 3,
        load: PlanLoad {
            duration: Duration::from_secs(30),
            clients_per_node: 1,
            op_timeout: Duration::from_secs(1),
            rate_per_node: None,
            max_clients_per_node: None,
            warmup: Duration::from_secs(60),
            workload: Default::default(),
            isolation: None,
            replica_reads: false,
        },
        seed: None,
    };
    let mut rec = RunRecord::new(plan, "r".into(), vec!["n1".into(), "n2".into()]);
    rec.outcome = Outcome::Failed;
    let effect = |at: f64, w: f64, s: Serving| StepEffect {
        index: 0,
        label: "x".into(),
        fired_s: at,
        cluster: Window {
            start_s: at,
            end_s: at + w,
            length_s: w,
            open: false,
        },
        nodes: Vec::new(),
        recovery: Vec::new(),
        serving: Some(s),
    };
    rec.effects = vec![effect(5.0, window, during), effect(20.0, 0.0, after)];
    let step = FiredStep {
        index: 1,
        name: Some("mend".into()),
        fault: "heal".into(),
        aim: "all".into(),
        nodes: Vec::new(),
        repeat: 0,
        scheduled_s: 20.0,
        fired_s: 20.0,
        applied_s: 20.0,
        late_ms: 0.0,
        at: String::new(),
        detail: "healed".into(),
    };
    rec.steps = vec![step.clone(), step];
    let mut load: crate::load::summary::Summary = crate::load::summary::Summary::new(
        "r".into(),
        String::new(),
        vec!["n1".into()],
        30_000_000,
        false,
        Vec::new(),
        Default::default(),
    );
    load.safety.lost_writes = lost;
    rec.load = Some(load);
    rec
}

fn serving(none: f64, minority: f64, majority: Option<f64>, all: Option<f64>) -> Serving {
    Serving {
        span_s: 15.0,
        none_s: none,
        minority_s: minority,
        majority_steady_s: majority,
        all_steady_s: all,
    }
}

#[test]
fn a_cell_takes_the_2017_and_2018_measures_and_sums_the_anomalies() {
    let mut c = Cell::new(Experiment::IsolatedLeader, LEADER);
    c.add(
        &record(
            2.4,
            serving(2.0, 0.5, Some(2.5), Some(0.0)),
            serving(0.0, 0.0, Some(0.0), Some(1.2)),
            0,
        ),
        "a".into(),
    );
    c.add(
        &record(
            3.0,
            serving(3.0, 0.0, None, None),
            serving(0.3, 0.0, Some(0.3), None),
            7,
        ),
        "b".into(),
    );
    assert_eq!(c.window.render(2), "2.70 s (2.40–3.00 s)");
    assert_eq!(c.downtime.render(1), "2.5 s (2.0–3.0 s)");
    assert_eq!(c.partial_downtime.render(1), "0.2 s (0.0–0.5 s)");
    // Not steady within the span: at least the span less 0.9 s.
    assert_eq!(c.disturbance.render(1), "≥ 8.3 s (2.5–14.1 s)");
    assert_eq!(c.recovery_downtime.render(1), "0.1 s (0.0–0.3 s)");
    assert_eq!(c.recovery.render(1), "≥ 7.6 s (1.2–14.1 s)");
    assert_eq!(c.render_anomalies(), "7: 7 lost writes");
    let folders = |c: &Cell| c.runs.iter().map(|r| r.folder.clone()).collect::<Vec<_>>();
    assert_eq!(folders(&c), vec!["a", "b"]);
    assert_eq!(c.runs[0].outcome, Outcome::Failed);
    let mut rec = record(
        1.0,
        serving(0.0, 0.0, None, None),
        serving(0.0, 0.0, None, None),
        0,
    );
    rec.outcome = Outcome::Error;
    rec.error = Some("the warm-up failed".into());
    c.add(&rec, "c".into());
    assert_eq!(c.failed, vec!["the warm-up failed"]);
    rec.outcome = Outcome::Interrupted;
    c.add(&rec, "d".into());
    assert_eq!(c.failed.len(), 1, "Ctrl-C is not a failed run");
    assert_eq!(folders(&c), vec!["a", "b", "c", "d"]);
    assert_eq!(c.runs[3].outcome, Outcome::Interrupted);
    assert_eq!(
        c.window.values_s.len(),
        2,
        "a run that did not complete adds no value"
    );
    assert_eq!(
        Cell::new(Experiment::IsolatedFollower, LEADER).render_anomalies(),
        "-"
    );
}

#[test]
fn the_tables_are_the_seeds_markdown() {
    let row = |title: &str, leadership: Leadership, w: f64| {
        let mut cells: Vec<Cell> = Experiment::for_system(leadership)
            .iter()
            .map(|e| Cell::new(*e, leadership))
            .collect();
        cells[0].add(
            &record(
                w,
                serving(w, 0.0, Some(w), Some(w)),
                serving(0.0, 0.0, Some(0.0), Some(0.5)),
                0,
            ),
            "r1".into(),
        );
        Row {
            system: title.to_lowercase(),
            title: title.into(),
            version: None,
            leaderless: leadership == Leadership::None,
            images: vec![format!("perseus/{}:1", title.to_lowercase())],
            error: None,
            cells,
            complete: true,
        }
    };
    let t = render(
        &[
            row("etcd", LEADER, 1.3),
            row("Gryadka", Leadership::None, 0.04),
        ],
        &opts(),
    );
    assert!(t.starts_with("## Crashed and isolated leader (the 2017 summary)\n\n| database | crashed leader | isolated leader | images |\n| --- | --- | --- | --- |\n| etcd | 1.30 s | - | perseus/etcd:1 |\n| Gryadka | 0.04 s | - | perseus/gryadka:1 |\n"), "{t}");
    assert!(
        t.contains(
            "Gryadka has no leader: the faults hit n1, and there is no follower to isolate."
        ),
        "{t}"
    );
    assert!(t.contains("| database | isolated | downtime on isolation | partial downtime on isolation | disturbance time | downtime on recovery | partial downtime on recovery | recovery time |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n| etcd | leader | - | - | - | - | - | - |\n| etcd | follower | - | - | - | - | - | - |\n| Gryadka | n1 | - | - | - | - | - | - |\n"), "{t}");
    assert!(t.contains("| database | crashed leader | isolated leader | isolated follower |\n| --- | --- | --- | --- |\n| etcd | 0 | - | - |\n| Gryadka | 0 | - | - |\n"), "{t}");
    let table = Table {
        started: String::new(),
        folder: "runs/t".into(),
        options: opts(),
        rows: vec![row("etcd", LEADER, 1.3)],
        skipped: vec!["cockroach: cockroachdb/cockroach:v25.2.4 not on this Engine".into()],
        interrupted: false,
        planned: vec!["etcd".into()],
    };
    let md = markdown(&table);
    assert!(
        md.contains("- etcd crashed leader: [r1](r1/report.md)\n"),
        "{md}"
    );
    assert!(md.contains("Left out: cockroach: "), "{md}");
    // table.html: the same cells, every run's page linked, the prose's code marked.
    let h = html(&table);
    assert!(
        h.contains("<td>etcd</td><td class=\"num\">1.30 s</td>"),
        "{h}"
    );
    assert!(h.contains("<a href=\"r1/report.html\">r1</a>"), "{h}");
    assert!(h.contains("<code>≥</code>: the outage lasted"), "{h}");
    assert!(!h.contains("http://") && !h.contains("<script"), "{h}");
    let json = serde_json::to_value(&table).unwrap();
    assert_eq!(json["rows"][0]["cells"][0]["experiment"], "crashed-leader");
    assert_eq!(json["rows"][0]["cells"][2]["target"], "follower");
    assert_eq!(json["options"]["hold"], "15s");
}

#[test]
fn a_table_is_measured_again_from_its_runs_summaries() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = record(
        2.4,
        serving(2.0, 0.5, Some(2.5), None),
        serving(0.0, 0.0, Some(0.0), Some(1.2)),
        3,
    );
    std::fs::create_dir(tmp.path().join("r1")).unwrap();
    std::fs::write(
        tmp.path().join("r1/summary.json"),
        serde_json::to_string(&rec).unwrap(),
    )
    .unwrap();
    let mut cell = Cell::new(Experiment::IsolatedLeader, LEADER);
    cell.add(&rec, "r1".into());
    cell.failed.push("a run that could not be made".into());
    // What an older Perseus wrote: a bound the measures no longer give.
    cell.recovery = Series {
        values_s: vec![15.0],
        at_least: vec![true],
    };
    let table = Table {
        started: String::new(),
        folder: tmp.path().to_path_buf(),
        options: opts(),
        rows: vec![etcd_row(vec![cell], true)],
        skipped: Vec::new(),
        interrupted: false,
        planned: vec!["etcd".into()],
    };
    write(&table).unwrap();
    let again = render_again(tmp.path()).unwrap();
    let c = &again.rows[0].cells[0];
    assert_eq!(c.recovery.values_s, vec![1.2]);
    assert_eq!(c.disturbance.values_s, vec![2.5]);
    assert_eq!(c.anomalies.lost_writes, 3);
    assert_eq!(c.failed, vec!["a run that could not be made"]);
    let md = std::fs::read_to_string(tmp.path().join("table.md")).unwrap();
    assert!(
        md.contains(
            "| etcd | leader | 2.0 s, 1 run failed | 0.5 s | 2.5 s | 0.0 s | 0.0 s | 1.2 s |"
        ),
        "{md}"
    );
    let page = std::fs::read_to_string(tmp.path().join("table.html")).unwrap();
    assert!(
        page.contains("<td class=\"num\">2.0 s, 1 run failed</td>"),
        "{page}"
    );
    // A folder without a table, and a table whose run folder is gone, are refused.
    let err = render_again(&tmp.path().join("r1")).unwrap_err();
    assert!(err.to_string().contains("is not a table's folder"), "{err}");
    std::fs::remove_dir_all(tmp.path().join("r1")).unwrap();
    let err = render_again(tmp.path()).unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
}

fn sys(name: &str) -> SystemRef {
    SystemRef::parse(name).unwrap()
}

#[test]
fn the_plan_counts_each_systems_experiments_and_the_time() {
    let home = Home::at(env!("CARGO_MANIFEST_DIR"));
    let systems = ["etcd", "etcd@3.5.1", "gryadka"].map(|s| SystemRef::parse(s).unwrap());
    let p = plan(&home, &systems, &opts()).unwrap();
    assert_eq!(
        p.systems,
        vec![
            ("etcd".to_string(), Experiment::for_system(LEADER)),
            ("etcd@3.5.1".to_string(), Experiment::for_system(LEADER)),
            (
                "gryadka".to_string(),
                Experiment::for_system(Leadership::None)
            ),
        ]
    );
    assert_eq!(p.runs, (3 + 3 + 2) * 3);
    assert_eq!(p.time, Duration::from_secs(24 * (30 + 6) + 3 * 20));
    // A release the definition does not list is refused before anything runs.
    let e = plan(&home, &[SystemRef::parse("etcd@3.6.0").unwrap()], &opts()).unwrap_err();
    assert_eq!(e.exit_code(), 2);
}

#[test]
fn table_scenarios_are_valid_scenarios() {
    for leadership in [LEADER, Leadership::None] {
        for exp in Experiment::for_system(leadership) {
            let o = opts();
            let sc = scenario(&sys("etcd"), leadership, *exp, o.before, o.hold, o.after);
            let text = serde_yaml::to_string(&sc).unwrap();
            let back = crate::scenario::parse(std::path::Path::new("t.yaml"), &text).unwrap();
            assert_eq!(back, sc, "{text}");
            assert_eq!(back.load.duration, Duration::from_secs(30));
        }
    }
    let o = opts();
    let sc = scenario(
        &sys("etcd"),
        LEADER,
        Experiment::IsolatedFollower,
        o.before,
        o.hold,
        o.after,
    );
    assert_eq!(sc.steps[0].describe(), "isolate follower");
    let sc = scenario(
        &sys("gryadka"),
        Leadership::None,
        Experiment::IsolatedLeader,
        o.before,
        o.hold,
        o.after,
    );
    assert_eq!(sc.steps[0].describe(), "isolate n1");
    assert_eq!(sc.steps[1].describe(), "heal");
}

/// `perseus table --rate`: every run's register loop is open at that rate, and a scenario
/// made so is valid; without it the loop stays closed.
#[test]
fn the_tables_rate_reaches_every_runs_scenario() {
    let mut o = opts();
    let exp = Experiment::CrashedLeader;
    let closed = run_scenario(&sys("etcd"), LEADER, exp, &o);
    assert_eq!(closed.schedule(), None);
    o.rate = Some(crate::load::open::Rate(900.0));
    o.max_clients_per_node = Some(64);
    let sc = run_scenario(&sys("etcd"), LEADER, exp, &o);
    let s = sc.schedule().unwrap();
    assert_eq!((s.rate_per_node, s.max_clients_per_node), (300.0, 64));
    let text = serde_yaml::to_string(&sc).unwrap();
    let back = crate::scenario::parse(std::path::Path::new("t.yaml"), &text).unwrap();
    assert_eq!(back, sc, "{text}");
    assert!(text.contains("rate: 900/s"), "{text}");
}

#[test]
fn a_stopped_table_knows_the_runs_it_has_left() {
    let home = Home::at(env!("CARGO_MANIFEST_DIR"));
    let done = record(
        1.0,
        serving(1.0, 0.0, Some(1.0), Some(1.0)),
        serving(0.0, 0.0, Some(0.0), Some(0.5)),
        0,
    );
    let mut cut = done.clone();
    cut.outcome = Outcome::Interrupted;
    // etcd: three experiments, three runs each; two runs made, and one cut short.
    let mut cells: Vec<Cell> = Experiment::for_system(LEADER)
        .iter()
        .map(|e| Cell::new(*e, LEADER))
        .collect();
    cells[0].add(&done, "r1".into());
    cells[1].add(&done, "r2".into());
    cells[2].add(&cut, "r3".into());
    let row = etcd_row(cells, false);
    let mut table = Table {
        started: String::new(),
        folder: "runs/t".into(),
        options: opts(),
        rows: vec![row],
        skipped: Vec::new(),
        interrupted: true,
        planned: vec!["etcd".into(), "redis".into()],
    };
    assert_eq!(
        made(&table.rows[0].cells[2]),
        0,
        "a run cut short is not made"
    );
    assert_eq!(done_runs(&table), 2);
    let systems: Vec<SystemRef> = table
        .planned
        .iter()
        .map(|s| SystemRef::parse(s).unwrap())
        .collect();
    // etcd: 9 - 2; redis (not reached, no leader): two experiments, three runs each.
    assert_eq!(remaining(&home, &table, &systems).unwrap(), 7 + 6);
    // A complete row is left as it is, even one whose runs failed.
    table.rows[0].complete = true;
    assert_eq!(done_runs(&table), 9);
    assert_eq!(remaining(&home, &table, &systems).unwrap(), 6);
    // A release is its own row.
    let other = [SystemRef::parse("etcd@3.5.1").unwrap()];
    assert!(find_row(&table, &other[0]).is_none());
    // What an older table.json lacks reads as nothing planned and no row complete.
    let mut json = serde_json::to_value(&table).unwrap();
    json.as_object_mut().unwrap().remove("planned");
    json["rows"][0].as_object_mut().unwrap().remove("complete");
    let old: Table = serde_json::from_value(json).unwrap();
    assert!(old.planned.is_empty() && !old.rows[0].complete);
}
