//! `perseus run` and `perseus demo`: scenarios carried out, and the terminal view of their events
//! (which `perseus table` shares).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use perseus::lab::{self, Home};
use perseus::load;
use perseus::report::{Event, Sink, What};
use perseus::Error;

use super::common::{interrupt_token, parse_duration, MetricsFlag, RateFlags};
use super::live::LiveView;
use super::load::emit;

#[derive(Debug, Args)]
pub(super) struct RunArgs {
    /// Scenario files (scenarios/*.yaml); all are checked before the first one starts.
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
    /// Leave the lab up afterwards.
    #[arg(long)]
    keep: bool,
    /// Use the system's running lab instead of bringing one up (it stays up).
    #[arg(long)]
    reuse: bool,
    /// Write a JUnit XML file: one test suite per scenario, one test case per expectation.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Where run folders go.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// Only parse and check the files against the lab's definitions; run nothing.
    #[arg(long, conflicts_with_all = ["keep", "reuse", "junit", "metrics"])]
    check: bool,
    /// Stop writing each run's history.edn at this size (e.g. 256MiB, 1GiB).
    #[arg(long, default_value = "256MiB", value_parser = perseus::units::parse_bytes)]
    history_max: u64,
    /// Write no history.edn.
    #[arg(long, conflicts_with = "history_max")]
    no_history: bool,
    /// Draw the runs' random choices (random targets, followers, shaped partitions) from this
    /// seed instead of each scenario's own: a report names its seed, so this repeats the run.
    #[arg(long)]
    seed: Option<u64>,
    /// Bring each scenario's lab up across these Docker hosts, members of one Swarm
    /// (comma-separated endpoints, as `perseus lab up --hosts` takes them).
    #[arg(long, value_name = "HOST,HOST,...", conflicts_with = "reuse")]
    hosts: Option<String>,
    #[command(flatten)]
    metrics: MetricsFlag,
    /// Run each scenario's register loop open, at this rate (over what the scenario says).
    #[command(flatten)]
    rates: RateFlags,
}

#[derive(Debug, Args)]
pub(super) struct DemoArgs {
    /// The system, or the system at one of its releases (`etcd@3.5.1`).
    #[arg(long, default_value = "etcd", value_name = "SYSTEM[@VERSION]")]
    system: String,
    #[command(flatten)]
    load: DemoTimes,
    /// Leave the lab up afterwards.
    #[arg(long)]
    keep: bool,
    /// Where the run folder goes.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
}

#[derive(Debug, Args)]
pub(super) struct DemoTimes {
    /// How long the load runs.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// When the leader is killed (into the load).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    kill_at: Duration,
    /// When the killed node is started again (into the load).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    start_at: Duration,
}

