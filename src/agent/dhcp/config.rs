//! What dnsmasq is told, as text: its configuration (one `static` range per served VLAN,
//! bound to the gateway interfaces only) and its hosts file (one `MAC,IP` line per
//! address this host hands out by DHCP). Pure: the same intent and leases give the same
//! bytes, so the agent rewrites a file (and restarts or SIGHUPs dnsmasq) only when its
//! text changed.
//!
//! Why these options (research/host-networking.md §2.2, §2.4):
//! - `port=0`: DHCP only, no DNS; `bind-dynamic` + `interface=`: only the gateway ports,
//!   picked up when they appear, next to any other dnsmasq on the host.
//! - `static` ranges and `dhcp-ignore=tag:!known`: dnsmasq never picks an address
//!   itself and stays silent to a MAC it has no line for. The agent picks addresses
//!   with attach's allocator and writes the lines, so there is one allocator.
//! - `dhcp-authoritative` is safe only together with `tag:!known`; with it a client
//!   renewing after a restart is answered instead of waiting for a rebind.
//! - router = the gateway (option 3), MTU (option 26) forced: many clients do not ask.

use crate::agent::intent::HostIntent;
use ipnet::Ipv4Net;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// How long a lease lasts. Clients renew at half of it, so an agent (or dnsmasq) that
/// is down for less than half an hour is never noticed by a bound client.
pub const LEASE_SECS: u64 = 3600;

/// One VLAN this host serves by DHCP.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Served {
    /// The gateway interface dnsmasq listens on.
    pub ifname: String,
    /// The VLAN's name.
    pub vlan: String,
    /// The VLAN id (names dnsmasq's tag).
    pub id: u16,
    /// The VLAN's subnet (dnsmasq's range: the netmask clients get).
    pub subnet: Ipv4Net,
    /// This host's range: the only addresses handed out here.
    pub range: Ipv4Net,
    /// The gateway address (option 3).
    pub gateway: Ipv4Addr,
    /// The overlay MTU (option 26).
    pub mtu: u32,
}

/// The VLANs of `intent` this host serves: a gateway with `dhcp` and a range here. A
/// DHCP VLAN in which this host has no range is served by the other hosts only.
pub fn served(intent: &HostIntent) -> Vec<Served> {
    let mut out: Vec<Served> = intent
        .gateways
        .values()
        .filter(|g| g.dhcp)
        .filter_map(|g| {
            Some(Served {
                ifname: g.ifname.clone(),
                vlan: g.vlan.clone(),
                id: g.id,
                subnet: g.address.trunc(),
                range: g.range?,
                gateway: g.address.addr(),
                // As attach does when apply wrote no MTU (an old apply).
                mtu: intent.mtu.unwrap_or(1446),
            })
        })
        .collect();
    out.sort();
    out
}

/// The files of one agent's dnsmasq, all under the agent's state directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// The directory.
    pub dir: PathBuf,
    /// The configuration dnsmasq is started with.
    pub conf: PathBuf,
    /// The hosts file (`dhcp-hostsfile`), re-read on SIGHUP.
    pub hosts: PathBuf,
    /// dnsmasq's own lease file (it survives restarts of both processes).
    pub leases: PathBuf,
    /// dnsmasq's pid file (how a restarted agent finds a dnsmasq left running).
    pub pid: PathBuf,
    /// dnsmasq's log (`log-facility`), which the agent reads for unknown clients.
    pub log: PathBuf,
}

impl Paths {
    /// The files under `dir`.
    pub fn new(dir: &Path) -> Paths {
        Paths {
            dir: dir.to_path_buf(),
            conf: dir.join("dnsmasq.conf"),
            hosts: dir.join("dnsmasq.hosts"),
            leases: dir.join("dnsmasq.leases"),
            pid: dir.join("dnsmasq.pid"),
            log: dir.join("dnsmasq.log"),
        }
    }
}

