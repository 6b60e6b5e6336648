//! The `redis` control system ([`Redis`]: compose/redis.yaml, three independent Debian
//! redis-servers, no replication) and the load loop's Redis driver, for it and any plain Redis.
//!
//! An iteration is one `GET <key>` (nil = absent, so 0) then one compare-and-set of `<value+1>`
//! on the connection's own TCP connection: two round trips, as `redis-benchmark -t get,set` counts
//! them. The compare-and-set is a small Lua script ([`CAS_LUA`], `EVAL` once per connection, then
//! `EVALSHA`), atomic in Redis: it sets the key only if it still holds what the `GET` returned, so
//! a wipe (`FLUSHALL`, a restart without its data) between the two can never be written over
//! unseen. A server error (`-READONLY`, `-LOADING`) means the script wrote nothing.
//!
//! This is the load loop's hot path and the baseline Perseus measures itself against
//! (BENCHMARKS.md), so a connection is a plain `TcpStream` (`TCP_NODELAY`) that the loop's task
//! drives itself: each call writes one RESP command from a reused buffer and reads one reply into
//! another, two system calls and no allocation per operation. The redis crate's multiplexed
//! connection sends every command through a channel to a task of its own, which cost about a
//! tenth of the loop's ceiling here at one connection per node. Replies are decoded by the redis
//! crate ([`redis::parse_redis_value`]) once [`reply_len`] has found a whole one; commands are encoded
//! by [`pack`] (RESP2 arrays of bulk strings, checked against the crate's own encoding in the
//! tests). Like every driver it has no timeout of its own: the loop bounds every call.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::sync::OnceLock;

use futures_util::future::BoxFuture;
use redis::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::readiness::Pending;
use super::system::{Cluster, Settings, System};
use crate::driver::{Driver, DriverError, Endpoint, Written};

/// The compare-and-set: `KEYS[1]` is set to `ARGV[2]` if it holds `ARGV[1]` (the empty string:
/// if it does not exist); 1 when it was set, 0 when the key held something else.
pub const CAS_LUA: &str = "local v = redis.call('GET', KEYS[1]) \
if (v == false and ARGV[1] == '') or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end \
return 0";

/// The SHA-1 of [`CAS_LUA`], for `EVALSHA`.
fn cas_sha() -> &'static str {
    static SHA: OnceLock<String> = OnceLock::new();
    SHA.get_or_init(|| redis::Script::new(CAS_LUA).get_hash().to_string())
}

/// Independent Redis servers: no leader, every node ready when it answers `PING`.
#[derive(Debug, Clone, Copy)]
pub struct Redis;

impl System for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn driver(&self, _: &Settings) -> Arc<dyn crate::load::DynDriver> {
        Arc::new(RedisDriver)
    }

    fn ready<'a>(&'a self, cluster: &'a Cluster) -> BoxFuture<'a, Result<(), Pending>> {
        Box::pin(ready(&cluster.nodes))
    }

    fn server_version<'a>(
        &'a self,
        _: &'a Cluster,
        node: &'a Endpoint,
    ) -> BoxFuture<'a, Option<String>> {
        Box::pin(server_version(node.addr))
    }
}

/// The version a Redis server (or a Sentinel, the same binary) reports: `INFO server`'s
/// `redis_version` field, within `VERSION_TIMEOUT` (2 s).
pub async fn server_version(addr: SocketAddr) -> Option<String> {
    let ask = async {
        let mut c = RedisConn::connect(addr, super::system::VERSION_TIMEOUT)
            .await
            .ok()?;
        match c.command(&[b"INFO", b"server"]).await.ok()? {
            Value::BulkString(b) => info_field(&String::from_utf8_lossy(&b), "redis_version"),
            Value::VerbatimString { text, .. } => info_field(&text, "redis_version"),
            _ => None,
        }
    };
    tokio::time::timeout(super::system::VERSION_TIMEOUT, ask)
        .await
        .ok()
        .flatten()
}

/// A field of an `INFO` reply (`redis_version:7.0.15` lines, `\r\n`-separated).
fn info_field(info: &str, name: &str) -> Option<String> {
    info.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == name).then(|| v.trim().to_string())
    })
}

/// The Redis driver.
#[derive(Debug, Clone, Default)]
pub struct RedisDriver;

