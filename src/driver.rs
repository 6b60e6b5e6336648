//! The interface between the load loop and a system: connect, read a key, write a key; and the
//! client's view of a node ([`Endpoint`]). The bottom layer: the load loop, the systems and the lab
//! all speak these types, and this module imports none of them.
//!
//! Drivers do not retry, pool or time out by themselves: the loop bounds every call with the
//! per-operation deadline and, on any error, drops the connection and opens a new one for the next
//! iteration. That way every driver follows the same rules and an outage is never hidden.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

/// A node as a client sees it: its name and the address the load loop connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `n1`..`nN`.
    pub node: String,
    /// Client address (container IP on the lab network, client port).
    pub addr: SocketAddr,
}

/// Why a driver call failed. Every variant ends the connection (the loop reconnects).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// Could not open a connection.
    #[error("connect: {0}")]
    Connect(String),
    /// The connection broke during a call.
    #[error("io: {0}")]
    Io(String),
    /// The server answered with an error (no leader, no quorum, conflict, ...).
    #[error("server: {0}")]
    Server(String),
    /// The server answered something the driver cannot understand.
    #[error("protocol: {0}")]
    Protocol(String),
}

/// A way to run the loop's read and write against one system.
pub trait Driver: Send + Sync + 'static {
    /// One client connection.
    type Conn: Send + 'static;

    /// Open a connection to a node (`timeout` bounds the connect itself).
    fn connect(
        &self,
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> impl Future<Output = Result<Self::Conn, DriverError>> + Send;

    /// Read `key`: its value, or `None` when it does not exist.
    fn read(
        &self,
        conn: &mut Self::Conn,
        key: &str,
    ) -> impl Future<Output = Result<Option<u64>, DriverError>> + Send;

    /// Write `value` to `key`. `Ok` means the system acknowledged the write.
    fn write(
        &self,
        conn: &mut Self::Conn,
        key: &str,
        value: u64,
    ) -> impl Future<Output = Result<(), DriverError>> + Send;

    /// Let go of a connection after an error or at the end of a run, without waiting on the
    /// server (which may be paused or cut off). The default drops it.
    fn discard(&self, conn: Self::Conn) {
        drop(conn);
    }
}
