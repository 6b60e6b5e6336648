//! Degraded links between a node and its peers (Jepsen's `packet` nemesis, Pumba's `netem`,
//! Chaos Mesh's NetworkChaos `loss`, `bandwidth`, `delay`), made with the kernel's own mechanisms
//! in the node's namespace. The load loop's path (the host, through the network's gateway) is
//! left alone: only traffic to and from the other nodes is degraded.
//!
//! | fault | mechanism | kernel module |
//! | --- | --- | --- |
//! | loss | `iptables -m statistic --mode random --probability p -j DROP` on packets from and to each peer, in the `PERSEUS` chain | `xt_statistic` |
//! | bandwidth | an `htb` root qdisc on the node's egress: a default class without a limit, a limited class, and `u32` filters sending packets to the peers into it (`tbf` alone would also slow the replies to clients) | `sch_htb`, `cls_u32` |
//! | delay | a `prio` root qdisc with a fourth band that only `u32` filters on the peers' addresses reach, and `netem delay D J` under it | `sch_prio`, `cls_u32`, `sch_netem` |
//!
//! Each script first probes for what it needs (the qdiscs and classifier on the namespace's
//! loopback; the statistic match by adding the first loss rule, which is not added when the match
//! is missing) and stops before it changes anything when the kernel lacks it, naming the module
//! (exit code [`MISSING`]).

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

/// The exit code of a script that found a kernel module missing (its output names it).
pub const MISSING: i64 = 3;

/// The shell script that makes sure the `PERSEUS` chain exists and is jumped to.
pub(crate) const CHAIN_SETUP: &str = "iptables -w -N PERSEUS 2>/dev/null || true; \
iptables -w -C INPUT -j PERSEUS 2>/dev/null || iptables -w -I INPUT 1 -j PERSEUS; \
iptables -w -C OUTPUT -j PERSEUS 2>/dev/null || iptables -w -I OUTPUT 1 -j PERSEUS; ";

/// Which link fault, before its amount is known (a scenario step's `fault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// `loss`.
    Loss,
    /// `bandwidth`.
    Bandwidth,
    /// `delay`.
    Delay,
}

impl LinkKind {
    /// Every link fault.
    pub const ALL: [LinkKind; 3] = [LinkKind::Loss, LinkKind::Bandwidth, LinkKind::Delay];

    /// `loss`, `bandwidth`, `delay`.
    pub fn name(self) -> &'static str {
        match self {
            LinkKind::Loss => "loss",
            LinkKind::Bandwidth => "bandwidth",
            LinkKind::Delay => "delay",
        }
    }
}

/// A degraded link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Link {
    /// Drop this share of the packets to and from each peer, at random (0 < p ≤ 1).
    Loss {
        /// The share dropped, 0 to 1.
        probability: f64,
    },
    /// Limit what the node sends its peers to this rate (bits per second).
    Bandwidth {
        /// Bits per second.
        bits_per_s: u64,
    },
    /// Delay what the node sends its peers by `delay`, ± `jitter`.
    Delay {
        /// The mean delay.
        delay: Duration,
        /// The jitter around it (uniform).
        jitter: Duration,
    },
}

impl Link {
    /// Which link fault it is.
    pub fn kind(&self) -> LinkKind {
        match self {
            Link::Loss { .. } => LinkKind::Loss,
            Link::Bandwidth { .. } => LinkKind::Bandwidth,
            Link::Delay { .. } => LinkKind::Delay,
        }
    }

    /// As a scenario step writes it, what [`Link::parse`] reads back: the amount (`30%`,
    /// `1mbit`, `100ms`) and a delay's jitter (`20ms`; `None` when there is none).
    pub fn written(&self) -> (String, Option<String>) {
        match self {
            Link::Loss { probability } => (format!("{}%", probability * 100.0), None),
            Link::Bandwidth { bits_per_s } => (show_rate(*bits_per_s), None),
            Link::Delay { delay, jitter } => (
                crate::units::show(*delay),
                (!jitter.is_zero()).then(|| crate::units::show(*jitter)),
            ),
        }
    }

