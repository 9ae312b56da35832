//! The crate's one error type, and the one place where errors become LuaSocket's strings.

use std::io;

use crate::sys;

/// Everything that can go wrong in a socket, DNS or select operation.
///
/// `Display` gives exactly the message LuaSocket 3.x returns as the second value
/// of a failed call (`nil, "timeout"`, `nil, "closed"`, `nil, "connection refused"`, ...),
/// so bindings never translate errors themselves.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operation did not complete before the socket's timeout.
    #[error("timeout")]
    Timeout,
    /// The peer closed the connection, or the socket was closed locally.
    #[error("closed")]
    Closed,
    /// A name could not be resolved (LuaSocket's `host not found` and friends).
    #[error("{0}")]
    Resolve(String),
    /// An operation that the socket's current state does not allow.
    #[error("{0}")]
    State(&'static str),
    /// An option this operating system lacks where LuaSocket raises rather than
    /// returns (`bindtodevice` off Linux); bindings raise the message.
    #[error("{0}")]
    Unsupported(&'static str),
    /// Any other operating-system error, shown the way LuaSocket shows it.
    #[error("{}", os_message(.0))]
    Os(#[from] io::Error),
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an OS error, turning the errno values LuaSocket treats specially into
    /// [`Error::Timeout`] and [`Error::Closed`].
    pub fn from_io(err: io::Error) -> Self {
        match err.raw_os_error() {
            Some(code) if sys::code::is_timeout(code) => Error::Timeout,
            Some(code) if sys::code::is_closed(code) => Error::Closed,
            _ if err.kind() == io::ErrorKind::WouldBlock => Error::Timeout,
            _ => Error::Os(err),
        }
    }

    /// True for [`Error::Timeout`], the one error a non-blocking caller retries.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout)
    }
}

/// LuaSocket's wording for the error numbers it names itself (`socket_strerror` of
/// usocket.c or wsocket.c); everything else is the system's text without Rust's
/// " (os error N)" suffix.
fn os_message(err: &io::Error) -> String {
    let Some(code) = err.raw_os_error() else {
        return err.to_string();
    };
    if let Some(known) = sys::code::luasocket_message(code) {
        return known.to_owned();
    }
    let text = err.to_string();
    match text.find(" (os error") {
        Some(end) => text[..end].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luasocket_strings() {
        assert_eq!(Error::Timeout.to_string(), "timeout");
        assert_eq!(Error::Closed.to_string(), "closed");
        let refused = Error::from_io(io::Error::from_raw_os_error(libc::ECONNREFUSED));
        assert_eq!(refused.to_string(), "connection refused");
        let reset = Error::from_io(io::Error::from_raw_os_error(libc::ECONNRESET));
        assert!(matches!(reset, Error::Closed));
        let other = Error::from_io(io::Error::from_raw_os_error(libc::ENOENT));
        assert_eq!(other.to_string(), "No such file or directory");
    }
}
