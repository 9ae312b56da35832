//! Replies and commands of the line protocols FTP and SMTP (LuaSocket's `socket.tp`).
//!
//! A reply is a three-digit code and text, on one line (`250 ok`) or on several: the
//! first has a hyphen after the code and the last repeats the code followed by a space
//! (RFC 959 section 4.2, RFC 5321 section 4.2.1). As in LuaSocket, the text handed back
//! is every line of the reply, joined with `\n`. Not for HTTP, whose status line and
//! headers have another shape.
//!
//! ```
//! use copas_clients::reply::{command_line, ReplyParser};
//! assert_eq!(command_line(b"retr", Some(b"a.txt")).unwrap(), b"RETR a.txt\r\n");
//! assert!(command_line(b"retr", Some(b"a\r\nDELE b")).is_err());
//! let reply = ReplyParser::new().push_line(b"331 password please").unwrap().unwrap();
//! assert_eq!(reply.code, 331);
//! ```

use crate::Error;

/// Lines a reply may have; real servers send a few dozen at most (EHLO, HELP).
const MAX_LINES: usize = 1000;
/// Bytes a reply may have, all lines together.
const MAX_BYTES: usize = 256 * 1024;

/// A complete reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit code, 0 to 999.
    pub code: u16,
    /// Every line of the reply, codes included, joined with `\n`.
    pub text: Vec<u8>,
}

/// Assembles one reply from the lines read off the connection, CR/LF removed.
#[derive(Debug, Default)]
pub struct ReplyParser {
    /// The code of the first line of a multi-line reply under way.
    code: Option<[u8; 3]>,
    text: Vec<u8>,
    lines: usize,
}

/// The code at the start of `line`, if it starts with three digits.
fn code_of(line: &[u8]) -> Option<[u8; 3]> {
    match line {
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            Some([*a, *b, *c])
        }
        _ => None,
    }
}

fn numeric(code: [u8; 3]) -> u16 {
    code.iter().fold(0, |n, d| n * 10 + u16::from(d - b'0'))
}

impl ReplyParser {
    /// A parser waiting for the first line of a reply.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next line. Gives `Some(reply)` when it completed a reply (the parser
    /// is then ready for the next one), `None` when more lines are needed.
    pub fn push_line(&mut self, line: &[u8]) -> Result<Option<Reply>, Error> {
        self.lines += 1;
        if self.lines > MAX_LINES || self.text.len() + line.len() + 1 > MAX_BYTES {
            *self = Self::new();
            return Err(Error::ReplyTooLong);
        }
        let Some(first) = self.code else {
            let Some(code) = code_of(line) else {
                *self = Self::new();
                return Err(Error::InvalidReply);
            };
            if line.get(3) == Some(&b'-') {
                self.code = Some(code);
                self.text.extend_from_slice(line);
                return Ok(None);
            }
            *self = Self::new();
            return Ok(Some(Reply {
                code: numeric(code),
                text: line.to_vec(),
            }));
        };
        self.text.push(b'\n');
        self.text.extend_from_slice(line);
        // The last line repeats the code; a bare code ends the reply too (RFC 5321
        // allows `250` alone), where LuaSocket would wait for more.
        let last = code_of(line) == Some(first) && matches!(line.get(3), None | Some(b' '));
        if !last {
            return Ok(None);
        }
        let text = std::mem::take(&mut self.text);
        *self = Self::new();
        Ok(Some(Reply {
            code: numeric(first),
            text,
        }))
    }
}

/// `VERB argument\r\n`, the verb in upper case (LuaSocket's `tp:command`).
///
/// The verb must be letters and digits; the argument must not hold CR, LF or NUL,
/// which would smuggle a second command onto the connection.
pub fn command_line(verb: &[u8], argument: Option<&[u8]>) -> Result<Vec<u8>, Error> {
    if verb.is_empty() || !verb.iter().all(u8::is_ascii_alphanumeric) {
        return Err(Error::InvalidCommand(
            String::from_utf8_lossy(verb).into_owned(),
        ));
    }
    let mut line = verb.to_ascii_uppercase();
    if let Some(argument) = argument {
        if argument.iter().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(Error::CommandInjection);
        }
        line.push(b' ');
        line.extend_from_slice(argument);
    }
    line.extend_from_slice(b"\r\n");
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(lines: &[&[u8]]) -> Vec<Result<Option<Reply>, Error>> {
        let mut parser = ReplyParser::new();
        lines.iter().map(|l| parser.push_line(l)).collect()
    }

    #[test]
    fn single_line() {
        let got = feed(&[b"220 ready"]);
        assert_eq!(
            got,
            vec![Ok(Some(Reply {
                code: 220,
                text: b"220 ready".to_vec()
            }))]
        );
    }

    #[test]
    fn code_without_text() {
        let reply = ReplyParser::new().push_line(b"250").unwrap().unwrap();
        assert_eq!(reply.code, 250);
    }

    #[test]
    fn multi_line_with_inner_lines_that_look_like_codes() {
        let got = feed(&[
            b"250-mail.example",
            b"250-SIZE 100",
            b"251 not the end, another code",
            b"  indented text",
            b"250 AUTH LOGIN PLAIN",
        ]);
        assert!(got[..4].iter().all(|r| r == &Ok(None)));
        let reply = got[4].clone().unwrap().unwrap();
        assert_eq!(reply.code, 250);
        assert_eq!(
            reply.text,
            b"250-mail.example\n250-SIZE 100\n251 not the end, another code\n  indented text\n250 AUTH LOGIN PLAIN"
        );
    }

    #[test]
    fn multi_line_hyphen_on_last_code_continues() {
        let got = feed(&[b"211-a", b"211-b", b"211 end"]);
        assert_eq!(got[1], Ok(None));
        assert_eq!(got[2].clone().unwrap().unwrap().code, 211);
    }

    #[test]
    fn parser_is_reusable() {
        let mut parser = ReplyParser::new();
        assert!(parser.push_line(b"220-a").unwrap().is_none());
        assert_eq!(parser.push_line(b"220 b").unwrap().unwrap().code, 220);
        assert_eq!(
            parser.push_line(b"331 c").unwrap().unwrap().text,
            b"331 c".to_vec()
        );
    }

    #[test]
    fn bad_first_lines() {
        for line in [&b""[..], b"22", b"abc hello", b"2x0 no", b" 220 x"] {
            assert_eq!(
                ReplyParser::new().push_line(line),
                Err(Error::InvalidReply),
                "{line:?}"
            );
        }
    }

    #[test]
    fn endless_reply_is_cut() {
        let mut parser = ReplyParser::new();
        parser.push_line(b"250-start").unwrap();
        let mut result = Ok(None);
        for _ in 0..MAX_LINES {
            result = parser.push_line(b"250-more");
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(Error::ReplyTooLong));
    }

    #[test]
    fn commands() {
        assert_eq!(command_line(b"quit", None).unwrap(), b"QUIT\r\n");
        assert_eq!(
            command_line(b"Mail", Some(b"FROM:<a@b>")).unwrap(),
            b"MAIL FROM:<a@b>\r\n"
        );
        assert_eq!(command_line(b"stor", Some(b"")).unwrap(), b"STOR \r\n");
        for bad in [&b"a\rb"[..], b"a\nb", b"a\0b", b"\r\n"] {
            assert_eq!(
                command_line(b"stor", Some(bad)),
                Err(Error::CommandInjection)
            );
        }
        for verb in [&b""[..], b"RE TR", b"RETR\r\n", b"X-Y"] {
            assert!(matches!(
                command_line(verb, None),
                Err(Error::InvalidCommand(_))
            ));
        }
    }
}
