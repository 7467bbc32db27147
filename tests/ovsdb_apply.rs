//! apply_host against a real ovsdb-server and ovs-vswitchd, read back with stock ovs-vsctl.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ovsnet::apply::{apply_host, ApplyError, ApplyOptions};
use ovsnet::observe::observe;
use ovsnet::ovsdb::OvsdbError;
use ovsnet::plan::{Action, AttrChange, Change, Conflict, Guard, HostPlan};
use ovsnet::state::{Kind, Ownership, Value};
use std::time::Duration;
use support::plans::{create, fresh_bridge_plan, marks, s};
use support::OvsHost;

const T: Duration = Duration::from_secs(10);

fn options() -> ApplyOptions {
    ApplyOptions {
        cfg_timeout: Duration::from_secs(20),
        request_timeout: T,
    }
}

#[test]
fn creates_bridge_internal_port_and_tunnels() {
    let host = OvsHost::start();
    let plan = fresh_bridge_plan(&host.endpoint());
    let report = apply_host(&plan, &host.endpoint(), &options()).expect("apply");
    assert_eq!(report.counts.add, 7);
    assert_eq!(report.interfaces.len(), 3);
    assert!(
        report.interfaces.iter().all(|(_, p)| p.unwrap_or(-1) > 0),
        "{report:?}"
    );
    let cfg = report.cfg.expect("committed");
    assert!(
        host.get("Open_vSwitch", ".", "cur_cfg")
            .parse::<i64>()
            .expect("int")
            >= cfg
    );

    // Stock ovs-vsctl as the independent reader.
    assert_eq!(host.vsctl(&["list-br"]).trim(), "br-ovsnet");
    let ports = host.vsctl(&["list-ports", "br-ovsnet"]);
    assert_eq!(
        ports.split_whitespace().collect::<Vec<_>>(),
        ["vx-host-b", "vx-host-c"]
    );
    assert_eq!(host.get("Bridge", "br-ovsnet", "datapath_type"), "netdev");
    assert_eq!(
        host.get("Bridge", "br-ovsnet", "external_ids"),
        r#"{ovsnet-cluster=demo, ovsnet-role=bridge}"#
    );
    assert_eq!(host.get("Interface", "br-ovsnet", "type"), "internal");
    assert_eq!(host.get("Interface", "vx-host-b", "type"), "vxlan");
    assert_eq!(
        host.get("Interface", "vx-host-b", "options"),
        r#"{key="5001", remote_ip="198.18.0.2"}"#
    );
    assert_eq!(
        host.get("Interface", "vx-host-c", "options"),
        r#"{key="5001", remote_ip="198.18.0.3"}"#
    );
    assert_eq!(host.get("Port", "vx-host-b", "trunks"), "[10, 20]");
    assert_eq!(host.get("Port", "vx-host-b", "protected"), "true");
    assert_eq!(host.get("Port", "br-ovsnet", "protected"), "false");
    assert_eq!(
        host.get("Port", "vx-host-c", "external_ids"),
        r#"{ovsnet-cluster=demo, ovsnet-peer=host-c, ovsnet-role=tunnel}"#
    );
    assert_eq!(host.get("Interface", "vx-host-b", "error"), "[]");

    // observe() sees exactly what was written.
    let observed = observe(&host.endpoint(), T).expect("observe");
    let bridge = &observed.state.bridges["br-ovsnet"];
    for change in &plan.changes {
        let row = match change.kind {
            Kind::Bridge => &bridge.row,
            Kind::Port => &bridge.ports[&change.name].row,
            Kind::Interface => {
                &bridge.ports[change.parent.as_deref().expect("parent")].interfaces[&change.name]
                    .row
            }
        };
        assert_eq!(row.ownership("demo"), Ownership::Ours);
        for attr in &change.attrs {
            assert_eq!(
                row.attrs.get(&attr.key),
                attr.new.as_ref(),
                "{} {}",
                change.name,
                attr.key
            );
        }
    }
}

/// A fresh switch holding the bridge, internal port and two tunnels of
/// `fresh_bridge_plan`, applied by ovsnet.
fn host_with_fresh_bridge() -> OvsHost {
    let host = OvsHost::start();
    apply_host(
        &fresh_bridge_plan(&host.endpoint()),
        &host.endpoint(),
        &options(),
    )
    .expect("create");
    host
}

