//! The gateway part of `lab check`, for every VLAN with a gateway (issue 11): the
//! distributed gateway answers on every host, NAT hides containers behind their own
//! host, a published port is reached from outside and nothing unpublished is, and the
//! gateway's frames never cross a tunnel.
//!
//! Per probe of such a VLAN: a ping to the gateway; with `nat: true` a ping to the
//! outside (see `outside`), a TCP connection to the outside's responder that must report
//! the probe's *host* underlay address as source, and a ping from the outside (routed to
//! that host) that must get no answer; a port published with `ovsnet publish`'s code,
//! fetched from the outside through the host's underlay address. Per host and VLAN,
//! after that traffic: `ovs-appctl fdb/show` must show the gateway MAC on no tunnel port
//! (a gateway frame that crossed a tunnel would have taught it there), and the gateway
//! port's `mac_in_use` must be the cluster's one gateway MAC of the VLAN, and its device
//! in the host namespace must have the overlay MTU.

use super::gateway_report::{GatewayReport, GatewayResult, GatewayTest};
use super::layout::HostPaths;
use super::outside::{self, Responder};
use super::probe::Probe;
use super::traffic::{run_pings, Pace};
use super::LabError;
use crate::observe::observe_with;
use crate::ovsdb::Client;
use crate::publish::{self, Mapping};
use crate::state::{HostState, MARK_ROLE};
use crate::topology::{Topology, Vlan};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Seconds a ping that must get through may take.
const REACH_DEADLINE: u32 = 4;
/// Seconds a ping that must not get through is given.
const BLOCKED_DEADLINE: u32 = 2;
/// How long a published port or the NAT may take to work (the host's agent reads them
/// from OVSDB).
const PUBLISH_DEADLINE: Duration = Duration::from_secs(10);
/// The port the probe listens on behind its published port.
const PROBE_PORT: u16 = 8080;
/// Host port of VLAN `id`'s probe: this plus the id (one probe per VLAN and host).
const HOST_PORT_BASE: u16 = 40000;
/// How long one OVSDB connection may take.
const OVSDB_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the gateway tests on the attached `probes`; an empty report when no VLAN has a
/// gateway. The published ports go with the probes (their container ports hold them).
pub(crate) fn run(
    topology: &Topology,
    run_root: &Path,
    probes: &[Probe],
    overlay_mtu: u32,
) -> Result<GatewayReport, LabError> {
    let served: Vec<(&Probe, &Vlan)> = probes
        .iter()
        .filter_map(|p| {
            let vlan = topology.vlans.iter().find(|v| v.id == p.r.vlan_id)?;
            vlan.gateway.is_some().then_some((p, vlan))
        })
        .collect();
    if served.is_empty() {
        return Ok(GatewayReport::default());
    }
    outside::ensure(topology)?;
    let outside_ip = outside::address(topology);
    let underlay: BTreeMap<&str, Ipv4Addr> = topology
        .hosts
        .iter()
        .map(|h| (h.name.as_str(), h.underlay_ip))
        .collect();
    let host_ip = |p: &Probe| underlay.get(p.r.host.as_str()).copied();
    let mut results = Vec::new();
    let mut add = |p: &Probe, test, outcome: Result<(), String>| {
        results.push(GatewayResult {
            host: p.r.host.clone(),
            vlan: p.r.vlan.clone(),
            test,
            ok: outcome.is_ok(),
            detail: outcome.err().unwrap_or_default(),
        });
    };

    // What the outside side sees: one responder for every probe's connection.
    let responder = Responder::start(
        &super::layout::outside_netns(&topology.cluster),
        outside_ip,
        0,
    )?;
    // Behind each published port, a responder in the probe (it reports the source it
    // saw, which is the outside's: DNAT keeps the client's address).
    let mut probe_servers = Vec::new();
    for (p, _) in &served {
        probe_servers.push(Responder::start(&p.netns, p.r.address, PROBE_PORT)?);
        publish_probe(p)?;
    }
    // Routes in the outside to each NAT probe's host range via its host: the packet gets
    // to the right host, and only that host's firewall can keep it out.
    for (p, vlan) in served.iter().filter(|(_, v)| v.nat) {
        let range = topology
            .hosts
            .iter()
            .find(|h| h.name == p.r.host)
            .and_then(|h| h.ranges.get(&vlan.name));
        if let (Some(range), Some(via)) = (range, host_ip(p)) {
            outside::route_via(&topology.cluster, &range.to_string(), via)?;
        }
    }

    // Pings that must get through: to the gateway, and (NAT) to the outside.
    let mut pings = Vec::new();
    let mut asked = Vec::new();
    for (p, vlan) in &served {
        if let Some(gw) = vlan.gateway {
            pings.push((p.netns.clone(), gw, None));
            asked.push((
                *p,
                GatewayTest::Gateway,
                format!("no reply from the gateway {gw}"),
            ));
        }
        if vlan.nat {
            pings.push((p.netns.clone(), outside_ip, None));
            asked.push((
                *p,
                GatewayTest::Outside,
                format!("no reply from the outside {outside_ip}"),
            ));
        }
    }
    for ((p, test, why), ok) in asked.into_iter().zip(run_pings(
        &pings,
        REACH_DEADLINE,
        Pace::of_machine().idle_pings,
    )?) {
        add(p, test, if ok { Ok(()) } else { Err(why) });
    }

    // NAT source, judged by what the outside saw.
    let to_outside = SocketAddr::from((outside_ip, responder.port));
    let nat: Vec<&Probe> = served
        .iter()
        .filter(|(_, v)| v.nat)
        .map(|(p, _)| *p)
        .collect();
    let seen: Vec<Result<Ipv4Addr, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = nat
            .iter()
            .map(|p| {
                let expected = host_ip(p);
                scope.spawn(move || settled_source(&p.netns, to_outside, expected))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err("worker panicked".into())))
            .collect()
    });
    for (p, seen) in nat.iter().zip(seen) {
        let expected = host_ip(p);
        let outcome = match seen {
            Ok(a) if Some(a) == expected => Ok(()),
            Ok(a) => Err(format!(
                "the outside saw source {a}, not {}'s underlay address {}",
                p.r.host,
                expected.map_or("?".into(), |e| e.to_string())
            )),
            Err(e) => Err(e),
        };
        add(p, GatewayTest::NatSource, outcome);
    }

    // Published ports, fetched from the outside through each host's underlay address.
    let fetched: Vec<Result<String, String>> = std::thread::scope(|scope| {
        let workers: Vec<_> = served
            .iter()
            .map(|(p, _)| {
                let to = host_ip(p).map(|ip| SocketAddr::from((ip, host_port(p))));
                let cluster = topology.cluster.as_str();
                scope.spawn(move || match to {
                    Some(to) => outside::fetch_from_outside(cluster, to, PUBLISH_DEADLINE),
                    None => Err("the probe's host has no underlay address".into()),
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|_| Err("worker panicked".into())))
            .collect()
    });
    for ((p, _), answer) in served.iter().zip(fetched) {
        let outcome = match answer {
            Ok(text) if text.trim() == outside_ip.to_string() => Ok(()),
            Ok(text) => Err(format!(
                "host port {} answered `{}`, not the probe's report of the outside {outside_ip}",
                host_port(p),
                text.trim()
            )),
            Err(e) => Err(format!("published {}:{PROBE_PORT}: {e}", host_port(p))),
        };
        add(p, GatewayTest::Published, outcome);
    }

    // Nothing unpublished gets in: a ping from the outside to each NAT probe.
    let outside_ns = super::layout::outside_netns(&topology.cluster);
    let blocked: Vec<_> = nat
        .iter()
        .map(|p| (outside_ns.clone(), p.r.address, None))
        .collect();
    for (p, reached) in nat.iter().zip(run_pings(
        &blocked,
        BLOCKED_DEADLINE,
        Pace::of_machine().idle_pings,
    )?) {
        let outcome = if reached {
            Err(format!(
                "the outside reached the probe {} unpublished (ping answered)",
                p.r.address
            ))
        } else {
            Ok(())
        };
        add(p, GatewayTest::Unpublished, outcome);
    }
    drop(probe_servers);
    drop(responder);

    // After all that traffic: each host's FDB and gateway MAC, per gateway VLAN.
    let vlans: Vec<&Vlan> = topology
        .vlans
        .iter()
        .filter(|v| v.gateway.is_some())
        .collect();
    for h in &topology.hosts {
        let served_here: Vec<&Probe> = served
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| p.r.host == h.name)
            .collect();
        if served_here.is_empty() {
            continue;
        }
        let paths = HostPaths::new(run_root, &topology.cluster, &h.name);
        let state = observe_host(&paths.db_sock)?;
        let fdb = fdb_show(&paths.vswitchd_ctl, &topology.bridge.name);
        for vlan in &vlans {
            let Some(probe) = served_here.iter().find(|q| q.r.vlan_id == vlan.id) else {
                continue;
            };
            let expected =
                crate::gateway::mac_text(crate::gateway::mac(&topology.cluster, vlan.id));
            add(
                probe,
                GatewayTest::Fdb,
                judge_fdb(&fdb, &state, &topology.bridge.name, &expected),
            );
            add(
                probe,
                GatewayTest::Mac,
                judge_mac(&state, &topology.bridge.name, vlan.id, &expected),
            );
            let mtu = judge_mtu(&probe.host_netns, vlan.id, overlay_mtu);
            add(probe, GatewayTest::Mtu, mtu);
        }
    }
    results.sort_by_key(|r| {
        let vlan = topology.vlans.iter().position(|v| v.name == r.vlan);
        let host = topology.hosts.iter().position(|h| h.name == r.host);
        (vlan, host, r.test)
    });
    Ok(GatewayReport {
        outside: Some(outside_ip),
        results,
    })
}

