//! `docker run` on an ovsnet network, against the real engine: the plugin served from
//! this test process plugs containers through the attach library into a real
//! Open vSwitch (userspace datapath) whose switch runs in a namespace of its own, as a
//! lab host's does, so the veth end Docker moves must first reach the engine's
//! namespace. Checked with independent tools: `docker exec` (ip, ping, cat) inside the
//! containers and stock `ovs-vsctl` on the switch.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod docker_support;
mod support;

use docker_support::{
    address, docker, engine_fingerprint, exec, ping_until_reply, require_engine, run, Image,
    Objects,
};
use ovsnet::docker::server::socket_path;
use ovsnet::docker::Driver;
use ovsnet::linux::Netns;
use ovsnet::plugin::attached::AttachPorts;
use ovsnet::plugin::{Config, Plugin};
use std::sync::Arc;
use std::time::Duration;
use support::OvsHost;

/// A host whose bridge carries VLAN `web` as `apply` writes it.
fn host() -> OvsHost {
    docker_support::ovsdb_host(&[("web", docker_support::WEB)])
}

/// The plugin for `host`, plugging through the attach library; the switch runs in the
/// host's namespace, the engine in this one.
fn serve(host: &OvsHost) -> (String, ovsnet::docker::Serving) {
    let ports = AttachPorts {
        host_netns: Netns::Named(host.netns().to_string()),
        engine_netns: Netns::Current,
        timeout: docker_support::PLUG_TIMEOUT,
    };
    docker_support::serve(host, Box::new(ports), docker_support::PLUG_TIMEOUT)
}

/// The container ports on the switch: (name, address, endpoint mark).
fn ports(host: &OvsHost) -> Vec<(String, String, String)> {
    let out = host.vsctl(&[
        "--no-wait",
        "--format=csv",
        "--data=bare",
        "--no-headings",
        "--columns=name,external_ids",
        "find",
        "Port",
        "external_ids:ovsnet-role=container",
    ]);
    out.lines()
        .map(|line| {
            let (name, ids) = line.split_once(',').unwrap_or((line, ""));
            let get = |key: &str| {
                ids.trim_matches('"')
                    .split(' ')
                    .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
                    .unwrap_or_default()
                    .to_string()
            };
            (
                name.to_string(),
                get("ovsnet-address"),
                get("ovsnet-docker-endpoint"),
            )
        })
        .collect()
}

/// The names of the veth ends the plugin handed to Docker (`ovsnet-docker-veth`).
fn veths(host: &OvsHost) -> Vec<String> {
    let out = host.vsctl(&[
        "--no-wait",
        "--data=bare",
        "--no-headings",
        "--columns=external_ids",
        "find",
        "Port",
        "external_ids:ovsnet-role=container",
    ]);
    out.split_whitespace()
        .filter_map(|kv| kv.strip_prefix("ovsnet-docker-veth="))
        .map(str::to_string)
        .collect()
}

