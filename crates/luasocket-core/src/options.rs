//! Socket options by their LuaSocket names (`"tcp-nodelay"`, `"linger"`, ...).
//!
//! Each option knows its `setsockopt` level and name and the shape of its value.
//! Which options a class accepts follows LuaSocket 3.x's tables, except that every
//! settable option can also be read back (LuaSocket reads only some of them); the
//! multicast memberships stay write-only because the OS cannot report them.
//! Failures are reported as LuaSocket reports them: `"getsockopt failed"` and
//! `"setsockopt failed"`.

use std::ffi::CStr;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::sys::c::{c_int, c_void, socklen_t};

use crate::addr::SocketKind;
use crate::sys::{self, RawSocket};
use crate::{Error, Result};

/// An option of `getoption`/`setoption`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketOption {
    /// `bindtodevice` (`SO_BINDTODEVICE`), a network interface name.
    BindToDevice,
    /// `keepalive` (`SO_KEEPALIVE`).
    KeepAlive,
    /// `linger` (`SO_LINGER`), `{on = bool, timeout = seconds}`.
    Linger,
    /// `reuseaddr` (`SO_REUSEADDR`).
    ReuseAddr,
    /// `reuseport` (`SO_REUSEPORT`).
    ReusePort,
    /// `tcp-nodelay` (`TCP_NODELAY`).
    TcpNoDelay,
    /// `tcp-keepidle` (`TCP_KEEPIDLE`).
    TcpKeepIdle,
    /// `tcp-keepcnt` (`TCP_KEEPCNT`).
    TcpKeepCount,
    /// `tcp-keepintvl` (`TCP_KEEPINTVL`).
    TcpKeepInterval,
    /// `tcp-defer-accept` (`TCP_DEFER_ACCEPT`).
    TcpDeferAccept,
    /// `tcp-fastopen` (`TCP_FASTOPEN`).
    TcpFastOpen,
    /// `tcp-fastopen-connect` (`TCP_FASTOPEN_CONNECT`).
    TcpFastOpenConnect,
    /// `ipv6-v6only` (`IPV6_V6ONLY`).
    Ipv6V6Only,
    /// `recv-buffer-size` (`SO_RCVBUF`).
    RecvBufferSize,
    /// `send-buffer-size` (`SO_SNDBUF`).
    SendBufferSize,
    /// `error` (`SO_ERROR`, read-only; reading clears it).
    Error,
    /// `dontroute` (`SO_DONTROUTE`).
    DontRoute,
    /// `broadcast` (`SO_BROADCAST`).
    Broadcast,
    /// `ip-multicast-if` (`IP_MULTICAST_IF`), an IPv4 address or `"*"`.
    IpMulticastIf,
    /// `ip-multicast-ttl` (`IP_MULTICAST_TTL`).
    IpMulticastTtl,
    /// `ip-multicast-loop` (`IP_MULTICAST_LOOP`).
    IpMulticastLoop,
    /// `ip-add-membership` (`IP_ADD_MEMBERSHIP`, write-only).
    IpAddMembership,
    /// `ip-drop-membership` (`IP_DROP_MEMBERSHIP`, write-only).
    IpDropMembership,
    /// `ipv6-unicast-hops` (`IPV6_UNICAST_HOPS`).
    Ipv6UnicastHops,
    /// `ipv6-multicast-hops` (`IPV6_MULTICAST_HOPS`).
    Ipv6MulticastHops,
    /// `ipv6-multicast-loop` (`IPV6_MULTICAST_LOOP`).
    Ipv6MulticastLoop,
    /// `ipv6-add-membership` (`IPV6_ADD_MEMBERSHIP`, write-only).
    Ipv6AddMembership,
    /// `ipv6-drop-membership` (`IPV6_DROP_MEMBERSHIP`, write-only).
    Ipv6DropMembership,
}

/// Whether an option is being read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionAccess {
    /// `getoption`.
    Get,
    /// `setoption`.
    Set,
}

/// The shape of an option's value, which tells a binding how to convert it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// A boolean.
    Bool,
    /// An integer.
    Int,
    /// `{on = bool, timeout = integer}`.
    Linger,
    /// An IPv4 address (`"*"` for any).
    Ipv4,
    /// `{multiaddr = ipv4, interface = ipv4 or "*"}`.
    Membership,
    /// `{multiaddr = ipv6, interface = index}`.
    Membership6,
    /// An interface name.
    Device,
    /// The pending error as a message, or nothing (read-only).
    PendingError,
}

