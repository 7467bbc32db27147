//! The lab: a whole cluster on one machine, in network namespaces, on real Open vSwitch
//! (userspace datapath), and the check that packets really cross its tunnels. This module
//! owns the lab's namespaces, links, processes and run directory; it never touches the
//! root namespace's interfaces or routes, and it never writes the managed overlay (that
//! is `apply`'s job: `ovsnet apply --lab` creates the overlay bridge and tunnels).
//!
//! # The recipe, and why each step is there (proven by hand on Debian OVS 3.1)
//!
//! - **One namespace per host** (`ovlab.<cluster>.<host>`), and `ovs-vswitchd` is started
//!   *inside* it (`ip netns exec NS ovs-vswitchd --detach`): the userspace datapath
//!   creates its tap devices (`ovs-netdev`, one per internal port) in the namespace it
//!   runs in, and its tunnel routing table (`ovs/route/show`) is copied over netlink from
//!   that namespace's kernel routes. Started anywhere else it would create taps in the
//!   root namespace and route tunnels by the machine's own table.
//! - **Own files per instance**: `ovsdb-tool create` a database from the stock schema, and
//!   `ovsdb-server`/`ovs-vswitchd` each get their own `--pidfile`, `--unixctl`,
//!   `--log-file` and `--remote=punix:` socket in the host's run directory, with
//!   `OVS_RUNDIR`/`OVS_LOGDIR`/`OVS_DBDIR` pointing there too, so no instance falls back
//!   to `/var/run/openvswitch`. `--detach` returns only once the daemon is ready (the
//!   server listens, the switch has its control socket), so no sleeps are needed.
//!   Inserting the `Open_vSwitch` row (over OVSDB, like everything the lab writes to the
//!   database) after the server starts lets the switch find its row.
//! - **Underlay**: a Linux bridge `br-ul` in its own namespace (`ovlab.<cluster>`) and a
//!   veth per host, both ends created directly in their namespaces with `ip -n` (the root
//!   namespace never sees them). The host end `ul0` is a port of a netdev OVS bridge
//!   `br-phy`, and the underlay address goes on `br-phy`'s internal tap, not on the veth:
//!   the userspace datapath sends encapsulated packets out of the bridge that owns the
//!   route to the peer, and the veth itself is only a wire. The address uses /15 so the
//!   whole lab range 198.18.0.0/15 is on-link.
//! - **`ip link set br-phy up`** inside the host namespace is required: the netdev
//!   datapath creates internal taps administratively down. Nothing else was needed: no
//!   `ovs-appctl ovs/route/add` (the route is learned from the address on the tap), no
//!   `tnl/arp/set` (the tunnel ARP cache fills by snooping replies on `br-phy`), and no
//!   `other_config:hwaddr` (the tap's random MAC is fine).
//! - **Containers and probes**: a namespace each, a veth whose outer end is a port tagged
//!   with the VLAN id on the overlay bridge. `ethtool -K eth0 tx off` on the inner end is
//!   required: with checksum offload on, ping works but TCP hangs, because the userspace
//!   datapath forwards the frames with their checksums never filled in. The inner MTU must
//!   be the overlay MTU (underlay − encapsulation − 4): with 1500 on both sides ping works
//!   and TCP stalls as soon as a full-size segment is sent. A don't-fragment ping of
//!   exactly `overlay MTU − 28` bytes passes and one byte more is dropped.
//!
//! - **Underlay MTU**: both veth ends get the topology's underlay MTU and `br-phy` gets
//!   `mtu_request` of the same, or a jumbo underlay would silently be 1500 and the
//!   full-MTU check would fail.
//! - **Talking to the daemons** needs no namespace: ovsnet's OVSDB client on `unix:SOCK`
//!   and `ovs-appctl -t CTL` reach them over their unix sockets from anywhere.
//! - **RSTP bridges** need time after ports are plugged in: a new port sends a topology
//!   change round the tree and for 3 to 6 s (measured, 4-host ring) frames are dropped,
//!   even with the probe port marked `rstp-port-admin-edge=true`. The check therefore
//!   warms up (one ping per probe, first reply or a deadline) before it judges anything.
//!   Containers attached by other tools on an RSTP overlay see the same delay.
//! - **Storms**: a full mesh whose tunnel ports are not protected turns one ARP broadcast
//!   into ~200,000 datapath packets per second across 4 hosts; with split horizon (or
//!   RSTP on a ring) the same broadcast costs a few dozen. The counter read is `lookups:
//!   hit + missed + lost` of `ovs-appctl dpctl/show`: one userspace datapath serves all
//!   netdev bridges of an instance, so it counts the overlay and the underlay together.
//!   Probes run with IPv6 off so they send no broadcasts of their own. Every broadcast
//!   reaches every host, so the threshold is per host, and a test's leftover ARP retries
//!   are waited out before the broadcast is sent (a 100-host `--full` check on a loaded
//!   machine otherwise read its own isolation pings as a storm).
//!
//! Namespaces and links are made with `ip -n` / `ip netns` (iproute2) rather than the
//! rtnetlink crate: its tokio runtime was not worth the time here. The lab only judges
//! those commands by their exit status; it never parses their output.
//!
//! # Names and on-disk layout
//!
//! Namespaces (names are global to the machine, so a cluster name can be up only once):
//! `ovlab.<cluster>` (underlay, bridge `br-ul`, ports `h<8 hex of the host name>`),
//! `ovlab.<cluster>.<host>` (a host: `ul0`, `br-phy`, the overlay bridge, probe ports
//! named by `ovsnet attach`), `ovlab.<cluster>.<host>.v<vlan id>` (a probe: `eth0`),
//! `ovlab.<cluster>._outside` (the outside, when a VLAN has a gateway: `ul0`, the highest
//! free address of the lab range, see [`outside`]).
//! Files, under `<run_root>/<cluster>/` (`run_root` defaults to `/run/ovsnet-lab`):
//!
//! ```text
//! lab.json                          every host ever brought up (for `down`)
//! hosts/<host>/conf.db              the host's OVSDB database
//! hosts/<host>/db.sock              its OVSDB socket: the `--lab` endpoint
//! hosts/<host>/ovsdb-server.{pid,ctl,log}
//! hosts/<host>/ovs-vswitchd.{pid,ctl,log}
//! hosts/<host>/ovsnet-agent.{pid,log} the host's `ovsnet agent` (see [`agent`])
//! ```

