//! `perseus bisect`: the releases of a system where a scenario's verdict changes.
//!
//! A scenario (its faults and expectations) is run on each release of a range the system's
//! definition lists ([`crate::lab::version`]), on a lab brought up at that release, and each
//! release gets a verdict ([`Verdict`]):
//!
//! - *bad*: one run in which an expectation did not hold. Anomalies are probabilistic, so one
//!   violating run is evidence enough, and the release's other runs are skipped.
//! - *good*: `runs` clean runs (every expectation held). That bounds, not excludes, a failure:
//!   if each run failed on its own with probability p, `runs` clean runs happen with
//!   probability (1 - p)^runs, so they rule out (at 95 %) only a p above 1 - 0.05^(1/runs):
//!   63 % for 3 runs, 26 % for 10 ([`good_bound`]).
//! - *undecided*: neither, because its lab did not come up (it is not tried again), or the run
//!   budget was spent on runs that could not be made (a warm-up that failed), or Ctrl-C came
//!   first. A failure the user must fix (exit code 2: no pip, a lab left up) stops the bisect.
//!
//! By default every release in the range is probed ([`Search::Scan`]), since a behaviour may
//! change more than once across a range; [`Search::Binary`] probes the ends and then halves,
//! which assumes exactly one boundary between them, and says so. Every run's folder is kept
//! in the bisect's own folder beside `bisect.md`, `bisect.json` (rewritten after each release
//! and on Ctrl-C, so Ctrl-C keeps what was measured) and the scenario, from which [`resume`]
//! goes on with a bisect that was stopped.

use std::path::{Path, PathBuf};

use bollard::Docker;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::lab::{self, Home, SystemRef, UpOptions};
use crate::report::record::Outcome;
use crate::report::{Event, Sink};
use crate::scenario::runner::{self, Afterwards, LabChoice, RunOptions};
use crate::scenario::ScenarioFile;

/// How the releases of a range are probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Search {
    /// Every release, in order: finds every change.
    Scan,
    /// The two ends, then the middle of the interval whose ends differ: about log2(n) releases,
    /// and right only if the verdict changes exactly once in the range.
    Binary,
}

/// The settings of a bisect.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BisectOptions {
    /// Clean runs that mark a release good.
    pub runs: usize,
    /// The most runs made at one release; a release not decided within it is undecided.
    pub budget: usize,
    /// Scan or binary search.
    pub search: Search,
    /// Where the bisect's folder goes.
    pub runs_dir: PathBuf,
    /// The live series of every run (`--metrics`), when served.
    #[serde(skip)]
    pub metrics: Option<crate::metrics::Metrics>,
}

/// What one release's runs showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// `runs` clean runs.
    Good,
    /// A run in which an expectation did not hold.
    Bad,
    /// Neither within the budget, or not probed to the end.
    Undecided,
}

impl Verdict {
    /// `good`, `BAD`, `undecided`.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Good => "good",
            Verdict::Bad => "BAD",
            Verdict::Undecided => "undecided",
        }
    }
}

/// One run at a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRun {
    /// Its folder, inside the bisect's (`None`: the run could not be made at all).
    pub folder: Option<String>,
    /// `passed`, `failed`, `error`, `interrupted`.
    pub outcome: String,
    /// The expectations that did not hold, with what was measured; or why the run could not
    /// be made.
    pub evidence: Vec<String>,
}

/// One release probed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// The release (`2.11.0`).
    pub version: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Its runs, in order.
    pub runs: Vec<ProbeRun>,
    /// Whether its probing ended by itself (a verdict, the budget spent, a lab that did not
    /// come up) rather than by Ctrl-C; `--resume` takes up a probe that is not.
    #[serde(default)]
    pub complete: bool,
}

impl Probe {
    fn clean(&self) -> usize {
        self.runs.iter().filter(|r| r.outcome == "passed").count()
    }

    /// Its verdict's word, or `stopped` for a probe Ctrl-C ended before it had one (which
    /// `--resume` takes up).
    pub fn word(&self) -> &'static str {
        if self.complete || self.verdict != Verdict::Undecided {
            self.verdict.word()
        } else {
            "stopped"
        }
    }
}

