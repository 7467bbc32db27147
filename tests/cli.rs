//! The command-line contract, run through the real binary: exit codes, offline plans of
//! the example topologies, `graph`, `diff`. No host is contacted here.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn ovsnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ovsnet"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("the ovsnet binary runs")
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn json_plan(topology: &str) -> Value {
    let out = ovsnet(&["plan", topology, "--offline", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("plan json parses")
}

/// Tunnel port creations per host: (host, [(port name, protected)]).
fn tunnel_ports(plan: &Value) -> Vec<(String, Vec<(String, bool)>)> {
    let hosts = plan["hosts"].as_array().expect("hosts array");
    hosts
        .iter()
        .map(|host| {
            let ports = host["changes"]
                .as_array()
                .expect("changes array")
                .iter()
                .filter(|c| c["kind"] == "port" && c["action"] == "create")
                .filter_map(|c| {
                    let attrs = c["attrs"].as_array().expect("attrs array");
                    let get = |key: &str| {
                        attrs
                            .iter()
                            .find(|a| a["key"] == key)
                            .map(|a| a["new"].clone())
                    };
                    let role = get("external_ids:ovsnet-role")?;
                    (role == "tunnel").then(|| {
                        let name = c["name"].as_str().expect("name").to_string();
                        (name, get("protected") == Some(Value::Bool(true)))
                    })
                })
                .collect();
            (host["host"].as_str().expect("host name").to_string(), ports)
        })
        .collect()
}

#[test]
fn usage_errors_exit_64_never_2() {
    for args in [
        &["plan"][..],
        &["plan", "topologies/mesh3-vxlan.yaml", "--no-such-flag"],
        &["frobnicate"],
        &["plan", "topologies/mesh3-vxlan.yaml", "--format", "yaml"],
        &[],
        &["lab"],
    ] {
        let out = ovsnet(args);
        assert_eq!(code(&out), 64, "args {args:?}: {}", stderr(&out));
    }
}

#[test]
fn help_and_version_exit_0() {
    assert_eq!(code(&ovsnet(&["--help"])), 0);
    assert_eq!(code(&ovsnet(&["--version"])), 0);
    assert_eq!(code(&ovsnet(&["plan", "--help"])), 0);
}

#[test]
fn an_unknown_host_selection_is_a_usage_error() {
    let out = ovsnet(&[
        "plan",
        "topologies/mesh3-vxlan.yaml",
        "--offline",
        "--host",
        "nope",
    ]);
    assert_eq!(code(&out), 64);
    assert!(stderr(&out).contains("`--host nope`"), "{}", stderr(&out));
}

#[test]
fn every_example_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("topologies/ exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let out = ovsnet(&["validate", path.to_str().expect("utf-8 path")]);
            assert_eq!(code(&out), 0, "{}: {}", path.display(), stderr(&out));
            seen += 1;
        }
    }
    assert!(seen >= 4, "expected at least four examples, found {seen}");
}

#[test]
fn a_missing_file_is_invalid_input() {
    let out = ovsnet(&["validate", "topologies/does-not-exist.yaml"]);
    assert_eq!(code(&out), 65);
    assert!(stderr(&out).contains("does-not-exist.yaml"));
}

#[test]
fn offline_plan_of_a_3_host_mesh_has_6_protected_tunnel_ports() {
    let plan = json_plan("topologies/mesh3-vxlan.yaml");
    let hosts = tunnel_ports(&plan);
    assert_eq!(hosts.len(), 3);
    for (host, ports) in &hosts {
        assert_eq!(ports.len(), 2, "host {host}: {ports:?}");
        assert!(
            ports.iter().all(|(_, protected)| *protected),
            "host {host}: {ports:?}"
        );
    }
}

#[test]
fn offline_plan_of_a_4_host_chain_has_6_unprotected_ports_and_warns_about_relays() {
    let plan = json_plan("topologies/chain4.yaml");
    let hosts = tunnel_ports(&plan);
    let counts: Vec<usize> = hosts.iter().map(|(_, p)| p.len()).collect();
    assert_eq!(counts, [1, 2, 2, 1]);
    assert!(hosts
        .iter()
        .flat_map(|(_, p)| p)
        .all(|(_, protected)| !protected));
    let out = ovsnet(&["plan", "topologies/chain4.yaml", "--offline"]);
    let text = stdout(&out) + &stderr(&out);
    assert!(text.contains("single point of failure"), "{text}");
}

#[test]
fn offline_plan_text_ends_with_the_summary_and_is_byte_identical_across_runs() {
    let first = ovsnet(&["plan", "topologies/mesh3-vxlan.yaml", "--offline"]);
    let second = ovsnet(&["plan", "topologies/mesh3-vxlan.yaml", "--offline"]);
    assert_eq!(first.stdout, second.stdout);
    let text = stdout(&first);
    let last = text.lines().last().expect("some output");
    assert!(
        last.starts_with("Plan: ") && last.ends_with(" to destroy."),
        "{last}"
    );
    assert!(!text.contains('\u{1b}'), "no colour when not a terminal");
}

#[test]
fn detailed_exitcode_is_2_for_changes_and_0_without() {
    let out = ovsnet(&[
        "plan",
        "topologies/mesh3-vxlan.yaml",
        "--offline",
        "--detailed-exitcode",
    ]);
    assert_eq!(code(&out), 2);
    let out = ovsnet(&[
        "diff",
        "topologies/mesh3-vxlan.yaml",
        "topologies/mesh3-vxlan.yaml",
        "--detailed-exitcode",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn a_ring_under_auto_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ring = std::fs::read_to_string("topologies/ring4-rstp.yaml").expect("example");
    let auto = ring.replace("loop_protection: rstp", "loop_protection: auto");
    assert_ne!(auto, ring, "the example spells out `loop_protection: rstp`");
    let path = dir.path().join("ring-auto.yaml");
    std::fs::write(&path, auto).expect("write");
    let out = ovsnet(&["plan", path.to_str().expect("utf-8"), "--offline"]);
    assert_eq!(code(&out), 65);
    let err = stderr(&out);
    assert!(err.contains("rstp") && err.contains("storm"), "{err}");
}

#[test]
fn graph_mermaid_has_a_node_per_host_and_an_edge_per_tunnel() {
    let out = ovsnet(&["graph", "topologies/star5-gre.yaml", "--format", "mermaid"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.trim_start().starts_with("flowchart"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains("---")).count(),
        4,
        "{text}"
    );
}
