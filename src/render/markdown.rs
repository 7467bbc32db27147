//! The plan as a pull-request comment (`--format markdown`).
//!
//! What a reviewer must see is never folded away: the `Plan: ...` line, a warning when
//! rows are destroyed, and a caution when hosts are blocked. Then the cluster facts, a
//! mermaid flowchart of the tunnel graph with added, removed and replaced tunnels marked,
//! and one `<details>` block per changed host holding a `diff`-fenced listing whose
//! markers sit in column 0 (`+` create, `-` delete, `!` update header followed by `-` old
//! and `+` new lines, so code hosts colour every changed value). Hosts without changes
//! share one line.
//!
//! `ovsnet diff` adds the topology file's own change after the facts, as a collapsible
//! unified diff (`source_diff`).
//!
//! A comment is limited (65,000 characters on the common code hosts), so the renderer
//! buffers at most about one comment's worth of host detail while streaming and, when
//! everything does not fit, first condenses a host to one line per change, then cuts its
//! detail, and always says what it cut. The summary is never cut.

use super::{
    counts_phrase, mode_sentence, plural, shown_items, tunnel_peer, write_value, PlanWriter,
    Summary,
};
use crate::plan::{Action, AttrChange, Change, Context, HostPlan, TunnelPairs};
use crate::state::Kind;
use crate::terminal::Sanitized;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{self, Write};

/// The comment size the output stays under, in bytes (a byte count bounds the character count).
pub const COMMENT_LIMIT: usize = 65_000;

/// Graphs with more edges are not drawn (mermaid's default `maxEdges` is 500).
const EDGE_CAP: usize = 500;
/// At most this many names in any one list outside the host blocks.
const NAME_CAP: usize = 30;
/// Context warnings shown at most, each cut to [`WARNING_CHARS`].
const WARNING_CAP: usize = 20;
const WARNING_CHARS: usize = 400;

/// One host's rendered `<details>` block.
struct Block {
    /// Position of the host in the plan.
    index: usize,
    host: String,
    text: String,
    condensed: bool,
}

/// Streams a plan into one pull-request comment.
pub struct MarkdownRenderer<'a> {
    /// Everything written is escaped for the terminal (a PR comment is also read in one).
    out: Sanitized<&'a mut dyn Write>,
    limit: usize,
    context: Option<Context>,
    summary: Summary,
    blocks: Vec<Block>,
    kept: usize,
    condensed: usize,
    /// Hosts whose detail was cut, by plan position (the first [`NAME_CAP`] are named).
    elided: Vec<(usize, String)>,
    elided_count: usize,
    unchanged: Vec<String>,
    unchanged_count: usize,
    blocked: Vec<String>,
    destroys: Vec<String>,
    destroy_hosts: usize,
    bridge_deletes: Vec<String>,
    graph: GraphTrack,
    /// The topology file's own change (`source_diff`), shown after the facts.
    topology_change: String,
}

/// What the tunnel graph needs from the hosts: their names and the tunnels added or removed.
#[derive(Default)]
struct GraphTrack {
    drawable: bool,
    tunnel_count: usize,
    hosts: Vec<String>,
    new_hosts: BTreeSet<String>,
    added: BTreeSet<(String, String)>,
    removed: BTreeSet<(String, String)>,
}

