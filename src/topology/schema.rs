//! The schema walk: from the positioned YAML tree to raw, still unchecked topology
//! parts whose every value remembers where it was written. It reports unknown fields
//! (with a did-you-mean), duplicate keys, missing fields and wrong types, and keeps
//! going after each so that all of them are reported together. Semantic rules (overlaps,
//! references, the graph) belong to `validate`, not here.

use super::diag::{did_you_mean, Diagnostic, Found, Problem};
use super::yaml::{Items, Node, Pos, Value};
use std::collections::HashMap;

/// A value and where it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sp<T> {
    /// The value.
    pub v: T,
    /// Its position.
    pub at: Pos,
}

/// The whole file, unchecked.
#[derive(Debug, Default)]
pub struct RawTopology {
    /// `version`.
    pub version: Option<Sp<i128>>,
    /// `cluster`.
    pub cluster: Option<Sp<String>>,
    /// `bridge.name`.
    pub bridge_name: Option<Sp<String>>,
    /// `bridge.datapath`.
    pub datapath: Option<Sp<String>>,
    /// `tunnel`.
    pub tunnel: RawTunnel,
    /// `underlay.mtu`.
    pub underlay_mtu: Option<Sp<i128>>,
    /// `None` when absent or not a list (already reported).
    pub vlans: Option<Vec<RawVlan>>,
    /// `None` when absent or not a list (already reported).
    pub hosts: Option<Vec<RawHost>>,
    /// Where the `hosts` section starts (for "no hosts").
    pub hosts_at: Pos,
    /// Where the `vlans` section starts (for "no VLANs").
    pub vlans_at: Pos,
}

/// The `tunnel` section, unchecked.
#[derive(Debug, Default)]
pub struct RawTunnel {
    /// Where the section starts.
    pub at: Pos,
    /// `type`.
    pub kind: Option<Sp<String>>,
    /// `topology`.
    pub shape: Option<Sp<String>>,
    /// `hub`.
    pub hub: Option<Sp<String>>,
    /// `None` when absent; each link is a pair of names (either may be unusable).
    pub links: Option<Sp<Vec<RawLink>>>,
    /// `key`.
    pub key: Option<Sp<i128>>,
    /// `dst_port`.
    pub dst_port: Option<Sp<i128>>,
    /// `loop_protection`.
    pub loop_protection: Option<Sp<String>>,
}

/// One `[a, b]` link.
#[derive(Debug)]
pub struct RawLink {
    /// Where the pair is written.
    pub at: Pos,
    /// Both ends, when both are strings.
    pub ends: Option<(Sp<String>, Sp<String>)>,
}

/// One VLAN, unchecked.
#[derive(Debug)]
pub struct RawVlan {
    /// `name`.
    pub name: Option<Sp<String>>,
    /// `id`.
    pub id: Option<Sp<i128>>,
    /// `subnet`.
    pub subnet: Option<Sp<String>>,
    /// `gateway`.
    pub gateway: Option<Sp<String>>,
    /// `dhcp`.
    pub dhcp: Option<Sp<bool>>,
    /// `nat`.
    pub nat: Option<Sp<bool>>,
}

/// One host, unchecked.
#[derive(Debug)]
pub struct RawHost {
    /// Where the host's mapping starts.
    pub at: Pos,
    /// `name`.
    pub name: Option<Sp<String>>,
    /// `underlay_ip`.
    pub underlay_ip: Option<Sp<String>>,
    /// `ovsdb`.
    pub ovsdb: Option<Sp<String>>,
    /// VLAN name (with its position) to range text (with its position), file order.
    pub ranges: Vec<(Sp<String>, Sp<String>)>,
}

const TOP: &[&str] = &[
    "version", "cluster", "bridge", "tunnel", "underlay", "vlans", "hosts",
];
const BRIDGE: &[&str] = &["name", "datapath"];
const TUNNEL: &[&str] = &[
    "type",
    "topology",
    "hub",
    "links",
    "key",
    "dst_port",
    "loop_protection",
];
const UNDERLAY: &[&str] = &["mtu"];
const VLAN: &[&str] = &["name", "id", "subnet", "gateway", "dhcp", "nat"];
const HOST: &[&str] = &["name", "underlay_ip", "ovsdb", "ranges"];

/// Every mapping of the file with the keys the walk accepts in it, by the name the JSON
/// Schema gives it (`json_schema`): the schema's property names come from here.
pub(super) const MAPPINGS: [(&str, &[&str]); 6] = [
    ("topology", TOP),
    ("bridge", BRIDGE),
    ("tunnel", TUNNEL),
    ("underlay", UNDERLAY),
    ("vlan", VLAN),
    ("host", HOST),
];

