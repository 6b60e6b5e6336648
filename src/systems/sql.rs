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
//! server's code (and on the PostgreSQL wire the severity: `FATAL 57P01: terminating connection
//! due to administrator command`) so the summary shows what happened.
//!
//! # Which failed writes are definite
//!
//! The rule: an error that arrives after the statement was sent is a definite failure (Jepsen's
//! `fail`, [`DriverError::Server`]) only if it proves the autocommit transaction did not commit;
//! anything else from the server is [`DriverError::Ambiguous`] and a client-side failure (a broken
//! socket, a closed connection) is [`DriverError::Io`], both unknown (`info`). Calling a write
//! that may have committed `fail` makes a later read of its value look impossible: a false alarm.
//! Hence an allowlist of what proves "not committed", per wire; everything not on it, including
//! codes we have never seen, is ambiguous. Reads go through the same functions (a failed read is
//! a failure either way).
//!
//! **PostgreSQL wire** (PostgreSQL, Patroni, CockroachDB; `pg_definite`). Definite only with
//! severity `ERROR` (the ErrorResponse's nonlocalized `V` field, else its `S` field; `FATAL` and
//! `PANIC` never are, whatever the code; see "Error and Notice Message Fields",
//! <https://www.postgresql.org/docs/current/protocol-error-fields.html>) and a SQLSTATE ("Appendix
//! A. PostgreSQL Error Codes", <https://www.postgresql.org/docs/current/errcodes-appendix.html>)
//! a statement raises before its commit: classes `0A` feature not supported, `22` data exception,
//! `23` integrity constraint violation, `25` invalid transaction state (with `25006`
//! read_only_sql_transaction: a hot standby refusing the write), `3D`/`3F` unknown database or
//! schema, `42` syntax error or access rule violation, `53` insufficient resources, `55` object
//! not in prerequisite state (`55P03` lock_not_available), and the codes `40001`
//! serialization_failure, `40P01` deadlock_detected (the transaction was rolled back) and `57014`
//! query_canceled. Everything else is ambiguous: class `08` connection exceptions, `57P01`..`57P05`
//! (admin shutdown, crash shutdown, cannot connect now, ...), `58` system errors, `XX` internal
//! errors (CockroachDB's `XX000` too), CockroachDB's `40003` statement_completion_unknown, and any
//! `FATAL`/`PANIC`. Why: a shutdown or crash can hit a backend after its commit record reached the
//! WAL, and a commit waiting for a synchronous standby is already committed locally. The High
//! Availability chapter (<https://www.postgresql.org/docs/current/warm-standby.html#SYNCHRONOUS-REPLICATION>)
//! says "If primary restarts while commits are waiting for acknowledgment, those waiting
//! transactions will be marked fully committed once the primary database recovers"; a backend
//! terminated during that wait sends the warning "canceling the wait for synchronous replication
//! and terminating connection due to administrator command" with the detail "The transaction has
//! already committed locally, but might not have been replicated to the standby." (PostgreSQL's
//! `src/backend/replication/syncrep.c`) and then closes the connection, which reaches us as `Io`.
//! CockroachDB: its "Transaction Retry Error Reference"
//! (<https://www.cockroachlabs.com/docs/v20.2/transaction-retry-error-reference>) says
//! "Transaction retry errors use the SQLSTATE error code 40001, and emit error messages with the
//! string restart transaction", a transaction that failed and must be restarted; `40003` ("result
//! is ambiguous") is what CockroachDB reports when the gateway did not get the commit's
//! acknowledgement, so the transaction is either fully committed or fully aborted (commit
//! 4550dac6 of cockroachdb/cockroach, which moved schema-change failures off that code).
//!
//! **MySQL wire** (MariaDB Galera, TiDB; `mysql_definite`). Definite server error codes
//! ("MariaDB Error Codes",
//! <https://mariadb.com/docs/server/reference/error-codes/mariadb-error-code-reference>): `1213`
//! ER_LOCK_DEADLOCK (also Galera's certification failure, which happens at commit time before the
//! actual commit, <https://mariadb.com/docs/galera-cluster/galera-architecture/certification-based-replication>;
//! InnoDB: "A transaction deadlock causes InnoDB to roll back the entire transaction",
//! <https://dev.mysql.com/doc/refman/en/innodb-error-handling.html>), `1205`
//! ER_LOCK_WAIT_TIMEOUT ("A lock wait timeout causes InnoDB to roll back the current statement",
//! same page), `1047` ER_UNKNOWN_COM_ERROR ("WSREP has not yet prepared node for application
//! use": a node outside the primary component refuses queries,
//! <https://mariadb.com/docs/reference/mdb/status-variables/wsrep_cluster_status/>), `1062`
//! duplicate entry, `1290` ER_OPTION_PREVENTS_STATEMENT (`--read-only`), `1792` read-only
//! transaction, `1146` no such table, `1064` syntax, `1044`/`1045`/`1142` access denied,
//! `1048`/`1264`/`1366` data errors; and TiDB's `8002` ("TiDB rolls back the transaction and
//! returns this error"), `8022` ("The transaction commit fails and has been rolled back") and
//! `8028` (schema changed: "the transaction commit fails with this error"), all from "Error Codes
//! and Troubleshooting", <https://docs.pingcap.com/tidb/stable/error-codes>. Everything else is
//! ambiguous, notably `1105` (TiDB's "execution result undetermined" and unknown errors), `1180`
//! ER_ERROR_DURING_COMMIT, `1053` ER_SERVER_SHUTDOWN, `1927` ER_CONNECTION_KILLED, `1158`..`1161`
//! network errors, `2006`/`2013` should they come as server errors, and TiDB's `9xxx` (a PD or
//! TiKV timeout during commit; `9007` "Write conflict" too, as that page does not say the
//! transaction was rolled back). mysql_async's own errors (I/O, driver) are `Io`.
//!
//! Neither crate bounds a statement in time, so the loop wraps every call in its deadline and
//! discards the connection after any error without waiting on the server; TCP keepalives are on
//! as a safety net for idle connections. Both drivers prepare their statements once per
//! connection.

