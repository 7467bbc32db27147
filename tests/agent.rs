//! The host agent against a real ovsdb-server and ovs-vswitchd in a namespace of its
//! own. The host's intent is written with stock `ovs-vsctl` exactly as
//! docs/host-side.md lays it out; what the agent did is read back with `ip`, `nft` and
//! `ovs-vsctl`, independent of ovsnet. Faults: ovs-vswitchd restarted (the gateway
//! device comes back without its address), ovsdb-server restarted, the agent stopped
//! and started again (nothing duplicated), a host without `nft`.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::agent::{health, sh, wait_until, write_gateway_port, write_intent, Agent};
use support::OvsHost;

const WEB: &str = r#"{"dhcp":false,"gateway":"10.10.0.1","id":10,"nat":true,"range":"10.10.1.0/24","subnet":"10.10.0.0/16"}"#;

fn in_ns(host: &OvsHost, argv: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", host.netns()])
        .args(argv)
        .output()
        .expect("run in the namespace");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn gateway_addresses(host: &OvsHost) -> Vec<String> {
    in_ns(host, &["ip", "-4", "-o", "addr", "show", "dev", "ovsgw-10"])
        .lines()
        .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
        .collect()
}

fn ifindex(host: &OvsHost) -> String {
    in_ns(host, &["cat", "/sys/class/net/ovsgw-10/ifindex"])
}

fn table(host: &OvsHost) -> String {
    in_ns(host, &["nft", "list", "table", "inet", "ovsnet"])
}

fn converged(host: &OvsHost) -> bool {
    gateway_addresses(host) == ["10.10.0.1/16"] && table(host).contains("masquerade")
}

#[test]
fn the_agent_realizes_the_gateway_and_nat_and_survives_faults() {
    let mut host = OvsHost::start();
    write_intent(&host, WEB);
    let mut agent = Agent::start(&host, None, None);
    wait_until("the gateway address and the NAT table", || converged(&host));
    wait_until("healthy", || {
        let h = health(&host);
        h["up"] == true && h.get("error").is_none()
    });
    assert_eq!(
        in_ns(&host, &["cat", "/proc/sys/net/ipv4/ip_forward"]).trim(),
        "1"
    );
    let h = health(&host);
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));

    // ovs-vswitchd restarted: the userspace datapath keeps its tap devices (persistent),
    // so nothing is lost; the agent's state still holds afterwards.
    host.restart_vswitchd();
    wait_until("converged after a vswitchd restart", || converged(&host));

    // The gateway device recreated bare (the port deleted and added again, as a
    // kernel-datapath restart does): the monitor update makes the agent restore it.
    let before = ifindex(&host);
    host.vsctl(&["del-port", "br-ovsnet", "ovsgw-10"]);
    write_gateway_port(&host);
    wait_until("a new gateway device", || {
        let now = ifindex(&host);
        !now.is_empty() && now != before
    });
    wait_until("the address restored on the new device", || {
        converged(&host)
    });

    // ovsdb-server restarted: the agent reconnects and follows changes again.
    host.restart_ovsdb();
    let no_nat = WEB.replace(r#""nat":true"#, r#""nat":false"#);
    let key = format!(
        "external_ids:ovsnet-vlan-web={}",
        serde_json::to_string(&no_nat).unwrap()
    );
    wait_until("ovsdb-server back", || {
        host.try_vsctl(&["--no-wait", "show"]).is_ok()
    });
    host.vsctl(&["--no-wait", "set", "Bridge", "br-ovsnet", &key]);
    wait_until("the table removed once no VLAN wants NAT", || {
        table(&host).is_empty()
    });
    let with_nat = format!(
        "external_ids:ovsnet-vlan-web={}",
        serde_json::to_string(WEB).unwrap()
    );
    host.vsctl(&["--no-wait", "set", "Bridge", "br-ovsnet", &with_nat]);
    wait_until("NAT back", || converged(&host));

    // SIGTERM: a clean exit, health says down, the dataplane stays.
    assert_eq!(agent.stop(), Some(0));
    assert_eq!(health(&host)["up"], false);
    assert!(converged(&host), "the kernel state outlives the agent");

    // Started again: nothing is added twice.
    let _again = Agent::start(&host, None, None);
    wait_until("healthy again", || health(&host)["up"] == true);
    assert_eq!(gateway_addresses(&host), ["10.10.0.1/16"]);
    assert_eq!(table(&host).matches("masquerade").count(), 1);
    assert_eq!(
        in_ns(&host, &["nft", "list", "tables"])
            .matches("ovsnet")
            .count(),
        1
    );
}

