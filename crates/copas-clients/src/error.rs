//! The error type of this crate. Its messages are the ones scripts see after
//! `nil`, so they follow LuaSocket's wording where LuaSocket has one.

/// What went wrong while parsing a reply or response, or formatting a request.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A reply line that does not start with a three-digit code.
    #[error("invalid server reply")]
    InvalidReply,
    /// A multi-line reply longer than any real server sends.
    #[error("server reply too long")]
    ReplyTooLong,
    /// A command verb that is empty or not made of letters and digits.
    #[error("invalid command '{0}'")]
    InvalidCommand(String),
    /// CR, LF or NUL inside a command argument: it would end the command early
    /// and let the rest pass as a second command.
    #[error("invalid character in command argument")]
    CommandInjection,
    /// A 227 reply without the six numbers of an address and port.
    #[error("invalid pasv response: {0}")]
    InvalidPasv(String),
    /// A 229 reply without `(|||port|)`.
    #[error("invalid epsv response")]
    InvalidEpsv,
    /// A header name that is empty or has characters a field name cannot have.
    #[error("invalid header name '{0}'")]
    InvalidHeaderName(String),
    /// A header value with a line break that is not a folding (CRLF then blank).
    #[error("invalid header value for '{0}'")]
    InvalidHeaderValue(String),

    // HTTP responses and requests.
    /// The connection ended before the first byte of a response.
    #[error("closed")]
    Closed,
    /// The first line of the response is not `HTTP/1.x NNN reason`.
    #[error("malformed status line: {0}")]
    StatusLine(String),
    /// A header line that cannot be parsed.
    #[error("malformed response headers: {0}")]
    Headers(String),
    /// The status line and headers together exceed [`Limits::max_head`](crate::http::Limits::max_head).
    #[error("response headers too large (more than {0} bytes)")]
    HeadTooLarge(usize),
    /// More header fields than [`Limits::max_headers`](crate::http::Limits::max_headers).
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
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it, such as a missing host.
        reason: String,
    },
    /// A scheme other than http and https.
    #[error("unsupported scheme '{0}'")]
    Scheme(String),
    /// A method, request target or header that would break the request's framing.
    #[error("invalid request {what}: {value}")]
    Request {
        /// Which part of the request: "method", "target", "header name" or "header value".
        what: &'static str,
        /// The offending value as given.
        value: String,
    },

    // The blocking drivers.
    /// A socket error, with LuaSocket's message (`"timeout"`, `"closed"`, `"connection
    /// refused"`...).
    #[error("{0}")]
    Socket(String),
    /// A TLS error, with copas-tls' message.
    #[error("{0}")]
    Tls(String),
    /// A redirect chain longer than the request allows.
    #[error("too many redirects (more than {0})")]
    TooManyRedirects(usize),
    /// A redirect response without a usable `Location`.
    #[error("redirect without a location")]
    NoLocation,
    /// Reading the request body from its source failed.
    #[error("request body: {0}")]
    Body(String),
    /// Writing the response body to its sink failed.
    #[error("response body: {0}")]
    Sink(String),
    /// A server reply that refuses the command; the text is the reply as received.
    #[error("{0}")]
    Rejected(String),
    /// A message that cannot be sent as it is (no sender or no recipient).
    #[error("invalid message: {0}")]
    Message(String),
}
