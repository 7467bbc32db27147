//! The full reader: granit-parser's event stream (the parser serde-saphyr itself runs,
//! with the same options) written straight into a [`Tree`], one slot per value, so no
//! tree of boxed nodes is ever built. An alias is a copy of its anchor's slots, placed at
//! the alias. It reads every file `plain` does not, in linear time and memory.
//!
//! Its contract, checked by the differential tests of `yaml`: [`Read::Tree`] is exactly
//! the tree serde-saphyr's path (`yaml::parse_full`) builds, and [`Read::Error`] exactly
//! its diagnostic (message and position). What this module does not reproduce, it does
//! not guess: merge keys (`<<`), explicit tags, a second document, aliases that refer to
//! an unfinished or unknown anchor, non-finite floats and every budget breach but two
//! (nesting depth, and the aliases-to-anchors ratio checked at the end) are
//! [`Read::Unsure`], and serde-saphyr reads the file. The budget counters are kept as
//! serde-saphyr keeps them, or above, so a file it refuses is never read here, and an
//! alias bomb stops here as early as it stops there.

use super::scalar::{self, Resolved};
use super::tree::{Collection, Scalar, Tree};
use super::{breach_error, parser_error, wide_integer};
use super::{Pos, SyntaxError};
use granit_parser::{ErrorKind, Event, Parser, ScalarStyle, ScanError, Span, StrInput};
use serde_saphyr::budget::BudgetBreach;
use serde_saphyr::Budget;
use std::borrow::Cow;

/// What the event reader made of a text.
pub(super) enum Read<'s> {
    /// The tree: exactly serde-saphyr's.
    Tree(Tree<'s>),
    /// The diagnostic: exactly serde-saphyr's.
    Error(SyntaxError),
    /// Outside what this reader reproduces: serde-saphyr must read the file.
    Unsure,
}

/// Why reading stopped early.
enum Stop {
    Error(SyntaxError),
    Unsure,
}

type Step = Result<(), Stop>;

/// Reads `text` under `budget` (the one `parse_full` gives serde-saphyr).
pub(super) fn read<'s>(text: &'s str, budget: &Budget) -> Read<'s> {
    let mut builder = Builder::new(text, budget);
    match builder.run() {
        Ok(()) if builder.root_is_null() => Read::Tree(Tree::with_capacity(text, 0)),
        Ok(()) => Read::Tree(builder.tree),
        Err(Stop::Error(err)) => Read::Error(err),
        Err(Stop::Unsure) => Read::Unsure,
    }
}

/// The parser options serde-saphyr derives from `budget` (`Budget::parser_options`),
/// with comments emitted as its default `comments` feature asks: the same options give
/// the same scan errors.
fn parser_options(budget: &Budget) -> granit_parser::Options {
    let mut options = granit_parser::Options::default();
    options.block_nesting_limit = options
        .block_nesting_limit
        .max(budget.max_depth.saturating_add(1));
    options.simple_key_max_lookahead = budget.simple_key_max_lookahead;
    options.flow_nesting_limit = budget.flow_nesting_limit;
    options.emit_comments = true;
    options.max_buffered_comment_events = budget.max_buffered_comment_events;
    options
}

/// A collection being read.
struct Open {
    slot: usize,
    map: bool,
    /// Children read so far: in a mapping, an even count means a key comes next.
    children: usize,
    /// The anchor defined on it, or 0.
    anchor: usize,
    /// Counters before it opened, to size what an alias of it replays.
    nodes: u64,
    collections: u64,
    scalar_bytes: u64,
    /// The deepest nesting reached inside it (absolute).
    deepest: usize,
}

/// A finished anchored value: its slots and what replaying it costs.
#[derive(Clone, Copy)]
struct Anchored {
    from: usize,
    to: usize,
    /// Events serde-saphyr replays for an alias of it (starts, ends and scalars).
    events: u64,
    nodes: u64,
    collections: u64,
    scalar_bytes: u64,
    /// Nesting levels it adds (0 for a scalar).
    depth: usize,
}

/// The budget counters, as serde-saphyr's `BudgetEnforcer` and alias limits keep them.
#[derive(Default)]
struct Counts {
    events: u64,
    nodes: u64,
    /// Collections (each replays an end event too); not a budget of its own.
    collections: u64,
    scalar_bytes: u64,
    aliases: u64,
    anchors: u64,
    recorded_events: u64,
    recorded_bytes: u64,
    replayed_events: u64,
}

