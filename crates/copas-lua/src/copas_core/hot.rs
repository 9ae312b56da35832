//! The `copas.core` functions called once or more per message or per thread, as plain
//! C functions: `step`, `run`, `resume`, `recv`, `send`, `flush`, `spawn`, `addthread`
//! (`copas.addthread` itself), `sleep`, `nap` (`copas.sleep`), `park`, `cancel`,
//! `spend`, `remove`, and on Lua 5.2 to 5.4 `receive` and `send_data`, which are
//! `copas.receive` and `copas.send` themselves.
//!
//! Every line an echo server answers crosses from Lua into Rust three times (a receive
//! that parks, the receive that completes, the send); every thread is spawned, sleeps
//! or waits, and is removed. Through mlua each crossing costs thousands of
//! instructions: arguments become registry references, results a `Vec`, the object
//! lookup goes through app data and a table keyed by the userdata. Here the arguments
//! are read off the stack, the object is recognised by its class metatable, and the
//! results are pushed directly; the operations themselves are `io`'s.
//!
//! Lua errors are `longjmp`s, which must not cross Rust frames that own anything. So
//! each function does its Rust work inside [`guarded`] with every guard scoped inside,
//! leaves its output bytes in [`HotPath`]'s buffers, and only then, with nothing left
//! to drop, pushes results (which may raise "not enough memory") or raises an error.
//!
//! `resume` runs a task's coroutine and knows it as the running task, with its fair
//! share of operations (`budget`) and whether it parked; the functions that park a task
//! (`park`, `spend`, `sleep`, and `receive`/`send_data` when they wait) record that
//! here, so the step loop can tell a Copas wait from a stray `coroutine.yield`.
//!
//! On Lua 5.2 to 5.4 `receive` and `send_data` wait inside the C function: they yield
//! with a continuation that retries the operation when the task is resumed, so a line
//! costs one call into Rust and one resume with no Lua of ours in between. On Lua 5.1
//! and LuaJIT a C function cannot continue after a yield, and `copas.lua` keeps that
//! loop in Lua around `recv` and `send`; both paths run the same `receive_on` and
//! `send_on`.

use crate::lua_api::{c_int, c_void};
use std::cell::{Cell, RefCell};
use std::mem::ManuallyDrop;
use std::rc::Rc;
use std::time::Duration;

use copas_sched::TaskId;
use luasocket_core::{ReceivePattern, SendRange};
use mlua::{Lua, Result, Table, Value};
use rustc_hash::FxHashMap;

use super::io::{self, Progress, Sent, Stream};
use super::metrics::Metrics;
use crate::dispatch::{id_value, seconds, Attempt, Dispatcher, SharedDispatcher, TaskData};
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
use crate::lua_api::coroutine::continuation;
use crate::lua_api::coroutine::Resumed;
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
    /// The ids of the tasks the last `step` made ready, for `run`, then those of the
    /// alarms due, which `step` writes into a Lua table.
    ids: RefCell<Vec<i64>>,
    /// How many tasks of `ids` are for `run` to resume (once: `run` takes the count, so
    /// a stray call resumes nothing).
    ready: Cell<usize>,
    /// The task `run` resumed last was removed while it ran (`cancel`); `run` takes it.
    cancelled: Cell<bool>,
    /// Task ids by the address of their coroutine (`task_of`). An address is only a
    /// key: a coroutine paused forever is held weakly and may be collected before its
    /// task ends, and its address taken by another coroutine. So a new task takes the
    /// key over, an ending task gives it up only if it still holds it, and `task_of`
    /// checks the id's coroutine in `threads`.
    task_ids: RefCell<FxHashMap<usize, i64>>,
    /// The task `resume` is running, if any.
    running: Cell<Running>,
    /// `copas.debug` is logging: `receive` and `send_data` leave the work to
    /// `copas.lua`, which logs each wait.
    tracing: Cell<bool>,
    /// `copas.debug` or `copas.watchdog` is on: `run` resumes every task through
    /// `copas.lua`'s hook, which logs or times it.
    resume_hook: Cell<bool>,
    /// The class metatables of the stream objects the hot path drives, by address,
    /// with their kind: an object is recognised by its metatable (see `slot_at`).
    classes: Vec<(*const c_void, StreamKind)>,
}

/// The kinds of stream objects the hot path drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamKind {
    Tcp,
    Ssl,
    Unix,
}

/// Which task tries an operation, and whether for the first time; the timeout is the
/// object's (see [`Attempt`]).
#[derive(Debug, Clone, Copy)]
struct Try {
    id: i64,
    first: bool,
}

impl Try {
    fn with(self, timeout: Option<f64>) -> Attempt {
        Attempt {
            id: self.id,
            timeout,
            first: self.first,
        }
    }
}

/// Operations a task completes without waiting before it lets the others run (as
/// Copas's `copas.step` bounds a task's turn).
const FAIR_BUDGET: u32 = 64;

/// The task a `resume` is running.
#[derive(Debug, Clone, Copy)]
struct Running {
    /// Its coroutine; null between resumes.
    thread: *mut LuaState,
    /// Its id.
    id: i64,
    /// Operations it may still complete before it yields its turn.
    budget: u32,
    /// It parked itself (a Copas wait), as opposed to a stray `coroutine.yield`.
    parked: bool,
}

impl Running {
    const NONE: Running = Running {
        thread: std::ptr::null_mut(),
        id: 0,
        budget: FAIR_BUDGET,
        parked: false,
    };
}

impl HotPath {
    /// Marks the running task parked (it is about to yield to the step loop).
    fn park(&self) {
        let mut running = self.running.get();
        running.parked = true;
        self.running.set(running);
    }

    /// Counts one completed operation of the running task; false once its turn is
    /// over, when it has been put at the end of the run queue (it must yield now).
    fn spend(&self, id: i64) -> std::result::Result<bool, String> {
        let mut running = self.running.get();
        running.budget = running.budget.saturating_sub(1);
        self.running.set(running);
        if running.budget > 0 {
            return Ok(true);
        }
        let mut dispatcher = self
            .dispatcher
            .try_borrow_mut()
            .map_err(|_| "copas.core called from inside the scheduler".to_owned())?;
        let task = dispatcher.task(id).map_err(|err| err.to_string())?;
        dispatcher
            .scheduler
            .sleep(task, Duration::ZERO)
            .map_err(|err| err.to_string())?;
        drop(dispatcher);
        self.park();
        Ok(false)
    }
}

