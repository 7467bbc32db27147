//! Helpers shared by the topology tests: reading fixtures and generating large files.

#![allow(dead_code)]

use ovsnet::state::{DesiredHost, Port};
use ovsnet::topology::{load, Loaded};

/// Reads a file under the crate root.
pub fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/{path}", env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|e| panic!("read {path}: {e}"))
}

/// Loads a file under the crate root, panicking with the rendered diagnostics.
pub fn load_file(path: &str) -> Loaded {
    let text = read(path);
    load(path, &text).unwrap_or_else(|d| panic!("{}", d.render(&text, false)))
}

/// A generated topology of `n` hosts with the given `tunnel:` body.
pub fn generated(n: usize, tunnel: &str) -> String {
    let mut text = format!(
        "version: 1\ncluster: big\ntunnel:\n{tunnel}vlans:\n  - {{name: web, id: 10, subnet: 10.0.0.0/8}}\nhosts:\n"
    );
    for i in 0..n {
        let ip = 0xC612_0000u32 + 1 + i as u32; // 198.18.0.0/15
        let ip = std::net::Ipv4Addr::from(ip);
        let (b, c) = (i / 256, i % 256);
        text.push_str(&format!(
            "  - name: host-{i:05}\n    underlay_ip: {ip}\n    ranges: {{web: 10.{b}.{c}.0/24}}\n"
        ));
    }
    text
}

/// The tunnel ports of a desired host (every port but the bridge's internal one).
pub fn tunnel_ports(host: &DesiredHost) -> Vec<&Port> {
    host.state
        .bridges
        .values()
        .flat_map(|b| b.ports.values())
        .filter(|p| p.row.external_id("ovsnet-role") == Some("tunnel"))
        .collect()
}
