//! Property: the incremental `diff` (built from what differs between two topologies)
//! gives exactly the plans of the full diff (both clusters built whole, every host
//! compared), on random pairs of a topology and an edited copy of it, and renders to
//! the same bytes in every format.

// Test helpers fail loudly: a panic is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ovsnet::diff::{self, Side};
use ovsnet::plan::{self, HostPlan, Mode};
use ovsnet::render::{self, Format};
use ovsnet::topology::{load, Loaded};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

#[derive(Clone, Debug)]
struct Host {
    /// Stable identity: picks the name, the ranges and (with `moved`) the address.
    id: u8,
    long_name: bool,
    moved: bool,
    tcp: bool,
    /// A /25 instead of a /24 of each VLAN.
    narrow: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Shape {
    Mesh,
    Chain,
    /// The hub is the host at this position (modulo the count).
    Star(usize),
    /// Host i + 1 hangs off host `parents[i]` % (i + 1).
    Tree(Vec<usize>),
    Ring,
}

#[derive(Clone, Debug)]
struct Spec {
    cluster: &'static str,
    bridge: &'static str,
    kind: &'static str,
    key: Option<u32>,
    dst_port: Option<u16>,
    vlans: usize,
    /// Bit k: VLAN k has a gateway; bit 4 + k: it serves DHCP; bit 8 + k: NAT.
    vlan_bits: u16,
    shape: Shape,
    hosts: Vec<Host>,
}

impl Host {
    fn name(&self) -> String {
        if self.long_name {
            format!("compute-node-{:03}-rack", self.id)
        } else {
            format!("h{}", self.id)
        }
    }
}

fn host() -> impl Strategy<Value = Host> {
    (
        1u8..=200,
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.1),
        any::<bool>(),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(id, long_name, moved, tcp, narrow)| Host {
            id,
            long_name,
            moved,
            tcp,
            narrow,
        })
}

fn shape(n: usize) -> impl Strategy<Value = Shape> {
    prop_oneof![
        3 => Just(Shape::Mesh),
        1 => Just(Shape::Chain),
        1 => (0..n.max(1)).prop_map(Shape::Star),
        1 => prop::collection::vec(0usize..64, n.max(1) - 1).prop_map(Shape::Tree),
        1 => Just(Shape::Ring),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(host(), 2..9),
        prop::sample::select(vec!["vxlan", "gre", "geneve"]),
        prop::option::of(1u32..5000),
        prop::option::of(1u16..),
        1usize..4,
        prop::sample::select(vec!["br-ovsnet", "vx-h3", "zz"]),
        any::<u16>(),
    )
        .prop_flat_map(
            |(mut hosts, kind, key, dst_port, vlans, bridge, vlan_bits)| {
                hosts.sort_by_key(|h| h.id);
                hosts.dedup_by_key(|h| h.id);
                let n = hosts.len();
                shape(n).prop_map(move |shape| Spec {
                    cluster: "prop",
                    bridge,
                    kind,
                    key,
                    dst_port: dst_port.filter(|_| kind != "gre"),
                    vlans,
                    vlan_bits,
                    shape,
                    hosts: hosts.clone(),
                })
            },
        )
}

