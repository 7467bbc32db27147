//! The one OVSDB transaction builder: apply's plan transactions, the lab's plumbing and
//! `attach` all assemble their operations here, so there is one writer of the protocol.
//!
//! A [`Txn`] is a list of operations plus the bookkeeping they share: `wait` guards
//! (each remembered by its index, so a failure can be named), inserts with named uuids,
//! the Port-with-one-Interface shape every port ovsnet makes has, and the closing
//! `next_cfg += 1` with the `select` that tells which configuration to wait for.
//! [`commit`] runs it through any `transact` function and returns that number.
//! Pure apart from [`commit`]'s call: building does no I/O.

use super::{rows, Atom, Condition, Datum, Mutation, Op, RowData};
use serde_json::Value as Json;

/// The root table.
pub const ROOT: &str = "Open_vSwitch";

/// Operations being assembled for one transaction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Txn {
    ops: Vec<Op>,
    named: usize,
    bumps_cfg: bool,
}

impl Txn {
    /// An empty transaction.
    pub fn new() -> Txn {
        Txn::default()
    }

    /// The operations so far.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The operations, consumed.
    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }

    /// Appends any operation; returns its index.
    pub fn push(&mut self, op: Op) -> usize {
        self.ops.push(op);
        self.ops.len() - 1
    }

    /// A fresh named uuid (`new0`, `new1`, ...), for a row inserted later.
    pub fn fresh_name(&mut self) -> String {
        let name = format!("new{}", self.named);
        self.named += 1;
        name
    }

    /// A `wait` that holds only while no row of `table` matches `conditions`.
    pub fn wait_none(&mut self, table: &str, conditions: Vec<Condition>) -> usize {
        self.push(wait_rows(
            table,
            conditions,
            vec!["_uuid".into()],
            true,
            Vec::new(),
        ))
    }

    /// A `wait` that holds only while some row of `table` matches `conditions`.
    pub fn wait_some(&mut self, table: &str, conditions: Vec<Condition>) -> usize {
        self.push(wait_rows(
            table,
            conditions,
            vec!["_uuid".into()],
            false,
            Vec::new(),
        ))
    }

    /// A `wait` that holds only while no row of `table` is named `name`.
    pub fn wait_name_absent(&mut self, table: &str, name: &str) -> usize {
        self.push(wait_rows(
            table,
            vec![Condition::name(name)],
            vec!["name".into()],
            true,
            Vec::new(),
        ))
    }

    /// A `wait` that holds only while the row `uuid` has exactly `row`'s column values.
    pub fn wait_unchanged(&mut self, table: &str, uuid: &str, row: RowData) -> usize {
        let columns = row.keys().cloned().collect();
        self.push(wait_rows(
            table,
            vec![Condition::uuid(uuid)],
            columns,
            true,
            vec![row],
        ))
    }

    /// Inserts `row` into `table` under the named uuid `name`.
    pub fn insert_named(&mut self, table: &str, row: RowData, name: String) {
        self.ops.push(Op::Insert {
            table: table.into(),
            row,
            uuid_name: Some(name),
        });
    }

    /// Inserts `row` into `table`; returns its fresh named uuid.
    pub fn insert(&mut self, table: &str, row: RowData) -> String {
        let name = self.fresh_name();
        self.insert_named(table, row, name.clone());
        name
    }

    /// Inserts an Interface and a Port holding it, both called `name`, with the given
    /// extra columns; returns the port's named uuid (link it to a bridge with
    /// [`Txn::add_ports`], or put it in a new bridge's `ports`).
    pub fn insert_port(&mut self, name: &str, mut port: RowData, mut iface: RowData) -> String {
        iface.insert("name".into(), Datum::atom(Atom::Str(name.into())));
        let iface_id = self.insert("Interface", iface);
        port.insert("name".into(), Datum::atom(Atom::Str(name.into())));
        port.insert("interfaces".into(), named(&iface_id));
        self.insert("Port", port)
    }

    /// Adds `ports` (uuids or named uuids) to the bridge matching `bridge`.
    pub fn add_ports(&mut self, bridge: Condition, ports: Vec<Atom>) {
        self.mutate(
            "Bridge",
            vec![bridge],
            Mutation::new("ports", "insert", Datum::Set(ports)),
        );
    }

    /// Drops `ports` from the bridge matching `bridge` (OVSDB garbage-collects the Port
    /// and its Interfaces once nothing references them).
    pub fn remove_ports(&mut self, bridge: Condition, ports: Vec<String>) {
        self.mutate(
            "Bridge",
            vec![bridge],
            Mutation::new("ports", "delete", Datum::uuids(ports)),
        );
    }

    /// One mutation of the rows of `table` matching `conditions`.
    pub fn mutate(&mut self, table: &str, conditions: Vec<Condition>, mutation: Mutation) {
        self.ops.push(Op::Mutate {
            table: table.into(),
            conditions,
            mutations: vec![mutation],
        });
    }

    /// Sets columns of the rows of `table` matching `conditions`.
    pub fn update(&mut self, table: &str, conditions: Vec<Condition>, row: RowData) {
        self.ops.push(Op::Update {
            table: table.into(),
            conditions,
            row,
        });
    }

    /// Ends the transaction with `next_cfg += 1` and a `select` of `next_cfg`, so the
    /// switch is told to reconfigure and the caller learns which number to wait for.
    pub fn bump_cfg(&mut self) {
        self.mutate(
            ROOT,
            Vec::new(),
            Mutation::new("next_cfg", "+=", Datum::atom(Atom::Int(1))),
        );
        self.ops.push(Op::Select {
            table: ROOT.into(),
            conditions: Vec::new(),
            columns: Some(vec!["next_cfg".into()]),
        });
        self.bumps_cfg = true;
    }
}

