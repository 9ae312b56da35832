//! Our client against nginx with TLS (skipped when nginx is not installed).
//!
//! nginx runs unprivileged from a temporary prefix: its own config, pid file, logs and
//! temp paths, in the foreground, on a loopback port we picked free just before.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{connect, drive, write_all, Pki, TempDir};
use copas_tls::{Error, TlsParams, TlsStream};

/// The page nginx serves; the test checks the body it gets.
const PAGE: &str = "hello from nginx over TLS\n";

/// Kills nginx when dropped, so a failing test leaves no process behind.
struct Nginx {
    child: Child,
    port: u16,
    _prefix: TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx on PATH or in the sbin directories Debian installs it to.
fn nginx_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn config(prefix: &TempDir, port: u16, pki: &Pki) -> String {
    let dir = prefix.0.display();
    format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{ root {dir}/html; }}
    }}
}}
",
        cert = pki.cert.display(),
        key = pki.key.display(),
    )
}

/// Starts nginx with `pki`'s certificate; `None` when nginx is not installed. The port is
/// picked free just before nginx binds it, so a lost race is retried on another one.
fn start(pki: &Pki) -> Option<Nginx> {
    let Some(binary) = nginx_binary() else {
        eprintln!("nginx not found; skipping");
        return None;
    };
    let mut last_error = String::new();
    for _ in 0..5 {
        let prefix = TempDir::new();
        std::fs::create_dir_all(prefix.0.join("html")).unwrap();
        prefix.write("html/index.html", PAGE);
        let port = free_port();
        let conf = prefix.write("nginx.conf", &config(&prefix, port, pki));
        let child = Command::new(&binary)
            .arg("-p")
            .arg(&prefix.0)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(prefix.0.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let mut nginx = Nginx {
            child,
            port,
            _prefix: prefix,
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = nginx.child.try_wait() {
                break;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(nginx);
            }
            thread::sleep(Duration::from_millis(20));
        }
        last_error = std::fs::read_to_string(nginx._prefix.0.join("error.log")).unwrap_or_default();
    }
    panic!("nginx did not start: {last_error}");
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
        assert!(out.len() < 1 << 20, "nginx talks too much");
    }
}

#[test]
fn our_client_fetches_a_page_from_nginx() {
    let pki = Pki::new(&["localhost", "127.0.0.1"], false);
    let Some(nginx) = start(&pki) else {
        return;
    };
    let params = TlsParams {
        alpn: vec!["http/1.1".to_owned()],
        ..pki.client_params()
    };
    let mut stream = connect(&params, nginx.port, "localhost").unwrap();
    assert_eq!(stream.alpn(), Some(&b"http/1.1"[..]));
    write_all(
        &mut stream,
        b"GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let response = String::from_utf8_lossy(&read_to_close(&mut stream)).into_owned();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.ends_with(PAGE), "{response}");
}

#[test]
fn our_client_refuses_nginx_with_an_unknown_ca() {
    let pki = Pki::new(&["localhost"], false);
    let Some(nginx) = start(&pki) else {
        return;
    };
    let other_ca = Pki::new(&["localhost"], false);
    let error = connect(&other_ca.client_params(), nginx.port, "localhost").unwrap_err();
    assert!(
        matches!(error, Error::CertificateVerify { .. }),
        "{error:?}"
    );
}
