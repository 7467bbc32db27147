//! A fast reader for the plain YAML topologies are written in: block mappings and
//! sequences, one-line flow collections, comments, plain scalars that are clearly a
//! name, an address, an integer or a boolean, and quoted scalars with nothing to
//! unescape. It reads a 20 MB file in well under a
//! second, where the full parser takes tens of seconds to build its positioned tree.
//!
//! It reports one error itself: a tab used as indentation at the start of a line after
//! text it read (see [`indentation_tab`]), placed where the full parser's diagnostic
//! places it. Whatever else it does not recognise (escapes, anchors, tags, block scalars,
//! multi-line scalars, other tabs, non-ASCII text, `---`, empty values, anything invalid)
//! makes it give up, and the full parser reads the file instead, so every other
//! diagnostic stays the full parser's. The contract: `read(text)` is `Unknown`, or exactly
//! the tree the full parser builds, or the position of the tab the full parser's
//! diagnostic points at (checked by the tests of `yaml`).

use super::tree::{Collection, Scalar, Tree};
use super::Pos;

/// What the fast reader made of a text.
pub(super) enum Read<'s> {
    /// The tree: exactly the full parser's.
    Tree(Tree<'s>),
    /// A tab used as indentation, here: the full parser refuses the file for it.
    Tab(Pos),
    /// Outside what this reader knows: the full parser must read the file.
    Unknown,
}

/// What `text` reads as.
pub(super) fn read(text: &str) -> Read<'_> {
    let odd = text
        .bytes()
        .position(|b| !(b == b'\n' || (b' '..=b'~').contains(&b)));
    match odd {
        None => tree(text).map_or(Read::Unknown, Read::Tree),
        Some(at) => indentation_tab(text, at).map_or(Read::Unknown, Read::Tab),
    }
}

/// The tree of `text` (printable ASCII and line breaks), or `None` when it is outside
/// what this reader knows.
fn tree(text: &str) -> Option<Tree<'_>> {
    let mut reader = Reader {
        text: text.as_bytes(),
        at: 0,
        line: 1,
        line_start: 0,
        // Every value takes at least two bytes of text but the last (a one-byte scalar
        // and what ends it), so this is never outgrown: the slots are allocated once, and
        // the unused part of the reservation is never touched, so it costs no memory.
        tree: Tree::with_capacity(text, text.len() / 2 + 2),
        depth: 0,
    };
    let indent = reader.next_content()?;
    reader.block(indent)?;
    match reader.next_content() {
        None => Some(reader.tree),
        Some(_) => None,
    }
}

/// Where the full parser's tab diagnostic points, when the first byte of `text` that
/// this reader does not take (at `odd`) is a tab starting a line that has content after
/// it, and everything before that line is a document this reader reads, ending in a
/// plain scalar. The full parser builds that same document up to the line, then meets a
/// tab where block indentation must be spaces; its diagnostic is the tab message at the
/// first tab from there, and there is none before this one. So a 20 MB file with a
/// stray tab on its last line is refused in the time it takes to read, not the seconds
/// the full parser takes. `None` for any other tab or byte: the full parser judges
/// those (the tests of `yaml` compare both readers on tab cases).
fn indentation_tab(text: &str, odd: usize) -> Option<Pos> {
    let bytes = text.as_bytes();
    let line_start = bytes[..odd]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    if bytes[odd] != b'\t' || odd != line_start {
        return None;
    }
    let content = bytes[odd..].iter().find(|b| !matches!(b, b'\t' | b' '))?;
    if !(content.is_ascii_alphanumeric() || matches!(content, b'-' | b'"' | b'\'')) {
        return None;
    }
    // The full parser gives the tab message only while it may still be inside a plain
    // scalar (one that could go on to this line): after a flow collection or a quoted
    // scalar it reports the tab otherwise. So the last line with content must end in
    // a plain scalar, with no comment after it.
    let before = text.get(..line_start)?;
    let last = before
        .lines()
        .rev()
        .find(|l| !l.trim_matches(' ').is_empty())?;
    let end = *last.trim_end_matches(' ').as_bytes().last()?;
    if last.contains('#')
        || !(end.is_ascii_alphanumeric() || matches!(end, b'_' | b'.' | b'/' | b'-'))
    {
        return None;
    }
    tree(before)?;
    let line = bytes[..line_start].iter().filter(|b| **b == b'\n').count() + 1;
    Some(Pos {
        line: u32::try_from(line).ok()?,
        column: 1,
        len: 1,
    })
}

