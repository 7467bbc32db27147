//! The distributed gateway's identity: the port name, the one MAC per cluster and VLAN,
//! and the gateway port's desired rows (docs/host-side.md, "The gateway port").
//!
//! Every host holds the same gateway port for a VLAN with a `gateway`: an internal port
//! `ovsgw-<vlan id>` tagged with the VLAN, `protected` (so in a full mesh, whose tunnels
//! are protected too, the gateway's frames never reach a tunnel), and the same MAC on
//! every host, so a container's ARP entry for its router stays right wherever it is
//! answered. Pure: `apply` writes these rows, the agent only reads them back.

use crate::state::{Interface, Port, Role, Row, Value, MARK_CLUSTER, MARK_ROLE};
use crate::topology::Vlan;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Prefix of gateway port names; the VLAN id follows (`ovsgw-10`, at most 10 bytes).
pub const PORT_PREFIX: &str = "ovsgw-";

/// `external_ids` key naming the VLAN a gateway (or container) port serves.
pub const MARK_VLAN: &str = "ovsnet-vlan";

/// The gateway port's name for VLAN `id`.
pub fn port_name(id: u16) -> String {
    format!("{PORT_PREFIX}{id}")
}

/// The gateway MAC of VLAN `id` in `cluster`: locally administered, unicast, derived
/// from a hash so every host computes the same one without talking to the others, and
/// two clusters (or two VLANs) on one L2 never share it.
pub fn mac(cluster: &str, id: u16) -> [u8; 6] {
    let mut hasher = Sha256::new();
    hasher.update(b"ovsnet-gateway-mac\0");
    hasher.update(cluster.as_bytes());
    hasher.update(b"\0");
    hasher.update(id.to_be_bytes());
    let digest = hasher.finalize();
    let mut out = [0u8; 6];
    out.copy_from_slice(&digest[..6]);
    // Bit 1 of the first byte: locally administered; bit 0 clear: unicast.
    out[0] = (out[0] & 0xfc) | 0x02;
    out
}

/// A MAC in the `aa:bb:cc:dd:ee:ff` form OVSDB and the kernel print.
pub fn mac_text(mac: [u8; 6]) -> String {
    let parts: Vec<String> = mac.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

/// The gateway port of `vlan` (which must have a gateway; `None` otherwise), with the
/// marks of docs/host-side.md, and `mtu_request` of the overlay MTU `mtu`: the gateway
/// is a host on the overlay like any container. Left alone the gateway's device is 1500
/// (seen in the lab), so the host would forward packets from outside onto the VLAN
/// wider than its containers and tunnels take (`mtu` at most), and they are lost.
pub fn port(cluster: &str, vlan: &Vlan, mtu: u32) -> Option<(String, Port)> {
    vlan.gateway?;
    let name = port_name(vlan.id);
    let marks = |row: Row| {
        row.with(
            format!("external_ids:{MARK_CLUSTER}"),
            Value::Str(cluster.into()),
        )
        .with(
            format!("external_ids:{MARK_ROLE}"),
            Value::Str(Role::Gateway.as_str().into()),
        )
        .with(
            format!("external_ids:{MARK_VLAN}"),
            Value::Str(vlan.name.clone()),
        )
    };
    let port_row = marks(Row::named(&name))
        .with("tag", Value::Int(i64::from(vlan.id)))
        .with("protected", Value::Bool(true));
    let iface_row = marks(Row::named(&name))
        .with("type", Value::Str("internal".into()))
        .with("mac", Value::Str(mac_text(mac(cluster, vlan.id))))
        .with("mtu_request", Value::Int(i64::from(mtu)));
    let mut interfaces = BTreeMap::new();
    interfaces.insert(
        name.clone(),
        Interface {
            row: iface_row,
            runtime: None,
        },
    );
    let port = Port {
        row: port_row,
        interfaces,
    };
    Some((name, port))
}

/// The gateway ports of every VLAN of the topology that declares a gateway.
pub fn ports<'a>(
    cluster: &'a str,
    vlans: &'a [Vlan],
    mtu: u32,
) -> impl Iterator<Item = (String, Port)> + 'a {
    vlans.iter().filter_map(move |v| port(cluster, v, mtu))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vlan(gateway: Option<&str>) -> Vlan {
        Vlan {
            name: "web".into(),
            id: 10,
            subnet: "10.10.0.0/16".parse().unwrap(),
            gateway: gateway.map(|g| g.parse().unwrap()),
            dhcp: false,
            nat: false,
        }
    }

    #[test]
    fn the_mac_is_locally_administered_unicast_and_stable() {
        let m = mac("demo", 10);
        assert_eq!(m[0] & 0x03, 0x02, "{}", mac_text(m));
        assert_eq!(m, mac("demo", 10));
        assert_ne!(m, mac("demo", 20));
        assert_ne!(m, mac("other", 10));
    }

    #[test]
    fn a_vlan_without_a_gateway_has_no_gateway_port() {
        assert!(port("demo", &vlan(None), 1446).is_none());
    }

    #[test]
    fn the_gateway_port_is_tagged_protected_internal_and_marked() {
        let (name, port) = port("demo", &vlan(Some("10.10.0.1")), 1446).unwrap();
        assert_eq!(name, "ovsgw-10");
        assert_eq!(port.row.attrs["tag"], Value::Int(10));
        assert_eq!(port.row.attrs["protected"], Value::Bool(true));
        assert_eq!(port.row.external_id("ovsnet-role"), Some("gateway"));
        assert_eq!(port.row.external_id("ovsnet-vlan"), Some("web"));
        let iface = &port.interfaces["ovsgw-10"].row;
        assert_eq!(iface.attrs["type"], Value::Str("internal".into()));
        assert_eq!(
            iface.attrs["mac"],
            Value::Str(mac_text(mac("demo", 10))),
            "one MAC per cluster and VLAN"
        );
        assert_eq!(
            iface.attrs["mtu_request"],
            Value::Int(1446),
            "the overlay MTU"
        );
        assert_eq!(iface.external_id("ovsnet-cluster"), Some("demo"));
    }
}
