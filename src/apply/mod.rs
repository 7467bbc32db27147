//! Carries out one host's plan: one OVSDB transaction, then waits for ovs-vswitchd to
//! catch up and checks the interfaces it touched.
//!
//! The transaction is built by [`transaction`] (pure) and run through an [`Executor`],
//! the seam between ovsnet and a real switch: [`OvsdbExecutor`] talks to OVSDB,
//! [`Recorder`] records transactions for tests. Order inside the transaction:
//! `wait` guards (so a concurrent writer makes the whole transaction fail with nothing
//! applied), inserts (children first, linked by named uuids), updates and mutations,
//! links of new rows to existing parents, reference drops for deletes (Port and
//! Interface rows are garbage-collected by OVSDB), then `next_cfg += 1` and a `select`
//! of `next_cfg` to learn the configuration number to wait for.
//!
//! [`converge`] is the whole run for one host over one connection: observe, plan (or
//! check a reviewed plan's fingerprint), this transaction, the wait, the interface
//! check, and the verification (observe again, plan again, expect nothing).

mod converge;
mod executor;
pub mod rollout;
mod switch;
mod transaction;

pub use converge::{
    converge, converge_all, converge_host, ConvergeError, Converged, Start, Switch,
};
pub use executor::{Executor, OvsdbExecutor, Recorder};
pub use switch::judge_interface;
use switch::{check_interfaces, wait_for_switch};
pub use transaction::{guard_op, transaction};

use crate::ovsdb::{self, Op, OvsdbError};
use crate::plan::{Counts, Guard, HostPlan};
use serde_json::Value as Json;
use std::time::Duration;

/// How long apply waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplyOptions {
    /// How long ovs-vswitchd may take to reach the new configuration (`cur_cfg`).
    pub cfg_timeout: Duration,
    /// Timeout of connecting and of every single OVSDB request.
    pub request_timeout: Duration,
}

impl Default for ApplyOptions {
    fn default() -> ApplyOptions {
        ApplyOptions {
            cfg_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// What apply did on one host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyReport {
    /// Host name.
    pub host: String,
    /// OVSDB endpoint used.
    pub endpoint: String,
    /// Rows created, updated and deleted.
    pub counts: Counts,
    /// Operations in the transaction (0 when the plan had no changes).
    pub operations: usize,
    /// The `next_cfg` ovs-vswitchd reached (None when nothing was committed).
    pub cfg: Option<i64>,
    /// Created or changed interfaces with the OpenFlow port the switch gave them.
    pub interfaces: Vec<(String, Option<i64>)>,
}

/// An interface ovs-vswitchd could not set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceFailure {
    /// Interface name.
    pub name: String,
    /// `ofport` (-1 on failure, None when absent).
    pub ofport: Option<i64>,
    /// OVS's error text.
    pub error: String,
}

/// Why apply failed on one host. Every variant names the host.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The plan has conflicts or preflight failures; nothing is sent.
    #[error("`{host}`: the plan is blocked ({conflicts} conflicts, {preflight} preflight failures); nothing was applied\nhelp: resolve them and plan again")]
    Blocked {
        /// Host.
        host: String,
        /// Number of conflicts.
        conflicts: usize,
        /// Number of preflight failures.
        preflight: usize,
    },
    /// The plan is inconsistent (a bug in whoever built it); nothing is sent.
    #[error("`{host}`: bug: the plan cannot be turned into a transaction: {detail}")]
    Bug {
        /// Host.
        host: String,
        /// What is inconsistent.
        detail: String,
    },
    /// A `wait` guard failed: the host changed since the plan was made; nothing was applied.
    #[error("`{host}` (`{endpoint}`): the host changed since the plan was made ({what}); nothing was applied\nhelp: plan again")]
    Stale {
        /// Host.
        host: String,
        /// Endpoint.
        endpoint: String,
        /// The row that changed, in words.
        what: String,
    },
    /// Talking to OVSDB failed.
    #[error("`{host}`: {error}")]
    Ovsdb {
        /// Host.
        host: String,
        /// The OVSDB error (names the endpoint). Part of the message, not a `source()`,
        /// so a printed chain says it once.
        error: Box<OvsdbError>,
    },
    /// The transaction was committed but ovs-vswitchd did not reach it in time.
    #[error("`{host}` (`{endpoint}`): ovs-vswitchd did not catch up within {timeout:?} (cur_cfg {reached}, waiting for {target}); the database holds the change but the switch has not applied it\nhelp: check that ovs-vswitchd is running on `{host}`")]
    SwitchTimeout {
        /// Host.
        host: String,
        /// Endpoint.
        endpoint: String,
        /// `next_cfg` after the commit.
        target: i64,
        /// Last `cur_cfg` seen.
        reached: i64,
        /// The timeout.
        timeout: Duration,
    },
    /// ovs-vswitchd took the configuration but could not open the bridge on the datapath
    /// asked for (it wrote no `datapath_id`); on a changed datapath it keeps running
    /// nothing, though the old ofports stay in the database.
    #[error("`{host}` (`{endpoint}`): ovs-vswitchd could not open bridge `{bridge}` on datapath `{datapath}` (it wrote no datapath_id)\nhelp: check that `{host}` supports the `{datapath}` datapath (for `system`: the openvswitch kernel module) and see the ovs-vswitchd log")]
    Datapath {
        /// Host.
        host: String,
        /// Endpoint.
        endpoint: String,
        /// The bridge.
        bridge: String,
        /// The datapath asked for.
        datapath: String,
    },
    /// ovs-vswitchd could not set up some interfaces.
    #[error("`{host}` (`{endpoint}`): ovs-vswitchd could not set up {}", describe_failures(.failures))]
    Interfaces {
        /// Host.
        host: String,
        /// Endpoint.
        endpoint: String,
        /// Each failed interface.
        failures: Vec<InterfaceFailure>,
    },
}