/// A value read from or written to an option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    /// For [`ValueKind::Bool`].
    Bool(bool),
    /// For [`ValueKind::Int`].
    Int(i32),
    /// For [`ValueKind::Linger`].
    Linger {
        /// Whether lingering on close is enabled.
        on: bool,
        /// Seconds to linger.
        timeout: i32,
    },
    /// For [`ValueKind::Ipv4`].
    Ipv4(Ipv4Addr),
    /// For [`ValueKind::Membership`].
    Membership {
        /// The multicast group.
        group: Ipv4Addr,
        /// The local interface address (unspecified for any).
        interface: Ipv4Addr,
    },
    /// For [`ValueKind::Membership6`].
    Membership6 {
        /// The multicast group.
        group: Ipv6Addr,
        /// The interface index (0 for the default).
        interface: u32,
    },
    /// For [`ValueKind::Device`].
    Device(String),
    /// For [`ValueKind::PendingError`]: `None` when there is no error.
    PendingError(Option<String>),
}

const TCP_OPTIONS: &[SocketOption] = &[
    SocketOption::BindToDevice,
    SocketOption::KeepAlive,
    SocketOption::Linger,
    SocketOption::ReuseAddr,
    SocketOption::ReusePort,
    SocketOption::TcpNoDelay,
    SocketOption::TcpKeepIdle,
    SocketOption::TcpKeepCount,
    SocketOption::TcpKeepInterval,
    SocketOption::TcpDeferAccept,
    SocketOption::TcpFastOpen,
    SocketOption::TcpFastOpenConnect,
    SocketOption::Ipv6V6Only,
    SocketOption::RecvBufferSize,
    SocketOption::SendBufferSize,
    SocketOption::Error,
];

const UDP_OPTIONS: &[SocketOption] = &[
    SocketOption::DontRoute,
    SocketOption::Broadcast,
    SocketOption::ReuseAddr,
    SocketOption::ReusePort,
    SocketOption::IpMulticastIf,
    SocketOption::IpMulticastTtl,
    SocketOption::IpMulticastLoop,
    SocketOption::IpAddMembership,
    SocketOption::IpDropMembership,
    SocketOption::Ipv6UnicastHops,
    SocketOption::Ipv6MulticastHops,
    SocketOption::Ipv6MulticastLoop,
    SocketOption::Ipv6AddMembership,
    SocketOption::Ipv6DropMembership,
    SocketOption::Ipv6V6Only,
    SocketOption::RecvBufferSize,
    SocketOption::SendBufferSize,
    SocketOption::Error,
];

impl SocketOption {
    /// Looks up an option by its LuaSocket name for a TCP or UDP object; `None` is
    /// LuaSocket's "unsupported option".
    pub fn lookup(name: &[u8], kind: SocketKind, access: OptionAccess) -> Option<Self> {
        let table = match kind {
            SocketKind::Stream => TCP_OPTIONS,
            SocketKind::Datagram => UDP_OPTIONS,
        };
        let option = *table
            .iter()
            .find(|option| option.name().as_bytes() == name)?;
        let allowed = match access {
            OptionAccess::Get => !option.is_write_only(),
            OptionAccess::Set => option != SocketOption::Error,
        };
        // An option this system's headers lack is one LuaSocket compiled out here;
        // `bindtodevice` stays listed and raises when used, as in LuaSocket.
        let here = option.level_and_name().is_some() || option == SocketOption::BindToDevice;
        let allowed = allowed && here;
        allowed.then_some(option)
    }

