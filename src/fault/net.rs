//! Network faults inside a node's own network namespace, each one shell script run by the node's
//! helper ([`crate::lab::helper`]: a long-lived container in that namespace with `NET_ADMIN`,
//! reached over its control port in a few milliseconds).
//!
//! Rules live in a chain of our own, `PERSEUS`, jumped to from the top of `INPUT` and `OUTPUT`, so
//! that heal is a flush of that chain and status can list it. Cutting node A from peer B is two
//! rules in A's namespace: drop packets from B and drop packets to B; a one-way cut
//! ([`Direction`], as Chaos Mesh's NetworkChaos names it) is one of the two. The host (the load
//! loop) reaches the node through the network's gateway address, which is never cut.
//!
//! A node whose containers are killed (or stopped) and started gets a fresh namespace, without
//! those rules. So every fault is also written to the helper's record ([`RECORD`]), which any
//! later process can read (`lab status` shows it for a node that is down); when the node starts,
//! and before any later network command on it, the helper is moved into the new namespace and the
//! record is made again there ([`replay`]). `heal` empties the record, and drops that of a node
//! that is down. Between the node's start and the replay (a helper restart and a script, about
//! 0.2 s) the node is not cut; no database here talks to its peers that soon.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use super::link::CHAIN_SETUP;
use crate::error::{Error, Result};
use crate::lab::helper::{self, Ensured};
use crate::lab::Lab;
use crate::node::NodeName;

/// Which packets a cut drops, as the node whose namespace holds the rules sees them (Chaos Mesh's
/// NetworkChaos `direction`: `to`, `from`, `both`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
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
            other => Err(crate::error::FaultError::NotADirection {
                text: other.to_string(),
            }
            .into()),
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

/// Script that lists the rules and qdiscs Perseus added, then removes them and empties the
/// node's record, in one exec.
pub fn heal_script() -> String {
    // The cuts are listed and flushed first, before the slower listing of the qdiscs, so that a
    // heal's effect on a cut comes as early as it can.
    format!(
        "cut=$(iptables -w -S PERSEUS 2>/dev/null); iptables -w -F PERSEUS 2>/dev/null || true; \
         [ -n \"$cut\" ] && printf '%s\\n' \"$cut\"; {}; {}; rm -f {RECORD}",
        super::link::TC_LIST,
        super::link::TC_CLEAR
    )
}

/// Script that lists the rules Perseus added (`iptables -S PERSEUS`), every qdisc, and the
/// classes under Perseus' root qdiscs.
pub fn list_script() -> String {
    format!(
        "iptables -w -S PERSEUS 2>/dev/null || true; {}",
        super::link::TC_LIST
    )
}

/// What is in force in a node's namespace: the peers it is cut from (each with its direction)
/// and its degraded links (`loss 30%`, `bandwidth 1mbit`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InForce {
    /// Cut peers.
    pub cut: Vec<(NodeName, Direction)>,
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

/// Where a node's helper keeps the network faults in force on the node, one a line in the order
/// they were made (`<what, for people>\t<the script that made it>`), so that a later process can
/// read them and a new namespace can be given them again. Emptied by heal.
pub const RECORD: &str = "/var/lib/perseus/faults";

/// The script that runs `script` and, when it succeeds, appends it to the record as `what`.
fn run_and_record(script: &str, what: &str) -> String {
    let q = helper::sh_quote(script);
    format!(
        "sh -c {q} && mkdir -p /var/lib/perseus && printf '%s\\t%s\\n' {} {q} >> {RECORD}",
        helper::sh_quote(&what.replace(['\t', '\n'], " "))
    )
}

/// The line a replay prints when some recorded faults could not be made again.
const NOT_MADE: &str = "not made again:";

