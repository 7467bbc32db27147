//! End to end on real switches: failures on one host are reported naming it, exit 1, and
//! never hold the other hosts back; exit codes of `plan` and `apply` on real hosts.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};
use support::cluster::{converge, ovsnet, snapshot, Cluster, Spec, BRIDGE, NAMES};

fn ports(cluster: &Cluster, host: &str) -> Vec<String> {
    let out = cluster.host(host).vsctl(&["list-ports", BRIDGE]);
    out.split_whitespace().map(str::to_string).collect()
}

#[test]
fn a_stopped_switch_is_a_timeout_naming_the_host_while_the_others_apply() {
    let mut cluster = Cluster::start(3);
    let topo = cluster.topology("mesh3", &Spec::mesh(3));
    cluster.host_mut("host-b").stop_vswitchd();

    let started = Instant::now();
    let run = ovsnet(&["apply", &topo, "--auto-approve", "--switch-timeout", "2"]);
    run.expect_code(1, "the switch never catches up on host-b");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the 2 s switch timeout is honoured: took {:?}",
        started.elapsed()
    );
    let err = &run.stderr;
    assert!(err.contains("`host-b`"), "names the host: {run}");
    assert!(
        err.contains("ovs-vswitchd did not catch up within 2s"),
        "says it timed out waiting for the switch: {run}"
    );
    assert!(
        !err.contains("`host-a`") && !err.contains("`host-c`"),
        "{run}"
    );
    for (host, want) in [
        ("host-a", ["vx-host-b", "vx-host-c"]),
        ("host-c", ["vx-host-a", "vx-host-b"]),
    ] {
        assert_eq!(ports(&cluster, host), want, "{host} was applied");
        assert!(
            run.stdout.contains(&format!("{host}: applied 7 change(s)")),
            "{run}"
        );
    }

    // The database of host-b now holds the change its switch never took: a plan must
    // say so instead of folding the host away as converged.
    let plan = ovsnet(&["plan", &topo, "--host", "host-b"]);
    plan.expect_code(0, "no database changes are left on host-b");
    assert!(
        plan.stdout.contains(
            "ovs-vswitchd on `host-b` has not applied the database's latest configuration"
        ),
        "{plan}"
    );
}

#[test]
fn an_unreachable_ovsdb_is_an_error_naming_the_endpoint_while_the_others_apply() {
    let mut cluster = Cluster::start(3);
    let topo = cluster.topology("mesh3", &Spec::mesh(3));
    let endpoint = cluster.host("host-c").endpoint();
    cluster.host_mut("host-c").stop_ovsdb();

    let run = ovsnet(&["apply", &topo, "--auto-approve"]);
    run.expect_code(1, "host-c cannot be reached");
    assert!(run.stderr.contains(&endpoint), "names the endpoint: {run}");
    assert!(run.stderr.contains("`host-c`"), "names the host: {run}");
    for line in run.stderr.lines().filter(|l| l.contains(&endpoint)) {
        assert_eq!(line.matches(&endpoint).count(), 1, "{run}");
        assert_eq!(
            line.matches("(os error").count(),
            1,
            "the cause once: {run}"
        );
    }
    assert_eq!(ports(&cluster, "host-a"), ["vx-host-b", "vx-host-c"]);
    assert_eq!(ports(&cluster, "host-b"), ["vx-host-a", "vx-host-c"]);
    assert_eq!(
        cluster
            .host("host-a")
            .get("Interface", "vx-host-c", "options:remote_ip"),
        "\"198.18.0.3\""
    );

    // Exit codes of plan with one host down: 1 for the whole cluster (naming the
    // endpoint), 0 for the two reachable, converged hosts.
    let all = ovsnet(&["plan", &topo, "--detailed-exitcode"]);
    all.expect_code(1, "a host is unreachable");
    assert!(all.stderr.contains(&endpoint), "{all}");
    let reachable = ovsnet(&[
        "plan",
        &topo,
        "--detailed-exitcode",
        "--host",
        "host-a",
        "--host",
        "host-b",
    ]);
    reachable.expect_code(0, "the reachable hosts are converged");
}

