//! The lazy file system mounted for real (FUSE), with `sh` and coreutils as the database: what a
//! power loss, a torn power loss, a process crash and a graceful stop leave on the lower directory.
//! Needs root and
//! `/dev/fuse`; fails, not skips, under `CI=true` when they are missing.

use std::fs;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

fn can_mount() -> bool {
    // SAFETY: geteuid(2) has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let ok = root && Path::new("/dev/fuse").exists();
    if !ok && std::env::var("CI").as_deref() == Ok("true") {
        panic!("these tests need root and /dev/fuse, and CI=true");
    }
    if !ok {
        eprintln!("skipped: needs root and /dev/fuse");
    }
    ok
}

/// What the "database" does, in the mounted directory, before it sleeps.
const SCRIPT: &str = r#"
set -e
cd "$1"
printf durable > synced; sync synced; sync .
printf moved > before; sync before; sync .; mv before after; sync .
printf new > tmp; sync tmp; printf 0123456789 > cut; sync cut; sync .
# Nothing below is followed by a directory fsync or, for data, a file fsync.
mv tmp renamed
printf gone > unsynced
printf appended >> kept
perl -e 'truncate("cut", 4) or die "truncate: $!"'
touch ready
exec sleep 30
"#;

fn start(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_perseus-lazyfs"))
        .args(["--dir", dir.to_str().unwrap(), "--user", "nobody", "--"])
        .args(["sh", "-c", SCRIPT, "sh", dir.to_str().unwrap()])
        .spawn()
        .unwrap()
}

fn lab() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("kept"), "old").unwrap();
    Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(d.path())
        .status()
        .unwrap();
    d
}

/// Wait for the script, signal the supervisor, and wait for it to end; its exit code.
fn signal_when_ready(child: &mut Child, dir: &Path, signal: i32) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir.join("ready").exists() {
        assert!(Instant::now() < deadline, "the script never got ready");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the supervisor ended early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // What the database sees, through the mount, before the fault.
    assert_eq!(fs::read_to_string(dir.join("kept")).unwrap(), "oldappended");
    assert_eq!(fs::read_to_string(dir.join("unsynced")).unwrap(), "gone");
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    let status = child.wait().unwrap();
    status.code().unwrap_or(-1)
}

fn read(dir: &Path, name: &str) -> Option<String> {
    fs::read_to_string(dir.join(name)).ok()
}

#[test]
fn a_power_loss_keeps_what_was_synced_and_nothing_else() {
    if !can_mount() {
        return;
    }
    let d = lab();
    let mut child = start(d.path());
    assert_eq!(signal_when_ready(&mut child, d.path(), libc::SIGPWR), 158);
    let dir = d.path();
    // The mount is gone: this is the lower directory.
    assert_eq!(read(dir, "synced").as_deref(), Some("durable"));
    assert_eq!(read(dir, "unsynced"), None, "a name made and never synced");
    assert_eq!(
        read(dir, "kept").as_deref(),
        Some("old"),
        "an unsynced append"
    );
    assert_eq!(
        read(dir, "tmp").as_deref(),
        Some("new"),
        "a rename with no directory fsync"
    );
    assert_eq!(read(dir, "renamed"), None);
    assert_eq!(
        read(dir, "after").as_deref(),
        Some("moved"),
        "a rename and a directory fsync"
    );
    assert_eq!(read(dir, "before"), None);
    assert_eq!(read(dir, "ready"), None);
    assert_eq!(
        read(dir, "cut").as_deref(),
        Some("0123456789"),
        "an unsynced truncate"
    );
}

#[test]
fn a_process_crash_keeps_everything_written() {
    if !can_mount() {
        return;
    }
    let d = lab();
    let mut child = start(d.path());
    assert_eq!(signal_when_ready(&mut child, d.path(), libc::SIGUSR1), 137);
    let dir = d.path();
    assert_eq!(read(dir, "synced").as_deref(), Some("durable"));
    assert_eq!(read(dir, "unsynced").as_deref(), Some("gone"));
    assert_eq!(read(dir, "kept").as_deref(), Some("oldappended"));
    assert_eq!(read(dir, "renamed").as_deref(), Some("new"));
    assert_eq!(read(dir, "tmp"), None);
    // truncate(1) of a path (no open descriptor) inside a page, as Redis truncates its AOF.
    assert_eq!(read(dir, "cut").as_deref(), Some("0123"));
    assert!(read(dir, "ready").is_some());
    // Nothing of the supervisor's is left in the directory.
    assert!(
        !dir.join(lazyfs::cache::TRASH).exists()
            || fs::read_dir(dir.join(lazyfs::cache::TRASH))
                .unwrap()
                .count()
                == 0
    );
}

