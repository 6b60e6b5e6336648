//! Apache ZooKeeper 3.8 ([`ZooKeeper`]): a ZAB ensemble with one leader (compose/zookeeper.yaml,
//! etc/zookeeper/).
//!
//! The client of node *i* holds a session on server *i* alone (the connect string names one
//! server, so the session never moves: a real client lists the whole ensemble and would hide the
//! node's outage). It speaks ZooKeeper's protocol through the `zookeeper-client` crate. Each key is
//! the znode `/perseus/<key with '/' written ':'>`, its data the value in decimal.
//!
//! **The read is `sync` then `getData`**, sent back to back on the session (ZooKeeper answers a
//! session's requests in order, so the read waits for the sync). ZooKeeper serves reads from the
//! server's local copy, which may lag the leader; `sync` makes the server catch up with the leader
//! first, the read ZooKeeper's documentation recommends when a client must see the latest write
//! ("ZooKeeper Programmer's Guide", Consistency Guarantees). It is still not linearizable: a sync
//! is not acknowledged by a quorum, so a server that follows a deposed leader, or a deposed leader
//! itself, can answer it from stale state (ZOOKEEPER-1675, ZOOKEEPER-2136). The loop reports such a
//! read as what it is: a read below the last acknowledged value whose compare-and-set then fails is
//! **stale**, not lost.
//!
//! **The write is a compare-and-set on the znode's version**: `setData` at the version the same
//! connection's read returned (`create` when the read found no znode), so a write from a stale read
//! fails with `BadVersion` (or `NodeExists`) and nothing is written.
//!
//! The leader comes from the servers' own `srvr` four-letter word (`Mode: leader` | `follower`;
//! a server out of the quorum answers that it is not serving). Ready when every server serves,
//! one of them leads and its `mntr` counts every other server as a synced follower.
//!
//! Sources: ZooKeeper Administrator's Guide, "The Four Letter Words" and "Cluster Options"
//! (<https://zookeeper.apache.org/doc/r3.8.0/zookeeperAdmin.html>); the jute protocol as the
//! `zookeeper-client` crate implements it.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zookeeper_client as zk;

use super::readiness::{Pending, Problem};
use super::system::{Cluster, Leadership, PromotionLog, Settings, System};
use crate::driver::{parse_decimal, Driver, DriverError, Endpoint, Written};
use crate::node::NodeName;

/// The znode under which every key of the load loop lives.
pub const ROOT: &str = "/perseus";
/// How long a readiness or leader probe waits for one server.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// The session timeout the driver asks for: ZooKeeper's least with `tickTime` 2000 (two ticks).
/// A session the loop gave up on (its server paused or cut off) lingers on the ensemble this long.
const SESSION_TIMEOUT: Duration = Duration::from_secs(4);

/// ZooKeeper: its leader is the server whose `srvr` says `Mode: leader`.
#[derive(Debug, Clone, Copy)]
pub struct ZooKeeper;

impl System for ZooKeeper {
    fn name(&self) -> &'static str {
        "zookeeper"
    }

    fn driver(&self, _: &Settings) -> Arc<dyn crate::load::DynDriver> {
        Arc::new(ZkDriver)
    }

    fn leadership(&self) -> Leadership {
        Leadership::Leader { roles: &[] }
    }

    /// `srvr`'s first line: `Zookeeper version: 3.8.0-<commit>, built on ...`.
    fn server_version<'a>(
        &'a self,
        _: &'a Cluster,
        node: &'a Endpoint,
    ) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move { srvr_version(&four_letter_word(node, "srvr").await.ok()?) })
    }

    fn ready<'a>(&'a self, cluster: &'a Cluster) -> BoxFuture<'a, Result<(), Pending>> {
        Box::pin(ready(&cluster.nodes))
    }

    fn leader<'a>(
        &'a self,
        cluster: &'a Cluster,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, Option<NodeName>> {
        Box::pin(async move { decide_leader(&statuses(&cluster.nodes).await) })
    }

    /// Make the parent znode [`ROOT`] (through `node`) if no one has.
    fn prepare<'a>(
        &'a self,
        _: &'a Cluster,
        node: &'a Endpoint,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let made = tokio::time::timeout(timeout, async {
                let client = connect(node).await.map_err(|e| e.to_string())?;
                match client.create(ROOT, b"", &persistent()).await {
                    Ok(_) | Err(zk::Error::NodeExists) => Ok(()),
                    Err(e) => Err(format!("create {ROOT}: {e}")),
                }
            })
            .await;
            made.unwrap_or_else(|_| Err(format!("create {ROOT}: no answer in {timeout:?}")))
        })
    }

    /// The new leader logs `LEADING - LEADER ELECTION TOOK - <n> MS` once it has won an election
    /// (QuorumPeer), before its followers have synced with it.
    fn promotion_log(&self) -> Option<PromotionLog> {
        Some(PromotionLog {
            sidecar: None,
            marker: "LEADING - LEADER ELECTION TOOK",
            source: "ZooKeeper",
        })
    }
}

