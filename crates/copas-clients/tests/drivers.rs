//! The blocking drivers and the examples against real peers on loopback: nginx (plain
//! and TLS; skipped when not installed), aiosmtpd and pyftpdlib (skipped without them), and small
//! servers on threads for what nginx cannot show (an echoed request body).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use copas_clients::blocking::ftp::{self as ftp_driver, Client};
use copas_clients::blocking::http::{self, Request};
use copas_clients::blocking::smtp::{self, Envelope, Server};
use copas_clients::Error;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("copas-clients-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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

/// A CA and a `localhost` certificate it signed, written to `dir`: (ca, cert, key).
fn pki(dir: &TempDir) -> (PathBuf, PathBuf, PathBuf) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "copas-clients test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    (
        dir.write("ca.pem", ca.pem()),
        dir.write("cert.pem", cert.pem()),
        dir.write("key.pem", key.serialize_pem()),
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const PAGE: &str = "hello from nginx\n";

/// nginx serving `PAGE` on a plain and a TLS port, with `/old` redirecting to
/// `/index.html` and `/loop` to itself.
struct Nginx {
    _child: Reaped,
    plain: u16,
    tls: u16,
    ca: PathBuf,
    _prefix: TempDir,
}

fn nginx() -> Option<Nginx> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let Some(binary) = std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
    else {
        eprintln!("nginx not found; skipping");
        return None;
    };
    let mut last_error = String::new();
    // The ports are picked free just before nginx binds them: a lost race is retried.
    for _ in 0..5 {
        let prefix = TempDir::new();
        let (ca, cert, key) = pki(&prefix);
        prefix.write("html/index.html", PAGE);
        let (plain, tls) = (free_port(), free_port());
        let dir = prefix.0.display();
        let routes = "location = /old { return 301 /index.html; }
            location = /loop { return 302 /loop; }
            location = /see-other { return 303 /index.html; }";
        let conf = prefix.write(
            "nginx.conf",
            format!(
                "daemon off; master_process off; worker_processes 1;
pid {dir}/nginx.pid; error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body; proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
    server {{ listen 127.0.0.1:{plain}; root {dir}/html; {routes} }}
    server {{
        listen 127.0.0.1:{tls} ssl; server_name localhost; root {dir}/html; {routes}
        ssl_certificate {cert}; ssl_certificate_key {key}; ssl_protocols TLSv1.2 TLSv1.3;
    }}
}}
",
                cert = cert.display(),
                key = key.display(),
            ),
        );
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
        let mut child = Reaped(child);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = child.0.try_wait() {
                break;
            }
            if TcpStream::connect(("127.0.0.1", plain)).is_ok()
                && TcpStream::connect(("127.0.0.1", tls)).is_ok()
            {
                return Some(Nginx {
                    _child: child,
                    plain,
                    tls,
                    ca,
                    _prefix: prefix,
                });
            }
            thread::sleep(Duration::from_millis(20));
        }
        last_error = std::fs::read_to_string(prefix.0.join("error.log")).unwrap_or_default();
    }
    panic!("nginx did not start: {last_error}");
}

#[test]
fn get_follows_redirects_on_plain_and_tls_nginx() {
    let Some(nginx) = nginx() else { return };
    let plain = format!("http://127.0.0.1:{}", nginx.plain);
    let response = http::get(&format!("{plain}/old")).unwrap();
    assert_eq!(
        (response.code, response.body.as_slice()),
        (200, PAGE.as_bytes())
    );
    assert_eq!(response.url, format!("{plain}/index.html"));
    assert_eq!(response.header("content-length").as_deref(), Some("17"));

    let redirect = Request::new("GET", &format!("{plain}/old"))
        .max_redirects(0)
        .send()
        .unwrap();
    assert_eq!(redirect.code, 301);
    let looping = Request::new("GET", &format!("{plain}/loop"))
        .send()
        .unwrap_err();
    assert_eq!(
        looping,
        Error::TooManyRedirects(http::DEFAULT_MAX_REDIRECTS)
    );
    let missing = http::get(&format!("{plain}/missing")).unwrap();
    assert_eq!(missing.code, 404);

    let tls = format!("https://localhost:{}", nginx.tls);
    let response = Request::new("GET", &format!("{tls}/old"))
        .ca_file(&nginx.ca)
        .send()
        .unwrap();
    assert_eq!(
        (response.code, response.body.as_slice()),
        (200, PAGE.as_bytes())
    );
    // Without the test CA the Mozilla roots do not vouch for nginx.
    let refused = http::get(&format!("{tls}/index.html")).unwrap_err();
    assert!(
        refused.to_string().contains("certificate verify failed"),
        "{refused}"
    );
}

