//! Reconciling the plugin's OVSDB state with what Docker still has. Docker never tells a
//! plugin about endpoints that died with a killed dockerd (at its next start it deletes
//! them without calling the driver), nor about networks removed while the plugin was
//! down; this pass finds and removes what is left. It runs at start, before the socket
//! opens, and then periodically on its own thread: never inside a request handler,
//! because it calls the Docker Engine API.
//!
//! The pair matrix (ours = plugged by this plugin, by `ovsnet-docker-plugin`):
//!
//! | in OVSDB | in Docker | action |
//! | --- | --- | --- |
//! | network record | network with our driver | keep |
//! | network record | absent | forget the record, unplug its ports |
//! | port with endpoint | endpoint listed on its network | keep |
//! | port with endpoint, or without one | not listed | unplug, once older than the grace period |
//! | port with endpoint | listed | keep; record the container's ID in `ovsnet-docker` |
//! | anything foreign | - | never touched |
//!
//! The grace period covers a `docker run` in flight: an address is handed out before its
//! endpoint exists, and Docker lists an endpoint only once it has joined a container.
//! When the engine cannot be reached nothing is removed.

use super::host::{self, REQUESTED_MARK};
use super::{Plugin, PluginError};
use crate::docker::engine::{Engine, EngineError};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The container identity mark attach writes (`ovsnet-docker`).
const CONTAINER_MARK: &str = "ovsnet-docker";

/// What one pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Network records forgotten.
    pub networks: Vec<String>,
    /// Ports unplugged.
    pub ports: Vec<String>,
}

/// Why a pass could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The engine could not be asked (nothing was removed).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// OVSDB or the attach library failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// One pass at `now` (unix seconds).
pub fn reconcile(
    plugin: &Plugin,
    engine: &Engine,
    grace: Duration,
    now: u64,
) -> Result<Report, ReconcileError> {
    let name = plugin.config().name.clone();
    let docker: BTreeSet<String> = engine
        .networks()?
        .into_iter()
        .filter(|n| n.driver == name)
        .map(|n| n.id)
        .collect();
    let (mut client, view) = plugin.view()?;
    let mut live: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // Endpoint ID to container ID: the protocol never names the container, so its port
    // is named by a pending identity until a pass learns the container from the engine.
    let mut containers: BTreeMap<String, String> = BTreeMap::new();
    for id in view.networks.keys().filter(|id| docker.contains(*id)) {
        let endpoints = engine.network_endpoints(id)?;
        for (container, endpoint) in &endpoints {
            containers.insert(endpoint.clone(), container.clone());
        }
        live.insert(id.clone(), endpoints.into_values().collect());
    }
    let mut report = Report::default();
    for id in view.networks.keys().filter(|id| !docker.contains(*id)) {
        host::remove_network(&mut client, id).map_err(PluginError::from)?;
        report.networks.push(id.clone());
    }
    for port in view.ports.iter().filter(|p| plugin.ours(p)) {
        let known = port
            .mark(host::ENDPOINT_MARK)
            .and_then(|ep| containers.get(ep));
        if let Some(container) = known {
            if port.mark(CONTAINER_MARK) != Some(container.as_str()) {
                host::mark_port(&mut client, &port.name, &[(CONTAINER_MARK, container)], &[])
                    .map_err(PluginError::from)?;
            }
        }
        let age = port
            .mark(REQUESTED_MARK)
            .and_then(|t| t.parse::<u64>().ok())
            .map_or(u64::MAX, |t| now.saturating_sub(t));
        if age < grace.as_secs() {
            continue;
        }
        let listed = match (
            port.mark(host::NETWORK_MARK),
            port.mark(host::ENDPOINT_MARK),
        ) {
            (Some(net), Some(ep)) => live.get(net).is_some_and(|eps| eps.contains(ep)),
            _ => false,
        };
        if !listed {
            plugin.unplug(&port.name)?;
            report.ports.push(port.name.clone());
        }
    }
    Ok(report)
}

/// How often the running plugin reconciles.
pub const PERIOD: Duration = Duration::from_secs(10);
/// How old a port must be before a pass may remove it.
pub const GRACE: Duration = Duration::from_secs(30);

/// Serves `plugin` on `socket` until `stop` is set: one reconcile pass first (when the
/// engine answers), then the socket, then a pass every [`PERIOD`] on this thread. A
/// failed pass is logged to stderr and retried; it never stops the plugin.
pub fn run(
    plugin: std::sync::Arc<Plugin>,
    socket: &std::path::Path,
    engine: &Engine,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<(), crate::docker::server::ServeError> {
    use std::sync::atomic::Ordering;
    pass(&plugin, engine);
    let serving = crate::docker::serve(socket, std::sync::Arc::clone(&plugin))?;
    let mut waited = Duration::ZERO;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(200));
        waited += Duration::from_millis(200);
        if waited >= PERIOD {
            waited = Duration::ZERO;
            pass(&plugin, engine);
        }
    }
    serving.stop();
    Ok(())
}

/// One logged pass.
fn pass(plugin: &Plugin, engine: &Engine) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match reconcile(plugin, engine, GRACE, now) {
        Ok(report) => {
            for id in &report.networks {
                eprintln!(
                    "docker plugin `{}`: forgot network {id} (Docker no longer has it)",
                    plugin.config().name
                );
            }
            for port in &report.ports {
                eprintln!(
                    "docker plugin `{}`: removed port {port} (its endpoint is gone)",
                    plugin.config().name
                );
            }
        }
        Err(e) => eprintln!("docker plugin `{}`: reconcile: {e}", plugin.config().name),
    }
}
