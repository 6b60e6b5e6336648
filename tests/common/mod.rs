//! Shared helpers of the integration tests: they run the real `perseus` binary against the real
//! Docker Engine, as a user would.
//!
//! Docker is required: when the engine is unreachable every test that needs it fails, with one
//! line saying so (in CI and outside it alike). No test returns early and passes because something
//! it needs is missing.
#![allow(dead_code)]

pub mod shared;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

/// Only one lab per system may exist, so the tests of one binary that touch Docker run one at a
/// time (nextest runs each in its own process and serialises them with the `docker` test group in
/// `.config/nextest.toml`).
static DOCKER_LOCK: Mutex<()> = Mutex::new(());

/// The systems the lab defines (the stems of `compose/*.yaml`, sorted), so that tests cover a new
/// system without a hand-kept list.
pub fn systems_defined() -> Vec<String> {
    perseus::lab::Home::at(env!("CARGO_MANIFEST_DIR")).systems()
}

/// The perseus binary built for these tests.
pub fn perseus() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_perseus"));
    c.env("PERSEUS_HOME", env!("CARGO_MANIFEST_DIR"));
    c.stdin(Stdio::null());
    c
}

/// Run perseus with `args`; panics with the output if the exit code is not `expect`.
pub fn run(args: &[&str], expect: i32) -> Output {
    let out = perseus().args(args).output().expect("run perseus");
    let code = out.status.code().unwrap_or(-1);
    assert_eq!(
        code,
        expect,
        "perseus {} exited {code}, expected {expect}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The Docker Engine, connected; panics with one line when it does not answer.
pub async fn docker() -> bollard::Docker {
    perseus::docker::connect().await.unwrap_or_else(|e| {
        panic!("the Docker Engine is unreachable: start it, or set DOCKER_HOST to where it listens (perseus says: {e})")
    })
}

/// The running lab of `system`, as a library caller opens them (for the probes in
/// `perseus::fault::net` and the helpers in `perseus::lab::helper`).
pub async fn open_lab(system: &str) -> perseus::lab::Lab {
    let docker = docker().await;
    let home = perseus::lab::Home::locate().unwrap();
    perseus::lab::open(&docker, &home, system).await.unwrap()
}

/// [`open_lab`], or `None` when there is no whole lab of `system` to open.
pub async fn open_lab_checked(system: &str) -> Option<perseus::lab::Lab> {
    let docker = docker().await;
    let home = perseus::lab::Home::locate().ok()?;
    perseus::lab::open(&docker, &home, system).await.ok()
}

/// Whether node `n{from}` of the running `system` lab reaches node `n{to}` on TCP `port`,
/// probed from inside `n{from}`'s network namespace (`perseus::fault::net::can_reach`).
pub fn reaches(system: &str, from: usize, to: usize, port: u16) -> bool {
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let l = open_lab(system).await;
            perseus::fault::net::can_reach(&l, &format!("n{from}"), &format!("n{to}"), port)
                .await
                .unwrap()
        })
}

/// Fails the test, with one line, unless the Docker Engine answers.
pub fn require_docker() {
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(docker());
}

/// A lab brought up for one test, removed when dropped (even when the test panics); or, made
/// by [`LabGuard::shared`], handed on to the next check of its system when the test passed.
pub struct LabGuard {
    pub system: String,
    /// Handed on ([`shared`]) instead of removed when the test passed.
    shared: bool,
    _lock: MutexGuard<'static, ()>,
}

impl LabGuard {
    /// Take the Docker lock, remove any leftover lab of `system`, and bring a fresh one up with
    /// extra `lab up` arguments. Panics when the Docker Engine is unreachable or `lab up` fails.
    /// `system` may name a release (`etcd@3.5.1`); the guard's `system` is the lab's (`etcd`).
    pub fn up(system: &str, extra: &[&str]) -> LabGuard {
        let lab = system.split('@').next().unwrap_or(system);
        let guard = LabGuard::lock_only(lab);
        let mut args = vec!["lab", "up", system];
        args.extend_from_slice(extra);
        run(&args, 0);
        guard
    }

    /// Take the Docker lock and remove any leftover lab of `system` (and every idle shared lab:
    /// the test runs beside none), without bringing anything up (for tests of failures). Panics
    /// when the Docker Engine is unreachable.
    pub fn lock_only(system: &str) -> LabGuard {
        let lock = DOCKER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        require_docker();
        shared::retire(None);
        run(&["lab", "down", system], 0);
        LabGuard {
            system: system.to_string(),
            shared: false,
            _lock: lock,
        }
    }

    /// A lab of `system` with the default options (`lab up SYSTEM`), shared between the checks
    /// of that system: the one the previous check handed on, when it is still clean (see
    /// [`shared`]), else a fresh one. When the test passes, the guard restores the lab (every
    /// fault undone, every node serving) and hands it on; when it fails, it removes it. For
    /// checks that leave nothing behind that a restore cannot undo (not corrupted files, not
    /// data a later check counts), and that do not depend on the lab being new (a node's
    /// uptime, the first leader).
    pub fn shared(system: &str) -> LabGuard {
        let lock = DOCKER_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        require_docker();
        shared::retire(Some(system));
        if !shared::take(system) {
            run(&["lab", "down", system], 0);
            run(&["lab", "up", system], 0);
        }
        LabGuard {
            system: system.to_string(),
            shared: true,
            _lock: lock,
        }
    }

