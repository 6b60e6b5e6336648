//! The Docker Engine connection and the labels every lab object carries.
//!
//! Everything Docker goes through bollard (no docker CLI). Every object the lab creates is labelled
//! with [`LAB_LABEL`] (the system) and, for node containers and helpers, [`NODE_LABEL`], so that
//! `perseus lab down` can find and remove all of it even after perseus itself crashed.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};
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

/// How long Perseus waits for an Engine that does not answer before a call fails, by default.
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(30);

static PATIENCE: OnceLock<Duration> = OnceLock::new();

/// What the Engine's silences cost: one line per call that had to be tried again, taken by
/// [`take_engine_notes`] (a run puts them in its report).
static NOTES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Set how long calls wait for an Engine that does not answer ([`patiently`]); `Duration::ZERO`
/// makes every call fail at its first connection error. The first setting holds.
pub fn set_patience(patience: Duration) {
    let _ = PATIENCE.set(patience);
}

/// How long calls wait for an Engine that does not answer: as set by [`set_patience`]
/// (`--engine-patience`), else [`DEFAULT_PATIENCE`].
pub fn patience() -> Duration {
    *PATIENCE.get_or_init(|| DEFAULT_PATIENCE)
}

/// The notes of the calls tried again since the last take, oldest first.
pub fn take_engine_notes() -> Vec<String> {
    std::mem::take(&mut *NOTES.lock().unwrap_or_else(PoisonError::into_inner))
}

fn note(line: String) {
    eprintln!("perseus: {line}");
    NOTES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(line);
}

/// How a failed Engine call failed, for [`patiently`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The Engine answered: a refusal that trying again does not change (404, 409, a bad request).
    Answered,
    /// The request never reached the Engine (no socket, connection refused): safe to send again.
    NotSent,
    /// The connection broke or timed out after the request went out, or the Engine said it is
    /// unavailable (502, 503, 504): it may have acted.
    MaybeActed,
}

/// Classify a failed call ([`Failure`]).
pub fn failure(e: &bollard::errors::Error) -> Failure {
    use bollard::errors::Error as E;
    let io_kind = |k: std::io::ErrorKind| match k {
        std::io::ErrorKind::NotFound
        | std::io::ErrorKind::ConnectionRefused
        | std::io::ErrorKind::PermissionDenied => Failure::NotSent,
        _ => Failure::MaybeActed,
    };
    match e {
        E::DockerResponseServerError {
            status_code: 502..=504,
            ..
        } => Failure::MaybeActed,
        E::DockerResponseServerError { .. } => Failure::Answered,
        E::SocketNotFoundError(_) => Failure::NotSent,
        E::IOError { err } => io_kind(err.kind()),
        E::HyperLegacyError { err } if err.is_connect() => Failure::NotSent,
        E::HyperLegacyError { .. } | E::HyperResponseError { .. } | E::RequestTimeoutError => {
            // The cause may say the connection was never made.
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                if let Some(io) = c.downcast_ref::<std::io::Error>() {
                    return io_kind(io.kind());
                }
                cause = c.source();
            }
            Failure::MaybeActed
        }
        _ => Failure::Answered,
    }
}

/// The pause before try `n` (1-based) of a call: 200 ms, doubling, at most 2 s.
fn pause(n: u32) -> Duration {
    Duration::from_millis((200u64 << n.min(4)).min(2000))
}

/// Make an Engine call that survives the Engine not answering for a while: `call(again)` is
/// tried, and while it fails with a connection error ([`Failure::NotSent`], or
/// [`Failure::MaybeActed`] when `again` may re-read and repeat: see below) it is tried again
/// after a pause, for at most [`patience`]. `again` is `false` on the first try and `true` after:
/// a call that may have acted (a kill, a create, a script) reads the state first when it is true
/// and does only what is left. `what` names the call in the lines said (`killing
/// perseus-etcd-n1`): one when it first fails, one when it goes through again.
///
/// Errors: the call's own error: at once when the Engine answered (a 404 is an answer), or when it
/// may have acted and `repeatable` is false; else the last one, once [`patience`] is spent.
pub async fn patiently<T, F, Fut>(
    what: &str,
    repeatable: bool,
    call: F,
) -> std::result::Result<T, bollard::errors::Error>
where
    F: FnMut(bool) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, bollard::errors::Error>>,
{
    patiently_for(patience(), what, repeatable, call).await
}

