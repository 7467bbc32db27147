//! `lab check`: probes on the overlay and real traffic between them. For every host and
//! every VLAN it has a range in, a probe (a namespace and a veth tagged into the overlay
//! bridge); then ICMP, a TCP exchange and a full-MTU don't-fragment ping between pairs
//! of probes of one VLAN, and an isolation test between pairs of probes of different
//! VLANs: every pair (`--full`, the default up to [`SAMPLE_ABOVE`] hosts) or a sample
//! that grows linearly with the lab (see `sample`; the output says which and what a
//! sample cannot see). Probes are plugged in by `ovsnet attach`'s code (see `probe`).
//!
//! The check must not starve what it measures: on 2 cores the lab's switches and the
//! check share the CPU, so tests run paced ([`Pace`], from the core count), and a pair
//! that fails is tested again alone, with longer deadlines, before it is called broken
//! (at most [`RETRY_LIMIT`] of them, so a broken lab still ends in bounded time).
//!
//! Isolation must prove something. Probes of different VLANs sit in different subnets, so
//! a plain ping between them fails even on a single flat segment (no route). Instead each
//! probe gets a route to the other VLANs' subnets *on its own interface*: the two probes
//! of a pair are then one ARP away from each other, and the only thing that keeps them
//! apart is the overlay's VLAN separation. A leak between the VLANs makes that ping succeed.
//!
//! Order: attach the probes; warm up (first reply per probe, or a deadline); watch the
//! datapath counters until the warm-up's ARP broadcasts have drained, or for a storm
//! they set off (if it does not fall quiet in time, stop: the check has failed); the
//! same-VLAN tests, paced, then the retries; the isolation tests; and last, once the
//! overlay is quiet again, one ARP broadcast, measured. Every step is bounded in time.
//! Two checks of one lab at once would fight over probe names.

use super::gateway_check;
use super::layout::{self, HostPaths};
use super::ovsdb_plumbing;
use super::probe::{self, Probe};
use super::report::{CheckReport, Isolation, Pacing, PairResult, VlanMatrix};
use super::sample::{self, Choice, Coverage, Mode, SAMPLE_ABOVE};
use super::storm::{self, StormReport};
use super::sys::{ip, run};
use super::traffic::{self, run_pings, warm_up, Deadlines, Pace};
use super::LabError;
use crate::fanout::{self, Flow};
use crate::topology::{Analysis, Topology};
use std::path::Path;
use std::time::{Duration, Instant};

/// The paced round: seconds a same-VLAN ping may take to get its first reply, and the
/// bound of a TCP exchange.
const FIRST_ROUND: Deadlines = Deadlines {
    ping: 4,
    tcp: Duration::from_secs(5),
};
/// The retry of a failing pair, alone: longer, for a path that was only slow.
const RETRY_ROUND: Deadlines = Deadlines {
    ping: 6,
    tcp: Duration::from_secs(8),
};
/// At most this many failing pairs are retried (each alone, one after the other, up to
/// [`RETRY_ROUND`]'s deadlines): the rest keep their first result.
pub const RETRY_LIMIT: usize = 32;
/// Seconds a cross-VLAN ping is given to (wrongly) get through; run after the same-VLAN
/// tests, when every path has settled.
const ISOLATION_DEADLINE: u32 = 2;
/// How long the datapath counters are watched for a storm before the traffic tests
/// and before the broadcast test (one window at a time, until quiet; see `storm::settle`).
const QUIET_WINDOW: Duration = Duration::from_millis(400);
/// How long the broadcast test watches the datapath counters.
const BROADCAST_WINDOW: Duration = Duration::from_millis(700);

/// Which pairs to test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pairs {
    /// Every pair up to `sample_above` hosts, a sample above.
    #[default]
    Auto,
    /// Every pair.
    Full,
    /// A sample, whatever the size.
    Sampled,
}

/// How to run a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// Leave the probes in place afterwards.
    pub keep_probes: bool,
    /// Every pair, a sample, or by size.
    pub pairs: Pairs,
    /// With [`Pairs::Auto`], sample when the lab has more hosts than this.
    pub sample_above: usize,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            keep_probes: false,
            pairs: Pairs::Auto,
            sample_above: SAMPLE_ABOVE,
        }
    }
}

/// Attaches probes, runs the traffic tests (every pair up to [`SAMPLE_ABOVE`] hosts, a
/// sample above), and removes the probes unless `keep_probes`.
pub fn check(
    topology: &Topology,
    analysis: &Analysis,
    run_root: &Path,
    keep_probes: bool,
) -> Result<CheckReport, LabError> {
    let options = CheckOptions {
        keep_probes,
        ..CheckOptions::default()
    };
    check_with(topology, analysis, run_root, &options)
}

