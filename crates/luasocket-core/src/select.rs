//! `select` on `poll(2)`: any number of descriptors, of any value (no `FD_SETSIZE`).

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// Which of the descriptors given to [`select`] are ready, by their index in the input.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Selected {
    /// Indexes into the `read` slice.
    pub readable: Vec<usize>,
    /// Indexes into the `write` slice.
    pub writable: Vec<usize>,
}

/// Waits until one of `read` is readable or one of `write` writable, at most `timeout`
/// (`None`: no limit). Negative descriptors are skipped. Returns [`Error::Timeout`]
/// when the time ran out with nothing ready.
pub fn select(read: &[RawFd], write: &[RawFd], timeout: Option<Duration>) -> Result<Selected> {
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(read.len() + write.len());
    fds.extend(read.iter().map(|&fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }));
    fds.extend(write.iter().map(|&fd| libc::pollfd {
        fd,
        events: libc::POLLOUT,
        revents: 0,
    }));
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
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
        // SAFETY: `fds` is a live array of exactly `fds.len()` pollfd entries (poll
        // ignores negative descriptors), and `timespec` outlives the call.
        let n = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                timespec_ptr,
                std::ptr::null(),
            )
        };
        if n > 0 {
            break;
        }
        if n == 0 {
            return Err(Error::Timeout);
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(Error::Os(err));
        }
    }
    let ready = |p: &libc::pollfd, wanted: libc::c_short| {
        p.fd >= 0 && p.revents & (wanted | libc::POLLERR | libc::POLLHUP) != 0
    };
    let (r, w) = fds.split_at(read.len());
    Ok(Selected {
        readable: r
            .iter()
            .enumerate()
            .filter(|(_, p)| ready(p, libc::POLLIN))
            .map(|(i, _)| i)
            .collect(),
        writable: w
            .iter()
            .enumerate()
            .filter(|(_, p)| ready(p, libc::POLLOUT))
            .map(|(i, _)| i)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    fn raise_fd_limit() {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit read and write only the struct on our stack.
        unsafe {
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }

    #[test]
    fn two_thousand_sockets_and_high_descriptors() {
        raise_fd_limit();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let mut pairs = Vec::new();
        for _ in 0..1000 {
            let client = std::net::TcpStream::connect(address).unwrap();
            let (server, _) = listener.accept().unwrap();
            pairs.push((client, server));
        }
        let fds: Vec<RawFd> = pairs
            .iter()
            .flat_map(|(c, s)| [c.as_raw_fd(), s.as_raw_fd()])
            .collect();
        assert!(fds.iter().any(|&fd| fd >= 1024));
        assert!(matches!(
            select(&fds, &[], Some(Duration::from_millis(10))),
            Err(Error::Timeout)
        ));
        pairs[999].0.write_all(b"x").unwrap();
        let selected = select(&fds, &[], Some(Duration::from_secs(5))).unwrap();
        assert_eq!(selected.readable, vec![1999]);
        let writable = select(&[], &fds[..10], None).unwrap();
        assert_eq!(writable.writable.len(), 10);
        assert!(matches!(
            select(&[-1], &[], Some(Duration::ZERO)),
            Err(Error::Timeout)
        ));
    }
}