/// Whether link `name` exists in this (the engine's) namespace.
fn in_engine_namespace(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

#[test]
fn containers_get_this_hosts_addresses_talk_and_leave_nothing() {
    require_engine();
    let before = engine_fingerprint();
    let image = Image::build();
    let host = host();
    let (name, serving) = serve(&host);
    let objects = Objects::new();
    let net = objects.network("web");
    // Docker accepts `--ip` only on networks created with `--subnet` (its own rule).
    docker(&[
        "network",
        "create",
        "-d",
        &name,
        "--ipam-driver",
        &name,
        "-o",
        "vlan=web",
        "--subnet",
        "10.10.0.0/16",
        &net,
    ])
    .expect_ok("network create");

    let a = run(&objects, &image, &net, &[]);
    let b = run(&objects, &image, &net, &["--ip", "10.10.1.50"]);
    let (addr_a, addr_b) = (address(&a), address(&b));
    let range: ipnet::Ipv4Net = "10.10.1.0/24".parse().unwrap();
    let ip_a: ipnet::Ipv4Net = addr_a.parse().unwrap();
    assert!(
        range.contains(&ip_a.addr()) && ip_a.prefix_len() == 16,
        "{addr_a}"
    );
    assert_eq!(addr_b, "10.10.1.50/16");
    assert_eq!(exec(&a, "cat /sys/class/net/eth0/mtu"), "1446");
    assert!(
        exec(&a, "ip route").contains("default via 10.10.0.1 dev eth0"),
        "{}",
        exec(&a, "ip route")
    );
    // Exactly one interface besides lo: no docker_gwbridge.
    assert_eq!(
        exec(&a, "ls /sys/class/net | sort | tr '\\n' ' '"),
        "eth0 lo"
    );
    // ICMP and TCP through the overlay bridge.
    ping_until_reply(&a, "10.10.1.50");
    docker(&["exec", "-d", &b, "sh", "-c", "nc -l -p 7000 -e echo ovsnet"]).expect_ok("listen");
    docker_support::wait_listening(&b, 7000);
    assert_eq!(exec(&a, "nc -w 5 10.10.1.50 7000"), "ovsnet");
    let held = ports(&host);
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(held.iter().all(|(_, _, ep)| ep.len() == 64), "{held:?}");
    assert!(
        held.iter().any(|(_, addr, _)| addr == "10.10.1.50/16"),
        "{held:?}"
    );

    // A reconcile pass names the containers on their ports (the protocol never does).
    let engine = ovsnet::docker::engine::Engine::new(
        ovsnet::docker::engine::DEFAULT_SOCKET,
        Duration::from_secs(10),
    );
    let probe = Plugin::new(
        Config {
            name: name.clone(),
            ovsdb: host.endpoint(),
            timeout: docker_support::PLUG_TIMEOUT,
        },
        Box::new(AttachPorts {
            host_netns: Netns::Named(host.netns().to_string()),
            engine_netns: Netns::Current,
            timeout: docker_support::PLUG_TIMEOUT,
        }),
    );
    let report = ovsnet::plugin::reconcile::reconcile(&probe, &engine, Duration::from_secs(30), 0)
        .expect("a pass");
    assert_eq!(report, Default::default(), "a pass removed live state");
    let id_a = docker(&["inspect", "--format", "{{.Id}}", &a]).expect_ok("inspect");
    let marks = host.vsctl(&[
        "--no-wait",
        "find",
        "Port",
        &format!("external_ids:ovsnet-docker={id_a}"),
    ]);
    assert!(
        marks.contains(&id_a),
        "container {id_a} not recorded on its port"
    );

    // --ip outside this host's range is refused in the docker command's output.
    let stray = objects.container("stray");
    let out = docker(&[
        "run",
        "-d",
        "--pull=never",
        "--network",
        &net,
        "--ip",
        "10.10.2.9",
        "--name",
        &stray,
        &image.tag,
        "true",
    ]);
    assert!(
        !out.ok && out.stderr.contains("10.10.2.9"),
        "{}",
        out.stderr
    );
    assert_eq!(ports(&host).len(), 2, "a refused run left a port");

    // -p reaches the plugin (ProgramExternalConnectivity) and is recorded for the agent.
    let web = run(
        &objects,
        &image,
        &net,
        &["-p", "18080:80", "-p", "15353:53/udp"],
    );
    let published = host.vsctl(&[
        "--no-wait",
        "--data=bare",
        "--no-headings",
        "--columns=name",
        "find",
        "Port",
        "external_ids:ovsnet-publish=\"15353:53/udp,18080:80/tcp\"",
    ]);
    assert_eq!(
        published.lines().count(),
        1,
        "publish not recorded: {:?}",
        ports(&host)
    );
    docker(&["rm", "-f", &web]).expect_ok("rm published");
    assert_eq!(ports(&host).len(), 2);

    // docker rm frees the port and the address: asking for it again works.
    docker(&["rm", "-f", &b]).expect_ok("rm");
    assert_eq!(ports(&host).len(), 1, "{:?}", ports(&host));
    let c = run(&objects, &image, &net, &["--ip", "10.10.1.50"]);
    assert_eq!(address(&c), "10.10.1.50/16");

    objects.remove_containers();
    assert!(ports(&host).is_empty(), "{:?}", ports(&host));
    docker(&["network", "rm", &net]).expect_ok("network rm");
    let left = host.get("Open_vSwitch", ".", "external_ids");
    assert!(!left.contains("ovsnet-docker-network-"), "{left}");
    assert!(host
        .vsctl(&["--no-wait", "list-ports", "br-ovsnet"])
        .trim()
        .is_empty());
    drop(objects);
    drop(serving);
    drop(image);
    assert_eq!(
        engine_fingerprint(),
        before,
        "the engine's own networks or docker0 changed"
    );
}

#[test]
fn twenty_concurrent_runs_get_twenty_addresses_and_a_plugin_restart_keeps_them() {
    require_engine();
    let image = Image::build();
    let host = host();
    let (name, serving) = serve(&host);
    let objects = Objects::new();
    let net = objects.network("web");
    docker(&[
        "network",
        "create",
        "-d",
        &name,
        "--ipam-driver",
        &name,
        &net,
    ])
    .expect_ok("create");
    let names: Vec<String> = (0..20).map(|_| objects.container("many")).collect();
    std::thread::scope(|s| {
        for n in &names {
            let (net, tag) = (&net, &image.tag);
            s.spawn(move || {
                docker(&[
                    "run",
                    "-d",
                    "--pull=never",
                    "--network",
                    net,
                    "--name",
                    n,
                    tag,
                    "sleep",
                    "600",
                ])
                .expect_ok("concurrent docker run")
            });
        }
    });
    let mut addrs: Vec<String> = names.iter().map(|n| address(n)).collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 20, "{addrs:?}");
    assert_eq!(ports(&host).len(), 20);

    // The plugin restarts with containers running: nothing is lost, and it serves on.
    drop(serving);
    let (_, again) = {
        let ports_seam = AttachPorts {
            host_netns: Netns::Named(host.netns().to_string()),
            engine_netns: Netns::Current,
            timeout: docker_support::PLUG_TIMEOUT,
        };
        let plugin = Plugin::new(
            Config {
                name: name.clone(),
                ovsdb: host.endpoint(),
                timeout: docker_support::PLUG_TIMEOUT,
            },
            Box::new(ports_seam),
        );
        (
            name.clone(),
            ovsnet::docker::serve(&socket_path(&name), Arc::new(plugin)).expect("serves again"),
        )
    };
    ping_until_reply(&names[0], address(&names[19]).split('/').next().unwrap());
    let late = run(&objects, &image, &net, &[]);
    let late_addr = address(&late);
    assert!(!addrs.contains(&late_addr), "{late_addr} was already taken");
    docker(&["rm", "-f", &names[3]]).expect_ok("rm after restart");
    assert_eq!(ports(&host).len(), 20);
    objects.remove_containers();
    assert!(ports(&host).is_empty(), "{:?}", ports(&host));
    drop(objects);
    drop(again);
}

