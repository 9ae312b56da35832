//! The dispatcher a Lua state's socket objects and `copas.core` share: the scheduler,
//! the registrations of socket descriptors with its reactor, and parking a task on one.
//!
//! It sits below both `socket_core`/`ssl` (whose objects own a [`Registration`]) and
//! `copas_core` (which parks tasks on them), so neither imports the other for it.

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use copas_sched::{Interest, Scheduler, Source, TaskId, Wake};
use mlua::{Lua, Result};

/// Per-task data the scheduler keeps for the binding.
#[derive(Debug, Default)]
pub(crate) struct TaskData {
    /// Deadline of the I/O operation in progress (it spans several waits).
    pub(crate) deadline: Option<Instant>,
    /// A one-shot registration for a socket object that is not ours (its descriptor
    /// may be closed behind our back, so it is not kept past the wait).
    pub(crate) foreign: Option<Source>,
    /// The address of the task's coroutine (its key in `copas_core::hot`'s map of
    /// task ids; never dereferenced).
    pub(crate) thread: usize,
}

/// A socket object's descriptor registered with the reactor. Released when the object
/// closes, changes descriptor, or is collected.
#[derive(Debug)]
pub(crate) struct Registration {
    pub(crate) source: Source,
    dispatcher: Weak<RefCell<Dispatcher>>,
}

impl Registration {
    /// Removes the descriptor from the reactor. If the dispatcher is busy (a collection
    /// running inside a scheduler call), the entry is left to go stale: epoll drops a
    /// closed descriptor by itself, and the reactor replaces a stale entry when the
    /// number is registered again.
    pub(crate) fn release(self) {
        if let Some(dispatcher) = self.dispatcher.upgrade() {
            if let Ok(mut dispatcher) = dispatcher.try_borrow_mut() {
                dispatcher.scheduler.deregister(self.source);
            }
        }
    }
}

/// The scheduler plus the binding's bookkeeping, shared by every `copas.core` function.
#[derive(Debug)]
pub(crate) struct Dispatcher {
    pub(crate) scheduler: Scheduler<TaskData>,
    /// Reused by each step for the ids of the tasks to resume.
    pub(crate) batch: Vec<TaskId>,
    /// Reused by each step for the ids of the alarms due.
    pub(crate) alarms: Vec<TaskId>,
    /// The signal pipe's registration with the reactor, once a signal is watched.
    #[cfg(target_os = "linux")]
    pub(crate) signal_source: Option<Source>,
}

/// The dispatcher of one Lua state.
pub(crate) type SharedDispatcher = Rc<RefCell<Dispatcher>>;

impl Dispatcher {
    pub(crate) fn new() -> copas_sched::Result<Self> {
        Ok(Dispatcher {
            scheduler: Scheduler::new()?,
            batch: Vec::new(),
            alarms: Vec::new(),
            #[cfg(target_os = "linux")]
            signal_source: None,
        })
    }

    /// The live task in slot `index`.
    pub(crate) fn task(&self, index: i64) -> Result<TaskId> {
        u32::try_from(index)
            .ok()
            .and_then(|index| self.scheduler.id_at(index))
            .ok_or_else(|| runtime_error("no such Copas task"))
    }

    /// Drops one-shot registrations of foreign sockets of tasks that are about to run.
    pub(crate) fn release_foreign(&mut self, id: TaskId) {
        if let Some(source) = self
            .scheduler
            .get_mut(id)
            .and_then(|task| task.foreign.take())
        {
            self.scheduler.deregister(source);
        }
    }
}

/// Converts a Lua number of seconds into a duration; `None` for nil, negative, NaN or
/// infinite values (all mean "no limit" in Copas).
pub(crate) fn seconds(value: Option<f64>) -> Option<Duration> {
    /// Seconds below which the nanoseconds fit a u64 (584 years).
    const NANOS_FIT: f64 = 1.8e10;
    match value {
        // Every sleep and timeout converts its seconds: rounding to whole nanoseconds
        // by one multiplication costs a fraction of `try_from_secs_f64`'s exact
        // conversion.
        Some(s) if (0.0..NANOS_FIT).contains(&s) => {
            Some(Duration::from_nanos((s * 1e9 + 0.5) as u64))
        }
        Some(s) if s.is_finite() && s >= 0.0 => Duration::try_from_secs_f64(s).ok(),
        _ => None,
    }
}

