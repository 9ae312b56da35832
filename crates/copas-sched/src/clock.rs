//! The clock that times single resumes: read once each time a task parks or ends, so
//! it must cost little. On Unix it is `CLOCK_MONOTONIC` in plain nanoseconds, which
//! spares the normalising arithmetic of `Instant` differences on every resume.

/// Nanoseconds on a monotonic clock from an unspecified origin.
#[cfg(unix)]
pub(crate) fn monotonic_nanos() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write to. CLOCK_MONOTONIC exists on every
    // Unix we build for, so the call cannot fail (a failure would leave zero).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let seconds = u64::try_from(now.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(now.tv_nsec).unwrap_or(0);
    seconds.wrapping_mul(1_000_000_000).wrapping_add(nanos)
}

/// Nanoseconds on a monotonic clock from an unspecified origin.
#[cfg(not(unix))]
pub(crate) fn monotonic_nanos() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let elapsed = ORIGIN.get_or_init(Instant::now).elapsed();
    u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn it_advances_with_real_time() {
        let first = monotonic_nanos();
        std::thread::sleep(Duration::from_millis(2));
        let second = monotonic_nanos();
        assert!(second - first >= 2_000_000, "{first} {second}");
    }
}
