//! The `ovsnet` binary: everything happens in `ovsnet::cli`.

use std::process::ExitCode;

// A plan of a large cluster makes tens of millions of small, short-lived allocations
// (one host's rows and changes at a time); mimalloc serves them several times faster
// than the system allocator and keeps the freed pages instead of returning and
// re-faulting them for every host. See BENCHMARKS.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let exit = ovsnet::cli::run(std::env::args_os().collect());
    ExitCode::from(exit as u8)
}
