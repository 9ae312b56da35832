//! Waiting for one descriptor with `ppoll(2)`: how blocking calls honour their timeout
//! on sockets that are non-blocking underneath.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// What to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Readable (or accept-able, or closed by the peer).
    Read,
    /// Writable (or a finished connect).
    Write,
}

/// Waits until `fd` is ready in `direction`, or `limit` passes (`None`: no limit).
/// Errors and hang-ups count as ready: the operation retried next reports them.
pub fn wait_fd(fd: RawFd, direction: Direction, limit: Option<Duration>) -> Result<()> {
    let events = match direction {
        Direction::Read => libc::POLLIN,
        Direction::Write => libc::POLLOUT,
    };
    let deadline = limit.and_then(|l| Instant::now().checked_add(l));
    loop {
        let mut pollfd = libc::pollfd {
            fd,
            events,
            revents: 0,
        };
        let timespec = deadline.map(|d| {
            let left = d.saturating_duration_since(Instant::now());
            libc::timespec {
                tv_sec: left.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            }
        });
        let timespec_ptr = timespec
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `pollfd` and `timespec` live on this stack frame for the whole call,
        // and we pass a count of exactly one descriptor.
        let n = unsafe { libc::ppoll(&mut pollfd, 1, timespec_ptr, std::ptr::null()) };
        if n > 0 {
            return Ok(());
        }
        if n == 0 {
            return Err(Error::Timeout);
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(Error::Os(err));
        }
    }
}
