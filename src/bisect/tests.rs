//! The unit tests of `perseus bisect`: verdicts, changes, binary search, ranges, and a stopped
//! bisect resumed against one never stopped, on made-up releases.

use super::*;

fn probed(version: &str, verdict: Verdict) -> Probe {
    let outcome = match verdict {
        Verdict::Good => "passed",
        Verdict::Bad => "failed",
        Verdict::Undecided => "error",
    };
    Probe {
        version: version.into(),
        verdict,
        runs: vec![ProbeRun {
            folder: Some(format!("r-{version}")),
            outcome: outcome.into(),
            evidence: if outcome == "failed" {
                vec!["at most 0 lost writes: 2 lost writes".into()]
            } else {
                Vec::new()
            },
        }],
        complete: true,
    }
}

fn bisect(versions: &[&str], probes: Vec<Probe>, search: Search) -> Bisect {
    Bisect {
        started: String::new(),
        folder: PathBuf::from("/tmp"),
        scenario: "nats-kill-leader".into(),
        system: "nats".into(),
        versions: versions.iter().map(|v| v.to_string()).collect(),
        options: BisectOptions {
            runs: 3,
            budget: 5,
            search,
            runs_dir: PathBuf::from("runs"),
            metrics: None,
        },
        probes,
        interrupted: false,
    }
}

/// A [`Prober`] on made-up releases: each release's runs come out as `outcomes` lists them
/// (`p` passed, `f` failed, `e` error), with the probing rules of the real one; after
/// `stop_after` runs in all it cancels, as a Ctrl-C would, cutting that run short.
struct Made {
    outcomes: std::collections::HashMap<String, &'static str>,
    runs: usize,
    budget: usize,
    stop_after: Option<usize>,
    cancel: CancellationToken,
    /// Every run made, as "version/n".
    made: Vec<String>,
    /// The releases probed, in order.
    probed: Vec<String>,
}