fn edge_key(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

impl GraphTrack {
    fn host(&mut self, host: &HostPlan) {
        if !self.drawable {
            return;
        }
        self.hosts.push(host.host.clone());
        for change in &host.changes {
            if change.kind == Kind::Bridge && change.action == Action::Create {
                self.new_hosts.insert(host.host.clone());
            }
            let Some(peer) = tunnel_peer(change) else {
                continue;
            };
            match change.action {
                Action::Create => self.added.insert(edge_key(&host.host, peer)),
                Action::Delete => self.removed.insert(edge_key(&host.host, peer)),
                Action::Update => false,
            };
        }
        if self.removed.len() > EDGE_CAP {
            self.drawable = false;
        }
    }
}

impl<'a> MarkdownRenderer<'a> {
    /// A renderer writing one comment of at most [`COMMENT_LIMIT`] bytes to `out`.
    pub fn new(out: &'a mut dyn Write) -> Self {
        Self::with_limit(out, COMMENT_LIMIT)
    }

    /// A renderer with another size limit (tests; code hosts with other limits).
    pub fn with_limit(out: &'a mut dyn Write, limit: usize) -> Self {
        MarkdownRenderer {
            out: Sanitized::new(out),
            limit,
            context: None,
            summary: Summary::default(),
            blocks: Vec::new(),
            kept: 0,
            condensed: 0,
            elided: Vec::new(),
            elided_count: 0,
            unchanged: Vec::new(),
            unchanged_count: 0,
            blocked: Vec::new(),
            destroys: Vec::new(),
            destroy_hosts: 0,
            bridge_deletes: Vec::new(),
            graph: GraphTrack::default(),
            topology_change: String::new(),
        }
    }

    /// Also shows the topology file's own change, from `base` to `head` (`ovsnet diff`),
    /// in a collapsible section of at most a quarter of the comment.
    pub fn with_topology_change(mut self, base: (&str, &str), head: (&str, &str)) -> Self {
        let budget = self.limit / 4;
        self.topology_change = super::source_diff::section(base.0, base.1, head.0, head.1, budget);
        self
    }

    fn elide(&mut self, index: usize, host: String) {
        self.elided_count += 1;
        self.elided.push((index, host));
        if self.elided.len() > NAME_CAP {
            self.elided.sort_unstable();
            self.elided.truncate(NAME_CAP);
        }
    }

    fn note_outside(&mut self, host: &HostPlan) {
        let counts = host.counts();
        if counts.destroy > 0 {
            self.destroy_hosts += 1;
            if self.destroys.len() < NAME_CAP {
                self.destroys
                    .push(format!("{} ({})", code(&host.host), counts.destroy));
            }
        }
        for change in host.changes.iter().filter(|c| super::deletes_bridge(c)) {
            if self.bridge_deletes.len() < NAME_CAP {
                self.bridge_deletes
                    .push(format!("{} on {}", code(&change.name), code(&host.host)));
            }
        }
        if host.is_blocked() && self.blocked.len() < NAME_CAP {
            self.blocked.push(blocked_reason(host));
        }
    }

    /// Keeps the host's block in full, else condensed, else cuts it; `index` is its position.
    fn keep_block(&mut self, index: usize, host: &HostPlan) {
        for condensed in [false, true] {
            let budget = self.limit.saturating_sub(self.kept);
            if let Some(text) = host_block(host, condensed, budget) {
                self.kept += text.len();
                self.condensed += usize::from(condensed);
                let host = host.host.clone();
                self.blocks.push(Block {
                    index,
                    host,
                    text,
                    condensed,
                });
                return;
            }
        }
        self.elide(index, host.host.clone());
    }

    fn assemble(&mut self, context: &Context) -> String {
        let head = head(context, &self.summary, self);
        let mut graph = graph_section(context, &self.graph);
        let mut change = std::mem::take(&mut self.topology_change);
        let tail_unchanged = unchanged_line(&self.unchanged, self.unchanged_count);
        loop {
            let cut = self.cut_note();
            let body: usize = self.blocks.iter().map(|b| b.text.len()).sum();
            let total = head.len()
                + change.len()
                + graph.len()
                + body
                + tail_unchanged.len()
                + cut.len()
                + HOSTS_HEADING.len();
            if total <= self.limit {
                break;
            }
            match self.blocks.pop() {
                Some(block) => {
                    self.condensed -= usize::from(block.condensed);
                    self.elide(block.index, block.host);
                }
                None if !graph.is_empty() => graph = String::new(),
                None if !change.is_empty() => change = String::new(),
                None => break,
            }
        }
        let mut doc = head;
        doc.push_str(&change);
        doc.push_str(&graph);
        if !self.blocks.is_empty() || self.elided_count > 0 {
            doc.push_str(HOSTS_HEADING);
        }
        for block in &self.blocks {
            doc.push_str(&block.text);
        }
        doc.push_str(&tail_unchanged);
        doc.push_str(&self.cut_note());
        doc
    }

    fn cut_note(&self) -> String {
        if self.elided_count == 0 && self.condensed == 0 {
            return String::new();
        }
        let mut note = String::from("\n> [!NOTE]\n> This comment was shortened to stay under ");
        let _ = write!(note, "{} characters:", group_digits(self.limit));
        if self.condensed > 0 {
            let _ = write!(
                note,
                " {} shown in short form (one line per change, without values, at most {CONDENSED_CHANGES} changes);",
                plural(self.condensed, "host")
            );
        }
        if self.elided_count > 0 {
            let mut elided = self.elided.clone();
            elided.sort_unstable();
            let names: Vec<String> = elided.iter().map(|(_, h)| code(h)).collect();
            let more = self.elided_count.saturating_sub(names.len());
            let _ = write!(
                note,
                " the detail of {} was cut ({}",
                plural(self.elided_count, "host"),
                names.join(", ")
            );
            if more > 0 {
                let _ = write!(note, ", and {more} more");
            }
            note.push_str(");");
        }
        note.push_str(" run `ovsnet plan` for the full plan.\n");
        note
    }
}

const HOSTS_HEADING: &str = "\n#### Hosts\n\n";

impl PlanWriter for MarkdownRenderer<'_> {
    fn begin(&mut self, context: &Context) -> io::Result<()> {
        self.graph.drawable = context.tunnels.len() <= EDGE_CAP;
        self.graph.tunnel_count = context.tunnels.len();
        let mut kept = context.clone();
        if !self.graph.drawable {
            kept.tunnels = TunnelPairs::default();
        }
        self.context = Some(kept);
        Ok(())
    }

    fn host(&mut self, host: &HostPlan) -> io::Result<()> {
        self.summary.add(host);
        self.graph.host(host);
        self.note_outside(host);
        if !host.needs_attention() {
            self.unchanged_count += 1;
            if self.unchanged.len() < NAME_CAP * 2 {
                let mut entry = code(&host.host);
                if !host.left_alone.is_empty() {
                    let _ = write!(
                        entry,
                        " ({} left alone)",
                        plural(host.left_alone.len(), "row")
                    );
                }
                self.unchanged.push(entry);
            }
            return Ok(());
        }
        self.keep_block(self.summary.hosts - 1, host);
        Ok(())
    }

    fn finish(&mut self) -> io::Result<Summary> {
        let context = self
            .context
            .take()
            .ok_or_else(|| io::Error::other("markdown renderer finished before it began"))?;
        let doc = self.assemble(&context);
        self.out.write_all(doc.as_bytes())?;
        self.out.flush()?;
        Ok(self.summary)
    }
}

