//! Shared helpers for the lab tests: unique clusters, topologies built in code, a guard
//! that tears the lab down even when a test fails, and a hand-built overlay (ovs-vsctl)
//! standing in for `ovsnet apply --lab` until the CLI is wired.
#![allow(dead_code)]

use ovsnet::lab;
use ovsnet::topology::{
    Analysis, BridgeSpec, Datapath, Host, LoopProtection, Protection, Shape, Topology, TunnelKind,
    TunnelSpec, Vlan,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A cluster name unique to this process and call.
pub fn unique_cluster(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("t{tag}{}-{n}", std::process::id())
}

/// `n` hosts, VLANs web (10, 10.10.0.0/16) and db (20, 10.20.0.0/16); host i gets
/// 10.10.i.0/24 and, when `both_vlans`, 10.20.i.0/24.
pub fn topology(
    cluster: &str,
    n: usize,
    kind: TunnelKind,
    shape: Shape,
    both_vlans: bool,
) -> Topology {
    let hosts = (1..=n)
        .map(|i| {
            let mut ranges = BTreeMap::new();
            ranges.insert(
                "web".to_string(),
                format!("10.10.{i}.0/24").parse().unwrap(),
            );
            if both_vlans {
                ranges.insert("db".to_string(), format!("10.20.{i}.0/24").parse().unwrap());
            }
            Host {
                name: format!("host-{}", (b'a' + i as u8 - 1) as char),
                underlay_ip: format!("198.18.0.{i}").parse().unwrap(),
                ovsdb: ovsnet::ovsdb::Endpoint::Unix("/nonexistent".into()),
                ranges: ranges.into_iter().collect(),
            }
        })
        .collect();
    Topology {
        cluster: cluster.to_string(),
        bridge: BridgeSpec {
            name: "br-ovsnet".into(),
            datapath: Datapath::Netdev,
        },
        tunnel: TunnelSpec {
            kind,
            shape,
            key: None,
            dst_port: None,
            loop_protection: LoopProtection::Auto,
        },
        underlay_mtu: 1500,
        vlans: vec![
            Vlan {
                name: "web".into(),
                id: 10,
                subnet: "10.10.0.0/16".parse().unwrap(),
                gateway: None,
                dhcp: false,
                nat: false,
            },
            Vlan {
                name: "db".into(),
                id: 20,
                subnet: "10.20.0.0/16".parse().unwrap(),
                gateway: None,
                dhcp: false,
                nat: false,
            },
        ],
        hosts,
    }
}

/// Tunnel edges of the topology's shape (host indices, lower first).
pub fn edges(t: &Topology) -> Vec<(usize, usize)> {
    let n = t.hosts.len();
    let idx = |name: &str| t.hosts.iter().position(|h| h.name == name).unwrap();
    let mut e: Vec<(usize, usize)> = match &t.tunnel.shape {
        Shape::Mesh => (0..n)
            .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
            .collect(),
        Shape::Chain => (1..n).map(|i| (i - 1, i)).collect(),
        Shape::Star { hub } => {
            let h = idx(hub);
            (0..n)
                .filter(|&i| i != h)
                .map(|i| (i.min(h), i.max(h)))
                .collect()
        }
        Shape::Custom { links } => links
            .iter()
            .map(|(a, b)| (idx(a).min(idx(b)), idx(a).max(idx(b))))
            .collect(),
    };
    e.sort();
    e
}

/// The real graph analysis, with the protection the test builds by hand.
pub fn analysis(t: &Topology, protection: Protection) -> Analysis {
    let (mut analysis, _) = ovsnet::topology::graph::analyze(t);
    analysis.protection = protection;
    analysis
}

/// Tears the lab down when dropped, pass or fail.
pub struct LabGuard {
    pub topology: Topology,
    pub root: PathBuf,
    _tmp: tempfile::TempDir,
}

impl LabGuard {
    pub fn new(topology: Topology) -> LabGuard {
        let tmp = tempfile::Builder::new().prefix("ovl").tempdir().unwrap();
        LabGuard {
            topology,
            root: tmp.path().to_path_buf(),
            _tmp: tmp,
        }
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = lab::down(&self.topology, &self.root);
    }
}

/// The namespaces of a cluster that exist now.
pub fn cluster_namespaces(cluster: &str) -> Vec<String> {
    let exact = lab::underlay_netns(cluster);
    let prefix = format!("{exact}.");
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| *n == exact || n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a process with that pid still exists (zombies count as gone).
pub fn process_exists(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .chars()
                .next();
            !matches!(state, Some('Z') | Some('X'))
        }
        Err(_) => false,
    }
}

pub fn sock(t: &Topology, root: &Path, host: &str) -> String {
    lab::endpoint(t, host, root)
}

