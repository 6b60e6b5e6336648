//! Faults on a real etcd cluster under the load loop: what a user watches in the per-node columns.

mod common;

use common::*;
use std::time::{Duration, SystemTime};

/// The node an event line names: `<time> kill n3 (leader): ...` → `n3`.
fn event_node(line: &str) -> String {
    line.split_whitespace()
        .nth(2)
        .expect("event line has a node")
        .to_string()
}

fn node_index(node: &str) -> usize {
    node.trim_start_matches('n').parse().unwrap()
}

#[test]
fn kill_leader_zeroes_its_column_while_the_others_recover_under_a_new_leader() {
    let lab = LabGuard::shared("etcd");
    // The load outlasts the slowest election seen in CI by seconds (with parallel Docker tests
    // on 2 cores a killed leader's successor took 9.4 s once, 1 s on an idle machine), and ends
    // once the survivors have served 3 s in a row after the test saw the new leader.
    let load = LoadRun::start("etcd", 24, &[]);
    sleep_s(5.0);
    let event = lab.fault("kill", "leader");
    assert!(event.contains("(leader): SIGKILL"), "{event}");
    let killed = event_node(&event);
    let k = node_index(&killed);
    let new_leader = lab.wait_leader(Duration::from_secs(15), |l| l != killed);
    let seen = SystemTime::now();
    let survivors: Vec<usize> = (1..=3).filter(|&n| n != k).collect();
    let r = load.interrupt_once_these_serve(&survivors, 3, Duration::from_secs(15));
    // On the load's clock: when the kill took effect, and when the test saw the new leader.
    let (kill, elected) = (r.offset(&event), r.offset_of(seen));

    for n in 1..=3 {
        r.assert_column(
            n,
            1.0,
            kill,
            |c| c > 0,
            "all columns > 0 from second 2 until the kill",
        );
    }
    r.assert_column(
        k,
        kill + 1.0,
        r.end(),
        |c| c == 0,
        "the killed node's column stays 0 from 1 s after the kill",
    );
    // The election's length varies with the machine's load, so the others are checked from 1 s
    // (the op timeout: a request sent to the dead leader may hang that long) after the test saw
    // the new leader.
    for n in (1..=3).filter(|&n| n != k) {
        r.assert_column(
            n,
            elected + 1.0,
            r.end(),
            |c| c > 0,
            &format!("n{n} recovers under the new leader {new_leader}, from 1 s after it was seen"),
        );
    }
    let cw = &r.summary["cluster_window"];
    let w = cw["length_s"].as_f64().unwrap();
    assert!(
        w > 0.1 && w < 15.0,
        "a killed etcd leader costs an election: about a second or two, up to 10 s on a loaded CI machine; measured {w} s"
    );
    let from = cw["start_s"].as_f64().unwrap();
    assert!(
        (kill - 1.0..=kill).contains(&from),
        "the cluster window is the one the kill (at {kill:.3} s) caused: {cw}"
    );
    assert_ne!(new_leader, killed);
    // The killed node is still down when the load ends: its keys have no final read.
    assert_safe_but_down(&r.summary, &[&killed]);

    // What etcd holds, read back through etcdctl on a surviving node, is what the loop had acknowledged.
    let run_id = r.summary["run_id"].as_str().unwrap();
    let survivor = format!("perseus-etcd-{new_leader}");
    let held: std::collections::HashMap<String, u64> =
        etcdctl_get_prefix(&survivor, &format!("{run_id}/"))
            .into_iter()
            .collect();
    let keys = r.summary["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    for key in keys {
        let name = key["key"].as_str().unwrap();
        let last = key["last_acked"].as_u64().unwrap();
        let max = key["max_possible"].as_u64().unwrap();
        let got = held.get(name).copied().unwrap_or(0);
        assert!(last > 0, "{key}");
        assert!(
            got >= last && got <= max,
            "{name}: etcd holds {got}, acknowledged {last} (at most {max} with ambiguous writes)"
        );
    }
}