/// One connection: its socket, a reply buffer, a command buffer, and `GET <key>` packed once.
pub struct RedisConn {
    stream: TcpStream,
    reply: Vec<u8>,
    command: Vec<u8>,
    get: Vec<u8>,
    key: String,
    /// The server has [`CAS_LUA`] in its script cache (sent with `EVAL` on this connection).
    script_loaded: bool,
}

/// Append the RESP2 encoding of the command `args` (an array of bulk strings) to `out`.
pub fn pack(out: &mut Vec<u8>, args: &[&[u8]]) {
    use std::io::Write;
    let _ = write!(out, "*{}\r\n", args.len());
    for a in args {
        let _ = write!(out, "${}\r\n", a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// The length of the first whole reply in `buf`, `None` while it is incomplete.
///
/// Knows RESP2's replies: simple strings (`+`), errors (`-`), integers (`:`), bulk strings (`$`,
/// nil included) and arrays of them (`*`, nested, nil included), as `GET`, the compare-and-set,
/// `PING` and Sentinel's commands give. Errors: [`DriverError::Protocol`] for anything else.
pub fn reply_len(buf: &[u8]) -> Result<Option<usize>, DriverError> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let header = eol + 2;
    let count = || -> Result<i64, DriverError> {
        std::str::from_utf8(&buf[1..eol])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                DriverError::Protocol(format!(
                    "bad length {:?}",
                    String::from_utf8_lossy(&buf[..eol])
                ))
            })
    };
    match kind {
        b'+' | b'-' | b':' => Ok(Some(header)),
        b'$' => {
            let len = count()?;
            if len < 0 {
                return Ok(Some(header));
            }
            let whole = header + len as usize + 2;
            Ok((buf.len() >= whole).then_some(whole))
        }
        b'*' => {
            let n = count()?;
            let mut at = header;
            for _ in 0..n.max(0) {
                match reply_len(&buf[at..])? {
                    Some(len) => at += len,
                    None => return Ok(None),
                }
            }
            Ok(Some(at))
        }
        other => Err(DriverError::Protocol(format!(
            "unexpected reply type {:?}",
            other as char
        ))),
    }
}

