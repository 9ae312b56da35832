//! `copas.core`: the Rust scheduler as seen from `copas.lua`.
//!
//! Tasks are known to Rust by id only; `copas.lua` keeps the coroutines and resumes
//! them (a `coroutine.resume` from Lua is the cheapest way to switch, and it keeps
//! error values and tracebacks exactly as Copas users expect). Everything about *when*
//! a task runs — the run queue, sleeps, alarms, readiness waits and their deadlines —
//! is decided here.

use std::time::Instant;

use copas_sched::{Interest, Wake};
use luasocket_core::TcpState;
use mlua::{AnyUserData, Lua, MultiValue, Result, Table, Value};

use crate::dispatch::{dispatcher, runtime_error, seconds, Attempt, SharedDispatcher};
use crate::socket_core::object::Kind;
use crate::socket_core::tcp::StreamObject;
use crate::socket_core::{tcp, udp, unix};

mod hot;
mod io;
mod metrics;
#[cfg(target_os = "linux")]
mod ops;

pub(crate) use io::Timeouts;
use io::{Progress, Stream};

/// Addresses of a name, or LuaSocket's message for why there are none.
type Resolution = std::result::Result<Vec<std::net::SocketAddr>, String>;

/// Runs on a worker thread: the system resolver may block for seconds. Failures carry
/// the message LuaSocket's own `connect` gives for the same name (`"host or service not
/// provided, or not known"` for a name that does not exist).
fn resolve(host: &str, port: u16) -> Resolution {
    use luasocket_core::dns::{getaddrinfo, Hints, SocketKind};
    let hints = Hints {
        kind: SocketKind::Stream,
        ..Hints::default()
    };
    match getaddrinfo(Some(host), Some(&port.to_string()), &hints) {
        Ok(found) => {
            let mut addresses: Vec<_> = found.into_iter().map(|info| info.socket_addr).collect();
            addresses.dedup();
            if addresses.is_empty() {
                Err("host not found".to_owned())
            } else {
                Ok(addresses)
            }
        }
        Err(err) => Err(err.to_string()),
    }
}

