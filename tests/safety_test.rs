//! The loss verdicts on real containers: anomalies made with the databases' own tools are reported
//! with the right kind, node and key, healthy runs report none, and the history Perseus writes
//! checks the same way (`perseus check`).

mod common;

use std::collections::BTreeMap;

use common::*;

/// The anomalies of a summary, as (kind, node, key).
fn anomalies(summary: &serde_json::Value) -> Vec<(String, String, String)> {
    summary["anomalies"]
        .as_array()
        .expect("anomalies")
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_string(),
                a["node"].as_str().unwrap().to_string(),
                a["key"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every key of `node` in a summary, with its fields.
fn keys_of<'a>(summary: &'a serde_json::Value, node: &str) -> Vec<&'a serde_json::Value> {
    summary["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["node"] == node)
        .collect()
}

/// `redis-cli GET` of every key `prefix` names, inside the node's container.
fn redis_values(node: &str, keys: &[&serde_json::Value]) -> BTreeMap<String, u64> {
    keys.iter()
        .map(|k| {
            let key = k["key"].as_str().unwrap();
            let v = exec_output(&format!("perseus-redis-{node}"), &["redis-cli", "GET", key]);
            (key.to_string(), v.trim().parse().unwrap_or(0))
        })
        .collect()
}

#[test]
fn a_flushall_on_one_redis_node_is_lost_on_its_keys_only_every_time() {
    let _lab = LabGuard::up("redis", &[]);
    let dir = tempfile::tempdir().unwrap();
    // The old blind SET hid the wipe whenever it landed between the loop's GET and SET (4 runs
    // out of 8 here): with compare-and-set every wipe is reported.
    for round in 1..=8 {
        let history = dir.path().join(format!("h{round}.edn"));
        let load = LoadRun::start(
            "redis",
            3,
            &[
                "--clients-per-node",
                "2",
                "--history",
                history.to_str().unwrap(),
            ],
        );
        sleep_s(1.5);
        exec_output("perseus-redis-n2", &["redis-cli", "FLUSHALL"]);
        let r = load.finish();
        let s = &r.summary;
        let found = anomalies(s);
        assert!(
            !found.is_empty(),
            "round {round}: the wipe of n2 went unreported: {s}"
        );
        for (kind, node, _) in &found {
            assert_eq!(
                (kind.as_str(), node.as_str()),
                ("lost", "n2"),
                "round {round}: {}",
                s["anomalies"]
            );
        }
        for node in ["n1", "n3"] {
            for k in keys_of(s, node) {
                assert_eq!(k["lost_writes"], 0, "round {round}: {k}");
            }
        }
        // Each of n2's keys lost what it held at the wipe; its final read is what redis-cli reads,
        // within what the loop wrote since (a write cut off by the end may have landed).
        let n2 = keys_of(s, "n2");
        let held = redis_values("n2", &n2);
        for k in n2 {
            let name = k["key"].as_str().unwrap();
            assert!(k["lost_writes"].as_u64().unwrap() > 0, "round {round}: {k}");
            assert_eq!(k["final"], held[name], "round {round}: {k}");
            let fin = k["final"].as_u64().unwrap();
            assert!(
                fin >= k["last_acked"].as_u64().unwrap()
                    && fin <= k["max_possible"].as_u64().unwrap(),
                "round {round}: {k}"
            );
        }
        assert_eq!(
            s["nodes"][1]["lost_writes"], s["lost_writes"],
            "round {round}: n2 holds every loss"
        );
        // Checked again from the history alone, key by key, the verdicts are the same: n2's
        // keys read 0 after an acknowledged value, which a register that starts at 0 rejects.
        let report = assert_history_agrees(s, &history);
        for k in report["keys"].as_array().unwrap() {
            if k["verdict"] == "not-linearizable" {
                assert_eq!(k["first"]["op"]["op"], "read 0", "round {round}: {k}");
            }
        }
        eprintln!(
            "round {round}: {} lost writes on n2 ({} anomalies listed), n1 and n3 none",
            s["lost_writes"],
            found.len()
        );
    }
    // A history cut at a tiny cap says so in the file, in the summary and in `perseus check`,
    // which exits non-zero naming the line where it stops, however the wipe went.
    let history = dir.path().join("cut.edn");
    let load = LoadRun::start(
        "redis",
        3,
        &[
            "--history",
            history.to_str().unwrap(),
            "--history-max",
            "20000",
        ],
    );
    sleep_s(1.5);
    exec_output("perseus-redis-n2", &["redis-cli", "FLUSHALL"]);
    let r = load.finish();
    let h = &r.summary["history"];
    assert!(h["truncated_at_s"].as_f64().is_some(), "{h}");
    assert!(h["bytes"].as_u64().unwrap() <= 20000, "{h}");
    let text = std::fs::read_to_string(&history).unwrap();
    let last = text.lines().last().unwrap();
    assert!(last.starts_with("; perseus: history cut"), "{last}");
    let out = perseus().arg("check").arg(&history).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let stops = format!(
        "{}:{}: the history stops here",
        history.display(),
        text.lines().count()
    );
    assert!(err.contains(&stops), "{err}");
    assert!(err.contains("0 linearizable"), "{err}");
    let c = &r.summary["history_check"];
    assert!(c["truncated"].as_str().is_some(), "{c}");
    assert_eq!(c["linearizable"], 0, "{c}");
    // The loop's own check saw every operation: its verdicts stand, and the summary says the
    // history is cut.
    assert_eq!(r.summary["unverified_keys"], 0, "{}", r.summary);
    assert!(
        r.summary["lost_writes"].as_u64().unwrap() > 0,
        "{}",
        r.summary
    );
    eprintln!("a history cut at 20000 bytes: {}", err.trim());
}

#[test]
fn an_older_value_put_back_in_etcd_is_a_loss_on_that_key() {
    let lab = LabGuard::up("etcd", &[]);
    let load = LoadRun::start("etcd", 6, &[]);
    sleep_s(3.0);
    // The key of n1's connection, as etcd holds it now, put back 50 increments with etcdctl.
    let n1 = "perseus-etcd-n1";
    let held = etcdctl_get_prefix(n1, "r");
    let (key, value) = held
        .into_iter()
        .find(|(k, _)| k.contains("/n1/"))
        .expect("n1's key");
    assert!(value > 60, "{key} holds {value}");
    exec_output(
        n1,
        &[
            "env",
            "ETCDCTL_API=3",
            "etcdctl",
            "--endpoints=http://127.0.0.1:2379",
            "put",
            &key,
            &(value - 50).to_string(),
        ],
    );
    let r = load.finish();
    let s = &r.summary;
    let found = anomalies(s);
    assert!(!found.is_empty(), "the put-back went unreported: {s}");
    for (kind, node, k) in &found {
        assert_eq!(
            (kind.as_str(), node.as_str(), k.as_str()),
            ("lost", "n1", key.as_str()),
            "{}",
            s["anomalies"]
        );
    }
    let lost = s["lost_writes"].as_u64().unwrap();
    assert!(
        lost >= 50,
        "at least the 50 increments put back, and those the loop acknowledged between the read and the put: {lost}"
    );
    eprintln!(
        "{key} put back from {value} to {}: {}",
        value - 50,
        s["anomalies"]
    );
    drop(lab);
}

#[test]
fn a_loss_only_the_final_read_can_see_is_found_after_the_run() {
    let _guard = LabGuard::lock_only("redis");
    // n2 is taken off the network at 3 s; while it is unreachable its data is wiped, so no read
    // of the run sees it. The run ends, reconnects n2, reads every key once more: n2's keys
    // are lost, found by the final read alone.
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("wipe.yaml");
    std::fs::write(
        &scenario,
        "name: wipe\nsystem: redis\nload: {duration: 8s, clients-per-node: 2}\nsteps:\n  - {name: cut, at: 3s, fault: disconnect, target: n2}\nexpect:\n  - lost-writes: 0\n",
    )
    .unwrap();
    let runs = dir.path().join("runs");
    let child = perseus()
        .args(["run", scenario.to_str().unwrap(), "--runs-dir"])
        .arg(&runs)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the disconnect step in the run's own events.
    let events = || {
        std::fs::read_dir(&runs)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path().join("events.jsonl"))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    };
    let t = std::time::Instant::now();
    while !events().contains("\"kind\":\"step\"") {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(60),
            "the disconnect never fired"
        );
        sleep_s(0.1);
    }
    exec_output("perseus-redis-n2", &["redis-cli", "FLUSHALL"]);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "lost-writes: 0 does not hold: {err}"
    );
    let dir_run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir_run.join("summary.json")).unwrap())
            .unwrap();
    let s = &rec["load"];
    let found = s["anomalies"].as_array().unwrap();
    assert!(!found.is_empty(), "{s}");
    for a in found {
        assert_eq!(a["kind"], "lost", "{a}");
        assert_eq!(a["node"], "n2", "{a}");
        assert_eq!(a["final_read"], true, "only the final read saw it: {a}");
        assert_eq!(a["got"], 0, "{a}");
    }
    for k in keys_of(s, "n2") {
        assert_eq!(k["final"], 0, "{k}");
        assert_eq!(k["lost_writes"], k["last_acked"], "{k}");
    }
    for node in ["n1", "n3"] {
        for k in keys_of(s, node) {
            assert_eq!(k["lost_writes"], 0, "{k}");
        }
    }
    assert_eq!(rec["verdicts"][0]["passed"], false);
    let report = std::fs::read_to_string(dir_run.join("report.md")).unwrap();
    assert!(report.contains("## Safety"), "{report}");
    assert!(report.contains("lost (final read)"), "{report}");
    // The history has the final reads: checked again from the file, n2's keys are not
    // linearizable, and the others are.
    let history = dir_run.join("history.edn");
    assert_history_agrees(s, &history);
    let out = perseus().arg("check").arg(&history).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let bad = String::from_utf8_lossy(&out.stdout).into_owned();
    let flagged: Vec<&str> = bad
        .lines()
        .filter(|l| l.contains(": not linearizable"))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    let mut n2: Vec<&str> = keys_of(s, "n2")
        .iter()
        .map(|k| k["key"].as_str().unwrap())
        .collect();
    n2.sort();
    assert_eq!(flagged, n2, "{bad}");
    eprintln!(
        "final read only: {} lost writes, {}; perseus check: {}",
        s["lost_writes"],
        s["anomalies"],
        bad.trim()
    );
}