/// A bisect, as far as it went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bisect {
    /// Wall-clock start (RFC 3339, ms).
    pub started: String,
    /// The bisect's folder: `bisect.md`, `bisect.json` and every run's folder.
    pub folder: PathBuf,
    /// The scenario's name.
    pub scenario: String,
    /// The system (`nats`).
    pub system: String,
    /// The releases of the range, oldest first.
    pub versions: Vec<String>,
    /// The settings.
    pub options: BisectOptions,
    /// The releases probed, in range order.
    pub probes: Vec<Probe>,
    /// Stopped by Ctrl-C.
    pub interrupted: bool,
}

/// Where the verdict changes: two releases next to each other among those decided, the older
/// and the newer, with their verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The older release.
    pub from: String,
    /// Its verdict.
    pub from_verdict: Verdict,
    /// The newer release.
    pub to: String,
    /// Its verdict.
    pub to_verdict: Verdict,
    /// Releases between them that were not probed (binary search) or are undecided.
    pub between: Vec<String>,
}

impl Bisect {
    /// How many releases got a verdict (good or bad).
    pub fn decided(&self) -> usize {
        self.probes
            .iter()
            .filter(|p| p.verdict != Verdict::Undecided)
            .count()
    }

    /// The changes of verdict between decided releases, oldest first.
    pub fn changes(&self) -> Vec<Change> {
        let decided: Vec<&Probe> = self
            .probes
            .iter()
            .filter(|p| p.verdict != Verdict::Undecided)
            .collect();
        decided
            .windows(2)
            .filter(|w| w[0].verdict != w[1].verdict)
            .map(|w| {
                let (a, b) = (
                    self.index(&w[0].version).unwrap_or(0),
                    self.index(&w[1].version).unwrap_or(0),
                );
                Change {
                    from: w[0].version.clone(),
                    from_verdict: w[0].verdict.clone(),
                    to: w[1].version.clone(),
                    to_verdict: w[1].verdict.clone(),
                    between: self.versions[a + 1..b].to_vec(),
                }
            })
            .collect()
    }

    fn index(&self, version: &str) -> Option<usize> {
        self.versions.iter().position(|v| v == version)
    }
}

/// The failure rate per run above which `runs` clean runs would have shown it with probability
/// at least 95 %: 1 - 0.05^(1/runs).
pub fn good_bound(runs: usize) -> f64 {
    1.0 - 0.05f64.powf(1.0 / runs.max(1) as f64)
}

/// The releases of `system` from `range`: `FROM..TO` (both listed, inclusive, in the
/// definition's order), `A,B,C` (each listed), or `None`: every release listed.
///
/// Errors: [`Error::Usage`] for a release the definition does not list (naming those it does),
/// a range whose ends are in the wrong order, fewer than two releases, or a definition without
/// releases.
pub fn releases(home: &Home, system: &str, range: Option<&str>) -> Result<Vec<String>> {
    let def = home.definition(system, None)?;
    let Some(versions) = &def.perseus.versions else {
        return Err(Error::Usage(format!(
            "the {system} definition lists no releases (x-perseus.versions), so there is nothing to bisect: `perseus systems` lists the systems that have some"
        )));
    };
    let all: Vec<String> = versions.all().into_iter().map(|r| r.version).collect();
    let find = |v: &str| {
        all.iter().position(|x| x == v).ok_or_else(|| {
            Error::Usage(format!(
                "--versions: {system} lists no release {v}: choose from {}",
                all.join(", ")
            ))
        })
    };
    let picked: Vec<String> = match range {
        None => all.clone(),
        Some(r) => match r.split_once("..") {
            Some((from, to)) => {
                let (a, b) = (find(from.trim())?, find(to.trim())?);
                if a > b {
                    return Err(Error::Usage(format!(
                        "--versions {r}: {from} comes after {to} in {system}'s list; give the older release first"
                    )));
                }
                all[a..=b].to_vec()
            }
            None => {
                let mut listed = Vec::new();
                for v in r.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                    listed.push(find(v)?);
                }
                listed.sort_unstable();
                listed.dedup();
                listed.into_iter().map(|i| all[i].clone()).collect()
            }
        },
    };
    if picked.len() < 2 {
        return Err(Error::Usage(format!(
            "--versions {}: a bisect needs at least two releases to compare",
            range.unwrap_or("")
        )));
    }
    Ok(picked)
}

