//! The platform layer: every syscall, constant and error number whose shape differs
//! between operating systems is reached through here, the way mio keeps
//! `sys/unix/` and `sys/windows/`. The rest of the crate is written once.
//!
//! Linux refinements (`ppoll`'s nanosecond timeouts, `TCP_INQ` drain tracking,
//! `SO_BINDTODEVICE`, `TCP_DEFER_ACCEPT`, ...) sit behind `cfg` beside a portable path
//! with the same observable behaviour; an option a platform lacks is answered as
//! LuaSocket answers it there (see docs/platforms.md).

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;
#[cfg(unix)]
pub use unix::{RawSocket, INVALID_SOCKET};

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;
#[cfg(windows)]
pub use windows::{RawSocket, INVALID_SOCKET};

use std::time::Duration;

/// A wait budget as `poll`'s (or `WSAPoll`'s) millisecond timeout, rounded up so we
/// never wake early; `None` waits for ever.
pub(crate) fn poll_millis(budget: Option<Duration>) -> i32 {
    match budget {
        None => -1,
        Some(budget) => {
            let millis = budget.as_nanos().div_ceil(1_000_000);
            i32::try_from(millis).unwrap_or(i32::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_up() {
        assert_eq!(poll_millis(None), -1);
        assert_eq!(poll_millis(Some(Duration::from_micros(1))), 1);
        assert_eq!(poll_millis(Some(Duration::from_millis(1500))), 1500);
        assert_eq!(poll_millis(Some(Duration::MAX)), i32::MAX);
    }
}
