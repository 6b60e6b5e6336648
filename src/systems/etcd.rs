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

use super::json_field;
use super::readiness::{Pending, Problem};
use super::system::{Cluster, Leadership, Settings, System};
use crate::checker::list_append::Mop;
use crate::driver::{parse_decimal, Driver, DriverError, Endpoint, Written};
use crate::http::{oneshot, HttpConn};
use crate::node::NodeName;
use crate::workload::{parse_list, Isolation, Transferred, TxnConn, TxnDriver, TxnError};

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

    fn transactions(&self, _: &Settings) -> Option<Arc<dyn TxnDriver>> {
        Some(Arc::new(EtcdTxnDriver))
    }

    /// `GET /version` on the client port: `{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}`.
    fn server_version<'a>(
        &'a self,
        _: &'a Cluster,
        node: &'a Endpoint,
    ) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let (code, body) = oneshot(
                node.addr,
                Method::GET,
                "/version",
                None,
                super::system::VERSION_TIMEOUT,
            )
            .await
            .ok()?;
            code.is_success()
                .then(|| json_field(&body, &["etcdserver"]))?
        })
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

/// The transactional workloads on etcd ([`crate::workload`]), through its multi-key
/// transactions. etcd has no interactive transactions: a transaction here reads every key it
/// touches in one `txn` of ranges (all at one revision), computes what it appends, and commits
/// in a second `txn` that puts the new lists only if none of those keys changed since (`compare`
/// on each key's `MOD` revision, 0 for a key that does not exist): optimistic concurrency
/// control, which makes every committed transaction strict serializable by construction, and a
/// refused comparison a definite `fail`. A read-only transaction is its one read `txn`. Keys are
/// `<run>/la/<key>` (lists as comma-separated text) and `<run>/bank/<account>` (balances).
#[derive(Debug, Clone, Default)]
pub struct EtcdTxnDriver;

struct EtcdTxn {
    conn: HttpConn,
    /// Whether the current transaction's conditional write has been sent.
    committing: bool,
}

/// One key as a range inside a transaction returned it: its value and `MOD` revision.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    key: String,
    value: String,
    mod_revision: u64,
}

/// A transaction's answer: whether its comparisons held, and each range's keys in order.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TxnAnswer {
    succeeded: bool,
    ranges: Vec<Vec<Seen>>,
}

/// Decode a `/v3/kv/txn` answer (proto3 omits `false`, empty lists and zero numbers).
fn parse_txn_answer(body: &[u8]) -> Result<TxnAnswer, DriverError> {
    #[derive(Deserialize)]
    struct RawKv {
        #[serde(default)]
        key: String,
        #[serde(default)]
        value: String,
        #[serde(default)]
        mod_revision: Option<String>,
    }
    #[derive(Deserialize)]
    struct RawRange {
        #[serde(default)]
        kvs: Vec<RawKv>,
    }
    #[derive(Deserialize)]
    struct RawOp {
        #[serde(default)]
        response_range: Option<RawRange>,
    }
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        succeeded: bool,
        #[serde(default)]
        responses: Vec<RawOp>,
    }
    let bad = |e: String| DriverError::Protocol(format!("bad txn response: {e}"));
    let raw: Raw = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let text = |b64: &str| {
        B64.decode(b64)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .map_err(|e| bad(format!("base64: {e}")))
    };
    let mut ranges = Vec::new();
    for op in raw.responses {
        let Some(r) = op.response_range else { continue };
        let mut seen = Vec::new();
        for kv in r.kvs {
            seen.push(Seen {
                key: text(&kv.key)?,
                value: text(&kv.value)?,
                mod_revision: kv
                    .mod_revision
                    .map_or(Ok(0), |m| m.parse::<u64>())
                    .map_err(|e| bad(format!("mod_revision: {e}")))?,
            });
        }
        ranges.push(seen);
    }
    Ok(TxnAnswer {
        succeeded: raw.succeeded,
        ranges,
    })
}