#[test]
fn isolated_leader_keeps_running_loses_its_column_and_heal_brings_it_back() {
    let lab = LabGuard::shared("etcd");
    // Heal comes 6 s after the test sees the new leader, and every column must serve within 12 s
    // of heal: 38 s of load at most leave room for an election of up to 10 s on a loaded machine
    // (one CI run here took 7 s); the load ends once every node has served 3 s after heal.
    let load = LoadRun::start("etcd", 38, &[]);
    sleep_s(4.0);
    let event = lab.fault("isolate", "leader");
    assert!(
        event.contains("isolate") && event.contains("(leader)"),
        "{event}"
    );
    let isolated = event_node(&event);
    let i = node_index(&isolated);

    // The mechanism does what it says: the isolated node cannot reach a peer, the others still can
    // reach each other, and the container is still running.
    let (from_isolated, between_others) = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let l = open_lab("etcd").await;
        let others: Vec<String> = l
            .nodes
            .iter()
            .map(|n| n.name.to_string())
            .filter(|n| *n != isolated)
            .collect();
        let a = perseus::fault::net::can_reach(&l, &isolated, &others[0], 2380)
            .await
            .unwrap();
        let b = perseus::fault::net::can_reach(&l, &others[0], &others[1], 2380)
            .await
            .unwrap();
        (a, b)
    });
    assert!(!from_isolated, "{isolated} still reaches a peer");
    assert!(
        between_others,
        "the other nodes must still reach each other"
    );
    let new_leader = lab.wait_leader(Duration::from_secs(10), |l| l != isolated);
    let seen = SystemTime::now();
    let status = lab.status();
    let row = status
        .iter()
        .find(|r| r["node"] == isolated.as_str())
        .unwrap();
    assert_eq!(
        row["state"], "running",
        "an isolated node keeps running: {row}"
    );
    assert!(
        row["faults"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "isolated"),
        "{row}"
    );

    sleep_s(6.0);
    let (healed, heal_issued) = undo(|| run(&["fault", "heal", "etcd"], 0));
    assert!(
        stdout(&healed).contains(&format!("{isolated} rules flushed")),
        "{}",
        stdout(&healed)
    );
    let r = load.interrupt_once_serving(3, Duration::from_secs(20));
    let (cut, elected, heal) = (
        r.offset(&event),
        r.offset_of(seen),
        r.offset(&stdout(&healed)),
    );

    r.assert_column(
        i,
        cut + 1.0,
        r.offset_of(heal_issued),
        |c| c == 0,
        "the isolated node's column is 0 from 1 s after the isolation until heal",
    );
    // The election's length varies with the machine's load: the others are checked from 1 s
    // after the test saw the new leader until heal (6 s later).
    for n in (1..=3).filter(|&n| n != i) {
        r.assert_column(
            n,
            elected + 1.0,
            heal,
            |c| c > 0,
            &format!("n{n} serves under the new leader {new_leader} until heal"),
        );
    }
    // After heal the isolated node rejoins with the higher term it reached while campaigning alone;
    // etcd 3.4 (no pre-vote) then needs one more election, so the cluster may pause for a few
    // seconds before every column is back. From 12 s after heal all must serve.
    r.every_node_rejoins_within(heal, 12.0, "every column is > 0 again after heal");
    assert_safe(&r.summary);
}

