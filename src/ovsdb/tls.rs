//! `ssl:` endpoints: mutual TLS with rustls, as OVS's own tools do it.
//!
//! OVS always asks the client for a certificate and checks the peer's chain against its
//! CA, but never a host name (`lib/stream-ssl.c` calls no `X509_check_host`), and
//! `ovs-pki` certificates carry no usable SAN (their CN and SAN are `NAME id:UUID`). So
//! the server is verified the way OVS verifies it: the whole chain up to the CA given by
//! `--ca-cert`, its validity dates and the handshake signature, but not the name
//! ([`ChainOnly`]). Whoever holds a certificate signed by that CA is trusted, exactly
//! as every OVS client trusts it; a pipeline that wants names checked issues each host
//! its own CA or certificate. There is no plaintext fallback: a failed handshake is an
//! error, never a retry without TLS.
//!
//! This module owns loading the key material and the TLS session over one socket; it
//! never reads environment variables or flags (the CLI does).

use super::stream::{recv_now, send_now, wait, Conn, Ready};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore};
use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// PEM text and where it came from, for messages: a file (`` `/etc/ovsnet/key.pem` ``)
/// or a pipeline secret holding the text itself (`OVSNET_PRIVATE_KEY`).
#[derive(Clone, PartialEq, Eq)]
pub struct Pem {
    /// Where the text came from.
    pub origin: String,
    /// The PEM text.
    pub text: Vec<u8>,
}

impl std::fmt::Debug for Pem {
    /// Never prints the text: it may be a private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pem")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Pem {
    /// Reads a PEM file.
    pub fn read(what: &'static str, path: &Path) -> Result<Pem, TlsSetupError> {
        let origin = format!("`{}`", path.display());
        let text = std::fs::read(path).map_err(|e| TlsSetupError::File {
            what,
            origin: origin.clone(),
            reason: e.to_string(),
        })?;
        Ok(Pem { origin, text })
    }
}

/// The three parts of a TLS client, as OVS names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `--private-key`: the client's private key.
    pub private_key: Pem,
    /// `--certificate`: the client's certificate, optionally followed by its chain.
    pub certificate: Pem,
    /// `--ca-cert`: the CA the servers' certificates must be signed by.
    pub ca_cert: Pem,
}

/// Why the TLS key material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A file could not be read or holds no usable PEM item.
    #[error("cannot use {what} {origin}: {reason}")]
    File {
        /// Which flag's file (`--private-key`, ...).
        what: &'static str,
        /// The file or variable.
        origin: String,
        /// Why.
        reason: String,
    },
    /// rustls refused the combination (a key that does not match the certificate, an
    /// unsupported key type such as DSA, an X.509 v1 certificate).
    #[error("cannot use the certificate {certificate} with the key {private_key}: {reason}")]
    Config {
        /// The certificate's origin.
        certificate: String,
        /// The key's origin.
        private_key: String,
        /// rustls's reason.
        reason: String,
    },
}

/// A loaded TLS client configuration, cheap to clone and share between hosts.
#[derive(Clone)]
pub struct Tls {
    config: Arc<ClientConfig>,
    ca_cert: String,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("ca_cert", &self.ca_cert)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads the key, certificate chain and CA.
    pub fn load(files: &TlsFiles) -> Result<Tls, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = certificates("--certificate", &files.certificate)?;
        let key = PrivateKeyDer::from_pem_slice(&files.private_key.text).map_err(|e| {
            TlsSetupError::File {
                what: "--private-key",
                origin: files.private_key.origin.clone(),
                reason: pem_reason(&e),
            }
        })?;
        let mut roots = RootCertStore::empty();
        for ca in certificates("--ca-cert", &files.ca_cert)? {
            roots.add(ca).map_err(|e| TlsSetupError::File {
                what: "--ca-cert",
                origin: files.ca_cert.origin.clone(),
                reason: e.to_string(),
            })?;
        }
        let verifier = Arc::new(ChainOnly {
            roots,
            provider: provider.clone(),
        });
        let config_error = |e: rustls::Error| TlsSetupError::Config {
            certificate: files.certificate.origin.clone(),
            private_key: files.private_key.origin.clone(),
            reason: e.to_string(),
        };
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(config_error)?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(chain, key)
            .map_err(config_error)?;
        // No session resumption: ovsdb-server (OpenSSL, verifying clients, no session id
        // context set) aborts a resumed handshake ("session id context uninitialized",
        // seen with OVS 3.1), and each host is connected to only a few times per run.
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Tls {
            config: Arc::new(config),
            ca_cert: files.ca_cert.origin.clone(),
        })
    }

    /// Starts a TLS session over a connected socket and completes the handshake by
    /// `deadline`. `ip` is only used as the SNI-less server name rustls requires.
    pub fn connect(
        &self,
        sock: TcpStream,
        ip: std::net::IpAddr,
        deadline: Instant,
    ) -> io::Result<TlsConn> {
        let session = ClientConnection::new(self.config.clone(), ServerName::IpAddress(ip.into()))
            .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
        let mut conn = TlsConn {
            session,
            sock,
            ca_cert: self.ca_cert.clone(),
        };
        conn.handshake(deadline)?;
        Ok(conn)
    }

    /// Where the CA servers are checked against came from, for messages.
    pub fn ca_cert(&self) -> &str {
        &self.ca_cert
    }
}

