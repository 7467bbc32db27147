//! The event reader (`events`) against its oracle, serde-saphyr (`parse_full`): on the
//! repository's YAML files, their line-by-line mutations, the plain generator of the
//! `tests` module and a generated corpus of everything plain YAML is not, the event
//! reader gives exactly serde-saphyr's tree (values and positions) or diagnostic
//! (message and position), or leaves the file to serde-saphyr.

use super::tests::{block, repo_yaml, Dice, BEFORE_TAB};
use super::*;

/// What the event reader did with `text`, after checking it against serde-saphyr.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Tree,
    Error,
    Unsure,
}

/// Reads `text` both ways; panics with a diff when they disagree.
fn agree(text: &str) -> Outcome {
    let full = parse_full(text);
    match (events::read(text, &budget()), &full) {
        (events::Read::Unsure, _) => Outcome::Unsure,
        (events::Read::Tree(tree), Ok(oracle)) if tree.root() == oracle.root() => Outcome::Tree,
        (events::Read::Error(err), Err(oracle)) if err == *oracle => Outcome::Error,
        (events::Read::Tree(tree), _) => differ(text, &format!("{:#?}", tree.root()), &full),
        (events::Read::Error(err), _) => differ(text, &format!("{err:#?}"), &full),
    }
}

fn differ(text: &str, events: &str, full: &Result<Tree, SyntaxError>) -> Outcome {
    let full = match full {
        Ok(tree) => format!("{:#?}", tree.root()),
        Err(err) => format!("{err:#?}"),
    };
    let diff = similar::TextDiff::from_lines(&full, events);
    let changes = diff.unified_diff().context_radius(8).to_string();
    panic!("the readers differ on:\n{text:?}\n{text}\n--- serde-saphyr, +++ events:\n{changes}");
}

/// How often each outcome came up, so a test can insist the comparison meant something.
#[derive(Default, Debug)]
struct Tally {
    tree: usize,
    error: usize,
    unsure: usize,
}

impl Tally {
    fn add(&mut self, text: &str) {
        match agree(text) {
            Outcome::Tree => self.tree += 1,
            Outcome::Error => self.error += 1,
            Outcome::Unsure => self.unsure += 1,
        }
    }
}

#[test]
fn the_event_reader_reads_the_repository_files_and_each_line_changed_as_serde_saphyr() {
    let mut tally = Tally::default();
    for text in repo_yaml() {
        assert_eq!(agree(&text), Outcome::Tree, "{text}");
        let lines: Vec<&str> = text.lines().collect();
        for i in 0..lines.len() {
            let line = lines[i];
            let changed = [
                String::new(),
                format!(" {line}"),
                format!("  {line}"),
                line.strip_prefix("  ").unwrap_or(line).to_string(),
                line[..line.len() / 2].to_string(),
                format!("{line} #"),
                format!("{line}:"),
                format!("{line} x"),
                format!("{line} &a"),
                format!("{line} *a"),
                format!("\t{line}"),
                format!("{line} caf\u{e9}"),
                format!("{line} \"q\\t\""),
            ];
            for change in changed {
                let mut copy: Vec<&str> = lines.clone();
                copy[i] = &change;
                tally.add(&copy.join("\n"));
            }
        }
    }
    assert!(tally.tree > 1_000 && tally.error > 300, "{tally:?}");
}

#[test]
fn the_event_reader_reads_generated_plain_yaml_as_serde_saphyr() {
    let mut dice = Dice(0x2545_f491_4f6c_dd1d);
    let mut tally = Tally::default();
    for case in 0..4_000 {
        let mut text = String::new();
        block(&mut dice, 0, 0, &mut text);
        if case % 2 == 1 && !text.is_empty() {
            let at = dice.roll(text.len());
            let piece = dice.pick(&[" ", "\n", "-", ":", "", "#", ",", "[", "a", "\t", "&", "*"]);
            text.replace_range(at..at + 1, piece);
        }
        tally.add(&text);
    }
    for before in BEFORE_TAB {
        for line in ["\tx: 1", "a: b\tc", "a:\tb", "a: [1,\t2]", "- \ta", "\t- a"] {
            tally.add(&format!("# caf\u{e9}\n{before}{line}\n"));
        }
    }
    assert!(tally.tree > 1_500 && tally.error > 500, "{tally:?}");
}

