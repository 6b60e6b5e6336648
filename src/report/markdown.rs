//! `report.md`: the report for people, rendered from a run's record and its metrics alone.

use std::fmt::Write as _;

use super::record::{MetricRow, RunRecord};
use crate::load::summary::{describe, Summary};
use crate::node::NodeName;

/// `1.32 s`.
pub(super) fn secs(x: f64) -> String {
    format!("{x:.2} s")
}

/// The report for people: what ran, the faults and the windows they caused, recoveries, verdicts,
/// per-node totals, and the plot.
pub fn report_md(r: &RunRecord, rows: &[MetricRow]) -> String {
    let s = &r.scenario;
    let mut out = String::new();
    ln!(out, "# {}: {}\n", s.name, r.outcome.word());
    if let Some(d) = &s.description {
        ln!(out, "{}\n", d.trim());
    }
    ln!(
        out,
        "{} with {} nodes ({}); load {} with {}, op timeout {}; started {}.",
        s.system,
        r.nodes.len(),
        r.nodes.join(", "),
        crate::units::show(s.load.duration),
        s.load.clients(),
        crate::units::show(s.load.op_timeout),
        r.started
    );
    if let Some(seed) = s.seed {
        ln!(
            out,
            "Random choices from seed {seed} (`perseus run --seed {seed}` makes them again)."
        );
    }
    let leader = |l: &Option<NodeName>| l.as_ref().map_or_else(|| "none".into(), |n| n.to_string());
    if !r.versions.is_empty() || r.release.is_some() {
        // Each version once, with the nodes that said it: `3.5.1 (n1, n2, n3)`.
        let mut said: Vec<(&str, Vec<&str>)> = Vec::new();
        for (node, v) in &r.versions {
            match said.iter_mut().find(|(x, _)| x == v) {
                Some((_, nodes)) => nodes.push(node),
                None => said.push((v, vec![node])),
            }
        }
        let said: Vec<String> = said
            .iter()
            .map(|(v, nodes)| format!("{v} ({})", nodes.join(", ")))
            .collect();
        ln!(
            out,
            "Versions the servers reported: {}{}.",
            if said.is_empty() {
                "none".to_string()
            } else {
                said.join("; ")
            },
            r.release
                .as_ref()
                .map_or_else(String::new, |v| format!("; the lab's release: {v}"))
        );
    }
    ln!(
        out,
        "Leader before: {}; after: {}.",
        leader(&r.leader_before),
        leader(&r.leader_after)
    );
    if let Some(e) = &r.error {
        ln!(out, "\n**{}**: {e}", r.outcome.word());
    }

    ln!(out, "\n## Faults and unavailability windows\n");
    if r.steps.is_empty() {
        ln!(out, "No step fired.");
    } else {
        put!(out, "| at | fault | late | cluster window |");
        for n in &r.nodes {
            put!(out, " {n} window |");
        }
        ln!(out, " serves again |");
        put!(out, "| --- | --- | --- | --- |");
        for _ in &r.nodes {
            put!(out, " --- |");
        }
        ln!(out, " --- |");
        for (step, fx) in r.steps.iter().zip(&r.effects) {
            put!(
                out,
                "| {} | {} | {:.1} ms | {} |",
                secs(step.fired_s),
                step.label(),
                step.late_ms,
                window_cell(&fx.cluster)
            );
            for n in &fx.nodes {
                put!(out, " {} |", window_cell(&n.window));
            }
            let rec = if fx.recovery.is_empty() {
                "-".to_string()
            } else {
                fx.recovery
                    .iter()
                    .map(|x| match x.after_s {
                        Some(t) => format!("{} {}", x.node, secs(t)),
                        None => format!("{} never", x.node),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            ln!(out, " {rec} |");
        }
        ln!(
            out,
            "\nA window runs from the last success before the outage to the first after it \
             (cluster: on any node). `late` is how long after its scheduled time the step fired."
        );
    }

    serving_md(&mut out, r);
    promotions_md(&mut out, r);

    ln!(out, "\n## Expectations\n");
    if r.verdicts.is_empty() {
        ln!(out, "None.");
    } else {
        ln!(
            out,
            "| expectation | verdict | measured |\n| --- | --- | --- |"
        );
        for v in &r.verdicts {
            ln!(
                out,
                "| {} | {} | {} |",
                v.expectation,
                if v.passed { "pass" } else { "**FAIL**" },
                v.measured.replace('|', "\\|")
            );
        }
    }

    if let Some(l) = &r.load {
        ln!(out, "\n## Load\n");
        ln!(
            out,
            "{} iterations in {:.1} s{}, {} errors, {} lost writes, {} ambiguous writes; longest cluster window {}.\n",
            l.iterations,
            l.duration_s,
            if l.interrupted { " (interrupted)" } else { "" },
            l.errors,
            l.safety.lost_writes,
            l.ambiguous_writes,
            describe(&l.cluster_window)
        );
        ln!(
            out,
            "| node | iterations | rate/s | errors | lost | ambiguous | longest window |\n| --- | --- | --- | --- | --- | --- | --- |"
        );
        for n in &l.nodes {
            ln!(
                out,
                "| {} | {} | {:.1} | {} | {} | {} | {} |",
                n.node,
                n.iterations,
                n.rate_per_s,
                n.errors,
                n.safety.lost_writes,
                n.ambiguous_writes,
                describe(&n.window)
            );
        }
    }
    if let Some(l) = &r.load {
        latency_md(&mut out, l);
        safety_md(&mut out, l, r.not_ready.as_deref());
    }
    if let Some(t) = &r.transactions {
        transactions_md(&mut out, t);
    }
    if !r.restored.is_empty() {
        ln!(out, "\nRestored at the end: {}.", r.restored.join("; "));
    }
    if !r.engine_retries.is_empty() {
        ln!(
            out,
            "\nThe Docker Engine did not always answer; Perseus waited for it (`--engine-patience`):\n"
        );
        for line in &r.engine_retries {
            ln!(out, "- {line}");
        }
    }
    ln!(out, "\n![successful iterations per second](plot.svg)");
    if !rows.is_empty() {
        ln!(out, "\nPer second (`metrics.tsv`): {} lines.", rows.len());
    }
    out
}

/// The transactional workload: its outcomes and anomalies per fault window, then its
/// checker's verdict as the terminal showed it (transactions.edn holds the history).
fn transactions_md(out: &mut String, t: &crate::workload::TxnSummary) {
    ln!(
        out,
        "\n## Transactions: {} ({})\n",
        t.workload,
        t.isolation
            .map_or("the system's default isolation", |i| i.name())
    );
    if let Some(port) = t.read_port {
        ln!(
            out,
            "Read-only transactions ran at each node's port {port}, its own copy of the data (a replica's on every node but the primary's); the others through the client port.\n"
        );
    }
    ln!(
        out,
        "| window | from | to | ok | fail | info | anomalies |\n| --- | --- | --- | --- | --- | --- | --- |"
    );
    for w in &t.windows {
        let a: Vec<String> = w
            .anomalies
            .iter()
            .map(|(n, c)| format!("{n} {c}"))
            .collect();
        ln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            w.after,
            secs(w.from_s),
            secs(w.to_s),
            w.ok,
            w.fail,
            w.info,
            if a.is_empty() {
                "none".into()
            } else {
                a.join(", ")
            }
        );
    }
    ln!(out, "\n```\n{}```", t.render());
    ln!(
        out,
        "\nThe history, in Jepsen's format: `transactions.edn` (`perseus check` reads it)."
    );
}

/// Who served from each step to the next, in 100 ms slices ([`crate::load::serving`]): the 2018
/// summary's downtime, partial downtime, and the times until a majority and until every node
/// served steadily (`≥` the span less 0.9 s when not within it). Left out for a run folder without
/// them.
fn serving_md(out: &mut String, r: &RunRecord) {
    let rows: Vec<_> = r
        .steps
        .iter()
        .zip(&r.effects)
        .filter_map(|(step, fx)| fx.serving.map(|s| (step, s)))
        .collect();
    if rows.is_empty() {
        return;
    }
    let n = r.nodes.len();
    let m = n / 2 + 1;
    let minority = if m == 2 {
        format!("only 1 of {n} served")
    } else {
        format!("1 to {} of {n} served", m.saturating_sub(1))
    };
    ln!(out, "\n### Who served, in 100 ms slices\n");
    ln!(
        out,
        "| from | span | no node served | {minority} | until {m} of {n} served steadily | until all {n} served steadily |\n| --- | --- | --- | --- | --- | --- |"
    );
    for (step, s) in rows {
        let until = |t: Option<f64>| match t {
            Some(t) => format!("{t:.1} s"),
            None => format!("≥ {:.1} s", s.steady_not_before_s()),
        };
        ln!(
            out,
            "| {} {} | {:.1} s | {:.1} s | {:.1} s | {} | {} |",
            secs(step.fired_s),
            step.label(),
            s.span_s,
            s.none_s,
            s.minority_s,
            until(s.majority_steady_s),
            until(s.all_steady_s)
        );
    }
    ln!(
        out,
        "\nEach span, from a step to the next (or to the end of the load), is cut into 100 ms slices; \
         a node served in a slice when one of its iterations succeeded in it, and steadily when it \
         served in each slice of a full second; `≥`: no steady second began before the span's last \
         0.9 s. After a fault these are the downtime, the partial \
         downtime and the disturbance time of the 2018 Perseus summary; after a restore, the \
         downtime and partial downtime on recovery, and the recovery time."
    );
}

/// Latency per node and outcome over the run ([`super::latency_section`]), the open loop's
/// schedule when there was one, and the slowest seconds (the ten whose highest `ok` p99 on any
/// node is the highest, in time order, with every node's p50 and p99); all seconds are in
/// `summary.json` and drawn in `latency-quantiles.svg`, the sampled operations in
/// `latency-raw.svg` (both linked as images).
fn latency_md(out: &mut String, l: &Summary) {
    let Some(sec) = super::latency_section(l) else {
        return;
    };
    ln!(out, "\n## Latency\n");
    ln!(out, "{}\n", sec.intro);
    md_table(out, &sec.head, &sec.rows);
    if let Some((line, head, rows)) = &sec.open {
        ln!(out, "\n{line}.\n");
        md_table(out, head, rows);
    }
    // `render` draws both whenever there is this section.
    ln!(
        out,
        "\n![latency quantiles](latency-quantiles.svg)\n\n\
         ![latency of every sampled operation](latency-raw.svg)"
    );
    // The slowest seconds, by their highest p99 on any node, in time order.
    let mut worst: Vec<(u64, f64)> = Vec::new();
    for n in &l.latency {
        for s in &n.ok.seconds {
            match worst.iter_mut().find(|w| w.0 == s.sec) {
                Some(w) => w.1 = w.1.max(s.p99_ms),
                None => worst.push((s.sec, s.p99_ms)),
            }
        }
    }
    worst.sort_by(|a, b| b.1.total_cmp(&a.1));
    worst.truncate(10);
    worst.sort_by_key(|w| w.0);
    if worst.is_empty() {
        return;
    }
    put!(
        out,
        "\nThe slowest seconds (p50 / p99 per node, ms):\n\n| second |"
    );
    for n in &l.latency {
        put!(out, " {} |", n.node);
    }
    put!(out, "\n| --- |");
    for _ in &l.latency {
        put!(out, " --- |");
    }
    ln!(out, "");
    for (sec, _) in worst {
        put!(out, "| {sec} |");
        for n in &l.latency {
            match n.ok.seconds.iter().find(|s| s.sec == sec) {
                Some(s) => put!(out, " {:.2} / {:.2} |", s.p50_ms, s.p99_ms),
                None => put!(out, " - |"),
            }
        }
        ln!(out, "");
    }
}

/// A markdown table of plain-text cells (`|` escaped).
fn md_table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    ln!(out, "| {} |", head.join(" | "));
    ln!(out, "|{}", " --- |".repeat(head.len()));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
        ln!(out, "| {} |", cells.join(" | "));
    }
}

