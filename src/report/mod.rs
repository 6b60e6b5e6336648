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
//! too ([`junit`]).

pub mod plot;

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::load::summary::{describe, Summary};
use crate::scenario::analysis::{FiredStep, StepEffect, Verdict};
use crate::scenario::Scenario;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every expectation held.
    Passed,
    /// The run completed and an expectation did not hold.
    Failed,
    /// Something failed midway (a step, the warm-up); the report is partial.
    Error,
    /// Ctrl-C; the report is partial.
    Interrupted,
}

impl Outcome {
    /// `passed`, `FAILED`, ...: the word reports use.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "FAILED",
            Outcome::Error => "ERROR",
            Outcome::Interrupted => "INTERRUPTED",
        }
    }
}

/// Everything a run found: the content of `summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// The scenario as run.
    pub scenario: Scenario,
    /// The run folder's name (`20261121-101502-etcd-kill-leader`).
    pub run: String,
    /// Wall-clock start of the measured load (RFC 3339, ms).
    pub started: String,
    /// Node names in column order.
    pub nodes: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// What went wrong, for `error` (and `interrupted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The leader when the measured load began (`None`: leaderless, or none answered).
    pub leader_before: Option<String>,
    /// The leader when it ended, before anything was restored.
    pub leader_after: Option<String>,
    /// The steps as they fired.
    pub steps: Vec<FiredStep>,
    /// What each fired step did.
    pub effects: Vec<StepEffect>,
    /// One per expectation.
    pub verdicts: Vec<Verdict>,
    /// What was undone at the end (faults still in force).
    pub restored: Vec<String>,
    /// The load's summary (`None` when the measured load never ran).
    pub load: Option<Summary>,
}

impl RunRecord {
    /// The latest `late_ms` of any step.
    pub fn max_late_ms(&self) -> f64 {
        self.steps.iter().map(|s| s.late_ms).fold(0.0, f64::max)
    }
}

/// One line of `events.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Wall-clock time (RFC 3339, ms).
    pub at: String,
    /// What happened: `lab-up`, `lab-reused`, `warmup`, `load-start`, `step`, `step-failed`,
    /// `load-end`, `interrupted`, `restore`, `lab-down`.
    pub kind: String,
    /// Seconds since the measured load began, when it had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t_s: Option<f64>,
    /// For humans.
    pub detail: String,
    /// The step, for `step` events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<FiredStep>,
}

/// Now as RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

/// A run folder being written.
#[derive(Debug)]
pub struct RunFolder {
    /// Its path.
    pub dir: PathBuf,
    events: File,
    metrics: Option<File>,
}

impl RunFolder {
    /// Create `runs_dir/<yyyymmdd-hhmmss>-<name>/` (with `-2`, `-3` ... if taken) and write the
    /// scenario's text into it.
    ///
    /// Errors: [`Error::Io`] when the folder cannot be made.
    pub fn create(runs_dir: &Path, name: &str, scenario_text: &str) -> Result<RunFolder> {
        let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
            .to_string()
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == 'T')
            .collect::<String>()
            .replace('T', "-");
        fs::create_dir_all(runs_dir)
            .map_err(Error::io(format!("creating {}", runs_dir.display())))?;
        let mut dir = runs_dir.join(format!("{stamp}-{name}"));
        let mut k = 2;
        while dir.exists() {
            dir = runs_dir.join(format!("{stamp}-{name}-{k}"));
            k += 1;
        }
        fs::create_dir(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        fs::write(dir.join("scenario.yaml"), scenario_text)
            .map_err(Error::io(format!("writing {}", dir.display())))?;
        let events = File::create(dir.join("events.jsonl"))
            .map_err(Error::io(format!("writing {}", dir.display())))?;
        Ok(RunFolder {
            dir,
            events,
            metrics: None,
        })
    }

    /// The folder's name.
    pub fn name(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    }

    /// Append an event (written at once, so an interrupted run keeps it).
    pub fn event(&mut self, ev: &Event) {
        if let Ok(line) = serde_json::to_string(ev) {
            let _ = writeln!(self.events, "{line}");
            let _ = self.events.flush();
        }
    }

    /// Start `metrics.tsv` with its header.
    pub fn start_metrics(&mut self, nodes: &[String]) -> Result<()> {
        let mut f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(self.dir.join("metrics.tsv"))
            .map_err(Error::io("writing metrics.tsv"))?;
        let _ = writeln!(f, "{}", crate::load::measure::tsv_header(nodes));
        self.metrics = Some(f);
        Ok(())
    }

    /// Append one second's line (the seeds' format).
    pub fn metric(&mut self, sec: u64, counts: &[u64]) {
        if let Some(f) = &mut self.metrics {
            let _ = writeln!(f, "{}", crate::load::measure::tsv_line(sec, counts));
            let _ = f.flush();
        }
    }

