//! After the commit: waiting for ovs-vswitchd to reach the new configuration, and
//! judging every interface the plan created or changed by its `ofport` and `error`.

use crate::ovsdb::{self, Atom, Condition, Datum, Op};
use crate::plan::{Action, HostPlan};
use crate::state::Kind;
use serde_json::Value as Json;
use std::time::Duration;

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

/// Reads `ofport` and `error` of every created or updated interface.
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
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let ops: Vec<Op> = names
        .iter()
        .map(|name| Op::Select {
            table: "Interface".into(),
            conditions: vec![Condition::name(name)],
            columns: Some(vec!["ofport".into(), "error".into()]),
        })
        .collect();
    let results = exec.transact(&ops).map_err(|source| ApplyError::Ovsdb {
        host: plan.host.clone(),
        error: Box::new(source),
    })?;
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
