//! Network faults inside a node's own network namespace, through a short-lived helper container.
//!
//! The helper (`perseus/nettools`, iptables + iproute2 + netcat) is started with
//! `network_mode: container:<node main>` and `NET_ADMIN`, runs one shell script and is removed; the
//! rules it adds stay in the namespace after it exits (DESIGN.md). The database images stay
//! unmodified and unprivileged.
//!
//! Rules live in a chain of our own, `PERSEUS`, jumped to from the top of `INPUT` and `OUTPUT`, so
//! that heal is a flush of that chain and status can list it. Cutting node A from peer B is two
//! rules in A's namespace: drop packets from B and drop packets to B; a one-way cut
//! ([`Direction`], as Chaos Mesh's NetworkChaos names it) is one of the two. The host (the load
//! loop) reaches the node through the network's gateway address, which is never cut.
//!
//! A node whose containers are killed and started gets a fresh namespace, without these rules.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
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
pub(crate) const CHAIN_SETUP: &str = "iptables -w -N PERSEUS 2>/dev/null || true; \
iptables -w -C INPUT -j PERSEUS 2>/dev/null || iptables -w -I INPUT 1 -j PERSEUS; \
iptables -w -C OUTPUT -j PERSEUS 2>/dev/null || iptables -w -I OUTPUT 1 -j PERSEUS; ";

/// Which packets a cut drops, as the node whose namespace holds the rules sees them (Chaos Mesh's
/// NetworkChaos `direction`: `to`, `from`, `both`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// What the peers send the node: it hears nothing from them, they still hear it.
    In,
    /// What the node sends the peers: they hear nothing from it, it still hears them.
    Out,
    /// Both (the default): no packet passes either way.
    #[default]
    Both,
}

