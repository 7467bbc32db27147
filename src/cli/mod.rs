//! The command-line shell: parses what was typed, runs the pipeline, maps the outcome to
//! an exit code. Exit codes are a contract with pipelines (README): 0 success (no changes
//! for `--detailed-exitcode`), 2 changes pending, 1 a failure at run time, 65 an invalid
//! topology or plan file, 64 a usage error. A usage error never exits 2.

mod agent;
mod apply;
mod args;
mod attach;
mod docs;
mod hosts;
mod lab;
mod load;
mod plan;
mod progress;
mod reach;
mod show;

use args::{Cli, Command};
use clap::Parser;
use std::ffi::OsString;
use std::io::IsTerminal;

/// How a run ended, as the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success; with `--detailed-exitcode`, no changes.
    Success = 0,
    /// A failure at run time.
    Failure = 1,
    /// Changes pending (`--detailed-exitcode` only).
    Changes = 2,
    /// The command line was wrong.
    Usage = 64,
    /// The topology or plan file is invalid.
    Invalid = 65,
}

/// An error whose exit code is not the default 1.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Coded {
    /// Exit code to use.
    pub exit: Exit,
    /// What to print after `error: ` (may be empty when already printed).
    pub message: String,
}

impl Coded {
    /// An invalid-input error (exit 65).
    pub fn invalid(message: impl Into<String>) -> anyhow::Error {
        Coded {
            exit: Exit::Invalid,
            message: message.into(),
        }
        .into()
    }

    /// A usage error (exit 64).
    pub fn usage(message: impl Into<String>) -> anyhow::Error {
        Coded {
            exit: Exit::Usage,
            message: message.into(),
        }
        .into()
    }
}

/// Runs ovsnet with these arguments (the first is the program name).
pub fn run(args: Vec<OsString>) -> Exit {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            let exit = match err.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    Exit::Success
                }
                _ => Exit::Usage,
            };
            // Printing help or an error to a closed pipe is not worth failing over.
            let _ = err.print();
            return exit;
        }
    };
    match dispatch(cli.command) {
        Ok(exit) => exit,
        Err(err) => report(&err),
    }
}

fn dispatch(command: Command) -> anyhow::Result<Exit> {
    match command {
        Command::Validate { topology, color } => {
            load::validate(&topology, use_color(&color, false))
        }
        Command::Plan(args) => plan::plan(args),
        Command::Apply(args) => apply::apply(args),
        Command::Show {
            topology,
            target,
            format,
        } => show::show(&topology, &target, format),
        Command::Graph { topology, format } => show::graph(&topology, format),
        Command::Diff { base, head, output } => plan::diff(&base, &head, &output),
        Command::Attach(args) => attach::attach(args),
        Command::Detach(args) => attach::detach(args),
        Command::Containers { on, format } => attach::containers(on, format),
        Command::Gc { on } => attach::gc(on),
        Command::Lab { action } => lab::lab(action),
        Command::Agent {
            ovsdb,
            docker_plugin,
            docker_socket,
            docker_netns,
            state_dir,
        } => agent::agent(
            &ovsdb,
            docker_plugin.as_deref(),
            &docker_socket,
            &docker_netns,
            &state_dir,
        ),
        Command::Publish(args) => agent::publish(&args, true),
        Command::Unpublish(args) => agent::publish(&args, false),
        Command::Completions { shell } => {
            docs::completions(shell, &mut std::io::stdout().lock())?;
            Ok(Exit::Success)
        }
        Command::Man => {
            docs::man(&mut std::io::stdout().lock())?;
            Ok(Exit::Success)
        }
    }
}

fn report(err: &anyhow::Error) -> Exit {
    if is_broken_pipe(err) {
        return Exit::Success;
    }
    let exit = err
        .downcast_ref::<Coded>()
        .map_or(Exit::Failure, |c| c.exit);
    // The one place every error chain reaches the terminal: its causes quote paths,
    // host replies and file text, so it is escaped here.
    let text = crate::terminal::display(format_args!("{err:#}"));
    if !text.is_empty() {
        eprintln!("error: {text}");
    }
    exit
}

/// A reader that closed our stdout (`ovsnet plan | head`) is not a failure.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Colour only on a terminal, never with `NO_COLOR` set or `--no-color`.
fn use_color(args: &args::ColorArgs, stdout: bool) -> bool {
    let terminal = if stdout {
        std::io::stdout().is_terminal()
    } else {
        std::io::stderr().is_terminal()
    };
    terminal && !args.no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
