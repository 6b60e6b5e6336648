//! The OpenMetrics endpoint: `GET /metrics` over HTTP/1.1 (hyper), while a [`Server`] lives.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::Metrics;
use crate::error::{Error, Result};

/// The content type of the OpenMetrics text format.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `--metrics ADDR`: a port alone (`9464`) binds the loopback address; `HOST:PORT`
/// (`0.0.0.0:9464`, `[::1]:9464`) binds where it says.
///
/// # Errors
///
/// [`Error::Usage`] when `s` is neither.
pub fn parse_addr(s: &str) -> Result<SocketAddr> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    s.parse().map_err(|_| {
        Error::Usage(format!(
            "--metrics {s}: give a port (9464, on the loopback address) or HOST:PORT (0.0.0.0:9464)"
        ))
    })
}

/// A running endpoint; dropping it stops serving (the run is over).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    /// The address it listens on (with the port the system chose, for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serve `metrics` on `addr` until the returned [`Server`] is dropped: `GET /metrics` (and `/`)
/// answers the series in the OpenMetrics text format; anything else is 404.
///
/// # Errors
///
/// [`Error::Usage`] when the address cannot be bound (in use, not an address of this machine).
pub async fn serve(addr: SocketAddr, metrics: Metrics) -> Result<Server> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        Error::Usage(format!(
            "cannot serve metrics on {addr}: {e}; give another port with --metrics"
        ))
    })?;
    let addr = listener.local_addr().unwrap_or(addr);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, Infallible>(answer(&req, &metrics)) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(Server { addr, task })
}

fn answer<B>(req: &Request<B>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let found = req.method() == Method::GET && matches!(req.uri().path(), "/metrics" | "/");
    let mut resp = if found {
        let mut r = Response::new(Full::new(Bytes::from(metrics.encode())));
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(CONTENT_TYPE),
        );
        r
    } else {
        let mut r = Response::new(Full::new(Bytes::from_static(
            b"perseus serves GET /metrics\n",
        )));
        *r.status_mut() = StatusCode::NOT_FOUND;
        r
    };
    resp.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_alone_binds_the_loopback_address() {
        assert_eq!(parse_addr("9464").unwrap().to_string(), "127.0.0.1:9464");
        assert_eq!(parse_addr("0.0.0.0:9").unwrap().to_string(), "0.0.0.0:9");
        assert_eq!(parse_addr("[::1]:9464").unwrap().to_string(), "[::1]:9464");
        let e = parse_addr("localhost:x").unwrap_err().to_string();
        assert!(e.starts_with("--metrics localhost:x: give a port"), "{e}");
    }

    #[tokio::test]
    async fn it_serves_openmetrics_until_dropped_and_refuses_a_taken_port() {
        let m = Metrics::new();
        m.begin_run("r", "etcd", &["n1".into()]);
        let server = serve("127.0.0.1:0".parse().unwrap(), m.clone())
            .await
            .unwrap();
        let addr = server.addr();
        let get = |path: &'static str| async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(addr).await?;
            s.write_all(
                format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            )
            .await?;
            let mut out = String::new();
            s.read_to_string(&mut out).await?;
            Ok::<String, std::io::Error>(out)
        };
        let got = get("/metrics").await.unwrap();
        assert!(got.starts_with("HTTP/1.1 200"), "{got}");
        assert!(got.contains(CONTENT_TYPE), "{got}");
        assert!(
            got.contains("perseus_second{run=\"r\",system=\"etcd\"} 0"),
            "{got}"
        );
        assert!(get("/other").await.unwrap().starts_with("HTTP/1.1 404"));
        let taken = serve(addr, m.clone()).await.unwrap_err();
        assert_eq!(taken.exit_code(), 2);
        assert!(taken.to_string().contains("give another port"), "{taken}");
        drop(server);
        tokio::task::yield_now().await;
        assert!(get("/metrics").await.is_err(), "still served after the run");
    }
}
