//! `lab check`: probes on the overlay and real traffic between them. For every host and
//! every VLAN it has a range in, a probe (a namespace and a veth tagged into the overlay
//! bridge); then ICMP, a TCP exchange and a full-MTU don't-fragment ping between every
//! pair of probes of one VLAN, and an isolation test between every pair of probes of
//! different VLANs. Probe ports carry no ovsnet mark: to plan and apply they are foreign.
//!
//! Isolation must prove something. Probes of different VLANs sit in different subnets, so
//! a plain ping between them fails even on a single flat segment (no route). Instead each
//! probe of the pair gets a host route to the other *on its own interface*: the two are
//! then one ARP away from each other, and the only thing that keeps them apart is the
//! overlay's VLAN separation. A leak between the VLANs makes that ping succeed.

use super::layout::{self, HostPaths};
use super::storm::{self, StormReport};
use super::sys::{self, ip, netns_exec, run, vsctl};
use super::LabError;
use crate::topology::{Analysis, Protection, Topology};
use serde::Serialize;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bytes each TCP exchange sends: enough for many full-size segments.
const TCP_BYTES: usize = 256 * 1024;
/// The upper bound of one TCP exchange.
const TCP_DEADLINE: Duration = Duration::from_secs(5);
/// Seconds a same-VLAN ping may take to get its first reply.
const REACH_DEADLINE: u32 = 4;
/// Seconds a cross-VLAN ping is given to (wrongly) get through; run after the same-VLAN
/// tests, when every path has settled.
const ISOLATION_DEADLINE: u32 = 2;
/// Seconds the warm-up waits for a path on a bridge without RSTP.
const WARM_UP: u32 = 3;
/// Seconds the warm-up waits for a path on an RSTP bridge.
const WARM_UP_RSTP: u32 = 12;
/// How long the broadcast test watches the datapath counters.
const BROADCAST_WINDOW: Duration = Duration::from_millis(700);
/// At most this many pings run at once.
const PING_BATCH: usize = 48;

/// One probe, as reports name it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeRef {
    /// Host the probe hangs off.
    pub host: String,
    /// VLAN name.
    pub vlan: String,
    /// VLAN id (the probe port's tag).
    pub vlan_id: u16,
    /// The probe's address (first usable of the host's range).
    pub address: Ipv4Addr,
}

/// Traffic from one probe to another of the same VLAN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PairResult {
    /// A small ping got an answer.
    pub icmp: bool,
    /// A TCP exchange of 256 KiB completed, with the byte count echoed back.
    pub tcp: bool,
    /// A don't-fragment ping of the full overlay MTU got an answer.
    pub mtu: bool,
}

impl PairResult {
    /// Whether every test passed.
    pub fn ok(&self) -> bool {
        self.icmp && self.tcp && self.mtu
    }

    fn failures(&self) -> String {
        let failed: Vec<&str> = [(self.icmp, "icmp"), (self.tcp, "tcp"), (self.mtu, "mtu")]
            .into_iter()
            .filter(|(ok, _)| !ok)
            .map(|(_, name)| name)
            .collect();
        failed.join(", ")
    }
}

/// The hosts × hosts matrix of one VLAN: row = from, column = to.
#[derive(Clone, Debug, Serialize)]
pub struct VlanMatrix {
    /// VLAN name.
    pub vlan: String,
    /// VLAN id.
    pub vlan_id: u16,
    /// Hosts with a range in this VLAN, topology order.
    pub hosts: Vec<String>,
    /// `cells[from][to]`; `None` on the diagonal.
    pub cells: Vec<Vec<Option<PairResult>>>,
}

/// One cross-VLAN pair and whether they stayed apart.
#[derive(Clone, Debug, Serialize)]
pub struct Isolation {
    /// One probe.
    pub a: ProbeRef,
    /// The other, in a different VLAN.
    pub b: ProbeRef,
    /// True when `a` could not reach `b` even with a route on its own link.
    pub isolated: bool,
}

/// Everything `check` found.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// The overlay MTU the probes used.
    pub overlay_mtu: u32,
    /// One matrix per VLAN that has probes.
    pub vlans: Vec<VlanMatrix>,
    /// Every cross-VLAN probe pair.
    pub isolation: Vec<Isolation>,
    /// Datapath work caused by one broadcast: the proof there is no forwarding loop.
    pub broadcast: StormReport,
    /// True when the traffic tests were skipped because the overlay storms (then
    /// `vlans` and `isolation` are empty).
    pub traffic_skipped: bool,
    /// Probe namespaces left in place (`keep_probes`), else empty.
    pub kept_probes: Vec<String>,
}

