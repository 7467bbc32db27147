//! The per-host model of Open vSwitch objects, shared by the desired side (built from
//! the topology) and the observed side (read from a host's OVSDB).
//!
//! Every object is a [`Row`]: a name, the OVSDB uuid when it was observed, and a flat
//! map of attributes. An attribute key is either a column name (`datapath_type`,
//! `trunks`) or `column:key` for one entry of a map column (`options:remote_ip`,
//! `external_ids:ovsnet-cluster`). Keeping attributes flat makes the diff generic and
//! lets a saved plan carry exactly the values apply will write. Which keys ovsnet
//! manages (and therefore compares) is decided here, by [`is_managed`], and nowhere else.
//!
//! This module does no I/O.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// `external_ids` key that marks every row ovsnet owns with its cluster name.
pub const MARK_CLUSTER: &str = "ovsnet-cluster";
/// `external_ids` key that marks tunnel ports and interfaces with the peer host's name.
pub const MARK_PEER: &str = "ovsnet-peer";
/// `external_ids` key that says what role an owned row plays (see [`Role`]).
pub const MARK_ROLE: &str = "ovsnet-role";
/// Prefix of every `external_ids` key ovsnet writes; keys with it are managed on owned rows.
pub const MARK_PREFIX: &str = "ovsnet-";

/// An attribute key (see the module doc for its syntax). Borrowed when it is one of the
/// fixed keys desire writes on every row (`options:remote_ip`, `type`): a 1,000-host
/// mesh has two million rows, and a `String` per key per row was a large share of its
/// plan's allocations. Keys read from a host or a file are owned.
pub type AttrKey = Cow<'static, str>;

/// One attribute value, typed as OVSDB types it.
///
/// Serialized untagged so the JSON plan reads naturally (`"vxlan"`, `4789`, `true`, `[10, 20]`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// An OVSDB boolean.
    Bool(bool),
    /// An OVSDB integer.
    Int(i64),
    /// An OVSDB string.
    Str(String),
    /// A set of integers, kept sorted and without duplicates (`Port.trunks`).
    IntSet(Vec<i64>),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::IntSet(items) => {
                let items: Vec<String> = items.iter().map(i64::to_string).collect();
                write!(f, "[{}]", items.join(", "))
            }
        }
    }
}

/// The three OVSDB tables ovsnet reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A row of the `Bridge` table.
    Bridge,
    /// A row of the `Port` table.
    Port,
    /// A row of the `Interface` table.
    Interface,
}

impl Kind {
    /// The OVSDB table name.
    pub fn table(self) -> &'static str {
        match self {
            Kind::Bridge => "Bridge",
            Kind::Port => "Port",
            Kind::Interface => "Interface",
        }
    }

    /// Lowercase word used in plans and messages.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Bridge => "bridge",
            Kind::Port => "port",
            Kind::Interface => "interface",
        }
    }
}

/// What an owned row is for, from its `ovsnet-role` mark. Container ports belong to the
/// host (attach, the plugin), not to the topology: the fabric reconciler never changes or
/// deletes them. Serialized as the mark's value (`bridge`, `internal`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The overlay bridge.
    Bridge,
    /// The bridge's own internal port.
    Internal,
    /// A tunnel port to a peer host.
    Tunnel,
    /// A container's veth, plugged in by `attach` or the Docker plugin.
    Container,
    /// A VLAN's distributed gateway port (written by apply, realized by the agent).
    Gateway,
}

impl Role {
    /// The mark's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Bridge => "bridge",
            Role::Internal => "internal",
            Role::Tunnel => "tunnel",
            Role::Container => "container",
            Role::Gateway => "gateway",
        }
    }

    /// The role a mark's value names, if any.
    pub fn parse(text: &str) -> Option<Role> {
        [
            Role::Bridge,
            Role::Internal,
            Role::Tunnel,
            Role::Container,
            Role::Gateway,
        ]
        .into_iter()
        .find(|r| r.as_str() == text)
    }

    /// Whether rows of this role belong to the topology (planned, updated, deleted by the
    /// fabric) rather than to the host.
    pub fn is_fabric(self) -> bool {
        self != Role::Container
    }
}

