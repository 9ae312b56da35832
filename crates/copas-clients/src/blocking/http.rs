//! A blocking HTTP/1.1 client: [`get`] for the common case, [`Request`] for the rest.
//!
//! ```no_run
//! let response = copas_clients::blocking::http::get("https://example.org/")?;
//! assert_eq!(response.code, 200);
//! println!("{}", String::from_utf8_lossy(&response.body));
//! # Ok::<(), copas_clients::Error>(())
//! ```
//!
//! One connection per request (`Connection: close`; no pool), `https` through
//! copas-tls (verifying against the Mozilla roots unless given another
//! [`TlsContext`]), redirects followed for requests without a body (303 turns any
//! request into a GET). Response bodies can go to any [`Write`] as they arrive, request
//! bodies come from any [`Read`], sent with a `Content-Length` when the length is known
//! and chunked otherwise. Not here: proxies, cookies, authentication, compression.

use std::fmt;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use copas_tls::{TlsContext, TlsParams};
use luasocket_core::ReceivePattern;

use super::conn::{is_closed, Connection};
use crate::http::{
    encode_chunk, encode_head, resolve_redirect, Head, ResponseParser, Target, Want,
};
use crate::Error;

/// Redirects followed unless a request says otherwise, as LuaSocket's default.
pub const DEFAULT_MAX_REDIRECTS: usize = 5;

/// The largest read asked of the socket for body data.
const READ_SIZE: usize = 64 * 1024;

/// A response: its status, headers, where it came from, and its body when it was
/// collected (by [`get`] and [`Request::send`]; empty after [`Request::send_to`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub code: u16,
    /// The status line as received, e.g. `HTTP/1.1 200 OK`.
    pub status: String,
    /// Header fields in order, names lowercased.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The URL that answered, after redirects.
    pub url: String,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    pub(crate) fn from_head(head: Head, url: String) -> Self {
        Response {
            code: head.code,
            status: String::from_utf8_lossy(&head.status).into_owned(),
            headers: head.headers,
            url,
            body: Vec::new(),
        }
    }

    /// The first value of header `name` (any case), as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
}

/// GETs `url`, following redirects, and returns the response with its body.
pub fn get(url: &str) -> Result<Response, Error> {
    Request::new("GET", url).send()
}

/// The body of a request: a reader, and its length when known.
pub(crate) struct Body<'a> {
    pub(crate) reader: Box<dyn Read + 'a>,
    pub(crate) len: Option<u64>,
}