impl RedisConn {
    /// Open a connection to `addr` (`timeout` bounds the TCP connect).
    ///
    /// Errors: [`DriverError::Connect`] with the socket's reason.
    pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<RedisConn, DriverError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| DriverError::Connect(format!("no answer from {addr} within {timeout:?}")))?
            .map_err(|e| DriverError::Connect(format!("{addr}: {e}")))?;
        stream
            .set_nodelay(true)
            .map_err(|e| DriverError::Connect(format!("{addr}: {e}")))?;
        Ok(RedisConn {
            stream,
            reply: Vec::with_capacity(256),
            command: Vec::with_capacity(256),
            get: Vec::new(),
            key: String::new(),
            script_loaded: false,
        })
    }

    /// Send one packed command and read its reply.
    ///
    /// Errors: [`DriverError::Io`] when the socket fails or closes, [`DriverError::Protocol`] for
    /// a reply the driver cannot frame or decode. A server error is `Ok(Value::ServerError)`.
    async fn call(&mut self, packed: &[u8]) -> Result<Value, DriverError> {
        self.stream
            .write_all(packed)
            .await
            .map_err(|e| DriverError::Io(e.to_string()))?;
        self.reply.clear();
        loop {
            if let Some(n) = reply_len(&self.reply)? {
                return redis::parse_redis_value(&self.reply[..n])
                    .map_err(|e| DriverError::Protocol(e.to_string()));
            }
            let read = self
                .stream
                .read_buf(&mut self.reply)
                .await
                .map_err(|e| DriverError::Io(e.to_string()))?;
            if read == 0 {
                return Err(DriverError::Io("the server closed the connection".into()));
            }
        }
    }

    /// `GET key`: its value, `None` when it does not exist.
    ///
    /// Errors: the socket's, [`DriverError::Server`] for an error reply, [`DriverError::Protocol`]
    /// for a value that is not a counter.
    pub async fn get(&mut self, key: &str) -> Result<Option<u64>, DriverError> {
        let c = self;
        if c.key != key || c.get.is_empty() {
            c.key = key.to_string();
            c.get.clear();
            pack(&mut c.get, &[b"GET", key.as_bytes()]);
        }
        let get = std::mem::take(&mut c.get);
        let reply = c.call(&get).await;
        c.get = get;
        parse_get(&reply?)
    }

    /// The loop's compare-and-set ([`CAS_LUA`]): set `key` to `value` if it holds `expected`
    /// (`None`: if it does not exist).
    ///
    /// Errors: the socket's, [`DriverError::Server`] for an error reply (`-READONLY`,
    /// `-NOREPLICAS`: nothing was written), [`DriverError::Protocol`] for another answer.
    pub async fn cas(
        &mut self,
        key: &str,
        expected: Option<u64>,
        value: u64,
    ) -> Result<Written, DriverError> {
        let c = self;
        let mut command = std::mem::take(&mut c.command);
        let mut reply = Value::Nil;
        let mut digits = itoa::Buffer::new();
        let new = digits.format(value).as_bytes();
        let mut was = itoa::Buffer::new();
        let old = expected.map_or(&b""[..], |v| was.format(v).as_bytes());
        // EVALSHA once the server has the script; EVAL the first time on a connection, and again
        // if the server lost its script cache (NOSCRIPT: nothing ran).
        for _ in 0..2 {
            command.clear();
            let (verb, script) = if c.script_loaded {
                (&b"EVALSHA"[..], cas_sha().as_bytes())
            } else {
                (&b"EVAL"[..], CAS_LUA.as_bytes())
            };
            pack(
                &mut command,
                &[verb, script, b"1", key.as_bytes(), old, new],
            );
            reply = match c.call(&command).await {
                Ok(r) => r,
                Err(e) => {
                    c.command = command;
                    return Err(e);
                }
            };
            match &reply {
                Value::ServerError(e) if e.code() == "NOSCRIPT" => c.script_loaded = false,
                _ => {
                    c.script_loaded = true;
                    break;
                }
            }
        }
        c.command = command;
        match reply {
            Value::Int(1) => Ok(Written::Applied),
            Value::Int(0) => Ok(Written::Refused),
            Value::ServerError(e) => Err(DriverError::Server(format!("{e:?}"))),
            other => Err(DriverError::Protocol(format!(
                "the compare-and-set answered {other:?}, not 1 or 0"
            ))),
        }
    }

    /// Send any command and return its reply (a server error is `Ok(Value::ServerError)`).
    ///
    /// Errors: the socket's, or [`DriverError::Protocol`] for a reply it cannot frame.
    pub async fn command(&mut self, args: &[&[u8]]) -> Result<Value, DriverError> {
        let mut cmd = Vec::new();
        pack(&mut cmd, args);
        self.call(&cmd).await
    }

    /// `PING`: `Ok` when the server answers `PONG`.
    ///
    /// Errors: [`DriverError::Server`] with the server's answer otherwise (`LOADING` while it
    /// replays its append-only file), or the socket's error.
    pub async fn ping(&mut self) -> Result<(), DriverError> {
        let mut cmd = Vec::new();
        pack(&mut cmd, &[b"PING"]);
        match self.call(&cmd).await? {
            Value::SimpleString(s) if s == "PONG" => Ok(()),
            other => Err(DriverError::Server(format!("PING answered {other:?}"))),
        }
    }
}

/// Decode a `GET` reply: `None` for nil, the number for a bulk string holding one.
///
/// Errors: [`DriverError::Protocol`] for anything else (a value that is not a number, a reply of
/// another type).
pub fn parse_get(v: &Value) -> Result<Option<u64>, DriverError> {
    match v {
        Value::Nil => Ok(None),
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| {
                DriverError::Protocol(format!(
                    "value '{}' is not a number",
                    String::from_utf8_lossy(b)
                ))
            }),
        Value::ServerError(e) => Err(DriverError::Server(format!("{e:?}"))),
        other => Err(DriverError::Protocol(format!(
            "GET answered {other:?}, not a string or nil"
        ))),
    }
}

impl Driver for RedisDriver {
    type Conn = RedisConn;
    const CONDITIONAL: bool = true;