fn head(context: &Context, summary: &Summary, r: &MarkdownRenderer<'_>) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "### ovsnet plan for cluster {}\n",
        code(&context.cluster)
    );
    let _ = writeln!(s, "**{}**\n", summary.plan_line());
    if summary.counts.destroy > 0 {
        s.push_str(&destroy_warning(summary, r));
    }
    if summary.hosts_blocked > 0 {
        s.push_str(&blocked_caution(summary, &r.blocked));
    }
    s.push_str(&facts(context, summary, r.graph.tunnel_count));
    s
}

fn destroy_warning(summary: &Summary, r: &MarkdownRenderer<'_>) -> String {
    let mut s = format!(
        "> [!WARNING]\n> **This plan destroys {}** on {}: {}",
        plural(summary.counts.destroy, "row"),
        plural(r.destroy_hosts, "host"),
        r.destroys.join(", ")
    );
    if r.destroy_hosts > r.destroys.len() {
        let _ = write!(s, ", and {} more", r.destroy_hosts - r.destroys.len());
    }
    s.push_str(".\n");
    if !r.bridge_deletes.is_empty() {
        let _ = writeln!(
            s,
            "> It deletes the overlay bridge {}.",
            r.bridge_deletes.join(", ")
        );
    }
    s.push('\n');
    s
}

fn blocked_caution(summary: &Summary, blocked: &[String]) -> String {
    let mut s = format!(
        "> [!CAUTION]\n> **{} blocked**: nothing will be changed there until this is resolved.\n",
        if summary.hosts_blocked == 1 {
            "1 host is".to_string()
        } else {
            format!("{} hosts are", summary.hosts_blocked)
        }
    );
    for line in blocked {
        let _ = writeln!(s, "> - {line}");
    }
    if summary.hosts_blocked > blocked.len() {
        let _ = writeln!(s, "> - and {} more", summary.hosts_blocked - blocked.len());
    }
    s.push('\n');
    s
}

fn facts(context: &Context, summary: &Summary, tunnels: usize) -> String {
    let mut s = format!("| cluster | {} |\n|---|---|\n", code(&context.cluster));
    let _ = writeln!(s, "| mode | {} |", mode_sentence(context.mode));
    let _ = writeln!(
        s,
        "| topology | {}, {}, {} |",
        context.shape,
        plural(summary.hosts, "host"),
        plural(tunnels, "tunnel")
    );
    let _ = writeln!(s, "| tunnel type | {} |", context.tunnel);
    let _ = writeln!(
        s,
        "| loop protection | {}: {} |",
        context.protection,
        cell(&context.protection_reason)
    );
    let _ = writeln!(s, "| overlay MTU | {} |", context.overlay_mtu);
    let _ = writeln!(
        s,
        "| topology digest | {} |",
        code(&context.topology_digest)
    );
    for warning in context.warnings.iter().take(WARNING_CAP) {
        let _ = writeln!(
            s,
            "| warning | {} |",
            cell(&truncate(warning, WARNING_CHARS))
        );
    }
    if context.warnings.len() > WARNING_CAP {
        let _ = writeln!(
            s,
            "| warning | and {} more |",
            context.warnings.len() - WARNING_CAP
        );
    }
    s
}

