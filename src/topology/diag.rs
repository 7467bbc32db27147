//! Problems found in a topology file and their compiler-style rendering.
//!
//! A [`Problem`] is data (names, values), never a sentence; its `Display` is the
//! one-line message and [`Problem::help`] / [`Problem::note`] the fix and the why.
//! A [`Diagnostic`] places a problem in the file. This module does no I/O: rendering
//! takes the file's text and returns a string.

use super::yaml::Pos;
use crate::terminal::{escape, escape_cut, window};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The topology is refused.
    Error,
    /// Worth knowing; the topology is accepted.
    Warning,
}

/// Everything that can be wrong (or worth a warning) in a topology file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The YAML itself does not parse.
    #[error("invalid YAML: {message}")]
    Syntax {
        /// The parser's message.
        message: String,
    },
    /// A mapping key the schema does not know.
    #[error("unknown field `{field}` in {within}")]
    UnknownField {
        /// The key as written.
        field: String,
        /// Which section it sits in.
        within: &'static str,
        /// The closest allowed name, if any is close.
        suggestion: Option<&'static str>,
        /// Every allowed name.
        allowed: Vec<&'static str>,
    },
    /// A key given twice in one mapping.
    #[error("duplicate key `{key}`")]
    DuplicateKey {
        /// The key.
        key: String,
        /// Line of the first occurrence.
        first_line: u32,
    },
    /// A value of the wrong YAML type.
    #[error("`{what}` must be {expected}, found {found}")]
    WrongType {
        /// Dotted path of the field.
        what: String,
        /// What the schema wants.
        expected: &'static str,
        /// What the file has.
        found: &'static str,
    },
    /// An integer literal with more digits than any field can hold.
    #[error("`{what}` is too large: no field takes an integer of more than 38 digits")]
    IntegerTooLarge {
        /// Dotted path of the field.
        what: String,
    },
    /// The file is not UTF-8 text.
    #[error("the file is not UTF-8 text: byte {offset} ({byte:#04x}) is not valid UTF-8{}", encoding_hint(*bom))]
    NotUtf8 {
        /// 0-based byte offset of the first invalid byte.
        offset: usize,
        /// That byte.
        byte: u8,
        /// A byte-order mark of another encoding at the start, if any.
        bom: Option<&'static str>,
    },
    /// The file is larger than ovsnet reads.
    #[error("the file is larger than the {limit} bytes ({}) ovsnet reads as {what}{}",
        mebibytes(*limit), size.map_or_else(String::new, |s| format!(": it has {s} bytes")))]
    TooLarge {
        /// The file's size in bytes, when the system knows it (not for a pipe).
        size: Option<u64>,
        /// The largest accepted.
        limit: u64,
        /// What the file was read as (`a topology`, `a saved plan`).
        what: &'static str,
    },
    /// A required field is absent.
    #[error("missing field `{field}` in {within}")]
    Missing {
        /// The field.
        field: &'static str,
        /// The section it belongs in.
        within: &'static str,
    },
    /// A schema version this ovsnet does not read.
    #[error("unsupported schema version `{found}`")]
    UnsupportedVersion {
        /// The version written.
        found: i128,
    },
    /// A value outside a fixed set of words.
    #[error("`{what}` cannot be `{value}`")]
    NotOneOf {
        /// Dotted path of the field.
        what: String,
        /// The value written.
        value: String,
        /// The allowed words.
        allowed: &'static [&'static str],
        /// The closest allowed word, if any is close.
        suggestion: Option<&'static str>,
    },
    /// A name that breaks its naming rule.
    #[error("invalid {what} name `{name}`")]
    BadName {
        /// What is being named (cluster, host, VLAN, bridge).
        what: &'static str,
        /// The name.
        name: String,
        /// The rule, in words.
        rule: &'static str,
    },
    /// An address or network that does not parse.
    #[error("`{value}` is not {expected}")]
    BadAddress {
        /// The text written.
        value: String,
        /// What was expected, with its article (`an IPv4 address`).
        expected: &'static str,
        /// An example of the right form.
        example: &'static str,
    },
    /// A network with bits set below its prefix.
    #[error("{what} `{value}` has host bits set")]
    HostBits {
        /// What the network is (subnet, range).
        what: &'static str,
        /// As written.
        value: String,
        /// The network it probably means.
        network: String,
    },
    /// An integer outside its allowed interval.
    #[error("`{what}` is {value}, outside {min}..={max}")]
    OutOfRange {
        /// Dotted path of the field.
        what: String,
        /// The value written.
        value: i128,
        /// Smallest allowed.
        min: i128,
        /// Largest allowed.
        max: i128,
    },
    /// An underlay address peers cannot use.
    #[error("`{ip}` cannot be the underlay address of `{host}`: it is {reason}")]
    UnusableUnderlay {
        /// The host.
        host: String,
        /// The address.
        ip: String,
        /// Why (multicast, unspecified, ...).
        reason: &'static str,
    },
    /// An OVSDB endpoint of the wrong form.
    #[error("invalid OVSDB endpoint `{value}` for host `{host}`")]
    BadEndpoint {
        /// The host.
        host: String,
        /// The endpoint written.
        value: String,
    },
    /// The file holds nothing.
    #[error("the topology file is empty")]
    EmptyFile,
    /// No hosts at all.
    #[error("the topology has no hosts")]
    NoHosts,
    /// No VLANs at all.
    #[error("the topology declares no VLANs")]
    NoVlans,
    /// Two hosts with one name.
    #[error("duplicate host name `{name}`")]
    DuplicateHost {
        /// The name.
        name: String,
        /// Line of the first host with it.
        first_line: u32,
    },
    /// Two hosts with one underlay address.
    #[error("hosts `{first}` and `{second}` share the underlay address `{ip}`")]
    DuplicateUnderlay {
        /// The address.
        ip: String,
        /// The host that has it first.
        first: String,
        /// The host that repeats it.
        second: String,
    },
    /// Two VLANs with one name.
    #[error("duplicate VLAN name `{name}`")]
    DuplicateVlanName {
        /// The name.
        name: String,
        /// Line of the first VLAN with it.
        first_line: u32,
    },
    /// Two VLANs with one id.
    #[error("VLANs `{first}` and `{second}` share the id {id}")]
    DuplicateVlanId {
        /// The id.
        id: i128,
        /// The VLAN that has it first.
        first: String,
        /// The VLAN that repeats it.
        second: String,
    },
    /// Two VLAN subnets that overlap.
    #[error("subnets of VLANs `{first}` and `{second}` overlap ({first_subnet}, {second_subnet})")]
    SubnetsOverlap {
        /// One VLAN.
        first: String,
        /// Its subnet.
        first_subnet: String,
        /// The other VLAN.
        second: String,
        /// Its subnet.
        second_subnet: String,
    },
    /// A host's range not inside its VLAN's subnet.
    #[error("range {range} of `{host}` is outside the subnet {subnet} of VLAN `{vlan}`")]
    RangeOutsideSubnet {
        /// The host.
        host: String,
        /// The VLAN.
        vlan: String,
        /// The range.
        range: String,
        /// The VLAN's subnet.
        subnet: String,
    },
    /// Two hosts' ranges in one VLAN that overlap: containers would get the same address.
    #[error("ranges of `{first}` and `{second}` overlap in VLAN `{vlan}` ({first_range}, {second_range})")]
    RangesOverlap {
        /// The VLAN.
        vlan: String,
        /// The earlier host.
        first: String,
        /// Its range.
        first_range: String,
        /// The later host.
        second: String,
        /// Its range.
        second_range: String,
        /// Line of the earlier host's range.
        first_line: u32,
    },
    /// A gateway outside its VLAN's subnet.
    #[error("gateway {gateway} of VLAN `{vlan}` is outside its subnet {subnet}")]
    GatewayOutsideSubnet {
        /// The VLAN.
        vlan: String,
        /// The gateway.
        gateway: String,
        /// The subnet.
        subnet: String,
    },
    /// A gateway that is the subnet's network or broadcast address.
    #[error("gateway {gateway} of VLAN `{vlan}` is the {which} address of {subnet}")]
    GatewayNotHost {
        /// The VLAN.
        vlan: String,
        /// The gateway.
        gateway: String,
        /// `network` or `broadcast`.
        which: &'static str,
        /// The subnet.
        subnet: String,
    },
    /// `dhcp` or `nat` on a VLAN without a `gateway`.
    #[error("`{field}` on VLAN `{vlan}` needs a `gateway`")]
    NeedsGateway {
        /// The VLAN.
        vlan: String,
        /// `dhcp` or `nat`.
        field: &'static str,
    },
    /// A gateway inside a host's range: a container could be handed the gateway's address.
    #[error("gateway {gateway} of VLAN `{vlan}` is inside the range {range} of `{host}`")]
    GatewayInRange {
        /// The VLAN.
        vlan: String,
        /// The gateway.
        gateway: String,
        /// The host.
        host: String,
        /// Its range.
        range: String,
    },
    /// A range keyed by a VLAN that is not declared.
    #[error("host `{host}` has a range in unknown VLAN `{vlan}`")]
    UnknownVlan {
        /// The host.
        host: String,
        /// The key written.
        vlan: String,
        /// The closest declared VLAN.
        suggestion: Option<String>,
    },
    /// `hub` or `links` naming a host that is not declared.
    #[error("{what} names unknown host `{name}`")]
    UnknownHost {
        /// `tunnel.hub` or `tunnel.links`.
        what: &'static str,
        /// The name written.
        name: String,
        /// The closest declared host.
        suggestion: Option<String>,
    },
    /// `hub` or `links` with a topology that does not use it.
    #[error("`tunnel.{field}` is only used with `topology: {needs}`, not `{shape}`")]
    FieldNotForShape {
        /// `hub` or `links`.
        field: &'static str,
        /// The topology that uses it.
        needs: &'static str,
        /// The topology written.
        shape: &'static str,
    },
    /// `topology: star` without a hub, or `custom` without links.
    #[error("`topology: {shape}` needs `tunnel.{field}`")]
    ShapeNeedsField {
        /// The topology.
        shape: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A link from a host to itself.
    #[error("link from `{host}` to itself")]
    SelfLink {
        /// The host.
        host: String,
    },
    /// The same link twice (in either direction).
    #[error("duplicate link between `{a}` and `{b}`")]
    DuplicateLink {
        /// One end.
        a: String,
        /// The other end.
        b: String,
        /// Line of the first occurrence.
        first_line: u32,
    },
    /// Hosts the tunnel graph does not reach.
    #[error(
        "the tunnel graph is not connected: {} cannot reach `{from}`",
        list(unreached)
    )]
    Disconnected {
        /// The first host.
        from: String,
        /// Hosts not reachable from it.
        unreached: Vec<String>,
    },
    /// A cycle in a graph that is not a full mesh, under `loop_protection: auto`.
    #[error(
        "the tunnel graph has a cycle ({}) that `loop_protection: auto` cannot protect",
        cycle_text(cycle)
    )]
    CycleNeedsRstp {
        /// One cycle, as host names; the first is repeated at the end when printed.
        cycle: Vec<String>,
    },
    /// `loop_protection: protected` on a graph where some host must relay.
    #[error("`loop_protection: protected` would cut `{a}` off from `{b}`: `{relay}` could not relay between them")]
    ProtectedNeedsMesh {
        /// A host that would have to relay.
        relay: String,
        /// One neighbour of the relay.
        a: String,
        /// Another neighbour, not directly linked to `a`.
        b: String,
    },
    /// A tunnel key too large for the tunnel type.
    #[error("`tunnel.key` {key} does not fit {kind} (at most {max})")]
    KeyTooLarge {
        /// The tunnel type.
        kind: &'static str,
        /// The key.
        key: i128,
        /// The largest allowed.
        max: u32,
    },
    /// `dst_port` with GRE, which has no UDP port.
    #[error("`tunnel.dst_port` cannot be used with gre")]
    DstPortWithGre,
    /// The overlay MTU budget leaves less than IPv6's minimum.
    #[error("overlay MTU would be {overlay}, below the minimum of 1280")]
    MtuTooSmall {
        /// The resulting overlay MTU (may be negative).
        overlay: i64,
        /// The underlay MTU.
        underlay: u32,
        /// Encapsulation plus VLAN tag overhead.
        overhead: u32,
    },
    /// Warning: hosts whose loss splits the overlay.
    #[error("{} {} single point of failure: losing {} splits the overlay",
        and_list(hosts), if hosts.len() == 1 { "is a" } else { "are each a" },
        if hosts.len() == 1 { "it" } else { "one" })]
    SinglePointsOfFailure {
        /// The articulation points, in file order.
        hosts: Vec<String>,
    },
    /// Warning: frames may cross many tunnels.
    #[error("the tunnel graph's diameter is {diameter} hops (more than {limit})")]
    LargeDiameter {
        /// The diameter.
        diameter: usize,
        /// The threshold.
        limit: usize,
    },
    /// Warning: an explicit `loop_protection: none` on a cyclic graph.
    #[error("`loop_protection: none` on a tunnel graph with cycles: broadcast frames will loop")]
    UnprotectedCycle,
    /// Warning: a `tcp:` endpoint off this machine, which anyone on the path can use.
    #[error("host `{host}` is reached over plain `{value}`: unauthenticated and unencrypted")]
    ExposedEndpoint {
        /// The host.
        host: String,
        /// The endpoint written.
        value: String,
    },
}

