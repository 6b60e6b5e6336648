//! Removing a lab's objects until none is left: what `lab down` and a failed `lab up`'s undo both
//! do ([`converge`]).
//!
//! One pass of removals is not enough. A container being removed is still listed for a moment; a
//! volume is in use until the container that mounts it is gone (the Engine's 409); a network has
//! active endpoints until its containers are; and the Engine finishes a create whose request was
//! in flight when its maker died, so an object can appear after it was listed. So removal goes in
//! rounds: list what is there, remove it (freeing a volume in use by removing the containers that
//! use it, a network by disconnecting what is still attached), and list again, until a listing
//! comes back empty or [`ROUNDS`] have passed. After taking over a dead holder's claim
//! ([`super::claim`]), an empty listing is checked once more after [`SETTLE`], the time for the
//! Engine to finish what the dead process had asked for.
//!
//! Containers are removed one at a time. Engines before 20.10.27, Debian bookworm's 20.10.24
//! among them, can deadlock when many containers of one network leave it at once: an endpoint's
//! deletion and another's service records take the network's and the controller's locks in
//! opposite orders (moby/moby#46661, fixed by moby/libnetwork#2679), and from then on every
//! network call hangs until the daemon is restarted. Removing a nine-node lab's containers all
//! at once did that here (2026-12-06). One at a time makes the overlap rare; it cannot rule it
//! out on such an engine.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::{
    ListContainersOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptionsBuilder,
};
use bollard::Docker;

use crate::docker;
use crate::error::{Error, Result};

/// How many rounds of listing and removing a removal makes before it says what is left.
pub(super) const ROUNDS: usize = 10;

/// How long a removal after a dead holder waits before its last listing.
pub(super) const SETTLE: Duration = Duration::from_secs(2);

/// The pause after a round in which the Engine refused something: 250 ms, doubling, at most 2 s
/// (about 15 s over [`ROUNDS`]).
fn backoff(round: usize) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << round.min(3)).min(2000))
}

/// What [`super::down`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DownReport {
    /// Containers removed (nodes, sidecars, helpers).
    pub containers: usize,
    /// Networks removed.
    pub networks: usize,
    /// Volumes removed.
    pub volumes: usize,
    /// Rounds of listing and removing it took (1 when everything went at the first try and the
    /// next listing was empty; 0 when there was nothing).
    pub rounds: usize,
}

impl DownReport {
    /// Add another engine's removals.
    pub(super) fn add(&mut self, other: &DownReport) {
        self.containers += other.containers;
        self.networks += other.networks;
        self.volumes += other.volumes;
        self.rounds = self.rounds.max(other.rounds);
    }
}

/// Which of a lab's objects a removal is about; only objects with the lab's label are touched.
#[derive(Debug, Clone, Copy)]
pub(super) enum Scope<'a> {
    /// Every labelled object: containers, volumes, and the networks when `networks` (a lab
    /// across hosts removes its overlay from its manager only).
    All {
        /// Whether to remove networks too.
        networks: bool,
    },
    /// Only these, by name (what a failed `up` or `add-node` made).
    Named {
        /// Container names.
        containers: &'a [String],
        /// Volume names.
        volumes: &'a [String],
        /// The network's name.
        network: Option<&'a str>,
    },
}

/// What one listing found: containers and networks as (id, name), volumes by name.
#[derive(Debug, Default)]
struct Listed {
    containers: Vec<(String, String)>,
    networks: Vec<(String, String)>,
    volumes: Vec<String>,
}

impl Listed {
    fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.networks.is_empty() && self.volumes.is_empty()
    }

    /// `container perseus-etcd-n1, volume perseus-etcd-n1-data`.
    fn describe(&self) -> String {
        let c = self
            .containers
            .iter()
            .map(|(_, n)| format!("container {n}"));
        let n = self.networks.iter().map(|(_, n)| format!("network {n}"));
        let v = self.volumes.iter().map(|n| format!("volume {n}"));
        c.chain(n).chain(v).collect::<Vec<_>>().join(", ")
    }
}

/// List the objects of `system`'s lab on `docker` that `scope` covers.
async fn list(docker: &Docker, system: &str, scope: Scope<'_>) -> Result<Listed> {
    let mut listed = Listed::default();
    let lab = Some(system);
    for c in docker::lab_containers(docker, lab).await? {
        let Some(id) = c.id else { continue };
        let name = c
            .names
            .unwrap_or_default()
            .first()
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_else(|| id.clone());
        let wanted = match scope {
            Scope::All { .. } => true,
            Scope::Named { containers, .. } => containers.contains(&name),
        };
        if wanted {
            listed.containers.push((id, name));
        }
    }
    let networks = match scope {
        Scope::All { networks } => networks,
        Scope::Named { network, .. } => network.is_some(),
    };
    if networks {
        for n in docker::lab_networks(docker, lab).await? {
            let (Some(id), Some(name)) = (n.id, n.name) else {
                continue;
            };
            let wanted = match scope {
                Scope::All { .. } => true,
                Scope::Named { network, .. } => network == Some(name.as_str()),
            };
            if wanted {
                listed.networks.push((id, name));
            }
        }
    }
    for v in docker::lab_volumes(docker, lab).await? {
        let wanted = match scope {
            Scope::All { .. } => true,
            Scope::Named { volumes, .. } => volumes.contains(&v.name),
        };
        if wanted {
            listed.volumes.push(v.name);
        }
    }
    Ok(listed)
}

