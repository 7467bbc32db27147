//! Reads what one host's Open vSwitch holds into an [`ObservedHost`].
//!
//! One `transact` of four `select`s gives a consistent snapshot of the `Open_vSwitch`
//! row and every Bridge, Port and Interface. Each row becomes a [`Row`] whose attributes
//! are the columns [`crate::state::columns`] models, maps flattened whole (every
//! `options:*` and `external_ids:*` entry), so ownership can be judged and guards can
//! carry whole maps.
//! Ports and interfaces are attached by following `Bridge.ports` and `Port.interfaces`;
//! rows no bridge reaches are left out. This module only reads: it never writes.

use crate::ovsdb::{self, Atom, Client, Datum, Op, OvsdbError, DB};
use crate::state::{
    self, Bridge, ColumnType, HostState, Interface, InterfaceRuntime, Kind, ObservedHost, Port,
    Row, SystemInfo, Value,
};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::time::Duration;

/// Why a host could not be observed.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    /// Talking to the OVSDB server failed (the error names the endpoint).
    #[error(transparent)]
    Ovsdb(#[from] OvsdbError),
    /// The database holds something ovsnet cannot read.
    #[error("OVSDB at `{endpoint}`: {detail}")]
    Shape {
        /// The endpoint.
        endpoint: String,
        /// What is wrong.
        detail: String,
    },
}

/// Connects to `endpoint` (timeout on connect and every request) and observes it.
pub fn observe(endpoint: &str, timeout: Duration) -> Result<ObservedHost, ObserveError> {
    let mut client = Client::connect(endpoint, timeout)?;
    observe_with(&mut client)
}

/// Observes the host behind an open client.
pub fn observe_with(client: &mut Client) -> Result<ObservedHost, ObserveError> {
    let schema = client.get_schema(DB)?;
    let schema_version = schema
        .get("version")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string();
    let ops = [
        select("Open_vSwitch", SYSTEM_COLUMNS.map(String::from).to_vec()),
        select("Bridge", selected(Kind::Bridge)),
        select("Port", selected(Kind::Port)),
        select("Interface", selected(Kind::Interface)),
    ];
    let results = client.transact(DB, &ops)?;
    let reader = Reader {
        endpoint: client.endpoint(),
    };
    let mut system = reader.system(ovsdb::rows(&results[0]))?;
    system.schema_version = schema_version;
    let state = reader.state(
        ovsdb::rows(&results[1]),
        ovsdb::rows(&results[2]),
        ovsdb::rows(&results[3]),
    )?;
    Ok(ObservedHost { system, state })
}

const SYSTEM_COLUMNS: [&str; 7] = [
    "external_ids",
    "_uuid",
    "next_cfg",
    "cur_cfg",
    "datapath_types",
    "iface_types",
    "ovs_version",
];

/// The columns selected for `kind`: identity, the modelled columns of
/// [`state::columns`], the reference column, and the switch's runtime columns.
fn selected(kind: Kind) -> Vec<String> {
    let mut out = vec!["_uuid".to_string(), "name".to_string()];
    out.extend(state::columns(kind).iter().map(|c| c.name.to_string()));
    match kind {
        Kind::Bridge => out.push("ports".into()),
        Kind::Port => out.push("interfaces".into()),
        Kind::Interface => {
            out.extend(
                [
                    "ofport",
                    "error",
                    "link_state",
                    "ifindex",
                    "status",
                    "mac_in_use",
                ]
                .map(String::from),
            );
        }
    }
    out
}

fn select(table: &str, columns: Vec<String>) -> Op {
    Op::Select {
        table: table.to_string(),
        conditions: Vec::new(),
        columns: Some(columns),
    }
}

/// Decodes selected rows; carries the endpoint for error messages.
struct Reader<'a> {
    endpoint: &'a str,
}

/// A decoded row with the uuids its reference column holds.
struct Linked<T> {
    item: T,
    children: Vec<String>,
}