/// Run `file`'s scenario on each release of `versions` (oldest first), as `opts` says, into a
/// new folder under `opts.runs_dir` (`<time>-bisect/`, which keeps the scenario as
/// `scenario.yaml` for `--resume`). Each release's lab is brought up for its runs and taken down
/// after them. `say` hears each probe's runs and verdicts as they come; `sink` gets the runs'
/// events. Cancelling `cancel` (Ctrl-C) stops after the run in progress has restored its faults;
/// what was measured is kept, and [`resume`] goes on from there.
///
/// Errors: [`Error::Usage`] when a lab of the system is up already (a bisect brings up its own
/// at each release); [`Error::Io`] when the folder cannot be written.
#[allow(clippy::too_many_arguments)] // the table's measure, plus the releases
pub async fn bisect(
    docker: &Docker,
    home: &Home,
    file: &ScenarioFile,
    versions: Vec<String>,
    opts: &BisectOptions,
    cancel: &CancellationToken,
    sink: &mut dyn Sink,
    say: &mut dyn FnMut(&str),
) -> Result<Bisect> {
    let system = file.scenario.system.system.clone();
    refuse_a_lab_up(docker, &system).await?;
    let folder = crate::report::stamped_dir(&opts.runs_dir, "bisect")?;
    crate::report::write_whole(&folder.join(SCENARIO), file.text.as_bytes())?;
    let mut b = Bisect {
        started: crate::report::now_rfc3339(),
        folder: folder.clone(),
        scenario: file.scenario.name.clone(),
        system,
        versions,
        options: opts.clone(),
        probes: Vec::new(),
        interrupted: false,
    };
    write(&b)?;
    let mut lab = Labs {
        docker,
        home,
        file,
        opts,
        folder: &folder,
        cancel,
        sink,
        say,
    };
    drive(&mut b, cancel, &mut lab).await?;
    Ok(b)
}

/// The scenario a bisect's folder keeps, for [`resume`].
pub const SCENARIO: &str = "scenario.yaml";

/// Go on with a bisect a Ctrl-C (or a crash) stopped, in its folder (`runs/<time>-bisect/`):
/// the releases it decided are kept and not probed again, a probe it stopped keeps its runs
/// and makes the rest (a run cut short is made again), and the releases it had not reached are
/// probed; `bisect.md` and `bisect.json` come out as if it had never stopped. Its scenario,
/// range and settings are the ones it was started with; `metrics`, if given, serves the runs'
/// live metrics.
///
/// Errors: [`crate::report::ReadError`] when the folder holds no readable `bisect.json` or no
/// `scenario.yaml`; [`Error::Usage`] for a bisect with nothing left to probe, or with a lab of
/// its system up; as [`bisect`].
#[allow(clippy::too_many_arguments)]
pub async fn resume(
    docker: &Docker,
    home: &Home,
    folder: &Path,
    metrics: Option<crate::metrics::Metrics>,
    cancel: &CancellationToken,
    sink: &mut dyn Sink,
    say: &mut dyn FnMut(&str),
) -> Result<Bisect> {
    let (mut b, file) = read(folder, home)?;
    b.options.metrics = metrics;
    b.options.runs_dir = folder.parent().unwrap_or(Path::new(".")).to_path_buf();
    if left(&b).is_empty() {
        return Err(Error::Usage(format!(
            "{} has every release it needs probed: nothing to resume (its verdicts are in {})",
            folder.display(),
            folder.join("bisect.md").display()
        )));
    }
    refuse_a_lab_up(docker, &b.system).await?;
    say(&format!(
        "bisect: resuming {}: {} of its {} releases are decided",
        folder.display(),
        b.decided(),
        b.versions.len()
    ));
    b.interrupted = false;
    let opts = b.options.clone();
    let mut lab = Labs {
        docker,
        home,
        file: &file,
        opts: &opts,
        folder,
        cancel,
        sink,
        say,
    };
    drive(&mut b, cancel, &mut lab).await?;
    Ok(b)
}

/// A bisect's folder read back: `bisect.json` (its folder set to `folder`) and its scenario.
fn read(folder: &Path, home: &Home) -> Result<(Bisect, ScenarioFile)> {
    use crate::report::ReadError;
    let not_one = |path: PathBuf| {
        move |source| ReadError::NotABisectFolder {
            dir: folder.to_path_buf(),
            path,
            source,
        }
    };
    let path = folder.join("bisect.json");
    let mut b: Bisect = crate::report::read_json(&path, "bisect", not_one(path.clone()))?;
    b.folder = folder.to_path_buf();
    let scenario = folder.join(SCENARIO);
    std::fs::metadata(&scenario).map_err(not_one(scenario.clone()))?;
    let file = ScenarioFile::load(&scenario, home)?;
    Ok((b, file))
}

