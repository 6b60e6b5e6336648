//! The command line: clap types (what the user typed) and one function per command that turns them
//! into calls on the library. No domain logic lives here.

mod live;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use perseus::fault::{self, NodeFault, Target};
use perseus::lab::{self, Home, Lab, UpOptions};
use perseus::load::{self, LoadOptions, Second};
use perseus::report::{Event, Sink, What};
use perseus::status::{self, Depth};
use perseus::Error;
use tokio_util::sync::CancellationToken;

use live::LiveView;

/// A chaos lab for distributed databases: real clusters in Docker, the per-node read-increment-write
/// loop, faults on nodes (kill, stop, pause, isolate, partition, disconnect), and what they cost.
#[derive(Debug, Parser)]
#[command(name = "perseus", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build, start, inspect and remove labs (clusters of one system).
    #[command(subcommand)]
    Lab(LabCommand),
    /// Run the seed loop against every node; one TSV line per second on stdout.
    Load(LoadArgs),
    /// Inject a fault on a node, resolved now: kill, stop, start, pause, resume, isolate,
    /// disconnect, connect, partition, heal.
    #[command(subcommand)]
    Fault(FaultCommand),
    /// The whole experiment in one command: images, lab up, load, kill the leader, restart it,
    /// the measured window and a report in runs/, lab down.
    Demo(DemoArgs),
    /// Carry out scenario files: lab up, warm-up, load with the faults on their timeline, measure,
    /// report into runs/<time>-<name>/, lab down. Exit 1 when an expectation does not hold.
    Run(RunArgs),
    /// Render report.md and plot.svg of a past run again from its folder; prints the report.
    Report {
        /// The run folder (runs/<time>-<name>/).
        run: PathBuf,
    },
    /// The Perseus table: per system, the median unavailability window (and range) of a crashed
    /// and of an isolated leader, in Markdown.
    Table(TableArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
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
    #[arg(long, conflicts_with_all = ["keep", "reuse", "junit"])]
    check: bool,
}