use std::net::SocketAddr;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use tokio::task::JoinHandle;

use super::readiness::Pending;
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

/// The severity of a server error as the protocol's nonlocalized `V` field names it (PostgreSQL
/// 9.6 and later), else its `S` field (possibly localized: then never `ERROR`, so ambiguous).
fn pg_severity(db: &tokio_postgres::error::DbError) -> String {
    match db.parsed_severity() {
        Some(s) => s.to_string(),
        None => db.severity().to_string(),
    }
}

/// Describe a tokio-postgres error with the server's severity, SQLSTATE and message when there is
/// one (`ERROR 40001: restart transaction: ...`, `FATAL 57P01: terminating connection due to
/// administrator command`), else the client's own text.
pub fn pg_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}: {}", pg_severity(db), db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// SQLSTATE classes (the code's first two characters) that a statement raises before its commit,
/// at severity `ERROR`: feature not supported, data exception, integrity constraint violation,
/// invalid transaction state (`25006` read-only transaction on a hot standby), unknown catalog or
/// schema, syntax or access rule violation, insufficient resources, object not in prerequisite
/// state.
const PG_DEFINITE_CLASSES: &[&str] = &["0A", "22", "23", "25", "3D", "3F", "42", "53", "55"];

/// Single SQLSTATEs that prove the statement did not commit, at severity `ERROR`:
/// serialization_failure (CockroachDB's retry errors too) and deadlock_detected roll the
/// transaction back; query_canceled aborts the statement (a cancel during PostgreSQL's wait for a
/// synchronous standby is a warning on a committed transaction, not this error).
const PG_DEFINITE_CODES: &[&str] = &["40001", "40P01", "57014"];

/// Whether a PostgreSQL-wire server error with this `severity` (nonlocalized, as in the `V` field)
/// and `sqlstate` proves that the autocommit statement did not commit (a definite failure).
/// Anything else from the server is ambiguous: a `FATAL` or `PANIC` whatever the code, class `08`,
/// `57P01`..`57P05`, `58`, `XX`, CockroachDB's `40003`, any code not on the allowlist. See the
/// module docs for the sources.
fn pg_definite(severity: &str, sqlstate: &str) -> bool {
    if severity != "ERROR" || sqlstate.len() != 5 {
        return false;
    }
    PG_DEFINITE_CODES.contains(&sqlstate)
        || sqlstate
            .get(..2)
            .is_some_and(|class| PG_DEFINITE_CLASSES.contains(&class))
}

