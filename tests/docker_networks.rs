//! `docker network create/rm` against the real engine, with the plugin served from this
//! test process on `/run/docker/plugins/<unique>.sock` and a real ovsdb-server holding
//! the host's facts. The `docker` CLI is the independent client: its output must carry
//! every refusal, and OVSDB (read back with stock ovs-vsctl) must hold exactly the
//! records of the networks that exist.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod docker_support;
mod support;

use docker_support::{docker, engine_fingerprint, quoted, require_engine, unique, Objects};
use ovsnet::docker::server::socket_path;
use ovsnet::plugin::{Config, Plugged, Plugin, Ports};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;
use support::OvsHost;

/// Networks only: no container is started here, so nothing may be plugged.
struct NoPorts;

impl Ports for NoPorts {
    fn plug(
        &self,
        _: &str,
        _: &str,
        _: Option<Ipv4Addr>,
        _: &BTreeMap<String, String>,
    ) -> Result<Plugged, String> {
        Err("this test plugs no container".into())
    }
    fn unplug(&self, _: &str, _: &str) -> Result<(), String> {
        Ok(())
    }
}

/// A host whose bridge carries what `apply` writes: VLAN `web`, and `db` when asked.
fn host(two_vlans: bool) -> OvsHost {
    let mut vlans = vec![("web", docker_support::WEB)];
    if two_vlans {
        vlans.push(("db", docker_support::DB));
    }
    docker_support::ovsdb_host(&vlans)
}

/// The plugin for `host`; no container is started here, so nothing may be plugged.
fn serve(host: &OvsHost) -> (String, ovsnet::docker::Serving) {
    docker_support::serve(host, Box::new(NoPorts), Duration::from_secs(10))
}

/// The plugin's network records in OVSDB.
fn records(host: &OvsHost) -> Vec<String> {
    let ids = host.get("Open_vSwitch", ".", "external_ids");
    ids.split(", ")
        .filter(|kv| kv.contains("ovsnet-docker-network-"))
        .map(|kv| kv.trim_matches(|c| c == '{' || c == '}').to_string())
        .collect()
}

fn inspect(network: &str, format: &str) -> String {
    docker(&["network", "inspect", network, "--format", format]).expect_ok("docker network inspect")
}

#[test]
fn a_network_is_its_vlan_and_refusals_reach_the_docker_command() {
    require_engine();
    let before = engine_fingerprint();
    let host = host(true);
    let (name, serving) = serve(&host);
    let objects = Objects::new();

    let web = objects.network("web");
    let id = docker(&[
        "network",
        "create",
        "-d",
        &name,
        "--ipam-driver",
        &name,
        "-o",
        "vlan=web",
        "--ipam-opt",
        "vlan=web",
        &web,
    ])
    .expect_ok("network create");
    assert_eq!(
        inspect(
            &web,
            "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}"
        ),
        "10.10.0.0/16 10.10.0.1"
    );
    assert_eq!(
        records(&host),
        vec![format!(
            "ovsnet-docker-network-{id}=\"{{\\\"vlan\\\":\\\"web\\\"}}\""
        )]
    );

    // --subnet alone finds the VLAN too.
    let db = objects.network("db");
    let db_id = docker(&[
        "network",
        "create",
        "-d",
        &name,
        "--ipam-driver",
        &name,
        "--subnet",
        "10.20.0.0/16",
        &db,
    ])
    .expect_ok("network create by subnet");
    assert_eq!(records(&host).len(), 2);

    let refused = |args: &[&str], says: &str| {
        let net = unique("bad");
        let mut full = vec!["network", "create", "-d", &name, "--ipam-driver", &name];
        full.extend_from_slice(args);
        full.push(&net);
        let out = docker(&full);
        assert!(!out.ok, "`{}` was accepted", full.join(" "));
        assert!(
            out.stderr.contains(says),
            "`{}` said: {}",
            full.join(" "),
            out.stderr
        );
        assert!(
            !docker(&["network", "inspect", &net]).ok,
            "{net} exists after a refusal"
        );
    };
    refused(
        &["-o", "vlan=nope", "--subnet", "10.10.0.0/16"],
        "VLAN `nope` is not declared on this host (declared: db, web)",
    );
    refused(&["--ipam-opt", "vlan=nope"], "VLAN `nope` is not declared");
    refused(
        &["-o", "vlan=web", "--subnet", "10.20.0.0/16"],
        "subnet 10.20.0.0/16 is not VLAN `web`'s subnet (10.10.0.0/16)",
    );
    refused(
        &["--subnet", "10.99.0.0/16"],
        "no VLAN on this host has subnet 10.99.0.0/16",
    );
    refused(
        &["-o", "colour=red", "--ipam-opt", "vlan=web"],
        "unknown option `-o colour`",
    );
    refused(&["-o", "vlan=web"], "--ipam-opt vlan=NAME");
    refused(
        &[
            "--ipam-opt",
            "vlan=web",
            "--ip-range",
            "10.10.1.0/25",
            "--subnet",
            "10.10.0.0/16",
        ],
        "--ip-range",
    );
    // The other IPAM driver would hand out addresses from other hosts' ranges.
    let net = unique("bad");
    let out = docker(&[
        "network",
        "create",
        "-d",
        &name,
        "--subnet",
        "10.10.0.0/16",
        &net,
    ]);
    assert!(
        !out.ok && out.stderr.contains(&format!("--ipam-driver {name}")),
        "{}",
        out.stderr
    );
    assert_eq!(records(&host).len(), 2, "a refused network left a record");

    docker(&["network", "rm", &web]).expect_ok("network rm");
    docker(&["network", "rm", &db]).expect_ok("network rm");
    assert!(
        records(&host).is_empty(),
        "records left: {:?} ({id}, {db_id})",
        records(&host)
    );
    drop(objects);
    drop(serving);
    assert_eq!(
        engine_fingerprint(),
        before,
        "the engine's own networks or docker0 changed"
    );
}

