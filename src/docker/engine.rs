//! A small synchronous client of the Docker Engine API over its unix socket
//! (`/var/run/docker.sock`): what `attach --docker` needs (a container's pid, hence its
//! network namespace) and what the plugin's reconciler needs (which networks and
//! endpoints Docker still has).
//!
//! It speaks HTTP/1.0 with one request per connection, so the engine answers with a
//! plain body and closes (no keep-alive, no chunking to undo, though a chunked body is
//! decoded if one comes). Every call has a deadline. It must never be called from inside
//! a plugin request handler: dockerd may be waiting on that very handler (it holds its
//! locks while it calls the plugin), so the call would hang both.

use serde::Deserialize;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the engine listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Why an engine call failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The socket could not be reached, or the connection broke.
    #[error("cannot talk to the Docker engine at `{socket}`: {source}")]
    Io {
        /// The socket.
        socket: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The engine answered something that is not HTTP with JSON.
    #[error("the Docker engine sent an unexpected answer to `{path}`: {detail}")]
    Protocol {
        /// The request path.
        path: String,
        /// What was wrong.
        detail: String,
    },
    /// The engine refused the request (its message is quoted).
    #[error("the Docker engine answered `{path}` with {status}: {message}")]
    Status {
        /// The request path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The engine's `message`.
        message: String,
    },
    /// No container has that name or ID.
    #[error("no Docker container `{0}`\nhelp: `docker ps -a` lists them")]
    NoSuchContainer(String),
    /// The container exists but is not running, so it has no network namespace.
    #[error("Docker container `{0}` is not running\nhelp: start it first (`docker start {0}`)")]
    NotRunning(String),
}

/// A client of one engine.
#[derive(Debug, Clone)]
pub struct Engine {
    socket: PathBuf,
    timeout: Duration,
}

/// What `attach --docker` needs to know about a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// The full container ID.
    pub id: String,
    /// Its name, without the leading `/`.
    pub name: String,
    /// The pid of its init process; its network namespace is `/proc/PID/ns/net`.
    pub pid: u32,
}

/// A network as `GET /networks` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Network {
    /// The full network ID.
    #[serde(rename = "Id")]
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its driver (a plugin's name for ours).
    pub driver: String,
}

impl Engine {
    /// A client of the engine listening on `socket`.
    pub fn new(socket: impl Into<PathBuf>, timeout: Duration) -> Engine {
        Engine {
            socket: socket.into(),
            timeout,
        }
    }

    /// The socket this client talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The running container `name_or_id`.
    pub fn container(&self, name_or_id: &str) -> Result<Container, EngineError> {
        let path = format!("/containers/{}/json", escape(name_or_id));
        let json = match self.get(&path) {
            Err(EngineError::Status { status: 404, .. }) => {
                return Err(EngineError::NoSuchContainer(name_or_id.to_string()))
            }
            other => other?,
        };
        let field = |detail: &str| EngineError::Protocol {
            path: path.clone(),
            detail: detail.to_string(),
        };
        let id = json["Id"].as_str().ok_or_else(|| field("no `Id`"))?;
        let name = json["Name"].as_str().unwrap_or_default();
        let running = json["State"]["Running"].as_bool().unwrap_or(false);
        let pid = json["State"]["Pid"].as_u64().unwrap_or(0);
        if !running || pid == 0 {
            return Err(EngineError::NotRunning(name_or_id.to_string()));
        }
        Ok(Container {
            id: id.to_string(),
            name: name.trim_start_matches('/').to_string(),
            pid: u32::try_from(pid).map_err(|_| field("`State.Pid` out of range"))?,
        })
    }

    /// The full ID of container `name_or_id`, running or not.
    pub fn container_id(&self, name_or_id: &str) -> Result<String, EngineError> {
        let path = format!("/containers/{}/json", escape(name_or_id));
        match self.get(&path) {
            Ok(json) => json["Id"]
                .as_str()
                .map(str::to_string)
                .ok_or(EngineError::Protocol {
                    path,
                    detail: "no `Id`".into(),
                }),
            Err(EngineError::Status { status: 404, .. }) => {
                Err(EngineError::NoSuchContainer(name_or_id.to_string()))
            }
            Err(e) => Err(e),
        }
    }

    /// Every network the engine has.
    pub fn networks(&self) -> Result<Vec<Network>, EngineError> {
        let path = "/networks";
        let json = self.get(path)?;
        serde_json::from_value(json).map_err(|e| EngineError::Protocol {
            path: path.to_string(),
            detail: e.to_string(),
        })
    }

    /// The endpoint IDs of network `id`'s containers (running ones only: Docker deletes
    /// an endpoint when its container stops), keyed by container ID.
    pub fn network_endpoints(&self, id: &str) -> Result<BTreeMap<String, String>, EngineError> {
        let path = format!("/networks/{}", escape(id));
        let json = self.get(&path)?;
        let mut out = BTreeMap::new();
        if let Some(Json::Object(containers)) = json.get("Containers") {
            for (container, info) in containers {
                if let Some(endpoint) = info.get("EndpointID").and_then(Json::as_str) {
                    out.insert(container.clone(), endpoint.to_string());
                }
            }
        }
        Ok(out)
    }

    /// `GET path`, returning the JSON body of a 2xx answer.
    pub fn get(&self, path: &str) -> Result<Json, EngineError> {
        let io = |source| EngineError::Io {
            socket: self.socket.clone(),
            source,
        };
        let mut stream = UnixStream::connect(&self.socket).map_err(io)?;
        stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
        stream.set_write_timeout(Some(self.timeout)).map_err(io)?;
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: docker\r\nAccept: application/json\r\n\r\n");
        stream.write_all(request.as_bytes()).map_err(io)?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(io)?;
        let (status, body) = parse_response(&raw).map_err(|detail| EngineError::Protocol {
            path: path.to_string(),
            detail,
        })?;
        let json: Json = serde_json::from_slice(&body).map_err(|e| EngineError::Protocol {
            path: path.to_string(),
            detail: format!("the body is not JSON: {e}"),
        })?;
        if !(200..300).contains(&status) {
            let message = json["message"].as_str().unwrap_or_default().to_string();
            return Err(EngineError::Status {
                path: path.to_string(),
                status,
                message,
            });
        }
        Ok(json)
    }
}

/// Percent-escapes what would break a path segment (names are `[a-zA-Z0-9][a-zA-Z0-9_.-]`,
/// IDs hex, so this only matters for bad input).
fn escape(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The status and body of a raw HTTP response.
fn parse_response(raw: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line `{status_line}`"))?;
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if chunked {
        return super::server::dechunk(body).map(|b| (status, b));
    }
    Ok((status, body.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_chunked_bodies() {
        let plain = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"a\":1}";
        assert_eq!(
            parse_response(plain).expect("parses"),
            (200, b"{\"a\":1}".to_vec())
        );
        let chunked = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(
            parse_response(chunked).expect("parses"),
            (404, b"{\"a\":1}".to_vec())
        );
        assert!(parse_response(b"garbage").is_err());
    }

    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(escape("web-1.a_b"), "web-1.a_b");
        assert_eq!(escape("a/../b c"), "a%2F..%2Fb%20c");
    }

    #[test]
    fn a_missing_engine_is_named() {
        let engine = Engine::new("/nonexistent/docker.sock", Duration::from_secs(1));
        let err = engine.networks().expect_err("no engine");
        assert!(
            err.to_string().contains("/nonexistent/docker.sock"),
            "{err}"
        );
    }
}
