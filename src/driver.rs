//! The interface between the load loop and a system: connect, read a key, write a key; and the
//! client's view of a node ([`Endpoint`]). The bottom layer: the load loop, the systems and the lab
//! all speak these types, and this module imports none of them (only the history's
//! [`Evidence`]).
//!
//! Drivers do not retry, pool or time out by themselves: the loop bounds every call with the
//! per-operation deadline and, on any error, drops the connection and opens a new one for the next
//! iteration. That way every driver follows the same rules and an outage is never hidden.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use crate::node::NodeName;

pub use crate::history::Evidence;

/// A node as a client sees it: its name and the address the load loop connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `n1`..`nN`.
    pub node: NodeName,
    /// Client address (container IP on the lab network, client port; across hosts, the host's
    /// address and the port it published).
    pub addr: SocketAddr,
    /// Where this machine reaches the node's other ports when they are not at `addr`'s IP
    /// (across hosts: each probe port as its host published it): `(port in the node, address)`.
    pub probes: Vec<(u16, SocketAddr)>,
}

impl Endpoint {
    /// A node reached at `addr`, its other ports at the same IP.
    pub fn new(node: impl Into<NodeName>, addr: SocketAddr) -> Endpoint {
        Endpoint {
            node: node.into(),
            addr,
            probes: Vec::new(),
        }
    }

    /// Where this machine reaches the node's TCP `port` (a status API beside the client port):
    /// its published address across hosts, else the node's IP with that port.
    pub fn port(&self, port: u16) -> SocketAddr {
        self.probes
            .iter()
            .find(|(p, _)| *p == port)
            .map_or(SocketAddr::new(self.addr.ip(), port), |(_, a)| *a)
    }
}

/// Why a driver call failed. Every variant ends the connection (the loop reconnects). What the
/// variant says about a write's outcome is Jepsen's distinction ([`DriverError::definite`]): a
/// write that failed *definitely* was not applied (`fail`); one whose outcome is *unknown* may
/// have been, now or later (`info`). A driver says "definite" only when it is sure: an unknown
/// outcome taken for a definite one would make a later read of that write look impossible.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// Could not open a connection: nothing was sent.
    #[error("connect: {0}")]
    Connect(String),
    /// The connection broke during a call: the server may have acted on it.
    #[error("io: {0}")]
    Io(String),
    /// The server refused the call and did not apply it (no leader to take it, a read-only
    /// replica, a transaction aborted before commit, a version conflict).
    #[error("server: {0}")]
    Server(String),
    /// The server answered that the call's outcome is unknown (a commit that timed out inside the
    /// cluster, no quorum before the deadline, CockroachDB's `40003`).
    #[error("ambiguous: {0}")]
    Ambiguous(String),
    /// The server answered something the driver cannot understand: it may have acted.
    #[error("protocol: {0}")]
    Protocol(String),
}

impl DriverError {
    /// Whether a write that failed this way was definitely not applied (Jepsen's `fail`, as
    /// opposed to `info`). A missed deadline is not a `DriverError`: the loop counts it as unknown.
    pub fn definite(&self) -> bool {
        matches!(self, DriverError::Connect(_) | DriverError::Server(_))
    }
}

/// What a conditional write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The system acknowledged it: the key now holds the new value.
    Applied,
    /// The key did not hold the expected value, so nothing was written (a definite failure).
    Refused,
}

/// A way to run the loop's read and write against one system.
///
/// The write is a compare-and-set where the system has one: it writes only when the key still
/// holds what the same connection just read, so a write that lands late (a paused server running
/// a statement from its socket on resume) can never overwrite a newer value, and a write that
/// succeeds from a value below the last acknowledged one confirms that acknowledged writes were
/// lost. A driver for a system without compare-and-set writes blindly and says so
/// ([`Driver::CONDITIONAL`]).
pub trait Driver: Send + Sync + 'static {
    /// One client connection.
    type Conn: Send + 'static;

    /// Whether [`Driver::write`] compares before it writes. Without it the loop cannot tell a
    /// lost write from a stale read, and reports every read below the last acknowledged value
    /// as lost, saying so.
    const CONDITIONAL: bool;

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

    /// Write `value` to `key` if it holds `expected` (`None`: if it does not exist).
    /// [`Written::Applied`] means the system acknowledged the write; [`Written::Refused`] that
    /// the key held something else and nothing was written. A blind driver ignores `expected`.
    fn write(
        &self,
        conn: &mut Self::Conn,
        key: &str,
        expected: Option<u64>,
        value: u64,
    ) -> impl Future<Output = Result<Written, DriverError>> + Send;

    /// The final read of a key once a run is over: the system's linearizable read where its
    /// plain read is not one (the leader, a quorum read; never a replica or a NATS direct get).
    /// The default is [`Driver::read`], for drivers whose read is already that.
    fn final_read(
        &self,
        conn: &mut Self::Conn,
        key: &str,
    ) -> impl Future<Output = Result<Option<u64>, DriverError>> + Send {
        self.read(conn, key)
    }

    /// What the last read or acknowledged write on `conn` rests on, as the system numbers it
    /// (NATS: the stream sequence of the entry read, `revision`, or the one a write was
    /// acknowledged at, `seq`), so that the history can show it. The default: nothing.
    fn evidence(&self, conn: &Self::Conn) -> Option<Evidence> {
        let _ = conn;
        None
    }

    /// Let go of a connection after an error or at the end of a run, without waiting on the
    /// server (which may be paused or cut off). The default drops it.
    fn discard(&self, conn: Self::Conn) {
        drop(conn);
    }
}

/// A stored value as the loop's counter: the bytes as decimal text, surrounding whitespace
/// ignored (how every byte-valued store here holds the loop's numbers: etcd, ZooKeeper, NATS).
///
/// Errors: [`DriverError::Protocol`] naming the value when it is not a non-negative integer.
pub fn parse_decimal(data: &[u8]) -> Result<u64, DriverError> {
    let text = String::from_utf8_lossy(data);
    text.trim()
        .parse::<u64>()
        .map_err(|_| DriverError::Protocol(format!("value '{text}' is not a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_reaches_its_other_ports_where_they_were_published() {
        let here = Endpoint::new("n1", "10.77.0.11:4222".parse().unwrap());
        assert_eq!(here.port(8222), "10.77.0.11:8222".parse().unwrap());
        let across = Endpoint {
            probes: vec![(8222, "10.79.0.11:44096".parse().unwrap())],
            ..Endpoint::new("n1", "10.79.0.11:40000".parse().unwrap())
        };
        assert_eq!(across.port(8222), "10.79.0.11:44096".parse().unwrap());
        // A port that was not published is asked at the node's address, and fails there.
        assert_eq!(across.port(9999), "10.79.0.11:9999".parse().unwrap());
    }

    #[test]
    fn stored_values_are_decimal_text() {
        assert_eq!(parse_decimal(b"41").unwrap(), 41);
        assert_eq!(parse_decimal(b" 7\n").unwrap(), 7);
        let e = parse_decimal(b"x").unwrap_err().to_string();
        assert!(e.contains("'x' is not a number"), "{e}");
    }

    #[test]
    fn only_a_refusal_or_a_connect_failure_is_definite() {
        assert!(DriverError::Server("409".into()).definite());
        assert!(DriverError::Connect("refused".into()).definite());
        assert!(!DriverError::Io("reset".into()).definite());
        assert!(!DriverError::Ambiguous("40003".into()).definite());
        assert!(!DriverError::Protocol("?".into()).definite());
    }
}