#[derive(Debug, Args)]
struct TableArgs {
    /// The systems, one row each (etcd gryadka ...).
    #[arg(required = true)]
    systems: Vec<String>,
    /// Runs per cell.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Load before the fault.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    before: Duration,
    /// From the fault to the restart (crashed) or heal (isolated).
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    hold: Duration,
    /// Load after the restart or heal.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    after: Duration,
    /// Where run folders go.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
enum LabCommand {
    /// Build the images a system needs, offline, from Debian packages (idempotent).
    Images {
        /// The system (etcd, ...).
        system: String,
        /// Rebuild images that exist (the base image is kept).
        #[arg(long)]
        rebuild: bool,
    },
    /// Start a cluster, wait until it is ready, print the node table.
    Up(UpArgs),
    /// Per node: container state, client endpoint, role, faults in force.
    Status {
        /// The system (optional when exactly one lab is up).
        system: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Add a node to a running lab (n4 after n1..n3), for systems whose members join by
    /// themselves (cockroach, galera); waits until the cluster is ready with it.
    AddNode {
        /// The system (optional when exactly one lab is up).
        system: Option<String>,
    },
    /// Remove a lab: containers, helpers, networks, volumes (idempotent).
    Down {
        /// The system (optional when exactly one lab is up).
        system: Option<String>,
        /// Remove every lab.
        #[arg(long, conflicts_with = "system")]
        all: bool,
    },
}

#[derive(Debug, Args)]
struct UpArgs {
    /// The system (etcd, ...).
    system: String,
    /// Number of nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// A definition file instead of compose/<system>.yaml.
    #[arg(long)]
    file: Option<PathBuf>,
    /// How long to wait for readiness (default: the definition's ready-timeout).
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Run this image instead of the definition's image of the same repository, e.g.
    /// `--image cockroachdb/cockroach:v24.3.3` (repeat for several).
    #[arg(long = "image", value_name = "REPOSITORY:TAG")]
    images: Vec<String>,
}

#[derive(Debug, Args)]
struct LoadArgs {
    /// The system (optional when exactly one lab is up).
    system: Option<String>,
    #[command(flatten)]
    load: LoadFlags,
    /// Print the summary as one JSON line on stderr instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct LoadFlags {
    /// How long to run (e.g. 60s, 5m; at most 24h).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    duration: Duration,
    /// Connections per node, each with its own key.
    #[arg(long, default_value_t = 1)]
    clients_per_node: usize,
    /// Deadline of each connect, read and write.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    op_timeout: Duration,
}

#[derive(Debug, Subcommand)]
enum FaultCommand {
    /// SIGKILL the node's containers: `perseus fault kill [SYSTEM] TARGET`.
    Kill(TargetArgs),
    /// Stop the node gracefully (SIGTERM, then SIGKILL after the grace period).
    Stop(TargetArgs),
    /// Start a killed or stopped node.
    Start(TargetArgs),
    /// Freeze the node's processes (cgroup freezer); its sockets stay open.
    Pause(TargetArgs),
    /// Thaw a paused node.
    Resume(TargetArgs),
    /// Cut the node from its peers in both directions; clients still reach it.
    Isolate(TargetArgs),
    /// Take the node off the lab network entirely (Docker network disconnect).
    Disconnect(TargetArgs),
    /// Put a disconnected node back on the network, at its own address.
    Connect(TargetArgs),
    /// Split the nodes into groups that cannot reach each other: `partition [SYSTEM] n1 n2,n3`.
    Partition {
        /// Optional system, then groups of comma-separated nodes; unnamed nodes form one more group.
        #[arg(required = true, num_args = 1..)]
        args: Vec<String>,
    },
    /// Undo every network fault (isolate, partition, disconnect).
    Heal {
        /// The system (optional when exactly one lab is up).
        system: Option<String>,
    },
}

#[derive(Debug, Args)]
struct TargetArgs {
    /// `[SYSTEM] TARGET`: the system is optional when exactly one lab is up; the target is a node
    /// (n1, n2, ...), leader, follower or random.
    #[arg(required = true, num_args = 1..=2, value_names = ["SYSTEM", "TARGET"])]
    args: Vec<String>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// The system.
    #[arg(long, default_value = "etcd")]
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
struct DemoTimes {
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

fn parse_duration(s: &str) -> Result<Duration, String> {
    perseus::units::parse_duration(s)
}

/// Run the command line; the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    // One thread drives everything: the load loop's connections only wait on sockets, and on the
    // 2-core machines Perseus runs on, the multi-thread scheduler's wake-ups between workers cost
    // about 30% of the loop's ceiling against Redis at 16 connections per node (35k against 51k
    // iterations/s) without adding any.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("perseus: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            let code = e.downcast_ref::<Error>().map(Error::exit_code).unwrap_or(1);
            eprintln!("perseus: {e:#}");
            code
        }
    }
}

fn progress(line: &str) {
    eprintln!("{line}");
}

/// The one way Ctrl-C reaches the library: a token cancelled on the first Ctrl-C, after saying
/// `what` happens now. A second Ctrl-C exits at once (130).
fn interrupt_token(what: &'static str) -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("perseus: stopping: {what} (Ctrl-C again to quit at once)");
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    token
}

async fn run(cli: Cli) -> anyhow::Result<i32> {
    match cli.command {
        Command::Lab(cmd) => lab_command(cmd).await,
        Command::Load(args) => load_command(args).await,
        Command::Fault(cmd) => fault_command(cmd).await,
        Command::Demo(args) => demo(args).await,
        Command::Run(args) => run_command(args).await,
        Command::Report { run } => {
            perseus::report::render(&run)?;
            print!("{}", std::fs::read_to_string(run.join("report.md"))?);
            Ok(0)
        }
        Command::Table(args) => table_command(args).await,
    }
}

async fn lab_command(cmd: LabCommand) -> anyhow::Result<i32> {
    let home = Home::locate()?;
    match cmd {
        LabCommand::Images { system, rebuild } => {
            let def = home.definition(&system, None)?;
            let docker = perseus::docker::connect().await?;
            let specs = def.nodes(3)?;
            lab::images::ensure(&docker, &home.builds(&specs), rebuild, &mut progress).await?;
            Ok(0)
        }
        LabCommand::Up(args) => {
            home.check_system(&args.system)?;
            let docker = perseus::docker::connect().await?;
            let opts = UpOptions {
                nodes: args.nodes,
                file: args.file,
                ready_timeout: args.timeout,
                images: args.images,
            };
            let cancel = interrupt_token("removing what lab up created");
            let handle =
                lab::up(&docker, &home, &args.system, &opts, &cancel, &mut progress).await?;
            let lab = handle.keep();
            let rows = status::status(&docker, &lab, Depth::JustMade).await?;
            print!("{}", status::render(&rows));
            if let Some(url) = lab.admin_url() {
                println!("admin UI: {url}");
            }
            Ok(0)
        }
        LabCommand::AddNode { system } => {
            let docker = perseus::docker::connect().await?;
            let system = lab::resolve_system(&docker, &home, system.as_deref()).await?;
            let cancel = interrupt_token("removing the node add-node created");
            let node = lab::add_node(&docker, &home, &system, &cancel, &mut progress).await?;
            progress(&format!("{} joined {system}", node.name));
            let lab = lab::open(&docker, &home, &system).await?;
            print!(
                "{}",
                status::render(&status::status(&docker, &lab, Depth::Full).await?)
            );
            Ok(0)
        }
        LabCommand::Status { system, json } => {
            let docker = perseus::docker::connect().await?;
            let system = lab::resolve_system(&docker, &home, system.as_deref()).await?;
            let lab = lab::open(&docker, &home, &system).await?;
            let rows = status::status(&docker, &lab, Depth::Full).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                print!("{}", status::render(&rows));
            }
            Ok(0)
        }
        LabCommand::Down { system, all } => {
            let docker = perseus::docker::connect().await?;
            let systems: Vec<String> = if all {
                lab::labs_up(&docker).await?.into_iter().collect()
            } else {
                match system {
                    // Naming a system that is not up is fine: down is idempotent.
                    Some(s) => vec![s],
                    None => match lab::resolve_system(&docker, &home, None).await {
                        Ok(s) => vec![s],
                        Err(Error::NoLabUp { .. }) => {
                            eprintln!("no lab is up: nothing to remove");
                            vec![]
                        }
                        Err(e) => return Err(e.into()),
                    },
                }
            };
            for s in systems {
                let r = lab::down(&docker, &s).await?;
                eprintln!(
                    "lab {s} down: removed {} containers, {} networks, {} volumes",
                    r.containers, r.networks, r.volumes
                );
            }
            Ok(0)
        }
    }
}

