//! The Docker Engine connection and the labels every lab object carries.
//!
//! Everything Docker goes through bollard (no docker CLI). Every object the lab creates is labelled
//! with [`LAB_LABEL`] (the system) and, for node containers and helpers, [`NODE_LABEL`], so that
//! `perseus lab down` can find and remove all of it even after perseus itself crashed.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    LogsOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

use crate::error::{Error, Result};

/// Label naming the system a lab object belongs to (`perseus.lab=etcd`).
pub const LAB_LABEL: &str = "perseus.lab";
/// Label naming the node a container belongs to (`perseus.node=n1`).
pub const NODE_LABEL: &str = "perseus.node";
/// Label naming the container's part: `main` (the node's network namespace), `sidecar`, or `helper`.
pub const ROLE_LABEL: &str = "perseus.role";
/// Label holding the node's fixed IPv4 address on the lab network (used by `fault connect`).
pub const IP_LABEL: &str = "perseus.ip";
/// Label holding the node's client port (what the load loop connects to).
pub const PORT_LABEL: &str = "perseus.client-port";
/// Label holding the path of the definition file a lab was made from.
pub const DEFINITION_LABEL: &str = "perseus.definition";
/// Label holding the release of the system a lab was brought up at (`3.5.1`), on every
/// container of a lab whose definition lists releases.
pub const VERSION_LABEL: &str = "perseus.version";

/// How long a single Docker API call may take before we give up (seconds).
pub const API_TIMEOUT_SECS: u64 = 120;

/// Connect to the Docker Engine named by `DOCKER_HOST` (or the local socket) and check that it answers.
///
/// Errors: [`Error::DockerUnreachable`] when there is no engine or it does not answer `ping` within 5 s.
pub async fn connect() -> Result<Docker> {
    let docker = Docker::connect_with_defaults()
        .map_err(|e| Error::DockerUnreachable {
            detail: e.to_string(),
        })?
        .with_timeout(Duration::from_secs(API_TIMEOUT_SECS));
    match tokio::time::timeout(Duration::from_secs(5), docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(Error::DockerUnreachable {
            detail: e.to_string(),
        }),
        Err(_) => Err(Error::DockerUnreachable {
            detail: "no answer to ping within 5 s".into(),
        }),
    }
}

/// Inspect a container. Errors: [`Error::Docker`] naming the container.
pub async fn inspect(
    docker: &Docker,
    container: &str,
) -> Result<bollard::models::ContainerInspectResponse> {
    docker
        .inspect_container(
            container,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .map_err(Error::docker(format!("inspecting {container}")))
}

/// Start a container; one that is already running counts as started (idempotent).
/// Errors: [`Error::Docker`] naming the container.
pub async fn start(docker: &Docker, container: &str) -> Result<()> {
    match docker
        .start_container(
            container,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
    {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304, ..
        }) => Ok(()),
        Err(e) => Err(Error::Docker {
            context: format!("starting {container}"),
            source: e,
        }),
    }
}

/// Whether an image with this reference exists locally.
///
/// Errors: [`Error::Docker`] when the Engine fails the inspect for another reason than 404.
pub async fn image_exists(docker: &Docker, image: &str) -> Result<bool> {
    match docker.inspect_image(image).await {
        Ok(_) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(e) => Err(Error::Docker {
            context: format!("inspecting image {image}"),
            source: e,
        }),
    }
}

/// Labels for an object of the lab of `system`, plus `extra` ones.
pub fn labels(system: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut l = HashMap::new();
    l.insert(LAB_LABEL.to_string(), system.to_string());
    for (k, v) in extra {
        l.insert(k.to_string(), v.to_string());
    }
    l
}

/// A label filter for list calls: objects of `system`'s lab, or of every lab when `None`.
pub fn lab_filter(system: Option<&str>) -> HashMap<String, Vec<String>> {
    let value = match system {
        Some(s) => format!("{LAB_LABEL}={s}"),
        None => LAB_LABEL.to_string(),
    };
    HashMap::from([("label".to_string(), vec![value])])
}

/// Every container (running or not) of `system`'s lab, or of every lab.
pub async fn lab_containers(
    docker: &Docker,
    system: Option<&str>,
) -> Result<Vec<bollard::models::ContainerSummary>> {
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&lab_filter(system))
        .build();
    docker
        .list_containers(Some(opts))
        .await
        .map_err(Error::docker("listing lab containers"))
}

/// Every network of `system`'s lab, or of every lab.
pub async fn lab_networks(
    docker: &Docker,
    system: Option<&str>,
) -> Result<Vec<bollard::models::Network>> {
    let opts = ListNetworksOptionsBuilder::default()
        .filters(&lab_filter(system))
        .build();
    docker
        .list_networks(Some(opts))
        .await
        .map_err(Error::docker("listing lab networks"))
}

