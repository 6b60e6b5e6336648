//! Redis with Sentinel ([`RedisSentinel`]): one primary, asynchronous replicas, and a Sentinel on
//! every node that fails over when a quorum of Sentinels think the primary down
//! (compose/redis-sentinel.yaml, etc/redis-sentinel/).
//!
//! The client of node *i* does what a Sentinel-aware client does (redis-py's `Sentinel`, the
//! Sentinel client guidelines, <https://redis.io/docs/latest/develop/reference/sentinel-clients/>):
//! it asks node *i*'s Sentinel `SENTINEL get-master-addr-by-name perseus`, connects to that primary,
//! and runs its iterations there (a `GET`, then the loop's compare-and-set, [`super::redis`]). It
//! asks again only after an error, `-READONLY` from a demoted primary or `-NOREPLICAS` from one
//! short of replicas included, since the loop then drops the connection and opens a new one: while
//! the old primary keeps answering, its clients keep writing to it. That is how writes get lost:
//! Kingsbury, "Call me maybe: Redis" (2013).
//!
//! Ready when every Sentinel names the same primary, knows the other Sentinels and every replica,
//! and the primary has every replica connected. The leader is the primary most Sentinels name.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::Value;

use super::readiness::Pending;
use super::redis::RedisConn;
use super::system::{Cluster, Leadership, LogLine, PromotionLog, Settings, System};
use crate::driver::{Driver, DriverError, Endpoint, Written};
use crate::node::NodeName;

/// The name the Sentinels monitor the primary under (etc/redis-sentinel/sentinel.conf).
pub const MASTER: &str = "perseus";
/// How long a readiness or leader probe waits for one Sentinel or server.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Redis with Sentinel: its leader is the primary.
#[derive(Debug, Clone, Copy)]
pub struct RedisSentinel;

impl System for RedisSentinel {
    fn name(&self) -> &'static str {
        "redis-sentinel"
    }

    fn driver(&self, _: &Settings) -> Arc<dyn crate::load::DynDriver> {
        Arc::new(SentinelDriver)
    }

    fn across_hosts(&self) -> std::result::Result<(), &'static str> {
        Err("its clients connect to the primary at the address Sentinel names, on the overlay network, which this machine cannot reach")
    }

    fn leadership(&self) -> Leadership {
        Leadership::Leader { roles: &[] }
    }

    /// The Sentinel's own `INFO server` (the client port): the same `redis-server` binary as the
    /// node's Redis.
    fn server_version<'a>(
        &'a self,
        _: &'a Cluster,
        node: &'a Endpoint,
    ) -> BoxFuture<'a, Option<String>> {
        Box::pin(super::redis::server_version(node.addr))
    }

    fn ready<'a>(&'a self, cluster: &'a Cluster) -> BoxFuture<'a, Result<(), Pending>> {
        Box::pin(ready(&cluster.nodes))
    }

    fn leader<'a>(
        &'a self,
        cluster: &'a Cluster,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, Option<NodeName>> {
        Box::pin(primary(&cluster.nodes))
    }

    /// The Sentinel that led a failover logs `+promoted-slave slave <ip>:<port> <ip> <port> @
    /// <name> <old ip> <old port>` once the replica it chose reports itself a primary (the
    /// Sentinel docs, "Sentinel API", Pub/Sub messages). Only the leader logs it, once per
    /// failover; the `+switch-master` every Sentinel logs comes later, and again from a restarted
    /// Sentinel that learns of it.
    fn promotion_log(&self) -> Option<PromotionLog> {
        Some(PromotionLog {
            sidecar: Some("sentinel"),
            marker: "+promoted-slave",
            source: "Sentinel",
        })
    }

    fn promoted(&self, line: &LogLine, nodes: &[Endpoint]) -> Option<NodeName> {
        promoted_node(&line.text, nodes)
    }
}

/// The node a `+promoted-slave` line names: `slave <ip>:<port>` right after the marker.
fn promoted_node(text: &str, nodes: &[Endpoint]) -> Option<NodeName> {
    let mut words = text.split_once("+promoted-slave")?.1.split_whitespace();
    if words.next()? != "slave" {
        return None;
    }
    let addr: SocketAddr = words.next()?.parse().ok()?;
    node_at(addr, nodes)
}

/// The Sentinel-aware driver: the endpoint is the node's Sentinel; the connection is to the
/// primary it named.
#[derive(Debug, Clone, Default)]
pub struct SentinelDriver;

/// A connection to the primary a Sentinel named.
pub struct SentinelConn {
    primary: RedisConn,
}

impl Driver for SentinelDriver {
    type Conn = SentinelConn;
    const CONDITIONAL: bool = true;

