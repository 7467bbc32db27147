//! The host's intent, read from its local OVSDB alone (docs/host-side.md): per gateway
//! port its VLAN, address, DHCP range and NAT; per container port what it publishes.
//!
//! Pure: it takes an observed OVSDB snapshot and never talks to anything. Keys it cannot
//! read (a bad JSON value, an address that does not parse) are reported as problems
//! naming the row and key, and that gateway or port is left out rather than guessed.

use crate::gateway::MARK_VLAN;
use crate::intent::{HostIntent as BridgeIntent, VlanIntent};
use crate::state::{HostState, Role, Row};
use ipnet::Ipv4Net;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// What one gateway port must serve.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Gateway {
    /// The kernel interface (the OVS internal port's name, `ovsgw-10`).
    pub ifname: String,
    /// The VLAN's name.
    pub vlan: String,
    /// The VLAN id.
    pub id: u16,
    /// The gateway address with the subnet's prefix length (`10.10.0.1/16`).
    pub address: Ipv4Net,
    /// This host's range, when the host has one for the VLAN.
    pub range: Option<Ipv4Net>,
    /// Serve DHCP from `range`.
    pub dhcp: bool,
    /// Masquerade the subnet to the outside.
    pub nat: bool,
}

/// Transport protocol of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// The word nftables and `ovsnet-publish` use.
    pub fn word(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One published port: `host_port` on the host reaches `address:port` in a container.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Published {
    /// Protocol.
    pub proto: Proto,
    /// The port on the host's addresses.
    pub host_port: u16,
    /// The container's address.
    pub address: Ipv4Addr,
    /// The port in the container.
    pub port: u16,
}

/// Everything the agent must realize on this host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostIntent {
    /// `ovsnet-host` of the overlay bridge.
    pub host: Option<String>,
    /// `ovsnet-underlay-ip`.
    pub underlay_ip: Option<Ipv4Addr>,
    /// `ovsnet-mtu`: the overlay MTU.
    pub mtu: Option<u32>,
    /// Gateways by interface name.
    pub gateways: BTreeMap<String, Gateway>,
    /// Published ports, sorted.
    pub published: Vec<Published>,
    /// Keys that could not be read: (row, key, why).
    pub problems: Vec<(String, String, String)>,
}

/// Reads the intent of every ovsnet bridge in `state`.
pub fn read(state: &HostState) -> HostIntent {
    let mut intent = HostIntent::default();
    for bridge in state.bridges.values() {
        if bridge.row.role() != Some(Role::Bridge) {
            continue;
        }
        let vlans = read_bridge(&bridge.row, &mut intent);
        for port in bridge.ports.values() {
            match port.row.role() {
                Some(Role::Gateway) => gateway(&port.row, &vlans, &mut intent),
                Some(Role::Container) => publishes(&port.row, &mut intent),
                _ => {}
            }
        }
    }
    intent.published.sort();
    intent
}

/// The bridge's keys, read by the one reader of them ([`crate::intent`]); unreadable
/// ones become problems naming the key. Returns the VLAN entries.
fn read_bridge(row: &Row, intent: &mut HostIntent) -> BTreeMap<String, VlanIntent> {
    let entries = row.attrs.iter().filter_map(|(key, value)| {
        let key = key.strip_prefix("external_ids:")?;
        match value {
            crate::state::Value::Str(text) => Some((key, text.as_str())),
            _ => None,
        }
    });
    let read = BridgeIntent::from_external_ids(entries);
    for (key, why) in read.unreadable {
        intent.problems.push((row.name.clone(), key, why));
    }
    intent.host = read.host;
    intent.underlay_ip = read.underlay_ip;
    intent.mtu = read.mtu;
    read.vlans
}

fn gateway(row: &Row, vlans: &BTreeMap<String, VlanIntent>, intent: &mut HostIntent) {
    let Some(vlan) = row.external_id(MARK_VLAN) else {
        return;
    };
    let Some(key) = vlans.get(vlan) else {
        let why = format!("the bridge has no `ovsnet-vlan-{vlan}` key");
        intent
            .problems
            .push((row.name.clone(), MARK_VLAN.into(), why));
        return;
    };
    let Some(address) = key
        .gateway
        .and_then(|g| Ipv4Net::new(g, key.subnet.prefix_len()).ok())
    else {
        return;
    };
    let gw = Gateway {
        ifname: row.name.clone(),
        vlan: vlan.to_string(),
        id: key.id,
        address,
        range: key.range,
        dhcp: key.dhcp == Some(true),
        nat: key.nat == Some(true),
    };
    intent.gateways.insert(row.name.clone(), gw);
}

