//! The socket options LuaSocket knows, by their LuaSocket names.

use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::RawFd;

use crate::{Error, Result};

/// A value given to or read from `setoption`/`getoption`.
#[derive(Debug, Clone, PartialEq)]
pub enum OptionValue {
    /// Boolean options (`tcp-nodelay`, `reuseaddr`, ...).
    Bool(bool),
    /// Numeric options (`tcp-keepidle`, `recv-buffer-size`, ...).
    Int(i32),
    /// `linger`: `{on = bool, timeout = seconds}`.
    Linger { on: bool, timeout: i32 },
    /// `ip-add-membership`/`ip-drop-membership`: `{multiaddr = ..., interface = ...}`.
    Membership4 {
        multiaddr: Ipv4Addr,
        interface: Ipv4Addr,
    },
    /// `ipv6-add-membership`/`ipv6-drop-membership`: `{multiaddr = ..., interface = index}`.
    Membership6 { multiaddr: Ipv6Addr, interface: u32 },
    /// `ip-multicast-if`: an IPv4 address.
    Address(Ipv4Addr),
    /// `error`: the pending socket error as a message, or none.
    Error(Option<String>),
}

/// How an option is stored by the kernel, and so which [`OptionValue`] it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum OptionKind {
    Bool,
    Int,
    Linger,
    Membership4,
    Membership6,
    Address,
    Error,
}

/// One LuaSocket option: its name and where the kernel keeps it.
#[derive(Debug, Clone, Copy)]
pub struct SocketOption {
    /// LuaSocket's name, e.g. `"tcp-nodelay"`.
    pub name: &'static str,
    /// The value it takes.
    pub kind: OptionKind,
    level: i32,
    option: i32,
    settable: bool,
    gettable: bool,
}

const fn opt(
    name: &'static str,
    kind: OptionKind,
    level: i32,
    option: i32,
    settable: bool,
    gettable: bool,
) -> SocketOption {
    SocketOption {
        name,
        kind,
        level,
        option,
        settable,
        gettable,
    }
}

use OptionKind as K;

/// TCP options (LuaSocket 3.x `tcp.c`).
pub const TCP_OPTIONS: &[SocketOption] = &[
    opt(
        "keepalive",
        K::Bool,
        libc::SOL_SOCKET,
        libc::SO_KEEPALIVE,
        true,
        true,
    ),
    opt(
        "reuseaddr",
        K::Bool,
        libc::SOL_SOCKET,
        libc::SO_REUSEADDR,
        true,
        true,
    ),
    opt(
        "reuseport",
        K::Bool,
        libc::SOL_SOCKET,
        libc::SO_REUSEPORT,
        true,
        true,
    ),
    opt(
        "tcp-nodelay",
        K::Bool,
        libc::IPPROTO_TCP,
        libc::TCP_NODELAY,
        true,
        true,
    ),
    opt(
        "tcp-keepidle",
        K::Int,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPIDLE,
        true,
        true,
    ),
    opt(
        "tcp-keepcnt",
        K::Int,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPCNT,
        true,
        true,
    ),
    opt(
        "tcp-keepintvl",
        K::Int,
        libc::IPPROTO_TCP,
        libc::TCP_KEEPINTVL,
        true,
        true,
    ),
    opt(
        "tcp-defer-accept",
        K::Int,
        libc::IPPROTO_TCP,
        libc::TCP_DEFER_ACCEPT,
        true,
        true,
    ),
    opt(
        "tcp-fastopen",
        K::Int,
        libc::IPPROTO_TCP,
        libc::TCP_FASTOPEN,
        true,
        true,
    ),
    opt(
        "tcp-fastopen-connect",
        K::Bool,
        libc::IPPROTO_TCP,
        libc::TCP_FASTOPEN_CONNECT,
        true,
        true,
    ),
    opt(
        "ipv6-v6only",
        K::Bool,
        libc::IPPROTO_IPV6,
        libc::IPV6_V6ONLY,
        true,
        true,
    ),
    opt(
        "linger",
        K::Linger,
        libc::SOL_SOCKET,
        libc::SO_LINGER,
        true,
        true,
    ),
    opt(
        "recv-buffer-size",
        K::Int,
        libc::SOL_SOCKET,
        libc::SO_RCVBUF,
        true,
        true,
    ),
    opt(
        "send-buffer-size",
        K::Int,
        libc::SOL_SOCKET,
        libc::SO_SNDBUF,
        true,
        true,
    ),
    opt(
        "error",
        K::Error,
        libc::SOL_SOCKET,
        libc::SO_ERROR,
        false,
        true,
    ),
];

