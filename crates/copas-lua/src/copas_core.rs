//! `copas.core`: the Rust scheduler as seen from `copas.lua`.
//!
//! Tasks are known to Rust by id only; `copas.lua` keeps the coroutines and resumes
//! them (a `coroutine.resume` from Lua is the cheapest way to switch, and it keeps
//! error values and tracebacks exactly as Copas users expect). Everything about *when*
//! a task runs — the run queue, sleeps, alarms, readiness waits and their deadlines —
//! is decided here.

use std::cell::RefCell;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use copas_sched::{Interest, Scheduler, Source, TaskId, Wake};
use mlua::{Lua, Result, Table};

mod hot;

/// Per-task data the scheduler keeps for the binding.
#[derive(Debug, Default)]
pub(crate) struct TaskData {
    /// Deadline of the I/O operation in progress (it spans several waits).
    pub(crate) deadline: Option<Instant>,
    /// A one-shot registration for a socket object that is not ours (its descriptor
    /// may be closed behind our back, so it is not kept past the wait).
    foreign: Option<Source>,
}

/// A socket object's descriptor registered with the reactor. Released when the object
/// closes, changes descriptor, or is collected.
#[derive(Debug)]
pub(crate) struct Registration {
    source: Source,
    dispatcher: std::rc::Weak<RefCell<Dispatcher>>,
}

impl Registration {
    /// Removes the descriptor from the reactor. If the dispatcher is busy (a collection
    /// running inside a scheduler call), the entry is left to go stale: epoll drops a
    /// closed descriptor by itself, and the reactor replaces a stale entry when the
    /// number is registered again.
    pub(crate) fn release(self) {
        if let Some(dispatcher) = self.dispatcher.upgrade() {
            if let Ok(mut dispatcher) = dispatcher.try_borrow_mut() {
                dispatcher.scheduler.deregister(self.source);
            }
        }
    }
}

/// The scheduler plus the binding's bookkeeping, shared by every `copas.core` function.
#[derive(Debug)]
pub(crate) struct Dispatcher {
    pub(crate) scheduler: Scheduler<TaskData>,
    batch: Vec<TaskId>,
    alarms: Vec<TaskId>,
}

pub(crate) type SharedDispatcher = Rc<RefCell<Dispatcher>>;

impl Dispatcher {
    fn new() -> copas_sched::Result<Self> {
        Ok(Dispatcher {
            scheduler: Scheduler::new()?,
            batch: Vec::new(),
            alarms: Vec::new(),
        })
    }

    /// The live task in slot `index`.
    fn task(&self, index: i64) -> Result<TaskId> {
        u32::try_from(index)
            .ok()
            .and_then(|index| self.scheduler.id_at(index))
            .ok_or_else(|| runtime_error("no such Copas task"))
    }

    /// Drops one-shot registrations of foreign sockets of tasks that are about to run.
    fn release_foreign(&mut self, id: TaskId) {
        if let Some(source) = self
            .scheduler
            .get_mut(id)
            .and_then(|task| task.foreign.take())
        {
            self.scheduler.deregister(source);
        }
    }
}

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

/// Converts a Lua number of seconds into a duration; `None` for nil, negative, NaN or
/// infinite values (all mean "no limit" in Copas).
fn seconds(value: Option<f64>) -> Option<Duration> {
    match value {
        Some(s) if s.is_finite() && s >= 0.0 => Duration::try_from_secs_f64(s).ok(),
        _ => None,
    }
}

/// Lua knows a task by its slot index: a small integer, so the tables `copas.lua` keys
/// by it stay arrays. Lua forgets an index in the same call that frees the slot, so an
/// index it holds always names the live task.
fn id_value(id: TaskId) -> i64 {
    i64::from(id.index())
}

fn runtime_error(err: impl std::fmt::Display) -> mlua::Error {
    mlua::Error::runtime(err.to_string())
}

/// The dispatcher of this Lua state (one per state, created on first use).
pub(crate) fn dispatcher(lua: &Lua) -> Result<SharedDispatcher> {
    if let Some(existing) = lua.app_data_ref::<SharedDispatcher>() {
        return Ok(existing.clone());
    }
    let created = Rc::new(RefCell::new(Dispatcher::new().map_err(runtime_error)?));
    lua.set_app_data(created.clone());
    Ok(created)
}

/// One attempt of an operation by task `id`: its timeout, and whether it is the
/// first attempt (which starts the deadline) or a retry after a wait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt {
    pub(crate) id: i64,
    pub(crate) timeout: Option<f64>,
    pub(crate) first: bool,
}

