//! `ovsnet --version` names the commit the binary was built from. The build script's
//! commit finder (build/commit.rs, compiled here as it is in build.rs) is run against
//! throwaway repositories: a fresh clone-like checkout, a worktree, packed refs, a tree
//! with no `.git`, and a tree unpacked inside someone else's checkout.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../build/commit.rs"]
#[allow(dead_code)]
mod commit;

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository with one commit, and that commit's short id.
fn repo(dir: &Path) -> String {
    git(dir, &["init", "-q"]);
    std::fs::write(dir.join("Cargo.toml"), "[package]\n").expect("write");
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "one"]);
    git(dir, &["rev-parse", "--short=12", "HEAD"])
}

#[test]
fn version_names_the_commit_of_this_checkout() {
    let out = Command::new(env!("CARGO_BIN_EXE_ovsnet"))
        .arg("--version")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    // CI builds from a clone; a source tarball has no commit to name.
    let commit = commit::find(here)
        .commit
        .unwrap_or_else(|| "unknown".into());
    let expected = format!("ovsnet {} (commit {commit})\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(text, expected);
    if here.join(".git").exists() {
        assert_eq!(commit.len(), 12, "{commit}");
        assert!(commit.chars().all(|c| c.is_ascii_hexdigit()), "{commit}");
    }
}

#[test]
fn a_checkout_gives_its_head_and_the_files_that_move_with_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let head = repo(dir.path());
    let found = commit::find(dir.path());
    assert_eq!(found.commit.as_deref(), Some(head.as_str()));
    let git_dir = dir.path().join(".git").canonicalize().expect("git dir");
    let watched: Vec<_> = found
        .watch
        .iter()
        .map(|p| p.canonicalize().expect("exists"))
        .collect();
    assert!(watched.contains(&git_dir.join("HEAD")), "{watched:?}");
    assert!(
        watched.contains(&git_dir.join("refs/heads/main")),
        "{watched:?}"
    );
    // After `git gc` the branch is only in packed-refs; its directory is watched so the
    // next commit (which writes a loose ref again) still triggers a rebuild.
    git(dir.path(), &["pack-refs", "--all"]);
    let watched = commit::find(dir.path()).watch;
    let watched: Vec<_> = watched
        .iter()
        .map(|p| p.canonicalize().expect("exists"))
        .collect();
    assert!(
        watched.contains(&git_dir.join("packed-refs")),
        "{watched:?}"
    );
    assert!(watched.contains(&git_dir.join("refs/heads")), "{watched:?}");
}

#[test]
fn a_worktree_gives_its_own_head() {
    let dir = tempfile::tempdir().expect("temp dir");
    let main = dir.path().join("main");
    std::fs::create_dir(&main).expect("mkdir");
    repo(&main);
    let wt = dir.path().join("wt");
    git(
        &main,
        &[
            "worktree",
            "add",
            "-q",
            "-b",
            "side",
            &wt.display().to_string(),
        ],
    );
    git(&wt, &["commit", "-q", "--allow-empty", "-m", "two"]);
    let head = git(&wt, &["rev-parse", "--short=12", "HEAD"]);
    assert_eq!(commit::find(&wt).commit.as_deref(), Some(head.as_str()));
}

#[test]
fn a_tree_without_git_or_inside_another_checkout_has_no_commit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let found = commit::find(dir.path());
    assert_eq!(found.commit, None);
    assert!(found.watch.is_empty());
    // A tarball unpacked inside some unrelated repository.
    repo(dir.path());
    let unpacked = dir.path().join("ovsnet-0.1.0");
    std::fs::create_dir(&unpacked).expect("mkdir");
    assert_eq!(commit::find(&unpacked).commit, None);
}
