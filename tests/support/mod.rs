//! Shared test support: a private real Open vSwitch per test (`ovs::OvsHost`).

#![allow(dead_code)]

pub mod ovs;
pub mod plans;

pub use ovs::OvsHost;
