//! Nodes whose data directory is mounted through the lazy file system (crate `lazyfs/`, binary
//! `perseus-lazyfs`), so that a power loss can drop what the database never made durable.
//!
//! Where it runs: inside each node's main container, as the database's parent. The binary is
//! bind-mounted read-only from the folder of the `perseus` executable (as Gryadka's proposer is)
//! and becomes the container's command; it mounts over the definition's `data-dir` and runs the
//! image's own entrypoint and command as the container's user would have. What the node gains,
//! and why: the device `/dev/fuse` and the capability `CAP_SYS_ADMIN` (a FUSE mount needs both),
//! and no AppArmor confinement (Docker's default profile forbids `mount`); the supervisor runs as
//! root to mount, and drops `CAP_SYS_ADMIN` from the bounding set and switches to the
//! container's user before it runs the database, so the database holds no privilege it did not
//! have. Off unless asked for (`lab up --lazyfs`, or `x-perseus.lazyfs: true`): a lab without it
//! is exactly what it was.
//!
//! How faults reach it ([`crate::fault`]): `kill` sends the supervisor `SIGUSR1` (the database is
//! SIGKILLed and its unsynced writes kept, as a process crash keeps the page cache), `power-loss`
//! sends `SIGPWR` (they are dropped, and name changes whose directory was not fsynced undone) or,
//! torn, `SIGUSR2`; `stop` sends `SIGTERM`, which the supervisor passes on.

use std::path::{Path, PathBuf};

use bollard::Docker;

use super::compose::{Mount, NodeSpec};
use super::definition::Definition;
use crate::error::{Error, LabError, Result};

/// Tell every lazy node's supervisor that the lab has settled (`SIGURG`): what was written while
/// it came up (configuration, a member's identity, the schema) is written back, as on a machine
/// that has been up a while, so that a power loss takes what the database left unsynced during
/// the experiment. `lab up` does this once the lab is ready.
///
/// Errors: a Docker error naming the container.
pub async fn settle(lab: &super::Lab) -> Result<()> {
    for n in lab.nodes.iter().filter(|n| n.lazy.is_some()) {
        let opts = bollard::query_parameters::KillContainerOptionsBuilder::default()
            .signal("SIGURG")
            .build();
        lab.engine(n)
            .kill_container(&n.main, Some(opts))
            .await
            .map_err(Error::docker(format!("settling {}", n.main)))?;
    }
    Ok(())
}

/// The supervisor's file name, next to `perseus`.
pub const BINARY: &str = "perseus-lazyfs";

/// Where it is mounted in a node.
pub const TARGET: &str = "/usr/local/bin/perseus-lazyfs";

/// The label on a lazy node's main container; its value is the data directory.
pub const LABEL: &str = "perseus.lazyfs";

/// The supervisor's exit code after a power loss (128 + `SIGPWR`); `lab status` shows it as
/// `power lost`.
pub const POWER_LOST: i64 = 128 + libc::SIGPWR as i64;

/// The same after a power loss that tore writes (128 + `SIGUSR2`).
pub const POWER_LOST_TORN: i64 = 128 + libc::SIGUSR2 as i64;

/// The data directory to mount lazily, when the lab runs lazily: asked for (`--lazyfs`) or set
/// in the definition.
///
/// Errors: [`LabError::NoDataDir`] when it is asked for and the definition has no `data-dir`;
/// [`LabError::LazyfsMissing`] when `perseus-lazyfs` is not next to `perseus`.
pub fn plan(def: &Definition, system: &str, asked: bool) -> Result<Option<(String, PathBuf)>> {
    if !asked && !def.perseus.lazyfs {
        return Ok(None);
    }
    let Some(dir) = def.perseus.data_dir.clone() else {
        return Err(LabError::NoDataDir {
            system: system.to_string(),
        }
        .into());
    };
    Ok(Some((dir, binary()?)))
}

/// `perseus-lazyfs` next to the running executable.
///
/// Errors: [`LabError::LazyfsMissing`].
pub fn binary() -> Result<PathBuf> {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let bin = dir.join(BINARY);
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(LabError::LazyfsMissing { path: bin }.into())
    }
}

/// What an image runs and as whom, from its configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageRun {
    /// `ENTRYPOINT`.
    pub entrypoint: Option<Vec<String>>,
    /// `CMD`.
    pub cmd: Option<Vec<String>>,
    /// `USER`.
    pub user: Option<String>,
}

