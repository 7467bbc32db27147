//! Traffic between probes, paced to the machine: pings run as `ip netns exec` children
//! and TCP exchanges in the calling thread, at most [`Pace`] of them at once. The check's
//! own load must not starve the switches it measures (issue 14: 48 pings at once and a
//! thread per TCP exchange on 2 cores turned a healthy 40-host lab into hundreds of
//! "broken" pairs). Every test is bounded in time.

use super::probe::Probe;
use super::report::PairResult;
use super::sys::{self, netns_exec};
use super::LabError;
use crate::fanout::{self, Flow};
use crate::topology::Protection;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Bytes each TCP exchange sends: enough for many full-size segments.
const TCP_BYTES: usize = 256 * 1024;
/// Seconds the warm-up waits for a path on a bridge without RSTP.
const WARM_UP: u32 = 3;
/// Seconds the warm-up waits for a path on an RSTP bridge.
const WARM_UP_RSTP: u32 = 12;

/// How many tests run at once, from the machine's core count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pace {
    /// Same-VLAN pairs under test at once (each is two pings and a TCP exchange, all
    /// through two switches that share the same cores).
    pub pairs: usize,
    /// Pings at once where almost all wait out their deadline (isolation, warm-up): they
    /// cost a process and an ARP broadcast each, not a stream of packets.
    pub idle_pings: usize,
    /// Probes attached or removed at once (each an OVSDB transaction and a wait for the
    /// switch).
    pub attach: usize,
}

impl Pace {
    /// Two pairs per core, 16 idle pings per core, one attach per core: on 2 cores 4, 32
    /// and 2. BENCHMARKS.md has a 100-host check at these settings (attaching the probes
    /// dominates it).
    pub(crate) fn of_machine() -> Pace {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Pace {
            pairs: (2 * cores).clamp(2, 16),
            idle_pings: (16 * cores).clamp(8, 64),
            attach: cores.clamp(2, 8),
        }
    }
}

/// The deadlines of one round of pair tests.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadlines {
    /// Seconds a ping may take to get its first reply.
    pub ping: u32,
    /// The upper bound of one TCP exchange.
    pub tcp: Duration,
}

/// Lets the overlay settle after the probes were plugged in: every probe pings its next
/// neighbour in its VLAN until the first reply or the deadline, results ignored. Adding
/// ports to an RSTP bridge sends a topology change round the tree, and for a few seconds
/// (measured: 3 to 6 s on a 4-host ring) frames are dropped; without RSTP a path is
/// usable at once and this returns after one round trip per probe.
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
    run_pings(&pings, deadline, Pace::of_machine().idle_pings).map(|_| ())
}

/// `ip netns exec NS ping ...` started in the background, summary on a pipe. It sends
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
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| LabError::Spawn {
            program: "ping".into(),
            source,
        })
}

/// What one ping found: a reply, and its round trip as ping measured it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pinged {
    pub replied: bool,
    pub rtt_us: Option<u32>,
}

/// Waits for a ping from [`spawn_ping`] and reads its summary.
fn finish_ping(child: Child) -> Pinged {
    match child.wait_with_output() {
        Ok(out) => Pinged {
            replied: out.status.success(),
            rtt_us: out
                .status
                .success()
                .then(|| rtt_us(&String::from_utf8_lossy(&out.stdout)))
                .flatten(),
        },
        Err(_) => Pinged::default(),
    }
}

/// The minimum round trip of ping's summary line (`rtt min/avg/max/mdev = 0.045/...`
/// from iputils, `round-trip min/avg/max = ...` from busybox), in microseconds.
pub(crate) fn rtt_us(summary: &str) -> Option<u32> {
    let line = summary.lines().find(|l| l.contains("min/avg/max"))?;
    let (_, values) = line.split_once("= ")?;
    let ms: f64 = values.split('/').next()?.trim().parse().ok()?;
    // Rounded to whole microseconds; ping prints three decimals of a millisecond.
    Some((ms * 1000.0).round() as u32)
}

/// Runs the pings, at most `workers` at once; each answer is whether that ping got a reply.
pub(crate) fn run_pings(
    pings: &[(String, Ipv4Addr, Option<u32>)],
    deadline: u32,
    workers: usize,
) -> Result<Vec<bool>, LabError> {
    let mut results = Vec::with_capacity(pings.len());
    fanout::ordered(
        pings,
        workers,
        |(ns, target, size)| spawn_ping(ns, *target, *size, deadline).map(finish_ping),
        |_, pinged| {
            results.push(pinged?.replied);
            Ok::<_, LabError>(Flow::Continue)
        },
    )?;
    Ok(results)
}

