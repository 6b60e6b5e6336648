//! `perseus run`: carry a scenario out the same way every time.
//!
//! 1. The lab: `lab up` with the scenario's node count, or with `reuse` the running lab of the
//!    system (it must have that many nodes).
//! 2. Warm-up: the load loop runs until a whole second in which every node served (at most
//!    `load.warmup`); a lab that does not get there fails the run before any fault.
//! 3. The measured load, and beside it the timeline: each step sleeps until its time on the
//!    load's own clock (so success timestamps and fault times share one origin), resolves its
//!    target then (leader = whoever leads now), and applies the fault. How late it fired, the
//!    resolved nodes and when the fault was in force are recorded.
//! 4. The end, or Ctrl-C, or a step that fails: the load stops, and every fault still in force is
//!    undone ([`crate::fault::restore`]: heal, resume, start).
//! 5. Measurement ([`super::analysis`]), verdicts, and the run folder ([`crate::report`]).
//! 6. `lab down`, unless `keep` or the lab was reused.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::Docker;
use tokio::sync::watch;

use super::analysis::{self, FiredStep};
use super::{Aim, Aims, FaultKind, ScenarioFile};
use crate::error::{Error, Result};
use crate::fault;
use crate::lab::{self, Home, Lab, UpOptions};
use crate::load::{self, LoadOptions, Second};
use crate::report::{now_rfc3339, Event, Outcome, RunFolder, RunRecord};
use crate::systems::Leadership;

/// How [`run`] treats the lab.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Leave the lab up afterwards.
    pub keep: bool,
    /// Use the system's running lab if there is one (and leave it up).
    pub reuse: bool,
    /// Where run folders go (`runs/`).
    pub runs_dir: std::path::PathBuf,
}

/// What a run reports as it goes.
pub trait Observer: Send {
    /// One second of the measured load (the TSV line).
    fn second(&mut self, s: &Second, nodes: &[String]);
    /// A line for people (progress, faults as they fire).
    fn say(&mut self, line: &str);
}

