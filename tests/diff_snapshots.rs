//! `ovsnet diff` through the real binary, one snapshot per change and format: what a
//! pull-request dry run prints for the changes operators make (a host added, removed,
//! moved or renamed; a VLAN, the tunnel type or the shape changed; nothing changed).
//!
//! The snapshots were taken from the full diff (both clusters built whole, every host
//! compared: `diff::full_host` for every host), so they hold the bytes `diff` printed
//! before it became incremental; the incremental diff must print exactly those.

// Test helpers fail loudly: a panic is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

/// A change to an example topology: its name, the example, and the edit that makes HEAD.
struct Case {
    name: &'static str,
    base: &'static str,
    edit: fn(&str) -> String,
}

fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "the example holds {from:?}");
    text.replacen(from, to, 1)
}

const HOST_D: &str = "  - name: host-d\n    underlay_ip: 198.18.0.4\n    ranges:\n      web: 10.10.4.0/24\n      db: 10.20.4.0/24\n";

fn cases() -> Vec<Case> {
    let mesh = "topologies/mesh3-vxlan.yaml";
    let chain = "topologies/chain4.yaml";
    let star = "topologies/star5-gre.yaml";
    vec![
        Case {
            name: "no_change",
            base: mesh,
            edit: |t| t.to_string(),
        },
        Case {
            name: "host_added",
            base: mesh,
            edit: |t| format!("{t}{HOST_D}"),
        },
        Case {
            name: "host_removed",
            base: mesh,
            edit: |t| {
                replace(
                    t,
                    "  - name: host-b\n    underlay_ip: 198.18.0.2\n    ranges:\n      web: 10.10.2.0/24\n      db: 10.20.2.0/24\n",
                    "",
                )
            },
        },
        Case {
            name: "underlay_ip_changed",
            base: mesh,
            edit: |t| replace(t, "198.18.0.3", "198.18.0.33"),
        },
        Case {
            name: "endpoint_changed",
            base: mesh,
            edit: |t| {
                replace(
                    t,
                    "underlay_ip: 198.18.0.1\n",
                    "underlay_ip: 198.18.0.1\n    ovsdb: tcp:198.18.0.1:6640\n",
                )
            },
        },
        Case {
            name: "tunnel_type_changed",
            base: mesh,
            edit: |t| replace(t, "type: vxlan", "type: geneve"),
        },
        Case {
            name: "vlan_added",
            base: mesh,
            edit: |t| {
                replace(
                    t,
                    "hosts:\n",
                    "  - name: ops\n    id: 30\n    subnet: 10.30.0.0/16\nhosts:\n",
                )
            },
        },
        Case {
            name: "gateway_removed",
            base: mesh,
            edit: |t| {
                replace(
                    t,
                    "    gateway: 10.10.0.1\n    nat: true\n    dhcp: true\n",
                    "",
                )
            },
        },
        Case {
            name: "range_changed",
            base: mesh,
            edit: |t| replace(t, "web: 10.10.2.0/24", "web: 10.10.9.0/24"),
        },
        Case {
            name: "key_removed",
            base: mesh,
            edit: |t| replace(t, "  key: 5001\n", ""),
        },
        Case {
            name: "cluster_renamed",
            base: mesh,
            edit: |t| replace(t, "cluster: demo", "cluster: demo2"),
        },
        Case {
            name: "chain_reordered",
            base: chain,
            edit: |t| {
                let b = "  - name: hostB\n    underlay_ip: 198.18.1.2\n    ranges:\n      web: 10.10.2.0/24\n      db: 10.20.2.0/24\n";
                format!("{}{b}", replace(t, b, ""))
            },
        },
        Case {
            name: "host_renamed_long",
            base: chain,
            edit: |t| t.replace("hostC", "compute-node-0003-rack-7"),
        },
        Case {
            name: "star_to_mesh",
            base: star,
            edit: |t| {
                replace(
                    &replace(t, "topology: star", "topology: mesh"),
                    "  hub: ",
                    "  # hub: ",
                )
            },
        },
    ]
}

/// `ovsnet diff --format FORMAT base.yaml head.yaml` run in `dir` (relative names, as a
/// pipeline checks them out, so the markdown's file diff names no temporary directory).
fn diff(dir: &Path, format: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ovsnet"))
        .args([
            "diff",
            "--format",
            format,
            "--no-color",
            "base.yaml",
            "head.yaml",
        ])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("the ovsnet binary runs");
    let code = out.status.code().expect("exited, not killed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(code == 0 || code == 1, "exit {code}: {stderr}");
    format!(
        "exit {code}\n{}{stderr}",
        String::from_utf8_lossy(&out.stdout)
    )
}

#[test]
fn diff_output_of_each_change_in_each_format() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    let schema = plan_schema();
    for case in cases() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = std::fs::read_to_string(root.join(case.base)).expect("example");
        std::fs::write(dir.path().join("base.yaml"), &text).expect("write base");
        std::fs::write(dir.path().join("head.yaml"), (case.edit)(&text)).expect("write head");
        for format in ["text", "json", "markdown"] {
            let out = diff(dir.path(), format);
            if format == "json" {
                check_json(case.name, &out, &schema);
            }
            settings.bind(|| insta::assert_snapshot!(format!("diff_{}_{format}", case.name), out));
        }
    }
}

/// The shipped plan schema, which also says a diff's hosts carry no fingerprint.
fn plan_schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/plan.schema.json");
    let text = std::fs::read_to_string(path).expect("docs/plan.schema.json is shipped");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::draft202012::new(&schema).expect("the schema compiles")
}

/// `out` is `diff`'s output as [`diff`] returns it: the exit line, the document, then
/// whatever went to stderr.
fn check_json(case: &str, out: &str, schema: &jsonschema::Validator) {
    let document = out.split_once('\n').map_or("", |(_, rest)| rest);
    let doc: serde_json::Value = serde_json::Deserializer::from_str(document)
        .into_iter()
        .next()
        .expect("diff prints a document")
        .expect("diff prints JSON");
    let errors: Vec<String> = schema
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{case}: {errors:#?}");
    let hosts = doc["hosts"].as_array().expect("hosts");
    assert!(
        hosts.iter().all(|h| h["fingerprint"].is_null()),
        "{case}: a diff observes no host, so it states no fingerprint"
    );
}
