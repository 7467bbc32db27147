//! The host intent: what `apply` writes on each host's overlay Bridge row so the host side
//! (attach, the agent, the Docker plugin) can work from its local OVSDB alone, never the
//! topology file (docs/host-side.md, "Written by `apply`"). This module owns the key names
//! and the JSON of a VLAN's entry, in both directions: [`bridge_keys`] builds them from
//! the topology (pure), [`HostIntent::from_external_ids`] reads them back. It does no I/O.

use crate::topology::{Host, Topology, Vlan};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// `external_ids` key: this host's name in the topology.
pub const KEY_HOST: &str = "ovsnet-host";
/// `external_ids` key: this host's underlay address.
pub const KEY_UNDERLAY_IP: &str = "ovsnet-underlay-ip";
/// `external_ids` key: the overlay MTU, decimal.
pub const KEY_MTU: &str = "ovsnet-mtu";
/// Prefix of the `external_ids` key of each VLAN (`ovsnet-vlan-<name>`).
pub const KEY_VLAN_PREFIX: &str = "ovsnet-vlan-";

/// One VLAN as this host sees it: the value of `ovsnet-vlan-<name>`, compact JSON with
/// sorted keys (fields are declared in key order, so serde writes them sorted).
/// Extend it here: every reader and writer follows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VlanIntent {
    /// `dhcp: true` in the topology (absent when not declared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp: Option<bool>,
    /// The VLAN's gateway, when declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    /// 802.1Q id.
    pub id: u16,
    /// `nat: true` in the topology (absent when not declared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<bool>,
    /// This host's range of the VLAN, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<Ipv4Net>,
    /// The VLAN's subnet.
    pub subnet: Ipv4Net,
}

impl VlanIntent {
    /// The entry for `vlan` on `host`.
    pub fn of(vlan: &Vlan, host: &Host) -> VlanIntent {
        VlanIntent {
            dhcp: vlan.dhcp.then_some(true),
            gateway: vlan.gateway,
            id: vlan.id,
            nat: vlan.nat.then_some(true),
            range: host.ranges.get(&vlan.name).copied(),
            subnet: vlan.subnet,
        }
    }

    /// The compact JSON written into OVSDB.
    pub fn to_json(&self) -> String {
        // A struct of plain fields always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The intent keys (without the `external_ids:` prefix) and values for `host`'s bridge.
pub fn bridge_keys(topology: &Topology, host: &Host, overlay_mtu: u32) -> Vec<(String, String)> {
    let mut keys = vec![
        (KEY_HOST.to_string(), host.name.clone()),
        (KEY_UNDERLAY_IP.to_string(), host.underlay_ip.to_string()),
        (KEY_MTU.to_string(), overlay_mtu.to_string()),
    ];
    for vlan in &topology.vlans {
        keys.push((
            format!("{KEY_VLAN_PREFIX}{}", vlan.name),
            VlanIntent::of(vlan, host).to_json(),
        ));
    }
    keys
}

/// The host intent as read back from a bridge's `external_ids`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostIntent {
    /// This host's name, when written.
    pub host: Option<String>,
    /// This host's underlay address, when written.
    pub underlay_ip: Option<Ipv4Addr>,
    /// The overlay MTU, when written.
    pub mtu: Option<u32>,
    /// The VLANs by name.
    pub vlans: BTreeMap<String, VlanIntent>,
    /// Keys that are present but unreadable (key, why): shown, never guessed at.
    pub unreadable: Vec<(String, String)>,
}

impl HostIntent {
    /// Reads the intent keys out of a bridge's `external_ids` map.
    pub fn from_external_ids<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> HostIntent {
        let mut intent = HostIntent::default();
        for (key, value) in entries {
            if key == KEY_HOST {
                intent.host = Some(value.to_string());
            } else if key == KEY_UNDERLAY_IP {
                match value.parse() {
                    Ok(ip) => intent.underlay_ip = Some(ip),
                    Err(_) => intent
                        .unreadable
                        .push((key.to_string(), "not an IPv4 address".to_string())),
                }
            } else if key == KEY_MTU {
                match value.parse() {
                    Ok(mtu) => intent.mtu = Some(mtu),
                    Err(_) => intent
                        .unreadable
                        .push((key.to_string(), "not a number".to_string())),
                }
            } else if let Some(name) = key.strip_prefix(KEY_VLAN_PREFIX) {
                match serde_json::from_str::<VlanIntent>(value) {
                    Ok(vlan) => {
                        intent.vlans.insert(name.to_string(), vlan);
                    }
                    Err(e) => intent.unreadable.push((key.to_string(), e.to_string())),
                }
            }
        }
        intent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vlan_json_has_sorted_keys_and_reads_back() {
        let vlan = VlanIntent {
            dhcp: Some(true),
            gateway: Some(Ipv4Addr::new(10, 10, 0, 1)),
            id: 10,
            nat: Some(true),
            range: Some("10.10.1.0/24".parse().expect("net")),
            subnet: "10.10.0.0/16".parse().expect("net"),
        };
        let text = vlan.to_json();
        assert_eq!(
            text,
            r#"{"dhcp":true,"gateway":"10.10.0.1","id":10,"nat":true,"range":"10.10.1.0/24","subnet":"10.10.0.0/16"}"#
        );
        let back = HostIntent::from_external_ids([
            ("ovsnet-vlan-web", text.as_str()),
            ("ovsnet-mtu", "1446"),
            ("ovsnet-vlan-bad", "{"),
        ]);
        assert_eq!(back.vlans["web"], vlan);
        assert_eq!(back.mtu, Some(1446));
        assert_eq!(back.unreadable.len(), 1);
    }
}
