//! Gryadka (CASPaxos on Redis acceptors) in the lab: a leaderless system, so losing any one node
//! costs the others nothing (seed 002).

mod common;

use common::*;
use std::time::Duration;

/// Read a key through a node's proposer (GET /kv/<key>), from inside the lab's network namespace
/// of that node — an independent path from the load loop's connections.
fn read_through(node: &str, key: &str) -> Option<(u64, u64)> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let docker = perseus::docker::connect().await.unwrap();
        let home = perseus::lab::Home::locate().unwrap();
        let lab = perseus::lab::open(&docker, &home, "gryadka").await.unwrap();
        let addr = lab.node(node).unwrap().endpoint().addr;
        let (status, body) = perseus::http::oneshot(
            addr,
            hyper::Method::GET,
            &format!("/kv/{key}"),
            None,
            std::time::Duration::from_secs(3),
        )
        .await
        .unwrap();
        if status == hyper::StatusCode::NOT_FOUND {
            return None;
        }
        assert!(
            status.is_success(),
            "GET {key} through {node}: {status} {}",
            String::from_utf8_lossy(&body)
        );
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        Some((
            v["value"].as_str().unwrap().parse().unwrap(),
            v["version"].as_u64().unwrap(),
        ))
    })
}

/// Every key's final value, read through every proposer, equals what the loop had acknowledged
/// (or one of its ambiguous writes).
fn check_final_values(r: &LoadResult) {
    for key in r.summary["keys"].as_array().unwrap() {
        let name = key["key"].as_str().unwrap();
        let last = key["last_acked"].as_u64().unwrap();
        let max = key["max_possible"].as_u64().unwrap();
        for node in ["n1", "n2", "n3"] {
            let (value, version) = read_through(node, name).unwrap_or((0, 0));
            assert!(
                value >= last && value <= max,
                "{name} through {node}: {value}, acknowledged {last} (at most {max})"
            );
            assert_eq!(value, version, "each acknowledged increment is one version");
        }
    }
}

