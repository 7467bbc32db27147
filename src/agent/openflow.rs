//! The OpenFlow seam: read, replace and delete the agent's own rules on a bridge, and
//! send the frame that re-teaches the gateway MAC, through stock `ovs-ofctl` on the
//! bridge's management socket `<rundir>/<bridge>.mgmt`.
//!
//! Why `ovs-ofctl` and not OpenFlow spoken by ovsnet: it ships with every Open vSwitch
//! (Debian `openvswitch-common`, the package of `ovs-vsctl`), matches the switch's
//! version and its Nicira extensions, prints flows in the canonical text the pure core
//! compares, and does atomic replacement with OpenFlow 1.4 bundles. An own encoder would
//! be hundreds of lines of wire format for five kinds of drop rule. The rules are
//! written rarely (at start, after a change, after ovs-vswitchd restarts), so a process
//! per change costs nothing that matters.
//!
//! Every command names our cookie with a full mask (`cookie=0x6f76736e/-1`): the dump
//! reads only our rules, the delete removes only ours, and the replace is one bundle
//! "delete ours, add ours" that the switch applies all or nothing, so there is never a
//! moment without isolation and never a touched foreign flow.

use super::isolation::COOKIE;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What went wrong talking OpenFlow. Messages name the bridge or the command.
#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    /// `ovs-ofctl` is not installed.
    #[error("`ovs-ofctl` is not installed\nhelp: install the Debian package `openvswitch-common`")]
    Missing,
    /// The bridge's management socket is not there (ovs-vswitchd is down or starting).
    #[error("the OpenFlow socket of `{bridge}` (`{}`) is not there yet", path.display())]
    Unreachable {
        /// The bridge.
        bridge: String,
        /// The socket looked for.
        path: PathBuf,
    },
    /// `ovs-ofctl` ran and failed.
    #[error("`{command}` failed: {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// What it said.
        stderr: String,
    },
}

/// Reads and changes the agent's rules on the switch.
pub trait Switch {
    /// Our rules on `bridge`, canonical text without the cookie.
    fn dump(&mut self, bridge: &str) -> Result<BTreeSet<String>, SwitchError>;
    /// Replaces our rules on `bridge` by `flows`, atomically.
    fn replace(&mut self, bridge: &str, flows: &BTreeSet<String>) -> Result<(), SwitchError>;
    /// Deletes our rules on `bridge`.
    fn delete(&mut self, bridge: &str) -> Result<(), SwitchError>;
    /// Sends `frame` (hex) into `bridge` as if it came in on `ofport`, through `NORMAL`.
    fn teach(&mut self, bridge: &str, ofport: u32, frame: &str) -> Result<(), SwitchError>;
}

/// The switch of one Open vSwitch instance, by its run directory.
pub struct OfCtl {
    rundir: PathBuf,
}

impl OfCtl {
    /// The instance whose OVSDB is `endpoint`. ovs-vswitchd puts its management sockets
    /// in its run directory, which holds `db.sock` too on every layout ovsnet meets
    /// (`/var/run/openvswitch`, the lab's and the tests' private directories), so a
    /// `unix:` endpoint names it; otherwise `OVS_RUNDIR`, as `ovs-ofctl` itself does.
    pub fn for_endpoint(endpoint: &str) -> OfCtl {
        let from_socket = endpoint
            .strip_prefix("unix:")
            .and_then(|p| Path::new(p).parent())
            .map(Path::to_path_buf);
        let rundir = from_socket
            .or_else(|| std::env::var_os("OVS_RUNDIR").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/var/run/openvswitch"));
        OfCtl { rundir }
    }

    /// The `ovs-ofctl` target of `bridge`, checked to exist.
    fn target(&self, bridge: &str) -> Result<String, SwitchError> {
        let path = self.rundir.join(format!("{bridge}.mgmt"));
        if !path.exists() {
            return Err(SwitchError::Unreachable {
                bridge: bridge.to_string(),
                path,
            });
        }
        Ok(format!("unix:{}", path.display()))
    }
}

/// `cookie=0x6f76736e/-1`: ours and only ours.
fn our_cookie() -> String {
    format!("cookie={COOKIE:#x}/-1")
}

impl Switch for OfCtl {
    fn dump(&mut self, bridge: &str) -> Result<BTreeSet<String>, SwitchError> {
        let target = self.target(bridge)?;
        let cookie = our_cookie();
        let out = ofctl(
            &["--no-stats", "--no-names", "dump-flows", &target, &cookie],
            None,
        )?;
        Ok(parse_dump(&out))
    }

    fn replace(&mut self, bridge: &str, flows: &BTreeSet<String>) -> Result<(), SwitchError> {
        let target = self.target(bridge)?;
        let mut bundle = format!("delete {}\n", our_cookie());
        for flow in flows {
            bundle += &format!("add cookie={COOKIE:#x},{flow}\n");
        }
        ofctl(&["--bundle", "add-flows", &target, "-"], Some(&bundle)).map(|_| ())
    }

    fn delete(&mut self, bridge: &str) -> Result<(), SwitchError> {
        let target = self.target(bridge)?;
        ofctl(&["del-flows", &target, &our_cookie()], None).map(|_| ())
    }

    fn teach(&mut self, bridge: &str, ofport: u32, frame: &str) -> Result<(), SwitchError> {
        let target = self.target(bridge)?;
        let packet = format!("in_port={ofport} packet={frame} actions=NORMAL");
        ofctl(&["packet-out", &target, &packet], None).map(|_| ())
    }
}

/// The rules of a `dump-flows --no-stats --no-names` listing, without the cookie field
/// (the dump was filtered by our cookie, so every line carries it).
pub fn parse_dump(listing: &str) -> BTreeSet<String> {
    listing
        .lines()
        .map(str::trim)
        .filter_map(|line| {
            let rest = line.strip_prefix("cookie=")?;
            let (_, flow) = rest.split_once(", ")?;
            Some(flow.trim().to_string())
        })
        .collect()
}

fn ofctl(args: &[&str], stdin: Option<&str>) -> Result<String, SwitchError> {
    let command = format!("ovs-ofctl {}", args.join(" "));
    let mut child = Command::new("ovs-ofctl")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SwitchError::Missing,
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
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(failed(&command, stderr))
    }
}

fn failed(command: &str, stderr: String) -> SwitchError {
    SwitchError::Failed {
        command: command.to_string(),
        stderr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_is_read_without_header_or_cookie() {
        let listing = "NXST_FLOW reply (xid=0x4):\n \
            cookie=0x6f76736e, priority=40000,in_port=2,dl_vlan=10,dl_src=02:00:00:00:0a:01 actions=drop\n \
            cookie=0x6f76736e, priority=40000,udp,in_port=2,dl_vlan=10,tp_dst=67 actions=drop\n";
        let flows = parse_dump(listing);
        assert_eq!(flows.len(), 2);
        assert!(flows.contains("priority=40000,udp,in_port=2,dl_vlan=10,tp_dst=67 actions=drop"));
    }

    #[test]
    fn the_run_directory_is_the_one_of_the_database_socket() {
        let s = OfCtl::for_endpoint("unix:/run/x/db.sock");
        assert_eq!(s.rundir, PathBuf::from("/run/x"));
        let err = s.target("br-ovsnet").unwrap_err().to_string();
        assert!(err.contains("/run/x/br-ovsnet.mgmt"), "{err}");
    }
}
