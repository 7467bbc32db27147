//! Attach on a real switch (one host, its own namespace), checked with stock `ovs-vsctl`
//! and `ip`: addresses from the host's range recorded on the port, the fabric leaves
//! containers alone (re-plan empty) and refuses to remove their VLAN or bridge, every
//! refusal leaves nothing behind, 50 attaches at once get 50 distinct addresses, detach
//! removes both veth ends, a deleted namespace is stale and `gc` removes it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ovsnet::attach::{self, AttachError, AttachRequest, Identity, Placement, Selector, State};
use ovsnet::linux::{self, Netns};
use ovsnet::ovsdb::Client;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;
use support::cluster::{converge, ovsnet, Cluster, Spec, BRIDGE};
use support::OvsHost;

/// A container namespace, deleted on drop.
struct Ns(String);

impl Ns {
    fn new(tag: &str) -> Ns {
        let name = format!("ovsnet-at{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        assert!(Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap()
            .success());
        Ns(name)
    }

    fn delete(&self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.0])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        self.delete();
    }
}

fn request(host: &OvsHost, ns: &str, vlan: &str) -> AttachRequest {
    AttachRequest {
        vlan: vlan.into(),
        identity: Identity::Netns(ns.into()),
        placement: Placement::Into(Netns::Named(ns.into())),
        host_netns: Netns::Named(host.netns().into()),
        ip: None,
        mac: None,
        ifname: "eth0".into(),
        timeout: Duration::from_secs(60),
    }
}

fn client(host: &OvsHost) -> Client {
    Client::connect(&host.endpoint(), Duration::from_secs(30)).unwrap()
}

/// Ports on the bridge and links in the host namespace: what "nothing left" compares.
fn leftovers(host: &OvsHost) -> (String, Vec<String>) {
    let ports = host.vsctl(&["list-ports", BRIDGE]);
    let links = linux::links(&Netns::Named(host.netns().into()))
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .filter(|n| n.starts_with("ovc") || n.starts_with("ovi"))
        .collect();
    (ports, links)
}

fn one_host() -> (Cluster, String) {
    let cluster = Cluster::start(1);
    let topo = cluster.topology("one", &Spec::mesh(1));
    converge(&topo);
    (cluster, topo)
}

#[test]
fn an_attached_container_gets_its_hosts_range_and_the_fabric_leaves_it_alone() {
    let (cluster, topo) = one_host();
    let host = cluster.host("host-a");
    let ns = Ns::new("a");
    let done = attach::attach(&mut client(host), &request(host, &ns.0, "web")).unwrap();
    assert_eq!(done.address.to_string(), "10.10.1.1/16");
    assert_eq!(done.vlan_id, 10);
    assert!(done.port.len() <= 15);
    // Independent readers: ovs-vsctl and ip.
    assert_eq!(host.get("Port", &done.port, "tag"), "10");
    assert_eq!(
        host.get("Port", &done.port, "external_ids:ovsnet-address"),
        "\"10.10.1.1/16\""
    );
    assert_eq!(
        host.get("Port", &done.port, "other_config:transient"),
        "\"true\""
    );
    let ofport: i64 = host.get("Interface", &done.port, "ofport").parse().unwrap();
    assert!(ofport > 0);
    let out = Command::new("ip")
        .args(["-n", &ns.0, "-4", "-o", "addr", "show", "eth0"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("10.10.1.1/16"));

    // The fabric re-plan is empty, shows the container, and in JSON too.
    let plan = ovsnet(&["plan", &topo, "--detailed-exitcode"]);
    plan.expect_code(0, "containers are not drift");
    assert!(plan.stdout.contains("1 container"), "{plan}");
    let json = ovsnet(&["plan", &topo, "--format", "json"]);
    assert!(json.stdout.contains(&done.port), "{json}");
    ovsnet(&["apply", &topo, "--auto-approve"]).expect_code(0, "nothing to do");
    assert_eq!(host.get("Port", &done.port, "tag"), "10", "still there");

    // The second container gets the next address; the CLI lists both.
    let ns2 = Ns::new("b");
    let second = attach::attach(&mut client(host), &request(host, &ns2.0, "web")).unwrap();
    assert_eq!(second.address.to_string(), "10.10.1.2/16");
    let list = ovsnet(&[
        "containers",
        "--ovsdb",
        &host.endpoint(),
        "--format",
        "json",
    ]);
    list.expect_code(0, "containers");
    let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2, "{list}");
}

