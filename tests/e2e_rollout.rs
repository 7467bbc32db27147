//! End to end on real switches: canaries go first and a failing canary touches no other
//! host; a host that fails after its commit (its switch stopped, a bridge moved to a
//! datapath the host cannot open, a tunnel the switch refuses, a concurrent write that
//! leaves the plan not empty) is rolled back to exactly what it held (read back with
//! stock `ovs-vsctl` and `ovs-appctl`), unless `--no-rollback`; `--format json` emits
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

/// Whether ovs-vswitchd really runs `bridge` on `host` (its datapath holds it), asked
/// of the switch itself, not of the database.
fn switch_runs(cluster: &Cluster, host: &str) -> String {
    cluster.host(host).appctl(&["dpif/show"])
}

#[test]
fn a_bridge_moved_to_a_datapath_the_host_cannot_open_fails_and_is_rolled_back() {
    let cluster = Cluster::start(1);
    converge(&cluster.topology("netdev", &Spec::mesh(1)));
    let before = snapshot(cluster.host("host-a"));
    // This machine has no openvswitch kernel module: ovs-vswitchd lists `system` among
    // its datapath types but cannot open one, and keeps the bridge's old ofports.
    let system = cluster.topology(
        "system",
        &Spec {
            datapath: "system",
            ..Spec::mesh(1)
        },
    );
    let run = ovsnet(&["apply", &system, "--auto-approve"]);
    run.expect_code(1, "the switch cannot open a system datapath");
    assert!(
        run.stderr
            .contains("could not open bridge `br-ovsnet` on datapath `system`"),
        "{run}"
    );
    assert!(
        run.stderr
            .contains("host-a: rolled back: it holds again what it held before (verified)"),
        "{run}"
    );
    assert_eq!(snapshot(cluster.host("host-a")), before, "{run}");
    let dpif = switch_runs(&cluster, "host-a");
    assert!(dpif.contains("netdev@") && dpif.contains(BRIDGE), "{dpif}");
    ovsnet(&["plan", &cluster.file("netdev.yaml"), "--detailed-exitcode"])
        .expect_code(0, "the old topology is what the host holds");
}

#[test]
fn no_rollback_keeps_a_bridge_on_a_datapath_the_host_cannot_open() {
    let cluster = Cluster::start(1);
    converge(&cluster.topology("netdev", &Spec::mesh(1)));
    let system = cluster.topology(
        "system",
        &Spec {
            datapath: "system",
            ..Spec::mesh(1)
        },
    );
    let run = ovsnet(&["apply", &system, "--auto-approve", "--no-rollback"]);
    run.expect_code(1, "the switch cannot open a system datapath");
    assert!(run.stderr.contains("on datapath `system`"), "{run}");
    assert!(
        run.stderr
            .contains("host-a: not rolled back (--no-rollback)"),
        "{run}"
    );
    let host = cluster.host("host-a");
    assert_eq!(host.get("Bridge", BRIDGE, "datapath_type"), "system");
    let dpif = switch_runs(&cluster, "host-a");
    assert!(
        !dpif.contains(BRIDGE),
        "the switch runs no such bridge: {dpif}"
    );
}

#[test]
fn a_tunnel_the_switch_fails_after_the_commit_is_rolled_back() {
    let cluster = Cluster::start(2);
    // A foreign tunnel on host-a with the very remote, key and port ovsnet's tunnel to
    // host-b will have: ovs-vswitchd refuses the second one ("File exists").
    let host = cluster.host("host-a");
    host.vsctl(&[
        "add-br",
        "br-foreign",
        "--",
        "set",
        "Bridge",
        "br-foreign",
        "datapath_type=netdev",
        "--",
        "add-port",
        "br-foreign",
        "vx-foreign",
        "--",
        "set",
        "Interface",
        "vx-foreign",
        "type=vxlan",
        "options:remote_ip=198.18.0.2",
        "options:key=5001",
    ]);
    let before = snapshot(host);
    let run = ovsnet(&[
        "apply",
        &cluster.topology("mesh2", &Spec::mesh(2)),
        "--auto-approve",
    ]);
    run.expect_code(1, "host-a's tunnel collides with the foreign one");
    assert!(
        run.stderr
            .contains("could not set up interface `vx-host-b` (ofport -1)"),
        "{run}"
    );
    assert!(
        run.stderr
            .contains("host-a: rolled back: it holds again what it held before (verified)"),
        "{run}"
    );
    assert_eq!(snapshot(host), before, "host-a is as it was: {run}");
    assert!(has_bridge(&cluster, "host-b"), "host-b was applied: {run}");
}

#[test]
fn a_host_changed_under_the_apply_is_not_verified_and_is_rolled_back() {
    let cluster = Cluster::start(2);
    converge(&cluster.topology("v1", &Spec::mesh(2)));
    let host = cluster.host("host-a");
    let before = snapshot(host);
    let v2 = cluster.topology(
        "v2",
        &Spec {
            key: Some(5002),
            ..Spec::mesh(2)
        },
    );
    // Deterministic interleaving: with host-a's switch frozen, ovsnet commits and then
    // waits for it; meanwhile another writer changes ovsnet's tunnel; only then does
    // the switch run again, so ovsnet's check after apply sees the other write.
    host.pause_vswitchd();
    let apply = std::process::Command::new(env!("CARGO_BIN_EXE_ovsnet"))
        .args(["apply", &v2, "--auto-approve", "--switch-timeout", "120"])
        .env("NO_COLOR", "1")
        .env_remove("OVSNET_LAB_DIR")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ovsnet");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while host.get("Interface", "vx-host-b", "options:key") != "\"5002\"" {
        assert!(
            std::time::Instant::now() < deadline,
            "ovsnet never committed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    host.vsctl(&[
        "--no-wait",
        "set",
        "Interface",
        "vx-host-b",
        "options:key=7777",
    ]);
    host.resume_vswitchd();
    let out = apply.wait_with_output().expect("ovsnet ran");
    let run = support::cluster::Run {
        code: out.status.code().expect("exited"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    run.expect_code(1, "what host-a holds after apply is not what was planned");
    assert!(
        run.stderr
            .contains("host `host-a`: verification failed: after apply the plan is not empty"),
        "{run}"
    );
    assert!(
        run.stderr.contains("options:key"),
        "the leftover is named: {run}"
    );
    assert!(
        run.stderr
            .contains("host-a: rolled back: it holds again what it held before (verified)"),
        "{run}"
    );
    assert_eq!(snapshot(host), before, "host-a is as it was: {run}");
}