fn mebibytes(bytes: u64) -> String {
    format!("{} MiB", bytes >> 20)
}

fn encoding_hint(bom: Option<&str>) -> String {
    bom.map_or_else(String::new, |name| format!(" (it starts like {name})"))
}

fn list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}

/// Names shown in one message before the rest is counted: a 10,000-host chain has
/// 9,998 relays, and a warning must stay readable.
const LISTED_NAMES: usize = 8;

/// `a`, `a` and `b`, `a`, `b` and `c`; past [`LISTED_NAMES`], `a`, `b`, … and 92 more.
fn and_list(names: &[String]) -> String {
    if names.len() > LISTED_NAMES {
        let shown: Vec<String> = names[..LISTED_NAMES]
            .iter()
            .map(|n| format!("`{n}`"))
            .collect();
        return format!(
            "{} and {} more",
            shown.join(", "),
            names.len() - LISTED_NAMES
        );
    }
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => quoted.concat(),
    }
}

#[cfg(test)]
mod list_tests {
    use super::and_list;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("h{i}")).collect()
    }

    #[test]
    fn short_lists_name_everyone() {
        assert_eq!(and_list(&names(1)), "`h0`");
        assert_eq!(and_list(&names(3)), "`h0`, `h1` and `h2`");
    }

    #[test]
    fn a_long_list_of_relays_is_cut_and_counted() {
        let text = and_list(&names(9998));
        assert!(text.ends_with("`h7` and 9990 more"), "{text}");
        assert!(text.len() < 80, "{text}");
    }
}

