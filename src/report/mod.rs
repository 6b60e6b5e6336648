//! The run folder `runs/<time>-<name>/` and what is rendered from it:
//!
//! | file | holds |
//! | --- | --- |
//! | `scenario.yaml` | the scenario as run |
//! | `metrics.tsv` | one line per second in the seeds' format (`sec total n1 n2 n3`), after a header naming the columns |
//! | `events.jsonl` | one JSON object per line: lab up, warm-up, the load's start and end, every step as it fired (scheduled and actual time, resolved target), restore, lab down |
//! | `summary.json` | [`RunRecord`]: outcome, steps, the windows each caused, recoveries, verdicts, the load's summary |
//! | `report.md` | a table of faults and windows and a verdict per expectation, for people |
//! | `plot.svg` | successes per second per node and in total, faults as labelled marks, windows shaded |
//!
//! `report.md` and `plot.svg` are pure functions of `summary.json` and `metrics.tsv`, so
//! `perseus report <dir>` renders them again from a past run. JUnit files come from the records
//! too ([`junit`]). The report renders from its own input types ([`record`]); a run's events reach
//! the folder as one stream ([`event`]), and a folder that could not be written says so when it is
//! finished ([`RunFolder::finish`]).

pub mod event;
pub mod plot;
pub mod record;

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Result};
use crate::load::summary::{describe, Summary};
pub use event::{Entry, Event, Fanout, Sink, What};

/// `writeln!` into a `String`, which cannot fail.
macro_rules! ln {
    ($($t:tt)*) => {
        writeln!($($t)*).expect("writing to a String cannot fail")
    };
}

/// `write!` into a `String`, which cannot fail.
macro_rules! put {
    ($($t:tt)*) => {
        write!($($t)*).expect("writing to a String cannot fail")
    };
}
pub use record::{
    FiredStep, NodeWindow, Outcome, Plan, PlanLoad, PromotionSeen, Recovery, RunRecord, StepEffect,
    Verdict,
};