/// Parks the task until the descriptor is ready, registering it with the reactor
/// the first time.
pub(crate) fn park(
    dispatcher: &SharedDispatcher,
    registration: &mut Option<Registration>,
    fd: i32,
    interest: Interest,
    attempt: Attempt,
) -> Result<()> {
    let mut d = dispatcher.borrow_mut();
    let task = d.task(attempt.id)?;
    let source = match registration {
        Some(existing) if d.scheduler.is_registered(existing.source) => existing.source,
        _ => {
            let source = d.scheduler.register(fd).map_err(runtime_error)?;
            *registration = Some(Registration {
                source,
                dispatcher: Rc::downgrade(dispatcher),
            });
            source
        }
    };
    let data = d
        .scheduler
        .get_mut(task)
        .ok_or_else(|| runtime_error("no such Copas task"))?;
    if attempt.first {
        data.deadline = seconds(attempt.timeout).and_then(|t| Instant::now().checked_add(t));
    }
    let deadline = data.deadline;
    d.scheduler
        .wait_io(task, source, interest, deadline)
        .map_err(runtime_error)
}

/// True if the task's last wait ended at its deadline (never for a first attempt).
pub(crate) fn timed_out(dispatcher: &SharedDispatcher, id: i64, first: bool) -> Result<bool> {
    if first {
        return Ok(false);
    }
    let d = dispatcher.borrow();
    Ok(d.scheduler.wake_reason(d.task(id)?) == Some(Wake::TimedOut))
}

