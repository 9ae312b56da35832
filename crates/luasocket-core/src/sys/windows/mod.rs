//! Windows: Winsock 2 through `windows-sys`, with LuaSocket's Windows semantics
//! (wsocket.c): its wording for `WSAE*` errors, `reuseport` as `SO_REUSEADDR`, no
//! Unix-domain sockets and no serial lines.
//!
//! socket2 does the per-socket work (creation, connect, accept, I/O) and starts
//! Winsock on first use; this module holds what it does not cover: option numbers,
//! `WSAPoll` for waits and `select`, the resolver and the host database.

mod hostdb;
mod options;

use super::poll_millis;
use std::io;
use std::os::windows::io::{AsRawSocket, FromRawSocket, IntoRawSocket};
use std::time::Duration;

use socket2::{Domain, Socket, Type};
use windows_sys::Win32::Networking::WinSock as ws;

pub(crate) use hostdb::lookup_host;
pub(crate) use options::option_name;

/// The OS handle of a socket, as scripts see it through `getfd`/`setfd`.
pub type RawSocket = std::os::windows::io::RawSocket;

/// The handle of an object without one (`getfd` answers it): Winsock's
/// `INVALID_SOCKET`, all bits set.
pub const INVALID_SOCKET: RawSocket = RawSocket::MAX;

/// Winsock's `SOCKET` (pointer-sized) for one of our handles.
fn handle(fd: RawSocket) -> ws::SOCKET {
    fd as ws::SOCKET
}

/// The C names the portable code uses, under libc's spelling and with libc's
/// types, so the resolver and option code is written once.
#[allow(non_camel_case_types)]
pub(crate) mod c {
    use windows_sys::Win32::Networking::WinSock as ws;

    pub(crate) use std::ffi::{c_char, c_int, c_void};

    pub(crate) type socklen_t = ws::socklen_t;
    pub(crate) type sa_family_t = ws::ADDRESS_FAMILY;
    pub(crate) type sockaddr = ws::SOCKADDR;
    pub(crate) type addrinfo = ws::ADDRINFOA;
    pub(crate) type hostent = ws::HOSTENT;

    pub(crate) const AF_UNSPEC: c_int = ws::AF_UNSPEC as c_int;
    pub(crate) const AF_INET: c_int = ws::AF_INET as c_int;
    pub(crate) const AF_INET6: c_int = ws::AF_INET6 as c_int;
    pub(crate) const AF_UNIX: c_int = ws::AF_UNIX as c_int;
    pub(crate) const SOCK_STREAM: c_int = ws::SOCK_STREAM;
    pub(crate) const SOCK_DGRAM: c_int = ws::SOCK_DGRAM;
    pub(crate) const AI_PASSIVE: c_int = ws::AI_PASSIVE as c_int;
    pub(crate) const AI_NUMERICHOST: c_int = ws::AI_NUMERICHOST as c_int;
    pub(crate) const AI_NUMERICSERV: c_int = ws::AI_NUMERICSERV as c_int;
    pub(crate) const NI_NUMERICHOST: c_int = ws::NI_NUMERICHOST as c_int;
    pub(crate) const NI_NUMERICSERV: c_int = ws::NI_NUMERICSERV as c_int;
    pub(crate) const NI_MAXHOST: u32 = ws::NI_MAXHOST;
    /// ws2def.h's `EAI_NONAME`.
    pub(crate) const EAI_NONAME: c_int = ws::WSAHOST_NOT_FOUND;

    pub(crate) use ws::freeaddrinfo;

    /// `getaddrinfo`, with Winsock started first.
    ///
    /// # Safety
    ///
    /// As Winsock's `getaddrinfo`.
    pub(crate) unsafe fn getaddrinfo(
        node: *const u8,
        service: *const u8,
        hints: *const addrinfo,
        result: *mut *mut addrinfo,
    ) -> c_int {
        super::startup();
        // SAFETY: forwarded to our caller.
        unsafe { ws::getaddrinfo(node, service, hints, result) }
    }