    /// The LuaSocket name.
    pub fn name(self) -> &'static str {
        match self {
            SocketOption::BindToDevice => "bindtodevice",
            SocketOption::KeepAlive => "keepalive",
            SocketOption::Linger => "linger",
            SocketOption::ReuseAddr => "reuseaddr",
            SocketOption::ReusePort => "reuseport",
            SocketOption::TcpNoDelay => "tcp-nodelay",
            SocketOption::TcpKeepIdle => "tcp-keepidle",
            SocketOption::TcpKeepCount => "tcp-keepcnt",
            SocketOption::TcpKeepInterval => "tcp-keepintvl",
            SocketOption::TcpDeferAccept => "tcp-defer-accept",
            SocketOption::TcpFastOpen => "tcp-fastopen",
            SocketOption::TcpFastOpenConnect => "tcp-fastopen-connect",
            SocketOption::Ipv6V6Only => "ipv6-v6only",
            SocketOption::RecvBufferSize => "recv-buffer-size",
            SocketOption::SendBufferSize => "send-buffer-size",
            SocketOption::Error => "error",
            SocketOption::DontRoute => "dontroute",
            SocketOption::Broadcast => "broadcast",
            SocketOption::IpMulticastIf => "ip-multicast-if",
            SocketOption::IpMulticastTtl => "ip-multicast-ttl",
            SocketOption::IpMulticastLoop => "ip-multicast-loop",
            SocketOption::IpAddMembership => "ip-add-membership",
            SocketOption::IpDropMembership => "ip-drop-membership",
            SocketOption::Ipv6UnicastHops => "ipv6-unicast-hops",
            SocketOption::Ipv6MulticastHops => "ipv6-multicast-hops",
            SocketOption::Ipv6MulticastLoop => "ipv6-multicast-loop",
            SocketOption::Ipv6AddMembership => "ipv6-add-membership",
            SocketOption::Ipv6DropMembership => "ipv6-drop-membership",
        }
    }

    /// The shape of the option's value.
    pub fn value_kind(self) -> ValueKind {
        match self {
            SocketOption::KeepAlive
            | SocketOption::ReuseAddr
            | SocketOption::ReusePort
            | SocketOption::TcpNoDelay
            | SocketOption::Ipv6V6Only
            | SocketOption::DontRoute
            | SocketOption::Broadcast
            | SocketOption::IpMulticastLoop
            | SocketOption::Ipv6MulticastLoop => ValueKind::Bool,
            SocketOption::TcpKeepIdle
            | SocketOption::TcpKeepCount
            | SocketOption::TcpKeepInterval
            | SocketOption::TcpDeferAccept
            | SocketOption::TcpFastOpen
            | SocketOption::TcpFastOpenConnect
            | SocketOption::RecvBufferSize
            | SocketOption::SendBufferSize
            | SocketOption::IpMulticastTtl
            | SocketOption::Ipv6UnicastHops
            | SocketOption::Ipv6MulticastHops => ValueKind::Int,
            SocketOption::Linger => ValueKind::Linger,
            SocketOption::IpMulticastIf => ValueKind::Ipv4,
            SocketOption::IpAddMembership | SocketOption::IpDropMembership => ValueKind::Membership,
            SocketOption::Ipv6AddMembership | SocketOption::Ipv6DropMembership => {
                ValueKind::Membership6
            }
            SocketOption::BindToDevice => ValueKind::Device,
            SocketOption::Error => ValueKind::PendingError,
        }
    }

    fn is_write_only(self) -> bool {
        matches!(
            self.value_kind(),
            ValueKind::Membership | ValueKind::Membership6
        )
    }

    /// The `setsockopt` level and name here; `None` where the system lacks it.
    fn level_and_name(self) -> Option<(c_int, c_int)> {
        crate::sys::option_name(self)
    }
}

/// What LuaSocket raises for `bindtodevice` where `SO_BINDTODEVICE` is missing.
const NO_BINDTODEVICE: Error =
    Error::Unsupported("SO_BINDTODEVICE is not supported on this operating system");

/// The level and name of an option the lookup accepted.
fn level_and_name(option: SocketOption, failed: Error) -> Result<(c_int, c_int)> {
    match option.level_and_name() {
        Some(found) => Ok(found),
        None if option == SocketOption::BindToDevice => Err(NO_BINDTODEVICE),
        None => Err(failed),
    }
}

const GET_FAILED: Error = Error::State("getsockopt failed");
const SET_FAILED: Error = Error::State("setsockopt failed");

/// Reads an option of the descriptor `fd`.
pub(crate) fn get(fd: RawSocket, option: SocketOption) -> Result<OptionValue> {
    let (level, name) = level_and_name(option, GET_FAILED)?;
    let value = match option.value_kind() {
        ValueKind::Bool => OptionValue::Bool(read::<c_int>(fd, level, name)? != 0),
        ValueKind::Int => OptionValue::Int(read::<c_int>(fd, level, name)?),
        ValueKind::Linger => {
            let (on, timeout) = sys::linger_parts(&read::<sys::Linger>(fd, level, name)?);
            OptionValue::Linger { on, timeout }
        }
        ValueKind::Ipv4 => OptionValue::Ipv4(sys::ipv4_of(&read::<sys::InAddr>(fd, level, name)?)),
        ValueKind::Device => {
            let name_bytes = read::<[u8; sys::IFNAMSIZ + 1]>(fd, level, name)?;
            let device = CStr::from_bytes_until_nul(&name_bytes)
                .map(|c| c.to_string_lossy().into_owned())
                .unwrap_or_default();
            OptionValue::Device(device)
        }
        ValueKind::PendingError => {
            let code = read::<c_int>(fd, level, name)?;
            let message =
                (code != 0).then(|| Error::from_io(io::Error::from_raw_os_error(code)).to_string());
            OptionValue::PendingError(message)
        }
        ValueKind::Membership | ValueKind::Membership6 => return Err(GET_FAILED),
    };
    Ok(value)
}

