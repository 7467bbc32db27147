//! DHCP served by the agent, with the real parts: ovsdb-server and ovs-vswitchd
//! (userspace datapath) in a namespace of their own, the agent supervising a real
//! dnsmasq, and two independent clients, busybox `udhcpc` and ISC `dhclient`, in
//! container namespaces on ports made by `attach` or by hand with `ovs-vsctl`. What the
//! clients got is read from their own scripts' environment; what the agent recorded is
//! read with `ovs-vsctl`; dnsmasq processes are found in `/proc` by their command line.
//!
//! Faults: the agent stopped (SIGTERM) and started again, killed (SIGKILL) and started
//! again (its dnsmasq is adopted, not doubled), a host without dnsmasq.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lab_support;
mod support;

use ovsnet::attach::{self, AttachError, AttachRequest, Identity, Placement};
use ovsnet::lab;
use ovsnet::linux::Netns;
use ovsnet::ovsdb::Client;
use ovsnet::topology::{Shape, Topology, TunnelKind};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::agent::{dnsmasq_pids, health, sh, signal, wait_until, Agent};
use support::OvsHost;

const GATEWAY: &str = "10.10.0.1";
const MTU: &str = support::agent::OVERLAY_MTU;

/// The bridge and gateway port with the intent `apply` writes, DHCP on, `range` here.
fn write_intent(host: &OvsHost, range: &str) {
    let web = format!(
        r#"{{"dhcp":true,"gateway":"{GATEWAY}","id":10,"range":"{range}","subnet":"10.10.0.0/16"}}"#
    );
    support::agent::write_intent(host, &web);
}

/// The leases recorded in OVSDB: address -> MAC.
fn leases(host: &OvsHost) -> BTreeMap<Ipv4Addr, String> {
    leases_at(&host.endpoint())
}

