//! Which git commit a source tree is, for `ovsnet --version`. Shared by build.rs and
//! its test (tests/version.rs), so what the test checks is what the build runs.
//!
//! Works in a clone, a worktree (where `.git` is a file), and a tree with no git at all
//! (a source tarball, `cargo package`): there the commit is unknown. Only a repository
//! whose top is the crate itself counts, so a tarball unpacked inside some other
//! checkout never reports that checkout's commit.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The commit of the tree at `dir`, and the files whose change means it may have moved.
pub struct Found {
    /// Abbreviated commit id (12 hex digits), `None` outside a git checkout.
    pub commit: Option<String>,
    /// Files (or, for a branch ref that is not a loose file yet, directories) to watch.
    pub watch: Vec<PathBuf>,
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Finds the commit checked out at `dir`; git missing or failing means "unknown".
pub fn find(dir: &Path) -> Found {
    let mut found = Found {
        commit: None,
        watch: Vec::new(),
    };
    let Some(top) = git(dir, &["rev-parse", "--show-toplevel"]) else {
        return found;
    };
    let same = match (std::fs::canonicalize(top), std::fs::canonicalize(dir)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if !same {
        return found;
    }
    let mut refs = vec!["HEAD".to_string(), "packed-refs".to_string()];
    refs.extend(git(dir, &["symbolic-ref", "-q", "HEAD"]));
    for name in refs {
        let args = ["rev-parse", "--path-format=absolute", "--git-path", &name];
        if let Some(path) = git(dir, &args).map(PathBuf::from) {
            // A branch packed by `git gc` gets a loose file again at its next commit;
            // watching the directory catches that.
            match (path.exists(), path.parent()) {
                (true, _) => found.watch.push(path),
                (false, Some(parent)) if parent.exists() => found.watch.push(parent.into()),
                _ => {}
            }
        }
    }
    found.commit = git(dir, &["rev-parse", "--short=12", "HEAD"]);
    found
}