impl Direction {
    /// `in`, `out`, `both`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::Both => "both",
        }
    }

    /// The iptables address flags a cut in this direction matches: `-s` (from the peer, on
    /// `INPUT`), `-d` (to the peer, on `OUTPUT`), or both.
    fn flags(self) -> &'static [&'static str] {
        match self {
            Direction::In => &["-s"],
            Direction::Out => &["-d"],
            Direction::Both => &["-s", "-d"],
        }
    }

    /// For people: `to and from`, `from` (in), `to` (out), as in "iptables DROP to and from n2".
    pub fn words(self) -> &'static str {
        match self {
            Direction::In => "from",
            Direction::Out => "to",
            Direction::Both => "to and from",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Direction {
    type Err = Error;
    fn from_str(s: &str) -> Result<Direction> {
        match s {
            "in" => Ok(Direction::In),
            "out" => Ok(Direction::Out),
            "both" => Ok(Direction::Both),
            other => Err(Error::BadInput(format!(
                "'{other}' is not a direction: use in (the node hears nothing from its peers), out (they hear nothing from it) or both"
            ))),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Direction {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Direction, D::Error> {
        <String as serde::Deserialize>::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Script that cuts the namespace off from `peers` in `direction` (idempotent).
pub fn cut_script(peers: &[Ipv4Addr], direction: Direction) -> String {
    let mut s = String::from("set -e; ");
    s.push_str(CHAIN_SETUP);
    for ip in peers {
        for flag in direction.flags() {
            s.push_str(&format!(
                "iptables -w -C PERSEUS {flag} {ip} -j DROP 2>/dev/null || iptables -w -A PERSEUS {flag} {ip} -j DROP; "
            ));
        }
    }
    s
}

/// Script that lists the rules and qdiscs Perseus added, then removes them (one helper, not
/// two: heal is the slowest fault to apply, and every helper costs a container's create, start
/// and removal).
pub fn heal_script() -> String {
    format!(
        "{LIST_SCRIPT}; iptables -w -F PERSEUS 2>/dev/null || true; {}",
        super::link::TC_CLEAR
    )
}

/// Script that lists the rules Perseus added (`iptables -S PERSEUS`) and every interface's
/// qdiscs and classes.
pub const LIST_SCRIPT: &str = "iptables -w -S PERSEUS 2>/dev/null || true; for d in $(ls /sys/class/net); do tc qdisc show dev $d; tc class show dev $d; done 2>/dev/null || true";

/// What is in force in a node's namespace: the peers it is cut from (each with its direction)
/// and its degraded links (`loss 30%`, `bandwidth 1mbit`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InForce {
    /// Cut peers.
    pub cut: Vec<(String, Direction)>,
    /// Degraded links, as [`super::link::parse_links`] names them.
    pub links: Vec<String>,
}

/// The peer addresses a `iptables -S PERSEUS` listing drops traffic to or from, each with the
/// direction of its cut, in address order.
pub fn parse_cut_peers(listing: &str) -> Vec<(Ipv4Addr, Direction)> {
    let mut seen: std::collections::BTreeMap<Ipv4Addr, (bool, bool)> = Default::default();
    // Loss rules (the statistic match) degrade a link; they do not cut it.
    for l in listing.lines().filter(|l| {
        l.starts_with("-A PERSEUS") && l.contains("-j DROP") && !l.contains("statistic")
    }) {
        let mut words = l.split_whitespace();
        while let Some(w) = words.next() {
            if w == "-s" || w == "-d" {
                let Some(ip) = words
                    .next()
                    .and_then(|a| a.split('/').next())
                    .and_then(|a| a.parse().ok())
                else {
                    break;
                };
                let e = seen.entry(ip).or_default();
                if w == "-s" {
                    e.0 = true;
                } else {
                    e.1 = true;
                }
                break;
            }
        }
    }
    seen.into_iter()
        .map(|(ip, (from, to))| {
            let d = match (from, to) {
                (true, true) => Direction::Both,
                (true, false) => Direction::In,
                _ => Direction::Out,
            };
            (ip, d)
        })
        .collect()
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

/// Cut `node` off from the nodes in `peers` in `direction`, in `node`'s namespace.
pub async fn cut(
    docker: &Docker,
    lab: &Lab,
    node: &str,
    peers: &[String],
    direction: Direction,
) -> Result<()> {
    let ips = peers
        .iter()
        .map(|p| lab.node(p).map(|n| n.ip))
        .collect::<Result<Vec<_>>>()?;
    run_helper(docker, lab, node, &cut_script(&ips, direction))
        .await
        .map(|_| ())
}

/// Remove every rule and qdisc Perseus added in `node`'s namespace; what had been in force.
pub async fn heal(docker: &Docker, lab: &Lab, node: &str) -> Result<InForce> {
    let listing = run_helper(docker, lab, node, &heal_script()).await?;
    Ok(in_force(lab, &listing))
}

fn in_force(lab: &Lab, listing: &str) -> InForce {
    InForce {
        cut: peers_named(lab, listing),
        links: super::link::parse_links(listing),
    }
}

/// Degrade `node`'s links to the nodes in `peers` ([`super::link`]).
///
/// Errors: [`Error::KernelMissing`] when the kernel lacks a module the fault needs (nothing was
/// changed); [`Error::Helper`] otherwise.
pub async fn degrade(
    docker: &Docker,
    lab: &Lab,
    node: &str,
    peers: &[String],
    link: super::link::Link,
) -> Result<()> {
    let ips = peers
        .iter()
        .map(|p| lab.node(p).map(|n| n.ip))
        .collect::<Result<Vec<_>>>()?;
    match run_helper(docker, lab, node, &link.script(&ips)).await {
        Ok(_) => Ok(()),
        Err(Error::Helper { message, .. }) if message.contains("missing kernel module") => {
            Err(Error::KernelMissing {
                fault: link.name().to_string(),
                missing: message
                    .find("missing kernel module")
                    .map(|i| message[i..].lines().next().unwrap_or_default().to_string())
                    .unwrap_or_else(|| message.clone()),
            })
        }
        Err(e) => Err(e),
    }
}

fn peers_named(lab: &Lab, listing: &str) -> Vec<(String, Direction)> {
    let cut = parse_cut_peers(listing);
    lab.nodes
        .iter()
        .filter_map(|n| {
            cut.iter()
                .find(|(ip, _)| *ip == n.ip)
                .map(|(_, d)| (n.name.clone(), *d))
        })
        .collect()
}

/// What is in force in `node`'s namespace right now.
pub async fn faults_in_force(docker: &Docker, lab: &Lab, node: &str) -> Result<InForce> {
    let listing = run_helper(docker, lab, node, LIST_SCRIPT).await?;
    Ok(in_force(lab, &listing))
}

/// The nodes `node` is cut off from right now, each with its direction.
pub async fn cut_peers(docker: &Docker, lab: &Lab, node: &str) -> Result<Vec<(String, Direction)>> {
    Ok(faults_in_force(docker, lab, node).await?.cut)
}

/// `n2,n3` for peers cut both ways, `n2,n3 (in)` when every cut is one-way the same way, and
/// `n2 (in), n3` otherwise: what `lab status` and `heal` say a node was cut from.
pub fn describe_cut(cut: &[(String, Direction)]) -> String {
    let first = cut.first().map(|(_, d)| *d);
    if cut.iter().all(|(_, d)| Some(*d) == first) {
        let names: Vec<&str> = cut.iter().map(|(n, _)| n.as_str()).collect();
        return match first {
            Some(Direction::Both) | None => names.join(","),
            Some(d) => format!("{} ({d})", names.join(",")),
        };
    }
    cut.iter()
        .map(|(n, d)| match d {
            Direction::Both => n.clone(),
            d => format!("{n} ({d})"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Run `listener` in `to`'s namespace and, 1.5 s later (time for its helper to start
/// listening), `sender` in `from`'s; both outputs. The shape of every two-sided probe below.
async fn listen_then_send(
    docker: &Docker,
    lab: &Lab,
    from: &str,
    to: &str,
    listener: &str,
    sender: &str,
) -> Result<(String, String)> {
    let listen = run_helper(docker, lab, to, listener);
    let send = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        run_helper(docker, lab, from, sender).await
    };
    let (heard, said) = tokio::join!(listen, send);
    Ok((heard?, said?))
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

/// How many of `count` UDP datagrams sent from `from` to `to` on `port` arrive (a listener in
/// `to`'s namespace, the datagrams 2 ms apart from one socket in `from`'s): a probe of packet
/// loss, and of one-way cuts, which a TCP probe cannot tell apart (a handshake needs both ways).
///
/// Errors: [`Error::Helper`] when a helper fails or the listener prints no count.
pub async fn udp_count(
    docker: &Docker,
    lab: &Lab,
    from: &str,
    to: &str,
    port: u16,
    count: usize,
) -> Result<usize> {
    let ip = lab.node(to)?.ip;
    let wait = 3 + count / 200;
    let (heard, _) = listen_then_send(
        docker,
        lab,
        from,
        to,
        &format!("timeout {wait} nc -u -l {port} | wc -l || true"),
        // One socket (the listener answers one peer address), and a dropped datagram fails its
        // own write with EPERM without ending the loop, as it would end nc.
        &format!(
            "bash -c 'exec 3>/dev/udp/{ip}/{port}; i=0; while [ $i -lt {count} ]; do echo $i >&3 2>/dev/null || true; i=$((i+1)); sleep 0.002; done'"
        ),
    )
    .await?;
    heard
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
        .ok_or_else(|| Error::Helper {
            node: to.to_string(),
            message: format!("the UDP listener printed no count: {heard}"),
        })
}

/// The rate (bits per second) at which `from` sends `bytes` to `to` over one TCP connection on
/// `port`: a probe of a bandwidth limit.
///
/// Errors: [`Error::Helper`] when a helper fails or the sender prints no time.
pub async fn tcp_rate(
    docker: &Docker,
    lab: &Lab,
    from: &str,
    to: &str,
    port: u16,
    bytes: u64,
) -> Result<f64> {
    let ip = lab.node(to)?.ip;
    let (_, said) = listen_then_send(
        docker,
        lab,
        from,
        to,
        &format!("timeout 30 nc -l {port} > /dev/null || true"),
        &format!(
            "s=$(date +%s%N); head -c {bytes} /dev/zero | nc -N -w 25 {ip} {port}; e=$(date +%s%N); echo elapsed_ns $((e-s))"
        ),
    )
    .await?;
    let ns: f64 = said
        .lines()
        .find_map(|l| l.strip_prefix("elapsed_ns ")?.trim().parse().ok())
        .ok_or_else(|| Error::Helper {
            node: from.to_string(),
            message: format!("the sender printed no time: {said}"),
        })?;
    Ok(bytes as f64 * 8.0 / (ns / 1e9))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_script_drops_the_asked_directions_idempotently() {
        let ip: Ipv4Addr = "10.77.0.12".parse().unwrap();
        let s = cut_script(&[ip], Direction::Both);
        assert!(s.contains("-A PERSEUS -s 10.77.0.12 -j DROP"));
        assert!(s.contains("-A PERSEUS -d 10.77.0.12 -j DROP"));
        assert!(s.contains("-C PERSEUS -s 10.77.0.12 -j DROP"));
        assert!(s.starts_with("set -e;"));
        let s = cut_script(&[ip], Direction::In);
        assert!(s.contains("-A PERSEUS -s 10.77.0.12 -j DROP") && !s.contains("-d 10.77"));
        let s = cut_script(&[ip], Direction::Out);
        assert!(s.contains("-A PERSEUS -d 10.77.0.12 -j DROP") && !s.contains("-s 10.77"));
    }

    #[test]
    fn listing_gives_the_cut_peers_with_their_directions() {
        let listing = "-N PERSEUS\n-A PERSEUS -s 10.77.0.12/32 -j DROP\n-A PERSEUS -d 10.77.0.12/32 -j DROP\n-A PERSEUS -s 10.77.0.13/32 -j DROP\n-A PERSEUS -d 10.77.0.14/32 -j DROP\n";
        let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        assert_eq!(
            parse_cut_peers(listing),
            vec![
                (ip("10.77.0.12"), Direction::Both),
                (ip("10.77.0.13"), Direction::In),
                (ip("10.77.0.14"), Direction::Out),
            ]
        );
        assert!(parse_cut_peers("-N PERSEUS\n").is_empty());
    }

    #[test]
    fn directions_parse_and_describe_what_is_cut() {
        assert_eq!("in".parse::<Direction>().unwrap(), Direction::In);
        assert_eq!(Direction::default(), Direction::Both);
        let e = "sideways".parse::<Direction>().unwrap_err().to_string();
        assert!(
            e.contains("'sideways'") && e.contains("in") && e.contains("both"),
            "{e}"
        );
        let c = |v: &[(&str, Direction)]| {
            describe_cut(
                &v.iter()
                    .map(|(n, d)| (n.to_string(), *d))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            c(&[("n2", Direction::Both), ("n3", Direction::Both)]),
            "n2,n3"
        );
        assert_eq!(
            c(&[("n2", Direction::In), ("n3", Direction::In)]),
            "n2,n3 (in)"
        );
        assert_eq!(
            c(&[("n2", Direction::Out), ("n3", Direction::Both)]),
            "n2 (out), n3"
        );
    }
}
