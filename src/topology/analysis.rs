//! The tunnel graph's analysis result: what loop protection the cluster gets and why,
//! the overlay MTU, and the warnings worth showing. Computed by `graph::analyze`.

use serde::Serialize;

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
    /// Undirected tunnel edges as (host index, host index), lower index first, sorted.
    pub edges: Vec<(usize, usize)>,
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
    /// Each host's neighbours (host indices, ascending), so per-host work is O(degree).
    #[serde(skip)]
    pub adjacency: Vec<Vec<usize>>,
}

impl Analysis {
    /// The hosts host `index` has a tunnel to, ascending by file order.
    pub fn neighbours(&self, index: usize) -> &[usize] {
        self.adjacency.get(index).map_or(&[], Vec::as_slice)
    }

    /// Number of tunnels (undirected edges).
    pub fn tunnels(&self) -> usize {
        self.edges.len()
    }
}
