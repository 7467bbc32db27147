//! Every validation rule of DESIGN.md §1, each shown as the operator sees it: the
//! message, `file:line:column`, the offending line underlined and a `help:` line.
//! The rendered output is snapshotted so a reviewer sees any change to it.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::read;
use ovsnet::topology::{load, Diagnostics, Problem, Severity};

const BASE: &str = "\
version: 1
cluster: demo
tunnel:
  type: vxlan
  topology: mesh
vlans:
  - name: web
    id: 10
    subnet: 10.10.0.0/16
    gateway: 10.10.0.1
  - name: db
    id: 20
    subnet: 10.20.0.0/16
hosts:
  - name: host-a
    underlay_ip: 198.18.0.1
    ranges:
      web: 10.10.1.0/24
  - name: host-b
    underlay_ip: 198.18.0.2
    ranges:
      web: 10.10.2.0/24
  - name: host-c
    underlay_ip: 198.18.0.3
    ranges:
      db: 10.20.3.0/24
";

/// The base file with each `(from, to)` applied once; `from` must be in it.
fn edit(edits: &[(&str, &str)]) -> String {
    let mut text = BASE.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "`{from}` not in the file");
        text = text.replacen(from, to, 1);
    }
    text
}

/// Loads `text`, expecting it to be refused; returns the diagnostics and their rendering.
fn refused(name: &str, text: &str) -> (Diagnostics, String) {
    let file = format!("{name}.yaml");
    match load(&file, text) {
        Ok(_) => panic!("{name}: accepted"),
        Err(d) => {
            let out = d.render(text, false);
            assert!(
                out.contains(&format!("--> {file}:")),
                "{name}: no position\n{out}"
            );
            (d, out)
        }
    }
}

/// Asserts the file is refused with exactly one error and snapshots the rendering.
macro_rules! one_error {
    ($name:ident, $text:expr, $pattern:pat) => {
        #[test]
        fn $name() {
            let (d, out) = refused(stringify!($name), &$text);
            let errors: Vec<&Problem> = d
                .items
                .iter()
                .filter(|d| d.severity() == Severity::Error)
                .map(|d| &d.problem)
                .collect();
            assert!(matches!(errors[..], [$pattern]), "{out}");
            assert!(out.contains("help: "), "{out}");
            insta::assert_snapshot!(stringify!($name), out);
        }
    };
}

#[test]
fn the_base_file_is_valid() {
    load("base.yaml", BASE).unwrap();
}

