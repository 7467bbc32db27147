//! The lab's "outside": one namespace on the lab underlay that stands for the world
//! beyond the cluster (an upstream router, a client on the internet). It has a veth into
//! the underlay bridge and one address of the lab range, so every host reaches it on-link
//! by its underlay address, exactly as a real host reaches its upstream. Nothing leaves
//! the lab's namespaces: the outside has no route anywhere else.
//!
//! `lab check` uses it for the gateway tests (see `gateway_check`): a [`Responder`] runs
//! in it while the check does, answering every TCP connection with the source address it
//! saw, so what the outside side saw is what is judged (NAT must show the container's
//! *host* underlay address, never the container's own). The check also connects from
//! here to published ports, and tries (and must fail) to reach unpublished containers.
//!
//! `lab up` makes it when a VLAN has a gateway (a lab without one has no use for it, and
//! its namespace count stays what it was); `lab down` removes it with the cluster's other
//! namespaces (its name carries the cluster prefix, see [`super::layout::outside_netns`]).

use super::layout;
use super::sys::{self, ip, run};
use super::LabError;
use crate::topology::Topology;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The outside's end of its veth, inside its own namespace.
const INNER: &str = "ul0";
/// The underlay bridge's end of the outside's veth; host ends are `h<hex>`, never this.
const UNDERLAY_END: &str = "outside";
/// How long the responder waits for its listener to be bound.
const START_DEADLINE: Duration = Duration::from_secs(5);
/// The upper bound of one connection's read or write.
const IO_DEADLINE: Duration = Duration::from_secs(3);

/// The outside's address: the highest of the lab range no host uses (198.19.255.254
/// unless a host took it), so it never changes as hosts come and go below it.
pub(crate) fn address(topology: &Topology) -> Ipv4Addr {
    let top = u32::from(Ipv4Addr::new(198, 19, 255, 254));
    (0..1024)
        .map(|i| Ipv4Addr::from(top - i))
        .find(|a| topology.hosts.iter().all(|h| h.underlay_ip != *a))
        .unwrap_or(Ipv4Addr::new(198, 19, 251, 254))
}

/// Whether the topology has anything the outside is needed for.
pub(crate) fn wanted(topology: &Topology) -> bool {
    topology.vlans.iter().any(|v| v.gateway.is_some())
}

/// Makes (or completes) the outside: its namespace, its veth into `br-ul` with the
/// underlay MTU, and its address. Idempotent. The underlay must exist.
pub(crate) fn ensure(topology: &Topology) -> Result<(), LabError> {
    let ns = layout::outside_netns(&topology.cluster);
    let underlay = layout::underlay_netns(&topology.cluster);
    sys::ensure_netns(&ns)?;
    // IPv6 off: the outside sends nothing of its own onto the underlay.
    run(&mut sys::netns_exec(
        &ns,
        "sysctl",
        &["-q", "-w", "net.ipv6.conf.all.disable_ipv6=1"],
    ))?;
    super::host::ensure_underlay_veth(&ns, INNER, &underlay, UNDERLAY_END, topology.underlay_mtu)?;
    // tx offload off, as on a probe: the hosts' userspace datapaths read the outside's
    // TCP segments off the wire with their checksums never filled in, and drop them
    // (ping works, every TCP test times out).
    run(&mut sys::netns_exec(
        &ns,
        "ethtool",
        &["-K", INNER, "tx", "off"],
    ))?;
    let addr = format!("{}/15", address(topology));
    run(&mut ip(&ns, &["addr", "replace", &addr, "dev", INNER]))?;
    run(&mut ip(&ns, &["link", "set", INNER, "up"]))
}

/// Routes `net` (a host's range of a VLAN) via `host` (its underlay address) in the
/// outside, so a packet from outside to a container would at least be sent to the right
/// host: only that host's firewall then keeps it out.
pub(crate) fn route_via(cluster: &str, net: &str, host: Ipv4Addr) -> Result<(), LabError> {
    let ns = layout::outside_netns(cluster);
    run(&mut ip(
        &ns,
        &["route", "replace", net, "via", &host.to_string()],
    ))
}

