//! The tunnel graph's analysis result: what loop protection the cluster gets and why,
//! the overlay MTU, and the warnings worth showing. Computed by `graph::analyze`.

use serde::{Serialize, Serializer};
use std::borrow::Cow;

/// The loop protection actually applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Protection {
    /// A tree: no loop can form.
    None,
    /// Split horizon: every tunnel port `protected=true`.
    SplitHorizon,
    /// RSTP on the overlay bridge.
    Rstp,
}

/// Facts about the tunnel graph that plans and `graph` report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Analysis {
    /// The tunnel graph; [`Analysis::edges`] lists its undirected edges.
    #[serde(rename = "edges")]
    pub graph: TunnelGraph,
    /// Protection chosen.
    pub protection: Protection,
    /// One sentence saying why that protection was chosen.
    pub protection_reason: String,
    /// Underlay MTU minus encapsulation overhead minus 4 (the inner VLAN tag).
    pub overlay_mtu: u32,
    /// Whether the graph has a cycle.
    pub cyclic: bool,
    /// Hosts whose loss disconnects the overlay (by name, file order).
    pub articulation_points: Vec<String>,
    /// Longest shortest path, in tunnel hops.
    pub diameter: usize,
    /// Whether every pair of hosts has its own tunnel.
    pub complete: bool,
}

/// Which hosts have a tunnel to which. A full mesh is kept in closed form: its
/// n(n-1)/2 edges are never built just to validate a file, only listed on demand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TunnelGraph {
    /// Every pair of these many hosts.
    Mesh(usize),
    /// Each host's neighbours (host indices, ascending), so per-host work is O(degree).
    Listed(Vec<Vec<usize>>),
}

impl Serialize for TunnelGraph {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.edges())
    }
}

impl TunnelGraph {
    /// Undirected edges as (host index, host index), lower index first, sorted.
    ///
    /// One concrete iterator type for both shapes (the other shape's half is empty), not
    /// a boxed one: a plan header lists all 499,500 pairs of a 1,000-host mesh, and a
    /// virtual call per pair was most of its cost.
    pub fn edges(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let (mesh, listed) = match self {
            TunnelGraph::Mesh(n) => (Some(*n), None),
            TunnelGraph::Listed(adj) => (None, Some(adj)),
        };
        let mesh = mesh
            .into_iter()
            .flat_map(|n| (0..n).flat_map(move |i| (i + 1..n).map(move |j| (i, j))));
        let listed = listed.into_iter().flat_map(|adj| {
            adj.iter().enumerate().flat_map(|(i, around)| {
                around.iter().filter(move |&&j| j > i).map(move |&j| (i, j))
            })
        });
        mesh.chain(listed)
    }

    /// Number of undirected edges.
    pub fn len(&self) -> usize {
        match self {
            TunnelGraph::Mesh(n) => n * n.saturating_sub(1) / 2,
            TunnelGraph::Listed(adj) => adj.iter().map(Vec::len).sum::<usize>() / 2,
        }
    }

    /// Whether there is no edge.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many neighbours host `index` has: `neighbours(index).len()`, in O(1).
    pub fn degree(&self, index: usize) -> usize {
        match self {
            TunnelGraph::Mesh(n) if index < *n => n - 1,
            TunnelGraph::Mesh(_) => 0,
            TunnelGraph::Listed(adj) => adj.get(index).map_or(0, Vec::len),
        }
    }

    /// The neighbours of host `index`, ascending (empty when out of range).
    pub fn neighbours(&self, index: usize) -> Cow<'_, [usize]> {
        match self {
            TunnelGraph::Mesh(n) if index < *n => {
                // Two ranges, so the vector is allocated once at its size and filled.
                Cow::Owned((0..index).chain(index + 1..*n).collect())
            }
            TunnelGraph::Mesh(_) => Cow::Borrowed(&[]),
            TunnelGraph::Listed(adj) => adj
                .get(index)
                .map_or(Cow::Borrowed(&[]), |v| Cow::Borrowed(v.as_slice())),
        }
    }
}

impl Analysis {
    /// The hosts host `index` has a tunnel to, ascending by file order.
    pub fn neighbours(&self, index: usize) -> Cow<'_, [usize]> {
        self.graph.neighbours(index)
    }

    /// How many hosts host `index` has a tunnel to, without listing them.
    pub fn degree(&self, index: usize) -> usize {
        self.graph.degree(index)
    }

    /// Number of tunnels (undirected edges).
    pub fn tunnels(&self) -> usize {
        self.graph.len()
    }

    /// Undirected tunnel edges as (host index, host index), lower index first, sorted.
    pub fn edges(&self) -> Vec<(usize, usize)> {
        self.graph.edges().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degree_and_neighbours_agree_on_meshes_and_listed_graphs() {
        let listed = TunnelGraph::Listed(vec![vec![1], vec![0, 2], vec![1], vec![]]);
        for graph in [
            TunnelGraph::Mesh(0),
            TunnelGraph::Mesh(1),
            TunnelGraph::Mesh(5),
            listed,
        ] {
            for index in 0..6 {
                let neighbours = graph.neighbours(index);
                assert_eq!(graph.degree(index), neighbours.len(), "{graph:?} {index}");
                assert!(!neighbours.contains(&index));
                assert!(neighbours.windows(2).all(|w| w[0] < w[1]));
            }
        }
        assert_eq!(&*TunnelGraph::Mesh(4).neighbours(2), &[0, 1, 3]);
    }

    #[test]
    fn edges_are_each_pair_once_lower_index_first_in_order() {
        let listed = TunnelGraph::Listed(vec![vec![1, 3], vec![0, 2], vec![1], vec![0]]);
        let mesh: Vec<_> = TunnelGraph::Mesh(4).edges().collect();
        assert_eq!(mesh, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]);
        assert_eq!(listed.edges().collect::<Vec<_>>(), [(0, 1), (0, 3), (1, 2)]);
        assert_eq!(TunnelGraph::Mesh(0).edges().count(), 0);
        for graph in [TunnelGraph::Mesh(5), listed] {
            assert_eq!(graph.edges().count(), graph.len(), "{graph:?}");
        }
    }
}
