//! UDP sockets with LuaSocket's two classes: unconnected and connected.

use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};

use socket2::{Domain, Protocol, Socket, Type};

use crate::addr::{resolve, Family};
use crate::options::{self, OptionValue, UDP_OPTIONS};
use crate::timeout::Timeout;
use crate::wait::{wait_fd, Direction};
use crate::{Error, Result};

/// LuaSocket's default and usual maximum datagram size (`socket._DATAGRAMSIZE`).
pub const DATAGRAM_SIZE: usize = 8192;

/// The largest datagram a `receive` may ask for (an IPv4 UDP payload's limit).
pub const MAX_DATAGRAM: usize = 65_535;

/// LuaSocket's class of a UDP object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpState {
    /// `udp{unconnected}`: `sendto`/`receivefrom` with any peer.
    Unconnected,
    /// `udp{connected}`: `send`/`receive` with the one peer set by `setpeername`.
    Connected,
}

impl UdpState {
    /// The class name LuaSocket prints.
    pub fn class(self) -> &'static str {
        match self {
            UdpState::Unconnected => "udp{unconnected}",
            UdpState::Connected => "udp{connected}",
        }
    }
}

/// A UDP socket.
#[derive(Debug)]
pub struct UdpSocket {
    socket: Option<Socket>,
    family: Family,
    state: UdpState,
    closed: bool,
    timeout: Timeout,
    datagram: Vec<u8>,
}