/// The promotions the system logged, each beside the step before it and the cluster window that
/// step opened: how much of the window the system's own failover explains.
fn promotions_md(out: &mut String, r: &RunRecord) {
    let Some(first) = r.promotions.first() else {
        return;
    };
    let mut sources: Vec<&str> = r.promotions.iter().map(|p| p.source.as_str()).collect();
    sources.dedup();
    ln!(
        out,
        "\n### Failover, as {} logged it\n",
        sources.join(" and ")
    );
    ln!(
        out,
        "| at | promoted | after the step | that step's cluster window | logged |\n| --- | --- | --- | --- | --- |"
    );
    for p in &r.promotions {
        let step = r
            .steps
            .iter()
            .zip(&r.effects)
            .rfind(|(s, _)| s.fired_s <= p.t_s);
        let (after, window) = match step {
            None => ("-".to_string(), "-".to_string()),
            Some((s, fx)) => {
                let w = &fx.cluster;
                let window = if w.length_s < 0.1 {
                    "none".to_string()
                } else if w.open {
                    format!("{} to the end (open)", secs(w.start_s))
                } else {
                    let gap = w.end_s - p.t_s;
                    format!(
                        "{} to {}: served again {} {} the promotion",
                        secs(w.start_s),
                        secs(w.end_s),
                        secs(gap.abs()),
                        if gap >= 0.0 { "after" } else { "before" }
                    )
                };
                (
                    format!("{} after {}", secs(p.t_s - s.fired_s), s.label()),
                    window,
                )
            }
        };
        ln!(
            out,
            "| {} | {} | {after} | {window} | `{}` |",
            secs(p.t_s),
            p.node,
            p.line.replace('|', "\\|")
        );
    }
    ln!(
        out,
        "\nThe time is the Docker Engine's stamp on the first node's log line that says so ({} here), on the run's clock.",
        first.source
    );
}

