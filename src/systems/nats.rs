//! NATS with JetStream ([`Nats`]): servers clustered by routes, and a key-value bucket whose
//! stream is replicated to every node by JetStream's Raft (compose/nats.yaml,
//! compose/nats-leader-reads.yaml).
//!
//! The client of node *i* connects to server *i* alone (`async-nats`, with the servers the cluster
//! gossips ignored, so it never moves to another node) and uses the bucket [`BUCKET`] through
//! async-nats' key-value API. An iteration reads the key's last entry, then **`update`s it at the
//! revision read**: JetStream's `Nats-Expected-Last-Subject-Sequence` check, a compare-and-set on
//! the revision (revision 0, "no entry yet", is create). A write from a stale read fails with
//! `wrong last sequence` and nothing is written.
//!
//! **Reads.** The bucket's stream is made as async-nats' `create_key_value` makes it, with
//! `allow_direct` (compose/nats.yaml): any replica answers a read (`$JS.API.DIRECT.GET`), the
//! client's own server first when it holds one, from whatever it has applied, so a replica that
//! lags answers with an older value. With `options: {allow-direct: false}`
//! (compose/nats-leader-reads.yaml) the stream is made without it and async-nats reads through
//! `$JS.API.STREAM.MSG.GET`, which only the stream's leader answers. Neither is a linearizable
//! read (a deposed leader that has not noticed still answers); the loop reports a read below the
//! last acknowledged value whose compare-and-set then fails as **stale**, not lost. The final
//! read, once the faults are undone, always asks the stream's leader (`STREAM.MSG.GET`), on both
//! definitions, so that it reports what the stream holds, not what a lagging replica answers.
//!
//! The leader is the bucket's stream leader, `meta-leader` the JetStream meta group's, both as
//! most servers' monitoring endpoint names them (`GET /jsz?accounts=true&streams=true` on port
//! [`MONITOR_PORT`]). Ready when every server's `GET /healthz` is ok and all name the same meta
//! leader of a full-size meta group; the bucket is then made, and the lab waits for its stream to
//! have a leader and every replica current.
//!
//! Sources: NATS docs, "JetStream Clustering", "Key/Value Store" and "Monitoring"
//! (<https://docs.nats.io/running-a-nats-service/nats_admin/monitoring>); ADR-8 (JetStream
//! key-value); async-nats' `jetstream::kv`.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishError, context::PublishErrorKind, kv, stream};
use futures_util::future::BoxFuture;
use hyper::Method;

use super::readiness::{Pending, Problem};
use super::system::{Cluster, Leadership, PromotionLog, Settings, System};
use crate::driver::{parse_decimal, Driver, DriverError, Endpoint, Evidence, Written};
use crate::http::oneshot;
use crate::node::NodeName;

/// The key-value bucket the load loop uses; its stream is `KV_perseus`.
pub const BUCKET: &str = "perseus";
/// The servers' monitoring port (`/healthz`, `/jsz`).
pub const MONITOR_PORT: u16 = 8222;
/// How long a readiness or leader probe waits for one server.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// JetStream keeps at most five replicas of a stream.
const MAX_REPLICAS: usize = 5;

/// NATS JetStream: its leader is the bucket's stream leader.
#[derive(Debug, Clone, Copy)]
pub struct Nats;

