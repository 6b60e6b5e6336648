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
