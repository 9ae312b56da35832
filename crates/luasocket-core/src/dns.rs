//! Name resolution with LuaSocket 3.x's semantics and error strings.
//!
//! Every function here is a plain blocking call returning owned, `Send` data and
//! may run on any thread, e.g. a resolver thread that keeps lookups off an event
//! loop: `getaddrinfo` and `getnameinfo` are re-entrant, and the host database is
//! reached through `gethostbyname_r`/`gethostbyaddr_r` or, on macOS, which lacks
//! them, under a lock (`sys::lookup_host`).
//!
//! `toip` and `tohostname` go through the host database like LuaSocket's
//! (`gethostbyname`/`gethostbyaddr`: IPv4 only, with aliases); `getaddrinfo` and
//! `getnameinfo` cover IPv4 and IPv6.

use std::ffi::{c_char, c_int, CStr, CString};
use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddr};
use std::ptr;

use crate::sys::c;
use crate::{Error, Result};

pub use crate::addr::{Family, Hints, SocketKind};

/// One address found by [`getaddrinfo`]: an entry of LuaSocket's result list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrInfo {
    /// The address family.
    pub family: Family,
    /// The address in numeric form as `getnameinfo(NI_NUMERICHOST)` writes it
    /// (`"127.0.0.1"`, `"::1"`, `"fe80::1%eth0"`).
    pub addr: String,
    /// The address with the port of the looked-up service (0 without one).
    pub socket_addr: SocketAddr,
}

/// What the host database knows about a host: LuaSocket's `resolved` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// The official name.
    pub name: String,
    /// Other names of the host.
    pub aliases: Vec<String>,
    /// Its IPv4 addresses, the first being what `toip` returns.
    pub addresses: Vec<Ipv4Addr>,
}

/// What [`getnameinfo`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameInfo {
    /// A host name for each address the host resolved to (empty without a host).
    pub hosts: Vec<String>,
    /// The service name of the port (`None` without a service).
    pub service: Option<String>,
}

/// `socket.dns.toip`: the first IPv4 address of a host name or dotted address,
/// with everything the host database knows about it.
pub fn toip(address: &str) -> Result<(Ipv4Addr, HostInfo)> {
    let info = lookup_host(address)?;
    let first = *info
        .addresses
        .first()
        .ok_or_else(|| Error::Resolve(HOST_NOT_FOUND_MESSAGE.to_owned()))?;
    Ok((first, info))
}

/// `socket.dns.tohostname`: the official name of a host name or dotted address,
/// with everything the host database knows about it.
pub fn tohostname(address: &str) -> Result<(String, HostInfo)> {
    let info = lookup_host(address)?;
    Ok((info.name.clone(), info))
}

/// `socket.dns.gethostname`: the name of this machine.
pub fn gethostname() -> Result<String> {
    let mut name = [0 as c_char; 257];
    // SAFETY: the buffer is writable for 256 bytes, leaving the last one as a terminator.
    if unsafe { c::gethostname(name.as_mut_ptr().cast(), 256) } < 0 {
        return Err(Error::Os(io::Error::last_os_error()));
    }
    // SAFETY: `name[256]` is never written, so the buffer holds a terminated string.
    let name = unsafe { CStr::from_ptr(name.as_ptr()) };
    Ok(name.to_string_lossy().into_owned())
}

/// Resolves `host` (and `service`, a port number or service name) to the
/// addresses `hints` asks for, in the resolver's order.
///
/// `socket.dns.getaddrinfo(host)` is `getaddrinfo(Some(host), None, &Hints::default())`.
/// A `None` host is the loopback address, or the wildcard one with `hints.passive`.
pub fn getaddrinfo(
    host: Option<&str>,
    service: Option<&str>,
    hints: &Hints,
) -> Result<Vec<AddrInfo>> {
    let list = AddrInfoList::resolve(host, service, hints)?;
    let mut found = Vec::new();
    for entry in list.iter() {
        let Some((family, socket_addr)) = entry_address(entry) else {
            continue;
        };
        let (addr, _) = name_of(entry, c::NI_NUMERICHOST, true, false)?;
        found.push(AddrInfo {
            family,
            addr,
            socket_addr,
        });
    }
    Ok(found)
}