impl CheckReport {
    /// Whether every same-VLAN pair passed and every cross-VLAN pair stayed isolated.
    pub fn passed(&self) -> bool {
        self.broken_pairs().is_empty()
    }

    /// One line per failure: `web: host-a -> host-c (icmp, tcp)` or
    /// `leak: web@host-a <-> db@host-b`.
    pub fn broken_pairs(&self) -> Vec<String> {
        let mut broken = Vec::new();
        for m in &self.vlans {
            for (i, row) in m.cells.iter().enumerate() {
                for (j, cell) in row.iter().enumerate() {
                    if let Some(r) = cell.filter(|r| !r.ok()) {
                        broken.push(format!(
                            "{}: {} -> {} ({})",
                            m.vlan,
                            m.hosts[i],
                            m.hosts[j],
                            r.failures()
                        ));
                    }
                }
            }
        }
        if self.broadcast.is_storm() {
            broken.push(format!(
                "storm: one broadcast made {} datapath packets in {} ms",
                self.broadcast.total, self.broadcast.window_ms
            ));
        }
        for iso in self.isolation.iter().filter(|i| !i.isolated) {
            broken.push(format!(
                "leak: {}@{} <-> {}@{}",
                iso.a.vlan, iso.a.host, iso.b.vlan, iso.b.host
            ));
        }
        broken
    }

    /// The matrices, the isolation summary and the broken pairs, as text.
    pub fn render(&self) -> String {
        let mut out = format!("overlay MTU {}\n", self.overlay_mtu);
        if self.traffic_skipped {
            out.push_str("traffic tests skipped: the overlay storms (a forwarding loop)\n");
        }
        for m in &self.vlans {
            out.push_str(&render_matrix(m));
        }
        let leaks = self.isolation.iter().filter(|i| !i.isolated).count();
        out.push_str(&format!(
            "\nisolation: {} cross-VLAN pairs, {} isolated\n",
            self.isolation.len(),
            self.isolation.len() - leaks
        ));
        out.push_str(&self.broadcast.render());
        out.push('\n');
        let broken = self.broken_pairs();
        if broken.is_empty() {
            out.push_str("\ncheck passed\n");
        } else {
            out.push_str(&format!("\ncheck FAILED: {} broken\n", broken.len()));
            for b in broken {
                out.push_str(&format!("  {b}\n"));
            }
        }
        out
    }
}

