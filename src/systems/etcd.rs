//! etcd 3.4 ([`Etcd`]): the load driver, readiness and leader lookup, all through the v3 JSON
//! gateway.
//!
//! Source: etcd v3 API reference and gRPC gateway docs
//! (<https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/>): `POST /v3/kv/range` and
//! `POST /v3/kv/txn` take base64 keys and values (a transaction's `compare` on the key's `VALUE`,
//! or on its `CREATE` revision being 0 for a key that does not exist, then `success` puts;
//! `succeeded` is omitted when the comparison failed); `POST /v3/maintenance/status` returns the member's
//! id (`header.member_id`), the leader's member id (`leader`) and the Raft term (`raftTerm`). 64-bit
//! integers are JSON strings, and proto3 omits zero values (no `leader` field = no leader).

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use bytes::Bytes;
use futures_util::future::BoxFuture;
use hyper::{Method, StatusCode};
use serde::Deserialize;

use super::readiness::{Pending, Problem};
use super::system::{Cluster, Leadership, Settings, System};
use crate::driver::{parse_decimal, Driver, DriverError, Endpoint, Written};
use crate::http::{oneshot, HttpConn};
use crate::node::NodeName;

/// etcd: a Raft cluster whose leader is the member the others' status names.
#[derive(Debug, Clone, Copy)]
pub struct Etcd;

impl System for Etcd {
    fn name(&self) -> &'static str {
        "etcd"
    }

    fn driver(&self, _: &Settings) -> Arc<dyn crate::load::DynDriver> {
        Arc::new(EtcdDriver)
    }

    fn leadership(&self) -> Leadership {
        Leadership::Leader { roles: &[] }
    }

    fn ready<'a>(&'a self, cluster: &'a Cluster) -> BoxFuture<'a, Result<(), Pending>> {
        Box::pin(ready(&cluster.nodes))
    }

    fn leader<'a>(
        &'a self,
        cluster: &'a Cluster,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, Option<NodeName>> {
        Box::pin(async move { leader(&cluster.nodes).await.leader })
    }
}

/// How long a readiness or leader probe waits for one member (seconds).
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The load loop's etcd driver: one HTTP/1.1 connection per loop connection; reads are
/// linearizable ranges (etcd's default), writes are transactions that put the new value only if
/// the key still holds the one read (compare-and-set).
#[derive(Debug, Clone, Default)]
pub struct EtcdDriver;

#[derive(Deserialize)]
struct RangeResponse {
    #[serde(default)]
    kvs: Vec<Kv>,
}

#[derive(Deserialize)]
struct Kv {
    #[serde(default)]
    value: String,
}

/// Decode a range response: the key's value as a number, or `None` when absent.
fn parse_range(body: &[u8]) -> Result<Option<u64>, DriverError> {
    let resp: RangeResponse = serde_json::from_slice(body)
        .map_err(|e| DriverError::Protocol(format!("bad range response: {e}")))?;
    match resp.kvs.first() {
        None => Ok(None),
        Some(kv) => {
            let raw = B64
                .decode(&kv.value)
                .map_err(|e| DriverError::Protocol(format!("bad base64 value: {e}")))?;
            parse_decimal(&raw).map(Some)
        }
    }
}

/// An error answer of the gateway. A request etcd did not understand (4xx) was refused; any other
/// (`etcdserver: request timed out`, `leader changed`, `no leader`: HTTP 503 and the like) may
/// still be applied once a leader commits the proposal, so its outcome is unknown.
fn check(status: StatusCode, body: &[u8]) -> Result<(), DriverError> {
    if status.is_success() {
        return Ok(());
    }
    let text = format!("HTTP {status}: {}", String::from_utf8_lossy(body).trim());
    Err(if status.is_client_error() {
        DriverError::Server(text)
    } else {
        DriverError::Ambiguous(text)
    })
}

/// The body of the compare-and-set transaction: put `value` if `key` holds `expected` (or, for
/// `None`, was never created).
fn txn_body(key: &str, expected: Option<u64>, value: u64) -> String {
    let k = B64.encode(key);
    let compare = match expected {
        Some(v) => serde_json::json!({
            "key": k, "target": "VALUE", "result": "EQUAL", "value": B64.encode(v.to_string())
        }),
        None => serde_json::json!({
            "key": k, "target": "CREATE", "result": "EQUAL", "create_revision": "0"
        }),
    };
    serde_json::json!({
        "compare": [compare],
        "success": [{ "request_put": { "key": k, "value": B64.encode(value.to_string()) } }],
    })
    .to_string()
}

