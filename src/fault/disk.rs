//! Disk faults: corrupted files on a stopped node ([`corrupt`]), and the power loss of a node
//! under the lazy file system ([`through_supervisor`]; [`crate::lab::lazy`] says how the
//! supervisor keeps and drops what was not fsynced).
//!
//! A corruption is Jepsen's file-corruption nemesis: bits flipped at random in the files a glob
//! names under the definition's `data-dir`, or bytes cut off their ends. The node must be down
//! (killed, stopped or without power): its files are read and written through the Engine's
//! archive API (`GET`/`PUT /containers/{id}/archive`), which reaches a stopped container's
//! volumes. The choices come from a seed, given or drawn and named in the event, so that the same
//! corruption of the same files can be made again.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read as _;
use std::time::{Duration, Instant};

use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, KillContainerOptionsBuilder,
    UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;
use rand::{Rng, SeedableRng};

use crate::error::{Error, FaultError, LabError, Result};
use crate::lab::{Lab, Node};

/// How long a lazy node's supervisor gets to end the database and sync or drop what it holds
/// before the node is SIGKILLed.
const SUPERVISOR_WAIT: Duration = Duration::from_secs(15);

/// The changes an event names one by one; the rest are counted (the seed makes them all again).
const MAX_SHOWN: usize = 12;

/// How a corruption damages the files it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// Flip this many bits, each at a random byte of the matched files (uniform over their
    /// bytes) and a random bit of it.
    Bitflip {
        /// Bits to flip (at least 1).
        bits: u32,
    },
    /// Cut this many bytes off the end of every matched file (a file shorter than that ends
    /// empty).
    Truncate {
        /// Bytes to cut (at least 1).
        bytes: u64,
    },
}

impl Corruption {
    /// From the command line's or a step's `--bitflip N` / `--truncate BYTES`: exactly one.
    ///
    /// Errors: none or both given, or a zero, in one line.
    pub fn from_options(
        bitflip: Option<u32>,
        truncate: Option<u64>,
    ) -> std::result::Result<Corruption, String> {
        match (bitflip, truncate) {
            (Some(0), _) | (_, Some(0)) => {
                Err("a corruption of 0 bits or bytes changes nothing: give at least 1".into())
            }
            (Some(bits), None) => Ok(Corruption::Bitflip { bits }),
            (None, Some(bytes)) => Ok(Corruption::Truncate { bytes }),
            _ => Err("corrupt takes one of bitflip (bits to flip) or truncate (bytes to cut off the end)".into()),
        }
    }
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corruption::Bitflip { bits } => write!(f, "{bits} bit flip(s)"),
            Corruption::Truncate { bytes } => write!(f, "last {bytes} bytes cut"),
        }
    }
}

/// One file as the archive gave it.
struct DataFile {
    header: tar::Header,
    data: Vec<u8>,
}

/// Whether `path` (relative, `/`-separated) matches `glob`: `*` any characters but `/`, `**` any
/// characters, `?` one character but `/`.
pub fn glob_matches(glob: &str, path: &str) -> bool {
    fn go(g: &[u8], p: &[u8]) -> bool {
        match g {
            [] => p.is_empty(),
            [b'*', b'*', rest @ ..] => {
                let rest = rest.strip_prefix(b"/").unwrap_or(rest);
                (0..=p.len()).any(|i| go(rest, &p[i..]))
            }
            [b'*', rest @ ..] => (0..=p.len())
                .take_while(|&i| i == 0 || p[i - 1] != b'/')
                .any(|i| go(rest, &p[i..])),
            [b'?', rest @ ..] => !p.is_empty() && p[0] != b'/' && go(rest, &p[1..]),
            [c, rest @ ..] => p.first() == Some(c) && go(rest, &p[1..]),
        }
    }
    go(glob.as_bytes(), path.as_bytes())
}

