//! Running Copas as a service: process signals as loop events, and worker processes
//! under a supervisor (`copas.workers`).

use std::time::{Duration, Instant};

use mlua::{Lua, MultiValue, Result, Table, Value};

use crate::dispatch::{runtime_error, Dispatcher, SharedDispatcher};
use copas_sched::signals;

fn signal_number(name: &str) -> std::result::Result<libc::c_int, String> {
    signals::number(name).ok_or_else(|| format!("unknown or uncatchable signal '{name}'"))
}

/// Adds `signal_watch`, `signal_unwatch` and `signals` to `core`.
pub(super) fn install(lua: &Lua, core: &Table, shared: &SharedDispatcher) -> Result<()> {
    // signal_watch(name) -> canonical name, or nil, message. The first watch registers
    // the signal pipe with this loop's reactor: a signal then wakes a sleeping step.
    let d = shared.clone();
    core.set(
        "signal_watch",
        lua.create_function(move |_, name: String| {
            let number = match signal_number(&name) {
                Ok(number) => number,
                Err(message) => return Ok((None, Some(message))),
            };
            let fd = match signals::watch(number) {
                Ok(fd) => fd,
                Err(err) => return Ok((None, Some(err.to_string()))),
            };
            let mut d = d.borrow_mut();
            let registered = d
                .signal_source
                .is_some_and(|source| source.fd() == fd && d.scheduler.is_registered(source));
            if !registered {
                d.signal_source = Some(d.scheduler.register(fd).map_err(runtime_error)?);
            }
            Ok((signals::name(number), None))
        })?,
    )?;

    core.set(
        "signal_unwatch",
        lua.create_function(|_, name: String| {
            let number = match signal_number(&name) {
                Ok(number) => number,
                Err(message) => return Ok((None, Some(message))),
            };
            match signals::unwatch(number) {
                Ok(()) => Ok((signals::name(number), None)),
                Err(err) => Ok((None, Some(err.to_string()))),
            }
        })?,
    )?;

    // signals() -> the names of the watched signals delivered since the last call.
    core.set(
        "signals",
        lua.create_function(|lua, ()| {
            signals::take_pending()
                .into_iter()
                .filter_map(signals::name)
                .map(|name| lua.create_string(name).map(Value::String))
                .collect::<Result<MultiValue>>()
        })?,
    )?;
    Ok(())
}

/// Adds `supervise` and `cpus` to `core`.
pub(super) fn install_workers(lua: &Lua, core: &Table, shared: &SharedDispatcher) -> Result<()> {
    // supervise(n) -> in a worker, its index (1..n); in the supervisor, nil once every
    // worker has ended after SIGTERM or SIGINT.
    let d = shared.clone();
    core.set(
        "supervise",
        lua.create_function(move |_, count: usize| supervise(&d, count))?,
    )?;
    core.set(
        "cpus",
        lua.create_function(|_, ()| {
            Ok(std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
        })?,
    )?;
    core.set(
        "getpid",
        lua.create_function(|_, ()| Ok(i64::from(std::process::id())))?,
    )?;
    Ok(())
}

/// The first restart of a worker that died waits this long; each quick death doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A worker that ran this long before dying is restarted after FIRST_BACKOFF again.
const HEALTHY_RUN: Duration = Duration::from_secs(10);
/// The supervisor looks for dead workers at least this often, signal or not.
const REAP_PERIOD: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Worker {
    pid: libc::pid_t,
    started: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Place {
    worker: Option<Worker>,
    start_at: Option<Instant>,
    backoff: Duration,
}

fn signal_set(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initializes it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live sigset_t; the signal numbers are valid.
    unsafe {
        libc::sigemptyset(&mut set);
        for &signal in signals {
            libc::sigaddset(&mut set, signal);
        }
    }
    set
}

fn set_mask(how: libc::c_int, set: &libc::sigset_t) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, filled by pthread_sigmask.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: both sets are live.
    unsafe { libc::pthread_sigmask(how, set, &mut old) };
    old
}

/// Waits up to `timeout` for one of the signals in `set` (blocked in this thread).
fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<libc::c_int> {
    let spec = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
    };
    // SAFETY: the set and timespec are live; no siginfo is asked for.
    let signal = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &spec) };
    (signal > 0).then_some(signal)
}

