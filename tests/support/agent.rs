//! The host agent as the agent tests drive it: the fabric and host intent written with
//! stock `ovs-vsctl` exactly as `apply` writes them (docs/host-side.md), the agent as a
//! child inside the host's namespace, stopped by pid, and its health read back with
//! `ovs-vsctl`, independent of ovsnet.

use super::OvsHost;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The overlay MTU the written intent states (`external_ids:ovsnet-mtu`).
pub const OVERLAY_MTU: &str = "1446";

/// The overlay bridge with the host intent, `web` being the `ovsnet-vlan-web` JSON.
pub fn write_bridge(host: &OvsHost, web: &str) {
    let vlan = format!(
        "external_ids:ovsnet-vlan-web={}",
        serde_json::to_string(web).expect("a string serializes")
    );
    host.vsctl(&[
        "--",
        "add-br",
        "br-ovsnet",
        "--",
        "set",
        "Bridge",
        "br-ovsnet",
        "datapath_type=netdev",
        "external_ids:ovsnet-cluster=demo",
        "external_ids:ovsnet-role=bridge",
        "external_ids:ovsnet-host=host-a",
        "external_ids:ovsnet-underlay-ip=198.18.0.1",
        &format!("external_ids:ovsnet-mtu={OVERLAY_MTU}"),
        &vlan,
    ]);
}

/// VLAN 10's gateway port, as apply writes it.
pub fn write_gateway_port(host: &OvsHost) {
    host.vsctl(&[
        "--",
        "add-port",
        "br-ovsnet",
        "ovsgw-10",
        "tag=10",
        "protected=true",
        "external_ids:ovsnet-cluster=demo",
        "external_ids:ovsnet-role=gateway",
        "external_ids:ovsnet-vlan=web",
        "--",
        "set",
        "Interface",
        "ovsgw-10",
        "type=internal",
        "mac=\"02:00:00:00:0a:01\"",
        "external_ids:ovsnet-cluster=demo",
        "external_ids:ovsnet-role=gateway",
        "external_ids:ovsnet-vlan=web",
    ]);
}

/// The bridge and the gateway port, as apply writes them.
pub fn write_intent(host: &OvsHost, web: &str) {
    write_bridge(host, web);
    write_gateway_port(host);
}

/// The agent as a child inside the host's namespace, stopped by pid on drop. With a
/// state directory of the test's own, any dnsmasq started with that directory's
/// config is killed by pid on drop too.
pub struct Agent {
    child: Option<Child>,
    state: Option<PathBuf>,
}

impl Agent {
    /// Starts `ovsnet agent` on `host`; `path` replaces its `PATH` (to hide a tool).
    pub fn start(host: &OvsHost, state: Option<&Path>, path: Option<&str>) -> Agent {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", host.netns(), "env"]);
        if let Some(path) = path {
            cmd.arg(format!("PATH={path}"));
        }
        cmd.arg(env!("CARGO_BIN_EXE_ovsnet"))
            .args(["agent", "--ovsdb", &host.endpoint()]);
        if let Some(state) = state {
            cmd.arg("--state-dir").arg(state);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        Agent {
            child: Some(cmd.spawn().expect("spawn the agent")),
            state: state.map(Path::to_path_buf),
        }
    }

    /// The pid of the agent (of `ip netns exec`, which execs into it).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the agent runs").id()
    }

    /// SIGKILL: no clean-up, no last health report.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then the exit status (killed after 10 s).
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        signal(child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop();
        if let Some(state) = &self.state {
            for pid in dnsmasq_pids(state) {
                signal(pid, "KILL");
            }
        }
    }
}

/// Sends `sig` (a name: TERM, KILL, STOP, CONT) to `pid`.
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

/// Live dnsmasq processes started with the config under `state`, ascending.
pub fn dnsmasq_pids(state: &Path) -> Vec<u32> {
    let conf = format!("--conf-file={}", state.join("dnsmasq.conf").display());
    let Ok(proc) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = proc
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid: &u32| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z');
            !zombie && cmdline.split(|b| *b == 0).any(|w| w == conf.as_bytes())
        })
        .collect();
    pids.sort();
    pids
}

/// Polls `ok` every 100 ms for 30 s; panics naming `what` when it never holds.
pub fn wait_until(what: &str, ok: impl FnMut() -> bool) {
    super::wait_within(
        what,
        Duration::from_secs(30),
        Duration::from_millis(100),
        ok,
    );
}

/// The agent's health report (`external_ids:ovsnet-agent`), or null before its first.
pub fn health(host: &OvsHost) -> serde_json::Value {
    let raw = host
        .try_vsctl(&[
            "--no-wait",
            "get",
            "Open_vSwitch",
            ".",
            "external_ids:ovsnet-agent",
        ])
        .unwrap_or_default();
    // ovs-vsctl prints the string quoted, as OVSDB's own syntax.
    let text: String = serde_json::from_str(raw.trim()).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

/// Runs a shell command and returns its stdout; a failure is shown, not fatal.
pub fn sh(script: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", script])
        .output()
        .expect("sh runs");
    if !out.status.success() {
        eprintln!(
            "`{script}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}
