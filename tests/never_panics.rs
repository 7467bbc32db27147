//! Property: whatever the text, loading never panics, and a topology that loads goes on
//! through graph analysis, every graph rendering, desired state and an offline plan of
//! every host without panicking either. The graphs are arbitrary: any number of hosts,
//! any links (disconnected, self-links, repeats, unknown hosts), every shape and every
//! `loop_protection` — the generators of `topology_props.rs` make only connected graphs,
//! which is how the panic of issue 9 (a disconnected graph under `protected`) got past
//! them.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ovsnet::offline::{self, HostRef};
use ovsnet::plan::PlanError;
use ovsnet::render::{self, Format};
use ovsnet::topology::load;
use proptest::prelude::*;

/// Everything a command does with a topology before it contacts a host.
fn exercise(text: &str) {
    match load("p.yaml", text) {
        Err(diagnostics) => {
            let out = diagnostics.render(text, false);
            assert!(out.len() <= 2 << 20, "{} bytes of diagnostics", out.len());
        }
        Ok(loaded) => {
            let (topology, analysis) = (&loaded.topology, &loaded.analysis);
            let _ = loaded.warnings.render(text, true);
            let _ = render::graph::text(topology, analysis);
            let _ = render::graph::mermaid(topology, analysis);
            let _ = render::graph::dot(topology, analysis);
            let hosts: Vec<HostRef> = topology
                .hosts
                .iter()
                .enumerate()
                .map(|(index, h)| HostRef {
                    index,
                    endpoint: h.ovsdb.to_string(),
                })
                .collect();
            offline::each_host(topology, analysis, &hosts, |host| {
                let mut out = Vec::new();
                render::render_host_to(Format::Text, &host, &mut out).unwrap();
                Ok::<(), PlanError>(())
            })
            .unwrap();
        }
    }
}

/// A topology of `hosts` hosts with this tunnel section.
#[derive(Clone, Debug)]
struct Graph {
    hosts: usize,
    kind: &'static str,
    shape: &'static str,
    /// Index `hosts` names a host that does not exist.
    hub: Option<usize>,
    links: Vec<(usize, usize)>,
    protection: Option<&'static str>,
    key: Option<i64>,
    mtu: Option<i64>,
}

impl Graph {
    fn name(&self, i: usize) -> String {
        if i < self.hosts {
            format!("h{i}")
        } else {
            "ghost".to_string()
        }
    }

    fn text(&self) -> String {
        let mut t = format!(
            "version: 1\ncluster: p\ntunnel:\n  type: {}\n  topology: {}\n",
            self.kind, self.shape
        );
        if let Some(hub) = self.hub {
            t.push_str(&format!("  hub: {}\n", self.name(hub)));
        }
        if !self.links.is_empty() {
            let links: Vec<String> = self
                .links
                .iter()
                .map(|(a, b)| format!("[{}, {}]", self.name(*a), self.name(*b)))
                .collect();
            t.push_str(&format!("  links: [{}]\n", links.join(", ")));
        }
        if let Some(p) = self.protection {
            t.push_str(&format!("  loop_protection: {p}\n"));
        }
        if let Some(key) = self.key {
            t.push_str(&format!("  key: {key}\n"));
        }
        if let Some(mtu) = self.mtu {
            t.push_str(&format!("underlay:\n  mtu: {mtu}\n"));
        }
        t.push_str("vlans:\n  - {name: web, id: 10, subnet: 10.0.0.0/8}\nhosts:\n");
        for i in 0..self.hosts {
            t.push_str(&format!(
                "  - {{name: h{i}, underlay_ip: 198.18.0.{}, ranges: {{web: 10.0.{i}.0/24}}}}\n",
                i + 1
            ));
        }
        t
    }
}