/// Upvalue 2: the live table of TCP objects (upvalues 2, 4 and 5 are read only by the
/// check of debug builds in `object_of_kind`).
const TCP_LIVE: c_int = 2;
/// Upvalue 3: the set of sockets holding back replies.
const DEFERRED: c_int = 3;
/// Upvalue 4: the live table of `ssl` connections.
const SSL_LIVE: c_int = 4;
/// Upvalue 5: the live table of `socket.unix` stream objects.
const UNIX_LIVE: c_int = 5;
/// Upvalue 6: `copas.lua`'s functions the C ones leave work to: its own
/// `copas.receive` [1] and `copas.send` [2], for what `receive` and `send_data` do not
/// handle themselves; a resume with arguments, logging or timing [3]; the end of a task
/// that did not park [4]; its own `copas.sleep` [5], for what `nap` does not handle
/// (none of these yield); logging the running task's yield while debugging [6];
/// keeping the first-resume arguments of a task `addthread` made [7]; the `receive` [8]
/// and `send` [9] methods of `copas.wrap`'s TCP wrappers, for what `wrapped_receive`
/// and `wrapped_send` leave to them.
const HOOKS: c_int = 6;
/// Upvalue 7: coroutines by task id (`copas.lua`'s `threads`; its `__index` is a
/// table).
const THREADS: c_int = 7;
/// Upvalue 8: first-resume arguments by task id (`copas.lua`'s `start_args`).
const START_ARGS: c_int = 8;
/// Upvalue 9: the task `run` is resuming, for `copas.lua`: [1] id, [2] coroutine.
const CURRENT: c_int = 9;
/// Upvalue 10: task id -> true once `copas.lua` keeps more about the task than its
/// coroutine and id (`extras`): its end is then `copas.lua`'s (hook 4).
const EXTRAS: c_int = 10;
/// Upvalue 11: the string "socket", the field of `copas.wrap`'s wrappers that holds
/// the socket.
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
const SOCKET_FIELD: c_int = 11;

/// Copas's error for a wait from a coroutine created inside a task (its resumer would
/// take the yield); `copas.lua` raises the same.
const NESTED: &[u8] = b"cannot yield to Copas from a coroutine created inside a Copas thread; \
call Copas functions from the Copas thread itself";

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

/// Adds the functions of this module to `core`, and `deferred`: the set of sockets
/// holding back replies (see `send`), which `copas.lua` flushes after each batch of
/// resumes; `hooks`, for `copas.lua`'s functions the C ones leave work to (see `HOOKS`); and
/// `threads`, `start_args`, `current` and `extras`, the tables `addthread` and `run`
/// read and write (see `THREADS`, `START_ARGS`, `CURRENT`, `EXTRAS`).
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
        ready: Cell::new(0),
        cancelled: Cell::new(false),
        task_ids: RefCell::new(FxHashMap::default()),
        running: Cell::new(Running::NONE),
        tracing: Cell::new(false),
        resume_hook: Cell::new(false),
        classes: stream_classes(lua)?,
    };
    let deferred = lua.create_table()?;
    core.set("deferred", deferred.clone())?;
    let hooks = lua.create_table()?;
    core.set("hooks", hooks.clone())?;
    let mut tables = Vec::new();
    for name in ["threads", "start_args", "current", "extras"] {
        let table = lua.create_table()?;
        core.set(name, table.clone())?;
        tables.push(Value::Table(table));
    }
    tables.push(Value::String(lua.create_string("socket")?));
    let upvalues = [
        Value::Table(tcp::kind(lua)?.live().clone()),
        Value::Table(deferred),
        Value::Table(ssl::kind(lua)?.live().clone()),
        Value::Table(unix::stream_kind(lua)?.live().clone()),
        Value::Table(hooks),
    ]
    .into_iter()
    .chain(tables)
    .collect::<Vec<_>>();
    let functions = closures(
        lua,
        hot,
        &upvalues,
        &[
            ("step", step),
            ("resume", resume),
            ("run", run),
            ("recv", recv),
            ("send", send),
            ("flush", flush),
            ("spawn", spawn),
            ("addthread", addthread),
            ("task_of", task_of),
            ("sleep", sleep),
            ("nap", nap),
            ("park", park),
            ("cancel", cancel),
            ("spend", spend),
            ("tracing", tracing),
            ("remove", remove),
            #[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
            ("receive", receive),
            #[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
            ("send_data", send_data),
            #[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
            ("wrapped_receive", wrapped_receive),
            #[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
            ("wrapped_send", wrapped_send),
        ],
    )?;
    for (name, function) in functions {
        core.set(name, function)?;
    }
    Ok(())
}

/// The class metatables of TCP, TLS and Unix stream objects, by address.
fn stream_classes(lua: &Lua) -> Result<Vec<(*const c_void, StreamKind)>> {
    let mut classes = Vec::new();
    let mut add = |metatables: &[Table], kind: StreamKind| {
        classes.extend(metatables.iter().map(|m| (m.to_pointer(), kind)));
    };
    add(tcp::kind(lua)?.class_metatables(), StreamKind::Tcp);
    add(ssl::kind(lua)?.class_metatables(), StreamKind::Ssl);
    add(unix::stream_kind(lua)?.class_metatables(), StreamKind::Unix);
    Ok(classes)
}

