//! The machine-readable plan (`plan --format json`): a versioned document
//! (`format_version: 1`) specified field by field in `docs/plan-format.md` and by the
//! JSON Schema `docs/plan.schema.json`.
//!
//! The document is streamed: context first, then one object per host as it arrives, then
//! the summary. Every field is always present (absent values are `null`, empty lists are
//! `[]`) so consumers never guess, and ordering follows the plan, which is deterministic.
//! Each change sits on its own line, which keeps large plans greppable and diffs of two
//! plans readable. The saved plan (`plan -o`) is a different document: see `planfile`.

use super::{PlanWriter, Summary};
use crate::plan::{
    Action, Change, Conflict, Context, HostPlan, LeftAlone, TunnelPairs, FORMAT_VERSION,
};
use crate::state::{Kind, Ownership, Value};
use serde::Serialize;
use std::io::{self, BufWriter, Write};

/// Streams a plan as the versioned JSON document.
pub struct JsonRenderer<'a> {
    out: BufWriter<&'a mut dyn Write>,
    summary: Summary,
}

/// One change as the document shows it: the shape [`write_change`] writes by hand
/// (and a unit test checks it writes exactly what serde would).
#[cfg(test)]
#[derive(Serialize)]
struct ChangeView<'p> {
    action: Action,
    kind: Kind,
    name: &'p str,
    parent: Option<&'p str>,
    attrs: &'p [crate::plan::AttrChange],
}

/// A conflict or a left-alone row: who owns it, flattened to two plain fields.
#[derive(Serialize)]
struct RowView<'p> {
    kind: Kind,
    name: &'p str,
    parent: Option<&'p str>,
    owner: &'static str,
    owner_cluster: Option<&'p str>,
}

/// The closing summary object.
#[derive(Serialize)]
struct SummaryView {
    add: usize,
    change: usize,
    destroy: usize,
    hosts: usize,
    hosts_with_changes: usize,
    hosts_blocked: usize,
    conflicts: usize,
    preflight_failures: usize,
    left_alone: usize,
}

fn owner_fields(owner: &Ownership) -> (&'static str, Option<&str>) {
    match owner {
        Ownership::Ours => ("ours", None),
        Ownership::OtherCluster(c) => ("other_cluster", Some(c)),
        Ownership::Foreign => ("foreign", None),
    }
}

fn conflict_view(c: &Conflict) -> RowView<'_> {
    let (owner, owner_cluster) = owner_fields(&c.owner);
    RowView {
        kind: c.kind,
        name: &c.name,
        parent: c.blocks_delete_of.as_deref().or(c.blocks_vlan.as_deref()),
        owner,
        owner_cluster,
    }
}

fn left_alone_view(r: &LeftAlone) -> RowView<'_> {
    let (owner, owner_cluster) = owner_fields(&r.owner);
    RowView {
        kind: r.kind,
        name: &r.name,
        parent: r.parent.as_deref(),
        owner,
        owner_cluster,
    }
}

/// Warnings about one host, as sentences: a blocked host and a deleted bridge.
pub fn host_warnings(host: &HostPlan) -> Vec<String> {
    let mut warnings = Vec::new();
    if host.is_blocked() {
        warnings.push(format!(
            "host `{}` is blocked by {} and {}: none of its changes will be applied",
            host.host,
            super::plural(host.conflicts.len(), "conflict"),
            super::plural(host.preflight.len(), "preflight failure"),
        ));
    }
    if let Some(lag) = &host.switch_lag {
        warnings.push(super::lag_sentence(&host.host, lag));
    }
    if let Some(agent) = &host.agent {
        warnings.push(super::agent_sentence(&host.host, agent));
    }
    for change in host.changes.iter().filter(|c| super::deletes_bridge(c)) {
        warnings.push(format!(
            "deletes bridge `{}` and every port ovsnet owns on it",
            change.name
        ));
    }
    warnings
}

impl<'a> JsonRenderer<'a> {
    /// A renderer writing to `out`.
    pub fn new(out: &'a mut dyn Write) -> Self {
        JsonRenderer {
            out: BufWriter::with_capacity(1 << 16, out),
            summary: Summary::default(),
        }
    }
}