fn graph() -> impl Strategy<Value = Graph> {
    (1usize..10, 0usize..4).prop_flat_map(|(n, shape)| {
        let shape = ["mesh", "chain", "star", "custom"][shape];
        // Mostly the fields the shape uses, sometimes the wrong ones (refused, never a panic).
        let hub = if shape == "star" {
            prop::option::weighted(0.95, 0..=n).boxed()
        } else {
            prop::option::weighted(0.05, 0..=n).boxed()
        };
        let links = if shape == "custom" { 0..16usize } else { 0..1 };
        (
            prop::sample::select(vec!["vxlan", "gre", "geneve"]),
            hub,
            prop::collection::vec((0..=n, 0..=n), links),
            prop::option::of(prop::sample::select(vec![
                "auto",
                "protected",
                "rstp",
                "none",
            ])),
            prop::option::weighted(0.3, prop_oneof![Just(-1i64), 0i64..70_000, Just(i64::MAX)]),
            prop::option::weighted(0.3, prop_oneof![0i64..2000, Just(9000i64)]),
        )
            .prop_map(move |(kind, hub, links, protection, key, mtu)| Graph {
                hosts: n,
                kind,
                shape,
                hub,
                links,
                protection,
                key,
                mtu,
            })
    })
}

/// Pieces of YAML that, strung together, reach the parser's and the schema's corners.
fn yaml_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "version: 1\n",
            "cluster: c\n",
            "tunnel:\n",
            "  type: vxlan\n",
            "  topology: custom\n",
            "  links: [[a, b]]\n",
            "  loop_protection: protected\n",
            "vlans:\n",
            "  - {name: w, id: 1, subnet: 10.0.0.0/8}\n",
            "hosts:\n",
            "  - {name: a, underlay_ip: 198.18.0.1, ranges: {w: 10.0.1.0/24}}\n",
            "  - name: b\n",
            "    underlay_ip: 198.18.0.2\n",
            "    ranges:\n",
            "      w: 10.0.2.0/24\n",
            "&x ",
            "*x",
            "<<: *x\n",
            "? ",
            ": ",
            "- ",
            "[",
            "]",
            "{",
            "}",
            ",",
            "\"",
            "'",
            "|\n",
            ">-\n",
            "\t",
            "\n",
            "  ",
            "---\n",
            "...\n",
            "%YAML 1.2\n",
            "!!str ",
            "!tag ",
            "#c\n",
            "~",
            "18446744073709551616",
            "1e999",
            "-0",
            "0x10",
            ".inf",
            "\u{1b}[31m",
            "\u{feff}",
            "é",
        ])
        .prop_map(str::to_string),
        "[a-z_]{1,8}: [a-z0-9./]{0,12}\n",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "(?s).{0,300}") {
        exercise(&text);
    }

    #[test]
    fn yaml_shaped_text_never_panics(pieces in prop::collection::vec(yaml_piece(), 0..60)) {
        exercise(&pieces.concat());
    }

    #[test]
    fn arbitrary_graphs_never_panic_in_load_analysis_or_plan(graph in graph()) {
        exercise(&graph.text());
    }
}

#[test]
fn the_graph_generator_makes_both_loadable_and_refused_topologies() {
    // Otherwise the property above would never reach the plan (or the diagnostics).
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut loaded, mut refused) = (0, 0);
    for _ in 0..300 {
        let graph = graph().new_tree(&mut runner).unwrap().current();
        match load("p.yaml", &graph.text()) {
            Ok(_) => loaded += 1,
            Err(_) => refused += 1,
        }
    }
    assert!(
        loaded >= 30 && refused >= 30,
        "{loaded} loaded, {refused} refused"
    );
}

#[test]
fn the_graph_generator_reaches_disconnected_protected_graphs_that_load_is_asked_about() {
    // The panic, written by the generator: it must come back as diagnostics.
    let graph = Graph {
        hosts: 4,
        kind: "vxlan",
        shape: "custom",
        hub: None,
        links: vec![(0, 1), (2, 3)],
        protection: Some("protected"),
        key: None,
        mtu: None,
    };
    let text = graph.text();
    assert!(load("p.yaml", &text).is_err(), "{text}");
    exercise(&text);
}