/// `socket.dns.getnameinfo`: the name of each address `host` resolves to, and the
/// name of the service `service` (a port number or service name) is.
///
/// Addresses without a name keep their numeric form.
pub fn getnameinfo(host: Option<&str>, service: Option<&str>) -> Result<NameInfo> {
    let list = AddrInfoList::resolve(host, service, &Hints::default())?;
    let mut names = NameInfo {
        hosts: Vec::new(),
        service: None,
    };
    for entry in list.iter() {
        let (name, service_name) = match name_of(entry, 0, host.is_some(), service.is_some()) {
            Ok(found) => found,
            Err(_) => name_of(
                entry,
                c::NI_NUMERICHOST | c::NI_NUMERICSERV,
                host.is_some(),
                service.is_some(),
            )?,
        };
        if host.is_some() {
            names.hosts.push(name);
        }
        if service.is_some() {
            names.service = Some(service_name);
        }
    }
    Ok(names)
}

/// LuaSocket's message for a `getaddrinfo`/`getnameinfo` error code.
///
/// LuaSocket words the common codes itself (pierror.h); others are the system's
/// text. Call right after the failing call, as `EAI_SYSTEM` reads `errno`.
pub fn resolve_error(code: c_int) -> Error {
    crate::sys::resolve_error(code)
}

const HOST_NOT_FOUND_MESSAGE: &str = "host not found";

fn lookup_host(address: &str) -> Result<HostInfo> {
    crate::sys::lookup_host(address, host_info)
}

/// Copies a hostent out of the resolver's buffer.
///
/// # Safety
/// `entry` must be a hostent filled in by a successful host database call, with
/// its buffer still alive.
unsafe fn host_info(entry: &c::hostent) -> HostInfo {
    // SAFETY: the caller guarantees the pointers of a filled-in hostent.
    let name = unsafe { c_string(entry.h_name.cast()) };
    // SAFETY: h_aliases is a null-terminated array of terminated strings.
    let aliases = unsafe { null_terminated(entry.h_aliases.cast()) }
        .into_iter()
        // SAFETY: each element is a terminated string.
        .map(|alias| unsafe { c_string(alias.cast()) })
        .collect();
    let addresses = if i64::from(entry.h_addrtype) == i64::from(c::AF_INET) && entry.h_length == 4 {
        // SAFETY: h_addr_list is a null-terminated array of pointers to 4-byte addresses.
        unsafe { null_terminated(entry.h_addr_list.cast()) }
            .into_iter()
            .map(|address| {
                // SAFETY: each element points at h_length (4) bytes.
                let octets = unsafe { ptr::read_unaligned(address.cast::<[u8; 4]>()) };
                Ipv4Addr::from(octets)
            })
            .collect()
    } else {
        Vec::new()
    };
    HostInfo {
        name,
        aliases,
        addresses,
    }
}

/// # Safety
/// `text` must be null or a terminated string.
unsafe fn c_string(text: *const c_char) -> String {
    if text.is_null() {
        return String::new();
    }
    // SAFETY: non-null and terminated, by the caller's guarantee.
    unsafe { CStr::from_ptr(text) }
        .to_string_lossy()
        .into_owned()
}

/// # Safety
/// `list` must be null or a null-terminated array of pointers.
unsafe fn null_terminated(list: *mut *mut c_char) -> Vec<*mut c_char> {
    let mut items = Vec::new();
    if list.is_null() {
        return items;
    }
    for index in 0.. {
        // SAFETY: every index up to and including the terminating null is in bounds.
        let item = unsafe { *list.add(index) };
        if item.is_null() {
            break;
        }
        items.push(item);
    }
    items
}

/// The result list of one `getaddrinfo` call, freed on drop.
pub(crate) struct AddrInfoList(*mut c::addrinfo);

impl AddrInfoList {
    pub(crate) fn resolve(
        host: Option<&str>,
        service: Option<&str>,
        hints: &Hints,
    ) -> Result<Self> {
        let no_name = || resolve_error(c::EAI_NONAME);
        let host = host.map(CString::new).transpose().map_err(|_| no_name())?;
        let service = service
            .map(CString::new)
            .transpose()
            .map_err(|_| no_name())?;
        // SAFETY: addrinfo is plain data for which all-zero is a valid value (no flags).
        let mut raw_hints: c::addrinfo = unsafe { mem::zeroed() };
        raw_hints.ai_family = hints.family.ai_family();
        raw_hints.ai_socktype = hints.kind.socktype();
        if hints.passive {
            raw_hints.ai_flags |= c::AI_PASSIVE;
        }
        if hints.numeric {
            raw_hints.ai_flags |= c::AI_NUMERICHOST | c::AI_NUMERICSERV;
        }
        let mut list = ptr::null_mut();
        // SAFETY: host and service are null or terminated strings, the hints are
        // initialised and `list` is writable.
        let status = unsafe {
            c::getaddrinfo(
                host.as_ref().map_or(ptr::null(), |h| h.as_ptr().cast()),
                service.as_ref().map_or(ptr::null(), |s| s.as_ptr().cast()),
                &raw_hints,
                &mut list,
            )
        };
        if status != 0 {
            return Err(resolve_error(status));
        }
        Ok(AddrInfoList(list))
    }

