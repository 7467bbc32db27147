//! The tunnel graph: which hosts get a tunnel to which, and what follows from its
//! shape: connectivity, cycles, the loop protection to apply, single points of failure
//! and the diameter. Works on the validated model and returns problems as data; the
//! loader places them in the file. Costs stay near O(hosts + tunnels): mesh, chain and
//! star are answered from their shape, only `custom` graphs are searched.

use super::analysis::{Analysis, Protection};
use super::diag::Problem;
use super::model::{LoopProtection, Shape, Topology};
use super::validate::overlay_mtu;
use petgraph::graph::{NodeIndex, UnGraph};
use std::collections::VecDeque;

/// Diameters above this many hops get a warning.
pub const DIAMETER_LIMIT: usize = 8;

/// Undirected tunnel edges (lower host index first, sorted) of a validated topology.
pub fn edges(topology: &Topology) -> Vec<(usize, usize)> {
    let n = topology.hosts.len();
    let index = |name: &str| topology.hosts.iter().position(|h| h.name == name);
    let mut edges: Vec<(usize, usize)> = match &topology.tunnel.shape {
        Shape::Mesh => (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .collect(),
        Shape::Chain => (1..n).map(|i| (i - 1, i)).collect(),
        Shape::Star { hub } => match index(hub) {
            Some(h) => (0..n)
                .filter(|&i| i != h)
                .map(|i| (i.min(h), i.max(h)))
                .collect(),
            None => Vec::new(),
        },
        Shape::Custom { links } => {
            let by_name: std::collections::HashMap<&str, usize> = topology
                .hosts
                .iter()
                .enumerate()
                .map(|(i, h)| (h.name.as_str(), i))
                .collect();
            links
                .iter()
                .filter_map(|(a, b)| Some((*by_name.get(a.as_str())?, *by_name.get(b.as_str())?)))
                .map(|(a, b)| (a.min(b), a.max(b)))
                .collect()
        }
    };
    edges.sort_unstable();
    edges.dedup();
    edges
}

fn adjacency(n: usize, edges: &[(usize, usize)]) -> Vec<Vec<usize>> {
    let mut adj = vec![Vec::new(); n];
    for &(a, b) in edges {
        adj[a].push(b);
        adj[b].push(a);
    }
    for list in &mut adj {
        list.sort_unstable();
    }
    adj
}

/// Analyses the tunnel graph of a topology whose hosts, shape and links are sound.
///
/// Returns the analysis and the problems found (errors and warnings). When an error is
/// among them the analysis is a best guess and must not be used.
pub fn analyze(topology: &Topology) -> (Analysis, Vec<Problem>) {
    let n = topology.hosts.len();
    let edges = edges(topology);
    let adjacency = adjacency(n, &edges);
    let complete = edges.len() == n * n.saturating_sub(1) / 2;
    let mut problems = Vec::new();
    let unreached = unreached(&adjacency);
    let connected = unreached.is_empty();
    if !connected {
        problems.push(Problem::Disconnected {
            from: topology.hosts[0].name.clone(),
            unreached: unreached
                .iter()
                .map(|&i| topology.hosts[i].name.clone())
                .collect(),
        });
    }
    let components = if connected { 1 } else { components(&adjacency) };
    let cyclic = edges.len() + components > n;
    let names = |list: Vec<usize>| -> Vec<String> {
        list.into_iter()
            .map(|i| topology.hosts[i].name.clone())
            .collect()
    };
    let (articulation_points, diameter) = if connected {
        (
            names(articulation(topology, &edges, n)),
            diameter(topology, &adjacency, cyclic),
        )
    } else {
        (Vec::new(), 0)
    };
    if !articulation_points.is_empty() && !matches!(topology.tunnel.shape, Shape::Mesh) {
        problems.push(Problem::SinglePointsOfFailure {
            hosts: articulation_points.clone(),
        });
    }
    if diameter > DIAMETER_LIMIT {
        problems.push(Problem::LargeDiameter {
            diameter,
            limit: DIAMETER_LIMIT,
        });
    }
    let graph = Facts {
        topology,
        adjacency: &adjacency,
        complete,
        cyclic,
    };
    let (protection, protection_reason) = protection(&graph, &mut problems);
    let analysis = Analysis {
        edges,
        protection,
        protection_reason,
        overlay_mtu: u32::try_from(overlay_mtu(topology)).unwrap_or(0),
        cyclic,
        articulation_points,
        diameter,
        complete,
        adjacency,
    };
    (analysis, problems)
}

/// Hosts not reachable from host 0 (breadth-first search).
fn unreached(adj: &[Vec<usize>]) -> Vec<usize> {
    if adj.is_empty() {
        return Vec::new();
    }
    let dist = distances(adj, 0);
    (0..adj.len()).filter(|&i| dist[i] == usize::MAX).collect()
}

/// Number of connected components.
fn components(adj: &[Vec<usize>]) -> usize {
    let mut seen = vec![false; adj.len()];
    let mut count = 0;
    for start in 0..adj.len() {
        if seen[start] {
            continue;
        }
        count += 1;
        seen[start] = true;
        let mut stack = vec![start];
        while let Some(v) = stack.pop() {
            for &w in &adj[v] {
                if !seen[w] {
                    seen[w] = true;
                    stack.push(w);
                }
            }
        }
    }
    count
}

/// Hop counts from `from` (usize::MAX where unreachable).
fn distances(adj: &[Vec<usize>], from: usize) -> Vec<usize> {
    let mut dist = vec![usize::MAX; adj.len()];
    let mut queue = VecDeque::from([from]);
    dist[from] = 0;
    while let Some(v) = queue.pop_front() {
        for &w in &adj[v] {
            if dist[w] == usize::MAX {
                dist[w] = dist[v] + 1;
                queue.push_back(w);
            }
        }
    }
    dist
}

/// Articulation points in file order: from the shape when it is regular, else searched.
fn articulation(topology: &Topology, edges: &[(usize, usize)], n: usize) -> Vec<usize> {
    match &topology.tunnel.shape {
        Shape::Mesh => Vec::new(),
        Shape::Chain => (1..n.saturating_sub(1)).collect(),
        Shape::Star { hub } if n >= 3 => topology
            .hosts
            .iter()
            .position(|h| &h.name == hub)
            .into_iter()
            .collect(),
        Shape::Star { .. } => Vec::new(),
        Shape::Custom { .. } => {
            let mut graph = UnGraph::<(), ()>::with_capacity(n, edges.len());
            for _ in 0..n {
                graph.add_node(());
            }
            for &(a, b) in edges {
                graph.add_edge(NodeIndex::new(a), NodeIndex::new(b), ());
            }
            let mut points: Vec<usize> =
                petgraph::algo::articulation_points::articulation_points(&graph)
                    .into_iter()
                    .map(|i| i.index())
                    .collect();
            points.sort_unstable();
            points
        }
    }
}

/// The longest shortest path of a connected graph.
fn diameter(topology: &Topology, adj: &[Vec<usize>], cyclic: bool) -> usize {
    let n = adj.len();
    let far = |d: &[usize]| {
        d.iter()
            .enumerate()
            .max_by_key(|(_, d)| **d)
            .map_or((0, 0), |(i, d)| (i, *d))
    };
    match &topology.tunnel.shape {
        Shape::Mesh => usize::from(n > 1),
        Shape::Chain => n.saturating_sub(1),
        Shape::Star { .. } => n.saturating_sub(1).min(2),
        // A tree's diameter is two searches: the farthest node from anywhere is an end.
        Shape::Custom { .. } if !cyclic => {
            let (end, _) = far(&distances(adj, 0));
            far(&distances(adj, end)).1
        }
        Shape::Custom { .. } => (0..n).map(|v| far(&distances(adj, v)).1).max().unwrap_or(0),
    }
}

struct Facts<'a> {
    topology: &'a Topology,
    adjacency: &'a [Vec<usize>],
    complete: bool,
    cyclic: bool,
}

