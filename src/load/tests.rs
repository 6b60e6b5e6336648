use super::*;
use std::collections::HashMap;
use std::sync::Mutex;

/// An in-memory store with switchable faults, to test the loop's rules without a database.
#[derive(Default)]
struct Fake {
    data: Mutex<HashMap<String, u64>>,
    /// Nodes whose operations hang (paused).
    hang: Mutex<Vec<String>>,
    /// Make the next write on this node fail after applying it (unknown outcome), once.
    apply_then_fail: Mutex<Option<String>>,
    /// Make the next write on this node time out and apply it this long later (a paused
    /// server that runs the statement from its socket on resume), once.
    apply_late: Mutex<Option<(String, Duration)>>,
    /// Put the key's value to this after the next write (a lost write).
    lose_to: Mutex<Option<u64>>,
    /// Delay between applying a write and acknowledging it.
    ack_delay: Option<Duration>,
    /// Write without comparing.
    blind: bool,
    /// The thread each connect ran on, by node.
    connected_on: Mutex<Vec<(String, std::thread::ThreadId)>>,
    /// A scripted stall: a read on this node that begins within `[from, until)` answers
    /// only at `until` (a pause as a client sees it).
    stall: Mutex<Option<(String, Instant, Instant)>>,
    /// How long every read takes (default 1 ms).
    read_time: Option<Duration>,
}

struct FakeConn(NodeName);

impl Fake {
    /// The compare-and-set itself: `Applied` when the key held `expected`.
    fn cas(&self, key: &str, expected: Option<u64>, v: u64) -> Written {
        let mut data = self.data.lock().unwrap();
        if !self.blind && data.get(key).copied() != expected {
            return Written::Refused;
        }
        data.insert(key.to_string(), v);
        Written::Applied
    }
}

#[derive(Clone)]
struct Shared(Arc<Fake>);

impl Driver for Shared {
    type Conn = FakeConn;
    const CONDITIONAL: bool = true;
    async fn connect(&self, ep: &Endpoint, _: Duration) -> Result<FakeConn, DriverError> {
        let here = std::thread::current().id();
        self.0
            .connected_on
            .lock()
            .unwrap()
            .push((ep.node.to_string(), here));
        Ok(FakeConn(ep.node.clone()))
    }
    async fn read(&self, c: &mut FakeConn, key: &str) -> Result<Option<u64>, DriverError> {
        if self.0.hang.lock().unwrap().iter().any(|h| *h == c.0) {
            std::future::pending::<()>().await;
        }
        let stall = self.0.stall.lock().unwrap().clone();
        if let Some((node, from, until)) = stall {
            let now = Instant::now();
            if node == c.0.as_str() && now >= from && now < until {
                tokio::time::sleep_until(until.into()).await;
            }
        }
        tokio::time::sleep(self.0.read_time.unwrap_or(Duration::from_millis(1))).await;
        Ok(self.0.data.lock().unwrap().get(key).copied())
    }
    async fn write(
        &self,
        c: &mut FakeConn,
        key: &str,
        expected: Option<u64>,
        v: u64,
    ) -> Result<Written, DriverError> {
        let late = {
            let mut l = self.0.apply_late.lock().unwrap();
            match l.as_ref() {
                Some((node, d)) if *node == c.0 => {
                    let d = *d;
                    *l = None;
                    Some(d)
                }
                _ => None,
            }
        };
        if let Some(d) = late {
            let fake = self.0.clone();
            let key = key.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                fake.cas(&key, expected, v);
            });
            return std::future::pending().await;
        }
        let written = self.0.cas(key, expected, v);
        if let Some(to) = self.0.lose_to.lock().unwrap().take() {
            self.0.data.lock().unwrap().insert(key.to_string(), to);
        }
        let fail = {
            let mut f = self.0.apply_then_fail.lock().unwrap();
            let fail = f.as_deref() == Some(c.0.as_str());
            if fail {
                *f = None;
            }
            fail
        };
        if fail {
            return Err(DriverError::Io("reset".into()));
        }
        if let Some(d) = self.0.ack_delay {
            tokio::time::sleep(d).await;
        }
        Ok(written)
    }
}

fn endpoints() -> Vec<Endpoint> {
    (1..=3)
        .map(|i| Endpoint::new(format!("n{i}"), format!("127.0.0.1:{i}").parse().unwrap()))
        .collect()
}

fn opts(secs: u64) -> LoadOptions {
    LoadOptions {
        duration: Duration::from_secs(secs),
        clients_per_node: 2,
        op_timeout: Duration::from_millis(200),
        run_id: "t".into(),
        origin: None,
        history: None,
        metrics: None,
        open: None,
    }
}

