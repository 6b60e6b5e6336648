//! `perseus lab status`: per node, the container state, client endpoint, role and faults in force,
//! read now from Docker, the cluster and the nodes' packet filters. It sits above [`crate::lab`] and
//! [`crate::fault`], the two things it reports on.

use std::fmt::Write as _;

use serde::Serialize;

use crate::error::Result;
use crate::fault::{self, net};
use crate::lab::Lab;
use crate::node::NodeName;

/// One row of the node table.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NodeStatus {
    /// Node name.
    pub node: NodeName,
    /// Main container name.
    pub container: String,
    /// Docker's state of the main container (`running`, `paused`, `exited (137)`).
    pub state: String,
    /// Client endpoint (`10.77.0.11:2379`).
    pub endpoint: String,
    /// `leader`, `follower`, `-` (does not answer), or `member` on a leaderless system.
    pub role: String,
    /// The version the server reports about itself ([`crate::systems::System::server_version`]:
    /// `3.4.23`, `Patroni 3.0.2, PostgreSQL 15.10`); `None` when it is down, paused or does not
    /// say.
    pub version: Option<String>,
    /// The release the lab was brought up at (`lab up etcd@3.5.1`, or the definition's
    /// default), when its definition lists releases; the table flags a `version` that does not
    /// name it.
    pub release: Option<String>,
    /// Faults in force: `killed`, `power lost`, `stopped`, `paused`, `isolated`, `cut from n3`, `disconnected`,
    /// `loss 30%`; for a node that is down, `on start: cut from n2,n3` (made again when it starts).
    pub faults: Vec<String>,
}

/// How much [`status`] asks about each node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Everything, network faults included: whether the node is attached to the lab network and
    /// which peers its packet filter cuts (an exec in each node's helper), and, for a node that is
    /// down, the network faults it will be given again when it starts.
    Full,
    /// For a lab that this process has just made and started: no network fault can be in force
    /// yet, so attachments and packet filters are not read (`lab up` prints its table this way).
    JustMade,
}

/// The node table, asked from Docker and the cluster now, to `depth`.
pub async fn status(lab: &Lab, depth: Depth) -> Result<Vec<NodeStatus>> {
    let leader = if lab.kind().has_leader() {
        Some(lab.leader(None).await?)
    } else {
        None
    };
    let cluster = lab.cluster();
    let rows = lab.nodes.iter().map(|n| async {
        let Faulted {
            state,
            running,
            paused,
            faults,
        } = faulted(lab, n, depth).await?;
        let version = if running && !paused {
            lab.kind().server_version(&cluster, &n.endpoint()).await
        } else {
            None
        };
        let role = match &leader {
            None => "member".to_string(),
            Some(Some(l)) if *l == n.name => "leader".to_string(),
            Some(Some(_)) if running && !paused => "follower".to_string(),
            _ => "-".to_string(),
        };
        Ok::<NodeStatus, crate::Error>(NodeStatus {
            node: n.name.clone(),
            container: n.main.clone(),
            state,
            endpoint: n.endpoint().addr.to_string(),
            role,
            version,
            release: lab.definition.version().map(str::to_string),
            faults,
        })
    });
    futures_util::future::join_all(rows)
        .await
        .into_iter()
        .collect()
}

/// A node's container state and the faults in force on it.
struct Faulted {
    state: String,
    running: bool,
    paused: bool,
    faults: Vec<String>,
}

