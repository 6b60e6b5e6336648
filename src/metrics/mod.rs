//! Live metrics of a run for Prometheus: what the load loop and the faults did, per node, while
//! the run runs (`--metrics ADDR` on `load`, `run`, `table` and `bisect`; docs/metrics.md).
//!
//! [`Metrics`] holds the series (the `prometheus-client` crate's registry, encoded in the
//! OpenMetrics text format); [`serve`] answers `GET /metrics` with them until its [`Server`] is
//! dropped. Every series carries the labels `run` (the load's run id) and `system`; a new run in
//! the same process ([`Metrics::begin_run`], as `table` and `bisect` make many) clears the series
//! of the one before.
//!
//! The load loop pays nothing per operation for this: once a second its printer copies what the
//! loop already counts (per-second successes and failures, the latency histograms, the keys'
//! anomaly counts) into these series. So a scrape sees the run as of the last complete second.
//!
//! | series | type | labels | what |
//! | --- | --- | --- | --- |
//! | `perseus_operations_total` | counter | `node`, `outcome` (`ok`, `fail`, `info`) | the loop's iterations by Jepsen's outcome: `info` when a write's outcome is unknown |
//! | `perseus_latency_seconds` | histogram | `node`, `outcome` | latency of the operations by outcome, from the loop's HDR histograms: from an iteration's start in the closed loop, from its intended start in the open loop (`--rate`) |
//! | `perseus_late_operations_total` | counter | `node` | open loop: operations that started more than 50 ms after their intended start (0 in the closed loop) |
//! | `perseus_anomalies` | gauge | `node`, `kind` (`lost`, `stale`, `reverted`, `impossible`) | anomalies found so far (a gauge: a loss can be revised when increments come back) |
//! | `perseus_unavailability_window_seconds` | gauge | `node` | how long the node has gone without a success, in whole seconds (0 when the last second had one) |
//! | `perseus_cluster_unavailability_window_seconds` | gauge | | the same for the cluster: no node served |
//! | `perseus_fault_active` | gauge | `kind`, `target` | 1 while the fault is in force on the node, 0 once undone |
//! | `perseus_scenario_step` | gauge | | the number of scenario steps fired so far |
//! | `perseus_second` | gauge | | the last complete second of the run |

mod serve;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

pub use serve::{parse_addr, serve, Server, CONTENT_TYPE};

/// The upper bounds of the latency histogram's buckets, in seconds (and `+Inf`).
pub const LATENCY_BOUNDS_S: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

