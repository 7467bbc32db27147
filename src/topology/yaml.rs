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
    let options = serde_saphyr::options! {
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        budget: Some(budget),
    };
    match serde_saphyr::from_str_with_options::<Option<Spanned<Raw>>>(text, options) {
        Ok(Some(root)) => Ok(node(root)),
        Ok(None) => Ok(Node {
            at: Pos {
                line: 1,
                column: 1,
                len: 1,
            },
            value: Value::Null,
        }),
        Err(err) => {
            let at = err.location().map_or(Pos::default(), |l| Pos {
                line: u32::try_from(l.line()).unwrap_or(u32::MAX),
                column: u32::try_from(l.column()).unwrap_or(u32::MAX),
                len: 1,
            });
            let full = err.without_snippet().to_string();
            let message = full.lines().next().unwrap_or("invalid YAML").to_string();
            Err(SyntaxError { message, at })
        }
    }
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

fn node(raw: Spanned<Raw>) -> Node {
    let loc = raw.referenced;
    let value = match raw.value {
        Raw::Null => Value::Null,
        Raw::Bool(b) => Value::Bool(b),
        Raw::Int(i) => Value::Int(i),
        Raw::Float(f) => Value::Float(f),
        Raw::Str(s) => Value::Str(s),
        Raw::Seq(items) => Value::Seq(items.into_iter().map(node).collect()),
        Raw::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (node(k), node(v)))
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