/// A `txn` that reads `keys`, each on its own, all at one revision.
fn read_body(keys: &[String]) -> String {
    let success: Vec<serde_json::Value> = keys
        .iter()
        .map(|k| serde_json::json!({ "request_range": { "key": B64.encode(k) } }))
        .collect();
    serde_json::json!({ "success": success }).to_string()
}

/// A `txn` that puts `puts` if every key of `unchanged` still has that `MOD` revision (0: the
/// key does not exist).
fn commit_body(unchanged: &[(String, u64)], puts: &[(String, String)]) -> String {
    let compare: Vec<serde_json::Value> = unchanged
        .iter()
        .map(|(k, rev)| {
            serde_json::json!({
                "key": B64.encode(k), "target": "MOD", "result": "EQUAL",
                "mod_revision": rev.to_string()
            })
        })
        .collect();
    let success: Vec<serde_json::Value> = puts
        .iter()
        .map(|(k, v)| {
            serde_json::json!({ "request_put": { "key": B64.encode(k), "value": B64.encode(v) } })
        })
        .collect();
    serde_json::json!({ "compare": compare, "success": success }).to_string()
}

impl EtcdTxn {
    async fn txn(&mut self, body: String) -> Result<TxnAnswer, DriverError> {
        let (status, resp) = self
            .conn
            .request(Method::POST, "/v3/kv/txn", Some(Bytes::from(body)))
            .await
            .map_err(|e| DriverError::Io(e.to_string()))?;
        check(status, &resp)?;
        parse_txn_answer(&resp)
    }

    /// Read `keys` at one revision: each one's value and `MOD` revision (absent: empty, 0).
    /// It begins a transaction.
    async fn read(&mut self, keys: &[String]) -> Result<Vec<(String, u64)>, TxnError> {
        self.committing = false;
        let a = self
            .txn(read_body(keys))
            .await
            .map_err(TxnError::before_commit)?;
        Ok(keys
            .iter()
            .enumerate()
            .map(|(i, _)| {
                a.ranges
                    .get(i)
                    .and_then(|r| r.first())
                    .map_or((String::new(), 0), |s| (s.value.clone(), s.mod_revision))
            })
            .collect())
    }

    /// Commit `puts` if `unchanged` still holds: `Ok(false)` when a comparison failed (nothing
    /// was written).
    async fn commit(
        &mut self,
        unchanged: &[(String, u64)],
        puts: &[(String, String)],
    ) -> Result<bool, TxnError> {
        self.committing = true;
        self.txn(commit_body(unchanged, puts))
            .await
            .map(|a| a.succeeded)
            .map_err(TxnError::at_commit)
    }
}

fn conflict() -> TxnError {
    TxnError::at_commit(DriverError::Server(
        "a key changed since the transaction read it: nothing was written".into(),
    ))
}

fn la_key(run: &str, k: u64) -> String {
    format!("{run}/la/{k}")
}

fn bank_key(run: &str, id: u64) -> String {
    format!("{run}/bank/{id}")
}

fn balance(text: &str, id: u64) -> Result<i64, TxnError> {
    text.trim().parse::<i64>().map_err(|_| {
        TxnError::before_commit(DriverError::Protocol(format!(
            "account {id} holds '{text}', not a balance"
        )))
    })
}

impl TxnDriver for EtcdTxnDriver {
    fn connect<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Box<dyn TxnConn>, DriverError>> {
        Box::pin(async move {
            let conn = HttpConn::connect(endpoint.addr, timeout)
                .await
                .map_err(|e| DriverError::Connect(e.to_string()))?;
            Ok(Box::new(EtcdTxn {
                conn,
                committing: false,
            }) as Box<dyn TxnConn>)
        })
    }

    fn isolation(&self, isolation: Option<Isolation>) -> Result<(), String> {
        match isolation {
            None | Some(Isolation::Serializable) => Ok(()),
            Some(i) => Err(format!(
                "transactions here have one level, serializable (strict, by their compare on every key read): leave --isolation {} out",
                i.name()
            )),
        }
    }
}

