//! Terraform-style text plans for a terminal: a header stating what was planned against
//! and why (mode, shape, tunnel type, loop protection and its reason, overlay MTU,
//! warnings), one section per host with `+` create, `~` update and `-` delete markers,
//! conflicts and preflight failures that stop a host, rows left alone, hosts without
//! changes folded to one line, and the `Plan: ...` line last.
//!
//! A port and its same-named interface with the same action are shown as one object,
//! the interface nested under the port, because that is how an operator thinks of a
//! tunnel. Colour is used only when the caller asks for it. Output is written through a
//! buffer straight to the writer; nothing is held beyond the current host.

use super::{counts_phrase, mode_sentence, plural, shown_items, write_value, PlanWriter, Summary};
use crate::plan::{Action, AttrChange, Change, Conflict, Context, HostPlan, Preflight};
use crate::state::Ownership;
use crate::terminal::Sanitized;
use std::io::{self, BufWriter, Write};

const RESET: &str = "\x1b[0m";
const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const DIM: &str = "\x1b[2m";

/// At most this many left-alone rows are named on a folded host line.
const FOLDED_NAMES: usize = 5;

/// Streams a plan as terraform-style text into `W`: a buffered writer for output
/// ([`TextRenderer::new`]), or the `Vec` of a section rendered ahead, written straight
/// into (a host's section is thousands of small writes, which cost several times the
/// rendering itself through a buffer behind `dyn Write`).
pub struct TextRenderer<W: Write> {
    /// Everything written is escaped for the terminal; colour goes through `style`.
    out: Sanitized<W>,
    color: bool,
    summary: Summary,
    /// Whether the last thing written was a folded host line (they share a paragraph).
    folded_last: bool,
}

impl<'a> TextRenderer<BufWriter<&'a mut dyn Write>> {
    /// A renderer writing to `out`, with ANSI colour when `color` is set.
    pub fn new(out: &'a mut dyn Write, color: bool) -> Self {
        TextRenderer::into_sink(BufWriter::with_capacity(1 << 16, out), color)
    }
}

impl<W: Write> TextRenderer<W> {
    /// A renderer writing straight to `out`, unbuffered.
    fn into_sink(out: W, color: bool) -> Self {
        TextRenderer {
            out: Sanitized::new(out),
            color,
            summary: Summary::default(),
            folded_last: false,
        }
    }

    fn paint(&mut self, code: &str, text: &str) -> io::Result<()> {
        if self.color {
            self.out.style(code)?;
            self.out.write_all(text.as_bytes())?;
            self.out.style(RESET)
        } else {
            self.out.write_all(text.as_bytes())
        }
    }

    fn marker(&mut self, action: Action) -> io::Result<()> {
        let (code, mark) = match action {
            Action::Create => (GREEN, "+"),
            Action::Update => (YELLOW, "~"),
            Action::Delete => (RED, "-"),
        };
        self.paint(code, mark)
    }

    fn header_line(&mut self, label: &str, value: &str) -> io::Result<()> {
        writeln!(self.out, "  {label:<16} {value}")
    }

    fn host_heading(&mut self, host: &HostPlan) -> io::Result<()> {
        writeln!(self.out)?;
        self.paint(BOLD, &host.host)?;
        write!(self.out, "  ({})", host.endpoint)?;
        if host.is_blocked() {
            self.out.write_all(b"  ")?;
            self.paint(RED, "BLOCKED: nothing on this host will be changed")?;
        }
        writeln!(self.out)
    }

    fn conflict(&mut self, conflict: &Conflict) -> io::Result<()> {
        self.out.write_all(b"  ")?;
        self.paint(RED, "! conflict:")?;
        if let Some(vlan) = &conflict.blocks_vlan {
            writeln!(
                self.out,
                " container port `{}` is on VLAN `{vlan}`, which this plan would remove",
                conflict.name
            )?;
            return writeln!(
                self.out,
                "      help: detach it first (`ovsnet detach --port {}`), or keep the VLAN",
                conflict.name
            );
        }
        if let Some(bridge) = &conflict.blocks_delete_of {
            writeln!(
                self.out,
                " {} `{}` is {} and sits on bridge `{bridge}`, which this plan would delete",
                conflict.kind.word(),
                conflict.name,
                owner_phrase(&conflict.owner)
            )?;
            return writeln!(
                self.out,
                "      help: move that {} off `{bridge}` first; ovsnet never deletes what it did not create",
                conflict.kind.word()
            );
        }
        writeln!(
            self.out,
            " {} `{}` already exists and is {}; ovsnet will not take it over",
            conflict.kind.word(),
            conflict.name,
            owner_phrase(&conflict.owner)
        )?;
        writeln!(
            self.out,
            "      help: rename or remove that {} by hand, or rename the host's peer",
            conflict.kind.word()
        )
    }