/// Decode a transaction's answer: whether its comparison held (proto3 omits `false`).
fn parse_txn(body: &[u8]) -> Result<Written, DriverError> {
    #[derive(Deserialize)]
    struct Txn {
        #[serde(default)]
        succeeded: bool,
    }
    let t: Txn = serde_json::from_slice(body)
        .map_err(|e| DriverError::Protocol(format!("bad txn response: {e}")))?;
    Ok(if t.succeeded {
        Written::Applied
    } else {
        Written::Refused
    })
}

impl Driver for EtcdDriver {
    type Conn = HttpConn;
    const CONDITIONAL: bool = true;

    async fn connect(
        &self,
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> Result<HttpConn, DriverError> {
        HttpConn::connect(endpoint.addr, timeout)
            .await
            .map_err(|e| DriverError::Connect(e.to_string()))
    }

    async fn read(&self, conn: &mut HttpConn, key: &str) -> Result<Option<u64>, DriverError> {
        let body = serde_json::json!({ "key": B64.encode(key) }).to_string();
        let (status, resp) = conn
            .request(Method::POST, "/v3/kv/range", Some(Bytes::from(body)))
            .await
            .map_err(|e| DriverError::Io(e.to_string()))?;
        check(status, &resp)?;
        parse_range(&resp)
    }

    async fn write(
        &self,
        conn: &mut HttpConn,
        key: &str,
        expected: Option<u64>,
        value: u64,
    ) -> Result<Written, DriverError> {
        let body = txn_body(key, expected, value);
        let (status, resp) = conn
            .request(Method::POST, "/v3/kv/txn", Some(Bytes::from(body)))
            .await
            .map_err(|e| DriverError::Io(e.to_string()))?;
        check(status, &resp)?;
        parse_txn(&resp)
    }
}

/// What one member says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStatus {
    /// This member's id.
    pub member_id: u64,
    /// The leader's member id as this member knows it (0: none).
    pub leader: u64,
    /// The Raft term this member is in.
    pub raft_term: u64,
}

/// Decode a `/v3/maintenance/status` response.
pub fn parse_status(body: &[u8]) -> Result<MemberStatus, String> {
    #[derive(Deserialize)]
    struct Header {
        #[serde(default)]
        member_id: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Status {
        header: Header,
        #[serde(default)]
        leader: Option<String>,
        #[serde(default)]
        raft_term: Option<String>,
    }
    let s: Status =
        serde_json::from_slice(body).map_err(|e| format!("bad status response: {e}"))?;
    let num = |v: Option<String>| v.map(|x| x.parse::<u64>().unwrap_or(0)).unwrap_or(0);
    Ok(MemberStatus {
        member_id: num(s.header.member_id),
        leader: num(s.leader),
        raft_term: num(s.raft_term),
    })
}

/// Ask one member for its status.
pub async fn status(endpoint: &Endpoint) -> Result<MemberStatus, String> {
    let (code, body) = oneshot(
        endpoint.addr,
        Method::POST,
        "/v3/maintenance/status",
        Some(Bytes::from_static(b"{}")),
        PROBE_TIMEOUT,
    )
    .await
    .map_err(|e| e.to_string())?;
    if !code.is_success() {
        return Err(format!("HTTP {code}"));
    }
    parse_status(&body)
}

/// The cluster's view of its leader, from every member that answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderView {
    /// The leader's node name, if a member that answered is the leader at the highest term.
    pub leader: Option<NodeName>,
    /// Per node: its status, or why it did not answer.
    pub answers: Vec<(NodeName, Result<MemberStatus, String>)>,
}

/// Decide the leader from the members' answers: among the answers that name a leader, take the one
/// at the highest Raft term (an isolated former leader may still believe in an older term); the
/// leader is the node whose member id it names, and it must itself have answered.
pub fn decide_leader(answers: &[(NodeName, Result<MemberStatus, String>)]) -> Option<NodeName> {
    let best = answers
        .iter()
        .filter_map(|(_, a)| a.as_ref().ok())
        .filter(|s| s.leader != 0)
        .max_by_key(|s| s.raft_term)?;
    answers
        .iter()
        .find(|(_, a)| a.as_ref().is_ok_and(|s| s.member_id == best.leader))
        .map(|(n, _)| n.clone())
}

