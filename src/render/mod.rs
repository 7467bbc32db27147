//! Rendering plans for people and pipelines: terraform-style text, a versioned JSON
//! document and a pull-request markdown comment.
//!
//! Every renderer streams: the caller hands it the [`Context`] once, then each
//! [`HostPlan`] in order (and may drop it right after), then asks it to finish. Nothing
//! here holds a whole plan's output, so a 1,000-host mesh renders in bounded memory
//! (markdown buffers at most one comment's worth). Renderers do no I/O of their own
//! beyond the writer they are given, read no clock and no environment: colour is
//! switched on by the caller, never guessed here.

pub mod graph;
pub mod json;
pub mod markdown;
pub mod source_diff;
pub mod text;

use crate::plan::{Action, Change, Context, Counts, HostPlan, Mode, Plan};
use crate::state::{Kind, Value};
use serde::{Deserialize, Serialize};
use std::io::{self, Write};

/// A streaming plan renderer: `begin`, then `host` once per host in plan order, then `finish`.
pub trait PlanWriter {
    /// Writes (or prepares) everything that comes before the first host.
    fn begin(&mut self, context: &Context) -> io::Result<()>;
    /// Renders one host's plan; the caller may drop it afterwards.
    fn host(&mut self, host: &HostPlan) -> io::Result<()>;
    /// Writes the closing part and flushes; returns the totals over every host seen.
    fn finish(&mut self) -> io::Result<Summary>;
    /// How to render this writer's host sections ahead of their turn, on any thread, when
    /// its format can (a host's section then depends on that host alone); such sections
    /// are handed to [`PlanWriter::section`] in plan order instead of the hosts.
    fn section_renderer(&self) -> Option<SectionRenderer> {
        None
    }
    /// Writes a section made by this writer's [`PlanWriter::section_renderer`]: the same
    /// bytes and totals [`PlanWriter::host`] gives for that host.
    fn section(&mut self, section: Section) -> io::Result<()> {
        drop(section);
        Err(io::Error::other(
            "bug: this format renders hosts only in order (please report it)",
        ))
    }
}

/// Renders one host's section apart from the writer, so that the offline plan of a large
/// cluster renders (and frees) hosts on its worker threads while the writer only copies
/// finished sections out in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionRenderer {
    /// Text, with or without colour.
    Text {
        /// ANSI colour, as the writer was asked for.
        color: bool,
    },
    /// One object of the JSON document's `hosts` array.
    Json,
}

impl SectionRenderer {
    /// `host`'s section, ready to be written in its turn.
    pub fn render(self, host: &HostPlan) -> Section {
        let mut bytes = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = match self {
            SectionRenderer::Text { color } => text::section_bytes(host, color, &mut bytes),
            SectionRenderer::Json => json::host_bytes(host, &mut bytes),
        };
        let mut summary = Summary::default();
        summary.add(host);
        Section {
            bytes,
            summary,
            folded: !host.needs_attention(),
        }
    }
}

/// A host's section rendered ahead by a [`SectionRenderer`].
#[derive(Clone, Debug)]
pub struct Section {
    /// The section's bytes, already escaped for the terminal where the format does that.
    pub(crate) bytes: Vec<u8>,
    /// This host's share of the totals.
    pub(crate) summary: Summary,
    /// Whether the host is folded to one line (text joins consecutive folded lines).
    pub(crate) folded: bool,
}

/// The output formats a plan can be rendered in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Terraform-style text for a terminal.
    Text,
    /// The versioned JSON document (`format_version: 1`).
    Json,
    /// A pull-request comment.
    Markdown,
}

/// Makes a streaming renderer of `format` writing to `out`; `color` (ANSI, text only) is
/// the caller's decision from the terminal, `NO_COLOR` and `--no-color`.
pub fn writer<'a>(format: Format, out: &'a mut dyn Write, color: bool) -> Box<dyn PlanWriter + 'a> {
    match format {
        Format::Text => Box::new(text::TextRenderer::new(out, color)),
        Format::Json => Box::new(json::JsonRenderer::new(out)),
        Format::Markdown => Box::new(markdown::MarkdownRenderer::new(out)),
    }
}

/// Streams a whole in-memory plan through `writer`.
pub fn render_with(plan: &Plan, writer: &mut dyn PlanWriter) -> io::Result<Summary> {
    writer.begin(&plan.context)?;
    for host in &plan.hosts {
        writer.host(host)?;
    }
    writer.finish()
}

/// Renders a whole in-memory plan to `out`.
pub fn render_to(
    format: Format,
    plan: &Plan,
    out: &mut dyn Write,
    color: bool,
) -> io::Result<Summary> {
    render_with(plan, writer(format, out, color).as_mut())
}