/// What the outside saw as the probe's source, asked again (bounded) until it is
/// `expected`: the agent writes its NAT table once it has read the host's OVSDB, which
/// may be just after `apply` returned. A wrong answer at the deadline is the verdict.
fn settled_source(
    netns: &str,
    outside: SocketAddr,
    expected: Option<Ipv4Addr>,
) -> Result<Ipv4Addr, String> {
    let start = std::time::Instant::now();
    loop {
        let seen = outside::seen_source(netns, outside);
        if seen.as_ref().ok() == expected.as_ref() || start.elapsed() >= PUBLISH_DEADLINE {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The host port the probe's published port uses.
fn host_port(p: &Probe) -> u16 {
    HOST_PORT_BASE + p.r.vlan_id
}

/// Publishes the probe's port with `ovsnet publish`'s code (it goes with the probe).
fn publish_probe(p: &Probe) -> Result<(), LabError> {
    let mapping = Mapping {
        host_port: host_port(p),
        port: PROBE_PORT,
        proto: crate::agent::intent::Proto::Tcp,
    };
    let mut client = connect(&p.sock)?;
    publish::publish(&mut client, &p.netns, mapping, true)
        .map_err(|e| LabError::Bug(format!("publish on probe {}: {e}", p.netns)))
}

fn connect(sock: &Path) -> Result<Client, LabError> {
    let endpoint = format!("unix:{}", sock.display());
    Client::connect(&endpoint, OVSDB_TIMEOUT).map_err(|e| {
        LabError::Plumbing(Box::new(super::ovsdb_plumbing::PlumbingError::Ovsdb {
            sock: sock.to_path_buf(),
            error: Box::new(e),
        }))
    })
}

/// Everything the host's OVSDB holds.
fn observe_host(sock: &Path) -> Result<HostState, LabError> {
    let mut client = connect(sock)?;
    observe_with(&mut client)
        .map(|o| o.state)
        .map_err(|e| LabError::Bug(format!("cannot read {}: {e}", sock.display())))
}

/// `ovs-appctl fdb/show BRIDGE`: `(port, vlan, mac)` per learned entry, or what failed.
fn fdb_show(ctl: &Path, bridge: &str) -> Result<Vec<(String, u16, String)>, String> {
    let out = Command::new("ovs-appctl")
        .arg("-t")
        .arg(ctl)
        .args(["fdb/show", bridge])
        .output()
        .map_err(|e| format!("cannot run ovs-appctl: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ovs-appctl fdb/show failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(parse_fdb(&String::from_utf8_lossy(&out.stdout)))
}

/// The rows of `fdb/show`'s table (` port  VLAN  MAC  Age`); the header is skipped.
fn parse_fdb(text: &str) -> Vec<(String, u16, String)> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let port = words.next()?;
            let vlan = words.next()?.parse().ok()?;
            let mac = words.next()?.to_ascii_lowercase();
            Some((port.to_string(), vlan, mac))
        })
        .collect()
}

/// Passes when no FDB entry puts the gateway MAC `mac` on a tunnel port.
fn judge_fdb(
    fdb: &Result<Vec<(String, u16, String)>, String>,
    state: &HostState,
    bridge: &str,
    mac: &str,
) -> Result<(), String> {
    let entries = fdb.as_ref().map_err(Clone::clone)?;
    let Some(b) = state.bridges.get(bridge) else {
        return Err(format!("no bridge `{bridge}` in OVSDB"));
    };
    // fdb/show names a port by its OpenFlow number (or its name): know both.
    let mut tunnels: BTreeMap<String, String> = BTreeMap::new();
    for (name, port) in &b.ports {
        if port.row.external_id(MARK_ROLE) != Some("tunnel") {
            continue;
        }
        tunnels.insert(name.clone(), name.clone());
        for iface in port.interfaces.values() {
            if let Some(ofport) = iface.runtime.as_ref().and_then(|r| r.ofport) {
                tunnels.insert(ofport.to_string(), name.clone());
            }
        }
    }
    let on_tunnels: Vec<String> = entries
        .iter()
        .filter(|(_, _, m)| m == mac)
        .filter_map(|(port, vlan, _)| {
            tunnels
                .get(port)
                .map(|name| format!("tunnel port `{name}` (VLAN {vlan})"))
        })
        .collect();
    if on_tunnels.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "gateway MAC {mac} learned on {}: a gateway frame crossed a tunnel",
            on_tunnels.join(", ")
        ))
    }
}

