//! The plugin's HTTP server on `/run/docker/plugins/NAME.sock`, and [`dispatch`], which
//! turns one `POST /Subsystem.Method` into a call on the [`Driver`] and its answer into
//! a reply.
//!
//! Why these choices:
//! - **A small synchronous HTTP/1.1 server of our own, one request per connection**:
//!   the plugin's work (OVSDB transactions, netlink) is blocking anyway and requests are
//!   few; a thread per connection serves concurrent `docker run`s without an async
//!   runtime. Every reply says `Connection: close`. tiny_http was tried first and
//!   dropped: it forbids that header and keeps connection threads alive after the server
//!   is gone, so after an in-process plugin restart dockerd sent its next call down a
//!   kept-alive connection nobody answered, and hung (legacy plugins get no timeout).
//! - **The body is parsed whatever the headers say**: Docker sends no Content-Type (only
//!   `Accept: application/vnd.docker.plugins.v1.2+json`), and an empty body for
//!   `Plugin.Activate`, the `GetCapabilities` calls and `GetDefaultAddressSpaces`.
//! - **Every success has a JSON body** (`{}` at least): Docker decodes every 200 reply
//!   and fails an empty one with EOF.
//! - **Failures are 500 with both `Err` (the network driver's key) and `Error` (the IPAM
//!   driver's)**, so either decoder finds the message; on a non-200 Docker reads `Err`.
//! - **The socket is bound only when [`serve`] is called**, which the caller does once its
//!   driver can answer: if `GetCapabilities` fails once, dockerd never asks again.
//! - **A live socket is never stolen**: if another process answers on the path, `serve`
//!   refuses; a stale file (nobody listening) is replaced.

use super::api::*;
use super::Driver;
use serde::Serialize;
use serde_json::json;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The content type Docker's plugin client expects (it does not check it).
pub const CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1+json";

/// The directory Docker discovers socket plugins in.
pub const PLUGIN_DIR: &str = "/run/docker/plugins";

/// An HTTP status and a JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// 200, 404 (unknown method) or 500 (the driver refused).
    pub status: u16,
    /// The JSON body.
    pub body: serde_json::Value,
}

impl Reply {
    fn ok<T: Serialize>(value: &T) -> Reply {
        match serde_json::to_value(value) {
            Ok(body) => Reply { status: 200, body },
            Err(e) => Reply::error(500, format!("bug: cannot encode the reply: {e}")),
        }
    }

    fn empty() -> Reply {
        Reply {
            status: 200,
            body: json!({}),
        }
    }

    fn error(status: u16, message: String) -> Reply {
        Reply {
            status,
            body: json!({"Err": message, "Error": message}),
        }
    }
}

/// Decodes the body, treating an empty one as `{}`.
fn decode<T: serde::de::DeserializeOwned>(method: &str, body: &[u8]) -> Result<T, Reply> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| Reply::error(400, format!("cannot read the `{method}` request: {e}")))
}

/// Runs `call` on the decoded request and encodes its answer.
fn run<Q, T, E>(method: &str, body: &[u8], call: impl FnOnce(Q) -> Result<T, E>) -> Reply
where
    Q: serde::de::DeserializeOwned,
    T: Serialize,
    E: std::fmt::Display,
{
    match decode::<Q>(method, body) {
        Ok(req) => match call(req) {
            Ok(value) => Reply::ok(&value),
            Err(e) => Reply::error(500, e.to_string()),
        },
        Err(reply) => reply,
    }
}