/// How a column is typed in OVSDB, as far as ovsnet reads and writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// A string; the empty string reads as absent (`datapath_type`, `type`).
    Str,
    /// An optional string, absent when empty (`mac`).
    OptStr,
    /// A boolean; always present.
    Bool,
    /// An optional integer (`tag`).
    OptInt,
    /// A set of integers, absent when empty (`trunks`).
    IntSet,
    /// A string-to-string map, flattened into `column:key` attributes; `managed` says
    /// which of its entries ovsnet owns on rows it owns.
    Map(Entries),
}

/// Which entries of a map column ovsnet owns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entries {
    /// Every key with this prefix (`external_ids:ovsnet-*`).
    Prefix(&'static str),
    /// Exactly these keys: what the topology can express (`options:remote_ip`, ...).
    /// Everything else (an operator's `options:tos`) is the operator's and left alone.
    Exactly(&'static [&'static str]),
}

impl Entries {
    fn owns(self, key: &str) -> bool {
        match self {
            Entries::Prefix(prefix) => key.starts_with(prefix),
            Entries::Exactly(keys) => keys.contains(&key),
        }
    }
}

/// One column ovsnet reads (observe), compares (the managed-key rule) and writes (apply).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ColumnSpec {
    /// The OVSDB column name.
    pub name: &'static str,
    /// Its type, and for maps which entries are managed.
    pub ty: ColumnType,
}

const fn col(name: &'static str, ty: ColumnType) -> ColumnSpec {
    ColumnSpec { name, ty }
}

const OURS: ColumnType = ColumnType::Map(Entries::Prefix(MARK_PREFIX));

/// Tunnel options the topology expresses (`remote_ip`, `tunnel.key`, `tunnel.dst_port`).
pub const TUNNEL_OPTIONS: &[&str] = &["remote_ip", "key", "dst_port"];

const BRIDGE_COLUMNS: &[ColumnSpec] = &[
    col("datapath_type", ColumnType::Str),
    col("rstp_enable", ColumnType::Bool),
    col("external_ids", OURS),
];
const PORT_COLUMNS: &[ColumnSpec] = &[
    col("tag", ColumnType::OptInt),
    col("trunks", ColumnType::IntSet),
    col("protected", ColumnType::Bool),
    col("external_ids", OURS),
];
const INTERFACE_COLUMNS: &[ColumnSpec] = &[
    col("type", ColumnType::Str),
    col("mac", ColumnType::OptStr),
    // Set on gateway ports only (the overlay MTU); absent elsewhere, as ovsnet writes it.
    col("mtu_request", ColumnType::OptInt),
    col("options", ColumnType::Map(Entries::Exactly(TUNNEL_OPTIONS))),
    col("external_ids", OURS),
];

/// The columns of `kind` ovsnet models, besides `name` and the reference columns.
/// This one table drives observe (what is read and how it decodes), the managed-key
/// rule ([`is_managed`]) and how apply writes an absent value.
pub fn columns(kind: Kind) -> &'static [ColumnSpec] {
    match kind {
        Kind::Bridge => BRIDGE_COLUMNS,
        Kind::Port => PORT_COLUMNS,
        Kind::Interface => INTERFACE_COLUMNS,
    }
}

/// An attribute key, parsed: a whole column, or one entry of a map column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key<'a> {
    /// A whole column (`trunks`).
    Column(&'a str),
    /// One entry of a map column (`options:remote_ip`).
    Entry {
        /// The map column.
        column: &'a str,
        /// The entry's key.
        key: &'a str,
    },
}

impl<'a> Key<'a> {
    /// Parses `column` or `column:key`.
    pub fn parse(text: &'a str) -> Key<'a> {
        match text.split_once(':') {
            Some((column, key)) => Key::Entry { column, key },
            None => Key::Column(text),
        }
    }

    /// The column this key lives in.
    pub fn column(self) -> &'a str {
        match self {
            Key::Column(c) | Key::Entry { column: c, .. } => c,
        }
    }
}

/// The spec of `column` of `kind`, when ovsnet models it.
pub fn column_spec(kind: Kind, column: &str) -> Option<&'static ColumnSpec> {
    columns(kind).iter().find(|c| c.name == column)
}

