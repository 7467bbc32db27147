//! Property tests on the pure core: desired state is deterministic, independent of the
//! order of hosts, VLANs and keys in the file, gives every host of a connected graph a
//! tunnel, and pairs tunnel ports symmetrically.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::tunnel_ports;
use ovsnet::desire::{attribute_keys, desire};
use ovsnet::state::{is_managed, DesiredHost, Value};
use ovsnet::topology::load;
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
enum Shape {
    Mesh,
    Chain,
    Star(usize),
    /// Each host after the first hangs off an earlier one.
    Tree(Vec<usize>),
    Ring,
}

#[derive(Clone, Debug)]
struct Spec {
    hosts: Vec<String>,
    vlans: usize,
    /// Which VLANs each host has a range in (bit k: VLAN k).
    range_bits: Vec<u8>,
    kind: &'static str,
    key: Option<u32>,
    dst_port: Option<u16>,
    shape: Shape,
}

fn host_name(i: usize, long: bool) -> String {
    if long {
        format!("compute-node-{i:03}-rack-7")
    } else {
        format!("h{i}")
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    (2usize..8, 1usize..4, any::<bool>(), 0usize..3).prop_flat_map(|(n, vlans, long, kind)| {
        let kind = ["vxlan", "gre", "geneve"][kind];
        let shape = prop_oneof![
            Just(Shape::Mesh),
            Just(Shape::Chain),
            (0..n).prop_map(Shape::Star),
            proptest::collection::vec(any::<prop::sample::Index>(), n - 1).prop_map(|picks| {
                Shape::Tree(
                    picks
                        .iter()
                        .enumerate()
                        .map(|(i, p)| p.index(i + 1))
                        .collect(),
                )
            }),
            Just(Shape::Ring),
        ];
        let key = proptest::option::of(0u32..(1 << 24));
        let dst_port = proptest::option::of(1u16..);
        (
            proptest::collection::vec(any::<u8>(), n),
            shape,
            key,
            dst_port,
        )
            .prop_map(move |(range_bits, shape, key, dst_port)| Spec {
                hosts: (0..n).map(|i| host_name(i, long && i % 2 == 0)).collect(),
                vlans,
                range_bits,
                kind,
                key,
                dst_port: dst_port.filter(|_| kind != "gre"),
                shape,
            })
    })
}

/// A tiny deterministic shuffle driven by `seed` (xorshift), for reordering the file.
fn shuffle<T>(items: &mut [T], seed: &mut u64) {
    for i in (1..items.len()).rev() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        items.swap(i, (*seed % (i as u64 + 1)) as usize);
    }
}

/// Writes `spec` as YAML. With a seed, mapping keys, VLANs and (except for chains, where
/// order is meaning) hosts and links come out in a shuffled order.
fn yaml(spec: &Spec, seed: Option<u64>) -> String {
    let mut seed = seed.map(|s| s | 1);
    let mut mix = |items: &mut Vec<String>| {
        if let Some(s) = seed.as_mut() {
            shuffle(items, s);
        }
    };
    let mut tunnel = vec![format!("type: {}", spec.kind)];
    let (word, protection) = match &spec.shape {
        Shape::Mesh => ("mesh", "auto"),
        Shape::Chain => ("chain", "auto"),
        Shape::Star(_) => ("star", "auto"),
        Shape::Tree(_) => ("custom", "auto"),
        Shape::Ring => ("custom", "rstp"),
    };
    tunnel.push(format!("topology: {word}"));
    tunnel.push(format!("loop_protection: {protection}"));
    tunnel.extend(spec.key.map(|k| format!("key: {k}")));
    tunnel.extend(spec.dst_port.map(|p| format!("dst_port: {p}")));
    let mut links: Vec<String> = match &spec.shape {
        Shape::Star(hub) => {
            tunnel.push(format!("hub: {}", spec.hosts[*hub]));
            Vec::new()
        }
        Shape::Tree(parents) => parents
            .iter()
            .enumerate()
            .map(|(i, &p)| format!("[{}, {}]", spec.hosts[i + 1], spec.hosts[p]))
            .collect(),
        Shape::Ring if spec.hosts.len() >= 3 => (0..spec.hosts.len())
            .map(|i| {
                format!(
                    "[{}, {}]",
                    spec.hosts[i],
                    spec.hosts[(i + 1) % spec.hosts.len()]
                )
            })
            .collect(),
        Shape::Ring => vec![format!("[{}, {}]", spec.hosts[0], spec.hosts[1])],
        _ => Vec::new(),
    };
    if !links.is_empty() {
        mix(&mut links);
        tunnel.push(format!("links: [{}]", links.join(", ")));
    }
    mix(&mut tunnel);
    let mut vlans: Vec<String> = (0..spec.vlans)
        .map(|k| {
            let mut fields = vec![
                format!("name: v{k}"),
                format!("id: {}", 10 * (k + 1)),
                format!("subnet: 10.{}.0.0/16", k + 1),
            ];
            mix(&mut fields);
            format!("  - {{{}}}\n", fields.join(", "))
        })
        .collect();
    mix(&mut vlans);
    let mut hosts: Vec<String> = spec
        .hosts
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut ranges: Vec<String> = (0..spec.vlans)
                .filter(|k| spec.range_bits[i] & (1 << k) != 0)
                .map(|k| format!("v{k}: 10.{}.{}.0/24", k + 1, i + 1))
                .collect();
            mix(&mut ranges);
            let mut fields = vec![
                format!("name: {name}"),
                format!("underlay_ip: 198.18.0.{}", i + 1),
                format!("ranges: {{{}}}", ranges.join(", ")),
            ];
            mix(&mut fields);
            format!("  - {{{}}}\n", fields.join(", "))
        })
        .collect();
    if !matches!(spec.shape, Shape::Chain) {
        mix(&mut hosts);
    }
    let mut top = vec![
        "version: 1\n".to_string(),
        "cluster: prop\n".to_string(),
        format!("tunnel: {{{}}}\n", tunnel.join(", ")),
        format!("vlans:\n{}", vlans.concat()),
        format!("hosts:\n{}", hosts.concat()),
    ];
    mix(&mut top);
    top.concat()
}

