//! End to end on real switches: rows ovsnet did not create survive every apply (a port
//! added by hand, a port added by the stock `ovs-docker` script, a hand-made bridge), and
//! a hand-made port with a wanted tunnel's name is a conflict, never overwritten.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use support::cluster::{
    converge, host_plan, ovsnet, plan_json, script, snapshot, vs_rows, Cluster, Spec, VsRow, BRIDGE,
};
use support::OvsHost;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A stand-in for a Docker container: a `sleep` in a network namespace of its own.
/// Killed by pid and its namespace removed on drop.
struct Container {
    netns: String,
    sleep: Option<Child>,
}

impl Container {
    fn start() -> Container {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let netns = format!("ovsnet-ctr{}-{n}", std::process::id());
        let status = Command::new("ip")
            .args(["netns", "add", &netns])
            .status()
            .expect("ip netns add");
        assert!(status.success());
        let mut container = Container { netns, sleep: None };
        // `ip netns exec` execs `sleep`, so the child's pid is the container's pid.
        let child = Command::new("ip")
            .args(["netns", "exec", &container.netns, "sleep", "300"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sleep");
        container.sleep = Some(child);
        container
    }

    fn pid(&self) -> u32 {
        self.sleep.as_ref().expect("running").id()
    }

    /// The container's interfaces (`ip -o link` inside its namespace).
    fn links(&self) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.netns, "ip", "-o", "link"])
            .output()
            .expect("ip link");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Some(mut child) = self.sleep.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
    }
}

/// Runs the stock `/usr/bin/ovs-docker add-port BRIDGE eth1 CONTAINER` inside the host's
/// namespace (so its veth pair is made there) against the host's database, with a
/// `docker` shim first on PATH that answers `docker inspect` with the container's pid.
fn ovs_docker_add_port(host: &OvsHost, shim_dir: &Path, container: &Container, name: &str) {
    let shim = format!(
        "#!/bin/sh\n# stand-in for `docker inspect -f '{{{{.State.Pid}}}}' {name}`\n\
         [ \"$1\" = inspect ] && [ \"$4\" = {name} ] && echo {} && exit 0\nexit 1\n",
        container.pid()
    );
    script(shim_dir, "docker", &shim);
    let path = format!(
        "{}:{}",
        shim_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let rundir = host.path("db.sock");
    let out = Command::new("ip")
        .args(["netns", "exec", host.netns(), "/usr/bin/ovs-docker"])
        .args(["add-port", BRIDGE, "eth1", name])
        .env("PATH", path)
        .env("OVS_RUNDIR", rundir.parent().expect("a directory"))
        .output()
        .expect("run ovs-docker");
    assert!(
        out.status.success(),
        "ovs-docker failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The rows named `names` of every table, configuration columns only.
fn rows_named(host: &OvsHost, names: &[&str]) -> Vec<(String, VsRow)> {
    snapshot(host)
        .into_iter()
        .flat_map(|table| table.into_iter())
        .filter(|(name, _)| names.contains(&name.as_str()))
        .collect()
}

fn left_alone(plan: &Value, host: &str) -> Vec<String> {
    host_plan(plan, host)["left_alone"]
        .as_array()
        .expect("left_alone")
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["kind"].as_str().expect("kind"),
                r["name"].as_str().expect("name")
            )
        })
        .collect()
}