impl TxnConn for EtcdTxn {
    fn commit_sent(&self) -> bool {
        self.committing
    }

    fn list_append<'a>(
        &'a mut self,
        run: &'a str,
        _isolation: Option<Isolation>,
        mops: &'a [Mop],
    ) -> BoxFuture<'a, Result<Vec<Mop>, TxnError>> {
        Box::pin(async move {
            let mut keys: Vec<u64> = Vec::new();
            for m in mops {
                let (Mop::Append(k, _) | Mop::Read(k, _)) = m;
                if !keys.contains(k) {
                    keys.push(*k);
                }
            }
            let names: Vec<String> = keys.iter().map(|k| la_key(run, *k)).collect();
            let seen = self.read(&names).await?;
            let mut lists: Vec<Vec<u64>> = Vec::with_capacity(keys.len());
            for (text, _) in &seen {
                lists.push(parse_list(text).map_err(TxnError::before_commit)?);
            }
            let mut done = Vec::with_capacity(mops.len());
            let mut appended = vec![false; keys.len()];
            for m in mops {
                let (Mop::Append(k, _) | Mop::Read(k, _)) = m;
                let i = keys.iter().position(|x| x == k).expect("collected above");
                match m {
                    Mop::Append(_, e) => {
                        lists[i].push(*e);
                        appended[i] = true;
                        done.push(m.clone());
                    }
                    Mop::Read(..) => done.push(Mop::Read(*k, Some(lists[i].clone()))),
                }
            }
            if !appended.contains(&true) {
                return Ok(done);
            }
            let unchanged: Vec<(String, u64)> = names
                .iter()
                .zip(&seen)
                .map(|(n, (_, rev))| (n.clone(), *rev))
                .collect();
            let puts: Vec<(String, String)> = names
                .iter()
                .zip(&lists)
                .zip(&appended)
                .filter(|(_, a)| **a)
                .map(|((n, l), _)| {
                    let text: Vec<String> = l.iter().map(u64::to_string).collect();
                    (n.clone(), text.join(","))
                })
                .collect();
            if self.commit(&unchanged, &puts).await? {
                Ok(done)
            } else {
                Err(conflict())
            }
        })
    }

    fn bank_setup<'a>(
        &'a mut self,
        run: &'a str,
        accounts: u64,
        balance: i64,
    ) -> BoxFuture<'a, Result<(), TxnError>> {
        Box::pin(async move {
            // Every account at once, unless the first exists (a setup already made).
            let puts: Vec<(String, String)> = (0..accounts)
                .map(|id| (bank_key(run, id), balance.to_string()))
                .collect();
            self.commit(&[(bank_key(run, 0), 0)], &puts)
                .await
                .map(|_| ())
        })
    }

    fn transfer<'a>(
        &'a mut self,
        run: &'a str,
        _isolation: Option<Isolation>,
        from: u64,
        to: u64,
        amount: i64,
    ) -> BoxFuture<'a, Result<Transferred, TxnError>> {
        Box::pin(async move {
            let names = [bank_key(run, from), bank_key(run, to)];
            let seen = self.read(&names).await?;
            let (a, b) = (balance(&seen[0].0, from)?, balance(&seen[1].0, to)?);
            if a < amount {
                return Ok(Transferred::Insufficient);
            }
            let unchanged: Vec<(String, u64)> = names
                .iter()
                .zip(&seen)
                .map(|(n, (_, rev))| (n.clone(), *rev))
                .collect();
            let puts = [
                (names[0].clone(), (a - amount).to_string()),
                (names[1].clone(), (b + amount).to_string()),
            ];
            if self.commit(&unchanged, &puts).await? {
                Ok(Transferred::Committed)
            } else {
                Err(conflict())
            }
        })
    }

    fn balances<'a>(
        &'a mut self,
        run: &'a str,
        _isolation: Option<Isolation>,
    ) -> BoxFuture<'a, Result<Vec<(u64, i64)>, TxnError>> {
        Box::pin(async move {
            self.committing = false;
            // The whole prefix in one range: every account at one revision.
            let prefix = format!("{run}/bank/");
            let mut end = prefix.clone().into_bytes();
            if let Some(last) = end.last_mut() {
                *last += 1;
            }
            let body = serde_json::json!({ "success": [{ "request_range": {
                "key": B64.encode(&prefix), "range_end": B64.encode(&end)
            } }] })
            .to_string();
            let a = self.txn(body).await.map_err(TxnError::before_commit)?;
            let mut out = Vec::new();
            for s in a.ranges.into_iter().flatten() {
                let id = s
                    .key
                    .strip_prefix(&prefix)
                    .and_then(|i| i.parse::<u64>().ok())
                    .ok_or_else(|| {
                        TxnError::before_commit(DriverError::Protocol(format!(
                            "'{}' is not an account key",
                            s.key
                        )))
                    })?;
                out.push((id, balance(&s.value, id)?));
            }
            out.sort();
            Ok(out)
        })
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
    #[test]
    fn the_version_is_the_servers_own() {
        let body = br#"{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}"#;
        assert_eq!(
            crate::systems::json_field(body, &["etcdserver"]).as_deref(),
            Some("3.4.23")
        );
    }

    use super::*;

    #[test]
    fn a_transaction_reads_at_one_revision_and_commits_only_if_nothing_it_read_changed() {
        let read = read_body(&["r/la/1".into(), "r/la/2".into()]);
        let v: serde_json::Value = serde_json::from_str(&read).unwrap();
        assert!(v.get("compare").is_none(), "a read has no comparison: {v}");
        assert_eq!(
            v["success"][1]["request_range"]["key"],
            B64.encode("r/la/2")
        );
        let commit = commit_body(
            &[("r/la/1".into(), 7), ("r/la/2".into(), 0)],
            &[("r/la/2".into(), "1,2".into())],
        );
        let v: serde_json::Value = serde_json::from_str(&commit).unwrap();
        assert_eq!(v["compare"][0]["target"], "MOD");
        assert_eq!(v["compare"][0]["mod_revision"], "7");
        assert_eq!(
            v["compare"][1]["mod_revision"], "0",
            "an absent key compares as revision 0"
        );
        assert_eq!(v["success"][0]["request_put"]["value"], B64.encode("1,2"));
        // An answer as the 3.4 gateway writes it: an absent key's range has no kvs, false and
        // zero fields are left out.
        let answer = format!(
            r#"{{"header":{{"revision":"9"}},"succeeded":true,"responses":[{{"response_range":{{"header":{{}},"kvs":[{{"key":"{}","create_revision":"3","mod_revision":"8","version":"2","value":"{}"}}],"count":"1"}}}},{{"response_range":{{"header":{{}}}}}}]}}"#,
            B64.encode("r/la/1"),
            B64.encode("4,5")
        );
        let a = parse_txn_answer(answer.as_bytes()).unwrap();
        assert!(a.succeeded);
        assert_eq!(
            a.ranges[0],
            vec![Seen {
                key: "r/la/1".into(),
                value: "4,5".into(),
                mod_revision: 8
            }]
        );
        assert!(a.ranges[1].is_empty());
        let refused = parse_txn_answer(br#"{"header":{"revision":"9"},"responses":[]}"#).unwrap();
        assert!(!refused.succeeded, "a failed comparison omits succeeded");
        assert!(conflict().definite(), "a refused comparison wrote nothing");
        assert!(EtcdTxnDriver
            .isolation(Some(Isolation::ReadCommitted))
            .unwrap_err()
            .contains("leave --isolation read-committed out"));
        assert!(EtcdTxnDriver.isolation(None).is_ok());
    }

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
