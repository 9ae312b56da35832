//! Wall-clock time and sleeping, as `socket.gettime` and `socket.sleep` give them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the UNIX epoch, with sub-microsecond resolution.
pub fn gettime() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Sleeps `seconds` (nothing for negative or NaN values; signals do not cut it short).
pub fn sleep(seconds: f64) {
    if seconds > 0.0 {
        std::thread::sleep(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn time_moves_and_sleep_ignores_negative() {
        let start = super::gettime();
        assert!(start > 1.6e9);
        super::sleep(-1.0);
        super::sleep(f64::NAN);
        super::sleep(0.002);
        assert!(super::gettime() >= start + 0.002);
    }
}
