//! NATS JetStream in the lab: the key-value bucket under a killed stream leader, read through the
//! stream leader (`nats-leader-reads`: nothing lost, nothing stale), and through direct gets as
//! async-nats makes buckets (`nats`: replicas answer stale and reverted reads, reported as
//! such; Debian's nats-server 2.9.10 has also accepted a compare-and-set at such a stale revision
//! in some runs, which the loop confirms as a lost write). What the stream holds is read back over the NATS
//! protocol by hand (`$JS.API.STREAM.MSG.GET`), not through async-nats.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine;
use common::*;

/// The address of node `node`'s client port in lab `system`, from `perseus lab status`.
fn client_addr(lab: &LabGuard, node: &str) -> String {
    lab.status()
        .into_iter()
        .find(|r| r["node"] == node)
        .and_then(|r| r["endpoint"].as_str().map(String::from))
        .unwrap_or_else(|| panic!("no endpoint for {node}"))
}

/// The bucket's last value for the loop's `key`, asked of the server at `addr` in the NATS
/// protocol itself: a request to `$JS.API.STREAM.MSG.GET.KV_perseus` for the last message on
/// `$KV.perseus.<key>`, answered by the stream's leader (None: no such message).
fn stream_value(addr: &str, key: &str) -> Option<u64> {
    let mut s = TcpStream::connect(addr).expect("connect to NATS");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    assert!(line.starts_with("INFO "), "{line}");
    let body = format!(r#"{{"last_by_subj":"$KV.perseus.{key}"}}"#);
    write!(
        s,
        "CONNECT {{\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}}\r\nSUB _INBOX.perseus 1\r\nPUB $JS.API.STREAM.MSG.GET.KV_perseus _INBOX.perseus {}\r\n{body}\r\nPING\r\n",
        body.len()
    )
    .unwrap();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line.starts_with("MSG ") {
            let len: usize = line.split_whitespace().last().unwrap().parse().unwrap();
            let mut payload = vec![0; len + 2];
            r.read_exact(&mut payload).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&payload[..len]).unwrap();
            if v["error"]["code"] == 404 {
                return None;
            }
            let data = base64::engine::general_purpose::STANDARD
                .decode(v["message"]["data"].as_str().expect("a message"))
                .unwrap();
            return Some(String::from_utf8(data).unwrap().parse().unwrap());
        }
        assert!(
            line.starts_with("PONG") || line.starts_with("PING") || line.starts_with("+OK"),
            "unexpected NATS line {line:?}"
        );
    }
}