    /// `getnameinfo`, with Winsock started first.
    ///
    /// # Safety
    ///
    /// As Winsock's `getnameinfo`.
    pub(crate) unsafe fn getnameinfo(
        address: *const sockaddr,
        length: socklen_t,
        host: *mut u8,
        host_length: u32,
        service: *mut u8,
        service_length: u32,
        flags: c_int,
    ) -> c_int {
        super::startup();
        // SAFETY: forwarded to our caller.
        unsafe {
            ws::getnameinfo(
                address,
                length,
                host,
                host_length,
                service,
                service_length,
                flags,
            )
        }
    }

    /// `gethostname`, with Winsock started first.
    ///
    /// # Safety
    ///
    /// `name` must be writable for `length` bytes.
    pub(crate) unsafe fn gethostname(name: *mut u8, length: c_int) -> c_int {
        super::startup();
        // SAFETY: forwarded to our caller.
        unsafe { ws::gethostname(name, length) }
    }
}

/// Starts Winsock once per process. socket2 does so when it creates a socket, but
/// the resolver and the host database can be called before any socket exists and
/// would fail with `WSANOTINITIALISED`. Never cleaned up: other code in the process
/// may be using Winsock until it exits.
pub(crate) fn startup() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        // SAFETY: WSADATA is plain data for which all-zero is valid; Winsock fills it.
        let mut data: ws::WSADATA = unsafe { std::mem::zeroed() };
        // SAFETY: requests Winsock 2.2 with a writable WSADATA.
        unsafe { ws::WSAStartup(0x0202, &mut data) };
    });
}

/// Error numbers the crate tests for by name.
pub(crate) mod code {
    use windows_sys::Win32::Networking::WinSock as ws;

    pub(crate) const WOULD_BLOCK: i32 = ws::WSAEWOULDBLOCK;
    pub(crate) const IN_PROGRESS: i32 = ws::WSAEINPROGRESS;
    pub(crate) const INTERRUPTED: i32 = ws::WSAEINTR;
    pub(crate) const NOT_CONNECTED: i32 = ws::WSAENOTCONN;
    pub(crate) const CONNECTION_ABORTED: i32 = ws::WSAECONNABORTED;
    /// What Winsock answers for a number that is not a socket.
    pub(crate) const BAD_DESCRIPTOR: i32 = ws::WSAENOTSOCK;
    pub(crate) const FAMILY_NOT_SUPPORTED: i32 = ws::WSAEAFNOSUPPORT;

    /// Errors LuaSocket reports as `"timeout"` (wsocket.c).
    pub(crate) fn is_timeout(code: i32) -> bool {
        code == ws::WSAETIMEDOUT || code == ws::WSAEWOULDBLOCK
    }

    /// Errors LuaSocket reports as `"closed"`.
    pub(crate) fn is_closed(code: i32) -> bool {
        matches!(
            code,
            ws::WSAECONNRESET | ws::WSAECONNABORTED | ws::WSAESHUTDOWN
        )
    }

    /// Winsock reports an ICMP "port unreachable" for an earlier `sendto` as
    /// `WSAECONNRESET` on the next datagram receive; wsocket.c's `socket_recv` and
    /// `socket_recvfrom` retry once past it, and so do we.
    pub(crate) fn is_datagram_reset(code: i32) -> bool {
        code == ws::WSAECONNRESET
    }