fn cycle_text(cycle: &[String]) -> String {
    let mut parts: Vec<String> = cycle.iter().map(|n| format!("`{n}`")).collect();
    if let Some(first) = parts.first() {
        parts.push(first.clone());
    }
    parts.join(" → ")
}

const STORM: &str = "a broadcast frame (ARP, DHCP) sent into a loop is relayed around it \
forever and copied at every turn, a broadcast storm that saturates every host";

impl Problem {
    /// Whether this problem refuses the topology.
    pub fn severity(&self) -> Severity {
        match self {
            Problem::SinglePointsOfFailure { .. }
            | Problem::LargeDiameter { .. }
            | Problem::UnprotectedCycle
            | Problem::ExposedEndpoint { .. } => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// The fix, when there is one to suggest.
    pub fn help(&self) -> Option<String> {
        use Problem::*;
        Some(match self {
            Syntax { .. } => "fix the YAML at this position".into(),
            WrongType { expected, .. } => match *expected {
                "an integer" => "write a plain number, without quotes".into(),
                "a mapping" => "write `key: value` lines indented under it".into(),
                "a list" => "write `- item` lines indented under it".into(),
                other => format!("write {other} here"),
            },
            OutOfRange { min, max, .. } => format!("use a value from {min} to {max}"),
            UnusableUnderlay { .. } => "use the unicast address peers reach this host at".into(),
            DuplicateVlanId { .. } => "every VLAN needs its own 802.1Q id".into(),
            SubnetsOverlap { .. } => {
                "give every VLAN its own subnet, so an address says which VLAN it is in".into()
            }
            RangeOutsideSubnet { subnet, .. } => format!("pick a range inside {subnet}"),
            GatewayOutsideSubnet { subnet, .. } | GatewayNotHost { subnet, .. } => {
                format!("pick a host address inside {subnet}")
            }
            ShapeNeedsField { field: "hub", .. } => "add `hub: HOST` under `tunnel`".into(),
            ShapeNeedsField { .. } => {
                "add `links:` under `tunnel` with pairs like `- [host-a, host-b]`".into()
            }
            SelfLink { .. } => "remove it: a host needs no tunnel to itself".into(),
            KeyTooLarge { .. } => "VXLAN and Geneve keys (VNIs) have 24 bits, GRE keys 32".into(),
            IntegerTooLarge { .. } => "write a number in the range the field allows".into(),
            NotUtf8 { .. } => "save the file as UTF-8 (`iconv -t UTF-8`)".into(),
            TooLarge { .. } => "a topology of 10,000 hosts is about 1 MB, far under the limit: \
                this file is probably not what was meant; the limit keeps a runaway file from \
                exhausting a pipeline's memory"
                .into(),
            UnknownField {
                suggestion: Some(s),
                ..
            } => format!("did you mean `{s}`?"),
            UnknownField { allowed, .. } => format!("expected one of {}", words(allowed)),
            DuplicateKey { key, first_line } => {
                format!("`{key}` is already set on line {first_line}; keep one of them")
            }
            Missing { field, .. } => format!("add `{field}: ...`"),
            UnsupportedVersion { .. } => "this ovsnet reads `version: 1`".into(),
            NotOneOf {
                suggestion: Some(s),
                ..
            } => format!("did you mean `{s}`?"),
            NotOneOf { allowed, .. } => format!("expected one of {}", words(allowed)),
            BadName { rule, .. } => (*rule).into(),
            BadAddress { example, .. } => format!("write it like `{example}`"),
            HostBits { network, .. } => format!("did you mean `{network}`?"),
            BadEndpoint { .. } => "use `unix:PATH`, `tcp:IP:PORT` or `ssl:IP:PORT`".into(),
            DuplicateUnderlay { .. } => {
                "every host needs its own underlay address: peers tell hosts apart by it".into()
            }
            NoVlans => "declare at least one VLAN: a tunnel port with no VLAN in `trunks` \
                 would carry every VLAN"
                .into(),
            EmptyFile => "start from one of the examples in `topologies/`".into(),
            NoHosts => "add at least one entry under `hosts:`".into(),
            DuplicateHost { first_line, .. } => {
                format!(
                    "the first host with this name is on line {first_line}; names must be unique"
                )
            }
            DuplicateVlanName { first_line, .. } => {
                format!("the first VLAN with this name is on line {first_line}")
            }
            RangesOverlap { first_line, .. } => format!(
                "the other range is on line {first_line}; give every host a disjoint slice, \
                 or two containers will get the same address"
            ),
            GatewayInRange { .. } => "shrink the range or move the gateway out of it".into(),
            NeedsGateway { field: "dhcp", .. } => "add `gateway: ADDRESS` to the VLAN: DHCP \
                 answers name it as the router"
                .into(),
            NeedsGateway { .. } => "add `gateway: ADDRESS` to the VLAN: containers leave \
                 through it to be masqueraded"
                .into(),
            UnknownVlan {
                suggestion: Some(s),
                ..
            }
            | UnknownHost {
                suggestion: Some(s),
                ..
            } => format!("did you mean `{s}`?"),
            UnknownVlan { .. } => "declare it under `vlans:` or use a declared VLAN".into(),
            UnknownHost { .. } => "declare it under `hosts:` or use a declared host".into(),
            FieldNotForShape { field, .. } => format!("remove `{field}` or change `topology`"),
            DuplicateLink { first_line, .. } => {
                format!("the same link is already listed on line {first_line}")
            }
            Disconnected { .. } => "add links so that every host can reach every other".into(),
            CycleNeedsRstp { .. } => "set `loop_protection: rstp` to run spanning tree on the \
                 overlay bridge, or remove links until the graph is a tree"
                .into(),
            ProtectedNeedsMesh { .. } => {
                "use `loop_protection: auto` (or `rstp` when the graph has a cycle)".into()
            }
            DstPortWithGre => "remove `dst_port`, or use vxlan or geneve".into(),
            MtuTooSmall { overhead, .. } => {
                format!("raise `underlay.mtu` to at least {}", 1280 + overhead)
            }
            SinglePointsOfFailure { .. } => {
                "a ring with `loop_protection: rstp` or a full mesh has no single point of failure"
                    .into()
            }
            LargeDiameter { .. } => {
                "every hop is a relay through another host; a mesh or a star is shorter".into()
            }
            UnprotectedCycle => "use `loop_protection: auto` unless you are testing storms".into(),
            ExposedEndpoint { .. } => {
                "use `ssl:IP:PORT` (mutual TLS) or `ssh://HOST`; keep `tcp:` for labs".into()
            }
        })
    }

    /// Why, when the message alone does not explain it.
    pub fn note(&self) -> Option<String> {
        use Problem::*;
        Some(match self {
            CycleNeedsRstp { .. } => format!(
                "{STORM}; split horizon prevents that only on a full mesh, where no host \
                 ever needs to relay"
            ),
            ProtectedNeedsMesh { .. } => "split horizon drops every frame that arrives on one \
                 tunnel and would leave by another, so it only works when every pair of hosts \
                 has its own tunnel (a full mesh)"
                .into(),
            UnprotectedCycle => STORM.into(),
            MtuTooSmall {
                underlay, overhead, ..
            } => format!(
                "overlay MTU = underlay MTU {underlay} - {} encapsulation - 4 VLAN tag",
                overhead - 4
            ),
            _ => return None,
        })
    }
}

fn words(allowed: &[&str]) -> String {
    let quoted: Vec<String> = allowed.iter().map(|w| format!("`{w}`")).collect();
    quoted.join(", ")
}

/// A problem placed in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong.
    pub problem: Problem,
    /// Where (line 0 when the problem has no single place).
    pub at: Pos,
}

impl Diagnostic {
    /// Error or warning.
    pub fn severity(&self) -> Severity {
        self.problem.severity()
    }

