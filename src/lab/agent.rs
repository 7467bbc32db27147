//! One `ovsnet agent` per lab host, started inside the host's namespace by `lab up` and
//! stopped by `lab down` (issue 11: "in the lab, `ovsnet lab up` starts one inside each
//! host's namespace and `lab down` stops it").
//!
//! Supervision is by pid file, like the OVS daemons: `hosts/<host>/ovsnet-agent.pid`
//! holds the pid, `hosts/<host>/ovsnet-agent.log` its stderr (appended, so a restart
//! keeps the history). `ip netns exec` execs the program in place, so the pid of the
//! spawned child *is* the agent's. The agent gets its own process group, so a Ctrl-C in
//! the terminal that ran `lab up` never reaches it.
//!
//! Idempotent: a live agent whose command line is the one wanted is kept; one with other
//! arguments (say `--docker-plugin` added) is stopped and started again. `up` returns only
//! once each new agent has written its health into its OVSDB with its own pid, so the
//! lab is ready when `up` returns, and an agent that dies at start fails `up` with the
//! tail of its log.

use super::layout::HostPaths;
use super::sys;
use super::LabError;
use crate::agent::health;
use crate::linux::process;
use crate::ovsdb::Client;
use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// How long a new agent has to write its first health report.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Bytes of the log quoted when an agent fails to start.
const LOG_TAIL: usize = 2000;

/// Which program runs as the agent, and with what extra arguments per host.
#[derive(Clone, Debug)]
pub struct AgentLaunch {
    /// The `ovsnet` binary (`agent` is its subcommand).
    pub program: PathBuf,
    /// Extra arguments for one host's agent after `agent --ovsdb ENDPOINT`, e.g.
    /// `["--docker-plugin", "ovsnet-host-a"]`; hosts not named get none.
    pub extra_args: std::collections::BTreeMap<String, Vec<String>>,
}

impl AgentLaunch {
    /// The running binary itself (the CLI's `lab up`), with no extra arguments.
    pub fn this_binary() -> Result<AgentLaunch, LabError> {
        let program = std::env::current_exe().map_err(|source| LabError::Io {
            path: PathBuf::from("/proc/self/exe"),
            source,
        })?;
        Ok(AgentLaunch {
            program,
            extra_args: Default::default(),
        })
    }

    /// The arguments of `host`'s agent after the program name.
    fn args(&self, host: &str, paths: &HostPaths) -> Vec<String> {
        let mut args = vec![
            "agent".to_string(),
            "--ovsdb".to_string(),
            format!("unix:{}", paths.db_sock.display()),
            "--state-dir".to_string(),
            paths.agent_state.display().to_string(),
        ];
        args.extend(self.extra_args.get(host).cloned().unwrap_or_default());
        args
    }
}

/// Starts `host`'s agent in namespace `ns` unless one with the same command line runs;
/// returns its pid. Waits until it has reported its health.
pub(crate) fn ensure_agent(
    launch: &AgentLaunch,
    host: &str,
    ns: &str,
    paths: &HostPaths,
) -> Result<u32, LabError> {
    let args = launch.args(host, paths);
    if let Some(pid) = live_agent(paths) {
        if agent_args_of(pid).as_deref() == Some(&args[..]) {
            return Ok(pid);
        }
        sys::stop_pid(pid, &comm_of_pid(pid));
    }
    let pid = spawn(launch, ns, &args, paths)?;
    // Started means reported: only a health report naming this pid counts (until
    // `ip netns exec` has exec'd, the pid's cmdline is not the agent's yet).
    sys::wait_until(READY_TIMEOUT, || {
        !alive(pid) || reported(&paths.db_sock, pid)
    });
    if reported(&paths.db_sock, pid) && alive(pid) {
        return Ok(pid);
    }
    sys::stop_pid(pid, &comm_of_pid(pid));
    let _ = std::fs::remove_file(&paths.agent_pid);
    Err(LabError::AgentFailed {
        log: paths.agent_log.clone(),
        tail: log_tail(&paths.agent_log),
    })
}

