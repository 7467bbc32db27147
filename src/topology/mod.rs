//! The topology file: loading with source positions, validation, the validated model,
//! and the tunnel graph with its analysis. Pure: no I/O beyond what the caller hands in
//! (the loader takes the file's text and name, never opens files itself).
//!
//! Pipeline: `yaml` (text → positioned tree) → `schema` (tree → raw parts, structural
//! problems) → `validate` (raw parts → [`Topology`], semantic problems) → `graph`
//! (→ [`Analysis`], graph problems). Every stage keeps going after a problem, so
//! [`load`] reports all of them together.

pub mod analysis;
pub mod diag;
pub mod graph;
pub mod json_schema;
pub mod model;
mod schema;
pub mod source;
mod validate;
pub mod yaml;

pub use analysis::{Analysis, Protection};
pub use diag::{Diagnostic, Diagnostics, Problem, Severity};
pub use model::*;

use validate::Spots;
use yaml::Pos;

/// A topology that passed validation, with its graph analysis and any warnings.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The validated model.
    pub topology: Topology,
    /// Facts about its tunnel graph.
    pub analysis: Analysis,
    /// Warnings (never errors), placed in the file.
    pub warnings: Diagnostics,
}

/// Loads and validates a topology from `text`; `file_name` is used in messages only.
pub fn load(file_name: &str, text: &str) -> Result<Loaded, Diagnostics> {
    let tree = match yaml::parse(text) {
        Ok(tree) => tree,
        Err(err) => {
            let problem = Problem::Syntax {
                message: err.message,
            };
            let items = vec![Diagnostic {
                problem,
                at: err.at,
            }];
            return Err(Diagnostics::new(file_name, items));
        }
    };
    let mut items = diag::Found::default();
    let raw = schema::walk(tree.root(), &mut items);
    // Each stage's input is freed once the next one has copied what it needs: a
    // 240,000-host file's tree, raw parts and model are never all held at once.
    drop(tree);
    let checked = validate::check(&raw, &mut items);
    drop(raw);
    let analysis = validate::graph_problems(&checked).map(|(analysis, problems)| {
        let placed = problems.into_iter().map(|problem| {
            let at = locate(&problem, &checked.topology, &checked.spots);
            Diagnostic { problem, at }
        });
        items.extend(placed);
        analysis
    });
    let diagnostics = Diagnostics::found(file_name, items);
    match analysis {
        Some(analysis) if diagnostics.errors() == 0 => Ok(Loaded {
            topology: checked.topology,
            analysis,
            warnings: diagnostics,
        }),
        _ => Err(diagnostics),
    }
}

/// Where in the file a graph problem is best shown.
fn locate(problem: &Problem, topology: &Topology, spots: &Spots) -> Pos {
    let protection = spots.loop_protection.unwrap_or(spots.shape);
    match problem {
        Problem::Disconnected { .. } => spots.links.unwrap_or(spots.shape),
        Problem::CycleNeedsRstp { .. }
        | Problem::ProtectedNeedsMesh { .. }
        | Problem::UnprotectedCycle => protection,
        Problem::SinglePointsOfFailure { hosts } => topology
            .hosts
            .iter()
            .zip(&spots.host_names)
            .find_map(|(host, at)| at.filter(|_| hosts.first() == Some(&host.name)))
            .unwrap_or(spots.shape),
        _ => spots.shape,
    }
}