fn send_signal(places: &[Place], signal: libc::c_int) {
    for worker in places.iter().filter_map(|p| p.worker) {
        // SAFETY: kill has no memory effects; the pid is our unreaped child.
        unsafe { libc::kill(worker.pid, signal) };
    }
}

/// In a worker just forked: a scheduler of its own (the inherited one shares its epoll
/// set with the supervisor), signals of its own, ports shared with its siblings.
fn become_worker(shared: &SharedDispatcher, mask: &libc::sigset_t) -> Result<()> {
    set_mask(libc::SIG_SETMASK, mask);
    signals::reset_after_fork();
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number; a worker whose supervisor
    // is gone shuts down as on SIGTERM instead of serving on unsupervised.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) };
    luasocket_core::share_stream_ports(true);
    let fresh = Dispatcher::new().map_err(runtime_error)?;
    // Dropping the inherited dispatcher would remove descriptors from the epoll set
    // it shares with the supervisor; it holds no tasks (checked before forking).
    std::mem::forget(std::mem::replace(&mut *shared.borrow_mut(), fresh));
    Ok(())
}

fn supervise(shared: &SharedDispatcher, count: usize) -> Result<Option<usize>> {
    if count == 0 {
        return Err(runtime_error(
            "bad argument #1 to 'workers' (positive number expected)",
        ));
    }
    {
        let d = shared.borrow();
        if !d.scheduler.is_empty() || d.scheduler.threads() > 0 || d.signal_source.is_some() {
            return Err(runtime_error(
                "copas.workers must be called before any Copas thread, server, signal handler or name lookup",
            ));
        }
    }
    let set = signal_set(&[libc::SIGCHLD, libc::SIGTERM, libc::SIGINT, libc::SIGHUP]);
    let mask = set_mask(libc::SIG_BLOCK, &set);
    let mut places = vec![
        Place {
            worker: None,
            start_at: Some(Instant::now()),
            backoff: FIRST_BACKOFF,
        };
        count
    ];
    let mut stopping = false;
    loop {
        let now = Instant::now();
        for (index, place) in places.iter_mut().enumerate() {
            if stopping || place.worker.is_some() || place.start_at.is_none_or(|at| at > now) {
                continue;
            }
            // SAFETY: flushing every C stream has no preconditions; without it, output
            // buffered before the fork would be written by each child too.
            unsafe { libc::fflush(std::ptr::null_mut()) };
            // SAFETY: this process runs no other thread (checked above: the blocking
            // pool started none), so the child's memory is consistent.
            match unsafe { libc::fork() } {
                0 => {
                    become_worker(shared, &mask)?;
                    return Ok(Some(index + 1));
                }
                -1 => place.start_at = Some(now + FIRST_BACKOFF),
                pid => {
                    place.worker = Some(Worker { pid, started: now });
                    place.start_at = None;
                }
            }
        }
        if stopping && places.iter().all(|p| p.worker.is_none()) {
            break;
        }
        let next = places
            .iter()
            .filter_map(|p| p.start_at)
            .min()
            .map_or(REAP_PERIOD, |at| at.saturating_duration_since(now))
            .min(REAP_PERIOD);
        match wait_signal(&set, next) {
            Some(libc::SIGTERM | libc::SIGINT) => {
                stopping = true;
                send_signal(&places, libc::SIGTERM);
            }
            Some(libc::SIGHUP) => send_signal(&places, libc::SIGHUP),
            _ => {}
        }
        reap(&mut places, stopping);
    }
    set_mask(libc::SIG_SETMASK, &mask);
    Ok(None)
}

/// Collects dead workers (only ours: other children of the program are left to it);
/// unless stopping, schedules their restart with back-off.
fn reap(places: &mut [Place], stopping: bool) {
    let now = Instant::now();
    for place in places.iter_mut() {
        let Some(worker) = place.worker else {
            continue;
        };
        let mut status = 0;
        // SAFETY: status is a live int; WNOHANG makes this return at once.
        if unsafe { libc::waitpid(worker.pid, &mut status, libc::WNOHANG) } != worker.pid {
            continue;
        }
        place.worker = None;
        if stopping {
            continue;
        }
        if now - worker.started >= HEALTHY_RUN {
            place.backoff = FIRST_BACKOFF;
        }
        place.start_at = Some(now + place.backoff);
        place.backoff = (place.backoff * 2).min(MAX_BACKOFF);
    }
}