/// Whether attribute `key` of a row of `kind` is one ovsnet manages on rows it owns.
///
/// Managed keys are compared in both directions: present on one side and absent on the
/// other is a change. Every other key (statistics, other tools' `external_ids`, tunnel
/// options the topology never expresses, columns ovsnet never sets) is ignored by the
/// diff and never written: "absent means not managed".
pub fn is_managed(kind: Kind, key: &str) -> bool {
    let parsed = Key::parse(key);
    match (column_spec(kind, parsed.column()).map(|c| c.ty), parsed) {
        (Some(ColumnType::Map(entries)), Key::Entry { key, .. }) => entries.owns(key),
        (Some(ColumnType::Map(_)), Key::Column(_)) | (None, _) => false,
        (Some(_), Key::Column(_)) => true,
        (Some(_), Key::Entry { .. }) => false,
    }
}

/// One OVSDB row as ovsnet sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The row's `name` column.
    pub name: String,
    /// The row's `_uuid`; `None` on the desired side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Attributes by key (see the module doc for the key syntax).
    #[serde(default)]
    pub attrs: BTreeMap<AttrKey, Value>,
}

impl Row {
    /// A row with a name and no attributes.
    pub fn named(name: impl Into<String>) -> Row {
        Row {
            name: name.into(),
            ..Row::default()
        }
    }

    /// The value of `external_ids:<key>` when it is a string.
    pub fn external_id(&self, key: &str) -> Option<&str> {
        match self.attrs.get(format!("external_ids:{key}").as_str()) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The role its `ovsnet-role` mark names, if any.
    pub fn role(&self) -> Option<Role> {
        self.external_id(MARK_ROLE).and_then(Role::parse)
    }

    /// Who owns this row, judged by its `ovsnet-cluster` mark.
    pub fn ownership(&self, cluster: &str) -> Ownership {
        match self.external_id(MARK_CLUSTER) {
            Some(c) if c == cluster => Ownership::Ours,
            Some(c) => Ownership::OtherCluster(c.to_string()),
            None => Ownership::Foreign,
        }
    }

    /// Sets an attribute, returning `self` for chaining.
    pub fn with(mut self, key: impl Into<AttrKey>, value: Value) -> Row {
        self.attrs.insert(key.into(), value);
        self
    }
}

/// Who a row belongs to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "owner", content = "cluster")]
pub enum Ownership {
    /// Carries this cluster's mark: ovsnet may update and delete it.
    Ours,
    /// Carries another ovsnet cluster's mark: never touched.
    OtherCluster(String),
    /// Carries no ovsnet mark: created by someone else, never touched.
    Foreign,
}

/// A bridge with its ports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bridge {
    /// The Bridge row.
    pub row: Row,
    /// Its ports by name.
    #[serde(default)]
    pub ports: BTreeMap<String, Port>,
}

/// A port with its interfaces.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// The Port row.
    pub row: Row,
    /// Its interfaces by name (ovsnet's own ports have exactly one, named like the port).
    #[serde(default)]
    pub interfaces: BTreeMap<String, Interface>,
}

/// An interface: its row and, when observed, what ovs-vswitchd reports about it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// The Interface row.
    pub row: Row,
    /// Runtime columns written by ovs-vswitchd; never diffed, never written by ovsnet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<InterfaceRuntime>,
}

/// Columns ovs-vswitchd fills in for an interface.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceRuntime {
    /// OpenFlow port number; -1 means the switch could not create the interface.
    pub ofport: Option<i64>,
    /// The switch's error text, if it could not create or configure the interface.
    pub error: Option<String>,
    /// `up` or `down`, when reported.
    pub link_state: Option<String>,
    /// The kernel's interface index as the switch last saw it: 0 when its device is
    /// gone (or it has none, like a tunnel); absent before the first status refresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifindex: Option<i64>,
    /// Free-form status map (tunnel_egress_iface and the like).
    #[serde(default)]
    pub status: BTreeMap<String, String>,
    /// The MAC the switch actually uses (`mac_in_use`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_in_use: Option<String>,
}

/// What one host's Open vSwitch holds (observed) or should hold (desired): its bridges by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    /// Bridges by name.
    pub bridges: BTreeMap<String, Bridge>,
}

