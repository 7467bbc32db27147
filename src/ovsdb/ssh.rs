//! `ssh://[USER@]HOST[:PORT][/PATH]` endpoints: OVSDB carried over the system's `ssh`.
//!
//! The runner's own OpenSSH does the work, so its keys, agent, `~/.ssh/config` and
//! `known_hosts` apply, and the host needs nothing but `sshd`: `ssh -N -L LOCAL:PATH`
//! forwards a unix socket in a private directory of ours to the socket PATH on the host
//! (a `direct-streamlocal` channel, allowed by sshd's default
//! `AllowStreamLocalForwarding yes`); no program is run there. (`ssh -W` would carry
//! stdio instead, but OpenSSH 9.2's `-W` takes only `host:port`, and given a path it
//! opens no channel at all and waits.) `OVSNET_SSH_COMMAND` replaces `ssh` the way
//! `GIT_SSH_COMMAND` does for git: it is run by `sh`, followed by our arguments.
//!
//! Host key checking stays on (`StrictHostKeyChecking=yes`) and nothing may prompt
//! (`BatchMode=yes`): an unknown or changed host key makes ssh exit, and its words
//! become the error. Waiting for the forwarding and every read and write are bounded by
//! the caller's deadline, so a host that never answers cannot hang a run. The child (and anything it started, in
//! its own process group) is killed and reaped when the connection is dropped.

use super::stream::{set_nonblocking, Conn};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStringExt as _;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the host's OVSDB socket is when the endpoint names no path.
pub const DEFAULT_SOCKET: &str = "/var/run/openvswitch/db.sock";

/// A parsed `ssh://` endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// The login name, if given.
    pub user: Option<String>,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// The port, if given.
    pub port: Option<u16>,
    /// The OVSDB socket on the host, when the endpoint names one.
    pub path: Option<String>,
}

impl SshTarget {
    /// Parses what follows `ssh://`; `None` when it is not of the form
    /// `[USER@]HOST[:PORT][/PATH]`.
    pub fn parse(rest: &str) -> Option<SshTarget> {
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((user, hp)) => (Some(user), hp),
            None => (None, authority),
        };
        let (host, port) = split_port(hostport)?;
        // A leading `-` would be read by ssh as an option.
        let word =
            |s: &str| !s.is_empty() && !s.starts_with('-') && !s.contains(char::is_whitespace);
        if !word(host) || user.is_some_and(|u| !word(u)) {
            return None;
        }
        Some(SshTarget {
            user: user.map(str::to_string),
            host: host.to_string(),
            port,
            path: Some(path).filter(|p| !p.is_empty()).map(str::to_string),
        })
    }

    /// The OVSDB socket on the host: the one named, else [`DEFAULT_SOCKET`].
    pub fn socket(&self) -> &str {
        self.path.as_deref().unwrap_or(DEFAULT_SOCKET)
    }
}

impl std::fmt::Display for SshTarget {
    /// What follows `ssh://`, as written.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            write!(f, "{}", self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        write!(f, "{}", self.path.as_deref().unwrap_or_default())
    }
}

fn split_port(text: &str) -> Option<(&str, Option<u16>)> {
    if let Some(inner) = text.strip_prefix('[') {
        let (host, after) = inner.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(p.strip_prefix(':')?.parse().ok()?))),
        };
    }
    match text.split_once(':') {
        Some((host, port)) => Some((host, Some(port.parse().ok()?))),
        None => Some((text, None)),
    }
}

/// How ssh failed, judged from its last words on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshReason {
    /// The host key is not in `known_hosts`, or differs from it.
    HostKey,
    /// The host refused every key offered.
    Auth,
    /// The forwarding to the OVSDB socket was refused (no socket, no permission).
    Socket,
    /// Anything else (no route, connection refused, timeout): ssh's own words say it.
    Other,
}

/// ssh exited; what it said.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.explain())]
pub struct SshFailure {
    /// The kind of failure.
    pub reason: SshReason,
    /// The host, as given.
    pub host: String,
    /// The socket that was asked for.
    pub socket: String,
    /// ssh's stderr, trimmed.
    pub stderr: String,
}

impl SshFailure {
    fn judge(target: &SshTarget, stderr: String) -> SshFailure {
        let reason = if stderr.contains("Host key verification failed")
            || stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            || stderr.contains("No ED25519 host key is known")
            || stderr.contains("host key is known")
        {
            SshReason::HostKey
        } else if stderr.contains("Permission denied") {
            SshReason::Auth
        } else if stderr.contains("open failed") || stderr.contains("stdio forwarding failed") {
            SshReason::Socket
        } else {
            SshReason::Other
        };
        SshFailure {
            reason,
            host: target.host.clone(),
            socket: target.socket().to_string(),
            stderr,
        }
    }

