//! Building blocks of the benchmark tools in this crate: the `copas-loadgen` line-echo
//! load generator and the `echo-ref` epoll echo server that sets the reference figures.
//!
//! What for: measuring Copas servers from outside, over loopback TCP, with latency
//! percentiles. Not for: correctness testing (lua-tests/ does that) or anything that
//! leaves the machine.
//!
//! ```
//! use copas_loadgen::Histogram;
//! let mut latencies = Histogram::new();
//! latencies.record(120);
//! assert_eq!(latencies.percentile(50.0), 120);
//! ```

#![warn(missing_docs, unreachable_pub)]

use std::time::Duration;

mod args;

pub use args::Args;

/// What can go wrong in the tools: a bad command line or a socket error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line is wrong; the message says how, for printing with the usage.
    #[error("{0}")]
    Usage(String),
    /// A socket or epoll call failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The result of the tools' fallible functions.
pub type Result<T> = std::result::Result<T, Error>;

/// Values below this are counted exactly; above, each power of two is split into this
/// many buckets, so a percentile is off by less than 1/SUB_BUCKETS of its value.
const SUB_BUCKETS: u64 = 128;
const SUB_BITS: u32 = SUB_BUCKETS.trailing_zeros();

/// A log-linear histogram of latencies in microseconds: constant memory however many
/// samples are recorded (a sorted Vec of millions of samples would distort the run).
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// An empty histogram; its buckets are allocated once, here.
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; Self::bucket(u64::MAX) + 1],
            total: 0,
            max: 0,
        }
    }

    fn bucket(value: u64) -> usize {
        if value < SUB_BUCKETS {
            return value as usize;
        }
        let magnitude = 63 - value.leading_zeros(); // >= SUB_BITS
        let shift = magnitude - SUB_BITS;
        let mantissa = (value >> shift) - SUB_BUCKETS; // 0..SUB_BUCKETS
        ((shift + 1) as u64 * SUB_BUCKETS + mantissa) as usize
    }

    /// The smallest value that falls into `index`.
    fn bucket_floor(index: usize) -> u64 {
        let index = index as u64;
        if index < SUB_BUCKETS {
            return index;
        }
        let shift = index / SUB_BUCKETS - 1;
        (SUB_BUCKETS + index % SUB_BUCKETS) << shift
    }

    /// Counts one latency of `micros` microseconds.
    pub fn record(&mut self, micros: u64) {
        self.counts[Self::bucket(micros)] += 1;
        self.total += 1;
        self.max = self.max.max(micros);
    }

    /// Counts one latency given as a `Duration` (saturating at `u64::MAX` µs).
    pub fn record_duration(&mut self, elapsed: Duration) {
        self.record(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
    }

    /// How many latencies were recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was recorded yet (percentiles are then 0).
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The largest latency recorded, exactly (not rounded to a bucket), in µs.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at percentile `p` (0-100): the lower edge of its bucket, 0 when empty.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::bucket_floor(index).min(self.max);
            }
        }
        self.max
    }
}

/// Length of the prefix of `bytes` that ends with the last newline: the complete lines.
pub fn complete_lines(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |last| last + 1)
}

/// `count` lines of `size` bytes each (newline included), ready to be written at once.
pub fn burst(size: usize, count: usize) -> Vec<u8> {
    let mut line = vec![b'x'; size.max(1)];
    if let Some(last) = line.last_mut() {
        *last = b'\n';
    }
    line.repeat(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in 1..=100 {
            h.record(v);
        }
        assert_eq!(h.percentile(50.0), 50);
        assert_eq!(h.percentile(99.0), 99);
        assert_eq!(h.percentile(100.0), 100);
        assert_eq!(h.len(), 100);
    }

    #[test]
    fn large_values_are_within_one_bucket() {
        let mut h = Histogram::new();
        for v in [1_000u64, 10_000, 123_456, 5_000_000, 90_000_000_000] {
            h.clear_and_record(v);
            let got = h.percentile(50.0);
            assert!(
                got <= v && v - got <= v / SUB_BUCKETS,
                "{v} read back as {got}"
            );
        }
    }

    #[test]
    fn buckets_are_monotonic() {
        let mut previous = 0;
        for index in 1..Histogram::bucket(u64::MAX) {
            let floor = Histogram::bucket_floor(index);
            assert!(floor > previous);
            assert_eq!(Histogram::bucket(floor), index);
            previous = floor;
        }
    }

    #[test]
    fn empty_histogram_reads_zero() {
        assert_eq!(Histogram::new().percentile(99.9), 0);
    }

    #[test]
    fn lines_and_bursts() {
        assert_eq!(complete_lines(b"ab\ncd\nef"), 6);
        assert_eq!(complete_lines(b"abc"), 0);
        let b = burst(4, 3);
        assert_eq!(b, b"xxx\nxxx\nxxx\n");
        assert_eq!(complete_lines(&b), b.len());
    }

    impl Histogram {
        fn clear_and_record(&mut self, v: u64) {
            *self = Histogram::new();
            self.record(v);
        }
    }
}