    fn preflight(&mut self, failure: &Preflight) -> io::Result<()> {
        self.out.write_all(b"  ")?;
        self.paint(RED, "! preflight:")?;
        writeln!(
            self.out,
            " {} `{}` is not offered by this host (it offers: {})",
            failure.requirement, failure.wanted, failure.offered
        )
    }

    /// Writes one change at `indent` spaces; a nested change does not repeat its parent.
    fn change(&mut self, change: &Change, indent: usize, nested: bool) -> io::Result<()> {
        pad(&mut self.out, indent)?;
        self.marker(change.action)?;
        // Pieces written as they are: formatting machinery per change line was a fifth
        // of a large plan's text rendering.
        self.out.write_all(b" ")?;
        self.out.write_all(change.kind.word().as_bytes())?;
        self.out.write_all(b" ")?;
        self.out.write_all(change.name.as_bytes())?;
        if let Some(parent) = change.parent.as_ref().filter(|_| !nested) {
            let parent_kind: &[u8] = match change.kind {
                crate::state::Kind::Interface => b"  (on port ",
                _ => b"  (on bridge ",
            };
            self.out.write_all(parent_kind)?;
            self.out.write_all(parent.as_bytes())?;
            self.out.write_all(b")")?;
        }
        self.out.write_all(b"\n")?;
        let width = change.attrs.iter().map(|a| a.key.len()).max().unwrap_or(0);
        for attr in &change.attrs {
            self.attr(change.action, attr, indent + 4, width)?;
        }
        Ok(())
    }

    fn attr(
        &mut self,
        action: Action,
        attr: &AttrChange,
        indent: usize,
        width: usize,
    ) -> io::Result<()> {
        pad(&mut self.out, indent)?;
        let shown = match (action, &attr.old, &attr.new) {
            (Action::Delete, _, _) | (_, Some(_), None) => Action::Delete,
            (Action::Update, Some(_), Some(_)) => Action::Update,
            _ => Action::Create,
        };
        self.marker(shown)?;
        self.out.write_all(b" ")?;
        self.out.write_all(attr.key.as_bytes())?;
        pad(&mut self.out, width - attr.key.len())?;
        self.out.write_all(b" = ")?;
        match (shown, &attr.old, &attr.new) {
            (Action::Update, Some(old), Some(new)) => {
                write_value(&mut self.out, old)?;
                self.out.write_all(b" -> ")?;
                write_value(&mut self.out, new)?;
            }
            (Action::Delete, Some(old), _) => write_value(&mut self.out, old)?,
            (_, _, Some(new)) => write_value(&mut self.out, new)?,
            _ => self.out.write_all(b"(absent)")?,
        }
        self.out.write_all(b"\n")
    }

    fn changes(&mut self, changes: &[Change]) -> io::Result<()> {
        for (change, nested) in shown_items(changes) {
            self.change(change, 2, false)?;
            if let Some(iface) = nested {
                self.change(iface, 4, true)?;
            }
        }
        Ok(())
    }

    fn left_alone(&mut self, host: &HostPlan) -> io::Result<()> {
        for c in &host.containers {
            self.out.write_all(b"  ")?;
            self.paint(DIM, "=")?;
            write!(
                self.out,
                " container {}  (VLAN {}, {}): {}",
                c.port, c.vlan, c.address, c.state
            )?;
            if let Some(problem) = &c.problem {
                write!(self.out, ", {problem}")?;
            }
            writeln!(self.out)?;
        }
        for row in &host.left_alone {
            self.out.write_all(b"  ")?;
            self.paint(DIM, "=")?;
            write!(self.out, " {} {}", row.kind.word(), row.name)?;
            if let Some(parent) = &row.parent {
                write!(self.out, "  (on bridge {parent})")?;
            }
            writeln!(self.out, ": {}, left alone", owner_phrase(&row.owner))?;
        }
        Ok(())
    }