/// Builds the `copas.core` table.
pub(crate) fn open(lua: &Lua) -> Result<Table> {
    let shared = dispatcher(lua)?;
    let core = lua.create_table()?;

    let d = shared.clone();
    core.set(
        "wakeup",
        lua.create_function(move |_, id: i64| {
            let mut d = d.borrow_mut();
            Ok(d.task(id).is_ok_and(|id| d.scheduler.wakeup(id)))
        })?,
    )?;

    // alarm(id, seconds|nil): sets or (nil) clears the task's alarm.
    let d = shared.clone();
    core.set(
        "alarm",
        lua.create_function(move |_, (id, secs): (i64, Option<f64>)| {
            let mut d = d.borrow_mut();
            let id = d.task(id)?;
            match seconds(secs) {
                Some(delay) => {
                    let deadline = d
                        .scheduler
                        .now()
                        .checked_add(delay)
                        .ok_or_else(|| runtime_error("delay too large"))?;
                    d.scheduler.set_alarm(id, deadline).map_err(runtime_error)
                }
                None => {
                    d.scheduler.clear_alarm(id);
                    Ok(())
                }
            }
        })?,
    )?;

    // waitfd(id, fd, "r"|"w", timeout, first) parks the running task until the
    // descriptor is ready. `first` starts the operation's deadline from `timeout`;
    // later waits of the same operation keep it.
    let d = shared.clone();
    core.set(
        "waitfd",
        lua.create_function(
            move |_,
                  (id, fd, mode, timeout, first): (
                i64,
                i64,
                mlua::LuaString,
                Option<f64>,
                bool,
            )| {
                let mut guard = d.borrow_mut();
                let d = &mut *guard;
                let id = d.task(id)?;
                let interest = if mode.as_bytes().first() == Some(&b'w') {
                    Interest::Write
                } else {
                    Interest::Read
                };
                let Some(fd) = crate::socket_core::methods::socket_from_number(fd) else {
                    return Ok(false);
                };
                let source = d.scheduler.register(fd).map_err(runtime_error)?;
                let now = d.scheduler.now();
                let task = d
                    .scheduler
                    .get_mut(id)
                    .ok_or_else(|| runtime_error("not a Copas task"))?;
                task.foreign = Some(source);
                if first {
                    task.deadline = seconds(timeout).and_then(|t| now.checked_add(t));
                }
                let deadline = task.deadline;
                d.scheduler
                    .wait_io(id, source, interest, deadline)
                    .map_err(runtime_error)?;
                Ok(true)
            },
        )?,
    )?;

    // timedout(id): true if the task's last wait ended by its deadline.
    let d = shared.clone();
    core.set(
        "timedout",
        lua.create_function(move |_, id: i64| {
            let d = d.borrow();
            Ok(d.scheduler.wake_reason(d.task(id)?) == Some(Wake::TimedOut))
        })?,
    )?;

    // resolve(id, host, port) parks the task while a worker thread resolves `host`;
    // resolved(id) then returns the addresses as a list of IP strings, or nil, message.
    let d = shared.clone();
    core.set(
        "resolve",
        lua.create_function(move |_, (id, host, port): (i64, String, u16)| {
            let mut d = d.borrow_mut();
            let id = d.task(id)?;
            d.scheduler
                .wait_blocking(id, None, move || Box::new(resolve(&host, port)))
                .map_err(runtime_error)
        })?,
    )?;

    let d = shared.clone();
    core.set(
        "resolved",
        lua.create_function(move |lua, id: i64| {
            let mut d = d.borrow_mut();
            let id = d.task(id)?;
            let outcome = d
                .scheduler
                .take_completion(id)
                .and_then(|c| c.downcast::<Resolution>().ok());
            match outcome.map(|boxed| *boxed) {
                Some(Ok(addresses)) => {
                    let list = lua.create_table()?;
                    for (index, address) in addresses.iter().enumerate() {
                        list.raw_set(index + 1, address.ip().to_string())?;
                    }
                    Ok((Some(list), None))
                }
                Some(Err(message)) => Ok((None, Some(message))),
                None => Ok((None, Some("timeout".to_owned()))),
            }
        })?,
    )?;

    // query(id, name, a, b) parks the task while a worker thread runs the socket.dns
    // function `name` with arguments a, b; answer(id) then returns its results.
    let d = shared.clone();
    core.set(
        "query",
        lua.create_function(
            move |_, (id, name, a, b): (i64, String, Option<String>, Option<String>)| {
                use crate::socket_core::dns::Query;
                let query = match (name.as_str(), a) {
                    ("toip", Some(address)) => Query::ToIp(address),
                    ("tohostname", Some(address)) => Query::ToHostname(address),
                    ("getaddrinfo", host) => Query::GetAddrInfo {
                        host,
                        service: None,
                        hints: Default::default(),
                    },
                    ("getnameinfo", host) => Query::GetNameInfo { host, service: b },
                    _ => return Err(runtime_error("unknown resolver query")),
                };
                let mut d = d.borrow_mut();
                let id = d.task(id)?;
                d.scheduler
                    .wait_blocking(id, None, move || Box::new(query.run()))
                    .map_err(runtime_error)
            },
        )?,
    )?;

    let d = shared.clone();
    core.set(
        "answer",
        lua.create_function(move |lua, id: i64| {
            use crate::socket_core::dns::Answer;
            let answer = {
                let mut d = d.borrow_mut();
                let id = d.task(id)?;
                d.scheduler.take_completion(id)
            };
            match answer.and_then(|c| c.downcast::<Answer>().ok()) {
                Some(answer) => answer.into_lua(lua),
                None => Err(runtime_error("no resolver answer")),
            }
        })?,
    )?;

    // Elsewhere the platform layer sets SO_NOSIGPIPE on each socket instead.
    #[cfg(target_os = "linux")]
    copas_sched::signals::ignore_sigpipe();
    #[cfg(target_os = "linux")]
    ops::install(lua, &core, &shared)?;
    #[cfg(target_os = "linux")]
    ops::install_workers(lua, &core, &shared)?;

    // idle(): nothing left that could ever run (see Scheduler::is_idle).
    let d = shared.clone();
    core.set(
        "idle",
        lua.create_function(move |_, ()| Ok(d.borrow().scheduler.is_idle()))?,
    )?;

    // counts() -> table of task counts by state, for copas.status().
    let d = shared.clone();
    core.set(
        "counts",
        lua.create_function(move |lua, ()| {
            let c = d.borrow().scheduler.counts();
            let t = lua.create_table()?;
            t.set("ready", c.ready)?;
            t.set("sleeping", c.sleeping)?;
            t.set("suspended", c.suspended)?;
            t.set("reading", c.reading)?;
            t.set("writing", c.writing)?;
            t.set("blocking", c.blocking)?;
            t.set("alarms", c.alarms)?;
            Ok(t)
        })?,
    )?;

    // adopt(skt, other): `skt` takes over the connection of `other` (both TCP objects
    // of ours), and `other` gets what `skt` had, for the caller to close. How Happy
    // Eyeballs hands the winning connection of a race to the caller's object.
    core.set(
        "adopt",
        lua.create_function(|lua, (skt, other): (AnyUserData, AnyUserData)| {
            if skt.to_pointer() == other.to_pointer() {
                return Ok(true);
            }
            let (Some(mut a), Some(mut b)) = (tcp::borrow(lua, &skt), tcp::borrow(lua, &other))
            else {
                return Ok(false);
            };
            a.forget_registration();
            b.forget_registration();
            std::mem::swap(&mut a.socket, &mut b.socket);
            Ok(true)
        })?,
    )?;

    // settimeouts(skt, send, read): `copas.settimeouts` on one of our stream objects,
    // kept with the object for the core's copas.receive and copas.send (nil leaves a
    // limit as it is, a negative number removes it). Other objects are left to
    // `copas.lua`'s tables.
    core.set(
        "settimeouts",
        lua.create_function(
            |lua, (skt, send, read): (Value, Option<f64>, Option<f64>)| {
                let Value::UserData(skt) = skt else {
                    return Ok(());
                };
                let update = |timeouts: &mut Timeouts| {
                    let limit = |seconds: f64| (seconds >= 0.0).then_some(seconds);
                    if let Some(send) = send {
                        timeouts.send = limit(send);
                    }
                    if let Some(read) = read {
                        timeouts.receive = limit(read);
                    }
                };
                if let Some(mut object) = tcp::kind(lua)?.slot(&skt).and_then(|s| s.borrow_mut()) {
                    update(object.timeouts());
                } else if let Some(mut object) = crate::ssl::kind(lua)?
                    .slot(&skt)
                    .and_then(|s| s.borrow_mut())
                {
                    update(object.timeouts());
                } else if let Some(mut object) = unix::stream_kind(lua)?
                    .slot(&skt)
                    .and_then(|s| s.borrow_mut())
                {
                    update(object.timeouts());
                }
                Ok(())
            },
        )?,
    )?;

    let d = shared.clone();
    core.set(
        "accept",
        lua.create_function(move |lua, args| accept(lua, &d, args))?,
    )?;
    let d = shared.clone();
    core.set(
        "connect",
        lua.create_function(move |lua, args| connect(lua, &d, args))?,
    )?;
    let d = shared.clone();
    core.set(
        "recvfrom",
        lua.create_function(move |lua, args| recvfrom(lua, &d, args))?,
    )?;
    let metrics = metrics::Metrics::of(lua);
    hot::register(lua, &core, &shared, metrics.clone())?;

    // metrics() -> table of the Rust side's counters for copas.metrics(): task counts
    // by state, timers, jobs, loop lag, bytes, steps, resumes and their durations.
    let d = shared.clone();
    core.set(
        "metrics",
        lua.create_function(move |lua, ()| {
            let t = lua.create_table()?;
            {
                let d = d.borrow();
                let c = d.scheduler.counts();
                for (name, count) in [
                    ("ready", c.ready),
                    ("running", c.running),
                    ("sleeping", c.sleeping),
                    ("paused", c.suspended),
                    ("reading", c.reading),
                    ("writing", c.writing),
                    ("blocking", c.blocking),
                    ("alarms", c.alarms),
                    ("timers", d.scheduler.timers_pending()),
                ] {
                    t.set(name, count)?;
                }
                let lag = d.scheduler.lag();
                let l = lua.create_table()?;
                l.set("count", lag.count)?;
                l.set("last", lag.last.as_secs_f64())?;
                l.set("max", lag.max.as_secs_f64())?;
                l.set("sum", lag.total.as_secs_f64())?;
                t.set("lag", l)?;
                t.set("virtual_clock", d.scheduler.is_virtual())?;
                metrics.fill(lua, &t, &d.scheduler)?;
            }
            Ok(t)
        })?,
    )?;

    // virtualclock(on|nil) -> whether it was on; nil only asks.
    let d = shared.clone();
    core.set(
        "virtualclock",
        lua.create_function(move |_, on: Option<bool>| {
            let mut d = d.borrow_mut();
            let was = d.scheduler.is_virtual();
            if let Some(on) = on {
                d.scheduler.set_virtual_clock(on);
            }
            Ok(was)
        })?,
    )?;

    // monotonic(): seconds on a clock that never jumps, for elapsed-time measurements.
    let origin = Instant::now();
    core.set(
        "monotonic",
        lua.create_function(move |_, ()| Ok(origin.elapsed().as_secs_f64()))?,
    )?;

    Ok(core)
}

