//! The transactional workloads' SQL clients ([`crate::workload`]): the PostgreSQL wire
//! (PostgreSQL, Patroni, CockroachDB) through tokio-postgres and the MySQL wire (MariaDB Galera,
//! TiDB) through mysql_async.
//!
//! Tables (made at `lab up` by each definition's `x-perseus.schema`):
//! - `lily.lists (id VARCHAR(255) PRIMARY KEY, elems TEXT NOT NULL)`: one row per list-append key
//!   `<run-id>/<key>`, its elements as comma-separated decimal text. An append is one upsert that
//!   concatenates on the server (PostgreSQL wire [`APPEND_PG`]: `INSERT ... ON CONFLICT (id) DO
//!   UPDATE SET elems = l.elems || ',' || EXCLUDED.elems`; MySQL wire [`APPEND_MYSQL`]: `INSERT ...
//!   ON DUPLICATE KEY UPDATE elems = CONCAT(elems, ',', VALUES(elems))`), as Jepsen's SQL
//!   list-append clients do; a read is a `SELECT` of the row (absent: the empty list).
//! - `lily.accounts (run VARCHAR(64), id INT, balance BIGINT, PRIMARY KEY (run, id))`: the bank.
//!   A transfer reads both balances and writes back the values it computed, as Jepsen's bank
//!   does, so a database that lets two transfers read the same balance loses or makes money.
//!
//! A transaction is `BEGIN` (PostgreSQL wire: `BEGIN ISOLATION LEVEL ...` when a level is asked;
//! MySQL wire: `SET TRANSACTION ISOLATION LEVEL ...` then `START TRANSACTION`), its statements,
//! and `COMMIT`. Any error before the `COMMIT` is sent leaves nothing committed: the connection is
//! dropped and the server rolls the transaction back ([`TxnError::before_commit`]). An error of
//! the `COMMIT` itself is judged by the same allowlists as the register loop's autocommit writes
//! ([`super::sql`]): a serialization failure (`40001`) or a Galera certification failure (`1213`)
//! is a definite `fail`, anything else `info`.

use std::time::Duration;

use futures_util::future::BoxFuture;
use mysql_async::prelude::Queryable;

use super::sql::{mysql_call_error, mysql_connect, pg_call_error, pg_connect, PgConn, SqlClient};
use crate::checker::list_append::Mop;
use crate::driver::{DriverError, Endpoint};
use crate::workload::{parse_list, Isolation, Transferred, TxnConn, TxnDriver, TxnError};

/// Append to a list (PostgreSQL wire): `$1` the row id, `$2` the element as text.
pub const APPEND_PG: &str = "INSERT INTO lily.lists AS l (id, elems) VALUES ($1, $2) \
     ON CONFLICT (id) DO UPDATE SET elems = l.elems || ',' || EXCLUDED.elems";
/// Read a list (PostgreSQL wire).
pub const READ_LIST_PG: &str = "SELECT elems FROM lily.lists WHERE id = $1";
/// Create an account unless it exists (PostgreSQL wire).
pub const OPEN_PG: &str =
    "INSERT INTO lily.accounts (run, id, balance) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";
/// Read one balance (PostgreSQL wire).
pub const BALANCE_PG: &str = "SELECT balance FROM lily.accounts WHERE run = $1 AND id = $2";
/// Set one balance (PostgreSQL wire).
pub const SET_BALANCE_PG: &str = "UPDATE lily.accounts SET balance = $3 WHERE run = $1 AND id = $2";
/// Read every balance (PostgreSQL wire).
pub const BALANCES_PG: &str = "SELECT id, balance FROM lily.accounts WHERE run = $1 ORDER BY id";

/// Append to a list (MySQL wire): the row id, the element as text.
pub const APPEND_MYSQL: &str = "INSERT INTO lily.lists (id, elems) VALUES (?, ?) \
     ON DUPLICATE KEY UPDATE elems = CONCAT(elems, ',', VALUES(elems))";
/// Read a list (MySQL wire).
pub const READ_LIST_MYSQL: &str = "SELECT elems FROM lily.lists WHERE id = ?";
/// Create an account unless it exists (MySQL wire).
pub const OPEN_MYSQL: &str = "INSERT IGNORE INTO lily.accounts (run, id, balance) VALUES (?, ?, ?)";
/// Read one balance (MySQL wire).
pub const BALANCE_MYSQL: &str = "SELECT balance FROM lily.accounts WHERE run = ? AND id = ?";
/// Set one balance (MySQL wire).
pub const SET_BALANCE_MYSQL: &str = "UPDATE lily.accounts SET balance = ? WHERE run = ? AND id = ?";
/// Read every balance (MySQL wire).
pub const BALANCES_MYSQL: &str = "SELECT id, balance FROM lily.accounts WHERE run = ? ORDER BY id";

