//! The topology file: loading with source positions, validation, the validated model,
//! and the tunnel graph with its analysis. Pure: no I/O beyond what the caller hands in
//! (the loader takes the file's text and name, never opens files itself).

pub mod analysis;
pub mod model;

pub use analysis::{Analysis, Protection};
pub use model::*;
