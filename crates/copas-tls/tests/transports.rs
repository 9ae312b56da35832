//! TLS over every transport: luasocket-core's Unix stream objects and std's `UnixStream`,
//! and the `tls_client` example (over a luasocket-core `TcpSocket`) against
//! `openssl s_server`.

#![cfg(unix)]
mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;

use common::Pki;
use copas_tls::{TlsContext, TlsSocket, Transport};
use luasocket_core::{ReceivePattern, TcpSocket, TimeoutMode};

/// Runs a server on `server` and a verifying client on `client` in two threads: the
/// client sends a line, the server answers it upper-cased.
fn exchange<T: Transport + Send + 'static>(pki: &Pki, client: T, server: T) -> Vec<u8> {
    let server_context = TlsContext::new(&pki.server_params()).unwrap();
    let server = thread::spawn(move || {
        let mut tls = TlsSocket::new(&server_context, server, None);
        tls.timeout_mut().set(Some(10.0), TimeoutMode::Block);
        tls.handshake().unwrap();
        let (line, error) = tls.receive_with(ReceivePattern::Line, <[u8]>::to_vec);
        assert!(error.is_none(), "{error:?}");
        let (_, error) = tls.send(&[&line.to_ascii_uppercase()[..], b"\n"].concat());
        assert!(error.is_none(), "{error:?}");
    });
    let mut tls = TlsSocket::new(
        &TlsContext::new(&pki.client_params()).unwrap(),
        client,
        None,
    );
    assert!(tls.set_server_name("localhost"));
    tls.timeout_mut().set(Some(10.0), TimeoutMode::Block);
    tls.handshake().unwrap();
    assert!(tls.send(b"over unix\n").1.is_none());
    let (reply, error) = tls.receive_with(ReceivePattern::Line, <[u8]>::to_vec);
    assert!(error.is_none(), "{error:?}");
    server.join().unwrap();
    reply
}

#[test]
fn tls_over_luasocket_core_unix_streams() {
    let pki = Pki::new(&["localhost"], false);
    let path = pki.dir.0.join("socket");
    let mut listener = TcpSocket::new_unix().unwrap();
    listener
        .bind_path(path.as_os_str().as_encoded_bytes())
        .unwrap();
    listener.listen(1).unwrap();
    let mut client = TcpSocket::new_unix().unwrap();
    client
        .connect_path(path.as_os_str().as_encoded_bytes())
        .unwrap();
    let server = listener.accept().unwrap();
    assert_eq!(exchange(&pki, client, server), b"OVER UNIX");
}

#[test]
fn tls_over_std_unix_streams() {
    let pki = Pki::new(&["localhost"], false);
    let (client, server) = UnixStream::pair().unwrap();
    client.set_nonblocking(true).unwrap();
    server.set_nonblocking(true).unwrap();
    assert_eq!(exchange(&pki, client, server), b"OVER UNIX");
}

/// Kills the child when dropped, so a failing test leaves no process behind.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn example(name: &str) -> PathBuf {
    let mut path = std::env::current_exe().unwrap();
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    path.join("examples").join(name)
}

#[test]
fn the_tls_client_example_talks_to_openssl_s_server() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("openssl not found; skipping");
        return;
    }
    let pki = Pki::new(&["localhost"], false);
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
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = Reaped(child);
    let port = BufReader::new(stdout)
        .lines()
        .take(20)
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("ACCEPT ").map(str::to_owned))
        .and_then(|addr| addr.rsplit(':').next().map(str::to_owned))
        .expect("s_server prints its port");
    let output = Command::new(example("tls_client"))
        .args(["localhost", &port])
        .arg(&pki.ca)
        .output()
        .expect("the tls_client example is built by `cargo test`");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("HTTP/1.0 200 ok"), "{stdout}");
    assert!(
        stdout.contains("Ciphers supported in s_server binary"),
        "{stdout}"
    );
}
