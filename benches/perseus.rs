//! Perseus' own costs, side by side with what a user would use instead (BENCHMARKS.md).
//!
//! `cargo bench --bench perseus -- [--only loop,start,sizes,faults,scenario,soak] [--reps N] [--update FILE]`,
//! or `scripts/bench`, which installs and builds what this needs first. Prints Markdown tables;
//! `--update BENCHMARKS.md` also replaces the generated part of that file.
//!
//! - `loop`: the load loop's ceiling against the `redis` control system, `perseus load redis` at
//!   1, 4, 16 and 64 connections per node against Debian's `redis-benchmark` doing the same two
//!   commands at the same concurrency: `-t get`, then `EVALSHA` of the loop's own compare-and-set
//!   script ([`perseus::systems::redis::CAS_LUA`]) on random keys, with CPU time and peak RSS;
//!   five pairs per count (`--loop-reps`). Then the open loop's own cost: `perseus load redis
//!   --rate R` at fixed rates, its CPU per million operations against the closed loop's at the
//!   same rate, and how many operations started late.
//! - `start`: `perseus lab up` to the first successful iteration on every node, against the
//!   Compose tool bringing up the same `compose/<system>.yaml`, then the definition's init, the
//!   system's readiness and its preparation (through the functions `lab up` uses) and polling.
//! - `sizes`: `perseus lab up --nodes 3, 5, 7, 9` (redis, etcd, gryadka), and the loop at one
//!   connection per node against redis-benchmark on redis of each size.
//! - `faults`: from the fault command to its effect, 20 repetitions, against the Docker CLI.
//! - `scenario`: how late scenario steps fire, and the window measured for a 3.0 s pause.
//! - `soak`: peak RSS, CPU per million iterations and open descriptors of `perseus load redis`
//!   for 30 s and for 10 minutes, and of a 5-minute `perseus run` that kills a node and starts
//!   it again every 20 s (thousands of reconnects).
//!
//! It needs the Docker Engine, the images (`perseus lab images ...`), `redis-benchmark` and
//! `docker-compose`; it refuses to start when a lab of the systems it uses is already up, and it
//! takes down everything it brings up.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use futures_util::StreamExt;
use perseus::driver::Endpoint;
use perseus::lab::{Home, Lab, Node};

const BIN: &str = env!("CARGO_BIN_EXE_perseus");
const CONCURRENCY: [usize; 4] = [1, 4, 16, 64];
const SCALED: [&str; 3] = ["redis", "etcd", "gryadka"];
/// The cluster sizes `start` and `loop` measure.
const SIZES: [usize; 4] = [3, 5, 7, 9];
/// The Compose project the comparison runs under.
const PROJECT: &str = "perseusbench";

type R<T> = Result<T, String>;

struct Opts {
    only: Vec<String>,
    reps: usize,
    /// Pairs per connection count in the loop section (its ratios move by a quarter).
    loop_reps: usize,
    seconds: u64,
    update: Option<PathBuf>,
}

fn parse_args() -> R<Opts> {
    let mut o = Opts {
        only: vec![],
        reps: 3,
        loop_reps: 5,
        seconds: 10,
        update: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--only" => {
                o.only = args
                    .next()
                    .ok_or("--only needs a list: loop,start,sizes,faults,scenario,soak")?
                    .split(',')
                    .map(str::to_string)
                    .collect()
            }
            "--reps" => {
                o.reps = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--reps needs a number")?
            }
            "--loop-reps" => {
                o.loop_reps = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--loop-reps needs a number")?
            }
            "--seconds" => {
                o.seconds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--seconds needs a number")?
            }
            "--update" => o.update = Some(args.next().ok_or("--update needs a file")?.into()),
            other => {
                return Err(format!(
                    "unknown argument '{other}': use --only, --reps, --loop-reps, --seconds or --update"
                ))
            }
        }
    }
    for s in &o.only {
        if !["loop", "start", "sizes", "faults", "scenario", "soak"].contains(&s.as_str()) {
            return Err(format!(
                "unknown section '{s}': use loop, start, sizes, faults, scenario or soak"
            ));
        }
    }
    Ok(o)
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    match rt.block_on(run(&opts)) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("bench: {e}");
            let _ = perseus_cmd(&["lab", "down", "--all"]);
            compose_down_all();
            std::process::exit(1);
        }
    }
}