    fn explain(&self) -> String {
        let said = if self.stderr.is_empty() {
            String::from("ssh exited without a word")
        } else {
            format!("ssh said: {}", self.stderr.replace('\n', " / "))
        };
        match self.reason {
            SshReason::HostKey => format!(
                "the host key of `{}` is unknown or has changed; refused ({said})\nhelp: add the host's key to known_hosts (for example with `ssh-keyscan` checked against the host), never turn host key checking off",
                self.host
            ),
            SshReason::Auth => format!(
                "`{}` refused our ssh key ({said})\nhelp: the runner's key (ssh-agent, `-i` in OVSNET_SSH_COMMAND) must be authorized on the host",
                self.host
            ),
            SshReason::Socket => format!(
                "`{}` would not forward to its OVSDB socket `{}` ({said})\nhelp: check the path in the endpoint and that the ssh user may open the socket",
                self.host, self.socket
            ),
            SshReason::Other => format!("ssh to `{}` failed ({said})", self.host),
        }
    }
}

/// How to start ssh: the override command (`OVSNET_SSH_COMMAND`), if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SshCommand {
    /// A shell command line replacing `ssh`; our arguments follow it.
    pub command: Option<String>,
}

impl SshCommand {
    /// The full command forwarding `local` to `target`'s socket; `connect_timeout`
    /// bounds ssh's own connect.
    pub fn command(&self, target: &SshTarget, local: &Path, connect_timeout: Duration) -> Command {
        let mut args: Vec<String> = Vec::new();
        for option in [
            "BatchMode=yes",
            "StrictHostKeyChecking=yes",
            // A forwarding that cannot be set up ends ssh instead of leaving it idle.
            "ExitOnForwardFailure=yes",
            &format!("ConnectTimeout={}", connect_timeout.as_secs().max(1)),
        ] {
            args.extend(["-o".to_string(), option.to_string()]);
        }
        args.push("-N".to_string());
        args.extend([
            "-L".to_string(),
            format!("{}:{}", local.display(), target.socket()),
        ]);
        if let Some(port) = target.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        if let Some(user) = &target.user {
            args.extend(["-l".to_string(), user.clone()]);
        }
        args.extend(["--".to_string(), target.host.clone()]);
        let mut cmd = match &self.command {
            Some(line) => {
                let mut cmd = Command::new("sh");
                // As git runs GIT_SSH_COMMAND: the shell splits the line, "$@" keeps ours whole.
                cmd.arg("-c")
                    .arg(format!("{line} \"$@\""))
                    .arg("ovsnet-ssh");
                cmd
            }
            None => Command::new("ssh"),
        };
        cmd.args(args);
        cmd
    }

    /// Starts ssh to `target` and connects to its forwarded socket, all by `timeout`.
    pub fn spawn(&self, target: &SshTarget, timeout: Duration) -> io::Result<SshConn> {
        let deadline = Instant::now() + timeout;
        let dir = PrivateDir::new()?;
        let local = dir.0.join("db.sock");
        let mut cmd = self.command(target, &local, timeout);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own group, so a wrapper shell and its ssh are stopped together.
            .process_group(0);
        let mut child = Ssh {
            child: cmd.spawn()?,
            stderr: None,
            target: target.clone(),
        };
        child.stderr = child.child.stderr.take();
        if let Some(stderr) = &child.stderr {
            set_nonblocking(stderr.as_raw_fd())?;
        }
        let stream = child.connect(&local, deadline)?;
        Ok(SshConn {
            stream,
            ssh: child,
            _dir: dir,
        })
    }
}

/// The ssh process, stopped and reaped on drop.
struct Ssh {
    child: Child,
    stderr: Option<ChildStderr>,
    target: SshTarget,
}

impl Ssh {
    /// Waits for ssh to listen on `local` and connects to it; ssh exiting first is
    /// the failure it explains on stderr.
    fn connect(&mut self, local: &Path, deadline: Instant) -> io::Result<UnixStream> {
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(self.failure().unwrap_or_else(|| {
                    io::Error::new(io::ErrorKind::ConnectionAborted, "ssh exited")
                }));
            }
            if let Ok(stream) = UnixStream::connect(local) {
                return Ok(stream);
            }
            if Instant::now() >= deadline {
                return Err(io::ErrorKind::TimedOut.into());
            }
            // ssh gives no readiness signal for a forwarding; a short poll is bounded
            // by the deadline above.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What ssh said on stderr so far, as the error; `None` when it said nothing.
    fn failure(&mut self) -> Option<io::Error> {
        let mut text = Vec::new();
        if let Some(stderr) = self.stderr.as_mut() {
            // Non-blocking: takes what is there, stops at WouldBlock or EOF.
            let _ = stderr.read_to_end(&mut text);
        }
        let text = String::from_utf8_lossy(&text).trim().to_string();
        if text.is_empty() {
            return None;
        }
        Some(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            SshFailure::judge(&self.target, text),
        ))
    }
}

