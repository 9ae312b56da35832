//! `cargo xtask soak`: churns thousands of connections through a Copas echo server on
//! the release runner and checks that it gives back every descriptor.
//!
//! Clients (in threads here) mix well-behaved echo sessions, which count every wrong or
//! missing answer, with abusive ones: abrupt resets (SO_LINGER 0), half-closes, slowloris
//! writers and clients that never read. Afterwards the server's descriptor count must be
//! back to its baseline; its RSS is reported. Not part of `ci`: lua-tests/soak_short.lua
//! is the short variant.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::workspace::{self, Workspace};
use crate::Result;

const SERVER: &str = "xtask/lua/soak_server.lua";
/// Seconds the server gives a silent or slow client (its script's argument).
const SERVER_TIMEOUT: &str = "2";
const THREADS: usize = 8;
const IO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
struct Counts {
    started: AtomicU64,
    well_behaved: AtomicU64,
    errors: AtomicU64,
    abusive: AtomicU64,
}

pub(crate) fn command(args: &[String]) -> Result {
    let mut secs = 300u64;
    let mut conns = 10_000u64;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || -> Result<u64> {
            Ok(args
                .next()
                .ok_or_else(|| format!("soak: {arg} needs a number"))?
                .parse()?)
        };
        match arg.as_str() {
            "--secs" => secs = value()?,
            "--conns" => conns = value()?,
            other => return Err(format!("soak: unexpected argument '{other}'").into()),
        }
    }
    let workspace = Workspace::locate()?;
    println!("building the release runner");
    let mut cargo = workspace.cargo();
    cargo.args([
        "build",
        "--quiet",
        "--release",
        "-p",
        "copas-lua",
        "--bin",
        "copas",
    ]);
    workspace::run(cargo)?;
    crate::child::raise_open_file_limit()?;
    let runner = workspace.target.join("release").join("copas");
    let mut server = Server::start(&runner, &workspace.root)?;
    let result = soak(&server, secs, conns);
    server.stop();
    result
}

fn soak(server: &Server, secs: u64, conns: u64) -> Result {
    // Warm up (allocator pools, the scheduler's tables) before taking the baseline.
    for i in 0..50 {
        well_behaved(server.addr, i)?;
    }
    // The server closes its side of the last warm-up connection just after answering.
    thread::sleep(Duration::from_millis(500));
    let (fds_before, rss_before) = (server.fds()?, server.rss_kib()?);
    println!("baseline: {fds_before} fds, RSS {rss_before} KiB");

    let counts = Arc::new(Counts::default());
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let counts = Arc::clone(&counts);
            let addr = server.addr;
            thread::spawn(move || loop {
                let i = counts.started.fetch_add(1, Ordering::Relaxed);
                if i >= conns || Instant::now() >= deadline {
                    break;
                }
                churn_one(addr, i, &counts);
            })
        })
        .collect();
    for handle in threads {
        handle.join().map_err(|_| "a client thread panicked")?;
    }
    let elapsed = started.elapsed();
    let served = counts.well_behaved.load(Ordering::Relaxed);
    let abusive = counts.abusive.load(Ordering::Relaxed);
    let errors = counts.errors.load(Ordering::Relaxed);
    println!(
        "churned {} connections in {:.1} s: {served} well-behaved ({errors} errors), {abusive} abusive",
        served + abusive,
        elapsed.as_secs_f64()
    );

    // Dropped clients free their server side within the server's timeout.
    let settle = Instant::now();
    let mut fds_after = server.fds()?;
    while fds_after > fds_before && settle.elapsed() < Duration::from_secs(30) {
        thread::sleep(Duration::from_millis(200));
        fds_after = server.fds()?;
    }
    let rss_after = server.rss_kib()?;
    println!("after: {fds_after} fds, RSS {rss_after} KiB (baseline {fds_before} fds, RSS {rss_before} KiB)");
    if errors > 0 {
        return Err(format!("{errors} well-behaved clients saw errors").into());
    }
    if fds_after > fds_before {
        return Err(format!("descriptors leaked: {fds_before} before, {fds_after} after").into());
    }
    Ok(())
}

