//! Hand-built host plans for apply tests, independent of `plan::build`.

#![allow(dead_code)]

use ovsnet::plan::{Action, AttrChange, Change, Guard, HostPlan};
use ovsnet::state::{Kind, Value};

/// A string value.
pub fn s(v: &str) -> Value {
    Value::Str(v.to_string())
}

/// A create change with `attrs` as new values.
pub fn create(kind: Kind, name: &str, parent: Option<&str>, attrs: &[(&str, Value)]) -> Change {
    Change {
        action: Action::Create,
        kind,
        name: name.to_string(),
        parent: parent.map(str::to_string),
        uuid: None,
        parent_uuid: None,
        attrs: attrs
            .iter()
            .map(|(k, v)| AttrChange {
                key: k.to_string().into(),
                old: None,
                new: Some(v.clone()),
            })
            .collect(),
    }
}

/// Marks of an owned row.
pub fn marks(cluster: &str, role: &str, peer: Option<&str>) -> Vec<(&'static str, Value)> {
    let mut out = vec![
        ("external_ids:ovsnet-cluster", s(cluster)),
        ("external_ids:ovsnet-role", s(role)),
    ];
    if let Some(peer) = peer {
        out.push(("external_ids:ovsnet-peer", s(peer)));
    }
    out
}

/// The changes creating one tunnel port and its interface on `bridge`.
pub fn tunnel(bridge: &str, name: &str, peer: &str, remote_ip: &str) -> Vec<Change> {
    let mut port_attrs = vec![
        ("trunks", Value::IntSet(vec![10, 20])),
        ("protected", Value::Bool(true)),
    ];
    port_attrs.extend(marks("demo", "tunnel", Some(peer)));
    let mut if_attrs = vec![
        ("type", s("vxlan")),
        ("options:remote_ip", s(remote_ip)),
        ("options:key", s("5001")),
    ];
    if_attrs.extend(marks("demo", "tunnel", Some(peer)));
    vec![
        create(Kind::Port, name, Some(bridge), &port_attrs),
        create(Kind::Interface, name, Some(name), &if_attrs),
    ]
}

/// A plan creating bridge `br-ovsnet` (netdev) with its internal port and tunnels to
/// `host-b` (198.18.0.2) and `host-c` (198.18.0.3), guarded by `Absent` on every name.
pub fn fresh_bridge_plan(endpoint: &str) -> HostPlan {
    let br = "br-ovsnet";
    let mut bridge_attrs = vec![
        ("datapath_type", s("netdev")),
        ("rstp_enable", Value::Bool(false)),
    ];
    bridge_attrs.extend(marks("demo", "bridge", None));
    let mut internal_port = vec![("protected", Value::Bool(false))];
    internal_port.extend(marks("demo", "internal", None));
    let mut internal_if = vec![("type", s("internal"))];
    internal_if.extend(marks("demo", "internal", None));
    let mut changes = vec![
        create(Kind::Bridge, br, None, &bridge_attrs),
        create(Kind::Port, br, Some(br), &internal_port),
        create(Kind::Interface, br, Some(br), &internal_if),
    ];
    changes.extend(tunnel(br, "vx-host-b", "host-b", "198.18.0.2"));
    changes.extend(tunnel(br, "vx-host-c", "host-c", "198.18.0.3"));
    let guards = changes
        .iter()
        .map(|c| Guard::Absent {
            kind: c.kind,
            name: c.name.clone(),
        })
        .collect();
    HostPlan {
        host: "host-a".into(),
        endpoint: endpoint.to_string(),
        changes,
        guards,
        ..HostPlan::default()
    }
}
