//! `gryadka`: one Gryadka proposer and its HTTP key-value API ([`gryadka::server`]), as each node
//! of a Perseus Gryadka lab runs it beside its Redis acceptor. Exit codes: 0 never in practice (it
//! serves until killed), 1 when it cannot start (a port in use), 2 for bad arguments.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use gryadka::server::{serve, ProposerConfig, ServeError};

/// A Gryadka proposer: CASPaxos over Redis acceptors, served as an etcd-like HTTP key-value API.
#[derive(Debug, Parser)]
#[command(name = "gryadka", version)]
struct Args {
    /// The node this proposer runs on (`n3`); its number is the proposer id in every ballot.
    #[arg(long)]
    node: String,
    /// Address of the HTTP API.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Every acceptor, `host:port`, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    acceptors: Vec<String>,
    /// Deadline of one operation (prepare and accept rounds, retries included), e.g. `1s`, `500ms`.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    op_timeout: Duration,
}

/// The proposer id of a node name: `n3` → 3.
fn node_id(node: &str) -> Option<u64> {
    let digits = node.strip_prefix('n')?;
    if digits.starts_with('0') {
        return None;
    }
    digits.parse().ok().filter(|&id| id > 0)
}

fn main() {
    let args = Args::parse();
    let Some(id) = node_id(&args.node) else {
        eprintln!(
            "gryadka: --node '{}' is not a node name: use n1, n2, ...",
            args.node
        );
        std::process::exit(2);
    };
    let config = ProposerConfig {
        id,
        listen: args.listen,
        acceptors: args.acceptors,
        op_timeout: args.op_timeout,
    };
    // One thread: the proposer waits on sockets, and on the 2-core machines the lab runs on the
    // multi-thread scheduler's wake-ups cost more than a second worker gives (as for perseus).
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gryadka: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(serve(config)) {
        eprintln!("gryadka: {e}");
        std::process::exit(match e {
            ServeError::Config(_) => 2,
            ServeError::Listen(_) => 1,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::node_id;

    #[test]
    fn node_names_give_proposer_ids() {
        assert_eq!(node_id("n1"), Some(1));
        assert_eq!(node_id("n12"), Some(12));
        for bad in ["n0", "n", "x1", "n01", "1"] {
            assert_eq!(node_id(bad), None, "{bad}");
        }
    }
}
