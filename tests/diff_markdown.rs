//! `ovsnet diff --format markdown`, run through the real binary: the pull-request comment
//! carries the topology file's own change as a unified diff in a collapsible section,
//! next to the plan it causes. Snapshots show a reviewer exactly what the comment says.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

/// Runs `ovsnet diff base.yaml head.yaml --format FORMAT` in a directory holding both.
fn diff(base: &str, head: &str, format: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("base.yaml"), base).unwrap();
    std::fs::write(dir.path().join("head.yaml"), head).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ovsnet"))
        .args(["diff", "base.yaml", "head.yaml", "--format", format])
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn example(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("topologies")
            .join(name),
    )
    .unwrap()
}

const MESH: &str = "  type: vxlan\n  topology: mesh\n";

#[test]
fn a_changed_vlan_id_shows_the_yaml_change_and_the_plan() {
    let base = common::generated(3, MESH);
    let head = base.replacen("id: 10", "id: 11", 1);
    assert_ne!(base, head);
    let md = diff(&base, &head, "markdown");
    insta::assert_snapshot!("diff_markdown_vlan_id", md);
}

#[test]
fn an_added_host_shows_its_lines_before_the_hosts() {
    let md = diff(
        &common::generated(3, MESH),
        &common::generated(4, MESH),
        "markdown",
    );
    let change = md
        .find("<summary>Topology file change:")
        .expect("the section");
    let hosts = md.find("#### Hosts").expect("the hosts");
    assert!(
        md.find("**Plan:").unwrap() < change && change < hosts,
        "{md}"
    );
    insta::assert_snapshot!("diff_markdown_added_host", md);
}

#[test]
fn an_unchanged_file_says_so_in_one_line() {
    let base = example("chain4.yaml");
    let md = diff(&base, &base, "markdown");
    assert!(
        md.contains("\nThe topology file itself did not change.\n"),
        "{md}"
    );
    assert!(!md.contains("Topology file change"), "{md}");
}

#[test]
fn other_formats_carry_no_file_diff() {
    let base = common::generated(3, MESH);
    let head = base.replacen("id: 10", "id: 11", 1);
    for format in ["text", "json"] {
        let out = diff(&base, &head, format);
        assert!(!out.contains("id: 11"), "{format}: {out}");
    }
}

#[test]
fn a_huge_file_change_is_cut_and_the_comment_stays_under_the_limit() {
    let tunnel = "  type: vxlan\n  topology: chain\n";
    let md = diff(
        &common::generated(2, tunnel),
        &common::generated(1500, tunnel),
        "markdown",
    );
    assert!(
        md.len() <= ovsnet::render::markdown::COMMENT_LIMIT,
        "{}",
        md.len()
    );
    assert!(md.contains("The diff was cut after "), "{md}");
    assert!(
        md.starts_with("### ovsnet plan") && md.contains("**Plan: "),
        "{md}"
    );
}