/// Renders one host's section alone, without colour, header or summary (for messages
/// such as "after apply the plan is not empty").
pub fn render_host_to(format: Format, host: &HostPlan, out: &mut dyn Write) -> io::Result<()> {
    match format {
        Format::Text => text::TextRenderer::new(out, false).host_only(host),
        Format::Json => json::host_object(host, out),
        Format::Markdown => out.write_all(markdown::host_details(host).as_bytes()),
    }
}

/// One host's plan as plain text (no colour), for error messages.
pub fn host_text(host: &HostPlan) -> String {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = render_host_to(Format::Text, host, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Renders a whole plan to a string (tests, small plans).
#[allow(
    clippy::expect_used,
    reason = "a Vec never fails to write; renderers only write UTF-8 (str and serde_json)"
)]
pub fn render(plan: &Plan, format: Format, color: bool) -> String {
    let mut out = Vec::new();
    render_to(format, plan, &mut out, color).expect("writing to a Vec never fails");
    String::from_utf8(out).expect("renderers write UTF-8 only")
}

/// Totals over the hosts of a plan, as the summary lines and the exit code need them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Rows created, updated and deleted over every host.
    pub counts: Counts,
    /// Hosts seen.
    pub hosts: usize,
    /// Hosts with at least one change.
    pub hosts_with_changes: usize,
    /// Hosts whose plan is stopped by a conflict or a preflight failure.
    pub hosts_blocked: usize,
    /// Conflicts over every host.
    pub conflicts: usize,
    /// Preflight failures over every host.
    pub preflight_failures: usize,
    /// Rows left alone over every host.
    pub left_alone: usize,
}

impl Summary {
    /// Adds the totals of other hosts (a [`Section`]'s) to these.
    pub fn merge(&mut self, other: &Summary) {
        self.counts += other.counts;
        self.hosts += other.hosts;
        self.hosts_with_changes += other.hosts_with_changes;
        self.hosts_blocked += other.hosts_blocked;
        self.conflicts += other.conflicts;
        self.preflight_failures += other.preflight_failures;
        self.left_alone += other.left_alone;
    }

    /// Adds one host's plan to the totals.
    pub fn add(&mut self, host: &HostPlan) {
        self.counts += host.counts();
        self.hosts += 1;
        self.hosts_with_changes += usize::from(!host.changes.is_empty());
        self.hosts_blocked += usize::from(host.is_blocked());
        self.conflicts += host.conflicts.len();
        self.preflight_failures += host.preflight.len();
        self.left_alone += host.left_alone.len();
    }

    /// Whether anything would be changed (what `--detailed-exitcode` reports as 2).
    pub fn has_changes(&self) -> bool {
        self.counts.add + self.counts.change + self.counts.destroy > 0
    }

    /// The closing line: `Plan: N to add, N to change, N to destroy.` or the no-change sentence.
    pub fn plan_line(&self) -> String {
        if !self.has_changes() && self.hosts_blocked == 0 {
            return NO_CHANGES.to_string();
        }
        let c = self.counts;
        format!(
            "Plan: {} to add, {} to change, {} to destroy.",
            c.add, c.change, c.destroy
        )
    }
}

/// The closing line of a plan that changes nothing.
pub const NO_CHANGES: &str = "No changes. The cluster matches the topology.";

/// One sentence saying how the observed side was obtained.
pub fn mode_sentence(mode: Mode) -> &'static str {
    match mode {
        Mode::Live => "live: planned against what each host's OVSDB holds now",
        Mode::Lab => {
            "lab: every endpoint is the one-machine lab's OVSDB socket and the datapath is netdev (userspace)"
        }
        Mode::Offline => "offline: planned against hosts that hold nothing; no host was contacted",
        Mode::Diff => {
            "diff: planned against hosts holding the base topology; no host was contacted"
        }
    }
}

/// Attribute key of the tunnel peer mark (`external_ids:` + [`crate::state::MARK_PEER`]).
pub(crate) const PEER_KEY: &str = "external_ids:ovsnet-peer";

/// The peer host a tunnel row points at, from its `ovsnet-peer` mark (new value for a
/// create, old value for a delete).
pub(crate) fn tunnel_peer(change: &Change) -> Option<&str> {
    let attr = change.attrs.iter().find(|a| a.key == PEER_KEY)?;
    let value = match change.action {
        Action::Delete => attr.old.as_ref(),
        _ => attr.new.as_ref().or(attr.old.as_ref()),
    };
    match value {
        Some(Value::Str(peer)) => Some(peer),
        _ => None,
    }
}

/// The one sentence every format uses for a switch behind its database.
pub(crate) fn lag_sentence(host: &str, lag: &crate::plan::SwitchLag) -> String {
    format!(
        "ovs-vswitchd on `{host}` has not applied the database's latest configuration \
         (cur_cfg {} < next_cfg {}): what this plan compares against may not be running yet",
        lag.cur_cfg, lag.next_cfg
    )
}