    fn folded(&mut self, host: &HostPlan) -> io::Result<()> {
        if !self.folded_last {
            writeln!(self.out)?;
        }
        self.folded_last = true;
        self.paint(DIM, "=")?;
        write!(self.out, " {}: no changes", host.host)?;
        if !host.left_alone.is_empty() {
            let names: Vec<String> = host
                .left_alone
                .iter()
                .take(FOLDED_NAMES)
                .map(|r| format!("{} {}", r.kind.word(), r.name))
                .collect();
            write!(
                self.out,
                " ({} left alone: {}",
                plural(host.left_alone.len(), "row"),
                names.join(", ")
            )?;
            if host.left_alone.len() > FOLDED_NAMES {
                write!(
                    self.out,
                    ", and {} more",
                    host.left_alone.len() - FOLDED_NAMES
                )?;
            }
            self.out.write_all(b")")?;
        }
        if !host.containers.is_empty() {
            let stale = host
                .containers
                .iter()
                .filter(|c| c.state == "stale")
                .count();
            let names: Vec<&str> = host
                .containers
                .iter()
                .take(FOLDED_NAMES)
                .map(|c| c.port.as_str())
                .collect();
            write!(
                self.out,
                " ({}, {stale} stale: {}",
                plural(host.containers.len(), "container"),
                names.join(", ")
            )?;
            if host.containers.len() > FOLDED_NAMES {
                write!(
                    self.out,
                    ", and {} more",
                    host.containers.len() - FOLDED_NAMES
                )?;
            }
            self.out.write_all(b")")?;
        }
        writeln!(self.out)
    }
}

impl<W: Write> PlanWriter for TextRenderer<W> {
    fn begin(&mut self, context: &Context) -> io::Result<()> {
        self.paint(
            BOLD,
            &format!("ovsnet plan for cluster `{}`", context.cluster),
        )?;
        writeln!(self.out)?;
        self.header_line("mode", mode_sentence(context.mode))?;
        let shape = format!(
            "{}, {}",
            context.shape,
            plural(context.tunnels.len(), "tunnel")
        );
        self.header_line("topology", &shape)?;
        self.header_line("tunnel type", &context.tunnel)?;
        let protection = format!("{}: {}", context.protection, context.protection_reason);
        self.header_line("loop protection", &protection)?;
        self.header_line("overlay MTU", &context.overlay_mtu.to_string())?;
        self.header_line("topology digest", &context.topology_digest)?;
        for warning in &context.warnings {
            self.out.write_all(b"  ")?;
            self.paint(YELLOW, "warning:")?;
            writeln!(self.out, " {warning}")?;
        }
        Ok(())
    }

    fn host(&mut self, host: &HostPlan) -> io::Result<()> {
        self.summary.add(host);
        self.host_section(host)
    }

    fn section_renderer(&self) -> Option<super::SectionRenderer> {
        Some(super::SectionRenderer::Text { color: self.color })
    }

    fn section(&mut self, section: super::Section) -> io::Result<()> {
        self.summary.merge(&section.summary);
        // What `folded` writes ahead of a folded line that follows a section (see
        // `section_bytes`, which leaves it out).
        if section.folded && !self.folded_last {
            writeln!(self.out)?;
        }
        self.folded_last = section.folded;
        self.out.write_escaped(&section.bytes)
    }

    fn finish(&mut self) -> io::Result<Summary> {
        let summary = self.summary;
        writeln!(self.out)?;
        if summary.hosts_blocked > 0 {
            self.paint(RED, "Blocked:")?;
            writeln!(
                self.out,
                " {} of {} ({}, {}); their changes will not be applied.",
                plural(summary.hosts_blocked, "host"),
                summary.hosts,
                plural(summary.conflicts, "conflict"),
                plural(summary.preflight_failures, "preflight failure"),
            )?;
        }
        self.paint(BOLD, &summary.plan_line())?;
        writeln!(self.out)?;
        self.out.flush()?;
        Ok(summary)
    }
}

impl<W: Write> TextRenderer<W> {
    /// Writes one host's section alone (no header, no summary) and flushes.
    pub fn host_only(mut self, host: &HostPlan) -> io::Result<()> {
        self.host_section(host)?;
        self.out.flush()
    }

