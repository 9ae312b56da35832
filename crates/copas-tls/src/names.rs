//! OpenSSL/LuaSec names for what rustls offers: cipher suites, key-exchange groups, versions.

use rustls::crypto::ring::{cipher_suite, kx_group};
use rustls::crypto::SupportedKxGroup;
use rustls::{CipherSuite, SupportedCipherSuite};

use crate::Error;

/// (OpenSSL name, IANA name, suite) for every suite the ring provider has.
const SUITES: [(&str, &str, SupportedCipherSuite); 9] = [
    (
        "TLS_AES_256_GCM_SHA384",
        "TLS_AES_256_GCM_SHA384",
        cipher_suite::TLS13_AES_256_GCM_SHA384,
    ),
    (
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_128_GCM_SHA256",
        cipher_suite::TLS13_AES_128_GCM_SHA256,
    ),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
        cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// OpenSSL cipher-string keywords that select "everything rustls offers"; rustls only has
/// strong suites, so they all mean the same here.
const ALL_KEYWORDS: [&str; 6] = ["ALL", "DEFAULT", "HIGH", "ECDHE", "EECDH", "AESGCM"];

/// The OpenSSL name of a suite, as LuaSec's `conn:info()` reports it.
pub(crate) fn suite_name(suite: CipherSuite) -> String {
    SUITES
        .iter()
        .find(|(_, _, s)| s.suite() == suite)
        .map_or_else(|| format!("{suite:?}"), |(name, _, _)| (*name).to_owned())
}

/// Suites named by an OpenSSL-style list (`"A:B"`, also `,` or space separated). Exclusions and
/// ordering directives (`!x`, `-x`, `+x`, `@STRENGTH`) are accepted and ignored: rustls offers
/// no weak suites to exclude.
pub(crate) fn parse_suites(list: &str, tls13: bool) -> Result<Vec<SupportedCipherSuite>, Error> {
    let mut suites = Vec::new();
    for name in list.split([':', ',', ' ']).filter(|n| !n.is_empty()) {
        if name.starts_with(['!', '-', '+', '@']) {
            continue;
        }
        if ALL_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(name)) {
            suites.extend(
                SUITES
                    .iter()
                    .map(|(_, _, s)| *s)
                    .filter(|s| is_tls13(s) == tls13),
            );
            continue;
        }
        let found = SUITES.iter().find(|(openssl, iana, s)| {
            openssl.eq_ignore_ascii_case(name)
                || iana.eq_ignore_ascii_case(name)
                || format!("{:?}", s.suite()).eq_ignore_ascii_case(name)
        });
        match found {
            Some((_, _, suite)) if is_tls13(suite) == tls13 => suites.push(*suite),
            Some(_) => {
                let field = if tls13 { "ciphersuites" } else { "ciphers" };
                let belongs = if tls13 { "ciphers" } else { "ciphersuites" };
                return Err(Error::config(
                    field,
                    format!("{field}: '{name}' belongs in '{belongs}'"),
                ));
            }
            None => {
                let known: Vec<&str> = SUITES
                    .iter()
                    .filter(|(_, _, s)| is_tls13(s) == tls13)
                    .map(|(n, _, _)| *n)
                    .collect();
                return Err(Error::config(
                    if tls13 { "ciphersuites" } else { "ciphers" },
                    format!(
                        "unsupported cipher '{name}' (supported: {})",
                        known.join(":")
                    ),
                ));
            }
        }
    }
    suites.dedup_by_key(|s| s.suite());
    Ok(suites)
}

fn is_tls13(suite: &SupportedCipherSuite) -> bool {
    matches!(suite, SupportedCipherSuite::Tls13(_))
}

/// Key-exchange groups named by a `curve` list (`"X25519:prime256v1"`).
pub(crate) fn parse_curves(list: &str) -> Result<Vec<&'static dyn SupportedKxGroup>, Error> {
    list.split([':', ',', ' '])
        .filter(|n| !n.is_empty())
        .map(|name| match name.to_ascii_lowercase().as_str() {
            "x25519" => Ok(kx_group::X25519),
            "prime256v1" | "p-256" | "secp256r1" => Ok(kx_group::SECP256R1),
            "secp384r1" | "p-384" => Ok(kx_group::SECP384R1),
            _ => Err(Error::config(
                "curve",
                format!("unsupported curve '{name}' (supported: X25519, prime256v1, secp384r1)"),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_and_iana_names_map_to_the_same_suite() {
        let a = parse_suites("ECDHE-RSA-AES128-GCM-SHA256", false).unwrap();
        let b = parse_suites("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", false).unwrap();
        assert_eq!(a[0].suite(), b[0].suite());
        assert_eq!(suite_name(a[0].suite()), "ECDHE-RSA-AES128-GCM-SHA256");
    }

    #[test]
    fn keywords_select_all_and_exclusions_are_ignored() {
        assert_eq!(
            parse_suites("HIGH:!aNULL:@STRENGTH", false).unwrap().len(),
            6
        );
        assert_eq!(
            parse_suites("TLS_AES_128_GCM_SHA256", true).unwrap().len(),
            1
        );
    }

    #[test]
    fn unknown_and_misplaced_names_are_clear_errors() {
        let e = parse_suites("RC4-MD5", false).unwrap_err().to_string();
        assert!(e.starts_with("unsupported cipher 'RC4-MD5'"), "{e}");
        let e = parse_suites("TLS_AES_128_GCM_SHA256", false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "ciphers: 'TLS_AES_128_GCM_SHA256' belongs in 'ciphersuites'"
        );
    }

    #[test]
    fn curves() {
        assert_eq!(parse_curves("X25519:P-256:secp384r1").unwrap().len(), 3);
        assert!(parse_curves("brainpoolP256r1").is_err());
    }
}