/// The metric names Perseus serves (without the `_total`, `_bucket`, `_sum`, `_count` suffixes
/// the format adds), for checks of dashboards and queries against them.
pub const NAMES: [&str; 9] = [
    "perseus_operations",
    "perseus_latency_seconds",
    "perseus_late_operations",
    "perseus_anomalies",
    "perseus_unavailability_window_seconds",
    "perseus_cluster_unavailability_window_seconds",
    "perseus_fault_active",
    "perseus_scenario_step",
    "perseus_second",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    run: String,
    system: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    run: String,
    system: String,
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    run: String,
    system: String,
    node: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    run: String,
    system: String,
    node: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FaultLabels {
    run: String,
    system: String,
    kind: String,
    target: String,
}

/// A histogram whose buckets are set whole, once a second, from the loop's own HDR histograms
/// (`prometheus-client`'s `Histogram` takes one observation at a time, which would put a lock
/// on the loop's hot path).
#[derive(Debug, Clone, Default)]
struct Latency(Arc<Mutex<LatencyState>>);

#[derive(Debug, Default)]
struct LatencyState {
    sum_s: f64,
    count: u64,
    /// Per bucket (not cumulative), [`LATENCY_BOUNDS_S`] then `+Inf`.
    buckets: Vec<u64>,
}

impl TypedMetric for Latency {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS_S
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(s.buckets.iter().copied().chain(std::iter::repeat(0)))
            .collect();
        encoder.encode_histogram::<NoLabelSet>(s.sum_s, s.count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The faults a node fault or a heal undoes: `start` ends kill, stop and power loss; `resume`
/// ends pause; `connect` ends disconnect; `heal` ends every network fault (anything that is not
/// a node fault).
pub fn undoes(undo: &str, fault: &str) -> bool {
    const NODE: [&str; 6] = [
        "kill",
        "stop",
        "pause",
        "disconnect",
        "power-loss",
        "power-loss-torn",
    ];
    match undo {
        "start" => matches!(fault, "kill" | "stop" | "power-loss" | "power-loss-torn"),
        "resume" => fault == "pause",
        "connect" => fault == "disconnect",
        "heal" => !NODE.contains(&fault),
        _ => false,
    }
}

/// Whether a fault's name is one that undoes others (it is never itself in force).
pub fn is_undo(fault: &str) -> bool {
    matches!(fault, "start" | "resume" | "connect" | "heal")
}

#[derive(Debug)]
struct Current {
    run: String,
    system: String,
    nodes: Vec<String>,
    /// Per node: the last second with a success (0: none yet).
    last_ok: Vec<u64>,
    last_any_ok: u64,
    /// Faults set so far this run: `(kind, target)` → in force.
    faults: BTreeMap<(String, String), bool>,
    steps: i64,
}

impl Current {
    fn run(&self) -> RunLabels {
        RunLabels {
            run: self.run.clone(),
            system: self.system.clone(),
        }
    }

    fn node(&self, node: &str) -> NodeLabels {
        NodeLabels {
            run: self.run.clone(),
            system: self.system.clone(),
            node: node.to_string(),
        }
    }

    fn outcome(&self, node: &str, outcome: &'static str) -> OutcomeLabels {
        OutcomeLabels {
            run: self.run.clone(),
            system: self.system.clone(),
            node: node.to_string(),
            outcome,
        }
    }

    fn kind(&self, node: &str, kind: &'static str) -> KindLabels {
        KindLabels {
            run: self.run.clone(),
            system: self.system.clone(),
            node: node.to_string(),
            kind,
        }
    }

    fn fault(&self, kind: &str, target: &str) -> FaultLabels {
        FaultLabels {
            run: self.run.clone(),
            system: self.system.clone(),
            kind: kind.to_string(),
            target: target.to_string(),
        }
    }
}

#[derive(Debug)]
struct Inner {
    current: Mutex<Current>,
    registry: Registry,
    operations: Family<OutcomeLabels, Counter>,
    latency: Family<OutcomeLabels, Latency>,
    late: Family<NodeLabels, Counter>,
    anomalies: Family<KindLabels, Gauge>,
    window: Family<NodeLabels, Gauge>,
    cluster_window: Family<RunLabels, Gauge>,
    faults: Family<FaultLabels, Gauge>,
    step: Family<RunLabels, Gauge>,
    second: Family<RunLabels, Gauge>,
}

/// The live series of one command's runs (cloning shares them).
#[derive(Debug, Clone)]
pub struct Metrics(Arc<Inner>);

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    /// No series until [`Metrics::begin_run`].
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let operations = Family::<OutcomeLabels, Counter>::default();
        let latency = Family::<OutcomeLabels, Latency>::default();
        let late = Family::<NodeLabels, Counter>::default();
        let anomalies = Family::<KindLabels, Gauge>::default();
        let window = Family::<NodeLabels, Gauge>::default();
        let cluster_window = Family::<RunLabels, Gauge>::default();
        let faults = Family::<FaultLabels, Gauge>::default();
        let step = Family::<RunLabels, Gauge>::default();
        let second = Family::<RunLabels, Gauge>::default();
        registry.register(
            "perseus_operations",
            "Iterations of the load loop per node by outcome (Jepsen's ok, fail, info)",
            operations.clone(),
        );
        registry.register(
            "perseus_latency_seconds",
            "Latency of the load loop's operations per node and outcome (open loop: from the intended start)",
            latency.clone(),
        );
        registry.register(
            "perseus_late_operations",
            "Open loop: operations per node that started more than 50 ms after their intended start",
            late.clone(),
        );
        registry.register(
            "perseus_anomalies",
            "Anomalies found so far per node and kind (lost counts increments, the others reads)",
            anomalies.clone(),
        );
        registry.register(
            "perseus_unavailability_window_seconds",
            "Whole seconds since the node's last success (0 when the last second had one)",
            window.clone(),
        );
        registry.register(
            "perseus_cluster_unavailability_window_seconds",
            "Whole seconds since any node's last success (0 when the last second had one)",
            cluster_window.clone(),
        );
        registry.register(
            "perseus_fault_active",
            "1 while the fault is in force on the target node, 0 once undone",
            faults.clone(),
        );
        registry.register(
            "perseus_scenario_step",
            "Scenario steps fired so far in this run",
            step.clone(),
        );
        registry.register(
            "perseus_second",
            "The last complete second of the run",
            second.clone(),
        );
        Metrics(Arc::new(Inner {
            current: Mutex::new(Current {
                run: String::new(),
                system: String::new(),
                nodes: Vec::new(),
                last_ok: Vec::new(),
                last_any_ok: 0,
                faults: BTreeMap::new(),
                steps: 0,
            }),
            registry,
            operations,
            latency,
            late,
            anomalies,
            window,
            cluster_window,
            faults,
            step,
            second,
        }))
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Current> {
        self.0.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new run, `run` (the load's run id), of `system` on these nodes (in the loop's node
    /// order): the series of the run before are removed, this one's start at zero.
    pub fn begin_run(&self, run: &str, system: &str, nodes: &[String]) {
        let i = &self.0;
        i.operations.clear();
        i.latency.clear();
        i.late.clear();
        i.anomalies.clear();
        i.window.clear();
        i.cluster_window.clear();
        i.faults.clear();
        i.step.clear();
        i.second.clear();
        let mut c = self.current();
        *c = Current {
            run: run.to_string(),
            system: system.to_string(),
            nodes: nodes.to_vec(),
            last_ok: vec![0; nodes.len()],
            last_any_ok: 0,
            faults: BTreeMap::new(),
            steps: 0,
        };
        for node in nodes {
            for outcome in ["ok", "fail", "info"] {
                i.operations
                    .get_or_create(&c.outcome(node, outcome))
                    .inc_by(0);
            }
            for outcome in ["ok", "fail", "info"] {
                drop(i.latency.get_or_create(&c.outcome(node, outcome)));
            }
            i.late.get_or_create(&c.node(node)).inc_by(0);
            i.window.get_or_create(&c.node(node)).set(0);
            for kind in ["lost", "stale", "reverted", "impossible"] {
                i.anomalies.get_or_create(&c.kind(node, kind)).set(0);
            }
        }
        i.cluster_window.get_or_create(&c.run()).set(0);
        i.step.get_or_create(&c.run()).set(0);
        i.second.get_or_create(&c.run()).set(0);
    }

    /// One complete second `sec` (1-based) of the loop: per node (in the order given to
    /// [`Metrics::begin_run`]) its `ok` iterations, its failed ones, and how many of those
    /// failed ones were `info` (a write whose outcome is unknown); the rest are `fail`.
    pub fn second(&self, sec: u64, ok: &[u64], failed: &[u64], info: &[u64]) {
        let i = &self.0;
        let mut c = self.current();
        for n in 0..c.nodes.len() {
            let node = c.nodes[n].clone();
            let ok_n = ok.get(n).copied().unwrap_or(0);
            let failed_n = failed.get(n).copied().unwrap_or(0);
            let info_n = info.get(n).copied().unwrap_or(0).min(failed_n);
            i.operations
                .get_or_create(&c.outcome(&node, "ok"))
                .inc_by(ok_n);
            i.operations
                .get_or_create(&c.outcome(&node, "fail"))
                .inc_by(failed_n - info_n);
            i.operations
                .get_or_create(&c.outcome(&node, "info"))
                .inc_by(info_n);
            if ok_n > 0 {
                c.last_ok[n] = sec;
            }
            i.window
                .get_or_create(&c.node(&node))
                .set(sec.saturating_sub(c.last_ok[n]) as i64);
        }
        if ok.iter().any(|&v| v > 0) {
            c.last_any_ok = sec;
        }
        i.cluster_window
            .get_or_create(&c.run())
            .set(sec.saturating_sub(c.last_any_ok) as i64);
        i.second.get_or_create(&c.run()).set(sec as i64);
    }

    /// Node `n`'s latency histogram of `outcome` (`ok`, `fail`, `info`) so far: `per_bucket`
    /// counts (not cumulative) for [`LATENCY_BOUNDS_S`] then `+Inf`, with their `count` and
    /// `sum_s` in seconds.
    pub fn latency(
        &self,
        n: usize,
        outcome: &'static str,
        per_bucket: Vec<u64>,
        count: u64,
        sum_s: f64,
    ) {
        let c = self.current();
        let Some(node) = c.nodes.get(n) else {
            return;
        };
        let h = self.0.latency.get_or_create(&c.outcome(node, outcome));
        *h.0.lock().unwrap_or_else(|p| p.into_inner()) = LatencyState {
            sum_s,
            count,
            buckets: per_bucket,
        };
    }

    /// Node `n`'s late operations so far (the open loop's; a counter, so only a rise is added).
    pub fn late(&self, n: usize, total: u64) {
        let c = self.current();
        let Some(node) = c.nodes.get(n) else {
            return;
        };
        let counter = self.0.late.get_or_create(&c.node(node));
        let now = counter.get();
        if total > now {
            counter.inc_by(total - now);
        }
    }

    /// Node `n`'s anomalies so far: `kind` (`lost`, `stale`, `reverted`, `impossible`) is at
    /// `value`.
    pub fn anomalies(&self, n: usize, kind: &'static str, value: u64) {
        let c = self.current();
        let Some(node) = c.nodes.get(n) else {
            return;
        };
        self.0
            .anomalies
            .get_or_create(&c.kind(node, kind))
            .set(value as i64);
    }

    fn set_fault(&self, c: &mut Current, kind: &str, target: &str, on: bool) {
        c.faults.insert((kind.to_string(), target.to_string()), on);
        self.0
            .faults
            .get_or_create(&c.fault(kind, target))
            .set(i64::from(on));
    }

    /// A scenario step fired: fault `kind` (as written: `kill`, `isolate`, `start`, `heal`) on
    /// `nodes`. A fault is in force on each node from now; an undo (`start`, `resume`,
    /// `connect`, `heal`) ends what it undoes on its nodes (`heal`: on every node). One-shot
    /// actions (`corrupt`) are counted as steps only.
    pub fn step(&self, kind: &str, nodes: &[String]) {
        let mut c = self.current();
        c.steps += 1;
        self.0.step.get_or_create(&c.run()).set(c.steps);
        if is_undo(kind) {
            let ended: Vec<(String, String)> = c
                .faults
                .iter()
                .filter(|((k, t), on)| {
                    **on && undoes(kind, k) && (kind == "heal" || nodes.contains(t))
                })
                .map(|(key, _)| key.clone())
                .collect();
            for (k, t) in ended {
                self.set_fault(&mut c, &k, &t, false);
            }
        } else if kind != "corrupt" {
            for node in nodes {
                self.set_fault(&mut c, kind, node, true);
            }
        }
    }

    /// Every fault still in force was undone (the end of a run).
    pub fn restored(&self) {
        let mut c = self.current();
        let on: Vec<(String, String)> = c
            .faults
            .iter()
            .filter(|(_, on)| **on)
            .map(|(k, _)| k.clone())
            .collect();
        for (k, t) in on {
            self.set_fault(&mut c, &k, &t, false);
        }
    }

    /// The faults in force now, as read from the lab (`perseus load`, where faults come from
    /// other commands): `(kind, target)`; the ones no longer listed go to 0.
    pub fn faults_in_force(&self, now: &[(String, String)]) {
        let mut c = self.current();
        let known: Vec<(String, String)> = c.faults.keys().cloned().collect();
        for (k, t) in known {
            if !now.contains(&(k.clone(), t.clone())) {
                self.set_fault(&mut c, &k, &t, false);
            }
        }
        for (k, t) in now {
            self.set_fault(&mut c, k, t, true);
        }
    }

    /// The series now, in the OpenMetrics text format (ending with `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.0.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    }

    #[test]
    fn a_run_counts_outcomes_windows_and_latency_per_node() {
        let m = Metrics::new();
        m.begin_run("r1", "etcd", &["n1".into(), "n2".into()]);
        m.second(1, &[10, 5], &[0, 2], &[0, 1]);
        m.second(2, &[12, 0], &[0, 3], &[0, 0]);
        m.second(3, &[11, 0], &[1, 3], &[1, 0]);
        m.latency(
            0,
            "ok",
            vec![0, 3, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            33,
            0.05,
        );
        m.latency(
            0,
            "info",
            vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
            1,
            1.0,
        );
        m.late(1, 40);
        m.late(1, 30);
        m.late(1, 45);
        m.anomalies(1, "stale", 2);
        let t = m.encode();
        let l = r#"{run="r1",system="etcd",node="n1""#;
        assert_eq!(
            value(&t, &format!("perseus_operations_total{l},outcome=\"ok\"}}")),
            Some(33.0),
            "{t}"
        );
        assert_eq!(
            value(
                &t,
                &format!("perseus_operations_total{l},outcome=\"info\"}}")
            ),
            Some(1.0)
        );
        let l2 = r#"{run="r1",system="etcd",node="n2""#;
        assert_eq!(
            value(
                &t,
                &format!("perseus_operations_total{l2},outcome=\"fail\"}}")
            ),
            Some(7.0)
        );
        assert_eq!(
            value(
                &t,
                &format!("perseus_operations_total{l2},outcome=\"info\"}}")
            ),
            Some(1.0)
        );
        // n2 last served in second 1: two whole seconds without a success.
        assert_eq!(
            value(&t, &format!("perseus_unavailability_window_seconds{l2}}}")),
            Some(2.0)
        );
        assert_eq!(
            value(&t, &format!("perseus_unavailability_window_seconds{l}}}")),
            Some(0.0)
        );
        assert_eq!(
            value(
                &t,
                r#"perseus_cluster_unavailability_window_seconds{run="r1",system="etcd"}"#
            ),
            Some(0.0)
        );
        // Cumulative buckets: 3 at 1 ms, 33 at 2 ms and above.
        assert_eq!(
            value(
                &t,
                &format!(
                    "perseus_latency_seconds_bucket{{le=\"0.001\",{},outcome=\"ok\"}}",
                    &l[1..]
                )
            ),
            Some(3.0),
            "{t}"
        );
        assert_eq!(
            value(
                &t,
                &format!(
                    "perseus_latency_seconds_bucket{{le=\"0.002\",{},outcome=\"ok\"}}",
                    &l[1..]
                )
            ),
            Some(33.0)
        );
        assert_eq!(
            value(
                &t,
                &format!(
                    "perseus_latency_seconds_bucket{{le=\"+Inf\",{},outcome=\"ok\"}}",
                    &l[1..]
                )
            ),
            Some(33.0)
        );
        assert_eq!(
            value(
                &t,
                &format!("perseus_latency_seconds_count{l},outcome=\"ok\"}}")
            ),
            Some(33.0)
        );
        // The outcomes' histograms apart: one info at 1 s, none failed.
        assert_eq!(
            value(
                &t,
                &format!("perseus_latency_seconds_count{l},outcome=\"info\"}}")
            ),
            Some(1.0)
        );
        assert_eq!(
            value(
                &t,
                &format!("perseus_latency_seconds_count{l},outcome=\"fail\"}}")
            ),
            Some(0.0)
        );
        // The late count follows the loop's total, never down.
        assert_eq!(
            value(&t, &format!("perseus_late_operations_total{l2}}}")),
            Some(45.0)
        );
        assert_eq!(
            value(&t, &format!("perseus_anomalies{l2},kind=\"stale\"}}")),
            Some(2.0)
        );
        assert!(t.ends_with("# EOF\n"));
        // A new run starts from nothing, under its own label.
        m.begin_run("r2", "etcd", &["n1".into()]);
        let t = m.encode();
        assert!(!t.contains("r1"), "{t}");
        assert_eq!(
            value(
                &t,
                r#"perseus_operations_total{run="r2",system="etcd",node="n1",outcome="ok"}"#
            ),
            Some(0.0)
        );
    }

    #[test]
    fn steps_put_faults_in_force_and_their_undo_ends_them() {
        let m = Metrics::new();
        m.begin_run("r", "etcd", &["n1".into(), "n2".into(), "n3".into()]);
        let active = |m: &Metrics, kind: &str, target: &str| {
            value(
                &m.encode(),
                &format!(
                    r#"perseus_fault_active{{run="r",system="etcd",kind="{kind}",target="{target}"}}"#
                ),
            )
        };
        m.step("kill", &["n1".into()]);
        m.step("pause", &["n2".into()]);
        m.step("isolate", &["n3".into()]);
        assert_eq!(active(&m, "kill", "n1"), Some(1.0));
        // Resume ends the pause only; start on another node ends nothing.
        m.step("resume", &["n2".into()]);
        m.step("start", &["n3".into()]);
        assert_eq!(active(&m, "pause", "n2"), Some(0.0));
        assert_eq!(active(&m, "kill", "n1"), Some(1.0));
        assert_eq!(active(&m, "isolate", "n3"), Some(1.0));
        // Heal ends network faults on every node, not node faults.
        m.step("heal", &[]);
        assert_eq!(active(&m, "isolate", "n3"), Some(0.0));
        assert_eq!(active(&m, "kill", "n1"), Some(1.0));
        m.step("power-loss", &["n2".into()]);
        m.restored();
        assert_eq!(active(&m, "kill", "n1"), Some(0.0));
        assert_eq!(active(&m, "power-loss", "n2"), Some(0.0));
        assert_eq!(
            value(
                &m.encode(),
                r#"perseus_scenario_step{run="r",system="etcd"}"#
            ),
            Some(7.0)
        );
        // Read from the lab: what is listed is in force, what is not any more goes to 0.
        m.faults_in_force(&[("pause".into(), "n1".into())]);
        assert_eq!(active(&m, "pause", "n1"), Some(1.0));
        m.faults_in_force(&[]);
        assert_eq!(active(&m, "pause", "n1"), Some(0.0));
    }

    #[test]
    fn every_served_name_is_listed() {
        let m = Metrics::new();
        m.begin_run("r", "etcd", &["n1".into()]);
        m.step("kill", &["n1".into()]);
        let t = m.encode();
        for name in NAMES {
            assert!(
                t.contains(&format!("# TYPE {name} ")),
                "{name} is not served:\n{t}"
            );
        }
    }

    /// Every query string in the shipped Grafana dashboard (panels, annotations, variables).
    pub(crate) fn dashboard_queries() -> Vec<String> {
        fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => {
                    for (k, v) in m {
                        match (k.as_str(), v) {
                            ("expr" | "definition", serde_json::Value::String(q)) => {
                                out.push(q.clone())
                            }
                            _ => walk(v, out),
                        }
                    }
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let d: serde_json::Value =
            serde_json::from_str(include_str!("../../docs/grafana/perseus-run.json")).unwrap();
        let mut out = Vec::new();
        walk(&d, &mut out);
        out
    }

    #[test]
    fn every_metric_the_dashboard_queries_is_served() {
        let m = Metrics::new();
        m.begin_run("r", "etcd", &["n1".into()]);
        m.step("kill", &["n1".into()]);
        let served = m.encode();
        let queries = dashboard_queries();
        assert!(queries.len() >= 10, "{queries:?}");
        let mut named = 0;
        for q in &queries {
            let mut rest = q.as_str();
            while let Some(i) = rest.find("perseus_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[i + name.len()..];
                // A histogram or counter is served under its family's name.
                let family = ["_bucket", "_total"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(&name);
                assert!(
                    served.contains(&format!("# TYPE {family} ")),
                    "the dashboard queries {name}, which Perseus does not serve ({q})"
                );
                assert!(
                    served.contains(&format!("\n{name}{{")),
                    "no series {name} ({q})"
                );
                named += 1;
            }
        }
        assert!(named >= 12, "{named}");
    }
}
