//! `ovsnet completions` and `ovsnet man`: shell completion scripts and the manual page,
//! both generated from the clap types at run time, so they can never describe a command
//! line other than the one this binary parses. Writes to the given writer only.

use super::args::{Cli, CompletionShell};
use clap::CommandFactory;
use std::io::Write;

/// Writes the completion script for `shell`.
pub fn completions(shell: CompletionShell, out: &mut dyn Write) -> std::io::Result<()> {
    use clap_complete::Shell;
    let shell = match shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Zsh => Shell::Zsh,
        CompletionShell::Fish => Shell::Fish,
    };
    let mut cmd = Cli::command();
    // The generators write through `&mut dyn Write` without reporting errors, so a
    // closed pipe would go unnoticed: render into memory, then write once.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "ovsnet", &mut script);
    out.write_all(&script)
}

/// Writes one roff page, ovsnet(1): the program's own sections, then one section per
/// command (every subcommand, nested ones too) with its synopsis, description and
/// options, so `man ovsnet` alone documents the whole command line.
pub fn man(out: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = Cli::command();
    // Building fills in what derive leaves implicit (help flags, propagated version),
    // so every command's section shows the flags it really accepts.
    cmd.build();
    let top = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    top.render_title(&mut page)?;
    top.render_name_section(&mut page)?;
    top.render_synopsis_section(&mut page)?;
    top.render_description_section(&mut page)?;
    top.render_options_section(&mut page)?;
    command_list(&cmd, "ovsnet", &mut page)?;
    for sub in commands(&cmd) {
        command_sections(sub, "ovsnet", &mut page)?;
    }
    page.extend_from_slice(EXIT_STATUS.as_bytes());
    top.render_version_section(&mut page)?;
    out.write_all(&page)
}

/// The exit codes pipelines rely on (the contract in `cli`'s module doc).
const EXIT_STATUS: &str = r#".SH "EXIT STATUS"
.TP
0
Success; for \fBplan \-\-detailed\-exitcode\fR, no changes.
.TP
1
A failure at run time: a host unreachable, a conflict, apply or verification failed, a stale plan.
.TP
2
Changes pending (\fB\-\-detailed\-exitcode\fR only).
.TP
64
A usage error (never 2, which pipelines read as changes pending).
.TP
65
An invalid topology or plan file.
"#;

/// The subcommands worth a section (`help` only repeats the page).
fn commands(cmd: &clap::Command) -> impl Iterator<Item = &clap::Command> {
    cmd.get_subcommands().filter(|c| c.get_name() != "help")
}

/// A `.SH COMMANDS` list of `cmd`'s subcommands with their one-line help. clap_mangen's
/// own list points at one page per command (`ovsnet-plan(1)`); we ship one page.
fn command_list(cmd: &clap::Command, line: &str, page: &mut Vec<u8>) -> std::io::Result<()> {
    let mut subs = commands(cmd).peekable();
    if subs.peek().is_none() {
        return Ok(());
    }
    writeln!(page, ".SH COMMANDS")?;
    for sub in subs {
        let name = roff(&format!("{line} {}", sub.get_name()));
        let about = sub.get_about().map(|a| roff(&a.to_string()));
        writeln!(page, ".TP\n\\fB{name}\\fR\n{}", about.unwrap_or_default())?;
    }
    Ok(())
}

/// Escapes text for a roff body line: backslashes, hyphens, a leading control character.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// Appends `cmd`'s sections under one `.SH` named after its command line (its own
/// sections become `.SS`), then those of its subcommands.
fn command_sections(cmd: &clap::Command, parent: &str, page: &mut Vec<u8>) -> std::io::Result<()> {
    let line = format!("{parent} {}", cmd.get_name());
    // The bin name makes the synopsis read `ovsnet plan ...`, as typed.
    let man = clap_mangen::Man::new(cmd.clone().bin_name(&line));
    let mut own = Vec::new();
    man.render_synopsis_section(&mut own)?;
    man.render_description_section(&mut own)?;
    man.render_options_section(&mut own)?;
    command_list(cmd, &line, &mut own)?;
    writeln!(page, ".SH \"{}\"", line.to_uppercase())?;
    for text in String::from_utf8_lossy(&own).lines() {
        match text.strip_prefix(".SH ") {
            Some(title) => writeln!(page, ".SS {title}")?,
            None => writeln!(page, "{text}")?,
        }
    }
    for child in commands(cmd) {
        command_sections(child, &line, page)?;
    }
    Ok(())
}
