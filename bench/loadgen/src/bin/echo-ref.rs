//! The reference line-echo server: one thread, edge-triggered epoll, each read's
//! complete lines echoed back in one write. It is what the hardware and the kernel allow
//! a server to do on this machine, the yardstick for the Copas echo figures.
//!
//! usage: echo-ref [--port 0] [--host 127.0.0.1] [--spin 0]; prints `LISTENING <port>`
//! once bound. `--spin N` adds N steps of arithmetic on registers to every read that
//! brings data: user-space work that touches no memory, to see what a server's own work
//! a message costs it in throughput on this machine (docs/PERFORMANCE.md).

#![warn(missing_docs, unreachable_pub)]

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

use copas_loadgen::{complete_lines, Args, Result};
use polling::{Event, Events, PollMode, Poller};

/// polling reserves `usize::MAX` for itself.
const LISTENER: usize = usize::MAX - 1;

#[derive(Debug)]
struct Client {
    stream: TcpStream,
    /// An incomplete line waiting for its end.
    partial: Vec<u8>,
    /// Echoed bytes the socket did not take yet.
    unsent: Vec<u8>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("echo-ref: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = Args::parse(std::env::args().skip(1), &["port", "host", "spin"])?;
    let host: std::net::IpAddr = args.get("host", [127, 0, 0, 1].into())?;
    let port: u16 = args.get("port", 0)?;
    let spin: u64 = args.get("spin", 0)?;
    let listener = TcpListener::bind(SocketAddr::new(host, port))?;
    listener.set_nonblocking(true)?;
    println!("LISTENING {}", listener.local_addr()?.port());
    io::stdout().flush()?;

    let poller = Poller::new()?;
    // SAFETY: the listener lives until the end of this function, after the poller's last
    // use; epoll drops a closed descriptor from its set by itself in any case.
    unsafe { poller.add_with_mode(&listener, Event::readable(LISTENER), PollMode::Edge)? };
    let mut clients: Vec<Option<Client>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::new();
    let mut scratch = vec![0u8; 64 * 1024];
    loop {
        events.clear();
        poller.wait(&mut events, None)?;
        for event in events.iter() {
            if event.key == LISTENER {
                accept_all(&listener, &poller, &mut clients, &mut free, spin)?;
                continue;
            }
            let Some(client) = clients.get_mut(event.key).and_then(Option::as_mut) else {
                continue;
            };
            if serve(client, &mut scratch, spin).is_err() {
                // Closed or reset by the peer: forget it (dropping the stream closes it).
                let _ = poller.delete(&client.stream);
                clients[event.key] = None;
                free.push(event.key);
            }
        }
    }
}

fn accept_all(
    listener: &TcpListener,
    poller: &Poller,
    clients: &mut Vec<Option<Client>>,
    free: &mut Vec<usize>,
    spin: u64,
) -> Result<()> {
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // Out of descriptors, or a connection reset before it was accepted: report
            // it and serve the clients already accepted.
            Err(e) => {
                eprintln!("echo-ref: accept: {e}");
                return Ok(());
            }
        };
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        let key = free.pop().unwrap_or_else(|| {
            clients.push(None);
            clients.len() - 1
        });
        // SAFETY: the stream is deleted from the poller before it is dropped (in `run`),
        // and epoll forgets closed descriptors by itself anyway.
        unsafe { poller.add_with_mode(&stream, Event::all(key), PollMode::Edge)? };
        let client = Client {
            stream,
            partial: Vec::new(),
            unsent: Vec::new(),
        };
        // A client may have written before registration; edge mode would not say so.
        clients[key] = Some(client);
        if let Some(client) = clients[key].as_mut() {
            let mut scratch = [0u8; 4096];
            if serve(client, &mut scratch, spin).is_err() {
                let _ = poller.delete(&client.stream);
                clients[key] = None;
                free.push(key);
            }
        }
    }
}

/// Reads until the socket is drained, then echoes every complete line in one write.
/// An error means the connection is over.
fn serve(client: &mut Client, scratch: &mut [u8], spin: u64) -> io::Result<()> {
    loop {
        match client.stream.read(scratch) {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                spin_for(spin);
                let read = &scratch[..n];
                let complete = complete_lines(read);
                if complete > 0 {
                    client.unsent.append(&mut client.partial);
                    client.unsent.extend_from_slice(&read[..complete]);
                }
                client.partial.extend_from_slice(&read[complete..]);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    while !client.unsent.is_empty() {
        match client.stream.write(&client.unsent) {
            Ok(n) => {
                client.unsent.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `steps` dependent multiply-adds: time in user space without memory traffic.
fn spin_for(steps: u64) {
    let mut value: u64 = 1;
    for step in 0..steps {
        value = std::hint::black_box(
            value
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(step),
        );
    }
    std::hint::black_box(value);
}
