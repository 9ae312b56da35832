//! Tasks, their states, and the run queue.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use polling::Poller;
use std::time::{Duration, Instant};

use crate::clock;
use crate::pool::{BlockingPool, Completion, CompletionQueue};
use crate::reactor::{Interest, RawFd, Reactor, Source};
use crate::stats::DurationStats;
use crate::timer::{TimerHeap, TimerKey};
use crate::{Error, Result};

/// Identifies a task for as long as it lives; a finished task's id is never confused
/// with the id of a later task in the same slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskId {
    index: u32,
    generation: u32,
}

/// Generations are kept below 2^21 so a packed id fits a Lua 5.1 number (2^53) exactly.
const GENERATION_MASK: u32 = (1 << 21) - 1;

impl TaskId {
    /// The id as one integer below 2^53, for handing to scripting languages.
    pub fn to_bits(self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// The inverse of [`TaskId::to_bits`]; any value is accepted (unknown ids are just stale).
    pub fn from_bits(bits: u64) -> Self {
        TaskId {
            index: bits as u32,
            generation: ((bits >> 32) as u32) & GENERATION_MASK,
        }
    }

    /// The slot number: unique among live tasks (a dense index for tables), but reused
    /// once the task is removed. [`Scheduler::id_at`] turns it back into the live id.
    pub fn index(self) -> u32 {
        self.index
    }
}

/// Why a task was made ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// It was spawned, or it yielded and had its turn again.
    Scheduled,
    /// Its sleep ended.
    Timer,
    /// [`Scheduler::wakeup`] ended its sleep or suspension early.
    Woken,
    /// The descriptor it waited on is ready (or was deregistered).
    Ready(Interest),
    /// The deadline of its I/O or blocking-job wait passed first.
    TimedOut,
    /// The blocking job it waited for finished.
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Free,
    Ready,
    Running,
    Sleeping(TimerKey),
    Suspended,
    Io {
        source: Source,
        interest: Interest,
        deadline: Option<TimerKey>,
    },
    Blocking {
        deadline: Option<TimerKey>,
    },
}

/// Indices of `Scheduler::in_state`, one per kind of state.
mod kind {
    pub(super) const FREE: usize = 0;
    pub(super) const READY: usize = 1;
    pub(super) const RUNNING: usize = 2;
    pub(super) const SLEEPING: usize = 3;
    pub(super) const SUSPENDED: usize = 4;
    pub(super) const READING: usize = 5;
    pub(super) const WRITING: usize = 6;
    pub(super) const BLOCKING: usize = 7;
    pub(super) const COUNT: usize = 8;
}

impl State {
    /// Its kind: its counter in `Scheduler::in_state`.
    #[inline]
    fn index(&self) -> usize {
        match self {
            State::Free => kind::FREE,
            State::Ready => kind::READY,
            State::Running => kind::RUNNING,
            State::Sleeping(_) => kind::SLEEPING,
            State::Suspended => kind::SUSPENDED,
            State::Io {
                interest: Interest::Read,
                ..
            } => kind::READING,
            State::Io {
                interest: Interest::Write,
                ..
            } => kind::WRITING,
            State::Blocking { .. } => kind::BLOCKING,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum TimerPurpose {
    /// Ends a sleep, or is the deadline of a wait.
    Wake(TaskId),
    /// An alarm: reported to the driver, the task's state is untouched.
    Alarm(TaskId),
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    state: State,
    wake: Wake,
    alarm: Option<TimerKey>,
    completion: Option<Completion>,
    task: Option<T>,
}

/// How many tasks are in each waiting state (for [`Scheduler::counts`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TaskCounts {
    /// In the run queue.
    pub ready: usize,
    /// Taken from the run queue by [`Scheduler::take_ready`] and not parked or removed
    /// yet: the task running now and those after it in the batch.
    pub running: usize,
    /// Sleeping with a deadline.
    pub sleeping: usize,
    /// Sleeping until [`Scheduler::wakeup`].
    pub suspended: usize,
    /// Waiting for a descriptor to become readable.
    pub reading: usize,
    /// Waiting for a descriptor to become writable.
    pub writing: usize,
    /// Waiting for a blocking job.
    pub blocking: usize,
    /// Alarms set.
    pub alarms: usize,
}

/// How long a poll must have been allowed to wait to count as quiet (see
/// [`Scheduler::poll`]); Copas's own threshold, its timer precision (0.1 s) less 0.01 s.
pub const QUIET_WAIT: Duration = Duration::from_millis(90);

/// The dispatcher: tasks of type `T`, a run queue, timers, and an epoll reactor.
///
/// The scheduler never runs code by itself: [`Scheduler::poll`] waits for I/O and
/// timers and fills the run queue, and the driver takes the ready tasks
/// ([`Scheduler::take_ready`]) and resumes them however its tasks are resumed (Lua
/// coroutines, Rust state machines via [`Task`]). A running task says what it waits for
/// next (`sleep`, `wait_io`, ...) before it gives control back.
#[derive(Debug)]
pub struct Scheduler<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    ready: VecDeque<TaskId>,
    timers: TimerHeap<TimerPurpose>,
    reactor: Reactor<TaskId>,
    completions: CompletionQueue,
    pool: BlockingPool,
    alarms_due: Vec<TaskId>,
    /// Tasks per kind of state (`State::index`; free slots are counted too, as a
    /// number that wraps: nothing reads it).
    in_state: [usize; kind::COUNT],
    /// Alarms set.
    alarms: usize,
    live: usize,
    /// The virtual clock's time while it is on.
    virtual_now: Option<Instant>,
    /// Wall time (seconds since the epoch) and instant when the virtual clock started.
    virtual_epoch: (f64, Instant),
    lag: LagStats,
    /// When the resume in progress began: the batch was taken, or the task before it
    /// parked. `None` outside a batch.
    resume_began: Option<u64>,
    resume_durations: DurationStats,
    /// When the last poll returned: the work of the step began.
    step_began: Option<Instant>,
    step_durations: DurationStats,
    remote: Arc<Remote>,
    /// The wake-ups of the last poll, kept for its allocation: a step under load polls
    /// thousands of times a second.
    woken: Vec<(TaskId, Interest)>,
}

/// How late [`Scheduler::poll`] found its earliest due timer, over the scheduler's life.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct LagStats {
    /// Polls that found a timer due.
    pub count: u64,
    /// Lateness of the last one.
    pub last: Duration,
    /// The largest lateness.
    pub max: Duration,
    /// Sum of all, for a mean.
    pub total: Duration,
}

