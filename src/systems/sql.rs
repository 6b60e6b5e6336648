//! The load loop's SQL drivers: PostgreSQL wire through tokio-postgres (CockroachDB, PostgreSQL)
//! and MySQL wire through mysql_async (TiDB, MariaDB Galera).
//!
//! The loop's table is [`TABLE`], `lily.counters (id, value)`, created at `lab up` by the
//! statements of the definition's `x-perseus.schema`. An iteration is two autocommit statements on
//! one connection, as in the seeds: [`READ_PG`]/[`READ_MYSQL`], then a conditional write: an
//! `UPDATE ... WHERE id = ? AND value = <what was read>` ([`UPDATE_PG`]/[`UPDATE_MYSQL`]), or for a
//! key that does not exist an insert that refuses an existing row ([`INSERT_PG`]/[`INSERT_MYSQL`]).
//! No row changed means the key held something else: a refused write. Every error (a retryable
//! CockroachDB `40001`, a Galera deadlock `1213`, `1047 WSREP has not yet prepared node for
//! application use`, a TiDB `9005 Region is unavailable`, a broken socket) is an error of that
//! iteration: the loop drops the connection and opens a new one, and the error text keeps the
//! server's code so the summary shows what happened.
//!
//! An autocommit statement the server answered with an error was not committed (a definite
//! failure), except where the server says it does not know: CockroachDB's `40003` ("result is
//! ambiguous") and, on the MySQL wire, `1105` (TiDB's "execution result undetermined" and other
//! unknown errors) and TiDB's own `9xxx` storage errors (a TiKV timeout during commit). A broken
//! connection is an unknown outcome too.
//!
//! Neither crate bounds a statement in time, so the loop wraps every call in its deadline and
//! discards the connection after any error without waiting on the server; TCP keepalives are on
//! as a safety net for idle connections. Both drivers prepare their statements once per
//! connection.

use std::net::SocketAddr;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use tokio::task::JoinHandle;

use super::Pending;
use crate::driver::{Driver, DriverError, Endpoint, Written};

/// The loop's table: one row per key (`id`, at most 255 characters) holding the counter `value`.
pub const TABLE: &str = "lily.counters";
/// Read one key (PostgreSQL wire).
pub const READ_PG: &str = "SELECT value FROM lily.counters WHERE id = $1";
/// Write one key if it holds `$2` (PostgreSQL wire, CockroachDB too): one row changed, or none.
pub const UPDATE_PG: &str = "UPDATE lily.counters SET value = $3 WHERE id = $1 AND value = $2";
/// Create one key that does not exist (PostgreSQL wire): one row inserted, or none.
pub const INSERT_PG: &str =
    "INSERT INTO lily.counters (id, value) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING";
/// Read one key (MySQL wire).
pub const READ_MYSQL: &str = "SELECT value FROM lily.counters WHERE id = ?";
/// Write one key if it holds the third parameter (MySQL wire): one row changed, or none.
pub const UPDATE_MYSQL: &str = "UPDATE lily.counters SET value = ? WHERE id = ? AND value = ?";
/// Create one key that does not exist (MySQL wire): an existing row is error `1062`.
pub const INSERT_MYSQL: &str = "INSERT INTO lily.counters (id, value) VALUES (?, ?)";

/// MySQL's duplicate-key error: the row exists, so an insert-if-absent was refused.
const ER_DUP_ENTRY: u16 = 1062;

/// Idle time before the first TCP keepalive probe on a SQL connection.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);

/// Who a SQL driver connects as (`x-perseus.client-user`, `x-perseus.client-database`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlClient {
    /// User name (no password: the lab's databases run without authentication).
    pub user: String,
    /// Database to connect to (`defaultdb` on CockroachDB, `postgres` on PostgreSQL); `None`
    /// connects without selecting one (MySQL wire).
    pub database: Option<String>,
}