#[test]
fn removing_a_vlan_or_the_bridge_under_containers_is_blocked_naming_them() {
    let (cluster, topo) = one_host();
    let host = cluster.host("host-a");
    let ns = Ns::new("v");
    let done = attach::attach(&mut client(host), &request(host, &ns.0, "db")).unwrap();
    let text = std::fs::read_to_string(&topo).unwrap();
    let without_db = text
        .replace("  - name: db\n    id: 20\n    subnet: 10.20.0.0/16\n", "")
        .replace("      db: 10.20.1.0/24\n", "");
    let no_db = cluster.file("no-db.yaml");
    std::fs::write(&no_db, without_db).unwrap();
    let plan = ovsnet(&["plan", &no_db]);
    assert_eq!(plan.code, 1, "blocked: {plan}");
    assert!(plan.stdout.contains(&done.port), "{plan}");
    assert!(plan.stdout.contains("VLAN `db`"), "{plan}");
    ovsnet(&["apply", &no_db, "--auto-approve"]).expect_code(1, "blocked");
    assert_eq!(host.get("Port", &done.port, "tag"), "20");

    let renamed = cluster.file("renamed.yaml");
    std::fs::write(&renamed, text.replace(BRIDGE, "br-other")).unwrap();
    let plan = ovsnet(&["plan", &renamed]);
    assert_eq!(plan.code, 1, "{plan}");
    assert!(plan.stdout.contains(&done.port), "{plan}");
}

#[test]
fn every_refusal_names_the_value_and_leaves_nothing_behind() {
    let (cluster, _topo) = one_host();
    let host = cluster.host("host-a");
    let before = leftovers(host);
    let ns = Ns::new("r");
    let mut c = client(host);
    let refused = |c: &mut Client, req: AttachRequest| attach::attach(c, &req).unwrap_err();

    let err = refused(&mut c, request(host, &ns.0, "nope"));
    assert!(matches!(err, AttachError::UnknownVlan { .. }), "{err}");
    assert!(err.to_string().contains("`nope`"), "{err}");

    let mut outside = request(host, &ns.0, "web");
    outside.ip = Some(Ipv4Addr::new(10, 10, 2, 5));
    let err = refused(&mut c, outside);
    assert!(err.to_string().contains("10.10.2.5"), "{err}");
    assert!(err.to_string().contains("10.10.1.0/24"), "{err}");

    let missing = request(host, "ovsnet-no-such-ns", "web");
    let err = refused(&mut c, missing);
    assert!(matches!(err, AttachError::NoNamespace { .. }), "{err}");

    let mut by_pid = request(host, &ns.0, "web");
    by_pid.identity = Identity::Pid(u32::MAX - 1);
    by_pid.placement = Placement::Into(Netns::Pid(u32::MAX - 1));
    let err = refused(&mut c, by_pid);
    assert!(matches!(err, AttachError::NoNamespace { .. }), "{err}");

    let taken = Ns::new("t");
    Command::new("ip")
        .args([
            "-n", &taken.0, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p",
        ])
        .status()
        .unwrap();
    let err = refused(&mut c, request(host, &taken.0, "web"));
    assert!(matches!(err, AttachError::IfnameTaken { .. }), "{err}");
    assert_eq!(leftovers(host), before, "no refusal left anything");

    // In use: one attached at .7, a second asking for .7 is refused.
    let mut first = request(host, &ns.0, "web");
    first.ip = Some(Ipv4Addr::new(10, 10, 1, 7));
    let held = attach::attach(&mut c, &first).unwrap();
    let with_one = leftovers(host);
    let other = Ns::new("o");
    let mut second = request(host, &other.0, "web");
    second.ip = Some(Ipv4Addr::new(10, 10, 1, 7));
    let err = refused(&mut c, second);
    assert!(err.to_string().contains(&held.port), "{err}");
    assert_eq!(leftovers(host), with_one);

    // Full: a /30 range has two addresses; fill it by hand-written leases.
    host.vsctl(&[
        "set",
        "Open_vSwitch",
        ".",
        "external_ids:ovsnet-lease-10.10.1.1={}",
    ]);
    let mut leased = request(host, &other.0, "web");
    leased.ip = Some(Ipv4Addr::new(10, 10, 1, 1));
    let err = refused(&mut c, leased);
    assert!(err.to_string().contains("DHCP lease"), "{err}");
    assert_eq!(leftovers(host), with_one);
}

