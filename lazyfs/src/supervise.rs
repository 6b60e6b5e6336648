//! The process a lazy node runs as its first: it mounts [`LazyFs`] over the data directory, runs
//! the database above it as the database's own user, and turns signals into what happens to the
//! unsynced data.
//!
//! | signal to the supervisor | what happens |
//! | --- | --- |
//! | `SIGTERM`, `SIGINT`, `SIGHUP`, `SIGQUIT` | passed to the database; when it exits, everything is synced (a clean shutdown) |
//! | `SIGUSR1` | process crash: the database's process group is SIGKILLed, everything unsynced is written back (the kernel's page cache survives a crash); exit 137, as a SIGKILL |
//! | `SIGPWR` | power loss: the database's process group is SIGKILLed, every unsynced page is forgotten and every unsynced name change undone; the supervisor exits with 158 (128 + `SIGPWR`) |
//! | `SIGUSR2` | power loss that tears: as `SIGPWR`, but each file's last unsynced write keeps its first half; exit 140 (128 + `SIGUSR2`) |
//! | `SIGURG` | settle: everything written so far is written back, as on a machine that has been up a while (`sync`); Perseus sends it when a lab is ready, so that a power loss takes what the database left unsynced during the experiment, not its setup |
//! | the database exits by itself | everything is synced, the supervisor exits with its status |
//!
//! A `SIGKILL` of the supervisor itself (`docker kill`) loses the unsynced data but cannot undo
//! name changes: Perseus sends the signals above instead.
//!
//! Privileges: mounting needs `CAP_SYS_ADMIN` and `/dev/fuse` in the container. The database does
//! not keep the capability: it is dropped from the bounding set before the database is executed,
//! and the database runs as the user it is given (`--user`).

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fuser::{Config, MountOption, SessionACL};

use crate::fs::LazyFs;

/// `CAP_SYS_ADMIN`'s number (linux/capability.h).
const CAP_SYS_ADMIN: libc::c_ulong = 21;

/// What to run and where.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The data directory to mount over.
    pub dir: PathBuf,
    /// The user to run the database as (a name from `/etc/passwd` or `uid[:gid]`); `None` keeps
    /// root.
    pub user: Option<String>,
    /// Unsynced bytes past which a file being written is written back.
    pub max_unsynced: u64,
    /// The database's command and arguments.
    pub command: Vec<OsString>,
}

/// A user to switch to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Home directory, when the password file gives one.
    pub home: Option<String>,
}

/// Resolve `spec` (`redis`, `999`, `999:999`) against a password file's text.
///
/// Errors: a name the file does not have, in one line.
pub fn resolve_user(spec: &str, passwd: &str) -> Result<User, String> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && (f[0] == u || (u.parse::<u32>().is_ok() && f[2] == u)));
    let uid = match (u.parse::<u32>(), &entry) {
        (Ok(n), _) => n,
        (Err(_), Some(f)) => f[2].parse().map_err(|_| format!("bad uid for {u}"))?,
        (Err(_), None) => return Err(format!("no user {u} in /etc/passwd")),
    };
    let gid = match g {
        Some(g) => g
            .parse()
            .map_err(|_| format!("give the group as a number, not {g}"))?,
        None => match &entry {
            Some(f) => f[3].parse().map_err(|_| format!("bad gid for {u}"))?,
            None => uid,
        },
    };
    Ok(User {
        uid,
        gid,
        home: entry.map(|f| f[5].to_string()),
    })
}

