//! A synchronous OVSDB JSON-RPC client over any [`Conn`]: a unix or tcp socket, a TLS
//! session, an ssh pipe.
//!
//! One request is outstanding at a time: `call` writes a request with a fresh id and
//! reads until the response with that id arrives, answering the server's `echo` probes
//! and skipping notifications meanwhile. Every call has a deadline; a timed-out call
//! leaves the connection usable (a late answer to it is recognised by its id and dropped).

use super::framing::Framer;
use super::op::Op;
use super::reach::{transport_error, Reach};
use super::stream::Conn;
use super::OvsdbError;
use serde_json::{json, Value as Json};
use std::io::ErrorKind;
use std::time::{Duration, Instant};

/// A connection to one OVSDB server.
pub struct Client {
    endpoint: String,
    conn: Box<dyn Conn>,
    framer: Framer,
    next_id: u64,
    timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("next_id", &self.next_id)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to `endpoint` within `timeout`, which also becomes the timeout of
    /// every request; `ssl:` and `ssh://` go the way [`Reach::install`] said.
    pub fn connect(endpoint: &str, timeout: Duration) -> Result<Client, OvsdbError> {
        Client::connect_via(endpoint, Reach::installed(), timeout)
    }

    /// Connects to `endpoint` the way `reach` says, within `timeout`, which also
    /// becomes the timeout of every request.
    pub fn connect_via(
        endpoint: &str,
        reach: &Reach,
        timeout: Duration,
    ) -> Result<Client, OvsdbError> {
        let conn = reach.open(endpoint, timeout)?;
        Ok(Client::over(endpoint, conn, timeout))
    }

    /// A client over an already open stream; `label` names it in errors.
    pub fn over(label: &str, conn: Box<dyn Conn>, timeout: Duration) -> Client {
        Client {
            endpoint: label.to_string(),
            conn,
            framer: Framer::new(),
            next_id: 1,
            timeout,
        }
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Changes the timeout of later requests.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends one request and returns its `result`, or the server's `error` as an error.
    pub fn call(&mut self, method: &str, params: Json) -> Result<Json, OvsdbError> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"method": method, "params": params, "id": id}))
            .map_err(|e| self.io_error(method, e))?;
        let deadline = Instant::now() + self.timeout;
        loop {
            while let Some(message) =
                self.framer
                    .next_message()
                    .map_err(|e| OvsdbError::Protocol {
                        endpoint: self.endpoint.clone(),
                        detail: e.to_string(),
                    })?
            {
                if let Some(result) = self.handle(message, id, method)? {
                    return Ok(result);
                }
            }
            self.fill(method, deadline)?;
        }
    }

    /// The databases the server holds.
    pub fn list_dbs(&mut self) -> Result<Vec<String>, OvsdbError> {
        let result = self.call("list_dbs", json!([]))?;
        serde_json::from_value(result).map_err(|e| self.protocol(format!("list_dbs: {e}")))
    }

    /// The schema of database `db`.
    pub fn get_schema(&mut self, db: &str) -> Result<Json, OvsdbError> {
        self.call("get_schema", json!([db]))
    }

    /// Sends an `echo` and checks the server echoes it back.
    pub fn echo(&mut self) -> Result<(), OvsdbError> {
        let sent = json!(["ovsnet"]);
        let got = self.call("echo", sent.clone())?;
        if got == sent {
            Ok(())
        } else {
            Err(self.protocol(format!("echo answered {got}")))
        }
    }

    /// Runs `ops` as one transaction on `db` and returns each operation's result.
    ///
    /// Fails when any operation failed (naming it) or the commit failed (the extra
    /// trailing result RFC 7047 adds for commit errors such as constraint violations).
    pub fn transact(&mut self, db: &str, ops: &[Op]) -> Result<Vec<Json>, OvsdbError> {
        let mut params = vec![json!(db)];
        params.extend(ops.iter().map(Op::to_json));
        let result = self.call("transact", Json::Array(params))?;
        super::check_results(&self.endpoint, ops, result)
    }

    /// Waits up to `timeout` for the next notification (a request from the server other
    /// than `echo`, which is answered here) and returns it whole (`method`, `params`);
    /// `None` when none came in time. Used by [`super::monitor`] on a connection of its
    /// own: notifications arriving during `call` are not kept.
    pub fn next_notification(&mut self, timeout: Duration) -> Result<Option<Json>, OvsdbError> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(message) = self
                .framer
                .next_message()
                .map_err(|e| self.protocol(e.to_string()))?
            {
                match message.get("method").and_then(Json::as_str) {
                    Some("echo") => {
                        let reply = json!({"id": message.get("id"), "result": message.get("params"), "error": null});
                        self.send(&reply).map_err(|e| self.io_error("echo", e))?;
                    }
                    Some(_) => return Ok(Some(message)),
                    // A late answer to a request that timed out.
                    None => {}
                }
            }
            match self.fill("notification", deadline) {
                Err(OvsdbError::Timeout { .. }) => return Ok(None),
                other => other?,
            }
        }
    }

    /// Handles one incoming message; `Some(result)` when it answers request `id`.
    fn handle(&mut self, message: Json, id: u64, method: &str) -> Result<Option<Json>, OvsdbError> {
        if let Some(incoming) = message.get("method").and_then(Json::as_str) {
            if incoming == "echo" {
                let reply = json!({"id": message.get("id"), "result": message.get("params"), "error": null});
                self.send(&reply).map_err(|e| self.io_error(method, e))?;
            }
            // Other notifications (monitor updates, locks) are not used by ovsnet.
            return Ok(None);
        }
        if message.get("id").and_then(Json::as_u64) != Some(id) {
            // A late answer to a request that already timed out.
            return Ok(None);
        }
        match message.get("error") {
            Some(Json::Null) | None => {
                Ok(Some(message.get("result").cloned().unwrap_or(Json::Null)))
            }
            Some(error) => Err(OvsdbError::Rpc {
                endpoint: self.endpoint.clone(),
                method: method.to_string(),
                error: super::error_text(error),
            }),
        }
    }

    /// Reads more bytes into the framer, failing at the deadline.
    fn fill(&mut self, method: &str, deadline: Instant) -> Result<(), OvsdbError> {
        let mut buf = [0u8; 64 * 1024];
        match self.conn.read_by(&mut buf, deadline) {
            Ok(0) => Err(OvsdbError::Closed {
                endpoint: self.endpoint.clone(),
            }),
            Ok(n) => {
                self.framer.push(&buf[..n]);
                Ok(())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                Err(self.timed_out(method))
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(self.io_error(method, e)),
        }
    }

    fn send(&mut self, message: &Json) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec(message).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        self.conn.write_by(&bytes, Instant::now() + self.timeout)
    }

    fn timed_out(&self, method: &str) -> OvsdbError {
        OvsdbError::Timeout {
            endpoint: self.endpoint.clone(),
            method: method.to_string(),
            timeout: self.timeout,
        }
    }

    fn io_error(&self, method: &str, cause: std::io::Error) -> OvsdbError {
        transport_error(&self.endpoint, cause, method, self.timeout)
    }

    fn protocol(&self, detail: String) -> OvsdbError {
        OvsdbError::Protocol {
            endpoint: self.endpoint.clone(),
            detail,
        }
    }
}