async fn run(opts: &Opts) -> R<()> {
    let docker = perseus::docker::connect()
        .await
        .map_err(|e| e.to_string())?;
    let home = Home::locate().map_err(|e| e.to_string())?;
    let wants = |s: &str| opts.only.is_empty() || opts.only.iter().any(|o| o == s);
    for tool in ["redis-benchmark", "docker-compose"] {
        if Command::new(tool).arg("--version").output().is_err() {
            return Err(format!("{tool} is not installed: run scripts/setup"));
        }
    }
    let up = perseus::lab::labs_up(&docker)
        .await
        .map_err(|e| e.to_string())?;
    if !up.is_empty() {
        return Err(format!(
            "labs are up ({}): take them down first (`perseus lab down --all`)",
            up.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let mut out = String::new();
    section(&mut out, format!("{}\n", machine().await));
    if wants("loop") {
        eprintln!("== load-loop ceiling");
        section(&mut out, loop_ceiling(&docker, &home, opts).await?);
    }
    if wants("start") {
        eprintln!("== lab start");
        section(&mut out, lab_start(&docker, &home, opts).await?);
    }
    if wants("sizes") {
        eprintln!("== cluster sizes");
        section(&mut out, sizes(&docker, &home, opts).await?);
    }
    if wants("faults") {
        eprintln!("== faults");
        section(&mut out, faults(&docker, &home).await?);
    }
    if wants("scenario") {
        eprintln!("== scenario timing and resolution");
        section(&mut out, scenario(opts).await?);
    }
    if wants("soak") {
        eprintln!("== soak: memory, CPU and descriptors over long runs");
        section(&mut out, soak().await?);
    }
    if let Some(file) = &opts.update {
        update(file, &out)?;
        eprintln!("updated {}", file.display());
    }
    Ok(())
}

/// Print a finished section at once (a later section that fails loses nothing), and keep it for
/// `--update`.
fn section(out: &mut String, text: String) {
    println!("{text}");
    out.push_str(&text);
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A finished child: its output, CPU seconds (user + system) and peak RSS (KiB).
struct Measured {
    out: Output,
    cpu_s: f64,
    max_rss_kib: i64,
}

/// Run `cmd` to its end, measuring it with wait4(2) so that CPU and RSS are its own.
/// Load the loop's compare-and-set script into every node (`redis-cli SCRIPT LOAD`); its SHA-1.
fn load_cas_script(nodes: &[Endpoint]) -> R<String> {
    let mut sha = String::new();
    for e in nodes {
        let out = Command::new("redis-cli")
            .args([
                "-h",
                &e.addr.ip().to_string(),
                "-p",
                &e.addr.port().to_string(),
            ])
            .args(["SCRIPT", "LOAD", perseus::systems::redis::CAS_LUA])
            .output()
            .map_err(|e| format!("redis-cli: {e}"))?;
        sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || sha.len() != 40 {
            return Err(format!(
                "redis-cli SCRIPT LOAD on {}: {sha} {}",
                e.node,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(sha)
}

fn measured(cmd: Command) -> R<Measured> {
    measured_with_fds(cmd, &[]).map(|(m, _)| m)
}

/// [`measured`], also counting the child's open file descriptors (`/proc/<pid>/fd`) at each of
/// `samples` after its start (`None`: it had ended).
fn measured_with_fds(mut cmd: Command, samples: &[Duration]) -> R<(Measured, Vec<Option<usize>>)> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn {cmd:?}: {e}"))?;
    let pid = child.id() as libc::pid_t;
    let started = Instant::now();
    let at = samples.to_vec();
    let t_fds = std::thread::spawn(move || {
        at.into_iter()
            .map(|t| {
                std::thread::sleep(t.saturating_sub(started.elapsed()));
                std::fs::read_dir(format!("/proc/{pid}/fd"))
                    .ok()
                    .map(|d| d.count())
            })
            .collect::<Vec<_>>()
    });
    // Read the pipes on threads so a chatty child never blocks on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut v).map(|_| v)
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut v).map(|_| v)
    });
    let mut status: libc::c_int = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child, not yet reaped (std::process::Child never waited on it).
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    if r != pid {
        return Err(format!("wait4 on {cmd:?} failed"));
    }
    let stdout = t_out.join().unwrap().unwrap_or_default();
    let stderr = t_err.join().unwrap().unwrap_or_default();
    // The child is reaped: make the std handle forget it.
    std::mem::forget(child);
    let fds = t_fds.join().unwrap_or_default();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    use std::os::unix::process::ExitStatusExt;
    Ok((
        Measured {
            out: Output {
                status: std::process::ExitStatus::from_raw(status),
                stdout,
                stderr,
            },
            cpu_s: tv(ru.ru_utime) + tv(ru.ru_stime),
            max_rss_kib: ru.ru_maxrss,
        },
        fds,
    ))
}

fn perseus_cmd(args: &[&str]) -> R<Output> {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .map_err(|e| format!("perseus {}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "perseus {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out)
}

fn compose(home: &Home, system: &str, args: &[&str]) -> Command {
    let mut c = Command::new("docker-compose");
    c.current_dir(home.root())
        .env(
            "PERSEUS_BIN_DIR",
            Path::new(BIN).parent().unwrap_or(Path::new(".")),
        )
        .args(["-p", PROJECT, "-f"])
        .arg(home.root().join(format!("compose/{system}.yaml")))
        .args(args);
    c
}

fn compose_down_all() {
    if let Ok(home) = Home::locate() {
        for s in home.systems() {
            let _ = compose(&home, &s, &["down", "-v", "--remove-orphans", "-t", "1"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics

fn median(v: &[f64]) -> f64 {
    quantile(v, 0.5)
}

/// The `q` quantile of `v` (nearest rank; p99 of 20 values is the largest).
fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

// ---------------------------------------------------------------------------------------------
// The machine

async fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|kib| kib.parse::<f64>().ok())
        .map(|kib| format!("{:.0} GiB", kib / 1048576.0))
        .unwrap_or_default();
    let first_line = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .unwrap_or_default()
    };
    let kernel = first_line("uname", &["-r"]);
    let engine = first_line("docker", &["version", "--format", "{{.Server.Version}}"]);
    let rb = first_line("redis-benchmark", &["--version"]);
    let dc = first_line("docker-compose", &["--version"]);
    let commit = first_line("git", &["rev-parse", "--short", "HEAD"]);
    let date = first_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    format!(
        "Measured {date} on {cores} cores ({cpu}), {mem}, Linux {kernel}, Docker Engine {engine}; \
         {rb}; {dc}; perseus at {commit} (release build).\n"
    )
}

// ---------------------------------------------------------------------------------------------
// Load-loop ceiling

async fn lab_up(system: &str, nodes: usize) -> R<Duration> {
    let n = nodes.to_string();
    let t0 = Instant::now();
    perseus_cmd(&["lab", "up", system, "--nodes", &n])?;
    Ok(t0.elapsed())
}

fn lab_down(system: &str) -> R<()> {
    perseus_cmd(&["lab", "down", system]).map(|_| ())
}

async fn open(docker: &Docker, home: &Home, system: &str) -> R<Lab> {
    perseus::lab::open(docker, home, system)
        .await
        .map_err(|e| e.to_string())
}

struct LoopRun {
    rate: f64,
    cpu_per_m: f64,
    rss_mib: f64,
}

/// `perseus load redis --duration {secs}s --clients-per-node {conns}`, not started.
fn load_redis(conns: usize, secs: u64) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["load", "redis", "--duration", &format!("{secs}s")])
        .args(["--clients-per-node", &conns.to_string()]);
    cmd
}

/// `perseus load redis` for `secs` seconds: iterations/s over seconds 2.. (the first second opens
/// the connections), CPU seconds per million iterations over the whole process, peak RSS.
fn perseus_loop(c: usize, secs: u64) -> R<LoopRun> {
    let m = measured(load_redis(c, secs))?;
    if !m.out.status.success() {
        return Err(format!(
            "perseus load failed: {}",
            String::from_utf8_lossy(&m.out.stderr)
        ));
    }
    let totals: Vec<f64> = String::from_utf8_lossy(&m.out.stdout)
        .lines()
        .filter_map(|l| l.split('\t').nth(1)?.parse().ok())
        .collect();
    if totals.len() < 3 {
        return Err(format!("perseus load printed {} seconds", totals.len()));
    }
    let all: f64 = totals.iter().sum();
    let steady = &totals[1..];
    Ok(LoopRun {
        rate: steady.iter().sum::<f64>() / steady.len() as f64,
        cpu_per_m: m.cpu_s / all * 1e6,
        rss_mib: m.max_rss_kib as f64 / 1024.0,
    })
}

/// `redis-benchmark` on every node at once (one process per node, as the loop runs C connections
/// per node), doing what an iteration does: `-t get -c C -n N`, then `-c C -n N` of `EVALSHA` of
/// the loop's compare-and-set script on random keys (loaded first with `redis-cli SCRIPT LOAD`).
/// Iterations/s: the N GET+compare-and-set pairs of every node over the wall time until the last
/// process ended. CPU per million iterations over all of them.
fn redis_benchmark(nodes: &[Endpoint], c: usize, n: u64) -> R<LoopRun> {
    let sha = load_cas_script(nodes)?;
    let handles: Vec<_> = nodes
        .iter()
        .map(|e| {
            let (host, port) = (e.addr.ip().to_string(), e.addr.port().to_string());
            let (c, n) = (c.to_string(), n.to_string());
            let base = ["-h", &host, "-p", &port, "-c", &c, "-n", &n, "--csv"].map(str::to_string);
            let mut get = Command::new("redis-benchmark");
            get.args(&base).args(["-t", "get"]);
            let mut cas = Command::new("redis-benchmark");
            cas.args(&base).args([
                "-r",
                "100000000",
                "EVALSHA",
                &sha,
                "1",
                "bench:__rand_int__",
                "",
                "1",
            ]);
            std::thread::spawn(move || -> R<(Measured, Measured)> {
                Ok((measured(get)?, measured(cas)?))
            })
        })
        .collect();
    let t0 = Instant::now();
    let mut cpu = 0.0;
    let mut rss = 0i64;
    for h in handles {
        let (get, cas) = h.join().map_err(|_| "redis-benchmark thread panicked")??;
        for (m, test) in [(&get, "GET"), (&cas, "EVALSHA")] {
            let text = String::from_utf8_lossy(&m.out.stdout).into_owned();
            // Each test ran; their own rates are not summed, because the three processes do
            // not start and end their phases together (see the rate below).
            text.lines()
                .find(|l| l.starts_with(&format!("\"{test}")))
                .and_then(|l| l.split(',').nth(1))
                .and_then(|v| v.trim_matches('"').parse::<f64>().ok())
                .ok_or_else(|| format!("redis-benchmark printed no {test} rate: {text}"))?;
            cpu += m.cpu_s;
            rss = rss.max(m.max_rss_kib);
        }
    }
    // Pairs done on all nodes over the wall time until the last process ended: a process that
    // finishes late runs alone on the machine for a while, so summing each process' own rate
    // would credit redis-benchmark with a machine it never had in full.
    let rate = (n as f64 * nodes.len() as f64) / t0.elapsed().as_secs_f64();
    Ok(LoopRun {
        rate,
        cpu_per_m: cpu / (n as f64 * nodes.len() as f64) * 1e6,
        rss_mib: rss as f64 / 1024.0,
    })
}

/// `reps` pairs of runs (`--loop-reps` for the ceiling, `--reps` for the sizes) on one lab at `c`
/// connections per node: [`perseus_loop`] and [`redis_benchmark`] doing as many iterations per
/// node as the loop's last run did in
/// `opts.seconds`. The order alternates (the loop first in the first pair, redis-benchmark first in
/// the second, ...) so that a drift of the machine over the pairs does not favour either. Returns
/// both runs of every pair and each pair's ratio (the loop's rate over redis-benchmark's): their
/// median is the figure, because redis-benchmark's own rate swings by a quarter from one run to
/// the next here while the two runs of one pair see the same machine.
fn paired(
    eps: &[Endpoint],
    c: usize,
    reps: usize,
    opts: &Opts,
) -> R<(Vec<LoopRun>, Vec<LoopRun>, Vec<f64>)> {
    let nodes = eps.len() as f64;
    let n_for = |pr: &LoopRun| ((pr.rate / nodes) * opts.seconds as f64).max(10_000.0) as u64;
    let (mut p, mut b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..reps {
        eprintln!("  {} nodes, c={c}, pair {}", eps.len(), rep + 1);
        let (pr, br) = match p.last() {
            Some(last) if rep % 2 == 1 => {
                let br = redis_benchmark(eps, c, n_for(last))?;
                (perseus_loop(c, opts.seconds)?, br)
            }
            _ => {
                let pr = perseus_loop(c, opts.seconds)?;
                let br = redis_benchmark(eps, c, n_for(&pr))?;
                (pr, br)
            }
        };
        ratios.push(pr.rate / br.rate);
        p.push(pr);
        b.push(br);
    }
    Ok((p, b, ratios))
}

/// `0.95 (0.90–1.02)`: the median ratio and the range of the pairs' ratios.
fn ratio_cell(ratios: &[f64]) -> String {
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!("{:.2} ({lo:.2}–{hi:.2})", median(ratios))
}

async fn loop_ceiling(docker: &Docker, home: &Home, opts: &Opts) -> R<String> {
    lab_up("redis", 3).await?;
    let result = async {
        let lab = open(docker, home, "redis").await?;
        let eps = lab.endpoints();
        let mut rows = String::new();
        let mut closed_cpu = Vec::new();
        for c in CONCURRENCY {
            let (p, b, ratios) = paired(&eps, c, opts.loop_reps, opts)?;
            let med = |v: &[LoopRun], f: fn(&LoopRun) -> f64| {
                median(&v.iter().map(f).collect::<Vec<_>>())
            };
            closed_cpu.push((c, med(&p, |r| r.rate), med(&p, |r| r.cpu_per_m)));
            writeln!(
                rows,
                "| {c} | {} | {:.0} | {:.0} | **{}** | {:.1} | {:.1} | {:.1} | {:.1} |",
                c * 3,
                med(&p, |r| r.rate),
                med(&b, |r| r.rate),
                ratio_cell(&ratios),
                med(&p, |r| r.cpu_per_m),
                med(&b, |r| r.cpu_per_m),
                p.iter().map(|r| r.rss_mib).fold(0.0, f64::max),
                b.iter().map(|r| r.rss_mib).fold(0.0, f64::max),
            )
            .unwrap();
        }
        let open = open_loop_cost(&closed_cpu, opts)?;
        Ok::<(String, String), String>((rows, open))
    }
    .await;
    lab_down("redis")?;
    let (rows, open) = result?;
    Ok(format!(
        "\n### Load-loop ceiling (redis, 3 nodes, median of {reps} pairs of runs of {secs} s)\n\n\
         | conns/node | conns | perseus it/s | redis-benchmark it/s | ratio, median (range) of the pairs | perseus CPU s/M it | redis-benchmark CPU s/M it | perseus peak RSS MiB | redis-benchmark peak RSS MiB |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n{rows}\n\
         ### The open loop's own cost (redis, 3 nodes, `--rate`, median (range) of {reps} runs of {secs} s)\n\n\
         | rate | completed ops/s | late or never started | perseus CPU s/M ops | connections opened | the closed loop's ceiling nearest that rate: conns/node, it/s, CPU s/M it |\n\
         |---:|---:|---:|---:|---:|---:|\n{open}",
        reps = opts.loop_reps,
        secs = opts.seconds
    ))
}

/// The rates the open loop's cost is measured at: a light load, and about the closed loop's own
/// rate at one and four connections per node on this machine.
const OPEN_RATES: [u64; 3] = [3_000, 12_000, 24_000];

/// `perseus load redis --rate R --json` for `opts.seconds`, `opts.loop_reps` times per rate in
/// [`OPEN_RATES`]: the completed rate and the late operations (from the JSON summary's
/// `open_loop`), the CPU per million operations, and beside it the closed loop's ceiling nearest
/// in rate (`closed`: conns/node, it/s, CPU s/M it, from the table above; the closed loop runs
/// flat out, so its CPU an iteration is the floor the open loop's is read against).
fn open_loop_cost(closed: &[(usize, f64, f64)], opts: &Opts) -> R<String> {
    let mut rows = String::new();
    for rate in OPEN_RATES {
        let (mut done, mut late, mut cpu, mut conns) = (vec![], vec![], vec![], vec![]);
        for rep in 0..opts.loop_reps {
            eprintln!("  open loop at {rate}/s, run {}", rep + 1);
            let mut cmd = Command::new(BIN);
            cmd.args(["load", "redis", "--json", "--duration"])
                .arg(format!("{}s", opts.seconds))
                .args(["--rate", &format!("{rate}/s")]);
            let m = measured(cmd)?;
            let err = String::from_utf8_lossy(&m.out.stderr);
            let json: serde_json::Value = err
                .lines()
                .rev()
                .find_map(|l| serde_json::from_str(l).ok())
                .ok_or_else(|| format!("perseus load --json printed no summary: {err}"))?;
            let o = &json["open_loop"];
            let f = |k: &str| o[k].as_f64().unwrap_or(0.0);
            let ops = f("completed");
            done.push(f("completed_rate_per_s"));
            late.push(f("late") + f("never_started"));
            cpu.push(m.cpu_s / ops.max(1.0) * 1e6);
            conns.push(o["nodes"].as_array().map_or(0.0, |n| {
                n.iter().map(|n| n["clients"].as_f64().unwrap_or(0.0)).sum()
            }));
        }
        let range = |v: &[f64], digits: usize| {
            let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            format!("{:.digits$} ({lo:.digits$}–{hi:.digits$})", median(v))
        };
        let near = closed
            .iter()
            .min_by(|a, b| {
                (a.1 - rate as f64)
                    .abs()
                    .total_cmp(&(b.1 - rate as f64).abs())
            })
            .map(|(c, r, cpu)| format!("{c}, {r:.0}, {cpu:.1}"))
            .unwrap_or_default();
        writeln!(
            rows,
            "| {rate}/s | {} | {} | {} | {} | {near} |",
            range(&done, 0),
            range(&late, 0),
            range(&cpu, 1),
            range(&conns, 0),
        )
        .unwrap();
    }
    Ok(rows)
}

// ---------------------------------------------------------------------------------------------
// Lab start

/// Poll every node with one load-loop iteration every 50 ms until each has succeeded once.
async fn until_every_node_serves(lab: &Lab, timeout: Duration) -> R<()> {
    let driver = lab.driver();
    let deadline = Instant::now() + timeout;
    let polls = lab.endpoints().into_iter().map(|ep| {
        let driver = driver.clone();
        async move {
            let key = format!("bench/{}", ep.node);
            let mut last = String::new();
            while Instant::now() < deadline {
                match driver.probe(&ep, &key, Duration::from_secs(1)).await {
                    Ok(()) => return Ok(()),
                    Err(e) => last = e.to_string(),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(format!("{} never served: {last}", ep.node))
        }
    });
    for r in futures_util::future::join_all(polls).await {
        r?;
    }
    Ok(())
}

/// `perseus lab up` then polling: the time to the first success on every node.
async fn perseus_start(docker: &Docker, home: &Home, system: &str, nodes: usize) -> R<f64> {
    let t0 = Instant::now();
    lab_up(system, nodes).await?;
    let lab = open(docker, home, system).await?;
    until_every_node_serves(&lab, Duration::from_secs(60)).await?;
    let t = t0.elapsed().as_secs_f64();
    lab_down(system)?;
    Ok(t)
}

/// The Compose tool on the same definition and images, then what a user's script would do:
/// create the schema (polling every 100 ms, as the statements fail until the servers accept them)
/// and poll until every node serves.
async fn compose_start(docker: &Docker, home: &Home, system: &str) -> R<f64> {
    let def = home.definition(system, None).map_err(|e| e.to_string())?;
    let t0 = Instant::now();
    let up = compose(home, system, &["up", "-d", "--no-build"])
        .output()
        .map_err(|e| e.to_string())?;
    let result = async {
        if !up.status.success() {
            return Err(format!(
                "docker-compose up {system}: {}",
                String::from_utf8_lossy(&up.stderr).trim()
            ));
        }
        // The Compose tool's containers, found by its labels (v1 names them `<project>_n1_1`,
        // v2 `<project>-n1-1`), with their address on the project's network.
        let mut nodes = Vec::new();
        let network = format!("{PROJECT}_default");
        for spec in def.nodes(3).map_err(|e| e.to_string())? {
            let filters = std::collections::HashMap::from([(
                "label".to_string(),
                vec![
                    format!("com.docker.compose.project={PROJECT}"),
                    format!("com.docker.compose.service={}", spec.name),
                ],
            )]);
            let opts = bollard::query_parameters::ListContainersOptionsBuilder::default()
                .all(true)
                .filters(&filters)
                .build();
            let found = docker
                .list_containers(Some(opts))
                .await
                .map_err(|e| e.to_string())?;
            let name = found
                .first()
                .and_then(|c| c.names.as_ref()?.first().cloned())
                .map(|n| n.trim_start_matches('/').to_string())
                .ok_or_else(|| format!("docker-compose made no container for {}", spec.name))?;
            let info = perseus::docker::inspect(docker, &name)
                .await
                .map_err(|e| e.to_string())?;
            let ip = info
                .network_settings
                .and_then(|n| n.networks)
                .and_then(|n| n.get(&network).and_then(|e| e.ip_address.clone()))
                .and_then(|ip| ip.parse().ok())
                .ok_or_else(|| format!("{name} has no address on {network}"))?;
            nodes.push(Node {
                name: spec.name.clone().into(),
                main: name.clone(),
                containers: vec![name],
                ip,
                client_port: def.perseus.client_port,
                host: 0,
                published: None,
                probes: Vec::new(),
                lazy: None,
            });
        }
        let lab = Lab {
            system: system.to_string(),
            network,
            definition: def.clone(),
            nodes,
            hosts: Vec::new(),
            docker: docker.clone(),
        };
        // What `lab up` does once the containers run, through the same functions: the
        // definition's init command, the system's readiness (a Sentinel quorum that agrees on
        // the primary, a Patroni leader with its replicas streaming, a JetStream meta leader),
        // then its preparation (schema, or the bucket nats' loop needs). Both tools end in the
        // same state, so the ratio compares only how they make and start the containers.
        let deadline = Instant::now() + Duration::from_secs(120);
        let under = |e: perseus::error::Error| format!("{system} under docker-compose: {e}");
        perseus::lab::initialize(&lab, deadline, &mut |_| {})
            .await
            .map_err(under)?;
        perseus::lab::wait_ready(&lab, deadline.saturating_duration_since(Instant::now()))
            .await
            .map_err(under)?;
        perseus::lab::apply_schema(&lab, deadline, &mut |_| {})
            .await
            .map_err(under)?;
        until_every_node_serves(&lab, Duration::from_secs(120)).await?;
        Ok(t0.elapsed().as_secs_f64())
    }
    .await;
    let down = compose(home, system, &["down", "-v", "-t", "1"])
        .output()
        .map_err(|e| e.to_string())?;
    if !down.status.success() {
        return Err(format!(
            "docker-compose down {system}: {}",
            String::from_utf8_lossy(&down.stderr)
        ));
    }
    result
}

async fn lab_start(docker: &Docker, home: &Home, opts: &Opts) -> R<String> {
    let mut rows = String::new();
    let mut available = Vec::new();
    // Systems whose images are built here (the others need a registry), from the definitions.
    let local: Vec<String> = perseus::lab::catalog(docker, home)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|c| c.local())
        .map(|c| c.system)
        .collect();
    for system in local.iter().map(String::as_str) {
        let def = home.definition(system, None).map_err(|e| e.to_string())?;
        let images: Vec<String> = def
            .nodes(3)
            .map_err(|e| e.to_string())?
            .iter()
            .flat_map(|n| n.containers.iter().map(|c| c.image.clone()))
            .collect();
        let mut present = true;
        for i in &images {
            present &= docker.inspect_image(i).await.is_ok();
        }
        if present {
            available.push(system);
        } else {
            eprintln!("  {system}: images missing, skipped (perseus lab images {system})");
        }
    }
    for system in &available {
        let (mut p, mut c) = (Vec::new(), Vec::new());
        for rep in 0..opts.reps {
            eprintln!("  {system} rep {}", rep + 1);
            // Alternate which tool goes first, so that neither always meets the Engine just
            // after the other's teardown.
            if rep % 2 == 0 {
                c.push(compose_start(docker, home, system).await?);
                p.push(perseus_start(docker, home, system, 3).await?);
            } else {
                p.push(perseus_start(docker, home, system, 3).await?);
                c.push(compose_start(docker, home, system).await?);
            }
        }
        let (pm, cm) = (median(&p), median(&c));
        writeln!(
            rows,
            "| {system} | {pm:.2} ({:.2}–{:.2}) | {cm:.2} ({:.2}–{:.2}) | **{:.2}** |",
            quantile(&p, 0.0),
            quantile(&p, 1.0),
            quantile(&c, 0.0),
            quantile(&c, 1.0),
            cm / pm
        )
        .unwrap();
    }
    Ok(format!(
        "\n### Lab start (seconds to the first successful iteration on every node, median (range) of {reps})\n\n\
         | system | perseus lab up | docker-compose up + init + readiness + schema + polling | ratio (≥ 1.0) |\n\
         |---|---:|---:|---:|\n{rows}",
        reps = opts.reps
    ))
}

// ---------------------------------------------------------------------------------------------
// Cluster sizes

/// `perseus lab up --nodes N` for N = 3, 5, 7, 9 on the systems that scale (redis, etcd,
/// gryadka; those whose images are here), and the loop's ceiling at one connection per node
/// against redis-benchmark on redis of each size.
async fn sizes(docker: &Docker, home: &Home, opts: &Opts) -> R<String> {
    let mut scaling = String::new();
    for system in SCALED {
        let def = home.definition(system, None).map_err(|e| e.to_string())?;
        let mut present = true;
        for n in def.nodes(3).map_err(|e| e.to_string())? {
            for c in &n.containers {
                present &= docker.inspect_image(&c.image).await.is_ok();
            }
        }
        if !present {
            eprintln!("  {system}: images missing, skipped (perseus lab images {system})");
            continue;
        }
        let mut cells = Vec::new();
        for nodes in SIZES {
            let mut v = Vec::new();
            for rep in 0..opts.reps {
                eprintln!("  {system} --nodes {nodes} rep {}", rep + 1);
                v.push(perseus_start(docker, home, system, nodes).await?);
            }
            cells.push(format!("{:.2}", median(&v)));
        }
        writeln!(scaling, "| {system} | {} |", cells.join(" | ")).unwrap();
    }
    let mut sized = String::new();
    for nodes in SIZES {
        lab_up("redis", nodes).await?;
        let row = async {
            let lab = open(docker, home, "redis").await?;
            let eps = lab.endpoints();
            let (p, b, ratios) = paired(&eps, 1, opts.reps, opts)?;
            let rate = |v: &[LoopRun]| median(&v.iter().map(|r| r.rate).collect::<Vec<_>>());
            Ok::<String, String>(format!(
                "| {nodes} | {:.0} | {:.0} | **{}** |",
                rate(&p),
                rate(&b),
                ratio_cell(&ratios)
            ))
        }
        .await;
        lab_down("redis")?;
        writeln!(sized, "{}", row?).unwrap();
    }
    Ok(format!(
        "\n### Cluster sizes (median of {reps})\n\n\
         `perseus lab up --nodes N`, seconds to the first successful iteration on every node:\n\n\
         | system | 3 nodes | 5 nodes | 7 nodes | 9 nodes |\n|---|---:|---:|---:|---:|\n{scaling}\n\
         The loop at one connection per node against redis-benchmark (redis, runs of {secs} s):\n\n\
         | nodes | perseus it/s | redis-benchmark it/s | ratio, median (range) of the pairs |\n|---:|---:|---:|---:|\n{sized}",
        reps = opts.reps,
        secs = opts.seconds
    ))
}

// ---------------------------------------------------------------------------------------------
// Faults

/// A probe loop in `from`'s network namespace: a fresh `redis-cli PING` to `ip` every few
/// milliseconds (under `timeout 0.05`, so a probe sent while the node was cut ends 50 ms later at
/// most), each line `start_ns end_ns ok`. One at a time: probes started every 3 ms side by side
/// (each waiting out its timeout while a cut lasts) loaded the two cores so much that every
/// command measured took twice as long (heal 111 ms instead of 57).
async fn start_probe(docker: &Docker, from: &str, ip: &str) -> R<String> {
    use bollard::models::{ContainerCreateBody, HostConfig};
    use bollard::query_parameters::CreateContainerOptionsBuilder;
    let name = format!("{PROJECT}-probe");
    let script = format!(
        "while :; do s=$(date +%s%N); if timeout 0.05 redis-cli -h {ip} ping >/dev/null 2>&1; \
         then r=1; else r=0; fi; echo \"$s $(date +%s%N) $r\"; sleep 0.002; done"
    );
    let body = ContainerCreateBody {
        image: Some("perseus/redis:7".into()),
        entrypoint: Some(vec!["sh".into(), "-c".into(), script]),
        cmd: Some(vec![]),
        host_config: Some(HostConfig {
            network_mode: Some(format!("container:{from}")),
            auto_remove: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::default().name(&name).build();
    docker
        .create_container(Some(opts), body)
        .await
        .map_err(|e| format!("probe: {e}"))?;
    perseus::docker::start(docker, &name)
        .await
        .map_err(|e| e.to_string())?;
    Ok(name)
}

/// Probe lines logged since `since_ns` (seconds precision in the Engine's filter, so re-filtered).
async fn probe_lines(docker: &Docker, probe: &str, since_ns: u128) -> Vec<(u128, u128, bool)> {
    use bollard::query_parameters::LogsOptionsBuilder;
    let opts = LogsOptionsBuilder::default()
        .stdout(true)
        .since((since_ns / 1_000_000_000) as i32 - 1)
        .build();
    let mut logs = docker.logs(probe, Some(opts));
    let mut text = String::new();
    while let Some(Ok(chunk)) = logs.next().await {
        text.push_str(&chunk.to_string());
    }
    let mut lines: Vec<(u128, u128, bool)> = text
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let s: u128 = w.next()?.parse().ok()?;
            let e: u128 = w.next()?.parse().ok()?;
            let ok = w.next()? == "1";
            (s >= since_ns).then_some((s, e, ok))
        })
        .collect();
    // The probes run side by side and log as they end: in the order they started.
    lines.sort_unstable();
    lines
}

/// Wait until `check` holds, polling every 2 ms; the milliseconds from `t0` to when it held.
async fn effect_ms<F, Fut>(t0: Instant, check: F) -> R<f64>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = t0 + Duration::from_secs(20);
    while Instant::now() < deadline {
        if check().await {
            return Ok(t0.elapsed().as_secs_f64() * 1000.0);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Err("the effect never came within 20 s".into())
}

async fn state(docker: &Docker, c: &str) -> (bool, bool) {
    match perseus::docker::inspect(docker, c).await {
        Ok(i) => {
            let s = i.state.unwrap_or_default();
            (s.running.unwrap_or(false), s.paused.unwrap_or(false))
        }
        Err(_) => (false, false),
    }
}

/// Milliseconds from `t0_ns` until the probe shows `want`, among the probes started after the
/// command: for a failure, the start of the first one that failed (when the next one failed too);
/// for a success, the earliest end of one that succeeded.
async fn probe_effect_ms(docker: &Docker, probe: &str, t0_ns: u128, want: bool) -> R<f64> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let lines = probe_lines(docker, probe, t0_ns).await;
        // A success is the effect of a heal; a failure counts only when the next probe fails
        // too (one probe slow by chance past its 50 ms timeout is not the fault).
        let at = if want {
            lines.iter().filter(|l| l.2).map(|l| l.1).min()
        } else {
            lines
                .iter()
                .enumerate()
                .find(|(i, l)| !l.2 && lines.get(i + 1).is_some_and(|n| !n.2))
                .map(|(_, l)| l.0)
        };
        if let Some(at) = at {
            return Ok((at.saturating_sub(t0_ns)) as f64 / 1e6);
        }
    }
    Err(format!(
        "the probe never showed {}",
        if want { "success" } else { "failure" }
    ))
}

#[derive(Default)]
struct FaultTimes {
    /// (fault, tool) → (command returned ms, effect ms) per repetition.
    samples: BTreeMap<(&'static str, &'static str), Vec<(f64, f64)>>,
}

impl FaultTimes {
    fn add(&mut self, fault: &'static str, tool: &'static str, returned: f64, effect: f64) {
        self.samples
            .entry((fault, tool))
            .or_default()
            .push((returned, effect));
    }
}

/// Run `args` on a blocking thread (so the effect can be polled meanwhile); its wall time in ms.
async fn timed_bg(args: &[&str]) -> R<f64> {
    let owned: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        timed(&refs)
    })
    .await
    .map_err(|e| e.to_string())?
}

fn timed(args: &[&str]) -> R<f64> {
    let t0 = Instant::now();
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(t0.elapsed().as_secs_f64() * 1000.0)
}

async fn faults(docker: &Docker, home: &Home) -> R<String> {
    const REPS: usize = 20;
    lab_up("redis", 3).await?;
    let lab = open(docker, home, "redis").await?;
    let n1 = lab.nodes[0].clone();
    let ip = n1.ip.to_string();
    let probe = start_probe(docker, &lab.nodes[1].main, &ip).await;
    let result = async {
        let probe = probe?;
        let mut t = FaultTimes::default();
        let c = n1.main.clone();
        let serves = |ep: Endpoint| async move {
            perseus::load::probe(
                &perseus::systems::redis::RedisDriver,
                &ep,
                "bench/fault",
                Duration::from_millis(200),
            )
            .await
            .is_ok()
        };
        let ep = n1.endpoint();
        for rep in 0..REPS {
            eprintln!("  rep {}", rep + 1);
            // Perseus last: its start moves n1's helper into the new namespace, as `docker
            // start` does not (the first network fault after it would pay for the move).
            for (tool, kill, start) in [
                (
                    "docker CLI",
                    vec!["docker", "kill", &c],
                    vec!["docker", "start", &c],
                ),
                (
                    "perseus",
                    vec![BIN, "fault", "kill", "redis", "n1"],
                    vec![BIN, "fault", "start", "redis", "n1"],
                ),
            ] {
                let t0 = Instant::now();
                let (ret, eff) = tokio::join!(timed_bg(&kill), async {
                    effect_ms(t0, || async { !state(docker, &c).await.0 }).await
                });
                t.add("kill: container dead", tool, ret?, eff?);
                let t0 = Instant::now();
                let (ret, eff) = tokio::join!(timed_bg(&start), async {
                    effect_ms(t0, || serves(ep.clone())).await
                });
                t.add("start: PING answers", tool, ret?, eff?);
            }
            for (tool, pause, resume) in [
                (
                    "perseus",
                    vec![BIN, "fault", "pause", "redis", "n1"],
                    vec![BIN, "fault", "resume", "redis", "n1"],
                ),
                (
                    "docker CLI",
                    vec!["docker", "pause", &c],
                    vec!["docker", "unpause", &c],
                ),
            ] {
                let t0 = Instant::now();
                let (ret, eff) = tokio::join!(timed_bg(&pause), async {
                    effect_ms(t0, || async { state(docker, &c).await.1 }).await
                });
                t.add("pause: frozen", tool, ret?, eff?);
                let t0 = Instant::now();
                let (ret, eff) = tokio::join!(timed_bg(&resume), async {
                    effect_ms(t0, || serves(ep.clone())).await
                });
                t.add("resume: PING answers", tool, ret?, eff?);
            }
            // Every network fault that the probe (n2 to n1) sees, each followed by a heal.
            for (fault, args) in [
                (
                    "isolate: a peer's probe fails",
                    vec![BIN, "fault", "isolate", "redis", "n1"],
                ),
                (
                    "isolate --direction out: a peer's probe fails",
                    vec![BIN, "fault", "isolate", "redis", "n1", "--direction", "out"],
                ),
                (
                    "partition n1 / n2,n3: a peer's probe fails",
                    vec![BIN, "fault", "partition", "redis", "n1", "n2,n3"],
                ),
                (
                    "loss 100%: a peer's probe fails",
                    vec![BIN, "fault", "loss", "redis", "n1", "100%"],
                ),
            ] {
                let t0_ns = now_ns();
                let ret = timed(&args)?;
                let eff = probe_effect_ms(docker, &probe, t0_ns, false).await?;
                t.add(fault, "perseus", ret, eff);
                tokio::time::sleep(Duration::from_millis(200)).await;
                let t0_ns = now_ns();
                let ret = timed(&[BIN, "fault", "heal", "redis"])?;
                let eff = probe_effect_ms(docker, &probe, t0_ns, true).await?;
                t.add("heal: a peer's probe succeeds", "perseus", ret, eff);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let mut rows = String::new();
        for ((fault, tool), v) in &t.samples {
            let ret: Vec<f64> = v.iter().map(|x| x.0).collect();
            let eff: Vec<f64> = v.iter().map(|x| x.1).collect();
            writeln!(
                rows,
                "| {fault} | {tool} | {:.0} | {:.0} | {:.0} | {:.0} |",
                median(&eff),
                quantile(&eff, 0.99),
                median(&ret),
                quantile(&ret, 0.99)
            )
            .unwrap();
        }
        Ok::<String, String>(rows)
    }
    .await;
    let _ = docker
        .remove_container(
            &format!("{PROJECT}-probe"),
            Some(
                bollard::query_parameters::RemoveContainerOptionsBuilder::default()
                    .force(true)
                    .build(),
            ),
        )
        .await;
    lab_down("redis")?;
    let rows = result?;
    Ok(format!(
        "\n### Faults: from the command to the effect (redis n1, {REPS} repetitions, ms)\n\n\
         The command is the whole process (`perseus fault ...` or `docker ...`), started from \
         this benchmark; the effect is observed by polling the Engine every 2 ms (dead, frozen), \
         by a one-iteration client from the host (answers), or by a probe loop in n2's namespace \
         that opens a fresh connection to n1 every few ms (isolate, partition, loss, heal).\n\n\
         | fault: effect | tool | effect median | effect p99 | command returned median | command returned p99 |\n\
         |---|---|---:|---:|---:|---:|\n{rows}"
    ))
}

// ---------------------------------------------------------------------------------------------
// Scenarios: step lateness and measurement resolution

async fn scenario(opts: &Opts) -> R<String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("bench-pause.yaml");
    // Five 3.0 s pauses, one node at a time, 2 s apart.
    let mut steps = String::new();
    let mut expects = String::new();
    for i in 0..5u32 {
        let node = format!("n{}", i % 3 + 1);
        let at = 3 + i * 5;
        write!(
            steps,
            "  - {{ at: {at}s, fault: pause, target: {node}, name: pause{i} }}\n  - {{ at: {}s, fault: resume, target: pause{i} }}\n",
            at + 3
        )
        .unwrap();
        writeln!(
            expects,
            "  - window: {{ after: pause{i}, node: {node}, at-least: 2.9s, at-most: 3.1s }}"
        )
        .unwrap();
    }
    std::fs::write(
        &file,
        format!(
            "name: bench-pause\ndescription: five 3.0 s pauses of one redis node at a time\n\
             system: redis\nnodes: 3\nload:\n  duration: 28s\n  clients-per-node: 4\n\
             steps:\n{steps}expect:\n{expects}"
        ),
    )
    .map_err(|e| e.to_string())?;
    let runs = dir.path().join("runs");
    let mut late = Vec::new();
    let mut errors = Vec::new();
    let mut windows = Vec::new();
    for rep in 0..opts.reps {
        eprintln!("  scenario rep {}", rep + 1);
        let out = Command::new(BIN)
            .args(["run"])
            .arg(&file)
            .arg("--runs-dir")
            .arg(&runs)
            .stdout(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.code() == Some(2) {
            return Err(format!(
                "perseus run: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let latest = std::fs::read_dir(&runs)
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .max()
            .ok_or("no run folder")?;
        let rec = perseus::report::read_record(&latest).map_err(|e| e.to_string())?;
        late.extend(rec.steps.iter().map(|s| s.late_ms));
        for e in rec.effects.iter().filter(|e| e.label.starts_with("pause")) {
            let Some(step) = rec.steps.iter().find(|s| s.index == e.index) else {
                continue;
            };
            let node = &step.nodes[0];
            if let Some(w) = e.nodes.iter().find(|w| &w.node == node) {
                windows.push(w.window.length_s);
                errors.push((w.window.length_s - 3.0).abs());
            }
        }
        let _ = std::fs::remove_dir_all(&latest);
    }
    let _ = perseus_cmd(&["lab", "down", "redis"]);
    Ok(format!(
        "\n### Scenarios: step timing and measurement resolution (redis, {runs} runs of 10 steps)\n\n\
         | figure | median | p99 | max | target |\n|---|---:|---:|---:|---|\n\
         | step fired late against its schedule, ms ({n} steps) | {:.2} | {:.2} | {:.2} | p99 < 50 |\n\
         | window measured for a 3.0 s pause, s ({m} pauses) | {:.3} | {:.3} | {:.3} | |\n\
         | its error against 3.0 s, s | {:.3} | {:.3} | {:.3} | < 0.1 |\n",
        median(&late),
        quantile(&late, 0.99),
        quantile(&late, 1.0),
        median(&windows),
        quantile(&windows, 0.99),
        quantile(&windows, 1.0),
        median(&errors),
        quantile(&errors, 0.99),
        quantile(&errors, 1.0),
        runs = opts.reps,
        n = late.len(),
        m = windows.len(),
    ))
}

// ---------------------------------------------------------------------------------------------
// Soak

/// One long run: what it did and what it cost.
struct SoakRow {
    what: String,
    iterations: f64,
    errors: f64,
    rss_mib: f64,
    cpu_per_m: f64,
    fds: (Option<usize>, Option<usize>),
}

/// `perseus load redis --duration {secs}s --clients-per-node 16`, descriptors counted 10 s in
/// and 5 s before the end.
fn soak_load(secs: u64) -> R<SoakRow> {
    let mut cmd = load_redis(16, secs);
    cmd.arg("--json");
    let samples = [Duration::from_secs(10), Duration::from_secs(secs - 5)];
    let (m, fds) = measured_with_fds(cmd, &samples)?;
    if !m.out.status.success() {
        return Err(format!(
            "perseus load failed: {}",
            String::from_utf8_lossy(&m.out.stderr)
        ));
    }
    // `--json` puts the summary on stderr (stdout keeps the seeds' lines).
    let json: serde_json::Value = String::from_utf8_lossy(&m.out.stderr)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or("perseus load --json printed no summary")?;
    let it = json["iterations"].as_f64().ok_or("no iterations")?;
    Ok(SoakRow {
        what: format!("`perseus load redis --duration {secs}s --clients-per-node 16`"),
        iterations: it,
        errors: json["errors"].as_f64().unwrap_or(0.0),
        rss_mib: m.max_rss_kib as f64 / 1024.0,
        cpu_per_m: m.cpu_s / it * 1e6,
        fds: (fds[0], fds[1]),
    })
}

/// `perseus run` of a scenario that kills a random node every 20 s and starts it 10 s later, for
/// `secs` seconds of load at 16 connections per node (history written, as by default).
fn soak_kills(secs: u64) -> R<SoakRow> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("kills.yaml");
    let scenario = format!(
        "name: bench-soak-kills\nsystem: redis\nseed: 18\n\
         load: {{duration: {secs}s, clients-per-node: 16}}\nsteps:\n  \
         - {{name: crash, at: 20s, every: 20s, until: {}s, fault: kill, target: random}}\n  \
         - {{at: 30s, every: 20s, until: {}s, fault: start, target: crash}}\n",
        secs - 10,
        secs - 5
    );
    std::fs::write(&file, scenario).map_err(|e| e.to_string())?;
    let runs = dir.path().join("runs");
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg(&file)
        .args(["--reuse", "--runs-dir"])
        .arg(&runs);
    // The load starts after a warm-up of about a second.
    let samples = [Duration::from_secs(12), Duration::from_secs(secs - 3)];
    let (m, fds) = measured_with_fds(cmd, &samples)?;
    if !m.out.status.success() {
        return Err(format!(
            "perseus run failed: {}",
            String::from_utf8_lossy(&m.out.stderr)
        ));
    }
    let folder = std::fs::read_dir(&runs)
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no run folder")?
        .map_err(|e| e.to_string())?
        .path();
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(folder.join("summary.json")).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let load = &summary["load"];
    let it = load["iterations"].as_f64().ok_or("no iterations")?;
    let kills = summary["steps"]
        .as_array()
        .map_or(0, |s| s.iter().filter(|s| s["fault"] == "kill").count());
    Ok(SoakRow {
        what: format!(
            "`perseus run`, {secs} s at 16 conns/node, a node killed every 20 s and started 10 s later ({kills} kills)"
        ),
        iterations: it,
        errors: load["errors"].as_f64().unwrap_or(0.0),
        rss_mib: m.max_rss_kib as f64 / 1024.0,
        cpu_per_m: m.cpu_s / it * 1e6,
        fds: (fds[0], fds[1]),
    })
}

async fn soak() -> R<String> {
    lab_up("redis", 3).await?;
    let rows = (|| -> R<Vec<SoakRow>> {
        let mut rows = Vec::new();
        for secs in [30, 600] {
            eprintln!("  perseus load redis --duration {secs}s --clients-per-node 16");
            rows.push(soak_load(secs)?);
        }
        eprintln!("  perseus run: a kill every 20 s for 300 s");
        rows.push(soak_kills(300)?);
        Ok(rows)
    })();
    lab_down("redis")?;
    let rows = rows?;
    let fd = |f: Option<usize>| f.map_or("-".into(), |f| f.to_string());
    let mut table = String::new();
    for r in &rows {
        writeln!(
            table,
            "| {} | {:.1} | {:.0} | {:.1} | {:.1} | {} | {} |",
            r.what,
            r.iterations / 1e6,
            r.errors,
            r.rss_mib,
            r.cpu_per_m,
            fd(r.fds.0),
            fd(r.fds.1)
        )
        .unwrap();
    }
    Ok(format!(
        "\n### Soak: memory, CPU and descriptors over long runs (redis, 3 nodes)\n\n\
         | run | iterations (M) | failed iterations (each a reconnect) | peak RSS MiB | CPU s per M it | open fds 10 s in | open fds at the end |\n\
         |---|---:|---:|---:|---:|---:|---:|\n{table}"
    ))
}

// ---------------------------------------------------------------------------------------------
// BENCHMARKS.md

const BEGIN: &str = "<!-- generated by scripts/bench: begin -->";
const END: &str = "<!-- generated by scripts/bench: end -->";

/// Replace what lies between the markers of `file` with `body`.
fn update(file: &Path, body: &str) -> R<()> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!(
            "{} has no `{BEGIN}` ... `{END}` markers",
            file.display()
        ));
    };
    let new = format!("{}{BEGIN}\n{}\n{}", &text[..b], body.trim(), &text[e..]);
    std::fs::write(file, new).map_err(|e| format!("{}: {e}", file.display()))
}
