//! The response parser: status line and headers (with `httparse`), then the body
//! framed by Content-Length, chunked transfer coding or the end of the connection.
//!
//! It takes bytes in pieces of any size and keeps only what it must (the head, or one
//! chunk-size or trailer line), so a body of any length goes through it in constant
//! memory.

use super::{quote, HttpError, Result};

/// Size limits that keep a hostile server from making the client buffer without end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Status line plus headers, in bytes (also the limit for all trailers together).
    pub max_head: usize,
    /// Number of header fields.
    pub max_headers: usize,
    /// One chunk-size or trailer line, in bytes.
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 64 * 1024,
            max_headers: 100,
            max_line: 8 * 1024,
        }
    }
}

/// Interim (1xx) responses skipped before a final one; more is taken as hostile.
const MAX_INTERIM: usize = 16;

/// The status line and headers of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub code: u16,
    /// The status line as received, without its line end.
    pub status: Vec<u8>,
    /// The minor HTTP version: 1 for HTTP/1.1, 0 for HTTP/1.0.
    pub minor_version: u8,
    /// Header fields in order received, names lowercased, values as sent (folded
    /// lines joined).
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    /// Every value of the header `name` (lowercase), in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Whether a comma-separated header `name` lists `token` (case-insensitive).
    fn lists(&self, name: &str, token: &str) -> bool {
        self.values(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    }
}

/// What the parser needs next; a caller that reads exactly this never reads past the
/// end of the response, so the connection can carry the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// One line (head, chunk size, chunk end, trailer).
    Line,
    /// Up to this many body bytes.
    Bytes(u64),
    /// Everything until the peer closes the connection.
    UntilClose,
    /// The response is complete.
    Done,
}

#[derive(Debug, Clone)]
enum State {
    Head,
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    ChunkEnd,
    Trailers,
    UntilClose,
    Done,
    Failed(HttpError),
}

/// Parses one response to a request made with a given method.
#[derive(Debug)]
pub struct ResponseParser {
    head_request: bool,
    limits: Limits,
    /// The head received so far, or the current chunk-size / trailer line.
    buf: Vec<u8>,
    /// Where the search for the end of the head resumes in `buf`.
    line_start: usize,
    state: State,
    head: Option<Head>,
    interim: usize,
    trailers: Vec<(String, Vec<u8>)>,
    trailer_bytes: usize,
    persistent: bool,
    content_length: u64,
    body_received: u64,
}

impl ResponseParser {
    /// A parser for the response to a `method` request (a HEAD response has no body).
    pub fn new(method: &str) -> Self {
        Self::with_limits(method, Limits::default())
    }

    /// Like [`ResponseParser::new`] with other size limits.
    pub fn with_limits(method: &str, limits: Limits) -> Self {
        ResponseParser {
            head_request: method.eq_ignore_ascii_case("HEAD"),
            limits,
            buf: Vec::new(),
            line_start: 0,
            state: State::Head,
            head: None,
            interim: 0,
            trailers: Vec::new(),
            trailer_bytes: 0,
            persistent: false,
            content_length: 0,
            body_received: 0,
        }
    }

    /// The status line and headers, once received.
    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    /// Trailer fields of a chunked body (names lowercased), once received.
    pub fn trailers(&self) -> &[(String, Vec<u8>)] {
        &self.trailers
    }

    /// What to read next.
    pub fn want(&self) -> Want {
        match self.state {
            State::Head | State::ChunkSize | State::ChunkEnd | State::Trailers => Want::Line,
            State::Length(n) | State::ChunkData(n) => Want::Bytes(n),
            State::UntilClose => Want::UntilClose,
            State::Done | State::Failed(_) => Want::Done,
        }
    }

    /// Whether the response is complete and the connection may carry another request.
    pub fn keep_alive(&self) -> bool {
        matches!(self.state, State::Done) && self.persistent
    }

    /// Takes received bytes, appending body bytes to `body`. Returns how many bytes of
    /// `data` were used: all of them, unless the response ended inside `data`.
    /// After an error every call returns the same error.
    pub fn feed(&mut self, data: &[u8], body: &mut Vec<u8>) -> Result<usize> {
        match self.step(data, body) {
            Ok(n) => Ok(n),
            Err(e) => {
                self.state = State::Failed(e.clone());
                Err(e)
            }
        }
    }

