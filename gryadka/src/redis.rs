//! CASPaxos acceptors on Redis: the acceptor state of each key lives in a Redis hash, and each phase
//! is one server-side Lua script (EVALSHA, loaded on first use and again after a Redis restart),
//! so a phase is atomic and a crash between its steps cannot corrupt the state. This is Gryadka's
//! design (`prepare.lua`, `accept.lua` in <https://github.com/gryadka/js>).
//!
//! Per key `gryadka:<key>`, the hash holds the promise (`pc`, `pp`), the accepted ballot (`ac`,
//! `ap`) and the accepted state (`val`, `ver`; absent = empty register). Ballot parts are Lua
//! numbers (exact up to 2^53). Durability is Redis' job: the lab runs Redis with
//! `appendonly yes` and `appendfsync always`, so a phase is on disk before its reply
//! (`etc/gryadka/redis.conf`).
//!
//! Connections: one multiplexed connection per acceptor, opened on demand. After a failed connect
//! the acceptor is treated as down for [`RETRY_AFTER`] so that requests to a dead node fail fast
//! instead of piling up on connect attempts; the proposer only needs a majority anyway.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Script, Value};

use crate::caspaxos::{Acceptor, AcceptorError, Ballot, Conflict, Promise, State};

/// How long an acceptor that refused a connection is considered down before the next attempt.
pub const RETRY_AFTER: Duration = Duration::from_millis(200);

/// Connect timeout towards an acceptor.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Phase 1: promise `ballot` if it is above both the promise and the accepted ballot.
/// `KEYS[1]` = hash; ARGV = counter, proposer.
/// Reply: {"ok", accepted counter, accepted proposer, value|false, version|false} or
/// {"conflict", counter, proposer} (the higher of promise and accepted ballot).
pub const PREPARE_LUA: &str = r#"
local h = redis.call('HMGET', KEYS[1], 'pc', 'pp', 'ac', 'ap', 'val', 'ver')
local pc, pp = tonumber(h[1] or '0'), tonumber(h[2] or '0')
local ac, ap = tonumber(h[3] or '0'), tonumber(h[4] or '0')
local c, p = tonumber(ARGV[1]), tonumber(ARGV[2])
local function gt(c1, p1, c2, p2) return c1 > c2 or (c1 == c2 and p1 > p2) end
if not (gt(c, p, pc, pp) and gt(c, p, ac, ap)) then
  if gt(ac, ap, pc, pp) then return {'conflict', tostring(ac), tostring(ap)} end
  return {'conflict', tostring(pc), tostring(pp)}
end
redis.call('HSET', KEYS[1], 'pc', ARGV[1], 'pp', ARGV[2])
return {'ok', tostring(ac), tostring(ap), h[5], h[6]}
"#;

/// Phase 2: accept (ballot, state) if the ballot is at least the promise and above the accepted
/// ballot; then promise `next` (or the ballot itself).
/// `KEYS[1]` = hash; ARGV = counter, proposer, has-state ("1"/"0"), value, version, next counter,
/// next proposer (0 0 = none).
/// Reply: {"ok"} or {"conflict", counter, proposer}.
pub const ACCEPT_LUA: &str = r#"
local h = redis.call('HMGET', KEYS[1], 'pc', 'pp', 'ac', 'ap')
local pc, pp = tonumber(h[1] or '0'), tonumber(h[2] or '0')
local ac, ap = tonumber(h[3] or '0'), tonumber(h[4] or '0')
local c, p = tonumber(ARGV[1]), tonumber(ARGV[2])
local function gt(c1, p1, c2, p2) return c1 > c2 or (c1 == c2 and p1 > p2) end
if gt(pc, pp, c, p) or not gt(c, p, ac, ap) then
  if gt(ac, ap, pc, pp) then return {'conflict', tostring(ac), tostring(ap)} end
  return {'conflict', tostring(pc), tostring(pp)}
end
local nc, np = ARGV[6], ARGV[7]
if nc == '0' and np == '0' then nc, np = ARGV[1], ARGV[2] end
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 'ac', ARGV[1], 'ap', ARGV[2], 'val', ARGV[4], 'ver', ARGV[5], 'pc', nc, 'pp', np)
else
  redis.call('HSET', KEYS[1], 'ac', ARGV[1], 'ap', ARGV[2], 'pc', nc, 'pp', np)
  redis.call('HDEL', KEYS[1], 'val', 'ver')
end
return {'ok'}
"#;

/// One Redis acceptor.
pub struct RedisAcceptor {
    address: String,
    client: redis::Client,
    conn: Mutex<(Option<MultiplexedConnection>, Option<Instant>)>,
    prepare: Script,
    accept: Script,
}

impl std::fmt::Debug for RedisAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAcceptor")
            .field("address", &self.address)
            .finish()
    }
}

impl RedisAcceptor {
    /// An acceptor at `host:port` (no connection is made until the first call).
    ///
    /// Errors: [`AcceptorError`] when the address cannot form a Redis URL.
    pub fn new(address: &str) -> Result<RedisAcceptor, AcceptorError> {
        let client = redis::Client::open(format!("redis://{address}/"))
            .map_err(|e| AcceptorError(format!("acceptor address '{address}': {e}")))?;
        Ok(RedisAcceptor {
            address: address.to_string(),
            client,
            conn: Mutex::new((None, None)),
            prepare: Script::new(PREPARE_LUA),
            accept: Script::new(ACCEPT_LUA),
        })
    }

    /// The acceptor's `host:port`.
    pub fn address(&self) -> &str {
        &self.address
    }

