//! The kernel side of a host, typed: network namespaces (by name, pid or path), veth
//! pairs, moving a link into a namespace, MTU, MAC, addresses, the default route, link
//! state, tx checksum offload, and existence checks. `attach`, the agent (the gateway's
//! address) and the Docker plugin use these small functions; nothing else in ovsnet talks
//! to the kernel's links, and nothing here parses the output of `ip` or `ethtool`.
//!
//! # How it talks to the kernel, and why
//!
//! - **rtnetlink** (rust-netlink's `rtnetlink` crate), driven on a small current-thread
//!   tokio runtime that lives only for one call. The rest of ovsnet is synchronous; a
//!   runtime per call costs well under a millisecond next to the switch's reconfiguration
//!   (tens of milliseconds), and keeps tokio out of every other module.
//! - **Namespaces by `setns` on a dedicated OS thread.** A netlink socket belongs to the
//!   namespace of the thread that created it, and namespace membership is per thread: so
//!   every call in another namespace spawns a thread, enters the namespace
//!   (`setns(CLONE_NEWNET)`), opens its netlink socket and runtime there, does its work
//!   and exits. The caller's threads never change namespace, and a tokio worker never
//!   calls `setns` (research/host-networking.md §4.3). [`Netns::Current`] runs on the
//!   caller's namespace without entering anything.
//! - **tx checksum offload** is switched off with the `SIOCETHTOOL` ioctl
//!   (`ETHTOOL_STXCSUM`, value 0), as `ethtool -K IF tx off` does: the userspace datapath
//!   forwards frames from a veth with their checksums never filled in, so ping works and
//!   TCP does not (DESIGN §5). The kernel also drops TSO with it.
//! - Several operations in one namespace share one thread and one netlink connection
//!   through [`in_netns`]; the one-shot functions below are wrappers around it.
//!
//! [`process`] reads a process's name and state from `/proc`, for the supervisors.
//!
//! It never creates or deletes namespaces: they belong to whoever runs the container
//! (Docker, `ip netns`, the lab) and are only entered here.

mod ethtool;
mod link;
pub mod process;

pub use link::{
    add_address, add_default_route, addresses, create_veth, delete_link, link, link_exists, links,
    move_link, set_link, LinkInfo, LinkSettings, Nl,
};

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// A network namespace to work in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Netns {
    /// The caller's own namespace (no `setns`).
    Current,
    /// A named namespace, `/run/netns/NAME` (as `ip netns` makes them).
    Named(String),
    /// The namespace of process `pid` (`/proc/PID/ns/net`).
    Pid(u32),
    /// A namespace file bound somewhere else (Docker's `/var/run/docker/netns/...`).
    Path(PathBuf),
}

impl Netns {
    /// The file that holds the namespace; `None` for [`Netns::Current`].
    pub fn path(&self) -> Option<PathBuf> {
        match self {
            Netns::Current => None,
            Netns::Named(name) => Some(PathBuf::from("/run/netns").join(name)),
            Netns::Pid(pid) => Some(PathBuf::from(format!("/proc/{pid}/ns/net"))),
            Netns::Path(path) => Some(path.clone()),
        }
    }

    /// Whether the namespace can be entered now.
    pub fn exists(&self) -> bool {
        self.path().is_none_or(|p| File::open(p).is_ok())
    }

    /// Opens the namespace file (for `setns` or moving a link into it).
    pub fn open(&self) -> Result<Option<File>, LinuxError> {
        let Some(path) = self.path() else {
            return Ok(None);
        };
        // A named namespace's mount point exists as a plain file only while bound; a
        // name that is not (or no longer) a namespace is refused by setns later.
        File::open(&path)
            .map(Some)
            .map_err(|cause| LinuxError::NoNamespace {
                netns: self.clone(),
                cause: cause.to_string(),
            })
    }
}

