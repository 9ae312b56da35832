//! `copas-loadgen`: a line-echo load generator for the benchmarks.
//!
//! Opens `--conns` TCP connections (paced, at most `--connect-batch` in flight at once),
//! then each connection writes a burst of `--burst` lines of `--size` bytes (newline
//! included) and waits for all of them to come back before writing the next. After
//! `--warmup` seconds it counts echoed lines and their round-trip times for `--duration`
//! seconds and prints one JSON object on stdout.
//!
//! With `--idle 1` it instead opens the connections, has each echo one line (so the
//! server has a handler running for it), prints the JSON object and then holds the
//! connections open until its stdin is closed: the benchmark measures the server's
//! memory per idle connection meanwhile.

#![warn(missing_docs, unreachable_pub)]

use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use copas_loadgen::{burst, Args, Histogram, Result};
use polling::{Event, Events, PollMode, Poller};
use socket2::{Domain, Socket, Type};

const OPTIONS: &[&str] = &[
    "host",
    "port",
    "conns",
    "size",
    "burst",
    "warmup",
    "duration",
    "connect-timeout",
    "connect-batch",
    "idle",
];

#[derive(Debug)]
struct Config {
    server: SocketAddr,
    conns: usize,
    size: usize,
    burst: usize,
    warmup: Duration,
    duration: Duration,
    connect_timeout: Duration,
    connect_batch: usize,
    idle: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Connecting,
    Open,
    Gone,
}

#[derive(Debug)]
struct Conn {
    socket: Socket,
    state: State,
    /// Lines of the current burst not echoed yet.
    outstanding: usize,
    /// Bytes of the current burst written so far.
    written: usize,
    sent_at: Instant,
    /// Lines echoed back in the measured window.
    replies: u64,
    /// Lines echoed back at all.
    echoed: u64,
}

#[derive(Debug, Default)]
struct Totals {
    established: usize,
    connect_failed: usize,
    errors: usize,
    lines: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Warmup,
    Measuring,
}

fn main() -> ExitCode {
    match Args::parse(std::env::args().skip(1), OPTIONS)
        .and_then(|args| config(&args))
        .and_then(|config| run(&config))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("copas-loadgen: {error}");
            ExitCode::FAILURE
        }
    }
}

fn config(args: &Args) -> Result<Config> {
    let host: IpAddr = args.get("host", [127, 0, 0, 1].into())?;
    let port: u16 = args.get("port", 0)?;
    if port == 0 {
        return Err(copas_loadgen::Error::Usage("--port is required".into()));
    }
    let seconds = |name, default| -> Result<Duration> {
        let value: f64 = args.get(name, default)?;
        Duration::try_from_secs_f64(value)
            .map_err(|_| copas_loadgen::Error::Usage(format!("--{name}: bad duration")))
    };
    Ok(Config {
        server: SocketAddr::new(host, port),
        conns: args.get("conns", 10usize)?.max(1),
        size: args.get("size", 64usize)?.max(1),
        burst: args.get("burst", 1usize)?.max(1),
        warmup: seconds("warmup", 1.0)?,
        duration: seconds("duration", 3.0)?,
        connect_timeout: seconds("connect-timeout", 20.0)?,
        connect_batch: args.get("connect-batch", 256usize)?.max(1),
        idle: args.get::<u8>("idle", 0)? != 0,
    })
}

fn run(config: &Config) -> Result<()> {
    let poller = Poller::new()?;
    let payload = burst(config.size, config.burst);
    let mut conns: Vec<Conn> = Vec::with_capacity(config.conns);
    let mut totals = Totals::default();
    let mut latencies = Histogram::new();
    let mut events = Events::new();
    let started = Instant::now();
    let connect_deadline = started + config.connect_timeout;
    let mut connecting = 0usize;
    let mut phase = Phase::Connecting;
    let mut phase_end = connect_deadline;
    let mut measured_from = started;

    loop {
        while connecting < config.connect_batch && conns.len() < config.conns {
            let key = conns.len();
            match open(config.server, &poller, key) {
                Ok(socket) => {
                    conns.push(Conn {
                        socket,
                        state: State::Connecting,
                        outstanding: 0,
                        written: 0,
                        sent_at: Instant::now(),
                        replies: 0,
                        echoed: 0,
                    });
                    connecting += 1;
                }
                Err(error) => {
                    eprintln!("copas-loadgen: connect: {error}");
                    totals.connect_failed += config.conns - conns.len();
                    phase_end = Instant::now();
                    break;
                }
            }
        }

        let now = Instant::now();
        if phase == Phase::Connecting {
            let settled = conns.len() + totals.connect_failed >= config.conns && connecting == 0;
            let ready = settled
                && (!config.idle || conns.iter().all(|c| c.state != State::Open || c.echoed > 0));
            if ready || now >= phase_end {
                if config.idle {
                    return hold(config, &conns, &totals);
                }
                phase = Phase::Warmup;
                phase_end = now + config.warmup;
            }
        }
        if phase == Phase::Warmup && now >= phase_end {
            phase = Phase::Measuring;
            measured_from = now;
            phase_end = now + config.duration;
            latencies = Histogram::new();
            totals.lines = 0;
            conns.iter_mut().for_each(|c| c.replies = 0);
        }
        if phase == Phase::Measuring && now >= phase_end {
            break;
        }

        events.clear();
        let wait = phase_end
            .saturating_duration_since(now)
            .min(Duration::from_millis(50));
        poller.wait(&mut events, Some(wait))?;
        for event in events.iter() {
            let Some(conn) = conns.get_mut(event.key) else {
                continue;
            };
            let was_connecting = conn.state == State::Connecting;
            let traffic = Traffic {
                payload: &payload,
                lines_per_burst: config.burst,
                once: config.idle,
                phase,
            };
            step(conn, &traffic, &mut latencies, &mut totals);
            if was_connecting && conn.state != State::Connecting {
                connecting -= 1;
            }
            if conn.state == State::Gone {
                let _ = poller.delete(&conn.socket);
            }
        }
    }

    let seconds = measured_from.elapsed().as_secs_f64();
    let served = conns.iter().filter(|c| c.replies > 0).count();
    println!(
        "{{\"conns\":{},\"burst\":{},\"size\":{},\"established\":{},\"connect_failed\":{},\
         \"errors\":{},\"served\":{},\"lines\":{},\"seconds\":{:.3},\"msgs_per_s\":{:.1},\
         \"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{}}}",
        config.conns,
        config.burst,
        config.size,
        totals.established,
        totals.connect_failed,
        totals.errors,
        served,
        totals.lines,
        seconds,
        totals.lines as f64 / seconds.max(1e-9),
        latencies.percentile(50.0),
        latencies.percentile(99.0),
        latencies.percentile(99.9),
        latencies.max(),
    );
    // Connections close (gracefully) as `conns` drops after the poller.
    drop(poller);
    Ok(())
}

