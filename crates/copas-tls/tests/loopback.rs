//! Our server with our client over loopback.

mod common;

use common::{connect, read_up_to, spawn_server, write_all, Ca, Pki};
use copas_tls::{Error, Protocol, Status, TlsContext, TlsParams, Verify, VerifyReason};

/// A server that says hello and closes cleanly.
fn hello_server(params: TlsParams) -> (u16, std::thread::JoinHandle<Result<(), Error>>) {
    spawn_server(params, |stream| {
        write_all(stream, b"hello")?;
        common::drive(|| stream.close_notify())
    })
}

/// Why the client refused the server's certificate.
fn refused(pki: &Pki, client: TlsParams, host: &str) -> VerifyReason {
    let (port, server) = hello_server(pki.server_params());
    let error = connect(&client, port, host).expect_err("handshake must fail");
    server.join().unwrap().expect_err("server sees the failure");
    match error {
        Error::CertificateVerify { reason, .. } => reason,
        other => panic!("not a verification failure: {other:?}"),
    }
}

fn accepted(pki: &Pki, client: TlsParams, host: &str) {
    let (port, server) = hello_server(pki.server_params());
    let mut stream = connect(&client, port, host).unwrap();
    assert_eq!(read_up_to(&mut stream, 100).unwrap(), b"hello");
    server.join().unwrap().unwrap();
}

fn no_verify(pki: &Pki) -> TlsParams {
    TlsParams {
        verify: Some(Verify::NONE),
        ..pki.client_params()
    }
}

#[test]
fn handshake_read_and_peer_certificate() {
    let pki = Pki::new(&["localhost", "127.0.0.1"], false);
    let (port, server) = hello_server(pki.server_params());
    let mut stream = connect(&pki.client_params(), port, "localhost").unwrap();
    let certs = stream.peer_certificates().unwrap();
    assert_eq!(certs[0].common_name(), Some("localhost"));
    assert!(certs[0]
        .issuer
        .iter()
        .any(|e| e.name == "CN" && e.value == "copas-rs test CA"));
    assert!(
        certs[0].not_after.ends_with(" GMT"),
        "{}",
        certs[0].not_after
    );
    assert_eq!(read_up_to(&mut stream, 100).unwrap(), b"hello");
    // close_notify arrived: reads now say end of stream, not an error.
    assert_eq!(read_up_to(&mut stream, 1).unwrap(), b"");
    server.join().unwrap().unwrap();
}

#[test]
fn ip_address_names_are_verified() {
    let pki = Pki::new(&["localhost", "127.0.0.1"], false);
    accepted(&pki, pki.client_params(), "127.0.0.1");
}

#[test]
fn wrong_hostname_is_refused_unless_verify_none() {
    let pki = Pki::new(&["localhost"], false);
    assert_eq!(
        refused(&pki, pki.client_params(), "example.org"),
        VerifyReason::HostnameMismatch
    );
    accepted(&pki, no_verify(&pki), "example.org");
}

#[test]
fn expired_certificate_is_refused_unless_verify_none() {
    let pki = Pki::new(&["localhost"], true);
    assert_eq!(
        refused(&pki, pki.client_params(), "localhost"),
        VerifyReason::Expired
    );
    accepted(&pki, no_verify(&pki), "localhost");
}

#[test]
fn unknown_ca_is_refused_unless_verify_none() {
    let pki = Pki::new(&["localhost"], false);
    let other = Pki::signed_by(&Ca::new("someone else"), &["localhost"], false);
    assert_eq!(
        refused(&pki, other.client_params(), "localhost"),
        VerifyReason::UnknownIssuer
    );
    // Nor do the built-in roots know our test CA.
    assert_eq!(
        refused(&pki, TlsParams::default(), "localhost"),
        VerifyReason::UnknownIssuer
    );
    accepted(&pki, no_verify(&other), "localhost");
}