impl Drop for Ssh {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Ok(pgid) = libc::pid_t::try_from(self.child.id()) {
                // SAFETY: signals the process group this connection created (its id is
                // our child's pid), which only holds what we started.
                unsafe { libc::killpg(pgid, libc::SIGTERM) };
            }
        }
        let _ = self.child.wait();
    }
}

/// A directory only we can enter, for the forwarded socket; removed on drop.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> io::Result<PrivateDir> {
        let template = std::env::temp_dir().join("ovsnet-ssh-XXXXXX");
        let mut bytes = template.into_os_string().into_vec();
        bytes.push(0);
        // SAFETY: a NUL-terminated, writable template, as mkdtemp(3) requires.
        let made = unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) };
        if made.is_null() {
            return Err(io::Error::last_os_error());
        }
        bytes.pop();
        Ok(PrivateDir(PathBuf::from(std::ffi::OsString::from_vec(
            bytes,
        ))))
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A connection to a host's OVSDB socket forwarded by a running `ssh -N -L`.
pub struct SshConn {
    stream: UnixStream,
    ssh: Ssh,
    _dir: PrivateDir,
}

impl Conn for SshConn {
    fn read_by(&mut self, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
        match self.stream.read_by(buf, deadline) {
            // The forwarded channel closed: ssh says why (no socket there, no
            // permission) when it knows.
            Ok(0) => {
                std::thread::sleep(
                    Duration::from_millis(50)
                        .min(deadline.saturating_duration_since(Instant::now())),
                );
                match self.ssh.failure() {
                    Some(err) => Err(err),
                    None => Ok(0),
                }
            }
            other => other,
        }
    }

    fn write_by(&mut self, bytes: &[u8], deadline: Instant) -> io::Result<()> {
        match self.stream.write_by(bytes, deadline) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(self.ssh.failure().unwrap_or(e)),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_endpoints_parse() {
        let t = SshTarget::parse("ops@198.18.0.7:2222/run/ovs/db.sock").expect("full");
        assert_eq!(t.user.as_deref(), Some("ops"));
        assert_eq!(t.host, "198.18.0.7");
        assert_eq!(t.port, Some(2222));
        assert_eq!(t.socket(), "/run/ovs/db.sock");
        assert_eq!(t.to_string(), "ops@198.18.0.7:2222/run/ovs/db.sock");
        let t = SshTarget::parse("host-a").expect("bare");
        assert_eq!((t.user.as_deref(), t.port), (None, None));
        assert_eq!(t.socket(), DEFAULT_SOCKET);
        assert_eq!(t.to_string(), "host-a");
        let t = SshTarget::parse("[2001:db8::1]:22").expect("v6");
        assert_eq!(t.host, "2001:db8::1");
        assert_eq!(t.to_string(), "[2001:db8::1]:22");
        for bad in ["", "-oProxyCommand=x", "a:b", "@h", "h:99999", "a b"] {
            assert!(SshTarget::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_command_keeps_host_key_checking_and_the_override_comes_first() {
        let t = SshTarget::parse("root@h:2200/x.sock").expect("target");
        let local = Path::new("/tmp/l.sock");
        let plain = SshCommand::default().command(&t, local, Duration::from_secs(5));
        let args: Vec<_> = plain
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(plain.get_program(), "ssh");
        assert_eq!(
            args.join(" "),
            "-o BatchMode=yes -o StrictHostKeyChecking=yes -o ExitOnForwardFailure=yes \
             -o ConnectTimeout=5 -N -L /tmp/l.sock:/x.sock -p 2200 -l root -- h"
        );
        let custom = SshCommand {
            command: Some("ssh -i /k".into()),
        }
        .command(&t, local, Duration::from_secs(5));
        let args: Vec<_> = custom
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(custom.get_program(), "sh");
        assert_eq!(&args[..3], ["-c", "ssh -i /k \"$@\"", "ovsnet-ssh"]);
    }

    #[test]
    fn a_command_that_exits_talking_becomes_the_error() {
        let t = SshTarget::parse("h").expect("target");
        let fake = SshCommand {
            command: Some("echo 'Host key verification failed.' >&2; exit 255; :".into()),
        };
        let err = fake
            .spawn(&t, Duration::from_secs(10))
            .err()
            .expect("fails");
        let failure = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<SshFailure>())
            .expect("an ssh failure");
        assert_eq!(failure.reason, SshReason::HostKey);
        assert!(failure.to_string().contains("`h`"), "{failure}");
    }

    #[test]
    fn a_command_that_never_answers_times_out() {
        let t = SshTarget::parse("h").expect("target");
        let silent = SshCommand {
            command: Some("exec sleep 30; :".into()),
        };
        let started = Instant::now();
        let err = silent
            .spawn(&t, Duration::from_millis(100))
            .err()
            .expect("silent");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "drop stopped the child"
        );
    }
}
