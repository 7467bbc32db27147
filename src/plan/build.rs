//! The reconciler: one host's desired state against what it holds, giving that host's
//! ordered changes, guards, conflicts and the rows left alone.
//!
//! Every managed object is met as a pair (desired, observed):
//! both → update if a managed attribute differs; only desired → create;
//! only observed and ours → delete; only observed and not ours → left alone.
//! A wanted name held by a row we do not own is a conflict, and the host stops there.
//! Container ports (role `container`) are ours but the host's: only observed and ours
//! and a container → shown, never changed or deleted; they block a plan that removes
//! their VLAN or the bridge under them.

use super::fingerprint::fingerprint;
use super::preflight::preflight;
use super::{
    Action, AgentWarning, AttrChange, Change, Conflict, ContainerRow, Guard, HostPlan, LeftAlone,
    SwitchLag,
};
use crate::attach::host::marks::{ADDRESS as MARK_ADDRESS, VLAN as MARK_VLAN};
use crate::intent::{VlanIntent, KEY_VLAN_PREFIX};
use crate::state::{
    is_managed, AttrKey, Bridge, DesiredHost, HostState, Kind, ObservedHost, Ownership, Port,
    Requirements, Role, Row, Value,
};
use std::collections::{BTreeMap, BTreeSet};

/// Why a plan could not be built at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// The desired side broke an invariant `desire` guarantees.
    #[error("bug: {0} (please report it)")]
    Bug(String),
}

/// The agent's state as the plan warns about it: only for a host that needs an agent
/// (some VLAN has a gateway there). A stale heartbeat is not judged here (no clock).
fn agent_warning(desired: &DesiredHost, health: Option<&str>) -> Option<AgentWarning> {
    let needs_agent = desired.state.bridges.values().any(|b| {
        b.ports
            .values()
            .any(|p| p.row.role() == Some(crate::state::Role::Gateway))
    });
    if !needs_agent {
        return None;
    }
    let Some(text) = health else {
        return Some(AgentWarning::Missing);
    };
    match crate::agent::health::parse(text) {
        None => Some(AgentWarning::Unreadable),
        Some(h) if !h.up => Some(AgentWarning::Down),
        Some(h) => h.error.map(|error| AgentWarning::Failing { error }),
    }
}

/// Plans one host: the changes that turn `observed` into `desired`.
pub fn build(desired: &DesiredHost, observed: &ObservedHost) -> Result<HostPlan, PlanError> {
    build_owned(desired.clone(), observed)
}

/// [`build`] for a caller that has no further use for `desired`: the attributes of rows to
/// create move into the plan instead of being copied, which halves the allocations of a
/// large offline plan.
pub fn build_owned(desired: DesiredHost, observed: &ObservedHost) -> Result<HostPlan, PlanError> {
    expect_bridge(&desired)?;
    plan_rows(desired, observed, Fingerprint::Observed)
}

/// [`build_owned`] against rows that were never observed (a `diff`'s BASE side): the plan
/// has no fingerprint, and none is computed.
pub fn build_unobserved(desired: DesiredHost, held: &ObservedHost) -> Result<HostPlan, PlanError> {
    expect_bridge(&desired)?;
    plan_rows(desired, held, Fingerprint::None)
}

fn expect_bridge(desired: &DesiredHost) -> Result<(), PlanError> {
    if desired.state.bridges.is_empty() {
        return Err(PlanError::Bug(format!(
            "no bridge desired on host `{}`",
            desired.name
        )));
    }
    Ok(())
}

/// Whether a plan states the digest of what it was planned against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fingerprint {
    /// The observed state's digest (a host that was read).
    Observed,
    /// None: nothing was observed.
    None,
}

/// [`build`] against a host that holds nothing (the offline plan), from the desired rows
/// as `rows` streams them in the order a [`HostState`] iterates them (each bridge, then
/// each of its ports followed by its interfaces; [`crate::desire::visit_rows`]): every
/// row is created and guarded absent. The same plan as `build` gives for the host those
/// rows make up, without building that host first; `rows_hint` is how many rows to
/// make room for.
pub fn build_fresh(
    name: String,
    endpoint: String,
    requirements: &Requirements,
    rows_hint: usize,
    rows: impl FnOnce(&mut dyn FnMut(Kind, &Row)),
) -> HostPlan {
    let nothing = ObservedHost::default();
    let mut plan = HostPlan {
        host: name,
        endpoint,
        fingerprint: Some(fingerprint(&nothing)),
        preflight: preflight(requirements, &nothing.system),
        ..HostPlan::default()
    };
    plan.changes.reserve(rows_hint);
    plan.guards.reserve(rows_hint);
    // The parent of each row: the bridge of a port, the port of an interface.
    let (mut bridge, mut port) = (String::new(), String::new());
    rows(&mut |kind, row| {
        let parent = match kind {
            Kind::Bridge => {
                bridge.clone_from(&row.name);
                None
            }
            Kind::Port => {
                port.clone_from(&row.name);
                Some(bridge.clone())
            }
            Kind::Interface => Some(port.clone()),
        };
        plan.guards.push(Guard::Absent {
            kind,
            name: row.name.clone(),
        });
        plan.changes.push(Change {
            action: Action::Create,
            kind,
            name: row.name.clone(),
            parent,
            uuid: None,
            parent_uuid: None,
            attrs: row
                .attrs
                .iter()
                .map(|(key, value)| AttrChange {
                    key: key.clone(),
                    old: None,
                    new: Some(value.clone()),
                })
                .collect(),
        });
    });
    plan
}