struct Builder<'s, 'b> {
    text: &'s str,
    budget: &'b Budget,
    tree: Tree<'s>,
    open: Vec<Open>,
    /// By granit's anchor id; `None` until the anchored value is complete.
    anchors: Vec<Option<Anchored>>,
    /// Open anchored collections: each records every event serde-saphyr sees meanwhile.
    recording: u64,
    counts: Counts,
    documents: usize,
    /// Slots holding an integer literal the serde path reads as a float and widens back
    /// from its text (`007`, 2^64): an alias of one has no such text, and stays a float
    /// there. In ascending order.
    widened: Vec<usize>,
    /// Where the last event was (serde-saphyr's position for end-of-stream breaches).
    last: Pos,
}

/// serde-saphyr's default alias limit on replayed events (`AliasLimits`).
const MAX_TOTAL_REPLAYED_EVENTS: u64 = 1_000_000;

impl<'s, 'b> Builder<'s, 'b> {
    fn new(text: &'s str, budget: &'b Budget) -> Self {
        Builder {
            text,
            budget,
            // At most one value per two bytes but for rare shapes (`{a,b}`, aliases),
            // which grow the vector; reserving does not touch the memory.
            tree: Tree::with_capacity(text, text.len() / 2 + 2),
            open: Vec::new(),
            anchors: Vec::new(),
            recording: 0,
            counts: Counts::default(),
            documents: 0,
            widened: Vec::new(),
            last: Pos::default(),
        }
    }

    fn run(&mut self) -> Step {
        let parser = Parser::with_options(StrInput::new(self.text), parser_options(self.budget));
        for item in parser {
            let (event, span) = item.map_err(|err| scan_error(&err, self.text))?;
            self.last = Pos {
                len: 1,
                ..at(&span)
            };
            if !matches!(event, Event::Alias(_)) {
                self.counts.events += 1;
            }
            self.event(event, &span)?;
            self.check_budget()?;
        }
        self.check_alias_ratio()
    }