fn persistent() -> zk::CreateOptions<'static> {
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())
}

/// The znode that holds the loop's `key`: `/perseus/<key>`, its slashes written as colons (a
/// znode's parent must exist, and one flat folder needs no more).
pub fn path(key: &str) -> String {
    format!("{ROOT}/{}", key.replace('/', ":"))
}

/// A session on one server; fails at once, without retrying, when the server refuses.
async fn connect(endpoint: &Endpoint) -> Result<zk::Client, zk::Error> {
    zk::Client::connector()
        .with_session_timeout(SESSION_TIMEOUT)
        .with_fail_eagerly()
        .connect(&endpoint.addr.to_string())
        .await
}

/// The load loop's ZooKeeper driver (see the module docs): a session per loop connection, reads
/// by `sync` + `getData`, writes by `setData` at the version read.
#[derive(Debug, Clone, Default)]
pub struct ZkDriver;

/// One session, and the version of the znode its last read returned (`None`: absent).
pub struct ZkConn {
    client: zk::Client,
    read: Option<(String, Option<i32>)>,
}

/// What a failed call says about its outcome. A request the server turned down before acting on
/// it is definite; a lost connection, a timeout or an expired session leave a write unknown.
fn classify(e: zk::Error) -> DriverError {
    use zk::Error as E;
    match e {
        E::NoHosts => DriverError::Connect(e.to_string()),
        E::ConnectionLoss => DriverError::Io(e.to_string()),
        E::Timeout | E::SessionExpired | E::ClientClosed | E::SessionMoved => {
            DriverError::Ambiguous(e.to_string())
        }
        E::NotReadOnly
        | E::Throttled
        | E::NoAuth
        | E::AuthFailed
        | E::BadArguments(_)
        | E::Unimplemented
        | E::QuotaExceeded => DriverError::Server(e.to_string()),
        other => DriverError::Protocol(other.to_string()),
    }
}

impl Driver for ZkDriver {
    type Conn = ZkConn;
    const CONDITIONAL: bool = true;

    async fn connect(&self, endpoint: &Endpoint, timeout: Duration) -> Result<ZkConn, DriverError> {
        match tokio::time::timeout(timeout, connect(endpoint)).await {
            Ok(Ok(client)) => Ok(ZkConn { client, read: None }),
            Ok(Err(e)) => Err(DriverError::Connect(e.to_string())),
            Err(_) => Err(DriverError::Connect(format!(
                "no session in {} ms",
                timeout.as_millis()
            ))),
        }
    }

    async fn read(&self, conn: &mut ZkConn, key: &str) -> Result<Option<u64>, DriverError> {
        let path = path(key);
        // Both requests go out now, in this order; the server answers them in order.
        let sync = conn.client.sync(ROOT);
        let get = conn.client.get_data(&path);
        sync.await.map_err(classify)?;
        match get.await {
            Ok((data, stat)) => {
                let value = parse_decimal(&data)?;
                conn.read = Some((key.to_string(), Some(stat.version)));
                Ok(Some(value))
            }
            Err(zk::Error::NoNode) => {
                conn.read = Some((key.to_string(), None));
                Ok(None)
            }
            Err(e) => Err(classify(e)),
        }
    }

    async fn write(
        &self,
        conn: &mut ZkConn,
        key: &str,
        expected: Option<u64>,
        value: u64,
    ) -> Result<Written, DriverError> {
        let version = match conn.read.take() {
            Some((k, version)) if k == key && version.is_some() == expected.is_some() => version,
            _ => {
                return Err(DriverError::Protocol(format!(
                    "write of {key} without a read of it on this session"
                )))
            }
        };
        let path = path(key);
        let data = value.to_string();
        let answer = match version {
            None => conn
                .client
                .create(&path, data.as_bytes(), &persistent())
                .await
                .map(|_| ()),
            Some(v) => conn
                .client
                .set_data(&path, data.as_bytes(), Some(v))
                .await
                .map(|_| ()),
        };
        match answer {
            Ok(()) => Ok(Written::Applied),
            // The znode changed (or appeared, or went) since the read: nothing was written.
            Err(zk::Error::BadVersion | zk::Error::NodeExists | zk::Error::NoNode) => {
                Ok(Written::Refused)
            }
            Err(e) => Err(classify(e)),
        }
    }
}

