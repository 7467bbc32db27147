//! The offline plan of a whole cluster (`plan --offline`), host by host: desire, then
//! `plan::build` against a host that holds nothing, handed to the caller in file order.
//!
//! Planning runs on worker threads while the caller renders (when hosts are big enough
//! to be worth handing over), so a 1,000-host mesh keeps every core busy, yet at most a
//! few hosts' plans exist at any moment: output streams and memory stays flat however
//! large the cluster. The threads, the order and the bound are [`crate::fanout`]'s, the
//! one fan-out every per-host loop uses. This module does no I/O; whatever `sink` does
//! with a plan is the caller's.

use crate::desire::desire_host;
use crate::fanout::{self, Flow};
use crate::plan::{self, HostPlan, PlanError};
use crate::state::ObservedHost;
use crate::topology::{Analysis, Topology};

/// One host to plan: its index in the topology's file order and the endpoint to report.
#[derive(Clone, Debug)]
pub struct HostRef {
    /// Index into `Topology::hosts`.
    pub index: usize,
    /// The OVSDB endpoint the plan names (the file's, or the lab's).
    pub endpoint: String,
}

/// Below this many tunnel ports per host on average, handing each plan to another
/// thread costs more than making it (a 10,000-host chain has 2 per host and plans
/// twice as fast on one thread); a mesh of 100 hosts already has 99.
const MIN_PORTS_PER_HOST_FOR_THREADS: usize = 32;

/// Plans `hosts` against empty hosts and hands each plan to `sink`, in the order given.
///
/// Stops at the first error, from planning or from `sink`, and returns it.
pub fn each_host<E: From<PlanError>>(
    topology: &Topology,
    analysis: &Analysis,
    hosts: &[HostRef],
    sink: impl FnMut(HostPlan) -> Result<(), E>,
) -> Result<(), E> {
    let ports_per_host = 2 * analysis.tunnels() / topology.hosts.len().max(1);
    let workers = if ports_per_host < MIN_PORTS_PER_HOST_FOR_THREADS {
        1
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    };
    each_host_on(workers, topology, analysis, hosts, sink)
}

/// [`each_host`] with `workers` planning threads (none when 1).
fn each_host_on<E: From<PlanError>>(
    workers: usize,
    topology: &Topology,
    analysis: &Analysis,
    hosts: &[HostRef],
    mut sink: impl FnMut(HostPlan) -> Result<(), E>,
) -> Result<(), E> {
    fanout::ordered(
        hosts,
        workers,
        |host| plan_host(topology, analysis, host),
        |_, planned| -> Result<Flow, E> {
            sink(planned?)?;
            Ok(Flow::Continue)
        },
    )?;
    Ok(())
}

/// One host's offline plan.
fn plan_host(
    topology: &Topology,
    analysis: &Analysis,
    host: &HostRef,
) -> Result<HostPlan, PlanError> {
    let mut desired = desire_host(topology, analysis, host.index);
    desired.endpoint.clone_from(&host.endpoint);
    plan::build_owned(desired, &ObservedHost::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mesh(hosts: usize) -> crate::topology::Loaded {
        let mut text = String::from(
            "version: 1\ncluster: t\ntunnel:\n  type: vxlan\n  topology: mesh\n\
             vlans:\n  - name: web\n    id: 10\n    subnet: 10.0.0.0/16\nhosts:\n",
        );
        for i in 0..hosts {
            text.push_str(&format!(
                "  - name: h{i}\n    underlay_ip: 198.18.0.{}\n    ranges:\n      web: 10.0.{i}.0/24\n",
                i + 1
            ));
        }
        crate::topology::load("t.yaml", &text).expect("valid mesh")
    }

    fn refs(n: usize) -> Vec<HostRef> {
        (0..n)
            .map(|index| HostRef {
                index,
                endpoint: format!("unix:/e{index}"),
            })
            .collect()
    }

    #[test]
    fn plans_come_back_in_the_order_asked_and_equal_the_sequential_ones() {
        let loaded = mesh(7);
        let mut order: Vec<usize> = (0..7).rev().collect();
        order.swap(1, 4);
        let hosts: Vec<HostRef> = order.iter().map(|&i| refs(7)[i].clone()).collect();
        for workers in [1, 3] {
            let mut got = Vec::new();
            each_host_on::<PlanError>(workers, &loaded.topology, &loaded.analysis, &hosts, |p| {
                got.push(p);
                Ok(())
            })
            .expect("plans");
            assert_same_as_sequential(&loaded, &hosts, &got);
        }
    }

    fn assert_same_as_sequential(
        loaded: &crate::topology::Loaded,
        hosts: &[HostRef],
        got: &[HostPlan],
    ) {
        assert_eq!(got.len(), hosts.len());
        for (plan, host) in got.iter().zip(hosts) {
            let mut desired = desire_host(&loaded.topology, &loaded.analysis, host.index);
            desired.endpoint = host.endpoint.clone();
            let expected = plan::build(&desired, &ObservedHost::default()).expect("plan");
            assert_eq!(plan, &expected);
        }
    }

    #[test]
    fn a_failing_sink_stops_the_run_with_its_error() {
        let loaded = mesh(6);
        let mut seen = 0;
        let result = each_host_on(2, &loaded.topology, &loaded.analysis, &refs(6), |_| {
            seen += 1;
            if seen == 3 {
                Err(PlanError::Bug("sink full".into()))
            } else {
                Ok(())
            }
        });
        assert_eq!(result, Err(PlanError::Bug("sink full".into())));
        assert_eq!(seen, 3, "no plan is handed on after the failure");
    }
}
