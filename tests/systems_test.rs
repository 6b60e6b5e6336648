//! The systems the lab knows come from the definitions in `compose/`, each resolved to its
//! implementation (`x-perseus.kind`); a database that speaks the protocol of a known system is one
//! compose file.

mod common;

use common::*;
use perseus::lab::Home;

#[test]
fn the_systems_come_from_the_definitions() {
    require_docker();
    let out = run(&["systems", "--json"], 0);
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = listed
        .iter()
        .map(|s| s["system"].as_str().unwrap())
        .collect();
    let home = Home::at(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(names, home.systems(), "one entry per compose file");
    let entry = |name: &str| listed.iter().find(|s| s["system"] == name).unwrap();
    assert_eq!(entry("etcd")["kind"], "etcd");
    assert_eq!(
        entry("etcd")["leader_targets"],
        serde_json::json!(["leader"])
    );
    assert_eq!(
        entry("tidb")["leader_targets"],
        serde_json::json!(["leader", "pd-leader"])
    );
    assert_eq!(entry("galera")["leader_targets"], serde_json::json!([]));
    assert_eq!(entry("etcd")["images"][0]["built_here"], true);
    assert_eq!(entry("cockroach")["images"][0]["built_here"], false);
    let out = run(&["lab", "images", "--all"], 0);
    let err = stderr(&out);
    assert!(
        err.contains("cockroach: runs official images, not built here: cockroachdb/cockroach:"),
        "{err}"
    );
    assert!(err.contains("perseus/etcd:3.4.23 exists, reused"), "{err}");
    // The releases each definition lists, where each comes from, and which is the default.
    let releases = |name: &str| entry(name)["releases"].as_array().unwrap().clone();
    let etcd = releases("etcd");
    let version = |r: &serde_json::Value| r["version"].as_str().unwrap().to_string();
    assert_eq!(
        etcd.iter().map(version).collect::<Vec<_>>(),
        ["3.4.23", "3.5.0", "3.5.1"]
    );
    assert_eq!(
        (etcd[0]["source"].as_str(), etcd[0]["default"].as_bool()),
        (Some("debian"), Some(true))
    );
    assert_eq!(etcd[0]["present"], true, "CI builds the default release");
    assert_eq!(etcd[2]["source"], "pypi");
    assert!(etcd[2]["note"].as_str().unwrap().contains("etcd#13766"));
    let nats = releases("nats");
    assert_eq!(version(&nats[0]), "2.9.10");
    assert!(nats.len() >= 4 && nats.iter().any(|r| r["version"] == "2.15.1"));
    let patroni = releases("patroni");
    assert!(patroni
        .iter()
        .any(|r| r["version"] == "3.0.2" && r["default"] == true));
    assert!(patroni
        .iter()
        .any(|r| r["version"] == "3.0.3" && r["source"] == "pypi"));
    assert!(releases("redis").is_empty(), "redis lists no releases");
    let table = stdout(&run(&["systems"], 0));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("etcd ") && l.contains("debian: 3.4.23*+; pypi: 3.5.0")),
        "{table}"
    );
}

