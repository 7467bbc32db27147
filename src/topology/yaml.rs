//! The one place that knows the YAML library: it turns text into a small tree of
//! [`Node`]s, each carrying the position it came from, so that every later check can
//! point at the file. Unknown fields, wrong types and duplicate keys are judged by the
//! schema walk (`load`), not here, so that all of them are collected instead of stopping
//! at the first. Swapping serde-saphyr for another parser means rewriting only this file.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Budget, DuplicateKeyPolicy, Spanned};
use std::fmt;

/// A position in the source text: 1-based line and column (in characters) and the
/// number of characters to underline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    /// 1-based line; 0 when unknown.
    pub line: u32,
    /// 1-based column in characters; 0 when unknown.
    pub column: u32,
    /// Characters to underline (at least 1 when rendered).
    pub len: u32,
}

/// A YAML value with its position.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Where the value starts.
    pub at: Pos,
    /// The value.
    pub value: Value,
}

/// A YAML value as the parser typed it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A floating point number.
    Float(f64),
    /// An integer literal beyond what any field holds (outside `i128`).
    HugeInt,
    /// Any other scalar.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, entries in file order, duplicates kept (the schema walk reports them).
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// What kind of value this is, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::HugeInt => "an integer too large",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// A syntax error from the parser: its message and where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// The parser's message (first line only, without its own snippet).
    pub message: String,
    /// Where, when the parser knows.
    pub at: Pos,
}

/// Parses `text` into a tree of positioned nodes.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut budget = Budget::default();
    // A 10,000-host chain is a legitimate file; the default node budget is tighter.
    budget.max_nodes = 20_000_000;
    budget.max_events = 40_000_000;
    // Aliases replay recorded events; a topology that uses them (shared `ranges`, say)
    // replays a few thousand. The default million lets an alias bomb cost seconds
    // before it is refused; a tenth of it is refused ten times sooner.
    budget.max_recorded_anchor_events = 100_000;
    let options = serde_saphyr::options! {
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        budget: Some(budget),
    };
    match serde_saphyr::from_str_with_options::<Option<Spanned<Raw>>>(text, options) {
        Ok(Some(root)) => Ok(node(root, text)),
        Ok(None) => Ok(Node {
            at: Pos {
                line: 1,
                column: 1,
                len: 1,
            },
            value: Value::Null,
        }),
        Err(err) => Err(syntax_error(&err, text)),
    }
}

/// The parser's error as one sentence and one position. serde-saphyr wraps errors (in a
/// snippet, in an alias's two locations) and appends `at line …` to its messages; the
/// diagnostic shows the position itself, so it is taken once, from the innermost error.
fn syntax_error(err: &serde_saphyr::Error, text: &str) -> SyntaxError {
    let mut err = err.without_snippet();
    // An error inside an alias's expansion: the place that matters is where the alias
    // was used (that is where the file can be fixed), not where the anchor was defined.
    let mut used_at = None;
    while let serde_saphyr::Error::AliasError {
        error, locations, ..
    } = err
    {
        used_at.get_or_insert(locations.reference_location);
        err = error.without_snippet();
    }
    let at = used_at
        .or_else(|| err.location())
        .map_or(Pos::default(), pos_of);
    let message = match err {
        serde_saphyr::Error::Budget { breach, .. } => budget_message(breach),
        serde_saphyr::Error::MultipleDocuments { .. } => {
            let at = second_document(text, at);
            return SyntaxError {
                message: "the file holds more than one YAML document (`---`); one document \
                          expected"
                    .into(),
                at,
            };
        }
        other => parser_sentence(&other.to_string()),
    };
    if message.contains("found a tab") {
        return SyntaxError {
            message: "a tab where YAML allows only spaces: YAML indents with spaces, never tabs"
                .into(),
            at: first_tab_from(text, at),
        };
    }
    SyntaxError { message, at }
}

fn pos_of(l: serde_saphyr::Location) -> Pos {
    Pos {
        line: u32::try_from(l.line()).unwrap_or(u32::MAX),
        column: u32::try_from(l.column()).unwrap_or(u32::MAX),
        len: 1,
    }
}

/// The first line of the parser's message without the `at line L, column C` it appends
/// (the diagnostic prints the position once, in its `-->` line).
fn parser_sentence(full: &str) -> String {
    let first = full.lines().next().unwrap_or("invalid YAML");
    let cut = first.find(" at line ").map_or(first, |i| &first[..i]);
    let cut = cut.trim();
    if cut.is_empty() {
        "invalid YAML".to_string()
    } else {
        cut.to_string()
    }
}

