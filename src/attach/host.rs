//! What attach, detach and gc read from the local OVSDB in one transaction: the overlay
//! bridges with their host intent, every container port, and the DHCP leases the agent
//! recorded on the `Open_vSwitch` row. Also the allocator (docs/host-side.md, "The
//! allocator"): pure, over such a snapshot.

use crate::intent::HostIntent;
use crate::ovsdb::txn::{uuid_of, ROOT};
use crate::ovsdb::{self, Atom, Client, Datum, Op, OvsdbError, RowData};
use crate::state::{stale_container, Role, MARK_CLUSTER, MARK_ROLE};
use ipnet::Ipv4Net;
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

/// `external_ids` keys of a container port (docs/host-side.md, "Container ports").
pub mod marks {
    /// The VLAN's name.
    pub const VLAN: &str = "ovsnet-vlan";
    /// The address, CIDR with the subnet's prefix length.
    pub const ADDRESS: &str = "ovsnet-address";
    /// The container interface's MAC.
    pub const MAC: &str = "ovsnet-mac";
    /// Identity: a named namespace.
    pub const NETNS: &str = "ovsnet-netns";
    /// Identity: a process.
    pub const PID: &str = "ovsnet-pid";
    /// Identity: a Docker container (set by the plugin).
    pub const DOCKER: &str = "ovsnet-docker";
    /// The interface name inside the container.
    pub const IFNAME: &str = "ovsnet-ifname";
    /// Prefix of the agent's DHCP lease keys on the `Open_vSwitch` row.
    pub const LEASE_PREFIX: &str = "ovsnet-lease-";
}

/// An overlay bridge with its intent.
#[derive(Clone, Debug, PartialEq)]
pub struct OverlayBridge {
    /// Bridge name.
    pub name: String,
    /// Row uuid.
    pub uuid: String,
    /// Its `ovsnet-cluster` mark.
    pub cluster: String,
    /// The intent apply wrote.
    pub intent: HostIntent,
    /// The `ports` column as read, for the allocation guard.
    pub ports: Vec<String>,
}

/// A container port as OVSDB holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerPort {
    /// Port (and interface) name.
    pub name: String,
    /// Port row uuid.
    pub uuid: String,
    /// The bridge it sits on.
    pub bridge: String,
    /// Its marks (`external_ids`, every entry).
    pub marks: BTreeMap<String, String>,
    /// `ofport` of its interface.
    pub ofport: Option<i64>,
    /// `error` of its interface.
    pub error: Option<String>,
    /// `ifindex` of its interface (0: the switch sees no such device).
    pub ifindex: Option<i64>,
}

impl ContainerPort {
    /// The value of mark `key`.
    pub fn mark(&self, key: &str) -> Option<&str> {
        self.marks.get(key).map(String::as_str)
    }

    /// The address it holds, if readable.
    pub fn address(&self) -> Option<Ipv4Net> {
        self.mark(marks::ADDRESS).and_then(|a| a.parse().ok())
    }

    /// Why the switch reports it broken or gone, if it does ([`stale_container`]).
    pub fn switch_problem(&self) -> Option<String> {
        stale_container(self.ofport, self.error.as_deref(), self.ifindex)
    }
}

/// One consistent read of the host.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Overlay bridges (role `bridge`), by name.
    pub bridges: BTreeMap<String, OverlayBridge>,
    /// Container ports, by name.
    pub containers: BTreeMap<String, ContainerPort>,
    /// Every port name on the host (a derived name must not clash with any).
    pub port_names: BTreeSet<String>,
    /// The `Open_vSwitch` row's uuid.
    pub root_uuid: String,
    /// Its `external_ids`, as read (lease keys among them), for the lease guard.
    pub root_ids: Vec<(String, String)>,
}

impl Snapshot {
    /// Addresses held by DHCP leases the agent recorded.
    pub fn leases(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.root_ids.iter().filter_map(|(k, _)| {
            k.strip_prefix(marks::LEASE_PREFIX)
                .and_then(|ip| ip.parse().ok())
        })
    }

