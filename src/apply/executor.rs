//! The seam between apply and a switch: [`Executor`] runs one transaction. The real
//! [`OvsdbExecutor`] talks to OVSDB; [`Recorder`] records transactions and answers as a
//! switch that applied them at once would, for tests of the transaction's shape.

use crate::ovsdb::{Client, Op, OvsdbError, DB};
use serde_json::{json, Value as Json};
use std::time::Duration;

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

impl OvsdbExecutor {
    /// The connection, for reads that are not transactions (observe's `get_schema`).
    pub fn client_mut(&mut self) -> &mut Client {
        &mut self.client
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

/// An executor that records every transaction and answers like a switch that applies
/// everything at once: for tests of apply's logic without OVS.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Every transaction received, in order.
    pub transactions: Vec<Vec<Op>>,
    /// What `observe` answers, in order (the last one repeats); none: an empty host.
    pub observations: Vec<crate::state::ObservedHost>,
    /// How many times the host was observed.
    pub observations_made: usize,
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
        Op::Select { table, .. } if table == "Bridge" => {
            json!({"rows": [{"datapath_id": "0000000000000001"}]})
        }
        Op::Select { .. } => json!({"rows": []}),
        Op::Update { .. } | Op::Mutate { .. } => json!({"count": 1}),
        Op::Wait { .. } => json!({}),
    }
}