    /// The fault's name: `loss`, `bandwidth`, `delay`.
    pub fn name(&self) -> &'static str {
        match self {
            Link::Loss { .. } => "loss",
            Link::Bandwidth { .. } => "bandwidth",
            Link::Delay { .. } => "delay",
        }
    }

    /// Parse the fault `name` with its `amount` (`30%`, `1mbit`, `100ms`) and, for delay, a
    /// `jitter`.
    ///
    /// Errors: one line naming what was wrong and what to write.
    pub fn parse(name: &str, amount: &str, jitter: Option<&str>) -> Result<Link, String> {
        if jitter.is_some() && name != "delay" {
            return Err(format!("only delay takes a jitter, not {name}"));
        }
        match name {
            "loss" => {
                let p = amount
                    .strip_suffix('%')
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|p| *p > 0.0 && *p <= 100.0)
                    .ok_or_else(|| {
                        format!("loss '{amount}' is not a percentage: write one above 0 and at most 100, e.g. 30%")
                    })?;
                Ok(Link::Loss {
                    probability: p / 100.0,
                })
            }
            "bandwidth" => parse_rate(amount).map(|bits_per_s| Link::Bandwidth { bits_per_s }),
            "delay" => {
                let d = |s: &str| {
                    crate::units::parse_duration(s).map_err(|e| format!("delay '{s}': {e}"))
                };
                let delay = d(amount)?;
                if delay.is_zero() {
                    return Err("a delay of 0 delays nothing: write one such as 100ms".into());
                }
                let jitter = jitter.map(d).transpose()?.unwrap_or_default();
                Ok(Link::Delay { delay, jitter })
            }
            other => Err(format!(
                "'{other}' is not a link fault: use loss, bandwidth or delay"
            )),
        }
    }

    /// The script that degrades the links from the namespace to `peers`, after probing for the
    /// kernel modules it needs.
    pub fn script(&self, peers: &[Ipv4Addr]) -> String {
        let mut s = String::from("set -e; ");
        match self {
            Link::Loss { probability } => {
                // The first rule is the probe: a rule the kernel cannot match is not added, so
                // nothing changes when the statistic match is missing (the chain and its jumps
                // alone drop nothing).
                s.push_str(CHAIN_SETUP);
                for (i, ip) in peers.iter().enumerate() {
                    for flag in ["-s", "-d"] {
                        let rule = format!(
                            "iptables -w -A PERSEUS {flag} {ip} -m statistic --mode random --probability {probability:.4} -j DROP"
                        );
                        if i == 0 && flag == "-s" {
                            s.push_str(&format!(
                                "if ! {rule} 2>/dev/null; then echo 'missing kernel module: xt_statistic (the iptables statistic match)'; exit {MISSING}; fi; "
                            ));
                        } else {
                            s.push_str(&format!("{rule}; "));
                        }
                    }
                }
            }
            Link::Bandwidth { bits_per_s } => {
                s.push_str(&format!(
                    "tc qdisc add dev lo root handle 9: htb 2>/dev/null || {{ echo 'missing kernel module: sch_htb (the htb qdisc)'; exit {MISSING}; }}; \
                     tc filter add dev lo parent 9: protocol ip prio 1 u32 match ip dst 127.0.0.1/32 flowid 9:1 2>/dev/null || {{ tc qdisc del dev lo root; echo 'missing kernel module: cls_u32 (the u32 classifier)'; exit {MISSING}; }}; \
                     tc qdisc del dev lo root; {}\
                     tc qdisc replace dev $dev root handle 1: htb default 10; \
                     tc class replace dev $dev parent 1: classid 1:10 htb rate 100gbit; \
                     tc class replace dev $dev parent 1: classid 1:20 htb rate {bits_per_s}bit ceil {bits_per_s}bit; ",
                    egress_dev(peers)
                ));
                for ip in peers {
                    s.push_str(&format!(
                        "tc filter add dev $dev parent 1: protocol ip prio 1 u32 match ip dst {ip}/32 flowid 1:20; "
                    ));
                }
            }
            Link::Delay { delay, jitter } => {
                s.push_str(&format!(
                    "tc qdisc add dev lo root netem delay 1ms 2>/dev/null || {{ echo 'missing kernel module: sch_netem (delay, jitter, duplicate and corrupt need it; load it on the host: modprobe sch_netem)'; exit {MISSING}; }}; \
                     tc qdisc del dev lo root; \
                     tc qdisc add dev lo root handle 9: prio bands 4 2>/dev/null || {{ echo 'missing kernel module: sch_prio (the prio qdisc)'; exit {MISSING}; }}; \
                     tc filter add dev lo parent 9: protocol ip prio 1 u32 match ip dst 127.0.0.1/32 flowid 9:4 2>/dev/null || {{ tc qdisc del dev lo root; echo 'missing kernel module: cls_u32 (the u32 classifier)'; exit {MISSING}; }}; \
                     tc qdisc del dev lo root; {}\
                     tc qdisc replace dev $dev root handle 1: prio bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1; \
                     tc qdisc replace dev $dev parent 1:4 handle 40: netem delay {}us {}us; ",
                    egress_dev(peers),
                    delay.as_micros(),
                    jitter.as_micros()
                ));
                for ip in peers {
                    s.push_str(&format!(
                        "tc filter add dev $dev parent 1: protocol ip prio 1 u32 match ip dst {ip}/32 flowid 1:4; "
                    ));
                }
            }
        }
        s
    }
}

