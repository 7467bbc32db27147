//! What an operator gets around the binary, checked by independent programs: the bash,
//! zsh and fish completion scripts are loaded by the real shells (bash and fish are
//! asked to complete real command lines), and the manual page is rendered by groff and
//! must document every command and option that `--help` lists. The command list comes
//! from `ovsnet help`, so a new subcommand is checked without touching this file.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output, Stdio};

fn ovsnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ovsnet"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("the ovsnet binary runs")
}

fn stdout_of(args: &[&str]) -> String {
    let out = ovsnet(args);
    assert!(out.status.success(), "ovsnet {args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs `program` with `args`, feeding nothing; panics naming the package if missing.
fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{program}` ({e}): scripts/install-deps.sh installs it")
        })
}

/// The subcommands listed by `ovsnet [PARENT] --help`, `help` excluded.
fn subcommands(parent: &[&str]) -> Vec<String> {
    let mut args = parent.to_vec();
    args.push("--help");
    let help = stdout_of(&args);
    let Some((_, list)) = help.split_once("Commands:\n") else {
        return Vec::new();
    };
    list.lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every command line: `[plan]`, `[lab, up]`, ...
fn every_command() -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for top in subcommands(&[]) {
        all.push(vec![top.clone()]);
        for sub in subcommands(&[&top]) {
            all.push(vec![top.clone(), sub]);
        }
    }
    all
}

/// The long options `ovsnet CMD --help` lists.
fn long_options(cmd: &[String]) -> Vec<String> {
    let mut args: Vec<&str> = cmd.iter().map(String::as_str).collect();
    args.push("--help");
    stdout_of(&args)
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| w.trim_end_matches([',', '.', ')', '>']).to_string())
        .filter(|w| {
            w.chars()
                .skip(2)
                .all(|c| c.is_ascii_lowercase() || c == '-')
        })
        .collect()
}

fn write_temp(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write script");
    (dir, path)
}

/// What bash's completion function offers for the words typed (the last is the prefix).
fn bash_complete(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let program = format!(
        "source '{}'\nCOMP_WORDS=({line})\nCOMP_CWORD={}\nCOMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\n_ovsnet ovsnet '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len().saturating_sub(2)],
    );
    let out = run("bash", &["--norc", "-c", &program]);
    assert!(out.status.success(), "bash: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_commands_options_and_values() {
    let (_dir, script) = write_temp("ovsnet.bash", &stdout_of(&["completions", "bash"]));
    let commands = bash_complete(&script, &["ovsnet", ""]);
    for cmd in subcommands(&[]) {
        assert!(commands.contains(&cmd), "`{cmd}` not offered: {commands:?}");
    }
    assert_eq!(bash_complete(&script, &["ovsnet", "pl"]), ["plan"]);
    let options = bash_complete(&script, &["ovsnet", "plan", "--det"]);
    assert_eq!(options, ["--detailed-exitcode"]);
    let formats = bash_complete(&script, &["ovsnet", "plan", "--format", ""]);
    assert_eq!(formats, ["text", "json", "markdown"]);
    let shells = bash_complete(&script, &["ovsnet", "completions", ""]);
    for shell in ["bash", "zsh", "fish"] {
        assert!(shells.iter().any(|s| s == shell), "{shells:?}");
    }
    assert_eq!(
        bash_complete(&script, &["ovsnet", "completions", "z"]),
        ["zsh"]
    );
}

#[test]
fn fish_completes_commands_and_option_values() {
    let (_dir, script) = write_temp("ovsnet.fish", &stdout_of(&["completions", "fish"]));
    let complete = |line: &str| -> Vec<String> {
        let program = format!("source '{}'; complete -C '{line}'", script.display());
        let out = run("fish", &["--no-config", "-c", &program]);
        assert!(out.status.success(), "fish: {out:?}");
        // Each candidate is `word<TAB>description`.
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split('\t').next())
            .map(str::to_string)
            .collect()
    };
    let commands = complete("ovsnet ");
    for cmd in subcommands(&[]) {
        assert!(commands.contains(&cmd), "`{cmd}` not offered: {commands:?}");
    }
    assert_eq!(complete("ovsnet gr"), ["graph"]);
    let mut formats = complete("ovsnet graph x.yaml --format ");
    formats.sort();
    assert_eq!(formats, ["dot", "mermaid", "text"]);
    let lab = complete("ovsnet lab ");
    for action in subcommands(&["lab"]) {
        assert!(lab.contains(&action), "`lab {action}` not offered: {lab:?}");
    }
}

#[test]
fn zsh_loads_the_script_and_it_knows_every_command() {
    let script = stdout_of(&["completions", "zsh"]);
    assert!(script.starts_with("#compdef ovsnet"), "{}", &script[..40]);
    let (_dir, path) = write_temp("_ovsnet", &script);
    // -n parses without running: a syntax error in the generated script fails here.
    let out = run("zsh", &["-n", &path.display().to_string()]);
    assert!(out.status.success(), "zsh -n: {out:?}");
    // Loading it under compinit defines the completion function.
    let program = format!(
        "autoload -Uz compinit && compinit -u -D && source '{}' && whence -w _ovsnet",
        path.display()
    );
    let out = run("zsh", &["-f", "-c", &program]);
    assert!(out.status.success(), "zsh: {out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "_ovsnet: function"
    );
    for cmd in every_command() {
        let name = cmd.last().expect("a command has a name");
        assert!(
            script.contains(&format!("'{name}:")),
            "zsh script lacks `{name}`"
        );
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = ovsnet(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
}

/// The page as groff renders it for a terminal, checked for warnings on the way.
fn rendered_man_page() -> String {
    let (_dir, page) = write_temp("ovsnet.1", &stdout_of(&["man"]));
    let page = page.display().to_string();
    let lint = run("groff", &["-man", "-ww", "-z", &page]);
    assert!(
        lint.status.success() && lint.stderr.is_empty(),
        "groff: {lint:?}"
    );
    // Lines long enough that no option is wrapped or hyphenated.
    let out = run(
        "groff",
        &["-man", "-Tascii", "-rLL=500n", "-P", "-cbou", &page],
    );
    assert!(out.status.success(), "groff: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_man_page_documents_every_command_and_option() {
    let text = rendered_man_page();
    assert!(text.contains("NAME"), "{text}");
    let version = stdout_of(&["--version"]);
    let version = version.trim().trim_start_matches("ovsnet ");
    assert!(text.contains(version), "the page names version {version}");
    let commands = every_command();
    assert!(commands.len() >= 10, "{commands:?}");
    for cmd in commands {
        let title = format!("OVSNET {}", cmd.join(" ").to_uppercase());
        let Some((_, section)) = text.split_once(&format!("\n{title}\n")) else {
            panic!("no section `{title}` in the page:\n{text}");
        };
        // The section ends where the next command's starts.
        let section = section.split("\nOVSNET ").next().unwrap_or(section);
        let section = section.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            section.contains(&format!("ovsnet {}", cmd.join(" "))),
            "{title}: no synopsis"
        );
        for option in long_options(&cmd) {
            assert!(
                section.contains(&option),
                "{title}: `{option}` undocumented:\n{section}"
            );
        }
    }
    assert!(text.contains("EXIT STATUS"), "{text}");
}