/// `ovsnet-publish` of a container port: `HOSTPORT:PORT/PROTO`, comma-separated.
fn publishes(row: &Row, intent: &mut HostIntent) {
    let Some(list) = row.external_id("ovsnet-publish") else {
        return;
    };
    let Some(address) = row
        .external_id("ovsnet-address")
        .and_then(|a| a.parse::<Ipv4Net>().ok())
    else {
        let why = "a published port needs `ovsnet-address`".to_string();
        intent
            .problems
            .push((row.name.clone(), "ovsnet-publish".into(), why));
        return;
    };
    for item in list.split(',').filter(|s| !s.is_empty()) {
        match parse_publish(item) {
            Some((host_port, port, proto)) => intent.published.push(Published {
                proto,
                host_port,
                address: address.addr(),
                port,
            }),
            None => intent.problems.push((
                row.name.clone(),
                "ovsnet-publish".into(),
                format!("`{item}` is not HOSTPORT:PORT/PROTO"),
            )),
        }
    }
}

/// Parses `HOSTPORT:PORT[/tcp|/udp]` (tcp when no protocol is given).
pub fn parse_publish(text: &str) -> Option<(u16, u16, Proto)> {
    let (ports, proto) = match text.split_once('/') {
        Some((p, "tcp")) => (p, Proto::Tcp),
        Some((p, "udp")) => (p, Proto::Udp),
        Some(_) => return None,
        None => (text, Proto::Tcp),
    };
    let (host, inner) = ports.split_once(':')?;
    let host: u16 = host.parse().ok().filter(|p| *p > 0)?;
    let inner: u16 = inner.parse().ok().filter(|p| *p > 0)?;
    Some((host, inner, proto))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{Bridge, Port, Value};

    fn marked(name: &str, role: &str) -> Row {
        Row::named(name).with("external_ids:ovsnet-role", Value::Str(role.into()))
    }

    fn host(vlan_json: &str, publish: Option<&str>) -> HostState {
        let bridge_row = marked("br-ovsnet", "bridge")
            .with("external_ids:ovsnet-host", Value::Str("host-a".into()))
            .with(
                "external_ids:ovsnet-underlay-ip",
                Value::Str("198.18.0.1".into()),
            )
            .with("external_ids:ovsnet-mtu", Value::Str("1446".into()))
            .with("external_ids:ovsnet-vlan-web", Value::Str(vlan_json.into()));
        let mut ports = BTreeMap::new();
        let gw = marked("ovsgw-10", "gateway")
            .with("external_ids:ovsnet-vlan", Value::Str("web".into()));
        ports.insert(
            "ovsgw-10".into(),
            Port {
                row: gw,
                interfaces: BTreeMap::new(),
            },
        );
        let mut c = marked("c1", "container").with(
            "external_ids:ovsnet-address",
            Value::Str("10.10.1.5/16".into()),
        );
        if let Some(p) = publish {
            c = c.with("external_ids:ovsnet-publish", Value::Str(p.into()));
        }
        ports.insert(
            "c1".into(),
            Port {
                row: c,
                interfaces: BTreeMap::new(),
            },
        );
        let mut bridges = BTreeMap::new();
        bridges.insert(
            "br-ovsnet".into(),
            Bridge {
                row: bridge_row,
                ports,
            },
        );
        HostState { bridges }
    }

    const WEB: &str = r#"{"dhcp":true,"gateway":"10.10.0.1","id":10,"nat":true,"range":"10.10.1.0/24","subnet":"10.10.0.0/16"}"#;

    #[test]
    fn the_gateway_takes_the_subnet_prefix_and_the_flags() {
        let intent = read(&host(WEB, None));
        assert_eq!(intent.host.as_deref(), Some("host-a"));
        assert_eq!(intent.mtu, Some(1446));
        let gw = &intent.gateways["ovsgw-10"];
        assert_eq!(gw.address.to_string(), "10.10.0.1/16");
        assert_eq!(
            gw.range.map(|r| r.to_string()).as_deref(),
            Some("10.10.1.0/24")
        );
        assert!(gw.dhcp && gw.nat);
        assert!(intent.problems.is_empty());
    }

    #[test]
    fn published_ports_are_read_and_bad_ones_named() {
        let intent = read(&host(WEB, Some("8080:80/tcp,5353:53/udp,x:1")));
        assert_eq!(intent.published.len(), 2);
        assert_eq!(intent.published[0].host_port, 8080, "tcp sorts first");
        assert_eq!(intent.published[1].address.to_string(), "10.10.1.5");
        assert_eq!(intent.problems.len(), 1, "{:?}", intent.problems);
    }

    #[test]
    fn a_broken_vlan_key_is_a_problem_not_a_guess() {
        let intent = read(&host("{not json", None));
        assert!(intent.gateways.is_empty());
        assert_eq!(intent.problems.len(), 2, "{:?}", intent.problems);
    }

    #[test]
    fn publish_syntax() {
        assert_eq!(parse_publish("8080:80"), Some((8080, 80, Proto::Tcp)));
        assert_eq!(parse_publish("53:53/udp"), Some((53, 53, Proto::Udp)));
        assert_eq!(parse_publish("0:80"), None);
        assert_eq!(parse_publish("80/sctp"), None);
    }
}