pub mod agent;
mod check;
mod dhcp_check;
pub mod docker;
mod gateway_check;
mod gateway_report;
mod host;
pub mod layout;
mod outside;
pub mod ovsdb_plumbing;
mod probe;
mod report;
pub mod sample;
mod storm;
mod sys;
mod traffic;

pub use agent::AgentLaunch;
pub use check::{check, check_with, CheckOptions, Pairs, RETRY_LIMIT};
pub use dhcp_check::{DhcpClient, DhcpReport, DhcpResult};
pub use gateway_report::{GatewayReport, GatewayResult, GatewayTest};
pub use layout::{
    host_netns, outside_netns, probe_netns, underlay_netns, DEFAULT_RUN_ROOT, NETNS_PREFIX,
};
pub use report::{CheckReport, Isolation, Pacing, PairResult, ProbeRef, VlanMatrix};
pub use storm::{storm_probe, StormReport};

use crate::topology::Topology;
use ipnet::Ipv4Net;
use layout::HostPaths;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a lab operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A helper program could not be started at all.
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A helper program exited non-zero.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The whole command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it wrote on stderr.
        stderr: String,
    },
    /// A file operation failed.
    #[error("cannot access `{path}`: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Something did not become ready in time.
    #[error("timed out waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
    },
    /// A host's underlay address lies outside the lab range.
    #[error("underlay address {ip} of `{host}` is outside the lab range 198.18.0.0/15\nhelp: the lab only uses addresses reserved for benchmarking; change the topology's `underlay_ip`")]
    UnderlayOutsideLab {
        /// The host.
        host: String,
        /// Its address.
        ip: Ipv4Addr,
    },
    /// A socket path would not fit a unix socket address.
    #[error("socket path `{path}` is longer than 107 bytes\nhelp: use a shorter run directory")]
    SocketPathTooLong {
        /// The path.
        path: PathBuf,
    },
    /// A lab host is not running.
    #[error("lab host `{host}` is not running ({why})\nhelp: run `ovsnet lab up` first")]
    NotUp {
        /// The host.
        host: String,
        /// What is missing.
        why: String,
    },
    /// The overlay bridge is missing on a host, so probes have nothing to attach to.
    #[error("host `{host}` has no bridge `{bridge}`\nhelp: run `ovsnet apply --lab` first")]
    NoOverlayBridge {
        /// The host.
        host: String,
        /// The bridge name.
        bridge: String,
    },
    /// One host failed while bringing the lab up.
    #[error("lab host `{host}`: {source}")]
    Host {
        /// The host.
        host: String,
        /// What went wrong.
        source: Box<LabError>,
    },
    /// The lab's OVSDB plumbing (init, br-phy, probe ports) failed.
    #[error(transparent)]
    Plumbing(Box<ovsdb_plumbing::PlumbingError>),
    /// Plugging a probe in (or out) failed.
    #[error("probe `{probe}`: {source}")]
    Probe {
        /// The probe's namespace.
        probe: String,
        /// What attach or detach said.
        source: Box<crate::attach::AttachError>,
    },
    /// A host's agent exited or never reported its health after it was started.
    #[error("the agent did not start (log {}):\n{tail}", .log.display())]
    AgentFailed {
        /// Its log file.
        log: PathBuf,
        /// The end of that log.
        tail: String,
    },
    /// Another process already serves a lab host's Docker plugin socket.
    #[error("the Docker plugin `{plugin}` is already served on {} by a process that is not this lab's agent\nhelp: another lab has a host of that name; bring it down, or rename this lab's host", .socket.display())]
    PluginTaken {
        /// The plugin's name.
        plugin: String,
        /// Its socket.
        socket: PathBuf,
    },
    /// A host's agent runs but never opened its Docker plugin socket.
    #[error("the agent did not open the Docker plugin `{plugin}` (log {}):\n{tail}", .log.display())]
    PluginNotServing {
        /// The plugin's name.
        plugin: String,
        /// The agent's log file.
        log: PathBuf,
        /// The end of that log.
        tail: String,
    },
    /// An impossible state; a bug in ovsnet.
    #[error("bug: {0}")]
    Bug(String),
}

