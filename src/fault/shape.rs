//! Jepsen's partition shapes by name (jepsen.nemesis: `partition-random-halves`,
//! `partition-majorities-ring`, `bridge`, and a partition that puts the leader on the minority
//! side): which nodes each node is cut from. Pure logic; [`super::inject`] applies it (`Fault::Shaped`).
//!
//! Random choices come from a seeded generator, so a run with the same seed and the same nodes
//! cuts the same pairs.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::error::FaultError;
use crate::error::{Error, Result};
use crate::node::NodeName;

/// A named partition shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// Two random halves (the smaller one ⌊n/2⌋ nodes) that cannot reach each other.
    Halves,
    /// Majorities ring: the nodes in a random ring, each seeing itself and its nearest neighbours
    /// on both sides, a majority, and no two nodes seeing the same majority. Needs at least five
    /// nodes (with three or four, every node's majority would hold a neighbour's whole view).
    Ring,
    /// Two random halves that cannot reach each other, joined by one node that reaches both.
    Bridge,
    /// The current leader on the minority side (with ⌊(n-1)/2⌋ - 1 random others), cut from the
    /// majority: the side a leader-based system must give up.
    Leader,
}

impl Shape {
    /// Every shape, for help texts.
    pub const ALL: [Shape; 4] = [Shape::Halves, Shape::Ring, Shape::Bridge, Shape::Leader];

    /// `halves`, `ring`, `bridge`, `leader`.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Halves => "halves",
            Shape::Ring => "ring",
            Shape::Bridge => "bridge",
            Shape::Leader => "leader",
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Shape {
    type Err = Error;
    fn from_str(s: &str) -> Result<Shape> {
        Shape::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| {
                FaultError::NotAShape {
                    text: s.to_string(),
                }
                .into()
            })
    }
}