#[test]
fn pause_and_resume_a_follower() {
    let lab = LabGuard::up("etcd", &[]);
    let load = LoadRun::start("etcd", 20, &[]);
    sleep_s(3.0);
    let event = lab.fault("pause", "follower");
    let paused = event_node(&event);
    let p = node_index(&paused);
    let status = lab.status();
    let row = status
        .iter()
        .find(|r| r["node"] == paused.as_str())
        .unwrap();
    assert_eq!(row["state"], "paused", "{row}");
    sleep_s(5.0);
    let (resume, resume_issued) = undo(|| lab.fault("resume", &paused));
    let r = load.interrupt_once_serving(3, Duration::from_secs(12));
    let (pause, resume) = (r.offset(&event), r.offset(&resume));
    r.assert_column(
        p,
        pause + 1.0,
        r.offset_of(resume_issued),
        |c| c == 0,
        "a paused node serves nothing from 1 s after the pause until resume",
    );
    for n in (1..=3).filter(|&n| n != p) {
        r.assert_column(
            n,
            pause + 1.0,
            resume,
            |c| c > 0,
            &format!("a paused node never stalls the others: n{n} serves while {paused} is paused"),
        );
    }
    r.rejoins_within(p, resume, 7.0, "it serves again after resume");
    assert_safe(&r.summary);
}

#[test]
fn disconnect_and_connect_keep_the_node_address() {
    let lab = LabGuard::shared("etcd");
    // A follower, so that the other two keep their leader and serve throughout.
    let leader = lab.wait_leader(std::time::Duration::from_secs(10), |_| true);
    let node = ["n1", "n2", "n3"]
        .into_iter()
        .find(|n| *n != leader)
        .unwrap();
    let idx: usize = node[1..].parse().unwrap();
    let others: Vec<usize> = (1..=3).filter(|&i| i != idx).collect();
    let load = LoadRun::start("etcd", 28, &[]);
    sleep_s(3.0);
    let disconnect = lab.fault("disconnect", node);
    let status = lab.status();
    assert!(
        status[idx - 1]["faults"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "disconnected"),
        "{status:?}"
    );
    sleep_s(4.0);
    let (event, connect_issued) = undo(|| lab.fault("connect", node));
    assert!(
        event.contains("at 10."),
        "connect gives back the fixed address: {event}"
    );
    let r = load.interrupt_once_serving(3, Duration::from_secs(21));
    let (cut, back) = (r.offset(&disconnect), r.offset(&event));
    r.assert_column(
        idx,
        cut + 1.0,
        r.offset_of(connect_issued),
        |c| c == 0,
        "a disconnected node is unreachable from 1 s after disconnect until connect",
    );
    // etcd 3.4 runs without pre-vote: the rejoining node, which kept campaigning while cut off,
    // brings a higher term and forces an election, so the whole cluster may pause for a few
    // seconds after connect (2 to 7 s seen) before every column is back: within 16 s.
    r.rejoins_within(idx, back, 16.0, "it serves again within 16 s of connect");
    for &o in &others {
        r.assert_column(
            o,
            cut + 1.0,
            back,
            |c| c > 0,
            &format!("n{o} keeps serving while {node} is disconnected"),
        );
    }
}

#[test]
fn stop_and_start_a_node_by_name() {
    let lab = LabGuard::up("etcd", &[]);
    let event = lab.fault("stop", "n2");
    assert!(event.contains("graceful stop"), "{event}");
    let status = lab.status();
    // etcd handles SIGTERM, then re-raises it: a graceful stop ends with 143 (128 + SIGTERM), not 137.
    assert_eq!(
        status[1]["state"], "exited (143)",
        "a graceful stop is SIGTERM, not SIGKILL: {status:?}"
    );
    assert!(status[1]["faults"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f == "stopped"));
    let start = lab.fault("start", "n2");
    let r = LoadRun::start("etcd", 5, &[]).finish();
    // The start took effect just before the load began (a negative offset on its clock).
    r.assert_column(
        2,
        r.offset(&start) + 2.5,
        r.end(),
        |c| c > 0,
        "n2 serves from 2.5 s after start",
    );
}

