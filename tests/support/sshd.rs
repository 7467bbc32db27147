//! A real `sshd` inside a test switch's namespace, with everything of its own in a
//! temporary directory: host key, a user key authorized for root, `sshd_config`, and a
//! `known_hosts` for the client. It listens only on the address given, is started and
//! stopped by pid, and knows nothing of ovsnet: ovsnet reaches the switch's socket
//! through it with `ssh -W`.

#![allow(dead_code)]

use super::OvsHost;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running sshd.
pub struct Sshd {
    dir: tempfile::TempDir,
    child: Option<Child>,
    addr: String,
    port: u16,
}

impl Sshd {
    /// Starts sshd in `host`'s namespace on `addr:port`.
    pub fn start(host: &OvsHost, addr: &str, port: u16) -> Sshd {
        let dir = tempfile::Builder::new()
            .prefix("ovsnet-sshd")
            .tempdir()
            .expect("temp dir");
        let p = |name: &str| dir.path().join(name);
        for key in ["host_key", "user_key"] {
            keygen(&p(key));
        }
        std::fs::copy(p("user_key.pub"), p("authorized_keys")).expect("authorize");
        let config = format!(
            "ListenAddress {addr}:{port}\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
             StrictModes no\nPermitRootLogin prohibit-password\nAllowStreamLocalForwarding yes\n\
             LogLevel VERBOSE\n",
            p("host_key").display(),
            p("sshd.pid").display(),
            p("authorized_keys").display(),
        );
        std::fs::write(p("sshd_config"), config).expect("write sshd_config");
        let host_pub = std::fs::read_to_string(p("host_key.pub")).expect("host key");
        let mut fields = host_pub.split_whitespace();
        let (kind, key) = (fields.next().expect("type"), fields.next().expect("key"));
        std::fs::write(p("known_hosts"), format!("[{addr}]:{port} {kind} {key}\n"))
            .expect("write known_hosts");
        std::fs::write(p("empty_known_hosts"), "").expect("write empty known_hosts");
        // sshd refuses to start without its privilege separation directory, which the
        // Debian package only creates when its service starts.
        std::fs::create_dir_all("/run/sshd").expect("/run/sshd");
        let log = std::fs::File::create(p("sshd.log")).expect("log");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                host.netns(),
                "/usr/sbin/sshd",
                "-D",
                "-e",
                "-f",
            ])
            .arg(p("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn sshd");
        let sshd = Sshd {
            dir,
            child: Some(child),
            addr: addr.to_string(),
            port,
        };
        sshd.wait_listening();
        sshd
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.log().contains("Server listening") {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("sshd did not start: {}", self.log());
    }

    /// `OVSNET_SSH_COMMAND` for a client holding the authorized key and this host's key.
    pub fn ssh_command(&self) -> String {
        self.ssh_command_with(&self.path("known_hosts"))
    }

    /// The same, with a `known_hosts` that does not know this host.
    pub fn ssh_command_unknown_host(&self) -> String {
        self.ssh_command_with(&self.path("empty_known_hosts"))
    }

    fn ssh_command_with(&self, known_hosts: &std::path::Path) -> String {
        format!(
            "ssh -F /dev/null -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null",
            self.path("user_key").display(),
            known_hosts.display()
        )
    }

    /// `ssh://root@ADDR:PORT/SOCKET` for `host`'s OVSDB socket.
    pub fn endpoint(&self, host: &OvsHost) -> String {
        format!(
            "ssh://root@{}:{}{}",
            self.addr,
            self.port,
            host.path("db.sock").display()
        )
    }

    /// A file in sshd's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// What sshd logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

fn keygen(path: &std::path::Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .expect("spawn ssh-keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