/// Undo whatever is in the namespace and make again every fault of the record, in order (one
/// that fails, such as a bandwidth limit on a node without a route to its peers, is named on a
/// `not made again:` line, and the others are still made); print what is then in force. Nothing
/// happens when the record is empty.
fn replay_script() -> String {
    format!(
        "if [ -s {RECORD} ]; then iptables -w -F PERSEUS 2>/dev/null || true; {}; failed=''; \
         while IFS=\"$(printf '\\t')\" read -r what script; do sh -c \"$script\" </dev/null >/dev/null 2>&1 || failed=\"$failed; $what\"; done < {RECORD}; \
         if [ -n \"$failed\" ]; then echo \"{NOT_MADE} ${{failed#; }}\"; fi; \
         {}; fi",
        super::link::TC_CLEAR,
        list_script()
    )
}

/// The recorded faults a replay's output says it could not make again.
fn not_made(output: &str) -> Option<String> {
    output
        .lines()
        .find_map(|l| l.strip_prefix(NOT_MADE))
        .map(|s| s.trim().to_string())
}

/// The descriptions in a record, in order.
pub fn parse_record(record: &str) -> Vec<String> {
    record
        .lines()
        .filter_map(|l| l.split_once('\t').map(|(what, _)| what.to_string()))
        .filter(|w| !w.is_empty())
        .collect()
}

/// Make sure `node`'s helper runs in the node's current namespace ([`helper::ensure`]) and, when
/// it had to be moved into a new one, make the recorded faults again there. Returns the helper's
/// control-port token, and the replay's output when there was one.
///
/// Errors: those of [`helper::ensure`]; [`Error::Helper`] when the replay cannot run.
async fn ready(lab: &Lab, node: &str) -> Result<(Option<String>, Option<String>)> {
    let h = helper::ensure(lab, node).await?;
    ready_from(lab, node, h).await
}

/// [`ready`] for a helper [`helper::ensure`] (or [`helper::ensure_inspected`]) has made sure of.
async fn ready_from(
    lab: &Lab,
    node: &str,
    h: helper::Ready,
) -> Result<(Option<String>, Option<String>)> {
    let replayed = match h.ensured {
        Ensured::Moved => {
            Some(helper::exec(lab, node, h.token.as_deref(), &replay_script()).await?)
        }
        Ensured::Warm | Ensured::Created => None,
    };
    Ok((h.token, replayed))
}

/// Start every node's helper that is not running in its node's namespace, together, so that the
/// first network fault does not wait for one (a scenario's start does this for a lab it did not
/// bring up).
///
/// Errors: the first helper that could not be started.
pub async fn warm(lab: &Lab) -> Result<()> {
    let jobs = lab
        .nodes
        .iter()
        .map(|n| async move { ready(lab, &n.name).await.map(|_| ()) });
    futures_util::future::join_all(jobs)
        .await
        .into_iter()
        .collect()
}

/// Run `script` in `node`'s network namespace, through the node's helper; return what it
/// printed.
///
/// Errors: [`Error::Helper`] when the script fails or does not finish within 30 s, or the node's
/// main container is not running.
pub async fn run_helper(lab: &Lab, node: &str, script: &str) -> Result<String> {
    let (token, _) = ready(lab, node).await?;
    helper::exec(lab, node, token.as_deref(), script).await
}

/// Make a fault with `script` in `node`'s namespace and add it to the node's record as `what`,
/// so that it is made again if the node's namespace is replaced.
async fn run_recorded(lab: &Lab, node: &str, script: &str, what: &str) -> Result<String> {
    let (token, _) = ready(lab, node).await?;
    helper::exec(lab, node, token.as_deref(), &run_and_record(script, what)).await
}

/// What [`replay`] made again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Replayed {
    /// The recorded faults (what they are, for people), in order.
    pub recorded: Vec<String>,
    /// Those that could not be made again (`None`: all were), as the replay named them.
    pub failed: Option<String>,
}

impl Replayed {
    /// `; made again: cut from n2,n3` (with `could not make ...` when some failed), or nothing
    /// when nothing is recorded: what `start` and `connect` add to their line.
    pub fn describe(&self, made: &str) -> String {
        if self.recorded.is_empty() {
            return String::new();
        }
        let mut s = format!("; {made}: {}", self.recorded.join("; "));
        if let Some(f) = &self.failed {
            s.push_str(&format!(" (could not make again: {f})"));
        }
        s
    }
}

