use super::record::fixture::{promotion, record};
use super::*;

#[test]
fn the_transactions_anomalies_are_marked_on_the_plot_and_in_the_report() {
    use crate::checker::list_append::{Mop, Outcome as TxnOutcome, Txn};
    use crate::workload::{summarize, windows, TxnHistory, TxnRecord, Workload};
    let mut r = record(Outcome::Passed);
    assert!(plot_data(&r, &[]).anomalies.is_empty());
    let t = |process, at_s: u64, mops| TxnRecord {
        node: 0,
        reader: false,
        txn: Txn {
            process,
            outcome: TxnOutcome::Ok,
            invoked: at_s * 1_000_000_000,
            completed: Some(at_s * 1_000_000_000 + 1),
            mops,
        },
        error: None,
    };
    // A lost update that became observable in second 8.
    let h = TxnHistory {
        run_id: "r".into(),
        workload: Workload::ListAppend,
        isolation: None,
        read_port: None,
        nodes: r.nodes.clone(),
        txns: vec![
            t(0, 7, vec![Mop::Read(1, Some(vec![])), Mop::Append(1, 1)]),
            t(1, 7, vec![Mop::Read(1, Some(vec![])), Mop::Append(1, 2)]),
            t(2, 9, vec![Mop::Read(1, Some(vec![1, 2]))]),
        ],
        bank: Vec::new(),
        bank_total: 0,
        connect_errors: vec![0; 3],
        end_ns: 20_000_000_000,
        interrupted: false,
    };
    let mut s = summarize(&h);
    s.windows = windows(&s, &h, &[(5.0, "kill n2".into())]);
    r.transactions = Some(s);
    assert_eq!(plot_data(&r, &[]).anomalies, [8]);
    let md = markdown::report_md(&r, &[]);
    assert!(md.contains("## Transactions: list-append"), "{md}");
    assert!(
        md.contains("| kill n2 | 5.00 s | 20.00 s | 3 | 0 | 0 |"),
        "{md}"
    );
    // summary.json reads back (perseus table --render does), anomalies and all.
    let json = serde_json::to_string(&r).unwrap();
    let back: RunRecord = serde_json::from_str(&json).unwrap();
    let (a, b) = (back.transactions.unwrap(), r.transactions.unwrap());
    assert_eq!(
        a.list_append.as_ref().unwrap().shown,
        b.list_append.as_ref().unwrap().shown
    );
    assert_eq!(a.windows, b.windows);
}

#[test]
fn a_promotion_is_marked_on_the_plot() {
    let mut r = record(Outcome::Passed);
    assert!(plot_data(&r, &[]).promotions.is_empty());
    r.promotions.push(promotion());
    let data = plot_data(&r, &[]);
    assert_eq!(data.promotions.len(), 1);
    assert_eq!(data.promotions[0].label, "n1 promoted");
}