impl From<ovsdb_plumbing::PlumbingError> for LabError {
    fn from(error: ovsdb_plumbing::PlumbingError) -> LabError {
        LabError::Plumbing(Box::new(error))
    }
}

/// The lab's record of what it created, kept in `<run_root>/<cluster>/lab.json` so `down`
/// finds hosts that have since left the topology.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    format_version: u32,
    cluster: String,
    hosts: Vec<String>,
}

/// How one lab host is doing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Both daemons alive and the OVSDB socket answers.
    Healthy,
    /// Something is missing; the text says what.
    Degraded(String),
    /// Nothing of this host exists.
    Down,
}

/// One host of a lab.
#[derive(Clone, Debug, Serialize)]
pub struct HostStatus {
    /// Host name from the topology.
    pub name: String,
    /// Its network namespace.
    pub netns: String,
    /// Whether that namespace exists.
    pub netns_present: bool,
    /// The live `ovsdb-server` pid.
    pub ovsdb_pid: Option<u32>,
    /// The live `ovs-vswitchd` pid.
    pub vswitchd_pid: Option<u32>,
    /// The OVSDB endpoint (`unix:PATH`) that `--lab` uses.
    pub endpoint: String,
    /// The `ovs-vswitchd` control socket (for `ovs-appctl -t`).
    pub unixctl: PathBuf,
    /// The live `ovsnet agent` pid, when `up` started one.
    pub agent_pid: Option<u32>,
    /// The agent's log file.
    pub agent_log: PathBuf,
    /// Overall health.
    pub health: Health,
}

/// A lab as `status` sees it.
#[derive(Clone, Debug, Serialize)]
pub struct LabStatus {
    /// Cluster name.
    pub cluster: String,
    /// The cluster's run directory.
    pub run_dir: PathBuf,
    /// The underlay namespace.
    pub underlay_netns: String,
    /// Whether the underlay namespace exists.
    pub underlay_present: bool,
    /// Hosts in topology order.
    pub hosts: Vec<HostStatus>,
    /// The outside (`None` when no VLAN has a gateway, so the lab has none).
    pub outside: Option<OutsideStatus>,
}

