//! `perseus run`: carry a scenario out the same way every time.
//!
//! 1. The lab: `lab up` with the scenario's node count (the run owns it, [`LabHandle`]), or with
//!    `reuse` the running lab of the system (it must have that many nodes, and stays up).
//! 2. Warm-up: the load loop runs until a whole second in which every node served (at most
//!    `load.warmup`); a lab that does not get there fails the run before any fault.
//! 3. The measured load, and beside it the timeline: each step sleeps until its time on the
//!    load's own clock (so success timestamps and fault times share one origin), resolves its
//!    target then (leader = whoever leads now), and applies the fault. How late it fired, the
//!    resolved nodes and when the fault was in force are recorded.
//! 4. The end, or the cancellation token (Ctrl-C), or a step that fails: the load stops, and every
//!    fault still in force is undone ([`crate::fault::restore`]: heal, resume, start).
//! 5. Measurement ([`super::analysis`]) and verdicts.
//! 6. `lab down`, unless `keep` or the lab was reused; then the run folder is finished.
//!
//! Everything the run tells goes out once, as [`Event`]s, to three sinks: the caller's (the
//! terminal view), the [`RunFolder`] and the [`RunRecord`].

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime};

use bollard::Docker;
use tokio_util::sync::CancellationToken;

use super::analysis;
use super::{Action, Aim, FiringDraw, Scenario, ScenarioError, ScenarioFile};
use crate::driver::Endpoint;
use crate::error::{LabError, Result};
use crate::fault;
use crate::history::HistoryWriter;
use crate::lab::{self, Home, Lab, LabHandle, UpOptions};
use crate::load::summary::Summary;
use crate::load::{self, DynDriver, LoadOptions};
use crate::metrics::Metrics;
use crate::node::NodeName;
use crate::report::{
    Entry, Event, FiredStep, NodeAddress, Outcome, Plan, PlanLoad, PromotionSeen, Removed,
    RunFolder, RunRecord, Sink, Totals, What,
};
use crate::workload::{self, TxnOptions, Workload};

/// Which lab a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabChoice {
    /// Bring up a lab of its own.
    Own,
    /// The system's running lab if there is one (it must have the scenario's node count, and
    /// it stays up), else one of its own.
    Running,
}

/// What becomes of a lab the run brought up, once the run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Afterwards {
    /// Take it down.
    Down,
    /// Leave it up for the next command.
    Keep,
}

/// How [`run`] treats the lab.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Which lab it uses.
    pub lab: LabChoice,
    /// What becomes of a lab it brought up.
    pub afterwards: Afterwards,
    /// Where run folders go (`runs/`).
    pub runs_dir: std::path::PathBuf,
    /// Write `history.edn` into the run folder, stopping at this many bytes (`None`: no history).
    pub history_max: Option<u64>,
    /// Bring the lab up across these Docker hosts (`--hosts`; empty: this machine's engine).
    pub hosts: Vec<crate::lab::hosts::HostSpec>,
    /// The live series to keep (`--metrics`): the measured load's counts, the steps and the
    /// faults in force.
    pub metrics: Option<Metrics>,
}

/// What the measured load left for the end of the run.
struct Measured {
    summary: Summary,
    /// Why a step failed, when one did.
    failure: Option<String>,
    interrupted: bool,
    /// Second 0 of the load.
    origin: Instant,
    history: Option<HistoryWriter>,
    /// What the transactional clients did, when the scenario ran them.
    txn: Option<workload::TxnHistory>,
}

/// Where a run's events go: the caller's sink, the run folder and the record, each event once to
/// all three.
struct Out<'a> {
    sink: &'a mut dyn Sink,
    folder: RunFolder,
    record: RunRecord,
    /// The live series, told of each step and of the restore.
    metrics: Option<Metrics>,
}

impl Out<'_> {
    fn emit(&mut self, event: Event) {
        self.sink.event(&event);
        self.folder.event(&event);
        self.record.event(&event);
        if let (Some(m), Event::Entry(e)) = (&self.metrics, &event) {
            match &e.what {
                What::Step { step } => {
                    let nodes: Vec<String> = step.nodes.iter().map(|n| n.to_string()).collect();
                    m.step(&step.fault, &nodes);
                }
                What::Restore { .. } => m.restored(),
                _ => {}
            }
        }
    }

    fn say(&mut self, line: impl Into<String>) {
        self.emit(Event::Say(line.into()));
    }

    fn entry(&mut self, what: What, t_s: Option<f64>) {
        self.emit(Event::Entry(Entry::now(what, t_s)));
    }
}