/// The plan back to an earlier state of this cluster's rows (a rollback): like
/// [`build`], except that `previous` may hold no bridge at all, as a host did before
/// its first apply; every row of ours is then deleted.
pub fn build_back(previous: &DesiredHost, observed: &ObservedHost) -> Result<HostPlan, PlanError> {
    plan_rows(previous.clone(), observed, Fingerprint::Observed)
}

fn plan_rows(
    desired: DesiredHost,
    observed: &ObservedHost,
    digest: Fingerprint,
) -> Result<HostPlan, PlanError> {
    let mut plan = HostPlan {
        fingerprint: (digest == Fingerprint::Observed).then(|| fingerprint(observed)),
        preflight: preflight(&desired.requirements, &observed.system),
        switch_lag: (observed.system.cur_cfg < observed.system.next_cfg).then_some(SwitchLag {
            next_cfg: observed.system.next_cfg,
            cur_cfg: observed.system.cur_cfg,
        }),
        // An offline plan observed nothing (no `Open_vSwitch` row): nothing to judge.
        agent: (!observed.system.uuid.is_empty())
            .then(|| agent_warning(&desired, observed.system.agent.as_deref()))
            .flatten(),
        host: desired.name,
        endpoint: desired.endpoint,
        ..HostPlan::default()
    };
    // Room for a change and a guard per desired row up front: a 1,000-host mesh has
    // 2,000 rows per host, and growing by doubling would copy them all twice over.
    let rows = row_count(&desired.state);
    plan.changes.reserve(rows);
    plan.guards.reserve(rows);
    let names = NameIndex::of(&observed.state);
    let mut planner = Planner {
        cluster: &desired.cluster,
        names: &names,
        plan: &mut plan,
    };
    // Sorted (map keys), so membership is a binary search once the map is consumed.
    let wanted: Vec<String> = desired.state.bridges.keys().cloned().collect();
    for (name, want) in desired.state.bridges {
        planner.bridge(want, observed.state.bridges.get(&name));
    }
    for (name, have) in &observed.state.bridges {
        if wanted.binary_search(name).is_err() {
            planner.unwanted_bridge(have);
        }
    }
    if !plan.conflicts.is_empty() {
        plan.changes.clear();
        plan.guards.clear();
    }
    Ok(plan)
}

/// Bridges, ports and interfaces in `state`.
fn row_count(state: &HostState) -> usize {
    let ports = |b: &Bridge| -> usize { b.ports.values().map(|p| 1 + p.interfaces.len()).sum() };
    state.bridges.values().map(|b| 1 + ports(b)).sum()
}

/// Where every observed port and interface name lives, to find clashes off our bridge.
struct NameIndex<'a> {
    ports: BTreeMap<&'a str, &'a Row>,
    interfaces: BTreeMap<&'a str, &'a Row>,
}

impl<'a> NameIndex<'a> {
    fn of(state: &'a HostState) -> NameIndex<'a> {
        let mut index = NameIndex {
            ports: BTreeMap::new(),
            interfaces: BTreeMap::new(),
        };
        for bridge in state.bridges.values() {
            for port in bridge.ports.values() {
                index.ports.insert(&port.row.name, &port.row);
                for iface in port.interfaces.values() {
                    index.interfaces.insert(&iface.row.name, &iface.row);
                }
            }
        }
        index
    }
}

struct Planner<'a> {
    cluster: &'a str,
    names: &'a NameIndex<'a>,
    plan: &'a mut HostPlan,
}

