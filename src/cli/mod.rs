//! The command line: clap types (what the user typed) and one module per command group that turns
//! them into calls on the library ([`lab`], [`load`], [`fault`], [`run`]: run and demo, [`table`]). No
//! domain logic lives here. Errors become exit codes in one place ([`main`], through
//! [`perseus::Error::exit_code`]), and Ctrl-C reaches the library in one way ([`interrupt_token`]).

mod bisect;
mod check;
mod common;
mod completions;
mod fault;
mod lab;
mod live;
mod load;
mod run;
mod schema;
mod table;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use perseus::Error;

use bisect::BisectArgs;
use check::CheckArgs;
use completions::{CompletionsArgs, ManArgs};
use fault::FaultCommand;
use lab::LabCommand;
use load::LoadArgs;
use run::{DemoArgs, RunArgs};
use table::TableArgs;

/// A chaos lab for distributed databases: real clusters in Docker, the per-node read-increment-write
/// loop, faults on nodes (kill, stop, pause, isolate, partition, disconnect), and what they cost.
#[derive(Debug, Parser)]
#[command(name = "perseus", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How long to wait for a Docker Engine that does not answer (a busy daemon, a socket
    /// hiccup, a restart) before a call fails; every call that is retried is said, and a run's
    /// report lists them. 0s: fail at the first connection error.
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s", value_parser = common::parse_duration)]
    engine_patience: std::time::Duration,
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
    /// Render report.md, report.html and plot.svg of a past run again from its folder; prints the
    /// report.
    Report {
        /// The run folder (runs/<time>-<name>/).
        run: PathBuf,
    },
    /// Check a history (history.edn, Jepsen's format) for linearizability, key by key, against
    /// Knossos' cas-register model: each key no order explains with the operation that breaks
    /// it, each key not decided within the budget as unknown; exit 1 unless every key is
    /// linearizable and the history is whole.
    Check(CheckArgs),
    /// The systems the lab knows: name, implementation, leader targets, and where each image
    /// comes from (built here, or official) and whether it is on this machine.
    Systems {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The Perseus tables, measured: per system, a crashed leader, an isolated leader and an
    /// isolated follower, each repeated; the 2017 and 2018 summaries' columns and the anomalies,
    /// in Markdown on stdout and as table.md and table.json in runs/<time>-table/.
    Table(TableArgs),
    /// A scenario (or a table experiment) on each release of a system, oldest first, and where
    /// its verdict changes: a release is bad after one failing run, good after --runs clean
    /// ones, undecided past --budget; bisect.md on stdout and in runs/<time>-bisect/ with every
    /// run's folder.
    Bisect(BisectArgs),
    /// The JSON Schema of a scenario or a cluster definition, for editors and validators.
    Schema(schema::SchemaArgs),
    /// The shell completion script (bash, zsh or fish) to source: `source <(perseus completions
    /// bash)`; it completes systems, scenario files and fault targets as they are at each TAB.
    Completions(CompletionsArgs),
    /// Write the man pages, one per command (perseus.1, perseus-lab-up.1, ...), into --dir.
    Man(ManArgs),
}

/// Run the command line; the process exit code.
pub fn main() -> i32 {
    completions::complete_from_env();
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

async fn run(cli: Cli) -> anyhow::Result<i32> {
    perseus::docker::set_patience(cli.engine_patience);
    match cli.command {
        Command::Lab(cmd) => lab::lab_command(cmd).await,
        Command::Load(args) => load::load_command(args).await,
        Command::Fault(cmd) => fault::fault_command(cmd).await,
        Command::Demo(args) => run::demo(args).await,
        Command::Run(args) => run::run_command(args).await,
        Command::Report { run } => {
            perseus::report::render(&run)?;
            print!("{}", std::fs::read_to_string(run.join("report.md"))?);
            Ok(0)
        }
        Command::Table(args) => table::table_command(args).await,
        Command::Bisect(args) => bisect::bisect_command(args).await,
        Command::Systems { json } => lab::systems_command(json).await,
        Command::Check(args) => check::check_command(args),
        Command::Schema(args) => schema::schema_command(args),
        Command::Completions(args) => completions::completions_command(args),
        Command::Man(args) => completions::man_command(args),
    }
}
