//! The whole loop on a real switch: desired → plan::build → apply → observe → plan is empty,
//! then drift repair, in-place updates and foreign rows surviving.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ovsnet::apply::{apply_host, ApplyOptions};
use ovsnet::observe::observe;
use ovsnet::plan::{self, Action, HostPlan};
use ovsnet::state::{Bridge, DesiredHost, Interface, Kind, Port, Requirements, Row, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use support::plans::s;
use support::OvsHost;

const T: Duration = Duration::from_secs(10);
const BR: &str = "br-ovsnet";

fn marked(name: &str, role: &str, peer: Option<&str>) -> Row {
    let row = Row::named(name)
        .with("external_ids:ovsnet-cluster", s("demo"))
        .with("external_ids:ovsnet-role", s(role));
    match peer {
        Some(peer) => row.with("external_ids:ovsnet-peer", s(peer)),
        None => row,
    }
}

fn port(row: Row, iface: Row) -> Port {
    let name = iface.name.clone();
    Port {
        row,
        interfaces: BTreeMap::from([(
            name,
            Interface {
                row: iface,
                runtime: None,
            },
        )]),
    }
}

fn tunnel(ty: &str, peer: &str, remote_ip: &str, key: &str) -> Port {
    let name = format!("vx-{peer}");
    let p = marked(&name, "tunnel", Some(peer))
        .with("trunks", Value::IntSet(vec![10, 20]))
        .with("protected", Value::Bool(true));
    let i = marked(&name, "tunnel", Some(peer))
        .with("type", s(ty))
        .with("options:remote_ip", s(remote_ip))
        .with("options:key", s(key));
    port(p, i)
}

/// host-a of a mesh with `peers` (name, underlay ip), tunnels of type `ty` with `key`.
fn desired(endpoint: &str, ty: &str, key: &str, peers: &[(&str, &str)]) -> DesiredHost {
    let bridge_row = marked(BR, "bridge", None)
        .with("datapath_type", s("netdev"))
        .with("rstp_enable", Value::Bool(false));
    let internal = port(
        marked(BR, "internal", None).with("protected", Value::Bool(false)),
        marked(BR, "internal", None).with("type", s("internal")),
    );
    let mut ports = BTreeMap::from([(BR.to_string(), internal)]);
    for (peer, ip) in peers {
        let t = tunnel(ty, peer, ip, key);
        ports.insert(t.row.name.clone(), t);
    }
    let mut state = ovsnet::state::HostState::default();
    state.bridges.insert(
        BR.into(),
        Bridge {
            row: bridge_row,
            ports,
        },
    );
    DesiredHost {
        name: "host-a".into(),
        endpoint: endpoint.into(),
        cluster: "demo".into(),
        state,
        requirements: Requirements {
            datapath_type: "netdev".into(),
            tunnel_type: Some(ty.into()),
            needs_protected: true,
        },
    }
}

fn plan_now(host: &OvsHost, want: &DesiredHost) -> HostPlan {
    let observed = observe(&host.endpoint(), T).expect("observe");
    plan::build(want, &observed).expect("plan")
}

/// Applies the plan for `want` and proves the next plan is empty; returns the applied plan.
fn converge(host: &OvsHost, want: &DesiredHost) -> HostPlan {
    let plan = plan_now(host, want);
    assert!(!plan.is_blocked(), "{plan:?}");
    let options = ApplyOptions {
        cfg_timeout: Duration::from_secs(20),
        request_timeout: T,
    };
    apply_host(&plan, &host.endpoint(), &options).expect("apply");
    let again = plan_now(host, want);
    assert!(
        again.changes.is_empty(),
        "not converged: {:#?}",
        again.changes
    );
    plan
}

fn summary(plan: &HostPlan) -> Vec<(Action, Kind, String, Vec<String>)> {
    plan.changes
        .iter()
        .map(|c| {
            (
                c.action,
                c.kind,
                c.name.clone(),
                c.attrs.iter().map(|a| a.key.to_string()).collect(),
            )
        })
        .collect()
}

const PEERS: [(&str, &str); 2] = [("host-b", "198.18.0.2"), ("host-c", "198.18.0.3")];

#[test]
fn desired_plan_apply_observe_plan_is_empty() {
    let host = OvsHost::start();
    let want = desired(&host.endpoint(), "vxlan", "5001", &PEERS);
    let first = converge(&host, &want);
    assert_eq!(first.counts().add, 7, "{:#?}", first.changes);
    assert_eq!(host.get("Interface", "vx-host-b", "type"), "vxlan");
    assert_eq!(host.get("Port", "vx-host-c", "trunks"), "[10, 20]");
}

#[test]
fn drift_is_repaired_exactly() {
    let host = OvsHost::start();
    let want = desired(&host.endpoint(), "vxlan", "5001", &PEERS);
    converge(&host, &want);

    host.vsctl(&[
        "set",
        "Interface",
        "vx-host-b",
        "options:remote_ip=198.18.9.9",
    ]);
    host.vsctl(&["del-port", BR, "vx-host-c"]);
    let repair = converge(&host, &want);
    assert_eq!(
        summary(&repair),
        [
            (
                Action::Update,
                Kind::Interface,
                "vx-host-b".into(),
                vec!["options:remote_ip".into()]
            ),
            (
                Action::Create,
                Kind::Port,
                "vx-host-c".into(),
                summary_keys(&[
                    "external_ids:ovsnet-cluster",
                    "external_ids:ovsnet-peer",
                    "external_ids:ovsnet-role",
                    "protected",
                    "trunks"
                ])
            ),
            (
                Action::Create,
                Kind::Interface,
                "vx-host-c".into(),
                summary_keys(&[
                    "external_ids:ovsnet-cluster",
                    "external_ids:ovsnet-peer",
                    "external_ids:ovsnet-role",
                    "options:key",
                    "options:remote_ip",
                    "type"
                ])
            ),
        ]
    );
    assert_eq!(
        host.get("Interface", "vx-host-b", "options:remote_ip"),
        "\"198.18.0.2\""
    );
}

fn summary_keys(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

#[test]
fn type_and_key_change_in_place_and_a_removed_peer_is_deleted_while_foreign_ports_survive() {
    let host = OvsHost::start();
    converge(&host, &desired(&host.endpoint(), "vxlan", "5001", &PEERS));
    host.vsctl(&[
        "add-port",
        BR,
        "hand0",
        "tag=10",
        "--",
        "set",
        "interface",
        "hand0",
        "type=internal",
    ]);
    let uuid_before = host.get("Interface", "vx-host-b", "_uuid");

    let want = desired(&host.endpoint(), "geneve", "7", &PEERS[..1]);
    let plan = converge(&host, &want);
    let touched: Vec<(Action, Kind, &str)> = plan
        .changes
        .iter()
        .map(|c| (c.action, c.kind, c.name.as_str()))
        .collect();
    assert_eq!(
        touched,
        [
            (Action::Update, Kind::Interface, "vx-host-b"),
            (Action::Delete, Kind::Interface, "vx-host-c"),
            (Action::Delete, Kind::Port, "vx-host-c"),
        ]
    );
    assert_eq!(summary(&plan)[0].3, summary_keys(&["options:key", "type"]));
    assert!(
        plan.left_alone.iter().any(|l| l.name == "hand0"),
        "{:?}",
        plan.left_alone
    );
    assert_eq!(host.get("Interface", "vx-host-b", "type"), "geneve");
    assert_eq!(
        host.get("Interface", "vx-host-b", "_uuid"),
        uuid_before,
        "updated in place"
    );
    assert_eq!(host.get("Port", "hand0", "tag"), "10");
    let ports = host.vsctl(&["list-ports", BR]);
    assert_eq!(
        ports.split_whitespace().collect::<Vec<_>>(),
        ["hand0", "vx-host-b"]
    );
}

#[test]
fn a_hand_made_port_with_a_wanted_name_is_a_conflict_and_is_never_overwritten() {
    let host = OvsHost::start();
    converge(
        &host,
        &desired(&host.endpoint(), "vxlan", "5001", &PEERS[..1]),
    );
    host.vsctl(&[
        "add-port",
        BR,
        "vx-host-c",
        "--",
        "set",
        "interface",
        "vx-host-c",
        "type=internal",
    ]);
    let want = desired(&host.endpoint(), "vxlan", "5001", &PEERS);
    let plan = plan_now(&host, &want);
    assert!(plan.is_blocked(), "{plan:?}");
    assert!(
        plan.conflicts.iter().any(|c| c.name == "vx-host-c"),
        "{:?}",
        plan.conflicts
    );
    let options = ApplyOptions {
        cfg_timeout: Duration::from_secs(5),
        request_timeout: T,
    };
    let err = apply_host(&plan, &host.endpoint(), &options).expect_err("blocked");
    assert!(
        matches!(err, ovsnet::apply::ApplyError::Blocked { .. }),
        "{err:?}"
    );
    assert_eq!(host.get("Interface", "vx-host-c", "type"), "internal");
    assert_eq!(host.get("Interface", "vx-host-c", "external_ids"), "{}");
}
