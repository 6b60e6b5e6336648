//! `perseus load`: the seed loop against every node, TSV on stdout, the live view on stderr.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use perseus::history::HistoryWriter;
use perseus::load::{self, LoadOptions, Second};
use perseus::node::NodeName;
use perseus::workload::{self, Isolation, TxnOptions, Workload};
use perseus::Error;

use super::common::{interrupt_token, parse_duration, MetricsFlag, RateFlags};
use super::lab::open_lab;
use super::live::LiveView;

#[derive(Debug, Args)]
pub(super) struct LoadArgs {
    /// The system (optional when exactly one lab is up).
    system: Option<String>,
    #[command(flatten)]
    load: LoadFlags,
    /// Print the summary as one JSON line on stderr instead of a table.
    #[arg(long)]
    json: bool,
    /// Write every operation to FILE in Jepsen's history format (EDN), for Jepsen's checkers.
    #[arg(long, value_name = "FILE")]
    history: Option<PathBuf>,
    /// What to run: the seeds' register loop, Elle's list-append transactions, or Jepsen's bank
    /// (the transactional workloads need a system with transactions).
    #[arg(long, value_enum, default_value_t = Workload::Register)]
    workload: Workload,
    /// The isolation level each transaction begins at (list-append and bank; default: the
    /// system's own).
    #[arg(long, value_enum)]
    isolation: Option<Isolation>,
    /// Seed of the transactional workloads' requests (default: drawn, and printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Run read-only transactions at each node's own copy (its definition's read port: a
    /// replica's on every node but the primary's), as an application reading from replicas
    /// does; writes still go through the client port.
    #[arg(long)]
    replica_reads: bool,
    /// Stop writing the history at this size (e.g. 256MiB, 1GiB).
    #[arg(long, default_value = "256MiB", value_parser = perseus::units::parse_bytes, requires = "history")]
    history_max: u64,
    #[command(flatten)]
    metrics: MetricsFlag,
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
    #[command(flatten)]
    rates: RateFlags,
}

/// The load's options for `nodes` nodes. Errors: [`Error::Usage`] naming the flag out of range.
fn load_options(f: &LoadFlags, nodes: usize) -> Result<LoadOptions, Error> {
    if f.duration.is_zero() || f.duration > load::MAX_DURATION {
        return Err(Error::Usage(format!(
            "--duration {} is out of range: give 1s to 24h",
            humantime::format_duration(f.duration)
        )));
    }
    if f.clients_per_node == 0 || f.clients_per_node > 1024 {
        return Err(Error::Usage(format!(
            "--clients-per-node {} is out of range: give 1 to 1024",
            f.clients_per_node
        )));
    }
    if f.op_timeout < Duration::from_millis(10) {
        return Err(Error::Usage("--op-timeout must be at least 10ms".into()));
    }
    let open = f.rates.schedule(nodes)?;
    Ok(LoadOptions {
        duration: f.duration,
        clients_per_node: f.clients_per_node,
        op_timeout: f.op_timeout,
        run_id: load::new_run_id(),
        origin: None,
        history: None,
        metrics: None,
        open,
    })
}

