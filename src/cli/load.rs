//! `perseus load`: the seed loop against every node, TSV on stdout, the live view on stderr.

use std::io::Write as _;
use std::time::Duration;

use clap::Args;
use perseus::load::{self, LoadOptions, Second};
use perseus::Error;

use super::lab::open_lab;
use super::live::LiveView;
use super::{interrupt_token, parse_duration};

#[derive(Debug, Args)]
pub(super) struct LoadArgs {
    /// The system (optional when exactly one lab is up).
    system: Option<String>,
    #[command(flatten)]
    load: LoadFlags,
    /// Print the summary as one JSON line on stderr instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(super) struct LoadFlags {
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
pub(super) fn emit(view: &mut Option<LiveView>, s: &Second) {
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

pub(super) async fn load_command(args: LoadArgs) -> anyhow::Result<i32> {
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