/// One of our stream objects at a stack index.
#[derive(Clone, Copy)]
enum Object<'a> {
    Tcp(&'a Slot<TcpObject>),
    Ssl(&'a Slot<SslConnection>),
    Unix(&'a Slot<UnixStreamObject>),
}

/// The stream object at `index` (an absolute index), if it is ours.
///
/// # Safety
/// `stack` is that of a function made by [`register`]; the slot is used only while the
/// object stays on the stack.
unsafe fn object_at<'a>(stack: Stack, hot: &HotPath, index: c_int) -> Option<Object<'a>> {
    if stack.kind(index) != ValueKind::UserData {
        return None;
    }
    let metatable = stack.metatable_address(index);
    let (_, kind) = hot.classes.iter().find(|(m, _)| *m == metatable)?;
    // SAFETY: per the contract; the userdata has a class metatable of `kind`.
    unsafe { object_of_kind(stack, index, *kind) }
}

/// The stream object at `index`, a userdata with a class metatable of `kind` (or one
/// that had it when a task parked on it there).
///
/// # Safety
/// As for [`object_at`], and the value at `index` is, or was made as, an object of
/// `kind`: a block made by `new_slot` for that kind, whose size `slot_at` checks.
unsafe fn object_of_kind<'a>(stack: Stack, index: c_int, kind: StreamKind) -> Option<Object<'a>> {
    // SAFETY: per the contract.
    let object = unsafe {
        match kind {
            StreamKind::Tcp => slot_at::<TcpObject>(stack, index).map(Object::Tcp),
            StreamKind::Ssl => slot_at::<SslConnection>(stack, index).map(Object::Ssl),
            StreamKind::Unix => slot_at::<UnixStreamObject>(stack, index).map(Object::Unix),
        }
    };
    if cfg!(debug_assertions) {
        // The live tables are the methods' proof of what an object is: recognising it
        // by its metatable must agree (while it is being finalized it may be out).
        let live = match kind {
            StreamKind::Tcp => TCP_LIVE,
            StreamKind::Ssl => SSL_LIVE,
            StreamKind::Unix => UNIX_LIVE,
        };
        let listed = stack
            .raw_get_address(Stack::upvalue(live), index)
            .cast_const();
        assert!(
            object.is_some_and(|o| listed.is_null() || listed == o.address()),
            "copas.core: an object's metatable and its kind's live table disagree"
        );
    }
    object
}

#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
impl Object<'_> {
    fn kind(&self) -> StreamKind {
        match self {
            Object::Tcp(_) => StreamKind::Tcp,
            Object::Ssl(_) => StreamKind::Ssl,
            Object::Unix(_) => StreamKind::Unix,
        }
    }
}

impl Object<'_> {
    /// The address of the object's slot.
    fn address(&self) -> *const c_void {
        match self {
            Object::Tcp(slot) => std::ptr::from_ref(*slot).cast(),
            Object::Ssl(slot) => std::ptr::from_ref(*slot).cast(),
            Object::Unix(slot) => std::ptr::from_ref(*slot).cast(),
        }
    }
}

#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
impl Object<'_> {
    /// The object's receive timeout; `None` also when it is in use (the operation
    /// then finds it busy and leaves it to `copas.lua`).
    fn receive_timeout(&self) -> Option<f64> {
        fn of<S: Stream>(slot: &Slot<S>) -> Option<f64> {
            slot.borrow_mut()
                .and_then(|mut object| object.timeouts().receive)
        }
        match self {
            Object::Tcp(slot) => of(*slot),
            Object::Ssl(slot) => of(*slot),
            Object::Unix(slot) => of(*slot),
        }
    }
}

/// The receive pattern at `index`: nil is a line, a non-negative number a count.
fn pattern_at(stack: Stack, index: c_int) -> Option<ReceivePattern> {
    // SAFETY: the string stays on the stack while it is parsed.
    if let Some(pattern) = unsafe { stack.bytes(index) } {
        return ReceivePattern::parse(pattern);
    }
    match stack.kind(index) {
        ValueKind::None | ValueKind::Nil => Some(ReceivePattern::Line),
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
fn catching(hot: &HotPath, body: impl FnOnce() -> Settled) -> Settled {
    guarded(body, || fail(hot, "internal error in copas.core (panic)"))
}

/// The Rust half of `recv` on one object: leaves the data or partial data in
/// `hot.data`.
fn receive_on<S: Stream>(
    hot: &HotPath,
    slot: &Slot<S>,
    pattern: ReceivePattern,
    prefix: &[u8],
    turn: Try,
) -> Settled {
    let Some(mut object) = slot.borrow_mut() else {
        return Settled::NotOurs;
    };
    if !object.is_stream() {
        return Settled::NotOurs;
    }
    let attempt = turn.with(object.timeouts().receive);
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
    turn: Try,
) -> Settled {
    let Some(mut object) = slot.borrow_mut() else {
        return Settled::NotOurs;
    };
    if !object.is_stream() {
        return Settled::NotOurs;
    }
    let attempt = turn.with(object.timeouts().send);
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

/// Pushes the results of `settled` and returns their count, or raises; `socket` is
/// the stack index of the socket (for the deferred set).
///
/// # Safety
/// Called last by a function made by [`register`]: no Rust value that needs dropping
/// may be alive in the caller, as pushing may raise a memory error.
unsafe fn finish(stack: Stack, hot: &HotPath, settled: Settled, socket: c_int) -> c_int {
    // SAFETY: per the contract; pushing at most three values fits in the free slots.
    unsafe {
        let push_value = |value: Option<f64>| match value {
            Some(n) => stack.push_number(n),
            None => push_buffer(stack, &hot.data),
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
                stack.push_value(socket);
                stack.push_boolean(true);
                stack.raw_set(Stack::upvalue(DEFERRED));
                stack.push_number(last);
                1
            }
            Settled::Failed(value) => {
                stack.push_nil();
                push_buffer(stack, &hot.message);
                push_value(value);
                3
            }
            Settled::Raise => {
                push_buffer(stack, &hot.message);
                // The buffer is back in `hot`: nothing is left to drop.
                stack.raise_top()
            }
        }
    }
}

/// Pushes the bytes of one of `hot`'s buffers as a string.
///
/// The buffer is moved out of `hot` while Lua runs: a push may run a collection step,
/// and a finalizer may call these functions again, which must find a buffer of their
/// own rather than change the one being pushed. It is held in `ManuallyDrop`, so if
/// the push raises (out of memory) it leaks instead of being skipped over with a
/// destructor pending.
///
/// # Safety
/// As for [`finish`].
unsafe fn push_buffer<B: AsRef<[u8]> + Default>(stack: Stack, buffer: &RefCell<B>) {
    let bytes = ManuallyDrop::new(buffer.take());
    // SAFETY: per the contract.
    unsafe { stack.push_bytes((*bytes).as_ref()) };
    buffer.replace(ManuallyDrop::into_inner(bytes));
}

/// recv(id, skt, pattern, prefix, first): `data` | `nil, err, partial` | `false`
/// (parked: call again with first = false) | `true` (not ours); after `data`, `true`
/// when the task's turn is over (see [`finish_turn`]).
unsafe extern "C-unwind" fn recv(state: *mut LuaState) -> c_int {
    // SAFETY: called by Lua as a function made by `register`; `finish_turn` runs last.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = shared::<HotPath>(stack) else {
            return stack.raise(GONE);
        };
        let turn = Try {
            id: stack.integer(1),
            first: stack.boolean(5),
        };
        let settled = receive_settled(stack, hot, 2, turn, object_at(stack, hot, 2));
        finish_turn(stack, hot, settled, 2)
    }
}