/// A server's role, as `srvr` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `Mode: leader`.
    Leader,
    /// `Mode: follower`.
    Follower,
    /// `Mode: observer` or `standalone`: serving, but not a voting member of an ensemble.
    Other,
}

/// What `srvr` says of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerStatus {
    /// Serving, in this role, at this zxid (epoch in the high 32 bits, counter in the low).
    Serving {
        /// Its role.
        mode: Mode,
        /// The last zxid it has seen.
        zxid: u64,
    },
    /// Up but not serving: looking for a leader, or not yet synced with one.
    NotServing,
}

impl ServerStatus {
    /// The ZAB epoch of its zxid (0 when not serving).
    pub fn epoch(&self) -> u64 {
        match self {
            ServerStatus::Serving { zxid, .. } => zxid >> 32,
            ServerStatus::NotServing => 0,
        }
    }
}

/// Decode the answer to `srvr`: the `Mode:` and `Zxid:` lines, or the sentence a server out of
/// the quorum answers with (`This ZooKeeper instance is not currently serving requests`).
pub fn parse_srvr(text: &str) -> Result<ServerStatus, String> {
    if text.contains("not currently serving requests") {
        return Ok(ServerStatus::NotServing);
    }
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let mode = match field("Mode:").as_deref() {
        Some("leader") => Mode::Leader,
        Some("follower") => Mode::Follower,
        Some(_) => Mode::Other,
        None => return Err(format!("no Mode in srvr answer '{}'", text.trim())),
    };
    let zxid = field("Zxid:")
        .and_then(|z| u64::from_str_radix(z.trim_start_matches("0x"), 16).ok())
        .ok_or_else(|| format!("no Zxid in srvr answer '{}'", text.trim()))?;
    Ok(ServerStatus::Serving { mode, zxid })
}

/// The release in a `srvr` answer (`Zookeeper version: 3.8.0-5a02a05e..., built on ...` gives
/// `3.8.0`).
pub fn srvr_version(text: &str) -> Option<String> {
    let rest = text
        .lines()
        .find_map(|l| l.strip_prefix("Zookeeper version:"))?
        .trim();
    let release: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    (!release.is_empty()).then_some(release)
}

/// Send a four-letter word to a server and read its whole answer (the server closes after it).
pub async fn four_letter_word(endpoint: &Endpoint, word: &str) -> Result<String, String> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(endpoint.addr)
            .await
            .map_err(|e| e.to_string())?;
        s.write_all(word.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut out = String::new();
        s.read_to_string(&mut out)
            .await
            .map_err(|e| e.to_string())?;
        Ok(out)
    };
    tokio::time::timeout(PROBE_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer to {word} in {PROBE_TIMEOUT:?}")))
}

/// Every server's `srvr`, asked concurrently, in node order.
pub async fn statuses(nodes: &[Endpoint]) -> Vec<(NodeName, Result<ServerStatus, String>)> {
    futures_util::future::join_all(nodes.iter().map(|n| async move {
        let answer = four_letter_word(n, "srvr").await;
        (n.node.clone(), answer.and_then(|t| parse_srvr(&t)))
    }))
    .await
}

/// The leader among the answers: the server that says it leads, at the newest epoch when two do
/// (a deposed leader that has not noticed yet is at an older one).
pub fn decide_leader(answers: &[(NodeName, Result<ServerStatus, String>)]) -> Option<NodeName> {
    answers
        .iter()
        .filter_map(|(n, a)| match a {
            Ok(
                s @ ServerStatus::Serving {
                    mode: Mode::Leader, ..
                },
            ) => Some((n, s.epoch())),
            _ => None,
        })
        .max_by_key(|(_, epoch)| *epoch)
        .map(|(n, _)| n.clone())
}

/// The `zk_synced_followers` count in a leader's `mntr` answer (tab-separated `key value` lines).
pub fn synced_followers(mntr: &str) -> Option<usize> {
    mntr.lines().find_map(|l| {
        let (k, v) = l.split_once('\t')?;
        (k.trim() == "zk_synced_followers")
            .then(|| v.trim().parse().ok())
            .flatten()
    })
}

