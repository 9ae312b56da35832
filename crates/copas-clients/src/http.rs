//! A sans-I/O HTTP/1.1 client engine: it turns requests into bytes and bytes into
//! responses, and never touches a socket.
//!
//! The caller owns the connection. It sends what [`encode_head`] and [`encode_chunk`]
//! produce, and feeds whatever it receives to a [`ResponseParser`], which says through
//! [`ResponseParser::want`] how much to read next so that a read never goes past the end
//! of the response (the connection can then be reused). This is what lets the Lua
//! modules `socket.http` and `copas.http` share one engine: the first reads with
//! blocking sockets, the second with sockets that yield to the Copas loop.
//!
//! Not here: connecting, TLS, timeouts, the connection pool itself (only its key,
//! [`Target::pool_key`]), redirect policy (only URL resolution, [`resolve_redirect`]),
//! and HTTP/2.
//!
//! ```
//! use copas_clients::http::{encode_head, ResponseParser, Target, Want};
//!
//! let target = Target::parse("http://example.com/index.html?x=1").unwrap();
//! let head = encode_head("GET", &target.request_target, &[("Host", &target.authority)]).unwrap();
//! assert!(head.starts_with(b"GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\n"));
//!
//! let mut parser = ResponseParser::new("GET");
//! let mut body = Vec::new();
//! parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", &mut body).unwrap();
//! assert_eq!(parser.head().unwrap().code, 200);
//! assert_eq!(body, b"hello");
//! assert_eq!(parser.want(), Want::Done);
//! assert!(parser.keep_alive());
//! ```

mod request;
mod response;
mod target;

pub use request::{encode_chunk, encode_head, LAST_CHUNK};
pub use response::{Head, Limits, ResponseParser, Want};
pub use target::{resolve_redirect, Target};

/// Everything the HTTP engine can refuse; the Display is the message Lua code sees
/// after `nil`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    /// The connection ended before the first byte of a response.
    #[error("closed")]
    Closed,
    /// The first line of the response is not `HTTP/1.x NNN reason`.
    #[error("malformed status line: {0}")]
    StatusLine(String),
    /// A header line that cannot be parsed.
    #[error("malformed response headers: {0}")]
    Headers(String),
    /// The status line and headers together exceed [`Limits::max_head`].
    #[error("response headers too large (more than {0} bytes)")]
    HeadTooLarge(usize),
    /// More header fields than [`Limits::max_headers`].
    #[error("too many response headers (more than {0})")]
    TooManyHeaders(usize),
    /// A Content-Length that is not one non-negative decimal number.
    #[error("invalid content-length: {0}")]
    ContentLength(String),
    /// A chunk-size line that is not a hexadecimal number, or too long.
    #[error("invalid chunk size: {0}")]
    ChunkSize(String),
    /// Chunk data not followed by CRLF.
    #[error("malformed chunked body: missing CRLF after chunk data")]
    ChunkEnd,
    /// The connection ended in the middle of a response.
    #[error("connection closed before the end of the response ({0})")]
    Truncated(String),
    /// A URL that cannot be used for a request.
    #[error("invalid url '{url}': {reason}")]
    Url { url: String, reason: String },
    /// A scheme other than http and https.
    #[error("unsupported scheme '{0}'")]
    Scheme(String),
    /// A method, request target or header that would break the request's framing.
    #[error("invalid request {what}: {value}")]
    Request { what: &'static str, value: String },
}

/// The engine's result type.
pub type Result<T> = std::result::Result<T, HttpError>;

/// Bytes as they would be quoted in an error message: printable ASCII kept, the
/// rest escaped, cut to a length that keeps messages readable.
fn quote(bytes: &[u8]) -> String {
    const MAX: usize = 60;
    let mut text = String::from("'");
    for &b in bytes.iter().take(MAX) {
        if b.is_ascii_graphic() || b == b' ' {
            text.push(b as char);
        } else {
            text.push_str(&format!("\\x{b:02x}"));
        }
    }
    if bytes.len() > MAX {
        text.push_str("...");
    }
    text.push('\'');
    text
}
