//! The scheduler driving plain Rust tasks: a line-echo server on loopback served by one
//! acceptor task and one task per connection, with clients on other threads.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use copas_sched::{Interest, Scheduler, Source, Step, Task, TaskId, Wake};

enum EchoTask {
    Acceptor {
        listener: TcpListener,
        source: Option<Source>,
        remaining: usize,
    },
    Connection {
        stream: TcpStream,
        source: Option<Source>,
        pending: Vec<u8>,
    },
}

fn wait(
    s: &mut Scheduler<EchoTask>,
    id: TaskId,
    source: &mut Option<Source>,
    fd: copas_sched::RawFd,
    interest: Interest,
) -> Step {
    let registered = match *source {
        Some(existing) => existing,
        None => {
            let new = s.register(fd).unwrap();
            *source = Some(new);
            new
        }
    };
    s.wait_io(id, registered, interest, None).unwrap();
    Step::Parked
}

impl Task for EchoTask {
    fn resume(&mut self, id: TaskId, _wake: Wake, s: &mut Scheduler<Self>) -> Step {
        match self {
            EchoTask::Acceptor {
                listener,
                source,
                remaining,
            } => loop {
                if *remaining == 0 {
                    if let Some(source) = source.take() {
                        s.deregister(source);
                    }
                    return Step::Done;
                }
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(true).unwrap();
                        *remaining -= 1;
                        s.spawn(EchoTask::Connection {
                            stream,
                            source: None,
                            pending: Vec::new(),
                        });
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        let fd = raw(&*listener);
                        return wait(s, id, source, fd, Interest::Read);
                    }
                    Err(e) => panic!("accept: {e}"),
                }
            },
            EchoTask::Connection {
                stream,
                source,
                pending,
            } => loop {
                if !pending.is_empty() {
                    match stream.write(pending) {
                        Ok(n) => {
                            pending.drain(..n);
                            continue;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            let fd = raw(&*stream);
                            return wait(s, id, source, fd, Interest::Write);
                        }
                        Err(_) => return Step::Done,
                    }
                }
                let mut buf = [0u8; 4096];
                match stream.read(&mut buf) {
                    Ok(0) => {
                        if let Some(source) = source.take() {
                            s.deregister(source);
                        }
                        return Step::Done;
                    }
                    Ok(n) => pending.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        let fd = raw(&*stream);
                        return wait(s, id, source, fd, Interest::Read);
                    }
                    Err(_) => return Step::Done,
                }
            },
        }
    }
}

#[test]
fn echo_server_on_rust_tasks() {
    const CLIENTS: usize = 50;
    const LINES: usize = 20;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let address = listener.local_addr().unwrap();
    let mut scheduler = Scheduler::new().unwrap();
    scheduler.spawn(EchoTask::Acceptor {
        listener,
        source: None,
        remaining: CLIENTS,
    });

    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            std::thread::spawn(move || {
                let stream = TcpStream::connect(address).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut writer = stream;
                for line in 0..LINES {
                    let sent = format!("client {n} line {line}\n");
                    writer.write_all(sent.as_bytes()).unwrap();
                    let mut got = String::new();
                    reader.read_line(&mut got).unwrap();
                    assert_eq!(got, sent);
                }
            })
        })
        .collect();

    scheduler.run().unwrap();
    for client in clients {
        client.join().unwrap();
    }
    assert!(scheduler.is_empty());
}

/// The OS number of a socket, as the reactor registers it.
fn raw<S: RawSocketOf>(socket: &S) -> copas_sched::RawFd {
    socket.raw()
}

trait RawSocketOf {
    fn raw(&self) -> copas_sched::RawFd;
}

#[cfg(unix)]
impl<T: std::os::fd::AsRawFd> RawSocketOf for T {
    fn raw(&self) -> copas_sched::RawFd {
        self.as_raw_fd()
    }
}

#[cfg(windows)]
impl<T: std::os::windows::io::AsRawSocket> RawSocketOf for T {
    fn raw(&self) -> copas_sched::RawFd {
        self.as_raw_socket()
    }
}
