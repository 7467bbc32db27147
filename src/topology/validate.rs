//! Semantic validation: from the raw, positioned parts to the trusted [`Topology`].
//!
//! Every rule of DESIGN.md §1 that does not need the tunnel graph lives here (the graph
//! rules live in `graph`). Each check reports through `out` and carries on, so one run
//! finds every problem. The model is built from whatever passed, with placeholders
//! where something failed; it is only handed out when no error was reported.

use super::diag::{did_you_mean, Diagnostic, Found, Problem};
use super::graph;
use super::model::*;
use super::schema::{RawHost, RawTopology, RawVlan, Sp};
use super::yaml::Pos;
use crate::ovsdb::Endpoint;
use ipnet::Ipv4Net;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;

/// Where the graph-level facts were written, so graph problems can point at the file.
#[derive(Clone, Debug, Default)]
pub struct Spots {
    /// The `topology:` value (or the `tunnel` section).
    pub shape: Pos,
    /// The `loop_protection:` value, if written.
    pub loop_protection: Option<Pos>,
    /// The `links:` list, if written.
    pub links: Option<Pos>,
    /// Where each host's name is written, by host index (the model's host list has one
    /// host per written host); `None` for a host without a name. Positions only: the
    /// names are the model's, not a second copy of every one.
    pub host_names: Vec<Option<Pos>>,
}

/// The outcome of validation.
pub struct Checked {
    /// The model (trustworthy only when no error was reported).
    pub topology: Topology,
    /// Positions for graph problems.
    pub spots: Spots,
    /// Whether hosts, shape and links are sound enough to analyse the graph.
    pub graph_ready: bool,
}

const CLUSTER_RULE: &str =
    "a cluster name starts with a lowercase letter and has at most 31 of `a-z`, `0-9` and `-`";
const HOST_RULE: &str =
    "a host name starts with a letter or digit and has at most 63 of `A-Z`, `a-z`, `0-9`, `.`, `_` and `-`";
const VLAN_RULE: &str =
    "a VLAN name starts with a letter and has at most 32 of `A-Z`, `a-z`, `0-9`, `_` and `-`";
const BRIDGE_RULE: &str =
    "an interface name has 1 to 15 bytes of `A-Z`, `a-z`, `0-9`, `.`, `_` and `-`, not starting with `.` or `-`";

/// Checks `raw`, reporting through `out`.
pub fn check(raw: &RawTopology, out: &mut Found) -> Checked {
    let mut c = Checker {
        out,
        graph_ready: true,
        broken_vlans: HashSet::new(),
        suggestions: SUGGESTION_BUDGET,
        vlan_index: HashMap::new(),
    };
    c.version(raw);
    let cluster = c.name(&raw.cluster, "cluster", CLUSTER_RULE, cluster_ok);
    let bridge = c.bridge(raw);
    let tunnel = c.tunnel(raw);
    let underlay_mtu = c.mtu(raw, &tunnel);
    let vlans = c.vlans(raw);
    let hosts = c.hosts(raw, &vlans);
    c.shape_refs(raw, &tunnel, &hosts);
    let tunnel = c.resolve_links(raw, tunnel, &hosts);
    let vlans: Vec<Vlan> = vlans.into_iter().map(|(v, _)| v).collect();
    let spots = Spots {
        shape: raw.tunnel.shape.as_ref().map_or(raw.tunnel.at, |s| s.at),
        loop_protection: raw.tunnel.loop_protection.as_ref().map(|s| s.at),
        links: raw.tunnel.links.as_ref().map(|s| s.at),
        host_names: raw
            .hosts
            .iter()
            .flatten()
            .map(|h| h.name.as_ref().map(|n| n.at))
            .collect(),
    };
    let graph_ready = c.graph_ready;
    Checked {
        topology: Topology {
            cluster,
            bridge,
            tunnel,
            underlay_mtu,
            vlans,
            hosts,
        },
        spots,
        graph_ready,
    }
}

