//! What keeps a cluster from being ready, as a readiness probe reports it: a [`Problem`] per
//! node (or for the cluster), gathered in [`Pending`], and [`on_every_node`] to probe every node
//! at once.

use std::fmt;

use crate::driver::Endpoint;
use crate::node::NodeName;

/// One thing that keeps a cluster from being ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The node it is about, or `None` for the cluster as a whole (members disagree).
    pub node: Option<NodeName>,
    /// What is missing, for people (`n2 does not answer (connection refused)`).
    pub what: String,
}

/// What keeps a cluster from being ready: every problem a readiness probe found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pending {
    /// The problems, in node order where they have a node.
    pub problems: Vec<Problem>,
}

impl Pending {
    /// One problem of node `node`.
    pub fn node(node: &str, what: impl Into<String>) -> Pending {
        Pending {
            problems: vec![Problem {
                node: Some(node.into()),
                what: what.into(),
            }],
        }
    }

    /// One problem of the cluster as a whole.
    pub fn cluster(what: impl Into<String>) -> Pending {
        Pending {
            problems: vec![Problem {
                node: None,
                what: what.into(),
            }],
        }
    }

    /// The nodes whose state explains the problems (every node when one concerns the whole
    /// cluster): the lab shows their logs when it gives up waiting.
    pub fn nodes<'a>(&self, all: &'a [NodeName]) -> Vec<&'a NodeName> {
        if self.problems.iter().any(|p| p.node.is_none()) {
            return all.iter().collect();
        }
        all.iter()
            .filter(|n| self.problems.iter().any(|p| p.node.as_ref() == Some(*n)))
            .collect()
    }
}

impl fmt::Display for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<&str> = self.problems.iter().map(|p| p.what.as_str()).collect();
        f.write_str(&lines.join("; "))
    }
}

/// Run `probe` on every node at once: `Ok(())` when every node passed, else every failure as a
/// problem of its node, as a readiness probe reports what is missing.
pub async fn on_every_node<F, Fut>(nodes: &[Endpoint], probe: F) -> std::result::Result<(), Pending>
where
    F: Fn(Endpoint) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<(), String>>,
{
    let answers = futures_util::future::join_all(nodes.iter().cloned().map(|n| {
        let node = n.node.clone();
        let answer = probe(n);
        async move { (node, answer.await) }
    }))
    .await;
    let problems: Vec<Problem> = answers
        .into_iter()
        .filter_map(|(node, r)| {
            r.err().map(|what| Problem {
                node: Some(node),
                what,
            })
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Pending { problems })
    }
}