/// `ip netns exec NS PROGRAM ARGS`, stdout and stderr appended to the log, its pid
/// written to the pid file. A thread reaps it, so a library caller collects no zombies.
fn spawn(
    launch: &AgentLaunch,
    ns: &str,
    args: &[String],
    paths: &HostPaths,
) -> Result<u32, LabError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LabError::Io { path, source }
    };
    std::fs::create_dir_all(&paths.dir).map_err(io(&paths.dir))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&paths.agent_log)
        .map_err(io(&paths.agent_log))?;
    let log_err = log.try_clone().map_err(io(&paths.agent_log))?;
    let program = launch.program.to_string_lossy().into_owned();
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = sys::netns_exec(ns, &program, &arg_refs);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log_err))
        .process_group(0);
    let mut child = cmd.spawn().map_err(|source| LabError::Spawn {
        program: program.clone(),
        source,
    })?;
    let pid = child.id();
    std::thread::spawn(move || child.wait());
    std::fs::write(&paths.agent_pid, format!("{pid}\n")).map_err(io(&paths.agent_pid))?;
    Ok(pid)
}

/// The recorded agent's pid, if that process is alive and still the agent of this host
/// (its command line names this host's OVSDB socket: a recycled pid never does).
pub(crate) fn live_agent(paths: &HostPaths) -> Option<u32> {
    let pid = sys::read_pidfile(&paths.agent_pid)?;
    let endpoint = format!("unix:{}", paths.db_sock.display());
    let args = agent_args_of(pid)?;
    let ours = args.first().map(String::as_str) == Some("agent") && args.contains(&endpoint);
    (ours && alive(pid)).then_some(pid)
}

/// The agent's arguments after the program name, from `/proc/PID/cmdline`: skipping
/// `ip netns exec NS PROGRAM` while `ip` has not exec'd yet, else only `PROGRAM`.
fn agent_args_of(pid: u32) -> Option<Vec<String>> {
    let words = cmdline(pid)?;
    let skip = if words.get(1).map(String::as_str) == Some("netns") {
        5
    } else {
        1
    };
    Some(words.into_iter().skip(skip).collect())
}

/// Stops the host's agent (SIGTERM, then a wait; SIGKILL after the grace period) and
/// a dnsmasq a killed agent left behind; returns whether either was running. The pid
/// file goes too.
pub(crate) fn stop_agent(paths: &HostPaths) -> bool {
    let stopped = live_agent(paths).is_some_and(|pid| sys::stop_pid(pid, &comm_of_pid(pid)));
    let _ = std::fs::remove_file(&paths.agent_pid);
    // A stopped agent stops its dnsmasq; one killed earlier left it running.
    let orphan = crate::agent::dhcp::dnsmasq::stop_left_running(&paths.agent_state);
    stopped || orphan
}

/// `/proc/PID/cmdline` as words.
fn cmdline(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect(),
    )
    .filter(|w: &Vec<String>| !w.is_empty())
}

/// Whether `pid` is a live process (not a zombie), whatever its name: one read of its
/// state, so a process that exec's meanwhile never looks dead.
pub(crate) fn alive(pid: u32) -> bool {
    process::live(pid)
}

/// The command name of a live process (for [`sys::stop_pid`]'s recycled-pid check).
fn comm_of_pid(pid: u32) -> String {
    process::process_state(pid)
        .map(|p| p.name)
        .unwrap_or_default()
}

/// Whether the agent's health in OVSDB names `pid` and says it is up.
fn reported(sock: &Path, pid: u32) -> bool {
    read_health(sock).is_some_and(|h| h.up && h.pid == pid)
}

/// The agent health recorded in a lab host's OVSDB, if any.
pub(crate) fn read_health(sock: &Path) -> Option<health::Health> {
    let endpoint = format!("unix:{}", sock.display());
    let mut client = Client::connect(&endpoint, Duration::from_secs(2)).ok()?;
    let observed = crate::observe::observe_with(&mut client).ok()?;
    health::parse(observed.system.agent.as_deref()?)
}

/// The last [`LOG_TAIL`] bytes of the log, for an error message.
pub(crate) fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let start = text.len().saturating_sub(LOG_TAIL);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_arguments_follow_the_endpoint_for_the_named_host_only() {
        let paths = HostPaths::new(Path::new("/run/l"), "c", "host-a");
        let mut launch = AgentLaunch {
            program: "/bin/ovsnet".into(),
            extra_args: Default::default(),
        };
        launch.extra_args.insert(
            "host-a".into(),
            vec!["--docker-plugin".into(), "ovsnet-host-a".into()],
        );
        assert_eq!(
            launch.args("host-a", &paths),
            [
                "agent",
                "--ovsdb",
                "unix:/run/l/c/hosts/host-a/db.sock",
                "--state-dir",
                "/run/l/c/hosts/host-a/dhcp",
                "--docker-plugin",
                "ovsnet-host-a"
            ]
        );
        assert_eq!(launch.args("host-b", &paths).len(), 5);
    }
}