impl System for Nats {
    fn name(&self) -> &'static str {
        "nats"
    }

    fn driver(&self, _: &Settings) -> Arc<dyn crate::load::DynDriver> {
        Arc::new(NatsDriver)
    }

    fn leadership(&self) -> Leadership {
        Leadership::Leader { roles: &["meta"] }
    }

    /// `GET /varz` on the monitoring port: its `version` (`2.9.10`).
    fn server_version<'a>(
        &'a self,
        _: &'a Cluster,
        node: &'a Endpoint,
    ) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let (code, body) = get(node, "/varz").await.ok()?;
            code.is_success()
                .then(|| super::json_field(&body, &["version"]))?
        })
    }

    fn ready<'a>(&'a self, cluster: &'a Cluster) -> BoxFuture<'a, Result<(), Pending>> {
        Box::pin(ready(&cluster.nodes))
    }

    fn leader<'a>(
        &'a self,
        cluster: &'a Cluster,
        role: Option<&'a str>,
    ) -> BoxFuture<'a, Option<NodeName>> {
        Box::pin(async move {
            let views = views(&cluster.nodes).await;
            let pick = |v: &JsView| match role {
                Some(_) => v.meta_leader.clone(),
                None => v.stream_leader.clone(),
            };
            decide_leader(&views, pick)
        })
    }

    /// Make the bucket's stream (through `node`) if it is not there, then wait for it to have a
    /// leader and every replica current.
    fn prepare<'a>(
        &'a self,
        cluster: &'a Cluster,
        node: &'a Endpoint,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let allow_direct = allow_direct(&cluster.settings.options)?;
            let replicas = cluster.nodes.len().min(MAX_REPLICAS);
            let made = tokio::time::timeout(timeout, async {
                let client = connect(node, timeout).await?;
                let js = jetstream::new(client);
                let mut stream = js
                    .get_or_create_stream(bucket_stream(replicas, allow_direct))
                    .await
                    .map_err(|e| format!("create the stream of bucket {BUCKET}: {e}"))?;
                let info = stream
                    .info()
                    .await
                    .map_err(|e| format!("stream info of bucket {BUCKET}: {e}"))?;
                if info.config.allow_direct != allow_direct {
                    return Err(format!(
                        "bucket {BUCKET} exists with allow_direct {}: bring the lab down and up again",
                        info.config.allow_direct
                    ));
                }
                let cluster_info = info.cluster.clone().unwrap_or_default();
                let current = cluster_info.replicas.iter().filter(|r| r.current).count();
                match cluster_info.leader {
                    Some(_) if current + 1 >= replicas => Ok(()),
                    leader => Err(format!(
                        "bucket {BUCKET}'s stream: leader {}, {current} of {} replicas current",
                        leader.as_deref().unwrap_or("none yet"),
                        replicas - 1
                    )),
                }
            })
            .await;
            made.unwrap_or_else(|_| Err(format!("bucket {BUCKET}: no answer in {timeout:?}")))
        })
    }

    /// The server that wins the election of the bucket's stream logs
    /// `JetStream cluster new stream leader for '$G > KV_perseus'` (jetstream_cluster.go).
    fn promotion_log(&self) -> Option<PromotionLog> {
        Some(PromotionLog {
            sidecar: None,
            marker: "JetStream cluster new stream leader for '$G > KV_perseus'",
            source: "JetStream",
        })
    }

    /// The one option: `allow-direct` (`true`, the default, or `false`).
    fn check(&self, settings: &Settings) -> Result<(), String> {
        if let Some(name) = settings.options.keys().find(|k| *k != "allow-direct") {
            return Err(format!(
                "x-perseus.options.{name} means nothing to nats: its one option is allow-direct (true or false)"
            ));
        }
        if !settings.schema.is_empty() {
            return Err("x-perseus.schema needs a system that speaks SQL, and nats does not: leave schema out".into());
        }
        allow_direct(&settings.options).map(|_| ())
    }
}

/// The `allow-direct` option: whether the bucket's stream lets any replica answer reads
/// (default `true`, as async-nats makes buckets).
fn allow_direct(options: &BTreeMap<String, String>) -> Result<bool, String> {
    match options.get("allow-direct").map(String::as_str) {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(format!(
            "x-perseus.options.allow-direct is '{other}': write true or false"
        )),
    }
}

/// The bucket's stream, as async-nats' `create_key_value` configures a bucket (ADR-8: one value
/// per key, rollups allowed, deletes denied, discard new), with `replicas` copies and direct
/// gets on or off.
pub fn bucket_stream(replicas: usize, allow_direct: bool) -> stream::Config {
    stream::Config {
        name: format!("KV_{BUCKET}"),
        description: Some("the Perseus load loop's keys".into()),
        subjects: vec![format!("$KV.{BUCKET}.>")],
        max_messages_per_subject: 1,
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct,
        num_replicas: replicas,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    }
}

/// A client of one server only: the servers the cluster tells it of are ignored, so it never
/// moves to another node; it fails at once when the server refuses.
async fn connect(endpoint: &Endpoint, timeout: Duration) -> Result<async_nats::Client, String> {
    async_nats::ConnectOptions::new()
        .ignore_discovered_servers()
        .retain_servers_order()
        .connection_timeout(timeout)
        .max_reconnects(Some(1))
        .connect(format!("nats://{}", endpoint.addr))
        .await
        .map_err(|e| e.to_string())
}

/// The load loop's NATS driver (see the module docs): the bucket through one server, reads of the
/// last entry, writes by `update` at the revision read.
#[derive(Debug, Clone, Default)]
pub struct NatsDriver;

/// One client, the bucket through it, the revision its last read returned (0: absent), and what
/// the history records of its last answer (the revision read, or the sequence a write was
/// acknowledged at).
pub struct NatsConn {
    kv: kv::Store,
    read: Option<(String, u64)>,
    evidence: Option<Evidence>,
}