fn desired(text: &str) -> Vec<DesiredHost> {
    let loaded =
        load("prop.yaml", text).unwrap_or_else(|d| panic!("{}\n{text}", d.render(text, false)));
    desire(&loaded.topology, &loaded.analysis)
}

fn by_name(hosts: Vec<DesiredHost>) -> BTreeMap<String, DesiredHost> {
    hosts.into_iter().map(|h| (h.name.clone(), h)).collect()
}

/// The (type, key, dst_port) of a tunnel port's interface, and the peer it names.
fn tunnel_facts(
    port: &ovsnet::state::Port,
) -> (Option<&Value>, Option<&Value>, Option<&Value>, String) {
    let iface = &port
        .interfaces
        .values()
        .next()
        .expect("one interface per port")
        .row;
    (
        iface.attrs.get("type"),
        iface.attrs.get("options:key"),
        iface.attrs.get("options:dst_port"),
        port.row
            .external_id("ovsnet-peer")
            .expect("tunnel ports name their peer")
            .to_string(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn desire_is_deterministic(spec in spec()) {
        let text = yaml(&spec, None);
        let a = serde_json::to_string(&desired(&text)).unwrap();
        let b = serde_json::to_string(&desired(&text)).unwrap();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn desire_ignores_the_order_of_the_file(spec in spec(), seed in any::<u64>()) {
        let plain = yaml(&spec, None);
        let shuffled = yaml(&spec, Some(seed));
        prop_assert_eq!(by_name(desired(&plain)), by_name(desired(&shuffled)));
    }

    #[test]
    fn digest_ignores_key_order(spec in spec(), seed in any::<u64>()) {
        let spec = Spec { shape: Shape::Chain, ..spec };
        let a = load("a.yaml", &yaml(&spec, None)).unwrap().topology.digest();
        let b = load("b.yaml", &yaml(&spec, Some(seed))).unwrap().topology.digest();
        prop_assert_eq!(a, b);
    }

    #[test]
    fn every_host_has_a_tunnel_and_tunnels_pair_up(spec in spec()) {
        let hosts = by_name(desired(&yaml(&spec, None)));
        for (name, host) in &hosts {
            let ports = tunnel_ports(host);
            prop_assert!(!ports.is_empty(), "{} has no tunnel", name);
            for port in ports {
                prop_assert!(port.row.name.len() <= 15, "{}", port.row.name);
                let (kind, key, dst_port, peer) = tunnel_facts(port);
                let back: Vec<_> = tunnel_ports(&hosts[&peer])
                    .into_iter()
                    .map(tunnel_facts)
                    .filter(|f| &f.3 == name)
                    .collect();
                prop_assert_eq!(back.len(), 1, "{} -> {} has no way back", name, peer);
                prop_assert_eq!(&back[0].0, &kind);
                prop_assert_eq!(&back[0].1, &key);
                prop_assert_eq!(&back[0].2, &dst_port);
            }
        }
    }

    #[test]
    fn every_desired_key_is_managed(spec in spec()) {
        for host in desired(&yaml(&spec, None)) {
            for (kind, key) in attribute_keys(&host) {
                prop_assert!(is_managed(kind, &key), "{:?} {}", kind, key);
            }
        }
    }
}
