//! `perseus table`: the systems asked (or every one that runs here), measured one after another,
//! with a progress bar on stderr and the tables on stdout.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use perseus::lab::Home;
use perseus::table::{self, Progress, Selection, TableFaults, TableOptions};
use perseus::workload::{Isolation, Workload};
use perseus::Error;

use super::common::{interrupt_token, parse_duration, MetricsFlag, RateFlags};
use super::run::{RunView, RUN_STOPPING};

#[derive(Debug, Args)]
pub(super) struct TableArgs {
    /// The systems, one row each (etcd gryadka ...); a system at one of its releases
    /// (`nats@2.9.10 nats@2.15.1`) gets a row for each.
    #[arg(required_unless_present_any = ["all", "render", "resume"], conflicts_with_all = ["all", "render", "resume"])]
    systems: Vec<String>,
    /// Go on with a table that was stopped (Ctrl-C, a crash) from its folder (runs/<time>-table/):
    /// the runs it has are kept, the others made with the options it was started with, and the
    /// tables written as if it had never stopped.
    #[arg(long, value_name = "FOLDER", conflicts_with_all = ["all", "render", "plan", "repeat", "before", "hold", "after", "runs_dir", "workload", "isolation", "replica_reads", "fault", "rate", "rate_per_node", "max_clients_per_node"])]
    resume: Option<PathBuf>,
    /// Measure a past table again from its folder (runs/<time>-table/): every run's summary read
    /// back, table.md and table.json rewritten, the tables printed; nothing is run.
    #[arg(long, value_name = "FOLDER", conflicts_with_all = ["all", "plan", "repeat", "before", "hold", "after", "runs_dir"])]
    render: Option<PathBuf>,
    /// Every system that runs here: those built from Debian packages, and those whose official
    /// images are on this Engine.
    #[arg(long)]
    all: bool,
    /// Print the systems, the experiments and about how long they take; run nothing.
    #[arg(long)]
    plan: bool,
    /// Runs per experiment.
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
    /// Where the table's folder (runs/<time>-table/) goes.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// A transactional workload every run runs beside the register loop (list-append, bank),
    /// its anomalies in the loss column (docs/workloads.md).
    #[arg(long, value_enum, default_value_t = Workload::Register)]
    workload: Workload,
    /// The transactions' isolation level (default: each system's own).
    #[arg(long, value_enum)]
    isolation: Option<Isolation>,
    /// Run read-only transactions at each node's own copy (its definition's read port), as
    /// `perseus load --replica-reads`.
    #[arg(long)]
    replica_reads: bool,
    /// Which experiments: the seeds' three (crashed leader, isolated leader and follower), or
    /// power-loss (every node's power cut at once, its lab under the lazy file system; the
    /// restart comes after --hold).
    #[arg(long, value_enum, default_value_t = FaultArg::Seeds)]
    fault: FaultArg,
    #[command(flatten)]
    metrics: MetricsFlag,
    /// Run each experiment's register loop open, at this rate.
    #[command(flatten)]
    rates: RateFlags,
}

/// `--fault`'s values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FaultArg {
    Seeds,
    PowerLoss,
}

/// What `perseus table` was asked to do.
enum Job {
    /// A new table of these systems, with these options.
    Fresh(Selection, TableOptions),
    /// Go on with the stopped table in this folder.
    Resume(PathBuf),
}

/// About how long, in minutes (`about 6 min`).
fn about(d: Duration) -> String {
    format!("about {} min", d.as_secs().div_ceil(60))
}