/// Walks the tree, pushing every structural problem onto `out`.
pub fn walk(root: Node<'_>, out: &mut Found) -> RawTopology {
    let mut w = Walker {
        out,
        suggestions: SUGGESTION_BUDGET,
    };
    let mut raw = RawTopology::default();
    if root.is_null() {
        w.report(Problem::EmptyFile, root.at());
        return raw;
    }
    let Some(top) = w.fields(root, "the topology", TOP) else {
        return raw;
    };
    raw.version = w.int(&top, "version", "version", true);
    raw.cluster = w.string(&top, "cluster", "cluster", true);
    if let Some(node) = top.get("bridge") {
        if let Some(b) = w.fields(node, "`bridge`", BRIDGE) {
            raw.bridge_name = w.string(&b, "name", "bridge.name", false);
            raw.datapath = w.string(&b, "datapath", "bridge.datapath", false);
        }
    }
    match top.get("tunnel") {
        Some(node) => raw.tunnel = w.tunnel(node),
        None => w.missing(&top, "tunnel"),
    }
    if let Some(node) = top.get("underlay") {
        if let Some(u) = w.fields(node, "`underlay`", UNDERLAY) {
            raw.underlay_mtu = w.int(&u, "mtu", "underlay.mtu", false);
        }
    }
    raw.vlans_at = top.at;
    if let Some(items) = w.list(&top, "vlans", true) {
        raw.vlans_at = top.get("vlans").map_or(top.at, |n| n.at());
        raw.vlans = Some(w.each(items, Walker::vlan));
    }
    raw.hosts_at = top.at;
    if let Some(items) = w.list(&top, "hosts", true) {
        raw.hosts_at = top.get("hosts").map_or(top.at, |n| n.at());
        raw.hosts = Some(w.each(items, Walker::host));
    }
    raw
}

/// A mapping's entries by key, after unknown and duplicate keys were reported.
struct Fields<'n> {
    at: Pos,
    within: &'static str,
    entries: Vec<(&'static str, Node<'n>)>,
    /// Allowed names offered as did-you-mean: their absence is not reported again.
    suggested: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    fn get(&self, name: &str) -> Option<Node<'n>> {
        self.entries
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| *v)
    }
}

struct Walker<'o> {
    out: &'o mut Found,
    /// Name comparisons left for did-you-mean: a file with two million unknown keys
    /// gets suggestions for the first ones, not sixteen million edit distances.
    suggestions: usize,
}

/// Name comparisons did-you-mean may spend on the keys of one file.
const SUGGESTION_BUDGET: usize = 200_000;