#[test]
fn protocol_versions_and_info() {
    let pki = Pki::new(&["localhost"], false);
    for (protocol, name) in [
        (Protocol::Tlsv1_2, "TLSv1.2"),
        (Protocol::Tlsv1_3, "TLSv1.3"),
    ] {
        let (port, server) = hello_server(TlsParams {
            protocol,
            ..pki.server_params()
        });
        let stream = connect(&pki.client_params(), port, "localhost").unwrap();
        let info = stream.info().unwrap();
        assert_eq!(info.protocol, name);
        let expected_cipher = if protocol == Protocol::Tlsv1_3 {
            "TLS_"
        } else {
            "ECDHE-ECDSA-"
        };
        assert!(info.cipher.starts_with(expected_cipher), "{}", info.cipher);
        drop(stream);
        let _ = server.join().unwrap();
    }
}

#[test]
fn version_mismatch_fails_both_sides() {
    let pki = Pki::new(&["localhost"], false);
    let client = TlsParams {
        protocol: Protocol::Tlsv1_2,
        ..pki.client_params()
    };
    let server = TlsParams {
        protocol: Protocol::Tlsv1_3,
        ..pki.server_params()
    };
    let (port, server) = hello_server(server);
    let error = connect(&client, port, "localhost").err().unwrap();
    assert!(matches!(error, Error::AlertReceived(_)), "{error:?}");
    assert!(server.join().unwrap().is_err());
}

#[test]
fn cipher_choice_is_honoured() {
    let pki = Pki::new(&["localhost"], false);
    let client = TlsParams {
        protocol: Protocol::Tlsv1_2,
        ciphers: Some("ECDHE-ECDSA-CHACHA20-POLY1305".into()),
        curve: Some("secp384r1".into()),
        ..pki.client_params()
    };
    let (port, server) = hello_server(pki.server_params());
    let stream = connect(&client, port, "localhost").unwrap();
    assert_eq!(
        stream.info().unwrap().cipher,
        "ECDHE-ECDSA-CHACHA20-POLY1305"
    );
    drop(stream);
    let _ = server.join().unwrap();
}

#[test]
fn alpn_and_sni() {
    let pki = Pki::new(&["localhost"], false);
    let server = TlsParams {
        alpn: vec!["h2".into(), "http/1.1".into()],
        ..pki.server_params()
    };
    let (port, server) = spawn_server(server, |stream| {
        let seen = (
            stream.sni().map(str::to_owned),
            stream.alpn().map(<[u8]>::to_vec),
        );
        common::drive(|| stream.close_notify())?;
        Ok(seen)
    });
    let client = TlsParams {
        alpn: vec!["spdy/1".into(), "http/1.1".into()],
        ..pki.client_params()
    };
    let stream = connect(&client, port, "localhost").unwrap();
    assert_eq!(stream.alpn(), Some(&b"http/1.1"[..]));
    let (sni, alpn) = server.join().unwrap().unwrap();
    assert_eq!(sni.as_deref(), Some("localhost"));
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
}

#[test]
fn one_mebibyte_each_way_is_byte_identical() {
    const LEN: usize = 1 << 20;
    let data: Vec<u8> = (0..LEN).map(|i| (i * 7 + i / 251) as u8).collect();
    let pki = Pki::new(&["localhost"], false);
    let expected = data.clone();
    let (port, server) = spawn_server(pki.server_params(), move |stream| {
        let received = read_up_to(stream, LEN)?;
        let reply: Vec<u8> = received.iter().rev().copied().collect();
        write_all(stream, &reply)?;
        common::drive(|| stream.close_notify())?;
        Ok(received == expected)
    });
    let mut stream = connect(&pki.client_params(), port, "localhost").unwrap();
    write_all(&mut stream, &data).unwrap();
    let reply = read_up_to(&mut stream, LEN + 1).unwrap();
    assert!(server.join().unwrap().unwrap(), "server got other bytes");
    assert_eq!(reply.len(), LEN);
    assert!(reply.iter().rev().eq(data.iter()), "client got other bytes");
}

