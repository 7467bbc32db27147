//! The validated topology: what the rest of ovsnet trusts after loading.
//!
//! Every value here has passed validation; nobody downstream checks again. Source
//! positions are kept only where a later stage may still need to point at the file
//! (`Span`), which is the loader's business, not this model's.

use ipnet::Ipv4Net;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::net::Ipv4Addr;

/// A whole cluster, validated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Topology {
    /// Cluster name, stamped on every owned object as `external_ids:ovsnet-cluster`.
    pub cluster: String,
    /// The overlay bridge every host gets.
    pub bridge: BridgeSpec,
    /// How hosts are joined.
    pub tunnel: TunnelSpec,
    /// Underlay MTU, for the overlay MTU budget.
    pub underlay_mtu: u32,
    /// VLANs in file order.
    pub vlans: Vec<Vlan>,
    /// Hosts in file order (order matters for `chain`).
    pub hosts: Vec<Host>,
}

/// The overlay bridge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BridgeSpec {
    /// Bridge name, at most 15 bytes.
    pub name: String,
    /// Kernel or userspace datapath.
    pub datapath: Datapath,
}

/// OVS datapath type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Datapath {
    /// The kernel datapath (`datapath_type=system`).
    System,
    /// The userspace datapath (`datapath_type=netdev`).
    Netdev,
}

impl Datapath {
    /// The value of `Bridge.datapath_type`.
    pub fn ovs_name(self) -> &'static str {
        match self {
            Datapath::System => "system",
            Datapath::Netdev => "netdev",
        }
    }
}

/// Tunnel settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TunnelSpec {
    /// Encapsulation.
    pub kind: TunnelKind,
    /// Which hosts are joined.
    pub shape: Shape,
    /// VNI or GRE key.
    pub key: Option<u32>,
    /// UDP destination port (vxlan and geneve only).
    pub dst_port: Option<u16>,
    /// What the operator asked for; the graph analysis decides what `auto` becomes.
    pub loop_protection: LoopProtection,
}

/// Encapsulation type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TunnelKind {
    /// VXLAN.
    Vxlan,
    /// GRE.
    Gre,
    /// Geneve.
    Geneve,
}

impl TunnelKind {
    /// The value of `Interface.type`.
    pub fn ovs_name(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vxlan",
            TunnelKind::Gre => "gre",
            TunnelKind::Geneve => "geneve",
        }
    }

    /// Prefix of derived tunnel port names.
    pub fn port_prefix(self) -> &'static str {
        match self {
            TunnelKind::Vxlan => "vx-",
            TunnelKind::Gre => "gre-",
            TunnelKind::Geneve => "gnv-",
        }
    }

    /// Encapsulation overhead over IPv4, in bytes.
    pub fn overhead(self, keyed: bool) -> u32 {
        match (self, keyed) {
            (TunnelKind::Vxlan | TunnelKind::Geneve, _) => 50,
            (TunnelKind::Gre, false) => 38,
            (TunnelKind::Gre, true) => 42,
        }
    }
}

/// How hosts are joined.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Shape {
    /// A tunnel between every pair.
    Mesh,
    /// Host i to host i+1 in file order.
    Chain,
    /// Every host to the hub.
    Star {
        /// The hub host's name.
        hub: String,
    },
    /// The listed undirected links, each as (host, host) in file order of the pair.
    Custom {
        /// The links.
        links: Vec<(String, String)>,
    },
}

impl Shape {
    /// The word used in the topology file.
    pub fn word(&self) -> &'static str {
        match self {
            Shape::Mesh => "mesh",
            Shape::Chain => "chain",
            Shape::Star { .. } => "star",
            Shape::Custom { .. } => "custom",
        }
    }
}

/// Loop protection as written in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoopProtection {
    /// Let the graph analysis decide.
    Auto,
    /// Split horizon: `Port.protected=true` on every tunnel port.
    Protected,
    /// Rapid spanning tree on the overlay bridge.
    Rstp,
    /// Nothing (the operator accepts the risk).
    None,
}

/// A VLAN.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Vlan {
    /// Name referenced by `hosts[].ranges`.
    pub name: String,
    /// 802.1Q id, 1..=4094.
    pub id: u16,
    /// The VLAN's subnet.
    pub subnet: Ipv4Net,
    /// Optional gateway inside the subnet and outside every range.
    pub gateway: Option<Ipv4Addr>,
    /// Every host answers DHCP for its own range (needs `gateway`). Left out of the
    /// serialization when false, so topologies without it keep their digest.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dhcp: bool,
    /// Containers reach the outside through their own host, masqueraded to its underlay
    /// address (needs `gateway`). Left out of the serialization when false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub nat: bool,
}

/// A host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Host {
    /// Unique name; used in tunnel port names and `ovsnet-peer` marks.
    pub name: String,
    /// The address peers use as `remote_ip`.
    pub underlay_ip: Ipv4Addr,
    /// OVSDB endpoint (`unix:PATH`, `tcp:IP:PORT`, `ssl:IP:PORT`), parsed at validation.
    pub ovsdb: crate::ovsdb::Endpoint,
    /// This host's share of each VLAN, by VLAN name.
    pub ranges: Ranges,
}

