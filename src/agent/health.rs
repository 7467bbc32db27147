//! The agent's health, written to `external_ids:ovsnet-agent` on the `Open_vSwitch` row
//! (docs/host-side.md) and read back by `show` and `plan`. The agent writes nothing
//! else into OVSDB here, and never a fabric row.

use crate::ovsdb::{Atom, Client, Condition, Datum, Mutation, Op, OvsdbError, DB};
use serde::{Deserialize, Serialize};

/// The `external_ids` key on the `Open_vSwitch` row.
pub const KEY: &str = "ovsnet-agent";

/// What the agent reports about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Running (false after a clean stop).
    pub up: bool,
    /// The ovsnet version.
    pub version: String,
    /// Its process id.
    pub pid: u32,
    /// When it last finished a reconcile (unix seconds).
    pub last_reconcile: u64,
    /// The last reconcile's error, absent when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Health {
    /// The JSON value with sorted keys (serde_json's map is ordered), so the same
    /// health is always the same bytes.
    pub fn to_text(&self) -> String {
        let value = serde_json::to_value(self).unwrap_or_default();
        value.to_string()
    }
}

/// Writes `health` onto the `Open_vSwitch` row `uuid` in one transaction (delete the
/// key, insert the new value: OVSDB maps have no "set one key").
pub fn write(client: &mut Client, uuid: &str, health: &Health) -> Result<(), OvsdbError> {
    let key = Datum::Set(vec![Atom::Str(KEY.to_string())]);
    let value = health.to_text();
    let op = Op::Mutate {
        table: "Open_vSwitch".to_string(),
        conditions: vec![Condition::uuid(uuid)],
        mutations: vec![
            Mutation::new("external_ids", "delete", key),
            Mutation::new(
                "external_ids",
                "insert",
                Datum::str_map([(KEY, value.as_str())]),
            ),
        ],
    };
    client.transact(DB, &[op]).map(|_| ())
}

/// Parses a health value read from OVSDB.
pub fn parse(text: &str) -> Option<Health> {
    serde_json::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_round_trips_with_sorted_keys() {
        let h = Health {
            up: true,
            version: "0.1.0".into(),
            pid: 7,
            last_reconcile: 100,
            error: Some("`nft` is not installed".into()),
        };
        let text = h.to_text();
        assert_eq!(
            text,
            r#"{"error":"`nft` is not installed","last_reconcile":100,"pid":7,"up":true,"version":"0.1.0"}"#
        );
        assert_eq!(parse(&text), Some(h));
    }
}
