//! Stream objects: master, client and server, with LuaSocket's blocking semantics and
//! a non-blocking API for a scheduler. The one stream type serves TCP, Unix-domain
//! streams (`socket.unix.stream`, addressed by paths) and serial devices
//! (`socket.serial`), so receive patterns, buffering, timeouts and errors exist once.
//!
//! Every blocking method is a loop over its non-blocking counterpart (`try_*`) that
//! waits with `poll(2)` when the kernel would block, so both see the same receive
//! buffer and statistics. The non-blocking calls never wait: `Poll::Pending` means
//! the last syscall returned `EAGAIN` (safe for edge-triggered readiness), and a
//! pending receive leaves every byte in the buffer for the next attempt.

use std::io;
use std::net::Shutdown;
use std::task::Poll;
use std::time::{SystemTime, UNIX_EPOCH};

use socket2::SockAddr;

use crate::addr::{unix_address, unix_path, Family, SocketKind};
use crate::buffer::ReceiveBuffer;
use crate::options::{OptionValue, SocketOption};
use crate::pattern::ReceivePattern;
use crate::socket::{self, bad_descriptor, Endpoint, Interest};
use crate::sys::{self, RawSocket};
use crate::timeout::{Deadline, Timeout};
use crate::{Error, Result};

/// LuaSocket's TCP classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpState {
    /// Fresh from `socket.tcp()`: may bind, listen or connect.
    Master,
    /// Connected (or connecting): may send and receive.
    Client,
    /// Listening: may accept.
    Server,
}

impl TcpState {
    /// The class name LuaSocket prints: `"tcp{master}"`, `"tcp{client}"`, `"tcp{server}"`.
    pub fn class_name(self) -> &'static str {
        match self {
            TcpState::Master => "tcp{master}",
            TcpState::Client => "tcp{client}",
            TcpState::Server => "tcp{server}",
        }
    }
}

/// Byte counts and age for `getstats`/`setstats` (also kept by the `ssl` connections).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Bytes handed out by `receive` (buffered bytes are not counted yet).
    pub received: i64,
    /// Bytes accepted by the kernel in `send`.
    pub sent: i64,
    /// When the object was created, in seconds since the Unix epoch.
    born: f64,
}

impl Stats {
    /// Zero counts, born now.
    pub fn new() -> Self {
        Stats {
            received: 0,
            sent: 0,
            born: now(),
        }
    }

    /// Seconds since the object was created (or since the age set by `set_age`).
    pub fn age(&self) -> f64 {
        now() - self.born
    }

    /// Makes the object `age` seconds old.
    pub fn set_age(&mut self, age: f64) {
        self.born = now() - age;
    }
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// A TCP socket with LuaSocket 3.x semantics.
#[derive(Debug)]
pub struct TcpSocket {
    endpoint: Endpoint,
    state: TcpState,
    timeout: Timeout,
    buffer: ReceiveBuffer,
    stats: Stats,
    /// Reads report how much is left (`TCP_INQ`), see [`TcpSocket::track_drain`].
    tracks_drain: bool,
    /// The last receive read from the kernel and left nothing there (no data, no FIN).
    drained: bool,
    /// The next [`TcpSocket::read_raw`] that would ask the kernel answers `WouldBlock`
    /// instead, see [`TcpSocket::expect_read`].
    read_blocked: bool,
    /// Sent data held back to go out with the next send, see [`TcpSocket::defer_send`].
    deferred: Vec<u8>,
}

/// How much [`TcpSocket::defer_send`] holds back at most: a pipelined burst of replies,
/// not a buffer that hides a peer that stopped reading.
pub(crate) const DEFER_LIMIT: usize = 16 * 1024;

impl TcpSocket {
    /// `socket.tcp()` (`Unspec`: the descriptor is created by bind/connect),
    /// `socket.tcp4()` (`Inet`) or `socket.tcp6()` (`Inet6`).
    pub fn new(family: Family) -> Result<Self> {
        Ok(Self::fresh(
            Endpoint::new(family, SocketKind::Stream)?,
            TcpState::Master,
        ))
    }

    /// An object over `endpoint` in `state`, with nothing buffered, infinite timeouts
    /// and fresh statistics.
    fn fresh(endpoint: Endpoint, state: TcpState) -> Self {
        TcpSocket {
            endpoint,
            state,
            timeout: Timeout::INFINITE,
            buffer: ReceiveBuffer::new(),
            stats: Stats::new(),
            tracks_drain: false,
            drained: false,
            read_blocked: false,
            deferred: Vec::new(),
        }
    }

    /// `socket.unix.stream()`: a master in the Unix domain, addressed by paths
    /// ([`bind_path`](Self::bind_path), [`connect_path`](Self::connect_path)).
    pub fn new_unix() -> Result<Self> {
        Self::new(Family::Unix)
    }

    /// Opens the device file at `path` read-write, without making it the controlling
    /// terminal and closed on exec, and wraps it as [`from_device`](Self::from_device)
    /// does (LuaSocket's `socket.serial`). The error is the OS error number.
    #[cfg(unix)]
    pub fn open_device(path: &[u8]) -> std::result::Result<Self, i32> {
        use std::os::unix::prelude::{OpenOptionsExt, OsStrExt};
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(std::path::Path::new(std::ffi::OsStr::from_bytes(path)))
            .map_err(|err| err.raw_os_error().unwrap_or(sys::code::IO))?;
        Ok(Self::from_device(file.into()))
    }

    /// A client over a device file the caller opened (`socket.serial`): receive and
    /// send are `read(2)` and `write(2)`.
    #[cfg(unix)]
    pub fn from_device(file: std::os::fd::OwnedFd) -> Self {
        Self::fresh(Endpoint::device(file), TcpState::Client)
    }