    /// Remove the lab now instead of handing it on (a shared lab that the last check of its
    /// system is done with, before it makes a lab of another definition).
    pub fn remove(mut self) {
        self.shared = false;
    }

    /// `perseus fault <args...>` on this lab; returns the event line.
    pub fn fault(&self, fault: &str, target: &str) -> String {
        let out = run(&["fault", fault, &self.system, target], 0);
        stdout(&out)
    }

    /// The lab status as JSON rows.
    pub fn status(&self) -> Vec<serde_json::Value> {
        let out = run(&["lab", "status", &self.system, "--json"], 0);
        serde_json::from_slice(&out.stdout).expect("status JSON")
    }

    /// The node the status calls leader, if any.
    pub fn leader(&self) -> Option<String> {
        self.status()
            .into_iter()
            .find(|r| r["role"] == "leader")
            .map(|r| r["node"].as_str().unwrap_or_default().to_string())
    }

    /// The faults `lab status` shows in force on `node` (`["isolated (in)"]`, `["loss 30%"]`).
    pub fn faults(&self, node: &str) -> Vec<String> {
        self.status()
            .into_iter()
            .find(|r| r["node"] == node)
            .and_then(|r| {
                r["faults"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str().map(String::from))
                        .collect()
                })
            })
            .unwrap_or_else(|| panic!("no status row with faults for {node}"))
    }

    /// Wait (at most `within`) until the status names a leader that satisfies `ok`.
    pub fn wait_leader(&self, within: Duration, ok: impl Fn(&str) -> bool) -> String {
        let start = std::time::Instant::now();
        loop {
            if let Some(l) = self.leader() {
                if ok(&l) {
                    return l;
                }
            }
            assert!(
                start.elapsed() < within,
                "no acceptable leader within {within:?}: {:?}",
                self.status()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        if std::thread::panicking() && std::env::var_os("PERSEUS_KEEP_FAILED").is_some() {
            eprintln!(
                "PERSEUS_KEEP_FAILED: leaving the {} lab up for inspection",
                self.system
            );
            return;
        }
        if self.shared && !std::thread::panicking() && shared::hand_on(&self.system) {
            return;
        }
        let _ = perseus().args(["lab", "down", &self.system]).output();
    }
}

/// A finished `perseus run` of one scenario file: its run folder (in a temporary runs dir that
/// lives as long as this), its `summary.json`, and what it printed on stderr.
pub struct ScenarioRun {
    _tmp: tempfile::TempDir,
    /// The run folder.
    pub dir: std::path::PathBuf,
    /// `summary.json`.
    pub summary: serde_json::Value,
    /// stderr: the timeline, the summary and the verdicts, for failure messages.
    pub stderr: String,
    /// The exit code (0 passed, 1 an expectation did not hold).
    pub code: i32,
}

/// What a passed kill-the-leader scenario run says of its failover.
pub struct Failover {
    /// The leader the first step killed.
    pub killed: String,
    /// When that step fired (seconds on the load's clock).
    pub crash_s: f64,
    /// The first step's cluster-wide window: (start, end), seconds.
    pub window: (f64, f64),
    /// The one promotion the run names: the node promoted.
    pub node: String,
    /// When it was logged (seconds on the load's clock).
    pub at_s: f64,
    /// The log line.
    pub line: String,
}

impl ScenarioRun {
    /// The failover of a kill-the-leader run: the run passed, names exactly one promotion, logged
    /// by `source`, of a node other than the killed leader. Panics otherwise, with the run's
    /// stderr or its promotions.
    pub fn failover(&self, source: &str) -> Failover {
        let r = &self.summary;
        assert_eq!(r["outcome"], "passed", "{}", self.stderr);
        let killed = r["leader_before"]
            .as_str()
            .expect("a leader before")
            .to_string();
        let crash_s = r["steps"][0]["fired_s"].as_f64().unwrap();
        let w = &r["effects"][0]["cluster"];
        let window = (w["start_s"].as_f64().unwrap(), w["end_s"].as_f64().unwrap());
        let promotions = r["promotions"]
            .as_array()
            .expect("the run names its promotions");
        eprintln!(
            "killed leader {killed} at {crash_s:.2} s; cluster window {:.2} s to {:.2} s; promotions {promotions:?}",
            window.0, window.1
        );
        assert_eq!(promotions.len(), 1, "{promotions:?}");
        let p = &promotions[0];
        assert_eq!(p["source"], source, "{p}");
        let node = p["node"].as_str().unwrap().to_string();
        assert_ne!(node, killed, "the killed leader was not promoted: {p}");
        Failover {
            killed,
            crash_s,
            window,
            node,
            at_s: p["t_s"].as_f64().unwrap(),
            line: p["line"].as_str().unwrap_or_default().to_string(),
        }
    }
}

/// `perseus run <file> --runs-dir <temp> <extra...>`, which must exit with `expect`; returns its
/// one run folder and summary. Panics when the exit code differs or the folder is incomplete.
pub fn run_scenario(file: &str, extra: &[&str], expect: i32) -> ScenarioRun {
    run_scenario_ending(file, extra, &[expect])
}

/// [`run_scenario`] for a run that may end with any of `codes` (0 passed, 1 an expectation did
/// not hold): for a database whose behaviour varies from run to run, where the test checks what
/// the run reports either way. The code is in [`ScenarioRun::code`].
pub fn run_scenario_ending(file: &str, extra: &[&str], codes: &[i32]) -> ScenarioRun {
    let tmp = tempfile::tempdir().expect("temp dir");
    let runs = tmp.path().join("runs");
    let mut args = vec!["run", file, "--runs-dir", runs.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = perseus().args(&args).output().expect("run perseus");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        codes.contains(&code),
        "perseus {} exited {code}, expected one of {codes:?}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = std::fs::read_dir(&runs)
        .expect("the runs dir")
        .next()
        .expect("one run folder")
        .expect("a readable entry")
        .path();
    let summary =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).expect("summary.json"))
            .expect("summary.json is JSON");
    ScenarioRun {
        _tmp: tmp,
        dir,
        summary,
        stderr: stderr(&out),
        code,
    }
}

