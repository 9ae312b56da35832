//! The host database (`gethostbyname`/`gethostbyaddr`), which `toip` and
//! `tohostname` go through as LuaSocket's do.
//!
//! Winsock keeps each call's answer per thread; a lock still serialises the
//! lookups, as other libraries in the process may not expect concurrent callers.

use std::ffi::CString;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use windows_sys::Win32::Networking::WinSock as ws;

use crate::dns::HostInfo;
use crate::{Error, Result};

static LOOKUP: Mutex<()> = Mutex::new(());

/// A dotted address is looked up by address, anything else by name. `copy`
/// reads the answer out of Winsock's memory while it is valid. Failures read as
/// wsocket.c's `socket_hoststrerror` words them.
pub(crate) fn lookup_host(
    address: &str,
    copy: unsafe fn(&ws::HOSTENT) -> HostInfo,
) -> Result<HostInfo> {
    let not_found = || Error::Resolve("host not found".to_owned());
    let name = CString::new(address).map_err(|_| not_found())?;
    crate::sys::startup();
    let _serial = LOOKUP
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let entry = match address.parse::<Ipv4Addr>() {
        Ok(numeric) => {
            let octets = numeric.octets();
            // SAFETY: the address points at 4 readable bytes, the length given.
            unsafe { ws::gethostbyaddr(octets.as_ptr(), 4, i32::from(ws::AF_INET)) }
        }
        // SAFETY: `name` is a terminated string.
        Err(_) => unsafe { ws::gethostbyname(name.as_ptr().cast()) },
    };
    // SAFETY: a non-null answer points at Winsock's per-thread hostent, valid until
    // this thread's next host database call, which the lock keeps away.
    match unsafe { entry.as_ref() } {
        // SAFETY: as above.
        Some(entry) => Ok(unsafe { copy(entry) }),
        None => {
            // SAFETY: reads this thread's last Winsock error.
            let code = unsafe { ws::WSAGetLastError() };
            Err(match crate::sys::code::luasocket_message(code) {
                Some(message) => Error::Resolve(message.to_owned()),
                None => not_found(),
            })
        }
    }
}