impl ImageRun {
    /// Ask the engine.
    ///
    /// Errors: [`Error::Docker`] naming the image.
    pub async fn of(docker: &Docker, image: &str) -> Result<ImageRun> {
        let info = docker
            .inspect_image(image)
            .await
            .map_err(Error::docker(format!("inspecting image {image}")))?;
        let config = info.config.unwrap_or_default();
        Ok(ImageRun {
            entrypoint: config.entrypoint.filter(|e| !e.is_empty()),
            cmd: config.cmd.filter(|c| !c.is_empty()),
            user: config.user.filter(|u| !u.is_empty()),
        })
    }
}

/// Make a node's main container run under the supervisor: its command becomes
/// `perseus-lazyfs --dir DIR [--user USER] -- ENTRYPOINT... CMD...` (as Docker would have run it,
/// the service's `entrypoint` resetting the image's `CMD`), it runs as root, and the binary is
/// mounted from `bin`.
pub fn wrap(spec: &mut NodeSpec, dir: &str, bin: &Path, image: &ImageRun) {
    let Some(c) = spec.containers.iter_mut().find(|c| c.main) else {
        return;
    };
    let (entry, cmd) = match &c.entrypoint {
        Some(e) => (e.clone(), c.command.clone().unwrap_or_default()),
        None => (
            image.entrypoint.clone().unwrap_or_default(),
            c.command
                .clone()
                .or_else(|| image.cmd.clone())
                .unwrap_or_default(),
        ),
    };
    let user = c
        .user
        .clone()
        .or_else(|| image.user.clone())
        .filter(|u| u != "root" && u != "0" && u != "0:0");
    let mut run = vec![TARGET.to_string(), "--dir".into(), dir.to_string()];
    if let Some(u) = user {
        run.extend(["--user".into(), u]);
    }
    run.push("--".into());
    run.extend(entry);
    run.extend(cmd);
    c.entrypoint = Some(run);
    c.command = None;
    c.user = Some("0".into());
    c.mounts.push(Mount::Bind {
        source: bin.to_path_buf(),
        target: TARGET.into(),
        read_only: true,
    });
    c.lazy = Some(dir.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::compose::ContainerSpec;

    fn node(entrypoint: Option<&[&str]>, command: Option<&[&str]>, user: Option<&str>) -> NodeSpec {
        let v = |x: Option<&[&str]>| x.map(|a| a.iter().map(|s| s.to_string()).collect());
        NodeSpec {
            name: "n1".into(),
            containers: vec![ContainerSpec {
                service: "n1".into(),
                main: true,
                image: "perseus/redis:7".into(),
                build: None,
                version: None,
                entrypoint: v(entrypoint),
                command: v(command),
                env: Vec::new(),
                hostname: None,
                user: user.map(String::from),
                mounts: Vec::new(),
                labels: Vec::new(),
                ulimits: Vec::new(),
                tmpfs: Vec::new(),
                lazy: None,
            }],
        }
    }

    #[test]
    fn the_supervisor_runs_what_docker_would_have_run_as_the_user_it_would_have_run_as() {
        let image = ImageRun {
            entrypoint: Some(vec!["docker-entrypoint.sh".into()]),
            cmd: Some(vec!["redis-server".into()]),
            user: None,
        };
        let bin = Path::new("/x/perseus-lazyfs");
        // The service's command after the image's entrypoint.
        let mut n = node(None, Some(&["redis-server", "/etc/r.conf"]), Some("redis"));
        wrap(&mut n, "/data", bin, &image);
        let c = &n.containers[0];
        assert_eq!(
            c.entrypoint.as_deref().unwrap(),
            [
                TARGET,
                "--dir",
                "/data",
                "--user",
                "redis",
                "--",
                "docker-entrypoint.sh",
                "redis-server",
                "/etc/r.conf"
            ]
        );
        assert_eq!((c.command.as_deref(), c.user.as_deref()), (None, Some("0")));
        assert_eq!(c.lazy.as_deref(), Some("/data"));
        assert!(c
            .mounts
            .iter()
            .any(|m| matches!(m, Mount::Bind { target, read_only: true, .. } if target == TARGET)));
        // A service entrypoint resets the image's CMD; the image's USER is kept; root stays root.
        let mut n = node(Some(&["/bin/etcd"]), None, None);
        let image = ImageRun {
            user: Some("etcd".into()),
            ..image
        };
        wrap(&mut n, "/var/lib/etcd", bin, &image);
        assert_eq!(
            n.containers[0].entrypoint.as_deref().unwrap(),
            [
                TARGET,
                "--dir",
                "/var/lib/etcd",
                "--user",
                "etcd",
                "--",
                "/bin/etcd"
            ]
        );
        let mut n = node(None, None, Some("root"));
        wrap(&mut n, "/data", bin, &ImageRun::default());
        assert_eq!(
            n.containers[0].entrypoint.as_deref().unwrap(),
            [TARGET, "--dir", "/data", "--"]
        );
    }
}
