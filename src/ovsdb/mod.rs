//! The OVSDB management protocol (RFC 7047) spoken directly: endpoints, the JSON-RPC
//! client with its framing, typed values and transaction operations, and the checking
//! of transaction results operation by operation.
//!
//! This module knows nothing about ovsnet's model (bridges, plans); `observe` and
//! `apply` translate between that model and OVSDB rows. It never shells out to
//! `ovs-vsctl`.

pub mod cfg;
pub mod client;
pub mod framing;
pub mod monitor;
pub mod op;
pub mod reach;
pub mod ssh;
pub mod stream;
pub mod tls;
pub mod txn;
pub mod value;

pub use cfg::wait_for_cur_cfg;
pub use client::Client;
pub use op::{Condition, Mutation, Op, RowData};
pub use reach::Reach;
pub use stream::Conn;
pub use txn::{commit, Committed, Txn};
pub use value::{Atom, Datum};

use serde_json::Value as Json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Name of the Open vSwitch database.
pub const DB: &str = "Open_vSwitch";

/// Where an OVSDB server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `unix:PATH`.
    Unix(PathBuf),
    /// `tcp:IP:PORT`: unauthenticated and unencrypted, for labs.
    Tcp(SocketAddr),
    /// `ssl:IP:PORT`: mutual TLS.
    Ssl(SocketAddr),
    /// `ssh://[USER@]HOST[:PORT][/PATH]`: the host's unix socket over the system's ssh.
    Ssh(ssh::SshTarget),
}

impl Endpoint {
    /// Parses `unix:PATH`, `tcp:IP:PORT` (IPv6 as `tcp:[::1]:6640`), `ssl:IP:PORT` or
    /// `ssh://[USER@]HOST[:PORT][/PATH]`.
    pub fn parse(text: &str) -> Result<Endpoint, OvsdbError> {
        let bad = || OvsdbError::BadEndpoint {
            endpoint: text.to_string(),
        };
        if let Some(rest) = text.strip_prefix("ssh://") {
            return ssh::SshTarget::parse(rest)
                .map(Endpoint::Ssh)
                .ok_or_else(bad);
        }
        let (scheme, rest) = text.split_once(':').ok_or_else(bad)?;
        match scheme {
            "unix" if !rest.is_empty() => Ok(Endpoint::Unix(PathBuf::from(rest))),
            "tcp" => parse_addr(rest).map(Endpoint::Tcp).ok_or_else(bad),
            "ssl" => parse_addr(rest).map(Endpoint::Ssl).ok_or_else(bad),
            _ => Err(bad()),
        }
    }

    /// Whether anyone on the path could read and write this host's switch: `tcp:` to
    /// anything but a loopback address.
    pub fn is_exposed(&self) -> bool {
        matches!(self, Endpoint::Tcp(addr) if !addr.ip().is_loopback())
    }
}

impl std::fmt::Display for Endpoint {
    /// The endpoint as OVS spells it (`unix:PATH`, `tcp:IP:PORT`, `ssl:IP:PORT`), and
    /// `ssh://` as it was written.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix:{}", path.display()),
            Endpoint::Tcp(addr) => write!(f, "tcp:{addr}"),
            Endpoint::Ssl(addr) => write!(f, "ssl:{addr}"),
            Endpoint::Ssh(target) => write!(f, "ssh://{target}"),
        }
    }
}

impl serde::Serialize for Endpoint {
    /// As its text, so the topology model (and its digest) reads as the file did.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn parse_addr(text: &str) -> Option<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    // OVS also writes IPv6 without brackets is ambiguous; only accept IP:PORT forms.
    let (ip, port) = text.rsplit_once(':')?;
    Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?))
}