/// dnsmasq's configuration for `served` (not empty: no VLAN, no dnsmasq).
pub fn render_conf(paths: &Paths, served: &[Served]) -> String {
    let mut out = String::from(
        "# Written by `ovsnet agent`; rewritten when the intent changes.\n\
         port=0\nbind-dynamic\nexcept-interface=lo\nno-hosts\nno-resolv\n\
         dhcp-ignore=tag:!known\ndhcp-authoritative\n",
    );
    for (key, path) in [
        ("dhcp-leasefile", &paths.leases),
        ("dhcp-hostsfile", &paths.hosts),
        ("pid-file", &paths.pid),
        ("log-facility", &paths.log),
    ] {
        out.push_str(&format!("{key}={}\n", path.display()));
    }
    for s in served {
        let tag = format!("vlan{}", s.id);
        out.push_str(&format!(
            "interface={if}\n\
             dhcp-range=set:{tag},{net},static,{mask},{LEASE_SECS}\n\
             dhcp-option=tag:{tag},option:router,{gw}\n\
             dhcp-option-force=tag:{tag},option:mtu,{mtu}\n",
            if = s.ifname,
            net = s.subnet.network(),
            mask = s.subnet.netmask(),
            gw = s.gateway,
            mtu = s.mtu,
        ));
    }
    out
}

/// One address handed out by DHCP on this host.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Binding {
    /// The client's MAC, lowercase.
    pub mac: String,
    /// Its address.
    pub ip: Ipv4Addr,
}

/// The hosts file: one `MAC,IP` line per binding, sorted, each MAC once (the first
/// binding given wins).
pub fn render_hosts(bindings: &[Binding]) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for b in bindings {
        if seen.insert(b.mac.clone()) {
            lines.push(format!("{},{}\n", b.mac, b.ip));
        }
    }
    lines.sort();
    lines.concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::intent::Gateway;

    fn intent() -> HostIntent {
        let mut intent = HostIntent {
            mtu: Some(1400),
            ..HostIntent::default()
        };
        for (ifname, id, dhcp, range) in [
            ("ovsgw-10", 10, true, Some("10.10.1.0/24")),
            ("ovsgw-20", 20, false, Some("10.20.1.0/24")),
            ("ovsgw-30", 30, true, None),
        ] {
            intent.gateways.insert(
                ifname.into(),
                Gateway {
                    ifname: ifname.into(),
                    vlan: format!("v{id}"),
                    id,
                    address: format!("10.{id}.0.1/16").parse().unwrap(),
                    range: range.map(|r| r.parse().unwrap()),
                    dhcp,
                    nat: false,
                },
            );
        }
        intent
    }

    #[test]
    fn only_dhcp_vlans_with_a_range_here_are_served() {
        let served = served(&intent());
        assert_eq!(served.len(), 1, "{served:?}");
        assert_eq!(served[0].subnet.to_string(), "10.10.0.0/16");
        assert_eq!(served[0].gateway.to_string(), "10.10.0.1");
        assert_eq!(served[0].mtu, 1400);
    }

    #[test]
    fn the_configuration_binds_the_gateway_and_sends_router_and_mtu() {
        let paths = Paths::new(Path::new("/run/x"));
        let conf = render_conf(&paths, &served(&intent()));
        assert_eq!(
            conf,
            "# Written by `ovsnet agent`; rewritten when the intent changes.\n\
             port=0\nbind-dynamic\nexcept-interface=lo\nno-hosts\nno-resolv\n\
             dhcp-ignore=tag:!known\ndhcp-authoritative\n\
             dhcp-leasefile=/run/x/dnsmasq.leases\n\
             dhcp-hostsfile=/run/x/dnsmasq.hosts\n\
             pid-file=/run/x/dnsmasq.pid\n\
             log-facility=/run/x/dnsmasq.log\n\
             interface=ovsgw-10\n\
             dhcp-range=set:vlan10,10.10.0.0,static,255.255.0.0,3600\n\
             dhcp-option=tag:vlan10,option:router,10.10.0.1\n\
             dhcp-option-force=tag:vlan10,option:mtu,1400\n"
        );
    }

    #[test]
    fn a_mac_gets_one_line_and_the_file_is_sorted() {
        let b = |mac: &str, ip: &str| Binding {
            mac: mac.into(),
            ip: ip.parse().unwrap(),
        };
        let text = render_hosts(&[
            b("02:00:00:00:00:02", "10.10.1.3"),
            b("02:00:00:00:00:01", "10.10.1.2"),
            b("02:00:00:00:00:02", "10.10.1.9"),
        ]);
        assert_eq!(
            text,
            "02:00:00:00:00:01,10.10.1.2\n02:00:00:00:00:02,10.10.1.3\n"
        );
    }
}
