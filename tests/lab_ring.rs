//! A 4-host ring with RSTP on the overlay bridges carries traffic once the spanning tree
//! has converged (hand-built overlay, as `ovsnet apply --lab` will build it).

mod lab_support;

use lab_support::*;
use ovsnet::lab;
use ovsnet::topology::{Protection, Shape, TunnelKind};
use std::time::{Duration, Instant};

#[test]
fn ring_with_rstp_passes_the_check_and_does_not_storm() {
    let links = [
        ("host-a", "host-b"),
        ("host-b", "host-c"),
        ("host-c", "host-d"),
        ("host-d", "host-a"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let guard = LabGuard::new(topology(
        &unique_cluster("g"),
        4,
        TunnelKind::Vxlan,
        Shape::Custom { links },
        false,
    ));
    let t = &guard.topology;
    lab::up(t, &guard.root).expect("up");
    build_overlay(t, &guard.root, Protection::Rstp);
    let analysis = analysis(t, Protection::Rstp);
    let started = Instant::now();
    let report = loop {
        let report = lab::check(t, &analysis, &guard.root, false).expect("check");
        if report.passed() || started.elapsed() > Duration::from_secs(20) {
            break report;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    eprintln!(
        "converged after {:?}\n{}",
        started.elapsed(),
        report.render()
    );
    assert!(report.passed(), "{}", report.render());
    let storm = lab::storm_probe(t, &analysis, &guard.root, Duration::from_millis(1000))
        .expect("storm probe");
    eprintln!("{storm:?}");
    assert!(!storm.is_storm(), "{storm:?}");
}
