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
use crate::topology::{Analysis, BridgeSpec, Host, Protection, Topology, TunnelKind};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;

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
    let shared = Shared::of(topology, analysis);
    let tunnels = named_tunnels(topology, &shared, &analysis.neighbours(index));
    assemble(topology, analysis, &shared, index, tunnels)
}

/// Host `index`'s desired state holding, of its tunnel ports, only those to `peers` (host
/// indices, a subset of its neighbours); its bridge, internal port and requirements are
/// the whole host's. Each of those ports equals the one [`desire_host`] builds.
///
/// `None` when a neighbour's port name had to be shortened: then the names settle
/// collisions among all the neighbours, and a subset alone cannot tell them.
pub fn desire_tunnels(
    topology: &Topology,
    analysis: &Analysis,
    index: usize,
    peers: &[usize],
) -> Option<DesiredHost> {
    if !exact_names(topology, analysis, index) {
        return None;
    }
    let shared = Shared::of(topology, analysis);
    let kind = shared.kind;
    let tunnels = peers
        .iter()
        .map(|&j| (tunnel_port_name(kind, &topology.hosts[j].name), j))
        .collect();
    Some(assemble(topology, analysis, &shared, index, tunnels))
}

/// Whether every tunnel port name of host `index` is its peer's name behind the type
/// prefix, so that each depends on its own peer alone (no shortening, no collision).
pub fn exact_names(topology: &Topology, analysis: &Analysis, index: usize) -> bool {
    let prefix = topology.tunnel.kind.port_prefix();
    let room = IFNAME_MAX - prefix.len();
    // The one peer name whose exact port name would be the bridge's (if any), found once:
    // `diff` asks this of every host on both sides, a million peers in a 1,000-host mesh.
    let bridge_peer = topology.bridge.name.strip_prefix(prefix);
    analysis.neighbours(index).iter().all(|&j| {
        let peer = topology.hosts[j].name.as_str();
        peer.len() <= room && bridge_peer != Some(peer)
    })
}

/// Every cluster-wide input of the tunnel ports and their names: two topologies with
/// equal `Shared` give a tunnel to the same peer at the same address the same rows on
/// every host, so what differs between their tunnels is only which peers a host has
/// and where those are (`diff` relies on this; the other rows, the bridge's and the
/// fixed ports, it builds and compares on every host).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shared<'a> {
    cluster: &'a str,
    bridge: &'a BridgeSpec,
    kind: TunnelKind,
    key: Option<u32>,
    dst_port: Option<u16>,
    vlan_ids: Vec<i64>,
    protection: Protection,
    overlay_mtu: u32,
}

