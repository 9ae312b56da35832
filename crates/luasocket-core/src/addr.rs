//! Address families, name resolution for bind/connect, and addresses shown as text.
//!
//! LuaSocket resolves every host/port pair with `getaddrinfo` (so ports may be
//! service names) and shows addresses with `getnameinfo(NI_NUMERICHOST)`; this module
//! does the same so error strings and address formats match.

use std::ffi::CStr;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, SockAddr};

use crate::sys::c;
use crate::Result;

/// The address family of a socket. `Unspec` is a `socket.tcp()`/`socket.udp()` object
/// whose OS socket is created later, by the first bind/connect, in the family of the
/// resolved address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// Not chosen yet (`AF_UNSPEC`; for lookups: either family).
    #[default]
    Unspec,
    /// IPv4.
    Inet,
    /// IPv6.
    Inet6,
    /// Unix domain (`AF_UNIX`): addresses are paths, see [`unix_address`].
    Unix,
}

impl Family {
    /// The family string of `getsockname`/`getpeername`: `"inet"`, `"inet6"` or `"unspec"`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Unspec => "unspec",
            Family::Inet => "inet",
            Family::Inet6 => "inet6",
            Family::Unix => "unix",
        }
    }

    /// The family LuaSocket calls `name`, if any.
    pub fn from_name(name: &str) -> Option<Family> {
        match name {
            "unspec" => Some(Family::Unspec),
            "inet" => Some(Family::Inet),
            "inet6" => Some(Family::Inet6),
            _ => None,
        }
    }

    /// The family of a resolved address (anything but IPv4/IPv6 counts as unspecified).
    pub fn of(address: &SockAddr) -> Self {
        if address.is_ipv4() {
            Family::Inet
        } else if address.is_ipv6() {
            Family::Inet6
        } else if address.is_unix() {
            Family::Unix
        } else {
            Family::Unspec
        }
    }

    pub(crate) fn domain(self) -> Option<Domain> {
        match self {
            Family::Unspec => None,
            Family::Inet => Some(Domain::IPV4),
            Family::Inet6 => Some(Domain::IPV6),
            Family::Unix => Some(Domain::UNIX),
        }
    }

    pub(crate) fn ai_family(self) -> c::c_int {
        match self {
            Family::Unspec => c::AF_UNSPEC,
            Family::Inet => c::AF_INET,
            Family::Inet6 => c::AF_INET6,
            Family::Unix => c::AF_UNIX,
        }
    }
}

/// The address of a Unix-domain socket path, as `socket.unix` takes it: the whole
/// string, so a name starting with a NUL byte is one of Linux's abstract names
/// (LuaSocket stops at the first NUL and cannot reach them). Paths that do not fit
/// `sun_path` fail with LuaSocket's `"path too long"`.
pub fn unix_address(path: &[u8]) -> Result<SockAddr> {
    // The same limit as LuaSocket's (room for the terminating NUL), also for abstract
    // names, which need none: one rule for both keeps the message predictable.
    if path.len() >= crate::sys::unix_path_capacity() {
        return Err(crate::Error::State("path too long"));
    }
    crate::sys::unix_address(path).map_err(crate::Error::from_io)
}

/// The path of a Unix-domain address as `getsockname` returns it: the path, an abstract
/// name with its leading NUL, or `""` for an unbound socket.
pub fn unix_path(address: &SockAddr) -> Vec<u8> {
    crate::sys::unix_path(address)
}

/// Stream (TCP) or datagram (UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SocketKind {
    /// `SOCK_STREAM` (what LuaSocket's resolver functions ask for).
    #[default]
    Stream,
    /// `SOCK_DGRAM`.
    Datagram,
}

impl SocketKind {
    pub(crate) fn socktype(self) -> c::c_int {
        match self {
            SocketKind::Stream => c::SOCK_STREAM,
            SocketKind::Datagram => c::SOCK_DGRAM,
        }
    }
}

/// What `getaddrinfo` should look for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hints {
    /// Only addresses of this family (`Unspec`: any).
    pub family: Family,
    /// The socket type the addresses are for.
    pub kind: SocketKind,
    /// Addresses to bind to: a missing host means the wildcard address.
    pub passive: bool,
    /// Numeric host and port only, no DNS (UDP `sendto`).
    pub numeric: bool,
}

/// Resolves `host` (or the wildcard when `None`) and `service` (a port number or a
/// service name) to socket addresses, in the resolver's order.
pub(crate) fn resolve(host: Option<&str>, service: &str, hints: Hints) -> Result<Vec<SockAddr>> {
    if let Some(address) = host.and_then(|host| literal_address(host, service, hints.family)) {
        return Ok(vec![address]);
    }
    let list = crate::dns::AddrInfoList::resolve(host, Some(service), &hints)?;
    Ok(list.socket_addresses())
}

/// The one address `getaddrinfo` would give for an IP literal and a decimal port of
/// the family asked for, without the call: glibc spends thousands of instructions on a
/// literal too, and clients connect to literals on every request. Anything else (names,
/// service names, scoped or unusual literal forms) is left to `getaddrinfo`.
fn literal_address(host: &str, service: &str, family: Family) -> Option<SockAddr> {
    if service.is_empty() || !service.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port: u16 = service.parse().ok()?;
    let ip: IpAddr = host.parse().ok()?;
    let wanted = match ip {
        IpAddr::V4(_) => matches!(family, Family::Unspec | Family::Inet),
        IpAddr::V6(_) => matches!(family, Family::Unspec | Family::Inet6),
    };
    wanted.then(|| SockAddr::from(SocketAddr::new(ip, port)))
}

