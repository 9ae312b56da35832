//! The `copas.core` functions called once or more per message or per thread, as plain
//! C functions: `step`, `recv`, `send`, `flush`, `spawn`, `sleep`, `remove`.
//!
//! Every line an echo server answers crosses from Lua into Rust three times (a receive
//! that parks, the receive that completes, the send); every thread is spawned, sleeps
//! or waits, and is removed. Through mlua each crossing costs
//! thousands of instructions: arguments become registry references, results a
//! `Vec`, the object lookup goes through app data and a table keyed by the userdata.
//! Here the arguments are read off the stack, the object is found with one raw table
//! lookup, and the results are pushed directly.
//!
//! Lua errors are `longjmp`s, which must not cross Rust frames that own anything. So
//! each function does its Rust work in [`catch_unwind`] with every guard scoped
//! inside, leaves its output bytes in [`HotPath`]'s buffers, and only then, with
//! nothing left to drop, pushes results (which may raise "not enough memory") or
//! raises an error.

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use copas_sched::Interest;
use luasocket_core::{Error, ReceivePattern, SendRange, TcpState};
use mlua::{ffi, Function, Lua, Result, Table};

use super::{id_value, park, seconds, Attempt, SharedDispatcher, TaskData};
use crate::socket_core::object::{slot_at, Slot};
use crate::socket_core::tcp::{self, TcpObject};

/// What the functions share: the dispatcher and the bytes they are about to push.
struct HotPath {
    dispatcher: SharedDispatcher,
    /// Received data (or partial data) to return.
    data: RefCell<Vec<u8>>,
    /// An error message to return or raise.
    message: RefCell<String>,
    /// Task ids `step` is about to write into Lua tables.
    ids: RefCell<Vec<ffi::lua_Integer>>,
}

/// How an operation ended, once every Rust value it used is dropped.
#[derive(Debug, Clone, Copy)]
enum Settled {
    /// Not one of our connected TCP objects, or arguments the general path handles.
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

/// Adds `step`, `recv`, `send`, `flush`, `spawn`, `sleep` and `remove` to `core`, and
/// `deferred`: the set of sockets holding back replies (see `send`), which `copas.lua`
/// flushes after each batch of resumes.
pub(super) fn register(lua: &Lua, core: &Table, dispatcher: &SharedDispatcher) -> Result<()> {
    let hot = Rc::new(HotPath {
        dispatcher: Rc::clone(dispatcher),
        data: RefCell::new(Vec::new()),
        message: RefCell::new(String::new()),
        ids: RefCell::new(Vec::new()),
    });
    let address = Rc::as_ptr(&hot).cast::<c_void>().cast_mut();
    // The functions reach the HotPath through a light userdata: app data keeps it alive
    // as long as the Lua state.
    lua.set_app_data(hot);
    let kind = tcp::kind(lua)?;
    let deferred = lua.create_table()?;
    core.set("deferred", deferred.clone())?;
    for (name, body) in [
        ("step", step as ffi::lua_CFunction),
        ("recv", recv as ffi::lua_CFunction),
        ("send", send as ffi::lua_CFunction),
        ("flush", flush as ffi::lua_CFunction),
        ("spawn", spawn as ffi::lua_CFunction),
        ("sleep", sleep as ffi::lua_CFunction),
        ("remove", remove as ffi::lua_CFunction),
    ] {
        // SAFETY: pushes a C closure over three values (the light userdata, the live
        // table, the deferred set); the closure owns nothing, so an allocation error
        // skips no destructor.
        let function = unsafe {
            lua.exec_raw::<Function>((kind.live().clone(), deferred.clone()), |state| {
                ffi::lua_pushlightuserdata(state, address);
                ffi::lua_insert(state, 1);
                ffi::lua_pushcclosure(state, body, 3);
            })?
        };
        core.set(name, function)?;
    }
    Ok(())
}

/// The HotPath of a running function (upvalue 1).
///
/// # Safety
/// Only for the functions made by [`register`].
unsafe fn hot_path<'a>(state: *mut ffi::lua_State) -> &'a HotPath {
    // SAFETY: upvalue 1 is the address of the HotPath that app data keeps alive.
    unsafe { &*ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)).cast::<HotPath>() }
}

