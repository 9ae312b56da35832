//! An echo server on the `copas` runner holds 10,000 concurrent connections and
//! answers every one (the original Copas dies at about 1,020: `select()`'s limit).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use polling::{Event, Events, PollMode, Poller};

/// Raises the soft descriptor limit to the hard one; returns the new soft limit.
fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write only the struct on our stack.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur = limit.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
    }
    limit.rlim_cur
}

/// Kills the server process however the test ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn echo_server_answers_ten_thousand_connections() {
    let limit = raise_fd_limit();
    // Both processes need one descriptor per connection, plus a few.
    let wanted = 10_000usize.min(limit.saturating_sub(200) as usize);
    assert!(
        wanted >= 2_000,
        "descriptor hard limit {limit} is too low for this test"
    );

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/echo_server.lua");
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_copas"))
            .arg(script)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the copas runner"),
    );
    let mut port_line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut port_line)
        .unwrap();
    let port: u16 = port_line
        .trim()
        .parse()
        .expect("the server prints its port");

    let poller = Poller::new().unwrap();
    let mut streams = Vec::with_capacity(wanted);
    let mut answered = vec![false; wanted];
    let deadline = Instant::now() + Duration::from_secs(120);
    // Connect in batches so the accept queue is not flooded.
    for batch in (0..wanted).step_by(500) {
        for n in batch..(batch + 500).min(wanted) {
            let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            stream.set_nonblocking(true).unwrap();
            // SAFETY: every stream stays in `streams` until after the poller is dropped.
            unsafe {
                poller
                    .add_with_mode(stream.as_raw_fd(), Event::readable(n), PollMode::Level)
                    .unwrap()
            };
            streams.push(stream);
        }
    }
    // All connections are open at once; now each sends its number and waits for it.
    for (n, stream) in streams.iter_mut().enumerate() {
        stream.write_all(format!("{n}\n").as_bytes()).unwrap();
    }
    let mut events = Events::new();
    let mut done = 0;
    let mut buffer = [0u8; 64];
    while done < wanted && Instant::now() < deadline {
        events.clear();
        poller
            .wait(&mut events, Some(Duration::from_millis(500)))
            .unwrap();
        for event in events.iter() {
            let n = event.key;
            match streams[n].read(&mut buffer) {
                Ok(len) if len > 0 => {
                    assert_eq!(&buffer[..len], format!("{n}\n").as_bytes());
                    if !answered[n] {
                        answered[n] = true;
                        done += 1;
                    }
                    poller.delete(&streams[n]).unwrap();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => panic!("connection {n}: {other:?}"),
            }
        }
    }
    drop(poller);
    println!("{done} of {wanted} connections answered");
    drop(server);
    assert_eq!(done, wanted);
}
