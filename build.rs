//! Records the git commit the binary is built from as `OVSNET_GIT_COMMIT`, for
//! `ovsnet --version`. A packager building from a tarball may set `OVSNET_GIT_COMMIT`
//! itself. Cargo re-runs this only when HEAD or its branch moves.

#[path = "build/commit.rs"]
mod commit;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/commit.rs");
    println!("cargo:rerun-if-env-changed=OVSNET_GIT_COMMIT");
    let given = std::env::var("OVSNET_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty());
    let commit = match given {
        Some(commit) => commit,
        None => {
            let dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| ".".into());
            let found = commit::find(std::path::Path::new(&dir));
            for path in &found.watch {
                println!("cargo:rerun-if-changed={}", path.display());
            }
            found.commit.unwrap_or_else(|| "unknown".to_string())
        }
    };
    println!("cargo:rustc-env=OVSNET_GIT_COMMIT={commit}");
}