fn blocked_reason(host: &HostPlan) -> String {
    let mut reasons: Vec<String> = host
        .conflicts
        .iter()
        .map(|c| {
            format!(
                "{} {} is {}",
                c.kind.word(),
                code(&c.name),
                super::text::owner_phrase(&c.owner)
            )
        })
        .collect();
    reasons.extend(host.preflight.iter().map(|p| {
        format!(
            "{} {} not offered (offers: {})",
            p.requirement,
            code(&p.wanted),
            p.offered
        )
    }));
    format!("{}: {}", code(&host.host), reasons.join("; "))
}

fn unchanged_line(names: &[String], count: usize) -> String {
    if count == 0 {
        return String::new();
    }
    let mut s = format!(
        "\n**No changes** on {}: {}",
        plural(count, "host"),
        names.join(", ")
    );
    if count > names.len() {
        let _ = write!(s, ", and {} more", count - names.len());
    }
    s.push_str(".\n");
    s
}

/// One host's `<details>` block, or `None` when it would be longer than `budget` bytes.
///
/// `condensed` lists each change on one line without values and at most
/// [`CONDENSED_CHANGES`] of them; giving up early keeps the work per host bounded by the
/// budget even for a host with thousands of changes.
fn host_block(host: &HostPlan, condensed: bool, budget: usize) -> Option<String> {
    let mut s = format!(
        "<details><summary><code>{}</code>: {}{}</summary>\n\n",
        html(&host.host),
        counts_phrase(host.counts()),
        if host.is_blocked() { " (blocked)" } else { "" }
    );
    if let Some(lag) = &host.switch_lag {
        let _ = writeln!(s, "- **warning**: {}", super::lag_sentence(&host.host, lag));
    }
    if let Some(agent) = &host.agent {
        let _ = writeln!(
            s,
            "- **warning**: {}",
            super::agent_sentence(&host.host, agent)
        );
    }
    for c in &host.conflicts {
        let owner = super::text::owner_phrase(&c.owner);
        let mut blocks = c.blocks_delete_of.as_deref().map_or(String::new(), |b| {
            format!(
                " and sits on bridge {}, which this plan would delete",
                code(b)
            )
        });
        if let Some(vlan) = &c.blocks_vlan {
            blocks = format!(
                ", a container on VLAN {}, which this plan would remove",
                code(vlan)
            );
        }
        let _ = writeln!(
            s,
            "- **conflict**: {} {} is {owner}{blocks}",
            c.kind.word(),
            code(&c.name)
        );
    }
    for p in &host.preflight {
        let (wanted, offered) = (code(&p.wanted), &p.offered);
        let _ = writeln!(
            s,
            "- **preflight**: {} {wanted} is not offered (offers: {offered})",
            p.requirement
        );
    }
    if !host.conflicts.is_empty() || !host.preflight.is_empty() {
        s.push('\n');
    }
    s.push_str("```diff\n");
    diff_listing(&mut s, &host.changes, condensed, budget)?;
    left_alone_listing(&mut s, host, condensed);
    for c in &host.containers {
        let _ = write!(
            s,
            "  container {}  (VLAN {}, {}): {}",
            c.port, c.vlan, c.address, c.state
        );
        if let Some(problem) = &c.problem {
            let _ = write!(s, ", {problem}");
        }
        s.push('\n');
    }
    s.push_str("```\n");
    if condensed {
        s.push_str("\n_Attribute values cut to fit the comment._\n");
    }
    s.push_str("\n</details>\n\n");
    (s.len() <= budget).then_some(s)
}

/// In a condensed block, at most this many changes (a port with its interface counts once).
const CONDENSED_CHANGES: usize = 40;
/// In a condensed block, at most this many rows left alone.
const CONDENSED_LEFT_ALONE: usize = 10;

