//! The plan: per host, the ordered changes that turn what a host holds into what the
//! topology wants, plus what is left alone and why.
//!
//! `build` is pure: no clock, no environment, no I/O, ordered maps only, so the same
//! inputs give byte-identical plans. A plan carries everything apply needs (the values
//! to write and the guards to check), so a saved plan applies exactly what was reviewed.

mod build;
mod context;

mod fingerprint;
mod preflight;
pub mod simulate;

pub use build::{
    build, build_back, build_fresh, build_owned, build_unobserved, diff_attrs, PlanError,
};
pub use context::{context, TunnelPairs};

pub use fingerprint::fingerprint;

use crate::state::{AttrKey, Kind, Ownership, Value};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the plan document (`plan --format json`, `plan -o`).
pub const FORMAT_VERSION: u32 = 1;

/// What happens to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Insert a new row.
    Create,
    /// Change attributes of an owned row in place.
    Update,
    /// Remove an owned row.
    Delete,
}

/// One attribute's old and new value; `None` means absent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrChange {
    /// Attribute key (`column` or `column:key`).
    pub key: AttrKey,
    /// Value observed now.
    pub old: Option<Value>,
    /// Value wanted.
    pub new: Option<Value>,
}

/// One change to one row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Create, update or delete.
    pub action: Action,
    /// Which table.
    pub kind: Kind,
    /// The row's name.
    pub name: String,
    /// The owning row's name: the bridge of a port, the port of an interface.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// The observed row's uuid (update and delete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The parent row's observed uuid, when the parent already exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_uuid: Option<String>,
    /// Every attribute that changes (for create: every attribute written).
    pub attrs: Vec<AttrChange>,
}

/// An assertion the apply transaction makes before changing anything (an OVSDB `wait`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "guard")]
pub enum Guard {
    /// The row with this uuid still has exactly these column values.
    Unchanged {
        /// Table.
        kind: Kind,
        /// Row uuid.
        uuid: String,
        /// Column values as observed (map columns as their managed `column:key` entries).
        attrs: BTreeMap<AttrKey, Value>,
        /// Uuids of the rows a reference column held (`Bridge.ports`, `Port.interfaces`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        children: Vec<String>,
    },
    /// No row of this table has this name.
    Absent {
        /// Table.
        kind: Kind,
        /// Name that must not exist.
        name: String,
    },
}

/// A row with a name ovsnet wants that someone else owns: the host's plan stops here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// Table.
    pub kind: Kind,
    /// The clashing name.
    pub name: String,
    /// Who owns the existing row.
    pub owner: Ownership,
    /// When set, the row is no name clash: it is a foreign port sitting on this owned
    /// bridge, which the plan would delete (and the port with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks_delete_of: Option<String>,
    /// When set, the row is a container port on this VLAN, which the plan would remove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks_vlan: Option<String>,
}

/// A container port on the host: the host's, never changed or deleted by the fabric.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRow {
    /// Port name.
    pub port: String,
    /// Its VLAN's name.
    pub vlan: String,
    /// Its address (CIDR).
    pub address: String,
    /// `ok` or `stale`.
    pub state: String,
    /// What is wrong: stale (the switch's error), or outside this host's range, or on
    /// a VLAN the topology no longer declares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// A row ovsnet saw and will not touch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftAlone {
    /// Table.
    pub kind: Kind,
    /// Row name.
    pub name: String,
    /// Bridge it sits on (ports only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Who owns it.
    pub owner: Ownership,
}

/// A reason the host cannot take this plan even without conflicts (missing features).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preflight {
    /// What is missing, as data: `datapath_type`, `tunnel_type` or `protected`.
    pub requirement: String,
    /// The value asked for.
    pub wanted: String,
    /// What the host offers (comma-separated list, or the OVS version).
    pub offered: String,
}