/// One request: `path` is `/Subsystem.Method`, `body` its bytes as received.
pub fn dispatch<D: Driver>(driver: &D, path: &str, body: &[u8]) -> Reply {
    let method = path.trim_start_matches('/');
    let unit = |r: Result<(), D::Error>| r.map(|()| json!({}));
    match method {
        "Plugin.Activate" => Reply::ok(&Manifest {
            implements: vec!["NetworkDriver".into(), "IpamDriver".into()],
        }),
        "NetworkDriver.GetCapabilities" => Reply::ok(&driver.capabilities()),
        "NetworkDriver.CreateNetwork" => run(method, body, |r| unit(driver.create_network(r))),
        "NetworkDriver.DeleteNetwork" => run(method, body, |r| unit(driver.delete_network(r))),
        "NetworkDriver.CreateEndpoint" => run(method, body, |r| driver.create_endpoint(r)),
        "NetworkDriver.DeleteEndpoint" => run(method, body, |r| unit(driver.delete_endpoint(r))),
        "NetworkDriver.EndpointOperInfo" => run(method, body, |r| driver.endpoint_info(r)),
        "NetworkDriver.Join" => run(method, body, |r| driver.join(r)),
        "NetworkDriver.Leave" => run(method, body, |r| unit(driver.leave(r))),
        "NetworkDriver.ProgramExternalConnectivity" => {
            run(method, body, |r| unit(driver.program_external(r)))
        }
        "NetworkDriver.RevokeExternalConnectivity" => {
            run(method, body, |r| unit(driver.revoke_external(r)))
        }
        // Swarm-only and informational calls: a local-scope legacy plugin never needs them.
        "NetworkDriver.DiscoverNew" | "NetworkDriver.DiscoverDelete" => Reply::empty(),
        "NetworkDriver.AllocateNetwork" | "NetworkDriver.FreeNetwork" => Reply::error(
            500,
            "ovsnet serves local-scope networks only; swarm-scoped networks need a managed plugin"
                .into(),
        ),
        "IpamDriver.GetCapabilities" => Reply::ok(&IpamCapabilities::default()),
        "IpamDriver.GetDefaultAddressSpaces" => Reply::ok(&driver.address_spaces()),
        "IpamDriver.RequestPool" => run(method, body, |r| driver.request_pool(r)),
        "IpamDriver.ReleasePool" => run(method, body, |r| unit(driver.release_pool(r))),
        "IpamDriver.RequestAddress" => run(method, body, |r| driver.request_address(r)),
        "IpamDriver.ReleaseAddress" => run(method, body, |r| unit(driver.release_address(r))),
        _ => Reply::error(404, format!("ovsnet does not implement `{method}`")),
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Another process answers on the socket.
    #[error("plugin socket `{0}` is already served by another process\nhelp: stop it first, or give this plugin another name")]
    InUse(PathBuf),
    /// Creating the directory, removing a stale socket or binding failed.
    #[error("cannot listen on `{path}`: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// How long a connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request body accepted (Docker's are a few kilobytes).
const MAX_BODY: usize = 1 << 20;

/// A running server; dropping it (or [`Serving::stop`]) stops accepting, lets requests
/// in flight finish, and removes the socket file.
pub struct Serving {
    socket: PathBuf,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    active: Arc<(Mutex<usize>, Condvar)>,
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

impl Serving {
    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Stops serving: in-flight requests finish, then the socket file is removed.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(acceptor) = self.acceptor.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept; it sees the flag and returns.
        let _ = UnixStream::connect(&self.socket);
        let _ = acceptor.join();
        let _ = std::fs::remove_file(&self.socket);
        let (count, idle) = &*self.active;
        let mut n = count.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            n = idle.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The socket path of plugin `name`: `/run/docker/plugins/NAME.sock`.
pub fn socket_path(name: &str) -> PathBuf {
    Path::new(PLUGIN_DIR).join(format!("{name}.sock"))
}

/// Binds `socket` and serves `driver`, one thread per connection, until the returned
/// handle is dropped. Call it only once the driver can answer.
pub fn serve<D: Driver + 'static>(socket: &Path, driver: Arc<D>) -> Result<Serving, ServeError> {
    let io = |source| ServeError::Io {
        path: socket.to_path_buf(),
        source,
    };
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    if UnixStream::connect(socket).is_ok() {
        return Err(ServeError::InUse(socket.to_path_buf()));
    }
    match std::fs::remove_file(socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let listener = UnixListener::bind(socket).map_err(io)?;
    let stop = Arc::new(AtomicBool::new(false));
    let active = Arc::new((Mutex::new(0usize), Condvar::new()));
    let acceptor = {
        let (stop, active) = (Arc::clone(&stop), Arc::clone(&active));
        std::thread::spawn(move || accept(&listener, &stop, &active, &driver))
    };
    Ok(Serving {
        socket: socket.to_path_buf(),
        stop,
        acceptor: Some(acceptor),
        active,
    })
}

/// Accepts connections until `stop` is set, each served on its own thread.
fn accept<D: Driver + 'static>(
    listener: &UnixListener,
    stop: &AtomicBool,
    active: &Arc<(Mutex<usize>, Condvar)>,
    driver: &Arc<D>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let (driver, active) = (Arc::clone(driver), Arc::clone(active));
        *active.0.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        std::thread::spawn(move || {
            connection(stream, driver.as_ref());
            let (count, idle) = &*active;
            *count.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
            idle.notify_all();
        });
    }
}

/// One connection, one request: the reply says `Connection: close`, so dockerd never
/// keeps a connection to a plugin that may be gone by its next call (a kept-alive
/// connection to a stopped server would hang dockerd: legacy plugins get no timeout).
fn connection<D: Driver>(mut stream: UnixStream, driver: &D) {
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    let reply = match read_request(&mut stream) {
        Ok((path, body)) => dispatch(driver, &path, &body),
        Err(why) => Reply::error(400, why),
    };
    let body = reply.body.to_string();
    let reason = match reply.status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let text = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reply.status,
        body.len()
    );
    // Docker hung up (it gave up on us); there is nobody to tell.
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
}

/// Reads one request: its path and body (by `Content-Length`, or chunked).
fn read_request(stream: &mut UnixStream) -> Result<(String, Vec<u8>), String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > MAX_BODY {
            return Err("request headers too large".into());
        }
        let n = stream
            .read(&mut chunk)
            .map_err(|e| format!("cannot read the request: {e}"))?;
        if n == 0 {
            return Err("connection closed before the request ended".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut rest = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let path = request_line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| format!("bad request line `{request_line}`"))?
        .to_string();
    let mut length = 0usize;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name == "content-length" {
            length = value
                .parse()
                .map_err(|_| format!("bad Content-Length `{value}`"))?;
        } else if name == "transfer-encoding" && value.to_ascii_lowercase().contains("chunked") {
            chunked = true;
        }
    }
    if length > MAX_BODY {
        return Err(format!("request body of {length} bytes is too large"));
    }
    let complete = |rest: &[u8]| {
        if chunked {
            rest.windows(5).any(|w| w == b"0\r\n\r\n")
        } else {
            rest.len() >= length
        }
    };
    while !complete(&rest) {
        let n = stream
            .read(&mut chunk)
            .map_err(|e| format!("cannot read the request body: {e}"))?;
        if n == 0 {
            return Err("connection closed before the request body ended".into());
        }
        rest.extend_from_slice(&chunk[..n]);
        if rest.len() > MAX_BODY {
            return Err("request body too large".into());
        }
    }
    if chunked {
        return dechunk(&rest).map(|body| (path, body));
    }
    rest.truncate(length);
    Ok((path, rest))
}

