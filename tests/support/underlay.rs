//! A runner namespace wired to test switches over an underlay, so ovsnet reaches its
//! hosts only the way a pipeline does: over the network, by address. The runner
//! namespace holds a Linux bridge; each attached host gets a veth whose host end `ul0`
//! carries its 198.18.0.0/15 address. Everything is created inside namespaces (never
//! the root one), and dropping the runner namespace removes every veth with it.

#![allow(dead_code)]

use super::OvsHost;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The runner's namespace and its bridge.
pub struct Underlay {
    netns: String,
    links: usize,
}

/// The runner's own underlay address.
pub const RUNNER_IP: &str = "198.19.255.254";

impl Underlay {
    /// A fresh runner namespace with `lo` up and a bridge holding [`RUNNER_IP`].
    pub fn new() -> Underlay {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let netns = format!("ovsnet-r{}-{n}", std::process::id());
        ip(&["netns", "add", &netns]);
        let underlay = Underlay { netns, links: 0 };
        let ns = underlay.netns.clone();
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&["-n", &ns, "link", "add", "br-ul", "type", "bridge"]);
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{RUNNER_IP}/15"),
            "dev",
            "br-ul",
        ]);
        ip(&["-n", &ns, "link", "set", "br-ul", "up"]);
        underlay
    }

    /// Wires `host` to the underlay with address `addr` (in 198.18.0.0/15).
    pub fn attach(&mut self, host: &OvsHost, addr: &str) {
        let ns = self.netns.clone();
        let port = format!("ul{}", self.links);
        self.links += 1;
        ip(&[
            "-n",
            &ns,
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "ul0",
            "netns",
            host.netns(),
        ]);
        ip(&["-n", &ns, "link", "set", &port, "master", "br-ul", "up"]);
        ip(&[
            "-n",
            host.netns(),
            "addr",
            "add",
            &format!("{addr}/15"),
            "dev",
            "ul0",
        ]);
        ip(&["-n", host.netns(), "link", "set", "ul0", "up"]);
    }

    /// The runner namespace's name.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// A command run inside the runner namespace (`ip netns exec` execs it).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns, program]);
        cmd
    }
}

impl Drop for Underlay {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .stderr(Stdio::null())
            .status();
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("spawn ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