    fn event(&mut self, event: Event<'s>, span: &Span) -> Step {
        match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => Ok(()),
            Event::Comment(..) => Ok(()),
            Event::DocumentStart(..) => {
                self.documents += 1;
                unsure_if(self.documents > 1)
            }
            Event::Scalar(value, style, anchor, tag) => {
                unsure_if(tag.is_some())?;
                self.scalar(value, style, anchor, span)
            }
            Event::SequenceStart(_, anchor, tag) => {
                unsure_if(tag.is_some())?;
                self.start(false, anchor, span)
            }
            Event::MappingStart(_, anchor, tag) => {
                unsure_if(tag.is_some())?;
                self.start(true, anchor, span)
            }
            Event::SequenceEnd | Event::MappingEnd => self.end(),
            Event::Alias(id) => self.alias(id, span),
            _ => Err(Stop::Unsure),
        }
    }

    /// Whether the next value is a mapping key.
    fn at_key(&self) -> bool {
        self.open
            .last()
            .is_some_and(|o| o.map && o.children % 2 == 0)
    }

    /// One more child in the innermost collection.
    fn add_child(&mut self) {
        if let Some(open) = self.open.last_mut() {
            open.children += 1;
        }
    }

    /// serde-saphyr records every event into every open anchored collection; an
    /// anchored value also records its own first event.
    fn record(&mut self, events: u64, bytes: u64, anchored: bool) {
        let copies = self.recording + u64::from(anchored);
        self.counts.recorded_events += events * copies;
        self.counts.recorded_bytes += bytes * copies;
    }

    fn define_anchor(&mut self, id: usize) {
        if self.anchors.len() <= id {
            self.anchors.resize(id + 1, None);
        }
        self.counts.anchors += 1;
    }

    fn scalar(
        &mut self,
        value: Cow<'s, str>,
        style: ScalarStyle,
        anchor: usize,
        span: &Span,
    ) -> Step {
        let plain = style == ScalarStyle::Plain;
        // A merge key: its semantics stay serde-saphyr's.
        unsure_if(plain && self.at_key() && value == "<<")?;
        let bytes = value.len() as u64;
        self.counts.nodes += 1;
        self.counts.scalar_bytes += bytes;
        self.record(1, bytes, anchor != 0);
        let slot = self.tree.len();
        let at = at(span);
        let added = match scalar::resolve(&value, plain) {
            Resolved::Unsure => return Err(Stop::Unsure),
            Resolved::Null => self.tree.scalar(at, Scalar::Null),
            Resolved::Bool(b) => self.tree.scalar(at, Scalar::Bool(b)),
            Resolved::Int(i) => self.tree.scalar(at, Scalar::Int(i)),
            Resolved::Float(f) => {
                let widened =
                    span_bytes(span).and_then(|(start, len)| wide_integer(start, len, self.text));
                if widened.is_some() {
                    self.widened.push(slot);
                }
                self.tree.scalar(at, widened.unwrap_or(Scalar::Float(f)))
            }
            Resolved::Str => self.string(at, value),
        };
        added.ok_or(Stop::Unsure)?;
        if anchor != 0 {
            self.define_anchor(anchor);
            self.anchors[anchor] = Some(Anchored {
                from: slot,
                to: slot + 1,
                events: 1,
                nodes: 1,
                collections: 0,
                scalar_bytes: bytes,
                depth: 0,
            });
        }
        self.add_child();
        Ok(())
    }

    /// A string: a range of the source when the parser lent one, else its own copy.
    fn string(&mut self, at: Pos, value: Cow<'s, str>) -> Option<()> {
        match value {
            Cow::Borrowed(s) => {
                let offset = (s.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
                if offset <= self.text.len() && self.text.get(offset..offset + s.len()) == Some(s) {
                    self.tree.source_str(at, offset, s.len())
                } else {
                    self.tree.owned_str(at, s.to_string())
                }
            }
            Cow::Owned(s) => self.tree.owned_str(at, s),
        }
    }

    fn start(&mut self, map: bool, anchor: usize, span: &Span) -> Step {
        let (nodes, collections) = (self.counts.nodes, self.counts.collections);
        self.counts.nodes += 1;
        self.counts.collections += 1;
        self.record(1, 0, anchor != 0);
        let depth = self.open.len() + 1;
        if depth > self.budget.max_depth {
            return Err(Stop::Error(breach_error(
                &BudgetBreach::Depth { depth },
                Pos { len: 1, ..at(span) },
            )));
        }
        if anchor != 0 {
            self.define_anchor(anchor);
            self.recording += 1;
        }
        let collection = if map {
            Collection::Map
        } else {
            Collection::Seq
        };
        let slot = self.tree.open(Pos { len: 1, ..at(span) }, collection);
        self.open.push(Open {
            slot,
            map,
            children: 0,
            anchor,
            nodes,
            collections,
            scalar_bytes: self.counts.scalar_bytes,
            deepest: depth,
        });
        Ok(())
    }

    fn end(&mut self) -> Step {
        self.record(1, 0, false);
        let open = self.open.pop().ok_or(Stop::Unsure)?;
        self.tree.close(open.slot).ok_or(Stop::Unsure)?;
        if let Some(parent) = self.open.last_mut() {
            parent.deepest = parent.deepest.max(open.deepest);
        }
        if open.anchor != 0 {
            self.recording -= 1;
            let nodes = self.counts.nodes - open.nodes;
            let collections = self.counts.collections - open.collections;
            let replayed = Anchored {
                from: open.slot,
                to: self.tree.len(),
                // Starts and scalars, and one end per collection; comments are not kept.
                events: nodes + collections,
                nodes,
                collections,
                scalar_bytes: self.counts.scalar_bytes - open.scalar_bytes,
                // `open` was at depth `self.open.len() + 1`.
                depth: open.deepest - self.open.len(),
            };
            self.anchors[open.anchor] = Some(replayed);
        }
        self.add_child();
        Ok(())
    }

    fn alias(&mut self, id: usize, span: &Span) -> Step {
        // serde-saphyr charges the alias itself as one event and one alias.
        self.counts.events += 1;
        self.counts.aliases += 1;
        let anchored = self
            .anchors
            .get(id)
            .copied()
            .flatten()
            .ok_or(Stop::Unsure)?;
        let (from, to) = (anchored.from, anchored.to);
        // A replayed `<<` key may be a merge key; a wide integer needs its literal.
        unsure_if(self.at_key() && to == from + 1 && self.tree.is_str(from, "<<"))?;
        let first_widened = self.widened.partition_point(|slot| *slot < from);
        unsure_if(
            self.widened
                .get(first_widened)
                .is_some_and(|slot| *slot < to),
        )?;
        unsure_if(self.open.len() + anchored.depth > self.budget.max_depth)?;
        self.counts.events += anchored.events;
        self.counts.nodes += anchored.nodes;
        self.counts.collections += anchored.collections;
        self.counts.scalar_bytes += anchored.scalar_bytes;
        self.counts.replayed_events += anchored.events;
        self.record(anchored.events, anchored.scalar_bytes, false);
        // Budget before the copy: an alias bomb stops before it costs anything.
        self.check_budget()?;
        self.tree.copy(from, to, at(span)).ok_or(Stop::Unsure)?;
        let reached = self.open.len() + anchored.depth;
        if let Some(parent) = self.open.last_mut() {
            parent.deepest = parent.deepest.max(reached);
        }
        self.add_child();
        Ok(())
    }

    /// Any budget serde-saphyr would refuse the file for by now: its file, its message.
    fn check_budget(&self) -> Step {
        let b = self.budget;
        let c = &self.counts;
        let over = |count: u64, limit: usize| count > limit as u64;
        unsure_if(
            over(c.events, b.max_events)
                || over(c.nodes, b.max_nodes)
                || over(c.scalar_bytes, b.max_total_scalar_bytes)
                || over(c.aliases, b.max_aliases)
                || over(c.anchors, b.max_anchors)
                || over(c.recorded_events, b.max_recorded_anchor_events)
                || over(c.recorded_bytes, b.max_recorded_anchor_bytes)
                || c.replayed_events > MAX_TOTAL_REPLAYED_EVENTS,
        )
    }

    /// The check serde-saphyr makes when the stream ends: many aliases for few anchors.
    fn check_alias_ratio(&self) -> Step {
        let b = self.budget;
        let (aliases, anchors) = (self.counts.aliases, self.counts.anchors);
        let lopsided = b.enforce_alias_anchor_ratio
            && aliases >= b.alias_anchor_min_aliases as u64
            && (anchors == 0
                || aliases > (b.alias_anchor_ratio_multiplier as u64).saturating_mul(anchors));
        if lopsided {
            let breach = BudgetBreach::AliasAnchorRatio {
                aliases: usize::try_from(aliases).unwrap_or(usize::MAX),
                anchors: usize::try_from(anchors).unwrap_or(usize::MAX),
            };
            return Err(Stop::Error(breach_error(&breach, self.last)));
        }
        Ok(())
    }

    /// Whether the document is empty or a bare null: `parse_full` reads it as `None`.
    fn root_is_null(&self) -> bool {
        self.tree.len() == 0 || (self.tree.len() == 1 && self.tree.root().is_null())
    }
}