/// Run perseus with `args` and Ctrl-C it (SIGINT) as soon as it prints a line on stderr that
/// `at` accepts (within `within`); its exit code and every line it printed on stderr. Panics,
/// with the lines so far, when no such line comes in time.
pub fn ctrl_c_once(
    args: &[&str],
    within: Duration,
    at: impl Fn(&str) -> bool,
) -> (Option<i32>, Vec<String>) {
    use std::io::BufRead;
    let mut child = perseus()
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run perseus");
    let pipe = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let start = std::time::Instant::now();
    let mut lines = Vec::new();
    loop {
        let left = within.saturating_sub(start.elapsed());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| {
            panic!(
                "perseus {} never printed the line awaited within {within:?}: {lines:#?}",
                args.join(" ")
            )
        });
        let seen = at(&line);
        lines.push(line);
        if seen {
            break;
        }
    }
    assert_eq!(
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) },
        0,
        "SIGINT to perseus"
    );
    let status = child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    (status.code(), lines)
}

/// A `perseus load` running in the background. Its stdout (one TSV row a second) is read as it
/// comes, so a test can end it once the nodes serve again ([`LoadRun::interrupt_once_serving`]).
pub struct LoadRun {
    /// Taken by [`LoadRun::finish`]; killed on drop when a test panics before that.
    child: Option<Child>,
    /// What it printed on stdout so far.
    out: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// What a finished load printed: the TSV rows and the JSON summary.
pub struct LoadResult {
    /// Rows: `[sec, total, n1, n2, ...]`.
    pub rows: Vec<Vec<u64>>,
    /// The summary.
    pub summary: serde_json::Value,
    /// Raw stdout.
    pub stdout: String,
}

impl LoadResult {
    /// The column of node `n` (1-based node number) for second `sec` (1-based).
    pub fn at(&self, sec: u64, node: usize) -> u64 {
        self.rows
            .iter()
            .find(|r| r[0] == sec)
            .map(|r| r[1 + node])
            .unwrap_or_else(|| panic!("no second {sec}"))
    }

    /// Seconds `from..=to` of node `node`.
    pub fn column(&self, node: usize, from: u64, to: u64) -> Vec<u64> {
        (from..=to).map(|s| self.at(s, node)).collect()
    }

    /// The first second in `from..=upto` from which `ok` holds of node `node`'s count in every
    /// second to `last`: the search [`LoadResult::rejoins_within`] and
    /// [`LoadResult::stops_within`] share.
    fn first_steady(
        &self,
        node: usize,
        from: u64,
        upto: u64,
        last: u64,
        ok: impl Fn(u64) -> bool,
    ) -> Option<u64> {
        (from..=upto).find(|&s| self.column(node, s, last).iter().all(|&c| ok(c)))
    }

    /// The wall-clock time of second 0 of the load: the summary's `started`.
    pub fn started(&self) -> SystemTime {
        parse_time(
            self.summary["started"]
                .as_str()
                .expect("the summary names `started`"),
        )
    }

    /// Where the wall-clock time `t` falls on the load's clock: seconds since second 0 (negative
    /// before the load started).
    pub fn offset_of(&self, t: SystemTime) -> f64 {
        match t.duration_since(self.started()) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        }
    }

    /// Where a `perseus fault` event line falls on the load's clock: the time it took effect, in
    /// seconds since second 0.
    pub fn offset(&self, event_line: &str) -> f64 {
        self.offset_of(event_time(event_line))
    }

