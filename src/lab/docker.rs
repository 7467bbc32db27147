//! `ovsnet lab up --docker`: each lab host's agent also serves the Docker plugin, named
//! `ovsnet-<host>`, so one Docker engine puts containers on any lab host
//! (`docker network create -d ovsnet-host-a --ipam-driver ovsnet-host-a ...`) and their
//! traffic crosses the lab's real tunnels.
//!
//! The split that makes it work: the agent runs inside the lab host's namespace (beside
//! its ovs-vswitchd, where the veth's outer end becomes a port), while dockerd runs in
//! the machine's own namespace and looks up the interface named in the Join reply
//! *there*. So each agent gets `--docker-netns engine`: it finds dockerd through the
//! Engine API socket's peer and hands the veth's inner end over into dockerd's namespace,
//! from which Docker moves it into the container. Nothing else of the lab ever appears
//! in that namespace.
//!
//! Socket discovery is machine-wide (`/run/docker/plugins/NAME.sock`), so two labs with a
//! host of the same name cannot both serve it: `up` refuses when another process answers
//! on the socket, and `down` removes a socket only once nobody answers on it.

use super::agent::AgentLaunch;
use super::LabError;
use crate::docker::server::socket_path;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long a new agent has to open its plugin socket (its first reconcile pass asks
/// the engine first).
const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);

/// The plugin lab host `host` serves: `ovsnet-<host>`.
pub fn plugin_name(host: &str) -> String {
    format!("ovsnet-{host}")
}

/// The agent arguments that serve `host`'s plugin.
fn agent_args(host: &str) -> Vec<String> {
    vec![
        "--docker-plugin".into(),
        plugin_name(host),
        "--docker-netns".into(),
        "engine".into(),
    ]
}

/// `launch` with every host in `hosts` also serving its plugin.
pub(crate) fn with_plugins<'a>(
    launch: &AgentLaunch,
    hosts: impl IntoIterator<Item = &'a str>,
) -> AgentLaunch {
    let mut launch = launch.clone();
    for host in hosts {
        launch
            .extra_args
            .entry(host.to_string())
            .or_default()
            .extend(agent_args(host));
    }
    launch
}

/// Whether some process accepts connections on `socket`.
fn answers(socket: &Path) -> bool {
    UnixStream::connect(socket).is_ok()
}

/// Refuses to start `host`'s plugin when a process other than this lab's agent `ours`
/// (its pid, if one runs) already serves the socket.
pub(crate) fn check_free(host: &str, ours: Option<u32>) -> Result<(), LabError> {
    let socket = socket_path(&plugin_name(host));
    if ours.is_some() || !answers(&socket) {
        return Ok(());
    }
    Err(LabError::PluginTaken {
        plugin: plugin_name(host),
        socket,
    })
}

/// Waits until `host`'s plugin socket answers while its agent `pid` runs; on failure the
/// error quotes the agent's log (`log`).
pub(crate) fn wait_serving(host: &str, pid: u32, log: &Path) -> Result<(), LabError> {
    let socket = socket_path(&plugin_name(host));
    let alive = || super::agent::alive(pid);
    let ready = super::sys::wait_until(SOCKET_TIMEOUT, || !alive() || answers(&socket));
    if ready && alive() {
        return Ok(());
    }
    Err(LabError::PluginNotServing {
        plugin: plugin_name(host),
        log: log.to_path_buf(),
        tail: super::agent::log_tail(log),
    })
}

/// Removes `host`'s plugin socket if it is left over (nobody answers on it); returns
/// whether it did. A socket some other process serves is left alone.
pub(crate) fn remove_stale_socket(host: &str) -> bool {
    let socket = socket_path(&plugin_name(host));
    socket.exists() && !answers(&socket) && std::fs::remove_file(&socket).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_host_serves_its_own_plugin_after_its_other_arguments() {
        let mut launch = AgentLaunch {
            program: "/bin/ovsnet".into(),
            extra_args: Default::default(),
        };
        launch
            .extra_args
            .insert("host-a".into(), vec!["--docker-socket".into(), "/s".into()]);
        let with = with_plugins(&launch, ["host-a", "host-b"]);
        assert_eq!(
            with.extra_args["host-a"],
            [
                "--docker-socket",
                "/s",
                "--docker-plugin",
                "ovsnet-host-a",
                "--docker-netns",
                "engine"
            ]
        );
        assert_eq!(with.extra_args["host-b"][1], "ovsnet-host-b");
    }

    #[test]
    fn a_socket_nobody_serves_is_free_and_not_removed_when_absent() {
        let host = format!("no-such-lab-host-{}", std::process::id());
        assert!(check_free(&host, None).is_ok());
        assert!(!remove_stale_socket(&host));
    }
}