/// UDP options (LuaSocket 3.x `udp.c`).
pub const UDP_OPTIONS: &[SocketOption] = &[
    opt(
        "dontroute",
        K::Bool,
        libc::SOL_SOCKET,
        libc::SO_DONTROUTE,
        true,
        true,
    ),
    opt(
        "broadcast",
        K::Bool,
        libc::SOL_SOCKET,
        libc::SO_BROADCAST,
        true,
        true,
    ),
    opt(
        "reuseaddr",
        K::Bool,
        libc::SOL_SOCKET,
        libc::SO_REUSEADDR,
        true,
        true,
    ),
    opt(
        "reuseport",
        K::Bool,
        libc::SOL_SOCKET,
        libc::SO_REUSEPORT,
        true,
        true,
    ),
    opt(
        "ip-multicast-if",
        K::Address,
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_IF,
        true,
        true,
    ),
    opt(
        "ip-multicast-ttl",
        K::Int,
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_TTL,
        true,
        true,
    ),
    opt(
        "ip-multicast-loop",
        K::Bool,
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_LOOP,
        true,
        true,
    ),
    opt(
        "ip-add-membership",
        K::Membership4,
        libc::IPPROTO_IP,
        libc::IP_ADD_MEMBERSHIP,
        true,
        false,
    ),
    opt(
        "ip-drop-membership",
        K::Membership4,
        libc::IPPROTO_IP,
        libc::IP_DROP_MEMBERSHIP,
        true,
        false,
    ),
    opt(
        "ipv6-unicast-hops",
        K::Int,
        libc::IPPROTO_IPV6,
        libc::IPV6_UNICAST_HOPS,
        true,
        true,
    ),
    opt(
        "ipv6-multicast-hops",
        K::Int,
        libc::IPPROTO_IPV6,
        libc::IPV6_MULTICAST_HOPS,
        true,
        true,
    ),
    opt(
        "ipv6-multicast-loop",
        K::Bool,
        libc::IPPROTO_IPV6,
        libc::IPV6_MULTICAST_LOOP,
        true,
        true,
    ),
    opt(
        "ipv6-add-membership",
        K::Membership6,
        libc::IPPROTO_IPV6,
        libc::IPV6_ADD_MEMBERSHIP,
        true,
        false,
    ),
    opt(
        "ipv6-drop-membership",
        K::Membership6,
        libc::IPPROTO_IPV6,
        libc::IPV6_DROP_MEMBERSHIP,
        true,
        false,
    ),
    opt(
        "ipv6-v6only",
        K::Bool,
        libc::IPPROTO_IPV6,
        libc::IPV6_V6ONLY,
        true,
        true,
    ),
    opt(
        "recv-buffer-size",
        K::Int,
        libc::SOL_SOCKET,
        libc::SO_RCVBUF,
        true,
        true,
    ),
    opt(
        "send-buffer-size",
        K::Int,
        libc::SOL_SOCKET,
        libc::SO_SNDBUF,
        true,
        true,
    ),
    opt(
        "error",
        K::Error,
        libc::SOL_SOCKET,
        libc::SO_ERROR,
        false,
        true,
    ),
];

