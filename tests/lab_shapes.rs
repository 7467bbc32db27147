//! Every shape × tunnel type carries traffic in the lab, with the overlay built by hand
//! the way `ovsnet apply --lab` builds it. One lab serves all nine: the overlay bridge
//! is rebuilt between rounds, so the cost of `lab up` is paid once.

mod lab_support;

use lab_support::*;
use ovsnet::lab;
use ovsnet::topology::{Protection, Shape, TunnelKind};

#[test]
fn every_shape_and_tunnel_type_passes_the_check() {
    // One VLAN: isolation is proven elsewhere, and each cross-VLAN pair costs a deadline.
    let base = topology(
        &unique_cluster("a"),
        3,
        TunnelKind::Vxlan,
        Shape::Mesh,
        false,
    );
    let guard = LabGuard::new(base.clone());
    lab::up(&base, &guard.root).expect("up");
    let mut failures = Vec::new();
    for kind in [TunnelKind::Vxlan, TunnelKind::Gre, TunnelKind::Geneve] {
        for shape in [
            Shape::Mesh,
            Shape::Chain,
            Shape::Star {
                hub: "host-b".into(),
            },
        ] {
            let mut t = base.clone();
            t.tunnel.kind = kind;
            t.tunnel.shape = shape.clone();
            let protection = if shape == Shape::Mesh {
                Protection::SplitHorizon
            } else {
                Protection::None
            };
            for h in &t.hosts {
                vsctl(
                    &sock(&t, &guard.root, &h.name),
                    &["--if-exists", "del-br", "br-ovsnet"],
                );
            }
            build_overlay(&t, &guard.root, protection);
            let report =
                lab::check(&t, &analysis(&t, protection), &guard.root, false).expect("check");
            eprintln!(
                "{} {}: {}",
                kind.ovs_name(),
                shape.word(),
                if report.passed() { "pass" } else { "FAIL" }
            );
            if !report.passed() {
                failures.push(format!(
                    "{} {}\n{}",
                    kind.ovs_name(),
                    shape.word(),
                    report.render()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
