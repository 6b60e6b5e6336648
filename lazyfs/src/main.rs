//! `perseus-lazyfs --dir DIR [--user USER] -- COMMAND...`: mount the lazy file system over DIR and
//! run COMMAND above it (see `lazyfs::supervise` for the signals it answers). Perseus mounts this
//! binary into the nodes of a lab made with `lab up --lazyfs` and makes it their first process.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The data directory to mount over.
    #[arg(long)]
    dir: PathBuf,
    /// Run the command as this user (a name in /etc/passwd, or `uid[:gid]`); default: root.
    #[arg(long)]
    user: Option<String>,
    /// Unsynced MiB past which a file being written is written back, as the kernel's dirty limit
    /// would.
    #[arg(long, default_value_t = 1024)]
    max_unsynced_mib: u64,
    /// The command to run, after `--`.
    #[arg(required = true, last = true)]
    command: Vec<OsString>,
}

fn main() {
    let args = Args::parse();
    let plan = lazyfs::supervise::Plan {
        dir: args.dir,
        user: args.user,
        max_unsynced: args.max_unsynced_mib.saturating_mul(1 << 20),
        command: args.command,
    };
    match lazyfs::supervise::run(&plan) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("perseus-lazyfs: {}: {e}", plan.dir.display());
            std::process::exit(1);
        }
    }
}
