//! The `ovsnet` binary (wired to `ovsnet::cli` once the modules land).

fn main() {}