/// The receive whose socket, pattern and prefix are at `socket`, `socket + 1` and
/// `socket + 2`; `object` is the socket's stream object, `None` if it is not ours.
///
/// # Safety
/// `stack` is that of a function made by [`register`]; the prefix is read in place.
unsafe fn receive_settled(
    stack: Stack,
    hot: &HotPath,
    socket: c_int,
    turn: Try,
    object: Option<Object<'_>>,
) -> Settled {
    let Some(pattern) = pattern_at(stack, socket + 1) else {
        return Settled::NotOurs;
    };
    let prefix = match stack.kind(socket + 2) {
        ValueKind::None | ValueKind::Nil => &[][..],
        // SAFETY: the string stays on the stack during the call.
        ValueKind::String => unsafe { stack.bytes(socket + 2) }.unwrap_or_default(),
        _ => return Settled::NotOurs,
    };
    match object {
        Some(Object::Tcp(slot)) => catching(hot, || receive_on(hot, slot, pattern, prefix, turn)),
        Some(Object::Ssl(slot)) => catching(hot, || receive_on(hot, slot, pattern, prefix, turn)),
        Some(Object::Unix(slot)) => catching(hot, || receive_on(hot, slot, pattern, prefix, turn)),
        None => Settled::NotOurs,
    }
}

/// send(id, skt, data, i, j, first): `last` | `nil, err, last` | `false, last`
/// (parked: call again from last + 1) | `true` (not ours); after `last`, `true` when
/// the task's turn is over.
unsafe extern "C-unwind" fn send(state: *mut LuaState) -> c_int {
    // SAFETY: as in `recv`.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = shared::<HotPath>(stack) else {
            return stack.raise(GONE);
        };
        let turn = Try {
            id: stack.integer(1),
            first: stack.boolean(6),
        };
        let settled = send_settled(stack, hot, 2, turn, object_at(stack, hot, 2));
        finish_turn(stack, hot, settled, 2)
    }
}

/// The send whose socket, data, i and j are at `socket` to `socket + 3`, on `object`
/// as for [`receive_settled`].
///
/// # Safety
/// As for [`receive_settled`]; the data is read in place.
unsafe fn send_settled(
    stack: Stack,
    hot: &HotPath,
    socket: c_int,
    turn: Try,
    object: Option<Object<'_>>,
) -> Settled {
    // SAFETY: the string stays on the stack during the call.
    let Some(bytes) = (unsafe { stack.bytes(socket + 1) }) else {
        return Settled::NotOurs;
    };
    let (Ok(i), Ok(j)) = (
        stack.optional_number(socket + 2),
        stack.optional_number(socket + 3),
    ) else {
        return Settled::NotOurs;
    };
    let range = SendRange::new(
        bytes.len(),
        i.unwrap_or(1.0) as i64,
        j.unwrap_or(-1.0) as i64,
    );
    match object {
        Some(Object::Tcp(slot)) => catching(hot, || send_on(hot, slot, bytes, range, turn)),
        Some(Object::Ssl(slot)) => catching(hot, || send_on(hot, slot, bytes, range, turn)),
        Some(Object::Unix(slot)) => catching(hot, || send_on(hot, slot, bytes, range, turn)),
        None => Settled::NotOurs,
    }
}

/// Whether a settled operation completed (and so counts against the task's turn).
fn completed(settled: Settled) -> bool {
    matches!(settled, Settled::Done(_) | Settled::Deferred(_))
}

/// Counts a completed operation of the running task (`id`, argument 1) against its
/// turn: `Ok(false)` once the turn is over and the task must yield.
fn spend_turn(hot: &HotPath, id: i64) -> std::result::Result<bool, ()> {
    guarded(
        || hot.spend(id),
        || Err("internal error in copas.core (panic)".to_owned()),
    )
    .map_err(|message| set_message(hot, message))
}