/// A window's length, `(open)` when it lasted to the end.
pub(super) fn window_cell(w: &crate::load::measure::Window) -> String {
    if w.open {
        format!("{} (open)", secs(w.length_s))
    } else {
        secs(w.length_s)
    }
}

/// The safety section: what the loop's check found, per node, with the anomalies listed, how the
/// writes were made, the final read (and whether the lab was ready for it), the unverified keys,
/// the history file and what its check found.
fn safety_md(out: &mut String, l: &Summary, not_ready: Option<&str>) {
    ln!(out, "\n## Safety\n");
    ln!(out, "{}.\n", l.safety_line().trim_start_matches("safety: "));
    if let Some(why) = not_ready {
        ln!(
            out,
            "**The lab was not ready when the final reads were made** ({}); they were made anyway, and a key they could not settle is unverified.\n",
            why.trim_start_matches("after restoring, the lab is not ready: ")
        );
    }
    ln!(
        out,
        "| node | lost writes | stale reads | reverted reads | impossible reads | failed writes | unknown writes | unverified keys |\n| --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for n in &l.nodes {
        ln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            n.node,
            n.safety.lost_writes,
            n.safety.stale_reads,
            n.safety.reverted_reads,
            n.safety.impossible_reads,
            n.failed_writes,
            n.ambiguous_writes,
            n.unverified_keys
        );
    }
    ln!(
        out,
        "\nA lost write is an acknowledged increment missing from what the key holds, confirmed \
         (by a compare-and-set from a lower value, or by the final read); a stale read is below \
         the last acknowledged value but not confirmed; a reverted read is of a value the key no \
         longer held (below one already read, or a copy from before a loss); an impossible read \
         is above anything that could have been written. Unknown writes (Jepsen's `info`) may or \
         may not have been applied; failed ones (`fail`) were not. An unverified key has no \
         verdict (its final reads did not settle, or the history check could not decide it): it \
         is not a pass."
    );
    if !l.anomalies.is_empty() {
        ln!(
            out,
            "\n| kind | key | node | at | expected | got | count |\n| --- | --- | --- | --- | --- | --- | --- |"
        );
        for a in l.anomalies.iter().take(50) {
            ln!(
                out,
                "| {}{} | `{}` | {} | {} | {} | {} | {} |",
                a.kind.name(),
                if a.final_read { " (final read)" } else { "" },
                a.key,
                a.node,
                secs(a.at_s),
                a.expected,
                a.got,
                a.count
            );
        }
        if l.anomalies.len() > 50 {
            ln!(
                out,
                "\n{} more in `summary.json` (`load.anomalies`).",
                l.anomalies.len() - 50
            );
        }
    }
    for k in l.keys.iter().filter(|k| k.unverified.is_some()) {
        ln!(
            out,
            "\nUnverified: `{}` on {}: {}.",
            k.key,
            k.node,
            k.unverified.as_deref().unwrap_or_default()
        );
    }
    match &l.history {
        Some(h) => {
            ln!(
                out,
                "\nHistory: `history.edn`, {} operations in Jepsen's format: one compare-and-set \
                 register per key, initial value 0 (`perseus check history.edn` checks it again){}.",
                h.ops,
                match (h.truncated_at_s, h.why_cut()) {
                    (Some(t), Some(why)) => format!(
                        "; **{why} at {}**: what came after is not in it, and no check of it is complete",
                        secs(t)
                    ),
                    _ => String::new(),
                }
            );
        }
        None => ln!(out, "\nNo history was written."),
    }
    if let Some(c) = &l.history_check {
        ln!(out, "\n{}.", upper_first(&c.describe()));
        for v in &c.violations {
            ln!(
                out,
                "\n`{}`: {} operations no order explains:\n",
                v.key,
                v.violations
            );
            for line in &v.explanation {
                ln!(out, "    {line}");
            }
        }
        for d in &c.disagreements {
            ln!(out, "\n**Disagreement**: {d}.");
        }
    }
}