/// The same, from the OVSDB at `endpoint`.
fn leases_at(endpoint: &str) -> BTreeMap<Ipv4Addr, String> {
    let out = Command::new("ovs-vsctl")
        .arg(format!("--db={endpoint}"))
        .args(["--no-wait", "--format=json", "--columns=external_ids"])
        .args(["list", "Open_vSwitch"])
        .output()
        .unwrap();
    let raw = String::from_utf8_lossy(&out.stdout);
    let table: serde_json::Value = serde_json::from_str(&raw).unwrap();
    // {"data":[[["map",[[KEY,VALUE],...]]]],"headings":["external_ids"]}
    let pairs = table["data"][0][0][1]
        .as_array()
        .cloned()
        .unwrap_or_default();
    pairs
        .iter()
        .filter_map(|pair| {
            let ip = pair[0].as_str()?.strip_prefix("ovsnet-lease-")?;
            let record: serde_json::Value = serde_json::from_str(pair[1].as_str()?).ok()?;
            Some((ip.parse().ok()?, record["mac"].as_str()?.to_string()))
        })
        .collect()
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A container namespace, deleted on drop (after the clients it ran are killed).
struct Ctr {
    name: String,
    dir: tempfile::TempDir,
}

impl Ctr {
    fn new() -> Ctr {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("dh-{}-{n}", std::process::id());
        sh(&format!(
            "ip netns add {name} && ip -n {name} link set lo up"
        ));
        Ctr {
            name,
            dir: tempfile::Builder::new().prefix("dh-").tempdir().unwrap(),
        }
    }

    /// A port made by hand: a veth whose outer end is tagged into VLAN 10 with stock
    /// ovs-vsctl and no ovsnet mark at all.
    fn plug_by_hand(host: &OvsHost, mac: &str) -> Ctr {
        Ctr::plug_by_hand_into(host.netns(), &host.endpoint(), mac)
    }

    /// The same, on the switch in namespace `h` whose OVSDB is `endpoint`.
    fn plug_by_hand_into(h: &str, endpoint: &str, mac: &str) -> Ctr {
        let ctr = Ctr::new();
        let port = format!("dhp{}", COUNTER.fetch_add(1, Ordering::SeqCst));
        sh(&format!(
            "ip link add {port} netns {h} type veth peer name eth0 netns {c} && \
             ip -n {h} link set {port} up && \
             ip -n {c} link set eth0 address {mac} && ip -n {c} link set eth0 up && \
             ip netns exec {c} ethtool -K eth0 tx off >/dev/null",
            c = ctr.name
        ));
        let out = Command::new("ovs-vsctl")
            .arg(format!("--db={endpoint}"))
            .args(["--timeout=20", "add-port", "br-ovsnet", &port, "tag=10"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        ctr
    }

    fn attach(host: &OvsHost, mac: Option<[u8; 6]>) -> (Ctr, Result<Ipv4Addr, AttachError>) {
        let ctr = Ctr::new();
        let req = AttachRequest {
            vlan: "web".into(),
            identity: Identity::Netns(ctr.name.clone()),
            placement: Placement::Into(Netns::Named(ctr.name.clone())),
            host_netns: Netns::Named(host.netns().into()),
            ip: None,
            mac,
            ifname: "eth0".into(),
            timeout: Duration::from_secs(60),
        };
        let mut client = Client::connect(&host.endpoint(), Duration::from_secs(30)).unwrap();
        let done = attach::attach(&mut client, &req).map(|a| a.address.addr());
        (ctr, done)
    }

    /// A script that appends the client's environment to `FILE` (emptied first) and
    /// does nothing else.
    fn script(&self, file: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{file}.sh"));
        let out = self.dir.path().join(file);
        // A fresh record per run: an answer from an earlier run never counts.
        let _ = std::fs::remove_file(&out);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\n{{ echo \"reason=$1$reason\"; env; echo; }} >> {}\n",
                out.display()
            ),
        )
        .unwrap();
        sh(&format!("chmod +x {}", path.display()));
        path
    }

    /// busybox udhcpc, once: what it was offered (ip, router, mtu) and how long it took.
    fn udhcpc(&self) -> (Option<Offer>, Duration) {
        let script = self.script("udhcpc");
        let start = Instant::now();
        let _ = Command::new("ip")
            .args([
                "netns", "exec", &self.name, "busybox", "udhcpc", "-i", "eth0",
            ])
            .args([
                "-n", "-q", "-f", "-t", "8", "-T", "1", "-A", "1", "-O", "mtu",
            ])
            .arg("-s")
            .arg(&script)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let took = start.elapsed();
        (
            self.offer("udhcpc", &["bound", "renew"], "ip", "router", "mtu"),
            took,
        )
    }

    /// ISC dhclient in the foreground (`-d`: no daemon to lose track of), with its own
    /// pid, lease and config files (a shared pid file once made a test flaky); killed
    /// by its pid once its script saw a lease, or when it gave up.
    fn dhclient(&mut self) -> (Option<Offer>, Duration) {
        let script = self.script("dhclient");
        let conf = self.dir.path().join("dhclient.conf");
        std::fs::write(
            &conf,
            "timeout 20;\nretry 1;\nrequest subnet-mask, routers, interface-mtu;\n",
        )
        .unwrap();
        let start = Instant::now();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "dhclient", "-d", "-1", "-4"])
            .arg("-sf")
            .arg(&script)
            .arg("-pf")
            .arg(self.dir.path().join("dhclient.pid"))
            .arg("-lf")
            .arg(self.dir.path().join("dhclient.leases"))
            .arg("-cf")
            .arg(&conf)
            .arg("eth0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let bound = || {
            self.offer(
                "dhclient",
                &["BOUND", "REBOOT", "RENEW"],
                "new_ip_address",
                "new_routers",
                "new_interface_mtu",
            )
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut offer = bound();
        while offer.is_none() && Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                offer = bound();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            offer = bound();
        }
        let took = start.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        (offer, took)
    }

    /// The last offer a client's script recorded with one of `reasons` (this run's:
    /// [`Ctr::script`] starts each run with an empty record).
    fn offer(
        &self,
        file: &str,
        reasons: &[&str],
        ip: &str,
        router: &str,
        mtu: &str,
    ) -> Option<Offer> {
        let text = std::fs::read_to_string(self.dir.path().join(file)).unwrap_or_default();
        let block = text
            .split("\n\n")
            .filter(|b| {
                b.lines().any(|l| {
                    l.strip_prefix("reason=")
                        .is_some_and(|r| reasons.contains(&r))
                })
            })
            .last()?;
        let get = |key: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .unwrap_or_default()
                .to_string()
        };
        Some(Offer {
            ip: get(ip).parse().ok()?,
            router: get(router),
            mtu: get(mtu),
        })
    }

    fn mac(&self) -> String {
        sh(&format!(
            "ip netns exec {} cat /sys/class/net/eth0/address",
            self.name
        ))
        .trim()
        .to_string()
    }
}

