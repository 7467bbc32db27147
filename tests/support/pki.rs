//! Certificates for TLS tests, made by the tools a real deployment uses: `ovs-pki`
//! (a switch CA and a controller CA, certificates with no usable SAN) and, for
//! ordinary certificates with an `IP:` SAN, `openssl`. Everything lives in a temporary
//! directory removed on drop.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// One `ovs-pki` hierarchy: `switchca` signs the switches, `controllerca` the clients.
pub struct Pki {
    dir: tempfile::TempDir,
}

/// A private key and its certificate.
pub struct Identity {
    /// The key (PEM).
    pub key: PathBuf,
    /// The certificate (PEM).
    pub cert: PathBuf,
}

impl Pki {
    /// `ovs-pki init` in a fresh directory.
    pub fn new() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("ovsnet-pki")
            .tempdir()
            .expect("temp dir");
        let pki = Pki { dir };
        pki.ovs_pki(&["init"]);
        pki
    }

    /// The CA that signs switch (server) certificates: the client's `--ca-cert`.
    pub fn switch_ca(&self) -> PathBuf {
        self.dir.path().join("pki/switchca/cacert.pem")
    }

    /// The CA that signs controller (client) certificates: the server's `--ca-cert`.
    pub fn controller_ca(&self) -> PathBuf {
        self.dir.path().join("pki/controllerca/cacert.pem")
    }

    /// `ovs-pki req+sign NAME switch`.
    pub fn switch(&self, name: &str) -> Identity {
        self.sign(name, "switch")
    }

    /// `ovs-pki req+sign NAME controller`.
    pub fn controller(&self, name: &str) -> Identity {
        self.sign(name, "controller")
    }

    fn sign(&self, name: &str, kind: &str) -> Identity {
        self.ovs_pki(&["req+sign", name, kind]);
        Identity {
            key: self.dir.path().join(format!("{name}-privkey.pem")),
            cert: self.dir.path().join(format!("{name}-cert.pem")),
        }
    }

    fn ovs_pki(&self, args: &[&str]) {
        let dir = self.dir.path();
        let out = Command::new("ovs-pki")
            .current_dir(dir)
            .arg(format!("--dir={}", dir.join("pki").display()))
            .arg(format!("--log={}", dir.join("pki.log").display()))
            .args(args)
            .output()
            .expect("spawn ovs-pki");
        assert!(
            out.status.success(),
            "ovs-pki {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// An ordinary CA made with `openssl`, whose leaf certificates carry an `IP:` SAN.
pub struct SanCa {
    dir: tempfile::TempDir,
}

impl SanCa {
    /// A self-signed CA (EC P-256).
    pub fn new() -> SanCa {
        let dir = tempfile::Builder::new()
            .prefix("ovsnet-sanca")
            .tempdir()
            .expect("temp dir");
        let ca = SanCa { dir };
        ca.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=ovsnet test CA",
            "-addext",
            "basicConstraints=critical,CA:true",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        ca
    }

    /// The CA certificate.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A leaf named `name` with `subjectAltName = IP:ip`.
    pub fn leaf(&self, name: &str, ip: &str) -> Identity {
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let cert = format!("{name}.pem");
        self.openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={name}"),
        ]);
        let ext = self.dir.path().join(format!("{name}.ext"));
        std::fs::write(
            &ext,
            format!("subjectAltName=IP:{ip}\nbasicConstraints=CA:false\n"),
        )
        .expect("write ext");
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            ext.to_str().expect("utf-8"),
        ]);
        Identity {
            key: self.dir.path().join(key),
            cert: self.dir.path().join(cert),
        }
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .current_dir(self.dir.path())
            .args(args)
            .output()
            .expect("spawn openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A path as a `&str` for command lines.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}
