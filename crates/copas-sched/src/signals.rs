//! Process signals as loop events, through a self-pipe.
//!
//! The handler installed for a watched signal only sets that signal's pending flag
//! and writes one byte into a non-blocking pipe (both async-signal-safe). The pipe's
//! read end is registered with a reactor like any descriptor, so a signal wakes a loop
//! asleep in `epoll_wait`; the loop then calls [`take_pending`] and runs its handlers
//! as ordinary tasks. Deliveries of one signal before the loop looks coalesce, as
//! standard signals do.
//!
//! The pipe and the flags are process-wide: one loop per process should watch
//! signals. After `fork` the child calls [`reset_after_fork`] so that parent and
//! child stop sharing one pipe.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Highest signal number handled (Linux has 64, real-time signals included).
const MAX_SIGNAL: usize = 64;

static PENDING: [AtomicBool; MAX_SIGNAL + 1] = [const { AtomicBool::new(false) }; MAX_SIGNAL + 1];
static WATCHED: [AtomicBool; MAX_SIGNAL + 1] = [const { AtomicBool::new(false) }; MAX_SIGNAL + 1];
static READ_END: AtomicI32 = AtomicI32::new(-1);
static WRITE_END: AtomicI32 = AtomicI32::new(-1);

/// Signal names as `kill -l` spells them without `SIG`, and their numbers.
const NAMES: &[(&str, libc::c_int)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("WINCH", libc::SIGWINCH),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
];

/// The number of a signal named `TERM` or `SIGTERM` (any case), if it is one a
/// program may watch: not KILL or STOP (which cannot be caught) nor the signals a
/// fault raises (SEGV, BUS, FPE, ILL: their handler must not return).
pub fn number(name: &str) -> Option<libc::c_int> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    NAMES
        .iter()
        .find(|(n, _)| *n == bare)
        .map(|&(_, number)| number)
}

/// The name (`TERM`) of a watchable signal number.
pub fn name(number: libc::c_int) -> Option<&'static str> {
    NAMES.iter().find(|(_, n)| *n == number).map(|&(n, _)| n)
}

extern "C" fn on_signal(signal: libc::c_int) {
    let saved = errno();
    if let Some(flag) = usize::try_from(signal).ok().and_then(|s| PENDING.get(s)) {
        flag.store(true, Ordering::SeqCst);
    }
    let fd = WRITE_END.load(Ordering::SeqCst);
    if fd >= 0 {
        let byte = 1u8;
        // SAFETY: write(2) is async-signal-safe; the buffer is one live byte. A full
        // pipe (EAGAIN) is fine: a wake-up is already pending.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
    set_errno(saved);
}

/// errno is thread-local; a handler saves and restores it so the interrupted code
/// sees its own value.
fn errno() -> libc::c_int {
    // SAFETY: __errno_location returns this thread's errno, always valid.
    unsafe { *libc::__errno_location() }
}

fn set_errno(value: libc::c_int) {
    // SAFETY: as in errno().
    unsafe { *libc::__errno_location() = value };
}

fn open_pipe() -> io::Result<()> {
    let mut fds = [-1 as libc::c_int; 2];
    // SAFETY: fds is an array of two descriptors, as pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(io::Error::last_os_error());
    }
    READ_END.store(fds[0], Ordering::SeqCst);
    WRITE_END.store(fds[1], Ordering::SeqCst);
    Ok(())
}