#[test]
fn the_http_get_example_fetches_from_nginx_over_http_and_https() {
    let Some(nginx) = nginx() else { return };
    let run = |args: &[&str]| {
        let output = Command::new(example("http_get"))
            .args(args)
            .output()
            .expect("the http_get example is built by `cargo test`");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let expected = format!("HTTP/1.1 200 OK\n{PAGE}");
    assert_eq!(
        run(&[&format!("http://127.0.0.1:{}/old", nginx.plain)]),
        expected
    );
    let https = format!("https://localhost:{}/see-other", nginx.tls);
    assert_eq!(run(&[&https, nginx.ca.to_str().unwrap()]), expected);
}

/// One HTTP exchange on a thread: reads a request (head and a chunked or sized body),
/// answers with `reply(body)`, and returns the request's head and body.
fn one_exchange(
    reply: impl FnOnce(&[u8]) -> Vec<u8> + Send + 'static,
) -> (u16, thread::JoinHandle<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = Vec::new();
        let lower = head.to_ascii_lowercase();
        if lower.contains("transfer-encoding: chunked") {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size).unwrap();
                let size = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0; size + 2];
                reader.read_exact(&mut chunk).unwrap();
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(len) = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
        {
            body.resize(len.trim().parse().unwrap(), 0);
            reader.read_exact(&mut body).unwrap();
        }
        reader.get_mut().write_all(&reply(&body)).unwrap();
        (head, body)
    });
    (port, handle)
}

#[test]
fn request_streams_bodies_both_ways() {
    let upload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    for len in [Some(upload.len() as u64), None] {
        let (port, server) = one_exchange(|body| {
            // Echo the body back chunked, in pieces, with a trailer.
            let mut reply = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for piece in body.chunks(7000) {
                reply.extend(format!("{:x}\r\n", piece.len()).bytes());
                reply.extend_from_slice(piece);
                reply.extend_from_slice(b"\r\n");
            }
            reply.extend_from_slice(b"0\r\nX-Sum: ok\r\n\r\n");
            reply
        });
        let mut received = Vec::new();
        let response = Request::new("PUT", &format!("http://127.0.0.1:{port}/upload"))
            .header("X-Test", "streaming")
            .body(upload.as_slice(), len)
            .send_to(&mut received)
            .unwrap();
        let (head, body) = server.join().unwrap();
        assert!(head.starts_with("PUT /upload HTTP/1.1\r\n"), "{head}");
        assert!(head.contains("X-Test: streaming\r\n"), "{head}");
        assert_eq!(body, upload);
        assert_eq!(response.code, 201);
        assert!(response.body.is_empty());
        assert_eq!(received, upload);
    }
}