    /// Renders this diagnostic as a compiler would, with the source line underlined.
    pub fn render(&self, file: &str, text: &str, color: bool) -> String {
        let line = source_line(text, &line_starts(text), self.at.line);
        self.render_line(&escape(file), line, color)
    }

    /// The rendering given the diagnostic's source line (already found). Every piece of
    /// file text is escaped and cut, so neither a control character nor a 20 MB line
    /// reaches the terminal.
    fn render_line(&self, file: &str, source: Option<&str>, color: bool) -> String {
        let paint = Paint { on: color };
        let mut out = String::new();
        let (word, style) = match self.severity() {
            Severity::Error => ("error", RED),
            Severity::Warning => ("warning", YELLOW),
        };
        let message = escape_cut(&self.problem.to_string(), MESSAGE_CHARS);
        let head = format!("{}: {}", paint.on(style, word), paint.on(BOLD, &message));
        let _ = writeln!(out, "{head}");
        let gutter = source.map_or(1, |_| self.at.line.to_string().len());
        let pad = " ".repeat(gutter);
        if self.at.line > 0 {
            let arrow = paint.on(BLUE, "-->");
            let _ = writeln!(
                out,
                "{pad}{arrow} {file}:{}:{}",
                self.at.line, self.at.column
            );
        } else {
            let _ = writeln!(out, "{pad}{} {file}", paint.on(BLUE, "-->"));
        }
        if let Some(line) = source {
            out.push_str(&self.snippet(line, &pad, &paint, style));
        }
        for (label, text) in [("note", self.problem.note()), ("help", self.problem.help())] {
            if let Some(text) = text {
                let _ = writeln!(
                    out,
                    "{pad} {} {}: {}",
                    paint.on(BLUE, "="),
                    paint.on(BOLD, label),
                    escape_cut(&text, MESSAGE_CHARS)
                );
            }
        }
        out
    }