fn describe_failures(failures: &[InterfaceFailure]) -> String {
    let parts: Vec<String> = failures
        .iter()
        .map(|f| match f.ofport {
            Some(p) => format!("interface `{}` (ofport {p}): {}", f.name, f.error),
            None => format!("interface `{}`: {}", f.name, f.error),
        })
        .collect();
    parts.join("; ")
}

/// Applies `plan` to the OVSDB at `endpoint`: refuses a blocked plan, commits one
/// transaction, waits for ovs-vswitchd and checks the interfaces.
pub fn apply_host(
    plan: &HostPlan,
    endpoint: &str,
    options: &ApplyOptions,
) -> Result<ApplyReport, ApplyError> {
    check_not_blocked(plan)?;
    if plan.changes.is_empty() {
        return Ok(empty_report(plan, endpoint));
    }
    let mut exec = OvsdbExecutor::connect(endpoint, options.request_timeout).map_err(|source| {
        ApplyError::Ovsdb {
            host: plan.host.clone(),
            error: Box::new(source),
        }
    })?;
    apply(plan, &mut exec, options)
}

/// Applies `plan` through any executor (see [`apply_host`]).
pub fn apply(
    plan: &HostPlan,
    exec: &mut dyn Executor,
    options: &ApplyOptions,
) -> Result<ApplyReport, ApplyError> {
    check_not_blocked(plan)?;
    let endpoint = exec.endpoint().to_string();
    if plan.changes.is_empty() {
        return Ok(empty_report(plan, &endpoint));
    }
    let txn = transaction(plan)?;
    let committed = ovsdb::commit(&txn, |ops| exec.transact(ops))
        .map_err(|e| commit_error(plan, &endpoint, e))?;
    let target = committed
        .cfg
        .ok_or_else(|| bug(plan, "the commit did not return next_cfg"))?;
    wait_for_switch(plan, exec, target, options.cfg_timeout)?;
    let interfaces = check_interfaces(plan, exec)?;
    Ok(ApplyReport {
        host: plan.host.clone(),
        endpoint,
        counts: plan.counts(),
        operations: txn.ops().len(),
        cfg: Some(target),
        interfaces,
    })
}

/// Waits, within `options.cfg_timeout`, until ovs-vswitchd has taken everything the
/// database already holds (`cur_cfg` reaches `next_cfg`), changing nothing. An empty plan
/// proves the database is right; this proves the switch took it, so an apply retried
/// after a switch timeout does not report success over a switch that never caught up.
pub fn settle_host(
    plan: &HostPlan,
    endpoint: &str,
    options: &ApplyOptions,
) -> Result<(), ApplyError> {
    let mut exec = OvsdbExecutor::connect(endpoint, options.request_timeout).map_err(|source| {
        ApplyError::Ovsdb {
            host: plan.host.clone(),
            error: Box::new(source),
        }
    })?;
    settle(plan, &mut exec, options)
}

