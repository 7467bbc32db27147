//! The plan header: cluster-wide facts derived from the validated topology.

use super::{Context, Mode};
use crate::topology::{Analysis, Protection, Topology};

/// The header facts for a plan of `topology` observed in `mode`.
pub fn context(
    topology: &Topology,
    analysis: &Analysis,
    mode: Mode,
    warnings: Vec<String>,
) -> Context {
    let host = |i: usize| topology.hosts[i].name.clone();
    Context {
        cluster: topology.cluster.clone(),
        topology_digest: topology.digest(),
        mode,
        shape: topology.tunnel.shape.word().to_string(),
        tunnel: topology.tunnel.kind.ovs_name().to_string(),
        protection: match analysis.protection {
            Protection::None => "none",
            Protection::SplitHorizon => "split_horizon",
            Protection::Rstp => "rstp",
        }
        .to_string(),
        protection_reason: analysis.protection_reason.clone(),
        overlay_mtu: analysis.overlay_mtu,
        tunnels: analysis
            .graph
            .edges()
            .map(|(a, b)| (host(a), host(b)))
            .collect(),
        warnings,
    }
}
