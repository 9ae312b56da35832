//! The `copas.core` functions called once or more per message or per thread, as plain
//! C functions: `step`, `recv`, `send`, `flush`, `spawn`, `sleep`, `remove`.
//!
//! Every line an echo server answers crosses from Lua into Rust three times (a receive
//! that parks, the receive that completes, the send); every thread is spawned, sleeps
//! or waits, and is removed. Through mlua each crossing costs thousands of
//! instructions: arguments become registry references, results a `Vec`, the object
//! lookup goes through app data and a table keyed by the userdata. Here the arguments
//! are read off the stack, the object is found with one raw table lookup, and the
//! results are pushed directly; the operations themselves are `io`'s.
//!
//! Lua errors are `longjmp`s, which must not cross Rust frames that own anything. So
//! each function does its Rust work inside [`guarded`] with every guard scoped inside,
//! leaves its output bytes in [`HotPath`]'s buffers, and only then, with nothing left
//! to drop, pushes results (which may raise "not enough memory") or raises an error.

use crate::lua_api::c_int;
use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::rc::Rc;
use std::time::Duration;

use luasocket_core::{ReceivePattern, SendRange};
use mlua::{Lua, Result, Table, Value};

use super::io::{self, Progress, Sent, Stream};
use super::metrics::Metrics;
use crate::dispatch::{id_value, seconds, Attempt, Dispatcher, SharedDispatcher, TaskData};
use crate::lua_api::userdata::slot_at;
use crate::lua_api::{closures, guarded, shared, LuaState, Slot, Stack, ValueKind};
use crate::socket_core::tcp::{self, TcpObject};
use crate::socket_core::unix::{self, UnixStreamObject};
use crate::ssl::{self, SslConnection};

/// What the functions share: the dispatcher, the metrics, and the bytes they are
/// about to push. Owned by the closures' first upvalue (see `lua_api::closure`).
struct HotPath {
    dispatcher: SharedDispatcher,
    metrics: Rc<Metrics>,
    /// Received data (or partial data) to return.
    data: RefCell<Vec<u8>>,
    /// An error message to return or raise.
    message: RefCell<String>,
    /// Task ids `step` is about to write into Lua tables.
    ids: RefCell<Vec<i64>>,
}

/// Upvalue 2: the live table of TCP objects.
const TCP_LIVE: c_int = 2;
/// Upvalue 3: the set of sockets holding back replies.
const DEFERRED: c_int = 3;
/// Upvalue 4: the live table of `ssl` connections.
const SSL_LIVE: c_int = 4;
/// Upvalue 5: the live table of `socket.unix` stream objects.
const UNIX_LIVE: c_int = 5;

/// Raised by a function called while the state closes, after its data was dropped.
const GONE: &[u8] = b"copas.core used while its Lua state closes";

/// How an operation ended, once every Rust value it used is dropped.
#[derive(Debug, Clone, Copy)]
enum Settled {
    /// Not one of our connected objects, or arguments the general path handles.
    NotOurs,
    /// Parked until the socket is ready; for a send, how far it got.
    Parked(Option<f64>),
    /// Received `data` / sent up to this index.
    Done(Option<f64>),
    /// `nil, message, partial` (receive: `data` holds the partial; send: the index).
    Failed(Option<f64>),
    /// Raise `message` as a Lua error.
    Raise,
    /// Sent up to this index, held back: the socket (argument 2) joins the deferred set.
    Deferred(f64),
}

/// Adds `step`, `recv`, `send`, `flush`, `spawn`, `sleep` and `remove` to
/// `core`, and `deferred`: the set of sockets holding back replies (see `send`), which
/// `copas.lua` flushes after each batch of resumes.
pub(super) fn register(
    lua: &Lua,
    core: &Table,
    dispatcher: &SharedDispatcher,
    metrics: Rc<Metrics>,
) -> Result<()> {
    let hot = HotPath {
        dispatcher: SharedDispatcher::clone(dispatcher),
        metrics,
        data: RefCell::new(Vec::new()),
        message: RefCell::new(String::new()),
        ids: RefCell::new(Vec::new()),
    };
    let deferred = lua.create_table()?;
    core.set("deferred", deferred.clone())?;
    let upvalues = [
        Value::Table(tcp::kind(lua)?.live().clone()),
        Value::Table(deferred),
        Value::Table(ssl::kind(lua)?.live().clone()),
        Value::Table(unix::stream_kind(lua)?.live().clone()),
    ];
    let functions = closures(
        lua,
        hot,
        &upvalues,
        &[
            ("step", step),
            ("recv", recv),
            ("send", send),
            ("flush", flush),
            ("spawn", spawn),
            ("sleep", sleep),
            ("remove", remove),
        ],
    )?;
    for (name, function) in functions {
        core.set(name, function)?;
    }
    Ok(())
}