#[test]
fn a_release_that_cannot_be_had_is_refused_in_one_line_before_anything_is_made() {
    let _guard = LabGuard::lock_only("etcd");
    for (args, says) in [
        (
            vec!["lab", "up", "etcd@3.6.0"],
            "etcd has no release 3.6.0 that builds here: choose one of 3.4.23, 3.5.0, 3.5.1",
        ),
        (
            vec!["lab", "up", "redis@7.2"],
            "the redis definition lists no releases",
        ),
        (vec!["lab", "up", "etcd@"], "the version '' is empty"),
        (
            vec!["lab", "images", "nats@2.13.0"],
            "nats has no release 2.13.0",
        ),
        (
            vec!["table", "etcd@3.6.0", "--plan"],
            "etcd has no release 3.6.0",
        ),
        (
            vec!["demo", "--system", "etcd@3.6.0"],
            "etcd has no release 3.6.0",
        ),
        (
            vec!["lab", "status", "etcd@3.6.0"],
            "etcd has no release 3.6.0",
        ),
        (
            vec!["lab", "down", "etcd@3.6.0"],
            "etcd has no release 3.6.0",
        ),
        (
            vec!["lab", "up", "etcd@3.5.1", "--image", "perseus/etcd:mine"],
            "etcd@3.5.1 and --image both choose etcd's image: give one of them",
        ),
    ] {
        let out = run(&args, 2);
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(leftovers("etcd"), (0, 0, 0));
    assert_eq!(leftovers("redis"), (0, 0, 0));
}

#[test]
fn a_system_that_speaks_a_known_protocol_is_one_compose_file() {
    let _guard = LabGuard::lock_only("keydb");
    // A home of our own: the repository's docker/ and etc/, and a compose/ with one new file.
    let home = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["docker", "etc"] {
        std::os::unix::fs::symlink(repo.join(dir), home.path().join(dir)).unwrap();
    }
    std::fs::create_dir(home.path().join("compose")).unwrap();
    let redis = std::fs::read_to_string(repo.join("compose/redis.yaml")).unwrap();
    let keydb = redis.replace("  system: redis\n", "  system: keydb\n  kind: redis\n");
    assert_ne!(keydb, redis);
    std::fs::write(home.path().join("compose/keydb.yaml"), keydb).unwrap();
    let at_home = |args: &[&str], expect: i32| {
        let out = perseus()
            .env("PERSEUS_HOME", home.path())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(expect),
            "perseus {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    at_home(&["lab", "up", "keydb", "--nodes", "2"], 0);
    let out = at_home(&["load", "keydb", "--duration", "3s", "--json"], 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<u64>> = stdout
        .lines()
        .map(|l| l.split('\t').map(|c| c.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 3, "{stdout}");
    assert!(
        rows.iter().all(|r| r[2] > 0 && r[3] > 0),
        "both keydb nodes serve through the redis driver: {stdout}"
    );
    let err = String::from_utf8_lossy(&at_home(&["fault", "kill", "keydb", "leader"], 2).stderr)
        .into_owned();
    assert!(
        err.contains("keydb has no leader: target a node by name"),
        "the redis implementation has no leader: {err}"
    );
    at_home(&["lab", "down", "keydb"], 0);
    assert_eq!(leftovers("keydb"), (0, 0, 0));
}

/// A Perseus home with no system yet (`compose/` empty) that has the checkout's `etc/` and the
/// network helper's image folder, and the checkout's path.
fn home_of_our_own() -> (tempfile::TempDir, &'static std::path::Path) {
    let home = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::os::unix::fs::symlink(repo.join("etc"), home.path().join("etc")).unwrap();
    for dir in ["compose", "docker"] {
        std::fs::create_dir_all(home.path().join(dir)).unwrap();
    }
    std::os::unix::fs::symlink(
        repo.join("docker/nettools"),
        home.path().join("docker/nettools"),
    )
    .unwrap();
    (home, repo)
}

#[test]
fn a_build_that_fails_says_which_step_and_leaves_no_image() {
    let _guard = LabGuard::lock_only("broken");
    // A home of our own whose one system's Dockerfile fails in its last step.
    let (home, repo) = home_of_our_own();
    std::fs::create_dir_all(home.path().join("docker/broken")).unwrap();
    std::fs::write(
        home.path().join("docker/broken/Dockerfile"),
        "ARG BASE=debian:bookworm-slim\nFROM ${BASE}\nRUN echo the step before the failure\nRUN echo failing on purpose >&2 && false\n",
    )
    .unwrap();
    let redis = std::fs::read_to_string(repo.join("compose/redis.yaml")).unwrap();
    let broken = redis
        .replace("  system: redis\n", "  system: broken\n  kind: redis\n")
        .replace("perseus/redis:7", "perseus/broken:1")
        .replace("../docker/redis", "../docker/broken");
    assert_ne!(broken, redis);
    std::fs::write(home.path().join("compose/broken.yaml"), broken).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let image_exists = || {
        rt.block_on(async {
            docker()
                .await
                .inspect_image("perseus/broken:1")
                .await
                .is_ok()
        })
    };
    assert!(!image_exists(), "no perseus/broken:1 before the build");

    let out = perseus()
        .env("PERSEUS_HOME", home.path())
        .args(["lab", "images", "broken"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("perseus: building image perseus/broken:1 failed: The command '/bin/sh -c echo failing on purpose >&2 && false' returned a non-zero code: 1"),
        "the builder's own error: {err}"
    );
    assert!(
        err.contains("last build output:") && err.contains("failing on purpose"),
        "the step's output: {err}"
    );
    assert!(
        !err.contains("the image is complete"),
        "a failed build is never taken for a whole one: {err}"
    );
    assert!(!image_exists(), "no image is left");
}

#[test]
fn lab_images_builds_up_to_jobs_images_side_by_side_and_a_shared_one_once() {
    let _guard = LabGuard::lock_only("sidebyside1");
    // A home of three systems whose images each take 2 s to build (a `sleep` step), all three
    // sharing the network helper's image.
    let (home, repo) = home_of_our_own();
    let redis = std::fs::read_to_string(repo.join("compose/redis.yaml")).unwrap();
    let tags: Vec<String> = (1..=3)
        .map(|i| format!("perseus/sidebyside{i}:1"))
        .collect();
    for i in 1..=3 {
        let name = format!("sidebyside{i}");
        std::fs::create_dir_all(home.path().join("docker").join(&name)).unwrap();
        // The image's own tag in a step, so that no two builds share a cached layer.
        std::fs::write(
            home.path().join("docker").join(&name).join("Dockerfile"),
            format!("ARG BASE=debian:bookworm-slim\nFROM ${{BASE}}\nRUN sleep 2 && echo {name}\n"),
        )
        .unwrap();
        let def = redis
            .replace(
                "  system: redis\n",
                &format!("  system: {name}\n  kind: redis\n"),
            )
            .replace("perseus/redis:7", &tags[i - 1])
            .replace("../docker/redis", &format!("../docker/{name}"));
        assert_ne!(def, redis);
        std::fs::write(
            home.path().join("compose").join(format!("{name}.yaml")),
            def,
        )
        .unwrap();
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let remove_images = || {
        rt.block_on(async {
            let docker = docker().await;
            for tag in &tags {
                let _ = docker
                    .remove_image(
                        tag,
                        None::<bollard::query_parameters::RemoveImageOptions>,
                        None,
                    )
                    .await;
            }
        })
    };
    remove_images();
    let images = |args: &[&str]| {
        let out = perseus()
            .env("PERSEUS_HOME", home.path())
            .args(["lab", "images"])
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(0), "{err}");
        err
    };
    // Where in the output each image's build started and ended.
    let at = |err: &str, what: &str, tag: &str| {
        err.lines()
            .position(|l| l.starts_with(&format!("{what} {tag} ")))
            .unwrap_or_else(|| panic!("no `{what} {tag}` line: {err}"))
    };

    // Two at a time: the first two start before either ends, the third once one has ended.
    let err = images(&["--all", "--jobs", "2"]);
    let (started, ended): (Vec<usize>, Vec<usize>) = (
        tags.iter().map(|t| at(&err, "building", t)).collect(),
        tags.iter().map(|t| at(&err, "built", t)).collect(),
    );
    let first_end = *ended.iter().min().unwrap();
    let mut starts = started.clone();
    starts.sort();
    assert!(
        starts[1] < first_end && starts[2] > first_end,
        "two builds side by side, the third after one ended: {err}"
    );
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("perseus/nettools:2 exists")
                || l.starts_with("building perseus/nettools:2 "))
            .count(),
        1,
        "the image all three share is looked at once: {err}"
    );

    // One at a time (the three again, from the build cache): each ends before the next starts.
    remove_images();
    let err = images(&["--all", "--jobs", "1"]);
    let mut spans: Vec<(usize, usize)> = tags
        .iter()
        .map(|t| (at(&err, "building", t), at(&err, "built", t)))
        .collect();
    spans.sort();
    assert!(
        spans.windows(2).all(|w| w[0].1 < w[1].0),
        "one build at a time: {err}"
    );

    // No builds at all is refused before anything happens.
    let out = perseus()
        .env("PERSEUS_HOME", home.path())
        .args(["lab", "images", "--all", "--jobs", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "perseus: --jobs 0 is out of range: give 1 to 16 (builds at once)\n"
    );
    remove_images();
}