/// The benchmark behind BENCHMARKS.md's Docker row (reports, asserts no time):
/// `cargo test --release --test docker_containers -- --ignored --nocapture docker_run_to_first_ping`.
/// Each round times `docker run --rm` of a container that pings until the first reply,
/// on an ovsnet network (a target container on the same network) and on the engine's
/// default bridge (the docker0 address; nothing is created on that network but the
/// benchmark container itself), interleaved; the median of 10 rounds is printed.
#[test]
#[ignore = "a benchmark: run it with --ignored"]
fn docker_run_to_first_ping() {
    require_engine();
    let image = Image::build();
    let host = host();
    let (name, serving) = serve(&host);
    let objects = Objects::new();
    let net = objects.network("bench");
    docker(&[
        "network",
        "create",
        "-d",
        &name,
        "--ipam-driver",
        &name,
        &net,
    ])
    .expect_ok("create");
    let target = run(&objects, &image, &net, &[]);
    let target_ip = address(&target).split('/').next().unwrap().to_string();
    // docker0's address, read, never changed (the engine's IPAM config may omit it).
    let out = std::process::Command::new("ip")
        .args(["-o", "-4", "addr", "show", "dev", "docker0"])
        .output()
        .expect("ip runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let docker0 = text
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .expect("docker0 has an IPv4 address")
        .to_string();
    let time = |network: &str, ip: &str| {
        let script = format!(
            "i=0; until ping -c 1 -W 1 {ip} >/dev/null; do i=$((i+1)); [ $i -lt 30 ] || exit 1; done"
        );
        let start = std::time::Instant::now();
        docker(&[
            "run",
            "--rm",
            "--pull=never",
            "--network",
            network,
            &image.tag,
            "sh",
            "-c",
            &script,
        ])
        .expect_ok("bench run");
        start.elapsed().as_secs_f64() * 1000.0
    };
    let (mut ovs, mut bridge) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        ovs.push(time(&net, &target_ip));
        bridge.push(time("bridge", &docker0));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        (v[4] + v[5]) / 2.0
    };
    let (m_ovs, m_bridge) = (median(&mut ovs), median(&mut bridge));
    println!("| docker run to first ping | ovsnet {m_ovs:.0} ms | bridge {m_bridge:.0} ms | ratio {:.2} |", m_ovs / m_bridge);
    println!("ovsnet runs ms: {ovs:.0?}\nbridge runs ms: {bridge:.0?}");
    objects.remove_containers();
    drop(objects);
    drop(serving);
}

