//! LuaSec's parameter table as a Rust struct.

use std::path::PathBuf;

use crate::Error;

/// Which side of the handshake we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Connects and verifies the server (LuaSec's default).
    #[default]
    Client,
    /// Accepts, presenting a certificate.
    Server,
}

impl Mode {
    /// LuaSec's `mode` names: `"client"`, `"server"`.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        match name {
            "client" => Ok(Self::Client),
            "server" => Ok(Self::Server),
            _ => Err(Error::config(
                "mode",
                format!("invalid mode '{name}' (expected 'client' or 'server')"),
            )),
        }
    }
}

/// The protocol versions offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// TLS 1.2 and 1.3.
    #[default]
    Any,
    /// TLS 1.2 only.
    Tlsv1_2,
    /// TLS 1.3 only.
    Tlsv1_3,
}

impl Protocol {
    /// LuaSec's `protocol` names. SSLv3, TLS 1.0 and 1.1 are refused: rustls does not speak
    /// them, and LuaSec's old catch-all `"sslv23"` is refused too rather than silently
    /// reinterpreted.
    pub fn from_name(name: &str) -> Result<Self, Error> {
        match name {
            "any" => Ok(Self::Any),
            "tlsv1_2" => Ok(Self::Tlsv1_2),
            "tlsv1_3" => Ok(Self::Tlsv1_3),
            "sslv2" | "sslv3" | "sslv23" | "tlsv1" | "tlsv1_1" => Err(Error::config(
                "protocol",
                format!("protocol '{name}' is not supported (use 'any', 'tlsv1_2' or 'tlsv1_3')"),
            )),
            _ => Err(Error::config(
                "protocol",
                format!("invalid protocol '{name}' (use 'any', 'tlsv1_2' or 'tlsv1_3')"),
            )),
        }
    }
}

/// LuaSec's `verify` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verify {
    /// Verify the peer's certificate (on a server: ask clients for one).
    pub peer: bool,
    /// Server only: refuse clients that present no certificate.
    pub fail_if_no_peer_cert: bool,
}

impl Verify {
    /// No verification at all. On a client this accepts ANY certificate, including a forged one.
    pub const NONE: Self = Self {
        peer: false,
        fail_if_no_peer_cert: false,
    };
    /// Verify the peer's certificate.
    pub const PEER: Self = Self {
        peer: true,
        fail_if_no_peer_cert: false,
    };

    /// Combines LuaSec's flag names (`"none"`, `"peer"`, `"fail_if_no_peer_cert"`).
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, Error> {
        let mut verify = Self::NONE;
        for name in names {
            match name {
                "none" => {}
                "peer" => verify.peer = true,
                "fail_if_no_peer_cert" => verify.fail_if_no_peer_cert = true,
                "client_once" => {}
                _ => {
                    return Err(Error::config(
                        "verify",
                        format!(
                        "invalid verify option '{name}' (expected 'none', 'peer' or 'fail_if_no_peer_cert')"
                    )))
                }
            }
        }
        Ok(verify)
    }
}

/// A LuaSec-style TLS configuration; turn it into a [`crate::TlsContext`] with
/// [`crate::TlsContext::new`]. Its `Debug` hides the password.
#[derive(Clone, Default)]
pub struct TlsParams {
    /// `mode`: client or server.
    pub mode: Mode,
    /// `protocol`: the versions offered.
    pub protocol: Protocol,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1; not encrypted).
    pub key: Option<PathBuf>,
    /// PEM file with our certificate, optionally followed by its chain.
    pub certificate: Option<PathBuf>,
    /// More PEM files with chain certificates, sent after `certificate`'s.
    pub certificates: Vec<PathBuf>,
    /// Password for an encrypted key: not supported, given only to be refused clearly.
    pub password: Option<String>,
    /// PEM file of trusted CA certificates.
    pub cafile: Option<PathBuf>,
    /// Directory of PEM files of trusted CA certificates.
    pub capath: Option<PathBuf>,
    /// `None` means the default: verify on clients, no client certificates on servers.
    pub verify: Option<Verify>,
    /// OpenSSL option names; accepted and ignored (rustls has no equivalents, and its defaults
    /// already do what the common ones ask: no compression, no renegotiation, no old versions).
    pub options: Vec<String>,
    /// OpenSSL cipher list for TLS 1.2.
    pub ciphers: Option<String>,
    /// TLS 1.3 suite list.
    pub ciphersuites: Option<String>,
    /// Key-exchange groups, e.g. `"X25519:prime256v1"`.
    pub curve: Option<String>,
    /// ALPN protocols, most preferred first.
    pub alpn: Vec<String>,
    /// Client only: the name sent as SNI and verified against the certificate.
    pub server_name: Option<String>,
    /// Client only: with `verify` on, check the chain but not that the certificate names
    /// the host, as LuaSec (OpenSSL without a host to check) does. Lua: `verifyhost = false`.
    pub ignore_host_name: bool,
}

impl std::fmt::Debug for TlsParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsParams")
            .field("mode", &self.mode)
            .field("protocol", &self.protocol)
            .field("key", &self.key)
            .field("certificate", &self.certificate)
            .field("certificates", &self.certificates)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("cafile", &self.cafile)
            .field("capath", &self.capath)
            .field("verify", &self.verify)
            .field("options", &self.options)
            .field("ciphers", &self.ciphers)
            .field("ciphersuites", &self.ciphersuites)
            .field("curve", &self.curve)
            .field("alpn", &self.alpn)
            .field("server_name", &self.server_name)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_protocols_are_refused_by_name() {
        let e = Protocol::from_name("sslv23").unwrap_err().to_string();
        assert_eq!(
            e,
            "protocol 'sslv23' is not supported (use 'any', 'tlsv1_2' or 'tlsv1_3')"
        );
        assert_eq!(Protocol::from_name("tlsv1_3").unwrap(), Protocol::Tlsv1_3);
    }

    #[test]
    fn verify_flags_combine() {
        let v = Verify::from_names(["peer", "fail_if_no_peer_cert"]).unwrap();
        assert!(v.peer && v.fail_if_no_peer_cert);
        assert_eq!(Verify::from_names(["none"]).unwrap(), Verify::NONE);
        assert!(Verify::from_names(["bogus"]).is_err());
    }
}
