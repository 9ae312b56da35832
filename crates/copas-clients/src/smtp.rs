//! SMTP wire formats: dot-stuffing of the message data (RFC 5321 section 4.5.2), the
//! header block of a message or MIME part, and MIME boundaries.
//!
//! The SMTP dialogue and the assembly of `smtp.message` sources live in the Lua module
//! `socket.smtp`, which hands the pieces to these functions. Not a MIME parser.
//!
//! ```
//! use copas_clients::smtp::{header_block, DotStuffer};
//! let mut stuffer = DotStuffer::new();
//! let mut wire = stuffer.push(b".hidden\r\n");
//! wire.extend(stuffer.push(b"..\r\nend\r\n"));
//! assert_eq!(wire, b"..hidden\r\n...\r\nend\r\n");
//! // The data ended with a line break: the terminator adds no empty line.
//! assert_eq!(stuffer.terminator(), b".\r\n");
//! let block = header_block(&[(b"Subject".as_slice(), b"hi".as_slice())]).unwrap();
//! assert_eq!(block, b"Subject: hi\r\n\r\n");
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Error;

/// Doubles every `.` that starts a line, across chunk boundaries, and picks the
/// end-of-data terminator.
#[derive(Debug)]
pub struct DotStuffer {
    /// The next byte starts a line: the data is empty so far or ended with CRLF.
    line_start: bool,
    /// The last byte was CR.
    after_cr: bool,
}

impl Default for DotStuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl DotStuffer {
    /// A stuffer at the start of the data.
    pub fn new() -> Self {
        DotStuffer {
            line_start: true,
            after_cr: false,
        }
    }

    /// The stuffed form of the next chunk.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let dots = chunk.iter().filter(|&&b| b == b'.').count();
        let mut out = Vec::with_capacity(chunk.len() + dots.min(64));
        for &b in chunk {
            if self.line_start && b == b'.' {
                out.push(b'.');
            }
            out.push(b);
            self.line_start = self.after_cr && b == b'\n';
            self.after_cr = b == b'\r';
        }
        out
    }

    /// What ends the data: `.\r\n` when it ended with a line break (or is empty),
    /// else `\r\n.\r\n`, so the message arrives exactly as given. (LuaSocket always
    /// sends the latter, which adds an empty line to a message that ends with one.)
    pub fn terminator(&self) -> &'static [u8] {
        if self.line_start {
            b".\r\n"
        } else {
            b"\r\n.\r\n"
        }
    }
}

/// `Name: value\r\n` for each field, then the empty line that ends the block.
///
/// Names must be printable ASCII without `:`; values may hold line breaks only as
/// folding (CRLF followed by a space or tab), so no field can start a new header
/// or end the block early.
pub fn header_block<N, V>(fields: &[(N, V)]) -> Result<Vec<u8>, Error>
where
    N: AsRef<[u8]>,
    V: AsRef<[u8]>,
{
    let mut out = Vec::new();
    for (name, value) in fields {
        let (name, value) = (name.as_ref(), value.as_ref());
        let lossy = || String::from_utf8_lossy(name).into_owned();
        if name.is_empty() || !name.iter().all(|&b| (33..=126).contains(&b) && b != b':') {
            return Err(Error::InvalidHeaderName(lossy()));
        }
        if !folding_only(value) {
            return Err(Error::InvalidHeaderValue(lossy()));
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(out)
}

/// True when every CR and LF in `value` is part of a CRLF followed by SP or HT,
/// and there is no NUL.
fn folding_only(value: &[u8]) -> bool {
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            0 | b'\n' => return false,
            b'\r' => {
                let folded = value.get(i + 1) == Some(&b'\n')
                    && matches!(value.get(i + 2), Some(b' ' | b'\t'));
                if !folded {
                    return false;
                }
                i += 2;
            }
            _ => {}
        }
        i += 1;
    }
    true
}

static BOUNDARIES: AtomicU64 = AtomicU64::new(0);

/// A fresh MIME boundary. It starts with `=_`, which neither base64 nor
/// quoted-printable text can contain, and is unique within the process (a counter)
/// and across processes (time and process id).
pub fn boundary() -> String {
    let count = BOUNDARIES.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("=_copas.{nanos:x}.{}.{count}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stuff(chunks: &[&[u8]]) -> (Vec<u8>, &'static [u8]) {
        let mut s = DotStuffer::new();
        let mut out = Vec::new();
        for c in chunks {
            out.extend(s.push(c));
        }
        (out, s.terminator())
    }

    #[test]
    fn stuffing_across_chunks() {
        assert_eq!(
            stuff(&[b"a\r", b"\n.b\r\n", b".", b"\r\n"]),
            (b"a\r\n..b\r\n..\r\n".to_vec(), &b".\r\n"[..])
        );
        assert_eq!(stuff(&[b"."]), (b"..".to_vec(), &b"\r\n.\r\n"[..]));
        assert_eq!(stuff(&[]), (Vec::new(), &b".\r\n"[..]));
        assert_eq!(
            stuff(&[b"no dot\n.bare lf", b" a.b"]),
            (b"no dot\n.bare lf a.b".to_vec(), &b"\r\n.\r\n"[..])
        );
        assert_eq!(stuff(&[b"x\r"]).1, b"\r\n.\r\n");
    }

    #[test]
    fn header_blocks() {
        let fields = [
            ("From", "<a@b>"),
            ("Subject", "folded\r\n continues"),
            ("X-Empty", ""),
        ];
        assert_eq!(
            header_block(&fields).unwrap(),
            b"From: <a@b>\r\nSubject: folded\r\n continues\r\nX-Empty: \r\n\r\n"
        );
        let none: [(&str, &str); 0] = [];
        assert_eq!(header_block(&none).unwrap(), b"\r\n");
    }

    #[test]
    fn header_injection_is_refused() {
        for value in ["a\r\nBcc: x", "a\nb", "a\rb", "a\r\n", "a\0"] {
            assert_eq!(
                header_block(&[("Subject", value)]),
                Err(Error::InvalidHeaderValue("Subject".into())),
                "{value:?}"
            );
        }
        for name in ["", "Sub ject", "Subject:", "Sub\r\nject"] {
            assert!(matches!(
                header_block(&[(name, "v")]),
                Err(Error::InvalidHeaderName(_))
            ));
        }
    }

    #[test]
    fn boundaries_differ() {
        let a = boundary();
        let b = boundary();
        assert_ne!(a, b);
        assert!(a.starts_with("=_copas."));
        assert!(a.len() <= 70, "RFC 2046 limits boundaries to 70 characters");
    }
}