    /// The kind of problem in words (`unknown field`), for counting what was not shown.
    fn kind(&self) -> String {
        kind_words(&self.problem)
    }
}

/// Characters of a message, help or note line shown before it is cut.
const MESSAGE_CHARS: usize = 400;

/// Characters of a source line shown around the caret.
const SNIPPET_CHARS: usize = 120;

/// Diagnostics shown in full; the rest are counted by kind.
const SHOWN_DIAGNOSTICS: usize = 100;

/// Bytes of rendered diagnostics after which the rest are only counted (the whole
/// output stays well under 1 MiB: each diagnostic is itself bounded by the cuts above).
const OUTPUT_BUDGET: usize = 256 * 1024;

/// `UnknownField` → `unknown field`, read from the derived `Debug` without formatting
/// the fields (which may hold a whole line of the file).
fn kind_words(problem: &Problem) -> String {
    struct Name(String);
    impl std::fmt::Write for Name {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            for c in s.chars() {
                if !c.is_ascii_alphanumeric() {
                    return Err(std::fmt::Error);
                }
                self.0.push(c);
            }
            Ok(())
        }
    }
    let mut name = Name(String::new());
    let _ = write!(name, "{problem:?}");
    let mut words = String::new();
    for c in name.0.chars() {
        if c.is_ascii_uppercase() && !words.is_empty() {
            words.push(' ');
        }
        words.push(c.to_ascii_lowercase());
    }
    words
}