/// What each connection writes, and whether its echoes are being measured.
#[derive(Debug)]
struct Traffic<'a> {
    payload: &'a [u8],
    lines_per_burst: usize,
    /// Only one burst per connection (the idle mode).
    once: bool,
    phase: Phase,
}

/// Starts a non-blocking connect to `server` and registers it under `key`.
fn open(server: SocketAddr, poller: &Poller, key: usize) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(server), Type::STREAM, None)?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    match socket.connect(&server.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    // SAFETY: every socket is deleted from the poller when it is given up, and the
    // poller is dropped before the remaining sockets; epoll also forgets closed
    // descriptors by itself.
    unsafe { poller.add_with_mode(&socket, Event::all(key), PollMode::Edge)? };
    Ok(socket)
}

/// Linux's errno for a non-blocking connect that is under way.
const EINPROGRESS: i32 = 115;

/// Moves one connection along after a readiness event: finish connecting, read the
/// echoes, write the next burst.
fn step(conn: &mut Conn, traffic: &Traffic, latencies: &mut Histogram, totals: &mut Totals) {
    let payload = traffic.payload;
    if conn.state == State::Connecting {
        match conn.socket.take_error() {
            Ok(None) if conn.socket.peer_addr().is_ok() => {
                conn.state = State::Open;
                totals.established += 1;
            }
            // Not connected yet: a spurious wakeup.
            Ok(None) => return,
            Ok(Some(_)) | Err(_) => {
                conn.state = State::Gone;
                totals.connect_failed += 1;
                return;
            }
        }
    }
    if conn.state != State::Open {
        return;
    }
    let mut buf = [0u8; 16 * 1024];
    loop {
        match conn.socket.read(&mut buf) {
            Ok(0) => return gone(conn, totals),
            Ok(n) => {
                let lines = buf[..n].iter().filter(|&&b| b == b'\n').count();
                let now = Instant::now();
                conn.outstanding = conn.outstanding.saturating_sub(lines);
                conn.echoed += lines as u64;
                if traffic.phase == Phase::Measuring {
                    for _ in 0..lines {
                        latencies.record_duration(now - conn.sent_at);
                    }
                    conn.replies += lines as u64;
                    totals.lines += lines as u64;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return gone(conn, totals),
        }
    }
    if conn.outstanding == 0 && conn.written == payload.len() {
        conn.written = 0;
    }
    if traffic.once && conn.echoed > 0 {
        return;
    }
    if conn.written == 0 && conn.outstanding == 0 {
        conn.outstanding = traffic.lines_per_burst;
        conn.sent_at = Instant::now();
    }
    while conn.written < payload.len() {
        match conn.socket.write(&payload[conn.written..]) {
            Ok(n) => conn.written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return gone(conn, totals),
        }
    }
}

fn gone(conn: &mut Conn, totals: &mut Totals) {
    conn.state = State::Gone;
    totals.errors += 1;
}

/// The idle mode's end: report, then keep the connections open until stdin closes.
fn hold(config: &Config, conns: &[Conn], totals: &Totals) -> Result<()> {
    let idle = conns.iter().filter(|c| c.state == State::Open).count();
    println!(
        "{{\"conns\":{},\"established\":{},\"connect_failed\":{},\"errors\":{},\"idle\":{}}}",
        config.conns, totals.established, totals.connect_failed, totals.errors, idle
    );
    io::stdout().flush()?;
    io::copy(&mut io::stdin(), &mut io::sink())?;
    Ok(())
}
