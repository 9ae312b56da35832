//! What `conn:getpeercertificate()` tells about a certificate.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};
use x509_parser::time::ASN1Time;

use crate::Error;

/// One attribute of a distinguished name, like LuaSec's `{oid=, name=, value=}` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameEntry {
    /// Dotted OID, e.g. `"2.5.4.3"`.
    pub oid: String,
    /// Short name, e.g. `"CN"`; the OID again when it has none.
    pub name: String,
    /// The attribute's value as text.
    pub value: String,
}

/// A peer certificate, decoded.
///
/// Its `Debug` shows the names, serial, validity and a SHA-256 fingerprint, not the
/// DER bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// The certificate as sent, in DER.
    pub der: Vec<u8>,
    /// Subject name, attribute by attribute in certificate order.
    pub subject: Vec<NameEntry>,
    /// Issuer name, likewise.
    pub issuer: Vec<NameEntry>,
    /// OpenSSL's format, as LuaSec's `cert:notbefore()`: `"Jan  2 03:04:05 2025 GMT"`.
    pub not_before: String,
    /// End of validity, in the same format.
    pub not_after: String,
    /// Hexadecimal, upper case.
    pub serial: String,
    /// Subject alternative names as (LuaSec's kind, value): kinds are `"dNSName"`,
    /// `"iPAddress"`, `"rfc822Name"` and `"uniformResourceIdentifier"`.
    pub alt_names: Vec<(&'static str, String)>,
    /// Start of validity, in seconds since the Unix epoch.
    pub not_before_unix: i64,
    /// End of validity, in seconds since the Unix epoch.
    pub not_after_unix: i64,
    /// The subject's public key.
    pub public_key: PublicKeyInfo,
}

/// A certificate's public key, as LuaSec's `cert:pubkey()` describes it.
///
/// Its `Debug` shows the kind and size, not the PEM text.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKeyInfo {
    /// The SubjectPublicKeyInfo in PEM (`-----BEGIN PUBLIC KEY-----`).
    pub pem: String,
    /// OpenSSL's name of the key type: `"RSA"`, `"EC"`, `"DSA"`, `"ED25519"`, `"ED448"`,
    /// or `"unknown"`.
    pub kind: &'static str,
    /// The key size in bits (the modulus for RSA, the field for EC).
    pub bits: usize,
}

impl PeerCertificate {
    /// Decodes a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let (_, cert) =
            X509Certificate::from_der(der).map_err(|e| Error::BadCertificate(e.to_string()))?;
        Ok(Self {
            der: der.to_vec(),
            subject: name_entries(cert.subject()),
            issuer: name_entries(cert.issuer()),
            not_before: openssl_time(&cert.validity().not_before),
            not_after: openssl_time(&cert.validity().not_after),
            serial: cert.raw_serial_as_string().replace(':', "").to_uppercase(),
            alt_names: alt_names(&cert),
            not_before_unix: cert.validity().not_before.timestamp(),
            not_after_unix: cert.validity().not_after.timestamp(),
            public_key: public_key(&cert),
        })
    }

    /// Whether the certificate is valid at `unix_time` (LuaSec's `cert:validat(t)`).
    pub fn valid_at(&self, unix_time: i64) -> bool {
        (self.not_before_unix..=self.not_after_unix).contains(&unix_time)
    }

    /// The first certificate of a PEM text (LuaSec's `ssl.loadcertificate`).
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        let der = CertificateDer::from_pem_slice(pem)
            .map_err(|e| Error::BadCertificate(e.to_string()))?;
        Self::from_der(&der)
    }

    /// The certificate in PEM, as `cert:pem()` returns it.
    pub fn pem(&self) -> String {
        pem_text("CERTIFICATE", &self.der)
    }

    /// Lower-case hex digest of the DER bytes with `algorithm` (`"sha1"`, `"sha256"`,
    /// `"sha384"`, `"sha512"`), as `cert:digest()`.
    pub fn digest(&self, algorithm: &str) -> Result<String, Error> {
        use ring::digest;
        let algorithm = match algorithm {
            "sha1" => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            "sha256" => &digest::SHA256,
            "sha384" => &digest::SHA384,
            "sha512" => &digest::SHA512,
            other => return Err(Error::UnsupportedDigest(other.to_owned())),
        };
        let hash = digest::digest(algorithm, &self.der);
        Ok(hash.as_ref().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The subject's common name, if it has one.
    pub fn common_name(&self) -> Option<&str> {
        self.subject
            .iter()
            .find(|e| e.name == "CN")
            .map(|e| e.value.as_str())
    }
}

/// A distinguished name as one line, `CN=example.org, O=Example`.
fn name_line(entries: &[NameEntry]) -> String {
    entries
        .iter()
        .map(|e| format!("{}={}", e.name, e.value))
        .collect::<Vec<_>>()
        .join(", ")
}

impl std::fmt::Debug for PeerCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fingerprint = self.digest("sha256").unwrap_or_default();
        f.debug_struct("PeerCertificate")
            .field("subject", &name_line(&self.subject))
            .field("issuer", &name_line(&self.issuer))
            .field("serial", &self.serial)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("alt_names", &self.alt_names)
            .field("public_key", &self.public_key)
            .field("sha256", &fingerprint)
            .finish()
    }
}