fn not_ours() -> Result<MultiValue> {
    Ok(MultiValue::from_vec(vec![Value::Boolean(true)]))
}

/// The results of a driven operation that did not finish: `false` (parked) or
/// `nil, message`.
fn unfinished(lua: &Lua, progress: Progress<std::convert::Infallible>) -> Result<MultiValue> {
    Ok(MultiValue::from_vec(match progress {
        Progress::Parked => vec![Value::Boolean(false)],
        Progress::Failed(message) => vec![Value::Nil, Value::String(lua.create_string(message)?)],
        Progress::Done(never) => match never {},
    }))
}

/// accept(id, server): `client` | `nil, err` | `false` (parked) | `true` (not ours).
fn accept(
    lua: &Lua,
    dispatcher: &SharedDispatcher,
    (id, skt): (i64, AnyUserData),
) -> Result<MultiValue> {
    if let Some(done) = accept_on(lua, dispatcher, &*tcp::kind(lua)?, id, &skt)? {
        return Ok(done);
    }
    if let Some(done) = accept_on(lua, dispatcher, &*unix::stream_kind(lua)?, id, &skt)? {
        return Ok(done);
    }
    not_ours()
}

/// `accept` when `skt` is a listening stream server of `kind`; `None` otherwise.
fn accept_on<F: tcp::Flavor>(
    lua: &Lua,
    dispatcher: &SharedDispatcher,
    kind: &Kind<StreamObject<F>>,
    id: i64,
    skt: &AnyUserData,
) -> Result<Option<MultiValue>> {
    let accepted = {
        let Some(mut server) = kind.slot(skt).and_then(|slot| slot.borrow_mut()) else {
            return Ok(None);
        };
        if server.socket.state() != TcpState::Server || server.socket.fd().is_none() {
            return Ok(None);
        }
        let attempt = Attempt {
            id,
            timeout: None,
            first: true,
        };
        io::accept(dispatcher, &mut server, attempt)?
    };
    Ok(Some(match accepted {
        Progress::Done(client) => {
            MultiValue::from_vec(vec![Value::UserData(tcp::wrap_client(kind, lua, client)?)])
        }
        Progress::Parked => unfinished(lua, Progress::Parked)?,
        Progress::Failed(message) => unfinished(lua, Progress::Failed(message))?,
    }))
}