    /// Every IPv4/IPv6 address of the list, in the resolver's order.
    pub(crate) fn socket_addresses(&self) -> Vec<socket2::SockAddr> {
        self.iter()
            .filter_map(entry_address)
            .map(|(_, address)| socket2::SockAddr::from(address))
            .collect()
    }

    fn iter(&self) -> impl Iterator<Item = &c::addrinfo> {
        // SAFETY: the list and its `ai_next` chain stay valid until `self` is dropped,
        // which the returned references cannot outlive.
        std::iter::successors(unsafe { self.0.as_ref() }, |entry| unsafe {
            entry.ai_next.as_ref()
        })
    }
}

impl Drop for AddrInfoList {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the list came from a successful getaddrinfo and is freed once.
            unsafe { c::freeaddrinfo(self.0) };
        }
    }
}

/// The family and socket address of an IPv4 or IPv6 entry.
///
/// The bytes are copied into socket2's storage, which knows each system's layout
/// of `sockaddr_in`/`sockaddr_in6`.
fn entry_address(entry: &c::addrinfo) -> Option<(Family, SocketAddr)> {
    // socklen_t on Unix, already size_t on Windows.
    #[allow(clippy::unnecessary_cast)]
    let length = entry.ai_addrlen as usize;
    if entry.ai_addr.is_null() || length > mem::size_of::<socket2::SockAddrStorage>() {
        return None;
    }
    // SAFETY: ai_addr points at ai_addrlen readable bytes, which fit the storage
    // (checked above); the rest of the storage stays zeroed.
    let ((), address) = unsafe {
        socket2::SockAddr::try_init(|storage, stored_length| {
            ptr::copy_nonoverlapping(entry.ai_addr.cast::<u8>(), storage.cast::<u8>(), length);
            *stored_length = length as _;
            Ok(())
        })
    }
    .ok()?;
    let socket_addr = address.as_socket()?;
    let family = match socket_addr {
        SocketAddr::V4(_) => Family::Inet,
        SocketAddr::V6(_) => Family::Inet6,
    };
    Some((family, socket_addr))
}

