//! The examples load, their graphs are analysed as DESIGN.md says, and the desired
//! state per host has the right objects, names and values.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{generated, load_file, read, tunnel_ports};
use ovsnet::desire::{attribute_keys, desire, desire_host};
use ovsnet::state::{is_managed, Value};
use ovsnet::topology::{load, Problem, Protection};

const EXAMPLES: [&str; 4] = [
    "topologies/mesh3-vxlan.yaml",
    "topologies/chain4.yaml",
    "topologies/star5-gre.yaml",
    "topologies/ring4-rstp.yaml",
];

#[test]
fn every_example_is_valid() {
    for path in EXAMPLES {
        let loaded = load_file(path);
        assert_eq!(loaded.warnings.errors(), 0, "{path}");
    }
}

#[test]
fn mesh3_has_six_protected_tunnel_ports() {
    let loaded = load_file("topologies/mesh3-vxlan.yaml");
    assert_eq!(loaded.analysis.protection, Protection::SplitHorizon);
    assert_eq!(loaded.analysis.edges, [(0, 1), (0, 2), (1, 2)]);
    assert!(loaded.warnings.is_empty());
    let hosts = desire(&loaded.topology, &loaded.analysis);
    let ports: Vec<_> = hosts.iter().flat_map(tunnel_ports).collect();
    assert_eq!(ports.len(), 6);
    for host in &hosts {
        assert_eq!(tunnel_ports(host).len(), 2, "{}", host.name);
        assert!(host.requirements.needs_protected);
    }
    assert!(ports
        .iter()
        .all(|p| p.row.attrs["protected"] == Value::Bool(true)));
}

#[test]
fn chain4_has_six_unprotected_ports_and_warns_about_the_middle() {
    let loaded = load_file("topologies/chain4.yaml");
    assert_eq!(loaded.analysis.protection, Protection::None);
    assert_eq!(loaded.analysis.articulation_points, ["hostB", "hostC"]);
    assert_eq!(loaded.analysis.diameter, 3);
    let warnings: Vec<_> = loaded.warnings.items.iter().map(|d| &d.problem).collect();
    assert_eq!(
        warnings,
        [&Problem::SinglePointsOfFailure {
            hosts: vec!["hostB".into(), "hostC".into()]
        }]
    );
    let hosts = desire(&loaded.topology, &loaded.analysis);
    let ports: Vec<_> = hosts.iter().flat_map(tunnel_ports).collect();
    assert_eq!(ports.len(), 6);
    assert!(ports
        .iter()
        .all(|p| p.row.attrs["protected"] == Value::Bool(false)));
    let per_host: Vec<usize> = hosts.iter().map(|h| tunnel_ports(h).len()).collect();
    assert_eq!(per_host, [1, 2, 2, 1]);
}

#[test]
fn star5_joins_every_spoke_to_the_hub() {
    let loaded = load_file("topologies/star5-gre.yaml");
    assert_eq!(loaded.analysis.edges, [(0, 1), (0, 2), (0, 3), (0, 4)]);
    assert_eq!(loaded.analysis.articulation_points, ["hub"]);
    assert_eq!(loaded.analysis.overlay_mtu, 1500 - 42 - 4);
    let hub = desire_host(&loaded.topology, &loaded.analysis, 0);
    let names: Vec<&str> = tunnel_ports(&hub)
        .iter()
        .map(|p| p.row.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["gre-spoke-1", "gre-spoke-2", "gre-spoke-3", "gre-spoke-4"]
    );
}

#[test]
fn ring4_runs_rstp() {
    let loaded = load_file("topologies/ring4-rstp.yaml");
    assert_eq!(loaded.analysis.protection, Protection::Rstp);
    assert!(loaded.analysis.cyclic);
    assert!(loaded.analysis.articulation_points.is_empty());
    let host = desire_host(&loaded.topology, &loaded.analysis, 0);
    let bridge = &host.state.bridges["br-ovsnet"];
    assert_eq!(bridge.row.attrs["rstp_enable"], Value::Bool(true));
    assert_eq!(tunnel_ports(&host).len(), 2);
}

#[test]
fn desired_rows_carry_exact_values() {
    let loaded = load_file("topologies/mesh3-vxlan.yaml");
    let a = desire_host(&loaded.topology, &loaded.analysis, 0);
    assert_eq!(a.name, "host-a");
    assert_eq!(a.endpoint, "unix:/var/run/openvswitch/db.sock");
    assert_eq!(a.requirements.datapath_type, "system");
    assert_eq!(a.requirements.tunnel_type.as_deref(), Some("vxlan"));
    let bridge = &a.state.bridges["br-ovsnet"];
    let row = &bridge.row;
    assert_eq!(row.attrs["datapath_type"], Value::Str("system".into()));
    assert_eq!(row.attrs["rstp_enable"], Value::Bool(false));
    assert_eq!(row.external_id("ovsnet-cluster"), Some("demo"));
    assert_eq!(row.external_id("ovsnet-role"), Some("bridge"));
    let internal = &bridge.ports["br-ovsnet"];
    assert_eq!(
        internal.interfaces["br-ovsnet"].row.attrs["type"],
        Value::Str("internal".into())
    );
    let port = &bridge.ports["vx-host-b"];
    assert_eq!(port.row.attrs["trunks"], Value::IntSet(vec![10, 20]));
    assert_eq!(port.row.external_id("ovsnet-peer"), Some("host-b"));
    let iface = &port.interfaces["vx-host-b"].row;
    assert_eq!(iface.attrs["type"], Value::Str("vxlan".into()));
    assert_eq!(
        iface.attrs["options:remote_ip"],
        Value::Str("198.18.0.2".into())
    );
    assert_eq!(iface.attrs["options:key"], Value::Str("5001".into()));
    assert_eq!(iface.attrs["options:dst_port"], Value::Str("4789".into()));
    assert_eq!(iface.external_id("ovsnet-role"), Some("tunnel"));
    // The bridge's own port, two tunnels and the gateway port of `web` (`db` has none).
    let gateway = &bridge.ports["ovsgw-10"];
    assert_eq!(gateway.row.external_id("ovsnet-role"), Some("gateway"));
    assert_eq!(bridge.ports.len(), 4);
}

