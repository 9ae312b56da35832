//! Unix (Linux, macOS, the BSDs): BSD sockets through libc.
//!
//! What differs between these systems is small and kept in the submodules:
//! option numbers (`options`), `TCP_INQ` drain tracking (`inq`, Linux only) and the
//! host database (`hostdb`: re-entrant calls, or one lock around the classic ones).

mod hostdb;
mod inq;
mod options;

use super::poll_millis;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

pub(crate) use hostdb::lookup_host;
pub(crate) use inq::{enable_inq, recv_with_inq};
pub(crate) use options::option_name;

/// The OS handle of a socket, as scripts see it through `getfd`/`setfd`.
pub type RawSocket = RawFd;

/// The handle of an object without one (`getfd` answers it).
pub const INVALID_SOCKET: RawSocket = -1;

/// The C names the portable code uses (types, constants and resolver calls), which
/// the Windows layer provides under the same names.
pub(crate) mod c {
    pub(crate) use libc::*;
}

/// Whether a number can name a socket: `select` skips negative ones, as `poll` does.
pub(crate) fn is_valid(fd: RawSocket) -> bool {
    fd >= 0
}

/// Error numbers the crate tests for by name.
pub(crate) mod code {
    pub(crate) const WOULD_BLOCK: i32 = libc::EAGAIN;
    pub(crate) const IN_PROGRESS: i32 = libc::EINPROGRESS;
    pub(crate) const INTERRUPTED: i32 = libc::EINTR;
    pub(crate) const NOT_CONNECTED: i32 = libc::ENOTCONN;
    pub(crate) const CONNECTION_ABORTED: i32 = libc::ECONNABORTED;
    pub(crate) const BAD_DESCRIPTOR: i32 = libc::EBADF;
    pub(crate) const FAMILY_NOT_SUPPORTED: i32 = libc::EAFNOSUPPORT;
    pub(crate) const IO: i32 = libc::EIO;

    /// Errors LuaSocket reports as `"timeout"` (usocket.c).
    pub(crate) fn is_timeout(code: i32) -> bool {
        code == libc::ETIMEDOUT || code == libc::EAGAIN
    }

    /// Errors LuaSocket reports as `"closed"`.
    pub(crate) fn is_closed(code: i32) -> bool {
        matches!(code, libc::ECONNRESET | libc::ECONNABORTED | libc::EPIPE)
    }

    /// A datagram receive error that only reports an earlier send's failure; Unix
    /// has none (a connected socket's ECONNREFUSED is an answer to report).
    pub(crate) fn is_datagram_reset(_code: i32) -> bool {
        false
    }

    /// LuaSocket's wording for the errno values it names itself (usocket.c's
    /// `socket_strerror`); `None` for the rest, which read as `strerror` does.
    pub(crate) fn luasocket_message(code: i32) -> Option<&'static str> {
        Some(match code {
            libc::EADDRINUSE => "address already in use",
            libc::EISCONN => "already connected",
            libc::EACCES => "permission denied",
            libc::ECONNREFUSED => "connection refused",
            libc::ECONNABORTED | libc::ECONNRESET | libc::EPIPE => "closed",
            libc::ETIMEDOUT => "timeout",
            libc::EADDRNOTAVAIL => "address not available",
            libc::EAFNOSUPPORT => "address family not supported",
            libc::EHOSTUNREACH => "host is unreachable",
            libc::ENETUNREACH => "network is unreachable",
            libc::EINVAL => "invalid argument",
            _ => return None,
        })
    }
}

/// LuaSocket's message for a `getaddrinfo`/`getnameinfo` code (pierror.h), else
/// the C library's text; `EAI_SYSTEM` reads `errno`.
pub(crate) fn resolve_error(code: libc::c_int) -> crate::Error {
    let message = match code {
        libc::EAI_AGAIN => "temporary failure in name resolution",
        libc::EAI_BADFLAGS => "invalid value for ai_flags",
        libc::EAI_FAIL => "non-recoverable failure in name resolution",
        libc::EAI_FAMILY => "ai_family not supported",
        libc::EAI_MEMORY => "memory allocation failure",
        libc::EAI_NONAME => "host or service not provided, or not known",
        libc::EAI_OVERFLOW => "argument buffer overflow",
        libc::EAI_SERVICE => "service not supported for socket type",
        libc::EAI_SOCKTYPE => "ai_socktype not supported",
        libc::EAI_SYSTEM => return crate::Error::Os(io::Error::last_os_error()),
        _ => {
            // SAFETY: gai_strerror accepts any code and returns a static string.
            let text = unsafe { std::ffi::CStr::from_ptr(libc::gai_strerror(code)) };
            return crate::Error::Resolve(text.to_string_lossy().into_owned());
        }
    };
    crate::Error::Resolve(message.to_owned())
}

/// A new non-blocking, close-on-exec socket. Where the kernel takes both flags at
/// creation, that is one syscall; elsewhere (macOS) socket2 sets close-on-exec (and
/// `SO_NOSIGPIPE`) after creation and we clear the blocking mode.
pub(crate) fn open_socket(domain: Domain, kind: Type) -> io::Result<Socket> {
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ))]
    {
        Socket::new(domain, kind.nonblocking(), None)
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    )))]
    {
        let socket = Socket::new(domain, kind, None)?;
        socket.set_nonblocking(true)?;
        Ok(socket)
    }
}