/// Writes `"key": value` on its own line at `indent`, compact, with a comma unless `last`.
fn field<W: Write, T: Serialize + ?Sized>(
    out: &mut W,
    indent: &str,
    key: &str,
    value: &T,
    last: bool,
) -> io::Result<()> {
    write!(out, "{indent}\"{key}\": ")?;
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(if last { b"\n" } else { b",\n" })
}

/// Writes a host's list field with one compact item per line.
fn rows<W: Write, T: Serialize>(
    out: &mut W,
    key: &str,
    items: impl ExactSizeIterator<Item = T>,
) -> io::Result<()> {
    write!(out, "      \"{key}\": [")?;
    let n = items.len();
    for (i, item) in items.enumerate() {
        out.write_all(b"\n        ")?;
        serde_json::to_writer(&mut *out, &item)?;
        if i + 1 < n {
            out.write_all(b",")?;
        }
    }
    if n > 0 {
        out.write_all(b"\n      ")?;
    }
    out.write_all(b"],\n")
}

/// Writes one host object, indented as an element of the document's `hosts` array.
fn write_host<W: Write>(out: &mut W, host: &HostPlan) -> io::Result<()> {
    let i = "      ";
    out.write_all(b"    {\n")?;
    field(out, i, "host", &host.host, false)?;
    field(out, i, "endpoint", &host.endpoint, false)?;
    field(out, i, "fingerprint", &host.fingerprint, false)?;
    field(out, i, "blocked", &host.is_blocked(), false)?;
    field(out, i, "counts", &host.counts(), false)?;
    changes(out, &host.changes)?;
    rows(out, "conflicts", host.conflicts.iter().map(conflict_view))?;
    rows(out, "preflight", host.preflight.iter())?;
    rows(
        out,
        "left_alone",
        host.left_alone.iter().map(left_alone_view),
    )?;
    if !host.containers.is_empty() {
        rows(out, "containers", host.containers.iter())?;
    }
    field(out, i, "warnings", &host_warnings(host), true)?;
    out.write_all(b"    }")
}

/// Writes one host as a standalone JSON object (the same object the document's `hosts` holds).
pub fn host_object(host: &HostPlan, out: &mut dyn Write) -> io::Result<()> {
    let mut out = BufWriter::new(out);
    write_host(&mut out, host)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Writes one host object into `out`, for [`super::SectionRenderer`]: the bytes
/// [`JsonRenderer`] writes for the host after its separator.
pub(crate) fn host_bytes(host: &HostPlan, out: &mut Vec<u8>) -> io::Result<()> {
    write_host(out, host)
}

/// Writes the host's `changes` list, one compact change per line, like [`rows`] does.
fn changes<W: Write>(out: &mut W, changes: &[Change]) -> io::Result<()> {
    out.write_all(b"      \"changes\": [")?;
    for (i, change) in changes.iter().enumerate() {
        out.write_all(b"\n        ")?;
        write_change(out, change)?;
        if i + 1 < changes.len() {
            out.write_all(b",")?;
        }
    }
    if !changes.is_empty() {
        out.write_all(b"\n      ")?;
    }
    out.write_all(b"],\n")
}

/// Writes one change exactly as serde_json writes a `ChangeView`, compact.
///
/// Hand-written because changes are nearly all of a large plan's bytes, and serde_json
/// escapes strings byte by byte: that alone was a third of a 1,000-host mesh's time.
/// Strings that need escaping (rare: names and addresses never do) still go through it.
fn write_change<W: Write>(out: &mut W, c: &Change) -> io::Result<()> {
    out.write_all(b"{\"action\":\"")?;
    out.write_all(action_word(c.action).as_bytes())?;
    out.write_all(b"\",\"kind\":\"")?;
    out.write_all(c.kind.word().as_bytes())?;
    out.write_all(b"\",\"name\":")?;
    string(out, &c.name)?;
    out.write_all(b",\"parent\":")?;
    match &c.parent {
        Some(parent) => string(out, parent)?,
        None => out.write_all(b"null")?,
    }
    out.write_all(b",\"attrs\":[")?;
    for (i, attr) in c.attrs.iter().enumerate() {
        out.write_all(if i == 0 { b"{\"key\":" } else { b",{\"key\":" })?;
        string(out, &attr.key)?;
        out.write_all(b",\"old\":")?;
        value(out, attr.old.as_ref())?;
        out.write_all(b",\"new\":")?;
        value(out, attr.new.as_ref())?;
        out.write_all(b"}")?;
    }
    out.write_all(b"]}")
}

/// The serde name of an action.
fn action_word(action: Action) -> &'static str {
    match action {
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
    }
}