impl Diagnostic {
    /// The source line with its number and the caret underline, cut around the caret.
    fn snippet(&self, line: &str, pad: &str, paint: &Paint, style: &str) -> String {
        let bar = paint.on(BLUE, "|");
        let col = self.at.column.max(1) as usize - 1;
        let (shown, caret, len) = window(line, col, self.at.len.max(1) as usize, SNIPPET_CHARS);
        let carets = paint.on(style, &"^".repeat(len));
        let num = paint.on(BLUE, &self.at.line.to_string());
        format!(
            "{pad} {bar}\n{num} {bar} {shown}\n{pad} {bar} {}{carets}\n",
            " ".repeat(caret)
        )
    }
}

/// Byte offset where each line starts (built once per rendering: finding a line by
/// rescanning the text for every diagnostic was quadratic).
fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect()
}

fn source_line<'t>(text: &'t str, starts: &[usize], line: u32) -> Option<&'t str> {
    let i = (line as usize).checked_sub(1)?;
    let start = *starts.get(i)?;
    if start >= text.len() {
        return None; // after the last line break: no line, as `str::lines` counts them
    }
    let end = starts.get(i + 1).map_or(text.len(), |e| e - 1);
    text.get(start..end).map(|l| l.trim_end_matches('\r'))
}

const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const BLUE: &str = "\x1b[1;34m";
const BOLD: &str = "\x1b[1m";

struct Paint {
    on: bool,
}