/// One edit an operator might make between two revisions.
#[derive(Clone, Debug)]
enum Edit {
    AddHost(Host, usize),
    RemoveHost(usize),
    MoveHost(usize),
    RenameHost(usize),
    Endpoint(usize),
    Swap(usize, usize),
    TunnelKind(&'static str),
    Key(Option<u32>),
    Vlans(usize),
    VlanBit(u8),
    Narrow(usize),
    Shape(Shape),
    Bridge(&'static str),
    Cluster,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (host(), 0usize..16).prop_map(|(h, at)| Edit::AddHost(h, at)),
        3 => (0usize..16).prop_map(Edit::RemoveHost),
        2 => (0usize..16).prop_map(Edit::MoveHost),
        1 => (0usize..16).prop_map(Edit::RenameHost),
        1 => (0usize..16).prop_map(Edit::Endpoint),
        1 => (0usize..16, 0usize..16).prop_map(|(a, b)| Edit::Swap(a, b)),
        1 => prop::sample::select(vec!["vxlan", "gre", "geneve"]).prop_map(Edit::TunnelKind),
        1 => prop::option::of(1u32..5000).prop_map(Edit::Key),
        1 => (1usize..4).prop_map(Edit::Vlans),
        2 => (0u8..12).prop_map(Edit::VlanBit),
        1 => (0usize..16).prop_map(Edit::Narrow),
        1 => shape(8).prop_map(Edit::Shape),
        1 => prop::sample::select(vec!["br-ovsnet", "vx-h3", "zz"]).prop_map(Edit::Bridge),
        1 => Just(Edit::Cluster),
    ]
}

fn apply(spec: &Spec, edits: &[Edit]) -> Spec {
    let mut s = spec.clone();
    for edit in edits {
        let n = s.hosts.len();
        match edit {
            Edit::AddHost(h, at) => {
                if s.hosts.iter().all(|o| o.id != h.id) {
                    s.hosts.insert(at % (n + 1), h.clone());
                }
            }
            Edit::RemoveHost(i) if n > 2 => {
                s.hosts.remove(i % n);
            }
            Edit::MoveHost(i) => s.hosts[i % n].moved ^= true,
            Edit::RenameHost(i) => s.hosts[i % n].long_name ^= true,
            Edit::Endpoint(i) => s.hosts[i % n].tcp ^= true,
            Edit::Swap(a, b) => s.hosts.swap(a % n, b % n),
            Edit::TunnelKind(k) => {
                s.kind = k;
                if *k == "gre" {
                    s.dst_port = None;
                }
            }
            Edit::Key(k) => s.key = *k,
            Edit::Vlans(v) => s.vlans = *v,
            Edit::VlanBit(b) => s.vlan_bits ^= 1 << b,
            Edit::Narrow(i) => s.hosts[i % n].narrow ^= true,
            Edit::Shape(shape) => s.shape = shape.clone(),
            Edit::Bridge(b) => s.bridge = b,
            Edit::Cluster => s.cluster = if s.cluster == "prop" { "prop2" } else { "prop" },
            Edit::RemoveHost(_) => {}
        }
    }
    s
}

fn yaml(spec: &Spec) -> String {
    let names: Vec<String> = spec.hosts.iter().map(Host::name).collect();
    let n = names.len();
    let mut tunnel = format!("  type: {}\n", spec.kind);
    let links = |pairs: Vec<(usize, usize)>| {
        let items: Vec<String> = pairs
            .iter()
            .map(|&(a, b)| format!("[{}, {}]", names[a], names[b]))
            .collect();
        format!("  links: [{}]\n", items.join(", "))
    };
    match &spec.shape {
        Shape::Mesh => tunnel.push_str("  topology: mesh\n"),
        Shape::Chain => tunnel.push_str("  topology: chain\n"),
        Shape::Star(hub) => {
            tunnel.push_str(&format!("  topology: star\n  hub: {}\n", names[hub % n]))
        }
        Shape::Tree(parents) => {
            tunnel.push_str("  topology: custom\n");
            let pairs = (1..n).map(|i| (parents.get(i - 1).copied().unwrap_or(0) % i, i));
            tunnel.push_str(&links(pairs.collect()));
        }
        Shape::Ring if n >= 3 => {
            tunnel.push_str("  topology: custom\n  loop_protection: rstp\n");
            tunnel.push_str(&links((0..n).map(|i| (i, (i + 1) % n)).collect()));
        }
        Shape::Ring => tunnel.push_str("  topology: chain\n"),
    }
    if let Some(key) = spec.key {
        tunnel.push_str(&format!("  key: {key}\n"));
    }
    if let Some(port) = spec.dst_port {
        tunnel.push_str(&format!("  dst_port: {port}\n"));
    }
    let mut text = format!(
        "version: 1\ncluster: {}\nbridge:\n  name: {}\ntunnel:\n{tunnel}vlans:\n",
        spec.cluster, spec.bridge
    );
    for v in 0..spec.vlans {
        text.push_str(&format!(
            "  - name: v{v}\n    id: {}\n    subnet: 10.{v}.0.0/16\n",
            10 * (v + 1)
        ));
        let bit = |k: usize| spec.vlan_bits & (1 << (k + v)) != 0;
        if bit(0) {
            text.push_str(&format!("    gateway: 10.{v}.0.1\n"));
        }
        // DHCP and NAT need a gateway.
        if bit(0) && bit(4) {
            text.push_str("    dhcp: true\n");
        }
        if bit(0) && bit(8) {
            text.push_str("    nat: true\n");
        }
    }
    text.push_str("hosts:\n");
    for h in &spec.hosts {
        let ip = format!("198.18.{}.{}", u8::from(h.moved), h.id);
        text.push_str(&format!("  - name: {}\n    underlay_ip: {ip}\n", h.name()));
        if h.tcp {
            text.push_str(&format!("    ovsdb: tcp:{ip}:6640\n"));
        }
        text.push_str("    ranges:\n");
        for v in 0..spec.vlans {
            let len = if h.narrow { 25 } else { 24 };
            text.push_str(&format!("      v{v}: 10.{v}.{}.0/{len}\n", h.id));
        }
    }
    text
}

fn loaded(spec: &Spec) -> Option<Loaded> {
    load("prop.yaml", &yaml(spec)).ok()
}

fn side(loaded: &Loaded) -> Side<'_> {
    Side {
        topology: &loaded.topology,
        analysis: &loaded.analysis,
    }
}