/// The TCP object at stack `index` (upvalue 2 is the live table).
///
/// # Safety
/// Only for the functions made by [`register`], with `index` a valid stack index.
unsafe fn tcp_slot<'a>(state: *mut ffi::lua_State, index: c_int) -> Option<&'a Slot<TcpObject>> {
    // SAFETY: per the contract; C functions have LUA_MINSTACK free slots.
    unsafe { slot_at::<TcpObject>(state, index, ffi::lua_upvalueindex(2)) }
}

/// A number argument: `Ok(None)` for nil, `Err(())` for any other type.
///
/// # Safety
/// `index` is a valid stack index of `state`.
unsafe fn optional_number(
    state: *mut ffi::lua_State,
    index: c_int,
) -> std::result::Result<Option<f64>, ()> {
    // SAFETY: reading a value of a known type does not raise.
    unsafe {
        match ffi::lua_type(state, index) {
            ffi::LUA_TNIL | ffi::LUA_TNONE => Ok(None),
            ffi::LUA_TNUMBER => Ok(Some(ffi::lua_tonumber(state, index))),
            _ => Err(()),
        }
    }
}

/// The bytes of the string at `index`, valid while it stays on the stack.
///
/// # Safety
/// `index` is a valid stack index of `state` holding a string.
unsafe fn bytes_at<'a>(state: *mut ffi::lua_State, index: c_int) -> &'a [u8] {
    let mut len = 0usize;
    // SAFETY: lua_tolstring on a string neither converts nor raises; the bytes live as
    // long as the string, which the caller keeps on the stack.
    unsafe {
        let pointer = ffi::lua_tolstring(state, index, &mut len);
        std::slice::from_raw_parts(pointer.cast::<u8>(), len)
    }
}

