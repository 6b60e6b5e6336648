//! Each node's network helper: a long-lived container (`perseus-<system>-<node>-net`, image
//! [`HELPER_IMAGE`]: iptables, iproute2, netcat) in the node's network namespace
//! (`network_mode: container:<node main>`) with `NET_ADMIN`, in which the network faults run as
//! `docker exec`s ([`crate::fault::net`]). The database images stay unmodified and unprivileged.
//!
//! `lab up` starts the helpers while the cluster gets ready; a missing one is made when a fault
//! needs it. A node whose main container is killed (or stopped) and started gets a new namespace
//! and leaves its helper in the dead one: [`ensure`] notices (the node started after its helper
//! did) and restarts the helper, which joins the new one, and says so, so that the caller can make
//! the node's faults again there. Helpers carry the lab's labels: `lab down` removes them with the
//! rest, and [`super::open`] does not count them as nodes.

use std::time::{Duration, SystemTime};

use bollard::models::{ContainerCreateBody, ContainerState, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, RestartContainerOptionsBuilder,
};
use bollard::Docker;

use super::create::Made;
use super::images::HELPER_IMAGE;
use super::Lab;
use crate::docker::{self, NODE_LABEL, ROLE_LABEL};
use crate::error::{Error, Result};

/// The role label of helper containers.
pub const ROLE: &str = "helper";

/// How long one exec in a helper may run.
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// The port on which a helper serves scripts, in its node's namespace. Only the lab network's
/// gateway (the host) may reach it: a rule in the helper's own `PERSEUS_CTL` chain drops the
/// rest, so the other nodes cannot, and heal (which flushes `PERSEUS`) leaves it alone.
pub const CONTROL_PORT: u16 = 47077;

/// The helper's PID 1: guard the control port, then serve it (socat, a shell per connection that
/// reads the script from the connection), ending at once on SIGTERM. socat's `-t 60`: after the
/// client's end of the script (its half-close) the shell may run for a minute (socat's default,
/// 0.5 s, would kill the longer probes), longer than [`EXEC_TIMEOUT`].
fn main_script() -> String {
    format!(
        "set -- $(ip -4 route show default); gw=$3; \
         iptables -w -N PERSEUS_CTL 2>/dev/null || iptables -w -F PERSEUS_CTL; \
         iptables -w -C INPUT -p tcp --dport {CONTROL_PORT} -j PERSEUS_CTL 2>/dev/null || iptables -w -I INPUT 1 -p tcp --dport {CONTROL_PORT} -j PERSEUS_CTL; \
         if [ -n \"$gw\" ]; then iptables -w -A PERSEUS_CTL -s \"$gw\" -j ACCEPT; fi; \
         iptables -w -A PERSEUS_CTL -j DROP; \
         trap 'exit 0' TERM; \
         socat -t 60 TCP-LISTEN:{CONTROL_PORT},fork,reuseaddr EXEC:/bin/sh & wait $!"
    )
}

/// How long a connection to a helper's control port may take before the script goes through
/// `docker exec` instead (a node that is off the lab network; a host that cannot reach the lab
/// network's addresses).
const CONTROL_CONNECT: Duration = Duration::from_millis(300);

/// The line a script sent to the control port ends with: its exit code.
const RC_MARK: &str = "__perseus_rc=";

/// Quote `s` for a POSIX shell, as one word.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The helper of `node`: `perseus-<system>-<node>-net`.
pub fn name(lab: &Lab, node: &str) -> String {
    format!("perseus-{}-{}-net", lab.system, node)
}

/// What [`ensure`] had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// The helper was already in the node's current namespace.
    Warm,
    /// There was none: it was made (nothing can be in force that it did not make).
    Created,
    /// It was in a namespace the node no longer has (the node started after it did): it was
    /// restarted into the current one, where none of the node's network faults are in force.
    Moved,
}

/// When a container last started, from its inspected state (`None`: never).
fn started_at(state: &ContainerState) -> Option<SystemTime> {
    state
        .started_at
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339_weak(t.trim_end_matches('Z')).ok())
}

