//! A closed-loop line-echo load generator on epoll: many connections, each sending a
//! burst of lines and waiting for all of them to come back before sending the next.
//!
//! Used by `cargo xtask bench` (throughput and latency) and by `cargo xtask loadgen`
//! for the 10,000-connection acceptance run. Single-threaded, so it can be pinned to
//! one core while the server under test runs on the other.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub address: SocketAddr,
    pub connections: usize,
    /// Bytes per line, the newline included.
    pub line_size: usize,
    /// Lines written per burst.
    pub burst: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Give up on connections not established by then.
    pub connect_timeout: Duration,
}

/// What came out.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub established: usize,
    pub errors: usize,
    /// Lines echoed back inside the measurement window.
    pub lines: u64,
    pub seconds: f64,
    pub p50_us: u64,
    pub p99_us: u64,
}

impl LoadReport {
    pub fn lines_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.lines as f64 / self.seconds
        } else {
            0.0
        }
    }

    pub fn to_json(&self, config: &LoadConfig) -> String {
        format!(
            "{{\"connections\":{},\"burst\":{},\"line_size\":{},\"established\":{},\"errors\":{},\
             \"lines\":{},\"seconds\":{:.3},\"msgs_per_s\":{:.1},\"p50_us\":{},\"p99_us\":{}}}",
            config.connections,
            config.burst,
            config.line_size,
            self.established,
            self.errors,
            self.lines,
            self.seconds,
            self.lines_per_second(),
            self.p50_us,
            self.p99_us
        )
    }
}

struct Connection {
    stream: TcpStream,
    connected: bool,
    failed: bool,
    /// Bytes of the current burst still to write.
    to_write: usize,
    /// Newlines of the current burst still to read.
    to_read: usize,
    burst_started: Instant,
}

/// Latencies in microseconds, bucketed (1 us up to 1 s, then one overflow bucket).
struct Histogram {
    buckets: Vec<u64>,
    count: u64,
}

impl Histogram {
    fn new() -> Self {
        Histogram { buckets: vec![0; 1_000_001], count: 0 }
    }

    fn record(&mut self, micros: u64) {
        let index = micros.min(1_000_000) as usize;
        self.buckets[index] += 1;
        self.count += 1;
    }

    fn percentile(&self, p: f64) -> u64 {
        let target = ((self.count as f64) * p).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (micros, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= target {
                return micros as u64;
            }
        }
        0
    }
}

/// Runs the load and reports. Connects in batches so the server's accept backlog is
/// not flooded with SYNs all at once.
pub fn run(config: &LoadConfig) -> io::Result<LoadReport> {
    let poller = Poller::new()?;
    let payload: Vec<u8> = {
        let mut line = vec![b'x'; config.line_size.max(1) - 1];
        line.push(b'\n');
        line.repeat(config.burst.max(1))
    };
    let lines_per_burst = config.burst.max(1);
    let mut connections: Vec<Connection> = Vec::with_capacity(config.connections);
    let mut events = Events::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut histogram = Histogram::new();
    let mut report = LoadReport::default();

    let start = Instant::now();
    let connect_deadline = start + config.connect_timeout;
    let mut next_to_open = 0;
    let mut measuring_since: Option<Instant> = None;
    let mut end: Option<Instant> = None;

    loop {
        let now = Instant::now();
        // Open more connections while fewer than 256 are still connecting.
        let pending = connections.iter().filter(|c| !c.connected && !c.failed).count();
        let mut budget = 256usize.saturating_sub(pending);
        while budget > 0 && next_to_open < config.connections {
            let stream = open(config.address)?;
            let key = connections.len();
            // SAFETY: the stream is kept in `connections` until the poller is dropped at
            // the end of this function, so the descriptor outlives its registration.
            unsafe { poller.add_with_mode(stream.as_raw_fd(), Event::all(key), PollMode::Level)? };
            connections.push(Connection {
                stream,
                connected: false,
                failed: false,
                to_write: 0,
                to_read: 0,
                burst_started: now,
            });
            next_to_open += 1;
            budget -= 1;
        }
        let all_settled = next_to_open == config.connections && connections.iter().all(|c| c.connected || c.failed);
        if measuring_since.is_none() && (all_settled || now >= connect_deadline) {
            for c in connections.iter_mut().filter(|c| !c.connected && !c.failed) {
                c.failed = true;
            }
            let begin = now + config.warmup;
            measuring_since = Some(begin);
            end = Some(begin + config.duration);
        }
        if let Some(end) = end {
            if now >= end {
                break;
            }
        }
        if now >= connect_deadline + config.warmup + config.duration + Duration::from_secs(5) {
            break;
        }

        events.clear();
        poller.wait(&mut events, Some(Duration::from_millis(50)))?;
        for event in events.iter() {
            let c = &mut connections[event.key];
            if c.failed {
                continue;
            }
            if !c.connected {
                match c.stream.take_error() {
                    Ok(None) if event.writable => {
                        c.connected = true;
                        c.to_write = payload.len();
                        c.to_read = lines_per_burst;
                        c.burst_started = Instant::now();
                    }
                    Ok(None) => continue,
                    _ => {
                        c.failed = true;
                        continue;
                    }
                }
            }
            if c.to_write > 0 {
                let offset = payload.len() - c.to_write;
                match c.stream.write(&payload[offset..]) {
                    Ok(n) => c.to_write -= n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        c.failed = true;
                        continue;
                    }
                }
            }
            if event.readable {
                match c.stream.read(&mut buffer) {
                    Ok(0) => c.failed = true,
                    Ok(n) => {
                        let newlines = buffer[..n].iter().filter(|&&b| b == b'\n').count();
                        c.to_read = c.to_read.saturating_sub(newlines);
                        if c.to_read == 0 && c.to_write == 0 {
                            let finished = Instant::now();
                            if measuring_since.is_some_and(|since| finished >= since) && end.is_some_and(|e| finished < e)
                            {
                                report.lines += lines_per_burst as u64;
                                histogram.record(finished.duration_since(c.burst_started).as_micros() as u64);
                            }
                            c.to_write = payload.len();
                            c.to_read = lines_per_burst;
                            c.burst_started = finished;
                            if let Ok(n) = c.stream.write(&payload) {
                                c.to_write -= n;
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => c.failed = true,
                }
            }
            if c.to_write > 0 || c.failed {
                let interest = if c.failed { Event::none(event.key) } else { Event::all(event.key) };
                poller.modify_with_mode(&c.stream, interest, PollMode::Level)?;
            } else {
                poller.modify_with_mode(&c.stream, Event::readable(event.key), PollMode::Level)?;
            }
        }
    }

    report.established = connections.iter().filter(|c| c.connected).count();
    report.errors = connections.iter().filter(|c| c.failed).count();
    report.seconds = config.duration.as_secs_f64();
    report.p50_us = histogram.percentile(0.50);
    report.p99_us = histogram.percentile(0.99);
    for c in &connections {
        let _ = poller.delete(&c.stream);
    }
    Ok(report)
}

fn open(address: SocketAddr) -> io::Result<TcpStream> {
    let domain = if address.is_ipv4() { socket2::Domain::IPV4 } else { socket2::Domain::IPV6 };
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    match socket.connect(&address.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(socket.into())
}