/// Corrupt the files `glob` names under the node's data directory, the node being down. Returns
/// what was done: each change, and the seed that makes it again.
///
/// Errors: [`LabError::NoDataDir`]; [`FaultError::CorruptRunning`] for a node that runs;
/// [`FaultError::NoFileMatches`] when the glob names no file (nothing changed); a Docker error
/// naming the container.
pub async fn corrupt(
    lab: &Lab,
    node: &str,
    glob: &str,
    how: Corruption,
    seed: Option<u64>,
) -> Result<String> {
    let n = lab.node(node)?;
    let docker = lab.engine(n);
    let Some(dir) = lab.definition.perseus.data_dir.clone() else {
        return Err(LabError::NoDataDir {
            system: lab.system.clone(),
        }
        .into());
    };
    let running = crate::docker::inspect(docker, &n.main)
        .await?
        .state
        .and_then(|s| s.running)
        .unwrap_or(false);
    if running {
        return Err(FaultError::CorruptRunning {
            node: node.to_string(),
        }
        .into());
    }
    let files = download(docker, &n.main, &dir).await?;
    let mut matched: Vec<(&String, &DataFile)> = files
        .iter()
        .filter(|(p, _)| glob_matches(glob, p))
        .collect();
    matched.retain(|(_, f)| !f.data.is_empty() || matches!(how, Corruption::Truncate { .. }));
    if matched.is_empty() {
        let some: Vec<&str> = files.keys().take(8).map(String::as_str).collect();
        return Err(FaultError::NoFileMatches {
            glob: glob.to_string(),
            node: node.to_string(),
            dir,
            some: if some.is_empty() {
                "no files".into()
            } else {
                some.join(", ")
            },
        }
        .into());
    }
    let seed = seed.unwrap_or_else(rand::random);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut changed: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    // (file, offset, what), sorted by file and offset for the event.
    let mut done: Vec<(String, u64, String)> = Vec::new();
    match how {
        Corruption::Bitflip { bits } => {
            let total: u64 = matched.iter().map(|(_, f)| f.data.len() as u64).sum();
            for _ in 0..bits {
                let mut at = rng.random_range(0..total);
                let bit = rng.random_range(0..8u8);
                for (path, f) in &matched {
                    let len = f.data.len() as u64;
                    if at < len {
                        let data = changed
                            .entry((*path).clone())
                            .or_insert_with(|| f.data.clone());
                        data[at as usize] ^= 1 << bit;
                        done.push(((*path).clone(), at, format!("{path} byte {at} bit {bit}")));
                        break;
                    }
                    at -= len;
                }
            }
        }
        Corruption::Truncate { bytes } => {
            for (path, f) in &matched {
                let keep = f.data.len().saturating_sub(bytes as usize);
                changed.insert((*path).clone(), f.data[..keep].to_vec());
                done.push((
                    (*path).clone(),
                    0,
                    format!("{path} {} -> {keep} bytes", f.data.len()),
                ));
            }
        }
    }
    upload(docker, &n.main, &dir, &files, &changed).await?;
    done.sort();
    let done: Vec<String> = done.into_iter().map(|(_, _, d)| d).collect();
    let shown = if done.len() > MAX_SHOWN {
        format!(
            "{} and {} more",
            done[..MAX_SHOWN].join(", "),
            done.len() - MAX_SHOWN
        )
    } else {
        done.join(", ")
    };
    Ok(format!(
        "{how} in {dir} of {} (seed {seed}): {shown}",
        n.main
    ))
}

/// Every regular file under `dir` in the container, by path relative to `dir`. The lazy file
/// system's trash is left out.
async fn download(
    docker: &Docker,
    container: &str,
    dir: &str,
) -> Result<BTreeMap<String, DataFile>> {
    let opts = DownloadFromContainerOptionsBuilder::default()
        .path(dir)
        .build();
    let mut stream = docker.download_from_container(container, Some(opts));
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(
            &chunk.map_err(Error::docker(format!("reading {dir} of {container}")))?,
        );
    }
    let unpacking = |e: std::io::Error| LabError::Packing {
        container: container.to_string(),
        error: e,
    };
    let mut files = BTreeMap::new();
    let mut archive = tar::Archive::new(bytes.as_slice());
    for entry in archive.entries().map_err(unpacking)? {
        let mut entry = entry.map_err(unpacking)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry
            .path()
            .map_err(unpacking)?
            .to_string_lossy()
            .to_string();
        // The archive's paths start with the directory's own name.
        let Some((_, rel)) = path.split_once('/') else {
            continue;
        };
        if rel.starts_with(".perseus-lazyfs-trash") {
            continue;
        }
        let header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(unpacking)?;
        files.insert(rel.to_string(), DataFile { header, data });
    }
    Ok(files)
}