/// Make `node`'s recorded faults again in its namespace: after the node started (its helper is
/// moved into the new namespace first) or was reconnected (its interface, and the qdiscs on it,
/// are new). A fault that cannot be made again is named, not an error: the node did start.
///
/// Errors: those of [`helper::ensure`]; [`Error::Helper`] when the replay cannot run.
pub async fn replay(lab: &Lab, node: &str) -> Result<Replayed> {
    let (token, replayed) = ready(lab, node).await?;
    let output = match replayed {
        Some(o) => o,
        None => helper::exec(lab, node, token.as_deref(), &replay_script()).await?,
    };
    Ok(Replayed {
        recorded: recorded(lab, node).await?,
        failed: not_made(&output),
    })
}

/// The faults recorded for `node` (what they are, for people), read from its helper; empty when
/// it has no helper running.
///
/// Errors: [`Error::Helper`] when the helper cannot be read.
pub async fn recorded(lab: &Lab, node: &str) -> Result<Vec<String>> {
    let Some(token) = helper::running(lab, node).await else {
        return Ok(Vec::new());
    };
    let out = helper::exec(
        lab,
        node,
        token.as_deref(),
        &format!("cat {RECORD} 2>/dev/null || true"),
    )
    .await?;
    Ok(parse_record(&out))
}

/// Drop the record of a node that is not running (its helper goes with it; the node gets a new
/// one when a fault needs it); what it held.
///
/// Errors: [`Error::Docker`] when the helper cannot be removed.
pub async fn forget(lab: &Lab, node: &str) -> Result<Vec<String>> {
    let held = recorded(lab, node).await.unwrap_or_default();
    helper::remove(lab, node).await?;
    Ok(held)
}

/// Cut `node` off from the nodes in `peers` in `direction`, in `node`'s namespace.
pub async fn cut(lab: &Lab, node: &str, peers: &[NodeName], direction: Direction) -> Result<()> {
    let ips = peers
        .iter()
        .map(|p| lab.node(p).map(|n| n.ip))
        .collect::<Result<Vec<_>>>()?;
    let what = describe_cut(
        &peers
            .iter()
            .map(|p| (p.clone(), direction))
            .collect::<Vec<_>>(),
    );
    run_recorded(
        lab,
        node,
        &cut_script(&ips, direction),
        &format!("cut from {what}"),
    )
    .await
    .map(|_| ())
}