/// `demo`: the crashed-leader experiment as a scenario run (lab up, load, kill the leader, start it
/// again, measure, report, lab down), with the window it cost printed at the end.
pub(super) async fn demo(args: DemoArgs) -> anyhow::Result<i32> {
    use perseus::scenario::runner::{self, LabChoice, RunOptions};
    use perseus::table::{self, Experiment};
    let home = Home::locate()?;
    let asked = perseus::lab::SystemRef::parse(&args.system)?;
    home.check_system(&asked.system)?;
    let t = &args.load;
    if t.kill_at.is_zero()
        || t.kill_at >= t.duration
        || t.start_at <= t.kill_at
        || t.start_at >= t.duration
    {
        return Err(Error::Usage(format!(
            "demo times --kill-at {} --start-at {} --duration {} do not fit: kill-at must come before start-at, and both before the end",
            humantime::format_duration(t.kill_at),
            humantime::format_duration(t.start_at),
            humantime::format_duration(t.duration)
        ))
        .into());
    }
    let def = home
        .definition(&asked.system, None)?
        .at(asked.version.as_deref())?;
    let mut scenario = table::scenario(
        &asked,
        def.system.leadership(),
        Experiment::CrashedLeader,
        t.kill_at,
        t.start_at - t.kill_at,
        t.duration - t.start_at,
    );
    scenario.name = format!("{}-demo", asked.to_string().replace('@', "-"));
    let file = perseus::scenario::ScenarioFile::made("(perseus demo)", scenario)?;
    let docker = perseus::docker::connect().await?;
    let opts = RunOptions {
        lab: LabChoice::Own,
        afterwards: afterwards(args.keep),
        runs_dir: args.runs_dir.clone(),
        history_max: Some(perseus::history::DEFAULT_MAX_BYTES),
        hosts: Vec::new(),
        metrics: None,
    };
    let mut view = RunView::default();
    let cancel = interrupt_token(RUN_STOPPING);
    let r = runner::run(&docker, &home, &file, &opts, &cancel, &mut view).await;
    view.done();
    let (rec, dir) = r?;
    if let (Some(step), Some(fx)) = (rec.steps.first(), rec.effects.first()) {
        eprintln!(
            "== {} at {:.2} s: cluster unavailability window {}; leader before {}, after {}",
            step.label(),
            step.fired_s,
            perseus::load::summary::describe(&fx.cluster),
            rec.leader_before.as_deref().unwrap_or("none"),
            rec.leader_after.as_deref().unwrap_or("none")
        );
    }
    eprintln!("== report: {}", dir.join("report.md").display());
    Ok(if rec.outcome == perseus::report::Outcome::Passed {
        0
    } else {
        1
    })
}

/// What `run`, `demo` and `table` say when the first Ctrl-C stops them.
pub(super) const RUN_STOPPING: &str = "undoing faults and writing the partial report";

/// What `run` and `table` show while they go: TSV on stdout, the live view and progress on
/// stderr. The terminal's sink of a run's events.
#[derive(Default)]
pub(super) struct RunView {
    view: Option<LiveView>,
    /// Keep stdout for the command's own result (`table`): seconds go to the live view only.
    no_tsv: bool,
    /// The table's progress bar: lines are printed above it, and no per-run live view is drawn.
    bar: Option<indicatif::ProgressBar>,
}

impl RunView {
    /// The view of `perseus table`: no TSV on stdout, lines above `bar` when there is one.
    pub(super) fn for_table(bar: Option<indicatif::ProgressBar>) -> RunView {
        RunView {
            view: None,
            no_tsv: true,
            bar,
        }
    }

    pub(super) fn done(&mut self) {
        if let Some(v) = self.view.take() {
            v.finish();
        }
    }

    fn say(&self, line: &str) {
        match (&self.view, &self.bar) {
            (Some(v), _) => v.println(line),
            (None, Some(b)) => b.println(line),
            (None, None) => eprintln!("{line}"),
        }
    }
}

impl Sink for RunView {
    fn event(&mut self, event: &Event) {
        match event {
            Event::Say(line) => self.say(line),
            Event::Second(s) => {
                if self.no_tsv {
                    if let Some(v) = &mut self.view {
                        v.update(s);
                    }
                } else {
                    emit(&mut self.view, s);
                }
            }
            Event::Entry(e) => match &e.what {
                What::LoadStart { nodes, .. } => {
                    self.done();
                    if self.bar.is_none() {
                        self.view = LiveView::new(nodes);
                    }
                    let header = load::measure::tsv_header(nodes);
                    match &self.view {
                        Some(v) => v.println(&header),
                        None if self.no_tsv => {}
                        None => eprintln!("{header}"),
                    }
                }
                What::Step { step } => self.say(&step.line()),
                w @ (What::StepFailed { .. } | What::Promotion { .. }) => {
                    self.say(&format!("# {}", w.detail()))
                }
                w @ What::Warmup { .. } => self.say(&format!("warm-up: {}", w.detail())),
                w @ What::Restore { done } if !done.is_empty() => {
                    self.say(&format!("restored: {}", w.detail()))
                }
                w @ (What::LabUp { .. }
                | What::LabReused { .. }
                | What::RestoreFailed { .. }
                | What::LabDown { .. }) => self.say(&w.detail()),
                What::Restore { .. } | What::LoadEnd { .. } | What::Interrupted { .. } => {}
            },
        }
    }
}