#[test]
fn a_host_without_nft_gets_a_health_error_naming_it() {
    let host = OvsHost::start();
    write_intent(&host, WEB);
    // A PATH with neither nft nor dnsmasq: only the agent itself is given by path.
    let _agent = Agent::start(&host, None, Some("/nonexistent"));
    wait_until("a health error", || {
        health(&host)["error"]
            .as_str()
            .is_some_and(|e| e.contains("`nft` is not installed"))
    });
    // The gateway address does not need nft and is there regardless.
    wait_until("the gateway address", || {
        gateway_addresses(&host) == ["10.10.0.1/16"]
    });
}

/// A child killed (by pid) and reaped on drop, pass or fail.
struct Reap(Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A network namespace of the test's own, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("ovsnet-ag{}-{tag}", std::process::id());
        sh(&format!("ip netns add {name}"));
        sh(&format!("ip -n {name} link set lo up"));
        Netns(name)
    }
    fn run(&self, script: &str) -> String {
        sh(&format!("ip netns exec {} sh -c '{script}'", self.0))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A container netns plugged into the bridge as docs/host-side.md says attach does.
fn plug_container(host: &OvsHost, ctr: &Netns) {
    let h = host.netns();
    sh(&format!(
        "ip link add vc1 netns {h} type veth peer name eth0 netns {}",
        ctr.0
    ));
    sh(&format!("ip -n {h} link set vc1 up"));
    ctr.run("ip link set eth0 up && ip addr add 10.10.1.5/16 dev eth0 && ip route add default via 10.10.0.1 && ethtool -K eth0 tx off >/dev/null");
    host.vsctl(&[
        "add-port",
        "br-ovsnet",
        "vc1",
        "tag=10",
        "external_ids:ovsnet-cluster=demo",
        "external_ids:ovsnet-role=container",
        "external_ids:ovsnet-vlan=web",
        "external_ids:ovsnet-address=10.10.1.5/16",
        &format!("external_ids:ovsnet-netns={}", ctr.0),
    ]);
}

/// The "outside": a namespace on the host's uplink, 198.18.100.2, the host being .1.
fn plug_outside(host: &OvsHost, out: &Netns) {
    let h = host.netns();
    sh(&format!(
        "ip link add up0 netns {h} type veth peer name eth0 netns {}",
        out.0
    ));
    sh(&format!(
        "ip -n {h} addr add 198.18.100.1/24 dev up0 && ip -n {h} link set up0 up"
    ));
    out.run("ip link set eth0 up && ip addr add 198.18.100.2/24 dev eth0");
}

/// The body of `GET path` from `addr:port`, from inside `ns` (busybox nc; its wget
/// crashes in some static builds). Empty when nothing answered within 2 s.
fn http_get(ns: &Netns, addr: &str, port: u16, path: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.0, "sh", "-c"])
        .arg(format!(
            "printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 {addr} {port}"
        ))
        .output()
        .expect("nc");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default()
}

fn ovsnet(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ovsnet"))
        .args(args)
        .output()
        .expect("ovsnet runs")
}

