//! Turning [`TlsParams`] into rustls configurations.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme,
    SupportedProtocolVersion,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::names::{parse_curves, parse_suites};
use crate::params::{Mode, Protocol, TlsParams, Verify};
use crate::trust::ServerTrust;
use crate::Error;

/// A configuration ready to start connections: LuaSec's `ssl.newcontext` result.
///
/// Its `Debug` names the side and what it verifies, not the whole rustls configuration
/// (whose trust store alone is a megabyte of text).
#[derive(Clone)]
pub struct TlsContext {
    side: Side,
    verifies_peer: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Side {
    Client {
        config: Arc<ClientConfig>,
        server_name: Option<String>,
        verifying: bool,
    },
    Server(Arc<ServerConfig>),
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = f.debug_struct("TlsContext");
        match &self.side {
            Side::Client {
                config,
                server_name,
                verifying,
            } => shown
                .field("mode", &"client")
                .field("server_name", server_name)
                .field("verifies_server", verifying)
                .field("alpn", &alpn_text(&config.alpn_protocols)),
            Side::Server(config) => shown
                .field("mode", &"server")
                .field("alpn", &alpn_text(&config.alpn_protocols)),
        };
        shown.field("verifies_peer", &self.verifies_peer).finish()
    }
}

fn alpn_text(protocols: &[Vec<u8>]) -> Vec<String> {
    protocols
        .iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect()
}

impl TlsContext {
    /// Checks every parameter and loads every file now, so that mistakes show up here and not
    /// at the first handshake.
    pub fn new(params: &TlsParams) -> Result<Self, Error> {
        let provider = Arc::new(provider(params)?);
        let versions = versions(params.protocol);
        let chain = certificate_chain(params)?;
        let key = params.key.as_deref().map(load_key).transpose()?;
        let identity = match (chain.is_empty(), key) {
            (true, None) => None,
            (false, Some(key)) => Some((chain, key)),
            (false, None) => return Err(Error::config("key", "a certificate needs a key")),
            (true, Some(_)) => {
                return Err(Error::config("certificate", "a key needs a certificate"))
            }
        };
        let alpn: Vec<Vec<u8>> = params.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        let verifies_peer = match params.mode {
            Mode::Client => params.verify.unwrap_or(Verify::PEER).peer,
            Mode::Server => params
                .verify
                .is_some_and(|v| v.peer || v.fail_if_no_peer_cert),
        };
        let side = match params.mode {
            Mode::Client => {
                let verify = params.verify.unwrap_or(Verify::PEER);
                let builder = ClientConfig::builder_with_provider(provider.clone())
                    .with_protocol_versions(versions)
                    .map_err(|e| Error::config("protocol", e.to_string()))?;
                let builder = if verify.peer {
                    let (roots, explicit) = trust_anchors(params, true)?;
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(ServerTrust::new(
                            roots,
                            explicit,
                            provider.clone(),
                            !params.ignore_host_name,
                        )?))
                } else {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
                };
                let mut config = match identity {
                    Some((chain, key)) => builder
                        .with_client_auth_cert(chain, key)
                        .map_err(|e| Error::config("key", format!("certificate/key: {e}")))?,
                    None => builder.with_no_client_auth(),
                };
                config.alpn_protocols = alpn;
                Side::Client {
                    config: Arc::new(config),
                    server_name: params.server_name.clone(),
                    verifying: verify.peer,
                }
            }
            Mode::Server => {
                let verify = params.verify.unwrap_or(Verify::NONE);
                let builder = ServerConfig::builder_with_provider(provider.clone())
                    .with_protocol_versions(versions)
                    .map_err(|e| Error::config("protocol", e.to_string()))?;
                let builder = if verify.peer || verify.fail_if_no_peer_cert {
                    let roots = Arc::new(trust_anchors(params, false)?.0);
                    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
                    let verifier = if verify.fail_if_no_peer_cert {
                        verifier
                    } else {
                        verifier.allow_unauthenticated()
                    };
                    let verifier = verifier.build().map_err(|e| {
                        Error::config("verify", format!("client verification: {e}"))
                    })?;
                    builder.with_client_cert_verifier(verifier)
                } else {
                    builder.with_no_client_auth()
                };
                let Some((chain, key)) = identity else {
                    return Err(Error::config(
                        "certificate",
                        "a server needs a certificate and a key",
                    ));
                };
                let mut config = builder
                    .with_single_cert(chain, key)
                    .map_err(|e| Error::config("key", format!("certificate/key: {e}")))?;
                config.alpn_protocols = alpn;
                Side::Server(Arc::new(config))
            }
        };
        Ok(Self {
            side,
            verifies_peer,
        })
    }

    /// Which side of the handshake connections made from it take.
    pub fn mode(&self) -> Mode {
        match self.side {
            Side::Client { .. } => Mode::Client,
            Side::Server(_) => Mode::Server,
        }
    }

    /// Whether a peer certificate is verified (a client unless `verify = "none"`, a server
    /// asking for client certificates).
    pub fn verifies_peer(&self) -> bool {
        self.verifies_peer
    }

    pub(crate) fn side(&self) -> &Side {
        &self.side
    }
}

const TLS12_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
const TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

