//! Labs across several Docker hosts, on three hosts simulated here (tests/common/dind.rs): the
//! Swarm check `lab up --hosts` makes, images copied to hosts that lack them, a lab with its
//! faults and scenarios across hosts reached over plain tcp://, and one across hosts reached over
//! ssh:// and TLS. Needs the Docker Engine, and ssh, ssh-agent, ssh-keygen and openssl here; it
//! builds `perseus/dockerhost:3` when missing (about 25 s).

mod common;
#[path = "common/dind.rs"]
mod dind;

use std::time::Duration;

use common::*;
use perseus::lab::hosts::{self, HostSpec};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_hosts_are_checked_as_one_swarm_and_get_the_images_they_lack() {
    let sim = dind::Hosts::start(3).await;
    let specs = hosts::parse_hosts(&sim.list()).unwrap();
    let engines = sim.engines().await;

    // One Swarm, host1 its manager: the check passes and names host1 as where the network goes.
    let mut members = Vec::new();
    for (spec, docker) in specs.iter().zip(&engines) {
        members.push((spec.clone(), hosts::membership(spec, docker).await.unwrap()));
    }
    let swarm_nodes = hosts::swarm_nodes(&specs[0], &engines[0]).await.unwrap();
    assert_eq!(swarm_nodes.len(), 3, "{swarm_nodes:?}");
    assert_eq!(hosts::one_swarm(&members, &swarm_nodes).unwrap(), 0);
    assert!(members[0].1.manager && !members[1].1.manager);

    // host3 leaves: the check refuses it, naming it and how to join it back.
    engines[2]
        .leave_swarm(Some(
            bollard::query_parameters::LeaveSwarmOptionsBuilder::new()
                .force(true)
                .build(),
        ))
        .await
        .unwrap();
    members[2].1 = hosts::membership(&specs[2], &engines[2]).await.unwrap();
    let e = hosts::one_swarm(
        &members,
        &hosts::swarm_nodes(&specs[0], &engines[0]).await.unwrap(),
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("host {} is not in a Swarm", specs[2]))
            && msg.contains("docker swarm join"),
        "{msg}"
    );

    // An unreachable host is named, with exit code 2.
    let nowhere: HostSpec = "tcp://10.79.0.99:2375".parse().unwrap();
    let e = hosts::connect(&nowhere).await.unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("tcp://10.79.0.99:2375"), "{e}");

    // Images: copied once to a host that lacks them, then found there.
    let local = common::docker().await;
    let image = perseus::lab::HELPER_IMAGE.to_string();
    perseus::images::ensure(
        &local,
        &[perseus::lab::Home::at(env!("CARGO_MANIFEST_DIR")).helper_build()],
        perseus::images::Rebuild::Missing,
        1,
        &mut |_| {},
    )
    .await
    .unwrap();
    let mut lines = Vec::new();
    let copied = perseus::images::ship(
        &local,
        &engines[1],
        "host2",
        std::slice::from_ref(&image),
        &mut |l| lines.push(l.to_string()),
    )
    .await
    .unwrap();
    assert_eq!(copied, 1, "{lines:?}");
    assert!(perseus::docker::image_exists(&engines[1], &image)
        .await
        .unwrap());
    assert!(!perseus::docker::image_exists(&engines[2], &image)
        .await
        .unwrap());
    let again = perseus::images::ship(
        &local,
        &engines[1],
        "host2",
        std::slice::from_ref(&image),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(again, 0, "an image the host has is not copied again");
    let e = perseus::images::ship(
        &local,
        &engines[1],
        "host2",
        &["perseus/no-such:1".into()],
        &mut |_| {},
    )
    .await
    .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("perseus/no-such:1"), "{e}");
}

