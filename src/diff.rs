//! The plan between two revisions of a topology (`ovsnet diff`): each HEAD host planned
//! against a host holding what BASE wants there, contacting no host, at a cost in
//! proportion to what changed rather than to the size of the clusters.
//!
//! What a host holds under a topology is a few rows of its own (the bridge with the
//! host intent, the internal port, the gateway ports) and one tunnel port per neighbour,
//! made from a template that depends on cluster-wide settings only ([`Shared`]) and
//! filled with the neighbour's name and underlay address. So when BASE and HEAD have
//! equal `Shared` and a host's port names are exact (see [`crate::desire::exact_names`]), its
//! tunnels differ only where a peer was added, removed or moved: the host's own rows and
//! those peers' tunnel ports are built and planned, no other tunnel. Anything else (a
//! cluster-wide setting changed, a shortened port name, a host new in HEAD) takes the
//! whole host, as [`full_host`] does, which is also the reference the property tests
//! compare the incremental plans with. And when nothing a host's rows are made from
//! changed (the host itself, the VLANs, `Shared`, and every host's name, address and
//! place in the same tunnel graph), its plan is empty without building a row: a diff
//! of a file against itself costs a comparison per host.
//!
//! A diff observes no host, so its plans carry no fingerprint (`None`, `null` in the
//! JSON document): there is nothing a diff could be stale against, and `apply` never
//! reads one. (Until issue 14 a diff stated a digest over every row BASE wants on each
//! host, which cost a hash of the whole cluster however small the change.) This module
//! does no I/O.

use crate::desire::{desire_host, desire_tunnels, Shared};
use crate::fanout::{self, Flow};
use crate::plan::{self, HostPlan, PlanError};
use crate::state::ObservedHost;
use crate::topology::{Analysis, Topology};
use std::collections::HashMap;

/// One revision of the topology: the validated model and its graph analysis.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    /// The validated model.
    pub topology: &'a Topology,
    /// Its tunnel graph's analysis.
    pub analysis: &'a Analysis,
}

/// Plans every HEAD host against BASE, handing each plan to `sink` in HEAD's file order.
/// Hosts only BASE has get no plan (their peers' plans remove the tunnels to them).
///
/// Stops at the first error, from planning or from `sink`, and returns it.
pub fn each_host<E: From<PlanError>>(
    base: Side,
    head: Side,
    mut sink: impl FnMut(HostPlan) -> Result<(), E>,
) -> Result<(), E> {
    let index: HashMap<&str, usize> = base
        .topology
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.as_str(), i))
        .collect();
    let in_base: Vec<Option<usize>> = head
        .topology
        .hosts
        .iter()
        .map(|h| index.get(h.name.as_str()).copied())
        .collect();
    let same_shared =
        Shared::of(base.topology, base.analysis) == Shared::of(head.topology, head.analysis);
    // Every input of a host's own rows besides the host itself: with these equal, a
    // host equal on both sides wants on HEAD exactly what BASE left it holding.
    let same_tunnels_and_vlans =
        same_shared && base.topology.vlans == head.topology.vlans && same_tunnels(base, head);
    let plan_host = |i: usize| -> Result<HostPlan, PlanError> {
        match in_base[i] {
            Some(j)
                if same_tunnels_and_vlans && base.topology.hosts[j] == head.topology.hosts[i] =>
            {
                Ok(unchanged(head, i))
            }
            Some(j) if same_shared => incremental(base, head, i, j, &in_base)?
                .map_or_else(|| full_host(base, head, i), Ok),
            _ => full_host(base, head, i),
        }
    };
    // Planning whole hosts is worth both cores on a large cluster; the order of the
    // plans is kept either way.
    let ports_per_host = 2 * head.analysis.tunnels() / head.topology.hosts.len().max(1);
    let workers = if !same_shared && ports_per_host >= MIN_PORTS_PER_HOST_FOR_THREADS {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        1
    };
    let hosts: Vec<usize> = (0..in_base.len()).collect();
    fanout::ordered(
        &hosts,
        workers,
        |&i| plan_host(i),
        |_, planned| -> Result<Flow, E> {
            sink(planned?)?;
            Ok(Flow::Continue)
        },
    )?;
    Ok(())
}