    /// The guard rows: the bridge's `ports` and the root's `external_ids` as read.
    pub fn guard_rows(&self, bridge: &OverlayBridge) -> (RowData, RowData) {
        let mut ports = RowData::new();
        ports.insert("ports".into(), Datum::uuids(bridge.ports.iter().cloned()));
        let mut root = RowData::new();
        root.insert(
            "external_ids".into(),
            Datum::Map(
                self.root_ids
                    .iter()
                    .map(|(k, v)| (Atom::Str(k.clone()), Atom::Str(v.clone())))
                    .collect(),
            ),
        );
        (ports, root)
    }
}

/// Reads a [`Snapshot`] in one transaction.
pub fn read(client: &mut Client) -> Result<Snapshot, OvsdbError> {
    let select = |table: &str, columns: &[&str]| Op::Select {
        table: table.into(),
        conditions: Vec::new(),
        columns: Some(columns.iter().map(|c| c.to_string()).collect()),
    };
    let ops = [
        select(ROOT, &["_uuid", "external_ids"]),
        select("Bridge", &["_uuid", "name", "external_ids", "ports"]),
        select("Port", &["_uuid", "name", "external_ids", "interfaces"]),
        select(
            "Interface",
            &["_uuid", "name", "ofport", "error", "ifindex"],
        ),
    ];
    let results = client.transact(ovsdb::DB, &ops)?;
    let shape = |detail: &str| OvsdbError::Protocol {
        endpoint: client.endpoint().to_string(),
        detail: detail.to_string(),
    };
    let root = ovsdb::rows(&results[0])
        .first()
        .ok_or_else(|| shape("no Open_vSwitch row"))?;
    let mut snapshot = Snapshot {
        bridges: BTreeMap::new(),
        containers: BTreeMap::new(),
        port_names: BTreeSet::new(),
        root_uuid: uuid_of(root).unwrap_or_default(),
        root_ids: map(root, "external_ids").into_iter().collect(),
    };
    let ifaces: BTreeMap<String, &Json> = ovsdb::rows(&results[3])
        .iter()
        .filter_map(|r| Some((uuid_of(r)?, r)))
        .collect();
    let mut port_bridge: BTreeMap<String, String> = BTreeMap::new();
    for b in ovsdb::rows(&results[1]) {
        let ids = map(b, "external_ids");
        let name = string(b, "name").unwrap_or_default();
        let ports = uuids(b, "ports");
        for p in &ports {
            port_bridge.insert(p.clone(), name.clone());
        }
        if ids.get(MARK_ROLE).map(String::as_str) != Some(Role::Bridge.as_str()) {
            continue;
        }
        let intent =
            HostIntent::from_external_ids(ids.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        snapshot.bridges.insert(
            name.clone(),
            OverlayBridge {
                uuid: uuid_of(b).unwrap_or_default(),
                cluster: ids.get(MARK_CLUSTER).cloned().unwrap_or_default(),
                name,
                intent,
                ports,
            },
        );
    }
    for p in ovsdb::rows(&results[2]) {
        let name = string(p, "name").unwrap_or_default();
        snapshot.port_names.insert(name.clone());
        let ids = map(p, "external_ids");
        if ids.get(MARK_ROLE).map(String::as_str) != Some(Role::Container.as_str()) {
            continue;
        }
        let uuid = uuid_of(p).unwrap_or_default();
        let iface = uuids(p, "interfaces")
            .first()
            .and_then(|u| ifaces.get(u).copied());
        snapshot.containers.insert(
            name.clone(),
            ContainerPort {
                bridge: port_bridge.get(&uuid).cloned().unwrap_or_default(),
                name,
                uuid,
                marks: ids,
                ofport: iface.and_then(|i| int(i, "ofport")),
                error: iface.and_then(|i| string(i, "error")),
                ifindex: iface.and_then(|i| int(i, "ifindex")),
            },
        );
    }
    Ok(snapshot)
}

fn datum(row: &Json, column: &str) -> Option<Datum> {
    row.get(column).and_then(Datum::from_json)
}

fn string(row: &Json, column: &str) -> Option<String> {
    datum(row, column).and_then(|d| d.single().and_then(Atom::as_str).map(str::to_string))
}

fn int(row: &Json, column: &str) -> Option<i64> {
    datum(row, column).and_then(|d| d.single().and_then(Atom::as_int))
}

fn uuids(row: &Json, column: &str) -> Vec<String> {
    datum(row, column)
        .map(|d| {
            d.atoms()
                .iter()
                .filter_map(|a| a.as_uuid().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn map(row: &Json, column: &str) -> BTreeMap<String, String> {
    datum(row, column)
        .map(|d| {
            d.pairs()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// Why an address cannot be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// Outside this host's range.
    OutsideRange,
    /// The range's network or broadcast address, or the gateway.
    Reserved,
    /// Held by this container port, or by a DHCP lease (`None`).
    InUse(Option<String>),
    /// Every address of the range is taken.
    Full,
}

/// The addresses taken on the host: container ports' and leases'.
pub fn taken(snapshot: &Snapshot) -> BTreeMap<Ipv4Addr, Option<String>> {
    let mut out: BTreeMap<Ipv4Addr, Option<String>> =
        snapshot.leases().map(|ip| (ip, None)).collect();
    for port in snapshot.containers.values() {
        if let Some(net) = port.address() {
            out.insert(net.addr(), Some(port.name.clone()));
        }
    }
    out
}

/// An address for a new container in `range` of a VLAN with `gateway`: `wanted` when
/// given and free, else the lowest free one.
pub fn allocate(
    range: Ipv4Net,
    subnet: Ipv4Net,
    gateway: Option<Ipv4Addr>,
    taken: &BTreeMap<Ipv4Addr, Option<String>>,
    wanted: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, Unavailable> {
    let reserved = |ip: Ipv4Addr| {
        ip == range.network()
            || ip == range.broadcast()
            || ip == subnet.network()
            || ip == subnet.broadcast()
            || Some(ip) == gateway
    };
    if let Some(ip) = wanted {
        if !range.contains(&ip) {
            return Err(Unavailable::OutsideRange);
        }
        if reserved(ip) {
            return Err(Unavailable::Reserved);
        }
        if let Some(holder) = taken.get(&ip) {
            return Err(Unavailable::InUse(holder.clone()));
        }
        return Ok(ip);
    }
    range
        .hosts()
        .find(|ip| !reserved(*ip) && !taken.contains_key(ip))
        .ok_or(Unavailable::Full)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().expect("net")
    }

    #[test]
    fn the_lowest_free_address_skips_reserved_and_taken_ones() {
        let range = net("10.10.1.0/30");
        let subnet = net("10.10.0.0/16");
        let mut taken = BTreeMap::new();
        assert_eq!(
            allocate(range, subnet, None, &taken, None),
            Ok(Ipv4Addr::new(10, 10, 1, 1))
        );
        taken.insert(Ipv4Addr::new(10, 10, 1, 1), Some("ovc-a".into()));
        assert_eq!(
            allocate(range, subnet, None, &taken, None),
            Ok(Ipv4Addr::new(10, 10, 1, 2))
        );
        taken.insert(Ipv4Addr::new(10, 10, 1, 2), None);
        assert_eq!(
            allocate(range, subnet, None, &taken, None),
            Err(Unavailable::Full)
        );
    }

    #[test]
    fn a_wanted_address_must_be_in_range_free_and_not_reserved() {
        let range = net("10.10.1.0/24");
        let subnet = net("10.10.0.0/16");
        let gw = Some(Ipv4Addr::new(10, 10, 1, 1));
        let taken = BTreeMap::from([(Ipv4Addr::new(10, 10, 1, 9), Some("ovc-x".into()))]);
        let want = |ip| allocate(range, subnet, gw, &taken, Some(ip));
        assert_eq!(
            want(Ipv4Addr::new(10, 10, 2, 5)),
            Err(Unavailable::OutsideRange)
        );
        assert_eq!(
            want(Ipv4Addr::new(10, 10, 1, 1)),
            Err(Unavailable::Reserved)
        );
        assert_eq!(
            want(Ipv4Addr::new(10, 10, 1, 255)),
            Err(Unavailable::Reserved)
        );
        assert_eq!(
            want(Ipv4Addr::new(10, 10, 1, 9)),
            Err(Unavailable::InUse(Some("ovc-x".into())))
        );
        assert_eq!(
            want(Ipv4Addr::new(10, 10, 1, 7)),
            Ok(Ipv4Addr::new(10, 10, 1, 7))
        );
    }
}
