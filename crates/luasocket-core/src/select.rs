//! `select` over any number of descriptors, built on `poll(2)`.
//!
//! LuaSocket's `select` uses `select(2)` and so refuses descriptors at or above
//! `FD_SETSIZE` (1024). Polling a list has no such cap: any descriptor the process
//! may open can be watched, and thousands of them at once.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Which of the watched descriptors [`select`] found ready, each list in ascending
/// descriptor order (the order LuaSocket returns sockets in).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ready {
    /// Descriptors with data to read, a pending connection, end of file or an error.
    pub read: Vec<RawFd>,
    /// Descriptors that can be written without blocking, or have an error.
    pub write: Vec<RawFd>,
}

/// The readiness conditions `select(2)` reports in its read set (Linux's
/// `POLLIN_SET`): a hang-up or error is readable so the caller learns of it.
const READ_EVENTS: libc::c_short =
    libc::POLLIN | libc::POLLRDNORM | libc::POLLRDBAND | libc::POLLHUP | libc::POLLERR;

/// The conditions `select(2)` reports in its write set (Linux's `POLLOUT_SET`).
const WRITE_EVENTS: libc::c_short =
    libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND | libc::POLLERR;

/// Waits until one of `read` is readable or one of `write` is writable.
///
/// `timeout` of `None` waits forever; `Some(Duration::ZERO)` only checks. A wait
/// interrupted by a signal is resumed for the time that remains. Negative
/// descriptors are ignored, a descriptor may appear in both lists, and duplicates
/// are reported once.
///
/// Returns [`Error::Timeout`] when nothing became ready in time, and the
/// `EBADF` error when a watched descriptor is not open (as `select(2)` does).
pub fn select(read: &[RawFd], write: &[RawFd], timeout: Option<Duration>) -> Result<Ready> {
    let mut watched = watch_list(read, write);
    let deadline = timeout.and_then(|wait| Instant::now().checked_add(wait));
    loop {
        let remaining = match (timeout, deadline) {
            (None, _) => None,
            (Some(_), Some(deadline)) => Some(deadline.saturating_duration_since(Instant::now())),
            // A wait too long to represent as an instant is a wait forever.
            (Some(_), None) => None,
        };
        match poll(&mut watched, remaining) {
            Ok(0) => return Err(Error::Timeout),
            Ok(_) => return collect_ready(&watched),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(Error::Os(err)),
        }
    }
}

/// The largest number of descriptors this process can ever have open: the hard
/// `RLIMIT_NOFILE` limit (the soft limit can be raised up to it), capped to
/// `i32::MAX` when unlimited. [`select`] accepts that many, so this is what
/// `socket._SETSIZE` reports.
pub fn max_descriptors() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid, writable `rlimit` for the duration of the call.
    let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    let hard = if status == 0 {
        limit.rlim_max
    } else {
        libc::FD_SETSIZE as libc::rlim_t
    };
    usize::try_from(hard.min(i32::MAX as libc::rlim_t)).unwrap_or(i32::MAX as usize)
}

/// One `pollfd` per distinct descriptor, sorted by descriptor, asking for input
/// and/or output as the two lists request.
fn watch_list(read: &[RawFd], write: &[RawFd]) -> Vec<libc::pollfd> {
    let mut wanted: Vec<(RawFd, libc::c_short)> = read
        .iter()
        .map(|&fd| (fd, libc::POLLIN))
        .chain(write.iter().map(|&fd| (fd, libc::POLLOUT)))
        .filter(|&(fd, _)| fd >= 0)
        .collect();
    wanted.sort_unstable_by_key(|&(fd, _)| fd);
    let mut watched: Vec<libc::pollfd> = Vec::with_capacity(wanted.len());
    for (fd, events) in wanted {
        match watched.last_mut() {
            Some(last) if last.fd == fd => last.events |= events,
            _ => watched.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            }),
        }
    }
    watched
}

/// One `ppoll(2)` call (nanosecond timeout, no millisecond rounding or overflow).
fn poll(watched: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<usize> {
    let timespec = timeout.and_then(|wait| {
        Some(libc::timespec {
            tv_sec: libc::time_t::try_from(wait.as_secs()).ok()?,
            // Below 10^9, so it fits any `c_long`.
            tv_nsec: wait.subsec_nanos() as libc::c_long,
        })
    });
    let timespec_ptr = timespec
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    let count = watched.len() as libc::nfds_t;
    // SAFETY: `watched` is a valid, writable array of `count` pollfds; the timespec
    // pointer is null or points at `timespec`, alive until the call returns; a null
    // signal mask leaves the mask unchanged.
    let ready = unsafe { libc::ppoll(watched.as_mut_ptr(), count, timespec_ptr, std::ptr::null()) };
    if ready < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ready as usize)
    }
}

