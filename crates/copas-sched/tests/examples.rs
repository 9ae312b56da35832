//! Runs the crate's examples against loopback peers (`cargo test` builds the examples
//! before the tests).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn example(name: &str) -> PathBuf {
    let mut path = std::env::current_exe().unwrap();
    path.pop();
    if path.ends_with("deps") {
        path.pop();
    }
    path.join("examples").join(name)
}

/// Kills the example when the test ends, passed or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn echo_serves_concurrent_clients() {
    let mut child = Running(
        Command::new(example("echo"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("the echo example is built by `cargo test`"),
    );
    let mut banner = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let address = banner
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();

    let clients: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(&address).unwrap())
        .collect();
    for round in 0..3 {
        for (n, mut client) in clients.iter().enumerate().rev() {
            client
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            writeln!(client, "client {n} round {round}").unwrap();
            let mut reply = String::new();
            BufReader::new(client).read_line(&mut reply).unwrap();
            assert_eq!(reply, format!("client {n} round {round}\n"));
        }
    }
}
