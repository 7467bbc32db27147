//! Making text from files, hosts and the command line safe to print on a terminal.
//!
//! Owns one rule: no control character of the input ever reaches a terminal raw (an
//! ESC could recolour, move the cursor or retitle the window, a CR could overwrite a
//! line). They are shown escaped (`\e`, `\t`, `\u{9b}`) so the reader still sees what
//! the file holds. Long values are cut around the interesting part. Pure: no I/O.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must not reach a terminal raw: C0 controls, DEL, C1 controls, and the
/// bidirectional overrides that make text read differently from what it is.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The escaped form of one unsafe character.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\u{1b}' => out.push_str("\\e"),
        c => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

/// `text` with every control character escaped; borrowed when there is none.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Like [`escape`], but keeps line breaks: for multi-line messages.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && is_unsafe(c)) {
        return Cow::Borrowed(text);
    }
    let lines: Vec<Cow<str>> = text.split('\n').map(escape).collect();
    Cow::Owned(lines.join("\n"))
}

/// At most `max` characters of `text`, escaped, with `…` where something was cut.
pub fn escape_cut(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (shown, c) in text.chars().enumerate() {
        if shown >= max {
            out.push('…');
            break;
        }
        if is_unsafe(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// A window of one source line fit for a terminal: at most `width` characters around
/// 0-based character column `col`, escaped, with `…` marking each cut.
///
/// Returns the text and the display column where character `col` now starts, so the
/// caret line can be drawn under it; and the display width of `len` characters from
/// `col` (clipped to the window).
pub fn window(line: &str, col: usize, len: usize, width: usize) -> (String, usize, usize) {
    let total = line.chars().count();
    let col = col.min(total);
    let (from, to) = if total <= width {
        (0, total)
    } else {
        let from = col.saturating_sub(width / 3);
        (from, (from + width).min(total))
    };
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    let mut caret = out.chars().count();
    let mut caret_len = 0;
    for (i, c) in line.chars().enumerate().skip(from).take(to - from) {
        let before = out.chars().count();
        if i == col {
            caret = before;
        }
        if is_unsafe(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
        if i >= col && i < col + len {
            caret_len += out.chars().count() - before;
        }
    }
    if col >= to {
        caret = out.chars().count();
    }
    if to < total {
        out.push('…');
    }
    (out, caret, caret_len.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("\u{1b}[31mred\r\t"), "\\e[31mred\\r\\t");
        assert_eq!(escape("\u{9b}x\u{202e}"), "\\u{9b}x\\u{202e}");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
        assert_eq!(escape_lines("a\u{1b}\nb"), "a\\e\nb");
    }

    #[test]
    fn long_values_are_cut() {
        assert_eq!(escape_cut("abcdef", 3), "abc…");
        assert_eq!(escape_cut("ab", 3), "ab");
    }

    #[test]
    fn a_window_keeps_the_caret_in_view() {
        let line = "x".repeat(1000) + "HERE" + &"y".repeat(1000);
        let (text, caret, len) = window(&line, 1000, 4, 60);
        assert!(text.chars().count() <= 62, "{text}");
        assert_eq!(
            text.chars().skip(caret).take(len).collect::<String>(),
            "HERE"
        );
        let (text, caret, len) = window("a\u{1b}b", 1, 1, 60);
        assert_eq!((text.as_str(), caret, len), ("a\\eb", 1, 2));
    }
}
