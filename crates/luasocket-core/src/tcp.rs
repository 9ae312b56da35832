//! TCP sockets with LuaSocket's three classes: master, client and server.

use std::borrow::Cow;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::time::Instant;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::addr::{resolve, Family};
use crate::buffer::{find_count, find_line, strip_cr, Complete, RecvBuffer};
use crate::options::{self, OptionValue, TCP_OPTIONS};
use crate::pattern::ReceivePattern;
use crate::timeout::{Deadline, Timeout};
use crate::wait::{wait_fd, Direction};
use crate::{Error, Result};

/// LuaSocket's class of a TCP object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpState {
    /// Fresh from `socket.tcp()`: may bind, listen or connect.
    Master,
    /// Connected: sends and receives.
    Client,
    /// Listening: accepts.
    Server,
}

impl TcpState {
    /// The class name LuaSocket prints: `tcp{master}`, `tcp{client}`, `tcp{server}`.
    pub fn class(self) -> &'static str {
        match self {
            TcpState::Master => "tcp{master}",
            TcpState::Client => "tcp{client}",
            TcpState::Server => "tcp{server}",
        }
    }
}

/// Byte counters and age, as `getstats`/`setstats` see them.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    /// Bytes received from the kernel.
    pub received: u64,
    /// Bytes handed to the kernel.
    pub sent: u64,
    /// When the object was created (or when `setstats` said it was).
    pub birthday: Instant,
}

impl Stats {
    fn new() -> Self {
        Stats {
            received: 0,
            sent: 0,
            birthday: Instant::now(),
        }
    }

    /// Seconds since the birthday.
    pub fn age(&self) -> f64 {
        self.birthday.elapsed().as_secs_f64()
    }
}

/// A complete receive result, borrowed from the socket's buffer; dropping it consumes
/// it, so the caller can copy it straight into its own string type.
#[derive(Debug)]
pub struct Received<'a> {
    buffer: &'a mut RecvBuffer,
    complete: Complete,
    line: bool,
}

impl Received<'_> {
    /// The bytes of the result (a line without its terminator and carriage returns).
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        let raw = &self.buffer.pending()[..self.complete.len];
        if self.line {
            strip_cr(raw)
        } else {
            Cow::Borrowed(raw)
        }
    }
}

impl Drop for Received<'_> {
    fn drop(&mut self) {
        self.buffer.consume(self.complete.consumed);
    }
}

/// A TCP socket.
#[derive(Debug)]
pub struct TcpSocket {
    socket: Option<Socket>,
    family: Family,
    state: TcpState,
    buffer: RecvBuffer,
    /// The peer closed its side; what is buffered is all there will be.
    eof: bool,
    connecting: bool,
    /// Created without a family: a failed connect starts over with no OS socket, so
    /// the next address may be of the other family (as LuaSocket's `inet_tryconnect`).
    lazy: bool,
    timeout: Timeout,
    stats: Stats,
}