/// A list-append key's row id.
fn row(run: &str, key: u64) -> String {
    format!("{run}/{key}")
}

fn account(id: u64) -> Result<i32, TxnError> {
    i32::try_from(id)
        .map_err(|_| TxnError::before_commit(DriverError::Protocol(format!("account {id}"))))
}

/// The PostgreSQL wire's transactional client (PostgreSQL, Patroni, CockroachDB).
#[derive(Debug, Clone)]
pub struct PgTxnDriver {
    /// Who to connect as.
    pub client: SqlClient,
}

struct PgTxn {
    conn: PgConn,
    /// Whether the current transaction's `COMMIT` has been sent.
    committing: bool,
}

impl TxnDriver for PgTxnDriver {
    fn connect<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Box<dyn TxnConn>, DriverError>> {
        Box::pin(async move {
            let conn = pg_connect(endpoint.addr, &self.client, timeout).await?;
            Ok(Box::new(PgTxn {
                conn,
                committing: false,
            }) as Box<dyn TxnConn>)
        })
    }

    /// A hot standby serves READ COMMITTED and REPEATABLE READ, not SERIALIZABLE: PostgreSQL
    /// refuses `BEGIN ISOLATION LEVEL SERIALIZABLE` there (`cannot use serializable mode in a
    /// hot standby`; PostgreSQL docs, Hot Standby, "User's Overview"), so snapshot isolation (its
    /// REPEATABLE READ) is the strongest level across a primary and its replicas.
    fn replica_isolation(&self, isolation: Option<Isolation>) -> Result<(), String> {
        match isolation {
            Some(Isolation::Serializable) => Err("replicas refuse serializable transactions (PostgreSQL: cannot use serializable mode in a hot standby): use --isolation repeatable-read, the strongest level a replica serves, or leave out --replica-reads".into()),
            _ => Ok(()),
        }
    }
}

impl PgTxn {
    async fn begin(&mut self, isolation: Option<Isolation>) -> Result<(), TxnError> {
        self.committing = false;
        let sql = match isolation {
            Some(i) => format!("BEGIN ISOLATION LEVEL {}", i.sql()),
            None => "BEGIN".to_string(),
        };
        self.conn
            .client
            .batch_execute(&sql)
            .await
            .map_err(|e| TxnError::before_commit(pg_call_error(e)))
    }

    async fn commit(&mut self) -> Result<(), TxnError> {
        self.committing = true;
        self.conn
            .client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| TxnError::at_commit(pg_call_error(e)))
    }

    async fn balance(&mut self, run: &str, id: u64) -> Result<i64, TxnError> {
        let row = self
            .conn
            .client
            .query_opt(BALANCE_PG, &[&run, &account(id)?])
            .await
            .map_err(|e| TxnError::before_commit(pg_call_error(e)))?;
        let row = row.ok_or_else(|| {
            TxnError::before_commit(DriverError::Protocol(format!(
                "account {id} does not exist"
            )))
        })?;
        row.try_get(0)
            .map_err(|e| TxnError::before_commit(DriverError::Protocol(format!("balance: {e}"))))
    }
}

fn pg_before(e: tokio_postgres::Error) -> TxnError {
    TxnError::before_commit(pg_call_error(e))
}

impl TxnConn for PgTxn {
    fn commit_sent(&self) -> bool {
        self.committing
    }