/// Open the lab a command means.
async fn open_lab(system: Option<&str>) -> anyhow::Result<(bollard::Docker, Lab)> {
    let home = Home::locate()?;
    let docker = perseus::docker::connect().await?;
    let system = lab::resolve_system(&docker, &home, system).await?;
    let lab = lab::open(&docker, &home, &system).await?;
    Ok((docker, lab))
}

fn load_options(f: &LoadFlags) -> Result<LoadOptions, Error> {
    if f.duration.is_zero() || f.duration > load::MAX_DURATION {
        return Err(Error::BadInput(format!(
            "--duration {} is out of range: give 1s to 24h",
            humantime::format_duration(f.duration)
        )));
    }
    if f.clients_per_node == 0 || f.clients_per_node > 1024 {
        return Err(Error::BadInput(format!(
            "--clients-per-node {} is out of range: give 1 to 1024",
            f.clients_per_node
        )));
    }
    if f.op_timeout < Duration::from_millis(10) {
        return Err(Error::BadInput("--op-timeout must be at least 10ms".into()));
    }
    Ok(LoadOptions {
        duration: f.duration,
        clients_per_node: f.clients_per_node,
        op_timeout: f.op_timeout,
        run_id: load::new_run_id(),
        origin: None,
    })
}

/// Print one second: TSV on stdout (flushed, for pipes), and the live view when there is one.
fn emit(view: &mut Option<LiveView>, s: &Second) {
    let line = load::measure::tsv_line(s.sec, &s.counts);
    match view {
        Some(v) => {
            v.stdout_line(&line);
            v.update(s);
        }
        None => {
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
    }
}

async fn load_command(args: LoadArgs) -> anyhow::Result<i32> {
    let opts = load_options(&args.load)?;
    let (_docker, lab) = open_lab(args.system.as_deref()).await?;
    let endpoints = lab.endpoints();
    let names: Vec<String> = endpoints.iter().map(|e| e.node.clone()).collect();
    eprintln!(
        "load on {} ({}), {} connection(s) per node, run {}: {}",
        lab.system,
        endpoints
            .iter()
            .map(|e| format!("{} {}", e.node, e.addr))
            .collect::<Vec<_>>()
            .join(", "),
        opts.clients_per_node,
        opts.run_id,
        load::measure::tsv_header(&names)
    );
    let mut view = LiveView::new(&names);
    let stop = interrupt_token("ending the load and printing its summary");
    let summary = lab
        .driver()
        .run(&endpoints, &opts, &stop, &mut |s| emit(&mut view, s))
        .await;
    if let Some(v) = view {
        v.finish();
    }
    if args.json {
        eprintln!("{}", serde_json::to_string(&summary)?);
    } else {
        eprint!("{}", summary.render());
    }
    Ok(0)
}

/// Split `[SYSTEM] TARGET` into its parts: one word is the target; two are system and target.
fn split_target(args: &[String]) -> anyhow::Result<(Option<String>, Target)> {
    match args {
        [t] => Ok((None, t.parse()?)),
        [s, t] => Ok((Some(s.clone()), t.parse()?)),
        _ => Err(Error::BadInput(
            "give [SYSTEM] TARGET, e.g. `perseus fault kill etcd leader`".into(),
        )
        .into()),
    }
}

async fn fault_command(cmd: FaultCommand) -> anyhow::Result<i32> {
    let (fault_kind, args) = match cmd {
        FaultCommand::Heal { system } => {
            let (docker, lab) = open_lab(system.as_deref()).await?;
            let ev = fault::heal(&docker, &lab).await?;
            println!("{}", ev.render());
            return Ok(0);
        }
        FaultCommand::Partition { args } => {
            let home = Home::locate()?;
            let (system, groups) = match args.first() {
                Some(first) if home.systems().contains(first) => (Some(first.clone()), &args[1..]),
                _ => (None, &args[..]),
            };
            let groups: Vec<Vec<String>> = groups
                .iter()
                .map(|g| {
                    g.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .collect();
            let (docker, lab) = open_lab(system.as_deref()).await?;
            let ev = fault::partition(&docker, &lab, &groups).await?;
            println!("{}", ev.render());
            return Ok(0);
        }
        FaultCommand::Kill(a) => (NodeFault::Kill, a.args),
        FaultCommand::Stop(a) => (NodeFault::Stop, a.args),
        FaultCommand::Start(a) => (NodeFault::Start, a.args),
        FaultCommand::Pause(a) => (NodeFault::Pause, a.args),
        FaultCommand::Resume(a) => (NodeFault::Resume, a.args),
        FaultCommand::Isolate(a) => (NodeFault::Isolate, a.args),
        FaultCommand::Disconnect(a) => (NodeFault::Disconnect, a.args),
        FaultCommand::Connect(a) => (NodeFault::Connect, a.args),
    };
    let (system, target) =
        split_target(&args).with_context(|| format!("perseus fault {fault_kind}"))?;
    let (docker, lab) = open_lab(system.as_deref()).await?;
    let ev = fault::inject(&docker, &lab, fault_kind, &target).await?;
    println!("{}", ev.render());
    Ok(0)
}

/// `demo`: the crashed-leader experiment as a scenario run (lab up, load, kill the leader, start it
/// again, measure, report, lab down), with the window it cost printed at the end.
async fn demo(args: DemoArgs) -> anyhow::Result<i32> {
    use perseus::scenario::runner::{self, RunOptions};
    use perseus::scenario::table::{self, Experiment};
    let home = Home::locate()?;
    home.check_system(&args.system)?;
    let t = &args.load;
    if t.kill_at.is_zero()
        || t.kill_at >= t.duration
        || t.start_at <= t.kill_at
        || t.start_at >= t.duration
    {
        return Err(Error::BadInput(format!(
            "demo times --kill-at {} --start-at {} --duration {} do not fit: kill-at must come before start-at, and both before the end",
            humantime::format_duration(t.kill_at),
            humantime::format_duration(t.start_at),
            humantime::format_duration(t.duration)
        ))
        .into());
    }
    let def = home.definition(&args.system, None)?;
    let leaderless = !def.system.has_leader();
    let mut scenario = table::scenario(
        &args.system,
        leaderless,
        Experiment::CrashedLeader,
        t.kill_at,
        t.start_at - t.kill_at,
        t.duration - t.start_at,
    );
    scenario.name = format!("{}-demo", args.system);
    let file = perseus::scenario::ScenarioFile::made("(perseus demo)", scenario)?;
    let docker = perseus::docker::connect().await?;
    let opts = RunOptions {
        keep: args.keep,
        reuse: false,
        runs_dir: args.runs_dir.clone(),
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
const RUN_STOPPING: &str = "undoing faults and writing the partial report";

/// What `run` and `table` show while they go: TSV on stdout, the live view and progress on
/// stderr. The terminal's sink of a run's events.
#[derive(Default)]
struct RunView {
    view: Option<LiveView>,
    /// Keep stdout for the command's own result (`table`): seconds go to the live view only.
    no_tsv: bool,
}

impl RunView {
    fn done(&mut self) {
        if let Some(v) = self.view.take() {
            v.finish();
        }
    }

    fn say(&self, line: &str) {
        match &self.view {
            Some(v) => v.println(line),
            None => eprintln!("{line}"),
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
                    self.view = LiveView::new(nodes);
                    let header = load::measure::tsv_header(nodes);
                    match &self.view {
                        Some(v) => v.println(&header),
                        None if self.no_tsv => {}
                        None => eprintln!("{header}"),
                    }
                }
                What::Step { step, .. } => self.say(&step.line()),
                What::StepFailed { detail } => self.say(&format!("# {detail}")),
                What::Warmup { detail } => self.say(&format!("warm-up: {detail}")),
                What::Restore { detail, done } if !done.is_empty() => {
                    self.say(&format!("restored: {detail}"))
                }
                What::LabUp { detail }
                | What::LabReused { detail }
                | What::RestoreFailed { detail }
                | What::LabDown { detail } => self.say(detail),
                What::Restore { .. } | What::LoadEnd { .. } | What::Interrupted { .. } => {}
            },
        }
    }
}

async fn run_command(args: RunArgs) -> anyhow::Result<i32> {
    use perseus::report::{Outcome, Ran};
    use perseus::scenario::runner::{self, RunOptions};
    use perseus::scenario::ScenarioFile;
    let home = Home::locate()?;
    // Every file is checked before anything starts.
    let files = args
        .scenarios
        .iter()
        .map(|p| ScenarioFile::load(p, &home))
        .collect::<Result<Vec<_>, Error>>()?;
    if args.check {
        for f in &files {
            println!(
                "{}: {} on {} with {} nodes, {} step(s), {} expectation(s): ok",
                f.path.display(),
                f.scenario.name,
                f.scenario.system,
                f.scenario.nodes,
                f.scenario.steps.len(),
                f.scenario.expect.len()
            );
        }
        return Ok(0);
    }
    let docker = perseus::docker::connect().await?;
    if !args.reuse {
        let up = lab::labs_up(&docker).await?;
        if let Some(f) = files.iter().find(|f| up.contains(&f.scenario.system)) {
            return Err(Error::BadInput(format!(
                "a {} lab is already up and {} would bring up its own: add --reuse to run on it, or run `perseus lab down {}` first",
                f.scenario.system,
                f.path.display(),
                f.scenario.system
            ))
            .into());
        }
    }
    let opts = RunOptions {
        keep: args.keep,
        reuse: args.reuse,
        runs_dir: args.runs_dir.clone(),
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

async fn table_command(args: TableArgs) -> anyhow::Result<i32> {
    use perseus::scenario::table::{self, TableOptions};
    let home = Home::locate()?;
    for s in &args.systems {
        home.check_system(s)?;
    }
    if args.repeat == 0 || args.repeat > 100 {
        return Err(Error::BadInput(format!(
            "--repeat {} is out of range: give 1 to 100",
            args.repeat
        ))
        .into());
    }
    let opts = TableOptions {
        repeat: args.repeat,
        before: args.before,
        hold: args.hold,
        after: args.after,
        runs_dir: args.runs_dir,
    };
    let docker = perseus::docker::connect().await?;
    let cancel = interrupt_token(RUN_STOPPING);
    let mut view = RunView {
        no_tsv: true,
        ..RunView::default()
    };
    let rows = table::measure(&docker, &home, &args.systems, &opts, &cancel, &mut view).await;
    view.done();
    let rows = rows?;
    print!("{}", table::render(&rows, &opts));
    let failed = rows
        .iter()
        .any(|r| !r.crashed.failed.is_empty() || !r.isolated.failed.is_empty());
    Ok(if failed || cancel.is_cancelled() {
        1
    } else {
        0
    })
}
