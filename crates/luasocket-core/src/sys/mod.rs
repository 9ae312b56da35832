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