/// The lab's outside namespace (see [`outside`]).
#[derive(Clone, Debug, Serialize)]
pub struct OutsideStatus {
    /// Its namespace.
    pub netns: String,
    /// Its address on the underlay.
    pub address: Ipv4Addr,
    /// Whether the namespace exists.
    pub present: bool,
}

impl LabStatus {
    /// Whether every host is healthy and the underlay exists.
    pub fn healthy(&self) -> bool {
        self.underlay_present
            && self.hosts.iter().all(|h| h.health == Health::Healthy)
            && self.outside.as_ref().is_none_or(|o| o.present)
    }

    /// A text table: host, namespace, pids, socket, health.
    pub fn render(&self) -> String {
        let pid = |p: Option<u32>| p.map_or("-".to_string(), |p| p.to_string());
        let mut out = format!(
            "lab `{}` (run dir {}), underlay namespace {} {}\n",
            self.cluster,
            self.run_dir.display(),
            self.underlay_netns,
            if self.underlay_present {
                "present"
            } else {
                "missing"
            }
        );
        if let Some(o) = &self.outside {
            out.push_str(&format!(
                "  outside          netns {:<28} address {} {}\n",
                o.netns,
                o.address,
                if o.present { "present" } else { "missing" }
            ));
        }
        for h in &self.hosts {
            let health = match &h.health {
                Health::Healthy => "healthy".to_string(),
                Health::Degraded(why) => format!("degraded: {why}"),
                Health::Down => "down".to_string(),
            };
            out.push_str(&format!(
                "  {:<16} netns {:<28} ovsdb-server {:>7}  ovs-vswitchd {:>7}  agent {:>7}  {}  {}\n",
                h.name,
                h.netns,
                pid(h.ovsdb_pid),
                pid(h.vswitchd_pid),
                pid(h.agent_pid),
                h.endpoint,
                health
            ));
        }
        out
    }
}

/// How `up` starts the lab.
#[derive(Clone, Debug, Default)]
pub struct UpOptions {
    /// Start (or keep) one `ovsnet agent` per host, this way; `None`: no agents (the
    /// library's plain [`up`], for tests of the fabric alone).
    pub agent: Option<AgentLaunch>,
    /// Each host's agent also serves the Docker plugin `ovsnet-<host>` (see
    /// [`docker`]); needs `agent`.
    pub docker: bool,
}

/// What `down` removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DownReport {
    /// Daemons stopped.
    pub processes_stopped: usize,
    /// Namespaces deleted (hosts, probes, underlay).
    pub namespaces_removed: usize,
}

/// The OVSDB endpoint of `host_name`'s lab instance: `unix:<run dir>/hosts/<host>/db.sock`.
pub fn endpoint(topology: &Topology, host_name: &str, run_root: &Path) -> String {
    let paths = HostPaths::new(&absolute(run_root), &topology.cluster, host_name);
    format!("unix:{}", paths.db_sock.display())
}

/// Starts (or completes) the lab for `topology`, without agents: underlay, then every
/// host in parallel. Idempotent: live daemons are kept, existing links and bridges reused.
pub fn up(topology: &Topology, run_root: &Path) -> Result<LabStatus, LabError> {
    up_with(topology, run_root, &UpOptions::default())
}