#[test]
fn a_stale_write_that_lands_after_a_pause_is_not_a_loss() {
    let lab = LabGuard::up("postgres", &[]);
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.edn");
    // Pausing n1 freezes PostgreSQL with writes in its sockets: their clients time out (unknown
    // outcome) and reconnect once it resumes, while the frozen statements run. Written blindly,
    // such a statement could put an older value back over a newer one; as a compare-and-set it
    // cannot, and nothing may be reported lost.
    let load = LoadRun::start(
        "postgres",
        14,
        &[
            "--clients-per-node",
            "4",
            "--op-timeout",
            "300ms",
            "--history",
            history.to_str().unwrap(),
        ],
    );
    for _ in 0..3 {
        sleep_s(2.0);
        lab.fault("pause", "n1");
        sleep_s(1.5);
        lab.fault("resume", "n1");
    }
    let r = load.finish();
    let s = &r.summary;
    assert!(
        s["nodes"][0]["ambiguous_writes"].as_u64().unwrap() > 0,
        "writes were cut off by the pauses: {}",
        s["nodes"][0]
    );
    assert_safe(s);
    eprintln!(
        "three pauses of n1: {} writes of unknown outcome on n1, {} anomalies, finals {:?}",
        s["nodes"][0]["ambiguous_writes"],
        s["anomalies"].as_array().unwrap().len(),
        s["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| (
                k["final"].clone(),
                k["last_acked"].clone(),
                k["max_possible"].clone()
            ))
            .collect::<Vec<_>>()
    );
    // What PostgreSQL holds, read with psql, lies within every key's bounds.
    for node in ["n1", "n2", "n3"] {
        let keys = keys_of(s, node);
        let held: BTreeMap<String, u64> = postgres_table(&format!("perseus-postgres-{node}"))
            .into_iter()
            .collect();
        for k in keys {
            let v = held[k["key"].as_str().unwrap()];
            assert_eq!(k["final"], v, "{k}");
        }
    }
    // Its history, checked again from the file, is linearizable on every key too.
    assert_history_agrees(s, &history);
}

