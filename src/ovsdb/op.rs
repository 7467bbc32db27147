//! Transaction operations (RFC 7047 §5.2) as typed values, and their JSON encoding.
//! Pure: building an operation does no I/O.

use super::value::{Atom, Datum};
use serde_json::{json, Map, Value as Json};
use std::collections::BTreeMap;

/// A `where` clause: `[column, function, value]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    /// Column compared.
    pub column: String,
    /// `==`, `!=`, `includes`, `excludes`, `<`, ...
    pub function: String,
    /// Value compared with.
    pub value: Datum,
}

impl Condition {
    /// `column == value`.
    pub fn eq(column: &str, value: Datum) -> Condition {
        Condition {
            column: column.to_string(),
            function: "==".to_string(),
            value,
        }
    }

    /// `_uuid == uuid`.
    pub fn uuid(uuid: &str) -> Condition {
        Condition::eq("_uuid", Datum::atom(Atom::Uuid(uuid.to_string())))
    }

    /// `name == name`.
    pub fn name(name: &str) -> Condition {
        Condition::eq("name", Datum::atom(Atom::Str(name.to_string())))
    }

    fn to_json(&self) -> Json {
        json!([self.column, self.function, self.value.to_json()])
    }
}

/// A mutation: `[column, mutator, value]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Mutation {
    /// Column mutated.
    pub column: String,
    /// `+=`, `-=`, `insert`, `delete`, ...
    pub mutator: String,
    /// Operand.
    pub value: Datum,
}

impl Mutation {
    /// A mutation of `column` with `mutator` and `value`.
    pub fn new(column: &str, mutator: &str, value: Datum) -> Mutation {
        Mutation {
            column: column.to_string(),
            mutator: mutator.to_string(),
            value,
        }
    }

    fn to_json(&self) -> Json {
        json!([self.column, self.mutator, self.value.to_json()])
    }
}

/// Column values of one row, by column name.
pub type RowData = BTreeMap<String, Datum>;

/// One operation of a `transact` request.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Insert a row, naming its uuid `uuid_name` for later operations.
    Insert {
        /// Table.
        table: String,
        /// Column values.
        row: RowData,
        /// Name other operations use as `["named-uuid", name]`.
        uuid_name: Option<String>,
    },
    /// Set columns of every matching row.
    Update {
        /// Table.
        table: String,
        /// Which rows.
        conditions: Vec<Condition>,
        /// New column values.
        row: RowData,
    },
    /// Mutate columns of every matching row.
    Mutate {
        /// Table.
        table: String,
        /// Which rows.
        conditions: Vec<Condition>,
        /// Mutations applied in order.
        mutations: Vec<Mutation>,
    },
    /// Read columns of every matching row.
    Select {
        /// Table.
        table: String,
        /// Which rows.
        conditions: Vec<Condition>,
        /// Columns returned (`None`: all).
        columns: Option<Vec<String>>,
    },
    /// Assert that the matching rows' `columns` equal (or differ from) `rows`.
    Wait {
        /// Table.
        table: String,
        /// Which rows.
        conditions: Vec<Condition>,
        /// Columns compared.
        columns: Vec<String>,
        /// `true`: until `==`; `false`: until `!=`.
        equal: bool,
        /// Expected rows (only `columns`).
        rows: Vec<RowData>,
        /// Milliseconds to wait; 0 fails at once.
        timeout_ms: u64,
    },
}

impl Op {
    /// The operation's name (`insert`, `wait`, ...), for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Insert { .. } => "insert",
            Op::Update { .. } => "update",
            Op::Mutate { .. } => "mutate",
            Op::Select { .. } => "select",
            Op::Wait { .. } => "wait",
        }
    }

    /// The operation's table.
    pub fn table(&self) -> &str {
        match self {
            Op::Insert { table, .. }
            | Op::Update { table, .. }
            | Op::Mutate { table, .. }
            | Op::Select { table, .. }
            | Op::Wait { table, .. } => table,
        }
    }

    /// The operation's JSON encoding.
    pub fn to_json(&self) -> Json {
        let mut obj = Map::new();
        obj.insert("op".into(), json!(self.name()));
        obj.insert("table".into(), json!(self.table()));
        match self {
            Op::Insert { row, uuid_name, .. } => {
                obj.insert("row".into(), row_json(row));
                if let Some(name) = uuid_name {
                    obj.insert("uuid-name".into(), json!(name));
                }
            }
            Op::Update {
                conditions, row, ..
            } => {
                obj.insert("where".into(), where_json(conditions));
                obj.insert("row".into(), row_json(row));
            }
            Op::Mutate {
                conditions,
                mutations,
                ..
            } => {
                obj.insert("where".into(), where_json(conditions));
                let m: Vec<Json> = mutations.iter().map(Mutation::to_json).collect();
                obj.insert("mutations".into(), Json::Array(m));
            }
            Op::Select {
                conditions,
                columns,
                ..
            } => {
                obj.insert("where".into(), where_json(conditions));
                if let Some(columns) = columns {
                    obj.insert("columns".into(), json!(columns));
                }
            }
            Op::Wait {
                conditions,
                columns,
                equal,
                rows,
                timeout_ms,
                ..
            } => {
                obj.insert("where".into(), where_json(conditions));
                obj.insert("columns".into(), json!(columns));
                obj.insert("until".into(), json!(if *equal { "==" } else { "!=" }));
                let rows: Vec<Json> = rows.iter().map(row_json).collect();
                obj.insert("rows".into(), Json::Array(rows));
                obj.insert("timeout".into(), json!(timeout_ms));
            }
        }
        Json::Object(obj)
    }
}

fn where_json(conditions: &[Condition]) -> Json {
    Json::Array(conditions.iter().map(Condition::to_json).collect())
}

fn row_json(row: &RowData) -> Json {
    Json::Object(
        row.iter()
            .map(|(column, datum)| (column.clone(), datum.to_json()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_encodes_as_rfc7047_says() {
        let mut row = RowData::new();
        row.insert("name".into(), Datum::atom(Atom::Str("br0".into())));
        let op = Op::Wait {
            table: "Bridge".into(),
            conditions: vec![Condition::uuid("u1")],
            columns: vec!["name".into()],
            equal: true,
            rows: vec![row],
            timeout_ms: 0,
        };
        assert_eq!(
            op.to_json(),
            json!({"op": "wait", "table": "Bridge", "where": [["_uuid", "==", ["uuid", "u1"]]],
                   "columns": ["name"], "until": "==", "rows": [{"name": "br0"}], "timeout": 0})
        );
    }

    #[test]
    fn insert_carries_its_uuid_name() {
        let op = Op::Insert {
            table: "Port".into(),
            row: RowData::new(),
            uuid_name: Some("p1".into()),
        };
        assert_eq!(
            op.to_json(),
            json!({"op": "insert", "table": "Port", "row": {}, "uuid-name": "p1"})
        );
    }
}
