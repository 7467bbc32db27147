//! `ovsnet graph` renderings of every example, snapshotted so a reviewer sees what a
//! change does to them; and the mermaid contract: one node per host, one edge per tunnel.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::load_file;
use ovsnet::render::graph::{dot, mermaid, text};

const EXAMPLES: [(&str, &str); 4] = [
    ("mesh3", "topologies/mesh3-vxlan.yaml"),
    ("chain4", "topologies/chain4.yaml"),
    ("star5", "topologies/star5-gre.yaml"),
    ("ring4", "topologies/ring4-rstp.yaml"),
];

#[test]
fn renderings_of_the_examples() {
    for (name, path) in EXAMPLES {
        let loaded = load_file(path);
        let (t, a) = (&loaded.topology, &loaded.analysis);
        insta::assert_snapshot!(format!("{name}_text"), text(t, a));
        insta::assert_snapshot!(format!("{name}_mermaid"), mermaid(t, a));
        insta::assert_snapshot!(format!("{name}_dot"), dot(t, a));
    }
}

#[test]
fn mermaid_has_one_node_per_host_and_one_edge_per_tunnel() {
    for (expected_edges, path) in [
        (3, EXAMPLES[0].1),
        (3, EXAMPLES[1].1),
        (4, EXAMPLES[2].1),
        (4, EXAMPLES[3].1),
    ] {
        let loaded = load_file(path);
        let out = mermaid(&loaded.topology, &loaded.analysis);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "flowchart LR", "{path}");
        let nodes = lines.iter().filter(|l| l.contains("[\"")).count();
        let edges = lines.iter().filter(|l| l.contains(" ---|")).count();
        assert_eq!(nodes, loaded.topology.hosts.len(), "{path}");
        assert_eq!(edges, expected_edges, "{path}");
    }
}
