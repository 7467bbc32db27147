//! The lab's contact with the operating system: running `ip`, `ethtool` and `ping`
//! (judged by exit status only, their output is never parsed), reading
//! process state from `/proc`, signalling processes by pid, and running a closure on a
//! thread that has entered a network namespace. Nothing here decides what to build.

use super::LabError;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Where `ip netns add` keeps its namespace handles.
pub(crate) const NETNS_DIR: &str = "/run/netns";

/// Runs a command to completion; a non-zero exit becomes `LabError::Command` with stderr.
pub(crate) fn run(cmd: &mut Command) -> Result<(), LabError> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LabError::Spawn {
            program: program_of(cmd),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(LabError::Command {
        command: describe(cmd),
        status: out.status.to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

/// Runs a command quietly and reports only whether it exited 0.
pub(crate) fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// The program of a command, for messages.
fn program_of(cmd: &Command) -> String {
    cmd.get_program().to_string_lossy().into_owned()
}

/// The whole command line, for messages.
fn describe(cmd: &Command) -> String {
    let mut words = vec![program_of(cmd)];
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// `ip [-n NS] ARGS...`: `-n` makes `ip` act inside the namespace, never in the root one.
pub(crate) fn ip(netns: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.arg("-n").arg(netns).args(args);
    cmd
}

/// `ip netns exec NS PROGRAM ARGS...`.
pub(crate) fn netns_exec(netns: &str, program: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", netns, program]).args(args);
    cmd
}

/// Whether the named network namespace exists.
pub(crate) fn netns_exists(name: &str) -> bool {
    Path::new(NETNS_DIR).join(name).exists()
}

/// Creates the namespace unless it exists, and brings its loopback up.
pub(crate) fn ensure_netns(name: &str) -> Result<(), LabError> {
    if !netns_exists(name) {
        run(Command::new("ip").args(["netns", "add", name]))?;
    }
    run(&mut ip(name, &["link", "set", "lo", "up"]))
}

/// Deletes the namespace if it exists; its interfaces (and veth peers) go with it.
pub(crate) fn delete_netns(name: &str) -> Result<bool, LabError> {
    if !netns_exists(name) {
        return Ok(false);
    }
    run(Command::new("ip").args(["netns", "del", name]))?;
    Ok(true)
}

/// Namespace names in `/run/netns` that are `exact` or start with `prefix`.
pub(crate) fn netns_matching(exact: &str, prefix: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n == exact || n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// Whether a link of that name exists in the namespace.
pub(crate) fn link_exists(netns: &str, link: &str) -> bool {
    succeeds(&mut ip(netns, &["link", "show", "dev", link]))
}

/// Reads a pid file as written by OVS daemons.
pub(crate) fn read_pidfile(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether `pid` is a live (not zombie) process whose command name is `comm`; the name
/// check keeps a recycled pid from being mistaken for (or killed as) our daemon.
pub(crate) fn pid_alive(pid: u32, comm: &str) -> bool {
    crate::linux::process::live_named(pid, comm)
}

/// Stops our daemon `pid` (checked by name): SIGTERM, then SIGKILL after a grace period.
/// Returns whether a live process was found.
pub(crate) fn stop_pid(pid: u32, comm: &str) -> bool {
    if !pid_alive(pid, comm) {
        return false;
    }
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) has no memory effects; the pid was just checked to be our daemon.
    unsafe { libc::kill(raw, libc::SIGTERM) };
    if wait_until(Duration::from_secs(3), || !pid_alive(pid, comm)) {
        return true;
    }
    // SAFETY: as above.
    unsafe { libc::kill(raw, libc::SIGKILL) };
    wait_until(Duration::from_secs(2), || !pid_alive(pid, comm));
    true
}

/// Polls `done` every 10 ms until it holds or `limit` passes; returns whether it held.
pub(crate) fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Runs `f` on a fresh thread that has joined the network namespace `netns`; sockets it
/// opens live there. The thread ends with `f`, so no other code ever runs in that namespace.
pub(crate) fn in_netns<T, F>(netns: &str, f: F) -> std::io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> std::io::Result<T> + Send + 'static,
{
    let handle = File::open(Path::new(NETNS_DIR).join(netns))?;
    let worker = thread::spawn(move || {
        // SAFETY: setns(2) on a valid fd only changes this thread's network namespace.
        let rc = unsafe { libc::setns(handle.as_raw_fd(), libc::CLONE_NEWNET) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        f()
    });
    worker
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("namespace worker panicked")))
}