/// Every volume of `system`'s lab, or of every lab.
pub async fn lab_volumes(
    docker: &Docker,
    system: Option<&str>,
) -> Result<Vec<bollard::models::Volume>> {
    let opts = ListVolumesOptionsBuilder::default()
        .filters(&lab_filter(system))
        .build();
    let resp = docker
        .list_volumes(Some(opts))
        .await
        .map_err(Error::docker("listing lab volumes"))?;
    Ok(resp.volumes.unwrap_or_default())
}

/// The last `lines` lines a container wrote (stdout and stderr), for error messages. Never fails: a
/// container whose logs cannot be read yields a note saying so.
pub async fn tail_logs(docker: &Docker, container: &str, lines: usize) -> String {
    let opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail(&lines.to_string())
        .build();
    let mut stream = docker.logs(container, Some(opts));
    let mut out = String::new();
    let read = async {
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => out.push_str(&chunk.to_string()),
                Err(e) => {
                    out.push_str(&format!("(logs unavailable: {e})"));
                    break;
                }
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .is_err()
    {
        return format!("(logs of {container} did not arrive within 5 s)");
    }
    out
}

/// The most lines [`logs_between`] reads of one container.
pub const MAX_LOG_LINES: usize = 200_000;

/// The lines a container wrote (stdout and stderr) from `since` to `until`, each with the time
/// the Docker Engine stamped it (its receipt of the line, on this machine's clock). Whole seconds
/// bound the request (the Engine's `since`/`until` are Unix seconds); lines outside the span are
/// dropped here. At most [`MAX_LOG_LINES`] lines, read within 10 s.
///
/// Errors: [`Error::Docker`] when the Engine refuses the request, [`Error::Io`] when it does not
/// finish in time.
pub async fn logs_between(
    docker: &Docker,
    container: &str,
    since: SystemTime,
    until: SystemTime,
) -> Result<Vec<(SystemTime, String)>> {
    let unix = |t: SystemTime, up: bool| {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let s = d.as_secs() + u64::from(up && d.subsec_nanos() > 0);
        i32::try_from(s).unwrap_or(i32::MAX)
    };
    let opts = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .timestamps(true)
        .since(unix(since, false))
        .until(unix(until, true))
        .build();
    let mut stream = docker.logs(container, Some(opts));
    let mut lines = Vec::new();
    let read = async {
        while let Some(item) = stream.next().await {
            let chunk = item.map_err(Error::docker(format!("reading the logs of {container}")))?;
            for line in chunk.to_string().lines() {
                let Some((stamp, text)) = line.split_once(' ') else {
                    continue;
                };
                let Ok(at) = humantime::parse_rfc3339_weak(stamp) else {
                    continue;
                };
                if at >= since && at <= until {
                    lines.push((at, text.to_string()));
                }
            }
            if lines.len() >= MAX_LOG_LINES {
                break;
            }
        }
        Ok::<(), Error>(())
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .map_err(|_| Error::Io {
            context: format!("reading the logs of {container}"),
            source: std::io::Error::new(std::io::ErrorKind::TimedOut, "no end within 10 s"),
        })??;
    Ok(lines)
}

/// What a command run with [`exec`] printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit code (`None` when Docker did not report one).
    pub code: Option<i64>,
    /// stdout and stderr, interleaved as they arrived.
    pub output: String,
}

/// Run `cmd` inside a running container and wait for it, at most `timeout`.
///
/// Errors: [`Error::Docker`] when the exec cannot be created or started (for example the container
/// is not running), or when it outlives `timeout`.
pub async fn exec(
    docker: &Docker,
    container: &str,
    cmd: &[String],
    timeout: std::time::Duration,
) -> Result<ExecOutput> {
    use bollard::exec::{CreateExecOptions, StartExecResults};
    use futures_util::StreamExt;
    let work = async {
        let created = docker
            .create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(Error::docker(format!("exec in {container}")))?;
        let mut output = String::new();
        if let StartExecResults::Attached {
            output: mut out, ..
        } = docker
            .start_exec(&created.id, None)
            .await
            .map_err(Error::docker(format!("exec in {container}")))?
        {
            while let Some(Ok(chunk)) = out.next().await {
                output.push_str(&chunk.to_string());
            }
        }
        let code = docker
            .inspect_exec(&created.id)
            .await
            .map_err(Error::docker(format!("exec in {container}")))?
            .exit_code;
        Ok(ExecOutput { code, output })
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(Error::Docker {
            context: format!(
                "exec of `{}` in {container} did not finish within {} s",
                cmd.join(" "),
                timeout.as_secs()
            ),
            source: bollard::errors::Error::RequestTimeoutError,
        }),
    }
}