impl<'a> Shared<'a> {
    /// The shared inputs of `topology` under `analysis`.
    pub fn of(topology: &'a Topology, analysis: &Analysis) -> Shared<'a> {
        Shared {
            cluster: &topology.cluster,
            bridge: &topology.bridge,
            kind: topology.tunnel.kind,
            key: topology.tunnel.key,
            dst_port: topology.tunnel.dst_port,
            vlan_ids: sorted_ids(topology),
            protection: analysis.protection,
            overlay_mtu: analysis.overlay_mtu,
        }
    }

    fn requirements(&self, has_tunnels: bool) -> Requirements {
        Requirements {
            datapath_type: self.bridge.datapath.ovs_name().into(),
            tunnel_type: has_tunnels.then(|| self.kind.ovs_name().to_string()),
            needs_protected: self.split_horizon() && has_tunnels,
        }
    }

    fn split_horizon(&self) -> bool {
        self.protection == Protection::SplitHorizon
    }

    /// The overlay bridge's own row on `host`, with the host intent (docs/host-side.md):
    /// what attach and the agent read on the host.
    fn bridge_row(&self, topology: &Topology, host: &Host, overlay_mtu: u32) -> Row {
        let name = Row::named(self.bridge.name.as_str());
        let mut row = marked(name, self.cluster, Role::Bridge)
            .with(
                "datapath_type",
                Value::Str(self.bridge.datapath.ovs_name().into()),
            )
            .with(
                "rstp_enable",
                Value::Bool(self.protection == Protection::Rstp),
            );
        for (key, value) in crate::intent::bridge_keys(topology, host, overlay_mtu) {
            row.attrs
                .insert(format!("external_ids:{key}").into(), Value::Str(value));
        }
        row
    }

    /// The ports every host holds besides its tunnels: the bridge's internal port and
    /// the gateway port of each VLAN with a gateway, in name order.
    fn fixed_ports(&self, topology: &Topology) -> Vec<(String, Port)> {
        let bridge_name = self.bridge.name.as_str();
        let internal = internal_port(bridge_name, self.cluster);
        let mut ports = vec![(bridge_name.to_string(), internal)];
        ports.extend(crate::gateway::ports(
            self.cluster,
            &topology.vlans,
            self.overlay_mtu,
        ));
        ports.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        ports
    }
}

/// The port names of tunnels to `neighbours`, each with its peer's index.
fn named_tunnels(
    topology: &Topology,
    shared: &Shared,
    neighbours: &[usize],
) -> Vec<(String, usize)> {
    let peers: Vec<&str> = neighbours
        .iter()
        .map(|&j| topology.hosts[j].name.as_str())
        .collect();
    let names = tunnel_port_names(shared.kind, &peers, &shared.bridge.name);
    names.into_iter().zip(neighbours.iter().copied()).collect()
}

/// Host `index` with its bridge, the fixed ports and the tunnel ports `tunnels`.
fn assemble(
    topology: &Topology,
    analysis: &Analysis,
    shared: &Shared,
    index: usize,
    mut tunnels: Vec<(String, usize)>,
) -> DesiredHost {
    let host = &topology.hosts[index];
    let bridge_name = shared.bridge.name.as_str();
    let has_tunnels = analysis.degree(index) > 0;
    let template = Template::new(shared);
    // Built in name order, so collecting into the map finds the input already sorted
    // instead of moving a thousand ports about.
    tunnels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut ports: Vec<(String, Port)> = Vec::with_capacity(tunnels.len() + 4);
    ports.extend(shared.fixed_ports(topology));
    for (name, j) in tunnels {
        let port = template.port(&name, &topology.hosts[j]);
        ports.push((name, port));
    }
    // Collecting builds the map in bulk (sort, then fill), cheaper than 1,000 inserts.
    let ports: BTreeMap<String, Port> = ports.into_iter().collect();
    let mut bridges = BTreeMap::new();
    let row = shared.bridge_row(topology, host, analysis.overlay_mtu);
    bridges.insert(bridge_name.to_string(), Bridge { row, ports });
    DesiredHost {
        name: host.name.clone(),
        endpoint: host.ovsdb.to_string(),
        cluster: shared.cluster.to_string(),
        state: HostState { bridges },
        requirements: shared.requirements(has_tunnels),
    }
}

/// What host `index`'s Open vSwitch must support: the `requirements` of its
/// [`desire_host`], without building its rows.
pub fn host_requirements(topology: &Topology, analysis: &Analysis, index: usize) -> Requirements {
    let has_tunnels = analysis.degree(index) > 0;
    Shared::of(topology, analysis).requirements(has_tunnels)
}

/// Calls `visit` with every row of host `index`'s desired state, in the order its
/// [`HostState`] iterates them (the bridge, then each port by name followed by its
/// interface), exactly as [`desire_host`] builds them, yet without building the host:
/// the tunnel rows are one reused template filled in place, so this allocates per host,
/// not per row (`diff` fingerprints every host this way).
pub fn visit_rows(
    topology: &Topology,
    analysis: &Analysis,
    index: usize,
    mut visit: impl FnMut(Kind, &Row),
) {
    let shared = Shared::of(topology, analysis);
    let host = &topology.hosts[index];
    let mut tunnels = named_tunnels(topology, &shared, &analysis.neighbours(index));
    tunnels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    visit(
        Kind::Bridge,
        &shared.bridge_row(topology, host, analysis.overlay_mtu),
    );
    let fixed = shared.fixed_ports(topology);
    let mut fixed = fixed.iter().peekable();
    let mut template = Template::new(&shared);
    for (name, j) in &tunnels {
        // Tunnel names never equal a fixed port's (see `tunnel_port_names`).
        while let Some((_, port)) = fixed.next_if(|(fixed_name, _)| fixed_name < name) {
            visit_port(port, &mut visit);
        }
        template.fill(name, &topology.hosts[*j]);
        visit(Kind::Port, &template.port);
        visit(Kind::Interface, &template.iface);
    }
    for (_, port) in fixed {
        visit_port(port, &mut visit);
    }
}

fn visit_port(port: &Port, visit: &mut impl FnMut(Kind, &Row)) {
    visit(Kind::Port, &port.row);
    for iface in port.interfaces.values() {
        visit(Kind::Interface, &iface.row);
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
    fn new(shared: &Shared) -> Template {
        let cluster = shared.cluster;
        // The per-peer keys are present with empty values (which cost no allocation), so
        // each port is a clone with two or three values filled in, and no inserts.
        let port = marked(Row::default(), cluster, Role::Tunnel)
            .with(KEY_PEER, Value::Str(String::new()))
            .with("trunks", Value::IntSet(shared.vlan_ids.clone()))
            .with("protected", Value::Bool(shared.split_horizon()));
        let mut iface = marked(Row::default(), cluster, Role::Tunnel)
            .with(KEY_PEER, Value::Str(String::new()))
            .with(KEY_REMOTE_IP, Value::Str(String::new()))
            .with("type", Value::Str(shared.kind.ovs_name().into()));
        // OVS keeps every `options` value as a string; so must we, or the diff never settles.
        if let Some(key) = shared.key {
            iface = iface.with("options:key", Value::Str(key.to_string()));
        }
        if let Some(port) = shared.dst_port {
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
        let mut remote_ip = String::with_capacity(IPV4_TEXT_MAX);
        push_ipv4(&mut remote_ip, peer.underlay_ip);
        fill(&mut iface, KEY_REMOTE_IP, remote_ip);
        single(port, iface)
    }

    /// Turns the template's own rows into the tunnel port `name` to `peer`, in place,
    /// reusing their buffers: the same rows [`Template::port`] returns.
    fn fill(&mut self, name: &str, peer: &Host) {
        self.port.name.clear();
        self.port.name.push_str(name);
        self.iface.name.clone_from(&self.port.name);
        for (row, key) in [(&mut self.port, KEY_PEER), (&mut self.iface, KEY_PEER)] {
            if let Some(Value::Str(slot)) = row.attrs.get_mut(key) {
                slot.clone_from(&peer.name);
            }
        }
        if let Some(Value::Str(slot)) = self.iface.attrs.get_mut(KEY_REMOTE_IP) {
            slot.clear();
            push_ipv4(slot, peer.underlay_ip);
        }
    }
}

/// The longest dotted quad, `255.255.255.255`.
const IPV4_TEXT_MAX: usize = 15;

/// Appends `ip` as `Display` writes it (dotted quad), without the formatting machinery:
/// the offline plan of a 1,000-host mesh writes a million remote addresses, and
/// formatting them was ~12 % of its instructions.
fn push_ipv4(out: &mut String, ip: Ipv4Addr) {
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        out.push_str(itoa::Buffer::new().format(octet));
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
        keys.extend(
            bridge
                .row
                .attrs
                .keys()
                .map(|k| (Kind::Bridge, k.to_string())),
        );
        for port in bridge.ports.values() {
            keys.extend(port.row.attrs.keys().map(|k| (Kind::Port, k.to_string())));
            for iface in port.interfaces.values() {
                keys.extend(
                    iface
                        .row
                        .attrs
                        .keys()
                        .map(|k| (Kind::Interface, k.to_string())),
                );
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
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "198.18.0.1",
            "10.9.99.100",
            "1.20.3.40",
        ] {
            let ip: Ipv4Addr = ip.parse().expect("address");
            let mut text = String::from("x");
            push_ipv4(&mut text, ip);
            assert_eq!(text, format!("x{ip}"));
            assert!(text.len() - 1 <= IPV4_TEXT_MAX);
        }
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