/// A JSON string: copied between quotes when nothing in it needs escaping, else serde's.
fn string<W: Write>(out: &mut W, s: &str) -> io::Result<()> {
    // A fold without early exit, so the compiler checks many bytes at a time.
    let needs_escape = s.bytes().fold(false, |any, b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if needs_escape {
        return serde_json::to_writer(out, s).map_err(io::Error::from);
    }
    out.write_all(b"\"")?;
    out.write_all(s.as_bytes())?;
    out.write_all(b"\"")
}

/// Writes the header's `tunnels` field exactly as serde_json writes the list of pairs,
/// compact. A 1,000-host mesh has 499,500 pairs, ~8 MB, the bulk of a `diff` that
/// changes nothing: each name is quoted (and escaped, if need be) once, not once per
/// pair it is in, and the pairs are copied out in blocks.
fn tunnel_pairs<W: Write>(out: &mut W, indent: &str, tunnels: &TunnelPairs) -> io::Result<()> {
    let quoted = tunnels
        .names()
        .iter()
        .map(|name| {
            let mut q = Vec::with_capacity(name.len() + 2);
            string(&mut q, name).map(|()| q)
        })
        .collect::<io::Result<Vec<Vec<u8>>>>()?;
    const BLOCK: usize = 1 << 16;
    let mut block = Vec::with_capacity(BLOCK + 64);
    block.extend_from_slice(indent.as_bytes());
    block.extend_from_slice(b"\"tunnels\": [");
    for (i, &(a, b)) in tunnels.indices().iter().enumerate() {
        block.extend_from_slice(if i == 0 { b"[" } else { b",[" });
        block.extend_from_slice(&quoted[a]);
        block.push(b',');
        block.extend_from_slice(&quoted[b]);
        block.push(b']');
        if block.len() >= BLOCK {
            out.write_all(&block)?;
            block.clear();
        }
    }
    block.extend_from_slice(b"],\n");
    out.write_all(&block)
}

/// An attribute value or `null`, as `Value`'s untagged serialization writes it.
fn value<W: Write>(out: &mut W, v: Option<&Value>) -> io::Result<()> {
    match v {
        None => out.write_all(b"null"),
        Some(Value::Str(s)) => string(out, s),
        Some(other) => serde_json::to_writer(out, other).map_err(io::Error::from),
    }
}

impl PlanWriter for JsonRenderer<'_> {
    fn begin(&mut self, context: &Context) -> io::Result<()> {
        writeln!(
            self.out,
            "{{\n  \"format_version\": {FORMAT_VERSION},\n  \"context\": {{"
        )?;
        let i = "    ";
        field(&mut self.out, i, "cluster", &context.cluster, false)?;
        field(
            &mut self.out,
            i,
            "topology_digest",
            &context.topology_digest,
            false,
        )?;
        field(&mut self.out, i, "mode", &context.mode, false)?;
        field(&mut self.out, i, "shape", &context.shape, false)?;
        field(&mut self.out, i, "tunnel", &context.tunnel, false)?;
        field(&mut self.out, i, "protection", &context.protection, false)?;
        field(
            &mut self.out,
            i,
            "protection_reason",
            &context.protection_reason,
            false,
        )?;
        field(&mut self.out, i, "overlay_mtu", &context.overlay_mtu, false)?;
        tunnel_pairs(&mut self.out, i, &context.tunnels)?;
        field(&mut self.out, i, "warnings", &context.warnings, true)?;
        self.out.write_all(b"  },\n  \"hosts\": [")
    }

    fn host(&mut self, host: &HostPlan) -> io::Result<()> {
        self.out.write_all(if self.summary.hosts == 0 {
            b"\n"
        } else {
            b",\n"
        })?;
        self.summary.add(host);
        write_host(&mut self.out, host)
    }

    fn section_renderer(&self) -> Option<super::SectionRenderer> {
        Some(super::SectionRenderer::Json)
    }

    fn section(&mut self, section: super::Section) -> io::Result<()> {
        self.out.write_all(if self.summary.hosts == 0 {
            b"\n"
        } else {
            b",\n"
        })?;
        self.summary.merge(&section.summary);
        self.out.write_all(&section.bytes)
    }

    fn finish(&mut self) -> io::Result<Summary> {
        let s = self.summary;
        let view = SummaryView {
            add: s.counts.add,
            change: s.counts.change,
            destroy: s.counts.destroy,
            hosts: s.hosts,
            hosts_with_changes: s.hosts_with_changes,
            hosts_blocked: s.hosts_blocked,
            conflicts: s.conflicts,
            preflight_failures: s.preflight_failures,
            left_alone: s.left_alone,
        };
        self.out
            .write_all(if s.hosts == 0 { b"],\n" } else { b"\n  ],\n" })?;
        self.out.write_all(b"  \"summary\": ")?;
        serde_json::to_writer(&mut self.out, &view)?;
        self.out.write_all(b"\n}\n")?;
        self.out.flush()?;
        Ok(s)
    }
}

