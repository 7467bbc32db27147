//! The reason for protected tunnel ports, proven: a 4-host full mesh whose tunnel ports
//! are not protected turns one broadcast into a storm; the same mesh with split horizon
//! handles it with a few packets. One lab, measured clean first, then unprotected.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lab_support;

use lab_support::*;
use ovsnet::lab;
use ovsnet::topology::{Protection, Shape, TunnelKind};
use std::time::Duration;

#[test]
fn unprotected_mesh_storms_and_split_horizon_does_not() {
    let guard = LabGuard::new(topology(
        &unique_cluster("s"),
        4,
        TunnelKind::Vxlan,
        Shape::Mesh,
        false,
    ));
    let t = &guard.topology;
    let analysis = up_with_overlay(&guard, Protection::SplitHorizon);
    let window = Duration::from_millis(1500);

    let clean = lab::storm_probe(t, &analysis, &guard.root, window).expect("clean probe");
    eprintln!("split horizon: {clean:?}");
    assert!(!clean.is_storm(), "{clean:?}");

    // Same mesh, tunnel ports unprotected (loop_protection: none).
    for h in &t.hosts {
        let ep = sock(t, &guard.root, &h.name);
        for peer in t.hosts.iter().filter(|p| p.name != h.name) {
            vsctl(
                &ep,
                &[
                    "set",
                    "port",
                    &tunnel_port(t, &peer.name),
                    "protected=false",
                ],
            );
        }
    }
    let storm = lab::storm_probe(t, &analysis, &guard.root, window).expect("storm probe");
    eprintln!("unprotected: {storm:?}");
    // The check itself fails on a storming overlay, and says why.
    let check = lab::check(t, &analysis, &guard.root, false).expect("check");
    eprintln!("{}", check.render());
    // Tear down at once: a storm eats the CPU until its switches stop.
    lab::down(t, &guard.root).expect("down");
    assert!(storm.is_storm(), "{storm:?}");
    assert!(!check.passed());
    assert!(
        check.broken_pairs().iter().any(|b| b.starts_with("storm:")),
        "{}",
        check.render()
    );
    assert!(check.render().contains("BROADCAST STORM"));
    assert!(check.traffic_skipped);
    assert!(
        storm.total > 20 * clean.total.max(1),
        "clean {clean:?} vs storm {storm:?}"
    );
}
