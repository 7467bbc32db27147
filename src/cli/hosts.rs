//! Which hosts a command talks to, where their OVSDB listens, and observing them all
//! in parallel. One unreachable host never stops the others from being observed.

use super::args::TargetArgs;
use super::Coded;
use crate::observe::observe;
use crate::state::ObservedHost;
use crate::topology::Topology;
use std::path::PathBuf;
use std::time::Duration;

/// One host a command will contact.
#[derive(Debug, Clone)]
pub struct Target {
    /// Index of the host in the topology's file order.
    pub index: usize,
    /// Host name.
    pub name: String,
    /// OVSDB endpoint to use.
    pub endpoint: String,
}

/// Where lab state lives: `OVSNET_LAB_DIR`, else [`crate::lab::DEFAULT_RUN_ROOT`].
pub fn lab_root() -> PathBuf {
    std::env::var_os("OVSNET_LAB_DIR")
        .filter(|v| !v.is_empty())
        .map_or_else(
            || PathBuf::from(crate::lab::DEFAULT_RUN_ROOT),
            PathBuf::from,
        )
}

/// The hosts selected by `--host` (all when none), with their endpoints; installs how
/// they are reached (TLS material, the ssh command) for every later connection.
pub fn targets(topology: &Topology, args: &TargetArgs) -> anyhow::Result<Vec<Target>> {
    for name in &args.hosts {
        if !topology.hosts.iter().any(|h| &h.name == name) {
            let known: Vec<&str> = topology.hosts.iter().map(|h| h.name.as_str()).collect();
            return Err(Coded::usage(format!(
                "`--host {name}` names no host of cluster `{}`\nhelp: hosts are {}",
                topology.cluster,
                known.join(", ")
            )));
        }
    }
    let root = lab_root();
    let targets: Vec<Target> = topology
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| args.hosts.is_empty() || args.hosts.contains(&h.name))
        .map(|(index, host)| Target {
            index,
            name: host.name.clone(),
            endpoint: if args.lab {
                crate::lab::endpoint(topology, &host.name, &root)
            } else {
                host.ovsdb.to_string()
            },
        })
        .collect();
    super::reach::install(args, &targets)?;
    Ok(targets)
}

/// Observes every target, [`crate::apply::rollout::DEFAULT_PARALLEL`] at once (the one
/// fan-out), in target order.
pub fn observe_all(targets: &[Target], timeout: Duration) -> Vec<anyhow::Result<ObservedHost>> {
    let mut observed = Vec::with_capacity(targets.len());
    let ran = crate::fanout::ordered::<_, _, std::convert::Infallible>(
        targets,
        crate::apply::rollout::DEFAULT_PARALLEL,
        // Every observe error names the endpoint already.
        |t| {
            observe(&t.endpoint, timeout)
                .map_err(|e| anyhow::Error::new(e).context(format!("host `{}`", t.name)))
        },
        |_, result| {
            observed.push(result);
            Ok(crate::fanout::Flow::Continue)
        },
    );
    if let Err(never) = ran {
        match never {}
    }
    observed
}