async fn go(fake: &Arc<Fake>, eps: &[Endpoint], o: &LoadOptions) -> Summary {
    run(
        Arc::new(Shared(fake.clone())),
        eps,
        o,
        &CancellationToken::new(),
        &mut |_| {},
    )
    .await
}

#[tokio::test]
async fn a_hanging_node_never_stalls_the_others_and_its_window_is_measured() {
    let fake = Arc::new(Fake::default());
    fake.hang.lock().unwrap().push("n2".into());
    let mut lines = Vec::new();
    let s = run(
        Arc::new(Shared(fake.clone())),
        &endpoints(),
        &opts(2),
        &CancellationToken::new(),
        &mut |sec| lines.push(sec.clone()),
    )
    .await;
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert!(l.counts[0] > 50 && l.counts[2] > 50, "{l:?}");
        assert_eq!(l.counts[1], 0);
        assert!(l.errors[1] > 0);
    }
    let n2 = &s.nodes[1];
    assert_eq!(n2.iterations, 0);
    assert!(n2.window.open && n2.window.length_s > 1.9);
    assert!(s.cluster_window.length_s < 0.1, "{:?}", s.cluster_window);
    // The TSV columns add up to the summary's counts, and the key table agrees with the
    // node table.
    let from_lines: u64 = lines.iter().map(|l| l.counts[0]).sum();
    assert_eq!(from_lines, s.nodes[0].iterations);
    for n in &s.nodes {
        let keys: u64 = s
            .keys
            .iter()
            .filter(|k| k.node == n.node)
            .map(|k| k.iterations)
            .sum();
        assert_eq!(keys, n.iterations, "{}", n.node);
    }
    // What the store holds is what each connection had acknowledged.
    for k in &s.keys {
        let held = fake.data.lock().unwrap().get(&k.key).copied().unwrap_or(0);
        assert!(k.accepts(held), "{k:?} holds {held}");
    }
    assert_eq!(s.safety.total(), 0);
}

/// One connection per node: pinned to threads of their own, one per core (at most one per
/// node), neighbours apart; more per node: tasks of the caller's runtime (here a
/// single-threaded test runtime, so the caller's own thread).
#[tokio::test]
async fn connections_run_pinned_at_one_per_node_and_on_the_callers_runtime_above() {
    let caller = std::thread::current().id();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    for per_node in [1, 2] {
        let fake = Arc::new(Fake::default());
        let mut o = opts(1);
        o.clients_per_node = per_node;
        let s = run(
            Arc::new(Shared(fake.clone())),
            &endpoints(),
            &o,
            &CancellationToken::new(),
            &mut |_| {},
        )
        .await;
        assert!(s.nodes.iter().all(|n| n.iterations > 10), "{:?}", s.nodes);
        let on = fake.connected_on.lock().unwrap().clone();
        let threads: std::collections::HashSet<_> = on.iter().map(|(_, t)| *t).collect();
        if per_node == 1 {
            assert!(!threads.contains(&caller), "{on:?}");
            assert_eq!(threads.len(), cores.min(3), "{on:?}");
            if cores > 1 {
                let t = |n: &str| on.iter().find(|(node, _)| node == n).unwrap().1;
                assert_ne!(t("n1"), t("n2"));
            }
        } else {
            assert_eq!(threads, [caller].into(), "{on:?}");
        }
    }
}

