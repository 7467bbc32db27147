//! observe() against a real ovsdb-server and ovs-vswitchd, with rows made by stock ovs-vsctl.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use ovsnet::observe::{observe, ObserveError};
use ovsnet::ovsdb::OvsdbError;
use ovsnet::state::{Ownership, Value};
use std::time::Duration;
use support::OvsHost;

const T: Duration = Duration::from_secs(10);

fn s(v: &str) -> Value {
    Value::Str(v.to_string())
}

#[test]
fn reads_a_hand_made_bridge_with_foreign_ports() {
    let host = OvsHost::start();
    host.vsctl(&[
        "add-br",
        "br-hand",
        "--",
        "set",
        "bridge",
        "br-hand",
        "datapath_type=netdev",
        "external_ids:owner=ops",
        "--",
        "add-port",
        "br-hand",
        "vx-b",
        "tag=7",
        "--",
        "set",
        "interface",
        "vx-b",
        "type=vxlan",
        "options:remote_ip=198.18.0.2",
        "options:key=5001",
        "--",
        "add-port",
        "br-hand",
        "trunky",
        "trunks=30,10,20",
        "--",
        "set",
        "port",
        "trunky",
        "protected=true",
        "external_ids:ovsnet-cluster=other",
        "--",
        "set",
        "interface",
        "trunky",
        "type=internal",
    ]);
    let observed = observe(&host.endpoint(), T).expect("observe");

    let sys = &observed.system;
    assert_eq!(
        sys.next_cfg, sys.cur_cfg,
        "the switch caught up with ovs-vsctl"
    );
    assert!(sys.next_cfg >= 1);
    assert!(
        sys.datapath_types.contains(&"netdev".to_string()),
        "{sys:?}"
    );
    assert!(sys.iface_types.contains(&"geneve".to_string()), "{sys:?}");
    assert_eq!(sys.uuid, host.get("Open_vSwitch", ".", "_uuid"));
    assert!(sys.schema_version.starts_with("8."), "{sys:?}");
    let version = sys.ovs_version.clone().expect("ovs_version");
    assert_eq!(version, support::ovs::ovs_version());
    assert_eq!(sys.schema_version, support::ovs::schema_version());

    let br = &observed.state.bridges["br-hand"];
    assert_eq!(
        br.row.uuid.as_deref(),
        Some(host.get("Bridge", "br-hand", "_uuid").as_str())
    );
    assert_eq!(br.row.attrs["datapath_type"], s("netdev"));
    assert_eq!(br.row.attrs["rstp_enable"], Value::Bool(false));
    assert_eq!(br.row.attrs["external_ids:owner"], s("ops"));
    assert_eq!(br.row.ownership("demo"), Ownership::Foreign);
    let names: Vec<&str> = br.ports.keys().map(String::as_str).collect();
    assert_eq!(names, ["br-hand", "trunky", "vx-b"]);

    let vx = &br.ports["vx-b"];
    assert_eq!(vx.row.attrs["tag"], Value::Int(7));
    assert_eq!(vx.row.attrs["protected"], Value::Bool(false));
    assert!(!vx.row.attrs.contains_key("trunks"));
    let vx_if = &vx.interfaces["vx-b"];
    assert_eq!(vx_if.row.attrs["type"], s("vxlan"));
    assert_eq!(vx_if.row.attrs["options:remote_ip"], s("198.18.0.2"));
    assert_eq!(vx_if.row.attrs["options:key"], s("5001"));
    let rt = vx_if.runtime.as_ref().expect("runtime");
    assert!(rt.ofport.unwrap_or(-1) > 0, "{rt:?}");
    assert_eq!(rt.error, None);

    let trunky = &br.ports["trunky"];
    assert_eq!(trunky.row.attrs["trunks"], Value::IntSet(vec![10, 20, 30]));
    assert_eq!(trunky.row.attrs["protected"], Value::Bool(true));
    assert!(!trunky.row.attrs.contains_key("tag"));
    assert_eq!(
        trunky.row.ownership("demo"),
        Ownership::OtherCluster("other".into())
    );
    assert_eq!(trunky.interfaces["trunky"].row.attrs["type"], s("internal"));

    // The bridge's own internal port: type internal, no options.
    let own = &br.ports["br-hand"].interfaces["br-hand"];
    assert_eq!(own.row.attrs.get("type"), Some(&s("internal")));
    assert!(!own.row.attrs.keys().any(|k| k.starts_with("options:")));
}

#[test]
fn an_empty_switch_has_no_bridges() {
    let host = OvsHost::start();
    let observed = observe(&host.endpoint(), T).expect("observe");
    assert!(observed.state.bridges.is_empty());
    assert!(!observed.system.uuid.is_empty());
}

#[test]
fn an_unreachable_endpoint_is_named() {
    let mut host = OvsHost::start();
    let endpoint = host.endpoint();
    host.stop_ovsdb();
    let err = observe(&endpoint, T).expect_err("nobody listens");
    assert!(
        matches!(err, ObserveError::Ovsdb(OvsdbError::Connect { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains(&format!("`{endpoint}`")), "{err}");
}