/// One connection of the kind its number picks.
fn churn_one(addr: SocketAddr, i: u64, counts: &Counts) {
    let (counter, outcome) = match i % 10 {
        0..=4 => (&counts.well_behaved, well_behaved(addr, i)),
        5 => (&counts.well_behaved, half_close(addr, i)),
        6 => (&counts.abusive, reset(addr)),
        7 => (&counts.abusive, slowloris(addr)),
        8 => (&counts.abusive, never_reads(addr)),
        _ => (&counts.abusive, connect(addr).map(drop).map_err(Into::into)),
    };
    counter.fetch_add(1, Ordering::Relaxed);
    let checked = i % 10 <= 5;
    if let Err(error) = outcome {
        if checked {
            counts.errors.fetch_add(1, Ordering::Relaxed);
            eprintln!("client {i}: {error}");
        }
    }
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// A few lines, each echoed; any difference is an error.
fn well_behaved(addr: SocketAddr, i: u64) -> Result {
    let stream = connect(addr)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    for line in 0..3 {
        let sent = format!("client {i} line {line}\n");
        writer.write_all(sent.as_bytes())?;
        let mut got = String::new();
        reader.read_line(&mut got)?;
        if got != sent {
            return Err(format!("sent {sent:?}, got {got:?}").into());
        }
    }
    Ok(())
}

/// Sends a line, closes its sending side, and must still get the echo and then EOF.
fn half_close(addr: SocketAddr, i: u64) -> Result {
    let mut stream = connect(addr)?;
    let sent = format!("half {i}\n");
    stream.write_all(sent.as_bytes())?;
    stream.shutdown(Shutdown::Write)?;
    let mut got = String::new();
    stream.read_to_string(&mut got)?;
    if got != sent {
        return Err(format!("sent {sent:?}, got {got:?}").into());
    }
    Ok(())
}

/// Half a line, then a RST.
fn reset(addr: SocketAddr) -> Result {
    let stream = connect(addr)?;
    (&stream).write_all(b"partial")?;
    set_linger_zero(&stream)?;
    Ok(())
}

/// SO_LINGER on with a zero timeout: closing then sends a RST instead of a FIN.
fn set_linger_zero(stream: &TcpStream) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the descriptor is open (borrowed from `stream`) and `linger` is a valid
    // `struct linger` whose size is passed with it.
    let result = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// A byte every 50 ms, never a full line, then gone.
fn slowloris(addr: SocketAddr) -> Result {
    let mut stream = connect(addr)?;
    for _ in 0..4 {
        stream.write_all(b"x")?;
        thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Writes lines and never reads the echoes, until the server stops taking them.
fn never_reads(addr: SocketAddr) -> Result {
    let mut stream = connect(addr)?;
    stream.set_write_timeout(Some(Duration::from_millis(200)))?;
    let lines = "never read this echo\n".repeat(4096);
    for _ in 0..16 {
        if stream.write_all(lines.as_bytes()).is_err() {
            break;
        }
    }
    Ok(())
}

/// The runner running the soak server script.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(runner: &Path, root: &Path) -> Result<Server> {
        let mut child = Command::new(runner)
            .arg(SERVER)
            .arg(SERVER_TIMEOUT)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", runner.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port: u16 = line
            .trim()
            .parse()
            .map_err(|_| format!("the server printed {line:?}, not a port"))?;
        Ok(Server {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        })
    }

    fn fds(&self) -> Result<usize> {
        Ok(std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))?.count())
    }

    fn rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status
            .lines()
            .find(|line| line.starts_with("VmRSS:"))
            .ok_or("no VmRSS")?;
        Ok(line.split_whitespace().nth(1).ok_or("bad VmRSS")?.parse()?)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