/// Make sure `node`'s helper runs in the node's current namespace: create it when missing,
/// restart it when the node's main container started after it did.
///
/// Errors: [`Error::Helper`] when the node's main container is not running (its namespace is
/// gone) or the helper cannot be started; [`Error::Docker`] when the Engine refuses otherwise.
pub async fn ensure(docker: &Docker, lab: &Lab, node: &str) -> Result<Ensured> {
    let n = lab.node(node)?;
    let name = name(lab, node);
    let (main, helper) = tokio::join!(
        docker::inspect(docker, &n.main),
        docker.inspect_container(
            &name,
            None::<bollard::query_parameters::InspectContainerOptions>
        )
    );
    let main = main?.state.unwrap_or_default();
    if !main.running.unwrap_or(false) {
        return Err(Error::Helper {
            node: node.to_string(),
            message: format!(
                "{} is not running, so it has no network namespace: start it first (perseus fault start {node})",
                n.main
            ),
        });
    }
    let helper = match helper {
        Ok(h) => h.state.unwrap_or_default(),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {
            create(docker, lab, node, None).await?;
            return Ok(Ensured::Created);
        }
        Err(e) => return Err(Error::docker(format!("inspecting {name}"))(e)),
    };
    if helper.running.unwrap_or(false)
        && !helper.paused.unwrap_or(false)
        && started_at(&helper) >= started_at(&main)
    {
        return Ok(Ensured::Warm);
    }
    let opts = RestartContainerOptionsBuilder::default().t(0).build();
    docker
        .restart_container(&name, Some(opts))
        .await
        .map_err(|e| Error::Helper {
            node: node.to_string(),
            message: format!("cannot restart {name} in {}'s new namespace: {e}", n.main),
        })?;
    Ok(Ensured::Moved)
}