/// `finish` for `recv` and `send`: a completed operation that ends the task's turn
/// returns one more value, `true`, for `copas.lua` to park the task (the core has put
/// it at the end of the run queue).
///
/// # Safety
/// As for [`finish`].
unsafe fn finish_turn(stack: Stack, hot: &HotPath, settled: Settled, socket: c_int) -> c_int {
    if !completed(settled) {
        // SAFETY: per the contract.
        return unsafe { finish(stack, hot, settled, socket) };
    }
    match spend_turn(hot, stack.integer(1)) {
        // SAFETY: per the contract.
        Ok(true) => unsafe { finish(stack, hot, settled, socket) },
        Ok(false) => {
            // SAFETY: per the contract; one more free slot for the flag.
            let count = unsafe { finish(stack, hot, settled, socket) };
            stack.push_boolean(true);
            count + 1
        }
        // SAFETY: per the contract.
        Err(()) => unsafe { raise(stack, hot) },
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
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        let set = Stack::upvalue(DEFERRED);
        stack.set_top(0);
        stack.push_nil();
        while stack.next(set) {
            stack.set_top(1);
            let finished = match object_at(stack, hot, 1) {
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

/// spawn(co) -> id of a new task running coroutine `co`, runnable from the next step.
unsafe extern "C-unwind" fn spawn(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        let co = stack.thread(1);
        if co.is_null() {
            return stack.raise(b"bad argument #1 to 'spawn' (coroutine expected)");
        }
        scheduler_call(stack, hot, |d| Ok(Reply::Integer(start_task(d, hot, co))))
    }
}

/// Starts a task for the coroutine `co`, runnable from the next step; returns its id.
fn start_task(d: &mut Dispatcher, hot: &HotPath, co: *mut LuaState) -> i64 {
    let thread = co as usize;
    let id = id_value(d.scheduler.spawn(TaskData {
        thread,
        ..TaskData::default()
    }));
    hot.task_ids.borrow_mut().insert(thread, id);
    id
}

/// Ends `task`: out of the scheduler and the map of task ids. False if it was gone.
fn forget_task(d: &mut Dispatcher, hot: &HotPath, task: TaskId) -> bool {
    d.release_foreign(task);
    let Some(data) = d.scheduler.remove(task) else {
        return false;
    };
    let mut task_ids = hot.task_ids.borrow_mut();
    if task_ids.get(&data.thread) == Some(&id_value(task)) {
        task_ids.remove(&data.thread);
    }
    true
}

/// task_of(co) -> the id of the task running coroutine `co`, or nil.
unsafe extern "C-unwind" fn task_of(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`; the map's borrow ends before Lua is
    // called, and `threads`' `__index` is a table (no Lua code runs).
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        let co = stack.thread(1);
        let id = match co.is_null() {
            true => None,
            false => hot.task_ids.borrow().get(&(co as usize)).copied(),
        };
        let Some(id) = id else {
            stack.push_nil();
            return 1;
        };
        stack.push_integer(id);
        stack.get_in(Stack::upvalue(THREADS));
        if stack.thread(-1) == co {
            stack.push_integer(id);
        } else {
            stack.push_nil();
        }
        1
    }
}

/// addthread(handler, ...) -> coroutine: `copas.addthread`. A new task running
/// `handler`, runnable from the next step, in `threads`; hook 7 keeps the other
/// arguments for its first resume.
unsafe extern "C-unwind" fn addthread(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`. The spawn runs in `guarded` and returns
    // a plain id; everything after it only moves Lua values (which may raise a memory
    // error, with nothing left to drop).
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        if stack.kind(1) != ValueKind::Function {
            // A missing handler is a nil one, as `type` names it in Copas's message.
            stack.set_top(1);
            return stack.raise_at_caller(&[
                b"bad argument #1 to 'addthread' (function expected, got ",
                stack.type_name(1),
                b")",
            ]);
        }
        let arguments = stack.top() - 1;
        let co = stack.push_new_thread(1);
        stack.replace(1);
        let spawned = guarded(
            || {
                let mut d = hot.dispatcher.try_borrow_mut().ok()?;
                Some(start_task(&mut d, hot, co))
            },
            || None,
        );
        let Some(id) = spawned else {
            return stack.raise(b"copas.core.addthread called from inside the scheduler");
        };
        stack.push_value(1);
        stack.pop_raw_index(Stack::upvalue(THREADS), id);
        if arguments > 0 {
            stack.push_raw_index(Stack::upvalue(HOOKS), 7);
            stack.insert(2);
            stack.push_integer(id);
            stack.insert(3);
            stack.call(arguments + 1, 0);
        }
        1
    }
}

/// Ends task `id`, which finished with nothing for `copas.lua` to do: out of the
/// scheduler and `threads`. False, with nothing done, if the scheduler is busy (then
/// hook 4 ends it).
///
/// # Safety
/// Only for `run`; nothing that needs dropping is alive in the caller.
unsafe fn end_task(stack: Stack, hot: &HotPath, id: i64) -> bool {
    let removed = guarded(
        || {
            let Ok(mut d) = hot.dispatcher.try_borrow_mut() else {
                return false;
            };
            if let Ok(task) = d.task(id) {
                forget_task(&mut d, hot, task);
            }
            true
        },
        || false,
    );
    if removed {
        // SAFETY: per the contract; clearing an existing key does not allocate.
        unsafe {
            stack.push_nil();
            stack.pop_raw_index(Stack::upvalue(THREADS), id);
        }
    }
    removed
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
            let Ok(task) = d.task(id) else {
                return Ok(Reply::Boolean(false));
            };
            Ok(Reply::Boolean(forget_task(d, hot, task)))
        })
    }
}

/// sleep(id, seconds): puts task `id` to sleep (negative: until woken; zero: to the end
/// of the run queue) without yielding: for `copas.lua`'s waits that park the task
/// themselves (`copas.sleep` is `nap`).
unsafe extern "C-unwind" fn sleep(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`; `scheduler_call` drops every Rust value
    // before it pushes or raises.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        let id = stack.integer(1);
        let secs = stack.number(2);
        scheduler_call(stack, hot, |d| sleep_task(d, id, secs))
    }
}

/// Puts task `id` to sleep for `secs` seconds (Copas's rule: negative sleeps until
/// woken).
fn sleep_task(d: &mut Dispatcher, id: i64, secs: f64) -> std::result::Result<Reply, String> {
    let task = d.task(id).map_err(|err| err.to_string())?;
    let parked = if secs < 0.0 {
        d.scheduler.suspend(task)
    } else {
        d.scheduler
            .sleep(task, seconds(Some(secs)).unwrap_or(Duration::MAX))
    };
    parked
        .map(|()| Reply::Nothing)
        .map_err(|err| err.to_string())
}

/// Whether plain Lua 5.1 is built for: it cannot yield across pcall, so programs run
/// Copas calls inside coxpcall's coroutines, and a wait from a coroutine nested in a
/// task yields (coxpcall passes the yield on), as upstream's does.
const NESTED_YIELDS: bool = cfg!(feature = "lua51");

/// nap(seconds): `copas.sleep` (Copas's `sleep` semantics: nil is 0, negative sleeps
/// until woken). In a task it sleeps and yields here (on every Lua version: the yield
/// is its last act); outside any task it goes to `copas.lua`'s `copas.sleep` (hook 5),
/// which blocks but does not yield.
unsafe extern "C-unwind" fn nap(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`; the yield or the hook call is last, and
    // `scheduler_call` has dropped every Rust value before.
    unsafe {
        let stack = Stack::new(state);
        if stack.top() != 1 {
            stack.set_top(1);
        }
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        let Ok(secs) = stack.optional_number(1) else {
            return stack.raise_at_caller(&[
                b"bad argument #1 to 'sleep' (number expected, got ",
                stack.type_name(1),
                b")",
            ]);
        };
        let running = hot.running.get();
        // On plain Lua 5.1 a coroutine nested in the task yields on its behalf.
        let in_task = stack.is(running.thread) || (NESTED_YIELDS && !running.thread.is_null());
        if !in_task {
            if !running.thread.is_null() {
                return stack.raise_at_caller(&[NESTED]);
            }
            stack.push_raw_index(Stack::upvalue(HOOKS), 5);
            stack.push_value(1);
            stack.call(1, 0);
            return 0;
        }
        let secs = secs.unwrap_or(0.0);
        let id = running.id;
        scheduler_call(stack, hot, |d| sleep_task(d, id, secs));
        if hot.tracing.get() {
            stack.push_raw_index(Stack::upvalue(HOOKS), 6);
            stack.call(0, 0);
        }
        hot.park();
        stack.yield_nothing()
    }
}