/// [`settle_host`] through any executor.
pub fn settle(
    plan: &HostPlan,
    exec: &mut dyn Executor,
    options: &ApplyOptions,
) -> Result<(), ApplyError> {
    let query = [Op::Select {
        table: "Open_vSwitch".into(),
        conditions: Vec::new(),
        columns: Some(vec!["next_cfg".into()]),
    }];
    let results = exec.transact(&query).map_err(|source| ApplyError::Ovsdb {
        host: plan.host.clone(),
        error: Box::new(source),
    })?;
    let target = results
        .first()
        .and_then(|r| ovsdb::rows(r).first())
        .and_then(|row| row.get("next_cfg"))
        .and_then(Json::as_i64)
        .unwrap_or(0);
    wait_for_switch(plan, exec, target, options.cfg_timeout)
}

pub(crate) fn check_not_blocked(plan: &HostPlan) -> Result<(), ApplyError> {
    if plan.is_blocked() {
        return Err(ApplyError::Blocked {
            host: plan.host.clone(),
            conflicts: plan.conflicts.len(),
            preflight: plan.preflight.len(),
        });
    }
    Ok(())
}

pub(crate) fn empty_report(plan: &HostPlan, endpoint: &str) -> ApplyReport {
    ApplyReport {
        host: plan.host.clone(),
        endpoint: endpoint.to_string(),
        counts: Counts::default(),
        operations: 0,
        cfg: None,
        interfaces: Vec::new(),
    }
}

pub(super) fn bug(plan: &HostPlan, detail: impl Into<String>) -> ApplyError {
    ApplyError::Bug {
        host: plan.host.clone(),
        detail: detail.into(),
    }
}

/// Turns a failed commit into `Stale` when a guard failed, else `Ovsdb`.
fn commit_error(plan: &HostPlan, endpoint: &str, error: OvsdbError) -> ApplyError {
    if let OvsdbError::Operation { index, op, .. } = &error {
        if *op == "wait" {
            if let Some(guard) = plan.guards.get(*index) {
                return ApplyError::Stale {
                    host: plan.host.clone(),
                    endpoint: endpoint.to_string(),
                    what: describe_guard(plan, guard),
                };
            }
        }
    }
    ApplyError::Ovsdb {
        host: plan.host.clone(),
        error: Box::new(error),
    }
}

