//! Containers on the lab's overlay, through the binary: `lab up`, `apply --lab`, then
//! `ovsnet attach TOPOLOGY --lab --host H` on each of 3 hosts; addresses from each host's
//! range, ICMP and a 200 kB TCP transfer across tunnels, the other VLAN unreachable, the
//! fabric re-plan empty with containers, mesh→chain keeps them talking, removing their
//! VLAN is blocked, a deleted namespace is stale and `gc` removes it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lab_support;

use lab_support::*;
use ovsnet::lab;
use ovsnet::topology::{Shape, Topology, TunnelKind};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

struct CliLab {
    topology: Topology,
    file: PathBuf,
    root: PathBuf,
    namespaces: Vec<String>,
    _dir: tempfile::TempDir,
}

impl CliLab {
    fn new(topology: Topology) -> CliLab {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("topology.yaml");
        std::fs::write(&file, to_yaml(&topology)).unwrap();
        CliLab {
            topology,
            file,
            root: dir.path().join("run"),
            namespaces: Vec::new(),
            _dir: dir,
        }
    }

    fn rewrite(&mut self, topology: Topology) {
        std::fs::write(&self.file, to_yaml(&topology)).unwrap();
        self.topology = topology;
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        let file = self.file.to_str().unwrap();
        all.push(file);
        let out = Command::new(env!("CARGO_BIN_EXE_ovsnet"))
            .args(&all)
            .env("NO_COLOR", "1")
            .env("OVSNET_LAB_DIR", &self.root)
            .output()
            .unwrap();
        eprintln!(
            "$ ovsnet {} -> {:?}\n{}{}",
            all.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn expect(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(code), "ovsnet {args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A container namespace on `host` in `vlan`, attached; its address.
    fn container(&mut self, host: &str, vlan: &str) -> (String, String) {
        let ns = format!("{}.{host}.ctr-{vlan}", self.topology.cluster);
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        assert!(Command::new("ip")
            .args(["netns", "add", &ns])
            .status()
            .unwrap()
            .success());
        self.namespaces.push(ns.clone());
        let out = self.expect(
            &[
                "attach", "--lab", "--host", host, "--vlan", vlan, "--netns", &ns, "--format",
                "json",
            ],
            0,
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        let addr = v["address"].as_str().unwrap();
        (ns, addr.split('/').next().unwrap().to_string())
    }
}

impl Drop for CliLab {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let _ = lab::down(&self.topology, &self.root);
    }
}

fn pings(ns: &str, addr: &str) -> bool {
    Command::new("ip")
        .args([
            "netns", "exec", ns, "ping", "-c", "3", "-w", "10", "-q", addr,
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// Sends 200,000 bytes over TCP from `from` to `to_ns` listening on `to_addr`; how many
/// arrived.
fn tcp_bytes(from: &str, to_ns: &str, to_addr: &str) -> usize {
    let server = Command::new("ip")
        .args([
            "netns", "exec", to_ns, "python3", "-c",
            "import socket,sys\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',7000));s.listen(1);s.settimeout(20)\nc,_=s.accept();n=0\nwhile True:\n  d=c.recv(65536)\n  if not d: break\n  n+=len(d)\nprint(n)",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let client = format!(
        "import socket,time\nfor i in range(50):\n  try:\n    s=socket.create_connection(('{to_addr}',7000),timeout=5);break\n  except OSError: time.sleep(0.1)\ns.sendall(b'x'*200000);s.shutdown(socket.SHUT_WR);s.settimeout(10);s.recv(1)"
    );
    let _ = Command::new("ip")
        .args(["netns", "exec", from, "python3", "-c", &client])
        .status();
    let out = server.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn containers_on_three_hosts_talk_across_tunnels_mesh_then_chain() {
    let cluster = unique_cluster("ctr");
    let mut cli = CliLab::new(topology(&cluster, 3, TunnelKind::Vxlan, Shape::Mesh, true));
    cli.expect(&["lab", "up"], 0);
    cli.expect(&["apply", "--lab", "--auto-approve"], 0);
    let web: Vec<(String, String)> = ["host-a", "host-b", "host-c"]
        .iter()
        .map(|h| cli.container(h, "web"))
        .collect();
    let (db_b, db_b_addr) = cli.container("host-b", "db");
    let (db_a, _) = cli.container("host-a", "db");
    for (i, (_, addr)) in web.iter().enumerate() {
        assert!(
            addr.starts_with(&format!("10.10.{}.", i + 1)),
            "{addr} is in host {i}'s range"
        );
    }
    assert!(db_b_addr.starts_with("10.20.2."));
    assert!(pings(&web[0].0, &web[1].1), "a → b (web)");
    assert!(pings(&web[0].0, &web[2].1), "a → c (web)");
    assert!(pings(&web[2].0, &web[1].1), "c → b (web)");
    assert_eq!(
        tcp_bytes(&web[0].0, &web[2].0, &web[2].1),
        200_000,
        "TCP a → c"
    );
    assert!(
        !pings(&web[0].0, &db_b_addr),
        "the db VLAN is not reachable from web"
    );
    assert!(
        pings(&db_a, &db_b_addr),
        "while db itself works across the tunnel"
    );

    // The fabric leaves containers alone and shows them.
    let plan = cli.expect(&["plan", "--lab", "--detailed-exitcode"], 0);
    assert!(plan.contains("container"), "{plan}");
    let listed = cli.expect(&["containers", "--lab", "--format", "json"], 0);
    let v: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 5);
    assert!(
        v.as_array().unwrap().iter().all(|c| c["state"] == "ok"),
        "{v}"
    );

    // Mesh → chain: a and c now talk through b.
    let chain = topology(&cluster, 3, TunnelKind::Vxlan, Shape::Chain, true);
    cli.rewrite(chain);
    cli.expect(&["apply", "--lab", "--auto-approve"], 0);
    cli.expect(&["plan", "--lab", "--detailed-exitcode"], 0);
    assert!(pings(&web[0].0, &web[2].1), "a → c through the relay");
    assert_eq!(
        tcp_bytes(&web[2].0, &web[0].0, &web[0].1),
        200_000,
        "TCP c → a"
    );

    // Removing db while a container sits on it is blocked, naming it.
    let mut no_db = topology(&cluster, 3, TunnelKind::Vxlan, Shape::Chain, false);
    no_db.vlans.retain(|v| v.name == "web");
    cli.rewrite(no_db);
    let out = cli.run(&["plan", "--lab"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("VLAN `db`"));

    // A deleted namespace is stale; gc removes it.
    let _ = Command::new("ip").args(["netns", "del", &db_b]).output();
    let mut stale = false;
    for _ in 0..100 {
        let listed = cli.expect(
            &[
                "containers",
                "--lab",
                "--host",
                "host-b",
                "--format",
                "json",
            ],
            0,
        );
        let v: Value = serde_json::from_str(&listed).unwrap();
        stale = v.as_array().unwrap().iter().any(|c| c["state"] == "stale");
        if stale {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(stale, "the db container is reported stale");
    let gc = cli.expect(&["gc", "--lab", "--host", "host-b"], 0);
    assert!(gc.contains("1 stale container port(s) removed"), "{gc}");
    let listed = cli.expect(
        &[
            "containers",
            "--lab",
            "--host",
            "host-b",
            "--format",
            "json",
        ],
        0,
    );
    let v: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1);
}