impl LagStats {
    fn record(&mut self, late: Duration) {
        self.count += 1;
        self.last = late;
        self.max = self.max.max(late);
        self.total = self.total.saturating_add(late);
    }
}

/// What [`Waker`]s on other threads leave for the scheduler.
#[derive(Debug, Default)]
struct Remote {
    stop: AtomicBool,
    /// Set with every push to `wakeups`, so a poll looks at the lock only when needed.
    pending: AtomicBool,
    wakeups: Mutex<Vec<TaskId>>,
}

/// A handle, usable from any thread, that wakes tasks of a [`Scheduler`] or stops its
/// [`run`](Scheduler::run).
///
/// It interrupts the scheduler's epoll wait (`polling::Poller::notify`, an eventfd), so
/// it takes effect at once, not at the next timer.
#[derive(Debug, Clone)]
pub struct Waker {
    poller: Arc<Poller>,
    remote: Arc<Remote>,
}

impl Waker {
    /// Ends the task's sleep or suspension as [`Scheduler::wakeup`] does, at the
    /// scheduler's next poll. Ids of tasks that are gone, or not sleeping then, are
    /// ignored.
    pub fn wake(&self, id: TaskId) {
        lock(&self.remote.wakeups).push(id);
        self.remote.pending.store(true, Ordering::Release);
        let _ = self.poller.notify();
    }

