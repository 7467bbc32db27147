//! `lab check`: probes on the overlay and real traffic between them. For every host and
//! every VLAN it has a range in, a probe (a namespace and a veth tagged into the overlay
//! bridge); then ICMP, a TCP exchange and a full-MTU don't-fragment ping between every
//! pair of probes of one VLAN, and an isolation test between every pair of probes of
//! different VLANs. Probes are plugged in by `ovsnet attach`'s code (see `probe`).
//!
//! Isolation must prove something. Probes of different VLANs sit in different subnets, so
//! a plain ping between them fails even on a single flat segment (no route). Instead each
//! probe of the pair gets a host route to the other *on its own interface*: the two are
//! then one ARP away from each other, and the only thing that keeps them apart is the
//! overlay's VLAN separation. A leak between the VLANs makes that ping succeed.
//!
//! Order: attach the probes; warm up (first reply per probe, or a deadline); watch the
//! datapath counters for a storm the warm-up's ARP broadcasts set off (if so, stop: the
//! check has failed); the same-VLAN tests, all pairs at once; the isolation tests; and
//! last one ARP broadcast, measured, on a network the tests have shown settled. Every
//! step is bounded in time. Two checks of one lab at once would fight over probe names.

use super::gateway_check;
use super::layout::{self, HostPaths};
use super::ovsdb_plumbing;
use super::probe::{self, Probe};
use super::report::{CheckReport, Isolation, PairResult, VlanMatrix};
use super::storm::{self, StormReport};
use super::sys::{ip, run};
use super::traffic::{run_pings, tcp_all, warm_up};
use super::LabError;
use crate::topology::{Analysis, Topology};
use std::path::Path;
use std::time::Duration;

/// Seconds a same-VLAN ping may take to get its first reply.
const REACH_DEADLINE: u32 = 4;
/// Seconds a cross-VLAN ping is given to (wrongly) get through; run after the same-VLAN
/// tests, when every path has settled.
const ISOLATION_DEADLINE: u32 = 2;
/// How long the datapath counters are watched for a storm before the traffic tests.
const QUIET_WINDOW: Duration = Duration::from_millis(400);
/// How long the broadcast test watches the datapath counters.
const BROADCAST_WINDOW: Duration = Duration::from_millis(700);

/// Attaches probes, runs the traffic tests, and removes the probes unless `keep_probes`.
pub fn check(
    topology: &Topology,
    analysis: &Analysis,
    run_root: &Path,
    keep_probes: bool,
) -> Result<CheckReport, LabError> {
    let run_root = super::absolute(run_root);
    let mut probes = probe::plan_probes(topology, &run_root);
    let bridge = topology.bridge.name.as_str();
    for h in super::status_of(topology, &run_root).hosts {
        if let super::Health::Degraded(why) = h.health {
            return Err(LabError::NotUp { host: h.name, why });
        }
        if h.health == super::Health::Down {
            return Err(LabError::NotUp {
                host: h.name,
                why: "nothing running".into(),
            });
        }
    }
    for h in &topology.hosts {
        let sock = HostPaths::new(&run_root, &topology.cluster, &h.name).db_sock;
        if !ovsdb_plumbing::bridge_exists(&sock, bridge)? {
            return Err(LabError::NoOverlayBridge {
                host: h.name.clone(),
                bridge: bridge.to_string(),
            });
        }
    }
    let attached = probe::attach_all(&mut probes);
    let report = attached.and_then(|()| {
        warm_up(&probes, analysis.protection)?;
        // The warm-up's pings began with ARP broadcasts: a loop is already storming. If
        // so, stop here: the check fails whatever else happens, and the traffic tests
        // would only prolong the storm (each waiting out its deadline).
        let background = storm::measure(topology, &run_root, None, QUIET_WINDOW)?;
        if background.is_storm() {
            return Ok(CheckReport {
                overlay_mtu: analysis.overlay_mtu,
                vlans: Vec::new(),
                isolation: Vec::new(),
                broadcast: background,
                traffic_skipped: true,
                kept_probes: Vec::new(),
                gateway: Default::default(),
            });
        }
        let vlans = same_vlan_matrices(topology, &probes, analysis.overlay_mtu)?;
        let isolation = isolation_tests(&probes, keep_probes)?;
        let gateway = gateway_check::run(topology, &run_root, &probes, analysis.overlay_mtu)?;
        // Last, on a network the traffic tests have shown settled (an RSTP tree can still
        // be discarding right after the warm-up, and a broadcast then goes nowhere).
        let broadcast = broadcast_test(topology, &run_root, &probes)?;
        Ok(CheckReport {
            overlay_mtu: analysis.overlay_mtu,
            vlans,
            isolation,
            broadcast,
            traffic_skipped: false,
            kept_probes: Vec::new(),
            gateway,
        })
    });
    if keep_probes {
        return report.map(|mut r| {
            r.kept_probes = probes.iter().map(|p| p.netns.clone()).collect();
            r
        });
    }
    let removed = probe::remove_all(&probes);
    let report = report?;
    removed?;
    Ok(report)
}