/// A TCP server that answers each connection with the source address it saw
/// (`198.18.0.2\n`), then closes; runs until dropped. In the outside it shows what NAT
/// made of a container's address; in a probe, what a published port delivered.
pub(crate) struct Responder {
    /// The port it listens on (the outside's address).
    pub port: u16,
    stop: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
}

impl Responder {
    /// Starts a responder in namespace `ns` on `address`:`port` (0: any free port).
    pub(crate) fn start(ns: &str, address: Ipv4Addr, port: u16) -> Result<Responder, LabError> {
        let ns = ns.to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let (port_tx, port_rx) = mpsc::channel::<std::io::Result<u16>>();
        let worker = {
            let stop = stop.clone();
            let ns = ns.clone();
            std::thread::spawn(move || {
                let served = sys::in_netns(&ns, move || {
                    let listener = match TcpListener::bind((address, port)) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = port_tx.send(Err(std::io::Error::new(e.kind(), e.to_string())));
                            return Err(e);
                        }
                    };
                    let _ = port_tx.send(listener.local_addr().map(|a| a.port()));
                    serve(&listener, &stop)
                });
                if let Err(e) = served {
                    eprintln!("outside responder: {e}");
                }
            })
        };
        let port = port_rx
            .recv_timeout(START_DEADLINE)
            .map_err(|_| LabError::Timeout {
                what: format!("the outside responder in {ns}"),
            })?
            .map_err(|source| LabError::Io {
                path: format!("/run/netns/{ns}").into(),
                source,
            })?;
        Ok(Responder {
            port,
            stop,
            worker: Some(worker),
        })
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// Accepts until `stop`; each connection gets its peer's address and is closed.
fn serve(listener: &TcpListener, stop: &AtomicBool) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((mut stream, peer)) => {
                let _ = stream.set_nonblocking(false);
                let _ = stream.set_write_timeout(Some(IO_DEADLINE));
                let _ = stream.write_all(format!("{}\n", peer.ip()).as_bytes());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// From namespace `from`, asks the responder at `to` which source address it saw.
pub(crate) fn seen_source(from: &str, to: SocketAddr) -> Result<Ipv4Addr, String> {
    let answer = sys::in_netns(from, move || {
        let mut stream = TcpStream::connect_timeout(&to, IO_DEADLINE)?;
        stream.set_read_timeout(Some(IO_DEADLINE))?;
        let mut text = String::new();
        stream.read_to_string(&mut text)?;
        Ok(text)
    })
    .map_err(|e| format!("no answer from the outside at {to}: {e}"))?;
    answer
        .trim()
        .parse()
        .map_err(|_| format!("the outside answered `{}`", answer.trim()))
}

/// From the outside, connects to `to` and reads what the server there says; retried
/// until `deadline` (a published port takes effect once the host's agent has read it).
pub(crate) fn fetch_from_outside(
    cluster: &str,
    to: SocketAddr,
    deadline: Duration,
) -> Result<String, String> {
    let ns = layout::outside_netns(cluster);
    let start = Instant::now();
    loop {
        let attempt = sys::in_netns(&ns, move || {
            let mut stream = TcpStream::connect_timeout(&to, IO_DEADLINE)?;
            stream.set_read_timeout(Some(IO_DEADLINE))?;
            let mut text = String::new();
            stream.read_to_string(&mut text)?;
            Ok(text)
        });
        match attempt {
            Ok(text) if !text.is_empty() => return Ok(text),
            Ok(_) if start.elapsed() >= deadline => {
                return Err(format!("{to} answered nothing"));
            }
            Err(e) if start.elapsed() >= deadline => {
                return Err(format!("{to} not reached from outside: {e}"));
            }
            _ => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}
