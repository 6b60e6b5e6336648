//! The dependency graph of a list-append history and the search for its cycles: strongly
//! connected components (`petgraph`'s Kosaraju, whose depth-first searches keep their own
//! stack: its Tarjan recurses, and overflowed a 2 MiB thread stack on a real-time chain of a few
//! thousand transactions), then the shortest cycle of each kind inside one.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use super::model::{Anomaly, Edge, Element, Key, Kind, Order, Outcome, Step, Txn};

const DATA: u8 = 1 | 2; // ww, wr
const RW: u8 = 4;
const PROCESS: u8 = 8;
const REALTIME: u8 = 16;

/// A transaction in no component.
const NONE: u32 = u32::MAX;

/// What a data edge is about: its key and element.
type Why = (Option<Key>, Option<Element>);

/// One edge as it was added, before the graph is frozen.
#[derive(Clone, Copy)]
struct Raw {
    from: u32,
    to: u32,
    edge: Edge,
    why: Why,
}

/// The dependency graph over transactions `0..n`. Edges are collected as they are added; then
/// [`Graph::freeze`] sorts them into one adjacency array (each ordered pair once, with all its
/// kinds as bits) and keeps, for each pair and kind, why (its key and element; the first added
/// wins). Dense arrays throughout, since the transactions are numbered already: building the
/// graph this way took a fifth of the time of a hashed graph map on 200,000 transactions.
pub(super) struct Graph {
    n: usize,
    raw: Vec<Raw>,
    /// Per transaction, where its out-edges start in `out` (`n + 1` entries).
    start: Vec<u32>,
    /// Out-edges, by source then target: (target, kinds).
    out: Vec<(u32, u8)>,
    /// Why, sorted by (from, to, kind).
    why: Vec<(u32, u32, Edge, Why)>,
}

impl Graph {
    /// An empty graph over `n` transactions.
    pub(super) fn new(n: usize) -> Graph {
        Graph {
            n,
            raw: Vec::new(),
            start: vec![0; n + 1],
            out: Vec::new(),
            why: Vec::new(),
        }
    }

    pub(super) fn add(
        &mut self,
        from: usize,
        to: usize,
        edge: Edge,
        key: Option<Key>,
        element: Option<Element>,
    ) {
        if from == to {
            return;
        }
        self.raw.push(Raw {
            from: from as u32,
            to: to as u32,
            edge,
            why: (key, element),
        });
    }

    /// Sort the edges added into the adjacency array; call once, after the last [`Graph::add`].
    pub(super) fn freeze(&mut self) {
        let mut raw = std::mem::take(&mut self.raw);
        // A stable sort: the first edge added of a (from, to, kind) keeps its why.
        raw.sort_by_key(|r| (r.from, r.to, r.edge));
        let mut count = vec![0u32; self.n + 1];
        let mut prev: Option<(u32, u32)> = None;
        self.out = Vec::with_capacity(raw.len());
        self.why = Vec::with_capacity(raw.len());
        for r in &raw {
            if self.why.last().map(|w| (w.0, w.1, w.2)) != Some((r.from, r.to, r.edge)) {
                self.why.push((r.from, r.to, r.edge, r.why));
            }
            match self.out.last_mut() {
                Some(last) if prev == Some((r.from, r.to)) => last.1 |= r.edge.bit(),
                _ => {
                    self.out.push((r.to, r.edge.bit()));
                    count[r.from as usize + 1] += 1;
                    prev = Some((r.from, r.to));
                }
            }
        }
        for i in 0..self.n {
            count[i + 1] += count[i];
        }
        self.start = count;
    }

    /// The out-edges of `n`: (target, kinds), by target.
    fn neighbors(&self, n: usize) -> &[(u32, u8)] {
        &self.out[self.start[n] as usize..self.start[n + 1] as usize]
    }