    /// wsocket.c's `socket_strerror` and `wstrerror`: LuaSocket's own words for the
    /// common errors and Winsock's documented names for the rest of the `WSAE*`
    /// codes; `None` for other codes, which read as the system says.
    pub(crate) fn luasocket_message(code: i32) -> Option<&'static str> {
        Some(match code {
            ws::WSAEADDRINUSE => "address already in use",
            ws::WSAECONNREFUSED => "connection refused",
            ws::WSAEISCONN => "already connected",
            ws::WSAEACCES => "permission denied",
            ws::WSAECONNABORTED | ws::WSAECONNRESET => "closed",
            ws::WSAETIMEDOUT => "timeout",
            ws::WSAEINTR => "Interrupted function call",
            ws::WSAEFAULT => "Bad address",
            ws::WSAEINVAL => "Invalid argument",
            ws::WSAEMFILE => "Too many open files",
            ws::WSAEWOULDBLOCK => "Resource temporarily unavailable",
            ws::WSAEINPROGRESS => "Operation now in progress",
            ws::WSAEALREADY => "Operation already in progress",
            ws::WSAENOTSOCK => "Socket operation on nonsocket",
            ws::WSAEDESTADDRREQ => "Destination address required",
            ws::WSAEMSGSIZE => "Message too long",
            ws::WSAEPROTOTYPE => "Protocol wrong type for socket",
            ws::WSAENOPROTOOPT => "Bad protocol option",
            ws::WSAEPROTONOSUPPORT => "Protocol not supported",
            ws::WSAESOCKTNOSUPPORT => "ai_socktype not supported",
            ws::WSAEOPNOTSUPP => "Operation not supported",
            ws::WSAEPFNOSUPPORT => "Protocol family not supported",
            ws::WSAEAFNOSUPPORT => "ai_family not supported",
            ws::WSAEADDRNOTAVAIL => "Cannot assign requested address",
            ws::WSAENETDOWN => "Network is down",
            ws::WSAENETUNREACH => "Network is unreachable",
            ws::WSAENETRESET => "Network dropped connection on reset",
            ws::WSAENOBUFS => "No buffer space available",
            ws::WSAENOTCONN => "Socket is not connected",
            ws::WSAESHUTDOWN => "Cannot send after socket shutdown",
            ws::WSAEHOSTDOWN => "Host is down",
            ws::WSAEHOSTUNREACH => "No route to host",
            ws::WSAEPROCLIM => "Too many processes",
            ws::WSASYSNOTREADY => "Network subsystem is unavailable",
            ws::WSAVERNOTSUPPORTED => "Winsock.dll version out of range",
            ws::WSANOTINITIALISED => "Successful WSAStartup not yet performed",
            ws::WSAEDISCON => "Graceful shutdown in progress",
            ws::WSAHOST_NOT_FOUND => "host not found",
            ws::WSATRY_AGAIN => "Nonauthoritative host not found",
            ws::WSANO_RECOVERY => "non-recoverable failure in name resolution",
            ws::WSANO_DATA => "Valid name, no data record of requested type",
            _ => return None,
        })
    }
}

/// wsocket.c's `socket_gaistrerror`: Winsock's resolver answers `WSA*` codes
/// (ws2tcpip.h names them `EAI_*`), worded as pierror.h does; other codes read as
/// `wstrerror` has them.
pub(crate) fn resolve_error(code: c::c_int) -> crate::Error {
    let message = match code {
        ws::WSATRY_AGAIN => "temporary failure in name resolution",
        ws::WSAEINVAL => "invalid value for ai_flags",
        ws::WSANO_RECOVERY => "non-recoverable failure in name resolution",
        ws::WSAEAFNOSUPPORT => "ai_family not supported",
        ws::WSA_NOT_ENOUGH_MEMORY => "memory allocation failure",
        ws::WSAHOST_NOT_FOUND => "host or service not provided, or not known",
        ws::WSATYPE_NOT_FOUND => "service not supported for socket type",
        ws::WSAESOCKTNOSUPPORT => "ai_socktype not supported",
        _ => return crate::Error::Os(io::Error::from_raw_os_error(code)),
    };
    crate::Error::Resolve(message.to_owned())
}

/// Whether a number can name a socket: everything but `INVALID_SOCKET`.
pub(crate) fn is_valid(fd: RawSocket) -> bool {
    fd != INVALID_SOCKET
}