impl std::fmt::Debug for PublicKeyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKeyInfo")
            .field("kind", &self.kind)
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

fn name_entries(name: &X509Name<'_>) -> Vec<NameEntry> {
    let registry = x509_parser::objects::oid_registry();
    name.iter_attributes()
        .map(|attribute| {
            let oid = attribute.attr_type().to_id_string();
            let short = x509_parser::objects::oid2abbrev(attribute.attr_type(), registry)
                .map_or_else(|_| oid.clone(), str::to_owned);
            let value = attribute.as_str().map_or_else(
                |_| format!("{:?}", attribute.attr_value().data),
                str::to_owned,
            );
            NameEntry {
                oid,
                name: short,
                value,
            }
        })
        .collect()
}

fn alt_names(cert: &X509Certificate<'_>) -> Vec<(&'static str, String)> {
    let Ok(Some(extension)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    extension
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(("dNSName", (*dns).to_owned())),
            GeneralName::RFC822Name(mail) => Some(("rfc822Name", (*mail).to_owned())),
            GeneralName::URI(uri) => Some(("uniformResourceIdentifier", (*uri).to_owned())),
            GeneralName::IPAddress(bytes) => ip_text(bytes).map(|ip| ("iPAddress", ip)),
            _ => None,
        })
        .collect()
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string()),
        16 => Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?).to_string()),
        _ => None,
    }
}

/// `der` as a PEM block labelled `label`, in 64-column lines as OpenSSL writes them.
fn pem_text(label: &str, der: &[u8]) -> String {
    let encoded = base64(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(line));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

fn public_key(cert: &X509Certificate<'_>) -> PublicKeyInfo {
    let info = cert.public_key();
    let kind = match info.algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => "RSA",
        "1.2.840.10045.2.1" => "EC",
        "1.2.840.10040.4.1" => "DSA",
        "1.3.101.112" => "ED25519",
        "1.3.101.113" => "ED448",
        _ => "unknown",
    };
    let bits = info.parsed().map_or(0, |key| key.key_size());
    PublicKeyInfo {
        pem: pem_text("PUBLIC KEY", info.raw),
        kind,
        bits,
    }
}

/// Standard base64 with padding (PEM bodies).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn openssl_time(time: &ASN1Time) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = time.to_datetime();
    let month = MONTHS[usize::from(u8::from(t.month())) - 1];
    format!(
        "{month} {:>2} {:02}:{:02}:{:02} {} GMT",
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.year()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_use_openssl_format() {
        let time = ASN1Time::from_timestamp(1_700_000_000).unwrap();
        assert_eq!(openssl_time(&time), "Nov 14 22:13:20 2023 GMT");
        let time = ASN1Time::from_timestamp(0).unwrap();
        assert_eq!(openssl_time(&time), "Jan  1 00:00:00 1970 GMT");
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(PeerCertificate::from_der(b"not a certificate").is_err());
    }

    #[test]
    fn debug_names_the_certificate_without_its_bytes() {
        let certified = rcgen::generate_simple_self_signed(vec!["debug.test".into()]).unwrap();
        let cert = PeerCertificate::from_der(certified.cert.der()).unwrap();
        let shown = format!("{cert:?}");
        assert!(shown.contains("debug.test"), "{shown}");
        assert!(shown.contains(&cert.digest("sha256").unwrap()), "{shown}");
        assert!(!shown.contains("der"), "{shown}");
        assert!(!shown.contains("BEGIN"), "{shown}");
        assert!(shown.len() < 1000, "{shown}");
    }
}