/// connect(id, skt, host, port, timeout, first): `1` | `nil, err` | `false` (parked) |
/// `true` (not ours). `host` is an address (Copas resolved the name already); without
/// a port it is the path of a Unix stream socket.
fn connect(
    lua: &Lua,
    dispatcher: &SharedDispatcher,
    (id, skt, host, port, timeout, first): (i64, AnyUserData, Value, Value, Option<f64>, bool),
) -> Result<MultiValue> {
    let unix_path = matches!(port, Value::Nil);
    let Some(host) = lua.coerce_string(host)? else {
        return not_ours();
    };
    let attempt = Attempt { id, timeout, first };
    let connected = if unix_path {
        let kind = unix::stream_kind(lua)?;
        let Some(mut socket) = kind.slot(&skt).and_then(|slot| slot.borrow_mut()) else {
            return not_ours();
        };
        if first {
            if socket.socket.state() != TcpState::Master {
                return not_ours();
            }
            // Connecting may give the object a new descriptor.
            socket.forget_registration();
        }
        let address = match luasocket_core::unix_address(&host.as_bytes()) {
            Ok(address) => address,
            Err(err) => return unfinished(lua, Progress::Failed(err.to_string())),
        };
        let progress = io::connect_unix(dispatcher, &mut socket, &address, attempt)?;
        if let Progress::Failed(_) = progress {
            socket.forget_registration();
            socket.socket.connect_failed();
        }
        progress
    } else {
        let Some(port) = lua.coerce_string(port)? else {
            return not_ours();
        };
        let Some(mut socket) = tcp::borrow(lua, &skt) else {
            return not_ours();
        };
        let address = if first {
            if socket.socket.state() == TcpState::Server {
                return not_ours();
            }
            let found = socket.socket.resolve_peer(&host.to_str()?, &port.to_str()?);
            match found.map(|found| found.into_iter().next()) {
                Ok(Some(address)) => Some(address),
                Ok(None) => return not_ours(),
                Err(err) => return unfinished(lua, Progress::Failed(err.to_string())),
            }
        } else {
            None
        };
        io::connect(dispatcher, &mut socket, address.as_ref(), attempt)?
    };
    match connected {
        Progress::Done(()) => Ok(MultiValue::from_vec(vec![Value::Integer(1)])),
        Progress::Parked => unfinished(lua, Progress::Parked),
        Progress::Failed(message) => unfinished(lua, Progress::Failed(message)),
    }
}