pub(super) async fn table_command(args: TableArgs) -> anyhow::Result<i32> {
    if let Some(folder) = &args.render {
        let t = table::render_again(folder)?;
        print!("{}", table::render(&t.rows, &t.options));
        eprintln!("table: {} written again", folder.join("table.md").display());
        return Ok(0);
    }
    let home = Home::locate()?;
    let systems = args
        .systems
        .iter()
        .map(|s| perseus::lab::SystemRef::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    for s in &systems {
        home.check_system(&s.system)?;
    }
    if args.repeat == 0 || args.repeat > 100 {
        return Err(Error::Usage(format!(
            "--repeat {} is out of range: give 1 to 100",
            args.repeat
        ))
        .into());
    }
    if args.hold.is_zero() || args.before.is_zero() || args.after < Duration::from_secs(1) {
        return Err(Error::Usage(format!(
            "--before {} --hold {} --after {} do not fit: the fault needs load before it, a hold, and at least 1s of load after the restore",
            humantime::format_duration(args.before),
            humantime::format_duration(args.hold),
            humantime::format_duration(args.after)
        ))
        .into());
    }
    if args.workload == Workload::Register && (args.isolation.is_some() || args.replica_reads) {
        return Err(Error::Usage(
            "--isolation and --replica-reads are for the transactional workloads: add --workload list-append or --workload bank".into(),
        )
        .into());
    }
    // Served until the table is done.
    let served = args.metrics.serve().await?;
    let metrics = served.as_ref().map(|(m, _)| m.clone());
    let docker = perseus::docker::connect().await?;
    let job = match &args.resume {
        Some(folder) => Job::Resume(folder.clone()),
        None => {
            let opts = TableOptions {
                repeat: args.repeat,
                before: args.before,
                hold: args.hold,
                after: args.after,
                runs_dir: args.runs_dir,
                workload: args.workload,
                isolation: args.isolation,
                replica_reads: args.replica_reads,
                faults: match args.fault {
                    FaultArg::Seeds => TableFaults::Seeds,
                    FaultArg::PowerLoss => TableFaults::PowerLoss,
                },
                metrics: metrics.clone(),
                rate: args.rates.rate,
                rate_per_node: args.rates.rate_per_node,
                max_clients_per_node: args.rates.max_clients_per_node,
            };
            args.rates.schedule(3)?;
            let selection = if args.all {
                table::runnable_here(&docker, &home).await?
            } else {
                Selection {
                    systems,
                    skipped: Vec::new(),
                }
            };
            let plan = table::plan(&home, &selection.systems, &opts)?;
            let (runs, time) = (plan.runs, plan.time);
            if args.plan {
                for (s, experiments) in &plan.systems {
                    let names: Vec<&str> = experiments.iter().map(|e| e.name()).collect();
                    println!("{s}: {} x {}", names.join(", "), opts.repeat);
                }
                for s in &selection.skipped {
                    println!("left out: {s}");
                }
                println!(
                    "{runs} runs of {} load, {}",
                    humantime::format_duration(opts.load()),
                    about(time)
                );
                return Ok(0);
            }
            eprintln!(
                "table: {} system(s), {runs} runs of {} load, {}",
                selection.systems.len(),
                humantime::format_duration(opts.load()),
                about(time)
            );
            for s in &selection.skipped {
                eprintln!("table: left out {s}");
            }
            Job::Fresh(selection, opts)
        }
    };
    let bar = {
        use std::io::IsTerminal;
        std::io::stderr().is_terminal().then(|| {
            // Its length comes with the first progress (a resumed table's from its folder).
            let b = indicatif::ProgressBar::new(0);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} runs, {eta} left: {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.enable_steady_tick(Duration::from_secs(1));
            b
        })
    };
    let shown = bar.clone();
    let started = std::time::Instant::now();
    let mut progress = move |p: &Progress| match &shown {
        Some(b) => {
            b.set_length(p.total as u64);
            b.set_position(p.done as u64);
            b.set_message(p.what.clone());
        }
        None => {
            let left = if p.done > 0 {
                let per = started.elapsed() / p.done as u32;
                format!(", {} left", about(per * (p.total - p.done) as u32))
            } else {
                String::new()
            };
            eprintln!("table: {}/{} runs done{left}: {}", p.done, p.total, p.what);
        }
    };
    let cancel = interrupt_token(RUN_STOPPING);
    let mut view = RunView::for_table(bar.clone());
    let measured = match job {
        Job::Fresh(selection, opts) => {
            table::measure(
                &docker,
                &home,
                selection,
                &opts,
                &cancel,
                &mut view,
                &mut progress,
            )
            .await
        }
        Job::Resume(folder) => {
            table::resume(
                &docker,
                &home,
                &folder,
                metrics,
                &cancel,
                &mut view,
                &mut progress,
            )
            .await
        }
    };
    view.done();
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let t = measured?;
    print!("{}", table::render(&t.rows, &t.options));
    eprintln!(
        "table: {} in {}; every run's folder is in {}",
        t.folder.join("table.md").display(),
        humantime::format_duration(Duration::from_secs(started.elapsed().as_secs())),
        t.folder.display()
    );
    Ok(if t.failed() || t.interrupted { 1 } else { 0 })
}