/// What a failed write says about its outcome: nobody took it (no responders: no stream leader
/// the server could reach) or JetStream refused it, both definite; no acknowledgement in time, or
/// a broken connection, unknown.
fn classify_publish(e: &PublishError) -> DriverError {
    match e.kind() {
        PublishErrorKind::StreamNotFound => DriverError::Server(format!("no responders: {e}")),
        PublishErrorKind::TimedOut => DriverError::Ambiguous(e.to_string()),
        PublishErrorKind::BrokenPipe => DriverError::Io(e.to_string()),
        PublishErrorKind::Other
            if e.source()
                .is_some_and(|s| s.downcast_ref::<jetstream::Error>().is_some()) =>
        {
            DriverError::Server(e.to_string())
        }
        _ => DriverError::Protocol(e.to_string()),
    }
}

/// What a read rests on: the stream sequence of the entry it returned (0: none).
fn revision(value: u64) -> Evidence {
    Evidence {
        name: "revision",
        value,
    }
}

impl Driver for NatsDriver {
    type Conn = NatsConn;
    const CONDITIONAL: bool = true;

    fn evidence(&self, conn: &NatsConn) -> Option<Evidence> {
        conn.evidence
    }

    async fn connect(
        &self,
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> Result<NatsConn, DriverError> {
        let open = async {
            let client = connect(endpoint, timeout)
                .await
                .map_err(DriverError::Connect)?;
            let js = jetstream::new(client);
            // A stream info request: answered only once the stream has a leader.
            let kv = js
                .get_key_value(BUCKET)
                .await
                .map_err(|e| DriverError::Connect(format!("bucket {BUCKET}: {e}")))?;
            Ok(NatsConn {
                kv,
                read: None,
                evidence: None,
            })
        };
        tokio::time::timeout(timeout, open)
            .await
            .unwrap_or_else(|_| {
                Err(DriverError::Connect(format!(
                    "no bucket in {} ms",
                    timeout.as_millis()
                )))
            })
    }

    async fn read(&self, conn: &mut NatsConn, key: &str) -> Result<Option<u64>, DriverError> {
        conn.evidence = None;
        let entry = conn.kv.entry(key).await.map_err(|e| match e.kind() {
            kv::EntryErrorKind::TimedOut => DriverError::Ambiguous(e.to_string()),
            _ => DriverError::Io(e.to_string()),
        })?;
        match entry {
            Some(e) if e.operation == kv::Operation::Put => {
                let value = parse_decimal(&e.value)?;
                conn.read = Some((key.to_string(), e.revision));
                conn.evidence = Some(revision(e.revision));
                Ok(Some(value))
            }
            // Absent, or deleted (the loop never deletes): the next write creates it anew.
            Some(e) => {
                conn.read = Some((key.to_string(), e.revision));
                conn.evidence = Some(revision(e.revision));
                Ok(None)
            }
            None => {
                conn.read = Some((key.to_string(), 0));
                conn.evidence = Some(revision(0));
                Ok(None)
            }
        }
    }

    /// The stream leader's last message on the key's subject (`STREAM.MSG.GET`), whatever the
    /// bucket's reads do.
    async fn final_read(&self, conn: &mut NatsConn, key: &str) -> Result<Option<u64>, DriverError> {
        let subject = format!("$KV.{BUCKET}.{key}");
        conn.evidence = None;
        match conn
            .kv
            .stream
            .get_last_raw_message_by_subject(&subject)
            .await
        {
            Ok(m) => {
                conn.evidence = Some(revision(m.sequence));
                if m.payload.is_empty() {
                    Ok(None)
                } else {
                    parse_decimal(&m.payload).map(Some)
                }
            }
            Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {
                conn.evidence = Some(revision(0));
                Ok(None)
            }
            Err(e) => Err(DriverError::Io(e.to_string())),
        }
    }

    async fn write(
        &self,
        conn: &mut NatsConn,
        key: &str,
        _expected: Option<u64>,
        value: u64,
    ) -> Result<Written, DriverError> {
        let revision = match conn.read.take() {
            Some((k, revision)) if k == key => revision,
            _ => {
                return Err(DriverError::Protocol(format!(
                    "write of {key} without a read of it on this connection"
                )))
            }
        };
        match conn
            .kv
            .update(key, value.to_string().into(), revision)
            .await
        {
            Ok(seq) => {
                conn.evidence = Some(Evidence {
                    name: "seq",
                    value: seq,
                });
                Ok(Written::Applied)
            }
            Err(e) => match e.kind() {
                kv::UpdateErrorKind::WrongLastRevision => Ok(Written::Refused),
                kv::UpdateErrorKind::TimedOut => Err(DriverError::Ambiguous(e.to_string())),
                _ => Err(
                    match e.source().and_then(|s| s.downcast_ref::<PublishError>()) {
                        Some(p) => classify_publish(p),
                        None => DriverError::Protocol(e.to_string()),
                    },
                ),
            },
        }
    }
}

/// What one server's monitoring endpoint says of JetStream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JsView {
    /// The meta group's leader, as this server knows it.
    pub meta_leader: Option<NodeName>,
    /// The meta group's size.
    pub cluster_size: usize,
    /// The bucket's stream leader, as this server knows it (`None`: no leader, or this server
    /// holds no replica of the stream).
    pub stream_leader: Option<NodeName>,
}

