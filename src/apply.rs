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
//! Verification (observe again, plan again, expect nothing) is the caller's job:
//! `observe` and `plan::build` compose with this module; it never re-plans itself.

use crate::ovsdb::{self, Atom, Client, Condition, Datum, Mutation, Op, OvsdbError, RowData, DB};
use crate::plan::{Action, AttrChange, Change, Counts, Guard, HostPlan};
use crate::state::{Kind, Value};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

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

/// The seam between apply and a switch: runs one transaction and returns each result.
pub trait Executor {
    /// The endpoint, for messages.
    fn endpoint(&self) -> &str;
    /// Runs `ops` as one transaction on the Open_vSwitch database.
    fn transact(&mut self, ops: &[Op]) -> Result<Vec<Json>, OvsdbError>;
}

/// The real executor: an OVSDB connection.
#[derive(Debug)]
pub struct OvsdbExecutor {
    client: Client,
}

impl OvsdbExecutor {
    /// Connects to `endpoint`; `timeout` bounds the connect and every request.
    pub fn connect(endpoint: &str, timeout: Duration) -> Result<OvsdbExecutor, OvsdbError> {
        Ok(OvsdbExecutor {
            client: Client::connect(endpoint, timeout)?,
        })
    }
}

impl Executor for OvsdbExecutor {
    fn endpoint(&self) -> &str {
        self.client.endpoint()
    }

