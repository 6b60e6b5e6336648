//! Power loss on real containers, the final read as the judge (issue 33's done-when): Redis with
//! appendfsync everysec loses acknowledged writes to a power loss of n1 mid-load and none to a
//! process crash at the same moment; at appendfsync always it loses none; etcd loses none when
//! every member loses power at once. Also: what a lab without the lazy file system says, and what
//! `lab status` shows of a node whose power is off.

mod common;

use common::*;

fn lost(run: &ScenarioRun) -> u64 {
    run.summary["load"]["lost_writes"].as_u64().unwrap()
}

fn detail(run: &ScenarioRun, step: usize) -> String {
    run.summary["steps"][step]["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn redis_everysec_loses_the_last_second_to_a_power_loss_and_nothing_to_a_crash() {
    let lab = LabGuard::up("redis-aof", &[]);
    // The nodes run under the supervisor, the database as its own user without CAP_SYS_ADMIN.
    let out = std::process::Command::new("docker")
        .args([
            "exec",
            "perseus-redis-aof-n1",
            "sh",
            "-c",
            "grep perseus-lazyfs /proc/mounts; grep CapEff /proc/$(pidof redis-server)/status",
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("perseus-lazyfs /data fuse"), "{said}");
    assert!(
        said.contains("CapEff:\t0000000000000000"),
        "redis holds no capability: {said}"
    );

    let power = run_scenario(
        "scenarios/redis-aof-power-loss.yaml",
        &["--reuse", "--keep"],
        0,
    );
    let d = detail(&power, 0);
    assert!(
        d.contains("SIGPWR to perseus-lazyfs") && d.contains("unsynced bytes"),
        "{d}"
    );
    assert!(
        lost(&power) > 0,
        "everysec acknowledges before fsync: a power loss must lose the writes since the last one\n{}",
        power.stderr
    );
    // Only n1's key lost anything, and the final read found it.
    for key in power.summary["load"]["keys"].as_array().unwrap() {
        let lost_here = key["lost_writes"].as_u64().unwrap_or(0);
        if key["node"] != "n1" {
            assert_eq!(lost_here, 0, "{key}");
        }
    }
    let crash = run_scenario("scenarios/redis-aof-kill.yaml", &["--reuse", "--keep"], 0);
    let d = detail(&crash, 0);
    assert!(
        d.contains("SIGUSR1 to perseus-lazyfs") && d.contains("written back"),
        "{d}"
    );
    assert_eq!(lost(&crash), 0, "{}", crash.stderr);
    assert_safe(&crash.summary["load"]);

    // lab status names a node whose power is off, and start brings it back on what survived.
    lab.fault("power-loss", "n2");
    assert_eq!(lab.faults("n2"), vec!["power lost".to_string()]);
    lab.fault("start", "n2");
    assert!(lab.faults("n2").is_empty());
    lab.fault("power-loss-torn", "n3");
    assert_eq!(
        lab.faults("n3"),
        vec!["power lost (torn writes)".to_string()]
    );
}

#[test]
fn redis_always_and_etcd_lose_nothing_to_a_power_loss() {
    let _lab = LabGuard::lock_only("redis-aof-always");
    let always = run_scenario("scenarios/redis-aof-always-power-loss.yaml", &[], 0);
    assert_eq!(lost(&always), 0, "{}", always.stderr);
    assert_safe(&always.summary["load"]);
    drop(_lab);

    let _lab = LabGuard::lock_only("etcd");
    let etcd = run_scenario("scenarios/etcd-power-loss-all.yaml", &[], 0);
    assert_eq!(
        etcd.summary["steps"][0]["nodes"].as_array().unwrap().len(),
        3,
        "all"
    );
    assert_eq!(lost(&etcd), 0, "{}", etcd.stderr);
    assert_safe(&etcd.summary["load"]);
}

#[test]
fn a_power_loss_without_the_lazy_file_system_is_refused_in_one_line() {
    let _lab = LabGuard::up("redis", &[]);
    let out = run(&["fault", "power-loss", "redis", "n1"], 2);
    let err = stderr(&out);
    assert!(
        err.contains("does not run under the lazy file system") && err.contains("--lazyfs"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    // A scenario with a power loss refuses the running lab before anything starts.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("redis-power.yaml");
    std::fs::write(
        &file,
        "name: redis-power\nsystem: redis\nload: {duration: 5s}\nsteps:\n  - {at: 2s, fault: power-loss, target: n1}\n",
    )
    .unwrap();
    let out = run(&["run", file.to_str().unwrap(), "--reuse"], 2);
    assert!(
        stderr(&out).contains("without the lazy file system"),
        "{}",
        stderr(&out)
    );
    assert_eq!(_lab.faults("n1"), Vec::<String>::new(), "nothing was done");
    // A system whose definition does not say where its data is cannot run lazily.
    let out = run(&["lab", "up", "tidb", "--lazyfs"], 2);
    assert!(
        stderr(&out).contains("no x-perseus.data-dir"),
        "{}",
        stderr(&out)
    );
}