/// One of our stream objects at a stack index.
enum Object<'a> {
    Tcp(&'a Slot<TcpObject>),
    Ssl(&'a Slot<SslConnection>),
    Unix(&'a Slot<UnixStreamObject>),
}

/// The stream object at `index`, if it is ours.
///
/// # Safety
/// `stack` is that of a function made by [`register`]; the slot is used only while the
/// object stays on the stack.
unsafe fn object_at<'a>(stack: Stack, index: c_int) -> Option<Object<'a>> {
    // SAFETY: per the contract, upvalues TCP_LIVE, SSL_LIVE and UNIX_LIVE are the live
    // tables of those kinds.
    unsafe {
        if let Some(slot) = slot_at::<TcpObject>(stack, index, Stack::upvalue(TCP_LIVE)) {
            return Some(Object::Tcp(slot));
        }
        if let Some(slot) = slot_at::<SslConnection>(stack, index, Stack::upvalue(SSL_LIVE)) {
            return Some(Object::Ssl(slot));
        }
        slot_at::<UnixStreamObject>(stack, index, Stack::upvalue(UNIX_LIVE)).map(Object::Unix)
    }
}

/// The receive pattern at `index`: nil is a line, a non-negative number a count.
fn pattern_at(stack: Stack, index: c_int) -> Option<ReceivePattern> {
    match stack.kind(index) {
        ValueKind::None | ValueKind::Nil => Some(ReceivePattern::Line),
        // SAFETY: the string stays on the stack while it is parsed.
        ValueKind::String => ReceivePattern::parse(unsafe { stack.bytes(index) }?),
        ValueKind::Number => {
            let count = stack.number(index);
            (count >= 0.0).then_some(ReceivePattern::Count(count as usize))
        }
        _ => None,
    }
}

/// Leaves `message` in `hot.message`.
fn set_message(hot: &HotPath, message: impl std::fmt::Display) {
    use std::fmt::Write;
    let mut buffer = hot.message.borrow_mut();
    buffer.clear();
    let _ = write!(buffer, "{message}");
}

/// An error to raise.
fn fail(hot: &HotPath, message: impl std::fmt::Display) -> Settled {
    set_message(hot, message);
    Settled::Raise
}

/// Runs `body` with panics caught (as an error to raise).
fn run(hot: &HotPath, body: impl FnOnce() -> Settled) -> Settled {
    guarded(body, || fail(hot, "internal error in copas.core (panic)"))
}

/// The Rust half of `recv` on one object: leaves the data or partial data in
/// `hot.data`.
fn receive_on<S: Stream>(
    hot: &HotPath,
    slot: &Slot<S>,
    pattern: ReceivePattern,
    prefix: &[u8],
    attempt: Attempt,
) -> Settled {
    let Some(mut object) = slot.borrow_mut() else {
        return Settled::NotOurs;
    };
    if !object.is_stream() {
        return Settled::NotOurs;
    }
    let mut data = hot.data.borrow_mut();
    match io::receive(
        &hot.dispatcher,
        &mut *object,
        pattern,
        prefix,
        attempt,
        &mut data,
    ) {
        Ok(Progress::Done(())) => {
            hot.metrics
                .add_received(data.len().saturating_sub(prefix.len()));
            Settled::Done(None)
        }
        Ok(Progress::Parked) => Settled::Parked(None),
        Ok(Progress::Failed(message)) => {
            hot.metrics
                .add_received(data.len().saturating_sub(prefix.len()));
            set_message(hot, message);
            Settled::Failed(None)
        }
        Err(err) => fail(hot, err),
    }
}

/// The Rust half of `send` on one object.
fn send_on<S: Stream>(
    hot: &HotPath,
    slot: &Slot<S>,
    bytes: &[u8],
    range: SendRange,
    attempt: Attempt,
) -> Settled {
    let Some(mut object) = slot.borrow_mut() else {
        return Settled::NotOurs;
    };
    if !object.is_stream() {
        return Settled::NotOurs;
    }
    let last = |count: usize| range.last_index(count) as f64;
    let mut sent = 0;
    let progress = io::send(
        &hot.dispatcher,
        &mut *object,
        range.slice(bytes),
        &mut sent,
        attempt,
    );
    hot.metrics.add_sent(sent);
    match progress {
        Ok(Progress::Done(Sent {
            count,
            deferred: true,
        })) => Settled::Deferred(last(count)),
        Ok(Progress::Done(Sent { count, .. })) => Settled::Done(Some(last(count))),
        Ok(Progress::Parked) => Settled::Parked(Some(last(sent))),
        Ok(Progress::Failed(message)) => {
            set_message(hot, message);
            Settled::Failed(Some(last(sent)))
        }
        Err(err) => fail(hot, err),
    }
}

/// Pushes the results of `settled` and returns their count, or raises.
///
/// The buffers are moved out of `hot` while Lua runs: a push may run a collection
/// step, and a finalizer may call these functions again, which must find buffers of
/// their own rather than change the ones being pushed. They are held in
/// `ManuallyDrop`, so if a push raises (out of memory) they leak instead of being
/// skipped over with a destructor pending.
///
/// # Safety
/// Called last by a function made by [`register`]: no Rust value that needs dropping
/// may be alive in the caller, as pushing may raise a memory error.
unsafe fn finish(stack: Stack, hot: &HotPath, settled: Settled) -> c_int {
    let data = ManuallyDrop::new(hot.data.take());
    let message = ManuallyDrop::new(hot.message.take());
    // SAFETY: per the contract; pushing at most three values fits in the free slots.
    let count = unsafe {
        let push_value = |value: Option<f64>| match value {
            Some(n) => stack.push_number(n),
            None => stack.push_bytes(&data),
        };
        match settled {
            Settled::NotOurs => {
                stack.push_boolean(true);
                1
            }
            Settled::Parked(None) => {
                stack.push_boolean(false);
                1
            }
            Settled::Parked(Some(last)) => {
                stack.push_boolean(false);
                stack.push_number(last);
                2
            }
            Settled::Done(value) => {
                push_value(value);
                1
            }
            Settled::Deferred(last) => {
                stack.push_value(2);
                stack.push_boolean(true);
                stack.raw_set(Stack::upvalue(DEFERRED));
                stack.push_number(last);
                1
            }
            Settled::Failed(value) => {
                stack.push_nil();
                stack.push_bytes(message.as_bytes());
                push_value(value);
                3
            }
            Settled::Raise => {
                stack.push_bytes(message.as_bytes());
                0
            }
        }
    };
    hot.data.replace(ManuallyDrop::into_inner(data));
    hot.message.replace(ManuallyDrop::into_inner(message));
    if let Settled::Raise = settled {
        // SAFETY: the buffers are back in `hot`: nothing is left to drop.
        return unsafe { stack.raise_top() };
    }
    count
}

/// recv(id, skt, pattern, prefix, timeout, first): `data` | `nil, err, partial` |
/// `false` (parked: call again with first = false) | `true` (not ours).
unsafe extern "C-unwind" fn recv(state: *mut LuaState) -> c_int {
    // SAFETY: called by Lua as a function made by `register`; the strings stay on the
    // stack during the call, and `finish` runs last.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = shared::<HotPath>(stack) else {
            return stack.raise(GONE);
        };
        let settled = 'settled: {
            let Some(pattern) = pattern_at(stack, 3) else {
                break 'settled Settled::NotOurs;
            };
            let prefix = match stack.kind(4) {
                ValueKind::None | ValueKind::Nil => &[][..],
                ValueKind::String => stack.bytes(4).unwrap_or_default(),
                _ => break 'settled Settled::NotOurs,
            };
            let Ok(timeout) = stack.optional_number(5) else {
                break 'settled Settled::NotOurs;
            };
            let attempt = Attempt {
                id: stack.integer(1),
                timeout,
                first: stack.boolean(6),
            };
            match object_at(stack, 2) {
                Some(Object::Tcp(slot)) => {
                    run(hot, || receive_on(hot, slot, pattern, prefix, attempt))
                }
                Some(Object::Ssl(slot)) => {
                    run(hot, || receive_on(hot, slot, pattern, prefix, attempt))
                }
                Some(Object::Unix(slot)) => {
                    run(hot, || receive_on(hot, slot, pattern, prefix, attempt))
                }
                None => Settled::NotOurs,
            }
        };
        finish(stack, hot, settled)
    }
}