/// Raises the message in `hot.message`.
///
/// # Safety
/// As for [`finish`]: nothing that needs dropping may be alive in the caller.
unsafe fn raise(stack: Stack, hot: &HotPath) -> c_int {
    // SAFETY: per the contract.
    unsafe { finish(stack, hot, Settled::Raise, 0) }
}

/// step(timeout, alarms) -> number of ready ids, number of alarm ids, quiet.
/// Waits at most `timeout` seconds (nil: until something happens), then keeps the ids
/// of the tasks to resume, for `run`, and writes those of the alarms due into
/// `alarms`.
/// `quiet`: no I/O came during a wait that could last (see `Scheduler::poll`).
unsafe extern "C-unwind" fn step(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`. The Rust part runs in `guarded` with every
    // guard dropped before the tables are written.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        if stack.kind(2) != ValueKind::Table {
            set_message(hot, "copas.core.step expects (timeout, table)");
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
        // Out of `hot` while the table is written, as in `push_buffer`.
        let ids = ManuallyDrop::new(hot.ids.take());
        for index in 0..alarms {
            stack.raw_set_integer(2, (index + 1) as i64, ids[ready + index]);
        }
        hot.ids.replace(ManuallyDrop::into_inner(ids));
        hot.ready.set(ready);
        stack.push_integer(ready as i64);
        stack.push_integer(alarms as i64);
        stack.push_boolean(quiet);
        3
    }
}

/// resume(id, co, ...) -> ok, error, parked: resumes task `id`'s coroutine with the
/// remaining arguments, as `coroutine.resume` does, as the running task with a fresh
/// turn. `ok` and `error` are `coroutine.resume`'s first two results; `parked` is true
/// when the task yielded through a Copas wait.
unsafe extern "C-unwind" fn resume(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`; the coroutine stays at argument 2.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        let co = stack.thread(2);
        if co.is_null() {
            return stack.raise(b"bad argument #2 to 'resume' (coroutine expected)");
        }
        let (resumed, parked) = resume_task(stack, hot, co, stack.integer(1), stack.top() - 2);
        if resumed == Resumed::Failed {
            stack.push_boolean(false);
            stack.insert(stack.top() - 1);
        } else {
            stack.push_boolean(true);
            stack.push_nil();
        }
        stack.push_boolean(parked);
        3
    }
}

/// Resumes task `id`'s coroutine `co` with the `nargs` values on top, as the running
/// task with a fresh turn; returns how the coroutine gave control back (on failure the
/// error value is pushed) and whether it parked.
///
/// # Safety
/// `co` is kept alive by a value on the stack below the arguments; nothing that needs
/// dropping is alive in the caller (pushing may raise a memory error).
unsafe fn resume_task(
    stack: Stack,
    hot: &HotPath,
    co: *mut LuaState,
    id: i64,
    nargs: c_int,
) -> (Resumed, bool) {
    let outer = hot.running.replace(Running {
        thread: co,
        id,
        ..Running::NONE
    });
    // SAFETY: per the contract; `Running` is Copy, so nothing here needs dropping.
    unsafe {
        let resumed = stack.resume(co, nargs);
        (resumed, hot.running.replace(outer).parked)
    }
}

/// run(): resumes the tasks the last `step` made ready, each with `copas.lua`'s
/// `current` naming it; a task with first-resume arguments, or every task while
/// logging or the watchdog is on, goes through hook 3. A task that finished with
/// nothing more in `copas.lua` (no `extras`) ends here; one that failed, yielded by
/// itself or was removed while it ran, or has extras, goes to hook 4 (`id, co, ok,
/// error, removed`).
unsafe extern "C-unwind" fn run(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`. Each task's values sit at fixed indices
    // (2: coroutine, 3: its first-resume arguments or nil, 4: the error of a failed
    // resume) and the stack is cut back to 1 before each; no Rust value that needs
    // dropping is alive while Lua runs (hooks may raise, which ends the step as an
    // error in `copas.lua`'s loop would).
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        let count = hot.ready.take();
        let current = Stack::upvalue(CURRENT);
        for index in 0..count {
            let Some(id) = hot.ids.borrow().get(index).copied() else {
                break;
            };
            stack.set_top(1);
            stack.push_raw_index(Stack::upvalue(THREADS), id);
            let mut co = stack.thread(2);
            if co.is_null() {
                // Paused forever, held weakly (`threads`' `__index`), or gone.
                stack.set_top(1);
                stack.push_integer(id);
                stack.get_in(Stack::upvalue(THREADS));
                co = stack.thread(2);
            }
            if co.is_null() {
                continue;
            }
            // `current` names this task until another's resume or hook 4 (nothing of
            // `copas.lua` runs in between), and is cleared once the batch is done.
            stack.push_integer(id);
            stack.pop_raw_index(current, 1);
            stack.push_value(2);
            stack.pop_raw_index(current, 2);
            stack.push_raw_index(Stack::upvalue(START_ARGS), id);
            hot.cancelled.set(false);
            let (resumed, parked) = if stack.kind(3) == ValueKind::Nil && !hot.resume_hook.get() {
                resume_task(stack, hot, co, id, 0)
            } else {
                stack.push_raw_index(Stack::upvalue(HOOKS), 3);
                stack.push_integer(id);
                stack.push_value(2);
                stack.call(2, 3);
                let parked = stack.boolean(6);
                if stack.boolean(4) {
                    // Whether it finished is for hook 4 to find out.
                    (Resumed::Yielded, parked)
                } else {
                    stack.set_top(5);
                    stack.replace(4);
                    (Resumed::Failed, parked)
                }
            };
            let removed = hot.cancelled.take();
            if !removed && resumed == Resumed::Yielded && parked {
                continue;
            }
            if !removed && resumed == Resumed::Finished {
                stack.push_raw_index(Stack::upvalue(EXTRAS), id);
                if stack.kind(-1) == ValueKind::Nil && end_task(stack, hot, id) {
                    continue;
                }
            }
            clear_current(stack);
            let ok = resumed != Resumed::Failed;
            if ok {
                stack.set_top(3);
                stack.push_nil();
            }
            stack.set_top(4);
            stack.push_raw_index(Stack::upvalue(HOOKS), 4);
            stack.push_integer(id);
            stack.push_value(2);
            stack.push_boolean(ok);
            stack.push_value(4);
            stack.push_boolean(removed);
            stack.call(5, 0);
        }
        stack.set_top(1);
        clear_current(stack);
        0
    }
}

/// Clears `current`'s id and coroutine: no task is being resumed.
///
/// # Safety
/// Only for `run`, with nothing that needs dropping alive in its frames (setting a key
/// may grow a table on the versions that store a nil).
unsafe fn clear_current(stack: Stack) {
    // SAFETY: per the contract.
    unsafe {
        stack.push_nil();
        stack.pop_raw_index(Stack::upvalue(CURRENT), 1);
        stack.push_nil();
        stack.pop_raw_index(Stack::upvalue(CURRENT), 2);
    }
}

/// park(): yields the running task to the step loop, marked parked (it has told the
/// core what it waits for).
unsafe extern "C-unwind" fn park(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`; the yield is last, nothing to drop.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        hot.park();
        stack.yield_nothing()
    }
}

