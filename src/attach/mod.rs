//! Plugging containers into the overlay, the one way ovsnet does it (the CLI's `attach`,
//! the Docker plugin, the lab's probes): a veth whose outer end is an access port of the
//! VLAN on the overlay bridge, an address from *this host's* range recorded on the port
//! in the same OVSDB transaction that creates it, and the inner end configured by
//! netlink. Also `detach`, the listing with stale detection, and `gc`. It reads only the
//! local OVSDB (the intent apply wrote, docs/host-side.md) and never the topology.
//!
//! # The sequence, and what a crash at each step leaves
//!
//! 1. Read the host ([`host::read`]); refuse, before anything is made, an undeclared
//!    VLAN, a host without a range in it, an `--ip` outside the range or in use, a full
//!    range, a missing namespace, an interface name already taken in the container, or a
//!    container already attached under that name (whole: see the re-run below).
//! 2. Create the veth in the host's namespace (outer end: the port name, derived stably
//!    from the identity and interface name; inner end a temporary name), both ends at the
//!    overlay MTU, and move the inner end into the container, rename it, set its MAC,
//!    switch tx offload off, bring both up. A crash here leaves a veth with the derived
//!    name and no port: the next attach of the same container deletes it (both ends,
//!    wherever the inner one went) and starts over.
//! 3. Commit one transaction: `wait` that the bridge's `ports` and the `Open_vSwitch`
//!    row's `external_ids` (the agent's DHCP leases) are what step 1 read, `wait` the port
//!    name absent, insert Interface and Port with every mark and the address, link it,
//!    bump `next_cfg`. A racing attach makes a guard fail: the loser reads again, picks
//!    another address and retries (nothing of the failed transaction was committed).
//! 4. Wait for ovs-vswitchd and check the interface's `ofport`/`error`; on failure the
//!    port and the veth are removed again.
//! 5. Address and default route on the inner end. A crash between 3 and 5 leaves an
//!    attached container without its address: `detach` removes it cleanly.
//!
//! A re-run of the same attach finds the port row of its derived name: when the port is
//! whole (the switch holds it, its veth exists, the container's interface holds the
//! recorded address) it is refused as already attached; otherwise (a crash mid-way, or
//! the veth lost since) the row and veth are removed and the attach made again.
//!
//! Any error after step 2 removes what was made, so a refused or failed attach leaves
//! nothing behind.
//!
//! # For the Docker plugin
//!
//! [`Placement::LeaveInHost`] creates the veth and the port but leaves the inner end in
//! the host namespace under the name the plugin chose, MTU set, with no address: Docker
//! moves it into the sandbox itself and sets the address and gateway the plugin returns
//! from [`Attached`]. The plugin records its identity with [`Identity::Docker`].

pub mod host;

use crate::linux::{self, LinkSettings, LinuxError, Netns};
use crate::ovsdb::txn::{self, Txn, ROOT};
use crate::ovsdb::{self, Atom, Client, Condition, Datum, OvsdbError, RowData};
use crate::state::{Role, MARK_CLUSTER, MARK_ROLE};
use host::{marks, ContainerPort, OverlayBridge, Snapshot, Unavailable};
use ipnet::Ipv4Net;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// Who the container is, as recorded on its port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// A named network namespace.
    Netns(String),
    /// A process.
    Pid(u32),
    /// A Docker container (the plugin), with its endpoint and network ids.
    Docker {
        /// Container id.
        container: String,
        /// Docker's endpoint id.
        endpoint: String,
        /// Docker's network id.
        network: String,
    },
}

impl Identity {
    /// The mark that records it, and its value.
    fn mark(&self) -> (&'static str, String) {
        match self {
            Identity::Netns(name) => (marks::NETNS, name.clone()),
            Identity::Pid(pid) => (marks::PID, pid.to_string()),
            Identity::Docker { container, .. } => (marks::DOCKER, container.clone()),
        }
    }

    /// Whether `port` belongs to this identity.
    pub fn owns(&self, port: &ContainerPort) -> bool {
        let (key, value) = self.mark();
        port.mark(key) == Some(value.as_str())
    }
}

