//! How a client decides to trust a server's certificate: rustls' web PKI checks against
//! the trust anchors, plus what OpenSSL (and so LuaSec) also accepts and says.
//!
//! - A certificate given in `cafile`/`capath` is trusted as itself, also when it is a CA
//!   certificate serving as the server's own (what `openssl req -x509` makes, and the
//!   usual way to trust one self-signed server); its dates and the host name are still
//!   checked. webpki refuses it as `CaUsedAsEndEntity`.
//! - A refusal of a self-signed certificate is reported as OpenSSL reports it
//!   ("self-signed certificate"), not as an unknown issuer.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::time::ASN1Time;

use crate::Error;

/// Why a certificate is refused where rustls has no error of its own for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Untrusted {
    /// The server's own certificate signs itself and is not trusted.
    #[error("self-signed certificate")]
    SelfSigned,
    /// The chain ends in a self-signed certificate that is not trusted.
    #[error("self-signed certificate in certificate chain")]
    SelfSignedInChain,
}

impl Untrusted {
    /// The refusal that carries this reason.
    fn error(self) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(self))))
    }
}

/// A client's verifier: web PKI against `roots`, and certificates given explicitly
/// trusted as themselves.
#[derive(Debug)]
pub(crate) struct ServerTrust {
    webpki: Arc<WebPkiServerVerifier>,
    /// The certificates of `cafile`/`capath`, as given.
    explicit: Vec<CertificateDer<'static>>,
    /// Whether the certificate must name the host (false: the chain alone, as LuaSec).
    check_host: bool,
}

impl ServerTrust {
    pub(crate) fn new(
        roots: RootCertStore,
        explicit: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
        check_host: bool,
    ) -> Result<Self, Error> {
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| Error::config("cafile", format!("server verification: {e}")))?;
        Ok(Self {
            webpki,
            explicit,
            check_host,
        })
    }
}

impl ServerCertVerifier for ServerTrust {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let refused = match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            // webpki checks the name last, after the chain, its dates and its usage: a
            // refusal for the name alone means everything else passed.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_host => return Ok(ServerCertVerified::assertion()),
            Err(refused) => refused,
        };
        let Ok((_, leaf)) = X509Certificate::from_der(end_entity) else {
            return Err(refused);
        };
        if self.explicit.iter().any(|trusted| trusted == end_entity) {
            return verify_explicit(&leaf, self.check_host.then_some(server_name), now);
        }
        if signs_itself(&leaf) {
            return Err(Untrusted::SelfSigned.error());
        }
        let chain_root = intermediates
            .last()
            .and_then(|der| X509Certificate::from_der(der).ok());
        if matches!(
            refused,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        ) && chain_root.is_some_and(|(_, root)| signs_itself(&root))
        {
            return Err(Untrusted::SelfSignedInChain.error());
        }
        Err(refused)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

fn signs_itself(cert: &X509Certificate<'_>) -> bool {
    cert.subject().as_raw() == cert.issuer().as_raw()
}

/// An explicitly trusted certificate: in its validity, and naming the server if one is
/// given (by its subject alternative names or, without any, its common name, as OpenSSL
/// matches).
fn verify_explicit(
    cert: &X509Certificate<'_>,
    server_name: Option<&ServerName<'_>>,
    now: UnixTime,
) -> Result<ServerCertVerified, rustls::Error> {
    let seconds = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let now = ASN1Time::from_timestamp(seconds).map_err(|_| CertificateError::BadEncoding)?;
    let validity = cert.validity();
    if now < validity.not_before {
        return Err(CertificateError::NotValidYet.into());
    }
    if now > validity.not_after {
        return Err(CertificateError::Expired.into());
    }
    if server_name.is_none_or(|name| names_server(cert, name)) {
        Ok(ServerCertVerified::assertion())
    } else {
        Err(CertificateError::NotValidForName.into())
    }
}

fn names_server(cert: &X509Certificate<'_>, server_name: &ServerName<'_>) -> bool {
    let alt_names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|extension| extension.value.general_names.clone())
        .unwrap_or_default();
    match server_name {
        ServerName::DnsName(dns) => {
            let wanted = dns.as_ref();
            let dns_names: Vec<&str> = alt_names
                .iter()
                .filter_map(|name| match name {
                    GeneralName::DNSName(name) => Some(*name),
                    _ => None,
                })
                .collect();
            if alt_names.is_empty() {
                common_names(cert).any(|name| dns_matches(name, wanted))
            } else {
                dns_names.iter().any(|name| dns_matches(name, wanted))
            }
        }
        ServerName::IpAddress(ip) => {
            let wanted = IpAddr::from(*ip);
            if alt_names.is_empty() {
                return common_names(cert).any(|name| name.parse() == Ok(wanted));
            }
            alt_names.iter().any(|name| match name {
                GeneralName::IPAddress(bytes) => ip_of(bytes) == Some(wanted),
                _ => false,
            })
        }
        _ => false,
    }
}

fn common_names<'a>(cert: &'a X509Certificate<'_>) -> impl Iterator<Item = &'a str> {
    cert.subject()
        .iter_common_name()
        .filter_map(|attribute| attribute.as_str().ok())
}

/// A certificate's DNS name against the wanted one: equal without case, or a
/// left-most `*` standing for exactly one label.
fn dns_matches(pattern: &str, wanted: &str) -> bool {
    let (pattern, wanted) = (pattern.trim_end_matches('.'), wanted.trim_end_matches('.'));
    match pattern.strip_prefix("*.") {
        Some(rest) => wanted
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && tail.eq_ignore_ascii_case(rest)),
        None => pattern.eq_ignore_ascii_case(wanted),
    }
}

fn ip_of(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names_match_as_openssl_does() {
        assert!(dns_matches("LocalHost", "localhost"));
        assert!(dns_matches("*.example.org", "www.example.org"));
        assert!(!dns_matches("*.example.org", "a.b.example.org"));
        assert!(!dns_matches("*.example.org", "example.org"));
        assert!(!dns_matches("example.org", "example.com"));
    }

    #[test]
    fn untrusted_reasons_read_like_openssl() {
        assert_eq!(Untrusted::SelfSigned.to_string(), "self-signed certificate");
        assert_eq!(
            Untrusted::SelfSignedInChain.to_string(),
            "self-signed certificate in certificate chain"
        );
    }
}