/// A request to build and send.
pub struct Request<'a> {
    pub(crate) method: String,
    pub(crate) url: String,
    headers: Vec<(String, String)>,
    pub(crate) body: Option<Body<'a>>,
    max_redirects: usize,
    pub(crate) timeout: Option<Duration>,
    tls: Option<TlsContext>,
    ca_file: Option<PathBuf>,
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .field("body_len", &self.body.as_ref().map(|b| b.len))
            .field("max_redirects", &self.max_redirects)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<'a> Request<'a> {
    /// A `method` request for `url`, with no body, following up to
    /// [`DEFAULT_MAX_REDIRECTS`] redirects, with a 60 s timeout per connection.
    pub fn new(method: &str, url: &str) -> Self {
        Request {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: None,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            timeout: Some(Duration::from_secs(60)),
            tls: None,
            ca_file: None,
        }
    }

    /// Adds a header field (`Host`, `Connection` and the body's length fields are set by
    /// the client).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends `reader`'s bytes as the body: with a `Content-Length` when `len` is given
    /// (the reader must then give exactly that many), chunked otherwise.
    pub fn body(mut self, reader: impl Read + 'a, len: Option<u64>) -> Self {
        self.body = Some(Body {
            reader: Box::new(reader),
            len,
        });
        self
    }

    /// How many redirects to follow; 0 returns the redirect response itself.
    pub fn max_redirects(mut self, max: usize) -> Self {
        self.max_redirects = max;
        self
    }

    /// How long each connection's calls may block in all (`None`: no limit).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// The TLS configuration for `https` (a client context: say `cafile` for a private
    /// CA). Without it, the default verifying client of copas-tls.
    pub fn tls(mut self, context: TlsContext) -> Self {
        self.tls = Some(context);
        self
    }

    /// Verifies `https` servers against the CA certificates in `path` (PEM) instead of
    /// the Mozilla roots; ignored when [`tls`](Self::tls) gives a whole context.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Sends the request and collects the body into [`Response::body`].
    pub fn send(self) -> Result<Response, Error> {
        let mut body = Vec::new();
        let mut response = self.send_to(&mut body)?;
        response.body = body;
        Ok(response)
    }

    /// Sends the request and writes the final response's body to `sink` as it arrives
    /// ([`Response::body`] stays empty). Bodies of redirect responses are dropped.
    pub fn send_to(mut self, sink: &mut dyn Write) -> Result<Response, Error> {
        let mut url = self.url.clone();
        let mut method = self.method.clone();
        let mut redirects = 0;
        loop {
            let target = Target::parse(&url)?;
            let mut connection = self.connect(&target)?;
            let mut body = self.body.take();
            self.send_head(&mut connection, &target, &method, body.as_ref())?;
            if let Some(body) = body.as_mut() {
                send_body(&mut connection, body)?;
            }
            let mut parser = ResponseParser::new(&method);
            read_head(&mut connection, &mut parser)?;
            let head = parser.head().ok_or(Error::Closed)?.clone();
            if let Some(next) =
                self.redirect(&head, body.is_some(), &url, &method, &mut redirects)?
            {
                connection.close();
                (url, method) = next;
                continue;
            }
            read_body(&mut connection, &mut parser, sink)?;
            connection.close();
            return Ok(Response::from_head(head, url));
        }
    }

    /// Where a response sends the request next, as (url, method); `None` when it is
    /// the final response.
    pub(crate) fn redirect(
        &self,
        head: &Head,
        had_body: bool,
        url: &str,
        method: &str,
        redirects: &mut usize,
    ) -> Result<Option<(String, String)>, Error> {
        let redirect = matches!(head.code, 301 | 302 | 303 | 307 | 308)
            && (!had_body || head.code == 303)
            && self.max_redirects > 0;
        if !redirect {
            return Ok(None);
        }
        *redirects += 1;
        if *redirects > self.max_redirects {
            return Err(Error::TooManyRedirects(self.max_redirects));
        }
        let location = head
            .values("location")
            .next()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .ok_or(Error::NoLocation)?;
        let method = if head.code == 303 && !method.eq_ignore_ascii_case("HEAD") {
            "GET".to_owned()
        } else {
            method.to_owned()
        };
        Ok(Some((resolve_redirect(url, &location)?, method)))
    }

    /// The TLS context for `target`: none for http; for https the one given, or one
    /// made (once) from `ca_file` or the defaults.
    pub(crate) fn tls_for(&mut self, target: &Target) -> Result<Option<&TlsContext>, Error> {
        if target.scheme != "https" {
            return Ok(None);
        }
        if self.tls.is_none() {
            let params = TlsParams {
                cafile: self.ca_file.clone(),
                ..TlsParams::default()
            };
            let context = TlsContext::new(&params).map_err(|e| Error::Tls(e.to_string()))?;
            self.tls = Some(context);
        }
        Ok(self.tls.as_ref())
    }

    fn connect(&mut self, target: &Target) -> Result<Connection, Error> {
        let timeout = self.timeout;
        Connection::open(&target.host, target.port, self.tls_for(target)?, timeout)
    }

    fn send_head(
        &self,
        connection: &mut Connection,
        target: &Target,
        method: &str,
        body: Option<&Body<'_>>,
    ) -> Result<(), Error> {
        connection.send(&self.head(target, method, body)?)
    }

    /// The request head for `target`.
    pub(crate) fn head(
        &self,
        target: &Target,
        method: &str,
        body: Option<&Body<'_>>,
    ) -> Result<Vec<u8>, Error> {
        let mut fields: Vec<(&str, String)> = vec![
            ("Host", target.authority.clone()),
            (
                "User-Agent",
                concat!("copas-clients/", env!("CARGO_PKG_VERSION")).into(),
            ),
            ("Connection", "close".into()),
        ];
        match body.map(|b| b.len) {
            Some(Some(len)) => fields.push(("Content-Length", len.to_string())),
            Some(None) => fields.push(("Transfer-Encoding", "chunked".into())),
            None => {}
        }
        fields.extend(self.headers.iter().map(|(n, v)| (n.as_str(), v.clone())));
        encode_head(method, &target.request_target, &fields)
    }
}

