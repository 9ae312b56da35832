//! The `setsockopt` level and name of each LuaSocket option on Windows.
//!
//! As on Unix, an option Winsock's headers lack is unknown to LuaSocket and
//! answered `None` ("unsupported option"); wsocket.h defines `SO_REUSEPORT` as
//! `SO_REUSEADDR`, so `reuseport` sets the address reuse flag; `bindtodevice`
//! raises (see `options::get`/`set`).

use std::ffi::c_int;

use windows_sys::Win32::Networking::WinSock as ws;

use crate::options::SocketOption;

/// `None` where Winsock lacks the option.
pub(crate) fn option_name(option: SocketOption) -> Option<(c_int, c_int)> {
    use ws::{IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, SOL_SOCKET};
    Some(match option {
        SocketOption::BindToDevice => return None,
        SocketOption::KeepAlive => (SOL_SOCKET, ws::SO_KEEPALIVE),
        SocketOption::Linger => (SOL_SOCKET, ws::SO_LINGER),
        SocketOption::ReuseAddr | SocketOption::ReusePort => (SOL_SOCKET, ws::SO_REUSEADDR),
        SocketOption::TcpNoDelay => (IPPROTO_TCP, ws::TCP_NODELAY),
        SocketOption::TcpKeepIdle => (IPPROTO_TCP, ws::TCP_KEEPIDLE),
        SocketOption::TcpKeepCount => (IPPROTO_TCP, ws::TCP_KEEPCNT),
        SocketOption::TcpKeepInterval => (IPPROTO_TCP, ws::TCP_KEEPINTVL),
        SocketOption::TcpDeferAccept | SocketOption::TcpFastOpenConnect => return None,
        SocketOption::TcpFastOpen => (IPPROTO_TCP, ws::TCP_FASTOPEN),
        SocketOption::Ipv6V6Only => (IPPROTO_IPV6, ws::IPV6_V6ONLY),
        SocketOption::RecvBufferSize => (SOL_SOCKET, ws::SO_RCVBUF),
        SocketOption::SendBufferSize => (SOL_SOCKET, ws::SO_SNDBUF),
        SocketOption::Error => (SOL_SOCKET, ws::SO_ERROR),
        SocketOption::DontRoute => (SOL_SOCKET, ws::SO_DONTROUTE),
        SocketOption::Broadcast => (SOL_SOCKET, ws::SO_BROADCAST),
        SocketOption::IpMulticastIf => (IPPROTO_IP, ws::IP_MULTICAST_IF),
        SocketOption::IpMulticastTtl => (IPPROTO_IP, ws::IP_MULTICAST_TTL),
        SocketOption::IpMulticastLoop => (IPPROTO_IP, ws::IP_MULTICAST_LOOP),
        SocketOption::IpAddMembership => (IPPROTO_IP, ws::IP_ADD_MEMBERSHIP),
        SocketOption::IpDropMembership => (IPPROTO_IP, ws::IP_DROP_MEMBERSHIP),
        SocketOption::Ipv6UnicastHops => (IPPROTO_IPV6, ws::IPV6_UNICAST_HOPS),
        SocketOption::Ipv6MulticastHops => (IPPROTO_IPV6, ws::IPV6_MULTICAST_HOPS),
        SocketOption::Ipv6MulticastLoop => (IPPROTO_IPV6, ws::IPV6_MULTICAST_LOOP),
        SocketOption::Ipv6AddMembership => (IPPROTO_IPV6, ws::IPV6_ADD_MEMBERSHIP),
        SocketOption::Ipv6DropMembership => (IPPROTO_IPV6, ws::IPV6_DROP_MEMBERSHIP),
    })
}