    /// Write `summary.json`, then render `report.md` and `plot.svg` from the folder.
    pub fn finish(&self, record: &RunRecord) -> Result<()> {
        let json = serde_json::to_string_pretty(record).unwrap_or_default();
        fs::write(self.dir.join("summary.json"), json + "\n").map_err(Error::io(format!(
            "writing {}/summary.json",
            self.dir.display()
        )))?;
        render(&self.dir)?;
        Ok(())
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
    let _ = writeln!(out, "# {}: {}\n", s.name, r.outcome.word());
    if let Some(d) = &s.description {
        let _ = writeln!(out, "{}\n", d.trim());
    }
    let _ = writeln!(
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
    let leader = |l: &Option<String>| l.clone().unwrap_or_else(|| "none".into());
    let _ = writeln!(
        out,
        "Leader before: {}; after: {}.",
        leader(&r.leader_before),
        leader(&r.leader_after)
    );
    if let Some(e) = &r.error {
        let _ = writeln!(out, "\n**{}**: {e}", r.outcome.word());
    }

    let _ = writeln!(out, "\n## Faults and unavailability windows\n");
    if r.steps.is_empty() {
        let _ = writeln!(out, "No step fired.");
    } else {
        let _ = write!(out, "| at | fault | late | cluster window |");
        for n in &r.nodes {
            let _ = write!(out, " {n} window |");
        }
        let _ = writeln!(out, " serves again |");
        let _ = write!(out, "| --- | --- | --- | --- |");
        for _ in &r.nodes {
            let _ = write!(out, " --- |");
        }
        let _ = writeln!(out, " --- |");
        for (step, fx) in r.steps.iter().zip(&r.effects) {
            let _ = write!(
                out,
                "| {} | {} | {:.1} ms | {} |",
                secs(step.fired_s),
                step.label(),
                step.late_ms,
                window_cell(&fx.cluster)
            );
            for n in &fx.nodes {
                let _ = write!(out, " {} |", window_cell(&n.window));
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
            let _ = writeln!(out, " {rec} |");
        }
        let _ = writeln!(
            out,
            "\nA window runs from the last success before the outage to the first after it \
             (cluster: on any node). `late` is how long after its scheduled time the step fired."
        );
    }

    let _ = writeln!(out, "\n## Expectations\n");
    if r.verdicts.is_empty() {
        let _ = writeln!(out, "None.");
    } else {
        let _ = writeln!(
            out,
            "| expectation | verdict | measured |\n| --- | --- | --- |"
        );
        for v in &r.verdicts {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                v.expectation,
                if v.passed { "pass" } else { "**FAIL**" },
                v.measured.replace('|', "\\|")
            );
        }
    }

    if let Some(l) = &r.load {
        let _ = writeln!(out, "\n## Load\n");
        let _ = writeln!(
            out,
            "{} iterations in {:.1} s{}, {} errors, {} lost writes, {} ambiguous writes; longest cluster window {}.\n",
            l.iterations,
            l.duration_s,
            if l.interrupted { " (interrupted)" } else { "" },
            l.errors,
            l.lost_writes,
            l.ambiguous_writes,
            describe(&l.cluster_window)
        );
        let _ = writeln!(
            out,
            "| node | iterations | rate/s | errors | lost | ambiguous | longest window |\n| --- | --- | --- | --- | --- | --- | --- |"
        );
        for n in &l.nodes {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {} | {} | {} | {} |",
                n.node,
                n.iterations,
                n.rate_per_s,
                n.errors,
                n.lost_writes,
                n.ambiguous_writes,
                describe(&n.window)
            );
        }
    }
    if !r.restored.is_empty() {
        let _ = writeln!(out, "\nRestored at the end: {}.", r.restored.join("; "));
    }
    let _ = writeln!(out, "\n![successful iterations per second](plot.svg)");
    if !rows.is_empty() {
        let _ = writeln!(out, "\nPer second (`metrics.tsv`): {} lines.", rows.len());
    }
    out
}

fn window_cell(w: &crate::load::measure::Window) -> String {
    if w.open {
        format!("{} (open)", secs(w.length_s))
    } else {
        secs(w.length_s)
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
    report.to_string().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::measure::Window;
    use crate::scenario::analysis::{NodeWindow, Recovery};

    fn record(outcome: Outcome) -> RunRecord {
        let scenario = crate::scenario::parse(
            Path::new("t.yaml"),
            "name: t\nsystem: etcd\nload: {duration: 20s}\nsteps:\n  - {name: crash, at: 5s, fault: kill, target: leader}\n  - {at: 12s, fault: start, target: crash}\nexpect:\n  - window: {after: crash, at-most: 1s}\n  - lost-writes: 0\n",
        )
        .unwrap();
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
            load: None,
        }
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
        f.start_metrics(&nodes).unwrap();
        for s in 1..=20 {
            f.metric(s, &[100, if (6..13).contains(&s) { 0 } else { 90 }, 80]);
        }
        f.finish(&record(Outcome::Failed)).unwrap();
        for file in [
            "scenario.yaml",
            "events.jsonl",
            "metrics.tsv",
            "summary.json",
            "report.md",
            "plot.svg",
        ] {
            assert!(f.dir.join(file).exists(), "{file}");
        }
        let (names, rows) = read_metrics(&f.dir).unwrap();
        assert_eq!(names, nodes);
        assert_eq!(rows.len(), 20);
        assert_eq!(rows[6], (7, vec![100, 0, 80]));
        // Re-rendering from the folder gives the same report.
        let before = fs::read_to_string(f.dir.join("report.md")).unwrap();
        fs::remove_file(f.dir.join("report.md")).unwrap();
        fs::remove_file(f.dir.join("plot.svg")).unwrap();
        render(&f.dir).unwrap();
        assert_eq!(fs::read_to_string(f.dir.join("report.md")).unwrap(), before);
        assert!(fs::read_to_string(f.dir.join("plot.svg"))
            .unwrap()
            .contains("kill n2 (leader)"));
        // A second folder in the same second gets its own name.
        let g = RunFolder::create(tmp.path(), "t", "").unwrap();
        assert_ne!(g.dir, f.dir);
        // Not a run folder: one line that says what to give.
        let e = read_record(tmp.path()).unwrap_err().to_string();
        assert!(
            e.contains("is not a run folder") && !e.contains('\n'),
            "{e}"
        );
    }
}
