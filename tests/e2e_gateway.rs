//! The distributed gateway through the real binary on real switches: `apply` writes one
//! gateway port per VLAN with a gateway on every host (internal, tagged, protected, the
//! same MAC everywhere, marked), ovs-vswitchd creates it, and a second plan is empty.
//! Read back with stock `ovs-vsctl`.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::cluster::{converge, ovsnet, Cluster};

fn topology(cluster: &Cluster) -> String {
    let mut y = String::from(
        "version: 1\ncluster: demo\nbridge:\n  name: br-ovsnet\n  datapath: netdev\n\
         tunnel:\n  type: vxlan\n  topology: mesh\nvlans:\n  - name: web\n    id: 10\n\
         \x20   subnet: 10.10.0.0/16\n    gateway: 10.10.0.1\n    dhcp: true\n    nat: true\n\
         \x20 - name: db\n    id: 20\n    subnet: 10.20.0.0/16\nhosts:\n",
    );
    for (i, name) in ["host-a", "host-b"].iter().enumerate() {
        y += &format!(
            "  - name: {name}\n    underlay_ip: 198.18.0.{}\n    ovsdb: {}\n    ranges:\n      web: 10.10.{}.0/24\n",
            i + 1,
            cluster.hosts[i].endpoint(),
            i + 1
        );
    }
    let path = cluster.file("gateway.yaml");
    std::fs::write(&path, y).expect("write topology");
    path
}

#[test]
fn every_host_gets_the_same_gateway_port_and_a_second_plan_is_empty() {
    let cluster = Cluster::start(2);
    let file = topology(&cluster);
    let plan = ovsnet(&["plan", &file, "--no-color"]);
    plan.expect_code(0, "plan");
    assert!(plan.stdout.contains("ovsgw-10"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("ovsgw-20"), "db has no gateway");
    converge(&file);
    let mut macs = Vec::new();
    for host in &cluster.hosts {
        assert_eq!(host.get("Port", "ovsgw-10", "tag"), "10");
        assert_eq!(host.get("Port", "ovsgw-10", "protected"), "true");
        assert_eq!(
            host.get("Port", "ovsgw-10", "external_ids"),
            "{ovsnet-cluster=demo, ovsnet-role=gateway, ovsnet-vlan=web}"
        );
        assert_eq!(host.get("Interface", "ovsgw-10", "type"), "internal");
        let ofport: i64 = host
            .get("Interface", "ovsgw-10", "ofport")
            .parse()
            .expect("ofport");
        assert!(ofport > 0, "the switch created the gateway port");
        macs.push(host.get("Interface", "ovsgw-10", "mac"));
        // The switch gave the kernel device the MAC OVSDB names.
        let link = host.run_in_ns(&["cat", "/sys/class/net/ovsgw-10/address"]);
        assert_eq!(format!("\"{}\"", link.trim()), macs[macs.len() - 1]);
    }
    assert_eq!(macs[0], macs[1], "one gateway MAC on every host");
    let again = ovsnet(&["plan", &file, "--detailed-exitcode"]);
    again.expect_code(0, "nothing left to do");
    // No agent runs on these switches: the plan says so for every host with a gateway.
    for host in ["host-a", "host-b"] {
        let sentence = format!("no agent has reported on `{host}`");
        assert!(again.stdout.contains(&sentence), "{}", again.stdout);
    }
    let show = ovsnet(&["show", &file]);
    show.expect_code(0, "show");
    assert!(
        show.stdout.contains("agent: none has reported"),
        "{}",
        show.stdout
    );
}
