//! The OS descriptor under a TCP or UDP object, and waiting on it with `poll(2)`.
//!
//! Descriptors are created non-blocking and close-on-exec; IPv6 ones are IPv6-only,
//! as LuaSocket makes them. A blocking method tries its syscall first and only waits
//! when the kernel says it would block, so a zero timeout never enters `poll`.

use std::io;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ops::Deref;

use socket2::{SockAddr, Socket, Type};

use crate::addr::{self, Family, Hints, SocketKind};
use crate::options::{self, OptionValue, SocketOption};
use crate::sys::{self, RawSocket};
use crate::timeout::Deadline;
use crate::{Error, Result};

static SHARE_STREAM_PORTS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// From now on, TCP sockets of this process bind with `SO_REUSEPORT`, so that worker
/// processes bind the same port and the kernel spreads connections among them.
pub fn share_stream_ports(on: bool) {
    SHARE_STREAM_PORTS.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// The descriptor of a TCP or UDP object and its family. A `socket.tcp()` or
/// `socket.udp()` object starts without a descriptor (family `Unspec`); the first
/// bind/connect creates one in the family of the address it uses.
#[derive(Debug)]
pub(crate) struct Endpoint {
    descriptor: Option<Descriptor>,
    family: Family,
    kind: SocketKind,
}

impl Endpoint {
    /// A new endpoint; a descriptor is created at once unless `family` is `Unspec`.
    pub(crate) fn new(family: Family, kind: SocketKind) -> Result<Self> {
        let descriptor = match family {
            Family::Unspec => None,
            _ => Some(Descriptor::open(family, kind)?),
        };
        Ok(Endpoint {
            descriptor,
            family,
            kind,
        })
    }

    pub(crate) fn from_accepted(socket: Socket, family: Family) -> Self {
        Endpoint {
            descriptor: Some(Descriptor::accepted(socket)),
            family,
            kind: SocketKind::Stream,
        }
    }

    /// An endpoint over a device file opened by the caller (a serial line): stream
    /// I/O on it goes through `read(2)`/`write(2)`, as sockets' calls refuse it.
    #[cfg(unix)]
    pub(crate) fn device(file: std::os::fd::OwnedFd) -> Self {
        let _ = socket2::SockRef::from(&file).set_nonblocking(true);
        let descriptor = Descriptor {
            socket: ManuallyDrop::new(Socket::from(file)),
            device: true,
        };
        Endpoint {
            descriptor: Some(descriptor),
            family: Family::Unspec,
            kind: SocketKind::Stream,
        }
    }

    pub(crate) fn family(&self) -> Family {
        self.family
    }

    pub(crate) fn descriptor(&self) -> Option<&Descriptor> {
        self.descriptor.as_ref()
    }

    /// The descriptor, or the "closed" error for objects without one.
    pub(crate) fn open_descriptor(&self) -> Result<&Descriptor> {
        self.descriptor.as_ref().ok_or(Error::Closed)
    }

    pub(crate) fn fd(&self) -> Option<RawSocket> {
        self.descriptor.as_ref().map(|d| sys::raw_of(d))
    }

    /// Makes sure there is a descriptor for addresses of `family`, replacing one of
    /// another family. Returns true when a new descriptor was created.
    pub(crate) fn prepare(&mut self, family: Family) -> Result<bool> {
        if self.descriptor.is_some() && self.family == family {
            return Ok(false);
        }
        self.descriptor = None;
        self.descriptor = Some(Descriptor::open(family, self.kind)?);
        self.family = family;
        Ok(true)
    }

    /// Resolves a host/port pair for this endpoint's family and kind.
    pub(crate) fn resolve(
        &self,
        host: Option<&str>,
        port: &str,
        passive: bool,
        numeric: bool,
    ) -> Result<Vec<SockAddr>> {
        let hints = Hints {
            family: self.family,
            kind: self.kind,
            passive,
            numeric,
        };
        let addresses = addr::resolve(host, port, hints)?;
        if addresses.is_empty() {
            return Err(crate::dns::resolve_error(sys::c::EAI_NONAME));
        }
        Ok(addresses)
    }

    /// LuaSocket's bind: `"*"` is the wildcard; each resolved address is tried in
    /// turn until one binds.
    pub(crate) fn bind(&mut self, host: &str, port: &str) -> Result<()> {
        let host = (host != "*").then_some(host);
        let addresses = self.resolve(host, port, true, false)?;
        let mut failure = None;
        for address in &addresses {
            if let Err(err) = self.prepare(Family::of(address)) {
                failure = Some(err);
                continue;
            }
            match self.bind_descriptor(address) {
                Ok(()) => return Ok(()),
                Err(err) => failure = Some(Error::from_io(err)),
            }
        }
        Err(failure.unwrap_or(Error::Closed))
    }

    /// Binds to one address, creating the descriptor in its family if needed.
    pub(crate) fn bind_to(&mut self, address: &SockAddr) -> Result<()> {
        self.prepare(Family::of(address))?;
        self.bind_descriptor(address).map_err(Error::from_io)
    }

    /// Binds the open descriptor; in a process that shares its stream ports
    /// ([`share_stream_ports`]) a TCP descriptor gets `SO_REUSEPORT` first.
    fn bind_descriptor(&self, address: &SockAddr) -> io::Result<()> {
        let descriptor = self
            .open_descriptor()
            .map_err(|_| io::Error::from_raw_os_error(sys::code::BAD_DESCRIPTOR))?;
        // Workers exist on Linux only (copas.workers); SO_REUSEPORT is Unix's.
        #[cfg(unix)]
        if self.kind == SocketKind::Stream
            && !descriptor.device
            && SHARE_STREAM_PORTS.load(std::sync::atomic::Ordering::Relaxed)
            && matches!(self.family, Family::Inet | Family::Inet6)
        {
            descriptor.set_reuse_port(true)?;
        }
        descriptor.bind(address)
    }

    /// The local address as the kernel reports it.
    pub(crate) fn local_sockaddr(&self) -> Result<SockAddr> {
        let descriptor = self.descriptor.as_ref().ok_or_else(bad_descriptor)?;
        descriptor.local_addr().map_err(Error::from_io)
    }

    /// The peer address as the kernel reports it.
    pub(crate) fn peer_sockaddr(&self) -> Result<SockAddr> {
        let descriptor = self.descriptor.as_ref().ok_or_else(bad_descriptor)?;
        descriptor.peer_addr().map_err(Error::from_io)
    }

    /// Closes the descriptor, if any.
    pub(crate) fn close(&mut self) {
        self.descriptor = None;
    }

    /// Moves the descriptor, if any, to a new endpoint of the same family and kind.
    pub(crate) fn take(&mut self) -> Endpoint {
        Endpoint {
            descriptor: self.descriptor.take(),
            family: self.family,
            kind: self.kind,
        }
    }

    /// Gives the descriptor away without closing it.
    pub(crate) fn release(&mut self) -> Option<RawSocket> {
        self.descriptor.take().map(Descriptor::release)
    }

    /// Replaces the descriptor (the old one is given away, not closed).
    ///
    /// # Safety
    ///
    /// As for [`Descriptor::adopt`].
    pub(crate) unsafe fn adopt(&mut self, fd: RawSocket) {
        // A serial object stays one: its replacement descriptor is read as a device.
        let device = self.descriptor.as_ref().is_some_and(|d| d.device);
        self.release();
        // SAFETY: forwarded to our caller.
        let mut descriptor = unsafe { Descriptor::adopt(fd) };
        descriptor.device = device;
        self.descriptor = Some(descriptor);
    }

    /// The local address as numeric text and port.
    pub(crate) fn local_name(&self) -> Result<(String, u16)> {
        let descriptor = self.descriptor.as_ref().ok_or_else(bad_descriptor)?;
        let address = descriptor.local_addr().map_err(Error::from_io)?;
        addr::numeric_name(&address)
    }

    /// The peer address as numeric text and port.
    pub(crate) fn peer_name(&self) -> Result<(String, u16)> {
        let descriptor = self.descriptor.as_ref().ok_or_else(bad_descriptor)?;
        let address = descriptor.peer_addr().map_err(Error::from_io)?;
        addr::numeric_name(&address)
    }

    pub(crate) fn get_option(&self, option: SocketOption) -> Result<OptionValue> {
        options::get(self.fd().unwrap_or(sys::INVALID_SOCKET), option)
    }

    pub(crate) fn set_option(&self, option: SocketOption, value: &OptionValue) -> Result<()> {
        options::set(self.fd().unwrap_or(sys::INVALID_SOCKET), option, value)
    }
}

/// An owned socket descriptor that can also be given away without being closed
/// (LuaSocket's `setfd`).
///
/// Closing goes through `close(2)` directly rather than through `OwnedFd`, because
/// `setfd` lets scripts hand us numbers that another object may also close; a failed
/// close must stay harmless instead of tripping Rust's I/O-safety checks.
#[derive(Debug)]
pub(crate) struct Descriptor {
    socket: ManuallyDrop<Socket>,
    /// A device file rather than a socket: stream I/O uses `read(2)`/`write(2)`.
    device: bool,
}

impl Descriptor {
    /// Creates a non-blocking, close-on-exec socket of the given family and kind.
    pub(crate) fn open(family: Family, kind: SocketKind) -> Result<Self> {
        let domain = family.domain().ok_or_else(|| {
            Error::from_io(io::Error::from_raw_os_error(
                sys::code::FAMILY_NOT_SUPPORTED,
            ))
        })?;
        let socket_type = match kind {
            SocketKind::Stream => Type::STREAM,
            SocketKind::Datagram => Type::DGRAM,
        };
        let socket = sys::open_socket(domain, socket_type).map_err(Error::from_io)?;
        if family == Family::Inet6 {
            // LuaSocket makes every IPv6 socket IPv6-only; failure is not fatal there either.
            let _ = socket.set_only_v6(true);
        }
        Ok(Descriptor {
            socket: ManuallyDrop::new(socket),
            device: false,
        })
    }

    /// Wraps a descriptor returned by `accept`, making it non-blocking.
    pub(crate) fn accepted(socket: Socket) -> Self {
        // accept4 already set close-on-exec; only the blocking mode is left.
        let _ = socket.set_nonblocking(true);
        Descriptor {
            socket: ManuallyDrop::new(socket),
            device: false,
        }
    }

    /// Takes ownership of a descriptor number handed over by a script.
    ///
    /// # Safety
    ///
    /// `fd` must not be closed by anyone else while this descriptor owns it.
    pub(crate) unsafe fn adopt(fd: RawSocket) -> Self {
        // SAFETY: the caller hands over `fd` (see above); if it is not an open socket,
        // syscalls on it fail with EBADF/ENOTSOCK and closing it is harmless.
        let socket = unsafe { sys::socket_from_raw(fd) };
        sys::prepare_adopted(&socket);
        Descriptor {
            socket: ManuallyDrop::new(socket),
            device: false,
        }
    }

    /// Gives the descriptor away without closing it.
    pub(crate) fn release(mut self) -> RawSocket {
        // SAFETY: `self` is forgotten right after, so the socket is taken exactly once
        // and Drop never sees it.
        let socket = unsafe { ManuallyDrop::take(&mut self.socket) };
        std::mem::forget(self);
        sys::into_raw(socket)
    }
}

impl Descriptor {
    /// One read of stream data: `recv(2)`, or `read(2)` on a device file.
    pub(crate) fn read_stream(&self, buffer: &mut [u8]) -> io::Result<usize> {
        if !self.device {
            return self.socket.recv(as_uninit(buffer));
        }
        sys::read_device(sys::raw_of(&self.socket), buffer)
    }

    /// One write of stream data: `send(2)` without `SIGPIPE`, or `write(2)` on a
    /// device file.
    pub(crate) fn write_stream(&self, data: &[u8]) -> io::Result<usize> {
        if !self.device {
            return self.socket.send_with_flags(data, sys::SEND_FLAGS);
        }
        sys::write_device(sys::raw_of(&self.socket), data)
    }
}

impl Deref for Descriptor {
    type Target = Socket;

    fn deref(&self) -> &Socket {
        &self.socket
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        // The descriptor is ours (created, accepted or adopted) and is closed exactly once.
        sys::close(sys::raw_of(&self.socket));
    }
}

/// What a blocking call waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Data to read, a connection to accept, or the peer closing.
    Read,
    /// Room in the send buffer, or a pending connect finishing.
    Write,
}

