//! Issue 9's campaign, checked in: a deterministic corpus of malformed topology and plan
//! files (byte mutations, wrong types, huge values, YAML tricks, encodings, semantic
//! traps, edited saved plans), each run through every command that reads such a file.
//!
//! Every topology goes through the library (`topology::load` and the rendering of its
//! diagnostics) and through the real binary: `validate`, `plan --offline`, `graph`,
//! `diff BASE FILE` (text) and `diff FILE BASE` (markdown). Every plan file goes through
//! `planfile::parse` and `apply FILE --auto-approve`. A refused file must exit 65 with
//! the file named at a `line:column` (or a byte offset); a file that is still valid must
//! succeed; nothing may exit 101 or 134, die by a signal, print more than about 1 MiB of
//! errors, or print a control character (NO_COLOR is set, so not even a colour code).
//! Each run has a bounded wait: a run that does not end is killed and reported as a hang
//! (a failure, not a timing measurement).
//!
//! No host is ever contacted: the plans name unix sockets in a temporary directory that
//! nothing listens on, and a saved plan that passed every check would fail there (exit 1)
//! instead of reaching a switch; the control case below shows that this is what happens.
// Tests may unwrap: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use ovsnet::desire::desire_host;
use ovsnet::plan::{self, Mode, Plan};
use ovsnet::state::ObservedHost;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A valid three-host topology every mutation starts from; `SOCKET_DIR` is replaced by
/// the test's temporary directory.
const BASE: &str = "\
version: 1
cluster: demo
bridge:
  name: br-ovsnet
  datapath: netdev
tunnel:
  type: vxlan
  topology: mesh
  key: 5001
  dst_port: 4789
  loop_protection: auto
underlay:
  mtu: 1500
vlans:
  - name: web
    id: 10
    subnet: 10.10.0.0/16
    gateway: 10.10.0.1
    dhcp: true
    nat: true
  - name: db
    id: 20
    subnet: 10.20.0.0/16
hosts:
  - name: host-a
    underlay_ip: 198.18.0.1
    ovsdb: unix:SOCKET_DIR/a.sock
    ranges:
      web: 10.10.1.0/24
  - name: host-b
    underlay_ip: 198.18.0.2
    ovsdb: unix:SOCKET_DIR/b.sock
    ranges:
      web: 10.10.2.0/24
      db: 10.20.2.0/24
  - name: host-c
    underlay_ip: 198.18.0.3
    ovsdb: unix:SOCKET_DIR/c.sock
    ranges:
      db: 10.20.3.0/24
";

/// A run that has not ended after this long is a hang. Generous: debug build, a
/// machine shared with other work; real runs take milliseconds.
const HANG: Duration = Duration::from_secs(60);

/// More stderr than this is output amplification (the issue's bound is 1 MiB).
const MAX_STDERR: usize = 1 << 20;

struct Case {
    name: String,
    bytes: Vec<u8>,
}

fn case(cases: &mut Vec<Case>, name: impl Into<String>, bytes: impl Into<Vec<u8>>) {
    cases.push(Case {
        name: name.into(),
        bytes: bytes.into(),
    });
}

/// A deterministic generator (64-bit LCG): the corpus is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Bytes that break YAML, encodings or terminals when put in the wrong place.
const NASTY: &[u8] = &[
    b'\t', b':', b'-', b'[', b']', b'{', b'}', b'"', b'\'', b'&', b'*', b'!', b'%', b'@', b'`',
    b'|', b'>', b'#', b',', b'?', 0x00, 0x1b, 0x07, 0x7f, 0xff, 0xfe, 0xc3, 0x80, 0xe2, b'\r',
    b' ', b'\n', b'9', b'0',
];

fn byte_mutations(base: &str, cases: &mut Vec<Case>) {
    let mut rng = Lcg(9);
    for i in 0..140 {
        let mut bytes = base.as_bytes().to_vec();
        let ops = 1 + rng.below(3);
        let mut what = Vec::new();
        for _ in 0..ops {
            let at = rng.below(bytes.len());
            let b = NASTY[rng.below(NASTY.len())];
            match rng.below(5) {
                0 => {
                    bytes[at] = b;
                    what.push(format!("set {at} {b:#04x}"));
                }
                1 => {
                    bytes.insert(at, b);
                    what.push(format!("insert {at} {b:#04x}"));
                }
                2 => {
                    let end = (at + 1 + rng.below(40)).min(bytes.len());
                    bytes.drain(at..end);
                    what.push(format!("delete {at}..{end}"));
                }
                3 => {
                    bytes.truncate(at);
                    what.push(format!("truncate {at}"));
                }
                _ => {
                    let line_start = bytes[..at]
                        .iter()
                        .rposition(|c| *c == b'\n')
                        .map_or(0, |p| p + 1);
                    let line: Vec<u8> = bytes[line_start..]
                        .iter()
                        .take_while(|c| **c != b'\n')
                        .copied()
                        .chain([b'\n'])
                        .collect();
                    let again = rng.below(bytes.len() + 1);
                    bytes.splice(again..again, line);
                    what.push(format!("copy line at {line_start} to {again}"));
                }
            }
        }
        case(
            cases,
            format!("mutation-{i:03} ({})", what.join(", ")),
            bytes,
        );
    }
}

