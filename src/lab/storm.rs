//! Broadcast-storm detection: one broadcast into the overlay, then how much work every
//! host's datapath did in a short window. A loop-free overlay handles a broadcast with a
//! handful of packets per host; a looped one (a mesh without split horizon or RSTP)
//! re-floods it for ever and the counters explode. Bounded in time by `window`.

use super::layout::HostPaths;
use super::sys::run;
use super::LabError;
use super::{probe, traffic};
use crate::topology::{Analysis, Topology};
use serde::Serialize;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Datapath packets per second (all hosts together) above which the overlay is storming.
/// Measured on 4 hosts: a loop-free overlay handles one broadcast with 20 to 160
/// packets in 1.5 s (about 100/s with the underlay's own chatter); an unprotected mesh
/// reaches 200,000 per second and more.
pub const STORM_RATE: u64 = 2_000;

/// Datapath work caused by one broadcast.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StormReport {
    /// Whether a broadcast was sent for the measurement (else it is the background).
    pub triggered: bool,
    /// Length of the measuring window, in milliseconds.
    pub window_ms: u64,
    /// Per host (topology order): packets its datapath looked up during the window.
    pub per_host: Vec<(String, u64)>,
    /// Sum over hosts.
    pub total: u64,
}

impl StormReport {
    /// Whether the growth shows a broadcast storm.
    pub fn is_storm(&self) -> bool {
        self.rate() > STORM_RATE
    }

    /// Datapath packets per second over the window, all hosts together.
    pub fn rate(&self) -> u64 {
        self.total.saturating_mul(1000) / self.window_ms.max(1)
    }

    /// One line: the growth and the verdict.
    pub fn render(&self) -> String {
        let verdict = if self.is_storm() {
            "BROADCAST STORM"
        } else {
            "no storm"
        };
        let what = if self.triggered {
            "broadcast: one ARP broadcast,"
        } else {
            "background, after the probes' first ARP broadcasts:"
        };
        format!(
            "{what} {} datapath packets in {} ms on all hosts ({}/s): {verdict}",
            self.total,
            self.window_ms,
            self.rate()
        )
    }
}

/// Attaches probes in the first VLAN (one per host, paths settled first), sends
/// broadcasts (ARP for an address no probe holds) from the first one and reports each
/// host's datapath lookups during `window`. The probes are removed afterwards.
pub fn storm_probe(
    topology: &Topology,
    analysis: &Analysis,
    run_root: &Path,
    window: Duration,
) -> Result<StormReport, LabError> {
    let run_root = super::absolute(run_root);
    let Some(probes) = probe::attach_vlan(topology, analysis, &run_root)? else {
        return Err(LabError::Bug("no host has a range to probe from".into()));
    };
    let trigger = Some((probes.sender_netns(), probes.silent));
    let measured = measure(topology, &run_root, trigger, window);
    let removed = probes.remove();
    let report = measured?;
    removed?;
    Ok(report)
}

/// Reads every host's datapath counters, waits `window` while the trigger (if any)
/// sends broadcasts from its namespace (ARP for an address nobody holds), and reads
/// them again.
pub(crate) fn measure(
    topology: &Topology,
    run_root: &Path,
    trigger: Option<(&str, Ipv4Addr)>,
    window: Duration,
) -> Result<StormReport, LabError> {
    let before = read_all(topology, run_root)?;
    let mut child = match trigger {
        Some((netns, silent)) => Some(traffic::spawn_broadcast_trigger(netns, silent)?),
        None => None,
    };
    std::thread::sleep(window);
    let after = read_all(topology, run_root);
    if let Some(child) = child.as_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let after = after?;
    let per_host: Vec<(String, u64)> = topology
        .hosts
        .iter()
        .zip(before.iter().zip(&after))
        .map(|(h, (b, a))| (h.name.clone(), a.saturating_sub(*b)))
        .collect();
    Ok(StormReport {
        triggered: trigger.is_some(),
        window_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX),
        total: per_host.iter().map(|(_, n)| n).sum(),
        per_host,
    })
}

/// Every host's datapath lookups, in topology order.
fn read_all(topology: &Topology, run_root: &Path) -> Result<Vec<u64>, LabError> {
    topology
        .hosts
        .iter()
        .map(|h| {
            let ctl = HostPaths::new(run_root, &topology.cluster, &h.name).vswitchd_ctl;
            datapath_lookups(&ctl)
        })
        .collect()
}

/// `hit + missed + lost` from `ovs-appctl -t CTL dpctl/show`: every packet the userspace
/// datapath handled, whatever bridge it arrived on.
fn datapath_lookups(ctl: &Path) -> Result<u64, LabError> {
    let mut cmd = Command::new("ovs-appctl");
    cmd.arg("-t").arg(ctl).arg("dpctl/show");
    let out = cmd.output().map_err(|source| LabError::Spawn {
        program: "ovs-appctl".into(),
        source,
    })?;
    if !out.status.success() {
        // Let `run` produce the error with stderr and the command line.
        run(&mut cmd)?;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    parse_lookups(&text)
        .ok_or_else(|| LabError::Bug(format!("no `lookups:` line in dpctl/show: {text}")))
}

/// The sum of the counters on the `lookups:` line.
fn parse_lookups(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("lookups:"))?;
    let mut total = 0u64;
    for word in line.split_whitespace().skip(1) {
        let (_, n) = word.split_once(':')?;
        total = total.saturating_add(n.parse::<u64>().ok()?);
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::parse_lookups;

    #[test]
    fn lookups_are_summed() {
        let text = "netdev@ovs-netdev:\n  lookups: hit:486 missed:51 lost:3\n  flows: 0\n";
        assert_eq!(parse_lookups(text), Some(540));
        assert_eq!(parse_lookups("flows: 0\n"), None);
    }
}
