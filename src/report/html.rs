//! `report.html`: the report for people in one self-contained page, rendered from the same record
//! and metrics as `report.md` (not from the Markdown). The plot is inlined as SVG, the style sheet
//! is inline, there is no script and no font or image from elsewhere: the only links are relative
//! ones to the run's own files, so the page opens the same from a laptop, a CI artifact or a
//! machine without a network. Every string from the data (node names, keys, error texts, a
//! promotion's log line, a checker's explanation) is escaped with [`escape`], and the page's own
//! Content Security Policy ([`POLICY`]) forbids scripts and every fetch, so a browser would refuse
//! them even if one slipped in.

use std::fmt::Write as _;

use super::markdown::{secs, upper_first, window_cell};
use super::record::{MetricRow, RunRecord};
use crate::load::summary::{describe, describe_anomaly, Summary};

/// `text` escaped for HTML text and for attribute values in double or single quotes: `&`, `<`,
/// `>`, `"` and `'` become character references.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text already escaped, with each pair of backticks made a `<code>` span (for the fixed prose
/// the Markdown writes with backticks).
pub fn code_spans(escaped: &str) -> String {
    let mut out = String::with_capacity(escaped.len());
    for (i, part) in escaped.split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// The inline style sheet every Perseus page carries.
const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:1.5em auto;max-width:1100px;padding:0 1em;color:#1b1b1b;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#116b1a;font-weight:600}.fail{color:#b00020;font-weight:700}
.verdict{display:inline-block;padding:.1em .6em;border-radius:.3em;color:#fff}
.verdict.pass{background:#116b1a}.verdict.fail{background:#b00020}
dl.figures{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;background:#f7f7f7;padding:.8em 1em;border-radius:.4em}
dl.figures dt{font-weight:600}dl.figures dd{margin:0}
pre{background:#f7f7f7;padding:.6em;overflow-x:auto}code{font-size:.95em}
.plot svg{max-width:100%;height:auto}p.note{color:#555;font-size:.92em}
";

/// What every Perseus page allows itself, as its Content Security Policy: nothing from anywhere
/// (no script, no font, no image, no connection; the plot is inline SVG) but its own inline style.
/// A link to a file of the run is a navigation, which this does not stop.
pub const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// A whole page: the doctype, the [`POLICY`], the inline style, `title` and `body` (already
/// HTML).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{POLICY}\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

/// A table: `head` as plain text (escaped here), `rows` as HTML cells (escaped by the caller).
/// A cell that starts with a digit is right-aligned.
pub fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    out.push_str("<table>\n<thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for c in row {
            if c.starts_with(|ch: char| ch.is_ascii_digit()) {
                let _ = write!(out, "<td class=\"num\">{c}</td>");
            } else {
                let _ = write!(out, "<td>{c}</td>");
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// `plot.svg` as it goes inline: without the XML prologue or the namespace attribute, which an
/// SVG element inside HTML does not need.
fn inline_svg(svg: &str) -> String {
    let svg = match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    };
    svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

/// `name` as a link when it is among `files` (the run folder's), else as code: a page never
/// links a file that is not there.
fn file(files: &[&str], name: &str) -> String {
    if files.contains(&name) {
        format!("<a href=\"{0}\">{0}</a>", escape(name))
    } else {
        format!("<code>{}</code>", escape(name))
    }
}

/// The files of a run folder the page links to, in this order, when they are there.
pub const RUN_FILES: [&str; 12] = [
    "report.md",
    "plot.svg",
    "latency-quantiles.svg",
    "latency-raw.svg",
    "summary.json",
    "metrics.tsv",
    "latency.tsv",
    "events.jsonl",
    "history.edn",
    "transactions.edn",
    "scenario.yaml",
    "junit.xml",
];

/// `report.html`: what ran, the key figures, the plot (inline SVG), the faults with the windows
/// they caused and their log, who served, failover, the verdicts, the load per node, latency
/// with `latency_svgs` (each a file name and its SVG, inlined as the plot is), safety with every
/// listed anomaly and its evidence, the transactions, and links to `files` (names in the run
/// folder).
pub fn report_html(
    r: &RunRecord,
    rows: &[MetricRow],
    svg: &str,
    latency_svgs: &[(&str, String)],
    files: &[&str],
) -> String {
    let s = &r.scenario;
    let e = escape;
    let mut out = String::new();
    let verdict = |passed: bool, word: &str| {
        format!(
            "<span class=\"verdict {}\">{}</span>",
            if passed { "pass" } else { "fail" },
            e(word)
        )
    };
    let passed = r.outcome == super::Outcome::Passed;
    ln!(
        out,
        "<h1>{}: {}</h1>",
        e(&s.name),
        verdict(passed, r.outcome.word())
    );
    if let Some(d) = &s.description {
        ln!(out, "<p>{}</p>", e(d.trim()));
    }
    ln!(
        out,
        "<p>{} with {} nodes ({}); load {} with {}, op timeout {}; started {}.",
        e(&s.system),
        r.nodes.len(),
        e(&r.nodes.join(", ")),
        e(&crate::units::show(s.load.duration)),
        e(&s.load.clients()),
        e(&crate::units::show(s.load.op_timeout)),
        e(&r.started)
    );
    if let Some(seed) = s.seed {
        put!(
            out,
            " Random choices from seed {seed} (<code>perseus run --seed {seed}</code> makes them again)."
        );
    }
    let leader = |l: &Option<crate::node::NodeName>| {
        l.as_ref().map_or_else(|| "none".into(), |n| n.to_string())
    };
    if !r.versions.is_empty() || r.release.is_some() {
        let said: Vec<String> = r
            .versions
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect();
        put!(
            out,
            " Versions the servers reported: {}{}.",
            e(&if said.is_empty() {
                "none".to_string()
            } else {
                said.join(", ")
            }),
            r.release
                .as_ref()
                .map_or_else(String::new, |v| format!("; the lab's release: {}", e(v)))
        );
    }
    ln!(
        out,
        " Leader before: {}; after: {}.</p>",
        e(&leader(&r.leader_before)),
        e(&leader(&r.leader_after))
    );
    if let Some(err) = &r.error {
        ln!(
            out,
            "<p class=\"fail\">{}: {}</p>",
            e(r.outcome.word()),
            e(err)
        );
    }

    figures_html(&mut out, r);

    ln!(out, "<h2 id=\"plot\">Plot</h2>");
    ln!(
        out,
        "<div class=\"plot\" role=\"img\" aria-label=\"successful iterations per second\">\n{}</div>",
        inline_svg(svg)
    );
    if !rows.is_empty() {
        ln!(
            out,
            "<p class=\"note\">Per second: {}, {} lines.</p>",
            file(files, "metrics.tsv"),
            rows.len()
        );
    }

    faults_html(&mut out, r, files);
    serving_html(&mut out, r);
    promotions_html(&mut out, r);

    ln!(out, "<h2 id=\"expectations\">Expectations</h2>");
    if r.verdicts.is_empty() {
        ln!(out, "<p>None.</p>");
    } else {
        let rows: Vec<Vec<String>> = r
            .verdicts
            .iter()
            .map(|v| {
                vec![
                    e(&v.expectation),
                    verdict(v.passed, if v.passed { "pass" } else { "FAIL" }),
                    e(&v.measured),
                ]
            })
            .collect();
        table(&mut out, &["expectation", "verdict", "measured"], &rows);
    }

    if let Some(l) = &r.load {
        load_html(&mut out, l);
        latency_html(&mut out, l, latency_svgs, files);
        safety_html(&mut out, l, r.not_ready.as_deref(), files);
    }
    if let Some(t) = &r.transactions {
        transactions_html(&mut out, t, files);
    }
    if !r.restored.is_empty() {
        ln!(
            out,
            "<p>Restored at the end: {}.</p>",
            e(&r.restored.join("; "))
        );
    }
    if !r.engine_retries.is_empty() {
        ln!(
            out,
            "<p>The Docker Engine did not always answer; Perseus waited for it (<code>--engine-patience</code>):</p>\n<ul>"
        );
        for line in &r.engine_retries {
            ln!(out, "<li>{}</li>", e(line));
        }
        ln!(out, "</ul>");
    }

    ln!(out, "<h2 id=\"files\">Files of this run</h2>\n<ul>");
    for f in files {
        ln!(out, "<li>{}</li>", file(files, f));
    }
    ln!(out, "</ul>");
    page(&format!("{}: {}", s.name, r.outcome.word()), &out)
}

/// The figures a reader looks for first: the verdict, the longest cluster-wide window, each
/// fault's window, and the load's totals.
fn figures_html(out: &mut String, r: &RunRecord) {
    let e = escape;
    ln!(
        out,
        "<h2 id=\"figures\">Key figures</h2>\n<dl class=\"figures\">"
    );
    let held = r.verdicts.iter().filter(|v| v.passed).count();
    ln!(
        out,
        "<dt>verdict</dt><dd class=\"{}\">{}: {held} of {} expectations held</dd>",
        if r.outcome == super::Outcome::Passed {
            "pass"
        } else {
            "fail"
        },
        e(r.outcome.word()),
        r.verdicts.len()
    );
    if let Some(l) = &r.load {
        ln!(
            out,
            "<dt>longest cluster unavailability window</dt><dd>{}</dd>",
            e(&describe(&l.cluster_window))
        );
    }
    for (step, fx) in r.steps.iter().zip(&r.effects) {
        ln!(
            out,
            "<dt>window after {} at {}</dt><dd>{}</dd>",
            e(&step.label()),
            secs(step.fired_s),
            e(&window_cell(&fx.cluster))
        );
    }
    if let Some(l) = &r.load {
        ln!(
            out,
            "<dt>iterations</dt><dd>{} in {:.1} s{}, {} errors</dd>",
            l.iterations,
            l.duration_s,
            if l.interrupted { " (interrupted)" } else { "" },
            l.errors
        );
        ln!(
            out,
            "<dt>safety</dt><dd>{}</dd>",
            e(l.safety_line().trim_start_matches("safety: "))
        );
    }
    ln!(out, "</dl>");
}

/// The faults with the windows they caused, and their log as they fired.
fn faults_html(out: &mut String, r: &RunRecord, files: &[&str]) {
    let e = escape;
    ln!(
        out,
        "<h2 id=\"faults\">Faults and unavailability windows</h2>"
    );
    if r.steps.is_empty() {
        ln!(out, "<p>No step fired.</p>");
        return;
    }
    let mut head: Vec<String> = vec![
        "at".into(),
        "fault".into(),
        "late".into(),
        "cluster window".into(),
    ];
    head.extend(r.nodes.iter().map(|n| format!("{n} window")));
    head.push("serves again".into());
    let rows: Vec<Vec<String>> = r
        .steps
        .iter()
        .zip(&r.effects)
        .map(|(step, fx)| {
            let mut row = vec![
                secs(step.fired_s),
                e(&step.label()),
                format!("{:.1} ms", step.late_ms),
                e(&window_cell(&fx.cluster)),
            ];
            row.extend(fx.nodes.iter().map(|n| e(&window_cell(&n.window))));
            row.push(if fx.recovery.is_empty() {
                "-".into()
            } else {
                e(&fx
                    .recovery
                    .iter()
                    .map(|x| match x.after_s {
                        Some(t) => format!("{} {}", x.node, secs(t)),
                        None => format!("{} never", x.node),
                    })
                    .collect::<Vec<_>>()
                    .join(", "))
            });
            row
        })
        .collect();
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    table(out, &head, &rows);
    ln!(
        out,
        "<p class=\"note\">A window runs from the last success before the outage to the first after \
         it (cluster: on any node). <code>late</code> is how long after its scheduled time the step \
         fired.</p>"
    );
    ln!(out, "<h3 id=\"fault-log\">Fault log</h3>\n<pre>");
    for step in &r.steps {
        ln!(out, "{}", e(&step.line()));
    }
    ln!(
        out,
        "</pre>\n<p class=\"note\">Every event of the run, as it happened: {}.</p>",
        file(files, "events.jsonl")
    );
}

/// Who served from each step to the next, in 100 ms slices (as in `report.md`).
fn serving_html(out: &mut String, r: &RunRecord) {
    let found: Vec<_> = r
        .steps
        .iter()
        .zip(&r.effects)
        .filter_map(|(step, fx)| fx.serving.map(|s| (step, s)))
        .collect();
    if found.is_empty() {
        return;
    }
    let n = r.nodes.len();
    let m = n / 2 + 1;
    let minority = if m == 2 {
        format!("only 1 of {n} served")
    } else {
        format!("1 to {} of {n} served", m.saturating_sub(1))
    };
    let majority = format!("until {m} of {n} served steadily");
    let all = format!("until all {n} served steadily");
    ln!(out, "<h3 id=\"serving\">Who served, in 100 ms slices</h3>");
    let rows: Vec<Vec<String>> = found
        .iter()
        .map(|(step, s)| {
            let until = |t: Option<f64>| match t {
                Some(t) => format!("{t:.1} s"),
                None => format!("≥ {:.1} s", s.steady_not_before_s()),
            };
            vec![
                format!("{} {}", secs(step.fired_s), escape(&step.label())),
                format!("{:.1} s", s.span_s),
                format!("{:.1} s", s.none_s),
                format!("{:.1} s", s.minority_s),
                until(s.majority_steady_s),
                until(s.all_steady_s),
            ]
        })
        .collect();
    table(
        out,
        &["from", "span", "no node served", &minority, &majority, &all],
        &rows,
    );
}

/// The promotions the system logged, beside the step before each.
fn promotions_html(out: &mut String, r: &RunRecord) {
    let Some(first) = r.promotions.first() else {
        return;
    };
    let e = escape;
    ln!(
        out,
        "<h3 id=\"failover\">Failover, as {} logged it</h3>",
        e(&first.source)
    );
    let rows: Vec<Vec<String>> = r
        .promotions
        .iter()
        .map(|p| {
            let after = r.steps.iter().rfind(|s| s.fired_s <= p.t_s).map_or_else(
                || "-".to_string(),
                |s| format!("{} after {}", secs(p.t_s - s.fired_s), s.label()),
            );
            vec![
                secs(p.t_s),
                e(&p.node),
                e(&after),
                format!("<code>{}</code>", e(&p.line)),
            ]
        })
        .collect();
    table(out, &["at", "promoted", "after the step", "logged"], &rows);
}

/// The load's totals and each node's counts.
fn load_html(out: &mut String, l: &Summary) {
    let e = escape;
    ln!(out, "<h2 id=\"load\">Load</h2>");
    ln!(
        out,
        "<p>{} iterations in {:.1} s{}, {} errors, {} lost writes, {} ambiguous writes; longest cluster window {}.</p>",
        l.iterations,
        l.duration_s,
        if l.interrupted { " (interrupted)" } else { "" },
        l.errors,
        l.safety.lost_writes,
        l.ambiguous_writes,
        e(&describe(&l.cluster_window))
    );
    let rows: Vec<Vec<String>> = l
        .nodes
        .iter()
        .map(|n| {
            vec![
                e(&n.node),
                n.iterations.to_string(),
                format!("{:.1}", n.rate_per_s),
                n.errors.to_string(),
                n.safety.lost_writes.to_string(),
                n.ambiguous_writes.to_string(),
                e(&describe(&n.window)),
            ]
        })
        .collect();
    table(
        out,
        &[
            "node",
            "iterations",
            "rate/s",
            "errors",
            "lost",
            "ambiguous",
            "longest window",
        ],
        &rows,
    );
    if !l.cluster_outages.is_empty() {
        let outages: Vec<String> = l.cluster_outages.iter().map(describe).collect();
        ln!(
            out,
            "<p>Cluster-wide outages of at least 0.5 s: {}.</p>",
            e(&outages.join("; "))
        );
    }
}

/// Latency per node and outcome over the run, the open loop's schedule when there was one
/// ([`super::latency_section`]; every second's is in `summary.json`), and the latency plots
/// (`plots`: file name and SVG), inline like the plot: the page stays one file that fetches
/// nothing, which its policy (`default-src 'none'`, no `img-src 'self'`) would refuse anyway.
fn latency_html(out: &mut String, l: &Summary, plots: &[(&str, String)], files: &[&str]) {
    let Some(sec) = super::latency_section(l) else {
        return;
    };
    let cells = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| r.iter().map(|c| escape(c)).collect())
            .collect()
    };
    ln!(out, "<h2 id=\"latency\">Latency</h2>");
    ln!(out, "<p class=\"note\">{}</p>", escape(&sec.intro));
    table(out, &sec.head, &cells(&sec.rows));
    if let Some((line, head, rows)) = &sec.open {
        ln!(out, "<p>{}.</p>", escape(line));
        table(out, head, &cells(rows));
    }
    for (name, svg) in plots {
        let what = if name.contains("raw") {
            "every sampled operation's latency, by outcome, per node"
        } else {
            "latency quantiles per second, per node"
        };
        ln!(
            out,
            "<div class=\"plot\" role=\"img\" aria-label=\"{what}\">\n{}</div>\n<p class=\"note\">{}: {what}.</p>",
            inline_svg(svg),
            file(files, name)
        );
    }
}

/// Safety: the counts per node, every listed anomaly with its evidence (what was read, what was
/// expected, in words), the unverified keys, the history and its check's explanations.
fn safety_html(out: &mut String, l: &Summary, not_ready: Option<&str>, files: &[&str]) {
    let e = escape;
    ln!(out, "<h2 id=\"safety\">Safety</h2>");
    ln!(
        out,
        "<p>{}.</p>",
        e(upper_first(l.safety_line().trim_start_matches("safety: ")).as_str())
    );
    if let Some(why) = not_ready {
        ln!(
            out,
            "<p class=\"fail\">The lab was not ready when the final reads were made ({}); they were made anyway, and a key they could not settle is unverified.</p>",
            e(why.trim_start_matches("after restoring, the lab is not ready: "))
        );
    }
    let rows: Vec<Vec<String>> = l
        .nodes
        .iter()
        .map(|n| {
            vec![
                e(&n.node),
                n.safety.lost_writes.to_string(),
                n.safety.stale_reads.to_string(),
                n.safety.reverted_reads.to_string(),
                n.safety.impossible_reads.to_string(),
                n.failed_writes.to_string(),
                n.ambiguous_writes.to_string(),
                n.unverified_keys.to_string(),
            ]
        })
        .collect();
    table(
        out,
        &[
            "node",
            "lost writes",
            "stale reads",
            "reverted reads",
            "impossible reads",
            "failed writes",
            "unknown writes",
            "unverified keys",
        ],
        &rows,
    );
    if !l.anomalies.is_empty() {
        ln!(
            out,
            "<h3 id=\"anomalies\">Anomalies and their evidence</h3>"
        );
        let rows: Vec<Vec<String>> = l
            .anomalies
            .iter()
            .take(50)
            .map(|a| {
                vec![
                    format!(
                        "{}{}",
                        a.kind.name(),
                        if a.final_read { " (final read)" } else { "" }
                    ),
                    format!("<code>{}</code>", e(&a.key)),
                    e(&a.node),
                    secs(a.at_s),
                    a.expected.to_string(),
                    a.got.to_string(),
                    a.count.to_string(),
                    e(&describe_anomaly(a)),
                ]
            })
            .collect();
        table(
            out,
            &[
                "kind", "key", "node", "at", "expected", "got", "count", "evidence",
            ],
            &rows,
        );
        if l.anomalies.len() > 50 {
            ln!(
                out,
                "<p>{} more in {} (<code>load.anomalies</code>).</p>",
                l.anomalies.len() - 50,
                file(files, "summary.json")
            );
        }
    }
    for k in l.keys.iter().filter(|k| k.unverified.is_some()) {
        ln!(
            out,
            "<p>Unverified: <code>{}</code> on {}: {}.</p>",
            e(&k.key),
            e(&k.node),
            e(k.unverified.as_deref().unwrap_or_default())
        );
    }
    match &l.history {
        Some(h) => ln!(
            out,
            "<p>History: {}, {} operations in Jepsen's format \
             (<code>perseus check history.edn</code> checks it again){}.</p>",
            file(files, "history.edn"),
            h.ops,
            match (h.truncated_at_s, h.why_cut()) {
                (Some(t), Some(why)) => format!(
                    "; <strong>{} at {}</strong>: no check of it is complete",
                    e(&why),
                    secs(t)
                ),
                _ => String::new(),
            }
        ),
        None => ln!(out, "<p>No history was written.</p>"),
    }
    if let Some(c) = &l.history_check {
        ln!(out, "<p>{}.</p>", e(&upper_first(&c.describe())));
        for v in &c.violations {
            ln!(
                out,
                "<p><code>{}</code>: {} operations no order explains:</p>\n<pre>",
                e(&v.key),
                v.violations
            );
            for line in &v.explanation {
                ln!(out, "{}", e(line));
            }
            ln!(out, "</pre>");
        }
        for d in &c.disagreements {
            ln!(out, "<p class=\"fail\">Disagreement: {}.</p>", e(d));
        }
    }
}

/// The transactional workload: its windows and its checker's verdict.
fn transactions_html(out: &mut String, t: &crate::workload::TxnSummary, files: &[&str]) {
    let e = escape;
    ln!(
        out,
        "<h2 id=\"transactions\">Transactions: {} ({})</h2>",
        e(&t.workload.to_string()),
        e(t.isolation
            .map_or("the system's default isolation", |i| i.name()))
    );
    let rows: Vec<Vec<String>> = t
        .windows
        .iter()
        .map(|w| {
            let a: Vec<String> = w
                .anomalies
                .iter()
                .map(|(n, c)| format!("{n} {c}"))
                .collect();
            vec![
                e(&w.after),
                secs(w.from_s),
                secs(w.to_s),
                w.ok.to_string(),
                w.fail.to_string(),
                w.info.to_string(),
                e(&if a.is_empty() {
                    "none".into()
                } else {
                    a.join(", ")
                }),
            ]
        })
        .collect();
    table(
        out,
        &["window", "from", "to", "ok", "fail", "info", "anomalies"],
        &rows,
    );
    ln!(out, "<pre>{}</pre>", e(&t.render()));
    ln!(
        out,
        "<p>The history, in Jepsen's format: {} (<code>perseus check</code> reads it).</p>",
        file(files, "transactions.edn")
    );
}

#[cfg(test)]
mod tests {
    use super::super::record::fixture::{promotion, record};
    use super::super::record::Outcome;
    use super::*;

    #[test]
    fn hostile_strings_are_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        let evil = r#"<script>alert("n&1")</script>'"#;
        let mut r = record(Outcome::Error);
        r.scenario.name = evil.into();
        r.scenario.description = Some(evil.into());
        r.error = Some(evil.into());
        r.nodes[0] = evil.into();
        r.verdicts[0].measured = evil.into();
        r.restored.push(evil.into());
        let mut p = promotion();
        p.line = evil.into();
        p.source = evil.into();
        r.promotions.push(p);
        r.steps[0].detail = evil.into();
        let html = report_html(&r, &[], "<svg></svg>", &[], &["report.md"]);
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("\"n&1"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(&quot;n&amp;1&quot;)&lt;/script&gt;&#39;"),
            "{html}"
        );
    }

    #[test]
    fn the_page_holds_the_figures_the_plot_inline_and_links_to_the_files_only() {
        let svg = "<?xml version=\"1.0\"?>\n<svg width=\"10\" height=\"10\" xmlns=\"http://www.w3.org/2000/svg\"><text>kill n2</text></svg>";
        let html = report_html(
            &record(Outcome::Failed),
            &[(1, vec![1, 2, 3])],
            svg,
            &[],
            &["report.md", "summary.json"],
        );
        assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
        assert!(html.contains("<svg width=\"10\" height=\"10\"><text>kill n2</text></svg>"));
        assert!(!html.contains("<?xml"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(!html.contains("<script") && !html.contains("<img"));
        assert!(html.contains("<a href=\"summary.json\">summary.json</a>"));
        assert!(html.contains("<dt>window after kill n2 (leader) at 5.00 s</dt><dd>1.32 s</dd>"));
        assert!(html.contains("<span class=\"verdict fail\">FAIL</span>"));
        assert!(html.contains("FAILED: 1 of 2 expectations held"));
        assert!(html.contains("<td>cluster: 1.32 s (from 4.99 s to 6.31 s)</td>"));
    }

    #[test]
    fn backticks_become_code_spans() {
        assert_eq!(
            code_spans("a `b` c `d`"),
            "a <code>b</code> c <code>d</code>"
        );
    }
}