/// Every scalar field of the base file, as the text before its value.
const FIELDS: &[&str] = &[
    "version: ",
    "cluster: ",
    "  name: br-",
    "  datapath: ",
    "  type: ",
    "  topology: ",
    "  key: ",
    "  dst_port: ",
    "  loop_protection: ",
    "  mtu: ",
    "  - name: web",
    "    id: 10",
    "    subnet: 10.10",
    "    gateway: ",
    "    dhcp: ",
    "    nat: ",
    "  - name: host-a",
    "    underlay_ip: 198.18.0.2",
    "    ovsdb: ",
    "      web: 10.10.1",
    "bridge:",
    "tunnel:",
    "vlans:",
    "hosts:",
    "    ranges:\n      db",
];

const WRONG: &[&str] = &[
    "[1, 2]",
    "{a: 1}",
    "~",
    "true",
    "1.5",
    "18446744073709551616",
    "-1",
    "123456789012345678901234567890123456789012345",
    "1e999",
    ".nan",
    "!!binary aGVsbG8=",
    "\"\\e[31mred\"",
];

/// Replaces the value on the line that starts with `field` by `value`.
fn with_value(base: &str, field: &str, value: &str) -> String {
    let start = base
        .find(field)
        .unwrap_or_else(|| panic!("`{field}` not in BASE"));
    let key_end = start + base[start..].find(':').unwrap() + 1;
    let line_end = key_end + base[key_end..].find('\n').unwrap();
    format!("{} {value}{}", &base[..key_end], &base[line_end..])
}

fn wrong_types(base: &str, cases: &mut Vec<Case>) {
    for (f, field) in FIELDS.iter().enumerate() {
        for (w, value) in WRONG.iter().enumerate() {
            // Not every pair: every field meets every other wrong value, in turn.
            if (f + w) % 2 == 0 {
                let name = format!("wrong-type {} = {value}", field.trim());
                case(cases, name, with_value(base, field, value));
            }
        }
    }
}

fn edited(base: &str, edits: &[(&str, &str)]) -> String {
    let mut text = base.to_string();
    for (from, to) in edits {
        assert!(text.contains(from), "`{from}` not in the file");
        text = text.replacen(from, to, 1);
    }
    text
}

/// `n` hosts with distinct addresses and ranges, after the base file's header.
fn many_hosts(n: usize, tunnel: &str) -> String {
    let mut text = format!(
        "version: 1\ncluster: big\ntunnel:\n{tunnel}vlans:\n  - {{name: web, id: 10, subnet: 10.0.0.0/8}}\nhosts:\n"
    );
    for i in 0..n {
        let ip = std::net::Ipv4Addr::from(0xC612_0001u32 + i as u32);
        text.push_str(&format!(
            "  - {{name: h{i}, underlay_ip: {ip}, ranges: {{web: 10.{}.{}.0/24}}}}\n",
            i / 256,
            i % 256
        ));
    }
    text
}

fn huge_values(base: &str, cases: &mut Vec<Case>) {
    let long = "x".repeat(200_000);
    case(
        cases,
        "huge cluster scalar",
        with_value(base, "cluster: ", &long),
    );
    case(
        cases,
        "huge host name",
        with_value(base, "  - name: host-a", &long),
    );
    case(cases, "huge key", format!("{long}: 1\n{base}"));
    case(cases, "huge comment line", format!("# {long}\n{base}"));
    let mut keys = String::from("version: 1\n");
    for i in 0..3000 {
        keys.push_str(&format!("unknown_{i}: {i}\n"));
    }
    case(cases, "3,000 unknown top-level keys", keys);
    let mut vlans = String::from("version: 1\ncluster: c\nvlans:\n");
    for i in 0..300 {
        vlans.push_str(&format!(
            "  - {{name: v{i}, id: {}, subnet: 10.0.0.0/8}}\n",
            i + 1
        ));
    }
    case(cases, "300 VLANs sharing one subnet", vlans);
    let links: Vec<String> = (0..300)
        .map(|i| format!("[ghost-{i}, ghost-{}]", i + 1))
        .collect();
    let custom = edited(
        base,
        &[(
            "  topology: mesh\n",
            &format!("  topology: custom\n  links: [{}]\n", links.join(", ")),
        )],
    );
    case(cases, "300 custom links naming unknown hosts", custom);
    let ones = vec!["1"; 20_000].join(", ");
    case(
        cases,
        "hosts: [1, 1, ...] x 20,000",
        format!("version: 1\nhosts: [{ones}]\n"),
    );
    let bad_hosts: Vec<String> = (0..2000).map(|i| format!("{{name: {i}}}")).collect();
    case(
        cases,
        "one line of 2,000 bad hosts",
        format!("version: 1\nhosts: [{}]\n", bad_hosts.join(", ")),
    );
    case(
        cases,
        "nesting 5,000 deep",
        format!("hosts: {}{}\n", "[".repeat(5000), "]".repeat(5000)),
    );
    case(cases, "valid 200-host mesh with one bad range", {
        let text = many_hosts(200, "  type: vxlan\n  topology: mesh\n");
        text.replacen("10.0.7.0/24", "10.0.7.0/33", 1)
    });
    let mut anchors = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        anchors.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    case(cases, "alias bomb (billion laughs)", anchors);
    for value in [
        "18446744073709551616",
        "-18446744073709551617",
        "340282366920938463463374607431768211456",
        "0x1ffffffffffffffff",
        "1e400",
    ] {
        case(
            cases,
            format!("tunnel.key {value}"),
            with_value(base, "  key: ", value),
        );
    }
}