fn render_matrix(m: &VlanMatrix) -> String {
    const CORNER: &str = "from \\ to";
    let label = m
        .hosts
        .iter()
        .map(|h| h.len())
        .max()
        .unwrap_or(0)
        .max(CORNER.len());
    let cell = m.hosts.iter().map(|h| h.len()).max().unwrap_or(0).max(4);
    let mut out = format!("\nVLAN {} ({})\n", m.vlan, m.vlan_id);
    let mut header = format!("  {CORNER:label$}");
    for h in &m.hosts {
        header.push_str(&format!("  {h:cell$}"));
    }
    out.push_str(header.trim_end());
    out.push('\n');
    for (i, row) in m.cells.iter().enumerate() {
        let mut line = format!("  {:label$}", m.hosts[i]);
        for c in row {
            let mark = match c {
                None => "-",
                Some(r) if r.ok() => "pass",
                Some(_) => "FAIL",
            };
            line.push_str(&format!("  {mark:cell$}"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A probe being built or used.
#[derive(Clone, Debug)]
struct Probe {
    r: ProbeRef,
    netns: String,
    host_netns: String,
    sock: PathBuf,
    prefix_len: u8,
}

/// Attaches probes, runs the traffic tests, and removes the probes unless `keep_probes`.
pub fn check(
    topology: &Topology,
    analysis: &Analysis,
    run_root: &Path,
    keep_probes: bool,
) -> Result<CheckReport, LabError> {
    let run_root = super::absolute(run_root);
    let probes = plan_probes(topology, &run_root);
    let bridge = topology.bridge.name.as_str();
    for h in super::status_of(topology, &run_root).hosts {
        if let super::Health::Degraded(why) = h.health {
            return Err(LabError::NotUp { host: h.name, why });
        }
        if h.health == super::Health::Down {
            return Err(LabError::NotUp {
                host: h.name,
                why: "nothing running".into(),
            });
        }
    }
    for h in &topology.hosts {
        let sock = HostPaths::new(&run_root, &topology.cluster, &h.name).db_sock;
        if !sys::succeeds(&mut vsctl(&sock, &["br-exists", bridge])) {
            return Err(LabError::NoOverlayBridge {
                host: h.name.clone(),
                bridge: bridge.to_string(),
            });
        }
    }
    let attached = attach_all(&probes, bridge, analysis.overlay_mtu);
    let report = attached.and_then(|()| {
        warm_up(&probes, analysis.protection)?;
        // First, because a storming overlay fails the check whatever else happens, and
        // the traffic tests would only prolong the storm (and each wait its deadline).
        let broadcast = broadcast_test(topology, &run_root, &probes)?;
        let storming = broadcast.is_storm();
        let (vlans, isolation) = if storming {
            (Vec::new(), Vec::new())
        } else {
            (
                same_vlan_matrices(topology, &probes, analysis.overlay_mtu)?,
                isolation_tests(&probes, keep_probes)?,
            )
        };
        Ok(CheckReport {
            overlay_mtu: analysis.overlay_mtu,
            vlans,
            isolation,
            broadcast,
            traffic_skipped: storming,
            kept_probes: Vec::new(),
        })
    });
    if keep_probes {
        return report.map(|mut r| {
            r.kept_probes = probes.iter().map(|p| p.netns.clone()).collect();
            r
        });
    }
    let removed = remove_all(&probes, bridge);
    let report = report?;
    removed?;
    Ok(report)
}

fn plan_probes(topology: &Topology, run_root: &Path) -> Vec<Probe> {
    let mut probes = Vec::new();
    for vlan in &topology.vlans {
        for h in &topology.hosts {
            let Some(range) = h.ranges.get(&vlan.name) else {
                continue;
            };
            let Some(address) = range.hosts().next() else {
                continue;
            };
            probes.push(Probe {
                r: ProbeRef {
                    host: h.name.clone(),
                    vlan: vlan.name.clone(),
                    vlan_id: vlan.id,
                    address,
                },
                netns: layout::probe_netns(&topology.cluster, &h.name, vlan.id),
                host_netns: layout::host_netns(&topology.cluster, &h.name),
                sock: HostPaths::new(run_root, &topology.cluster, &h.name).db_sock,
                prefix_len: vlan.subnet.prefix_len(),
            });
        }
    }
    probes
}

fn attach_all(probes: &[Probe], bridge: &str, mtu: u32) -> Result<(), LabError> {
    std::thread::scope(|scope| {
        let workers: Vec<_> = probes
            .iter()
            .map(|p| scope.spawn(move || attach(p, bridge, mtu)))
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .unwrap_or_else(|_| Err(LabError::Bug("probe worker panicked".into())))
        })
    })
}

fn attach(p: &Probe, bridge: &str, mtu: u32) -> Result<(), LabError> {
    let port = layout::probe_port(p.r.vlan_id);
    let inner = layout::PROBE_INNER;
    let mtu = mtu.to_string();
    detach(p, bridge)?;
    sys::ensure_netns(&p.netns)?;
    // IPv6 off: the probe then sends nothing of its own (no router solicitations), so the
    // only broadcasts on the overlay are the ones a test makes.
    run(&mut netns_exec(
        &p.netns,
        "sysctl",
        &[
            "-q",
            "-w",
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ],
    ))?;
    run(&mut ip(
        &p.host_netns,
        &[
            "link", "add", &port, "mtu", &mtu, "type", "veth", "peer", "name", inner, "mtu", &mtu,
            "netns", &p.netns,
        ],
    ))?;
    run(&mut netns_exec(
        &p.netns,
        "ethtool",
        &["-K", inner, "tx", "off"],
    ))?;
    let addr = format!("{}/{}", p.r.address, p.prefix_len);
    run(&mut ip(&p.netns, &["addr", "add", &addr, "dev", inner]))?;
    run(&mut ip(&p.netns, &["link", "set", inner, "up"]))?;
    run(&mut ip(&p.host_netns, &["link", "set", &port, "up"]))?;
    let tag = format!("tag={}", p.r.vlan_id);
    // An edge port to RSTP (like any container port), so it forwards at once instead of
    // waiting out the forward delay on a bridge with `rstp_enable=true`.
    run(&mut vsctl(
        &p.sock,
        &[
            "add-port",
            bridge,
            &port,
            &tag,
            "other_config:rstp-port-admin-edge=true",
        ],
    ))
}

/// Removes a probe's port and namespace (the veth goes with the namespace).
fn detach(p: &Probe, bridge: &str) -> Result<(), LabError> {
    let port = layout::probe_port(p.r.vlan_id);
    run(&mut vsctl(
        &p.sock,
        &["--if-exists", "del-port", bridge, &port],
    ))?;
    if sys::link_exists(&p.host_netns, &port) {
        run(&mut ip(&p.host_netns, &["link", "del", &port]))?;
    }
    sys::delete_netns(&p.netns).map(|_| ())
}

fn remove_all(probes: &[Probe], bridge: &str) -> Result<(), LabError> {
    let mut first_error = None;
    for p in probes {
        if let Err(e) = detach(p, bridge) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Lets the overlay settle after the probes were plugged in: every probe pings its next
/// neighbour in its VLAN until the first reply or the deadline, results ignored. Adding
/// ports to an RSTP bridge sends a topology change round the tree, and for a few seconds
/// (measured: 3 to 6 s on a 4-host ring) frames are dropped; without RSTP a path is
/// usable at once and this returns after one round trip.
fn warm_up(probes: &[Probe], protection: Protection) -> Result<(), LabError> {
    let deadline = match protection {
        Protection::Rstp => WARM_UP_RSTP,
        Protection::None | Protection::SplitHorizon => WARM_UP,
    };
    let pings: Vec<_> = probes
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            let next = probes[i + 1..]
                .iter()
                .chain(&probes[..i])
                .find(|b| b.r.vlan_id == a.r.vlan_id)?;
            Some((a.netns.clone(), next.r.address, None))
        })
        .collect();
    run_pings(&pings, deadline).map(|_| ())
}

/// `ip netns exec NS ping ...` started in the background, output discarded. It sends
/// every 0.2 s and stops at the first reply or after `deadline` seconds: a path that
/// is still settling (MAC learning, ARP, an RSTP port that just came up) gets that long.
fn spawn_ping(
    netns: &str,
    target: Ipv4Addr,
    size: Option<u32>,
    deadline: u32,
) -> Result<Child, LabError> {
    let target = target.to_string();
    let deadline = deadline.to_string();
    let mut args = vec!["-n", "-q", "-c", "1", "-i", "0.2", "-w", &deadline];
    let size_text = size.map(|s| s.to_string());
    if let Some(s) = &size_text {
        args.extend(["-M", "do", "-s", s]);
    }
    args.push(&target);
    netns_exec(netns, "ping", &args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| LabError::Spawn {
            program: "ping".into(),
            source,
        })
}

/// Runs the pings in batches; each answer is whether that ping got a reply.
fn run_pings(
    pings: &[(String, Ipv4Addr, Option<u32>)],
    deadline: u32,
) -> Result<Vec<bool>, LabError> {
    let mut results = Vec::with_capacity(pings.len());
    for batch in pings.chunks(PING_BATCH) {
        let children: Vec<Child> = batch
            .iter()
            .map(|(ns, target, size)| spawn_ping(ns, *target, *size, deadline))
            .collect::<Result<_, _>>()?;
        for mut child in children {
            results.push(child.wait().map(|s| s.success()).unwrap_or(false));
        }
    }
    Ok(results)
}

fn same_vlan_matrices(
    topology: &Topology,
    probes: &[Probe],
    mtu: u32,
) -> Result<Vec<VlanMatrix>, LabError> {
    let pairs: Vec<(&Probe, &Probe)> = probes
        .iter()
        .flat_map(|a| probes.iter().map(move |b| (a, b)))
        .filter(|(a, b)| a.r.vlan_id == b.r.vlan_id && a.r.host != b.r.host)
        .collect();
    let mut pings = Vec::new();
    for (a, b) in &pairs {
        pings.push((a.netns.clone(), b.r.address, None));
        pings.push((a.netns.clone(), b.r.address, Some(mtu.saturating_sub(28))));
    }
    let tcp = std::thread::spawn({
        let jobs: Vec<_> = pairs
            .iter()
            .map(|(a, b)| (a.netns.clone(), b.netns.clone(), b.r.address))
            .collect();
        move || tcp_all(jobs)
    });
    let ping_results = run_pings(&pings, REACH_DEADLINE)?;
    let tcp_results = tcp
        .join()
        .map_err(|_| LabError::Bug("tcp worker panicked".into()))?;
    let mut matrices = Vec::new();
    for vlan in &topology.vlans {
        let hosts: Vec<String> = probes
            .iter()
            .filter(|p| p.r.vlan_id == vlan.id)
            .map(|p| p.r.host.clone())
            .collect();
        if hosts.is_empty() {
            continue;
        }
        let mut cells = vec![vec![None; hosts.len()]; hosts.len()];
        for (k, (a, b)) in pairs.iter().enumerate() {
            if a.r.vlan_id != vlan.id {
                continue;
            }
            let i = hosts.iter().position(|h| *h == a.r.host);
            let j = hosts.iter().position(|h| *h == b.r.host);
            let (Some(i), Some(j)) = (i, j) else {
                return Err(LabError::Bug("probe of an unknown host".into()));
            };
            cells[i][j] = Some(PairResult {
                icmp: ping_results[2 * k],
                mtu: ping_results[2 * k + 1],
                tcp: tcp_results[k],
            });
        }
        matrices.push(VlanMatrix {
            vlan: vlan.name.clone(),
            vlan_id: vlan.id,
            hosts,
            cells,
        });
    }
    Ok(matrices)
}

/// Every TCP exchange at once, each on its own pair of namespace threads.
fn tcp_all(jobs: Vec<(String, String, Ipv4Addr)>) -> Vec<bool> {
    let workers: Vec<_> = jobs
        .into_iter()
        .map(|(from, to, addr)| std::thread::spawn(move || tcp_exchange(&from, &to, addr)))
        .collect();
    workers
        .into_iter()
        .map(|w| w.join().unwrap_or(false))
        .collect()
}

/// A listener in `to_ns` on `addr`, a client in `from_ns`: the client sends
/// [`TCP_BYTES`], the server answers with the count it received. Bounded by [`TCP_DEADLINE`].
fn tcp_exchange(from_ns: &str, to_ns: &str, addr: Ipv4Addr) -> bool {
    let (port_tx, port_rx) = mpsc::channel::<u16>();
    let server = {
        let to_ns = to_ns.to_string();
        std::thread::spawn(move || {
            sys::in_netns(&to_ns, move || {
                let listener = TcpListener::bind((addr, 0))?;
                let _ = port_tx.send(listener.local_addr()?.port());
                serve_once(&listener)
            })
        })
    };
    let Ok(port) = port_rx.recv_timeout(TCP_DEADLINE) else {
        return false;
    };
    let client = sys::in_netns(from_ns, move || {
        send_and_confirm(SocketAddr::from((addr, port)))
    });
    let served = server.join().map(|r| r.is_ok()).unwrap_or(false);
    matches!(client, Ok(true)) && served
}

fn serve_once(listener: &TcpListener) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let start = Instant::now();
    let mut stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if start.elapsed() > TCP_DEADLINE {
                    return Err(std::io::Error::from(std::io::ErrorKind::TimedOut));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    };
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(TCP_DEADLINE))?;
    stream.set_write_timeout(Some(TCP_DEADLINE))?;
    let mut received = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        received += n;
    }
    stream.write_all(format!("ok {received}").as_bytes())
}

