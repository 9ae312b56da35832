//! LuaSec-style parameters, from an arbitrary structure, through the name parsers and
//! `TlsContext::new`: mode, protocol and verify names, cipher/suite/curve lists, ALPN, and
//! PEM files with arbitrary contents (or a valid certificate and key generated once).
//! Only "no panic" is checked: every bad value must come back as an `Err`.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use copas_tls::{Mode, Protocol, TlsContext, TlsParams, Verify};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum File {
    Absent,
    Valid,
    Missing,
    Bytes(Vec<u8>),
}

/// A name: mostly one the parser knows, so the fuzzer gets past it, sometimes anything.
#[derive(Debug, Arbitrary)]
enum Name {
    Known(u8),
    Other(String),
}

impl Name {
    fn pick(&self, known: &[&str]) -> String {
        match self {
            Name::Known(index) => known[usize::from(*index) % known.len()].to_owned(),
            Name::Other(text) => text.clone(),
        }
    }
}

/// A LuaSec/OpenSSL list such as `"ECDHE-RSA-AES128-GCM-SHA256:!aNULL"`.
fn list(names: &[(Name, u8)], known: &[&str]) -> String {
    let separators = [":", ",", " ", ":!", ":-", ":+", ":@"];
    names
        .iter()
        .map(|(name, sep)| {
            format!(
                "{}{}",
                separators[usize::from(*sep) % separators.len()],
                name.pick(known)
            )
        })
        .collect()
}

const SUITES: &[&str] = &[
    "TLS_AES_256_GCM_SHA384",
    "TLS_AES_128_GCM_SHA256",
    "TLS_CHACHA20_POLY1305_SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "ALL",
    "HIGH",
    "aNULL",
];
const CURVES: &[&str] = &[
    "X25519",
    "prime256v1",
    "P-256",
    "secp384r1",
    "P-384",
    "x448",
];

#[derive(Debug, Arbitrary)]
struct Input {
    mode: Name,
    protocol: Name,
    verify: Option<Vec<Name>>,
    options: Vec<String>,
    ciphers: Option<Vec<(Name, u8)>>,
    ciphersuites: Option<Vec<(Name, u8)>>,
    curve: Option<Vec<(Name, u8)>>,
    alpn: Vec<String>,
    server_name: Option<String>,
    password: Option<String>,
    key: File,
    certificate: File,
    cafile: File,
    capath: bool,
}

struct Files {
    dir: PathBuf,
    key: PathBuf,
    certificate: PathBuf,
}

/// A private directory with one valid certificate and key; arbitrary contents are written
/// next to them.
fn files() -> &'static Files {
    static FILES: OnceLock<Files> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tls_params_fuzz_{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
        let key = dir.join("valid.key");
        let certificate = dir.join("valid.pem");
        std::fs::write(&key, certified.key_pair.serialize_pem()).expect("write key");
        std::fs::write(&certificate, certified.cert.pem()).expect("write certificate");
        Files {
            dir,
            key,
            certificate,
        }
    })
}

fn path(file: &File, name: &str, valid: &PathBuf) -> Option<PathBuf> {
    let files = files();
    match file {
        File::Absent => None,
        File::Valid => Some(valid.clone()),
        File::Missing => Some(files.dir.join("missing")),
        File::Bytes(bytes) => {
            let path = files.dir.join(name);
            std::fs::write(&path, bytes).expect("write");
            Some(path)
        }
    }
}

fuzz_target!(|input: Input| {
    let Ok(mode) = Mode::from_name(&input.mode.pick(&["client", "server"])) else {
        return;
    };
    let protocols = ["any", "tlsv1_2", "tlsv1_3", "sslv23", "tlsv1"];
    let Ok(protocol) = Protocol::from_name(&input.protocol.pick(&protocols)) else {
        return;
    };
    let verify_names = ["none", "peer", "fail_if_no_peer_cert", "client_once"];
    let verify = match &input.verify {
        Some(names) => match Verify::from_names(
            names
                .iter()
                .map(|name| name.pick(&verify_names))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str),
        ) {
            Ok(verify) => Some(verify),
            Err(_) => return,
        },
        None => None,
    };
    let files = files();
    let params = TlsParams {
        mode,
        protocol,
        key: path(&input.key, "key", &files.key),
        certificate: path(&input.certificate, "certificate", &files.certificate),
        certificates: Vec::new(),
        password: input.password,
        cafile: path(&input.cafile, "cafile", &files.certificate),
        capath: input.capath.then(|| files.dir.clone()),
        verify,
        options: input.options,
        ciphers: input.ciphers.map(|names| list(&names, SUITES)),
        ciphersuites: input.ciphersuites.map(|names| list(&names, SUITES)),
        curve: input.curve.map(|names| list(&names, CURVES)),
        alpn: input.alpn,
        server_name: input.server_name,
    };
    let _ = TlsContext::new(&params);
});