fn new_socket(family: Family) -> Result<Socket> {
    let domain = if family == Family::Inet6 {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let socket = Socket::new(domain, Type::STREAM.nonblocking(), Some(Protocol::TCP))?;
    if family == Family::Inet6 {
        // LuaSocket's tcp6 objects are IPv6-only unless told otherwise.
        socket.set_only_v6(true)?;
    }
    Ok(socket)
}

impl TcpSocket {
    /// A master socket. With [`Family::Unspec`] the OS socket is created by the first
    /// `bind` or `connect`, for the family of the address it gets.
    pub fn new(family: Family) -> Result<Self> {
        let socket = match family {
            Family::Unspec => None,
            family => Some(new_socket(family)?),
        };
        Ok(Self::from_parts(socket, family, TcpState::Master))
    }

    fn from_parts(socket: Option<Socket>, family: Family, state: TcpState) -> Self {
        TcpSocket {
            socket,
            family,
            state,
            buffer: RecvBuffer::default(),
            eof: false,
            connecting: false,
            lazy: family == Family::Unspec,
            timeout: Timeout::INFINITE,
            stats: Stats::new(),
        }
    }

    /// The class.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// The address family (`Unspec` until decided).
    pub fn family(&self) -> Family {
        self.family
    }

    /// The descriptor, or -1 when there is none (closed, handed over, or not created yet).
    pub fn fd(&self) -> RawFd {
        self.socket.as_ref().map_or(-1, |s| s.as_raw_fd())
    }

    /// True once closed (or the descriptor was handed over with `set_fd(-1)`).
    pub fn is_closed(&self) -> bool {
        self.socket.is_none() && !(self.state == TcpState::Master && self.family == Family::Unspec)
    }

    /// LuaSocket's `setfd`: adopts `fd`, or with -1 lets go of the descriptor. The old
    /// descriptor is handed over, not closed (whoever asked for it owns it now).
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
        }
    }

    /// The socket's timeout limits.
    pub fn timeout(&self) -> &Timeout {
        &self.timeout
    }

    /// The socket's timeout limits, to change them.
    pub fn timeout_mut(&mut self) -> &mut Timeout {
        &mut self.timeout
    }

    /// Counters for `getstats`.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Sets the counters (`setstats`).
    pub fn set_stats(&mut self, stats: Stats) {
        self.stats = stats;
    }

    /// True while received data waits in the buffer (`dirty`).
    pub fn is_dirty(&self) -> bool {
        !self.buffer.is_empty()
    }

    fn socket(&self) -> Result<&Socket> {
        self.socket.as_ref().ok_or(Error::Closed)
    }

    fn ensure_socket(&mut self, family: Family) -> Result<&Socket> {
        if self.socket.is_none() {
            self.socket = Some(new_socket(family)?);
            self.family = family;
        }
        self.socket()
    }

    /// Binds to `host` (`"*"`: any) and `port`, trying each resolved address.
    pub fn bind(&mut self, host: &str, port: u16) -> Result<()> {
        let mut last = Error::Resolve("host not found".into());
        for address in resolve(host, port, self.family)? {
            let created_here = self.socket.is_none();
            let attempt = self
                .ensure_socket(Family::of(&address))
                .and_then(|s| Ok(s.bind(&address.into())?));
            match attempt {
                Ok(()) => return Ok(()),
                Err(err) => {
                    if created_here {
                        self.socket = None;
                        self.family = Family::Unspec;
                    }
                    last = err;
                }
            }
        }
        Err(last)
    }

    /// Starts listening; the object becomes a server.
    pub fn listen(&mut self, backlog: i32) -> Result<()> {
        let socket = self.ensure_socket(if self.family == Family::Unspec {
            Family::Inet
        } else {
            self.family
        })?;
        socket.listen(backlog)?;
        self.state = TcpState::Server;
        Ok(())
    }

    /// Connects to `host`:`port`, waiting as the socket's timeout allows. A connection
    /// still in progress when the time runs out reports [`Error::Timeout`]; calling
    /// `connect` again keeps waiting for it.
    pub fn connect(&mut self, host: &str, port: u16) -> Result<()> {
        let deadline = self.timeout.start();
        if self.connecting {
            return self.finish_connect(&deadline);
        }
        let addresses = resolve(host, port, self.family)?;
        let mut last = Error::Resolve("host not found".into());
        for address in addresses {
            match self.start_connect(address) {
                Ok(true) => return self.connected(),
                Ok(false) => match self.finish_connect(&deadline) {
                    Err(Error::Timeout) => return Err(Error::Timeout),
                    Ok(()) => return Ok(()),
                    Err(err) => last = err,
                },
                Err(err) => last = err,
            }
        }
        Err(last)
    }

    /// After a failed connect: a socket created without a family forgets its OS
    /// socket, so another address (of either family) can be tried.
    fn connect_failed(&mut self, err: Error) -> Error {
        self.connecting = false;
        if self.lazy && self.state == TcpState::Master {
            self.socket = None;
            self.family = Family::Unspec;
        }
        err
    }

    /// Begins a non-blocking connect to one address: `Ok(true)` when connected at once,
    /// `Ok(false)` when in progress (wait for writability, then [`TcpSocket::finish_connect`]).
    pub fn start_connect(&mut self, address: SocketAddr) -> Result<bool> {
        let socket = self.ensure_socket(Family::of(&address))?;
        match socket.connect(&SockAddr::from(address)) {
            Ok(()) => Ok(true),
            Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {
                self.connecting = true;
                Ok(false)
            }
            Err(err) => Err(self.connect_failed(Error::from_io(err))),
        }
    }

    /// Checks a connect in progress, waiting as `deadline` allows.
    pub fn finish_connect(&mut self, deadline: &Deadline) -> Result<()> {
        let fd = self.fd();
        wait_fd(fd, Direction::Write, deadline.remaining())?;
        self.poll_connect()
    }

    /// Checks a connect in progress without waiting: [`Error::Timeout`] while it is
    /// still going on.
    pub fn poll_connect(&mut self) -> Result<()> {
        let socket = self.socket()?;
        if let Some(err) = socket.take_error()? {
            return Err(self.connect_failed(Error::from_io(err)));
        }
        match socket.peer_addr() {
            Ok(_) => self.connected(),
            Err(err) if err.raw_os_error() == Some(libc::ENOTCONN) => Err(Error::Timeout),
            Err(err) => Err(self.connect_failed(Error::from_io(err))),
        }
    }

    fn connected(&mut self) -> Result<()> {
        self.connecting = false;
        self.state = TcpState::Client;
        Ok(())
    }

    /// Accepts a connection, waiting as the socket's timeout allows.
    pub fn accept(&mut self) -> Result<TcpSocket> {
        let deadline = self.timeout.start();
        loop {
            match self.try_accept() {
                Err(Error::Timeout) => wait_fd(self.fd(), Direction::Read, deadline.remaining())?,
                other => return other,
            }
        }
    }

    /// Accepts a connection if one is waiting; [`Error::Timeout`] otherwise.
    pub fn try_accept(&mut self) -> Result<TcpSocket> {
        let fd = self.socket()?.as_raw_fd();
        // SAFETY: accept4 with null address pointers only returns a new descriptor.
        let client = unsafe {
            libc::accept4(
                fd,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if client < 0 {
            return Err(Error::from_io(std::io::Error::last_os_error()));
        }
        // SAFETY: accept4 just returned this descriptor to us; nothing else owns it.
        let socket = unsafe { Socket::from_raw_fd(client) };
        Ok(TcpSocket::from_parts(
            Some(socket),
            self.family,
            TcpState::Client,
        ))
    }

    /// Receives per `pattern`, appending to `out` (which may hold a prefix already).
    /// On failure `out` holds the prefix plus the partial data.
    pub fn receive(&mut self, pattern: ReceivePattern, out: &mut Vec<u8>) -> Result<()> {
        let deadline = self.timeout.start();
        loop {
            let failure = match self.try_receive(pattern) {
                Ok(Some(received)) => {
                    out.extend_from_slice(&received.bytes());
                    return Ok(());
                }
                Ok(None) => None,
                Err(err) => Some(err),
            };
            let failure = match failure {
                Some(err) => err,
                None => match wait_fd(self.fd(), Direction::Read, deadline.remaining()) {
                    Ok(()) => continue,
                    Err(err) => err,
                },
            };
            out.extend_from_slice(&self.take_partial(pattern));
            return Err(failure);
        }
    }

    /// Completes `pattern` from buffered and readable data without waiting.
    /// `Ok(None)`: not complete yet, and nothing was consumed.
    pub fn try_receive(&mut self, pattern: ReceivePattern) -> Result<Option<Received<'_>>> {
        loop {
            let pending = self.buffer.pending();
            let found = match pattern {
                ReceivePattern::Line => find_line(pending),
                ReceivePattern::Count(n) => find_count(pending, n),
                ReceivePattern::All if self.eof && !pending.is_empty() => Some(Complete {
                    len: pending.len(),
                    consumed: pending.len(),
                }),
                ReceivePattern::All => None,
            };
            if let Some(complete) = found {
                let line = pattern == ReceivePattern::Line;
                return Ok(Some(Received {
                    buffer: &mut self.buffer,
                    complete,
                    line,
                }));
            }
            if self.eof {
                return Err(Error::Closed);
            }
            let socket = self.socket.as_ref().ok_or(Error::Closed)?;
            match self.buffer.fill(socket) {
                Ok(0) => self.eof = true,
                Ok(n) => self.stats.received += n as u64,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(Error::from_io(err)),
            }
        }
    }

    /// Takes what is buffered as the partial result of a receive that failed or timed
    /// out. For `*l` the carriage returns are dropped as in a full line.
    pub fn take_partial(&mut self, pattern: ReceivePattern) -> Vec<u8> {
        let bytes = self.buffer.take_all();
        if pattern == ReceivePattern::Line {
            strip_cr(&bytes).into_owned()
        } else {
            bytes
        }
    }

    /// Sends all of `data`, waiting as the timeout allows. Returns how many bytes went
    /// out, and the error that stopped it early, if any.
    pub fn send(&mut self, data: &[u8]) -> (usize, Option<Error>) {
        let deadline = self.timeout.start();
        let mut sent = 0;
        while sent < data.len() {
            match self.try_send(&data[sent..]) {
                Ok(n) => sent += n,
                Err(Error::Timeout) => {
                    if let Err(err) = wait_fd(self.fd(), Direction::Write, deadline.remaining()) {
                        return (sent, Some(err));
                    }
                }
                Err(err) => return (sent, Some(err)),
            }
        }
        (sent, None)
    }

    /// Sends what the kernel takes now; [`Error::Timeout`] if it takes nothing.
    pub fn try_send(&mut self, data: &[u8]) -> Result<usize> {
        let socket = self.socket()?;
        loop {
            match socket.send(data) {
                Ok(n) => {
                    self.stats.sent += n as u64;
                    return Ok(n);
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(Error::from_io(err)),
            }
        }
    }

    /// Shuts down one or both directions.
    pub fn shutdown(&self, how: Shutdown) -> Result<()> {
        Ok(self.socket()?.shutdown(how)?)
    }

    /// Closes the descriptor (idempotent).
    pub fn close(&mut self) {
        self.socket = None;
        self.connecting = false;
        if self.family == Family::Unspec {
            self.family = Family::Inet;
        }
    }

    /// The local address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.socket()?
            .local_addr()?
            .as_socket()
            .ok_or(Error::State("not an IP socket"))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> Result<SocketAddr> {
        self.socket()?
            .peer_addr()?
            .as_socket()
            .ok_or(Error::State("not an IP socket"))
    }

    /// Sets a LuaSocket option by name; `Ok(false)` if TCP has no such option.
    pub fn set_option(&self, name: &str, value: &OptionValue) -> Result<bool> {
        let Some(option) = options::find(TCP_OPTIONS, name, true) else {
            return Ok(false);
        };
        options::set(self.socket()?.as_raw_fd(), option, value)?;
        Ok(true)
    }

    /// Reads a LuaSocket option by name; `Ok(None)` if TCP has no such option.
    pub fn option(&self, name: &str) -> Result<Option<OptionValue>> {
        let Some(option) = options::find(TCP_OPTIONS, name, false) else {
            return Ok(None);
        };
        options::get(self.socket()?.as_raw_fd(), option).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pair() -> (TcpSocket, std::net::TcpStream) {
        let mut server = TcpSocket::new(Family::Inet).unwrap();
        server.bind("127.0.0.1", 0).unwrap();
        server.listen(8).unwrap();
        let port = server.local_addr().unwrap().port();
        let peer = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        server
            .timeout_mut()
            .set(Some(5.0), crate::TimeoutMode::Block);
        let client = server.accept().unwrap();
        (client, peer)
    }

    #[test]
    fn patterns_and_partial_results() {
        let (mut sock, mut peer) = pair();
        peer.write_all(b"one\r\ntwo\n12345rest").unwrap();
        let mut out = Vec::new();
        sock.receive(ReceivePattern::Line, &mut out).unwrap();
        assert_eq!(out, b"one");
        out.clear();
        sock.receive(ReceivePattern::Line, &mut out).unwrap();
        assert_eq!(out, b"two");
        out.clear();
        sock.receive(ReceivePattern::Count(5), &mut out).unwrap();
        assert_eq!(out, b"12345");
        out = b"pre:".to_vec();
        sock.timeout_mut()
            .set(Some(0.05), crate::TimeoutMode::Block);
        assert!(matches!(
            sock.receive(ReceivePattern::Line, &mut out),
            Err(Error::Timeout)
        ));
        assert_eq!(out, b"pre:rest");
        peer.write_all(b"tail").unwrap();
        drop(peer);
        out.clear();
        sock.receive(ReceivePattern::All, &mut out).unwrap();
        assert_eq!(out, b"tail");
        out.clear();
        assert!(matches!(
            sock.receive(ReceivePattern::All, &mut out),
            Err(Error::Closed)
        ));
    }

    #[test]
    fn try_receive_keeps_incomplete_data() {
        let (mut sock, mut peer) = pair();
        peer.write_all(b"abc").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(sock.try_receive(ReceivePattern::Line).unwrap().is_none());
        assert!(sock.is_dirty());
        peer.write_all(b"def\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let line = sock.try_receive(ReceivePattern::Line).unwrap().unwrap();
        assert_eq!(&*line.bytes(), b"abcdef");
        drop(line);
        assert!(!sock.is_dirty());
    }

    #[test]
    fn connect_refused_and_lazy_family() {
        let mut probe = TcpSocket::new(Family::Inet).unwrap();
        probe.bind("127.0.0.1", 0).unwrap();
        let port = probe.local_addr().unwrap().port();
        probe.close();
        let mut sock = TcpSocket::new(Family::Unspec).unwrap();
        assert_eq!(sock.fd(), -1);
        assert!(!sock.is_closed());
        let err = sock.connect("::1", port).unwrap_err();
        assert_eq!(err.to_string(), "connection refused");
        assert_eq!(
            sock.family(),
            Family::Unspec,
            "a lazy socket starts over after a failed connect"
        );
        let err = sock.connect("127.0.0.1", port).unwrap_err();
        assert_eq!(err.to_string(), "connection refused");
    }
}
