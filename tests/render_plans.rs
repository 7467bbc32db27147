//! Plan rendering (text, json, markdown) and saved plans, on plans built by hand: a fresh
//! 3-host mesh, one host added, one host removed, the tunnel type changed (as delete and
//! create, and in place), no changes, and a blocked plan with conflicts, preflight
//! failures and foreign rows left alone.

use ovsnet::plan::{
    Action, AttrChange, Change, Conflict, Context, Guard, HostPlan, LeftAlone, Mode, Plan,
    Preflight, FORMAT_VERSION,
};
use ovsnet::render::{self, Format, Options, Render};
use ovsnet::state::{Kind, Ownership, Value};
use std::collections::BTreeMap;

const CLUSTER: &str = "demo";
const BRIDGE: &str = "br-ovsnet";

fn s(v: &str) -> Value {
    Value::Str(v.to_string())
}

fn host_name(i: usize) -> String {
    format!("host-{}", (b'a' + i as u8) as char)
}

fn ip(i: usize) -> String {
    format!("198.18.0.{}", i + 1)
}

fn digest(seed: &str) -> String {
    use std::fmt::Write;
    let mut out = String::from("sha256:");
    let mut x: u64 = seed.bytes().fold(1469598103934665603, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(1099511628211)
    });
    for _ in 0..4 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let _ = write!(out, "{x:016x}");
    }
    out
}

fn uuid(seed: &str) -> String {
    let d = digest(seed);
    format!(
        "{}-{}-{}-{}-{}",
        &d[7..15],
        &d[15..19],
        &d[19..23],
        &d[23..27],
        &d[27..39]
    )
}

/// Attributes as the plan lists them for a create (sorted by key, old absent).
fn created(attrs: &[(&str, Value)]) -> Vec<AttrChange> {
    let mut attrs: Vec<AttrChange> = attrs
        .iter()
        .map(|(k, v)| AttrChange {
            key: k.to_string(),
            old: None,
            new: Some(v.clone()),
        })
        .collect();
    attrs.sort_by(|a, b| a.key.cmp(&b.key));
    attrs
}

/// The same attributes as a delete shows them (old present, new absent).
fn deleted(attrs: Vec<AttrChange>) -> Vec<AttrChange> {
    attrs
        .into_iter()
        .map(|a| AttrChange {
            key: a.key,
            old: a.new,
            new: None,
        })
        .collect()
}

fn change(
    action: Action,
    kind: Kind,
    name: &str,
    parent: Option<&str>,
    attrs: Vec<AttrChange>,
) -> Change {
    let observed = action != Action::Create;
    Change {
        action,
        kind,
        name: name.to_string(),
        parent: parent.map(str::to_string),
        uuid: observed.then(|| uuid(name)),
        parent_uuid: parent.filter(|_| observed).map(uuid),
        attrs,
    }
}

fn bridge_creates() -> Vec<Change> {
    let marks = |role: &str| {
        vec![
            ("external_ids:ovsnet-cluster", s(CLUSTER)),
            ("external_ids:ovsnet-role", s(role)),
        ]
    };
    let mut bridge = marks("bridge");
    bridge.push(("datapath_type", s("system")));
    let mut iface = marks("internal");
    iface.push(("type", s("internal")));
    vec![
        change(Action::Create, Kind::Bridge, BRIDGE, None, created(&bridge)),
        change(
            Action::Create,
            Kind::Port,
            BRIDGE,
            Some(BRIDGE),
            created(&marks("internal")),
        ),
        change(
            Action::Create,
            Kind::Interface,
            BRIDGE,
            Some(BRIDGE),
            created(&iface),
        ),
    ]
}

fn tunnel_name(prefix: &str, peer: &str) -> String {
    format!("{prefix}-{peer}")
}

/// Port and interface attributes of one tunnel towards `peer`.
fn tunnel_attrs(
    tunnel: &str,
    peer: &str,
    peer_ip: &str,
    protected: bool,
) -> (Vec<AttrChange>, Vec<AttrChange>) {
    let marks = vec![
        ("external_ids:ovsnet-cluster", s(CLUSTER)),
        ("external_ids:ovsnet-peer", s(peer)),
        ("external_ids:ovsnet-role", s("tunnel")),
    ];
    let mut port = marks.clone();
    port.push(("trunks", Value::IntSet(vec![10, 20])));
    if protected {
        port.push(("protected", Value::Bool(true)));
    }
    let mut iface = marks;
    iface.push(("type", s(tunnel)));
    iface.push(("options:remote_ip", s(peer_ip)));
    (created(&port), created(&iface))
}

