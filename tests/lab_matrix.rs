//! The lab, end to end through the `ovsnet` binary: `lab up`, `apply --lab`, an empty
//! re-plan, `lab check`, `lab down`, for every shape × tunnel type, and the stories of
//! issue 4 (storm, growth, ring with RSTP, isolation, a cut tunnel). Each runs its lab
//! under its own run root (`OVSNET_LAB_DIR`, a temporary directory) with a unique
//! cluster name, so they run in parallel without clashing.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod lab_support;

use lab_support::*;
use ovsnet::lab;
use ovsnet::topology::{LoopProtection, Protection, Shape, Topology, TunnelKind};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// A topology written to a file, with the lab torn down (through the library) on drop.
struct CliLab {
    topology: Topology,
    file: PathBuf,
    root: PathBuf,
    _dir: tempfile::TempDir,
}

impl CliLab {
    fn new(topology: Topology) -> CliLab {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("topology.yaml");
        std::fs::write(&file, to_yaml(&topology)).unwrap();
        let root = dir.path().join("run");
        CliLab {
            topology,
            file,
            root,
            _dir: dir,
        }
    }

    /// Replaces the topology (the file keeps its path, as in a git checkout).
    fn rewrite(&mut self, topology: Topology) {
        std::fs::write(&self.file, to_yaml(&topology)).unwrap();
        self.topology = topology;
    }