fn collect_ready(watched: &[libc::pollfd]) -> Result<Ready> {
    let mut ready = Ready::default();
    for entry in watched {
        if entry.revents & libc::POLLNVAL != 0 {
            return Err(Error::Os(io::Error::from_raw_os_error(libc::EBADF)));
        }
        if entry.events & libc::POLLIN != 0 && entry.revents & READ_EVENTS != 0 {
            ready.read.push(entry.fd);
        }
        if entry.events & libc::POLLOUT != 0 && entry.revents & WRITE_EVENTS != 0 {
            ready.write.push(entry.fd);
        }
    }
    Ok(ready)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    fn pair() -> (UnixStream, UnixStream) {
        UnixStream::pair().expect("socketpair")
    }

    #[test]
    fn readable_after_write_and_writable_when_buffer_has_room() {
        let (mut a, b) = pair();
        let quiet = select(&[b.as_raw_fd()], &[], Some(Duration::ZERO));
        assert!(matches!(quiet, Err(Error::Timeout)));
        a.write_all(b"x").unwrap();
        let ready = select(&[b.as_raw_fd()], &[a.as_raw_fd()], None).unwrap();
        assert_eq!(ready.read, vec![b.as_raw_fd()]);
        assert_eq!(ready.write, vec![a.as_raw_fd()]);
    }

    #[test]
    fn same_descriptor_in_both_lists_and_duplicates() {
        let (mut a, b) = pair();
        a.write_all(b"x").unwrap();
        let fd = b.as_raw_fd();
        let ready = select(&[fd, fd], &[fd], Some(Duration::from_secs(5))).unwrap();
        assert_eq!(ready.read, vec![fd]);
        assert_eq!(ready.write, vec![fd]);
    }

    #[test]
    fn hang_up_is_readable() {
        let (a, b) = pair();
        drop(a);
        let ready = select(&[b.as_raw_fd()], &[], Some(Duration::from_secs(5))).unwrap();
        assert_eq!(ready.read, vec![b.as_raw_fd()]);
    }

    #[test]
    fn empty_lists_time_out() {
        let result = select(&[], &[], Some(Duration::from_millis(10)));
        assert!(matches!(result, Err(Error::Timeout)));
        let negative = select(&[-1], &[-5], Some(Duration::ZERO));
        assert!(matches!(negative, Err(Error::Timeout)));
    }

    #[test]
    fn unopened_descriptor_is_an_error() {
        // Far above any descriptor limit, so never open.
        let result = select(&[i32::MAX - 1], &[], Some(Duration::ZERO));
        assert!(matches!(result, Err(Error::Os(ref e)) if e.raw_os_error() == Some(libc::EBADF)));
    }

    #[test]
    fn huge_timeout_is_a_long_wait_not_a_panic() {
        let (mut a, b) = pair();
        a.write_all(b"x").unwrap();
        let ready = select(&[b.as_raw_fd()], &[], Some(Duration::MAX)).unwrap();
        assert_eq!(ready.read, vec![b.as_raw_fd()]);
    }

    #[test]
    fn max_descriptors_is_at_least_the_soft_limit() {
        assert!(max_descriptors() >= 64);
    }

    /// Raises the soft descriptor limit to the hard one; returns the new soft limit.
    fn raise_descriptor_limit() -> libc::rlim_t {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid, writable `rlimit`.
        let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
        assert_eq!(status, 0);
        let hard = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: `hard` is a valid `rlimit` whose soft value equals the hard one.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &hard) } == 0 {
            hard.rlim_cur
        } else {
            limit.rlim_cur
        }
    }

    #[test]
    fn two_thousand_sockets_beyond_fd_setsize() {
        const SOCKETS: usize = 2_000;
        if raise_descriptor_limit() < (SOCKETS + 256) as libc::rlim_t {
            eprintln!("skipped: RLIMIT_NOFILE hard limit too low for {SOCKETS} sockets");
            return;
        }
        let pairs: Vec<(UnixStream, UnixStream)> = (0..SOCKETS / 2).map(|_| pair()).collect();
        let mut expected = Vec::new();
        for (index, (a, b)) in pairs.iter().enumerate() {
            if index % 3 == 0 {
                (&*a).write_all(b"x").unwrap();
                expected.push(b.as_raw_fd());
            }
        }
        expected.sort_unstable();
        let watched: Vec<RawFd> = pairs
            .iter()
            .flat_map(|(a, b)| [b.as_raw_fd(), a.as_raw_fd()])
            .collect();
        assert!(watched.iter().any(|&fd| fd >= libc::FD_SETSIZE as RawFd));
        let receivers: Vec<RawFd> = pairs.iter().map(|(_, b)| b.as_raw_fd()).collect();

        let ready = select(&receivers, &[], Some(Duration::from_secs(10))).unwrap();
        assert_eq!(ready.read, expected);

        let ready = select(&watched, &watched, Some(Duration::from_secs(10))).unwrap();
        assert_eq!(ready.read, expected);
        assert_eq!(ready.write.len(), SOCKETS);
    }
}