/// Remove the objects of `system`'s lab on `docker` that `scope` covers, in rounds until a
/// listing is empty (see the module docs); `settle`: check an empty listing once more after that
/// long. Counts what it removed.
///
/// Errors: [`Error::DownIncomplete`] naming what is left after [`ROUNDS`] and the Engine's last
/// refusal; [`Error::Docker`] when listing fails.
pub(super) async fn converge(
    docker: &Docker,
    system: &str,
    scope: Scope<'_>,
    mut settle: Option<Duration>,
) -> Result<DownReport> {
    let mut report = DownReport::default();
    let mut why = String::new();
    for round in 0..ROUNDS {
        let listed = list(docker, system, scope).await?;
        if listed.is_empty() {
            match settle.take() {
                Some(pause) => {
                    tokio::time::sleep(pause).await;
                    continue;
                }
                None => return Ok(report),
            }
        }
        report.rounds += 1;
        let mut refused: Option<String> = None;
        // One container at a time (see the module docs): about 0.15 s more for a three-node
        // lab's six containers, 0.8 s for nine nodes.
        for (id, name) in &listed.containers {
            let opts = RemoveContainerOptionsBuilder::default()
                .force(true)
                .v(true)
                .build();
            let what = format!("removing container {name}");
            let r = docker::patiently(&what, true, |_| {
                docker.remove_container(id, Some(opts.clone()))
            })
            .await;
            match outcome(r) {
                Ok(true) => report.containers += 1,
                Ok(false) => {}
                Err(e) => refused = Some(format!("container {name}: {e}")),
            }
        }
        for (id, name) in &listed.networks {
            let what = format!("removing network {name}");
            let r = docker::patiently(&what, true, |_| docker.remove_network(id)).await;
            match outcome(r) {
                Ok(true) => report.networks += 1,
                Ok(false) => {}
                Err(e) => {
                    refused = Some(format!("network {name}: {e}"));
                    disconnect_all(docker, id).await;
                }
            }
        }
        for name in &listed.volumes {
            let opts = RemoveVolumeOptionsBuilder::default().force(true).build();
            let what = format!("removing volume {name}");
            let r = docker::patiently(&what, true, |_| {
                docker.remove_volume(name, Some(opts.clone()))
            })
            .await;
            match outcome(r) {
                Ok(true) => report.volumes += 1,
                Ok(false) => {}
                Err(e) => {
                    refused = Some(format!("volume {name}: {e}"));
                    free_volume(docker, name).await;
                }
            }
        }
        if let Some(r) = refused {
            why = r;
            tokio::time::sleep(backoff(round)).await;
        }
    }
    let listed = list(docker, system, scope).await?;
    if listed.is_empty() {
        return Ok(report);
    }
    Err(Error::DownIncomplete {
        system: system.to_string(),
        left: listed.describe(),
        why: if why.is_empty() {
            format!("objects kept appearing for {ROUNDS} rounds")
        } else {
            why
        },
    })
}

/// A removal's outcome: `Ok(true)` when it removed the object, `Ok(false)` when it was gone
/// already (404), else the Engine's message.
fn outcome(
    r: std::result::Result<(), bollard::errors::Error>,
) -> std::result::Result<bool, String> {
    match r {
        Ok(()) => Ok(true),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(false),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        }) => Err(format!("{status_code} {}", message.trim())),
        Err(e) => Err(e.to_string()),
    }
}

/// Remove every container (labelled or not) that mounts volume `name`, so that the next round can
/// remove the volume. Failures are left to the next round.
async fn free_volume(docker: &Docker, name: &str) {
    let opts = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&HashMap::from([(
            "volume".to_string(),
            vec![name.to_string()],
        )]))
        .build();
    let Ok(users) = docker.list_containers(Some(opts)).await else {
        return;
    };
    for id in users.into_iter().filter_map(|c| c.id) {
        let opts = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        let _ = docker.remove_container(&id, Some(opts)).await;
    }
}

/// Disconnect (forced) every container still attached to network `id`, so that the next round
/// can remove it. Failures are left to the next round.
async fn disconnect_all(docker: &Docker, id: &str) {
    let Ok(network) = docker
        .inspect_network(id, None::<bollard::query_parameters::InspectNetworkOptions>)
        .await
    else {
        return;
    };
    for container in network.containers.unwrap_or_default().into_keys() {
        let body = bollard::models::NetworkDisconnectRequest {
            container,
            force: Some(true),
        };
        let _ = docker.disconnect_network(id, body).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_two_seconds_and_the_bound_stays_short() {
        assert_eq!(backoff(0), Duration::from_millis(250));
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_millis(2000));
        assert_eq!(backoff(60), Duration::from_millis(2000));
        let total: Duration = (0..ROUNDS).map(backoff).sum();
        assert!(total <= Duration::from_secs(16), "{total:?}");
    }

    #[test]
    fn what_is_left_is_named() {
        let listed = Listed {
            containers: vec![("abc".into(), "perseus-etcd-n1".into())],
            networks: vec![],
            volumes: vec!["perseus-etcd-n1-data".into()],
        };
        assert_eq!(
            listed.describe(),
            "container perseus-etcd-n1, volume perseus-etcd-n1-data"
        );
        assert!(!listed.is_empty());
        assert!(Listed::default().is_empty());
    }

    #[test]
    fn a_missing_object_counts_as_gone_and_a_refusal_keeps_its_message() {
        assert_eq!(outcome(Ok(())), Ok(true));
        let missing = bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message: "no such volume".into(),
        };
        assert_eq!(outcome(Err(missing)), Ok(false));
        let busy = bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            message: "volume is in use\n".into(),
        };
        assert_eq!(outcome(Err(busy)), Err("409 volume is in use".into()));
    }
}