/// Everything that can go wrong talking to an OVSDB server. Every variant names the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum OvsdbError {
    /// The endpoint text is not one of the forms [`Endpoint::parse`] takes.
    #[error(
        "invalid OVSDB endpoint `{endpoint}`\nhelp: use unix:PATH, ssl:IP:PORT, ssh://[USER@]HOST[:PORT][/PATH] or tcp:IP:PORT"
    )]
    BadEndpoint {
        /// The text given.
        endpoint: String,
    },
    /// An `ssl:` endpoint, but no key, certificate and CA were given.
    #[error("OVSDB endpoint `{endpoint}` needs TLS, but no key, certificate and CA were given\nhelp: pass `--private-key`, `--certificate` and `--ca-cert` (or set OVSNET_PRIVATE_KEY, OVSNET_CERTIFICATE and OVSNET_CA_CERT)")]
    TlsNotConfigured {
        /// The endpoint.
        endpoint: String,
    },
    /// The TLS session was refused, by us (the server's certificate) or by the server
    /// (ours). Nothing is ever retried without TLS.
    #[error("TLS with OVSDB at `{endpoint}` failed: {failure}")]
    Tls {
        /// The endpoint.
        endpoint: String,
        /// What failed and why.
        failure: tls::TlsFailure,
    },
    /// ssh could not carry the connection (host key, authentication, socket).
    #[error("cannot reach OVSDB at `{endpoint}` over ssh: {failure}")]
    Ssh {
        /// The endpoint.
        endpoint: String,
        /// What ssh said.
        failure: ssh::SshFailure,
    },
    /// The connection could not be opened.
    #[error("cannot connect to OVSDB at `{endpoint}`: {cause}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// Why. Part of the message, not a `source()`, so a printed chain says it once.
        cause: std::io::Error,
    },
    /// A request got no answer in time.
    #[error("OVSDB at `{endpoint}` did not answer `{method}` within {timeout:?}")]
    Timeout {
        /// The endpoint.
        endpoint: String,
        /// The request's method.
        method: String,
        /// The timeout.
        timeout: Duration,
    },
    /// Reading or writing the connection failed.
    #[error("connection to OVSDB at `{endpoint}` failed: {cause}")]
    Io {
        /// The endpoint.
        endpoint: String,
        /// Why. Part of the message, not a `source()`, so a printed chain says it once.
        cause: std::io::Error,
    },
    /// The server closed the connection.
    #[error("OVSDB at `{endpoint}` closed the connection")]
    Closed {
        /// The endpoint.
        endpoint: String,
    },
    /// The server sent something that is not valid JSON-RPC or OVSDB.
    #[error("OVSDB at `{endpoint}` sent an unexpected message: {detail}")]
    Protocol {
        /// The endpoint.
        endpoint: String,
        /// What was wrong.
        detail: String,
    },
    /// The server answered a request with a JSON-RPC error.
    #[error("OVSDB at `{endpoint}` refused `{method}`: {error}")]
    Rpc {
        /// The endpoint.
        endpoint: String,
        /// The request's method.
        method: String,
        /// The server's error.
        error: String,
    },
    /// One operation of a transaction failed; nothing of the transaction was committed.
    #[error("OVSDB at `{endpoint}`: operation {index} (`{op}` on `{table}`) failed: {error}{}", details_suffix(.details))]
    Operation {
        /// The endpoint.
        endpoint: String,
        /// Position of the operation in the transaction.
        index: usize,
        /// The operation's name (`wait`, `insert`, ...).
        op: &'static str,
        /// Its table.
        table: String,
        /// OVSDB's error (`timed out`, `constraint violation`, ...).
        error: String,
        /// OVSDB's details, when given.
        details: Option<String>,
    },
    /// Every operation succeeded but the commit failed (for example a constraint
    /// violation); nothing was committed.
    #[error("OVSDB at `{endpoint}`: the transaction was not committed: {error}{}", details_suffix(.details))]
    Commit {
        /// The endpoint.
        endpoint: String,
        /// OVSDB's error.
        error: String,
        /// OVSDB's details, when given.
        details: Option<String>,
    },
}

impl OvsdbError {
    /// The endpoint the error is about.
    pub fn endpoint(&self) -> &str {
        match self {
            OvsdbError::BadEndpoint { endpoint }
            | OvsdbError::TlsNotConfigured { endpoint }
            | OvsdbError::Tls { endpoint, .. }
            | OvsdbError::Ssh { endpoint, .. }
            | OvsdbError::Connect { endpoint, .. }
            | OvsdbError::Timeout { endpoint, .. }
            | OvsdbError::Io { endpoint, .. }
            | OvsdbError::Closed { endpoint }
            | OvsdbError::Protocol { endpoint, .. }
            | OvsdbError::Rpc { endpoint, .. }
            | OvsdbError::Operation { endpoint, .. }
            | OvsdbError::Commit { endpoint, .. } => endpoint,
        }
    }
}

fn details_suffix(details: &Option<String>) -> String {
    match details {
        Some(d) if !d.is_empty() => format!(" ({d})"),
        _ => String::new(),
    }
}

/// A JSON-RPC or OVSDB error value as text.
fn error_text(error: &Json) -> String {
    match error {
        Json::String(s) => s.clone(),
        Json::Object(obj) => match obj.get("error").and_then(Json::as_str) {
            Some(e) => e.to_string(),
            None => error.to_string(),
        },
        other => other.to_string(),
    }
}

