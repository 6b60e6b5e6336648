//! What the commands share: the duration parser of their flags, progress lines, and the one way
//! Ctrl-C reaches the library.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// A flag's duration (`90s`, `1m30s`, `250ms`), as [`perseus::units::parse_duration`] reads it.
pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    perseus::units::parse_duration(s)
}

/// A progress line, on stderr.
pub(super) fn progress(line: &str) {
    eprintln!("{line}");
}

/// The one way Ctrl-C reaches the library: a token cancelled on the first Ctrl-C, after saying
/// `what` happens now. A second Ctrl-C exits at once (130).
pub(super) fn interrupt_token(what: &'static str) -> CancellationToken {
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

/// `--metrics ADDR`, shared by `load`, `run`, `table` and `bisect`.
#[derive(Debug, clap::Args)]
pub(super) struct MetricsFlag {
    /// Serve live metrics for Prometheus (OpenMetrics) at http://ADDR/metrics while the run
    /// runs: a port (9464, on the loopback address) or HOST:PORT (0.0.0.0:9464 for other
    /// machines). See docs/metrics.md.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
}

/// The open loop's flags, on `load`, `run` and `table` (docs/load.md).
#[derive(Debug, clap::Args, Clone, Copy)]
pub(super) struct RateFlags {
    /// Open loop at this rate, all nodes together, spread evenly (e.g. 3000/s): operations
    /// start on a fixed schedule and are timed from their intended start, so an outage shows
    /// as the latency clients at that rate would see (docs/load.md). Default: the closed loop.
    #[arg(long, value_name = "N/s", conflicts_with = "rate_per_node")]
    pub(super) rate: Option<perseus::load::open::Rate>,
    /// Open loop at this rate on each node (e.g. 1000/s).
    #[arg(long, value_name = "N/s")]
    pub(super) rate_per_node: Option<perseus::load::open::Rate>,
    /// The most connections the open loop opens on a node to keep its schedule [default: 256].
    #[arg(long, value_name = "N")]
    pub(super) max_clients_per_node: Option<usize>,
}

impl RateFlags {
    /// Whether any was given.
    pub(super) fn given(&self) -> bool {
        self.rate.is_some() || self.rate_per_node.is_some() || self.max_clients_per_node.is_some()
    }

    /// The bound on connections per node, given or the default.
    pub(super) fn max_clients(&self) -> usize {
        self.max_clients_per_node
            .unwrap_or(perseus::load::open::DEFAULT_MAX_CLIENTS_PER_NODE)
    }

    /// The schedule on `nodes` nodes (`None`: the closed loop). Errors: [`perseus::Error::Usage`]
    /// for a rate or bound out of range, or a bound without a rate.
    pub(super) fn schedule(
        &self,
        nodes: usize,
    ) -> Result<Option<perseus::load::open::Schedule>, perseus::Error> {
        if self.max_clients_per_node.is_some()
            && self.rate.is_none()
            && self.rate_per_node.is_none()
        {
            return Err(perseus::Error::Usage(
                "--max-clients-per-node bounds the open loop: add --rate or --rate-per-node (the closed loop's is --clients-per-node)".into(),
            ));
        }
        perseus::load::open::Schedule::new(self.rate, self.rate_per_node, nodes, self.max_clients())
            .map_err(perseus::Error::Usage)
    }

    /// Put them into a scenario's load (over what it says), checked on its nodes.
    pub(super) fn apply(&self, s: &mut perseus::scenario::Scenario) -> Result<(), perseus::Error> {
        if !self.given() {
            return Ok(());
        }
        self.schedule(s.nodes)?;
        if self.rate.is_some() || self.rate_per_node.is_some() {
            s.load.rate = self.rate;
            s.load.rate_per_node = self.rate_per_node;
        }
        s.load.max_clients_per_node = self.max_clients();
        Ok(())
    }
}

impl MetricsFlag {
    /// The series and their endpoint, serving from now, when asked for (the address is said
    /// on stderr); dropping the [`perseus::metrics::Server`] stops serving.
    pub(super) async fn serve(
        &self,
    ) -> Result<Option<(perseus::metrics::Metrics, perseus::metrics::Server)>, perseus::Error> {
        let Some(addr) = &self.metrics else {
            return Ok(None);
        };
        let addr = perseus::metrics::parse_addr(addr)?;
        let metrics = perseus::metrics::Metrics::new();
        let server = perseus::metrics::serve(addr, metrics.clone()).await?;
        eprintln!("metrics: http://{}/metrics", server.addr());
        Ok(Some((metrics, server)))
    }
}
