//! The Debian package: `scripts/package-deb.sh` packs the test's own binary (uncompressed,
//! so it takes a second), then dpkg-deb, as an independent reader, lists what it holds
//! and the package is unpacked and checked: the binary runs and is the one packed, the
//! agent's unit starts the packaged binary, the completions and the man page are the
//! ones that binary generates, everything belongs to root with sane modes.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ovsnet(args: &[&str]) -> String {
    run(env!("CARGO_BIN_EXE_ovsnet"), args)
}

#[test]
fn the_package_holds_the_binary_unit_completions_and_man_page() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    let built = run(
        "scripts/package-deb.sh",
        &[
            "--binary",
            env!("CARGO_BIN_EXE_ovsnet"),
            "--out",
            &out,
            "--fast",
        ],
    );
    let deb = built.trim().to_string();
    let arch = run("dpkg", &["--print-architecture"]);
    let expected = format!(
        "{out}/ovsnet_{}_{}.deb",
        env!("CARGO_PKG_VERSION"),
        arch.trim()
    );
    assert_eq!(deb, expected);

    let listing = run("dpkg-deb", &["--contents", &deb]);
    println!("{listing}");
    let entries: Vec<(&str, &str, &str)> = listing
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields[0], fields[1], *fields.last().unwrap())
        })
        .collect();
    let mode_of = |path: &str| {
        entries
            .iter()
            .find(|(_, _, p)| *p == path)
            .map(|(mode, _, _)| *mode)
            .unwrap_or_else(|| panic!("`{path}` not in the package:\n{listing}"))
    };
    assert_eq!(mode_of("./usr/bin/ovsnet"), "-rwxr-xr-x");
    for file in [
        "./lib/systemd/system/ovsnet-agent.service",
        "./usr/share/bash-completion/completions/ovsnet",
        "./usr/share/zsh/vendor-completions/_ovsnet",
        "./usr/share/fish/vendor_completions.d/ovsnet.fish",
        "./usr/share/man/man1/ovsnet.1.gz",
        "./usr/share/doc/ovsnet/copyright",
    ] {
        assert_eq!(mode_of(file), "-rw-r--r--", "{file}");
    }
    assert_eq!(mode_of("./"), "drwxr-xr-x");
    for (_, owner, path) in &entries {
        assert_eq!(*owner, "root/root", "{path}");
    }

    let info = run(
        "dpkg-deb",
        &["--field", &deb, "Package", "Version", "Architecture"],
    );
    let version = format!("Version: {}", env!("CARGO_PKG_VERSION"));
    assert!(
        info.contains("Package: ovsnet") && info.contains(&version),
        "{info}"
    );

    let root = dir.path().join("root");
    run("dpkg-deb", &["-x", &deb, &root.display().to_string()]);
    check_unpacked(&root);
}

fn check_unpacked(root: &Path) {
    let read = |path: &str| std::fs::read_to_string(root.join(path)).unwrap();
    let packed = root.join("usr/bin/ovsnet").display().to_string();
    assert_eq!(run(&packed, &["--version"]), ovsnet(&["--version"]));
    let unit = read("lib/systemd/system/ovsnet-agent.service");
    assert!(
        unit.lines()
            .any(|l| l
                == "ExecStart=/usr/bin/ovsnet agent --ovsdb unix:/var/run/openvswitch/db.sock"),
        "{unit}"
    );
    assert!(
        unit.contains("[Install]\nWantedBy=multi-user.target"),
        "{unit}"
    );
    for (path, shell) in [
        ("usr/share/bash-completion/completions/ovsnet", "bash"),
        ("usr/share/zsh/vendor-completions/_ovsnet", "zsh"),
        ("usr/share/fish/vendor_completions.d/ovsnet.fish", "fish"),
    ] {
        assert_eq!(read(path), ovsnet(&["completions", shell]), "{path}");
    }
    let page = root
        .join("usr/share/man/man1/ovsnet.1.gz")
        .display()
        .to_string();
    assert_eq!(run("gzip", &["-dc", &page]), ovsnet(&["man"]));
}