impl Walker<'_> {
    /// What `read` makes of each mapping of `items` (the VLANs or the hosts), allocated
    /// once: a list grown by doubling would hold up to 1.5 times its size while it is
    /// copied. Only a mapping can become a VLAN or a host, so the mappings are counted.
    fn each<'n, T>(
        &mut self,
        items: Items<'n>,
        mut read: impl FnMut(&mut Self, Node<'n>) -> Option<T>,
    ) -> Vec<T> {
        let maps = items.clone().filter(|n| matches!(n.value(), Value::Map(_)));
        let mut out = Vec::with_capacity(maps.count());
        out.extend(items.filter_map(|n| read(self, n)));
        out
    }

    fn report(&mut self, problem: Problem, at: Pos) {
        self.out.push(Diagnostic { problem, at });
    }

    /// The allowed name closest to `typed`, while the suggestion budget lasts.
    fn suggest(&mut self, typed: &str, allowed: &'static [&'static str]) -> Option<&'static str> {
        let Some(left) = self.suggestions.checked_sub(allowed.len()) else {
            self.suggestions = 0;
            return None;
        };
        self.suggestions = left;
        did_you_mean(typed, allowed.iter().copied())
    }

    fn wrong_type(&mut self, what: &str, expected: &'static str, node: Node) {
        let found = node.value().kind();
        self.report(
            Problem::WrongType {
                what: what.to_string(),
                expected,
                found,
            },
            node.at(),
        );
    }

    fn missing(&mut self, fields: &Fields, field: &'static str) {
        if fields.suggested.contains(&field) {
            return;
        }
        let within = fields.within;
        self.report(Problem::Missing { field, within }, fields.at);
    }

    /// The entries of a mapping with `allowed` keys; reports everything else.
    fn fields<'n>(
        &mut self,
        node: Node<'n>,
        within: &'static str,
        allowed: &'static [&'static str],
    ) -> Option<Fields<'n>> {
        let Value::Map(entries) = node.value() else {
            self.wrong_type(within.trim_matches('`'), "a mapping", node);
            return None;
        };
        let mut fields = Fields {
            at: node.at(),
            within,
            entries: Vec::new(),
            suggested: Vec::new(),
        };
        // A map, not a list: 100,000 keys must not be compared pairwise.
        let mut seen: HashMap<&str, u32> = HashMap::new();
        for (key, value) in entries {
            let Some(name) = self.key_text(key) else {
                continue;
            };
            if let Some(line) = seen.get(name) {
                let problem = Problem::DuplicateKey {
                    key: name.to_string(),
                    first_line: *line,
                };
                self.report(problem, key.at());
                continue;
            }
            seen.insert(name, key.at().line);
            match allowed.iter().find(|a| **a == name) {
                Some(known) => fields.entries.push((known, value)),
                None => {
                    let suggestion = self.suggest(name, allowed);
                    fields.suggested.extend(suggestion);
                    let problem = Problem::UnknownField {
                        field: name.to_string(),
                        within,
                        suggestion,
                        allowed: allowed.to_vec(),
                    };
                    self.report(problem, key.at());
                }
            }
        }
        Some(fields)
    }

    fn key_text<'n>(&mut self, key: Node<'n>) -> Option<&'n str> {
        match key.value() {
            Value::Str(s) => Some(s),
            _ => {
                self.wrong_type("key", "a string", key);
                None
            }
        }
    }

    fn string(
        &mut self,
        f: &Fields,
        name: &'static str,
        what: &str,
        required: bool,
    ) -> Option<Sp<String>> {
        let Some(node) = f.get(name) else {
            if required {
                self.missing(f, name);
            }
            return None;
        };
        self.text(node, what)
    }

    fn text(&mut self, node: Node, what: &str) -> Option<Sp<String>> {
        match node.value() {
            Value::Str(s) => Some(Sp {
                v: s.to_string(),
                at: node.at(),
            }),
            _ => {
                self.wrong_type(what, "a string", node);
                None
            }
        }
    }

    /// An optional boolean field.
    fn boolean(&mut self, f: &Fields, name: &'static str, what: &str) -> Option<Sp<bool>> {
        let node = f.get(name)?;
        match node.value() {
            Value::Bool(b) => Some(Sp {
                v: b,
                at: node.at(),
            }),
            _ => {
                self.wrong_type(what, "a boolean (`true` or `false`)", node);
                None
            }
        }
    }

    fn int(
        &mut self,
        f: &Fields,
        name: &'static str,
        what: &str,
        required: bool,
    ) -> Option<Sp<i128>> {
        let Some(node) = f.get(name) else {
            if required {
                self.missing(f, name);
            }
            return None;
        };
        match node.value() {
            Value::Int(i) => Some(Sp {
                v: i,
                at: node.at(),
            }),
            Value::HugeInt => {
                let what = what.to_string();
                self.report(Problem::IntegerTooLarge { what }, node.at());
                None
            }
            _ => {
                self.wrong_type(what, "an integer", node);
                None
            }
        }
    }

    fn list<'n>(
        &mut self,
        f: &Fields<'n>,
        name: &'static str,
        required: bool,
    ) -> Option<Items<'n>> {
        let Some(node) = f.get(name) else {
            if required {
                self.missing(f, name);
            }
            return None;
        };
        match node.value() {
            Value::Seq(items) => Some(items),
            Value::Null => Some(Items::empty(node.tree())),
            _ => {
                self.wrong_type(name, "a list", node);
                None
            }
        }
    }

    fn tunnel(&mut self, node: Node) -> RawTunnel {
        let mut t = RawTunnel {
            at: node.at(),
            ..RawTunnel::default()
        };
        let Some(f) = self.fields(node, "`tunnel`", TUNNEL) else {
            return t;
        };
        t.kind = self.string(&f, "type", "tunnel.type", true);
        t.shape = self.string(&f, "topology", "tunnel.topology", true);
        t.hub = self.string(&f, "hub", "tunnel.hub", false);
        t.key = self.int(&f, "key", "tunnel.key", false);
        t.dst_port = self.int(&f, "dst_port", "tunnel.dst_port", false);
        t.loop_protection = self.string(&f, "loop_protection", "tunnel.loop_protection", false);
        if let (Some(items), Some(node)) = (self.list(&f, "links", false), f.get("links")) {
            let links = items.map(|l| self.link(l)).collect();
            t.links = Some(Sp {
                v: links,
                at: node.at(),
            });
        }
        t
    }

    fn link(&mut self, node: Node) -> RawLink {
        // At most three items are looked at: enough to tell a pair.
        let pair: Vec<Node> = match node.value() {
            Value::Seq(items) => items.take(3).collect(),
            _ => Vec::new(),
        };
        let ends = match &pair[..] {
            [a, b] => match (self.text(*a, "tunnel.links"), self.text(*b, "tunnel.links")) {
                (Some(a), Some(b)) => Some((a, b)),
                _ => None,
            },
            _ => {
                self.wrong_type(
                    "tunnel.links[]",
                    "a pair of host names like `[host-a, host-b]`",
                    node,
                );
                None
            }
        };
        RawLink {
            at: node.at(),
            ends,
        }
    }

    fn vlan(&mut self, node: Node) -> Option<RawVlan> {
        let f = self.fields(node, "a VLAN", VLAN)?;
        Some(RawVlan {
            name: self.string(&f, "name", "vlans[].name", true),
            id: self.int(&f, "id", "vlans[].id", true),
            subnet: self.string(&f, "subnet", "vlans[].subnet", true),
            gateway: self.string(&f, "gateway", "vlans[].gateway", false),
            dhcp: self.boolean(&f, "dhcp", "vlans[].dhcp"),
            nat: self.boolean(&f, "nat", "vlans[].nat"),
        })
    }

    fn host(&mut self, node: Node) -> Option<RawHost> {
        let f = self.fields(node, "a host", HOST)?;
        let mut host = RawHost {
            at: node.at(),
            name: self.string(&f, "name", "hosts[].name", true),
            underlay_ip: self.string(&f, "underlay_ip", "hosts[].underlay_ip", true),
            ovsdb: self.string(&f, "ovsdb", "hosts[].ovsdb", false),
            ranges: Vec::new(),
        };
        if let Some(node) = f.get("ranges") {
            host.ranges = self.ranges(node);
        }
        Some(host)
    }

    fn ranges(&mut self, node: Node) -> Vec<(Sp<String>, Sp<String>)> {
        let mut out = Vec::new();
        match node.value() {
            Value::Null => {}
            Value::Map(entries) => {
                // Room for exactly the entries written: pushing the first one would
                // reserve four (320 bytes for a host's one range; 77 MB over 240,000).
                out.reserve_exact(entries.clone().count());
                let mut seen: HashMap<&str, u32> = HashMap::new();
                for (key, value) in entries {
                    let Some(name) = self.key_text(key) else {
                        continue;
                    };
                    if let Some(line) = seen.get(name) {
                        let problem = Problem::DuplicateKey {
                            key: name.to_string(),
                            first_line: *line,
                        };
                        self.report(problem, key.at());
                        continue;
                    }
                    seen.insert(name, key.at().line);
                    if let Some(range) = self.text(value, "hosts[].ranges") {
                        let vlan = Sp {
                            v: name.to_string(),
                            at: key.at(),
                        };
                        out.push((vlan, range));
                    }
                }
            }
            _ => self.wrong_type("hosts[].ranges", "a mapping of VLAN name to range", node),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::yaml::parse;

    fn walk_text(text: &str) -> (RawTopology, Vec<Problem>) {
        let mut out = Found::default();
        let raw = walk(parse(text).unwrap().root(), &mut out);
        (
            raw,
            out.into_kept().into_iter().map(|d| d.problem).collect(),
        )
    }

    #[test]
    fn all_structural_problems_are_collected() {
        let text = "version: 1\ncluster: c\nclustr: d\ntunnel:\n  type: 5\n  topology: mesh\nvlans: []\nhosts:\n  - name: a\n    name: b\n    underlay_ip: 198.18.0.1\n";
        let (raw, problems) = walk_text(text);
        assert_eq!(raw.hosts.map(|h| h.len()), Some(1));
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(matches!(
            &problems[0],
            Problem::UnknownField {
                suggestion: Some("cluster"),
                ..
            }
        ));
        assert!(matches!(
            &problems[1],
            Problem::WrongType {
                found: "an integer",
                ..
            }
        ));
        assert!(matches!(
            &problems[2],
            Problem::DuplicateKey { first_line: 9, .. }
        ));
    }

    #[test]
    fn missing_required_fields_are_reported() {
        let (_, problems) = walk_text("version: 1\nvlans: []\nhosts: []\n");
        let missing: Vec<&str> = problems
            .iter()
            .filter_map(|p| match p {
                Problem::Missing { field, .. } => Some(*field),
                _ => None,
            })
            .collect();
        assert_eq!(missing, ["cluster", "tunnel"]);
    }
}