impl Made {
    fn new(outcomes: &[(&str, &'static str)], stop_after: Option<usize>) -> Made {
        Made {
            outcomes: outcomes.iter().map(|(v, o)| (v.to_string(), *o)).collect(),
            runs: 3,
            budget: 5,
            stop_after,
            cancel: CancellationToken::new(),
            made: Vec::new(),
            probed: Vec::new(),
        }
    }
}

impl Prober for Made {
    async fn probe(&mut self, version: &str, prior: Option<Probe>) -> Result<Probe> {
        self.probed.push(version.to_string());
        let mut p = Probe {
            version: version.into(),
            verdict: Verdict::Undecided,
            runs: prior.map(|p| p.runs).unwrap_or_default(),
            complete: false,
        };
        let plan: Vec<char> = self.outcomes[version].chars().collect();
        while p.runs.len() < self.budget && p.clean() < self.runs {
            let n = p.runs.len();
            if self.stop_after == Some(self.made.len()) {
                self.cancel.cancel();
                p.runs.push(ProbeRun {
                    folder: Some(format!("cut-{version}-{n}")),
                    outcome: "interrupted".into(),
                    evidence: Vec::new(),
                });
                return Ok(p);
            }
            self.made.push(format!("{version}/{n}"));
            let outcome = match plan.get(n).copied().unwrap_or('p') {
                'f' => "failed",
                'e' => "error",
                _ => "passed",
            };
            p.runs.push(ProbeRun {
                folder: Some(format!("r-{version}-{n}")),
                outcome: outcome.into(),
                evidence: Vec::new(),
            });
            if outcome == "failed" {
                p.verdict = Verdict::Bad;
                break;
            }
        }
        if p.clean() >= self.runs {
            p.verdict = Verdict::Good;
        }
        p.complete = true;
        Ok(p)
    }

    fn say(&mut self, _line: &str) {}
}

/// A bisect stopped after `stop_after` runs, read back from its `bisect.json` and resumed
/// (as often as it takes), against the same bisect never stopped: the same probes, every
/// run made once, none of a decided release repeated.
fn stopped_and_resumed_is_as_if_never_stopped(search: Search, stop_after: usize) {
    let v = ["1", "2", "3", "4", "5", "6", "7"];
    let outcomes = [
        ("1", "pfp"),
        ("2", "f"),
        ("3", "eepp"),
        ("4", "ppp"),
        ("5", "pppp"),
        ("6", "epepe"),
        ("7", "pepp"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let whole = {
        let mut b = bisect(&v, Vec::new(), search);
        b.folder = dir.path().join("whole");
        std::fs::create_dir_all(&b.folder).unwrap();
        let mut m = Made::new(&outcomes, None);
        let cancel = m.cancel.clone();
        futures_executor(drive(&mut b, &cancel, &mut m)).unwrap();
        assert!(!b.interrupted);
        (b, m.made)
    };
    let folder = dir.path().join("stopped");
    std::fs::create_dir_all(&folder).unwrap();
    let mut b = bisect(&v, Vec::new(), search);
    b.folder = folder.clone();
    let mut m = Made::new(&outcomes, Some(stop_after));
    let cancel = m.cancel.clone();
    futures_executor(drive(&mut b, &cancel, &mut m)).unwrap();
    assert!(b.interrupted, "stopped after {stop_after} runs");
    // A probe Ctrl-C ended reads as stopped, not undecided, and the way on is named.
    let md = markdown(&b);
    assert!(
        md.contains("`perseus bisect --resume` on this folder"),
        "{md}"
    );
    let cut = b
        .probes
        .iter()
        .find(|p| !p.complete)
        .expect("the probe Ctrl-C ended");
    assert!(
        md.contains(&format!("| {} | stopped |", cut.version)),
        "{md}"
    );
    let mut made = m.made;
    let mut decided: Vec<String> = b
        .probes
        .iter()
        .filter(|p| p.complete)
        .map(|p| p.version.clone())
        .collect();
    for _ in 0..3 {
        // As `--resume` reads it: from bisect.json.
        let text = std::fs::read_to_string(folder.join("bisect.json")).unwrap();
        let mut b: Bisect = serde_json::from_str(&text).unwrap();
        if !b.interrupted {
            break;
        }
        assert!(!left(&b).is_empty(), "a stopped bisect has releases left");
        b.folder = folder.clone();
        b.interrupted = false;
        // Stop once more, two runs in, the first time round.
        let again = (made.len() == stop_after).then_some(2);
        let mut m = Made::new(&outcomes, again);
        let cancel = m.cancel.clone();
        futures_executor(drive(&mut b, &cancel, &mut m)).unwrap();
        for v in &m.probed {
            assert!(!decided.contains(v), "{v} was decided and probed again");
        }
        decided.extend(
            b.probes
                .iter()
                .filter(|p| p.complete)
                .map(|p| p.version.clone()),
        );
        made.extend(m.made);
    }
    let text = std::fs::read_to_string(folder.join("bisect.json")).unwrap();
    let b: Bisect = serde_json::from_str(&text).unwrap();
    assert!(!b.interrupted);
    assert!(left(&b).is_empty(), "nothing left to resume");
    assert_eq!(b.probes, whole.0.probes, "the probes, as if never stopped");
    assert_eq!(made, whole.1, "every run made once, in the same order");
    assert_eq!(
        std::fs::read_to_string(folder.join("bisect.md")).unwrap(),
        markdown(&b)
    );
}

/// Drive a future to its end on the current thread (the made-up prober never waits).
fn futures_executor<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn a_stopped_scan_resumed_makes_each_run_once_and_ends_as_if_never_stopped() {
    for stop_after in [0, 1, 3, 5, 8, 12] {
        stopped_and_resumed_is_as_if_never_stopped(Search::Scan, stop_after);
    }
}

#[test]
fn a_stopped_binary_search_resumed_probes_the_same_releases() {
    for stop_after in [0, 2, 4, 6, 9] {
        stopped_and_resumed_is_as_if_never_stopped(Search::Binary, stop_after);
    }
}

#[test]
fn a_good_verdict_states_the_failure_rate_it_rules_out() {
    assert!((good_bound(3) - 0.6316).abs() < 1e-3);
    assert!((good_bound(10) - 0.2589).abs() < 1e-3);
    assert!((good_bound(1) - 0.95).abs() < 1e-9);
    // Checked against the definition: with p at the bound, N clean runs have probability 5 %.
    for n in [1, 3, 10, 30] {
        let p = good_bound(n);
        assert!(((1.0 - p).powi(n as i32) - 0.05).abs() < 1e-9);
    }
}

#[test]
fn every_change_of_verdict_is_found_undecided_releases_between_are_named() {
    let v = ["2.9.10", "2.10.25", "2.11.0", "2.11.1", "2.12.0"];
    let b = bisect(
        &v,
        vec![
            probed("2.9.10", Verdict::Bad),
            probed("2.10.25", Verdict::Bad),
            probed("2.11.0", Verdict::Undecided),
            probed("2.11.1", Verdict::Good),
            probed("2.12.0", Verdict::Bad),
        ],
        Search::Scan,
    );
    let c = b.changes();
    assert_eq!(c.len(), 2, "{c:?}");
    assert_eq!(
        (c[0].from.as_str(), c[0].to.as_str(), c[0].between.clone()),
        ("2.10.25", "2.11.1", vec!["2.11.0".to_string()])
    );
    assert_eq!((c[1].from.as_str(), c[1].to.as_str()), ("2.11.1", "2.12.0"));
    let md = markdown(&b);
    assert!(md.contains("| 2.9.10 | BAD | [failed](r-2.9.10/report.md) | at most 0 lost writes: 2 lost writes |"), "{md}");
    assert!(md.contains("The verdict changes between 2.10.25 (BAD) and 2.11.1 (good), with 2.11.0 not decided between them."), "{md}");
    assert!(
        md.contains("The verdict changes between 2.11.1 (good) and 2.12.0 (BAD)."),
        "{md}"
    );
    assert!(
        md.contains("3 clean runs rule out (at 95 %) a failure rate above 63 % per run"),
        "{md}"
    );
}

#[test]
fn binary_search_halves_the_interval_whose_ends_differ_and_stops_when_they_agree() {
    let v = ["1", "2", "3", "4", "5", "6", "7", "8", "9"];
    let mut b = bisect(
        &v,
        vec![probed("1", Verdict::Bad), probed("9", Verdict::Good)],
        Search::Binary,
    );
    assert_eq!(next_binary(&b), Some(4), "the middle of 1..9");
    b.probes.insert(1, probed("5", Verdict::Bad));
    assert_eq!(next_binary(&b), Some(6), "between 5 (bad) and 9 (good)");
    b.probes.insert(2, probed("7", Verdict::Good));
    b.probes.insert(2, probed("6", Verdict::Good));
    assert_eq!(next_binary(&b), None, "5 bad, 6 good: found");
    assert_eq!(b.changes()[0].from, "5");
    assert_eq!(b.changes()[0].to, "6");
    let agree = bisect(
        &v,
        vec![probed("1", Verdict::Good), probed("9", Verdict::Good)],
        Search::Binary,
    );
    assert_eq!(
        next_binary(&agree),
        None,
        "the ends agree: nothing to halve"
    );
    let unsure = bisect(
        &v,
        vec![probed("1", Verdict::Bad), probed("9", Verdict::Undecided)],
        Search::Binary,
    );
    assert_eq!(
        next_binary(&unsure),
        None,
        "an undecided end stops the search"
    );
    assert!(
        markdown(&agree).contains("Binary search"),
        "the assumption is stated"
    );
}

#[test]
fn ranges_name_listed_releases_in_order() {
    let home = Home::at(env!("CARGO_MANIFEST_DIR"));
    let r = releases(&home, "etcd", None).unwrap();
    assert_eq!(r, ["3.4.23", "3.5.0", "3.5.1"]);
    assert_eq!(
        releases(&home, "etcd", Some("3.5.0..3.5.1")).unwrap(),
        ["3.5.0", "3.5.1"]
    );
    assert_eq!(
        releases(&home, "etcd", Some("3.5.1,3.4.23")).unwrap(),
        ["3.4.23", "3.5.1"]
    );
    let nats = releases(&home, "nats", Some("2.9.10..2.11.0")).unwrap();
    assert_eq!(nats, ["2.9.10", "2.10.25", "2.10.26", "2.11.0"]);
    for (bad, says) in [
        ("3.5.1..3.4.23", "give the older release first"),
        ("3.4.23..3.6.0", "lists no release 3.6.0"),
        ("3.5.1", "at least two releases"),
    ] {
        let e = releases(&home, "etcd", Some(bad)).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains(says), "{e}");
    }
    let e = releases(&home, "redis", None).unwrap_err();
    assert!(e.to_string().contains("lists no releases"), "{e}");
}
