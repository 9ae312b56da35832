//! Name resolution with LuaSocket's semantics and messages (`socket.dns`).
//!
//! Every function blocks on the system resolver and returns plain `Send` data, so a
//! scheduler can run them on a worker thread.

use std::ffi::{CStr, CString};
use std::net::{IpAddr, SocketAddr};

use crate::{Error, Result};

/// What `toip` and `tohostname` return besides the answer: LuaSocket's `resolved`
/// table (`name`, `alias`, `ip`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostInfo {
    /// The official name.
    pub name: String,
    /// Other names.
    pub aliases: Vec<String>,
    /// Addresses, as strings.
    pub addresses: Vec<String>,
}

/// One `getaddrinfo` answer: `{family = "inet"|"inet6", addr = "..."}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrInfo {
    /// `"inet"` or `"inet6"`.
    pub family: &'static str,
    /// The numeric address.
    pub addr: String,
}

const HOST_NOT_FOUND: &str = "host not found";

/// LuaSocket's messages for `getaddrinfo`/`getnameinfo` failures.
fn gai_message(code: libc::c_int) -> String {
    let text = match code {
        libc::EAI_AGAIN => "temporary failure in name resolution",
        libc::EAI_BADFLAGS => "invalid value for ai_flags",
        libc::EAI_FAIL => "non-recoverable failure in name resolution",
        libc::EAI_FAMILY => "ai_family not supported",
        libc::EAI_MEMORY => "memory allocation failure",
        libc::EAI_NONAME => "host or service not provided, or not known",
        libc::EAI_OVERFLOW => "argument buffer overflow",
        libc::EAI_SERVICE => "service not supported for socket type",
        libc::EAI_SOCKTYPE => "ai_socktype not supported",
        libc::EAI_SYSTEM => return std::io::Error::last_os_error().to_string(),
        _ => "unknown error",
    };
    text.to_owned()
}

fn c_string(text: &str) -> Result<CString> {
    CString::new(text).map_err(|_| Error::Resolve(HOST_NOT_FOUND.into()))
}

/// Calls getaddrinfo and collects `(address, canonical name)` pairs.
fn lookup(
    host: Option<&str>,
    service: Option<&str>,
    family: libc::c_int,
    flags: libc::c_int,
) -> Result<(Vec<SocketAddr>, Option<String>), String> {
    let host = host.map(c_string).transpose().map_err(|e| e.to_string())?;
    let service = service
        .map(c_string)
        .transpose()
        .map_err(|e| e.to_string())?;
    // SAFETY: an all-zero addrinfo is the documented "no hints" value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = family;
    hints.ai_socktype = libc::SOCK_STREAM;
    hints.ai_flags = flags;
    let mut list: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: the strings and hints outlive the call; `list` receives a list we free below.
    let rc = unsafe {
        libc::getaddrinfo(
            host.as_ref().map_or(std::ptr::null(), |h| h.as_ptr()),
            service.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            &hints,
            &mut list,
        )
    };
    if rc != 0 {
        return Err(gai_message(rc));
    }
    let mut addresses = Vec::new();
    let mut canonical = None;
    let mut entry = list;
    while !entry.is_null() {
        // SAFETY: `entry` walks the list getaddrinfo returned, which stays valid until
        // freeaddrinfo below; each ai_addr has ai_addrlen bytes.
        unsafe {
            let info = &*entry;
            if canonical.is_none() && !info.ai_canonname.is_null() {
                canonical = Some(
                    CStr::from_ptr(info.ai_canonname)
                        .to_string_lossy()
                        .into_owned(),
                );
            }
            if let Some(address) = socket_addr(info.ai_addr, info.ai_addrlen) {
                if !addresses.contains(&address) {
                    addresses.push(address);
                }
            }
            entry = info.ai_next;
        }
    }
    // SAFETY: `list` came from a successful getaddrinfo and is freed exactly once.
    unsafe { libc::freeaddrinfo(list) };
    Ok((addresses, canonical))
}

/// Reads an IPv4/IPv6 socket address out of a raw sockaddr.
///
/// # Safety
/// `raw` must point to `len` readable bytes of a sockaddr.
unsafe fn socket_addr(raw: *const libc::sockaddr, len: libc::socklen_t) -> Option<SocketAddr> {
    if raw.is_null() {
        return None;
    }
    let len = len as usize;
    // SAFETY: the caller promises `len` (at least the family field) readable bytes.
    let family = unsafe { (*raw).sa_family };
    match i32::from(family) {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the guard checked `len` covers a sockaddr_in.
            let sin = unsafe { std::ptr::read_unaligned(raw.cast::<libc::sockaddr_in>()) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::new(IpAddr::V4(ip), u16::from_be(sin.sin_port)))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the guard checked `len` covers a sockaddr_in6.
            let sin6 = unsafe { std::ptr::read_unaligned(raw.cast::<libc::sockaddr_in6>()) };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::new(
                IpAddr::V6(ip),
                u16::from_be(sin6.sin6_port),
            ))
        }
        _ => None,
    }
}

