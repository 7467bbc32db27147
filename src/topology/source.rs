//! The bytes of an input file before they are text: the size cap and the UTF-8 check,
//! each refused with a position (a byte offset, and the line and column it falls on)
//! instead of a bare OS or decoder message. Pure: the caller reads the file (at most
//! [`MAX_TOPOLOGY_BYTES`] + 1 bytes of it) and hands the bytes in.

use super::diag::{Diagnostic, Diagnostics, Problem};
use super::yaml::Pos;

/// The largest topology file ovsnet reads: 32 MiB. A 10,000-host mesh is about 1 MB, so
/// this is far above any real topology; what validating files near it costs is measured
/// in BENCHMARKS.md, "Validating large and hostile files (issue 9)".
/// Above it a file is refused before the YAML parser sees it, so a pipeline handed a
/// wrong or runaway file fails at once with a clear error instead of swapping.
pub const MAX_TOPOLOGY_BYTES: u64 = 32 << 20;

/// The largest saved plan `apply` reads: 1 GiB. A plan holds every change of every host
/// (about 25 MB for a 1,000-host mesh), and it is a file ovsnet wrote, not one a person did.
pub const MAX_PLAN_BYTES: u64 = 1 << 30;

/// Why the bytes are not usable text, with the diagnostic and the text to render it
/// against (the bytes decoded lossily, so the snippet shows `�` where the bad byte is).
#[derive(Debug)]
pub struct Refused {
    /// The problem, placed.
    pub diagnostics: Diagnostics,
    /// Text to render the diagnostics against.
    pub text: String,
}

/// What a file is read as, with its size limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A topology file (YAML).
    Topology,
    /// A saved plan (JSON written by `plan -o`), or a topology `apply` has yet to tell apart.
    Plan,
}

impl Kind {
    /// The largest file of this kind ovsnet reads.
    pub fn limit(self) -> u64 {
        match self {
            Kind::Topology => MAX_TOPOLOGY_BYTES,
            Kind::Plan => MAX_PLAN_BYTES,
        }
    }

    fn words(self) -> &'static str {
        match self {
            Kind::Topology => "a topology",
            Kind::Plan => "a saved plan",
        }
    }
}

/// `bytes` as text, or why not. The caller reads at most `kind.limit() + 1` bytes, so a
/// longer read means the file is over the limit; `size` is its full size when known.
pub fn decode(
    file_name: &str,
    bytes: Vec<u8>,
    size: Option<u64>,
    kind: Kind,
) -> Result<String, Refused> {
    let limit = kind.limit();
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > limit || size.is_some_and(|s| s > limit) {
        return Err(too_large(file_name, size.filter(|s| *s >= read), kind));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(err) => {
            let offset = err.utf8_error().valid_up_to();
            let bytes = err.into_bytes();
            let problem = Problem::NotUtf8 {
                offset,
                byte: bytes.get(offset).copied().unwrap_or(0),
                bom: other_bom(&bytes),
            };
            let at = position_of(&bytes, offset);
            let text = String::from_utf8_lossy(&bytes).into_owned();
            Err(refused(file_name, problem, at, text))
        }
    }
}

/// The refusal of a file over the limit of `kind`.
pub fn too_large(file_name: &str, size: Option<u64>, kind: Kind) -> Refused {
    let problem = Problem::TooLarge {
        size,
        limit: kind.limit(),
        what: kind.words(),
    };
    refused(file_name, problem, Pos::default(), String::new())
}

fn refused(file_name: &str, problem: Problem, at: Pos, text: String) -> Refused {
    Refused {
        diagnostics: Diagnostics::new(file_name, vec![Diagnostic { problem, at }]),
        text,
    }
}

/// The line and column (in characters) of byte `offset`, everything before which is
/// valid UTF-8.
fn position_of(bytes: &[u8], offset: usize) -> Pos {
    let before = &bytes[..offset.min(bytes.len())];
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = std::str::from_utf8(&before[line_start..]).map_or(0, |s| s.chars().count()) + 1;
    Pos {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        column: u32::try_from(column).unwrap_or(u32::MAX),
        len: 1,
    }
}

/// The encoding a byte-order mark at the start names, when it is not UTF-8's.
fn other_bom(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xff, 0xfe]) {
        Some("UTF-16 little-endian")
    } else if bytes.starts_with(&[0xfe, 0xff]) {
        Some("UTF-16 big-endian")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_byte_is_placed_by_offset_line_and_column() {
        let bytes = b"version: 1\ncluster: d\xc3\xa9m\xffo\n".to_vec();
        let err = decode("t.yaml", bytes, None, Kind::Topology).unwrap_err();
        let d = &err.diagnostics.items[0];
        assert_eq!(
            d.problem,
            Problem::NotUtf8 {
                offset: 24,
                byte: 0xff,
                bom: None
            }
        );
        assert_eq!((d.at.line, d.at.column), (2, 13));
        let out = err.diagnostics.render(&err.text, false);
        assert!(out.contains("--> t.yaml:2:13"), "{out}");
        assert!(out.contains("byte 24 (0xff)"), "{out}");
    }

    #[test]
    fn utf16_is_named() {
        let err = decode("t.yaml", vec![0xff, 0xfe, b'v', 0], None, Kind::Plan).unwrap_err();
        let out = err.diagnostics.render(&err.text, false);
        assert!(out.contains("UTF-16 little-endian"), "{out}");
        assert!(out.contains("t.yaml:1:1"), "{out}");
    }

    #[test]
    fn a_file_over_the_limit_says_the_limit() {
        let size = MAX_TOPOLOGY_BYTES + 7;
        let err = decode("t.yaml", b"a".to_vec(), Some(size), Kind::Topology).unwrap_err();
        let out = err.diagnostics.render(&err.text, false);
        assert!(out.contains("the 33554432 bytes (32 MiB)"), "{out}");
        assert!(out.contains(&format!("it has {size} bytes")), "{out}");
    }
}
