//! `lab::check` against a lab whose overlay is built by hand (as `ovsnet apply --lab`
//! will build it): all green on a healthy overlay, and red, naming the pairs, when a
//! tunnel is cut or when something bridges two VLANs.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lab_support;

use lab_support::*;
use ovsnet::lab;
use ovsnet::topology::{Protection, Shape, TunnelKind};
use std::process::Command;

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn healthy_mesh_is_all_green_and_probes_are_removed() {
    let guard = LabGuard::new(topology(
        &unique_cluster("c"),
        3,
        TunnelKind::Vxlan,
        Shape::Mesh,
        true,
    ));
    let t = &guard.topology;
    let analysis = up_with_overlay(&guard, Protection::SplitHorizon);
    let report = lab::check(t, &analysis, &guard.root, false).expect("check");
    let text = report.render();
    eprintln!("{text}");
    assert!(report.passed(), "{text}");
    assert_eq!(report.overlay_mtu, 1446);
    assert_eq!(report.vlans.len(), 2);
    for m in &report.vlans {
        assert_eq!(m.hosts, ["host-a", "host-b", "host-c"]);
        let cells: usize = m.cells.iter().flatten().flatten().count();
        assert_eq!(cells, 6, "every directed pair was tested");
    }
    // 6 probes, 15 pairs of which 6 share a VLAN: 9 cross-VLAN pairs.
    assert_eq!(report.isolation.len(), 9);
    assert!(text.contains("VLAN web (10)"));
    assert!(text.contains("check passed"));
    assert!(
        !report.broadcast.is_storm() && report.broadcast.total > 0,
        "{:?}",
        report.broadcast
    );
    // Probes are gone: no probe namespaces, no probe ports.
    let left: Vec<String> = cluster_namespaces(&t.cluster)
        .into_iter()
        .filter(|n| n.contains(".v"))
        .collect();
    assert!(left.is_empty(), "probe namespaces left: {left:?}");
    // ... and so are their container ports (the probes were plugged in by attach).
    for h in &t.hosts {
        let out = Command::new("ovs-vsctl")
            .args([
                &format!("--db={}", sock(t, &guard.root, &h.name)),
                "--bare",
                "--columns=name",
                "find",
                "port",
                "external_ids:ovsnet-role=container",
            ])
            .output()
            .unwrap();
        let left = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(left.is_empty(), "probe ports left on {}: {left}", h.name);
    }
}

#[test]
fn cut_tunnel_in_a_chain_fails_and_names_the_broken_pairs() {
    let guard = LabGuard::new(topology(
        &unique_cluster("x"),
        3,
        TunnelKind::Gre,
        Shape::Chain,
        false,
    ));
    let t = &guard.topology;
    let analysis = up_with_overlay(&guard, Protection::None);
    // Cut host-b's tunnel to host-c by hand.
    let port = tunnel_port(t, "host-c");
    vsctl(
        &sock(t, &guard.root, "host-b"),
        &["del-port", "br-ovsnet", &port],
    );
    let report = lab::check(t, &analysis, &guard.root, false).expect("check runs");
    let text = report.render();
    eprintln!("{text}");
    assert!(!report.passed());
    let mut broken = report.broken_pairs();
    broken.sort();
    assert_eq!(
        broken,
        [
            "web: host-a -> host-c (icmp, tcp, mtu)",
            "web: host-b -> host-c (icmp, tcp, mtu)",
            "web: host-c -> host-a (icmp, tcp, mtu)",
            "web: host-c -> host-b (icmp, tcp, mtu)",
        ]
    );
    assert!(text.contains("check FAILED: 4 broken"), "{text}");
}

#[test]
fn a_port_pair_bridging_two_vlans_is_reported_as_a_leak() {
    let guard = LabGuard::new(topology(
        &unique_cluster("v"),
        2,
        TunnelKind::Geneve,
        Shape::Mesh,
        true,
    ));
    let t = &guard.topology;
    let analysis = up_with_overlay(&guard, Protection::SplitHorizon);
    let clean = lab::check(t, &analysis, &guard.root, false).expect("check");
    assert!(clean.passed(), "{}", clean.render());
    assert!(clean.isolation.iter().all(|i| i.isolated));
    assert_eq!(clean.isolation.len(), 4);

    // A foreign veth pair on host-a, one end in VLAN 10, the other in VLAN 20: the two
    // VLANs become one segment. Isolation must now fail, on the same host and across.
    let ns = lab::host_netns(&t.cluster, "host-a");
    ip(&[
        "-n", &ns, "link", "add", "leak10", "type", "veth", "peer", "name", "leak20",
    ]);
    ip(&["-n", &ns, "link", "set", "leak10", "up"]);
    ip(&["-n", &ns, "link", "set", "leak20", "up"]);
    let ep = sock(t, &guard.root, "host-a");
    vsctl(
        &ep,
        &[
            "add-port",
            "br-ovsnet",
            "leak10",
            "tag=10",
            "--",
            "add-port",
            "br-ovsnet",
            "leak20",
            "tag=20",
        ],
    );
    let leaky = lab::check(t, &analysis, &guard.root, false).expect("check");
    eprintln!("{}", leaky.render());
    assert!(!leaky.passed());
    let leaks = leaky.isolation.iter().filter(|i| !i.isolated).count();
    assert_eq!(leaks, 4, "{}", leaky.render());
    assert!(leaky
        .broken_pairs()
        .iter()
        .any(|b| b == "leak: web@host-a <-> db@host-a"));
    assert!(leaky
        .broken_pairs()
        .iter()
        .any(|b| b == "leak: web@host-a <-> db@host-b"));
}