/// `socket.dns.toip`: the first IPv4 address of `name` (or `name` itself if it is an
/// address), with the resolved details.
pub fn toip(name: &str) -> Result<(String, HostInfo)> {
    let (addresses, canonical) = lookup(Some(name), None, libc::AF_INET, libc::AI_CANONNAME)
        .map_err(|_| Error::Resolve(HOST_NOT_FOUND.into()))?;
    let addresses: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
    let first = addresses
        .first()
        .cloned()
        .ok_or_else(|| Error::Resolve(HOST_NOT_FOUND.into()))?;
    let info = HostInfo {
        name: canonical.unwrap_or_else(|| name.to_owned()),
        aliases: Vec::new(),
        addresses,
    };
    Ok((first, info))
}

/// `socket.dns.tohostname`: the name of an address (or of the first address of a name).
pub fn tohostname(address: &str) -> Result<(String, HostInfo)> {
    let ip: IpAddr = match address.parse() {
        Ok(ip) => ip,
        Err(_) => toip(address)?
            .0
            .parse()
            .map_err(|_| Error::Resolve(HOST_NOT_FOUND.into()))?,
    };
    let names = getnameinfo_raw(SocketAddr::new(ip, 0), libc::NI_NAMEREQD)
        .map_err(|_| Error::Resolve(HOST_NOT_FOUND.into()))?;
    let name = names.0;
    let info = HostInfo {
        name: name.clone(),
        aliases: Vec::new(),
        addresses: vec![ip.to_string()],
    };
    Ok((name, info))
}

/// `socket.dns.gethostname`.
pub fn gethostname() -> Result<String> {
    let mut buffer = [0u8; 257];
    // SAFETY: the buffer is writable for its whole length, and one byte is kept back
    // so the result is always terminated.
    let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len() - 1) };
    if rc != 0 {
        return Err(Error::Os(std::io::Error::last_os_error()));
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    Ok(String::from_utf8_lossy(&buffer[..end]).into_owned())
}

/// `socket.dns.getaddrinfo`: every address of `host`, IPv4 and IPv6.
pub fn getaddrinfo(host: &str) -> Result<Vec<AddrInfo>, String> {
    let (addresses, _) = lookup(Some(host), None, libc::AF_UNSPEC, 0)?;
    Ok(addresses
        .into_iter()
        .map(|a| AddrInfo {
            family: if a.is_ipv4() { "inet" } else { "inet6" },
            addr: a.ip().to_string(),
        })
        .collect())
}

fn getnameinfo_raw(address: SocketAddr, flags: libc::c_int) -> Result<(String, String), String> {
    let raw = socket2::SockAddr::from(address);
    let mut host = [0 as libc::c_char; 1025];
    let mut service = [0 as libc::c_char; 32];
    // SAFETY: `raw` is a valid sockaddr of the given length and both buffers are
    // writable for the lengths passed.
    let rc = unsafe {
        libc::getnameinfo(
            raw.as_ptr().cast(),
            raw.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            service.as_mut_ptr(),
            service.len() as libc::socklen_t,
            flags,
        )
    };
    if rc != 0 {
        return Err(gai_message(rc));
    }
    // SAFETY: getnameinfo wrote NUL-terminated strings into both buffers.
    let text = |b: &[libc::c_char]| {
        unsafe { CStr::from_ptr(b.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    Ok((text(&host), text(&service)))
}

/// `socket.dns.getnameinfo(host, port)`: the names of every address of `host` (if
/// given) and the service name of `port` (if given).
pub fn getnameinfo(
    host: Option<&str>,
    port: Option<u16>,
) -> Result<(Vec<String>, Option<String>), String> {
    let service = port.map(|p| p.to_string());
    let (addresses, _) = lookup(
        host.or(Some("0.0.0.0")),
        service.as_deref(),
        libc::AF_UNSPEC,
        0,
    )?;
    let mut names = Vec::new();
    let mut service_name = None;
    for address in addresses {
        let (name, service) = getnameinfo_raw(address, 0)?;
        if host.is_some() && !names.contains(&name) {
            names.push(name);
        }
        if port.is_some() && service_name.is_none() {
            service_name = Some(service);
        }
    }
    Ok((names, service_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names() {
        let (ip, info) = toip("localhost").unwrap();
        assert_eq!(ip, "127.0.0.1");
        assert!(info.addresses.contains(&"127.0.0.1".to_owned()));
        assert_eq!(toip("127.0.0.1").unwrap().0, "127.0.0.1");
        assert!(!tohostname("127.0.0.1").unwrap().0.is_empty());
        assert!(!gethostname().unwrap().is_empty());
        let infos = getaddrinfo("::1").unwrap();
        assert_eq!(
            infos,
            vec![AddrInfo {
                family: "inet6",
                addr: "::1".into()
            }]
        );
        let (names, service) = getnameinfo(Some("127.0.0.1"), Some(80)).unwrap();
        assert!(!names.is_empty());
        assert_eq!(service.as_deref(), Some("http"));
        assert_eq!(toip("").unwrap_err().to_string(), "host not found");
    }
}