/// A PostgreSQL-wire connection: the client, its connection task, and the prepared statements.
pub struct PgConn {
    /// The client half.
    pub client: tokio_postgres::Client,
    task: JoinHandle<()>,
    read: Option<tokio_postgres::Statement>,
    update: Option<tokio_postgres::Statement>,
    insert: Option<tokio_postgres::Statement>,
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // The connection task would otherwise linger on a socket to a paused node.
        self.task.abort();
    }
}

/// Describe a tokio-postgres error with the server's SQLSTATE and message when there is one
/// (`40001: restart transaction: ...`), else the client's own text.
pub fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// CockroachDB's "statement completion unknown": the commit may or may not have happened.
const SQLSTATE_AMBIGUOUS: &str = "40003";

fn pg_call_error(e: tokio_postgres::Error) -> DriverError {
    match e.as_db_error() {
        Some(db) if db.code().code() == SQLSTATE_AMBIGUOUS => DriverError::Ambiguous(pg_error(&e)),
        Some(_) => DriverError::Server(pg_error(&e)),
        None => DriverError::Io(pg_error(&e)),
    }
}

/// Open a PostgreSQL-wire connection to `addr` (no TLS, keepalives on, `timeout` on the connect).
///
/// Errors: [`DriverError::Connect`] with the server's or the socket's reason.
pub async fn pg_connect(
    addr: SocketAddr,
    client: &SqlClient,
    timeout: Duration,
) -> Result<PgConn, DriverError> {
    let mut cfg = tokio_postgres::Config::new();
    cfg.hostaddr(addr.ip())
        .port(addr.port())
        .user(&client.user)
        .connect_timeout(timeout)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .application_name("perseus");
    if let Some(db) = &client.database {
        cfg.dbname(db);
    }
    let (pg, connection) = cfg
        .connect(tokio_postgres::NoTls)
        .await
        .map_err(|e| DriverError::Connect(pg_error(&e)))?;
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(PgConn {
        client: pg,
        task,
        read: None,
        update: None,
        insert: None,
    })
}

/// Open a MySQL-wire connection to `addr` (TCP, keepalives on, `timeout` on the connect).
///
/// Errors: [`DriverError::Connect`] with the server's or the socket's reason.
pub async fn mysql_connect(
    addr: SocketAddr,
    client: &SqlClient,
    timeout: Duration,
) -> Result<mysql_async::Conn, DriverError> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(addr.ip().to_string())
        .tcp_port(addr.port())
        .user(Some(client.user.clone()))
        .db_name(client.database.clone())
        .prefer_socket(false)
        .tcp_nodelay(true)
        .tcp_keepalive(Some(KEEPALIVE_IDLE));
    match tokio::time::timeout(timeout, mysql_async::Conn::new(opts)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(DriverError::Connect(e.to_string())),
        Err(_) => Err(DriverError::Connect(format!(
            "no MySQL handshake within {} ms",
            timeout.as_millis()
        ))),
    }
}

/// Whether a MySQL-wire server error leaves the statement's outcome unknown: `1105` (TiDB's
/// "execution result undetermined", and unknown errors generally) and TiDB's storage errors
/// (`9001`..`9999`: a TiKV or PD timeout during commit). Everything else was refused.
fn mysql_ambiguous(code: u16) -> bool {
    code == 1105 || (9001..=9999).contains(&code)
}

fn mysql_call_error(e: mysql_async::Error) -> DriverError {
    match e {
        mysql_async::Error::Server(s) if mysql_ambiguous(s.code) => {
            DriverError::Ambiguous(format!("{}: {}", s.code, s.message))
        }
        mysql_async::Error::Server(s) => DriverError::Server(format!("{}: {}", s.code, s.message)),
        other => DriverError::Io(other.to_string()),
    }
}

fn to_value(v: i64) -> Result<u64, DriverError> {
    u64::try_from(v).map_err(|_| DriverError::Protocol(format!("value {v} is negative")))
}

fn to_column(v: u64) -> Result<i64, DriverError> {
    i64::try_from(v).map_err(|_| DriverError::Protocol(format!("value {v} exceeds BIGINT")))
}

