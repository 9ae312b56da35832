//! LuaSocket's timeout model: a per-wait *block* limit and a per-call *total* limit.

use std::time::{Duration, Instant};

/// Which limit `settimeout` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutMode {
    /// `"b"`: the longest any single wait inside a call may take (the default).
    Block,
    /// `"t"`: the longest a whole call may take.
    Total,
}

/// The two limits of a socket; `None` is LuaSocket's negative value: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timeout {
    block: Option<f64>,
    total: Option<f64>,
}

impl Timeout {
    /// No limits: calls block until they complete.
    pub const INFINITE: Timeout = Timeout {
        block: None,
        total: None,
    };

    /// Sets one limit; a negative or NaN value removes it.
    pub fn set(&mut self, seconds: Option<f64>, mode: TimeoutMode) {
        let value = seconds.filter(|s| *s >= 0.0);
        match mode {
            TimeoutMode::Block => self.block = value,
            TimeoutMode::Total => self.total = value,
        }
    }

    /// The block limit (`None`: none).
    pub fn block(&self) -> Option<f64> {
        self.block
    }

    /// The total limit (`None`: none).
    pub fn total(&self) -> Option<f64> {
        self.total
    }

    /// Starts the clock of one call.
    pub fn start(&self) -> Deadline {
        Deadline {
            timeout: *self,
            started: Instant::now(),
        }
    }
}

/// The limits of one call in progress.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    timeout: Timeout,
    started: Instant,
}

impl Deadline {
    /// A call that must not wait at all.
    pub fn immediate() -> Self {
        Timeout {
            block: Some(0.0),
            total: None,
        }
        .start()
    }

    /// How long the next wait may take: `None` means forever. Follows LuaSocket's
    /// `timeout_get`: the block limit, cut down to what is left of the total limit.
    pub fn remaining(&self) -> Option<Duration> {
        let left = self
            .timeout
            .total
            .map(|total| (total - self.started.elapsed().as_secs_f64()).max(0.0));
        let seconds = match (self.timeout.block, left) {
            (None, None) => return None,
            (Some(block), None) => block,
            (None, Some(left)) => left,
            (Some(block), Some(left)) => block.min(left),
        };
        Some(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
    }

    /// Seconds since the call started (the elapsed-time value of LuaSocket debug builds).
    pub fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_total_and_infinite() {
        assert_eq!(Timeout::INFINITE.start().remaining(), None);
        let mut t = Timeout::default();
        t.set(Some(2.0), TimeoutMode::Block);
        assert_eq!(t.start().remaining(), Some(Duration::from_secs(2)));
        t.set(Some(1.0), TimeoutMode::Total);
        assert!(t.start().remaining().unwrap() <= Duration::from_secs(1));
        t.set(Some(-1.0), TimeoutMode::Block);
        assert_eq!(t.block(), None);
        assert!(t.start().remaining().unwrap() <= Duration::from_secs(1));
        assert_eq!(Deadline::immediate().remaining(), Some(Duration::ZERO));
    }
}