/// send(id, skt, data, i, j, timeout, first): `last` | `nil, err, last` |
/// `false, last` (parked: call again from last + 1) | `true` (not ours).
unsafe extern "C-unwind" fn send(state: *mut LuaState) -> c_int {
    // SAFETY: as in `recv`.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = shared::<HotPath>(stack) else {
            return stack.raise(GONE);
        };
        let settled = 'settled: {
            let Some(bytes) = stack.bytes(3) else {
                break 'settled Settled::NotOurs;
            };
            let (Ok(i), Ok(j), Ok(timeout)) = (
                stack.optional_number(4),
                stack.optional_number(5),
                stack.optional_number(6),
            ) else {
                break 'settled Settled::NotOurs;
            };
            let range = SendRange::new(
                bytes.len(),
                i.unwrap_or(1.0) as i64,
                j.unwrap_or(-1.0) as i64,
            );
            let attempt = Attempt {
                id: stack.integer(1),
                timeout,
                first: stack.boolean(7),
            };
            match object_at(stack, 2) {
                Some(Object::Tcp(slot)) => run(hot, || send_on(hot, slot, bytes, range, attempt)),
                Some(Object::Ssl(slot)) => run(hot, || send_on(hot, slot, bytes, range, attempt)),
                Some(Object::Unix(slot)) => run(hot, || send_on(hot, slot, bytes, range, attempt)),
                None => Settled::NotOurs,
            }
        };
        finish(stack, hot, settled)
    }
}

