//! One client connection, plain or TLS, with LuaSocket's receive patterns.

use std::fmt;
use std::time::Duration;

use copas_tls::{TlsContext, TlsSocket};
use luasocket_core::{Family, ReceivePattern, TcpSocket, TimeoutMode};

use crate::Error;

/// A connected client socket, plain TCP or TLS over TCP, whose calls block up to the
/// timeout it was opened with.
pub enum Connection {
    /// Plain TCP.
    Plain(TcpSocket),
    /// TLS over TCP, handshaken.
    Tls(Box<TlsSocket<TcpSocket>>),
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Connection::Plain(socket) => f.debug_tuple("Plain").field(socket).finish(),
            Connection::Tls(socket) => f.debug_tuple("Tls").field(socket).finish(),
        }
    }
}

fn seconds(timeout: Option<Duration>) -> Option<f64> {
    timeout.map(|t| t.as_secs_f64())
}

impl Connection {
    /// Connects to `host`:`port`; with `tls`, also completes a handshake that verifies
    /// `host` as the context says. Every later call may block up to `timeout` in all.
    pub fn open(
        host: &str,
        port: u16,
        tls: Option<&TlsContext>,
        timeout: Option<Duration>,
    ) -> Result<Self, Error> {
        let mut tcp = TcpSocket::new(Family::Unspec).map_err(socket_error)?;
        tcp.timeout_mut().set(seconds(timeout), TimeoutMode::Block);
        tcp.connect(host, &port.to_string()).map_err(socket_error)?;
        let Some(context) = tls else {
            return Ok(Connection::Plain(tcp));
        };
        let mut tls = TlsSocket::new(context, tcp, None);
        tls.set_server_name(host);
        tls.timeout_mut().set(seconds(timeout), TimeoutMode::Block);
        tls.handshake().map_err(tls_error)?;
        Ok(Connection::Tls(Box::new(tls)))
    }

    /// Receives `pattern`; on failure, the error and what had arrived.
    pub fn receive(&mut self, pattern: ReceivePattern) -> Result<Vec<u8>, (Error, Vec<u8>)> {
        match self {
            Connection::Plain(socket) => match socket.receive_with(pattern, <[u8]>::to_vec) {
                (data, None) => Ok(data),
                (partial, Some(err)) => Err((socket_error(err), partial)),
            },
            Connection::Tls(socket) => match socket.receive_with(pattern, <[u8]>::to_vec) {
                (data, None) => Ok(data),
                (partial, Some(err)) => Err((tls_error(err), partial)),
            },
        }
    }

    /// Receives one line without its end of line (LuaSocket's `*l`).
    pub fn receive_line(&mut self) -> Result<Vec<u8>, Error> {
        self.receive(ReceivePattern::Line).map_err(|(err, _)| err)
    }

    /// Sends all of `data`.
    pub fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        let error = match self {
            Connection::Plain(socket) => socket.send(data).1.map(socket_error),
            Connection::Tls(socket) => socket.send(data).1.map(tls_error),
        };
        error.map_or(Ok(()), Err)
    }

    /// Closes the connection (a TLS one with close_notify first).
    pub fn close(&mut self) {
        match self {
            Connection::Plain(socket) => socket.close(),
            Connection::Tls(socket) => socket.close(),
        }
    }
}

/// Whether `err` means the peer closed the connection (with or without TLS's
/// close_notify).
pub(crate) fn is_closed(err: &Error) -> bool {
    matches!(err, Error::Socket(message) | Error::Tls(message) if message == "closed"
        || message == "connection ended without close_notify")
}

fn socket_error(err: luasocket_core::Error) -> Error {
    Error::Socket(err.to_string())
}

fn tls_error(err: copas_tls::Error) -> Error {
    Error::Tls(err.to_string())
}