/// Ready when every server serves, one leads, and the leader counts every other server as a
/// synced follower.
pub async fn ready(nodes: &[Endpoint]) -> Result<(), Pending> {
    let answers = statuses(nodes).await;
    let mut problems = Vec::new();
    for (node, answer) in &answers {
        let what = match answer {
            Err(e) => format!("{node} does not answer srvr ({e})"),
            Ok(ServerStatus::NotServing) => format!("{node} is not serving yet (no quorum)"),
            Ok(_) => continue,
        };
        problems.push(Problem {
            node: Some(node.clone()),
            what,
        });
    }
    if !problems.is_empty() {
        return Err(Pending { problems });
    }
    let Some(leader) = decide_leader(&answers) else {
        return Err(Pending::cluster("no server leads yet"));
    };
    let ep = nodes.iter().find(|n| n.node == leader).expect("a node");
    let mntr = four_letter_word(ep, "mntr")
        .await
        .map_err(|e| Pending::node(&leader, format!("{leader} does not answer mntr ({e})")))?;
    match synced_followers(&mntr) {
        Some(n) if n + 1 >= nodes.len() => Ok(()),
        n => Err(Pending::cluster(format!(
            "leader {leader} has {} of {} followers synced",
            n.unwrap_or(0),
            nodes.len() - 1
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_is_srvrs_first_line() {
        let text = "Zookeeper version: 3.8.0-5a02a05eddb59aee6ac762f7ea82e92a68eb9c0f, built on 2022-02-25 08:49 UTC\nLatency min/avg/max: 0/0.0/0\nMode: follower\n";
        assert_eq!(super::srvr_version(text).as_deref(), Some("3.8.0"));
        assert_eq!(
            super::srvr_version("This ZooKeeper instance is not currently serving requests\n"),
            None
        );
    }

    use super::*;

    const LEADER: &str = "Zookeeper version: 3.8.0-debian--1, built on 2022-09-19 17:55 UTC\nLatency min/avg/max: 0/0.5/4\nReceived: 12\nSent: 11\nConnections: 1\nOutstanding: 0\nZxid: 0x200000005\nMode: leader\nNode count: 6\nProposal sizes last/min/max: 48/48/92\n";

    #[test]
    fn srvr_gives_the_mode_and_the_epoch_or_says_the_server_is_not_serving() {
        let s = parse_srvr(LEADER).unwrap();
        assert_eq!(
            s,
            ServerStatus::Serving {
                mode: Mode::Leader,
                zxid: 0x2_0000_0005
            }
        );
        assert_eq!(s.epoch(), 2);
        let f = parse_srvr(&LEADER.replace("Mode: leader", "Mode: follower")).unwrap();
        assert!(matches!(
            f,
            ServerStatus::Serving {
                mode: Mode::Follower,
                ..
            }
        ));
        assert_eq!(
            parse_srvr("This ZooKeeper instance is not currently serving requests\n").unwrap(),
            ServerStatus::NotServing
        );
        assert!(parse_srvr("srvr is not executed because it is not in the whitelist.").is_err());
    }

    #[test]
    fn the_leader_is_the_one_that_says_so_at_the_newest_epoch() {
        let st = |mode, epoch: u64| {
            Ok(ServerStatus::Serving {
                mode,
                zxid: epoch << 32 | 7,
            })
        };
        // n1 was cut off and has not noticed yet; n2 and n3 elected n3 in epoch 3.
        let answers = vec![
            (NodeName::from("n1"), st(Mode::Leader, 2)),
            (NodeName::from("n2"), st(Mode::Follower, 3)),
            (NodeName::from("n3"), st(Mode::Leader, 3)),
        ];
        assert_eq!(decide_leader(&answers), Some("n3".into()));
        let answers = vec![
            (NodeName::from("n1"), Err("refused".to_string())),
            (NodeName::from("n2"), Ok(ServerStatus::NotServing)),
            (NodeName::from("n3"), st(Mode::Follower, 2)),
        ];
        assert_eq!(decide_leader(&answers), None);
    }

    #[test]
    fn mntr_counts_the_synced_followers() {
        let mntr = "zk_version\t3.8.0\nzk_server_state\tleader\nzk_synced_followers\t2\nzk_synced_observers\t0\n";
        assert_eq!(synced_followers(mntr), Some(2));
        assert_eq!(synced_followers("zk_server_state\tfollower\n"), None);
    }

    #[test]
    fn keys_are_flat_znodes_under_the_root() {
        assert_eq!(path("r1-ab12/n1/0"), "/perseus/r1-ab12:n1:0");
    }

    #[test]
    fn only_refusals_before_acting_are_definite() {
        assert!(classify(zk::Error::Throttled).definite());
        assert!(classify(zk::Error::NoHosts).definite());
        assert!(!classify(zk::Error::ConnectionLoss).definite());
        assert!(!classify(zk::Error::Timeout).definite());
        assert!(!classify(zk::Error::SessionExpired).definite());
    }
}