/// The plan for one host.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostPlan {
    /// Host name.
    pub host: String,
    /// OVSDB endpoint the plan was computed against.
    pub endpoint: String,
    /// Digest of the observed state the plan was computed from (see [`fingerprint`]);
    /// `None` for a `diff`, which observes no host.
    pub fingerprint: Option<String>,
    /// Ordered changes: creates parent-first, deletes child-first.
    pub changes: Vec<Change>,
    /// Assertions apply makes before changing anything.
    pub guards: Vec<Guard>,
    /// Name clashes with rows ovsnet does not own; non-empty means no changes are applied.
    pub conflicts: Vec<Conflict>,
    /// Features the host lacks; non-empty means no changes are applied.
    pub preflight: Vec<Preflight>,
    /// Rows seen and left alone.
    pub left_alone: Vec<LeftAlone>,
    /// Container ports on the host (attach, the Docker plugin): shown, never touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<ContainerRow>,
    /// Set when ovs-vswitchd had not applied the database's latest configuration when
    /// observed: what the plan compares against may not be running yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch_lag: Option<SwitchLag>,
    /// Set when the host needs its agent (it has gateways) and the agent is not
    /// reported up and well (`external_ids:ovsnet-agent` on the `Open_vSwitch` row).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentWarning>,
}

/// What is wrong with a host's agent, as its health key says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "agent")]
pub enum AgentWarning {
    /// No agent has ever reported on this host.
    Missing,
    /// The agent stopped (it reported `up: false`).
    Down,
    /// The agent runs and its last reconcile failed.
    Failing {
        /// The error it reported.
        error: String,
    },
    /// The health key is not the agent's JSON.
    Unreadable,
}

/// ovs-vswitchd behind its database: `cur_cfg` below `next_cfg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchLag {
    /// Configuration number the database asks for.
    pub next_cfg: i64,
    /// Configuration number the switch has reached.
    pub cur_cfg: i64,
}

impl HostPlan {
    /// Whether a reader must look at this host: changes, blockers, a lagging switch or
    /// an agent that is needed and not well.
    pub fn needs_attention(&self) -> bool {
        !self.changes.is_empty()
            || self.is_blocked()
            || self.switch_lag.is_some()
            || self.agent.is_some()
            || self.containers.iter().any(|c| c.problem.is_some())
    }

    /// Whether apply may proceed on this host.
    pub fn is_blocked(&self) -> bool {
        !self.conflicts.is_empty() || !self.preflight.is_empty()
    }

    /// Counts of (create, update, delete) over rows, counting each row once.
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for change in &self.changes {
            match change.action {
                Action::Create => counts.add += 1,
                Action::Update => counts.change += 1,
                Action::Delete => counts.destroy += 1,
            }
        }
        counts
    }
}

/// Change counts, as in the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Rows created.
    pub add: usize,
    /// Rows updated.
    pub change: usize,
    /// Rows deleted.
    pub destroy: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.add += other.add;
        self.change += other.change;
        self.destroy += other.destroy;
    }
}

/// How the observed side of a plan was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Against the hosts' real OVSDB endpoints.
    Live,
    /// Against the one-machine lab (`--lab`).
    Lab,
    /// Against hosts that hold nothing (`--offline`).
    Offline,
    /// Against hosts that hold a base topology (`ovsnet diff`).
    Diff,
}

/// Cluster-wide facts a plan states in its header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// Cluster name.
    pub cluster: String,
    /// Digest of the validated topology (sha256 hex, independent of key order).
    pub topology_digest: String,
    /// How hosts were observed.
    pub mode: Mode,
    /// Topology kind: mesh, chain, star or custom.
    pub shape: String,
    /// Tunnel type: vxlan, gre or geneve.
    pub tunnel: String,
    /// Loop protection applied: none, split_horizon or rstp.
    pub protection: String,
    /// Why that protection.
    pub protection_reason: String,
    /// Overlay MTU.
    pub overlay_mtu: u32,
    /// Tunnel edges of the wanted graph, as host-name pairs (lower file index first).
    pub tunnels: TunnelPairs,
    /// Validation warnings (single points of failure, large diameter).
    pub warnings: Vec<String>,
}

/// A whole plan: the context and one `HostPlan` per host, in file order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Always [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Cluster-wide facts.
    pub context: Context,
    /// Per-host plans in topology file order.
    pub hosts: Vec<HostPlan>,
}

impl Plan {
    /// Summed counts over every host.
    pub fn counts(&self) -> Counts {
        let mut total = Counts::default();
        for host in &self.hosts {
            total += host.counts();
        }
        total
    }

    /// Whether any host has a change, conflict or preflight failure.
    pub fn has_changes(&self) -> bool {
        self.hosts.iter().any(|h| !h.changes.is_empty())
    }
}
