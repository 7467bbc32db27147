//! End to end on real switches, through the real binary: a fresh apply creates exactly
//! what the plan showed (read back with stock `ovs-vsctl`), topology changes plan only
//! the difference and converge, and drift made by hand is repaired exactly.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{json, Value};
use std::collections::BTreeSet;
use support::cluster::{
    as_list, change_lines, converge, host_plan, is_empty, ovsnet, plan_json, vs_rows, Cluster,
    Spec, VsRow, BRIDGE, NAMES,
};
use support::OvsHost;

/// Every create in `plan` (one host's json plan) exists on `host` with exactly the planned
/// attributes and parents, and nothing else exists there.
fn assert_holds_exactly_the_creates(host: &OvsHost, plan: &Value) {
    let changes = plan["changes"].as_array().expect("changes");
    assert!(changes.iter().all(|c| c["action"] == "create"), "{plan:#}");
    for table in ["Bridge", "Port", "Interface"] {
        let rows = vs_rows(host, table);
        let kind = table.to_lowercase();
        let wanted: Vec<&Value> = changes.iter().filter(|c| c["kind"] == kind).collect();
        let names: BTreeSet<&str> = wanted
            .iter()
            .map(|c| c["name"].as_str().expect("name"))
            .collect();
        assert_eq!(
            rows.keys().map(String::as_str).collect::<BTreeSet<_>>(),
            names,
            "{table} rows on {}",
            plan["host"]
        );
        for change in wanted {
            let row = &rows[change["name"].as_str().expect("name")];
            for attr in change["attrs"].as_array().expect("attrs") {
                let key = attr["key"].as_str().expect("key");
                let got = row.get(key).cloned();
                let want = &attr["new"];
                let got = if want.is_array() {
                    Some(Value::Array(as_list(got.as_ref())))
                } else {
                    got
                };
                assert_eq!(got.as_ref(), Some(want), "{table} {} {key}", change["name"]);
            }
        }
    }
    assert_parents(host, changes);
}

/// Each created port sits on its planned bridge, each interface on its planned port.
fn assert_parents(host: &OvsHost, changes: &[Value]) {
    let bridges = vs_rows(host, "Bridge");
    let ports = vs_rows(host, "Port");
    let ifaces = vs_rows(host, "Interface");
    for change in changes {
        let name = change["name"].as_str().expect("name");
        let parent = change["parent"].as_str();
        let (child_uuid, holder, column) = match change["kind"].as_str() {
            Some("port") => (&ports[name]["_uuid"], &bridges, "ports"),
            Some("interface") => (&ifaces[name]["_uuid"], &ports, "interfaces"),
            _ => continue,
        };
        let holder: &VsRow = &holder[parent.expect("a parent")];
        assert!(
            as_list(holder.get(column)).contains(child_uuid),
            "{name} is not in {parent:?}.{column}"
        );
    }
}

fn iface(host: &OvsHost, name: &str) -> VsRow {
    vs_rows(host, "Interface")
        .remove(name)
        .unwrap_or_else(|| panic!("no interface {name}"))
}

#[test]
fn a_fresh_apply_creates_exactly_what_the_plan_showed_and_the_next_plan_is_empty() {
    let cluster = Cluster::start(3);
    let spec = Spec {
        dst_port: Some(8472),
        ..Spec::mesh(3)
    };
    let topo = cluster.topology("mesh3", &spec);
    let plan = plan_json(&[&topo]);
    converge(&topo);

    for name in &NAMES[..3] {
        assert_holds_exactly_the_creates(cluster.host(name), host_plan(&plan, name));
    }
    // Independently of the plan: what a mesh of three must hold on host-a.
    let a = cluster.host("host-a");
    let tunnel = iface(a, "vx-host-c");
    for (key, want) in [
        ("type", json!("vxlan")),
        ("options:remote_ip", json!("198.18.0.3")),
        ("options:key", json!("5001")),
        ("options:dst_port", json!("8472")),
        ("external_ids:ovsnet-cluster", json!("demo")),
        ("external_ids:ovsnet-peer", json!("host-c")),
    ] {
        assert_eq!(tunnel.get(key), Some(&want), "vx-host-c {key}");
    }
    let port = &vs_rows(a, "Port")["vx-host-c"];
    assert_eq!(as_list(port.get("trunks")), [json!(10), json!(20)]);
    assert_eq!(port.get("protected"), Some(&json!(true)));
    assert_eq!(a.get("Bridge", BRIDGE, "datapath_type"), "netdev");
    assert_eq!(
        a.vsctl(&["list-ports", BRIDGE])
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["vx-host-b", "vx-host-c"]
    );

    let again = ovsnet(&["plan", &topo, "--detailed-exitcode"]);
    again.expect_code(0, "no changes after apply");
    assert!(again.stdout.contains("No changes."), "{again}");
    assert_eq!(again.stdout.matches(": no changes").count(), 3, "{again}");
}