fn yaml_tricks(base: &str, cases: &mut Vec<Case>) {
    let tricks: &[(&str, String)] = &[
        ("two documents", format!("{base}---\nversion: 1\n")),
        ("empty second document", format!("{base}---\n")),
        (
            "document end then content",
            format!("{base}...\nextra: 1\n"),
        ),
        ("YAML directive", format!("%YAML 1.1\n---\n{base}")),
        ("unknown directive", format!("%FOO bar\n---\n{base}")),
        ("TAG directive", format!("%TAG ! tag:x,2000:\n---\n{base}")),
        (
            "merge key",
            edited(
                base,
                &[("bridge:\n", "base: &b {name: br-x}\nbridge:\n  <<: *b\n")],
            ),
        ),
        ("unknown alias", with_value(base, "cluster: ", "*nowhere")),
        ("alias as key", format!("x: &k cluster\n*k : demo\n{base}")),
        ("anchor on the root", format!("&root\n{base}")),
        ("custom tag", with_value(base, "cluster: ", "!mine demo")),
        (
            "include tag",
            with_value(base, "cluster: ", "!include /etc/passwd"),
        ),
        ("complex key", format!("? [a, b]\n: c\n{base}")),
        ("null key", format!("~: 1\n{base}")),
        ("integer key", format!("1: 1\n{base}")),
        ("boolean key", format!("true: 1\n{base}")),
        ("key without value", format!("{base}dangling\n")),
        ("value without key", format!("{base}: x\n")),
        ("unclosed flow list", format!("{base}extra: [a, b\n")),
        ("unclosed flow map", format!("{base}extra: {{a: b\n")),
        (
            "unclosed double quote",
            with_value(base, "cluster: ", "\"demo"),
        ),
        (
            "unclosed single quote",
            with_value(base, "cluster: ", "'demo"),
        ),
        ("bad escape", with_value(base, "cluster: ", "\"de\\qmo\"")),
        ("escaped NUL", with_value(base, "cluster: ", "\"de\\0mo\"")),
        (
            "block scalar badly indented",
            with_value(base, "cluster: ", "|\n demo\nx"),
        ),
        (
            "folded scalar name",
            with_value(base, "cluster: ", ">\n  demo"),
        ),
        (
            "tab as indentation",
            base.replacen(
                "    underlay_ip: 198.18.0.2",
                "\tunderlay_ip: 198.18.0.2",
                1,
            ),
        ),
        (
            "tab after key",
            base.replacen("cluster: demo", "cluster:\tdemo", 1),
        ),
        (
            "tab before list item",
            base.replacen("  - name: host-b", "\t- name: host-b", 1),
        ),
        ("duplicate top-level key", format!("{base}cluster: other\n")),
        (
            "duplicate nested key",
            base.replacen("    id: 10\n", "    id: 10\n    id: 11\n", 1),
        ),
        ("top-level list", "- a\n- b\n".into()),
        ("top-level scalar", "just text\n".into()),
        ("top-level number", "42\n".into()),
        ("empty map", "{}\n".into()),
        ("empty list", "[]\n".into()),
        ("only a comment", "# nothing\n".into()),
        ("only a document marker", "---\n".into()),
        ("empty file", String::new()),
        ("only spaces", "   \n  \n".into()),
        ("list of lists", "- - - - x\n".into()),
        (
            "mapping in a sequence item key",
            format!("{base}  - {{? [x]: y}}\n"),
        ),
        (
            "hosts as a map",
            edited(
                base,
                &[(
                    "hosts:\n  - name: host-a",
                    "hosts:\n  host-a:\n    name: host-a",
                )],
            ),
        ),
        ("vlans as a string", with_value(base, "vlans:", "web")),
        (
            "ranges as a list",
            base.replacen(
                "    ranges:\n      web: 10.10.1.0/24",
                "    ranges: [10.10.1.0/24]",
                1,
            ),
        ),
        ("CR line endings", base.replace('\n', "\r")),
        (
            "CR in a value",
            with_value(base, "cluster: ", "\"de\\rmo\""),
        ),
        (
            "form feed",
            base.replacen("version: 1\n", "version: 1\n\x0c\n", 1),
        ),
        ("NUL in a comment", format!("# a\0b\n{base}")),
        ("ESC in a comment", format!("# \x1b]0;pwned\x07\n{base}")),
        (
            "raw ESC in the cluster",
            with_value(base, "cluster: ", "de\x1b[31mmo"),
        ),
        (
            "escaped ESC in a host name",
            with_value(base, "  - name: host-a", "\"host-\\e[2Ja\""),
        ),
        (
            "bidi override in a VLAN name",
            with_value(base, "  - name: web", "\"w\\u202eeb\""),
        ),
        ("C1 CSI in a key", format!("\"\\u009b31m\": 1\n{base}")),
        (
            "line of 100,000 commas",
            format!("{base}extra: [{}]\n", ",".repeat(100_000)),
        ),
    ];
    for (name, text) in tricks {
        case(cases, format!("yaml {name}"), text.as_bytes());
    }
}

fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    let mut out = if big_endian {
        vec![0xfe, 0xff]
    } else {
        vec![0xff, 0xfe]
    };
    for unit in text.encode_utf16() {
        let b = if big_endian {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        };
        out.extend_from_slice(&b);
    }
    out
}

fn encodings(base: &str, cases: &mut Vec<Case>) {
    let with_bytes = |at: &str, bytes: &[u8]| {
        let i = base.find(at).unwrap() + at.len();
        let mut out = base.as_bytes().to_vec();
        out.splice(i..i, bytes.iter().copied());
        out
    };
    case(cases, "encoding UTF-16 LE with BOM", utf16(base, false));
    case(cases, "encoding UTF-16 BE with BOM", utf16(base, true));
    let mut utf32 = vec![0xff, 0xfe, 0, 0];
    for c in base.chars() {
        utf32.extend_from_slice(&u32::from(c).to_le_bytes());
    }
    case(cases, "encoding UTF-32 LE", utf32);
    case(
        cases,
        "encoding Latin-1 e-acute in the cluster",
        with_bytes("cluster: de", &[0xe9]),
    );
    case(
        cases,
        "encoding lone continuation byte",
        with_bytes("  - name: host-", &[0x80]),
    );
    case(
        cases,
        "encoding overlong slash",
        with_bytes("    subnet: 10.10.0.0", &[0xc0, 0xaf]),
    );
    case(
        cases,
        "encoding UTF-16 surrogate in UTF-8",
        with_bytes("hosts:", &[0xed, 0xa0, 0x80]),
    );
    case(
        cases,
        "encoding code point above U+10FFFF",
        with_bytes("cluster: de", &[0xf4, 0x90, 0x80, 0x80]),
    );
    case(
        cases,
        "encoding 0xff on the last line",
        [base.as_bytes(), b"x: \xff\n"].concat(),
    );
    let mut cut = base.as_bytes().to_vec();
    cut.extend_from_slice("# é".as_bytes());
    cut.pop();
    case(cases, "encoding multibyte cut at the end", cut);
    case(cases, "encoding NUL byte", with_bytes("version: 1", &[0]));
    case(
        cases,
        "encoding UTF-8 BOM",
        [b"\xef\xbb\xbf".as_slice(), base.as_bytes()].concat(),
    );
    case(
        cases,
        "encoding two UTF-8 BOMs",
        [b"\xef\xbb\xbf\xef\xbb\xbf".as_slice(), base.as_bytes()].concat(),
    );
    case(cases, "encoding CRLF", base.replace('\n', "\r\n"));
}