/// Below this many tunnel ports per host on average, planning on one thread is
/// cheaper than handing plans between threads (as for the offline plan).
const MIN_PORTS_PER_HOST_FOR_THREADS: usize = 32;

/// HEAD host `index`'s plan built from both sides whole: the desired state HEAD wants
/// against the state BASE wants (or nothing, for a host BASE lacks).
pub fn full_host(base: Side, head: Side, index: usize) -> Result<HostPlan, PlanError> {
    let desired = desire_host(head.topology, head.analysis, index);
    let observed = base
        .topology
        .host_index(&desired.name)
        .map(|j| ObservedHost {
            state: desire_host(base.topology, base.analysis, j).state,
            ..ObservedHost::default()
        })
        .unwrap_or_default();
    plan::build_unobserved(desired, &observed)
}

/// Whether every host has the same tunnels on both sides: the same graph over the same
/// hosts (names and addresses, in the same order), so each host's neighbours are the
/// same peers at the same addresses. With equal [`Shared`] those tunnel rows are equal,
/// names included (the names of a host's ports depend on its neighbours' names alone).
/// O(hosts) for a mesh, whose graph is a closed form; O(edges) for a listed graph.
fn same_tunnels(base: Side, head: Side) -> bool {
    let (b, h) = (&base.topology.hosts, &head.topology.hosts);
    b.len() == h.len()
        && b.iter()
            .zip(h)
            .all(|(b, h)| b.name == h.name && b.underlay_ip == h.underlay_ip)
        && base.analysis.graph == head.analysis.graph
}

/// The plan of HEAD host `i` when it wants exactly what BASE left it holding: no change,
/// guard, conflict or preflight failure (nothing was observed), as [`full_host`] would
/// build it from the whole host on both sides, for the cost of its name.
fn unchanged(head: Side, i: usize) -> HostPlan {
    let host = &head.topology.hosts[i];
    HostPlan {
        host: host.name.clone(),
        endpoint: host.ovsdb.to_string(),
        ..HostPlan::default()
    }
}

/// HEAD host `i` (BASE host `j`) planned from its changed peers alone; `None` when its
/// port names are not exact on either side and the whole host must be planned.
/// `in_base` maps every HEAD host to its BASE index. The caller has checked that both
/// sides share their [`Shared`] rows.
fn incremental(
    base: Side,
    head: Side,
    i: usize,
    j: usize,
    in_base: &[Option<usize>],
) -> Result<Option<HostPlan>, PlanError> {
    let (head_peers, base_peers) = changed_peers(base, head, i, j, in_base);
    let (Some(desired), Some(held)) = (
        desire_tunnels(head.topology, head.analysis, i, &head_peers),
        desire_tunnels(base.topology, base.analysis, j, &base_peers),
    ) else {
        return Ok(None);
    };
    let observed = ObservedHost {
        state: held.state,
        ..ObservedHost::default()
    };
    plan::build_unobserved(desired, &observed).map(Some)
}