#[test]
fn nat_leaves_with_the_host_address_and_a_published_port_is_reached_from_outside() {
    let host = OvsHost::start();
    write_intent(&host, WEB);
    let ctr = Netns::new("c");
    let outside = Netns::new("o");
    plug_container(&host, &ctr);
    plug_outside(&host, &outside);
    let mut agent = Agent::start(&host, None, None);
    wait_until("converged", || converged(&host));

    // Outside: a CGI page that prints the peer's address.
    let www = tempfile::tempdir().unwrap();
    let cgi = www.path().join("cgi-bin");
    std::fs::create_dir_all(&cgi).unwrap();
    std::fs::write(
        cgi.join("who"),
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n%s' \"$REMOTE_ADDR\"\n",
    )
    .unwrap();
    sh(&format!("chmod +x {}/who", cgi.display()));
    let _web = Reap(
        Command::new("ip")
            .args([
                "netns", "exec", &outside.0, "busybox", "httpd", "-f", "-p", "80", "-h",
            ])
            .arg(www.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // The userspace datapath passes the kernel's partial checksums on: the tap of the
    // gateway must checksum in software, as the container's veth end does (DESIGN.md §5).
    in_ns(&host, &["ethtool", "-K", "ovsgw-10", "tx", "off"]);
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && seen.is_empty() {
        seen = http_get(&ctr, "198.18.100.2", 80, "/cgi-bin/who");
    }
    // busybox httpd prints IPv4 peers mapped into IPv6: `[::ffff:198.18.100.1]`.
    assert_eq!(
        seen, "[::ffff:198.18.100.1]",
        "the container leaves with its host's address"
    );

    // Published: the outside reaches the container through host:8080.
    let page = tempfile::tempdir().unwrap();
    std::fs::write(page.path().join("index.html"), "inside").unwrap();
    let _inner = Reap(
        Command::new("ip")
            .args([
                "netns", "exec", &ctr.0, "busybox", "httpd", "-f", "-p", "80", "-h",
            ])
            .arg(page.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let endpoint = host.endpoint();
    let publish = ovsnet(&[
        "publish", "--ovsdb", &endpoint, "--netns", &ctr.0, "8080:80",
    ]);
    assert!(
        publish.status.success(),
        "{}",
        String::from_utf8_lossy(&publish.stderr)
    );
    assert_eq!(
        host.get("Port", "vc1", "external_ids:ovsnet-publish"),
        "\"8080:80/tcp\""
    );
    wait_until("the DNAT rule", || table(&host).contains("dport 8080"));
    let mut got = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && got.is_empty() {
        got = http_get(&outside, "198.18.100.1", 8080, "/");
    }
    assert_eq!(got, "inside");

    // The agent killed (SIGKILL): the dataplane does not depend on it. The container
    // still reaches its gateway and, through NAT, the outside; the outside still
    // reaches the published port.
    let before = table(&host);
    agent.kill();
    assert!(
        ctr.run("ping -c 1 -W 2 10.10.0.1 >/dev/null && echo ok")
            .contains("ok"),
        "the gateway answers without the agent"
    );
    assert_eq!(
        http_get(&ctr, "198.18.100.2", 80, "/cgi-bin/who"),
        "[::ffff:198.18.100.1]",
        "NAT without the agent"
    );
    assert_eq!(
        http_get(&outside, "198.18.100.1", 8080, "/"),
        "inside",
        "the published port without the agent"
    );
    // Started again: the same table, rule for rule (nothing duplicated, nothing lost).
    let agent = Agent::start(&host, None, None);
    let pid = agent.pid();
    wait_until("the new agent reports", || health(&host)["pid"] == pid);
    assert_eq!(table(&host), before);
    assert_eq!(table(&host).matches("masquerade").count(), 1);
    assert_eq!(gateway_addresses(&host), ["10.10.0.1/16"]);

    // Unpublished (and never published directly): nothing from outside reaches it.
    outside.run("ip route add 10.10.0.0/16 via 198.18.100.1");
    let direct = http_get(&outside, "10.10.1.5", 80, "/");
    assert_eq!(
        direct, "",
        "an unpublished container is not reachable from outside"
    );

    // The same host port again is refused with a clear error, exit 65.
    let again = ovsnet(&[
        "publish", "--ovsdb", &endpoint, "--netns", &ctr.0, "8080:81",
    ]);
    assert_eq!(again.status.code(), Some(65));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("host port 8080/tcp is already published by container port `vc1`"),
        "{err}"
    );

    let un = ovsnet(&[
        "unpublish",
        "--ovsdb",
        &endpoint,
        "--netns",
        &ctr.0,
        "8080:80",
    ]);
    assert!(
        un.status.success(),
        "{}",
        String::from_utf8_lossy(&un.stderr)
    );
    wait_until("the DNAT rule gone", || {
        !table(&host).contains("dport 8080")
    });
}