    /// Makes [`Scheduler::run`] (or [`run_until_stopped`](Scheduler::run_until_stopped))
    /// return after the turn it is in; tasks stay in the scheduler. Once it has returned,
    /// the request is used up and a later `run` goes on normally.
    pub fn stop(&self) {
        self.remote.stop.store(true, Ordering::Release);
        let _ = self.poller.notify();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Pushing an id cannot panic halfway, so a poisoned list is still whole.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<T> Scheduler<T> {
    /// A scheduler with its own epoll set.
    pub fn new() -> Result<Self> {
        let reactor = Reactor::new()?;
        let completions = CompletionQueue::new(reactor.poller().clone());
        let pool = BlockingPool::new(completions.clone());
        Ok(Scheduler {
            slots: Vec::new(),
            free: Vec::new(),
            ready: VecDeque::new(),
            timers: TimerHeap::new(),
            reactor,
            completions,
            pool,
            alarms_due: Vec::new(),
            in_state: [0; kind::COUNT],
            alarms: 0,
            live: 0,
            virtual_now: None,
            virtual_epoch: (0.0, Instant::now()),
            lag: LagStats::default(),
            resume_began: None,
            resume_durations: DurationStats::default(),
            step_began: None,
            step_durations: DurationStats::default(),
            remote: Arc::default(),
            woken: Vec::new(),
        })
    }

    /// A handle for other threads to wake tasks or stop [`run`](Scheduler::run).
    pub fn waker(&self) -> Waker {
        Waker {
            poller: self.reactor.poller().clone(),
            remote: self.remote.clone(),
        }
    }

    /// Whether a [`Waker::stop`] is waiting to be honoured; [`run`](Scheduler::run)
    /// checks it after every turn, a driver of its own loop should too.
    pub fn stop_requested(&self) -> bool {
        self.remote.stop.load(Ordering::Acquire)
    }

    /// Clears a stop request, as `run` does when it returns because of one.
    pub fn clear_stop(&self) {
        self.remote.stop.store(false, Ordering::Release);
    }

    fn take_remote_wakeups(&mut self) {
        if self.remote.pending.swap(false, Ordering::AcqRel) {
            let ids = std::mem::take(&mut *lock(&self.remote.wakeups));
            for id in ids {
                self.wakeup(id);
            }
        }
    }

    /// Adds a task; it is ready and runs at the next turn, not now.
    pub fn spawn(&mut self, task: T) -> TaskId {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    state: State::Free,
                    wake: Wake::Scheduled,
                    alarm: None,
                    completion: None,
                    task: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.task = Some(task);
        slot.wake = Wake::Scheduled;
        let id = TaskId {
            index,
            generation: slot.generation,
        };
        self.live += 1;
        self.set_state(id, State::Ready);
        self.ready.push_back(id);
        id
    }

    /// Removes a task in whatever state it is, cancelling its waits; returns it.
    pub fn remove(&mut self, id: TaskId) -> Option<T> {
        let state = self.state(id)?;
        self.leave(id, state);
        self.set_state(id, State::Free);
        let slot = &mut self.slots[id.index as usize];
        if let Some(alarm) = slot.alarm.take() {
            self.timers.remove(alarm);
            self.alarms -= 1;
        }
        let slot = &mut self.slots[id.index as usize];
        slot.completion = None;
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        let task = slot.task.take();
        self.free.push(id.index);
        self.live -= 1;
        task
    }

    /// The id of the live task in slot `index`, if any.
    pub fn id_at(&self, index: u32) -> Option<TaskId> {
        let slot = self.slots.get(index as usize)?;
        (!matches!(slot.state, State::Free)).then_some(TaskId {
            index,
            generation: slot.generation,
        })
    }

    /// True while `id` names a task that has not been removed.
    pub fn contains(&self, id: TaskId) -> bool {
        self.state(id).is_some()
    }

    /// The task's data.
    pub fn get(&self, id: TaskId) -> Option<&T> {
        self.live_slot(id)?.task.as_ref()
    }

    /// The task's data, mutably.
    pub fn get_mut(&mut self, id: TaskId) -> Option<&mut T> {
        self.live_slot_mut(id)?.task.as_mut()
    }

    /// Why the task was last made ready.
    pub fn wake_reason(&self, id: TaskId) -> Option<Wake> {
        Some(self.live_slot(id)?.wake)
    }

    /// True while the task runs (taken from the run queue and not yet parked again).
    pub fn is_running(&self, id: TaskId) -> bool {
        matches!(self.state(id), Some(State::Running))
    }

    /// Moves the whole run queue into `out` and marks those tasks running. Tasks made
    /// ready while the driver resumes them wait for the next turn, so a task that keeps
    /// yielding cannot starve I/O.
    ///
    /// The driver resumes them in order: each one's resume is timed from the end of the
    /// one before (or from now, for the first) to its park or removal (see
    /// [`Scheduler::resume_durations`]).
    pub fn take_ready(&mut self, out: &mut Vec<TaskId>) {
        let before = out.len();
        while let Some(id) = self.ready.pop_front() {
            if matches!(self.state(id), Some(State::Ready)) {
                self.set_state(id, State::Running);
                out.push(id);
            }
        }
        self.resume_began = (out.len() > before).then(clock::monotonic_nanos);
    }

    /// How long single resumes ran: from the previous one's end (or the batch being
    /// taken) to the task parking or being removed. A task removed before the driver
    /// resumed it counts as a resume of next to no time.
    pub fn resume_durations(&self) -> &DurationStats {
        &self.resume_durations
    }

    /// How long the work of each step took: from a [`Scheduler::poll`] returning to
    /// the next one being called (what the driver did with the tasks it woke).
    pub fn step_durations(&self) -> &DurationStats {
        &self.step_durations
    }

    /// Puts a running task at the end of the run queue.
    pub fn yield_now(&mut self, id: TaskId) -> Result<()> {
        self.park(id, State::Ready)?;
        self.slots[id.index as usize].wake = Wake::Scheduled;
        self.ready.push_back(id);
        Ok(())
    }

    /// Parks a running task for `duration` (zero: same as [`Scheduler::yield_now`]).
    pub fn sleep(&mut self, id: TaskId, duration: Duration) -> Result<()> {
        if duration.is_zero() {
            return self.yield_now(id);
        }
        self.running(id)?;
        let key = self
            .timers
            .insert(deadline_after(self.now(), duration), TimerPurpose::Wake(id));
        self.park(id, State::Sleeping(key))
    }

    /// Parks a running task until [`Scheduler::wakeup`].
    pub fn suspend(&mut self, id: TaskId) -> Result<()> {
        self.park(id, State::Suspended)
    }

    /// Ends a sleep or suspension early. Returns false (and does nothing) for tasks in
    /// any other state, as Copas does.
    pub fn wakeup(&mut self, id: TaskId) -> bool {
        match self.state(id) {
            Some(state @ (State::Sleeping(_) | State::Suspended)) => {
                self.leave(id, state);
                self.make_ready(id, Wake::Woken);
                true
            }
            _ => false,
        }
    }

    /// Parks a running task until `source` is ready for `interest`, or until `deadline`.
    pub fn wait_io(
        &mut self,
        id: TaskId,
        source: Source,
        interest: Interest,
        deadline: Option<Instant>,
    ) -> Result<()> {
        self.running(id)?;
        if !self.reactor.wait(source, interest, id) {
            return Err(Error::StaleSource);
        }
        let deadline = deadline.map(|at| self.timers.insert(at, TimerPurpose::Wake(id)));
        self.park(
            id,
            State::Io {
                source,
                interest,
                deadline,
            },
        )
    }

    /// Runs `job` on a worker thread and parks the running task until it finishes or
    /// `deadline` passes. The result is then in [`Scheduler::take_completion`].
    pub fn wait_blocking(
        &mut self,
        id: TaskId,
        deadline: Option<Instant>,
        job: impl FnOnce() -> Completion + Send + 'static,
    ) -> Result<()> {
        self.running(id)?;
        self.pool.spawn(id, Box::new(job))?;
        let deadline = deadline.map(|at| self.timers.insert(at, TimerPurpose::Wake(id)));
        self.park(id, State::Blocking { deadline })
    }

    /// The result of the task's last blocking job, once.
    pub fn take_completion(&mut self, id: TaskId) -> Option<Completion> {
        self.live_slot_mut(id)?.completion.take()
    }

    /// Sets (or moves) the task's alarm: at `deadline` the task id is reported by
    /// [`Scheduler::take_alarms`]; the task's own state is not touched.
    pub fn set_alarm(&mut self, id: TaskId, deadline: Instant) -> Result<()> {
        self.clear_alarm(id);
        let key = self.timers.insert(deadline, TimerPurpose::Alarm(id));
        let slot = self.live_slot_mut(id).ok_or(Error::NoSuchTask)?;
        slot.alarm = Some(key);
        self.alarms += 1;
        Ok(())
    }

    /// Cancels the task's alarm, if set.
    pub fn clear_alarm(&mut self, id: TaskId) {
        if let Some(key) = self.live_slot_mut(id).and_then(|slot| slot.alarm.take()) {
            self.timers.remove(key);
            self.alarms -= 1;
        }
    }

    /// Moves the ids of tasks whose alarm went off into `out`.
    pub fn take_alarms(&mut self, out: &mut Vec<TaskId>) {
        out.append(&mut self.alarms_due);
    }

    /// Registers a descriptor with the reactor (see [`Reactor::register`]).
    pub fn register(&mut self, fd: RawFd) -> Result<Source> {
        Ok(self.reactor.register(fd)?)
    }

    /// True while `source` is the descriptor's current registration.
    pub fn is_registered(&self, source: Source) -> bool {
        self.reactor.is_registered(source)
    }

    /// See [`Reactor::is_ready`]: false only when `source` was found drained for
    /// reading and no event came since, so a read would block.
    pub fn is_ready(&self, source: Source) -> bool {
        self.reactor.is_ready(source)
    }

    /// See [`Reactor::clear_ready`]: a read of `source` left the kernel's queue empty.
    pub fn clear_ready(&mut self, source: Source) {
        self.reactor.clear_ready(source);
    }

    /// Deregisters a descriptor before it is closed; tasks waiting on it are woken
    /// (and find it closed when they retry).
    pub fn deregister(&mut self, source: Source) {
        self.reactor.deregister(source);
    }

    /// Task counts by state.
    pub fn counts(&self) -> TaskCounts {
        TaskCounts {
            ready: self.in_state[kind::READY],
            running: self.in_state[kind::RUNNING],
            sleeping: self.in_state[kind::SLEEPING],
            suspended: self.in_state[kind::SUSPENDED],
            reading: self.in_state[kind::READING],
            writing: self.in_state[kind::WRITING],
            blocking: self.in_state[kind::BLOCKING],
            alarms: self.alarms,
        }
    }

    /// How many threads the blocking pool started (a process that forks wants none).
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// Number of tasks that have not been removed.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when no task exists.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// True when no task can ever run again by itself: nothing is ready, sleeping with a
    /// deadline, or waiting for I/O or a job. Suspended tasks only count while an alarm
    /// is set (an alarm is what usually wakes them), as in Copas.
    pub fn is_idle(&self) -> bool {
        let c = self.counts();
        c.ready == 0
            && c.sleeping == 0
            && c.reading == 0
            && c.writing == 0
            && c.blocking == 0
            && !(c.alarms > 0 && c.suspended > 0)
    }

    /// Waits for I/O, finished jobs and timers, for at most `timeout` (`None`: until
    /// something happens), and moves every task they wake to the run queue. Does not
    /// wait at all while the run queue is not empty.
    ///
    /// Returns whether the poll was quiet: it could wait at least [`QUIET_WAIT`] and
    /// neither I/O nor a finished job woke a task (timers may have). Copas collects
    /// garbage now and then on such steps, which is what closes sockets a program
    /// dropped without closing them. Polls on the virtual clock are never quiet: its
    /// jumps would make every step one, and collect far more often than real time does.
    pub fn poll(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.resume_began = None;
        // The clock reads that time the steps are the poll's own.
        let now = Instant::now();
        if let Some(began) = self.step_began.take() {
            self.step_durations
                .record(now.saturating_duration_since(began));
        }
        if let Some(virtual_now) = self.virtual_now {
            self.poll_virtual(virtual_now, timeout)?;
            self.step_began = Some(Instant::now());
            return Ok(false);
        }
        let remote_waiting =
            self.remote.pending.load(Ordering::Acquire) || self.remote.stop.load(Ordering::Acquire);
        let mut deadline = match timeout {
            _ if !self.ready.is_empty() || !self.alarms_due.is_empty() || remote_waiting => {
                Some(now)
            }
            Some(timeout) => Some(
                now.checked_add(timeout)
                    .unwrap_or(now + Duration::from_secs(86_400 * 365)),
            ),
            None => None,
        };
        if let Some(next) = self.timers.next_deadline() {
            deadline = Some(deadline.map_or(next, |d| d.min(next)));
        }
        let could_wait = deadline.is_none_or(|d| d.saturating_duration_since(now) >= QUIET_WAIT);
        let nothing_woke = self.gather(deadline)?;
        let quiet = could_wait && nothing_woke;
        let now = Instant::now();
        self.step_began = Some(now);
        if let Some(late) = self
            .timers
            .next_deadline()
            .and_then(|due| now.checked_duration_since(due))
        {
            self.lag.record(late);
        }
        self.expire_timers(now);
        Ok(quiet)
    }

    /// The reactor's events until `deadline` and the finished jobs, as ready tasks;
    /// true when there were none.
    fn gather(&mut self, deadline: Option<Instant>) -> Result<bool> {
        let mut woken = std::mem::take(&mut self.woken);
        woken.clear();
        self.reactor
            .poll(deadline, |id, interest| woken.push((id, interest)))?;
        let mut quiet = woken.is_empty();
        for &(id, interest) in &woken {
            if let Some(State::Io {
                interest: waited,
                deadline,
                ..
            }) = self.state(id)
            {
                if waited == interest {
                    if let Some(key) = deadline {
                        self.timers.remove(key);
                    }
                    self.make_ready(id, Wake::Ready(interest));
                }
            }
        }
        self.woken = woken;
        let mut completed = Vec::new();
        self.completions
            .drain(|id, completion| completed.push((id, completion)));
        quiet &= completed.is_empty();
        for (id, completion) in completed {
            if let Some(State::Blocking { deadline }) = self.state(id) {
                if let Some(key) = deadline {
                    self.timers.remove(key);
                }
                self.slots[id.index as usize].completion = Some(completion);
                self.make_ready(id, Wake::Completed);
            }
        }
        self.take_remote_wakeups();
        Ok(quiet)
    }

    /// [`Scheduler::poll`] on the virtual clock. I/O is only looked at, never waited
    /// for, while a timer or the caller's timeout could end the wait: when that look
    /// finds nothing to run (and no job runs on a worker thread, which finishes in real
    /// time), the clock jumps to the earliest deadline. A wait on I/O alone is real.
    fn poll_virtual(&mut self, now: Instant, timeout: Option<Duration>) -> Result<()> {
        let busy = !self.ready.is_empty() || !self.alarms_due.is_empty();
        let real_deadline = if busy {
            Some(Instant::now())
        } else if self.in_state[kind::BLOCKING] > 0 {
            timeout.map(|t| deadline_after(Instant::now(), t))
        } else if timeout.is_some() || !self.timers.is_empty() {
            Some(Instant::now())
        } else {
            None
        };
        self.gather(real_deadline)?;
        self.expire_timers(now);
        let quiet = self.ready.is_empty() && self.alarms_due.is_empty();
        if busy || !quiet || self.in_state[kind::BLOCKING] > 0 {
            return Ok(());
        }
        let limit = timeout.map(|t| deadline_after(now, t));
        let target = match (self.timers.next_deadline(), limit) {
            (Some(next), Some(limit)) => Some(next.min(limit)),
            (next, limit) => next.or(limit),
        };
        if let Some(target) = target.filter(|target| *target > now) {
            self.virtual_now = Some(target);
            self.expire_timers(target);
        }
        Ok(())
    }

    /// The scheduler's clock: the real monotonic clock, or the virtual one.
    pub fn now(&self) -> Instant {
        self.virtual_now.unwrap_or_else(Instant::now)
    }

    /// True while the virtual clock is on.
    pub fn is_virtual(&self) -> bool {
        self.virtual_now.is_some()
    }

    /// Seconds since the Unix epoch on the virtual clock (`None` while it is off): the
    /// wall time it was switched on plus the virtual time elapsed since.
    pub fn virtual_time(&self) -> Option<f64> {
        let now = self.virtual_now?;
        Some(self.virtual_epoch.0 + now.duration_since(self.virtual_epoch.1).as_secs_f64())
    }

    /// Switches the virtual clock on or off. On, time stands still while tasks run and
    /// jumps to the next deadline when every task waits (see [`Scheduler::poll`]), so
    /// timers fire in deadline order, ties first-in first-out, whatever the real time
    /// taken. Off, the timers still pending keep their remaining virtual time.
    pub fn set_virtual_clock(&mut self, on: bool) {
        match (on, self.virtual_now) {
            (true, None) => {
                let now = Instant::now();
                let wall = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0.0, |d| d.as_secs_f64());
                self.virtual_epoch = (wall, now);
                self.virtual_now = Some(now);
            }
            (false, Some(virtual_now)) => {
                self.virtual_now = None;
                let real = Instant::now();
                if let Some(ahead) = virtual_now.checked_duration_since(real) {
                    self.timers.shift_earlier(ahead, real);
                }
            }
            _ => {}
        }
    }

    /// How late the loop woke for its timers (real clock only).
    pub fn lag(&self) -> LagStats {
        self.lag
    }

    /// Number of timers pending: sleeps, deadlines of waits, alarms.
    pub fn timers_pending(&self) -> usize {
        self.timers.len()
    }

    /// When the next timer (a sleep, an I/O deadline, an alarm) is due, if any; for a
    /// driver that waits on the scheduler's descriptor in its own event loop.
    pub fn next_deadline(&self) -> Option<Instant> {
        if !self.ready.is_empty() || !self.alarms_due.is_empty() {
            return Some(Instant::now());
        }
        self.timers.next_deadline()
    }

    fn expire_timers(&mut self, now: Instant) {
        while let Some(purpose) = self.timers.pop_expired(now) {
            match purpose {
                TimerPurpose::Alarm(id) => {
                    if let Some(slot) = self.live_slot_mut(id) {
                        slot.alarm = None;
                        self.alarms -= 1;
                        self.alarms_due.push(id);
                    }
                }
                TimerPurpose::Wake(id) => match self.state(id) {
                    Some(State::Sleeping(_)) => {
                        self.make_ready(id, Wake::Timer);
                    }
                    Some(State::Io {
                        source, interest, ..
                    }) => {
                        self.reactor.cancel(source, interest, id);
                        self.make_ready(id, Wake::TimedOut);
                    }
                    Some(State::Blocking { .. }) => {
                        self.make_ready(id, Wake::TimedOut);
                    }
                    _ => {}
                },
            }
        }
    }

    /// Undoes whatever the task is parked in (timer, reactor wait), before a state change.
    fn leave(&mut self, id: TaskId, state: State) {
        match state {
            State::Sleeping(key) => {
                self.timers.remove(key);
            }
            State::Io {
                source,
                interest,
                deadline,
            } => {
                self.reactor.cancel(source, interest, id);
                if let Some(key) = deadline {
                    self.timers.remove(key);
                }
            }
            State::Blocking {
                deadline: Some(key),
            } => {
                self.timers.remove(key);
            }
            _ => {}
        }
    }

    fn make_ready(&mut self, id: TaskId, wake: Wake) {
        self.slots[id.index as usize].wake = wake;
        self.set_state(id, State::Ready);
        self.ready.push_back(id);
    }

    fn running(&self, id: TaskId) -> Result<()> {
        match self.state(id) {
            Some(State::Running) => Ok(()),
            Some(_) => Err(Error::NotRunning),
            None => Err(Error::NoSuchTask),
        }
    }

    fn park(&mut self, id: TaskId, state: State) -> Result<()> {
        self.running(id)?;
        self.set_state(id, state);
        Ok(())
    }

    fn state(&self, id: TaskId) -> Option<State> {
        self.live_slot(id).map(|slot| slot.state)
    }

    fn live_slot(&self, id: TaskId) -> Option<&Slot<T>> {
        let slot = self.slots.get(id.index as usize)?;
        (slot.generation == id.generation && !matches!(slot.state, State::Free)).then_some(slot)
    }

    fn live_slot_mut(&mut self, id: TaskId) -> Option<&mut Slot<T>> {
        let slot = self.slots.get_mut(id.index as usize)?;
        (slot.generation == id.generation && !matches!(slot.state, State::Free)).then_some(slot)
    }

    /// The one place states change, so the counts stay right.
    fn set_state(&mut self, id: TaskId, state: State) {
        let slot = &mut self.slots[id.index as usize];
        let old = std::mem::replace(&mut slot.state, state);
        if matches!(old, State::Running) && !matches!(state, State::Running) {
            self.resume_ended();
        }
        let (from, to) = (old.index(), state.index());
        debug_assert!(from == kind::FREE || self.in_state[from] > 0);
        self.in_state[from] = self.in_state[from].wrapping_sub(1);
        self.in_state[to] = self.in_state[to].wrapping_add(1);
    }

    /// Times the resume that just parked or ended, and starts the next one's clock.
    fn resume_ended(&mut self) {
        if let Some(began) = self.resume_began {
            let now = clock::monotonic_nanos();
            self.resume_durations
                .record_nanos(now.saturating_sub(began));
            self.resume_began = Some(now);
        }
    }
}

fn deadline_after(now: Instant, duration: Duration) -> Instant {
    now.checked_add(duration)
        .unwrap_or(now + Duration::from_secs(86_400 * 365))
}

/// The epoll descriptor the scheduler waits on. It becomes readable when a registered
/// socket, a finished blocking job or a [`Waker`] has news, so a host event loop can
/// wait on it (with [`Scheduler::next_deadline`] as its timeout) and then call
/// [`Scheduler::poll`] with a zero timeout and run the ready tasks.
#[cfg(unix)]
impl<T> std::os::fd::AsRawFd for Scheduler<T> {
    fn as_raw_fd(&self) -> RawFd {
        self.reactor.poller().as_raw_fd()
    }
}

/// Something the scheduler can run: a state machine resumed by [`Scheduler::run`].
pub trait Task: Sized {
    /// Runs the task until it must wait. Before returning [`Step::Parked`] the task must
    /// have parked itself (`sleep`, `suspend`, `wait_io`, `yield_now`, ...).
    fn resume(&mut self, id: TaskId, wake: Wake, scheduler: &mut Scheduler<Self>) -> Step;
}

/// What a [`Task`] did when resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// It parked itself and wants to run again.
    Parked,
    /// It finished; the scheduler drops it.
    Done,
}