/// The nodes as the first line names them: `n1 10.77.0.11:2379, n2 ...`.
fn addresses(lab: &perseus::lab::Lab) -> String {
    lab.endpoints()
        .iter()
        .map(|e| format!("{} {}", e.node, e.addr))
        .collect::<Vec<_>>()
        .join(", ")
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
    // The flags' form now, before any lab is looked for; a cluster-wide rate is checked
    // against the lab's node count once it is open (as many nodes as can be, here, so that a
    // rate the nodes share is not refused as if one node took it all).
    load_options(&args.load, usize::MAX)?;
    if args.workload != Workload::Register && args.load.rates.given() {
        return Err(Error::Usage(format!(
            "--rate drives the register loop; {} runs closed: drop --rate, or run --workload register",
            args.workload
        ))
        .into());
    }
    if args.workload == Workload::Register
        && (args.isolation.is_some() || args.seed.is_some() || args.replica_reads)
    {
        return Err(Error::Usage(
            "--isolation, --seed and --replica-reads are for the transactional workloads: add --workload list-append or --workload bank".into(),
        )
        .into());
    }
    let lab = open_lab(args.system.as_deref()).await?;
    let mut opts = load_options(&args.load, lab.endpoints().len())?;
    let served = args.metrics.serve().await?;
    if let Some((m, _)) = &served {
        let names: Vec<String> = lab.node_names().iter().map(|n| n.to_string()).collect();
        m.begin_run(&opts.run_id, &lab.system.to_string(), &names);
        opts.metrics = Some(m.clone());
    }
    if args.workload != Workload::Register {
        return txn_command(&args, opts, &lab).await;
    }
    let endpoints = lab.endpoints();
    let names: Vec<NodeName> = endpoints.iter().map(|e| e.node.clone()).collect();
    let loop_kind = match &opts.open {
        Some(o) => format!(
            "open loop at {}/s per node (up to {} connections each)",
            o.rate_per_node, o.max_clients_per_node
        ),
        None => format!("{} connection(s) per node", opts.clients_per_node),
    };
    eprintln!(
        "load on {} ({}), {loop_kind}, run {}: {}",
        lab.system,
        addresses(&lab),
        opts.run_id,
        load::measure::tsv_header(&names)
    );
    let origin = Instant::now();
    let history = match &args.history {
        Some(path) => {
            let conns = opts.first_free_process(endpoints.len());
            Some(HistoryWriter::create(path, args.history_max, origin, conns, &opts.run_id).await?)
        }
        None => None,
    };
    opts.origin = Some(origin);
    opts.history = history.as_ref().map(HistoryWriter::history);
    let mut view = LiveView::new(&names);
    let stop = interrupt_token("ending the load and printing its summary");
    let driver = lab.driver();
    let mut on_second = |s: &Second| emit(&mut view, s);
    let run = driver.run(&endpoints, &opts, &stop, &mut on_second);
    let mut summary = match &opts.metrics {
        // The faults come from other commands (`perseus fault`): read from the lab as
        // `lab status` shows them, every few seconds, while the load runs.
        Some(m) => {
            let watch = perseus::status::watch_faults(&lab, m);
            tokio::select! {
                s = run => s,
                never = watch => match never {},
            }
        }
        None => run.await,
    };
    if let Some(v) = view {
        v.finish();
    }
    // After its last second, every key is read again through its own node, and the history is
    // checked again from the file. A history that could not be written or read back still
    // leaves the summary, and the exit code says so.
    opts.history = None;
    let timeout = load::FINAL_READ_TIMEOUT.max(opts.op_timeout);
    let concluded =
        load::conclude(&*driver, &endpoints, &mut summary, timeout, history, origin).await;
    if args.json {
        eprintln!("{}", serde_json::to_string(&summary)?);
    } else {
        eprint!("{}", summary.render());
    }
    match concluded {
        Ok(()) => Ok(0),
        Err(e) => {
            eprintln!("perseus: the history could not be written or checked: {e}");
            Ok(1)
        }
    }
}

/// `perseus load --workload list-append|bank`: the transactional clients, each second's committed
/// transactions per node on stdout as the register loop prints its successes, then the checker's
/// verdict. Exit 0 once the verdict is printed (whatever it is), as for the register loop.
async fn txn_command(
    args: &LoadArgs,
    opts: LoadOptions,
    lab: &perseus::lab::Lab,
) -> anyhow::Result<i32> {
    let client = lab.txn_driver(args.workload, args.isolation, args.replica_reads)?;
    let endpoints = lab.endpoints();
    let names: Vec<NodeName> = endpoints.iter().map(|e| e.node.clone()).collect();
    let seed = args.seed.unwrap_or_else(rand::random);
    let topts = TxnOptions {
        workload: args.workload,
        isolation: args.isolation,
        duration: opts.duration,
        clients_per_node: opts.clients_per_node,
        op_timeout: opts.op_timeout,
        run_id: opts.run_id.clone(),
        origin: None,
        seed,
        shared: lab.kind().shares_data(),
        read_port: client.read_port,
    };
    eprintln!(
        "{} on {} ({}), {} client(s) per node, {}{}, seed {seed}, run {}: {}",
        args.workload,
        lab.system,
        addresses(lab),
        topts.clients_per_node,
        topts
            .isolation
            .map_or("the system's default isolation", Isolation::name),
        workload::reads_at(topts.read_port),
        topts.run_id,
        load::measure::tsv_header(&names)
    );
    let mut view = LiveView::new(&names);
    let stop = interrupt_token("ending the load and printing its summary");
    let history = workload::run(client.driver, &endpoints, &topts, &stop, &mut |s| {
        if let Some(m) = opts.metrics.as_ref().filter(|_| s.complete) {
            m.second(s.sec, &s.counts, &s.errors, &s.info);
        }
        emit(&mut view, s)
    })
    .await?;
    if let Some(v) = view {
        v.finish();
    }
    if let Some(path) = &args.history {
        workload::history::write(path, &history)?;
    }
    let summary = workload::summarize(&history);
    if args.json {
        eprintln!("{}", serde_json::to_string(&summary)?);
    } else {
        eprint!("{}", summary.render());
    }
    Ok(0)
}