/// The PostgreSQL-wire driver (CockroachDB, PostgreSQL).
#[derive(Debug, Clone)]
pub struct PgDriver {
    /// Who to connect as.
    pub client: SqlClient,
}

impl Driver for PgDriver {
    type Conn = PgConn;
    const CONDITIONAL: bool = true;

    async fn connect(&self, endpoint: &Endpoint, timeout: Duration) -> Result<PgConn, DriverError> {
        let mut conn = pg_connect(endpoint.addr, &self.client, timeout).await?;
        conn.read =
            Some(conn.client.prepare(READ_PG).await.map_err(|e| {
                DriverError::Connect(format!("preparing the read: {}", pg_error(&e)))
            })?);
        conn.update =
            Some(conn.client.prepare(UPDATE_PG).await.map_err(|e| {
                DriverError::Connect(format!("preparing the write: {}", pg_error(&e)))
            })?);
        conn.insert = Some(conn.client.prepare(INSERT_PG).await.map_err(|e| {
            DriverError::Connect(format!("preparing the insert: {}", pg_error(&e)))
        })?);
        Ok(conn)
    }

    async fn read(&self, conn: &mut PgConn, key: &str) -> Result<Option<u64>, DriverError> {
        let stmt = conn.read.as_ref().expect("prepared at connect");
        let row = conn
            .client
            .query_opt(stmt, &[&key])
            .await
            .map_err(pg_call_error)?;
        match row {
            None => Ok(None),
            Some(row) => {
                let v: i64 = row
                    .try_get(0)
                    .map_err(|e| DriverError::Protocol(format!("value column: {e}")))?;
                to_value(v).map(Some)
            }
        }
    }

    async fn write(
        &self,
        conn: &mut PgConn,
        key: &str,
        expected: Option<u64>,
        value: u64,
    ) -> Result<Written, DriverError> {
        let v = to_column(value)?;
        let changed = match expected {
            Some(old) => {
                let stmt = conn.update.as_ref().expect("prepared at connect");
                let old = to_column(old)?;
                conn.client.execute(stmt, &[&key, &old, &v]).await
            }
            None => {
                let stmt = conn.insert.as_ref().expect("prepared at connect");
                conn.client.execute(stmt, &[&key, &v]).await
            }
        }
        .map_err(pg_call_error)?;
        Ok(if changed == 1 {
            Written::Applied
        } else {
            Written::Refused
        })
    }
}

/// The MySQL-wire driver (TiDB, MariaDB Galera).
#[derive(Debug, Clone)]
pub struct MySqlDriver {
    /// Who to connect as.
    pub client: SqlClient,
}

impl Driver for MySqlDriver {
    type Conn = mysql_async::Conn;
    const CONDITIONAL: bool = true;

    async fn connect(
        &self,
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> Result<mysql_async::Conn, DriverError> {
        mysql_connect(endpoint.addr, &self.client, timeout).await
    }

    async fn read(
        &self,
        conn: &mut mysql_async::Conn,
        key: &str,
    ) -> Result<Option<u64>, DriverError> {
        let v: Option<i64> = conn
            .exec_first(READ_MYSQL, (key,))
            .await
            .map_err(mysql_call_error)?;
        v.map(to_value).transpose()
    }

    async fn write(
        &self,
        conn: &mut mysql_async::Conn,
        key: &str,
        expected: Option<u64>,
        value: u64,
    ) -> Result<Written, DriverError> {
        let v = to_column(value)?;
        let done = match expected {
            Some(old) => {
                conn.exec_drop(UPDATE_MYSQL, (v, key, to_column(old)?))
                    .await
            }
            None => conn.exec_drop(INSERT_MYSQL, (key, v)).await,
        };
        match done {
            Ok(()) if conn.affected_rows() == 1 => Ok(Written::Applied),
            Ok(()) => Ok(Written::Refused),
            Err(mysql_async::Error::Server(s)) if s.code == ER_DUP_ENTRY => Ok(Written::Refused),
            Err(e) => Err(mysql_call_error(e)),
        }
    }

    /// Dropped as is, a mysql_async connection cut off mid-query spawns a clean-up that waits
    /// for the rest of the result with no time limit (until a paused node resumes). Disconnect
    /// instead, at most one second: `disconnect` marks the connection closed before it sends
    /// COM_QUIT, so nothing lingers once it is abandoned.
    fn discard(&self, conn: mysql_async::Conn) {
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.disconnect()).await;
        });
    }
}

