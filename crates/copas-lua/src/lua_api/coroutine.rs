//! Coroutines from C: resuming a task, yielding out of a C function, and (on Lua 5.2,
//! 5.3 and 5.4) yielding or calling with a continuation, so that a C function can
//! wait inside a coroutine and carry on where it stopped.
//!
//! Continuations are written in the 5.3 form (state, status, context); on 5.2, whose
//! continuation is a plain C function that asks `lua_getctx` for its context,
//! [`continuation!`] wraps them. Lua 5.1 and LuaJIT have no continuations: there a C
//! function can only yield as its last act, and the values the coroutine is resumed
//! with become its results. `copas.lua` keeps the loop that retries an operation in
//! Lua there (see `copas_core/hot.rs`).

use std::ffi::c_int;

use mlua::ffi;

use super::stack::{LuaState, Stack};

/// How a resumed coroutine gave control back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resumed {
    /// It yielded: what it passed out was dropped.
    Yielded,
    /// It returned (it is dead now): its results were dropped.
    Finished,
    /// It raised an error, or could not be resumed: the error value is pushed on the
    /// resuming stack.
    Failed,
}

/// A continuation: the rest of a C function after a yield or a call that yielded.
/// Made by [`continuation!`].
#[cfg(any(feature = "lua53", feature = "lua54"))]
pub(crate) type Continuation = ffi::lua_KFunction;
#[cfg(feature = "lua52")]
pub(crate) type Continuation = ffi::lua_CFunction;

/// The [`Continuation`] of a function of the 5.3 form,
/// `unsafe extern "C-unwind" fn(*mut LuaState, c_int, isize) -> c_int`: itself, or on
/// Lua 5.2 a C function that takes the status and context from `lua_getctx` and
/// calls it.
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
macro_rules! continuation {
    ($body:path) => {{
        #[cfg(feature = "lua52")]
        let k = {
            unsafe extern "C-unwind" fn k(
                state: *mut $crate::lua_api::stack::LuaState,
            ) -> ::std::ffi::c_int {
                let mut context = 0;
                // SAFETY: called by Lua 5.2 as a continuation, with the state it
                // continues; lua_getctx never raises.
                unsafe {
                    let status = ::mlua::ffi::lua_getctx(state, &mut context);
                    $body(state, status, context as isize)
                }
            }
            k as $crate::lua_api::coroutine::Continuation
        };
        #[cfg(not(feature = "lua52"))]
        let k = $body as $crate::lua_api::coroutine::Continuation;
        k
    }};
}
#[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
pub(crate) use continuation;

impl Stack {
    /// The number of values on the stack.
    pub(crate) fn top(self) -> c_int {
        // SAFETY: lua_gettop never raises.
        unsafe { ffi::lua_gettop(self.state()) }
    }

    /// The coroutine at `index`, or null if the value is not one.
    pub(crate) fn thread(self, index: c_int) -> *mut LuaState {
        // SAFETY: lua_tothread never raises.
        unsafe { ffi::lua_tothread(self.state(), index) }
    }

    /// Whether this stack is that of the coroutine `thread`.
    pub(crate) fn is(self, thread: *mut LuaState) -> bool {
        self.state() == thread
    }

    /// Replaces the value at `index` (absolute) by the value on top, popping it.
    pub(crate) fn replace(self, index: c_int) {
        // SAFETY: lua_replace moves a value without allocating; never raises.
        unsafe { ffi::lua_replace(self.state(), index) }
    }

    /// Moves the value on top to `index` (absolute), moving those above it up.
    pub(crate) fn insert(self, index: c_int) {
        // SAFETY: lua_insert moves values without allocating; never raises.
        unsafe { ffi::lua_insert(self.state(), index) }
    }

    /// Pushes `table[n]` without metamethods (`table` an upvalue or absolute index).
    pub(crate) fn push_raw_index(self, table: c_int, n: i64) {
        // SAFETY: one free slot (see `Stack`); lua_rawgeti does not raise.
        unsafe {
            ffi::lua_rawgeti(self.state(), table, n as _);
        }
    }

    /// Pops a value into `table[n]` without metamethods.
    ///
    /// # Safety
    /// May raise a memory error (a new key can grow the table): nothing that needs
    /// dropping may be alive in the caller's Rust frames.
    pub(crate) unsafe fn pop_raw_index(self, table: c_int, n: i64) {
        // SAFETY: per the contract.
        unsafe { ffi::lua_rawseti(self.state(), table, n as _) }
    }

    /// Replaces the key on top by `table[key]`, through an `__index` table if the
    /// table has one (`table` an upvalue or absolute index).
    ///
    /// # Safety
    /// The table's metatable is ours, with no `__index` function: then the lookup runs
    /// no Lua code and cannot raise.
    pub(crate) unsafe fn get_in(self, table: c_int) {
        // SAFETY: per the contract.
        unsafe {
            ffi::lua_gettable(self.state(), table);
        }
    }