fn send_and_confirm(to: SocketAddr) -> std::io::Result<bool> {
    let mut stream = TcpStream::connect_timeout(&to, TCP_DEADLINE)?;
    stream.set_read_timeout(Some(TCP_DEADLINE))?;
    stream.set_write_timeout(Some(TCP_DEADLINE))?;
    stream.write_all(&vec![0x5a; TCP_BYTES])?;
    stream.shutdown(Shutdown::Write)?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer == format!("ok {TCP_BYTES}"))
}

/// One broadcast from the first probe, and how much work it made: a loop re-floods it
/// for ever. Loops ignore VLANs (tunnels are trunks), so one VLAN is enough.
fn broadcast_test(
    topology: &Topology,
    run_root: &Path,
    probes: &[Probe],
) -> Result<StormReport, LabError> {
    let Some(first) = probes.first() else {
        return Ok(StormReport::default());
    };
    let silent = silent_address(topology, first.r.vlan_id)?;
    storm::measure(topology, run_root, &first.netns, silent, BROADCAST_WINDOW)
}

/// The last address of the VLAN's subnet: never a probe's, so an ARP for it is answered
/// by nobody and stays a pure broadcast.
fn silent_address(topology: &Topology, vlan_id: u16) -> Result<Ipv4Addr, LabError> {
    let vlan = topology
        .vlans
        .iter()
        .find(|v| v.id == vlan_id)
        .ok_or_else(|| LabError::Bug("probe of an unknown VLAN".into()))?;
    Ok(vlan
        .subnet
        .hosts()
        .last()
        .unwrap_or(vlan.subnet.broadcast()))
}