fn certificates(
    what: &'static str,
    pem: &Pem,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let bad = |reason: String| TlsSetupError::File {
        what,
        origin: pem.origin.clone(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(&pem.text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(pem_reason(&e)))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in the file".into()));
    }
    Ok(certs)
}

fn pem_reason(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => {
            "no PEM item of that kind in the file".into()
        }
        other => format!("{other:?}"),
    }
}

/// Verifies a server the way OVS does: the chain up to the CA, but no host name.
///
/// rustls's `verify_server_cert_signed_by_trust_anchor` checks the signatures along the
/// chain, validity dates and key usage; `verify_server_name` is deliberately not called,
/// because OVS never checks one and `ovs-pki` certificates hold none that matches (see
/// the module doc). The handshake signatures are checked as rustls always does.
#[derive(Debug)]
struct ChainOnly {
    roots: RootCertStore,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// One TLS session over a TCP socket. The socket is only ever read and written
/// without blocking; every wait is a `poll` bounded by the caller's deadline.
pub struct TlsConn {
    session: ClientConnection,
    sock: TcpStream,
    ca_cert: String,
}

/// A TLS session failed: rustls's error and the CA the server was checked against.
#[derive(Debug, thiserror::Error)]
#[error("{}", explain(&self.error, &self.ca_cert))]
pub struct TlsFailure {
    /// What rustls reported (a certificate it rejected, an alert the server sent).
    pub error: rustls::Error,
    /// Where the `--ca-cert` came from.
    pub ca_cert: String,
}

impl TlsConn {
    fn handshake(&mut self, deadline: Instant) -> io::Result<()> {
        while self.session.is_handshaking() {
            if self.session.wants_write() {
                self.flush_by(deadline)?;
            } else if self.pull(deadline)? == 0 {
                return Err(ErrorKind::UnexpectedEof.into());
            }
        }
        self.flush_by(deadline)
    }

    /// Sends every TLS record rustls has queued.
    fn flush_by(&mut self, deadline: Instant) -> io::Result<()> {
        while self.session.wants_write() {
            match self.session.write_tls(&mut Socket(&self.sock)) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    wait(self.sock.as_raw_fd(), Ready::Write, deadline)?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads TLS records from the socket (waiting by `deadline`) and processes them;
    /// the number of bytes read, 0 when the peer closed.
    fn pull(&mut self, deadline: Instant) -> io::Result<usize> {
        loop {
            match self.session.read_tls(&mut Socket(&self.sock)) {
                Ok(n) => {
                    // A protocol error or an alert from the server (for example one
                    // refusing our certificate) surfaces here, typed for the client.
                    if let Err(error) = self.session.process_new_packets() {
                        // Best effort: the alert telling the server why we hang up.
                        let _ = self.session.write_tls(&mut Socket(&self.sock));
                        let ca_cert = self.ca_cert.clone();
                        return Err(io::Error::new(
                            ErrorKind::InvalidData,
                            TlsFailure { error, ca_cert },
                        ));
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    wait(self.sock.as_raw_fd(), Ready::Read, deadline)?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Conn for TlsConn {
    fn read_by(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        loop {
            match self.session.reader().read(buf) {
                Ok(n) => return Ok(n),
                // The peer closed without close_notify: for OVSDB that is a close.
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            self.flush_by(deadline)?;
            if self.pull(deadline)? == 0 {
                // Let the reader report what is left, then the close.
                match self.session.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == ErrorKind::InvalidData => return Err(e),
                    Err(_) => return Ok(0),
                }
            }
        }
    }

    fn write_by(&mut self, bytes: &[u8], deadline: Instant) -> io::Result<()> {
        self.session.writer().write_all(bytes)?;
        self.flush_by(deadline)
    }
}

impl Drop for TlsConn {
    fn drop(&mut self) {
        // A polite close, so the server logs no "unexpected eof"; never waits.
        self.session.send_close_notify();
        let _ = self.session.write_tls(&mut Socket(&self.sock));
    }
}

/// The socket under a TLS session, read and written without blocking.
struct Socket<'a>(&'a TcpStream);

impl Read for Socket<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        recv_now(self.0.as_raw_fd(), buf)
    }
}

impl Write for Socket<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        send_now(self.0.as_raw_fd(), bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Why a TLS session failed, in words for the person at the terminal.
pub fn explain(error: &rustls::Error, ca_cert: &str) -> String {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    let ca = format!("the CA in {ca_cert}");
    match error {
        E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => format!(
            "the server's certificate is not signed by {ca}\nhelp: pass the CA that signed the switches' certificates as `--ca-cert` (for ovs-pki, `switchca/cacert.pem`)"
        ),
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "the server's certificate has expired".into()
        }
        E::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
            "the server's certificate is not valid yet (check the clocks)".into()
        }
        E::InvalidCertificate(other) => format!("the server's certificate is unusable: {other:?}"),
        E::AlertReceived(
            A::UnknownCA | A::BadCertificate | A::CertificateRequired | A::AccessDenied
            | A::UnsupportedCertificate | A::CertificateUnknown,
        ) => format!(
            "the server refused our client certificate ({error})\nhelp: the switch's ovsdb-server must trust the CA that signed `--certificate` (its own `--ca-cert`)"
        ),
        E::AlertReceived(A::CertificateExpired) => {
            format!("the server refused our client certificate as expired ({error})")
        }
        other => format!("TLS failed: {other}"),
    }
}