/// The receive pattern at `index`: nil is a line, a non-negative number a count.
///
/// # Safety
/// `index` is a valid stack index of `state`.
unsafe fn pattern_at(state: *mut ffi::lua_State, index: c_int) -> Option<ReceivePattern> {
    // SAFETY: reads values of known types only.
    unsafe {
        match ffi::lua_type(state, index) {
            ffi::LUA_TNIL | ffi::LUA_TNONE => Some(ReceivePattern::Line),
            ffi::LUA_TSTRING => ReceivePattern::parse(bytes_at(state, index)),
            ffi::LUA_TNUMBER => {
                let count = ffi::lua_tonumber(state, index);
                (count >= 0.0).then_some(ReceivePattern::Count(count as usize))
            }
            _ => None,
        }
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

/// True if the task's last wait ended at its deadline (never for a first attempt).
fn timed_out(hot: &HotPath, attempt: Attempt) -> std::result::Result<bool, Settled> {
    super::timed_out(&hot.dispatcher, attempt.id, attempt.first).map_err(|err| fail(hot, err))
}

/// The Rust half of `recv`: leaves the data or partial data in `hot.data`.
fn receive(
    hot: &HotPath,
    slot: &Slot<TcpObject>,
    pattern: ReceivePattern,
    prefix: Option<&[u8]>,
    attempt: Attempt,
) -> Settled {
    let expired = match timed_out(hot, attempt) {
        Ok(expired) => expired,
        Err(settled) => return settled,
    };
    let Some(mut object) = slot.borrow_mut() else {
        return Settled::NotOurs;
    };
    if object.socket.state() != TcpState::Client {
        return Settled::NotOurs;
    }
    let Some(fd) = object.socket.fd() else {
        return Settled::NotOurs;
    };
    let fill = |bytes: &[u8]| {
        let mut data = hot.data.borrow_mut();
        data.clear();
        data.extend_from_slice(prefix.unwrap_or_default());
        data.extend_from_slice(bytes);
    };
    // Once the socket waits through the reactor, a read that is known to have emptied
    // the kernel's queue lets the next receive park without the `recv` that would
    // return EAGAIN (one syscall of three per message in a request/reply loop).
    let source = object.registration.as_ref().map(|r| r.source);
    let readable = match source {
        Some(source) if object.socket.track_drain() => {
            hot.dispatcher.borrow().scheduler.is_ready(source)
        }
        _ => true,
    };
    let received = object
        .socket
        .try_receive_tracked_with(pattern, readable, fill);
    if let Some(source) = source.filter(|_| object.socket.drained()) {
        hot.dispatcher.borrow_mut().scheduler.clear_ready(source);
    }
    let failure = match received {
        Poll::Ready(Ok(())) => return Settled::Done(None),
        Poll::Pending if !expired => {
            // Replies held back by `send` that the kernel had no room for go out
            // before the task waits for the peer, who may be waiting for them.
            let interest = if object.socket.has_deferred() {
                Interest::Write
            } else {
                Interest::Read
            };
            return match park(
                &hot.dispatcher,
                &mut object.registration,
                fd,
                interest,
                attempt,
            ) {
                Ok(()) => Settled::Parked(None),
                Err(err) => fail(hot, err),
            };
        }
        Poll::Pending => Error::Timeout,
        Poll::Ready(Err(err)) => err,
    };
    object.socket.take_partial_with(pattern, fill);
    set_message(hot, failure);
    Settled::Failed(None)
}

/// The Rust half of `send`.
fn transmit(
    hot: &HotPath,
    slot: &Slot<TcpObject>,
    bytes: &[u8],
    range: SendRange,
    attempt: Attempt,
) -> Settled {
    let expired = match timed_out(hot, attempt) {
        Ok(expired) => expired,
        Err(settled) => return settled,
    };
    let Some(mut object) = slot.borrow_mut() else {
        return Settled::NotOurs;
    };
    if object.socket.state() != TcpState::Client {
        return Settled::NotOurs;
    }
    let Some(fd) = object.socket.fd() else {
        return Settled::NotOurs;
    };
    let wanted = range.slice(bytes);
    // More requests are buffered already: this reply can wait for the next send (or
    // the end of the batch) and leave with it in one syscall.
    if attempt.first && object.socket.has_buffered_data() && object.socket.defer_send(wanted) {
        return Settled::Deferred(range.last_index(wanted.len()) as f64);
    }
    let mut sent = 0usize;
    let failure = loop {
        if sent == wanted.len() {
            return Settled::Done(Some(range.last_index(sent) as f64));
        }
        match object.socket.try_send(&wanted[sent..]) {
            Poll::Ready(Ok(n)) => sent += n,
            Poll::Pending if !expired => {
                return match park(
                    &hot.dispatcher,
                    &mut object.registration,
                    fd,
                    Interest::Write,
                    attempt,
                ) {
                    Ok(()) => Settled::Parked(Some(range.last_index(sent) as f64)),
                    Err(err) => fail(hot, err),
                };
            }
            Poll::Pending => break Error::Timeout,
            Poll::Ready(Err(err)) => break err,
        }
    };
    set_message(hot, failure);
    Settled::Failed(Some(range.last_index(sent) as f64))
}

/// Pushes the results of `settled` and returns their count, or raises.
///
/// # Safety
/// Called last by a function made by [`register`]: no Rust value that needs dropping
/// may be alive in the caller, as pushing may raise a memory error.
unsafe fn finish(state: *mut ffi::lua_State, hot: &HotPath, settled: Settled) -> c_int {
    // The buffers are not borrowed while Lua runs: a collection step inside a push may
    // run finalizers that use the dispatcher (never these buffers, but keep it simple).
    let (data, data_len) = {
        let data = hot.data.borrow();
        (data.as_ptr(), data.len())
    };
    let (message, message_len) = {
        let message = hot.message.borrow();
        (message.as_ptr(), message.len())
    };
    // SAFETY: the pointers stay valid: nothing touches the buffers until the next call.
    // Pushing at most three values fits in LUA_MINSTACK.
    unsafe {
        let push_number = |value: Option<f64>| match value {
            Some(n) => ffi::lua_pushnumber(state, n),
            None => {
                ffi::lua_pushlstring(state, data.cast(), data_len);
            }
        };
        match settled {
            Settled::NotOurs => {
                ffi::lua_pushboolean(state, 1);
                1
            }
            Settled::Parked(None) => {
                ffi::lua_pushboolean(state, 0);
                1
            }
            Settled::Parked(Some(last)) => {
                ffi::lua_pushboolean(state, 0);
                ffi::lua_pushnumber(state, last);
                2
            }
            Settled::Done(value) => {
                push_number(value);
                1
            }
            Settled::Deferred(last) => {
                ffi::lua_pushvalue(state, 2);
                ffi::lua_pushboolean(state, 1);
                ffi::lua_rawset(state, ffi::lua_upvalueindex(3));
                ffi::lua_pushnumber(state, last);
                1
            }
            Settled::Failed(value) => {
                ffi::lua_pushnil(state);
                ffi::lua_pushlstring(state, message.cast(), message_len);
                push_number(value);
                3
            }
            Settled::Raise => {
                ffi::lua_pushlstring(state, message.cast(), message_len);
                ffi::lua_error(state)
            }
        }
    }
}

/// Runs `body`, turning a panic into an error to raise.
fn guarded(hot: &HotPath, body: impl FnOnce() -> Settled) -> Settled {
    catch_unwind(AssertUnwindSafe(body))
        .unwrap_or_else(|_| fail(hot, "internal error in copas.core (panic)"))
}

/// recv(id, skt, pattern, prefix, timeout, first): `data` | `nil, err, partial` |
/// `false` (parked: call again with first = false) | `true` (not ours).
unsafe extern "C-unwind" fn recv(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: called by Lua as a function made by `register`; arguments are read by
    // type, the strings stay on the stack during the call, and `finish` runs last.
    unsafe {
        let hot = hot_path(state);
        let settled = 'settled: {
            let Some(slot) = tcp_slot(state, 2) else {
                break 'settled Settled::NotOurs;
            };
            let Some(pattern) = pattern_at(state, 3) else {
                break 'settled Settled::NotOurs;
            };
            // A prefix counts toward a byte count (LuaSocket's rule): the general path
            // passes it to the socket's own receive.
            let prefix = match ffi::lua_type(state, 4) {
                ffi::LUA_TNIL | ffi::LUA_TNONE => None,
                ffi::LUA_TSTRING if !matches!(pattern, ReceivePattern::Count(_)) => {
                    Some(bytes_at(state, 4))
                }
                _ => break 'settled Settled::NotOurs,
            };
            let Ok(timeout) = optional_number(state, 5) else {
                break 'settled Settled::NotOurs;
            };
            let attempt = Attempt {
                id: ffi::lua_tointeger(state, 1),
                timeout,
                first: ffi::lua_toboolean(state, 6) != 0,
            };
            guarded(hot, || receive(hot, slot, pattern, prefix, attempt))
        };
        finish(state, hot, settled)
    }
}

/// send(id, skt, data, i, j, timeout, first): `last` | `nil, err, last` |
/// `false, last` (parked: call again from last + 1) | `true` (not ours).
unsafe extern "C-unwind" fn send(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: as in `recv`.
    unsafe {
        let hot = hot_path(state);
        let settled = 'settled: {
            let Some(slot) = tcp_slot(state, 2) else {
                break 'settled Settled::NotOurs;
            };
            if ffi::lua_type(state, 3) != ffi::LUA_TSTRING {
                break 'settled Settled::NotOurs;
            }
            let bytes = bytes_at(state, 3);
            let (Ok(i), Ok(j), Ok(timeout)) = (
                optional_number(state, 4),
                optional_number(state, 5),
                optional_number(state, 6),
            ) else {
                break 'settled Settled::NotOurs;
            };
            let range = SendRange::new(
                bytes.len(),
                i.unwrap_or(1.0) as i64,
                j.unwrap_or(-1.0) as i64,
            );
            let attempt = Attempt {
                id: ffi::lua_tointeger(state, 1),
                timeout,
                first: ffi::lua_toboolean(state, 7) != 0,
            };
            guarded(hot, || transmit(hot, slot, bytes, range, attempt))
        };
        finish(state, hot, settled)
    }
}