impl std::fmt::Display for Netns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Netns::Current => write!(f, "the current namespace"),
            Netns::Named(name) => write!(f, "netns `{name}`"),
            Netns::Pid(pid) => write!(f, "the namespace of pid {pid}"),
            Netns::Path(path) => write!(f, "netns `{}`", path.display()),
        }
    }
}

/// What can go wrong on the kernel side. Every variant names the namespace.
#[derive(Debug, thiserror::Error)]
pub enum LinuxError {
    /// The namespace does not exist or cannot be opened or entered.
    #[error("{netns} cannot be entered: {cause}")]
    NoNamespace {
        /// Which.
        netns: Netns,
        /// The OS error.
        cause: String,
    },
    /// A netlink request failed.
    #[error("{op} `{link}` in {netns}: {cause}")]
    Netlink {
        /// What was asked (`create veth`, `set`, `add address to`, ...).
        op: &'static str,
        /// The link it was about.
        link: String,
        /// Where.
        netns: Netns,
        /// The kernel's answer.
        cause: String,
        /// The errno, when the kernel gave one (EEXIST, ENODEV, ...).
        errno: Option<i32>,
    },
    /// A link that was needed does not exist.
    #[error("no link `{link}` in {netns}")]
    NoLink {
        /// The link.
        link: String,
        /// Where.
        netns: Netns,
    },
    /// The ethtool ioctl failed.
    #[error("cannot switch tx offload off on `{link}` in {netns}: {cause}")]
    Ethtool {
        /// The link.
        link: String,
        /// Where.
        netns: Netns,
        /// The OS error.
        cause: String,
    },
    /// The worker thread or its runtime could not be started, or it panicked.
    #[error("netlink worker for {netns}: {cause}")]
    Worker {
        /// Where.
        netns: Netns,
        /// Why.
        cause: String,
    },
}

/// Runs `work` with a netlink connection inside `netns`: on a dedicated thread that
/// entered it (or, for [`Netns::Current`], on a fresh thread of the caller's namespace,
/// so a caller inside a tokio runtime is never blocked in it), on a current-thread
/// runtime that ends with the call.
pub fn in_netns<T, F, Fut>(netns: &Netns, work: F) -> Result<T, LinuxError>
where
    T: Send + 'static,
    F: FnOnce(Nl) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<T, LinuxError>>,
{
    let file = netns.open()?;
    let ns = netns.clone();
    let worker_ns = netns.clone();
    let handle = std::thread::Builder::new()
        .name("ovsnet-netns".into())
        .spawn(move || -> Result<T, LinuxError> {
            if let Some(file) = &file {
                enter(&ns, file)?;
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .map_err(|e| LinuxError::Worker {
                    netns: ns.clone(),
                    cause: e.to_string(),
                })?;
            runtime.block_on(async move {
                let (connection, handle, _) =
                    rtnetlink::new_connection().map_err(|e| LinuxError::Worker {
                        netns: ns.clone(),
                        cause: e.to_string(),
                    })?;
                let driver = tokio::spawn(connection);
                let result = work(Nl { handle, netns: ns }).await;
                driver.abort();
                result
            })
        })
        .map_err(|e| LinuxError::Worker {
            netns: netns.clone(),
            cause: e.to_string(),
        })?;
    handle.join().unwrap_or_else(|_| {
        Err(LinuxError::Worker {
            netns: worker_ns,
            cause: "the worker panicked".into(),
        })
    })
}

/// Moves the calling thread into the namespace of `file`.
fn enter(netns: &Netns, file: &File) -> Result<(), LinuxError> {
    // SAFETY: setns on a file descriptor we own, affecting only this (dedicated) thread.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(LinuxError::NoNamespace {
            netns: netns.clone(),
            cause: std::io::Error::last_os_error().to_string(),
        })
    }
}

/// Switches tx checksum offload off on `link` in `netns` (see the module doc).
pub fn tx_offload_off(netns: &Netns, link: &str) -> Result<(), LinuxError> {
    let name = link.to_string();
    in_netns(netns, move |nl| async move { nl.tx_offload_off(&name) })
}