/// [`up`], and with `options.agent` one `ovsnet agent` per host in its namespace, started
/// once the host's daemons run (kept when already running with the same arguments).
pub fn up_with(
    topology: &Topology,
    run_root: &Path,
    options: &UpOptions,
) -> Result<LabStatus, LabError> {
    let run_root = absolute(run_root);
    preflight(topology, &run_root)?;
    let launch = match (&options.agent, options.docker) {
        (Some(launch), true) => Some(docker::with_plugins(
            launch,
            topology.hosts.iter().map(|h| h.name.as_str()),
        )),
        (None, true) => {
            return Err(LabError::Bug(
                "the Docker plugins are served by the agents, and none is started".into(),
            ))
        }
        (launch, false) => launch.clone(),
    };
    if options.docker {
        for h in &topology.hosts {
            let paths = HostPaths::new(&run_root, &topology.cluster, &h.name);
            docker::check_free(&h.name, agent::live_agent(&paths))?;
        }
    }
    remember_hosts(topology, &run_root)?;
    host::ensure_underlay(&topology.cluster)?;
    if outside::wanted(topology) {
        outside::ensure(topology)?;
    }
    let results: Vec<(String, Result<(), LabError>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = topology
            .hosts
            .iter()
            .map(|h| {
                let spec = host::HostSpec {
                    cluster: &topology.cluster,
                    name: &h.name,
                    underlay_ip: h.underlay_ip,
                    underlay_mtu: topology.underlay_mtu,
                };
                let root = &run_root;
                let agent = launch.as_ref();
                let docker = options.docker;
                (
                    h.name.clone(),
                    scope.spawn(move || {
                        host::ensure_host(&spec, root)?;
                        let Some(launch) = agent else {
                            return Ok(());
                        };
                        let paths = HostPaths::new(root, spec.cluster, spec.name);
                        let ns = layout::host_netns(spec.cluster, spec.name);
                        let pid = agent::ensure_agent(launch, spec.name, &ns, &paths)?;
                        if docker {
                            docker::wait_serving(spec.name, pid, &paths.agent_log)?;
                        }
                        Ok(())
                    }),
                )
            })
            .collect();
        workers
            .into_iter()
            .map(|(name, w)| {
                let result = w
                    .join()
                    .unwrap_or_else(|_| Err(LabError::Bug("lab host worker panicked".into())));
                (name, result)
            })
            .collect()
    });
    for (host, result) in results {
        result.map_err(|e| LabError::Host {
            host,
            source: Box::new(e),
        })?;
    }
    Ok(status_of(topology, &run_root))
}