fn unsure_if(condition: bool) -> Step {
    if condition {
        Err(Stop::Unsure)
    } else {
        Ok(())
    }
}

/// Where an event starts (line, column in characters) and how many characters it spans,
/// as serde-saphyr's `location_from_span` reports it.
fn at(span: &Span) -> Pos {
    let number = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let len = span.end.index().saturating_sub(span.start.index());
    Pos {
        line: number(span.start.line()),
        column: number(span.start.col() + 1),
        len: number(len).max(1),
    }
}

/// The byte range of a span, when the parser knows it.
fn span_bytes(span: &Span) -> Option<(usize, usize)> {
    let start = span.start.byte_offset()?;
    let end = span.end.byte_offset()?;
    Some((start, end.checked_sub(start)?))
}

/// A scan error as serde-saphyr reports it (`Error::from_scan_error`): the parser's own
/// sentence at the marker. The kinds serde-saphyr turns into errors of its own are left
/// to it.
fn scan_error(err: &ScanError, text: &str) -> Stop {
    let own_kind = matches!(
        err.kind(),
        ErrorKind::InputIo { .. }
            | ErrorKind::InputDecoding { .. }
            | ErrorKind::InputByteLimitExceeded { .. }
            | ErrorKind::MultipleDocumentsUnsupported
            | ErrorKind::UnknownAnchor
    );
    if own_kind {
        return Stop::Unsure;
    }
    let mark = err.marker();
    let at = Pos {
        line: u32::try_from(mark.line()).unwrap_or(u32::MAX),
        column: u32::try_from(mark.col() + 1).unwrap_or(u32::MAX),
        len: 1,
    };
    Stop::Error(parser_error(&err.info(), at, text))
}
