//! `select` over any number of descriptors, built on `poll(2)`.
//!
//! LuaSocket's `select` uses `select(2)` and so refuses descriptors at or above
//! `FD_SETSIZE` (1024). Polling a list has no such cap: any descriptor the process
//! may open can be watched, and thousands of them at once.

use std::io;
use std::time::{Duration, Instant};

use crate::sys::{self, PollEvents, PollFd, RawSocket};
use crate::{Error, Result};

/// Which of the watched descriptors [`select`] found ready, each list in ascending
/// descriptor order (the order LuaSocket returns sockets in).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ready {
    /// Descriptors with data to read, a pending connection, end of file or an error.
    pub read: Vec<RawSocket>,
    /// Descriptors that can be written without blocking, or have an error.
    pub write: Vec<RawSocket>,
}

/// Waits until one of `read` is readable or one of `write` is writable.
///
/// `timeout` of `None` waits forever; `Some(Duration::ZERO)` only checks. A wait
/// interrupted by a signal is resumed for the time that remains. Negative
/// descriptors are ignored, a descriptor may appear in both lists, and duplicates
/// are reported once.
///
/// Returns [`Error::Timeout`] when nothing became ready in time, and the
/// `EBADF` error when a watched descriptor is not open (as `select(2)` does).
pub fn select(read: &[RawSocket], write: &[RawSocket], timeout: Option<Duration>) -> Result<Ready> {
    let mut watched = watch_list(read, write);
    let deadline = timeout.and_then(|wait| Instant::now().checked_add(wait));
    loop {
        let remaining = match (timeout, deadline) {
            (None, _) => None,
            (Some(_), Some(deadline)) => Some(deadline.saturating_duration_since(Instant::now())),
            // A wait too long to represent as an instant is a wait forever.
            (Some(_), None) => None,
        };
        match sys::poll(&mut watched, remaining) {
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
    sys::max_descriptors()
}

/// One `pollfd` per distinct descriptor, sorted by descriptor, asking for input
/// and/or output as the two lists request.
fn watch_list(read: &[RawSocket], write: &[RawSocket]) -> Vec<PollFd> {
    let mut wanted: Vec<(RawSocket, PollEvents)> = read
        .iter()
        .map(|&fd| (fd, sys::POLL_IN))
        .chain(write.iter().map(|&fd| (fd, sys::POLL_OUT)))
        .filter(|&(fd, _)| sys::is_valid(fd))
        .collect();
    wanted.sort_unstable_by_key(|&(fd, _)| fd);
    let mut watched: Vec<PollFd> = Vec::with_capacity(wanted.len());
    for (fd, events) in wanted {
        match watched.last_mut() {
            Some(last) if sys::entry_fd(last) == fd => last.events |= events,
            _ => watched.push(sys::poll_entry(fd, events)),
        }
    }
    watched
}

fn collect_ready(watched: &[PollFd]) -> Result<Ready> {
    let mut ready = Ready::default();
    for entry in watched {
        if entry.revents & sys::POLL_INVALID != 0 {
            return Err(Error::Os(io::Error::from_raw_os_error(
                sys::code::BAD_DESCRIPTOR,
            )));
        }
        if entry.events & sys::POLL_IN != 0 && entry.revents & sys::READ_EVENTS != 0 {
            ready.read.push(sys::entry_fd(entry));
        }
        if entry.events & sys::POLL_OUT != 0 && entry.revents & sys::WRITE_EVENTS != 0 {
            ready.write.push(sys::entry_fd(entry));
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
        let watched: Vec<RawSocket> = pairs
            .iter()
            .flat_map(|(a, b)| [b.as_raw_fd(), a.as_raw_fd()])
            .collect();
        assert!(watched
            .iter()
            .any(|&fd| fd >= libc::FD_SETSIZE as RawSocket));
        let receivers: Vec<RawSocket> = pairs.iter().map(|(_, b)| b.as_raw_fd()).collect();

        let ready = select(&receivers, &[], Some(Duration::from_secs(10))).unwrap();
        assert_eq!(ready.read, expected);

        let ready = select(&watched, &watched, Some(Duration::from_secs(10))).unwrap();
        assert_eq!(ready.read, expected);
        assert_eq!(ready.write.len(), SOCKETS);
    }
}