/// Decode `GET /jsz?accounts=true&streams=true`: `meta_cluster.leader` and `.cluster_size`, and
/// the bucket's stream's `cluster.leader` under `account_details[].stream_detail[]`.
pub fn parse_jsz(body: &[u8]) -> Result<JsView, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("bad /jsz answer: {e}"))?;
    let text = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(NodeName::from);
    let stream = format!("KV_{BUCKET}");
    let stream_leader = v["account_details"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["stream_detail"].as_array().into_iter().flatten())
        .find(|s| s["name"] == stream.as_str())
        .and_then(|s| text(&s["cluster"]["leader"]));
    Ok(JsView {
        meta_leader: text(&v["meta_cluster"]["leader"]),
        cluster_size: v["meta_cluster"]["cluster_size"].as_u64().unwrap_or(0) as usize,
        stream_leader,
    })
}

/// The monitoring endpoint of `node`.
fn monitor(node: &Endpoint) -> std::net::SocketAddr {
    node.port(MONITOR_PORT)
}

/// Ask one server's monitoring endpoint.
async fn get(node: &Endpoint, path: &str) -> Result<(hyper::StatusCode, bytes::Bytes), String> {
    oneshot(monitor(node), Method::GET, path, None, PROBE_TIMEOUT)
        .await
        .map_err(|e| e.to_string())
}

/// Every server's view of JetStream, asked concurrently, in node order.
pub async fn views(nodes: &[Endpoint]) -> Vec<(NodeName, Result<JsView, String>)> {
    futures_util::future::join_all(nodes.iter().map(|n| async move {
        let view = get(n, "/jsz?accounts=true&streams=true")
            .await
            .and_then(|(_, body)| parse_jsz(&body));
        (n.node.clone(), view)
    }))
    .await
}

/// The leader more than half of all the servers name (`pick` reads it from a view), if that
/// server answered too: a server cut off from the others may still name itself or its old
/// leader.
pub fn decide_leader(
    views: &[(NodeName, Result<JsView, String>)],
    pick: impl Fn(&JsView) -> Option<NodeName>,
) -> Option<NodeName> {
    let mut votes: BTreeMap<NodeName, usize> = BTreeMap::new();
    for (_, v) in views {
        if let Some(name) = v.as_ref().ok().and_then(&pick) {
            *votes.entry(name).or_default() += 1;
        }
    }
    votes
        .into_iter()
        .filter(|(_, n)| *n * 2 > views.len())
        .map(|(name, _)| name)
        .find(|name| views.iter().any(|(n, v)| n == name && v.is_ok()))
}

