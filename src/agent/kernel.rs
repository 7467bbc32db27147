//! The kernel seam: observe the objects the agent manages and carry out one step.
//!
//! [`System`] is the real kernel of the namespace the agent runs in: links and addresses
//! over rtnetlink (no `ip` output is parsed), our nftables table through `nft` (the only
//! program it runs, and only with our table's name). It reads nothing else: other links
//! are never listed, other tables never named.
//! TODO(containers): fold the netlink calls into the shared `linux` module once it lands.

use super::nft;
use super::reconcile::{Link, Observed, Step};
use futures_util::TryStreamExt;
use ipnet::Ipv4Net;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::LinkFlags;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{Handle, LinkUnspec};
use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

/// What went wrong in the kernel. Messages name the interface, address or program.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// A netlink request failed.
    #[error("netlink: {what}: {cause}")]
    Netlink {
        /// What was asked.
        what: String,
        /// The kernel's answer.
        cause: String,
    },
    /// A program the agent needs is not installed.
    #[error("`{program}` is not installed\nhelp: install the Debian package `{package}`")]
    Missing {
        /// The program.
        program: &'static str,
        /// Where it comes from.
        package: &'static str,
    },
    /// A program ran and failed.
    #[error("`{command}` failed: {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// What it said.
        stderr: String,
    },
}

/// Observes and changes the kernel.
pub trait Kernel {
    /// The state of the gateway interfaces `ifnames` (missing ones are left out) and of
    /// our nftables table.
    fn observe(&mut self, ifnames: &[String]) -> Result<Observed, KernelError>;
    /// Carries out one step.
    fn apply(&mut self, step: &Step) -> Result<(), KernelError>;
}

/// The kernel of the current network namespace.
pub struct System {
    runtime: tokio::runtime::Runtime,
    handle: Handle,
}

impl System {
    /// Opens a netlink connection in the current namespace.
    pub fn open() -> Result<System, KernelError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| netlink("start the netlink runtime", e))?;
        let (conn, handle, _) = runtime
            .block_on(async { rtnetlink::new_connection() })
            .map_err(|e| netlink("open a netlink socket", e))?;
        runtime.spawn(conn);
        Ok(System { runtime, handle })
    }

    fn link(&self, name: &str) -> Result<Option<(u32, Link)>, KernelError> {
        let handle = self.handle.clone();
        self.runtime.block_on(async move {
            let mut links = handle.link().get().match_name(name.to_string()).execute();
            let msg = match links.try_next().await {
                Ok(Some(msg)) => msg,
                // ENODEV: not there (yet).
                Ok(None) | Err(rtnetlink::Error::NetlinkError(_)) => return Ok(None),
                Err(e) => return Err(netlink(&format!("get link `{name}`"), e)),
            };
            let index = msg.header.index;
            let up = msg.header.flags.contains(LinkFlags::Up);
            let mut addresses = BTreeSet::new();
            for m in v4_addresses(&handle, index).await? {
                if let Some(net) = net_of(&m) {
                    addresses.insert(net);
                }
            }
            Ok(Some((index, Link { up, addresses })))
        })
    }

    fn index(&self, name: &str) -> Result<u32, KernelError> {
        self.link(name)?
            .map(|(i, _)| i)
            .ok_or_else(|| KernelError::Netlink {
                what: format!("find link `{name}`"),
                cause: "no such device".into(),
            })
    }

    fn netlink_step(&self, step: &Step) -> Result<(), KernelError> {
        let handle = self.handle.clone();
        match step {
            Step::Up(name) => {
                let index = self.index(name)?;
                let msg = LinkUnspec::new_with_index(index).up().build();
                self.runtime
                    .block_on(handle.link().set(msg).execute())
                    .map_err(|e| netlink(&format!("set `{name}` up"), e))
            }
            Step::AddAddress(name, net) => {
                let index = self.index(name)?;
                let req = handle
                    .address()
                    .add(index, IpAddr::V4(net.addr()), net.prefix_len());
                self.runtime
                    .block_on(req.execute())
                    .map_err(|e| netlink(&format!("add {net} to `{name}`"), e))
            }
            Step::DelAddress(name, net) => {
                let index = self.index(name)?;
                self.runtime.block_on(async move {
                    for m in v4_addresses(&handle, index).await? {
                        if net_of(&m) == Some(*net) {
                            handle
                                .address()
                                .del(m)
                                .execute()
                                .await
                                .map_err(|e| netlink(&format!("delete {net} from `{name}`"), e))?;
                        }
                    }
                    Ok(())
                })
            }
            _ => Ok(()),
        }
    }
}

async fn v4_addresses(handle: &Handle, index: u32) -> Result<Vec<AddressMessage>, KernelError> {
    let mut stream = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    let mut out = Vec::new();
    while let Some(m) = stream
        .try_next()
        .await
        .map_err(|e| netlink("list addresses", e))?
    {
        // The filter is a hint some kernels ignore: check the index ourselves.
        if m.header.index == index && m.header.family == AddressFamily::Inet {
            out.push(m);
        }
    }
    Ok(out)
}

fn net_of(m: &AddressMessage) -> Option<Ipv4Net> {
    m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(IpAddr::V4(ip)) | AddressAttribute::Address(IpAddr::V4(ip)) => {
            Ipv4Net::new(*ip, m.header.prefix_len).ok()
        }
        _ => None,
    })
}

fn netlink(what: &str, cause: impl std::fmt::Display) -> KernelError {
    KernelError::Netlink {
        what: what.to_string(),
        cause: cause.to_string(),
    }
}

impl Kernel for System {
    fn observe(&mut self, ifnames: &[String]) -> Result<Observed, KernelError> {
        let mut observed = Observed::default();
        for name in ifnames {
            if let Some((_, link)) = self.link(name)? {
                observed.links.insert(name.clone(), link);
            }
        }
        observed.table = listed_table()?;
        Ok(observed)
    }

    fn apply(&mut self, step: &Step) -> Result<(), KernelError> {
        match step {
            Step::Missing(_) => Ok(()),
            Step::ReplaceTable(text) => nft_run(&["-f", "-"], Some(text)),
            Step::DeleteTable => nft_run(&["delete", "table", "inet", "ovsnet"], None),
            other => self.netlink_step(other),
        }
    }
}

/// The digest of our table: `None` when absent (or when `nft` is not installed, in
/// which case no table can exist), `Some("")` when present without our comment.
fn listed_table() -> Result<Option<String>, KernelError> {
    let out = match Command::new("nft")
        .args(["list", "table", "inet", "ovsnet"])
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(failed("nft list table inet ovsnet", e.to_string())),
    };
    if !out.status.success() {
        // "No such file or directory": the table does not exist.
        return Ok(None);
    }
    let listing = String::from_utf8_lossy(&out.stdout);
    Ok(Some(nft::listed_digest(&listing).unwrap_or_default()))
}

fn nft_run(args: &[&str], stdin: Option<&str>) -> Result<(), KernelError> {
    let command = format!("nft {}", args.join(" "));
    let mut child = Command::new("nft")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => KernelError::Missing {
                program: "nft",
                package: "nftables",
            },
            _ => failed(&command, e.to_string()),
        })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes())
            .map_err(|e| failed(&command, e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| failed(&command, e.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(
            &command,
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

fn failed(command: &str, stderr: String) -> KernelError {
    KernelError::Failed {
        command: command.to_string(),
        stderr,
    }
}