/// Refuses what the lab must not or cannot do, before anything is created.
fn preflight(topology: &Topology, run_root: &Path) -> Result<(), LabError> {
    #[allow(clippy::expect_used, reason = "a literal network that parses")]
    let lab_range: Ipv4Net = "198.18.0.0/15".parse().expect("a valid literal network");
    for h in &topology.hosts {
        if !lab_range.contains(&h.underlay_ip) {
            return Err(LabError::UnderlayOutsideLab {
                host: h.name.clone(),
                ip: h.underlay_ip,
            });
        }
        let paths = HostPaths::new(run_root, &topology.cluster, &h.name);
        let longest = paths.longest_socket();
        if longest.as_os_str().len() > 107 {
            return Err(LabError::SocketPathTooLong {
                path: longest.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// Adds the topology's hosts to the record (written before anything is created, so a
/// failed `up` is still fully known to `down`).
fn remember_hosts(topology: &Topology, run_root: &Path) -> Result<(), LabError> {
    let dir = layout::cluster_dir(run_root, &topology.cluster);
    let io = |source| LabError::Io {
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let mut record = read_record(&dir).unwrap_or_default();
    record.format_version = 1;
    record.cluster = topology.cluster.clone();
    for h in &topology.hosts {
        if !record.hosts.contains(&h.name) {
            record.hosts.push(h.name.clone());
        }
    }
    let text = serde_json::to_string_pretty(&record)
        .map_err(|e| LabError::Bug(format!("cannot encode the lab record: {e}")))?;
    std::fs::write(dir.join(layout::RECORD_FILE), text).map_err(io)
}

/// The lab record, if there is a readable one.
fn read_record(dir: &Path) -> Option<Record> {
    let text = std::fs::read_to_string(dir.join(layout::RECORD_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Each host's namespace, daemons, socket and health; never changes anything. A lab
/// that is down is a status too (every host `Down`), not an error.
pub fn status(topology: &Topology, run_root: &Path) -> Result<LabStatus, LabError> {
    Ok(status_of(topology, &absolute(run_root)))
}

/// [`status`] on an absolute run root.
fn status_of(topology: &Topology, run_root: &Path) -> LabStatus {
    let underlay = layout::underlay_netns(&topology.cluster);
    LabStatus {
        cluster: topology.cluster.clone(),
        run_dir: layout::cluster_dir(run_root, &topology.cluster),
        underlay_present: sys::netns_exists(&underlay),
        underlay_netns: underlay,
        hosts: topology
            .hosts
            .iter()
            .map(|h| host_status(&topology.cluster, &h.name, run_root))
            .collect(),
        outside: outside::wanted(topology).then(|| {
            let netns = layout::outside_netns(&topology.cluster);
            OutsideStatus {
                present: sys::netns_exists(&netns),
                netns,
                address: outside::address(topology),
            }
        }),
    }
}

/// One host's namespace, daemons and health.
fn host_status(cluster: &str, name: &str, run_root: &Path) -> HostStatus {
    let paths = HostPaths::new(run_root, cluster, name);
    let netns = layout::host_netns(cluster, name);
    let netns_present = sys::netns_exists(&netns);
    let ovsdb_pid = host::live_pid(&paths.ovsdb_pid, host::OVSDB_COMM);
    let vswitchd_pid = host::live_pid(&paths.vswitchd_pid, host::VSWITCHD_COMM);
    let agent_pid = agent::live_agent(&paths);
    let mut missing = Vec::new();
    if !netns_present {
        missing.push("namespace missing");
    }
    if ovsdb_pid.is_none() {
        missing.push("ovsdb-server not running");
    } else if !ovsdb_answers(&paths.db_sock) {
        missing.push("OVSDB socket not answering");
    }
    if vswitchd_pid.is_none() {
        missing.push("ovs-vswitchd not running");
    }
    // Only an agent `up` started and that is gone since: a lab without agents is whole.
    if agent_pid.is_none() && paths.agent_pid.exists() {
        missing.push("ovsnet agent not running");
    }
    let health = if missing.is_empty() {
        Health::Healthy
    } else if !netns_present && ovsdb_pid.is_none() && vswitchd_pid.is_none() {
        Health::Down
    } else {
        Health::Degraded(missing.join(", "))
    };
    HostStatus {
        name: name.to_string(),
        netns,
        netns_present,
        ovsdb_pid,
        vswitchd_pid,
        endpoint: format!("unix:{}", paths.db_sock.display()),
        unixctl: paths.vswitchd_ctl,
        agent_pid,
        agent_log: paths.agent_log,
        health,
    }
}

/// Whether the OVSDB server on `sock` answers a `list_dbs` with `Open_vSwitch`.
fn ovsdb_answers(sock: &Path) -> bool {
    let attempt = || -> std::io::Result<bool> {
        let mut stream = UnixStream::connect(sock)?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(br#"{"method":"list_dbs","params":[],"id":0}"#)?;
        let mut buf = [0u8; 4096];
        let mut seen = Vec::new();
        while !seen.ends_with(b"}") {
            let n = stream.read(&mut buf)?;
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        Ok(String::from_utf8_lossy(&seen).contains("\"Open_vSwitch\""))
    };
    attempt().unwrap_or(false)
}

/// Stops every agent and daemon the lab started (by pid; agents first, so each can
/// still write its last health into its OVSDB) and deletes every namespace of the
/// cluster (hosts, probes, underlay) and its run directory. Works on a partial or failed
/// lab and on one whose run directory is gone; running it twice is harmless.
pub fn down(topology: &Topology, run_root: &Path) -> Result<DownReport, LabError> {
    let run_root = absolute(run_root);
    let dir = layout::cluster_dir(&run_root, &topology.cluster);
    let mut hosts: Vec<String> = read_record(&dir).map(|r| r.hosts).unwrap_or_default();
    for h in &topology.hosts {
        if !hosts.contains(&h.name) {
            hosts.push(h.name.clone());
        }
    }
    let mut report = DownReport::default();
    for name in &hosts {
        let paths = HostPaths::new(&run_root, &topology.cluster, name);
        report.processes_stopped += usize::from(agent::stop_agent(&paths));
        // An agent stopped by SIGTERM removed its plugin socket; one killed did not.
        docker::remove_stale_socket(name);
        report.processes_stopped += host::stop_daemons(&paths);
    }
    let underlay = layout::underlay_netns(&topology.cluster);
    let prefix = layout::cluster_netns_prefix(&topology.cluster);
    for ns in sys::netns_matching(&underlay, &prefix) {
        report.namespaces_removed += usize::from(sys::delete_netns(&ns)?);
    }
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(LabError::Io { path: dir, source }),
    }
    Ok(report)
}

/// `run_root` made absolute, because the daemons run with `/` as working directory.
fn absolute(run_root: &Path) -> PathBuf {
    if run_root.is_absolute() {
        return run_root.to_path_buf();
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(run_root))
        .unwrap_or_else(|_| run_root.to_path_buf())
}
