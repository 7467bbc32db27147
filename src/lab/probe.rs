//! Probes: a namespace per (host, VLAN), plugged into the overlay by the same code as
//! `ovsnet attach` (issue 10: one way to plug a container): a container port of the
//! VLAN, an address from the host's range recorded in its OVSDB, the overlay MTU, tx
//! offload off, and the gateway as default route when the VLAN has one. Attaching and
//! removing them, nothing else. While a check runs, `plan` and `containers` show the
//! probes as the containers they are.

use super::layout::{self, HostPaths};
use super::report::ProbeRef;
use super::sys::{self, netns_exec, run};
use super::traffic::{warm_up, Pace};
use super::LabError;
use crate::attach::{self, AttachRequest, Identity, Placement, Selector};
use crate::fanout::{self, Flow};
use crate::linux::Netns;
use crate::ovsdb::Client;
use crate::topology::{Analysis, Topology};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one probe's attach may wait for ovs-vswitchd (and for racing allocations).
const ATTACH_TIMEOUT: Duration = Duration::from_secs(20);

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
    /// The VLAN's gateway (its default route), when the VLAN has one.
    pub gateway: Option<Ipv4Addr>,
}

/// One probe per (VLAN, host with a range in it), VLANs in file order, hosts in file order.
/// The address is a placeholder (the range's first) until [`attach`] sets the real one.
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
                gateway: vlan.gateway,
            });
        }
    }
    probes
}

/// Attaches every probe, at most `workers` at once; each learns its address. Stops at
/// the first failure (probes already attached are removed by [`remove_all`], which goes
/// by name).
pub(crate) fn attach_all(probes: &mut [Probe], workers: usize) -> Result<(), LabError> {
    let planned = probes.to_vec();
    fanout::ordered(
        &planned,
        workers,
        |p| {
            let mut p = p.clone();
            attach(&mut p).map(|()| p)
        },
        |i, attached| {
            probes[i] = attached?;
            Ok::<_, LabError>(Flow::Continue)
        },
    )
    .map(|_| ())
}

/// Builds one probe afresh (an old one of the same name is removed first) with
/// [`attach::attach`], and records the address it got.
pub(crate) fn attach(p: &mut Probe) -> Result<(), LabError> {
    detach(p)?;
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
    let request = AttachRequest {
        vlan: p.r.vlan.clone(),
        identity: Identity::Netns(p.netns.clone()),
        placement: Placement::Into(Netns::Named(p.netns.clone())),
        host_netns: Netns::Named(p.host_netns.clone()),
        ip: None,
        mac: None,
        ifname: layout::PROBE_INNER.into(),
        timeout: ATTACH_TIMEOUT,
    };
    let mut client = connect(&p.sock)?;
    let attached = attach::attach(&mut client, &request).map_err(|e| LabError::Probe {
        probe: p.netns.clone(),
        source: Box::new(e),
    })?;
    p.r.address = attached.address.addr();
    p.gateway = attached.gateway;
    Ok(())
}

/// Removes a probe: its container port and both veth ends ([`attach::detach`]), then
/// its namespace.
pub(crate) fn detach(p: &Probe) -> Result<(), LabError> {
    let mut client = connect(&p.sock)?;
    let detached = attach::detach(
        &mut client,
        &Netns::Named(p.host_netns.clone()),
        &Selector::Identity(Identity::Netns(p.netns.clone())),
    );
    match detached {
        // No such probe: nothing to remove.
        Ok(_) | Err(attach::AttachError::NotFound { .. }) => {}
        Err(e) => {
            return Err(LabError::Probe {
                probe: p.netns.clone(),
                source: Box::new(e),
            })
        }
    }
    sys::delete_netns(&p.netns).map(|_| ())
}

/// A client of the probe's host OVSDB.
fn connect(sock: &Path) -> Result<Client, LabError> {
    let endpoint = format!("unix:{}", sock.display());
    Client::connect(&endpoint, ATTACH_TIMEOUT).map_err(|e| {
        LabError::Plumbing(Box::new(super::ovsdb_plumbing::PlumbingError::Ovsdb {
            sock: sock.to_path_buf(),
            error: Box::new(e),
        }))
    })
}

/// Removes every probe, at most `workers` at once, going on past failures; returns the
/// first.
pub(crate) fn remove_all(probes: &[Probe], workers: usize) -> Result<(), LabError> {
    let mut first_error = None;
    fanout::ordered(probes, workers, detach, |_, removed| {
        if let Err(e) = removed {
            first_error.get_or_insert(e);
        }
        Ok::<_, LabError>(Flow::Continue)
    })?;
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
    let mut set = VlanProbes { probes, silent };
    let ready = attach_all(&mut set.probes, Pace::of_machine().attach)
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
        remove_all(&self.probes, Pace::of_machine().attach)
    }
}