impl<T: Task> Scheduler<T> {
    /// Resumes every task in the run queue once.
    pub fn run_ready(&mut self) {
        let mut batch = Vec::new();
        self.take_ready(&mut batch);
        for id in batch {
            let Some(slot) = self.live_slot_mut(id) else {
                continue;
            };
            let wake = slot.wake;
            let Some(mut task) = slot.task.take() else {
                continue;
            };
            let step = task.resume(id, wake, self);
            if step == Step::Done || self.is_running(id) {
                // Finished, or returned without parking (a bug in the task): drop it
                // rather than leave it stuck in the running state forever.
                self.remove(id);
            } else if let Some(slot) = self.live_slot_mut(id) {
                slot.task = Some(task);
            }
        }
    }

    /// Polls and runs tasks until the scheduler is idle or a [`Waker::stop`] comes.
    ///
    /// A task suspended until a [`Waker::wake`] does not keep it going (it is idle, as
    /// in Copas); use [`run_until_stopped`](Self::run_until_stopped) for that.
    pub fn run(&mut self) -> Result<()> {
        self.run_while(|s| !s.is_idle())
    }

    /// Polls and runs tasks until a [`Waker::stop`], even while idle: for a loop that
    /// other threads feed with [`Waker::wake`].
    pub fn run_until_stopped(&mut self) -> Result<()> {
        self.run_while(|_| true)
    }

