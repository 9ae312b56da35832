//! Counters and timings behind `copas.metrics()`, kept on the paths that exist anyway:
//! `step` counts steps and resumes and times the work of each step, `recv`/`send`
//! count bytes, and `resumed` (called by `copas.lua` after each resume) times single
//! resumes. Each is a few integer additions and, for the timings, one clock read.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::{Lua, Result, Table};

/// How many of the latest durations the percentiles are taken over.
const WINDOW: usize = 1024;

/// Durations: a count and sum over all time, and the latest [`WINDOW`] of them for
/// percentiles and the maximum.
#[derive(Debug)]
pub(crate) struct Durations {
    count: u64,
    total: Duration,
    /// Nanoseconds, saturated at `u32::MAX` (4.3 s), in a ring.
    window: Box<[u32; WINDOW]>,
}

impl Default for Durations {
    fn default() -> Self {
        Durations {
            count: 0,
            total: Duration::ZERO,
            window: Box::new([0; WINDOW]),
        }
    }
}

impl Durations {
    fn record(&mut self, duration: Duration) {
        let slot = (self.count % WINDOW as u64) as usize;
        self.window[slot] = u32::try_from(duration.as_nanos()).unwrap_or(u32::MAX);
        self.count += 1;
        self.total = self.total.saturating_add(duration);
    }

    /// count, sum, mean, p50, p99, max (seconds; the last three over the window).
    fn summary(&self) -> [f64; 6] {
        let filled = (self.count as usize).min(WINDOW);
        let mut latest = self.window[..filled].to_vec();
        latest.sort_unstable();
        let at = |q: f64| {
            if latest.is_empty() {
                return 0.0;
            }
            let rank = ((q * filled as f64).ceil() as usize).clamp(1, filled);
            f64::from(latest[rank - 1]) / 1e9
        };
        let total = self.total.as_secs_f64();
        let mean = if self.count == 0 {
            0.0
        } else {
            total / self.count as f64
        };
        [self.count as f64, total, mean, at(0.5), at(0.99), at(1.0)]
    }
}

/// The counters of one Lua state.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) bytes_received: Cell<u64>,
    pub(crate) bytes_sent: Cell<u64>,
    steps: Cell<u64>,
    resumes: Cell<u64>,
    /// When the work of the current step began (the poll returned).
    step_work: Cell<Option<Instant>>,
    /// When the resume in progress began.
    resume_start: Cell<Option<Instant>>,
    step_durations: RefCell<Durations>,
    resume_durations: RefCell<Durations>,
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
        self.resume_start.set(None);
    }

    /// The poll of a step returned with `resumes` tasks to resume.
    pub(crate) fn step_polled(&self, resumes: usize) {
        let now = Instant::now();
        self.steps.set(self.steps.get() + 1);
        self.resumes.set(self.resumes.get() + resumes as u64);
        self.step_work.set(Some(now));
        self.resume_start.set((resumes > 0).then_some(now));
    }

    /// A resume returned; the next one (if any) starts now.
    pub(crate) fn resumed(&self) {
        if let Some(started) = self.resume_start.get() {
            let now = Instant::now();
            self.resume_durations
                .borrow_mut()
                .record(now.duration_since(started));
            self.resume_start.set(Some(now));
        }
    }

    pub(crate) fn add_received(&self, count: usize) {
        self.bytes_received
            .set(self.bytes_received.get() + count as u64);
    }

    pub(crate) fn add_sent(&self, count: usize) {
        self.bytes_sent.set(self.bytes_sent.get() + count as u64);
    }

    /// Fills `t` with the counters (see `copas.metrics` in docs/observability.md).
    pub(crate) fn fill(&self, lua: &Lua, t: &Table) -> Result<()> {
        t.set("bytes_received", self.bytes_received.get())?;
        t.set("bytes_sent", self.bytes_sent.get())?;
        t.set("steps", self.steps.get())?;
        t.set("resumes", self.resumes.get())?;
        for (name, durations) in [
            ("step_duration", &self.step_durations),
            ("resume_duration", &self.resume_durations),
        ] {
            let [count, sum, mean, p50, p99, max] = durations.borrow().summary();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_over_the_window() {
        let mut d = Durations::default();
        for ms in 1..=100u64 {
            d.record(Duration::from_millis(ms));
        }
        let [count, sum, mean, p50, p99, max] = d.summary();
        assert_eq!(count, 100.0);
        assert!((sum - 5.05).abs() < 1e-9);
        assert!((mean - 0.0505).abs() < 1e-9);
        assert!((p50 - 0.050).abs() < 1e-9);
        assert!((p99 - 0.099).abs() < 1e-9);
        assert!((max - 0.100).abs() < 1e-9);
        for _ in 0..WINDOW {
            d.record(Duration::from_micros(5));
        }
        let [count, _, _, p50, _, max] = d.summary();
        assert_eq!(count, (100 + WINDOW) as f64);
        assert!((p50 - 5e-6).abs() < 1e-12 && (max - 5e-6).abs() < 1e-12);
    }
}