/// The numeric host text and port of an address, as LuaSocket shows them
/// (`getnameinfo` with `NI_NUMERICHOST | NI_NUMERICSERV`, so `"::1"`, `"fe80::1%eth0"`).
pub fn numeric_name(address: &SockAddr) -> Result<(String, u16)> {
    let mut host = [0 as c::c_char; c::NI_MAXHOST as usize];
    let mut service = [0 as c::c_char; 32];
    // SAFETY: the address pointer/length pair comes from a SockAddr; the output
    // buffers are writable and their lengths are passed along.
    let code = unsafe {
        c::getnameinfo(
            address.as_ptr().cast::<c::sockaddr>(),
            address.len() as _,
            host.as_mut_ptr().cast(),
            // socklen_t on Linux and macOS, size_t on FreeBSD, u32 on Windows.
            host.len() as _,
            service.as_mut_ptr().cast(),
            service.len() as _,
            c::NI_NUMERICHOST | c::NI_NUMERICSERV,
        )
    };
    if code != 0 {
        return Err(crate::dns::resolve_error(code));
    }
    // SAFETY: on success getnameinfo NUL-terminates both buffers.
    let (host, service) = unsafe {
        (
            CStr::from_ptr(host.as_ptr()),
            CStr::from_ptr(service.as_ptr()),
        )
    };
    let port = service
        .to_str()
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((host.to_string_lossy().into_owned(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hints(family: Family, passive: bool, numeric: bool) -> Hints {
        Hints {
            family,
            kind: SocketKind::Stream,
            passive,
            numeric,
        }
    }

    #[test]
    fn resolves_numeric_hosts() {
        let v4 = resolve(Some("127.0.0.1"), "80", hints(Family::Unspec, false, false)).unwrap();
        assert_eq!(v4.len(), 1);
        assert_eq!(Family::of(&v4[0]), Family::Inet);
        assert_eq!(numeric_name(&v4[0]).unwrap(), ("127.0.0.1".to_owned(), 80));
        let v6 = resolve(Some("::1"), "8080", hints(Family::Inet6, false, true)).unwrap();
        assert_eq!(numeric_name(&v6[0]).unwrap(), ("::1".to_owned(), 8080));
    }

    #[test]
    fn literals_resolve_as_getaddrinfo_does() {
        for (host, service, family) in [
            ("127.0.0.1", "80", Family::Unspec),
            ("10.1.2.3", "65535", Family::Inet),
            ("::1", "0", Family::Unspec),
            ("2001:db8::7", "443", Family::Inet6),
        ] {
            let fast = literal_address(host, service, family).unwrap();
            let list = crate::dns::AddrInfoList::resolve(
                Some(host),
                Some(service),
                &hints(family, false, false),
            )
            .unwrap()
            .socket_addresses();
            assert_eq!(list.len(), 1, "{host}");
            assert_eq!(fast.as_socket(), list[0].as_socket(), "{host}");
        }
        for (host, service, family) in [
            ("127.0.0.1", "80", Family::Inet6),
            ("::1", "80", Family::Inet),
            ("localhost", "80", Family::Unspec),
            ("127.1", "80", Family::Unspec),
            ("fe80::1%lo", "80", Family::Unspec),
            ("127.0.0.1", "http", Family::Unspec),
            ("127.0.0.1", "+80", Family::Unspec),
            ("127.0.0.1", "65536", Family::Unspec),
        ] {
            assert!(
                literal_address(host, service, family).is_none(),
                "{host} {service}"
            );
        }
    }

    #[test]
    fn wildcard_for_passive() {
        let any = resolve(None, "0", hints(Family::Inet, true, false)).unwrap();
        assert_eq!(numeric_name(&any[0]).unwrap(), ("0.0.0.0".to_owned(), 0));
    }

    #[test]
    fn family_filter_rejects_other_family() {
        let err = resolve(Some("127.0.0.1"), "80", hints(Family::Inet6, false, true)).unwrap_err();
        assert!(matches!(err, crate::Error::Resolve(_)));
    }

    #[test]
    fn numeric_refuses_names() {
        let err = resolve(Some("localhost"), "80", hints(Family::Unspec, false, true)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "host or service not provided, or not known"
        );
        let err = resolve(Some("a\0b"), "80", hints(Family::Unspec, false, false)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "host or service not provided, or not known"
        );
    }

    #[test]
    fn family_names() {
        assert_eq!(Family::Unspec.name(), "unspec");
    }

    #[test]
    fn unix_paths_round_trip() {
        for path in [&b"/tmp/x.sock"[..], b"\0abstract", b"relative"] {
            let address = unix_address(path).unwrap();
            assert_eq!(Family::of(&address), Family::Unix);
            assert_eq!(unix_path(&address), path);
        }
        let long = vec![b'a'; 108];
        assert_eq!(
            unix_address(&long).unwrap_err().to_string(),
            "path too long"
        );
        assert!(unix_address(&long[..107]).is_ok());
    }
}