/// The one sentence every format uses for an agent that is needed and not well.
pub(crate) fn agent_sentence(host: &str, warning: &crate::plan::AgentWarning) -> String {
    use crate::plan::AgentWarning::*;
    const WAITS: &str = "its gateways, NAT and published ports wait for `ovsnet agent`";
    match warning {
        Missing => format!("no agent has reported on `{host}`: {WAITS}"),
        Down => format!("the agent on `{host}` is down: {WAITS}"),
        Failing { error } => format!(
            "the agent on `{host}` is failing: {}",
            error.replace('\n', "; ")
        ),
        Unreadable => format!("the agent's health on `{host}` is unreadable: {WAITS}"),
    }
}

/// Whether the change deletes a bridge (the markdown and text renderers warn about it).
pub(crate) fn deletes_bridge(change: &Change) -> bool {
    change.action == Action::Delete && change.kind == Kind::Bridge
}

/// Writes a value as the plan shows it: strings quoted with JSON-style escapes, sets in brackets.
///
/// Same output as `Value`'s `Display` for ordinary strings, without its per-character
/// escaping cost on the common case (names and addresses need no escaping).
/// Numbers are written with `itoa`, not the formatting machinery: a tunnel port's
/// `trunks` and a bridge's integers are on every other line of a large plan.
pub(crate) fn write_value<W: Write + ?Sized>(out: &mut W, value: &Value) -> io::Result<()> {
    match value {
        Value::Str(s)
            if !s
                .bytes()
                .any(|b| b == b'"' || b == b'\\' || b < 0x20 || b == 0x7f) =>
        {
            out.write_all(b"\"")?;
            out.write_all(s.as_bytes())?;
            out.write_all(b"\"")
        }
        Value::Bool(b) => out.write_all(if *b { b"true" } else { b"false" }),
        Value::Int(i) => out.write_all(itoa::Buffer::new().format(*i).as_bytes()),
        Value::IntSet(items) => {
            let mut digits = itoa::Buffer::new();
            out.write_all(b"[")?;
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.write_all(b", ")?;
                }
                out.write_all(digits.format(*item).as_bytes())?;
            }
            out.write_all(b"]")
        }
        other @ Value::Str(_) => write!(out, "{other}"),
    }
}

/// `1 host` / `2 hosts`: a count with its noun, plural when needed.
pub(crate) fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A one-line description of a host's counts (`3 to add, 1 to destroy`), zero parts left out.
pub(crate) fn counts_phrase(counts: Counts) -> String {
    let mut parts = Vec::new();
    if counts.add > 0 {
        parts.push(format!("{} to add", counts.add));
    }
    if counts.change > 0 {
        parts.push(format!("{} to change", counts.change));
    }
    if counts.destroy > 0 {
        parts.push(format!("{} to destroy", counts.destroy));
    }
    if parts.is_empty() {
        "no changes".to_string()
    } else {
        parts.join(", ")
    }
}

/// The changes as shown: a port and its same-named interface with the same action, next
/// to each other in either order (creates come port first, deletes interface first), are
/// one item shown port first with the interface nested; every other change is alone.
pub(crate) fn shown_items(changes: &[Change]) -> impl Iterator<Item = (&Change, Option<&Change>)> {
    let mut i = 0;
    std::iter::from_fn(move || {
        let first = changes.get(i)?;
        let pair = changes.get(i + 1).and_then(|next| {
            if is_port_of(first, next) {
                Some((first, next))
            } else if is_port_of(next, first) {
                Some((next, first))
            } else {
                None
            }
        });
        i += if pair.is_some() { 2 } else { 1 };
        Some(pair.map_or((first, None), |(port, iface)| (port, Some(iface))))
    })
}

