//! `perseus load` against a healthy etcd cluster: the output contract and the acknowledged counts;
//! then, on the same lab, its live metrics (`--metrics`) while a node is paused, read with the
//! OpenMetrics parser of Prometheus' own Python client.

mod common;

use common::*;

#[test]
fn every_node_serves_and_etcd_holds_exactly_what_was_acknowledged() {
    let lab = LabGuard::up("etcd", &[]);
    let spawned = std::time::SystemTime::now();
    let r = LoadRun::start("etcd", 5, &["--clients-per-node", "2"]).finish();
    let finished = std::time::SystemTime::now();
    // `started` is the wall-clock time of second 0, which the fault tests place events against:
    // after the command was spawned, and a whole run before it ended.
    let started = r.started();
    assert!(
        started >= spawned && started + std::time::Duration::from_secs_f64(r.end()) <= finished,
        "started {} lies between the spawn and the end of the run: {}",
        r.summary["started"],
        r.summary
    );
    assert_eq!(r.rows.len(), 5, "one line per second: {}", r.stdout);
    for row in &r.rows {
        assert_eq!(row.len(), 5, "sec, total, n1, n2, n3: {row:?}");
        assert!(
            row[2..].iter().all(|&c| c > 0),
            "all three columns > 0: {row:?}"
        );
    }
    let s = &r.summary;
    assert_safe(s);
    let total: u64 = r.rows.iter().map(|row| row[1]).sum();
    assert_eq!(
        s["iterations"].as_u64().unwrap(),
        total,
        "the summary counts what the lines show"
    );
    let w = s["cluster_window"]["length_s"].as_f64().unwrap();
    assert!(w < 0.5, "no outage without a fault: {w}");

    let run_id = s["run_id"].as_str().unwrap();
    let held: std::collections::HashMap<String, u64> =
        etcdctl_get_prefix("perseus-etcd-n1", &format!("{run_id}/"))
            .into_iter()
            .collect();
    let keys = s["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 6, "2 connections per node, one key each");
    for key in keys {
        let name = key["key"].as_str().unwrap();
        assert!(
            name.starts_with(&format!("{run_id}/n")),
            "keys are <run-id>/<node>/<conn>: {name}"
        );
        let acked = key["last_acked"].as_u64().unwrap();
        assert!(
            held[name] >= acked && held[name] <= key["max_possible"].as_u64().unwrap(),
            "{name}: etcd {} vs acknowledged {acked}",
            held[name]
        );
        // Without faults each iteration adds exactly one; the write in flight when the load
        // stopped may have been acknowledged after its end, outside its counted iterations.
        let counted = key["iterations"].as_u64().unwrap();
        assert!(
            acked == counted || acked == counted + 1,
            "{name}: {counted} iterations counted, {acked} acknowledged"
        );
    }
    // The same lab serves the metrics check (one lab, two checks).
    live_metrics_follow_the_load_and_a_pause(&lab);
}

/// A Python with `prometheus_client` (Debian's python3-prometheus-client, or PyPI's): the
/// outside parser the scrapes must satisfy. Under `CI=true` its absence fails the test.
fn openmetrics_python() -> Option<&'static str> {
    let found = ["python3", "/usr/bin/python3"].into_iter().find(|py| {
        std::process::Command::new(py)
            .args(["-c", "import prometheus_client.openmetrics.parser"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "no python3 with prometheus_client: scripts/setup installs python3-prometheus-client"
        );
        eprintln!("skipped: no python3 with prometheus_client (scripts/setup installs it)");
    }
    found
}

/// One sample of a scrape, as the outside parser read it.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: std::collections::BTreeMap<String, String>,
    value: f64,
}

/// Scrape `http://addr/metrics` and parse it with `prometheus_client`'s OpenMetrics parser,
/// which refuses anything that is not valid OpenMetrics (a missing `# EOF` included).
fn scrape(py: &str, addr: &str) -> Vec<Sample> {
    const PARSE: &str = r#"
import json, sys, urllib.request
from prometheus_client.openmetrics.parser import text_string_to_metric_families
with urllib.request.urlopen("http://" + sys.argv[1] + "/metrics", timeout=5) as r:
    assert r.headers["Content-Type"].startswith("application/openmetrics-text"), r.headers["Content-Type"]
    text = r.read().decode()
for family in text_string_to_metric_families(text):
    for s in family.samples:
        print(json.dumps({"name": s.name, "labels": s.labels, "value": s.value}))
"#;
    let out = std::process::Command::new(py)
        .args(["-c", PARSE, addr])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "the scrape of {addr} failed or is not valid OpenMetrics: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Sample {
                name: v["name"].as_str().unwrap().to_string(),
                labels: serde_json::from_value(v["labels"].clone()).unwrap(),
                value: v["value"].as_f64().unwrap(),
            }
        })
        .collect()
}

