//! The one place where copas-tls's errors become the messages LuaSec returns.

use copas_tls::CertificateError;
use copas_tls::{Error, VerifyReason};
use luasocket_core::Interest;

/// The second value of a failed `ssl` call (`nil, message` / `false, message`).
pub(crate) fn message(error: &Error) -> String {
    match error {
        Error::Config { message, .. } => message.clone(),
        Error::CertificateVerify { reason, cause } => {
            format!(
                "certificate verify failed: {}",
                verify_reason(*reason, cause)
            )
        }
        Error::AlertReceived(alert) => format!("alert received from peer: {alert:?}"),
        Error::Protocol(cause) => cause.to_string(),
        // LuaSec reports an end without close_notify as the end of the stream.
        Error::Closed | Error::ClosedWithoutNotify => "closed".to_owned(),
        // OpenSSL's words: programs test for "http request" to redirect to https.
        Error::EofInHandshake => "unexpected eof while reading".to_owned(),
        Error::HttpRequest => "http request".to_owned(),
        Error::HttpsProxyRequest => "https proxy request".to_owned(),
        // OpenSSL's words for the alert a strict server sends.
        Error::UnrecognizedName(_) => "tlsv1 unrecognized name".to_owned(),
        Error::AlpnChooser(cause) => format!("alpn callback failed: {cause}"),
        Error::BadCertificate(cause) => format!("cannot read certificate: {cause}"),
        Error::UnsupportedDigest(name) => {
            format!("unsupported digest '{name}' (use 'sha1', 'sha256', 'sha384' or 'sha512')")
        }
        Error::Timeout => luasocket_core::Error::Timeout.to_string(),
        Error::WouldBlock(Interest::Read) => "wantread".to_owned(),
        Error::WouldBlock(Interest::Write) => "wantwrite".to_owned(),
        // A reset or broken pipe is "closed", in LuaSocket's words for OS errors.
        Error::Io(io) => match io.raw_os_error() {
            Some(code) => {
                luasocket_core::Error::from_io(std::io::Error::from_raw_os_error(code)).to_string()
            }
            None => io.to_string(),
        },
        other => other.to_string(),
    }
}

/// OpenSSL's words for a verification failure (`X509_verify_cert_error_string`).
fn verify_reason(reason: VerifyReason, cause: &CertificateError) -> &'static str {
    match reason {
        VerifyReason::UnknownIssuer => "unable to get local issuer certificate",
        VerifyReason::SelfSigned => "self-signed certificate",
        VerifyReason::SelfSignedInChain => "self-signed certificate in certificate chain",
        VerifyReason::Expired => "certificate has expired",
        VerifyReason::NotYetValid => "certificate is not yet valid",
        VerifyReason::HostnameMismatch => "Hostname mismatch",
        VerifyReason::Revoked => "certificate revoked",
        _ => match cause {
            CertificateError::BadSignature => "certificate signature failure",
            CertificateError::InvalidPurpose => "unsupported certificate purpose",
            CertificateError::BadEncoding => "unable to decode certificate",
            _ => "certificate rejected",
        },
    }
}

/// LuaSec's `conn:want()`: what the last operation waited for.
pub(crate) fn want(interest: Option<Interest>) -> &'static str {
    match interest {
        None => "nothing",
        Some(Interest::Read) => "read",
        Some(Interest::Write) => "write",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luasec_words() {
        assert_eq!(message(&Error::ClosedWithoutNotify), "closed");
        assert_eq!(message(&Error::WouldBlock(Interest::Write)), "wantwrite");
        assert_eq!(message(&Error::Timeout), "timeout");
        let reset = std::io::Error::from_raw_os_error(libc::ECONNRESET);
        assert_eq!(message(&Error::from(reset)), "closed");
        assert_eq!(want(Some(Interest::Read)), "read");
        assert_eq!(want(None), "nothing");
    }
}