/// cancel(): the task `run` is resuming was removed (`copas.removethread` from inside
/// it): `run` ends it once it yields.
unsafe extern "C-unwind" fn cancel(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`; the raise is last, nothing to drop.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        hot.cancelled.set(true);
        0
    }
}

/// spend(id) -> over: counts an operation task `id` completed without waiting; once
/// its turn is over, puts it at the end of the run queue and returns true, for
/// `copas.lua` to park it (and log that while debugging).
unsafe extern "C-unwind" fn spend(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`; the raise is last.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        match spend_turn(hot, stack.integer(1)) {
            Ok(going_on) => {
                stack.push_boolean(!going_on);
                1
            }
            Err(()) => raise(stack, hot),
        }
    }
}

/// tracing(logging, watchdog): whether `copas.debug` logging and the watchdog are on.
unsafe extern "C-unwind" fn tracing(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        hot.tracing.set(stack.boolean(1));
        hot.resume_hook.set(stack.boolean(1) || stack.boolean(2));
        0
    }
}

/// What a continuation of `receive` or `send_data` does, in the low bit of its
/// context; the next two bits are the kind of the stream object it waited on (for
/// RETRY), the others the task id (the task that yielded, whichever runs now). Ids
/// are indices of live tasks, far below the 2^28 a 32-bit context leaves them.
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
mod resumption {
    use super::StreamKind;

    /// The socket was not ready: try again.
    pub(super) const RETRY: isize = 0;
    /// The operation completed as the task's turn ended: return its result.
    pub(super) const RETURN: isize = 1;

    pub(super) fn context(id: i64, what: isize, kind: StreamKind) -> isize {
        ((id as isize) << 3) | ((kind as isize) << 1) | what
    }

    pub(super) fn parts(context: isize) -> (i64, isize, StreamKind) {
        let kind = match (context >> 1) & 3 {
            0 => StreamKind::Tcp,
            1 => StreamKind::Ssl,
            _ => StreamKind::Unix,
        };
        ((context >> 3) as i64, context & 1, kind)
    }
}

/// Which of `copas.receive`, `copas.send` a continuation belongs to.
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
#[derive(Debug, Clone, Copy)]
enum Operation {
    Receive,
    Send,
}

#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
impl Operation {
    /// Its arguments: `client, pattern, prefix` / `client, data, i, j`.
    fn arguments(self) -> c_int {
        match self {
            Operation::Receive => 3,
            Operation::Send => 4,
        }
    }

    /// Its entry in the hooks table: `copas.lua`'s version of it.
    fn hook(self) -> i64 {
        match self {
            Operation::Receive => 1,
            Operation::Send => 2,
        }
    }

    /// The hook of `copas.lua`'s version of the wrappers' method.
    fn wrapped_hook(self) -> i64 {
        match self {
            Operation::Receive => 8,
            Operation::Send => 9,
        }
    }

    fn continuation(self) -> crate::lua_api::coroutine::Continuation {
        match self {
            Operation::Receive => continuation!(receive_continued),
            Operation::Send => continuation!(send_continued),
        }
    }
}