    /// Every edge: (from, to, kinds).
    fn all_edges(&self) -> impl Iterator<Item = (usize, usize, u8)> + '_ {
        (0..self.n).flat_map(move |a| {
            self.neighbors(a)
                .iter()
                .map(move |&(b, w)| (a, b as usize, w))
        })
    }

    /// The kinds of the edge from `from` to `to` (0: none).
    fn bits(&self, from: usize, to: usize) -> u8 {
        let ns = self.neighbors(from);
        ns.binary_search_by_key(&(to as u32), |e| e.0)
            .map_or(0, |i| ns[i].1)
    }

    /// The subgraph of the edges with any of `mask`'s kinds whose ends `keep` accepts, over
    /// every transaction.
    fn only(&self, mask: u8, keep: &dyn Fn(usize, usize) -> bool) -> DiGraph<(), ()> {
        let mut g = DiGraph::with_capacity(self.n, 0);
        for _ in 0..self.n {
            g.add_node(());
        }
        for (a, b, w) in self.all_edges() {
            if w & mask != 0 && keep(a, b) {
                g.add_edge(NodeIndex::new(a), NodeIndex::new(b), ());
            }
        }
        g
    }

    fn step(&self, from: usize, to: usize, mask: u8) -> Step {
        let bits = self.bits(from, to) & mask;
        // The most telling kind first: data before order edges, rw last (it is the weakest tie).
        let edge = [Edge::Wr, Edge::Ww, Edge::Process, Edge::Realtime, Edge::Rw]
            .into_iter()
            .find(|e| bits & e.bit() != 0)
            .unwrap_or(Edge::Rw);
        let (key, element) = self
            .why
            .binary_search_by_key(&(from as u32, to as u32, edge), |w| (w.0, w.1, w.2))
            .map_or((None, None), |i| self.why[i].3);
        Step {
            from,
            to,
            edge,
            key,
            element,
        }
    }
}

/// Real-time edges: T1 before T2 when T1 completed before T2 was invoked, as a reduction. A
/// sweep over invocations and completions keeps the completed transactions no later completion
/// has followed yet; each invocation links from those, so every real-time pair is joined by a
/// path, and each transaction gets at most as many edges as transactions ran beside it.
pub(super) fn realtime_edges(
    history: &[Txn],
    took_effect: &dyn Fn(usize) -> bool,
    graph: &mut Graph,
) {
    // (time, 0 = invocation before 1 = completion at the same time, txn): a completion and an
    // invocation at one instant are concurrent, not ordered.
    let mut events: Vec<(u64, u8, usize)> = Vec::new();
    for (t, txn) in history.iter().enumerate().filter(|(t, _)| took_effect(*t)) {
        events.push((txn.invoked, 0, t));
        if let Some(c) = txn.completed.filter(|_| txn.outcome == Outcome::Ok) {
            events.push((c, 1, t));
        }
    }
    events.sort();
    let mut frontier: BTreeSet<usize> = BTreeSet::new();
    let mut preds: HashMap<usize, Vec<usize>> = HashMap::new();
    for (_, what, t) in events {
        if what == 0 {
            let p: Vec<usize> = frontier.iter().copied().collect();
            for &f in &p {
                graph.add(f, t, Edge::Realtime, None, None);
            }
            preds.insert(t, p);
        } else {
            for p in preds.remove(&t).unwrap_or_default() {
                frontier.remove(&p);
            }
            frontier.insert(t);
        }
    }
}

/// Every kind of cycle, once per component: searched with the data edges alone, then with
/// process order, then with real time, each kind reported at the first level that has it (a kind
/// found at a lower level is not reported again for the same transactions).
pub(super) fn cycles(graph: &Graph) -> Vec<Anomaly> {
    let mut out = Vec::new();
    // Per kind, the transactions of the components a lower level found it in.
    let mut covered: HashMap<Kind, HashSet<usize>> = HashMap::new();
    for (order, extra) in [
        (Order::Data, 0),
        (Order::Process, PROCESS),
        (Order::Realtime, PROCESS | REALTIME),
    ] {
        let all = components(graph, DATA | RW | extra, &|_, _| true);
        if all.iter().all(|c| *c == NONE) {
            continue;
        }
        let level = Level::new(graph, order, extra, all);
        // The edges inside each component of the whole graph, and its members.
        let mut inside: BTreeMap<u32, Vec<(usize, usize, u8)>> = BTreeMap::new();
        for (a, b, w) in graph.all_edges() {
            let w = w & (DATA | RW | extra);
            if w != 0 && same(&level.all, a, b) {
                inside.entry(level.all[a]).or_default().push((a, b, w));
            }
        }
        let mut members: HashMap<u32, Vec<usize>> = HashMap::new();
        for (n, c) in level.all.iter().enumerate().filter(|(_, c)| **c != NONE) {
            members.entry(*c).or_default().push(n);
        }
        let mut found: Vec<(Kind, u32)> = Vec::new();
        for (c, edges) in &inside {
            let size = members.get(c).map_or(0, Vec::len);
            for a in level.cycles_in(*c, size, edges) {
                let lower = covered
                    .get(&a.kind)
                    .is_some_and(|s| a.txns.iter().any(|t| s.contains(t)));
                if !lower {
                    found.push((a.kind, *c));
                    out.push(a);
                }
            }
        }
        for (kind, c) in found {
            covered
                .entry(kind)
                .or_default()
                .extend(members.get(&c).into_iter().flatten().copied());
        }
    }
    out
}

