//! The `linux` module against the real kernel, checked by independent tools (`ip -j`,
//! `ethtool -k`): namespaces by name and pid, a veth moved into a namespace, renamed,
//! with MTU, MAC, address, default route, link up and tx offload off; deletion takes
//! both ends. Every namespace is the test's own and removed on drop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ovsnet::linux::{self, LinkSettings, Netns};
use serde_json::Value;
use std::net::Ipv4Addr;
use std::process::Command;

/// A namespace made for the test, deleted on drop.
struct Ns(String);

impl Ns {
    fn new(tag: &str) -> Ns {
        let name = format!("ovsnet-nl{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip");
        assert!(ok.success());
        Ns(name)
    }

    fn netns(&self) -> Netns {
        Netns::Named(self.0.clone())
    }

    fn ip_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["-n", &self.0, "-j"];
        all.extend_from_slice(args);
        let out = Command::new("ip").args(&all).output().expect("ip");
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[test]
fn a_veth_is_made_moved_configured_and_deleted_by_netlink() {
    let host = Ns::new("h");
    let ctr = Ns::new("c");
    let (h, c) = (host.netns(), ctr.netns());
    linux::create_veth(&h, "ovc-test", "ovt-test", 1400).expect("veth");
    assert!(linux::link_exists(&h, "ovt-test").expect("lookup"));
    linux::move_link(&h, "ovt-test", &c).expect("move");
    assert!(!linux::link_exists(&h, "ovt-test").expect("lookup"));
    let mac = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
    linux::set_link(
        &c,
        "ovt-test",
        &LinkSettings {
            rename: Some("eth0".into()),
            mtu: Some(1400),
            mac: Some(mac),
            up: Some(true),
        },
    )
    .expect("set");
    linux::set_link(
        &h,
        "ovc-test",
        &LinkSettings {
            up: Some(true),
            ..LinkSettings::default()
        },
    )
    .expect("up");
    linux::add_address(&c, "eth0", Ipv4Addr::new(10, 9, 1, 2), 16).expect("address");
    linux::add_default_route(&c, "eth0", Ipv4Addr::new(10, 9, 0, 1)).expect("route");
    linux::tx_offload_off(&c, "eth0").expect("offload");

    let link = &ctr.ip_json(&["link", "show", "eth0"])[0];
    assert_eq!(link["mtu"], 1400);
    assert_eq!(link["address"], "02:11:22:33:44:55");
    assert!(link["flags"]
        .as_array()
        .expect("flags")
        .contains(&"UP".into()));
    let addrs = ctr.ip_json(&["addr", "show", "eth0"]);
    let local: Vec<&Value> = addrs[0]["addr_info"]
        .as_array()
        .expect("addr_info")
        .iter()
        .filter(|a| a["family"] == "inet")
        .collect();
    assert_eq!(local[0]["local"], "10.9.1.2");
    assert_eq!(local[0]["prefixlen"], 16);
    let routes = ctr.ip_json(&["route", "show", "default"]);
    assert_eq!(routes[0]["gateway"], "10.9.0.1");
    let features = Command::new("ip")
        .args(["netns", "exec", &ctr.0, "ethtool", "-k", "eth0"])
        .output()
        .expect("ethtool");
    let text = String::from_utf8_lossy(&features.stdout);
    assert!(text.contains("tx-checksumming: off"), "{text}");
    let info = linux::link(&c, "eth0").expect("lookup").expect("exists");
    assert_eq!(info.mac, Some(mac));
    assert_eq!(info.mtu, Some(1400));

    assert!(linux::delete_link(&h, "ovc-test").expect("delete"));
    assert!(
        !linux::link_exists(&c, "eth0").expect("lookup"),
        "the peer went too"
    );
    assert!(!linux::delete_link(&h, "ovc-test").expect("absent is fine"));
}

#[test]
fn namespaces_are_found_by_name_and_pid_and_missing_ones_are_named() {
    let missing = Netns::Named("ovsnet-no-such-namespace".into());
    assert!(!missing.exists());
    let err = linux::links(&missing).expect_err("no namespace");
    assert!(
        err.to_string().contains("ovsnet-no-such-namespace"),
        "{err}"
    );
    let me = Netns::Pid(std::process::id());
    assert!(me.exists());
    let lo = linux::link(&me, "lo").expect("lookup");
    assert!(lo.is_some(), "the test's own namespace has lo");
    assert!(!Netns::Pid(u32::MAX).exists());
}
