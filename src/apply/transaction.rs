//! Building the one transaction of a host's plan (pure): guards, inserts with named
//! uuids, updates and map mutations, links to existing parents, reference drops for
//! deletes, and the `next_cfg` bump.

use crate::ovsdb::txn::{self, Txn};
use crate::ovsdb::{Atom, Condition, Datum, Mutation, Op, RowData};
use crate::plan::{Action, AttrChange, Change, Guard, HostPlan};
use crate::state::{self, ColumnType, Key, Kind, Value};
use std::collections::{BTreeMap, BTreeSet};

use super::{bug, ApplyError};

/// The bridge column that selects the datapath.
pub(super) const DATAPATH_TYPE: &str = "datapath_type";
/// The bridge column ovs-vswitchd fills in once it opened the bridge on its datapath.
pub(super) const DATAPATH_ID: &str = "datapath_id";

/// The whole transaction for `plan`: guards, changes, then the `next_cfg` bump and select.
pub fn transaction(plan: &HostPlan) -> Result<Txn, ApplyError> {
    let mut txn = Txn::new();
    for guard in &plan.guards {
        txn.push(guard_op(guard));
    }
    let builder = Builder::new(plan);
    builder.inserts(&mut txn)?;
    for change in &plan.changes {
        match change.action {
            Action::Create => builder.link(change, &mut txn)?,
            Action::Update => builder.update(change, &mut txn)?,
            Action::Delete => builder.delete(change, &mut txn)?,
        }
    }
    txn.bump_cfg();
    Ok(txn)
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
        Guard::Absent { kind, name } => txn::wait_rows(
            kind.table(),
            vec![Condition::name(name)],
            vec!["name".into()],
            true,
            Vec::new(),
        ),
        Guard::Unchanged {
            kind,
            uuid,
            attrs,
            children,
        } => {
            let mut row = RowData::new();
            let mut maps: BTreeMap<&str, Vec<(Atom, Atom)>> = BTreeMap::new();
            for (key, value) in attrs {
                match Key::parse(key) {
                    Key::Entry { column, key: entry } => maps
                        .entry(column)
                        .or_default()
                        .push((Atom::Str(entry.into()), Atom::Str(map_text(value)))),
                    Key::Column(_) => {
                        row.insert(key.to_string(), column_datum(value));
                    }
                }
            }
            for (column, pairs) in maps {
                row.insert(column.to_string(), Datum::Map(pairs));
            }
            if let (Some(column), false) = (child_column(*kind), children.is_empty()) {
                row.insert(column.into(), Datum::uuids(children.iter().cloned()));
            }
            let columns = row.keys().cloned().collect();
            txn::wait_rows(
                kind.table(),
                vec![Condition::uuid(uuid)],
                columns,
                true,
                vec![row],
            )
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

/// What an absent managed column is written as, by its type in [`state::columns`].
fn empty_column(kind: Kind, column: &str) -> Datum {
    match state::column_spec(kind, column).map(|c| c.ty) {
        Some(ColumnType::Str) => Datum::atom(Atom::Str(String::new())),
        Some(ColumnType::Bool) => Datum::atom(Atom::Bool(false)),
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
    fn inserts(&self, txn: &mut Txn) -> Result<(), ApplyError> {
        for kind in [Kind::Interface, Kind::Port, Kind::Bridge] {
            for change in self.plan.changes.iter().filter(|c| c.kind == kind) {
                if change.action == Action::Create {
                    txn.push(self.insert(change)?);
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
            match Key::parse(&attr.key) {
                Key::Entry { column, key: entry } => maps
                    .entry(column)
                    .or_default()
                    .push((Atom::Str(entry.into()), Atom::Str(map_text(value)))),
                Key::Column(_) => {
                    row.insert(attr.key.to_string(), column_datum(value));
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
    fn link(&self, change: &Change, txn: &mut Txn) -> Result<(), ApplyError> {
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
                let column = child_column(parent_kind)
                    .ok_or_else(|| self.bug(change, "its parent kind holds no children"))?;
                (parent_kind.table(), vec![Condition::uuid(uuid)], column)
            }
        };
        txn.mutate(table, conditions, Mutation::new(column, "insert", me));
        Ok(())
    }

    /// `update` for whole columns, `mutate` (delete keys, insert entries) for map entries.
    fn update(&self, change: &Change, txn: &mut Txn) -> Result<(), ApplyError> {
        let uuid = change
            .uuid
            .as_deref()
            .ok_or_else(|| self.bug(change, "no uuid"))?;
        let mut row = RowData::new();
        let mut entries: BTreeMap<&str, Vec<&AttrChange>> = BTreeMap::new();
        for attr in &change.attrs {
            match Key::parse(&attr.key) {
                Key::Entry { column, .. } => entries.entry(column).or_default().push(attr),
                Key::Column(_) => {
                    let datum = match &attr.new {
                        Some(value) => column_datum(value),
                        None => empty_column(change.kind, &attr.key),
                    };
                    row.insert(attr.key.to_string(), datum);
                }
            }
        }
        if change.kind == Kind::Bridge && change.attrs.iter().any(|a| a.key == DATAPATH_TYPE) {
            // ovs-vswitchd writes `datapath_id` in the same transaction that moves
            // `cur_cfg`, but only for a bridge it could open; a bridge it could not open on
            // the new datapath keeps every old runtime column (ofports too). Clearing it
            // here makes that failure visible to the check after the commit.
            row.insert(DATAPATH_ID.into(), Datum::empty());
        }
        if !row.is_empty() {
            txn.update(change.kind.table(), vec![Condition::uuid(uuid)], row);
        }
        for (column, attrs) in entries {
            txn.push(Op::Mutate {
                table: change.kind.table().into(),
                conditions: vec![Condition::uuid(uuid)],
                mutations: map_mutations(column, &attrs),
            });
        }
        Ok(())
    }

    /// Drops the reference that keeps a deleted row alive.
    fn delete(&self, change: &Change, txn: &mut Txn) -> Result<(), ApplyError> {
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
        txn.mutate(
            table,
            conditions,
            Mutation::new(column, "delete", Datum::uuids([uuid])),
        );
        Ok(())
    }
}

/// Deletes the keys that change or go away, then inserts the new entries.
fn map_mutations(column: &str, attrs: &[&AttrChange]) -> Vec<Mutation> {
    let entry = |a: &AttrChange| match Key::parse(&a.key) {
        Key::Entry { key, .. } => key.to_string(),
        Key::Column(_) => String::new(),
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
