//! `ovsnet agent`: parse the endpoint, stop on SIGTERM/SIGINT, run the reconciler, and
//! with `--docker-plugin NAME` serve the Docker plugin beside it on its own thread.
//! `ovsnet publish`/`unpublish`: record a mapping the agent realizes.

use super::Exit;
use crate::agent::{self, Config};
use crate::ovsdb::Endpoint;
use crate::plugin::engine_netns::EngineNetns;
use anyhow::Context;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// Runs the agent (and the Docker plugin, when named) until SIGTERM or SIGINT.
pub fn agent(
    ovsdb: &str,
    docker_plugin: Option<&str>,
    docker_socket: &std::path::Path,
    docker_netns: &EngineNetns,
    state_dir: &std::path::Path,
) -> anyhow::Result<Exit> {
    Endpoint::parse(ovsdb).map_err(|e| super::Coded::usage(e.to_string()))?;
    // Resolved before anything starts: a plugin that cannot hand interfaces to the
    // engine would fail every `docker run`, so the agent refuses to start instead.
    let engine_netns = match docker_plugin {
        Some(_) => Some(docker_netns.resolve(docker_socket)?),
        None => None,
    };
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
    }
    let config = Config {
        endpoint: ovsdb.to_string(),
        timeout: Duration::from_secs(10),
        state_dir: state_dir.to_path_buf(),
    };
    let plugin = docker_plugin
        .zip(engine_netns)
        .map(|(name, engine_netns)| spawn_plugin(name, ovsdb, docker_socket, engine_netns));
    let outcome = agent::run(&config, &STOP).context("the agent stopped");
    STOP.store(true, Ordering::SeqCst);
    if let Some(plugin) = plugin {
        match plugin.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("error: the Docker plugin stopped: {e}"),
            Err(_) => eprintln!("error: the Docker plugin thread panicked"),
        }
    }
    outcome?;
    Ok(Exit::Success)
}

/// `ovsnet publish` (`add`) and `ovsnet unpublish`.
pub fn publish(args: &super::args::PublishArgs, add: bool) -> anyhow::Result<Exit> {
    use crate::publish::{self, Mapping, PublishError};
    Endpoint::parse(&args.ovsdb).map_err(|e| super::Coded::usage(e.to_string()))?;
    let mapping = Mapping::parse(&args.mapping).map_err(|e| super::Coded::usage(e.to_string()))?;
    let mut client = crate::ovsdb::Client::connect(&args.ovsdb, Duration::from_secs(10))?;
    match publish::publish(&mut client, &args.netns, mapping, add) {
        Ok(()) => Ok(Exit::Success),
        // Refusals are about the input, not the run: exit 65 like other invalid input.
        Err(
            e @ (PublishError::Taken { .. }
            | PublishError::NoContainer { .. }
            | PublishError::NotPublished { .. }),
        ) => Err(super::Coded::invalid(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// The plugin on its own thread: a first reconcile, the socket, then periodic passes.
fn spawn_plugin(
    name: &str,
    ovsdb: &str,
    docker_socket: &std::path::Path,
    engine_netns: crate::linux::Netns,
) -> std::thread::JoinHandle<Result<(), crate::docker::server::ServeError>> {
    use crate::linux::Netns;
    use crate::plugin::{attached::AttachPorts, reconcile, Config as PluginConfig, Plugin};
    let timeout = Duration::from_secs(20);
    let ports = AttachPorts {
        host_netns: Netns::Current,
        engine_netns,
        timeout,
    };
    let config = PluginConfig {
        name: name.to_string(),
        ovsdb: ovsdb.to_string(),
        timeout,
    };
    let plugin = std::sync::Arc::new(Plugin::new(config, Box::new(ports)));
    let socket = crate::docker::server::socket_path(name);
    let engine = crate::docker::engine::Engine::new(docker_socket, Duration::from_secs(10));
    std::thread::spawn(move || reconcile::run(plugin, &socket, &engine, &STOP))
}
