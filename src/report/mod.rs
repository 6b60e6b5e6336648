//! The run folder `runs/<time>-<name>/` and what is rendered from it:
//!
//! | file | holds |
//! | --- | --- |
//! | `scenario.yaml` | the scenario as run |
//! | `metrics.tsv` | one line per second in the seeds' format (`sec total n1 n2 n3`), after a header naming the columns |
//! | `events.jsonl` | one JSON object per line: lab up, warm-up, the load's start and end, every step as it fired (scheduled and actual time, resolved target), restore, lab down |
//! | `summary.json` | [`RunRecord`]: outcome, steps, the windows each caused, recoveries, verdicts, the load's summary |
//! | `report.md` | a table of faults and windows and a verdict per expectation, for people |
//! | `report.html` | the same for a browser, in one self-contained page: the plots inline, the fault log, every anomaly with its evidence, links to the other files ([`html`]) |
//! | `plot.svg` | successes per second per node and in total, faults as labelled marks, windows shaded |
//! | `latency-quantiles.svg` | per node, the ok operations' p50, p95, p99, p99.9 and max of each second as step lines, the fail and info operations' max of each second as points, faults shaded ([`latency_plot`]) |
//! | `latency-raw.svg` | per node, every operation of `latency.tsv` as a point (when it ended, its latency), coloured by outcome, faults shaded |
//! | `latency.tsv` | a uniform sample of the load's operations (at most 3,000 ok and 1,000 each fail and info per node): `t_s node outcome latency_ms`, in time order |
//!
//! `report.md`, `report.html`, `plot.svg` and the latency plots are pure functions of
//! `summary.json`, `metrics.tsv` and `latency.tsv` (the latency plots only when the load timed an
//! operation), so `perseus report <dir>` renders them again from a past run. JUnit files come from the records
//! too ([`junit`]). The report renders from its own input types ([`record`]); a run's events reach
//! the folder as one stream ([`event`]), and a folder that could not be written says so when it is
//! finished ([`RunFolder::finish`]).

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
pub mod event;
pub mod html;
mod junit;
pub mod latency_plot;
mod markdown;
pub mod plot;
pub mod record;

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use crate::error::ReadError;
use crate::error::{Error, Result};
use crate::node::NodeName;
pub use event::{Entry, Event, Fanout, NodeAddress, Removed, Sink, Totals, What};

pub use junit::{junit, Ran};
pub use markdown::report_md;
pub use record::{
    FiredStep, MetricRow, NodeWindow, Outcome, Plan, PlanLoad, PromotionSeen, Recovery, RunRecord,
    StepEffect, Verdict,
};

/// Now as RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// Write a result made of several runs (a table, a bisect) into its folder: `<stem>.md` and
/// `<stem>.json` (pretty-printed, one trailing newline), each replaced whole.
///
/// Errors: [`Error::Io`] when a file cannot be written.
pub fn write_summary(
    folder: &Path,
    stem: &str,
    markdown: String,
    value: &impl serde::Serialize,
) -> Result<()> {
    let put = |name: String, text: String| write_whole(&folder.join(name), text.as_bytes());
    put(format!("{stem}.md"), markdown)?;
    put(
        format!("{stem}.json"),
        serde_json::to_string_pretty(value).expect("a result serialises") + "\n",
    )
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
    fn start_metrics(&mut self, nodes: &[NodeName]) {
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

    /// Write `summary.json`, then render `report.md`, `plot.svg` and `report.html` from the folder.
    /// Each is written whole or not at all (to a temporary name, then renamed), so a disk that ran
    /// full leaves no empty `summary.json`; and each is tried even when a write before it failed.
    ///
    /// Errors: the first write that failed, during the run (`events.jsonl`, `metrics.tsv`) or
    /// here, as [`Error::Io`] naming the file.
    pub fn finish(mut self, record: &RunRecord) -> Result<()> {
        let mut first = self.failed.take();
        let json = serde_json::to_string_pretty(record).map_err(|e| Error::Io {
            context: "making summary.json".into(),
            source: std::io::Error::other(e),
        })?;
        let wrote = write_whole(&self.dir.join("summary.json"), (json + "\n").as_bytes());
        let wrote = wrote.and_then(|()| match &record.load {
            Some(l) => write_latency_samples(&self.dir, &l.nodes_names(), &l.latency_samples),
            None => Ok(()),
        });
        // The report rests on summary.json: without it there is nothing to render.
        let rendered = wrote.and_then(|()| render(&self.dir));
        if let Err(e) = rendered {
            first = first.or(Some(e));
        }
        first.map_or(Ok(()), Err)
    }
}

/// Write `bytes` to `path` whole or not at all: to `<path>.partial`, synced, then renamed over
/// `path`. On a failure the partial file is removed.
///
/// Errors: [`Error::Io`] naming `path`.
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let r = (|| {
        let mut f = File::create(&partial)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&partial, path)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&partial);
    }
    r.map_err(Error::io(format!("writing {}", path.display())))
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

