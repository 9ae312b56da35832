//! The `setsockopt` level and name of each LuaSocket option on this system.
//!
//! LuaSocket compiles an option in only where the system's headers define it
//! (`#ifdef TCP_KEEPIDLE` and so on), so elsewhere the option is unknown to it: we
//! answer `None` and the lookup reports "unsupported option", as LuaSocket does.
//! `bindtodevice` is the exception: LuaSocket always lists it and raises
//! "SO_BINDTODEVICE is not supported on this operating system" when called where
//! it is missing (see `options::get`/`set`).

use libc::c_int;

use crate::options::SocketOption;

/// `None` where this system's headers lack the option.
pub(crate) fn option_name(option: SocketOption) -> Option<(c_int, c_int)> {
    use libc::{IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, SOL_SOCKET};
    Some(match option {
        SocketOption::BindToDevice => (SOL_SOCKET, platform::SO_BINDTODEVICE?),
        SocketOption::KeepAlive => (SOL_SOCKET, libc::SO_KEEPALIVE),
        SocketOption::Linger => (SOL_SOCKET, libc::SO_LINGER),
        SocketOption::ReuseAddr => (SOL_SOCKET, libc::SO_REUSEADDR),
        SocketOption::ReusePort => (SOL_SOCKET, libc::SO_REUSEPORT),
        SocketOption::TcpNoDelay => (IPPROTO_TCP, libc::TCP_NODELAY),
        SocketOption::TcpKeepIdle => (IPPROTO_TCP, platform::TCP_KEEPIDLE?),
        SocketOption::TcpKeepCount => (IPPROTO_TCP, platform::TCP_KEEPCNT?),
        SocketOption::TcpKeepInterval => (IPPROTO_TCP, platform::TCP_KEEPINTVL?),
        SocketOption::TcpDeferAccept => (IPPROTO_TCP, platform::TCP_DEFER_ACCEPT?),
        SocketOption::TcpFastOpen => (IPPROTO_TCP, platform::TCP_FASTOPEN?),
        SocketOption::TcpFastOpenConnect => (IPPROTO_TCP, platform::TCP_FASTOPEN_CONNECT?),
        SocketOption::Ipv6V6Only => (IPPROTO_IPV6, libc::IPV6_V6ONLY),
        SocketOption::RecvBufferSize => (SOL_SOCKET, libc::SO_RCVBUF),
        SocketOption::SendBufferSize => (SOL_SOCKET, libc::SO_SNDBUF),
        SocketOption::Error => (SOL_SOCKET, libc::SO_ERROR),
        SocketOption::DontRoute => (SOL_SOCKET, libc::SO_DONTROUTE),
        SocketOption::Broadcast => (SOL_SOCKET, libc::SO_BROADCAST),
        SocketOption::IpMulticastIf => (IPPROTO_IP, libc::IP_MULTICAST_IF),
        SocketOption::IpMulticastTtl => (IPPROTO_IP, libc::IP_MULTICAST_TTL),
        SocketOption::IpMulticastLoop => (IPPROTO_IP, libc::IP_MULTICAST_LOOP),
        SocketOption::IpAddMembership => (IPPROTO_IP, libc::IP_ADD_MEMBERSHIP),
        SocketOption::IpDropMembership => (IPPROTO_IP, libc::IP_DROP_MEMBERSHIP),
        SocketOption::Ipv6UnicastHops => (IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS),
        SocketOption::Ipv6MulticastHops => (IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS),
        SocketOption::Ipv6MulticastLoop => (IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP),
        SocketOption::Ipv6AddMembership => (IPPROTO_IPV6, platform::IPV6_ADD_MEMBERSHIP),
        SocketOption::Ipv6DropMembership => (IPPROTO_IPV6, platform::IPV6_DROP_MEMBERSHIP),
    })
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod platform {
    use libc::c_int;

    pub(super) const SO_BINDTODEVICE: Option<c_int> = Some(libc::SO_BINDTODEVICE);
    pub(super) const TCP_KEEPIDLE: Option<c_int> = Some(libc::TCP_KEEPIDLE);
    pub(super) const TCP_KEEPCNT: Option<c_int> = Some(libc::TCP_KEEPCNT);
    pub(super) const TCP_KEEPINTVL: Option<c_int> = Some(libc::TCP_KEEPINTVL);
    pub(super) const TCP_DEFER_ACCEPT: Option<c_int> = Some(libc::TCP_DEFER_ACCEPT);
    pub(super) const TCP_FASTOPEN: Option<c_int> = Some(libc::TCP_FASTOPEN);
    pub(super) const TCP_FASTOPEN_CONNECT: Option<c_int> = Some(libc::TCP_FASTOPEN_CONNECT);
    pub(super) const IPV6_ADD_MEMBERSHIP: c_int = libc::IPV6_ADD_MEMBERSHIP;
    pub(super) const IPV6_DROP_MEMBERSHIP: c_int = libc::IPV6_DROP_MEMBERSHIP;
}

/// macOS: the idle time is `TCP_KEEPALIVE` there, which LuaSocket does not map,
/// so `tcp-keepidle` is unknown to it.
#[cfg(target_vendor = "apple")]
mod platform {
    use libc::c_int;

    pub(super) const SO_BINDTODEVICE: Option<c_int> = None;
    pub(super) const TCP_KEEPIDLE: Option<c_int> = None;
    pub(super) const TCP_KEEPCNT: Option<c_int> = Some(libc::TCP_KEEPCNT);
    pub(super) const TCP_KEEPINTVL: Option<c_int> = Some(libc::TCP_KEEPINTVL);
    pub(super) const TCP_DEFER_ACCEPT: Option<c_int> = None;
    pub(super) const TCP_FASTOPEN: Option<c_int> = Some(libc::TCP_FASTOPEN);
    pub(super) const TCP_FASTOPEN_CONNECT: Option<c_int> = None;
    // LuaSocket's usocket.h maps the RFC 3493 names to these where they are missing.
    pub(super) const IPV6_ADD_MEMBERSHIP: c_int = libc::IPV6_JOIN_GROUP;
    pub(super) const IPV6_DROP_MEMBERSHIP: c_int = libc::IPV6_LEAVE_GROUP;
}

/// FreeBSD: deferred accepts are accept filters there, not a TCP option.
#[cfg(target_os = "freebsd")]
mod platform {
    use libc::c_int;

    pub(super) const SO_BINDTODEVICE: Option<c_int> = None;
    pub(super) const TCP_KEEPIDLE: Option<c_int> = Some(libc::TCP_KEEPIDLE);
    pub(super) const TCP_KEEPCNT: Option<c_int> = Some(libc::TCP_KEEPCNT);
    pub(super) const TCP_KEEPINTVL: Option<c_int> = Some(libc::TCP_KEEPINTVL);
    pub(super) const TCP_DEFER_ACCEPT: Option<c_int> = None;
    pub(super) const TCP_FASTOPEN: Option<c_int> = Some(libc::TCP_FASTOPEN);
    pub(super) const TCP_FASTOPEN_CONNECT: Option<c_int> = None;
    pub(super) const IPV6_ADD_MEMBERSHIP: c_int = libc::IPV6_JOIN_GROUP;
    pub(super) const IPV6_DROP_MEMBERSHIP: c_int = libc::IPV6_LEAVE_GROUP;
}

/// Other Unix systems: the options POSIX and RFC 3493 define, nothing more.
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_vendor = "apple",
    target_os = "freebsd"
)))]
mod platform {
    use libc::c_int;

    pub(super) const SO_BINDTODEVICE: Option<c_int> = None;
    pub(super) const TCP_KEEPIDLE: Option<c_int> = None;
    pub(super) const TCP_KEEPCNT: Option<c_int> = None;
    pub(super) const TCP_KEEPINTVL: Option<c_int> = None;
    pub(super) const TCP_DEFER_ACCEPT: Option<c_int> = None;
    pub(super) const TCP_FASTOPEN: Option<c_int> = None;
    pub(super) const TCP_FASTOPEN_CONNECT: Option<c_int> = None;
    pub(super) const IPV6_ADD_MEMBERSHIP: c_int = libc::IPV6_JOIN_GROUP;
    pub(super) const IPV6_DROP_MEMBERSHIP: c_int = libc::IPV6_LEAVE_GROUP;
}