#[tokio::test]
async fn a_probe_is_one_bounded_iteration() {
    let fake = Arc::new(Fake::default());
    let d = Shared(fake.clone());
    let eps = endpoints();
    let t = Duration::from_millis(100);
    probe(&d, &eps[0], "k", t).await.unwrap();
    probe(&d, &eps[0], "k", t).await.unwrap();
    assert_eq!(fake.data.lock().unwrap().get("k"), Some(&2));
    fake.hang.lock().unwrap().push("n2".into());
    let started = Instant::now();
    let e = probe(&d, &eps[1], "k", t).await.unwrap_err();
    assert_eq!(e.to_string(), "io: read took longer than 100ms");
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn unknown_and_lost_writes_are_told_apart() {
    let fake = Arc::new(Fake::default());
    *fake.apply_then_fail.lock().unwrap() = Some("n1".into());
    let s = go(&fake, &endpoints()[..1], &opts(1)).await;
    assert_eq!(s.ambiguous_writes, 1);
    assert_eq!(
        s.safety.total(),
        0,
        "an applied write of unknown outcome is no anomaly"
    );

    let fake = Arc::new(Fake::default());
    *fake.lose_to.lock().unwrap() = Some(0);
    let mut o = opts(1);
    o.clients_per_node = 1;
    let s = go(&fake, &endpoints()[..1], &o).await;
    assert_eq!(
        s.safety.lost_writes, 1,
        "the one acknowledged increment is missing"
    );
    let a = &s.anomalies[0];
    assert_eq!((a.kind, a.expected, a.got), (check::Kind::Lost, 1, 0));
    assert!(a.confirmed);
}

#[tokio::test]
async fn a_write_that_lands_late_cannot_fake_a_loss() {
    // A write times out and is applied 300 ms later, after the loop has moved on: with a
    // blind write it would put an old value back and the next read would look like a loss.
    for blind in [false, true] {
        let fake = Arc::new(Fake {
            blind,
            ..Fake::default()
        });
        *fake.apply_late.lock().unwrap() = Some(("n1".into(), Duration::from_millis(300)));
        let mut o = opts(2);
        o.clients_per_node = 1;
        let mut s = go(&fake, &endpoints()[..1], &o).await;
        let d = Shared(fake.clone());
        final_reads(
            &d,
            &endpoints()[..1],
            &mut s,
            o.op_timeout,
            None,
            Instant::now(),
        )
        .await;
        assert_eq!(s.ambiguous_writes, 1);
        if blind {
            assert!(
                s.safety.lost_writes > 0,
                "the blind store shows why compare-and-set is needed"
            );
        } else {
            assert_eq!(s.safety.total(), 0, "{:?}", s.anomalies);
            let k = &s.keys[0];
            assert!(k.accepts(k.final_read.unwrap()), "{k:?}");
        }
    }
}

#[tokio::test]
async fn stop_ends_the_run_early_with_a_partial_last_second() {
    // Writes are applied 200 ms before their ack: a stop lands mid-write on every connection
    // unless a write ends on the stop's very tick. With 20 ms and a stop at 1500 ms (a
    // multiple of it) the connections, which start together, most likely ended their writes on that tick
    // in a CI run, and no write was cut off.
    let fake = Arc::new(Fake {
        ack_delay: Some(Duration::from_millis(200)),
        ..Fake::default()
    });
    let mut lines = Vec::new();
    let stop = CancellationToken::new();
    let cancel = stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1550)).await;
        cancel.cancel();
    });
    let s = run(
        Arc::new(Shared(fake.clone())),
        &endpoints(),
        &opts(30),
        &stop,
        &mut |l| lines.push(l.clone()),
    )
    .await;
    assert!(s.interrupted);
    for k in &s.keys {
        let held = fake.data.lock().unwrap().get(&k.key).copied().unwrap_or(0);
        assert!(
            k.accepts(held),
            "a write cut off by the stop is of unknown outcome, not lost: {k:?} holds {held}"
        );
    }
    assert!(
        s.ambiguous_writes > 0,
        "the cut-off writes are counted as unknown"
    );
    assert!(
        s.duration_s >= 1.5 && s.duration_s < 2.0,
        "{}",
        s.duration_s
    );
    assert_eq!(lines.len(), 2);
    assert!(lines[0].complete && !lines[1].complete);
}

#[tokio::test]
async fn the_final_read_checks_every_key_and_a_wipe_after_the_last_read_is_a_loss() {
    let fake = Arc::new(Fake::default());
    let eps = endpoints();
    let mut s = go(&fake, &eps, &opts(1)).await;
    assert_eq!(s.safety.total(), 0);
    // n2's data is wiped after the load: only the final read can see it.
    fake.data.lock().unwrap().retain(|k, _| !k.contains("/n2/"));
    let d = Shared(fake.clone());
    final_reads(
        &d,
        &eps,
        &mut s,
        Duration::from_millis(200),
        None,
        Instant::now(),
    )
    .await;
    let f = s.final_reads.as_ref().unwrap();
    assert_eq!((f.read, f.missing.len()), (6, 0));
    for k in &s.keys {
        if k.node == "n2" {
            assert_eq!(k.final_read, Some(0));
            assert_eq!(k.safety.lost_writes, k.last_acked, "{k:?}");
        } else {
            assert_eq!(k.final_read, Some(k.last_acked));
            assert_eq!(k.safety.lost_writes, 0);
        }
    }
    assert_eq!(s.nodes[1].safety.lost_writes, s.safety.lost_writes);
    assert!(s.anomalies.iter().all(|a| a.final_read && a.node == "n2"));
    // A node that does not answer leaves its keys without a final read.
    fake.hang.lock().unwrap().push("n3".into());
    let mut s = go(&fake, &eps[..1], &opts(1)).await;
    for c in &mut s.conns {
        c.check.node = "n3".into();
    }
    final_reads(
        &d,
        &eps,
        &mut s,
        Duration::from_millis(100),
        None,
        Instant::now(),
    )
    .await;
    let f = s.final_reads.as_ref().unwrap();
    assert_eq!(f.missing.len(), 2);
    assert!(s.keys.iter().all(|k| k.final_read.is_none()));
}

