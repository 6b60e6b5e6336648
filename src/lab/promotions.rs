//! What a system says of its own failovers: the promotions it logs
//! ([`System::promotion_log`]: Patroni's `promoted self to leader`, the leading Sentinel's
//! `+promoted-slave`), read from the nodes' container logs with the Docker Engine's stamps, for the
//! report to set beside the windows the load loop measured.

use std::time::{Duration, SystemTime};

use super::model::Lab;
use crate::docker;
use crate::driver::Endpoint;
use crate::node::NodeName;
use crate::systems::{LogLine, System};

/// Identical lines naming the same node within this span of each other are one promotion logged
/// twice (by two nodes, or by a process restarted with its log replayed): a safety net, since the
/// markers chosen are logged once per promotion.
const SAME_PROMOTION: Duration = Duration::from_secs(10);

/// A promotion the system itself reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// When the first node logged it (the Docker Engine's stamp).
    pub at: SystemTime,
    /// The node that became the primary.
    pub node: NodeName,
    /// Who said so (`Patroni`, `Sentinel`).
    pub source: &'static str,
    /// What it logged, from the marker on.
    pub line: String,
}

/// The promotions among `lines` (any order), oldest first: each line that holds the system's
/// marker and names one of `nodes`, identical lines naming the same node within
/// `SAME_PROMOTION` (10 s) of each other counted once.
pub fn promotions_in(
    system: &dyn System,
    mut lines: Vec<LogLine>,
    nodes: &[Endpoint],
) -> Vec<Promotion> {
    let Some(log) = system.promotion_log() else {
        return Vec::new();
    };
    lines.sort_by_key(|l| l.at);
    let mut out: Vec<Promotion> = Vec::new();
    for line in &lines {
        let Some(from) = line.text.find(log.marker) else {
            continue;
        };
        let Some(node) = system.promoted(line, nodes) else {
            continue;
        };
        let text = line.text[from..].trim();
        let repeated = out.iter().rev().any(|p| {
            p.node == node
                && p.line == text
                && line.at.duration_since(p.at).unwrap_or_default() <= SAME_PROMOTION
        });
        if !repeated {
            out.push(Promotion {
                at: line.at,
                node,
                source: log.source,
                line: text.to_string(),
            });
        }
    }
    out
}

/// The promotions the lab's system logged from `since` to `until`, oldest first (none for a
/// system that logs none). A container whose logs cannot be read (removed, or the Engine did not
/// answer within 10 s) adds nothing: the report then shows fewer promotions, never wrong ones.
pub async fn promotions(lab: &Lab, since: SystemTime, until: SystemTime) -> Vec<Promotion> {
    let system = lab.kind();
    let Some(log) = system.promotion_log() else {
        return Vec::new();
    };
    let reads = lab.nodes.iter().filter_map(|n| {
        let container = match log.sidecar {
            None => Some(n.main.clone()),
            Some(suffix) => n
                .containers
                .iter()
                .find(|c| c.ends_with(&format!("-{suffix}")))
                .cloned(),
        }?;
        Some(async move {
            let lines = docker::logs_between(lab.engine(n), &container, since, until)
                .await
                .unwrap_or_default();
            lines
                .into_iter()
                .filter(|(_, text)| text.contains(log.marker))
                .map(|(at, text)| LogLine {
                    node: n.name.clone(),
                    at,
                    text,
                })
                .collect::<Vec<_>>()
        })
    });
    let lines: Vec<LogLine> = futures_util::future::join_all(reads)
        .await
        .into_iter()
        .flatten()
        .collect();
    promotions_in(system, lines, &lab.endpoints())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systems::lookup;

    fn nodes() -> Vec<Endpoint> {
        (1..=3)
            .map(|i| {
                Endpoint::new(
                    format!("n{i}"),
                    format!("10.77.0.{}:26379", 10 + i).parse().unwrap(),
                )
            })
            .collect()
    }

    fn line(node: &str, at_s: u64, text: &str) -> LogLine {
        LogLine {
            node: node.into(),
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + at_s),
            text: text.into(),
        }
    }

    #[test]
    fn the_leading_sentinel_names_the_promoted_replica_and_a_repeated_line_counts_once() {
        let promoted = "1:X 30 Nov 2026 03:11:27.392 # +promoted-slave slave 10.77.0.13:6379 10.77.0.13 6379 @ perseus 10.77.0.11 6379";
        let back = "1:X 30 Nov 2026 03:12:07.000 # +promoted-slave slave 10.77.0.11:6379 10.77.0.11 6379 @ perseus 10.77.0.13 6379";
        let lines = vec![
            line("n3", 1, promoted),
            line("n2", 0, promoted),
            line(
                "n1",
                2,
                "1:X # +switch-master perseus 10.77.0.11 6379 10.77.0.13 6379",
            ),
            line("n2", 40, back),
        ];
        let p = promotions_in(lookup("redis-sentinel").unwrap(), lines, &nodes());
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!((p[0].node.as_str(), p[1].node.as_str()), ("n3", "n1"));
        assert_eq!(p[0].at, line("n2", 0, "").at, "the first to log it");
        assert_eq!(
            p[0].line,
            "+promoted-slave slave 10.77.0.13:6379 10.77.0.13 6379 @ perseus 10.77.0.11 6379"
        );
        assert_eq!(p[0].source, "Sentinel");
    }

    #[test]
    fn patroni_names_the_node_that_logged_its_promotion_and_other_systems_log_none() {
        let lines = vec![
            line("n2", 5, "2026-11-30 03:11:27,392 INFO: promoted self to leader by acquiring session lock"),
            line("n2", 45, "2026-11-30 03:12:07,000 INFO: promoted self to leader by acquiring session lock"),
            line("n1", 6, "2026-11-30 03:11:28,000 INFO: no action. I am (n1), a secondary, and following a leader (n2)"),
        ];
        let p = promotions_in(lookup("patroni").unwrap(), lines.clone(), &nodes());
        assert_eq!(
            p.len(),
            2,
            "the same node promoted again 40 s later is a second promotion"
        );
        assert_eq!(p[0].node, "n2");
        assert_eq!(
            p[0].line,
            "promoted self to leader by acquiring session lock"
        );
        assert!(promotions_in(lookup("etcd").unwrap(), lines, &nodes()).is_empty());
    }
}