/// `text` with its first letter in upper case.
pub(super) fn upper_first(text: &str) -> String {
    let mut c = text.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::fixture::{promotion, record};
    use super::super::record::Outcome;
    use super::*;

    #[test]
    fn promotions_stand_beside_the_step_and_the_window_it_opened() {
        let mut r = record(Outcome::Passed);
        assert!(!report_md(&r, &[]).contains("Failover"));
        r.promotions.push(promotion());
        let md = report_md(&r, &[]);
        assert!(md.contains("### Failover, as Patroni logged it"), "{md}");
        assert!(
            md.contains("| 6.00 s | n1 | 1.00 s after kill n2 (leader) | 4.99 s to 6.31 s: served again 0.31 s after the promotion | `promoted self to leader by acquiring session lock` |"),
            "{md}"
        );
        // The record keeps them in summary.json, and leaves the field out when there are none.
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["promotions"][0]["node"], "n1");
        let none = serde_json::to_value(record(Outcome::Passed)).unwrap();
        assert!(none.get("promotions").is_none());
    }

    #[test]
    fn the_report_has_the_fault_table_and_a_verdict_per_expectation() {
        let md = report_md(&record(Outcome::Failed), &[]);
        assert!(md.starts_with("# t: FAILED\n"), "{md}");
        assert!(md.contains("| at | fault | late | cluster window | n1 window | n2 window | n3 window | serves again |"), "{md}");
        assert!(
            md.contains("| 5.00 s | kill n2 (leader) | 3.0 ms | 1.32 s |"),
            "{md}"
        );
        assert!(md.contains("| 12.00 s | start n2 (crash) | 3.0 ms | 0.01 s | 0.01 s | 0.01 s | 0.01 s | n2 1.25 s |"), "{md}");
        assert!(md.contains("| cluster unavailability window after crash is at most 1s | **FAIL** | cluster: 1.32 s"), "{md}");
        assert!(
            md.contains("| at most 0 lost writes | pass | 0 lost writes |"),
            "{md}"
        );
        assert!(md.contains("Leader before: n2; after: n1."), "{md}");
        assert!(md.contains("| from | span | no node served | only 1 of 3 served | until 2 of 3 served steadily | until all 3 served steadily |"), "{md}");
        assert!(
            md.contains(
                "| 5.00 s kill n2 (leader) | 7.0 s | 1.3 s | 0.0 s | 1.4 s | ≥ 6.1 s |\n\n"
            ),
            "the step without a measure has no row: {md}"
        );
    }
}