/// Scalars outside the plain subset, and every spelling the resolver decides.
const RICH_SCALARS: [&str; 58] = [
    "a",
    "caf\u{e9}",
    "\"caf\\u00e9 \\t \\\" x\"",
    "'it''s'",
    "\"\"",
    "''",
    "~",
    "null",
    "Null",
    "NULL",
    "nULL",
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "N",
    "True",
    "FALSE",
    "0",
    "-0",
    "+5",
    "007",
    "-007",
    "0x1F",
    "0X1F",
    "-0x10",
    "0o17",
    "0O17",
    "0b101",
    "0b",
    "1_000",
    "1__0",
    "_1",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999999999999999",
    "1.5",
    "-1.5e3",
    ".5",
    "1.",
    "1e3",
    "1e999",
    ".inf",
    "-.Inf",
    ".nan",
    "-.nan",
    "inf",
    "nan",
    "2001-12-14",
    "10.0.0.1",
    "a b",
    "<<",
    "\"<<\"",
];

/// Values of a line `key: VALUE` outside the plain subset: anchors and aliases, merge
/// keys, block scalars, escapes, tags, multi-line flow and plain scalars.
const RICH_VALUES: [&str; 28] = [
    "&s1 shared",
    "*s1",
    "&m1 {a: 1, b: [x, y]}",
    "*m1",
    "&l1 [1, &s2 two, {c: *s1}]",
    "*l1",
    "*s2",
    "*nope",
    "{<<: *m1, c: 2}",
    "\n  <<: *m1\n  a: 3",
    "\n  <<: [*m1, {d: 4}]\n  d: 1",
    "|\n  line one\n  line two\n",
    ">-\n  folded\n  text",
    "|+\n  kept\n\n",
    "\"multi\n  line \\u263A\"",
    "plain\n  continued",
    "!!str 12",
    "!!int \"7\"",
    "!custom x",
    "! y",
    "!!map {a: 1}",
    "[1,\n  2, {a: b},\n  *s1]",
    "{a: 1,\n  b: 2}",
    "\n  ? [complex, key]\n  : value",
    "\n  - &i1 item\n  - *i1",
    "&e1",
    "\n  &k1 key: *k1",
    "[&f1 x, *f1]",
];

fn rich(dice: &mut Dice) -> String {
    let mut text = String::new();
    if dice.roll(3) == 0 {
        text.push_str("# caf\u{e9}\n");
    }
    if dice.roll(3) != 0 {
        text.push_str("s: &s1 shared\nm: &m1 {a: 1, b: [x, y]}\nl: &l1 [1, &s2 two]\n");
    }
    for i in 0..1 + dice.roll(6) {
        let key = match dice.roll(6) {
            0 => format!("\"q{i}\""),
            1 => "*s1 ".to_string(),
            2 => format!("&k{i} z{i}"),
            3 => "<<".to_string(),
            _ => format!("k{i}"),
        };
        text.push_str(&key);
        text.push_str(": ");
        let value = if dice.roll(2) == 0 {
            dice.pick(&RICH_SCALARS)
        } else {
            dice.pick(&RICH_VALUES)
        };
        text.push_str(value);
        text.push('\n');
    }
    text
}

#[test]
fn the_event_reader_reads_generated_rich_yaml_as_serde_saphyr() {
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let mut tally = Tally::default();
    for case in 0..6_000 {
        let mut text = rich(&mut dice);
        if case % 3 == 2 {
            let at = dice.roll(text.len());
            if text.is_char_boundary(at) && text.is_char_boundary(at + 1) {
                let piece =
                    dice.pick(&[" ", "\n", "-", ":", "", "#", ",", "[", "\t", "&", "*", "\""]);
                text.replace_range(at..at + 1, piece);
            }
        }
        tally.add(&text);
    }
    for scalar in RICH_SCALARS {
        for text in [
            format!("a: {scalar}\n"),
            format!("{scalar}: a\n"),
            format!("- [{scalar}]\n"),
            format!("a: &x {scalar}\nb: *x\n"),
        ] {
            tally.add(&text);
        }
    }
    assert!(tally.tree > 1_200 && tally.error > 400, "{tally:?}");
}