#[test]
fn partition_stops_the_minority_and_the_majority_keeps_serving() {
    let lab = LabGuard::up("etcd", &["--nodes", "5"]);
    // The leader goes into the majority, so the majority needs no election and must serve
    // through the whole partition; the minority is two followers.
    let leader = lab.wait_leader(Duration::from_secs(10), |_| true);
    let index = |name: &str| name.trim_start_matches('n').parse::<usize>().unwrap();
    let minority: Vec<usize> = (1..=5).filter(|&n| n != index(&leader)).take(2).collect();
    let majority: Vec<usize> = (1..=5).filter(|n| !minority.contains(n)).collect();
    let names = |g: &[usize]| {
        g.iter()
            .map(|n| format!("n{n}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let (minority_s, majority_s) = (names(&minority), names(&majority));

    let load = LoadRun::start("etcd", 32, &[]);
    sleep_s(4.0);
    let out = run(&["fault", "partition", "etcd", &minority_s, &majority_s], 0);
    let partition = stdout(&out);
    assert!(
        stdout(&out).contains(&format!(
            "groups {minority_s} | {majority_s} cannot reach each other"
        )),
        "{}",
        stdout(&out)
    );

    // The rules do what they say: inside a group nodes reach each other, across groups they do not.
    let reach = |from: usize, to: usize| reaches("etcd", from, to, 2380);
    assert!(
        reach(minority[0], minority[1]) && reach(majority[0], majority[2]),
        "nodes in one group reach each other"
    );
    assert!(
        !reach(minority[0], majority[0]) && !reach(majority[2], minority[1]),
        "nodes in different groups do not"
    );
    let status = lab.status();
    let faults = |n: usize| {
        status[n - 1]["faults"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        faults(minority[0]),
        vec![format!("cut from {majority_s}")],
        "{status:?}"
    );
    assert_eq!(
        faults(majority[2]),
        vec![format!("cut from {minority_s}")],
        "{status:?}"
    );

    sleep_s(8.0);
    let (healed, heal_issued) = undo(|| run(&["fault", "heal", "etcd"], 0));
    let r = load.interrupt_once_serving(3, Duration::from_secs(15));
    let (cut, heal) = (r.offset(&partition), r.offset(&stdout(&healed)));
    for &n in &minority {
        r.assert_column(
            n,
            cut + 1.0,
            r.offset_of(heal_issued),
            |c| c == 0,
            "the minority cannot serve from 1 s after the partition until heal",
        );
    }
    for &n in &majority {
        r.assert_column(
            n,
            cut + 1.0,
            heal,
            |c| c > 0,
            &format!("the majority (with the leader {leader}) keeps serving until heal"),
        );
    }
    // After heal the minority rejoins (etcd 3.4 without pre-vote may need one more election).
    r.every_node_rejoins_within(heal, 10.0, "every column is > 0 again after heal");
    assert_safe(&r.summary);
}

#[test]
fn one_way_cuts_drop_packets_one_way_only() {
    // UDP, because a TCP probe cannot tell one way from both (its handshake needs both ways).
    let lab = LabGuard::up("redis", &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let arrives = |from: &str, to: &str| {
        rt.block_on(async {
            let l = open_lab("redis").await;
            perseus::fault::net::udp_count(&l, from, to, 9999, 20)
                .await
                .unwrap()
                > 0
        })
    };
    // Before any fault, datagrams go both ways.
    assert!(arrives("n1", "n2") && arrives("n2", "n1"));

    // isolate --direction in: n1 hears nothing from its peers, they still hear it.
    let ev = stdout(&run(
        &["fault", "isolate", "redis", "n1", "--direction", "in"],
        0,
    ));
    assert!(
        ev.contains("iptables DROP from n2,n3") && ev.contains("(in:"),
        "{ev}"
    );
    assert_eq!(lab.faults("n1"), ["isolated (in)"]);
    assert!(arrives("n1", "n2"), "out of n1 still passes");
    assert!(!arrives("n2", "n1"), "into n1 is dropped");
    let healed = stdout(&run(&["fault", "heal", "redis"], 0));
    assert!(
        healed.contains("n1 rules flushed (was cut from n2,n3 (in))"),
        "{healed}"
    );
    assert!(lab.faults("n1").is_empty());

    // partition --direction out: the others hear nothing from the first group; it hears them,
    // and they keep hearing each other.
    let ev = stdout(&run(
        &[
            "fault",
            "partition",
            "redis",
            "n1",
            "n2,n3",
            "--direction",
            "out",
        ],
        0,
    ));
    assert!(
        ev.contains("the other groups hear nothing from n1, which still hears them (out)"),
        "{ev}"
    );
    assert_eq!(lab.faults("n1"), ["isolated (out)"]);
    assert!(
        lab.faults("n2").is_empty(),
        "the rules are in n1's namespace only"
    );
    assert!(!arrives("n1", "n2"), "out of n1 is dropped");
    assert!(arrives("n3", "n1"), "into n1 still passes");
    assert!(arrives("n2", "n3"), "the other group is whole");
    run(
        &[
            "fault",
            "partition",
            "redis",
            "n1",
            "--direction",
            "sideways",
        ],
        2,
    );
    run(&["fault", "heal", "redis"], 0);
    assert!(arrives("n2", "n1") && arrives("n1", "n2"));
}

#[test]
fn shaped_partitions_cut_exactly_the_pairs_their_shape_names() {
    let lab = LabGuard::up("redis", &["--nodes", "5"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let names: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
    // Every ordered pair's TCP reachability, probed from inside the namespaces at once.
    let reach = || -> Vec<(String, String, bool)> {
        rt.block_on(async {
            let l = open_lab("redis").await;
            let pairs: Vec<(String, String)> = names
                .iter()
                .flat_map(|a| {
                    names
                        .iter()
                        .filter(move |b| *b != a)
                        .map(move |b| (a.clone(), b.clone()))
                })
                .collect();
            let probes = pairs.iter().map(|(a, b)| {
                let l = &l;
                async move {
                    let ok = perseus::fault::net::can_reach(l, a, b, 6379).await.unwrap();
                    (a.clone(), b.clone(), ok)
                }
            });
            futures_util::future::join_all(probes).await
        })
    };
    for (shape, seed) in [("ring", "11"), ("bridge", "5"), ("halves", "3")] {
        let ev = stdout(&run(
            &[
                "fault",
                "partition",
                "redis",
                "--shape",
                shape,
                "--seed",
                seed,
            ],
            0,
        ));
        assert!(ev.contains(&format!("(seed {seed})")), "{ev}");
        // What the shape says, for these nodes and this seed, is what the rules do.
        let node_names: Vec<perseus::node::NodeName> =
            names.iter().map(|n| n.as_str().into()).collect();
        let expected = perseus::fault::shape::cuts(
            shape.parse().unwrap(),
            &node_names,
            None,
            seed.parse().unwrap(),
        )
        .unwrap();
        assert!(ev.contains(&expected.detail), "{ev} / {}", expected.detail);
        for (a, b, ok) in reach() {
            let cut = expected
                .cut_from
                .get(a.as_str())
                .is_some_and(|v| v.iter().any(|x| *x == b));
            assert_eq!(
                ok, !cut,
                "{shape}: {a} -> {b} reachable {ok}, cut {cut} ({ev})"
            );
        }
        run(&["fault", "heal", "redis"], 0);
    }
    assert!(
        reach().iter().all(|(_, _, ok)| *ok),
        "heal undoes every shape"
    );
    // The redis control has no leader, so the leader's side cannot be chosen.
    let out = run(&["fault", "partition", "redis", "--shape", "leader"], 2);
    assert!(stderr(&out).contains("no leader"), "{}", stderr(&out));
    let out = run(&["fault", "partition", "redis", "--shape", "square"], 2);
    assert!(
        stderr(&out).contains("'square' is not a partition shape"),
        "{}",
        stderr(&out)
    );
    drop(lab);
}

#[test]
fn degraded_links_lose_and_slow_what_they_say_and_delay_needs_netem() {
    let lab = LabGuard::up("redis", &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let open = || open_lab("redis");
    let udp = |n: usize| {
        rt.block_on(async {
            let l = open().await;
            perseus::fault::net::udp_count(&l, "n1", "n2", 9997, n)
                .await
                .unwrap()
        })
    };
    let rate = |bytes: u64| {
        rt.block_on(async {
            let l = open().await;
            perseus::fault::net::tcp_rate(&l, "n1", "n2", 9996, bytes)
                .await
                .unwrap()
        })
    };

    // Loss: 30% of n1's packets to and from its peers, at random.
    let clean = udp(400);
    assert!(
        clean >= 390,
        "without loss, {clean} of 400 datagrams arrive"
    );
    let ev = stdout(&run(&["fault", "loss", "redis", "n1", "30%"], 0));
    assert!(ev.contains("loss 30% of packets to and from n2,n3"), "{ev}");
    assert_eq!(lab.faults("n1"), ["loss 30%"]);
    let lossy = udp(400);
    eprintln!("loss 30%: {lossy} of 400 datagrams arrived (without: {clean})");
    // 70% of 400 is 280; the binomial's standard deviation is 9.2: four of them either way.
    assert!(
        (243..=317).contains(&lossy),
        "{lossy} of 400 arrived under 30% loss"
    );
    let healed = stdout(&run(&["fault", "heal", "redis"], 0));
    assert!(
        healed.contains("n1 links restored (was loss 30%)"),
        "{healed}"
    );
    assert!(lab.faults("n1").is_empty());

    // Bandwidth: what n1 sends its peers, limited to 8 Mbit/s.
    let free = rate(2_000_000);
    let ev = stdout(&run(&["fault", "bandwidth", "redis", "n1", "8mbit"], 0));
    assert!(
        ev.contains("bandwidth 8mbit on what it sends to n2,n3"),
        "{ev}"
    );
    assert_eq!(lab.faults("n1"), ["bandwidth 8mbit"]);
    let limited = rate(2_000_000);
    eprintln!(
        "bandwidth 8mbit: {:.2} Mbit/s (without: {:.1} Mbit/s)",
        limited / 1e6,
        free / 1e6
    );
    assert!(
        free > 40e6,
        "unlimited, far above the limit: {:.1} Mbit/s",
        free / 1e6
    );
    assert!(
        (5.0e6..=8.8e6).contains(&limited),
        "close to the 8 Mbit/s limit: {:.2} Mbit/s",
        limited / 1e6
    );
    // The clients' path is not the peers': the load loop still runs at full speed.
    let load = LoadRun::start("redis", 3, &[]).finish();
    assert!(
        load.at(2, 1) > 100,
        "n1 still serves its client: {:?}",
        load.rows
    );
    run(&["fault", "heal", "redis"], 0);
    assert!(lab.faults("n1").is_empty());

    // Delay needs the kernel's sch_netem: probed here independently of Perseus' own probe.
    let netem = rt.block_on(async {
        let l = open().await;
        let out = perseus::fault::net::run_helper(
            &l,
            "n1",
            "if tc qdisc add dev lo root netem delay 1ms 2>/dev/null; then tc qdisc del dev lo root; echo yes; else echo no; fi",
        )
        .await
        .unwrap();
        out.contains("yes")
    });
    if netem {
        let ev = stdout(&run(
            &["fault", "delay", "redis", "n1", "100ms", "--jitter", "10ms"],
            0,
        ));
        assert!(ev.contains("delay 100ms ± 10ms"), "{ev}");
        assert!(lab.faults("n1")[0].starts_with("delay"));
        // A TCP connect from n1 to n2 waits for n1's delayed SYN.
        let connect_ms = rt.block_on(async {
            let l = open().await;
            let ip = l.node("n2").unwrap().ip;
            let out = perseus::fault::net::run_helper(
                &l,
                "n1",
                &format!("s=$(date +%s%N); nc -z -w 3 {ip} 6379; e=$(date +%s%N); echo ms $(((e-s)/1000000))"),
            )
            .await
            .unwrap();
            out.lines()
                .find_map(|l| l.strip_prefix("ms ")?.trim().parse::<u64>().ok())
                .unwrap()
        });
        eprintln!("delay 100ms: a connect from n1 to n2 took {connect_ms} ms");
        assert!(connect_ms >= 85, "{connect_ms} ms");
        run(&["fault", "heal", "redis"], 0);
    } else {
        let out = run(&["fault", "delay", "redis", "n1", "100ms"], 2);
        let err = stderr(&out);
        assert!(
            err.contains("delay cannot be made here: missing kernel module: sch_netem"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(lab.faults("n1").is_empty(), "nothing was changed");
    }
    run(&["fault", "loss", "redis", "n1", "30"], 2);
    run(&["fault", "bandwidth", "redis", "n1", "1MB"], 2);

    // The same faults as scenario steps: applied in the run, undone by its heal.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("redis-links.yaml");
    std::fs::write(
        &file,
        "name: redis-links\nsystem: redis\nload: {duration: 10s}\nsteps:\n  - {at: 2s, fault: loss, target: n1, amount: 30%}\n  - {at: 3s, fault: bandwidth, target: n2, amount: 1mbit}\n  - {at: 6s, fault: heal}\nexpect:\n  - lost-writes: 0\n",
    )
    .unwrap();
    let r = run_scenario(file.to_str().unwrap(), &["--reuse", "--keep"], 0);
    let steps = r.summary["steps"].as_array().unwrap();
    assert!(
        steps[0]["detail"]
            .as_str()
            .unwrap()
            .contains("loss 30% of packets to and from n2,n3"),
        "{steps:?}"
    );
    assert!(
        steps[2]["detail"]
            .as_str()
            .unwrap()
            .contains("n2 links restored (was bandwidth 1mbit)"),
        "{steps:?}"
    );
    assert!(lab.faults("n1").is_empty() && lab.faults("n2").is_empty());
}

#[test]
fn network_faults_outlive_a_restart_and_every_process_reads_them() {
    let lab = LabGuard::up("redis", &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let open = || open_lab("redis");
    let reach = |from: &str, to: &str| {
        rt.block_on(async {
            let l = open().await;
            perseus::fault::net::can_reach(&l, from, to, 6379)
                .await
                .unwrap()
        })
    };
    let rate = |from: &str, to: &str| {
        rt.block_on(async {
            let l = open().await;
            perseus::fault::net::tcp_rate(&l, from, to, 9995, 1_000_000)
                .await
                .unwrap()
        })
    };
    // The control port runs a script for the token alone, and for the host alone: were either
    // guard broken, the `docker exec` fallback would hide it from every other check here.
    rt.block_on(async {
        let l = open().await;
        let token = perseus::lab::helper::ensure(&l, "n1")
            .await
            .unwrap()
            .token
            .expect("lab up made n1's helper with a control-port token");
        let ok = perseus::lab::helper::exec(&l, "n1", Some(&token), "echo ran")
            .await
            .unwrap();
        assert_eq!(ok.trim(), "ran");
        let wrong = perseus::lab::helper::exec(&l, "n1", Some("not-the-token"), "echo ran")
            .await
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("a wrong token"), "{wrong}");
        assert!(
            !perseus::fault::net::can_reach(&l, "n2", "n1", perseus::lab::helper::CONTROL_PORT)
                .await
                .unwrap(),
            "a peer reaches n1's control port"
        );
    });
    // `lab up` made every node's helper; each fault below is its own process, and so is every
    // status: what is in force is read from the helpers, not from a process' memory.
    lab.fault("isolate", "n1");
    run(&["fault", "bandwidth", "redis", "n2", "8mbit"], 0);
    assert!(!reach("n2", "n1"));

    // Killed and stopped nodes have no namespace; status says what they will get back.
    lab.fault("kill", "n1");
    run(&["fault", "stop", "redis", "n2"], 0);
    assert_eq!(lab.faults("n1"), ["killed", "on start: cut from n2,n3"]);
    assert_eq!(lab.faults("n2"), ["stopped", "on start: bandwidth 8mbit"]);

    // Started, each is given its faults again in its new namespace.
    let ev = lab.fault("start", "n1");
    assert!(
        ev.contains("made again in its new namespace: cut from n2,n3"),
        "{ev}"
    );
    assert_eq!(lab.faults("n1"), ["isolated"]);
    // (n2 is still stopped: n3 is the peer that probes.)
    assert!(!reach("n3", "n1"), "n1 is cut again after its restart");
    assert!(!reach("n1", "n3"));
    let ev = lab.fault("start", "n2");
    assert!(ev.contains("bandwidth 8mbit"), "{ev}");
    assert_eq!(lab.faults("n2"), ["bandwidth 8mbit"]);
    let limited = rate("n2", "n3");
    eprintln!("after a restart, n2 sends n3 {:.2} Mbit/s", limited / 1e6);
    assert!(
        (4.0e6..=8.8e6).contains(&limited),
        "the limit holds after the restart: {:.2} Mbit/s",
        limited / 1e6
    );

    // A reconnected node has a new interface (its qdiscs went with the old one): made again too.
    lab.fault("disconnect", "n2");
    let ev = lab.fault("connect", "n2");
    assert!(ev.contains("made again: bandwidth 8mbit"), "{ev}");
    assert_eq!(lab.faults("n2"), ["bandwidth 8mbit"]);

    // Heal clears the namespaces and the records.
    let healed = stdout(&run(&["fault", "heal", "redis"], 0));
    assert!(
        healed.contains("n1 rules flushed (was cut from n2,n3)"),
        "{healed}"
    );
    assert!(
        healed.contains("n2 links restored (was bandwidth 8mbit)"),
        "{healed}"
    );
    assert!(reach("n2", "n1"));
    lab.fault("kill", "n1");
    lab.fault("start", "n1");
    assert!(lab.faults("n1").is_empty(), "heal emptied the record");
    assert!(reach("n2", "n1"));

    // Heal while a node is down drops what it would have been given back.
    lab.fault("isolate", "n3");
    lab.fault("kill", "n3");
    let healed = stdout(&run(&["fault", "heal", "redis"], 0));
    assert!(
        healed.contains(
            "n3 is down; dropped what it would have been given again on start (cut from n1,n2)"
        ),
        "{healed}"
    );
    let ev = lab.fault("start", "n3");
    assert!(!ev.contains("made again"), "{ev}");
    assert!(lab.faults("n3").is_empty());
    assert!(reach("n1", "n3"));

    // A node started while off the network has no route to its peers: its bandwidth limit
    // cannot be made again, which the start says (and it still starts); connecting it makes it.
    run(&["fault", "bandwidth", "redis", "n3", "8mbit"], 0);
    lab.fault("disconnect", "n3");
    lab.fault("kill", "n3");
    let ev = lab.fault("start", "n3");
    assert!(
        ev.contains("(could not make again: bandwidth 8mbit)"),
        "{ev}"
    );
    let ev = lab.fault("connect", "n3");
    assert!(ev.contains("made again: bandwidth 8mbit"), "{ev}");
    assert_eq!(lab.faults("n3"), ["bandwidth 8mbit"]);
    // A node connected while down gets its faults when it starts, not before.
    lab.fault("disconnect", "n3");
    lab.fault("kill", "n3");
    let ev = lab.fault("connect", "n3");
    assert!(!ev.contains("made again"), "{ev}");
    let ev = lab.fault("start", "n3");
    assert!(
        ev.contains("made again in its new namespace: bandwidth 8mbit"),
        "{ev}"
    );
    run(&["fault", "heal", "redis"], 0);
    assert!(lab.faults("n3").is_empty());
}
