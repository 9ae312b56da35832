//! The host database (`gethostbyname`/`gethostbyaddr`), which `toip` and
//! `tohostname` go through as LuaSocket's do.
//!
//! glibc, musl and FreeBSD have re-entrant variants (`_r`), so lookups may run on any
//! thread. macOS has none, but its classic calls keep their result per thread
//! (libinfo); a lock still serialises them, as other libraries in the process may
//! not expect concurrent callers.

use std::ffi::{c_char, c_int, CStr, CString};

use crate::dns::HostInfo;
use crate::{Error, Result};

const HOST_NOT_FOUND_MESSAGE: &str = "host not found";

// `inet_aton`, present in every Unix C library but not declared by the libc crate.
extern "C" {
    fn inet_aton(cp: *const c_char, inp: *mut libc::in_addr) -> c_int;
}

/// A dotted address (in any form `inet_aton` accepts, as LuaSocket) is looked up
/// by address, anything else by name. `copy` reads the answer out of the
/// resolver's memory while it is valid.
pub(crate) fn lookup_host(
    address: &str,
    copy: unsafe fn(&libc::hostent) -> HostInfo,
) -> Result<HostInfo> {
    let name = CString::new(address).map_err(|_| not_found())?;
    let mut numeric = libc::in_addr { s_addr: 0 };
    // SAFETY: `name` is a terminated string and `numeric` a writable in_addr.
    let is_numeric = unsafe { inet_aton(name.as_ptr(), &mut numeric) } != 0;
    lookup(&name, is_numeric.then_some(numeric), copy)
}

fn not_found() -> Error {
    Error::Resolve(HOST_NOT_FOUND_MESSAGE.to_owned())
}

/// `h_errno` values (netdb.h), which the libc crate does not define.
#[cfg(not(target_vendor = "apple"))]
const NETDB_INTERNAL: c_int = -1;
#[cfg(not(target_vendor = "apple"))]
const HOST_NOT_FOUND: c_int = 1;

/// The host database's answers are copied out of this buffer; lookups that need
/// more (`ERANGE`) retry with a bigger one, up to the limit.
#[cfg(not(target_vendor = "apple"))]
const HOST_BUFFER_START: usize = 4096;
#[cfg(not(target_vendor = "apple"))]
const HOST_BUFFER_LIMIT: usize = 1 << 20;

#[cfg(not(target_vendor = "apple"))]
extern "C" {
    fn gethostbyname_r(
        name: *const c_char,
        ret: *mut libc::hostent,
        buf: *mut c_char,
        buflen: libc::size_t,
        result: *mut *mut libc::hostent,
        h_errnop: *mut c_int,
    ) -> c_int;
    fn gethostbyaddr_r(
        addr: *const std::ffi::c_void,
        len: libc::socklen_t,
        family: c_int,
        ret: *mut libc::hostent,
        buf: *mut c_char,
        buflen: libc::size_t,
        result: *mut *mut libc::hostent,
        h_errnop: *mut c_int,
    ) -> c_int;
}

#[cfg(not(target_vendor = "apple"))]
fn lookup(
    name: &CStr,
    numeric: Option<libc::in_addr>,
    copy: unsafe fn(&libc::hostent) -> HostInfo,
) -> Result<HostInfo> {
    use std::{io, mem, ptr};
    let mut buffer = vec![0 as c_char; HOST_BUFFER_START];
    loop {
        // SAFETY: hostent is plain data for which all-zero is a valid value.
        let mut entry: libc::hostent = unsafe { mem::zeroed() };
        let mut result: *mut libc::hostent = ptr::null_mut();
        let mut h_errno: c_int = 0;
        let status = if let Some(numeric) = &numeric {
            // SAFETY: `numeric` is a valid in_addr of the given length; `entry`,
            // `buffer`, `result` and `h_errno` are writable for the call.
            unsafe {
                gethostbyaddr_r(
                    (numeric as *const libc::in_addr).cast(),
                    mem::size_of::<libc::in_addr>() as libc::socklen_t,
                    libc::AF_INET,
                    &mut entry,
                    buffer.as_mut_ptr(),
                    buffer.len(),
                    &mut result,
                    &mut h_errno,
                )
            }
        } else {
            // SAFETY: `name` is a terminated string; the out-parameters are writable.
            unsafe {
                gethostbyname_r(
                    name.as_ptr(),
                    &mut entry,
                    buffer.as_mut_ptr(),
                    buffer.len(),
                    &mut result,
                    &mut h_errno,
                )
            }
        };
        if status == libc::ERANGE && buffer.len() < HOST_BUFFER_LIMIT {
            buffer.resize(buffer.len() * 2, 0);
            continue;
        }
        if !result.is_null() {
            // SAFETY: on success `result` points at `entry`, whose pointers lead into
            // `buffer`, both alive here.
            return Ok(unsafe { copy(&*result) });
        }
        return Err(match (status, h_errno) {
            (0, HOST_NOT_FOUND) | (0, 0) => not_found(),
            (0, NETDB_INTERNAL) => Error::Os(io::Error::last_os_error()),
            (0, code) => {
                // SAFETY: hstrerror accepts any code and returns a static string.
                let text = unsafe { CStr::from_ptr(libc::hstrerror(code)) };
                Error::Resolve(text.to_string_lossy().into_owned())
            }
            (errno, _) => Error::Os(io::Error::from_raw_os_error(errno)),
        });
    }
}

#[cfg(target_vendor = "apple")]
extern "C" {
    fn gethostbyname(name: *const c_char) -> *mut libc::hostent;
    fn gethostbyaddr(
        addr: *const std::ffi::c_void,
        len: libc::socklen_t,
        family: c_int,
    ) -> *mut libc::hostent;
}

/// Without `h_errno` in the libc crate, every failure reads "host not found", the
/// answer LuaSocket gives for the common one.
#[cfg(target_vendor = "apple")]
fn lookup(
    name: &CStr,
    numeric: Option<libc::in_addr>,
    copy: unsafe fn(&libc::hostent) -> HostInfo,
) -> Result<HostInfo> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _held = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let result = match &numeric {
        // SAFETY: `numeric` is a valid in_addr of the given length.
        Some(numeric) => unsafe {
            gethostbyaddr(
                (numeric as *const libc::in_addr).cast(),
                std::mem::size_of::<libc::in_addr>() as libc::socklen_t,
                libc::AF_INET,
            )
        },
        // SAFETY: `name` is a terminated string.
        None => unsafe { gethostbyname(name.as_ptr()) },
    };
    if result.is_null() {
        return Err(not_found());
    }
    // SAFETY: a non-null result points at the resolver's per-thread hostent, valid
    // until the next lookup on this thread, which the lock keeps out.
    Ok(unsafe { copy(&*result) })
}