/// What [`status`] says of one node's state and faults, read from Docker and, to `depth`, its
/// helper's packet filter.
async fn faulted(lab: &Lab, n: &crate::lab::Node, depth: Depth) -> Result<Faulted> {
    let docker = lab.engine(n);
    let info = crate::docker::inspect(docker, &n.main).await?;
    let st = info.state.clone().unwrap_or_default();
    let running = st.running.unwrap_or(false);
    let paused = st.paused.unwrap_or(false);
    let code = st.exit_code.unwrap_or(0);
    let mut faults = Vec::new();
    let state = if paused {
        faults.push("paused".to_string());
        "paused".to_string()
    } else if running {
        "running".to_string()
    } else {
        faults.push(
            if n.lazy.is_some() && code == crate::lab::lazy::POWER_LOST {
                "power lost".into()
            } else if n.lazy.is_some() && code == crate::lab::lazy::POWER_LOST_TORN {
                "power lost (torn writes)".into()
            } else if code == 137 {
                "killed".into()
            } else {
                "stopped".to_string()
            },
        );
        format!("exited ({code})")
    };
    if depth == Depth::Full && !fault::attached(lab, &n.main).await? {
        faults.push("disconnected".into());
    }
    if !running && depth == Depth::Full {
        match net::recorded(lab, &n.name).await {
            Ok(kept) if !kept.is_empty() => faults.push(format!("on start: {}", kept.join("; "))),
            Ok(_) => {}
            Err(e) => faults.push(format!("network faults unknown ({e})")),
        }
    }
    let now = if running && depth == Depth::Full {
        // A helper that cannot be reached leaves the rest of the table standing.
        match net::faults_in_force(lab, &n.name).await {
            Ok(now) => Some(now),
            Err(e) => {
                faults.push(format!("network faults unknown ({e})"));
                None
            }
        }
    } else {
        None
    };
    if let Some(now) = now {
        faults.extend(now.links.iter().cloned());
        let cut = now.cut;
        let others = lab.nodes.len() - 1;
        let both = cut.iter().all(|(_, d)| *d == net::Direction::Both);
        if !cut.is_empty() && cut.len() == others && both {
            faults.push("isolated".into());
        } else if !cut.is_empty() && cut.len() == others && cut.iter().all(|(_, d)| *d == cut[0].1)
        {
            faults.push(format!("isolated ({})", cut[0].1));
        } else if !cut.is_empty() {
            faults.push(format!("cut from {}", net::describe_cut(&cut)));
        }
    }
    Ok(Faulted {
        state,
        running,
        paused,
        faults,
    })
}

/// The faults in force on the lab's nodes now, as `(kind, node)` with the kind named as the
/// fault command is (`kill`, `stop`, `power-loss`, `pause`, `disconnect`, `isolate`,
/// `partition`, `loss`, ...): what `lab status` shows, without asking the cluster anything
/// (`perseus load --metrics` reads it every few seconds). A node whose network faults cannot
/// be read shows none.
pub async fn faults_in_force(lab: &Lab) -> Result<Vec<(String, String)>> {
    let rows = lab.nodes.iter().map(|n| async move {
        let f = faulted(lab, n, Depth::Full).await?;
        Ok::<_, crate::Error>(
            f.faults
                .iter()
                .filter_map(|text| fault_kind(text))
                .map(|kind| (kind.to_string(), n.name.to_string()))
                .collect::<Vec<_>>(),
        )
    });
    let mut out = Vec::new();
    for r in futures_util::future::join_all(rows).await {
        out.extend(r?);
    }
    Ok(out)
}