/// flush(): writes what sockets in the deferred set hold back, and takes out of the set
/// those done (or broken). One the kernel has no room for stays for the next flush.
unsafe extern "C-unwind" fn flush(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a function made by `register`. lua_next walks the deferred table (only
    // existing keys are cleared while walking, which Lua allows); each key is pushed
    // at a known absolute index; Rust values live only inside `guarded`.
    unsafe {
        let hot = hot_path(state);
        let set = ffi::lua_upvalueindex(3);
        ffi::lua_settop(state, 0);
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, set) != 0 {
            ffi::lua_settop(state, 1);
            let finished = match tcp_slot(state, 1) {
                None => true,
                Some(slot) => {
                    let settled = guarded(hot, || match slot.borrow_mut() {
                        Some(mut object) => match object.socket.flush_deferred() {
                            Poll::Pending => Settled::Parked(None),
                            Poll::Ready(_) => Settled::Done(None),
                        },
                        None => Settled::Parked(None),
                    });
                    !matches!(settled, Settled::Parked(_))
                }
            };
            if finished {
                ffi::lua_pushvalue(state, 1);
                ffi::lua_pushnil(state);
                ffi::lua_rawset(state, set);
            }
        }
        0
    }
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
    state: *mut ffi::lua_State,
    body: impl FnOnce(&mut super::Dispatcher) -> std::result::Result<Reply, String>,
) -> c_int {
    // SAFETY: per the contract; the reply is pushed (or raised) after every Rust value
    // is dropped, and at most one value is pushed.
    unsafe {
        let hot = hot_path(state);
        let reply = catch_unwind(AssertUnwindSafe(|| {
            let Ok(mut dispatcher) = hot.dispatcher.try_borrow_mut() else {
                set_message(hot, "copas.core called from inside the scheduler");
                return Reply::Raise;
            };
            body(&mut dispatcher).unwrap_or_else(|message| {
                set_message(hot, message);
                Reply::Raise
            })
        }))
        .unwrap_or_else(|_| {
            set_message(hot, "internal error in copas.core (panic)");
            Reply::Raise
        });
        match reply {
            Reply::Nothing => 0,
            Reply::Integer(n) => {
                ffi::lua_pushinteger(state, n as ffi::lua_Integer);
                1
            }
            Reply::Boolean(b) => {
                ffi::lua_pushboolean(state, c_int::from(b));
                1
            }
            Reply::Raise => raise(state, hot),
        }
    }
}

