//! The fingerprint of an observed host: a digest of every row ovsnet's plan depends on.
//!
//! Runtime columns ovs-vswitchd keeps updating (`ofport`, `link_state`, `status`) and the
//! configuration counters are left out, so only a change someone made to the
//! configuration makes a saved plan stale.

use crate::state::{Kind, ObservedHost, Row};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// Hex sha256 over the names, uuids and attributes of every bridge, port and interface.
pub fn fingerprint(observed: &ObservedHost) -> String {
    let mut hasher = RowHasher::default();
    for bridge in observed.state.bridges.values() {
        hasher.row(Kind::Bridge, &bridge.row);
        for port in bridge.ports.values() {
            hasher.row(Kind::Port, &port.row);
            for iface in port.interfaces.values() {
                hasher.row(Kind::Interface, &iface.row);
            }
        }
    }
    hasher.finish()
}

/// The fingerprint fed one row at a time, for a caller that streams a host's rows
/// instead of holding them: rows fed in the order a `HostState` iterates them (each
/// bridge, then each of its ports followed by its interfaces) give [`fingerprint`]'s digest.
#[derive(Default)]
pub struct RowHasher {
    sha: Sha256,
    /// Reused for each value's text, so feeding a row allocates nothing.
    text: String,
}

impl RowHasher {
    /// Feeds one row, length-prefixing every field so no two different rows hash alike.
    pub fn row(&mut self, kind: Kind, row: &Row) {
        self.sha.update([match kind {
            Kind::Bridge => b'B',
            Kind::Port => b'P',
            Kind::Interface => b'I',
        }]);
        field(&mut self.sha, &row.name);
        field(&mut self.sha, row.uuid.as_deref().unwrap_or(""));
        for (key, value) in &row.attrs {
            field(&mut self.sha, key);
            self.text.clear();
            let _ = write!(self.text, "{value}");
            field(&mut self.sha, &self.text);
        }
    }

    /// The hex digest of every row fed.
    pub fn finish(self) -> String {
        let digest = self.sha.finalize();
        let mut hex = String::with_capacity(2 * digest.len());
        for b in digest {
            let _ = write!(hex, "{b:02x}");
        }
        hex
    }
}

fn field(hasher: &mut Sha256, text: &str) {
    hasher.update((text.len() as u64).to_le_bytes());
    hasher.update(text.as_bytes());
}