/// `metrics.tsv` read back: node names and its rows.
pub fn read_metrics(dir: &Path) -> Result<(Vec<NodeName>, Vec<MetricRow>)> {
    let path = dir.join("metrics.tsv");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()))(e)),
    };
    let mut lines = text.lines();
    let nodes: Vec<NodeName> = lines
        .next()
        .map(|h| h.split('\t').skip(2).map(NodeName::from).collect())
        .unwrap_or_default();
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let cols: Vec<u64> = line
            .split('\t')
            .map(|c| c.parse::<u64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| ReadError::MetricsLine {
                path: path.clone(),
                line: i + 2,
                text: line.to_string(),
            })?;
        if cols.len() != nodes.len() + 2 {
            return Err(ReadError::MetricsColumns {
                path,
                line: i + 2,
                columns: cols.len(),
                expected: nodes.len() + 2,
            }
            .into());
        }
        rows.push((cols[0], cols[2..].to_vec()));
    }
    Ok((nodes, rows))
}

/// The header of `latency.tsv`.
const LATENCY_HEADER: &str = "t_s\tnode\toutcome\tlatency_ms";

/// Write `latency.tsv`: every kept sample of every node (`samples` in `nodes` order), in time
/// order. Nothing is written when there is none.
///
/// Errors: [`Error::Io`] when the file cannot be written.
pub fn write_latency_samples(
    dir: &Path,
    nodes: &[NodeName],
    samples: &[Vec<crate::load::summary::LatencySample>],
) -> Result<()> {
    let mut all: Vec<(&NodeName, &crate::load::summary::LatencySample)> = nodes
        .iter()
        .zip(samples)
        .flat_map(|(n, v)| v.iter().map(move |s| (n, s)))
        .collect();
    if all.is_empty() {
        return Ok(());
    }
    all.sort_by_key(|(_, s)| s.at_us);
    let mut text = String::with_capacity(all.len() * 28);
    text.push_str(LATENCY_HEADER);
    text.push('\n');
    for (n, s) in all {
        use std::fmt::Write as _;
        put!(
            text,
            "{:.6}\t{n}\t{}\t{:.3}\n",
            crate::load::measure::secs(s.at_us),
            s.outcome.name(),
            s.latency_us as f64 / 1000.0
        );
    }
    write_whole(&dir.join("latency.tsv"), text.as_bytes())
}