/// Which SQL wire a system speaks, with its client settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// PostgreSQL wire.
    Postgres(SqlClient),
    /// MySQL wire.
    MySql(SqlClient),
}

/// One result row, every column as text (`NULL` as `None`).
pub type TextRow = Vec<Option<String>>;

impl Wire {
    /// Run `sql` (no parameters) on `addr` with a fresh connection, all within `timeout`, and
    /// return its rows with every column as text. For probes and schema set-up, not the loop.
    ///
    /// Errors: one line with the server's code and message, or why the connection failed.
    pub async fn query(
        &self,
        addr: SocketAddr,
        sql: &str,
        timeout: Duration,
    ) -> Result<Vec<TextRow>, String> {
        let work = async {
            match self {
                Wire::Postgres(client) => {
                    let conn = pg_connect(addr, client, timeout)
                        .await
                        .map_err(|e| e.to_string())?;
                    let msgs = conn
                        .client
                        .simple_query(sql)
                        .await
                        .map_err(|e| pg_error(&e))?;
                    Ok(msgs
                        .into_iter()
                        .filter_map(|m| match m {
                            tokio_postgres::SimpleQueryMessage::Row(r) => {
                                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                            }
                            _ => None,
                        })
                        .collect())
                }
                Wire::MySql(client) => {
                    let mut conn = mysql_connect(addr, client, timeout)
                        .await
                        .map_err(|e| e.to_string())?;
                    let rows: Vec<mysql_async::Row> = conn
                        .query(sql)
                        .await
                        .map_err(|e| mysql_call_error(e).to_string())?;
                    let _ = conn.disconnect().await;
                    Ok(rows
                        .into_iter()
                        .map(|r| {
                            (0..r.len())
                                .map(|i| match r.as_ref(i) {
                                    None | Some(mysql_async::Value::NULL) => None,
                                    Some(mysql_async::Value::Bytes(b)) => {
                                        Some(String::from_utf8_lossy(b).into_owned())
                                    }
                                    Some(v) => Some(v.as_sql(true).trim_matches('\'').to_string()),
                                })
                                .collect()
                        })
                        .collect())
                }
            }
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(format!(
                "no answer within {} ms to `{}`",
                timeout.as_millis(),
                sql.split_whitespace().collect::<Vec<_>>().join(" ")
            )),
        }
    }

    /// Ready when every node answers `SELECT 1`; the problems name those that do not.
    pub async fn ready(&self, nodes: &[Endpoint], timeout: Duration) -> Result<(), Pending> {
        super::on_every_node(nodes, |n| async move {
            self.query(n.addr, "SELECT 1", timeout)
                .await
                .map(|_| ())
                .map_err(|e| format!("{} does not answer SQL ({e})", n.node))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_use_the_loop_table() {
        for s in [
            READ_PG,
            UPDATE_PG,
            INSERT_PG,
            READ_MYSQL,
            UPDATE_MYSQL,
            INSERT_MYSQL,
        ] {
            assert!(s.contains(TABLE), "{s}");
        }
    }

    #[test]
    fn values_outside_bigint_are_protocol_errors() {
        assert_eq!(to_value(5).unwrap(), 5);
        assert!(matches!(to_value(-1), Err(DriverError::Protocol(_))));
        assert_eq!(to_column(7).unwrap(), 7);
        assert!(matches!(to_column(u64::MAX), Err(DriverError::Protocol(_))));
    }
}