/// For every cross-VLAN probe pair: host routes on both sides, then one ping.
fn isolation_tests(probes: &[Probe], keep_probes: bool) -> Result<Vec<Isolation>, LabError> {
    let pairs: Vec<(&Probe, &Probe)> = probes
        .iter()
        .enumerate()
        .flat_map(|(i, a)| probes[i + 1..].iter().map(move |b| (a, b)))
        .filter(|(a, b)| a.r.vlan_id != b.r.vlan_id)
        .collect();
    for (a, b) in &pairs {
        set_host_route(a, b, "replace")?;
        set_host_route(b, a, "replace")?;
    }
    let pings: Vec<_> = pairs
        .iter()
        .map(|(a, b)| (a.netns.clone(), b.r.address, None))
        .collect();
    let reached = run_pings(&pings, ISOLATION_DEADLINE)?;
    if keep_probes {
        for (a, b) in &pairs {
            set_host_route(a, b, "del")?;
            set_host_route(b, a, "del")?;
        }
    }
    Ok(pairs
        .iter()
        .zip(reached)
        .map(|((a, b), reached)| Isolation {
            a: a.r.clone(),
            b: b.r.clone(),
            isolated: !reached,
        })
        .collect())
}

fn set_host_route(on: &Probe, to: &Probe, verb: &str) -> Result<(), LabError> {
    let dest = format!("{}/32", to.r.address);
    run(&mut ip(
        &on.netns,
        &["route", verb, &dest, "dev", layout::PROBE_INNER],
    ))
}