    fn run_while(&mut self, go_on: impl Fn(&Self) -> bool) -> Result<()> {
        while go_on(self) {
            // A stop ends the loop after the turn it is in, so wakeups sent before it
            // are still run (a poll does not wait while a stop or wakeup is pending).
            self.poll(None)?;
            self.run_ready();
            if self.stop_requested() {
                self.clear_stop();
                return Ok(());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_bits() {
        let id = TaskId {
            index: 77,
            generation: GENERATION_MASK,
        };
        assert_eq!(TaskId::from_bits(id.to_bits()), id);
        assert!(id.to_bits() < (1u64 << 53));
    }

    #[test]
    fn spawned_tasks_run_in_order_next_turn() {
        let mut s: Scheduler<u32> = Scheduler::new().unwrap();
        let a = s.spawn(1);
        let b = s.spawn(2);
        let mut batch = Vec::new();
        s.take_ready(&mut batch);
        assert_eq!(batch, vec![a, b]);
        s.yield_now(a).unwrap();
        assert_eq!(s.counts().ready, 1);
        s.remove(b);
        assert!(!s.contains(b));
        assert_eq!(s.get(a), Some(&1));
    }

    #[cfg(unix)]
    #[test]
    fn a_poll_is_quiet_when_it_could_wait_and_no_io_came() {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let mut s: Scheduler<()> = Scheduler::new().unwrap();
        let a = s.spawn(());
        let mut batch = Vec::new();
        s.take_ready(&mut batch);
        s.sleep(a, QUIET_WAIT * 2).unwrap();
        assert!(
            s.poll(Some(QUIET_WAIT * 3)).unwrap(),
            "a timer alone keeps it quiet"
        );
        assert!(!s.poll(Some(Duration::ZERO)).unwrap(), "no wait: not quiet");

        let (mut writer, reader) = std::os::unix::net::UnixStream::pair().unwrap();
        let source = s.register(reader.as_raw_fd()).unwrap();
        batch.clear();
        s.take_ready(&mut batch);
        s.wait_io(a, source, Interest::Read, None).unwrap();
        writer.write_all(b"x").unwrap();
        assert!(!s.poll(Some(QUIET_WAIT * 3)).unwrap(), "I/O woke a task");
        assert_eq!(s.counts().ready, 1);
        s.deregister(source);
    }

    #[test]
    fn each_resume_of_a_batch_is_timed_until_its_task_parks_or_goes() {
        let mut s: Scheduler<()> = Scheduler::new().unwrap();
        let a = s.spawn(());
        let b = s.spawn(());
        let mut batch = Vec::new();
        s.take_ready(&mut batch);
        assert_eq!(s.resume_durations().summary()[0], 0.0);
        std::thread::sleep(Duration::from_millis(20));
        s.sleep(a, Duration::from_secs(60)).unwrap();
        s.remove(b);
        let [count, sum, _, _, _, max] = s.resume_durations().summary();
        assert_eq!(count, 2.0, "a parked, b was removed while running");
        assert!(
            sum >= 0.020 && max >= 0.020,
            "a's resume took the sleep: {sum} {max}"
        );

        // Between batches nothing runs: removing a sleeping task times nothing.
        s.poll(Some(Duration::ZERO)).unwrap();
        s.remove(a);
        assert_eq!(s.resume_durations().summary()[0], 2.0);
    }

    #[test]
    fn sleep_wakeup_and_idle() {
        let mut s: Scheduler<()> = Scheduler::new().unwrap();
        let a = s.spawn(());
        let mut batch = Vec::new();
        s.take_ready(&mut batch);
        s.sleep(a, Duration::from_secs(60)).unwrap();
        assert!(!s.is_idle());
        assert!(s.wakeup(a));
        assert!(!s.wakeup(a), "a ready task is not woken again");
        assert_eq!(s.wake_reason(a), Some(Wake::Woken));
        batch.clear();
        s.take_ready(&mut batch);
        s.suspend(a).unwrap();
        assert!(
            s.is_idle(),
            "a suspended task alone does not keep the loop alive"
        );
        s.set_alarm(a, Instant::now() + Duration::from_secs(60))
            .unwrap();
        assert!(!s.is_idle());
        s.remove(a);
        assert!(s.is_idle());
        assert_eq!(s.counts(), TaskCounts::default());
    }

    #[test]
    fn timers_fire_in_order() {
        let mut s: Scheduler<u32> = Scheduler::new().unwrap();
        let ids: Vec<_> = (0..3).map(|n| s.spawn(n)).collect();
        let mut batch = Vec::new();
        s.take_ready(&mut batch);
        s.sleep(ids[0], Duration::from_millis(30)).unwrap();
        s.sleep(ids[1], Duration::from_millis(10)).unwrap();
        s.sleep(ids[2], Duration::from_millis(20)).unwrap();
        let mut order = Vec::new();
        while order.len() < 3 {
            s.poll(Some(Duration::from_secs(1))).unwrap();
            batch.clear();
            s.take_ready(&mut batch);
            order.extend(batch.iter().map(|id| *s.get(*id).unwrap()));
            for id in &batch {
                s.suspend(*id).unwrap();
            }
        }
        assert_eq!(order, vec![1, 2, 0]);
    }

    #[test]
    fn virtual_clock_jumps_to_deadlines_in_order() {
        let mut s: Scheduler<u32> = Scheduler::new().unwrap();
        s.set_virtual_clock(true);
        let start = s.now();
        let wall = s.virtual_time().unwrap();
        let ids: Vec<_> = (0..4).map(|n| s.spawn(n)).collect();
        let mut batch = Vec::new();
        s.take_ready(&mut batch);
        for (id, hours) in ids.iter().zip([3u64, 1, 2, 1]) {
            s.sleep(*id, Duration::from_secs(3600 * hours)).unwrap();
        }
        let real = Instant::now();
        let mut order = Vec::new();
        while order.len() < 4 {
            s.poll(None).unwrap();
            batch.clear();
            s.take_ready(&mut batch);
            for id in &batch {
                let elapsed = s.now() - start;
                order.push((*s.get(*id).unwrap(), elapsed.as_secs() / 3600));
                s.suspend(*id).unwrap();
            }
        }
        assert_eq!(order, vec![(1, 1), (3, 1), (2, 2), (0, 3)]);
        assert!(real.elapsed() < Duration::from_secs(5));
        let virtual_elapsed = s.virtual_time().unwrap() - wall;
        assert!((virtual_elapsed - 3.0 * 3600.0).abs() < 1e-3);
        s.poll(Some(Duration::from_secs(10))).unwrap();
        assert_eq!(s.now() - start, Duration::from_secs(3 * 3600 + 10));
        s.set_virtual_clock(false);
        assert!(!s.is_virtual());
    }

    #[cfg(unix)]
    #[test]
    fn virtual_clock_still_sees_real_io() {
        use std::io::Write;
        let mut s: Scheduler<()> = Scheduler::new().unwrap();
        s.set_virtual_clock(true);
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let source = s.register(std::os::fd::AsRawFd::as_raw_fd(&b)).unwrap();
        let reader = s.spawn(());
        let sleeper = s.spawn(());
        let mut batch = Vec::new();
        s.take_ready(&mut batch);
        let start = s.now();
        s.wait_io(
            reader,
            source,
            Interest::Read,
            Some(start + Duration::from_secs(60)),
        )
        .unwrap();
        s.sleep(sleeper, Duration::from_secs(30)).unwrap();
        a.write_all(b"x").unwrap();
        s.poll(None).unwrap();
        assert_eq!(s.wake_reason(reader), Some(Wake::Ready(Interest::Read)));
        assert_eq!(s.now(), start, "no jump while a task is ready");
        batch.clear();
        s.take_ready(&mut batch);
        assert_eq!(batch, vec![reader]);
        s.suspend(reader).unwrap();
        s.poll(None).unwrap();
        assert_eq!(s.wake_reason(sleeper), Some(Wake::Timer));
        assert_eq!(s.now() - start, Duration::from_secs(30));
    }

    #[test]
    fn blocking_job_completes_the_task() {
        let mut s: Scheduler<()> = Scheduler::new().unwrap();
        let a = s.spawn(());
        let mut batch = Vec::new();
        s.take_ready(&mut batch);
        s.wait_blocking(a, None, || Box::new(41 + 1)).unwrap();
        let started = Instant::now();
        while s.counts().ready == 0 && started.elapsed() < Duration::from_secs(5) {
            s.poll(Some(Duration::from_millis(100))).unwrap();
        }
        assert_eq!(s.wake_reason(a), Some(Wake::Completed));
        let result = s.take_completion(a).unwrap();
        assert_eq!(result.downcast_ref::<i32>(), Some(&42));
    }

    #[test]
    fn blocking_job_deadline_times_out() {
        let mut s: Scheduler<()> = Scheduler::new().unwrap();
        let a = s.spawn(());
        let mut batch = Vec::new();
        s.take_ready(&mut batch);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        s.wait_blocking(
            a,
            Some(Instant::now() + Duration::from_millis(20)),
            move || {
                let _ = wait.recv_timeout(Duration::from_secs(5));
                Box::new(())
            },
        )
        .unwrap();
        s.poll(Some(Duration::from_secs(2))).unwrap();
        assert_eq!(s.wake_reason(a), Some(Wake::TimedOut));
        release.send(()).unwrap();
    }

    #[test]
    fn parking_a_task_that_is_not_running_is_an_error() {
        let mut s: Scheduler<()> = Scheduler::new().unwrap();
        let a = s.spawn(());
        assert!(matches!(s.suspend(a), Err(Error::NotRunning)));
        s.remove(a);
        assert!(matches!(s.suspend(a), Err(Error::NoSuchTask)));
    }
}