one_error!(
    misspelled_field_gets_a_suggestion,
    read("tests/invalid/misspelled-field.yaml"),
    Problem::UnknownField {
        suggestion: Some("underlay_ip"),
        ..
    }
);
one_error!(
    unknown_field_lists_the_allowed_ones,
    edit(&[("  topology: mesh\n", "  topology: mesh\n  colour: blue\n")]),
    Problem::UnknownField {
        suggestion: None,
        ..
    }
);
one_error!(
    wrong_type,
    edit(&[("id: 20", "id: twenty")]),
    Problem::WrongType {
        found: "a string",
        ..
    }
);
one_error!(
    missing_field,
    edit(&[("    underlay_ip: 198.18.0.3\n", "")]),
    Problem::Missing {
        field: "underlay_ip",
        ..
    }
);
one_error!(
    unsupported_version,
    edit(&[("version: 1", "version: 2")]),
    Problem::UnsupportedVersion { found: 2 }
);
one_error!(
    tunnel_type_typo,
    edit(&[("type: vxlan", "type: vxaln")]),
    Problem::NotOneOf {
        suggestion: Some("vxlan"),
        ..
    }
);
one_error!(
    bad_cluster_name,
    edit(&[("cluster: demo", "cluster: Demo_1")]),
    Problem::BadName {
        what: "cluster",
        ..
    }
);
one_error!(
    bad_host_name,
    edit(&[("name: host-c", "name: \"host c\"")]),
    Problem::BadName { what: "host", .. }
);
one_error!(
    bridge_name_too_long,
    edit(&[(
        "tunnel:\n",
        "bridge:\n  name: br-overlay-network\ntunnel:\n"
    )]),
    Problem::BadName { what: "bridge", .. }
);
one_error!(
    duplicate_host_name,
    edit(&[("name: host-c", "name: host-a")]),
    Problem::DuplicateHost { first_line: 15, .. }
);
one_error!(
    duplicate_underlay_address,
    edit(&[("198.18.0.3", "198.18.0.1")]),
    Problem::DuplicateUnderlay { .. }
);
one_error!(
    unusable_underlay_address,
    edit(&[("198.18.0.3", "224.0.0.1")]),
    Problem::UnusableUnderlay {
        reason: "a multicast address",
        ..
    }
);
one_error!(
    bad_address,
    edit(&[("198.18.0.3", "198.18.0.300")]),
    Problem::BadAddress { .. }
);
one_error!(
    subnet_with_host_bits,
    edit(&[("subnet: 10.20.0.0/16", "subnet: 10.20.0.1/16")]),
    Problem::HostBits { .. }
);
one_error!(
    bad_ovsdb_endpoint,
    edit(&[(
        "    underlay_ip: 198.18.0.3\n",
        "    underlay_ip: 198.18.0.3\n    ovsdb: tcp:198.18.0.3\n"
    )]),
    Problem::BadEndpoint { .. }
);
one_error!(
    vlan_id_out_of_range,
    edit(&[("id: 20", "id: 4095")]),
    Problem::OutOfRange {
        value: 4095,
        min: 1,
        max: 4094,
        ..
    }
);
one_error!(
    duplicate_vlan_id,
    edit(&[("id: 20", "id: 10")]),
    Problem::DuplicateVlanId { id: 10, .. }
);
one_error!(
    duplicate_vlan_name,
    edit(&[
        ("name: db", "name: web"),
        ("      db: 10.20.3.0/24", "      web: 10.10.3.0/24")
    ]),
    Problem::DuplicateVlanName { .. }
);
one_error!(
    subnets_overlap,
    edit(&[
        ("subnet: 10.20.0.0/16", "subnet: 10.10.128.0/17"),
        ("db: 10.20.3.0/24", "db: 10.10.200.0/24")
    ]),
    Problem::SubnetsOverlap { .. }
);
one_error!(
    range_outside_subnet,
    edit(&[("web: 10.10.2.0/24", "web: 10.20.2.0/24")]),
    Problem::RangeOutsideSubnet { .. }
);
one_error!(
    overlapping_ranges_name_both_hosts_and_the_vlan,
    read("tests/invalid/overlapping-ranges.yaml"),
    Problem::RangesOverlap { .. }
);
one_error!(
    gateway_inside_a_range,
    edit(&[("gateway: 10.10.0.1", "gateway: 10.10.2.1")]),
    Problem::GatewayInRange { .. }
);
one_error!(
    nat_without_gateway,
    edit(&[(
        "subnet: 10.20.0.0/16",
        "subnet: 10.20.0.0/16\n    nat: true"
    )]),
    Problem::NeedsGateway { field: "nat", .. }
);
one_error!(
    dhcp_without_gateway,
    edit(&[(
        "subnet: 10.20.0.0/16",
        "subnet: 10.20.0.0/16\n    dhcp: true"
    )]),
    Problem::NeedsGateway { field: "dhcp", .. }
);
one_error!(
    dhcp_that_is_not_a_boolean,
    edit(&[(
        "gateway: 10.10.0.1",
        "gateway: 10.10.0.1\n    dhcp: yes please"
    )]),
    Problem::WrongType { .. }
);
one_error!(
    gateway_outside_subnet,
    edit(&[("gateway: 10.10.0.1", "gateway: 10.11.0.1")]),
    Problem::GatewayOutsideSubnet { .. }
);
one_error!(
    gateway_is_network_address,
    edit(&[("gateway: 10.10.0.1", "gateway: 10.10.0.0")]),
    Problem::GatewayNotHost {
        which: "network",
        ..
    }
);
one_error!(
    range_in_unknown_vlan,
    edit(&[("      db: 10.20.3.0/24", "      dbs: 10.20.3.0/24")]),
    Problem::UnknownVlan { .. }
);
one_error!(
    hub_names_unknown_host,
    edit(&[("topology: mesh", "topology: star\n  hub: host-d")]),
    Problem::UnknownHost { .. }
);
one_error!(
    hub_with_mesh,
    edit(&[("topology: mesh", "topology: mesh\n  hub: host-a")]),
    Problem::FieldNotForShape { field: "hub", .. }
);
one_error!(
    star_without_hub,
    edit(&[("topology: mesh", "topology: star")]),
    Problem::ShapeNeedsField { field: "hub", .. }
);
one_error!(
    links_with_chain,
    edit(&[(
        "topology: mesh",
        "topology: chain\n  links:\n    - [host-a, host-b]"
    )]),
    Problem::FieldNotForShape { field: "links", .. }
);
one_error!(
    link_names_unknown_host,
    edit(&[(
        "topology: mesh",
        "topology: custom\n  links:\n    - [host-a, host-b]\n    - [host-b, hots-c]"
    )]),
    Problem::UnknownHost { .. }
);
one_error!(
    self_link,
    edit(&[("topology: mesh", "topology: custom\n  links:\n    - [host-a, host-b]\n    - [host-b, host-c]\n    - [host-c, host-c]")]),
    Problem::SelfLink { .. }
);
one_error!(
    duplicate_link,
    edit(&[("topology: mesh", "topology: custom\n  links:\n    - [host-a, host-b]\n    - [host-b, host-c]\n    - [host-b, host-a]")]),
    Problem::DuplicateLink { .. }
);
one_error!(
    disconnected_graph,
    edit(&[(
        "topology: mesh",
        "topology: custom\n  links:\n    - [host-a, host-b]"
    )]),
    Problem::Disconnected { .. }
);
// Was a panic (issue 9): two full meshes side by side have no relay to blame.
one_error!(
    protected_on_a_disconnected_graph_is_refused_not_a_panic,
    edit(&[(
        "topology: mesh",
        "topology: custom\n  loop_protection: protected\n  links:\n    - [host-a, host-b]"
    )]),
    Problem::Disconnected { .. }
);
one_error!(
    ring_under_auto_is_refused_with_the_reason,
    read("tests/invalid/ring-auto.yaml"),
    Problem::CycleNeedsRstp { .. }
);
one_error!(
    protected_on_a_chain_would_cut_relaying,
    read("tests/invalid/chain-protected.yaml"),
    Problem::ProtectedNeedsMesh { .. }
);
one_error!(
    vxlan_key_too_large,
    edit(&[("type: vxlan", "type: vxlan\n  key: 16777216")]),
    Problem::KeyTooLarge {
        max: 16_777_215,
        ..
    }
);
one_error!(
    negative_key,
    edit(&[("type: vxlan", "type: vxlan\n  key: -1")]),
    Problem::OutOfRange {
        value: -1,
        min: 0,
        ..
    }
);
one_error!(
    loop_protection_typo,
    edit(&[("topology: mesh", "topology: mesh\n  loop_protection: rtsp")]),
    Problem::NotOneOf {
        suggestion: Some("rstp"),
        ..
    }
);
one_error!(
    datapath_typo,
    edit(&[("tunnel:\n", "bridge:\n  datapath: netdve\ntunnel:\n")]),
    Problem::NotOneOf {
        suggestion: Some("netdev"),
        ..
    }
);
one_error!(
    gateway_is_broadcast_address,
    edit(&[("gateway: 10.10.0.1", "gateway: 10.10.255.255")]),
    Problem::GatewayNotHost {
        which: "broadcast",
        ..
    }
);
one_error!(
    dst_port_out_of_range,
    edit(&[("type: vxlan", "type: vxlan\n  dst_port: 70000")]),
    Problem::OutOfRange { value: 70000, .. }
);
one_error!(
    dst_port_with_gre,
    edit(&[("type: vxlan", "type: gre\n  dst_port: 4789")]),
    Problem::DstPortWithGre
);
one_error!(
    overlay_mtu_too_small,
    edit(&[("vlans:\n", "underlay:\n  mtu: 1300\nvlans:\n")]),
    Problem::MtuTooSmall { overlay: 1246, .. }
);
one_error!(
    duplicate_key,
    edit(&[("cluster: demo\n", "cluster: demo\ncluster: other\n")]),
    Problem::DuplicateKey { first_line: 2, .. }
);
one_error!(
    no_vlans,
    edit(&[(
        "  - name: web\n    id: 10\n    subnet: 10.10.0.0/16\n    gateway: 10.10.0.1\n  - name: db\n    id: 20\n    subnet: 10.20.0.0/16\n",
        ""
    ), ("vlans:\n", "vlans: []\n"), ("    ranges:\n      web: 10.10.1.0/24\n", ""), ("    ranges:\n      web: 10.10.2.0/24\n", ""), ("    ranges:\n      db: 10.20.3.0/24\n", "")]),
    Problem::NoVlans
);

