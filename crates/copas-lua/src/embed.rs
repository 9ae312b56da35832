//! Copas inside a host program's own event loop.
//!
//! An mlua host installs the modules into its `Lua` ([`crate::install`]), starts Copas
//! threads from Lua (`copas.addserver`, `copas.addthread`), and then either hands control
//! to Copas until it is done ([`Driver::run`], Lua's `copas.loop()`), or keeps its own
//! loop and lets Copas take a turn whenever it has something to do:
//!
//! 1. wait until [`Driver`]'s descriptor (the dispatcher's epoll descriptor, through
//!    [`AsRawFd`]) is readable, or until [`Driver::next_deadline`] (a Copas sleep or
//!    timeout falls due), whichever comes first: with `poll(2)`, mio/polling, or tokio's
//!    `AsyncFd`;
//! 2. call [`Driver::step`], which resumes every Copas thread that can run, without
//!    waiting;
//! 3. repeat while [`Driver::is_finished`] is false (or for as long as the host lives).
//!
//! `crates/copas-lua/examples/embed_loop.rs` does it with `poll(2)`,
//! `examples/embed_tokio.rs` with tokio, whose own tasks keep running meanwhile.
//!
//! The Lua state is single-threaded: step it from the thread that owns it (a tokio
//! current-thread runtime or a `LocalSet`). A step runs Lua code, so it takes as long
//! as the Copas threads it resumes take before they yield again.

use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use mlua::{Function, Lua, Result, Table};

use crate::dispatch::{dispatcher, SharedDispatcher};

/// A handle for driving the Copas loop of one Lua state from the host.
pub struct Driver {
    step: Function,
    finished: Function,
    run: Function,
    dispatcher: SharedDispatcher,
    fd: RawFd,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tasks = self.dispatcher.try_borrow().map(|d| d.scheduler.len()).ok();
        f.debug_struct("Driver")
            .field("fd", &self.fd)
            .field("tasks", &tasks)
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// The driver of `lua`'s Copas (loading `copas` if it is not yet loaded). The
    /// modules must be installed ([`crate::install`]) or on the Lua path.
    pub fn new(lua: &Lua) -> Result<Self> {
        let require: Function = lua.globals().get("require")?;
        let copas: Table = require.call("copas")?;
        let dispatcher = dispatcher(lua)?;
        let fd = dispatcher.borrow().scheduler.as_raw_fd();
        Ok(Driver {
            step: copas.get("step")?,
            finished: copas.get("finished")?,
            run: copas.get("loop")?,
            dispatcher,
            fd,
        })
    }

    /// Runs one turn without waiting: collects what the descriptor and the timers say,
    /// resumes every Copas thread that can run. Returns whether Copas still has work (as
    /// `not copas.finished()`). Errors of Copas threads go to their error handlers, as in
    /// `copas.loop`; an error here is one of the loop itself.
    pub fn step(&self) -> Result<bool> {
        self.step.call::<()>(0.0)?;
        Ok(!self.is_finished()?)
    }

    /// Like [`step`](Self::step), but first waits up to `timeout` for something to do
    /// (`None`: until something happens): for a host with nothing else to wait for.
    pub fn step_wait(&self, timeout: Option<Duration>) -> Result<bool> {
        self.step.call::<()>(timeout.map(|t| t.as_secs_f64()))?;
        Ok(!self.is_finished()?)
    }

    /// `copas.finished()`: no Copas thread can run again by itself.
    pub fn is_finished(&self) -> Result<bool> {
        self.finished.call(())
    }

    /// When Copas next needs a turn even if its descriptor stays quiet: now when threads
    /// are ready, the earliest sleep or timeout otherwise; `None` when only the
    /// descriptor can bring work.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.dispatcher
            .try_borrow()
            .map_or(Some(Instant::now()), |d| d.scheduler.next_deadline())
    }

    /// [`next_deadline`](Self::next_deadline) as a timeout from now, for `poll(2)`-style
    /// waits.
    pub fn timeout(&self) -> Option<Duration> {
        self.next_deadline()
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// `copas.loop()`: runs Copas until it is finished (and its exit handlers ran).
    pub fn run(&self) -> Result<()> {
        self.run.call(())
    }
}

/// The dispatcher's epoll descriptor: the same open descriptor for the Driver's whole
/// life (the Driver keeps the dispatcher alive), readable when a socket a Copas thread waits on,
/// a finished blocking job (name resolution), or a cross-thread wake-up has news.
impl AsRawFd for Driver {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}