/// The protection to apply and why; pushes an error when the request cannot be met.
fn protection(g: &Facts, problems: &mut Vec<Problem>) -> (Protection, String) {
    let name = |i: usize| g.topology.hosts[i].name.clone();
    match g.topology.tunnel.loop_protection {
        LoopProtection::Rstp => (
            Protection::Rstp,
            "`loop_protection: rstp` asked for spanning tree on the overlay bridge".into(),
        ),
        LoopProtection::None => {
            if g.cyclic {
                problems.push(Problem::UnprotectedCycle);
            }
            (
                Protection::None,
                "`loop_protection: none` asked for no protection".into(),
            )
        }
        LoopProtection::Protected | LoopProtection::Auto if g.cyclic && g.complete => (
            Protection::SplitHorizon,
            "the tunnel graph is a full mesh: every host has its own tunnel to every other, so no host needs to \
             relay and split horizon stops loops without blocking any path"
                .into(),
        ),
        LoopProtection::Protected if g.complete => (
            Protection::SplitHorizon,
            "`loop_protection: protected` asked for split horizon".into(),
        ),
        LoopProtection::Protected => {
            // A connected graph that is not complete always has a relay; a disconnected
            // one made of full meshes has none, and is already refused as disconnected.
            if let Some((relay, a, b)) = relay_triple(g.adjacency) {
                problems.push(Problem::ProtectedNeedsMesh {
                    relay: name(relay),
                    a: name(a),
                    b: name(b),
                });
            }
            (Protection::SplitHorizon, String::new())
        }
        LoopProtection::Auto if !g.cyclic => (
            Protection::None,
            "the tunnel graph is a tree: no loop can form".into(),
        ),
        LoopProtection::Auto => {
            let cycle = find_cycle(g.adjacency).into_iter().map(name).collect();
            problems.push(Problem::CycleNeedsRstp { cycle });
            (Protection::Rstp, String::new())
        }
    }
}