/// Prepares a descriptor a script handed over (`setfd`): our blocking calls rely on
/// `EAGAIN`, so it must not block; on Apple systems, which lack `MSG_NOSIGNAL`'s
/// per-call guarantee, writing to a closed peer must not raise `SIGPIPE` either.
pub(crate) fn prepare_adopted(socket: &Socket) {
    let _ = socket.set_nonblocking(true);
    #[cfg(target_vendor = "apple")]
    let _ = socket.set_nosigpipe(true);
}

/// Flags for every `send`: no `SIGPIPE` when the peer has gone. Apple systems get
/// that from `SO_NOSIGPIPE`, set on every socket we create or adopt.
#[cfg(not(target_vendor = "apple"))]
pub(crate) const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(target_vendor = "apple")]
pub(crate) const SEND_FLAGS: libc::c_int = 0;

/// Closes a descriptor, ignoring errors: `setfd` lets scripts hand us numbers that
/// another object may also close.
pub(crate) fn close(fd: RawSocket) {
    // SAFETY: closing a number we were given to own; a stale number fails with EBADF.
    unsafe { libc::close(fd) };
}

/// One `read(2)` from a device file (serial lines, which socket calls refuse).
pub(crate) fn read_device(fd: RawSocket, buffer: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the buffer is live and writable for its whole length.
    let count = unsafe { libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len()) };
    usize::try_from(count).map_err(|_| io::Error::last_os_error())
}

/// One `write(2)` to a device file.
pub(crate) fn write_device(fd: RawSocket, data: &[u8]) -> io::Result<usize> {
    // SAFETY: the data is live and readable for its whole length.
    let count = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    usize::try_from(count).map_err(|_| io::Error::last_os_error())
}

/// Waits with `poll(2)` until `fd` is readable (`read`) or writable, for at most
/// `budget` (`None`: forever). True when ready, false on timeout.
pub(crate) fn wait_one(fd: RawSocket, read: bool, budget: Option<Duration>) -> io::Result<bool> {
    let mut entry = libc::pollfd {
        fd,
        events: if read { libc::POLLIN } else { libc::POLLOUT },
        revents: 0,
    };
    // SAFETY: one valid pollfd entry, count 1.
    let ready = unsafe { libc::poll(&mut entry, 1, poll_millis(budget)) };
    if ready < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ready > 0)
    }
}

/// An entry of a `select` wait list.
pub(crate) type PollFd = libc::pollfd;
/// The event bits of a [`PollFd`].
pub(crate) type PollEvents = libc::c_short;

pub(crate) const POLL_IN: PollEvents = libc::POLLIN;
pub(crate) const POLL_OUT: PollEvents = libc::POLLOUT;
pub(crate) const POLL_INVALID: PollEvents = libc::POLLNVAL;

/// The readiness conditions `select(2)` reports in its read set (Linux's
/// `POLLIN_SET`): a hang-up or error is readable so the caller learns of it.
pub(crate) const READ_EVENTS: PollEvents =
    libc::POLLIN | libc::POLLRDNORM | libc::POLLRDBAND | libc::POLLHUP | libc::POLLERR;

/// The conditions `select(2)` reports in its write set (Linux's `POLLOUT_SET`).
pub(crate) const WRITE_EVENTS: PollEvents =
    libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND | libc::POLLERR;

/// The descriptor an entry watches.
pub(crate) fn entry_fd(entry: &PollFd) -> RawSocket {
    entry.fd
}

pub(crate) fn poll_entry(fd: RawSocket, events: PollEvents) -> PollFd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// One wait on a list: `ppoll(2)` where there is one (nanosecond timeout, no
/// millisecond rounding or overflow), else `poll(2)` rounded up to milliseconds.
pub(crate) fn poll(watched: &mut [PollFd], timeout: Option<Duration>) -> io::Result<usize> {
    let count = watched.len() as libc::nfds_t;
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    let ready = {
        let timespec = timeout.and_then(|wait| {
            Some(libc::timespec {
                tv_sec: libc::time_t::try_from(wait.as_secs()).ok()?,
                // Below 10^9, so it fits any `c_long`.
                tv_nsec: wait.subsec_nanos() as libc::c_long,
            })
        });
        let timespec_ptr = timespec
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `watched` is a valid, writable array of `count` pollfds; the timespec
        // pointer is null or points at `timespec`, alive until the call returns; a null
        // signal mask leaves the mask unchanged.
        unsafe { libc::ppoll(watched.as_mut_ptr(), count, timespec_ptr, std::ptr::null()) }
    };
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    // SAFETY: `watched` is a valid, writable array of `count` pollfds.
    let ready = unsafe { libc::poll(watched.as_mut_ptr(), count, poll_millis(timeout)) };
    if ready < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ready as usize)
    }
}

