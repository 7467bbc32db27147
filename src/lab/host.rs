//! Bringing one lab host up: its namespace, its underlay veth, its own `ovsdb-server`
//! and `ovs-vswitchd`, and `br-phy` holding the underlay address. Every step is
//! idempotent, so `up` can be run again over a live or half-built lab.

use super::layout::{self, HostPaths};
use super::ovsdb_plumbing;
use super::sys::{self, ip, run};
use super::LabError;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The schema `ovsdb-tool create` starts each host's database from.
const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";
/// Prefix length of the underlay addresses: the whole lab range 198.18.0.0/15 is one link.
const UNDERLAY_PREFIX: u8 = 15;
/// Command names as `/proc/PID/stat` shows them.
pub(crate) const OVSDB_COMM: &str = "ovsdb-server";
/// See [`OVSDB_COMM`].
pub(crate) const VSWITCHD_COMM: &str = "ovs-vswitchd";

/// What `up` needs to know about one host.
pub(crate) struct HostSpec<'a> {
    pub cluster: &'a str,
    pub name: &'a str,
    pub underlay_ip: Ipv4Addr,
    pub underlay_mtu: u32,
}

/// Makes the shared underlay: a namespace with one Linux bridge.
pub(crate) fn ensure_underlay(cluster: &str) -> Result<(), LabError> {
    let ns = layout::underlay_netns(cluster);
    sys::ensure_netns(&ns)?;
    if !sys::link_exists(&ns, layout::UNDERLAY_BRIDGE) {
        run(&mut ip(
            &ns,
            &["link", "add", layout::UNDERLAY_BRIDGE, "type", "bridge"],
        ))?;
    }
    run(&mut ip(
        &ns,
        &["link", "set", layout::UNDERLAY_BRIDGE, "up"],
    ))
}

/// Brings one host fully up (namespace, veth, daemons, br-phy).
pub(crate) fn ensure_host(spec: &HostSpec, run_root: &Path) -> Result<(), LabError> {
    let ns = layout::host_netns(spec.cluster, spec.name);
    let paths = HostPaths::new(run_root, spec.cluster, spec.name);
    if !sys::netns_exists(&ns) {
        // Daemons outliving their namespace (deleted by hand) hold taps nobody can reach:
        // start this host afresh (its agent, too, lives in the deleted namespace).
        super::agent::stop_agent(&paths);
        stop_daemons(&paths);
    }
    sys::ensure_netns(&ns)?;
    ensure_uplink(spec, &ns)?;
    ensure_daemons(&ns, &paths)?;
    ensure_phy_bridge(spec, &ns, &paths)
}

/// The veth from the host namespace (`ul0`) to the underlay bridge.
fn ensure_uplink(spec: &HostSpec, ns: &str) -> Result<(), LabError> {
    let underlay = layout::underlay_netns(spec.cluster);
    let outer = layout::underlay_port(spec.name);
    ensure_underlay_veth(
        ns,
        layout::HOST_UPLINK,
        &underlay,
        &outer,
        spec.underlay_mtu,
    )?;
    run(&mut ip(ns, &["link", "set", layout::HOST_UPLINK, "up"]))
}

/// A veth `inner` in `ns` whose peer `outer` is a port of the underlay bridge (in
/// `underlay`), both at `mtu`, the underlay end up. Idempotent; `inner` is left down.
pub(crate) fn ensure_underlay_veth(
    ns: &str,
    inner: &str,
    underlay: &str,
    outer: &str,
    mtu: u32,
) -> Result<(), LabError> {
    let mtu = mtu.to_string();
    if !sys::link_exists(ns, inner) {
        // A stale underlay end (its namespace was deleted) would block the name.
        if sys::link_exists(underlay, outer) {
            if let Err(e) = run(&mut ip(underlay, &["link", "del", outer])) {
                // The kernel tears a deleted namespace down asynchronously (once its
                // last daemon has exited), so the stale end can vanish between the look
                // and the delete: only an end that is still there is a failure.
                if sys::link_exists(underlay, outer) {
                    return Err(e);
                }
            }
        }
        // Both ends are created directly in their namespaces: nothing ever appears in
        // the root namespace, not even for an instant.
        run(&mut ip(
            ns,
            &[
                "link", "add", inner, "mtu", &mtu, "type", "veth", "peer", "name", outer, "mtu",
                &mtu, "netns", underlay,
            ],
        ))?;
    }
    run(&mut ip(
        underlay,
        &[
            "link",
            "set",
            outer,
            "master",
            layout::UNDERLAY_BRIDGE,
            "up",
        ],
    ))
}

