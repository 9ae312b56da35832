//! Test certificates (generated with rcgen at test time), temp dirs and a bounded drive loop.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use copas_tls::{Error, Mode, Status, TlsContext, TlsParams, TlsStream};
use rcgen::{
    date_time_ymd, BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair,
};

/// Generous limit against hangs, not a performance assertion.
const DEADLINE: Duration = Duration::from_secs(10);

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("copas-tls-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// (certificate PEM, key PEM) for `names`, valid now unless `expired`.
    pub fn issue(&self, names: &[&str], expired: bool) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, &names[0]);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "copas-rs tests");
        if expired {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Files for a server: its certificate and key, and the CA that signed it.
pub struct Pki {
    pub dir: TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Pki {
    pub fn new(names: &[&str], expired: bool) -> Self {
        Self::signed_by(&Ca::new("copas-rs test CA"), names, expired)
    }

    pub fn signed_by(ca: &Ca, names: &[&str], expired: bool) -> Self {
        let dir = TempDir::new();
        let (cert, key) = ca.issue(names, expired);
        Self {
            ca: dir.write("ca.pem", &ca.pem()),
            cert: dir.write("cert.pem", &cert),
            key: dir.write("key.pem", &key),
            dir,
        }
    }

    pub fn server_params(&self) -> TlsParams {
        TlsParams {
            mode: Mode::Server,
            certificate: Some(self.cert.clone()),
            key: Some(self.key.clone()),
            ..TlsParams::default()
        }
    }

    pub fn client_params(&self) -> TlsParams {
        TlsParams {
            cafile: Some(self.ca.clone()),
            ..TlsParams::default()
        }
    }
}

/// Repeats `op` until it is done, sleeping briefly while it waits for the socket.
pub fn drive<R>(mut op: impl FnMut() -> Result<Status<R>, Error>) -> Result<R, Error> {
    let started = Instant::now();
    loop {
        match op()? {
            Status::Done(value) => return Ok(value),
            Status::WantRead | Status::WantWrite => {
                assert!(started.elapsed() < DEADLINE, "TLS operation hung");
                thread::sleep(Duration::from_millis(1));
            }
        }
    }
}

pub fn handshake(stream: &mut TlsStream<TcpStream>) -> Result<(), Error> {
    drive(|| stream.handshake())
}

pub fn write_all(stream: &mut TlsStream<TcpStream>, mut data: &[u8]) -> Result<(), Error> {
    while !data.is_empty() {
        let n = drive(|| stream.write(data))?;
        data = &data[n..];
    }
    drive(|| stream.flush())
}

/// Reads until `len` bytes arrived or the peer closed.
pub fn read_up_to(stream: &mut TlsStream<TcpStream>, len: usize) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(len);
    let mut buf = vec![0; 16 * 1024];
    while out.len() < len {
        let n = drive(|| stream.read(&mut buf))?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    Ok(out)
}

/// A server on an ephemeral loopback port; `serve` runs on the handshaken stream, in a thread.
pub fn spawn_server<R: Send + 'static>(
    params: TlsParams,
    serve: impl FnOnce(&mut TlsStream<TcpStream>) -> Result<R, Error> + Send + 'static,
) -> (u16, JoinHandle<Result<R, Error>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = thread::spawn(move || {
        let context = TlsContext::new(&params)?;
        let (socket, _) = listener.accept()?;
        socket.set_nonblocking(true)?;
        let mut stream = TlsStream::new(&context, socket, None)?;
        handshake(&mut stream)?;
        serve(&mut stream)
    });
    (port, handle)
}

pub fn connect(params: &TlsParams, port: u16, host: &str) -> Result<TlsStream<TcpStream>, Error> {
    let context = TlsContext::new(params)?;
    let socket = TcpStream::connect(("127.0.0.1", port))?;
    socket.set_nonblocking(true)?;
    let mut stream = TlsStream::new(&context, socket, Some(host))?;
    handshake(&mut stream)?;
    Ok(stream)
}
