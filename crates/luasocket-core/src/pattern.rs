//! What `receive` reads: a line, everything until the peer closes, or a byte count.

use crate::{Error, Result};

/// A `receive` pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceivePattern {
    /// `"*l"`: up to a line feed, which is not returned; carriage returns are dropped.
    Line,
    /// `"*a"`: everything until the connection is closed.
    All,
    /// A number: exactly that many bytes.
    Count(usize),
}

impl ReceivePattern {
    /// Parses a string pattern: `"*l"`, `"l"`, `"*a"` or `"a"` (LuaSocket only looks
    /// at the letter after an optional `*`).
    pub fn parse(text: &[u8]) -> Result<Self> {
        let letter = match text {
            [b'*', rest @ ..] => rest.first(),
            other => other.first(),
        };
        match letter {
            Some(b'l') => Ok(ReceivePattern::Line),
            Some(b'a') => Ok(ReceivePattern::All),
            _ => Err(Error::State("invalid receive pattern")),
        }
    }

    /// A byte count; negative counts are not allowed.
    pub fn count(n: f64) -> Result<Self> {
        if n.is_nan() || n < 0.0 {
            return Err(Error::State("invalid receive pattern"));
        }
        Ok(ReceivePattern::Count(n.min(usize::MAX as f64) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_luasocket_patterns() {
        assert_eq!(ReceivePattern::parse(b"*l").unwrap(), ReceivePattern::Line);
        assert_eq!(ReceivePattern::parse(b"l").unwrap(), ReceivePattern::Line);
        assert_eq!(ReceivePattern::parse(b"*a").unwrap(), ReceivePattern::All);
        assert_eq!(ReceivePattern::parse(b"a").unwrap(), ReceivePattern::All);
        assert!(ReceivePattern::parse(b"*x").is_err());
        assert!(ReceivePattern::parse(b"").is_err());
        assert_eq!(
            ReceivePattern::count(3.0).unwrap(),
            ReceivePattern::Count(3)
        );
        assert!(ReceivePattern::count(-1.0).is_err());
    }
}