/// Whether `a` and `b` are in one component of `of`.
fn same(of: &[u32], a: usize, b: usize) -> bool {
    of[a] != NONE && of[a] == of[b]
}

/// The strongly connected components (of two nodes or more) of the subgraph of `mask`'s edges
/// whose ends `keep` accepts: each transaction's component, [`NONE`] for none.
fn components(graph: &Graph, mask: u8, keep: &dyn Fn(usize, usize) -> bool) -> Vec<u32> {
    let sub = graph.only(mask, keep);
    let mut of = vec![NONE; graph.n];
    for (i, c) in kosaraju_scc(&sub).into_iter().enumerate() {
        if c.len() > 1 {
            for n in c {
                of[n.index()] = i as u32;
            }
        }
    }
    of
}

/// At most this many transactions per transaction of a component are visited looking for its
/// G-single, and as many for its G-nonadjacent (and [`BUDGET_FLOOR`] more), so the search stays
/// linear in the history: past it, a component that has one may be reported as the next kind
/// (G-nonadjacent, G2-item), which rules out fewer models, never more.
const BUDGET_PER_TXN: usize = 64;

/// The budget of the smallest components.
const BUDGET_FLOOR: usize = 10_000;

/// One level of the search: the order edges it allows, and the components of the graphs it
/// looks in, computed once for every component. Every cycle lies inside one component of the
/// whole graph, so the smaller graphs are made of the edges inside those alone.
struct Level<'a> {
    graph: &'a Graph,
    order: Order,
    extra: u8,
    /// Components of the whole graph.
    all: Vec<u32>,
    /// Of the `ww` (and order) edges.
    ww: Vec<u32>,
    /// Of the `ww`, `wr` (and order) edges.
    wwr: Vec<u32>,
    /// The graph of states (transaction, whether the edge into it was rw): state
    /// `2 * txn + 1` was entered by an rw edge.
    states: DiGraph<(), ()>,
    /// Its components.
    state_of: Vec<u32>,
}