/// Shell that sets `$dev` to the interface the namespace reaches its peers through.
fn egress_dev(peers: &[Ipv4Addr]) -> String {
    let first = peers
        .first()
        .map(|p| p.to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    format!("dev=$(ip -o route get {first} | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p'); test -n \"$dev\"; ")
}

/// `1mbit`, `500kbit`, `2gbit`, `64000bit` (tc's units, decimal): bits per second.
///
/// Errors: one line saying how to write a rate.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)]
        .into_iter()
        .find_map(|(u, m)| t.strip_suffix(u).map(|n| (n.to_string(), m)))
        .ok_or_else(|| {
            format!("bandwidth '{s}' is not a rate: write one such as 1mbit, 500kbit or 2gbit")
        })?;
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bandwidth '{s}' is not a rate: write one such as 1mbit"))?;
    let bits = (v * mult).round();
    if bits < 8000.0 {
        return Err(format!(
            "bandwidth '{s}' is below 8kbit, which starves even a heartbeat: write at least 8kbit"
        ));
    }
    Ok(bits as u64)
}

/// A rate as tc writes it: `1mbit`, `500kbit`.
pub fn show_rate(bits_per_s: u64) -> String {
    for (u, m) in [
        ("gbit", 1_000_000_000),
        ("mbit", 1_000_000),
        ("kbit", 1_000),
    ] {
        if bits_per_s >= m && bits_per_s.is_multiple_of(m) {
            return format!("{}{u}", bits_per_s / m);
        }
    }
    format!("{bits_per_s}bit")
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Link::Loss { probability } => write!(f, "loss {}%", probability * 100.0),
            Link::Bandwidth { bits_per_s } => write!(f, "bandwidth {}", show_rate(*bits_per_s)),
            Link::Delay { delay, jitter } if jitter.is_zero() => {
                write!(f, "delay {}", crate::units::show(*delay))
            }
            Link::Delay { delay, jitter } => write!(
                f,
                "delay {} ± {}",
                crate::units::show(*delay),
                crate::units::show(*jitter)
            ),
        }
    }
}

/// The degraded links a listing shows (the `PERSEUS` chain's rules, then `tc qdisc show` and
/// `tc class show` of every interface): `loss 30%`, `bandwidth 1mbit`, `delay`, for `lab status`
/// and `heal`.
pub fn parse_links(listing: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = listing.lines().find_map(|l| {
        let l = l.trim();
        if !(l.starts_with("-A PERSEUS") && l.contains("statistic")) {
            return None;
        }
        let mut w = l.split_whitespace();
        w.find(|x| *x == "--probability")?;
        w.next()?.parse::<f64>().ok()
    }) {
        out.push(format!("loss {}%", (p * 1000.0).round() / 10.0));
    }
    if let Some(rate) = listing.lines().find_map(|l| {
        let l = l.trim();
        if !(l.starts_with("class htb 1:20")) {
            return None;
        }
        let mut w = l.split_whitespace();
        w.find(|x| *x == "rate")?;
        w.next().map(|r| r.to_ascii_lowercase())
    }) {
        out.push(format!("bandwidth {rate}"));
    }
    if let Some(d) = listing.lines().find_map(|l| {
        let l = l.trim();
        (l.starts_with("qdisc netem 40:")).then(|| {
            l.split_once("delay")
                .map(|(_, r)| r.trim().to_string())
                .unwrap_or_default()
        })
    }) {
        out.push(format!("delay {d}").trim().to_string());
    }
    out
}

/// Shell that prints the interfaces whose root qdisc has Perseus' handle (`1:`, the `htb` of a
/// bandwidth limit or the `prio` of a delay): one `tc` call.
macro_rules! tc_ours {
    () => {
        "tc qdisc show 2>/dev/null | sed -n 's/^qdisc [a-z]* 1: dev \\([^ ]*\\) root.*/\\1/p'"
    };
}

/// Shell that lists every qdisc, and the classes under Perseus' root qdiscs (for
/// [`parse_links`]): one `tc` call when none is in force.
pub const TC_LIST: &str = concat!(
    "tc qdisc show 2>/dev/null; for d in $(",
    tc_ours!(),
    "); do tc class show dev $d; done; true"
);

