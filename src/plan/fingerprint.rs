//! The fingerprint of an observed host: a digest of every row ovsnet's plan depends on.
//!
//! Runtime columns ovs-vswitchd keeps updating (`ofport`, `link_state`, `status`) and the
//! configuration counters are left out, so only a change someone made to the
//! configuration makes a saved plan stale.

use crate::state::{Kind, ObservedHost, Row, Value};
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

/// The fingerprint fed one row at a time, in the order a `HostState` iterates them (each
/// bridge, then each of its ports followed by its interfaces).
#[derive(Default)]
struct RowHasher {
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
            match value {
                // What `Display` writes for a string that needs no escaping (names,
                // addresses: nearly every value), fed without formatting it first.
                Value::Str(s)
                    if s.bytes()
                        .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\') =>
                {
                    self.sha.update((s.len() as u64 + 2).to_le_bytes());
                    self.sha.update(b"\"");
                    self.sha.update(s.as_bytes());
                    self.sha.update(b"\"");
                }
                _ => {
                    self.text.clear();
                    let _ = write!(self.text, "{value}");
                    field(&mut self.sha, &self.text);
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest as fed before strings skipped formatting: every value through `Display`.
    fn formatted(kind: Kind, row: &Row) -> String {
        let mut sha = Sha256::new();
        sha.update([match kind {
            Kind::Bridge => b'B',
            Kind::Port => b'P',
            Kind::Interface => b'I',
        }]);
        field(&mut sha, &row.name);
        field(&mut sha, row.uuid.as_deref().unwrap_or(""));
        for (key, value) in &row.attrs {
            field(&mut sha, key);
            field(&mut sha, &value.to_string());
        }
        sha.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn plain_strings_hash_as_their_display_form() {
        let row = Row::named("vx-b")
            .with("options:remote_ip", Value::Str("198.18.0.2".into()))
            .with("external_ids:a", Value::Str("quote\"d \\ tab\t é".into()))
            .with("external_ids:b", Value::Str(String::new()))
            .with("tag", Value::Int(10))
            .with("trunks", Value::IntSet(vec![10, 20]))
            .with("protected", Value::Bool(true));
        let mut hasher = RowHasher::default();
        hasher.row(Kind::Interface, &row);
        assert_eq!(hasher.finish(), formatted(Kind::Interface, &row));
    }
}