/// `latency.tsv` read back, per node of `nodes` (in that order; a node the file does not name
/// has none); empty when the folder has no such file (a closed run from before it existed).
///
/// Errors: [`Error::Io`] when it cannot be read, [`ReadError::Unreadable`]-like
/// [`ReadError::MetricsLine`] naming a line that is not `t_s node outcome latency_ms`.
pub fn read_latency_samples(
    dir: &Path,
    nodes: &[NodeName],
) -> Result<Vec<Vec<crate::load::summary::LatencySample>>> {
    use crate::load::latency::Outcome;
    let path = dir.join("latency.tsv");
    let mut out = vec![Vec::new(); nodes.len()];
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()))(e)),
    };
    for (i, line) in text.lines().enumerate().skip(1) {
        let bad = || ReadError::MetricsLine {
            path: path.clone(),
            line: i + 1,
            text: line.to_string(),
        };
        let cols: Vec<&str> = line.split('\t').collect();
        let [t, node, outcome, ms] = cols[..] else {
            return Err(bad().into());
        };
        let outcome = match outcome {
            "ok" => Outcome::Ok,
            "fail" => Outcome::Fail,
            "info" => Outcome::Info,
            _ => return Err(bad().into()),
        };
        let (Ok(t), Ok(ms)) = (t.parse::<f64>(), ms.parse::<f64>()) else {
            return Err(bad().into());
        };
        if let Some(k) = nodes.iter().position(|n| n.as_str() == node) {
            out[k].push(crate::load::summary::LatencySample {
                at_us: crate::load::measure::micros(t),
                latency_us: (ms * 1000.0).round() as u64,
                outcome,
            });
        }
    }
    Ok(out)
}

/// When each fault of the run was in force, for shading: from the moment a step's fault was
/// in force (`applied_s`) to the moment the step that undid it was (by the rule of
/// [`crate::metrics::undoes`]: start ends kill, stop and power loss, resume ends pause, connect
/// ends disconnect, heal ends the network faults), or to the end of the load (`end_s`) when
/// nothing undid it. Each as `(start_s, end_s, label)`, in the order the faults began.
pub fn fault_spans(r: &RunRecord) -> Vec<(f64, f64, String)> {
    let end_s = r.load.as_ref().map_or(0.0, |l| l.duration_s);
    let mut open: Vec<(usize, &FiredStep, Vec<NodeName>)> = Vec::new();
    let mut spans: Vec<(usize, f64, f64, String)> = Vec::new();
    for (k, step) in r.steps.iter().enumerate() {
        if crate::metrics::is_undo(&step.fault) {
            open.retain_mut(|(i, begun, nodes)| {
                if !crate::metrics::undoes(&step.fault, &begun.fault) {
                    return true;
                }
                // A heal ends everything on the network; a node undo ends its nodes only.
                if step.fault != "heal" {
                    nodes.retain(|n| !step.nodes.contains(n));
                    if !nodes.is_empty() {
                        return true;
                    }
                }
                spans.push((*i, begun.applied_s, step.applied_s, begun.label()));
                false
            });
        } else {
            open.push((k, step, step.nodes.clone()));
        }
    }
    for (i, begun, _) in open {
        spans.push((
            i,
            begun.applied_s,
            end_s.max(begun.applied_s),
            begun.label(),
        ));
    }
    spans.sort_by_key(|s| s.0);
    spans.into_iter().map(|(_, a, b, l)| (a, b, l)).collect()
}

/// Read `summary.json` from a run folder.
///
/// Errors: [`ReadError::NotARunFolder`] when `dir` is not a run folder,
/// [`ReadError::Unreadable`] when its summary does not parse.
pub fn read_record(dir: &Path) -> Result<RunRecord> {
    let path = dir.join("summary.json");
    read_json(&path, "summary", |source| ReadError::NotARunFolder {
        dir: dir.to_path_buf(),
        path: path.clone(),
        source,
    })
}

/// A JSON file a folder of Perseus' own holds (`summary.json`, `table.json`, `bisect.json`),
/// read back as `what`.
///
/// Errors: `missing`'s error when the file cannot be read; [`ReadError::Unreadable`] when it
/// does not parse as `what`.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &'static str,
    missing: impl FnOnce(std::io::Error) -> ReadError,
) -> Result<T> {
    let text = fs::read_to_string(path).map_err(missing)?;
    serde_json::from_str(&text).map_err(|source| {
        ReadError::Unreadable {
            path: path.to_path_buf(),
            what,
            source,
        }
        .into()
    })
}

