//! The HTTP driver as a copas-sched task: the same requests as
//! [`blocking::http`](crate::blocking::http), awaited inside a
//! [`copas_sched::future::AsyncTask`], so other tasks run while it waits.
//!
//! ```no_run
//! use copas_clients::blocking::http::Request;
//! use copas_sched::{future, Scheduler};
//!
//! let mut scheduler = Scheduler::new().unwrap();
//! future::spawn(&mut scheduler, async {
//!     let response = copas_clients::task::send(Request::new("GET", "https://example.org/")).await;
//!     println!("{}", response.unwrap().code);
//! });
//! scheduler.run().unwrap();
//! ```
//!
//! Name resolution still blocks the loop for its duration (pass addresses where that
//! matters); the body source is read synchronously between sends.

use std::io::Read;

use copas_sched::future::Async;
use copas_tls::{Step, TlsContext, TlsSocket};
use luasocket_core::{Family, ReceivePattern, TcpSocket};

use crate::blocking::http::{absorb, next_pattern, Request, Response};
use crate::http::{encode_chunk, ResponseParser, Target, LAST_CHUNK};
use crate::Error;

/// A connection whose waits park the task.
enum Conn {
    Plain(Async<TcpSocket>),
    Tls(Box<Async<TlsSocket<TcpSocket>>>),
}

fn socket_error(err: luasocket_core::Error) -> Error {
    Error::Socket(err.to_string())
}

fn tls_error(err: copas_tls::Error) -> Error {
    Error::Tls(err.to_string())
}

/// Drives a TLS step to its end, parking on what it waits for.
async fn drive<R>(
    tls: &mut Async<TlsSocket<TcpSocket>>,
    mut step: impl FnMut(&mut TlsSocket<TcpSocket>) -> Step<R>,
) -> Result<R, Error> {
    loop {
        match step(tls.get_mut()) {
            Step::Done(value) => return Ok(value),
            Step::Failed(err) => return Err(tls_error(err)),
            Step::Want(interest) => {
                let fd = tls.get_ref().fd().ok_or(Error::Socket("closed".into()))?;
                tls.ready(fd, interest).await.map_err(socket_error)?;
            }
        }
    }
}

impl Conn {
    async fn open(
        target: &Target,
        tls: Option<&TlsContext>,
        timeout: Option<std::time::Duration>,
    ) -> Result<Conn, Error> {
        let mut tcp = Async::new(TcpSocket::new(Family::Unspec).map_err(socket_error)?);
        tcp.set_timeout(timeout);
        tcp.connect(&target.host, target.port)
            .await
            .map_err(socket_error)?;
        let Some(context) = tls else {
            return Ok(Conn::Plain(tcp));
        };
        let mut socket = TlsSocket::new(context, tcp.into_inner(), None);
        socket.set_server_name(target.host.as_str());
        let mut tls = Async::new(socket);
        tls.set_timeout(timeout);
        drive(&mut tls, TlsSocket::handshake_step).await?;
        Ok(Conn::Tls(Box::new(tls)))
    }

    async fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        match self {
            Conn::Plain(socket) => socket.send_all(data).await.map_err(socket_error),
            Conn::Tls(tls) => {
                let mut sent = 0;
                drive(tls, |socket| socket.send_step(data, &mut sent)).await
            }
        }
    }

    async fn receive(&mut self, pattern: ReceivePattern) -> Result<Vec<u8>, (Error, Vec<u8>)> {
        match self {
            // A plain socket's failed receive keeps its partial data buffered.
            Conn::Plain(socket) => match socket.receive(pattern).await {
                Ok(data) => Ok(data),
                Err(err) => {
                    let partial = socket.get_mut().take_partial_with(pattern, <[u8]>::to_vec);
                    Err((socket_error(err), partial))
                }
            },
            Conn::Tls(tls) => match drive(tls, |socket| socket.receive_step(pattern)).await {
                Ok(complete) => Ok(tls.get_mut().take(complete, <[u8]>::to_vec)),
                Err(err) => Err((err, tls.get_mut().take_partial(pattern, <[u8]>::to_vec))),
            },
        }
    }

    fn close(&mut self) {
        match self {
            Conn::Plain(socket) => socket.get_mut().close(),
            Conn::Tls(tls) => tls.get_mut().close(),
        }
    }
}

/// Sends `request` from inside an [`copas_sched::future::AsyncTask`], following
/// redirects as the blocking driver does, and returns the response with its body.
pub async fn send(mut request: Request<'_>) -> Result<Response, Error> {
    let mut url = request.url.clone();
    let mut method = request.method.clone();
    let mut redirects = 0;
    loop {
        let target = Target::parse(&url)?;
        let tls = request.tls_for(&target)?.cloned();
        let mut conn = Conn::open(&target, tls.as_ref(), request.timeout).await?;
        let mut body = request.body.take();
        conn.send(&request.head(&target, &method, body.as_ref())?)
            .await?;
        if let Some(body) = body.as_mut() {
            let mut buf = vec![0; 64 * 1024];
            loop {
                let n = body
                    .reader
                    .read(&mut buf)
                    .map_err(|e| Error::Body(e.to_string()))?;
                let chunked = body.len.is_none();
                match (n, chunked) {
                    (0, true) => conn.send(LAST_CHUNK).await?,
                    (0, false) => {}
                    (n, true) => conn.send(&encode_chunk(&buf[..n])).await?,
                    (n, false) => conn.send(&buf[..n]).await?,
                }
                if n == 0 {
                    break;
                }
            }
        }
        let mut parser = ResponseParser::new(&method);
        let mut received = Vec::new();
        while parser.head().is_none() {
            let Some(pattern) = next_pattern(&parser) else {
                break;
            };
            absorb(
                &mut parser,
                pattern,
                conn.receive(pattern).await,
                &mut received,
            )?;
        }
        let head = parser.head().ok_or(Error::Closed)?.clone();
        if let Some(next) =
            request.redirect(&head, body.is_some(), &url, &method, &mut redirects)?
        {
            conn.close();
            (url, method) = next;
            continue;
        }
        while let Some(pattern) = next_pattern(&parser) {
            absorb(
                &mut parser,
                pattern,
                conn.receive(pattern).await,
                &mut received,
            )?;
        }
        conn.close();
        let mut response = Response::from_head(head, url);
        response.body = received;
        return Ok(response);
    }
}

/// GETs `url` from inside an [`copas_sched::future::AsyncTask`].
pub async fn get(url: &str) -> Result<Response, Error> {
    send(Request::new("GET", url)).await
}
