//! The error type of this crate. Its messages are the ones scripts see after
//! `nil`, so they follow LuaSocket's wording where LuaSocket has one.

/// What went wrong while parsing a reply or formatting a request.
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
}