#[test]
fn kept_probes_stay_and_a_second_check_reuses_their_names() {
    let guard = LabGuard::new(topology(
        &unique_cluster("k"),
        2,
        TunnelKind::Vxlan,
        Shape::Chain,
        false,
    ));
    let t = &guard.topology;
    let analysis = up_with_overlay(&guard, Protection::None);
    let first = lab::check(t, &analysis, &guard.root, true).expect("check");
    assert!(first.passed(), "{}", first.render());
    assert_eq!(first.kept_probes.len(), 2);
    for ns in &first.kept_probes {
        assert!(cluster_namespaces(&t.cluster).contains(ns), "{ns} kept");
    }
    // Kept probes are containers plugged in by attach: marked ports recording the probe's
    // namespace and the address the report names, from the host's range.
    for (h, probe) in t.hosts.iter().zip(&first.vlans[0].hosts) {
        assert_eq!(&h.name, probe);
        let out = Command::new("ovs-vsctl")
            .args([
                &format!("--db={}", sock(t, &guard.root, &h.name)),
                "--bare",
                "--columns=external_ids",
                "find",
                "port",
                "external_ids:ovsnet-role=container",
            ])
            .output()
            .unwrap();
        let ids = String::from_utf8_lossy(&out.stdout).into_owned();
        let ns = lab::probe_netns(&t.cluster, &h.name, 10);
        assert!(ids.contains(&format!("ovsnet-netns={ns}")), "{ids}");
        let range = h.ranges["web"];
        let address: std::net::Ipv4Addr = ids
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("ovsnet-address="))
            .and_then(|a| a.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {ids}"));
        assert!(range.contains(&address), "{address} not in {range}");
    }
    let second = lab::check(t, &analysis, &guard.root, false).expect("second check");
    assert!(second.passed(), "{}", second.render());
    let probes_left = cluster_namespaces(&t.cluster)
        .into_iter()
        .filter(|n| n.contains(".v"))
        .count();
    assert_eq!(probes_left, 0);
}

#[test]
fn check_without_the_overlay_bridge_says_to_apply_first() {
    let guard = LabGuard::new(topology(
        &unique_cluster("n"),
        2,
        TunnelKind::Vxlan,
        Shape::Mesh,
        false,
    ));
    let t = &guard.topology;
    lab::up(t, &guard.root).expect("up");
    let err = lab::check(
        t,
        &analysis(t, Protection::SplitHorizon),
        &guard.root,
        false,
    )
    .expect_err("no bridge");
    assert!(
        matches!(err, lab::LabError::NoOverlayBridge { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("ovsnet apply --lab"));
}

#[test]
fn jumbo_underlay_gives_a_jumbo_overlay_that_passes_full_size_frames() {
    let mut t = topology(
        &unique_cluster("j"),
        2,
        TunnelKind::Vxlan,
        Shape::Chain,
        false,
    );
    t.underlay_mtu = 9000;
    let guard = LabGuard::new(t);
    let t = &guard.topology;
    let analysis = up_with_overlay(&guard, Protection::None);
    assert_eq!(analysis.overlay_mtu, 8946);
    let report = lab::check(t, &analysis, &guard.root, false).expect("check");
    assert!(report.passed(), "{}", report.render());
}

#[test]
fn check_of_a_lab_that_is_not_up_says_to_start_it() {
    let guard = LabGuard::new(topology(
        &unique_cluster("o"),
        2,
        TunnelKind::Vxlan,
        Shape::Mesh,
        false,
    ));
    let t = &guard.topology;
    let err = lab::check(
        t,
        &analysis(t, Protection::SplitHorizon),
        &guard.root,
        false,
    )
    .expect_err("not up");
    assert!(matches!(err, lab::LabError::NotUp { .. }), "{err}");
    assert!(err.to_string().contains("ovsnet lab up"), "{err}");
}
