//! The kernel seam: observe the objects the agent manages and carry out one step.
//!
//! [`System`] is the real kernel of the namespace the agent runs in: links and addresses
//! over rtnetlink through the shared [`crate::linux`] module (no `ip` output is parsed), our nftables table through `nft` (the only
//! program it runs, and only with our table's name). It reads nothing else: other links
//! are never listed, other tables never named.

use super::nft;
use super::reconcile::{Link, Observed, Step};
use crate::linux::{self, LinkSettings, LinuxError, Netns};
use std::io::Write;
use std::process::{Command, Stdio};

/// What went wrong in the kernel. Messages name the interface, address or program.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// A netlink request failed (the message names the link and the operation).
    #[error(transparent)]
    Netlink(#[from] LinuxError),
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

/// The kernel of the current network namespace, through the shared [`crate::linux`]
/// module (one netlink connection per observation or step).
pub struct System;

impl System {
    /// The kernel of the namespace the agent runs in.
    pub fn open() -> Result<System, KernelError> {
        Ok(System)
    }

    /// The links `names` that exist, with their state and IPv4 addresses.
    fn links(&self, names: &[String]) -> Result<Vec<(String, Link)>, KernelError> {
        let names = names.to_vec();
        linux::in_netns(&Netns::Current, move |nl| async move {
            let mut out = Vec::new();
            for name in names {
                let Some(info) = nl.link(&name).await? else {
                    continue; // not there (yet)
                };
                let addresses = nl.ipv4_addresses(&name).await?.into_iter().collect();
                out.push((
                    name,
                    Link {
                        up: info.up,
                        addresses,
                    },
                ));
            }
            Ok(out)
        })
        .map_err(KernelError::from)
    }

    fn netlink_step(&self, step: &Step) -> Result<(), KernelError> {
        let step = step.clone();
        linux::in_netns(&Netns::Current, move |nl| async move {
            match &step {
                Step::Up(name) => {
                    let up = LinkSettings {
                        up: Some(true),
                        ..LinkSettings::default()
                    };
                    nl.set(name, &up).await
                }
                Step::AddAddress(name, net) => {
                    nl.add_address(name, net.addr(), net.prefix_len()).await
                }
                Step::DelAddress(name, net) => nl.del_address(name, *net).await,
                _ => Ok(()),
            }
        })
        .map_err(KernelError::from)
    }
}

impl Kernel for System {
    fn observe(&mut self, ifnames: &[String]) -> Result<Observed, KernelError> {
        Ok(Observed {
            links: self.links(ifnames)?.into_iter().collect(),
            table: listed_table()?,
        })
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