#[test]
fn client_certificates_when_the_server_asks() {
    let ca = Ca::new("copas-rs test CA");
    let pki = Pki::signed_by(&ca, &["localhost"], false);
    let client_pki = Pki::signed_by(&ca, &["client.test"], false);
    let server = TlsParams {
        verify: Some(Verify::from_names(["peer", "fail_if_no_peer_cert"]).unwrap()),
        cafile: Some(pki.ca.clone()),
        ..pki.server_params()
    };
    let (port, handle) = spawn_server(server.clone(), |stream| {
        let certs = stream.peer_certificates()?;
        common::drive(|| stream.close_notify())?;
        Ok(certs[0].common_name().map(str::to_owned))
    });
    let client = TlsParams {
        certificate: Some(client_pki.cert.clone()),
        key: Some(client_pki.key.clone()),
        ..pki.client_params()
    };
    let mut stream = connect(&client, port, "localhost").unwrap();
    let _ = read_up_to(&mut stream, 1);
    assert_eq!(
        handle.join().unwrap().unwrap().as_deref(),
        Some("client.test")
    );

    // Without a certificate the server refuses; a TLS 1.3 client learns it on its first read.
    let (port, handle) = hello_server(server);
    if let Ok(mut stream) = connect(&pki.client_params(), port, "localhost") {
        assert!(read_up_to(&mut stream, 5).is_err());
    }
    assert!(handle.join().unwrap().is_err());
}

#[test]
fn configuration_errors_are_clear() {
    let pki = Pki::new(&["localhost"], false);
    let server_without_cert = TlsParams {
        mode: copas_tls::Mode::Server,
        ..TlsParams::default()
    };
    assert_eq!(
        TlsContext::new(&server_without_cert)
            .unwrap_err()
            .to_string(),
        "a server needs a certificate and a key"
    );
    let encrypted = pki.dir.write(
        "encrypted.pem",
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
    );
    let params = TlsParams {
        key: Some(encrypted),
        ..pki.server_params()
    };
    let error = TlsContext::new(&params).unwrap_err().to_string();
    assert!(
        error.ends_with("encrypted private keys are not supported"),
        "{error}"
    );
    let params = TlsParams {
        cafile: Some(pki.dir.0.join("missing.pem")),
        ..TlsParams::default()
    };
    let error = TlsContext::new(&params).unwrap_err().to_string();
    assert!(error.contains("missing.pem"), "{error}");
    let params = TlsParams {
        ciphers: Some("DES-CBC3-SHA".into()),
        ..TlsParams::default()
    };
    let error = TlsContext::new(&params).unwrap_err().to_string();
    assert!(
        error.starts_with("unsupported cipher 'DES-CBC3-SHA'"),
        "{error}"
    );
}

#[test]
fn capath_directory_of_cas() {
    let pki = Pki::new(&["localhost"], false);
    let capath = common::TempDir::new();
    std::fs::copy(&pki.ca, capath.0.join("ca.pem")).unwrap();
    capath.write("README", "not a certificate");
    let client = TlsParams {
        capath: Some(capath.0.clone()),
        ..TlsParams::default()
    };
    accepted(&pki, client, "localhost");
}

