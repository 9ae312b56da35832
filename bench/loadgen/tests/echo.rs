//! The two binaries against each other: connections are made and echoed, and the report
//! is one JSON line with the fields the benchmark reads. No speed is asserted (how many
//! lines fit in the window depends on the machine).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

struct Reference(Child);

impl Drop for Reference {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_reference() -> (Reference, u16) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_echo-ref"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("echo-ref starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("LISTENING ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (Reference(child), port)
}

fn field(report: &str, name: &str) -> u64 {
    let start = report
        .find(&format!("\"{name}\":"))
        .unwrap_or_else(|| panic!("no {name} in {report}"))
        + name.len()
        + 3;
    let digits: String = report[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().unwrap()
}

#[test]
fn bursts_are_echoed() {
    let (_server, port) = start_reference();
    let done = Command::new(env!("CARGO_BIN_EXE_copas-loadgen"))
        .args(["--port", &port.to_string(), "--conns", "20", "--burst", "4"])
        .args(["--warmup", "0.1", "--duration", "1"])
        .output()
        .unwrap();
    assert!(done.status.success());
    let report = String::from_utf8(done.stdout).unwrap();
    assert!(report.trim().starts_with('{') && report.trim().ends_with('}'));
    assert_eq!(field(&report, "established"), 20);
    assert_eq!(field(&report, "errors"), 0);
    assert!(field(&report, "lines") > 0, "{report}");
    assert!(field(&report, "served") <= 20);
}

#[test]
fn idle_mode_echoes_once_per_connection_and_holds_until_stdin_closes() {
    let (_server, port) = start_reference();
    let mut loadgen = Command::new(env!("CARGO_BIN_EXE_copas-loadgen"))
        .args(["--port", &port.to_string(), "--conns", "30", "--idle", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(loadgen.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(field(&line, "idle"), 30, "{line}");
    assert_eq!(loadgen.try_wait().unwrap(), None, "still holding");
    let mut stdin = loadgen.stdin.take().unwrap();
    stdin.flush().unwrap();
    drop(stdin);
    assert!(loadgen.wait().unwrap().success());
}
