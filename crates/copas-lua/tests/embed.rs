//! The embedding examples against a loopback client: each runs the Lua echo server in
//! its host loop, this test talks to it and stops it, and the host must then end by
//! itself (`cargo test` builds the examples before the tests).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use copas_lua::Driver;

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

/// Runs `name`, echoes a few lines through it, stops it, and returns the rest of its
/// standard output once it exited by itself.
fn talk_to(name: &str) -> String {
    let mut child = Running(
        Command::new(example(name))
            .stdout(Stdio::piped())
            .spawn()
            .expect("the example is built by `cargo test`"),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut banner = String::new();
    stdout.read_line(&mut banner).unwrap();
    let address = banner
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();

    let stream = TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for n in 0..5 {
        writeln!(&stream, "line {n}").unwrap();
        let mut reply = String::new();
        reader.read_line(&mut reply).unwrap();
        assert_eq!(reply, format!("line {n}\n"));
    }
    writeln!(&stream, "stop").unwrap();
    drop((stream, reader));

    // A bound against a hang, not a timing check.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{name} did not finish"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "{name}: {status}\n{rest}");
    rest
}

#[test]
fn embed_loop_serves_from_its_own_poll_loop_and_ends() {
    let output = talk_to("embed_loop");
    assert!(output.contains("copas finished after"), "{output}");
}

#[test]
fn embed_tokio_serves_while_tokio_tasks_run() {
    let output = talk_to("embed_tokio");
    assert!(output.contains("tokio client: 3 echoes"), "{output}");
    assert!(output.contains("copas finished"), "{output}");
}

#[test]
fn the_driver_reports_timers_and_steps_a_state() {
    let lua = mlua::Lua::new();
    copas_lua::install(&lua).unwrap();
    let driver = Driver::new(&lua).unwrap();
    assert!(driver.is_finished().unwrap());
    assert_eq!(driver.next_deadline(), None);
    lua.load(
        r#"
        local copas = require("copas")
        done = false
        copas.addthread(function() copas.pause(0.05) done = true end)
        "#,
    )
    .exec()
    .unwrap();
    // The new thread is ready: Copas wants a turn now.
    assert!(driver.timeout().unwrap() <= Duration::from_millis(1));
    assert!(driver.step().unwrap());
    // Now it sleeps: the deadline is its wake-up, some time ahead.
    let timeout = driver.timeout().expect("a sleeping thread has a deadline");
    assert!(timeout > Duration::ZERO && timeout <= Duration::from_millis(50));
    let mut turns = 0;
    while driver.step_wait(driver.timeout()).unwrap() {
        turns += 1;
        assert!(turns < 1000, "the sleeping thread never finished");
    }
    assert!(lua.globals().get::<bool>("done").unwrap());
    assert!(driver.is_finished().unwrap());
}