fn describe_guard(plan: &HostPlan, guard: &Guard) -> String {
    match guard {
        Guard::Absent { kind, name } => format!("{} `{name}` now exists", kind.word()),
        Guard::Unchanged { kind, uuid, .. } => {
            let name = plan.changes.iter().find_map(|c| {
                if c.uuid.as_deref() == Some(uuid) && c.kind == *kind {
                    Some(c.name.clone())
                } else if c.parent_uuid.as_deref() == Some(uuid) {
                    c.parent.clone()
                } else {
                    None
                }
            });
            match name {
                Some(name) => format!("{} `{name}` was modified or removed", kind.word()),
                None => format!("{} {uuid} was modified or removed", kind.word()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::switch::*;
    use super::transaction::*;
    use super::*;
    use crate::plan::{Action, AttrChange, Change, Guard};
    use crate::state::{Kind, Value};
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn ovsdb_error_chain_repeated_the_ovsdb_message() {
        let err = ApplyError::Ovsdb {
            host: "host-c".into(),
            error: Box::new(OvsdbError::Connect {
                endpoint: "unix:/nowhere/db.sock".into(),
                cause: std::io::Error::from(std::io::ErrorKind::NotFound),
            }),
        };
        let chain = format!("{:#}", anyhow::Error::new(err));
        assert_eq!(
            chain,
            "`host-c`: cannot connect to OVSDB at `unix:/nowhere/db.sock`: entity not found"
        );
    }

    fn change(action: Action, kind: Kind, name: &str, parent: Option<&str>) -> Change {
        Change {
            action,
            kind,
            name: name.into(),
            parent: parent.map(str::to_string),
            uuid: None,
            parent_uuid: None,
            attrs: Vec::new(),
        }
    }

    fn attr(key: &'static str, old: Option<Value>, new: Option<Value>) -> AttrChange {
        AttrChange {
            key: key.into(),
            old,
            new,
        }
    }

    fn plan(changes: Vec<Change>, guards: Vec<Guard>) -> HostPlan {
        HostPlan {
            host: "host-a".into(),
            changes,
            guards,
            ..HostPlan::default()
        }
    }

    fn json_ops(ops: &[Op]) -> Vec<Json> {
        ops.iter().map(Op::to_json).collect()
    }

    #[test]
    fn a_new_bridge_is_inserted_children_first_and_linked_to_the_root() {
        let mut br = change(Action::Create, Kind::Bridge, "br0", None);
        br.attrs.push(attr(
            "datapath_type",
            None,
            Some(Value::Str("netdev".into())),
        ));
        let port = change(Action::Create, Kind::Port, "p0", Some("br0"));
        let mut iface = change(Action::Create, Kind::Interface, "p0", Some("p0"));
        iface.attrs.push(attr(
            "options:remote_ip",
            None,
            Some(Value::Str("198.18.0.2".into())),
        ));
        let guards = vec![Guard::Absent {
            kind: Kind::Bridge,
            name: "br0".into(),
        }];
        let ops = transaction(&plan(vec![br, port, iface], guards))
            .expect("valid plan")
            .into_ops();
        assert_eq!(
            json_ops(&ops),
            vec![
                json!({"op": "wait", "table": "Bridge", "where": [["name", "==", "br0"]],
                       "columns": ["name"], "until": "==", "rows": [], "timeout": 0}),
                json!({"op": "insert", "table": "Interface", "uuid-name": "new2",
                       "row": {"name": "p0", "options": ["map", [["remote_ip", "198.18.0.2"]]]}}),
                json!({"op": "insert", "table": "Port", "uuid-name": "new1",
                       "row": {"name": "p0", "interfaces": ["named-uuid", "new2"]}}),
                json!({"op": "insert", "table": "Bridge", "uuid-name": "new0",
                       "row": {"name": "br0", "datapath_type": "netdev", "ports": ["named-uuid", "new1"]}}),
                json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
                       "mutations": [["bridges", "insert", ["named-uuid", "new0"]]]}),
                json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
                       "mutations": [["next_cfg", "+=", 1]]}),
                json!({"op": "select", "table": "Open_vSwitch", "where": [], "columns": ["next_cfg"]}),
            ]
        );
    }

    #[test]
    fn updates_set_columns_and_mutate_map_entries() {
        let mut port = change(Action::Update, Kind::Port, "p0", Some("br0"));
        port.uuid = Some("u-port".into());
        port.attrs.push(attr("tag", Some(Value::Int(5)), None));
        port.attrs
            .push(attr("trunks", None, Some(Value::IntSet(vec![10, 20]))));
        let mut iface = change(Action::Update, Kind::Interface, "p0", Some("p0"));
        iface.uuid = Some("u-if".into());
        iface
            .attrs
            .push(attr("options:key", Some(Value::Str("1".into())), None));
        iface.attrs.push(attr(
            "options:remote_ip",
            Some(Value::Str("a".into())),
            Some(Value::Str("b".into())),
        ));
        iface
            .attrs
            .push(attr("options:dst_port", None, Some(Value::Int(4790))));
        let ops = transaction(&plan(vec![port, iface], vec![]))
            .expect("valid plan")
            .into_ops();
        assert_eq!(
            json_ops(&ops[..2]),
            vec![
                json!({"op": "update", "table": "Port", "where": [["_uuid", "==", ["uuid", "u-port"]]],
                       "row": {"tag": ["set", []], "trunks": ["set", [10, 20]]}}),
                json!({"op": "mutate", "table": "Interface", "where": [["_uuid", "==", ["uuid", "u-if"]]],
                       "mutations": [["options", "delete", ["set", ["key", "remote_ip"]]],
                                     ["options", "insert", ["map", [["remote_ip", "b"], ["dst_port", "4790"]]]]]}),
            ]
        );
    }

    #[test]
    fn deletes_drop_references_and_skip_children_of_deleted_rows() {
        let mut br = change(Action::Delete, Kind::Bridge, "br0", None);
        br.uuid = Some("u-br".into());
        let mut port = change(Action::Delete, Kind::Port, "p0", Some("br0"));
        port.uuid = Some("u-p0".into());
        port.parent_uuid = Some("u-br".into());
        let mut other = change(Action::Delete, Kind::Port, "p1", Some("br1"));
        other.uuid = Some("u-p1".into());
        other.parent_uuid = Some("u-br1".into());
        let ops = transaction(&plan(vec![port, other, br], vec![]))
            .expect("valid plan")
            .into_ops();
        assert_eq!(
            json_ops(&ops[..2]),
            vec![
                json!({"op": "mutate", "table": "Bridge", "where": [["_uuid", "==", ["uuid", "u-br1"]]],
                       "mutations": [["ports", "delete", ["uuid", "u-p1"]]]}),
                json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
                       "mutations": [["bridges", "delete", ["uuid", "u-br"]]]}),
            ]
        );
        assert_eq!(ops.len(), 4);
    }

    #[test]
    fn unchanged_guard_compares_whole_maps_and_the_reference_column() {
        let attrs = BTreeMap::from([
            (
                "external_ids:ovsnet-cluster".into(),
                Value::Str("demo".into()),
            ),
            ("external_ids:owner".into(), Value::Str("ops".into())),
            ("protected".into(), Value::Bool(true)),
        ]);
        let guard = Guard::Unchanged {
            kind: Kind::Port,
            uuid: "u-p".into(),
            attrs,
            children: vec!["u-i1".into(), "u-i2".into()],
        };
        assert_eq!(
            guard_op(&guard).to_json(),
            json!({"op": "wait", "table": "Port", "where": [["_uuid", "==", ["uuid", "u-p"]]],
                   "columns": ["external_ids", "interfaces", "protected"], "until": "==",
                   "rows": [{"external_ids": ["map", [["ovsnet-cluster", "demo"], ["owner", "ops"]]],
                             "interfaces": ["set", [["uuid", "u-i1"], ["uuid", "u-i2"]]],
                             "protected": true}],
                   "timeout": 0})
        );
    }

    #[test]
    fn inconsistent_plans_are_bugs_not_panics() {
        let orphan = change(Action::Create, Kind::Port, "p0", Some("br-missing"));
        let mut iface = change(Action::Create, Kind::Interface, "p0", Some("p0"));
        iface.parent = Some("p0".into());
        let err = transaction(&plan(vec![orphan, iface], vec![])).expect_err("no parent");
        assert!(err.to_string().contains("create port `p0`"), "{err}");
        let lonely = change(Action::Create, Kind::Port, "p1", Some("br0"));
        let mut br = change(Action::Create, Kind::Bridge, "br0", None);
        br.attrs.clear();
        let err = transaction(&plan(vec![br, lonely], vec![])).expect_err("no interface");
        assert!(matches!(err, ApplyError::Bug { .. }), "{err:?}");
        let mut update = change(Action::Update, Kind::Port, "p2", Some("br0"));
        update.attrs.push(attr("tag", None, Some(Value::Int(1))));
        assert!(transaction(&plan(vec![update], vec![])).is_err());
    }

    #[test]
    fn the_recorder_sees_commit_then_polls_then_interface_checks() {
        let br = change(Action::Create, Kind::Bridge, "br0", None);
        let port = change(Action::Create, Kind::Port, "br0", Some("br0"));
        let iface = change(Action::Create, Kind::Interface, "br0", Some("br0"));
        let mut recorder = Recorder::default();
        let report = apply(
            &plan(vec![br, port, iface], vec![]),
            &mut recorder,
            &ApplyOptions::default(),
        )
        .expect("applies");
        assert_eq!(report.cfg, Some(1));
        assert_eq!(report.interfaces, vec![("br0".to_string(), Some(1))]);
        assert_eq!(recorder.transactions.len(), 3);
        assert_eq!(recorder.transactions[1][0].table(), "Open_vSwitch");
        assert_eq!(recorder.transactions[2][0].table(), "Interface");
    }

    #[test]
    fn an_interface_the_switch_never_opened_passed_the_check() {
        let never_opened = json!({"rows": [{"ofport": ["set", []], "error": ["set", []]}]});
        let failure = judge_interface("vx-host-b", &never_opened).expect_err("no ofport");
        assert_eq!(failure.ofport, None);
        assert!(failure.error.contains("no OpenFlow port"), "{failure:?}");
        let opened = json!({"rows": [{"ofport": 3, "error": ["set", []]}]});
        assert_eq!(judge_interface("vx-host-b", &opened), Ok(Some(3)));
    }

    fn datapath_move() -> HostPlan {
        let mut br = change(Action::Update, Kind::Bridge, "br0", None);
        br.uuid = Some("u-br0".into());
        br.attrs.push(attr(
            "datapath_type",
            Some(Value::Str("netdev".into())),
            Some(Value::Str("system".into())),
        ));
        plan(vec![br], vec![])
    }

    #[test]
    fn moving_a_bridge_to_another_datapath_clears_its_datapath_id() {
        let ops = transaction(&datapath_move()).expect("valid").into_ops();
        assert_eq!(
            ops[0].to_json(),
            json!({"op": "update", "table": "Bridge", "where": [["_uuid", "==", ["uuid", "u-br0"]]],
                   "row": {"datapath_id": ["set", []], "datapath_type": "system"}})
        );
    }

    /// A switch that takes every configuration but opens no bridge (no `datapath_id`).
    struct NoDatapath(Recorder);

    impl Executor for NoDatapath {
        fn endpoint(&self) -> &str {
            "no-datapath"
        }

        fn transact(&mut self, ops: &[Op]) -> Result<Vec<Json>, OvsdbError> {
            let mut answers = self.0.transact(ops)?;
            for (op, answer) in ops.iter().zip(answers.iter_mut()) {
                if op.table() == "Bridge" && matches!(op, Op::Select { .. }) {
                    *answer = json!({"rows": [{"datapath_id": ["set", []]}]});
                }
            }
            Ok(answers)
        }
    }

    #[test]
    fn a_bridge_the_switch_did_not_reopen_on_its_new_datapath_fails() {
        let mut switch = NoDatapath(Recorder::default());
        let err = apply(&datapath_move(), &mut switch, &ApplyOptions::default())
            .expect_err("the switch opened nothing");
        assert!(
            matches!(&err, ApplyError::Datapath { bridge, datapath, .. }
                if bridge == "br0" && datapath == "system"),
            "{err:?}"
        );
        assert!(err
            .to_string()
            .contains("could not open bridge `br0` on datapath `system`"));
        let mut fine = Recorder::default();
        apply(&datapath_move(), &mut fine, &ApplyOptions::default()).expect("reopened");
        assert_eq!(fine.transactions[2][0].table(), "Bridge", "the check ran");
    }

    /// A switch whose `cur_cfg` stays behind `next_cfg`.
    struct Lagging;

    impl Executor for Lagging {
        fn endpoint(&self) -> &str {
            "lagging"
        }

        fn transact(&mut self, _ops: &[Op]) -> Result<Vec<Json>, OvsdbError> {
            Ok(vec![json!({"rows": [{"next_cfg": 2, "cur_cfg": 1}]})])
        }
    }

    #[test]
    fn settle_waits_for_the_switch_and_times_out_naming_the_host() {
        let idle = plan(vec![], vec![]);
        let mut recorder = Recorder::default();
        settle(&idle, &mut recorder, &ApplyOptions::default()).expect("caught up");
        assert_eq!(recorder.transactions.len(), 2, "read next_cfg, then poll");
        let options = ApplyOptions {
            cfg_timeout: Duration::ZERO,
            ..ApplyOptions::default()
        };
        let err = settle(&idle, &mut Lagging, &options).expect_err("never catches up");
        assert!(
            matches!(
                err,
                ApplyError::SwitchTimeout {
                    reached: 1,
                    target: 2,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn blocked_plans_send_nothing() {
        let mut blocked = plan(
            vec![change(Action::Create, Kind::Bridge, "br0", None)],
            vec![],
        );
        blocked.preflight.push(crate::plan::Preflight {
            requirement: "datapath_type".into(),
            wanted: "netdev".into(),
            offered: "system".into(),
        });
        let mut recorder = Recorder::default();
        let err = apply(&blocked, &mut recorder, &ApplyOptions::default()).expect_err("blocked");
        assert!(matches!(err, ApplyError::Blocked { preflight: 1, .. }));
        assert!(recorder.transactions.is_empty());
    }
}