async fn refuse_a_lab_up(docker: &Docker, system: &str) -> Result<()> {
    if lab::labs_up(docker).await?.contains(system) {
        return Err(Error::Usage(format!(
            "a {system} lab is up, and a bisect brings up its own at each release: run `perseus lab down {system}` first"
        )));
    }
    Ok(())
}

/// What probes a release for [`drive`]: on real labs ([`Labs`]), or in the unit tests on
/// made-up verdicts.
trait Prober {
    /// Probe `version`, going on from `prior` (the runs a stopped probe of it made).
    async fn probe(&mut self, version: &str, prior: Option<Probe>) -> Result<Probe>;
    /// Say a line of progress.
    fn say(&mut self, line: &str);
}

/// The releases a resumed `b` would probe first: [`next_undone`] as if its probes that Ctrl-C
/// stopped were not there (as [`drive`] takes them); empty when nothing is left to probe.
fn left(b: &Bisect) -> Vec<usize> {
    let mut settled = b.clone();
    settled.probes.retain(|p| p.complete);
    next_undone(&settled)
}

/// The releases still to probe, in order: for a scan every release without a complete probe;
/// for a binary search the ends first, then the middle [`next_binary`] picks.
fn next_undone(b: &Bisect) -> Vec<usize> {
    let done = |i: usize| {
        b.probes
            .iter()
            .any(|p| p.complete && p.version == b.versions[i])
    };
    let n = b.versions.len();
    match b.options.search {
        Search::Scan => (0..n).filter(|&i| !done(i)).collect(),
        Search::Binary => {
            let ends: Vec<usize> = [0, n - 1].into_iter().filter(|&i| !done(i)).collect();
            if ends.is_empty() {
                next_binary(b).into_iter().collect()
            } else {
                ends
            }
        }
    }
}

/// Probe what `b` has still to probe, writing `bisect.md` and `bisect.json` after each release.
/// A probe a Ctrl-C stopped (in `b` when resuming) is taken up where it was, without its runs
/// that were cut short (they measured nothing).
async fn drive(b: &mut Bisect, cancel: &CancellationToken, prober: &mut impl Prober) -> Result<()> {
    let mut stopped: std::collections::HashMap<String, Probe> = std::collections::HashMap::new();
    for mut p in std::mem::take(&mut b.probes) {
        if p.complete {
            b.probes.push(p);
        } else {
            p.runs.retain(|r| r.outcome != "interrupted");
            stopped.insert(p.version.clone(), p);
        }
    }
    let mut queue = std::collections::VecDeque::from(next_undone(b));
    while let Some(i) = queue.pop_front() {
        if cancel.is_cancelled() {
            break;
        }
        let version = b.versions[i].clone();
        let probe = prober.probe(&version, stopped.remove(&version)).await?;
        prober.say(&format!(
            "bisect: {}@{}: {} ({} clean of {} runs)",
            b.system,
            probe.version,
            probe.word(),
            probe.clean(),
            probe.runs.len()
        ));
        place(b, probe);
        write(b)?;
        if b.options.search == Search::Binary && queue.is_empty() {
            if let Some(next) = next_binary(b) {
                queue.push_back(next);
            }
        }
    }
    // A stopped probe not reached this time keeps its runs for the next resume.
    for (_, p) in stopped {
        place(b, p);
    }
    b.interrupted = cancel.is_cancelled();
    write(b)
}

/// Put `probe` among `b`'s probes in range order.
fn place(b: &mut Bisect, probe: Probe) {
    let i = b.index(&probe.version);
    let at = b
        .probes
        .iter()
        .position(|p| b.index(&p.version) > i)
        .unwrap_or(b.probes.len());
    b.probes.insert(at, probe);
}

/// [`Prober`] on real labs: each release's lab brought up for its runs, taken down after.
struct Labs<'a, 'b> {
    docker: &'a Docker,
    home: &'a Home,
    file: &'a ScenarioFile,
    opts: &'a BisectOptions,
    folder: &'a Path,
    cancel: &'a CancellationToken,
    sink: &'b mut dyn Sink,
    say: &'b mut dyn FnMut(&str),
}

impl Prober for Labs<'_, '_> {
    async fn probe(&mut self, version: &str, prior: Option<Probe>) -> Result<Probe> {
        probe(
            self.docker,
            self.home,
            self.file,
            version,
            prior,
            self.opts,
            self.cancel,
            self.sink,
            self.say,
            self.folder,
        )
        .await
    }