fn cluster_ok(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 31
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn host_ok(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn vlan_ok(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 32
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

fn ifname_ok(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 15
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Parses `a.b.c.d/n`, reporting a bad form or host bits.
fn network(out: &mut Found, text: &Sp<String>, what: &'static str) -> Option<Ipv4Net> {
    let report = |out: &mut Found, problem| {
        out.push(Diagnostic {
            problem,
            at: text.at,
        })
    };
    let Ok(net) = text.v.parse::<Ipv4Net>() else {
        let problem = Problem::BadAddress {
            value: text.v.clone(),
            expected: "an IPv4 network",
            example: "10.10.0.0/16",
        };
        report(out, problem);
        return None;
    };
    if net.trunc() != net {
        let problem = Problem::HostBits {
            what,
            value: text.v.clone(),
            network: net.trunc().to_string(),
        };
        report(out, problem);
        return None;
    }
    Some(net)
}

fn address(out: &mut Found, text: &Sp<String>) -> Option<Ipv4Addr> {
    match text.v.parse::<Ipv4Addr>() {
        Ok(ip) => Some(ip),
        Err(_) => {
            let problem = Problem::BadAddress {
                value: text.v.clone(),
                expected: "an IPv4 address",
                example: "198.18.0.1",
            };
            out.push(Diagnostic {
                problem,
                at: text.at,
            });
            None
        }
    }
}

/// Checked VLAN subnets by (network address, prefix length), to find overlaps.
type Subnets = BTreeMap<(u32, u8), usize>;

/// Host index by name (the first host of each name).
fn name_index(hosts: &[Host]) -> HashMap<&str, usize> {
    let mut index = HashMap::with_capacity(hosts.len());
    for (i, h) in hosts.iter().enumerate() {
        index.entry(h.name.as_str()).or_insert(i);
    }
    index
}

struct Checker<'o> {
    out: &'o mut Found,
    graph_ready: bool,
    /// VLANs declared but broken (already reported): ranges in them are not "unknown".
    broken_vlans: HashSet<String>,
    /// Name comparisons left for did-you-mean: a file with 100,000 unknown names gets
    /// suggestions for the first ones, not a pairwise search over every name.
    suggestions: usize,
    /// Checked VLANs by name (index into the VLAN list), filled once they are checked.
    vlan_index: HashMap<String, usize>,
}

/// Name comparisons did-you-mean may spend on one file.
const SUGGESTION_BUDGET: usize = 200_000;

impl Checker<'_> {
    fn report(&mut self, problem: Problem, at: Pos) {
        self.out.push(Diagnostic { problem, at });
    }

    /// The closest of `candidates` to `typed`, while the suggestion budget lasts.
    fn suggest<'a, I>(&mut self, typed: &str, candidates: I) -> Option<&'a str>
    where
        I: ExactSizeIterator<Item = &'a str>,
    {
        let cost = candidates.len();
        if cost > self.suggestions {
            self.suggestions = 0;
            return None;
        }
        self.suggestions -= cost;
        did_you_mean(typed, candidates)
    }

    fn version(&mut self, raw: &RawTopology) {
        if let Some(v) = &raw.version {
            if v.v != 1 {
                self.report(Problem::UnsupportedVersion { found: v.v }, v.at);
            }
        }
    }

    fn name(
        &mut self,
        name: &Option<Sp<String>>,
        what: &'static str,
        rule: &'static str,
        ok: fn(&str) -> bool,
    ) -> String {
        let Some(name) = name else {
            return String::new();
        };
        if !ok(&name.v) {
            let problem = Problem::BadName {
                what,
                name: name.v.clone(),
                rule,
            };
            self.report(problem, name.at);
        }
        name.v.clone()
    }

    /// Matches `value` against `words`, reporting anything else.
    fn word<T: Copy>(
        &mut self,
        value: &Option<Sp<String>>,
        what: &str,
        words: &'static [&'static str],
        meanings: &[T],
    ) -> Option<T> {
        let value = value.as_ref()?;
        match words.iter().position(|w| *w == value.v) {
            Some(i) => Some(meanings[i]),
            None => {
                let problem = Problem::NotOneOf {
                    what: what.to_string(),
                    value: value.v.clone(),
                    allowed: words,
                    suggestion: did_you_mean(&value.v, words.iter().copied()),
                };
                self.report(problem, value.at);
                None
            }
        }
    }

    fn bridge(&mut self, raw: &RawTopology) -> BridgeSpec {
        let name = match &raw.bridge_name {
            Some(_) => self.name(&raw.bridge_name, "bridge", BRIDGE_RULE, ifname_ok),
            None => "br-ovsnet".to_string(),
        };
        let datapath = self
            .word(
                &raw.datapath,
                "bridge.datapath",
                &["system", "netdev"],
                &[Datapath::System, Datapath::Netdev],
            )
            .unwrap_or(Datapath::System);
        BridgeSpec { name, datapath }
    }

    fn tunnel(&mut self, raw: &RawTopology) -> TunnelSpec {
        let t = &raw.tunnel;
        use TunnelKind::*;
        let kind = self.word(
            &t.kind,
            "tunnel.type",
            &["vxlan", "gre", "geneve"],
            &[Vxlan, Gre, Geneve],
        );
        let words = &["mesh", "chain", "star", "custom"];
        let shape_index = self.word(&t.shape, "tunnel.topology", words, &[0usize, 1, 2, 3]);
        if kind.is_none() || shape_index.is_none() {
            self.graph_ready = false;
        }
        let shape = match shape_index {
            Some(2) => Shape::Star { hub: String::new() },
            Some(3) => Shape::Custom { links: Vec::new() },
            Some(1) => Shape::Chain,
            _ => Shape::Mesh,
        };
        use LoopProtection as L;
        let loop_protection = self
            .word(
                &t.loop_protection,
                "tunnel.loop_protection",
                &["auto", "protected", "rstp", "none"],
                &[L::Auto, L::Protected, L::Rstp, L::None],
            )
            .unwrap_or(L::Auto);
        let kind = kind.unwrap_or(Vxlan);
        TunnelSpec {
            kind,
            shape,
            key: self.key(t.key.as_ref(), kind),
            dst_port: self.dst_port(t.dst_port.as_ref(), kind),
            loop_protection,
        }
    }

    fn key(&mut self, key: Option<&Sp<i128>>, kind: TunnelKind) -> Option<u32> {
        let key = key?;
        let max: u32 = if kind == TunnelKind::Gre {
            u32::MAX
        } else {
            (1 << 24) - 1
        };
        if key.v < 0 {
            let problem = Problem::OutOfRange {
                what: "tunnel.key".into(),
                value: key.v,
                min: 0,
                max: max.into(),
            };
            self.report(problem, key.at);
            return None;
        }
        match u32::try_from(key.v) {
            Ok(k) if k <= max => Some(k),
            _ => {
                let problem = Problem::KeyTooLarge {
                    kind: kind.ovs_name(),
                    key: key.v,
                    max,
                };
                self.report(problem, key.at);
                None
            }
        }
    }

    fn dst_port(&mut self, port: Option<&Sp<i128>>, kind: TunnelKind) -> Option<u16> {
        let port = port?;
        if kind == TunnelKind::Gre {
            self.report(Problem::DstPortWithGre, port.at);
            return None;
        }
        self.ranged(port, "tunnel.dst_port", 1, 65535)
            .and_then(|p| u16::try_from(p).ok())
    }

    fn ranged(&mut self, value: &Sp<i128>, what: &str, min: i128, max: i128) -> Option<i128> {
        if (min..=max).contains(&value.v) {
            return Some(value.v);
        }
        let problem = Problem::OutOfRange {
            what: what.to_string(),
            value: value.v,
            min,
            max,
        };
        self.report(problem, value.at);
        None
    }

    fn mtu(&mut self, raw: &RawTopology, tunnel: &TunnelSpec) -> u32 {
        let Some(mtu) = &raw.underlay_mtu else {
            return 1500;
        };
        let Some(value) = self.ranged(mtu, "underlay.mtu", 68, 65535) else {
            return 1500;
        };
        #[allow(clippy::expect_used, reason = "`ranged` checked 68..=65535")]
        let underlay = u32::try_from(value).expect("checked to be at most 65535");
        let overhead = tunnel.kind.overhead(tunnel.key.is_some()) + 4;
        let overlay = i64::from(underlay) - i64::from(overhead);
        if overlay < 1280 {
            let problem = Problem::MtuTooSmall {
                overlay,
                underlay,
                overhead,
            };
            self.report(problem, mtu.at);
        }
        underlay
    }

    /// Checked VLANs with the position of each one's subnet.
    fn vlans(&mut self, raw: &RawTopology) -> Vec<(Vlan, Pos)> {
        let Some(raw_vlans) = &raw.vlans else {
            return Vec::new();
        };
        if raw_vlans.is_empty() {
            self.report(Problem::NoVlans, raw.vlans_at);
        }
        let mut vlans: Vec<(Vlan, Pos)> = Vec::new();
        let mut names: HashMap<&str, u32> = HashMap::new();
        let mut ids: HashMap<i128, &str> = HashMap::new();
        let mut subnets = Subnets::new();
        for v in raw_vlans {
            let (Some(name), Some(id), Some(subnet)) = (&v.name, &v.id, &v.subnet) else {
                self.broken_vlans
                    .extend(v.name.as_ref().map(|n| n.v.clone()));
                continue;
            };
            self.name(&v.name, "VLAN", VLAN_RULE, vlan_ok);
            if let Some(first_line) = names.insert(&name.v, name.at.line) {
                let problem = Problem::DuplicateVlanName {
                    name: name.v.clone(),
                    first_line,
                };
                self.report(problem, name.at);
                continue;
            }
            if let Some(first) = ids.insert(id.v, &name.v) {
                let problem = Problem::DuplicateVlanId {
                    id: id.v,
                    first: first.to_string(),
                    second: name.v.clone(),
                };
                self.report(problem, id.at);
            }
            match self.vlan(v, &vlans, &subnets) {
                Some(vlan) => {
                    subnets.insert(
                        (u32::from(vlan.subnet.network()), vlan.subnet.prefix_len()),
                        vlans.len(),
                    );
                    self.vlan_index
                        .entry(vlan.name.clone())
                        .or_insert(vlans.len());
                    vlans.push((vlan, subnet.at));
                }
                None => {
                    self.broken_vlans.insert(name.v.clone());
                }
            }
        }
        vlans
    }

    /// One VLAN whose fields are all present: id range, subnet, gateway.
    fn vlan(&mut self, v: &RawVlan, earlier: &[(Vlan, Pos)], subnets: &Subnets) -> Option<Vlan> {
        let (name, id, subnet) = (v.name.as_ref()?, v.id.as_ref()?, v.subnet.as_ref()?);
        let id = self.ranged(id, "vlans[].id", 1, 4094);
        let net = network(self.out, subnet, "subnet");
        let gateway = v.gateway.as_ref().and_then(|g| address(self.out, g));
        let (id, net) = (u16::try_from(id?).ok()?, net?);
        self.overlapping_subnet(earlier, subnets, &name.v, net, subnet.at);
        self.gateway(v, net, gateway);
        let dhcp = self.needs_gateway(v, &v.dhcp, "dhcp");
        let nat = self.needs_gateway(v, &v.nat, "nat");
        Some(Vlan {
            name: name.v.clone(),
            id,
            subnet: net,
            gateway,
            dhcp,
            nat,
        })
    }

    /// The value of a host-side switch (`dhcp`, `nat`), which needs a `gateway`: the
    /// gateway is the router the DHCP answers name and the address NAT routes through.
    fn needs_gateway(&mut self, v: &RawVlan, flag: &Option<Sp<bool>>, field: &'static str) -> bool {
        let Some(flag) = flag else { return false };
        if flag.v && v.gateway.is_none() {
            let vlan = v.name.as_ref().map_or_else(String::new, |n| n.v.clone());
            self.report(Problem::NeedsGateway { vlan, field }, flag.at);
        }
        flag.v
    }

    /// Reports the first earlier VLAN whose subnet overlaps `net` (one error per VLAN,
    /// found in O(log n): a thousand VLANs on one subnet are a thousand errors, not half
    /// a million).
    fn overlapping_subnet(
        &mut self,
        earlier: &[(Vlan, Pos)],
        subnets: &Subnets,
        name: &str,
        net: Ipv4Net,
        at: Pos,
    ) {
        let start = u32::from(net.network());
        let containing = (0..=net.prefix_len()).find_map(|p| {
            let outer = Ipv4Net::new(net.network(), p).ok()?.trunc();
            subnets.get(&(u32::from(outer.network()), p)).copied()
        });
        let inside = || {
            subnets
                .range((start, 0)..=(u32::from(net.broadcast()), 32))
                .map(|(_, &i)| i)
                .next()
        };
        let Some(other) = containing.or_else(inside).and_then(|i| earlier.get(i)) else {
            return;
        };
        let problem = Problem::SubnetsOverlap {
            first: other.0.name.clone(),
            first_subnet: other.0.subnet.to_string(),
            second: name.to_string(),
            second_subnet: net.to_string(),
        };
        self.report(problem, at);
    }

    fn gateway(&mut self, v: &RawVlan, net: Ipv4Net, gateway: Option<Ipv4Addr>) {
        let (Some(gw), Some(text), Some(name)) = (gateway, &v.gateway, &v.name) else {
            return;
        };
        let which = if !net.contains(&gw) {
            let problem = Problem::GatewayOutsideSubnet {
                vlan: name.v.clone(),
                gateway: gw.to_string(),
                subnet: net.to_string(),
            };
            self.report(problem, text.at);
            return;
        } else if net.prefix_len() < 31 && gw == net.network() {
            "network"
        } else if net.prefix_len() < 31 && gw == net.broadcast() {
            "broadcast"
        } else {
            return;
        };
        let problem = Problem::GatewayNotHost {
            vlan: name.v.clone(),
            gateway: gw.to_string(),
            which,
            subnet: net.to_string(),
        };
        self.report(problem, text.at);
    }

    fn hosts(&mut self, raw: &RawTopology, vlans: &[(Vlan, Pos)]) -> Vec<Host> {
        let Some(raw_hosts) = &raw.hosts else {
            self.graph_ready = false;
            return Vec::new();
        };
        if raw_hosts.is_empty() {
            self.report(Problem::NoHosts, raw.hosts_at);
            self.graph_ready = false;
        }
        let mut names: HashMap<&str, u32> = HashMap::new();
        let mut ips: HashMap<Ipv4Addr, &str> = HashMap::new();
        let mut hosts = Vec::with_capacity(raw_hosts.len());
        for h in raw_hosts {
            let name = self.name(&h.name, "host", HOST_RULE, host_ok);
            if let Some(n) = &h.name {
                if let Some(first_line) = names.insert(&n.v, n.at.line) {
                    let problem = Problem::DuplicateHost {
                        name: n.v.clone(),
                        first_line,
                    };
                    self.report(problem, n.at);
                    self.graph_ready = false;
                }
                if !host_ok(&n.v) {
                    self.graph_ready = false;
                }
            } else {
                self.graph_ready = false;
            }
            let underlay_ip = self.underlay(h, &name, &mut ips);
            let ovsdb = self.ovsdb(h, &name);
            let ranges = self.host_ranges(h, &name, vlans);
            hosts.push(Host {
                name,
                underlay_ip,
                ovsdb,
                ranges,
            });
        }
        self.range_overlaps(raw, &hosts, vlans);
        self.gateways_in_ranges(raw, &hosts, vlans);
        hosts
    }

    fn underlay<'r>(
        &mut self,
        h: &'r RawHost,
        name: &str,
        ips: &mut HashMap<Ipv4Addr, &'r str>,
    ) -> Ipv4Addr {
        let Some(text) = &h.underlay_ip else {
            return Ipv4Addr::UNSPECIFIED;
        };
        let Some(ip) = address(self.out, text) else {
            return Ipv4Addr::UNSPECIFIED;
        };
        let reason = if ip.is_unspecified() {
            Some("unspecified")
        } else if ip.is_broadcast() {
            Some("the broadcast address")
        } else if ip.is_multicast() {
            Some("a multicast address")
        } else if ip.is_loopback() {
            Some("a loopback address")
        } else {
            None
        };
        if let Some(reason) = reason {
            let problem = Problem::UnusableUnderlay {
                host: name.to_string(),
                ip: ip.to_string(),
                reason,
            };
            self.report(problem, text.at);
        } else if let Some(first) = ips.insert(ip, h.name.as_ref().map_or("", |n| &n.v)) {
            let problem = Problem::DuplicateUnderlay {
                ip: ip.to_string(),
                first: first.to_string(),
                second: name.to_string(),
            };
            self.report(problem, text.at);
        }
        ip
    }

    /// The host's endpoint, parsed once here; nobody parses it again.
    fn ovsdb(&mut self, h: &RawHost, name: &str) -> Endpoint {
        let default = || Endpoint::Unix(DEFAULT_OVSDB.trim_start_matches("unix:").into());
        let Some(text) = &h.ovsdb else {
            return default();
        };
        match Endpoint::parse(&text.v) {
            Err(_) => {
                let problem = Problem::BadEndpoint {
                    host: name.to_string(),
                    value: text.v.clone(),
                };
                self.report(problem, text.at);
                default()
            }
            Ok(endpoint) => {
                if endpoint.is_exposed() {
                    let problem = Problem::ExposedEndpoint {
                        host: name.to_string(),
                        value: text.v.clone(),
                    };
                    self.report(problem, text.at);
                }
                endpoint
            }
        }
    }

    fn host_ranges(&mut self, h: &RawHost, host: &str, vlans: &[(Vlan, Pos)]) -> Ranges {
        let mut ranges = Ranges::with_capacity(h.ranges.len());
        for (vlan_name, text) in &h.ranges {
            let found = self
                .vlan_index
                .get(vlan_name.v.as_str())
                .map(|&i| &vlans[i]);
            let Some((vlan, _)) = found else {
                if self.broken_vlans.contains(&vlan_name.v) {
                    continue;
                }
                let problem = Problem::UnknownVlan {
                    host: host.to_string(),
                    vlan: vlan_name.v.clone(),
                    suggestion: self
                        .suggest(&vlan_name.v, vlans.iter().map(|(v, _)| v.name.as_str()))
                        .map(str::to_string),
                };
                self.report(problem, vlan_name.at);
                continue;
            };
            let Some(net) = network(self.out, text, "range") else {
                continue;
            };
            if !vlan.subnet.contains(&net) {
                let problem = Problem::RangeOutsideSubnet {
                    host: host.to_string(),
                    vlan: vlan.name.clone(),
                    range: net.to_string(),
                    subnet: vlan.subnet.to_string(),
                };
                self.report(problem, text.at);
                continue;
            }
            ranges.insert(vlan.name.clone(), net);
        }
        ranges.shrink_to_fit();
        ranges
    }

    /// Finds overlapping ranges per VLAN in O(n log n): sort by start, sweep with the
    /// range reaching furthest so far.
    fn range_overlaps(&mut self, raw: &RawTopology, hosts: &[Host], vlans: &[(Vlan, Pos)]) {
        // One pass over every host's ranges, grouped by VLAN: O(ranges), not VLANs × hosts.
        let mut by_vlan: HashMap<&str, Vec<(u32, u32, usize)>> = HashMap::new();
        for (i, h) in hosts.iter().enumerate() {
            for (name, r) in &h.ranges {
                let span = (u32::from(r.network()), u32::from(r.broadcast()), i);
                by_vlan.entry(name.as_str()).or_default().push(span);
            }
        }
        for (vlan, _) in vlans {
            let Some(mut spans) = by_vlan.remove(vlan.name.as_str()) else {
                continue;
            };
            spans.sort_unstable();
            let mut reach: Option<(u32, usize)> = None;
            for (start, end, i) in spans {
                if let Some((far, j)) = reach {
                    if start <= far {
                        self.overlap(raw, hosts, &vlan.name, j.min(i), j.max(i));
                    }
                }
                if reach.is_none_or(|(far, _)| end > far) {
                    reach = Some((end, i));
                }
            }
        }
    }

    fn overlap(
        &mut self,
        raw: &RawTopology,
        hosts: &[Host],
        vlan: &str,
        first: usize,
        second: usize,
    ) {
        let raw_hosts = raw.hosts.as_deref().unwrap_or_default();
        let pos = |i: usize| {
            raw_hosts.get(i).map_or(Pos::default(), |h| {
                h.ranges
                    .iter()
                    .find(|(v, _)| v.v == vlan)
                    .map_or(h.at, |(_, r)| r.at)
            })
        };
        let problem = Problem::RangesOverlap {
            vlan: vlan.to_string(),
            first: hosts[first].name.clone(),
            first_range: hosts[first].ranges[vlan].to_string(),
            second: hosts[second].name.clone(),
            second_range: hosts[second].ranges[vlan].to_string(),
            first_line: pos(first).line,
        };
        self.report(problem, pos(second));
    }

    fn gateways_in_ranges(&mut self, raw: &RawTopology, hosts: &[Host], vlans: &[(Vlan, Pos)]) {
        let mut gateway_at: HashMap<&str, Pos> = HashMap::new();
        for v in raw.vlans.iter().flatten() {
            if let (Some(name), Some(gateway)) = (&v.name, &v.gateway) {
                gateway_at.entry(name.v.as_str()).or_insert(gateway.at);
            }
        }
        // In VLAN order, then host order, as before; each host's ranges looked up once.
        let mut found: Vec<(usize, usize)> = Vec::new();
        for (h, host) in hosts.iter().enumerate() {
            for (name, range) in &host.ranges {
                let Some(&v) = self.vlan_index.get(name.as_str()) else {
                    continue;
                };
                if vlans[v].0.gateway.is_some_and(|gw| range.contains(&gw)) {
                    found.push((v, h));
                }
            }
        }
        found.sort_unstable();
        for (v, h) in found {
            let (vlan, host) = (&vlans[v].0, &hosts[h]);
            let Some(gw) = vlan.gateway else { continue };
            let problem = Problem::GatewayInRange {
                vlan: vlan.name.clone(),
                gateway: gw.to_string(),
                host: host.name.clone(),
                range: host.ranges[vlan.name.as_str()].to_string(),
            };
            let at = gateway_at
                .get(vlan.name.as_str())
                .copied()
                .unwrap_or_default();
            self.report(problem, at);
        }
    }

    /// `hub` and `links` used with the right topology, and present when needed.
    fn shape_refs(&mut self, raw: &RawTopology, tunnel: &TunnelSpec, hosts: &[Host]) {
        let t = &raw.tunnel;
        let Some(shape_at) = t.shape.as_ref().map(|s| s.at) else {
            return;
        };
        let word = tunnel.shape.word();
        let is_star = matches!(tunnel.shape, Shape::Star { .. });
        let is_custom = matches!(tunnel.shape, Shape::Custom { .. });
        for (field, needs, given, wanted) in [
            ("hub", "star", t.hub.as_ref().map(|h| h.at), is_star),
            ("links", "custom", t.links.as_ref().map(|l| l.at), is_custom),
        ] {
            match (given, wanted) {
                (Some(at), false) => {
                    let problem = Problem::FieldNotForShape {
                        field,
                        needs,
                        shape: word,
                    };
                    self.report(problem, at);
                }
                (None, true) => {
                    self.report(Problem::ShapeNeedsField { shape: word, field }, shape_at);
                    self.graph_ready = false;
                }
                _ => {}
            }
        }
        if let (true, Some(hub)) = (is_star, &t.hub) {
            self.known_host(hub, "`tunnel.hub`", &name_index(hosts));
        }
    }

    fn known_host(
        &mut self,
        name: &Sp<String>,
        what: &'static str,
        index: &HashMap<&str, usize>,
    ) -> Option<usize> {
        if let Some(i) = index.get(name.v.as_str()) {
            return Some(*i);
        }
        let problem = Problem::UnknownHost {
            what,
            name: name.v.clone(),
            suggestion: self
                .suggest(&name.v, index.keys().copied())
                .map(str::to_string),
        };
        self.report(problem, name.at);
        self.graph_ready = false;
        None
    }

    /// Fills in the hub and links, each link ordered by the hosts' file order.
    fn resolve_links(
        &mut self,
        raw: &RawTopology,
        mut tunnel: TunnelSpec,
        hosts: &[Host],
    ) -> TunnelSpec {
        match &mut tunnel.shape {
            Shape::Star { hub } => {
                if let Some(h) = &raw.tunnel.hub {
                    hub.clone_from(&h.v);
                }
            }
            Shape::Custom { links } => *links = self.custom_links(raw, hosts),
            Shape::Mesh | Shape::Chain => {}
        }
        tunnel
    }

    /// The custom links, checked for unknown hosts, self-links and repeats.
    fn custom_links(&mut self, raw: &RawTopology, hosts: &[Host]) -> Vec<(String, String)> {
        let index = name_index(hosts);
        let mut links = Vec::new();
        let mut seen: HashMap<(usize, usize), u32> = HashMap::new();
        for link in raw.tunnel.links.iter().flat_map(|l| &l.v) {
            let Some((a, b)) = &link.ends else {
                self.graph_ready = false;
                continue;
            };
            let ia = self.known_host(a, "`tunnel.links`", &index);
            let ib = self.known_host(b, "`tunnel.links`", &index);
            let (Some(ia), Some(ib)) = (ia, ib) else {
                continue;
            };
            if ia == ib {
                self.report(Problem::SelfLink { host: a.v.clone() }, link.at);
                continue;
            }
            let pair = (ia.min(ib), ia.max(ib));
            if let Some(first_line) = seen.insert(pair, link.at.line) {
                let problem = Problem::DuplicateLink {
                    a: a.v.clone(),
                    b: b.v.clone(),
                    first_line,
                };
                self.report(problem, link.at);
                continue;
            }
            links.push((hosts[pair.0].name.clone(), hosts[pair.1].name.clone()));
        }
        links
    }
}

/// The overlay MTU of a topology (underlay minus encapsulation minus the VLAN tag).
pub fn overlay_mtu(topology: &Topology) -> i64 {
    let overhead = topology.tunnel.kind.overhead(topology.tunnel.key.is_some()) + 4;
    i64::from(topology.underlay_mtu) - i64::from(overhead)
}

/// Runs the graph analysis when validation left the graph sound.
pub fn graph_problems(checked: &Checked) -> Option<(crate::topology::Analysis, Vec<Problem>)> {
    checked
        .graph_ready
        .then(|| graph::analyze(&checked.topology))
}