pub(super) fn pg_call_error(e: tokio_postgres::Error) -> DriverError {
    match e.as_db_error() {
        Some(db) if pg_definite(&pg_severity(db), db.code().code()) => {
            DriverError::Server(pg_error(&e))
        }
        Some(_) => DriverError::Ambiguous(pg_error(&e)),
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

/// MySQL-wire server error codes that prove the autocommit statement did not commit: deadlock
/// (Galera's certification failure too) and lock wait timeout roll it back, `1047` is a Galera
/// node refusing queries outside the primary component, duplicate entry, read-only server or
/// transaction, no such table, syntax, access denied, data errors, and TiDB's documented
/// rollbacks (`8002` SELECT FOR UPDATE conflict, `8022` commit failed and rolled back, `8028`
/// schema changed during the transaction).
const MYSQL_DEFINITE_CODES: &[u16] = &[
    1213, // ER_LOCK_DEADLOCK
    1205, // ER_LOCK_WAIT_TIMEOUT
    1047, // ER_UNKNOWN_COM_ERROR: WSREP has not yet prepared node for application use
    ER_DUP_ENTRY,
    1290, // ER_OPTION_PREVENTS_STATEMENT (--read-only)
    1792, // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
    1146, // ER_NO_SUCH_TABLE
    1064, // ER_PARSE_ERROR
    1044, // ER_DBACCESS_DENIED_ERROR
    1045, // ER_ACCESS_DENIED_ERROR
    1142, // ER_TABLEACCESS_DENIED_ERROR
    1048, // ER_BAD_NULL_ERROR
    1264, // ER_WARN_DATA_OUT_OF_RANGE
    1366, // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
    8002, // TiDB: SELECT FOR UPDATE write conflict, rolled back
    8022, // TiDB: transaction commit failed and rolled back
    8028, // TiDB: information schema changed, commit failed
];

/// Whether a MySQL-wire server error `code` proves that the autocommit statement did not commit
/// (a definite failure). Everything else from the server is ambiguous: `1105` (TiDB's "execution
/// result undetermined", unknown errors), `1180` error during COMMIT, `1053` server shutdown,
/// `1927` connection killed, `1158`..`1161` network errors, TiDB's `9xxx` storage errors, any
/// code not on the allowlist. See the module docs for the sources.
fn mysql_definite(code: u16) -> bool {
    MYSQL_DEFINITE_CODES.contains(&code)
}

pub(super) fn mysql_call_error(e: mysql_async::Error) -> DriverError {
    match e {
        mysql_async::Error::Server(s) if mysql_definite(s.code) => {
            DriverError::Server(format!("{}: {}", s.code, s.message))
        }
        mysql_async::Error::Server(s) => {
            DriverError::Ambiguous(format!("{}: {}", s.code, s.message))
        }
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
    /// Make the final read a causal read (MariaDB Galera: `SET SESSION wsrep_sync_wait = 1`,
    /// so the node applies every write set the cluster committed before it answers the
    /// `SELECT`; Galera's "wsrep_sync_wait" system variable,
    /// <https://mariadb.com/kb/en/galera-cluster-system-variables/#wsrep_sync_wait>).
    pub causal_final_read: bool,
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

    /// The loop's read, after `SET SESSION wsrep_sync_wait = 1` where the system needs it for
    /// a read that sees every committed write ([`MySqlDriver::causal_final_read`]).
    async fn final_read(
        &self,
        conn: &mut mysql_async::Conn,
        key: &str,
    ) -> Result<Option<u64>, DriverError> {
        if self.causal_final_read {
            conn.query_drop("SET SESSION wsrep_sync_wait = 1")
                .await
                .map_err(mysql_call_error)?;
        }
        self.read(conn, key).await
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

/// The release in a SQL server's `version()` text: PostgreSQL's `PostgreSQL 15.10 (Debian
/// 15.10-0+deb12u1) on x86_64-pc-linux-gnu, ...` gives `15.10`; CockroachDB's `CockroachDB CCL
/// v23.1.11 (x86_64-pc-linux-gnu, ...)` gives `23.1.11`; MariaDB's `10.11.11-MariaDB-0+deb12u1`
/// gives `10.11.11`; TiDB's `8.0.11-TiDB-v7.5.0` (its MySQL compatibility first) gives `7.5.0`.
/// `None` when no word of it starts with a digit.
pub fn version_in(text: &str) -> Option<String> {
    if let Some((_, tidb)) = text.split_once("-TiDB-v") {
        return tidb.split_whitespace().next().map(str::to_string);
    }
    text.split_whitespace()
        .map(|w| w.strip_prefix('v').unwrap_or(w))
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .map(|w| {
            w.split_once('-')
                .map_or(w, |(release, _)| release)
                .trim_end_matches(',')
                .to_string()
        })
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

    /// The version the server at `addr` reports, from `SELECT version()` ([`version_in`]);
    /// `None` when it does not answer within `timeout` or the answer holds no version.
    pub async fn server_version(&self, addr: SocketAddr, timeout: Duration) -> Option<String> {
        let rows = self.query(addr, "SELECT version()", timeout).await.ok()?;
        version_in(rows.first()?.first()?.as_deref()?)
    }

    /// Ready when every node answers `SELECT 1`; the problems name those that do not.
    pub async fn ready(&self, nodes: &[Endpoint], timeout: Duration) -> Result<(), Pending> {
        super::readiness::on_every_node(nodes, |n| async move {
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
    use super::version_in;

    #[test]
    fn the_release_is_read_from_each_servers_version_text() {
        for (text, release) in [
            ("PostgreSQL 15.10 (Debian 15.10-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14) 12.2.0, 64-bit", "15.10"),
            ("CockroachDB CCL v23.1.11 (x86_64-pc-linux-gnu, built 2023/09/27 01:53:43, go1.19.10)", "23.1.11"),
            ("10.11.11-MariaDB-0+deb12u1", "10.11.11"),
            ("8.0.11-TiDB-v7.5.0", "7.5.0"),
        ] {
            assert_eq!(version_in(text).as_deref(), Some(release), "{text}");
        }
        assert_eq!(version_in("unknown"), None);
    }

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
    fn pg_errors_before_commit_at_severity_error_are_definite() {
        for code in [
            "40001", // serialization_failure, CockroachDB's retry errors
            "40P01", // deadlock_detected
            "25006", // read_only_sql_transaction: a hot standby
            "25P02", // in_failed_sql_transaction
            "23505", // unique_violation
            "22003", // numeric_value_out_of_range
            "42P01", // undefined_table
            "42501", // insufficient_privilege
            "0A000", // feature_not_supported
            "3D000", // invalid_catalog_name
            "3F000", // invalid_schema_name
            "53200", // out_of_memory
            "55P03", // lock_not_available
            "57014", // query_canceled
        ] {
            assert!(
                pg_definite("ERROR", code),
                "ERROR {code} should be definite"
            );
        }
    }

    #[test]
    fn pg_shutdowns_crashes_and_unknown_codes_are_ambiguous() {
        for code in [
            "57P01", // admin_shutdown
            "57P02", // crash_shutdown
            "57P03", // cannot_connect_now
            "57P04", // database_dropped
            "57P05", // idle_session_timeout
            "08006", // connection_failure
            "08000", // connection_exception
            "58030", // io_error
            "XX000", // internal_error, CockroachDB's too
            "XX001", // data_corrupted
            "40003", // statement_completion_unknown (CockroachDB: result is ambiguous)
            "40002", // transaction_integrity_constraint_violation: not on the list
            "P0001", // raise_exception: not on the list
            "ZZ999", // unknown
            "", "4000", "400011",
        ] {
            assert!(
                !pg_definite("ERROR", code),
                "ERROR {code} should be ambiguous"
            );
        }
    }

    #[test]
    fn pg_fatal_and_panic_are_ambiguous_whatever_the_code() {
        for severity in ["FATAL", "PANIC", "WARNING", "FEHLER", ""] {
            for code in ["57P01", "40001", "23505", "25006", "57014", "42P01"] {
                assert!(
                    !pg_definite(severity, code),
                    "{severity} {code} should be ambiguous"
                );
            }
        }
    }

    #[test]
    fn mysql_errors_that_roll_back_are_definite() {
        for code in [
            1213, 1205, 1047, 1062, 1290, 1792, 1146, 1064, 1044, 1045, 1142, 1048, 1264, 1366,
            8002, 8022, 8028,
        ] {
            assert!(mysql_definite(code), "{code} should be definite");
        }
    }

    #[test]
    fn mysql_commit_shutdown_network_and_unknown_errors_are_ambiguous() {
        for code in [
            1105,
            1180,
            1053,
            1927,
            1158,
            1159,
            1160,
            1161,
            2006,
            2013,
            9001,
            9002,
            9003,
            9004,
            9005,
            9006,
            9007,
            9008,
            1317,
            1205 + 1,
            0,
            u16::MAX,
        ] {
            assert!(!mysql_definite(code), "{code} should be ambiguous");
        }
    }

    #[test]
    fn mysql_server_errors_map_to_definite_or_ambiguous() {
        let server = |code: u16| {
            mysql_call_error(mysql_async::Error::Server(mysql_async::ServerError {
                code,
                message: "m".into(),
                state: "HY000".into(),
            }))
        };
        for code in [1213, 1047] {
            let e = server(code);
            assert!(matches!(e, DriverError::Server(_)), "{code}: {e:?}");
            assert!(e.definite());
            assert_eq!(e.to_string(), format!("server: {code}: m"));
        }
        for code in [1180, 1053, 1105, 9005] {
            let e = server(code);
            assert!(matches!(e, DriverError::Ambiguous(_)), "{code}: {e:?}");
            assert!(!e.definite());
        }
        let io = mysql_call_error(mysql_async::Error::Io(mysql_async::IoError::Io(
            std::io::Error::from(std::io::ErrorKind::ConnectionReset),
        )));
        assert!(matches!(io, DriverError::Io(_)) && !io.definite(), "{io:?}");
    }

    #[test]
    fn values_outside_bigint_are_protocol_errors() {
        assert_eq!(to_value(5).unwrap(), 5);
        assert!(matches!(to_value(-1), Err(DriverError::Protocol(_))));
        assert_eq!(to_column(7).unwrap(), 7);
        assert!(matches!(to_column(u64::MAX), Err(DriverError::Protocol(_))));
    }
}
