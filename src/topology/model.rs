//! The validated topology: what the rest of ovsnet trusts after loading.
//!
//! Every value here has passed validation; nobody downstream checks again. Source
//! positions are kept only where a later stage may still need to point at the file
//! (`Span`), which is the loader's business, not this model's.

use ipnet::Ipv4Net;
use serde::Serialize;
use std::collections::BTreeMap;
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
    pub ranges: BTreeMap<String, Ipv4Net>,
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