#[test]
fn a_graceful_stop_passes_sigterm_on_and_syncs() {
    if !can_mount() {
        return;
    }
    let d = lab();
    let mut child = start(d.path());
    // sleep(1) dies of the SIGTERM passed on: 128 + 15.
    assert_eq!(signal_when_ready(&mut child, d.path(), libc::SIGTERM), 143);
    assert_eq!(read(d.path(), "kept").as_deref(), Some("oldappended"));
}

#[test]
fn a_torn_power_loss_keeps_half_of_each_files_last_write() {
    if !can_mount() {
        return;
    }
    let d = lab();
    let mut child = start(d.path());
    assert_eq!(signal_when_ready(&mut child, d.path(), libc::SIGUSR2), 140);
    let dir = d.path();
    assert_eq!(
        read(dir, "kept").as_deref(),
        Some("oldappe"),
        "half of `appended`"
    );
    assert_eq!(read(dir, "synced").as_deref(), Some("durable"));
    assert_eq!(read(dir, "unsynced"), None, "its name was never synced");
    assert_eq!(read(dir, "tmp").as_deref(), Some("new"));
}

#[test]
fn after_a_power_loss_nothing_can_sync_and_be_told_it_is_durable() {
    if !can_mount() {
        return;
    }
    // A process that left the database's process group (as PostgreSQL's backends do) keeps
    // writing and syncing (it forks `sync` all the while, so a single scan for its processes
    // misses some); the power loss must kill all of them, and nothing written after the cut may
    // survive. The writer says it is ready once three entries are synced (a fixed sleep was
    // not enough on a busy machine).
    let d = lab();
    let dir = d.path().to_str().unwrap().to_string();
    let script = r#"
cd "$1"
setsid sh -c 'i=0; while true; do i=$((i+1)); printf "$i\n" >> log; sync log; printf "$i" > acked; sync acked; [ $i = 3 ] && touch ready; done' &
exec sleep 30
"#;
    let mut child = Command::new(env!("CARGO_BIN_EXE_perseus-lazyfs"))
        .args(["--dir", &dir, "--"])
        .args(["sh", "-c", script, "sh", &dir])
        .spawn()
        .unwrap();
    assert_eq!(
        signal_when_ready_plain(&mut child, d.path(), libc::SIGPWR),
        158
    );
    // Every process of the writer's tree is gone, the `sync`s it forked during the kill too.
    let left: Vec<String> = fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let cwd = fs::read_link(e.path().join("cwd")).ok()?;
            let stat = fs::read_to_string(e.path().join("stat")).ok()?;
            // A zombie is gone already: it waits only for its parent to reap it.
            let state = stat[stat.rfind(')')? + 1..]
                .split_whitespace()
                .next()?
                .to_string();
            (cwd == d.path() && state != "Z").then_some(stat)
        })
        .collect();
    assert!(
        left.is_empty(),
        "processes survived the power loss: {left:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let log = read(d.path(), "log").unwrap_or_default();
    let acked = read(d.path(), "acked").unwrap_or_default();
    let last: u64 = log.lines().last().and_then(|l| l.parse().ok()).unwrap_or(0);
    assert!(last > 0, "the writer ran: {log:?}");
    // The writer is gone: nothing grows after the cut.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        read(d.path(), "log").unwrap_or_default(),
        log,
        "the writer was killed"
    );
    // Every sync it was told of is on disk: `acked` is never ahead of `log`.
    if let Ok(a) = acked.parse::<u64>() {
        assert!(a <= last, "acked {a} is ahead of the log's {last}");
    }
}

/// [`signal_when_ready`] without its checks of the standard script's files.
fn signal_when_ready_plain(child: &mut Child, dir: &Path, signal: i32) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !dir.join("ready").exists() {
        assert!(Instant::now() < deadline, "the script never got ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(child.id() as i32, signal) };
    child.wait().unwrap().code().unwrap_or(-1)
}
