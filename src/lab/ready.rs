//! Getting a lab that was made ready to serve: the definition's `init` command ([`initialize`]),
//! the system's readiness probe ([`wait_ready`]), the schema ([`apply_schema`]) and the check
//! that every server is the release the lab was brought up at ([`check_release`]). `up`,
//! `add-node` and a run's recovery call them in that order.

use std::time::{Duration, Instant};

use super::create::Node;
use super::definition;
use super::model::Lab;
use super::version;
use crate::docker;
use crate::error::{Error, Result};
use crate::systems;

/// Check that every node's server reports the release the lab was brought up at
/// ([`definition::Definition::version`]), as far as it says ([`crate::systems::System::server_version`], at most 2 s a node):
/// an image tagged with one release but holding another would make every verdict about the
/// wrong software.
///
/// Errors: [`Error::VersionMismatch`] naming the node, what it reports and the fix.
pub async fn check_release(lab: &Lab) -> Result<()> {
    let Some(asked) = lab.definition.version() else {
        return Ok(());
    };
    let cluster = lab.cluster();
    for node in &lab.nodes {
        let reported = lab.kind().server_version(&cluster, &node.endpoint()).await;
        if let Some(reported) = reported.filter(|r| !version::reports(r, asked)) {
            return Err(Error::VersionMismatch {
                system: lab.system.clone(),
                node: node.name.to_string(),
                reported,
                asked: asked.to_string(),
            });
        }
    }
    Ok(())
}