/// The three tests of one directed pair at once: a small ping, a don't-fragment ping of
/// the full MTU (both children) and the TCP exchange (in this thread).
pub(crate) fn test_pair(
    from: &Probe,
    to: &Probe,
    mtu: u32,
    deadlines: Deadlines,
) -> Result<PairResult, LabError> {
    let small = spawn_ping(&from.netns, to.r.address, None, deadlines.ping)?;
    let full = match spawn_ping(
        &from.netns,
        to.r.address,
        Some(mtu.saturating_sub(28)),
        deadlines.ping,
    ) {
        Ok(child) => child,
        Err(e) => {
            let _ = finish_ping(small);
            return Err(e);
        }
    };
    let tcp = tcp_exchange(&from.netns, &to.netns, to.r.address, deadlines.tcp);
    let (small, full) = (finish_ping(small), finish_ping(full));
    Ok(PairResult {
        icmp: small.replied,
        tcp,
        mtu: full.replied,
        latency_us: small.rtt_us,
        retried: false,
    })
}

/// A listener in `to_ns` on `addr`, a client in `from_ns`: the client sends
/// [`TCP_BYTES`], the server answers with the count it received. Both sockets are made in
/// their namespaces (a socket stays in the namespace it was made in) and then driven,
/// non-blocking, from the calling thread: no thread per exchange. Bounded by `deadline`.
fn tcp_exchange(from_ns: &str, to_ns: &str, addr: Ipv4Addr, deadline: Duration) -> bool {
    let end = Instant::now() + deadline;
    let Ok(listener) = sys::in_netns(to_ns, move || TcpListener::bind((addr, 0))) else {
        return false;
    };
    let Ok(port) = listener.local_addr().map(|a| a.port()) else {
        return false;
    };
    // The handshake completes in the listener's backlog: no accept needed yet.
    let client = sys::in_netns(from_ns, move || {
        TcpStream::connect_timeout(&SocketAddr::from((addr, port)), deadline)
    });
    match client {
        Ok(client) => exchange(&listener, client, end).unwrap_or(false),
        Err(_) => false,
    }
}

/// Drives both ends of one exchange until the client has the server's answer or `end`.
fn exchange(listener: &TcpListener, mut client: TcpStream, end: Instant) -> std::io::Result<bool> {
    listener.set_nonblocking(true)?;
    client.set_nonblocking(true)?;
    let payload = vec![0x5a; TCP_BYTES];
    let expected = format!("ok {TCP_BYTES}");
    let (mut sent, mut shut) = (0usize, false);
    let mut server: Option<TcpStream> = None;
    let (mut received, mut answer_out) = (0usize, None::<Vec<u8>>);
    let mut answer_in = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while Instant::now() < end {
        let mut progress = false;
        if server.is_none() {
            if let Some((s, _)) = would_block(listener.accept())? {
                s.set_nonblocking(true)?;
                server = Some(s);
                progress = true;
            }
        }
        if sent < TCP_BYTES {
            if let Some(n) = would_block(client.write(&payload[sent..]))? {
                sent += n;
                progress = true;
            }
        } else if !shut {
            client.shutdown(Shutdown::Write)?;
            shut = true;
        }
        if let Some(s) = server.as_mut() {
            match &mut answer_out {
                None => match would_block(s.read(&mut buf))? {
                    Some(0) => answer_out = Some(format!("ok {received}").into_bytes()),
                    Some(n) => {
                        received += n;
                        progress = true;
                    }
                    None => {}
                },
                Some(out) if !out.is_empty() => {
                    if let Some(n) = would_block(s.write(out))? {
                        out.drain(..n);
                        if out.is_empty() {
                            s.shutdown(Shutdown::Write)?;
                        }
                        progress = true;
                    }
                }
                Some(_) => {}
            }
        }
        match would_block(client.read(&mut buf))? {
            Some(0) => return Ok(answer_in == expected.as_bytes()),
            Some(n) => {
                answer_in.extend_from_slice(&buf[..n]);
                progress = true;
            }
            None => {}
        }
        if !progress {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    Ok(false)
}

/// `Ok(None)` for an operation that would block, the value or the error otherwise.
fn would_block<T>(r: std::io::Result<T>) -> std::io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// `ping` started in the background (for the storm trigger).
pub(crate) fn spawn_broadcast_trigger(netns: &str, target: Ipv4Addr) -> Result<Child, LabError> {
    spawn_ping(netns, target, None, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_read_from_either_ping() {
        let iputils = "PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.\n\n--- 10.0.0.2 ping statistics ---\n1 packets transmitted, 1 received, 0% packet loss, time 0ms\nrtt min/avg/max/mdev = 0.254/0.254/0.254/0.000 ms\n";
        assert_eq!(rtt_us(iputils), Some(254));
        let busybox = "1 packets transmitted, 1 packets received, 0% packet loss\nround-trip min/avg/max = 1.5/1.5/1.5 ms\n";
        assert_eq!(rtt_us(busybox), Some(1500));
        assert_eq!(rtt_us("1 packets transmitted, 0 received\n"), None);
        assert_eq!(rtt_us("rtt min/avg/max/mdev = x/y ms"), None);
    }
}
