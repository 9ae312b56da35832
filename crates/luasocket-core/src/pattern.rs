//! What `receive` reads: a line, everything until the peer closes, or a byte count.

/// A receive pattern of LuaSocket's `client:receive([pattern])`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceivePattern {
    /// `"*l"`: up to the next LF; the LF is dropped and every CR is removed.
    Line,
    /// `"*a"`: everything until the peer closes the connection.
    All,
    /// A number: exactly that many bytes.
    Count(usize),
}

impl ReceivePattern {
    /// Parses a textual pattern. LuaSocket looks at `"*l..."` and `"*a..."`; like Lua
    /// 5.3's `io.read`, the `*` is optional, so `"l"`, `"a"`, `"*line"` and `"all"`
    /// are accepted too. Anything else (`"*x"`, `""`) is not a pattern.
    pub fn parse(text: &[u8]) -> Option<Self> {
        let text = text.strip_prefix(b"*").unwrap_or(text);
        match text.first() {
            Some(b'l') => Some(ReceivePattern::Line),
            Some(b'a') => Some(ReceivePattern::All),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luasocket_and_io_read_spellings() {
        for text in ["*l", "l", "*line", "line"] {
            assert_eq!(
                ReceivePattern::parse(text.as_bytes()),
                Some(ReceivePattern::Line),
                "{text}"
            );
        }
        for text in ["*a", "a", "*all", "all"] {
            assert_eq!(
                ReceivePattern::parse(text.as_bytes()),
                Some(ReceivePattern::All),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_unknown() {
        for text in ["*x", "x", "", "*", "**l", "L", "*n"] {
            assert_eq!(ReceivePattern::parse(text.as_bytes()), None, "{text}");
        }
    }
}