/// How often `perseus load --metrics` reads the faults in force from the lab. Each read is a few
/// Docker calls per node (and an exec in each node's helper, when it has one), made on the
/// loop's own thread and competing with it for the machine: BENCHMARKS.md ("Live metrics") has
/// what the loop loses.
pub const WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Keep `metrics`' faults in force as [`faults_in_force`] reads them, every 5 s, until
/// dropped (a read that fails leaves the last one standing).
pub async fn watch_faults(
    lab: &Lab,
    metrics: &crate::metrics::Metrics,
) -> std::convert::Infallible {
    loop {
        if let Ok(now) = faults_in_force(lab).await {
            metrics.faults_in_force(&now);
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// The fault command that puts a node in the state `lab status` shows as `text`: `paused` →
/// `pause`, `cut from n3` → `partition`, `loss 30%` → `loss`; `None` for what is not in force
/// (`on start: ...`, `network faults unknown (...)`).
fn fault_kind(text: &str) -> Option<&str> {
    Some(match text {
        "paused" => "pause",
        "power lost" => "power-loss",
        "power lost (torn writes)" => "power-loss-torn",
        "killed" => "kill",
        "stopped" => "stop",
        "disconnected" => "disconnect",
        t if t.starts_with("isolated") => "isolate",
        t if t.starts_with("cut from ") => "partition",
        t if t.starts_with("on start:") || t.starts_with("network faults unknown") => return None,
        // A degraded link: `loss 30%`, `delay 100ms ...`: the fault's own name comes first.
        t => t.split_whitespace().next()?,
    })
}

impl NodeStatus {
    /// Whether the server's own version names another release than the lab was brought up at
    /// ([`crate::lab::version::reports`]); `false` when either is unknown.
    pub fn mismatched(&self) -> bool {
        match (&self.version, &self.release) {
            (Some(v), Some(r)) => !crate::lab::version::reports(v, r),
            _ => false,
        }
    }

    /// The version column: what the server says (`-` when nothing), flagged when it is not the
    /// release asked for.
    fn shown_version(&self) -> String {
        match (&self.version, &self.release) {
            (Some(v), Some(r)) if self.mismatched() => format!("{v} (NOT {r})"),
            (Some(v), _) => v.clone(),
            (None, _) => "-".into(),
        }
    }
}

/// The node table as aligned text (the container and version columns as wide as their longest
/// entries).
pub fn render(rows: &[NodeStatus]) -> String {
    let mut s = String::new();
    let w = rows
        .iter()
        .map(|r| r.container.len())
        .max()
        .unwrap_or(0)
        .max("container".len());
    let shown: Vec<String> = rows.iter().map(NodeStatus::shown_version).collect();
    let v = shown
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max("version".len());
    let _ = writeln!(
        s,
        "{:<5} {:<w$} {:<13} {:<18} {:<9} {:<v$} faults",
        "node", "container", "state", "endpoint", "role", "version"
    );
    for (r, version) in rows.iter().zip(&shown) {
        let faults = if r.faults.is_empty() {
            "-".to_string()
        } else {
            r.faults.join(", ")
        };
        let _ = writeln!(
            s,
            "{:<5} {:<w$} {:<13} {:<18} {:<9} {:<v$} {}",
            r.node, r.container, r.state, r.endpoint, r.role, version, faults
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_fault_shown_is_named_as_its_command() {
        let kinds: Vec<Option<&str>> = [
            "paused",
            "killed",
            "stopped",
            "power lost",
            "power lost (torn writes)",
            "disconnected",
            "isolated",
            "isolated (inbound)",
            "cut from n2,n3",
            "loss 30%",
            "on start: cut from n2",
            "network faults unknown (no helper)",
        ]
        .iter()
        .map(|t| fault_kind(t))
        .collect();
        assert_eq!(
            kinds,
            [
                Some("pause"),
                Some("kill"),
                Some("stop"),
                Some("power-loss"),
                Some("power-loss-torn"),
                Some("disconnect"),
                Some("isolate"),
                Some("isolate"),
                Some("partition"),
                Some("loss"),
                None,
                None
            ]
        );
    }

    #[test]
    fn the_table_aligns_every_column_and_shows_each_servers_version() {
        let row = |node: &str, version: Option<&str>, faults: &[&str]| NodeStatus {
            node: node.into(),
            container: format!("perseus-patroni-{node}"),
            state: "running".into(),
            endpoint: "10.77.0.11:5000".into(),
            role: "follower".into(),
            version: version.map(str::to_string),
            release: None,
            faults: faults.iter().map(|f| f.to_string()).collect(),
        };
        let t = render(&[
            row("n1", Some("Patroni 3.0.2, PostgreSQL 15.10"), &[]),
            row("n2", None, &["killed"]),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines,
            [
                "node  container          state         endpoint           role      version                         faults",
                "n1    perseus-patroni-n1 running       10.77.0.11:5000    follower  Patroni 3.0.2, PostgreSQL 15.10 -",
                "n2    perseus-patroni-n2 running       10.77.0.11:5000    follower  -                               killed",
            ]
        );
        // A server that is not the release its lab was brought up at is flagged.
        let asked = |version: &str| NodeStatus {
            release: Some("3.0.3".into()),
            ..row("n1", Some(version), &[])
        };
        assert!(!asked("Patroni 3.0.3, PostgreSQL 15.10").mismatched());
        let wrong = asked("Patroni 3.0.2, PostgreSQL 15.10");
        assert!(wrong.mismatched());
        assert!(
            render(&[wrong]).contains(" Patroni 3.0.2, PostgreSQL 15.10 (NOT 3.0.3) -"),
            "the column says so"
        );
    }
}
