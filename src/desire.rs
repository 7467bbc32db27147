//! Desired state: what each host's Open vSwitch should hold, derived from the validated
//! topology and its graph analysis. One overlay bridge with its internal port and one
//! tunnel port per neighbour, every row stamped with the ownership marks.
//!
//! Pure and cheap per host (O(neighbours)), so a 1,000-host mesh can be streamed host by
//! host. It decides names and values only; whether a host can take them is preflight's
//! business, what differs from the host is `plan`'s.

use crate::state::{
    Bridge, DesiredHost, HostState, Interface, Kind, Port, Requirements, Role, Row, Value,
};
use crate::topology::{Analysis, Host, Protection, Topology, TunnelKind};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};

/// Linux interface names hold at most this many bytes.
pub const IFNAME_MAX: usize = 15;

/// Hex digits of the hash that shortens a too-long name.
const HASH_DIGITS: usize = 6;

/// The tunnel port name for a tunnel of `kind` to `peer`: the type prefix and the peer's
/// name, or, when that exceeds 15 bytes, a prefix of the peer's name and a short hash of
/// all of it. Stable: it depends on nothing else.
pub fn tunnel_port_name(kind: TunnelKind, peer: &str) -> String {
    let prefix = kind.port_prefix();
    if prefix.len() + peer.len() <= IFNAME_MAX {
        let mut name = String::with_capacity(IFNAME_MAX);
        name.push_str(prefix);
        name.push_str(peer);
        return name;
    }
    shortened(kind, peer, 0)
}

/// The shortened form; `salt` > 0 only to settle a collision on one host.
fn shortened(kind: TunnelKind, peer: &str, salt: u32) -> String {
    let prefix = kind.port_prefix();
    let mut hasher = Sha256::new();
    hasher.update(peer.as_bytes());
    if salt > 0 {
        hasher.update(format!("\0{salt}").as_bytes());
    }
    let hash: String = hasher
        .finalize()
        .iter()
        .take(HASH_DIGITS / 2)
        .map(|b| format!("{b:02x}"))
        .collect();
    let room = IFNAME_MAX - prefix.len() - HASH_DIGITS;
    let mut keep = room.min(peer.len());
    while !peer.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{prefix}{}{hash}", &peer[..keep])
}

/// Port names for `peers` on one host, unique among themselves and distinct from
/// `taken` (the bridge's own port). Names that fit are kept; shortened ones that clash
/// are re-hashed with a salt, in peer-name order, so the outcome is deterministic.
pub fn tunnel_port_names(kind: TunnelKind, peers: &[&str], taken: &str) -> Vec<String> {
    let mut names: Vec<String> = peers
        .iter()
        .map(|peer| tunnel_port_name(kind, peer))
        .collect();
    // Exact names (prefix + peer) cannot clash among themselves, as peer names are
    // unique; only with `taken`. In the common case every name is exact and we are done.
    let keeps = |i: usize| is_exact(kind, peers[i], &names[i]) && names[i] != taken;
    let mut rest: Vec<usize> = (0..peers.len()).filter(|&i| !keeps(i)).collect();
    if rest.is_empty() {
        return names;
    }
    let mut used: HashSet<String> = (0..peers.len())
        .filter(|&i| keeps(i))
        .map(|i| names[i].clone())
        .collect();
    used.insert(taken.to_string());
    rest.sort_by_key(|&i| peers[i]);
    for i in rest {
        let mut salt = 0;
        loop {
            let name = shortened(kind, peers[i], salt);
            if used.insert(name.clone()) {
                names[i] = name;
                break;
            }
            salt += 1;
        }
    }
    names
}

fn is_exact(kind: TunnelKind, peer: &str, name: &str) -> bool {
    name.len() == kind.port_prefix().len() + peer.len()
}

/// The desired state of every host, in file order.
pub fn desire(topology: &Topology, analysis: &Analysis) -> Vec<DesiredHost> {
    (0..topology.hosts.len())
        .map(|i| desire_host(topology, analysis, i))
        .collect()
}

