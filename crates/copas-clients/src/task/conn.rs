//! One client connection, plain or TLS, whose waits park the current copas-sched task.

use copas_sched::future::Async;
use copas_tls::{Step, TlsContext, TlsSocket};
use luasocket_core::{Family, ReceivePattern, TcpSocket};

use crate::Error;

/// A connection whose waits park the task.
pub(crate) enum Conn {
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
    /// Connects to `host`:`port`, with a TLS handshake verifying `host` when given a
    /// context; each later call may wait up to `timeout`.
    pub(crate) async fn open(
        host: &str,
        port: u16,
        tls: Option<&TlsContext>,
        timeout: Option<std::time::Duration>,
    ) -> Result<Conn, Error> {
        let mut tcp = Async::new(TcpSocket::new(Family::Unspec).map_err(socket_error)?);
        tcp.set_timeout(timeout);
        tcp.connect(host, port).await.map_err(socket_error)?;
        let Some(context) = tls else {
            return Ok(Conn::Plain(tcp));
        };
        let mut socket = TlsSocket::new(context, tcp.into_inner(), None);
        socket.set_server_name(host);
        let mut tls = Async::new(socket);
        tls.set_timeout(timeout);
        drive(&mut tls, TlsSocket::handshake_step).await?;
        Ok(Conn::Tls(Box::new(tls)))
    }

    pub(crate) async fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        match self {
            Conn::Plain(socket) => socket.send_all(data).await.map_err(socket_error),
            Conn::Tls(tls) => {
                let mut sent = 0;
                drive(tls, |socket| socket.send_step(data, &mut sent)).await
            }
        }
    }

    pub(crate) async fn receive(
        &mut self,
        pattern: ReceivePattern,
    ) -> Result<Vec<u8>, (Error, Vec<u8>)> {
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

    pub(crate) fn close(&mut self) {
        match self {
            Conn::Plain(socket) => socket.get_mut().close(),
            Conn::Tls(tls) => tls.get_mut().close(),
        }
    }
}

impl Conn {
    /// Receives one line without its end of line.
    pub(crate) async fn receive_line(&mut self) -> Result<Vec<u8>, Error> {
        self.receive(ReceivePattern::Line)
            .await
            .map_err(|(err, _)| err)
    }
}