    async fn connect(
        &self,
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> Result<SentinelConn, DriverError> {
        let at = ask_primary(endpoint.addr, timeout).await?;
        Ok(SentinelConn {
            primary: RedisConn::connect(at, timeout).await?,
        })
    }

    async fn read(&self, c: &mut SentinelConn, key: &str) -> Result<Option<u64>, DriverError> {
        c.primary.get(key).await
    }

    async fn write(
        &self,
        c: &mut SentinelConn,
        key: &str,
        expected: Option<u64>,
        value: u64,
    ) -> Result<Written, DriverError> {
        c.primary.cas(key, expected, value).await
    }
}

/// The text of a bulk or simple string reply.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// Decode `SENTINEL get-master-addr-by-name`: `[ip, port]`, or nil when the Sentinel knows no
/// primary of that name.
///
/// Errors: [`DriverError::Server`] for nil or an error reply, [`DriverError::Protocol`] otherwise.
pub fn parse_primary(v: &Value) -> Result<SocketAddr, DriverError> {
    match v {
        Value::Array(a) if a.len() == 2 => {
            let ip: IpAddr = text(&a[0])
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| DriverError::Protocol(format!("bad primary address {a:?}")))?;
            let port: u16 = text(&a[1])
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| DriverError::Protocol(format!("bad primary port {a:?}")))?;
            Ok(SocketAddr::new(ip, port))
        }
        Value::Nil => Err(DriverError::Server(format!(
            "the Sentinel monitors no primary called {MASTER}"
        ))),
        Value::ServerError(e) => Err(DriverError::Server(format!("{e:?}"))),
        other => Err(DriverError::Protocol(format!(
            "get-master-addr-by-name answered {other:?}"
        ))),
    }
}

/// Ask the Sentinel at `sentinel` where the primary is.
///
/// Errors: [`DriverError::Connect`] when the Sentinel does not answer (nothing was sent to the
/// primary), or what [`parse_primary`] says.
pub async fn ask_primary(
    sentinel: SocketAddr,
    timeout: Duration,
) -> Result<SocketAddr, DriverError> {
    let mut c = RedisConn::connect(sentinel, timeout).await?;
    let reply = tokio::time::timeout(
        timeout,
        c.command(&[b"SENTINEL", b"get-master-addr-by-name", MASTER.as_bytes()]),
    )
    .await
    .map_err(|_| DriverError::Connect(format!("the Sentinel at {sentinel} did not answer")))?
    .map_err(|e| DriverError::Connect(format!("the Sentinel at {sentinel}: {e}")))?;
    parse_primary(&reply)
}

/// A flat `[key, value, key, value, ...]` reply (`SENTINEL master`) as pairs.
fn fields(v: &Value) -> Vec<(String, String)> {
    match v {
        Value::Array(a) => a
            .chunks(2)
            .filter_map(|kv| Some((text(kv.first()?)?, text(kv.get(1)?)?)))
            .collect(),
        _ => Vec::new(),
    }
}

/// What one Sentinel says: the primary it names, and how many replicas and other Sentinels it
/// knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    primary: SocketAddr,
    replicas: usize,
    sentinels: usize,
    flags: String,
}

