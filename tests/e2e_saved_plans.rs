//! End to end on real switches: saved plans (`plan -o`, `apply PLANFILE`) are refused when
//! a host changed since planning and apply exactly what was reviewed otherwise; `--host`
//! limits plan and apply to the named hosts and contacts no other.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::cluster::{
    converge, is_empty, ovsnet, plan_json, planned_hosts, snapshot, Cluster, Spec, BRIDGE, NAMES,
};

fn rekeyed(key: u32) -> Spec {
    Spec {
        key: Some(key),
        ..Spec::mesh(3)
    }
}

#[test]
fn a_saved_plan_is_refused_when_a_host_changed_and_a_fresh_one_applies_what_was_reviewed() {
    let cluster = Cluster::start(3);
    converge(&cluster.topology("mesh3", &Spec::mesh(3)));
    let topo = cluster.topology("mesh3-key9", &rekeyed(9));
    let saved = cluster.file("key9.plan");
    ovsnet(&["plan", &topo, "-o", &saved]).expect_code(0, "plan -o");

    // Someone changes host-b by hand after the plan was reviewed.
    let b = cluster.host("host-b");
    b.vsctl(&[
        "set",
        "Interface",
        "vx-host-a",
        "options:remote_ip=198.18.9.9",
    ]);
    let before: Vec<_> = NAMES[..3]
        .iter()
        .map(|h| snapshot(cluster.host(h)))
        .collect();
    let stale = ovsnet(&["apply", &saved, "--auto-approve"]);
    stale.expect_code(1, "a stale plan is refused");
    assert!(stale.stderr.contains("stale"), "{stale}");
    assert!(stale.stderr.contains("`host-b`"), "names the host: {stale}");
    assert!(
        !stale.stderr.contains("`host-a`") && !stale.stderr.contains("`host-c`"),
        "names only the changed host: {stale}"
    );
    let after: Vec<_> = NAMES[..3]
        .iter()
        .map(|h| snapshot(cluster.host(h)))
        .collect();
    assert_eq!(before, after, "nothing changed on any host");

    // A fresh saved plan applies exactly what it holds, even if the topology file has
    // moved on since: apply never re-plans silently.
    let fresh = cluster.file("fresh.plan");
    ovsnet(&["plan", &topo, "-o", &fresh]).expect_code(0, "plan -o");
    let moved_on = cluster.topology("mesh3-key9", &rekeyed(11));
    assert_eq!(moved_on, topo, "the same file, rewritten");
    let applied = ovsnet(&["apply", &fresh, "--auto-approve"]);
    applied.expect_code(0, "a fresh plan applies");
    for (host, peer) in [("host-a", "vx-host-b"), ("host-b", "vx-host-a")] {
        let h = cluster.host(host);
        assert_eq!(h.get("Interface", peer, "options:key"), "\"9\"", "{host}");
    }
    assert_eq!(
        b.get("Interface", "vx-host-a", "options:remote_ip"),
        "\"198.18.0.1\"",
        "the reviewed plan repaired host-b's drift"
    );
    // Once applied, the plan describes a past that no longer exists.
    let twice = ovsnet(&["apply", &fresh, "--auto-approve"]);
    twice.expect_code(1, "an applied plan is stale");
    assert!(twice.stderr.contains("stale"), "{twice}");
    let reviewed = cluster.topology("mesh3-key9", &rekeyed(9));
    ovsnet(&["plan", &reviewed, "--detailed-exitcode"]).expect_code(0, "the next plan is empty");
}

#[test]
fn host_selection_limits_plan_and_apply_and_contacts_no_other_host() {
    let mut cluster = Cluster::start(3);
    let topo = cluster.topology("mesh3", &Spec::mesh(3));
    // host-c is unreachable: any attempt to contact it fails the command.
    cluster.host_mut("host-c").stop_ovsdb();
    ovsnet(&["plan", &topo, "--detailed-exitcode"]).expect_code(1, "host-c is down");

    let a_only = ovsnet(&["plan", &topo, "--host", "host-a", "--detailed-exitcode"]);
    a_only.expect_code(2, "host-a alone plans normally, with changes");
    let json = plan_json(&[&topo, "--host", "host-a"]);
    assert_eq!(planned_hosts(&json), ["host-a"]);

    // A saved plan of two hosts, applied one host at a time.
    let saved = cluster.file("ab.plan");
    ovsnet(&[
        "plan", &topo, "--host", "host-a", "--host", "host-b", "-o", &saved,
    ])
    .expect_code(0, "plan -o of the reachable hosts");
    let first = ovsnet(&["apply", &saved, "--host", "host-a", "--auto-approve"]);
    first.expect_code(0, "apply the saved plan on host-a only");
    assert_eq!(
        cluster.host("host-a").vsctl(&["list-ports", BRIDGE]),
        "vx-host-b\nvx-host-c\n"
    );
    assert_eq!(
        cluster.host("host-b").vsctl(&["list-br"]),
        "",
        "host-b untouched"
    );
    let second = ovsnet(&["apply", &saved, "--host", "host-b", "--auto-approve"]);
    second.expect_code(
        0,
        "host-b is unchanged since the plan, so it is still current",
    );
    assert_eq!(
        cluster.host("host-b").vsctl(&["list-ports", BRIDGE]),
        "vx-host-a\nvx-host-c\n"
    );

    let both = plan_json(&[&topo, "--host", "host-a", "--host", "host-b"]);
    assert!(is_empty(&both), "{both:#}");
    let direct = ovsnet(&["apply", &topo, "--host", "host-b", "--auto-approve"]);
    direct.expect_code(0, "apply --host with nothing to do");
    assert!(direct.stdout.contains("nothing to apply"), "{direct}");
}

#[test]
fn a_plan_with_an_unreachable_host_was_saved_without_it() {
    let mut cluster = Cluster::start(2);
    let topo = cluster.topology("mesh2", &Spec::mesh(2));
    cluster.host_mut("host-b").stop_ovsdb();
    let saved = cluster.file("partial.plan");
    let run = ovsnet(&["plan", &topo, "-o", &saved]);
    run.expect_code(1, "host-b cannot be planned");
    assert!(
        run.stderr
            .contains(&format!("the plan was not saved to `{saved}`")),
        "{run}"
    );
    assert!(
        !std::path::Path::new(&saved).exists(),
        "a saved plan lacking host-b would apply as if host-b were fine"
    );
}

#[test]
fn a_host_outside_the_saved_plan_was_applied_silently_as_nothing() {
    let cluster = Cluster::start(2);
    let topo = cluster.topology("mesh2", &Spec::mesh(2));
    let saved = cluster.file("a.plan");
    ovsnet(&["plan", &topo, "--host", "host-a", "-o", &saved]).expect_code(0, "plan -o");
    let run = ovsnet(&["apply", &saved, "--host", "host-b", "--auto-approve"]);
    run.expect_code(64, "host-b is not in the plan");
    assert!(run.stderr.contains("`--host host-b`"), "{run}");
    assert!(run.stderr.contains("it covers host-a"), "{run}");
    assert_eq!(cluster.host("host-a").vsctl(&["list-br"]), "");
    assert_eq!(cluster.host("host-b").vsctl(&["list-br"]), "");
}
