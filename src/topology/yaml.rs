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

mod plain;

/// Parses `text` into a tree of positioned nodes.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    // Most topologies are plain YAML, which `plain` reads in a fraction of the time;
    // anything else, and every error, is the full parser's.
    match plain::read(text) {
        Some(root) => Ok(root),
        None => parse_full(text),
    }
}

/// Parses `text` with serde-saphyr: all of YAML, and every syntax error.
fn parse_full(text: &str) -> Result<Node, SyntaxError> {
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

    /// The fast reader's contract: no tree, or exactly the full parser's tree.
    fn same_as_full(text: &str) -> bool {
        match plain::read(text) {
            Some(fast) => {
                let full = parse_full(text);
                if full.as_ref() != Ok(&fast) {
                    let (fast, full) = (format!("{fast:#?}"), format!("{full:#?}"));
                    let diff = similar::TextDiff::from_lines(&full, &fast);
                    let changes = diff.unified_diff().context_radius(8).to_string();
                    panic!("the readers differ on:\n{text}\n--- full, +++ fast:\n{changes}");
                }
                true
            }
            None => false,
        }
    }

    fn repo_yaml() -> Vec<String> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts = Vec::new();
        for dir in ["topologies", "tests/invalid"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "yaml") {
                    texts.push(std::fs::read_to_string(path).unwrap());
                }
            }
        }
        assert!(texts.len() >= 8, "{texts:?}");
        texts
    }

    #[test]
    fn the_fast_reader_reads_the_example_topologies_as_the_full_parser_does() {
        for text in repo_yaml() {
            assert!(same_as_full(&text), "not read by the fast reader:\n{text}");
        }
    }

    #[test]
    fn the_fast_reader_agrees_or_gives_up_on_each_line_changed() {
        // Every file with one line dropped, indented, dedented or cut: valid and
        // invalid variations of real files, near where the rules are.
        for text in repo_yaml() {
            let lines: Vec<&str> = text.lines().collect();
            for i in 0..lines.len() {
                let mut variants = Vec::new();
                let mut with = |line: String| {
                    let mut copy: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                    copy[i] = line;
                    variants.push(copy.join("\n"));
                };
                with(String::new());
                with(format!(" {}", lines[i]));
                with(format!("  {}", lines[i]));
                with(lines[i].strip_prefix("  ").unwrap_or(lines[i]).to_string());
                with(lines[i][..lines[i].len() / 2].to_string());
                with(format!("{} #", lines[i]));
                with(format!("{}:", lines[i]));
                with(format!("{} x", lines[i]));
                for variant in variants {
                    same_as_full(&variant);
                }
            }
        }
    }

    #[test]
    fn the_fast_reader_agrees_on_the_shapes_it_reads() {
        let cases = [
            "a: 1\n",
            "a: 1",
            "a:\n- 1\n- 2\nb: x\n",
            "a:\n  - 1\n  - -2\n",
            "- a: 1\n  b: 2\n- c: [1, 2]\n",
            "- a:\n  - 1\n  b: 2\n",
            "-\n  - a\n  - b\n",
            "  a: 1\n  b: 2\n",
            "a: {b: c, d: [e, {f: 1}]}\n",
            "a: [ ]\nb: {}\nc: [1,2 ,3]\n",
            "a: true\nb: false\nc: 0\nd: 123456789012345678\n",
            "a: 198.18.0.1\nb: 10.0.0.0/8\nc: host-a_b.c\n",
            "# c\n\na: 1 # c\n  # c\nb: 2\n# end",
            "a:\n  b:\n    c: 1\n  d: 2\n",
            "a: 1\na: 2\n",
            "hosts: [1,1,1]\n",
            "\"a\": \"1\"\n'b': 'true'\nc: \"\"\nd: ''\n",
            "- \"name\": 'x: #y'\n  \"k\": [\"a\", 'b', {\"c\": 'd'}]\n",
            "a: \"x\" # c\nb: 'y' #c\n",
        ];
        for text in cases {
            assert!(same_as_full(text), "not read by the fast reader:\n{text}");
        }
    }

    #[test]
    fn the_fast_reader_gives_up_on_what_it_does_not_know() {
        let cases = [
            "",
            "# only\n",
            "a:\n",
            "a: \"q\\n\"\n",
            "a: 'it''s'\n",
            "a: \"x\n  y\"\n",
            "a: \"x\"y\n",
            "\"a\":1\n",
            "a: \"it's\"\n",
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a: |\n  x\n",
            "a: b\n  c\n",
            "a: 1\n---\nb: 2\n",
            "a:\tb\n",
            "a: 1.5\n",
            "a: 0x10\n",
            "a: 007\n",
            "a: yes\n",
            "a: Null\n",
            "a: null\n",
            "a: 1e3\n",
            "a: [1,\n 2]\n",
            "a: [1,]\n",
            "a: x y\n",
            "a: caf\u{e9}\n",
            "a:b\n",
            "a: b: c\n",
            "a: 1\r\n",
            "- - a\n",
            "[a, b]\n",
            "x\n",
            "a: 1\n b: 2\n",
            "a:\n  - 1\n - 2\n",
            "a: [b: 1]\n",
            "a: 1234567890123456789\n",
            "a: -0\n",
            "a: 2001-12-14\n",
        ];
        for text in cases {
            assert!(!same_as_full(text), "read by the fast reader:\n{text}");
        }
    }

    /// A fixed-seed xorshift: the same texts every run.
    struct Dice(u64);

    impl Dice {
        fn roll(&mut self, sides: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % sides as u64) as usize
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.roll(from.len())]
        }
    }

    const SCALARS: [&str; 16] = [
        "a",
        "b1",
        "host-a",
        "\"q\"",
        "'s: #t'",
        "1",
        "-3",
        "0",
        "true",
        "10.0.0.1",
        "10.0.0.0/8",
        "x_y.z",
        "1.5",
        "yes",
        "\"\"",
        "'it''s'",
    ];
    const GAPS: [&str; 6] = ["", "", "", " ", " #c", "\n#c\n"];

    fn flow(dice: &mut Dice, depth: u32, out: &mut String) {
        let n = dice.roll(4);
        let map = dice.roll(2) == 0;
        out.push(if map { '{' } else { '[' });
        for i in 0..n {
            if i > 0 {
                out.push_str(dice.pick(&[", ", ",", " , "]));
            }
            if map {
                out.push_str(dice.pick(&SCALARS[..5]));
                out.push_str(": ");
            }
            if depth < 3 && dice.roll(4) == 0 {
                flow(dice, depth + 1, out);
            } else {
                out.push_str(dice.pick(&SCALARS));
            }
        }
        out.push(if map { '}' } else { ']' });
    }

    /// A block collection at `indent`, starting where `out` ends (a fresh line or
    /// after `- `).
    fn block(dice: &mut Dice, indent: usize, depth: u32, out: &mut String) {
        let seq = dice.roll(2) == 0;
        for i in 0..1 + dice.roll(3) {
            if i > 0 {
                out.push_str(&" ".repeat(indent));
            }
            if seq {
                out.push_str("- ");
            } else {
                out.push_str(dice.pick(&SCALARS[..5]));
                out.push(':');
            }
            match dice.roll(if depth < 4 { 4 } else { 2 }) {
                0 => {
                    out.push(' ');
                    out.push_str(dice.pick(&SCALARS));
                    out.push_str(dice.pick(&GAPS));
                    out.push('\n');
                }
                1 => {
                    out.push(' ');
                    flow(dice, 0, out);
                    out.push('\n');
                }
                2 if seq => block(dice, indent + 2, depth + 1, out),
                _ => {
                    out.push('\n');
                    let deeper = indent + dice.pick(&["", " ", "  ", "  ", "    "]).len();
                    let deeper = if !seq && deeper == indent && dice.roll(2) == 0 {
                        deeper
                    } else {
                        deeper + 1
                    };
                    out.push_str(&" ".repeat(deeper));
                    block(dice, deeper, depth + 1, out);
                }
            }
        }
    }

    #[test]
    fn the_fast_reader_agrees_or_gives_up_on_generated_yaml() {
        let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
        let mut read = 0;
        for case in 0..6_000 {
            let mut text = String::new();
            block(&mut dice, 0, 0, &mut text);
            // Half of them with one byte changed, which is mostly invalid.
            if case % 2 == 1 && !text.is_empty() {
                let at = dice.roll(text.len());
                let piece = dice.pick(&[" ", "\n", "-", ":", "", "#", ",", "[", "a"]);
                text.replace_range(at..at + 1, piece);
            }
            read += usize::from(same_as_full(&text));
        }
        // Enough of them are read by the fast reader for the comparison to mean something.
        assert!(read > 1_000, "{read}");
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.at.line >= 1, "{err:?}");
    }
}