/// Renders a whole plan as the JSON document (tests, small plans).
pub fn render(plan: &crate::plan::Plan) -> String {
    super::render(plan, super::Format::Json, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::AttrChange;

    fn attr(key: &'static str, old: Option<Value>, new: Option<Value>) -> AttrChange {
        AttrChange {
            key: key.into(),
            old,
            new,
        }
    }

    #[test]
    fn hand_written_tunnel_pairs_are_byte_identical_to_serde() {
        let odd = "tab\there \"quoted\" back\\slash \u{1} é";
        let cases: [Vec<(&str, &str)>; 3] = [
            vec![],
            vec![("a", "b")],
            vec![("host-1", "host-2"), (odd, "host-3"), ("host-2", odd)],
        ];
        for pairs in &cases {
            let owned: Vec<(String, String)> = pairs
                .iter()
                .map(|&(a, b)| (a.to_string(), b.to_string()))
                .collect();
            let mut ours = Vec::new();
            tunnel_pairs(&mut ours, "    ", &owned.clone().into()).expect("vec");
            let mut serde = Vec::new();
            field(&mut serde, "    ", "tunnels", &owned, false).expect("vec");
            assert_eq!(
                String::from_utf8(ours).expect("utf8"),
                String::from_utf8(serde).expect("utf8")
            );
        }
    }

    #[test]
    fn hand_written_changes_are_byte_identical_to_serde() {
        let odd = "tab\there \"quoted\" back\\slash \u{1} del\u{7f} é";
        let changes = [
            Change {
                action: Action::Create,
                kind: Kind::Interface,
                name: "vx-b".into(),
                parent: Some("vx-b".into()),
                uuid: None,
                parent_uuid: None,
                attrs: vec![
                    attr(
                        "options:remote_ip",
                        None,
                        Some(Value::Str("198.18.0.2".into())),
                    ),
                    attr("trunks", None, Some(Value::IntSet(vec![10, 20]))),
                    attr(
                        "protected",
                        Some(Value::Bool(false)),
                        Some(Value::Bool(true)),
                    ),
                    attr("tag", Some(Value::Int(-7)), None),
                    attr(
                        odd,
                        Some(Value::Str(odd.into())),
                        Some(Value::IntSet(vec![])),
                    ),
                ],
            },
            Change {
                action: Action::Update,
                kind: Kind::Bridge,
                name: odd.into(),
                parent: None,
                uuid: Some("u".into()),
                parent_uuid: None,
                attrs: vec![],
            },
            Change {
                action: Action::Delete,
                kind: Kind::Port,
                name: "p".into(),
                parent: Some(odd.into()),
                uuid: None,
                parent_uuid: None,
                attrs: vec![attr("k", None, None)],
            },
        ];
        for c in &changes {
            let view = ChangeView {
                action: c.action,
                kind: c.kind,
                name: &c.name,
                parent: c.parent.as_deref(),
                attrs: &c.attrs,
            };
            let mut ours = Vec::new();
            write_change(&mut ours, c).expect("vec");
            let serde = serde_json::to_vec(&view).expect("json");
            assert_eq!(
                String::from_utf8(ours).expect("utf8"),
                String::from_utf8(serde).expect("utf8")
            );
        }
    }
}