#[test]
fn every_node_serves_and_proposers_agree_on_the_acknowledged_counts() {
    let lab = LabGuard::shared("gryadka");
    let status = lab.status();
    assert!(
        status.iter().all(|r| r["role"] == "member"),
        "leaderless: {status:?}"
    );
    let r = LoadRun::start("gryadka", 5, &["--clients-per-node", "2"]).finish();
    for row in &r.rows {
        assert!(row[2..].iter().all(|&c| c > 0), "all columns > 0: {row:?}");
    }
    assert_safe(&r.summary);
    check_final_values(&r);
    let out = run(&["fault", "kill", "gryadka", "leader"], 2);
    assert!(
        stderr(&out).contains("gryadka has no leader: target a node by name"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn killing_a_node_costs_the_others_nothing_and_it_serves_again_after_start() {
    let lab = LabGuard::shared("gryadka");
    let load = LoadRun::start("gryadka", 18, &[]);
    sleep_s(4.0);
    let kill = lab.fault("kill", "n1");
    sleep_s(6.0);
    let (start, start_issued) = undo(|| lab.fault("start", "n1"));
    let r = load.interrupt_once_serving(3, Duration::from_secs(8));
    let (kill, start) = (r.offset(&kill), r.offset(&start));
    r.assert_column(
        1,
        kill + 1.0,
        r.offset_of(start_issued),
        |c| c == 0,
        "the killed node's column is 0 from 1 s after the kill until the start",
    );
    for n in [2, 3] {
        r.assert_column(
            n,
            0.0,
            r.end(),
            |c| c > 0,
            &format!("n{n} never drops to 0 for a whole second"),
        );
    }
    // A restarted acceptor serves at once (it keeps no state to catch up on): within 4 s.
    r.rejoins_within(1, start, 4.0, "n1 serves again after the start");
    let w = r.summary["cluster_window"]["length_s"].as_f64().unwrap();
    assert!(
        w < 0.5,
        "no cluster-wide outage on a leaderless system, measured {w} s"
    );
    assert_safe(&r.summary);
    check_final_values(&r);
}

#[test]
fn isolating_a_node_costs_the_others_nothing_and_heal_brings_it_back() {
    let lab = LabGuard::shared("gryadka");
    let load = LoadRun::start("gryadka", 16, &[]);
    sleep_s(4.0);
    let isolate = lab.fault("isolate", "n2");
    sleep_s(5.0);
    let (healed, heal_issued) = undo(|| run(&["fault", "heal", "gryadka"], 0));
    let r = load.interrupt_once_serving(3, Duration::from_secs(7));
    let (cut, heal) = (r.offset(&isolate), r.offset(&stdout(&healed)));
    r.assert_column(
        2,
        cut + 1.0,
        r.offset_of(heal_issued),
        |c| c == 0,
        "the isolated node cannot reach a majority from 1 s after the isolation until heal",
    );
    for n in [1, 3] {
        r.assert_column(
            n,
            0.0,
            r.end(),
            |c| c > 0,
            &format!("n{n} never drops to 0"),
        );
    }
    r.rejoins_within(2, heal, 2.5, "n2 serves again after heal");
    let w = r.summary["cluster_window"]["length_s"].as_f64().unwrap();
    assert!(w < 0.5, "no cluster-wide outage, measured {w} s");
    assert_safe(&r.summary);
    check_final_values(&r);
}

#[test]
fn redis_acceptor_follows_the_caspaxos_rules_and_keeps_its_state_across_kill_and_start() {
    use gryadka::caspaxos::{Acceptor, Ballot, State};
    use gryadka::redis::RedisAcceptor;
    let lab = LabGuard::shared("gryadka");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = rt.block_on(async {
        let docker = perseus::docker::connect().await.unwrap();
        let home = perseus::lab::Home::locate().unwrap();
        let l = perseus::lab::open(&docker, &home, "gryadka").await.unwrap();
        format!("{}:6379", l.node("n1").unwrap().ip)
    });
    let b = |counter, proposer| Ballot { counter, proposer };
    let s = |v: u64| {
        Some(State {
            value: v.to_string(),
            version: v,
        })
    };
    // A key of this run's own: the lab may be one an earlier check handed on.
    let key = &format!(
        "rules-test-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    rt.block_on(async {
        let a = RedisAcceptor::new(&addr).unwrap();
        let p = a.prepare(key, b(5, 1)).await.unwrap().unwrap();
        assert_eq!(
            (p.accepted_ballot, p.accepted),
            (Ballot::ZERO, None),
            "a fresh key has nothing accepted"
        );
        assert_eq!(
            a.prepare(key, b(3, 2)).await.unwrap().unwrap_err().seen,
            b(5, 1),
            "a lower prepare is refused with the promise"
        );
        assert_eq!(
            a.prepare(key, b(5, 1)).await.unwrap().unwrap_err().seen,
            b(5, 1),
            "an equal prepare is refused"
        );
        assert!(
            a.accept(key, b(4, 9), s(1), None).await.unwrap().is_err(),
            "an accept below the promise is refused"
        );
        a.accept(key, b(5, 1), s(1), Some(b(6, 1)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            a.prepare(key, b(6, 0)).await.unwrap().unwrap_err().seen,
            b(6, 1),
            "the accept promised the next ballot"
        );
        assert!(
            a.accept(key, b(5, 1), s(2), None).await.unwrap().is_err(),
            "an accepted ballot is not accepted twice"
        );
        a.accept(key, b(6, 1), s(2), None).await.unwrap().unwrap();
    });
    // The acceptor's state is on disk: a SIGKILL and a start of the node lose nothing.
    lab.fault("kill", "n1");
    lab.fault("start", "n1");
    rt.block_on(async {
        let a = RedisAcceptor::new(&addr).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let p = loop {
            match a.prepare(key, b(7, 3)).await {
                Ok(r) => break r.unwrap(),
                Err(e) if std::time::Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Err(e) => panic!("acceptor did not come back: {}", e.0),
            }
        };
        assert_eq!(
            p.accepted_ballot,
            b(6, 1),
            "the accepted ballot survived kill and start"
        );
        assert_eq!(
            p.accepted,
            s(2),
            "the accepted state survived kill and start"
        );
    });
}