    /// The load's end on its own clock (seconds): the summary's `duration_s`.
    pub fn end(&self) -> f64 {
        self.summary["duration_s"].as_f64().expect("duration_s")
    }

    /// Every node serves in every second to the end of the load from a second that starts
    /// within `within` seconds of `back` (an undo: heal, start, resume), each node's rejoin
    /// measured and printed ([`LoadResult::rejoins_within`]).
    pub fn every_node_rejoins_within(&self, back: f64, within: f64, what: &str) {
        let nodes = self.rows.first().map_or(0, |r| r.len().saturating_sub(2));
        assert!(
            nodes > 0,
            "{what}: the load printed no rows:\n{}",
            self.stdout
        );
        for n in 1..=nodes {
            self.rejoins_within(n, back, within, what);
        }
    }

    /// Asserts `ok` of node `node`'s count in every whole second that lies within `from..to`
    /// (offsets on the load's clock, in seconds; second `s` covers `[s-1, s)`). `what` says what
    /// the check means; the failure names the seconds, the offsets and the counts. Panics too
    /// when no whole second lies within the span (the timeline is too short for the check).
    pub fn assert_column(
        &self,
        node: usize,
        from: f64,
        to: f64,
        ok: impl Fn(u64) -> bool,
        what: &str,
    ) {
        let (first, last) = (first_second_after(from, 0.0), last_second_before(to));
        assert!(
            first <= last,
            "{what}: no whole second of the load lies from {from:.2} s to {to:.2} s on its clock; the timeline is too short for this check:\n{}",
            self.stdout
        );
        let counts = self.column(node, first, last);
        // Shown with a failure of a later check of the same test, and under --no-capture.
        eprintln!(
            "checked: {what}: n{node} in seconds {first}..={last} ({from:.2} s to {to:.2} s): {counts:?}"
        );
        assert!(
            counts.iter().all(|&c| ok(c)),
            "{what}: n{node} in seconds {first}..={last} (from {from:.2} s to {to:.2} s on the load's clock) counted {counts:?}:\n{}",
            self.stdout
        );
    }

    /// The first second from which node `node` serves in every second to the end of the load,
    /// after it was brought back (healed, started, resumed) at `back`, an offset on the load's
    /// clock in seconds: that second must be at the latest the first whole second that starts at
    /// or after `back + within` (so the bound is good to a second; [`LoadResult::stops_within`]
    /// is exact). How long a
    /// node takes to serve again is measured from the run, not assumed (a fixed grace after an
    /// undo fails on a loaded machine and hides a slow rejoin on a quiet one); `within` is the
    /// bound the system must keep. Prints the rejoin time (the start of that second: an upper
    /// bound good to a second) and returns the second.
    ///
    /// A load ended early, once the nodes served again ([`LoadRun::interrupt_once_serving`]),
    /// may end before `back + within`: the rejoin second is then one that leaves at least two
    /// whole seconds of service before the end.
    pub fn rejoins_within(&self, node: usize, back: f64, within: f64, what: &str) -> u64 {
        let last = last_second_before(self.end());
        let latest = first_second_after(back, within);
        let from = first_second_after(back, 0.0);
        assert!(
            latest <= last || from < last,
            "{what}: the load ends at {:.2} s, before {within} s after {back:.2} s and without two whole seconds after it; the timeline is too short",
            self.end()
        );
        // A load ended early (latest past its end) must show two whole seconds of service.
        let upto = if latest <= last {
            latest
        } else {
            last.saturating_sub(1)
        };
        let first = self
            .first_steady(node, from, upto, last, |c| c > 0)
            .unwrap_or_else(|| {
                panic!(
                    "{what}: n{node} does not serve in every second from within {within} s of {back:.2} s to the end of the load ({:.2} s):\n{}",
                    self.end(),
                    self.stdout
                )
            });
        eprintln!(
            "measured: {what}: n{node} serves from second {first}, {:.1} s after {back:.2} s",
            (first - 1) as f64 - back
        );
        first
    }

    /// The first second from which node `node` counts 0 in every second up to `until` (an undo,
    /// an offset on the load's clock in seconds), after a fault at `cut` that the system answers
    /// by refusing or no longer routing that node's clients: that second must start within
    /// `within` seconds of `cut`. The mirror of [`LoadResult::rejoins_within`]: when the node
    /// stops is measured from the run, and `within` is the bound the system documents (Patroni's
    /// leader key `ttl`, Redis's `min-replicas-max-lag`). Prints the time it stopped (the start
    /// of that second: an upper bound good to a second) and returns the second. Panics when the
    /// node still counts in the last whole second before `until`, or when no whole second lies
    /// between `cut + within` and `until` (the timeline is too short to tell).
    pub fn stops_within(&self, node: usize, cut: f64, within: f64, until: f64, what: &str) -> u64 {
        let last = last_second_before(until);
        // The last second that starts at or before `cut + within`: no count after the bound.
        let latest = last_second_before(cut + within) + 1;
        assert!(
            latest <= last,
            "{what}: the span ends at {until:.2} s, before {within} s after {cut:.2} s; the timeline is too short:\n{}",
            self.stdout
        );
        let first = self
            .first_steady(node, first_second_after(cut, 0.0), latest, last, |c| c == 0)
            .unwrap_or_else(|| {
                panic!(
                    "{what}: n{node} does not count 0 in every second from within {within} s of {cut:.2} s to {until:.2} s (seconds {}..={last}: {:?}):\n{}",
                    first_second_after(cut, 0.0),
                    self.column(node, first_second_after(cut, 0.0), last),
                    self.stdout
                )
            });
        eprintln!(
            "measured: {what}: n{node} counts 0 from second {first}, {:.1} s after {cut:.2} s, to {until:.2} s",
            (first - 1) as f64 - cut
        );
        first
    }
}

