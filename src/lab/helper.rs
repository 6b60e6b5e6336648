//! Each node's network helper: a long-lived container (`perseus-<system>-<node>-net`, image
//! [`HELPER_IMAGE`]: iptables, iproute2, netcat, socat) in the node's network namespace
//! (`network_mode: container:<node main>`) with `NET_ADMIN`, in which the network faults run
//! ([`crate::fault::net`]). The database images stay unmodified and unprivileged.
//!
//! A script reaches the helper over its control port ([`CONTROL_PORT`], socat running a shell per
//! connection: a few milliseconds), or through `docker exec` (some 50 ms more) when that port
//! cannot be reached. The port takes a random token, made when the helper is created and kept in
//! its environment (so only who may inspect the container can use it), and a rule in the
//! helper's own chain lets only the lab network's gateway (the host) connect. The port is
//! therefore taken in every node's namespace: no database here uses 47077.
//!
//! `lab up` starts the helpers while the cluster gets ready; a missing one is made when a fault
//! needs it. A node whose main container is killed (or stopped) and started gets a new namespace
//! and leaves its helper in the dead one: [`ensure`] notices (the node started after its helper
//! did) and restarts the helper, which joins the new one, and says so, so that the caller can make
//! the node's faults again there. Two processes that both find a helper stale both restart it (a
//! replay in flight can be cut short by the second restart, which replays again). Helpers carry
//! the lab's labels: `lab down` removes them with the rest, and [`super::open`] does not count
//! them as nodes.

use std::time::{Duration, SystemTime};

use bollard::models::{ContainerCreateBody, ContainerState, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, RestartContainerOptionsBuilder,
};

use super::create::Made;
use super::model::Lab;
use crate::docker::{self, NODE_LABEL, ROLE_LABEL};
use crate::error::LabError;
use crate::error::{Error, Result};
use crate::images::HELPER_IMAGE;

/// The role label of helper containers.
pub const ROLE: &str = "helper";

/// How long one exec in a helper may run.
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// The port on which a helper serves scripts, in its node's namespace. Only the lab network's
/// gateway (the host) may reach it: a rule in the helper's own `PERSEUS_CTL` chain drops the
/// rest, so the other nodes cannot, and heal (which flushes `PERSEUS`) leaves it alone.
pub const CONTROL_PORT: u16 = 47077;

/// The environment variable that holds a helper's control-port token.
const TOKEN_VAR: &str = "PERSEUS_TOKEN";

