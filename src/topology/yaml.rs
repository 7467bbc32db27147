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

/// A syntax error from the parser: its message and where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// The parser's message (first line only, without its own snippet).
    pub message: String,
    /// Where, when the parser knows.
    pub at: Pos,
}

mod events;
mod plain;
mod scalar;
mod tree;

use tree::{Collection, Scalar};
pub use tree::{Entries, Items, Node, Tree, Value};

/// Parses `text` into a tree of positioned nodes.
pub fn parse(text: &str) -> Result<Tree<'_>, SyntaxError> {
    // Most topologies are plain YAML, which `plain` reads in a fraction of the time;
    // anything else, and every error, is the full parser's.
    match plain::read(text) {
        plain::Read::Tree(tree) => Ok(tree),
        plain::Read::Tab(at) => Err(tab_error(at)),
        plain::Read::Unknown => parse_events(text),
    }
}

/// Parses `text` from the parser's event stream in linear time and memory; what that
/// reader leaves alone (merge keys, tags, rare errors) serde-saphyr reads.
fn parse_events(text: &str) -> Result<Tree<'_>, SyntaxError> {
    match events::read(text, &budget()) {
        events::Read::Tree(tree) => Ok(tree),
        events::Read::Error(err) => Err(err),
        events::Read::Unsure => parse_full(text),
    }
}

/// The limits both full readers apply.
fn budget() -> Budget {
    let mut budget = Budget::default();
    // A 10,000-host chain is a legitimate file; the default node budget is tighter.
    budget.max_nodes = 20_000_000;
    budget.max_events = 40_000_000;
    // Aliases replay recorded events; a topology that uses them (shared `ranges`, say)
    // replays a few thousand. The default million lets an alias bomb cost seconds
    // before it is refused; a tenth of it is refused ten times sooner.
    budget.max_recorded_anchor_events = 100_000;
    budget
}

/// The diagnostic of a tab where YAML wants indentation spaces, at the tab.
fn tab_error(at: Pos) -> SyntaxError {
    SyntaxError {
        message: "a tab where YAML allows only spaces: YAML indents with spaces, never tabs".into(),
        at,
    }
}

/// Parses `text` with serde-saphyr: all of YAML, and every syntax error. The event
/// reader's oracle in the tests, and its fallback.
fn parse_full(text: &str) -> Result<Tree<'_>, SyntaxError> {
    let options = serde_saphyr::options! {
        duplicate_keys: DuplicateKeyPolicy::PassThrough,
        budget: Some(budget()),
    };
    match serde_saphyr::from_str_with_options::<Option<Spanned<Raw>>>(text, options) {
        Ok(Some(root)) => {
            let mut tree = Tree::with_capacity(text, count(&root));
            add(&mut tree, root, text).ok_or_else(|| SyntaxError {
                message: "the file exceeds a limit of the YAML parser".into(),
                at: Pos::default(),
            })?;
            Ok(tree)
        }
        // No value at all: the root reads as `Null` at 1:1.
        Ok(None) => Ok(Tree::with_capacity(text, 0)),
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
        serde_saphyr::Error::Budget { breach, .. } => return breach_error(breach, at),
        serde_saphyr::Error::MultipleDocuments { .. } => {
            let at = second_document(text, at);
            return SyntaxError {
                message: "the file holds more than one YAML document (`---`); one document \
                          expected"
                    .into(),
                at,
            };
        }
        other => other.to_string(),
    };
    parser_error(&message, at, text)
}

