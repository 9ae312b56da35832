//! UDP objects: unconnected and connected, with LuaSocket's blocking semantics and
//! a non-blocking API for a scheduler.

use std::io;
use std::mem::MaybeUninit;
use std::task::Poll;

use socket2::{SockAddr, Socket};

use crate::addr::{unix_address, unix_path, Family, SocketKind};
use crate::buffer::{give_block, take_block, READ_BLOCK};
use crate::options::{OptionValue, SocketOption};
use crate::socket::{self, Endpoint, Interest};
use crate::sys::c;
use crate::sys::{self, RawSocket};
use crate::timeout::{Deadline, Timeout};
use crate::{Error, Result};

/// The receive size used when none is given (`socket._DATAGRAMSIZE`).
pub const DATAGRAM_SIZE: usize = 8192;

/// The largest receive size honoured; no UDP datagram is larger.
pub const MAX_DATAGRAM_SIZE: usize = READ_BLOCK;

/// A UDP socket with LuaSocket 3.x semantics.
#[derive(Debug)]
pub struct UdpSocket {
    endpoint: Endpoint,
    connected: bool,
    timeout: Timeout,
}

impl UdpSocket {
    /// `socket.udp()` (`Unspec`: the descriptor is created by the first
    /// setsockname/setpeername/sendto), `socket.udp4()` or `socket.udp6()`.
    pub fn new(family: Family) -> Result<Self> {
        Ok(UdpSocket {
            endpoint: Endpoint::new(family, SocketKind::Datagram)?,
            connected: false,
            timeout: Timeout::INFINITE,
        })
    }

    /// `socket.unix.dgram()`: a datagram socket in the Unix domain, addressed by paths.
    pub fn new_unix() -> Result<Self> {
        Self::new(Family::Unix)
    }

    /// `bind(path)`/`setsockname(path)` of a Unix datagram socket. As in LuaSocket's
    /// `unixdgram`, a failure also closes the descriptor.
    pub fn bind_path(&mut self, path: &[u8]) -> Result<()> {
        let address = unix_address(path)?;
        let bound = self.endpoint.bind_to(&address);
        if bound.is_err() {
            self.endpoint.close();
        }
        bound
    }

    /// `connect(path)`/`setpeername(path)` of a Unix datagram socket: sends then go to
    /// that socket, and only its datagrams are received. As in LuaSocket's
    /// `unixdgram`, a failure closes the descriptor.
    pub fn connect_path(&mut self, path: &[u8]) -> Result<()> {
        let address = unix_address(path)?;
        let connected = self
            .endpoint
            .open_descriptor()
            .and_then(|descriptor| descriptor.connect(&address).map_err(Error::from_io));
        match connected {
            Ok(()) => self.connected = true,
            Err(_) => self.endpoint.close(),
        }
        connected
    }

    /// `sendto(data, path)` of a Unix datagram socket, waiting per the timeouts.
    pub fn send_to_path(&mut self, data: &[u8], path: &[u8]) -> Result<usize> {
        let address = unix_address(path)?;
        let deadline = self.timeout.start();
        self.wait_writable(&deadline, |socket| socket.try_send_to(data, &address))
    }

    /// The bound path (`""` when unbound), for Unix datagram sockets.
    pub fn local_path(&self) -> Result<Vec<u8>> {
        self.endpoint
            .local_sockaddr()
            .map(|address| unix_path(&address))
    }

    /// The connected peer's path, for Unix datagram sockets.
    pub fn peer_path(&self) -> Result<Vec<u8>> {
        self.endpoint
            .peer_sockaddr()
            .map(|address| unix_path(&address))
    }

