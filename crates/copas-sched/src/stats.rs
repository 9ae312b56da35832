//! Duration statistics kept by the scheduler (resumes) and its drivers (steps).

use std::time::Duration;

/// How many of the latest durations the percentiles are taken over.
pub const WINDOW: usize = 1024;

/// Durations (of resumes, of steps): a count and sum over all time, and the latest [`WINDOW`] of them for
/// percentiles and the maximum.
#[derive(Debug)]
pub struct DurationStats {
    count: u64,
    /// Nanoseconds, saturating (584 years).
    total_nanos: u64,
    /// Nanoseconds, saturated at `u32::MAX` (4.3 s), in a ring.
    window: Box<[u32; WINDOW]>,
}

impl Default for DurationStats {
    fn default() -> Self {
        DurationStats {
            count: 0,
            total_nanos: 0,
            window: Box::new([0; WINDOW]),
        }
    }
}

impl DurationStats {
    /// Adds one duration.
    pub fn record(&mut self, duration: Duration) {
        self.record_nanos(u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Adds one duration given in nanoseconds.
    pub fn record_nanos(&mut self, nanos: u64) {
        let slot = (self.count % WINDOW as u64) as usize;
        self.window[slot] = u32::try_from(nanos).unwrap_or(u32::MAX);
        self.count += 1;
        self.total_nanos = self.total_nanos.saturating_add(nanos);
    }

    /// count, sum, mean, p50, p99, max (seconds; the last three over the window).
    pub fn summary(&self) -> [f64; 6] {
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
        let total = self.total_nanos as f64 / 1e9;
        let mean = if self.count == 0 {
            0.0
        } else {
            total / self.count as f64
        };
        [self.count as f64, total, mean, at(0.5), at(0.99), at(1.0)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_over_the_window() {
        let mut d = DurationStats::default();
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
