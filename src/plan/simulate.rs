//! A model of what a host holds after a plan is applied, for tests of the reconciler's
//! contract (apply a plan to a model, plan again: nothing left). It mirrors apply's
//! semantics on the in-memory model; it never stands in for a real Open vSwitch.

use super::{Action, Change, HostPlan};
use crate::state::{Bridge, HostState, Interface, Kind, Port, Row};

/// `state` after every change of `plan`, with fresh uuids for created rows.
pub fn simulate(state: &HostState, plan: &HostPlan) -> HostState {
    let mut state = state.clone();
    for (n, change) in plan.changes.iter().enumerate() {
        let uuid = format!("sim-{n}");
        match (change.action, change.kind) {
            (Action::Create, Kind::Bridge) => {
                let row = created(change, uuid);
                state.bridges.insert(
                    row.name.clone(),
                    Bridge {
                        row,
                        ..Bridge::default()
                    },
                );
            }
            (Action::Create, Kind::Port) => {
                if let Some(bridge) = change
                    .parent
                    .as_ref()
                    .and_then(|b| state.bridges.get_mut(b))
                {
                    let row = created(change, uuid);
                    bridge.ports.insert(
                        row.name.clone(),
                        Port {
                            row,
                            ..Port::default()
                        },
                    );
                }
            }
            (Action::Create, Kind::Interface) => {
                if let Some(port) = port_mut(&mut state, change.parent.as_deref()) {
                    let row = created(change, uuid);
                    port.interfaces
                        .insert(row.name.clone(), Interface { row, runtime: None });
                }
            }
            (Action::Update, _) => {
                if let Some(row) = row_mut(&mut state, change) {
                    for attr in &change.attrs {
                        match &attr.new {
                            Some(value) => row.attrs.insert(attr.key.clone(), value.clone()),
                            None => row.attrs.remove(&attr.key),
                        };
                    }
                }
            }
            (Action::Delete, Kind::Bridge) => {
                state.bridges.remove(&change.name);
            }
            (Action::Delete, Kind::Port) => {
                for bridge in state.bridges.values_mut() {
                    if Some(&bridge.row.name) == change.parent.as_ref() {
                        bridge.ports.remove(&change.name);
                    }
                }
            }
            // Interfaces go with their port (OVSDB garbage-collects them).
            (Action::Delete, Kind::Interface) => {}
        }
    }
    state
}

fn created(change: &Change, uuid: String) -> Row {
    Row {
        name: change.name.clone(),
        uuid: Some(uuid),
        attrs: change
            .attrs
            .iter()
            .filter_map(|a| a.new.clone().map(|v| (a.key.clone(), v)))
            .collect(),
    }
}

fn port_mut<'a>(state: &'a mut HostState, name: Option<&str>) -> Option<&'a mut Port> {
    let name = name?;
    state
        .bridges
        .values_mut()
        .find_map(|b| b.ports.get_mut(name))
}

fn row_mut<'a>(state: &'a mut HostState, change: &Change) -> Option<&'a mut Row> {
    match change.kind {
        Kind::Bridge => state.bridges.get_mut(&change.name).map(|b| &mut b.row),
        Kind::Port => port_mut(state, Some(&change.name)).map(|p| &mut p.row),
        Kind::Interface => port_mut(state, change.parent.as_deref())
            .and_then(|p| p.interfaces.get_mut(&change.name))
            .map(|i| &mut i.row),
    }
}