/// Undoes `Transfer-Encoding: chunked`.
pub(crate) fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_text = String::from_utf8_lossy(&body[..end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| format!("bad chunk size `{size_text}`"))?;
        body = &body[end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = body.get(..size).ok_or("truncated chunk")?;
        out.extend_from_slice(chunk);
        body = body.get(size + 2..).ok_or("truncated chunk end")?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records every call; refuses networks named `bad`.
    #[derive(Default)]
    struct Recording {
        calls: Mutex<Vec<String>>,
    }

    impl Recording {
        fn note(&self, call: String) {
            self.calls.lock().expect("not poisoned").push(call);
        }
    }

    impl Driver for Recording {
        type Error = String;
        fn capabilities(&self) -> Capabilities {
            Capabilities {
                scope: "local".into(),
                connectivity_scope: "global".into(),
                gw_alloc_checker: false,
            }
        }
        fn create_network(&self, req: CreateNetwork) -> Result<(), String> {
            self.note(format!("create_network {}", req.network_id));
            match req.generic_options().get("vlan").map(String::as_str) {
                Some("bad") => Err("VLAN `bad` is not declared".into()),
                _ => Ok(()),
            }
        }
        fn delete_network(&self, req: NetworkRef) -> Result<(), String> {
            self.note(format!("delete_network {}", req.network_id));
            Ok(())
        }
        fn create_endpoint(&self, req: CreateEndpoint) -> Result<CreateEndpointReply, String> {
            self.note(format!("create_endpoint {}", req.interface.address));
            Ok(CreateEndpointReply::default())
        }
        fn delete_endpoint(&self, req: EndpointRef) -> Result<(), String> {
            self.note(format!("delete_endpoint {}", req.endpoint_id));
            Ok(())
        }
        fn endpoint_info(&self, _: EndpointRef) -> Result<EndpointInfo, String> {
            Ok(EndpointInfo::default())
        }
        fn join(&self, req: Join) -> Result<JoinReply, String> {
            self.note(format!("join {}", req.sandbox_key));
            Ok(JoinReply {
                interface_name: InterfaceName {
                    src_name: "ovd-x".into(),
                    dst_prefix: "eth".into(),
                },
                ..JoinReply::default()
            })
        }
        fn leave(&self, req: EndpointRef) -> Result<(), String> {
            self.note(format!("leave {}", req.endpoint_id));
            Ok(())
        }
        fn program_external(&self, req: ProgramExternal) -> Result<(), String> {
            let ports = port_map(&req.options)?;
            self.note(format!("program {}", ports.len()));
            Ok(())
        }
        fn revoke_external(&self, _: EndpointRef) -> Result<(), String> {
            Ok(())
        }
        fn address_spaces(&self) -> AddressSpaces {
            AddressSpaces {
                local_default_address_space: "ovsnet".into(),
                global_default_address_space: "ovsnet".into(),
            }
        }
        fn request_pool(&self, req: RequestPool) -> Result<PoolReply, String> {
            self.note(format!("request_pool {}", req.pool));
            Ok(PoolReply {
                pool_id: "web".into(),
                pool: "10.10.0.0/16".into(),
                data: BTreeMap::new(),
            })
        }
        fn release_pool(&self, req: ReleasePool) -> Result<(), String> {
            self.note(format!("release_pool {}", req.pool_id));
            Ok(())
        }
        fn request_address(&self, req: RequestAddress) -> Result<AddressReply, String> {
            self.note(format!(
                "request_address {} {}",
                req.address,
                req.is_gateway()
            ));
            Err("the range of VLAN `web` is full".into())
        }
        fn release_address(&self, req: ReleaseAddress) -> Result<(), String> {
            self.note(format!("release_address {}", req.address));
            Ok(())
        }
    }

    use std::collections::BTreeMap;

    #[test]
    fn empty_bodies_and_handshake() {
        let d = Recording::default();
        let r = dispatch(&d, "/Plugin.Activate", b"");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body,
            json!({"Implements": ["NetworkDriver", "IpamDriver"]})
        );
        let caps = dispatch(&d, "/NetworkDriver.GetCapabilities", b"");
        assert_eq!(caps.body["Scope"], "local");
        let spaces = dispatch(&d, "/IpamDriver.GetDefaultAddressSpaces", b"");
        assert_eq!(spaces.body["LocalDefaultAddressSpace"], "ovsnet");
    }

    #[test]
    fn success_is_an_empty_object_and_failure_carries_both_keys() {
        let d = Recording::default();
        let ok = dispatch(
            &d,
            "/NetworkDriver.CreateNetwork",
            br#"{"NetworkID":"n1","Options":{"com.docker.network.generic":{"vlan":"web"}}}"#,
        );
        assert_eq!((ok.status, ok.body.clone()), (200, json!({})));
        let bad = dispatch(
            &d,
            "/NetworkDriver.CreateNetwork",
            br#"{"NetworkID":"n2","Options":{"com.docker.network.generic":{"vlan":"bad"}}}"#,
        );
        assert_eq!(bad.status, 500);
        assert_eq!(bad.body["Err"], "VLAN `bad` is not declared");
        assert_eq!(bad.body["Error"], "VLAN `bad` is not declared");
        let ipam = dispatch(
            &d,
            "/IpamDriver.RequestAddress",
            br#"{"PoolID":"web","Address":"","Options":null}"#,
        );
        assert_eq!(ipam.body["Error"], "the range of VLAN `web` is full");
        assert_eq!(
            *d.calls.lock().expect("not poisoned"),
            vec![
                "create_network n1",
                "create_network n2",
                "request_address  false"
            ]
        );
    }

    #[test]
    fn bad_json_and_unknown_methods_are_named() {
        let d = Recording::default();
        let bad = dispatch(&d, "/NetworkDriver.Join", b"{not json");
        assert_eq!(bad.status, 400);
        assert!(bad.body["Err"]
            .as_str()
            .expect("text")
            .contains("NetworkDriver.Join"));
        let unknown = dispatch(&d, "/VolumeDriver.Create", b"{}");
        assert_eq!(unknown.status, 404);
        assert!(d.calls.lock().expect("not poisoned").is_empty());
    }

    #[test]
    fn port_maps_reach_the_driver() {
        let d = Recording::default();
        let body = br#"{"NetworkID":"n","EndpointID":"e","Options":{"com.docker.network.portmap":[{"Proto":6,"IP":"","Port":80,"HostIP":"","HostPort":8080,"HostPortEnd":8080}]}}"#;
        let r = dispatch(&d, "/NetworkDriver.ProgramExternalConnectivity", body);
        assert_eq!(r.status, 200);
        assert_eq!(*d.calls.lock().expect("not poisoned"), vec!["program 1"]);
    }

    /// POSTs like dockerd does: no Content-Type, HTTP/1.1, over the unix socket.
    fn post(socket: &Path, path: &str, body: &str) -> String {
        use std::io::Write;
        let mut s = UnixStream::connect(socket).expect("connect");
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: plugin.moby.localhost\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    }

    #[test]
    fn serves_on_a_unix_socket_and_cleans_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("t.sock");
        let driver = Arc::new(Recording::default());
        let serving = serve(&socket, Arc::clone(&driver)).expect("serves");
        let reply = post(&socket, "/Plugin.Activate", "");
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(
            reply.contains(r#"{"Implements":["NetworkDriver","IpamDriver"]}"#),
            "{reply}"
        );
        let reply = post(&socket, "/NetworkDriver.Leave", "{\"EndpointID\":\"e1\"}\n");
        assert!(reply.ends_with("{}"), "{reply}");
        // A second server on the same live socket is refused, and the first keeps it.
        let again = serve(&socket, Arc::clone(&driver)).expect_err("in use");
        assert!(matches!(again, ServeError::InUse(_)), "{again}");
        serving.stop();
        assert!(!socket.exists());
        // A stale socket file (nobody listening) is replaced.
        drop(UnixListener::bind(&socket).expect("stale"));
        let serving = serve(&socket, driver).expect("replaces a stale socket");
        assert!(post(&socket, "/Plugin.Activate", "").contains("Implements"));
        drop(serving);
        assert!(!socket.exists());
    }
}
