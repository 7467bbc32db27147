//! Renderings of the tunnel graph for `ovsnet graph`: plain text for a terminal, a
//! mermaid flowchart for markdown (pull requests, docs) and Graphviz dot. Pure: takes
//! the validated topology and its analysis, returns a string; no colour, no I/O.

use crate::topology::{Analysis, Protection, Topology};
use std::fmt::Write as _;

/// How loop protection is named in renderings.
pub fn protection_word(protection: Protection) -> &'static str {
    match protection {
        Protection::None => "none",
        Protection::SplitHorizon => "split horizon (protected tunnel ports)",
        Protection::Rstp => "rstp",
    }
}

/// A plain-text summary: the graph's facts, then every host with its tunnels.
pub fn text(topology: &Topology, analysis: &Analysis) -> String {
    let mut out = String::new();
    let t = &topology.tunnel;
    let _ = writeln!(
        out,
        "cluster {}: {} of {} hosts, {} {}",
        topology.cluster,
        t.shape.word(),
        topology.hosts.len(),
        analysis.tunnels(),
        plural(analysis.tunnels(), "tunnel", t.kind.ovs_name()),
    );
    let _ = writeln!(
        out,
        "loop protection: {}\n  because {}",
        protection_word(analysis.protection),
        analysis.protection_reason
    );
    let _ = writeln!(out, "overlay mtu: {}", analysis.overlay_mtu);
    let _ = writeln!(
        out,
        "diameter: {} {}",
        analysis.diameter,
        if analysis.diameter == 1 {
            "hop"
        } else {
            "hops"
        }
    );
    if !analysis.articulation_points.is_empty() {
        let _ = writeln!(
            out,
            "single points of failure: {}",
            analysis.articulation_points.join(", ")
        );
    }
    let _ = writeln!(out);
    let width = topology
        .hosts
        .iter()
        .map(|h| h.name.len())
        .max()
        .unwrap_or(0);
    for (i, host) in topology.hosts.iter().enumerate() {
        let peers: Vec<&str> = analysis
            .neighbours(i)
            .iter()
            .map(|&j| topology.hosts[j].name.as_str())
            .collect();
        let _ = writeln!(
            out,
            "{:<width$}  {:<15}  {} -> {}",
            host.name,
            host.underlay_ip.to_string(),
            peers.len(),
            if peers.is_empty() {
                "(none)".to_string()
            } else {
                peers.join(", ")
            },
        );
    }
    out
}

fn plural(n: usize, word: &str, kind: &str) -> String {
    format!("{kind} {word}{}", if n == 1 { "" } else { "s" })
}

/// A mermaid flowchart: one node per host, one undirected edge per tunnel.
pub fn mermaid(topology: &Topology, analysis: &Analysis) -> String {
    let mut out = String::from("flowchart LR\n");
    for (i, host) in topology.hosts.iter().enumerate() {
        let _ = writeln!(
            out,
            "    h{i}[\"{}<br/>{}\"]",
            escape_mermaid(&host.name),
            host.underlay_ip
        );
    }
    let kind = topology.tunnel.kind.ovs_name();
    for (a, b) in analysis.graph.edges() {
        let _ = writeln!(out, "    h{a} ---|{kind}| h{b}");
    }
    out
}

fn escape_mermaid(text: &str) -> String {
    text.replace('"', "#quot;")
}

/// A Graphviz dot undirected graph: one node per host, one edge per tunnel.
pub fn dot(topology: &Topology, analysis: &Analysis) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "graph \"{}\" {{", escape_dot(&topology.cluster));
    let _ = writeln!(
        out,
        "    label=\"{} {} · loop protection: {} · overlay mtu {}\";",
        escape_dot(&topology.cluster),
        topology.tunnel.shape.word(),
        protection_word(analysis.protection),
        analysis.overlay_mtu
    );
    let _ = writeln!(out, "    node [shape=box];");
    for host in &topology.hosts {
        let name = escape_dot(&host.name);
        let _ = writeln!(
            out,
            "    \"{name}\" [label=\"{name}\\n{}\"];",
            host.underlay_ip
        );
    }
    let kind = topology.tunnel.kind.ovs_name();
    for (a, b) in analysis.graph.edges() {
        let (a, b) = (
            escape_dot(&topology.hosts[a].name),
            escape_dot(&topology.hosts[b].name),
        );
        let _ = writeln!(out, "    \"{a}\" -- \"{b}\" [label=\"{kind}\"];");
    }
    out.push_str("}\n");
    out
}

fn escape_dot(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::load;

    const STAR: &str = "version: 1\ncluster: s\ntunnel: {type: gre, topology: star, hub: a}\nvlans: [{name: web, id: 10, subnet: 10.10.0.0/16}]\nhosts:\n  - {name: a, underlay_ip: 198.18.0.1}\n  - {name: b, underlay_ip: 198.18.0.2}\n  - {name: c, underlay_ip: 198.18.0.3}\n";

    #[test]
    fn mermaid_has_a_node_per_host_and_an_edge_per_tunnel() {
        let loaded = load("s.yaml", STAR).unwrap();
        let out = mermaid(&loaded.topology, &loaded.analysis);
        assert!(out.starts_with("flowchart LR\n"));
        assert_eq!(out.matches("[\"").count(), 3);
        assert_eq!(out.matches(" ---|gre| ").count(), 2);
    }

    #[test]
    fn dot_is_an_undirected_graph() {
        let loaded = load("s.yaml", STAR).unwrap();
        let out = dot(&loaded.topology, &loaded.analysis);
        assert!(out.starts_with("graph \"s\" {"));
        assert_eq!(out.matches(" -- ").count(), 2);
        assert!(out.ends_with("}\n"));
    }

    #[test]
    fn text_lists_every_host_with_its_peers() {
        let loaded = load("s.yaml", STAR).unwrap();
        let out = text(&loaded.topology, &loaded.analysis);
        assert!(out.contains("star of 3 hosts, 2 gre tunnels"), "{out}");
        assert!(out.contains("single points of failure: a"), "{out}");
        assert!(out.contains("a  198.18.0.1       2 -> b, c"), "{out}");
    }
}
