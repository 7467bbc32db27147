//! Broadcast-storm detection: one broadcast into the overlay, then how much work every
//! host's datapath did in a short window. A loop-free overlay handles a broadcast with a
//! handful of packets per host; a looped one (a mesh without split horizon or RSTP)
//! re-floods it for ever and the counters explode. Bounded in time by `window`.

use super::layout::HostPaths;
use super::sys::run;
use super::LabError;
use super::{probe, traffic};
use crate::fanout::{self, Flow};
use crate::topology::{Analysis, Topology};
use serde::Serialize;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Datapath packets per second per host above which the overlay is storming.
/// Measured on 4 hosts: a loop-free overlay handles one broadcast with 20 to 160
/// packets in 1.5 s (about 100/s with the underlay's own chatter); an unprotected mesh
/// reaches 200,000 per second and more. Per host, because every broadcast reaches every
/// host of a VLAN: a 100-host lab's ordinary ARP traffic costs each host what a 4-host
/// lab's does, so a threshold for all hosts together would call a big lab a storm.
pub const STORM_RATE_PER_HOST: u64 = 500;

/// At most this many `ovs-appctl` reads of the counters run at once: reading 100 hosts
/// one after the other took 31 s on a loaded machine, which made a 700 ms window a
/// half-minute one.
const READS_AT_ONCE: usize = 16;

/// Datapath work caused by one broadcast.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StormReport {
    /// Whether a broadcast was sent for the measurement (else it is the background).
    pub triggered: bool,
    /// Length of the measuring window, in milliseconds: the longest time between one
    /// host's two counter reads (the window asked for, plus the time the reads took).
    pub window_ms: u64,
    /// Per host (topology order): packets its datapath looked up during the window.
    pub per_host: Vec<(String, u64)>,
    /// Sum over hosts.
    pub total: u64,
}

