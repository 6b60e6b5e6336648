//! The lab as an owning handle: what `lab up` made is removed when Ctrl-C stops it, and when a
//! handle is dropped without being kept or taken down; a definition whose bind mount is missing
//! is refused before anything is made.

mod common;

use std::time::{Duration, Instant};

use common::*;
use perseus::lab::{self, Home, UpOptions};
use tokio_util::sync::CancellationToken;

fn one_node() -> UpOptions {
    UpOptions {
        version: None,
        nodes: 1,
        file: None,
        ready_timeout: None,
        images: Vec::new(),
        hosts: Vec::new(),
        place: Vec::new(),
        lazyfs: false,
    }
}

#[test]
fn a_dropped_handle_removes_its_lab_and_a_kept_one_leaves_it_up() {
    let _guard = LabGuard::lock_only("redis");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let home = Home::at(env!("CARGO_MANIFEST_DIR"));
    let up = |rt: &tokio::runtime::Runtime| {
        rt.block_on(async {
            let docker = perseus::docker::connect().await.unwrap();
            lab::up(
                &docker,
                &home,
                "redis",
                &one_node(),
                &CancellationToken::new(),
                &mut |_| {},
            )
            .await
            .unwrap()
        })
    };
    let handle = up(&rt);
    assert_eq!(handle.nodes.len(), 1);
    // The node and its network helper, the network, the volume.
    assert_eq!(leftovers("redis"), (2, 1, 1));
    // Dropped without down() or keep(): the safety net removes everything (a panicking test, an
    // early return).
    drop(handle);
    assert_eq!(
        leftovers("redis"),
        (0, 0, 0),
        "the dropped handle removed its lab"
    );

    let kept = rt.block_on(up(&rt).keep());
    assert_eq!(
        leftovers("redis"),
        (2, 1, 1),
        "a kept lab stays up for later commands"
    );
    let status = run(&["lab", "status", "redis", "--json"], 0);
    assert!(
        stdout(&status).contains(&kept.nodes[0].main),
        "{}",
        stdout(&status)
    );
    run(&["lab", "down", "redis"], 0);
    assert_eq!(leftovers("redis"), (0, 0, 0));
}

#[test]
fn ctrl_c_during_lab_up_removes_what_it_had_made() {
    let _guard = LabGuard::lock_only("galera");
    // Galera takes more than ten seconds to form its cluster: Ctrl-C lands while `up` waits.
    let child = perseus()
        .args(["lab", "up", "galera"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while leftovers("galera").0 < 3 {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "lab up never created its containers"
        );
        sleep_s(0.2);
    }
    let signalled = unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(signalled, 0);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("removing what lab up created"), "{err}");
    assert!(
        err.contains("failed; removing what it created (interrupted)"),
        "{err}"
    );
    assert!(
        err.trim_end().ends_with("perseus: interrupted"),
        "one last line says why: {err}"
    );
    assert_eq!(
        leftovers("galera"),
        (0, 0, 0),
        "nothing of the interrupted lab is left"
    );
}

#[test]
fn a_missing_bind_source_is_refused_before_anything_is_made() {
    let _guard = LabGuard::lock_only("redis");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("redis.yaml");
    std::fs::write(
        &file,
        "services:\n  n1:\n    image: perseus/redis:7\n    volumes: [\"./missing.conf:/etc/perseus/redis.conf:ro\"]\nx-perseus:\n  system: redis\n  client-port: 6379\n  template: n1\n",
    )
    .unwrap();
    let out = run(
        &[
            "lab",
            "up",
            "redis",
            "--nodes",
            "1",
            "--file",
            file.to_str().unwrap(),
        ],
        2,
    );
    let err = stderr(&out);
    let missing = std::fs::canonicalize(dir.path())
        .unwrap()
        .join("missing.conf");
    assert_eq!(
        err.trim(),
        format!(
            "perseus: n1 mounts {}, which does not exist: create it, or fix the path in the definition",
            missing.display()
        )
    );
    assert_eq!(leftovers("redis"), (0, 0, 0));
}
