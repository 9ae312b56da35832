//! Counters and timings behind `copas.metrics()`, kept on the paths that exist anyway:
//! `step` counts steps and resumes and times the work of each step, `recv`/`send`
//! count bytes. Each is a few integer additions and, for the timings, one clock read.
//! Single resumes are timed by the scheduler, which sees each one end (the task parks
//! or is removed), so `copas.lua` makes no call of its own for them.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use copas_sched::{DurationStats, WINDOW};

use mlua::{Lua, Result, Table};

/// The counters of one Lua state.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) bytes_received: Cell<u64>,
    pub(crate) bytes_sent: Cell<u64>,
    steps: Cell<u64>,
    resumes: Cell<u64>,
    /// When the work of the current step began (the poll returned).
    step_work: Cell<Option<Instant>>,
    step_durations: RefCell<DurationStats>,
}

impl Metrics {
    /// The metrics of this Lua state (one per state, like the dispatcher).
    pub(crate) fn of(lua: &Lua) -> Rc<Metrics> {
        if let Some(existing) = lua.app_data_ref::<Rc<Metrics>>() {
            return existing.clone();
        }
        let created = Rc::new(Metrics::default());
        lua.set_app_data(created.clone());
        created
    }

    /// A step begins: the previous step's work (from its poll to now) is done.
    pub(crate) fn step_begins(&self) {
        if let Some(started) = self.step_work.take() {
            self.step_durations.borrow_mut().record(started.elapsed());
        }
    }

    /// The poll of a step returned with `resumes` tasks to resume.
    pub(crate) fn step_polled(&self, resumes: usize) {
        let now = Instant::now();
        self.steps.set(self.steps.get() + 1);
        self.resumes.set(self.resumes.get() + resumes as u64);
        self.step_work.set(Some(now));
    }

    pub(crate) fn add_received(&self, count: usize) {
        self.bytes_received
            .set(self.bytes_received.get() + count as u64);
    }

    pub(crate) fn add_sent(&self, count: usize) {
        self.bytes_sent.set(self.bytes_sent.get() + count as u64);
    }

    /// Fills `t` with the counters (see `copas.metrics` in docs/observability.md) and
    /// the scheduler's `resume_durations`.
    pub(crate) fn fill(
        &self,
        lua: &Lua,
        t: &Table,
        resume_durations: &DurationStats,
    ) -> Result<()> {
        t.set("bytes_received", self.bytes_received.get())?;
        t.set("bytes_sent", self.bytes_sent.get())?;
        t.set("steps", self.steps.get())?;
        t.set("resumes", self.resumes.get())?;
        let step_durations = self.step_durations.borrow();
        for (name, durations) in [
            ("step_duration", &*step_durations),
            ("resume_duration", resume_durations),
        ] {
            let [count, sum, mean, p50, p99, max] = durations.summary();
            let d = lua.create_table()?;
            d.set("count", count)?;
            d.set("sum", sum)?;
            d.set("mean", mean)?;
            d.set("p50", p50)?;
            d.set("p99", p99)?;
            d.set("max", max)?;
            d.set("window", WINDOW)?;
            t.set(name, d)?;
        }
        Ok(())
    }
}
