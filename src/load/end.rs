//! The final reads of a run, once its faults are undone: every key read again until two reads
//! agree ([`final_reads`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::summary::{FinalRead, Summary};
use crate::driver::{Driver, Endpoint};
use crate::history::{counter, History, Op, Type};

/// The bound of each final read's connect and read, at least (`perseus load` and `perseus run`
/// take the larger of it and the run's `op-timeout`): long enough for a node that has just come
/// back.
pub const FINAL_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// How many reads the final read of one key makes at most, looking for two in a row that agree.
pub const FINAL_READS_MAX: usize = 5;

/// The pause between two final reads of one key.
const FINAL_READ_PAUSE: Duration = Duration::from_millis(100);

/// Read every key of `summary` once more, through its own node's endpoint (on the unreplicated
/// systems another node does not hold the key at all) with the driver's final read (the
/// system's linearizable path: [`Driver::final_read`]), all keys at once. Each key is read on a
/// fresh connection, again and again (at most [`FINAL_READS_MAX`] times, within three times
/// `timeout`, each connect and read bounded by `timeout`), until two reads in a row agree: that
/// value is what the key holds. Every read is checked against the key's bounds and recorded in
/// the history as a read of the key's last process. A key whose reads never agree, or that
/// cannot be read at all, is **unverified**: the summary counts and names it, and the safety
/// expectations fail on it. Call it after the faults are undone (whether or not the cluster
/// became ready again).
pub async fn final_reads<D: Driver>(
    driver: &D,
    endpoints: &[Endpoint],
    summary: &mut Summary,
    timeout: Duration,
    history: Option<&History>,
    origin: Instant,
) {
    let reads = summary.conns.iter().map(|r| {
        let key: Arc<str> = Arc::from(r.check.key.as_str());
        let endpoint = endpoints.iter().find(|e| e.node == r.check.node).cloned();
        let process = r.process;
        async move {
            let Some(endpoint) = endpoint else {
                return FinalRead {
                    reads: Vec::new(),
                    settled: false,
                    why: Some(format!("node {} is not in the lab", r.check.node)),
                };
            };
            let deadline = Instant::now() + timeout * 3;
            let mut reads: Vec<Option<u64>> = Vec::new();
            let mut error = None;
            for attempt in 0..FINAL_READS_MAX {
                if attempt > 0 {
                    if Instant::now() + FINAL_READ_PAUSE >= deadline {
                        break;
                    }
                    tokio::time::sleep(FINAL_READ_PAUSE).await;
                }
                let bound = timeout.min(deadline.saturating_duration_since(Instant::now()));
                if let Some(h) = history {
                    h.record(&key, process, Type::Invoke, Op::Read(None), None);
                }
                let late = |call: &str| format!("{call} took longer than {bound:?}");
                let got = async {
                    let mut conn = tokio::time::timeout(bound, driver.connect(&endpoint, bound))
                        .await
                        .map_err(|_| late("connect"))?
                        .map_err(|e| e.to_string())?;
                    let v = tokio::time::timeout(bound, driver.final_read(&mut conn, &key))
                        .await
                        .map_err(|_| late("the read"))
                        .and_then(|r| r.map_err(|e| e.to_string()));
                    let evidence = driver.evidence(&conn);
                    driver.discard(conn);
                    v.map(|v| (v, evidence))
                }
                .await;
                match got {
                    Ok((v, evidence)) => {
                        if let Some(h) = history {
                            let op = Op::Read(Some(counter(v.unwrap_or(0))));
                            h.record_with(&key, process, Type::Ok, op, None, evidence);
                        }
                        reads.push(v);
                        let n = reads.len();
                        if n >= 2 && reads[n - 1].unwrap_or(0) == reads[n - 2].unwrap_or(0) {
                            return FinalRead {
                                reads,
                                settled: true,
                                why: None,
                            };
                        }
                    }
                    Err(e) => {
                        if let Some(h) = history {
                            h.record(&key, process, Type::Fail, Op::Read(None), Some(e.clone()));
                        }
                        error = Some(e);
                    }
                }
            }
            let shown: Vec<String> = reads.iter().map(|v| v.unwrap_or(0).to_string()).collect();
            let why = match (shown.is_empty(), error) {
                (true, Some(e)) => e,
                (true, None) => "no read was made in time".to_string(),
                (false, e) => format!(
                    "no two reads in a row agreed ({}){}",
                    shown.join(", "),
                    e.map(|e| format!("; last error: {e}")).unwrap_or_default()
                ),
            };
            FinalRead {
                reads,
                settled: false,
                why: Some(why),
            }
        }
    });
    let results = futures_util::future::join_all(reads).await;
    summary.set_finals(results, origin.elapsed().as_secs_f64());
}
