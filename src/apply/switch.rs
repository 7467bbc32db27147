//! After the commit: waiting for ovs-vswitchd to reach the new configuration, and
//! judging every interface the plan created or changed by its `ofport` and `error`.

use crate::ovsdb::{self, Atom, Condition, Datum, Op};
use crate::plan::{Action, Change, HostPlan};
use crate::state::{Kind, Value};
use serde_json::Value as Json;
use std::time::Duration;

use super::transaction::{DATAPATH_ID, DATAPATH_TYPE};
use super::{ApplyError, Executor, InterfaceFailure};

/// Polls `cur_cfg` until it reaches `target` or `timeout` passes.
pub(super) fn wait_for_switch(
    plan: &HostPlan,
    exec: &mut dyn Executor,
    target: i64,
    timeout: Duration,
) -> Result<(), ApplyError> {
    let host = plan.host.clone();
    let endpoint = exec.endpoint().to_string();
    let outcome = ovsdb::wait_for_cur_cfg(
        |ops: &[Op]| {
            exec.transact(ops).map_err(|source| ApplyError::Ovsdb {
                host: host.clone(),
                error: Box::new(source),
            })
        },
        target,
        timeout,
    )?;
    outcome.map_err(|reached| ApplyError::SwitchTimeout {
        host,
        endpoint,
        target,
        reached,
        timeout,
    })
}

/// Reads `ofport` and `error` of every created or updated interface, and `datapath_id`
/// of every bridge created or moved to another datapath, in one transaction. A bridge
/// judged here failed first: its interfaces then tell nothing new.
pub(super) fn check_interfaces(
    plan: &HostPlan,
    exec: &mut dyn Executor,
) -> Result<Vec<(String, Option<i64>)>, ApplyError> {
    let names: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| c.kind == Kind::Interface && c.action != Action::Delete)
        .map(|c| c.name.as_str())
        .collect();
    let bridges: Vec<(&str, String)> = plan.changes.iter().filter_map(opens_datapath).collect();
    if names.is_empty() && bridges.is_empty() {
        return Ok(Vec::new());
    }
    let select = |table: &str, name: &str, columns: &[&str]| Op::Select {
        table: table.into(),
        conditions: vec![Condition::name(name)],
        columns: Some(columns.iter().map(|c| c.to_string()).collect()),
    };
    let mut ops: Vec<Op> = names
        .iter()
        .map(|name| select("Interface", name, &["ofport", "error"]))
        .collect();
    ops.extend(
        bridges
            .iter()
            .map(|(name, _)| select("Bridge", name, &[DATAPATH_ID])),
    );
    let results = exec.transact(&ops).map_err(|source| ApplyError::Ovsdb {
        host: plan.host.clone(),
        error: Box::new(source),
    })?;
    for ((bridge, datapath), result) in bridges
        .iter()
        .zip(&results[names.len().min(results.len())..])
    {
        if !judge_bridge(result) {
            return Err(ApplyError::Datapath {
                host: plan.host.clone(),
                endpoint: exec.endpoint().to_string(),
                bridge: bridge.to_string(),
                datapath: datapath.clone(),
            });
        }
    }
    let mut seen = Vec::new();
    let mut failures = Vec::new();
    for (name, result) in names.iter().zip(&results) {
        match judge_interface(name, result) {
            Ok(ofport) => seen.push((name.to_string(), ofport)),
            Err(failure) => failures.push(failure),
        }
    }
    if failures.is_empty() {
        Ok(seen)
    } else {
        Err(ApplyError::Interfaces {
            host: plan.host.clone(),
            endpoint: exec.endpoint().to_string(),
            failures,
        })
    }
}

/// A bridge change after which ovs-vswitchd must (re)open the bridge on a datapath:
/// its name and the datapath asked for (`system` when the plan leaves it empty, as OVS
/// reads an empty `datapath_type`).
fn opens_datapath(change: &Change) -> Option<(&str, String)> {
    if change.kind != Kind::Bridge || change.action == Action::Delete {
        return None;
    }
    let asked = change.attrs.iter().find(|a| a.key == DATAPATH_TYPE);
    if change.action == Action::Update && asked.is_none() {
        return None;
    }
    let datapath = match asked.and_then(|a| a.new.as_ref()) {
        Some(Value::Str(t)) if !t.is_empty() => t.clone(),
        _ => "system".to_string(),
    };
    Some((change.name.as_str(), datapath))
}

/// Whether ovs-vswitchd opened the bridge: it wrote a `datapath_id` (see
/// `transaction`'s update of `datapath_type`, which clears it).
fn judge_bridge(result: &Json) -> bool {
    ovsdb::rows(result)
        .first()
        .and_then(|row| row.get(DATAPATH_ID))
        .and_then(Datum::from_json)
        .and_then(|d| d.single().and_then(|a| a.as_str().map(|s| !s.is_empty())))
        .unwrap_or(false)
}

/// An interface's `ofport`, or why ovs-vswitchd failed it: `ofport` -1, an `error`, or
/// no `ofport` at all. ovs-vswitchd writes `ofport` in the same transaction that moves
/// `cur_cfg`, so once the switch caught up an interface without one was never opened;
/// that is what happens when its bridge's datapath could not be opened (a `system`
/// bridge without the kernel module), and OVS then writes no error on the interface.
pub fn judge_interface(name: &str, result: &Json) -> Result<Option<i64>, InterfaceFailure> {
    let failure = |ofport, error: &str| InterfaceFailure {
        name: name.to_string(),
        ofport,
        error: error.to_string(),
    };
    let Some(row) = ovsdb::rows(result).first() else {
        return Err(failure(None, "the row is missing after the commit"));
    };
    let single = |col: &str| row.get(col).and_then(Datum::from_json);
    let ofport = single("ofport").and_then(|d| d.single().and_then(Atom::as_int));
    let error =
        single("error").and_then(|d| d.single().and_then(|a| a.as_str().map(str::to_string)));
    match (ofport, error) {
        (_, Some(error)) if !error.is_empty() => Err(failure(ofport, &error)),
        (Some(-1), _) => Err(failure(ofport, "ofport is -1 and OVS gave no error text")),
        (None, _) => Err(failure(
            None,
            "ovs-vswitchd gave it no OpenFlow port, so it never opened it (did its bridge's \
             datapath fail to open? see the ovs-vswitchd log)",
        )),
        _ => Ok(ofport),
    }
}