/// `ovs-vsctl --db=ENDPOINT ARGS`, asserting success.
pub fn vsctl(endpoint: &str, args: &[&str]) {
    let out = Command::new("ovs-vsctl")
        .arg(format!("--db={endpoint}"))
        .arg("--timeout=10")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ovs-vsctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Tunnel port name used by the hand-built overlay.
pub fn tunnel_port(t: &Topology, peer: &str) -> String {
    format!("{}{}", t.tunnel.kind.port_prefix(), peer)
}

/// Brings the guarded lab up, builds the overlay by hand and returns the analysis that
/// matches it: the common start of a check test.
pub fn up_with_overlay(guard: &LabGuard, protection: Protection) -> Analysis {
    let t = &guard.topology;
    ovsnet::lab::up(t, &guard.root).expect("up");
    build_overlay(t, &guard.root, protection);
    analysis(t, protection)
}

/// Builds the overlay by hand, as `ovsnet apply --lab` would: a netdev bridge per host
/// carrying the host intent apply writes (docs/host-side.md: cluster and role marks, MTU,
/// one key per VLAN, so probes and containers can be attached), one tunnel port per
/// edge, trunks = the VLAN ids, protected / rstp as asked.
pub fn build_overlay(t: &Topology, root: &Path, protection: Protection) {
    let mtu = analysis(t, protection).overlay_mtu;
    let trunks = format!(
        "trunks=[{}]",
        t.vlans
            .iter()
            .map(|v| v.id.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let rstp = format!("rstp_enable={}", protection == Protection::Rstp);
    let protected = format!("protected={}", protection == Protection::SplitHorizon);
    for (i, h) in t.hosts.iter().enumerate() {
        let ep = sock(t, root, &h.name);
        let br = t.bridge.name.as_str();
        let mut args: Vec<String> = [
            "--may-exist",
            "add-br",
            br,
            "--",
            "set",
            "bridge",
            br,
            "datapath_type=netdev",
            &rstp,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut intent = vec![
            (ovsnet::state::MARK_CLUSTER.to_string(), t.cluster.clone()),
            (ovsnet::state::MARK_ROLE.to_string(), "bridge".to_string()),
        ];
        intent.extend(ovsnet::intent::bridge_keys(t, h, mtu));
        for (key, value) in intent {
            // ovs-vsctl reads a quoted value with JSON's string quoting.
            let quoted = serde_json::to_string(&value).unwrap();
            args.push(format!("external_ids:{key}={quoted}"));
        }
        for (a, b) in edges(t) {
            let peer = if a == i {
                b
            } else if b == i {
                a
            } else {
                continue;
            };
            let p = &t.hosts[peer];
            let port = tunnel_port(t, &p.name);
            args.extend(
                [
                    "--",
                    "add-port",
                    br,
                    &port,
                    &trunks,
                    &protected,
                    "--",
                    "set",
                    "interface",
                    &port,
                    &format!("type={}", t.tunnel.kind.ovs_name()),
                    &format!("options:remote_ip={}", p.underlay_ip),
                ]
                .iter()
                .map(|s| s.to_string()),
            );
        }
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        vsctl(&ep, &refs);
    }
}

/// The topology as a YAML file in the schema of DESIGN.md §1 (for the CLI tests).
pub fn to_yaml(t: &Topology) -> String {
    let lp = match t.tunnel.loop_protection {
        LoopProtection::Auto => "auto",
        LoopProtection::Protected => "protected",
        LoopProtection::Rstp => "rstp",
        LoopProtection::None => "none",
    };
    let mut y = format!(
        "version: 1\ncluster: {}\nbridge:\n  name: {}\ntunnel:\n  type: {}\n  topology: {}\n",
        t.cluster,
        t.bridge.name,
        t.tunnel.kind.ovs_name(),
        t.tunnel.shape.word()
    );
    match &t.tunnel.shape {
        Shape::Star { hub } => y.push_str(&format!("  hub: {hub}\n")),
        Shape::Custom { links } => {
            y.push_str("  links:\n");
            for (a, b) in links {
                y.push_str(&format!("    - [{a}, {b}]\n"));
            }
        }
        Shape::Mesh | Shape::Chain => {}
    }
    y.push_str(&format!(
        "  loop_protection: {lp}\nunderlay:\n  mtu: {}\nvlans:\n",
        t.underlay_mtu
    ));
    for v in &t.vlans {
        y.push_str(&format!(
            "  - name: {}\n    id: {}\n    subnet: {}\n",
            v.name, v.id, v.subnet
        ));
        if let Some(gateway) = v.gateway {
            y.push_str(&format!("    gateway: {gateway}\n"));
        }
        if v.dhcp {
            y.push_str("    dhcp: true\n");
        }
        if v.nat {
            y.push_str("    nat: true\n");
        }
    }
    y.push_str("hosts:\n");
    for h in &t.hosts {
        y.push_str(&format!(
            "  - name: {}\n    underlay_ip: {}\n    ranges:\n",
            h.name, h.underlay_ip
        ));
        for (vlan, range) in &h.ranges {
            y.push_str(&format!("      {vlan}: {range}\n"));
        }
    }
    y
}
