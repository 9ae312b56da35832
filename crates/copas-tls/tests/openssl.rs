//! Interoperability with the `openssl` command line tool (skipped when it is not installed).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{connect, drive, read_up_to, spawn_server, write_all, Pki};
use copas_tls::{Error, Protocol, TlsParams, TlsStream};

/// Kills the child when dropped, so a failing test leaves no process behind.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn have_openssl() -> bool {
    let found = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("openssl not found; skipping");
    }
    found
}

/// `openssl s_server -www` on an ephemeral port, with the port it printed.
fn s_server(pki: &Pki, extra: &[&str]) -> (Reaped, u16) {
    let mut child = Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            "127.0.0.1:0",
            "-www",
            "-naccept",
            "1",
        ])
        .arg("-cert")
        .arg(&pki.cert)
        .arg("-key")
        .arg(&pki.key)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Reaped(child);
    let port = BufReader::new(stdout)
        .lines()
        .take(20)
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("ACCEPT ").map(str::to_owned))
        .and_then(|addr| addr.rsplit(':').next()?.parse().ok())
        .expect("s_server prints its port");
    (child, port)
}

/// Everything until the peer closes, with or without close_notify.
fn read_to_close(stream: &mut TlsStream<TcpStream>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match drive(|| stream.read(&mut buf)) {
            Ok(0) | Err(Error::ClosedWithoutNotify) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!("read failed: {e}"),
        }
        assert!(out.len() < 1 << 20, "s_server talks too much");
    }
}

#[test]
fn our_client_against_s_server() {
    if !have_openssl() {
        return;
    }
    let pki = Pki::new(&["localhost", "127.0.0.1"], false);
    for (flag, version) in [("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")] {
        let (_server, port) = s_server(&pki, &[flag]);
        let mut stream = connect(&pki.client_params(), port, "localhost").unwrap();
        assert_eq!(stream.info().unwrap().protocol, version);
        write_all(&mut stream, b"GET / HTTP/1.0\r\n\r\n").unwrap();
        let page = String::from_utf8_lossy(&read_to_close(&mut stream)).into_owned();
        assert!(page.starts_with("HTTP/1.0 200 ok"), "{page}");
    }
}

#[test]
fn our_client_refuses_s_server_with_wrong_name() {
    if !have_openssl() {
        return;
    }
    let pki = Pki::new(&["localhost"], false);
    let (_server, port) = s_server(&pki, &[]);
    let error = connect(&pki.client_params(), port, "wrong.example").expect_err("name mismatch");
    assert!(
        matches!(
            error,
            Error::CertificateVerify {
                reason: copas_tls::VerifyReason::HostnameMismatch,
                ..
            }
        ),
        "{error:?}"
    );
}

/// Runs `openssl s_client` against our server: it sends "hello", we answer "world".
fn s_client_session(protocol: Protocol, flag: &str) -> String {
    let pki = Pki::new(&["localhost"], false);
    let server = TlsParams {
        protocol,
        alpn: vec!["http/1.1".into()],
        ..pki.server_params()
    };
    let (port, handle) = spawn_server(server, |stream| {
        let got = read_up_to(stream, 6)?;
        write_all(stream, b"world\n")?;
        drive(|| stream.close_notify())?;
        Ok((
            got,
            stream.alpn().map(<[u8]>::to_vec),
            stream.sni().map(str::to_owned),
        ))
    });
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", flag])
        .args(["-connect", &format!("127.0.0.1:{port}")])
        .args(["-servername", "localhost", "-verify_hostname", "localhost"])
        .args(["-alpn", "h2,http/1.1"])
        .arg("-CAfile")
        .arg(&pki.ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut child = Reaped(child);
    stdin.write_all(b"hello\n").unwrap();
    let started = Instant::now();
    while child.0.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(10), "s_client hung");
        thread::sleep(Duration::from_millis(5));
    }
    let mut output = String::new();
    stdout.read_to_string(&mut output).unwrap();
    let (got, alpn, sni) = handle.join().unwrap().unwrap();
    assert_eq!(got, b"hello\n");
    assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(sni.as_deref(), Some("localhost"));
    output
}

#[test]
fn s_client_against_our_server() {
    if !have_openssl() {
        return;
    }
    assert_eq!(s_client_session(Protocol::Tlsv1_3, "-tls1_3"), "world\n");
    assert_eq!(s_client_session(Protocol::Any, "-tls1_2"), "world\n");
}
