//! Counters behind `copas.metrics()`, kept on the paths that exist anyway: `step`
//! counts steps and resumes, `recv`/`send` count bytes, each a few integer additions.
//! The timings are the scheduler's: it times single resumes (it sees each one end: the
//! task parks or is removed) and steps (from one poll's clock read to the next), so
//! neither `copas.lua` nor this module reads the clock for them.

use std::cell::Cell;
use std::rc::Rc;

use copas_sched::{Scheduler, WINDOW};

use crate::dispatch::TaskData;

use mlua::{Lua, Result, Table};

/// The counters of one Lua state.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) bytes_received: Cell<u64>,
    pub(crate) bytes_sent: Cell<u64>,
    steps: Cell<u64>,
    resumes: Cell<u64>,
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

    /// The poll of a step returned with `resumes` tasks to resume.
    pub(crate) fn step_polled(&self, resumes: usize) {
        self.steps.set(self.steps.get() + 1);
        self.resumes.set(self.resumes.get() + resumes as u64);
    }

    pub(crate) fn add_received(&self, count: usize) {
        self.bytes_received
            .set(self.bytes_received.get() + count as u64);
    }

    pub(crate) fn add_sent(&self, count: usize) {
        self.bytes_sent.set(self.bytes_sent.get() + count as u64);
    }

    /// Fills `t` with the counters (see `copas.metrics` in docs/observability.md) and
    /// the scheduler's step and resume durations.
    pub(crate) fn fill(&self, lua: &Lua, t: &Table, scheduler: &Scheduler<TaskData>) -> Result<()> {
        t.set("bytes_received", self.bytes_received.get())?;
        t.set("bytes_sent", self.bytes_sent.get())?;
        t.set("steps", self.steps.get())?;
        t.set("resumes", self.resumes.get())?;
        for (name, durations) in [
            ("step_duration", scheduler.step_durations()),
            ("resume_duration", scheduler.resume_durations()),
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