/// Now as RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Make a new folder `runs_dir/<yyyymmdd-hhmmss>-<name>/` (with `-2`, `-3` ... if taken), and
/// `runs_dir` itself if needed; returns its path.
///
/// Errors: [`Error::Io`] when a folder cannot be made.
pub fn stamped_dir(runs_dir: &Path, name: &str) -> Result<PathBuf> {
    let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect::<String>()
        .replace('T', "-");
    fs::create_dir_all(runs_dir).map_err(Error::io(format!("creating {}", runs_dir.display())))?;
    let mut dir = runs_dir.join(format!("{stamp}-{name}"));
    let mut k = 2;
    while dir.exists() {
        dir = runs_dir.join(format!("{stamp}-{name}-{k}"));
        k += 1;
    }
    fs::create_dir(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    Ok(dir)
}

/// A run folder being written. As a [`Sink`] it appends every timeline entry to `events.jsonl`
/// and every second to `metrics.tsv` as they come (an interrupted run keeps them); the first
/// write that fails is kept and returned by [`RunFolder::finish`].
#[derive(Debug)]
pub struct RunFolder {
    /// Its path.
    pub dir: PathBuf,
    events: File,
    metrics: Option<File>,
    failed: Option<Error>,
}

impl RunFolder {
    /// Create `runs_dir/<yyyymmdd-hhmmss>-<name>/` (with `-2`, `-3` ... if taken) and write the
    /// scenario's text into it.
    ///
    /// Errors: [`Error::Io`] when the folder cannot be made.
    pub fn create(runs_dir: &Path, name: &str, scenario_text: &str) -> Result<RunFolder> {
        let dir = stamped_dir(runs_dir, name)?;
        fs::write(dir.join("scenario.yaml"), scenario_text)
            .map_err(Error::io(format!("writing {}", dir.display())))?;
        let events = File::create(dir.join("events.jsonl"))
            .map_err(Error::io(format!("writing {}", dir.display())))?;
        Ok(RunFolder {
            dir,
            events,
            metrics: None,
            failed: None,
        })
    }

    /// The folder's name.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    }

    /// Keep the first failure of a write.
    fn keep(&mut self, r: std::io::Result<()>, file: &str) {
        if let (Err(e), None) = (r, &self.failed) {
            self.failed = Some(Error::Io {
                context: format!("writing {}/{file}", self.dir.display()),
                source: e,
            });
        }
    }

    /// Append a timeline entry to `events.jsonl`, at once.
    fn entry(&mut self, entry: &Entry) {
        let line = serde_json::to_string(entry).map_err(std::io::Error::other);
        let r = line.and_then(|l| {
            writeln!(self.events, "{l}")?;
            self.events.flush()
        });
        self.keep(r, "events.jsonl");
    }

    /// Begin `metrics.tsv` with its header naming `nodes`.
    fn start_metrics(&mut self, nodes: &[String]) {
        let r = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(self.dir.join("metrics.tsv"))
            .and_then(|mut f| {
                writeln!(f, "{}", crate::load::measure::tsv_header(nodes))?;
                Ok(f)
            });
        match r {
            Ok(f) => self.metrics = Some(f),
            Err(e) => self.keep(Err(e), "metrics.tsv"),
        }
    }

    /// Append one second's line (the seeds' format).
    fn metric(&mut self, sec: u64, counts: &[u64]) {
        if let Some(f) = &mut self.metrics {
            let r = writeln!(f, "{}", crate::load::measure::tsv_line(sec, counts))
                .and_then(|()| f.flush());
            self.keep(r, "metrics.tsv");
        }
    }

    /// Write `summary.json`, then render `report.md` and `plot.svg` from the folder.
    ///
    /// Errors: the first write that failed during the run (`events.jsonl`, `metrics.tsv`), else
    /// [`Error::Io`] when the summary cannot be made or written, or the report not rendered.
    pub fn finish(mut self, record: &RunRecord) -> Result<()> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let json = serde_json::to_string_pretty(record).map_err(|e| Error::Io {
            context: "making summary.json".into(),
            source: std::io::Error::other(e),
        })?;
        fs::write(self.dir.join("summary.json"), json + "\n").map_err(Error::io(format!(
            "writing {}/summary.json",
            self.dir.display()
        )))?;
        render(&self.dir)?;
        Ok(())
    }
}

impl Sink for RunFolder {
    fn event(&mut self, event: &Event) {
        match event {
            Event::Say(_) => {}
            Event::Second(s) => self.metric(s.sec, &s.counts),
            Event::Entry(e) => {
                if let What::LoadStart { nodes, .. } = &e.what {
                    self.start_metrics(nodes);
                }
                self.entry(e);
            }
        }
    }
}

/// `(sec, per-node counts)`: one line of `metrics.tsv` without its total.
pub type MetricRow = (u64, Vec<u64>);

/// `metrics.tsv` read back: node names and its rows.
pub fn read_metrics(dir: &Path) -> Result<(Vec<String>, Vec<MetricRow>)> {
    let path = dir.join("metrics.tsv");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()))(e)),
    };
    let mut lines = text.lines();
    let nodes: Vec<String> = lines
        .next()
        .map(|h| h.split('\t').skip(2).map(str::to_string).collect())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let cols: Vec<u64> = line
            .split('\t')
            .map(|c| c.parse::<u64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| {
                Error::BadInput(format!(
                    "{}:{}: '{line}' is not a metrics line (sec, total, one count per node)",
                    path.display(),
                    i + 2
                ))
            })?;
        if cols.len() != nodes.len() + 2 {
            return Err(Error::BadInput(format!(
                "{}:{}: {} columns where the header has {}",
                path.display(),
                i + 2,
                cols.len(),
                nodes.len() + 2
            )));
        }
        rows.push((cols[0], cols[2..].to_vec()));
    }
    Ok((nodes, rows))
}