/// [`patiently`] with its patience given.
async fn patiently_for<T, F, Fut>(
    patience: Duration,
    what: &str,
    repeatable: bool,
    mut call: F,
) -> std::result::Result<T, bollard::errors::Error>
where
    F: FnMut(bool) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, bollard::errors::Error>>,
{
    let start = tokio::time::Instant::now();
    let mut tries = 0u32;
    loop {
        let e = match call(tries > 0).await {
            Ok(v) => {
                if tries > 0 {
                    note(format!(
                        "the Docker Engine answered {what} again after {:.1} s ({tries} tries)",
                        start.elapsed().as_secs_f64()
                    ));
                }
                return Ok(v);
            }
            Err(e) => e,
        };
        let retry = match failure(&e) {
            Failure::Answered => false,
            Failure::NotSent => true,
            Failure::MaybeActed => repeatable,
        };
        if !retry || start.elapsed() >= patience {
            if tries > 0 {
                note(format!(
                    "the Docker Engine did not answer {what} within {} s: gave up ({e})",
                    patience.as_secs()
                ));
            }
            return Err(e);
        }
        if tries == 0 {
            note(format!(
                "the Docker Engine did not answer {what} ({e}): trying again for up to {} s",
                patience.as_secs()
            ));
        }
        tries += 1;
        tokio::time::sleep(pause(tries)).await;
    }
}

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
    let what = format!("inspecting {container}");
    patiently(&what, true, |_| {
        docker.inspect_container(
            container,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
    })
    .await
    .map_err(Error::docker(what))
}