/// Client writes and reads at the same time while the server echoes: neither side may stall
/// on output the other cannot take.
#[test]
fn concurrent_echo_of_one_mebibyte() {
    const LEN: usize = 1 << 20;
    let data: Vec<u8> = (0..LEN).map(|i| (i % 253) as u8).collect();
    let pki = Pki::new(&["localhost"], false);
    let (port, server) = spawn_server(pki.server_params(), |stream| {
        let mut buf = vec![0; 32 * 1024];
        let mut echoed = 0;
        while echoed < LEN {
            let n = common::drive(|| stream.read(&mut buf))?;
            if n == 0 {
                break;
            }
            write_all(stream, &buf[..n])?;
            echoed += n;
        }
        common::drive(|| stream.close_notify())
    });
    let mut stream = connect(&pki.client_params(), port, "localhost").unwrap();
    let (mut sent, mut received) = (0, Vec::with_capacity(LEN));
    let mut buf = vec![0; 32 * 1024];
    let started = std::time::Instant::now();
    while received.len() < LEN {
        assert!(started.elapsed().as_secs() < 10, "echo hung");
        let mut progressed = false;
        if sent < LEN {
            if let Status::Done(n) = stream.write(&data[sent..]).unwrap() {
                sent += n;
                progressed = n > 0;
            }
        }
        if let Status::Done(n) = stream.read(&mut buf).unwrap() {
            assert!(n > 0, "server closed early");
            received.extend_from_slice(&buf[..n]);
            progressed = true;
        }
        if !progressed {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    assert!(received == data, "echo differs");
    server.join().unwrap().unwrap();
}

#[test]
fn accept_lets_the_server_choose_alpn_from_the_client_hello() {
    use common::drive;
    use copas_tls::TlsAccept;
    use std::net::TcpListener;

    let pki = Pki::new(&["localhost"], false);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server_params = pki.server_params();
    let server = std::thread::spawn(move || {
        let context = TlsContext::new(&server_params).unwrap();
        let (socket, _) = listener.accept().unwrap();
        socket.set_nonblocking(true).unwrap();
        let mut accept = TlsAccept::new(&context, socket).unwrap();
        let mut seen = Vec::new();
        let mut stream = drive(|| {
            accept.poll(Some(|offered: &[&[u8]]| {
                seen = offered.iter().map(|p| p.to_vec()).collect();
                offered.last().map(|p| p.to_vec())
            }))
        })
        .unwrap();
        drive(|| stream.handshake()).unwrap();
        (seen, stream.alpn().map(<[u8]>::to_vec))
    });
    let params = TlsParams {
        alpn: vec!["first".to_owned(), "second".to_owned()],
        ..pki.client_params()
    };
    let stream = connect(&params, port, "localhost").unwrap();
    assert_eq!(stream.alpn(), Some(&b"second"[..]));
    let (seen, chosen) = server.join().unwrap();
    assert_eq!(seen, vec![b"first".to_vec(), b"second".to_vec()]);
    assert_eq!(chosen, Some(b"second".to_vec()));
}

/// A server with contexts by server name: each client is served the certificate of the
/// name it asks for, an unlisted name gets the default one, and a strict server refuses
/// it with an alert the client reports (instead of leaving it waiting).
#[test]
fn server_chooses_its_context_by_server_name() {
    use common::drive;
    use copas_tls::TlsAccept;
    use std::net::TcpListener;

    let ca = Ca::new("copas-rs test CA");
    let default = Pki::signed_by(&ca, &["localhost"], false);
    let alpha = Pki::signed_by(&ca, &["alpha.test"], false);
    let serve = |strict: bool| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (default_params, alpha_params) = (default.server_params(), alpha.server_params());
        let server = std::thread::spawn(move || {
            let context = TlsContext::new(&default_params).unwrap();
            let names = vec![(
                "alpha.test".to_owned(),
                TlsContext::new(&alpha_params).unwrap(),
            )];
            let (socket, _) = listener.accept().unwrap();
            socket.set_nonblocking(true).unwrap();
            let mut accept = TlsAccept::new(&context, socket)
                .unwrap()
                .with_server_names(&names, strict)
                .unwrap();
            let mut stream = drive(|| accept.poll(None::<fn(&[&[u8]]) -> Option<Vec<u8>>>))?;
            drive(|| stream.handshake())
        });
        (port, server)
    };
    let client = default.client_params();

    let (port, server) = serve(false);
    connect(&client, port, "alpha.test").unwrap();
    server.join().unwrap().unwrap();

    let (port, server) = serve(false);
    connect(&client, port, "localhost").unwrap();
    server.join().unwrap().unwrap();

    let (port, server) = serve(true);
    let refused = connect(&client, port, "localhost").unwrap_err();
    assert!(
        matches!(refused, Error::AlertReceived(_)),
        "client saw {refused:?}"
    );
    let server_side = server.join().unwrap().unwrap_err();
    assert!(
        matches!(server_side, Error::UnrecognizedName(ref name) if name == "localhost"),
        "{server_side:?}"
    );
}