#[test]
fn exit_codes_on_real_hosts_and_no_apply_without_approval() {
    let cluster = Cluster::start(2);
    let topo = cluster.topology("mesh2", &Spec::mesh(2));
    let before: Vec<_> = NAMES[..2]
        .iter()
        .map(|h| snapshot(cluster.host(h)))
        .collect();

    ovsnet(&["plan", &topo, "--detailed-exitcode"]).expect_code(2, "changes pending");
    ovsnet(&["plan", &topo]).expect_code(0, "changes without --detailed-exitcode");

    let refused = ovsnet(&["apply", &topo]);
    assert_ne!(refused.code, 0, "no terminal, no --auto-approve: {refused}");
    assert_ne!(refused.code, 2, "{refused}");
    assert!(refused.stderr.contains("--auto-approve"), "{refused}");
    let after: Vec<_> = NAMES[..2]
        .iter()
        .map(|h| snapshot(cluster.host(h)))
        .collect();
    assert_eq!(before, after, "nothing changed");
    assert_eq!(cluster.host("host-a").vsctl(&["list-br"]), "");

    converge(&topo);
    ovsnet(&["plan", &topo, "--detailed-exitcode"]).expect_code(0, "no changes");
    let again = ovsnet(&["apply", &topo]);
    again.expect_code(0, "nothing to apply needs no approval");
    assert!(again.stdout.contains("nothing to apply"), "{again}");
}

#[test]
fn a_bridge_whose_datapath_cannot_open_fails_the_apply_naming_it_and_is_rolled_back() {
    if std::path::Path::new("/sys/module/openvswitch").exists() {
        eprintln!("skipped: the openvswitch kernel module is loaded, the system datapath opens");
        return;
    }
    let cluster = Cluster::start(2);
    let kernel = Spec {
        datapath: "system",
        ..Spec::mesh(2)
    };
    let topo = cluster.topology("mesh2-system", &kernel);
    let run = ovsnet(&["apply", &topo, "--auto-approve", "--switch-timeout", "5"]);
    run.expect_code(1, "ovs-vswitchd cannot open a kernel datapath here");
    // The bridge that never got a datapath_id is the first thing verification sees;
    // each host is named with the datapath it could not open, then rolled back.
    for host in ["host-a", "host-b"] {
        let line = run
            .stderr
            .lines()
            .find(|l| l.contains(&format!("`{host}`")))
            .unwrap_or_else(|| panic!("{host} is named: {run}"));
        assert!(line.contains("could not open bridge"), "{run}");
        assert!(line.contains("datapath `system`"), "{run}");
        assert!(
            run.stderr.contains(&format!("{host}: rolled back")),
            "{run}"
        );
    }
    assert!(!run.stdout.contains("verified"), "{run}");
}

#[test]
fn a_retried_apply_passed_while_the_switch_had_not_caught_up() {
    let mut cluster = Cluster::start(2);
    let topo = cluster.topology("mesh2", &Spec::mesh(2));
    cluster.host_mut("host-b").stop_vswitchd();
    let args = ["apply", &topo, "--auto-approve", "--switch-timeout", "1"];
    ovsnet(&args).expect_code(1, "the switch on host-b is down");
    // The database now holds the change, so the plan is empty; the switch still has not
    // taken it, and a pipeline that retries must not turn green.
    let retry = ovsnet(&args);
    retry.expect_code(1, "the switch on host-b has still not caught up");
    assert!(retry.stderr.contains("`host-b`"), "{retry}");
    assert!(
        retry
            .stderr
            .contains("ovs-vswitchd did not catch up within 1s"),
        "{retry}"
    );
    assert!(
        !retry.stderr.contains("`host-a`"),
        "host-a is fine: {retry}"
    );
}