/// Ready when every server is healthy and all name the same meta leader of a group of every node.
pub async fn ready(nodes: &[Endpoint]) -> Result<(), Pending> {
    let health = futures_util::future::join_all(nodes.iter().map(|n| async move {
        let answer = match get(n, "/healthz").await {
            Ok((code, _)) if code.is_success() => Ok(()),
            Ok((code, body)) => Err(format!(
                "{} is not healthy (HTTP {code}: {})",
                n.node,
                String::from_utf8_lossy(&body).trim()
            )),
            Err(e) => Err(format!("{} does not answer /healthz ({e})", n.node)),
        };
        (n.node.clone(), answer)
    }))
    .await;
    let problems: Vec<Problem> = health
        .into_iter()
        .filter_map(|(node, a)| {
            a.err().map(|what| Problem {
                node: Some(node),
                what,
            })
        })
        .collect();
    if !problems.is_empty() {
        return Err(Pending { problems });
    }
    let views = views(nodes).await;
    let mut problems = Vec::new();
    for (node, v) in &views {
        let what = match v {
            Err(e) => format!("{node} does not answer /jsz ({e})"),
            Ok(v) if v.meta_leader.is_none() => format!("{node} knows no meta leader yet"),
            Ok(v) if v.cluster_size != nodes.len() => format!(
                "{node} sees a meta group of {} of {} servers",
                v.cluster_size,
                nodes.len()
            ),
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
    let leaders: std::collections::BTreeSet<_> = views
        .iter()
        .filter_map(|(_, v)| v.as_ref().ok().and_then(|v| v.meta_leader.clone()))
        .collect();
    if leaders.len() != 1 {
        return Err(Pending::cluster(format!(
            "servers name different meta leaders: {leaders:?}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_is_varzs() {
        let body = br#"{"server_id":"N","server_name":"n1","version":"2.9.10","proto":1}"#;
        assert_eq!(
            crate::systems::json_field(body, &["version"]).as_deref(),
            Some("2.9.10")
        );
    }

    use super::*;

    const JSZ: &str = r#"{"server_id":"N1","meta_cluster":{"name":"perseus","leader":"n1","peer":"fj","replicas":[{"name":"n2","current":true}],"cluster_size":3},
      "account_details":[{"name":"$G","id":"$G","stream_detail":[{"name":"KV_perseus","cluster":{"name":"perseus","leader":"n3","replicas":[{"name":"n1","current":true},{"name":"n2","current":false}]}}]}]}"#;

    #[test]
    fn jsz_names_the_meta_leader_and_the_buckets_stream_leader() {
        let v = parse_jsz(JSZ.as_bytes()).unwrap();
        assert_eq!(
            v,
            JsView {
                meta_leader: Some("n1".into()),
                cluster_size: 3,
                stream_leader: Some("n3".into()),
            }
        );
        let v = parse_jsz(br#"{"meta_cluster":{"name":"perseus","leader":"","cluster_size":3}}"#)
            .unwrap();
        assert_eq!(v.meta_leader, None);
        assert_eq!(v.stream_leader, None);
        assert!(parse_jsz(b"<html>").is_err());
    }

    #[test]
    fn the_leader_is_what_a_majority_names_and_it_must_answer() {
        let view = |stream: &str| {
            Ok(JsView {
                meta_leader: Some("n1".into()),
                cluster_size: 3,
                stream_leader: Some(stream.into()),
            })
        };
        let pick = |v: &JsView| v.stream_leader.clone();
        // n1 was cut off and still names itself; n2 and n3 elected n2.
        let views = vec![
            (NodeName::from("n1"), view("n1")),
            (NodeName::from("n2"), view("n2")),
            (NodeName::from("n3"), view("n2")),
        ];
        assert_eq!(decide_leader(&views, pick), Some("n2".into()));
        // The others still name a leader that no longer answers (killed): none to target.
        let views = vec![
            (NodeName::from("n1"), Err("refused".to_string())),
            (NodeName::from("n2"), view("n1")),
            (NodeName::from("n3"), view("n1")),
        ];
        assert_eq!(decide_leader(&views, pick), None);
        assert_eq!(
            decide_leader(&views, |v: &JsView| v.meta_leader.clone()),
            None
        );
    }

    #[test]
    fn the_bucket_stream_is_a_kv_stream_with_direct_gets_as_asked() {
        let s = bucket_stream(3, false);
        assert_eq!(s.name, "KV_perseus");
        assert_eq!(s.subjects, vec!["$KV.perseus.>".to_string()]);
        assert_eq!(s.max_messages_per_subject, 1);
        assert_eq!(s.num_replicas, 3);
        assert!(s.allow_rollup && s.deny_delete && !s.allow_direct);
        assert!(bucket_stream(3, true).allow_direct);
    }

    #[test]
    fn allow_direct_is_the_one_option_and_takes_true_or_false() {
        let opts = |k: &str, v: &str| {
            let mut s = Settings::default();
            s.options.insert(k.into(), v.into());
            s
        };
        assert_eq!(allow_direct(&BTreeMap::new()), Ok(true));
        assert_eq!(
            allow_direct(&opts("allow-direct", "false").options),
            Ok(false)
        );
        Nats.check(&opts("allow-direct", "false")).unwrap();
        let e = Nats.check(&opts("allow-direct", "maybe")).unwrap_err();
        assert!(e.contains("'maybe'") && e.contains("true or false"), "{e}");
        let e = Nats.check(&opts("replicas", "5")).unwrap_err();
        assert!(
            e.contains("options.replicas") && e.contains("allow-direct"),
            "{e}"
        );
    }
}
