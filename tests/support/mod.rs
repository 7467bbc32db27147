//! Shared test support: a private real Open vSwitch per test (`ovs::OvsHost`), and a
//! cluster of them for end-to-end runs of the binary (`cluster::Cluster`).

#![allow(dead_code)]

pub mod agent;
pub mod cluster;
pub mod ovs;
pub mod pki;
pub mod plans;
pub mod sshd;
pub mod underlay;

pub use ovs::OvsHost;

use std::time::{Duration, Instant};

/// Polls `ready` every `poll` until it holds; panics naming `what` after `within`.
pub fn wait_within(what: &str, within: Duration, poll: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if ready() {
            return;
        }
        std::thread::sleep(poll);
    }
    panic!("timed out waiting for {what}");
}