/// A wall-clock time in RFC 3339, as perseus writes them (`2026-11-21T01:48:53.015Z`).
pub fn parse_time(text: &str) -> SystemTime {
    humantime::parse_rfc3339_weak(text)
        .unwrap_or_else(|e| panic!("{text:?} is not an RFC 3339 time: {e}"))
}

/// The wall-clock time a `perseus fault` event line starts with: when the fault took effect.
pub fn event_time(line: &str) -> SystemTime {
    let first = line.split_whitespace().next().unwrap_or_default();
    parse_time(first)
}

/// Sleep until `secs` seconds after the fault of `event_line` took effect ([`event_time`]), and
/// at least `at_least` seconds from now (a fault held for a while, but never shorter than a
/// grace after what the test waited for since).
pub fn sleep_until_after(event_line: &str, secs: f64, at_least: f64) {
    let since = event_time(event_line)
        .elapsed()
        .unwrap_or_default()
        .as_secs_f64();
    sleep_s((secs - since).max(at_least));
}

/// The first second of the load's TSV (second `s` covers `[s-1, s)`) that starts at or after
/// `offset + grace` (seconds on the load's clock).
pub fn first_second_after(offset: f64, grace: f64) -> u64 {
    (offset + grace).max(0.0).ceil() as u64 + 1
}

/// The last second of the load's TSV that ends at or before `offset` (seconds on the load's
/// clock).
pub fn last_second_before(offset: f64) -> u64 {
    offset.max(0.0).floor() as u64
}

impl LoadRun {
    /// Start `perseus load <system> --duration <secs>s --json` plus `extra` arguments.
    pub fn start(system: &str, secs: u64, extra: &[&str]) -> LoadRun {
        let d = format!("{secs}s");
        let mut args = vec!["load", system, "--duration", &d, "--json"];
        args.extend_from_slice(extra);
        let mut child = perseus()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn perseus load");
        let out = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let sink = Arc::clone(&out);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut text = sink.lock().unwrap_or_else(|e| e.into_inner());
                text.push_str(&line);
                text.push('\n');
            }
        });
        LoadRun {
            child: Some(child),
            out,
            reader: Some(reader),
        }
    }

    /// The TSV rows printed so far (`[sec, total, n1, n2, ...]`).
    fn rows_so_far(&self) -> Vec<Vec<u64>> {
        let text = self.out.lock().unwrap_or_else(|e| e.into_inner()).clone();
        text.lines()
            .map(|l| l.split('\t').filter_map(|c| c.parse().ok()).collect())
            .collect()
    }

    /// After an undo (heal, start, resume) that returned just before this call: wait until every
    /// node has counted in each of `in_a_row` consecutive whole seconds that began after this
    /// call, then end the load as [`LoadRun::interrupt`] does. Waits at most `within` (then ends
    /// it anyway, and the test's own checks say what did not serve). For tests that would
    /// otherwise run the load for a fixed time long enough for the slowest rejoin: the rejoin is
    /// measured by the checks on the result ([`LoadResult::rejoins_within`]), not assumed here.
    pub fn interrupt_once_serving(self, in_a_row: usize, within: Duration) -> LoadResult {
        self.interrupt_once_these_serve(&[], in_a_row, within)
    }

    /// [`LoadRun::interrupt_once_serving`] watching only the nodes `nodes` (1-based; all of them
    /// when empty): for a fault left in force, such as a killed node the survivors serve without.
    pub fn interrupt_once_these_serve(
        self,
        nodes: &[usize],
        in_a_row: usize,
        within: Duration,
    ) -> LoadResult {
        let deadline = std::time::Instant::now() + within;
        // The row being counted now began before this call: skip it.
        let after = self.rows_so_far().len() + 1;
        let which = if nodes.is_empty() {
            "every node".to_string()
        } else {
            let names: Vec<String> = nodes.iter().map(|n| format!("n{n}")).collect();
            names.join(", ")
        };
        loop {
            let rows = self.rows_so_far();
            let fresh = rows.get(after..).unwrap_or_default();
            let serving = fresh
                .iter()
                .rev()
                .take_while(|r| {
                    r.len() > 2
                        && if nodes.is_empty() {
                            r[2..].iter().all(|&c| c > 0)
                        } else {
                            nodes.iter().all(|&n| r.get(n + 1).is_some_and(|&c| c > 0))
                        }
                })
                .count();
            if serving >= in_a_row {
                eprintln!(
                    "load: {which} served in {serving} seconds in a row, from second {}; ended",
                    rows.len() + 1 - serving
                );
                break;
            }
            if std::time::Instant::now() >= deadline {
                eprintln!("load: {which} did not serve in {in_a_row} seconds in a row within {within:?}; ended");
                break;
            }
            if self.child_ended() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.interrupt()
    }

    fn child_ended(&self) -> bool {
        // The reader ends when the load closes its stdout, which it does only when it exits.
        self.reader.as_ref().is_none_or(|r| r.is_finished())
    }

    /// End it now as Ctrl-C would (SIGINT: it prints its last second and its summary), then
    /// [`LoadRun::finish`]. For a test whose faults take as long as the engine takes, so the
    /// load is started long and ended when the timeline is done.
    pub fn interrupt(self) -> LoadResult {
        let pid = self.child.as_ref().expect("a running load").id();
        let signalled = unsafe { libc::kill(pid as i32, libc::SIGINT) };
        assert_eq!(signalled, 0, "SIGINT to perseus load");
        self.finish()
    }

    /// Wait for it to end; parse its output and check the stdout contract on the way.
    pub fn finish(mut self) -> LoadResult {
        let out = self
            .child
            .take()
            .expect("a running load")
            .wait_with_output()
            .expect("wait for perseus load");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the load's stdout reader");
        }
        let text = std::mem::take(&mut *self.out.lock().unwrap_or_else(|e| e.into_inner()));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "load failed: {err}");
        let rows: Vec<Vec<u64>> = text
            .lines()
            .map(|l| {
                let r: Vec<u64> = l
                    .split('\t')
                    .map(|c| {
                        c.parse()
                            .unwrap_or_else(|_| panic!("stdout line is not TSV of numbers: {l:?}"))
                    })
                    .collect();
                assert_eq!(
                    r[1],
                    r[2..].iter().sum::<u64>(),
                    "total is the sum of the node columns: {l}"
                );
                r
            })
            .collect();
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(
                r[0],
                i as u64 + 1,
                "seconds are numbered from 1 without gaps"
            );
        }
        let json = err
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("no JSON summary on stderr: {err}"));
        let summary = serde_json::from_str(json).expect("summary JSON");
        LoadResult {
            rows,
            summary,
            stdout: text,
        }
    }
}