/// Run the definition's `init` command (if any) in its node until it exits 0, by `deadline`.
///
/// Errors: [`Error::NotReady`] with the command's last output when it never succeeds, or when the
/// node's container has stopped.
pub async fn initialize(
    lab: &Lab,
    deadline: Instant,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    let Some(init) = &lab.definition.perseus.init else {
        return Ok(());
    };
    let node = lab.node(&init.node)?;
    progress(&format!(
        "initialising: {} on {}",
        init.command.join(" "),
        node.name
    ));
    let started = Instant::now();
    let mut last = String::from("not run yet");
    let docker = lab.engine(node);
    while Instant::now() < deadline {
        let running = docker::inspect(docker, &node.main)
            .await?
            .state
            .and_then(|s| s.running)
            .unwrap_or(false);
        if !running {
            return Err(Error::NotReady {
                system: lab.system.clone(),
                waited: started.elapsed(),
                detail: format!(
                    "{} stopped before it could be initialised; its last log lines:\n{}",
                    node.name,
                    docker::tail_logs(docker, &node.main, 40).await
                ),
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match docker::exec(
            docker,
            &node.main,
            &init.command,
            left.min(Duration::from_secs(30)),
        )
        .await
        {
            Ok(out) if out.code == Some(0) => return Ok(()),
            // An earlier attempt that outlived its wait may have done the work after all.
            Ok(out)
                if init
                    .already_done
                    .as_deref()
                    .is_some_and(|text| out.output.contains(text)) =>
            {
                return Ok(())
            }
            Ok(out) => last = format!("exit {:?}: {}", out.code, out.output.trim()),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(Error::NotReady {
        system: lab.system.clone(),
        waited: started.elapsed(),
        detail: format!("`{}` never succeeded; last: {last}", init.command.join(" ")),
    })
}

/// Make what the load loop needs ([`System::prepare`](systems::System::prepare): the definition's `schema` statements for
/// the SQL systems) by `deadline`: through one node (the next one on failure, a moment later) or,
/// with `schema-on: every-node`, through each node. Each attempt is retried until it succeeds.
///
/// Errors: [`Error::NotReady`] with the last failure (the statement and the server's answer).
pub async fn apply_schema(
    lab: &Lab,
    deadline: Instant,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    let schema = &lab.definition.settings.schema;
    let targets: Vec<Vec<&Node>> = match lab.definition.perseus.schema_on {
        definition::SchemaOn::OneNode => vec![lab.nodes.iter().collect()],
        definition::SchemaOn::EveryNode => lab.nodes.iter().map(|n| vec![n]).collect(),
    };
    // Every system is prepared (a system may make what its loop needs without statements); the
    // default preparation of a definition without `schema` does nothing.
    if !schema.is_empty() {
        progress(&format!(
            "creating the schema ({} statements{})",
            schema.len(),
            if targets.len() > 1 {
                ", on every node"
            } else {
                ""
            }
        ));
    }
    let started = Instant::now();
    let system = lab.kind();
    let cluster = lab.cluster();
    // Each target (every node, for independent servers) concurrently.
    let jobs = targets.into_iter().map(|candidates| {
        let cluster = &cluster;
        async move {
            let mut last = Some("the lab's ready-timeout ran out first".to_string());
            for node in candidates.iter().cycle() {
                if Instant::now() >= deadline {
                    break;
                }
                let left = deadline.saturating_duration_since(Instant::now());
                last = system
                    .prepare(cluster, &node.endpoint(), left.min(Duration::from_secs(30)))
                    .await
                    .err()
                    .map(|e| format!("on {}: {e}", node.name));
                if last.is_none() {
                    break;
                }
                tokio::time::sleep(SCHEMA_RETRY).await;
            }
            last
        }
    });
    match futures_util::future::join_all(jobs)
        .await
        .into_iter()
        .flatten()
        .next()
    {
        Some(last) => Err(Error::NotReady {
            system: lab.system.clone(),
            waited: started.elapsed(),
            detail: format!("the schema could not be created; last failure {last}"),
        }),
        None => Ok(()),
    }
}

/// Pause between attempts to create the schema on a node that refused it (still starting up).
const SCHEMA_RETRY: Duration = Duration::from_millis(250);

/// How often `lab up` asks a starting cluster whether it is ready. The probes are cheap, and
/// every poll period is time a fast system (Redis, PostgreSQL) waits for nothing.
const READY_POLL: Duration = Duration::from_millis(50);

/// Wait until the readiness probe passes, failing early when a node's container stops.
///
/// Errors: [`Error::NotReady`] with what was missing and the last log lines of the nodes concerned.
pub async fn wait_ready(lab: &Lab, timeout: Duration) -> Result<()> {
    let system = lab.kind();
    let cluster = lab.cluster();
    let started = Instant::now();
    let mut last = systems::Pending::cluster("no answer yet");
    while started.elapsed() < timeout {
        // A node whose container died will never be ready: say so now, with its logs. The
        // containers are inspected while the probe runs, so a poll costs one round trip.
        let containers = lab
            .nodes
            .iter()
            .flat_map(|n| n.containers.iter().map(move |c| (n, c)));
        let states =
            futures_util::future::join_all(containers.map(|(n, c)| async move {
                (n, c, crate::docker::inspect(lab.engine(n), c).await)
            }));
        let (states, answer) = tokio::join!(states, system.ready(&cluster));
        for (n, c, info) in states {
            let state = info?.state;
            if !state.as_ref().and_then(|s| s.running).unwrap_or(false) {
                let code = state.and_then(|s| s.exit_code).unwrap_or(-1);
                return Err(Error::NotReady {
                    system: lab.system.clone(),
                    waited: started.elapsed(),
                    detail: format!(
                        "container {c} of {} exited (code {code}); its last log lines:\n{}",
                        n.name,
                        docker::tail_logs(lab.engine(n), c, 40).await
                    ),
                });
            }
        }
        match answer {
            Ok(()) => return Ok(()),
            Err(why) => last = why,
        }
        tokio::time::sleep(READY_POLL).await;
    }
    let mut logs = String::new();
    let names = lab.node_names();
    let concerned = last.nodes(&names);
    for n in lab.nodes.iter().filter(|n| concerned.contains(&&n.name)) {
        logs.push_str(&format!(
            "--- {} ({}) last log lines:\n{}\n",
            n.name,
            n.main,
            docker::tail_logs(lab.engine(n), &n.main, 15).await
        ));
    }
    Err(Error::NotReady {
        system: lab.system.clone(),
        waited: timeout,
        detail: format!("{last}\n{logs}"),
    })
}