/// `ovsnet attach --docker` as an operator runs it on the host (here: inside the
/// namespace the switch runs in, as on a real host where both share one).
fn ovsnet_in(host: &OvsHost, args: &[&str]) -> docker_support::Ran {
    let out = std::process::Command::new("ip")
        .args(["netns", "exec", host.netns(), env!("CARGO_BIN_EXE_ovsnet")])
        .args(args)
        .output()
        .expect("ovsnet runs");
    docker_support::Ran {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    }
}

#[test]
fn attach_docker_plugs_a_network_none_container_and_detach_removes_it() {
    require_engine();
    let image = Image::build();
    let host = host();
    let objects = Objects::new();
    let a = run(&objects, &image, "none", &[]);
    let b = run(&objects, &image, "none", &[]);
    let ep = host.endpoint();
    let out = ovsnet_in(
        &host,
        &[
            "attach", "--ovsdb", &ep, "--vlan", "web", "--docker", &a, "--format", "json",
        ],
    );
    assert!(out.ok, "{}", out.stderr);
    let attached: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let addr_a = attached["address"].as_str().unwrap().to_string();
    assert!(
        addr_a.starts_with("10.10.1.") && addr_a.ends_with("/16"),
        "{addr_a}"
    );
    ovsnet_in(
        &host,
        &[
            "attach",
            "--ovsdb",
            &ep,
            "--vlan",
            "web",
            "--docker",
            &b,
            "--ip",
            "10.10.1.77",
        ],
    )
    .expect_ok("attach b");
    assert_eq!(address(&a), addr_a);
    assert_eq!(exec(&a, "cat /sys/class/net/eth0/mtu"), "1446");
    ping_until_reply(&a, "10.10.1.77");
    let missing = ovsnet_in(
        &host,
        &[
            "attach",
            "--ovsdb",
            &ep,
            "--vlan",
            "web",
            "--docker",
            "ovsnet-no-such-container",
        ],
    );
    assert!(
        !missing.ok
            && missing
                .stderr
                .contains("no Docker container `ovsnet-no-such-container`"),
        "{}",
        missing.stderr
    );
    assert_eq!(ports(&host).len(), 2);
    ovsnet_in(&host, &["detach", "--ovsdb", &ep, "--docker", &a]).expect_ok("detach");
    assert_eq!(ports(&host).len(), 1);
    assert_eq!(
        exec(&a, "ls /sys/class/net"),
        "lo",
        "detach left the interface"
    );
    drop(objects);
    drop(image);
}

