//! End to end on real switches: canaries go first and a failing canary touches no other
//! host; a host that fails after its commit is rolled back to exactly what it held
//! (read back with stock `ovs-vsctl`), unless `--no-rollback`; `--format json` emits
//! one event per host.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::Value;
use support::cluster::{converge, ovsnet, snapshot, Cluster, Spec, BRIDGE};

fn has_bridge(cluster: &Cluster, host: &str) -> bool {
    cluster
        .host(host)
        .vsctl(&["list-br"])
        .lines()
        .any(|l| l == BRIDGE)
}

#[test]
fn a_stopped_switch_on_the_canary_stops_the_rollout() {
    let mut cluster = Cluster::start(3);
    let topo = cluster.topology("mesh3", &Spec::mesh(3));
    cluster.host_mut("host-a").stop_vswitchd();
    let run = ovsnet(&[
        "apply",
        &topo,
        "--auto-approve",
        "--canary",
        "1",
        "--switch-timeout",
        "2",
    ]);
    run.expect_code(1, "the canary fails");
    assert!(run.stderr.contains("`host-a`"), "{run}");
    assert!(
        run.stderr
            .contains("not applied (the rollout stopped after a failure): `host-b`, `host-c`"),
        "{run}"
    );
    assert!(
        run.stderr
            .contains("host-a: rolled back: its database holds again what it held before"),
        "{run}"
    );
    for host in ["host-a", "host-b", "host-c"] {
        assert!(!has_bridge(&cluster, host), "{host} holds nothing: {run}");
    }
}

#[test]
fn a_host_failing_after_its_commit_is_rolled_back_to_what_it_held() {
    let mut cluster = Cluster::start(2);
    converge(&cluster.topology("v1", &Spec::mesh(2)));
    let before = snapshot(cluster.host("host-a"));
    let v2 = cluster.topology(
        "v2",
        &Spec {
            key: Some(5002),
            ..Spec::mesh(2)
        },
    );
    cluster.host_mut("host-a").stop_vswitchd();
    let run = ovsnet(&[
        "apply",
        &v2,
        "--auto-approve",
        "--switch-timeout",
        "2",
        "--format",
        "json",
    ]);
    run.expect_code(1, "host-a's switch never takes the change");
    assert_eq!(
        snapshot(cluster.host("host-a")),
        before,
        "host-a is as it was before: {run}"
    );
    let key = cluster
        .host("host-b")
        .get("Interface", "vx-host-a", "options:key");
    assert_eq!(key, "\"5002\"", "host-b was applied: {run}");

    let events: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    let of = |host: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| e["host"] == host)
            .map(|e| e["event"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(of("host-a"), ["started", "failed", "rolled_back"], "{run}");
    assert_eq!(of("host-b"), ["started", "applied", "verified"], "{run}");
    let failed = events.iter().find(|e| e["event"] == "failed").unwrap();
    assert_eq!(failed["rollback"], "restored_in_database");
    assert!(failed["error"]
        .as_str()
        .unwrap()
        .contains("did not catch up"));
    let done = events.last().unwrap();
    assert_eq!(
        (
            done["event"].as_str(),
            done["converged"].as_u64(),
            done["failed"].as_u64()
        ),
        (Some("done"), Some(1), Some(1))
    );
    assert!(events.iter().all(|e| e["format_version"] == 1));
}

#[test]
fn no_rollback_keeps_the_failed_state_for_inspection() {
    let mut cluster = Cluster::start(2);
    converge(&cluster.topology("v1", &Spec::mesh(2)));
    let v2 = cluster.topology(
        "v2",
        &Spec {
            key: Some(5002),
            ..Spec::mesh(2)
        },
    );
    cluster.host_mut("host-a").stop_vswitchd();
    let run = ovsnet(&[
        "apply",
        &v2,
        "--auto-approve",
        "--switch-timeout",
        "1",
        "--no-rollback",
    ]);
    run.expect_code(1, "the switch is stopped");
    assert!(
        run.stderr
            .contains("host-a: not rolled back (--no-rollback)"),
        "{run}"
    );
    let key = cluster
        .host("host-a")
        .get("Interface", "vx-host-b", "options:key");
    assert_eq!(key, "\"5002\"", "the failed state is kept: {run}");
}

#[test]
fn one_at_a_time_gives_the_same_hosts_as_sixteen() {
    let cluster = Cluster::start(3);
    let topo = cluster.topology("mesh3", &Spec::mesh(3));
    let run = ovsnet(&["apply", &topo, "--auto-approve", "--parallel", "1"]);
    run.expect_code(0, "serial apply");
    let plan = ovsnet(&["plan", &topo, "--detailed-exitcode"]);
    plan.expect_code(0, "nothing left");
    let zero = ovsnet(&["apply", &topo, "--auto-approve", "--parallel", "0"]);
    zero.expect_code(64, "--parallel 0 is a usage error");
}