    /// True for `udp{connected}`, false for `udp{unconnected}`.
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The class name LuaSocket prints.
    pub fn class_name(&self) -> &'static str {
        if self.connected {
            "udp{connected}"
        } else {
            "udp{unconnected}"
        }
    }

    /// The address family (`Unspec` until a descriptor exists).
    pub fn family(&self) -> Family {
        self.endpoint.family()
    }

    /// The descriptor to register with a poller, or `None` when closed/unset.
    pub fn fd(&self) -> Option<RawSocket> {
        self.endpoint.fd()
    }

    /// The timeouts used by the blocking methods.
    pub fn timeout(&self) -> &Timeout {
        &self.timeout
    }

    /// Changes the timeouts (`settimeout`).
    pub fn timeout_mut(&mut self) -> &mut Timeout {
        &mut self.timeout
    }

    /// Binds to a local address (`setsockname`; `"*"` for all interfaces).
    pub fn set_sock_name(&mut self, host: &str, port: &str) -> Result<()> {
        self.endpoint.bind(host, port)
    }

    /// Connects to a peer (`setpeername`), trying each resolved address.
    pub fn set_peer_name(&mut self, host: &str, port: &str) -> Result<()> {
        let addresses = self.endpoint.resolve(Some(host), port, false, false)?;
        let mut failure = Error::Closed;
        for address in &addresses {
            if let Err(err) = self.endpoint.prepare(Family::of(address)) {
                failure = err;
                continue;
            }
            match self.endpoint.open_descriptor()?.connect(address) {
                Ok(()) => {
                    self.connected = true;
                    return Ok(());
                }
                Err(err) => failure = Error::from_io(err),
            }
        }
        Err(failure)
    }

    /// Drops the peer association (`setpeername("*")`). Errors are ignored, as in
    /// LuaSocket; the object is unconnected afterwards.
    pub fn disconnect(&mut self) {
        self.connected = false;
        let Some(descriptor) = self.endpoint.descriptor() else {
            return;
        };
        // SAFETY: the zeroed storage gets family AF_UNSPEC and the length of a plain
        // sockaddr, which is what connect(2) expects to dissolve an association.
        let unspecified = unsafe {
            SockAddr::try_init(|storage, length| {
                (*storage.cast::<c::sockaddr>()).sa_family = c::AF_UNSPEC as c::sa_family_t;
                *length = std::mem::size_of::<c::sockaddr>() as c::socklen_t;
                Ok(())
            })
        };
        if let Ok(((), address)) = unspecified {
            let _ = descriptor.connect(&address);
        }
    }

    /// Receives one datagram of at most `size` bytes (the rest is discarded),
    /// waiting per the timeouts.
    pub fn receive_with<R>(&mut self, size: usize, deliver: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let deadline = self.timeout.start();
        let (block, count, ()) =
            self.wait_ready(&deadline, |socket| socket.poll_receive(size, plain_recv))?;
        Ok(deliver_block(block, count, deliver))
    }

    /// Like [`receive_with`](Self::receive_with), also giving the sender.
    pub fn receive_from_with<R>(
        &mut self,
        size: usize,
        deliver: impl FnOnce(&[u8], &SockAddr) -> R,
    ) -> Result<R> {
        let deadline = self.timeout.start();
        let (block, count, sender) = self.wait_ready(&deadline, |socket| {
            socket.poll_receive(size, Socket::recv_from)
        })?;
        Ok(deliver_block(block, count, |data| deliver(data, &sender)))
    }

    /// Non-blocking receive of one datagram; `deliver` gets a slice valid during the call.
    pub fn try_receive_with<R>(
        &mut self,
        size: usize,
        deliver: impl FnOnce(&[u8]) -> R,
    ) -> Poll<Result<R>> {
        self.poll_receive(size, plain_recv)
            .map_ok(|(block, count, ())| deliver_block(block, count, deliver))
    }

    /// Non-blocking receive of one datagram and its sender.
    pub fn try_receive_from_with<R>(
        &mut self,
        size: usize,
        deliver: impl FnOnce(&[u8], &SockAddr) -> R,
    ) -> Poll<Result<R>> {
        self.poll_receive(size, Socket::recv_from)
            .map_ok(|(block, count, sender)| {
                deliver_block(block, count, |data| deliver(data, &sender))
            })
    }

    /// One receive attempt into a read block of at most `size` bytes; returns the
    /// block, the byte count and what `recv` returned besides the count.
    fn poll_receive<T>(
        &mut self,
        size: usize,
        recv: impl Fn(&Socket, &mut [MaybeUninit<u8>]) -> io::Result<(usize, T)>,
    ) -> Poll<Result<(Vec<u8>, usize, T)>> {
        let descriptor = match self.endpoint.open_descriptor() {
            Ok(descriptor) => descriptor,
            Err(err) => return Poll::Ready(Err(err)),
        };
        let mut block = take_block();
        let size = size.min(block.len());
        let mut reset_seen = false;
        loop {
            match recv(descriptor, socket::as_uninit(&mut block[..size])) {
                Ok((count, extra)) => return Poll::Ready(Ok((block, count.min(size), extra))),
                Err(err) => match err.raw_os_error() {
                    Some(sys::code::INTERRUPTED) => continue,
                    Some(code) if sys::code::is_datagram_reset(code) && !reset_seen => {
                        reset_seen = true;
                        continue;
                    }
                    Some(sys::code::WOULD_BLOCK) => {
                        give_block(block);
                        return Poll::Pending;
                    }
                    _ => {
                        give_block(block);
                        return Poll::Ready(Err(Error::from_io(err)));
                    }
                },
            }
        }
    }

    /// Sends a datagram to the connected peer, waiting per the timeouts if the
    /// kernel has no room. Returns the number of bytes sent.
    pub fn send(&mut self, data: &[u8]) -> Result<usize> {
        let deadline = self.timeout.start();
        self.wait_writable(&deadline, |socket| socket.try_send(data))
    }

    /// Sends a datagram to `host` (numeric only) and `port`, creating the
    /// descriptor of an unspecified-family object in the address's family.
    pub fn send_to(&mut self, data: &[u8], host: &str, port: &str) -> Result<usize> {
        let addresses = self.resolve_numeric(host, port)?;
        let address = &addresses[0];
        if self.endpoint.descriptor().is_none() && self.endpoint.family() == Family::Unspec {
            self.endpoint.prepare(Family::of(address))?;
        }
        let deadline = self.timeout.start();
        self.wait_writable(&deadline, |socket| socket.try_send_to(data, address))
    }

    /// Resolves a numeric host and port for [`try_send_to`](Self::try_send_to).
    pub fn resolve_numeric(&self, host: &str, port: &str) -> Result<Vec<SockAddr>> {
        self.endpoint.resolve(Some(host), port, false, true)
    }

    /// Non-blocking send to the connected peer.
    pub fn try_send(&mut self, data: &[u8]) -> Poll<Result<usize>> {
        let descriptor = match self.endpoint.open_descriptor() {
            Ok(descriptor) => descriptor,
            Err(err) => return Poll::Ready(Err(err)),
        };
        retry(|| descriptor.send_with_flags(data, sys::SEND_FLAGS))
    }

    /// Non-blocking send to `address`.
    pub fn try_send_to(&mut self, data: &[u8], address: &SockAddr) -> Poll<Result<usize>> {
        let descriptor = match self.endpoint.open_descriptor() {
            Ok(descriptor) => descriptor,
            Err(err) => return Poll::Ready(Err(err)),
        };
        retry(|| descriptor.send_to_with_flags(data, address, sys::SEND_FLAGS))
    }

    fn wait_ready<T>(
        &mut self,
        deadline: &Deadline,
        mut attempt: impl FnMut(&mut Self) -> Poll<Result<T>>,
    ) -> Result<T> {
        loop {
            match attempt(self) {
                Poll::Ready(result) => return result,
                Poll::Pending => {
                    let fd = self.endpoint.fd().ok_or(Error::Closed)?;
                    socket::wait(fd, Interest::Read, deadline)?;
                }
            }
        }
    }

    fn wait_writable(
        &mut self,
        deadline: &Deadline,
        mut attempt: impl FnMut(&mut Self) -> Poll<Result<usize>>,
    ) -> Result<usize> {
        loop {
            match attempt(self) {
                Poll::Ready(result) => return result,
                Poll::Pending => {
                    let fd = self.endpoint.fd().ok_or(Error::Closed)?;
                    socket::wait(fd, Interest::Write, deadline)?;
                }
            }
        }
    }

    /// Closes the descriptor. Closing twice is harmless.
    pub fn close(&mut self) {
        self.endpoint.close();
    }

    /// Gives the descriptor away without closing it (`setfd(-1)`).
    pub fn release_fd(&mut self) -> Option<RawSocket> {
        self.endpoint.release()
    }

    /// Makes `fd` the object's descriptor; the previous one is given away, not closed.
    ///
    /// # Safety
    ///
    /// `fd` must not be closed by anyone else while this object owns it.
    pub unsafe fn adopt_fd(&mut self, fd: RawSocket) {
        // SAFETY: forwarded to our caller.
        unsafe { self.endpoint.adopt(fd) }
    }

    /// Local address (`getsockname`) as numeric host text and port.
    pub fn local_address(&self) -> Result<(String, u16)> {
        self.endpoint.local_name()
    }

    /// Peer address (`getpeername`) as numeric host text and port.
    pub fn peer_address(&self) -> Result<(String, u16)> {
        self.endpoint.peer_name()
    }

    /// Reads a socket option.
    pub fn get_option(&self, option: SocketOption) -> Result<OptionValue> {
        self.endpoint.get_option(option)
    }

    /// Writes a socket option.
    pub fn set_option(&self, option: SocketOption, value: &OptionValue) -> Result<()> {
        self.endpoint.set_option(option, value)
    }
}

