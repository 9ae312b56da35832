//! Wall-clock time, sleeping and a monotonic clock, as `socket.gettime` and
//! `socket.sleep` need them.

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The longest `socket.sleep` LuaSocket honours: `INT_MAX` seconds.
const LONGEST_SLEEP: f64 = i32::MAX as f64;

/// The current UNIX time in seconds, with the clock's full (nanosecond) resolution.
///
/// A clock set before 1970 gives a negative value rather than failing.
pub fn gettime() -> f64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => since.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}

/// Blocks the calling thread for `seconds`, as LuaSocket 3.x's `socket.sleep`.
///
/// A sleep interrupted by a signal continues for the time that remains. Negative
/// and NaN durations do not sleep; durations above `INT_MAX` seconds are cut to it.
pub fn sleep(seconds: f64) {
    std::thread::sleep(sleep_duration(seconds));
}

/// The duration [`sleep`] waits for `seconds`.
pub fn sleep_duration(seconds: f64) -> Duration {
    if seconds.is_nan() || seconds <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(seconds.min(LONGEST_SLEEP))
}

/// Seconds on a monotonic clock, from an unspecified fixed origin in this process.
///
/// Unlike [`gettime`] it never jumps when the system clock is set, so differences
/// between two readings are true elapsed times (what deadlines and timers need).
pub fn monotonic() -> f64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gettime_is_unix_time_with_fractions() {
        let now = gettime();
        // 2020-01-01 .. 2200-01-01: a sane clock.
        assert!(now > 1_577_836_800.0 && now < 7_258_118_400.0, "{now}");
        let samples: Vec<f64> = (0..1000).map(|_| gettime()).collect();
        assert!(samples.iter().any(|t| t.fract() != 0.0));
    }

    #[test]
    fn sleep_durations_follow_luasocket() {
        assert_eq!(sleep_duration(-1.0), Duration::ZERO);
        assert_eq!(sleep_duration(f64::NAN), Duration::ZERO);
        assert_eq!(sleep_duration(f64::NEG_INFINITY), Duration::ZERO);
        assert_eq!(sleep_duration(0.25), Duration::from_millis(250));
        assert_eq!(
            sleep_duration(f64::INFINITY),
            Duration::from_secs(i32::MAX as u64)
        );
        assert_eq!(sleep_duration(1e300), Duration::from_secs(i32::MAX as u64));
    }

    #[test]
    fn sleep_waits_at_least_the_time_asked() {
        let start = Instant::now();
        sleep(0.02);
        assert!(start.elapsed() >= Duration::from_millis(20));
        sleep(-5.0);
        sleep(f64::NAN);
    }

    #[test]
    fn monotonic_never_goes_back() {
        let first = monotonic();
        let second = monotonic();
        assert!(second >= first);
    }
}