/// Looks up a settable (`for_set`) or readable option by name.
pub fn find(
    table: &'static [SocketOption],
    name: &str,
    for_set: bool,
) -> Option<&'static SocketOption> {
    table
        .iter()
        .find(|o| o.name == name && if for_set { o.settable } else { o.gettable })
}

fn check(rc: libc::c_int) -> Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Error::from_io(std::io::Error::last_os_error()))
    }
}

fn set_raw<T>(fd: RawFd, option: &SocketOption, value: &T) -> Result<()> {
    // SAFETY: `value` points to a live `T` of exactly the length passed; the kernel
    // only reads it.
    check(unsafe {
        libc::setsockopt(
            fd,
            option.level,
            option.option,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
}

fn get_raw<T>(fd: RawFd, option: &SocketOption, mut value: T) -> Result<T> {
    let mut len = size_of::<T>() as libc::socklen_t;
    // SAFETY: `value` is a live `T`, and `len` tells the kernel its size, so it writes
    // at most that many bytes into it.
    check(unsafe {
        libc::getsockopt(
            fd,
            option.level,
            option.option,
            (&mut value as *mut T).cast(),
            &mut len,
        )
    })?;
    Ok(value)
}

/// Sets `option` on `fd`.
pub fn set(fd: RawFd, option: &SocketOption, value: &OptionValue) -> Result<()> {
    match (option.kind, value) {
        (K::Bool, OptionValue::Bool(on)) => set_raw(fd, option, &libc::c_int::from(*on)),
        (K::Int, OptionValue::Int(n)) => set_raw(fd, option, n),
        (K::Linger, OptionValue::Linger { on, timeout }) => set_raw(
            fd,
            option,
            &libc::linger {
                l_onoff: libc::c_int::from(*on),
                l_linger: *timeout,
            },
        ),
        (
            K::Membership4,
            OptionValue::Membership4 {
                multiaddr,
                interface,
            },
        ) => {
            let request = libc::ip_mreq {
                imr_multiaddr: libc::in_addr {
                    s_addr: u32::from(*multiaddr).to_be(),
                },
                imr_interface: libc::in_addr {
                    s_addr: u32::from(*interface).to_be(),
                },
            };
            set_raw(fd, option, &request)
        }
        (
            K::Membership6,
            OptionValue::Membership6 {
                multiaddr,
                interface,
            },
        ) => {
            let request = libc::ipv6_mreq {
                ipv6mr_multiaddr: libc::in6_addr {
                    s6_addr: multiaddr.octets(),
                },
                ipv6mr_interface: *interface,
            };
            set_raw(fd, option, &request)
        }
        (K::Address, OptionValue::Address(address)) => set_raw(
            fd,
            option,
            &libc::in_addr {
                s_addr: u32::from(*address).to_be(),
            },
        ),
        _ => Err(Error::State("invalid option value")),
    }
}

/// Reads `option` from `fd`.
pub fn get(fd: RawFd, option: &SocketOption) -> Result<OptionValue> {
    match option.kind {
        K::Bool => Ok(OptionValue::Bool(
            get_raw(fd, option, 0 as libc::c_int)? != 0,
        )),
        K::Int => Ok(OptionValue::Int(get_raw(fd, option, 0 as libc::c_int)?)),
        K::Linger => {
            let l = get_raw(
                fd,
                option,
                libc::linger {
                    l_onoff: 0,
                    l_linger: 0,
                },
            )?;
            Ok(OptionValue::Linger {
                on: l.l_onoff != 0,
                timeout: l.l_linger,
            })
        }
        K::Address => {
            let raw = get_raw(fd, option, 0u32)?;
            Ok(OptionValue::Address(Ipv4Addr::from(u32::from_be(raw))))
        }
        K::Error => {
            let code = get_raw(fd, option, 0 as libc::c_int)?;
            let message = (code != 0)
                .then(|| Error::from_io(std::io::Error::from_raw_os_error(code)).to_string());
            Ok(OptionValue::Error(message))
        }
        K::Membership4 | K::Membership6 => Err(Error::State("option is write-only")),
    }
}