/// What the report calls the scenario it ran.
fn plan(s: &Scenario, seed: u64) -> Plan {
    Plan {
        seed: Some(seed),
        name: s.name.clone(),
        description: s.description.clone(),
        system: s.system.to_string(),
        nodes: s.nodes,
        load: PlanLoad {
            duration: s.load.duration,
            clients_per_node: s.load.clients_per_node,
            op_timeout: s.load.op_timeout,
            rate_per_node: s.schedule().map(|o| o.rate_per_node),
            max_clients_per_node: s.schedule().map(|o| o.max_clients_per_node),
            warmup: s.load.warmup,
            workload: s.load.workload,
            isolation: s.load.isolation,
            replica_reads: s.load.replica_reads,
        },
    }
}

/// `n1 10.77.0.11, n2 10.77.0.12, ...`.
fn addresses(lab: &Lab) -> Vec<NodeAddress> {
    lab.nodes
        .iter()
        .map(|n| NodeAddress {
            node: n.name.clone(),
            ip: n.ip.into(),
        })
        .collect()
}

/// Run one scenario. Cancelling `cancel` (Ctrl-C) stops it at once: the load ends, faults are
/// undone, the partial report is written. Every event goes to `sink` as it happens.
///
/// Returns the record (also in the run folder) whatever the outcome, once the lab is up.
/// Errors: what stopped it before the lab was up (lab up failed, a reused lab of another size),
/// or a run folder that could not be written (the lab is taken down first, unless kept).
pub async fn run(
    docker: &Docker,
    home: &Home,
    file: &ScenarioFile,
    opts: &RunOptions,
    cancel: &CancellationToken,
    sink: &mut dyn Sink,
) -> Result<(RunRecord, std::path::PathBuf)> {
    let s = &file.scenario;
    // The Engine's silences before this run (a table's earlier runs) are not this run's.
    crate::docker::take_engine_notes();
    let seed = s.seed.unwrap_or_else(rand::random);
    let firings = s.firings().len();
    sink.event(&Event::Say(format!(
        "== {}: {} with {} nodes, load {}, {} step(s){}, {} expectation(s), seed {seed}",
        s.name,
        s.system,
        s.nodes,
        crate::units::show(s.load.duration),
        s.steps.len(),
        if firings > s.steps.len() {
            format!(" firing {firings} times")
        } else {
            String::new()
        },
        s.expect.len()
    )));
    let system = &s.system.system;
    let running = lab::labs_up(docker).await?.contains(system);
    let started = Instant::now();
    let (owned, lab): (Option<LabHandle>, Lab) = if opts.lab == LabChoice::Running && running {
        let lab = lab::open(docker, home, system).await?;
        // A release asked for must be the one the lab runs.
        if let (Some(asked), running) = (&s.system.version, lab.definition.version()) {
            if running != Some(asked.as_str()) {
                return Err(LabError::OtherVersionUp {
                    system: system.clone(),
                    running: running.unwrap_or("its only release").to_string(),
                    asked: asked.clone(),
                }
                .into());
            }
        }
        if lab.nodes.len() != s.nodes {
            return Err(ScenarioError::LabSize {
                system: system.clone(),
                running: lab.nodes.len(),
                file: file.path.clone(),
                wanted: s.nodes,
            }
            .into());
        }
        if s.needs_lazyfs() && lab.nodes.iter().any(|n| n.lazy.is_none()) {
            return Err(LabError::NotLazyUp {
                system: system.clone(),
            }
            .into());
        }
        (None, lab)
    } else {
        let up = UpOptions {
            nodes: s.nodes,
            version: s.system.version.clone(),
            file: None,
            ready_timeout: None,
            images: Vec::new(),
            // --hosts over the file's own.
            hosts: if opts.hosts.is_empty() {
                s.hosts.clone()
            } else {
                opts.hosts.clone()
            },
            place: Vec::new(),
            // A power loss needs the nodes under the lazy file system.
            lazyfs: s.needs_lazyfs(),
        };
        let mut progress = |l: &str| sink.event(&Event::Say(l.to_string()));
        let handle = lab::up(docker, home, system, &up, cancel, &mut progress).await?;
        let lab = (*handle).clone();
        (Some(handle), lab)
    };
    // Each node's network helper, so that no network step waits for one.
    if let Err(e) = crate::fault::net::warm(&lab).await {
        sink.event(&Event::Say(format!(
            "warning: the network helpers did not start ({e}); each network step will try again"
        )));
    }
    // The file as written, and the seed this run drew from (it may come from --seed, or have
    // been drawn when the file has none).
    let text = format!(
        "{}{}# this run's random choices came from seed {seed} (perseus run --seed {seed})\n",
        file.text,
        if file.text.ends_with('\n') { "" } else { "\n" }
    );
    let folder = match RunFolder::create(&opts.runs_dir, &s.name, &text) {
        Ok(f) => f,
        Err(e) => {
            release(owned, opts.afterwards, sink).await;
            return Err(e);
        }
    };
    let record = RunRecord::new(plan(s, seed), folder.name(), lab.node_names());
    let mut out = Out {
        sink,
        folder,
        record,
        metrics: opts.metrics.clone(),
    };
    let what = match owned {
        Some(_) => What::LabUp {
            system: s.system.system.clone(),
            took_s: started.elapsed().as_secs_f64(),
            nodes: addresses(&lab),
        },
        None => What::LabReused {
            system: s.system.system.clone(),
            nodes: addresses(&lab),
        },
    };
    out.entry(what, None);
    out.say(format!("run folder {}", out.folder.dir.display()));

    let measured = measured(&lab, file, opts, cancel, &mut out).await;

    // Whatever happened, leave no fault in force.
    let restored = match fault::restore(&lab).await {
        Ok(done) => {
            let any = !done.is_empty();
            out.entry(What::Restore { done }, None);
            any
        }
        Err(e) => {
            let failed = What::RestoreFailed {
                error: e.to_string(),
            };
            let m = failed.detail();
            out.entry(failed, None);
            let r = &mut out.record;
            if r.outcome == Outcome::Passed || r.outcome == Outcome::Failed {
                r.outcome = Outcome::Error;
                r.error = Some(m);
            }
            true
        }
    };
    let kept = opts.afterwards == Afterwards::Keep || owned.is_none();
    // The final reads need the cluster serving again, and so does whoever uses a kept lab next:
    // wait (bounded) until it is ready.
    if measured.is_some() || (kept && restored) {
        if let Err(e) = lab::wait_ready(&lab, lab.definition.perseus.ready_timeout).await {
            let why = format!("after restoring, the lab is not ready: {e}");
            out.say(why.clone());
            out.record.not_ready = Some(why);
        }
    }
    let mut history_failed = None;
    if let Some(m) = measured {
        history_failed = conclude(&lab, file, m, &mut out).await;
    }
    // The lab comes down before the folder is finished: a report that cannot be written must
    // not leave the lab up.
    if let Some(handle) = owned {
        if opts.afterwards == Afterwards::Keep {
            handle.keep().await;
        } else {
            match handle.down().await {
                Ok(r) => out.entry(
                    What::LabDown {
                        system: s.system.system.clone(),
                        removed: Removed {
                            containers: r.containers,
                            networks: r.networks,
                            volumes: r.volumes,
                        },
                    },
                    None,
                ),
                Err(e) => out.say(format!("lab down failed: {e}")),
            }
        }
    }
    let Out {
        folder, mut record, ..
    } = out;
    record.engine_retries = crate::docker::take_engine_notes();
    let dir = folder.dir.clone();
    folder.finish(&record)?;
    if let Some(e) = history_failed {
        return Err(e);
    }
    Ok((record, dir))
}

