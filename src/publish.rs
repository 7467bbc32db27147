//! `ovsnet publish` / `unpublish`: record a published port on a container's port in the
//! local OVSDB (`external_ids:ovsnet-publish`, docs/host-side.md); the agent turns the
//! record into DNAT. Like `docker run -p HOSTPORT:PORT[/udp]`.
//!
//! One transaction: `wait` guards that no container port's `external_ids` changed since
//! they were read (so two racing publishes of one host port cannot both commit), then
//! the one key rewritten. A host port another container already publishes is refused.
//! It writes nothing else and never a row that is not a container port.

use crate::agent::intent::{parse_publish, Proto};
use crate::observe::{observe_with, ObserveError};
use crate::ovsdb::txn::{commit, Txn};
use crate::ovsdb::{Atom, Client, Condition, Datum, Mutation, OvsdbError, RowData, DB};
use crate::state::{Port, Row, Value, MARK_ROLE};

/// The `external_ids` key holding a container port's published ports.
pub const KEY: &str = "ovsnet-publish";

/// One mapping, as typed: `HOSTPORT:PORT[/tcp|/udp]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mapping {
    /// The port on the host.
    pub host_port: u16,
    /// The port in the container.
    pub port: u16,
    /// The protocol.
    pub proto: Proto,
}

impl Mapping {
    /// Parses `HOSTPORT:PORT[/tcp|/udp]`.
    pub fn parse(text: &str) -> Result<Mapping, PublishError> {
        parse_publish(text)
            .map(|(host_port, port, proto)| Mapping {
                host_port,
                port,
                proto,
            })
            .ok_or_else(|| PublishError::BadMapping {
                text: text.to_string(),
            })
    }

    fn text(self) -> String {
        format!("{}:{}/{}", self.host_port, self.port, self.proto.word())
    }
}

/// Why a publish was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The mapping does not parse.
    #[error("`{text}` is not a port mapping\nhelp: write HOSTPORT:PORT or HOSTPORT:PORT/udp, ports 1 to 65535")]
    BadMapping {
        /// What was given.
        text: String,
    },
    /// No container port belongs to the namespace.
    #[error("no ovsnet container port belongs to netns `{netns}`\nhelp: attach the container first (`ovsnet attach`)")]
    NoContainer {
        /// The namespace.
        netns: String,
    },
    /// The host port is published already, by this or another container.
    #[error("host port {host_port}/{proto} is already published by container port `{by}`\nhelp: pick another host port, or unpublish it there first")]
    Taken {
        /// The host port.
        host_port: u16,
        /// Its protocol.
        proto: &'static str,
        /// The port that holds it.
        by: String,
    },
    /// `unpublish` of a mapping that is not published.
    #[error("netns `{netns}` does not publish `{mapping}`")]
    NotPublished {
        /// The namespace.
        netns: String,
        /// The mapping.
        mapping: String,
    },
    /// The host could not be read.
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// The transaction failed (a concurrent change makes its `wait` fail: run it again).
    #[error(transparent)]
    Ovsdb(#[from] OvsdbError),
}

/// Publishes (`add`) or unpublishes `mapping` for the container in `netns`.
pub fn publish(
    client: &mut Client,
    netns: &str,
    mapping: Mapping,
    add: bool,
) -> Result<(), PublishError> {
    let observed = observe_with(client)?;
    let containers: Vec<&Port> = observed
        .state
        .bridges
        .values()
        .flat_map(|b| b.ports.values())
        .filter(|p| p.row.external_id(MARK_ROLE) == Some("container"))
        .collect();
    let target = containers
        .iter()
        .find(|p| p.row.external_id("ovsnet-netns") == Some(netns))
        .ok_or_else(|| PublishError::NoContainer {
            netns: netns.to_string(),
        })?;
    let mut mine = mappings(&target.row);
    if add {
        if mine.contains(&mapping) {
            return Ok(());
        }
        let clashes = |m: &Mapping| m.host_port == mapping.host_port && m.proto == mapping.proto;
        for port in &containers {
            if mappings(&port.row).iter().any(clashes) {
                return Err(PublishError::Taken {
                    host_port: mapping.host_port,
                    proto: mapping.proto.word(),
                    by: port.row.name.clone(),
                });
            }
        }
        mine.push(mapping);
    } else {
        let before = mine.len();
        mine.retain(|m| *m != mapping);
        if mine.len() == before {
            return Err(PublishError::NotPublished {
                netns: netns.to_string(),
                mapping: mapping.text(),
            });
        }
    }
    mine.sort();
    let mut txn = Txn::new();
    for port in &containers {
        if let Some(uuid) = &port.row.uuid {
            let mut row = RowData::new();
            row.insert("external_ids".into(), external_ids(&port.row));
            txn.wait_unchanged("Port", uuid, row);
        }
    }
    let uuid = target.row.uuid.clone().unwrap_or_default();
    let key = Datum::Set(vec![Atom::Str(KEY.to_string())]);
    txn.mutate(
        "Port",
        vec![Condition::uuid(&uuid)],
        Mutation::new("external_ids", "delete", key),
    );
    if !mine.is_empty() {
        let text: Vec<String> = mine.iter().map(|m| m.text()).collect();
        let value = text.join(",");
        let entry = Datum::str_map([(KEY, value.as_str())]);
        txn.mutate(
            "Port",
            vec![Condition::uuid(&uuid)],
            Mutation::new("external_ids", "insert", entry),
        );
    }
    commit(&txn, |ops| client.transact(DB, ops))?;
    Ok(())
}

fn mappings(row: &Row) -> Vec<Mapping> {
    row.external_id(KEY)
        .unwrap_or_default()
        .split(',')
        .filter_map(|t| Mapping::parse(t).ok())
        .collect()
}

/// The row's whole `external_ids` map as observed, for a `wait`.
fn external_ids(row: &Row) -> Datum {
    let entries: Vec<(&str, &str)> = row
        .attrs
        .iter()
        .filter_map(|(k, v)| match v {
            Value::Str(s) => Some((k.strip_prefix("external_ids:")?, s.as_str())),
            _ => None,
        })
        .collect();
    Datum::str_map(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_parse_and_print_canonically() {
        let m = Mapping::parse("8080:80").unwrap();
        assert_eq!(m.text(), "8080:80/tcp");
        assert_eq!(Mapping::parse("53:53/udp").unwrap().text(), "53:53/udp");
        let err = Mapping::parse("80").unwrap_err().to_string();
        assert!(err.contains("`80` is not a port mapping"), "{err}");
    }
}
