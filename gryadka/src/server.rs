//! The proposer's etcd-like key-value API over HTTP/1.1, one per Gryadka node.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /kv/<key>` | 200 `{"key","value","version"}`; 404 `{"error":"not found"}` |
//! | `PUT /kv/<key>` with `{"value":"7","expected_version":6}` (`expected_version` optional: without it the write is unconditional; an absent key has version 0) | 200 `{"key","value","version"}` with the new version; 409 `{"error":"version conflict ...","current_version":N}` |
//! | `GET /health` | 200 `{"id":N,"acceptors":[...]}` (the proposer runs; says nothing about quorum) |
//!
//! Any operation that cannot gather a majority of acceptors before its deadline answers 503
//! `{"error":"no quorum ..."}` (for a PUT the write may or may not have been applied); a PUT whose
//! outcome is unknown for another reason (see [`ProposeError::Ambiguous`]) answers 503 too, with
//! `"ambiguous": true`. Malformed requests answer 400. Every request is served through the
//! CASPaxos [`Proposer`] with the deadline given at start (`--op-timeout`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpListener;

use crate::caspaxos::{ProposeError, Proposer, State};
use crate::redis::RedisAcceptor;

/// How the proposer runs.
#[derive(Debug, Clone)]
pub struct ProposerConfig {
    /// Proposer id (unique in the cluster: the node number).
    pub id: u64,
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Acceptors, `host:port` each (all 2F+1 of them, this node's included).
    pub acceptors: Vec<String>,
    /// Deadline of one operation.
    pub op_timeout: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    value: String,
    #[serde(default)]
    expected_version: Option<u64>,
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn state_json(key: &str, s: &State) -> serde_json::Value {
    json!({ "key": key, "value": s.value, "version": s.version })
}

fn error_reply(e: ProposeError) -> Response<Full<Bytes>> {
    match e {
        ProposeError::Rejected(r) => reply(
            StatusCode::CONFLICT,
            json!({ "error": format!("version conflict: {}", r.reason), "current_version": r.current_version() }),
        ),
        ProposeError::NoQuorum { .. } => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": e.to_string() }),
        ),
        ProposeError::Ambiguous { .. } => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": e.to_string(), "ambiguous": true }),
        ),
    }
}

/// Serve one request.
async fn handle(
    proposer: Arc<Proposer<RedisAcceptor>>,
    config: Arc<ProposerConfig>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if path == "/health" && method == Method::GET {
        return reply(
            StatusCode::OK,
            json!({ "id": config.id, "acceptors": config.acceptors }),
        );
    }
    let Some(key) = path
        .strip_prefix("/kv/")
        .filter(|k| !k.is_empty())
        .map(str::to_string)
    else {
        return reply(
            StatusCode::NOT_FOUND,
            json!({ "error": format!("no such resource {path}: use /kv/<key>") }),
        );
    };
    let deadline = tokio::time::Instant::now() + config.op_timeout;
    match method {
        Method::GET => match proposer.get(&key, deadline).await {
            Ok(Some(s)) => reply(StatusCode::OK, state_json(&key, &s)),
            Ok(None) => reply(
                StatusCode::NOT_FOUND,
                json!({ "error": "not found", "key": key }),
            ),
            Err(e) => error_reply(e),
        },
        Method::PUT => {
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    return reply(
                        StatusCode::BAD_REQUEST,
                        json!({ "error": format!("cannot read body: {e}") }),
                    )
                }
            };
            let put: PutBody = match serde_json::from_slice(&body) {
                Ok(p) => p,
                Err(e) => {
                    return reply(
                        StatusCode::BAD_REQUEST,
                        json!({ "error": format!("body must be {{\"value\": string, \"expected_version\"?: number}}: {e}") }),
                    )
                }
            };
            match proposer
                .put(&key, put.value, put.expected_version, deadline)
                .await
            {
                Ok(s) => reply(StatusCode::OK, state_json(&key, &s)),
                Err(e) => error_reply(e),
            }
        }
        other => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({ "error": format!("{other} is not supported: use GET or PUT") }),
        ),
    }
}

/// Why the proposer could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServeError {
    /// The configuration is wrong (no acceptors, a malformed acceptor address): what and the fix.
    #[error("{0}")]
    Config(String),
    /// The listen address cannot be bound.
    #[error("{0}")]
    Listen(String),
}

/// Run the proposer's HTTP API until the process ends.
///
/// Errors: [`ServeError::Config`] when there are no acceptors or an acceptor address is malformed,
/// [`ServeError::Listen`] when the listen address cannot be bound.
pub async fn serve(config: ProposerConfig) -> Result<(), ServeError> {
    if config.acceptors.is_empty() {
        return Err(ServeError::Config(
            "no acceptors: give --acceptors host:port,host:port,...".into(),
        ));
    }
    let acceptors = config
        .acceptors
        .iter()
        .map(|a| {
            RedisAcceptor::new(a)
                .map(Arc::new)
                .map_err(|e| ServeError::Config(e.0))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let proposer = Arc::new(Proposer::new(config.id, acceptors));
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| ServeError::Listen(format!("listen on {}: {e}", config.listen)))?;
    eprintln!(
        "gryadka proposer {} on {}, acceptors {}, quorum {}",
        config.id,
        config.listen,
        config.acceptors.join(","),
        proposer.quorum()
    );
    let config = Arc::new(config);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let proposer = proposer.clone();
        let config = config.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let proposer = proposer.clone();
                let config = config.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(proposer, config, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