#[test]
fn foreign_ports_and_bridges_survive_every_apply() {
    let cluster = Cluster::start(3);
    converge(&cluster.topology("mesh2", &Spec::mesh(2)));
    let a = cluster.host("host-a");

    a.vsctl(&[
        "add-port",
        BRIDGE,
        "hand0",
        "tag=10",
        "--",
        "set",
        "Interface",
        "hand0",
        "type=internal",
    ]);
    a.vsctl(&[
        "add-br",
        "hand-br",
        "--",
        "set",
        "Bridge",
        "hand-br",
        "datapath_type=netdev",
    ]);
    let container = Container::start();
    let shims = tempfile::tempdir().expect("shim dir");
    ovs_docker_add_port(a, shims.path(), &container, "web1");
    assert!(container.links().contains("eth1"), "{}", container.links());
    let docker_port = vs_rows(a, "Interface")
        .into_iter()
        .find(|(_, row)| row.get("external_ids:container_id") == Some(&json!("web1")))
        .map(|(name, _)| name)
        .expect("ovs-docker's interface is in the database");
    let foreign = ["hand0", "hand-br", docker_port.as_str()];
    let before = rows_named(a, &foreign);
    assert_eq!(
        before.len(),
        7,
        "hand-br (bridge, port, interface), two ports and their interfaces: {before:#?}"
    );

    // Three applies that each change host-a: a new host, a new key, a host removed.
    let steps = [
        Spec::mesh(3),
        Spec {
            key: Some(9),
            ..Spec::mesh(3)
        },
        Spec {
            hosts: vec![0, 2],
            key: Some(9),
            ..Spec::mesh(3)
        },
    ];
    for (i, spec) in steps.iter().enumerate() {
        let topo = cluster.topology(&format!("step{i}"), spec);
        let plan = plan_json(&[&topo]);
        assert!(
            !host_plan(&plan, "host-a")["changes"]
                .as_array()
                .expect("changes")
                .is_empty(),
            "step {i} changes host-a"
        );
        let alone = left_alone(&plan, "host-a");
        for name in &foreign {
            assert!(
                alone.iter().any(|l| l.ends_with(&format!(" {name}"))),
                "step {i}: {name} not shown as left alone: {alone:?}"
            );
        }
        converge(&topo);
        assert_eq!(
            rows_named(a, &foreign),
            before,
            "step {i} touched a foreign row"
        );
    }
    let ports = a.vsctl(&["list-ports", BRIDGE]);
    let mut ports: Vec<&str> = ports.split_whitespace().collect();
    ports.sort_unstable();
    let mut want = vec!["hand0", docker_port.as_str(), "vx-host-c"];
    want.sort_unstable();
    assert_eq!(ports, want);
    assert!(
        container.links().contains("eth1"),
        "the container keeps its link"
    );
}

#[test]
fn a_hand_made_port_with_a_wanted_tunnel_name_is_a_conflict_and_never_overwritten() {
    let cluster = Cluster::start(3);
    converge(&cluster.topology("mesh2", &Spec::mesh(2)));
    let a = cluster.host("host-a");
    a.vsctl(&[
        "add-port",
        BRIDGE,
        "vx-host-c",
        "--",
        "set",
        "Interface",
        "vx-host-c",
        "type=internal",
    ]);
    let hand_made = rows_named(a, &["vx-host-c"]);
    let three = cluster.topology("mesh3", &Spec::mesh(3));

    let plan = ovsnet(&["plan", &three, "--detailed-exitcode"]);
    plan.expect_code(1, "a conflict stops the plan");
    assert!(plan.stdout.contains("conflict"), "{plan}");
    assert!(plan.all().contains("`vx-host-c`"), "names the row: {plan}");
    assert!(plan.stderr.contains("`host-a`"), "names the host: {plan}");

    let apply = ovsnet(&["apply", &three, "--auto-approve"]);
    apply.expect_code(1, "apply refuses the blocked host");
    assert!(apply.all().contains("`vx-host-c`"), "{apply}");
    assert!(apply.stderr.contains("`host-a`"), "{apply}");

    assert_eq!(
        rows_named(a, &["vx-host-c"]),
        hand_made,
        "never overwritten"
    );
    assert_eq!(a.get("Interface", "vx-host-c", "type"), "internal");
    assert_eq!(a.get("Interface", "vx-host-c", "external_ids"), "{}");
    // The other hosts are not held back by host-a's conflict.
    for (host, peer) in [("host-b", "vx-host-c"), ("host-c", "vx-host-a")] {
        let ports = cluster.host(host).vsctl(&["list-ports", BRIDGE]);
        assert!(ports.contains(peer), "{host}: {ports}");
    }
}

#[test]
fn deleting_the_overlay_bridge_is_refused_while_a_foreign_port_sits_on_it() {
    let cluster = Cluster::start(2);
    let topo = cluster.topology("mesh2", &Spec::mesh(2));
    converge(&topo);
    let a = cluster.host("host-a");
    a.vsctl(&[
        "add-port",
        BRIDGE,
        "hand0",
        "--",
        "set",
        "Interface",
        "hand0",
        "type=internal",
    ]);
    // Renaming the bridge in the file means deleting the old one on every host.
    let text = std::fs::read_to_string(&topo).expect("topology");
    let renamed = cluster.file("renamed.yaml");
    std::fs::write(&renamed, text.replace("name: br-ovsnet", "name: br-other")).expect("write");
    let before = snapshot(a);

    let run = ovsnet(&["apply", &renamed, "--auto-approve"]);
    run.expect_code(1, "host-a's bridge carries a foreign port");
    assert!(run.all().contains("`hand0`"), "names the port: {run}");
    assert!(run.stderr.contains("`host-a`"), "names the host: {run}");
    assert_eq!(snapshot(a), before, "nothing changed on host-a");
    // host-b has no foreign port: its bridge is replaced.
    let b = cluster.host("host-b");
    assert_eq!(b.vsctl(&["list-br"]), "br-other\n");
    assert_eq!(b.vsctl(&["list-ports", "br-other"]), "vx-host-a\n");
}