fn left_alone_listing(s: &mut String, host: &HostPlan, condensed: bool) {
    let cap = if condensed {
        CONDENSED_LEFT_ALONE
    } else {
        usize::MAX
    };
    for row in host.left_alone.iter().take(cap) {
        let _ = write!(s, "  {} {}", row.kind.word(), row.name);
        if let Some(parent) = &row.parent {
            let _ = write!(s, "  (on bridge {parent})");
        }
        let _ = writeln!(s, "  left alone: {}", super::text::owner_phrase(&row.owner));
    }
    if host.left_alone.len() > cap {
        let _ = writeln!(
            s,
            "  … and {} more rows left alone",
            host.left_alone.len() - cap
        );
    }
}

/// Appends the changes; `None` as soon as the text passes `budget`.
fn diff_listing(s: &mut String, changes: &[Change], condensed: bool, budget: usize) -> Option<()> {
    let mut done = 0;
    for (shown, (change, nested)) in shown_items(changes).enumerate() {
        if condensed && shown == CONDENSED_CHANGES {
            let _ = writeln!(s, "  … and {} more changes", changes.len() - done);
            break;
        }
        diff_change(s, change, 0, false, condensed);
        done += 1;
        if let Some(iface) = nested {
            diff_change(s, iface, 2, true, condensed);
            done += 1;
        }
        if s.len() > budget {
            return None;
        }
    }
    Some(())
}

fn diff_change(s: &mut String, change: &Change, indent: usize, nested: bool, condensed: bool) {
    let mark = match change.action {
        Action::Create => '+',
        Action::Update => '!',
        Action::Delete => '-',
    };
    let _ = write!(
        s,
        "{mark} {:indent$}{} {}",
        "",
        change.kind.word(),
        change.name
    );
    if let Some(parent) = change.parent.as_ref().filter(|_| !nested) {
        let parent_kind = if change.kind == Kind::Interface {
            "port"
        } else {
            "bridge"
        };
        let _ = write!(s, "  (on {parent_kind} {parent})");
    }
    s.push('\n');
    if condensed {
        return;
    }
    let width = change.attrs.iter().map(|a| a.key.len()).max().unwrap_or(0);
    for attr in &change.attrs {
        diff_attr(s, change.action, attr, indent + 4, width);
    }
}

fn diff_attr(s: &mut String, action: Action, attr: &AttrChange, indent: usize, width: usize) {
    let old = if action == Action::Create {
        None
    } else {
        attr.old.as_ref()
    };
    let new = if action == Action::Delete {
        None
    } else {
        attr.new.as_ref()
    };
    for (mark, value) in [('-', old), ('+', new)] {
        if let Some(value) = value {
            let _ = write!(s, "{mark} {:indent$}{:width$} = ", "", attr.key);
            let mut buf = Vec::new();
            let _ = write_value(&mut buf, value);
            s.push_str(&String::from_utf8_lossy(&buf));
            s.push('\n');
        }
    }
}

/// How a drawn tunnel differs from the current cluster.
#[derive(Clone, Copy, PartialEq, Eq)]
enum EdgeState {
    Kept,
    Added,
    Removed,
    Replaced,
}

fn graph_section(context: &Context, track: &GraphTrack) -> String {
    let mut s = String::from("\n#### Tunnel graph\n\n");
    if !track.drawable {
        let _ = writeln!(
            s,
            "Not drawn: {} are more than a comment's diagram can show (`ovsnet graph --format mermaid` draws it).",
            plural(track.tunnel_count, "tunnel")
        );
        return s;
    }
    let model = GraphModel::new(context, track);
    s.push_str(&model.mermaid());
    s
}

/// The drawn graph: hosts with their class (`added`, `removed` or none) and tunnels.
#[derive(Default)]
struct GraphModel {
    ids: BTreeMap<String, usize>,
    nodes: Vec<(String, &'static str)>,
    edges: Vec<(usize, usize, EdgeState)>,
    new_hosts: bool,
}

impl GraphModel {
    /// Planned hosts first (in plan order), then other hosts of the wanted graph, then
    /// hosts only a removed tunnel still names; wanted tunnels first, then removed ones.
    fn new(context: &Context, track: &GraphTrack) -> Self {
        let mut g = GraphModel {
            new_hosts: !track.new_hosts.is_empty(),
            ..Self::default()
        };
        for h in &track.hosts {
            g.node(
                h,
                if track.new_hosts.contains(h) {
                    "added"
                } else {
                    ""
                },
            );
        }
        let mut wanted = BTreeSet::new();
        for (a, b) in context.tunnels.iter() {
            let key = edge_key(a, b);
            let state = match (track.added.contains(&key), track.removed.contains(&key)) {
                (_, true) => EdgeState::Replaced,
                (true, false) => EdgeState::Added,
                (false, false) => EdgeState::Kept,
            };
            let edge = (g.node(a, ""), g.node(b, ""), state);
            g.edges.push(edge);
            wanted.insert(key);
        }
        for (a, b) in track.removed.iter().filter(|k| !wanted.contains(*k)) {
            let edge = (
                g.node(a, "removed"),
                g.node(b, "removed"),
                EdgeState::Removed,
            );
            g.edges.push(edge);
        }
        g
    }