    /// Tells the parser the connection has ended. Fine for a body that runs until the
    /// close or a complete response; an error otherwise.
    pub fn finish(&mut self) -> Result<()> {
        self.persistent = false;
        let error = match &self.state {
            State::Done => return Ok(()),
            State::UntilClose => {
                self.state = State::Done;
                return Ok(());
            }
            State::Failed(e) => return Err(e.clone()),
            State::Head if self.buf.is_empty() && self.interim == 0 => HttpError::Closed,
            State::Head => HttpError::Truncated("in the response head".into()),
            State::Length(_) => HttpError::Truncated(format!(
                "content-length {}, received {}",
                self.content_length, self.body_received
            )),
            State::ChunkSize | State::ChunkData(_) | State::ChunkEnd => {
                HttpError::Truncated(format!(
                    "chunked body, {} bytes received, last chunk missing",
                    self.body_received
                ))
            }
            State::Trailers => HttpError::Truncated("in the trailers".into()),
        };
        self.state = State::Failed(error.clone());
        Err(error)
    }

    fn step(&mut self, data: &[u8], body: &mut Vec<u8>) -> Result<usize> {
        let mut used = 0;
        while used < data.len() {
            let rest = &data[used..];
            match self.state.clone() {
                State::Failed(e) => return Err(e),
                State::Done => break,
                State::Head => {
                    self.buf.extend_from_slice(rest);
                    used = data.len();
                    if let Some(end) = self.head_end()? {
                        let leftover = self.buf.split_off(end);
                        self.take_head()?;
                        // Bytes after the head belong to the body (or the next head after
                        // an interim response): give them back to the loop.
                        used -= leftover.len();
                    }
                }
                State::Length(remaining) => {
                    let n = take(rest, remaining, body);
                    used += n;
                    self.body_received += n as u64;
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::Done
                    } else {
                        State::Length(left)
                    };
                }
                State::ChunkData(remaining) => {
                    let n = take(rest, remaining, body);
                    used += n;
                    self.body_received += n as u64;
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        State::ChunkEnd
                    } else {
                        State::ChunkData(left)
                    };
                }
                State::UntilClose => {
                    body.extend_from_slice(rest);
                    self.body_received += rest.len() as u64;
                    used = data.len();
                }
                State::ChunkSize | State::ChunkEnd | State::Trailers => {
                    let (n, complete) = self.take_line(rest)?;
                    used += n;
                    if complete {
                        let line = std::mem::take(&mut self.buf);
                        self.on_line(strip_eol(&line))?;
                    }
                }
            }
        }
        Ok(used)
    }

    /// Appends bytes up to and including the next LF to `buf`; says whether the line
    /// is complete.
    fn take_line(&mut self, data: &[u8]) -> Result<(usize, bool)> {
        let (n, complete) = match data.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (data.len(), false),
        };
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() > self.limits.max_line {
            return Err(match self.state {
                State::Trailers => HttpError::HeadTooLarge(self.limits.max_line),
                _ => {
                    HttpError::ChunkSize(format!("line longer than {} bytes", self.limits.max_line))
                }
            });
        }
        Ok((n, complete))
    }

    fn on_line(&mut self, line: &[u8]) -> Result<()> {
        match self.state {
            State::ChunkSize => {
                let size = parse_chunk_size(line)?;
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::ChunkData(size)
                };
            }
            State::ChunkEnd => {
                if !line.is_empty() {
                    return Err(HttpError::ChunkEnd);
                }
                self.state = State::ChunkSize;
            }
            State::Trailers => {
                self.trailer_bytes += line.len() + 2;
                if self.trailer_bytes > self.limits.max_head {
                    return Err(HttpError::HeadTooLarge(self.limits.max_head));
                }
                if line.is_empty() {
                    self.state = State::Done;
                } else if line[0] == b' ' || line[0] == b'\t' {
                    let last = self.trailers.last_mut().ok_or_else(|| {
                        HttpError::Headers(format!("continuation line {}", quote(line)))
                    })?;
                    last.1.extend_from_slice(line);
                } else {
                    let colon = line
                        .iter()
                        .position(|&b| b == b':')
                        .filter(|&i| i > 0)
                        .ok_or_else(|| HttpError::Headers(format!("trailer {}", quote(line))))?;
                    let name =
                        String::from_utf8_lossy(line[..colon].trim_ascii()).to_ascii_lowercase();
                    let value = line[colon + 1..].trim_ascii().to_vec();
                    if self.trailers.len() >= self.limits.max_headers {
                        return Err(HttpError::TooManyHeaders(self.limits.max_headers));
                    }
                    self.trailers.push((name, value));
                }
            }
            _ => unreachable!("on_line is only called in line states"),
        }
        Ok(())
    }

    /// The length of the head in `buf` if it is complete (the index after the empty
    /// line), scanning only what was not scanned before.
    fn head_end(&mut self) -> Result<Option<usize>> {
        let mut found = None;
        while let Some(i) = self.buf[self.line_start..].iter().position(|&b| b == b'\n') {
            let end = self.line_start + i;
            let line = strip_eol(&self.buf[self.line_start..=end]);
            let first = self.line_start == 0;
            self.line_start = end + 1;
            if line.is_empty() && !first {
                found = Some(end + 1);
                break;
            }
        }
        let size = found.unwrap_or(self.buf.len());
        if size > self.limits.max_head {
            return Err(HttpError::HeadTooLarge(self.limits.max_head));
        }
        Ok(found)
    }

    /// Parses the complete head in `buf` and sets up body framing.
    fn take_head(&mut self) -> Result<()> {
        let raw = std::mem::take(&mut self.buf);
        self.line_start = 0;
        let head = parse_head(&raw, self.limits.max_headers)?;
        if (100..200).contains(&head.code) && head.code != 101 {
            self.interim += 1;
            if self.interim > MAX_INTERIM {
                return Err(HttpError::Headers(format!(
                    "more than {MAX_INTERIM} interim (1xx) responses"
                )));
            }
            return Ok(());
        }
        self.persistent = if head.minor_version >= 1 {
            !head.lists("connection", "close")
        } else {
            head.lists("connection", "keep-alive")
        };
        self.state = self.framing(&head)?;
        self.head = Some(head);
        Ok(())
    }

    /// How the body is delimited (RFC 9112 section 6.3).
    fn framing(&mut self, head: &Head) -> Result<State> {
        if self.head_request || head.code == 204 || head.code == 304 {
            return Ok(State::Done);
        }
        if head.code == 101 {
            self.persistent = false;
            return Ok(State::Done);
        }
        let codings: Vec<Vec<u8>> = head
            .values("transfer-encoding")
            .flat_map(|v| v.split(|&b| b == b','))
            .map(|t| t.trim_ascii().to_ascii_lowercase())
            .filter(|t| !t.is_empty() && t.as_slice() != b"identity")
            .collect();
        if !codings.is_empty() {
            if head.values("content-length").next().is_some() {
                // Both framings: the message may be a smuggling attempt; never reuse.
                self.persistent = false;
            }
            if codings.last().map(Vec::as_slice) == Some(b"chunked") {
                return Ok(State::ChunkSize);
            }
            self.persistent = false;
            return Ok(State::UntilClose);
        }
        let mut length: Option<u64> = None;
        for value in head
            .values("content-length")
            .flat_map(|v| v.split(|&b| b == b','))
        {
            let value = value.trim_ascii();
            let n = parse_decimal(value).ok_or_else(|| HttpError::ContentLength(quote(value)))?;
            if length.is_some_and(|l| l != n) {
                return Err(HttpError::ContentLength("conflicting values".into()));
            }
            length = Some(n);
        }
        match length {
            Some(0) => Ok(State::Done),
            Some(n) => {
                self.content_length = n;
                Ok(State::Length(n))
            }
            None => {
                self.persistent = false;
                Ok(State::UntilClose)
            }
        }
    }
}