/// Shell that removes Perseus' root qdiscs (the kernel's defaults come back).
pub const TC_CLEAR: &str = concat!(
    "for d in $(",
    tc_ours!(),
    "); do tc qdisc del dev $d root 2>/dev/null || true; done"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_or_say_how_to_write_them() {
        assert_eq!(
            Link::parse("loss", "30%", None).unwrap(),
            Link::Loss { probability: 0.3 }
        );
        assert!(Link::parse("loss", "30", None)
            .unwrap_err()
            .contains("e.g. 30%"));
        assert!(Link::parse("loss", "0%", None).is_err());
        assert_eq!(
            Link::parse("bandwidth", "1mbit", None).unwrap(),
            Link::Bandwidth {
                bits_per_s: 1_000_000
            }
        );
        assert_eq!(parse_rate("500kbit").unwrap(), 500_000);
        assert!(parse_rate("1MB").unwrap_err().contains("1mbit"));
        assert!(parse_rate("1kbit").unwrap_err().contains("8kbit"));
        assert_eq!(
            Link::parse("delay", "100ms", Some("20ms")).unwrap(),
            Link::Delay {
                delay: Duration::from_millis(100),
                jitter: Duration::from_millis(20)
            }
        );
        assert!(Link::parse("loss", "3%", Some("1ms"))
            .unwrap_err()
            .contains("only delay"));
        assert!(Link::parse("corrupt", "1%", None)
            .unwrap_err()
            .contains("loss, bandwidth or delay"));
        assert_eq!(show_rate(1_000_000), "1mbit");
        assert_eq!(Link::Loss { probability: 0.3 }.to_string(), "loss 30%");
    }

    #[test]
    fn scripts_probe_first_and_touch_only_the_peers_traffic() {
        let peers: Vec<Ipv4Addr> =
            vec!["10.77.0.12".parse().unwrap(), "10.77.0.13".parse().unwrap()];
        let s = Link::Loss { probability: 0.3 }.script(&peers);
        // The first rule is the probe: when it cannot be added, the script stops there.
        let first = s
            .find(
                "if ! iptables -w -A PERSEUS -s 10.77.0.12 -m statistic --mode random --probability 0.3000 -j DROP 2>/dev/null; then",
            )
            .unwrap();
        let second = s.find("-A PERSEUS -d 10.77.0.12 -m statistic").unwrap();
        assert!(first < second && s[first..second].contains("exit 3"), "{s}");
        assert!(s.contains("-A PERSEUS -d 10.77.0.13 -m statistic"));
        assert!(s.contains("missing kernel module: xt_statistic"));
        let s = Link::Bandwidth {
            bits_per_s: 1_000_000,
        }
        .script(&peers);
        assert!(
            s.find("missing kernel module: sch_htb").unwrap()
                < s.find("root handle 1: htb").unwrap()
        );
        assert!(s.contains("classid 1:20 htb rate 1000000bit ceil 1000000bit"));
        assert!(s.contains("u32 match ip dst 10.77.0.13/32 flowid 1:20"));
        assert!(
            s.contains("htb default 10"),
            "everything else (the clients) goes unlimited"
        );
        let s = Link::Delay {
            delay: Duration::from_millis(100),
            jitter: Duration::from_millis(20),
        }
        .script(&peers);
        assert!(
            s.find("missing kernel module: sch_netem").unwrap()
                < s.find("root handle 1: prio").unwrap()
        );
        assert!(s.contains("netem delay 100000us 20000us"));
        assert!(s.contains("u32 match ip dst 10.77.0.12/32 flowid 1:4"));
    }

    #[test]
    fn a_listing_names_the_degraded_links() {
        let listing = "-N PERSEUS\n-A PERSEUS -s 10.77.0.12/32 -m statistic --mode random --probability 0.30000000009 -j DROP\n\
qdisc htb 1: root refcnt 2 r2q 10 default 0x10 direct_packets_stat 0\n\
class htb 1:20 root prio 0 rate 1Mbit ceil 1Mbit burst 1600b cburst 1600b\n";
        assert_eq!(parse_links(listing), vec!["loss 30%", "bandwidth 1mbit"]);
        assert!(parse_links("-N PERSEUS\n-A PERSEUS -s 10.77.0.12/32 -j DROP\n").is_empty());
        assert_eq!(
            parse_links("qdisc netem 40: parent 1:4 limit 1000 delay 100ms  20ms\n"),
            vec!["delay 100ms  20ms"]
        );
    }
}