/// Let go of a lab the run owns after it failed early: keep it up when asked to, else remove it.
async fn release(owned: Option<LabHandle>, afterwards: Afterwards, sink: &mut dyn Sink) {
    let Some(handle) = owned else {
        return;
    };
    if afterwards == Afterwards::Keep {
        handle.keep().await;
    } else if let Err(e) = handle.down().await {
        sink.event(&Event::Say(format!("lab down failed: {e}")));
    }
}

/// Warm-up, measured load with its timeline, measurement. Never fails: what went wrong is in the
/// record's outcome.
async fn measured(
    lab: &Lab,
    file: &ScenarioFile,
    opts: &RunOptions,
    cancel: &CancellationToken,
    out: &mut Out<'_>,
) -> Option<Measured> {
    let s = &file.scenario;
    let nodes = lab.node_names();
    let driver = lab.driver();
    let endpoints = lab.endpoints();
    let txn_driver = match s.load.workload {
        Workload::Register => None,
        w => match lab.txn_driver(w, s.load.isolation, s.load.replica_reads) {
            Ok(d) => Some(d),
            Err(e) => {
                out.record.outcome = Outcome::Error;
                out.record.error = Some(e.to_string());
                out.say(e.to_string());
                return None;
            }
        },
    };

    // Warm-up: until one whole second in which every node served.
    let t = Instant::now();
    let served = warm_up(&*driver, &endpoints, s, cancel).await;
    out.entry(
        What::Warmup {
            served_after_s: served.is_ok().then(|| t.elapsed().as_secs_f64()),
            failure: served.as_ref().err().cloned(),
        },
        None,
    );
    if let Err(e) = served {
        out.record.outcome = if cancel.is_cancelled() {
            Outcome::Interrupted
        } else {
            Outcome::Error
        };
        out.record.error = Some(format!("warm-up: {e}"));
        return None;
    }
    let has_leader = lab.kind().has_leader();
    let leader_before = if has_leader {
        leader_now(lab).await
    } else {
        None
    };
    // What each server says it is: the evidence of which release a verdict is about.
    let cluster = lab.cluster();
    let versions: std::collections::BTreeMap<String, String> =
        futures_util::future::join_all(lab.nodes.iter().map(|n| {
            let cluster = &cluster;
            async move {
                let v = lab.kind().server_version(cluster, &n.endpoint()).await;
                v.map(|v| (n.name.to_string(), v))
            }
        }))
        .await
        .into_iter()
        .flatten()
        .collect();

    // The measured load and, beside it, the timeline, on one clock; the history on it too.
    let origin = Instant::now();
    let run_id = load::new_run_id();
    let mut history = None;
    let mut load_opts = LoadOptions {
        duration: s.load.duration,
        clients_per_node: s.load.clients_per_node,
        op_timeout: s.load.op_timeout,
        run_id,
        origin: Some(origin),
        history: None,
        metrics: opts.metrics.clone(),
        open: s.schedule(),
    };
    if let Some(max) = opts.history_max {
        let path = out.folder.dir.join("history.edn");
        let first_free = load_opts.first_free_process(nodes.len());
        match HistoryWriter::create(&path, max, origin, first_free, &load_opts.run_id).await {
            Ok(w) => history = Some(w),
            Err(e) => out.say(format!("no history: {e}")),
        }
    }
    if let Some(m) = &opts.metrics {
        let names: Vec<String> = endpoints.iter().map(|e| e.node.to_string()).collect();
        m.begin_run(&load_opts.run_id, &s.system.to_string(), &names);
    }
    load_opts.history = history.as_ref().map(HistoryWriter::history);
    let opts = load_opts;
    out.entry(
        What::LoadStart {
            run: opts.run_id.clone(),
            clients_per_node: opts.clients_per_node,
            rate_per_node: opts.open.map(|o| o.rate_per_node),
            duration_s: opts.duration.as_secs_f64(),
            nodes: nodes.clone(),
            leader: leader_before,
            release: lab.definition.version().map(str::to_string),
            versions,
        },
        Some(0.0),
    );
    // The load stops at its end, on Ctrl-C, or when a step fails (its own token).
    let load_stop = cancel.child_token();
    let seed = out.record.scenario.seed.unwrap_or_default();
    let shared = RefCell::new(&mut *out);
    let load_run = async {
        let mut on_second =
            |sec: &load::Second| shared.borrow_mut().emit(Event::Second(sec.clone()));
        let summary = driver
            .run(&endpoints, &opts, &load_stop, &mut on_second)
            .await;
        // The timeline stops waiting for steps once the load is over.
        load_stop.cancel();
        summary
    };
    // The transactional clients, beside the register loop, on the same clock and stop.
    let txn_opts = TxnOptions {
        workload: s.load.workload,
        isolation: s.load.isolation,
        duration: s.load.duration,
        clients_per_node: s.load.txn_clients_per_node,
        op_timeout: s.load.op_timeout,
        run_id: opts.run_id.clone(),
        origin: Some(origin),
        seed,
        shared: lab.kind().shares_data(),
        read_port: txn_driver.as_ref().and_then(|c| c.read_port),
    };
    let txn_run = async {
        match &txn_driver {
            Some(d) => Some(
                // Its own stop: Ctrl-C, not the register loop's end (which comes a tick sooner).
                workload::run(d.driver.clone(), &endpoints, &txn_opts, cancel, &mut |_| {}).await,
            ),
            None => None,
        }
    };
    let (summary, failure, txn) = tokio::join!(
        load_run,
        async {
            let failure = timeline(lab, file, seed, origin, &load_stop, &shared).await;
            if failure.is_some() {
                load_stop.cancel();
            }
            failure
        },
        txn_run
    );
    let out = shared.into_inner();
    let txn = match txn {
        Some(Ok(h)) => Some(h),
        Some(Err(e)) => {
            out.say(format!("the transactions did not run: {e}"));
            None
        }
        None => None,
    };
    let shared = RefCell::new(out);
    let out = shared.into_inner();
    let end_s = summary.duration_s;
    let interrupted = cancel.is_cancelled();
    let leader_after = if has_leader {
        leader_now(lab).await
    } else {
        None
    };
    let totals = Totals {
        iterations: summary.iterations,
        errors: summary.errors,
        lost_writes: summary.safety.lost_writes,
        ambiguous_writes: summary.ambiguous_writes,
    };
    let leader = leader_after;
    out.entry(
        if interrupted {
            What::Interrupted { totals, leader }
        } else {
            What::LoadEnd { totals, leader }
        },
        Some(end_s),
    );
    // The failover as the system tells it, on the run's clock.
    let wall_origin = SystemTime::now() - origin.elapsed();
    let until = wall_origin + Duration::from_secs_f64(end_s);
    for p in lab::promotions(lab, wall_origin, until).await {
        let seen = PromotionSeen {
            t_s: p
                .at
                .duration_since(wall_origin)
                .unwrap_or_default()
                .as_secs_f64(),
            at: humantime::format_rfc3339_millis(p.at).to_string(),
            node: p.node,
            source: p.source.to_string(),
            line: p.line,
        };
        out.entry(
            What::Promotion {
                promotion: seen.clone(),
            },
            Some(seen.t_s),
        );
    }

    Some(Measured {
        summary,
        failure,
        interrupted,
        origin,
        history,
        txn,
    })
}