/// The probes of one VLAN, attached and warmed up for another test (the storm probe).
pub(crate) struct VlanProbes {
    probes: Vec<Probe>,
    bridge: String,
    /// An address of the VLAN no probe holds: an ARP for it is a pure broadcast.
    pub silent: Ipv4Addr,
}

/// Attaches a probe on every host with a range in the first VLAN that has any, and
/// waits for the paths to settle.
pub(crate) fn attach_vlan(
    topology: &Topology,
    analysis: &Analysis,
    run_root: &Path,
) -> Result<Option<VlanProbes>, LabError> {
    let all = plan_probes(topology, run_root);
    let Some(first) = all.first() else {
        return Ok(None);
    };
    let vlan_id = first.r.vlan_id;
    let probes: Vec<Probe> = all.into_iter().filter(|p| p.r.vlan_id == vlan_id).collect();
    let silent = silent_address(topology, vlan_id)?;
    let set = VlanProbes {
        probes,
        bridge: topology.bridge.name.clone(),
        silent,
    };
    let ready = attach_all(&set.probes, &set.bridge, analysis.overlay_mtu)
        .and_then(|()| warm_up(&set.probes, analysis.protection));
    match ready {
        Ok(()) => Ok(Some(set)),
        Err(e) => {
            let _ = set.remove();
            Err(e)
        }
    }
}

impl VlanProbes {
    /// The namespace of the first probe (the one that sends broadcasts).
    pub(crate) fn sender_netns(&self) -> &str {
        &self.probes[0].netns
    }

    /// Removes the probes.
    pub(crate) fn remove(self) -> Result<(), LabError> {
        remove_all(&self.probes, &self.bridge)
    }
}

/// `ping` started in the background (for the storm trigger).
pub(crate) fn spawn_broadcast_trigger(netns: &str, target: Ipv4Addr) -> Result<Child, LabError> {
    spawn_ping(netns, target, None, 1)
}