/// [`check`] with every option.
pub fn check_with(
    topology: &Topology,
    analysis: &Analysis,
    run_root: &Path,
    options: &CheckOptions,
) -> Result<CheckReport, LabError> {
    let started = Instant::now();
    let keep_probes = options.keep_probes;
    let run_root = super::absolute(run_root);
    let pace = Pace::of_machine();
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
    let (choice, coverage) = choose_pairs(topology, analysis, &probes, options)?;
    let mut pacing = Pacing {
        pairs_at_once: pace.pairs,
        idle_pings_at_once: pace.idle_pings,
        retry_limit: RETRY_LIMIT,
        ..Pacing::default()
    };
    let attached = probe::attach_all(&mut probes, pace.attach);
    let report = attached.and_then(|()| {
        warm_up(&probes, analysis.protection)?;
        // The warm-up's pings began with ARP broadcasts: a loop is already storming. If
        // so, stop here: the check fails whatever else happens, and the traffic tests
        // would only prolong the storm (each waiting out its deadline).
        let background = storm::settle(topology, &run_root, QUIET_WINDOW)?;
        if background.is_storm() {
            pacing.elapsed_ms = elapsed_ms(started);
            return Ok(CheckReport {
                overlay_mtu: analysis.overlay_mtu,
                coverage: coverage.clone(),
                pacing: pacing.clone(),
                vlans: Vec::new(),
                isolation: Vec::new(),
                broadcast: background,
                traffic_skipped: true,
                kept_probes: Vec::new(),
                gateway: Default::default(),
                dhcp: Default::default(),
            });
        }
        let results = paced_pairs(
            &probes,
            &choice.reach,
            analysis.overlay_mtu,
            pace,
            &mut pacing,
        )?;
        let vlans = same_vlan_matrices(topology, &probes, &choice.reach, &results)?;
        let isolation = isolation_tests(topology, &probes, &choice.isolation, keep_probes, pace)?;
        let gateway = gateway_check::run(topology, &run_root, &probes, analysis.overlay_mtu)?;
        let dhcp = super::dhcp_check::run_all(topology, &run_root, analysis.overlay_mtu);
        // Last, on a network the traffic tests have shown settled (an RSTP tree can still
        // be discarding right after the warm-up, and a broadcast then goes nowhere).
        let broadcast = broadcast_test(topology, &run_root, &probes)?;
        pacing.elapsed_ms = elapsed_ms(started);
        Ok(CheckReport {
            overlay_mtu: analysis.overlay_mtu,
            coverage: coverage.clone(),
            pacing: pacing.clone(),
            vlans,
            isolation,
            broadcast,
            traffic_skipped: false,
            kept_probes: Vec::new(),
            gateway,
            dhcp,
        })
    });
    if keep_probes {
        return report.map(|mut r| {
            r.kept_probes = probes.iter().map(|p| p.netns.clone()).collect();
            r
        });
    }
    let removed = probe::remove_all(&probes, pace.attach);
    let mut report = report?;
    removed?;
    // The removal is part of the check's time.
    report.pacing.elapsed_ms = elapsed_ms(started);
    Ok(report)
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Full or sampled (by the options and the lab's size), the pairs, and what they cover.
fn choose_pairs(
    topology: &Topology,
    analysis: &Analysis,
    probes: &[Probe],
    options: &CheckOptions,
) -> Result<(Choice, Coverage), LabError> {
    let hosts = topology.hosts.len();
    let (mode, reason) = match options.pairs {
        Pairs::Full => (Mode::Full, "--full".to_string()),
        Pairs::Sampled => (Mode::Sampled, "--sample".to_string()),
        Pairs::Auto if hosts > options.sample_above => (
            Mode::Sampled,
            format!("{hosts} hosts, more than {}", options.sample_above),
        ),
        Pairs::Auto => (
            Mode::Full,
            format!("{hosts} hosts, at most {}", options.sample_above),
        ),
    };
    let keys = probes
        .iter()
        .map(|p| {
            topology
                .hosts
                .iter()
                .position(|h| h.name == p.r.host)
                .map(|i| (i, p.r.vlan_id))
                .ok_or_else(|| LabError::Bug("probe of an unknown host".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tunnels = analysis.edges();
    let choice = sample::choose(&keys, &tunnels, mode);
    let coverage = sample::coverage(&keys, &tunnels, &choice, mode, reason);
    Ok((choice, coverage))
}

/// The three tests of every pair, at most `pace.pairs` pairs at once; then every failing
/// pair (up to [`RETRY_LIMIT`]) again, alone, with longer deadlines. Results in pair order.
fn paced_pairs(
    probes: &[Probe],
    pairs: &[(usize, usize)],
    mtu: u32,
    pace: Pace,
    pacing: &mut Pacing,
) -> Result<Vec<PairResult>, LabError> {
    let mut results = Vec::with_capacity(pairs.len());
    fanout::ordered(
        pairs,
        pace.pairs,
        |&(a, b)| traffic::test_pair(&probes[a], &probes[b], mtu, FIRST_ROUND),
        |_, result| {
            results.push(result?);
            Ok::<_, LabError>(Flow::Continue)
        },
    )?;
    let failing: Vec<usize> = (0..results.len()).filter(|&i| !results[i].ok()).collect();
    pacing.not_retried = failing.len().saturating_sub(RETRY_LIMIT);
    for &i in failing.iter().take(RETRY_LIMIT) {
        let (a, b) = pairs[i];
        let mut again = traffic::test_pair(&probes[a], &probes[b], mtu, RETRY_ROUND)?;
        again.retried = true;
        pacing.retried += 1;
        if again.ok() {
            pacing.recovered += 1;
        }
        results[i] = again;
    }
    Ok(results)
}

/// One matrix per VLAN with probes; cells of pairs not tested stay empty.
fn same_vlan_matrices(
    topology: &Topology,
    probes: &[Probe],
    pairs: &[(usize, usize)],
    results: &[PairResult],
) -> Result<Vec<VlanMatrix>, LabError> {
    let mut matrices = Vec::new();
    for vlan in &topology.vlans {
        // Probe index -> row/column of this VLAN's matrix.
        let members: Vec<usize> = (0..probes.len())
            .filter(|&i| probes[i].r.vlan_id == vlan.id)
            .collect();
        if members.is_empty() {
            continue;
        }
        let index = |probe: usize| members.iter().position(|&m| m == probe);
        let mut cells = vec![vec![None; members.len()]; members.len()];
        for (&(a, b), result) in pairs.iter().zip(results) {
            if probes[a].r.vlan_id != vlan.id {
                continue;
            }
            let (Some(i), Some(j)) = (index(a), index(b)) else {
                return Err(LabError::Bug("pair across VLANs".into()));
            };
            cells[i][j] = Some(*result);
        }
        matrices.push(VlanMatrix {
            vlan: vlan.name.clone(),
            vlan_id: vlan.id,
            hosts: members.iter().map(|&m| probes[m].r.host.clone()).collect(),
            cells,
        });
    }
    Ok(matrices)
}

/// One broadcast from the first probe, and how much work it made: a loop re-floods it
/// for ever. Loops ignore VLANs (tunnels are trunks), so one VLAN is enough. First the
/// overlay must be quiet: the tests before it leave ARP retries in flight, and counting
/// those as the broadcast's work calls a big lab a storm. If it never falls quiet, that
/// background is the verdict.
fn broadcast_test(
    topology: &Topology,
    run_root: &Path,
    probes: &[Probe],
) -> Result<StormReport, LabError> {
    let Some(first) = probes.first() else {
        return Ok(StormReport::default());
    };
    let background = storm::settle(topology, run_root, QUIET_WINDOW)?;
    if background.is_storm() {
        return Ok(background);
    }
    let silent = probe::silent_address(topology, first.r.vlan_id)?;
    storm::measure(
        topology,
        run_root,
        Some((&first.netns, silent)),
        BROADCAST_WINDOW,
    )
}

/// The cross-VLAN pairs: every probe in one gets an on-link route to the subnet of each
/// VLAN it is paired with, then one ping per pair, `pace.idle_pings` at once.
fn isolation_tests(
    topology: &Topology,
    probes: &[Probe],
    pairs: &[(usize, usize)],
    keep_probes: bool,
    pace: Pace,
) -> Result<Vec<Isolation>, LabError> {
    let mut routes = std::collections::BTreeSet::new();
    for &(a, b) in pairs {
        routes.insert((a, probes[b].r.vlan_id));
        routes.insert((b, probes[a].r.vlan_id));
    }
    let routes: Vec<(usize, String)> = routes
        .into_iter()
        .map(|(p, vlan_id)| {
            topology
                .vlans
                .iter()
                .find(|v| v.id == vlan_id)
                .map(|v| (p, v.subnet.to_string()))
                .ok_or_else(|| LabError::Bug("probe of an unknown VLAN".into()))
        })
        .collect::<Result<_, _>>()?;
    set_routes(probes, &routes, "replace", pace)?;
    let pings: Vec<_> = pairs
        .iter()
        .map(|&(a, b)| (probes[a].netns.clone(), probes[b].r.address, None))
        .collect();
    let reached = run_pings(&pings, ISOLATION_DEADLINE, pace.idle_pings)?;
    if keep_probes {
        set_routes(probes, &routes, "del", pace)?;
    }
    Ok(pairs
        .iter()
        .zip(reached)
        .map(|(&(a, b), reached)| Isolation {
            a: probes[a].r.clone(),
            b: probes[b].r.clone(),
            isolated: !reached,
        })
        .collect())
}

/// `ip route VERB <subnet> dev eth0` in each probe's namespace.
fn set_routes(
    probes: &[Probe],
    routes: &[(usize, String)],
    verb: &str,
    pace: Pace,
) -> Result<(), LabError> {
    fanout::ordered(
        routes,
        pace.attach,
        |(p, subnet)| {
            run(&mut ip(
                &probes[*p].netns,
                &["route", verb, subnet, "dev", layout::PROBE_INNER],
            ))
        },
        |_, done| done.map(|()| Flow::Continue),
    )
    .map(|_| ())
}
