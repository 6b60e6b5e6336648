//! A minimal HTTP/1.1 client over exactly one TCP connection (hyper).
//!
//! The load loop's contract is "on an error, close the connection and open a new one": an
//! [`HttpConn`] is one TCP connection, so dropping it closes the socket and [`HttpConn::connect`]
//! opens a fresh one. There is no pool and no retry hidden inside. Callers bound every call with a
//! deadline (`tokio::time::timeout`); [`HttpConn::connect`] takes one too.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why an HTTP exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// TCP connect or HTTP handshake failed.
    #[error("connect {addr}: {message}")]
    Connect {
        /// Address tried.
        addr: SocketAddr,
        /// What failed.
        message: String,
    },
    /// The exchange did not finish within its deadline.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The connection broke during the exchange.
    #[error("request failed: {0}")]
    Request(String),
}

/// One HTTP/1.1 connection to one server.
pub struct HttpConn {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl HttpConn {
    /// Open a TCP connection to `addr` and complete the HTTP/1.1 handshake within `timeout`.
    ///
    /// Errors: [`HttpError::Connect`] (refused, unreachable) or [`HttpError::Timeout`].
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<HttpConn, HttpError> {
        let fut = async {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| HttpError::Connect {
                    addr,
                    message: e.to_string(),
                })?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| HttpError::Connect {
                    addr,
                    message: e.to_string(),
                })?;
            // The connection task ends when the sender is dropped or the socket closes.
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(HttpConn {
                sender,
                host: addr.to_string(),
            })
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| HttpError::Timeout(timeout))?
    }

    /// Send one request with an optional JSON body; return the status and the whole body.
    ///
    /// Not bounded by itself: wrap it in the caller's deadline.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        json: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), HttpError> {
        self.sender
            .ready()
            .await
            .map_err(|e| HttpError::Request(e.to_string()))?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.host);
        if json.is_some() {
            req = req.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(json.unwrap_or_default()))
            .map_err(|e| HttpError::Request(e.to_string()))?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| HttpError::Request(e.to_string()))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| HttpError::Request(e.to_string()))?
            .to_bytes();
        Ok((status, body))
    }
}

/// One request on a fresh connection, all within `timeout` (readiness probes, leader lookups).
pub async fn oneshot(
    addr: SocketAddr,
    method: Method,
    path: &str,
    json: Option<Bytes>,
    timeout: Duration,
) -> Result<(StatusCode, Bytes), HttpError> {
    let fut = async {
        let mut conn = HttpConn::connect(addr, timeout).await?;
        conn.request(method, path, json).await
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| HttpError::Timeout(timeout))?
}
