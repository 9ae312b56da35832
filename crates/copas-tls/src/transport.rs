//! What a TLS stream needs from the socket under it.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// A non-blocking byte transport.
///
/// `read` and `write` return `ErrorKind::WouldBlock` when the socket is not ready; the stream
/// turns that into [`crate::Status::WantRead`] / [`crate::Status::WantWrite`]. `read` returning
/// `Ok(0)` means end of stream.
pub trait Transport {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// The descriptor to wait on for readiness.
    fn fd(&self) -> RawFd;
}

impl Transport for std::net::TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(self, buf)
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        io::Write::write(self, buf)
    }

    fn fd(&self) -> RawFd {
        self.as_raw_fd()
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