/// The end of a measured run, once its faults are undone and the lab is ready: the final read of
/// every key, the history closed, the windows and recoveries each step caused, the verdicts and
/// the outcome. Returns the error of a history that could not be written (the run then exits
/// non-zero, after its report).
async fn conclude(
    lab: &Lab,
    file: &ScenarioFile,
    m: Measured,
    out: &mut Out<'_>,
) -> Option<crate::error::Error> {
    let s = &file.scenario;
    let nodes = lab.node_names();
    let Measured {
        mut summary,
        failure,
        interrupted,
        origin,
        history,
        txn,
    } = m;
    let timeout = load::FINAL_READ_TIMEOUT.max(s.load.op_timeout);
    let driver = lab.driver();
    let mut failed = None;
    if let Err(e) = load::conclude(
        &*driver,
        &lab.endpoints(),
        &mut summary,
        timeout,
        history,
        origin,
    )
    .await
    {
        out.say(format!("the history could not be written or checked: {e}"));
        failed = Some(e);
    }
    // A history stopped to leave room on its disk (the summary says so): the run is kept, and it
    // fails (exit 1).
    if let Some(h) = summary
        .history
        .as_ref()
        .filter(|h| h.disk_free_bytes.is_some())
    {
        failed = failed.or(Some(crate::error::Error::Io {
            context: format!("writing {}", h.path.display()),
            source: std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                format!(
                    "its disk ran short, so the history stopped at {:.1} s to leave room for the summary and the report; free some space, or give --runs-dir on a larger disk",
                    h.truncated_at_s.unwrap_or_default()
                ),
            ),
        }));
    }
    let end_s = summary.duration_s;
    let end_us = (summary.duration_s * 1e6).round() as u64;
    let lookback = s.load.op_timeout.max(Duration::from_secs(1)).as_micros() as u64;
    let fired = out.record.steps.clone();
    let effects = analysis::effects(&nodes, &summary.timelines, end_us, &fired, lookback);
    let verdicts = analysis::verdicts(
        s,
        &nodes,
        &summary.timelines,
        end_us,
        &fired,
        &effects,
        &summary,
    );
    let mut verdicts = verdicts;
    for line in summary.render().lines() {
        out.say(line);
    }
    let transactions = txn.map(|h| {
        let cuts: Vec<(f64, String)> = fired
            .iter()
            .map(|f| {
                let nodes: Vec<&str> = f.nodes.iter().map(|n| n.as_str()).collect();
                let what = format!("{} {}", f.fault, nodes.join(","));
                (f.applied_s, what.trim().to_string())
            })
            .collect();
        let mut t = workload::summarize(&h);
        t.windows = workload::windows(&t, &h, &cuts);
        analysis::txn_verdicts(s, &mut verdicts, &t);
        let path = out.folder.dir.join("transactions.edn");
        if let Err(e) = workload::history::write(&path, &h) {
            out.say(format!("no transactions history: {e}"));
        }
        t
    });
    if let Some(t) = &transactions {
        for line in t.render().lines() {
            out.say(line);
        }
    }
    let r = &mut out.record;
    r.effects = effects;
    r.verdicts = verdicts;
    r.load = Some(summary);
    r.transactions = transactions;
    r.outcome = if let Some(f) = failure {
        r.error = Some(f);
        Outcome::Error
    } else if interrupted {
        r.error = Some(format!("interrupted by Ctrl-C at {end_s:.1} s"));
        Outcome::Interrupted
    } else if r.verdicts.iter().all(|v| v.passed) {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    let lines: Vec<String> = r
        .verdicts
        .iter()
        .map(|v| {
            format!(
                "{} {}: {}",
                if v.passed { "pass" } else { "FAIL" },
                v.expectation,
                v.measured
            )
        })
        .collect();
    for line in lines {
        out.say(line);
    }
    failed
}