/// `plan` of `topo` as one line per change per host, for hosts that have changes.
fn difference(topo: &str) -> Vec<(String, Vec<String>)> {
    let plan = plan_json(&[topo]);
    support::cluster::planned_hosts(&plan)
        .into_iter()
        .map(|h| {
            let lines = change_lines(&plan, &h);
            (h, lines)
        })
        .filter(|(_, lines)| !lines.is_empty())
        .collect()
}

fn lines(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn assert_converged(topo: &str) {
    converge(topo);
    let plan = plan_json(&[topo]);
    assert!(is_empty(&plan), "not converged: {plan:#}");
}

#[test]
fn adding_then_removing_a_host_plans_only_the_difference_and_converges() {
    let cluster = Cluster::start(4);
    let three = cluster.topology("mesh3", &Spec::mesh(3));
    converge(&three);
    let uuid_before = cluster
        .host("host-a")
        .get("Interface", "vx-host-b", "_uuid");

    let four = cluster.topology("mesh4", &Spec::mesh(4));
    let new_tunnel = lines(&["create port vx-host-d", "create interface vx-host-d"]);
    let mut expected: Vec<(String, Vec<String>)> = NAMES[..3]
        .iter()
        .map(|h| (h.to_string(), new_tunnel.clone()))
        .collect();
    expected.push((
        "host-d".into(),
        lines(&[
            "create bridge br-ovsnet",
            "create port br-ovsnet",
            "create interface br-ovsnet",
            "create port vx-host-a",
            "create interface vx-host-a",
            "create port vx-host-b",
            "create interface vx-host-b",
            "create port vx-host-c",
            "create interface vx-host-c",
        ]),
    ));
    assert_eq!(difference(&four), expected);
    assert_converged(&four);
    assert_eq!(
        cluster
            .host("host-a")
            .get("Interface", "vx-host-b", "_uuid"),
        uuid_before,
        "an existing tunnel is left as it was"
    );
    assert_eq!(
        cluster
            .host("host-d")
            .get("Interface", "vx-host-b", "options:remote_ip"),
        "\"198.18.0.2\""
    );

    // host-b leaves: the others drop their tunnel to it; host-b is no longer contacted.
    let without_b = cluster.topology(
        "mesh-acd",
        &Spec {
            hosts: vec![0, 2, 3],
            ..Spec::mesh(4)
        },
    );
    let gone = lines(&["delete interface vx-host-b", "delete port vx-host-b"]);
    assert_eq!(
        difference(&without_b),
        ["host-a", "host-c", "host-d"]
            .iter()
            .map(|h| (h.to_string(), gone.clone()))
            .collect::<Vec<_>>()
    );
    assert_converged(&without_b);
    for h in ["host-a", "host-c", "host-d"] {
        let ports = cluster.host(h).vsctl(&["list-ports", BRIDGE]);
        assert!(!ports.contains("vx-host-b"), "{h}: {ports}");
        assert_eq!(ports.lines().count(), 2, "{h}: {ports}");
    }
}

#[test]
fn a_new_key_updates_in_place_and_a_new_tunnel_type_replaces_the_ports() {
    let cluster = Cluster::start(2);
    let vxlan = cluster.topology("vxlan", &Spec::mesh(2));
    converge(&vxlan);
    let a = cluster.host("host-a");
    let uuid_before = a.get("Interface", "vx-host-b", "_uuid");
    let port_uuid_before = a.get("Port", "vx-host-b", "_uuid");

    let rekeyed = cluster.topology(
        "vxlan-7",
        &Spec {
            key: Some(7),
            ..Spec::mesh(2)
        },
    );
    assert_eq!(
        difference(&rekeyed),
        [
            (
                "host-a".to_string(),
                lines(&[r#"update interface vx-host-b options:key: "5001" -> "7""#])
            ),
            (
                "host-b".to_string(),
                lines(&[r#"update interface vx-host-a options:key: "5001" -> "7""#])
            ),
        ]
    );
    assert_converged(&rekeyed);
    assert_eq!(a.get("Interface", "vx-host-b", "options:key"), "\"7\"");
    assert_eq!(
        a.get("Interface", "vx-host-b", "_uuid"),
        uuid_before,
        "in place"
    );
    assert_eq!(
        a.get("Port", "vx-host-b", "_uuid"),
        port_uuid_before,
        "in place"
    );

    // vxlan -> geneve renames the ports (`vx-` -> `gnv-`): create the new, delete the old
    // (one transaction per host, so the order is only how the plan lists them).
    let geneve = cluster.topology(
        "geneve-7",
        &Spec {
            key: Some(7),
            tunnel: "geneve",
            ..Spec::mesh(2)
        },
    );
    assert_eq!(
        difference(&geneve),
        [("host-a", "host-b"), ("host-b", "host-a")]
            .iter()
            .map(|(h, peer)| (
                h.to_string(),
                vec![
                    format!("create port gnv-{peer}"),
                    format!("create interface gnv-{peer}"),
                    format!("delete interface vx-{peer}"),
                    format!("delete port vx-{peer}"),
                ]
            ))
            .collect::<Vec<_>>()
    );
    assert_converged(&geneve);
    assert_eq!(
        a.vsctl(&["list-ports", BRIDGE]).trim(),
        "gnv-host-b",
        "only the geneve port is left"
    );
    let tunnel = iface(a, "gnv-host-b");
    assert_eq!(tunnel.get("type"), Some(&json!("geneve")));
    assert_eq!(tunnel.get("options:key"), Some(&json!("7")));
    assert_eq!(tunnel.get("options:remote_ip"), Some(&json!("198.18.0.2")));
}

#[test]
fn drift_made_by_hand_is_planned_as_exactly_that_repair_and_restored() {
    let cluster = Cluster::start(3);
    let topo = cluster.topology("mesh3", &Spec::mesh(3));
    converge(&topo);
    let a = cluster.host("host-a");
    a.vsctl(&["del-port", BRIDGE, "vx-host-c"]);
    a.vsctl(&[
        "set",
        "Interface",
        "vx-host-b",
        "options:remote_ip=198.18.9.9",
    ]);

    assert_eq!(
        difference(&topo),
        [(
            "host-a".to_string(),
            lines(&[
                r#"update interface vx-host-b options:remote_ip: "198.18.9.9" -> "198.18.0.2""#,
                "create port vx-host-c",
                "create interface vx-host-c",
            ])
        )]
    );
    let text = ovsnet(&["plan", &topo, "--detailed-exitcode"]);
    text.expect_code(2, "drift is a pending change");
    assert!(text.stdout.contains("198.18.9.9"), "{text}");

    assert_converged(&topo);
    let b = iface(a, "vx-host-b");
    assert_eq!(b.get("options:remote_ip"), Some(&json!("198.18.0.2")));
    let c = iface(a, "vx-host-c");
    assert_eq!(c.get("options:remote_ip"), Some(&json!("198.18.0.3")));
    assert_eq!(c.get("external_ids:ovsnet-peer"), Some(&json!("host-c")));
    assert_eq!(a.get("Port", "vx-host-c", "protected"), "true");
}

/// Issue 9, item 8: ovsnet owns exactly the tunnel options the topology expresses.
#[test]
fn options_set_by_hand_on_an_ovsnet_tunnel_survive_apply() {
    let cluster = Cluster::start(2);
    let topo = cluster.topology("mesh2", &Spec::mesh(2));
    converge(&topo);
    let a = cluster.host("host-a");
    a.vsctl(&[
        "set",
        "Interface",
        "vx-host-b",
        "options:tos=inherit",
        "options:csum=true",
    ]);
    let plan = ovsnet(&["plan", &topo, "--detailed-exitcode"]);
    plan.expect_code(
        0,
        "hand-set options the topology never mentions are not drift",
    );
    assert!(
        !plan.stdout.contains("tos"),
        "unmanaged keys are not shown: {plan}"
    );

    // A real change on the same interface is applied around them.
    a.vsctl(&[
        "set",
        "Interface",
        "vx-host-b",
        "options:remote_ip=198.18.9.9",
    ]);
    assert_eq!(
        difference(&topo),
        [(
            "host-a".to_string(),
            lines(&[
                r#"update interface vx-host-b options:remote_ip: "198.18.9.9" -> "198.18.0.2""#
            ])
        )]
    );
    assert_converged(&topo);
    let b = iface(a, "vx-host-b");
    assert_eq!(b.get("options:tos"), Some(&json!("inherit")));
    assert_eq!(b.get("options:csum"), Some(&json!("true")));
    assert_eq!(b.get("options:remote_ip"), Some(&json!("198.18.0.2")));
    ovsnet(&["plan", &topo, "--detailed-exitcode"]).expect_code(0, "the re-plan is empty");
}

#[test]
fn removing_the_relay_of_a_gre_chain_relinks_its_neighbours() {
    let cluster = Cluster::start(3);
    let chain = |hosts: Vec<usize>| Spec {
        hosts,
        tunnel: "gre",
        shape: "chain",
        ..Spec::mesh(3)
    };
    let abc = cluster.topology("chain-abc", &chain(vec![0, 1, 2]));
    assert_converged(&abc);
    let b = cluster.host("host-b");
    assert_eq!(b.vsctl(&["list-ports", BRIDGE]), "gre-host-a\ngre-host-c\n");
    assert_eq!(b.get("Interface", "gre-host-c", "type"), "gre");
    assert_eq!(
        b.get("Port", "gre-host-c", "protected"),
        "false",
        "a chain is a tree"
    );

    let ac = cluster.topology("chain-ac", &chain(vec![0, 2]));
    assert_eq!(
        difference(&ac),
        [("host-a", "host-c"), ("host-c", "host-a")]
            .iter()
            .map(|(h, peer)| (
                h.to_string(),
                vec![
                    format!("create port gre-{peer}"),
                    format!("create interface gre-{peer}"),
                    "delete interface gre-host-b".to_string(),
                    "delete port gre-host-b".to_string(),
                ]
            ))
            .collect::<Vec<_>>()
    );
    assert_converged(&ac);
    let a = cluster.host("host-a");
    assert_eq!(a.vsctl(&["list-ports", BRIDGE]), "gre-host-c\n");
    assert_eq!(
        a.get("Interface", "gre-host-c", "options:remote_ip"),
        "\"198.18.0.3\""
    );
}