/// Remove every rule and qdisc Perseus added in `node`'s namespace; what had been in force.
/// `pair` is the node's and its helper's inspection ([`helper::inspect`]), made by the caller.
///
/// Errors: those of [`helper::ensure_inspected`]; [`Error::Helper`] when the script fails.
pub async fn heal(lab: &Lab, node: &str, pair: helper::Inspected) -> Result<InForce> {
    let h = helper::ensure_inspected(lab, node, pair).await?;
    let (token, _) = ready_from(lab, node, h).await?;
    let listing = helper::exec(lab, node, token.as_deref(), &heal_script()).await?;
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
    lab: &Lab,
    node: &str,
    peers: &[NodeName],
    link: super::link::Link,
) -> Result<()> {
    let ips = peers
        .iter()
        .map(|p| lab.node(p).map(|n| n.ip))
        .collect::<Result<Vec<_>>>()?;
    match run_recorded(lab, node, &link.script(&ips), &link.to_string()).await {
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

fn peers_named(lab: &Lab, listing: &str) -> Vec<(NodeName, Direction)> {
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
pub async fn faults_in_force(lab: &Lab, node: &str) -> Result<InForce> {
    let listing = run_helper(lab, node, &list_script()).await?;
    Ok(in_force(lab, &listing))
}

/// The nodes `node` is cut off from right now, each with its direction.
pub async fn cut_peers(lab: &Lab, node: &str) -> Result<Vec<(NodeName, Direction)>> {
    Ok(faults_in_force(lab, node).await?.cut)
}

/// `n2,n3` for peers cut both ways, `n2,n3 (in)` when every cut is one-way the same way, and
/// `n2 (in), n3` otherwise: what `lab status` and `heal` say a node was cut from.
pub fn describe_cut(cut: &[(NodeName, Direction)]) -> String {
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
            Direction::Both => n.to_string(),
            d => format!("{n} ({d})"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Run `listener` in `to`'s namespace and, 1.5 s later (time for its helper to start
/// listening), `sender` in `from`'s; both outputs. The shape of every two-sided probe below.
async fn listen_then_send(
    lab: &Lab,
    from: &str,
    to: &str,
    listener: &str,
    sender: &str,
) -> Result<(String, String)> {
    let listen = run_helper(lab, to, listener);
    let send = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        run_helper(lab, from, sender).await
    };
    let (heard, said) = tokio::join!(listen, send);
    Ok((heard?, said?))
}

/// Whether `from` can open a TCP connection to `to` on `port` right now (a probe from inside
/// `from`'s namespace, 1 s timeout). Used to verify that a cut does what it says.
pub async fn can_reach(lab: &Lab, from: &str, to: &str, port: u16) -> Result<bool> {
    let ip = lab.node(to)?.ip;
    let out = run_helper(
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
pub async fn udp_count(lab: &Lab, from: &str, to: &str, port: u16, count: usize) -> Result<usize> {
    let ip = lab.node(to)?.ip;
    let wait = 3 + count / 200;
    let (heard, _) = listen_then_send(lab,
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
pub async fn tcp_rate(lab: &Lab, from: &str, to: &str, port: u16, bytes: u64) -> Result<f64> {
    let ip = lab.node(to)?.ip;
    let (_, said) = listen_then_send(lab,
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
    fn the_record_keeps_each_fault_with_its_script_and_heal_empties_it() {
        let record = "cut from n2,n3\tset -e; iptables -w -A PERSEUS -s 10.77.0.12 -j DROP\nloss 30%\tset -e; iptables ...\n";
        assert_eq!(parse_record(record), vec!["cut from n2,n3", "loss 30%"]);
        assert!(parse_record("").is_empty());
        // The replay undoes what is there before making the record again, so it can run twice.
        let r = replay_script();
        let flush = r.find("iptables -w -F PERSEUS").unwrap();
        let make = r.find("sh -c \"$script\"").unwrap();
        assert!(flush < make && r.contains(RECORD) && r.starts_with("if [ -s "));
        assert!(heal_script().ends_with(&format!("rm -f {RECORD}")));
        // One fault that cannot be made again is named; the others are still made.
        assert!(r.contains("|| failed=") && r.contains("</dev/null") && !r.contains("exit 1"));
        assert_eq!(
            not_made("x\nnot made again: bandwidth 8mbit\n-N PERSEUS\n").as_deref(),
            Some("bandwidth 8mbit")
        );
        assert_eq!(not_made("-N PERSEUS\n"), None);
        let rp = Replayed {
            recorded: vec!["cut from n2,n3".into(), "bandwidth 8mbit".into()],
            failed: Some("bandwidth 8mbit".into()),
        };
        assert_eq!(
            rp.describe("made again"),
            "; made again: cut from n2,n3; bandwidth 8mbit (could not make again: bandwidth 8mbit)"
        );
        assert_eq!(Replayed::default().describe("made again"), "");
        let r = run_and_record("echo 'hi'", "cut from\tn2");
        assert!(r.starts_with(r"sh -c 'echo '\''hi'\''' && "), "{r}");
        assert!(
            r.contains("'cut from n2'") && r.ends_with(&format!(">> {RECORD}")),
            "{r}"
        );
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
                    .map(|(n, d)| (NodeName::from(*n), *d))
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