/// A parser's error message at `at` as the diagnostic says it: its first sentence, or
/// for a tab where indentation belongs, the tab diagnostic at the tab itself.
fn parser_error(full: &str, at: Pos, text: &str) -> SyntaxError {
    let message = parser_sentence(full);
    if message.contains("found a tab") {
        return tab_error(first_tab_from(text, at));
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

/// A budget breach's diagnostic, at the event that breached it.
fn breach_error(breach: &serde_saphyr::budget::BudgetBreach, at: Pos) -> SyntaxError {
    SyntaxError {
        message: budget_message(breach),
        at,
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

/// Values in `raw`, so the tree is allocated once.
fn count(raw: &Spanned<Raw>) -> usize {
    match &raw.value {
        Raw::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        Raw::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count(k) + count(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

/// Adds `raw` and its subtree to `tree`, in document order.
fn add(tree: &mut Tree, raw: Spanned<Raw>, text: &str) -> Option<()> {
    let loc = raw.referenced;
    let mut at = Pos {
        line: u32::try_from(loc.line()).unwrap_or(u32::MAX),
        column: u32::try_from(loc.column()).unwrap_or(u32::MAX),
        len: u32::try_from(loc.span().len()).unwrap_or(1).max(1),
    };
    let scalar = match raw.value {
        Raw::Null => Scalar::Null,
        Raw::Bool(b) => Scalar::Bool(b),
        Raw::Int(i) => Scalar::Int(i),
        Raw::Float(f) => literal_bytes(loc.span())
            .and_then(|(start, len)| wide_integer(start, len, text))
            .unwrap_or(Scalar::Float(f)),
        Raw::Str(s) => return tree.owned_str(at, s),
        Raw::Seq(items) => {
            at.len = 1;
            let opened = tree.open(at, Collection::Seq);
            for item in items {
                add(tree, item, text)?;
            }
            return tree.close(opened);
        }
        Raw::Map(entries) => {
            at.len = 1;
            let opened = tree.open(at, Collection::Map);
            for (key, value) in entries {
                add(tree, key, text)?;
                add(tree, value, text)?;
            }
            return tree.close(opened);
        }
    };
    tree.scalar(at, scalar)
}

/// The byte range of a value's text, when serde-saphyr knows it.
fn literal_bytes(span: serde_saphyr::Span) -> Option<(usize, usize)> {
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    Some((start, len))
}

/// An integer literal the parser widened to a float because it overflows 64 bits
/// (`18446744073709551616`): kept an integer, so the field says it is too large instead
/// of "found a number".
fn wide_integer(start: usize, len: usize, text: &str) -> Option<Scalar> {
    let literal = text.get(start..start.checked_add(len)?)?;
    let digits = literal.strip_prefix(['+', '-']).unwrap_or(literal);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match literal.parse::<i128>() {
        Ok(i) => Scalar::Int(i),
        Err(_) => Scalar::HugeInt,
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
mod differential;

#[cfg(test)]
mod tests {
    use super::*;

    fn map<'t>(node: &Node<'t>) -> Vec<(Node<'t>, Node<'t>)> {
        match node.value() {
            Value::Map(entries) => entries.collect(),
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn positions_and_types_are_kept() {
        let text = "version: 1\nhosts:\n  - name: host-a\n    underlay_ip: 198.18.0.1\n";
        let tree = parse(text).unwrap();
        let top = map(&tree.root());
        assert!(matches!(top[0].1.value(), Value::Int(1)));
        assert_eq!((top[0].1.at().line, top[0].1.at().column), (1, 10));
        let Value::Seq(mut hosts) = top[1].1.value() else {
            panic!("hosts not a list")
        };
        let host = map(&hosts.next().unwrap());
        assert!(matches!(host[1].0.value(), Value::Str("underlay_ip")));
        assert_eq!((host[1].0.at().line, host[1].0.at().column), (4, 5));
        let at = host[1].1.at();
        assert_eq!((at.line, at.column, at.len), (4, 18, 10));
        assert!(hosts.next().is_none());
    }

    #[test]
    fn duplicate_keys_are_passed_through() {
        let tree = parse("a: 1\na: 2\n").unwrap();
        assert_eq!(map(&tree.root()).len(), 2);
    }

    #[test]
    fn integers_of_every_width_and_empty_documents_are_kept() {
        let text =
            "a: 2147483647\nb: -2147483649\nc: 99999999999999999999999999999999999999999\nd: 1.5\n";
        let tree = parse_full(text).unwrap();
        let top = map(&tree.root());
        assert!(matches!(top[0].1.value(), Value::Int(2_147_483_647)));
        assert!(matches!(top[1].1.value(), Value::Int(-2_147_483_649)));
        assert!(matches!(top[2].1.value(), Value::HugeInt));
        assert!(matches!(top[3].1.value(), Value::Float(f) if f == 1.5));
        let empty = parse("# nothing\n").unwrap();
        assert!(empty.root().is_null());
        assert_eq!(
            empty.root().at(),
            Pos {
                line: 1,
                column: 1,
                len: 1
            }
        );
    }

    /// What the fast reader made of `text` ("tree", "tab" or "unknown"), or how it
    /// disagrees with the full parser: its tab diagnostic must be the full parser's
    /// exactly (message, line and column).
    fn fast_outcome(text: &str) -> Result<&'static str, String> {
        match plain::read(text) {
            plain::Read::Unknown => Ok("unknown"),
            plain::Read::Tree(_) => Ok(if same_as_full(text) {
                "tree"
            } else {
                "unknown"
            }),
            plain::Read::Tab(at) => {
                let fast = tab_error(at);
                match parse_full(text) {
                    Err(full) if full == fast => Ok("tab"),
                    full => Err(format!("{text:?}: fast {fast:?}, full {full:?}")),
                }
            }
        }
    }

    /// The fast reader's contract: no tree, or exactly the full parser's tree.
    fn same_as_full(text: &str) -> bool {
        match plain::read(text) {
            plain::Read::Tab(_) | plain::Read::Unknown => false,
            plain::Read::Tree(fast) => {
                let full = parse_full(text);
                let same = full.as_ref().is_ok_and(|full| full.root() == fast.root());
                if !same {
                    let fast = format!("{:#?}", fast.root());
                    let full = match &full {
                        Ok(full) => format!("{:#?}", full.root()),
                        Err(err) => format!("{err:#?}"),
                    };
                    let diff = similar::TextDiff::from_lines(&full, &fast);
                    let changes = diff.unified_diff().context_radius(8).to_string();
                    panic!("the readers differ on:\n{text}\n--- full, +++ fast:\n{changes}");
                }
                true
            }
        }
    }

    pub(super) fn repo_yaml() -> Vec<String> {
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
    pub(super) struct Dice(pub(super) u64);

    impl Dice {
        pub(super) fn roll(&mut self, sides: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % sides as u64) as usize
        }
        pub(super) fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
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
    pub(super) fn block(dice: &mut Dice, indent: usize, depth: u32, out: &mut String) {
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

    /// Documents the fast reader reads, each ending at a line break: where a tab line
    /// may follow.
    pub(super) const BEFORE_TAB: [&str; 16] = [
        "k0000000: 1\nk0000001: 1\n",
        "a:\n  b: 1\n",
        "hosts:\n  - name: a\n    ip: 10.0.0.1\n",
        "a:\n- 1\n- 2\n",
        "a: [1, 2]\n",
        "a: b\n",
        "- a\n- b\n",
        "a: 'q'\n",
        "# c\na: 1\n\n",
        "  a: 1\n",
        "a:\n  b:\n    c: x\n",
        "- a: 1\n  b: {c: d}\n",
        "a: 1 # c\n",
        "a: 1\n# c\n",
        "a: \"q\"\n  \n",
        "- a: 1\n  b: c\n\n  \n",
    ];

    #[test]
    fn a_tab_as_indentation_is_diagnosed_by_both_readers_alike() {
        let lines = [
            "\tx: 1",
            "\tx",
            "\t- a",
            "\t  x: 1",
            "\t\tb: 2",
            "\t\"q\": 1",
            "\t'q'",
            "\t# c",
            "\t",
            "\t[1]",
            "\t{a: 1}",
            "\tb: 1",
            "\t  - 1",
            "\t1",
            "\t-",
            "\t- x: 1",
            " \tx: 1",
            "  \tb: 1",
            "\t x",
        ];
        let after = ["", "\n", "\nz: 1\n", "\n\tq: 1\n", "\n  y: 2\n"];
        let mut differ = Vec::new();
        let mut tabs = 0;
        for before in BEFORE_TAB {
            for line in lines {
                for rest in after {
                    match fast_outcome(&format!("{before}{line}{rest}")) {
                        Ok(outcome) => tabs += usize::from(outcome == "tab"),
                        Err(why) => differ.push(why),
                    }
                }
            }
        }
        assert!(differ.is_empty(), "{}", differ.join("\n"));
        // The stray tab of a large file (BENCHMARKS.md: tab-at-end) and its kin are the
        // fast reader's to diagnose, not just handed over.
        assert_eq!(fast_outcome("k0: 1\nk1: 1\n\tx: 1\n"), Ok("tab"));
        assert_eq!(fast_outcome("a:\n  b: 1\n\tc: 2\n"), Ok("tab"));
        assert!(tabs >= 100, "{tabs}");
        let err = parse("k0: 1\nk1: 1\n\tx: 1\n").unwrap_err();
        assert_eq!((err.at.line, err.at.column), (3, 1), "{err:?}");
    }

    #[test]
    fn tabs_inside_values_and_after_keys_are_the_full_parsers() {
        let lines = [
            "a: b\tc",
            "a:\tb",
            "a: 1\t# c",
            "a: [1,\t2]",
            "a: 'x\ty'",
            "a: 1\t",
            "- \ta",
            "a: \"\t\"",
            "a:\t[1]",
            "\"k\":\t1",
            "a: {b:\tc}",
        ];
        let mut differ = Vec::new();
        for before in BEFORE_TAB {
            for line in lines {
                for text in [format!("{before}{line}\n"), format!("{line}\n{before}")] {
                    match fast_outcome(&text) {
                        Ok("tab") => differ.push(format!("{text:?}: claimed by the fast reader")),
                        Ok(_) => {}
                        Err(why) => differ.push(why),
                    }
                }
            }
        }
        assert!(differ.is_empty(), "{}", differ.join("\n"));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.at.line >= 1, "{err:?}");
    }
}