fn semantic(base: &str, cases: &mut Vec<Case>) {
    let custom = |links: &str, protection: &str| {
        edited(
            base,
            &[
                (
                    "  topology: mesh\n",
                    &format!("  topology: custom\n  links: {links}\n"),
                ),
                (
                    "  loop_protection: auto",
                    &format!("  loop_protection: {protection}"),
                ),
            ],
        )
    };
    for protection in ["auto", "protected", "rstp", "none"] {
        case(
            cases,
            format!("disconnected custom graph, {protection} (the issue's panic)"),
            custom("[[host-a, host-b]]", protection),
        );
        case(cases, format!("chain, {protection}"), {
            let text = edited(base, &[("  topology: mesh", "  topology: chain")]);
            text.replacen(
                "  loop_protection: auto",
                &format!("  loop_protection: {protection}"),
                1,
            )
        });
        case(
            cases,
            format!("custom ring, {protection}"),
            custom(
                "[[host-a, host-b], [host-b, host-c], [host-c, host-a]]",
                protection,
            ),
        );
    }
    let semantic: &[(&str, String)] = &[
        (
            "self link",
            custom(
                "[[host-a, host-a], [host-a, host-b], [host-b, host-c]]",
                "auto",
            ),
        ),
        (
            "duplicate link",
            custom(
                "[[host-a, host-b], [host-b, host-a], [host-b, host-c]]",
                "auto",
            ),
        ),
        (
            "unknown link host",
            custom("[[host-a, hots-b], [host-b, host-c]]", "auto"),
        ),
        (
            "link of three hosts",
            custom("[[host-a, host-b, host-c]]", "auto"),
        ),
        ("link as a string", custom("[host-a-host-b]", "auto")),
        (
            "links with mesh",
            edited(
                base,
                &[(
                    "  topology: mesh\n",
                    "  topology: mesh\n  links: [[host-a, host-b]]\n",
                )],
            ),
        ),
        (
            "star without hub",
            edited(base, &[("  topology: mesh", "  topology: star")]),
        ),
        (
            "star with unknown hub",
            edited(
                base,
                &[("  topology: mesh", "  topology: star\n  hub: nobody")],
            ),
        ),
        (
            "duplicate host",
            base.replacen("name: host-b", "name: host-a", 1),
        ),
        (
            "duplicate underlay",
            base.replacen("198.18.0.2", "198.18.0.1", 1),
        ),
        (
            "multicast underlay",
            base.replacen("198.18.0.2", "224.0.0.1", 1),
        ),
        (
            "overlapping ranges",
            base.replacen("10.10.2.0/24", "10.10.1.128/25", 1),
        ),
        (
            "range outside subnet",
            base.replacen("10.10.2.0/24", "10.99.2.0/24", 1),
        ),
        (
            "range with host bits",
            base.replacen("10.10.2.0/24", "10.10.2.1/24", 1),
        ),
        (
            "range in unknown VLAN",
            base.replacen("      db: 10.20.2.0/24", "      dbb: 10.20.2.0/24", 1),
        ),
        (
            "gateway in a range",
            base.replacen("gateway: 10.10.0.1", "gateway: 10.10.1.5", 1),
        ),
        (
            "gateway outside subnet",
            base.replacen("gateway: 10.10.0.1", "gateway: 10.11.0.1", 1),
        ),
        (
            "overlapping subnets",
            base.replacen("10.20.0.0/16", "10.10.0.0/15", 1),
        ),
        ("duplicate VLAN id", base.replacen("id: 20", "id: 10", 1)),
        ("VLAN id 4095", base.replacen("id: 20", "id: 4095", 1)),
        ("VLAN id 0", base.replacen("id: 20", "id: 0", 1)),
        (
            "GRE with dst_port",
            base.replacen("type: vxlan", "type: gre", 1),
        ),
        (
            "key too large for VXLAN",
            base.replacen("key: 5001", "key: 16777216", 1),
        ),
        ("MTU too small", base.replacen("mtu: 1500", "mtu: 1300", 1)),
        ("MTU 0", base.replacen("mtu: 1500", "mtu: 0", 1)),
        (
            "bridge name too long",
            base.replacen("name: br-ovsnet", "name: br-ovsnet-much-too-long", 1),
        ),
        (
            "bad cluster name",
            base.replacen("cluster: demo", "cluster: Demo_1", 1),
        ),
        (
            "bad endpoint",
            base.replacen("unix:SOCKET_DIR/a.sock", "carrier-pigeon", 1),
        ),
        ("version 2", base.replacen("version: 1", "version: 2", 1)),
        (
            "no hosts",
            edited(base, &[("hosts:\n", "hosts: []\nold_hosts:\n")]),
        ),
        (
            "misspelled field",
            base.replacen("underlay_ip: 198.18.0.2", "underlay_ipp: 198.18.0.2", 1),
        ),
    ];
    for (name, text) in semantic {
        case(cases, format!("semantic {name}"), text.as_bytes());
    }
    // Valid files whose text holds control characters: they reach plan, graph and diff
    // output, which must escape them.
    case(
        cases,
        "valid, ESC in a comment and a socket path",
        format!(
            "# \x1b]0;pwned\x07 comment\n{}",
            base.replacen("/a.sock", "/\x1b[31ma.sock", 1)
        ),
    );
}

