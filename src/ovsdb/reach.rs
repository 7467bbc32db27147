//! Opening the byte stream an endpoint names: a unix or tcp socket, a TLS session, or
//! an ssh pipe, each within the caller's deadline. [`Reach`] holds what the non-local
//! transports need (the TLS material, the ssh command); it is loaded once per run by
//! the caller and shared by every host. This module never reads flags or environment
//! variables, and never falls back from one transport to another.
//!
//! The command line [`Reach::install`]s its `Reach` once per process, and
//! [`super::Client::connect`] uses it, so observe, apply and every other library path
//! that connects by endpoint reach remote hosts without each taking one more
//! parameter; library users that need another one call `Client::connect_via`.

use super::ssh::SshCommand;
use super::stream::Conn;
use super::tls::{Tls, TlsFailure};
use super::{Endpoint, OvsdbError};
use std::io::ErrorKind;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static INSTALLED: OnceLock<Reach> = OnceLock::new();

/// How to reach hosts beyond this machine.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    /// Key, certificate and CA for `ssl:` endpoints; `None` refuses them.
    pub tls: Option<Tls>,
    /// The command that carries `ssh://` endpoints.
    pub ssh: SshCommand,
}

impl Reach {
    /// Makes this how [`super::Client::connect`] reaches hosts for the rest of the
    /// process. Only the first call counts: false when one was installed already.
    pub fn install(self) -> bool {
        INSTALLED.set(self).is_ok()
    }

    /// What [`Reach::install`] installed, or the default (no TLS, plain `ssh`).
    pub fn installed() -> &'static Reach {
        INSTALLED.get_or_init(Reach::default)
    }

    /// Opens the stream to `endpoint`, connecting (and for TLS, completing the
    /// handshake) within `timeout`.
    pub fn open(&self, endpoint: &str, timeout: Duration) -> Result<Box<dyn Conn>, OvsdbError> {
        let deadline = Instant::now() + timeout;
        let connect = |cause: std::io::Error| transport_error(endpoint, cause, "connect", timeout);
        Ok(match Endpoint::parse(endpoint)? {
            Endpoint::Unix(path) => Box::new(UnixStream::connect(&path).map_err(connect)?),
            Endpoint::Tcp(addr) => {
                Box::new(TcpStream::connect_timeout(&addr, timeout).map_err(connect)?)
            }
            Endpoint::Ssl(addr) => {
                let tls = self
                    .tls
                    .as_ref()
                    .ok_or_else(|| OvsdbError::TlsNotConfigured {
                        endpoint: endpoint.to_string(),
                    })?;
                let sock = TcpStream::connect_timeout(&addr, timeout).map_err(connect)?;
                Box::new(
                    tls.connect(sock, addr.ip(), deadline).map_err(|cause| {
                        transport_error(endpoint, cause, "TLS handshake", timeout)
                    })?,
                )
            }
            Endpoint::Ssh(target) => Box::new(self.ssh.spawn(&target, timeout).map_err(connect)?),
        })
    }
}

/// The typed error for an I/O failure on `endpoint` during `what`: a timeout, a TLS
/// refusal, ssh's own words, or the plain I/O error.
pub fn transport_error(
    endpoint: &str,
    cause: std::io::Error,
    what: &str,
    timeout: Duration,
) -> OvsdbError {
    if matches!(cause.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
        return OvsdbError::Timeout {
            endpoint: endpoint.to_string(),
            method: what.to_string(),
            timeout,
        };
    }
    let endpoint = endpoint.to_string();
    if cause.get_ref().is_some_and(|e| e.is::<TlsFailure>()) {
        // Checked just above: the inner error is there and is a TlsFailure.
        if let Some(Ok(failure)) = cause.into_inner().map(|e| e.downcast::<TlsFailure>()) {
            return OvsdbError::Tls {
                endpoint,
                failure: *failure,
            };
        }
        return OvsdbError::Protocol {
            endpoint,
            detail: "bug: a TLS failure lost its cause".into(),
        };
    }
    if let Some(failure) = cause
        .get_ref()
        .and_then(|e| e.downcast_ref::<super::ssh::SshFailure>())
    {
        return OvsdbError::Ssh {
            endpoint,
            failure: failure.clone(),
        };
    }
    if what == "connect" {
        OvsdbError::Connect { endpoint, cause }
    } else {
        OvsdbError::Io { endpoint, cause }
    }
}