impl Planner<'_> {
    fn bridge(&mut self, want: Bridge, have: Option<&Bridge>) {
        let Some(have) = have else {
            self.create_bridge(want);
            return;
        };
        match have.row.ownership(self.cluster) {
            Ownership::Ours => {}
            owner => {
                self.conflict(Kind::Bridge, &want.row.name, owner);
                return;
            }
        }
        self.update(Kind::Bridge, &want.row, &have.row, None);
        for (name, want_port) in want.ports.iter() {
            match have.ports.get(name) {
                Some(have_port) => self.existing_port(want_port, have_port, &have.row),
                None => {
                    self.create_port(want_port.clone(), &want.row.name, have.row.uuid.as_deref())
                }
            }
        }
        for (name, have_port) in &have.ports {
            if want.ports.contains_key(name) {
                continue;
            }
            match have_port.row.ownership(self.cluster) {
                Ownership::Ours if have_port.row.role() == Some(Role::Container) => {
                    self.container(have_port, &want.row);
                }
                Ownership::Ours => self.delete_port(have_port, &have.row),
                owner => self.leave_alone(Kind::Port, &have_port.row, Some(&have.row), owner),
            }
        }
        if !self.plan.changes.is_empty() {
            self.guard_unchanged(Kind::Bridge, &have.row, child_uuids(&have.ports));
        }
    }

    fn existing_port(&mut self, want: &Port, have: &Port, bridge: &Row) {
        match have.row.ownership(self.cluster) {
            Ownership::Ours => {}
            owner => {
                self.conflict(Kind::Port, &want.row.name, owner);
                return;
            }
        }
        let before = self.plan.changes.len();
        self.update(Kind::Port, &want.row, &have.row, Some(bridge));
        for (name, want_iface) in &want.interfaces {
            match have.interfaces.get(name) {
                Some(have_iface) => self.update(
                    Kind::Interface,
                    &want_iface.row,
                    &have_iface.row,
                    Some(&have.row),
                ),
                None => self.create_row(
                    Kind::Interface,
                    want_iface.row.clone(),
                    &want.row.name,
                    have.row.uuid.as_deref(),
                ),
            }
        }
        if self.plan.changes.len() > before {
            let children = child_uuids(&have.interfaces);
            self.guard_unchanged(Kind::Port, &have.row, children);
        }
    }

    /// A bridge the host lacks: it and every port on it are created, moved into the plan.
    fn create_bridge(&mut self, want: Bridge) {
        // A concurrent creator of the same bridge makes apply fail instead of clashing.
        self.plan.guards.push(Guard::Absent {
            kind: Kind::Bridge,
            name: want.row.name.clone(),
        });
        let name = want.row.name.clone();
        self.push_create(Kind::Bridge, want.row, None, None);
        for port in want.ports.into_values() {
            self.create_port(port, &name, None);
        }
    }

    fn create_port(&mut self, want: Port, bridge: &str, bridge_uuid: Option<&str>) {
        let name = want.row.name.clone();
        self.create_row(Kind::Port, want.row, bridge, bridge_uuid);
        for iface in want.interfaces.into_values() {
            self.create_row(Kind::Interface, iface.row, &name, None);
        }
    }

    fn create_row(&mut self, kind: Kind, want: Row, parent: &str, parent_uuid: Option<&str>) {
        let taken = match kind {
            Kind::Port => self.names.ports.get(want.name.as_str()),
            Kind::Interface => self.names.interfaces.get(want.name.as_str()),
            Kind::Bridge => None,
        };
        match taken.map(|row| row.ownership(self.cluster)) {
            // Ours elsewhere: only on a bridge of ours being deleted in this same
            // transaction, whose guard already covers it; OVSDB checks names at commit.
            Some(Ownership::Ours) => {}
            Some(owner) => {
                self.conflict(kind, &want.name, owner);
                return;
            }
            None => self.plan.guards.push(Guard::Absent {
                kind,
                name: want.name.clone(),
            }),
        }
        self.push_create(kind, want, Some(parent), parent_uuid);
    }

    /// A create change carrying every attribute of `want`, moved rather than copied.
    fn push_create(
        &mut self,
        kind: Kind,
        want: Row,
        parent: Option<&str>,
        parent_uuid: Option<&str>,
    ) {
        let attrs = want
            .attrs
            .into_iter()
            .map(|(key, value)| AttrChange {
                key,
                old: None,
                new: Some(value),
            })
            .collect();
        self.plan.changes.push(Change {
            action: Action::Create,
            kind,
            name: want.name,
            parent: parent.map(str::to_string),
            uuid: None,
            parent_uuid: parent_uuid.map(str::to_string),
            attrs,
        });
    }

    fn update(&mut self, kind: Kind, want: &Row, have: &Row, parent: Option<&Row>) {
        let attrs = diff_attrs(kind, want, have);
        if attrs.is_empty() {
            return;
        }
        if kind == Kind::Interface {
            self.guard_unchanged(kind, have, Vec::new());
        }
        self.plan.changes.push(Change {
            action: Action::Update,
            kind,
            name: want.name.clone(),
            parent: parent.map(|p| p.name.clone()),
            uuid: have.uuid.clone(),
            parent_uuid: parent.and_then(|p| p.uuid.clone()),
            attrs,
        });
    }

    fn delete_port(&mut self, have: &Port, bridge: &Row) {
        for iface in have.interfaces.values() {
            self.push_delete(Kind::Interface, &iface.row, Some(&have.row));
        }
        self.push_delete(Kind::Port, &have.row, Some(bridge));
        self.guard_unchanged(Kind::Port, &have.row, child_uuids(&have.interfaces));
    }

    fn unwanted_bridge(&mut self, have: &Bridge) {
        let owner = have.row.ownership(self.cluster);
        if owner != Ownership::Ours {
            self.leave_alone(Kind::Bridge, &have.row, None, owner);
            return;
        }
        // Deleting a bridge takes every port on it; refuse while someone else's sit there.
        // Container ports are ours but the host's: they block the delete as foreign ones do.
        let foreign: Vec<&Port> = have
            .ports
            .values()
            .filter(|p| {
                p.row.ownership(self.cluster) != Ownership::Ours
                    || p.row.role() == Some(Role::Container)
            })
            .collect();
        if !foreign.is_empty() {
            for port in foreign {
                self.plan.conflicts.push(Conflict {
                    kind: Kind::Port,
                    name: port.row.name.clone(),
                    owner: port.row.ownership(self.cluster),
                    blocks_delete_of: Some(have.row.name.clone()),
                    blocks_vlan: None,
                });
            }
            return;
        }
        for port in have.ports.values() {
            for iface in port.interfaces.values() {
                self.push_delete(Kind::Interface, &iface.row, Some(&port.row));
            }
            self.push_delete(Kind::Port, &port.row, Some(&have.row));
        }
        self.push_delete(Kind::Bridge, &have.row, None);
        self.guard_unchanged(Kind::Bridge, &have.row, child_uuids(&have.ports));
    }

    fn push_delete(&mut self, kind: Kind, have: &Row, parent: Option<&Row>) {
        let attrs = have
            .attrs
            .iter()
            .filter(|(key, _)| is_managed(kind, key))
            .map(|(key, value)| AttrChange {
                key: key.clone(),
                old: Some(value.clone()),
                new: None,
            })
            .collect();
        self.plan.changes.push(Change {
            action: Action::Delete,
            kind,
            name: have.name.clone(),
            parent: parent.map(|p| p.name.clone()),
            uuid: have.uuid.clone(),
            parent_uuid: parent.and_then(|p| p.uuid.clone()),
            attrs,
        });
    }

    fn guard_unchanged(&mut self, kind: Kind, have: &Row, children: Vec<String>) {
        // Rows observed without a uuid (a `diff` between two topologies) cannot be guarded.
        let Some(uuid) = &have.uuid else { return };
        let already = self
            .plan
            .guards
            .iter()
            .any(|g| matches!(g, Guard::Unchanged { uuid: u, .. } if u == uuid));
        if !already {
            self.plan.guards.push(Guard::Unchanged {
                kind,
                uuid: uuid.clone(),
                attrs: have.attrs.clone(),
                children,
            });
        }
    }

    fn conflict(&mut self, kind: Kind, name: &str, owner: Ownership) {
        self.plan.conflicts.push(Conflict {
            kind,
            name: name.to_string(),
            owner,
            blocks_delete_of: None,
            blocks_vlan: None,
        });
    }

    /// A container port on our bridge: shown, never changed or deleted. It blocks a plan
    /// that removes its VLAN; one outside this host's range, or broken, is reported.
    fn container(&mut self, port: &Port, want_bridge: &Row) {
        let vlan = port
            .row
            .external_id(MARK_VLAN)
            .unwrap_or_default()
            .to_string();
        let address = port
            .row
            .external_id(MARK_ADDRESS)
            .unwrap_or_default()
            .to_string();
        let key = format!("external_ids:{KEY_VLAN_PREFIX}{vlan}");
        let intent = match want_bridge.attrs.get(key.as_str()) {
            Some(Value::Str(json)) => serde_json::from_str::<VlanIntent>(json).ok(),
            _ => None,
        };
        let stale = port.interfaces.values().find_map(|i| {
            let rt = i.runtime.as_ref()?;
            crate::state::stale_container(rt.ofport, rt.error.as_deref(), rt.ifindex)
        });
        let problem = match &intent {
            None => {
                self.plan.conflicts.push(Conflict {
                    kind: Kind::Port,
                    name: port.row.name.clone(),
                    owner: Ownership::Ours,
                    blocks_delete_of: None,
                    blocks_vlan: Some(vlan.clone()),
                });
                Some(format!("VLAN `{vlan}` is not declared"))
            }
            Some(intent) => {
                let inside = address
                    .parse::<ipnet::Ipv4Net>()
                    .ok()
                    .zip(intent.range)
                    .is_some_and(|(a, r)| r.contains(&a.addr()));
                (!inside).then(|| format!("address {address} is outside this host's range"))
            }
        };
        self.plan.containers.push(ContainerRow {
            port: port.row.name.clone(),
            vlan,
            address,
            state: if stale.is_some() { "stale" } else { "ok" }.to_string(),
            problem: stale.or(problem),
        });
    }

    fn leave_alone(&mut self, kind: Kind, have: &Row, parent: Option<&Row>, owner: Ownership) {
        self.plan.left_alone.push(LeftAlone {
            kind,
            name: have.name.clone(),
            parent: parent.map(|p| p.name.clone()),
            owner,
        });
    }
}

