//! Which probe pairs `lab check` tests: every pair (`--full`), or a sample that grows
//! linearly with the lab instead of quadratically. Pure: probes are given as (host index,
//! VLAN id) in the check's probe order, pairs come back as indices into that list, sorted,
//! so the same lab always gets the same pairs.
//!
//! The sample, per VLAN with hosts `m[0..n]` (file order): each `m[i]` sends to
//! `m[(i + s) % n]` for [`SAMPLE_PEERS`] strides `s` spread over `1..n` (1 first). Each
//! stride is a permutation, so every host is the source of the same number of pairs and
//! the target of as many. When the lab has few tunnels (a chain, a star, a ring: at most
//! [`TUNNEL_NEIGHBOURS_PER_HOST`] per host), both directions across every tunnel are added
//! too: a pair of tunnel neighbours crosses exactly that tunnel, so a cut tunnel is
//! always among the tested pairs. In a mesh every pair is a tunnel of its own and the
//! sample covers only some of them: what a sampled check cannot see is said in its
//! output (see [`Coverage`]).
//!
//! Isolation, per pair of VLANs (A, B): every probe of A against the B probe on its own
//! host and against one B probe on another host, and the same from B's side. A leak that
//! joins two VLANs' segments anywhere makes every such pair reach each other, so each
//! VLAN pair tested from every host finds it.

use serde::Serialize;
use std::collections::BTreeSet;

/// Above this many hosts, `lab check` samples unless told `--full`.
pub const SAMPLE_ABOVE: usize = 16;
/// Peers each host sends to in each VLAN in a sampled check.
pub const SAMPLE_PEERS: usize = 3;
/// A sampled check adds both directions of every tunnel when the lab has at most this many
/// tunnels per host (a tree or a ring, not a mesh).
pub const TUNNEL_NEIGHBOURS_PER_HOST: usize = 2;

/// Whether a check tests every pair or a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every directed same-VLAN pair and every cross-VLAN pair.
    Full,
    /// The sample described in the module doc.
    Sampled,
}

/// The pairs to test, as indices into the probe list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Choice {
    /// Directed same-VLAN pairs (from, to), sorted.
    pub reach: Vec<(usize, usize)>,
    /// Unordered cross-VLAN pairs (lower index first), sorted.
    pub isolation: Vec<(usize, usize)>,
}

/// How much of the lab a check covers: the numbers its output states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Full or sampled.
    pub mode: Mode,
    /// Why that mode (the flag, or the lab's size against the threshold).
    pub reason: String,
    /// Directed same-VLAN pairs tested.
    pub reach_tested: usize,
    /// Directed same-VLAN pairs there are.
    pub reach_total: usize,
    /// Cross-VLAN pairs tested.
    pub isolation_tested: usize,
    /// Cross-VLAN pairs there are.
    pub isolation_total: usize,
    /// Tunnels whose two hosts are a tested pair (in either direction, in some VLAN).
    pub tunnels_covered: usize,
    /// Tunnels there are.
    pub tunnels_total: usize,
}

/// The pairs to test for `probes` ((host index, VLAN id) each) on a lab whose tunnels
/// are `tunnels` (host indices, undirected).
pub fn choose(probes: &[(usize, u16)], tunnels: &[(usize, usize)], mode: Mode) -> Choice {
    let vlans = vlan_members(probes);
    let mut reach = BTreeSet::new();
    let mut isolation = BTreeSet::new();
    match mode {
        Mode::Full => {
            for (i, a) in probes.iter().enumerate() {
                for (j, b) in probes.iter().enumerate() {
                    if a.1 == b.1 && a.0 != b.0 {
                        reach.insert((i, j));
                    } else if a.1 != b.1 && i < j {
                        isolation.insert((i, j));
                    }
                }
            }
        }
        Mode::Sampled => {
            let hosts = probes.iter().map(|p| p.0 + 1).max().unwrap_or(0);
            let few_tunnels = tunnels.len() <= TUNNEL_NEIGHBOURS_PER_HOST * hosts;
            for (_, members) in &vlans {
                let n = members.len();
                for s in strides(n, SAMPLE_PEERS) {
                    for i in 0..n {
                        reach.insert((members[i], members[(i + s) % n]));
                    }
                }
                if few_tunnels {
                    let on = |host: usize| members.iter().find(|&&p| probes[p].0 == host);
                    for &(x, y) in tunnels {
                        if let (Some(&a), Some(&b)) = (on(x), on(y)) {
                            reach.insert((a, b));
                            reach.insert((b, a));
                        }
                    }
                }
            }
            for (va, a) in vlans.iter().enumerate() {
                for (_, b) in &vlans[va + 1..] {
                    sample_isolation(probes, &a.1, b, &mut isolation);
                    sample_isolation(probes, b, &a.1, &mut isolation);
                }
            }
        }
    }
    Choice {
        reach: reach.into_iter().collect(),
        isolation: isolation.into_iter().collect(),
    }
}

