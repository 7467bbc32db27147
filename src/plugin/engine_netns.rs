//! Which network namespace the Docker engine lives in, as the plugin must know it: Docker
//! looks up the interface named in the Join reply *in its own namespace* and moves it
//! into the container from there. On a real host the engine and the switch share one
//! namespace and nothing needs saying. In the lab the agent (and the switch) run inside a
//! lab host's namespace while dockerd runs in the machine's root one, so the agent is
//! told where the engine is (`ovsnet agent --docker-netns engine|PATH`).
//!
//! The namespace is opened once, when the plugin starts, and the file is held for the
//! process's life: a `/proc/PID/ns/net` given at start stays valid after that process
//! exits (a `lab up` that started the agent, a dockerd that restarts), because an open
//! namespace file keeps its namespace. Every later use goes through `/proc/self/fd/N`.
//! A namespace that turns out to be the agent's own is [`Netns::Current`]: no move.

use crate::linux::Netns;
use std::fs::File;
use std::os::fd::{AsRawFd, IntoRawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// Where the engine is, as the operator said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineNetns {
    /// The agent's own namespace (a real host: the default).
    Same,
    /// The namespace of the process serving the Docker API socket (dockerd), found from
    /// the socket's peer credentials.
    Engine,
    /// A namespace file: `/proc/PID/ns/net`, `/run/netns/NAME`.
    File(PathBuf),
}

/// Why the engine's namespace could not be found or opened.
#[derive(Debug, thiserror::Error)]
pub enum EngineNetnsError {
    /// The Docker API socket could not be reached to ask who serves it.
    #[error("cannot reach the Docker engine at `{socket}` to find its network namespace: {source}\nhelp: start dockerd, or give `--docker-netns PATH`")]
    Socket {
        /// The socket.
        socket: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The namespace file cannot be opened.
    #[error("cannot open the Docker engine's network namespace `{path}`: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a network namespace.
    #[error("`{path}` is not a network namespace (it is `{what}`)\nhelp: give a namespace file such as `/proc/PID/ns/net` or `/run/netns/NAME`")]
    NotNetns {
        /// The file.
        path: PathBuf,
        /// What `/proc/self/fd` says it is.
        what: String,
    },
}

impl EngineNetns {
    /// Parses the flag's value: `same`, `engine`, or a path.
    pub fn parse(text: &str) -> Result<EngineNetns, String> {
        match text {
            "" => Err("empty; give `same`, `engine` or a namespace file".into()),
            "same" => Ok(EngineNetns::Same),
            "engine" => Ok(EngineNetns::Engine),
            path if path.starts_with('/') => Ok(EngineNetns::File(PathBuf::from(path))),
            other => Err(format!(
                "`{other}` is neither `same`, `engine` nor an absolute namespace file path"
            )),
        }
    }

    /// Opens the namespace for the process's life (see the module doc). `docker_socket`
    /// is the Engine API socket, asked only for [`EngineNetns::Engine`].
    pub fn resolve(&self, docker_socket: &Path) -> Result<Netns, EngineNetnsError> {
        let path = match self {
            EngineNetns::Same => return Ok(Netns::Current),
            EngineNetns::Engine => {
                let pid = peer_pid(docker_socket).map_err(|source| EngineNetnsError::Socket {
                    socket: docker_socket.to_path_buf(),
                    source,
                })?;
                PathBuf::from(format!("/proc/{pid}/ns/net"))
            }
            EngineNetns::File(path) => path.clone(),
        };
        hold(&path)
    }
}

/// The pid of the process that serves `socket` (`SO_PEERCRED`).
fn peer_pid(socket: &Path) -> std::io::Result<u32> {
    let stream = UnixStream::connect(socket)?;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes and sized for SO_PEERCRED.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::addr_of_mut!(cred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    u32::try_from(cred.pid)
        .ok()
        .filter(|&pid| pid > 0)
        .ok_or_else(|| std::io::Error::other("the socket reports no peer process"))
}

/// Opens `path`, checks it is a network namespace, and keeps it open for good.
fn hold(path: &Path) -> Result<Netns, EngineNetnsError> {
    let open = |source| EngineNetnsError::Open {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(open)?;
    let what = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !what.starts_with("net:[") {
        return Err(EngineNetnsError::NotNetns {
            path: path.to_path_buf(),
            what,
        });
    }
    let own = std::fs::metadata("/proc/self/ns/net").map_err(open)?;
    let theirs = file.metadata().map_err(open)?;
    if (own.dev(), own.ino()) == (theirs.dev(), theirs.ino()) {
        return Ok(Netns::Current);
    }
    // Deliberately never closed: the namespace must stay reachable for the process's
    // life even when the process named by `path` is gone.
    let fd = file.into_raw_fd();
    Ok(Netns::Path(PathBuf::from(format!("/proc/self/fd/{fd}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_parses_and_bad_values_are_named() {
        assert_eq!(EngineNetns::parse("same"), Ok(EngineNetns::Same));
        assert_eq!(EngineNetns::parse("engine"), Ok(EngineNetns::Engine));
        assert_eq!(
            EngineNetns::parse("/proc/1/ns/net"),
            Ok(EngineNetns::File("/proc/1/ns/net".into()))
        );
        let err = EngineNetns::parse("dockerd").expect_err("relative");
        assert!(err.contains("`dockerd`"), "{err}");
        assert!(EngineNetns::parse("").is_err());
    }

    #[test]
    fn our_own_namespace_is_the_current_one_and_a_plain_file_is_refused() {
        let own = EngineNetns::File("/proc/self/ns/net".into());
        assert_eq!(
            own.resolve(Path::new("/unused")).expect("opens"),
            Netns::Current
        );
        let err = EngineNetns::File("/proc/self/status".into())
            .resolve(Path::new("/unused"))
            .expect_err("not a namespace");
        assert!(err.to_string().contains("not a network namespace"), "{err}");
        let err = EngineNetns::Engine
            .resolve(Path::new("/nonexistent/docker.sock"))
            .expect_err("no engine");
        assert!(
            err.to_string().contains("/nonexistent/docker.sock"),
            "{err}"
        );
    }
}