/// Write the changed files back, each with its own mode, owner and times.
async fn upload(
    docker: &Docker,
    container: &str,
    dir: &str,
    files: &BTreeMap<String, DataFile>,
    changed: &BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    let packing = |e: std::io::Error| LabError::Packing {
        container: container.to_string(),
        error: e,
    };
    let mut tar = tar::Builder::new(Vec::new());
    for (path, data) in changed {
        let mut header = files[path].header.clone();
        header.set_size(data.len() as u64);
        header.set_cksum();
        tar.append_data(&mut header, path, data.as_slice())
            .map_err(packing)?;
    }
    let body = tar.into_inner().map_err(packing)?;
    let opts = UploadToContainerOptionsBuilder::default().path(dir).build();
    docker
        .upload_to_container(container, Some(opts), bollard::body_full(body.into()))
        .await
        .map_err(Error::docker(format!("writing {dir} of {container}")))
}

/// Send a lazy node's supervisor `signal` (`SIGUSR1`: process crash, `SIGPWR`: power loss,
/// `SIGUSR2`: torn power loss), wait until its container has exited, and SIGKILL the node's
/// sidecars. Returns what was done, with the supervisor's own account of what it kept or lost.
///
/// Errors: a Docker error naming the container.
pub async fn through_supervisor(docker: &Docker, n: &Node, signal: &str) -> Result<String> {
    let kill = |sig: &str| KillContainerOptionsBuilder::default().signal(sig).build();
    docker
        .kill_container(&n.main, Some(kill(signal)))
        .await
        .map_err(Error::docker(format!("signalling {}", n.main)))?;
    let deadline = Instant::now() + SUPERVISOR_WAIT;
    let mut forced = "";
    loop {
        let running = crate::docker::inspect(docker, &n.main)
            .await?
            .state
            .and_then(|s| s.running)
            .unwrap_or(false);
        if !running {
            break;
        }
        if Instant::now() > deadline {
            let _ = docker.kill_container(&n.main, Some(kill("SIGKILL"))).await;
            forced = " (it did not end in time: SIGKILLed)";
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for c in n.containers.iter().filter(|c| **c != n.main) {
        docker
            .kill_container(c, Some(kill("SIGKILL")))
            .await
            .map_err(Error::docker(format!("killing {c}")))?;
    }
    let said = crate::docker::tail_logs(docker, &n.main, 5).await;
    let account = said
        .lines()
        .rev()
        .find_map(|l| {
            l.split_once("perseus-lazyfs: ")
                .map(|(_, rest)| rest.trim().to_string())
        })
        .filter(|a| !a.starts_with("undoing"))
        .map(|a| format!(": {a}"))
        .unwrap_or_default();
    Ok(format!(
        "{signal} to perseus-lazyfs in {}{forced}{account}",
        n.main
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_a_shell_would_and_double_stars_cross_folders() {
        assert!(glob_matches("version-2/log.*", "version-2/log.100000001"));
        assert!(!glob_matches("version-2/log.*", "version-2/snapshot.0"));
        assert!(!glob_matches("*.wal", "member/wal/0.wal"), "* stops at /");
        assert!(glob_matches("**/*.wal", "member/wal/0.wal"));
        assert!(glob_matches("member-data/**", "member-data/member/snap/db"));
        assert!(glob_matches("log.?", "log.1") && !glob_matches("log.?", "log.10"));
        assert!(glob_matches(
            "appendonly/*.incr.aof",
            "appendonly/appendonly.aof.1.incr.aof"
        ));
    }

    #[test]
    fn a_corruption_is_one_of_bitflip_or_truncate_and_not_nothing() {
        assert_eq!(
            Corruption::from_options(Some(3), None),
            Ok(Corruption::Bitflip { bits: 3 })
        );
        assert_eq!(
            Corruption::from_options(None, Some(512)),
            Ok(Corruption::Truncate { bytes: 512 })
        );
        assert!(Corruption::from_options(None, None).is_err());
        assert!(Corruption::from_options(Some(1), Some(1)).is_err());
        assert!(Corruption::from_options(Some(0), None)
            .unwrap_err()
            .contains("at least 1"));
    }
}