/// Each probe of `from` against the `to` probe on its own host and the next `to` probe
/// (by position) on another host.
fn sample_isolation(
    probes: &[(usize, u16)],
    from: &[usize],
    to: &[usize],
    out: &mut BTreeSet<(usize, usize)>,
) {
    let mut add = |a: usize, b: usize| {
        out.insert((a.min(b), a.max(b)));
    };
    for (i, &a) in from.iter().enumerate() {
        let host = probes[a].0;
        if let Some(&b) = to.iter().find(|&&b| probes[b].0 == host) {
            add(a, b);
        }
        let other = (0..to.len())
            .map(|k| to[(i + 1 + k) % to.len()])
            .find(|&b| probes[b].0 != host);
        if let Some(b) = other {
            add(a, b);
        }
    }
}

/// Up to `k` distinct strides in `1..n`, spread evenly, 1 first.
fn strides(n: usize, k: usize) -> Vec<usize> {
    if n < 2 {
        return Vec::new();
    }
    let mut out: Vec<usize> = (0..k).map(|j| 1 + j * (n - 1) / k).collect();
    out.dedup();
    out
}

/// Probe indices per VLAN id, VLANs in order of first appearance, probes in list order.
fn vlan_members(probes: &[(usize, u16)]) -> Vec<(u16, Vec<usize>)> {
    let mut vlans: Vec<(u16, Vec<usize>)> = Vec::new();
    for (i, p) in probes.iter().enumerate() {
        match vlans.iter_mut().find(|(id, _)| *id == p.1) {
            Some((_, members)) => members.push(i),
            None => vlans.push((p.1, vec![i])),
        }
    }
    vlans
}