#[test]
fn a_response_cut_short_is_an_error() {
    let (port, server) =
        one_exchange(|_| b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this".to_vec());
    let error = http::get(&format!("http://127.0.0.1:{port}/")).unwrap_err();
    server.join().unwrap();
    assert!(matches!(error, Error::Truncated(_)), "{error}");
}

/// aiosmtpd storing each message as DIR/<first recipient's local part>.eml (the DATA
/// bytes exactly) and .env (MAIL FROM, then the recipients, one a line).
const SMTP_SERVER: &str = r#"
import asyncio, logging, os, sys
from aiosmtpd.smtp import SMTP
logging.basicConfig(level=logging.CRITICAL)
outdir = sys.argv[1]
class Handler:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("reject"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"
    async def handle_DATA(self, server, session, envelope):
        name = os.path.join(outdir, envelope.rcpt_tos[0].split("@")[0])
        with open(name + ".env", "w") as f:
            f.write("\n".join([envelope.mail_from] + envelope.rcpt_tos) + "\n")
        with open(name + ".eml", "wb") as f:
            f.write(envelope.original_content)
        return "250 OK"
loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
server = loop.run_until_complete(loop.create_server(lambda: SMTP(Handler(), loop=loop), "127.0.0.1", 0))
print(server.sockets[0].getsockname()[1], flush=True)
loop.run_forever()
"#;

fn aiosmtpd(dir: &Path) -> Option<(Reaped, u16)> {
    let have = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        eprintln!("aiosmtpd not found; skipping");
        return None;
    }
    let mut child = Command::new("python3")
        .args(["-c", SMTP_SERVER])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Reaped(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    Some((
        child,
        line.trim().parse().expect("aiosmtpd prints its port"),
    ))
}

#[test]
fn the_lettre_example_delivers_a_multipart_message_byte_for_byte() {
    let dir = TempDir::new();
    let Some((_server, port)) = aiosmtpd(&dir.0) else {
        return;
    };
    let output = Command::new(example("smtp_send"))
        .args([
            "127.0.0.1",
            &port.to_string(),
            "sender@example.org",
            "rcpt@example.org",
        ])
        .output()
        .expect("the smtp_send example is built by `cargo test`");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sent = output.stdout;
    assert!(sent.windows(9).any(|w| w == b"multipart"), "not multipart");
    let stored = std::fs::read(dir.0.join("rcpt.eml")).unwrap();
    assert_eq!(stored, sent);
    let envelope = std::fs::read_to_string(dir.0.join("rcpt.env")).unwrap();
    assert_eq!(envelope, "sender@example.org\nrcpt@example.org\n");
}

#[test]
fn smtp_send_stuffs_dots_and_reports_refusals() {
    let dir = TempDir::new();
    let Some((_server, port)) = aiosmtpd(&dir.0) else {
        return;
    };
    let server = Server::new("127.0.0.1", port);
    let message = b"Subject: dots\r\n\r\n.leading dot\r\n.\r\nend without a line break";
    let envelope = Envelope {
        from: "a@example.org".into(),
        to: vec!["dots@example.org".into(), "other@example.org".into()],
    };
    let reply = smtp::send(&server, &envelope, message).unwrap();
    assert_eq!(reply.code, 250);
    // SMTP data is lines: the server ends the last one with the terminator's CRLF.
    let stored = std::fs::read(dir.0.join("dots.eml")).unwrap();
    assert_eq!(stored, [&message[..], b"\r\n"].concat());
    let envelope = Envelope {
        from: "a@example.org".into(),
        to: vec!["reject@example.org".into()],
    };
    let refused = smtp::send(&server, &envelope, message).unwrap_err();
    assert_eq!(refused, Error::Rejected("550 no such user".into()));
}

#[test]
fn task_driver_fetches_concurrently_on_copas_sched() {
    use copas_sched::future::{self, AsyncTask};
    use copas_sched::Scheduler;
    use std::cell::RefCell;
    use std::rc::Rc;

    let Some(nginx) = nginx() else { return };
    let results = Rc::new(RefCell::new(Vec::new()));
    let mut scheduler: Scheduler<AsyncTask> = Scheduler::new().unwrap();
    let urls = [
        (format!("http://127.0.0.1:{}/old", nginx.plain), None),
        (
            format!("https://localhost:{}/see-other", nginx.tls),
            Some(nginx.ca.clone()),
        ),
        (format!("http://127.0.0.1:{}/loop", nginx.plain), None),
    ];
    for (url, ca) in urls {
        let results = results.clone();
        future::spawn(&mut scheduler, async move {
            let mut request = Request::new("GET", &url);
            if let Some(ca) = ca {
                request = request.ca_file(ca);
            }
            let outcome = copas_clients::task::http::send(request).await;
            results.borrow_mut().push((url, outcome));
        });
    }
    scheduler.run().unwrap();
    let results = results.borrow();
    assert_eq!(results.len(), 3);
    for (url, outcome) in results.iter() {
        if url.ends_with("/loop") {
            assert_eq!(
                outcome.as_ref().unwrap_err(),
                &Error::TooManyRedirects(http::DEFAULT_MAX_REDIRECTS)
            );
        } else {
            let response = outcome.as_ref().unwrap();
            assert_eq!(
                (response.code, response.body.as_slice()),
                (200, PAGE.as_bytes()),
                "{url}"
            );
            assert!(response.url.ends_with("/index.html"), "{}", response.url);
        }
    }
}

#[test]
fn task_driver_sends_mail_concurrently_on_copas_sched() {
    use copas_sched::future::{self, AsyncTask};
    use copas_sched::Scheduler;

    let dir = TempDir::new();
    let Some((_server, port)) = aiosmtpd(&dir.0) else {
        return;
    };
    let mut scheduler: Scheduler<AsyncTask> = Scheduler::new().unwrap();
    for name in ["first", "second", "third"] {
        future::spawn(&mut scheduler, async move {
            let server = Server::new("127.0.0.1", port);
            let envelope = Envelope {
                from: "task@example.org".into(),
                to: vec![format!("{name}@example.org")],
            };
            let message = format!("Subject: {name}\r\n\r\n.{name}\r\n");
            let reply = copas_clients::task::smtp::send(&server, &envelope, message.as_bytes())
                .await
                .unwrap();
            assert_eq!(reply.code, 250);
        });
    }
    scheduler.run().unwrap();
    for name in ["first", "second", "third"] {
        let stored = std::fs::read(dir.0.join(format!("{name}.eml"))).unwrap();
        assert_eq!(
            stored,
            format!("Subject: {name}\r\n\r\n.{name}\r\n").as_bytes()
        );
    }
}

/// pyftpdlib serving DIR/root with a user ("user", "secret") who may write and
/// anonymous read access, without the pause after a failed login; with a second
/// argument, a server that does not know EPSV.
const FTP_SERVER: &str = r#"
import logging, os, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
logging.basicConfig(level=logging.CRITICAL)
root = os.path.join(sys.argv[1], "root")
os.mkdir(root)
authorizer = DummyAuthorizer()
authorizer.add_user("user", "secret", root, perm="elradfmwMT")
authorizer.add_anonymous(root, perm="elr")
handler = FTPHandler
handler.authorizer = authorizer
handler.auth_failed_timeout = 0
if len(sys.argv) > 2:
    handler.proto_cmds = {k: v for k, v in handler.proto_cmds.items() if k != "EPSV"}
server = FTPServer(("127.0.0.1", 0), handler)
print(server.socket.getsockname()[1], flush=True)
server.serve_forever()
"#;

fn pyftpdlib(dir: &Path, epsv: bool) -> Option<(Reaped, u16)> {
    let have = Command::new("python3")
        .args(["-c", "import pyftpdlib"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        eprintln!("pyftpdlib not found; skipping");
        return None;
    }
    let mut child = Command::new("python3")
        .args(["-c", FTP_SERVER])
        .arg(dir)
        .args((!epsv).then_some("no-epsv"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Reaped(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    Some((
        child,
        line.trim().parse().expect("pyftpdlib prints its port"),
    ))
}

/// Every byte value, CR LF and lone LFs included, so a text-mode transfer would show.
fn binary_payload() -> Vec<u8> {
    (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .chain(*b"\r\n\n\r")
        .collect()
}

/// A sink or source that fails once it has moved more than its count of bytes.
struct FailingAfter(usize);

impl Write for FailingAfter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0 > 0 {
            return Err(std::io::Error::other("sink full"));
        }
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Read for FailingAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.0 > 0 {
            return Err(std::io::Error::other("source broken"));
        }
        buf.fill(b'x');
        self.0 += buf.len();
        Ok(buf.len())
    }
}

#[test]
fn ftp_stores_retrieves_and_lists_byte_exact() {
    let dir = TempDir::new();
    let Some((_server, port)) = pyftpdlib(&dir.0, true) else {
        return;
    };
    let payload = binary_payload();
    let server = ftp_driver::Server::new("127.0.0.1", port).login("user", "secret");
    let mut client = Client::connect(&server).unwrap();
    assert_eq!(
        client.store("data.bin", payload.as_slice()).unwrap(),
        payload.len() as u64
    );
    assert_eq!(std::fs::read(dir.0.join("root/data.bin")).unwrap(), payload);
    assert_eq!(client.retrieve("data.bin").unwrap(), payload);
    client.store("empty.bin", std::io::empty()).unwrap();
    assert_eq!(client.retrieve("empty.bin").unwrap(), b"");
    let mut names = client.nlst(None).unwrap();
    names.sort();
    assert_eq!(names, ["data.bin", "empty.bin"]);
    let listing = String::from_utf8(client.list(Some("data.bin")).unwrap()).unwrap();
    assert!(
        listing.contains(&payload.len().to_string()) && listing.contains("data.bin"),
        "{listing}"
    );
    // A refused transfer leaves the control connection usable.
    let missing = client.retrieve("missing.bin").unwrap_err();
    assert!(
        matches!(&missing, Error::Rejected(reply) if reply.starts_with("550 ")),
        "{missing}"
    );
    // So does a transfer our side gives up: a sink or a source that fails.
    let mut failing_sink = FailingAfter(0);
    let sink_error = client
        .retrieve_to("data.bin", &mut failing_sink)
        .unwrap_err();
    assert!(matches!(sink_error, Error::Sink(_)), "{sink_error}");
    let source_error = client.store("partial.bin", FailingAfter(0)).unwrap_err();
    assert!(matches!(source_error, Error::Body(_)), "{source_error}");
    assert_eq!(client.retrieve("data.bin").unwrap(), payload);
    client.command("DELE", Some("partial.bin")).unwrap();
    client.command("DELE", Some("empty.bin")).unwrap();
    assert_eq!(client.nlst(None).unwrap(), ["data.bin"]);
    assert_eq!(client.quit().unwrap().code, 221);

    // Anonymous by default, and read-only here.
    let mut anonymous = Client::connect(&ftp_driver::Server::new("127.0.0.1", port)).unwrap();
    assert_eq!(anonymous.retrieve("data.bin").unwrap(), payload);
    let refused = anonymous.store("new.bin", &b"x"[..]).unwrap_err();
    assert!(
        matches!(&refused, Error::Rejected(reply) if reply.starts_with("550 ")),
        "{refused}"
    );
    anonymous.quit().unwrap();
}

#[test]
fn ftp_wrong_password_is_the_servers_530() {
    let dir = TempDir::new();
    let Some((_server, port)) = pyftpdlib(&dir.0, true) else {
        return;
    };
    let server = ftp_driver::Server::new("127.0.0.1", port).login("user", "wrong");
    let error = Client::connect(&server).unwrap_err();
    assert_eq!(error, Error::Rejected("530 Authentication failed.".into()));
}

#[test]
fn the_ftp_get_example_downloads_byte_for_byte() {
    let dir = TempDir::new();
    let Some((_server, port)) = pyftpdlib(&dir.0, true) else {
        return;
    };
    let payload = binary_payload();
    dir.write("root/sub/file.bin", &payload);
    let port = port.to_string();
    for login in [&[][..], &["user", "secret"]] {
        let output = Command::new(example("ftp_get"))
            .args(["127.0.0.1", &port, "sub/file.bin"])
            .args(login)
            .output()
            .expect("the ftp_get example is built by `cargo test`");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(output.stdout, payload);
    }
}

#[test]
fn ftp_falls_back_to_pasv_when_the_server_refuses_epsv() {
    let dir = TempDir::new();
    let Some((_server, port)) = pyftpdlib(&dir.0, false) else {
        return;
    };
    let payload = binary_payload();
    let server = ftp_driver::Server::new("127.0.0.1", port).login("user", "secret");
    let mut client = Client::connect(&server).unwrap();
    // The first transfer finds EPSV refused; the later ones go straight to PASV.
    for name in ["one.bin", "two.bin"] {
        client.store(name, payload.as_slice()).unwrap();
        assert_eq!(client.retrieve(name).unwrap(), payload);
    }
    let refused = client.command("EPSV", None).unwrap_err();
    assert!(
        matches!(&refused, Error::Rejected(reply) if reply.starts_with("500 ")),
        "{refused}"
    );
    client.quit().unwrap();
}

#[test]
fn task_ftp_clients_transfer_concurrently_on_copas_sched() {
    use copas_clients::task::ftp::Client;
    use copas_sched::future::{self, AsyncTask};
    use copas_sched::Scheduler;

    let dir = TempDir::new();
    let Some((_server, port)) = pyftpdlib(&dir.0, true) else {
        return;
    };
    let payload = binary_payload();
    let mut scheduler: Scheduler<AsyncTask> = Scheduler::new().unwrap();
    for name in ["first", "second", "third"] {
        let mut payload = payload.clone();
        payload.extend_from_slice(name.as_bytes());
        future::spawn(&mut scheduler, async move {
            let server = ftp_driver::Server::new("127.0.0.1", port).login("user", "secret");
            let mut client = Client::connect(&server).await.unwrap();
            let file = format!("{name}.bin");
            client.store(&file, payload.as_slice()).await.unwrap();
            assert_eq!(client.retrieve(&file).await.unwrap(), payload);
            assert!(client.nlst(None).await.unwrap().contains(&file));
            client.quit().await.unwrap();
        });
    }
    future::spawn(&mut scheduler, async move {
        let server = ftp_driver::Server::new("127.0.0.1", port).login("user", "wrong");
        let error = Client::connect(&server).await.unwrap_err();
        assert_eq!(error, Error::Rejected("530 Authentication failed.".into()));
    });
    scheduler.run().unwrap();
    for name in ["first", "second", "third"] {
        let stored = std::fs::read(dir.0.join(format!("root/{name}.bin"))).unwrap();
        assert_eq!(stored, [payload.as_slice(), name.as_bytes()].concat());
    }
}