    async fn connect(
        &self,
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> Result<RedisConn, DriverError> {
        RedisConn::connect(endpoint.addr, timeout).await
    }

    async fn read(&self, c: &mut RedisConn, key: &str) -> Result<Option<u64>, DriverError> {
        c.get(key).await
    }

    async fn write(
        &self,
        c: &mut RedisConn,
        key: &str,
        expected: Option<u64>,
        value: u64,
    ) -> Result<Written, DriverError> {
        c.cas(key, expected, value).await
    }
}

/// Ready when every node answers `PING` with `PONG` (a server still loading its append-only file
/// answers `-LOADING`).
pub async fn ready(nodes: &[Endpoint]) -> Result<(), Pending> {
    super::readiness::on_every_node(nodes, |n| async move {
        let probe = async {
            let mut c = RedisConn::connect(n.addr, Duration::from_secs(2)).await?;
            c.ping().await
        };
        match tokio::time::timeout(Duration::from_secs(2), probe).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("{} does not answer PING ({e})", n.node)),
            Err(_) => Err(format!("{} does not answer PING within 2 s", n.node)),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_is_info_servers_redis_version() {
        let info = "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n";
        assert_eq!(
            super::info_field(info, "redis_version").as_deref(),
            Some("7.0.15")
        );
        assert_eq!(super::info_field(info, "nothing"), None);
    }

    use super::*;

    #[test]
    fn commands_pack_as_the_redis_crate_packs_them() {
        let mut out = Vec::new();
        pack(&mut out, &[b"SET", b"r1/n1/0", b"42"]);
        assert_eq!(
            out,
            redis::cmd("SET")
                .arg("r1/n1/0")
                .arg(42)
                .get_packed_command()
        );
        out.clear();
        pack(&mut out, &[b"GET", "ключ".as_bytes()]);
        assert_eq!(out, redis::cmd("GET").arg("ключ").get_packed_command());
    }

    #[test]
    fn a_reply_is_framed_only_when_whole() {
        assert_eq!(reply_len(b"").unwrap(), None);
        assert_eq!(reply_len(b"+OK\r").unwrap(), None);
        assert_eq!(reply_len(b"+OK\r\n").unwrap(), Some(5));
        assert_eq!(reply_len(b"-ERR no\r\n+OK\r\n").unwrap(), Some(9));
        assert_eq!(reply_len(b"$-1\r\n").unwrap(), Some(5));
        assert_eq!(reply_len(b"$2\r\n4").unwrap(), None);
        assert_eq!(reply_len(b"$2\r\n42\r").unwrap(), None);
        assert_eq!(reply_len(b"$2\r\n42\r\n").unwrap(), Some(8));
        assert_eq!(
            reply_len(b"*1\r\n").unwrap(),
            None,
            "an array waits for its elements"
        );
        assert!(matches!(
            reply_len(b"%1\r\n"),
            Err(DriverError::Protocol(_))
        ));
        assert!(matches!(
            reply_len(b"$x\r\n"),
            Err(DriverError::Protocol(_))
        ));
        let v = redis::parse_redis_value(b"$2\r\n42\r\n").unwrap();
        assert_eq!(parse_get(&v).unwrap(), Some(42));
    }

    #[test]
    fn arrays_are_framed_only_when_every_element_is_whole() {
        let reply = b"*2\r\n$9\r\n10.77.0.1\r\n$4\r\n6379\r\n";
        assert_eq!(reply_len(reply).unwrap(), Some(reply.len()));
        assert_eq!(reply_len(&reply[..reply.len() - 3]).unwrap(), None);
        let nested = b"*1\r\n*2\r\n+a\r\n:1\r\n+next";
        assert_eq!(reply_len(nested).unwrap(), Some(nested.len() - 5));
        assert_eq!(reply_len(b"*-1\r\n").unwrap(), Some(5));
    }

    #[test]
    fn get_replies_decode() {
        assert_eq!(parse_get(&Value::Nil).unwrap(), None);
        assert_eq!(
            parse_get(&Value::BulkString(b"41".to_vec())).unwrap(),
            Some(41)
        );
        assert!(matches!(
            parse_get(&Value::BulkString(b"x".to_vec())),
            Err(DriverError::Protocol(_))
        ));
        assert!(matches!(
            parse_get(&Value::Int(3)),
            Err(DriverError::Protocol(_))
        ));
    }
}