/// Passes when the gateway port of VLAN `id` uses the MAC `mac`.
fn judge_mac(state: &HostState, bridge: &str, id: u16, mac: &str) -> Result<(), String> {
    let name = crate::gateway::port_name(id);
    let iface = state
        .bridges
        .get(bridge)
        .and_then(|b| b.ports.get(&name))
        .and_then(|p| p.interfaces.get(&name))
        .ok_or_else(|| format!("no gateway port `{name}` on `{bridge}`"))?;
    let in_use = iface.runtime.as_ref().and_then(|r| r.mac_in_use.clone());
    match in_use {
        Some(m) if m.eq_ignore_ascii_case(mac) => Ok(()),
        Some(m) => Err(format!(
            "gateway port `{name}` uses MAC {m}, not the cluster's gateway MAC {mac}"
        )),
        None => Err(format!("gateway port `{name}` reports no MAC in use")),
    }
}

/// Passes when the gateway device of VLAN `id` in the host namespace has MTU `mtu`.
fn judge_mtu(host_netns: &str, id: u16, mtu: u32) -> Result<(), String> {
    let name = crate::gateway::port_name(id);
    let lookup = name.clone();
    let ns = crate::linux::Netns::Named(host_netns.to_string());
    let link = crate::linux::in_netns(&ns, |nl| async move { nl.link(&lookup).await })
        .map_err(|e| format!("cannot read the gateway device `{name}`: {e}"))?;
    match link.map(|l| l.mtu) {
        Some(Some(m)) if m == mtu => Ok(()),
        Some(Some(m)) => Err(format!(
            "gateway device `{name}` has MTU {m}, not the overlay MTU {mtu}"
        )),
        Some(None) => Err(format!("gateway device `{name}` reports no MTU")),
        None => Err(format!("no gateway device `{name}` in {host_netns}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdb_rows_are_read_and_the_header_skipped() {
        let text = " port  VLAN  MAC                Age\n    1    10  02:AA:bb:cc:dd:ee    3\nLOCAL     0  0a:00:00:00:00:01    0\n";
        assert_eq!(
            parse_fdb(text),
            [
                ("1".to_string(), 10, "02:aa:bb:cc:dd:ee".to_string()),
                ("LOCAL".to_string(), 0, "0a:00:00:00:00:01".to_string()),
            ]
        );
    }
}