/// The peers whose tunnel port differs between BASE host `j` and HEAD host `i`: HEAD's
/// (added, or moved to another address) and BASE's (removed, or moved), as host indices
/// of each side, ascending.
fn changed_peers(
    base: Side,
    head: Side,
    i: usize,
    j: usize,
    in_base: &[Option<usize>],
) -> (Vec<usize>, Vec<usize>) {
    let mut head_changed = Vec::new();
    // HEAD's peers that BASE also has, as (BASE index, HEAD index), in BASE's order.
    let mut kept: Vec<(usize, usize)> = Vec::with_capacity(head.analysis.degree(i));
    for &k in head.analysis.neighbours(i).iter() {
        match in_base[k] {
            Some(m) => kept.push((m, k)),
            None => head_changed.push(k),
        }
    }
    // Already sorted unless HEAD reordered its hosts; sorting sorted input is one pass.
    kept.sort_unstable();
    let mut base_changed = Vec::new();
    let mut kept = kept.into_iter().peekable();
    for &m in base.analysis.neighbours(j).iter() {
        while let Some(&(km, k)) = kept.peek() {
            if km >= m {
                break;
            }
            head_changed.push(k);
            kept.next();
        }
        match kept.peek() {
            Some(&(km, k)) if km == m => {
                if head.topology.hosts[k].underlay_ip != base.topology.hosts[m].underlay_ip {
                    head_changed.push(k);
                    base_changed.push(m);
                }
                kept.next();
            }
            _ => base_changed.push(m),
        }
    }
    head_changed.extend(kept.map(|(_, k)| k));
    head_changed.sort_unstable();
    (head_changed, base_changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::load;

    fn mesh(hosts: &[(&str, &str)]) -> crate::topology::Loaded {
        mesh_on("br-ovsnet", hosts)
    }

    fn mesh_on(bridge: &str, hosts: &[(&str, &str)]) -> crate::topology::Loaded {
        let mut text = format!(
            "version: 1\ncluster: t\nbridge:\n  name: {bridge}\ntunnel:\n  type: vxlan\n  topology: mesh\n\
             vlans:\n  - name: web\n    id: 10\n    subnet: 10.0.0.0/16\nhosts:\n",
        );
        for (i, (name, ip)) in hosts.iter().enumerate() {
            text.push_str(&format!(
                "  - name: {name}\n    underlay_ip: {ip}\n    ranges:\n      web: 10.0.{i}.0/24\n"
            ));
        }
        load("t.yaml", &text).expect("valid mesh")
    }

    fn side(loaded: &crate::topology::Loaded) -> Side<'_> {
        Side {
            topology: &loaded.topology,
            analysis: &loaded.analysis,
        }
    }

    fn names(side: Side, indices: &[usize]) -> Vec<String> {
        indices
            .iter()
            .map(|&k| side.topology.hosts[k].name.clone())
            .collect()
    }

    #[test]
    fn same_tunnels_needs_every_host_in_place_at_its_address() {
        let hosts = [
            ("a", "198.18.0.1"),
            ("b", "198.18.0.2"),
            ("c", "198.18.0.3"),
        ];
        let base = mesh(&hosts);
        assert!(same_tunnels(side(&base), side(&mesh(&hosts))));
        let moved = mesh(&[
            ("a", "198.18.0.1"),
            ("b", "198.18.0.9"),
            ("c", "198.18.0.3"),
        ]);
        assert!(!same_tunnels(side(&base), side(&moved)));
        let reordered = mesh(&[
            ("b", "198.18.0.2"),
            ("a", "198.18.0.1"),
            ("c", "198.18.0.3"),
        ]);
        assert!(!same_tunnels(side(&base), side(&reordered)));
        let fewer = mesh(&hosts[..2]);
        assert!(!same_tunnels(side(&base), side(&fewer)));
    }

    #[test]
    fn an_unchanged_host_gets_the_plan_the_whole_host_gives() {
        let base = mesh(&[("a", "198.18.0.1"), ("b", "198.18.0.2")]);
        for i in 0..2 {
            let whole = full_host(side(&base), side(&base), i).expect("plans");
            assert_eq!(unchanged(side(&base), i), whole);
        }
    }

    #[test]
    fn changed_peers_are_the_added_the_removed_and_the_moved() {
        let base = mesh(&[
            ("a", "198.18.0.1"),
            ("b", "198.18.0.2"),
            ("c", "198.18.0.3"),
            ("d", "198.18.0.4"),
        ]);
        // `b` gone, `c` moved, `e` new, and the order shuffled.
        let head = mesh(&[
            ("e", "198.18.0.5"),
            ("d", "198.18.0.4"),
            ("c", "198.18.0.33"),
            ("a", "198.18.0.1"),
        ]);
        let in_base = vec![None, Some(3), Some(2), Some(0)];
        let (h, b) = changed_peers(side(&base), side(&head), 3, 0, &in_base);
        assert_eq!(names(side(&head), &h), ["e", "c"]);
        assert_eq!(names(side(&base), &b), ["b", "c"]);
        let (h, b) = changed_peers(
            side(&base),
            side(&base),
            1,
            1,
            &[Some(0), Some(1), Some(2), Some(3)],
        );
        assert!(
            h.is_empty() && b.is_empty(),
            "a host against itself has nothing to do"
        );
    }
}
