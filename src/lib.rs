//! ovsnet: one YAML topology in, a planned, applied and verified Open vSwitch overlay out.
//!
//! Pipeline: `topology` loads and validates the file, `desire` turns it into the state
//! each host should hold, `observe` reads what hosts hold, `plan::build` diffs the two,
//! `render` shows the plan and `apply` carries it out and verifies it. `cli` is the only
//! module that knows about command-line arguments.

pub mod agent;
pub mod apply;
pub mod attach;
pub mod cli;
pub mod desire;
pub mod diff;
pub mod docker;
pub mod fanout;
pub mod gateway;
pub mod intent;
pub mod lab;
pub mod linux;
pub mod observe;
pub mod offline;
pub mod ovsdb;
pub mod plan;
pub mod planfile;
pub mod plugin;
pub mod publish;
pub mod render;
pub mod state;
pub mod topology;
