//! The Copas dispatcher in Rust, usable without Lua.
//!
//! A [`Scheduler`] owns tasks of any type `T`, a run queue, a [`TimerHeap`] of
//! deadlines, an edge-triggered epoll [`Reactor`] (no `select()` descriptor cap), and a
//! small thread pool for work that would block the loop, such as name resolution.
//! It decides *when* tasks run; it does not know *how* to run them. The Lua binding
//! resumes coroutines; Rust users implement [`Task`] and call [`Scheduler::run`].
//!
//! It is not a socket library (that is `luasocket-core`), and it does not do I/O on
//! behalf of tasks: a task tries its non-blocking operation first and parks itself
//! with [`Scheduler::wait_io`] only after the operation would block.
//!
//! ```
//! use std::time::Duration;
//! use copas_sched::{Scheduler, Step, Task, TaskId, Wake};
//!
//! /// Sleeps three times, counting its wakeups.
//! struct Ticker(u32);
//!
//! impl Task for Ticker {
//!     fn resume(&mut self, id: TaskId, _wake: Wake, s: &mut Scheduler<Self>) -> Step {
//!         if self.0 == 3 {
//!             return Step::Done;
//!         }
//!         self.0 += 1;
//!         s.sleep(id, Duration::from_millis(1)).unwrap();
//!         Step::Parked
//!     }
//! }
//!
//! let mut scheduler = Scheduler::new().unwrap();
//! scheduler.spawn(Ticker(0));
//! scheduler.run().unwrap();
//! assert!(scheduler.is_empty());
//! ```

#![deny(missing_docs)]
#![warn(unreachable_pub)]

mod clock;
pub mod future;
mod pool;
mod reactor;
mod scheduler;
#[cfg(target_os = "linux")]
pub mod signals;
mod stats;
mod timer;

pub use pool::Completion;
pub use reactor::{Interest, RawFd, Reactor, Source};
pub use scheduler::{LagStats, Scheduler, Step, Task, TaskCounts, TaskId, Wake, Waker, QUIET_WAIT};
pub use stats::{DurationStats, WINDOW};
pub use timer::{TimerHeap, TimerKey};

/// Errors of the scheduler.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The task id is stale: the task finished or was removed.
    #[error("no such task")]
    NoSuchTask,
    /// Only the running task can park itself.
    #[error("the task is not running")]
    NotRunning,
    /// The descriptor was deregistered (its socket was closed).
    #[error("closed")]
    StaleSource,
    /// The operating system refused (epoll, threads).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