/// Start a container; one that is already running counts as started (idempotent).
/// Errors: [`Error::Docker`] naming the container.
pub async fn start(docker: &Docker, container: &str) -> Result<()> {
    let what = format!("starting {container}");
    match patiently(&what, true, |_| {
        docker.start_container(
            container,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
    })
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

/// Whether a read by name found its object: `Ok(false)` for the Engine's 404, the error for
/// anything else (so that [`patiently`] can wait out an Engine that does not answer). For the
/// re-read before a create that may have happened is sent again.
pub fn found<T>(
    read: std::result::Result<T, bollard::errors::Error>,
) -> std::result::Result<bool, bollard::errors::Error> {
    match read {
        Ok(_) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether an image with this reference exists locally.
///
/// Errors: [`Error::Docker`] when the Engine fails the inspect for another reason than 404.
pub async fn image_exists(docker: &Docker, image: &str) -> Result<bool> {
    match patiently(&format!("inspecting image {image}"), true, |_| {
        docker.inspect_image(image)
    })
    .await
    {
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
    patiently("listing lab containers", true, |_| {
        docker.list_containers(Some(opts.clone()))
    })
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
    patiently("listing lab networks", true, |_| {
        docker.list_networks(Some(opts.clone()))
    })
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
    let resp = patiently("listing lab volumes", true, |_| {
        docker.list_volumes(Some(opts.clone()))
    })
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
/// dropped here. At most [`MAX_LOG_LINES`] lines, read within 10 s once the Engine answers; an
/// Engine that does not answer is waited for and asked again from the start, as [`patiently`]
/// does.
///
/// Errors: [`Error::Docker`] when the Engine refuses the request or stays away past the
/// patience, [`Error::Io`] when the read does not finish in time.
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
    let what = format!("reading the logs of {container}");
    // A read: tried again from the start while the Engine does not answer.
    let read = patiently(&what, true, |_| {
        let mut stream = docker.logs(container, Some(opts.clone()));
        async move {
            let mut lines = Vec::new();
            while let Some(chunk) = stream.next().await {
                for line in chunk?.to_string().lines() {
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
            Ok(lines)
        }
    });
    let bound = patience() + Duration::from_secs(10);
    tokio::time::timeout(bound, read)
        .await
        .map_err(|_| Error::Io {
            context: what.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no end within {} s", bound.as_secs()),
            ),
        })?
        .map_err(Error::docker(what))
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
        let what = format!("exec in {container}");
        // An exec that was made and not started does nothing: making it again is safe.
        let created = patiently(&what, true, |_| {
            docker.create_exec(
                container,
                CreateExecOptions {
                    cmd: Some(cmd.to_vec()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
        })
        .await
        .map_err(Error::docker(what.clone()))?;
        let mut output = String::new();
        if let StartExecResults::Attached {
            output: mut out, ..
        } = patiently(&what, false, |_| docker.start_exec(&created.id, None))
            .await
            .map_err(Error::docker(what.clone()))?
        {
            while let Some(Ok(chunk)) = out.next().await {
                output.push_str(&chunk.to_string());
            }
        }
        let code = patiently(&what, true, |_| docker.inspect_exec(&created.id))
            .await
            .map_err(Error::docker(what.clone()))?
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn io(kind: std::io::ErrorKind) -> bollard::errors::Error {
        bollard::errors::Error::IOError {
            err: std::io::Error::new(kind, "test"),
        }
    }

    fn status(code: u16) -> bollard::errors::Error {
        bollard::errors::Error::DockerResponseServerError {
            status_code: code,
            message: "test".into(),
        }
    }

    #[test]
    fn failures_are_told_apart_by_whether_the_engine_may_have_acted() {
        use std::io::ErrorKind as K;
        assert_eq!(failure(&io(K::ConnectionRefused)), Failure::NotSent);
        assert_eq!(failure(&io(K::NotFound)), Failure::NotSent);
        assert_eq!(failure(&io(K::ConnectionReset)), Failure::MaybeActed);
        assert_eq!(failure(&io(K::BrokenPipe)), Failure::MaybeActed);
        assert_eq!(
            failure(&bollard::errors::Error::SocketNotFoundError("/x".into())),
            Failure::NotSent
        );
        assert_eq!(failure(&status(503)), Failure::MaybeActed);
        assert_eq!(failure(&status(404)), Failure::Answered);
        assert_eq!(failure(&status(409)), Failure::Answered);
        assert_eq!(failure(&status(500)), Failure::Answered);
        assert_eq!(
            failure(&bollard::errors::Error::RequestTimeoutError),
            Failure::MaybeActed
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_is_tried_again_while_the_engine_is_away_and_rereads_before_repeating() {
        let tries = Cell::new(0);
        let agains = Cell::new(0);
        let r = patiently_for(Duration::from_secs(30), "killing x", true, |again| {
            tries.set(tries.get() + 1);
            agains.set(agains.get() + again as u32);
            let n = tries.get();
            async move {
                match n {
                    1 | 2 => Err(io(std::io::ErrorKind::ConnectionRefused)),
                    3 => Err(io(std::io::ErrorKind::ConnectionReset)),
                    _ => Ok(n),
                }
            }
        })
        .await;
        assert_eq!(r.unwrap(), 4);
        assert_eq!(agains.get(), 3, "every try after the first is told so");
        let notes = take_engine_notes();
        assert!(
            notes[0].starts_with("the Docker Engine did not answer killing x ("),
            "{notes:?}"
        );
        assert!(
            notes[0].ends_with("trying again for up to 30 s"),
            "{notes:?}"
        );
        assert!(
            notes[1].starts_with("the Docker Engine answered killing x again after "),
            "{notes:?}"
        );
        assert!(notes[1].ends_with("(3 tries)"), "{notes:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_or_a_call_that_may_have_acted_is_not_repeated_blindly() {
        let tries = Cell::new(0);
        let refused = patiently_for(Duration::from_secs(30), "x", true, |_| {
            tries.set(tries.get() + 1);
            async { Err::<(), _>(status(404)) }
        })
        .await;
        assert!(refused.is_err());
        assert_eq!(tries.get(), 1, "an answer is final");
        tries.set(0);
        let maybe = patiently_for(Duration::from_secs(30), "x", false, |_| {
            tries.set(tries.get() + 1);
            async { Err::<(), _>(io(std::io::ErrorKind::ConnectionReset)) }
        })
        .await;
        assert!(maybe.is_err());
        assert_eq!(tries.get(), 1, "it may have acted, and it cannot re-read");
        take_engine_notes();
    }

    #[tokio::test(start_paused = true)]
    async fn patience_is_bounded() {
        let start = tokio::time::Instant::now();
        let tries = Cell::new(0);
        let r = patiently_for(
            Duration::from_secs(10),
            "listing lab containers",
            true,
            |_| {
                tries.set(tries.get() + 1);
                async { Err::<(), _>(io(std::io::ErrorKind::ConnectionRefused)) }
            },
        )
        .await;
        assert!(r.is_err());
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(10) && waited < Duration::from_secs(13),
            "{waited:?}"
        );
        assert!(tries.get() > 5, "{}", tries.get());
        let notes = take_engine_notes();
        assert!(
            notes.last().unwrap().contains("within 10 s: gave up"),
            "{notes:?}"
        );
        // No patience: the first connection error is final.
        let none = patiently_for(Duration::ZERO, "x", true, |_| async {
            Err::<(), _>(io(std::io::ErrorKind::ConnectionRefused))
        })
        .await;
        assert!(none.is_err());
        assert!(take_engine_notes().is_empty());
    }
}