pub(super) async fn run_command(args: RunArgs) -> anyhow::Result<i32> {
    use perseus::report::{Outcome, Ran};
    use perseus::scenario::runner::{self, LabChoice, RunOptions};
    use perseus::scenario::ScenarioFile;
    let home = Home::locate()?;
    // Every file is checked before anything starts.
    let files = args
        .scenarios
        .iter()
        .map(|p| {
            let mut f = ScenarioFile::load(p, &home)?;
            args.rates.apply(&mut f.scenario)?;
            if args.seed.is_some() {
                f.scenario.seed = args.seed;
            }
            Ok(f)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if args.check {
        for f in &files {
            println!(
                "{}: {} on {} with {} nodes, {} step(s){}, {} expectation(s): ok",
                f.path.display(),
                f.scenario.name,
                f.scenario.system,
                f.scenario.nodes,
                f.scenario.steps.len(),
                match f.scenario.firings().len() {
                    n if n > f.scenario.steps.len() => format!(" firing {n} times"),
                    _ => String::new(),
                },
                f.scenario.expect.len()
            );
        }
        return Ok(0);
    }
    let docker = perseus::docker::connect().await?;
    if !args.reuse {
        let up = lab::labs_up(&docker).await?;
        if let Some(f) = files
            .iter()
            .find(|f| up.contains(&f.scenario.system.system))
        {
            return Err(Error::Usage(format!(
                "a {} lab is already up and {} would bring up its own: add --reuse to run on it, or run `perseus lab down {}` first",
                f.scenario.system.system,
                f.path.display(),
                f.scenario.system.system
            ))
            .into());
        }
    }
    // Served until the last scenario is done.
    let served = args.metrics.serve().await?;
    let opts = RunOptions {
        lab: if args.reuse {
            LabChoice::Running
        } else {
            LabChoice::Own
        },
        afterwards: afterwards(args.keep),
        runs_dir: args.runs_dir.clone(),
        history_max: (!args.no_history).then_some(args.history_max),
        hosts: match &args.hosts {
            Some(list) => perseus::lab::hosts::parse_hosts(list)?,
            None => Vec::new(),
        },
        metrics: served.as_ref().map(|(m, _)| m.clone()),
    };
    let cancel = interrupt_token(RUN_STOPPING);
    let mut results = Vec::new();
    let mut code = 0;
    for f in &files {
        if cancel.is_cancelled() {
            break;
        }
        let mut view = RunView::default();
        let r = runner::run(&docker, &home, f, &opts, &cancel, &mut view).await;
        view.done();
        match r {
            Ok((rec, dir)) => {
                eprintln!(
                    "== {}: {}; report {}",
                    f.scenario.name,
                    rec.outcome.word(),
                    dir.join("report.md").display()
                );
                if rec.outcome != Outcome::Passed {
                    code = code.max(1);
                }
                results.push(Ran::Record(Box::new(rec)));
            }
            Err(e) => {
                eprintln!("perseus: {}: {e}", f.path.display());
                code = code.max(e.exit_code());
                results.push(Ran::NotRun {
                    name: f.scenario.name.clone(),
                    error: e.to_string(),
                });
            }
        }
    }
    if let Some(path) = &args.junit {
        std::fs::write(path, perseus::report::junit(&results))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("JUnit: {}", path.display());
    }
    Ok(code)
}

/// `--keep`: leave the lab up after the run, instead of taking it down.
fn afterwards(keep: bool) -> perseus::scenario::runner::Afterwards {
    use perseus::scenario::runner::Afterwards;
    if keep {
        Afterwards::Keep
    } else {
        Afterwards::Down
    }
}