/// Run one scenario. `interrupt` turning true (Ctrl-C) stops it at once: the load ends, faults are
/// undone, the partial report is written.
///
/// Returns the record (also in the run folder) whatever the outcome, once the lab is up.
/// Errors: what stopped it before the lab was up (lab up failed, a reused lab of another size),
/// or a run folder that cannot be written.
pub async fn run(
    docker: &Docker,
    home: &Home,
    file: &ScenarioFile,
    opts: &RunOptions,
    interrupt: watch::Receiver<bool>,
    observer: &mut dyn Observer,
) -> Result<(RunRecord, std::path::PathBuf)> {
    let s = &file.scenario;
    observer.say(&format!(
        "== {}: {} with {} nodes, load {}, {} step(s), {} expectation(s)",
        s.name,
        s.system,
        s.nodes,
        crate::units::show(s.load.duration),
        s.steps.len(),
        s.expect.len()
    ));
    let running = lab::labs_up(docker).await?.contains(&s.system);
    let (lab, created) = if opts.reuse && running {
        let lab = lab::open(docker, home, &s.system).await?;
        if lab.nodes.len() != s.nodes {
            return Err(Error::BadInput(format!(
                "the running {} lab has {} nodes and {} wants {}: run `perseus lab down {}` first, or run without --reuse",
                s.system,
                lab.nodes.len(),
                file.path.display(),
                s.nodes,
                s.system
            )));
        }
        observer.say(&format!("reusing the running {} lab", s.system));
        (lab, false)
    } else {
        let up = UpOptions {
            nodes: s.nodes,
            file: None,
            ready_timeout: None,
            images: Vec::new(),
        };
        let t = Instant::now();
        let lab = lab::up(docker, home, &s.system, &up, &mut |l| observer.say(l)).await?;
        observer.say(&format!(
            "lab {} up in {:.1} s",
            s.system,
            t.elapsed().as_secs_f64()
        ));
        (lab, true)
    };
    let mut folder = match RunFolder::create(&opts.runs_dir, &s.name, &file.text) {
        Ok(f) => f,
        Err(e) => {
            if created && !opts.keep {
                let _ = lab::down(docker, &s.system).await;
            }
            return Err(e);
        }
    };
    folder.event(&Event {
        at: now_rfc3339(),
        kind: if created { "lab-up" } else { "lab-reused" }.into(),
        t_s: None,
        detail: format!(
            "{} lab with {}",
            s.system,
            lab.nodes
                .iter()
                .map(|n| format!("{} {}", n.name, n.ip))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        step: None,
    });
    observer.say(&format!("run folder {}", folder.dir.display()));

    let mut record = measured(docker, &lab, file, &mut folder, interrupt, observer).await;

    // Whatever happened, leave no fault in force.
    match fault::restore(docker, &lab).await {
        Ok(done) => {
            if !done.is_empty() {
                observer.say(&format!("restored: {}", done.join("; ")));
            }
            folder.event(&Event {
                at: now_rfc3339(),
                kind: "restore".into(),
                t_s: None,
                detail: if done.is_empty() {
                    "no fault was in force".into()
                } else {
                    done.join("; ")
                },
                step: None,
            });
            record.restored = done;
        }
        Err(e) => {
            let m = format!("restoring the lab failed: {e}");
            observer.say(&m);
            record.restored = vec![m.clone()];
            if record.outcome == Outcome::Passed || record.outcome == Outcome::Failed {
                record.outcome = Outcome::Error;
                record.error = Some(m);
            }
        }
    }
    let kept = opts.keep || !created;
    if kept && !record.restored.is_empty() {
        // Someone will use this lab next: wait (bounded) until it serves again.
        if let Err(e) = lab::wait_ready(docker, &lab, lab.definition.perseus.ready_timeout).await {
            observer.say(&format!("after restoring, the lab is not ready: {e}"));
        }
    }
    // A report that cannot be written must not leave the lab up: take it down first, then say so.
    let written = folder.finish(&record);
    if !kept {
        match lab::down(docker, &s.system).await {
            Ok(r) => {
                let line = format!(
                    "lab {} down: removed {} containers, {} networks, {} volumes",
                    s.system, r.containers, r.networks, r.volumes
                );
                folder.event(&Event {
                    at: now_rfc3339(),
                    kind: "lab-down".into(),
                    t_s: None,
                    detail: line.clone(),
                    step: None,
                });
                observer.say(&line);
            }
            Err(e) => observer.say(&format!("lab down failed: {e}")),
        }
    }
    written?;
    Ok((record, folder.dir.clone()))
}

/// Warm-up, measured load with its timeline, measurement. Never fails: what went wrong is in the
/// record's outcome.
async fn measured(
    docker: &Docker,
    lab: &Lab,
    file: &ScenarioFile,
    folder: &mut RunFolder,
    interrupt: watch::Receiver<bool>,
    observer: &mut dyn Observer,
) -> RunRecord {
    let s = &file.scenario;
    let nodes: Vec<String> = lab.nodes.iter().map(|n| n.name.clone()).collect();
    let mut record = RunRecord {
        scenario: s.clone(),
        run: folder.name(),
        started: String::new(),
        nodes: nodes.clone(),
        outcome: Outcome::Error,
        error: None,
        leader_before: None,
        leader_after: None,
        steps: Vec::new(),
        effects: Vec::new(),
        verdicts: Vec::new(),
        restored: Vec::new(),
        load: None,
    };
    let kind = match lab.driver() {
        Ok(k) => k,
        Err(e) => {
            record.error = Some(e.to_string());
            return record;
        }
    };
    let endpoints = lab.endpoints();

    // Warm-up: until one whole second in which every node served.
    let t = Instant::now();
    let served = warm_up(&kind, &endpoints, s, interrupt.clone()).await;
    folder.event(&Event {
        at: now_rfc3339(),
        kind: "warmup".into(),
        t_s: None,
        detail: match &served {
            Ok(()) => format!(
                "every node served within {:.1} s",
                t.elapsed().as_secs_f64()
            ),
            Err(e) => e.clone(),
        },
        step: None,
    });
    if let Err(e) = served {
        record.outcome = if *interrupt.borrow() {
            Outcome::Interrupted
        } else {
            Outcome::Error
        };
        observer.say(&e);
        record.error = Some(e);
        return record;
    }
    observer.say(&format!(
        "warm-up: every node served within {:.1} s",
        t.elapsed().as_secs_f64()
    ));
    let leaderless = lab
        .leadership()
        .map(|l| l == Leadership::None)
        .unwrap_or(true);
    if !leaderless {
        record.leader_before = leader_now(lab).await;
    }

    // The measured load and, beside it, the timeline, on one clock.
    let opts = LoadOptions {
        duration: s.load.duration,
        clients_per_node: s.load.clients_per_node,
        op_timeout: s.load.op_timeout,
        run_id: load::new_run_id(),
        origin: Some(Instant::now()),
    };
    let origin = opts.origin.unwrap_or_else(Instant::now);
    record.started = now_rfc3339();
    let _ = folder.start_metrics(&nodes);
    folder.event(&Event {
        at: record.started.clone(),
        kind: "load-start".into(),
        t_s: Some(0.0),
        detail: format!(
            "run {}: {} connection(s) per node for {}; leader {}",
            opts.run_id,
            opts.clients_per_node,
            crate::units::show(opts.duration),
            record.leader_before.as_deref().unwrap_or("none")
        ),
        step: None,
    });
    let shared = Mutex::new((observer, &mut *folder));
    let (abort_tx, abort_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(false);
    let interrupted = std::sync::atomic::AtomicBool::new(false);
    let load_stop = {
        let mut abort_rx = abort_rx.clone();
        let mut interrupt = interrupt.clone();
        let interrupted = &interrupted;
        async move {
            tokio::select! {
                _ = interrupt.wait_for(|v| *v) => {
                    interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                _ = abort_rx.wait_for(|v| *v) => {}
            }
        }
    };
    let load_fut = async {
        let summary = load::run_kind(kind, &endpoints, &opts, load_stop, |sec| {
            if let Ok(mut g) = shared.lock() {
                g.0.second(sec, &nodes);
                g.1.metric(sec.sec, &sec.counts);
            }
        })
        .await;
        let _ = done_tx.send(true);
        summary
    };
    let timeline = timeline(docker, lab, file, origin, done_rx, &shared);
    let (summary, (fired, failure)) = tokio::join!(load_fut, async {
        let r = timeline.await;
        if r.1.is_some() {
            let _ = abort_tx.send(true);
        }
        r
    });
    let (observer, folder) = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    let end_s = summary.duration_s;
    let was_interrupted = interrupted.load(std::sync::atomic::Ordering::SeqCst);
    folder.event(&Event {
        at: now_rfc3339(),
        kind: if was_interrupted {
            "interrupted"
        } else {
            "load-end"
        }
        .into(),
        t_s: Some(end_s),
        detail: format!(
            "{} iterations, {} errors, {} lost writes, {} ambiguous writes",
            summary.iterations, summary.errors, summary.lost_writes, summary.ambiguous_writes
        ),
        step: None,
    });
    if !leaderless {
        record.leader_after = leader_now(lab).await;
    }

    let end_us = (summary.duration_s * 1e6).round() as u64;
    let lookback = s.load.op_timeout.max(Duration::from_secs(1)).as_micros() as u64;
    record.effects = analysis::effects(&nodes, &summary.successes, end_us, &fired, lookback);
    record.verdicts = analysis::verdicts(
        s,
        &nodes,
        &summary.successes,
        end_us,
        &fired,
        &record.effects,
        summary.lost_writes,
    );
    record.steps = fired;
    eprint_summary(observer, &summary);
    record.load = Some(summary);
    record.outcome = if let Some(f) = failure {
        record.error = Some(f);
        Outcome::Error
    } else if was_interrupted {
        record.error = Some(format!("interrupted by Ctrl-C at {end_s:.1} s"));
        Outcome::Interrupted
    } else if record.verdicts.iter().all(|v| v.passed) {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    for v in &record.verdicts {
        observer.say(&format!(
            "{} {}: {}",
            if v.passed { "pass" } else { "FAIL" },
            v.expectation,
            v.measured
        ));
    }
    record
}

fn eprint_summary(observer: &mut dyn Observer, summary: &load::summary::Summary) {
    for line in summary.render().lines() {
        observer.say(line);
    }
}

/// The leader now, asked with a bound (a paused or isolated leader must not hold the run up).
async fn leader_now(lab: &Lab) -> Option<String> {
    tokio::time::timeout(Duration::from_secs(5), lab.leader(None))
        .await
        .ok()
        .and_then(|r| r.ok())
        .flatten()
}

/// Run the load until a second in which every node served, at most `warmup`.
async fn warm_up(
    kind: &crate::systems::DriverKind,
    endpoints: &[crate::systems::Endpoint],
    s: &super::Scenario,
    mut interrupt: watch::Receiver<bool>,
) -> std::result::Result<(), String> {
    let (ok_tx, mut ok_rx) = watch::channel(false);
    let last = Mutex::new(Vec::new());
    let opts = LoadOptions {
        duration: s.load.warmup.max(Duration::from_secs(1)),
        clients_per_node: s.load.clients_per_node,
        op_timeout: s.load.op_timeout,
        run_id: load::new_run_id(),
        origin: None,
    };
    let stop = async {
        tokio::select! {
            _ = ok_rx.wait_for(|v| *v) => {}
            _ = interrupt.wait_for(|v| *v) => {}
        }
    };
    load::run_kind(kind.clone(), endpoints, &opts, stop, |sec| {
        if sec.complete && sec.counts.iter().all(|&c| c > 0) {
            let _ = ok_tx.send(true);
        }
        if let Ok(mut l) = last.lock() {
            *l = sec.counts.clone();
        }
    })
    .await;
    if *ok_tx.borrow() {
        return Ok(());
    }
    if *interrupt.borrow() {
        return Err("interrupted by Ctrl-C during the warm-up".into());
    }
    let last = last.into_inner().unwrap_or_default();
    let idle: Vec<&str> = endpoints
        .iter()
        .zip(last.iter().chain(std::iter::repeat(&0)))
        .filter(|(_, c)| **c == 0)
        .map(|(e, _)| e.node.as_str())
        .collect();
    Err(format!(
        "warm-up: no second in {} in which every node served (last second: {} at 0); check `perseus lab status {}`",
        crate::units::show(opts.duration),
        idle.join(", "),
        s.system
    ))
}

type Shared<'a, 'o> = Mutex<(&'a mut (dyn Observer + 'o), &'a mut RunFolder)>;

/// Fire the steps on time until they are done or the load ends. Returns the fired steps and, when
/// one failed, why (the run then stops).
async fn timeline(
    docker: &Docker,
    lab: &Lab,
    file: &ScenarioFile,
    origin: Instant,
    mut done: watch::Receiver<bool>,
    shared: &Shared<'_, '_>,
) -> (Vec<FiredStep>, Option<String>) {
    let s = &file.scenario;
    let mut fired: Vec<FiredStep> = Vec::new();
    let say = |line: &str, ev: Event| {
        if let Ok(mut g) = shared.lock() {
            g.0.say(line);
            g.1.event(&ev);
        }
    };
    for (i, step) in s.steps.iter().enumerate() {
        let due = origin + step.at;
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {}
            _ = done.wait_for(|v| *v) => return (fired, None),
        }
        let fired_at = origin.elapsed();
        let at = now_rfc3339();
        let result = fire(docker, lab, step, &fired).await;
        let applied = origin.elapsed();
        match result {
            Ok((nodes, detail)) => {
                let f = FiredStep {
                    index: i,
                    name: step.name.clone(),
                    fault: step.fault.name().to_string(),
                    aim: aim_text(step),
                    nodes,
                    scheduled_s: step.at.as_secs_f64(),
                    fired_s: fired_at.as_secs_f64(),
                    applied_s: applied.as_secs_f64(),
                    late_ms: (fired_at.saturating_sub(step.at)).as_secs_f64() * 1000.0,
                    at: at.clone(),
                    detail,
                };
                say(
                    &format!(
                        "# {:.3} s {} (+{:.1} ms, in force at {:.3} s): {}",
                        f.fired_s,
                        f.label(),
                        f.late_ms,
                        f.applied_s,
                        f.detail
                    ),
                    Event {
                        at,
                        kind: "step".into(),
                        t_s: Some(f.fired_s),
                        detail: f.label(),
                        step: Some(f.clone()),
                    },
                );
                fired.push(f);
            }
            Err(e) => {
                let why = format!(
                    "step {i} ({}) at {:.3} s failed: {e}",
                    step.describe(),
                    fired_at.as_secs_f64()
                );
                say(
                    &format!("# {why}"),
                    Event {
                        at,
                        kind: "step-failed".into(),
                        t_s: Some(fired_at.as_secs_f64()),
                        detail: why.clone(),
                        step: None,
                    },
                );
                return (fired, Some(why));
            }
        }
    }
    (fired, None)
}

fn aim_text(step: &super::Step) -> String {
    match (&step.target, &step.groups) {
        (Some(t), _) => t
            .list()
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(","),
        (None, Some(g)) => g
            .iter()
            .map(|g| {
                g.iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect::<Vec<_>>()
            .join(" | "),
        _ => String::new(),
    }
}

/// Resolve an aim to nodes now.
async fn resolve(lab: &Lab, aim: &Aim, fired: &[FiredStep]) -> Result<Vec<String>> {
    match aim {
        Aim::Target(t) => Ok(vec![fault::resolve(lab, t).await?]),
        Aim::Step(name) => fired
            .iter()
            .rev()
            .find(|f| f.name.as_deref() == Some(name))
            .map(|f| f.nodes.clone())
            .ok_or_else(|| Error::BadInput(format!("step '{name}' has not fired"))),
    }
}

/// Apply one step; the nodes it acted on and what was done.
async fn fire(
    docker: &Docker,
    lab: &Lab,
    step: &super::Step,
    fired: &[FiredStep],
) -> Result<(Vec<String>, String)> {
    match step.fault {
        FaultKind::Heal => {
            let ev = fault::heal(docker, lab).await?;
            Ok((ev.nodes, ev.detail))
        }
        FaultKind::Partition => {
            let mut groups = Vec::new();
            for g in step.groups.iter().flatten() {
                let mut nodes = Vec::new();
                for a in g {
                    for n in resolve(lab, a, fired).await? {
                        if !nodes.contains(&n) {
                            nodes.push(n);
                        }
                    }
                }
                groups.push(nodes);
            }
            let ev = fault::partition(docker, lab, &groups).await?;
            Ok((ev.nodes, ev.detail))
        }
        FaultKind::Node(f) => {
            let aims: Vec<&Aim> = step.target.as_ref().map(Aims::list).unwrap_or_default();
            let mut nodes: Vec<String> = Vec::new();
            for a in aims {
                for n in resolve(lab, a, fired).await? {
                    if !nodes.contains(&n) {
                        nodes.push(n);
                    }
                }
            }
            let results = futures_util::future::join_all(
                nodes.iter().map(|n| fault::apply(docker, lab, f, n)),
            )
            .await;
            let mut details = Vec::new();
            for (n, r) in nodes.iter().zip(results) {
                details.push(format!("{n}: {}", r?));
            }
            Ok((nodes, details.join("; ")))
        }
    }
}