impl Drop for Ctr {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// What a client was given.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Offer {
    ip: Ipv4Addr,
    router: String,
    mtu: String,
}

fn in_range(ip: Ipv4Addr, range: &str) -> bool {
    range.parse::<ipnet::Ipv4Net>().unwrap().contains(&ip)
}

/// A served host: intent written, agent up, its dnsmasq running.
fn served_host(range: &str) -> (OvsHost, tempfile::TempDir, Agent) {
    let host = OvsHost::start();
    write_intent(&host, range);
    let state = tempfile::Builder::new()
        .prefix("dh-state")
        .tempdir()
        .unwrap();
    let agent = Agent::start(&host, Some(state.path()), None);
    wait_until("the agent's dnsmasq", || {
        dnsmasq_pids(state.path()).len() == 1
    });
    wait_until("a healthy agent", || {
        let h = health(&host);
        h["up"] == true && h.get("error").is_none()
    });
    (host, state, agent)
}

#[test]
fn clients_on_hand_made_and_attached_ports_get_the_hosts_range_and_keep_it_across_restarts() {
    const RANGE: &str = "10.10.1.0/24";
    let (host, state, mut agent) = served_host(RANGE);

    // A hand-made port, a new MAC: udhcpc is turned away once, the agent records a
    // lease, the client's retry gets it, with the gateway as router and the overlay MTU.
    let a = Ctr::plug_by_hand(&host, "02:00:00:00:d1:01");
    let (offer, took) = a.udhcpc();
    let first = offer.expect("udhcpc got a lease");
    eprintln!("udhcpc, new MAC: {took:?}");
    assert!(in_range(first.ip, RANGE), "{first:?}");
    assert_eq!((first.router.as_str(), first.mtu.as_str()), (GATEWAY, MTU));
    assert_eq!(leases(&host), BTreeMap::from([(first.ip, a.mac())]));
    let (again, took) = a.udhcpc();
    eprintln!("udhcpc, known MAC: {took:?}");
    assert_eq!(again.unwrap().ip, first.ip, "a known MAC keeps its address");

    // dhclient on another hand-made port: another address of the range.
    let mut b = Ctr::plug_by_hand(&host, "02:00:00:00:d1:02");
    let (offer, took) = b.dhclient();
    let second = offer.expect("dhclient got a lease");
    eprintln!("dhclient, new MAC: {took:?}");
    assert!(
        in_range(second.ip, RANGE) && second.ip != first.ip,
        "{second:?}"
    );
    assert_eq!(
        (second.router.as_str(), second.mtu.as_str()),
        (GATEWAY, MTU)
    );

    // An attached container asking by DHCP gets the address attach gave it, and no lease.
    let (mut c, attached) = Ctr::attach(&host, None);
    let attached = attached.unwrap();
    assert!(in_range(attached, RANGE) && attached != first.ip && attached != second.ip);
    let (offer, _) = c.dhclient();
    assert_eq!(offer.expect("dhclient on the attach port").ip, attached);
    assert_eq!(leases(&host).len(), 2, "attach's address needs no lease");

    // SIGTERM: the agent stops its dnsmasq; started again, same answers, nothing doubled.
    assert_eq!(agent.stop(), Some(0));
    assert_eq!(health(&host)["up"], false);
    assert!(
        dnsmasq_pids(state.path()).is_empty(),
        "a clean stop stops dnsmasq"
    );
    let mut agent = Agent::start(&host, Some(state.path()), None);
    wait_until("dnsmasq again", || dnsmasq_pids(state.path()).len() == 1);
    assert_eq!(a.udhcpc().0.unwrap().ip, first.ip);
    assert_eq!(b.dhclient().0.unwrap().ip, second.ip);

    // SIGKILL: dnsmasq keeps serving without the agent; the next agent adopts it.
    let serving = dnsmasq_pids(state.path());
    agent.kill();
    assert_eq!(a.udhcpc().0.unwrap().ip, first.ip, "DHCP without the agent");
    let agent = Agent::start(&host, Some(state.path()), None);
    let pid = agent.pid();
    wait_until("the new agent reports", || health(&host)["pid"] == pid);
    assert_eq!(dnsmasq_pids(state.path()), serving, "adopted, not doubled");
    assert_eq!(a.udhcpc().0.unwrap().ip, first.ip);
    assert_eq!(
        leases(&host),
        BTreeMap::from([(first.ip, a.mac()), (second.ip, b.mac())]),
        "one lease per client, none lost"
    );
}