    /// The node id of `name`, adding it with `class` when new.
    fn node(&mut self, name: &str, class: &'static str) -> usize {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.nodes.len();
        self.ids.insert(name.to_string(), id);
        self.nodes.push((name.to_string(), class));
        id
    }

    fn mermaid(&self) -> String {
        let mut s = String::from("```mermaid\nflowchart LR\n");
        for (i, (name, class)) in self.nodes.iter().enumerate() {
            let _ = write!(s, "  n{i}[\"{}\"]", name.replace('"', "#quot;"));
            if !class.is_empty() {
                let _ = write!(s, ":::{class}");
            }
            s.push('\n');
        }
        let mut styled: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
        for (i, (a, b, state)) in self.edges.iter().enumerate() {
            let (link, style) = match state {
                EdgeState::Kept => ("---", None),
                EdgeState::Added => ("===|added|", Some("added")),
                EdgeState::Removed => ("-.-|removed|", Some("removed")),
                EdgeState::Replaced => ("===|replaced|", Some("replaced")),
            };
            let _ = writeln!(s, "  n{a} {link} n{b}");
            if let Some(style) = style {
                styled.entry(style).or_default().push(i);
            }
        }
        s.push_str("  classDef added fill:#dafbe1,stroke:#1a7f37,stroke-width:3px\n");
        s.push_str("  classDef removed fill:#ffebe9,stroke:#cf222e,stroke-dasharray:5 5\n");
        for (style, indices) in &styled {
            let list: Vec<String> = indices.iter().map(usize::to_string).collect();
            let css = match *style {
                "added" => "stroke:#1a7f37,stroke-width:3px",
                "removed" => "stroke:#cf222e,stroke-width:2px,stroke-dasharray:5 5",
                _ => "stroke:#9a6700,stroke-width:3px",
            };
            let _ = writeln!(s, "  linkStyle {} {css}", list.join(","));
        }
        s.push_str("```\n");
        let removed_hosts = self.nodes.iter().any(|(_, class)| *class == "removed");
        s.push_str(&legend(&styled, self.new_hosts, removed_hosts));
        s
    }
}

/// One sentence per kind of mark the graph actually uses.
fn legend(
    styled: &BTreeMap<&'static str, Vec<usize>>,
    new_hosts: bool,
    removed_hosts: bool,
) -> String {
    let mut parts = Vec::new();
    if styled.contains_key("added") {
        parts.push("thick green `added` lines are tunnels this plan creates");
    }
    if styled.contains_key("removed") {
        parts.push("dashed red `removed` lines are tunnels it deletes");
    }
    if styled.contains_key("replaced") {
        parts.push("`replaced` tunnels are deleted and created again (their type or name changes)");
    }
    if new_hosts {
        parts.push("green hosts are new");
    }
    if removed_hosts {
        parts.push("red hosts are no longer in the topology");
    }
    if parts.is_empty() {
        return String::new();
    }
    let mut sentence = parts.join("; ");
    sentence[..1].make_ascii_uppercase();
    format!("\n{sentence}.\n")
}

/// Inline code for markdown, safe for names that contain backticks.
fn code(text: &str) -> String {
    if text.contains('`') {
        format!("`` {} ``", text.replace("``", "` `"))
    } else {
        format!("`{text}`")
    }
}

/// Text escaped for HTML element content.
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text safe inside a table cell (no pipes, no line breaks).
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

fn group_digits(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// One host's `<details>` block in full, whatever its length (for messages).
pub fn host_details(host: &HostPlan) -> String {
    #[allow(clippy::expect_used, reason = "host_block only fails when over budget")]
    host_block(host, false, usize::MAX).expect("an unlimited budget always fits")
}

/// Renders a whole plan as a pull-request comment (tests, small plans).
pub fn render(plan: &crate::plan::Plan) -> String {
    super::render(plan, super::Format::Markdown, false)
}