fn prefix(tunnel: &str) -> &'static str {
    match tunnel {
        "geneve" => "gnv",
        "gre" => "gre",
        _ => "vx",
    }
}

fn tunnel_changes(action: Action, tunnel: &str, peer: usize) -> Vec<Change> {
    let name = tunnel_name(prefix(tunnel), &host_name(peer));
    let (port, iface) = tunnel_attrs(tunnel, &host_name(peer), &ip(peer), true);
    let (port, iface) = match action {
        Action::Delete => (deleted(port), deleted(iface)),
        _ => (port, iface),
    };
    let port = change(action, Kind::Port, &name, Some(BRIDGE), port);
    let iface = change(action, Kind::Interface, &name, Some(&name), iface);
    match action {
        Action::Delete => vec![iface, port],
        _ => vec![port, iface],
    }
}

fn context(mode: Mode, tunnel: &str, hosts: usize, seed: &str) -> Context {
    let mut tunnels = Vec::new();
    for a in 0..hosts {
        for b in a + 1..hosts {
            tunnels.push((host_name(a), host_name(b)));
        }
    }
    Context {
        cluster: CLUSTER.to_string(),
        topology_digest: digest(seed),
        mode,
        shape: "mesh".to_string(),
        tunnel: tunnel.to_string(),
        protection: "split_horizon".to_string(),
        protection_reason: "a full mesh has a loop through every three hosts; protected tunnel ports never forward a frame from one tunnel into another".to_string(),
        overlay_mtu: if tunnel == "gre" { 1458 } else { 1446 },
        tunnels,
        warnings: Vec::new(),
    }
}

fn host(i: usize, changes: Vec<Change>) -> HostPlan {
    let name = host_name(i);
    let guards = if changes
        .iter()
        .any(|c| c.kind == Kind::Bridge && c.action == Action::Create)
    {
        vec![Guard::Absent {
            kind: Kind::Bridge,
            name: BRIDGE.to_string(),
        }]
    } else {
        let mut attrs = BTreeMap::new();
        attrs.insert("datapath_type".to_string(), s("system"));
        attrs.insert("external_ids:ovsnet-cluster".to_string(), s(CLUSTER));
        vec![Guard::Unchanged {
            kind: Kind::Bridge,
            uuid: uuid(&format!("{name}/{BRIDGE}")),
            attrs,
            children: vec![uuid(&format!("{name}/port"))],
        }]
    };
    HostPlan {
        host: name.clone(),
        endpoint: "unix:/var/run/openvswitch/db.sock".to_string(),
        fingerprint: digest(&format!("observed/{name}/{}", changes.len())),
        changes,
        guards,
        conflicts: Vec::new(),
        preflight: Vec::new(),
        left_alone: Vec::new(),
    }
}

fn plan(context: Context, hosts: Vec<HostPlan>) -> Plan {
    Plan {
        format_version: FORMAT_VERSION,
        context,
        hosts,
    }
}

/// A fresh full mesh of `n` hosts, planned offline: everything is created.
fn fresh_mesh(n: usize) -> Plan {
    let hosts = (0..n)
        .map(|i| {
            let mut changes = bridge_creates();
            for peer in (0..n).filter(|&p| p != i) {
                changes.extend(tunnel_changes(Action::Create, "vxlan", peer));
            }
            host(i, changes)
        })
        .collect();
    plan(context(Mode::Offline, "vxlan", n, "fresh"), hosts)
}

/// Three hosts in a vxlan mesh, a fourth (`host-d`) added.
fn host_added() -> Plan {
    let mut hosts: Vec<HostPlan> = (0..3)
        .map(|i| host(i, tunnel_changes(Action::Create, "vxlan", 3)))
        .collect();
    let mut d = bridge_creates();
    for peer in 0..3 {
        d.extend(tunnel_changes(Action::Create, "vxlan", peer));
    }
    hosts.push(host(3, d));
    plan(context(Mode::Diff, "vxlan", 4, "added"), hosts)
}

/// Four hosts in a vxlan mesh, `host-d` removed from the file: its peers drop their tunnels to it.
fn host_removed() -> Plan {
    let hosts = (0..3)
        .map(|i| host(i, tunnel_changes(Action::Delete, "vxlan", 3)))
        .collect();
    plan(context(Mode::Diff, "vxlan", 3, "removed"), hosts)
}