/// Moves up to `limit` bytes of `data` into `body`; returns how many.
fn take(data: &[u8], limit: u64, body: &mut Vec<u8>) -> usize {
    let n = usize::try_from(limit).map_or(data.len(), |l| l.min(data.len()));
    body.extend_from_slice(&data[..n]);
    n
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

fn parse_chunk_size(line: &[u8]) -> Result<u64> {
    let size = line.split(|&b| b == b';').next().unwrap_or_default();
    let size = size.trim_ascii();
    if size.is_empty() || size.len() > 16 || !size.iter().all(u8::is_ascii_hexdigit) {
        return Err(HttpError::ChunkSize(quote(line)));
    }
    let text = std::str::from_utf8(size).map_err(|_| HttpError::ChunkSize(quote(line)))?;
    u64::from_str_radix(text, 16).map_err(|_| HttpError::ChunkSize(quote(line)))
}

fn parse_head(raw: &[u8], max_headers: usize) -> Result<Head> {
    let status_end = raw.iter().position(|&b| b == b'\n').unwrap_or(raw.len());
    let status = strip_eol(&raw[..status_end]).to_vec();
    let mut slots = vec![httparse::EMPTY_HEADER; max_headers];
    let mut response = httparse::Response::new(&mut slots);
    let mut config = httparse::ParserConfig::default();
    config.allow_obsolete_multiline_headers_in_responses(true);
    config.allow_spaces_after_header_name_in_responses(true);
    match config.parse_response(&mut response, raw) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(HttpError::Headers("incomplete header block".into()));
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(HttpError::TooManyHeaders(max_headers));
        }
        Err(httparse::Error::Version | httparse::Error::Status | httparse::Error::Token) => {
            return Err(HttpError::StatusLine(quote(&status)));
        }
        Err(e) if response.code.is_none() => {
            return Err(HttpError::StatusLine(format!("{} ({e})", quote(&status))));
        }
        Err(e) => return Err(HttpError::Headers(e.to_string())),
    }
    let (Some(code), Some(minor_version)) = (response.code, response.version) else {
        return Err(HttpError::StatusLine(quote(&status)));
    };
    let headers = response
        .headers
        .iter()
        .map(|h| {
            let value: Vec<u8> = h
                .value
                .iter()
                .copied()
                .filter(|&b| b != b'\r' && b != b'\n')
                .collect();
            (h.name.to_ascii_lowercase(), value)
        })
        .collect();
    Ok(Head {
        code,
        status,
        minor_version,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `piece` bytes; returns the body and the unused tail.
    fn run(method: &str, input: &[u8], piece: usize) -> (ResponseParser, Result<Vec<u8>>) {
        let mut parser = ResponseParser::new(method);
        let mut body = Vec::new();
        for part in input.chunks(piece.max(1)) {
            if let Err(e) = parser.feed(part, &mut body) {
                return (parser, Err(e));
            }
        }
        (parser, Ok(body))
    }

    #[test]
    fn content_length_body_in_any_pieces() {
        let input = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-A: 1\r\nx-a: 2\r\n\r\n0123456789";
        for piece in [1, 2, 3, 7, 100] {
            let (p, body) = run("GET", input, piece);
            assert_eq!(body.unwrap(), b"0123456789");
            let head = p.head().unwrap();
            assert_eq!(head.status, b"HTTP/1.1 200 OK");
            assert_eq!(head.values("x-a").collect::<Vec<_>>(), [b"1", b"2"]);
            assert!(p.keep_alive());
        }
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let input = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
            5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Sum: 42\r\n\r\n";
        for piece in [1, 4, 1000] {
            let (p, body) = run("GET", input, piece);
            assert_eq!(body.unwrap(), b"helloabcdefghijklmnopqrstuvwxyz");
            assert_eq!(p.trailers(), [("x-sum".to_string(), b"42".to_vec())]);
            assert_eq!(p.want(), Want::Done);
            assert!(p.keep_alive());
        }
    }

    #[test]
    fn no_body_for_head_204_304_and_interim_skipped() {
        let (p, body) = run("HEAD", b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", 5);
        assert!(body.unwrap().is_empty());
        assert_eq!(p.want(), Want::Done);
        for code in ["204 No Content", "304 Not Modified"] {
            let input = format!("HTTP/1.1 {code}\r\nContent-Length: 3\r\n\r\n");
            let (p, _) = run("GET", input.as_bytes(), 3);
            assert_eq!(p.want(), Want::Done);
        }
        let (p, body) = run(
            "GET",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            1000,
        );
        assert_eq!(body.unwrap(), b"ok");
        assert_eq!(p.head().unwrap().code, 200);
    }

    #[test]
    fn until_close_and_used_count() {
        let mut p = ResponseParser::new("GET");
        let mut body = Vec::new();
        p.feed(b"HTTP/1.0 200 OK\r\n\r\nabc", &mut body).unwrap();
        assert_eq!(p.want(), Want::UntilClose);
        p.finish().unwrap();
        assert_eq!(body, b"abc");
        assert!(!p.keep_alive());

        let mut p = ResponseParser::new("GET");
        let used = p
            .feed(
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1",
                &mut body,
            )
            .unwrap();
        assert_eq!(used, 39);
    }

    #[test]
    fn keep_alive_rules() {
        let (p, _) = run(
            "GET",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            9,
        );
        assert!(!p.keep_alive());
        let (p, _) = run(
            "GET",
            b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
            9,
        );
        assert!(p.keep_alive());
        let (p, _) = run("GET", b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 9);
        assert!(!p.keep_alive());
    }

    fn error_of(input: &[u8]) -> String {
        let (mut p, body) = run("GET", input, 7);
        match body {
            Err(e) => e.to_string(),
            Ok(_) => p.finish().unwrap_err().to_string(),
        }
    }

    #[test]
    fn malformed_responses_have_clear_messages() {
        assert_eq!(
            error_of(b"HTTX/1.1 200 OK\r\n\r\n"),
            "malformed status line: 'HTTX/1.1 200 OK'"
        );
        assert_eq!(
            error_of(b"HTTP/1.1 2x0 OK\r\n\r\n"),
            "malformed status line: 'HTTP/1.1 2x0 OK'"
        );
        let big = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(70_000));
        assert_eq!(
            error_of(big.as_bytes()),
            "response headers too large (more than 65536 bytes)"
        );
        let many: String = (0..101).map(|i| format!("H{i}: v\r\n")).collect();
        assert_eq!(
            error_of(format!("HTTP/1.1 200 OK\r\n{many}\r\n").as_bytes()),
            "too many response headers (more than 100)"
        );
        assert_eq!(
            error_of(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"),
            "connection closed before the end of the response (content-length 10, received 3)"
        );
        assert_eq!(
            error_of(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
            "invalid content-length: '-1'"
        );
        assert_eq!(
            error_of(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            "invalid content-length: conflicting values"
        );
        assert_eq!(
            error_of(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"),
            "connection closed before the end of the response (chunked body, 2 bytes received, last chunk missing)"
        );
        assert_eq!(
            error_of(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            "invalid chunk size: 'zz'"
        );
        assert_eq!(
            error_of(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n"),
            "malformed chunked body: missing CRLF after chunk data"
        );
        assert_eq!(error_of(b""), "closed");
        assert_eq!(
            error_of(b"HTTP/1.1 200 OK\r\nX"),
            "connection closed before the end of the response (in the response head)"
        );
    }

    #[test]
    fn errors_are_sticky() {
        let mut p = ResponseParser::new("GET");
        let mut body = Vec::new();
        assert!(p.feed(b"garbage\r\n\r\n", &mut body).is_err());
        assert!(p.feed(b"HTTP/1.1 200 OK\r\n\r\n", &mut body).is_err());
        assert!(p.finish().is_err());
        assert!(!p.keep_alive());
    }

    /// Random bytes, and random mutations of valid responses, in random pieces: the
    /// parser must return (never panic), keep its buffer bounded, and account for
    /// every byte it says it used.
    #[test]
    fn bounded_random_input() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let samples: [&[u8]; 3] = [
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n",
            b"HTTP/1.0 100 Continue\r\n\r\nHTTP/1.1 404 Nope\r\n\r\nbody",
        ];
        let limits = Limits {
            max_head: 256,
            max_headers: 8,
            max_line: 32,
        };
        for round in 0..3000 {
            let mut input: Vec<u8> = if round % 3 == 0 {
                (0..next() % 300).map(|_| next() as u8).collect()
            } else {
                samples[round % samples.len()].to_vec()
            };
            for _ in 0..next() % 4 {
                if !input.is_empty() {
                    let i = (next() as usize) % input.len();
                    input[i] = next() as u8;
                }
            }
            let method = if round % 5 == 0 { "HEAD" } else { "GET" };
            let mut p = ResponseParser::with_limits(method, limits);
            let mut body = Vec::new();
            let mut rest = input.as_slice();
            while !rest.is_empty() {
                let n = 1 + (next() as usize) % 40;
                let piece = &rest[..n.min(rest.len())];
                match p.feed(piece, &mut body) {
                    Ok(used) => {
                        assert!(used <= piece.len());
                        assert!(p.buf.len() <= limits.max_head + 40);
                        if used < piece.len() {
                            assert_eq!(p.want(), Want::Done);
                            break;
                        }
                    }
                    Err(_) => break,
                }
                rest = &rest[piece.len()..];
            }
            let _ = p.finish();
            assert!(body.len() <= input.len());
        }
    }
}