/// Waits until `fd` is ready for `interest` or the deadline's budget runs out
/// (then [`Error::Timeout`]). Errors and hang-ups count as ready: the next syscall
/// reports them.
pub fn wait(fd: RawSocket, interest: Interest, deadline: &Deadline) -> Result<()> {
    loop {
        let budget = deadline.wait_budget();
        if budget == Some(std::time::Duration::ZERO) {
            return Err(Error::Timeout);
        }
        match sys::wait_one(fd, interest == Interest::Read, budget) {
            Ok(true) => return Ok(()),
            Ok(false) => return Err(Error::Timeout),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(Error::from_io(err)),
        }
    }
}

/// The error LuaSocket reports for syscalls on an object without a descriptor.
pub(crate) fn bad_descriptor() -> Error {
    Error::from_io(io::Error::from_raw_os_error(sys::code::BAD_DESCRIPTOR))
}

impl Descriptor {
    /// Asks the kernel to report, with each read, how many bytes are left to read
    /// (`TCP_INQ`, Linux 4.18+). False where that is not supported.
    pub(crate) fn enable_inq(&self) -> bool {
        sys::enable_inq(&self.socket)
    }

    /// One `recv`, also returning the bytes still queued after it when the kernel
    /// tells (see [`enable_inq`](Self::enable_inq)): 0 means a later read would block.
    pub(crate) fn recv_with_inq(&self, buffer: &mut [u8]) -> io::Result<(usize, Option<i32>)> {
        sys::recv_with_inq(&self.socket, buffer)
    }
}