    fn say(&mut self, line: &str) {
        (self.say)(line)
    }
}

/// The next release a binary search probes: the middle of the first interval between two
/// probed releases whose verdicts differ and that has releases left between them; `None` when
/// there is none (the boundary is found, the ends agree), or when any probed release is
/// undecided (the search stops there, and `bisect.md` shows the releases not probed).
fn next_binary(b: &Bisect) -> Option<usize> {
    let probed: Vec<(usize, &Verdict)> = b
        .probes
        .iter()
        .filter_map(|p| b.index(&p.version).map(|i| (i, &p.verdict)))
        .collect();
    if probed.iter().any(|(_, v)| **v == Verdict::Undecided) {
        return None;
    }
    probed
        .windows(2)
        .find(|w| w[0].1 != w[1].1 && w[1].0 > w[0].0 + 1)
        .map(|w| (w[0].0 + w[1].0) / 2)
}

/// Probe one release: its lab up, runs until bad, `opts.runs` clean or `opts.budget` spent
/// (counting `prior`'s runs), its lab down. The probe is complete unless Ctrl-C ended it.
#[allow(clippy::too_many_arguments)]
async fn probe(
    docker: &Docker,
    home: &Home,
    file: &ScenarioFile,
    version: &str,
    prior: Option<Probe>,
    opts: &BisectOptions,
    cancel: &CancellationToken,
    sink: &mut dyn Sink,
    say: &mut dyn FnMut(&str),
    folder: &Path,
) -> Result<Probe> {
    let s = &file.scenario;
    let at = SystemRef {
        system: s.system.system.clone(),
        version: Some(version.to_string()),
    };
    let mut probe = Probe {
        version: version.to_string(),
        verdict: Verdict::Undecided,
        runs: prior.map(|p| p.runs).unwrap_or_default(),
        complete: false,
    };
    say(&format!("bisect: {at}: lab up"));
    let up = UpOptions {
        nodes: s.nodes,
        version: Some(version.to_string()),
        file: None,
        ready_timeout: None,
        images: Vec::new(),
        hosts: s.hosts.clone(),
        place: Vec::new(),
        lazyfs: false,
    };
    let mut progress = |l: &str| sink.event(&Event::Say(l.to_string()));
    let handle = match lab::up(docker, home, &at.system, &up, cancel, &mut progress).await {
        Ok(h) => h,
        // What the user or the machine must fix (no pip, a lab left up, a bad definition)
        // would fail every release alike: stop and say it.
        Err(e) if e.exit_code() == 2 => return Err(e),
        Err(e) => {
            // Ctrl-C while the lab came up says nothing about the release.
            let outcome = if cancel.is_cancelled() {
                Outcome::Interrupted
            } else {
                Outcome::Error
            };
            probe.runs.push(ProbeRun {
                folder: None,
                outcome: outcome.word().to_lowercase(),
                evidence: vec![format!("lab up: {e}")],
            });
            probe.complete = !cancel.is_cancelled();
            return Ok(probe);
        }
    };
    let mut scenario = s.clone();
    scenario.system = at.clone();
    let run_file = ScenarioFile {
        path: file.path.clone(),
        text: format!(
            "# perseus bisect: this scenario, run at {at}\n{}",
            file.text
        ),
        scenario,
    };
    let run_opts = RunOptions {
        lab: LabChoice::Running,
        afterwards: Afterwards::Keep,
        runs_dir: folder.to_path_buf(),
        history_max: Some(crate::history::DEFAULT_MAX_BYTES),
        hosts: Vec::new(),
        metrics: opts.metrics.clone(),
    };
    let clean = |p: &Probe| p.clean() >= opts.runs;
    while probe.runs.len() < opts.budget.max(opts.runs) && !clean(&probe) && !cancel.is_cancelled()
    {
        let n = probe.runs.len() + 1;
        say(&format!("bisect: {at}: run {n}"));
        let run = match runner::run(docker, home, &run_file, &run_opts, cancel, sink).await {
            Ok((rec, dir)) => {
                let evidence = match rec.outcome {
                    Outcome::Failed => rec
                        .verdicts
                        .iter()
                        .filter(|v| !v.passed)
                        .map(|v| format!("{}: {}", v.expectation, v.measured))
                        .collect(),
                    Outcome::Error | Outcome::Interrupted => rec.error.into_iter().collect(),
                    Outcome::Passed => Vec::new(),
                };
                ProbeRun {
                    folder: dir.file_name().map(|n| n.to_string_lossy().into_owned()),
                    outcome: rec.outcome.word().to_lowercase(),
                    evidence,
                }
            }
            Err(e) => ProbeRun {
                folder: None,
                outcome: if cancel.is_cancelled() {
                    "interrupted".into()
                } else {
                    "error".into()
                },
                evidence: vec![e.to_string()],
            },
        };
        say(&format!(
            "bisect: {at}: run {n}: {}{}{}",
            run.outcome,
            if run.evidence.is_empty() { "" } else { ": " },
            run.evidence.join("; ")
        ));
        let bad = run.outcome == "failed";
        probe.runs.push(run);
        if bad {
            probe.verdict = Verdict::Bad;
            break;
        }
    }
    if clean(&probe) {
        probe.verdict = Verdict::Good;
    }
    probe.complete = probe.verdict != Verdict::Undecided || !cancel.is_cancelled();
    if let Err(e) = handle.down().await {
        say(&format!("bisect: {at}: lab down failed: {e}"));
    }
    Ok(probe)
}