/// Managed attributes that differ, in key order; absent on one side counts as a change.
pub fn diff_attrs(kind: Kind, want: &Row, have: &Row) -> Vec<AttrChange> {
    let keys: BTreeSet<&AttrKey> = want
        .attrs
        .keys()
        .chain(have.attrs.keys())
        .filter(|key| is_managed(kind, key))
        .collect();
    keys.into_iter()
        .filter_map(|key| {
            let old = have.attrs.get(key.as_ref());
            let new = want.attrs.get(key.as_ref());
            (old != new).then(|| AttrChange {
                key: key.clone(),
                old: old.cloned(),
                new: new.cloned(),
            })
        })
        .collect()
}

fn child_uuids<T: HasRow>(children: &BTreeMap<String, T>) -> Vec<String> {
    let mut uuids: Vec<String> = children
        .values()
        .filter_map(|c| c.row().uuid.clone())
        .collect();
    uuids.sort();
    uuids
}

trait HasRow {
    fn row(&self) -> &Row;
}

impl HasRow for Port {
    fn row(&self) -> &Row {
        &self.row
    }
}

impl HasRow for crate::state::Interface {
    fn row(&self) -> &Row {
        &self.row
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action::{Create, Delete, Update};
    use crate::state::{Interface, Value, MARK_CLUSTER, MARK_PEER};

    fn mark(row: Row, cluster: &str) -> Row {
        row.with(
            format!("external_ids:{MARK_CLUSTER}"),
            Value::Str(cluster.into()),
        )
    }

    fn tunnel(name: &str, peer: &str, remote: &str) -> Port {
        let iface = mark(Row::named(name), "demo")
            .with("type", Value::Str("vxlan".into()))
            .with("options:remote_ip", Value::Str(remote.into()))
            .with(format!("external_ids:{MARK_PEER}"), Value::Str(peer.into()));
        let port = mark(Row::named(name), "demo")
            .with("trunks", Value::IntSet(vec![10, 20]))
            .with("protected", Value::Bool(true));
        Port {
            row: port,
            interfaces: BTreeMap::from([(
                name.to_string(),
                Interface {
                    row: iface,
                    runtime: None,
                },
            )]),
        }
    }

    fn desired() -> DesiredHost {
        let bridge = Bridge {
            row: mark(Row::named("br-ovsnet"), "demo")
                .with("datapath_type", Value::Str("netdev".into()))
                .with("rstp_enable", Value::Bool(false)),
            ports: BTreeMap::from([
                ("vx-b".to_string(), tunnel("vx-b", "b", "198.18.0.2")),
                ("vx-c".to_string(), tunnel("vx-c", "c", "198.18.0.3")),
            ]),
        };
        DesiredHost {
            name: "a".into(),
            endpoint: "unix:/x".into(),
            cluster: "demo".into(),
            state: HostState {
                bridges: BTreeMap::from([("br-ovsnet".to_string(), bridge)]),
            },
            ..DesiredHost::default()
        }
    }

    /// The desired state as a host that applied it would report it, with uuids.
    fn converged() -> ObservedHost {
        let mut state = desired().state;
        let mut n = 0;
        let mut uuid = || {
            n += 1;
            Some(format!("00000000-0000-0000-0000-{n:012}"))
        };
        for bridge in state.bridges.values_mut() {
            bridge.row.uuid = uuid();
            for port in bridge.ports.values_mut() {
                port.row.uuid = uuid();
                for iface in port.interfaces.values_mut() {
                    iface.row.uuid = uuid();
                }
            }
        }
        ObservedHost {
            state,
            ..ObservedHost::default()
        }
    }

    fn bridge_mut(observed: &mut ObservedHost) -> &mut Bridge {
        observed
            .state
            .bridges
            .get_mut("br-ovsnet")
            .expect("fixture has the bridge")
    }

    fn summary(plan: &HostPlan) -> Vec<(Action, Kind, String)> {
        plan.changes
            .iter()
            .map(|c| (c.action, c.kind, c.name.clone()))
            .collect()
    }

    #[test]
    fn an_empty_host_gets_everything_created_parent_first() {
        let plan = build(&desired(), &ObservedHost::default()).expect("plan");
        assert_eq!(
            summary(&plan),
            [
                (Create, Kind::Bridge, "br-ovsnet".into()),
                (Create, Kind::Port, "vx-b".into()),
                (Create, Kind::Interface, "vx-b".into()),
                (Create, Kind::Port, "vx-c".into()),
                (Create, Kind::Interface, "vx-c".into()),
            ]
        );
        assert_eq!(plan.guards.len(), 5, "every created name is guarded absent");
    }

    #[test]
    fn a_converged_host_plans_nothing() {
        let plan = build(&desired(), &converged()).expect("plan");
        assert!(plan.changes.is_empty(), "{:?}", plan.changes);
        assert!(plan.guards.is_empty());
    }

    #[test]
    fn drifted_remote_ip_is_one_update_with_old_and_new() {
        let mut observed = converged();
        let port = bridge_mut(&mut observed)
            .ports
            .get_mut("vx-b")
            .expect("port");
        let iface = port.interfaces.get_mut("vx-b").expect("iface");
        iface
            .row
            .attrs
            .insert("options:remote_ip".into(), Value::Str("198.18.9.9".into()));
        let plan = build(&desired(), &observed).expect("plan");
        assert_eq!(summary(&plan), [(Update, Kind::Interface, "vx-b".into())]);
        let change = &plan.changes[0].attrs[0];
        assert_eq!(change.key, "options:remote_ip");
        assert_eq!(change.old, Some(Value::Str("198.18.9.9".into())));
        assert_eq!(change.new, Some(Value::Str("198.18.0.2".into())));
        assert!(plan.changes[0].uuid.is_some());
    }

    #[test]
    fn a_deleted_tunnel_port_is_recreated_under_the_existing_bridge() {
        let mut observed = converged();
        bridge_mut(&mut observed).ports.remove("vx-c");
        let plan = build(&desired(), &observed).expect("plan");
        assert_eq!(
            summary(&plan),
            [
                (Create, Kind::Port, "vx-c".into()),
                (Create, Kind::Interface, "vx-c".into())
            ]
        );
        assert!(
            plan.changes[0].parent_uuid.is_some(),
            "port joins the observed bridge"
        );
        let bridge_guarded = plan
            .guards
            .iter()
            .any(|g| matches!(g, Guard::Unchanged { kind: Kind::Bridge, children, .. } if children.len() == 1));
        assert!(
            bridge_guarded,
            "the bridge's port list is guarded: {:?}",
            plan.guards
        );
    }

    #[test]
    fn our_unwanted_port_is_deleted_child_first_and_foreign_ports_are_left_alone() {
        let mut observed = converged();
        let bridge = bridge_mut(&mut observed);
        let mut stale = tunnel("vx-old", "old", "198.18.0.9");
        stale.row.uuid = Some("stale".into());
        bridge.ports.insert("vx-old".into(), stale);
        bridge.ports.insert(
            "veth-app".into(),
            Port {
                row: Row::named("veth-app"),
                ..Port::default()
            },
        );
        let plan = build(&desired(), &observed).expect("plan");
        assert_eq!(
            summary(&plan),
            [
                (Delete, Kind::Interface, "vx-old".into()),
                (Delete, Kind::Port, "vx-old".into())
            ]
        );
        assert_eq!(plan.left_alone.len(), 1);
        assert_eq!(plan.left_alone[0].name, "veth-app");
        assert_eq!(plan.left_alone[0].owner, Ownership::Foreign);
    }

    #[test]
    fn a_foreign_port_with_a_wanted_name_is_a_conflict_and_nothing_else_happens() {
        let mut observed = converged();
        let bridge = bridge_mut(&mut observed);
        bridge.ports.insert(
            "vx-c".into(),
            Port {
                row: Row::named("vx-c"),
                ..Port::default()
            },
        );
        bridge.ports.remove("vx-b");
        let plan = build(&desired(), &observed).expect("plan");
        assert_eq!(plan.conflicts.len(), 1);
        assert_eq!(plan.conflicts[0].name, "vx-c");
        assert!(plan.changes.is_empty(), "a conflicted host changes nothing");
        assert!(plan.is_blocked());
    }

    #[test]
    fn a_wanted_port_name_taken_on_another_bridge_is_a_conflict() {
        let mut observed = ObservedHost::default();
        let other = Bridge {
            row: Row::named("br-int"),
            ports: BTreeMap::from([(
                "vx-b".to_string(),
                Port {
                    row: Row::named("vx-b"),
                    ..Port::default()
                },
            )]),
        };
        observed.state.bridges.insert("br-int".into(), other);
        let plan = build(&desired(), &observed).expect("plan");
        assert_eq!(plan.conflicts.len(), 1);
        assert_eq!(plan.left_alone[0].name, "br-int");
    }

    #[test]
    fn another_clusters_bridge_of_the_same_name_is_a_conflict() {
        let mut observed = converged();
        let bridge = bridge_mut(&mut observed);
        bridge.row.attrs.insert(
            format!("external_ids:{MARK_CLUSTER}").into(),
            Value::Str("prod".into()),
        );
        let plan = build(&desired(), &observed).expect("plan");
        assert_eq!(
            plan.conflicts[0].owner,
            Ownership::OtherCluster("prod".into())
        );
        assert!(plan.changes.is_empty());
    }

    #[test]
    fn our_renamed_away_bridge_is_deleted_unless_foreign_ports_sit_on_it() {
        let mut observed = converged();
        let mut old = observed.state.bridges.remove("br-ovsnet").expect("bridge");
        old.row.name = "br-old".into();
        observed.state.bridges.insert("br-old".into(), old.clone());
        let plan = build(&desired(), &observed).expect("plan");
        assert!(plan
            .changes
            .iter()
            .any(|c| c.action == Delete && c.kind == Kind::Bridge));

        old.ports.insert(
            "app".into(),
            Port {
                row: Row::named("app"),
                ..Port::default()
            },
        );
        observed.state.bridges.insert("br-old".into(), old);
        let plan = build(&desired(), &observed).expect("plan");
        assert_eq!(plan.conflicts.len(), 1, "{:?}", plan.conflicts);
        assert_eq!(plan.conflicts[0].name, "app");
        assert_eq!(
            plan.conflicts[0].blocks_delete_of.as_deref(),
            Some("br-old")
        );
    }

    #[test]
    fn unmanaged_attributes_are_ignored() {
        let mut observed = converged();
        let bridge = bridge_mut(&mut observed);
        bridge
            .row
            .attrs
            .insert("external_ids:owner".into(), Value::Str("ops".into()));
        let plan = build(&desired(), &observed).expect("plan");
        assert!(plan.changes.is_empty());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::plan::simulate::simulate;
    use crate::state::{Interface, Value, MARK_CLUSTER};
    use proptest::prelude::*;

    /// A random owned port: name index, remote ip octet, trunks, protected.
    fn port_strategy() -> impl Strategy<Value = (u8, u8, Vec<i64>, bool)> {
        (
            0u8..8,
            1u8..20,
            proptest::collection::vec(1i64..30, 0..3),
            any::<bool>(),
        )
    }

    fn owned(name: String) -> Row {
        Row::named(name).with(
            format!("external_ids:{MARK_CLUSTER}"),
            Value::Str("demo".into()),
        )
    }

    fn host(ports: &[(u8, u8, Vec<i64>, bool)], datapath: &str) -> HostState {
        let mut bridge = Bridge {
            row: owned("br-ovsnet".into()).with("datapath_type", Value::Str(datapath.into())),
            ports: BTreeMap::new(),
        };
        for (n, ip, trunks, protected) in ports {
            let name = format!("vx-h{n}");
            let mut trunks = trunks.clone();
            trunks.sort();
            trunks.dedup();
            let mut row = owned(name.clone()).with("protected", Value::Bool(*protected));
            if !trunks.is_empty() {
                row = row.with("trunks", Value::IntSet(trunks));
            }
            let iface = owned(name.clone())
                .with("type", Value::Str("vxlan".into()))
                .with("options:remote_ip", Value::Str(format!("198.18.0.{ip}")));
            let iface = Interface {
                row: iface,
                runtime: None,
            };
            let port = Port {
                row,
                interfaces: BTreeMap::from([(name.clone(), iface)]),
            };
            bridge.ports.insert(name, port);
        }
        HostState {
            bridges: BTreeMap::from([("br-ovsnet".to_string(), bridge)]),
        }
    }

    fn with_uuids(mut state: HostState) -> HostState {
        let mut n = 0;
        let mut next = || {
            n += 1;
            Some(format!("obs-{n}"))
        };
        for bridge in state.bridges.values_mut() {
            bridge.row.uuid = next();
            for port in bridge.ports.values_mut() {
                port.row.uuid = next();
                for iface in port.interfaces.values_mut() {
                    iface.row.uuid = next();
                }
            }
        }
        state
    }

    fn desired(state: HostState) -> DesiredHost {
        DesiredHost {
            name: "a".into(),
            cluster: "demo".into(),
            state,
            ..DesiredHost::default()
        }
    }

    proptest! {
        #[test]
        fn planning_a_state_against_itself_is_empty(ports in proptest::collection::vec(port_strategy(), 0..6)) {
            let want = host(&ports, "netdev");
            let observed = ObservedHost { state: with_uuids(want.clone()), ..ObservedHost::default() };
            let plan = build(&desired(want), &observed).expect("plan");
            prop_assert!(plan.changes.is_empty());
        }

        #[test]
        fn applying_a_plan_to_a_model_and_planning_again_is_empty(
            want in proptest::collection::vec(port_strategy(), 0..6),
            have in proptest::collection::vec(port_strategy(), 0..6),
            empty_host in any::<bool>(),
        ) {
            let desired = desired(host(&want, "netdev"));
            let observed = if empty_host { HostState::default() } else { with_uuids(host(&have, "system")) };
            let observed = ObservedHost { state: observed, ..ObservedHost::default() };
            let plan = build(&desired, &observed).expect("plan");
            let after = ObservedHost { state: simulate(&observed.state, &plan), ..ObservedHost::default() };
            let again = build(&desired, &after).expect("plan");
            prop_assert!(again.changes.is_empty(), "left over: {:?}", again.changes);
        }

        #[test]
        fn the_plan_is_deterministic(
            want in proptest::collection::vec(port_strategy(), 0..6),
            have in proptest::collection::vec(port_strategy(), 0..6),
        ) {
            let desired = desired(host(&want, "netdev"));
            let observed = ObservedHost { state: with_uuids(host(&have, "netdev")), ..ObservedHost::default() };
            let first = build(&desired, &observed).expect("plan");
            let second = build(&desired.clone(), &observed.clone()).expect("plan");
            prop_assert_eq!(
                serde_json::to_string(&first).expect("json"),
                serde_json::to_string(&second).expect("json")
            );
        }
    }
}

#[cfg(test)]
mod switch_lag_tests {
    use super::*;

    fn desired() -> DesiredHost {
        let bridge = Bridge {
            row: Row::named("br-ovsnet"),
            ports: BTreeMap::new(),
        };
        DesiredHost {
            name: "a".into(),
            cluster: "demo".into(),
            state: HostState {
                bridges: BTreeMap::from([("br-ovsnet".to_string(), bridge)]),
            },
            ..DesiredHost::default()
        }
    }

    fn observed(next_cfg: i64, cur_cfg: i64) -> ObservedHost {
        let mut observed = ObservedHost::default();
        observed.system.next_cfg = next_cfg;
        observed.system.cur_cfg = cur_cfg;
        observed
    }

    #[test]
    fn a_switch_behind_its_database_is_reported() {
        let plan = build(&desired(), &observed(7, 6)).expect("plan");
        assert_eq!(
            plan.switch_lag,
            Some(SwitchLag {
                next_cfg: 7,
                cur_cfg: 6
            })
        );
        assert!(plan.needs_attention());
    }

    #[test]
    fn a_switch_that_caught_up_is_not() {
        let plan = build(&desired(), &observed(7, 7)).expect("plan");
        assert_eq!(plan.switch_lag, None);
    }
}

#[cfg(test)]
mod agent_warning_tests {
    use super::*;
    use crate::state::{Port, Value};

    fn desired(gateway: bool) -> DesiredHost {
        let mut ports = BTreeMap::new();
        if gateway {
            let row = Row::named("ovsgw-10")
                .with("external_ids:ovsnet-role", Value::Str("gateway".into()));
            ports.insert(
                "ovsgw-10".to_string(),
                Port {
                    row,
                    ..Port::default()
                },
            );
        }
        let bridge = Bridge {
            row: Row::named("br-ovsnet"),
            ports,
        };
        DesiredHost {
            name: "a".into(),
            cluster: "demo".into(),
            state: HostState {
                bridges: BTreeMap::from([("br-ovsnet".to_string(), bridge)]),
            },
            ..DesiredHost::default()
        }
    }

    fn live(health: Option<&str>) -> ObservedHost {
        let mut observed = ObservedHost::default();
        observed.system.uuid = "u".into();
        observed.system.agent = health.map(str::to_string);
        observed
    }

    fn warning(gateway: bool, observed: &ObservedHost) -> Option<AgentWarning> {
        build(&desired(gateway), observed).expect("plan").agent
    }

    #[test]
    fn each_agent_state_gives_its_warning() {
        let up = r#"{"last_reconcile":1,"pid":1,"up":true,"version":"0.1.0"}"#;
        let down = r#"{"last_reconcile":1,"pid":1,"up":false,"version":"0.1.0"}"#;
        let failing = r#"{"error":"boom","last_reconcile":1,"pid":1,"up":true,"version":"0.1.0"}"#;
        assert_eq!(warning(true, &live(None)), Some(AgentWarning::Missing));
        assert_eq!(warning(true, &live(Some(up))), None);
        assert_eq!(warning(true, &live(Some(down))), Some(AgentWarning::Down));
        assert_eq!(
            warning(true, &live(Some(failing))),
            Some(AgentWarning::Failing {
                error: "boom".into()
            })
        );
        assert_eq!(
            warning(true, &live(Some("{"))),
            Some(AgentWarning::Unreadable)
        );
    }

    #[test]
    fn no_gateway_or_nothing_observed_means_no_warning() {
        assert_eq!(warning(false, &live(None)), None);
        assert_eq!(warning(true, &ObservedHost::default()), None, "offline");
    }
}
