//! The offline plan of a whole cluster (`plan --offline`), host by host: desire, then
//! `plan::build` against a host that holds nothing, handed to the caller in file order.
//!
//! Planning runs on worker threads while the caller renders (when hosts are big enough
//! to be worth handing over), so a 1,000-host mesh keeps every core busy, yet at most a
//! few hosts' plans exist at any moment: output streams and memory stays flat however
//! large the cluster. The threads, the order and the bound are [`crate::fanout`]'s, the
//! one fan-out every per-host loop uses. This module does no I/O; whatever `sink` does
//! with a plan is the caller's.

use crate::desire::{host_requirements, visit_rows};
use crate::fanout::{self, Flow};
use crate::plan::{self, HostPlan, PlanError};
use crate::render::PlanWriter;
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
    each_host_then(topology, analysis, hosts, |plan| plan, sink)
}

/// [`each_host`], with `then` run on each plan on the thread that made it: `sink` gets
/// what `then` makes of the plan (a rendered section), and the plan is freed there too,
/// so that work is spread over the workers instead of falling to the caller's thread.
pub fn each_host_then<R: Send, E: From<PlanError>>(
    topology: &Topology,
    analysis: &Analysis,
    hosts: &[HostRef],
    then: impl Fn(HostPlan) -> R + Sync,
    sink: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E> {
    let ports_per_host = 2 * analysis.tunnels() / topology.hosts.len().max(1);
    let workers = if ports_per_host < MIN_PORTS_PER_HOST_FOR_THREADS {
        1
    } else {
        std::thread::available_parallelism().map_or(1, usize::from)
    };
    each_host_on(workers, topology, analysis, hosts, then, sink)
}

/// Renders the offline plans of `hosts` through `writer`, between the caller's `begin`
/// and `finish`: on the planning threads when the writer's format can render a host
/// apart (see [`crate::render::SectionRenderer`]), else in order on the caller's thread. `note` runs
/// on each plan where it is rendered and `noted` gets its result, in order (the CLI
/// keeps what its exit code needs).
pub fn render_each_host<T: Send, E: From<PlanError> + From<std::io::Error>>(
    topology: &Topology,
    analysis: &Analysis,
    hosts: &[HostRef],
    writer: &mut dyn PlanWriter,
    note: impl Fn(&HostPlan) -> T + Sync,
    mut noted: impl FnMut(T),
) -> Result<(), E> {
    match writer.section_renderer() {
        Some(renderer) => each_host_then(
            topology,
            analysis,
            hosts,
            |plan| (note(&plan), renderer.render(&plan)),
            |(facts, section)| -> Result<(), E> {
                noted(facts);
                Ok(writer.section(section)?)
            },
        ),
        None => each_host(topology, analysis, hosts, |plan| -> Result<(), E> {
            noted(note(&plan));
            Ok(writer.host(&plan)?)
        }),
    }
}

/// [`each_host_then`] with `workers` planning threads (none when 1).
fn each_host_on<R: Send, E: From<PlanError>>(
    workers: usize,
    topology: &Topology,
    analysis: &Analysis,
    hosts: &[HostRef],
    then: impl Fn(HostPlan) -> R + Sync,
    mut sink: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E> {
    fanout::ordered(
        hosts,
        workers,
        |host| Ok::<_, PlanError>(then(plan_host(topology, analysis, host))),
        |_, planned| -> Result<Flow, E> {
            sink(planned?)?;
            Ok(Flow::Continue)
        },
    )?;
    Ok(())
}

/// One host's offline plan: what `plan::build` makes of its desired state against a
/// host that holds nothing, made straight from the rows `desire::visit_rows` streams
/// (the desired state is never built; a test holds the two equal).
fn plan_host(topology: &Topology, analysis: &Analysis, host: &HostRef) -> HostPlan {
    // A bridge, a few fixed ports and a port and interface per peer.
    let rows_hint = 8 + 2 * analysis.degree(host.index);
    plan::build_fresh(
        topology.hosts[host.index].name.clone(),
        host.endpoint.clone(),
        &host_requirements(topology, analysis, host.index),
        rows_hint,
        |row| visit_rows(topology, analysis, host.index, |kind, r| row(kind, r)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desire::desire_host;
    use crate::state::ObservedHost;

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
            each_host_on::<_, PlanError>(
                workers,
                &loaded.topology,
                &loaded.analysis,
                &hosts,
                |p| p,
                |p| {
                    got.push(p);
                    Ok(())
                },
            )
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
    fn each_fresh_plan_is_the_plan_built_from_the_desired_state() {
        let files = [
            include_str!("../topologies/chain4.yaml"),
            include_str!("../topologies/mesh3-vxlan.yaml"),
            include_str!("../topologies/ring4-rstp.yaml"),
            include_str!("../topologies/star5-gre.yaml"),
        ];
        // Names too long for a port (shortened), a tunnel key and port, and a VLAN with
        // a gateway.
        let long = "version: 1\ncluster: t\ntunnel:\n  type: geneve\n  topology: mesh\n  \
            key: 7\n  dst_port: 6081\nvlans:\n  - name: web\n    id: 10\n    \
            subnet: 10.0.0.0/16\n    gateway: 10.0.0.1\nhosts:\n  \
            - name: verylonghostname-1\n    underlay_ip: 198.18.0.1\n  \
            - name: verylonghostname-2\n    underlay_ip: 198.18.0.2\n  \
            - name: short\n    underlay_ip: 198.18.0.3\n";
        for text in files.into_iter().chain([long]) {
            let loaded = crate::topology::load("t.yaml", text).expect("valid topology");
            let n = loaded.topology.hosts.len();
            let mut got = Vec::new();
            each_host_on::<_, PlanError>(
                1,
                &loaded.topology,
                &loaded.analysis,
                &refs(n),
                |p| p,
                |p| {
                    got.push(p);
                    Ok(())
                },
            )
            .expect("plans");
            assert_same_as_sequential(&loaded, &refs(n), &got);
        }
    }

    #[test]
    fn a_failing_sink_stops_the_run_with_its_error() {
        let loaded = mesh(6);
        let mut seen = 0;
        let result = each_host_on(
            2,
            &loaded.topology,
            &loaded.analysis,
            &refs(6),
            |p| p,
            |_| {
                seen += 1;
                if seen == 3 {
                    Err(PlanError::Bug("sink full".into()))
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(result, Err(PlanError::Bug("sink full".into())));
        assert_eq!(seen, 3, "no plan is handed on after the failure");
    }
}