/// The desired state of host `index` (file order). Panics if `index` is out of range.
pub fn desire_host(topology: &Topology, analysis: &Analysis, index: usize) -> DesiredHost {
    let host = &topology.hosts[index];
    let cluster = topology.cluster.as_str();
    let kind = topology.tunnel.kind;
    let bridge_name = topology.bridge.name.as_str();
    let neighbours = analysis.neighbours(index);
    let peers: Vec<&str> = neighbours
        .iter()
        .map(|&j| topology.hosts[j].name.as_str())
        .collect();
    let names = tunnel_port_names(kind, &peers, bridge_name);
    let protected = analysis.protection == Protection::SplitHorizon;
    let template = Template::new(topology, protected);
    // Built in name order, so collecting into the map finds the input already sorted
    // instead of moving a thousand ports about.
    let mut tunnels: Vec<(String, usize)> =
        names.into_iter().zip(neighbours.iter().copied()).collect();
    tunnels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut ports: Vec<(String, Port)> = Vec::with_capacity(tunnels.len() + 1);
    ports.push((bridge_name.to_string(), internal_port(bridge_name, cluster)));
    for (name, j) in tunnels {
        let port = template.port(&name, &topology.hosts[j]);
        ports.push((name, port));
    }
    ports.extend(crate::gateway::ports(cluster, &topology.vlans));
    // Collecting builds the map in bulk (sort, then fill), cheaper than 1,000 inserts.
    let ports: BTreeMap<String, Port> = ports.into_iter().collect();
    let mut row = marked(Row::named(bridge_name), cluster, Role::Bridge)
        .with(
            "datapath_type",
            Value::Str(topology.bridge.datapath.ovs_name().into()),
        )
        .with(
            "rstp_enable",
            Value::Bool(analysis.protection == Protection::Rstp),
        );
    // The host intent (docs/host-side.md): what attach and the agent read on the host.
    for (key, value) in crate::intent::bridge_keys(topology, host, analysis.overlay_mtu) {
        row.attrs
            .insert(format!("external_ids:{key}"), Value::Str(value));
    }
    let mut bridges = BTreeMap::new();
    bridges.insert(bridge_name.to_string(), Bridge { row, ports });
    DesiredHost {
        name: host.name.clone(),
        endpoint: host.ovsdb.to_string(),
        cluster: cluster.to_string(),
        state: HostState { bridges },
        requirements: Requirements {
            datapath_type: topology.bridge.datapath.ovs_name().into(),
            tunnel_type: (!neighbours.is_empty()).then(|| kind.ovs_name().to_string()),
            needs_protected: protected && !neighbours.is_empty(),
        },
    }
}

