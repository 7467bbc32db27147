//! What the plugin reads from, and writes to, the host's OVSDB (docs/host-side.md): the
//! overlay bridge's facts written by `apply` (cluster, MTU, `ovsnet-vlan-<name>`), the
//! container ports and their marks, and the plugin's own network records on the
//! `Open_vSwitch` row (`ovsnet-docker-network-<network id>`). One `transact` of three
//! `select`s gives a consistent snapshot; writes are `mutate`s of single keys, so they
//! never clobber what the agent or attach write beside them.

use crate::intent::HostIntent;
use crate::ovsdb::{self, Atom, Client, Condition, Datum, Mutation, Op, OvsdbError, DB};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::collections::BTreeMap;

/// The prefix of a network record's key on the `Open_vSwitch` row.
pub const NETWORK_KEY_PREFIX: &str = "ovsnet-docker-network-";
/// The mark naming a port's Docker endpoint.
pub const ENDPOINT_MARK: &str = "ovsnet-docker-endpoint";
/// The mark naming a port's Docker network.
pub const NETWORK_MARK: &str = "ovsnet-docker-network";
/// The mark naming the plugin that plugged a port (`ovsnet-docker-plugin`).
pub const PLUGIN_MARK: &str = "ovsnet-docker-plugin";
/// Unix seconds at which the IPAM handed the port's address out: the reconciler leaves
/// younger ports alone (Docker lists an endpoint only once it has joined).
pub const REQUESTED_MARK: &str = "ovsnet-docker-requested";
/// The container's network namespace file, from Join.
pub const SANDBOX_MARK: &str = "ovsnet-docker-sandbox";
/// Published ports (`HOSTPORT:PORT/PROTO`, comma-separated, sorted), for the agent.
pub const PUBLISH_MARK: &str = "ovsnet-publish";

/// Why the host's OVSDB could not be read as the plugin needs it.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Talking to OVSDB failed.
    #[error(transparent)]
    Ovsdb(#[from] OvsdbError),
    /// No overlay bridge: `apply` has not run on this host.
    #[error("this host's OVSDB (`{0}`) has no ovsnet bridge\nhelp: run `ovsnet apply` for the cluster first")]
    NoBridge(String),
    /// A key written by `apply` cannot be read.
    #[error("OVSDB at `{endpoint}`: cannot read `{key}` ({value}): {detail}")]
    BadKey {
        /// The endpoint.
        endpoint: String,
        /// The key.
        key: String,
        /// Its value.
        value: String,
        /// What is wrong.
        detail: String,
    },
}

/// One VLAN as `apply` describes it on the bridge (the shared reader in `intent`).
pub use crate::intent::VlanIntent as Vlan;

/// A Docker network the plugin created, as recorded in OVSDB.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// The VLAN it maps to.
    pub vlan: String,
}

/// A container port (`ovsnet-role=container`) with its marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPort {
    /// The Port row's name (the veth's outer end).
    pub name: String,
    /// Every `external_ids` entry.
    pub marks: BTreeMap<String, String>,
}

impl ContainerPort {
    /// A mark's value.
    pub fn mark(&self, key: &str) -> Option<&str> {
        self.marks.get(key).map(String::as_str)
    }
}

/// The host as the plugin sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostView {
    /// The overlay bridge.
    pub bridge: String,
    /// Its cluster.
    pub cluster: String,
    /// The overlay MTU, when `apply` wrote it.
    pub mtu: Option<u32>,
    /// VLANs by name.
    pub vlans: BTreeMap<String, Vlan>,
    /// The plugin's network records by Docker network ID.
    pub networks: BTreeMap<String, NetworkRecord>,
    /// Container ports on the overlay bridge.
    pub ports: Vec<ContainerPort>,
}

const BRIDGE: [&str; 3] = ["name", "external_ids", "ports"];
const PORT: [&str; 3] = ["_uuid", "name", "external_ids"];