    async fn connection(&self) -> Result<MultiplexedConnection, AcceptorError> {
        {
            let guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = &guard.0 {
                return Ok(c.clone());
            }
            if guard.1.is_some_and(|t| Instant::now() < t) {
                return Err(AcceptorError(format!(
                    "{} is down (recent connect failed)",
                    self.address
                )));
            }
        }
        let config = AsyncConnectionConfig::new().set_connection_timeout(Some(CONNECT_TIMEOUT));
        match self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(c) => {
                let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
                guard.0 = Some(c.clone());
                guard.1 = None;
                Ok(c)
            }
            Err(e) => {
                let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
                guard.1 = Some(Instant::now() + RETRY_AFTER);
                Err(AcceptorError(format!("connect {}: {e}", self.address)))
            }
        }
    }

    fn drop_connection(&self) {
        let mut guard = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        guard.0 = None;
    }

    async fn invoke(
        &self,
        script: &Script,
        key: &str,
        args: &[String],
    ) -> Result<Vec<Value>, AcceptorError> {
        let mut conn = self.connection().await?;
        let mut inv = script.key(format!("gryadka:{key}"));
        for a in args {
            inv.arg(a);
        }
        match inv.invoke_async::<Vec<Value>>(&mut conn).await {
            Ok(v) => Ok(v),
            Err(e) => {
                if e.is_io_error()
                    || e.is_connection_dropped()
                    || e.is_unrecoverable_error()
                    || e.is_timeout()
                {
                    self.drop_connection();
                }
                Err(AcceptorError(format!("{}: {e}", self.address)))
            }
        }
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn ballot(c: Option<&Value>, p: Option<&Value>) -> Result<Ballot, AcceptorError> {
    let num = |v: Option<&Value>| -> Result<u64, AcceptorError> {
        text(v)
            .and_then(|s| s.parse::<f64>().ok())
            .map(|f| f as u64)
            .ok_or_else(|| AcceptorError("acceptor script returned a malformed ballot".into()))
    };
    Ok(Ballot {
        counter: num(c)?,
        proposer: num(p)?,
    })
}

/// Decode a prepare reply.
pub fn decode_prepare(reply: &[Value]) -> Result<Result<Promise, Conflict>, AcceptorError> {
    match text(reply.first()).as_deref() {
        Some("ok") => {
            let accepted_ballot = ballot(reply.get(1), reply.get(2))?;
            let accepted = match (text(reply.get(3)), text(reply.get(4))) {
                (Some(value), Some(ver)) => Some(State {
                    value,
                    version: ver
                        .parse()
                        .map_err(|_| AcceptorError(format!("bad version '{ver}'")))?,
                }),
                _ => None,
            };
            Ok(Ok(Promise {
                accepted_ballot,
                accepted,
            }))
        }
        Some("conflict") => Ok(Err(Conflict {
            seen: ballot(reply.get(1), reply.get(2))?,
        })),
        other => Err(AcceptorError(format!("unexpected prepare reply {other:?}"))),
    }
}

/// Decode an accept reply.
pub fn decode_accept(reply: &[Value]) -> Result<Result<(), Conflict>, AcceptorError> {
    match text(reply.first()).as_deref() {
        Some("ok") => Ok(Ok(())),
        Some("conflict") => Ok(Err(Conflict {
            seen: ballot(reply.get(1), reply.get(2))?,
        })),
        other => Err(AcceptorError(format!("unexpected accept reply {other:?}"))),
    }
}

impl Acceptor for RedisAcceptor {
    async fn prepare(
        &self,
        key: &str,
        ballot: Ballot,
    ) -> Result<Result<Promise, Conflict>, AcceptorError> {
        let reply = self
            .invoke(
                &self.prepare,
                key,
                &[ballot.counter.to_string(), ballot.proposer.to_string()],
            )
            .await?;
        decode_prepare(&reply)
    }

    async fn accept(
        &self,
        key: &str,
        ballot: Ballot,
        state: Option<State>,
        next: Option<Ballot>,
    ) -> Result<Result<(), Conflict>, AcceptorError> {
        let (has, value, version) = match state {
            Some(s) => ("1", s.value, s.version.to_string()),
            None => ("0", String::new(), "0".to_string()),
        };
        let next = next.unwrap_or(Ballot::ZERO);
        let args = [
            ballot.counter.to_string(),
            ballot.proposer.to_string(),
            has.to_string(),
            value,
            version,
            next.counter.to_string(),
            next.proposer.to_string(),
        ];
        let reply = self.invoke(&self.accept, key, &args).await?;
        decode_accept(&reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn replies_decode() {
        let p = decode_prepare(&[b("ok"), b("3"), b("2"), b("41"), b("41")])
            .unwrap()
            .unwrap();
        assert_eq!(
            p.accepted_ballot,
            Ballot {
                counter: 3,
                proposer: 2
            }
        );
        assert_eq!(
            p.accepted,
            Some(State {
                value: "41".into(),
                version: 41
            })
        );
        let p = decode_prepare(&[b("ok"), b("0"), b("0"), Value::Nil, Value::Nil])
            .unwrap()
            .unwrap();
        assert_eq!(p.accepted, None);
        let c = decode_prepare(&[b("conflict"), b("9"), b("1")])
            .unwrap()
            .unwrap_err();
        assert_eq!(
            c.seen,
            Ballot {
                counter: 9,
                proposer: 1
            }
        );
        assert!(decode_accept(&[b("ok")]).unwrap().is_ok());
        assert!(decode_accept(&[b("what")]).is_err());
    }
}