/// `bisect.md`: the releases, their verdicts and evidence, the changes, and what a good verdict
/// bounds.
pub fn markdown(b: &Bisect) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let o = &b.options;
    let _ = writeln!(
        s,
        "## Bisect: {} over {} {}..{} ({} release(s))\n",
        b.scenario,
        b.system,
        b.versions.first().map_or("", String::as_str),
        b.versions.last().map_or("", String::as_str),
        b.versions.len()
    );
    let _ = writeln!(
        s,
        "{}. A release is BAD after one run in which an expectation did not hold, good after {} clean run(s), undecided when neither happened within {} run(s). {} clean runs rule out (at 95 %) a failure rate above {:.0} % per run, not a rarer one.{}\n",
        match o.search {
            Search::Scan => "Every release in the range was probed in order (scan)".to_string(),
            Search::Binary => "Binary search: the ends, then halves; right only if the verdict changes exactly once in the range".to_string(),
        },
        o.runs,
        o.budget.max(o.runs),
        o.runs,
        good_bound(o.runs) * 100.0,
        if b.interrupted { " Interrupted (Ctrl-C): what was measured is below; `perseus bisect --resume` on this folder goes on with it." } else { "" }
    );
    let _ = writeln!(s, "| release | verdict | runs | evidence |");
    let _ = writeln!(s, "| --- | --- | --- | --- |");
    for v in &b.versions {
        match b.probes.iter().find(|p| p.version == *v) {
            Some(p) => {
                let runs: Vec<String> = p
                    .runs
                    .iter()
                    .map(|r| match &r.folder {
                        Some(f) => format!("[{}]({f}/report.md)", r.outcome),
                        None => r.outcome.clone(),
                    })
                    .collect();
                let evidence: Vec<String> = p
                    .runs
                    .iter()
                    .flat_map(|r| r.evidence.iter().cloned())
                    .map(|e| e.replace('|', "\\|").replace('\n', " "))
                    .collect();
                let _ = writeln!(
                    s,
                    "| {v} | {} | {} | {} |",
                    p.word(),
                    runs.join(", "),
                    if evidence.is_empty() {
                        "-".to_string()
                    } else {
                        evidence.join("; ")
                    }
                );
            }
            None => {
                let _ = writeln!(s, "| {v} | not probed | - | - |");
            }
        }
    }
    let changes = b.changes();
    let _ = writeln!(s);
    if changes.is_empty() {
        let _ = writeln!(
            s,
            "No change of verdict among the {} decided release(s).",
            b.decided()
        );
    }
    for c in &changes {
        let _ = writeln!(
            s,
            "The verdict changes between {} ({}) and {} ({}){}.",
            c.from,
            c.from_verdict.word(),
            c.to,
            c.to_verdict.word(),
            if c.between.is_empty() {
                String::new()
            } else {
                format!(", with {} not decided between them", c.between.join(", "))
            }
        );
    }
    s
}

/// Write `bisect.md` and `bisect.json` into the bisect's folder.
fn write(b: &Bisect) -> Result<()> {
    crate::report::write_summary(&b.folder, "bisect", markdown(b), b)
}

#[cfg(test)]
mod tests;