/// Writes an option of the descriptor `fd`. A value of the wrong shape fails like
/// a refused `setsockopt`.
pub(crate) fn set(fd: RawSocket, option: SocketOption, value: &OptionValue) -> Result<()> {
    let (level, name) = level_and_name(option, SET_FAILED)?;
    match (option.value_kind(), value) {
        (ValueKind::Bool, OptionValue::Bool(on)) => write(fd, level, name, &c_int::from(*on)),
        (ValueKind::Int, OptionValue::Int(number)) => write(fd, level, name, number),
        (ValueKind::Linger, OptionValue::Linger { on, timeout }) => {
            write(fd, level, name, &sys::linger(*on, *timeout))
        }
        (ValueKind::Ipv4, OptionValue::Ipv4(address)) => {
            write(fd, level, name, &sys::in_addr(*address))
        }
        (ValueKind::Membership, OptionValue::Membership { group, interface }) => {
            write(fd, level, name, &sys::ip_mreq(*group, *interface))
        }
        (ValueKind::Membership6, OptionValue::Membership6 { group, interface }) => {
            write(fd, level, name, &sys::ipv6_mreq(*group, *interface))
        }
        (ValueKind::Device, OptionValue::Device(device)) => {
            let mut bytes = device.as_bytes().to_vec();
            bytes.push(0);
            write_bytes(fd, level, name, &bytes)
        }
        _ => Err(SET_FAILED),
    }
}

/// Plain C values an option is read into; all-zero bytes are a valid value of each.
trait OptionBytes: Copy {}
impl OptionBytes for c_int {}
impl OptionBytes for sys::Linger {}
impl OptionBytes for sys::InAddr {}
impl OptionBytes for sys::IpMreq {}
impl OptionBytes for sys::Ipv6Mreq {}
impl OptionBytes for [u8; sys::IFNAMSIZ + 1] {}

fn read<T: OptionBytes>(fd: RawSocket, level: c_int, name: c_int) -> Result<T> {
    // SAFETY: every OptionBytes type is a plain C type valid when zero-filled.
    let mut value: T = unsafe { mem::zeroed() };
    let mut length = mem::size_of::<T>() as socklen_t;
    // SAFETY: `value` is writable for `length` bytes and getsockopt writes at most
    // that many, updating `length`.
    let done = unsafe {
        sys::getsockopt(
            fd,
            level,
            name,
            (&mut value as *mut T).cast::<c_void>(),
            &mut length,
        )
    };
    if !done {
        return Err(GET_FAILED);
    }
    Ok(value)
}

fn write<T: OptionBytes>(fd: RawSocket, level: c_int, name: c_int, value: &T) -> Result<()> {
    // SAFETY: `value` is a live, initialized T and we pass its exact size.
    let done = unsafe {
        sys::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast::<c_void>(),
            mem::size_of::<T>() as socklen_t,
        )
    };
    if !done {
        Err(SET_FAILED)
    } else {
        Ok(())
    }
}