/// Create and start `node`'s helper in its namespace (recorded in `made` first, when given, so a
/// failed `lab up` removes it). A helper of that name made meanwhile by another process is
/// taken as it is.
///
/// Errors: [`Error::Helper`] when it cannot start; [`Error::Docker`] when the Engine refuses.
pub(super) async fn create(
    docker: &Docker,
    lab: &Lab,
    node: &str,
    made: Option<&Made>,
) -> Result<()> {
    let n = lab.node(node)?;
    let name = name(lab, node);
    let body = ContainerCreateBody {
        image: Some(HELPER_IMAGE.to_string()),
        cmd: Some(vec!["sh".into(), "-c".into(), main_script()]),
        labels: Some(docker::labels(
            &lab.system,
            &[(NODE_LABEL, node), (ROLE_LABEL, ROLE)],
        )),
        host_config: Some(HostConfig {
            network_mode: Some(format!("container:{}", n.main)),
            cap_add: Some(vec!["NET_ADMIN".into(), "NET_RAW".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    if let Some(m) = made {
        m.container(&name);
    }
    let opts = CreateContainerOptionsBuilder::default().name(&name).build();
    match docker.create_container(Some(opts), body).await {
        Ok(_)
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409, ..
        }) => {}
        Err(e) => return Err(Error::docker(format!("creating helper {name}"))(e)),
    }
    docker::start(docker, &name)
        .await
        .map_err(|e| Error::Helper {
            node: node.to_string(),
            message: format!("cannot start {name} in {}'s namespace: {e}", n.main),
        })
}

/// Start every node's helper, together (`lab up` does this while the cluster gets ready).
///
/// Errors: the first helper that could not be made.
pub(super) async fn start_all(docker: &Docker, lab: &Lab, made: &Made) -> Result<()> {
    let jobs = lab
        .nodes
        .iter()
        .map(|n| create(docker, lab, &n.name, Some(made)));
    futures_util::future::join_all(jobs)
        .await
        .into_iter()
        .collect()
}

/// Run `script` (`sh -c`) in `node`'s helper (which must be running: [`ensure`]); what it
/// printed (stdout and stderr).
///
/// It goes over the helper's control port ([`CONTROL_PORT`]: one TCP connection, a few
/// milliseconds), or through `docker exec` (some 50 ms more: the Engine starts a process in the
/// container) when that port cannot be reached.
///
/// Errors: [`Error::Helper`] when the script exits with another code than 0 (its output in the
/// message), the connection breaks before its exit code, or it does not finish within 30 s.
pub async fn exec(docker: &Docker, lab: &Lab, node: &str, script: &str) -> Result<String> {
    let n = lab.node(node)?;
    let failed = |message: String| Error::Helper {
        node: node.to_string(),
        message,
    };
    let (code, output) = match over_control_port(n.ip, script).await {
        Some(r) => r.map_err(failed)?,
        None => {
            let cmd = ["sh".to_string(), "-c".to_string(), script.to_string()];
            let out = docker::exec(docker, &name(lab, node), &cmd, EXEC_TIMEOUT)
                .await
                .map_err(|e| failed(e.to_string()))?;
            (out.code, out.output)
        }
    };
    match code {
        Some(0) => Ok(output),
        code => Err(failed(format!(
            "exit code {}: {}",
            code.map(|c| c.to_string())
                .unwrap_or_else(|| "unknown".into()),
            output.trim()
        ))),
    }
}

/// What a script sent to a helper gave: its exit code and output, or why that is not known.
type Ran = std::result::Result<(Option<i64>, String), String>;

/// Send `script` to the helper at `ip`'s control port: its exit code and output, or `None` when
/// the port cannot be reached (nothing was run).
async fn over_control_port(ip: std::net::Ipv4Addr, script: &str) -> Option<Ran> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = std::net::SocketAddr::from((ip, CONTROL_PORT));
    let connect = tokio::net::TcpStream::connect(addr);
    let Ok(Ok(mut stream)) = tokio::time::timeout(CONTROL_CONNECT, connect).await else {
        return None;
    };
    let work = async {
        let text = format!(
            "sh -c {} </dev/null 2>&1; echo \"{RC_MARK}$?\"\n",
            sh_quote(script)
        );
        stream.write_all(text.as_bytes()).await?;
        stream.shutdown().await?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await?;
        Ok::<Vec<u8>, std::io::Error>(out)
    };
    Some(match tokio::time::timeout(EXEC_TIMEOUT, work).await {
        Err(_) => Err("did not finish within 30 s".into()),
        Ok(Err(e)) => Err(format!("the control connection broke: {e}")),
        Ok(Ok(out)) => parse_control_output(&String::from_utf8_lossy(&out)),
    })
}

/// Split what a control connection returned into the exit code (its last line) and the output.
fn parse_control_output(out: &str) -> Ran {
    let body = out.strip_suffix('\n').unwrap_or(out);
    let (output, last) = match body.rfind('\n') {
        Some(i) => (&body[..=i], &body[i + 1..]),
        None => ("", body),
    };
    match last
        .strip_prefix(RC_MARK)
        .and_then(|c| c.trim().parse().ok())
    {
        Some(code) => Ok((Some(code), output.to_string())),
        None => Err(format!(
            "the control connection closed before the script's exit code: {}",
            out.trim()
        )),
    }
}

/// Whether `node`'s helper is running (in whatever namespace).
pub async fn running(docker: &Docker, lab: &Lab, node: &str) -> bool {
    match docker::inspect(docker, &name(lab, node)).await {
        Ok(h) => h.state.and_then(|s| s.running).unwrap_or(false),
        Err(_) => false,
    }
}

/// Remove `node`'s helper (gone already is fine).
///
/// Errors: [`Error::Docker`] when the Engine refuses.
pub async fn remove(docker: &Docker, lab: &Lab, node: &str) -> Result<()> {
    let name = name(lab, node);
    let rm = RemoveContainerOptionsBuilder::default().force(true).build();
    match docker.remove_container(&name, Some(rm)).await {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(()),
        Err(e) => Err(Error::docker(format!("removing {name}"))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_output_ends_with_the_exit_code() {
        assert_eq!(
            parse_control_output("-N PERSEUS\n__perseus_rc=0\n"),
            Ok((Some(0), "-N PERSEUS\n".to_string()))
        );
        assert_eq!(
            parse_control_output("__perseus_rc=3\n"),
            Ok((Some(3), String::new()))
        );
        // A connection cut before the script ended has no mark.
        assert!(parse_control_output("half of it").is_err());
        assert!(parse_control_output("").is_err());
    }

    #[test]
    fn quoted_scripts_survive_single_quotes_and_the_helper_guards_its_port() {
        assert_eq!(sh_quote("echo 'a b'"), r"'echo '\''a b'\'''");
        let m = main_script();
        assert!(m.contains(&format!("--dport {CONTROL_PORT} -j PERSEUS_CTL")));
        assert!(m.contains("-s \"$gw\" -j ACCEPT") && m.contains("-A PERSEUS_CTL -j DROP"));
        assert!(m.contains("socat -t 60 ") && m.contains("EXEC:/bin/sh"));
    }

    #[test]
    fn a_helper_older_than_its_node_is_in_a_dead_namespace() {
        let at = |t: &str| ContainerState {
            started_at: Some(t.to_string()),
            ..Default::default()
        };
        let helper = started_at(&at("2026-11-30T10:00:00.123456789Z"));
        let node = started_at(&at("2026-11-30T10:00:01.5Z"));
        assert!(helper.is_some() && node.is_some());
        assert!(helper < node);
        // Never started: Docker's zero time.
        assert_eq!(started_at(&at("0001-01-01T00:00:00Z")), None);
    }
}
