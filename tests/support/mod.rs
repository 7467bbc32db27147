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
