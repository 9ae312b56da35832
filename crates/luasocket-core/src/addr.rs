//! Address families and the name resolution that `bind`, `connect`, `sendto` and
//! `setpeername` do before they touch a socket.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use crate::{Error, Result};

/// The family a socket was created for; `Unspec` sockets (LuaSocket's `tcp()`/`udp()`)
/// take the family of the first address they are bound or connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Not decided yet.
    Unspec,
    /// IPv4.
    Inet,
    /// IPv6.
    Inet6,
}

impl Family {
    /// LuaSocket's name: `"inet"`, `"inet6"` or `"unspec"`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Unspec => "unspec",
            Family::Inet => "inet",
            Family::Inet6 => "inet6",
        }
    }

    /// The family of an address.
    pub fn of(address: &SocketAddr) -> Family {
        if address.is_ipv4() {
            Family::Inet
        } else {
            Family::Inet6
        }
    }

    pub(crate) fn admits(self, address: &SocketAddr) -> bool {
        self == Family::Unspec || self == Family::of(address)
    }
}

/// Resolves `host` (a name, a numeric address, or `"*"` for any address) and `port`
/// to the addresses usable with `family`, in resolver order.
pub fn resolve(host: &str, port: u16, family: Family) -> Result<Vec<SocketAddr>> {
    if host == "*" {
        let any = match family {
            Family::Inet6 => vec![SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)],
            Family::Inet => vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)],
            Family::Unspec => vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
            ],
        };
        return Ok(any);
    }
    let found: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => (host, port)
            .to_socket_addrs()
            .map_err(|_| Error::Resolve("host not found".into()))?
            .collect(),
    };
    let usable: Vec<SocketAddr> = found.into_iter().filter(|a| family.admits(a)).collect();
    if usable.is_empty() {
        return Err(Error::Resolve("host not found".into()));
    }
    Ok(usable)
}

/// Parses a port given as a number or numeric string (LuaSocket accepts both).
pub fn port_number(value: f64) -> Result<u16> {
    if value.fract() == 0.0 && (0.0..=65535.0).contains(&value) {
        Ok(value as u16)
    } else {
        Err(Error::State("invalid port"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_any_and_family_filter() {
        assert_eq!(
            resolve("127.0.0.1", 80, Family::Unspec).unwrap(),
            vec!["127.0.0.1:80".parse().unwrap()]
        );
        assert!(resolve("127.0.0.1", 80, Family::Inet6).is_err());
        assert_eq!(
            resolve("*", 1, Family::Inet6).unwrap()[0].ip(),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        );
        assert!(resolve("localhost", 1, Family::Unspec).is_ok());
        assert_eq!(port_number(8080.0).unwrap(), 8080);
        assert!(port_number(-1.0).is_err());
        assert!(port_number(1.5).is_err());
    }
}