/// Entries of the mapping at `path` (keys) from the root, as (key, value, line, column, len).
fn entries(tree: &Tree, key: &str) -> Vec<(String, String, (u32, u32, u32))> {
    let Value::Map(top) = tree.root().value() else {
        panic!("root not a mapping")
    };
    let (_, node) = top
        .into_iter()
        .find(|(k, _)| matches!(k.value(), Value::Str(s) if s == key))
        .unwrap();
    let Value::Map(entries) = node.value() else {
        panic!("{key} not a mapping")
    };
    entries
        .map(|(k, v)| {
            let at = k.at();
            (
                format!("{:?}", k.value()),
                format!("{:?}", v.value()),
                (at.line, at.column, at.len),
            )
        })
        .collect()
}

#[test]
fn merge_keys_are_read_as_serde_saphyr_merges_them() {
    // What serde-saphyr 2.2 does, pinned: merged entries follow the mapping's own, in
    // the order of their `<<`s, a key already present (own or merged before) is dropped,
    // own duplicates pass through, and a merged entry sits where its mapping was
    // referenced (the alias, or the merged mapping's start).
    let text =
        "base: &b {a: 1, b: 2}\nx:\n  b: 3\n  <<: *b\n  b: 4\n  <<: [{a: 5, c: 6}, {d: 7}]\n";
    let tree = parse(text).unwrap();
    let got = entries(&tree, "x");
    let want = [
        ("Str(\"b\")", "Int(3)", (3, 3, 1)),
        ("Str(\"b\")", "Int(4)", (5, 3, 1)),
        ("Str(\"a\")", "Int(1)", (4, 7, 2)),
        ("Str(\"c\")", "Int(6)", (6, 8, 1)),
        ("Str(\"d\")", "Int(7)", (6, 22, 1)),
    ];
    let want: Vec<_> = want
        .iter()
        .map(|(k, v, at)| (k.to_string(), v.to_string(), *at))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        agree(text),
        Outcome::Unsure,
        "merges are serde-saphyr's to read"
    );
    // A quoted `<<` is an ordinary key.
    assert_eq!(agree("x: {\"<<\": {a: 1}}\n"), Outcome::Tree);
}

#[test]
fn an_alias_is_a_copy_of_its_anchor_placed_at_the_alias() {
    let text = "a: &x {b: [1, two]}\nc: *x\n";
    assert_eq!(agree(text), Outcome::Tree);
    let tree = parse(text).unwrap();
    let got = entries(&tree, "c");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, (2, 4, 2), "{got:?}");
    let Value::Map(mut top) = tree.root().value() else {
        panic!()
    };
    let (_, copy) = top.nth(1).unwrap();
    assert_eq!((copy.at().line, copy.at().column, copy.at().len), (2, 4, 1));
}

#[test]
fn an_alias_bomb_is_refused_before_it_is_expanded() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..9 {
        let below = format!("*a{}", level - 1);
        let items = [below.as_str(); 10].join(", ");
        text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
    }
    let err = parse(&text).unwrap_err();
    assert!(
        err.message
            .starts_with("aliases (`*name`) expand this file"),
        "{err:?}"
    );
    // The event reader stops at the budget, before copying what breaches it, and
    // leaves the diagnostic to serde-saphyr.
    assert!(matches!(
        events::read(&text, &budget()),
        events::Read::Unsure
    ));
    // Many aliases of few anchors, checked when the stream ends: the event reader's own.
    let lopsided = format!("a: &a 1\nb: [{}]\n", ["*a"; 200].join(", "));
    assert_eq!(agree(&lopsided), Outcome::Error);
}

#[test]
fn nesting_deeper_than_the_budget_is_the_event_readers_diagnostic() {
    // serde-saphyr recurses once per level, with large frames in a debug build.
    let deep = std::thread::Builder::new().stack_size(256 << 20);
    let run = deep.spawn(|| {
        let deep = format!("a: {}{}\n", "[".repeat(70), "]".repeat(70));
        assert_eq!(agree(&deep), Outcome::Error);
        let err = parse(&format!("# caf\u{e9}\n{deep}")).unwrap_err();
        assert!(err.message.contains("nested more than"), "{err:?}");
    });
    run.unwrap().join().unwrap();
}
