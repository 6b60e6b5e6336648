//! `perseus check`: a history checked again from the file, key by key.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use perseus::checker::{self, Options, Verdict};
use perseus::workload;
use perseus::Error;

/// Whether the file's first 64 KiB show a list-append or bank history (a file that cannot be
/// read is left to the register checker, which says why).
fn is_txn_history(path: &std::path::Path) -> bool {
    use std::io::Read as _;
    let mut head = vec![0u8; 64 * 1024];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    workload::history::is_txn_history(&String::from_utf8_lossy(&head[..n]))
}

/// `perseus check FILE`.
#[derive(Debug, Args)]
pub(super) struct CheckArgs {
    /// The history (a run folder's history.edn, `perseus load --history FILE`, or any Jepsen
    /// register, Elle list-append or bank history: one map per line or one vector of maps).
    history: PathBuf,
    /// The register's initial value: an integer, or `nil` (Knossos' `(cas-register)`).
    /// Perseus' histories start at 0.
    #[arg(long, default_value = "0", value_parser = parse_initial)]
    initial: Initial,
    /// Configurations one key may make before its verdict is unknown.
    #[arg(long, default_value_t = checker::DEFAULT_MAX_STATES)]
    max_states: u64,
    /// The time the whole history may take; keys not decided by then are unknown.
    #[arg(long, default_value = "5m", value_parser = super::common::parse_duration)]
    time_limit: Duration,
    /// Print the report as JSON on stdout instead of lines.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy)]
struct Initial(Option<i64>);

fn parse_initial(s: &str) -> Result<Initial, String> {
    if s == "nil" {
        return Ok(Initial(None));
    }
    s.parse::<i64>()
        .map(|v| Initial(Some(v)))
        .map_err(|_| format!("'{s}' is neither an integer nor nil"))
}

/// Exit 0 when every key is linearizable; 1 when one is not, one is unknown, or the history
/// was cut; 2 when the file is not a history.
pub(super) fn check_command(args: CheckArgs) -> anyhow::Result<i32> {
    let opts = Options {
        initial: args.initial.0,
        max_states: args.max_states,
        time_limit: args.time_limit,
    };
    if args.max_states == 0 {
        return Err(Error::Usage("--max-states must be at least 1".into()).into());
    }
    if is_txn_history(&args.history) {
        let verdict = workload::history::check_file(&args.history)?;
        if args.json {
            println!("{}", serde_json::to_string(&verdict)?);
        } else {
            print!("{}", verdict.render());
        }
        return Ok(if verdict.valid() { 0 } else { 1 });
    }
    let report = checker::check(&args.history, &opts)?;
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        for k in &report.keys {
            let name = if k.key.is_empty() {
                "the register"
            } else {
                &k.key
            };
            match &k.verdict {
                Verdict::Linearizable => {}
                Verdict::NotLinearizable => {
                    println!(
                        "{name}: not linearizable: {} of {} acknowledged operations no order explains",
                        k.violations, k.ok
                    );
                    for line in k.explain() {
                        println!("  {line}");
                    }
                }
                Verdict::Unknown { why, .. } => println!("{name}: unknown: {why}"),
            }
        }
    }
    if let Some((line, mark)) = &report.truncated {
        eprintln!(
            "{}:{line}: the history stops here, cut at its size cap or short of a full disk ({}): what came after is not checked",
            args.history.display(),
            mark.trim_start_matches(';').trim()
        );
    }
    eprintln!(
        "{}: {} ({:.1} s)",
        args.history.display(),
        report.describe(),
        report.elapsed_s
    );
    Ok(if report.valid() { 0 } else { 1 })
}