/// The leader now, asked with a bound (a paused or isolated leader must not hold the run up).
async fn leader_now(lab: &Lab) -> Option<NodeName> {
    tokio::time::timeout(Duration::from_secs(5), lab.leader(None))
        .await
        .ok()
        .and_then(|r| r.ok())
        .flatten()
}

/// Run the load until a second in which every node served, at most `warmup`. Errors: why not,
/// in one line.
async fn warm_up(
    driver: &dyn DynDriver,
    endpoints: &[Endpoint],
    s: &Scenario,
    cancel: &CancellationToken,
) -> std::result::Result<(), String> {
    let served = cancel.child_token();
    let mut last: Vec<u64> = Vec::new();
    let opts = LoadOptions {
        duration: s.load.warmup.max(Duration::from_secs(1)),
        clients_per_node: s.load.clients_per_node,
        op_timeout: s.load.op_timeout,
        run_id: load::new_run_id(),
        origin: None,
        history: None,
        metrics: None,
        open: None,
    };
    let mut on_second = |sec: &load::Second| {
        if sec.complete && sec.counts.iter().all(|&c| c > 0) {
            served.cancel();
        }
        last.clone_from(&sec.counts);
    };
    driver.run(endpoints, &opts, &served, &mut on_second).await;
    if cancel.is_cancelled() {
        return Err("interrupted by Ctrl-C during the warm-up".into());
    }
    if served.is_cancelled() {
        return Ok(());
    }
    let idle: Vec<&str> = endpoints
        .iter()
        .zip(last.iter().chain(std::iter::repeat(&0)))
        .filter(|(_, c)| **c == 0)
        .map(|(e, _)| e.node.as_str())
        .collect();
    Err(format!(
        "no second in {} in which every node served (last second: {} at 0); check `perseus lab status {}`",
        crate::units::show(opts.duration),
        idle.join(", "),
        s.system.system
    ))
}