/// A plan that updates `vx-host-b`'s remote_ip and trunks and deletes `vx-host-c`,
/// computed from what `observe` sees, guarded on the rows it changes.
fn change_plan(host: &OvsHost) -> HostPlan {
    let observed = observe(&host.endpoint(), T).expect("observe");
    let bridge = &observed.state.bridges["br-ovsnet"];
    let vxb = &bridge.ports["vx-host-b"];
    let vxb_if = &vxb.interfaces["vx-host-b"];
    let vxc = &bridge.ports["vx-host-c"];
    let changes = vec![
        Change {
            action: Action::Update,
            kind: Kind::Port,
            name: "vx-host-b".into(),
            parent: Some("br-ovsnet".into()),
            uuid: vxb.row.uuid.clone(),
            parent_uuid: bridge.row.uuid.clone(),
            attrs: vec![AttrChange {
                key: "trunks".into(),
                old: Some(Value::IntSet(vec![10, 20])),
                new: Some(Value::IntSet(vec![10, 20, 30])),
            }],
        },
        Change {
            action: Action::Update,
            kind: Kind::Interface,
            name: "vx-host-b".into(),
            parent: Some("vx-host-b".into()),
            uuid: vxb_if.row.uuid.clone(),
            parent_uuid: vxb.row.uuid.clone(),
            attrs: vec![
                AttrChange {
                    key: "options:key".into(),
                    old: Some(s("5001")),
                    new: None,
                },
                AttrChange {
                    key: "options:remote_ip".into(),
                    old: Some(s("198.18.0.2")),
                    new: Some(s("198.18.0.9")),
                },
            ],
        },
        Change {
            action: Action::Delete,
            kind: Kind::Port,
            name: "vx-host-c".into(),
            parent: Some("br-ovsnet".into()),
            uuid: vxc.row.uuid.clone(),
            parent_uuid: bridge.row.uuid.clone(),
            attrs: vec![],
        },
    ];
    let unchanged = |kind, row: &ovsnet::state::Row, children: Vec<String>| Guard::Unchanged {
        kind,
        uuid: row.uuid.clone().expect("observed"),
        attrs: row.attrs.clone(),
        children,
    };
    let port_children = |p: &ovsnet::state::Port| {
        p.interfaces
            .values()
            .filter_map(|i| i.row.uuid.clone())
            .collect::<Vec<_>>()
    };
    let bridge_children = bridge
        .ports
        .values()
        .filter_map(|p| p.row.uuid.clone())
        .collect();
    let guards = vec![
        unchanged(Kind::Bridge, &bridge.row, bridge_children),
        unchanged(Kind::Port, &vxb.row, port_children(vxb)),
        unchanged(Kind::Interface, &vxb_if.row, vec![]),
        unchanged(Kind::Port, &vxc.row, port_children(vxc)),
    ];
    HostPlan {
        host: "host-a".into(),
        endpoint: host.endpoint(),
        changes,
        guards,
        ..HostPlan::default()
    }
}

#[test]
fn updates_in_place_and_deletes_by_dropping_the_reference() {
    let host = host_with_fresh_bridge();
    let uuid_before = host.get("Interface", "vx-host-b", "_uuid");
    let plan = change_plan(&host);
    let report = apply_host(&plan, &host.endpoint(), &options()).expect("change");
    assert_eq!((report.counts.change, report.counts.destroy), (2, 1));

    assert_eq!(host.get("Port", "vx-host-b", "trunks"), "[10, 20, 30]");
    assert_eq!(
        host.get("Interface", "vx-host-b", "options"),
        r#"{remote_ip="198.18.0.9"}"#
    );
    assert_eq!(
        host.get("Interface", "vx-host-b", "_uuid"),
        uuid_before,
        "updated in place"
    );
    let ports = host.vsctl(&["list-ports", "br-ovsnet"]);
    assert_eq!(ports.split_whitespace().collect::<Vec<_>>(), ["vx-host-b"]);
    // Port and Interface rows of the deleted tunnel were garbage-collected.
    assert!(host
        .try_vsctl(&["--no-wait", "get", "Port", "vx-host-c", "_uuid"])
        .is_err());
    assert!(host
        .try_vsctl(&["--no-wait", "get", "Interface", "vx-host-c", "_uuid"])
        .is_err());
}