#[test]
fn attach_and_dhcp_fill_one_range_without_ever_sharing_an_address() {
    // 10.10.1.0/29: six addresses, .1 to .6.
    const RANGE: &str = "10.10.1.0/29";
    let (host, _state, _agent) = served_host(RANGE);
    let mut held: Vec<Ipv4Addr> = Vec::new();
    let mut keep = Vec::new();
    for round in 0..3u8 {
        let (ctr, got) = Ctr::attach(&host, None);
        held.push(got.expect("attach while the range has room"));
        keep.push(ctr);
        let mac = format!("02:00:00:00:d2:0{round}");
        let ctr = Ctr::plug_by_hand(&host, &mac);
        let offer = if round % 2 == 0 {
            ctr.udhcpc().0
        } else {
            let mut ctr = ctr;
            let offer = ctr.dhclient().0;
            keep.push(ctr);
            offer.clone()
        };
        held.push(offer.expect("DHCP while the range has room").ip);
    }
    let mut distinct = held.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 6, "six distinct addresses: {held:?}");
    assert!(held.iter().all(|ip| in_range(*ip, RANGE)), "{held:?}");

    // Full, both ways: attach is refused, a DHCP client gets nothing.
    let (_ctr, refused) = Ctr::attach(&host, None);
    assert!(
        matches!(refused, Err(AttachError::Address { .. })),
        "{refused:?}"
    );
    let late = Ctr::plug_by_hand(&host, "02:00:00:00:d2:99");
    assert_eq!(late.udhcpc().0, None, "no address left for DHCP");
    assert_eq!(leases(&host).len(), 3);
}

#[test]
fn a_host_without_dnsmasq_gets_a_health_error_naming_it() {
    let host = OvsHost::start();
    write_intent(&host, "10.10.1.0/24");
    let state = tempfile::Builder::new()
        .prefix("dh-state")
        .tempdir()
        .unwrap();
    // A PATH with nft alone: the only thing missing is dnsmasq.
    let bin = tempfile::Builder::new().prefix("dh-bin").tempdir().unwrap();
    let nft = sh("command -v nft").trim().to_string();
    std::os::unix::fs::symlink(&nft, bin.path().join("nft")).unwrap();
    let _agent = Agent::start(&host, Some(state.path()), bin.path().to_str());
    wait_until("a health error naming dnsmasq", || {
        health(&host)["error"]
            .as_str()
            .is_some_and(|e| e.contains("`dnsmasq` is not installed (DHCP on VLAN `web`)"))
    });
    assert_eq!(health(&host)["up"], true, "reported, not a crash");
}

/// A lab through the binary (`lab up` starts an agent per host with its own state
/// directory), applied with DHCP on VLAN web; torn down on drop, pass or fail.
struct Lab {
    topology: Topology,
    file: PathBuf,
    root: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = lab::down(&self.topology, &self.root);
    }
}