fn incremental(base: &Loaded, head: &Loaded) -> Vec<HostPlan> {
    let mut plans = Vec::new();
    diff::each_host::<plan::PlanError>(side(base), side(head), |p| {
        plans.push(p);
        Ok(())
    })
    .expect("the incremental diff plans");
    plans
}

fn full(base: &Loaded, head: &Loaded) -> Vec<HostPlan> {
    (0..head.topology.hosts.len())
        .map(|i| diff::full_host(side(base), side(head), i).expect("the full diff plans"))
        .collect()
}

fn rendered(head: &Loaded, hosts: Vec<HostPlan>, format: Format) -> String {
    let context = plan::context(&head.topology, &head.analysis, Mode::Diff, Vec::new());
    let whole = plan::Plan {
        format_version: plan::FORMAT_VERSION,
        context,
        hosts,
    };
    render::render(&whole, format, false)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn incremental_diff_equals_the_full_diff(
        base in spec(),
        edits in prop::collection::vec(edit(), 0..4),
    ) {
        let head = apply(&base, &edits);
        let (Some(base), Some(head)) = (loaded(&base), loaded(&head)) else {
            // An edit that makes an invalid file (a star losing its hub, a duplicate
            // address) is `load`'s business, not diff's.
            return Ok(());
        };
        let expected = full(&base, &head);
        let planned = incremental(&base, &head);
        prop_assert_eq!(&planned, &expected);
        prop_assert!(planned.iter().all(|p| p.fingerprint.is_none()), "a diff observes no host");
        for format in [Format::Text, Format::Markdown, Format::Json] {
            prop_assert_eq!(
                rendered(&head, planned.clone(), format),
                rendered(&head, expected.clone(), format)
            );
        }
    }

    #[test]
    fn a_topology_against_itself_plans_nothing(base in spec()) {
        let Some(base) = loaded(&base) else { return Ok(()) };
        let plans = incremental(&base, &base);
        prop_assert!(plans.iter().all(|p| p.changes.is_empty()));
        prop_assert_eq!(plans, full(&base, &base));
    }
}

#[test]
fn most_generated_pairs_are_valid_topologies() {
    // A generator whose files all fail to load would make the properties above vacuous.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut valid = 0;
    for _ in 0..200 {
        let base = spec().new_tree(&mut runner).expect("tree").current();
        let edits = prop::collection::vec(edit(), 0..4)
            .new_tree(&mut runner)
            .expect("tree")
            .current();
        if loaded(&base).is_some() && loaded(&apply(&base, &edits)).is_some() {
            valid += 1;
        }
    }
    assert!(valid >= 120, "only {valid} of 200 generated pairs load");
}