/// Checks a `transact` result against the operations sent, returning one result per
/// operation. An `{"error": ...}` at position i < ops.len() is that operation's failure;
/// one past the end is the commit's.
pub fn check_results(endpoint: &str, ops: &[Op], result: Json) -> Result<Vec<Json>, OvsdbError> {
    let Json::Array(results) = result else {
        return Err(OvsdbError::Protocol {
            endpoint: endpoint.to_string(),
            detail: format!("transact result is not an array: {result}"),
        });
    };
    for (index, item) in results.iter().enumerate() {
        let Some(error) = item.get("error").filter(|e| !e.is_null()) else {
            continue;
        };
        let error = error_text(error);
        let details = item
            .get("details")
            .and_then(Json::as_str)
            .map(str::to_string);
        return Err(match ops.get(index) {
            Some(op) => OvsdbError::Operation {
                endpoint: endpoint.to_string(),
                index,
                op: op.name(),
                table: op.table().to_string(),
                error,
                details,
            },
            None => OvsdbError::Commit {
                endpoint: endpoint.to_string(),
                error,
                details,
            },
        });
    }
    if results.len() < ops.len() {
        return Err(OvsdbError::Protocol {
            endpoint: endpoint.to_string(),
            detail: format!("{} results for {} operations", results.len(), ops.len()),
        });
    }
    Ok(results.into_iter().take(ops.len()).collect())
}

/// The rows of a `select` result.
pub fn rows(result: &Json) -> &[Json] {
    result
        .get("rows")
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn select() -> Op {
        Op::Select {
            table: "Bridge".into(),
            conditions: vec![],
            columns: None,
        }
    }

    #[test]
    fn connect_error_chain_repeated_the_io_cause() {
        let err = OvsdbError::Connect {
            endpoint: "unix:/nowhere/db.sock".into(),
            cause: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        let chain = format!("{:#}", anyhow::Error::new(err));
        assert_eq!(
            chain,
            "cannot connect to OVSDB at `unix:/nowhere/db.sock`: entity not found"
        );
    }

    #[test]
    fn endpoints_parse() {
        assert_eq!(
            Endpoint::parse("unix:/run/db.sock").expect("unix"),
            Endpoint::Unix("/run/db.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp:198.18.0.1:6640").expect("tcp"),
            Endpoint::Tcp("198.18.0.1:6640".parse().expect("addr"))
        );
        assert_eq!(
            Endpoint::parse("tcp:[::1]:6640").expect("tcp6"),
            Endpoint::Tcp("[::1]:6640".parse().expect("addr"))
        );
        assert_eq!(
            Endpoint::parse("ssl:198.18.0.1:6640").expect("ssl"),
            Endpoint::Ssl("198.18.0.1:6640".parse().expect("addr"))
        );
        assert!(matches!(
            Endpoint::parse("ssh://root@198.18.0.1:2222/run/db.sock"),
            Ok(Endpoint::Ssh(_))
        ));
        assert!(Endpoint::parse("tcp:198.18.0.1:6640")
            .expect("tcp")
            .is_exposed());
        assert!(!Endpoint::parse("tcp:127.0.0.1:6640")
            .expect("tcp")
            .is_exposed());
        for bad in [
            "",
            "unix:",
            "tcp:host:1",
            "tcp:1.2.3.4",
            "http://x",
            "pssl:1.2.3.4:1",
            "ssh://",
            "ssh://-oProxyCommand=x",
        ] {
            let err = Endpoint::parse(bad).expect_err(bad);
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn failed_operation_is_named_by_index() {
        let result = json!([{}, {"error": "timed out"}, null]);
        let err =
            check_results("unix:x", &[select(), select(), select()], result).expect_err("fails");
        assert_eq!(
            err.to_string(),
            "OVSDB at `unix:x`: operation 1 (`select` on `Bridge`) failed: timed out"
        );
    }

    #[test]
    fn trailing_error_is_a_commit_failure() {
        let result = json!([{"rows": []}, {"error": "constraint violation", "details": "dup"}]);
        let err = check_results("unix:x", &[select()], result).expect_err("fails");
        assert!(
            matches!(err, OvsdbError::Commit { ref error, .. } if error == "constraint violation")
        );
        assert!(
            err.to_string().ends_with("constraint violation (dup)"),
            "{err}"
        );
    }

    #[test]
    fn short_result_is_a_protocol_error() {
        let err = check_results("unix:x", &[select(), select()], json!([{}])).expect_err("fails");
        assert!(matches!(err, OvsdbError::Protocol { .. }));
    }
}