impl Paint {
    fn on(&self, style: &str, text: &str) -> String {
        if self.on {
            format!("{style}{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// Diagnostics kept in full while a file is checked; past this many, only the first ones
/// by position are kept and the others counted by kind. Rendering shows at most
/// [`SHOWN_DIAGNOSTICS`] in full, so what is shown is the same, while a file with two
/// million mistakes no longer holds two million diagnostics in memory.
const KEPT_DIAGNOSTICS: usize = 1_000;

/// Counts of diagnostics by severity and kind (`unknown field`).
type Counts = BTreeMap<(Severity, String), usize>;

/// The problems found so far: every one while there are few, the first
/// [`KEPT_DIAGNOSTICS`] by position and counts of the others when there are many.
#[derive(Debug, Default)]
pub struct Found {
    kept: Vec<Diagnostic>,
    /// Once `kept` was cut: the position of the last one kept. A problem found later
    /// at or after it sorts after every kept one (the sort is stable), so it is counted
    /// at once instead of being kept until the next cut.
    last_kept: Option<(bool, u32, u32)>,
    /// Problems dropped, counted by variant: a severity and a kind are the same for
    /// every problem of a variant, so they are worked out once per variant, not once
    /// per problem (ten million of them in a hostile file).
    dropped: Vec<Dropped>,
}

#[derive(Debug)]
struct Dropped {
    variant: std::mem::Discriminant<Problem>,
    severity: Severity,
    kind: String,
    count: usize,
}

impl Found {
    /// Adds one problem.
    pub fn push(&mut self, diagnostic: Diagnostic) {
        if self
            .last_kept
            .is_some_and(|last| position_key(&diagnostic) >= last)
        {
            self.count_dropped(&diagnostic);
            return;
        }
        self.kept.push(diagnostic);
        if self.kept.len() >= 2 * KEPT_DIAGNOSTICS {
            // Stable: a kept problem keeps its place among equals, so the first ones by
            // position are those `Diagnostics::new` would have sorted first.
            sort_by_position(&mut self.kept);
            let cut = self.kept.split_off(KEPT_DIAGNOSTICS);
            for d in &cut {
                self.count_dropped(d);
            }
            self.last_kept = self.kept.last().map(position_key);
        }
    }

    fn count_dropped(&mut self, d: &Diagnostic) {
        let variant = std::mem::discriminant(&d.problem);
        match self.dropped.iter_mut().find(|t| t.variant == variant) {
            Some(tally) => tally.count += 1,
            None => self.dropped.push(Dropped {
                variant,
                severity: d.severity(),
                kind: d.kind(),
                count: 1,
            }),
        }
    }

    /// The dropped problems counted by severity and kind.
    fn counts(&self) -> Counts {
        let mut counts = Counts::new();
        for d in &self.dropped {
            *counts.entry((d.severity, d.kind.clone())).or_default() += d.count;
        }
        counts
    }

    /// Adds problems in order.
    pub fn extend(&mut self, diagnostics: impl IntoIterator<Item = Diagnostic>) {
        for d in diagnostics {
            self.push(d);
        }
    }

    /// The kept problems, in the order they were found (tests look at them).
    #[cfg(test)]
    pub fn into_kept(self) -> Vec<Diagnostic> {
        self.kept
    }
}

fn sort_by_position(items: &mut [Diagnostic]) {
    items.sort_by_key(position_key);
}

/// The order diagnostics are shown in: by line and column, unplaced ones last.
fn position_key(d: &Diagnostic) -> (bool, u32, u32) {
    (d.at.line == 0, d.at.line, d.at.column)
}

/// Every problem found in one file, in file order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    /// The file name used in `-->` lines.
    pub file: String,
    /// The problems, sorted by position: all of them, or the first
    /// [`KEPT_DIAGNOSTICS`] when there were more (the others are in `dropped`).
    pub items: Vec<Diagnostic>,
    /// Problems past the first [`KEPT_DIAGNOSTICS`], counted by severity and kind.
    dropped: Counts,
}

impl Diagnostics {
    /// Diagnostics for `file`, sorted by position (unplaced ones last).
    pub fn new(file: &str, items: Vec<Diagnostic>) -> Diagnostics {
        Diagnostics::found(
            file,
            Found {
                kept: items,
                ..Found::default()
            },
        )
    }

    /// Diagnostics for `file` from what a check found.
    pub fn found(file: &str, found: Found) -> Diagnostics {
        let dropped = found.counts();
        let mut kept = found.kept;
        sort_by_position(&mut kept);
        Diagnostics {
            file: file.to_string(),
            items: kept,
            dropped,
        }
    }

    /// Number of errors.
    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    /// Number of warnings.
    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        let dropped: usize = self
            .dropped
            .iter()
            .filter(|((s, _), _)| *s == severity)
            .map(|(_, n)| n)
            .sum();
        let kept = self.items.iter().filter(|d| d.severity() == severity);
        kept.count() + dropped
    }

    /// Whether there is nothing to report.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty() && self.dropped.is_empty()
    }

    /// One line per diagnostic (`warning: message`), without position or source, for
    /// plan headers and machine output.
    pub fn summaries(&self) -> Vec<String> {
        let dropped: usize = self.dropped.values().sum();
        let more = (dropped > 0).then(|| format!("note: {dropped} more not listed"));
        self.items
            .iter()
            .map(|d| match d.severity() {
                Severity::Error => format!(
                    "error: {}",
                    escape_cut(&d.problem.to_string(), MESSAGE_CHARS)
                ),
                Severity::Warning => {
                    format!(
                        "warning: {}",
                        escape_cut(&d.problem.to_string(), MESSAGE_CHARS)
                    )
                }
            })
            .chain(more)
            .collect()
    }

    /// Renders the first diagnostics in full, counts the rest by kind, then a summary
    /// line when there are errors. Bounded: at most [`SHOWN_DIAGNOSTICS`] in full and
    /// about [`OUTPUT_BUDGET`] bytes, whatever the file.
    pub fn render(&self, text: &str, color: bool) -> String {
        let starts = line_starts(text);
        let file = escape(&self.file);
        let mut out = String::new();
        let mut rest = self.dropped.clone();
        for (i, item) in self.items.iter().enumerate() {
            if i < SHOWN_DIAGNOSTICS && out.len() < OUTPUT_BUDGET {
                let line = source_line(text, &starts, item.at.line);
                out.push_str(&item.render_line(&file, line, color));
                out.push('\n');
            } else {
                *rest.entry((item.severity(), item.kind())).or_default() += 1;
            }
        }
        let paint = Paint { on: color };
        if !rest.is_empty() {
            let counts: Vec<String> = rest
                .iter()
                .map(|((severity, kind), n)| {
                    let word = match severity {
                        Severity::Error => "error",
                        Severity::Warning => "warning",
                    };
                    format!("{n} × {word}: {kind}")
                })
                .collect();
            let total: usize = rest.values().sum();
            let _ = writeln!(
                out,
                "{}: {} more not shown: {}\n",
                paint.on(BLUE, "note"),
                total,
                counts.join(", ")
            );
        }
        let errors = self.errors();
        if errors > 0 {
            let warnings = self.warnings();
            let mut summary = format!("`{file}` is invalid: {}", plural(errors, "error"));
            if warnings > 0 {
                summary.push_str(&format!(", {}", plural(warnings, "warning")));
            }
            let _ = writeln!(
                out,
                "{}: {}",
                paint.on(RED, "error"),
                paint.on(BOLD, &summary)
            );
        }
        out
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Edit distance (optimal string alignment: insert, delete, substitute, swap neighbours).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Longest text did-you-mean compares.
const SUGGEST_MAX_LEN: usize = 64;

/// The candidate closest to `typed`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a, I>(typed: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    // Names are short; a long typed value is no typo, and comparing it would cost
    // its length times every candidate's.
    if typed.len() > SUGGEST_MAX_LEN {
        return None;
    }
    let limit = (typed.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(typed, c), c))
        .filter(|(d, _)| *d <= limit)
        // Ties go to the alphabetically first, so the answer never depends on order.
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Many problems, out of position order, of two kinds and both severities.
    fn many(n: u32) -> Vec<Diagnostic> {
        (0..n)
            .map(|i| {
                let line = (i * 7919) % n + 1;
                let problem = match i % 3 {
                    0 => Problem::DuplicateKey {
                        key: format!("k{i}"),
                        first_line: 1,
                    },
                    1 => Problem::ExposedEndpoint {
                        host: format!("h{i}"),
                        value: "0.0.0.0:6640".into(),
                    },
                    _ => Problem::UnknownField {
                        field: format!("f{i}"),
                        within: "the top level",
                        suggestion: None,
                        allowed: vec!["version"],
                    },
                };
                let at = Pos {
                    line: line / 2,
                    column: 1 + i % 5,
                    len: 1,
                };
                Diagnostic { problem, at }
            })
            .collect()
    }

    #[test]
    fn keeping_only_the_first_problems_renders_the_same() {
        let text = "x\n".repeat(6_000);
        let all = Diagnostics::new("t.yaml", many(5_000));
        let mut found = Found::default();
        found.extend(many(5_000));
        let kept = Diagnostics::found("t.yaml", found);
        assert!(
            kept.items.len() < 2 * KEPT_DIAGNOSTICS,
            "{}",
            kept.items.len()
        );
        assert_eq!(
            kept.items[..KEPT_DIAGNOSTICS],
            all.items[..KEPT_DIAGNOSTICS]
        );
        assert_eq!(kept.render(&text, false), all.render(&text, false));
        assert_eq!(
            (kept.errors(), kept.warnings()),
            (all.errors(), all.warnings())
        );
    }

    #[test]
    fn problems_in_file_order_and_at_one_place_keep_the_first_ones() {
        // In order (as the walk finds most), and all at one position (ties keep the
        // order they were found in): the ones counted at once must be those a full
        // sort would have cut.
        let in_order: Vec<Diagnostic> = many(6_000)
            .into_iter()
            .enumerate()
            .map(|(i, mut d)| {
                d.at.line = 1 + i as u32 / 3;
                d
            })
            .collect();
        let one_place: Vec<Diagnostic> = many(6_000)
            .into_iter()
            .map(|mut d| {
                d.at = Pos::default();
                d
            })
            .collect();
        let text = "x\n".repeat(6_000);
        for problems in [in_order, one_place] {
            let all = Diagnostics::new("t.yaml", problems.clone());
            let mut found = Found::default();
            found.extend(problems);
            let kept = Diagnostics::found("t.yaml", found);
            assert_eq!(kept.items.len(), KEPT_DIAGNOSTICS);
            assert_eq!(kept.items[..], all.items[..KEPT_DIAGNOSTICS]);
            assert_eq!(kept.render(&text, false), all.render(&text, false));
            assert_eq!(
                (kept.errors(), kept.warnings()),
                (all.errors(), all.warnings())
            );
        }
    }

    #[test]
    fn distance_counts_swaps_as_one() {
        assert_eq!(edit_distance("nmae", "name"), 1);
        assert_eq!(edit_distance("underlay_ipp", "underlay_ip"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn suggestions_need_to_be_close() {
        let names = ["name", "underlay_ip", "ovsdb", "ranges"];
        assert_eq!(did_you_mean("underlay_ipp", names), Some("underlay_ip"));
        assert_eq!(did_you_mean("rnages", names), Some("ranges"));
        assert_eq!(did_you_mean("colour", names), None);
    }

    #[test]
    fn render_underlines_the_value() {
        let text = "a: 1\nhub: hots-b\n";
        let d = Diagnostic {
            problem: Problem::UnknownHost {
                what: "`tunnel.hub`",
                name: "hots-b".into(),
                suggestion: Some("host-b".into()),
            },
            at: Pos {
                line: 2,
                column: 6,
                len: 6,
            },
        };
        let out = d.render("t.yaml", text, false);
        assert_eq!(
            out,
            "error: `tunnel.hub` names unknown host `hots-b`\n --> t.yaml:2:6\n  |\n2 | hub: hots-b\n  |      ^^^^^^\n  = help: did you mean `host-b`?\n"
        );
    }

    #[test]
    fn color_only_when_asked() {
        let d = Diagnostic {
            problem: Problem::NoHosts,
            at: Pos::default(),
        };
        assert!(!d.render("f", "", false).contains('\x1b'));
        assert!(d.render("f", "", true).contains('\x1b'));
    }
}
