//! Gryadka ([`Gryadka`]), the leaderless CASPaxos register of the workspace's `gryadka` crate: every
//! node runs a Redis acceptor and, beside it, a proposer serving an etcd-like HTTP key-value API
//! (`gryadka::server`): `GET /kv/<key>` (404 = absent) and `PUT /kv/<key>` with
//! `{"value", "expected_version"}`. The load loop speaks that API ([`HttpKvDriver`]); the cluster is
//! ready when every node's proposer serves a read, i.e. reaches a majority of acceptors.
//!
//! The write is a compare-and-set on the version the same connection just read, so the loop's
//! read-increment-write cannot overwrite a newer value: a 409 is a refused write (definite), a 503
//! one whose outcome is unknown (no quorum before the proposer's deadline: it may be applied).
//! Like every driver it does not retry, pool or time out by itself.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use hyper::{Method, StatusCode};
use serde::Deserialize;

use super::readiness::Pending;
use super::system::{Cluster, Settings, System};

use crate::driver::{Driver, DriverError, Endpoint, Written};
use crate::http::HttpConn;

/// Gryadka: leaderless, so `leader` and `follower` targets are refused.
#[derive(Debug, Clone, Copy)]
pub struct Gryadka;

impl System for Gryadka {
    fn name(&self) -> &'static str {
        "gryadka"
    }

    fn driver(&self, _: &Settings) -> Arc<dyn crate::load::DynDriver> {
        Arc::new(HttpKvDriver)
    }

    fn ready<'a>(&'a self, cluster: &'a Cluster) -> BoxFuture<'a, Result<(), Pending>> {
        Box::pin(ready(&cluster.nodes))
    }
}

/// The HTTP-KV driver.
#[derive(Debug, Clone, Default)]
pub struct HttpKvDriver;

/// One connection, and the version of the key it last read (0 = absent).
pub struct KvConn {
    http: HttpConn,
    version: u64,
}

#[derive(Deserialize)]
struct Got {
    value: String,
    version: u64,
}

/// Decode a GET answer: `Some((value, version))`, or `None` for 404.
pub fn parse_get(status: StatusCode, body: &[u8]) -> Result<Option<(u64, u64)>, DriverError> {
    match status {
        StatusCode::NOT_FOUND => Ok(None),
        s if s.is_success() => {
            let g: Got = serde_json::from_slice(body)
                .map_err(|e| DriverError::Protocol(format!("bad GET answer: {e}")))?;
            let v = g.value.trim().parse::<u64>().map_err(|_| {
                DriverError::Protocol(format!("value '{}' is not a number", g.value))
            })?;
            Ok(Some((v, g.version)))
        }
        s => Err(DriverError::Server(format!(
            "HTTP {s}: {}",
            String::from_utf8_lossy(body).trim()
        ))),
    }
}

impl Driver for HttpKvDriver {
    type Conn = KvConn;
    const CONDITIONAL: bool = true;

    async fn connect(&self, endpoint: &Endpoint, timeout: Duration) -> Result<KvConn, DriverError> {
        let http = HttpConn::connect(endpoint.addr, timeout)
            .await
            .map_err(|e| DriverError::Connect(e.to_string()))?;
        Ok(KvConn { http, version: 0 })
    }

    async fn read(&self, conn: &mut KvConn, key: &str) -> Result<Option<u64>, DriverError> {
        let (status, body) = conn
            .http
            .request(Method::GET, &format!("/kv/{key}"), None)
            .await
            .map_err(|e| DriverError::Io(e.to_string()))?;
        let got = parse_get(status, &body)?;
        conn.version = got.map_or(0, |(_, ver)| ver);
        Ok(got.map(|(v, _)| v))
    }

    /// `expected` is what the connection read; the proposer compares the version that read
    /// returned with it, which is the same thing for a key only this connection writes.
    async fn write(
        &self,
        conn: &mut KvConn,
        key: &str,
        _expected: Option<u64>,
        value: u64,
    ) -> Result<Written, DriverError> {
        let body =
            serde_json::json!({ "value": value.to_string(), "expected_version": conn.version })
                .to_string();
        let (status, resp) = conn
            .http
            .request(Method::PUT, &format!("/kv/{key}"), Some(Bytes::from(body)))
            .await
            .map_err(|e| DriverError::Io(e.to_string()))?;
        put_outcome(status, &resp)
    }
}

/// What a PUT's answer says: 200 applied, 409 refused (the version moved on), 400 refused (a
/// request the proposer did not take), anything else (503 no quorum, an ambiguous round) unknown.
pub fn put_outcome(status: StatusCode, body: &[u8]) -> Result<Written, DriverError> {
    let text = || format!("HTTP {status}: {}", String::from_utf8_lossy(body).trim());
    match status {
        s if s.is_success() => Ok(Written::Applied),
        StatusCode::CONFLICT => Ok(Written::Refused),
        s if s.is_client_error() => Err(DriverError::Server(text())),
        _ => Err(DriverError::Ambiguous(text())),
    }
}

/// Ready when every node's API answers a read (200 or 404) through its proposer, i.e. a majority
/// of acceptors is reachable from every node.
pub async fn ready(nodes: &[Endpoint]) -> Result<(), Pending> {
    super::readiness::on_every_node(nodes, |n| async move {
        let r = crate::http::oneshot(
            n.addr,
            Method::GET,
            "/kv/perseus-readiness",
            None,
            Duration::from_secs(2),
        )
        .await;
        match r {
            Ok((s, _)) if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            Ok((s, b)) => Err(format!(
                "{} answers HTTP {s} ({})",
                n.node,
                String::from_utf8_lossy(&b).trim()
            )),
            Err(e) => Err(format!("{} does not answer ({e})", n.node)),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_answers_decode() {
        assert_eq!(parse_get(StatusCode::NOT_FOUND, b"{}").unwrap(), None);
        assert_eq!(
            parse_get(StatusCode::OK, br#"{"key":"k","value":"41","version":41}"#).unwrap(),
            Some((41, 41))
        );
        assert!(matches!(
            parse_get(StatusCode::SERVICE_UNAVAILABLE, b"no quorum"),
            Err(DriverError::Server(_))
        ));
        assert!(matches!(
            parse_get(StatusCode::OK, br#"{"value":"x","version":1}"#),
            Err(DriverError::Protocol(_))
        ));
        assert_eq!(
            put_outcome(StatusCode::OK, b"{}").unwrap(),
            Written::Applied
        );
        assert_eq!(
            put_outcome(StatusCode::CONFLICT, b"{}").unwrap(),
            Written::Refused
        );
        assert!(matches!(
            put_outcome(StatusCode::SERVICE_UNAVAILABLE, b"no quorum"),
            Err(DriverError::Ambiguous(_))
        ));
    }
}