    /// The object's class.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// The address family (`Unspec` until a descriptor exists).
    pub fn family(&self) -> Family {
        self.endpoint.family()
    }

    /// The descriptor to register with a poller, or `None` when closed/unset.
    pub fn fd(&self) -> Option<RawSocket> {
        self.endpoint.fd()
    }

    /// The block/total timeouts used by the blocking methods.
    pub fn timeout(&self) -> &Timeout {
        &self.timeout
    }

    /// Changes the timeouts (`settimeout`).
    pub fn timeout_mut(&mut self) -> &mut Timeout {
        &mut self.timeout
    }

    /// Byte counts and age (`getstats`).
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Mutable statistics (`setstats`).
    pub fn stats_mut(&mut self) -> &mut Stats {
        &mut self.stats
    }

    /// True when received bytes wait in the buffer (`dirty()`): a poller must not
    /// wait for readability before consuming them.
    pub fn has_buffered_data(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// Binds to `host` (`"*"` for all interfaces) and `port` (a number or service name).
    pub fn bind(&mut self, host: &str, port: &str) -> Result<()> {
        self.endpoint.bind(host, port)
    }

    /// Starts listening and turns the object into a server.
    pub fn listen(&mut self, backlog: i32) -> Result<()> {
        let descriptor = self.endpoint.descriptor().ok_or_else(bad_descriptor)?;
        descriptor.listen(backlog).map_err(Error::from_io)?;
        self.state = TcpState::Server;
        Ok(())
    }

    /// LuaSocket's connect: resolves `host`/`port` in the object's family and tries
    /// each address with a fresh deadline until one connects. With a zero block
    /// timeout only the first address is tried and a connection in progress gives
    /// [`Error::Timeout`]; calling `connect` again later reports `"already connected"`
    /// once it completed. The object becomes a client even when this fails.
    pub fn connect(&mut self, host: &str, port: &str) -> Result<()> {
        self.state = TcpState::Client;
        let addresses = self.resolve_peer(host, port)?;
        let mut failure = Error::Closed;
        for address in &addresses {
            let deadline = self.timeout.start();
            let result = match self.start_connect(address) {
                Poll::Ready(result) => result,
                Poll::Pending => self.wait_connected(&deadline),
            };
            match result {
                Ok(()) => return Ok(()),
                Err(err) => failure = err,
            }
            if deadline.is_zero() {
                break;
            }
        }
        Err(failure)
    }

    /// `bind(path)` of a Unix stream. As in LuaSocket's `unixstream`, a failure also
    /// closes the descriptor (a later bind or connect makes a new one).
    pub fn bind_path(&mut self, path: &[u8]) -> Result<()> {
        let address = unix_address(path)?;
        let bound = self.endpoint.bind_to(&address);
        if bound.is_err() {
            self.endpoint.close();
        }
        bound
    }

    /// `connect(path)` of a Unix stream, waiting per the timeouts. Unlike TCP's, it
    /// makes the object a client only when it succeeds, and a failure closes the
    /// descriptor, as LuaSocket's `unixstream` does.
    pub fn connect_path(&mut self, path: &[u8]) -> Result<()> {
        let address = unix_address(path)?;
        let deadline = self.timeout.start();
        let connected = match self.start_connect(&address) {
            Poll::Ready(result) => result,
            Poll::Pending => self.wait_connected(&deadline),
        };
        if connected.is_err() {
            self.connect_failed();
        }
        connected
    }

    /// Records that a connect failed or was given up (a scheduler's deadline passed).
    /// A Unix stream is then a master without a descriptor again, as LuaSocket's
    /// `unixstream` leaves it, so connecting again works; a TCP object stays a client
    /// with its descriptor, as in LuaSocket's `tcp`.
    pub fn connect_failed(&mut self) {
        if self.endpoint.family() == Family::Unix {
            self.state = TcpState::Master;
            self.endpoint.close();
        }
    }

    /// The path the object is bound to (`""` when unbound), for Unix streams.
    pub fn local_path(&self) -> Result<Vec<u8>> {
        self.endpoint
            .local_sockaddr()
            .map(|address| unix_path(&address))
    }

    /// The path of the peer's socket (`""` when the peer is unbound), for Unix streams.
    pub fn peer_path(&self) -> Result<Vec<u8>> {
        self.endpoint
            .peer_sockaddr()
            .map(|address| unix_path(&address))
    }

    fn wait_connected(&mut self, deadline: &Deadline) -> Result<()> {
        let fd = sys::raw_of(self.endpoint.open_descriptor()?);
        socket::wait(fd, Interest::Write, deadline)?;
        match self.finish_connect() {
            Poll::Ready(result) => result,
            Poll::Pending => Err(Error::from_io(std::io::Error::from_raw_os_error(
                sys::code::NOT_CONNECTED,
            ))),
        }
    }

    /// Resolves a peer for [`start_connect`](Self::start_connect), restricted to the
    /// object's family once it has one.
    pub fn resolve_peer(&self, host: &str, port: &str) -> Result<Vec<SockAddr>> {
        self.endpoint.resolve(Some(host), port, false, false)
    }

    /// Non-blocking: starts connecting to `address`, creating the descriptor in the
    /// address's family if needed. `Pending` means the connection is in progress:
    /// wait for writability, then call [`finish_connect`](Self::finish_connect).
    /// The object becomes a client.
    pub fn start_connect(&mut self, address: &SockAddr) -> Poll<Result<()>> {
        self.state = TcpState::Client;
        match self.endpoint.prepare(Family::of(address)) {
            Ok(true) => self.buffer.clear(),
            Ok(false) => {}
            Err(err) => return Poll::Ready(Err(err)),
        }
        let descriptor = match self.endpoint.open_descriptor() {
            Ok(descriptor) => descriptor,
            Err(err) => return Poll::Ready(Err(err)),
        };
        match descriptor.connect(address) {
            Ok(()) => Poll::Ready(Ok(())),
            Err(err) => match err.raw_os_error() {
                Some(sys::code::IN_PROGRESS | sys::code::WOULD_BLOCK | sys::code::INTERRUPTED) => {
                    Poll::Pending
                }
                _ => Poll::Ready(Err(Error::from_io(err))),
            },
        }
    }

    /// Non-blocking: the outcome of a connection started by
    /// [`start_connect`](Self::start_connect), from `SO_ERROR`; `Pending` while it
    /// is still in progress.
    pub fn finish_connect(&mut self) -> Poll<Result<()>> {
        let descriptor = match self.endpoint.open_descriptor() {
            Ok(descriptor) => descriptor,
            Err(err) => return Poll::Ready(Err(err)),
        };
        match descriptor.take_error() {
            Ok(Some(err)) | Err(err) => return Poll::Ready(Err(Error::from_io(err))),
            Ok(None) => {}
        }
        match descriptor.peer_addr() {
            Ok(_) => Poll::Ready(Ok(())),
            Err(err) if err.raw_os_error() == Some(sys::code::NOT_CONNECTED) => Poll::Pending,
            Err(err) => Poll::Ready(Err(Error::from_io(err))),
        }
    }

    /// Waits (per the timeouts) for a connection and returns it as a client with
    /// infinite timeouts.
    pub fn accept(&mut self) -> Result<TcpSocket> {
        let deadline = self.timeout.start();
        loop {
            match self.try_accept() {
                Poll::Ready(result) => return result,
                Poll::Pending => socket::wait(self.raw_fd()?, Interest::Read, &deadline)?,
            }
        }
    }

    /// Non-blocking accept. Connections aborted before being accepted are skipped.
    pub fn try_accept(&mut self) -> Poll<Result<TcpSocket>> {
        let descriptor = match self.endpoint.open_descriptor() {
            Ok(descriptor) => descriptor,
            Err(err) => return Poll::Ready(Err(err)),
        };
        loop {
            match descriptor.accept() {
                Ok((socket, _)) => {
                    return Poll::Ready(Ok(Self::fresh(
                        Endpoint::from_accepted(socket, self.endpoint.family()),
                        TcpState::Client,
                    )))
                }
                Err(err) => match err.raw_os_error() {
                    Some(sys::code::WOULD_BLOCK) => return Poll::Pending,
                    Some(sys::code::INTERRUPTED | sys::code::CONNECTION_ABORTED) => continue,
                    _ => return Poll::Ready(Err(Error::from_io(err))),
                },
            }
        }
    }

    /// Receives `pattern`, waiting per the timeouts. `deliver` is called exactly
    /// once: with the result, or on failure with the partial data (which is then
    /// consumed, as in LuaSocket). Returns what `deliver` returned and the error.
    pub fn receive_with<R>(
        &mut self,
        pattern: ReceivePattern,
        deliver: impl FnOnce(&[u8]) -> R,
    ) -> (R, Option<Error>) {
        let deadline = self.timeout.start();
        let failure = loop {
            match self.poll_complete(pattern, true) {
                Poll::Ready(Ok(complete)) => {
                    let (result, consumed) = self.buffer.take(complete, deliver);
                    self.count_received(consumed);
                    return (result, None);
                }
                Poll::Ready(Err(err)) => break err,
                Poll::Pending => {
                    // Held-back replies the peer may be waiting for go out first.
                    let interest = if self.has_deferred() {
                        Interest::Write
                    } else {
                        Interest::Read
                    };
                    let waited = self
                        .raw_fd()
                        .and_then(|fd| socket::wait(fd, interest, &deadline));
                    if let Err(err) = waited {
                        break err;
                    }
                }
            }
        };
        (self.take_partial_with(pattern, deliver), Some(failure))
    }

    /// Non-blocking receive: completes `pattern` from buffered and readable data and
    /// passes the result to `deliver` (a slice of the buffer, valid only during the
    /// call). `Pending` consumes nothing: an incomplete line or count stays buffered.
    /// On `Ready(Err)` nothing is consumed either; call
    /// [`take_partial_with`](Self::take_partial_with) for LuaSocket's partial result.
    pub fn try_receive_with<R>(
        &mut self,
        pattern: ReceivePattern,
        deliver: impl FnOnce(&[u8]) -> R,
    ) -> Poll<Result<R>> {
        self.try_receive_tracked_with(pattern, true, deliver)
    }

    /// Makes reads report whether they left the kernel's queue empty, for a caller
    /// with an edge-triggered reactor ([`drained`](Self::drained)). Returns false
    /// where the kernel cannot (then nothing changes).
    pub fn track_drain(&mut self) -> bool {
        if !self.tracks_drain {
            self.tracks_drain = self
                .endpoint
                .descriptor()
                .is_some_and(|descriptor| descriptor.enable_inq());
        }
        self.tracks_drain
    }

    /// [`try_receive_with`](Self::try_receive_with) for a caller that tracks
    /// readiness: with `readable` false (no readiness event since
    /// [`drained`](Self::drained) was last true) the kernel has nothing, and only buffered data
    /// is looked at.
    pub fn try_receive_tracked_with<R>(
        &mut self,
        pattern: ReceivePattern,
        readable: bool,
        deliver: impl FnOnce(&[u8]) -> R,
    ) -> Poll<Result<R>> {
        self.poll_complete(pattern, readable).map_ok(|complete| {
            let (result, consumed) = self.buffer.take(complete, deliver);
            self.count_received(consumed);
            result
        })
    }

    /// True when the last receive read from the kernel and left its queue empty (the
    /// read returned `EAGAIN`, or reported nothing left and no FIN, see
    /// [`track_drain`](Self::track_drain)): another read blocks until the descriptor
    /// becomes readable again. False after a receive served from the buffer alone.
    pub fn drained(&self) -> bool {
        self.drained
    }

    /// Removes and passes to `deliver` what a failed receive of `pattern` returns as
    /// partial data: the buffered bytes (at most the count; CRs removed for a line).
    /// Used after an error, or when a scheduler's timeout ends a pending receive.
    pub fn take_partial_with<R>(
        &mut self,
        pattern: ReceivePattern,
        deliver: impl FnOnce(&[u8]) -> R,
    ) -> R {
        let partial = self.buffer.partial(pattern);
        let (result, consumed) = self.buffer.take(partial, deliver);
        self.count_received(consumed);
        result
    }

    fn count_received(&mut self, bytes: usize) {
        self.stats.received = self
            .stats
            .received
            .saturating_add(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Reads until `pattern` is complete, the kernel would block, or the stream ends.
    /// With `may_read` false an incomplete pattern is `Pending` without a `recv`.
    fn poll_complete(
        &mut self,
        pattern: ReceivePattern,
        may_read: bool,
    ) -> Poll<Result<crate::buffer::Complete>> {
        self.drained = false;
        loop {
            if let Some(complete) = self.buffer.find(pattern) {
                return Poll::Ready(Ok(complete));
            }
            if !may_read {
                self.buffer.park();
                let _ = self.flush_deferred();
                return Poll::Pending;
            }
            let Some(descriptor) = self.endpoint.descriptor() else {
                return Poll::Ready(Err(Error::Closed));
            };
            let wanted = match pattern {
                ReceivePattern::Count(count) => count,
                ReceivePattern::Line | ReceivePattern::All => 0,
            };
            let tracks_drain = self.tracks_drain;
            let mut left = None;
            let read = self.buffer.fill(wanted, |free| {
                if tracks_drain {
                    descriptor.recv_with_inq(free).map(|(count, inq)| {
                        left = inq;
                        count
                    })
                } else {
                    recv_raw(descriptor, free)
                }
            });
            self.drained = match &read {
                Ok(_) => left == Some(0),
                Err(err) => err.raw_os_error() == Some(sys::code::WOULD_BLOCK),
            };
            match read {
                Ok(0) => {
                    return Poll::Ready(match pattern {
                        ReceivePattern::All if !self.buffer.is_empty() => {
                            Ok(self.buffer.everything())
                        }
                        _ => Err(Error::Closed),
                    });
                }
                // Even after a read that emptied the queue, an incomplete pattern tries
                // once more: a RST queued behind the data is not counted by TCP_INQ,
                // and this call may have consumed the only event announcing it.
                Ok(_) => {}
                Err(err) => match err.raw_os_error() {
                    Some(sys::code::WOULD_BLOCK) => {
                        self.buffer.park();
                        // About to wait for the peer: it may be waiting for our replies.
                        let _ = self.flush_deferred();
                        return Poll::Pending;
                    }
                    Some(sys::code::INTERRUPTED) => {}
                    _ => return Poll::Ready(Err(Error::from_io(err))),
                },
            }
        }
    }

    /// Sends all of `data`, waiting per the timeouts. Returns how many bytes were
    /// sent and the error that stopped it, if any.
    pub fn send(&mut self, data: &[u8]) -> (usize, Option<Error>) {
        let deadline = self.timeout.start();
        let mut sent = 0;
        while sent < data.len() {
            match self.try_send(&data[sent..]) {
                Poll::Ready(Ok(count)) => sent += count,
                Poll::Ready(Err(err)) => return (sent, Some(err)),
                Poll::Pending => {
                    let waited = self
                        .raw_fd()
                        .and_then(|fd| socket::wait(fd, Interest::Write, &deadline));
                    if let Err(err) = waited {
                        return (sent, Some(err));
                    }
                }
            }
        }
        (sent, None)
    }

    /// Non-blocking send: one `send(2)` (without `SIGPIPE`). Returns how many bytes
    /// the kernel took, which may be fewer than offered.
    /// Data held back by [`defer_send`](Self::defer_send) goes out first; `Pending`
    /// while it cannot.
    pub fn try_send(&mut self, data: &[u8]) -> Poll<Result<usize>> {
        if !self.deferred.is_empty() {
            match self.flush_deferred() {
                Poll::Ready(Ok(())) => {}
                other => return other.map_ok(|()| 0),
            }
        }
        let sent = self.send_now(data);
        if let Poll::Ready(Ok(count)) = sent {
            self.stats.sent = self
                .stats
                .sent
                .saturating_add(i64::try_from(count).unwrap_or(i64::MAX));
        }
        sent
    }

    /// Accepts `data` as sent without a syscall when the caller knows more requests
    /// are already buffered for it to answer
    /// ([`has_buffered_data`](Self::has_buffered_data)): the replies to a pipelined burst then leave in one
    /// `send(2)` instead of one each. Held data goes out with the next send, receive
    /// wait, [`flush_deferred`](Self::flush_deferred), shutdown, close or fd hand-over.
    /// Returns false (nothing held) when that would exceed `DEFER_LIMIT` (16 KiB).
    pub fn defer_send(&mut self, data: &[u8]) -> bool {
        if self.deferred.len() + data.len() > DEFER_LIMIT || self.endpoint.descriptor().is_none() {
            return false;
        }
        self.deferred.extend_from_slice(data);
        self.stats.sent = self
            .stats
            .sent
            .saturating_add(i64::try_from(data.len()).unwrap_or(i64::MAX));
        true
    }

    /// True while data held back by [`defer_send`](Self::defer_send) is unsent.
    pub fn has_deferred(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// Writes held-back data: `Pending` while the kernel has no room for all of it.
    /// On an error the held data is dropped (the connection is broken anyway).
    pub fn flush_deferred(&mut self) -> Poll<Result<()>> {
        while !self.deferred.is_empty() {
            let deferred = std::mem::take(&mut self.deferred);
            let sent = self.send_now(&deferred);
            self.deferred = deferred;
            match sent {
                Poll::Ready(Ok(count)) => {
                    self.deferred.drain(..count);
                }
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(err)) => {
                    self.deferred.clear();
                    return Poll::Ready(Err(err));
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Held-back data goes out before the descriptor is shut, closed or given away:
    /// as far as the kernel takes it now (blocking here could stall a whole loop).
    fn flush_before_release(&mut self) {
        let _ = self.flush_deferred();
        self.deferred = Vec::new();
    }

    /// One `send(2)` of `data`.
    fn send_now(&mut self, data: &[u8]) -> Poll<Result<usize>> {
        if self.endpoint.descriptor().is_none() {
            return Poll::Ready(Err(Error::Closed));
        }
        match self.send_raw(data) {
            Ok(count) => Poll::Ready(Ok(count)),
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            Err(err) => Poll::Ready(Err(Error::from_io(err))),
        }
    }

    /// One `send(2)` without `SIGPIPE` (`write(2)` on a device), retried when
    /// interrupted.
    fn send_raw(&self, data: &[u8]) -> io::Result<usize> {
        let descriptor = self.endpoint.descriptor().ok_or_else(no_descriptor)?;
        loop {
            match descriptor.write_stream(data) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                sent => return sent,
            }
        }
    }

    /// Non-blocking byte I/O for a protocol layered on the connection (the TLS records
    /// of an `ssl` connection): one `recv(2)`, `ErrorKind::WouldBlock` when nothing is
    /// there, `Ok(0)` at the end of the stream. Bytes a receive already buffered come
    /// first, so nothing read off the wire before the layer took over is lost. Neither
    /// the statistics nor the timeouts are involved.
    pub fn read_raw(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.buffer.is_empty() {
            let part = self.buffer.partial(ReceivePattern::Count(buf.len()));
            let (count, _) = self.buffer.take(part, |bytes| {
                buf[..bytes.len()].copy_from_slice(bytes);
                bytes.len()
            });
            return Ok(count);
        }
        if std::mem::take(&mut self.read_blocked) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let descriptor = self.endpoint.descriptor().ok_or_else(no_descriptor)?;
        if !self.tracks_drain {
            return recv_raw(descriptor, buf);
        }
        let read = loop {
            match descriptor.recv_with_inq(buf) {
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                read => break read,
            }
        };
        // The end of the stream is never "drained": a read after it must still see it.
        self.drained = match &read {
            Ok((count, left)) => *count > 0 && *left == Some(0),
            Err(err) => err.raw_os_error() == Some(sys::code::WOULD_BLOCK),
        };
        read.map(|(count, _)| count)
    }

    /// For a layer above [`read_raw`](Self::read_raw) (TLS) whose caller tracks
    /// readiness as [`try_receive_tracked_with`](Self::try_receive_tracked_with)'s
    /// does: with `readable` false (no readiness event since [`drained`](Self::drained)
    /// was last true) the next raw read that would ask the kernel answers `WouldBlock`
    /// without the `recv`; with true it asks. Either way [`drained`](Self::drained)
    /// starts over as false, for the reads to come.
    pub fn expect_read(&mut self, readable: bool) {
        self.read_blocked = !readable;
        self.drained = false;
    }

    /// The sending half of [`read_raw`](Self::read_raw): one `send(2)`, after any data
    /// held back by [`defer_send`](Self::defer_send) (`WouldBlock` while that cannot go).
    pub fn write_raw(&mut self, data: &[u8]) -> io::Result<usize> {
        while !self.deferred.is_empty() {
            let count = self.send_raw(&self.deferred)?;
            self.deferred.drain(..count);
        }
        self.send_raw(data)
    }

    /// Moves the connection to a new object for another layer to own: the descriptor
    /// and any received bytes not returned yet, with fresh statistics and timeouts.
    /// This object is left without a descriptor, as after
    /// [`release_fd`](Self::release_fd). Without a descriptor (never opened, or
    /// closed), the new object has none either, as LuaSec wraps such a socket.
    pub fn hand_over(&mut self) -> TcpSocket {
        self.flush_before_release();
        let mut moved = Self::fresh(self.endpoint.take(), self.state);
        moved.buffer = std::mem::take(&mut self.buffer);
        moved
    }

    /// Shuts down one or both directions; errors are ignored, as in LuaSocket.
    pub fn shutdown(&mut self, how: Shutdown) {
        self.flush_before_release();
        if let Some(descriptor) = self.endpoint.descriptor() {
            let _ = descriptor.shutdown(how);
        }
    }

    /// Closes the descriptor and drops buffered data. Closing twice is harmless.
    pub fn close(&mut self) {
        self.flush_before_release();
        self.endpoint.close();
        self.buffer.clear();
    }

    /// Gives the descriptor away without closing it (`setfd(-1)`); the object then
    /// owns nothing.
    pub fn release_fd(&mut self) -> Option<RawSocket> {
        self.flush_before_release();
        self.endpoint.release()
    }

    /// Makes `fd` the object's descriptor (`setfd(fd)`); the previous one is given
    /// away, not closed, and nothing else changes.
    ///
    /// # Safety
    ///
    /// `fd` must not be closed by anyone else while this object owns it.
    pub unsafe fn adopt_fd(&mut self, fd: RawSocket) {
        self.flush_before_release();
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

    fn raw_fd(&self) -> Result<RawSocket> {
        self.endpoint.fd().ok_or(Error::Closed)
    }
}

/// What raw I/O on an object without a descriptor fails with: what the syscall would.
fn no_descriptor() -> io::Error {
    io::Error::from_raw_os_error(sys::code::BAD_DESCRIPTOR)
}

/// One `recv(2)` (`read(2)` on a device), retried when interrupted.
fn recv_raw(descriptor: &socket::Descriptor, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match descriptor.read_stream(buf) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            read => return read,
        }
    }
}

impl Drop for TcpSocket {
    fn drop(&mut self) {
        self.flush_before_release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeout::TimeoutMode;

    fn pair() -> (TcpSocket, TcpSocket, TcpSocket) {
        let mut server = TcpSocket::new(Family::Inet).unwrap();
        server.bind("127.0.0.1", "0").unwrap();
        server.listen(8).unwrap();
        let (_, port) = server.local_address().unwrap();
        let mut client = TcpSocket::new(Family::Unspec).unwrap();
        client.connect("127.0.0.1", &port.to_string()).unwrap();
        let accepted = server.accept().unwrap();
        (server, client, accepted)
    }

    fn receive(socket: &mut TcpSocket, pattern: ReceivePattern) -> (Vec<u8>, Option<String>) {
        let (data, err) = socket.receive_with(pattern, |bytes| bytes.to_vec());
        (data, err.map(|e| e.to_string()))
    }

    /// Waits (bounded) until `socket` has something to read, as a reactor would.
    fn wait_readable(socket: &TcpSocket) {
        let fd = socket.fd().unwrap();
        let mut poll = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the duration of the call.
        assert_eq!(unsafe { libc::poll(&mut poll, 1, 5000) }, 1);
    }

    #[test]
    fn drained_reads_see_a_queued_fin() {
        let (_server, mut client, mut accepted) = pair();
        if !accepted.track_drain() {
            return; // kernel without TCP_INQ: nothing is ever reported drained
        }
        client.send(b"one\n");
        wait_readable(&accepted);
        let line = accepted.try_receive_tracked_with(ReceivePattern::Line, true, <[u8]>::to_vec);
        assert!(matches!(line, Poll::Ready(Ok(ref l)) if l == b"one"));
        assert!(accepted.drained(), "the queue was emptied");
        // Data and FIN arrive together (one edge for both): the read that takes the
        // data must not report the queue drained, or the FIN would never be read.
        client.send(b"two\n");
        client.shutdown(Shutdown::Write);
        // Loopback delivers both inside the calls above.
        wait_readable(&accepted);
        let line = accepted.try_receive_tracked_with(ReceivePattern::Line, true, <[u8]>::to_vec);
        assert!(matches!(line, Poll::Ready(Ok(ref l)) if l == b"two"));
        assert!(!accepted.drained(), "a FIN is still queued");
        let end = accepted.try_receive_tracked_with(ReceivePattern::Line, true, <[u8]>::to_vec);
        assert!(matches!(end, Poll::Ready(Err(Error::Closed))));
    }

    #[test]
    fn raw_reads_report_drained_and_skip_the_read_when_told() {
        let (_server, mut client, mut accepted) = pair();
        if !accepted.track_drain() {
            return; // kernel without TCP_INQ
        }
        let mut buf = [0u8; 64];
        client.send(b"one\n");
        wait_readable(&accepted);
        accepted.expect_read(true);
        assert_eq!(accepted.read_raw(&mut buf).ok(), Some(4));
        assert!(accepted.drained(), "the queue was emptied");
        // Told there is nothing: no recv, even with data there (the reactor would
        // have said readable then); the next read asks the kernel again.
        client.send(b"two\n");
        wait_readable(&accepted);
        accepted.expect_read(false);
        assert!(!accepted.drained());
        let skipped = accepted.read_raw(&mut buf);
        assert!(matches!(skipped, Err(ref e) if e.kind() == io::ErrorKind::WouldBlock));
        assert_eq!(accepted.read_raw(&mut buf).ok(), Some(4));
        // The end of the stream is never drained: the read after it must see it.
        client.shutdown(Shutdown::Write);
        wait_readable(&accepted);
        accepted.expect_read(true);
        assert_eq!(accepted.read_raw(&mut buf).ok(), Some(0));
        assert!(!accepted.drained());
        assert_eq!(accepted.read_raw(&mut buf).ok(), Some(0));
    }

    #[test]
    fn deferred_data_leaves_first_and_on_close() {
        let (_server, mut client, mut accepted) = pair();
        assert!(accepted.defer_send(b"one\n"));
        assert!(accepted.has_deferred());
        // A direct send goes after what was held back.
        assert!(matches!(accepted.send(b"two\n"), (4, None)));
        assert!(!accepted.has_deferred());
        assert_eq!(
            receive(&mut client, ReceivePattern::Line),
            (b"one".to_vec(), None)
        );
        assert_eq!(
            receive(&mut client, ReceivePattern::Line),
            (b"two".to_vec(), None)
        );
        // Closing sends it too.
        assert!(accepted.defer_send(b"three\n"));
        accepted.close();
        assert_eq!(
            receive(&mut client, ReceivePattern::Line),
            (b"three".to_vec(), None)
        );
        assert_eq!(accepted.stats().sent, 14);
    }

    #[test]
    fn a_blocking_receive_sends_deferred_data_before_waiting() {
        let (_server, mut client, mut accepted) = pair();
        accepted.timeout_mut().set(Some(0.05), TimeoutMode::Block);
        assert!(accepted.defer_send(b"ping\n"));
        // Nothing to read: the wait times out, but the held data went out first.
        assert_eq!(
            receive(&mut accepted, ReceivePattern::Line),
            (Vec::new(), Some("timeout".to_owned()))
        );
        assert_eq!(
            receive(&mut client, ReceivePattern::Line),
            (b"ping".to_vec(), None)
        );
        assert!(!accepted.defer_send(&vec![0u8; DEFER_LIMIT + 1]));
    }

    #[test]
    fn states_follow_calls() {
        let (server, client, accepted) = pair();
        assert_eq!(server.state(), TcpState::Server);
        assert_eq!(client.state(), TcpState::Client);
        assert_eq!(accepted.state(), TcpState::Client);
        assert_eq!(client.family(), Family::Inet);
        assert_eq!(TcpState::Server.class_name(), "tcp{server}");
    }

    #[test]
    fn patterns_over_a_connection() {
        let (_server, mut client, mut accepted) = pair();
        let (sent, err) = client.send(b"line one\r\nfixed");
        assert_eq!((sent, err.is_none()), (15, true));
        assert_eq!(
            receive(&mut accepted, ReceivePattern::Line),
            (b"line one".to_vec(), None)
        );
        assert_eq!(
            receive(&mut accepted, ReceivePattern::Count(5)),
            (b"fixed".to_vec(), None)
        );
        client.send(b"tail");
        client.shutdown(Shutdown::Write);
        assert_eq!(
            receive(&mut accepted, ReceivePattern::All),
            (b"tail".to_vec(), None)
        );
        assert_eq!(
            receive(&mut accepted, ReceivePattern::All),
            (Vec::new(), Some("closed".into()))
        );
        assert_eq!(accepted.stats().received, 19);
        assert_eq!(client.stats().sent, 19);
    }

    #[test]
    fn timeout_returns_partial() {
        let (_server, mut client, mut accepted) = pair();
        accepted.timeout_mut().set(Some(0.05), TimeoutMode::Block);
        client.send(b"no newline\r");
        assert_eq!(
            receive(&mut accepted, ReceivePattern::Line),
            (b"no newline".to_vec(), Some("timeout".into()))
        );
        assert!(!accepted.has_buffered_data());
    }

    #[test]
    fn try_receive_keeps_incomplete_data() {
        let (_server, mut client, mut accepted) = pair();
        client.send(b"abc");
        let mut attempts = 0;
        while !accepted.has_buffered_data() && attempts < 1000 {
            assert!(accepted
                .try_receive_with(ReceivePattern::Line, |b| b.to_vec())
                .is_pending());
            attempts += 1;
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(accepted.has_buffered_data());
        client.send(b"def\n");
        let mut line = Poll::Pending;
        for _ in 0..1000 {
            line = accepted.try_receive_with(ReceivePattern::Line, |b| b.to_vec());
            if line.is_ready() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(matches!(line, Poll::Ready(Ok(ref l)) if l == b"abcdef"));
    }

    #[test]
    fn closed_object_reports_closed() {
        let (_server, mut client, _accepted) = pair();
        client.close();
        client.close();
        assert_eq!(
            receive(&mut client, ReceivePattern::Line).1.as_deref(),
            Some("closed")
        );
        assert_eq!(
            client.send(b"x").1.map(|e| e.to_string()).as_deref(),
            Some("closed")
        );
        assert_eq!(client.fd(), None);
        assert_eq!(
            client.peer_address().unwrap_err().to_string(),
            "Bad file descriptor"
        );
    }

    #[test]
    fn zero_timeout_connect_then_already_connected() {
        let mut server = TcpSocket::new(Family::Inet).unwrap();
        server.bind("127.0.0.1", "0").unwrap();
        server.listen(8).unwrap();
        let port = server.local_address().unwrap().1.to_string();
        let mut client = TcpSocket::new(Family::Inet).unwrap();
        client.timeout_mut().set(Some(0.0), TimeoutMode::Block);
        let mut outcome = client
            .connect("127.0.0.1", &port)
            .map_err(|e| e.to_string());
        for _ in 0..1000 {
            match outcome.as_ref().map_err(String::as_str) {
                Ok(()) | Err("already connected") => break,
                Err("timeout") | Err("Operation already in progress") => {}
                Err(other) => panic!("unexpected {other}"),
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
            outcome = client
                .connect("127.0.0.1", &port)
                .map_err(|e| e.to_string());
        }
        assert!(matches!(
            outcome.as_ref().map_err(String::as_str),
            Ok(()) | Err("already connected")
        ));
        assert_eq!(client.state(), TcpState::Client);
    }

    #[test]
    fn hand_over_moves_the_descriptor_and_unread_bytes() {
        let (_server, mut client, mut accepted) = pair();
        client.send(b"one\ntwo");
        wait_readable(&accepted);
        assert_eq!(
            receive(&mut accepted, ReceivePattern::Line),
            (b"one".to_vec(), None)
        );
        assert!(accepted.has_buffered_data(), "one recv took both lines");
        let fd = accepted.fd();
        let mut moved = accepted.hand_over();
        assert_eq!((accepted.fd(), moved.fd()), (None, fd));
        assert_eq!(accepted.hand_over().fd(), None);
        let mut raw = [0u8; 16];
        assert_eq!(moved.read_raw(&mut raw).unwrap(), 3);
        assert_eq!(&raw[..3], b"two");
        let nothing = moved.read_raw(&mut raw).unwrap_err();
        assert_eq!(nothing.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(moved.write_raw(b"back\n").unwrap(), 5);
        assert_eq!(
            receive(&mut client, ReceivePattern::Line),
            (b"back".to_vec(), None)
        );
        assert_eq!(moved.stats().sent, 0, "raw I/O is not counted");
    }

    fn unix_pair(path: &[u8]) -> (TcpSocket, TcpSocket, TcpSocket) {
        let mut server = TcpSocket::new_unix().unwrap();
        server.bind_path(path).unwrap();
        server.listen(8).unwrap();
        let mut client = TcpSocket::new_unix().unwrap();
        client.connect_path(path).unwrap();
        let accepted = server.accept().unwrap();
        (server, client, accepted)
    }

    fn temp_path(name: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("{name}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn the_stream_works_over_a_unix_path() {
        use std::os::unix::ffi::OsStrExt;
        let path = temp_path("luasocket-core-stream");
        let bytes = path.as_os_str().as_bytes();
        let (server, mut client, mut accepted) = unix_pair(bytes);
        assert_eq!(server.family(), Family::Unix);
        assert_eq!(server.local_path().unwrap(), bytes);
        assert_eq!(client.peer_path().unwrap(), bytes);
        assert_eq!(accepted.peer_path().unwrap(), b"");
        assert_eq!(accepted.state(), TcpState::Client);
        client.send(b"line\r\nfixed tail");
        assert_eq!(
            receive(&mut accepted, ReceivePattern::Line),
            (b"line".to_vec(), None)
        );
        assert_eq!(
            receive(&mut accepted, ReceivePattern::Count(5)),
            (b"fixed".to_vec(), None)
        );
        accepted.timeout_mut().set(Some(0.05), TimeoutMode::Block);
        assert_eq!(
            receive(&mut accepted, ReceivePattern::Line),
            (b" tail".to_vec(), Some("timeout".into()))
        );
        client.close();
        assert_eq!(
            receive(&mut accepted, ReceivePattern::All),
            (Vec::new(), Some("closed".into()))
        );
        assert_eq!(accepted.stats().received, 16);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn abstract_unix_names_and_connect_failures() {
        let name = format!("\0luasocket-core-{}", std::process::id());
        let (_server, mut client, mut accepted) = unix_pair(name.as_bytes());
        assert_eq!(client.peer_path().unwrap(), name.as_bytes());
        client.send(b"x\n");
        assert_eq!(
            receive(&mut accepted, ReceivePattern::Line),
            (b"x".to_vec(), None)
        );
        let mut lost = TcpSocket::new_unix().unwrap();
        let missing = temp_path("luasocket-core-missing");
        let err = lost
            .connect_path(missing.to_str().unwrap().as_bytes())
            .unwrap_err();
        assert_eq!(err.to_string(), "No such file or directory");
        assert_eq!((lost.state(), lost.fd()), (TcpState::Master, None));
        let err = lost.connect_path(&[b'p'; 200]).unwrap_err();
        assert_eq!(err.to_string(), "path too long");
    }

    // `ptsname_r` is not declared for Apple targets by the libc crate.
    #[cfg(any(target_os = "linux", target_os = "freebsd"))]
    #[test]
    fn a_device_is_read_and_written_as_a_stream() {
        // A pseudo-terminal pair in raw mode: the far side plays the serial device.
        // SAFETY: plain libc calls on descriptors this test owns; ptsname_r writes at
        // most the buffer's length, and termios is fully written by tcgetattr.
        let (master, slave) = unsafe {
            let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            assert!(master >= 0);
            assert_eq!(libc::grantpt(master), 0);
            assert_eq!(libc::unlockpt(master), 0);
            let mut name = [0 as libc::c_char; 128];
            assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
            let slave = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
            assert!(slave >= 0);
            let mut termios: libc::termios = std::mem::zeroed();
            assert_eq!(libc::tcgetattr(slave, &mut termios), 0);
            libc::cfmakeraw(&mut termios);
            assert_eq!(libc::tcsetattr(slave, libc::TCSANOW, &termios), 0);
            use std::os::fd::FromRawFd;
            (
                std::os::fd::OwnedFd::from_raw_fd(master),
                std::os::fd::OwnedFd::from_raw_fd(slave),
            )
        };
        let mut device = TcpSocket::from_device(slave);
        let mut far = TcpSocket::from_device(master);
        assert_eq!(device.state(), TcpState::Client);
        assert!(!device.track_drain(), "not a TCP socket");
        assert!(matches!(far.send(b"AT\r\nOK"), (6, None)));
        device.timeout_mut().set(Some(5.0), TimeoutMode::Block);
        assert_eq!(
            receive(&mut device, ReceivePattern::Line),
            (b"AT".to_vec(), None)
        );
        assert_eq!(
            receive(&mut device, ReceivePattern::Count(2)),
            (b"OK".to_vec(), None)
        );
        assert!(matches!(device.send(b"ready\n"), (6, None)));
        far.timeout_mut().set(Some(5.0), TimeoutMode::Block);
        assert_eq!(
            receive(&mut far, ReceivePattern::Line),
            (b"ready".to_vec(), None)
        );
    }

    #[test]
    fn release_keeps_descriptor_open() {
        let mut socket = TcpSocket::new(Family::Inet).unwrap();
        socket.bind("127.0.0.1", "0").unwrap();
        let bound = socket.local_address().unwrap();
        let fd = socket.release_fd().unwrap();
        assert_eq!(socket.fd(), None);
        socket.close();
        let mut other = TcpSocket::new(Family::Unspec).unwrap();
        // SAFETY: `fd` was released above and is owned by nobody else.
        unsafe { other.adopt_fd(fd) };
        assert_eq!(other.fd(), Some(fd));
        assert_eq!(other.local_address().unwrap(), bound);
    }
}
