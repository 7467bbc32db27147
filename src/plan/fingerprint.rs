//! The fingerprint of an observed host: a digest of every row ovsnet's plan depends on.
//!
//! Runtime columns ovs-vswitchd keeps updating (`ofport`, `link_state`, `status`) and the
//! configuration counters are left out, so only a change someone made to the
//! configuration makes a saved plan stale.

use crate::state::{ObservedHost, Row};
use sha2::{Digest, Sha256};

/// Hex sha256 over the names, uuids and attributes of every bridge, port and interface.
pub fn fingerprint(observed: &ObservedHost) -> String {
    let mut hasher = Sha256::new();
    for bridge in observed.state.bridges.values() {
        feed(&mut hasher, b'B', &bridge.row);
        for port in bridge.ports.values() {
            feed(&mut hasher, b'P', &port.row);
            for iface in port.interfaces.values() {
                feed(&mut hasher, b'I', &iface.row);
            }
        }
    }
    let digest = hasher.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds one row, length-prefixing every field so no two different rows hash alike.
fn feed(hasher: &mut Sha256, tag: u8, row: &Row) {
    hasher.update([tag]);
    field(hasher, &row.name);
    field(hasher, row.uuid.as_deref().unwrap_or(""));
    for (key, value) in &row.attrs {
        field(hasher, key);
        field(hasher, &value.to_string());
    }
}

fn field(hasher: &mut Sha256, text: &str) {
    hasher.update((text.len() as u64).to_le_bytes());
    hasher.update(text.as_bytes());
}