#[test]
fn a_run_folder_round_trips_and_renders_again() {
    let tmp = tempfile::tempdir().unwrap();
    let mut f = RunFolder::create(tmp.path(), "t", "name: t\n").unwrap();
    assert!(f.name().ends_with("-t"), "{}", f.name());
    let nodes: Vec<NodeName> = vec!["n1".into(), "n2".into(), "n3".into()];
    f.event(&Event::Entry(Entry::now(
        What::LoadStart {
            run: "r1".into(),
            clients_per_node: 1,
            rate_per_node: None,
            duration_s: 20.0,
            nodes: nodes.clone(),
            leader: Some("n2".into()),
            release: Some("3.5.1".into()),
            versions: [("n1", "3.5.1"), ("n3", "3.5.1")]
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .into(),
        },
        Some(0.0),
    )));
    for s in 1..=20 {
        f.event(&Event::Second(crate::load::Second {
            sec: s,
            counts: vec![100, if (6..13).contains(&s) { 0 } else { 90 }, 80],
            errors: vec![0, 0, 0],
            info: vec![0, 0, 0],
            complete: true,
        }));
    }
    let dir = f.dir.clone();
    let mut rec = record(Outcome::Failed);
    rec.release = Some("3.5.1".into());
    rec.versions = [("n1", "3.5.1"), ("n3", "3.5.1")]
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .into();
    f.finish(&rec).unwrap();

    for file in [
        "scenario.yaml",
        "events.jsonl",
        "metrics.tsv",
        "summary.json",
        "report.md",
        "report.html",
        "plot.svg",
    ] {
        assert!(dir.join(file).exists(), "{file}");
    }
    let (names, rows) = read_metrics(&dir).unwrap();
    assert_eq!(names, nodes);
    assert_eq!(rows.len(), 20);
    assert_eq!(rows[6], (7, vec![100, 0, 80]));
    // Re-rendering from the folder gives the same report.
    let before = fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        before.contains("Versions the servers reported: 3.5.1 (n1, n3); the lab's release: 3.5.1."),
        "{before}"
    );
    fs::remove_file(dir.join("report.md")).unwrap();
    fs::remove_file(dir.join("plot.svg")).unwrap();
    render(&dir).unwrap();
    assert_eq!(fs::read_to_string(dir.join("report.md")).unwrap(), before);
    assert!(fs::read_to_string(dir.join("plot.svg"))
        .unwrap()
        .contains("kill n2 (leader)"));
    // A second folder in the same second gets its own name.
    let g = RunFolder::create(tmp.path(), "t", "").unwrap();
    assert_ne!(g.dir, dir);
    // Not a run folder: one line that says what to give.
    let e = read_record(tmp.path()).unwrap_err().to_string();
    assert!(
        e.contains("is not a run folder") && !e.contains('\n'),
        "{e}"
    );
    let lines = fs::read_to_string(dir.join("events.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["kind"], "load-start");
    assert_eq!(first["nodes"], serde_json::json!(["n1", "n2", "n3"]));
    assert_eq!(first["release"], "3.5.1");
    assert_eq!(first["versions"]["n3"], "3.5.1");
}

/// A step of `fault` on `nodes`, in force at `applied_s`.
fn fired(fault: &str, nodes: &[&str], applied_s: f64) -> FiredStep {
    FiredStep {
        index: 0,
        name: None,
        fault: fault.into(),
        aim: String::new(),
        nodes: nodes.iter().map(|&n| n.into()).collect(),
        repeat: 0,
        scheduled_s: applied_s - 0.5,
        fired_s: applied_s - 0.4,
        applied_s,
        late_ms: 0.0,
        at: String::new(),
        detail: String::new(),
    }
}

/// A load summary of `duration_s` over n1, n2, n3 without any latency.
fn load(duration_s: f64) -> crate::load::summary::Summary {
    let mut l = crate::load::summary::Summary::new(
        "r1".into(),
        String::new(),
        vec!["n1".into(), "n2".into(), "n3".into()],
        1_000_000,
        false,
        Vec::new(),
        crate::load::timeline::Timelines::empty(3),
    );
    l.duration_s = duration_s;
    l
}

#[test]
fn fault_spans_run_from_in_force_to_undone_or_the_end_of_the_load() {
    let mut r = record(Outcome::Passed);
    r.load = Some(load(30.0));
    r.steps = vec![
        fired("kill", &["n1"], 10.0),
        fired("start", &["n2"], 11.0),
        fired("start", &["n1"], 13.0),
    ];
    assert_eq!(fault_spans(&r), vec![(10.0, 13.0, "kill n1".to_string())]);
    // `start n2` does not end `kill n1`: it runs to the end of the load.
    r.steps = vec![fired("kill", &["n1"], 10.0), fired("start", &["n2"], 13.0)];
    assert_eq!(fault_spans(&r), vec![(10.0, 30.0, "kill n1".to_string())]);
    // A pause never resumed runs to the end; a heal ends an isolate and a partition, not the
    // pause; spans are in the order the faults began.
    r.steps = vec![
        fired("pause", &["n3"], 2.0),
        fired("isolate", &["n1"], 5.0),
        fired("partition", &["n1", "n2"], 6.0),
        fired("heal", &[], 9.5),
    ];
    assert_eq!(
        fault_spans(&r),
        vec![
            (2.0, 30.0, "pause n3".to_string()),
            (5.0, 9.5, "isolate n1".to_string()),
            (6.0, 9.5, "partition".to_string()),
        ]
    );
    // A kill of two nodes ends when the last of them is started again.
    r.steps = vec![
        fired("kill", &["n1", "n2"], 1.0),
        fired("start", &["n1"], 4.0),
        fired("start", &["n2"], 7.0),
    ];
    assert_eq!(fault_spans(&r), vec![(1.0, 7.0, "kill n1,n2".to_string())]);
    // Without a load, an undone fault still ends at its undo, one never undone where it
    // began.
    r.load = None;
    r.steps = vec![fired("stop", &["n2"], 3.0)];
    assert_eq!(fault_spans(&r), vec![(3.0, 3.0, "stop n2".to_string())]);
}

#[test]
fn render_draws_both_latency_plots_when_an_operation_was_timed_and_neither_otherwise() {
    use crate::load::latency::{LatencySample, Outcome as Op};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smoke-run");
    for e in fs::read_dir(&fixture).unwrap() {
        let p = e.unwrap().path();
        fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    let nodes: Vec<NodeName> = vec!["n1".into(), "n2".into(), "n3".into()];
    let at = |t_s: f64, ms: f64, outcome| LatencySample {
        at_us: (t_s * 1e6) as u64,
        latency_us: (ms * 1e3) as u64,
        outcome,
    };
    let samples = vec![
        (0..5).map(|i| at(1.0 + i as f64, 2.0, Op::Ok)).collect(),
        vec![
            at(4.6, 900.0, Op::Fail),
            at(5.0, 1_000.0, Op::Fail),
            at(6.0, 2_000.0, Op::Info),
        ],
        (0..4).map(|i| at(2.0 + i as f64, 3.0, Op::Ok)).collect(),
    ];
    write_latency_samples(dir, &nodes, &samples).unwrap();
    render(dir).unwrap();
    let quantiles = fs::read_to_string(dir.join("latency-quantiles.svg")).unwrap();
    let raw = fs::read_to_string(dir.join("latency-raw.svg")).unwrap();
    assert!(quantiles.contains("smoke (etcd, 3 nodes): latency quantiles"));
    // The fixture's kill of n2 at 4.49 s, never undone, shaded and labelled.
    for svg in [&quantiles, &raw] {
        assert!(svg.contains(">\nkill n2"), "kill n2 labelled");
    }
    // One point per sample written, and the note saying they are a sample of the 1,093
    // operations the fixture timed.
    assert_eq!(raw.matches(" r=\"2\"").count(), 12);
    assert!(raw.contains("12 of 1,093 operations"), "{raw}");
    let md = fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("![latency quantiles](latency-quantiles.svg)"),
        "{md}"
    );
    assert!(md.contains("](latency-raw.svg)"), "{md}");
    let html = fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg ").count(), 3, "three plots inline");
    assert!(html.contains("<a href=\"latency-raw.svg\">latency-raw.svg</a>"));
    assert!(!html.contains("<img") && !html.contains("xmlns"));

    // A run without a load, and one whose load timed nothing: neither plot, no link.
    for load in [None, Some(load(20.0))] {
        let tmp = tempfile::tempdir().unwrap();
        let mut r = record(Outcome::Passed);
        r.load = load;
        fs::write(
            tmp.path().join("summary.json"),
            serde_json::to_string(&r).unwrap(),
        )
        .unwrap();
        render(tmp.path()).unwrap();
        assert!(tmp.path().join("plot.svg").is_file());
        assert!(!tmp.path().join("latency-quantiles.svg").exists());
        assert!(!tmp.path().join("latency-raw.svg").exists());
        let md = fs::read_to_string(tmp.path().join("report.md")).unwrap();
        assert!(!md.contains("latency-"), "{md}");
        let html = fs::read_to_string(tmp.path().join("report.html")).unwrap();
        assert!(!html.contains("latency-") && html.matches("<svg ").count() == 1);
    }
}

#[test]
fn a_folder_that_could_not_be_written_says_so_when_finished() {
    let tmp = tempfile::tempdir().unwrap();
    let mut f = RunFolder::create(tmp.path(), "t", "name: t\n").unwrap();
    // metrics.tsv cannot be made where a folder of that name stands.
    fs::create_dir(f.dir.join("metrics.tsv")).unwrap();
    f.event(&Event::Entry(Entry::now(
        What::LoadStart {
            run: "r1".into(),
            clients_per_node: 1,
            rate_per_node: None,
            duration_s: 20.0,
            nodes: vec!["n1".into()],
            leader: None,
            release: None,
            versions: Default::default(),
        },
        Some(0.0),
    )));
    let dir = f.dir.clone();
    let e = f.finish(&record(Outcome::Passed)).unwrap_err();
    assert!(e.to_string().contains("metrics.tsv"), "{e}");
    assert_eq!(e.exit_code(), 1);
    // The summary, the one file scripts read, is still written, whole.
    let back = read_record(&dir).unwrap();
    assert_eq!(back.outcome, Outcome::Passed);
    assert!(fs::read_dir(&dir).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".partial")));
}

#[test]
fn a_file_is_written_whole_or_not_at_all() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("summary.json");
    write_whole(&path, b"{}\n").unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "{}\n");
    // Replaced whole.
    write_whole(&path, b"[1]\n").unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "[1]\n");
    // A write that cannot be made names the file and leaves nothing half-made.
    let missing = tmp.path().join("gone").join("summary.json");
    let e = write_whole(&missing, b"{}").unwrap_err();
    assert!(
        e.to_string()
            .starts_with(&format!("writing {}", missing.display())),
        "{e}"
    );
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
}