/// A budget breach in words: which limit, and why there is one.
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    match breach {
        B::Aliases { .. }
        | B::AliasAnchorRatio { .. }
        | B::RecordedAnchorEvents { .. }
        | B::RecordedAnchorBytes { .. } => "aliases (`*name`) expand this file beyond what \
            ovsnet reads (an alias bomb: each level multiplies the one below); expand them by hand"
            .into(),
        B::Depth { depth } => format!("values nested more than {depth} levels deep"),
        B::Nodes { nodes } => format!("more than {nodes} YAML values in one file"),
        B::Events { events } => format!("more than {events} YAML events in one file"),
        B::Anchors { anchors } => format!("more than {anchors} anchors (`&name`) in one file"),
        B::Documents { .. } => "more than one YAML document; one document expected".into(),
        B::ScalarBytes { total_scalar_bytes } => {
            format!("more than {total_scalar_bytes} bytes of scalar text in one file")
        }
        _ => "the file exceeds a limit of the YAML parser".into(),
    }
}

/// Where the second document starts: its `---` line when there is one before `at`.
fn second_document(text: &str, at: Pos) -> Pos {
    let mut seen_content = false;
    for (i, line) in text.lines().enumerate() {
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if at.line > 0 && number > at.line {
            break;
        }
        let marker = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if marker && seen_content {
            return Pos {
                line: number,
                column: 1,
                len: 3,
            };
        }
        let content = line.trim();
        seen_content |= marker || (!content.is_empty() && !content.starts_with('#'));
    }
    at
}

/// The first tab at or after `at`: the scanner reports a tab used as indentation from
/// the end of the token before it, often on the line above.
fn first_tab_from(text: &str, at: Pos) -> Pos {
    let skip = (at.line.max(1) - 1) as usize;
    let mut column_from = at.column.max(1) as usize;
    for (i, line) in text.lines().enumerate().skip(skip) {
        let found = line
            .chars()
            .enumerate()
            .skip(column_from - 1)
            .find(|(_, c)| *c == '\t');
        if let Some((col, _)) = found {
            return Pos {
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                column: u32::try_from(col + 1).unwrap_or(u32::MAX),
                len: 1,
            };
        }
        column_from = 1;
    }
    at
}

/// The tree as deserialized, before positions are converted.
#[derive(Debug)]
enum Raw {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

fn node(raw: Spanned<Raw>, text: &str) -> Node {
    let loc = raw.referenced;
    let value = match raw.value {
        Raw::Null => Value::Null,
        Raw::Bool(b) => Value::Bool(b),
        Raw::Int(i) => Value::Int(i),
        Raw::Float(f) => wide_integer(loc.span(), text).unwrap_or(Value::Float(f)),
        Raw::Str(s) => Value::Str(s),
        Raw::Seq(items) => Value::Seq(items.into_iter().map(|n| node(n, text)).collect()),
        Raw::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (node(k, text), node(v, text)))
                .collect(),
        ),
    };
    let len = match &value {
        Value::Seq(_) | Value::Map(_) => 1,
        _ => u32::try_from(loc.span().len()).unwrap_or(1).max(1),
    };
    Node {
        at: Pos {
            line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
            column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
            len,
        },
        value,
    }
}

/// An integer literal the parser widened to a float because it overflows 64 bits
/// (`18446744073709551616`): kept an integer, so the field says it is too large instead
/// of "found a number".
fn wide_integer(span: serde_saphyr::Span, text: &str) -> Option<Value> {
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    let literal = text.get(start..start.checked_add(len)?)?;
    let digits = literal.strip_prefix(['+', '-']).unwrap_or(literal);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match literal.parse::<i128>() {
        Ok(i) => Value::Int(i),
        Err(_) => Value::HugeInt,
    })
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Raw, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Raw, E> {
        i128::try_from(v)
            .map(Raw::Int)
            .map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Raw>>()? {
            items.push(item);
        }
        Ok(Raw::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Raw>>()? {
            let value = map.next_value::<Spanned<Raw>>()?;
            entries.push((key, value));
        }
        Ok(Raw::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(node: &Node) -> &[(Node, Node)] {
        match &node.value {
            Value::Map(entries) => entries,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn positions_and_types_are_kept() {
        let text = "version: 1\nhosts:\n  - name: host-a\n    underlay_ip: 198.18.0.1\n";
        let root = parse(text).unwrap();
        let top = map(&root);
        assert_eq!(top[0].1.value, Value::Int(1));
        assert_eq!((top[0].1.at.line, top[0].1.at.column), (1, 10));
        let Value::Seq(hosts) = &top[1].1.value else {
            panic!("hosts not a list")
        };
        let host = map(&hosts[0]);
        assert_eq!(host[1].0.value, Value::Str("underlay_ip".into()));
        assert_eq!((host[1].0.at.line, host[1].0.at.column), (4, 5));
        assert_eq!(
            (host[1].1.at.line, host[1].1.at.column, host[1].1.at.len),
            (4, 18, 10)
        );
    }

    #[test]
    fn duplicate_keys_are_passed_through() {
        let root = parse("a: 1\na: 2\n").unwrap();
        assert_eq!(map(&root).len(), 2);
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.at.line >= 1, "{err:?}");
    }
}