impl<'de> serde::Deserialize<'de> for Shape {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Shape, D::Error> {
        <String as serde::Deserialize>::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Which nodes each node is cut from (symmetric: if a is cut from b, b is cut from a), and one
/// line saying how, for the fault's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cuts {
    /// Node → the nodes it must not reach (nodes cut from nobody are left out).
    pub cut_from: BTreeMap<NodeName, Vec<NodeName>>,
    /// `n1,n4 | n2,n3,n5`, `ring n1-n3-n5-n2-n4`, `n1,n2 | n4,n5 joined by n3`.
    pub detail: String,
}

/// Cut everyone in `a` from everyone in `b`, both ways.
fn cut_between(cut: &mut BTreeMap<NodeName, Vec<NodeName>>, a: &[NodeName], b: &[NodeName]) {
    for x in a {
        for y in b {
            cut.entry(x.clone()).or_default().push(y.clone());
            cut.entry(y.clone()).or_default().push(x.clone());
        }
    }
}

fn sorted(mut v: Vec<NodeName>) -> Vec<NodeName> {
    v.sort_by_key(|n| {
        n.trim_start_matches('n')
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    });
    v
}

/// The cuts of `shape` over `nodes` (in node order), drawing random choices from `seed`;
/// `leader` is the current leader (needed by [`Shape::Leader`] only).
///
/// Errors: [`FaultError::TooFewNodes`] for fewer nodes than the shape needs (two; three for a
/// bridge; five for a ring), [`FaultError::NoLeaderNow`] for a leader shape without a leader.
pub fn cuts(shape: Shape, nodes: &[NodeName], leader: Option<&str>, seed: u64) -> Result<Cuts> {
    let n = nodes.len();
    let need = match shape {
        Shape::Halves | Shape::Leader => 2,
        Shape::Bridge => 3,
        Shape::Ring => 5,
    };
    if n < need {
        return Err(FaultError::TooFewNodes {
            shape: shape.to_string(),
            need,
            have: n,
        }
        .into());
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut order: Vec<NodeName> = nodes.to_vec();
    order.shuffle(&mut rng);
    let mut cut: BTreeMap<NodeName, Vec<NodeName>> = BTreeMap::new();
    let detail = match shape {
        Shape::Halves => {
            let (a, b) = order.split_at(n / 2);
            let (a, b) = (sorted(a.to_vec()), sorted(b.to_vec()));
            cut_between(&mut cut, &a, &b);
            format!("{} | {}", a.join(","), b.join(","))
        }
        Shape::Bridge => {
            let bridge = order[0].clone();
            let rest = &order[1..];
            let (a, b) = rest.split_at(rest.len() / 2);
            let (a, b) = (sorted(a.to_vec()), sorted(b.to_vec()));
            cut_between(&mut cut, &a, &b);
            format!("{} | {} joined by {bridge}", a.join(","), b.join(","))
        }
        Shape::Leader => {
            let Some(leader) = leader else {
                return Err(FaultError::NoLeaderNow.into());
            };
            let others: Vec<NodeName> = order.iter().filter(|x| *x != leader).cloned().collect();
            let minority = (n - 1) / 2;
            let mut a = vec![NodeName::from(leader)];
            a.extend(others[..minority.saturating_sub(1)].iter().cloned());
            let b: Vec<NodeName> = others[minority.saturating_sub(1)..].to_vec();
            let (a, b) = (sorted(a), sorted(b));
            cut_between(&mut cut, &a, &b);
            format!("{} (the leader's side) | {}", a.join(","), b.join(","))
        }
        Shape::Ring => {
            // Each node sees the k nearest on each side: 2k + 1 nodes, the least that is a
            // majority. Distance on the ring is symmetric, so the cuts are.
            let k = (n / 2).div_ceil(2);
            for (i, x) in order.iter().enumerate() {
                for (j, y) in order.iter().enumerate() {
                    let d = i.abs_diff(j);
                    if d.min(n - d) > k {
                        cut.entry(x.clone()).or_default().push(y.clone());
                    }
                }
            }
            format!(
                "majorities ring {}: each node reaches the {k} nearest on either side",
                order.join("-")
            )
        }
    };
    for v in cut.values_mut() {
        *v = sorted(std::mem::take(v));
        v.dedup();
    }
    Ok(Cuts {
        cut_from: cut,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn nodes(n: usize) -> Vec<NodeName> {
        (1..=n).map(NodeName::nth).collect()
    }

    /// Who `x` still reaches (itself included).
    fn sees(c: &Cuts, all: &[NodeName], x: &str) -> BTreeSet<NodeName> {
        let cut = c.cut_from.get(x).cloned().unwrap_or_default();
        all.iter().filter(|y| !cut.contains(y)).cloned().collect()
    }

    fn symmetric(c: &Cuts) {
        for (x, ys) in &c.cut_from {
            for y in ys {
                assert!(c.cut_from[y].contains(x), "{x} cut from {y} but not back");
            }
        }
    }

    #[test]
    fn a_majorities_ring_gives_every_node_a_different_majority() {
        for n in [5, 6, 7, 9] {
            let all = nodes(n);
            let c = cuts(Shape::Ring, &all, None, 42).unwrap();
            symmetric(&c);
            let views: BTreeSet<BTreeSet<NodeName>> =
                all.iter().map(|x| sees(&c, &all, x)).collect();
            assert_eq!(views.len(), n, "no two nodes see the same set ({n} nodes)");
            for x in &all {
                let v = sees(&c, &all, x);
                assert!(v.len() * 2 > n, "{x} sees {v:?}: a majority of {n}");
                assert!(v.len() < n, "{x} is cut from someone");
            }
        }
        let e = cuts(Shape::Ring, &nodes(3), None, 1)
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 5 nodes") && e.contains("has 3"), "{e}");
    }

    #[test]
    fn halves_bridge_and_leader_cut_what_they_say() {
        let all = nodes(5);
        let c = cuts(Shape::Halves, &all, None, 7).unwrap();
        symmetric(&c);
        let sizes: BTreeSet<usize> = all.iter().map(|x| sees(&c, &all, x).len()).collect();
        assert_eq!(sizes, BTreeSet::from([2, 3]));

        let c = cuts(Shape::Bridge, &all, None, 7).unwrap();
        symmetric(&c);
        let bridge: Vec<&NodeName> = all
            .iter()
            .filter(|x| !c.cut_from.contains_key(*x))
            .collect();
        assert_eq!(bridge.len(), 1, "one node is cut from nobody: {c:?}");
        assert!(
            c.detail.ends_with(&format!("joined by {}", bridge[0])),
            "{}",
            c.detail
        );
        for x in all.iter().filter(|x| *x != bridge[0]) {
            assert_eq!(
                sees(&c, &all, x).len(),
                3,
                "{x}: its half of two and the bridge"
            );
        }

        let c = cuts(Shape::Leader, &all, Some("n4"), 7).unwrap();
        symmetric(&c);
        let side = sees(&c, &all, "n4");
        assert_eq!(side.len(), 2, "the leader's side is a minority: {side:?}");
        let c3 = cuts(Shape::Leader, &nodes(3), Some("n2"), 7).unwrap();
        assert_eq!(c3.cut_from["n2"], vec!["n1".to_string(), "n3".to_string()]);
        assert!(cuts(Shape::Leader, &all, None, 7).is_err());
    }

    #[test]
    fn the_same_seed_cuts_the_same_pairs() {
        let all = nodes(7);
        for shape in Shape::ALL {
            let a = cuts(shape, &all, Some("n3"), 99).unwrap();
            assert_eq!(a, cuts(shape, &all, Some("n3"), 99).unwrap(), "{shape}");
        }
        let differ = (0..20)
            .map(|s| cuts(Shape::Halves, &all, None, s).unwrap().detail)
            .collect::<BTreeSet<_>>();
        assert!(differ.len() > 1, "seeds choose");
        assert!("square".parse::<Shape>().is_err());
    }
}