/// Reads the host in one transaction.
pub fn read(client: &mut Client) -> Result<HostView, HostError> {
    let select = |table: &str, columns: &[&str]| Op::Select {
        table: table.into(),
        conditions: vec![],
        columns: Some(columns.iter().map(|c| c.to_string()).collect()),
    };
    let ops = [
        select("Open_vSwitch", &["external_ids"]),
        select("Bridge", &BRIDGE),
        select("Port", &PORT),
    ];
    let results = client.transact(DB, &ops)?;
    let endpoint = client.endpoint().to_string();
    let bridge = ovsdb::rows(&results[1])
        .iter()
        .find(|row| {
            let ids = string_map(&row["external_ids"]);
            ids.get("ovsnet-role").map(String::as_str) == Some("bridge")
                && ids.contains_key("ovsnet-cluster")
        })
        .ok_or_else(|| HostError::NoBridge(endpoint.clone()))?;
    let ids = string_map(&bridge["external_ids"]);
    let intent = HostIntent::from_external_ids(ids.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if let Some((key, detail)) = intent.unreadable.first() {
        return Err(HostError::BadKey {
            endpoint,
            value: ids.get(key).cloned().unwrap_or_default(),
            key: key.clone(),
            detail: detail.clone(),
        });
    }
    let mut view = HostView {
        bridge: bridge["name"].as_str().unwrap_or_default().to_string(),
        cluster: ids.get("ovsnet-cluster").cloned().unwrap_or_default(),
        mtu: intent.mtu,
        vlans: intent.vlans,
        ..HostView::default()
    };
    if let Some(row) = ovsdb::rows(&results[0]).first() {
        for (key, value) in string_map(&row["external_ids"]) {
            if let Some(id) = key.strip_prefix(NETWORK_KEY_PREFIX) {
                let record = parse_json(&endpoint, &key, &value)?;
                view.networks.insert(id.to_string(), record);
            }
        }
    }
    let on_bridge: Vec<String> = uuids(&bridge["ports"]);
    for row in ovsdb::rows(&results[2]) {
        let uuid = uuids(&row["_uuid"]);
        if !uuid.iter().any(|u| on_bridge.contains(u)) {
            continue;
        }
        let marks = string_map(&row["external_ids"]);
        if marks.get("ovsnet-role").map(String::as_str) == Some("container") {
            view.ports.push(ContainerPort {
                name: row["name"].as_str().unwrap_or_default().to_string(),
                marks,
            });
        }
    }
    Ok(view)
}

fn parse_json<T: serde::de::DeserializeOwned>(
    endpoint: &str,
    key: &str,
    value: &str,
) -> Result<T, HostError> {
    serde_json::from_str(value).map_err(|e| HostError::BadKey {
        endpoint: endpoint.to_string(),
        key: key.to_string(),
        value: value.to_string(),
        detail: e.to_string(),
    })
}

fn string_map(json: &Json) -> BTreeMap<String, String> {
    let Some(datum) = Datum::from_json(json) else {
        return BTreeMap::new();
    };
    datum
        .pairs()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
        .collect()
}

fn uuids(json: &Json) -> Vec<String> {
    Datum::from_json(json)
        .map(|d| {
            d.atoms()
                .iter()
                .filter_map(|a| a.as_uuid().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Records network `id` on the `Open_vSwitch` row.
pub fn put_network(client: &mut Client, id: &str, record: &NetworkRecord) -> Result<(), HostError> {
    let key = format!("{NETWORK_KEY_PREFIX}{id}");
    // Serializing a struct of one string cannot fail.
    let value = serde_json::to_string(record).unwrap_or_default();
    let ops = [
        delete_keys("Open_vSwitch", vec![], &[&key]),
        Op::Mutate {
            table: "Open_vSwitch".into(),
            conditions: vec![],
            mutations: vec![Mutation::new(
                "external_ids",
                "insert",
                Datum::str_map([(key.as_str(), value.as_str())]),
            )],
        },
    ];
    client.transact(DB, &ops)?;
    Ok(())
}

/// Forgets network `id`.
pub fn remove_network(client: &mut Client, id: &str) -> Result<(), HostError> {
    let key = format!("{NETWORK_KEY_PREFIX}{id}");
    client.transact(DB, &[delete_keys("Open_vSwitch", vec![], &[&key])])?;
    Ok(())
}

/// Sets `marks` (and removes `unset`) on port `port`'s `external_ids`.
pub fn mark_port(
    client: &mut Client,
    port: &str,
    marks: &[(&str, &str)],
    unset: &[&str],
) -> Result<(), HostError> {
    let keys: Vec<&str> = marks
        .iter()
        .map(|(k, _)| *k)
        .chain(unset.iter().copied())
        .collect();
    let mut ops = vec![delete_keys("Port", vec![Condition::name(port)], &keys)];
    if !marks.is_empty() {
        ops.push(Op::Mutate {
            table: "Port".into(),
            conditions: vec![Condition::name(port)],
            mutations: vec![Mutation::new(
                "external_ids",
                "insert",
                Datum::str_map(marks.iter().copied()),
            )],
        });
    }
    client.transact(DB, &ops)?;
    Ok(())
}

/// A mutate deleting `keys` from `table`'s `external_ids` in matching rows.
fn delete_keys(table: &str, conditions: Vec<Condition>, keys: &[&str]) -> Op {
    Op::Mutate {
        table: table.into(),
        conditions,
        mutations: vec![Mutation::new(
            "external_ids",
            "delete",
            Datum::Set(keys.iter().map(|k| Atom::Str(k.to_string())).collect()),
        )],
    }
}