#[tokio::test]
async fn the_history_checks_as_the_loop_does() {
    // A run with an unknown write, a wipe, a late write and a revert, written as a history:
    // Jepsen's register model, run on the file, finds violations on exactly the keys where
    // the loop's own check found anomalies.
    let fake = Arc::new(Fake {
        ack_delay: Some(Duration::from_millis(2)),
        ..Fake::default()
    });
    *fake.apply_then_fail.lock().unwrap() = Some("n1".into());
    *fake.apply_late.lock().unwrap() = Some(("n3".into(), Duration::from_millis(300)));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.edn");
    let origin = Instant::now();
    let eps = endpoints();
    let w = crate::history::HistoryWriter::create(&path, u64::MAX, origin, 6, "t")
        .await
        .unwrap();
    let mut o = opts(2);
    o.origin = Some(origin);
    o.history = Some(w.history());
    let wiper = {
        let fake = fake.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            fake.data
                .lock()
                .unwrap()
                .retain(|k, _| !k.ends_with("/n2/0"));
            // A value that no write made: put n1/1's key well above anything written.
            let mut data = fake.data.lock().unwrap();
            if let Some(v) = data.get_mut("t/n1/1") {
                *v += 1000;
            }
        })
    };
    let mut s = go(&fake, &eps, &o).await;
    wiper.await.unwrap();
    let h = o.history.take();
    final_reads(
        &Shared(fake.clone()),
        &eps,
        &mut s,
        o.op_timeout,
        h.as_ref(),
        origin,
    )
    .await;
    drop(h);
    let report = w.finish().await.unwrap();
    assert!(
        report.ops > 100 && report.truncated_at_s.is_none(),
        "{report:?}"
    );
    let report = crate::checker::check(&path, &crate::checker::Options::default()).unwrap();
    assert_eq!(report.keys.len(), s.keys.len());
    for k in &s.keys {
        let loop_found = k.safety.total();
        let v = report.key(&k.key).unwrap();
        assert!(v.ok > 0);
        assert_eq!(
            v.verdict == crate::checker::Verdict::NotLinearizable,
            loop_found > 0,
            "{}: the history check says {:?} ({:?}), the loop {k:?}",
            k.key,
            v.verdict,
            v.explain()
        );
    }
    // The run's own cross-check takes the same view.
    s.set_history_check(&report);
    let c = s.history_check.as_ref().unwrap();
    assert!(c.disagreements.is_empty(), "{c:?}");
    assert_eq!(
        c.not_linearizable,
        s.keys.iter().filter(|k| k.safety.total() > 0).count()
    );
    assert!(
        s.keys.iter().any(|k| k.safety.lost_writes > 0),
        "the wipe is a loss"
    );
    assert!(
        s.keys.iter().any(|k| k.safety.impossible_reads > 0),
        "{:?}",
        s.keys
    );
    assert!(s.ambiguous_writes >= 2, "{}", s.ambiguous_writes);
    // A process whose operation ended :info never invokes again.
    let text = std::fs::read_to_string(&path).unwrap();
    let info: Vec<&str> = text.lines().filter(|l| l.contains(":type :info")).collect();
    for line in info {
        let p = line
            .split(":process ")
            .nth(1)
            .unwrap()
            .split(',')
            .next()
            .unwrap();
        let later = text
            .lines()
            .skip_while(|l| *l != line)
            .skip(1)
            .any(|l| l.contains(":type :invoke") && l.contains(&format!(":process {p},")));
        assert!(!later, "process {p} invoked again after {line}");
    }
}