/// Render `report.md`, `plot.svg`, `latency-quantiles.svg` and `latency-raw.svg` (when the load
/// timed an operation) and `report.html` from a run folder's `summary.json`, `metrics.tsv` and
/// `latency.tsv`.
///
/// Errors: those of [`read_record`] and [`read_metrics`]; [`Error::Io`] when a file cannot be
/// written or the plot not drawn.
pub fn render(dir: &Path) -> Result<RunRecord> {
    let record = read_record(dir)?;
    let (_, rows) = read_metrics(dir)?;
    write_whole(&dir.join("report.md"), report_md(&record, &rows).as_bytes())?;
    let svg = plot::render_svg(&plot_data(&record, &rows)).map_err(|e| Error::Io {
        context: "drawing plot.svg".into(),
        source: std::io::Error::other(e),
    })?;
    write_whole(&dir.join("plot.svg"), svg.as_bytes())?;
    let latency_svgs = render_latency(dir, &record)?;
    let files: Vec<&str> = html::RUN_FILES
        .into_iter()
        .filter(|f| dir.join(f).is_file())
        .collect();
    write_whole(
        &dir.join("report.html"),
        html::report_html(&record, &rows, &svg, &latency_svgs, &files).as_bytes(),
    )?;
    Ok(record)
}

/// Write `latency-quantiles.svg` and `latency-raw.svg` when the record has a load with a timed
/// operation (from its summary and `latency.tsv`); returns each written file's name and SVG, in
/// that order, for `report.html` to inline. Nothing is written, and nothing returned, without.
///
/// Errors: those of [`read_latency_samples`]; [`Error::Io`] when a file cannot be written or a
/// plot not drawn.
fn render_latency(dir: &Path, record: &RunRecord) -> Result<Vec<(&'static str, String)>> {
    let Some(l) = &record.load else {
        return Ok(Vec::new());
    };
    if latency_section(l).is_none() {
        return Ok(Vec::new());
    }
    let names: Vec<NodeName> = l.latency.iter().map(|n| n.node.clone()).collect();
    let data = latency_plot_data(record, read_latency_samples(dir, &names)?);
    let mut out = Vec::new();
    for (name, draw) in [
        (
            "latency-quantiles.svg",
            latency_plot::quantiles_svg as fn(&latency_plot::LatencyPlotData) -> _,
        ),
        ("latency-raw.svg", latency_plot::raw_svg),
    ] {
        let svg = draw(&data).map_err(|e| Error::Io {
            context: format!("drawing {name}"),
            source: std::io::Error::other(e),
        })?;
        write_whole(&dir.join(name), svg.as_bytes())?;
        out.push((name, svg));
    }
    Ok(out)
}

/// What the latency plots show: the load's latency per node (one panel each, in the load's node
/// order), `samples` (per node, in that order: [`read_latency_samples`]), the load's length and
/// when each fault was in force ([`fault_spans`]). Without a load, no node has any latency.
pub fn latency_plot_data(
    r: &RunRecord,
    samples: Vec<Vec<crate::load::summary::LatencySample>>,
) -> latency_plot::LatencyPlotData {
    let latency = r
        .load
        .as_ref()
        .map(|l| l.latency.clone())
        .unwrap_or_default();
    let nodes = if latency.is_empty() {
        r.nodes.clone()
    } else {
        latency.iter().map(|n| n.node.clone()).collect()
    };
    latency_plot::LatencyPlotData {
        title: format!(
            "{} ({}, {} nodes)",
            r.scenario.name,
            r.scenario.system,
            r.nodes.len()
        ),
        nodes,
        end_s: r.load.as_ref().map_or(0.0, |l| l.duration_s),
        faults: fault_spans(r),
        latency,
        samples,
    }
}