async fn view(sentinel: SocketAddr) -> Result<View, String> {
    let work = async {
        let mut c = RedisConn::connect(sentinel, PROBE_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        let primary = c
            .command(&[b"SENTINEL", b"get-master-addr-by-name", MASTER.as_bytes()])
            .await
            .and_then(|v| parse_primary(&v))
            .map_err(|e| e.to_string())?;
        let master = c
            .command(&[b"SENTINEL", b"master", MASTER.as_bytes()])
            .await
            .map_err(|e| e.to_string())?;
        let f = fields(&master);
        let get = |k: &str| {
            f.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        Ok(View {
            primary,
            replicas: get("num-slaves").parse().unwrap_or(0),
            sentinels: get("num-other-sentinels").parse().unwrap_or(0),
            flags: get("flags"),
        })
    };
    tokio::time::timeout(PROBE_TIMEOUT * 2, work)
        .await
        .map_err(|_| format!("no answer within {:?}", PROBE_TIMEOUT * 2))?
}

/// How many replicas the primary at `at` has connected (`ROLE`: `["master", offset, [[ip,
/// port, offset], ...]]`).
async fn connected_replicas(at: SocketAddr) -> Result<usize, String> {
    let work = async {
        let mut c = RedisConn::connect(at, PROBE_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        match c.command(&[b"ROLE"]).await.map_err(|e| e.to_string())? {
            Value::Array(a) if a.first().and_then(text).as_deref() == Some("master") => {
                Ok(match a.get(2) {
                    Some(Value::Array(r)) => r.len(),
                    _ => 0,
                })
            }
            other => Err(format!("{at} is not a primary: ROLE answered {other:?}")),
        }
    };
    tokio::time::timeout(PROBE_TIMEOUT * 2, work)
        .await
        .map_err(|_| format!("{at} did not answer ROLE"))?
}

/// The node whose address is `addr`'s.
fn node_at(addr: SocketAddr, nodes: &[Endpoint]) -> Option<NodeName> {
    nodes
        .iter()
        .find(|n| n.addr.ip() == addr.ip())
        .map(|n| n.node.clone())
}

/// Ready when every Sentinel names the same primary, sees it up and knows every replica and every
/// other Sentinel, and the primary has every replica connected.
pub async fn ready(nodes: &[Endpoint]) -> Result<(), Pending> {
    let others = nodes.len().saturating_sub(1);
    let views = futures_util::future::join_all(
        nodes
            .iter()
            .map(|n| async move { (n.node.clone(), view(n.addr).await) }),
    )
    .await;
    let mut problems = Vec::new();
    let mut primaries = std::collections::BTreeSet::new();
    for (node, v) in &views {
        let what = match v {
            Err(e) => format!("{node}'s Sentinel does not answer ({e})"),
            Ok(v) if v.flags.contains("down") => {
                format!("{node}'s Sentinel thinks the primary down ({})", v.flags)
            }
            Ok(v) if v.replicas < others || v.sentinels < others => format!(
                "{node}'s Sentinel knows {} of {others} replicas and {} of {others} other Sentinels",
                v.replicas, v.sentinels
            ),
            Ok(v) => {
                primaries.insert(v.primary);
                continue;
            }
        };
        problems.push(super::readiness::Problem {
            node: Some(node.clone()),
            what,
        });
    }
    if !problems.is_empty() {
        return Err(Pending { problems });
    }
    let mut named = primaries.into_iter();
    let (Some(primary), None) = (named.next(), named.next()) else {
        return Err(Pending::cluster("the Sentinels name different primaries"));
    };
    let connected = connected_replicas(primary)
        .await
        .map_err(Pending::cluster)?;
    if connected < others {
        return Err(Pending::cluster(format!(
            "the primary {} has {connected} of {others} replicas connected",
            node_at(primary, nodes).unwrap_or_else(|| primary.to_string().into())
        )));
    }
    Ok(())
}

/// The node most Sentinels name as the primary, if more than half of them do (a Sentinel cut off
/// from the others still names the old one).
pub async fn primary(nodes: &[Endpoint]) -> Option<NodeName> {
    let answers = futures_util::future::join_all(
        nodes
            .iter()
            .map(|n| async move { ask_primary(n.addr, PROBE_TIMEOUT).await.ok() }),
    )
    .await;
    let mut votes: std::collections::BTreeMap<SocketAddr, usize> = Default::default();
    for a in answers.into_iter().flatten() {
        *votes.entry(a).or_default() += 1;
    }
    let (addr, n) = votes.into_iter().max_by_key(|(_, n)| *n)?;
    (n * 2 > nodes.len())
        .then(|| node_at(addr, nodes))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_primary_address_decodes_and_a_missing_one_is_refused() {
        let v = Value::Array(vec![
            Value::BulkString(b"10.77.0.12".to_vec()),
            Value::BulkString(b"6379".to_vec()),
        ]);
        assert_eq!(
            parse_primary(&v).unwrap(),
            "10.77.0.12:6379".parse::<SocketAddr>().unwrap()
        );
        assert!(matches!(
            parse_primary(&Value::Nil),
            Err(DriverError::Server(_))
        ));
        assert!(matches!(
            parse_primary(&Value::Int(3)),
            Err(DriverError::Protocol(_))
        ));
        let nodes: Vec<Endpoint> = (1..=3)
            .map(|i| {
                Endpoint::new(
                    format!("n{i}"),
                    format!("10.77.0.{}:26379", 10 + i).parse().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            node_at("10.77.0.12:6379".parse().unwrap(), &nodes).as_deref(),
            Some("n2")
        );
        let line = "1:X 30 Nov 2026 03:11:27.392 # +promoted-slave slave 10.77.0.13:6379 10.77.0.13 6379 @ perseus 10.77.0.11 6379";
        assert_eq!(promoted_node(line, &nodes).as_deref(), Some("n3"));
        assert_eq!(promoted_node("+promoted-slave sentinel x", &nodes), None);
        assert_eq!(
            promoted_node(
                "+promoted-slave slave 10.9.9.9:6379 10.9.9.9 6379 @ perseus 10.77.0.11 6379",
                &nodes
            ),
            None,
            "an address outside the lab names no node"
        );
    }

    #[test]
    fn sentinel_master_fields_pair_up() {
        let v = Value::Array(
            ["name", "perseus", "num-slaves", "2", "flags", "master"]
                .iter()
                .map(|s| Value::BulkString(s.as_bytes().to_vec()))
                .collect(),
        );
        let f = fields(&v);
        assert_eq!(f[1], ("num-slaves".to_string(), "2".to_string()));
        assert_eq!(f.len(), 3);
    }
}
