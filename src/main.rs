//! The `ovsnet` binary: everything happens in `ovsnet::cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let exit = ovsnet::cli::run(std::env::args_os().collect());
    ExitCode::from(exit as u8)
}