/// What a host must offer for its desired state to be applied (checked in preflight).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirements {
    /// `Bridge.datapath_type` the overlay bridge uses; must be in `datapath_types`.
    pub datapath_type: String,
    /// `Interface.type` of the tunnels; must be in `iface_types` (None: no tunnels).
    pub tunnel_type: Option<String>,
    /// Whether `Port.protected` is used (needs OVS 2.9 or later, schema 7.15.0 or later).
    pub needs_protected: bool,
}

/// Everything ovsnet wants on one host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredHost {
    /// Host name from the topology.
    pub name: String,
    /// Where its OVSDB listens.
    pub endpoint: String,
    /// Cluster name (the ownership mark).
    pub cluster: String,
    /// The overlay bridge and its ports.
    pub state: HostState,
    /// What the host's OVS must support.
    pub requirements: Requirements,
}

/// Facts about a host's Open vSwitch, from its `Open_vSwitch` row and schema.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfo {
    /// `_uuid` of the single `Open_vSwitch` row.
    pub uuid: String,
    /// Configuration sequence number asked for.
    pub next_cfg: i64,
    /// Configuration sequence number ovs-vswitchd has reached.
    pub cur_cfg: i64,
    /// Datapath types the switch supports (empty when ovs-vswitchd never ran).
    pub datapath_types: Vec<String>,
    /// Interface types the switch supports.
    pub iface_types: Vec<String>,
    /// `ovs_version`, when reported.
    pub ovs_version: Option<String>,
    /// Version of the `Open_vSwitch` database schema.
    pub schema_version: String,
    /// The host agent's health (`external_ids:ovsnet-agent`, JSON), when it reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// What one host's Open vSwitch holds now.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedHost {
    /// Facts about the switch.
    pub system: SystemInfo,
    /// Every bridge, port and interface, whoever owns it.
    pub state: HostState,
}

/// Why a container port is stale, judged from what ovs-vswitchd reports on its
/// interface: the one rule of `containers`, `plan` and `gc` (docs/host-side.md). The
/// switch failed it (`ofport` -1 or an `error`), or it reports the device gone
/// (`ifindex` 0): the userspace datapath keeps the ofport of a vanished veth, but its
/// status refresh finds no such device. A caller that can look into the host's
/// namespace also checks the veth itself (`attach::stale_reason`).
pub fn stale_container(
    ofport: Option<i64>,
    error: Option<&str>,
    ifindex: Option<i64>,
) -> Option<String> {
    match (error, ofport, ifindex) {
        (Some(e), _, _) if !e.is_empty() => Some(e.to_string()),
        (_, Some(-1), _) => Some("ofport is -1".into()),
        (_, _, Some(0)) => Some("the switch sees no such device (ifindex 0)".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ovsnet_owns_exactly_the_keys_the_topology_expresses() {
        assert!(is_managed(Kind::Interface, "options:remote_ip"));
        assert!(is_managed(Kind::Interface, "options:key"));
        assert!(is_managed(Kind::Interface, "options:dst_port"));
        assert!(!is_managed(Kind::Interface, "options:tos"));
        assert!(!is_managed(Kind::Interface, "options:df_default"));
        assert!(is_managed(Kind::Interface, "type"));
        assert!(is_managed(Kind::Port, "external_ids:ovsnet-cluster"));
        assert!(!is_managed(Kind::Port, "external_ids:owner"));
        assert!(!is_managed(Kind::Port, "other_config:transient"));
        assert!(!is_managed(Kind::Bridge, "external_ids"));
    }

    #[test]
    fn roles_read_back_from_their_marks() {
        for role in [
            Role::Bridge,
            Role::Internal,
            Role::Tunnel,
            Role::Container,
            Role::Gateway,
        ] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("router"), None);
    }

    #[test]
    fn a_container_port_is_stale_when_the_switch_failed_it_or_sees_no_device() {
        assert_eq!(stale_container(Some(3), None, Some(7)), None);
        assert_eq!(
            stale_container(Some(3), Some(""), None),
            None,
            "not refreshed yet"
        );
        assert_eq!(
            stale_container(Some(-1), None, None).as_deref(),
            Some("ofport is -1")
        );
        let gone = "could not open network device ovc1 (No such device)";
        assert_eq!(
            stale_container(Some(-1), Some(gone), None).as_deref(),
            Some(gone)
        );
        assert!(stale_container(Some(3), None, Some(0))
            .unwrap()
            .contains("no such device"));
    }
}
