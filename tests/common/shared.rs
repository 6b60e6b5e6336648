//! Labs shared between the checks of one system ([`super::LabGuard::shared`]).
//!
//! nextest runs every test in a process of its own, so a lab outlives the check that made it only
//! by being handed on: a check that passed restores its lab (every fault undone, every node
//! serving) and leaves a file, `<system>.<nonce>.idle`, in [`dir`], holding the ID of the lab's
//! network; the next check of that system takes the file (a rename, which one process wins) and,
//! if that network is still the lab's and the lab is ready, uses the lab instead of making one.
//! Anything else (a check that failed, a lab made again by another check, a file nobody took)
//! leads to a fresh lab, as before.
//!
//! Nothing is left behind: a check that takes a Docker lock of its own ([`super::LabGuard::up`],
//! [`super::LabGuard::lock_only`]) first removes every idle lab, so it never runs beside one; and
//! each hand-on starts a reaper that removes the lab after [`IDLE`] unless a check took it first
//! (it must win the same rename). So the last shared lab of a suite is gone 30 s after it ends.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use super::{docker, perseus};

/// How long a lab handed on waits for the next check of its system before it is removed.
pub const IDLE: Duration = Duration::from_secs(30);

/// [`IDLE`], or the seconds in `PERSEUS_TEST_SHARED_IDLE` (for the test of the reaper).
fn idle() -> Duration {
    std::env::var("PERSEUS_TEST_SHARED_IDLE")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(IDLE, Duration::from_secs)
}

/// The nodes of a shared lab: the default, `lab up` without `--nodes`.
const NODES: usize = 3;

/// Where idle labs are handed on (in the tests' own temporary folder under `target/`).
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("perseus-shared-labs")
}

/// The idle files of `system` (any nonce), or of every system for `None`: (system, path).
fn idle_files(system: Option<&str>) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let (s, rest) = name.split_once('.')?;
            rest.ends_with(".idle").then(|| (s.to_string(), e.path()))
        })
        .filter(|(s, _)| system.is_none_or(|want| want == s))
        .collect()
}

/// Take `path` (an idle file): `Some(network id)` when this process won it.
fn take_file(path: &std::path::Path) -> Option<String> {
    let mine = path.with_extension(format!("taken-{}", std::process::id()));
    std::fs::rename(path, &mine).ok()?;
    let id = std::fs::read_to_string(&mine).ok();
    let _ = std::fs::remove_file(&mine);
    id.map(|s| s.trim().to_string())
}

/// Take the idle lab of `system`, if one was handed on and is still clean: the network is the
/// one handed on, the lab has its default nodes, no fault is in force, and it is ready.
pub fn take(system: &str) -> bool {
    let mut taken = None;
    for (_, path) in idle_files(Some(system)) {
        if let Some(id) = take_file(&path) {
            taken = Some(id);
        }
    }
    let Some(id) = taken else {
        return false;
    };
    let ok = runtime().block_on(async {
        let lab = super::open_lab_checked(system).await?;
        if lab.nodes.len() != NODES || network_id(&lab).await.as_deref() != Some(id.as_str()) {
            return None;
        }
        perseus::fault::restore(&lab).await.ok()?;
        perseus::lab::wait_ready(&lab, Duration::from_secs(60))
            .await
            .ok()
    });
    if ok.is_none() {
        eprintln!("shared lab: the {system} lab handed on is not clean; making a fresh one");
    }
    ok.is_some()
}

/// Remove every idle lab, but `except`'s.
pub fn retire(except: Option<&str>) {
    for (system, path) in idle_files(None) {
        if Some(system.as_str()) == except {
            continue;
        }
        if take_file(&path).is_some() {
            let _ = perseus().args(["lab", "down", &system]).output();
        }
    }
}

/// Hand the lab of `system` on to the next check: restore it, and leave its idle file and a
/// reaper. Returns false (and hands nothing on) when it cannot be restored or made ready.
pub fn hand_on(system: &str) -> bool {
    let id = runtime().block_on(async {
        let lab = super::open_lab_checked(system).await?;
        perseus::fault::restore(&lab).await.ok()?;
        perseus::lab::wait_ready(&lab, Duration::from_secs(60))
            .await
            .ok()?;
        network_id(&lab).await
    });
    let Some(id) = id else {
        return false;
    };
    let nonce = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );
    if std::fs::create_dir_all(dir()).is_err() {
        return false;
    }
    let file = dir().join(format!("{system}.{nonce}.idle"));
    let tmp = file.with_extension("writing");
    if std::fs::write(&tmp, &id).is_err() || std::fs::rename(&tmp, &file).is_err() {
        return false;
    }
    // The reaper: after IDLE, it removes the lab if it wins the idle file (a check that took it
    // first made the rename fail). In a session of its own, so that it outlives this test.
    let reaper = "sleep \"$1\"; t=\"$2.reaped\"; mv \"$2\" \"$t\" 2>/dev/null || exit 0; rm -f \"$t\"; exec \"$3\" lab down \"$4\"";
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", reaper, "perseus-shared-lab-reaper"])
        .arg(idle().as_secs().to_string())
        .arg(&file)
        .arg(env!("CARGO_BIN_EXE_perseus"))
        .arg(system)
        .env("PERSEUS_HOME", env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches nothing of this process.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    if cmd.spawn().is_err() {
        // No reaper: take the file back and let the lab go with the guard.
        return take_file(&file).is_none();
    }
    true
}

/// The ID of `lab`'s network (which a lab made again does not share), if it can be read.
pub async fn network_id(lab: &perseus::lab::Lab) -> Option<String> {
    docker()
        .await
        .inspect_network(
            &lab.network,
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .ok()?
        .id
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}