#[test]
fn a_concurrent_change_fails_the_guard_and_nothing_is_applied() {
    let host = host_with_fresh_bridge();
    let plan = change_plan(&host);
    // Someone edits the interface between plan and commit (a foreign external_ids key).
    host.vsctl(&[
        "set",
        "Interface",
        "vx-host-b",
        "external_ids:note=hands-on",
    ]);
    let err = apply_host(&plan, &host.endpoint(), &options()).expect_err("stale");
    assert!(matches!(err, ApplyError::Stale { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("`host-a`") && text.contains("interface `vx-host-b`"),
        "{text}"
    );
    // Nothing of the plan was applied.
    assert_eq!(host.get("Port", "vx-host-b", "trunks"), "[10, 20]");
    assert_eq!(
        host.get("Interface", "vx-host-b", "options"),
        r#"{key="5001", remote_ip="198.18.0.2"}"#
    );
    let ports = host.vsctl(&["list-ports", "br-ovsnet"]);
    assert_eq!(ports.split_whitespace().count(), 2);
}

#[test]
fn a_port_added_to_the_bridge_meanwhile_fails_the_bridge_guard() {
    let host = host_with_fresh_bridge();
    let plan = change_plan(&host);
    host.vsctl(&[
        "add-port",
        "br-ovsnet",
        "hand",
        "--",
        "set",
        "interface",
        "hand",
        "type=internal",
    ]);
    let err = apply_host(&plan, &host.endpoint(), &options()).expect_err("stale");
    assert!(
        err.to_string().contains("bridge `br-ovsnet` was modified"),
        "{err}"
    );
    assert_eq!(host.get("Port", "vx-host-b", "trunks"), "[10, 20]");
}

#[test]
fn a_name_taken_meanwhile_fails_the_absent_guard_and_nothing_is_applied() {
    let host = OvsHost::start();
    let plan = fresh_bridge_plan(&host.endpoint());
    host.vsctl(&[
        "add-br",
        "br-hand",
        "--",
        "set",
        "bridge",
        "br-hand",
        "datapath_type=netdev",
    ]);
    host.vsctl(&["add-port", "br-hand", "vx-host-c"]);
    let err = apply_host(&plan, &host.endpoint(), &options()).expect_err("stale");
    assert!(matches!(err, ApplyError::Stale { .. }), "{err:?}");
    assert!(
        err.to_string().contains("port `vx-host-c` now exists"),
        "{err}"
    );
    assert_eq!(host.vsctl(&["list-br"]).trim(), "br-hand");
}

#[test]
fn a_stopped_switch_times_out_naming_the_host() {
    let mut host = OvsHost::start();
    host.stop_vswitchd();
    let plan = fresh_bridge_plan(&host.endpoint());
    let opts = ApplyOptions {
        cfg_timeout: Duration::from_millis(500),
        request_timeout: T,
    };
    let err = apply_host(&plan, &host.endpoint(), &opts).expect_err("no switch");
    assert!(matches!(err, ApplyError::SwitchTimeout { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("`host-a`"), "{text}");
    assert!(text.contains(&host.endpoint()), "{text}");
    assert!(text.contains("ovs-vswitchd did not catch up"), "{text}");
}

#[test]
fn an_unreachable_endpoint_is_named_with_the_host() {
    let mut host = OvsHost::start();
    let endpoint = host.endpoint();
    host.stop_ovsdb();
    let err = apply_host(&fresh_bridge_plan(&endpoint), &endpoint, &options()).expect_err("down");
    let ApplyError::Ovsdb { error, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(matches!(**error, OvsdbError::Connect { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("`host-a`") && text.contains(&format!("`{endpoint}`")),
        "{text}"
    );
}

#[test]
fn an_interface_the_switch_cannot_create_fails_with_its_error() {
    let host = OvsHost::start();
    let mut plan = fresh_bridge_plan(&host.endpoint());
    let mut port_attrs = vec![("protected", Value::Bool(false))];
    port_attrs.extend(marks("demo", "tunnel", None));
    plan.changes
        .push(create(Kind::Port, "bogus0", Some("br-ovsnet"), &port_attrs));
    plan.changes.push(create(
        Kind::Interface,
        "bogus0",
        Some("bogus0"),
        &[("type", s("no-such-type"))],
    ));
    let err = apply_host(&plan, &host.endpoint(), &options()).expect_err("bad interface");
    let ApplyError::Interfaces { failures, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].name, "bogus0");
    let ovs_text = host.get("Interface", "bogus0", "error");
    assert!(!failures[0].error.is_empty());
    assert!(ovs_text.contains(&failures[0].error), "{ovs_text} vs {err}");
    assert!(err.to_string().contains("interface `bogus0`"), "{err}");
}

#[test]
fn a_blocked_plan_is_refused_without_contacting_the_host() {
    let mut plan = fresh_bridge_plan("unix:/nonexistent/db.sock");
    plan.conflicts.push(Conflict {
        kind: Kind::Port,
        name: "vx-host-b".into(),
        owner: Ownership::Foreign,
        blocks_delete_of: None,
        blocks_vlan: None,
    });
    let err = apply_host(&plan, "unix:/nonexistent/db.sock", &options()).expect_err("blocked");
    assert!(
        matches!(err, ApplyError::Blocked { conflicts: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn an_empty_plan_does_nothing() {
    let host = OvsHost::start();
    let before = host.get("Open_vSwitch", ".", "next_cfg");
    let plan = HostPlan {
        host: "host-a".into(),
        ..HostPlan::default()
    };
    let report = apply_host(&plan, &host.endpoint(), &options()).expect("nothing");
    assert_eq!((report.operations, report.cfg), (0, None));
    assert_eq!(host.get("Open_vSwitch", ".", "next_cfg"), before);
}