/// Whether `port` is a port change and `iface` the same action on its same-named interface.
fn is_port_of(port: &Change, iface: &Change) -> bool {
    port.kind == Kind::Port
        && iface.kind == Kind::Interface
        && iface.action == port.action
        && iface.name == port.name
        && iface.parent.as_deref() == Some(port.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::MARK_PEER;

    #[test]
    fn write_value_matches_display_for_strings_numbers_and_sets() {
        for v in [
            Value::Str("198.18.0.2".into()),
            Value::Str("a\"b\\c\n".into()),
            Value::Int(4789),
            Value::Int(0),
            Value::Int(-7),
            Value::Int(i64::MIN),
            Value::Int(i64::MAX),
            Value::Bool(true),
            Value::Bool(false),
            Value::IntSet(vec![10, 20]),
            Value::IntSet(vec![]),
            Value::IntSet(vec![4094]),
            Value::IntSet(vec![-1, 0, i64::MAX]),
        ] {
            let mut out = Vec::new();
            write_value(&mut out, &v).expect("vec");
            assert_eq!(String::from_utf8(out).expect("utf8"), v.to_string());
        }
    }

    fn change(action: Action, kind: Kind, name: &str, parent: &str) -> Change {
        Change {
            action,
            kind,
            name: name.into(),
            parent: Some(parent.into()),
            uuid: None,
            parent_uuid: None,
            attrs: Vec::new(),
        }
    }

    #[test]
    fn a_port_and_its_interface_are_one_item_in_either_order() {
        let changes = [
            change(Action::Delete, Kind::Interface, "vx-b", "vx-b"),
            change(Action::Delete, Kind::Port, "vx-b", "br"),
            change(Action::Create, Kind::Port, "gnv-b", "br"),
            change(Action::Create, Kind::Interface, "gnv-b", "gnv-b"),
            change(Action::Create, Kind::Port, "gnv-c", "br"),
            change(Action::Update, Kind::Interface, "gnv-c", "gnv-c"),
        ];
        let items: Vec<(&str, Option<&str>)> = shown_items(&changes)
            .map(|(c, nested)| (c.name.as_str(), nested.map(|n| n.name.as_str())))
            .collect();
        assert_eq!(
            items,
            [
                ("vx-b", Some("vx-b")),
                ("gnv-b", Some("gnv-b")),
                ("gnv-c", None),
                ("gnv-c", None)
            ]
        );
        let (port, _) = shown_items(&changes).next().expect("an item");
        assert_eq!(
            port.kind,
            Kind::Port,
            "the port is shown first even when deleted last"
        );
    }

    #[test]
    fn sections_rendered_apart_give_the_bytes_of_hosts_rendered_in_order() {
        let loaded =
            crate::topology::load("t.yaml", include_str!("../../topologies/star5-gre.yaml"))
                .expect("valid topology");
        let (topology, analysis) = (&loaded.topology, &loaded.analysis);
        let context = crate::plan::context(topology, analysis, Mode::Offline, Vec::new());
        // Folded hosts (holding what they should) around hosts with changes, so the
        // blank lines between folded lines and sections are covered.
        let mut hosts: Vec<HostPlan> = [true, true, false, true, false, false, true]
            .iter()
            .enumerate()
            .map(|(i, &holds_it)| {
                let desired = crate::desire::desire_host(topology, analysis, i % 5);
                let mut observed = crate::state::ObservedHost::default();
                if holds_it {
                    observed.state = desired.state.clone();
                }
                crate::plan::build(&desired, &observed).expect("plans")
            })
            .collect();
        // Text a terminal must not see raw is escaped on either path.
        hosts[2].changes[0].name.push_str("\u{1b}]0;x\u{7}");
        hosts[4].host.push('\u{202e}');
        assert!(hosts.iter().any(|h| !h.needs_attention()));
        assert!(hosts.iter().any(|h| h.needs_attention()));
        for (format, color) in [
            (Format::Text, false),
            (Format::Text, true),
            (Format::Json, false),
        ] {
            let (mut in_order, mut apart) = (Vec::new(), Vec::new());
            let mut w = writer(format, &mut in_order, color);
            w.begin(&context).expect("vec");
            for host in &hosts {
                w.host(host).expect("vec");
            }
            let in_order_summary = w.finish().expect("vec");
            drop(w);
            let mut w = writer(format, &mut apart, color);
            let renderer = w.section_renderer().expect("text and json render apart");
            w.begin(&context).expect("vec");
            for host in &hosts {
                w.section(renderer.render(host)).expect("vec");
            }
            assert_eq!(w.finish().expect("vec"), in_order_summary);
            drop(w);
            if format == Format::Text && !color {
                assert!(!apart.contains(&0x1b), "escaped");
            }
            assert_eq!(
                String::from_utf8_lossy(&apart),
                String::from_utf8_lossy(&in_order),
                "{format:?}"
            );
        }
        assert!(writer(Format::Markdown, &mut Vec::new(), false)
            .section_renderer()
            .is_none());
    }

    #[test]
    fn peer_key_is_the_shared_mark() {
        assert_eq!(PEER_KEY, format!("external_ids:{MARK_PEER}"));
    }

    #[test]
    fn no_changes_line_only_when_nothing_changes_and_nothing_is_blocked() {
        let mut s = Summary::default();
        assert_eq!(s.plan_line(), NO_CHANGES);
        s.hosts_blocked = 1;
        assert_eq!(s.plan_line(), "Plan: 0 to add, 0 to change, 0 to destroy.");
        s.hosts_blocked = 0;
        s.counts.destroy = 2;
        assert_eq!(s.plan_line(), "Plan: 0 to add, 0 to change, 2 to destroy.");
    }
}