/// Fire the steps on time, every repeat of each ([`Scenario::firings`]), until they are done or
/// the load stops; each firing's random choices come from `seed` ([`super::firing_draw`]).
/// Returns, when a step failed, why (the run then stops); the fired steps reach the record
/// through the events.
async fn timeline(
    lab: &Lab,
    file: &ScenarioFile,
    seed: u64,
    origin: Instant,
    load_stop: &CancellationToken,
    out: &RefCell<&mut Out<'_>>,
) -> Option<String> {
    let s = &file.scenario;
    let mut fired: Vec<FiredStep> = Vec::new();
    for firing in s.firings() {
        let (i, step) = (firing.step, &s.steps[firing.step]);
        let due = origin + firing.at;
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {}
            _ = load_stop.cancelled() => return None,
        }
        let fired_at = origin.elapsed();
        let at = SystemTime::now();
        let mut rng = super::firing_draw(seed, i, firing.repeat);
        let result = fire(lab, step, firing.repeat, &mut rng, &fired).await;
        let applied = origin.elapsed();
        match result {
            Ok((nodes, detail)) => {
                let f = FiredStep {
                    index: i,
                    name: step.name.clone(),
                    fault: step.kind().name().to_string(),
                    aim: step.aim_text(),
                    nodes,
                    repeat: firing.repeat,
                    scheduled_s: firing.at.as_secs_f64(),
                    fired_s: fired_at.as_secs_f64(),
                    applied_s: applied.as_secs_f64(),
                    late_ms: (fired_at.saturating_sub(firing.at)).as_secs_f64() * 1000.0,
                    at: humantime::format_rfc3339_millis(at).to_string(),
                    detail,
                };
                out.borrow_mut().emit(Event::Entry(Entry {
                    at,
                    what: What::Step { step: f.clone() },
                    t_s: Some(f.fired_s),
                }));
                fired.push(f);
            }
            Err(e) => {
                let failed = What::StepFailed {
                    index: i,
                    step: step.describe(),
                    fired_s: fired_at.as_secs_f64(),
                    error: e.to_string(),
                };
                let why = failed.detail();
                out.borrow_mut().emit(Event::Entry(Entry {
                    at,
                    what: failed,
                    t_s: Some(fired_at.as_secs_f64()),
                }));
                return Some(why);
            }
        }
    }
    None
}