/// A new non-blocking socket; socket2 makes it non-inheritable.
pub(crate) fn open_socket(domain: Domain, kind: Type) -> io::Result<Socket> {
    let socket = Socket::new(domain, kind, None)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// Prepares a socket a script handed over (`setfd`): our blocking calls rely on
/// `WSAEWOULDBLOCK`, so it must not block.
pub(crate) fn prepare_adopted(socket: &Socket) {
    let _ = socket.set_nonblocking(true);
}

/// Flags for every `send`: Windows raises no signal on a closed peer.
pub(crate) const SEND_FLAGS: c::c_int = 0;

/// Closes a socket, ignoring errors: `setfd` lets scripts hand us numbers that
/// another object may also close.
pub(crate) fn close(fd: RawSocket) {
    // SAFETY: closing a handle we were given to own; a stale one fails with WSAENOTSOCK.
    unsafe { ws::closesocket(handle(fd)) };
}

/// Device files (serial lines) are never opened on Windows: LuaSocket has no
/// `socket.serial` there.
pub(crate) fn read_device(_fd: RawSocket, _buffer: &mut [u8]) -> io::Result<usize> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// See [`read_device`].
pub(crate) fn write_device(_fd: RawSocket, _data: &[u8]) -> io::Result<usize> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Winsock has no `TCP_INQ`: the driver reads until `WSAEWOULDBLOCK`.
pub(crate) fn enable_inq(_socket: &Socket) -> bool {
    false
}

/// A plain `recv`; the queue length is never known here.
pub(crate) fn recv_with_inq(
    socket: &Socket,
    buffer: &mut [u8],
) -> io::Result<(usize, Option<i32>)> {
    socket
        .recv(crate::socket::as_uninit(buffer))
        .map(|count| (count, None))
}

/// Waits with `WSAPoll` until `fd` is readable (`read`) or writable, for at most
/// `budget` (`None`: forever). True when ready, false on timeout.
pub(crate) fn wait_one(fd: RawSocket, read: bool, budget: Option<Duration>) -> io::Result<bool> {
    let mut entry = poll_entry(fd, if read { POLL_IN } else { POLL_OUT });
    // SAFETY: one valid WSAPOLLFD entry, count 1.
    let ready = unsafe { ws::WSAPoll(&mut entry, 1, poll_millis(budget)) };
    if ready < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ready > 0)
    }
}

/// An entry of a `select` wait list.
pub(crate) type PollFd = ws::WSAPOLLFD;
/// The event bits of a [`PollFd`].
pub(crate) type PollEvents = i16;

// WSAPoll refuses requests for anything but normal and priority data.
pub(crate) const POLL_IN: PollEvents = ws::POLLRDNORM;
pub(crate) const POLL_OUT: PollEvents = ws::POLLWRNORM;
pub(crate) const POLL_INVALID: PollEvents = ws::POLLNVAL;

/// What `select` reports in its read set: data, a pending connection, a hang-up
/// or an error.
pub(crate) const READ_EVENTS: PollEvents =
    ws::POLLRDNORM | ws::POLLRDBAND | ws::POLLHUP | ws::POLLERR;

/// What `select` reports in its write set.
pub(crate) const WRITE_EVENTS: PollEvents = ws::POLLWRNORM | ws::POLLERR;

/// The socket an entry watches.
pub(crate) fn entry_fd(entry: &PollFd) -> RawSocket {
    entry.fd as RawSocket
}

pub(crate) fn poll_entry(fd: RawSocket, events: PollEvents) -> PollFd {
    ws::WSAPOLLFD {
        fd: handle(fd),
        events,
        revents: 0,
    }
}

/// One wait on a list with `WSAPoll`. An empty list sleeps for the timeout, as
/// LuaSocket's `socket_select` does (`WSAPoll` refuses an empty array).
pub(crate) fn poll(watched: &mut [PollFd], timeout: Option<Duration>) -> io::Result<usize> {
    if watched.is_empty() {
        match timeout {
            Some(wait) => std::thread::sleep(wait),
            None => loop {
                std::thread::park();
            },
        }
        return Ok(0);
    }
    let count =
        u32::try_from(watched.len()).map_err(|_| io::Error::from_raw_os_error(ws::WSAEINVAL))?;
    // SAFETY: `watched` is a valid, writable array of `count` entries.
    let ready = unsafe { ws::WSAPoll(watched.as_mut_ptr(), count, poll_millis(timeout)) };
    if ready < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ready as usize)
    }
}

/// `select` takes any number of sockets: `WSAPoll` has no `FD_SETSIZE` (64 in
/// Winsock's headers) and Windows no per-process socket limit to report, so
/// `socket._SETSIZE` is the largest count a `WSAPoll` call takes.
pub(crate) fn max_descriptors() -> usize {
    i32::MAX as usize
}

/// Windows' `AF_UNIX` is not offered, as LuaSocket has no `socket.unix` there.
pub(crate) fn unix_address(_path: &[u8]) -> io::Result<socket2::SockAddr> {
    Err(io::Error::from_raw_os_error(ws::WSAEAFNOSUPPORT))
}

/// No Unix-domain address is ever made here (see [`unix_address`]).
pub(crate) fn unix_path(_address: &socket2::SockAddr) -> Vec<u8> {
    Vec::new()
}

