//! A fast reader for the plain YAML topologies are written in: block mappings and
//! sequences, one-line flow collections, comments, plain scalars that are clearly a
//! name, an address, an integer or a boolean, and quoted scalars with nothing to
//! unescape. It reads a 20 MB file in well under a
//! second, where the full parser takes tens of seconds to build its positioned tree.
//!
//! It never reports an error: whatever it does not recognise (escapes, anchors, tags,
//! block scalars, multi-line scalars, tabs, non-ASCII text, `---`, empty values,
//! anything invalid) makes it give up, and the full parser reads the file instead, so
//! every diagnostic stays the full parser's. The contract: `read(text)` is either `None`
//! or exactly the tree the full parser builds (checked by the tests of `yaml`).

use super::{Node, Pos, Value};

/// The tree of `text`, or `None` when `text` is outside what this reader knows.
pub(super) fn read(text: &str) -> Option<Node> {
    if !text
        .bytes()
        .all(|b| b == b'\n' || (b' '..=b'~').contains(&b))
    {
        return None;
    }
    let mut reader = Reader {
        text: text.as_bytes(),
        at: 0,
        line: 1,
        line_start: 0,
        nodes: 0,
        depth: 0,
    };
    let indent = reader.next_content()?;
    let root = reader.block(indent)?;
    match reader.next_content() {
        None => Some(root),
        Some(_) => None,
    }
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
    /// The next byte to read.
    at: usize,
    /// The 1-based line `at` is on.
    line: u32,
    /// Where that line starts.
    line_start: usize,
    nodes: u64,
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

    fn counted(&mut self, node: Node) -> Option<Node> {
        self.nodes += 1;
        (self.nodes <= MAX_NODES).then_some(node)
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
    fn block(&mut self, indent: usize) -> Option<Node> {
        if self.at_dash() {
            self.block_seq(indent, false)
        } else {
            self.block_map(indent)
        }
    }

    /// A block sequence; `indentless` when it sits at its key's own indentation, where
    /// the full parser places it at its first entry's value, not at the `-`.
    fn block_seq(&mut self, indent: usize, indentless: bool) -> Option<Node> {
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
        let mut items = Vec::new();
        loop {
            self.at += 1; // the `-`
            items.push(self.seq_entry(indent)?);
            match self.next_content() {
                Some(i) if i == indent && self.at_dash() => {}
                Some(i) if i > indent => return None,
                _ => break,
            }
        }
        self.depth -= 1;
        self.counted(Node {
            at,
            value: Value::Seq(items),
        })
    }

    /// The value after a `-` of a sequence at `indent`.
    fn seq_entry(&mut self, indent: usize) -> Option<Node> {
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

    fn block_map(&mut self, indent: usize) -> Option<Node> {
        self.enter()?;
        let at = self.pos(1)?;
        let mut entries = Vec::new();
        loop {
            let key = self.key()?;
            let value = self.map_value(indent)?;
            entries.push((key, value));
            match self.next_content() {
                Some(i) if i == indent && !self.at_dash() => {}
                Some(i) if i >= indent => return None,
                _ => break,
            }
        }
        self.depth -= 1;
        self.counted(Node {
            at,
            value: Value::Map(entries),
        })
    }

    /// A plain key and its `:`; the text after it starts with a space or a line end.
    fn key(&mut self) -> Option<Node> {
        let key = self.scalar()?;
        if !matches!(key.value, Value::Str(_)) || key.at.len as usize > MAX_KEY {
            return None;
        }
        if self.peek() != Some(b':') || !matches!(self.peek_at(1), None | Some(b' ' | b'\n')) {
            return None;
        }
        self.at += 1;
        Some(key)
    }

    /// The value of a key of a mapping at `indent`: on the same line, or a collection
    /// on the lines below (a sequence may sit at the key's own indentation).
    fn map_value(&mut self, indent: usize) -> Option<Node> {
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
    fn inline_value(&mut self) -> Option<Node> {
        let node = match self.peek()? {
            b'[' | b'{' => self.flow()?,
            _ => self.scalar()?,
        };
        self.end_of_line()?;
        Some(node)
    }

    /// A plain scalar this reader can type, or a quoted one without escapes; `at` is
    /// left just after it.
    fn scalar(&mut self) -> Option<Node> {
        if matches!(self.peek(), Some(b'"' | b'\'')) {
            return self.quoted();
        }
        let len = plain_len(&self.text[self.at..]);
        let token = std::str::from_utf8(&self.text[self.at..self.at + len]).ok()?;
        let value = typed(token)?;
        let at = self.pos(len)?;
        self.at += len;
        self.counted(Node { at, value })
    }

    /// A single- or double-quoted scalar on one line with nothing to unescape: always
    /// a string, whatever it looks like.
    fn quoted(&mut self) -> Option<Node> {
        let len = quoted_len(&self.text[self.at..])?;
        let content = &self.text[self.at + 1..self.at + len - 1];
        let value = Value::Str(std::str::from_utf8(content).ok()?.to_string());
        let at = self.pos(len)?;
        self.at += len;
        self.counted(Node { at, value })
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    /// A flow collection on one line, nested or not; `at` is on its `[` or `{`.
    fn flow(&mut self) -> Option<Node> {
        self.enter()?;
        let at = self.pos(1)?;
        let open = self.peek()?;
        self.at += 1;
        self.skip_spaces();
        let close = if open == b'[' { b']' } else { b'}' };
        let value = if open == b'[' {
            Value::Seq(self.flow_items(close, |r| r.flow_item())?)
        } else {
            Value::Map(self.flow_items(close, |r| r.flow_entry())?)
        };
        self.depth -= 1;
        self.counted(Node { at, value })
    }

    /// Items separated by `, ` up to `close` (no trailing comma, no line break).
    fn flow_items<T>(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        let mut items = Vec::new();
        if self.peek() == Some(close) {
            self.at += 1;
            return Some(items);
        }
        loop {
            items.push(item(self)?);
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
                    return Some(items);
                }
                _ => return None,
            }
        }
    }

    fn flow_item(&mut self) -> Option<Node> {
        match self.peek()? {
            b'[' | b'{' => self.flow(),
            _ => {
                let node = self.scalar()?;
                // `[a: 1]` is a mapping inside the list: not plain enough here.
                (self.peek() != Some(b':')).then_some(node)
            }
        }
    }

    fn flow_entry(&mut self) -> Option<(Node, Node)> {
        let key = self.scalar()?;
        if !matches!(key.value, Value::Str(_)) || key.at.len as usize > MAX_KEY {
            return None;
        }
        if self.peek() != Some(b':') || self.peek_at(1) != Some(b' ') {
            return None;
        }
        self.at += 1;
        self.skip_spaces();
        Some((key, self.flow_item()?))
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
fn typed(token: &str) -> Option<Value> {
    let bytes = token.as_bytes();
    let first = *bytes.first()?;
    if first.is_ascii_alphabetic() {
        return match token {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ if special_word(token) => None,
            _ => Some(Value::Str(token.to_string())),
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
        return token.parse::<i64>().ok().map(|i| Value::Int(i.into()));
    }
    address(token).then(|| Value::Str(token.to_string()))
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