/// The open loop against a scripted stall: n1's reads that begin between 300 and 800 ms
/// answer at 800 ms. Every operation's latency runs from its intended start on the
/// schedule (200/s per node: every 5 ms), so each one due in the stall ends after it and
/// counts the wait; of the ones that found all 8 connections busy, those that started more
/// than 50 ms after their intended start are late: the 82 due from 340 to 745 ms (a few
/// more when the backlog drains slowly); none was dropped. The other nodes kept the
/// schedule.
#[tokio::test]
async fn the_open_loop_times_every_operation_from_its_schedule_through_a_stall() {
    let origin = Instant::now();
    let fake = Arc::new(Fake::default());
    *fake.stall.lock().unwrap() = Some((
        "n1".into(),
        origin + Duration::from_millis(300),
        origin + Duration::from_millis(800),
    ));
    let mut o = opts(2);
    o.origin = Some(origin);
    o.op_timeout = Duration::from_secs(2);
    o.open = open::Schedule::new(None, Some(open::Rate(200.0)), 3, 8).unwrap();
    let s = go(&fake, &endpoints(), &o).await;
    let ol = s.open_loop.as_ref().expect("an open loop says what it did");
    let period_us = 5_000;
    for (n, samples) in s.latency_samples.iter().enumerate() {
        let node = &s.nodes[n].node;
        // 400 operations per node, all kept (under the sample's bound).
        let kept = samples.len() as u64;
        let done = s.latency[n].ok.count + s.latency[n].fail.count + s.latency[n].info.count;
        assert_eq!(kept, done, "{node}");
        for x in samples {
            let intended = x.at_us - x.latency_us;
            assert_eq!(
                intended % period_us,
                0,
                "{node}: {x:?} began off the schedule"
            );
            if n == 0 && (300_000..800_000).contains(&intended) {
                assert!(x.at_us >= 800_000, "{node}: {x:?} ended inside the stall");
                assert!(
                    x.latency_us + 2_000 >= 800_000 - intended,
                    "{node}: {x:?} does not count its wait"
                );
            } else {
                // Well under the stall's 500 ms, whatever a busy test machine adds.
                assert!(x.latency_us < 300_000, "{node}: {x:?}");
            }
        }
    }
    let n1 = &ol.nodes[0];
    assert_eq!(n1.scheduled, 400);
    assert_eq!(n1.never_started, 0, "{ol:?}");
    assert_eq!(n1.clients, 8);
    assert!(n1.waited_at_bound > 0);
    assert!((80..=95).contains(&n1.late), "{n1:?}");
    assert!(n1.late_max_ms > 440.0 && n1.late_max_ms < 520.0, "{n1:?}");
    let worst = s.latency[0].ok.max_ms;
    assert!(
        (495.0..560.0).contains(&worst),
        "the op due at 300 ms waited 500 ms: {worst}"
    );
    for n in &ol.nodes[1..] {
        // Never short of connections; a busy test machine may wake the dispatcher a few
        // ms late now and then, which counts (honestly) as late, but not by much.
        assert_eq!((n.never_started, n.waited_at_bound), (0, 0), "{n:?}");
        assert!(n.late <= 8 && n.late_max_ms < 300.0, "{n:?}");
        assert!(n.clients < 8, "{n:?}");
        // Within 2 % of the target: every scheduled operation ran.
        assert!(n.completed * 100 >= n.scheduled * 98, "{n:?}");
    }
    assert!(!ol.kept_up && ol.bound_hit);
    assert!(
        ol.line().contains("n1 had all 8 connections busy"),
        "{}",
        ol.line()
    );
    // The history's processes: one per connection, numbered by the bound.
    assert!(s.conns.iter().all(|c| c.process < 3 * 8));
    assert_eq!(s.safety.total(), 0);
}

/// A rate the system cannot sustain with the connections it may have: the summary says so,
/// and says it was the system; the closed loop has no such line.
#[tokio::test]
async fn a_rate_beyond_the_systems_reach_is_reported_as_such() {
    let fake = Arc::new(Fake {
        read_time: Some(Duration::from_millis(20)),
        ..Fake::default()
    });
    let mut o = opts(1);
    o.open = open::Schedule::new(Some(open::Rate(3000.0)), None, 3, 4).unwrap();
    let s = go(&fake, &endpoints(), &o).await;
    let ol = s.open_loop.as_ref().unwrap();
    assert!(!ol.kept_up && ol.bound_hit, "{ol:?}");
    assert!(ol.never_started > 2_000, "{ol:?}");
    assert!(ol.completed_rate_per_s < 800.0, "{ol:?}");
    assert!(ol.line().contains("did not keep up"), "{}", ol.line());
    assert!(s.render().contains("BEHIND SCHEDULE"), "{}", s.render());
    let closed = go(&fake, &endpoints(), &opts(1)).await;
    assert!(closed.open_loop.is_none());
    assert!(!closed.render().contains("open loop"));
}