/// Starts whichever of the two daemons is not running.
fn ensure_daemons(ns: &str, paths: &HostPaths) -> Result<(), LabError> {
    let ovsdb_live = live_pid(&paths.ovsdb_pid, OVSDB_COMM).is_some();
    let vswitchd_live = live_pid(&paths.vswitchd_pid, VSWITCHD_COMM).is_some();
    if ovsdb_live && vswitchd_live {
        return Ok(());
    }
    if !ovsdb_live {
        // A switch attached to a dead database is restarted with it.
        if let Some(pid) = live_pid(&paths.vswitchd_pid, VSWITCHD_COMM) {
            sys::stop_pid(pid, VSWITCHD_COMM);
        }
        start_ovsdb(ns, paths)?;
    }
    start_vswitchd(ns, paths)
}

/// Stops the host's daemons (switch first); returns how many were running.
pub(crate) fn stop_daemons(paths: &HostPaths) -> usize {
    let mut stopped = 0;
    for (pidfile, comm) in [
        (&paths.vswitchd_pid, VSWITCHD_COMM),
        (&paths.ovsdb_pid, OVSDB_COMM),
    ] {
        if let Some(pid) = sys::read_pidfile(pidfile) {
            stopped += usize::from(sys::stop_pid(pid, comm));
        }
    }
    stopped
}

/// The pid in `pidfile` if that process is alive and is `comm`.
pub(crate) fn live_pid(pidfile: &Path, comm: &str) -> Option<u32> {
    sys::read_pidfile(pidfile).filter(|&pid| sys::pid_alive(pid, comm))
}

/// Creates the database if needed and starts `ovsdb-server` on it.
fn start_ovsdb(ns: &str, paths: &HostPaths) -> Result<(), LabError> {
    std::fs::create_dir_all(&paths.dir).map_err(|source| LabError::Io {
        path: paths.dir.clone(),
        source,
    })?;
    if !paths.db.exists() {
        let mut create = Command::new("ovsdb-tool");
        create.arg("create").arg(&paths.db).arg(SCHEMA);
        run(&mut create)?;
    }
    let _ = std::fs::remove_file(&paths.db_sock);
    // --detach returns once the server listens, so no polling is needed for the socket.
    let mut cmd = daemon_command(ns, "ovsdb-server", paths);
    cmd.arg(&paths.db)
        .arg(format!("--remote=punix:{}", paths.db_sock.display()))
        .arg(format!("--pidfile={}", paths.ovsdb_pid.display()))
        .arg(format!("--unixctl={}", paths.ovsdb_ctl.display()))
        .arg(format!("--log-file={}", paths.ovsdb_log.display()));
    run(&mut cmd)?;
    ovsdb_plumbing::init(&paths.db_sock)?;
    Ok(())
}

/// Starts `ovs-vswitchd` inside the host namespace.
fn start_vswitchd(ns: &str, paths: &HostPaths) -> Result<(), LabError> {
    let mut cmd = daemon_command(ns, "ovs-vswitchd", paths);
    cmd.arg(format!("unix:{}", paths.db_sock.display()))
        .arg(format!("--pidfile={}", paths.vswitchd_pid.display()))
        .arg(format!("--unixctl={}", paths.vswitchd_ctl.display()))
        .arg(format!("--log-file={}", paths.vswitchd_log.display()));
    run(&mut cmd)?;
    let ready = sys::wait_until(Duration::from_secs(10), || paths.vswitchd_ctl.exists());
    if ready {
        Ok(())
    } else {
        Err(LabError::Timeout {
            what: format!(
                "ovs-vswitchd control socket {}",
                paths.vswitchd_ctl.display()
            ),
        })
    }
}

/// `ip netns exec NS DAEMON --detach --no-chdir` with every OVS directory pointed at the
/// host's own directory, so nothing falls back to `/var/run/openvswitch`.
fn daemon_command(ns: &str, daemon: &str, paths: &HostPaths) -> Command {
    let mut cmd = sys::netns_exec(ns, daemon, &["--detach", "--no-chdir"]);
    for var in ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"] {
        cmd.env(var, &paths.dir);
    }
    cmd
}

/// `br-phy` owning `ul0`, with the underlay address on its tap, link up.
fn ensure_phy_bridge(spec: &HostSpec, ns: &str, paths: &HostPaths) -> Result<(), LabError> {
    // Waits for the switch: the bridge's tap must exist before the address goes on it.
    ovsdb_plumbing::ensure_phy_bridge(
        &paths.db_sock,
        layout::PHY_BRIDGE,
        layout::HOST_UPLINK,
        spec.underlay_mtu,
    )?;
    let addr = format!("{}/{UNDERLAY_PREFIX}", spec.underlay_ip);
    run(&mut ip(
        ns,
        &["addr", "replace", &addr, "dev", layout::PHY_BRIDGE],
    ))?;
    run(&mut ip(ns, &["link", "set", layout::PHY_BRIDGE, "up"]))
}