/// Where the inner end of the veth goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Into this namespace, renamed to the interface name, configured fully.
    Into(Netns),
    /// Left in the host namespace under this name, for Docker to move (see module doc).
    LeaveInHost(String),
}

/// One attach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachRequest {
    /// The VLAN's name.
    pub vlan: String,
    /// Who the container is.
    pub identity: Identity,
    /// Where the inner end goes.
    pub placement: Placement,
    /// The namespace ovs-vswitchd runs in (the current one, or a lab host's).
    pub host_netns: Netns,
    /// A wanted address (must be in this host's range and free).
    pub ip: Option<Ipv4Addr>,
    /// A wanted MAC; else a random locally administered one.
    pub mac: Option<[u8; 6]>,
    /// The interface name inside the container.
    pub ifname: String,
    /// How long to wait for ovs-vswitchd, and for winning allocation races.
    pub timeout: Duration,
}

/// A container attached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Attached {
    /// The address, CIDR with the subnet's prefix length (`10.10.1.2/16`).
    pub address: Ipv4Net,
    /// The container interface's MAC.
    pub mac: String,
    /// The OVS port (and outer veth end) name.
    pub port: String,
    /// The VLAN's name.
    pub vlan: String,
    /// The VLAN id (the port's tag).
    pub vlan_id: u16,
    /// The VLAN's gateway (the default route), when declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    /// The MTU of both ends (the overlay MTU).
    pub mtu: u32,
    /// The interface name inside the container (or in the host, left for Docker).
    pub ifname: String,
    /// Allocation rounds lost to racing attaches before this one won.
    #[serde(skip)]
    pub retries: u32,
}

