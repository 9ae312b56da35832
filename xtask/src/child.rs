//! Running a test interpreter as a child: output captured, a time limit, and nothing
//! it started left behind.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const POLL_INTERVAL: Duration = Duration::from_millis(10);

#[derive(Debug)]
pub(crate) struct Finished {
    pub status: ExitStatus,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// Runs `command` with no stdin, killing it after `limit`.
///
/// The child leads a process group of its own, and the whole group is killed once the
/// child has exited: processes it spawned (tests start servers and runners) cannot
/// outlive it or keep the output pipes open.
pub(crate) fn run(mut command: Command, limit: Duration) -> io::Result<Finished> {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()?;
    let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
    let stdout = child.stdout.take().map(read_all);
    let stderr = child.stderr.take().map(read_all);

    let timed_out = loop {
        if has_exited(pid)? {
            break false;
        }
        if started.elapsed() >= limit {
            break true;
        }
        thread::sleep(POLL_INTERVAL);
    };
    // Not reaped yet, so the group id is still ours to signal.
    // SAFETY: kill() only sends a signal; `pid` leads the group created at spawn.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let status = child.wait()?;
    Ok(Finished {
        status,
        timed_out,
        stdout: collect(stdout),
        stderr: collect(stderr),
        elapsed: started.elapsed(),
    })
}

/// Raises this process's soft limit on open files to the hard limit, for the children
/// it starts: some tests open thousands of sockets.
pub(crate) fn raise_open_file_limit() -> io::Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid rlimit for getrlimit to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur == limit.rlim_max {
        return Ok(());
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `limit` is a valid rlimit; setrlimit only reads it.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether child `pid` has exited, leaving it unreaped (WNOWAIT).
fn has_exited(pid: libc::pid_t) -> io::Result<bool> {
    // SAFETY: siginfo_t is plain data, for which all zeroes is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let id = libc::id_t::try_from(pid).map_err(io::Error::other)?;
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: `info` is a valid siginfo_t for waitid to fill in.
    if unsafe { libc::waitid(libc::P_PID, id, &mut info, flags) } != 0 {
        let error = io::Error::last_os_error();
        return match error.kind() {
            io::ErrorKind::Interrupted => Ok(false),
            _ => Err(error),
        };
    }
    // SAFETY: waitid succeeded, so `info` is initialised; with WNOHANG its pid stays 0
    // until the child has exited.
    Ok(unsafe { info.si_pid() } != 0)
}

fn read_all(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        // An error only cuts the output short; what was read is still worth showing.
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

fn collect(reader: Option<thread::JoinHandle<Vec<u8>>>) -> String {
    let bytes = reader
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]);
        command
    }

    #[test]
    fn captures_output_and_status() {
        let done = run(
            shell("echo out; echo err >&2; exit 3"),
            Duration::from_secs(30),
        )
        .unwrap();
        assert_eq!(
            (done.stdout.as_str(), done.stderr.as_str()),
            ("out\n", "err\n")
        );
        assert_eq!(done.status.code(), Some(3));
        assert!(!done.timed_out);
    }

    #[test]
    fn kills_children_that_overrun_and_what_they_started() {
        let done = run(shell("sleep 60 & sleep 60"), Duration::from_millis(200)).unwrap();
        assert!(done.timed_out);
        assert!(!done.status.success());
    }

    #[test]
    fn leftover_processes_do_not_hold_the_output_open() {
        let done = run(shell("sleep 60 & echo started"), Duration::from_secs(30)).unwrap();
        assert!(!done.timed_out);
        assert_eq!(done.stdout, "started\n");
    }
}
