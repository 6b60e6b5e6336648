//! The Redis driver through the real load loop against Debian's redis-server: three independent
//! servers (`compose/redis.yaml`), the control system, so a fault on one node drops that node's
//! column and nothing else.

mod common;

use common::*;

/// Every key on one node with its value, read back with `redis-cli` inside the node's container.
fn keys_on(node: &str) -> Vec<(String, u64)> {
    parse_id_values(&exec_output(
        &format!("perseus-redis-{node}"),
        &[
            "sh",
            "-c",
            "for k in $(redis-cli --scan); do printf '%s\\t%s\\n' \"$k\" \"$(redis-cli get \"$k\")\"; done",
        ],
    ))
}

#[test]
fn killed_server_drops_its_column_only_and_acknowledged_writes_survive_the_kill() {
    // The append-only file (appendfsync everysec) holds every acknowledged write through SIGKILL.
    kill_n1_of_independent_servers("redis", 100, keys_on);
}

#[test]
fn a_paused_server_is_a_window_of_the_pause_on_its_own_column() {
    let lab = LabGuard::up("redis", &[]);
    let load = LoadRun::start("redis", 8, &[]);
    sleep_s(3.0);
    let pause = lab.fault("pause", "n2");
    sleep_s(2.0);
    let resume = lab.fault("resume", "n2");
    let r = load.finish();
    // The pause was in force between the two events (each stamped when its Engine call returned),
    // on the load's own clock.
    let (paused, resumed) = (r.offset(&pause), r.offset(&resume));
    let n2 = &r.summary["nodes"][1];
    let w = &n2["window"];
    let (start, end, window) = (
        w["start_s"].as_f64().unwrap(),
        w["end_s"].as_f64().unwrap(),
        w["length_s"].as_f64().unwrap(),
    );
    // The window is measured from success timestamps, so it is far finer than a second: it is the
    // pause, from the last success before the freeze to the first after the thaw.
    eprintln!("paused {paused:.3} s, resumed {resumed:.3} s: n2's window {window:.3} s from {start:.3} s to {end:.3} s");
    assert!(
        (paused - 0.25..=paused).contains(&start),
        "n2's window starts when the pause took effect ({paused:.3} s): {n2}"
    );
    assert!(
        (resumed - 0.25..resumed + 0.5).contains(&end),
        "n2's window ends when the resume took effect ({resumed:.3} s): {n2}"
    );
    for n in [0, 2] {
        let w = r.summary["nodes"][n]["window"]["length_s"]
            .as_f64()
            .unwrap();
        assert!(w < 0.5, "the others never stop: {w} s");
    }
    // The closed loop's latency hides the pause (coordinated omission): the one operation each
    // connection had in flight waited, and the ones it would have sent were never sent, so
    // n2's p99 stays that of a healthy server while its window is the pause. `--rate` is the
    // loop that counts them (the test below); the closed loop says nothing of being late.
    let p99 = r.summary["latency"][1]["p99_ms"].as_f64().unwrap();
    assert!(
        p99 < 100.0 && window > 1.5,
        "p99 {p99} ms, window {window} s"
    );
    assert!(r.summary.get("open_loop").is_none());
}