/// Why an attach (or detach, gc) was refused or failed. Refusals leave nothing behind.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// Talking to OVSDB failed.
    #[error(transparent)]
    Ovsdb(#[from] OvsdbError),
    /// The kernel refused something.
    #[error(transparent)]
    Linux(#[from] LinuxError),
    /// No overlay bridge holds this VLAN.
    #[error("VLAN `{vlan}` is not declared on this host{}\nhelp: declare it in the topology and `ovsnet apply` it", known_vlans(.known))]
    UnknownVlan {
        /// The VLAN asked for.
        vlan: String,
        /// VLANs that are declared.
        known: Vec<String>,
    },
    /// The VLAN is declared in several clusters' bridges here.
    #[error("VLAN `{vlan}` is declared on several overlay bridges here ({})", .bridges.join(", "))]
    Ambiguous {
        /// The VLAN.
        vlan: String,
        /// The bridges.
        bridges: Vec<String>,
    },
    /// This host has no range in the VLAN.
    #[error("this host has no range in VLAN `{vlan}`\nhelp: give it one under `hosts[].ranges` and apply")]
    NoRange {
        /// The VLAN.
        vlan: String,
    },
    /// The address cannot be had.
    #[error("{}", unavailable(.ip, .range, .why))]
    Address {
        /// The address asked for (None: any).
        ip: Option<Ipv4Addr>,
        /// This host's range.
        range: Ipv4Net,
        /// Why not.
        why: Unavailable,
    },
    /// The container's namespace does not exist.
    #[error("{netns} does not exist")]
    NoNamespace {
        /// Which.
        netns: Netns,
    },
    /// The interface name is already taken inside the container.
    #[error("`{ifname}` already exists in {netns}\nhelp: choose another with --ifname")]
    IfnameTaken {
        /// The name.
        ifname: String,
        /// Where.
        netns: Netns,
    },
    /// This container is already attached under that interface name.
    #[error("the container is already attached as port `{port}`\nhelp: `ovsnet detach` it first")]
    AlreadyAttached {
        /// The port.
        port: String,
    },
    /// The switch could not open the port.
    #[error("ovs-vswitchd could not open port `{port}`: {why}; it was removed again")]
    Switch {
        /// The port.
        port: String,
        /// Its error.
        why: String,
    },
    /// Racing attaches kept winning until the deadline.
    #[error("gave up after {rounds} allocation rounds lost to concurrent attaches")]
    Contended {
        /// Rounds lost.
        rounds: u32,
    },
    /// Nothing matched (detach).
    #[error("no container port matches {what}")]
    NotFound {
        /// What was looked for.
        what: String,
    },
}

fn known_vlans(vlans: &[String]) -> String {
    if vlans.is_empty() {
        " (no VLAN is: has `ovsnet apply` run here?)".into()
    } else {
        format!(" (declared: {})", vlans.join(", "))
    }
}

fn unavailable(ip: &Option<Ipv4Addr>, range: &Ipv4Net, why: &Unavailable) -> String {
    let ip = ip.map_or_else(String::new, |ip| ip.to_string());
    match why {
        Unavailable::OutsideRange => format!("address {ip} is outside this host's range {range}"),
        Unavailable::Reserved => {
            format!("address {ip} is reserved in {range} (network, broadcast or gateway)")
        }
        Unavailable::InUse(Some(port)) => format!("address {ip} is in use by port `{port}`"),
        Unavailable::InUse(None) => format!("address {ip} is held by a DHCP lease"),
        Unavailable::Full => format!("this host's range {range} is full"),
    }
}

/// The port name of a container: `ovc` and 12 hex digits of a hash of its identity and
/// interface name: stable, at most 15 bytes, never a tunnel's or gateway's prefix.
pub fn port_name(identity: &Identity, ifname: &str) -> String {
    let (key, value) = identity.mark();
    let mut hasher = Sha256::new();
    hasher.update(format!("{key}\0{value}\0{ifname}").as_bytes());
    let hex: String = hasher
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("ovc{hex}")
}

/// The temporary name of the inner end before it moves (same hash, `ovi`).
fn temp_name(port: &str) -> String {
    format!("ovi{}", &port[3..])
}

/// What the request resolved to against the host.
struct Resolved {
    bridge: OverlayBridge,
    vlan_id: u16,
    subnet: Ipv4Net,
    range: Ipv4Net,
    gateway: Option<Ipv4Addr>,
    mtu: u32,
}

fn resolve(snapshot: &Snapshot, vlan: &str) -> Result<Resolved, AttachError> {
    let holders: Vec<&OverlayBridge> = snapshot
        .bridges
        .values()
        .filter(|b| b.intent.vlans.contains_key(vlan))
        .collect();
    let bridge = match holders.as_slice() {
        [one] => *one,
        [] => {
            let known = snapshot
                .bridges
                .values()
                .flat_map(|b| b.intent.vlans.keys().cloned())
                .collect();
            return Err(AttachError::UnknownVlan {
                vlan: vlan.into(),
                known,
            });
        }
        many => {
            return Err(AttachError::Ambiguous {
                vlan: vlan.into(),
                bridges: many.iter().map(|b| b.name.clone()).collect(),
            })
        }
    };
    let intent = &bridge.intent.vlans[vlan];
    let range = intent
        .range
        .ok_or_else(|| AttachError::NoRange { vlan: vlan.into() })?;
    Ok(Resolved {
        bridge: bridge.clone(),
        vlan_id: intent.id,
        subnet: intent.subnet,
        range,
        gateway: intent.gateway,
        // 1500 minus VXLAN's 50 and the tag's 4 when apply wrote no MTU (an old apply).
        mtu: bridge.intent.mtu.unwrap_or(1446),
    })
}

/// Attaches a container (see the module doc for the sequence).
pub fn attach(client: &mut Client, req: &AttachRequest) -> Result<Attached, AttachError> {
    let mut snapshot = host::read(client)?;
    resolve(&snapshot, &req.vlan)?;
    let port = port_name(&req.identity, &req.ifname);
    if let Placement::Into(netns) = &req.placement {
        if !netns.exists() {
            return Err(AttachError::NoNamespace {
                netns: netns.clone(),
            });
        }
    }
    match snapshot.containers.get(&port) {
        Some(row) if complete(req, row)? => {
            return Err(AttachError::AlreadyAttached { port });
        }
        // A crash left the row without its veth, its inner end or its address (or the
        // switch failed it): this same container's leftover, removed and made again.
        Some(_) => {
            remove(client, &req.host_netns, std::slice::from_ref(&port))?;
            snapshot = host::read(client)?;
        }
        // A port of this name that is not a container's: never ours to touch.
        None if snapshot.port_names.contains(&port) => {
            return Err(AttachError::AlreadyAttached { port });
        }
        // A leftover of a crash between veth and commit: the veth (both ends, wherever
        // the inner one went) goes before the container's names are judged.
        None => {
            linux::delete_link(&req.host_netns, &port)?;
        }
    }
    let resolved = resolve(&snapshot, &req.vlan)?;
    let address = pick(&snapshot, &resolved, req.ip)?;
    if let Placement::Into(netns) = &req.placement {
        if linux::link_exists(netns, &req.ifname)? {
            return Err(AttachError::IfnameTaken {
                ifname: req.ifname.clone(),
                netns: netns.clone(),
            });
        }
    }
    let mac = req.mac.unwrap_or_else(|| random_mac(&port));
    let inner = make_veth(req, &port, resolved.mtu, mac).inspect_err(|_| {
        let _ = linux::delete_link(&req.host_netns, &port);
    })?;
    let outcome = commit(client, req, &port, &inner, mac, snapshot, resolved, address);
    match outcome {
        Ok(attached) => Ok(attached),
        Err(e) => {
            let _ = remove_ports(client, std::slice::from_ref(&port));
            let _ = linux::delete_link(&req.host_netns, &port);
            Err(e)
        }
    }
}

/// Whether the container port `row` of this request is whole: the switch holds it, its
/// veth is there and (when ovsnet placed the inner end) the container's interface
/// holds the recorded address. Anything less is what a crash mid-way leaves.
fn complete(req: &AttachRequest, row: &ContainerPort) -> Result<bool, AttachError> {
    if stale_reason(row, Some(&req.host_netns)).is_some() {
        return Ok(false);
    }
    let Placement::Into(netns) = &req.placement else {
        return Ok(true); // Docker moves the inner end; the plugin judges the rest.
    };
    if !linux::link_exists(netns, &req.ifname)? {
        return Ok(false);
    }
    let Some(address) = row.address() else {
        return Ok(false);
    };
    Ok(linux::addresses(netns, &req.ifname)?.contains(&address))
}

fn pick(
    snapshot: &Snapshot,
    r: &Resolved,
    wanted: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, AttachError> {
    host::allocate(r.range, r.subnet, r.gateway, &host::taken(snapshot), wanted).map_err(|why| {
        AttachError::Address {
            ip: wanted,
            range: r.range,
            why,
        }
    })
}

/// Step 2: the veth, inner end placed; returns the inner end's final name.
fn make_veth(
    req: &AttachRequest,
    port: &str,
    mtu: u32,
    mac: [u8; 6],
) -> Result<String, AttachError> {
    let host = &req.host_netns;
    let up = LinkSettings {
        up: Some(true),
        ..LinkSettings::default()
    };
    match &req.placement {
        Placement::Into(netns) => {
            let temp = temp_name(port);
            linux::create_veth(host, port, &temp, mtu)?;
            linux::move_link(host, &temp, netns)?;
            let settings = LinkSettings {
                rename: Some(req.ifname.clone()),
                mtu: Some(mtu),
                mac: Some(mac),
                up: Some(true),
            };
            let ifname = req.ifname.clone();
            linux::in_netns(netns, move |nl| async move {
                nl.set(&temp, &settings).await?;
                nl.tx_offload_off(&ifname)
            })?;
            linux::set_link(host, port, &up)?;
            Ok(req.ifname.clone())
        }
        Placement::LeaveInHost(name) => {
            linux::create_veth(host, port, name, mtu)?;
            let settings = LinkSettings {
                mac: Some(mac),
                ..LinkSettings::default()
            };
            linux::set_link(host, name, &settings)?;
            linux::tx_offload_off(host, name)?;
            linux::set_link(host, port, &up)?;
            Ok(name.clone())
        }
    }
}

/// Steps 3 to 5.
#[allow(clippy::too_many_arguments)]
fn commit(
    client: &mut Client,
    req: &AttachRequest,
    port: &str,
    inner: &str,
    mac: [u8; 6],
    mut snapshot: Snapshot,
    mut resolved: Resolved,
    mut address: Ipv4Addr,
) -> Result<Attached, AttachError> {
    let deadline = Instant::now() + req.timeout;
    let mut retries = 0u32;
    let cfg = loop {
        let cidr = Ipv4Net::new(address, resolved.subnet.prefix_len()).unwrap_or(resolved.subnet);
        let txn = port_txn(req, port, mac, cidr, &snapshot, &resolved);
        let guards = 2; // the ports guard and the lease guard come first
        match ovsdb::commit(&txn, |ops| client.transact(ovsdb::DB, ops)) {
            Ok(done) => break done.cfg,
            Err(OvsdbError::Operation {
                index, op: "wait", ..
            }) if index < guards => {
                retries += 1;
                if Instant::now() >= deadline {
                    return Err(AttachError::Contended { rounds: retries });
                }
                // Spread the losers out a little so they do not collide again at once.
                std::thread::sleep(Duration::from_micros(
                    u64::from(retries % 7) * 300 + u64::from(std::process::id() % 5) * 100,
                ));
                snapshot = host::read(client)?;
                resolved = resolve(&snapshot, &req.vlan)?;
                address = pick(&snapshot, &resolved, req.ip)?;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let target = cfg.unwrap_or(0);
    let caught_up = ovsdb::wait_for_cur_cfg(
        |ops: &[ovsdb::Op]| client.transact(ovsdb::DB, ops),
        target,
        req.timeout,
    )?;
    if let Err(reached) = caught_up {
        return Err(AttachError::Switch {
            port: port.into(),
            why: format!("cur_cfg {reached} did not reach {target}"),
        });
    }
    if let Some(why) = port_problem(client, port)? {
        return Err(AttachError::Switch {
            port: port.into(),
            why,
        });
    }
    if let Placement::Into(netns) = &req.placement {
        let (ifname, gateway, prefix) = (
            inner.to_string(),
            resolved.gateway,
            resolved.subnet.prefix_len(),
        );
        linux::in_netns(netns, move |nl| async move {
            nl.add_address(&ifname, address, prefix).await?;
            if let Some(gw) = gateway {
                nl.add_default_route(&ifname, gw).await?;
            }
            Ok(())
        })?;
    }
    Ok(Attached {
        address: Ipv4Net::new(address, resolved.subnet.prefix_len()).unwrap_or(resolved.subnet),
        mac: crate::gateway::mac_text(mac),
        port: port.into(),
        vlan: req.vlan.clone(),
        vlan_id: resolved.vlan_id,
        gateway: resolved.gateway,
        mtu: resolved.mtu,
        ifname: inner.into(),
        retries,
    })
}

/// The one transaction that creates the port with its address (step 3).
fn port_txn(
    req: &AttachRequest,
    port: &str,
    mac: [u8; 6],
    cidr: Ipv4Net,
    snapshot: &Snapshot,
    r: &Resolved,
) -> Txn {
    let mut txn = Txn::new();
    let (ports_row, root_row) = snapshot.guard_rows(&r.bridge);
    txn.wait_unchanged("Bridge", &r.bridge.uuid, ports_row);
    txn.wait_unchanged(ROOT, &snapshot.root_uuid, root_row);
    txn.wait_name_absent("Port", port);
    let mut ids: Vec<(String, String)> = vec![
        (MARK_CLUSTER.into(), r.bridge.cluster.clone()),
        (MARK_ROLE.into(), Role::Container.as_str().into()),
        (marks::VLAN.into(), req.vlan.clone()),
        (marks::ADDRESS.into(), cidr.to_string()),
        (marks::MAC.into(), crate::gateway::mac_text(mac)),
        (marks::IFNAME.into(), req.ifname.clone()),
    ];
    let (key, value) = req.identity.mark();
    ids.push((key.into(), value));
    if let Identity::Docker {
        endpoint, network, ..
    } = &req.identity
    {
        ids.push(("ovsnet-docker-endpoint".into(), endpoint.clone()));
        ids.push(("ovsnet-docker-network".into(), network.clone()));
    }
    let ids = Datum::str_map(ids.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut port_row = RowData::new();
    port_row.insert("tag".into(), Datum::atom(Atom::Int(i64::from(r.vlan_id))));
    port_row.insert(
        "other_config".into(),
        Datum::str_map([("transient", "true"), ("rstp-port-admin-edge", "true")]),
    );
    port_row.insert("external_ids".into(), ids.clone());
    let mut iface_row = RowData::new();
    iface_row.insert("external_ids".into(), ids);
    let id = txn.insert_port(port, port_row, iface_row);
    txn.add_ports(Condition::uuid(&r.bridge.uuid), vec![Atom::NamedUuid(id)]);
    txn.bump_cfg();
    txn
}

/// The interface's `ofport`/`error` after the switch caught up, as a problem if any.
fn port_problem(client: &mut Client, port: &str) -> Result<Option<String>, AttachError> {
    let results = client.transact(
        ovsdb::DB,
        &[ovsdb::Op::Select {
            table: "Interface".into(),
            conditions: vec![Condition::name(port)],
            columns: Some(vec!["ofport".into(), "error".into()]),
        }],
    )?;
    Ok(crate::apply::judge_interface(port, &results[0])
        .err()
        .map(|f| f.error))
}

/// Removes container ports by name (one transaction), waiting for the switch.
fn remove_ports(client: &mut Client, names: &[String]) -> Result<(), AttachError> {
    let mut by_bridge: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (bridge, uuid) in port_uuids(client, names)? {
        by_bridge.entry(bridge).or_default().push(uuid);
    }
    if by_bridge.is_empty() {
        return Ok(());
    }
    let mut txn = Txn::new();
    for (bridge, uuids) in by_bridge {
        txn.remove_ports(Condition::uuid(&bridge), uuids);
    }
    txn.bump_cfg();
    let done = ovsdb::commit(&txn, |ops| client.transact(ovsdb::DB, ops))?;
    let _ = ovsdb::wait_for_cur_cfg(
        |ops: &[ovsdb::Op]| client.transact(ovsdb::DB, ops),
        done.cfg.unwrap_or(0),
        Duration::from_secs(10),
    )?;
    Ok(())
}

/// (bridge uuid, port uuid) of every port named in `names`, on whichever bridge.
fn port_uuids(client: &mut Client, names: &[String]) -> Result<Vec<(String, String)>, AttachError> {
    let results = client.transact(
        ovsdb::DB,
        &[
            ovsdb::Op::Select {
                table: "Bridge".into(),
                conditions: Vec::new(),
                columns: Some(vec!["_uuid".into(), "ports".into()]),
            },
            ovsdb::Op::Select {
                table: "Port".into(),
                conditions: Vec::new(),
                columns: Some(vec!["_uuid".into(), "name".into()]),
            },
        ],
    )?;
    let wanted: BTreeMap<String, String> = ovsdb::rows(&results[1])
        .iter()
        .filter_map(|p| {
            let name = p.get("name")?.as_str()?.to_string();
            names
                .contains(&name)
                .then(|| Some((txn::uuid_of(p)?, name)))?
        })
        .collect();
    let mut out = Vec::new();
    for b in ovsdb::rows(&results[0]) {
        let Some(buuid) = txn::uuid_of(b) else {
            continue;
        };
        let ports = b
            .get("ports")
            .and_then(Datum::from_json)
            .map(|d| {
                d.atoms()
                    .iter()
                    .filter_map(|a| a.as_uuid().map(str::to_string))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for p in ports {
            if wanted.contains_key(&p) {
                out.push((buuid.clone(), p));
            }
        }
    }
    Ok(out)
}

/// A random locally administered unicast MAC (seeded by the port and the clock).
fn random_mac(port: &str) -> [u8; 6] {
    let mut hasher = Sha256::new();
    hasher.update(port.as_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.update(now.to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    let digest = hasher.finalize();
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&digest[..6]);
    mac[0] = (mac[0] & 0xfc) | 0x02;
    mac
}

/// Which containers `detach` removes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// Every port of this identity.
    Identity(Identity),
    /// One port by name.
    Port(String),
}

/// A container as `containers` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Container {
    /// The host's name (from the bridge intent), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Port name.
    pub port: String,
    /// VLAN name.
    pub vlan: String,
    /// Address (CIDR).
    pub address: String,
    /// MAC.
    pub mac: String,
    /// The identity mark (`netns:NAME`, `pid:N`, `docker:ID`).
    pub container: String,
    /// Interface name inside it.
    pub ifname: String,
    /// `ok` or `stale`.
    pub state: State,
    /// Why it is stale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A container's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Plugged in and working.
    Ok,
    /// Its namespace (and so its veth) is gone: `gc` removes it.
    Stale,
}

/// Why a container port is stale: the switch reports it broken, or (when the host's
/// namespace can be looked into) its veth is gone. The userspace datapath may not
/// notice a vanished veth at all, hence the second check.
pub fn stale_reason(port: &ContainerPort, host_netns: Option<&Netns>) -> Option<String> {
    if let Some(why) = port.switch_problem() {
        return Some(why);
    }
    let netns = host_netns?;
    match linux::link_exists(netns, &port.name) {
        Ok(false) => Some(format!("its veth `{}` is gone", port.name)),
        _ => None,
    }
}

/// The containers on this host with their state.
pub fn containers(client: &mut Client, host_netns: &Netns) -> Result<Vec<Container>, AttachError> {
    let snapshot = host::read(client)?;
    Ok(list(&snapshot, Some(host_netns)))
}

/// The containers of a snapshot; `host_netns` enables the veth check.
pub fn list(snapshot: &Snapshot, host_netns: Option<&Netns>) -> Vec<Container> {
    snapshot
        .containers
        .values()
        .map(|p| {
            let reason = stale_reason(p, host_netns);
            let host = snapshot
                .bridges
                .get(&p.bridge)
                .and_then(|b| b.intent.host.clone());
            Container {
                host,
                port: p.name.clone(),
                vlan: p.mark(marks::VLAN).unwrap_or_default().into(),
                address: p.mark(marks::ADDRESS).unwrap_or_default().into(),
                mac: p.mark(marks::MAC).unwrap_or_default().into(),
                container: identity_text(p),
                ifname: p.mark(marks::IFNAME).unwrap_or_default().into(),
                state: if reason.is_some() {
                    State::Stale
                } else {
                    State::Ok
                },
                reason,
            }
        })
        .collect()
}

fn identity_text(p: &ContainerPort) -> String {
    for (key, word) in [
        (marks::NETNS, "netns"),
        (marks::PID, "pid"),
        (marks::DOCKER, "docker"),
    ] {
        if let Some(v) = p.mark(key) {
            return format!("{word}:{v}");
        }
    }
    "unknown".into()
}

/// Detaches: removes the matching ports (one transaction) and their veths (both ends).
pub fn detach(
    client: &mut Client,
    host_netns: &Netns,
    selector: &Selector,
) -> Result<Vec<String>, AttachError> {
    let snapshot = host::read(client)?;
    let names: Vec<String> = snapshot
        .containers
        .values()
        .filter(|p| match selector {
            Selector::Identity(id) => id.owns(p),
            Selector::Port(name) => &p.name == name,
        })
        .map(|p| p.name.clone())
        .collect();
    if names.is_empty() {
        return Err(AttachError::NotFound {
            what: match selector {
                Selector::Identity(id) => {
                    let (k, v) = id.mark();
                    format!("`{k}={v}`")
                }
                Selector::Port(name) => format!("port `{name}`"),
            },
        });
    }
    remove(client, host_netns, &names)?;
    Ok(names)
}

/// Removes every stale container port and its leftover veth; returns what was removed.
pub fn gc(client: &mut Client, host_netns: &Netns) -> Result<Vec<Container>, AttachError> {
    let stale: Vec<Container> = containers(client, host_netns)?
        .into_iter()
        .filter(|c| c.state == State::Stale)
        .collect();
    let names: Vec<String> = stale.iter().map(|c| c.port.clone()).collect();
    if !names.is_empty() {
        remove(client, host_netns, &names)?;
    }
    Ok(stale)
}

fn remove(client: &mut Client, host_netns: &Netns, names: &[String]) -> Result<(), AttachError> {
    remove_ports(client, names)?;
    for name in names {
        linux::delete_link(host_netns, name)?;
    }
    Ok(())
}
