//! The crate's one error type; its Display is the message a LuaSec user sees.

use rustls::CertificateError;

/// Everything that can go wrong configuring or driving a TLS stream.
///
/// "wantread"/"wantwrite" are not errors: they are [`crate::Status`] values.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter that cannot be honoured (unknown name, unreadable file, ...).
    #[error("{0}")]
    Config(String),
    /// The peer's certificate was refused.
    #[error("certificate verify failed: {0}")]
    CertificateVerify(String),
    /// The TLS protocol failed (bad record, alert from the peer, ...).
    #[error("{0}")]
    Tls(String),
    /// The transport ended without a close_notify alert.
    #[error("closed")]
    Closed,
    /// The transport failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::Config(message.into())
    }
}

impl From<rustls::Error> for Error {
    fn from(error: rustls::Error) -> Self {
        match error {
            rustls::Error::InvalidCertificate(reason) => {
                Self::CertificateVerify(certificate_reason(&reason))
            }
            rustls::Error::AlertReceived(alert) => {
                Self::Tls(format!("alert received from peer: {alert:?}"))
            }
            other => Self::Tls(other.to_string()),
        }
    }
}

/// Words close to OpenSSL's verify messages, with rustls' detail where it has one.
fn certificate_reason(reason: &CertificateError) -> String {
    match reason {
        CertificateError::UnknownIssuer => {
            "unable to get local issuer certificate (unknown CA)".to_owned()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            format!("certificate has expired ({reason})")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            format!("certificate is not yet valid ({reason})")
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("hostname mismatch ({reason})")
        }
        CertificateError::Revoked => "certificate revoked".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_failures_read_like_openssl() {
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(
            Error::from(unknown).to_string(),
            "certificate verify failed: unable to get local issuer certificate (unknown CA)"
        );
        let expired = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert!(Error::from(expired)
            .to_string()
            .starts_with("certificate verify failed: certificate has expired"));
        assert_eq!(Error::Closed.to_string(), "closed");
    }
}