#[test]
fn a_full_range_is_refused() {
    let cluster = Cluster::start(1);
    let path = cluster.topology("tiny", &Spec::mesh(1));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("web: 10.10.1.0/24", "web: 10.10.1.0/30"),
    )
    .unwrap();
    converge(&path);
    let host = cluster.host("host-a");
    let (a, b, c) = (Ns::new("f1"), Ns::new("f2"), Ns::new("f3"));
    let mut cl = client(host);
    attach::attach(&mut cl, &request(host, &a.0, "web")).unwrap();
    attach::attach(&mut cl, &request(host, &b.0, "web")).unwrap();
    let before = leftovers(host);
    let err = attach::attach(&mut cl, &request(host, &c.0, "web")).unwrap_err();
    assert!(err.to_string().contains("is full"), "{err}");
    assert_eq!(leftovers(host), before);
}

#[test]
fn fifty_attaches_at_once_get_fifty_distinct_addresses() {
    let (cluster, _topo) = one_host();
    let host = cluster.host("host-a");
    let namespaces: Vec<Ns> = (0..50).map(|i| Ns::new(&format!("p{i}"))).collect();
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = namespaces
            .iter()
            .map(|ns| {
                scope.spawn(|| attach::attach(&mut client(host), &request(host, &ns.0, "web")))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let addresses: BTreeSet<String> = results
        .iter()
        .map(|r| r.as_ref().expect("no failures").address.to_string())
        .collect();
    assert_eq!(addresses.len(), 50);
    let lost: u32 = results.iter().map(|r| r.as_ref().unwrap().retries).sum();
    eprintln!("50 concurrent attaches: {lost} allocation rounds lost and retried");
    let recorded = host.vsctl(&[
        "--bare",
        "--columns=external_ids",
        "find",
        "Port",
        "external_ids:ovsnet-role=container",
    ]);
    assert_eq!(recorded.matches("ovsnet-address").count(), 50);
}

#[test]
fn detach_removes_the_port_and_both_veth_ends() {
    let (cluster, _topo) = one_host();
    let host = cluster.host("host-a");
    let before = leftovers(host);
    let ns = Ns::new("d");
    let done = attach::attach(&mut client(host), &request(host, &ns.0, "web")).unwrap();
    let run = ovsnet(&["detach", "--ovsdb", &host.endpoint(), "--port", &done.port]);
    // The CLI's host namespace is its own, not the test switch's: detach through the library.
    assert_eq!(run.code, 0, "{run}");
    let hns = Netns::Named(host.netns().into());
    linux::delete_link(&hns, &done.port).unwrap();
    assert_eq!(leftovers(host), before);
    assert!(!linux::link_exists(&Netns::Named(ns.0.clone()), "eth0").unwrap());

    let again = attach::attach(&mut client(host), &request(host, &ns.0, "web")).unwrap();
    let removed = attach::detach(
        &mut client(host),
        &hns,
        &Selector::Identity(Identity::Netns(ns.0.clone())),
    )
    .unwrap();
    assert_eq!(removed, vec![again.port.clone()]);
    assert_eq!(leftovers(host), before);
    assert!(!linux::link_exists(&Netns::Named(ns.0.clone()), "eth0").unwrap());
}

#[test]
fn a_deleted_namespace_is_stale_and_gc_removes_it_and_frees_the_address() {
    let (cluster, topo) = one_host();
    let host = cluster.host("host-a");
    let hns = Netns::Named(host.netns().into());
    let keep = Ns::new("k");
    let gone = Ns::new("g");
    attach::attach(&mut client(host), &request(host, &keep.0, "web")).unwrap();
    let dead = attach::attach(&mut client(host), &request(host, &gone.0, "web")).unwrap();
    gone.delete();
    // The kernel tears a deleted namespace's links down asynchronously: wait for the veth.
    for _ in 0..1000 {
        if !linux::link_exists(&hns, &dead.port).unwrap() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let listed = attach::containers(&mut client(host), &hns).unwrap();
    let state = |port: &str| listed.iter().find(|c| c.port == port).unwrap().state;
    assert_eq!(state(&dead.port), State::Stale);
    assert_eq!(listed.iter().filter(|c| c.state == State::Ok).count(), 1);
    // The userspace datapath keeps the vanished veth's ofport; its status refresh writes
    // ifindex 0, which is what `plan` (possibly far away, OVSDB only) judges by.
    for _ in 0..1000 {
        if host.get("Interface", &dead.port, "ifindex") == "0" {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(host.get("Interface", &dead.port, "ifindex"), "0");
    let ofport = host.get("Interface", &dead.port, "ofport");
    assert_ne!(ofport, "-1", "the case where the switch keeps the ofport");
    let plan = support::cluster::plan_json(&[&topo]);
    let shown = &support::cluster::host_plan(&plan, "host-a")["containers"];
    let row = |port: &str| {
        shown
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["port"] == port)
            .cloned()
            .unwrap_or_else(|| panic!("{port} in {shown}"))
    };
    assert_eq!(row(&dead.port)["state"], "stale", "{shown}");
    assert!(row(&dead.port)["problem"]
        .as_str()
        .unwrap()
        .contains("no such device"));
    assert_eq!(
        row(&listed.iter().find(|c| c.state == State::Ok).unwrap().port)["state"],
        "ok"
    );
    let removed = attach::gc(&mut client(host), &hns).unwrap();
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0].port, dead.port);
    assert!(host.try_vsctl(&["get", "Port", &dead.port, "tag"]).is_err());
    // Its address is free again.
    let fresh = Ns::new("n");
    let next = attach::attach(&mut client(host), &request(host, &fresh.0, "web")).unwrap();
    assert_eq!(next.address, dead.address);
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The IPv4 addresses on `eth0` in `ns`, as `ip` shows them.
fn eth0_addresses(ns: &str) -> String {
    let out = Command::new("ip")
        .args(["-n", ns, "-4", "-o", "addr", "show", "eth0"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// After a re-run: one port of that name, its veth in the host, eth0 holding the address.
fn whole(host: &OvsHost, ns: &str, done: &attach::Attached) {
    let ports = host.vsctl(&["list-ports", BRIDGE]);
    assert_eq!(
        ports.lines().filter(|p| *p == done.port).count(),
        1,
        "{ports}"
    );
    let hns = Netns::Named(host.netns().into());
    assert!(linux::link_exists(&hns, &done.port).unwrap());
    let ofport: i64 = host.get("Interface", &done.port, "ofport").parse().unwrap();
    assert!(ofport > 0, "the switch holds it");
    assert!(
        eth0_addresses(ns).contains(&done.address.to_string()),
        "{}",
        eth0_addresses(ns)
    );
    let (_, links) = leftovers(host);
    assert_eq!(links, vec![done.port.clone()], "no other veth left");
}

#[test]
fn a_rerun_after_a_crash_with_the_row_but_no_veth_cleans_and_redoes() {
    let (cluster, _topo) = one_host();
    let host = cluster.host("host-a");
    let ns = Ns::new("cr");
    let port = attach::port_name(&Identity::Netns(ns.0.clone()), "eth0");
    // What a crash after the commit leaves once the veth is lost: the row alone, made
    // with stock ovs-vsctl as attach would have written it.
    let marks = [
        "external_ids:ovsnet-cluster=demo".to_string(),
        "external_ids:ovsnet-role=container".to_string(),
        "external_ids:ovsnet-vlan=web".to_string(),
        "external_ids:ovsnet-address=10.10.1.1/16".to_string(),
        "external_ids:ovsnet-mac=02:00:00:00:00:01".to_string(),
        format!("external_ids:ovsnet-netns={}", ns.0),
        "external_ids:ovsnet-ifname=eth0".to_string(),
    ];
    let mut args = vec![
        "--no-wait",
        "add-port",
        BRIDGE,
        &port,
        "tag=10",
        "--",
        "set",
        "Port",
        &port,
    ];
    args.extend(marks.iter().map(String::as_str));
    args.push("other_config:transient=true");
    host.vsctl(&args);
    let done = attach::attach(&mut client(host), &request(host, &ns.0, "web"))
        .expect("a re-run converges instead of saying already attached");
    assert_eq!(done.port, port);
    assert_eq!(
        done.address.to_string(),
        "10.10.1.1/16",
        "the leftover's address was freed"
    );
    whole(host, &ns.0, &done);
}

#[test]
fn a_rerun_after_a_crash_with_the_veth_but_no_row_cleans_and_redoes() {
    let (cluster, _topo) = one_host();
    let host = cluster.host("host-a");
    let ns = Ns::new("cv");
    let port = attach::port_name(&Identity::Netns(ns.0.clone()), "eth0");
    // What a crash between the veth and the commit leaves: the pair made, the inner end
    // moved into the container and renamed, no row.
    let temp = format!("ovi{}", &port[3..]);
    ip(&[
        "-n",
        host.netns(),
        "link",
        "add",
        &port,
        "type",
        "veth",
        "peer",
        "name",
        &temp,
    ]);
    ip(&["-n", host.netns(), "link", "set", &temp, "netns", &ns.0]);
    ip(&["-n", &ns.0, "link", "set", &temp, "name", "eth0"]);
    let done = attach::attach(&mut client(host), &request(host, &ns.0, "web"))
        .expect("the leftover veth is removed, not taken for the container's own eth0");
    assert_eq!(done.port, port);
    whole(host, &ns.0, &done);
}

#[test]
fn a_rerun_after_a_crash_before_the_address_redoes_and_a_whole_one_is_refused() {
    let (cluster, _topo) = one_host();
    let host = cluster.host("host-a");
    let ns = Ns::new("ca");
    let first = attach::attach(&mut client(host), &request(host, &ns.0, "web")).unwrap();
    // Whole: a re-run is refused and changes nothing.
    let before = leftovers(host);
    let err = attach::attach(&mut client(host), &request(host, &ns.0, "web")).unwrap_err();
    assert!(matches!(err, AttachError::AlreadyAttached { .. }), "{err}");
    assert_eq!(leftovers(host), before);
    // What a crash between the commit and the address leaves.
    ip(&["-n", &ns.0, "addr", "flush", "dev", "eth0"]);
    assert!(!eth0_addresses(&ns.0).contains("10.10."));
    let done = attach::attach(&mut client(host), &request(host, &ns.0, "web"))
        .expect("a re-run finishes the attach");
    assert_eq!(done.port, first.port);
    whole(host, &ns.0, &done);
}