/// Read `summary.json` from a run folder.
///
/// Errors: [`Error::BadInput`] when `dir` is not a run folder or its summary does not parse.
pub fn read_record(dir: &Path) -> Result<RunRecord> {
    let path = dir.join("summary.json");
    let text = fs::read_to_string(&path).map_err(|e| {
        Error::BadInput(format!(
            "{} is not a run folder ({}: {e}): give a folder under runs/ that `perseus run` wrote",
            dir.display(),
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Error::BadInput(format!(
            "{}: {e}: the summary was written by another Perseus version or edited",
            path.display()
        ))
    })
}

/// Render `report.md` and `plot.svg` from a run folder's `summary.json` and `metrics.tsv`.
pub fn render(dir: &Path) -> Result<RunRecord> {
    let record = read_record(dir)?;
    let (_, rows) = read_metrics(dir)?;
    fs::write(dir.join("report.md"), report_md(&record, &rows))
        .map_err(Error::io(format!("writing {}/report.md", dir.display())))?;
    let svg = plot::render_svg(&plot_data(&record, &rows)).map_err(|e| Error::Io {
        context: "drawing plot.svg".into(),
        source: std::io::Error::other(e),
    })?;
    fs::write(dir.join("plot.svg"), svg)
        .map_err(Error::io(format!("writing {}/plot.svg", dir.display())))?;
    Ok(record)
}

/// What the plot shows: every node's and the total's successes per second, each step as a mark,
/// each step's cluster-wide window (when at least 0.1 s) shaded.
pub fn plot_data(r: &RunRecord, rows: &[MetricRow]) -> plot::PlotData {
    plot::PlotData {
        title: format!(
            "{} ({}, {} nodes)",
            r.scenario.name,
            r.scenario.system,
            r.nodes.len()
        ),
        nodes: r.nodes.clone(),
        seconds: rows.to_vec(),
        marks: r
            .steps
            .iter()
            .map(|s| plot::Mark {
                t_s: s.fired_s,
                label: s.label(),
            })
            .collect(),
        shades: r
            .effects
            .iter()
            .filter(|e| e.cluster.length_s >= 0.1)
            .map(|e| plot::Shade {
                start_s: e.cluster.start_s,
                end_s: e.cluster.end_s,
                label: format!("window {:.2} s", e.cluster.length_s),
            })
            .collect(),
        anomalies: r
            .load
            .as_ref()
            .map(|l| l.anomaly_seconds())
            .unwrap_or_default(),
        promotions: r
            .promotions
            .iter()
            .map(|p| plot::Mark {
                t_s: p.t_s,
                label: format!("{} promoted", p.node),
            })
            .collect(),
        latency: r
            .load
            .as_ref()
            .map(|l| {
                l.latency
                    .iter()
                    .map(|n| {
                        n.seconds
                            .iter()
                            .map(|s| (s.sec, s.p50_ms, s.p99_ms))
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn secs(x: f64) -> String {
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
        "{} with {} nodes ({}); load {} with {} connection(s) per node, op timeout {}; started {}.",
        s.system,
        r.nodes.len(),
        r.nodes.join(", "),
        crate::units::show(s.load.duration),
        s.load.clients_per_node,
        crate::units::show(s.load.op_timeout),
        r.started
    );
    if let Some(seed) = s.seed {
        ln!(
            out,
            "Random choices from seed {seed} (`perseus run --seed {seed}` makes them again)."
        );
    }
    let leader = |l: &Option<String>| l.clone().unwrap_or_else(|| "none".into());
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
    if !r.restored.is_empty() {
        ln!(out, "\nRestored at the end: {}.", r.restored.join("; "));
    }
    ln!(out, "\n![successful iterations per second](plot.svg)");
    if !rows.is_empty() {
        ln!(out, "\nPer second (`metrics.tsv`): {} lines.", rows.len());
    }
    out
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

/// Latency per node over the run, and the slowest seconds (the ten whose highest p99 on any node
/// is the highest, in time order, with every node's p50 and p99); all seconds are in
/// `summary.json` and drawn in the plot's lower panel.
fn latency_md(out: &mut String, l: &Summary) {
    if l.latency.iter().all(|n| n.count == 0) {
        return;
    }
    ln!(out, "\n## Latency\n");
    ln!(
        out,
        "From the start of an iteration (its reconnect included) to its write's acknowledgement, \
         successful iterations only; a second without a success has no latency.\n"
    );
    ln!(
        out,
        "| node | iterations | p50 | p99 | max |\n| --- | --- | --- | --- | --- |"
    );
    for n in &l.latency {
        ln!(
            out,
            "| {} | {} | {:.2} ms | {:.2} ms | {:.2} ms |",
            n.node,
            n.count,
            n.p50_ms,
            n.p99_ms,
            n.max_ms
        );
    }
    // The slowest seconds, by their highest p99 on any node, in time order.
    let mut worst: Vec<(u64, f64)> = Vec::new();
    for n in &l.latency {
        for s in &n.seconds {
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
            match n.seconds.iter().find(|s| s.sec == sec) {
                Some(s) => put!(out, " {:.2} / {:.2} |", s.p50_ms, s.p99_ms),
                None => put!(out, " - |"),
            }
        }
        ln!(out, "");
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

fn window_cell(w: &crate::load::measure::Window) -> String {
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
                match h.truncated_at_s {
                    Some(t) => format!(
                        "; **it was cut at its cap of {} bytes at {}**: what came after is not in it, and no check of it is complete",
                        h.max_bytes,
                        secs(t)
                    ),
                    None => String::new(),
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
fn upper_first(text: &str) -> String {
    let mut c = text.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// One scenario's result for JUnit: its record, or the error that stopped it before a record.
#[derive(Debug)]
pub enum Ran {
    /// The run produced a record (passed, failed, error or interrupted).
    Record(Box<RunRecord>),
    /// It could not start (lab up failed, ...).
    NotRun {
        /// The scenario's name.
        name: String,
        /// Why.
        error: String,
    },
}

/// A JUnit XML document: one test suite per scenario, with a `run` test case (an error when the
/// run did not complete) and one test case per expectation (a failure when it did not hold).
pub fn junit(results: &[Ran]) -> String {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("perseus");
    for r in results {
        match r {
            Ran::NotRun { name, error } => {
                let mut suite = TestSuite::new(name.as_str());
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status.set_message(error.as_str());
                suite.add_test_case(TestCase::new("run", status));
                report.add_test_suite(suite);
            }
            Ran::Record(rec) => {
                let mut suite = TestSuite::new(rec.scenario.name.as_str());
                let run_status = match rec.outcome {
                    Outcome::Passed | Outcome::Failed => TestCaseStatus::success(),
                    Outcome::Error | Outcome::Interrupted => {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                        s.set_message(format!(
                            "{}: {}",
                            rec.outcome.word(),
                            rec.error.clone().unwrap_or_default()
                        ));
                        s
                    }
                };
                let mut run = TestCase::new("run", run_status);
                if let Some(l) = &rec.load {
                    run.set_time(std::time::Duration::from_secs_f64(l.duration_s));
                }
                run.set_system_out(format!("run folder: {}", rec.run));
                suite.add_test_case(run);
                for v in &rec.verdicts {
                    let status = if v.passed {
                        TestCaseStatus::success()
                    } else {
                        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        s.set_message(format!("measured {}", v.measured));
                        s
                    };
                    let mut case = TestCase::new(v.expectation.as_str(), status);
                    case.set_system_out(v.measured.as_str());
                    suite.add_test_case(case);
                }
                report.add_test_suite(suite);
            }
        }
    }
    // quick-junit fails only on a writer error, and this one writes to memory.
    report
        .to_string()
        .expect("a JUnit report serialises to a string")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::measure::Window;
    use crate::load::serving::Serving;
    use std::time::Duration;

    fn record(outcome: Outcome) -> RunRecord {
        let scenario = Plan {
            name: "t".into(),
            description: None,
            system: "etcd".into(),
            nodes: 3,
            load: PlanLoad {
                duration: Duration::from_secs(20),
                clients_per_node: 1,
                op_timeout: Duration::from_secs(1),
                warmup: Duration::from_secs(30),
            },
            seed: None,
        };
        let w = |a: f64, b: f64| Window {
            start_s: a,
            end_s: b,
            length_s: b - a,
            open: false,
        };
        let step = |i: usize, fault: &str, aim: &str, at: f64| FiredStep {
            index: i,
            name: None,
            fault: fault.into(),
            aim: aim.into(),
            nodes: vec!["n2".into()],
            repeat: 0,
            scheduled_s: at,
            fired_s: at + 0.003,
            applied_s: at + 0.02,
            late_ms: 3.0,
            at: String::new(),
            detail: String::new(),
        };
        RunRecord {
            scenario,
            run: "20261121-101502-t".into(),
            started: "2026-11-21T10:15:07.000Z".into(),
            nodes: vec!["n1".into(), "n2".into(), "n3".into()],
            outcome,
            error: None,
            leader_before: Some("n2".into()),
            leader_after: Some("n1".into()),
            steps: vec![
                step(0, "kill", "leader", 5.0),
                step(1, "start", "crash", 12.0),
            ],
            effects: vec![
                StepEffect {
                    index: 0,
                    label: "kill n2 (leader)".into(),
                    fired_s: 5.003,
                    cluster: w(4.99, 6.31),
                    nodes: ["n1", "n2", "n3"]
                        .iter()
                        .map(|n| NodeWindow {
                            node: n.to_string(),
                            window: w(4.99, 6.4),
                        })
                        .collect(),
                    recovery: vec![],
                    serving: Some(Serving {
                        span_s: 7.0,
                        none_s: 1.3,
                        minority_s: 0.0,
                        majority_steady_s: Some(1.4),
                        all_steady_s: None,
                    }),
                },
                StepEffect {
                    index: 1,
                    label: "start n2".into(),
                    fired_s: 12.003,
                    cluster: w(12.0, 12.01),
                    nodes: ["n1", "n2", "n3"]
                        .iter()
                        .map(|n| NodeWindow {
                            node: n.to_string(),
                            window: w(12.0, 12.01),
                        })
                        .collect(),
                    recovery: vec![Recovery {
                        node: "n2".into(),
                        after_s: Some(1.25),
                    }],
                    serving: None,
                },
            ],
            verdicts: vec![
                Verdict {
                    expectation: "cluster unavailability window after crash is at most 1s".into(),
                    passed: false,
                    measured: "cluster: 1.32 s (from 4.99 s to 6.31 s)".into(),
                },
                Verdict {
                    expectation: "at most 0 lost writes".into(),
                    passed: true,
                    measured: "0 lost writes".into(),
                },
            ],
            restored: vec![],
            not_ready: None,
            promotions: vec![],
            load: None,
        }
    }

    #[test]
    fn promotions_stand_beside_the_step_and_the_window_it_opened() {
        let mut r = record(Outcome::Passed);
        assert!(!report_md(&r, &[]).contains("Failover"));
        r.promotions.push(PromotionSeen {
            t_s: 6.0,
            at: "2026-11-21T10:15:08.000Z".into(),
            node: "n1".into(),
            source: "Patroni".into(),
            line: "promoted self to leader by acquiring session lock".into(),
        });
        let md = report_md(&r, &[]);
        assert!(md.contains("### Failover, as Patroni logged it"), "{md}");
        assert!(
            md.contains("| 6.00 s | n1 | 1.00 s after kill n2 (leader) | 4.99 s to 6.31 s: served again 0.31 s after the promotion | `promoted self to leader by acquiring session lock` |"),
            "{md}"
        );
        let data = plot_data(&r, &[]);
        assert_eq!(data.promotions.len(), 1);
        assert_eq!(data.promotions[0].label, "n1 promoted");
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

    #[test]
    fn junit_has_a_case_per_expectation_and_marks_failures_and_errors() {
        let xml = junit(&[
            Ran::Record(Box::new(record(Outcome::Failed))),
            Ran::NotRun {
                name: "other".into(),
                error: "image x is not available".into(),
            },
        ]);
        assert!(xml.contains("<testsuite name=\"t\" tests=\"3\""), "{xml}");
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(
            xml.contains(
                "<testcase name=\"cluster unavailability window after crash is at most 1s\""
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<failure message=\"measured cluster: 1.32 s"),
            "{xml}"
        );
        assert!(
            xml.contains("<testsuite name=\"other\" tests=\"1\" disabled=\"0\" errors=\"1\""),
            "{xml}"
        );
    }

    #[test]
    fn a_run_folder_round_trips_and_renders_again() {
        let tmp = tempfile::tempdir().unwrap();
        let mut f = RunFolder::create(tmp.path(), "t", "name: t\n").unwrap();
        assert!(f.name().ends_with("-t"), "{}", f.name());
        let nodes: Vec<String> = vec!["n1".into(), "n2".into(), "n3".into()];
        f.event(&Event::Entry(Entry::now(
            What::LoadStart {
                detail: "run r1".into(),
                nodes: nodes.clone(),
                leader: Some("n2".into()),
            },
            Some(0.0),
        )));
        for s in 1..=20 {
            f.event(&Event::Second(crate::load::Second {
                sec: s,
                counts: vec![100, if (6..13).contains(&s) { 0 } else { 90 }, 80],
                errors: vec![0, 0, 0],
                complete: true,
            }));
        }
        let dir = f.dir.clone();
        f.finish(&record(Outcome::Failed)).unwrap();

        for file in [
            "scenario.yaml",
            "events.jsonl",
            "metrics.tsv",
            "summary.json",
            "report.md",
            "plot.svg",
        ] {
            assert!(dir.join(file).exists(), "{file}");
        }
        let (names, rows) = read_metrics(&dir).unwrap();
        assert_eq!(names, nodes);
        assert_eq!(rows.len(), 20);
        assert_eq!(rows[6], (7, vec![100, 0, 80]));
        // Re-rendering from the folder gives the same report.
        let before = fs::read_to_string(dir.join("report.md")).unwrap();
        fs::remove_file(dir.join("report.md")).unwrap();
        fs::remove_file(dir.join("plot.svg")).unwrap();
        render(&dir).unwrap();
        assert_eq!(fs::read_to_string(dir.join("report.md")).unwrap(), before);
        assert!(fs::read_to_string(dir.join("plot.svg"))
            .unwrap()
            .contains("kill n2 (leader)"));
        // A second folder in the same second gets its own name.
        let g = RunFolder::create(tmp.path(), "t", "").unwrap();
        assert_ne!(g.dir, dir);
        // Not a run folder: one line that says what to give.
        let e = read_record(tmp.path()).unwrap_err().to_string();
        assert!(
            e.contains("is not a run folder") && !e.contains('\n'),
            "{e}"
        );
        let lines = fs::read_to_string(dir.join("events.jsonl")).unwrap();
        let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
        assert_eq!(first["kind"], "load-start");
        assert_eq!(first["nodes"], serde_json::json!(["n1", "n2", "n3"]));
    }

    #[test]
    fn a_folder_that_could_not_be_written_says_so_when_finished() {
        let tmp = tempfile::tempdir().unwrap();
        let mut f = RunFolder::create(tmp.path(), "t", "name: t\n").unwrap();
        // metrics.tsv cannot be made where a folder of that name stands.
        fs::create_dir(f.dir.join("metrics.tsv")).unwrap();
        f.event(&Event::Entry(Entry::now(
            What::LoadStart {
                detail: "run r1".into(),
                nodes: vec!["n1".into()],
                leader: None,
            },
            Some(0.0),
        )));
        let e = f.finish(&record(Outcome::Passed)).unwrap_err();
        assert!(e.to_string().contains("metrics.tsv"), "{e}");
        assert_eq!(e.exit_code(), 1);
    }
}