/// Builds the `copas.core` table.
pub fn open(lua: &Lua) -> Result<Table> {
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
                    let deadline = Instant::now()
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
                RawFd,
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
                if fd < 0 {
                    return Ok(false);
                }
                let source = d.scheduler.register(fd).map_err(runtime_error)?;
                let task = d
                    .scheduler
                    .get_mut(id)
                    .ok_or_else(|| runtime_error("not a Copas task"))?;
                task.foreign = Some(source);
                if first {
                    task.deadline = seconds(timeout).and_then(|t| Instant::now().checked_add(t));
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

    fast::register(lua, &core, &shared)?;
    hot::register(lua, &core, &shared)?;

    // monotonic(): seconds on a clock that never jumps, for elapsed-time measurements.
    let origin = Instant::now();
    core.set(
        "monotonic",
        lua.create_function(move |_, ()| Ok(origin.elapsed().as_secs_f64()))?,
    )?;

    Ok(core)
}

/// The socket fast paths: `copas.receive`, `copas.send`, accepting and UDP receives on
/// our own socket objects (TCP, UDP and `ssl` connections), done in one call each. Every function returns `true` for an
/// object it does not handle (not ours, wrong class, odd arguments): `copas.lua` then
/// takes the general path, which also raises the proper argument errors.
pub(crate) mod fast {
    use std::task::Poll;

    use copas_sched::Interest;
    use luasocket_core::{Error, ReceivePattern, SendRange, TcpState};
    use mlua::{AnyUserData, Lua, LuaString, MultiValue, Result, Table, Value};

    use super::{park, runtime_error, timed_out, Attempt, SharedDispatcher};
    use crate::socket_core::{tcp, udp};
    use crate::ssl::{self, SslConnection, Step};
    use std::cell::RefMut;

    fn not_ours() -> Result<MultiValue> {
        Ok(MultiValue::from_vec(vec![Value::Boolean(true)]))
    }

    fn parked(extra: Option<Value>) -> Result<MultiValue> {
        let mut values = vec![Value::Boolean(false)];
        values.extend(extra);
        Ok(MultiValue::from_vec(values))
    }

    fn message(lua: &Lua, err: &Error) -> Result<Value> {
        Ok(Value::String(lua.create_string(err.to_string())?))
    }

    /// The TCP object behind `skt` and its descriptor, if it is ours and of `state`.
    fn tcp_object<'a>(
        lua: &Lua,
        skt: &'a AnyUserData,
        state: TcpState,
    ) -> Option<(std::cell::RefMut<'a, tcp::TcpObject>, i32)> {
        let object = tcp::borrow(lua, skt)?;
        if object.socket.state() != state {
            return None;
        }
        let fd = object.socket.fd()?;
        Some((object, fd))
    }

    fn pattern_of(value: &Value) -> Option<ReceivePattern> {
        match value {
            Value::Nil => Some(ReceivePattern::Line),
            Value::String(s) => ReceivePattern::parse(&s.as_bytes()),
            Value::Integer(n) if *n >= 0 => Some(ReceivePattern::Count(*n as usize)),
            Value::Number(n) if *n >= 0.0 => Some(ReceivePattern::Count(*n as usize)),
            _ => None,
        }
    }

    fn with_prefix(lua: &Lua, prefix: &Option<LuaString>, bytes: &[u8]) -> Result<Value> {
        Ok(Value::String(match prefix {
            None => lua.create_string(bytes)?,
            Some(prefix) => {
                let mut joined = prefix.as_bytes().to_vec();
                joined.extend_from_slice(bytes);
                lua.create_string(&joined)?
            }
        }))
    }

    /// recv_ssl(id, skt, pattern, prefix, timeout, first): `copas.core.recv` (see
    /// `hot`) for `ssl` connections, tried when that one answers "not ours".
    pub(crate) fn recv_ssl(
        lua: &Lua,
        dispatcher: &SharedDispatcher,
        (id, skt, pattern, prefix, timeout, first): (
            i64,
            AnyUserData,
            Value,
            Value,
            Option<f64>,
            bool,
        ),
    ) -> Result<MultiValue> {
        let Some(pattern) = pattern_of(&pattern) else {
            return not_ours();
        };
        // A prefix counts toward a byte count (LuaSocket's rule): leave that to the
        // general path, which passes it to the socket's own receive.
        let prefix = match prefix {
            Value::Nil => None,
            Value::String(s) if !matches!(pattern, ReceivePattern::Count(_)) => Some(s),
            _ => return not_ours(),
        };
        let attempt = Attempt { id, timeout, first };
        let expired = timed_out(dispatcher, id, first)?;
        match ssl::borrow(lua, &skt) {
            Some(connection) => ssl_recv(
                lua, dispatcher, connection, pattern, &prefix, attempt, expired,
            ),
            None => not_ours(),
        }
    }

    /// send_ssl(id, skt, data, i, j, timeout, first): `copas.core.send` for `ssl`
    /// connections.
    #[allow(clippy::type_complexity)]
    pub(crate) fn send_ssl(
        lua: &Lua,
        dispatcher: &SharedDispatcher,
        (id, skt, data, i, j, timeout, first): (
            i64,
            AnyUserData,
            Value,
            Option<f64>,
            Option<f64>,
            Option<f64>,
            bool,
        ),
    ) -> Result<MultiValue> {
        let Value::String(data) = &data else {
            return not_ours();
        };
        let bytes = data.as_bytes();
        let range = SendRange::new(
            bytes.len(),
            i.unwrap_or(1.0) as i64,
            j.unwrap_or(-1.0) as i64,
        );
        let attempt = Attempt { id, timeout, first };
        let expired = timed_out(dispatcher, id, first)?;
        match ssl::borrow(lua, &skt) {
            Some(connection) => ssl_send(
                lua, dispatcher, connection, &range, &bytes, attempt, expired,
            ),
            None => not_ours(),
        }
    }

    fn scheduler_interest(interest: luasocket_core::Interest) -> Interest {
        match interest {
            luasocket_core::Interest::Read => Interest::Read,
            luasocket_core::Interest::Write => Interest::Write,
        }
    }

    /// `recv` on an `ssl` connection: an incomplete pattern stays in its buffer while the
    /// task waits, so a large body is not copied into a growing prefix at every wait.
    fn ssl_recv(
        lua: &Lua,
        dispatcher: &SharedDispatcher,
        mut connection: RefMut<'_, SslConnection>,
        pattern: ReceivePattern,
        prefix: &Option<LuaString>,
        attempt: Attempt,
        expired: bool,
    ) -> Result<MultiValue> {
        let failure = match connection.receive_step(pattern) {
            Step::Done(complete) => {
                let data = connection.take(complete, |bytes| with_prefix(lua, prefix, bytes))?;
                return Ok(MultiValue::from_vec(vec![data]));
            }
            Step::Want(interest) if !expired => match connection.fd() {
                Some(fd) => {
                    park(
                        dispatcher,
                        &mut connection.registration,
                        fd,
                        scheduler_interest(interest),
                        attempt,
                    )?;
                    return parked(None);
                }
                None => Error::Closed.to_string(),
            },
            Step::Want(_) => Error::Timeout.to_string(),
            Step::Failed(message) => message,
        };
        let partial = connection.take_partial(pattern, |bytes| with_prefix(lua, prefix, bytes))?;
        Ok(MultiValue::from_vec(vec![
            Value::Nil,
            Value::String(lua.create_string(failure)?),
            partial,
        ]))
    }

    /// `send` on an `ssl` connection: done once the data is taken and flushed.
    fn ssl_send(
        lua: &Lua,
        dispatcher: &SharedDispatcher,
        mut connection: RefMut<'_, SslConnection>,
        range: &SendRange,
        bytes: &[u8],
        attempt: Attempt,
        expired: bool,
    ) -> Result<MultiValue> {
        let mut sent = 0;
        let step = connection.send_step(range.slice(bytes), &mut sent);
        let last = Value::Number(range.last_index(sent) as f64);
        let failure = match step {
            Step::Done(()) => return Ok(MultiValue::from_vec(vec![last])),
            Step::Want(interest) if !expired => match connection.fd() {
                Some(fd) => {
                    park(
                        dispatcher,
                        &mut connection.registration,
                        fd,
                        scheduler_interest(interest),
                        attempt,
                    )?;
                    return parked(Some(last));
                }
                None => Error::Closed.to_string(),
            },
            Step::Want(_) => Error::Timeout.to_string(),
            Step::Failed(message) => message,
        };
        Ok(MultiValue::from_vec(vec![
            Value::Nil,
            Value::String(lua.create_string(failure)?),
            last,
        ]))
    }

    /// accept(id, server): `client` | `nil, err` | `false` (parked) | `true` (not ours).
    pub(crate) fn accept(
        lua: &Lua,
        dispatcher: &SharedDispatcher,
        (id, skt): (i64, AnyUserData),
    ) -> Result<MultiValue> {
        let accepted = {
            let Some((mut object, fd)) = tcp_object(lua, &skt, TcpState::Server) else {
                return not_ours();
            };
            match object.socket.try_accept() {
                Poll::Pending => {
                    park(
                        dispatcher,
                        &mut object.registration,
                        fd,
                        Interest::Read,
                        Attempt {
                            id,
                            timeout: None,
                            first: true,
                        },
                    )?;
                    return parked(None);
                }
                Poll::Ready(result) => result,
            }
        };
        match accepted {
            Ok(client) => Ok(MultiValue::from_vec(vec![Value::UserData(
                tcp::wrap_client(lua, client)?,
            )])),
            Err(err) => Ok(MultiValue::from_vec(vec![Value::Nil, message(lua, &err)?])),
        }
    }

    /// recvfrom(id, skt, size, timeout, first): `data, ip, port` | `nil, err` |
    /// `false` (parked) | `true` (not ours).
    pub(crate) fn recvfrom(
        lua: &Lua,
        dispatcher: &SharedDispatcher,
        (id, skt, size, timeout, first): (i64, AnyUserData, Option<f64>, Option<f64>, bool),
    ) -> Result<MultiValue> {
        let size = match size {
            None => luasocket_core::DATAGRAM_SIZE,
            Some(n) if n >= 0.0 => (n as usize).min(luasocket_core::MAX_DATAGRAM_SIZE),
            Some(_) => return not_ours(),
        };
        let attempt = Attempt { id, timeout, first };
        let expired = timed_out(dispatcher, id, first)?;
        let Some(mut object) = udp::borrow(lua, &skt) else {
            return not_ours();
        };
        let Some(fd) = object.socket.fd() else {
            return not_ours();
        };
        let received =
            object
                .socket
                .try_receive_from_with(size, |data, from| -> Result<Vec<Value>> {
                    let (ip, port) = luasocket_core::numeric_name(from).map_err(runtime_error)?;
                    Ok(vec![
                        Value::String(lua.create_string(data)?),
                        Value::String(lua.create_string(ip)?),
                        Value::Integer(port.into()),
                    ])
                });
        let failure = match received {
            Poll::Ready(Ok(values)) => return Ok(MultiValue::from_vec(values?)),
            Poll::Pending if !expired => {
                park(
                    dispatcher,
                    &mut object.registration,
                    fd,
                    Interest::Read,
                    attempt,
                )?;
                return parked(None);
            }
            Poll::Pending => Error::Timeout,
            Poll::Ready(Err(err)) => err,
        };
        Ok(MultiValue::from_vec(vec![
            Value::Nil,
            message(lua, &failure)?,
        ]))
    }

    /// Adds the fast paths to `copas.core`.
    pub(crate) fn register(lua: &Lua, core: &Table, shared: &SharedDispatcher) -> Result<()> {
        let d = shared.clone();
        core.set(
            "recv_ssl",
            lua.create_function(move |lua, args| recv_ssl(lua, &d, args))?,
        )?;
        let d = shared.clone();
        core.set(
            "send_ssl",
            lua.create_function(move |lua, args| send_ssl(lua, &d, args))?,
        )?;
        let d = shared.clone();
        core.set(
            "accept",
            lua.create_function(move |lua, args| accept(lua, &d, args))?,
        )?;
        let d = shared.clone();
        core.set(
            "recvfrom",
            lua.create_function(move |lua, args| recvfrom(lua, &d, args))?,
        )?;
        Ok(())
    }
}