fn write_bytes(fd: RawSocket, level: c_int, name: c_int, bytes: &[u8]) -> Result<()> {
    let length = socklen_t::try_from(bytes.len()).map_err(|_| SET_FAILED)?;
    // SAFETY: `bytes` is a live slice and we pass its exact length.
    let done = unsafe { sys::setsockopt(fd, level, name, bytes.as_ptr().cast::<c_void>(), length) };
    if !done {
        Err(SET_FAILED)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Family;
    use crate::socket::Descriptor;

    #[test]
    fn lookup_follows_class_tables() {
        let get = OptionAccess::Get;
        let set = OptionAccess::Set;
        assert_eq!(
            SocketOption::lookup(b"tcp-nodelay", SocketKind::Stream, set),
            Some(SocketOption::TcpNoDelay)
        );
        assert_eq!(
            SocketOption::lookup(b"tcp-nodelay", SocketKind::Datagram, set),
            None
        );
        assert_eq!(
            SocketOption::lookup(b"broadcast", SocketKind::Stream, get),
            None
        );
        assert_eq!(
            SocketOption::lookup(b"error", SocketKind::Stream, set),
            None
        );
        assert_eq!(
            SocketOption::lookup(b"error", SocketKind::Datagram, get),
            Some(SocketOption::Error)
        );
        assert_eq!(
            SocketOption::lookup(b"ip-add-membership", SocketKind::Datagram, get),
            None
        );
        assert!(SocketOption::lookup(b"ip-add-membership", SocketKind::Datagram, set).is_some());
        assert_eq!(SocketOption::lookup(b"nope", SocketKind::Stream, get), None);
    }

    #[test]
    fn names_round_trip() {
        let here = |option: &&SocketOption| {
            option.level_and_name().is_some() || **option == SocketOption::BindToDevice
        };
        for option in TCP_OPTIONS.iter().chain(UDP_OPTIONS).filter(here) {
            let kind = if TCP_OPTIONS.contains(option) {
                SocketKind::Stream
            } else {
                SocketKind::Datagram
            };
            let access = if *option == SocketOption::Error {
                OptionAccess::Get
            } else {
                OptionAccess::Set
            };
            assert_eq!(
                SocketOption::lookup(option.name().as_bytes(), kind, access),
                Some(*option)
            );
        }
    }

    #[test]
    fn set_then_get() {
        let tcp = Descriptor::open(Family::Inet, SocketKind::Stream).unwrap();
        let fd = crate::sys::raw_of(&tcp);
        set(fd, SocketOption::TcpNoDelay, &OptionValue::Bool(true)).unwrap();
        assert_eq!(
            get(fd, SocketOption::TcpNoDelay).unwrap(),
            OptionValue::Bool(true)
        );
        set(fd, SocketOption::TcpKeepInterval, &OptionValue::Int(77)).unwrap();
        assert_eq!(
            get(fd, SocketOption::TcpKeepInterval).unwrap(),
            OptionValue::Int(77)
        );
        let linger = OptionValue::Linger {
            on: true,
            timeout: 3,
        };
        set(fd, SocketOption::Linger, &linger).unwrap();
        assert_eq!(get(fd, SocketOption::Linger).unwrap(), linger);
        assert_eq!(
            get(fd, SocketOption::Error).unwrap(),
            OptionValue::PendingError(None)
        );
        #[cfg(any(target_os = "linux", target_os = "android"))]
        assert_eq!(
            get(fd, SocketOption::BindToDevice).unwrap(),
            OptionValue::Device(String::new())
        );
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        assert_eq!(
            get(fd, SocketOption::BindToDevice).unwrap_err().to_string(),
            "SO_BINDTODEVICE is not supported on this operating system"
        );
        let udp = Descriptor::open(Family::Inet, SocketKind::Datagram).unwrap();
        let fd = crate::sys::raw_of(&udp);
        let loopback = OptionValue::Ipv4(Ipv4Addr::LOCALHOST);
        set(fd, SocketOption::IpMulticastIf, &loopback).unwrap();
        assert_eq!(get(fd, SocketOption::IpMulticastIf).unwrap(), loopback);
    }

    /// Options are known exactly where LuaSocket compiles them in.
    #[test]
    fn platform_options_follow_luasocket() {
        let set = OptionAccess::Set;
        let known = |name: &[u8]| SocketOption::lookup(name, SocketKind::Stream, set).is_some();
        let linux = cfg!(any(target_os = "linux", target_os = "android"));
        assert!(known(b"bindtodevice"));
        assert_eq!(known(b"tcp-defer-accept"), linux);
        assert_eq!(known(b"tcp-fastopen-connect"), linux);
        assert_eq!(known(b"tcp-keepidle"), !cfg!(target_vendor = "apple"));
        assert!(known(b"tcp-keepintvl") && known(b"tcp-keepcnt") && known(b"tcp-fastopen"));
    }

    #[test]
    fn failures_use_luasocket_words() {
        let err = set(
            crate::sys::INVALID_SOCKET,
            SocketOption::KeepAlive,
            &OptionValue::Bool(true),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "setsockopt failed");
        let err = get(crate::sys::INVALID_SOCKET, SocketOption::KeepAlive).unwrap_err();
        assert_eq!(err.to_string(), "getsockopt failed");
        let err = set(
            crate::sys::INVALID_SOCKET,
            SocketOption::KeepAlive,
            &OptionValue::Int(1),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "setsockopt failed");
    }
}
