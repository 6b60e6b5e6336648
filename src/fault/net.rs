//! Network faults inside a node's own network namespace, through a short-lived helper container.
//!
//! The helper (`perseus/nettools`, iptables + iproute2 + netcat) is started with
//! `network_mode: container:<node main>` and `NET_ADMIN`, runs one shell script and is removed; the
//! rules it adds stay in the namespace after it exits (DESIGN.md). The database images stay
//! unmodified and unprivileged.
//!
//! Rules live in a chain of our own, `PERSEUS`, jumped to from the top of `INPUT` and `OUTPUT`, so
//! that heal is a flush of that chain and status can list it. Cutting node A from peer B is two
//! rules in A's namespace: drop packets from B and drop packets to B. The host (the load loop)
//! reaches the node through the network's gateway address, which is never cut.
//!
//! A node whose containers are killed and started gets a fresh namespace, without these rules.

use std::net::Ipv4Addr;
use std::time::Duration;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

use crate::docker::{self, NODE_LABEL, ROLE_LABEL};
use crate::error::{Error, Result};
use crate::lab::{Lab, HELPER_IMAGE};

/// How long one helper may run.
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);

/// The shell script that makes sure the `PERSEUS` chain exists and is jumped to.
const CHAIN_SETUP: &str = "iptables -w -N PERSEUS 2>/dev/null || true; \
iptables -w -C INPUT -j PERSEUS 2>/dev/null || iptables -w -I INPUT 1 -j PERSEUS; \
iptables -w -C OUTPUT -j PERSEUS 2>/dev/null || iptables -w -I OUTPUT 1 -j PERSEUS; ";

/// Script that cuts the namespace off from `peers` in both directions (idempotent).
pub fn cut_script(peers: &[Ipv4Addr]) -> String {
    let mut s = String::from("set -e; ");
    s.push_str(CHAIN_SETUP);
    for ip in peers {
        s.push_str(&format!(
            "iptables -w -C PERSEUS -s {ip} -j DROP 2>/dev/null || iptables -w -A PERSEUS -s {ip} -j DROP; \
             iptables -w -C PERSEUS -d {ip} -j DROP 2>/dev/null || iptables -w -A PERSEUS -d {ip} -j DROP; "
        ));
    }
    s
}

/// Script that lists the rules Perseus added, then removes them (one helper, not two: heal is
/// the slowest fault to apply, and every helper costs a container's create, start and removal).
pub const HEAL_SCRIPT: &str =
    "iptables -w -S PERSEUS 2>/dev/null || true; iptables -w -F PERSEUS 2>/dev/null || true";

/// Script that lists the rules Perseus added (`iptables -S PERSEUS`).
pub const LIST_SCRIPT: &str = "iptables -w -S PERSEUS 2>/dev/null || true";