impl Reader<'_> {
    fn system(&self, rows: &[Json]) -> Result<SystemInfo, ObserveError> {
        let [row] = rows else {
            return Err(self.shape(format!(
                "expected one Open_vSwitch row, found {}",
                rows.len()
            )));
        };
        Ok(SystemInfo {
            uuid: self.uuid(row)?,
            next_cfg: self.int(row, "next_cfg")?.unwrap_or(0),
            cur_cfg: self.int(row, "cur_cfg")?.unwrap_or(0),
            datapath_types: self.strings(row, "datapath_types")?,
            iface_types: self.strings(row, "iface_types")?,
            ovs_version: self.string(row, "ovs_version")?,
            schema_version: String::new(),
            agent: self
                .map(row, "external_ids")?
                .remove(crate::agent::health::KEY),
        })
    }

    fn state(
        &self,
        bridges: &[Json],
        ports: &[Json],
        ifaces: &[Json],
    ) -> Result<HostState, ObserveError> {
        let mut ifaces: BTreeMap<String, Interface> = ifaces
            .iter()
            .map(|r| Ok((self.uuid(r)?, self.interface(r)?)))
            .collect::<Result<_, ObserveError>>()?;
        let mut ports_by_uuid = BTreeMap::new();
        for r in ports {
            let linked = self.port(r)?;
            let mut port = linked.item;
            for child in linked.children {
                if let Some(iface) = ifaces.remove(&child) {
                    port.interfaces.insert(iface.row.name.clone(), iface);
                }
            }
            ports_by_uuid.insert(self.uuid(r)?, port);
        }
        let mut state = HostState::default();
        for r in bridges {
            let linked = self.bridge(r)?;
            let mut bridge = linked.item;
            for child in linked.children {
                if let Some(port) = ports_by_uuid.remove(&child) {
                    bridge.ports.insert(port.row.name.clone(), port);
                }
            }
            state.bridges.insert(bridge.row.name.clone(), bridge);
        }
        Ok(state)
    }

    fn bridge(&self, r: &Json) -> Result<Linked<Bridge>, ObserveError> {
        let row = self.modelled(Kind::Bridge, r)?;
        let children = self.uuids(r, "ports")?;
        Ok(Linked {
            item: Bridge {
                row,
                ports: BTreeMap::new(),
            },
            children,
        })
    }

    fn port(&self, r: &Json) -> Result<Linked<Port>, ObserveError> {
        let row = self.modelled(Kind::Port, r)?;
        let children = self.uuids(r, "interfaces")?;
        Ok(Linked {
            item: Port {
                row,
                interfaces: BTreeMap::new(),
            },
            children,
        })
    }

    fn interface(&self, r: &Json) -> Result<Interface, ObserveError> {
        let row = self.modelled(Kind::Interface, r)?;
        let runtime = InterfaceRuntime {
            ofport: self.int(r, "ofport")?,
            error: self.string(r, "error")?,
            link_state: self.string(r, "link_state")?,
            ifindex: self.int(r, "ifindex")?,
            status: self.map(r, "status")?,
            mac_in_use: self.string(r, "mac_in_use")?,
        };
        Ok(Interface {
            row,
            runtime: Some(runtime),
        })
    }

    /// Name, uuid and every modelled column of `kind`, decoded as its spec says. Maps
    /// are read whole (managed entries or not), so ownership can be judged and guards
    /// can carry whole maps.
    fn modelled(&self, kind: Kind, r: &Json) -> Result<Row, ObserveError> {
        let name = self
            .string(r, "name")?
            .ok_or_else(|| self.shape("a row has no name".to_string()))?;
        let mut row = Row::named(name);
        row.uuid = Some(self.uuid(r)?);
        for spec in state::columns(kind) {
            let column = spec.name;
            let value = match spec.ty {
                ColumnType::Str => self
                    .string(r, column)?
                    .filter(|s| !s.is_empty())
                    .map(Value::Str),
                ColumnType::OptStr => self.string(r, column)?.map(Value::Str),
                ColumnType::Bool => Some(Value::Bool(self.boolean(r, column)?)),
                ColumnType::OptInt => self.int(r, column)?.map(Value::Int),
                ColumnType::IntSet => {
                    let mut items = self.ints(r, column)?;
                    items.sort_unstable();
                    items.dedup();
                    (!items.is_empty()).then_some(Value::IntSet(items))
                }
                ColumnType::Map(_) => {
                    for (key, value) in self.map(r, column)? {
                        row.attrs
                            .insert(format!("{column}:{key}").into(), Value::Str(value));
                    }
                    None
                }
            };
            if let Some(value) = value {
                row.attrs.insert(column.into(), value);
            }
        }
        Ok(row)
    }

    fn datum(&self, r: &Json, column: &str) -> Result<Datum, ObserveError> {
        let json = r
            .get(column)
            .ok_or_else(|| self.shape(format!("column `{column}` missing from a row")))?;
        Datum::from_json(json).ok_or_else(|| self.shape(format!("column `{column}` holds {json}")))
    }

    fn uuid(&self, r: &Json) -> Result<String, ObserveError> {
        match self.datum(r, "_uuid")?.single() {
            Some(Atom::Uuid(u)) => Ok(u.clone()),
            _ => Err(self.shape("a row has no _uuid".to_string())),
        }
    }

    /// An optional string column (a set of zero or one string).
    fn string(&self, r: &Json, column: &str) -> Result<Option<String>, ObserveError> {
        let datum = self.datum(r, column)?;
        self.expect_at_most_one(column, &datum)?;
        Ok(datum.single().and_then(Atom::as_str).map(str::to_string))
    }

    fn int(&self, r: &Json, column: &str) -> Result<Option<i64>, ObserveError> {
        let datum = self.datum(r, column)?;
        self.expect_at_most_one(column, &datum)?;
        Ok(datum.single().and_then(Atom::as_int))
    }

    fn boolean(&self, r: &Json, column: &str) -> Result<bool, ObserveError> {
        match self.datum(r, column)?.single() {
            Some(Atom::Bool(b)) => Ok(*b),
            _ => Err(self.shape(format!("column `{column}` is not a boolean"))),
        }
    }

    fn strings(&self, r: &Json, column: &str) -> Result<Vec<String>, ObserveError> {
        let datum = self.datum(r, column)?;
        let mut out: Vec<String> = datum
            .atoms()
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        out.sort();
        Ok(out)
    }

    fn ints(&self, r: &Json, column: &str) -> Result<Vec<i64>, ObserveError> {
        Ok(self
            .datum(r, column)?
            .atoms()
            .iter()
            .filter_map(Atom::as_int)
            .collect())
    }

    fn uuids(&self, r: &Json, column: &str) -> Result<Vec<String>, ObserveError> {
        let datum = self.datum(r, column)?;
        Ok(datum
            .atoms()
            .iter()
            .filter_map(|a| a.as_uuid().map(str::to_string))
            .collect())
    }

    fn map(&self, r: &Json, column: &str) -> Result<BTreeMap<String, String>, ObserveError> {
        let datum = self.datum(r, column)?;
        datum
            .pairs()
            .iter()
            .map(|(k, v)| match (k.as_str(), v.as_str()) {
                (Some(k), Some(v)) => Ok((k.to_string(), v.to_string())),
                _ => Err(self.shape(format!("column `{column}` is not a string map"))),
            })
            .collect()
    }

    fn expect_at_most_one(&self, column: &str, datum: &Datum) -> Result<(), ObserveError> {
        if datum.atoms().len() > 1 || !datum.pairs().is_empty() {
            return Err(self.shape(format!("column `{column}` holds more than one value")));
        }
        Ok(())
    }

    fn shape(&self, detail: String) -> ObserveError {
        ObserveError::Shape {
            endpoint: self.endpoint.to_string(),
            detail,
        }
    }
}