/// `ovsnet agent --docker-plugin` running where the switch runs (a lab host's
/// namespace), stopped by pid on drop.
struct Agent {
    child: std::process::Child,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    /// Starts the agent inside `host`'s namespace with `extra` arguments; returns once the
    /// plugin socket is open.
    fn start(host: &OvsHost, name: &str, extra: &[&str]) -> Agent {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("agent.log");
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", host.netns(), env!("CARGO_BIN_EXE_ovsnet")])
            .args([
                "agent",
                "--ovsdb",
                &host.endpoint(),
                "--docker-plugin",
                name,
            ])
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("the agent starts");
        let mut agent = Agent {
            child,
            log,
            _dir: dir,
        };
        docker_support::eventually(
            "the agent opens its plugin socket",
            Duration::from_secs(60),
            || {
                let exited = agent.child.try_wait().ok().flatten();
                assert!(
                    exited.is_none(),
                    "the agent exited ({exited:?}): {}",
                    agent.log()
                );
                (socket_path(name).exists(), agent.log())
            },
        );
        agent
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // `ip netns exec` execs the agent: the child's pid is the agent's.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn create_network(name: &str, net: &str) {
    docker(&[
        "network",
        "create",
        "-d",
        name,
        "--ipam-driver",
        name,
        "-o",
        "vlan=web",
        "--subnet",
        "10.10.0.0/16",
        net,
    ])
    .expect_ok("network create");
}

#[test]
fn the_agent_beside_the_switch_hands_interfaces_to_the_engines_namespace() {
    require_engine();
    let image = Image::build();
    let host = host();
    let name = docker_support::unique("agent");
    let agent = Agent::start(&host, &name, &["--docker-netns", "engine"]);
    let objects = Objects::new();
    let net = objects.network("web");
    create_network(&name, &net);
    let a = run(&objects, &image, &net, &[]);
    let b = run(&objects, &image, &net, &["--ip", "10.10.1.60"]);
    assert!(address(&a).starts_with("10.10.1."), "{}", address(&a));
    assert_eq!(exec(&a, "cat /sys/class/net/eth0/mtu"), "1446");
    ping_until_reply(&a, "10.10.1.60");
    // Nothing of ours stays in the engine's namespace: Docker moved each inner end.
    let held = ports(&host);
    assert_eq!(held.len(), 2, "{held:?}");
    for veth in veths(&host) {
        assert!(
            !in_engine_namespace(&veth),
            "`{veth}` is still outside its container"
        );
    }

    // kill -9 of the container's init: dockerd sees the exit and tears the endpoint
    // down through the plugin itself (DeleteEndpoint, ReleaseAddress); the port and its
    // address go. (The agent's reconcile would remove it 30 s later if Docker did not.)
    let pid = docker(&["inspect", "--format", "{{.State.Pid}}", &b]).expect_ok("inspect pid");
    let pid: i32 = pid.parse().expect("a pid");
    assert_eq!(
        unsafe { libc::kill(pid, libc::SIGKILL) },
        0,
        "kill -9 {pid}"
    );
    let took = docker_support::eventually(
        "the killed container's port is removed",
        Duration::from_secs(120),
        || {
            let held = ports(&host);
            (held.len() == 1, format!("{held:?}\n{}", agent.log()))
        },
    );
    eprintln!("kill -9 to port removed: {took:?}");
    let state = docker(&["inspect", "--format", "{{.State.Status}}", &b]).expect_ok("inspect");
    assert_eq!(state, "exited");
    // Its address is free again.
    let c = run(&objects, &image, &net, &["--ip", "10.10.1.60"]);
    assert_eq!(address(&c), "10.10.1.60/16");
    objects.remove_containers();
    assert!(ports(&host).is_empty(), "{:?}", ports(&host));
    drop(objects);
    drop(agent);
    drop(image);
}

/// The plugin as dockerd sees it when dockerd dies with `-9`: at its next start Docker
/// deletes the dead containers' endpoints and addresses *without calling the plugin*
/// (nothing is replayed to a socket plugin). This driver drives exactly that state
/// without restarting the shared daemon: it answers Leave, DeleteEndpoint and
/// ReleaseAddress with success and does nothing.
struct Deaf(Arc<Plugin>);

impl ovsnet::docker::Driver for Deaf {
    type Error = ovsnet::plugin::PluginError;
    fn capabilities(&self) -> ovsnet::docker::api::Capabilities {
        self.0.capabilities()
    }
    fn create_network(&self, r: ovsnet::docker::api::CreateNetwork) -> Result<(), Self::Error> {
        self.0.create_network(r)
    }
    fn delete_network(&self, r: ovsnet::docker::api::NetworkRef) -> Result<(), Self::Error> {
        self.0.delete_network(r)
    }
    fn create_endpoint(
        &self,
        r: ovsnet::docker::api::CreateEndpoint,
    ) -> Result<ovsnet::docker::api::CreateEndpointReply, Self::Error> {
        self.0.create_endpoint(r)
    }
    fn delete_endpoint(&self, _: ovsnet::docker::api::EndpointRef) -> Result<(), Self::Error> {
        Ok(())
    }
    fn endpoint_info(
        &self,
        r: ovsnet::docker::api::EndpointRef,
    ) -> Result<ovsnet::docker::api::EndpointInfo, Self::Error> {
        self.0.endpoint_info(r)
    }
    fn join(
        &self,
        r: ovsnet::docker::api::Join,
    ) -> Result<ovsnet::docker::api::JoinReply, Self::Error> {
        self.0.join(r)
    }
    fn leave(&self, _: ovsnet::docker::api::EndpointRef) -> Result<(), Self::Error> {
        Ok(())
    }
    fn program_external(&self, r: ovsnet::docker::api::ProgramExternal) -> Result<(), Self::Error> {
        self.0.program_external(r)
    }
    fn revoke_external(&self, r: ovsnet::docker::api::EndpointRef) -> Result<(), Self::Error> {
        self.0.revoke_external(r)
    }
    fn address_spaces(&self) -> ovsnet::docker::api::AddressSpaces {
        self.0.address_spaces()
    }
    fn request_pool(
        &self,
        r: ovsnet::docker::api::RequestPool,
    ) -> Result<ovsnet::docker::api::PoolReply, Self::Error> {
        self.0.request_pool(r)
    }
    fn release_pool(&self, r: ovsnet::docker::api::ReleasePool) -> Result<(), Self::Error> {
        self.0.release_pool(r)
    }
    fn request_address(
        &self,
        r: ovsnet::docker::api::RequestAddress,
    ) -> Result<ovsnet::docker::api::AddressReply, Self::Error> {
        self.0.request_address(r)
    }
    fn release_address(&self, _: ovsnet::docker::api::ReleaseAddress) -> Result<(), Self::Error> {
        Ok(())
    }
}

#[test]
fn endpoints_docker_dropped_without_telling_the_plugin_are_removed_by_a_reconcile_pass() {
    use ovsnet::plugin::reconcile::{reconcile, GRACE};
    require_engine();
    let image = Image::build();
    let host = host();
    let name = docker_support::unique("deaf");
    let plugin = Arc::new(Plugin::new(
        Config {
            name: name.clone(),
            ovsdb: host.endpoint(),
            timeout: docker_support::PLUG_TIMEOUT,
        },
        Box::new(AttachPorts {
            host_netns: Netns::Named(host.netns().to_string()),
            engine_netns: Netns::Current,
            timeout: docker_support::PLUG_TIMEOUT,
        }),
    ));
    let serving = ovsnet::docker::serve(&socket_path(&name), Arc::new(Deaf(Arc::clone(&plugin))))
        .expect("serves");
    let objects = Objects::new();
    let net = objects.network("web");
    create_network(&name, &net);
    let kept = run(&objects, &image, &net, &[]);
    let gone = run(&objects, &image, &net, &["--ip", "10.10.1.70"]);
    docker(&["rm", "-f", &gone]).expect_ok("rm");
    // Docker forgot the endpoint; the plugin was never told: the stale state of a
    // dockerd restart. Also an address handed out whose `docker run` never got further
    // (dockerd died between RequestAddress and CreateEndpoint).
    let orphan = plugin
        .request_address(ovsnet::docker::api::RequestAddress {
            pool_id: ovsnet::plugin::network::pool_id("web"),
            ..Default::default()
        })
        .expect("an address");
    assert_eq!(ports(&host).len(), 3, "{:?}", ports(&host));
    // Docker moved the removed container's interface back out, under its old name.
    let stale_veths = veths(&host);

    let engine = ovsnet::docker::engine::Engine::new(
        ovsnet::docker::engine::DEFAULT_SOCKET,
        Duration::from_secs(10),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Within the grace period a `docker run` may still be in flight: nothing goes.
    let early = reconcile(&plugin, &engine, GRACE, now).expect("a pass");
    assert!(early.ports.is_empty(), "{early:?}");
    // Past it, exactly the two ports Docker no longer lists go; the live one stays.
    let late = reconcile(&plugin, &engine, GRACE, now + GRACE.as_secs() + 1).expect("a pass");
    assert_eq!(late.ports.len(), 2, "{late:?}");
    let held = ports(&host);
    assert_eq!(held.len(), 1, "{held:?}");
    let kept_id = docker(&["inspect", "--format", "{{.Id}}", &kept]).expect_ok("inspect");
    let live = host.vsctl(&[
        "--no-wait",
        "find",
        "Port",
        &format!("external_ids:ovsnet-docker={kept_id}"),
    ]);
    assert!(live.contains(&kept_id), "the live container's port went");
    assert!(
        !held.iter().any(|(_, a, _)| a == &orphan.address),
        "{held:?}"
    );
    // Both addresses are free again, and no veth of theirs is left on the switch's side.
    let again = run(&objects, &image, &net, &["--ip", "10.10.1.70"]);
    assert_eq!(address(&again), "10.10.1.70/16");
    let links = host.run_in_ns(&["ip", "-o", "link", "show"]);
    assert_eq!(links.matches(": ovc").count(), 2, "{links}");
    for veth in &stale_veths {
        assert!(!in_engine_namespace(veth), "`{veth}` was left behind");
    }
    drop(objects);
    drop(serving);
    drop(image);
}
