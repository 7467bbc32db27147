//! Reading a topology file at the edge: the file's text goes to the pure loader, and
//! its diagnostics come back printed the way a compiler prints them.

use super::{Coded, Exit};
use crate::terminal;
use crate::topology::source::{self, Kind};
use crate::topology::{self, Analysis, Datapath, Topology};
use std::io::Read as _;
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
    let text = read_source(path, Kind::Topology, color)?;
    load_text(&path.display().to_string(), text, print_warnings, color)
}

/// Reads `path` as text: at most the size limit of `kind` (one byte more tells that it is
/// over), then UTF-8. Either refusal is printed as a diagnostic with the file and a
/// position, and fails with exit 65.
pub fn read_source(path: &Path, kind: Kind, color: bool) -> anyhow::Result<String> {
    let cannot = |e: std::io::Error| {
        Coded::invalid(format!(
            "cannot read `{}`: {e}",
            terminal::escape(&path.display().to_string())
        ))
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    let size = file
        .metadata()
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let mut bytes = Vec::new();
    file.take(kind.limit() + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    let name = path.display().to_string();
    source::decode(&name, bytes, size, kind).map_err(|refused| {
        eprint!("{}", refused.diagnostics.render(&refused.text, color));
        Coded::invalid("")
    })
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