fn set_disposition(signal: libc::c_int, handler: libc::sighandler_t) -> io::Result<()> {
    // SAFETY: sigaction is plain data for which all-zero is valid (empty mask, no flags).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    // SA_RESTART: system calls of the program (blocking reads) are not cut short
    // with EINTR by a signal it watches.
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: the action is initialized; the old action is not asked for.
    if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Starts delivering `signal` through the pipe; returns the pipe's read end, to be
/// registered with the loop's reactor (the same descriptor for every signal).
pub fn watch(signal: libc::c_int) -> io::Result<RawFd> {
    if name(signal).is_none() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    if READ_END.load(Ordering::SeqCst) < 0 {
        open_pipe()?;
    }
    set_disposition(
        signal,
        on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
    )?;
    WATCHED[signal as usize].store(true, Ordering::SeqCst);
    Ok(READ_END.load(Ordering::SeqCst))
}

/// Gives `signal` back its default action (SIGPIPE: ignored, see [`ignore_sigpipe`]).
pub fn unwatch(signal: libc::c_int) -> io::Result<()> {
    if name(signal).is_none() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    WATCHED[signal as usize].store(false, Ordering::SeqCst);
    PENDING[signal as usize].store(false, Ordering::SeqCst);
    let default = if signal == libc::SIGPIPE {
        libc::SIG_IGN
    } else {
        libc::SIG_DFL
    };
    set_disposition(signal, default)
}

/// The read end of the pipe, if a signal was ever watched.
pub fn pipe_fd() -> Option<RawFd> {
    let fd = READ_END.load(Ordering::SeqCst);
    (fd >= 0).then_some(fd)
}

/// Empties the pipe and returns the watched signals delivered since the last call,
/// in ascending order.
pub fn take_pending() -> Vec<libc::c_int> {
    let fd = READ_END.load(Ordering::SeqCst);
    if fd >= 0 {
        let mut sink = [0u8; 64];
        // SAFETY: the buffer is live and as long as passed; the pipe is
        // non-blocking, so the loop ends at EAGAIN.
        while unsafe { libc::read(fd, sink.as_mut_ptr().cast(), sink.len()) } > 0 {}
    }
    (1..=MAX_SIGNAL)
        .filter(|&s| WATCHED[s].load(Ordering::SeqCst) && PENDING[s].swap(false, Ordering::SeqCst))
        .map(|s| s as libc::c_int)
        .collect()
}

/// Ignores SIGPIPE unless the program chose a disposition for it: a write to a pipe
/// or socket whose reader is gone then fails with EPIPE instead of ending the
/// process (LuaSocket does the same when it loads).
pub fn ignore_sigpipe() {
    // SAFETY: sigaction is plain data for which all-zero is valid.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`.
    if unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) } == 0
        && old.sa_sigaction == libc::SIG_DFL
    {
        let _ = set_disposition(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// In a child just forked: every watched signal gets its default action back and the
/// pipe shared with the parent is replaced by none (the child watches anew).
pub fn reset_after_fork() {
    for signal in 1..=MAX_SIGNAL {
        if WATCHED[signal].swap(false, Ordering::SeqCst) {
            let _ = unwatch(signal as libc::c_int);
        }
        PENDING[signal].store(false, Ordering::SeqCst);
    }
    for end in [&READ_END, &WRITE_END] {
        let fd = end.swap(-1, Ordering::SeqCst);
        if fd >= 0 {
            // SAFETY: the descriptor is ours (made by open_pipe) and forgotten above.
            unsafe { libc::close(fd) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(number("TERM"), Some(libc::SIGTERM));
        assert_eq!(number("sigusr1"), Some(libc::SIGUSR1));
        assert_eq!(number("KILL"), None);
        assert_eq!(number("SEGV"), None);
        assert_eq!(name(libc::SIGHUP), Some("HUP"));
    }

    #[test]
    fn a_raised_signal_is_pending_once_and_wakes_the_pipe() {
        let fd = watch(libc::SIGUSR2).unwrap();
        // SAFETY: raise delivers to this thread; the handler only touches atomics.
        unsafe { libc::raise(libc::SIGUSR2) };
        // SAFETY: as above.
        unsafe { libc::raise(libc::SIGUSR2) };
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 1000) }, 1);
        assert_eq!(take_pending(), vec![libc::SIGUSR2]);
        assert!(take_pending().is_empty());
        unwatch(libc::SIGUSR2).unwrap();
    }
}