/// A run whose node cannot come back for its final read: n2 is killed at 3 s and, while it is
/// down, its configuration is broken, so the start that undoes the kill leaves it exited. The
/// lab is not ready again; the final reads are made anyway; n2's key has none and is
/// unverified, which fails `anomalies: 0` and names the key, in the summary and the report.
#[test]
fn a_run_whose_node_cannot_give_its_final_read_fails_and_names_the_unverified_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // The redis definition with n2's configuration in a file of the test's own, and a short
    // ready-timeout (the run waits that long for a lab that will not be ready).
    let conf = dir.path().join("n2.conf");
    std::fs::copy(root.join("etc/redis/redis.conf"), &conf).unwrap();
    let etc = root.join("etc/redis/redis.conf");
    let def = std::fs::read_to_string(root.join("compose/redis.yaml"))
        .unwrap()
        .replace(
            "../docker/redis",
            root.join("docker/redis").to_str().unwrap(),
        )
        .replace(
            "\"n2-data:/data\", \"../etc/redis/redis.conf:",
            &format!("\"n2-data:/data\", \"{}:", conf.display()),
        )
        .replace("../etc/redis/redis.conf", etc.to_str().unwrap())
        .replace("ready-timeout: 30s", "ready-timeout: 5s");
    assert!(def.contains(conf.to_str().unwrap()), "{def}");
    let file = dir.path().join("redis.yaml");
    std::fs::write(&file, def).unwrap();
    let _lab = LabGuard::up("redis", &["--file", file.to_str().unwrap()]);
    let scenario = dir.path().join("cannot-read.yaml");
    std::fs::write(
        &scenario,
        "name: cannot-read\nsystem: redis\nload: {duration: 8s}\nsteps:\n  - {name: crash, at: 3s, fault: kill, target: n2}\nexpect:\n  - anomalies: 0\n",
    )
    .unwrap();
    let runs = dir.path().join("runs");
    let child = perseus()
        .args(["run", "--reuse", scenario.to_str().unwrap(), "--runs-dir"])
        .arg(&runs)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let events = || {
        std::fs::read_dir(&runs)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| e.ok())
            .map(|e| e.path().join("events.jsonl"))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    };
    let t = std::time::Instant::now();
    while !events().contains("\"kind\":\"step\"") {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(60),
            "the kill never fired"
        );
        sleep_s(0.1);
    }
    std::fs::write(&conf, "this is not a redis configuration\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let dir_run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir_run.join("summary.json")).unwrap())
            .unwrap();
    let s = &rec["load"];
    assert!(
        rec["not_ready"]
            .as_str()
            .is_some_and(|w| w.contains("not ready")),
        "{}",
        rec["not_ready"]
    );
    assert_eq!(s["unverified_keys"], 1, "{s}");
    assert_eq!(s["nodes"][1]["unverified_keys"], 1, "{}", s["nodes"]);
    let n2 = keys_of(s, "n2");
    let key = n2[0]["key"].as_str().unwrap();
    assert!(n2[0]["final"].is_null(), "{}", n2[0]);
    assert!(
        n2[0]["unverified"]
            .as_str()
            .is_some_and(|w| w.starts_with("no final read: ")),
        "{}",
        n2[0]
    );
    for node in ["n1", "n3"] {
        for k in keys_of(s, node) {
            assert!(
                k["final"].as_u64().is_some() && k["unverified"].is_null(),
                "{k}"
            );
        }
    }
    // No anomaly was seen, and still the expectation fails: a key nobody verified is no pass.
    assert_eq!(s["lost_writes"], 0, "{s}");
    let v = &rec["verdicts"][0];
    assert_eq!(v["passed"], false, "{v}");
    let measured = v["measured"].as_str().unwrap();
    assert!(
        measured.contains("1 UNVERIFIED keys, not a pass") && measured.contains(key),
        "{measured}"
    );
    let report = std::fs::read_to_string(dir_run.join("report.md")).unwrap();
    assert!(
        report.contains("The lab was not ready when the final reads were made"),
        "{report}"
    );
    assert!(
        report.contains(&format!("Unverified: `{key}` on n2: no final read")),
        "{report}"
    );
    eprintln!("{measured}; {}", n2[0]["unverified"]);
}