/// The value of the sample `name` whose labels include `with`.
fn sample(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && with
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

fn live_metrics_follow_the_load_and_a_pause(lab: &LabGuard) {
    let Some(py) = openmetrics_python() else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let load = LoadRun::start("etcd", 24, &["--metrics", &addr]);
    // Wait until the run has served two seconds.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let first = loop {
        assert!(std::time::Instant::now() < deadline, "metrics never served");
        std::thread::sleep(std::time::Duration::from_millis(300));
        let Ok(probe) = std::net::TcpStream::connect(&addr) else {
            continue;
        };
        drop(probe);
        let s = scrape(py, &addr);
        if sample(&s, "perseus_second", &[]).unwrap_or(0.0) >= 2.0 {
            break s;
        }
    };
    let run = first
        .iter()
        .find(|s| s.name == "perseus_second")
        .map(|s| s.labels["run"].clone())
        .unwrap();
    let ok = |s: &[Sample], node: &str| {
        sample(
            s,
            "perseus_operations_total",
            &[
                ("node", node),
                ("outcome", "ok"),
                ("system", "etcd"),
                ("run", &run),
            ],
        )
        .unwrap_or_else(|| panic!("no ok counter for {node}"))
    };
    let before = [ok(&first, "n1"), ok(&first, "n2"), ok(&first, "n3")];
    assert!(
        before.iter().all(|&v| v > 0.0),
        "every node served: {before:?}"
    );
    assert_eq!(
        sample(
            &first,
            "perseus_fault_active",
            &[("kind", "pause"), ("target", "n2")]
        ),
        None,
        "no fault yet"
    );
    lab.fault("pause", "n2");
    // The load reads the faults from the lab every 5 s (`status::WATCH_EVERY`).
    std::thread::sleep(perseus::status::WATCH_EVERY + std::time::Duration::from_secs(1));
    let during = scrape(py, &addr);
    assert_eq!(
        sample(
            &during,
            "perseus_fault_active",
            &[("kind", "pause"), ("target", "n2"), ("run", &run)]
        ),
        Some(1.0),
        "the pause shows while in force"
    );
    assert!(
        ok(&during, "n1") > before[0] && ok(&during, "n3") > before[2],
        "counters grow"
    );
    let window = sample(
        &during,
        "perseus_unavailability_window_seconds",
        &[("node", "n2")],
    )
    .unwrap();
    assert!(window >= 2.0, "n2 has not served for {window} s");
    let served = sample(
        &during,
        "perseus_latency_seconds_count",
        &[("node", "n1"), ("outcome", "ok")],
    )
    .unwrap();
    let inf = sample(
        &during,
        "perseus_latency_seconds_bucket",
        &[("node", "n1"), ("le", "+Inf"), ("outcome", "ok")],
    )
    .unwrap();
    assert!(
        served > 0.0 && inf == served,
        "the histogram counts every ok: {served} {inf}"
    );
    lab.fault("resume", "n2");
    std::thread::sleep(perseus::status::WATCH_EVERY + std::time::Duration::from_secs(1));
    let after = scrape(py, &addr);
    assert_eq!(
        sample(
            &after,
            "perseus_fault_active",
            &[("kind", "pause"), ("target", "n2")]
        ),
        Some(0.0),
        "the pause is over"
    );
    let r = load.finish();
    // What the series counted is what the TSV printed, node by node (the last scrape is at
    // most a few seconds old, so compare the totals to the summary's).
    let tsv_n1: u64 = r.rows.iter().map(|row| row[2]).sum();
    assert!(
        ok(&after, "n1") as u64 <= tsv_n1,
        "the series never run ahead of the TSV"
    );
    // It served only while the run ran.
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "metrics still served after the load ended"
    );
}