/// Nesting this reader follows; deeper files go to the full parser, which refuses
/// beyond 64 levels (the budget) with its own message.
const MAX_DEPTH: u32 = 32;

/// Values this reader builds; more go to the full parser, which refuses beyond
/// 20,000,000 (its budget in `yaml::parse_full`).
const MAX_NODES: u64 = 19_000_000;

/// The longest key this reader takes; the full parser refuses a key over 1024
/// characters (its simple-key lookahead).
const MAX_KEY: usize = 512;

/// `None` everywhere means "not plain YAML": the caller falls back to the full parser.
struct Reader<'a> {
    text: &'a [u8],
    tree: Tree<'a>,
    /// The next byte to read.
    at: usize,
    /// The 1-based line `at` is on.
    line: u32,
    /// Where that line starts.
    line_start: usize,
    depth: u32,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.text.get(self.at + ahead).copied()
    }

    /// The position of the byte at `at` (the text is ASCII: a byte is a column).
    fn pos(&self, len: usize) -> Option<Pos> {
        Some(Pos {
            line: self.line,
            column: u32::try_from(self.at - self.line_start + 1).ok()?,
            len: u32::try_from(len).ok()?,
        })
    }

    fn counted(&self) -> Option<()> {
        (self.tree.len() as u64 <= MAX_NODES).then_some(())
    }

    fn newline(&mut self) {
        self.at += 1;
        self.line += 1;
        self.line_start = self.at;
    }

    /// From the start of a line, skips blank and comment-only lines; returns the
    /// indentation of the next line with content (leaving `at` on that content), or
    /// `None` at the end of the text.
    fn next_content(&mut self) -> Option<usize> {
        loop {
            while self.peek() == Some(b' ') {
                self.at += 1;
            }
            match self.peek() {
                None => return None,
                Some(b'\n') => self.newline(),
                Some(b'#') => self.skip_comment(),
                Some(_) => return Some(self.at - self.line_start),
            }
        }
    }

    fn skip_comment(&mut self) {
        while !matches!(self.peek(), None | Some(b'\n')) {
            self.at += 1;
        }
    }

    /// After a value: spaces, maybe a comment, then the end of the line (or text).
    fn end_of_line(&mut self) -> Option<()> {
        self.skip_spaces();
        // A `#` starts a comment only after a space.
        if self.peek() == Some(b'#') && self.at > 0 && self.text[self.at - 1] == b' ' {
            self.skip_comment();
        }
        match self.peek() {
            None => Some(()),
            Some(b'\n') => {
                self.newline();
                Some(())
            }
            Some(_) => None,
        }
    }

    /// `-` followed by a space or the end of the line: a block sequence entry.
    fn at_dash(&self) -> bool {
        self.peek() == Some(b'-') && matches!(self.peek_at(1), None | Some(b' ' | b'\n'))
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// A block collection whose first content is at `at`, in column `indent` + 1.
    fn block(&mut self, indent: usize) -> Option<()> {
        if self.at_dash() {
            self.block_seq(indent, false)
        } else {
            self.block_map(indent)
        }
    }

    /// A block sequence; `indentless` when it sits at its key's own indentation, where
    /// the full parser places it at its first entry's value, not at the `-`.
    fn block_seq(&mut self, indent: usize, indentless: bool) -> Option<()> {
        self.enter()?;
        let mut at = self.pos(1)?;
        if indentless {
            let dash = self.at;
            self.at += 1;
            self.skip_spaces();
            if matches!(self.peek(), None | Some(b'\n' | b'#')) {
                return None;
            }
            at = self.pos(1)?;
            self.at = dash;
        }
        let opened = self.tree.open(at, Collection::Seq);
        loop {
            self.at += 1; // the `-`
            self.seq_entry(indent)?;
            match self.next_content() {
                Some(i) if i == indent && self.at_dash() => {}
                Some(i) if i > indent => return None,
                _ => break,
            }
        }
        self.depth -= 1;
        self.tree.close(opened)?;
        self.counted()
    }

    /// The value after a `-` of a sequence at `indent`.
    fn seq_entry(&mut self, indent: usize) -> Option<()> {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
        match self.peek() {
            None | Some(b'\n' | b'#') => {
                self.end_of_line()?;
                match self.next_content() {
                    Some(i) if i > indent => self.block(i),
                    _ => None, // an empty entry
                }
            }
            Some(b'-') if self.at_dash() => None, // `- - a`
            Some(b'[' | b'{') => self.inline_value(),
            Some(_) if self.key_ahead() => {
                let column = self.at - self.line_start;
                self.block_map(column)
            }
            Some(_) => self.inline_value(),
        }
    }

    /// Whether a key (plain or quoted) and `: ` start at `at`.
    fn key_ahead(&self) -> bool {
        let rest = &self.text[self.at..];
        let len = quoted_len(rest).unwrap_or_else(|| plain_len(rest));
        len > 0
            && self.peek_at(len) == Some(b':')
            && matches!(self.peek_at(len + 1), None | Some(b' ' | b'\n'))
    }

    fn block_map(&mut self, indent: usize) -> Option<()> {
        self.enter()?;
        let at = self.pos(1)?;
        let opened = self.tree.open(at, Collection::Map);
        loop {
            self.key()?;
            self.map_value(indent)?;
            match self.next_content() {
                Some(i) if i == indent && !self.at_dash() => {}
                Some(i) if i >= indent => return None,
                _ => break,
            }
        }
        self.depth -= 1;
        self.tree.close(opened)?;
        self.counted()
    }

    /// A plain key and its `:`; the text after it starts with a space or a line end.
    fn key(&mut self) -> Option<()> {
        self.scalar(true)?;
        if self.peek() != Some(b':') || !matches!(self.peek_at(1), None | Some(b' ' | b'\n')) {
            return None;
        }
        self.at += 1;
        Some(())
    }

    /// The value of a key of a mapping at `indent`: on the same line, or a collection
    /// on the lines below (a sequence may sit at the key's own indentation).
    fn map_value(&mut self, indent: usize) -> Option<()> {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
        if !matches!(self.peek(), None | Some(b'\n' | b'#')) {
            return self.inline_value();
        }
        self.end_of_line()?;
        match self.next_content() {
            Some(i) if i > indent => self.block(i),
            Some(i) if i == indent && self.at_dash() => self.block_seq(i, true),
            _ => None, // an empty value
        }
    }

    /// A scalar or flow collection that ends its line.
    fn inline_value(&mut self) -> Option<()> {
        match self.peek()? {
            b'[' | b'{' => self.flow()?,
            _ => self.scalar(false)?,
        };
        self.end_of_line()
    }

    /// A plain scalar this reader can type, or a quoted one without escapes; `at` is
    /// left just after it. A `key` must be a string of at most `MAX_KEY` characters.
    fn scalar(&mut self, key: bool) -> Option<()> {
        let rest = &self.text[self.at..];
        let (len, plain, quoted) = match quoted_len(rest) {
            Some(len) => (len, Plain::Text, true),
            None => {
                let len = plain_len(rest);
                (len, typed(std::str::from_utf8(&rest[..len]).ok()?)?, false)
            }
        };
        if key && (plain != Plain::Text || len > MAX_KEY) {
            return None;
        }
        let at = self.pos(len)?;
        match plain {
            // Quoted: the text between the quotes.
            Plain::Text if quoted => self.tree.source_str(at, self.at + 1, len - 2)?,
            Plain::Text => self.tree.source_str(at, self.at, len)?,
            Plain::Typed(scalar) => self.tree.scalar(at, scalar)?,
        }
        self.at += len;
        self.counted()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    /// A flow collection on one line, nested or not; `at` is on its `[` or `{`.
    fn flow(&mut self) -> Option<()> {
        self.enter()?;
        let at = self.pos(1)?;
        let open = self.peek()?;
        self.at += 1;
        self.skip_spaces();
        if open == b'[' {
            let opened = self.tree.open(at, Collection::Seq);
            self.flow_items(b']', |r| r.flow_item())?;
            self.tree.close(opened)?;
        } else {
            let opened = self.tree.open(at, Collection::Map);
            self.flow_items(b'}', |r| r.flow_entry())?;
            self.tree.close(opened)?;
        }
        self.depth -= 1;
        self.counted()
    }

    /// Items separated by `, ` up to `close` (no trailing comma, no line break).
    fn flow_items(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        if self.peek() == Some(close) {
            self.at += 1;
            return Some(());
        }
        loop {
            item(self)?;
            self.skip_spaces();
            match self.peek()? {
                b',' => {
                    self.at += 1;
                    self.skip_spaces();
                    if self.peek() == Some(close) {
                        return None;
                    }
                }
                b if b == close => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn flow_item(&mut self) -> Option<()> {
        match self.peek()? {
            b'[' | b'{' => self.flow(),
            _ => {
                self.scalar(false)?;
                // `[a: 1]` is a mapping inside the list: not plain enough here.
                (self.peek() != Some(b':')).then_some(())
            }
        }
    }

    fn flow_entry(&mut self) -> Option<()> {
        self.scalar(true)?;
        if self.peek() != Some(b':') || self.peek_at(1) != Some(b' ') {
            return None;
        }
        self.at += 1;
        self.skip_spaces();
        self.flow_item()
    }
}

/// The length of the plain-scalar token at the start of `rest`: letters, digits and
/// `_ . / -`, which mean the same inside and outside flow collections.
fn plain_len(rest: &[u8]) -> usize {
    rest.iter()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/' | b'-')))
        .unwrap_or(rest.len())
}

/// The length, quotes included, of the quoted scalar at the start of `rest`, when it
/// closes on its line and holds nothing the full parser would unescape or fold (`\\`
/// in double quotes, `''` in single quotes, a line break).
fn quoted_len(rest: &[u8]) -> Option<usize> {
    let quote = *rest.first().filter(|q| matches!(q, b'"' | b'\''))?;
    let close = 1 + rest[1..]
        .iter()
        .position(|b| matches!(b, b'"' | b'\'' | b'\\' | b'\n'))?;
    if rest[close] != quote {
        // A line break, a backslash, or the other quote: the other quote is plain
        // text, but rather than scan on, leave such scalars to the full parser.
        return None;
    }
    // `''` inside single quotes is an escaped quote.
    if quote == b'\'' && rest.get(close + 1) == Some(&b'\'') {
        return None;
    }
    Some(close + 1)
}

/// The value of a plain scalar, typed as the full parser types it, or `None` when the
/// token is one whose type depends on rules this reader does not repeat (floats, other
/// radixes, leading zeros, YAML 1.1 booleans, special floats, dates...).
fn typed(token: &str) -> Option<Plain> {
    let bytes = token.as_bytes();
    let first = *bytes.first()?;
    if first.is_ascii_alphabetic() {
        return match token {
            "true" => Some(Plain::Typed(Scalar::Bool(true))),
            "false" => Some(Plain::Typed(Scalar::Bool(false))),
            _ if special_word(token) => None,
            _ => Some(Plain::Text),
        };
    }
    let digits = token.strip_prefix('-').unwrap_or(token);
    let decimal = digits.bytes().all(|b| b.is_ascii_digit());
    if decimal && !digits.is_empty() && digits.len() <= 18 {
        // `0`, `12`, `-3`: not `007` or `-0`, which the full parser reads its own ways.
        let canonical = token == "0" || !digits.starts_with('0');
        if !canonical {
            return None;
        }
        return token
            .parse::<i64>()
            .ok()
            .map(|i| Plain::Typed(Scalar::Int(i.into())));
    }
    address(token).then_some(Plain::Text)
}

/// What a scalar's text reads as: a string (its text) or a typed value.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Plain {
    Text,
    Typed(Scalar),
}

/// Words another YAML reading could take for a boolean, null or number.
fn special_word(token: &str) -> bool {
    const WORDS: [&str; 12] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "inf", "infinity", "nan",
    ];
    WORDS.iter().any(|w| token.eq_ignore_ascii_case(w))
}

/// A dotted address or prefix (`198.18.0.1`, `10.0.0.0/8`): digits with at least two
/// dots, which no number syntax accepts, and maybe `/` and digits.
fn address(token: &str) -> bool {
    let (address, prefix) = token.split_once('/').unwrap_or((token, "1"));
    let dots = address.bytes().filter(|b| *b == b'.').count();
    dots >= 2
        && address.starts_with(|c: char| c.is_ascii_digit())
        && address.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !address.contains("..")
        && !address.ends_with('.')
        && !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_digit())
}
