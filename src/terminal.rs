//! Making text from files, hosts and the command line safe to print on a terminal.
//!
//! Owns one rule: no control character of the input ever reaches a terminal raw (an
//! ESC could recolour, move the cursor or retitle the window, a CR could overwrite a
//! line). They are shown escaped (`\e`, `\t`, `\u{9b}`) so the reader still sees what
//! the file holds. Long values are cut around the interesting part. Pure: no I/O of
//! its own ([`Sanitized`] only forwards to the writer it is given).
//!
//! Where it is used (the boundaries): diagnostics escape each piece of file text; error
//! chains are escaped once in `cli::report` and wherever the CLI prints an error itself;
//! the text and markdown plan renderers and `graph` write through [`Sanitized`], which
//! escapes everything but line breaks and lets only the renderer's own colour codes
//! through, out of band ([`Sanitized::style`]).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io;

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

/// `value` displayed with [`escape_lines`]: for error chains (`format_args!("{err:#}")`),
/// whose causes quote paths, host replies and file text.
pub fn display(value: impl std::fmt::Display) -> String {
    let text = value.to_string();
    match escape_lines(&text) {
        Cow::Borrowed(_) => text,
        Cow::Owned(escaped) => escaped,
    }
}

/// Like [`escape`], but keeps line breaks: for multi-line messages.
pub fn escape_lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && is_unsafe(c)) {
        return Cow::Borrowed(text);
    }
    let lines: Vec<Cow<str>> = text.split('\n').map(escape).collect();
    Cow::Owned(lines.join("\n"))
}

/// A writer that escapes every unsafe character of what passes through it except line
/// breaks (`\n`), so a name or value from a file or a host can never act on the
/// terminal. The renderer's own colour codes go through [`Sanitized::style`] instead.
pub struct Sanitized<W: io::Write> {
    inner: W,
    /// The start of a UTF-8 sequence cut by the end of a write, completed by the next.
    pending: Vec<u8>,
    /// Off only for a caller that escapes everything written afterwards, in one pass.
    checking: bool,
}

impl<W: io::Write> Sanitized<W> {
    /// Escapes what is written and forwards it to `inner`.
    pub fn new(inner: W) -> Self {
        Sanitized {
            inner,
            pending: Vec::new(),
            checking: true,
        }
    }

    /// Turns escaping off (or back on), for a caller that writes no style codes and
    /// escapes all of the output itself at the end ([`escape_lines`]), in one pass.
    pub fn check(&mut self, on: bool) {
        self.checking = on;
    }

    /// Writes `code` (an ANSI style the caller chose, never input text) unescaped.
    pub fn style(&mut self, code: &str) -> io::Result<()> {
        self.inner.write_all(code.as_bytes())
    }

    /// Writes `bytes` that a `Sanitized` writer already escaped (a plan section rendered
    /// ahead on another thread) as they are.
    pub fn write_escaped(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.inner.write_all(bytes)
    }

    /// The writer underneath.
    pub fn into_inner(self) -> W {
        self.inner
    }

    fn pass(&mut self, text: &str) -> io::Result<()> {
        if !text.chars().any(|c| c != '\n' && is_unsafe(c)) {
            return self.inner.write_all(text.as_bytes());
        }
        let mut out = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            if c != '\n' && is_unsafe(c) {
                push_escaped(&mut out, c);
            } else {
                out.push(c);
            }
        }
        self.inner.write_all(out.as_bytes())
    }
}

/// Whether `buf` is printable ASCII and line breaks only, nearly everything a plan
/// writes, which passes as it is; checked byte-wise without early exit so the compiler
/// checks many bytes at once.
#[inline]
pub(crate) fn is_plain(buf: &[u8]) -> bool {
    buf.iter().fold(true, |all, &b| {
        all & ((b' '..=b'~').contains(&b) | (b == b'\n'))
    })
}

impl<W: io::Write> io::Write for Sanitized<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pending.is_empty() && (!self.checking || is_plain(buf)) {
            self.inner.write_all(buf)?;
            return Ok(buf.len());
        }
        let joined;
        let bytes = if self.pending.is_empty() {
            buf
        } else {
            let mut all = std::mem::take(&mut self.pending);
            all.extend_from_slice(buf);
            joined = all;
            &joined[..]
        };
        match std::str::from_utf8(bytes) {
            Ok(text) => self.pass(text)?,
            Err(err) => {
                let good = err.valid_up_to();
                // Valid up to `good`; then an invalid byte or an unfinished sequence.
                let text = std::str::from_utf8(&bytes[..good]).unwrap_or_default();
                self.pass(text)?;
                let rest = &bytes[good..];
                match err.error_len() {
                    // Cut at the end of this write: wait for the rest of it.
                    None => self.pending = rest.to_vec(),
                    Some(bad) => {
                        // Not text: each bad byte shown as an escape, then the rest.
                        for b in &rest[..bad] {
                            self.inner.write_all(format!("\\x{b:02x}").as_bytes())?;
                        }
                        let tail = rest[bad..].to_vec();
                        self.write_all(&tail)?;
                    }
                }
            }
        }
        Ok(buf.len())
    }

    /// `write` always takes the whole buffer; the common case, with nothing to escape and
    /// nothing pending, goes straight to the writer beneath, inlined, without the default
    /// `write_all`'s loop over partial writes (a large plan makes millions of small writes).
    #[inline]
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.pending.is_empty() && (!self.checking || is_plain(buf)) {
            return self.inner.write_all(buf);
        }
        self.write(buf).map(drop)
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let bytes = std::mem::take(&mut self.pending);
            for b in bytes {
                self.inner.write_all(format!("\\x{b:02x}").as_bytes())?;
            }
        }
        self.inner.flush()
    }
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
    fn a_sanitized_writer_escapes_all_but_line_breaks_and_styles() {
        use std::io::Write as _;
        let mut out = Sanitized::new(Vec::new());
        out.style("\u{1b}[1m").unwrap();
        writeln!(out, "host \u{1b}]0;pwned\u{7}").unwrap();
        // A C1 control (U+009B, two bytes) cut between two writes is still caught.
        out.write_all(&[b'a', 0xc2]).unwrap();
        out.write_all(&[0x9b, b'b', 0xff, b'\n']).unwrap();
        out.flush().unwrap();
        let text = String::from_utf8(out.into_inner()).unwrap();
        assert_eq!(text, "\u{1b}[1mhost \\e]0;pwned\\u{7}\na\\u{9b}b\\xff\n");
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