/// flush(): writes what sockets in the deferred set hold back, and takes out of the set
/// those done (or broken). One the kernel has no room for stays for the next flush.
unsafe extern "C-unwind" fn flush(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`. lua_next walks the deferred table (only
    // existing keys are cleared while walking, which Lua allows); each key is pushed
    // at a known absolute index; Rust values live only inside `guarded`, and clearing
    // an existing key cannot grow the table.
    unsafe {
        let stack = Stack::new(state);
        let set = Stack::upvalue(DEFERRED);
        stack.set_top(0);
        stack.push_nil();
        while stack.next(set) {
            stack.set_top(1);
            let finished = match object_at(stack, 1) {
                Some(Object::Tcp(slot)) => flush_one(slot),
                Some(Object::Unix(slot)) => flush_one(slot),
                Some(Object::Ssl(_)) | None => true,
            };
            if finished {
                stack.push_value(1);
                stack.push_nil();
                stack.raw_set(set);
            }
        }
        0
    }
}

/// Flushes what a stream object holds back; true once nothing is left (or it broke).
fn flush_one<F: tcp::Flavor>(slot: &Slot<tcp::StreamObject<F>>) -> bool {
    guarded(
        || match slot.borrow_mut() {
            Some(mut object) => object.socket.flush_deferred().is_ready(),
            None => false,
        },
        || true,
    )
}

/// What a scheduler call returns, pushed once Rust is done.
#[derive(Debug, Clone, Copy)]
enum Reply {
    Nothing,
    Integer(i64),
    Boolean(bool),
    /// Raise `message` as a Lua error.
    Raise,
}

/// Runs `body` on the dispatcher and pushes its reply.
///
/// # Safety
/// Only for the functions made by [`register`]; `body` must have read its arguments
/// already (it runs without access to the stack).
unsafe fn scheduler_call(
    stack: Stack,
    hot: &HotPath,
    body: impl FnOnce(&mut Dispatcher) -> std::result::Result<Reply, String>,
) -> c_int {
    let reply = guarded(
        || {
            let Ok(mut dispatcher) = hot.dispatcher.try_borrow_mut() else {
                set_message(hot, "copas.core called from inside the scheduler");
                return Reply::Raise;
            };
            body(&mut dispatcher).unwrap_or_else(|message| {
                set_message(hot, message);
                Reply::Raise
            })
        },
        || {
            set_message(hot, "internal error in copas.core (panic)");
            Reply::Raise
        },
    );
    match reply {
        Reply::Nothing => 0,
        Reply::Integer(n) => {
            stack.push_integer(n);
            1
        }
        Reply::Boolean(b) => {
            stack.push_boolean(b);
            1
        }
        // SAFETY: per the contract, every Rust value of the call is dropped.
        Reply::Raise => unsafe { raise(stack, hot) },
    }
}

/// The HotPath of a function made by [`register`], or raises.
///
/// # Safety
/// `stack` is that of a function made by [`register`].
unsafe fn hot_path<'a>(stack: Stack) -> Option<&'a HotPath> {
    // SAFETY: per the contract, upvalue 1 owns a HotPath.
    unsafe { shared::<HotPath>(stack) }
}

/// spawn() -> id of a new task, runnable from the next step.
unsafe extern "C-unwind" fn spawn(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        scheduler_call(stack, hot, |d| {
            Ok(Reply::Integer(id_value(
                d.scheduler.spawn(TaskData::default()),
            )))
        })
    }
}

/// remove(id) -> whether a task was removed.
unsafe extern "C-unwind" fn remove(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        let id = stack.integer(1);
        scheduler_call(stack, hot, |d| {
            let Ok(id) = d.task(id) else {
                return Ok(Reply::Boolean(false));
            };
            d.release_foreign(id);
            Ok(Reply::Boolean(d.scheduler.remove(id).is_some()))
        })
    }
}

/// sleep(id, seconds, yield): negative: until wakeup; zero: to the end of the run queue.
/// With `yield` true it also yields the calling coroutine, which spares a thread that
/// only sleeps a call to `coroutine.yield` and a level of calls (a `CallInfo`
/// allocation in every new coroutine); the caller has marked itself parked already.
unsafe extern "C-unwind" fn sleep(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`. The yield is last, after
    // `scheduler_call` has dropped every Rust value.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        let id = stack.integer(1);
        let secs = stack.number(2);
        let yields = stack.boolean(3);
        let results = scheduler_call(stack, hot, |d| {
            let id = d.task(id).map_err(|err| err.to_string())?;
            let parked = if secs < 0.0 {
                d.scheduler.suspend(id)
            } else {
                d.scheduler
                    .sleep(id, seconds(Some(secs)).unwrap_or(Duration::MAX))
            };
            parked
                .map(|()| Reply::Nothing)
                .map_err(|err| err.to_string())
        });
        if yields {
            return stack.yield_nothing();
        }
        results
    }
}

