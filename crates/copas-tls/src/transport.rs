//! What a TLS connection needs from the socket under it.

use luasocket_core::RawSocket;
use std::io;

use luasocket_core::TcpSocket;

/// A non-blocking byte transport.
///
/// `read` and `write` return `ErrorKind::WouldBlock` when the socket is not ready; the stream
/// turns that into [`crate::Status::WantRead`] / [`crate::Status::WantWrite`]. `read` returning
/// `Ok(0)` means end of stream.
pub trait Transport {
    /// Reads what the socket has, up to `buf.len()` bytes.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes as much of `buf` as the socket takes.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// The descriptor to wait on for readiness; `None` once there is none.
    fn fd(&self) -> Option<RawSocket>;
    /// The peer's address as text: the name a client verifies when it was given none.
    fn peer_host(&self) -> Option<String> {
        None
    }
}

impl Transport for std::net::TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(self, buf)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(self, buf)
    }

    fn fd(&self) -> Option<RawSocket> {
        #[cfg(unix)]
        let fd = std::os::fd::AsRawFd::as_raw_fd(self);
        #[cfg(windows)]
        let fd = std::os::windows::io::AsRawSocket::as_raw_socket(self);
        Some(fd)
    }

    fn peer_host(&self) -> Option<String> {
        self.peer_addr().ok().map(|peer| peer.ip().to_string())
    }
}

/// A connected Unix stream socket; it has no address for a client to verify, so give
/// the connection a server name.
#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(self, buf)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(self, buf)
    }

    fn fd(&self) -> Option<RawSocket> {
        Some(std::os::fd::AsRawFd::as_raw_fd(self))
    }
}

/// A client TCP or Unix stream object of luasocket-core (`TcpSocket::new_unix`), through its raw I/O (its receive patterns,
/// timeouts and statistics stay out of the way).
impl Transport for TcpSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_raw(buf)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_raw(buf)
    }

    fn fd(&self) -> Option<RawSocket> {
        TcpSocket::fd(self)
    }

    fn peer_host(&self) -> Option<String> {
        self.peer_address().ok().map(|(host, _)| host)
    }
}

/// Lets rustls' `read_tls`/`write_tls` use a [`Transport`].
pub(crate) struct Adapter<'a, T>(pub(crate) &'a mut T);

impl<T: Transport> io::Read for Adapter<'_, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<T: Transport> io::Write for Adapter<'_, T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How many of a server's first received bytes are kept to recognise a plain-text
/// request sent to it.
const FIRST_BYTES: usize = 8;

/// The first bytes a server received, to tell a plain HTTP request (what OpenSSL reports
/// as "http request") from other garbage when the handshake fails.
#[derive(Debug, Default)]
pub(crate) struct FirstBytes(Vec<u8>);

impl FirstBytes {
    /// Reads from `transport` for rustls, keeping a copy of the first bytes.
    pub(crate) fn reader<'a, T: Transport>(&'a mut self, transport: &'a mut T) -> Recording<'a, T> {
        Recording {
            transport,
            first: &mut self.0,
        }
    }

    /// The error to report instead of `error` when the peer spoke plain HTTP.
    pub(crate) fn explain(&self, error: crate::Error) -> crate::Error {
        const METHODS: [&[u8]; 7] = [
            b"GET ",
            b"POST ",
            b"HEAD ",
            b"PUT ",
            b"DELETE ",
            b"OPTIONS ",
            b"PATCH ",
        ];
        if self.0.starts_with(b"CONNECT ") {
            crate::Error::HttpsProxyRequest
        } else if METHODS.iter().any(|method| {
            let len = method.len().min(self.0.len());
            len >= 4 && self.0[..len] == method[..len]
        }) {
            crate::Error::HttpRequest
        } else {
            error
        }
    }
}

/// [`Adapter`]'s reading half, recording into [`FirstBytes`].
pub(crate) struct Recording<'a, T> {
    transport: &'a mut T,
    first: &'a mut Vec<u8>,
}

impl<T: Transport> io::Read for Recording<'_, T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.transport.read(buf)?;
        let room = FIRST_BYTES.saturating_sub(self.first.len());
        self.first.extend_from_slice(&buf[..n.min(room)]);
        Ok(n)
    }
}