    fn transact(&mut self, ops: &[Op]) -> Result<Vec<Json>, OvsdbError> {
        self.client.transact(DB, ops)
    }
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
    let ops = transaction(plan)?;
    let results = exec
        .transact(&ops)
        .map_err(|e| commit_error(plan, &endpoint, e))?;
    let target = results
        .last()
        .and_then(|r| ovsdb::rows(r).first())
        .and_then(|row| row.get("next_cfg"))
        .and_then(Json::as_i64)
        .ok_or_else(|| bug(plan, "the commit did not return next_cfg"))?;
    wait_for_switch(plan, exec, target, options.cfg_timeout)?;
    let interfaces = check_interfaces(plan, exec)?;
    Ok(ApplyReport {
        host: plan.host.clone(),
        endpoint,
        counts: plan.counts(),
        operations: ops.len(),
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

fn check_not_blocked(plan: &HostPlan) -> Result<(), ApplyError> {
    if plan.is_blocked() {
        return Err(ApplyError::Blocked {
            host: plan.host.clone(),
            conflicts: plan.conflicts.len(),
            preflight: plan.preflight.len(),
        });
    }
    Ok(())
}

fn empty_report(plan: &HostPlan, endpoint: &str) -> ApplyReport {
    ApplyReport {
        host: plan.host.clone(),
        endpoint: endpoint.to_string(),
        counts: Counts::default(),
        operations: 0,
        cfg: None,
        interfaces: Vec::new(),
    }
}

fn bug(plan: &HostPlan, detail: impl Into<String>) -> ApplyError {
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

/// Polls `cur_cfg` until it reaches `target` or `timeout` passes.
fn wait_for_switch(
    plan: &HostPlan,
    exec: &mut dyn Executor,
    target: i64,
    timeout: Duration,
) -> Result<(), ApplyError> {
    let start = Instant::now();
    // ovs-vswitchd usually catches up within a few milliseconds: poll soon, then back
    // off to a steady pace so a slow switch is not hammered.
    let mut pause = Duration::from_millis(1);
    let query = [Op::Select {
        table: "Open_vSwitch".into(),
        conditions: Vec::new(),
        columns: Some(vec!["cur_cfg".into()]),
    }];
    loop {
        let results = exec.transact(&query).map_err(|source| ApplyError::Ovsdb {
            host: plan.host.clone(),
            error: Box::new(source),
        })?;
        let reached = results
            .first()
            .and_then(|r| ovsdb::rows(r).first())
            .and_then(|row| row.get("cur_cfg"))
            .and_then(Json::as_i64)
            .unwrap_or(0);
        if reached >= target {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(ApplyError::SwitchTimeout {
                host: plan.host.clone(),
                endpoint: exec.endpoint().to_string(),
                target,
                reached,
                timeout,
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(25));
    }
}

/// Reads `ofport` and `error` of every created or updated interface.
fn check_interfaces(
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
fn judge_interface(name: &str, result: &Json) -> Result<Option<i64>, InterfaceFailure> {
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

/// The whole transaction for `plan`: guards, changes, then the `next_cfg` bump and select.
pub fn transaction(plan: &HostPlan) -> Result<Vec<Op>, ApplyError> {
    let mut ops: Vec<Op> = plan.guards.iter().map(guard_op).collect();
    let builder = Builder::new(plan);
    builder.inserts(&mut ops)?;
    for change in &plan.changes {
        match change.action {
            Action::Create => builder.link(change, &mut ops)?,
            Action::Update => builder.update(change, &mut ops)?,
            Action::Delete => builder.delete(change, &mut ops)?,
        }
    }
    ops.push(Op::Mutate {
        table: "Open_vSwitch".into(),
        conditions: Vec::new(),
        mutations: vec![Mutation::new("next_cfg", "+=", Datum::atom(Atom::Int(1)))],
    });
    ops.push(Op::Select {
        table: "Open_vSwitch".into(),
        conditions: Vec::new(),
        columns: Some(vec!["next_cfg".into()]),
    });
    Ok(ops)
}

/// The `wait` operation for one guard.
///
/// `Unchanged` compares, on the row with that `_uuid`, every column that appears in
/// `attrs`: a plain key is the whole column; `column:key` keys are gathered into the
/// whole map of that column (a map column is compared as a whole, so the guard must
/// hold every entry of it); `children`, when non-empty, is the whole reference column
/// (`Bridge.ports`, `Port.interfaces`). A deleted row fails the guard too (no row
/// selected). `Absent` asserts no row of the table has that name.
pub fn guard_op(guard: &Guard) -> Op {
    match guard {
        Guard::Absent { kind, name } => Op::Wait {
            table: kind.table().into(),
            conditions: vec![Condition::name(name)],
            columns: vec!["name".into()],
            equal: true,
            rows: Vec::new(),
            timeout_ms: 0,
        },
        Guard::Unchanged {
            kind,
            uuid,
            attrs,
            children,
        } => {
            let mut row = RowData::new();
            let mut maps: BTreeMap<&str, Vec<(Atom, Atom)>> = BTreeMap::new();
            for (key, value) in attrs {
                match key.split_once(':') {
                    Some((column, entry)) => maps
                        .entry(column)
                        .or_default()
                        .push((Atom::Str(entry.into()), Atom::Str(map_text(value)))),
                    None => {
                        row.insert(key.clone(), column_datum(value));
                    }
                }
            }
            for (column, pairs) in maps {
                row.insert(column.to_string(), Datum::Map(pairs));
            }
            if let (Some(column), false) = (child_column(*kind), children.is_empty()) {
                row.insert(column.into(), Datum::uuids(children.iter().cloned()));
            }
            Op::Wait {
                table: kind.table().into(),
                conditions: vec![Condition::uuid(uuid)],
                columns: row.keys().cloned().collect(),
                equal: true,
                rows: vec![row],
                timeout_ms: 0,
            }
        }
    }
}

/// The reference column that holds a row's children.
fn child_column(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Bridge => Some("ports"),
        Kind::Port => Some("interfaces"),
        Kind::Interface => None,
    }
}

/// A whole-column value.
fn column_datum(value: &Value) -> Datum {
    match value {
        Value::Bool(b) => Datum::atom(Atom::Bool(*b)),
        Value::Int(i) => Datum::atom(Atom::Int(*i)),
        Value::Str(s) => Datum::atom(Atom::Str(s.clone())),
        Value::IntSet(items) => Datum::Set(items.iter().map(|i| Atom::Int(*i)).collect()),
    }
}

/// What an absent managed column is written as.
fn empty_column(kind: Kind, column: &str) -> Datum {
    match (kind, column) {
        (Kind::Bridge, "datapath_type") | (Kind::Interface, "type") => {
            Datum::atom(Atom::Str(String::new()))
        }
        (Kind::Bridge, "rstp_enable") | (Kind::Port, "protected") => Datum::atom(Atom::Bool(false)),
        // Optional columns (tag, trunks, ...): the empty set.
        _ => Datum::empty(),
    }
}

/// A map entry's value as OVSDB's string-to-string maps hold it.
fn map_text(value: &Value) -> String {
    match value {
        Value::Str(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::IntSet(items) => items
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// Builds the change operations, tracking named uuids of inserted rows.
struct Builder<'a> {
    plan: &'a HostPlan,
    /// Named uuid of each created row, by (kind, name).
    named: BTreeMap<(Kind, &'a str), String>,
    /// Uuids of rows the plan deletes (children of deleted rows need no own operation).
    deleted: BTreeSet<&'a str>,
}

impl<'a> Builder<'a> {
    fn new(plan: &'a HostPlan) -> Builder<'a> {
        let mut named = BTreeMap::new();
        let mut deleted = BTreeSet::new();
        for change in &plan.changes {
            match change.action {
                Action::Create => {
                    let id = format!("new{}", named.len());
                    named.insert((change.kind, change.name.as_str()), id);
                }
                Action::Delete => {
                    if let Some(uuid) = &change.uuid {
                        deleted.insert(uuid.as_str());
                    }
                }
                Action::Update => {}
            }
        }
        Builder {
            plan,
            named,
            deleted,
        }
    }

    fn bug(&self, change: &Change, what: &str) -> ApplyError {
        bug(
            self.plan,
            format!(
                "{} {} `{}`: {what}",
                action_word(change.action),
                change.kind.word(),
                change.name
            ),
        )
    }

    /// Inserts for every created row, children first so named uuids are defined before use.
    fn inserts(&self, ops: &mut Vec<Op>) -> Result<(), ApplyError> {
        for kind in [Kind::Interface, Kind::Port, Kind::Bridge] {
            for change in self.plan.changes.iter().filter(|c| c.kind == kind) {
                if change.action == Action::Create {
                    ops.push(self.insert(change)?);
                }
            }
        }
        Ok(())
    }

    fn insert(&self, change: &Change) -> Result<Op, ApplyError> {
        let mut row = RowData::new();
        row.insert("name".into(), Datum::atom(Atom::Str(change.name.clone())));
        let mut maps: BTreeMap<&str, Vec<(Atom, Atom)>> = BTreeMap::new();
        for attr in &change.attrs {
            let Some(value) = &attr.new else { continue };
            match attr.key.split_once(':') {
                Some((column, entry)) => maps
                    .entry(column)
                    .or_default()
                    .push((Atom::Str(entry.into()), Atom::Str(map_text(value)))),
                None => {
                    row.insert(attr.key.clone(), column_datum(value));
                }
            }
        }
        for (column, pairs) in maps {
            row.insert(column.to_string(), Datum::Map(pairs));
        }
        if let Some(column) = child_column(change.kind) {
            let children = self.created_children(change);
            if change.kind == Kind::Port && children.is_empty() {
                return Err(self.bug(change, "a new port needs at least one new interface"));
            }
            row.insert(column.into(), Datum::Set(children));
        }
        Ok(Op::Insert {
            table: change.kind.table().into(),
            row,
            uuid_name: Some(self.named[&(change.kind, change.name.as_str())].clone()),
        })
    }

    /// Named uuids of the rows created under `parent` (ports of a bridge, interfaces of a port).
    fn created_children(&self, parent: &Change) -> Vec<Atom> {
        let child_kind = match parent.kind {
            Kind::Bridge => Kind::Port,
            Kind::Port => Kind::Interface,
            Kind::Interface => return Vec::new(),
        };
        self.plan
            .changes
            .iter()
            .filter(|c| {
                c.action == Action::Create
                    && c.kind == child_kind
                    && c.parent.as_deref() == Some(parent.name.as_str())
            })
            .map(|c| Atom::NamedUuid(self.named[&(c.kind, c.name.as_str())].clone()))
            .collect()
    }

    /// Links a created row to its parent when the parent already exists.
    fn link(&self, change: &Change, ops: &mut Vec<Op>) -> Result<(), ApplyError> {
        let me = Datum::atom(Atom::NamedUuid(
            self.named[&(change.kind, change.name.as_str())].clone(),
        ));
        let (table, conditions, column) = match change.kind {
            Kind::Bridge => ("Open_vSwitch", Vec::new(), "bridges"),
            Kind::Port | Kind::Interface => {
                let parent_kind = if change.kind == Kind::Port {
                    Kind::Bridge
                } else {
                    Kind::Port
                };
                let parent = change
                    .parent
                    .as_deref()
                    .ok_or_else(|| self.bug(change, "no parent named"))?;
                if self.named.contains_key(&(parent_kind, parent)) {
                    return Ok(()); // the parent's insert already references it
                }
                let uuid = change
                    .parent_uuid
                    .as_deref()
                    .ok_or_else(|| self.bug(change, "its parent neither exists nor is created"))?;
                let column = child_column(parent_kind).expect("bridges and ports have children");
                (parent_kind.table(), vec![Condition::uuid(uuid)], column)
            }
        };
        ops.push(Op::Mutate {
            table: table.into(),
            conditions,
            mutations: vec![Mutation::new(column, "insert", me)],
        });
        Ok(())
    }

    /// `update` for whole columns, `mutate` (delete keys, insert entries) for map entries.
    fn update(&self, change: &Change, ops: &mut Vec<Op>) -> Result<(), ApplyError> {
        let uuid = change
            .uuid
            .as_deref()
            .ok_or_else(|| self.bug(change, "no uuid"))?;
        let mut row = RowData::new();
        let mut entries: BTreeMap<&str, Vec<&AttrChange>> = BTreeMap::new();
        for attr in &change.attrs {
            match attr.key.split_once(':') {
                Some((column, _)) => entries.entry(column).or_default().push(attr),
                None => {
                    let datum = match &attr.new {
                        Some(value) => column_datum(value),
                        None => empty_column(change.kind, &attr.key),
                    };
                    row.insert(attr.key.clone(), datum);
                }
            }
        }
        if !row.is_empty() {
            ops.push(Op::Update {
                table: change.kind.table().into(),
                conditions: vec![Condition::uuid(uuid)],
                row,
            });
        }
        for (column, attrs) in entries {
            ops.push(Op::Mutate {
                table: change.kind.table().into(),
                conditions: vec![Condition::uuid(uuid)],
                mutations: map_mutations(column, &attrs),
            });
        }
        Ok(())
    }

    /// Drops the reference that keeps a deleted row alive.
    fn delete(&self, change: &Change, ops: &mut Vec<Op>) -> Result<(), ApplyError> {
        let uuid = change
            .uuid
            .as_deref()
            .ok_or_else(|| self.bug(change, "no uuid"))?;
        let (table, conditions, column) = match change.kind {
            Kind::Bridge => ("Open_vSwitch", Vec::new(), "bridges"),
            Kind::Port | Kind::Interface => {
                let parent = change
                    .parent_uuid
                    .as_deref()
                    .ok_or_else(|| self.bug(change, "no parent uuid"))?;
                if self.deleted.contains(parent) {
                    return Ok(()); // garbage-collected with its parent
                }
                let (table, column) = if change.kind == Kind::Port {
                    ("Bridge", "ports")
                } else {
                    ("Port", "interfaces")
                };
                (table, vec![Condition::uuid(parent)], column)
            }
        };
        ops.push(Op::Mutate {
            table: table.into(),
            conditions,
            mutations: vec![Mutation::new(column, "delete", Datum::uuids([uuid]))],
        });
        Ok(())
    }
}

/// Deletes the keys that change or go away, then inserts the new entries.
fn map_mutations(column: &str, attrs: &[&AttrChange]) -> Vec<Mutation> {
    let entry = |a: &AttrChange| {
        a.key
            .split_once(':')
            .map(|(_, k)| k.to_string())
            .unwrap_or_default()
    };
    let stale: Vec<Atom> = attrs
        .iter()
        .filter(|a| a.old.is_some())
        .map(|a| Atom::Str(entry(a)))
        .collect();
    let fresh: Vec<(Atom, Atom)> = attrs
        .iter()
        .filter_map(|a| {
            a.new
                .as_ref()
                .map(|v| (Atom::Str(entry(a)), Atom::Str(map_text(v))))
        })
        .collect();
    let mut mutations = Vec::new();
    if !stale.is_empty() {
        mutations.push(Mutation::new(column, "delete", Datum::Set(stale)));
    }
    if !fresh.is_empty() {
        mutations.push(Mutation::new(column, "insert", Datum::Map(fresh)));
    }
    mutations
}

fn action_word(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
    }
}

/// An executor that records every transaction and answers like a switch that applies
/// everything at once: for tests of apply's logic without OVS.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Every transaction received, in order.
    pub transactions: Vec<Vec<Op>>,
}

impl Executor for Recorder {
    fn endpoint(&self) -> &str {
        "recorder"
    }

    fn transact(&mut self, ops: &[Op]) -> Result<Vec<Json>, OvsdbError> {
        self.transactions.push(ops.to_vec());
        Ok(ops.iter().map(recorded_answer).collect())
    }
}

fn recorded_answer(op: &Op) -> Json {
    match op {
        Op::Insert { .. } => json!({"uuid": ["uuid", "00000000-0000-0000-0000-000000000000"]}),
        Op::Select { table, .. } if table == "Open_vSwitch" => {
            json!({"rows": [{"next_cfg": 1, "cur_cfg": 1}]})
        }
        Op::Select { table, .. } if table == "Interface" => {
            json!({"rows": [{"ofport": 1, "error": ["set", []]}]})
        }
        Op::Select { .. } => json!({"rows": []}),
        Op::Update { .. } | Op::Mutate { .. } => json!({"count": 1}),
        Op::Wait { .. } => json!({}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn attr(key: &str, old: Option<Value>, new: Option<Value>) -> AttrChange {
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
        let ops = transaction(&plan(vec![br, port, iface], guards)).expect("valid plan");
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
        let ops = transaction(&plan(vec![port, iface], vec![])).expect("valid plan");
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
        let ops = transaction(&plan(vec![port, other, br], vec![])).expect("valid plan");
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
                "external_ids:ovsnet-cluster".to_string(),
                Value::Str("demo".into()),
            ),
            ("external_ids:owner".to_string(), Value::Str("ops".into())),
            ("protected".to_string(), Value::Bool(true)),
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