fn versions(protocol: Protocol) -> &'static [&'static SupportedProtocolVersion] {
    match protocol {
        Protocol::Any => rustls::ALL_VERSIONS,
        Protocol::Tlsv1_2 => TLS12_ONLY,
        Protocol::Tlsv1_3 => TLS13_ONLY,
    }
}

fn provider(params: &TlsParams) -> Result<CryptoProvider, Error> {
    let mut provider = rustls::crypto::ring::default_provider();
    if params.ciphers.is_some() || params.ciphersuites.is_some() {
        let defaults = provider.cipher_suites.clone();
        let mut suites = match &params.ciphersuites {
            Some(list) => parse_suites(list, true)?,
            None => defaults
                .iter()
                .copied()
                .filter(|s| s.tls13().is_some())
                .collect(),
        };
        match &params.ciphers {
            Some(list) => suites.extend(parse_suites(list, false)?),
            None => suites.extend(defaults.iter().copied().filter(|s| s.tls13().is_none())),
        }
        if suites.is_empty() {
            return Err(Error::config("ciphers", "no cipher suites left"));
        }
        provider.cipher_suites = suites;
    }
    if let Some(list) = &params.curve {
        let groups = parse_curves(list)?;
        if groups.is_empty() {
            return Err(Error::config("curve", "no curves left"));
        }
        provider.kx_groups = groups;
    }
    Ok(provider)
}

fn certificate_chain(params: &TlsParams) -> Result<Vec<CertificateDer<'static>>, Error> {
    let mut chain = Vec::new();
    for path in params.certificate.iter().chain(&params.certificates) {
        let certs = load_certificates("certificate", path)?;
        if certs.is_empty() {
            return Err(Error::config(
                "certificate",
                format!("{}: no certificate found", path.display()),
            ));
        }
        chain.extend(certs);
    }
    Ok(chain)
}

fn load_certificates(
    parameter: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let pem = read(parameter, path)?;
    CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::config(parameter, format!("{}: {e}", path.display())))
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    let pem = read("key", path)?;
    let text = String::from_utf8_lossy(&pem);
    if text.contains("ENCRYPTED PRIVATE KEY") || text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(Error::config(
            "key",
            format!(
                "{}: encrypted private keys are not supported",
                path.display()
            ),
        ));
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        Error::config(
            "key",
            format!("{}: no private key found ({e})", path.display()),
        )
    })
}

fn read(parameter: &'static str, path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::config(parameter, format!("{}: {e}", path.display())))
}

/// Trust anchors: `cafile` and `capath` when given; for a client without them
/// (`fallback`), the files `SSL_CERT_FILE` / `SSL_CERT_DIR` name, else the Mozilla roots
/// compiled in from webpki-roots. Also the certificates given, which a client trusts as
/// themselves (see `trust`).
fn trust_anchors(
    params: &TlsParams,
    fallback: bool,
) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), Error> {
    let mut store = RootCertStore::empty();
    let mut explicit = Vec::new();
    // Without `cafile`/`capath`, a client takes OpenSSL's environment variables for its
    // default trust, as LuaSec (through OpenSSL) does: how a program that gives no CA
    // (LuaRocks, say) is pointed at a private one.
    let from_environment = |name: &str| {
        (fallback && params.cafile.is_none() && params.capath.is_none())
            .then(|| std::env::var_os(name))
            .flatten()
            .map(std::path::PathBuf::from)
    };
    let (cafile, capath) = (
        params
            .cafile
            .clone()
            .or_else(|| from_environment("SSL_CERT_FILE")),
        params
            .capath
            .clone()
            .or_else(|| from_environment("SSL_CERT_DIR")),
    );
    if let Some(cafile) = &cafile {
        let certs = load_certificates("cafile", cafile)?;
        explicit.extend(certs.iter().cloned());
        add_roots(&mut store, "cafile", cafile, certs)?;
    }
    if let Some(capath) = &capath {
        let entries = std::fs::read_dir(capath)
            .map_err(|e| Error::config("capath", format!("{}: {e}", capath.display())))?;
        for entry in entries {
            let path = entry.map_err(Error::from)?.path();
            // Hash links and other files that hold no PEM certificate are skipped, as OpenSSL
            // skips files that do not match what it looks up.
            if let Ok(certs) = load_certificates("capath", &path) {
                explicit.extend(certs.iter().cloned());
                add_roots(&mut store, "capath", &path, certs)?;
            }
        }
    }
    if store.is_empty() {
        if cafile.is_some() || capath.is_some() || !fallback {
            return Err(Error::config(
                "cafile",
                "no CA certificates found (give 'cafile' or 'capath' to verify peers)",
            ));
        }
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    Ok((store, explicit))
}

fn add_roots(
    store: &mut RootCertStore,
    parameter: &'static str,
    path: &Path,
    certs: Vec<CertificateDer<'static>>,
) -> Result<(), Error> {
    for cert in certs {
        store
            .add(cert)
            .map_err(|e| Error::config(parameter, format!("{}: {e}", path.display())))?;
    }
    Ok(())
}

/// `verify = "none"` on a client: any certificate for any name is accepted. Handshake
/// signatures are still checked, which proves only that the peer holds the key of the
/// certificate it sent, not who it is.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