/// The peer addresses a `iptables -S PERSEUS` listing drops traffic to or from.
pub fn parse_cut_peers(listing: &str) -> Vec<Ipv4Addr> {
    let mut out: Vec<Ipv4Addr> = listing
        .lines()
        .filter(|l| l.starts_with("-A PERSEUS") && l.contains("-j DROP"))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            while let Some(w) = words.next() {
                if w == "-s" || w == "-d" {
                    let addr = words.next()?;
                    return addr.split('/').next()?.parse().ok();
                }
            }
            None
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Run `script` in `node`'s network namespace; return what it printed.
///
/// Errors: [`Error::Helper`] when the script fails or does not finish within 30 s; the node's main
/// container must be running (or paused).
pub async fn run_helper(docker: &Docker, lab: &Lab, node: &str, script: &str) -> Result<String> {
    let n = lab.node(node)?;
    let name = format!(
        "perseus-{}-{}-net-{:04x}",
        lab.system,
        node,
        rand::random::<u16>()
    );
    let body = ContainerCreateBody {
        image: Some(HELPER_IMAGE.to_string()),
        cmd: Some(vec!["sh".into(), "-c".into(), script.to_string()]),
        labels: Some(docker::labels(
            &lab.system,
            &[(NODE_LABEL, node), (ROLE_LABEL, "helper")],
        )),
        host_config: Some(HostConfig {
            network_mode: Some(format!("container:{}", n.main)),
            cap_add: Some(vec!["NET_ADMIN".into(), "NET_RAW".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::default().name(&name).build();
    docker
        .create_container(Some(opts), body)
        .await
        .map_err(Error::docker(format!("creating helper {name}")))?;
    let result = async {
        docker
            .start_container(
                &name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .map_err(|e| Error::Helper {
                node: node.to_string(),
                message: format!("cannot start in {}'s namespace: {e}", n.main),
            })?;
        let mut wait = docker.wait_container(
            &name,
            None::<bollard::query_parameters::WaitContainerOptions>,
        );
        let code = match tokio::time::timeout(HELPER_TIMEOUT, wait.next()).await {
            Err(_) => {
                return Err(Error::Helper {
                    node: node.to_string(),
                    message: "did not finish within 30 s".into(),
                })
            }
            Ok(Some(Ok(r))) => r.status_code,
            Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. }))) => code,
            Ok(Some(Err(e))) => {
                return Err(Error::Helper {
                    node: node.to_string(),
                    message: e.to_string(),
                })
            }
            Ok(None) => 0,
        };
        let logs_opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .build();
        let mut out = String::new();
        let mut logs = docker.logs(&name, Some(logs_opts));
        while let Some(Ok(chunk)) = logs.next().await {
            out.push_str(&chunk.to_string());
        }
        if code != 0 {
            return Err(Error::Helper {
                node: node.to_string(),
                message: format!("exit code {code}: {}", out.trim()),
            });
        }
        Ok(out)
    }
    .await;
    let rm = RemoveContainerOptionsBuilder::default().force(true).build();
    let _ = docker.remove_container(&name, Some(rm)).await;
    result
}

/// Cut `node` off from the nodes in `peers` (both directions), in `node`'s namespace.
pub async fn cut(docker: &Docker, lab: &Lab, node: &str, peers: &[String]) -> Result<()> {
    let ips = peers
        .iter()
        .map(|p| lab.node(p).map(|n| n.ip))
        .collect::<Result<Vec<_>>>()?;
    run_helper(docker, lab, node, &cut_script(&ips))
        .await
        .map(|_| ())
}

/// Remove every rule Perseus added in `node`'s namespace; the nodes it was cut off from.
pub async fn heal(docker: &Docker, lab: &Lab, node: &str) -> Result<Vec<String>> {
    let listing = run_helper(docker, lab, node, HEAL_SCRIPT).await?;
    Ok(peers_named(lab, &listing))
}

fn peers_named(lab: &Lab, listing: &str) -> Vec<String> {
    let ips = parse_cut_peers(listing);
    lab.nodes
        .iter()
        .filter(|n| ips.contains(&n.ip))
        .map(|n| n.name.clone())
        .collect()
}

/// The nodes `node` is cut off from right now.
pub async fn cut_peers(docker: &Docker, lab: &Lab, node: &str) -> Result<Vec<String>> {
    let listing = run_helper(docker, lab, node, LIST_SCRIPT).await?;
    Ok(peers_named(lab, &listing))
}

/// Whether `from` can open a TCP connection to `to` on `port` right now (a probe from inside
/// `from`'s namespace, 1 s timeout). Used to verify that a cut does what it says.
pub async fn can_reach(
    docker: &Docker,
    lab: &Lab,
    from: &str,
    to: &str,
    port: u16,
) -> Result<bool> {
    let ip = lab.node(to)?.ip;
    let out = run_helper(
        docker,
        lab,
        from,
        &format!("if nc -z -w 1 {ip} {port}; then echo reachable; else echo unreachable; fi"),
    )
    .await?;
    Ok(out.lines().any(|l| l.trim() == "reachable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_script_drops_both_directions_idempotently() {
        let s = cut_script(&["10.77.0.12".parse().unwrap()]);
        assert!(s.contains("-A PERSEUS -s 10.77.0.12 -j DROP"));
        assert!(s.contains("-A PERSEUS -d 10.77.0.12 -j DROP"));
        assert!(s.contains("-C PERSEUS -s 10.77.0.12 -j DROP"));
        assert!(s.starts_with("set -e;"));
    }

    #[test]
    fn listing_gives_the_cut_peers() {
        let listing = "-N PERSEUS\n-A PERSEUS -s 10.77.0.12/32 -j DROP\n-A PERSEUS -d 10.77.0.12/32 -j DROP\n-A PERSEUS -s 10.77.0.13/32 -j DROP\n";
        assert_eq!(
            parse_cut_peers(listing),
            vec![
                "10.77.0.12".parse::<Ipv4Addr>().unwrap(),
                "10.77.0.13".parse().unwrap()
            ]
        );
        assert!(parse_cut_peers("-N PERSEUS\n").is_empty());
    }
}