/// The binary's verdict on one run.
struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs the binary with a bounded wait; `None` when it had to be killed (a hang).
fn run(dir: &Path, tag: &str, args: &[&str]) -> Option<Run> {
    let out = dir.join(format!("{tag}.out"));
    let err = dir.join(format!("{tag}.err"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_ovsnet"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("the ovsnet binary runs");
    let deadline = Instant::now() + HANG;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            // Our own child, by its handle (its pid).
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let run = Run {
        code: status.code(),
        stdout: std::fs::read(&out).unwrap(),
        stderr: std::fs::read(&err).unwrap(),
    };
    let _ = std::fs::remove_file(out);
    let _ = std::fs::remove_file(err);
    Some(run)
}

/// The first control character (other than a line break) in `bytes`, read as UTF-8.
fn control_char(bytes: &[u8]) -> Option<char> {
    String::from_utf8_lossy(bytes)
        .chars()
        .find(|c| *c != '\n' && c.is_control())
}

/// Whether `stderr` places an error in `file`: `FILE:LINE:COL`, or a byte offset, or
/// the size limit (a file refused before it is read as text has no line).
fn placed(stderr: &str, file: &str) -> bool {
    let shown = ovsnet::terminal::escape(file).into_owned();
    let mut rest = stderr;
    while let Some(i) = rest.find(&format!("{shown}:")) {
        let after = &rest[i + shown.len() + 1..];
        let line: String = after.chars().take_while(char::is_ascii_digit).collect();
        let tail = &after[line.len()..];
        if !line.is_empty()
            && tail.starts_with(':')
            && tail[1..].starts_with(|c: char| c.is_ascii_digit())
        {
            return true;
        }
        rest = after;
    }
    stderr.contains(&shown) && (stderr.contains("byte ") || stderr.contains(" bytes ("))
}

/// Checks one run; returns what was wrong with it.
fn judge(run: Option<Run>, what: &str, invalid: bool, file: &str) -> Option<String> {
    let Some(run) = run else {
        return Some(format!("{what}: no exit within {HANG:?} (a hang)"));
    };
    let stderr = String::from_utf8_lossy(&run.stderr);
    let head: String = stderr.chars().take(600).collect();
    let Some(code) = run.code else {
        return Some(format!("{what}: killed by a signal\n{head}"));
    };
    if code == 101 || code == 134 || stderr.contains("panicked") {
        return Some(format!("{what}: crashed with {code}\n{head}"));
    }
    let expected = if invalid { 65 } else { 0 };
    if code != expected {
        return Some(format!("{what}: exit {code}, expected {expected}\n{head}"));
    }
    if invalid && !placed(&stderr, file) {
        return Some(format!(
            "{what}: no `{file}:LINE:COL` or byte offset\n{head}"
        ));
    }
    if run.stderr.len() > MAX_STDERR {
        return Some(format!("{what}: {} bytes of stderr", run.stderr.len()));
    }
    for (stream, bytes) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        if let Some(c) = control_char(bytes) {
            return Some(format!("{what}: raw {c:?} on {stream}\n{head}"));
        }
    }
    None
}

fn topology_cases(base: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    byte_mutations(base, &mut cases);
    wrong_types(base, &mut cases);
    huge_values(base, &mut cases);
    yaml_tricks(base, &mut cases);
    encodings(base, &mut cases);
    semantic(base, &mut cases);
    cases
}

/// Runs `work` over `items` on a few threads, collecting the failures.
fn each_parallel<T: Sync>(
    items: &[T],
    work: impl Fn(usize, &T) -> Vec<String> + Sync,
) -> Vec<String> {
    let failures = Mutex::new(Vec::new());
    let next = Mutex::new(0usize);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let i = {
                    let mut next = next.lock().unwrap();
                    let i = *next;
                    *next += 1;
                    i
                };
                let Some(item) = items.get(i) else { break };
                let found = work(i, item);
                failures.lock().unwrap().extend(found);
            });
        }
    });
    failures.into_inner().unwrap()
}