impl StormReport {
    /// Whether the growth shows a broadcast storm: more datapath work per host and
    /// second than a loop-free overlay makes.
    pub fn is_storm(&self) -> bool {
        let hosts = u64::try_from(self.per_host.len().max(1)).unwrap_or(u64::MAX);
        self.rate() > STORM_RATE_PER_HOST.saturating_mul(hosts)
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
    let ctls: Vec<PathBuf> = topology
        .hosts
        .iter()
        .map(|h| HostPaths::new(run_root, &topology.cluster, &h.name).vswitchd_ctl)
        .collect();
    let before = read_all(&ctls)?;
    let mut child = match trigger {
        Some((netns, silent)) => Some(traffic::spawn_broadcast_trigger(netns, silent)?),
        None => None,
    };
    std::thread::sleep(window);
    let after = read_all(&ctls);
    if let Some(child) = child.as_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let after = after?;
    let names = topology.hosts.iter().map(|h| h.name.clone());
    Ok(report(trigger.is_some(), window, names, &before, &after))
}

/// Waits, a quiet window at a time, until the overlay is quiet (no storm in the
/// background) or [`settle_within`] has passed, and returns the last window's report. A
/// loop-free overlay settles once the ARP retries of tests that just ended have drained
/// (on a loaded 2-core machine a 100-host lab takes tens of seconds for that); a loop
/// re-floods for ever and is still storming at the deadline.
pub(crate) fn settle(
    topology: &Topology,
    run_root: &Path,
    window: Duration,
) -> Result<StormReport, LabError> {
    let deadline = settle_within(topology.hosts.len());
    let started = Instant::now();
    loop {
        let background = measure(topology, run_root, None, window)?;
        if !background.is_storm() || started.elapsed() >= deadline {
            return Ok(background);
        }
    }
}

/// How long the overlay may take to fall quiet before a storm is called: the ARP
/// retries of the tests just run drain at the speed of the lab's switches, which on 2
/// cores share the CPU with everything else (a 100-host full check under load still had
/// tens of seconds of them). 300 ms a host, at least 10 s.
fn settle_within(hosts: usize) -> Duration {
    let per_host =
        Duration::from_millis(300).saturating_mul(u32::try_from(hosts).unwrap_or(u32::MAX));
    per_host.max(Duration::from_secs(10))
}

/// The report from each host's two counter readings.
fn report(
    triggered: bool,
    window: Duration,
    names: impl Iterator<Item = String>,
    before: &[Reading],
    after: &[Reading],
) -> StormReport {
    let per_host: Vec<(String, u64)> = names
        .zip(before.iter().zip(after))
        .map(|(name, (b, a))| (name, a.lookups.saturating_sub(b.lookups)))
        .collect();
    let longest = before
        .iter()
        .zip(after)
        .map(|(b, a)| a.at.saturating_duration_since(b.at))
        .max()
        .unwrap_or(window)
        .max(window);
    StormReport {
        triggered,
        window_ms: u64::try_from(longest.as_millis()).unwrap_or(u64::MAX),
        total: per_host.iter().map(|(_, n)| n).sum(),
        per_host,
    }
}

/// One host's datapath lookups and when they were read.
#[derive(Clone, Copy, Debug)]
struct Reading {
    lookups: u64,
    at: Instant,
}

/// Every host's datapath lookups, in the order of `ctls`, read [`READS_AT_ONCE`] at a
/// time so that all hosts are read within a short span.
fn read_all(ctls: &[PathBuf]) -> Result<Vec<Reading>, LabError> {
    let mut readings = Vec::with_capacity(ctls.len());
    let read = |ctl: &PathBuf| {
        datapath_lookups(ctl).map(|lookups| Reading {
            lookups,
            at: Instant::now(),
        })
    };
    fanout::ordered(ctls, READS_AT_ONCE, read, |_, reading| {
        readings.push(reading?);
        Ok::<_, LabError>(Flow::Continue)
    })?;
    Ok(readings)
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
    use super::*;

    fn reading(lookups: u64, at: Instant) -> Reading {
        Reading { lookups, at }
    }

    #[test]
    fn the_window_is_the_longest_time_between_a_hosts_two_reads() {
        let t0 = Instant::now();
        let before = [
            reading(10, t0),
            reading(20, t0 + Duration::from_millis(300)),
        ];
        let after = [
            reading(15, t0 + Duration::from_millis(900)),
            reading(20, t0 + Duration::from_millis(2300)),
        ];
        let names = ["a", "b"].into_iter().map(String::from);
        let r = report(true, Duration::from_millis(700), names, &before, &after);
        assert_eq!(r.window_ms, 2000);
        assert_eq!(r.per_host, [("a".to_string(), 5), ("b".to_string(), 0)]);
        assert_eq!(r.total, 5);
        // Reads faster than the window asked for still count the whole window.
        let quick = [reading(15, t0), reading(20, t0)];
        let names = ["a", "b"].into_iter().map(String::from);
        let r = report(false, Duration::from_millis(700), names, &quick, &quick);
        assert_eq!(r.window_ms, 700);
    }

    #[test]
    fn the_storm_threshold_grows_with_the_hosts() {
        let lab = |hosts: usize, total: u64| StormReport {
            triggered: true,
            window_ms: 1000,
            per_host: (0..hosts).map(|i| (format!("h{i}"), 0)).collect(),
            total,
        };
        // 40,000 packets a second: a storm on 4 hosts, ordinary ARP traffic on 100.
        assert!(lab(4, 40_000).is_storm());
        assert!(!lab(100, 40_000).is_storm());
        assert!(lab(100, 100 * STORM_RATE_PER_HOST + 1).is_storm());
        assert!(!lab(4, 4 * STORM_RATE_PER_HOST).is_storm());
    }

    #[test]
    fn lookups_are_summed() {
        let text = "netdev@ovs-netdev:\n  lookups: hit:486 missed:51 lost:3\n  flows: 0\n";
        assert_eq!(parse_lookups(text), Some(540));
        assert_eq!(parse_lookups("flows: 0\n"), None);
    }
}