/// The latency section of `report.md` and `report.html`, as plain text (each renderer escapes
/// it): what is timed from where, a row per node and outcome that had operations, and for the
/// open loop the line saying whether the schedule was kept with a row per node.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencySection {
    /// What the figures measure.
    pub intro: String,
    /// `node`, `outcome`, `operations`, `p50` ... `max`.
    pub head: Vec<&'static str>,
    /// One per node and outcome, in node order, ok then fail then info.
    pub rows: Vec<Vec<String>>,
    /// The open loop: its line ([`crate::load::open::OpenLoop::line`]), head and rows.
    pub open: Option<OpenRows>,
}

/// The open loop's part of [`LatencySection`]: its line, the table's head and rows.
pub type OpenRows = (String, Vec<&'static str>, Vec<Vec<String>>);

/// The latency section of a load's summary; `None` when no operation was timed.
pub fn latency_section(l: &crate::load::summary::Summary) -> Option<LatencySection> {
    use crate::load::latency::Outcome;
    if l.latency
        .iter()
        .all(|n| Outcome::ALL.iter().all(|&o| n.of(o).count == 0))
    {
        return None;
    }
    let intro = if l.open_loop.is_some() {
        "Open loop: each operation is timed from its intended start on the schedule to its end, so an operation that waited for a connection counts its wait (no coordinated omission); ok, fail and info apart."
    } else {
        "Closed loop: each iteration is timed from its actual start (its reconnect included) to its end, ok, fail and info apart; an operation a stalled connection never sent has no latency (run with --rate for the open loop)."
    };
    let ms = |v: f64| format!("{v:.2} ms");
    let mut rows = Vec::new();
    for n in &l.latency {
        for o in Outcome::ALL {
            let q = n.of(o);
            if q.count == 0 {
                continue;
            }
            rows.push(vec![
                n.node.to_string(),
                o.name().to_string(),
                q.count.to_string(),
                ms(q.p50_ms),
                ms(q.p95_ms),
                ms(q.p99_ms),
                ms(q.p999_ms),
                ms(q.max_ms),
            ]);
        }
    }
    let open = l.open_loop.as_ref().map(|o| {
        let rows = o
            .nodes
            .iter()
            .map(|n| {
                vec![
                    n.node.to_string(),
                    n.scheduled.to_string(),
                    n.started.to_string(),
                    n.completed.to_string(),
                    n.late.to_string(),
                    n.never_started.to_string(),
                    format!("{:.3} s", n.late_max_ms / 1000.0),
                    format!("{} of {}", n.clients, o.max_clients_per_node),
                ]
            })
            .collect();
        (
            o.line(),
            vec![
                "node",
                "scheduled",
                "started",
                "completed",
                "late",
                "never started",
                "latest start",
                "connections",
            ],
            rows,
        )
    });
    Some(LatencySection {
        intro: intro.to_string(),
        head: vec![
            "node",
            "outcome",
            "operations",
            "p50",
            "p95",
            "p99",
            "p99.9",
            "max",
        ],
        rows,
        open,
    })
}

/// The seconds in which an anomaly was seen: by the loop's check, or by the transactions'
/// checker (list-append: when its last transaction completed; bank: a wrong read), sorted.
fn anomaly_seconds(r: &RunRecord) -> Vec<u64> {
    let mut secs = r
        .load
        .as_ref()
        .map(|l| l.anomaly_seconds())
        .unwrap_or_default();
    if let Some(t) = &r.transactions {
        if let Some(v) = &t.list_append {
            secs.extend(v.per_second.keys());
        }
        if let Some(b) = &t.bank {
            secs.extend(b.per_second.iter().filter(|s| s.wrong > 0).map(|s| s.sec));
        }
    }
    secs.sort_unstable();
    secs.dedup();
    secs
}

/// What the plot shows: every node's and the total's successes per second, each step as a mark,
/// each step's cluster-wide window (when at least 0.1 s) shaded, the seconds with an anomaly
/// (the loop's or the transactions') marked.
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
        anomalies: anomaly_seconds(r),
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
                        n.ok.seconds
                            .iter()
                            .map(|s| (s.sec, s.p50_ms, s.p99_ms))
                            .collect()
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}
#[cfg(test)]
mod tests;