/// spawn() -> id of a new task, runnable from the next step.
unsafe extern "C-unwind" fn spawn(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a function made by `register`.
    unsafe {
        scheduler_call(state, |d| {
            Ok(Reply::Integer(super::id_value(
                d.scheduler.spawn(TaskData::default()),
            )))
        })
    }
}

/// remove(id) -> whether a task was removed.
unsafe extern "C-unwind" fn remove(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a function made by `register`; reading an integer does not raise.
    unsafe {
        let id = ffi::lua_tointeger(state, 1);
        scheduler_call(state, |d| {
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
unsafe extern "C-unwind" fn sleep(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a function made by `register`; reading numbers does not raise. The
    // yield is last, after `scheduler_call` has dropped every Rust value.
    unsafe {
        let id = ffi::lua_tointeger(state, 1);
        let secs = ffi::lua_tonumber(state, 2);
        let yields = ffi::lua_toboolean(state, 3) != 0;
        let results = scheduler_call(state, |d| {
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
            ffi::lua_settop(state, 0);
            return ffi::lua_yield(state, 0);
        }
        results
    }
}

/// Raises the message in `hot.message`.
///
/// # Safety
/// As for [`finish`]: nothing that needs dropping may be alive in the caller.
unsafe fn raise(state: *mut ffi::lua_State, hot: &HotPath) -> c_int {
    // SAFETY: the message buffer is not borrowed while Lua runs; see `finish`.
    unsafe { finish(state, hot, Settled::Raise) }
}

/// step(timeout, ready, alarms) -> number of ready ids, number of alarm ids.
/// Waits at most `timeout` seconds (nil: until something happens), then writes the ids
/// of the tasks to resume into `ready[1..n]` and of the alarms due into `alarms`.
unsafe extern "C-unwind" fn step(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: a function made by `register`. The Rust part runs in `scheduler_work`
    // with every guard dropped before the tables are written; the ids are read through
    // a pointer into `hot.ids`, which nothing touches until the next call (a collection
    // step inside lua_rawseti may run finalizers, which use only the dispatcher).
    unsafe {
        let hot = hot_path(state);
        if ffi::lua_type(state, 2) != ffi::LUA_TTABLE || ffi::lua_type(state, 3) != ffi::LUA_TTABLE
        {
            set_message(hot, "copas.core.step expects (timeout, table, table)");
            return raise(state, hot);
        }
        let timeout = match ffi::lua_type(state, 1) {
            ffi::LUA_TNUMBER => Some(ffi::lua_tonumber(state, 1)),
            _ => None,
        };
        let counts = catch_unwind(AssertUnwindSafe(|| -> std::result::Result<_, String> {
            let mut guard = hot
                .dispatcher
                .try_borrow_mut()
                .map_err(|_| "copas.core.step called from inside the scheduler".to_owned())?;
            let d = &mut *guard;
            let timeout = match timeout {
                Some(t) if t.is_nan() || t < 0.0 => Some(Duration::ZERO),
                // Nothing can wake an idle scheduler: waiting "until something happens"
                // would be forever.
                None if d.scheduler.is_idle() => Some(Duration::ZERO),
                other => seconds(other),
            };
            d.scheduler.poll(timeout).map_err(|err| err.to_string())?;
            d.batch.clear();
            d.scheduler.take_ready(&mut d.batch);
            d.alarms.clear();
            d.scheduler.take_alarms(&mut d.alarms);
            let mut ids = hot.ids.borrow_mut();
            ids.clear();
            for index in 0..d.batch.len() {
                let id = d.batch[index];
                d.release_foreign(id);
                ids.push(id_value(id) as ffi::lua_Integer);
            }
            ids.extend(d.alarms.iter().map(|id| id_value(*id) as ffi::lua_Integer));
            Ok((d.batch.len(), d.alarms.len()))
        }));
        let (ready, alarms) = match counts {
            Ok(Ok(counts)) => counts,
            Ok(Err(message)) => {
                set_message(hot, message);
                return raise(state, hot);
            }
            Err(_) => {
                set_message(hot, "internal error in copas.core (panic)");
                return raise(state, hot);
            }
        };
        let ids = {
            let ids = hot.ids.borrow();
            ids.as_ptr()
        };
        for (table, first, count) in [(2, 0, ready), (3, ready, alarms)] {
            for index in 0..count {
                ffi::lua_pushinteger(state, *ids.add(first + index));
                ffi::lua_rawseti(state, table, (index + 1) as _);
            }
        }
        ffi::lua_pushinteger(state, ready as ffi::lua_Integer);
        ffi::lua_pushinteger(state, alarms as ffi::lua_Integer);
        2
    }
}
