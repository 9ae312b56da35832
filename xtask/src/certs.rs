//! The test certificates every Lua test finds in `COPAS_TEST_CERTS`.
//!
//! Generated afresh by each `test-lua` run with rcgen (never committed): a test CA and
//! leaves signed by it for the cases TLS tests need. Not a general PKI tool.
//!
//! Files (PEM; keys unencrypted PKCS#8): `ca.pem`/`ca.key`, `localhost.pem`/`.key`
//! (SAN localhost, 127.0.0.1, ::1), `wronghost.pem`/`.key` (SAN example.invalid only),
//! `expired.pem`/`.key` (expired, SAN localhost), `selfsigned.pem`/`.key` (not signed by
//! the CA, SAN localhost).

use std::fs;
use std::path::Path;

use rcgen::{date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};

use crate::Result;

/// The subject alternative names of a leaf that is valid for this machine.
const LOCAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// `cargo xtask test-certs DIR`. A DIR that looks like an option is refused: `--help`
/// once became a directory of keys in the repository.
pub(crate) fn command(args: &[String]) -> Result {
    match args {
        [dir] if !dir.starts_with('-') => generate(Path::new(dir)),
        _ => Err("usage: cargo xtask test-certs DIR".into()),
    }
}

/// Writes the files into `dir` (created if missing), replacing earlier ones; nothing
/// else in it is touched.
pub(crate) fn generate(dir: &Path) -> Result {
    fs::create_dir_all(dir)?;

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "copas-rs test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    write(dir, "ca", &ca.pem(), &ca_key)?;

    let leaves: [(&str, &[&str], bool, bool); 4] = [
        ("localhost", &LOCAL_NAMES, false, true),
        ("wronghost", &["example.invalid"], false, true),
        ("expired", &["localhost"], true, true),
        ("selfsigned", &["localhost"], false, false),
    ];
    for (name, sans, expired, signed) in leaves {
        let params = leaf_params(sans, expired)?;
        let key = KeyPair::generate()?;
        let cert = if signed {
            params.signed_by(&key, &ca, &ca_key)?
        } else {
            params.self_signed(&key)?
        };
        write(dir, name, &cert.pem(), &key)?;
    }
    Ok(())
}

fn leaf_params(sans: &[&str], expired: bool) -> Result<CertificateParams> {
    let mut params = CertificateParams::default();
    for san in sans {
        params.subject_alt_names.push(match san.parse() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName((*san).try_into()?),
        });
    }
    params.distinguished_name.push(DnType::CommonName, sans[0]);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "copas-rs tests");
    if expired {
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2021, 1, 1);
    }
    Ok(params)
}

fn write(dir: &Path, name: &str, cert: &str, key: &KeyPair) -> Result {
    fs::write(dir.join(format!("{name}.pem")), cert)?;
    fs::write(dir.join(format!("{name}.key")), key.serialize_pem())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_file() {
        let dir = std::env::temp_dir().join(format!("xtask-certs-{}", std::process::id()));
        generate(&dir).unwrap();
        for name in ["ca", "localhost", "wronghost", "expired", "selfsigned"] {
            let cert = fs::read_to_string(dir.join(format!("{name}.pem"))).unwrap();
            assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
            let key = fs::read_to_string(dir.join(format!("{name}.key"))).unwrap();
            assert!(
                key.starts_with("-----BEGIN PRIVATE KEY-----"),
                "{name}: PKCS#8"
            );
        }
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_option_is_not_a_directory() {
        for args in [vec!["--help".to_owned()], vec!["-h".to_owned()], vec![]] {
            assert!(command(&args).is_err(), "{args:?}");
        }
        assert!(!Path::new("--help").exists());
    }

    #[test]
    fn other_files_in_the_directory_stay() {
        let dir = std::env::temp_dir().join(format!("xtask-certs-keep-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("notes.txt"), "mine").unwrap();
        generate(&dir).unwrap();
        assert_eq!(fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
        assert!(dir.join("ca.pem").exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
