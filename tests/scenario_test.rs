//! `perseus run` and `perseus report` as a user runs them, on real etcd labs: the scenario files
//! are checked before anything starts, a run writes its folder, an expectation that does not hold
//! fails the run (exit 1, JUnit failure), and Ctrl-C leaves no fault in force (`perseus table`:
//! table_test.rs).

mod common;

use common::*;
use std::path::{Path, PathBuf};

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The only run folder under `runs`.
fn run_folder(runs: &Path) -> PathBuf {
    let dirs: Vec<PathBuf> = std::fs::read_dir(runs)
        .unwrap_or_else(|e| panic!("{}: {e}", runs.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(dirs.len(), 1, "one run folder: {dirs:?}");
    dirs[0].clone()
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

fn events(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn every_shipped_scenario_checks_and_bad_files_are_refused_before_anything_starts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<String> = std::fs::read_dir(root.join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".yaml"))
        .collect();
    files.sort();
    assert!(files.iter().any(|f| f.ends_with("smoke.yaml")));
    // Every system a shipped scenario runs on (its `system:`) ships the four experiments, so a
    // new system's scenarios are held to the same set without editing this test.
    let mut systems: Vec<String> = files
        .iter()
        .map(|f| {
            let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(f).unwrap())
                .unwrap_or_else(|e| panic!("{f}: {e}"));
            doc["system"]
                .as_str()
                .unwrap_or_else(|| panic!("{f} names no system"))
                .to_string()
        })
        .collect();
    systems.sort();
    systems.dedup();
    let defined = systems_defined();
    assert!(
        systems.iter().all(|s| defined.contains(s)),
        "scenarios run on {systems:?}; compose/ defines {defined:?}"
    );
    for system in &systems {
        // The durability variants (lazyfs: true, such as redis-aof) ship the power-loss
        // experiments they exist for, not the four failover ones.
        let def = std::fs::read_to_string(format!("compose/{system}.yaml")).unwrap_or_default();
        if def.contains("\n  lazyfs: true") {
            assert!(
                files
                    .iter()
                    .any(|f| f.contains(&format!("{system}-")) && f.contains("power-loss")),
                "{system} ships a power-loss scenario"
            );
            continue;
        }
        for exp in [
            "kill-leader",
            "isolate-leader",
            "kill-follower",
            "pause-leader",
        ] {
            let name = format!("{system}-{exp}.yaml");
            assert!(
                files.iter().any(|f| f.ends_with(&name)),
                "{name} is shipped"
            );
        }
    }
    let mut args = vec!["run", "--check"];
    args.extend(files.iter().map(String::as_str));
    let out = run(&args, 0);
    assert_eq!(
        stdout(&out).lines().count(),
        files.len(),
        "{}",
        stdout(&out)
    );

    // Bad files: one line with file:line:col, exit 2, and nothing made (no lab, no run folder).
    let _lock = LabGuard::lock_only("etcd");
    let tmp = scratch();
    let runs = tmp.path().join("runs");
    let cases = [
        ("load:\n  duration: 30s\n", "name: b\nsystem: etcd\nload:\n  duration: 30s\n  clients: 2\n", ":5:3: load: unknown field `clients`"),
        ("fault", "name: b\nsystem: etcd\nload: {duration: 30s}\nsteps:\n  - {at: 5s, fault: explode, target: leader}\n", ":5:21: steps[0]: unknown fault 'explode'"),
        ("target", "name: b\nsystem: etcd\nload: {duration: 30s}\nsteps:\n  - at: 5s\n    fault: kill\n    target: Boss\n", ":7:13: steps[0].target: 'Boss' is not a target"),
        ("step reference", "name: b\nsystem: etcd\nload: {duration: 30s}\nsteps:\n  - at: 5s\n    fault: start\n    target: boss\n", ":7:13: 'boss' names no earlier step"),
        ("duration", "name: b\nsystem: etcd\nload: {duration: half a minute}\n", ":3:18: load.duration: 'half a minute' is not a duration"),
        ("leaderless", "name: b\nsystem: gryadka\nload: {duration: 30s}\nsteps:\n  - {at: 5s, fault: kill, target: leader}\n", ":5:35: gryadka has no leader, so 'leader' cannot be resolved: target a node (n1) or random"),
        ("system", "name: b\nsystem: mongo\nload: {duration: 30s}\n", ":2:9: unknown system 'mongo'"),
    ];
    for (i, (what, text, want)) in cases.iter().enumerate() {
        let f = write(tmp.path(), &format!("bad{i}.yaml"), text);
        let out = run(
            &[
                "run",
                f.to_str().unwrap(),
                "--runs-dir",
                runs.to_str().unwrap(),
            ],
            2,
        );
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{what}: one line: {err}");
        assert!(
            err.contains(&format!("{}{want}", f.display())),
            "{what}: want {want}: {err}"
        );
    }
    assert!(!runs.exists(), "no run folder for a bad file");
    assert_eq!(leftovers("etcd"), (0, 0, 0), "no lab for a bad file");
}

#[test]
fn a_failing_expectation_fails_the_run_with_exit_1_and_a_junit_failure() {
    let _lock = LabGuard::lock_only("etcd");
    let tmp = scratch();
    let runs = tmp.path().join("runs");
    let junit = tmp.path().join("results.xml");
    // A killed leader costs etcd an election: never less than 100 ms, so at-most 50ms must fail.
    let f = write(
        tmp.path(),
        "kill.yaml",
        "\
name: kill-leader-too-strict
system: etcd
load: {duration: 12s}
steps:
  - {name: crash, at: 4s, fault: kill, target: leader}
  - {name: restart, at: 8s, fault: start, target: crash}
expect:
  - window: {after: crash, at-most: 50ms}
  - column-zero: {node: crash, from: crash, until: restart}
  - lost-writes: 0
",
    );
    let out = run(
        &[
            "run",
            f.to_str().unwrap(),
            "--runs-dir",
            runs.to_str().unwrap(),
            "--junit",
            junit.to_str().unwrap(),
        ],
        1,
    );
    let err = stderr(&out);
    assert!(err.contains("== kill-leader-too-strict: FAILED"), "{err}");

    // The run folder has everything, and the numbers add up.
    let dir = run_folder(&runs);
    for file in [
        "scenario.yaml",
        "events.jsonl",
        "metrics.tsv",
        "summary.json",
        "report.md",
        "plot.svg",
    ] {
        assert!(dir.join(file).is_file(), "{file} in {}", dir.display());
    }
    let s = summary(&dir);
    assert_eq!(s["outcome"], "failed", "{s}");
    let killed = s["steps"][0]["nodes"][0].as_str().unwrap().to_string();
    assert_eq!(
        s["leader_before"].as_str(),
        Some(killed.as_str()),
        "the leader was killed"
    );
    assert_ne!(
        s["leader_after"].as_str(),
        Some(killed.as_str()),
        "a new leader took over"
    );
    for step in s["steps"].as_array().unwrap() {
        let late = step["late_ms"].as_f64().unwrap();
        assert!(late < 50.0, "a step fired {late} ms late: {step}");
        assert!(step["applied_s"].as_f64().unwrap() >= step["fired_s"].as_f64().unwrap());
    }
    let window = &s["effects"][0]["cluster"];
    let len = window["length_s"].as_f64().unwrap();
    assert!(
        len > 0.1 && len < 10.0,
        "an election-sized window: {window}"
    );
    let v = s["verdicts"].as_array().unwrap();
    assert_eq!(
        v.iter()
            .map(|v| v["passed"].as_bool().unwrap())
            .collect::<Vec<_>>(),
        vec![false, true, true],
        "{s}"
    );
    assert_safe(&s["load"]);
    let steps: Vec<_> = events(&dir)
        .into_iter()
        .filter(|e| e["kind"] == "step")
        .collect();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["step"]["aim"], "leader");
    assert_eq!(steps[0]["step"]["nodes"][0].as_str(), Some(killed.as_str()));
    assert_eq!(
        steps[1]["step"]["nodes"][0].as_str(),
        Some(killed.as_str()),
        "start hit the killed node"
    );
    let metrics = std::fs::read_to_string(dir.join("metrics.tsv")).unwrap();
    let lines: Vec<&str> = metrics.lines().collect();
    assert_eq!(lines[0], "sec\ttotal\tn1\tn2\tn3");
    assert_eq!(lines.len(), 13, "a header and 12 seconds: {metrics}");
    for l in &lines[1..] {
        let c: Vec<u64> = l.split('\t').map(|x| x.parse().unwrap()).collect();
        assert_eq!(c[1], c[2..].iter().sum::<u64>(), "{l}");
    }
    // Latency: per node and second, of exactly the successes the TSV counts; none on the
    // killed node while it was down.
    let latency = s["load"]["latency"].as_array().unwrap();
    assert_eq!(latency.len(), 3, "{latency:?}");
    for (i, node) in latency.iter().enumerate() {
        assert_eq!(node["node"], format!("n{}", i + 1));
        let (p50, p99, max) = (
            node["p50_ms"].as_f64().unwrap(),
            node["p99_ms"].as_f64().unwrap(),
            node["max_ms"].as_f64().unwrap(),
        );
        assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{node}");
        for sec in node["seconds"].as_array().unwrap() {
            let n = sec["sec"].as_u64().unwrap() as usize;
            let line = lines
                .get(n)
                .unwrap_or_else(|| panic!("n{} has latency for second {n}, past the TSV", i + 1));
            let counted: u64 = line.split('\t').nth(2 + i).unwrap().parse().unwrap();
            assert_eq!(
                sec["count"].as_u64().unwrap(),
                counted,
                "n{} second {n}",
                i + 1
            );
            assert!(sec["p50_ms"].as_f64().unwrap() <= sec["p99_ms"].as_f64().unwrap());
        }
    }
    let crash = s["steps"][0]["fired_s"].as_f64().unwrap();
    let back = s["steps"][1]["fired_s"].as_f64().unwrap();
    let killed_idx: usize = killed[1..].parse::<usize>().unwrap() - 1;
    let silent: Vec<u64> = latency[killed_idx]["seconds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["sec"].as_u64().unwrap())
        .filter(|&sec| sec as f64 - 1.0 >= crash + 0.5 && (sec as f64) <= back)
        .collect();
    assert!(silent.is_empty(), "latency for a killed node: {silent:?}");
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("## Latency"), "{report}");
    assert!(
        report.starts_with("# kill-leader-too-strict: FAILED"),
        "{report}"
    );
    assert!(
        report.contains(&format!("kill {killed} (leader)")),
        "{report}"
    );
    assert!(
        report.contains("| cluster unavailability window after crash is at most 50ms | **FAIL** |"),
        "{report}"
    );
    let svg = std::fs::read_to_string(dir.join("plot.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains(&format!("kill {killed} (leader)")));
    assert!(svg.contains("latency (ms)"), "the latency panel");

    // JUnit: the expectation is a failed test case; the others pass.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testsuite name=\"kill-leader-too-strict\" tests=\"4\""),
        "{xml}"
    );
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert!(
        xml.contains(
            "<testcase name=\"cluster unavailability window after crash is at most 50ms\""
        ),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"measured cluster: "),
        "{xml}"
    );

    // The lab is gone (no --keep), and `perseus report` renders the folder again.
    assert_eq!(leftovers("etcd"), (0, 0, 0));
    std::fs::remove_file(dir.join("report.md")).unwrap();
    std::fs::remove_file(dir.join("plot.svg")).unwrap();
    let out = run(&["report", dir.to_str().unwrap()], 0);
    assert_eq!(stdout(&out), report, "the same report from the folder");
    assert!(dir.join("plot.svg").is_file());
    let out = run(&["report", tmp.path().to_str().unwrap()], 2);
    assert!(
        stderr(&out).contains("is not a run folder"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ctrl_c_midway_undoes_every_fault_and_writes_the_partial_report() {
    let lab = LabGuard::up("etcd", &[]);
    let tmp = scratch();
    let runs = tmp.path().join("runs");
    let f = write(
        tmp.path(),
        "long.yaml",
        "\
name: interrupted
system: etcd
load: {duration: 60s}
steps:
  - {name: cut, at: 2s, fault: isolate, target: n1}
  - {name: freeze, at: 3s, fault: pause, target: n2}
  - {name: crash, at: 4s, fault: kill, target: n3}
  - {at: 50s, fault: heal}
expect:
  - serves-again: {after: 3, within: 5s}
",
    );
    // --reuse: run on the lab that is up, and leave it up. Its live metrics show the steps.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = format!("127.0.0.1:{port}");
    let child = perseus()
        .args([
            "run",
            f.to_str().unwrap(),
            "--reuse",
            "--runs-dir",
            runs.to_str().unwrap(),
            "--metrics",
            &metrics,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the steps have fired (the folder's events say so), then Ctrl-C.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let fired = std::fs::read_dir(&runs)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| std::fs::read_to_string(e.unwrap().path().join("events.jsonl")).ok())
            .map(|t| t.matches("\"kind\":\"step\"").count())
            .unwrap_or(0);
        if fired >= 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the steps never fired"
        );
        sleep_s(0.2);
    }
    sleep_s(1.0);
    // The three steps are in force in the live series, and the step count says so.
    let scraped = {
        use std::io::{Read, Write};
        let mut c = std::net::TcpStream::connect(&metrics).expect("metrics served during the run");
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        c.read_to_string(&mut text).unwrap();
        text
    };
    for (kind, target) in [("isolate", "n1"), ("pause", "n2"), ("kill", "n3")] {
        let line = format!("kind=\"{kind}\",target=\"{target}\"}} 1");
        assert!(
            scraped.contains(&line),
            "{kind} {target} is not in force in the metrics:\n{scraped}"
        );
    }
    assert!(
        scraped
            .lines()
            .any(|l| l.starts_with("perseus_scenario_step{") && l.ends_with(" 3")),
        "{scraped}"
    );
    let during = lab.status();
    assert!(
        during
            .iter()
            .any(|r| !r["faults"].as_array().unwrap().is_empty()),
        "faults are in force before Ctrl-C: {during:?}"
    );
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        std::net::TcpStream::connect(&metrics).is_err(),
        "metrics still served after the run"
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("== interrupted: INTERRUPTED"), "{err}");

    let dir = run_folder(&runs);
    let s = summary(&dir);
    assert_eq!(s["outcome"], "interrupted", "{s}");
    assert_eq!(
        s["steps"].as_array().unwrap().len(),
        3,
        "the heal at 50 s never fired"
    );
    let restored = s["restored"].as_array().unwrap();
    let restored: Vec<&str> = restored.iter().map(|r| r.as_str().unwrap()).collect();
    assert!(
        restored.iter().any(|r| r.starts_with("heal:")),
        "{restored:?}"
    );
    assert!(
        restored.iter().any(|r| r.starts_with("resume ")),
        "{restored:?}"
    );
    assert!(
        restored.iter().any(|r| r.starts_with("start n3")),
        "{restored:?}"
    );
    assert!(
        s["verdicts"][0]["measured"]
            .as_str()
            .unwrap()
            .contains("never fired"),
        "{s}"
    );
    let load_s = s["load"]["duration_s"].as_f64().unwrap();
    assert!(
        load_s > 4.0 && load_s < 30.0,
        "the load stopped at Ctrl-C: {load_s}"
    );
    assert!(dir.join("report.md").is_file() && dir.join("plot.svg").is_file());
    assert!(std::fs::read_to_string(dir.join("report.md"))
        .unwrap()
        .starts_with("# interrupted: INTERRUPTED"));

    // The reused lab is still up, with no fault in force, every node running and serving.
    for r in lab.status() {
        assert_eq!(r["state"], "running", "{r}");
        assert!(r["faults"].as_array().unwrap().is_empty(), "{r}");
    }
    // (A healed etcd 3.4 ex-leader may force one more election, so allow a pause.)
    let r = LoadRun::start("etcd", 6, &[]).finish();
    for n in 1..=3 {
        assert!(
            r.column(n, 1, 6).iter().any(|&c| c > 0),
            "n{n} serves: {}",
            r.stdout
        );
    }
}

#[test]
fn a_step_that_fails_midway_stops_the_run_and_leaves_no_fault_in_force() {
    let _lock = LabGuard::lock_only("etcd");
    let tmp = scratch();
    let runs = tmp.path().join("runs");
    // A one-node lab has no follower (and with n1 paused, no leader that answers): the second
    // step cannot resolve its target when it fires.
    let f = write(
        tmp.path(),
        "lonely.yaml",
        "\
name: no-follower
system: etcd
nodes: 1
load: {duration: 20s}
steps:
  - {name: freeze, at: 2s, fault: pause, target: n1}
  - {at: 3s, fault: kill, target: follower}
  - {at: 10s, fault: resume, target: freeze}
",
    );
    let out = run(
        &[
            "run",
            f.to_str().unwrap(),
            "--runs-dir",
            runs.to_str().unwrap(),
        ],
        1,
    );
    let err = stderr(&out);
    assert!(err.contains("== no-follower: ERROR"), "{err}");
    let dir = run_folder(&runs);
    let s = summary(&dir);
    assert_eq!(s["outcome"], "error", "{s}");
    let why = s["error"].as_str().unwrap();
    assert!(
        why.contains("step 1 (kill follower)")
            && (why.contains("has no follower") || why.contains("has no leader")),
        "{why}"
    );
    assert_eq!(
        s["steps"].as_array().unwrap().len(),
        1,
        "only the pause fired"
    );
    let load_s = s["load"]["duration_s"].as_f64().unwrap();
    assert!(
        load_s < 6.0,
        "the load stopped at the failure, not at 20 s: {load_s}"
    );
    assert_eq!(
        s["restored"][0]
            .as_str()
            .map(|r| r.starts_with("resume n1")),
        Some(true),
        "{s}"
    );
    let kinds: Vec<String> = events(&dir)
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect();
    assert!(
        kinds.contains(&"step-failed".to_string()) && kinds.contains(&"restore".to_string()),
        "{kinds:?}"
    );
    assert!(std::fs::read_to_string(dir.join("report.md"))
        .unwrap()
        .starts_with("# no-follower: ERROR"));
    assert_eq!(leftovers("etcd"), (0, 0, 0), "the lab is down");
}

#[test]
fn a_run_folder_that_cannot_be_made_leaves_no_lab_behind() {
    let _lock = LabGuard::lock_only("etcd");
    let tmp = scratch();
    // --runs-dir names a file: the folder cannot be made once the lab is up.
    let not_a_dir = write(tmp.path(), "runs", "a file, not a folder\n");
    let out = run(
        &[
            "run",
            "scenarios/etcd-kill-leader.yaml",
            "--runs-dir",
            not_a_dir.to_str().unwrap(),
        ],
        1,
    );
    assert!(
        stderr(&out).contains(&format!("creating {}", not_a_dir.display())),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        leftovers("etcd"),
        (0, 0, 0),
        "the lab it brought up is gone"
    );
}