/// A test that panics while its load runs stops the load instead of leaving it writing to the
/// lab (under `cargo test`, which runs many tests in one process, the reader thread would keep
/// it alive).
impl Drop for LoadRun {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The loop's check found nothing wrong in a summary (`perseus load --json`, or a run's `load`):
/// no anomaly of any kind, and every key has a final read within its bounds.
pub fn assert_safe(summary: &serde_json::Value) {
    assert_safe_but_down(summary, &[]);
}

/// [`assert_safe`] for a `perseus load` that ended with the nodes `down` still down (killed,
/// stopped): their keys have no final read (`final` is `null`) and are unverified, saying why;
/// every other key has one.
pub fn assert_safe_but_down(summary: &serde_json::Value, down: &[&str]) {
    let keys = summary["keys"].as_array().expect("keys");
    let unverified = keys
        .iter()
        .filter(|k| down.contains(&k["node"].as_str().unwrap_or_default()))
        .count();
    assert_eq!(
        summary["unverified_keys"], unverified,
        "the keys of {down:?} and no other are unverified: {summary}"
    );
    for field in [
        "lost_writes",
        "stale_reads",
        "reverted_reads",
        "impossible_reads",
    ] {
        assert_eq!(summary[field], 0, "{field}: {}", summary["anomalies"]);
    }
    for key in summary["keys"].as_array().expect("keys") {
        let node = key["node"].as_str().unwrap_or_default();
        if down.contains(&node) {
            assert!(key["final"].is_null(), "{node} is down, yet read: {key}");
            assert!(
                key["unverified"]
                    .as_str()
                    .is_some_and(|w| w.starts_with("no final read: ")),
                "{key}"
            );
            continue;
        }
        assert!(key["unverified"].is_null(), "{key}");
        let fin = key["final"]
            .as_u64()
            .unwrap_or_else(|| panic!("no final read of {key}"));
        let (last, max) = (
            key["last_acked"].as_u64().unwrap(),
            key["max_possible"].as_u64().unwrap(),
        );
        assert!(
            fin >= last && fin <= max,
            "{}: final read {fin}, acknowledged {last}, at most {max}",
            key["key"]
        );
    }
}

/// Runs `run`, a `perseus fault` that ends a fault (heal, start, resume, connect), and returns
/// its result with the moment just before it ran. The end took effect between that moment and
/// the time its event line names, which is when the engine said it was done: rules are flushed
/// or a container unpaused before the reply comes back, and a CI run saw a Redis primary
/// acknowledge 99 writes in that gap. So a check that a node serves nothing "until the undo"
/// ends at this moment, not at the line's.
pub fn undo<T>(run: impl FnOnce() -> T) -> (T, SystemTime) {
    let issued = SystemTime::now();
    (run(), issued)
}