    fn list_append<'a>(
        &'a mut self,
        run: &'a str,
        isolation: Option<Isolation>,
        mops: &'a [Mop],
    ) -> BoxFuture<'a, Result<Vec<Mop>, TxnError>> {
        Box::pin(async move {
            self.begin(isolation).await?;
            let mut done = Vec::with_capacity(mops.len());
            for m in mops {
                match m {
                    Mop::Append(k, e) => {
                        self.conn
                            .client
                            .execute(APPEND_PG, &[&row(run, *k), &e.to_string()])
                            .await
                            .map_err(pg_before)?;
                        done.push(m.clone());
                    }
                    Mop::Read(k, _) => {
                        let r = self
                            .conn
                            .client
                            .query_opt(READ_LIST_PG, &[&row(run, *k)])
                            .await
                            .map_err(pg_before)?;
                        let list = match r {
                            None => Vec::new(),
                            Some(r) => {
                                let text: String = r.try_get(0).map_err(|e| {
                                    TxnError::before_commit(DriverError::Protocol(format!(
                                        "elems: {e}"
                                    )))
                                })?;
                                parse_list(&text).map_err(TxnError::before_commit)?
                            }
                        };
                        done.push(Mop::Read(*k, Some(list)));
                    }
                }
            }
            self.commit().await?;
            Ok(done)
        })
    }

    fn bank_setup<'a>(
        &'a mut self,
        run: &'a str,
        accounts: u64,
        balance: i64,
    ) -> BoxFuture<'a, Result<(), TxnError>> {
        Box::pin(async move {
            self.begin(None).await?;
            for id in 0..accounts {
                self.conn
                    .client
                    .execute(OPEN_PG, &[&run, &account(id)?, &balance])
                    .await
                    .map_err(pg_before)?;
            }
            self.commit().await
        })
    }

    fn transfer<'a>(
        &'a mut self,
        run: &'a str,
        isolation: Option<Isolation>,
        from: u64,
        to: u64,
        amount: i64,
    ) -> BoxFuture<'a, Result<Transferred, TxnError>> {
        Box::pin(async move {
            self.begin(isolation).await?;
            let a = self.balance(run, from).await?;
            let b = self.balance(run, to).await?;
            if a < amount {
                self.conn
                    .client
                    .batch_execute("ROLLBACK")
                    .await
                    .map_err(pg_before)?;
                return Ok(Transferred::Insufficient);
            }
            for (id, v) in [(from, a - amount), (to, b + amount)] {
                self.conn
                    .client
                    .execute(SET_BALANCE_PG, &[&run, &account(id)?, &v])
                    .await
                    .map_err(pg_before)?;
            }
            self.commit().await?;
            Ok(Transferred::Committed)
        })
    }

    fn balances<'a>(
        &'a mut self,
        run: &'a str,
        isolation: Option<Isolation>,
    ) -> BoxFuture<'a, Result<Vec<(u64, i64)>, TxnError>> {
        Box::pin(async move {
            self.begin(isolation).await?;
            let rows = self
                .conn
                .client
                .query(BALANCES_PG, &[&run])
                .await
                .map_err(pg_before)?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let (id, b): (i32, i64) = (
                    r.try_get(0).map_err(|e| {
                        TxnError::before_commit(DriverError::Protocol(format!("id: {e}")))
                    })?,
                    r.try_get(1).map_err(|e| {
                        TxnError::before_commit(DriverError::Protocol(format!("balance: {e}")))
                    })?,
                );
                out.push((id as u64, b));
            }
            self.commit().await?;
            Ok(out)
        })
    }
}

/// The MySQL wire's transactional client (MariaDB Galera, TiDB).
#[derive(Debug, Clone)]
pub struct MySqlTxnDriver {
    /// Who to connect as.
    pub client: SqlClient,
}

/// A MySQL-wire connection that lets go without waiting on the server when dropped (see
/// [`super::sql::MySqlDriver`]'s `discard`: mysql_async's own drop may wait on a paused node).
struct MySqlTxn {
    conn: Option<mysql_async::Conn>,
    /// Whether the current transaction's `COMMIT` has been sent.
    committing: bool,
}

impl Drop for MySqlTxn {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(1), conn.disconnect()).await;
            });
        }
    }
}

impl TxnDriver for MySqlTxnDriver {
    fn connect<'a>(
        &'a self,
        endpoint: &'a Endpoint,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Box<dyn TxnConn>, DriverError>> {
        Box::pin(async move {
            let conn = mysql_connect(endpoint.addr, &self.client, timeout).await?;
            Ok(Box::new(MySqlTxn {
                conn: Some(conn),
                committing: false,
            }) as Box<dyn TxnConn>)
        })
    }
}

fn my_before(e: mysql_async::Error) -> TxnError {
    TxnError::before_commit(mysql_call_error(e))
}

impl MySqlTxn {
    fn c(&mut self) -> &mut mysql_async::Conn {
        self.conn.as_mut().expect("open until dropped")
    }

    async fn begin(&mut self, isolation: Option<Isolation>) -> Result<(), TxnError> {
        self.committing = false;
        if let Some(i) = isolation {
            self.c()
                .query_drop(format!("SET TRANSACTION ISOLATION LEVEL {}", i.sql()))
                .await
                .map_err(my_before)?;
        }
        self.c()
            .query_drop("START TRANSACTION")
            .await
            .map_err(my_before)
    }