/// Raises the message in `hot.message`.
///
/// # Safety
/// As for [`finish`]: nothing that needs dropping may be alive in the caller.
unsafe fn raise(stack: Stack, hot: &HotPath) -> c_int {
    // SAFETY: per the contract.
    unsafe { finish(stack, hot, Settled::Raise) }
}

/// step(timeout, ready, alarms) -> number of ready ids, number of alarm ids, quiet.
/// Waits at most `timeout` seconds (nil: until something happens), then writes the ids
/// of the tasks to resume into `ready[1..n]` and of the alarms due into `alarms`.
/// `quiet`: no I/O came during a wait that could last (see `Scheduler::poll`).
unsafe extern "C-unwind" fn step(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`. The Rust part runs in `guarded` with every
    // guard dropped before the tables are written.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        if stack.kind(2) != ValueKind::Table || stack.kind(3) != ValueKind::Table {
            set_message(hot, "copas.core.step expects (timeout, table, table)");
            return raise(stack, hot);
        }
        let timeout = match stack.kind(1) {
            ValueKind::Number => Some(stack.number(1)),
            _ => None,
        };
        let counts = guarded(
            || -> std::result::Result<_, String> {
                let mut guard = hot
                    .dispatcher
                    .try_borrow_mut()
                    .map_err(|_| "copas.core.step called from inside the scheduler".to_owned())?;
                let d = &mut *guard;
                let timeout = match timeout {
                    Some(t) if t.is_nan() || t < 0.0 => Some(Duration::ZERO),
                    // Nothing can wake an idle scheduler: waiting "until something
                    // happens" would be forever.
                    None if d.scheduler.is_idle() => Some(Duration::ZERO),
                    other => seconds(other),
                };
                let quiet = d.scheduler.poll(timeout).map_err(|err| err.to_string())?;
                d.batch.clear();
                d.scheduler.take_ready(&mut d.batch);
                d.alarms.clear();
                d.scheduler.take_alarms(&mut d.alarms);
                let mut ids = hot.ids.borrow_mut();
                ids.clear();
                for index in 0..d.batch.len() {
                    let id = d.batch[index];
                    d.release_foreign(id);
                    ids.push(id_value(id));
                }
                ids.extend(d.alarms.iter().map(|id| id_value(*id)));
                hot.metrics.step_polled(d.batch.len());
                Ok((d.batch.len(), d.alarms.len(), quiet))
            },
            || Err("internal error in copas.core (panic)".to_owned()),
        );
        let (ready, alarms, quiet) = match counts {
            Ok(counts) => counts,
            Err(message) => {
                set_message(hot, message);
                return raise(stack, hot);
            }
        };
        // Out of `hot` while the tables are written, as in `finish`.
        let ids = ManuallyDrop::new(hot.ids.take());
        for (table, first, count) in [(2, 0, ready), (3, ready, alarms)] {
            for index in 0..count {
                stack.raw_set_integer(table, (index + 1) as i64, ids[first + index]);
            }
        }
        hot.ids.replace(ManuallyDrop::into_inner(ids));
        stack.push_integer(ready as i64);
        stack.push_integer(alarms as i64);
        stack.push_boolean(quiet);
        3
    }
}
