//! Probes: a namespace per (host, VLAN) and a veth whose outer end is a port tagged with
//! the VLAN id on the overlay bridge, addressed from the host's range. Attaching and
//! removing them, nothing else; the probe ports carry no ovsnet mark (foreign to plans).

use super::layout::{self, HostPaths};
use super::ovsdb_plumbing;
use super::report::ProbeRef;
use super::sys::{self, ip, netns_exec, run};
use super::traffic::warm_up;
use super::LabError;
use crate::topology::{Analysis, Topology};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// A probe being built or used.
#[derive(Clone, Debug)]
pub(crate) struct Probe {
    /// How reports name it.
    pub r: ProbeRef,
    /// Its own namespace.
    pub netns: String,
    /// The namespace of the host it hangs off.
    pub host_netns: String,
    /// The host's OVSDB socket.
    pub sock: PathBuf,
    /// Prefix length of its address (the VLAN subnet's).
    pub prefix_len: u8,
}

/// One probe per (VLAN, host with a range in it), VLANs in file order, hosts in file order.
pub(crate) fn plan_probes(topology: &Topology, run_root: &Path) -> Vec<Probe> {
    let mut probes = Vec::new();
    for vlan in &topology.vlans {
        for h in &topology.hosts {
            let Some(range) = h.ranges.get(&vlan.name) else {
                continue;
            };
            let Some(address) = range.hosts().next() else {
                continue;
            };
            probes.push(Probe {
                r: ProbeRef {
                    host: h.name.clone(),
                    vlan: vlan.name.clone(),
                    vlan_id: vlan.id,
                    address,
                },
                netns: layout::probe_netns(&topology.cluster, &h.name, vlan.id),
                host_netns: layout::host_netns(&topology.cluster, &h.name),
                sock: HostPaths::new(run_root, &topology.cluster, &h.name).db_sock,
                prefix_len: vlan.subnet.prefix_len(),
            });
        }
    }
    probes
}

/// Attaches every probe, in parallel.
pub(crate) fn attach_all(probes: &[Probe], bridge: &str, mtu: u32) -> Result<(), LabError> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = probes
            .iter()
            .map(|p| scope.spawn(move || attach(p, bridge, mtu)))
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|_| Err(LabError::Bug("probe worker panicked".into())))
        })
    })
}

/// Builds one probe afresh (an old one of the same name is removed first).
pub(crate) fn attach(p: &Probe, bridge: &str, mtu: u32) -> Result<(), LabError> {
    let port = layout::probe_port(p.r.vlan_id);
    let inner = layout::PROBE_INNER;
    let mtu = mtu.to_string();
    detach(p, bridge)?;
    sys::ensure_netns(&p.netns)?;
    // IPv6 off: the probe then sends nothing of its own (no router solicitations), so the
    // only broadcasts on the overlay are the ones a test makes.
    run(&mut netns_exec(
        &p.netns,
        "sysctl",
        &[
            "-q",
            "-w",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ],
    ))?;
    run(&mut ip(
        &p.host_netns,
        &[
            "link", "add", &port, "mtu", &mtu, "type", "veth", "peer", "name", inner, "mtu", &mtu,
            "netns", &p.netns,
        ],
    ))?;
    run(&mut netns_exec(
        &p.netns,
        "ethtool",
        &["-K", inner, "tx", "off"],
    ))?;
    let addr = format!("{}/{}", p.r.address, p.prefix_len);
    run(&mut ip(&p.netns, &["addr", "add", &addr, "dev", inner]))?;
    run(&mut ip(&p.netns, &["link", "set", inner, "up"]))?;
    run(&mut ip(&p.host_netns, &["link", "set", &port, "up"]))?;
    // An edge port to RSTP (like any container port), so it forwards at once instead of
    // waiting out the forward delay on a bridge with `rstp_enable=true`.
    ovsdb_plumbing::add_probe_port(&p.sock, bridge, &port, p.r.vlan_id)?;
    Ok(())
}

/// Removes a probe's port and namespace (the veth goes with the namespace).
pub(crate) fn detach(p: &Probe, bridge: &str) -> Result<(), LabError> {
    let port = layout::probe_port(p.r.vlan_id);
    ovsdb_plumbing::remove_port(&p.sock, bridge, &port)?;
    if sys::link_exists(&p.host_netns, &port) {
        run(&mut ip(&p.host_netns, &["link", "del", &port]))?;
    }
    sys::delete_netns(&p.netns).map(|_| ())
}

/// Removes every probe, going on past failures; returns the first.
pub(crate) fn remove_all(probes: &[Probe], bridge: &str) -> Result<(), LabError> {
    let mut first_error = None;
    for p in probes {
        if let Err(e) = detach(p, bridge) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The last address of the VLAN's subnet: never a probe's, so an ARP for it is answered
/// by nobody and stays a pure broadcast.
pub(crate) fn silent_address(topology: &Topology, vlan_id: u16) -> Result<Ipv4Addr, LabError> {
    let vlan = topology
        .vlans
        .iter()
        .find(|v| v.id == vlan_id)
        .ok_or_else(|| LabError::Bug("probe of an unknown VLAN".into()))?;
    Ok(vlan
        .subnet
        .hosts()
        .last()
        .unwrap_or(vlan.subnet.broadcast()))
}

/// The probes of one VLAN, attached and warmed up for another test (the storm probe).
pub(crate) struct VlanProbes {
    probes: Vec<Probe>,
    bridge: String,
    /// An address of the VLAN no probe holds: an ARP for it is a pure broadcast.
    pub silent: Ipv4Addr,
}

/// Attaches a probe on every host with a range in the first VLAN that has any, and
/// waits for the paths to settle.
pub(crate) fn attach_vlan(
    topology: &Topology,
    analysis: &Analysis,
    run_root: &Path,
) -> Result<Option<VlanProbes>, LabError> {
    let all = plan_probes(topology, run_root);
    let Some(first) = all.first() else {
        return Ok(None);
    };
    let vlan_id = first.r.vlan_id;
    let probes: Vec<Probe> = all.into_iter().filter(|p| p.r.vlan_id == vlan_id).collect();
    let silent = silent_address(topology, vlan_id)?;
    let set = VlanProbes {
        probes,
        bridge: topology.bridge.name.clone(),
        silent,
    };
    let ready = attach_all(&set.probes, &set.bridge, analysis.overlay_mtu)
        .and_then(|()| warm_up(&set.probes, analysis.protection));
    match ready {
        Ok(()) => Ok(Some(set)),
        Err(e) => {
            let _ = set.remove();
            Err(e)
        }
    }
}

impl VlanProbes {
    /// The namespace of the first probe (the one that sends broadcasts).
    pub(crate) fn sender_netns(&self) -> &str {
        &self.probes[0].netns
    }

    /// Removes the probes.
    pub(crate) fn remove(self) -> Result<(), LabError> {
        remove_all(&self.probes, &self.bridge)
    }
}
