//! Traffic between probes: pings run as `ip netns exec` children in parallel, and TCP
//! exchanges on threads that enter the probes' namespaces. Every test is bounded in time.

use super::probe::Probe;
use super::sys::{self, netns_exec};
use super::LabError;
use crate::topology::Protection;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bytes each TCP exchange sends: enough for many full-size segments.
const TCP_BYTES: usize = 256 * 1024;
/// The upper bound of one TCP exchange.
const TCP_DEADLINE: Duration = Duration::from_secs(5);
/// Seconds the warm-up waits for a path on a bridge without RSTP.
const WARM_UP: u32 = 3;
/// Seconds the warm-up waits for a path on an RSTP bridge.
const WARM_UP_RSTP: u32 = 12;
/// At most this many pings run at once.
const PING_BATCH: usize = 48;

/// Lets the overlay settle after the probes were plugged in: every probe pings its next
/// neighbour in its VLAN until the first reply or the deadline, results ignored. Adding
/// ports to an RSTP bridge sends a topology change round the tree, and for a few seconds
/// (measured: 3 to 6 s on a 4-host ring) frames are dropped; without RSTP a path is
/// usable at once and this returns after one round trip.
pub(crate) fn warm_up(probes: &[Probe], protection: Protection) -> Result<(), LabError> {
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
pub(crate) fn spawn_ping(
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
pub(crate) fn run_pings(
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

/// Every TCP exchange at once, each on its own pair of namespace threads.
pub(crate) fn tcp_all(jobs: Vec<(String, String, Ipv4Addr)>) -> Vec<bool> {
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

/// Accepts one connection (bounded wait), reads to EOF, answers `ok <bytes>`.
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

/// Connects, sends [`TCP_BYTES`], closes its side and checks the echoed count.
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

/// `ping` started in the background (for the storm trigger).
pub(crate) fn spawn_broadcast_trigger(netns: &str, target: Ipv4Addr) -> Result<Child, LabError> {
    spawn_ping(netns, target, None, 1)
}