fn report(failures: &[String], total: usize) {
    assert!(
        failures.is_empty(),
        "{} of {total} checks failed; the first:\n\n{}",
        failures.len(),
        failures
            .iter()
            .take(15)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

#[test]
fn every_malformed_topology_is_refused_with_a_position_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let base = BASE.replace("SOCKET_DIR", &dir.path().display().to_string());
    let base_path = dir.path().join("base.yaml");
    std::fs::write(&base_path, &base).unwrap();
    let base_path = base_path.display().to_string();
    let cases = topology_cases(&base);
    let invalid = std::sync::atomic::AtomicUsize::new(0);
    let failures = each_parallel(&cases, |i, case| {
        let path = dir.path().join(format!("case-{i:03}.yaml"));
        std::fs::write(&path, &case.bytes).unwrap();
        let file = path.display().to_string();
        // The library, as the commands call it.
        let refused = match std::str::from_utf8(&case.bytes) {
            Err(_) => true,
            Ok(text) => match ovsnet::topology::load(&file, text) {
                Ok(_) => false,
                Err(d) => {
                    let out = d.render(text, false);
                    assert!(
                        out.len() <= MAX_STDERR,
                        "{}: {} bytes",
                        case.name,
                        out.len()
                    );
                    true
                }
            },
        };
        if refused {
            invalid.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let started = Instant::now();
        let tag = format!("case-{i:03}");
        let commands: [(&str, Vec<&str>); 5] = [
            ("validate", vec!["validate", &file]),
            ("plan --offline", vec!["plan", &file, "--offline"]),
            ("graph", vec!["graph", &file]),
            ("diff BASE FILE", vec!["diff", &base_path, &file]),
            (
                "diff FILE BASE (markdown)",
                vec!["diff", &file, &base_path, "--format", "markdown"],
            ),
        ];
        let found = commands
            .iter()
            .filter_map(|(command, args)| {
                let what = format!("`{command}` on {} ({file})", case.name);
                judge(run(dir.path(), &tag, args), &what, refused, &file)
            })
            .collect();
        if std::env::var_os("CORPUS_TIMES").is_some() {
            eprintln!("{:>8.3} s {}", started.elapsed().as_secs_f64(), case.name);
        }
        found
    });
    let invalid = invalid.into_inner();
    eprintln!(
        "{} topology files, {invalid} of them invalid, 5 commands each",
        cases.len()
    );
    assert!(
        invalid >= 200,
        "only {invalid} invalid topologies in the corpus"
    );
    report(&failures, cases.len() * 5);
}

/// A saved live plan of `topology_text` as `plan -o` would write it, against hosts that
/// hold nothing (so no host has to be reached to make it).
fn live_plan(topology_text: &str) -> Plan {
    let loaded = ovsnet::topology::load("t.yaml", topology_text).unwrap();
    let (topology, analysis) = (&loaded.topology, &loaded.analysis);
    let context = plan::context(topology, analysis, Mode::Live, Vec::new());
    let hosts = (0..topology.hosts.len())
        .map(|i| {
            plan::build_owned(desire_host(topology, analysis, i), &ObservedHost::default()).unwrap()
        })
        .collect();
    Plan {
        format_version: plan::FORMAT_VERSION,
        context,
        hosts,
    }
}

fn saved(plan: &Plan, name: &str, source: &str) -> Vec<u8> {
    let mut out = Vec::new();
    ovsnet::planfile::to_writer(&mut out, plan, name, source).unwrap();
    out
}

fn plan_cases(base: &str) -> (Vec<u8>, Vec<Case>) {
    let plan = live_plan(base);
    let good = saved(&plan, "t.yaml", base);
    let text = String::from_utf8(good.clone()).unwrap();
    let mut cases = Vec::new();
    // Edits of the saved text: truncations, bytes replaced, fields changed.
    let mut rng = Lcg(65);
    for i in 0..40 {
        let at = rng.below(good.len());
        case(
            &mut cases,
            format!("plan truncated at {at} ({i})"),
            &good[..at],
        );
    }
    for i in 0..60 {
        let at = rng.below(good.len());
        let b = NASTY[rng.below(NASTY.len())];
        let mut bytes = good.clone();
        if bytes[at] == b {
            continue;
        }
        bytes[at] = b;
        let around =
            String::from_utf8_lossy(&good[at.saturating_sub(20)..(at + 20).min(good.len())]);
        case(
            &mut cases,
            format!("plan byte {at} set to {b:#04x} ({i}) in `{around}`"),
            bytes,
        );
    }
    let edits: &[(&str, &str, &str)] = &[
        (
            "mode made offline",
            "\"mode\":\"live\"",
            "\"mode\":\"offline\"",
        ),
        ("mode made diff", "\"mode\":\"live\"", "\"mode\":\"diff\""),
        ("mode unknown", "\"mode\":\"live\"", "\"mode\":\"warp\""),
        (
            "format_version 2",
            "\"format_version\":1",
            "\"format_version\":2",
        ),
        (
            "format_version a string",
            "\"format_version\":1",
            "\"format_version\":\"1\"",
        ),
        (
            "format_version huge",
            "\"format_version\":1",
            "\"format_version\":18446744073709551616",
        ),
        (
            "another document",
            "\"document\":\"ovsnet-plan\"",
            "\"document\":\"ovsnet-state\"",
        ),
        ("checksum removed", "\"checksum\":", "\"checksum_was\":"),
        (
            "checksum changed",
            "\"checksum\":\"sha256:",
            "\"checksum\":\"sha256:0",
        ),
        ("host renamed", "\"host\":\"host-b\"", "\"host\":\"host-z\""),
        (
            "cluster renamed",
            "\"cluster\":\"demo\"",
            "\"cluster\":\"prod\"",
        ),
        ("topology text edited", "cluster: demo", "cluster: prod"),
        (
            "topology name edited",
            "\"topology_name\":\"t.yaml\"",
            "\"topology_name\":\"u.yaml\"",
        ),
        (
            "fingerprint edited",
            "\"fingerprint\":\"",
            "\"fingerprint\":\"0",
        ),
        (
            "ESC in the host",
            "\"host\":\"host-b\"",
            "\"host\":\"host-\\u001b[31mb\"",
        ),
        (
            "duplicate key",
            "{\"document\":",
            "{\"document\":\"x\",\"document\":",
        ),
        ("trailing garbage", "\n", "\n}{\n"),
    ];
    for (name, from, to) in edits {
        assert!(text.contains(from), "`{from}` not in the plan");
        case(
            &mut cases,
            format!("plan {name}"),
            text.replacen(from, to, 1),
        );
    }
    case(
        &mut cases,
        "plan as a JSON array",
        "[{\"document\": \"ovsnet-plan\"}]",
    );
    case(
        &mut cases,
        "plan marker only",
        "{\"document\": \"ovsnet-plan\"}",
    );
    case(&mut cases, "plan as UTF-16", utf16(&text, false));
    let at = text.find("host-a").unwrap();
    let mut bad = good.clone();
    bad[at] = 0xff;
    case(&mut cases, "plan with a 0xff byte", bad);
    // Made by the library, checksum right, and still not applicable.
    let mut extra = plan.clone();
    let mut ghost = extra.hosts[1].clone();
    ghost.host = "host-ghost".into();
    extra.hosts.push(ghost);
    case(
        &mut cases,
        "plan with a host not in its topology",
        saved(&extra, "t.yaml", base),
    );
    let mut twice = plan.clone();
    twice.hosts.push(plan.hosts[0].clone());
    case(
        &mut cases,
        "plan with a host twice",
        saved(&twice, "t.yaml", base),
    );
    for (name, mode) in [("offline", Mode::Offline), ("diff", Mode::Diff)] {
        let mut p = plan.clone();
        p.context.mode = mode;
        case(
            &mut cases,
            format!("plan made {name}, checksum right"),
            saved(&p, "t.yaml", base),
        );
    }
    let other = base.replacen("key: 5001", "key: 5002", 1);
    case(
        &mut cases,
        "plan whose topology is not its digest's",
        saved(&plan, "t.yaml", &other),
    );
    for (name, broken) in [
        (
            "disconnected protected",
            base.replacen(
                "  topology: mesh\n",
                "  topology: custom\n  links: [[host-a, host-b]]\n",
                1,
            )
            .replacen("loop_protection: auto", "loop_protection: protected", 1),
        ),
        ("bad YAML", format!("{base}: x\n")),
        ("non-topology", "just text\n".into()),
        (
            "ESC in its cluster",
            base.replacen("cluster: demo", "cluster: de\u{1b}[31mmo", 1),
        ),
    ] {
        case(
            &mut cases,
            format!("plan embedding an invalid topology: {name}"),
            saved(&plan, "t.yaml", &broken),
        );
    }
    (good, cases)
}

#[test]
fn every_edited_or_inconsistent_saved_plan_is_refused_before_any_host_is_contacted() {
    let dir = tempfile::tempdir().unwrap();
    let base = BASE.replace("SOCKET_DIR", &dir.path().display().to_string());
    let (good, cases) = plan_cases(&base);

    // The control: the plan as saved passes every check of the file and fails only at
    // the (absent) hosts, with the run-time exit code.
    let good_path = dir.path().join("good.plan");
    std::fs::write(&good_path, &good).unwrap();
    let control = run(
        dir.path(),
        "good",
        &["apply", &good_path.display().to_string(), "--auto-approve"],
    )
    .expect("no hang");
    let stderr = String::from_utf8_lossy(&control.stderr);
    assert_eq!(control.code, Some(1), "{stderr}");
    let original = ovsnet::planfile::parse(std::str::from_utf8(&good).unwrap()).unwrap();

    let failures = each_parallel(&cases, |i, case| {
        let path = dir.path().join(format!("plan-{i:03}.plan"));
        std::fs::write(&path, &case.bytes).unwrap();
        let file = path.display().to_string();
        let mut found = Vec::new();
        // An edit that changes nothing apply reads (an unknown key, say) leaves the plan
        // as saved: it goes on to the hosts like the control. Any other edit is refused.
        let mut unchanged = false;
        if let Ok(text) = std::str::from_utf8(&case.bytes) {
            if let Ok(saved) = ovsnet::planfile::parse(text) {
                unchanged = saved == original;
                let _ = ovsnet::topology::load(&saved.topology_name, &saved.topology_source);
            }
        }
        let what = format!("`apply` of {} ({file})", case.name);
        let Some(run) = run(
            dir.path(),
            &format!("plan-{i:03}"),
            &["apply", &file, "--auto-approve"],
        ) else {
            return vec![format!("{what}: no exit within {HANG:?} (a hang)")];
        };
        let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
        let head: String = stderr.chars().take(600).collect();
        match run.code {
            Some(1) if unchanged => return found,
            Some(65) if !unchanged => {}
            other => found.push(format!(
                "{what}: exit {other:?} (unchanged: {unchanged})\n{head}"
            )),
        }
        if !stderr.contains(&file) {
            found.push(format!("{what}: does not name the plan file\n{head}"));
        }
        // A JSON syntax error is placed by line and column, an encoding error by byte.
        let json_error = stderr.contains("damaged") || stderr.contains("not a JSON object");
        if json_error && !(stderr.contains(" line ") && stderr.contains(" column ")) {
            found.push(format!(
                "{what}: JSON error without line and column\n{head}"
            ));
        }
        if stderr.contains("embedded")
            && stderr.contains("no longer validates")
            && !placed(&stderr, &format!("{file} (embedded t.yaml)"))
        {
            found.push(format!(
                "{what}: embedded topology errors not placed in the plan file\n{head}"
            ));
        }
        for (stream, bytes) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            if let Some(c) = control_char(bytes) {
                found.push(format!("{what}: raw {c:?} on {stream}\n{head}"));
            }
        }
        found
    });
    eprintln!("{} plan files", cases.len());
    assert!(cases.len() >= 100, "only {} plan cases", cases.len());
    report(&failures, cases.len());
}
