//! The crate's one error type. Its variants carry what went wrong, not the message a Lua
//! program sees: the `ssl` binding words them as LuaSec does, in one place.

use std::io;
use std::sync::Arc;

use crate::trust::Untrusted;
use luasocket_core::Interest;
use rustls::{AlertDescription, CertificateError};

/// Everything that can go wrong configuring or driving a TLS connection.
///
/// It is `Clone` because a broken [`crate::TlsSocket`] reports the error that broke it
/// again at every later operation.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter that cannot be honoured (unknown name, unreadable file, ...).
    #[error("{message}")]
    Config {
        /// The LuaSec parameter at fault (`"protocol"`, `"cafile"`, `"ciphers"`, ...).
        parameter: &'static str,
        /// What is wrong with it, naming the value or file.
        message: String,
    },
    /// The peer's certificate was refused.
    #[error("certificate verify failed: {cause}")]
    CertificateVerify {
        /// The kind of refusal.
        reason: VerifyReason,
        /// rustls' account of it.
        cause: CertificateError,
    },
    /// The peer sent a fatal alert.
    #[error("alert received from peer: {0:?}")]
    AlertReceived(AlertDescription),
    /// The handshake or a record failed otherwise (bad message, no common version, ...).
    #[error(transparent)]
    Protocol(rustls::Error),
    /// The transport ended without a close_notify alert.
    #[error("connection ended without close_notify")]
    ClosedWithoutNotify,
    /// The connection is closed: locally, or by the peer and everything it sent was
    /// received.
    #[error("closed")]
    Closed,
    /// A client asked a server with a strict list of names (LuaSec's `sni(names, true)`)
    /// for one not on it; the server answered with an `unrecognized_name` alert.
    #[error("unrecognized server name '{0}'")]
    UnrecognizedName(String),
    /// The peer closed the connection before the handshake completed.
    #[error("the peer closed the connection during the handshake")]
    EofInHandshake,
    /// A server's peer sent a plain HTTP request instead of a ClientHello.
    #[error("a plain HTTP request reached a TLS server")]
    HttpRequest,
    /// A server's peer sent a plain HTTP `CONNECT` (proxy) request instead of a ClientHello.
    #[error("a plain HTTP CONNECT request reached a TLS server")]
    HttpsProxyRequest,
    /// The server's ALPN chooser failed; its message.
    #[error("alpn chooser failed: {0}")]
    AlpnChooser(String),
    /// A certificate that cannot be decoded.
    #[error("cannot decode certificate: {0}")]
    BadCertificate(String),
    /// A digest algorithm `PeerCertificate::digest` does not know.
    #[error("unsupported digest '{0}'")]
    UnsupportedDigest(String),
    /// A blocking operation's timeout ran out.
    #[error("timeout")]
    Timeout,
    /// A blocking operation with a zero timeout found the socket not ready: call it
    /// again once the descriptor is ready for this.
    #[error("would block ({0:?})")]
    WouldBlock(Interest),
    /// The transport failed.
    #[error(transparent)]
    Io(Arc<io::Error>),
}

/// Why a certificate was refused, in the terms of OpenSSL's verify messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyReason {
    /// No trusted CA issued it.
    UnknownIssuer,
    /// Its validity ended.
    Expired,
    /// Its validity has not started.
    NotYetValid,
    /// It does not name the host (or address) connected to.
    HostnameMismatch,
    /// It was revoked.
    Revoked,
    /// It signs itself and is not trusted.
    SelfSigned,
    /// Its chain ends in a self-signed certificate that is not trusted.
    SelfSignedInChain,
    /// Anything else rustls refuses (bad signature, wrong usage, ...).
    Other,
}

impl Error {
    pub(crate) fn config(parameter: &'static str, message: impl Into<String>) -> Self {
        Self::Config {
            parameter,
            message: message.into(),
        }
    }
}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Self {
        Self::Io(Arc::new(error))
    }
}

impl From<rustls::Error> for Error {
    fn from(error: rustls::Error) -> Self {
        match error {
            rustls::Error::InvalidCertificate(cause) => Self::CertificateVerify {
                reason: VerifyReason::of(&cause),
                cause,
            },
            rustls::Error::AlertReceived(alert) => Self::AlertReceived(alert),
            other => Self::Protocol(other),
        }
    }
}

impl From<luasocket_core::Error> for Error {
    fn from(error: luasocket_core::Error) -> Self {
        match error {
            luasocket_core::Error::Timeout => Self::Timeout,
            luasocket_core::Error::Closed => Self::Closed,
            luasocket_core::Error::Os(io) => io.into(),
            other => io::Error::other(other).into(),
        }
    }
}

impl VerifyReason {
    fn of(cause: &CertificateError) -> Self {
        match cause {
            CertificateError::UnknownIssuer => Self::UnknownIssuer,
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => Self::Expired,
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                Self::NotYetValid
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Self::HostnameMismatch
            }
            CertificateError::Revoked => Self::Revoked,
            CertificateError::Other(other) => match other.0.downcast_ref::<Untrusted>() {
                Some(Untrusted::SelfSigned) => Self::SelfSigned,
                Some(Untrusted::SelfSignedInChain) => Self::SelfSignedInChain,
                None => Self::Other,
            },
            _ => Self::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_failures_keep_their_kind() {
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(matches!(
            Error::from(unknown),
            Error::CertificateVerify {
                reason: VerifyReason::UnknownIssuer,
                ..
            }
        ));
        let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert!(matches!(
            Error::from(expired),
            Error::CertificateVerify {
                reason: VerifyReason::Expired,
                cause: CertificateError::Expired
            }
        ));
        let alert = rustls::Error::AlertReceived(AlertDescription::HandshakeFailure);
        assert!(matches!(
            Error::from(alert),
            Error::AlertReceived(AlertDescription::HandshakeFailure)
        ));
    }

    #[test]
    fn socket_errors_map_to_their_variants() {
        assert!(matches!(
            Error::from(luasocket_core::Error::Timeout),
            Error::Timeout
        ));
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        match Error::from(luasocket_core::Error::Os(refused)) {
            Error::Io(io) => assert_eq!(io.kind(), io::ErrorKind::ConnectionRefused),
            other => panic!("{other:?}"),
        }
    }
}