/// recvfrom(id, skt, size, timeout, first): `data, ip, port` | `nil, err` |
/// `false` (parked) | `true` (not ours).
fn recvfrom(
    lua: &Lua,
    dispatcher: &SharedDispatcher,
    (id, skt, size, timeout, first): (i64, AnyUserData, Option<f64>, Option<f64>, bool),
) -> Result<MultiValue> {
    let size = match size {
        None => luasocket_core::DATAGRAM_SIZE,
        Some(n) if n >= 0.0 => (n as usize).min(luasocket_core::MAX_DATAGRAM_SIZE),
        Some(_) => return not_ours(),
    };
    let received = {
        let Some(mut socket) = udp::borrow(lua, &skt) else {
            return not_ours();
        };
        if socket.socket.fd().is_none() {
            return not_ours();
        }
        let attempt = Attempt { id, timeout, first };
        io::receive_from(dispatcher, &mut socket, size, attempt, |data, from| {
            let (ip, port) = luasocket_core::numeric_name(from).map_err(runtime_error)?;
            Ok::<_, mlua::Error>(vec![
                Value::String(lua.create_string(data)?),
                Value::String(lua.create_string(ip)?),
                Value::Integer(port.into()),
            ])
        })?
    };
    match received {
        Progress::Done(values) => Ok(MultiValue::from_vec(values?)),
        Progress::Parked => unfinished(lua, Progress::Parked),
        Progress::Failed(message) => unfinished(lua, Progress::Failed(message)),
    }
}