    /// Calls the function below the `nargs` values on top, leaving `nresults` results.
    ///
    /// # Safety
    /// The callee may raise or (inside a coroutine) yield, which unwinds the caller's
    /// frames: nothing that needs dropping may be alive in them.
    pub(crate) unsafe fn call(self, nargs: c_int, nresults: c_int) {
        // SAFETY: per the contract.
        unsafe { ffi::lua_call(self.state(), nargs, nresults) }
    }

    /// Resumes `co` with the `nargs` values on top of this stack (moved over), as
    /// `coroutine.resume` does, with its checks; the values it yields or returns are
    /// dropped.
    ///
    /// # Safety
    /// `co` is a coroutine kept alive by a value on this stack; pushing an error
    /// message may raise a memory error, so nothing that needs dropping may be alive
    /// in the caller's Rust frames.
    pub(crate) unsafe fn resume(self, co: *mut LuaState, nargs: c_int) -> Resumed {
        let state = self.state();
        // SAFETY: per the contract. The checks are coroutine.resume's (lcorolib.c):
        // lua_resume itself does not refuse a finished coroutine on every version.
        unsafe {
            if ffi::lua_status(co) == ffi::LUA_OK && ffi::lua_gettop(co) == 0 {
                ffi::lua_settop(state, -nargs - 1);
                self.push_bytes(b"cannot resume dead coroutine");
                return Resumed::Failed;
            }
            if ffi::lua_checkstack(co, nargs) == 0 {
                ffi::lua_settop(state, -nargs - 1);
                self.push_bytes(b"too many arguments to resume");
                return Resumed::Failed;
            }
            ffi::lua_xmove(state, co, nargs);
            let mut results = 0;
            let status = ffi::lua_resume(co, state, nargs, &mut results);
            match status {
                ffi::LUA_YIELD | ffi::LUA_OK => {
                    // (Tasks mostly yield nothing: a needless call saved per resume.)
                    if results > 0 {
                        ffi::lua_settop(co, -results - 1);
                    }
                    match status {
                        ffi::LUA_OK => Resumed::Finished,
                        _ => Resumed::Yielded,
                    }
                }
                _ => {
                    ffi::lua_xmove(co, state, 1);
                    Resumed::Failed
                }
            }
        }
    }

    /// Pushes a new coroutine that will run the function at `function` (absolute
    /// index), as `coroutine.create` does, and returns it.
    ///
    /// # Safety
    /// The value at `function` is a function; creating the coroutine may raise a
    /// memory error, so nothing that needs dropping may be alive in the caller's Rust
    /// frames.
    pub(crate) unsafe fn push_new_thread(self, function: c_int) -> *mut LuaState {
        let state = self.state();
        // SAFETY: per the contract; the new thread is anchored on this stack before
        // anything else allocates, and it has room for one value.
        unsafe {
            let co = ffi::lua_newthread(state);
            ffi::lua_pushvalue(state, function);
            ffi::lua_xmove(state, co, 1);
            co
        }
    }

    /// Raises the concatenation of `parts` prefixed with the position of the Lua code
    /// that called this C function (`error(message, 2)` from a Lua function). Never
    /// returns.
    ///
    /// # Safety
    /// As for [`raise`](Self::raise); at most a few parts (they take stack slots).
    pub(crate) unsafe fn raise_at_caller(self, parts: &[&[u8]]) -> c_int {
        // SAFETY: per the contract; luaL_where and the concatenation may raise a
        // memory error, which is the same unwinding as the raise itself.
        unsafe {
            ffi::luaL_where(self.state(), 1);
            for part in parts {
                self.push_bytes(part);
            }
            ffi::lua_concat(self.state(), parts.len() as c_int + 1);
            self.raise_top()
        }
    }

    /// Yields the running coroutine with no values; when it is resumed, Lua calls `k`
    /// with `context` and this stack as it is now.
    ///
    /// # Safety
    /// Called as the return expression of a C function running inside a coroutine,
    /// with nothing that needs dropping alive (the yield unwinds this frame).
    #[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
    pub(crate) unsafe fn yield_then(self, context: isize, k: Continuation) -> c_int {
        // SAFETY: per the contract.
        unsafe { ffi::lua_yieldk(self.state(), 0, context as _, Some(k)) }
    }

    /// Replaces the stack by the results of calling `table[n]` (a raw lookup; `table`
    /// an upvalue or absolute index) with every value on the stack as arguments. If the
    /// callee yields, `k` finishes this C function when the call returns (it finds the
    /// results as the whole stack).
    ///
    /// # Safety
    /// `table[n]` is a function; errors raised by it unwind this C function's frames,
    /// so nothing that needs dropping may be alive in them.
    #[cfg(any(feature = "lua52", feature = "lua53", feature = "lua54"))]
    pub(crate) unsafe fn call_then(self, table: c_int, n: i64, k: Continuation) {
        let state = self.state();
        // SAFETY: per the contract; one slot for the function.
        unsafe {
            let nargs = ffi::lua_gettop(state);
            ffi::lua_rawgeti(state, table, n as _);
            ffi::lua_insert(state, 1);
            ffi::lua_callk(state, nargs, ffi::LUA_MULTRET, 0, Some(k));
        }
    }
}