fn send_body(connection: &mut Connection, body: &mut Body<'_>) -> Result<(), Error> {
    let mut buf = vec![0; READ_SIZE];
    loop {
        let n = match body.reader.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::Body(e.to_string())),
        };
        let chunked = body.len.is_none();
        if n == 0 {
            if chunked {
                connection.send(crate::http::LAST_CHUNK)?;
            }
            return Ok(());
        }
        if chunked {
            connection.send(&encode_chunk(&buf[..n]))?;
        } else {
            connection.send(&buf[..n])?;
        }
    }
}

/// Feeds the parser until the head is complete.
fn read_head(connection: &mut Connection, parser: &mut ResponseParser) -> Result<(), Error> {
    let mut body = Vec::new();
    while parser.head().is_none() {
        step(connection, parser, &mut body)?;
    }
    // Body bytes cannot come with the head: the head is fed one line at a time.
    debug_assert!(body.is_empty());
    Ok(())
}

/// Feeds the parser until the response is complete, handing body bytes to `sink`.
fn read_body(
    connection: &mut Connection,
    parser: &mut ResponseParser,
    sink: &mut dyn Write,
) -> Result<(), Error> {
    let mut body = Vec::new();
    while step(connection, parser, &mut body)? {
        sink.write_all(&body)
            .map_err(|e| Error::Sink(e.to_string()))?;
        body.clear();
    }
    sink.write_all(&body)
        .map_err(|e| Error::Sink(e.to_string()))
}

/// Reads what the parser wants next and feeds it. Returns false once the response is
/// complete.
fn step(
    connection: &mut Connection,
    parser: &mut ResponseParser,
    body: &mut Vec<u8>,
) -> Result<bool, Error> {
    let Some(pattern) = next_pattern(parser) else {
        return Ok(false);
    };
    absorb(parser, pattern, connection.receive(pattern), body)
}

/// What to receive next for the parser; `None` once the response is complete.
pub(crate) fn next_pattern(parser: &ResponseParser) -> Option<ReceivePattern> {
    Some(match parser.want() {
        Want::Done => return None,
        Want::Line => ReceivePattern::Line,
        Want::Bytes(n) => {
            ReceivePattern::Count(usize::try_from(n).unwrap_or(READ_SIZE).min(READ_SIZE))
        }
        Want::UntilClose => ReceivePattern::Count(READ_SIZE),
    })
}

/// Feeds what a receive of `pattern` gave (or the partial data of its failure) to the
/// parser, body bytes into `body`. Returns false once the response is complete.
pub(crate) fn absorb(
    parser: &mut ResponseParser,
    pattern: ReceivePattern,
    received: Result<Vec<u8>, (Error, Vec<u8>)>,
    body: &mut Vec<u8>,
) -> Result<bool, Error> {
    match received {
        Ok(mut data) => {
            if pattern == ReceivePattern::Line {
                // The line pattern strips the line break the parser looks for.
                data.extend_from_slice(b"\r\n");
            }
            parser.feed(&data, body)?;
        }
        Err((err, partial)) if is_closed(&err) => {
            if pattern != ReceivePattern::Line {
                parser.feed(&partial, body)?;
            }
            parser.finish()?;
        }
        Err((err, _)) => return Err(err),
    }
    Ok(parser.want() != Want::Done)
}