/// `perseus lab up etcd --hosts A,B,C` on the three simulated hosts, and the lab used as on one
/// machine: the CI smoke scenario (a kill and an isolate of the leader, with its expectations)
/// runs across them, and a partition cuts exactly across the groups and heals; `lab down`
/// leaves every host clean. A definition's bind-mounted files are copied to the hosts. Bad
/// input is refused before anything is made.
#[test]
fn etcd_across_three_hosts_takes_a_kill_an_isolate_and_a_partition_as_on_one() {
    let state = tempfile::tempdir().unwrap();
    // The record of the lab's hosts goes here, for this process and the perseus it runs.
    std::env::set_var("PERSEUS_STATE_DIR", state.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt.block_on(dind::Hosts::start(3));
    let engines = rt.block_on(sim.engines());
    let list = sim.list();
    let containers_on = |i: usize| -> Vec<String> {
        rt.block_on(perseus::docker::lab_containers(&engines[i], Some("etcd")))
            .unwrap()
            .into_iter()
            .flat_map(|c| c.names.unwrap_or_default())
            .map(|n| n.trim_start_matches('/').to_string())
            .collect()
    };

    // Refused, exit code 2, nothing made: too few hosts, a host that is not a Docker endpoint.
    let lab = LabGuard::lock_only("etcd");
    let out = run(&["lab", "up", "etcd", "--hosts", &sim.urls[0]], 2);
    assert!(stderr(&out).contains("two or more"), "{}", stderr(&out));
    let out = run(
        &["lab", "up", "etcd", "--hosts", "10.79.0.11,10.79.0.12"],
        2,
    );
    assert!(
        stderr(&out).contains("not a Docker endpoint"),
        "{}",
        stderr(&out)
    );
    assert!((0..3).all(|i| containers_on(i).is_empty()));
    assert!(perseus::lab::hosts::Record::systems().is_empty());

    // A definition that bind-mounts files from this machine (redis.conf): each node's container
    // gets a copy on its host, and every node serves.
    run(&["lab", "up", "redis", "--hosts", &list], 0);
    let conf = rt
        .block_on(perseus::docker::exec(
            &engines[1],
            "perseus-redis-n2",
            &["cat".into(), "/etc/perseus/redis.conf".into()],
            Duration::from_secs(10),
        ))
        .unwrap();
    let here =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/etc/redis/redis.conf"))
            .unwrap();
    assert_eq!(conf.output, here, "n2's copy of redis.conf on host2");
    let r = LoadRun::start("redis", 4, &[]).finish();
    for n in 1..=3 {
        r.assert_column(n, 1.0, r.end(), |c| c > 0, "every redis node serves");
    }
    run(&["lab", "down", "redis"], 0);
    assert!(perseus::lab::hosts::Record::systems().is_empty());

    // A definition that names its hosts (x-perseus.hosts) runs across them without --hosts; its
    // probe ports (nats' monitoring API) are published beside the client port: readiness and
    // the leader check reach them, and `lab status` names a leader.
    let root = env!("CARGO_MANIFEST_DIR");
    let nats = std::fs::read_to_string(format!("{root}/compose/nats.yaml"))
        .unwrap()
        .replace(
            "context: ../docker/nats",
            &format!("context: {root}/docker/nats"),
        )
        .replace(
            "  client-port: 4222\n",
            &format!("  client-port: 4222\n  hosts: [{}]\n", sim.urls.join(", ")),
        );
    assert!(nats.contains("  hosts: [tcp://10.79.0.11:2375,"), "{nats}");
    let defs = tempfile::tempdir().unwrap();
    let file = defs.path().join("nats.yaml");
    std::fs::write(&file, nats).unwrap();
    let out = run(&["lab", "up", "nats", "--file", file.to_str().unwrap()], 0);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains("(host tcp://10.79.0.13:2375, 10.79.0.13:"),
        "{said}"
    );
    let out = run(&["lab", "status", "nats", "--json"], 0);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        rows.iter().filter(|r| r["role"] == "leader").count(),
        1,
        "{rows:?}"
    );
    run(&["lab", "down", "nats"], 0);
    // A system whose clients follow the addresses its servers hand out is refused.
    let out = run(&["lab", "up", "redis-sentinel", "--hosts", &list], 2);
    assert!(
        stderr(&out).contains("redis-sentinel cannot run across --hosts"),
        "{}",
        stderr(&out)
    );
    assert!((0..3).all(|i| containers_on(i).is_empty()));

    // A lab up that fails once things are made on the hosts (here: readiness cannot be met in
    // 1 ms) removes them from every host, and its record.
    let out = run(
        &["lab", "up", "etcd", "--hosts", &list, "--timeout", "1ms"],
        1,
    );
    assert!(
        stderr(&out).contains("removing what it created"),
        "{}",
        stderr(&out)
    );
    assert!((0..3).all(|i| containers_on(i).is_empty()));
    assert!(rt
        .block_on(perseus::docker::lab_networks(&engines[0], Some("etcd")))
        .unwrap()
        .is_empty());
    assert!(perseus::lab::hosts::Record::systems().is_empty());

    // The smoke scenario across the hosts, named in the file (`hosts:`); its expectations are
    // the kill's and the isolate's. `run --hosts` takes the same list (one host is refused).
    let out = run(&["run", "scenarios/smoke.yaml", "--hosts", &sim.urls[0]], 2);
    assert!(stderr(&out).contains("two or more"), "{}", stderr(&out));
    let fixture = format!(
        "{}/tests/fixtures/smoke-across-hosts.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    assert!(std::fs::read_to_string(&fixture)
        .unwrap()
        .contains(&sim.urls.join(", ")));
    let runs = tempfile::tempdir().unwrap();
    let out = perseus()
        .args(["run", &fixture])
        .arg("--runs-dir")
        .arg(runs.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("== smoke-across-hosts: passed"), "{said}");
    assert!(said.contains("host tcp://10.79.0.13:2375"), "{said}");
    assert!(!said.contains("\nfail "), "{said}");
    assert!(
        (0..3).all(|i| containers_on(i).is_empty()),
        "the run took its lab down"
    );

    // Round-robin: n1 on the first host, n2 on the second, n3 on the third, each reached at its
    // host's address on the port it published.
    run(&["lab", "up", "etcd", "--hosts", &list], 0);
    for i in 0..3 {
        let on = containers_on(i);
        assert!(
            on.contains(&format!("perseus-etcd-n{}", i + 1)) && on.len() == 2,
            "host {}: {on:?} (the node and its network helper)",
            i + 1
        );
    }
    let status = lab.status();
    for (i, row) in status.iter().enumerate() {
        let endpoint = row["endpoint"].as_str().unwrap();
        assert!(
            endpoint.starts_with(&format!("{}:", sim.ips[i])),
            "{status:?}"
        );
    }

    // A partition: the leader and one follower against the other follower.
    let leader = lab.wait_leader(Duration::from_secs(15), |_| true);
    let index = |name: &str| name.trim_start_matches('n').parse::<usize>().unwrap();
    let alone = (1..=3).find(|&n| n != index(&leader)).unwrap();
    let rest: Vec<usize> = (1..=3).filter(|&n| n != alone).collect();
    let rest_s = rest
        .iter()
        .map(|n| format!("n{n}"))
        .collect::<Vec<_>>()
        .join(",");
    // Ended once every node served 3 s after the heal, however long the faults took.
    let load = LoadRun::start("etcd", 60, &[]);
    std::thread::sleep(Duration::from_secs(4));
    let out = run(
        &["fault", "partition", "etcd", &format!("n{alone}"), &rest_s],
        0,
    );
    let cut = stdout(&out);
    let reach = |from: usize, to: usize| reaches("etcd", from, to, 2380);
    assert!(
        reach(rest[0], rest[1]),
        "the majority's nodes reach each other across hosts"
    );
    assert!(
        !reach(alone, rest[0]) && !reach(rest[1], alone),
        "no one crosses the cut"
    );
    std::thread::sleep(Duration::from_secs(7));
    let (healed, heal_issued) = undo(|| run(&["fault", "heal", "etcd"], 0));
    let r = load.interrupt_once_serving(3, Duration::from_secs(12));
    let (cut, heal) = (r.offset(&cut), r.offset(&stdout(&healed)));
    r.assert_column(
        alone,
        cut + 1.0,
        r.offset_of(heal_issued),
        |c| c == 0,
        "the minority cannot serve",
    );
    for &n in &rest {
        r.assert_column(
            n,
            cut + 1.0,
            heal,
            |c| c > 0,
            "the majority with the leader serves",
        );
    }
    r.every_node_rejoins_within(heal, 6.0, "every node serves again after heal");
    assert_eq!(r.summary["lost_writes"], 0, "{}", r.summary);

    // Down: nothing left on any host, and no record.
    let out = run(&["lab", "down", "etcd"], 0);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains("removed 6 containers, 1 networks, 3 volumes"),
        "{said}"
    );
    assert!((0..3).all(|i| containers_on(i).is_empty()));
    let nets = rt
        .block_on(perseus::docker::lab_networks(&engines[0], Some("etcd")))
        .unwrap();
    assert!(nets.is_empty(), "{nets:?}");
    assert!(perseus::lab::hosts::Record::systems().is_empty());
    drop(lab);
}