    /// One host: folded to a line without changes, else heading, blockers, changes, rows left alone.
    fn host_section(&mut self, host: &HostPlan) -> io::Result<()> {
        if !host.needs_attention() {
            return self.folded(host);
        }
        self.folded_last = false;
        self.host_heading(host)?;
        for conflict in &host.conflicts {
            self.conflict(conflict)?;
        }
        for failure in &host.preflight {
            self.preflight(failure)?;
        }
        if let Some(lag) = &host.switch_lag {
            self.out.write_all(b"  ")?;
            self.paint(YELLOW, "warning:")?;
            writeln!(self.out, " {}", super::lag_sentence(&host.host, lag))?;
            if host.changes.is_empty() {
                writeln!(self.out, "  no changes to the database")?;
            }
        }
        if let Some(agent) = &host.agent {
            self.out.write_all(b"  ")?;
            self.paint(YELLOW, "warning:")?;
            writeln!(self.out, " {}", super::agent_sentence(&host.host, agent))?;
        }
        for change in host.changes.iter().filter(|c| super::deletes_bridge(c)) {
            self.out.write_all(b"  ")?;
            self.paint(YELLOW, "warning:")?;
            writeln!(
                self.out,
                " deletes bridge `{}` and every port ovsnet owns on it",
                change.name
            )?;
        }
        if host.is_blocked() && !host.changes.is_empty() {
            writeln!(self.out, "  changes that would be needed once unblocked:")?;
        }
        self.changes(&host.changes)?;
        self.left_alone(host)?;
        if !host.changes.is_empty() {
            writeln!(self.out, "  {}", counts_phrase(host.counts()))?;
        }
        Ok(())
    }
}

/// How the plan names the owner of a row it will not touch.
pub(crate) fn owner_phrase(owner: &Ownership) -> String {
    match owner {
        Ownership::Ours => "owned by this cluster".to_string(),
        Ownership::OtherCluster(cluster) => format!("owned by ovsnet cluster `{cluster}`"),
        Ownership::Foreign => "foreign (not created by ovsnet)".to_string(),
    }
}

fn pad(out: &mut dyn Write, n: usize) -> io::Result<()> {
    const SPACES: &[u8; 64] = &[b' '; 64];
    let mut left = n;
    while left > 0 {
        let k = left.min(SPACES.len());
        out.write_all(&SPACES[..k])?;
        left -= k;
    }
    Ok(())
}

/// Writes `host`'s section into `out` for [`super::SectionRenderer`], escaped: the bytes
/// [`TextRenderer::host`] writes for it, less the blank line a folded host's line gets
/// when it follows a section (the writer adds that, knowing what came before).
pub(crate) fn section_bytes(host: &HostPlan, color: bool, out: &mut Vec<u8>) -> io::Result<()> {
    let start = out.len();
    if !color {
        // No colour codes to keep out of band: render unchecked, then escape the whole
        // section in one pass, which gives what escaping it piece by piece gives (the
        // renderer writes only text, so the section is valid UTF-8) at a fraction of
        // the cost of checking each of its many small writes.
        let mut renderer = TextRenderer::into_sink(&mut *out, false);
        renderer.out.check(false);
        renderer.folded_last = true;
        renderer.host_section(host)?;
        renderer.out.flush()?;
        drop(renderer);
        // Printable ASCII and line breaks need no escaping.
        if crate::terminal::is_plain(&out[start..]) {
            return Ok(());
        }
        let raw = out.split_off(start);
        if let Ok(text) = std::str::from_utf8(&raw) {
            match crate::terminal::escape_lines(text) {
                std::borrow::Cow::Borrowed(_) => out.extend_from_slice(&raw),
                std::borrow::Cow::Owned(escaped) => out.extend_from_slice(escaped.as_bytes()),
            }
            return Ok(());
        }
    }
    let mut renderer = TextRenderer::into_sink(out, color);
    renderer.folded_last = true;
    renderer.host_section(host)?;
    renderer.out.flush()
}

/// Renders a whole plan as text (tests, small plans).
pub fn render(plan: &crate::plan::Plan, color: bool) -> String {
    super::render(plan, super::Format::Text, color)
}