/// Unix-domain paths are refused before their length matters.
pub(crate) fn unix_path_capacity() -> usize {
    usize::MAX
}

/// The value of `SO_LINGER`.
pub(crate) type Linger = ws::LINGER;
/// An IPv4 address as options take it.
pub(crate) type InAddr = ws::IN_ADDR;
/// The value of `IP_ADD_MEMBERSHIP`/`IP_DROP_MEMBERSHIP`.
pub(crate) type IpMreq = ws::IP_MREQ;
/// The value of the IPv6 membership options.
pub(crate) type Ipv6Mreq = ws::IPV6_MREQ;
/// Only sizes the buffer `bindtodevice` would read, which raises here first.
pub(crate) const IFNAMSIZ: usize = 16;

/// Winsock's `linger` holds 16-bit seconds; longer timeouts are capped.
pub(crate) fn linger(on: bool, timeout: c::c_int) -> Linger {
    ws::LINGER {
        l_onoff: u16::from(on),
        l_linger: u16::try_from(timeout.max(0)).unwrap_or(u16::MAX),
    }
}

pub(crate) fn linger_parts(value: &Linger) -> (bool, c::c_int) {
    (value.l_onoff != 0, c::c_int::from(value.l_linger))
}

pub(crate) fn in_addr(address: std::net::Ipv4Addr) -> InAddr {
    ws::IN_ADDR {
        S_un: ws::IN_ADDR_0 {
            S_addr: u32::from(address).to_be(),
        },
    }
}

pub(crate) fn ipv4_of(address: &InAddr) -> std::net::Ipv4Addr {
    // SAFETY: every view of the union is the same four plain bytes.
    std::net::Ipv4Addr::from(u32::from_be(unsafe { address.S_un.S_addr }))
}

pub(crate) fn ip_mreq(group: std::net::Ipv4Addr, interface: std::net::Ipv4Addr) -> IpMreq {
    ws::IP_MREQ {
        imr_multiaddr: in_addr(group),
        imr_interface: in_addr(interface),
    }
}

pub(crate) fn ipv6_mreq(group: std::net::Ipv6Addr, interface: u32) -> Ipv6Mreq {
    ws::IPV6_MREQ {
        ipv6mr_multiaddr: ws::IN6_ADDR {
            u: ws::IN6_ADDR_0 {
                Byte: group.octets(),
            },
        },
        ipv6mr_interface: interface,
    }
}

/// `getsockopt`; false on failure.
///
/// # Safety
///
/// `value` must be writable for `*length` bytes.
pub(crate) unsafe fn getsockopt(
    fd: RawSocket,
    level: c::c_int,
    name: c::c_int,
    value: *mut c::c_void,
    length: &mut c::socklen_t,
) -> bool {
    // SAFETY: forwarded to our caller.
    unsafe { ws::getsockopt(handle(fd), level, name, value.cast(), length) == 0 }
}

/// `setsockopt`; false on failure.
///
/// # Safety
///
/// `value` must be readable for `length` bytes.
pub(crate) unsafe fn setsockopt(
    fd: RawSocket,
    level: c::c_int,
    name: c::c_int,
    value: *const c::c_void,
    length: c::socklen_t,
) -> bool {
    // SAFETY: forwarded to our caller.
    unsafe { ws::setsockopt(handle(fd), level, name, value.cast(), length) == 0 }
}

/// The raw handle of a socket2 socket.
pub(crate) fn raw_of(socket: &Socket) -> RawSocket {
    socket.as_raw_socket()
}

/// Takes ownership of a raw socket handle.
///
/// # Safety
///
/// `fd` must not be closed by anyone else while the socket owns it.
pub(crate) unsafe fn socket_from_raw(fd: RawSocket) -> Socket {
    // SAFETY: forwarded to our caller.
    unsafe { Socket::from_raw_socket(fd) }
}

/// Gives a socket's handle away without closing it.
pub(crate) fn into_raw(socket: Socket) -> RawSocket {
    socket.into_raw_socket()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linger_fits_sixteen_bits() {
        assert_eq!(linger_parts(&linger(true, 70_000)), (true, 65_535));
        assert_eq!(linger_parts(&linger(false, -1)), (false, 0));
    }
}