/// A host with two neighbours that are not linked to each other: it would have to relay.
fn relay_triple(adj: &[Vec<usize>]) -> Option<(usize, usize, usize)> {
    for (v, around) in adj.iter().enumerate() {
        for (i, &a) in around.iter().enumerate() {
            for &b in &around[i + 1..] {
                if adj[a].binary_search(&b).is_err() {
                    return Some((v, a, b));
                }
            }
        }
    }
    None
}

/// One cycle of a graph (empty when acyclic), found by depth-first search: the first
/// edge back to an ancestor closes it.
fn find_cycle(adj: &[Vec<usize>]) -> Vec<usize> {
    let n = adj.len();
    let mut parent = vec![usize::MAX; n];
    let mut seen = vec![false; n];
    for root in 0..n {
        if seen[root] {
            continue;
        }
        seen[root] = true;
        let mut stack = vec![(root, 0usize)];
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            let Some(&w) = adj[v].get(*next) else {
                stack.pop();
                continue;
            };
            *next += 1;
            if w == parent[v] {
                continue;
            }
            if seen[w] {
                if stack.iter().any(|&(u, _)| u == w) {
                    let mut cycle = vec![v];
                    let mut u = v;
                    while u != w {
                        u = parent[u];
                        cycle.push(u);
                    }
                    cycle.reverse();
                    return cycle;
                }
                continue;
            }
            seen[w] = true;
            parent[w] = v;
            stack.push((w, 0));
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycle_of_a_ring_is_the_ring() {
        let adj = adjacency(4, &[(0, 1), (1, 2), (2, 3), (0, 3)]);
        let cycle = find_cycle(&adj);
        assert_eq!(cycle.len(), 4, "{cycle:?}");
        assert_eq!(cycle[0], 0);
    }

    #[test]
    fn trees_have_no_cycle() {
        let adj = adjacency(4, &[(0, 1), (1, 2), (1, 3)]);
        assert!(find_cycle(&adj).is_empty());
    }

    #[test]
    fn relay_is_found_in_a_chain() {
        let adj = adjacency(3, &[(0, 1), (1, 2)]);
        assert_eq!(relay_triple(&adj), Some((1, 0, 2)));
        let mesh = adjacency(3, &[(0, 1), (1, 2), (0, 2)]);
        assert_eq!(relay_triple(&mesh), None);
    }

    #[test]
    fn distances_count_hops() {
        let adj = adjacency(4, &[(0, 1), (1, 2), (2, 3)]);
        assert_eq!(distances(&adj, 0), [0, 1, 2, 3]);
    }
}