/// vxlan to geneve on a 3-host mesh: port names change prefix, so delete and create.
fn tunnel_type_replaced() -> Plan {
    let hosts = (0..3)
        .map(|i| {
            let peers: Vec<usize> = (0..3).filter(|&p| p != i).collect();
            let mut changes = Vec::new();
            for &p in &peers {
                changes.extend(tunnel_changes(Action::Delete, "vxlan", p));
            }
            for &p in &peers {
                changes.extend(tunnel_changes(Action::Create, "geneve", p));
            }
            host(i, changes)
        })
        .collect();
    plan(context(Mode::Diff, "geneve", 3, "replaced"), hosts)
}

/// vxlan to geneve on a 3-host mesh, where the names stay and the interface type is updated in place.
fn tunnel_type_in_place() -> Plan {
    let hosts = (0..3)
        .map(|i| {
            let changes = (0..3)
                .filter(|&p| p != i)
                .map(|p| {
                    let name = tunnel_name("vx", &host_name(p));
                    let attrs = vec![AttrChange {
                        key: "type".into(),
                        old: Some(s("vxlan")),
                        new: Some(s("geneve")),
                    }];
                    change(Action::Update, Kind::Interface, &name, Some(&name), attrs)
                })
                .collect();
            host(i, changes)
        })
        .collect();
    plan(context(Mode::Live, "geneve", 3, "in-place"), hosts)
}

fn foreign_port(name: &str) -> LeftAlone {
    LeftAlone {
        kind: Kind::Port,
        name: name.to_string(),
        parent: Some(BRIDGE.to_string()),
        owner: Ownership::Foreign,
    }
}

/// A converged 3-host mesh: nothing to do; host-a carries two containers' ports.
fn no_changes() -> Plan {
    let mut hosts: Vec<HostPlan> = (0..3).map(|i| host(i, Vec::new())).collect();
    hosts[0].left_alone = vec![foreign_port("4f2a1c_l"), foreign_port("9b0d3e_l")];
    plan(context(Mode::Live, "vxlan", 3, "converged"), hosts)
}

/// A lab plan where host-b has a foreign port in the way, host-c lacks geneve, and
/// host-a has foreign rows and another cluster's bridge, left alone.
fn blocked() -> Plan {
    let mut ctx = context(Mode::Lab, "geneve", 3, "blocked");
    ctx.warnings
        .push("`host-b` is a single point of failure: losing it splits the overlay".to_string());
    let mut hosts: Vec<HostPlan> = (0..3)
        .map(|i| {
            let mut changes = bridge_creates();
            for peer in (0..3).filter(|&p| p != i) {
                changes.extend(tunnel_changes(Action::Create, "geneve", peer));
            }
            host(i, changes)
        })
        .collect();
    for h in &mut hosts {
        h.endpoint = format!("unix:/run/ovsnet/lab/demo/{}/db.sock", h.host);
        for attr in h.changes.iter_mut().flat_map(|c| c.attrs.iter_mut()) {
            if attr.key == "datapath_type" {
                attr.new = Some(s("netdev"));
            }
        }
    }
    hosts[0].left_alone = vec![
        foreign_port("veth-probe"),
        LeftAlone {
            kind: Kind::Bridge,
            name: "br-blue".into(),
            parent: None,
            owner: Ownership::OtherCluster("blue".into()),
        },
    ];
    hosts[1].conflicts = vec![Conflict {
        kind: Kind::Port,
        name: "gnv-host-a".into(),
        owner: Ownership::Foreign,
    }];
    hosts[2].preflight = vec![Preflight {
        requirement: "tunnel_type".into(),
        wanted: "geneve".into(),
        offered: "gre, internal, vxlan".into(),
    }];
    plan(ctx, hosts)
}

fn fixtures() -> Vec<(&'static str, Plan)> {
    vec![
        ("fresh", fresh_mesh(3)),
        ("host_added", host_added()),
        ("host_removed", host_removed()),
        ("tunnel_type_replaced", tunnel_type_replaced()),
        ("tunnel_type_in_place", tunnel_type_in_place()),
        ("no_changes", no_changes()),
        ("blocked", blocked()),
    ]
}

fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings
}

#[test]
fn text_snapshots() {
    for (name, plan) in fixtures() {
        let out = render::text::render(&plan, false);
        snapshot_settings().bind(|| insta::assert_snapshot!(format!("text_{name}"), out));
    }
}

#[test]
fn json_snapshots() {
    for (name, plan) in fixtures() {
        let out = render::json::render(&plan);
        snapshot_settings().bind(|| insta::assert_snapshot!(format!("json_{name}"), out));
    }
}

#[test]
fn markdown_snapshots() {
    for (name, plan) in fixtures() {
        let out = render::markdown::render(&plan);
        snapshot_settings().bind(|| insta::assert_snapshot!(format!("markdown_{name}"), out));
    }
}