#[test]
fn syntax_error() {
    let (d, out) = refused(
        "syntax_error",
        &edit(&[("topology: mesh", "topology: [mesh")]),
    );
    assert!(
        matches!(
            d.items[..],
            [ovsnet::topology::Diagnostic {
                problem: Problem::Syntax { .. },
                ..
            }]
        ),
        "{out}"
    );
}

#[test]
fn five_mistakes_are_all_reported() {
    let (d, out) = refused("five-mistakes", &read("tests/invalid/five-mistakes.yaml"));
    assert_eq!(d.errors(), 5, "{out}");
    let kinds: Vec<&Problem> = d.items.iter().map(|d| &d.problem).collect();
    assert!(matches!(
        kinds[..],
        [
            Problem::DstPortWithGre,
            Problem::OutOfRange { value: 5000, .. },
            Problem::GatewayInRange { .. },
            Problem::DuplicateUnderlay { .. },
            Problem::UnknownVlan { .. },
        ]
    ));
    insta::assert_snapshot!("five_mistakes", out);
}

#[test]
fn overlapping_ranges_point_at_a_range_line() {
    let text = read("tests/invalid/overlapping-ranges.yaml");
    let (d, out) = refused("overlap", &text);
    assert_eq!(d.items[0].at.line, 18);
    assert!(
        out.contains("`host-a`") && out.contains("`host-b`") && out.contains("VLAN `web`"),
        "{out}"
    );
    assert!(out.contains("18 |       web: 10.10.1.128/25"), "{out}");
}