/// The open loop (`--rate`) on real servers: at a rate the lab sustains nothing is late and the
/// completed rate is the target's; with n1 paused for 3 s, n1's worst latency is the pause (each
/// operation is timed from its intended start, so the ones due during the pause count their wait)
/// and about 3 s x n1's share of the rate started late, none dropped; the other nodes keep their
/// schedule. The op timeout is above the pause, so the operations in flight wait it out as a
/// client with a long deadline would.
#[test]
fn the_open_loop_counts_what_a_pause_costs_clients_at_a_fixed_rate() {
    let lab = LabGuard::up("redis", &[]);
    // No fault: the schedule is kept.
    let r = LoadRun::start("redis", 4, &["--rate", "3000/s"]).finish();
    let ol = &r.summary["open_loop"];
    eprintln!("no fault: {ol}");
    let f = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap();
    assert_eq!(f(ol, "rate_per_s"), 3000.0);
    assert_eq!(
        f(ol, "late"),
        0.0,
        "nothing late at a rate the lab sustains: {ol}"
    );
    assert_eq!(f(ol, "never_started"), 0.0, "{ol}");
    let done = f(ol, "completed_rate_per_s");
    assert!(
        (done - 3000.0).abs() <= 60.0,
        "the completed rate is within 2 % of the target: {done}"
    );
    assert_eq!(ol["kept_up"], true);

    // n1 paused for 3 s.
    let load = LoadRun::start("redis", 10, &["--rate", "3000/s", "--op-timeout", "5s"]);
    sleep_s(3.0);
    let pause = lab.fault("pause", "n1");
    sleep_s(3.0);
    let resume = lab.fault("resume", "n1");
    let r = load.finish();
    let paused_s = r.offset(&resume) - r.offset(&pause);
    let ol = &r.summary["open_loop"];
    let n1 = &ol["nodes"][0];
    let lat = &r.summary["latency"][0];
    eprintln!(
        "paused {paused_s:.3} s; n1: {n1}; latency max {} ms",
        lat["max_ms"]
    );
    assert!(
        f(lat, "max_ms") >= (paused_s - 0.1) * 1000.0,
        "n1's worst latency is the pause ({paused_s:.3} s): {lat}"
    );
    let late = f(n1, "late");
    let expected = paused_s * 1000.0;
    assert!(
        (0.8 * expected..=1.15 * expected).contains(&late),
        "about {expected:.0} late operations on n1: {n1}"
    );
    assert!(f(n1, "late_max_ms") >= (paused_s - 0.5) * 1000.0, "{n1}");
    assert_eq!(f(n1, "never_started"), 0.0, "none dropped: {n1}");
    assert!(
        f(n1, "clients") > 100.0,
        "connections grew to keep the schedule: {n1}"
    );
    for n in [1, 2] {
        let node = &ol["nodes"][n];
        assert_eq!(f(node, "never_started"), 0.0, "{node}");
        assert!(
            f(node, "late") <= 10.0,
            "the others keep their schedule: {node}"
        );
        let l = &r.summary["latency"][n];
        assert!(f(l, "p99_ms") < 100.0, "{l}");
    }
    assert_eq!(r.summary["lost_writes"], 0);
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u64) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("small");
        std::fs::create_dir(&path).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a {mib} MiB tmpfs and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk { path, _dir: dir }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.path)
            .status();
    }
}

#[test]
fn a_disk_that_runs_full_under_the_run_folder_keeps_the_summary_and_the_report_whole() {
    let _lock = LabGuard::lock_only("redis");
    // 24 MiB: the history (several MB/s of the loop against three servers) reaches the 16 MiB
    // reserve within seconds of a 12 s run.
    let disk = SmallDisk::mount(24);
    let tmp = tempfile::tempdir().unwrap();
    let scenario = tmp.path().join("full-disk.yaml");
    std::fs::write(
        &scenario,
        "\
name: full-disk
system: redis
nodes: 3
load: {duration: 12s}
steps:
  - {name: stall, at: 4s, fault: pause, target: n1}
  - {name: back, at: 6s, fault: resume, target: stall}
expect:
  - column-zero: {node: stall, from: stall, until: back}
",
    )
    .unwrap();
    let runs = disk.path.join("runs");
    let out = run(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--runs-dir",
            runs.to_str().unwrap(),
        ],
        1,
    );
    let err = stderr(&out);
    let dirs: Vec<_> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let dir = &dirs[0];
    let history = dir.join("history.edn");
    // The last line says the history stopped, and why.
    assert!(err.contains("STOPPED at"), "{err}");
    // The last line names the scenario and the file.
    let last_line = err.trim_end().lines().last().unwrap_or_default();
    assert!(
        last_line.starts_with(&format!("perseus: {}: ", scenario.display()))
            && last_line.contains(&format!(
                ": writing {}: its disk ran short, so the history stopped at ",
                history.display()
            )),
        "{err}"
    );
    // summary.json is whole, and says where the history stopped.
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
            .unwrap_or_else(|e| panic!("summary.json is not whole: {e}"));
    let h = &s["load"]["history"];
    let stopped = h["truncated_at_s"]
        .as_f64()
        .unwrap_or_else(|| panic!("{h}"));
    assert!(stopped > 0.0 && stopped < 12.0, "{h}");
    assert!(
        h["disk_free_bytes"].as_u64().unwrap() < 16 * 1024 * 1024,
        "{h}"
    );
    assert_eq!(
        s["verdicts"][0]["passed"], true,
        "the run itself was measured: {s}"
    );
    // The report is whole too, and says it.
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.starts_with("# full-disk: "), "{report}");
    assert!(report.contains("left on its disk"), "{report}");
    assert!(dir.join("report.html").is_file() && dir.join("plot.svg").is_file());
    let text = std::fs::read_to_string(&history).unwrap();
    let last = text.lines().last().unwrap();
    assert!(last.starts_with(perseus::history::TRUNCATED_MARK), "{last}");
    assert!(last.contains("bytes left on its disk"), "{last}");
    // No half-written file is left beside them.
    assert!(std::fs::read_dir(dir).unwrap().all(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .ends_with(".partial")));
    assert_eq!(leftovers("redis"), (0, 0, 0), "the lab is down");
}