/// An ssh agent holding one key, for the ssh client the ssh transport runs; killed when dropped.
struct SshAgent {
    child: std::process::Child,
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SshAgent {
    fn holding(key: &std::path::Path) -> SshAgent {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let child = std::process::Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ssh-agent (openssh-client) is needed for hosts reached over ssh");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !socket.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "ssh-agent made no socket"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let added = std::process::Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &socket)
            .output()
            .unwrap();
        assert!(added.status.success(), "{added:?}");
        SshAgent {
            child,
            socket,
            _dir: dir,
        }
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Drops the entries of these addresses from the user's known_hosts, now and when dropped.
struct KnownHosts(Vec<&'static str>);

impl KnownHosts {
    fn forget(&self) {
        for ip in &self.0 {
            let _ = std::process::Command::new("ssh-keygen")
                .args(["-R", ip])
                .output();
        }
    }
}

impl Drop for KnownHosts {
    fn drop(&mut self) {
        self.forget();
    }
}

/// Hosts reached as users reach them: two over `ssh://root@host` (the local ssh client, its
/// agent, `docker system dial-stdio` on the host) and one over `tcp://host:2376` with mutual TLS
/// (`DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`). A lab comes up across them, and the faults not
/// taken elsewhere across hosts act on each node's own host through those transports: a
/// graceful stop and start on the TLS host, a disconnect and connect and a bandwidth limit on
/// ssh hosts, then heal; every node serves afterwards and no write is lost.
#[test]
fn hosts_over_ssh_and_tls_run_a_lab_its_faults_and_its_load() {
    let state = tempfile::tempdir().unwrap();
    std::env::set_var("PERSEUS_STATE_DIR", state.path());
    // ssh adds the hosts' keys (accept-new) to the user's known_hosts (from the password
    // database, not $HOME): a rig made afresh has new keys, so its addresses' entries are
    // dropped before and after.
    let known = KnownHosts(vec!["10.79.0.11", "10.79.0.12"]);
    known.forget();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt.block_on(dind::Hosts::start_with(3, &[2]));
    let engines = rt.block_on(sim.engines());
    let agent = SshAgent::holding(&sim.ssh_key());
    std::env::set_var("SSH_AUTH_SOCK", &agent.socket);
    let list = format!(
        "ssh://root@{},ssh://root@{},{}",
        sim.ips[0], sim.ips[1], sim.urls[2]
    );
    assert_eq!(sim.urls[2], "tcp://10.79.0.13:2376");
    let containers_on = |i: usize| -> usize {
        rt.block_on(perseus::docker::lab_containers(&engines[i], Some("etcd")))
            .unwrap()
            .len()
    };
    let lab = LabGuard::lock_only("etcd");

    // Without DOCKER_TLS_VERIFY the TLS host is spoken to in plain HTTP and refuses: named,
    // exit code 2, nothing made. With it but no certificates where it looks: the file named.
    let out = run(&["lab", "up", "etcd", "--hosts", &list], 2);
    assert!(
        stderr(&out).contains("cannot reach the Docker Engine of host tcp://10.79.0.13:2376"),
        "{}",
        stderr(&out)
    );
    std::env::set_var("DOCKER_TLS_VERIFY", "1");
    let empty = tempfile::tempdir().unwrap();
    std::env::set_var("DOCKER_CERT_PATH", empty.path());
    let out = run(&["lab", "up", "etcd", "--hosts", &list], 2);
    let said = stderr(&out);
    let error = said
        .lines()
        .find(|l| l.starts_with("perseus: "))
        .unwrap_or_default();
    assert!(
        error.contains("ca.pem is missing") && error.contains("DOCKER_CERT_PATH"),
        "{said}"
    );
    assert!((0..3).all(|i| containers_on(i) == 0));

    // With the client's certificates: up across ssh, ssh and TLS, each node on its host.
    std::env::set_var("DOCKER_CERT_PATH", sim.cert_path());
    run(&["lab", "up", "etcd", "--hosts", &list], 0);
    assert!((0..3).all(|i| containers_on(i) == 2));
    let status = lab.status();
    for (i, row) in status.iter().enumerate() {
        assert!(
            row["endpoint"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{}:", sim.ips[i])),
            "{status:?}"
        );
    }

    // Each fault over ssh takes as long as the engine takes (a second or more): the load is
    // started long and ended once every node served 3 s after the heal.
    let load = LoadRun::start("etcd", 120, &[]);
    std::thread::sleep(Duration::from_secs(3));
    // A graceful stop on the TLS host: n3 down, and back.
    let stopped = run(&["fault", "stop", "etcd", "n3"], 0);
    let row = |n: &str| {
        lab.status()
            .into_iter()
            .find(|r| r["node"] == n)
            .unwrap_or_else(|| panic!("{n} in lab status"))
    };
    assert_ne!(row("n3")["state"], "running", "{}", row("n3"));
    std::thread::sleep(Duration::from_secs(2));
    let (_, start_issued) = undo(|| run(&["fault", "start", "etcd", "n3"], 0));
    // A disconnect on an ssh host: n1 reaches no peer, then is back at its address.
    let disconnected = run(&["fault", "disconnect", "etcd", "n1"], 0);
    assert!(!reaches("etcd", 2, 1, 2380), "n1 is off the network");
    std::thread::sleep(Duration::from_secs(3));
    let (_, connect_issued) = undo(|| run(&["fault", "connect", "etcd", "n1"], 0));
    assert!(reaches("etcd", 2, 1, 2380), "n1 is back on the network");
    // A bandwidth limit on the other ssh host, shown in force, then healed.
    run(&["fault", "bandwidth", "etcd", "n2", "1mbit"], 0);
    assert!(
        lab.faults("n2").iter().any(|f| f.contains("bandwidth")),
        "{:?}",
        lab.faults("n2")
    );
    let healed = run(&["fault", "heal", "etcd"], 0);
    assert!(lab.faults("n2").is_empty(), "{:?}", lab.faults("n2"));
    let r = load.interrupt_once_serving(3, Duration::from_secs(12));
    r.assert_column(
        3,
        r.offset(&stdout(&stopped)) + 0.5,
        r.offset_of(start_issued),
        |c| c == 0,
        "a stopped node serves nothing",
    );
    r.assert_column(
        1,
        r.offset(&stdout(&disconnected)) + 1.0,
        r.offset_of(connect_issued),
        |c| c == 0,
        "clients cannot reach a disconnected node",
    );
    let heal = r.offset(&stdout(&healed));
    r.every_node_rejoins_within(heal, 6.0, "every node serves again after heal");
    assert_eq!(r.summary["lost_writes"], 0, "{}", r.summary);

    let out = run(&["lab", "down", "etcd"], 0);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.contains("removed 6 containers, 1 networks, 3 volumes"),
        "{said}"
    );
    assert!((0..3).all(|i| containers_on(i) == 0));
    assert!(perseus::lab::hosts::Record::systems().is_empty());
    drop(lab);
    drop(agent);
}