impl Lab {
    fn start(topology: Topology) -> Lab {
        let dir = tempfile::Builder::new().prefix("dh-lab").tempdir().unwrap();
        let file = dir.path().join("topology.yaml");
        let yaml = lab_support::to_yaml(&topology).replace(
            "    subnet: 10.10.0.0/16\n",
            &format!("    subnet: 10.10.0.0/16\n    gateway: {GATEWAY}\n    dhcp: true\n"),
        );
        std::fs::write(&file, yaml).unwrap();
        let lab = Lab {
            topology,
            file,
            root: dir.path().join("run"),
            _dir: dir,
        };
        lab.ovsnet(&["lab", "up"]);
        lab.ovsnet(&["apply", "--lab", "--auto-approve"]);
        for i in 0..lab.topology.hosts.len() {
            wait_until("each host's dnsmasq", || {
                dnsmasq_pids(&lab.state(i)).len() == 1
            });
        }
        lab
    }

    fn ovsnet(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_ovsnet"))
            .args(args)
            .arg(&self.file)
            .env("NO_COLOR", "1")
            .env("OVSNET_LAB_DIR", &self.root)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ovsnet {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn netns(&self, i: usize) -> String {
        lab::host_netns(&self.topology.cluster, &self.topology.hosts[i].name)
    }

    fn endpoint(&self, i: usize) -> String {
        lab::endpoint(&self.topology, &self.topology.hosts[i].name, &self.root)
    }

    /// The host's agent state directory (`lab up` passes `hosts/HOST/dhcp`).
    fn state(&self, i: usize) -> PathBuf {
        let ep = self.endpoint(i);
        Path::new(ep.strip_prefix("unix:").unwrap())
            .parent()
            .unwrap()
            .join("dhcp")
    }

    /// Everything host `i`'s dnsmasq logged and holds in its lease file.
    fn dnsmasq_saw(&self, i: usize) -> String {
        let read = |f: &str| std::fs::read_to_string(self.state(i).join(f)).unwrap_or_default();
        format!("{}{}", read("dnsmasq.log"), read("dnsmasq.leases")).to_ascii_lowercase()
    }

    /// Packets the agent's rule dropped as DHCP requests arriving over a tunnel.
    fn dropped_dhcp(&self, i: usize) -> u64 {
        let dir = self.state(i).parent().unwrap().to_path_buf();
        let out = Command::new("ovs-ofctl")
            .args([
                "dump-flows",
                &format!("unix:{}/br-ovsnet.mgmt", dir.display()),
            ])
            .arg("cookie=0x6f76736e/-1,udp,tp_dst=67")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split([',', ' '])
            .filter_map(|w| w.strip_prefix("n_packets=")?.parse::<u64>().ok())
            .sum()
    }

    /// The overlay MTU `apply` wrote on host `i`.
    fn mtu(&self, i: usize) -> String {
        let out = Command::new("ovs-vsctl")
            .arg(format!("--db={}", self.endpoint(i)))
            .args([
                "--no-wait",
                "get",
                "Bridge",
                "br-ovsnet",
                "external_ids:ovsnet-mtu",
            ])
            .output()
            .unwrap();
        let quoted = String::from_utf8_lossy(&out.stdout).trim().to_string();
        serde_json::from_str(&quoted).unwrap_or(quoted)
    }

    fn leases(&self, i: usize) -> String {
        let out = Command::new("ovs-vsctl")
            .arg(format!("--db={}", self.endpoint(i)))
            .args(["--no-wait", "get", "Open_vSwitch", ".", "external_ids"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_ascii_lowercase()
    }
}

#[test]
fn on_two_hosts_each_client_is_served_by_its_own_host_only() {
    // A two-host chain is a tree: its tunnel ports are not protected, so what keeps the
    // DHCP broadcasts off the other host's server is the agent's isolation rules.
    let cluster = lab_support::unique_cluster("dh");
    let t = lab_support::topology(&cluster, 2, TunnelKind::Vxlan, Shape::Chain, false);
    let lab = Lab::start(t);
    let macs = ["02:00:00:00:d3:01", "02:00:00:00:d3:02"];
    let ranges = ["10.10.1.0/24", "10.10.2.0/24"];
    let mut clients = Vec::new();
    for i in 0..2 {
        let mut ctr = Ctr::plug_by_hand_into(&lab.netns(i), &lab.endpoint(i), macs[i]);
        let offer = if i == 0 {
            ctr.udhcpc().0
        } else {
            ctr.dhclient().0
        };
        let offer = offer.unwrap_or_else(|| panic!("a lease on host {i}"));
        assert!(in_range(offer.ip, ranges[i]), "host {i}: {offer:?}");
        assert_eq!(
            (offer.router.as_str(), offer.mtu.clone()),
            (GATEWAY, lab.mtu(i))
        );
        clients.push((ctr, offer));
    }
    for (i, mac) in macs.iter().enumerate() {
        let other = 1 - i;
        assert!(lab.dnsmasq_saw(i).contains(mac), "host {i} served {mac}");
        assert!(
            !lab.dnsmasq_saw(other).contains(mac),
            "host {other}'s dnsmasq never heard of {mac}"
        );
        assert!(lab.leases(i).contains(mac) && !lab.leases(other).contains(mac));
    }
    // The broadcasts did cross the tunnel: the other host's rule dropped them there.
    for i in 0..2 {
        assert!(
            lab.dropped_dhcp(i) > 0,
            "host {i} dropped DHCP from its tunnel"
        );
    }
    // The silence is not a broken tunnel: the two clients reach each other across it.
    for (ctr, offer) in &clients {
        sh(&format!(
            "ip -n {} addr add {}/16 dev eth0",
            ctr.name, offer.ip
        ));
    }
    let peer = clients[1].1.ip.to_string();
    assert!(
        sh(&format!(
            "ip netns exec {} ping -c 1 -W 2 {peer} >/dev/null && echo ok",
            clients[0].0.name
        ))
        .contains("ok"),
        "host-a's client reaches host-b's across the tunnel"
    );

    // `lab check` runs both clients on both hosts, by itself, and passes; a second run
    // reuses the leases of the first (stable MACs), so the ranges do not fill up.
    let report = lab.ovsnet(&["lab", "check"]);
    assert!(
        report.contains("dhcp: 4 clients, 4 served from their host's range"),
        "{report}"
    );
    assert!(report.contains("check passed"), "{report}");
    let leased = || {
        (0..2)
            .map(|i| leases_at(&lab.endpoint(i)))
            .collect::<Vec<_>>()
    };
    let after_one = leased();
    assert_eq!(
        after_one[0].len(),
        3,
        "the test's client and the check's two"
    );
    let again = lab.ovsnet(&["lab", "check"]);
    assert!(again.contains("check passed"), "{again}");
    assert_eq!(leased(), after_one, "the same leases, none new");

    // An agent killed outright leaves its dnsmasq serving; `lab down` stops that too.
    let state = lab.state(0);
    let pidfile = state.parent().unwrap().join("ovsnet-agent.pid");
    let agent: u32 = std::fs::read_to_string(pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let serving = dnsmasq_pids(&state);
    signal(agent, "KILL");
    wait_until("the agent gone", || {
        !Path::new(&format!("/proc/{agent}")).exists()
    });
    assert_eq!(
        dnsmasq_pids(&state),
        serving,
        "dnsmasq outlives a killed agent"
    );
    lab::down(&lab.topology, &lab.root).unwrap();
    assert!(dnsmasq_pids(&state).is_empty(), "lab down stopped it");
}

#[test]
fn attaches_and_dhcp_clients_racing_for_one_range_never_share_an_address() {
    // 10.10.1.0/28: fourteen addresses; six attaches and six DHCP clients at once.
    const RANGE: &str = "10.10.1.0/28";
    let (host, _state, _agent) = served_host(RANGE);
    let clients: Vec<Ctr> = (0..6)
        .map(|i| Ctr::plug_by_hand(&host, &format!("02:00:00:00:d4:0{i}")))
        .collect();
    let (attached, offered) = std::thread::scope(|scope| {
        let dhcp: Vec<_> = clients
            .iter()
            .map(|c| scope.spawn(move || c.udhcpc().0))
            .collect();
        // One after another while the clients ask, each attach a monitor update the
        // agent reconciles between the clients' leases.
        let attaches = scope.spawn(|| {
            (0..6)
                .map(|_| {
                    let (ctr, got) = Ctr::attach(&host, None);
                    (ctr, got.expect("attach"))
                })
                .collect::<Vec<_>>()
        });
        let attached: Vec<(Ctr, Ipv4Addr)> = attaches.join().unwrap();
        let offered: Vec<Ipv4Addr> = dhcp
            .into_iter()
            .map(|d| d.join().unwrap().expect("a DHCP lease").ip)
            .collect();
        (attached, offered)
    });
    let attached_ips: Vec<Ipv4Addr> = attached.iter().map(|(_, ip)| *ip).collect();
    let mut all = attached_ips.clone();
    all.extend(&offered);
    all.sort();
    all.dedup();
    assert_eq!(
        all.len(),
        12,
        "attached {attached_ips:?}, offered {offered:?}"
    );
    assert!(all.iter().all(|ip| in_range(*ip, RANGE)));
    let leased = leases(&host);
    assert_eq!(leased.len(), 6);
    assert!(offered.iter().all(|ip| leased.contains_key(ip)));
}

#[test]
fn an_expired_lease_is_freed_a_live_one_kept_and_a_broken_one_named() {
    let (host, _state, _agent) = served_host("10.10.1.0/24");
    let key = |ip: &str, value: &str| {
        format!(
            "external_ids:ovsnet-lease-{ip}={}",
            serde_json::to_string(value).unwrap()
        )
    };
    let expired = key(
        "10.10.1.9",
        r#"{"expires":1,"mac":"02:00:00:00:d5:09","vlan":"web"}"#,
    );
    let live = key(
        "10.10.1.8",
        r#"{"expires":4000000000,"mac":"02:00:00:00:d5:08","vlan":"web"}"#,
    );
    host.vsctl(&["--no-wait", "set", "Open_vSwitch", ".", &expired, &live]);
    // Any update wakes the agent (the root row is not watched): a port added by hand.
    let _wake = Ctr::plug_by_hand(&host, "02:00:00:00:d5:01");
    wait_until("the expired lease freed", || {
        !leases(&host).contains_key(&"10.10.1.9".parse().unwrap())
    });
    assert!(leases(&host).contains_key(&"10.10.1.8".parse().unwrap()));

    let broken = key("10.10.1.7", "{not json");
    host.vsctl(&["--no-wait", "set", "Open_vSwitch", ".", &broken]);
    let _wake_again = Ctr::plug_by_hand(&host, "02:00:00:00:d5:02");
    wait_until("a health error naming the key", || {
        health(&host)["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("`ovsnet-lease-10.10.1.7`: "))
    });
    assert_eq!(health(&host)["up"], true);
}

#[test]
fn dhcp_turned_off_stops_dnsmasq_even_one_a_killed_agent_left() {
    let (host, state, mut agent) = served_host("10.10.1.0/24");
    agent.kill();
    assert_eq!(dnsmasq_pids(state.path()).len(), 1, "left serving");
    let off = r#"{"dhcp":false,"gateway":"10.10.0.1","id":10,"range":"10.10.1.0/24","subnet":"10.10.0.0/16"}"#;
    let key = format!(
        "external_ids:ovsnet-vlan-web={}",
        serde_json::to_string(off).unwrap()
    );
    host.vsctl(&["--no-wait", "set", "Bridge", "br-ovsnet", &key]);
    let _agent = Agent::start(&host, Some(state.path()), None);
    wait_until("no dnsmasq", || dnsmasq_pids(state.path()).is_empty());
}