/// ICMP, full-MTU ping and TCP for every directed pair of one VLAN, all at once.
fn same_vlan_matrices(
    topology: &Topology,
    probes: &[Probe],
    mtu: u32,
) -> Result<Vec<VlanMatrix>, LabError> {
    let pairs: Vec<(&Probe, &Probe)> = probes
        .iter()
        .flat_map(|a| probes.iter().map(move |b| (a, b)))
        .filter(|(a, b)| a.r.vlan_id == b.r.vlan_id && a.r.host != b.r.host)
        .collect();
    let results = pair_results(&pairs, mtu)?;
    let mut matrices = Vec::new();
    for vlan in &topology.vlans {
        let hosts: Vec<String> = probes
            .iter()
            .filter(|p| p.r.vlan_id == vlan.id)
            .map(|p| p.r.host.clone())
            .collect();
        if hosts.is_empty() {
            continue;
        }
        let index = |host: &str| hosts.iter().position(|h| h == host);
        let mut cells = vec![vec![None; hosts.len()]; hosts.len()];
        for ((a, b), result) in pairs.iter().zip(&results) {
            if a.r.vlan_id != vlan.id {
                continue;
            }
            let (Some(i), Some(j)) = (index(&a.r.host), index(&b.r.host)) else {
                return Err(LabError::Bug("probe of an unknown host".into()));
            };
            cells[i][j] = Some(*result);
        }
        matrices.push(VlanMatrix {
            vlan: vlan.name.clone(),
            vlan_id: vlan.id,
            hosts,
            cells,
        });
    }
    Ok(matrices)
}

/// The three tests for each pair, in pair order: pings as child processes while the
/// TCP exchanges run on their own threads.
fn pair_results(pairs: &[(&Probe, &Probe)], mtu: u32) -> Result<Vec<PairResult>, LabError> {
    let mut pings = Vec::new();
    for (a, b) in pairs {
        pings.push((a.netns.clone(), b.r.address, None));
        pings.push((a.netns.clone(), b.r.address, Some(mtu.saturating_sub(28))));
    }
    let jobs: Vec<_> = pairs
        .iter()
        .map(|(a, b)| (a.netns.clone(), b.netns.clone(), b.r.address))
        .collect();
    let tcp = std::thread::spawn(move || tcp_all(jobs));
    let ping_results = run_pings(&pings, REACH_DEADLINE)?;
    let tcp_results = tcp
        .join()
        .map_err(|_| LabError::Bug("tcp worker panicked".into()))?;
    Ok(ping_results
        .chunks(2)
        .zip(tcp_results)
        .map(|(p, tcp)| PairResult {
            icmp: p[0],
            mtu: p[1],
            tcp,
        })
        .collect())
}

/// One broadcast from the first probe, and how much work it made: a loop re-floods it
/// for ever. Loops ignore VLANs (tunnels are trunks), so one VLAN is enough.
fn broadcast_test(
    topology: &Topology,
    run_root: &Path,
    probes: &[Probe],
) -> Result<StormReport, LabError> {
    let Some(first) = probes.first() else {
        return Ok(StormReport::default());
    };
    let silent = probe::silent_address(topology, first.r.vlan_id)?;
    storm::measure(
        topology,
        run_root,
        Some((&first.netns, silent)),
        BROADCAST_WINDOW,
    )
}

/// For every cross-VLAN probe pair: host routes on both sides, then one ping.
fn isolation_tests(probes: &[Probe], keep_probes: bool) -> Result<Vec<Isolation>, LabError> {
    let pairs: Vec<(&Probe, &Probe)> = probes
        .iter()
        .enumerate()
        .flat_map(|(i, a)| probes[i + 1..].iter().map(move |b| (a, b)))
        .filter(|(a, b)| a.r.vlan_id != b.r.vlan_id)
        .collect();
    for (a, b) in &pairs {
        set_host_route(a, b, "replace")?;
        set_host_route(b, a, "replace")?;
    }
    let pings: Vec<_> = pairs
        .iter()
        .map(|(a, b)| (a.netns.clone(), b.r.address, None))
        .collect();
    let reached = run_pings(&pings, ISOLATION_DEADLINE)?;
    if keep_probes {
        for (a, b) in &pairs {
            set_host_route(a, b, "del")?;
            set_host_route(b, a, "del")?;
        }
    }
    Ok(pairs
        .iter()
        .zip(reached)
        .map(|((a, b), reached)| Isolation {
            a: a.r.clone(),
            b: b.r.clone(),
            isolated: !reached,
        })
        .collect())
}

/// `ip route VERB <to>/32 dev eth0` in `on`'s namespace.
fn set_host_route(on: &Probe, to: &Probe, verb: &str) -> Result<(), LabError> {
    let dest = format!("{}/32", to.r.address);
    run(&mut ip(
        &on.netns,
        &["route", verb, &dest, "dev", layout::PROBE_INNER],
    ))
}
