//! What `conn:getpeercertificate()` tells about a certificate.

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
    pub value: String,
}

/// A peer certificate, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    pub der: Vec<u8>,
    pub subject: Vec<NameEntry>,
    pub issuer: Vec<NameEntry>,
    /// OpenSSL's format, as LuaSec's `cert:notbefore()`: `"Jan  2 03:04:05 2025 GMT"`.
    pub not_before: String,
    pub not_after: String,
    /// Hexadecimal, upper case.
    pub serial: String,
}

impl PeerCertificate {
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| Error::Tls(format!("cannot decode peer certificate: {e}")))?;
        Ok(Self {
            der: der.to_vec(),
            subject: name_entries(cert.subject()),
            issuer: name_entries(cert.issuer()),
            not_before: openssl_time(&cert.validity().not_before),
            not_after: openssl_time(&cert.validity().not_after),
            serial: cert.raw_serial_as_string().replace(':', "").to_uppercase(),
        })
    }

    /// The subject's common name, if it has one.
    pub fn common_name(&self) -> Option<&str> {
        self.subject
            .iter()
            .find(|e| e.name == "CN")
            .map(|e| e.value.as_str())
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
    fn garbage_is_an_error_not_a_panic() {
        assert!(PeerCertificate::from_der(b"not a certificate").is_err());
    }
}