/// Ask every member for its status, concurrently, and decide the leader.
pub async fn leader(nodes: &[Endpoint]) -> LeaderView {
    let answers = futures_util::future::join_all(
        nodes
            .iter()
            .map(|n| async move { (n.node.clone(), status(n).await) }),
    )
    .await;
    LeaderView {
        leader: decide_leader(&answers),
        answers,
    }
}

/// Ready when every member answers and all name the same, answering, leader.
pub async fn ready(nodes: &[Endpoint]) -> Result<(), Pending> {
    let view = leader(nodes).await;
    let mut problems = Vec::new();
    for (node, answer) in &view.answers {
        let what = match answer {
            Err(e) => format!("{node} does not answer ({e})"),
            Ok(s) if s.leader == 0 => format!("{node} knows no leader yet"),
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
    let leaders: std::collections::BTreeSet<u64> = view
        .answers
        .iter()
        .filter_map(|(_, a)| a.as_ref().ok().map(|s| s.leader))
        .collect();
    if leaders.len() > 1 || view.leader.is_none() {
        return Err(Pending::cluster("members do not agree on a leader yet"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_response_decodes_absent_and_present_keys() {
        assert_eq!(
            parse_range(br#"{"header":{"revision":"5"}}"#).unwrap(),
            None
        );
        let body = format!(
            r#"{{"kvs":[{{"key":"a2V5","value":"{}"}}],"count":"1"}}"#,
            B64.encode("41")
        );
        assert_eq!(parse_range(body.as_bytes()).unwrap(), Some(41));
        let bad = format!(r#"{{"kvs":[{{"value":"{}"}}]}}"#, B64.encode("x"));
        assert!(parse_range(bad.as_bytes()).is_err());
    }

    #[test]
    fn the_write_is_a_transaction_on_the_value_read() {
        let v: serde_json::Value = serde_json::from_str(&txn_body("k", Some(41), 42)).unwrap();
        assert_eq!(v["compare"][0]["target"], "VALUE");
        assert_eq!(v["compare"][0]["value"], B64.encode("41"));
        assert_eq!(v["success"][0]["request_put"]["value"], B64.encode("42"));
        let v: serde_json::Value = serde_json::from_str(&txn_body("k", None, 1)).unwrap();
        assert_eq!(v["compare"][0]["target"], "CREATE");
        assert_eq!(v["compare"][0]["create_revision"], "0");
        assert_eq!(
            parse_txn(br#"{"header":{},"succeeded":true}"#).unwrap(),
            Written::Applied
        );
        assert_eq!(parse_txn(br#"{"header":{}}"#).unwrap(), Written::Refused);
        assert!(matches!(
            check(
                StatusCode::SERVICE_UNAVAILABLE,
                b"etcdserver: request timed out"
            ),
            Err(DriverError::Ambiguous(_))
        ));
        assert!(matches!(
            check(StatusCode::BAD_REQUEST, b"bad"),
            Err(DriverError::Server(_))
        ));
    }

    #[test]
    fn status_decodes_string_integers_and_omitted_zeroes() {
        let s = parse_status(br#"{"header":{"cluster_id":"1","member_id":"42","revision":"9","raft_term":"3"},"version":"3.4.23","leader":"7","raftTerm":"3"}"#).unwrap();
        assert_eq!(
            s,
            MemberStatus {
                member_id: 42,
                leader: 7,
                raft_term: 3
            }
        );
        let s = parse_status(br#"{"header":{"member_id":"42"}}"#).unwrap();
        assert_eq!(s.leader, 0);
    }

    #[test]
    fn leader_is_taken_at_the_highest_term_and_must_answer() {
        let st = |id, leader, term| {
            Ok(MemberStatus {
                member_id: id,
                leader,
                raft_term: term,
            })
        };
        // n1 (id 1) was isolated and still thinks it leads at term 2; n2 and n3 elected n2 at term 3.
        let answers = vec![
            (NodeName::from("n1"), st(1, 1, 2)),
            (NodeName::from("n2"), st(2, 2, 3)),
            (NodeName::from("n3"), st(3, 2, 3)),
        ];
        assert_eq!(decide_leader(&answers), Some("n2".into()));
        // The leader named by the others did not answer (killed): no leader to target.
        let answers = vec![
            (NodeName::from("n1"), Err("refused".to_string())),
            (NodeName::from("n2"), st(2, 1, 2)),
            (NodeName::from("n3"), st(3, 1, 2)),
        ];
        assert_eq!(decide_leader(&answers), None);
        let answers = vec![(NodeName::from("n1"), st(1, 0, 2))];
        assert_eq!(decide_leader(&answers), None);
    }
}