/// `getnameinfo` on one entry: its host and/or service name, as `flags` asks.
fn name_of(
    entry: &c::addrinfo,
    flags: c_int,
    want_host: bool,
    want_service: bool,
) -> Result<(String, String)> {
    let mut host = [0 as c_char; c::NI_MAXHOST as usize];
    let mut service = [0 as c_char; 32];
    let (host_ptr, host_len) = if want_host {
        (host.as_mut_ptr(), host.len())
    } else {
        (ptr::null_mut(), 0)
    };
    let (service_ptr, service_len) = if want_service {
        (service.as_mut_ptr(), service.len())
    } else {
        (ptr::null_mut(), 0)
    };
    // SAFETY: ai_addr/ai_addrlen describe a valid address; each output buffer is
    // null with length 0 or writable for the length given.
    let status = unsafe {
        c::getnameinfo(
            entry.ai_addr,
            entry.ai_addrlen as _,
            host_ptr.cast(),
            // socklen_t on Linux and macOS, size_t on FreeBSD.
            host_len as _,
            service_ptr.cast(),
            service_len as _,
            flags,
        )
    };
    if status != 0 {
        return Err(resolve_error(status));
    }
    // SAFETY: getnameinfo terminates what it writes; untouched buffers are all zero.
    let host = unsafe { c_string(host.as_ptr()) };
    // SAFETY: as above.
    let service = unsafe { c_string(service.as_ptr()) };
    Ok((host, service))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toip_of_localhost_and_loopback() {
        let (ip, info) = toip("localhost").unwrap();
        assert_eq!(ip, Ipv4Addr::LOCALHOST);
        assert!(info.addresses.contains(&Ipv4Addr::LOCALHOST));
        let (ip, info) = toip("127.0.0.1").unwrap();
        assert_eq!(ip, Ipv4Addr::LOCALHOST);
        assert_eq!(info.addresses, vec![Ipv4Addr::LOCALHOST]);
        assert!(!info.name.is_empty());
    }

    #[test]
    fn tohostname_of_loopback() {
        let (name, info) = tohostname("127.0.0.1").unwrap();
        assert_eq!(name, info.name);
        assert_eq!(toip(&name).unwrap().0, Ipv4Addr::LOCALHOST);
    }

    #[test]
    fn host_database_errors() {
        // An IPv6 literal is not an IPv4 host name: rejected without a query.
        assert_eq!(toip("::1").unwrap_err().to_string(), "host not found");
        assert_eq!(toip("a\0b").unwrap_err().to_string(), "host not found");
    }

    #[test]
    fn getaddrinfo_numeric_and_localhost() {
        let found = getaddrinfo(Some("127.0.0.1"), None, &Hints::default()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].family, Family::Inet);
        assert_eq!(found[0].addr, "127.0.0.1");
        let found = getaddrinfo(Some("::1"), Some("8080"), &Hints::default()).unwrap();
        assert_eq!(found[0].family, Family::Inet6);
        assert_eq!(found[0].addr, "::1");
        assert_eq!(found[0].socket_addr, "[::1]:8080".parse().unwrap());
        let found = getaddrinfo(Some("localhost"), None, &Hints::default()).unwrap();
        assert!(found
            .iter()
            .any(|a| a.addr == "127.0.0.1" || a.addr == "::1"));
    }

    #[test]
    fn getaddrinfo_hints() {
        let inet6 = Hints {
            family: Family::Inet6,
            passive: true,
            ..Hints::default()
        };
        let found = getaddrinfo(None, Some("0"), &inet6).unwrap();
        assert_eq!(found[0].addr, "::");
        let passive = Hints {
            family: Family::Inet,
            passive: true,
            ..Hints::default()
        };
        let found = getaddrinfo(None, Some("0"), &passive).unwrap();
        assert_eq!(found[0].addr, "0.0.0.0");
        let datagram = Hints {
            kind: SocketKind::Datagram,
            ..Hints::default()
        };
        assert_eq!(
            getaddrinfo(Some("127.0.0.1"), Some("53"), &datagram)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn getaddrinfo_errors_use_luasocket_strings() {
        let empty = getaddrinfo(Some(""), None, &Hints::default()).unwrap_err();
        assert_eq!(
            empty.to_string(),
            "host or service not provided, or not known"
        );
        let both_missing = getaddrinfo(None, None, &Hints::default()).unwrap_err();
        assert_eq!(
            both_missing.to_string(),
            "host or service not provided, or not known"
        );
        assert_eq!(
            resolve_error(libc::EAI_AGAIN).to_string(),
            "temporary failure in name resolution"
        );
        assert_eq!(
            resolve_error(libc::EAI_FAMILY).to_string(),
            "ai_family not supported"
        );
        assert_eq!(
            resolve_error(libc::EAI_SERVICE).to_string(),
            "service not supported for socket type"
        );
    }

    #[test]
    fn getnameinfo_names_hosts_and_services() {
        let names = getnameinfo(Some("127.0.0.1"), None).unwrap();
        assert_eq!(names.hosts.len(), 1);
        assert!(names.service.is_none());
        let names = getnameinfo(None, Some("0")).unwrap();
        assert!(names.hosts.is_empty());
        assert_eq!(names.service.as_deref(), Some("0"));
        let names = getnameinfo(Some("127.0.0.1"), Some("1")).unwrap();
        assert!(names.service.is_some());
    }

    #[test]
    fn gethostname_is_not_empty() {
        assert!(!gethostname().unwrap().is_empty());
    }

    #[test]
    fn families_by_name() {
        for family in [Family::Unspec, Family::Inet, Family::Inet6] {
            assert_eq!(Family::from_name(family.name()), Some(family));
        }
        assert_eq!(Family::from_name("unix"), None);
    }

    #[test]
    fn lookups_run_on_other_threads() {
        let handle = std::thread::spawn(|| toip("localhost").map(|(ip, _)| ip).ok());
        assert_eq!(handle.join().unwrap(), Some(Ipv4Addr::LOCALHOST));
    }
}