impl<'a> Level<'a> {
    fn new(graph: &'a Graph, order: Order, extra: u8, all: Vec<u32>) -> Level<'a> {
        let wwr = DATA | extra;
        let within = |a: usize, b: usize| same(&all, a, b);
        let mut states: DiGraph<(), ()> = DiGraph::with_capacity(2 * graph.n, 0);
        for _ in 0..2 * graph.n {
            states.add_node(());
        }
        for (a, b, w) in graph.all_edges().filter(|(a, b, _)| within(*a, *b)) {
            let s = |x: usize| NodeIndex::new(x);
            if w & wwr != 0 {
                states.add_edge(s(2 * a), s(2 * b), ());
                states.add_edge(s(2 * a + 1), s(2 * b), ());
            }
            if w & RW != 0 {
                states.add_edge(s(2 * a), s(2 * b + 1), ());
            }
        }
        let mut state_of = vec![NONE; 2 * graph.n];
        for (i, c) in kosaraju_scc(&states).into_iter().enumerate() {
            if c.len() > 1 {
                for s in c {
                    state_of[s.index()] = i as u32;
                }
            }
        }
        Level {
            graph,
            order,
            extra,
            ww: components(graph, Edge::Ww.bit() | extra, &within),
            wwr: components(graph, wwr, &within),
            all,
            states,
            state_of,
        }
    }

    /// The cycles of component `c` (whose inner edges are `edges`, of `size` transactions), each
    /// kind at most once.
    fn cycles_in(&self, c: u32, size: usize, edges: &[(usize, usize, u8)]) -> Vec<Anomaly> {
        let budget_of = || BUDGET_FLOOR + BUDGET_PER_TXN * size;
        let mut out = Vec::new();
        let ww = Edge::Ww.bit() | self.extra;
        let wwr = DATA | self.extra;
        let full = DATA | RW | self.extra;
        let inside = |n: usize| self.all[n] == c;
        // G0: ww (and order) edges alone.
        if let Some(&(a, b, _)) = edges
            .iter()
            .find(|(a, b, w)| w & Edge::Ww.bit() != 0 && same(&self.ww, *a, *b))
        {
            out.push(self.cycle(Kind::G0, (a, b, ww), ww, &inside));
        }
        // G1c: ww and wr, at least one wr.
        if let Some(&(a, b, _)) = edges
            .iter()
            .find(|(a, b, w)| w & Edge::Wr.bit() != 0 && same(&self.wwr, *a, *b))
        {
            out.push(self.cycle(Kind::G1c, (a, b, Edge::Wr.bit()), wwr, &inside));
        }
        let rws: Vec<(usize, usize)> = edges
            .iter()
            .filter(|(_, _, w)| w & RW != 0)
            .map(|(a, b, _)| (*a, *b))
            .collect();
        // G-single: one rw edge closed by a path without rw (the rw edge is not in that graph,
        // so its ends need not share a component of it: a path is looked for).
        let mut budget = budget_of();
        for &(a, b) in &rws {
            if let Some(path) = shortest_path(self.graph, &inside, (b, a), wwr, &mut budget) {
                out.push(self.closed(Kind::GSingle, (a, b, RW), &path, wwr));
                return out;
            }
            if budget == 0 {
                break;
            }
        }
        // G-nonadjacent: several rw edges, never two in a row.
        if let Some(g) = self.nonadjacent(&rws, budget_of()) {
            out.push(g);
            return out;
        }
        // G2-item: any other cycle through an rw edge (every rw edge inside the component is on
        // one).
        if let Some(&(a, b)) = rws.first() {
            out.push(self.cycle(Kind::G2Item, (a, b, RW), full, &inside));
        }
        out
    }

    /// The cycle through edge `first` (from, to, the kinds it may be), whose end shares a
    /// component of the graph of `mask`'s edges with its start, closed by the shortest path
    /// back there.
    fn cycle(
        &self,
        kind: Kind,
        first: (usize, usize, u8),
        mask: u8,
        inside: &dyn Fn(usize) -> bool,
    ) -> Anomaly {
        let mut budget = usize::MAX;
        let path = shortest_path(self.graph, inside, (first.1, first.0), mask, &mut budget);
        self.closed(kind, first, &path.unwrap_or_default(), mask)
    }

    /// The cycle of edge `first` and `path` back from its end to its start.
    fn closed(&self, kind: Kind, first: (usize, usize, u8), path: &[usize], mask: u8) -> Anomaly {
        let mut steps = vec![self.graph.step(first.0, first.1, first.2)];
        for pair in path.windows(2) {
            steps.push(self.graph.step(pair[0], pair[1], mask));
        }
        named(kind, self.order, steps)
    }

    /// A cycle with two or more rw edges, no two of them in a row (the last and the first
    /// included): a cycle of the graph of states through one of `rws` that meets two of them.
    fn nonadjacent(&self, rws: &[(usize, usize)], mut budget: usize) -> Option<Anomaly> {
        let wwr = DATA | self.extra;
        for &(a, b) in rws {
            let (sa, sb) = (2 * a, 2 * b + 1);
            let c = self.state_of[sa];
            if c == NONE || self.state_of[sb] != c {
                continue;
            }
            // The shortest way back from b (entered by rw) to a (not entered by rw).
            let mut prev: HashMap<usize, usize> = HashMap::new();
            let mut queue = VecDeque::from([sb]);
            let mut seen = HashSet::from([sb]);
            while let Some(s) = queue.pop_front() {
                if s == sa || budget == 0 {
                    break;
                }
                budget -= 1;
                for n in self.states.neighbors(NodeIndex::new(s)).map(|n| n.index()) {
                    if self.state_of[n] == c && seen.insert(n) {
                        prev.insert(n, s);
                        queue.push_back(n);
                    }
                }
            }
            if !prev.contains_key(&sa) {
                if budget == 0 {
                    return None;
                }
                continue;
            }
            let mut path = vec![sa];
            let mut at = sa;
            while at != sb {
                at = prev[&at];
                path.push(at);
            }
            path.reverse();
            let mut steps = vec![self.graph.step(a, b, RW)];
            for pair in path.windows(2) {
                let kind = if pair[1] % 2 == 1 { RW } else { wwr };
                steps.push(self.graph.step(pair[0] / 2, pair[1] / 2, kind));
            }
            if steps.iter().filter(|s| s.edge == Edge::Rw).count() >= 2 {
                let order = if steps.iter().any(|s| s.edge == Edge::Realtime) {
                    Order::Realtime
                } else if steps.iter().any(|s| s.edge == Edge::Process) {
                    Order::Process
                } else {
                    Order::Data
                };
                return Some(named(Kind::GNonadjacent, order, steps));
            }
        }
        None
    }
}

fn named(kind: Kind, order: Order, steps: Vec<Step>) -> Anomaly {
    let txns: Vec<usize> = steps.iter().map(|s| s.from).collect();
    let name = match order {
        Order::Data => kind.name().to_string(),
        Order::Process => format!("{}-process", kind.name()),
        Order::Realtime => format!("{}-realtime", kind.name()),
    };
    let mut explanation: Vec<String> = steps.iter().map(explain).collect();
    let chain = txns
        .iter()
        .chain(txns.first())
        .map(|t| format!("T{t}"))
        .collect::<Vec<_>>()
        .join(" < ");
    explanation.push(format!("so {chain}: a cycle"));
    Anomaly {
        kind,
        order,
        name,
        txns,
        cycle: steps,
        explanation: explanation.join("; "),
    }
}

/// One step of a cycle in words, as Elle gives them.
fn explain(s: &Step) -> String {
    let (a, b) = (s.from, s.to);
    let k = s.key.map(|k| k.to_string()).unwrap_or_default();
    match (s.edge, s.element) {
        (Edge::Ww, Some(e)) => {
            format!("T{a} < T{b}: T{b} appended {e} to key {k} right after T{a}'s append (ww)")
        }
        (Edge::Wr, Some(e)) => {
            format!("T{a} < T{b}: T{b} read key {k} and saw T{a}'s append of {e} last (wr)")
        }
        (Edge::Rw, Some(e)) => format!(
            "T{a} < T{b}: T{a} read key {k} without T{b}'s append of {e}, which came next (rw)"
        ),
        (Edge::Process, _) => format!("T{a} < T{b}: both ran on one process, T{a} first (process)"),
        (Edge::Realtime, _) => {
            format!("T{a} < T{b}: T{a} completed before T{b} was invoked (realtime)")
        }
        (e, None) => format!("T{a} < T{b} ({})", e.name()),
    }
}

/// The nodes of the shortest path between `ends` (from, to) over edges in `mask`, through the
/// nodes `inside` accepts, visiting at most `budget` nodes (what it visits is taken off).
fn shortest_path(
    graph: &Graph,
    inside: &dyn Fn(usize) -> bool,
    ends: (usize, usize),
    mask: u8,
    budget: &mut usize,
) -> Option<Vec<usize>> {
    let (from, to) = ends;
    let mut prev: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::from([from]);
    let mut seen = HashSet::from([from]);
    while let Some(n) = queue.pop_front() {
        if n == to {
            let mut path = vec![to];
            let mut at = to;
            while at != from {
                at = prev[&at];
                path.push(at);
            }
            path.reverse();
            return Some(path);
        }
        if *budget == 0 {
            return None;
        }
        *budget -= 1;
        for &(m, w) in graph.neighbors(n) {
            let m = m as usize;
            if w & mask != 0 && inside(m) && seen.insert(m) {
                prev.insert(m, n);
                queue.push_back(m);
            }
        }
    }
    None
}
