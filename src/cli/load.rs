//! Reading a topology file at the edge: the file's text goes to the pure loader, and
//! its diagnostics come back printed the way a compiler prints them.

use super::{Coded, Exit};
use crate::topology::{self, Analysis, Datapath, Topology};
use anyhow::Context as _;
use std::path::Path;

/// A loaded, validated topology and what came with it.
pub struct Loaded {
    /// The validated model.
    pub topology: Topology,
    /// The tunnel graph's analysis.
    pub analysis: Analysis,
    /// Warnings, one rendered line each, for the plan header.
    pub warnings: Vec<String>,
    /// The file's text as it was validated (what a saved plan embeds).
    pub source: String,
}

/// Reads and validates `path`; prints every problem and fails with exit 65 when invalid.
/// Warnings are printed to stderr as well when `print_warnings` is set.
pub fn load(path: &Path, print_warnings: bool, color: bool) -> anyhow::Result<Loaded> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read topology `{}`", path.display()))
        .map_err(|e| Coded::invalid(format!("{e:#}")))?;
    load_text(&path.display().to_string(), text, print_warnings, color)
}

/// Validates topology `text` already read from `name`, printing problems like [`load`].
pub fn load_text(
    name: &str,
    text: String,
    print_warnings: bool,
    color: bool,
) -> anyhow::Result<Loaded> {
    match topology::load(name, &text) {
        Ok(loaded) => {
            if print_warnings && !loaded.warnings.is_empty() {
                eprint!("{}", loaded.warnings.render(&text, color));
            }
            Ok(Loaded {
                warnings: loaded.warnings.summaries(),
                topology: loaded.topology,
                analysis: loaded.analysis,
                source: text,
            })
        }
        Err(diagnostics) => {
            eprint!("{}", diagnostics.render(&text, color));
            Err(Coded::invalid(""))
        }
    }
}

/// `ovsnet validate`.
pub fn validate(path: &Path, color: bool) -> anyhow::Result<Exit> {
    let loaded = load(path, true, color)?;
    println!(
        "{}: valid: cluster `{}`, {} hosts, {} tunnels, overlay MTU {}",
        path.display(),
        loaded.topology.cluster,
        loaded.topology.hosts.len(),
        loaded.analysis.tunnels(),
        loaded.analysis.overlay_mtu,
    );
    Ok(Exit::Success)
}

/// In the lab every host runs the userspace datapath, whatever the file says.
pub fn force_lab_datapath(topology: &mut Topology) {
    topology.bridge.datapath = Datapath::Netdev;
}
