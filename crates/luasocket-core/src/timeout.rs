//! LuaSocket's two timeouts: a block timeout per wait and a total timeout per call.
//!
//! `settimeout(value, "b")` bounds every single wait for the socket to become ready;
//! `settimeout(value, "t")` bounds the whole method call. Both can be set at once,
//! and a negative (or nil) value means "no limit". Each blocking method starts a
//! [`Deadline`] when it is called and asks it how long the next wait may last.

use std::time::{Duration, Instant};

/// Which of the two timeouts `settimeout` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutMode {
    /// `"b"`: the limit on each wait for readiness (LuaSocket's default).
    Block,
    /// `"t"` (or LuaSocket's older `"r"`): the limit on the whole call.
    Total,
}

impl TimeoutMode {
    /// Parses the mode argument of `settimeout` the way LuaSocket does: only the
    /// first character counts (`"b"`, `"block"`, `"t"`, `"total"`, `"r"`).
    pub fn parse(mode: &[u8]) -> Option<Self> {
        match mode.first() {
            Some(b'b') => Some(TimeoutMode::Block),
            Some(b't') | Some(b'r') => Some(TimeoutMode::Total),
            _ => None,
        }
    }
}

/// A socket's block and total timeouts, in seconds as given by the user.
///
/// The raw values are kept (including negative ones) because `gettimeout` returns
/// them as they were set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeout {
    block: f64,
    total: f64,
}

impl Default for Timeout {
    fn default() -> Self {
        Timeout::INFINITE
    }
}

impl Timeout {
    /// Both timeouts unlimited: every call blocks until it completes.
    pub const INFINITE: Timeout = Timeout {
        block: -1.0,
        total: -1.0,
    };

    /// Sets one of the two timeouts; `None` means unlimited (stored as -1 like LuaSocket).
    pub fn set(&mut self, seconds: Option<f64>, mode: TimeoutMode) {
        let value = seconds.unwrap_or(-1.0);
        match mode {
            TimeoutMode::Block => self.block = value,
            TimeoutMode::Total => self.total = value,
        }
    }

    /// The block and total timeouts as `gettimeout` returns them.
    pub fn get(&self) -> (f64, f64) {
        (self.block, self.total)
    }

    /// Starts timing a call now.
    pub fn start(&self) -> Deadline {
        let started = Instant::now();
        Deadline {
            started,
            block: limit(self.block),
            total_end: limit(self.total).and_then(|total| started.checked_add(total)),
        }
    }
}

/// A non-negative, finite number of seconds as a limit; anything else is "no limit".
fn limit(seconds: f64) -> Option<Duration> {
    if seconds >= 0.0 {
        Duration::try_from_secs_f64(seconds).ok()
    } else {
        None
    }
}

/// The timing of one method call: when it started and how long it may still wait.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    started: Instant,
    block: Option<Duration>,
    total_end: Option<Instant>,
}

impl Deadline {
    /// How long the next wait may last: the block timeout, cut to what remains of
    /// the total timeout. `None` means wait without limit.
    pub fn wait_budget(&self) -> Option<Duration> {
        let remaining = self
            .total_end
            .map(|end| end.saturating_duration_since(Instant::now()));
        match (self.block, remaining) {
            (None, None) => None,
            (Some(block), None) => Some(block),
            (None, Some(rest)) => Some(rest),
            (Some(block), Some(rest)) => Some(block.min(rest)),
        }
    }

    /// True when the block timeout is zero: LuaSocket then tries each operation
    /// once and never waits (and `connect` tries only the first address).
    pub fn is_zero(&self) -> bool {
        self.block == Some(Duration::ZERO)
    }

    /// Time since the call started (the 4th return value of LuaSocket's debug build).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_uses_first_character() {
        assert_eq!(TimeoutMode::parse(b"b"), Some(TimeoutMode::Block));
        assert_eq!(TimeoutMode::parse(b"block"), Some(TimeoutMode::Block));
        assert_eq!(TimeoutMode::parse(b"t"), Some(TimeoutMode::Total));
        assert_eq!(TimeoutMode::parse(b"r"), Some(TimeoutMode::Total));
        assert_eq!(TimeoutMode::parse(b"x"), None);
        assert_eq!(TimeoutMode::parse(b""), None);
    }

    #[test]
    fn get_returns_raw_values() {
        let mut timeout = Timeout::default();
        assert_eq!(timeout.get(), (-1.0, -1.0));
        timeout.set(Some(2.5), TimeoutMode::Block);
        timeout.set(Some(-7.0), TimeoutMode::Total);
        assert_eq!(timeout.get(), (2.5, -7.0));
        timeout.set(None, TimeoutMode::Block);
        assert_eq!(timeout.get(), (-1.0, -7.0));
    }

    #[test]
    fn infinite_has_no_budget() {
        let deadline = Timeout::INFINITE.start();
        assert_eq!(deadline.wait_budget(), None);
        assert!(!deadline.is_zero());
    }

    #[test]
    fn block_only_gives_full_block_each_wait() {
        let mut timeout = Timeout::default();
        timeout.set(Some(3.0), TimeoutMode::Block);
        let deadline = timeout.start();
        assert_eq!(deadline.wait_budget(), Some(Duration::from_secs(3)));
        assert_eq!(deadline.wait_budget(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn total_cuts_block() {
        let mut timeout = Timeout::default();
        timeout.set(Some(10.0), TimeoutMode::Block);
        timeout.set(Some(1.0), TimeoutMode::Total);
        let budget = timeout.start().wait_budget().unwrap();
        assert!(budget <= Duration::from_secs(1));
        assert!(budget > Duration::from_millis(500));
    }

    #[test]
    fn expired_total_gives_zero() {
        let mut timeout = Timeout::default();
        timeout.set(Some(0.0), TimeoutMode::Total);
        let deadline = timeout.start();
        assert_eq!(deadline.wait_budget(), Some(Duration::ZERO));
        assert!(!deadline.is_zero(), "only a zero block timeout is 'zero'");
    }

    #[test]
    fn zero_block_is_zero() {
        let mut timeout = Timeout::default();
        timeout.set(Some(0.0), TimeoutMode::Block);
        assert!(timeout.start().is_zero());
    }

    #[test]
    fn absurd_values_mean_no_limit() {
        let mut timeout = Timeout::default();
        timeout.set(Some(f64::NAN), TimeoutMode::Block);
        timeout.set(Some(f64::INFINITY), TimeoutMode::Total);
        assert_eq!(timeout.start().wait_budget(), None);
    }
}