/// `recv` in the shape of `recv_from`, for receives that ignore the sender.
fn plain_recv(socket: &Socket, buffer: &mut [MaybeUninit<u8>]) -> io::Result<(usize, ())> {
    socket.recv(buffer).map(|count| (count, ()))
}

/// Calls `deliver` with the received part of `block`, then returns the block to
/// the thread's spare slot.
fn deliver_block<R>(block: Vec<u8>, count: usize, deliver: impl FnOnce(&[u8]) -> R) -> R {
    let result = deliver(&block[..count]);
    give_block(block);
    result
}

/// One send syscall, retried on EINTR; EAGAIN becomes `Pending`.
fn retry(mut send: impl FnMut() -> io::Result<usize>) -> Poll<Result<usize>> {
    loop {
        match send() {
            Ok(count) => return Poll::Ready(Ok(count)),
            Err(err) => match err.raw_os_error() {
                Some(sys::code::INTERRUPTED) => continue,
                Some(sys::code::WOULD_BLOCK) => return Poll::Pending,
                _ => return Poll::Ready(Err(Error::from_io(err))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::numeric_name;
    use crate::timeout::TimeoutMode;

    #[test]
    fn unconnected_round_trip() {
        let mut server = UdpSocket::new(Family::Unspec).unwrap();
        server.set_sock_name("127.0.0.1", "0").unwrap();
        let port = server.local_address().unwrap().1.to_string();
        let mut client = UdpSocket::new(Family::Unspec).unwrap();
        assert_eq!(client.fd(), None);
        assert_eq!(client.send_to(b"hello", "127.0.0.1", &port).unwrap(), 5);
        assert_eq!(client.family(), Family::Inet);
        let (data, from) = server
            .receive_from_with(DATAGRAM_SIZE, |data, from| {
                (data.to_vec(), numeric_name(from).unwrap())
            })
            .unwrap();
        assert_eq!(data, b"hello");
        assert_eq!(
            from,
            ("127.0.0.1".to_owned(), client.local_address().unwrap().1)
        );
    }

    #[test]
    fn connected_truncates_and_times_out() {
        let mut server = UdpSocket::new(Family::Inet).unwrap();
        server.set_sock_name("127.0.0.1", "0").unwrap();
        let port = server.local_address().unwrap().1.to_string();
        let mut client = UdpSocket::new(Family::Inet).unwrap();
        client.set_peer_name("127.0.0.1", &port).unwrap();
        assert!(client.is_connected());
        assert_eq!(client.class_name(), "udp{connected}");
        client.send(b"truncate me").unwrap();
        assert_eq!(server.receive_with(8, |d| d.to_vec()).unwrap(), b"truncate");
        client.send(b"").unwrap();
        assert_eq!(server.receive_with(8, |d| d.to_vec()).unwrap(), b"");
        server.timeout_mut().set(Some(0.02), TimeoutMode::Block);
        let err = server.receive_with(8, |d| d.to_vec()).unwrap_err();
        assert_eq!(err.to_string(), "timeout");
        assert!(server.try_receive_with(8, |d| d.to_vec()).is_pending());
        client.disconnect();
        assert!(!client.is_connected());
    }

    #[test]
    fn closed_reports_closed() {
        let mut socket = UdpSocket::new(Family::Inet).unwrap();
        socket.close();
        assert_eq!(
            socket
                .receive_with(10, |d| d.to_vec())
                .unwrap_err()
                .to_string(),
            "closed"
        );
        assert_eq!(socket.send(b"x").unwrap_err().to_string(), "closed");
    }

    #[test]
    fn sendto_wants_numeric_hosts() {
        let mut socket = UdpSocket::new(Family::Inet).unwrap();
        let err = socket.send_to(b"x", "localhost", "9").unwrap_err();
        assert_eq!(
            err.to_string(),
            "host or service not provided, or not known"
        );
    }
}