/// The coverage numbers of `choice` against the full set.
pub fn coverage(
    probes: &[(usize, u16)],
    tunnels: &[(usize, usize)],
    choice: &Choice,
    mode: Mode,
    reason: String,
) -> Coverage {
    let full_reach: usize = vlan_members(probes)
        .iter()
        .map(|(_, m)| m.len() * m.len().saturating_sub(1))
        .sum();
    let same = probes.len() * probes.len().saturating_sub(1) / 2;
    let same_vlan_unordered: usize = vlan_members(probes)
        .iter()
        .map(|(_, m)| m.len() * m.len().saturating_sub(1) / 2)
        .sum();
    let tested_hosts: BTreeSet<(usize, usize)> = choice
        .reach
        .iter()
        .map(|&(a, b)| {
            let (x, y) = (probes[a].0, probes[b].0);
            (x.min(y), x.max(y))
        })
        .collect();
    Coverage {
        mode,
        reason,
        reach_tested: choice.reach.len(),
        reach_total: full_reach,
        isolation_tested: choice.isolation.len(),
        isolation_total: same - same_vlan_unordered,
        tunnels_covered: tunnels
            .iter()
            .filter(|&&(x, y)| tested_hosts.contains(&(x.min(y), x.max(y))))
            .count(),
        tunnels_total: tunnels.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hosts` hosts, each with a probe in every VLAN of `vlans` (VLAN-major order, as the
    /// check plans them).
    fn probes(hosts: usize, vlans: &[u16]) -> Vec<(usize, u16)> {
        vlans
            .iter()
            .flat_map(|&v| (0..hosts).map(move |h| (h, v)))
            .collect()
    }

    fn mesh(n: usize) -> Vec<(usize, usize)> {
        (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .collect()
    }

    fn chain(n: usize) -> Vec<(usize, usize)> {
        (1..n).map(|i| (i - 1, i)).collect()
    }

    #[test]
    fn full_is_every_directed_same_vlan_pair_and_every_cross_vlan_pair() {
        let p = probes(5, &[10, 20]);
        let c = choose(&p, &mesh(5), Mode::Full);
        assert_eq!(c.reach.len(), 2 * 5 * 4);
        assert_eq!(c.isolation.len(), 5 * 5);
        let cov = coverage(&p, &mesh(5), &c, Mode::Full, String::new());
        assert_eq!((cov.reach_tested, cov.reach_total), (40, 40));
        assert_eq!((cov.isolation_tested, cov.isolation_total), (25, 25));
        assert_eq!((cov.tunnels_covered, cov.tunnels_total), (10, 10));
    }

    #[test]
    fn the_sample_is_deterministic_and_linear_in_the_hosts() {
        let p = probes(100, &[10, 20]);
        let a = choose(&p, &mesh(100), Mode::Sampled);
        assert_eq!(a, choose(&p, &mesh(100), Mode::Sampled));
        assert_eq!(a.reach.len(), 2 * 100 * SAMPLE_PEERS);
        // Same host, and one on another host, from each side: at most 4 per host.
        assert!(a.isolation.len() <= 4 * 100, "{}", a.isolation.len());
        let cov = coverage(&p, &mesh(100), &a, Mode::Sampled, String::new());
        assert_eq!(cov.reach_total, 2 * 100 * 99);
        assert_eq!(cov.isolation_total, 100 * 100);
        assert!(cov.tunnels_covered < cov.tunnels_total);
    }

    #[test]
    fn every_host_is_source_and_target_in_every_vlan() {
        for n in [2, 3, 4, 17, 100] {
            let p = probes(n, &[10, 20]);
            let c = choose(&p, &mesh(n), Mode::Sampled);
            for vlan in [10, 20] {
                for host in 0..n {
                    let me = p.iter().position(|&q| q == (host, vlan)).unwrap();
                    let sends = c.reach.iter().filter(|r| r.0 == me).count();
                    let gets = c.reach.iter().filter(|r| r.1 == me).count();
                    let k = SAMPLE_PEERS.min(n - 1);
                    assert_eq!((sends, gets), (k, k), "n {n} host {host} vlan {vlan}");
                }
            }
            for &(a, b) in &c.reach {
                assert_eq!(p[a].1, p[b].1, "same VLAN");
                assert_ne!(p[a].0, p[b].0, "different hosts");
            }
        }
    }

    #[test]
    fn small_vlans_are_sampled_in_full() {
        // With 4 hosts, 3 peers each is everyone.
        let p = probes(4, &[10]);
        let sampled = choose(&p, &mesh(4), Mode::Sampled);
        assert_eq!(sampled, choose(&p, &mesh(4), Mode::Full));
    }

    #[test]
    fn a_sparse_lab_has_both_directions_of_every_tunnel_in_the_sample() {
        // A cut tunnel in a chain breaks the pairs of its two ends (among others): they
        // are always tested.
        let p = probes(40, &[10]);
        let c = choose(&p, &chain(40), Mode::Sampled);
        for (x, y) in chain(40) {
            assert!(
                c.reach.contains(&(x, y)) && c.reach.contains(&(y, x)),
                "{x}-{y}"
            );
        }
        let cov = coverage(&p, &chain(40), &c, Mode::Sampled, String::new());
        assert_eq!(cov.tunnels_covered, cov.tunnels_total);
        // A star too: hub 0 to every spoke.
        let star: Vec<_> = (1..40).map(|i| (0, i)).collect();
        let c = choose(&p, &star, Mode::Sampled);
        assert!(star
            .iter()
            .all(|&(x, y)| c.reach.contains(&(x, y)) && c.reach.contains(&(y, x))));
    }

    #[test]
    fn isolation_samples_every_vlan_pair_from_every_probe() {
        let vlans = [10, 20, 30];
        let p = probes(20, &vlans);
        let c = choose(&p, &mesh(20), Mode::Sampled);
        for (i, a) in p.iter().enumerate() {
            for &other in vlans.iter().filter(|&&v| v != a.1) {
                let tested: Vec<_> = c
                    .isolation
                    .iter()
                    .filter_map(|&(x, y)| match (x == i, y == i) {
                        (true, _) => Some(p[y]),
                        (_, true) => Some(p[x]),
                        _ => None,
                    })
                    .filter(|q| q.1 == other)
                    .collect();
                assert!(tested.iter().any(|q| q.0 == a.0), "{a:?} same host {other}");
                assert!(
                    tested.iter().any(|q| q.0 != a.0),
                    "{a:?} other host {other}"
                );
            }
        }
        for &(x, y) in &c.isolation {
            assert!(x < y && p[x].1 != p[y].1);
        }
    }

    #[test]
    fn hosts_missing_from_a_vlan_are_skipped() {
        // Host 1 has no range in VLAN 20.
        let p = vec![(0, 10), (1, 10), (2, 10), (0, 20), (2, 20)];
        let c = choose(&p, &mesh(3), Mode::Sampled);
        assert!(c.reach.contains(&(3, 4)) && c.reach.contains(&(4, 3)));
        let full = choose(&p, &mesh(3), Mode::Full);
        let cov = coverage(&p, &mesh(3), &full, Mode::Full, String::new());
        assert_eq!(cov.reach_total, 6 + 2);
        assert_eq!(cov.isolation_total, 3 * 2);
        assert_eq!(full.isolation.len(), 6);
    }
}