#[test]
fn every_desired_key_is_managed() {
    for path in EXAMPLES {
        let loaded = load_file(path);
        for host in desire(&loaded.topology, &loaded.analysis) {
            for (kind, key) in attribute_keys(&host) {
                assert!(is_managed(kind, &key), "{path}: {kind:?} {key}");
            }
        }
    }
}

#[test]
fn digest_ignores_key_order_and_formatting_but_not_meaning() {
    let text = read("topologies/chain4.yaml");
    let base = load("a.yaml", &text).unwrap().topology.digest();
    assert_eq!(base.len(), 64);
    let reordered = text
        .replace("version: 1\ncluster: chain\n", "cluster: chain   # moved\nversion: 1\n")
        .replace(
            "    underlay_ip: 198.18.1.1\n    ranges:\n      web: 10.10.1.0/24\n      db: 10.20.1.0/24\n",
            "    ranges: {db: 10.20.1.0/24, web: 10.10.1.0/24}\n    underlay_ip: 198.18.1.1\n",
        );
    assert_ne!(reordered, text);
    assert_eq!(load("b.yaml", &reordered).unwrap().topology.digest(), base);
    let changed = text.replace("198.18.1.4", "198.18.1.5");
    assert_ne!(load("c.yaml", &changed).unwrap().topology.digest(), base);
}

#[test]
fn a_thousand_host_mesh_loads_and_streams_host_by_host() {
    let text = generated(1000, "  type: vxlan\n  topology: mesh\n");
    let loaded = load("mesh1000.yaml", &text).unwrap();
    assert_eq!(loaded.analysis.edges.len(), 499_500);
    assert_eq!(loaded.analysis.diameter, 1);
    assert_eq!(loaded.analysis.protection, Protection::SplitHorizon);
    let mut ports = 0;
    for i in (0..1000).step_by(97) {
        ports += tunnel_ports(&desire_host(&loaded.topology, &loaded.analysis, i)).len();
    }
    assert_eq!(ports, 11 * 999);
}

#[test]
fn a_ten_thousand_host_chain_loads() {
    let text = generated(10_000, "  type: gre\n  topology: chain\n");
    let loaded = load("chain10k.yaml", &text).unwrap();
    assert_eq!(loaded.analysis.diameter, 9_999);
    assert_eq!(loaded.analysis.articulation_points.len(), 9_998);
    let warnings: Vec<_> = loaded.warnings.items.iter().map(|d| &d.problem).collect();
    assert_eq!(warnings.len(), 2);
    assert!(warnings
        .iter()
        .any(|p| matches!(p, Problem::SinglePointsOfFailure { .. })));
    assert!(warnings.iter().any(|p| matches!(
        p,
        Problem::LargeDiameter {
            diameter: 9_999,
            ..
        }
    )));
}

#[test]
fn a_large_custom_tree_is_analysed_without_quadratic_search() {
    let mut tunnel = String::from("  type: vxlan\n  topology: custom\n  links:\n");
    for i in 1..3000 {
        tunnel.push_str(&format!("    - [host-{:05}, host-{i:05}]\n", (i - 1) / 2));
    }
    let loaded = load("tree.yaml", &generated(3000, &tunnel)).unwrap();
    assert!(!loaded.analysis.cyclic);
    assert_eq!(loaded.analysis.protection, Protection::None);
    // Every host with a child is a relay: hosts 0..=1499 of 3,000 in heap numbering.
    assert_eq!(loaded.analysis.articulation_points.len(), 1500);
    assert_eq!(loaded.analysis.articulation_points[1499], "host-01499");
    // Binary-heap numbering: the left subtree is one level deeper than the right.
    assert_eq!(loaded.analysis.diameter, 11 + 10);
}

#[test]
fn a_single_host_needs_no_tunnel() {
    let text = generated(1, "  type: geneve\n  topology: mesh\n");
    let loaded = load("one.yaml", &text).unwrap();
    assert!(loaded.analysis.edges.is_empty());
    assert_eq!(loaded.analysis.protection, Protection::None);
    let host = desire_host(&loaded.topology, &loaded.analysis, 0);
    assert!(tunnel_ports(&host).is_empty());
    assert_eq!(host.requirements.tunnel_type, None);
    assert!(!host.requirements.needs_protected);
}