/// Views initialized bytes as the `MaybeUninit` buffer socket2's receive calls take.
pub(crate) fn as_uninit(buffer: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: MaybeUninit<u8> has the layout of u8, and socket2's receive functions
    // only ever write initialized bytes into the buffer, so it stays initialized.
    unsafe { &mut *(buffer as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeout::{Timeout, TimeoutMode};

    #[test]
    fn released_descriptor_stays_open() {
        let descriptor = Descriptor::open(Family::Inet, SocketKind::Datagram).unwrap();
        let fd = descriptor.release();
        // SAFETY: probing a descriptor number we own with F_GETFD has no side effects.
        assert!(unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0);
        // SAFETY: the descriptor was released to us above and is closed once.
        unsafe { drop(Descriptor::adopt(fd)) };
    }

    #[test]
    fn wait_times_out_on_idle_socket() {
        let descriptor = Descriptor::open(Family::Inet, SocketKind::Datagram).unwrap();
        let mut timeout = Timeout::default();
        timeout.set(Some(0.01), TimeoutMode::Block);
        let result = wait(sys::raw_of(&descriptor), Interest::Read, &timeout.start());
        assert!(matches!(result, Err(Error::Timeout)));
        let result = wait(sys::raw_of(&descriptor), Interest::Write, &timeout.start());
        assert!(result.is_ok());
    }
}