    fn ovsnet(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_ovsnet"))
            .args(args)
            .arg(&self.file)
            .env("NO_COLOR", "1")
            .env("OVSNET_LAB_DIR", &self.root)
            .output()
            .unwrap();
        eprintln!(
            "$ ovsnet {} -> {:?}\n{}{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn expect(&self, args: &[&str], code: i32) -> String {
        let out = self.ovsnet(args);
        assert_eq!(out.status.code(), Some(code), "ovsnet {args:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for CliLab {
    fn drop(&mut self) {
        let _ = lab::down(&self.topology, &self.root);
    }
}

fn pids(t: &Topology, root: &Path) -> Vec<u32> {
    lab::status(t, root)
        .expect("status")
        .hosts
        .iter()
        .flat_map(|h| [h.ovsdb_pid, h.vswitchd_pid, h.agent_pid])
        .flatten()
        .collect()
}

/// up, apply, empty re-plan, check green, down clean.
fn full_cycle(t: Topology) {
    let cli = CliLab::new(t);
    cli.expect(&["lab", "up"], 0);
    cli.expect(&["lab", "status"], 0);
    cli.expect(&["apply", "--lab", "--auto-approve"], 0);
    cli.expect(&["plan", "--lab", "--detailed-exitcode"], 0);
    let check = cli.expect(&["lab", "check"], 0);
    assert!(check.contains("check passed"), "{check}");
    assert!(
        check.contains("full check (3 hosts, at most 16): every pair"),
        "{check}"
    );
    assert!(
        check.contains("VLAN web (10)") && check.contains("VLAN db (20)"),
        "{check}"
    );
    // Isolation across VLANs, on the same host and across hosts: 3 hosts × 2 VLANs = 6
    // probes, 9 cross-VLAN pairs, all isolated.
    assert!(
        check.contains("isolation: 9 cross-VLAN pairs, 9 isolated"),
        "{check}"
    );
    // The gateway of web (NAT on) on every host: gateway ping, outside ping, the outside
    // sees the host's underlay address, a published port reached from outside, nothing
    // unpublished reached, no gateway MAC on a tunnel port, one gateway MAC, the gateway
    // device at the overlay MTU: 3 × 8.
    assert!(
        check.contains("gateway: 24 tests, 24 passed (outside 198.19.255.254)"),
        "{check}"
    );
    // DHCP on web from every host's own server: udhcpc and dhclient on a hand-made
    // port per host, each offered an address of its host's range, the gateway as router
    // and the overlay MTU: 3 hosts × 2 clients.
    assert!(
        check.contains("dhcp: 6 clients, 6 served from their host's range"),
        "{check}"
    );
    // `lab up` started an agent beside the two daemons of each host.
    let running = pids(&cli.topology, cli.root());
    assert_eq!(running.len(), 9);
    cli.expect(&["lab", "down"], 0);
    // The outside went with the rest.
    assert!(
        cluster_namespaces(&cli.topology.cluster).is_empty(),
        "namespaces left"
    );
    assert!(
        running.iter().all(|p| !process_exists(*p)),
        "processes left"
    );
    assert!(
        !cli.root().join(&cli.topology.cluster).exists(),
        "run directory left"
    );
}

fn three(tag: &str, kind: TunnelKind, shape: Shape) -> Topology {
    with_nat_gateway(topology(&unique_cluster(tag), 3, kind, shape, true))
}

/// VLAN web gets the gateway 10.10.0.1 (outside every host's range), NAT and DHCP.
fn with_nat_gateway(mut t: Topology) -> Topology {
    t.vlans[0].gateway = Some("10.10.0.1".parse().unwrap());
    t.vlans[0].nat = true;
    t.vlans[0].dhcp = true;
    t
}

fn star() -> Shape {
    Shape::Star {
        hub: "host-a".into(),
    }
}

macro_rules! cycle_tests {
    ($($name:ident: $kind:expr, $shape:expr;)*) => {$(
        #[test]
        fn $name() {
            full_cycle(three("m", $kind, $shape));
        }
    )*};
}

cycle_tests! {
    mesh_vxlan: TunnelKind::Vxlan, Shape::Mesh;
    mesh_gre: TunnelKind::Gre, Shape::Mesh;
    mesh_geneve: TunnelKind::Geneve, Shape::Mesh;
    chain_vxlan: TunnelKind::Vxlan, Shape::Chain;
    chain_gre: TunnelKind::Gre, Shape::Chain;
    chain_geneve: TunnelKind::Geneve, Shape::Chain;
    star_vxlan: TunnelKind::Vxlan, star();
    star_gre: TunnelKind::Gre, star();
    star_geneve: TunnelKind::Geneve, star();
}

#[test]
fn mesh_without_loop_protection_storms_and_auto_does_not() {
    let mut t = topology(
        &unique_cluster("w"),
        4,
        TunnelKind::Vxlan,
        Shape::Mesh,
        false,
    );
    let window = Duration::from_millis(1500);
    // auto: split horizon; one broadcast stays a handful of packets, the check is green.
    let mut cli = CliLab::new(t.clone());
    cli.expect(&["lab", "up"], 0);
    cli.expect(&["apply", "--lab", "--auto-approve"], 0);
    let check = cli.expect(&["lab", "check"], 0);
    assert!(check.contains("check passed"), "{check}");
    let clean = lab::storm_probe(
        &t,
        &analysis(&t, Protection::SplitHorizon),
        cli.root(),
        window,
    )
    .expect("storm probe");
    assert!(!clean.is_storm(), "{clean:?}");
    // none: the same mesh, ports no longer protected; one broadcast loops for ever.
    t.tunnel.loop_protection = LoopProtection::None;
    cli.rewrite(t.clone());
    cli.expect(&["apply", "--lab", "--auto-approve"], 0);
    let storm = lab::storm_probe(&t, &analysis(&t, Protection::None), cli.root(), window)
        .expect("storm probe");
    let out = cli.ovsnet(&["lab", "check"]);
    assert_eq!(out.status.code(), Some(1), "the check fails on a storm");
    assert!(String::from_utf8_lossy(&out.stdout).contains("BROADCAST STORM"));
    cli.expect(&["lab", "down"], 0);
    assert!(storm.is_storm(), "{storm:?}");
    assert!(
        storm.total > 20 * clean.total.max(1),
        "{clean:?} vs {storm:?}"
    );
}

fn host_has_changes(cli: &CliLab, host: &str) -> bool {
    let code = cli
        .ovsnet(&["plan", "--lab", "--detailed-exitcode", "--host", host])
        .status
        .code();
    assert!(
        matches!(code, Some(0) | Some(2)),
        "plan for {host}: {code:?}"
    );
    code == Some(2)
}

#[test]
fn chain_grows_at_the_end_and_loses_its_middle_host() {
    let four = topology(
        &unique_cluster("h"),
        4,
        TunnelKind::Vxlan,
        Shape::Chain,
        false,
    );
    let mut three = four.clone();
    three.hosts.truncate(3);
    let mut cli = CliLab::new(three);
    cli.expect(&["lab", "up"], 0);
    cli.expect(&["apply", "--lab", "--auto-approve"], 0);
    assert!(cli.expect(&["lab", "check"], 0).contains("check passed"));

    // Growth: host-d joins at the end; only host-c and host-d change.
    cli.rewrite(four.clone());
    cli.expect(&["lab", "up"], 0);
    let touched: Vec<bool> = ["host-a", "host-b", "host-c", "host-d"]
        .iter()
        .map(|h| host_has_changes(&cli, h))
        .collect();
    assert_eq!(touched, [false, false, true, true]);
    cli.expect(&["apply", "--lab", "--auto-approve"], 0);
    cli.expect(&["plan", "--lab", "--detailed-exitcode"], 0);
    assert!(cli.expect(&["lab", "check"], 0).contains("check passed"));

    // Shrink: host-b leaves the middle; host-a and host-c are re-linked.
    let mut without_b = four.clone();
    without_b.hosts.remove(1);
    let removed_pids = pids(&four, cli.root());
    cli.rewrite(without_b);
    assert!(host_has_changes(&cli, "host-a"));
    assert!(host_has_changes(&cli, "host-c"));
    assert!(!host_has_changes(&cli, "host-d"));
    cli.expect(&["apply", "--lab", "--auto-approve"], 0);
    cli.expect(&["plan", "--lab", "--detailed-exitcode"], 0);
    assert!(cli.expect(&["lab", "check"], 0).contains("check passed"));
    // Down with the new file still removes host-b's lab host (it is in the lab record).
    cli.expect(&["lab", "down"], 0);
    assert!(cluster_namespaces(&cli.topology.cluster).is_empty());
    assert!(removed_pids.iter().all(|p| !process_exists(*p)));
}

fn ring_with_rstp_passes_the_check(kind: TunnelKind) {
    let links = [
        ("host-a", "host-b"),
        ("host-b", "host-c"),
        ("host-c", "host-d"),
        ("host-d", "host-a"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    let mut t = with_nat_gateway(topology(
        &unique_cluster("q"),
        4,
        kind,
        Shape::Custom { links },
        true,
    ));
    t.tunnel.loop_protection = LoopProtection::Rstp;
    let cli = CliLab::new(t);
    cli.expect(&["lab", "up"], 0);
    cli.expect(&["apply", "--lab", "--auto-approve"], 0);
    cli.expect(&["plan", "--lab", "--detailed-exitcode"], 0);
    let check = cli.expect(&["lab", "check"], 0);
    assert!(check.contains("check passed"), "{check}");
    // The ring relays between tunnels, yet the gateway's frames stay home: 4 hosts × 8.
    assert!(check.contains("gateway: 32 tests, 32 passed"), "{check}");
    // DHCP broadcasts cross the relaying tunnels too; only each client's own host answers.
    assert!(
        check.contains("dhcp: 8 clients, 8 served from their host's range"),
        "{check}"
    );
    cli.expect(&["lab", "down"], 0);
}

#[test]
fn ring_with_rstp_passes_the_check_geneve() {
    ring_with_rstp_passes_the_check(TunnelKind::Geneve);
}

#[test]
fn ring_with_rstp_passes_the_check_vxlan() {
    ring_with_rstp_passes_the_check(TunnelKind::Vxlan);
}

#[test]
fn a_tunnel_cut_by_hand_in_a_chain_fails_the_check_naming_the_pairs() {
    let t = topology(
        &unique_cluster("u"),
        3,
        TunnelKind::Gre,
        Shape::Chain,
        false,
    );
    let cli = CliLab::new(t);
    cli.expect(&["lab", "up"], 0);
    cli.expect(&["apply", "--lab", "--auto-approve"], 0);
    assert!(cli.expect(&["lab", "check"], 0).contains("check passed"));
    // Find host-b's tunnel to host-c by its remote_ip (the name is ovsnet's business).
    let ep = lab::endpoint(&cli.topology, "host-b", cli.root());
    let out = Command::new("ovs-vsctl")
        .args([
            &format!("--db={ep}"),
            "--bare",
            "--columns=name",
            "find",
            "interface",
            "options:remote_ip=198.18.0.3",
        ])
        .output()
        .unwrap();
    let port = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!port.is_empty(), "tunnel to host-c not found on host-b");
    vsctl(&ep, &["del-port", &port]);
    let out = cli.ovsnet(&["lab", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    for pair in [
        "host-a -> host-c",
        "host-c -> host-a",
        "host-b -> host-c",
        "host-c -> host-b",
    ] {
        assert!(text.contains(pair), "{pair} not named:\n{text}");
    }
    assert!(!text.contains("host-a -> host-b"), "{text}");
    // The repair is a plan with exactly that change; apply restores it and the check is green.
    cli.expect(&["plan", "--lab", "--detailed-exitcode"], 2);
    cli.expect(&["apply", "--lab", "--auto-approve"], 0);
    assert!(cli.expect(&["lab", "check"], 0).contains("check passed"));
    cli.expect(&["lab", "down"], 0);
}

/// The (from, to) host names of every tested pair of the JSON report, and whether it passed.
fn tested_pairs(json: &serde_json::Value) -> Vec<(String, String, String, bool)> {
    let mut out = Vec::new();
    for m in json["vlans"].as_array().unwrap() {
        let hosts: Vec<&str> = m["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        for (i, row) in m["cells"].as_array().unwrap().iter().enumerate() {
            for (j, cell) in row.as_array().unwrap().iter().enumerate() {
                if cell.is_null() {
                    continue;
                }
                let ok = ["icmp", "tcp", "mtu"].iter().all(|t| cell[t] == true);
                out.push((
                    m["vlan"].as_str().unwrap().to_string(),
                    hosts[i].to_string(),
                    hosts[j].to_string(),
                    ok,
                ));
            }
        }
    }
    out
}

fn json_of(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn above_the_threshold_the_check_samples_and_says_so_and_full_tests_every_pair() {
    let t = topology(
        &unique_cluster("s"),
        5,
        TunnelKind::Vxlan,
        Shape::Chain,
        true,
    );
    let cli = CliLab::new(t);
    cli.expect(&["lab", "up"], 0);
    cli.expect(&["apply", "--lab", "--auto-approve"], 0);
    // 5 hosts, above a threshold of 4: sampled, and the text says so and what it misses.
    let text = cli.expect(&["lab", "check", "--sample-above", "4"], 0);
    assert!(
        text.contains("sampled check (5 hosts, more than 4):"),
        "{text}"
    );
    assert!(text.contains("`--full` tests every pair"), "{text}");
    assert!(text.contains("check passed"), "{text}");
    assert!(text.contains("latency (ICMP round trip"), "{text}");
    let sampled = json_of(&cli.expect(
        &["lab", "check", "--sample-above", "4", "--format", "json"],
        0,
    ));
    assert_eq!(sampled["coverage"]["mode"], "sampled");
    assert_eq!(sampled["passed"], true);
    let pairs = tested_pairs(&sampled);
    // 2 VLANs × 5 hosts × 4 peers = 40 directed pairs; the sample has fewer, and every
    // host sends and receives in every VLAN.
    assert!(pairs.len() < 40, "{} pairs", pairs.len());
    assert_eq!(sampled["pairs_tested"], pairs.len());
    assert_eq!(sampled["coverage"]["reach_total"], 40);
    for vlan in ["web", "db"] {
        for h in &cli.topology.hosts {
            assert!(
                pairs.iter().any(|p| p.0 == vlan && p.1 == h.name),
                "{vlan} from {}",
                h.name
            );
            assert!(
                pairs.iter().any(|p| p.0 == vlan && p.2 == h.name),
                "{vlan} to {}",
                h.name
            );
        }
    }
    // A chain is sparse: every tunnel joins a tested pair.
    assert_eq!(sampled["coverage"]["tunnels_covered"], 4);
    let isolation = sampled["isolation"].as_array().unwrap().len();
    assert!(isolation < 25, "{isolation}");
    // Every tested pair answered, with a round trip.
    for m in sampled["vlans"].as_array().unwrap() {
        for cell in m["cells"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap())
        {
            assert!(cell.is_null() || cell["latency_us"].is_u64(), "{cell}");
        }
    }
    // --full: every directed pair and every cross-VLAN pair.
    let full = json_of(&cli.expect(
        &[
            "lab",
            "check",
            "--full",
            "--sample-above",
            "4",
            "--format",
            "json",
        ],
        0,
    ));
    assert_eq!(full["coverage"]["mode"], "full");
    assert_eq!(full["coverage"]["reason"], "--full");
    assert_eq!(tested_pairs(&full).len(), 40);
    assert_eq!(full["pairs_tested"], 40);
    assert_eq!(full["isolation"].as_array().unwrap().len(), 25);
    cli.expect(&["lab", "down"], 0);
}

#[test]
fn a_sampled_check_of_a_chain_finds_a_cut_tunnel_and_names_only_pairs_across_it() {
    let t = topology(
        &unique_cluster("p"),
        5,
        TunnelKind::Gre,
        Shape::Chain,
        false,
    );
    let cli = CliLab::new(t);
    cli.expect(&["lab", "up"], 0);
    cli.expect(&["apply", "--lab", "--auto-approve"], 0);
    // Cut host-c's tunnel to host-d (198.18.0.4) by hand.
    let ep = lab::endpoint(&cli.topology, "host-c", cli.root());
    let out = Command::new("ovs-vsctl")
        .args([
            &format!("--db={ep}"),
            "--bare",
            "--columns=name",
            "find",
            "interface",
            "options:remote_ip=198.18.0.4",
        ])
        .output()
        .unwrap();
    let port = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!port.is_empty(), "tunnel to host-d not found on host-c");
    vsctl(&ep, &["del-port", &port]);
    let out = cli.ovsnet(&["lab", "check", "--sample", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report = json_of(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(report["coverage"]["mode"], "sampled");
    let left = |h: &str| ["host-a", "host-b", "host-c"].contains(&h);
    let pairs = tested_pairs(&report);
    assert!(pairs.len() < 20, "sampled: {} pairs", pairs.len());
    // Exactly the tested pairs across the cut fail, and the two ends of the cut tunnel
    // are among them.
    for (_, from, to, ok) in &pairs {
        assert_eq!(*ok, left(from) == left(to), "{from} -> {to}");
    }
    let broken: Vec<&str> = report["broken"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    assert!(
        broken.contains(&"web: host-c -> host-d (icmp, tcp, mtu)"),
        "{broken:?}"
    );
    assert!(
        broken.contains(&"web: host-d -> host-c (icmp, tcp, mtu)"),
        "{broken:?}"
    );
    assert_eq!(broken.len(), pairs.iter().filter(|p| !p.3).count());
    // Each broken pair was tested again alone before being called broken.
    assert_eq!(report["pacing"]["retried"], broken.len());
    assert_eq!(report["pacing"]["recovered"], 0);
    cli.expect(&["lab", "down"], 0);
}

/// `kill -STOP` / `kill -CONT` of one process we started.
fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// The negative story: host-b's agent hangs (stopped, still alive) and someone deletes
/// its nftables table by hand. The check must fail, naming host-b and what broke there
/// (NAT source, the published port, an unpublished container reached from outside) and
/// nothing on the other hosts; the JSON report says the same. Once the agent runs again
/// it restores the table and the check is green.
#[test]
fn a_deleted_nat_table_fails_the_gateway_check_naming_the_host() {
    let mut t = three("g", TunnelKind::Vxlan, Shape::Mesh);
    // A frozen agent cannot lease to new DHCP clients either; this test is about NAT.
    t.vlans[0].dhcp = false;
    let cli = CliLab::new(t);
    cli.expect(&["lab", "up"], 0);
    cli.expect(&["apply", "--lab", "--auto-approve"], 0);
    let agent = lab::status(&cli.topology, cli.root())
        .unwrap()
        .hosts
        .iter()
        .find(|h| h.name == "host-b")
        .and_then(|h| h.agent_pid)
        .expect("host-b's agent runs");
    // The agent realizes the host after apply returns (its table, the gateway's
    // address): wait for both before freezing it, or on a loaded machine the check
    // below also sees a gateway with no address yet and fails for that reason.
    let ns = lab::host_netns(&cli.topology.cluster, "host-b");
    let in_ns = |argv: &[&str]| {
        Command::new("ip")
            .args(["netns", "exec", &ns])
            .args(argv)
            .output()
            .unwrap()
    };
    let realized = || {
        let table = in_ns(&["nft", "list", "table", "inet", "ovsnet"]);
        let address = in_ns(&["ip", "-4", "-o", "addr", "show", "dev", "ovsgw-10"]);
        table.status.success() && String::from_utf8_lossy(&address.stdout).contains("10.10.0.1/")
    };
    let start = std::time::Instant::now();
    while !realized() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "host-b's agent never wrote its nftables table and gateway address"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(agent, "-STOP");
    let deleted = Command::new("ip")
        .args([
            "netns", "exec", &ns, "nft", "delete", "table", "inet", "ovsnet",
        ])
        .status()
        .unwrap()
        .success();
    let out = cli.ovsnet(&["lab", "check"]);
    let json = cli.ovsnet(&["lab", "check", "--format", "json"]);
    signal(agent, "-CONT");
    assert!(deleted, "host-b had no table `inet ovsnet`");
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    for failure in [
        "gateway: web@host-b nat-source:",
        "gateway: web@host-b published:",
        "gateway: web@host-b unpublished:",
    ] {
        assert!(text.contains(failure), "{failure} not named:\n{text}");
    }
    assert!(!text.contains("web@host-a nat-source:"), "{text}");
    assert!(!text.contains("web@host-c nat-source:"), "{text}");
    assert_eq!(json.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let failed: Vec<(String, String)> = report["gateway"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ok"] == false)
        .map(|r| {
            (
                r["host"].as_str().unwrap().to_string(),
                r["test"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(failed.iter().all(|(h, _)| h == "host-b"), "{failed:?}");
    assert!(
        failed.contains(&("host-b".into(), "nat_source".into())),
        "{failed:?}"
    );
    // The agent, running again, puts its table back (the check's probes are an OVSDB
    // change it reconciles on).
    let check = cli.expect(&["lab", "check"], 0);
    assert!(check.contains("check passed"), "{check}");

    // The gateway's MTU: apply asks for the overlay MTU (a new internal port is 1500).
    // Set back to 1500 by hand, the check names the host and plan/apply repair it.
    let ep = lab::endpoint(&cli.topology, "host-c", cli.root());
    vsctl(&ep, &["set", "interface", "ovsgw-10", "mtu_request=1500"]);
    let out = cli.ovsnet(&["lab", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("gateway: web@host-c mtu: gateway device `ovsgw-10` has MTU 1500, not the overlay MTU 1446"),
        "{text}"
    );
    cli.expect(&["plan", "--lab", "--detailed-exitcode"], 2);
    cli.expect(&["apply", "--lab", "--auto-approve"], 0);
    assert!(cli.expect(&["lab", "check"], 0).contains("check passed"));
    cli.expect(&["lab", "down"], 0);
}