fn new_socket(family: Family) -> Result<Socket> {
    let domain = if family == Family::Inet6 {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let socket = Socket::new(domain, Type::DGRAM.nonblocking(), Some(Protocol::UDP))?;
    if family == Family::Inet6 {
        socket.set_only_v6(true)?;
    }
    Ok(socket)
}

impl UdpSocket {
    /// An unconnected socket; with [`Family::Unspec`] the OS socket is created for the
    /// family of the first address it is given.
    pub fn new(family: Family) -> Result<Self> {
        let socket = match family {
            Family::Unspec => None,
            family => Some(new_socket(family)?),
        };
        Ok(UdpSocket {
            socket,
            family,
            state: UdpState::Unconnected,
            closed: false,
            timeout: Timeout::INFINITE,
            datagram: Vec::new(),
        })
    }

    /// The class.
    pub fn state(&self) -> UdpState {
        self.state
    }

    /// The address family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The descriptor, or -1.
    pub fn fd(&self) -> RawFd {
        self.socket.as_ref().map_or(-1, |s| s.as_raw_fd())
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// See [`crate::TcpSocket::set_fd`].
    ///
    /// # Safety
    /// A non-negative `fd` must be an open socket descriptor that nothing else closes.
    pub unsafe fn set_fd(&mut self, fd: RawFd) {
        if let Some(old) = self.socket.take() {
            let _ = old.into_raw_fd();
        }
        if fd >= 0 {
            // SAFETY: the caller guarantees `fd` is an open socket we may own.
            self.socket = Some(unsafe { Socket::from_raw_fd(fd) });
            self.closed = false;
        } else {
            self.closed = true;
        }
    }

    /// The timeout limits.
    pub fn timeout(&self) -> &Timeout {
        &self.timeout
    }

    /// The timeout limits, to change them.
    pub fn timeout_mut(&mut self) -> &mut Timeout {
        &mut self.timeout
    }

    fn socket(&self) -> Result<&Socket> {
        self.socket.as_ref().ok_or(Error::Closed)
    }

    fn ensure_socket(&mut self, family: Family) -> Result<&Socket> {
        if self.closed {
            return Err(Error::Closed);
        }
        if self.socket.is_none() {
            self.socket = Some(new_socket(family)?);
            self.family = family;
        }
        self.socket()
    }

    /// Binds the local address (`setsockname`).
    pub fn bind(&mut self, host: &str, port: u16) -> Result<()> {
        let mut last = Error::Resolve("host not found".into());
        for address in resolve(host, port, self.family)? {
            match self
                .ensure_socket(Family::of(&address))
                .and_then(|s| Ok(s.bind(&address.into())?))
            {
                Ok(()) => return Ok(()),
                Err(err) => last = err,
            }
        }
        Err(last)
    }

    /// Sets the peer (`setpeername`); `None` (LuaSocket's `"*"`) removes it.
    pub fn connect(&mut self, peer: Option<(&str, u16)>) -> Result<()> {
        let Some((host, port)) = peer else {
            let fd = self.socket()?.as_raw_fd();
            // Connecting to an AF_UNSPEC address dissolves the association.
            // SAFETY: a zeroed sockaddr_storage is a valid sockaddr once its family is
            // set; the kernel only reads it, for the length we pass.
            let rc = unsafe {
                let mut raw: libc::sockaddr_storage = std::mem::zeroed();
                raw.ss_family = libc::AF_UNSPEC as libc::sa_family_t;
                libc::connect(
                    fd,
                    (&raw as *const libc::sockaddr_storage).cast(),
                    std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
                )
            };
            let err = std::io::Error::last_os_error();
            if rc != 0 && err.raw_os_error() != Some(libc::EAFNOSUPPORT) {
                return Err(Error::from_io(err));
            }
            self.state = UdpState::Unconnected;
            return Ok(());
        };
        let mut last = Error::Resolve("host not found".into());
        for address in resolve(host, port, self.family)? {
            match self
                .ensure_socket(Family::of(&address))
                .and_then(|s| Ok(s.connect(&address.into())?))
            {
                Ok(()) => {
                    self.state = UdpState::Connected;
                    return Ok(());
                }
                Err(err) => last = err,
            }
        }
        Err(last)
    }

    /// Sends a datagram to the peer, waiting for room as the timeout allows.
    pub fn send(&mut self, data: &[u8]) -> Result<usize> {
        let deadline = self.timeout.start();
        loop {
            match self.try_send(data) {
                Err(Error::Timeout) => wait_fd(self.fd(), Direction::Write, deadline.remaining())?,
                other => return other,
            }
        }
    }

    /// Sends a datagram to the peer if the kernel takes it now.
    pub fn try_send(&mut self, data: &[u8]) -> Result<usize> {
        self.socket()?.send(data).map_err(Error::from_io)
    }

    /// Sends a datagram to `host`:`port`.
    pub fn send_to(&mut self, data: &[u8], host: &str, port: u16) -> Result<usize> {
        let address = resolve(host, port, self.family)?[0];
        self.ensure_socket(Family::of(&address))?;
        let deadline = self.timeout.start();
        loop {
            match self.socket()?.send_to(data, &address.into()) {
                Ok(n) => return Ok(n),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    wait_fd(self.fd(), Direction::Write, deadline.remaining())?
                }
                Err(err) => return Err(Error::from_io(err)),
            }
        }
    }

    /// Receives one datagram of at most `size` bytes, waiting as the timeout allows.
    pub fn receive(&mut self, size: usize) -> Result<&[u8]> {
        self.receive_from(size).map(|(data, _)| data)
    }

    /// Receives one datagram and its sender, waiting as the timeout allows.
    pub fn receive_from(&mut self, size: usize) -> Result<(&[u8], SocketAddr)> {
        let deadline = self.timeout.start();
        loop {
            match self.recv_raw(size) {
                Err(Error::Timeout) => wait_fd(self.fd(), Direction::Read, deadline.remaining())?,
                Err(err) => return Err(err),
                Ok((n, from)) => return Ok((&self.datagram[..n], from)),
            }
        }
    }

    /// Receives a datagram if one is waiting; [`Error::Timeout`] otherwise.
    pub fn try_receive_from(&mut self, size: usize) -> Result<(&[u8], SocketAddr)> {
        let (n, from) = self.recv_raw(size)?;
        Ok((&self.datagram[..n], from))
    }

    fn recv_raw(&mut self, size: usize) -> Result<(usize, SocketAddr)> {
        let size = size.min(MAX_DATAGRAM);
        let socket = self.socket.as_ref().ok_or(Error::Closed)?;
        self.datagram.clear();
        self.datagram.reserve(size);
        let spare = &mut self.datagram.spare_capacity_mut()[..size];
        let (n, from) = socket.recv_from(spare).map_err(Error::from_io)?;
        // SAFETY: recvfrom(2) initialised the first `n` bytes (n <= size).
        unsafe { self.datagram.set_len(n) };
        let from = from.as_socket().ok_or(Error::State("not an IP socket"))?;
        Ok((n, from))
    }

    /// Closes the descriptor (idempotent).
    pub fn close(&mut self) {
        self.socket = None;
        self.closed = true;
    }

    /// The local address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.socket()?
            .local_addr()?
            .as_socket()
            .ok_or(Error::State("not an IP socket"))
    }

    /// The peer's address (connected sockets).
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        self.socket()?
            .peer_addr()?
            .as_socket()
            .ok_or(Error::State("not an IP socket"))
    }

    /// Sets a LuaSocket option by name; `Ok(false)` if UDP has no such option.
    pub fn set_option(&mut self, name: &str, value: &OptionValue) -> Result<bool> {
        let Some(option) = options::find(UDP_OPTIONS, name, true) else {
            return Ok(false);
        };
        let family = if self.family == Family::Unspec {
            Family::Inet
        } else {
            self.family
        };
        let fd = self.ensure_socket(family)?.as_raw_fd();
        options::set(fd, option, value)?;
        Ok(true)
    }

    /// Reads a LuaSocket option by name; `Ok(None)` if UDP has no such option.
    pub fn option(&self, name: &str) -> Result<Option<OptionValue>> {
        let Some(option) = options::find(UDP_OPTIONS, name, false) else {
            return Ok(None);
        };
        options::get(self.socket()?.as_raw_fd(), option).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_both_ways() {
        let mut server = UdpSocket::new(Family::Unspec).unwrap();
        server.bind("127.0.0.1", 0).unwrap();
        let port = server.local_addr().unwrap().port();
        let mut client = UdpSocket::new(Family::Inet).unwrap();
        client.connect(Some(("127.0.0.1", port))).unwrap();
        assert_eq!(client.state(), UdpState::Connected);
        client.send(b"ping").unwrap();
        server
            .timeout_mut()
            .set(Some(2.0), crate::TimeoutMode::Block);
        let (data, from) = server.receive_from(100).unwrap();
        assert_eq!(data, b"ping");
        let from = from.to_string();
        server
            .send_to(
                b"pong",
                "127.0.0.1",
                from.rsplit(':').next().unwrap().parse().unwrap(),
            )
            .unwrap();
        client
            .timeout_mut()
            .set(Some(2.0), crate::TimeoutMode::Block);
        assert_eq!(
            client.receive(2).unwrap(),
            b"po",
            "truncated to the size asked"
        );
        client.connect(None).unwrap();
        assert_eq!(client.state(), UdpState::Unconnected);
        server
            .timeout_mut()
            .set(Some(0.01), crate::TimeoutMode::Block);
        assert!(matches!(server.receive(10), Err(Error::Timeout)));
    }
}
