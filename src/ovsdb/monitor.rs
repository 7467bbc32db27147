//! OVSDB `monitor` (RFC 7047 §4.1.5) on a connection of its own: the initial contents
//! of the watched columns, then one `update` notification per committed change.
//!
//! A monitor session owns its [`Client`] and never sends other requests on it, because
//! the client keeps no notification that arrives while it waits for an answer. It does
//! not reconnect by itself: a closed or failed connection is an error, and the owner
//! (the agent) decides how to back off and start a new session, re-reading everything,
//! since updates missed while disconnected are gone.

use super::{Client, OvsdbError, DB};
use serde_json::{json, Map, Value as Json};
use std::time::Duration;

/// The id every notification of an ovsnet monitor carries.
const MONITOR_ID: &str = "ovsnet";

/// One table to watch and the columns whose changes matter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// The table.
    pub table: &'static str,
    /// Its columns (empty: every column).
    pub columns: &'static [&'static str],
}

/// A running monitor.
#[derive(Debug)]
pub struct Monitor {
    client: Client,
}

impl Monitor {
    /// Connects to `endpoint` and starts monitoring `watches`; returns the session and
    /// the initial `table-updates` (every current row of the watched tables).
    pub fn start(
        endpoint: &str,
        timeout: Duration,
        watches: &[Watch],
    ) -> Result<(Monitor, Json), OvsdbError> {
        let mut client = Client::connect(endpoint, timeout)?;
        let mut requests = Map::new();
        for w in watches {
            let request = if w.columns.is_empty() {
                json!({})
            } else {
                json!({"columns": w.columns})
            };
            requests.insert(w.table.to_string(), request);
        }
        let initial = client.call("monitor", json!([DB, MONITOR_ID, requests]))?;
        Ok((Monitor { client }, initial))
    }

    /// Waits up to `timeout` for the next change; `Some(table-updates)` when one came,
    /// `None` when the time passed quietly (the connection is still healthy then: the
    /// server's `echo` probes were answered meanwhile).
    pub fn wait(&mut self, timeout: Duration) -> Result<Option<Json>, OvsdbError> {
        let Some(message) = self.client.next_notification(timeout)? else {
            return Ok(None);
        };
        let params = message.get("params").and_then(Json::as_array);
        match (message.get("method").and_then(Json::as_str), params) {
            (Some("update"), Some(p)) if p.first().and_then(Json::as_str) == Some(MONITOR_ID) => {
                Ok(Some(p.get(1).cloned().unwrap_or(Json::Null)))
            }
            // Lock notifications and the like are not ours; report them as quiet time.
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovsdb::Conn;
    use std::sync::{Arc, Mutex};

    /// A scripted server: what it will send, and what the client wrote.
    #[derive(Clone, Default)]
    struct Script {
        incoming: Arc<Mutex<Vec<u8>>>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl Conn for Script {
        /// Hands out what is scripted; with nothing left, the deadline has passed.
        fn read_by(&mut self, buf: &mut [u8], _: std::time::Instant) -> std::io::Result<usize> {
            let mut incoming = self.incoming.lock().unwrap();
            if incoming.is_empty() {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            let n = buf.len().min(incoming.len());
            buf[..n].copy_from_slice(&incoming[..n]);
            incoming.drain(..n);
            Ok(n)
        }

        fn write_by(&mut self, bytes: &[u8], _: std::time::Instant) -> std::io::Result<()> {
            self.written.lock().unwrap().extend_from_slice(bytes);
            Ok(())
        }
    }

    #[test]
    fn echo_probes_are_answered_and_updates_are_returned() {
        let script = Script::default();
        script.incoming.lock().unwrap().extend_from_slice(
            br#"{"id":"e1","method":"echo","params":[]}{"id":null,"method":"update","params":["ovsnet",{"Bridge":{}}]}"#,
        );
        let mut monitor = Monitor {
            client: Client::over("test", Box::new(script.clone()), Duration::from_millis(50)),
        };
        let update = monitor.wait(Duration::from_millis(50)).unwrap();
        assert_eq!(update, Some(json!({"Bridge": {}})));
        let written = String::from_utf8(script.written.lock().unwrap().clone()).unwrap();
        assert!(written.contains(r#""id":"e1""#), "{written}");
        assert_eq!(monitor.wait(Duration::from_millis(10)).unwrap(), None);
    }
}
