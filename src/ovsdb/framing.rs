//! Splits a byte stream into JSON-RPC messages.
//!
//! OVSDB sends JSON objects back to back with no delimiter (a newline is customary but
//! not promised), so a read may end inside a message or hold several. The framer keeps
//! the bytes it was given and hands out each complete top-level object, found by
//! counting braces outside strings. It never blocks and never loses a partial message,
//! so a read timeout in the middle of a message is harmless. Pure: no I/O.

use serde_json::Value as Json;

/// A framing failure: the peer sent something that is not a JSON object stream.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A byte outside any object that is not whitespace.
    #[error("unexpected byte 0x{byte:02x} between messages")]
    Stray {
        /// The byte.
        byte: u8,
    },
    /// A complete object that serde_json could not parse.
    #[error("malformed JSON message: {0}")]
    Json(#[from] serde_json::Error),
}

/// Accumulates bytes and yields complete JSON objects.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned for the current object.
    scanned: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Framer {
    /// An empty framer.
    pub fn new() -> Framer {
        Framer::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Whether a partial message is buffered.
    pub fn has_partial(&self) -> bool {
        self.buf.iter().any(|b| !b.is_ascii_whitespace())
    }

    /// The next complete message, if one is buffered.
    pub fn next_message(&mut self) -> Result<Option<Json>, FrameError> {
        while self.scanned < self.buf.len() {
            let byte = self.buf[self.scanned];
            self.scanned += 1;
            if self.depth == 0 {
                if byte.is_ascii_whitespace() {
                    // Drop whitespace between messages so the buffer starts at a '{'.
                    self.buf.drain(..self.scanned);
                    self.scanned = 0;
                    continue;
                }
                if byte != b'{' {
                    return Err(FrameError::Stray { byte });
                }
                self.depth = 1;
                continue;
            }
            if self.in_string {
                match (self.escaped, byte) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        let message: Vec<u8> = self.buf.drain(..self.scanned).collect();
                        self.scanned = 0;
                        return Ok(Some(serde_json::from_slice(&message)?));
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn drain(framer: &mut Framer) -> Vec<Json> {
        let mut out = Vec::new();
        while let Some(m) = framer.next_message().expect("valid stream") {
            out.push(m);
        }
        out
    }

    #[test]
    fn a_message_split_at_every_byte_comes_out_once() {
        let text = br#"{"id":1,"result":[{"rows":[{"name":"a}\"{["}]}],"error":null}"#;
        let mut framer = Framer::new();
        let mut got = Vec::new();
        for b in text.iter() {
            framer.push(std::slice::from_ref(b));
            got.extend(drain(&mut framer));
        }
        assert_eq!(
            got,
            vec![json!({"id":1,"result":[{"rows":[{"name":"a}\"{["}]}],"error":null})]
        );
        assert!(!framer.has_partial());
    }

    #[test]
    fn several_messages_in_one_read_come_out_in_order() {
        let mut framer = Framer::new();
        framer.push(b"{\"a\":1}{\"b\":[2]}\n {\"c\":\"}\"}{\"d\"");
        assert_eq!(
            drain(&mut framer),
            vec![json!({"a":1}), json!({"b":[2]}), json!({"c":"}"})]
        );
        assert!(framer.has_partial());
        framer.push(b":4}");
        assert_eq!(drain(&mut framer), vec![json!({"d":4})]);
    }

    #[test]
    fn garbage_between_messages_is_an_error() {
        let mut framer = Framer::new();
        framer.push(b"{}x");
        assert_eq!(
            framer.next_message().expect("first is fine"),
            Some(json!({}))
        );
        assert!(matches!(
            framer.next_message(),
            Err(FrameError::Stray { byte: b'x' })
        ));
    }
}