    async fn commit(&mut self) -> Result<(), TxnError> {
        self.committing = true;
        self.c()
            .query_drop("COMMIT")
            .await
            .map_err(|e| TxnError::at_commit(mysql_call_error(e)))
    }

    async fn balance(&mut self, run: &str, id: u64) -> Result<i64, TxnError> {
        let b: Option<i64> = self
            .c()
            .exec_first(BALANCE_MYSQL, (run, id))
            .await
            .map_err(my_before)?;
        b.ok_or_else(|| {
            TxnError::before_commit(DriverError::Protocol(format!(
                "account {id} does not exist"
            )))
        })
    }
}

impl TxnConn for MySqlTxn {
    fn commit_sent(&self) -> bool {
        self.committing
    }

    fn list_append<'a>(
        &'a mut self,
        run: &'a str,
        isolation: Option<Isolation>,
        mops: &'a [Mop],
    ) -> BoxFuture<'a, Result<Vec<Mop>, TxnError>> {
        Box::pin(async move {
            self.begin(isolation).await?;
            let mut done = Vec::with_capacity(mops.len());
            for m in mops {
                match m {
                    Mop::Append(k, e) => {
                        self.c()
                            .exec_drop(APPEND_MYSQL, (row(run, *k), e.to_string()))
                            .await
                            .map_err(my_before)?;
                        done.push(m.clone());
                    }
                    Mop::Read(k, _) => {
                        let text: Option<String> = self
                            .c()
                            .exec_first(READ_LIST_MYSQL, (row(run, *k),))
                            .await
                            .map_err(my_before)?;
                        let list = match text {
                            None => Vec::new(),
                            Some(t) => parse_list(&t).map_err(TxnError::before_commit)?,
                        };
                        done.push(Mop::Read(*k, Some(list)));
                    }
                }
            }
            self.commit().await?;
            Ok(done)
        })
    }

    fn bank_setup<'a>(
        &'a mut self,
        run: &'a str,
        accounts: u64,
        balance: i64,
    ) -> BoxFuture<'a, Result<(), TxnError>> {
        Box::pin(async move {
            self.begin(None).await?;
            for id in 0..accounts {
                self.c()
                    .exec_drop(OPEN_MYSQL, (run, id, balance))
                    .await
                    .map_err(my_before)?;
            }
            self.commit().await
        })
    }

    fn transfer<'a>(
        &'a mut self,
        run: &'a str,
        isolation: Option<Isolation>,
        from: u64,
        to: u64,
        amount: i64,
    ) -> BoxFuture<'a, Result<Transferred, TxnError>> {
        Box::pin(async move {
            self.begin(isolation).await?;
            let a = self.balance(run, from).await?;
            let b = self.balance(run, to).await?;
            if a < amount {
                self.c().query_drop("ROLLBACK").await.map_err(my_before)?;
                return Ok(Transferred::Insufficient);
            }
            for (id, v) in [(from, a - amount), (to, b + amount)] {
                self.c()
                    .exec_drop(SET_BALANCE_MYSQL, (v, run, id))
                    .await
                    .map_err(my_before)?;
            }
            self.commit().await?;
            Ok(Transferred::Committed)
        })
    }

    fn balances<'a>(
        &'a mut self,
        run: &'a str,
        isolation: Option<Isolation>,
    ) -> BoxFuture<'a, Result<Vec<(u64, i64)>, TxnError>> {
        Box::pin(async move {
            self.begin(isolation).await?;
            let rows: Vec<(u64, i64)> = self
                .c()
                .exec(BALANCES_MYSQL, (run,))
                .await
                .map_err(my_before)?;
            self.commit().await?;
            Ok(rows)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_wires_append_on_the_server_and_name_rows_within_the_run() {
        assert_eq!(row("r1-ab", 7), "r1-ab/7");
        for sql in [APPEND_PG, APPEND_MYSQL] {
            assert!(sql.contains("lily.lists") && sql.contains("','"), "{sql}");
        }
        assert!(APPEND_PG.contains("ON CONFLICT (id) DO UPDATE"));
        assert!(APPEND_MYSQL.contains("ON DUPLICATE KEY UPDATE"));
        for sql in [BALANCES_PG, BALANCES_MYSQL] {
            assert!(sql.contains("ORDER BY id"), "{sql}");
        }
        assert!(account(u64::MAX).is_err());
    }
}