/// receive(client, pattern, prefix): `copas.receive`.
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
unsafe extern "C-unwind" fn receive(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`, called from Lua.
    unsafe { operation_entry(state, Operation::Receive, None) }
}

/// send_data(client, data, i, j): `copas.send`.
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
unsafe extern "C-unwind" fn send_data(state: *mut LuaState) -> c_int {
    // SAFETY: as for `receive`.
    unsafe { operation_entry(state, Operation::Send, None) }
}

#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
unsafe extern "C-unwind" fn receive_continued(
    state: *mut LuaState,
    _status: c_int,
    context: isize,
) -> c_int {
    // SAFETY: the continuation of `receive`, with its stack.
    unsafe { operation_continued(state, Operation::Receive, context) }
}

#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
unsafe extern "C-unwind" fn send_continued(
    state: *mut LuaState,
    _status: c_int,
    context: isize,
) -> c_int {
    // SAFETY: the continuation of `send_data`, with its stack.
    unsafe { operation_continued(state, Operation::Send, context) }
}

/// wrapped_receive(wrapper, pattern, prefix): the `receive` method of `copas.wrap`'s
/// TCP wrappers, `copas.receive` on `wrapper.socket`.
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
unsafe extern "C-unwind" fn wrapped_receive(state: *mut LuaState) -> c_int {
    // SAFETY: a function made by `register`, called from Lua.
    unsafe { wrapped_entry(state, Operation::Receive) }
}

/// wrapped_send(wrapper, data, i, j): the wrappers' `send`, `copas.send` on
/// `wrapper.socket`.
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
unsafe extern "C-unwind" fn wrapped_send(state: *mut LuaState) -> c_int {
    // SAFETY: as for `wrapped_receive`.
    unsafe { wrapped_entry(state, Operation::Send) }
}

/// A wrapper's method: the operation on the socket it wraps, one Lua frame fewer than
/// `copas.lua`'s method. That method (hooks 8 and 9) takes what is not a wrapper of
/// one of our stream objects (to do as it would) and a receive on a socket whose
/// timeout is 0, which Copas makes a `receivepartial`.
///
/// # Safety
/// Called by Lua as a function made by `register`.
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
unsafe fn wrapped_entry(state: *mut LuaState, operation: Operation) -> c_int {
    // SAFETY: per the contract; the hook call comes last, with nothing to drop.
    unsafe {
        let stack = Stack::new(state);
        let arguments = operation.arguments();
        stack.set_top(arguments);
        if stack.kind(1) == ValueKind::Table {
            let Some(hot) = hot_path(stack) else {
                return stack.raise(GONE);
            };
            stack.push_raw_get(1, Stack::upvalue(SOCKET_FIELD));
            let object = object_at(stack, hot, arguments + 1).filter(|object| {
                matches!(operation, Operation::Send) || object.receive_timeout() != Some(0.0)
            });
            if object.is_some() {
                stack.replace(1);
                return operation_entry(state, operation, object);
            }
            stack.set_top(arguments);
        }
        stack.call_then(
            Stack::upvalue(HOOKS),
            operation.wrapped_hook(),
            continuation!(return_all),
        );
        stack.top()
    }
}

/// The continuation of a hook called by `operation_entry`: its results are the stack.
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
unsafe extern "C-unwind" fn return_all(state: *mut LuaState, _status: c_int, _: isize) -> c_int {
    // SAFETY: lua_gettop never raises.
    unsafe { Stack::new(state).top() }
}

/// Leaves the call to `copas.lua`'s version of the operation (objects that are not
/// ours, calls outside a task, debug logging), returning what it returns.
///
/// # Safety
/// The stack holds the operation's arguments and nothing else; nothing that needs
/// dropping is alive (the hook may raise or yield).
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
unsafe fn call_hook(stack: Stack, operation: Operation) -> c_int {
    // SAFETY: per the contract; `copas.lua` fills the hooks table when it loads.
    unsafe {
        stack.call_then(
            Stack::upvalue(HOOKS),
            operation.hook(),
            continuation!(return_all),
        );
        stack.top()
    }
}

/// `copas.receive` / `copas.send` as called: the task check (a coroutine of its own
/// inside a task cannot wait: Copas's error), then the first attempt. `object` is
/// argument 1's stream object when the caller has looked it up already.
///
/// # Safety
/// Called by Lua as a function made by `register`.
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
unsafe fn operation_entry(
    state: *mut LuaState,
    operation: Operation,
    object: Option<Object<'_>>,
) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        let stack = Stack::new(state);
        stack.set_top(operation.arguments());
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        let running = hot.running.get();
        if !stack.is(running.thread) {
            if !running.thread.is_null() {
                return stack.raise_at_caller(&[NESTED]);
            }
            return call_hook(stack, operation);
        }
        if hot.tracing.get() {
            return call_hook(stack, operation);
        }
        attempt(stack, hot, operation, running.id, true, object)
    }
}

/// A continuation of `receive` or `send_data`: the task was resumed.
///
/// # Safety
/// Called by Lua with the stack the yield left and the context it gave.
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
unsafe fn operation_continued(state: *mut LuaState, operation: Operation, context: isize) -> c_int {
    // SAFETY: per the contract: the arguments are at 1..=arguments(), and for RETURN
    // the result the yield kept is right above them.
    unsafe {
        let stack = Stack::new(state);
        let Some(hot) = hot_path(stack) else {
            return stack.raise(GONE);
        };
        let (id, what, kind) = resumption::parts(context);
        if what == resumption::RETURN {
            stack.set_top(operation.arguments() + COMPLETED_RESULTS);
            return COMPLETED_RESULTS;
        }
        stack.set_top(operation.arguments());
        // The object at 1 is the one the task parked on, of `kind` (only `debug`
        // could put another there: the block size check still holds for it).
        let object = object_of_kind(stack, 1, kind);
        attempt(stack, hot, operation, id, false, object)
    }
}

/// What `copas.receive` and `copas.send` return when they complete: the data or the
/// index of the last byte sent, and two nils (LuaSocket's error and partial result,
/// which Copas passes on).
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
const COMPLETED_RESULTS: c_int = 3;

/// `finish` for a completed operation of `copas.receive` or `copas.send`: pushes its
/// [`COMPLETED_RESULTS`].
///
/// # Safety
/// As for [`finish`].
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
unsafe fn finish_completed(stack: Stack, hot: &HotPath, settled: Settled) -> c_int {
    // SAFETY: per the contract; two more free slots for the nils.
    unsafe {
        finish(stack, hot, settled, 1);
        stack.push_nil();
        stack.push_nil();
    }
    COMPLETED_RESULTS
}

/// One attempt of the operation for task `id` (on `object`, argument 1's stream object,
/// looked up unless given): returns its results, or yields (with the continuation)
/// when it must wait or when it completed at the end of the task's turn.
///
/// # Safety
/// The stack holds exactly the operation's arguments; nothing that needs dropping is
/// alive in the caller.
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
unsafe fn attempt(
    stack: Stack,
    hot: &HotPath,
    operation: Operation,
    id: i64,
    first: bool,
    object: Option<Object<'_>>,
) -> c_int {
    use resumption::{context, RETRY, RETURN};
    // SAFETY: per the contract: strings read here stay on the stack during the call;
    // `finish`, the yields and the hook call come after every Rust value is dropped.
    unsafe {
        let turn = Try { id, first };
        let object = object.or_else(|| object_at(stack, hot, 1));
        let kind = object.map_or(StreamKind::Tcp, |object| object.kind());
        let settled = match operation {
            Operation::Receive => receive_settled(stack, hot, 1, turn, object),
            Operation::Send => send_settled(stack, hot, 1, turn, object),
        };
        let k = operation.continuation();
        match settled {
            Settled::NotOurs => call_hook(stack, operation),
            Settled::Parked(last) => {
                if let Some(last) = last {
                    stack.push_number(last + 1.0);
                    stack.replace(3);
                }
                hot.park();
                stack.yield_then(context(id, RETRY, kind), k)
            }
            settled if completed(settled) => match spend_turn(hot, id) {
                Ok(true) => finish_completed(stack, hot, settled),
                Ok(false) => {
                    finish_completed(stack, hot, settled);
                    stack.yield_then(context(id, RETURN, kind), k)
                }
                Err(()) => raise(stack, hot),
            },
            settled => finish(stack, hot, settled, 1),
        }
    }
}