/// A `wait` on `table`'s rows matching `conditions`, at once (timeout 0).
pub fn wait_rows(
    table: &str,
    conditions: Vec<Condition>,
    columns: Vec<String>,
    equal: bool,
    rows: Vec<RowData>,
) -> Op {
    Op::Wait {
        table: table.into(),
        conditions,
        columns,
        equal,
        rows,
        timeout_ms: 0,
    }
}

/// `["named-uuid", name]` as a datum.
pub fn named(name: &str) -> Datum {
    Datum::atom(Atom::NamedUuid(name.to_string()))
}

/// What a committed transaction returned.
#[derive(Clone, Debug, PartialEq)]
pub struct Committed {
    /// One result per operation.
    pub results: Vec<Json>,
    /// The `next_cfg` to wait for, when the transaction bumped it.
    pub cfg: Option<i64>,
}

/// Runs `txn` through `transact` (one OVSDB transaction). When it bumped `next_cfg`, the
/// returned number is the one to wait for; `None` there means the server answered
/// without it, which the caller reports as a protocol problem.
pub fn commit<E>(
    txn: &Txn,
    transact: impl FnOnce(&[Op]) -> Result<Vec<Json>, E>,
) -> Result<Committed, E> {
    let results = transact(&txn.ops)?;
    let cfg = if txn.bumps_cfg {
        results
            .last()
            .and_then(|r| rows(r).first())
            .and_then(|row| row.get("next_cfg"))
            .and_then(Json::as_i64)
    } else {
        None
    };
    Ok(Committed { results, cfg })
}

/// The uuid of a selected row.
pub fn uuid_of(row: &Json) -> Option<String> {
    row.get("_uuid")
        .and_then(Datum::from_json)
        .and_then(|d| d.single().and_then(Atom::as_uuid).map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_port_is_an_interface_then_a_port_then_a_link_then_the_bump() {
        let mut txn = Txn::new();
        txn.wait_name_absent("Port", "p0");
        let port = txn.insert_port("p0", RowData::new(), RowData::new());
        txn.add_ports(Condition::name("br0"), vec![Atom::NamedUuid(port)]);
        txn.bump_cfg();
        let ops: Vec<Json> = txn.ops().iter().map(Op::to_json).collect();
        assert_eq!(
            ops,
            vec![
                json!({"op": "wait", "table": "Port", "where": [["name", "==", "p0"]],
                       "columns": ["name"], "until": "==", "rows": [], "timeout": 0}),
                json!({"op": "insert", "table": "Interface", "uuid-name": "new0", "row": {"name": "p0"}}),
                json!({"op": "insert", "table": "Port", "uuid-name": "new1",
                       "row": {"name": "p0", "interfaces": ["named-uuid", "new0"]}}),
                json!({"op": "mutate", "table": "Bridge", "where": [["name", "==", "br0"]],
                       "mutations": [["ports", "insert", ["named-uuid", "new1"]]]}),
                json!({"op": "mutate", "table": "Open_vSwitch", "where": [],
                       "mutations": [["next_cfg", "+=", 1]]}),
                json!({"op": "select", "table": "Open_vSwitch", "where": [], "columns": ["next_cfg"]}),
            ]
        );
        let done = commit(&txn, |ops| {
            let mut r = vec![json!({}); ops.len() - 1];
            r.push(json!({"rows": [{"next_cfg": 7}]}));
            Ok::<_, ()>(r)
        })
        .expect("committed");
        assert_eq!(done.cfg, Some(7));
    }
}