fn signals() -> libc::sigset_t {
    // SAFETY: sigemptyset/sigaddset fill the set they are given.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGPWR,
            libc::SIGURG,
            libc::SIGCHLD,
        ] {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

fn log(msg: &str) {
    eprintln!("perseus-lazyfs: {msg}");
}

/// How the supervisor ended.
enum End {
    /// The database exited with this status (as `waitpid` gives it).
    Exited(i32),
    /// Process crash asked for.
    Crash,
    /// Power loss asked for; `tear` keeps half of each last write.
    PowerLoss { tear: bool },
}

/// Mount, run, supervise; returns the exit code for the supervisor.
///
/// Errors: the directory cannot be opened or mounted over, or the command cannot be started.
pub fn run(plan: &Plan) -> io::Result<i32> {
    let set = signals();
    // SAFETY: blocks the signals in this thread before any other exists; every thread made
    // later inherits the mask, so only `sigwait` below sees them.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    let user = match &plan.user {
        Some(spec) => Some(
            resolve_user(
                spec,
                &std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
            )
            .map_err(io::Error::other)?,
        ),
        None => None,
    };
    // The lower directory stays reachable through a descriptor opened before the mount.
    let lower = File::open(&plan.dir)?;
    // `/.` so that even `lstat` of the root follows the descriptor's magic link.
    let root = PathBuf::from(format!("/proc/self/fd/{}/.", lower.as_raw_fd()));
    let fs = LazyFs::new(root, plan.max_unsynced)?;
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("perseus-lazyfs".into()),
        MountOption::DefaultPermissions,
        MountOption::RW,
    ];
    config.acl = SessionACL::All;
    let session = fuser::spawn_mount(fs.clone(), &plan.dir, &config)?;
    // A working directory in or under DIR (an image's WORKDIR) still points below the mount:
    // enter it again through the mount, for the database to inherit.
    if let Ok(cwd) = std::env::current_dir() {
        let _ = std::env::set_current_dir(cwd);
    }
    let (program, args) = plan
        .command
        .split_first()
        .ok_or_else(|| io::Error::other("no command to run"))?;
    let mut cmd = Command::new(program);
    cmd.args(args).process_group(0);
    if let Some(u) = &user {
        if let Some(home) = &u.home {
            cmd.env("HOME", home);
        }
    }
    let target = user.clone();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let empty: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            // The database gets no CAP_SYS_ADMIN, whichever user it runs as.
            libc::prctl(libc::PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0);
            if let Some(u) = &target {
                let groups = [u.gid];
                if libc::setgroups(1, groups.as_ptr()) != 0
                    || libc::setgid(u.gid) != 0
                    || libc::setuid(u.uid) != 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    // Orphans of the database's tree are reparented here (in a container this process is
    // PID 1 already), so that a power loss finds and kills every one of them.
    // SAFETY: prctl(2) with an integer argument.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let child = cmd.spawn()?;
    let pid = child.id() as i32;
    log(&format!(
        "{} mounted lazily; running {} as {} (pid {pid})",
        plan.dir.display(),
        Path::new(program).display(),
        plan.user.as_deref().unwrap_or("root"),
    ));
    let end = supervise(pid, &set, &fs);
    let code = match end {
        End::Exited(status) => {
            finish_sync(&fs, "the database exited");
            if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            }
        }
        End::Crash => {
            kill_group(pid);
            finish_sync(&fs, "process crash");
            137
        }
        End::PowerLoss { tear } => {
            // The disk goes first: a process that runs on for a moment (PostgreSQL's backends
            // leave the postmaster's process group) must not sync and be told it is durable.
            fs.cut();
            kill_group(pid);
            let names = fs.with(|l| l.names());
            if !names.is_empty() {
                log(&format!(
                    "undoing unsynced name changes: {}",
                    names.join(", ")
                ));
            }
            if tear {
                let (lost, torn) = fs.with(|l| l.tear());
                log(&format!(
                    "power loss (torn writes): {} unsynced bytes in {} files and {} name changes lost, {torn} last writes torn",
                    lost.bytes, lost.files, lost.names
                ));
            } else {
                let lost = fs.with(|l| l.drop_unsynced());
                log(&format!(
                    "power loss: {} unsynced bytes in {} files and {} name changes lost",
                    lost.bytes, lost.files, lost.names
                ));
            }
            // 128 + the signal that asked for it, so that the node's state says which it was.
            128 + if tear { libc::SIGUSR2 } else { libc::SIGPWR }
        }
    };
    drop(session);
    drop(lower);
    Ok(code)
}

fn finish_sync(fs: &LazyFs, why: &str) {
    let before = fs.with(|l| l.unsynced());
    match fs.with(|l| l.sync_all()) {
        Ok(()) => log(&format!(
            "{why}: {} unsynced bytes in {} files and {} name changes written back",
            before.bytes, before.files, before.names
        )),
        Err(e) => log(&format!("{why}: writing back failed: {e}")),
    }
}

/// Wait for signals until the database exits or a crash or power loss is asked for.
fn supervise(pid: i32, set: &libc::sigset_t, fs: &LazyFs) -> End {
    loop {
        let mut sig = 0;
        // SAFETY: waits for one of the blocked signals in `set`.
        if unsafe { libc::sigwait(set, &mut sig) } != 0 {
            continue;
        }
        match sig {
            libc::SIGCHLD => {
                if let Some(status) = reap(pid) {
                    return End::Exited(status);
                }
            }
            libc::SIGUSR1 => return End::Crash,
            libc::SIGPWR => return End::PowerLoss { tear: false },
            libc::SIGUSR2 => return End::PowerLoss { tear: true },
            libc::SIGURG => finish_sync(fs, "settled"),
            other => {
                // SAFETY: a signal to the database's process.
                unsafe { libc::kill(pid, other) };
            }
        }
    }
}

/// Reap every exited child (the supervisor is the container's first process, so orphans come
/// to it); the database's status when it is among them.
fn reap(pid: i32) -> Option<i32> {
    let mut ours = None;
    loop {
        let mut status = 0;
        // SAFETY: waitpid(2) on any child, without blocking.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if r <= 0 {
            return ours;
        }
        if r == pid {
            ours = Some(status);
        }
    }
}

/// Every process descended from `pid` (from `/proc`), `pid` first.
fn descendants(pid: i32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter_map(|p| {
                    let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
                    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
                    let rest = &stat[stat.rfind(')')? + 1..];
                    let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
                    Some((p, ppid))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    found
}

/// SIGKILL the database, every process descended from it (PostgreSQL's backends leave the
/// postmaster's process group) and its process group, until none is left, reaping them (at
/// most 10 s).
///
/// One pass is not enough: a process can fork between the scan of `/proc` and its own kill,
/// and its child, orphaned, is reparented to this process (a child subreaper, see [`run`]).
/// So the scan starts from this process and repeats until it finds nothing.
fn kill_group(pid: i32) {
    // SAFETY: signals the process group the database leads.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    // SAFETY: getpid(2) has no preconditions.
    let me = unsafe { libc::getpid() };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let left: Vec<i32> = descendants(me).into_iter().filter(|&p| p != me).collect();
        for &p in &left {
            // SAFETY: a signal to a process of the database's tree.
            unsafe { libc::kill(p, libc::SIGKILL) };
        }
        loop {
            let mut status = 0;
            // SAFETY: waitpid(2) on any child, without blocking.
            if unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } <= 0 {
                break;
            }
        }
        if left.is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