fn sorted_ids(topology: &Topology) -> Vec<i64> {
    let mut ids: Vec<i64> = topology.vlans.iter().map(|v| i64::from(v.id)).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

// `external_ids:` plus the marks of `state` (MARK_CLUSTER, MARK_ROLE, MARK_PEER);
// spelled out so no key is formatted per row. A unit test keeps them in step.
const KEY_CLUSTER: &str = "external_ids:ovsnet-cluster";
const KEY_ROLE: &str = "external_ids:ovsnet-role";
const KEY_PEER: &str = "external_ids:ovsnet-peer";
const KEY_REMOTE_IP: &str = "options:remote_ip";

/// Adds the cluster and role marks to a row.
fn marked(row: Row, cluster: &str, role: Role) -> Row {
    row.with(KEY_CLUSTER, Value::Str(cluster.into()))
        .with(KEY_ROLE, Value::Str(role.as_str().into()))
}

fn single(port_row: Row, iface_row: Row) -> Port {
    let mut interfaces = BTreeMap::new();
    interfaces.insert(
        iface_row.name.clone(),
        Interface {
            row: iface_row,
            runtime: None,
        },
    );
    Port {
        row: port_row,
        interfaces,
    }
}

fn internal_port(name: &str, cluster: &str) -> Port {
    let port =
        marked(Row::named(name), cluster, Role::Internal).with("protected", Value::Bool(false));
    let iface = marked(Row::named(name), cluster, Role::Internal)
        .with("type", Value::Str("internal".into()));
    single(port, iface)
}

/// The attributes every tunnel port of one host shares, built once and cloned per peer
/// (a 1,000-host mesh has 999 tunnel ports per host).
struct Template {
    port: Row,
    iface: Row,
}

impl Template {
    fn new(topology: &Topology, protected: bool) -> Template {
        let cluster = topology.cluster.as_str();
        let tunnel = &topology.tunnel;
        // The per-peer keys are present with empty values (which cost no allocation), so
        // each port is a clone with two or three values filled in, and no inserts.
        let port = marked(Row::default(), cluster, Role::Tunnel)
            .with(KEY_PEER, Value::Str(String::new()))
            .with("trunks", Value::IntSet(sorted_ids(topology)))
            .with("protected", Value::Bool(protected));
        let mut iface = marked(Row::default(), cluster, Role::Tunnel)
            .with(KEY_PEER, Value::Str(String::new()))
            .with(KEY_REMOTE_IP, Value::Str(String::new()))
            .with("type", Value::Str(tunnel.kind.ovs_name().into()));
        // OVS keeps every `options` value as a string; so must we, or the diff never settles.
        if let Some(key) = tunnel.key {
            iface = iface.with("options:key", Value::Str(key.to_string()));
        }
        if let Some(port) = tunnel.dst_port {
            iface = iface.with("options:dst_port", Value::Str(port.to_string()));
        }
        Template { port, iface }
    }

    /// The tunnel port `name` to `peer`.
    fn port(&self, name: &str, peer: &Host) -> Port {
        let mut port = self.port.clone();
        port.name = name.to_string();
        fill(&mut port, KEY_PEER, peer.name.clone());
        let mut iface = self.iface.clone();
        iface.name = name.to_string();
        fill(&mut iface, KEY_PEER, peer.name.clone());
        fill(&mut iface, KEY_REMOTE_IP, peer.underlay_ip.to_string());
        single(port, iface)
    }
}

/// Sets the value of a key the template holds (empty) to `value`.
fn fill(row: &mut Row, key: &str, value: String) {
    if let Some(slot) = row.attrs.get_mut(key) {
        *slot = Value::Str(value);
    }
}

/// Every attribute key of every row in `host`, with its kind (for `is_managed` checks).
pub fn attribute_keys(host: &DesiredHost) -> Vec<(Kind, String)> {
    let mut keys = Vec::new();
    for bridge in host.state.bridges.values() {
        keys.extend(bridge.row.attrs.keys().map(|k| (Kind::Bridge, k.clone())));
        for port in bridge.ports.values() {
            keys.extend(port.row.attrs.keys().map(|k| (Kind::Port, k.clone())));
            for iface in port.interfaces.values() {
                keys.extend(iface.row.attrs.keys().map(|k| (Kind::Interface, k.clone())));
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_keys_match_the_state_marks() {
        use crate::state::{MARK_CLUSTER, MARK_PEER, MARK_ROLE};
        assert_eq!(KEY_CLUSTER, format!("external_ids:{MARK_CLUSTER}"));
        assert_eq!(KEY_ROLE, format!("external_ids:{MARK_ROLE}"));
        assert_eq!(KEY_PEER, format!("external_ids:{MARK_PEER}"));
    }

    #[test]
    fn short_names_are_prefix_and_peer() {
        assert_eq!(tunnel_port_name(TunnelKind::Vxlan, "host-b"), "vx-host-b");
        assert_eq!(tunnel_port_name(TunnelKind::Gre, "host-b"), "gre-host-b");
        assert_eq!(tunnel_port_name(TunnelKind::Geneve, "host-b"), "gnv-host-b");
        assert_eq!(
            tunnel_port_name(TunnelKind::Vxlan, "abcdefghijkl"),
            "vx-abcdefghijkl"
        );
    }

    #[test]
    fn long_names_are_shortened_with_a_stable_hash() {
        let a = tunnel_port_name(TunnelKind::Gre, "compute-node-0001.example");
        let b = tunnel_port_name(TunnelKind::Gre, "compute-node-0002.example");
        assert_eq!(a.len(), IFNAME_MAX);
        assert!(a.starts_with("gre-compu"), "{a}");
        assert_ne!(a, b);
        assert_eq!(
            a,
            tunnel_port_name(TunnelKind::Gre, "compute-node-0001.example")
        );
    }

    #[test]
    fn collisions_are_settled_deterministically() {
        let long = "verylonghostname-1";
        let clash = tunnel_port_name(TunnelKind::Vxlan, long);
        let short_peer = &clash["vx-".len()..];
        let peers = [long, short_peer];
        let names = tunnel_port_names(TunnelKind::Vxlan, &peers, "br-ovsnet");
        assert_eq!(names[1], clash, "the name that fits keeps it");
        assert_ne!(names[0], names[1]);
        assert!(names[0].len() <= IFNAME_MAX);
        let reversed = tunnel_port_names(TunnelKind::Vxlan, &[short_peer, long], "br-ovsnet");
        assert_eq!(reversed, [names[1].clone(), names[0].clone()]);
    }

    #[test]
    fn a_port_never_takes_the_bridge_name() {
        let names = tunnel_port_names(TunnelKind::Vxlan, &["b"], "vx-b");
        assert_ne!(names[0], "vx-b");
        assert!(names[0].len() <= IFNAME_MAX);
    }
}