/// Sleep for `secs` seconds (test timelines).
pub fn sleep_s(secs: f64) {
    std::thread::sleep(Duration::from_secs_f64(secs));
}

/// Run `cmd` inside `container` through the Docker Engine and return its output; panics when it
/// does not exit 0.
pub fn exec_output(container: &str, cmd: &[&str]) -> String {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let cmd: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
    let out = rt.block_on(async {
        let docker = docker().await;
        perseus::docker::exec(&docker, container, &cmd, Duration::from_secs(30))
            .await
            .expect("exec")
    });
    assert_eq!(
        out.code,
        Some(0),
        "`{}` in {container}: {}",
        cmd.join(" "),
        out.output
    );
    out.output
}

/// Read every key under `prefix` from etcd with `etcdctl` inside node `container`, through the
/// Docker Engine: an independent path from the load loop's HTTP driver.
pub fn etcdctl_get_prefix(container: &str, prefix: &str) -> Vec<(String, u64)> {
    use base64::Engine;
    let json = exec_output(
        container,
        &[
            "env",
            "ETCDCTL_API=3",
            "etcdctl",
            "--endpoints=http://127.0.0.1:2379",
            "get",
            "--prefix",
            prefix,
            "--write-out=json",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(json.trim())
        .unwrap_or_else(|e| panic!("etcdctl output is not JSON ({e}): {json}"));
    let b64 = base64::engine::general_purpose::STANDARD;
    v["kvs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|kv| {
            let k = String::from_utf8(b64.decode(kv["key"].as_str().unwrap_or_default()).unwrap())
                .unwrap();
            let val = String::from_utf8(
                b64.decode(kv["value"].as_str().unwrap_or_default())
                    .unwrap(),
            )
            .unwrap();
            (k, val.parse().unwrap())
        })
        .collect()
}

/// Parse `id<TAB>value` lines, as a plain SQL client prints them in batch mode.
pub fn parse_id_values(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (id, v) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("not id<TAB>value: {l:?}"));
            (id.to_string(), v.trim().parse().expect("value"))
        })
        .collect()
}

/// The loop's table on one PostgreSQL server (the container `container`, e.g.
/// `perseus-postgres-n1`), read back with `psql` inside it: an independent path from the load
/// loop's driver.
pub fn postgres_table(container: &str) -> Vec<(String, u64)> {
    parse_id_values(&exec_output(
        container,
        &[
            "psql",
            "-U",
            "postgres",
            "-At",
            "-F",
            "\t",
            "-c",
            "SELECT id, value FROM lily.counters",
        ],
    ))
}

/// Every key of the run's summary has a value in `table` (key → value, read back by another
/// client) between the last acknowledged write and the largest value a failed (ambiguous) write
/// may have left; `owned` filters the keys to check (e.g. those of one node).
pub fn check_table_against_acks(
    r: &LoadResult,
    table: &[(String, u64)],
    owned: impl Fn(&str) -> bool,
) -> usize {
    let mut checked = 0;
    for key in r.summary["keys"].as_array().expect("summary keys") {
        let name = key["key"].as_str().unwrap();
        if !owned(name) {
            continue;
        }
        let last = key["last_acked"].as_u64().unwrap();
        let max = key["max_possible"].as_u64().unwrap();
        let got = table
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
            .unwrap_or(0);
        assert!(
            got >= last && got <= max,
            "{name}: the table holds {got}, the loop had acknowledged {last} (at most {max})"
        );
        checked += 1;
    }
    checked
}

/// Labelled objects of a lab still in Docker: (containers, networks, volumes).
pub fn leftovers(system: &str) -> (usize, usize, usize) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let d = docker().await;
        (
            perseus::docker::lab_containers(&d, Some(system))
                .await
                .unwrap()
                .len(),
            perseus::docker::lab_networks(&d, Some(system))
                .await
                .unwrap()
                .len(),
            perseus::docker::lab_volumes(&d, Some(system))
                .await
                .unwrap()
                .len(),
        )
    })
}

/// Fails the test, with one line naming the fix, unless every one of `images` is on this machine.
///
/// The end-to-end tests of the systems that run official images (CockroachDB, TiDB) are
/// `#[ignore]`d, so that nextest reports them as skipped where the images are absent; run with
/// `--run-ignored all`, they need the images and fail without them.
pub fn require_images(images: &[&str]) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let missing: Vec<&str> = rt.block_on(async {
        let d = docker().await;
        let mut missing = Vec::new();
        for &image in images {
            if d.inspect_image(image).await.is_err() {
                missing.push(image);
            }
        }
        missing
    });
    if !missing.is_empty() {
        let verb = if missing.len() == 1 { "is" } else { "are" };
        panic!(
            "{} {verb} not on this machine: docker pull {} (or docker load -i a saved copy), then cargo nextest run --run-ignored all",
            missing.join(", "),
            missing.join(" ")
        );
    }
}