#[test]
fn overlap_is_found_between_distant_hosts() {
    // The overlap is between the first and the last host; hosts in between are disjoint.
    let text = edit(&[("db: 10.20.3.0/24", "web: 10.10.1.64/26")]);
    let (d, _) = refused("distant", &text);
    assert!(
        matches!(&d.items[0].problem, Problem::RangesOverlap { first, second, .. } if first == "host-a" && second == "host-c")
    );
}

#[test]
fn none_on_a_mesh_is_a_warning_not_an_error() {
    let text = edit(&[("topology: mesh", "topology: mesh\n  loop_protection: none")]);
    let loaded = load("none.yaml", &text).unwrap();
    let problems: Vec<&Problem> = loaded.warnings.items.iter().map(|d| &d.problem).collect();
    assert_eq!(problems, [&Problem::UnprotectedCycle]);
    insta::assert_snapshot!(
        "unprotected_mesh_warning",
        loaded.warnings.render(&text, false)
    );
}

#[test]
fn colour_is_only_used_when_asked() {
    let text = read("tests/invalid/five-mistakes.yaml");
    let d = load("f.yaml", &text).unwrap_err();
    assert!(!d.render(&text, false).contains('\x1b'));
    assert!(d.render(&text, true).contains("\x1b[1;31merror\x1b[0m"));
}

#[test]
fn a_chain_warns_that_its_relays_are_single_points_of_failure() {
    let text = read("topologies/chain4.yaml");
    let loaded = load("chain4.yaml", &text).unwrap();
    let out = loaded.warnings.render(&text, false);
    assert!(
        out.contains("`hostB` and `hostC` are each a single point of failure"),
        "{out}"
    );
    insta::assert_snapshot!("chain4_warnings", out);
}

#[test]
fn an_empty_file_is_refused() {
    let (d, out) = refused("empty", "");
    assert_eq!(d.errors(), 1, "{out}");
    insta::assert_snapshot!("empty_file", out);
}

#[test]
fn a_file_without_hosts_is_refused() {
    let text = BASE[..BASE.find("hosts:").expect("base has hosts")].to_string() + "hosts: []\n";
    let (d, out) = refused("no_hosts", &text);
    assert!(
        matches!(
            d.items[..],
            [ovsnet::topology::Diagnostic {
                problem: Problem::NoHosts,
                ..
            }]
        ),
        "{out}"
    );
}

#[test]
fn every_invalid_fixture_is_refused_with_positions() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("tests/invalid exists") {
        let path = entry.expect("dir entry").path();
        let text = std::fs::read_to_string(&path).expect("fixture");
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        let (d, out) = refused(name, &text);
        assert!(d.errors() >= 1, "{out}");
        assert!(d.items.iter().all(|i| i.at.line > 0), "{out}");
        seen += 1;
    }
    assert!(seen >= 6, "only {seen} fixtures");
}

#[test]
fn duplicate_keys_are_reported_in_every_mapping() {
    let (d, out) = refused("duplicate-keys", &read("tests/invalid/duplicate-keys.yaml"));
    let keys: Vec<&str> = d
        .items
        .iter()
        .filter_map(|i| match &i.problem {
            Problem::DuplicateKey { key, .. } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(keys, ["cluster", "web"], "{out}");
}