#[test]
fn the_issue_command_works_on_a_host_with_one_vlan_and_survives_a_plugin_restart() {
    require_engine();
    let host = host(false);
    let (name, serving) = serve(&host);
    let objects = Objects::new();
    let web = objects.network("web");
    docker(&[
        "network",
        "create",
        "-d",
        &name,
        "--ipam-driver",
        &name,
        "-o",
        "vlan=web",
        &web,
    ])
    .expect_ok("network create");
    // A restarted plugin finds the network in OVSDB: removing it works and leaves nothing.
    drop(serving);
    let plugin = Plugin::new(
        Config {
            name: name.clone(),
            ovsdb: host.endpoint(),
            timeout: Duration::from_secs(10),
        },
        Box::new(NoPorts),
    );
    let again = ovsnet::docker::serve(&socket_path(&name), Arc::new(plugin)).expect("serves again");
    assert_eq!(records(&host).len(), 1);
    docker(&["network", "rm", &web]).expect_ok("network rm after a restart");
    assert!(records(&host).is_empty());
    drop(objects);
    drop(again);
    assert!(
        !socket_path(&name).exists(),
        "the plugin socket was left behind"
    );
}

#[test]
fn at_start_the_plugin_forgets_networks_docker_no_longer_has() {
    use ovsnet::docker::engine::{Engine, DEFAULT_SOCKET};
    use std::sync::atomic::{AtomicBool, Ordering};
    require_engine();
    let host = host(false);
    let name = unique("plugin");
    // A record of a network Docker never had (as after `docker network rm` while the
    // plugin was down, or a wiped engine).
    let ghost = "0".repeat(64);
    let key = format!(
        "external_ids:ovsnet-docker-network-{ghost}={}",
        quoted(r#"{"vlan":"web"}"#)
    );
    host.vsctl(&["--no-wait", "set", "Open_vSwitch", ".", &key]);
    let plugin = Arc::new(Plugin::new(
        Config {
            name: name.clone(),
            ovsdb: host.endpoint(),
            timeout: Duration::from_secs(10),
        },
        Box::new(NoPorts),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let (plugin, stop, socket) = (Arc::clone(&plugin), Arc::clone(&stop), socket_path(&name));
        std::thread::spawn(move || {
            let engine = Engine::new(DEFAULT_SOCKET, Duration::from_secs(10));
            ovsnet::plugin::reconcile::run(plugin, &socket, &engine, &stop)
        })
    };
    // The socket opens only after the first pass, so once it answers the ghost is gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !socket_path(&name).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the plugin never opened its socket"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(records(&host).is_empty(), "left: {:?}", records(&host));
    let objects = Objects::new();
    let web = objects.network("web");
    let id = docker(&[
        "network",
        "create",
        "-d",
        &name,
        "--ipam-driver",
        &name,
        &web,
    ])
    .expect_ok("create");
    // A live network's record survives a pass.
    let engine = Engine::new(DEFAULT_SOCKET, Duration::from_secs(10));
    let report =
        ovsnet::plugin::reconcile::reconcile(&plugin, &engine, Duration::from_secs(30), u64::MAX)
            .expect("a pass");
    assert!(report.networks.is_empty(), "{report:?}");
    assert_eq!(records(&host).len(), 1, "{id}");
    drop(objects);
    assert!(records(&host).is_empty());
    stop.store(true, Ordering::SeqCst);
    runner.join().expect("runner").expect("served");
    assert!(!socket_path(&name).exists());
}

#[test]
fn ovsnet_agent_serves_the_plugin_and_removes_its_socket_on_sigterm() {
    require_engine();
    let host = host(false);
    let name = unique("agent");
    // The agent runs inside the switch's namespace (its nftables table and addresses stay
    // there); the plugin socket is a file, so the engine reaches it all the same.
    let mut agent = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            host.netns(),
            env!("CARGO_BIN_EXE_ovsnet"),
            "agent",
            "--ovsdb",
        ])
        .arg(host.endpoint())
        .args(["--docker-plugin", &name])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the agent starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !socket_path(&name).exists() {
        if std::time::Instant::now() > deadline {
            let _ = agent.kill();
            panic!("the agent never opened the plugin socket");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let objects = Objects::new();
    let web = objects.network("web");
    let made = docker(&[
        "network",
        "create",
        "-d",
        &name,
        "--ipam-driver",
        &name,
        "-o",
        "vlan=web",
        &web,
    ]);
    let removed = made.ok && docker(&["network", "rm", &web]).ok;
    let left = records(&host);
    // SIGTERM (`ip netns exec` execs the agent, so the child's pid is the agent's).
    unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) };
    let status = agent.wait().expect("the agent exits");
    assert!(made.ok, "{}", made.stderr);
    assert!(removed && left.is_empty(), "{left:?}");
    assert!(status.success(), "{status}");
    assert!(
        !socket_path(&name).exists(),
        "the agent left its plugin socket"
    );
}