/// Lua knows a task by its slot index: a small integer, so the tables `copas.lua` keys
/// by it stay arrays. Lua forgets an index in the same call that frees the slot, so an
/// index it holds always names the live task.
pub(crate) fn id_value(id: TaskId) -> i64 {
    i64::from(id.index())
}

/// An mlua runtime error with `err`'s text.
pub(crate) fn runtime_error(err: impl std::fmt::Display) -> mlua::Error {
    mlua::Error::runtime(err.to_string())
}

/// The dispatcher of this Lua state (one per state, created on first use and kept
/// for the state's life, so loading `copas.core` again shares it).
pub(crate) fn dispatcher(lua: &Lua) -> Result<SharedDispatcher> {
    if let Some(existing) = lua.app_data_ref::<SharedDispatcher>() {
        return Ok(existing.clone());
    }
    let created = Rc::new(RefCell::new(Dispatcher::new().map_err(runtime_error)?));
    lua.set_app_data(created.clone());
    Ok(created)
}

/// One attempt of an operation by task `id`: its timeout, and whether it is the
/// first attempt (which starts the deadline) or a retry after a wait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt {
    pub(crate) id: i64,
    pub(crate) timeout: Option<f64>,
    pub(crate) first: bool,
}

/// Parks the task until the descriptor is ready, registering it with the reactor
/// the first time.
pub(crate) fn park(
    dispatcher: &SharedDispatcher,
    registration: &mut Option<Registration>,
    fd: copas_sched::RawFd,
    interest: Interest,
    attempt: Attempt,
) -> Result<()> {
    let mut d = dispatcher.borrow_mut();
    let task = d.task(attempt.id)?;
    let source = match registration {
        Some(existing) if d.scheduler.is_registered(existing.source) => existing.source,
        _ => {
            let source = d.scheduler.register(fd).map_err(runtime_error)?;
            *registration = Some(Registration {
                source,
                dispatcher: Rc::downgrade(dispatcher),
            });
            source
        }
    };
    // The clock is read only for a first attempt with a timeout: most waits have none.
    let first_deadline = match attempt.first.then(|| seconds(attempt.timeout)) {
        Some(Some(timeout)) => Some(d.scheduler.now().checked_add(timeout)),
        Some(None) => Some(None),
        None => None,
    };
    let data = d
        .scheduler
        .get_mut(task)
        .ok_or_else(|| runtime_error("no such Copas task"))?;
    if let Some(deadline) = first_deadline {
        data.deadline = deadline;
    }
    let deadline = data.deadline;
    d.scheduler
        .wait_io(task, source, interest, deadline)
        .map_err(runtime_error)
}

/// True if the task's last wait ended at its deadline (never for a first attempt).
pub(crate) fn timed_out(dispatcher: &SharedDispatcher, id: i64, first: bool) -> Result<bool> {
    if first {
        return Ok(false);
    }
    let d = dispatcher.borrow();
    Ok(d.scheduler.wake_reason(d.task(id)?) == Some(Wake::TimedOut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_to_the_nearest_nanosecond_and_refuse_what_means_no_limit() {
        assert_eq!(seconds(Some(0.0)), Some(Duration::ZERO));
        assert_eq!(seconds(Some(0.3)), Some(Duration::from_millis(300)));
        assert_eq!(seconds(Some(0.002)), Some(Duration::from_millis(2)));
        assert_eq!(seconds(Some(1.5e-9)), Some(Duration::from_nanos(2)));
        assert_eq!(
            seconds(Some(86_400.25)),
            Some(Duration::from_millis(86_400_250))
        );
        assert_eq!(
            seconds(Some(1e12)),
            Some(Duration::from_secs(1_000_000_000_000))
        );
        for none in [None, Some(-0.5), Some(f64::NAN), Some(f64::INFINITY)] {
            assert_eq!(seconds(none), None);
        }
    }
}
