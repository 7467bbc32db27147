//! The plan header: cluster-wide facts derived from the validated topology.

use super::{Context, Mode};
use crate::topology::{Analysis, Protection, Topology};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;

/// The header facts for a plan of `topology` observed in `mode`.
pub fn context(
    topology: &Topology,
    analysis: &Analysis,
    mode: Mode,
    warnings: Vec<String>,
) -> Context {
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
        tunnels: TunnelPairs {
            names: topology.hosts.iter().map(|h| h.name.clone()).collect(),
            pairs: {
                let mut pairs = Vec::with_capacity(analysis.tunnels());
                analysis.graph.edges().for_each(|pair| pairs.push(pair));
                pairs
            },
        },
        warnings,
    }
}

/// The tunnel edges of a plan header as host-name pairs, each name held once: a
/// 1,000-host mesh has 499,500 pairs, and a pair of `String`s each was a million
/// allocations made and freed by every plan and `diff`.
///
/// Serialized as the list of pairs (`[["a", "b"], ...]`); equal when the pairs are.
#[derive(Clone, Debug, Default)]
pub struct TunnelPairs {
    /// The names the pairs refer to.
    names: Vec<String>,
    /// Indices into `names`, in edge order.
    pairs: Vec<(usize, usize)>,
}

impl TunnelPairs {
    /// How many pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Every name a pair may refer to.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The pairs in order, as indices into [`TunnelPairs::names`].
    pub fn indices(&self) -> &[(usize, usize)] {
        &self.pairs
    }

    /// The pairs in order, as names.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.pairs
            .iter()
            .map(|&(a, b)| (self.names[a].as_str(), self.names[b].as_str()))
    }
}

impl From<Vec<(String, String)>> for TunnelPairs {
    /// The pairs given, each distinct name kept once.
    fn from(list: Vec<(String, String)>) -> TunnelPairs {
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut names = Vec::new();
        let mut id = |name: String| {
            *index.entry(name).or_insert_with_key(|name| {
                names.push(name.clone());
                names.len() - 1
            })
        };
        let pairs = list.into_iter().map(|(a, b)| (id(a), id(b))).collect();
        TunnelPairs { names, pairs }
    }
}

impl PartialEq for TunnelPairs {
    fn eq(&self, other: &TunnelPairs) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for TunnelPairs {}

impl Serialize for TunnelPairs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for TunnelPairs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TunnelPairs, D::Error> {
        Vec::<(String, String)>::deserialize(deserializer).map(TunnelPairs::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|&(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn pairs_serialize_as_the_list_of_name_pairs_and_read_back_equal() {
        let given = list(&[("a", "b"), ("a", "c"), ("b", "c"), ("c", "a")]);
        let pairs = TunnelPairs::from(given.clone());
        assert_eq!(pairs.len(), 4);
        let json = serde_json::to_string(&pairs).expect("json");
        assert_eq!(json, serde_json::to_string(&given).expect("json"));
        let back: TunnelPairs = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, pairs);
        assert_ne!(back, TunnelPairs::from(list(&[("a", "b")])));
        assert!(TunnelPairs::default().is_empty());
    }
}
