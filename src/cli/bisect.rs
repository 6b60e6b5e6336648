//! `perseus bisect`: a scenario (or a table experiment) on each release of a system, and where
//! its verdict changes; each probe printed as it goes, `bisect.md` on stdout at the end.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use perseus::bisect::{self, BisectOptions, Search};
use perseus::lab::{Home, SystemRef};
use perseus::scenario::ScenarioFile;
use perseus::table::{self, Experiment};
use perseus::Error;

use super::common::{interrupt_token, parse_duration, MetricsFlag};
use super::run::{RunView, RUN_STOPPING};

#[derive(Debug, Args)]
pub(super) struct BisectArgs {
    /// The scenario file whose verdict is bisected (its `system:` names the system; a release
    /// written there is ignored).
    #[arg(required_unless_present_any = ["experiment", "resume"], conflicts_with_all = ["experiment", "resume"])]
    scenario: Option<PathBuf>,
    /// Go on with a bisect that was stopped (Ctrl-C, a crash) from its folder
    /// (runs/<time>-bisect/): the releases it decided are kept, a probe it stopped keeps its
    /// runs, the rest are probed with the scenario, range and settings it was started with.
    #[arg(long, value_name = "FOLDER", conflicts_with_all = ["experiment", "versions", "runs", "budget", "binary", "runs_dir"])]
    resume: Option<PathBuf>,
    /// Bisect a table experiment instead of a scenario file (with --system): the fault at
    /// --before, restored --hold later, --after more load; it fails on any lost write or
    /// anomaly.
    #[arg(long, value_enum, requires = "system")]
    experiment: Option<ExperimentArg>,
    /// The system of --experiment.
    #[arg(long, requires = "experiment")]
    system: Option<String>,
    /// Load before the experiment's fault.
    #[arg(long, default_value = "5s", value_parser = parse_duration, requires = "experiment")]
    before: Duration,
    /// How long the experiment's fault lasts.
    #[arg(long, default_value = "10s", value_parser = parse_duration, requires = "experiment")]
    hold: Duration,
    /// Load after the experiment's restart or heal.
    #[arg(long, default_value = "10s", value_parser = parse_duration, requires = "experiment")]
    after: Duration,
    /// The releases: FROM..TO (inclusive, in the order `perseus systems` lists them) or
    /// A,B,C; default: every release the definition lists.
    #[arg(long, value_name = "FROM..TO|A,B,...")]
    versions: Option<String>,
    /// Clean runs that mark a release good (one failing run marks it bad).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// The most runs at one release (runs that could not be made count too); a release not
    /// decided within it is undecided. Default: twice --runs.
    #[arg(long)]
    budget: Option<usize>,
    /// Binary search instead of probing every release: about log2(n) releases, and right only
    /// if the verdict changes exactly once in the range.
    #[arg(long)]
    binary: bool,
    /// Where the bisect's folder goes (it holds every run's folder).
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    #[command(flatten)]
    metrics: MetricsFlag,
}

/// `--experiment`'s values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ExperimentArg {
    CrashedLeader,
    IsolatedLeader,
    IsolatedFollower,
}

pub(super) async fn bisect_command(args: BisectArgs) -> anyhow::Result<i32> {
    let home = Home::locate()?;
    if let Some(folder) = &args.resume {
        let served = args.metrics.serve().await?;
        let docker = perseus::docker::connect().await?;
        let cancel = interrupt_token(RUN_STOPPING);
        let mut view = RunView::for_table(None);
        let mut say = |l: &str| eprintln!("{l}");
        let done = bisect::resume(
            &docker,
            &home,
            folder,
            served.as_ref().map(|(m, _)| m.clone()),
            &cancel,
            &mut view,
            &mut say,
        )
        .await;
        view.done();
        return finish(done?);
    }
    if args.runs == 0 || args.runs > 100 {
        return Err(Error::Usage(format!(
            "--runs {} is out of range: give 1 to 100 clean runs",
            args.runs
        ))
        .into());
    }
    let budget = args.budget.unwrap_or(args.runs * 2);
    if budget < args.runs {
        return Err(Error::Usage(format!(
            "--budget {budget} is below --runs {}: a release could never be called good",
            args.runs
        ))
        .into());
    }
    let file = match (&args.scenario, args.experiment, &args.system) {
        (Some(path), _, _) => ScenarioFile::load(path, &home)?,
        (None, Some(exp), Some(system)) => {
            let system = SystemRef::parse(system)?;
            let def = home.definition(&system.system, None)?;
            let exp = match exp {
                ExperimentArg::CrashedLeader => Experiment::CrashedLeader,
                ExperimentArg::IsolatedLeader => Experiment::IsolatedLeader,
                ExperimentArg::IsolatedFollower => Experiment::IsolatedFollower,
            };
            let leadership = def.system.leadership();
            if !Experiment::for_system(leadership).contains(&exp) {
                return Err(Error::Usage(format!(
                    "{} has no leader, so it has no {} experiment: use crashed-leader or isolated-leader (they hit n1)",
                    system.system,
                    exp.name()
                ))
                .into());
            }
            let mut s =
                table::scenario(&system, leadership, exp, args.before, args.hold, args.after);
            s.name = format!("{}-bisect-{}", system.system, exp.name());
            ScenarioFile::made(&format!("(perseus bisect --experiment {})", exp.name()), s)?
        }
        _ => unreachable!("clap requires a scenario or --experiment with --system"),
    };
    let system = file.scenario.system.system.clone();
    let versions = bisect::releases(&home, &system, args.versions.as_deref())?;
    // Served until the bisect is done.
    let served = args.metrics.serve().await?;
    let opts = BisectOptions {
        metrics: served.as_ref().map(|(m, _)| m.clone()),
        runs: args.runs,
        budget,
        search: if args.binary {
            Search::Binary
        } else {
            Search::Scan
        },
        runs_dir: args.runs_dir,
    };
    eprintln!(
        "bisect: {} on {system} {}..{} ({} releases; {}; {} clean runs mark a release good, at most {budget} runs each)",
        file.scenario.name,
        versions[0],
        versions[versions.len() - 1],
        versions.len(),
        if args.binary { "binary search" } else { "every release" },
        args.runs,
    );
    let docker = perseus::docker::connect().await?;
    let cancel = interrupt_token(RUN_STOPPING);
    let mut view = RunView::for_table(None);
    let mut say = |l: &str| eprintln!("{l}");
    let done = bisect::bisect(
        &docker, &home, &file, versions, &opts, &cancel, &mut view, &mut say,
    )
    .await;
    view.done();
    finish(done?)
}

/// Print `bisect.md` and where the folder is; the exit code.
fn finish(b: bisect::Bisect) -> anyhow::Result<i32> {
    print!("{}", bisect::markdown(&b));
    eprintln!(
        "bisect: {} and every run's folder are in {}",
        b.folder.join("bisect.md").display(),
        b.folder.display()
    );
    // Its verdicts are findings (exit 0); a bisect cut short, or one that decided nothing,
    // did not do its job (exit 1).
    Ok(if b.interrupted || b.decided() == 0 {
        1
    } else {
        0
    })
}