/// The kill check of a system of independent servers (no replication: `redis`, `postgres`).
///
/// Load for 14 s with two clients per node; kill n1 at about 4 s and start it about 4 s later.
/// Every span below is placed on the load's clock from the fault events themselves:
/// - n1's column is 0 from 1 s after the kill took effect until the start;
/// - n2 and n3 serve more than `others_min` successes in every second of the load, since they do
///   not depend on n1;
/// - n1 serves again from 4 s after the start took effect until the end;
/// - no acknowledged write is lost;
/// - `read_back(node)` holds each of the node's two keys. `read_back` gives the node's keys and
///   values, read inside its container. Each value must lie between the last acknowledged write
///   and the largest value an ambiguous write may have left.
pub fn kill_n1_of_independent_servers(
    system: &str,
    others_min: u64,
    read_back: fn(&str) -> Vec<(String, u64)>,
) {
    let lab = LabGuard::up(system, &[]);
    // 16 s: kill at about 4 s, start about 4 s later, then whole seconds from 4 s after the
    // start. `fault start` returns up to a second after it began on a slow machine (it moves the
    // node's helper into its new namespace); with 14 s a CI run had no whole second left.
    let load = LoadRun::start(system, 16, &["--clients-per-node", "2"]);
    sleep_s(4.0);
    let kill = lab.fault("kill", "n1");
    sleep_s(4.0);
    let start = lab.fault("start", "n1");
    let r = load.finish();
    let (killed, started) = (r.offset(&kill), r.offset(&start));
    r.assert_column(
        1,
        killed + 1.0,
        started,
        |c| c == 0,
        "the killed server's column is 0 from 1 s after the kill until the start",
    );
    for n in [2, 3] {
        r.assert_column(
            n,
            0.0,
            r.end(),
            |c| c > others_min,
            &format!("n{n} is independent of n1 and never drops to {others_min}/s or below"),
        );
    }
    r.assert_column(
        1,
        started + 4.0,
        r.end(),
        |c| c > 0,
        "n1 serves again from 4 s after the start",
    );
    // It loses no acknowledged write to SIGKILL: no anomaly, every final read in bounds.
    assert_safe(&r.summary);
    for node in ["n1", "n2", "n3"] {
        let keys = read_back(node);
        let checked = check_table_against_acks(&r, &keys, |k| k.contains(&format!("/{node}/")));
        assert_eq!(checked, 2, "two keys per node on {node}");
    }
}

/// `perseus check --json FILE`: its exit code and its report (`keys[]` with `key`, `verdict`
/// (`linearizable`, `not-linearizable`, `unknown`), `violations`, `first`; `truncated`).
pub fn check_history(history: &Path) -> (i32, serde_json::Value) {
    let out = perseus()
        .args(["check", "--json"])
        .arg(history)
        .output()
        .expect("run perseus check");
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "perseus check printed no JSON report ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), report)
}

/// The run's own verdicts and `perseus check` of its history agree key by key: a key is not
/// linearizable in the history exactly when the loop found an anomaly on it (`unknown` is
/// neither, and fails the test), and the summary's own check of the history (`history_check`)
/// says the same with no disagreement. Returns the `perseus check` report.
pub fn assert_history_agrees(summary: &serde_json::Value, history: &Path) -> serde_json::Value {
    let (code, report) = check_history(history);
    let checked = report["keys"]
        .as_array()
        .expect("keys in the check's report");
    let mut bad = 0;
    for k in summary["keys"].as_array().expect("keys in the summary") {
        let name = k["key"].as_str().unwrap();
        let found: u64 = [
            "lost_writes",
            "stale_reads",
            "reverted_reads",
            "impossible_reads",
        ]
        .iter()
        .map(|f| k[*f].as_u64().unwrap())
        .sum();
        let Some(c) = checked.iter().find(|c| c["key"] == name) else {
            assert_eq!(
                found, 0,
                "{name} is not in the history, yet the loop found {k}"
            );
            continue;
        };
        let verdict = c["verdict"].as_str().unwrap();
        assert_ne!(
            verdict, "unknown",
            "{name}: the history check did not decide: {c}"
        );
        assert_eq!(
            verdict == "not-linearizable",
            found > 0,
            "{name}: the loop found {found} anomalies ({k}), perseus check says {verdict}: {c}"
        );
        bad += usize::from(found > 0);
    }
    assert_eq!(code, if bad > 0 { 1 } else { 0 }, "{report}");
    let own = &summary["history_check"];
    assert_eq!(own["disagreements"], serde_json::json!([]), "{own}");
    assert_eq!(own["not_linearizable"], bad, "{own}");
    assert_eq!(own["unknown"], 0, "{own}");
    eprintln!(
        "history check: {bad} of {} keys not linearizable, as the loop found; {}",
        checked.len(),
        checked
            .iter()
            .filter_map(|c| c["first"]["op"]["op"]
                .as_str()
                .map(|op| format!("{} {op}", c["key"])))
            .collect::<Vec<_>>()
            .join("; ")
    );
    report
}