/// Resolve an aim to nodes now (`random` and `follower` draw from `rng`; a step's name means the
/// nodes of its latest firing).
async fn resolve(
    lab: &Lab,
    aim: &Aim,
    rng: &mut FiringDraw,
    fired: &[FiredStep],
) -> Result<Vec<NodeName>> {
    match aim {
        Aim::Target(t) => fault::resolve_nodes(lab, t, rng.next_u64()).await,
        Aim::Step(name) => fired
            .iter()
            .rev()
            .find(|f| f.name.as_deref() == Some(name))
            .map(|f| f.nodes.clone())
            .ok_or_else(|| ScenarioError::NotFired { step: name.clone() }.into()),
    }
}

/// Apply one firing of a step (its `repeat`, random choices from `rng`): its aims resolved to
/// nodes, the step made a [`fault::Fault`] and injected. Returns the nodes it acted on and what
/// was done (each node's part named).
async fn fire(
    lab: &Lab,
    step: &super::Step,
    repeat: u32,
    rng: &mut FiringDraw,
    fired: &[FiredStep],
) -> Result<(Vec<NodeName>, String)> {
    // The nodes of a list of aims, each once, in order.
    async fn nodes_of(
        lab: &Lab,
        aims: &[&Aim],
        rng: &mut FiringDraw,
        fired: &[FiredStep],
    ) -> Result<Vec<NodeName>> {
        let mut nodes: Vec<NodeName> = Vec::new();
        for a in aims {
            for n in resolve(lab, a, rng, fired).await? {
                if !nodes.contains(&n) {
                    nodes.push(n);
                }
            }
        }
        Ok(nodes)
    }
    let mut groups = Vec::new();
    for g in step.action.groups() {
        let aims: Vec<&Aim> = g.iter().collect();
        groups.push(nodes_of(lab, &aims, rng, fired).await?);
    }
    // A shaped partition's or a corruption's own seed, moved on by the repeat, or a draw from
    // the run's seed.
    let seed = match step.action {
        Action::Shaped {
            seed: Some(own), ..
        } => Some(own.wrapping_add(u64::from(repeat))),
        Action::Shaped { seed: None, .. } => Some(rng.next_u64()),
        Action::Corrupt {
            seed: Some(own), ..
        } => Some(own.wrapping_add(u64::from(repeat))),
        Action::Corrupt { seed: None, .. } => Some(rng.next_u64()),
        _ => None,
    };
    let f = step.action.fault(groups, seed);
    let nodes = match step.action.target() {
        Some(target) => nodes_of(lab, &target.list(), rng, fired).await?,
        None => Vec::new(),
    };
    let ev = fault::inject(lab, &f, None, &nodes).await?;
    let detail = ev.detail_by_node();
    Ok((ev.nodes, detail))
}