/// A host's range of each VLAN, by VLAN name, sorted by name: what a
/// `BTreeMap<String, Ipv4Net>` would hold, in a sorted `Vec`. A host has one or two
/// ranges, and one B-tree leaf (about 380 bytes) per host was most of what a
/// 240,000-host model cost; this is one small allocation. Lookups are a binary search.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Ranges(Vec<(String, Ipv4Net)>);

impl Ranges {
    /// No ranges yet, with room for `n`.
    pub fn with_capacity(n: usize) -> Self {
        Ranges(Vec::with_capacity(n))
    }

    /// The range of VLAN `vlan`, if the host has one.
    pub fn get(&self, vlan: &str) -> Option<&Ipv4Net> {
        self.find(vlan).ok().map(|i| &self.0[i].1)
    }

    /// Sets the range of VLAN `vlan`, replacing any it had (as a map's insert does).
    pub fn insert(&mut self, vlan: String, range: Ipv4Net) {
        match self.find(&vlan) {
            Ok(i) => self.0[i].1 = range,
            Err(i) => self.0.insert(i, (vlan, range)),
        }
    }

    /// Each VLAN name and range, by VLAN name.
    pub fn iter(&self) -> RangesIter<'_> {
        RangesIter(self.0.iter())
    }

    /// How many VLANs the host has a range in.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the host has no range at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Gives back spare capacity (the validator reserves one slot per range written).
    pub fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }

    fn find(&self, vlan: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(name, _)| name.as_str().cmp(vlan))
    }
}

/// The iterator of [`Ranges::iter`]: (VLAN name, range) pairs, by VLAN name.
#[derive(Clone, Debug)]
pub struct RangesIter<'a>(std::slice::Iter<'a, (String, Ipv4Net)>);

impl<'a> Iterator for RangesIter<'a> {
    type Item = (&'a String, &'a Ipv4Net);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(vlan, range)| (vlan, range))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for RangesIter<'_> {}

impl<'a> IntoIterator for &'a Ranges {
    type Item = (&'a String, &'a Ipv4Net);
    type IntoIter = RangesIter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl FromIterator<(String, Ipv4Net)> for Ranges {
    fn from_iter<I: IntoIterator<Item = (String, Ipv4Net)>>(items: I) -> Self {
        let mut ranges = Ranges::default();
        for (vlan, range) in items {
            ranges.insert(vlan, range);
        }
        ranges
    }
}

impl std::ops::Index<&str> for Ranges {
    type Output = Ipv4Net;

    /// The range of VLAN `vlan`; panics when there is none, as a map's index does.
    fn index(&self, vlan: &str) -> &Ipv4Net {
        match self.get(vlan) {
            Some(range) => range,
            None => panic!("no range in VLAN `{vlan}`"),
        }
    }
}

/// Printed as the map it stands for.
impl std::fmt::Debug for Ranges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Serialized as the map it stands for, in the same (sorted) order, so the digest of a
/// topology is what it was when this was a `BTreeMap`.
impl Serialize for Ranges {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (vlan, range) in self {
            map.serialize_entry(vlan, range)?;
        }
        map.end()
    }
}

/// The OVSDB endpoint used when a host names none.
pub const DEFAULT_OVSDB: &str = "unix:/var/run/openvswitch/db.sock";

impl Topology {
    /// SHA-256 (hex) of a canonical serialization of the validated model.
    ///
    /// Canonical because the model has fixed field order and sorted maps, and VLANs
    /// (whose order means nothing) are sorted by id: the order of keys and VLANs in the
    /// file, comments and formatting do not change it; any change of meaning does (host
    /// order included, since chains and output follow it).
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut canonical = self.clone();
        canonical.vlans.sort_by_key(|v| v.id);
        #[allow(
            clippy::expect_used,
            reason = "plain data with string keys always serializes"
        )]
        let json =
            serde_json::to_vec(&canonical).expect("the model serializes: plain data, string keys");
        let mut hasher = Sha256::new();
        hasher.update(b"ovsnet-topology-v1\n");
        hasher.update(&json);
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Index of the host called `name`.
    pub fn host_index(&self, name: &str) -> Option<usize> {
        self.hosts.iter().position(|h| h.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn ranges_read_serialize_and_print_as_the_map_they_replace() {
        let written = [
            ("web", "10.0.0.0/26"),
            ("db", "10.1.0.0/26"),
            ("app", "10.2.0.0/26"),
            ("web", "10.0.1.0/26"),
        ];
        let mut ranges = Ranges::default();
        let mut map = BTreeMap::new();
        for (vlan, range) in written {
            let range: Ipv4Net = range.parse().unwrap();
            ranges.insert(vlan.to_string(), range);
            map.insert(vlan.to_string(), range);
        }
        assert_eq!(ranges.len(), 3);
        assert_eq!(
            ranges.iter().collect::<Vec<_>>(),
            map.iter().collect::<Vec<_>>()
        );
        assert_eq!(ranges.get("web"), map.get("web"));
        assert_eq!(ranges["db"], map["db"]);
        assert_eq!(ranges.get("nope"), None);
        assert_eq!(
            serde_json::to_string(&ranges).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
        assert_eq!(format!("{ranges:?}"), format!("{map:?}"));
        let collected: Ranges = map.clone().into_iter().collect();
        assert_eq!(collected, ranges);
    }
}