#[test]
fn a_killed_stream_leader_is_replaced_and_nothing_acknowledged_is_lost() {
    let lab = LabGuard::lock_only("nats-leader-reads");
    // Debian's nats-server 2.9.10 usually elects another stream leader an election timeout after
    // the kill, and the scenario passes. In some runs (a CI run of 2026-11-30) neither survivor
    // won an election before the killed server was started again 10 s later, and the restarted
    // server won one 11.7 s after its start: the scenario's 12 s bound then fails, as it should.
    // In another (CI, 2026-12-05) a survivor was elected 1.6 s after the restart, inside the
    // bound. Each is checked for what Perseus must report of it: the verdict follows the window.
    let run = run_scenario_ending(
        "scenarios/nats-leader-reads-kill-leader.yaml",
        &["--keep"],
        &[0, 1],
    );
    let r = &run.summary;
    let killed = r["leader_before"].as_str().expect("a leader before");
    let crash = r["steps"][0]["fired_s"].as_f64().unwrap();
    let restart = r["steps"][1]["fired_s"].as_f64().unwrap();
    let to = r["effects"][0]["cluster"]["end_s"].as_f64().unwrap();
    let promotions = r["promotions"]
        .as_array()
        .expect("the run names its promotions");
    eprintln!("killed {killed} at {crash:.2} s, started at {restart:.2} s, window to {to:.2} s; {promotions:?}");
    // JetStream's account: the one election that ended the outage, and writes taken right after.
    assert_eq!(promotions.len(), 1, "{}", run.stderr);
    let p = &promotions[0];
    assert_eq!(p["source"], "JetStream", "{p}");
    let (at, node) = (p["t_s"].as_f64().unwrap(), p["node"].as_str().unwrap());
    assert!(
        (to - at).abs() < 2.0,
        "served again as the new leader took over: {:.2} s after",
        to - at
    );
    // The verdict follows the window alone: 12 s is the scenario's bound.
    let window = to - crash;
    let failed: Vec<&serde_json::Value> = r["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["passed"] == false)
        .collect();
    if window <= 12.0 {
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(failed.is_empty(), "{failed:?}");
    } else {
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert!(
            failed[0]["expectation"]
                .as_str()
                .unwrap_or_default()
                .contains("window"),
            "{failed:?}"
        );
    }
    if at < restart {
        assert_ne!(node, killed, "{p}");
        assert!(
            at > crash + 2.0 && at < crash + 12.0,
            "elected an election timeout after the kill: {:.2} s",
            at - crash
        );
    } else {
        // No election before the restart: one came after it (a CI run of 2026-12-05 saw n2
        // elected 1.6 s after n1 came back, a window of 11.6 s that passed the bound).
        eprintln!(
            "nats-server elected no stream leader before the restart; {node} led {:.2} s after it",
            at - restart
        );
    }
    assert_safe(&r["load"]);
    // What the stream holds, read by hand through the new leader's server.
    let addr = client_addr(&lab, node);
    for key in r["load"]["keys"].as_array().unwrap() {
        let name = key["key"].as_str().unwrap();
        assert_eq!(key["final"].as_u64(), stream_value(&addr, name), "{key}");
    }
    let status = lab.status();
    eprintln!("{status:?}");
    assert!(
        status.iter().all(|s| s["state"] == "running"),
        "the killed server is back: {status:?}"
    );
}

#[test]
fn direct_gets_answer_stale_reads_that_are_reported_as_stale() {
    // The bucket as async-nats makes it: any replica answers a read.
    let lab = LabGuard::up("nats", &[]);
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.edn");
    let load = LoadRun::start("nats", 30, &["--history", history.to_str().unwrap()]);
    sleep_s(5.0);
    let event = lab.fault("isolate", "leader");
    let isolated = event.split_whitespace().nth(2).unwrap().to_string();
    sleep_s(8.0);
    run(&["fault", "heal", "nats"], 0);
    let r = load.finish();
    let s = &r.summary;
    eprintln!(
        "nats: isolated {isolated}; {} lost, {} stale, {} reverted, {} impossible; window {}",
        s["lost_writes"],
        s["stale_reads"],
        s["reverted_reads"],
        s["impossible_reads"],
        s["cluster_window"]
    );
    assert_eq!(s["impossible_reads"], 0, "{}", s["anomalies"]);
    assert!(
        s["stale_reads"].as_u64().unwrap() > 0,
        "Debian's nats-server 2.9.10 answers direct gets from behind: {s}"
    );
    // A low read whose compare-and-set then failed is stale; one whose compare-and-set succeeded
    // is a confirmed loss (the server took a write at a revision it had already moved past); a
    // read below one already returned is reverted (successive direct gets answered by replicas
    // at different points, as one CI run showed: 36 of them). Nothing is above what was written.
    for a in s["anomalies"].as_array().unwrap() {
        assert!(
            a["kind"] == "stale" || a["kind"] == "lost" || a["kind"] == "reverted",
            "{a}"
        );
        assert_eq!(a["confirmed"], true, "{a}");
    }
    // Checked again from the history alone, the same keys are wrong; each completion says what
    // it rests on (the revision a read returned, the sequence a write was acknowledged at).
    assert_history_agrees(s, &history);
    let text = std::fs::read_to_string(&history).unwrap();
    assert!(text
        .lines()
        .any(|l| l.contains(":type :ok, :f :read") && l.contains(":revision ")));
    assert!(text
        .lines()
        .any(|l| l.contains(":type :ok, :f :cas") && l.contains(":seq ")));
    // The final read asks the stream's leader: it is what the stream holds, and below what was
    // acknowledged only on a key that the check counts as having lost writes. Debian's 2.9.10
    // sometimes elects no stream leader for the rest of the run after the heal (a CI run: the
    // window open from the isolate to the end, 25 s): then no final read can be made, and the
    // summary must say so for every key.
    let missing: Vec<String> = s["final_reads"]["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect();
    let keys = s["keys"].as_array().unwrap();
    if keys.iter().any(|k| k["final"].is_null()) {
        eprintln!("nats: no final read for some keys: {missing:?}");
        for key in keys.iter().filter(|k| k["final"].is_null()) {
            let name = key["key"].as_str().unwrap();
            assert!(
                missing.iter().any(|m| m.starts_with(&format!("{name}: "))),
                "a key without a final read is listed as missing: {name} {missing:?}"
            );
        }
        assert_eq!(
            s["cluster_window"]["open"], true,
            "only when the cluster never came back"
        );
    }
    let read: Vec<&serde_json::Value> = keys.iter().filter(|k| !k["final"].is_null()).collect();
    if read.is_empty() {
        return;
    }
    let leader = lab.wait_leader(Duration::from_secs(40), |_| true);
    let addr = client_addr(&lab, &leader);
    for key in read {
        let fin = key["final"].as_u64().unwrap();
        assert_eq!(
            Some(fin),
            stream_value(&addr, key["key"].as_str().unwrap()),
            "{key}"
        );
        if key["lost_writes"] == 0 {
            assert!(fin >= key["last_acked"].as_u64().unwrap(), "{key}");
        }
    }
}