/// The helper's PID 1: guard the control port (only `gateway` may open a connection to it; the
/// helper stops when the guard cannot be made, and its scripts then go through `docker exec`),
/// then serve it: socat runs a shell per connection, which reads the token and, when it matches,
/// the script. socat's `-t 60`: after the client's end of the script (its half-close) the shell
/// may run for a minute (socat's default, 0.5 s, would kill the longer probes), longer than
/// [`EXEC_TIMEOUT`]. Ends at once on SIGTERM.
fn main_script(gateway: std::net::Ipv4Addr) -> String {
    format!(
        "iptables -w -N PERSEUS_CTL 2>/dev/null || iptables -w -F PERSEUS_CTL || exit 1; \
         iptables -w -C INPUT -p tcp --syn --dport {CONTROL_PORT} -j PERSEUS_CTL 2>/dev/null || iptables -w -I INPUT 1 -p tcp --syn --dport {CONTROL_PORT} -j PERSEUS_CTL || exit 1; \
         iptables -w -A PERSEUS_CTL -s {gateway} -j ACCEPT && iptables -w -A PERSEUS_CTL -j DROP || exit 1; \
         trap 'exit 0' TERM; \
         socat -t 60 TCP-LISTEN:{CONTROL_PORT},fork,reuseaddr SYSTEM:'read -r t; [ \"$t\" = \"${TOKEN_VAR}\" ] && exec sh' & wait $!"
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

/// A helper in its node's current namespace, ready for [`exec`].
#[derive(Debug, Clone)]
pub struct Ready {
    /// What [`ensure`] had to do.
    pub ensured: Ensured,
    /// Its control-port token (`None`: the port is not used, scripts go through `docker exec`).
    pub token: Option<String>,
}

/// The control-port token in an inspected helper's environment.
fn token_of(info: &bollard::models::ContainerInspectResponse) -> Option<String> {
    info.config
        .as_ref()?
        .env
        .as_ref()?
        .iter()
        .find_map(|e| e.strip_prefix(&format!("{TOKEN_VAR}=")).map(String::from))
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
pub async fn ensure(lab: &Lab, node: &str) -> Result<Ready> {
    let pair = inspect(lab, node).await?;
    ensure_inspected(lab, node, pair).await
}

/// A node's main container and its helper, inspected together (one round trip to the Engine):
/// what [`ensure_inspected`] decides from. The helper's result is the Engine's own (404: none).
pub struct Inspected {
    /// The node's main container.
    pub main: bollard::models::ContainerInspectResponse,
    /// Its helper, or the Engine's refusal.
    pub helper:
        std::result::Result<bollard::models::ContainerInspectResponse, bollard::errors::Error>,
}

/// Inspect `node`'s main container and its helper at once.
///
/// Errors: [`Error::UnknownNode`]; [`Error::Docker`] when the main container cannot be inspected.
pub async fn inspect(lab: &Lab, node: &str) -> Result<Inspected> {
    let docker = lab.engine_of(node);
    let n = lab.node(node)?;
    let helper_name = name(lab, node);
    let what = format!("inspecting {helper_name}");
    let (main, helper) = tokio::join!(
        docker::inspect(docker, &n.main),
        docker::patiently(&what, true, |_| {
            docker.inspect_container(
                &helper_name,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
        })
    );
    Ok(Inspected {
        main: main?,
        helper,
    })
}

/// [`ensure`] from inspections already made (a caller that needs the node's state itself, as
/// heal does, saves a round trip).
///
/// Errors: as [`ensure`].
pub async fn ensure_inspected(lab: &Lab, node: &str, pair: Inspected) -> Result<Ready> {
    let docker = lab.engine_of(node);
    let n = lab.node(node)?;
    let name = name(lab, node);
    let Inspected { main, helper } = pair;
    let main = main.state.unwrap_or_default();
    if !main.running.unwrap_or(false) {
        return Err(Error::Helper {
            node: node.to_string(),
            message: format!(
                "{} is not running, so it has no network namespace: start it first (perseus fault start {node})",
                n.main
            ),
        });
    }
    let (helper, token) = match helper {
        Ok(h) => (h.state.clone().unwrap_or_default(), token_of(&h)),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {
            let token = create(lab, node, None).await?;
            return Ok(Ready {
                ensured: Ensured::Created,
                token,
            });
        }
        Err(e) => return Err(Error::docker(format!("inspecting {name}"))(e)),
    };
    if helper.running.unwrap_or(false)
        && !helper.paused.unwrap_or(false)
        && started_at(&helper) >= started_at(&main)
    {
        return Ok(Ready {
            ensured: Ensured::Warm,
            token,
        });
    }
    // A restart that was made already only restarts the helper once more: it may be sent again.
    let opts = RestartContainerOptionsBuilder::default().t(0).build();
    docker::patiently(&format!("restarting {name}"), true, |_| {
        docker.restart_container(&name, Some(opts.clone()))
    })
    .await
    .map_err(|e| Error::Helper {
        node: node.to_string(),
        message: format!("cannot restart {name} in {}'s new namespace: {e}", n.main),
    })?;
    Ok(Ready {
        ensured: Ensured::Moved,
        token,
    })
}

/// Create and start `node`'s helper in its namespace (recorded in `made` first, when given, so a
/// failed `lab up` removes it); its control-port token. A helper of that name made meanwhile by
/// another process is taken as it is.
///
/// Errors: [`LabError::HelperImageMissing`] naming the command that builds the helper image when
/// it is missing; [`Error::Helper`] when it cannot start; [`Error::Docker`] when the Engine refuses.
pub(super) async fn create(lab: &Lab, node: &str, made: Option<&Made>) -> Result<Option<String>> {
    let docker = lab.engine_of(node);
    let n = lab.node(node)?;
    let name = name(lab, node);
    let o = n.ip.octets();
    let gateway = std::net::Ipv4Addr::new(o[0], o[1], o[2], 1);
    let token = format!("{:032x}", rand::random::<u128>());
    let body = ContainerCreateBody {
        image: Some(HELPER_IMAGE.to_string()),
        cmd: Some(vec!["sh".into(), "-c".into(), main_script(gateway)]),
        // Across hosts this machine cannot reach the node's address on the overlay network:
        // no token, so scripts go through `docker exec` on the node's host.
        env: lab
            .hosts
            .is_empty()
            .then(|| vec![format!("{TOKEN_VAR}={token}")]),
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
    // Sent again while the Engine does not answer: a first try that made it makes the repeat
    // answer 409, which reads the helper that was made.
    let created = docker::patiently(&format!("creating helper {name}"), true, |_| {
        docker.create_container(Some(opts.clone()), body.clone())
    })
    .await;
    let token = match created {
        Ok(_) => lab.hosts.is_empty().then_some(token),
        // Made by another process meanwhile, or by the first try of this one: its token is in
        // its environment.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 409, ..
        }) => docker::inspect(docker, &name)
            .await
            .ok()
            .and_then(|h| token_of(&h)),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {
            return Err(LabError::HelperImageMissing {
                image: HELPER_IMAGE.to_string(),
                system: lab.system.clone(),
            }
            .into())
        }
        Err(e) => return Err(Error::docker(format!("creating helper {name}"))(e)),
    };
    docker::start(docker, &name)
        .await
        .map_err(|e| Error::Helper {
            node: node.to_string(),
            message: format!("cannot start {name} in {}'s namespace: {e}", n.main),
        })?;
    Ok(token)
}

/// Start every node's helper, together (`lab up` does this while the cluster gets ready).
///
/// Errors: the first helper that could not be made.
pub(super) async fn start_all(lab: &Lab, made: &Made) -> Result<()> {
    let jobs = lab
        .nodes
        .iter()
        .map(|n| async move { create(lab, &n.name, Some(made)).await.map(|_| ()) });
    futures_util::future::join_all(jobs)
        .await
        .into_iter()
        .collect()
}

/// Run `script` (`sh -c`) in `node`'s helper (which must be running: [`ensure`]); what it
/// printed (stdout and stderr).
///
/// With the helper's `token` it goes over the control port ([`CONTROL_PORT`]: one TCP connection,
/// a few milliseconds); without one, or when that port cannot be reached, through `docker exec`
/// (some 50 ms more: the Engine starts a process in the container).
///
/// Errors: [`Error::Helper`] when the script exits with another code than 0 (its output in the
/// message), the connection breaks before its exit code, or it does not finish within 30 s.
pub async fn exec(lab: &Lab, node: &str, token: Option<&str>, script: &str) -> Result<String> {
    let docker = lab.engine_of(node);
    let n = lab.node(node)?;
    let failed = |message: String| Error::Helper {
        node: node.to_string(),
        message,
    };
    let fast = match token {
        Some(t) => over_control_port(n.ip, t, script).await,
        None => None,
    };
    let (code, output) = match fast {
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

/// Send `token` and `script` to the helper at `ip`'s control port: its exit code and output, or
/// `None` when the port cannot be reached (nothing was run).
async fn over_control_port(ip: std::net::Ipv4Addr, token: &str, script: &str) -> Option<Ran> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = std::net::SocketAddr::from((ip, CONTROL_PORT));
    let connect = tokio::net::TcpStream::connect(addr);
    let Ok(Ok(mut stream)) = tokio::time::timeout(CONTROL_CONNECT, connect).await else {
        return None;
    };
    let work = async {
        let text = format!(
            "{token}\nsh -c {} </dev/null 2>&1; printf '\\n{RC_MARK}%d\\n' $?\n",
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

/// Split what a control connection returned into the output and the exit code that follows it
/// on a line of its own (after a newline of the mark's own, removed here).
fn parse_control_output(out: &str) -> Ran {
    let Some(at) = out.rfind(&format!("\n{RC_MARK}")) else {
        return Err(format!(
            "the control connection closed before the script's exit code (a wrong token, or the script was cut short): {}",
            out.trim()
        ));
    };
    let code = out[at + 1 + RC_MARK.len()..].trim().parse().ok();
    Ok((code, out[..at].to_string()))
}

/// Whether `node`'s helper is running (in whatever namespace), and its control-port token when
/// the node's own main container runs too (otherwise nothing listens at the node's address).
pub async fn running(lab: &Lab, node: &str) -> Option<Option<String>> {
    let docker = lab.engine_of(node);
    let info = docker::inspect(docker, &name(lab, node)).await.ok()?;
    if !info.state.as_ref().and_then(|s| s.running).unwrap_or(false) {
        return None;
    }
    let main_runs = match lab.node(node) {
        Ok(n) => docker::inspect(docker, &n.main)
            .await
            .ok()
            .and_then(|m| m.state.and_then(|s| s.running))
            .unwrap_or(false),
        Err(_) => false,
    };
    Some(if main_runs { token_of(&info) } else { None })
}

/// Remove `node`'s helper (gone already is fine).
///
/// Errors: [`Error::Docker`] when the Engine refuses.
pub async fn remove(lab: &Lab, node: &str) -> Result<()> {
    let docker = lab.engine_of(node);
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
            parse_control_output("-N PERSEUS\n\n__perseus_rc=0\n"),
            Ok((Some(0), "-N PERSEUS\n".to_string()))
        );
        // Output without a final newline still has its own.
        assert_eq!(
            parse_control_output("no newline\n__perseus_rc=3\n"),
            Ok((Some(3), "no newline".to_string()))
        );
        assert_eq!(
            parse_control_output("\n__perseus_rc=0\n"),
            Ok((Some(0), String::new()))
        );
        // A wrong token (the shell never ran) or a cut connection has no mark.
        assert!(parse_control_output("half of it").is_err());
        assert!(parse_control_output("").is_err());
    }

    #[test]
    fn quoted_scripts_survive_single_quotes_and_the_helper_guards_its_port() {
        assert_eq!(sh_quote("echo 'a b'"), r"'echo '\''a b'\'''");
        let m = main_script("10.77.0.1".parse().unwrap());
        assert!(m.contains(&format!("--syn --dport {CONTROL_PORT} -j PERSEUS_CTL")));
        assert!(m.contains("-s 10.77.0.1 -j ACCEPT") && m.contains("-A PERSEUS_CTL -j DROP"));
        assert!(
            m.contains("|| exit 1; trap"),
            "no server without its guard: {m}"
        );
        assert!(
            m.contains("socat -t 60 ") && m.contains(&format!("\"${TOKEN_VAR}\" ] && exec sh"))
        );
        let info = bollard::models::ContainerInspectResponse {
            config: Some(bollard::models::ContainerConfig {
                env: Some(vec!["PATH=/bin".into(), format!("{TOKEN_VAR}=abc")]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(token_of(&info).as_deref(), Some("abc"));
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