/// The largest number of descriptors this process can ever have open: the hard
/// `RLIMIT_NOFILE` limit (the soft limit can be raised up to it), capped to
/// `i32::MAX` when unlimited.
pub(crate) fn max_descriptors() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable `rlimit` for the duration of the call.
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    let hard = if status == 0 {
        limit.rlim_max
    } else {
        libc::FD_SETSIZE as libc::rlim_t
    };
    usize::try_from(hard.min(i32::MAX as libc::rlim_t)).unwrap_or(i32::MAX as usize)
}

/// The size of `sun_path` (108 on Linux, 104 on macOS and the BSDs): LuaSocket
/// refuses paths that do not fit with their terminating NUL.
pub(crate) fn unix_path_capacity() -> usize {
    // SAFETY: sockaddr_un is plain data for which all-zero is valid.
    let address: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    address.sun_path.len()
}

/// The address of a Unix-domain path (see `addr::unix_address`).
pub(crate) fn unix_address(path: &[u8]) -> io::Result<socket2::SockAddr> {
    use std::os::unix::ffi::OsStrExt;
    socket2::SockAddr::unix(std::ffi::OsStr::from_bytes(path))
}

/// The path of a Unix-domain address, or an abstract name with its leading NUL.
pub(crate) fn unix_path(address: &socket2::SockAddr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    if let Some(path) = address.as_pathname() {
        return path.as_os_str().as_bytes().to_vec();
    }
    match address.as_abstract_namespace() {
        Some(name) => [&[0u8][..], name].concat(),
        None => Vec::new(),
    }
}

/// The value of `SO_LINGER`.
pub(crate) type Linger = libc::linger;
/// An IPv4 address as options take it.
pub(crate) type InAddr = libc::in_addr;
/// The value of `IP_ADD_MEMBERSHIP`/`IP_DROP_MEMBERSHIP`.
pub(crate) type IpMreq = libc::ip_mreq;
/// The value of the IPv6 membership options.
pub(crate) type Ipv6Mreq = libc::ipv6_mreq;
/// The longest interface name `SO_BINDTODEVICE` takes, without its NUL.
pub(crate) const IFNAMSIZ: usize = libc::IFNAMSIZ;

pub(crate) fn linger(on: bool, timeout: libc::c_int) -> Linger {
    libc::linger {
        l_onoff: libc::c_int::from(on),
        l_linger: timeout,
    }
}

pub(crate) fn linger_parts(value: &Linger) -> (bool, libc::c_int) {
    (value.l_onoff != 0, value.l_linger)
}

pub(crate) fn in_addr(address: std::net::Ipv4Addr) -> InAddr {
    libc::in_addr {
        s_addr: u32::from(address).to_be(),
    }
}

pub(crate) fn ipv4_of(address: &InAddr) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(u32::from_be(address.s_addr))
}

pub(crate) fn ip_mreq(group: std::net::Ipv4Addr, interface: std::net::Ipv4Addr) -> IpMreq {
    libc::ip_mreq {
        imr_multiaddr: in_addr(group),
        imr_interface: in_addr(interface),
    }
}

pub(crate) fn ipv6_mreq(group: std::net::Ipv6Addr, interface: u32) -> Ipv6Mreq {
    libc::ipv6_mreq {
        ipv6mr_multiaddr: libc::in6_addr {
            s6_addr: group.octets(),
        },
        ipv6mr_interface: interface,
    }
}

/// `getsockopt(2)`; false on failure.
///
/// # Safety
///
/// `value` must be writable for `*length` bytes.
pub(crate) unsafe fn getsockopt(
    fd: RawSocket,
    level: libc::c_int,
    name: libc::c_int,
    value: *mut libc::c_void,
    length: &mut libc::socklen_t,
) -> bool {
    // SAFETY: forwarded to our caller.
    unsafe { libc::getsockopt(fd, level, name, value, length) >= 0 }
}

/// `setsockopt(2)`; false on failure.
///
/// # Safety
///
/// `value` must be readable for `length` bytes.
pub(crate) unsafe fn setsockopt(
    fd: RawSocket,
    level: libc::c_int,
    name: libc::c_int,
    value: *const libc::c_void,
    length: libc::socklen_t,
) -> bool {
    // SAFETY: forwarded to our caller.
    unsafe { libc::setsockopt(fd, level, name, value, length) >= 0 }
}

/// The raw number of a socket2 socket.
pub(crate) fn raw_of(socket: &Socket) -> RawSocket {
    socket.as_raw_fd()
}

/// Takes ownership of a raw socket number.
///
/// # Safety
///
/// `fd` must not be closed by anyone else while the socket owns it.
pub(crate) unsafe fn socket_from_raw(fd: RawSocket) -> Socket {
    use std::os::fd::FromRawFd;
    // SAFETY: forwarded to our caller.
    unsafe { Socket::from_raw_fd(fd) }
}

/// Gives a socket's number away without closing it.
pub(crate) fn into_raw(socket: Socket) -> RawSocket {
    use std::os::fd::IntoRawFd;
    socket.into_raw_fd()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_paths_fit_sun_path() {
        let expected = if cfg!(any(target_os = "linux", target_os = "android")) {
            108
        } else {
            104
        };
        assert_eq!(unix_path_capacity(), expected);
    }
}
